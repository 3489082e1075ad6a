//! Issue 15, findings 2, 5 and 6, and issue 25 finding 8, through the whole action (inputs to exit code):
//! environment names are compared case-insensitively after compatibility folding and look-alikes are
//! refused (invisible characters, mixed scripts, compatibility characters, combining marks), duplicate YAML keys are refused naming both
//! lines, and lint-gate never reads a result file that resolves outside the workspace or RUNNER_TEMP.
//! See docs/security.md.

use crate::credentials::{
    ENVIRONMENTS, ScriptedSts, env_value, errors, mapped, oidc_for, refused_without_sts, step,
};
use crate::helpers::fake_oidc::FakeOidc;
use crate::helpers::has;
use crate::helpers::moto::moto;
use crate::helpers::run::{Step, StepResult};

const ROLE: &str = "arn:aws:iam::123456789012:role/github-deploy";
const FEATURE: &str = "refs/heads/feature/x";

/// A token for `refs/heads/feature/x` without an `environment` claim, and an STS that counts requests.
async fn feature_branch() -> (FakeOidc, ScriptedSts) {
    let oidc = oidc_for(FEATURE, None).await;
    (oidc, ScriptedSts::start(vec![]).await)
}

fn refused_before_sts(r: &StepResult, sts: &ScriptedSts, environment: &str, by: &str) {
    assert_eq!(r.code, 1, "{environment}: {}", r.stdout);
    let want = format!(
        "ref `{FEATURE}` may not deploy to `{environment}`: {by} allows only `refs/tags/*-stable` there"
    );
    assert!(errors(r).contains(&want), "{want}\n{}", r.stdout);
    assert_eq!(sts.requests(), 0, "{environment}: STS was called");
}

/// The credentials step assuming `ROLE` in eu-west-1.
fn assuming(oidc: &FakeOidc, sts: &ScriptedSts) -> Step {
    step(oidc, &sts.url)
        .input("role-to-assume", ROLE)
        .input("aws-region", "eu-west-1")
}

/// The run was refused as an input error (exit 2) whose errors contain `want`; those errors.
#[track_caller]
fn input_error(r: &StepResult, shown: &str, want: &str) -> String {
    assert_eq!(r.code, 2, "{shown}: {}", r.stdout);
    let e = errors(r);
    assert!(e.contains(want), "{want}\n{e}");
    e
}

/// From the feature branch, `environments` set to `envs` (eu-west-1, environment `production`) is an
/// input error (exit 2) containing `want`, and STS is never asked.
async fn environments_refused(envs: &str, want: &str) {
    let (oidc, sts) = feature_branch().await;
    let r = step(&oidc, &sts.url)
        .input("aws-region", "eu-west-1")
        .input("environments", envs)
        .input("environment", "production")
        .exits(2)
        .await;
    assert!(errors(&r).contains(want), "{want}\n{}", r.stdout);
    assert_eq!(sts.requests(), 0);
}

// ---- Finding 2: environment names are case-insensitive ----

#[tokio::test]
async fn production_in_any_case_is_held_to_the_production_rule() {
    for name in ["Production", "PRODUCTION", "pRoDuCtIoN"] {
        let (oidc, sts) = feature_branch().await;
        let r = assuming(&oidc, &sts)
            .var("GITHUB_REF", FEATURE)
            .input("environment", name)
            .run()
            .await;
        refused_before_sts(&r, &sts, name, "the default trigger policy");
        assert_eq!(oidc.token_requests(), 0, "{name}: refused before the token");
    }
}

#[tokio::test]
async fn a_forged_github_ref_does_not_help_a_capitalised_production() {
    // GITHUB_REF claims a stable tag; the token's `ref` (feature/x) is re-checked against the same rule.
    let (oidc, sts) = feature_branch().await;
    let r = assuming(&oidc, &sts)
        .var("GITHUB_REF", "refs/tags/v9.9.9-stable")
        .input("environment", "Production")
        .run()
        .await;
    refused_before_sts(&r, &sts, "Production", "the default trigger policy");
}

