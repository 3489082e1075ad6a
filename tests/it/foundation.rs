//! The foundation: inputs, errors, outputs, masking, as the runner sees them.

use crate::helpers::has;
use crate::helpers::run::Step;

/// The `::error` workflow commands a run printed.
fn error_lines(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter(|l| l.starts_with("::error"))
        .collect()
}

#[tokio::test]
async fn three_bad_inputs_give_three_messages_and_exit_2() {
    let r = Step::new()
        .input("mode", "lint-gate")
        .input("dry-run", "yes")
        .input("comment", "sometimes")
        .input("report-key", "k")
        .var("INPUT_DRY_RUN", "true")
        .exits(2)
        .await;
    let errors = error_lines(&r.stdout);
    assert_eq!(errors.len(), 2, "{}", r.stdout);
    let r = Step::new()
        .input("mode", "deploi")
        .input("dry-run", "yes")
        .input("comment", "x")
        .run()
        .await;
    assert_eq!(r.code, 2);
    let errors = error_lines(&r.stdout);
    assert_eq!(errors.len(), 3, "{}", r.stdout);
    has(errors[0], "input `mode` = `deploi`: is not a mode");
    assert!(errors[1].contains("input `dry-run` = `yes`: is not a boolean"));
    assert!(errors[2].contains("input `comment` = `x`"));
    has(&r.summary, "| `mode` | `deploi` |");
    assert_eq!(r.output("verdict"), Some("failure"));
}

#[tokio::test]
async fn hyphenated_and_underscore_input_names_both_work() {
    let hyphen = Step::new()
        .var("INPUT_MODE", "lint-gate")
        .var("INPUT_DRY-RUN", "maybe")
        .run()
        .await;
    let underscore = Step::new()
        .var("INPUT_MODE", "lint-gate")
        .var("INPUT_DRY_RUN", "maybe")
        .run()
        .await;
    for r in [&hyphen, &underscore] {
        assert_eq!(r.code, 2);
        has(&r.stdout, "input `dry-run` = `maybe`");
    }
}

/// `AWS_USE_FIPS_ENDPOINT` must be `true` or `false`: a typo is a configuration error (exit 2) found
/// before anything is requested (not even the OIDC token), never a quiet fall-back to non-FIPS hosts.
#[tokio::test]
async fn a_bad_fips_flag_is_exit_2_before_any_request() {
    use crate::helpers::fake_oidc::{FakeOidc, Settings};
    let oidc = FakeOidc::start(Settings::default()).await;
    let r = crate::credentials::step(&oidc, "http://127.0.0.1:9")
        .input(
            "role-to-assume",
            "arn:aws:iam::123456789012:role/github-deploy",
        )
        .input("aws-region", "us-gov-west-1")
        .var("AWS_USE_FIPS_ENDPOINT", "yes")
        .exits(2)
        .await;
    assert_eq!(oidc.token_requests(), 0);
    let errors = crate::credentials::errors(&r);
    has(
        &errors,
        "AWS_USE_FIPS_ENDPOINT=`yes` is not `true` or `false`. Set AWS_USE_FIPS_ENDPOINT=true",
    );
}

/// With both endpoint-variant flags set, an `AWS_ENDPOINT_URL` still decides where requests go: the whole
/// OIDC -> STS chain reaches moto (a FIPS/dual-stack host would not answer here).
#[tokio::test]
async fn the_endpoint_override_wins_over_fips_and_dual_stack() {
    use crate::helpers::fake_oidc::{FakeOidc, Settings};
    let Some(moto) = crate::helpers::moto::moto() else {
        return;
    };
    let oidc = FakeOidc::start(Settings::default()).await;
    let r = crate::credentials::step(&oidc, &moto.endpoint)
        .input(
            "role-to-assume",
            "arn:aws:iam::123456789012:role/github-deploy",
        )
        .input("aws-region", "us-gov-west-1")
        .var("AWS_USE_FIPS_ENDPOINT", "true")
        .var("AWS_USE_DUALSTACK_ENDPOINT", "TRUE")
        .exits(0)
        .await;
    assert_eq!(r.output("aws-account-id"), Some("123456789012"));
}
