//! The action under the real nektos/act (issue 13): throwaway git repositories whose workflows use the
//! repository's unmodified `action.yml` + `Dockerfile` + `dist/` (as `uses: ./stevedore` and as
//! `uses: ORG/stevedore@v1` through `--local-repository`), run by the `act` binary on a podman engine that
//! can only start containers on `host`/`none` networks (helpers/act.rs). Results are read from act's own
//! output: `Job succeeded`/`Job failed`, `::error` annotations, lines printed by later `run:` steps (step
//! outputs) and by later jobs (`needs` outputs), and the job summary.
//!
//! Both act modes run: steps on the host (`-P ubuntu-latest=-self-hosted`) and a job container from the
//! locally built Debian image (`-P ubuntu-latest=localhost/stevedore-act-job:bookworm`). Without act or
//! podman the tests say why they skip; with `CI=true` they fail instead.

use crate::helpers::act::{
    GithubAt, Mode, Outcome, Repo, Run, act, assert_github_clean, blocking, github,
};
use crate::helpers::ok_output;

/// A workflow name unique to this test: act names its containers after workflow and job, so parallel
/// runs of equally named workflows would remove each other's containers.
fn unique(prefix: &str, mode: Mode) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}-{}",
        match mode {
            Mode::Host => "host",
            Mode::Container => "ctr",
        },
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

const JUNIT_PASS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites><testsuite name="unit" tests="2" failures="0">
<testcase classname="tests.test_app" name="test_add" file="tests/test_app.py" line="3"/>
<testcase classname="tests.test_app" name="test_sub" file="tests/test_app.py" line="6"/>
</testsuite></testsuites>
"#;

const JUNIT_FAIL: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites><testsuite name="unit" tests="2" failures="1">
<testcase classname="tests.test_app" name="test_add" file="tests/test_app.py" line="3"/>
<testcase classname="tests.test_app" name="test_sub" file="tests/test_app.py" line="6"><failure message="assert 1 == 2">tests/test_app.py:7: AssertionError</failure></testcase>
</testsuite></testsuites>
"#;

/// The lint-gate workflow of the issue's "Done when": a check step (continue-on-error) writes a JUnit
/// file and passes or fails; the gate judges it twice (`./stevedore` and `ORG/stevedore@v1`); a later
/// step prints the gate's `verdict` output; a later job prints both through `needs`.
fn gate_workflow(name: &str) -> String {
    format!(
        r#"name: {name}
on: push
jobs:
  gate:
    runs-on: ubuntu-latest
    outputs:
      verdict: ${{{{ steps.gate.outputs.verdict }}}}
    steps:
      - uses: actions/checkout@v5
      - id: tests
        continue-on-error: true
        run: |
          cp "fixtures/$(cat expected).xml" junit.xml
          test "$(cat expected)" = pass
      - id: gate
        uses: ./stevedore
        with:
          mode: lint-gate
          pr-title: "off"
          checks: |
            - name: Tests
              outcome: ${{{{ steps.tests.outcome }}}}
              results: junit.xml
      - if: always()
        run: echo "verdict=${{{{ steps.gate.outputs.verdict }}}}"
  pinned:
    runs-on: ubuntu-latest
    outputs:
      verdict: ${{{{ steps.gate.outputs.verdict }}}}
    steps:
      - uses: actions/checkout@v5
      - id: tests
        continue-on-error: true
        run: |
          cp "fixtures/$(cat expected).xml" junit.xml
          test "$(cat expected)" = pass
      - id: gate
        uses: ORG/stevedore@v1
        with:
          mode: lint-gate
          pr-title: "off"
          checks: |
            - name: Tests
              outcome: ${{{{ steps.tests.outcome }}}}
              results: junit.xml
      - if: always()
        run: echo "verdict=${{{{ steps.gate.outputs.verdict }}}}"
  report:
    needs: [gate, pinned]
    if: always()
    runs-on: ubuntu-latest
    steps:
      - run: echo "needs gate=${{{{ needs.gate.outputs.verdict }}}} pinned=${{{{ needs.pinned.outputs.verdict }}}}"
"#
    )
}

fn lint_gate_run(mode: Mode, pass: bool) -> Option<Outcome> {
    let act = act()?;
    if !act.supports(mode) {
        return None;
    }
    let name = unique("gate", mode);
    let repo = Repo::new()
        .file(".github/workflows/gate.yml", &gate_workflow(&name))
        .file("fixtures/pass.xml", JUNIT_PASS)
        .file("fixtures/fail.xml", JUNIT_FAIL)
        .file(
            "tests/test_app.py",
            "def test_add():\n    assert 1 + 1 == 2\n\n\ndef test_sub():\n    assert 2 - 1 == 2\n",
        )
        .file("expected", if pass { "pass\n" } else { "fail\n" });
    repo.commit("feat: first");
    Some(Run::new(act, &repo, mode, ".github/workflows/gate.yml").run())
}

fn passing_checks_go_green(mode: Mode) {
    let Some(r) = lint_gate_run(mode, true) else {
        return;
    };
    for job in ["gate", "pinned"] {
        r.check(r.job_succeeded(job), &format!("job {job} should succeed"));
        r.check(
            r.printed_line(job, "verdict=success"),
            &format!("a later step of {job} should print verdict=success"),
        );
        r.check(r.errors(job).is_empty(), "no ::error on a green gate");
    }
    r.check(
        r.printed_line("report", "needs gate=success pinned=success"),
        "the later job should see both verdicts through needs",
    );
    r.check(
        r.log.contains("stevedore lint-gate: All 1 check(s) passed"),
        "the job summary (act prints it as `Summary - ...`)",
    );
    r.check(r.code == Some(0), "act exits 0");
}

fn failing_checks_go_red(mode: Mode) {
    let Some(r) = lint_gate_run(mode, false) else {
        return;
    };
    for job in ["gate", "pinned"] {
        r.check(r.job_failed(job), &format!("job {job} should fail"));
        r.check(
            r.printed_line(job, "verdict=failure"),
            &format!("a later step of {job} should print verdict=failure"),
        );
        let errors = r.errors(job);
        r.check(
            errors
                .iter()
                .any(|e| e.contains("file=tests/test_app.py") && e.contains("test_sub")),
            &format!("{job}: the failing test is annotated at its file: {errors:?}"),
        );
    }
    r.check(
        r.printed_line("report", "needs gate=failure pinned=failure"),
        "the later job should see both verdicts through needs",
    );
    r.check(r.code != Some(0), "act exits non-zero");
}

#[test]
fn act_host_mode_passing_checks_go_green_with_verdict_success() {
    passing_checks_go_green(Mode::Host);
}

#[test]
fn act_host_mode_failing_checks_go_red_with_verdict_failure() {
    failing_checks_go_red(Mode::Host);
}

#[test]
fn act_container_mode_passing_checks_go_green_with_verdict_success() {
    passing_checks_go_green(Mode::Container);
}

#[test]
fn act_container_mode_failing_checks_go_red_with_verdict_failure() {
    failing_checks_go_red(Mode::Container);
}

// ---- stevedore's own workflows (.github/workflows) ----