#[tokio::test]
async fn an_environments_key_in_another_case_is_the_same_environment() {
    let envs = "dev:\n  role: arn:aws:iam::123456789012:role/dev-deploy\n  region: eu-west-1\nProduction:\n  role: arn:aws:iam::123456789012:role/prod-deploy\n  region: eu-central-1\n";
    for name in ["Production", "production", "PRODUCTION"] {
        let (oidc, sts) = feature_branch().await;
        let r = step(&oidc, &sts.url)
            .var("GITHUB_REF", FEATURE)
            .input("environments", envs)
            .input("environment", name)
            .run()
            .await;
        // Mapped (not "not in input `environments`"), and held to the production rule.
        refused_before_sts(&r, &sts, name, "the default trigger policy");
    }
}

#[tokio::test]
async fn a_trigger_policy_key_in_another_case_applies_with_its_claim_default() {
    let policy = "dev: [main]\nPRODUCTION: [\"refs/tags/*-stable\"]\n";
    let (oidc, sts) = feature_branch().await;
    let from = |git_ref: &str| {
        step(&oidc, &sts.url)
            .var("GITHUB_REF", git_ref)
            .input("environments", ENVIRONMENTS)
            .input("trigger-policy", policy)
            .input("environment", "production")
    };
    let r = from(FEATURE).run().await;
    refused_before_sts(&r, &sts, "production", "input `trigger-policy`");

    // From a stable tag the rule passes, and `require-environment-claim` defaults to true for the
    // `PRODUCTION` key as for `production`: no claim, no STS call.
    let tag = "refs/tags/v1.2.0-stable";
    oidc.update(|s| s.git_ref = tag.into());
    let r = from(tag).run().await;
    refused_without_sts(
        &r,
        &sts,
        "requires the OIDC token's `environment` claim to be `production`, but it is absent",
    );
}

#[tokio::test]
async fn the_environment_claim_matches_whatever_its_case() {
    let Some(moto) = moto() else { return };
    let tag = "refs/tags/v1.2.0-stable";
    // The job declares `environment: Production`; the input says `production`: one GitHub environment.
    let oidc = oidc_for(tag, Some("Production")).await;
    let r = mapped(&oidc, &moto.endpoint, tag, "production")
        .exits(0)
        .await;
    assert_eq!(env_value(&r, "AWS_REGION"), Some("eu-central-1"));
}

// ---- Finding 2: invisible and look-alike names ----

#[tokio::test]
async fn look_alike_environment_names_are_refused_showing_the_hidden_characters() {
    for (value, shown, problem) in [
        (
            "pro\u{200B}duction",
            "pro<U+200B>duction",
            "contains a character that cannot be seen in a workflow file: U+200B (ZERO WIDTH SPACE)",
        ),
        (
            "\u{0440}roduction",
            "<U+0440>roduction",
            "mixes scripts: Cyrillic (`\u{0440}` U+0440), Latin (`roduction`)",
        ),
        (
            "production\u{202E}",
            "production<U+202E>",
            "contains a character that cannot be seen in a workflow file: U+202E (bidi control)",
        ),
    ] {
        let (oidc, sts) = feature_branch().await;
        let r = assuming(&oidc, &sts)
            .input("environment", value)
            .run()
            .await;
        let want = format!("input `environment` = `{shown}`: {problem}");
        let e = input_error(&r, shown, &want);
        assert!(
            e.contains("e.g. `production`"),
            "the fix names the real name: {e}"
        );
        assert_eq!(sts.requests(), 0);
        assert_eq!(oidc.token_requests(), 0);
    }
}

#[tokio::test]
async fn a_look_alike_key_in_environments_or_trigger_policy_is_refused() {
    let envs = "\u{0440}roduction:\n  role: arn:aws:iam::123456789012:role/prod-deploy\n";
    let policy = "pr\u{043E}duction: [\"refs/tags/*\"]\n";
    let (oidc, sts) = feature_branch().await;
    let r = step(&oidc, &sts.url)
        .input("aws-region", "eu-west-1")
        .input("environments", envs)
        .input("trigger-policy", policy)
        .input("environment", "dev")
        .exits(2)
        .await;
    let e = errors(&r);
    for want in [
        "input `environments` = `<U+0440>roduction`: the environment name mixes scripts",
        "input `trigger-policy` = `pr<U+043E>duction`: the environment name mixes scripts",
    ] {
        assert!(e.contains(want), "{want}\n{e}");
    }
    assert_eq!(sts.requests(), 0);
}

