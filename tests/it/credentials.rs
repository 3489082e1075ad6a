//! Credentials: GitHub OIDC (fake issuer) -> STS (moto, or a scripted Query-protocol STS for refusals),
//! environment mapping, trigger policy, and the `credentials` mode's exports.

use crate::helpers::has;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::response::IntoResponse;

use crate::helpers::fake_oidc::{FakeOidc, Settings};
use crate::helpers::moto::moto;
use crate::helpers::run::{Step, StepResult};

const ROLE: &str = "arn:aws:iam::123456789012:role/github-deploy";

/// A scripted STS speaking the Query protocol (form-encoded POST, XML answers), for what moto does not
/// model: refusing `AssumeRoleWithWebIdentity`. It answers each request from a script (the last entry
/// repeats) and counts every request, so tests can prove "zero AWS calls".
#[derive(Clone)]
pub struct ScriptedSts {
    pub url: String,
    requests: Arc<AtomicUsize>,
    actions: Arc<Mutex<Vec<String>>>,
}

#[derive(Clone, Copy)]
pub enum Answer {
    AccessDenied,
    Throttling,
    IdpCommunicationError,
    InvalidIdentityToken,
}

impl ScriptedSts {
    pub async fn start(script: Vec<Answer>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let actions = Arc::new(Mutex::new(Vec::new()));
        let (r, a) = (requests.clone(), actions.clone());
        let app = axum::Router::new().fallback(move |body: String| {
            let n = r.fetch_add(1, Ordering::SeqCst);
            let action = form_value(&body, "Action").unwrap_or_default();
            a.lock().unwrap().push(action);
            let answer = if script.is_empty() {
                Answer::AccessDenied
            } else {
                script[n.min(script.len() - 1)]
            };
            async move { sts_error(answer) }
        });
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            url,
            requests,
            actions,
        }
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

fn form_value(body: &str, key: &str) -> Option<String> {
    url::form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// The exact error shape of STS's Query protocol (`ErrorResponse` / `Error` / `Type`, `Code`, `Message`).
fn sts_error(answer: Answer) -> axum::response::Response {
    let (status, code, message) = match answer {
        Answer::AccessDenied => (
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "Not authorized to perform sts:AssumeRoleWithWebIdentity",
        ),
        Answer::Throttling => (StatusCode::BAD_REQUEST, "Throttling", "Rate exceeded"),
        Answer::IdpCommunicationError => (
            StatusCode::BAD_REQUEST,
            "IDPCommunicationError",
            "The request could not be fulfilled because the identity provider (IDP) that was asked to verify the incoming identity token could not be reached.",
        ),
        Answer::InvalidIdentityToken => (
            StatusCode::BAD_REQUEST,
            "InvalidIdentityToken",
            "No OpenIDConnect provider found in your account for https://token.actions.githubusercontent.com",
        ),
    };
    let body = format!(
        "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n  <Error>\n    <Type>Sender</Type>\n    <Code>{code}</Code>\n    <Message>{message}</Message>\n  </Error>\n  <RequestId>4f0d2a6e-8c1b-4d7e-9a55-1b2c3d4e5f60</RequestId>\n</ErrorResponse>\n"
    );
    (
        status,
        [
            ("content-type", "text/xml"),
            ("x-amzn-requestid", "4f0d2a6e-8c1b-4d7e-9a55-1b2c3d4e5f60"),
        ],
        body,
    )
        .into_response()
}

pub fn step(oidc: &FakeOidc, endpoint: &str) -> Step {
    oidc.apply(Step::new())
        .input("mode", "credentials")
        .var("AWS_ENDPOINT_URL", endpoint)
}

/// A fake OIDC issuer whose tokens carry `git_ref` and, given one, the `environment` claim.
pub async fn oidc_for(git_ref: &str, environment: Option<&str>) -> FakeOidc {
    FakeOidc::start(Settings {
        git_ref: git_ref.into(),
        environment: environment.map(Into::into),
        ..Settings::default()
    })
    .await
}

/// [`step`] at `git_ref` (the `GITHUB_REF` the runner sets) asking for `environment` of the
/// [`ENVIRONMENTS`] mapping.
pub fn mapped(oidc: &FakeOidc, endpoint: &str, git_ref: &str, environment: &str) -> Step {
    step(oidc, endpoint)
        .var("GITHUB_REF", git_ref)
        .input("environments", ENVIRONMENTS)
        .input("environment", environment)
}

/// Checks that `r` was refused (exit 1) with an `::error` containing `said`, before any request to `sts`.
#[track_caller]
pub fn refused_without_sts(r: &StepResult, sts: &ScriptedSts, said: &str) {
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(errors(r).contains(said), "{}", r.stdout);
    assert_eq!(sts.requests(), 0);
}

/// Every secret (JWT, secret key, session token, request token) appears in stdout only inside the
/// `::add-mask::` lines the runner consumes, and nowhere in the summary or outputs.
fn assert_no_secret_leaks(r: &StepResult, secrets: &[String]) {
    for s in secrets.iter().filter(|s| s.len() >= 8) {
        for line in r.stdout.lines() {
            assert!(
                !line.contains(s.as_str()) || line.starts_with("::add-mask::"),
                "secret leaked to stdout: {line}"
            );
        }
        assert!(!r.summary.contains(s.as_str()), "secret in the summary");
        for (k, v) in &r.outputs {
            assert!(!v.contains(s.as_str()), "secret in output `{k}`");
        }
    }
}

pub fn env_value<'a>(r: &'a StepResult, name: &str) -> Option<&'a str> {
    r.env_file
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

pub fn errors(r: &StepResult) -> String {
    r.stdout
        .lines()
        .filter(|l| l.starts_with("::error"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn oidc_credentials_from_moto_reach_github_env_and_nowhere_else() {
    let Some(moto) = moto() else { return };
    let oidc = FakeOidc::start(Settings::default()).await;
    let r = step(&oidc, &moto.endpoint)
        .input("role-to-assume", ROLE)
        .input("aws-region", "eu-west-1")
        .exits(0)
        .await;
    assert_eq!(oidc.token_requests(), 1);
    assert_eq!(r.output("aws-account-id"), Some("123456789012"));
    let arn = r.output("authenticated-arn").unwrap();
    has(arn, "assumed-role/github-deploy/octo-org@octo-repo-4242");
    let names: Vec<&str> = r.env_file.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_REGION",
            "AWS_DEFAULT_REGION"
        ]
    );
    assert_eq!(env_value(&r, "AWS_REGION"), Some("eu-west-1"));
    let secret = env_value(&r, "AWS_SECRET_ACCESS_KEY").unwrap().to_owned();
    let session = env_value(&r, "AWS_SESSION_TOKEN").unwrap().to_owned();
    let key_id = env_value(&r, "AWS_ACCESS_KEY_ID").unwrap().to_owned();
    // Masked before use: the add-mask lines precede everything else that could carry them.
    for s in [&secret, &session, &key_id] {
        assert!(
            r.stdout
                .lines()
                .any(|l| l == format!("::add-mask::{s}").as_str()),
            "{s} was not masked"
        );
    }
    let jwt = oidc.minted().pop().unwrap();
    assert!(
        r.stdout.contains(&format!("::add-mask::{jwt}")),
        "the JWT was not masked"
    );
    assert_no_secret_leaks(
        &r,
        &[
            jwt,
            secret,
            session,
            key_id,
            crate::helpers::fake_oidc::REQUEST_TOKEN.to_owned(),
        ],
    );
    has(&r.summary, "123456789012");
    has(&r.summary, "repo:octo-org/octo-repo:ref:refs/heads/main");
    assert_eq!(r.output("aws-secret-access-key"), None);
}

#[tokio::test]
async fn output_credentials_opt_in_sets_step_outputs() {
    let Some(moto) = moto() else { return };
    let oidc = FakeOidc::start(Settings::default()).await;
    let r = step(&oidc, &moto.endpoint)
        .input("role-to-assume", ROLE)
        .input("aws-region", "us-east-1")
        .input("output-credentials", "true")
        .input("output-env-credentials", "false")
        .exits(0)
        .await;
    assert!(r.env_file.is_empty());
    assert!(
        r.output("aws-secret-access-key")
            .is_some_and(|v| !v.is_empty())
    );
    assert!(r.output("aws-session-token").is_some_and(|v| !v.is_empty()));
    assert!(r.output("aws-expiration").is_some_and(|v| v.ends_with('Z')));
}

#[tokio::test]
async fn a_transient_token_endpoint_failure_is_retried() {
    let Some(moto) = moto() else { return };
    let oidc = FakeOidc::start(Settings {
        fail_first: 2,
        ..Settings::default()
    })
    .await;
    step(&oidc, &moto.endpoint)
        .input("role-to-assume", ROLE)
        .input("aws-region", "us-east-1")
        .exits(0)
        .await;
    assert_eq!(oidc.token_requests(), 3);
}

#[tokio::test]
async fn an_expired_token_is_named_and_never_reaches_sts() {
    let oidc = FakeOidc::start(Settings {
        exp_offset: -900,
        ..Settings::default()
    })
    .await;
    let sts = ScriptedSts::start(vec![]).await;
    let r = step(&oidc, &sts.url)
        .input("role-to-assume", ROLE)
        .input("aws-region", "us-east-1")
        .run()
        .await;
    refused_without_sts(&r, &sts, "the OIDC token expired at");
    assert!(r.env_file.is_empty());
}

#[tokio::test]
async fn a_wrong_audience_is_named() {
    let oidc = FakeOidc::start(Settings {
        fixed_audience: Some("sigstore".into()),
        ..Settings::default()
    })
    .await;
    let sts = ScriptedSts::start(vec![]).await;
    let r = step(&oidc, &sts.url)
        .input("role-to-assume", ROLE)
        .input("aws-region", "us-east-1")
        .run()
        .await;
    refused_without_sts(
        &r,
        &sts,
        "audience is `sigstore`, not `sts.amazonaws.com` (input `audience`)",
    );
}

#[tokio::test]
async fn a_token_endpoint_answering_403_says_what_usually_causes_it() {
    let oidc = FakeOidc::start(Settings {
        refuse: Some((403, "Resource not accessible by integration".into())),
        ..Settings::default()
    })
    .await;
    let sts = ScriptedSts::start(vec![]).await;
    let r = step(&oidc, &sts.url)
        .input("role-to-assume", ROLE)
        .input("aws-region", "us-east-1")
        .exits(1)
        .await;
    let errors = errors(&r);
    has(
        &errors,
        "was refused with HTTP 403: {\"message\":\"Resource not accessible by integration\"}%0AGitHub refuses an OIDC token to this job. Usually: the job lacks `permissions: id-token: write` (a job-level `permissions:` block replaces the workflow's); in a reusable workflow, the calling workflow's job must grant `id-token: write` too (a called workflow cannot have more than its caller); or an environment protection rule (required reviewers, deployment branches) has not let this job's `environment:` proceed. Check the job's `permissions:`, the caller's `permissions:` if this is a reusable workflow, and the environment's protection rules.",
    );
    assert_eq!(errors.lines().count(), 1, "{errors}");
    // Refused at once: a 403 is not retried.
    assert_eq!(oidc.token_requests(), 1);
    assert_eq!(sts.requests(), 0);
}

#[tokio::test]
async fn a_token_signed_by_another_key_is_refused() {
    let oidc = FakeOidc::start(Settings {
        rogue_signature: true,
        ..Settings::default()
    })
    .await;
    let sts = ScriptedSts::start(vec![]).await;
    let r = step(&oidc, &sts.url)
        .input("role-to-assume", ROLE)
        .input("aws-region", "us-east-1")
        .exits(1)
        .await;
    assert!(
        errors(&r).contains("signature does not verify against the issuer's JWKS"),
        "{}",
        r.stdout
    );
    assert_eq!(oidc.jwks_requests(), 1);
    assert_eq!(sts.requests(), 0);
}

#[tokio::test]
async fn access_denied_fails_at_once_with_the_claims_and_the_sub_to_allow() {
    let oidc = FakeOidc::start(Settings::default()).await;
    let sts = ScriptedSts::start(vec![Answer::AccessDenied]).await;
    let r = step(&oidc, &sts.url)
        .input("role-to-assume", ROLE)
        .input("aws-region", "us-east-1")
        .exits(1)
        .await;
    assert_eq!(sts.requests(), 1, "AccessDenied must not be retried");
    assert_eq!(
        sts.actions.lock().unwrap().as_slice(),
        ["AssumeRoleWithWebIdentity"]
    );
    let err = errors(&r).replace("%0A", "\n");
    has(&err, ROLE);
    has(&err, "AccessDenied (HTTP 403): Not authorized");
    for line in [
        "sub              = repo:octo-org/octo-repo:ref:refs/heads/main",
        "aud              = sts.amazonaws.com",
        "repository       = octo-org/octo-repo",
        "repository_owner = octo-org",
        "ref              = refs/heads/main",
        "environment      = (absent)",
        "job_workflow_ref = octo-org/octo-repo/.github/workflows/deploy.yml@refs/heads/main",
    ] {
        assert!(err.contains(line), "missing `{line}` in {err}");
    }
    let sub = format!("\"{}:sub\": \"{}\"", &oidc.issuer()[7..], oidc.sub());
    assert!(err.contains(&sub), "missing the sub hint {sub} in {err}");
    assert!(r.env_file.is_empty());
    assert_no_secret_leaks(&r, &oidc.minted());
}

#[tokio::test]
async fn throttling_and_idp_errors_are_retried_but_the_refusal_behind_them_is_not() {
    let oidc = FakeOidc::start(Settings::default()).await;
    let sts = ScriptedSts::start(vec![
        Answer::Throttling,
        Answer::IdpCommunicationError,
        Answer::InvalidIdentityToken,
        Answer::InvalidIdentityToken,
    ])
    .await;
    let r = step(&oidc, &sts.url)
        .input("role-to-assume", ROLE)
        .input("aws-region", "us-east-1")
        .exits(1)
        .await;
    assert_eq!(sts.requests(), 3);
    let err = errors(&r).replace("%0A", "\n");
    has(&err, "InvalidIdentityToken");
    has(&err, "needs an IAM OIDC identity provider");
}

#[tokio::test]
async fn role_chaining_ends_in_the_last_account() {
    let Some(moto) = moto() else { return };
    let oidc = FakeOidc::start(Settings::default()).await;
    let r = step(&oidc, &moto.endpoint)
        .input("role-to-assume", ROLE)
        .input(
            "role-chain",
            "arn:aws:iam::222222222222:role/hop\narn:aws:iam::333333333333:role/cross-account-deploy",
        )
        .input("aws-region", "us-east-1")
        .exits(0)
        .await;
    assert_eq!(r.output("aws-account-id"), Some("333333333333"));
    assert!(
        r.output("authenticated-arn")
            .unwrap()
            .contains("assumed-role/cross-account-deploy/"),
        "{:?}",
        r.outputs
    );
}

pub const ENVIRONMENTS: &str = "dev:\n  role: arn:aws:iam::123456789012:role/dev-deploy\n  region: eu-west-1\n  account-id: \"123456789012\"\nproduction:\n  role: arn:aws:iam::123456789012:role/prod-deploy\n  region: eu-central-1\n";

#[tokio::test]
async fn an_unmapped_environment_is_refused_with_zero_aws_calls() {
    let oidc = FakeOidc::start(Settings::default()).await;
    let sts = ScriptedSts::start(vec![]).await;
    let r = step(&oidc, &sts.url)
        .input("environments", ENVIRONMENTS)
        .input("environment", "qa")
        .exits(2)
        .await;
    assert!(
        errors(&r).contains(
            "environment `qa` is not in input `environments` (it names `dev`, `production`)"
        ),
        "{}",
        r.stdout
    );
    assert_eq!(sts.requests(), 0, "no AWS call may happen");
    assert_eq!(
        oidc.token_requests(),
        0,
        "not even the OIDC token is fetched"
    );
}

#[tokio::test]
async fn feature_branch_asking_for_production_is_refused_naming_the_rule() {
    let oidc = oidc_for("refs/heads/feature/x", Some("production")).await;
    let sts = ScriptedSts::start(vec![]).await;
    let r = step(&oidc, &sts.url)
        .var("GITHUB_REF", "refs/heads/feature/x")
        .var("GITHUB_REF_NAME", "feature/x")
        .input("environments", ENVIRONMENTS)
        .input("environment", "production")
        .run()
        .await;
    refused_without_sts(
        &r,
        &sts,
        "ref `refs/heads/feature/x` may not deploy to `production`: the default trigger policy allows only `refs/tags/*-stable` there",
    );
    assert_eq!(oidc.token_requests(), 0);
}

#[tokio::test]
async fn the_token_ref_wins_over_a_forged_github_ref() {
    // GITHUB_REF is only an environment variable; the token's `ref` claim is signed by GitHub.
    let oidc = oidc_for("refs/heads/feature/x", Some("production")).await;
    let sts = ScriptedSts::start(vec![]).await;
    let r = mapped(&oidc, &sts.url, "refs/tags/v9.9.9-stable", "production")
        .run()
        .await;
    refused_without_sts(
        &r,
        &sts,
        "ref `refs/heads/feature/x` may not deploy to `production`",
    );
}

#[tokio::test]
async fn a_stable_tag_reaches_production_only_with_the_environment_claim() {
    let Some(moto) = moto() else { return };
    let tag = "refs/tags/v1.2.0-stable";
    // Without `environment: production` on the job the token has no environment claim: refused before STS.
    let oidc = oidc_for(tag, None).await;
    let sts = ScriptedSts::start(vec![]).await;
    let r = mapped(&oidc, &sts.url, tag, "production").run().await;
    refused_without_sts(
        &r,
        &sts,
        "requires the OIDC token's `environment` claim to be `production`, but it is absent",
    );

    // With the claim: allowed, and the mapping picks role and region.
    oidc.update(|s| s.environment = Some("production".into()));
    let r = mapped(&oidc, &moto.endpoint, tag, "production")
        .exits(0)
        .await;
    assert_eq!(env_value(&r, "AWS_REGION"), Some("eu-central-1"));
    assert!(
        r.output("authenticated-arn")
            .unwrap()
            .contains("assumed-role/prod-deploy/"),
        "{:?}",
        r.outputs
    );
}

#[tokio::test]
async fn credentials_of_another_account_than_mapped_are_refused() {
    let Some(moto) = moto() else { return };
    let oidc = FakeOidc::start(Settings::default()).await;
    let envs = "dev:\n  role: arn:aws:iam::123456789012:role/dev-deploy\n  region: eu-west-1\n  account-id: \"999999999999\"\n";
    let r = step(&oidc, &moto.endpoint)
        .input("environments", envs)
        .input("environment", "dev")
        .exits(1)
        .await;
    assert!(
        errors(&r).contains("the credentials belong to account `123456789012`, but input `environments` maps `dev` to account `999999999999`"),
        "{}",
        r.stdout
    );
    assert!(r.env_file.is_empty(), "nothing may be exported");
}

#[tokio::test]
async fn without_id_token_permission_the_error_says_so() {
    let r = Step::new()
        .input("mode", "credentials")
        .input("role-to-assume", ROLE)
        .input("aws-region", "us-east-1")
        .exits(2)
        .await;
    let err = errors(&r);
    has(&err, "permissions: id-token: write");
}

#[tokio::test]
async fn under_act_without_credentials_in_the_environment_the_error_says_act_has_no_oidc() {
    let r = Step::new()
        .var("ACT", "true")
        .input("mode", "credentials")
        .input("role-to-assume", ROLE)
        .input("aws-region", "us-east-1")
        .input("allow-aws-credential-chain", "false")
        .input("environment", "production")
        .var("GITHUB_REF", "refs/tags/v1-stable")
        .exits(1)
        .await;
    assert!(
        errors(&r).contains("the AWS credential chain has no claims"),
        "{}",
        r.stdout
    );
}

#[tokio::test]
async fn under_act_the_credential_chain_is_used_loudly() {
    let Some(moto) = moto() else { return };
    let r = Step::new()
        .var("ACT", "true")
        .var("AWS_ENDPOINT_URL", &moto.endpoint)
        .var("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
        .var(
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        )
        .input("mode", "credentials")
        .input("aws-region", "us-east-1")
        .exits(0)
        .await;
    assert!(
        r.stdout.lines().any(|l| l.starts_with("::warning")
            && l.contains(
                "standard AWS credential chain instead of GitHub OIDC: act (ACT=true) has no OIDC"
            )),
        "{}",
        r.stdout
    );
    assert_eq!(r.output("aws-account-id"), Some("123456789012"));
    assert_no_secret_leaks(&r, &["wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".to_owned()]);
}

#[tokio::test]
async fn dry_run_prints_the_plan_and_requests_nothing() {
    let oidc = FakeOidc::start(Settings::default()).await;
    let sts = ScriptedSts::start(vec![]).await;
    let r = step(&oidc, &sts.url)
        .input("environments", ENVIRONMENTS)
        .input("environment", "dev")
        .input("role-chain", "arn:aws:iam::222222222222:role/hop")
        .input("dry-run", "true")
        .exits(0)
        .await;
    // A dry run proves nothing was done: `skipped` in every mode (docs/reporting.md, "Dry runs").
    assert_eq!(r.output("verdict"), Some("skipped"), "{}", r.stdout);
    assert_eq!(sts.requests(), 0);
    assert_eq!(oidc.token_requests(), 0);
    for s in [
        "`arn:aws:iam::123456789012:role/dev-deploy`",
        "chained role 1 | `arn:aws:iam::222222222222:role/hop`",
        "`eu-west-1`",
        "`octo-org@octo-repo-4242`",
        "ref matches `refs/heads/main` (the default trigger policy)",
    ] {
        assert!(r.summary.contains(s), "missing {s} in {}", r.summary);
    }
    assert!(r.env_file.is_empty());
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Benchmark (run with `cargo test --test it bench_credentials -- --ignored --nocapture`): wall time of
/// a whole `credentials` step from start to exported credentials against moto, and to failure on
/// AccessDenied from a scripted STS. Loopback only; figures go to docs/credentials.md.
#[tokio::test]
#[ignore = "benchmark: prints figures"]
async fn bench_credentials() {
    let Some(moto) = moto() else { return };
    let oidc = FakeOidc::start(Settings::default()).await;
    let sts = ScriptedSts::start(vec![Answer::AccessDenied]).await;
    const RUNS: usize = 20;
    let mut ok = Vec::new();
    let mut denied = Vec::new();
    // One warm-up each (moto's first STS call initialises its backend).
    for i in 0..=RUNS {
        let t = Instant::now();
        let r = step(&oidc, &moto.endpoint)
            .input("role-to-assume", ROLE)
            .input("aws-region", "us-east-1")
            .run()
            .await;
        let d = t.elapsed();
        assert_eq!(r.code, 0, "{}", r.stdout);
        if i > 0 {
            ok.push(d);
        }
        let t = Instant::now();
        let r = step(&oidc, &sts.url)
            .input("role-to-assume", ROLE)
            .input("aws-region", "us-east-1")
            .run()
            .await;
        let d = t.elapsed();
        assert_eq!(r.code, 1);
        if i > 0 {
            denied.push(d);
        }
    }
    let max = |v: &[Duration]| v.iter().max().copied().unwrap();
    println!(
        "bench_credentials: start -> credentials exported (moto): median {:?}, max {:?} over {RUNS} runs",
        median(ok.clone()),
        max(&ok)
    );
    println!(
        "bench_credentials: start -> failure on AccessDenied (scripted STS): median {:?}, max {:?} over {RUNS} runs",
        median(denied.clone()),
        max(&denied)
    );
}

#[tokio::test]
async fn with_the_credential_chain_a_role_is_assumed_with_assume_role() {
    let Some(moto) = moto() else { return };
    let r = Step::new()
        .var("ACT", "true")
        .var("AWS_ENDPOINT_URL", &moto.endpoint)
        .var("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
        .var(
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        )
        .input("mode", "credentials")
        .input("role-to-assume", "arn:aws:iam::444444444444:role/local-dev")
        .input("aws-region", "us-east-1")
        .exits(0)
        .await;
    assert_eq!(r.output("aws-account-id"), Some("444444444444"));
    assert!(
        r.output("authenticated-arn")
            .unwrap()
            .contains("assumed-role/local-dev/octo-org@octo-repo-4242"),
        "{:?}",
        r.outputs
    );
    assert_ne!(
        env_value(&r, "AWS_ACCESS_KEY_ID"),
        Some("AKIAIOSFODNN7EXAMPLE"),
        "the exported keys are the assumed role's, not the chain's"
    );
}

// ---- Issue 30 item 1: no environment unprotected by its name ----

const PROD_ENVIRONMENTS: &str = "dev:\n  role: arn:aws:iam::123456789012:role/dev-deploy\n  region: eu-west-1\nprod:\n  role: arn:aws:iam::123456789012:role/prod-deploy\n  region: eu-central-1\nstag:\n  role: arn:aws:iam::123456789012:role/stag-deploy\n  region: eu-west-1\nqa:\n  role: arn:aws:iam::123456789012:role/qa-deploy\n  region: eu-west-1\n";

async fn at_ref(git_ref: &str, claim: Option<&str>) -> (FakeOidc, ScriptedSts) {
    let oidc = FakeOidc::start(Settings {
        git_ref: git_ref.into(),
        environment: claim.map(str::to_owned),
        ..Settings::default()
    })
    .await;
    (oidc, ScriptedSts::start(vec![]).await)
}

#[tokio::test]
async fn production_like_names_are_held_to_the_production_rule_by_default() {
    // Today's main planned `prod` from a feature branch with no claim check and no warning.
    for env in ["prod", "prd", "live", "PROD", "eu-prod", "preprod"] {
        let envs = format!(
            "{env}:\n  role: arn:aws:iam::123456789012:role/prod-deploy\n  region: eu-central-1\n"
        );
        let (oidc, sts) = at_ref("refs/heads/feature/x", None).await;
        let r = step(&oidc, &sts.url)
            .var("GITHUB_REF", "refs/heads/feature/x")
            .input("environments", &envs)
            .input("environment", env)
            .run()
            .await;
        assert_eq!(r.code, 1, "{env}: {}", r.stdout);
        let want = format!(
            "ref `refs/heads/feature/x` may not deploy to `{env}`: the default trigger policy (its `production` rule, for a name that reads as production) allows only `refs/tags/*-stable` there"
        );
        assert!(errors(&r).contains(&want), "{want}\n{}", r.stdout);
        assert_eq!(sts.requests(), 0, "{env}: STS was called");
        assert_eq!(oidc.token_requests(), 0, "{env}: the token was fetched");
    }

    // From a stable tag, `prod` still needs the job's `environment: prod` claim, as `production` does.
    let tag = "refs/tags/v1.2.0-stable";
    let (oidc, sts) = at_ref(tag, None).await;
    let r = step(&oidc, &sts.url)
        .var("GITHUB_REF", tag)
        .input("environments", PROD_ENVIRONMENTS)
        .input("environment", "prod")
        .run()
        .await;
    refused_without_sts(
        &r,
        &sts,
        "deploying to `prod` requires the OIDC token's `environment` claim to be `prod`, but it is absent",
    );

    let Some(moto) = moto() else { return };
    oidc.update(|s| s.environment = Some("prod".into()));
    let r = step(&oidc, &moto.endpoint)
        .var("GITHUB_REF", tag)
        .input("environments", PROD_ENVIRONMENTS)
        .input("environment", "prod")
        .exits(0)
        .await;
    assert_eq!(env_value(&r, "AWS_REGION"), Some("eu-central-1"));
}

#[tokio::test]
async fn staging_like_names_are_held_to_the_staging_rule_by_default() {
    let (oidc, sts) = at_ref("refs/heads/feature/x", None).await;
    let r = step(&oidc, &sts.url)
        .var("GITHUB_REF", "refs/heads/feature/x")
        .input("environments", PROD_ENVIRONMENTS)
        .input("environment", "stag")
        .run()
        .await;
    refused_without_sts(
        &r,
        &sts,
        "ref `refs/heads/feature/x` may not deploy to `stag`: the default trigger policy (its `staging` rule, for a name that reads as staging) allows only `refs/heads/main` there",
    );
}

#[tokio::test]
async fn an_environment_no_rule_covers_is_refused_naming_the_rule_to_add() {
    // Default policy: `qa` reads as neither production nor staging.
    let (oidc, sts) = at_ref("refs/heads/main", None).await;
    let r = step(&oidc, &sts.url)
        .input("environments", PROD_ENVIRONMENTS)
        .input("environment", "qa")
        .exits(2)
        .await;
    let e = errors(&r);
    for want in [
        "input `environment` = `qa`: environment `qa` has no rule in the default trigger policy (it has rules for `dev`, `preview`, `production`, `staging`, and holds names that read as production or staging to those rules)",
        "`trigger-policy: |` with the lines `dev: [refs/heads/main]`, `staging: [refs/heads/main]`, `production: { refs: [\"refs/tags/*-stable\"], require-environment-claim: true }`, `preview: [\"**\"]` and `qa: [refs/heads/main]`",
    ] {
        assert!(e.contains(want), "{want}\n{e}");
    }
    assert_eq!(sts.requests(), 0);
    assert_eq!(oidc.token_requests(), 0);

    // An explicit policy covers exactly what it names: `prod` is not `production`.
    let tag = "refs/tags/v1.2.0-stable";
    let (oidc, sts) = at_ref(tag, Some("prod")).await;
    let r = step(&oidc, &sts.url)
        .var("GITHUB_REF", tag)
        .input("environments", PROD_ENVIRONMENTS)
        .input(
            "trigger-policy",
            "dev: [refs/heads/main]\nproduction: { refs: [\"refs/tags/*-stable\"] }\n",
        )
        .input("environment", "prod")
        .exits(2)
        .await;
    let e = errors(&r);
    for want in [
        "input `environment` = `prod`: environment `prod` has no rule in input `trigger-policy` (it has rules for `dev`, `production`)",
        "Add the line `prod: { refs: [\"refs/tags/*-stable\"], require-environment-claim: true }` to input `trigger-policy`",
    ] {
        assert!(e.contains(want), "{want}\n{e}");
    }
    assert_eq!(sts.requests(), 0);
    assert_eq!(oidc.token_requests(), 0);
}

#[tokio::test]
async fn with_role_to_assume_alone_the_environment_is_held_to_the_policy_too() {
    // No `environments`: `environment` still names the target, and the policy still applies.
    let (oidc, sts) = at_ref("refs/heads/feature/x", None).await;
    let r = step(&oidc, &sts.url)
        .var("GITHUB_REF", "refs/heads/feature/x")
        .input("role-to-assume", ROLE)
        .input("aws-region", "eu-west-1")
        .input("environment", "qa")
        .exits(2)
        .await;
    assert!(
        errors(&r).contains(
            "input `environment` = `qa`: environment `qa` has no rule in the default trigger policy"
        ),
        "{}",
        r.stdout
    );
    let r = step(&oidc, &sts.url)
        .var("GITHUB_REF", "refs/heads/feature/x")
        .input("role-to-assume", ROLE)
        .input("aws-region", "eu-west-1")
        .input("environment", "live")
        .run()
        .await;
    refused_without_sts(&r, &sts, "may not deploy to `live`");
    assert_eq!(oidc.token_requests(), 0);
}

#[tokio::test]
async fn an_explicit_catch_all_rule_opts_an_environment_out_and_other_gaps_warn() {
    let Some(moto) = moto() else { return };
    let (oidc, _) = at_ref("refs/heads/feature/x", None).await;
    let r = step(&oidc, &moto.endpoint)
        .var("GITHUB_REF", "refs/heads/feature/x")
        .input("environments", PROD_ENVIRONMENTS)
        .input("trigger-policy", "qa: [\"**\"]\ndev: [refs/heads/main]\n")
        .input("environment", "qa")
        .exits(0)
        .await;
    assert_eq!(env_value(&r, "AWS_REGION"), Some("eu-west-1"));
    // `prod` and `stag` are mapped but not covered: this job goes on, the job targeting them would stop.
    for (env, line) in [
        (
            "prod",
            "prod: { refs: [\"refs/tags/*-stable\"], require-environment-claim: true }",
        ),
        ("stag", "stag: [refs/heads/main]"),
    ] {
        assert!(
            r.stdout.lines().any(|l| l.starts_with("::warning")
                && l.contains(&format!(
                    "environment `{env}` has no rule in input `trigger-policy`"
                ))
                && l.contains(&format!("A job targeting `{env}` stops with exit 2"))
                && l.contains(line)),
            "{env}\n{}",
            r.stdout
        );
    }
}

// ---- docs/credentials.md: the IAM trust-policy recipes ----

/// Whether one `StringEquals` / `StringLike` value (a string or a list: any of) admits `claim`.
fn condition_admits(op: &str, want: &serde_json::Value, claim: &str) -> bool {
    let one = |w: &str| match op {
        "StringEquals" => w == claim,
        "StringLike" => globset::Glob::new(w)
            .map(|g| g.compile_matcher().is_match(claim))
            .unwrap_or(false),
        other => panic!("operator {other} in a recipe"),
    };
    match want {
        serde_json::Value::String(w) => one(w),
        serde_json::Value::Array(ws) => ws.iter().filter_map(|w| w.as_str()).any(one),
        other => panic!("condition value {other}"),
    }
}

/// Whether a trust policy admits a web-identity token with this `aud` and `sub` (the conditions the recipes
/// use; IAM's evaluation for them: every condition must hold).
fn trust_admits(policy: &serde_json::Value, aud: &str, sub: &str) -> bool {
    policy["Statement"].as_array().unwrap().iter().any(|st| {
        st["Effect"] == "Allow"
            && st["Action"] == "sts:AssumeRoleWithWebIdentity"
            && st["Condition"]
                .as_object()
                .unwrap()
                .iter()
                .all(|(op, keys)| {
                    keys.as_object().unwrap().iter().all(|(k, want)| {
                        let claim = match k.as_str() {
                            "token.actions.githubusercontent.com:aud" => aud,
                            "token.actions.githubusercontent.com:sub" => sub,
                            other => panic!("condition key {other}"),
                        };
                        condition_admits(op, want, claim)
                    })
                })
    })
}

/// The JSON blocks of docs/credentials.md's "IAM trust-policy recipe" section.
fn recipes() -> Vec<serde_json::Value> {
    let doc =
        std::fs::read_to_string(crate::helpers::runner::repo_root().join("docs/credentials.md"))
            .unwrap();
    let section = doc
        .split("\n## IAM trust-policy recipe\n")
        .nth(1)
        .unwrap()
        .split("\n## ")
        .next()
        .unwrap();
    section
        .split("```json\n")
        .skip(1)
        .map(|b| serde_json::from_str(b.split("\n```").next().unwrap()).unwrap())
        .collect()
}

/// Issue 30: the recipe allowed `ref:refs/heads/main`, but a job that declares `environment:` has
/// `environment:NAME` as its `sub`. The recipes admit the `sub` GitHub mints (the fake issuer mints the same
/// shapes) for each example job that assumes the role, and nothing else.
#[tokio::test]
async fn the_trust_policy_recipes_admit_exactly_the_example_jobs() {
    let recipes = recipes();
    assert_eq!(recipes.len(), 2, "the dev and the production recipe");
    let (dev, production) = (&recipes[0], &recipes[1]);
    let sub = |environment: Option<&str>, git_ref: &str| {
        let settings = Settings {
            environment: environment.map(str::to_owned),
            git_ref: git_ref.to_owned(),
            ..Settings::default()
        };
        async move { FakeOidc::start(settings).await.sub() }
    };
    let aud = "sts.amazonaws.com";
    // Every example job that declares `environment: dev` or `production` and runs stevedore.
    let mut seen = 0;
    for file in ["standards.yml", "serverless.yml", "container.yml"] {
        let wf = crate::helpers::workflow::Workflow::load(file);
        for (id, job) in wf.jobs() {
            let Some(env) = job.get("environment").and_then(|e| e.as_str()) else {
                continue;
            };
            let policy = match env {
                "dev" => dev,
                "production" => production,
                _ => continue,
            };
            seen += 1;
            let s = sub(Some(env), "refs/heads/main").await;
            assert!(
                trust_admits(policy, aud, &s),
                "{file}/{}: the {env} recipe refuses `{s}`",
                id.as_str().unwrap()
            );
        }
    }
    assert!(seen >= 4, "{seen} example jobs checked");
    // The dev role: the build job on main (no environment) and the dev environment; nothing else.
    assert!(trust_admits(dev, aud, &sub(None, "refs/heads/main").await));
    assert!(!trust_admits(
        dev,
        aud,
        &sub(None, "refs/heads/feature/x").await
    ));
    assert!(!trust_admits(
        dev,
        aud,
        &sub(Some("production"), "refs/heads/main").await
    ));
    assert!(!trust_admits(
        dev,
        aud,
        "repo:octo-org/octo-repo:pull_request"
    ));
    assert!(!trust_admits(
        dev,
        "sigstore",
        &sub(Some("dev"), "refs/heads/main").await
    ));
    // The production role: only the approved environment, on main or on a `*-stable` tag.
    assert!(trust_admits(
        production,
        aud,
        &sub(Some("production"), "refs/tags/v1.2.0-stable").await
    ));
    assert!(!trust_admits(
        production,
        aud,
        &sub(None, "refs/heads/main").await
    ));
    assert!(!trust_admits(
        production,
        aud,
        &sub(None, "refs/tags/v1.2.0-stable").await
    ));
    assert!(!trust_admits(
        production,
        aud,
        &sub(Some("dev"), "refs/heads/main").await
    ));
}