/// The `owner/repo@sha` release.yml uses for the action starting with `prefix`.
fn release_yml_uses(prefix: &str) -> String {
    let text = std::fs::read_to_string(
        crate::helpers::runner::repo_root().join(".github/workflows/release.yml"),
    )
    .unwrap();
    let at = text
        .find(&format!("uses: {prefix}"))
        .unwrap_or_else(|| panic!("release.yml uses no {prefix}"));
    text[at + "uses: ".len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

/// A throwaway copy of stevedore itself as the release workflow sees it: the action at the root
/// (`uses: ./`), `.github/workflows/release.yml` unmodified, and two commits since `v1.0.0`; the fake
/// GitHub holds the same commits (same ids) and tags.
fn release_repo(gh: &crate::helpers::fake_github::FakeGithub) -> (Repo, String) {
    let root = crate::helpers::runner::repo_root();
    let repo = Repo::new().file(
        ".github/workflows/release.yml",
        &std::fs::read_to_string(root.join(".github/workflows/release.yml")).unwrap(),
    );
    crate::helpers::act::copy_action(repo.path());
    // The provenance job's attestation action, pinned by SHA in release.yml: a stand-in that fails if run.
    let attest = release_yml_uses("actions/attest-build-provenance@");
    let repo = repo.local_action(
        &attest,
        root.join("tests/fixtures/act/attest-build-provenance"),
    );
    let first = repo.commit("chore: init");
    repo.git(&["tag", "v1.0.0"]);
    let second = repo.commit("feat(publish): floating major tags (#4)");
    let head = repo.commit("fix: a typo in the summary (#5)");
    gh.seed_commit(&first, "chore: init", &[]);
    gh.seed_commit(
        &second,
        "feat(publish): floating major tags (#4)",
        &[&first],
    );
    gh.seed_commit(&head, "fix: a typo in the summary (#5)", &[&second]);
    gh.set_ref("refs/tags/v1.0.0", &first);
    gh.set_ref("refs/tags/v1", &first);
    gh.set_ref("refs/heads/main", &head);
    (repo, head)
}

async fn release_run(mode: Mode, dispatch_dry_run: bool) {
    let Some(act) = act() else {
        return;
    };
    if !act.supports(mode) {
        return;
    }
    let gh = github().await;
    let (repo, head) = release_repo(&gh);
    let at = GithubAt::of(&gh);
    let r = blocking(move || {
        let mut run = Run::new(act, &repo, mode, ".github/workflows/release.yml")
            .github_at(&at)
            .secret("GITHUB_TOKEN", "ghs_actreleasetoken0123456789");
        if dispatch_dry_run {
            run = run
                .event(
                    "workflow_dispatch",
                    serde_json::json!({"inputs": {"dry-run": "true"}}),
                )
                .arg("--input")
                .arg("dry-run=true");
        } else {
            run = run.event("push", serde_json::json!({"ref": "refs/heads/main"}));
        }
        run.run()
    })
    .await;
    r.check(r.job_succeeded("release"), "the release job succeeds");
    r.check(r.code == Some(0), "act exits 0");
    // The provenance job (SBOMs, attestation) follows a release only; its GitHub-only steps are skipped
    // under act, the job itself must plan and run.
    r.check(
        r.job_succeeded("provenance") != dispatch_dry_run,
        "the provenance job runs after a release and not after a dry run",
    );
    let refs = gh.refs();
    if dispatch_dry_run {
        r.check(
            !refs.contains_key("refs/tags/v1.1.0") && gh.releases().is_empty(),
            "a dry run tags and releases nothing",
        );
        r.check(
            gh.mode_requests().iter().all(|q| q.method == "GET"),
            "only reads",
        );
        r.check(r.log.contains("v1.1.0"), "the plan names the next version");
    } else {
        r.check(
            refs.get("refs/tags/v1.1.0") == Some(&head),
            &format!("v1.1.0 tags the head commit: {refs:?}"),
        );
        r.check(
            refs.get("refs/tags/v1") == Some(&head),
            &format!("the floating v1 moved to the release: {refs:?}"),
        );
        let releases = gh.releases();
        r.check(
            releases.len() == 1 && releases[0]["tag_name"] == "v1.1.0",
            &format!("one release v1.1.0: {releases:?}"),
        );
        r.check(
            r.log.contains("::set-output:: version=1.1.0"),
            "the version output",
        );
    }
    assert_github_clean(&gh);
}

/// One test, two runs in turn: the workflow is unmodified, so both runs have act's container names.
/// A push to main in host mode releases v1.1.0 and moves `v1`; `workflow_dispatch` with `dry-run` in a job
/// container only reads.
#[tokio::test]
async fn act_release_workflow_releases_and_moves_v1_and_its_dry_run_writes_nothing() {
    release_run(Mode::Host, false).await;
    release_run(Mode::Container, true).await;
}

/// The CI workflow under act's planner (`-n`, dry run): the job and its steps resolve with the pinned
/// checkout; running it for real would run this whole suite inside itself.
#[test]
fn act_ci_workflow_plans_under_act() {
    let Some(act) = act() else {
        return;
    };
    let root = crate::helpers::runner::repo_root();
    let repo = Repo::new().file(
        ".github/workflows/ci.yml",
        &std::fs::read_to_string(root.join(".github/workflows/ci.yml")).unwrap(),
    );
    repo.commit("ci: the workflow");
    // Container mode: act's host executor would run the steps even with `-n`.
    if !act.supports(Mode::Container) {
        return;
    }
    let r = Run::new(act, &repo, Mode::Container, ".github/workflows/ci.yml")
        .event("pull_request", serde_json::json!({"pull_request": {"number": 1, "head": {"ref": "x"}, "base": {"ref": "main"}}}))
        .arg("-n")
        .run();
    r.check(r.code == Some(0), "act -n accepts the CI workflow");
    r.check(r.job_succeeded("ci"), "the ci job plans to the end");
    r.check(
        r.log.contains("Success - Main .ci/run"),
        "the step that runs .ci/run is planned",
    );
    r.check(
        r.printed("ci").is_empty(),
        "nothing was executed (a dry run prints no step output)",
    );
}

// ---- examples/ ----

/// A throwaway repository with `examples/<name>.yml` copied unmodified to `.github/workflows/`.
pub(crate) fn example_repo(name: &str) -> Repo {
    let root = crate::helpers::runner::repo_root();
    Repo::new().file(
        &format!(".github/workflows/{name}.yml"),
        &std::fs::read_to_string(root.join(format!("examples/{name}.yml"))).unwrap(),
    )
}

fn pr_payload(number: u64, title: &str, head: &str) -> serde_json::Value {
    serde_json::json!({
        "action": "opened",
        "number": number,
        "pull_request": {
            "number": number,
            "title": title,
            "labels": [],
            "head": {"ref": "feature", "sha": head, "repo": {"full_name": crate::helpers::act::REPOSITORY, "fork": false}},
            "base": {"ref": "main", "sha": head, "repo": {"full_name": crate::helpers::act::REPOSITORY, "fork": false}},
        },
        "repository": {"full_name": crate::helpers::act::REPOSITORY},
    })
}

/// versioned.yml, pull requests: a Conventional-Commit title passes the `pr-title` job, another fails it
/// (red job, the summary saying why, a failed `PR title` check run on the fake GitHub).
async fn versioned_pr_titles(mode: Mode) {
    let Some(act) = act() else {
        return;
    };
    if !act.supports(mode) {
        return;
    }
    let gh = github().await;
    for (title, good) in [
        ("feat(api): paginate the orders endpoint", true),
        ("Update stuff", false),
    ] {
        let repo = example_repo("versioned");
        let head = repo.commit("feat: work");
        gh.add_pr(7, title, &head, &[]);
        let at = GithubAt::of(&gh);
        let payload = pr_payload(7, title, &head);
        let r = blocking(move || {
            Run::new(act, &repo, mode, ".github/workflows/versioned.yml")
                .event("pull_request", payload)
                .github_at(&at)
                .secret("GITHUB_TOKEN", "ghs_actversionedtoken0123456789")
                .run()
        })
        .await;
        r.check(!r.job_ran("release"), "no release on a pull request");
        if good {
            r.check(r.job_succeeded("pr-title"), "a conventional title passes");
            r.check(r.code == Some(0), "act exits 0");
        } else {
            r.check(r.job_failed("pr-title"), "a free-form title fails the job");
            r.check(
                r.log
                    .contains("The title `Update stuff` is not a Conventional Commit header"),
                "the job summary quotes the title and says why",
            );
            let runs = gh.check_runs();
            r.check(
                runs.iter().any(|c| {
                    c.name.contains("PR title") && c.conclusion.as_deref() == Some("failure")
                }),
                &format!(
                    "a failed `PR title` check run on the fake GitHub: {:?}",
                    runs.iter()
                        .map(|c| (&c.name, &c.conclusion))
                        .collect::<Vec<_>>()
                ),
            );
            r.check(r.code != Some(0), "act exits non-zero");
        }
    }
    assert_github_clean(&gh);
}

/// One test for both modes: the workflow is unmodified, so its container names (after workflow and job)
/// are the same in both, and parallel runs would remove each other's containers.
#[tokio::test]
async fn act_versioned_pr_titles_in_both_modes() {
    for mode in Mode::BOTH {
        versioned_pr_titles(mode).await;
    }
}

/// versioned.yml, a push to main: `release` cuts v1.1.0 against the fake GitHub and hands `released`
/// and `version` to `deploy-production` through `needs`; under act that deploy is refused before any AWS
/// call, because production requires the OIDC `environment` claim act cannot provide (docs/act.md).
#[tokio::test]
async fn act_versioned_main_releases_and_production_is_refused_without_the_claim() {
    let Some(act) = act() else {
        return;
    };
    let gh = github().await;
    let repo = example_repo("versioned");
    let first = repo.commit("chore: init");
    repo.git(&["tag", "v1.0.0"]);
    let head = repo.commit("feat(api): orders endpoint (#3)");
    gh.seed_commit(&first, "chore: init", &[]);
    gh.seed_commit(&head, "feat(api): orders endpoint (#3)", &[&first]);
    gh.set_ref("refs/tags/v1.0.0", &first);
    gh.set_ref("refs/heads/main", &head);
    let at = GithubAt::of(&gh);
    let r = blocking(move || {
        Run::new(act, &repo, Mode::Host, ".github/workflows/versioned.yml")
            .event("push", serde_json::json!({"ref": "refs/heads/main"}))
            .github_at(&at)
            .secret("GITHUB_TOKEN", "ghs_actversionedtoken0123456789")
            .var("TEST_ACCOUNT_ID", "111111111111")
            .var("PROD_ACCOUNT_ID", "222222222222")
            .var(
                "ECR_REGISTRY",
                "222222222222.dkr.ecr.eu-west-1.amazonaws.com",
            )
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_ENDPOINT_URL", crate::helpers::runner::CLOSED_URL)
            .run()
    })
    .await;
    r.check(r.job_succeeded("release"), "release succeeds");
    r.check(
        gh.refs().get("refs/tags/v1.1.0") == Some(&head),
        "v1.1.0 is tagged on the pushed commit",
    );
    r.check(!r.job_ran("deploy-test"), "deploy-test is for dev only");
    r.check(r.job_failed("deploy-production"), "production is refused");
    let errors = r.errors("deploy-production");
    r.check(
        errors
            .iter()
            .any(|e| e.contains("environment") && e.contains("claim")),
        &format!("the refusal names the environment claim: {errors:?}"),
    );
    r.check(r.code != Some(0), "act exits non-zero");
    assert_github_clean(&gh);
}

/// The guard under every act run: act's engine starts containers on the host network, and refuses any
/// container on a bridge network (podman's default), so no act run can reach a private range.
#[test]
fn act_engine_refuses_bridge_networks() {
    let Some(act) = act() else {
        return;
    };
    let Some(image) = act.job_image.as_deref() else {
        let _ = act.supports(Mode::Container);
        return;
    };
    let podman = |extra: &[&str]| {
        std::process::Command::new("podman")
            .args(["--url", &act.docker_host, "run", "--rm"])
            .args(extra)
            .args([image, "true"])
            .output()
            .unwrap()
    };
    let host = podman(&["--network", "host"]);
    assert!(
        host.status.success(),
        "host network: {}",
        String::from_utf8_lossy(&host.stderr)
    );
    let bridge = podman(&[]);
    assert!(
        !bridge.status.success(),
        "a container on the default bridge started on act's engine"
    );
}

/// examples/serverless.yml on a push to main, in host mode, against a moto of its own (the example's
/// function names are fixed): `pip install -t` packages both Lambdas into the workspace; `build` uploads
/// reproducible bundles with `metadata.json` to moto's S3 through the standard credential chain (act has no
/// OIDC) and hands bucket and keys to `deploy-dev` through `needs`; `deploy-dev` shifts the `live` alias of
/// `backend-dev` (linear, watching `DEV_API_URL/health` on a loopback server) and of `worker-dev` (after
/// invoking it with the smoke payload; moto invokes without Docker) to version 2; `deploy-production` is
/// refused before any AWS call, because production requires the OIDC `environment` claim. Failure path:
/// a bucket that does not exist fails `build` (`-j build`) with an `::error` naming it.
#[tokio::test]
async fn act_serverless_builds_deploys_dev_refuses_production_and_a_missing_bucket_fails() {
    let Some(act) = act() else {
        return;
    };
    let Some(moto) = crate::helpers::moto::own() else {
        return;
    };
    let endpoint = moto.endpoint.clone();
    let bucket = crate::helpers::moto::unique("act-artifacts");
    let conf = crate::helpers::moto::sdk(&endpoint, "eu-west-1");
    crate::helpers::moto::s3_bucket(&conf, &bucket, false).await;
    let s3 = aws_sdk_s3::Client::new(&conf);
    let lambda = aws_sdk_lambda::Client::new(&conf);
    for name in ["backend-dev", "worker-dev"] {
        let code = crate::helpers::moto::LambdaCode::Python("def handler(e, c):\n    return 1\n");
        crate::helpers::moto::lambda_function(&conf, &endpoint, name, code, Some("live")).await;
    }
    let health = crate::lambda::health_server(200).await;
    let api = health.url.trim_end_matches("/health").to_owned();
    for (target, good) in [(bucket.clone(), true), (format!("{bucket}-missing"), false)] {
        let repo = example_repo("serverless")
            .file("backend/requirements.txt", "# no dependencies\n")
            .file(
                "backend/src/app.py",
                "def handler(event, context):\n    return {\"statusCode\": 200}\n",
            )
            .file("worker/requirements.txt", "# no dependencies\n")
            .file(
                "worker/src/app.py",
                "def handler(event, context):\n    return {\"sent\": 0}\n",
            );
        repo.commit("feat: lambdas");
        let endpoint = endpoint.clone();
        let bucket_var = target.clone();
        let api = api.clone();
        let r = blocking(move || {
            let mut run = Run::new(act, &repo, Mode::Host, ".github/workflows/serverless.yml")
                .event("push", serde_json::json!({"ref": "refs/heads/main"}))
                .var("ARTIFACTS_ACCOUNT_ID", "123456789012")
                .var("DEV_ACCOUNT_ID", "123456789012")
                .var("PROD_ACCOUNT_ID", "123456789012")
                .var("ARTIFACTS_BUCKET", &bucket_var)
                .var("DEV_API_URL", &api)
                .var("PROD_API_URL", &api);
            if !good {
                run = run.job("build");
            }
            with_aws(run, &endpoint).run()
        })
        .await;
        if good {
            r.check(r.job_succeeded("build"), "the build job succeeds");
            let listed = s3.list_objects_v2().bucket(&bucket).send().await.unwrap();
            let keys: Vec<String> = listed
                .contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned))
                .collect();
            for service in ["backend", "worker"] {
                r.check(
                    keys.iter()
                        .any(|k| k.contains(service) && k.ends_with(".zip"))
                        && keys
                            .iter()
                            .any(|k| k.contains(service) && k.ends_with("metadata.json")),
                    &format!("{service}: a bundle and its metadata.json in S3: {keys:?}"),
                );
            }
            r.check(
                r.log.contains("::set-output:: s3-bucket="),
                "the bucket is a step output",
            );
            r.check(r.job_succeeded("deploy-dev"), "deploy-dev succeeds");
            r.check(
                r.errors("deploy-dev").is_empty(),
                "no ::error in deploy-dev",
            );
            for function in ["backend-dev", "worker-dev"] {
                let alias = lambda
                    .get_alias()
                    .function_name(function)
                    .name("live")
                    .send()
                    .await
                    .unwrap();
                r.check(
                    alias.function_version() == Some("2"),
                    &format!("{function}: `live` moved to version 2 (the bundle through needs): {alias:?}"),
                );
            }
            r.check(
                health.hits.load(std::sync::atomic::Ordering::SeqCst) > 0,
                "the health URL was watched during the bake",
            );
            r.check(
                r.job_failed("deploy-production"),
                "production is refused under act",
            );
            let errors = r.errors("deploy-production");
            r.check(
                errors
                    .iter()
                    .any(|e| e.contains("environment") && e.contains("claim")),
                &format!("the refusal names the environment claim: {errors:?}"),
            );
            r.check(r.code != Some(0), "act exits non-zero");
        } else {
            r.check(r.job_failed("build"), "a missing bucket fails the job");
            let errors = r.errors("build");
            r.check(
                errors.iter().any(|e| e.contains(&target)),
                &format!("the error names the bucket: {errors:?}"),
            );
        }
    }
}

// ---- examples/standards.yml ----

const ACCOUNT: &str = "123456789012";
use crate::helpers::deploy::{ECR_REGISTRY, ecs_service};

/// Test AWS credentials for the standard credential chain act falls back to (no OIDC under act).
fn with_aws<'a>(run: Run<'a>, moto: &str) -> Run<'a> {
    run.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_ENDPOINT_URL", moto)
}

/// `tests/fixtures/act/<dir>` copied into the repository (`gitignore` becomes `.gitignore`).
fn with_fixture(repo: Repo, dir: &str) -> Repo {
    let root = crate::helpers::runner::repo_root()
        .join("tests/fixtures/act")
        .join(dir);
    let mut repo = repo;
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let rel = p
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if rel == "README.md" {
                continue;
            }
            let rel = if rel == "gitignore" {
                ".gitignore".to_owned()
            } else {
                rel
            };
            repo = repo.file(&rel, &std::fs::read_to_string(&p).unwrap());
        }
    }
    repo
}