// ---- Finding 5: duplicate YAML keys ----

#[tokio::test]
async fn duplicate_environments_are_refused_naming_both_lines() {
    for (envs, want) in [
        (
            "production:\n  role: arn:aws:iam::123456789012:role/a\nproduction:\n  role: arn:aws:iam::123456789012:role/b\n",
            "input `environments`: has the key `production` twice (lines 1 and 3); the second would silently replace the first",
        ),
        (
            "production:\n  role: arn:aws:iam::123456789012:role/a\nProduction:\n  role: arn:aws:iam::123456789012:role/b\n",
            "input `environments`: has the keys `production` (line 1) and `Production` (line 3), which name the same environment",
        ),
    ] {
        environments_refused(envs, want).await;
    }
}

#[tokio::test]
async fn duplicate_trigger_policy_and_checks_keys_are_refused() {
    let (oidc, sts) = feature_branch().await;
    let r = assuming(&oidc, &sts)
        .input(
            "trigger-policy",
            "dev: [main]\nstaging: [main]\nDev: [\"*\"]\n",
        )
        .input("environment", "dev")
        .exits(2)
        .await;
    let want = "input `trigger-policy`: has the keys `dev` (line 1) and `Dev` (line 3)";
    assert!(errors(&r).contains(want), "{want}\n{}", r.stdout);

    let r = Step::new()
        .input("mode", "lint-gate")
        .input(
            "checks",
            "- name: Lint\n  results: a.json\n  format: eslint-json\n- name: Tests\n  results: junit.xml\n  format: junit\n  results: other.xml\n",
        )
        .exits(2)
        .await;
    let want = "has the key `results` twice (lines 5 and 7, under `item 2`)";
    assert!(errors(&r).contains(want), "{want}\n{}", r.stdout);
}

// ---- Issue 25 finding 8: compatibility characters and combining marks ----

/// The look-alikes of `production` the issue reproduced, as written and as the error shows them.
const LOOK_ALIKES: &[(&str, &str, &str)] = &[
    (
        "\u{2119}roduction",
        "<U+2119>roduction",
        "contains a compatibility character: U+2119",
    ),
    (
        "producti\u{0307}on",
        "producti<U+0307>on",
        "contains a combining mark: U+0307 (a combining mark)",
    ),
    (
        "PRODUCT\u{0130}ON",
        "PRODUCT<U+0130>ON",
        "contains a combining mark: U+0130",
    ),
    (
        "product\u{FB01}on",
        "product<U+FB01>on",
        "contains a compatibility character: U+FB01",
    ),
    (
        "\u{24DF}\u{24E1}\u{24DE}\u{24D3}\u{24E4}\u{24D2}\u{24E3}\u{24D8}\u{24DE}\u{24DD}",
        "<U+24DF><U+24E1><U+24DE><U+24D3><U+24E4><U+24D2><U+24E3><U+24D8><U+24DE><U+24DD>",
        "contains compatibility characters: U+24DF",
    ),
];

#[tokio::test]
async fn compatibility_and_combining_look_alikes_of_production_never_reach_sts() {
    // Today's main let each of these through from a feature branch with no rule at all: an environment
    // the default policy did not name was unrestricted, and `ℙroduction` lower-cases to itself.
    for (value, shown, problem) in LOOK_ALIKES {
        // With `role-to-assume` (no `environments`), and as the mapped environment's name.
        for mapped in [false, true] {
            let (oidc, sts) = feature_branch().await;
            let mut s = step(&oidc, &sts.url)
                .var("GITHUB_REF", FEATURE)
                .input("aws-region", "eu-west-1")
                .input("environment", value);
            s = if mapped {
                s.input(
                    "environments",
                    &format!("{value}:\n  role: arn:aws:iam::123456789012:role/prod-deploy\n"),
                )
            } else {
                s.input("role-to-assume", ROLE)
            };
            let r = s.run().await;
            let want = format!("input `environment` = `{shown}`: {problem}");
            let e = input_error(&r, shown, &want);
            has(&e, "Retype the name in plain letters");
            assert_eq!(sts.requests(), 0, "{shown}: STS was called");
            assert_eq!(oidc.token_requests(), 0, "{shown}: the token was fetched");
        }
    }
}

