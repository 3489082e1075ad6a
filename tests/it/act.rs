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
        .file("tests/test_app.py", "def test_add():\n    assert 1 + 1 == 2\n\n\ndef test_sub():\n    assert 2 - 1 == 2\n")
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