/// examples/standards.yml on a push to `main`, in host mode (the `run:` steps need node and npm, which the
/// job image does not have): `actions/setup-node@v4` is a local stand-in using the node on PATH
/// (`tests/fixtures/act/setup-node`), and the gate's checks are the real eslint, tsc, vitest (JUnit and
/// Cobertura coverage), `npm run build` and `npm run generate` over the TypeScript project in
/// `tests/fixtures/act/node-app`, installed by `npm ci` from the npm registry.
///
/// Green: the gate passes its five checks and "generated files up to date"; `deploy-dev` and `deploy-staging` roll the commit's image out
/// on the scripted ECS endpoint with the credential chain (moto's STS) and record GitHub Deployments on the
/// fake GitHub; `deploy-production` is refused before any AWS call, because production requires the OIDC
/// `environment` claim act cannot provide — so act exits non-zero.
/// Red: a failing test and a stale generated file fail the gate with annotations at both files; no deploy
/// job runs.
async fn standards_push(pass: bool) {
    use crate::helpers::fake_ecs::Behaviour;
    let Some(act) = act() else {
        return;
    };
    let Some(moto) = crate::helpers::moto::moto() else {
        return;
    };
    let npm_ok = std::process::Command::new("npm")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if crate::helpers::require(
        "node and npm (the standards gate runs eslint, tsc and vitest)",
        npm_ok.then_some(()),
    )
    .is_none()
    {
        return;
    }
    let gh = github().await;
    let ecs = ecs_service("app", "api", vec![Behaviour::complete_after_polls(1); 2]).await;
    let stand_in = crate::helpers::runner::repo_root().join("tests/fixtures/act/setup-node");
    let mut repo = with_fixture(example_repo("standards"), "node-app")
        .local_action("actions/setup-node@v4", stand_in);
    if !pass {
        repo = repo.file(
            "src/app.test.ts",
            "import { describe, expect, it } from \"vitest\";\nimport { add, routeCount } from \"./app\";\n\ndescribe(\"app\", () => {\n  it(\"adds\", () => {\n    expect(add(1, 1)).toBe(3);\n  });\n  it(\"counts routes\", () => {\n    expect(routeCount()).toBe(2);\n  });\n});\n",
        );
    }
    let head = repo.commit("feat(api): orders endpoint");
    if !pass {
        // routes.json changed without regenerating: `npm run generate` leaves src/routes.generated.ts modified.
        repo = repo.file("routes.json", "[\"/orders\",\"/health\",\"/refunds\"]\n");
    }
    let head = if pass {
        head
    } else {
        repo.commit("feat(api): refunds route")
    };
    let at = GithubAt::of(&gh);
    let ecs_url = ecs.url().to_owned();
    let endpoint = moto.endpoint.clone();
    let r = blocking(move || {
        let run = Run::new(act, &repo, Mode::Host, ".github/workflows/standards.yml")
            .event("push", serde_json::json!({"ref": "refs/heads/main"}))
            .github_at(&at)
            .secret("GITHUB_TOKEN", "ghs_actstandardstoken0123456789")
            .var("DEV_ACCOUNT_ID", ACCOUNT)
            .var("STAGING_ACCOUNT_ID", ACCOUNT)
            .var("PROD_ACCOUNT_ID", ACCOUNT)
            .var("ECR_REGISTRY", ECR_REGISTRY)
            .env("AWS_ENDPOINT_URL_ECS", &ecs_url);
        with_aws(run, &endpoint).run()
    })
    .await;
    r.check(
        r.log.contains("setup-node stand-in: asked for node 22"),
        "the setup-node stand-in ran",
    );
    r.check(
        r.code != Some(0),
        "act exits non-zero (production refused, or the gate red)",
    );
    if pass {
        r.check(r.job_succeeded("gate"), "the gate is green");
        r.check(r.errors("gate").is_empty(), "no ::error on a green gate");
        r.check(
            r.log.contains("stevedore lint-gate: All 6 check(s) passed"),
            "the gate's job summary",
        );
        r.check(
            r.log.contains("::set-output:: verdict=success"),
            "the verdict output",
        );
        for job in ["deploy-dev", "deploy-staging"] {
            r.check(r.job_succeeded(job), &format!("{job} succeeds"));
            r.check(r.errors(job).is_empty(), &format!("{job}: no ::error"));
        }
        r.check(
            r.log
                .contains("::set-output:: task-definition-arn=arn:aws:ecs:"),
            "the deploy's task-definition-arn output",
        );
        let updates = ecs.requests("UpdateService");
        r.check(
            updates.len() == 2,
            &format!("dev and staging updated the service: {updates:?}"),
        );
        let td = ecs.task_definition(&ecs.service_task_definition("api"));
        r.check(
            td["containerDefinitions"][0]["image"] == format!("{ECR_REGISTRY}/api:{head}").as_str(),
            &format!("the service runs this commit's image: {td}"),
        );
        let envs: Vec<String> = gh
            .deployments()
            .iter()
            .filter_map(|d| d["environment"].as_str().map(str::to_owned))
            .collect();
        r.check(
            envs == ["dev", "staging"],
            &format!("GitHub Deployments: {envs:?}"),
        );
        r.check(
            r.job_failed("deploy-production"),
            "production is refused under act",
        );
        let errors = r.errors("deploy-production");
        r.check(
            errors.iter().any(|e| {
                e.contains("production") && e.contains("environment") && e.contains("claim")
            }),
            &format!("the refusal names the environment claim: {errors:?}"),
        );
    } else {
        r.check(r.job_failed("gate"), "the gate is red");
        r.check(
            r.log.contains("::set-output:: verdict=failure"),
            "the verdict output",
        );
        let errors = r.errors("gate");
        r.check(
            errors.iter().any(|e| e.contains("file=src/app.test.ts")),
            &format!("the failing test is annotated at its file: {errors:?}"),
        );
        r.check(
            errors
                .iter()
                .any(|e| e.contains("file=src/routes.generated.ts")),
            &format!("the stale generated file is annotated: {errors:?}"),
        );
        for job in ["deploy-dev", "deploy-staging", "deploy-production"] {
            r.check(
                !r.job_ran(job),
                &format!("{job} does not run after a red gate"),
            );
        }
        r.check(ecs.total_calls() == 0, "no ECS call");
    }
    assert_github_clean(&gh);
}

/// One test, two runs in turn (the unmodified workflow gives both runs the same container names).
#[tokio::test]
async fn act_standards_gates_deploys_dev_and_staging_refuses_production_and_a_red_gate_deploys_nothing()
 {
    standards_push(true).await;
    standards_push(false).await;
}

// ---- examples/container.yml ----

/// One act run of examples/container.yml in host mode on `git_ref`, with the credential chain against
/// `moto` and the scripted ECS endpoint; `oidc` hands act the fake issuer's runner endpoint (as a GitHub
/// runner sets it for `id-token: write`; act sets none) and points stevedore's issuer checks at it.
#[allow(
    clippy::too_many_arguments,
    reason = "one run's world, spelled out at each call"
)]
fn container_run(
    act: &'static crate::helpers::act::Act,
    repo: &Repo,
    git_ref: &str,
    moto: &str,
    ecs: &str,
    registry: &str,
    socket: Option<&str>,
    oidc: Option<(String, String)>,
) -> Outcome {
    let mut run = Run::new(act, repo, Mode::Host, ".github/workflows/container.yml")
        .event("push", serde_json::json!({"ref": git_ref}))
        .var("DEV_ACCOUNT_ID", ACCOUNT)
        .var("STAG_ACCOUNT_ID", ACCOUNT)
        .var("PROD_ACCOUNT_ID", ACCOUNT)
        .var("ECR_REGISTRY_ALIAS", registry)
        .var("SCAN_SEVERITY_THRESHOLD", "none")
        .env("AWS_ENDPOINT_URL_ECS", ecs);
    if let Some(socket) = socket {
        run = run.arg("--container-daemon-socket").arg(socket);
    }
    if let Some((request_url, issuer)) = &oidc {
        run = run
            .env("ACTIONS_ID_TOKEN_REQUEST_URL", request_url)
            .env(
                "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
                crate::helpers::fake_oidc::REQUEST_TOKEN,
            )
            .env("STEVEDORE_OIDC_ISSUER", issuer);
    }
    with_aws(run, moto).run()
}

/// examples/container.yml, the adoption flow (issue 30), in host mode, three act runs in turn:
///
/// 1. push to `main`: `build` builds the repository's Dockerfile through a podman Docker-API service
///    (mounted into the action's container with `--container-daemon-socket`) and pushes it under the
///    commit's SHA to the loopback registry (`ECR_REGISTRY_ALIAS`; moto's ECR has no registry protocol and
///    cannot scan, hence `SCAN_SEVERITY_THRESHOLD=none`); `deploy-dev`, then `deploy-stag`, roll that
///    digest out on the scripted ECS endpoint (credential chain, no OIDC); no prod job runs.
/// 2. tag `v1.4.0-stable` on that commit, with the fake issuer's OIDC (claim `environment: prod`): nothing
///    is built; `deploy-prod`'s `credentials` step assumes the prod role (moto's STS), the example's own
///    `aws ecr describe-images` (the real AWS CLI, against moto's ECR API, which holds the manifest the
///    registry got: moto stands for ECR's API, the loopback registry for its registry protocol) finds
///    main's digest, and prod runs exactly that digest. The registry still holds the SHA tag alone.
/// 3. tag `v1.5.0-stable` on a commit main never built: the lookup finds nothing, the job fails with the
///    example's `::error` before any deploy; no ECS call.
///
/// moto keeps one account per server, so the three account variables name the same test account here;
/// the cross-account policies are in docs/cross-account.md.
#[tokio::test]
async fn act_container_builds_once_deploys_dev_then_stag_and_a_stable_tag_deploys_mains_digest_to_prod()
 {
    use crate::helpers::fake_ecs::Behaviour;
    use crate::helpers::fake_oidc::{FakeOidc, Settings};
    let Some(act) = act() else {
        return;
    };
    let Some(moto) = crate::helpers::moto::own() else {
        return;
    };
    let Some(registry) = crate::helpers::engine::Registry::start() else {
        return;
    };
    let Some(podman) = crate::helpers::engine::Podman::start(&registry.addr) else {
        return;
    };
    let conf = crate::helpers::moto::sdk(&moto.endpoint, "eu-west-1");
    // dev's ECR repository exists (infrastructure creates it, not the pipeline).
    crate::helpers::moto::ecr_repository(&conf, "app").await;
    // One service `app` in cluster `app` per account; the scripted endpoint stands for all three.
    let ecs = ecs_service("app", "app", vec![Behaviour::complete_after_polls(1); 3]).await;
    let oidc = FakeOidc::start(Settings {
        repository: crate::helpers::act::REPOSITORY.into(),
        git_ref: "refs/tags/v1.4.0-stable".into(),
        environment: Some("prod".into()),
        ..Settings::default()
    })
    .await;
    let repo = example_repo("container")
        .file("static.txt", "static\n")
        .file("Dockerfile", "FROM scratch\nCOPY static.txt /static.txt\n");
    let head = repo.commit("feat: the app image");
    let ecs_url = ecs.url().to_owned();
    let endpoint = moto.endpoint.clone();
    let socket = podman.docker_host.trim_start_matches("unix://").to_owned();
    let registry_addr = registry.addr.clone();
    let with_oidc = Some((oidc.request_url(), oidc.issuer().to_owned()));

    // 1. main: build once, dev, then stag.
    let (repo, r) = {
        let (ecs_url, endpoint, registry_addr) =
            (ecs_url.clone(), endpoint.clone(), registry_addr.clone());
        blocking(move || {
            let r = container_run(
                act,
                &repo,
                "refs/heads/main",
                &endpoint,
                &ecs_url,
                &registry_addr,
                Some(&socket),
                None,
            );
            (repo, r)
        })
        .await
    };
    r.check(r.job_succeeded("build"), "the build job succeeds");
    let digest = r
        .log
        .lines()
        .find_map(|l| {
            l.split_once("::set-output:: digest=")
                .map(|(_, d)| d.trim().to_owned())
        })
        .unwrap_or_default();
    r.check(digest.starts_with("sha256:"), "the digest is a step output");
    let (held, manifest, media) = registry.manifest("app", &head).await;
    r.check(
        held == digest,
        &format!("the registry holds {digest} under the commit's SHA {head}: {held}"),
    );
    r.check(
        r.log.contains(&format!("| digest | `{digest}` |")),
        "the digest in the job summary (act prints it after `Summary -`)",
    );
    let image = format!("{}/app@{digest}", registry.addr);
    for job in ["deploy-dev", "deploy-stag"] {
        r.check(r.job_succeeded(job), &format!("{job} succeeds"));
        r.check(r.errors(job).is_empty(), &format!("{job}: no ::error"));
    }
    r.check(!r.job_ran("deploy-prod"), "no prod job on main");
    r.check(
        ecs.requests("UpdateService").len() == 2,
        "dev and stag updated the service",
    );
    let td = ecs.task_definition(&ecs.service_task_definition("app"));
    r.check(
        td["containerDefinitions"][0]["image"] == image.as_str(),
        &format!("stag runs the built image by digest (through needs): {td}"),
    );
    r.check(r.code == Some(0), "act exits 0");

    // What ECR's API would show for the push: the manifest under the commit's SHA tag.
    crate::helpers::moto::ecr(&conf)
        .put_image(&stevedore::aws::ecr::PutImage {
            repository_name: "app".into(),
            image_manifest: String::from_utf8(manifest).unwrap(),
            image_manifest_media_type: Some(media),
            image_tag: Some(head.clone()),
            image_digest: Some(digest.clone()),
            ..Default::default()
        })
        .await
        .unwrap();

    // 2. `v1.4.0-stable` on that commit: no build, prod gets main's digest.
    let (repo, r) = {
        let (ecs_url, endpoint, registry_addr, with_oidc) = (
            ecs_url.clone(),
            endpoint.clone(),
            registry_addr.clone(),
            with_oidc.clone(),
        );
        blocking(move || {
            repo.git(&["tag", "v1.4.0-stable"]);
            let r = container_run(
                act,
                &repo,
                "refs/tags/v1.4.0-stable",
                &endpoint,
                &ecs_url,
                &registry_addr,
                None,
                with_oidc,
            );
            (repo, r)
        })
        .await
    };
    r.check(!r.job_ran("build"), "nothing is built for a tag");
    r.check(
        !r.job_ran("deploy-dev") && !r.job_ran("deploy-stag"),
        "no dev or stag deploy for a tag",
    );
    r.check(r.job_succeeded("deploy-prod"), "deploy-prod succeeds");
    r.check(
        r.errors("deploy-prod").is_empty(),
        "deploy-prod: no ::error",
    );
    r.check(
        ecs.requests("UpdateService").len() == 3,
        "prod updated the service",
    );
    let td = ecs.task_definition(&ecs.service_task_definition("app"));
    r.check(
        td["containerDefinitions"][0]["image"] == image.as_str(),
        &format!("prod runs main's digest, looked up by the commit's SHA: {td}"),
    );
    let minted = oidc.minted();
    r.check(
        minted.len() == 2
            && minted.iter().all(|jwt| {
                stevedore::oidc::unverified_claims(jwt).is_some_and(|c| {
                    c.environment.as_deref() == Some("prod")
                        && c.git_ref.as_deref() == Some("refs/tags/v1.4.0-stable")
                })
            }),
        &format!(
            "credentials and deploy each exchanged a token with the prod claim: {} token(s)",
            minted.len()
        ),
    );
    let tags: serde_json::Value =
        reqwest::get(format!("http://{}/v2/app/tags/list", registry.addr))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    r.check(
        tags["tags"] == serde_json::json!([head]),
        &format!("nothing was pushed for the tag: {tags}"),
    );
    r.check(r.code == Some(0), "act exits 0");

    // 3. `v1.5.0-stable` on a commit main never built: stopped before any deploy.
    oidc.update(|s| s.git_ref = "refs/tags/v1.5.0-stable".into());
    let r = blocking(move || {
        let repo = repo.file("static.txt", "changed, never built\n");
        let unbuilt = repo.commit("feat: never built on main");
        repo.git(&["tag", "v1.5.0-stable"]);
        let r = container_run(
            act,
            &repo,
            "refs/tags/v1.5.0-stable",
            &endpoint,
            &ecs_url,
            &registry_addr,
            None,
            with_oidc,
        );
        (unbuilt, r)
    })
    .await;
    let (unbuilt, r) = r;
    r.check(r.job_failed("deploy-prod"), "deploy-prod fails");
    let errors = r.errors("deploy-prod");
    r.check(
        errors.iter().any(|e| e.contains(&unbuilt)),
        &format!("the ::error names the commit main never built: {errors:?}"),
    );
    r.check(
        ecs.requests("UpdateService").len() == 3,
        "no deploy for an unbuilt commit",
    );
    r.check(r.code != Some(0), "act exits non-zero");
}