#[tokio::test]
async fn environments_keys_that_fold_to_one_name_are_duplicates_naming_both_lines() {
    // `ℙroduction` and fullwidth `ｐｒｏｄｕｃｔｉｏｎ` fold (NFKC, case folding) to `production`.
    for (second, shown) in [
        ("\u{2119}roduction", "<U+2119>roduction"),
        (
            "\u{FF50}\u{FF52}\u{FF4F}\u{FF44}\u{FF55}\u{FF43}\u{FF54}\u{FF49}\u{FF4F}\u{FF4E}",
            "<U+FF50><U+FF52><U+FF4F><U+FF44><U+FF55><U+FF43><U+FF54><U+FF49><U+FF4F><U+FF4E>",
        ),
    ] {
        let envs = format!(
            "production:\n  role: arn:aws:iam::123456789012:role/a\n{second}:\n  role: arn:aws:iam::123456789012:role/b\n"
        );
        let want = format!(
            "input `environments`: has the keys `production` (line 1) and `{shown}` (line 3), which name the same environment (environment names are compared case-insensitively, after Unicode compatibility folding)"
        );
        environments_refused(&envs, &want).await;
    }
    // `ﬁ` is the ligature of `f` and `i`: `productﬁon` folds to `productfion`, not `production`. As a
    // second key it is refused all the same (exit 2), naming the character.
    let envs = "production:\n  role: arn:aws:iam::123456789012:role/a\nproduct\u{FB01}on:\n  role: arn:aws:iam::123456789012:role/b\n";
    let want = "input `environments` = `product<U+FB01>on`: the environment name contains a compatibility character: U+FB01";
    environments_refused(envs, want).await;
}

#[tokio::test]
async fn a_look_alike_trigger_policy_key_is_refused() {
    for (value, shown, problem) in LOOK_ALIKES {
        let (oidc, sts) = feature_branch().await;
        let r = assuming(&oidc, &sts)
            .input(
                "trigger-policy",
                &format!("dev: [main]\n\"{value}\": [\"**\"]\n"),
            )
            .input("environment", "dev")
            .run()
            .await;
        assert_eq!(r.code, 2, "{shown}: {}", r.stdout);
        let want = format!("input `trigger-policy` = `{shown}`: the environment name {problem}");
        assert!(errors(&r).contains(&want), "{want}\n{}", r.stdout);
        assert_eq!(sts.requests(), 0);
    }
}

#[tokio::test]
async fn a_look_alike_environment_claim_does_not_meet_the_production_claim_rule() {
    // The job declares the GitHub environment `productﬁon` (another environment, without production's
    // required reviewers); the step asks for `production` from a stable tag. The compatibility folding
    // used to compare names must not make that claim count as `production`.
    let tag = "refs/tags/v1.2.0-stable";
    for claim in [
        "product\u{FB01}on",
        "\u{2119}roduction",
        "PRODUCT\u{0130}ON",
    ] {
        let oidc = oidc_for(tag, Some(claim)).await;
        let sts = ScriptedSts::start(vec![]).await;
        let r = mapped(&oidc, &sts.url, tag, "production").run().await;
        assert_eq!(r.code, 1, "{claim}: {}", r.stdout);
        assert!(
            errors(&r).contains(
                "requires the OIDC token's `environment` claim to be `production`, but it is `"
            ),
            "{claim}: {}",
            r.stdout
        );
        assert_eq!(sts.requests(), 0, "{claim}: STS was called");
    }
}

// ---- Finding 6: lint-gate result files stay inside the workspace or RUNNER_TEMP ----

