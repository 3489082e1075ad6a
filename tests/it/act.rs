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

use crate::helpers::act::{Mode, Outcome, Repo, Run, act};

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
    use crate::helpers::fake_github::FakeGithub;
    let Some(act) = act() else {
        return;
    };
    if !act.supports(mode) {
        return;
    }
    let gh = FakeGithub::start_for(crate::helpers::act::REPOSITORY).await;
    let (repo, head) = release_repo(&gh);
    let url = gh.url();
    let r = tokio::task::spawn_blocking(move || {
        let mut run = Run::new(act, &repo, mode, ".github/workflows/release.yml")
            .env("GITHUB_API_URL", &url)
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
    .await
    .unwrap();
    r.check(r.job_succeeded("release"), "the release job succeeds");
    r.check(r.code == Some(0), "act exits 0");
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
    gh.assert_no_violations();
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
fn example_repo(name: &str) -> Repo {
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
    use crate::helpers::fake_github::FakeGithub;
    let Some(act) = act() else {
        return;
    };
    if !act.supports(mode) {
        return;
    }
    let gh = FakeGithub::start_for(crate::helpers::act::REPOSITORY).await;
    for (title, good) in [
        ("feat(api): paginate the orders endpoint", true),
        ("Update stuff", false),
    ] {
        let repo = example_repo("versioned");
        let head = repo.commit("feat: work");
        gh.add_pr(7, title, &head, &[]);
        let url = gh.url();
        let payload = pr_payload(7, title, &head);
        let r = tokio::task::spawn_blocking(move || {
            Run::new(act, &repo, mode, ".github/workflows/versioned.yml")
                .event("pull_request", payload)
                .env("GITHUB_API_URL", &url)
                .secret("GITHUB_TOKEN", "ghs_actversionedtoken0123456789")
                .run()
        })
        .await
        .unwrap();
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
    gh.assert_no_violations();
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
    use crate::helpers::fake_github::FakeGithub;
    let Some(act) = act() else {
        return;
    };
    let gh = FakeGithub::start_for(crate::helpers::act::REPOSITORY).await;
    let repo = example_repo("versioned");
    let first = repo.commit("chore: init");
    repo.git(&["tag", "v1.0.0"]);
    let head = repo.commit("feat(api): orders endpoint (#3)");
    gh.seed_commit(&first, "chore: init", &[]);
    gh.seed_commit(&head, "feat(api): orders endpoint (#3)", &[&first]);
    gh.set_ref("refs/tags/v1.0.0", &first);
    gh.set_ref("refs/heads/main", &head);
    let url = gh.url();
    let r = tokio::task::spawn_blocking(move || {
        Run::new(act, &repo, Mode::Host, ".github/workflows/versioned.yml")
            .event("push", serde_json::json!({"ref": "refs/heads/main"}))
            .env("GITHUB_API_URL", &url)
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
    .await
    .unwrap();
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
    gh.assert_no_violations();
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

/// examples/serverless.yml, the `build` job of a push to main (`-j build`), in host mode: `pip install -t`
/// packages both Lambdas into the workspace and stevedore uploads reproducible bundles with
/// `metadata.json` to moto's S3 through the standard credential chain (act has no OIDC). Failure path: a
/// bucket that does not exist fails the job with an `::error` naming it. (The deploy jobs need OIDC-less
/// Lambda deploys against moto and are covered by the runner-model walk in `pipelines.rs`.)
#[tokio::test]
async fn act_serverless_build_uploads_bundles_and_a_missing_bucket_fails() {
    let Some(act) = act() else {
        return;
    };
    let Some(moto) = crate::helpers::moto::moto() else {
        return;
    };
    let endpoint = moto.endpoint.clone();
    let bucket = crate::helpers::moto::unique("act-artifacts");
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let creds = aws_credential_types::Credentials::new("testing", "testing", None, None, "test");
    let conf = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("eu-west-1"))
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(creds))
        .endpoint_url(&endpoint)
        .build();
    let s3 = aws_sdk_s3::Client::new(&conf);
    s3.create_bucket()
        .bucket(&bucket)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest1)
                .build(),
        )
        .send()
        .await
        .unwrap();
    for (target, good) in [(bucket.clone(), true), (format!("{bucket}-missing"), false)] {
        let repo = example_repo("serverless")
            .file("backend/requirements.txt", "# no dependencies\n")
            .file(
                "backend/src/app.py",
                "def handler(event, context):\n    return {\"ok\": True}\n",
            )
            .file("worker/requirements.txt", "# no dependencies\n")
            .file(
                "worker/src/worker.py",
                "def handler(event, context):\n    return None\n",
            );
        repo.commit("feat: lambdas");
        let endpoint = endpoint.clone();
        let bucket_var = target.clone();
        let r = tokio::task::spawn_blocking(move || {
            Run::new(act, &repo, Mode::Host, ".github/workflows/serverless.yml")
                .event("push", serde_json::json!({"ref": "refs/heads/main"}))
                .job("build")
                .var("ARTIFACTS_ACCOUNT_ID", "123456789012")
                .var("DEV_ACCOUNT_ID", "123456789012")
                .var("PROD_ACCOUNT_ID", "123456789012")
                .var("ARTIFACTS_BUCKET", &bucket_var)
                .env("AWS_ACCESS_KEY_ID", "testing")
                .env("AWS_SECRET_ACCESS_KEY", "testing")
                .env("AWS_ENDPOINT_URL", &endpoint)
                .run()
        })
        .await
        .unwrap();
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