// ---- examples/frontend.yml ----

/// examples/frontend.yml on a push to `main`, in host mode: `build` builds the frontend's Dockerfile through
/// a podman Docker-API service and pushes it to the loopback registry (as container.yml's test does, with
/// the credential chain against moto's ECR); `app-runner-dev` and `express-dev` deploy that one image, by
/// digest through `needs.build.outputs.image`, to the scripted App Runner endpoint (awsJson1_0) and the
/// scripted ECS endpoint's Express service (awsJson1_1), each followed to its end and its URL checked; both
/// production jobs are refused before any AWS call (no OIDC `environment` claim under act).
#[tokio::test]
async fn act_frontend_deploys_one_image_to_app_runner_and_ecs_express_and_production_is_refused() {
    use crate::helpers::fake_apprunner::FakeAppRunner;
    use crate::helpers::fake_ecs::{After, ExpressDeploy, FakeEcs};
    let Some(act) = act() else {
        return;
    };
    let Some(moto) = crate::helpers::moto::moto() else {
        return;
    };
    let Some(registry) = crate::helpers::engine::Registry::start() else {
        return;
    };
    let Some(podman) = crate::helpers::engine::Podman::start(&registry.addr) else {
        return;
    };
    let conf = crate::helpers::moto::sdk(&moto.endpoint, "eu-west-1");
    crate::helpers::moto::ecr_repository(&conf, "frontend").await;
    let old = format!("{ECR_REGISTRY}/frontend@sha256:{}", "0".repeat(64));
    let app_runner = FakeAppRunner::start("frontend", &old).await;
    let ecs = FakeEcs::start().await;
    let express = ecs.seed_express("default", "frontend", &old);
    ecs.script_express(&express, [ExpressDeploy::Succeed(After::Polls(2))]);
    let repo = example_repo("frontend")
        .file("index.html", "<h1>frontend</h1>\n")
        .file("Dockerfile", "FROM scratch\nCOPY index.html /index.html\n");
    repo.commit("feat(frontend): landing page");
    let (ar_url, ar_health) = (app_runner.url().to_owned(), app_runner.health_url());
    let (ecs_url, ecs_health) = (ecs.url().to_owned(), ecs.health_url());
    let endpoint = moto.endpoint.clone();
    let socket = podman.docker_host.trim_start_matches("unix://").to_owned();
    let registry_addr = registry.addr.clone();
    let r = blocking(move || {
        let run = Run::new(act, &repo, Mode::Host, ".github/workflows/frontend.yml")
            .event("push", serde_json::json!({"ref": "refs/heads/main"}))
            .var("DEV_ACCOUNT_ID", ACCOUNT)
            .var("PROD_ACCOUNT_ID", ACCOUNT)
            .var("ECR_REGISTRY_ALIAS", &registry_addr)
            .var("SCAN_SEVERITY_THRESHOLD", "none")
            .var("DEV_APP_RUNNER_HEALTH_URL", &ar_health)
            .var("DEV_EXPRESS_HEALTH_URL", &ecs_health)
            .env("AWS_ENDPOINT_URL_APPRUNNER", &ar_url)
            .env("AWS_ENDPOINT_URL_ECS", &ecs_url)
            .arg("--container-daemon-socket")
            .arg(&socket);
        with_aws(run, &endpoint).run()
    })
    .await;
    r.check(r.job_succeeded("build"), "the build job succeeds");
    let digest = r
        .log
        .lines()
        .find_map(|l| {
            l.split_once("::set-output:: digest=")
                .map(|(_, d)| d.trim().to_owned())
        })
        .unwrap_or_default();
    r.check(digest.starts_with("sha256:"), "the digest is a step output");
    let image = format!("{}/frontend@{digest}", registry.addr);
    for job in ["app-runner-dev", "express-dev"] {
        r.check(r.job_succeeded(job), &format!("{job} succeeds"));
        r.check(r.errors(job).is_empty(), &format!("{job}: no ::error"));
    }
    r.check(
        app_runner.image() == image,
        &format!(
            "App Runner runs the built image by digest: {}",
            app_runner.image()
        ),
    );
    r.check(
        ecs.express_active_images(&express) == vec![image.clone()],
        &format!(
            "the Express service runs the built image by digest: {:?}",
            ecs.express_active_images(&express)
        ),
    );
    r.check(
        r.log.contains(
            "::set-output:: service-url=https://frontend-0123456789abcdef.ecs.eu-west-1.on.aws",
        ),
        "the Express service URL output",
    );
    r.check(
        app_runner.protocol_errors().is_empty() && ecs.protocol_errors().is_empty(),
        &format!(
            "protocol-exact calls: {:?} {:?}",
            app_runner.protocol_errors(),
            ecs.protocol_errors()
        ),
    );
    for job in ["app-runner-production", "express-production"] {
        r.check(r.job_failed(job), &format!("{job} is refused under act"));
        let errors = r.errors(job);
        r.check(
            errors
                .iter()
                .any(|e| e.contains("production") && e.contains("claim")),
            &format!("{job}: the refusal names the environment claim: {errors:?}"),
        );
    }
    r.check(
        app_runner.requests("UpdateService").len() == 1
            && ecs.requests("UpdateExpressGatewayService").len() == 1,
        "production made no update",
    );
    r.check(r.code != Some(0), "act exits non-zero (production refused)");
}

// ---- publish without the API (docs/act.md: `publish --dry-run` works fully) ----

/// A workflow that plans a release with no token (act has none of its own: no `-s GITHUB_TOKEN`), then
/// prints the plan's outputs in a later step and a later job.
fn offline_publish_workflow(name: &str) -> String {
    format!(
        r#"name: {name}
on: push
jobs:
  plan:
    runs-on: ubuntu-latest
    outputs:
      version: ${{{{ steps.publish.outputs.version }}}}
    steps:
      - uses: actions/checkout@v5
      - id: publish
        uses: ./stevedore
        with:
          mode: publish
          dry-run: ${{{{ vars.DRY_RUN }}}}
      - if: always()
        run: echo "planned version=${{{{ steps.publish.outputs.version }}}} previous=${{{{ steps.publish.outputs.previous-version }}}} verdict=${{{{ steps.publish.outputs.verdict }}}}"
  after:
    needs: plan
    runs-on: ubuntu-latest
    steps:
      - run: echo "needs version=${{{{ needs.plan.outputs.version }}}}"
"#
    )
}

fn offline_publish(mode: Mode, dry_run: bool) {
    let Some(act) = act() else {
        return;
    };
    if !act.supports(mode) {
        return;
    }
    let name = unique("offline-publish", mode);
    let repo = Repo::new().file(
        ".github/workflows/plan.yml",
        &offline_publish_workflow(&name),
    );
    repo.commit("chore: init");
    repo.git(&["tag", "-a", "v2.3.0", "-m", "v2.3.0"]);
    repo.commit("feat(api): orders endpoint");
    repo.commit("fix: a typo in the summary");
    let r = Run::new(act, &repo, mode, ".github/workflows/plan.yml")
        .event("push", serde_json::json!({"ref": "refs/heads/main"}))
        .var("DRY_RUN", if dry_run { "true" } else { "false" })
        .run();
    if dry_run {
        r.check(r.job_succeeded("plan"), "the dry run plans without the API");
        r.check(
            r.printed_line(
                "plan",
                "planned version=2.4.0 previous=2.3.0 verdict=skipped",
            ),
            "the next version from the local tags and conventional commits, in a later step",
        );
        r.check(
            r.printed_line("after", "needs version=2.4.0"),
            "the version through needs",
        );
        r.check(
            r.log.contains("the local clone's tags and commits"),
            "the summary says where the plan came from",
        );
        r.check(
            r.log.contains("orders endpoint") && r.log.contains("a typo in the summary"),
            "the changelog lists both commits since v2.3.0",
        );
        r.check(r.code == Some(0), "act exits 0");
    } else {
        r.check(
            r.job_failed("plan"),
            "a real run without a token is refused",
        );
        let errors = r.errors("plan");
        r.check(
            errors.iter().any(|e| e.contains("github-token")),
            &format!("the error names the token: {errors:?}"),
        );
        r.check(!r.job_ran("after"), "the later job does not run");
        r.check(r.code != Some(0), "act exits non-zero");
    }
}

#[test]
fn act_host_mode_publish_dry_run_without_a_token_plans_from_the_local_clone() {
    offline_publish(Mode::Host, true);
}

#[test]
fn act_container_mode_publish_dry_run_without_a_token_plans_from_the_local_clone() {
    offline_publish(Mode::Container, true);
}

#[test]
fn act_host_mode_publish_without_a_token_and_without_dry_run_fails_naming_the_token() {
    offline_publish(Mode::Host, false);
}

// ---- examples/serverless.yml, pull requests ----