const SECRET: &str = "TOPSECRET-outside-the-workspace-4242";

fn junit(test: &str, failure: Option<&str>) -> String {
    let f = failure.map_or_else(String::new, |m| {
        format!("<failure message=\"{m}\">{m}</failure>")
    });
    format!(
        "<?xml version=\"1.0\"?>\n<testsuites><testsuite name=\"s\" tests=\"1\" failures=\"{}\"><testcase classname=\"c\" name=\"{test}\">{f}</testcase></testsuite></testsuites>\n",
        u8::from(failure.is_some())
    )
}

#[tokio::test]
async fn result_files_outside_the_workspace_are_named_never_read() {
    let step = Step::new();
    let ws = step.workspace.clone();
    let outside = step.dir.path().join("outside");
    let temp = step.dir.path().join("runner_temp");
    for d in [ws.join("reports"), outside.clone(), temp.clone()] {
        std::fs::create_dir_all(d).unwrap();
    }
    // What an attacker wants in the report: a file outside, reached by links, `..` and absolute paths.
    let secret = outside.join("secret.xml");
    std::fs::write(&secret, junit(SECRET, Some(SECRET))).unwrap();
    std::fs::write(ws.join("reports/ok.xml"), junit("inside_ok", None)).unwrap();
    std::fs::write(temp.join("t.xml"), junit("temp_ok", None)).unwrap();
    std::os::unix::fs::symlink(&secret, ws.join("reports/leak.xml")).unwrap();
    std::os::unix::fs::symlink(&outside, ws.join("linked")).unwrap();
    std::os::unix::fs::symlink(&outside, ws.join("reports/sub")).unwrap();
    // A link that stays inside is followed.
    std::os::unix::fs::symlink(ws.join("reports/ok.xml"), ws.join("reports/alias.xml")).unwrap();
    let checks = format!(
        "- name: Inside\n  results: reports/alias.xml\n  format: junit\n\
         - name: Temp\n  results: {t}\n  format: junit\n\
         - name: FileLink\n  results: reports/leak.xml\n  format: junit\n\
         - name: FolderLink\n  results: linked/*.xml\n  format: junit\n\
         - name: LinkInWalk\n  results: reports/**/*.xml\n  format: junit\n  required: false\n\
         - name: DotDot\n  results: ../outside/secret.xml\n  format: junit\n\
         - name: Absolute\n  results: {s}\n  format: junit\n",
        t = temp.join("t.xml").display(),
        s = secret.display(),
    );
    let r = step
        .var("RUNNER_TEMP", &temp.display().to_string())
        .input("mode", "lint-gate")
        .input("generated-files", "off")
        .input("checks", &checks)
        .exits(1)
        .await;
    let all = format!("{}\n{}\n{:?}", r.stdout, r.summary, r.outputs);
    assert!(
        !all.contains(SECRET),
        "content of a file outside leaked:\n{all}"
    );
    for (path, glob) in [
        ("reports/leak.xml", "reports/leak.xml"),
        ("linked", "linked/*.xml"),
        ("reports/sub", "reports/**/*.xml"),
        ("../outside/secret.xml", "../outside/secret.xml"),
    ] {
        let want = format!(
            "`{path}` (from `{glob}`) resolves outside the workspace and `RUNNER_TEMP` (links followed), so it was not read"
        );
        assert!(all.contains(&want), "{want}\n{all}");
    }
    let abs = secret.display().to_string();
    has(&all, &format!("`{abs}` (from `{abs}`) resolves outside"));
    // Inside the workspace (through an inner link) and in RUNNER_TEMP: read as usual.
    assert_eq!(
        r.output("inside-verdict"),
        Some("success"),
        "{:?}",
        r.outputs
    );
    assert_eq!(r.output("temp-verdict"), Some("success"), "{:?}", r.outputs);
    for failed in ["filelink", "folderlink", "dotdot", "absolute"] {
        let o = format!("{failed}-verdict");
        assert_eq!(r.output(&o), Some("failure"), "{o}: {:?}", r.outputs);
    }
}
