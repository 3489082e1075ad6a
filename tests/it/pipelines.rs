//! The four reference pipelines (`examples/*.yml`), end to end: each test parses the example, walks its
//! jobs in order and runs every stevedore step with the `with:` inputs written there, feeding each step
//! the previous steps' outputs (read back from `GITHUB_OUTPUT`) — so the examples cannot drift from what is
//! tested. Real parts: moto (STS, S3, Lambda, ECR), the scripted ECS endpoint, the fake GitHub, the fake
//! OIDC issuer, and (under `CI=true`) the real image in podman (`helpers/workflow.rs` explains the two
//! backends). `run:` steps are the user's tools; the tests play their outcomes and result files.

use crate::helpers::{has, lacks};
use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::helpers::fake_ecs::{After, Behaviour, FakeEcs};
use crate::helpers::fake_github::FakeGithub;
use crate::helpers::fake_oidc::{FakeOidc, Settings};
use crate::helpers::workflow::{Backend, Walk, Workflow};

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";
const ACCOUNT: &str = "123456789012";
use crate::helpers::deploy::{ECR_REGISTRY as REGISTRY, ecs_service};

/// A git checkout with one commit (lint-gate's generated-files check compares against its index).
fn git_checkout(dir: &Path, files: &[(&str, &str)]) {
    for (p, c) in files {
        let p = dir.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, c).unwrap();
    }
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "octocat")
            .env("GIT_AUTHOR_EMAIL", "octocat@example.com")
            .env("GIT_COMMITTER_NAME", "octocat")
            .env("GIT_COMMITTER_EMAIL", "octocat@example.com")
            .output()
            .expect("git");
        assert!(out.status.success(), "git {args:?}: {out:?}");
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "feat: the app"]);
}

fn pr_event(number: u64, title: &str, labels: &[&str]) -> Value {
    json!({
        "action": "opened",
        "number": number,
        "pull_request": {
            "number": number,
            "title": title,
            "state": "open",
            "labels": labels.iter().map(|l| json!({"name": l})).collect::<Vec<_>>(),
            "head": {"sha": SHA, "ref": "feature/x", "repo": {"full_name": "octo-org/octo-repo"}},
            "base": {"sha": "1111111111111111111111111111111111111111", "ref": "main",
                     "repo": {"full_name": "octo-org/octo-repo"}}
        },
        "repository": {"full_name": "octo-org/octo-repo", "name": "octo-repo",
                       "owner": {"login": "octo-org"}, "default_branch": "main"}
    })
}

fn push_event(git_ref: &str) -> Value {
    json!({
        "ref": git_ref,
        "before": "1111111111111111111111111111111111111111",
        "after": SHA,
        "repository": {"full_name": "octo-org/octo-repo", "name": "octo-repo",
                       "owner": {"login": "octo-org"}, "default_branch": "main"},
        "head_commit": {"id": SHA, "message": "feat: a change"}
    })
}

const JUNIT_PASS: &str = r#"<?xml version="1.0"?>
<testsuites><testsuite name="app" tests="2" failures="0" errors="0">
<testcase classname="app" name="adds" file="src/app.test.ts"/>
<testcase classname="app" name="subtracts" file="src/app.test.ts"/>
</testsuite></testsuites>"#;

const JUNIT_FAIL: &str = r#"<?xml version="1.0"?>
<testsuites><testsuite name="app" tests="2" failures="1" errors="0">
<testcase classname="app" name="adds" file="src/app.test.ts"/>
<testcase classname="app" name="subtracts" file="src/app.test.ts"><failure message="expected 1 to be 2">at src/app.test.ts:9:5</failure></testcase>
</testsuite></testsuites>"#;

fn cobertura(rate: f64) -> String {
    format!(
        r#"<?xml version="1.0"?>
<coverage line-rate="{rate}" branch-rate="0" lines-covered="{c}" lines-valid="100" version="1" timestamp="0">
<packages><package name="src" line-rate="{rate}"><classes>
<class name="app" filename="src/app.ts" line-rate="{rate}"><lines><line number="1" hits="1"/></lines></class>
</classes></package></packages></coverage>"#,
        c = (rate * 100.0) as u32
    )
}

/// The `gate` job's checks, green (or with failing tests).
fn standards_checks<'a>(walk: Walk<'a>, tests_pass: bool) -> Walk<'a> {
    let cov = cobertura(0.9);
    walk.play("gate", "lint", "success", &[("eslint.json", "[]")])
        .play("gate", "types", "success", &[("tsc.txt", "")])
        .play(
            "gate",
            "test",
            if tests_pass { "success" } else { "failure" },
            &[
                (
                    "junit.xml",
                    if tests_pass { JUNIT_PASS } else { JUNIT_FAIL },
                ),
                ("coverage/cobertura-coverage.xml", &cov),
            ],
        )
        .play("gate", "build", "success", &[])
        .play("gate", "generate", "success", &[])
}

struct World {
    gh: FakeGithub,
    oidc: FakeOidc,
    moto: &'static crate::helpers::moto::Moto,
}

async fn world() -> Option<World> {
    let moto = crate::helpers::moto::moto()?;
    Some(World {
        gh: FakeGithub::start_for("octo-org/octo-repo").await,
        oidc: FakeOidc::start(Settings::default()).await,
        moto,
    })
}

fn walk<'a>(
    wf: &'a Workflow,
    backend: Backend,
    w: &'a World,
    event: &str,
    git_ref: &str,
    payload: Value,
) -> Walk<'a> {
    Walk::new(wf, backend, event, git_ref, payload)
        .github("api_url", &w.gh.url())
        .oidc(&w.oidc)
        .env("AWS_ENDPOINT_URL", &w.moto.endpoint)
}

fn standards_walk<'a>(
    wf: &'a Workflow,
    backend: Backend,
    w: &'a World,
    ecs: &FakeEcs,
    event: &str,
    payload: Value,
) -> Walk<'a> {
    walk(wf, backend, w, event, "refs/heads/main", payload)
        .var("DEV_ACCOUNT_ID", ACCOUNT)
        .var("STAGING_ACCOUNT_ID", ACCOUNT)
        .var("PROD_ACCOUNT_ID", ACCOUNT)
        .var("ECR_REGISTRY", REGISTRY)
        .env("AWS_ENDPOINT_URL_ECS", ecs.url())
        .checkout(|ws| git_checkout(ws, &[("src/app.ts", "export const one = 1;\n")]))
}