/// examples/serverless.yml on a pull request, in host mode: `actions/setup-python@v5` is a local stand-in
/// (a venv from the python3 on PATH, first on PATH), the job's own `pip install -r
/// backend/requirements-dev.txt "bandit[sarif]"` installs pytest, pytest-cov, ruff, mypy and bandit from
/// PyPI, and they run over `tests/fixtures/act/python-app`; `validate` posts one sticky comment on the fake
/// GitHub (over TLS). Green: every required check passes; bandit's findings (advisory) are annotated and
/// make the verdict `neutral`, not a failure. Red: a failing worker test fails the job with an `::error`.
async fn serverless_pr(pass: bool) {
    let Some(act) = act() else {
        return;
    };
    let venv_ok = std::process::Command::new("python3")
        .args(["-c", "import venv, ensurepip"])
        .output()
        .is_ok_and(|o| o.status.success());
    if crate::helpers::require(
        "python3 with venv and ensurepip (the serverless validate job installs its tools from PyPI)",
        venv_ok.then_some(()),
    )
    .is_none()
    {
        return;
    }
    let gh = github().await;
    let stand_in = crate::helpers::runner::repo_root().join("tests/fixtures/act/setup-python");
    let mut repo = with_fixture(example_repo("serverless"), "python-app")
        .local_action("actions/setup-python@v5", stand_in);
    if !pass {
        repo = repo.file(
            "worker/tests/test_worker.py",
            "from worker import handler\n\n\ndef test_handler() -> None:\n    assert handler({\"a\": 1}, None) == {\"sent\": 2}\n",
        );
    }
    let head = repo.commit("feat(worker): count the events");
    let title = "feat(worker): count the events";
    gh.add_pr(8, title, &head, &[]);
    let at = GithubAt::of(&gh);
    let payload = pr_payload(8, title, &head);
    let r = blocking(move || {
        Run::new(act, &repo, Mode::Host, ".github/workflows/serverless.yml")
            .event("pull_request", payload)
            .github_at(&at)
            .secret("GITHUB_TOKEN", "ghs_actserverlesstoken0123456789")
            .run()
    })
    .await;
    r.check(
        r.log.contains("setup-python stand-in: asked for 3.12"),
        "the setup-python stand-in ran",
    );
    r.check(
        r.log.contains("SARIF output written to file: bandit.sarif"),
        "bandit wrote SARIF (the `sarif` extra is installed)",
    );
    r.check(!r.job_ran("build"), "no build on a pull request");
    let comments = gh.comments(8);
    r.check(
        comments.len() == 1 && comments[0].body.contains("<!-- stevedore:lint-gate"),
        &format!("one sticky lint-gate comment: {comments:?}"),
    );
    if pass {
        r.check(r.job_succeeded("validate"), "validate is green");
        r.check(r.errors("validate").is_empty(), "no ::error");
        r.check(
            r.log.contains("::set-output:: tests-tests-passed=3"),
            "pytest's three tests, from its JUnit file",
        );
        // bandit exits 1 on its findings (B101 on the tests' asserts): the advisory check fails, the job
        // stays green and the verdict is `neutral`.
        r.check(
            r.log.contains("::set-output:: verdict=neutral")
                && r.log.contains("::set-output:: security-findings=3")
                && r.log
                    .contains("Required checks passed; advisory check(s) failed: Security"),
            "the verdict output and the summary: required checks green, the advisory bandit check not",
        );
        r.check(
            r.log
                .contains("::notice title=Bandit B101,file=worker/tests/test_worker.py"),
            "bandit's SARIF findings annotated at their files",
        );
        r.check(r.code == Some(0), "act exits 0");
    } else {
        r.check(r.job_failed("validate"), "validate is red");
        let errors = r.errors("validate");
        r.check(
            errors.iter().any(|e| {
                e.contains("file=worker/tests/test_worker.py") && e.contains("AssertionError")
            }),
            &format!("the failing test is annotated: {errors:?}"),
        );
        r.check(
            r.log.contains("::set-output:: verdict=failure"),
            "the verdict output",
        );
        r.check(r.code != Some(0), "act exits non-zero");
    }
    assert_github_clean(&gh);
}

/// One test, two runs in turn (the unmodified workflow gives both runs the same container names).
#[tokio::test]
async fn act_serverless_pr_validation_runs_pytest_ruff_mypy_bandit_and_a_failing_test_goes_red() {
    serverless_pr(true).await;
    serverless_pr(false).await;
}

/// examples/versioned.yml, a push to `dev`, in host mode: `release` cuts the prerelease `v1.1.0-dev.1` on
/// the fake GitHub (over TLS) and hands `released`/`version` to `deploy-test` through `needs`, which rolls
/// the commit's image out on the scripted ECS endpoint with `APP_VERSION=1.1.0-dev.1` (credential chain
/// against moto's STS) and records a `test` Deployment.
#[tokio::test]
async fn act_versioned_dev_cuts_a_prerelease_and_deploys_it_to_test_through_needs() {
    use crate::helpers::fake_ecs::Behaviour;
    let Some(act) = act() else {
        return;
    };
    let Some(moto) = crate::helpers::moto::moto() else {
        return;
    };
    let gh = github().await;
    let ecs = ecs_service("app", "api", vec![Behaviour::complete_after_polls(1)]).await;
    let repo = example_repo("versioned");
    let first = repo.commit("chore: init");
    repo.git(&["tag", "v1.0.0"]);
    repo.git(&["checkout", "-q", "-b", "dev"]);
    let head = repo.commit("feat(api): paging (#4)");
    gh.seed_commit(&first, "chore: init", &[]);
    gh.seed_commit(&head, "feat(api): paging (#4)", &[&first]);
    gh.set_ref("refs/tags/v1.0.0", &first);
    gh.set_ref("refs/heads/main", &first);
    gh.set_ref("refs/heads/dev", &head);
    let at = GithubAt::of(&gh);
    let ecs_url = ecs.url().to_owned();
    let endpoint = moto.endpoint.clone();
    let r = blocking(move || {
        let run = Run::new(act, &repo, Mode::Host, ".github/workflows/versioned.yml")
            .event("push", serde_json::json!({"ref": "refs/heads/dev"}))
            .github_at(&at)
            .secret("GITHUB_TOKEN", "ghs_actversionedtoken0123456789")
            .var("TEST_ACCOUNT_ID", ACCOUNT)
            .var("PROD_ACCOUNT_ID", ACCOUNT)
            .var("ECR_REGISTRY", ECR_REGISTRY)
            .env("AWS_ENDPOINT_URL_ECS", &ecs_url);
        with_aws(run, &endpoint).run()
    })
    .await;
    r.check(r.job_succeeded("release"), "release succeeds");
    r.check(
        r.log.contains("::set-output:: version=1.1.0-dev.1"),
        "the prerelease version output",
    );
    r.check(
        gh.refs().get("refs/tags/v1.1.0-dev.1") == Some(&head),
        &format!("v1.1.0-dev.1 tags the pushed commit: {:?}", gh.refs()),
    );
    let releases = gh.releases();
    r.check(
        releases.len() == 1 && releases[0]["prerelease"] == true,
        &format!("one prerelease: {releases:?}"),
    );
    r.check(r.job_succeeded("deploy-test"), "deploy-test succeeds");
    r.check(!r.job_ran("deploy-production"), "no production job on dev");
    let td = ecs.task_definition(&ecs.service_task_definition("api"));
    let env = td["containerDefinitions"][0]["environment"].clone();
    r.check(
        env.as_array().is_some_and(|e| {
            e.iter()
                .any(|v| v["name"] == "APP_VERSION" && v["value"] == "1.1.0-dev.1")
        }),
        &format!("the version reached the task definition through needs: {env}"),
    );
    r.check(
        td["containerDefinitions"][0]["image"] == format!("{ECR_REGISTRY}/api:{head}").as_str(),
        &format!("the commit's image: {td}"),
    );
    let envs: Vec<String> = gh
        .deployments()
        .iter()
        .filter_map(|d| d["environment"].as_str().map(str::to_owned))
        .collect();
    r.check(envs == ["test"], &format!("a `test` Deployment: {envs:?}"));
    r.check(r.code == Some(0), "act exits 0");
    assert_github_clean(&gh);
}

// ---- examples/rollback.yml ----

/// examples/rollback.yml dispatched by hand (`workflow_dispatch` with `-e` event file: environment `dev`,
/// version `previous`), in host mode, against a moto of its own (the example's function name is fixed) and
/// the fake GitHub over TLS. Two real deploys of `backend-dev` to `dev` (run in-process, like the
/// serverless pipeline's deploy-dev step) publish versions 2 and 3 and record their GitHub Deployments; the
/// example's rollback job then moves `live` back to version 2 with the health URL checked, records a new
/// deployment restoring the first one, and prints the `restored-version` output.
#[tokio::test]
async fn act_rollback_example_restores_the_previous_lambda_version() {
    use crate::helpers::run::Step;
    let Some(act) = act() else {
        return;
    };
    let Some(moto) = crate::helpers::moto::own() else {
        return;
    };
    let endpoint = moto.endpoint.clone();
    let conf = crate::helpers::moto::sdk(&endpoint, "eu-west-1");
    let gh = github().await;
    let ca = gh.ca_pem_path().map(std::path::Path::to_owned).unwrap();
    let lambda = aws_sdk_lambda::Client::new(&conf);
    let code = crate::helpers::moto::LambdaCode::Python("def handler(e, c):\n    return 0\n");
    crate::helpers::moto::lambda_function(&conf, &endpoint, "backend-dev", code, Some("live"))
        .await;
    let health = crate::lambda::health_server(200).await;
    let api = health.url.trim_end_matches("/health").to_owned();
    let shas = [
        "1111111aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "2222222bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
    ];
    // Both commits are on `main`, where the deploys ran: a rollback traces each release to its ref.
    gh.seed_commit(shas[0], "feat: one", &[]);
    gh.seed_commit(shas[1], "feat: two", &[shas[0]]);
    gh.set_ref("refs/heads/main", shas[1]);
    for (n, sha) in shas.iter().enumerate() {
        let s = Step::new();
        std::fs::write(
            s.workspace.join("app.zip"),
            crate::lambda::zip(&format!("def handler(e, c):\n    return {}\n", n + 1)),
        )
        .unwrap();
        s.input("mode", "deploy")
            .input("environment", "dev")
            .input("function-name", "backend-dev")
            .input("zip-file", "app.zip")
            .input("health-url", &health.url)
            .input("aws-region", "eu-west-1")
            .input("allow-aws-credential-chain", "true")
            .input("github-token", "ghs_actrollbacktoken0123456789")
            .var("AWS_ACCESS_KEY_ID", "testing")
            .var("AWS_SECRET_ACCESS_KEY", "testing")
            .var("AWS_ENDPOINT_URL", &endpoint)
            .var("GITHUB_API_URL", &gh.url())
            .var("SSL_CERT_FILE", &ca.display().to_string())
            .var("GITHUB_REPOSITORY", crate::helpers::act::REPOSITORY)
            .var("GITHUB_SHA", sha)
            .exits(0)
            .await;
    }
    let first = gh.deployments()[0].clone();
    assert_eq!(first["payload"]["target"]["version"], "2", "{first}");
    let alias = |lambda: aws_sdk_lambda::Client| async move {
        crate::helpers::moto::alias_version(&lambda, "backend-dev", "live").await
    };
    assert_eq!(alias(lambda.clone()).await.as_deref(), Some("3"));

    let repo = example_repo("rollback");
    repo.commit("chore: rollback workflow");
    let url = gh.url();
    let ca_path = ca.clone();
    let hits = health.hits.load(std::sync::atomic::Ordering::SeqCst);
    let r = blocking(move || {
        let run = Run::new(act, &repo, Mode::Host, ".github/workflows/rollback.yml")
            .event(
                "workflow_dispatch",
                serde_json::json!({
                    "ref": "refs/heads/main",
                    "inputs": {"environment": "dev", "version": "previous"},
                }),
            )
            .github(&url, Some(&ca_path))
            .secret("GITHUB_TOKEN", "ghs_actrollbacktoken0123456789")
            .var("DEV_ACCOUNT_ID", ACCOUNT)
            .var("PROD_ACCOUNT_ID", ACCOUNT)
            .var("DEV_API_URL", &api)
            .var("PROD_API_URL", &api);
        with_aws(run, &endpoint).run()
    })
    .await;
    r.check(r.job_succeeded("rollback"), "the rollback job succeeds");
    r.check(
        r.errors("rollback").is_empty(),
        "no ::error in the rollback job",
    );
    r.check(
        r.log.contains(&format!(
            "restored {} (deployment {})",
            shas[0], first["id"]
        )),
        "the run step prints the restored-version and restored-deployment-id outputs",
    );
    let now = alias(lambda.clone()).await;
    r.check(
        now.as_deref() == Some("2"),
        &format!("`live` is back on version 2: {now:?}"),
    );
    r.check(
        health.hits.load(std::sync::atomic::Ordering::SeqCst) > hits,
        "the health URL was checked during the rollback",
    );
    let last = gh.deployments().last().cloned().unwrap();
    r.check(
        last["payload"]["restored_from"] == first["id"]
            && last["payload"]["target"] == first["payload"]["target"]
            && last["environment"] == "dev",
        &format!("a new deployment of `dev` restores the first: {last}"),
    );
    gh.assert_no_violations();
}

