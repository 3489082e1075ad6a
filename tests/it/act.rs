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
            refs.get("refs/tags/v1.1.0").is_none() && gh.releases().is_empty(),
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

#[tokio::test]
async fn act_release_workflow_releases_and_moves_v1_against_the_fake_github() {
    release_run(Mode::Host, false).await;
}

#[tokio::test]
async fn act_release_workflow_dispatch_dry_run_writes_nothing() {
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