#[tokio::test]
async fn standards_pr_runs_the_gate_and_deploys_nothing() {
    let Some(backend) = Backend::select() else {
        return;
    };
    let Some(w) = world().await else { return };
    let ecs = ecs_service("app", "api", vec![]).await;
    let wf = Workflow::load("standards.yml");
    let run = standards_checks(
        standards_walk(
            &wf,
            backend,
            &w,
            &ecs,
            "pull_request",
            pr_event(7, "feat: add subtraction", &[]),
        ),
        true,
    )
    .run()
    .await;
    assert_eq!(run.ran(), ["gate"], "{:#?}", run.jobs);
    let gate = run.job("gate").step("gate");
    assert_eq!(gate.outcome, "success", "{}", gate.logs());
    assert_eq!(gate.output("verdict"), "success", "{}", gate.logs());
    assert_eq!(ecs.total_calls(), 0);
    // One check run per check, and the sticky comment on the PR.
    let runs = w.gh.check_runs();
    assert!(
        runs.iter().any(|r| r.name.contains("Tests")),
        "{:?}",
        runs.iter().map(|r| &r.name).collect::<Vec<_>>()
    );
    assert_eq!(w.gh.comments(7).len(), 1, "{:?}", w.gh.comments(7));
    w.gh.assert_no_violations();
}

#[tokio::test]
async fn standards_main_gates_then_deploys_dev_staging_and_production_with_the_approval_claim() {
    let Some(backend) = Backend::select() else {
        return;
    };
    let Some(w) = world().await else { return };
    let ecs = ecs_service("app", "api", vec![Behaviour::complete_after_polls(1); 3]).await;
    let wf = Workflow::load("standards.yml");
    let run = standards_checks(
        standards_walk(
            &wf,
            backend,
            &w,
            &ecs,
            "push",
            push_event("refs/heads/main"),
        ),
        true,
    )
    .run()
    .await;
    assert_eq!(
        run.ran(),
        ["gate", "deploy-dev", "deploy-staging", "deploy-production"],
        "{:#?}",
        run.jobs
    );
    assert!(!run.failed(), "{:#?}", run.jobs);
    for job in ["deploy-dev", "deploy-staging", "deploy-production"] {
        let d = run.job(job).step("deploy");
        assert_eq!(d.output("verdict"), "success", "{job}: {}", d.logs());
        assert!(
            d.output("task-definition-arn")
                .contains("task-definition/api:"),
            "{job}: {:?}",
            d.outputs
        );
    }
    // Each environment got the image of this commit, in order dev -> staging -> production.
    let updates = ecs.requests("UpdateService");
    assert_eq!(updates.len(), 3, "{updates:?}");
    let image = format!("{REGISTRY}/api:{SHA}");
    let arn = ecs.service_task_definition("api");
    assert_eq!(
        ecs.task_definition(&arn)["containerDefinitions"][0]["image"],
        image.as_str()
    );
    let envs: Vec<String> =
        w.gh.deployments()
            .iter()
            .map(|d| d["environment"].as_str().unwrap().to_owned())
            .collect();
    assert_eq!(envs, ["dev", "staging", "production"]);
    // The production token carried the environment claim of the approved job.
    let last = w.oidc.minted().last().cloned().unwrap();
    let claims = jwt_claims(&last);
    assert_eq!(claims["environment"], "production", "{claims}");
    w.gh.assert_no_violations();
}

#[tokio::test]
async fn standards_a_failing_gate_on_main_blocks_every_deploy() {
    let Some(backend) = Backend::select() else {
        return;
    };
    let Some(w) = world().await else { return };
    let ecs = ecs_service("app", "api", vec![]).await;
    let wf = Workflow::load("standards.yml");
    let run = standards_checks(
        standards_walk(
            &wf,
            backend,
            &w,
            &ecs,
            "push",
            push_event("refs/heads/main"),
        ),
        false,
    )
    .run()
    .await;
    assert!(run.failed());
    let gate = run.job("gate").step("gate");
    assert_eq!(gate.code, 1, "{}", gate.logs());
    assert_eq!(gate.output("verdict"), "failure");
    has(&gate.summary, "subtracts");
    assert_eq!(run.ran(), ["gate"]);
    for job in ["deploy-dev", "deploy-staging", "deploy-production"] {
        assert_eq!(run.job(job).result, "skipped");
    }
    assert_eq!(ecs.total_calls(), 0);
    assert_eq!(w.oidc.token_requests(), 0);
}

#[tokio::test]
async fn standards_production_without_the_environment_key_is_refused() {
    // A workflow edit that drops `environment: production` (and with it the approval) cannot deploy:
    // the token has no `environment` claim and the trigger policy requires it.
    let Some(backend) = Backend::select() else {
        return;
    };
    let Some(w) = world().await else { return };
    let ecs = ecs_service("app", "api", vec![Behaviour::complete_after_polls(1); 2]).await;
    let mut wf = Workflow::load("standards.yml");
    wf.job_mut("deploy-production").remove("environment");
    let run = standards_checks(
        standards_walk(
            &wf,
            backend,
            &w,
            &ecs,
            "push",
            push_event("refs/heads/main"),
        ),
        true,
    )
    .run()
    .await;
    assert_eq!(run.job("deploy-staging").result, "success");
    let prod = run.job("deploy-production").step("deploy");
    assert_ne!(prod.code, 0, "{}", prod.logs());
    assert!(
        prod.stdout.contains(
            "requires the OIDC token's `environment` claim to be `production`, but it is absent"
        ),
        "{}",
        prod.logs()
    );
    assert_eq!(ecs.requests("UpdateService").len(), 2);
    assert!(run.failed());
}