// ---- examples/promotion.yml ----

/// examples/promotion.yml on a push to main, in host mode, against a moto of its own (the example's
/// function `backend` is fixed) and the fake GitHub over TLS. `dev` zips `backend/app.py` and deploys it
/// (version 2 behind alias `dev`, its EventBridge rule on that alias) and records its GitHub Deployment;
/// `staging` (after `dev`) finds that deployment, verifies it (the push's commit on `main`, the version's
/// code hash) and creates alias `staging` on the same version 2, publishing nothing, with a deployment
/// recording `promoted_from: dev` and its own EventBridge rule on alias `staging`; `production` is
/// refused before any AWS call, because production requires the OIDC `environment` claim (act has none).
#[tokio::test]
async fn act_promotion_example_deploys_dev_promotes_its_version_to_staging_and_refuses_production()
{
    let Some(act) = act() else {
        return;
    };
    let Some(moto) = crate::helpers::moto::own() else {
        return;
    };
    let endpoint = moto.endpoint.clone();
    let conf = crate::helpers::moto::sdk(&endpoint, "eu-west-1");
    let gh = github().await;
    let ca = gh.ca_pem_path().map(std::path::Path::to_owned).unwrap();
    let lambda = aws_sdk_lambda::Client::new(&conf);
    let code = crate::helpers::moto::LambdaCode::Python("def handler(e, c):\n    return 0\n");
    crate::helpers::moto::lambda_function(&conf, &endpoint, "backend", code, None).await;
    let health = crate::lambda::health_server(200).await;
    let api = health.url.trim_end_matches("/health").to_owned();

    let repo = example_repo("promotion").file(
        "backend/app.py",
        "def handler(event, context):\n    return {\"ok\": True}\n",
    );
    let sha = repo.commit("feat: backend");
    // The push's commit is on `main`: a promotion traces the release to its ref.
    gh.seed_commit(&sha, "feat: backend", &[]);
    gh.set_ref("refs/heads/main", &sha);
    let url = gh.url();
    let ca_path = ca.clone();
    let r = tokio::task::spawn_blocking(move || {
        let run = Run::new(act, &repo, Mode::Host, ".github/workflows/promotion.yml")
            .event("push", serde_json::json!({"ref": "refs/heads/main"}))
            .github(&url, Some(&ca_path))
            .secret("GITHUB_TOKEN", "ghs_actpromotiontoken0123456789")
            .var("APP_ACCOUNT_ID", ACCOUNT)
            .var("DEV_API_URL", &api)
            .var("STAGING_API_URL", &api)
            .var("PROD_API_URL", &api);
        with_aws(run, &endpoint).run()
    })
    .await
    .unwrap();
    r.check(r.job_succeeded("dev"), "the dev job succeeds");
    r.check(r.errors("dev").is_empty(), "no ::error in dev");
    r.check(r.job_succeeded("staging"), "the staging job succeeds");
    r.check(r.errors("staging").is_empty(), "no ::error in staging");
    let alias = |name: &'static str| {
        let lambda = lambda.clone();
        async move {
            lambda
                .get_alias()
                .function_name("backend")
                .name(name)
                .send()
                .await
                .ok()
                .and_then(|a| a.function_version().map(str::to_owned))
        }
    };
    let (dev, staging) = (alias("dev").await, alias("staging").await);
    r.check(
        dev.as_deref() == Some("2") && staging.as_deref() == Some("2"),
        &format!("dev and staging serve the same version 2: {dev:?} {staging:?}"),
    );
    let versions = lambda
        .list_versions_by_function()
        .function_name("backend")
        .send()
        .await
        .unwrap();
    r.check(
        versions.versions().len() == 3,
        "$LATEST, 1 and dev's 2: the promotion published nothing",
    );
    let deployments = gh.deployments();
    let of = |env: &str| {
        deployments
            .iter()
            .find(|d| d["environment"] == env)
            .cloned()
            .unwrap_or_default()
    };
    let (d_dev, d_staging) = (of("dev"), of("staging"));
    r.check(
        d_staging["payload"]["promoted_from"] == "dev"
            && d_staging["payload"]["restored_from"] == d_dev["id"]
            && d_staging["payload"]["target"]["version"] == "2"
            && d_staging["payload"]["target"]["alias"] == "staging"
            && d_staging["sha"] == sha.as_str(),
        &format!("staging's deployment records the promotion of dev's: {d_staging} from {d_dev}"),
    );
    // Each environment's rule targets its own alias: staging's was synced by the promotion.
    let events =
        stevedore::aws::events::Events::new(&conf, &stevedore::net::Net::builtin()).unwrap();
    for (rule, alias) in [
        ("nightly-report-dev", "dev"),
        ("nightly-report-staging", "staging"),
    ] {
        let targets = events
            .list_targets_by_rule("default", rule)
            .await
            .unwrap_or_default();
        r.check(
            targets.len() == 1
                && targets[0]
                    .arn
                    .ends_with(&format!(":function:backend:{alias}")),
            &format!("rule {rule} targets alias {alias}: {targets:?}"),
        );
    }
    r.check(
        r.job_failed("production"),
        "production is refused under act",
    );
    let errors = r.errors("production");
    r.check(
        errors
            .iter()
            .any(|e| e.contains("environment") && e.contains("claim")),
        &format!("the refusal names the environment claim: {errors:?}"),
    );
    gh.assert_no_violations();
}

// ---- examples/preview.yml ----

/// examples/preview.yml, unmodified, for one pull request's whole life in host mode: `opened`, then
/// `synchronize` after a push, then `closed`, each from its own `pull_request` event file, against a moto
/// of its own (the example's function name `orders-api` is fixed; moto's function URLs ignore the
/// qualifier, so Lambda goes through the per-alias URL proxy of tests/it/preview.rs in front of it) and
/// the fake GitHub over TLS. Credentials: the standard chain (act has no OIDC) and moto's STS for the
/// `preview` environment's role. Between runs: the alias `pr-7` and its function URL, the sticky comment
/// and the `preview/pr-7` Deployments.
#[tokio::test]
async fn act_preview_example_opens_updates_and_closes_a_pull_request_preview() {
    use crate::helpers::fake_github::FakeGithub;
    let Some(act) = act() else {
        return;
    };
    let Some(moto) = crate::helpers::moto::own() else {
        return;
    };
    let endpoint = moto.endpoint.clone();
    let conf = crate::helpers::moto::sdk(&endpoint, "eu-west-1");
    let lambda = aws_sdk_lambda::Client::new(&conf);
    let code = crate::helpers::moto::LambdaCode::Python("def handler(e, c):\n    return 1\n");
    crate::helpers::moto::lambda_function(&conf, &endpoint, "orders-api", code, None).await;
    let (lambda_url, urls) = crate::preview::url_proxy(&endpoint, Default::default()).await;
    let gh = github().await;
    let repo = example_repo("preview").file(
        "backend/app.py",
        "def handler(event, context):\n    return {\"statusCode\": 200, \"body\": \"v1\"}\n",
    );
    let head = repo.commit("feat: orders api");
    gh.add_pr(7, "feat: orders api", &head, &[]);
    let repo = std::sync::Arc::new(repo);
    let at = GithubAt::of(&gh);
    let run = |action: &'static str, head: String| {
        let (repo, at, endpoint, lambda_url) = (
            repo.clone(),
            at.clone(),
            endpoint.clone(),
            lambda_url.clone(),
        );
        tokio::task::spawn_blocking(move || {
            let mut payload = pr_payload(7, "feat: orders api", &head);
            payload["action"] = serde_json::json!(action);
            let run = Run::new(act, &repo, Mode::Host, ".github/workflows/preview.yml")
                .event("pull_request", payload)
                .github_at(&at)
                .secret("GITHUB_TOKEN", "ghs_actpreviewtoken0123456789")
                .var("PREVIEW_ACCOUNT_ID", ACCOUNT)
                .env("AWS_ENDPOINT_URL_LAMBDA", &lambda_url);
            with_aws(run, &endpoint).run()
        })
    };
    let alias_version = |name: &'static str| {
        let lambda = lambda.clone();
        async move { crate::helpers::moto::alias_version(&lambda, "orders-api", name).await }
    };
    let url_of = || {
        urls.lock()
            .unwrap()
            .get(&("orders-api".to_owned(), "pr-7".to_owned()))
            .cloned()
    };
    let states = |gh: &FakeGithub| -> Vec<Vec<String>> {
        let mut deps: Vec<serde_json::Value> = gh
            .deployments()
            .into_iter()
            .filter(|d| d["environment"] == "preview/pr-7")
            .collect();
        deps.sort_by_key(|d| d["id"].as_u64());
        deps.iter()
            .map(|d| {
                gh.deployment_statuses(d["id"].as_u64().unwrap())
                    .iter()
                    .map(|s| s["state"].as_str().unwrap().to_owned())
                    .collect()
            })
            .collect()
    };

    // opened: the alias on version 2 with its URL, the comment and a successful transient Deployment.
    let r = run("opened", head.clone()).await.unwrap();
    r.check(r.job_succeeded("preview"), "the opened run succeeds");
    r.check(r.errors("preview").is_empty(), "no ::error");
    r.check(
        alias_version("pr-7").await.as_deref() == Some("2"),
        "alias pr-7 on version 2",
    );
    let (preview_url, auth) = url_of().expect("a function URL for pr-7");
    r.check(auth == "AWS_IAM", "the example's URL auth type");
    let comments = gh.comments(7);
    r.check(
        comments.len() == 1 && comments[0].body.contains(&preview_url),
        &format!("one comment with the URL: {comments:?}"),
    );
    r.check(
        states(&gh) == [vec!["in_progress".to_owned(), "success".to_owned()]],
        &format!("one successful Deployment: {:?}", states(&gh)),
    );

    // synchronize after a push: the alias moves to version 3, same URL, the comment edited, the older
    // Deployment inactive.
    std::fs::write(
        repo.path().join("backend/app.py"),
        "def handler(event, context):\n    return {\"statusCode\": 200, \"body\": \"v2\"}\n",
    )
    .unwrap();
    let head2 = repo.commit("feat: orders api v2");
    let r = run("synchronize", head2).await.unwrap();
    r.check(r.job_succeeded("preview"), "the synchronize run succeeds");
    r.check(
        alias_version("pr-7").await.as_deref() == Some("3"),
        "alias pr-7 moved to version 3",
    );
    r.check(
        url_of().map(|u| u.0) == Some(preview_url.clone()),
        "the URL is stable",
    );
    let comments = gh.comments(7);
    r.check(
        comments.len() == 1 && comments[0].body.contains("version 3"),
        &format!("the comment is edited: {comments:?}"),
    );
    let s = states(&gh);
    r.check(
        s.len() == 2
            && s[0].last().map(String::as_str) == Some("inactive")
            && s[1].last().map(String::as_str) == Some("success"),
        &format!("the older Deployment inactive, the new one success: {s:?}"),
    );

    // closed: alias and URL gone, every Deployment inactive, the comment says removed.
    let r = run("closed", head.clone()).await.unwrap();
    r.check(r.job_succeeded("preview"), "the closed run succeeds");
    r.check(alias_version("pr-7").await.is_none(), "alias pr-7 removed");
    r.check(url_of().is_none(), "its URL removed");
    r.check(
        states(&gh)
            .iter()
            .all(|s| s.last().map(String::as_str) == Some("inactive")),
        &format!("every Deployment inactive: {:?}", states(&gh)),
    );
    let comments = gh.comments(7);
    r.check(
        comments.len() == 1 && comments[0].body.contains("removed (pull request closed)"),
        &format!("the comment says removed: {comments:?}"),
    );
    gh.assert_no_violations();
}

// ---- examples/typescript-package.yml and examples/python-package.yml (issue 19 under act) ----
//
// Both run as committed (copied unmodified), in host mode: the example's own `npm ci` / `npm test` / `npm pack` and `pip install
// build` / `python -m build` run on the host (`actions/setup-node@v4` and `actions/setup-python@v5` are the
// local stand-ins in tests/fixtures/act), stevedore tags and releases on the fake GitHub (over TLS), and the
// upload goes through the trusted-publishing exchange front (helpers/registries.rs) into the real Verdaccio
// or pypiserver `.ci/run` started. act has no OIDC provider (docs/act.md), so the run hands the action the
// fake issuer's runner endpoint as the runner would (`--env ACTIONS_ID_TOKEN_REQUEST_URL/_TOKEN`); the
// examples' `vars.NPM_REGISTRY` / `vars.PYPI_REPOSITORY` name the front instead of the public registries.

/// The JSON array the example's last step prints (`echo "$PACKAGES"`).
fn printed_packages(r: &Outcome, job: &str) -> Vec<serde_json::Value> {
    r.printed(job)
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l.trim()).ok())
        .filter_map(|v| v.as_array().cloned())
        .next_back()
        .unwrap_or_default()
}

/// The value of a step output act echoed (`::set-output:: name=value`), the last one.
fn set_output(r: &Outcome, name: &str) -> Option<String> {
    let key = format!("::set-output:: {name}=");
    r.log
        .lines()
        .filter_map(|l| l.split_once(&key).map(|(_, v)| v.trim().to_owned()))
        .next_back()
}

/// `line` without ANSI colour sequences (`ESC [ ... m`), as node's test runner colours its summary.
fn without_ansi(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// One act run of a package example on `branch`, returning the repository for the next run.
fn package_run(
    act: &'static crate::helpers::act::Act,
    repo: Repo,
    example: &'static str,
    branch: &str,
    gh: GithubAt,
    oidc: Option<&crate::helpers::fake_oidc::FakeOidc>,
    vars: Vec<(&'static str, String)>,
) -> impl FnOnce() -> (Repo, Outcome) + Send + 'static {
    let request_url = oidc.map(crate::helpers::fake_oidc::FakeOidc::request_url);
    let git_ref = format!("refs/heads/{branch}");
    move || {
        let mut run = Run::new(
            act,
            &repo,
            Mode::Host,
            &format!(".github/workflows/{example}.yml"),
        )
        .event("push", serde_json::json!({"ref": git_ref}))
        .github_at(&gh)
        .secret("GITHUB_TOKEN", "ghs_actpackagetoken0123456789");
        for (name, value) in &vars {
            run = run.var(name, value);
        }
        // The runner's OIDC variables, as a GitHub runner sets them for `id-token: write` (act sets none).
        if let Some(request_url) = &request_url {
            run = run.env("ACTIONS_ID_TOKEN_REQUEST_URL", request_url).env(
                "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
                crate::helpers::fake_oidc::REQUEST_TOKEN,
            );
        }
        let r = run.run();
        (repo, r)
    }
}

/// Seeds the fake GitHub with `sha` (message, parents) and points `branch` at it.
fn seed(
    gh: &crate::helpers::fake_github::FakeGithub,
    branch: &str,
    sha: &str,
    message: &str,
    parents: &[&str],
) {
    gh.seed_commit(sha, message, parents);
    gh.set_ref(&format!("refs/heads/{branch}"), sha);
}

/// A small npm package with no dependencies: `npm ci` needs the lockfile, `npm test` runs node's test runner.
fn npm_package(repo: Repo, name: &str, answer: u32) -> Repo {
    let lock = serde_json::json!({
        "name": name,
        "version": "0.0.0",
        "lockfileVersion": 3,
        "requires": true,
        "packages": {"": {"name": name, "version": "0.0.0", "license": "MIT"}},
    });
    repo.file(
        "package.json",
        &serde_json::to_string_pretty(&serde_json::json!({
            "name": name,
            "version": "0.0.0",
            "description": "stevedore act test package",
            "main": "index.js",
            "files": ["index.js"],
            "license": "MIT",
            "scripts": {"test": "node --test"},
        }))
        .unwrap(),
    )
    .file("package-lock.json", &serde_json::to_string_pretty(&lock).unwrap())
    .file("index.js", &format!("module.exports = {answer};\n"))
    .file(
        "index.test.js",
        &format!(
            "const test = require(\"node:test\");\nconst assert = require(\"node:assert\");\n\ntest(\"the answer\", () => {{\n  assert.strictEqual(require(\"./index.js\"), {answer});\n}});\n"
        ),
    )
}

/// examples/typescript-package.yml on pushes, in host mode, four runs in turn (same workflow, same act
/// container names):
/// 0. `main` under plain act (no OIDC variables): the job fails with an `::error` saying act has no OIDC
///    provider and naming `npm-token` / `pypi-token`; nothing is released, no exchange is asked.
/// 1. `main`, the trusted publisher names another repository: the exchange is refused (HTTP 404) after the
///    real `npm test` and `npm pack`; the job fails with an `::error` naming the Trusted Publisher settings
///    and `id-token: write`; nothing is tagged, released or uploaded.
/// 2. `main` again, the publisher fixed: `v1.1.0` tagged and released, `1.1.0` in Verdaccio under `latest`,
///    the exchanged token never shown.
/// 3. `dev`: the prerelease `v1.2.0-dev.1`, in Verdaccio under dist-tag `dev`; `latest` stays `1.1.0`.
///
/// Then the real npm client installs `latest` and `dev` from Verdaccio.
#[tokio::test]
async fn act_typescript_package_publishes_latest_from_main_dev_from_dev_and_a_refused_exchange_writes_nothing()
 {
    use crate::helpers::fake_oidc::{FakeOidc, Settings};
    use crate::helpers::registries::{Front, unique, verdaccio};
    let Some(act) = act() else {
        return;
    };
    let Some(npm) = verdaccio() else {
        return;
    };
    let npm_ok = std::process::Command::new("npm")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if crate::helpers::require(
        "node and npm (the example runs npm ci, npm test and npm pack)",
        npm_ok.then_some(()),
    )
    .is_none()
    {
        return;
    }
    let registry_token = npm.token().await;
    let front = Front::trusting(
        &npm.url,
        "octo-org/other-repo",
        "npm:127.0.0.1",
        &registry_token,
    )
    .await;
    let oidc = FakeOidc::start(Settings::default()).await;
    let gh = github().await;
    let gh_at = || GithubAt::of(&gh);
    let name = unique("act-ts");
    let stand_in = crate::helpers::runner::repo_root().join("tests/fixtures/act/setup-node");
    let repo = npm_package(example_repo("typescript-package"), &name, 42)
        .local_action("actions/setup-node@v4", stand_in);
    let first = repo.commit("chore: init");
    repo.git(&["tag", "v1.0.0"]);
    gh.seed_commit(&first, "chore: init", &[]);
    gh.set_ref("refs/tags/v1.0.0", &first);
    let head = repo.commit("feat: the answer (#2)");
    seed(&gh, "main", &head, "feat: the answer (#2)", &[&first]);
    let vars = vec![("NPM_REGISTRY", front.url.clone())];

    // 0. Plain act (no OIDC variables): trusted publishing cannot work; the job says what to set instead.
    let (repo, r) = blocking(package_run(
        act,
        repo,
        "typescript-package",
        "main",
        gh_at(),
        None,
        vars.clone(),
    ))
    .await;
    r.check(r.job_failed("release"), "no OIDC under act fails the job");
    let errors = r.errors("release");
    r.check(
        errors.iter().any(|e| {
            e.contains("act has no OIDC provider")
                && e.contains("`npm-token` / `pypi-token`")
                && !e.contains("AWS")
        }),
        &format!("the ::error says act has no OIDC and names the token inputs: {errors:?}"),
    );
    r.check(r.code != Some(0), "act exits non-zero");
    r.check(
        gh.releases().is_empty() && front.exchanges().is_empty(),
        "nothing released, no exchange asked",
    );

    // 1. The trusted publisher names another repository.
    let (repo, r) = blocking(package_run(
        act,
        repo,
        "typescript-package",
        "main",
        gh_at(),
        Some(&oidc),
        vars.clone(),
    ))
    .await;
    r.check(
        r.log.contains("setup-node stand-in: asked for node 22"),
        "the setup-node stand-in ran",
    );
    r.check(
        set_output(&r, "version").as_deref() == Some("1.1.0"),
        "the plan step's version output",
    );
    r.check(
        r.printed("release").iter().any(|l| {
            without_ansi(l)
                .trim_start_matches(['#', 'ℹ', ' '])
                .trim_end()
                == "pass 1"
        }),
        "the example's `npm test` ran the package's test (node's test runner: pass 1)",
    );
    r.check(
        r.printed_line("release", &format!("{name}-1.1.0.tgz")),
        "the example's `npm pack` packed version 1.1.0",
    );
    r.check(
        r.job_failed("release"),
        "the refused exchange fails the job",
    );
    let errors = r.errors("release");
    r.check(
        errors.iter().any(|e| {
            e.contains("trusted publishing to")
                && e.contains("HTTP 404")
                && e.contains(
                    "Trusted Publisher must name owner `octo-org`, repository `octo-repo`, workflow",
                )
                && e.contains("id-token: write")
        }),
        &format!(
            "the ::error names the exchange, its answer and the settings to check: {errors:?}"
        ),
    );
    r.check(r.code != Some(0), "act exits non-zero");
    r.check(
        !gh.refs().contains_key("refs/tags/v1.1.0") && gh.releases().is_empty(),
        &format!("nothing tagged or released: {:?}", gh.refs()),
    );
    r.check(
        npm.packument(&name).await.is_none(),
        "nothing uploaded to Verdaccio",
    );
    r.check(
        front.exchanges().last().map(|(_, s)| *s) == Some(404),
        &format!(
            "the exchange was asked and refused: {:?}",
            front.exchanges()
        ),
    );

    // 2. The publisher fixed: a re-run on main publishes 1.1.0 as `latest`.
    front.update(|t| t.repository = crate::helpers::act::REPOSITORY.into());
    let (mut repo, r) = blocking(package_run(
        act,
        repo,
        "typescript-package",
        "main",
        gh_at(),
        Some(&oidc),
        vars.clone(),
    ))
    .await;
    r.check(r.job_succeeded("release"), "the release job succeeds");
    r.check(r.errors("release").is_empty(), "no ::error");
    r.check(r.code == Some(0), "act exits 0");
    r.check(
        set_output(&r, "released").as_deref() == Some("true"),
        "the publish step's released output",
    );
    let out = printed_packages(&r, "release");
    r.check(
        out.len() == 1
            && out[0]["version"] == "1.1.0"
            && out[0]["dist-tag"] == "latest"
            && out[0]["outcome"] == "uploaded",
        &format!("the last step printed the packages output: {out:?}"),
    );
    r.check(
        gh.refs().get("refs/tags/v1.1.0") == Some(&head),
        &format!("v1.1.0 tags the pushed commit: {:?}", gh.refs()),
    );
    let releases = gh.releases();
    r.check(
        releases.len() == 1
            && releases[0]["tag_name"] == "v1.1.0"
            && releases[0]["prerelease"] == false,
        &format!("one release v1.1.0: {releases:?}"),
    );
    r.check(
        front.exchanges().last()
            == Some(&(format!("/-/npm/v1/oidc/token/exchange/package/{name}"), 201)),
        &format!("the exchange went through: {:?}", front.exchanges()),
    );
    let jwt = oidc.minted().pop().unwrap_or_default();
    r.check(
        stevedore::oidc::unverified_claims(&jwt).is_some_and(|c| c.aud.contains("npm:127.0.0.1")),
        "the OIDC token was minted for npm's audience",
    );
    r.check(
        !r.log.contains(&registry_token) && !r.log.contains(&jwt),
        "neither the exchanged registry token nor the OIDC token appears in act's output",
    );
    let doc = npm.packument(&name).await.unwrap_or_default();
    r.check(
        doc["dist-tags"]["latest"] == "1.1.0",
        &format!("Verdaccio: 1.1.0 is `latest`: {doc}"),
    );

    // 3. A push to dev: the prerelease goes to dist-tag `dev`, never `latest`.
    repo.git(&["checkout", "-q", "-b", "dev"]);
    repo = repo.file("index.js", "module.exports = 43;\n").file(
        "index.test.js",
        "const test = require(\"node:test\");\nconst assert = require(\"node:assert\");\n\ntest(\"the answer\", () => {\n  assert.strictEqual(require(\"./index.js\"), 43);\n});\n",
    );
    let dev = repo.commit("feat: a better answer (#3)");
    seed(&gh, "dev", &dev, "feat: a better answer (#3)", &[&head]);
    oidc.update(|s| s.git_ref = "refs/heads/dev".into());
    let (_repo, r) = blocking(package_run(
        act,
        repo,
        "typescript-package",
        "dev",
        gh_at(),
        Some(&oidc),
        vars,
    ))
    .await;
    r.check(
        r.job_succeeded("release"),
        "the release job succeeds on dev",
    );
    r.check(r.code == Some(0), "act exits 0");
    r.check(
        set_output(&r, "version").as_deref() == Some("1.2.0-dev.1"),
        "the prerelease version output",
    );
    let out = printed_packages(&r, "release");
    r.check(
        out.len() == 1 && out[0]["version"] == "1.2.0-dev.1" && out[0]["dist-tag"] == "dev",
        &format!("the prerelease went to dist-tag dev: {out:?}"),
    );
    r.check(
        gh.refs().get("refs/tags/v1.2.0-dev.1") == Some(&dev),
        &format!("v1.2.0-dev.1 tags the dev commit: {:?}", gh.refs()),
    );
    let releases = gh.releases();
    r.check(
        releases.len() == 2
            && releases
                .iter()
                .any(|x| x["tag_name"] == "v1.2.0-dev.1" && x["prerelease"] == true),
        &format!("a prerelease v1.2.0-dev.1: {releases:?}"),
    );
    let doc = npm.packument(&name).await.unwrap_or_default();
    r.check(
        doc["dist-tags"]["latest"] == "1.1.0" && doc["dist-tags"]["dev"] == "1.2.0-dev.1",
        &format!("Verdaccio: `latest` stays 1.1.0, `dev` is 1.2.0-dev.1: {doc}"),
    );

    // The real npm client installs both from Verdaccio (checking the integrity the packument lists).
    let consumer = tempfile::tempdir().unwrap();
    for (spec, version, answer) in [
        (name.clone(), "1.1.0", "42"),
        (format!("{name}@dev"), "1.2.0-dev.1", "43"),
    ] {
        let prefix = consumer.path().join(version);
        std::fs::create_dir_all(&prefix).unwrap();
        ok_output(
            std::process::Command::new("npm")
                .args(["install", &spec, "--prefix"])
                .arg(&prefix)
                .args(["--registry", &npm.url, "--no-audit", "--no-fund"])
                .env("npm_config_cache", consumer.path().join(".npm-cache"))
                .env("npm_config_update_notifier", "false"),
        );
        let installed: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(prefix.join(format!("node_modules/{name}/package.json")))
                .unwrap(),
        )
        .unwrap();
        assert_eq!(installed["version"], version, "`npm install {spec}`");
        assert_eq!(
            std::fs::read_to_string(prefix.join(format!("node_modules/{name}/index.js"))).unwrap(),
            format!("module.exports = {answer};\n"),
            "`npm install {spec}`"
        );
    }
    assert_github_clean(&gh);
}