fn jwt_claims(jwt: &str) -> Value {
    use base64::Engine;
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

#[allow(dead_code, reason = "used by the scripted failure scenarios")]
fn unhealthy() -> Behaviour {
    Behaviour::StopTasks {
        after: After::Polls(1),
        stop_code: "EssentialContainerExited".into(),
        reason: "Essential container in task exited".into(),
        containers: vec![(
            "app".into(),
            Some(1),
            Some("health check failed: curl -f http://localhost:8080/health".into()),
        )],
    }
}

// ---- act (ACT=true): no OIDC, personal tokens ------------------------------------------------------

/// What one act step left behind.
struct ActResult {
    code: i32,
    logs: String,
    summary: String,
    env_file: Vec<(String, String)>,
    outputs: Vec<(String, String)>,
}

/// Runs one step as act does: the act profile of the container harness when the image can carry a binary
/// of these sources (always under `CI=true`), else in-process with act's environment (`ACT=true`, no OIDC variables).
async fn act_step(
    inputs: &[(&str, &str)],
    vars: &[(&str, &str)],
    event: Option<(&str, Value)>,
) -> ActResult {
    use crate::helpers::runner::{ContainerStep, Profile};
    use crate::helpers::workflow::image_is_current;
    let container = match image_is_current() {
        Ok(()) => true,
        Err(why) if crate::helpers::strict() => panic!("act profile required (CI=true): {why}"),
        Err(why) => {
            eprintln!(
                "act test in-process (the container act profile needs a binary of these sources): {why}"
            );
            false
        }
    };
    if container {
        let mut s = ContainerStep::new(Profile::Act).network_host();
        for (k, v) in inputs {
            s = s.input(k, v);
        }
        for (k, v) in vars {
            s = s.var(k, v);
        }
        if let Some((name, payload)) = event.clone() {
            s = s.event(name, payload);
        }
        // Without podman (not under CI=true, where `run` fails the test instead) the step runs in-process.
        if let Some(r) = s.run().await {
            return ActResult {
                code: r.code,
                logs: r.logs(),
                summary: r.summary,
                env_file: r.env_file,
                outputs: r.outputs,
            };
        }
    }
    let mut s = crate::helpers::run::Step::new()
        .var("ACT", "true")
        .var("GITHUB_ACTOR", "nektos/act");
    for (k, v) in inputs {
        s = s.input(k, v);
    }
    for (k, v) in vars {
        s = s.var(k, v);
    }
    if let Some((name, payload)) = event {
        s = s.event(name, payload);
    }
    let r = s.run().await;
    ActResult {
        code: i32::from(r.code),
        logs: format!("exit {}\n{}", r.code, r.stdout),
        summary: r.summary,
        env_file: r.env_file,
        outputs: r.outputs,
    }
}

const ACT_ENVIRONMENTS: &str = "dev:        { role: \"arn:aws:iam::123456789012:role/github-deploy\", region: eu-west-1 }\nproduction: { role: \"arn:aws:iam::123456789012:role/github-deploy\", region: eu-west-1 }\n";

#[tokio::test]
async fn act_credentials_fall_back_to_the_credential_chain_and_say_why() {
    let Some(moto) = crate::helpers::moto::moto() else {
        return;
    };
    let r = act_step(
        &[
            ("mode", "credentials"),
            ("environment", "dev"),
            ("environments", ACT_ENVIRONMENTS),
        ],
        &[
            ("AWS_ENDPOINT_URL", &moto.endpoint),
            ("AWS_ACCESS_KEY_ID", "AKIDACTLOCAL"),
            ("AWS_SECRET_ACCESS_KEY", "act-local-secret-key"),
        ],
        None,
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.logs);
    // Says so twice: a warning annotation in the log and the credentials row of the summary.
    assert!(
        r.logs.lines().any(|l| l.starts_with("::warning")
            && l.contains("AWS credential chain")
            && l.contains("act (ACT=true) has no OIDC")),
        "{}",
        r.logs
    );
    has(
        &r.summary,
        "standard AWS credential chain (act (ACT=true) has no OIDC)",
    );
    assert!(
        r.env_file.iter().any(|(k, _)| k == "AWS_ACCESS_KEY_ID"),
        "{:?}",
        r.env_file
    );
    assert!(
        r.outputs
            .iter()
            .any(|(k, v)| k == "aws-account-id" && v == ACCOUNT),
        "{:?}",
        r.outputs
    );
}

#[tokio::test]
async fn act_production_needs_the_environment_claim_and_is_refused() {
    let Some(moto) = crate::helpers::moto::moto() else {
        return;
    };
    let r = act_step(
        &[
            ("mode", "credentials"),
            ("environment", "production"),
            ("environments", ACT_ENVIRONMENTS),
            (
                "trigger-policy",
                "production:\n  refs: [refs/heads/main]\n  require-environment-claim: true\n",
            ),
        ],
        &[
            ("AWS_ENDPOINT_URL", &moto.endpoint),
            ("AWS_ACCESS_KEY_ID", "AKIDACTLOCAL"),
            ("AWS_SECRET_ACCESS_KEY", "act-local-secret-key"),
        ],
        None,
    )
    .await;
    assert_ne!(r.code, 0, "{}", r.logs);
    has(
        &r.logs,
        "deploying to `production` requires the OIDC `environment` claim (input `trigger-policy`), and the AWS credential chain has no claims",
    );
    assert!(r.env_file.is_empty(), "{:?}", r.env_file);
}

#[tokio::test]
async fn act_production_dry_run_prints_the_plan_and_says_what_a_real_run_would_refuse() {
    // docs/act.md: "Use `dry-run: true` to see a production plan locally." Before, the dry run was
    // refused exactly like the real run (exit 1, no plan).
    let r = act_step(
        &[
            ("mode", "credentials"),
            ("dry-run", "true"),
            ("environment", "production"),
            ("environments", ACT_ENVIRONMENTS),
            (
                "trigger-policy",
                "production:\n  refs: [refs/heads/main]\n  require-environment-claim: true\n",
            ),
        ],
        &[],
        None,
    )
    .await;
    assert_eq!(r.code, 0, "{}\n{}", r.logs, r.summary);
    // (property escaping is the workflow-command encoder's business: match the words, not the bytes)
    assert!(
        r.logs.lines().any(|l| l.starts_with("::warning ")
            && l.contains("a real run would be refused")
            && l.contains("OIDC `environment` claim")),
        "{}",
        r.logs
    );
    for part in [
        "arn:aws:iam::123456789012:role/github-deploy",
        "standard AWS credential chain (act (ACT=true) has no OIDC)",
        "A real run would be refused:** deploying to `production` requires the OIDC `environment` claim",
        "permissions: id-token: write",
    ] {
        assert!(r.summary.contains(part), "{part}:\n{}", r.summary);
    }
    assert!(r.env_file.is_empty(), "{:?}", r.env_file);
}

/// `examples/*.yml` build `environments` from repository variables; here `vars.PROD_ACCOUNT_ID` is unset.
const ACT_ENVIRONMENTS_PROD_UNSET: &str = "dev:        { role: \"arn:aws:iam::123456789012:role/github-deploy\", region: eu-west-1 }\nproduction: { role: \"arn:aws:iam:::role/github-deploy\", region: eu-west-1 }\n";

#[tokio::test]
async fn act_an_invalid_entry_for_another_environment_warns_and_the_targeted_one_stays_strict() {
    let dev = act_step(
        &[
            ("mode", "credentials"),
            ("dry-run", "true"),
            ("environment", "dev"),
            ("environments", ACT_ENVIRONMENTS_PROD_UNSET),
        ],
        &[],
        None,
    )
    .await;
    // Before: exit 2, `environment production: role arn:aws:iam:::role/github-deploy is not an IAM role ARN`.
    assert_eq!(dev.code, 0, "{}\n{}", dev.logs, dev.summary);
    let warning = dev
        .logs
        .lines()
        .find(|l| l.starts_with("::warning ") && l.contains("input `environments`"))
        .unwrap_or_else(|| panic!("no warning for `environments`:\n{}", dev.logs));
    for part in [
        "environment `production`: role `arn:aws:iam:::role/github-deploy` is not an IAM role ARN",
        "targets `dev`",
        "Fix the entry",
    ] {
        assert!(warning.contains(part), "{part}: {warning}");
    }
    let prod = act_step(
        &[
            ("mode", "credentials"),
            ("dry-run", "true"),
            ("environment", "production"),
            ("environments", ACT_ENVIRONMENTS_PROD_UNSET),
        ],
        &[],
        None,
    )
    .await;
    assert_eq!(prod.code, 2, "{}", prod.logs);
    assert!(
        prod.logs.lines().any(|l| l.starts_with("::error ")
            && l.contains("invalid input `environments`")
            && l.contains("environment `production`")),
        "{}",
        prod.logs
    );
    has(&prod.logs, "arn:aws:iam:::role/github-deploy");
}

#[tokio::test]
async fn act_reporting_with_a_personal_token_falls_back_to_commit_statuses() {
    use crate::helpers::fake_github::Fault;
    let gh = FakeGithub::start_for("octo-org/octo-repo").await;
    // GitHub's answer to a personal access token creating a check run.
    gh.fault(
        "POST /repos/{owner}/{repo}/check-runs",
        Fault {
            status: 403,
            message: "You must authenticate via a GitHub App.".into(),
            headers: Vec::new(),
            times: None,
        },
    );
    let r = act_step(
        &[
            ("mode", "lint-gate"),
            ("github-token", "ghp_personalaccesstoken0123456789abcd"),
            ("pr-title", "required"),
        ],
        &[("GITHUB_API_URL", &gh.url())],
        Some(("pull_request", pr_event(12, "feat(api): local run", &[]))),
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.logs);
    assert!(!gh.statuses().is_empty(), "{}", r.logs);
    assert!(
        r.summary.contains(
            "Check run refused (GitHub answered 403 “You must authenticate via a GitHub App.”): reported as commit status"
        ),
        "the summary names the fallback and why:\n{}",
        r.summary
    );
    let statuses = gh.statuses();
    assert!(
        statuses
            .iter()
            .any(|(sha, s)| sha == SHA && s["context"] == "stevedore / lint-gate / PR title"),
        "{statuses:?}"
    );
    // act's run URL (`…/actions/runs/<act's placeholder id>`) is no page on GitHub: never linked, and
    // the summary says why `report-url` is empty.
    assert!(
        statuses.iter().all(|(_, s)| !s["target_url"]
            .as_str()
            .unwrap_or_default()
            .contains("/actions/runs/")),
        "{statuses:?}"
    );
    let comments = gh.comments(12);
    assert_eq!(comments.len(), 1, "{comments:?}");
    lacks(&comments[0].body, "/actions/runs/");
    lacks(&r.summary, "](https://github.com/");
    assert!(
        r.summary
            .contains("`report-url` is empty: under act the workflow run URL")
            && r.summary
                .contains("is act's placeholder, not a page on GitHub"),
        "{}",
        r.summary
    );
    assert_eq!(
        r.outputs.iter().find(|(k, _)| k == "report-url"),
        None,
        "{:?}",
        r.outputs
    );
    gh.assert_no_violations();
}

// ---- container.yml ----------------------------------------------------------------------------------

fn sdk_eu(endpoint: &str) -> aws_config::SdkConfig {
    crate::helpers::moto::sdk(endpoint, "eu-west-1")
}

struct Engine {
    registry: crate::helpers::engine::Registry,
    podman: crate::helpers::engine::Podman,
}

async fn container_world(endpoint: &str) -> Option<Engine> {
    let registry = crate::helpers::engine::Registry::start()?;
    let podman = crate::helpers::engine::Podman::start(&registry.addr)?;
    // The staging ECR repository exists (infrastructure, not the pipeline, creates it).
    crate::helpers::moto::ecr_repository(&sdk_eu(endpoint), "app").await;
    Some(Engine { registry, podman })
}

fn container_walk<'a>(
    wf: &'a Workflow,
    backend: Backend,
    w: &'a World,
    engine: &Engine,
    ecs: &FakeEcs,
    git_ref: &str,
) -> Walk<'a> {
    walk(wf, backend, w, "push", git_ref, push_event(git_ref))
        .var("DEV_ACCOUNT_ID", ACCOUNT)
        .var("STAG_ACCOUNT_ID", ACCOUNT)
        .var("PROD_ACCOUNT_ID", ACCOUNT)
        .var("ECR_REGISTRY_ALIAS", &engine.registry.addr)
        // moto's ECR has no registry protocol: the image lives in the loopback registry, which moto cannot
        // scan. The scan gate itself is tested against moto in build.rs.
        .var("SCAN_SEVERITY_THRESHOLD", "none")
        .env("AWS_ENDPOINT_URL_ECS", ecs.url())
        .engine(&engine.podman.docker_host)
        .checkout(|ws| {
            std::fs::write(ws.join("static.txt"), "static\n").unwrap();
            std::fs::write(
                ws.join("Dockerfile"),
                "FROM scratch\nCOPY static.txt /static.txt\n",
            )
            .unwrap();
        })
}