/// A setuptools project whose `[project]` declares `version_line` (the example's `sed` rewrites a
/// `version = "..."` line).
fn python_package(repo: Repo, name: &str, version_line: &str, answer: u32) -> Repo {
    repo.file(
        "pyproject.toml",
        &format!(
            "[build-system]\nrequires = [\"setuptools>=61\"]\nbuild-backend = \"setuptools.build_meta\"\n\n[project]\nname = \"{name}\"\n{version_line}\ndescription = \"stevedore act test package\"\nrequires-python = \">=3.8\"\n\n[tool.setuptools]\npy-modules = [\"{name}\"]\n"
        ),
    )
    .file(&format!("{name}.py"), &format!("ANSWER = {answer}\n"))
}

/// examples/python-package.yml on pushes, in host mode, three runs in turn (same workflow, same act
/// container names); the example's own `pip install --upgrade build` and `python -m build` (isolated, so
/// setuptools comes from PyPI) run in the venv of the setup-python stand-in:
/// 1. `main`, with `pyproject.toml` spelling `version="0.0.0"` (no spaces), which the example's `sed` does
///    not rewrite: the built files carry `0.0.0`, publish refuses them before anything is written, with an
///    `::error` naming the files, their version and the line to write; nothing tagged, released or uploaded.
/// 2. `main` after a fix commit: `v1.1.0` tagged and released; the sdist and the wheel uploaded to
///    pypiserver with the token PyPI's trusted-publishing exchange minted (never shown in act's output).
/// 3. `dev`: git tag `v1.2.0-dev.1`, `1.2.0.dev1` on the index (PEP 440); pip takes it only with `--pre`.
#[tokio::test]
async fn act_python_package_publishes_from_main_and_dev_and_a_version_the_build_did_not_take_is_refused()
 {
    use crate::helpers::fake_oidc::{FakeOidc, Settings};
    use crate::helpers::registries::{Front, pypiserver, unique};
    let Some(act) = act() else {
        return;
    };
    let Some(py) = pypiserver() else {
        return;
    };
    let Some(python) = crate::helpers::require(
        "a Python with pip (STEVEDORE_TEST_PYTHON, set by .ci/run) to install what was published",
        std::env::var("STEVEDORE_TEST_PYTHON").ok(),
    ) else {
        return;
    };
    let venv_ok = std::process::Command::new("python3")
        .args(["-c", "import venv, ensurepip"])
        .output()
        .is_ok_and(|o| o.status.success());
    if crate::helpers::require(
        "python3 with venv and ensurepip (the setup-python stand-in makes a venv)",
        venv_ok.then_some(()),
    )
    .is_none()
    {
        return;
    }
    let front = Front::trusting(
        &py.url,
        crate::helpers::act::REPOSITORY,
        "pypi.loopback",
        &py.token,
    )
    .await;
    let oidc = FakeOidc::start(Settings {
        environment: Some("pypi".into()),
        ..Settings::default()
    })
    .await;
    let gh = github().await;
    let gh_at = || GithubAt::of(&gh);
    let name = unique("act_py").replace('-', "_");
    let stand_in = crate::helpers::runner::repo_root().join("tests/fixtures/act/setup-python");
    let repo = python_package(
        example_repo("python-package"),
        &name,
        "version=\"0.0.0\"",
        42,
    )
    .local_action("actions/setup-python@v5", stand_in);
    let first = repo.commit("chore: init");
    repo.git(&["tag", "v1.0.0"]);
    gh.seed_commit(&first, "chore: init", &[]);
    gh.set_ref("refs/tags/v1.0.0", &first);
    let bad = repo.commit("feat: the answer (#2)");
    seed(&gh, "main", &bad, "feat: the answer (#2)", &[&first]);
    // The loopback index is not pypi.org: the example's `pypi-audience` names its audience.
    let vars = vec![
        ("PYPI_REPOSITORY", format!("{}/", front.url)),
        ("PYPI_AUDIENCE", "pypi.loopback".to_owned()),
    ];
    let (sdist, wheel) = crate::helpers::registries::python_files(&name, "0.0.0");

    // 1. The version line the example's sed does not match: refused before anything is written.
    let (repo, r) = blocking(package_run(
        act,
        repo,
        "python-package",
        "main",
        gh_at(),
        Some(&oidc),
        vars.clone(),
    ))
    .await;
    r.check(
        r.log.contains("setup-python stand-in: asked for 3.12"),
        "the setup-python stand-in ran",
    );
    r.check(
        set_output(&r, "version").as_deref() == Some("1.1.0"),
        "the plan step's version output",
    );
    r.check(
        r.printed("release")
            .iter()
            .any(|l| without_ansi(l).contains(&format!("Successfully built {sdist} and {wheel}"))),
        "the example's `python -m build` built the sdist and the wheel (at 0.0.0)",
    );
    r.check(r.job_failed("release"), "the mismatch fails the job");
    let errors = r.errors("release");
    r.check(
        errors.iter().any(|e| {
            e.contains(&format!("`dist/{wheel}` carries version `0.0.0`"))
                && e.contains("version = \"1.1.0\"")
        }),
        &format!("the ::error names the file, its version and the line to write: {errors:?}"),
    );
    r.check(r.code != Some(0), "act exits non-zero");
    r.check(
        !gh.refs().contains_key("refs/tags/v1.1.0") && gh.releases().is_empty(),
        &format!("nothing tagged or released: {:?}", gh.refs()),
    );
    r.check(
        py.simple(&name).await.is_none(),
        "nothing uploaded to pypiserver",
    );
    r.check(
        front.exchanges().is_empty(),
        "no token was minted for a refused upload",
    );

    // 2. Fixed: a push to main publishes 1.1.0.
    let repo = python_package(repo, &name, "version = \"0.0.0\"", 42);
    let head = repo.commit("fix: a version line the release build rewrites (#3)");
    seed(
        &gh,
        "main",
        &head,
        "fix: a version line the release build rewrites (#3)",
        &[&bad],
    );
    let (mut repo, r) = blocking(package_run(
        act,
        repo,
        "python-package",
        "main",
        gh_at(),
        Some(&oidc),
        vars.clone(),
    ))
    .await;
    r.check(r.job_succeeded("release"), "the release job succeeds");
    r.check(r.errors("release").is_empty(), "no ::error");
    r.check(r.code == Some(0), "act exits 0");
    let out = printed_packages(&r, "release");
    r.check(
        out.len() == 2
            && out
                .iter()
                .all(|p| p["version"] == "1.1.0" && p["outcome"] == "uploaded"),
        &format!("the last step printed the packages output: {out:?}"),
    );
    r.check(
        gh.refs().get("refs/tags/v1.1.0") == Some(&head),
        &format!("v1.1.0 tags the pushed commit: {:?}", gh.refs()),
    );
    r.check(
        front.exchanges().last() == Some(&("/_/oidc/mint-token".to_owned(), 200)),
        &format!("the token was minted: {:?}", front.exchanges()),
    );
    r.check(
        !r.log.contains(&py.token),
        "the minted upload token never appears in act's output",
    );
    let (sdist, wheel) = crate::helpers::registries::python_files(&name, "1.1.0");
    let page = py.simple(&name).await.unwrap_or_default();
    r.check(
        page.contains(&sdist) && page.contains(&wheel),
        &format!("pypiserver lists the sdist and the wheel: {page}"),
    );

    // 3. A push to dev: 1.2.0-dev.1 as the git tag, 1.2.0.dev1 on the index.
    repo.git(&["checkout", "-q", "-b", "dev"]);
    repo = repo.file(&format!("{name}.py"), "ANSWER = 43\n");
    let dev = repo.commit("feat: a better answer (#4)");
    seed(&gh, "dev", &dev, "feat: a better answer (#4)", &[&head]);
    oidc.update(|s| s.git_ref = "refs/heads/dev".into());
    let (_repo, r) = blocking(package_run(
        act,
        repo,
        "python-package",
        "dev",
        gh_at(),
        Some(&oidc),
        vars,
    ))
    .await;
    r.check(
        r.job_succeeded("release"),
        "the release job succeeds on dev",
    );
    r.check(r.code == Some(0), "act exits 0");
    r.check(
        set_output(&r, "version").as_deref() == Some("1.2.0-dev.1"),
        "the prerelease version output",
    );
    let out = printed_packages(&r, "release");
    r.check(
        out.len() == 2 && out.iter().all(|p| p["version"] == "1.2.0.dev1"),
        &format!("the PEP 440 spelling went up: {out:?}"),
    );
    r.check(
        gh.refs().get("refs/tags/v1.2.0-dev.1") == Some(&dev),
        &format!("v1.2.0-dev.1 tags the dev commit: {:?}", gh.refs()),
    );
    r.check(
        gh.releases()
            .iter()
            .any(|x| x["tag_name"] == "v1.2.0-dev.1" && x["prerelease"] == true),
        &format!("a prerelease v1.2.0-dev.1: {:?}", gh.releases()),
    );

    // pip installs the stable release by default and the prerelease only with `--pre` (it checks the
    // sha256 the index lists).
    let site = tempfile::tempdir().unwrap();
    for (pre, answer) in [(false, "42"), (true, "43")] {
        let target = site.path().join(if pre { "pre" } else { "stable" });
        let mut pip = std::process::Command::new(&python);
        pip.args(["-m", "pip", "install", "--no-deps", "--no-cache-dir"])
            .args(["--disable-pip-version-check", "--only-binary", ":all:"])
            .args(["--index-url", &format!("{}/simple/", py.url), "--target"])
            .arg(&target)
            .env_remove("PIP_FIND_LINKS");
        if pre {
            pip.arg("--pre");
        }
        ok_output(pip.arg(&name));
        assert_eq!(
            std::fs::read_to_string(target.join(format!("{name}.py"))).unwrap(),
            format!("ANSWER = {answer}\n"),
            "pip install{} {name}",
            if pre { " --pre" } else { "" }
        );
    }
    assert_github_clean(&gh);
}

// ---- every example runs under act ----

/// Every file in examples/ is run by some act test: its name appears as an `example_repo("<name>")` call
/// in the sources of tests/it (read from the directory, so an example added later without an act run fails
/// here).
#[test]
fn every_example_is_run_under_act() {
    let root = crate::helpers::runner::repo_root();
    let mut sources = String::new();
    let mut stack = vec![root.join("tests/it")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                sources.push_str(&std::fs::read_to_string(&p).unwrap());
            }
        }
    }
    let mut examples: Vec<String> = std::fs::read_dir(root.join("examples"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    examples.sort();
    assert!(!examples.is_empty(), "examples/ is empty");
    let missing: Vec<String> = examples
        .iter()
        .filter_map(|file| {
            let name = file.strip_suffix(".yml").unwrap_or(file);
            let call = format!("example_repo(\"{name}\")");
            (!sources.contains(&call)).then(|| {
                format!("examples/{file}: no act test runs it (no `{call}` under tests/it)")
            })
        })
        .collect();
    assert!(
        missing.is_empty(),
        "every example must run under act (tests/it/act.rs, docs/act.md):\n{}",
        missing.join("\n")
    );
}