/// The tags the loopback registry holds for `name` (`GET /v2/<name>/tags/list`).
async fn registry_tags(engine: &Engine, name: &str) -> Vec<String> {
    let url = format!("http://{}/v2/{name}/tags/list", engine.registry.addr);
    let body: Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
    let mut tags: Vec<String> = body["tags"]
        .as_array()
        .map(|a| a.iter().map(|t| t.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default();
    tags.sort();
    tags
}

#[tokio::test]
async fn container_main_builds_once_and_deploys_dev_then_stag_by_digest() {
    let Some(backend) = Backend::select() else {
        return;
    };
    let Some(w) = world().await else { return };
    let Some(engine) = container_world(&w.moto.endpoint).await else {
        return;
    };
    // One service `app` in cluster `app` per account; the scripted endpoint stands for both accounts.
    let ecs = ecs_service(
        "app",
        "app",
        vec![
            Behaviour::complete_after_polls(2),
            Behaviour::complete_after_polls(1),
        ],
    )
    .await;
    let wf = Workflow::load("container.yml");
    let run = container_walk(&wf, backend, &w, &engine, &ecs, "refs/heads/main")
        .run()
        .await;
    assert_eq!(
        run.ran(),
        ["build", "deploy-dev", "deploy-stag"],
        "{:#?}",
        run.jobs
    );
    assert!(!run.failed(), "{:#?}", run.jobs);
    let build = run.job("build").step("image");
    let digest = build.output("digest");
    assert!(digest.starts_with("sha256:"), "{}", build.logs());
    // The registry holds exactly the digest the step reported, under the commit's SHA and nothing else.
    let (held, _, _) = engine.registry.manifest("app", SHA).await;
    assert_eq!(held, digest);
    assert_eq!(registry_tags(&engine, "app").await, [SHA]);
    let image = build.output("image");
    assert_eq!(image, format!("{}/app@{digest}", engine.registry.addr));
    assert_eq!(build.inputs["scan-severity-threshold"], "none");
    has(&build.summary, digest);
    // dev, then stag, got the build's output: each new revision runs the image by digest.
    for job in ["deploy-dev", "deploy-stag"] {
        let deploy = run.job(job).step("deploy");
        assert_eq!(deploy.inputs["image"], image, "{job}");
        assert_eq!(deploy.output("verdict"), "success", "{}", deploy.logs());
        let td = ecs.task_definition(deploy.output("task-definition-arn"));
        assert_eq!(td["containerDefinitions"][0]["image"], image, "{job}");
    }
    assert_eq!(ecs.requests("UpdateService").len(), 2);
    let envs: Vec<String> = w
        .oidc
        .minted()
        .iter()
        .map(|j| {
            jwt_claims(j)["environment"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    assert_eq!(envs, ["dev", "dev", "stag"], "one token per stevedore step");
    w.gh.assert_no_violations();
}

/// main builds; a `*-stable` tag on that commit deploys main's digest to prod without building anything;
/// a plain tag asking for prod is refused before any AWS call.
#[tokio::test]
async fn container_a_stable_tag_deploys_the_digest_main_built_and_a_plain_tag_is_refused() {
    let Some(backend) = Backend::select() else {
        return;
    };
    let Some(w) = world().await else { return };
    let Some(engine) = container_world(&w.moto.endpoint).await else {
        return;
    };
    let wf = Workflow::load("container.yml");
    let ecs = ecs_service("app", "app", vec![Behaviour::complete_after_polls(1); 3]).await;
    let main = container_walk(&wf, backend, &w, &engine, &ecs, "refs/heads/main")
        .run()
        .await;
    assert!(!main.failed(), "{:#?}", main.jobs);
    let built = main.job("build").step("image").output("image").to_owned();
    let updates = ecs.requests("UpdateService").len();

    // `v1.4.0` asks for prod (were the workflow to run on every tag) and is refused before any AWS call.
    let minted = w.oidc.minted().len();
    let run = container_walk(&wf, backend, &w, &engine, &ecs, "refs/tags/v1.4.0")
        .run()
        .await;
    assert_eq!(run.ran(), ["deploy-prod"], "{:#?}", run.jobs);
    let refused = &run.job("deploy-prod").steps[0];
    assert_ne!(refused.code, 0, "{}", refused.logs());
    assert!(
        refused.stdout.contains("may not deploy to `prod`"),
        "{}",
        refused.logs()
    );
    assert_eq!(run.job("deploy-prod").step("deploy").outcome, "skipped");
    assert_eq!(ecs.requests("UpdateService").len(), updates);
    assert_eq!(w.oidc.minted().len(), minted, "no OIDC token was requested");
    assert!(run.failed());

    // `v1.4.0-stable`: no build; the lookup (played: `aws ecr describe-images` of the commit's tag, run for
    // real under act in act.rs) gives main's digest, and prod runs exactly that, with the approval's claim.
    let run = container_walk(&wf, backend, &w, &engine, &ecs, "refs/tags/v1.4.0-stable")
        .play_outputs("deploy-prod", "image", &[("image", &built)])
        .run()
        .await;
    assert!(!run.failed(), "{:#?}", run.jobs);
    assert_eq!(run.ran(), ["deploy-prod"], "nothing is built for a tag");
    let creds = &run.job("deploy-prod").steps[0];
    assert_eq!(creds.output("aws-account-id"), ACCOUNT, "{}", creds.logs());
    let deploy = run.job("deploy-prod").step("deploy");
    assert_eq!(deploy.output("verdict"), "success", "{}", deploy.logs());
    assert_eq!(deploy.inputs["image"], built);
    let td = ecs.task_definition(deploy.output("task-definition-arn"));
    assert_eq!(td["containerDefinitions"][0]["image"], built.as_str());
    assert!(
        !deploy.stdout.contains("is deployed by tag"),
        "prod is deployed by digest: {}",
        deploy.logs()
    );
    // Nothing was pushed for the tag: the registry still holds the commit's SHA tag alone.
    assert_eq!(registry_tags(&engine, "app").await, [SHA]);
    for jwt in &w.oidc.minted()[minted..] {
        let claims = jwt_claims(jwt);
        assert_eq!(claims["environment"], "prod");
        assert_eq!(claims["ref"], "refs/tags/v1.4.0-stable");
    }
    assert_eq!(w.oidc.minted().len(), minted + 2, "credentials and deploy");
}

#[tokio::test]
async fn container_an_unhealthy_rollout_fails_the_workflow_and_is_rolled_back() {
    let Some(backend) = Backend::select() else {
        return;
    };
    let Some(w) = world().await else { return };
    let Some(engine) = container_world(&w.moto.endpoint).await else {
        return;
    };
    let ecs = ecs_service(
        "app",
        "app",
        vec![unhealthy(), Behaviour::complete_after_polls(1)],
    )
    .await;
    let before = ecs.service_task_definition("app");
    let wf = Workflow::load("container.yml");
    let run = container_walk(&wf, backend, &w, &engine, &ecs, "refs/heads/main")
        .run()
        .await;
    assert!(run.failed());
    let deploy = run.job("deploy-dev").step("deploy");
    assert_eq!(deploy.code, 1, "{}", deploy.logs());
    assert_eq!(deploy.output("verdict"), "failure");
    assert!(
        deploy.summary.contains("health check failed"),
        "the report shows why the tasks died:\n{}",
        deploy.summary
    );
    // We rolled back: the service runs the revision it ran before, and stag never saw the image.
    assert_eq!(ecs.service_task_definition("app"), before);
    assert_eq!(ecs.requests("UpdateService").len(), 2);
    assert_eq!(run.job("deploy-stag").result, "skipped");
}

// ---- frontend.yml -----------------------------------------------------------------------------------

/// examples/frontend.yml on a push to `main`, every step run as the runner would: the image is built and
/// pushed by digest, deployed to dev on the scripted App Runner and ECS Express endpoints (operation /
/// service deployment followed, URL checked), then to production on both with the approval's OIDC
/// `environment` claim. `unhealthy` makes the Express service's URL answer 503: express-dev fails and is
/// rolled back, App Runner dev still succeeds, and no production job runs.
async fn frontend_push(unhealthy: bool) {
    use crate::helpers::fake_apprunner::FakeAppRunner;
    use crate::helpers::fake_ecs::ExpressDeploy;
    let Some(backend) = Backend::select() else {
        return;
    };
    let Some(w) = world().await else { return };
    let Some(registry) = crate::helpers::engine::Registry::start() else {
        return;
    };
    let Some(podman) = crate::helpers::engine::Podman::start(&registry.addr) else {
        return;
    };
    crate::helpers::moto::ecr_repository(&sdk_eu(&w.moto.endpoint), "frontend").await;
    let old = format!("{REGISTRY}/frontend@sha256:{}", "0".repeat(64));
    let app_runner = FakeAppRunner::start("frontend", &old).await;
    let ecs = FakeEcs::start().await;
    let express = ecs.seed_express("default", "frontend", &old);
    ecs.script_express(
        &express,
        [
            ExpressDeploy::Succeed(After::Polls(2)),
            ExpressDeploy::Succeed(After::Polls(1)),
        ],
    );
    if unhealthy {
        ecs.health(503);
    }
    let wf = Workflow::load("frontend.yml");
    let run = walk(
        &wf,
        backend,
        &w,
        "push",
        "refs/heads/main",
        push_event("refs/heads/main"),
    )
    .var("DEV_ACCOUNT_ID", ACCOUNT)
    .var("PROD_ACCOUNT_ID", ACCOUNT)
    .var("ECR_REGISTRY_ALIAS", &registry.addr)
    .var("SCAN_SEVERITY_THRESHOLD", "none")
    .var("DEV_APP_RUNNER_HEALTH_URL", &app_runner.health_url())
    .var("PROD_APP_RUNNER_HEALTH_URL", &app_runner.health_url())
    .var("DEV_EXPRESS_HEALTH_URL", &ecs.health_url())
    .var("PROD_EXPRESS_HEALTH_URL", &ecs.health_url())
    .env("AWS_ENDPOINT_URL_APPRUNNER", app_runner.url())
    .env("AWS_ENDPOINT_URL_ECS", ecs.url())
    .engine(&podman.docker_host)
    .checkout(|ws| {
        std::fs::write(ws.join("index.html"), "<h1>frontend</h1>\n").unwrap();
        std::fs::write(
            ws.join("Dockerfile"),
            "FROM scratch\nCOPY index.html /index.html\n",
        )
        .unwrap();
    })
    .run()
    .await;
    let image = run.job("build").step("image").output("image").to_owned();
    assert!(
        image.starts_with(&format!("{}/frontend@sha256:", registry.addr)),
        "{image}"
    );
    let ar = run.job("app-runner-dev").step("deploy");
    assert_eq!(ar.inputs["image"], image);
    assert_eq!(ar.output("verdict"), "success", "{}", ar.logs());
    assert!(!ar.output("operation-id").is_empty());
    let ex = run.job("express-dev").step("deploy");
    assert_eq!(ex.inputs["image"], image);
    assert!(
        app_runner.protocol_errors().is_empty() && ecs.protocol_errors().is_empty(),
        "{:?} {:?}",
        app_runner.protocol_errors(),
        ecs.protocol_errors()
    );
    if unhealthy {
        assert_eq!(ex.code, 1, "{}", ex.logs());
        assert_eq!(ex.output("verdict"), "failure");
        assert_eq!(
            ecs.express_active_images(&express),
            vec![old.clone()],
            "rolled back"
        );
        assert!(run.failed());
        assert_eq!(
            run.ran(),
            ["build", "app-runner-dev", "express-dev"],
            "{:#?}",
            run.jobs
        );
        assert_eq!(app_runner.requests("UpdateService").len(), 1);
        return;
    }
    assert_eq!(ex.output("verdict"), "success", "{}", ex.logs());
    assert_eq!(
        ex.output("service-url"),
        "https://frontend-0123456789abcdef.ecs.eu-west-1.on.aws"
    );
    assert!(!run.failed(), "{:#?}", run.jobs);
    for job in ["app-runner-production", "express-production"] {
        let d = run.job(job).step("deploy");
        assert_eq!(d.output("verdict"), "success", "{}", d.logs());
        assert_eq!(d.inputs["image"], image);
    }
    // Production ran after both dev deploys, with the approval's environment claim.
    let pos = |j: &str| run.order.iter().position(|o| o == j).unwrap();
    assert!(pos("app-runner-production") > pos("express-dev"));
    assert!(pos("express-production") > pos("app-runner-dev"));
    let claims = jwt_claims(&w.oidc.minted().last().cloned().unwrap());
    assert_eq!(claims["environment"], "production");
    assert_eq!(app_runner.image(), image);
    assert_eq!(ecs.express_active_images(&express), vec![image.clone()]);
    assert_eq!(app_runner.requests("UpdateService").len(), 2);
    assert_eq!(ecs.requests("UpdateExpressGatewayService").len(), 2);
    w.gh.assert_no_violations();
}

#[tokio::test]
async fn frontend_deploys_one_image_to_app_runner_and_ecs_express_dev_then_production() {
    frontend_push(false).await;
}

#[tokio::test]
async fn frontend_an_unhealthy_express_dev_is_rolled_back_and_blocks_production() {
    frontend_push(true).await;
}

// ---- versioned.yml ----------------------------------------------------------------------------------

#[allow(
    clippy::too_many_arguments,
    reason = "one walk per scenario, every part named"
)]
fn versioned_walk<'a>(
    wf: &'a Workflow,
    backend: Backend,
    w: &'a World,
    ecs: &FakeEcs,
    event: &str,
    git_ref: &str,
    sha: &str,
    payload: Value,
) -> Walk<'a> {
    walk(wf, backend, w, event, git_ref, payload)
        .github("sha", sha)
        .var("TEST_ACCOUNT_ID", ACCOUNT)
        .var("PROD_ACCOUNT_ID", ACCOUNT)
        .var("ECR_REGISTRY", REGISTRY)
        .env("AWS_ENDPOINT_URL_ECS", ecs.url())
}

fn app_version(ecs: &FakeEcs) -> String {
    let td = ecs.task_definition(&ecs.service_task_definition("api"));
    td["containerDefinitions"][0]["environment"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "APP_VERSION")
        .map(|e| e["value"].as_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn versioned_pr_titles_must_be_conventional() {
    let Some(backend) = Backend::select() else {
        return;
    };
    let Some(w) = world().await else { return };
    let ecs = ecs_service("app", "api", vec![]).await;
    let wf = Workflow::load("versioned.yml");
    let good = versioned_walk(
        &wf,
        backend,
        &w,
        &ecs,
        "pull_request",
        "refs/pull/5/merge",
        SHA,
        pr_event(5, "feat(api): page the orders list", &[]),
    )
    .run()
    .await;
    assert_eq!(good.ran(), ["pr-title"]);
    assert!(!good.failed(), "{:#?}", good.jobs);

    let bad = versioned_walk(
        &wf,
        backend,
        &w,
        &ecs,
        "pull_request",
        "refs/pull/6/merge",
        SHA,
        pr_event(6, "Added paging", &[]),
    )
    .run()
    .await;
    assert!(bad.failed());
    let step = &bad.job("pr-title").stevedore()[0].clone();
    assert_eq!(step.code, 1, "{}", step.logs());
    assert_eq!(step.output("verdict"), "failure");
    assert_eq!(ecs.total_calls(), 0);
}

#[tokio::test]
async fn versioned_dev_cuts_a_prerelease_and_deploys_it_to_test() {
    let Some(backend) = Backend::select() else {
        return;
    };
    let Some(w) = world().await else { return };
    let base = w.gh.seed_commits("main", &["feat: a"]);
    w.gh.set_ref("refs/tags/v1.2.0", &base[0]);
    w.gh.set_ref("refs/heads/dev", &base[0]);
    let dev = w.gh.seed_commits("dev", &["feat: paging"]);
    let ecs = ecs_service("app", "api", vec![Behaviour::complete_after_polls(1)]).await;
    let wf = Workflow::load("versioned.yml");
    let run = versioned_walk(
        &wf,
        backend,
        &w,
        &ecs,
        "push",
        "refs/heads/dev",
        &dev[0],
        push_event("refs/heads/dev"),
    )
    .run()
    .await;
    assert_eq!(run.ran(), ["release", "deploy-test"], "{:#?}", run.jobs);
    assert!(!run.failed(), "{:#?}", run.jobs);
    let release = run.job("release");
    assert_eq!(release.outputs["version"], "1.3.0-dev.1", "{:#?}", release);
    assert_eq!(release.outputs["tag"], "v1.3.0-dev.1");
    assert_eq!(app_version(&ecs), "1.3.0-dev.1");
    let rel = w.gh.releases();
    assert_eq!(rel.len(), 1, "{rel:?}");
    assert_eq!(rel[0]["prerelease"], true);
    let envs: Vec<Value> =
        w.gh.deployments()
            .iter()
            .map(|d| d["environment"].clone())
            .collect();
    assert_eq!(envs, [json!("test")]);
    w.gh.assert_no_violations();
}

#[tokio::test]
async fn versioned_main_release_label_overrides_the_bump_and_deploys_production() {
    let Some(backend) = Backend::select() else {
        return;
    };
    let Some(w) = world().await else { return };
    let old = w.gh.seed_commits("main", &["feat: a"]);
    w.gh.set_ref("refs/tags/v1.2.0", &old[0]);
    // A fix alone would make 1.2.1; the merged PR's label asks for a major release.
    let new = w.gh.seed_commits("main", &["fix: squashed (#21)"]);
    w.gh.add_pr(21, "fix: squashed", &new[0], &["release:major"]);
    w.gh.merge_pr(21, &new[0]);
    let ecs = ecs_service("app", "api", vec![Behaviour::complete_after_polls(1)]).await;
    let wf = Workflow::load("versioned.yml");
    let run = versioned_walk(
        &wf,
        backend,
        &w,
        &ecs,
        "push",
        "refs/heads/main",
        &new[0],
        push_event("refs/heads/main"),
    )
    .run()
    .await;
    assert_eq!(
        run.ran(),
        ["release", "deploy-production"],
        "{:#?}",
        run.jobs
    );
    assert!(!run.failed(), "{:#?}", run.jobs);
    let publish = run.job("release").step("publish");
    assert_eq!(publish.output("version"), "2.0.0", "{}", publish.logs());
    has(&publish.summary, "label `release:major` on #21");
    assert_eq!(app_version(&ecs), "2.0.0");
    assert_eq!(w.gh.refs().get("refs/tags/v2.0.0"), Some(&new[0]));
    let claims = jwt_claims(&w.oidc.minted().last().cloned().unwrap());
    assert_eq!(claims["environment"], "production");
    w.gh.assert_no_violations();
}

// ---- serverless.yml ---------------------------------------------------------------------------------

const SARIF_CLEAN: &str =
    r#"{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"ruff"}},"results":[]}]}"#;
const SARIF_WARNING: &str = r#"{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"bandit"}},"results":[{"ruleId":"B105","level":"warning","message":{"text":"Possible hardcoded password"},"locations":[{"physicalLocation":{"artifactLocation":{"uri":"backend/settings.py"},"region":{"startLine":3}}}]}]}]}"#;

fn serverless_walk<'a>(
    wf: &'a Workflow,
    backend: Backend,
    w: &'a World,
    event: &str,
    bucket: &str,
    api_url: &str,
    payload: Value,
) -> Walk<'a> {
    let git_ref = if event == "pull_request" {
        "refs/pull/8/merge"
    } else {
        "refs/heads/main"
    };
    walk(wf, backend, w, event, git_ref, payload)
        .var("ARTIFACTS_ACCOUNT_ID", ACCOUNT)
        .var("DEV_ACCOUNT_ID", ACCOUNT)
        .var("PROD_ACCOUNT_ID", ACCOUNT)
        .var("ARTIFACTS_BUCKET", bucket)
        .var("DEV_API_URL", api_url)
        .var("PROD_API_URL", api_url)
}

#[tokio::test]
async fn serverless_pr_validation_posts_one_summary_comment() {
    let Some(backend) = Backend::select() else {
        return;
    };
    let Some(w) = world().await else { return };
    let wf = Workflow::load("serverless.yml");
    let cov = cobertura(0.86);
    let run = serverless_walk(
        &wf,
        backend,
        &w,
        "pull_request",
        "unused",
        "http://127.0.0.1:9",
        pr_event(8, "feat(worker): retry failed sends", &[]),
    )
    .play(
        "validate",
        "test",
        "success",
        &[("junit.xml", JUNIT_PASS), ("coverage.xml", &cov)],
    )
    .play(
        "validate",
        "lint",
        "success",
        &[("ruff.sarif", SARIF_CLEAN)],
    )
    .play(
        "validate",
        "types",
        "success",
        &[("mypy.txt", "Success: no issues found in 12 source files\n")],
    )
    .play(
        "validate",
        "security",
        "success",
        &[("bandit.sarif", SARIF_WARNING)],
    )
    .run()
    .await;
    assert_eq!(run.ran(), ["validate"], "{:#?}", run.jobs);
    let gate = run.job("validate").stevedore()[0].clone();
    assert_eq!(gate.code, 0, "{}", gate.logs());
    assert_eq!(gate.output("tests-tests-passed"), "2");
    let comments = w.gh.comments(8);
    assert_eq!(comments.len(), 1, "{comments:?}");
    has(&comments[0].body, "<!-- stevedore:lint-gate");
    has(&comments[0].body, "Tests");
    w.gh.assert_no_violations();
}

/// A function with version 1 behind alias `live`, in moto (eu-west-1).
async fn lambda_function(endpoint: &str, name: &str) {
    let code = crate::helpers::moto::LambdaCode::Python("def handler(e, c):\n    return 1\n");
    crate::helpers::moto::lambda_function(&sdk_eu(endpoint), endpoint, name, code, Some("live"))
        .await;
}

#[tokio::test]
async fn serverless_main_builds_bundles_and_deploys_both_lambdas_blue_green() {
    let Some(backend) = Backend::select() else {
        return;
    };
    let Some(w) = world().await else { return };
    let endpoint = w.moto.endpoint.clone();
    let bucket = crate::helpers::moto::unique("artifacts");
    let s3 = aws_sdk_s3::Client::new(&sdk_eu(&endpoint));
    crate::helpers::moto::s3_bucket(&sdk_eu(&endpoint), &bucket, false).await;
    lambda_function(&endpoint, "backend-dev").await;
    lambda_function(&endpoint, "worker-dev").await;
    let health = crate::lambda::health_server(200).await;
    let api = health.url.trim_end_matches("/health").to_owned();
    let wf = Workflow::load("serverless.yml");
    let run = serverless_walk(
        &wf,
        backend,
        &w,
        "push",
        &bucket,
        &api,
        push_event("refs/heads/main"),
    )
    .play(
        "build",
        "package",
        "success",
        &[
            (
                "dist/backend/app.py",
                "def handler(e, c):\n    return {'statusCode': 200}\n",
            ),
            (
                "dist/worker/app.py",
                "def handler(e, c):\n    return {'sent': 0}\n",
            ),
        ],
    )
    .awaiting_approval("deploy-production")
    .run()
    .await;
    assert_eq!(run.ran(), ["build", "deploy-dev"], "{:#?}", run.jobs);
    assert_eq!(run.job("deploy-production").result, "waiting");
    assert!(!run.failed(), "{:#?}", run.jobs);
    let build = run.job("build");
    assert_eq!(build.result, "success", "{build:#?}");
    let backend_key = build.outputs["backend-key"].clone();
    assert!(backend_key.starts_with("backend/"), "{backend_key}");
    // metadata.json beside each bundle, naming the commit and the hash of the zip.
    for (step, service) in [("backend", "backend"), ("worker", "worker")] {
        let s = build.step(step);
        let key = s.output("s3-key");
        let meta_key = key.replace("lambda.zip", "metadata.json");
        let meta = s3
            .get_object()
            .bucket(&bucket)
            .key(&meta_key)
            .send()
            .await
            .unwrap();
        let meta: Value =
            serde_json::from_slice(&meta.body.collect().await.unwrap().into_bytes()).unwrap();
        assert_eq!(meta["service"], service);
        assert_eq!(meta["commit"], SHA);
        assert_eq!(meta["sha256"], s.output("sha256"));
    }
    let dev = run.job("deploy-dev");
    assert_eq!(dev.result, "success", "{dev:#?}");
    for (step, function) in [("backend", "backend-dev"), ("worker", "worker-dev")] {
        let s = dev.step(step);
        assert_eq!(s.output("verdict"), "success", "{}", s.logs());
        assert_eq!(s.output("previous-version"), "1");
        assert_eq!(s.output("version"), "2");
        assert_eq!(s.inputs["s3-bucket"], bucket);
        let lambda = aws_sdk_lambda::Client::new(&sdk_eu(&endpoint));
        let live = crate::helpers::moto::alias_version(&lambda, function, "live").await;
        assert_eq!(live.as_deref(), Some("2"));
    }
    assert!(
        health.hits.load(std::sync::atomic::Ordering::SeqCst) > 0,
        "the health URL was watched during the bake"
    );
}

// ---- the examples themselves --------------------------------------------------------------------------

/// The PR-title failure says the check runs again on the `edited` event: every example whose lint gate
/// checks the title (the default) on pull requests triggers on `edited`, or turns the check off (issue 30).
#[test]
fn examples_that_check_pr_titles_run_again_on_edited() {
    use serde_yaml_ng::Value as Y;
    let dir = crate::helpers::runner::repo_root().join("examples");
    let mut checked = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        if !file.ends_with(".yml") {
            continue;
        }
        let wf = Workflow::load(&file);
        // `on:` is read by YAML 1.1 loaders as `true`; serde_yaml_ng keeps the string.
        let on = &wf.doc["on"];
        let Some(pr) = on.get("pull_request") else {
            continue;
        };
        let types: Vec<&str> = pr
            .get("types")
            .and_then(Y::as_sequence)
            .map(|t| t.iter().filter_map(Y::as_str).collect())
            // GitHub's default activity types.
            .unwrap_or_else(|| vec!["opened", "synchronize", "reopened"]);
        for (id, job) in wf.jobs() {
            for step in job["steps"].as_sequence().into_iter().flatten() {
                let with = &step["with"];
                if !step["uses"]
                    .as_str()
                    .is_some_and(|u| u.contains("stevedore"))
                    || with["mode"].as_str() != Some("lint-gate")
                {
                    continue;
                }
                if with["pr-title"].as_str() == Some("off") {
                    continue;
                }
                checked += 1;
                assert!(
                    types.contains(&"edited"),
                    "{file}/{}: the lint gate checks the PR title, but `pull_request` does not trigger on `edited` ({types:?})",
                    id.as_str().unwrap()
                );
            }
        }
    }
    assert!(checked >= 2, "standards.yml and versioned.yml check titles");
}

/// Every example: stevedore pinned as `ORG/stevedore@v1`, only inputs action.yml declares, nothing granted
/// at the top, and each job's `permissions:` exactly what its stevedore steps need (docs/pipelines.md).
#[test]
fn the_examples_use_declared_inputs_and_minimal_permissions() {
    use serde_yaml_ng::Value as Y;
    let action: Y = serde_yaml_ng::from_str(
        &std::fs::read_to_string(crate::helpers::runner::repo_root().join("action.yml")).unwrap(),
    )
    .unwrap();
    let declared: Vec<&str> = action["inputs"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap())
        .collect();
    for file in [
        "standards.yml",
        "versioned.yml",
        "serverless.yml",
        "container.yml",
        "frontend.yml",
        "typescript-package.yml",
        "python-package.yml",
        "preview.yml",
    ] {
        let wf = Workflow::load(file);
        assert_eq!(
            wf.doc["permissions"],
            Y::Mapping(Default::default()),
            "{file}: start from `permissions: {{}}`"
        );
        for (id, job) in wf.jobs() {
            let id = id.as_str().unwrap();
            let mut need = std::collections::BTreeSet::new();
            for step in job["steps"].as_sequence().unwrap() {
                let Some(uses) = step.get("uses").and_then(Y::as_str) else {
                    continue;
                };
                if !uses.contains("stevedore") {
                    continue;
                }
                assert_eq!(uses, "ORG/stevedore@v1", "{file}/{id}");
                let with = step["with"].as_mapping().unwrap();
                for k in with.keys() {
                    let k = k.as_str().unwrap();
                    assert!(
                        declared.contains(&k),
                        "{file}/{id}: input `{k}` is not in action.yml"
                    );
                }
                let mode = with["mode"].as_str().unwrap();
                assert!(
                    ["lint-gate", "build", "deploy", "publish", "credentials"].contains(&mode),
                    "{file}/{id}: mode {mode}"
                );
                let set = |k: &str| with.contains_key(k);
                // What the code says the step needs (modes::permissions, the table of docs/reporting.md).
                // The examples' lint gates run on PRs; their builds, deploys and releases on pushes.
                need.extend(stevedore::modes::permissions::needed(
                    &stevedore::modes::permissions::Step {
                        mode,
                        pull_request: mode == "lint-gate"
                            && with.get("comment").and_then(Y::as_bool) != Some(false),
                        preview: with.get("preview").and_then(Y::as_bool) == Some(true),
                        rollback: set("rollback-to"),
                        promote_image: set("promote-image"),
                        trusted_publishing: set("packages")
                            && !set("npm-token")
                            && !set("pypi-token"),
                    },
                ));
            }
            let have: std::collections::BTreeSet<String> = job["permissions"]
                .as_mapping()
                .unwrap_or_else(|| panic!("{file}/{id}: no `permissions:`"))
                .iter()
                .map(|(k, v)| format!("{}: {}", k.as_str().unwrap(), v.as_str().unwrap()))
                .collect();
            for n in &need {
                assert!(have.contains(*n), "{file}/{id}: needs `{n}`, has {have:?}");
            }
            for h in &have {
                // `contents: read` for the checkout is always fine; anything else must be needed.
                assert!(
                    need.contains(h.as_str()) || h == "contents: read",
                    "{file}/{id}: `{h}` is not needed by its steps"
                );
            }
        }
    }
}
