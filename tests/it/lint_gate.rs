//! lint-gate end to end, in-process and in the real image: a sample repository with a failing test, a lint warning, coverage
//! below the floor, a failed step without results, a stale generated file and a bad PR title.

use crate::helpers::{has, lacks};
use std::path::Path;
use std::process::Command;

use crate::helpers::fake_github::FakeGithub;
use crate::helpers::require;
use crate::helpers::run::Step;

fn fixture(p: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/lint")
        .join(p)
}

fn git(dir: &Path, args: &[&str]) {
    let st = Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(st.success(), "git {args:?}");
}

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(from, to).unwrap();
}

/// Builds the sample repository in `ws`; returns false when git is missing (set-up only; stevedore uses gix).
fn sample_repo(ws: &Path) -> bool {
    let has_git = Command::new("git")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if require(
        "git (to create the sample repository)",
        has_git.then_some(()),
    )
    .is_none()
    {
        return false;
    }
    copy(&fixture("sample-rust/src/lib.rs"), &ws.join("src/lib.rs"));
    copy(&fixture("sample-rust/Cargo.toml"), &ws.join("Cargo.toml"));
    copy(
        &fixture("sample-python/calc/ops.py"),
        &ws.join("calc/ops.py"),
    );
    copy(
        &fixture("sample-python/tests/test_ops.py"),
        &ws.join("tests/test_ops.py"),
    );
    std::fs::create_dir_all(ws.join("generated")).unwrap();
    std::fs::write(
        ws.join("generated/api.rs"),
        "pub const VERSION: u32 = 1;\npub fn a() {}\n",
    )
    .unwrap();
    std::fs::write(
        ws.join(".gitignore"),
        "target/\n.coverage\n__pycache__/\ndist/\n",
    )
    .unwrap();
    git(ws, &["init", "-q"]);
    git(ws, &["add", "."]);
    git(ws, &["commit", "-qm", "init"]);
    // What earlier workflow steps leave behind: real reports (written by the producer's own paths, i.e. a
    // different workspace), a regenerated file and a new generated file, and a build output that is ignored.
    copy(
        &fixture("sample-rust/nextest-junit.xml"),
        &ws.join("target/nextest/ci/junit.xml"),
    );
    copy(
        &fixture("sample-rust/clippy.json"),
        &ws.join("reports/clippy.json"),
    );
    copy(
        &fixture("sample-python/coverage.xml"),
        &ws.join("reports/coverage.xml"),
    );
    copy(
        &fixture("sample-python/bandit.sarif"),
        &ws.join("reports/bandit.sarif"),
    );
    std::fs::write(
        ws.join("generated/api.rs"),
        "pub const VERSION: u32 = 2;\npub fn a() {}\n",
    )
    .unwrap();
    std::fs::write(ws.join("generated/client.rs"), "pub fn client() {}\n").unwrap();
    std::fs::write(ws.join("target/debug.txt"), "ignored build output\n").unwrap();
    // Ordinary ignored leftovers of a Python test run and a package build (issue 30).
    std::fs::write(ws.join(".coverage"), "SQLite format 3\0").unwrap();
    std::fs::create_dir_all(ws.join("calc/__pycache__")).unwrap();
    std::fs::write(
        ws.join("calc/__pycache__/ops.cpython-312.pyc"),
        b"\x0d\x0d\x0a\0",
    )
    .unwrap();
    std::fs::create_dir_all(ws.join("dist")).unwrap();
    std::fs::write(ws.join("dist/calc-0.1.0.tar.gz"), b"\x1f\x8b").unwrap();
    true
}

/// Hands the workspace to another uid (as on a runner, where the container user differs), when we can.
fn chown_to_another_user(dir: &Path) -> bool {
    fn walk(p: &Path) -> std::io::Result<()> {
        std::os::unix::fs::lchown(p, Some(4321), Some(4321))?;
        if p.is_dir() && !p.is_symlink() {
            for e in std::fs::read_dir(p)? {
                walk(&e?.path())?;
            }
        }
        Ok(())
    }
    walk(dir).is_ok()
}

const CHECKS: &str = r"
- name: Tests
  outcome: failure
  results:
    - path: target/nextest/ci/*.xml
      format: junit
    - reports/coverage.xml
  coverage-floor: 80
- name: Clippy
  outcome: success
  results: reports/clippy.json
  format: cargo-json
- name: Type check
  outcome: failure
  results:
    - path: reports/mypy.txt
      format: text
- name: Security
  outcome: success
  results: reports/*.sarif
  advisory: true
";

#[tokio::test]
async fn a_failing_repository_fails_the_gate_with_every_reason() {
    let step = Step::new();
    if !sample_repo(&step.workspace) {
        return;
    }
    let foreign = chown_to_another_user(&step.workspace);
    let gh = FakeGithub::start().await;
    let r = step
        .input("mode", "lint-gate")
        .input("github-token", "ghs_faketoken0123456789")
        .var("GITHUB_API_URL", &gh.url())
        .input("checks", CHECKS)
        .input("generated-files", "required")
        .input("pr-title-scopes", "api, gate")
        .event(
            "pull_request",
            serde_json::json!({"number": 7, "pull_request": {"number": 7, "title": "Added coverage gate",
                "head": {"sha": "fedcba9876543210fedcba9876543210fedcba98", "ref": "f", "repo": {"full_name": "octo-org/octo-repo"}},
                "base": {"ref": "main", "repo": {"full_name": "octo-org/octo-repo"}}}}),
        )
        .run()
        .await;
    eprintln!("{}\n{}", r.stdout, r.summary);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert_eq!(r.output("verdict"), Some("failure"));

    // Outputs per check.
    let outputs: std::collections::HashMap<_, _> = r.outputs.iter().cloned().collect();
    let expect = [
        ("tests-verdict", "failure"),
        ("tests-tests-passed", "1"),
        ("tests-tests-failed", "2"),
        ("tests-coverage", "72.97"),
        ("clippy-verdict", "success"),
        ("clippy-findings", "2"),
        ("type-check-verdict", "failure"),
        ("security-verdict", "neutral"),
        ("generated-files-up-to-date-verdict", "failure"),
        ("generated-files-up-to-date-findings", "2"),
        ("pr-title-verdict", "failure"),
        (
            "failed-checks",
            "Tests,Type check,Security,Generated files up to date,PR title",
        ),
    ];
    for (k, v) in expect {
        assert_eq!(
            outputs.get(k).map(String::as_str),
            Some(v),
            "output {k}: {outputs:#?}"
        );
    }

    // Annotations as workflow commands, at repository-relative paths although the producers wrote others.
    let lines: Vec<&str> = r.stdout.lines().filter(|l| l.starts_with("::")).collect();
    let has_line = |prefix: &str| lines.iter().any(|l| l.starts_with(prefix));
    assert!(
        has_line(
            "::error title=Test failed%3A sample-rust%3A%3Atests%3A%3Aadds_wrong,file=src/lib.rs,line=25,"
        ),
        "{lines:#?}"
    );
    assert!(
        has_line(
            "::error title=Test failed%3A sample-rust%3A%3Atests%3A%3Apanics_loudly,file=src/lib.rs,line=30,"
        ),
        "{lines:#?}"
    );
    assert!(
        has_line(
            "::warning title=warning clippy%3A%3Aptr_arg,file=src/lib.rs,line=5,endLine=5,col=24,endColumn=32::writing `&Vec`"
        ),
        "{lines:#?}"
    );
    assert!(
        has_line(
            "::error title=Generated file out of date,file=generated/api.rs,line=1,endLine=1::modified by the build"
        ),
        "{lines:#?}"
    );
    assert!(
        has_line(
            "::error title=Generated file out of date,file=generated/client.rs,line=1,endLine=1::new by the build"
        ),
        "{lines:#?}"
    );
    // Security is advisory: its findings are warnings, never errors.
    assert!(
        has_line("::warning title=Bandit B602,file=calc/ops.py,line=26"),
        "{lines:#?}"
    );
    assert!(!has_line("::error title=Bandit"), "{lines:#?}");
    // The failing PR title is said as an error (it is in no file, so no finding carries it).
    let title = lines
        .iter()
        .find(|l| l.starts_with("::error title=PR title::"))
        .unwrap_or_else(|| panic!("no PR title error: {lines:#?}"));
    assert!(
        title.starts_with("::error title=PR title::The title `Added coverage gate` is not a Conventional Commit header. "),
        "{title}"
    );
    assert!(
        title.ends_with(
            " Edit the pull request's title: the check runs again on the `edited` event when the workflow lists it (`on: pull_request: types: [opened, synchronize, reopened, edited]`), else on the next push."
        ),
        "{title}"
    );
    // One error says why and what to do, before every finding (the runner keeps only the first 10
    // errors of a step); only the PR title, said while the gate ran, comes before it.
    let verdict = lines.iter().position(|l| {
        *l == "::error title=stevedore lint-gate::4 of 5 required check(s) failed: Tests, Type check, Generated files up to date, PR title%0AFix what the failing check(s) report (annotations, check runs and the job summary list every finding), then push again."
    });
    let first_finding = lines.iter().position(|l| l.contains(",file="));
    assert!(verdict.is_some() && verdict < first_finding, "{lines:#?}");
    // Declared result files and ignored build output are not "stale generated files".
    lacks(&r.stdout, "file=reports/");
    lacks(&r.stdout, "target/debug.txt");
    for leftover in [".coverage", "__pycache__", "dist/"] {
        assert!(!r.stdout.contains(leftover), "{leftover}: {}", r.stdout);
    }
    // The fix names both ways out: commit generated sources, ignore leftovers.
    assert!(
        has_line(
            "::error title=Generated file out of date,file=generated/client.rs,line=1,endLine=1::new by the build, neither tracked nor ignored: commit it if it is generated source; if it is a build or test leftover, add it to `.gitignore` or to `generated-files-ignore`"
        ),
        "{lines:#?}"
    );
    has(&r.summary, "list their globs in `generated-files-ignore`");

    // The summary (job summary and sticky comment body): the table and each failure explained.
    let s = &r.summary;
    has(
        s,
        "lint-gate: 4 of 5 required check(s) failed: Tests, Type check, Generated files up to date, PR title\n",
    );
    has(
        s,
        "| Tests | ❌ failure | 2 error(s) | 1 passed, 2 failed | 72.97% (floor 80%) |",
    );
    has(s, "| Clippy | ✅ success | 2 warning(s) | – | – |");
    has(
        s,
        "| Security | ⚠️ failed (advisory) | 1 error(s), 1 notice(s) | – | – |",
    );
    has(s, "- Line coverage 72.97% is below the floor of 80%.");
    has(
        s,
        "- The step failed and wrote no result file matching `reports/mypy.txt`",
    );
    has(
        s,
        "-pub const VERSION: u32 = 1;\n+pub const VERSION: u32 = 2;",
    );
    has(
        s,
        "The title `Added coverage gate` is not a Conventional Commit header.",
    );
    has(s, "```\nfeat: added coverage gate\n```");
    // One check run per check, with its annotations; one sticky comment with the table.
    gh.assert_no_violations();
    let runs = gh.check_runs();
    let by_name = |n: &str| {
        runs.iter()
            .find(|c| c.name == format!("stevedore / lint-gate / {n}"))
            .unwrap_or_else(|| {
                panic!(
                    "no check run for {n}: {:?}",
                    runs.iter().map(|c| &c.name).collect::<Vec<_>>()
                )
            })
    };
    let expect_runs = [
        ("Tests", "failure", 2),
        ("Clippy", "success", 2),
        ("Type check", "failure", 0),
        ("Security", "neutral", 2),
        ("Generated files up to date", "failure", 2),
        ("PR title", "failure", 0),
    ];
    for (name, conclusion, annotations) in expect_runs {
        let c = by_name(name);
        assert_eq!(c.conclusion.as_deref(), Some(conclusion), "{name}");
        assert_eq!(
            c.annotations.len(),
            annotations,
            "{name}: {:?}",
            c.annotations
        );
        assert_eq!(c.head_sha, "fedcba9876543210fedcba9876543210fedcba98");
    }
    // The overall run and each declared check are created `in_progress` when the mode starts (before
    // the mode's verdict exists); the built-in checks (generated files, PR title) are created at the end.
    let check_run_requests: Vec<String> = gh
        .requests()
        .into_iter()
        .filter(|q| q.route.contains("/check-runs"))
        .map(|q| match q.method.as_str() {
            "POST" => format!(
                "create {} {}",
                q.body["name"].as_str().unwrap(),
                q.body["status"].as_str().unwrap()
            ),
            m => m.to_owned(),
        })
        .collect();
    assert_eq!(
        check_run_requests[..5],
        [
            "create stevedore / lint-gate in_progress",
            "create stevedore / lint-gate / Tests in_progress",
            "create stevedore / lint-gate / Clippy in_progress",
            "create stevedore / lint-gate / Type check in_progress",
            "create stevedore / lint-gate / Security in_progress",
        ],
        "{check_run_requests:#?}"
    );
    // The mode ran between these and the rest: each started run is completed (PATCH), not created again.
    assert_eq!(
        check_run_requests
            .iter()
            .filter(|r| r.starts_with("create "))
            .count(),
        7,
        "{check_run_requests:#?}"
    );
    assert_eq!(runs.len(), 7, "one run per check, none twice");
    assert!(runs.iter().all(|c| c.status == "completed"), "{runs:?}");
    // report-url is the overall run.
    let overall = by_name_full(&runs, "stevedore / lint-gate");
    assert!(
        r.output("report-url")
            .unwrap()
            .ends_with(&format!("/runs/{}", overall.id)),
        "{:?}",
        r.output("report-url")
    );
    let tests = by_name("Tests");
    assert_eq!(tests.annotations[0]["path"], "src/lib.rs");
    assert_eq!(tests.annotations[0]["start_line"], 25);
    assert_eq!(tests.annotations[0]["annotation_level"], "failure");
    assert!(
        tests
            .text
            .as_deref()
            .unwrap()
            .contains("`calc/ops.py` | 57.1% | 12/21"),
        "{:?}",
        tests.text
    );
    let comments = gh.comments(7);
    assert_eq!(comments.len(), 1);
    let body = &comments[0].body;
    has(
        body,
        "| Tests | ❌ failure | 2 error(s) | 1 passed, 2 failed | 72.97% (floor 80%) |",
    );
    has(body, "feat: added coverage gate");
    has(body, "<!-- stevedore:lint-gate");
    if foreign {
        eprintln!("the workspace was owned by uid 4321 during the run");
    }
}

#[tokio::test]
async fn a_clean_repository_passes_and_advisory_failures_only_warn() {
    let step = Step::new();
    if !sample_repo(&step.workspace) {
        return;
    }
    // Commit everything the "generators" changed: the workspace now matches the index.
    git(&step.workspace, &["add", "generated"]);
    let r = step
        .input("mode", "lint-gate")
        .input(
            "checks",
            "- name: Lint\n  outcome: success\n  results: reports/clippy.json\n  format: cargo-json\n- name: Security\n  outcome: success\n  results: reports/bandit.sarif\n  required: false\n",
        )
        .input("generated-files", "required")
        .input("generated-files-ignore", "target/**\nreports/coverage.xml")
        .event(
            "pull_request",
            serde_json::json!({"number": 8, "pull_request": {"number": 8, "title": "feat(gate): judge checks", "head": {"sha": "abc"}, "base": {"ref": "main"}}}),
        )
        .exits(0)
        .await;
    assert_eq!(r.output("verdict"), Some("neutral"));
    assert_eq!(r.output("failed-checks"), Some("Security"));
    assert_eq!(
        r.output("generated-files-up-to-date-verdict"),
        Some("success")
    );
    assert_eq!(r.output("pr-title-verdict"), Some("success"));
}

/// With a personal access token GitHub refuses check runs whatever `permissions:` says: the note says what
/// helps (another token), and the commit status describes tests as tests.
#[tokio::test]
async fn a_personal_token_falls_back_to_statuses_that_count_tests_and_says_what_helps() {
    use crate::helpers::fake_github::Fault;
    let step = Step::new();
    std::fs::write(
        step.workspace.join("junit.xml"),
        r#"<testsuite name="s" tests="3" failures="0"><testcase classname="a" name="t1" time="0.1"/><testcase classname="a" name="t2" time="0.1"/><testcase classname="a" name="t3" time="0.1"/></testsuite>"#,
    )
    .unwrap();
    let gh = FakeGithub::start().await;
    gh.fault(
        "POST /repos/{owner}/{repo}/check-runs",
        Fault {
            status: 403,
            message: "Resource not accessible by personal access token".into(),
            headers: Vec::new(),
            times: None,
        },
    );
    let r = step
        .input("mode", "lint-gate")
        .input("github-token", "ghp_0123456789abcdefghijklmnopqrstuvwxyz")
        .var("GITHUB_API_URL", &gh.url())
        .input(
            "checks",
            "- name: Tests\n  outcome: success\n  results: junit.xml\n",
        )
        .input("generated-files", "off")
        .exits(0)
        .await;
    gh.assert_no_violations();
    let st = gh.statuses();
    let tests = st
        .iter()
        .find(|(_, s)| s["context"] == "stevedore / lint-gate / Tests")
        .unwrap_or_else(|| panic!("{st:?}"));
    assert_eq!(tests.1["description"], "3 test(s) passed");
    assert_eq!(tests.1["state"], "success");
    has(
        &r.summary,
        "The `github-token` is a personal access token, and GitHub lets only the workflow's GITHUB_TOKEN or a GitHub App installation token create check runs (no `permissions:` entry changes that). To get check runs with annotations, leave `github-token` at its default (the workflow's GITHUB_TOKEN, with `permissions: checks: write`) or pass a GitHub App installation token (e.g. from actions/create-github-app-token).",
    );
    lacks(&r.summary, "add `permissions: checks: write` to the job");
}

#[tokio::test]
async fn bad_checks_input_lists_every_problem_and_exits_2() {
    let r = Step::new()
        .input("mode", "lint-gate")
        .input(
            "checks",
            "- name: Tests\n  outcome: broken\n  results: out.bin\n- results: a.xml\n",
        )
        .input("generated-files", "sometimes")
        .exits(2)
        .await;
    let errors: Vec<&str> = r
        .stdout
        .lines()
        .filter(|l| l.starts_with("::error"))
        .collect();
    assert_eq!(errors.len(), 4, "{errors:#?}");
    has(errors[0], "check 1 (\"Tests\"): `outcome` is `broken`");
    has(
        errors[1],
        "check 1 (\"Tests\"): `results[0].format` is missing",
    );
    has(errors[2], "check 2: `name` is missing");
    has(errors[3], "input `generated-files` = `sometimes`");
}

#[tokio::test]
async fn a_local_dry_run_prints_the_detected_plan_and_spawns_nothing() {
    let step = Step::new()
        .var("GITHUB_ACTIONS", "false")
        .var("CI", "false");
    std::fs::write(
        step.workspace.join("Cargo.toml"),
        "[package]\nname = \"x\"\n",
    )
    .unwrap();
    std::fs::write(
        step.workspace.join("pyproject.toml"),
        "[project]\nname = \"x\"\n",
    )
    .unwrap();
    let bin = step.dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(bin.join("cargo"), "").unwrap();
    let r = step
        .var("PATH", &bin.display().to_string())
        .input("mode", "lint-gate")
        .input("dry-run", "true")
        .exits(0)
        .await;
    has(&r.stdout, "detected: Cargo, Python");
    has(
        &r.stdout,
        "- Clippy: cargo clippy --all-targets --message-format=json",
    );
    has(
        &r.stdout,
        "- Ruff: ruff check --output-format concise .  [skipped: `ruff` is not on PATH]",
    );
    assert_eq!(r.output("verdict"), Some("skipped"));
}

/// Writes a JUnit file with `cases` test cases (every tenth failing, with a stack trace) and a SARIF file with
/// `findings` results, shaped like nextest's and a scanner's output.
pub fn write_bench_inputs(dir: &Path, cases: usize, findings: usize) {
    use std::fmt::Write as _;
    let mut x = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"nextest-run\">\n",
    );
    for s in 0..cases / 100 {
        let _ = writeln!(x, "  <testsuite name=\"crate{s}\" tests=\"100\">");
        for c in 0..100 {
            let n = s * 100 + c;
            if n % 10 == 0 {
                let _ = writeln!(
                    x,
                    "    <testcase name=\"tests::case_{n}\" classname=\"crate{s}\" time=\"0.01\"><failure message=\"thread &apos;tests::case_{n}&apos; panicked at src/m{s}.rs:{c}:9\" type=\"test failure\">thread &apos;tests::case_{n}&apos; panicked at src/m{s}.rs:{c}:9:\nassertion `left == right` failed\n  left: 1\n right: 2\nstack backtrace:\n   0: std::panicking::begin_panic\n   1: crate{s}::tests::case_{n}\n             at ./src/m{s}.rs:{c}:9</failure></testcase>"
                );
            } else {
                let _ = writeln!(
                    x,
                    "    <testcase name=\"tests::case_{n}\" classname=\"crate{s}\" time=\"0.01\"/>"
                );
            }
        }
        x.push_str("  </testsuite>\n");
    }
    x.push_str("</testsuites>\n");
    std::fs::write(dir.join("junit.xml"), x).unwrap();
    let results: Vec<serde_json::Value> = (0..findings)
        .map(|i| {
            serde_json::json!({
                "ruleId": format!("R{}", i % 50), "level": if i % 5 == 0 { "error" } else { "warning" },
                "message": {"text": format!("finding number {i}: something is not right here")},
                "locations": [{"physicalLocation": {"artifactLocation": {"uri": format!("file:///home/runner/work/r/r/src/f{}.rs", i % 200)}, "region": {"startLine": i % 400 + 1, "startColumn": 5}}}]
            })
        })
        .collect();
    let sarif = serde_json::json!({"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "bench"}}, "results": results}]});
    std::fs::write(dir.join("findings.sarif"), sarif.to_string()).unwrap();
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// `cargo test --test it bench_lint_gate -- --ignored --nocapture`: the gate's overhead for 10,000 test cases
/// and 5,000 findings (parse + judge + report + fan-out to outputs, summary and workflow commands).
#[tokio::test]
#[ignore = "benchmark: prints figures"]
async fn bench_lint_gate() {
    let step = Step::new();
    write_bench_inputs(&step.workspace, 10_000, 5_000);
    let rss_before = peak_rss_kib();
    // Parse and judge alone (library API), then the whole step (plus report building and the fan-out).
    let parse_started = std::time::Instant::now();
    let specs = stevedore::modes::lint_gate::checks::parse(
        "- name: Tests\n  results: junit.xml\n- name: Scan\n  results: findings.sarif\n",
    )
    .unwrap();
    let paths = stevedore::modes::lint_gate::paths::PathMap::new(&step.workspace);
    let mut per_check = Vec::new();
    let judged: Vec<_> = specs
        .iter()
        .map(|s| {
            let t = std::time::Instant::now();
            let r = stevedore::modes::lint_gate::gate::judge(s, &paths);
            per_check.push(format!("{} {} ms", s.name, t.elapsed().as_millis()));
            r
        })
        .collect();
    let parse_ms = parse_started.elapsed().as_millis();
    let report_started = std::time::Instant::now();
    let report = stevedore::modes::lint_gate::gate::report(&judged, None);
    let report_ms = report_started.elapsed().as_millis();
    assert_eq!(report.annotations().count(), 6000);
    drop((judged, report));
    let started = std::time::Instant::now();
    let r = step
        .input("mode", "lint-gate")
        .input(
            "checks",
            "- name: Tests\n  results: junit.xml\n- name: Scan\n  results: findings.sarif\n",
        )
        .input("pr-title", "off")
        .run()
        .await;
    let elapsed = started.elapsed();
    assert_eq!(r.code, 1);
    assert_eq!(r.output("tests-tests-failed"), Some("1000"));
    assert_eq!(r.output("tests-tests-passed"), Some("9000"));
    assert_eq!(r.output("scan-findings"), Some("5000"));
    println!(
        "BENCH lint-gate: 10000 test cases (1000 failing) + 5000 SARIF findings: parse+judge {parse_ms} ms ({}), report {report_ms} ms, whole step {} ms (debug build), peak RSS {} KiB (before: {} KiB)",
        per_check.join(", "),
        elapsed.as_millis(),
        peak_rss_kib(),
        rss_before
    );
}

/// `stevedore lint-gate` in a Cargo checkout, outside Actions: detects fmt, clippy and test, runs them (real
/// cargo, in parallel), parses clippy's JSON and libtest's output, and prints the table.
#[tokio::test]
async fn locally_it_runs_the_detected_cargo_checks() {
    let has_cargo = Command::new("cargo")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if require("cargo", has_cargo.then_some(())).is_none() {
        return;
    }
    let step = Step::new()
        .var("GITHUB_ACTIONS", "false")
        .var("CI", "false");
    copy(
        &fixture("sample-rust/Cargo.toml"),
        &step.workspace.join("Cargo.toml"),
    );
    copy(
        &fixture("sample-rust/src/lib.rs"),
        &step.workspace.join("src/lib.rs"),
    );
    let path = std::env::var("PATH").unwrap();
    let r = step
        .var("PATH", &path)
        .input("mode", "lint-gate")
        .exits(1)
        .await;
    let out = |k: &str| {
        r.output(k)
            .unwrap_or_else(|| panic!("output {k}: {:?}", r.outputs))
            .to_owned()
    };
    assert_eq!(out("rust-format-verdict"), "success");
    assert_eq!(out("clippy-verdict"), "success");
    assert_eq!(out("clippy-findings"), "2");
    assert_eq!(out("rust-tests-verdict"), "failure");
    assert_eq!(
        (
            out("rust-tests-tests-passed"),
            out("rust-tests-tests-failed")
        ),
        ("1".to_owned(), "2".to_owned())
    );
    has(&r.stdout, "detected: Cargo");
    let table = r
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("CHECK"))
        .take(4)
        .collect::<Vec<_>>()
        .join("\n");
    has(
        &table,
        "Rust tests   ❌ failure  2 error(s)    1 passed, 2 failed, 1 skipped",
    );
    has(&r.stdout, "file=src/lib.rs,line=25");
    // The finding says what failed: the assertion and its values, not just "panicked".
    has(
        &r.stdout,
        "file=src/lib.rs,line=25,endLine=25::test tests::adds_wrong panicked: assertion `left == right` failed: two and two%0A  left: 4%0A right: 5\n",
    );
    has(&r.stdout, "clippy%3A%3Aptr_arg,file=src/lib.rs,line=5");
}

fn by_name_full<'a>(
    runs: &'a [crate::helpers::fake_github::CheckRun],
    name: &str,
) -> &'a crate::helpers::fake_github::CheckRun {
    runs.iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no check run {name}"))
}

/// A check whose task panics is a failed check, never a missing one (issue 20): the gate cannot go green
/// without it. The same holds for judging declared checks (`gate::guarded`).
#[tokio::test]
async fn a_check_that_panics_is_reported_as_failed_not_dropped() {
    use stevedore::modes::lint_gate::{gate, local, paths::PathMap};
    let dir = tempfile::tempdir().unwrap();
    let check = |name: &str| local::LocalCheck {
        name: name.to_owned(),
        argv: vec!["true".to_owned()],
        output: local::Output::ExitCode,
        missing: None,
    };
    let plan = local::LocalPlan {
        root: dir.path().to_owned(),
        projects: vec!["Cargo"],
        checks: vec![check("Rust format"), check("Rust tests"), check("Clippy")],
    };
    let paths = PathMap::new(dir.path());
    let results = local::run_all_with(
        plan,
        &paths,
        &stevedore::cancel::Cancel::never(),
        |c, _root, _paths, _cancel| async move {
            assert!(c.name != "Rust tests", "index out of range in the judge");
            gate::CheckResult::new(&c.name, true)
        },
    )
    .await;
    let names: Vec<(&str, bool)> = results
        .iter()
        .map(|r| (r.name.as_str(), r.failed))
        .collect();
    assert_eq!(
        names,
        [
            ("Rust format", false),
            ("Rust tests", true),
            ("Clippy", false)
        ]
    );
    assert_eq!(
        results[1].reasons,
        [
            "stevedore panicked while running or judging this check: index out of range in the judge. This is a bug in stevedore; please report it with this message."
        ]
    );
    let report = gate::report(&results, None);
    assert_eq!(report.verdict, stevedore::report::Verdict::Failure);
    assert_eq!(report.title, "1 of 3 required check(s) failed: Rust tests");

    let judged = gate::guarded("Tests", true, || panic!("{} is not a number", "x"));
    assert!(judged.failed);
    assert_eq!(
        judged.reasons,
        [
            "stevedore panicked while running or judging this check: x is not a number. This is a bug in stevedore; please report it with this message."
        ]
    );
}

/// Inside Actions the image has no toolchains: without `checks` nothing is detected or spawned.
#[tokio::test]
async fn in_actions_without_checks_nothing_is_spawned() {
    let step = Step::new();
    std::fs::write(
        step.workspace.join("Cargo.toml"),
        "[package]\nname = \"x\"\n",
    )
    .unwrap();
    let r = step.input("mode", "lint-gate").exits(0).await;
    has(&r.stdout, "(no `checks` input: only the built-in checks)");
    lacks(&r.stdout, "detected:");
    assert_eq!(r.output("verdict"), Some("skipped"));
    assert_eq!(r.output("failed-checks"), Some(""));
}

/// The same failing repository, judged by the real image in podman started exactly as actions/runner
/// starts a Docker action (workspace at /github/workspace, file commands under /github/file_commands,
/// `--network host` to reach the fake GitHub on loopback). Paths the producers wrote (absolute runner
/// paths) must still come out repository-relative, and gix must read the index without a git binary.
#[tokio::test]
async fn the_real_image_fails_the_gate_on_the_failing_repository() {
    use crate::helpers::runner::{ContainerStep, Profile};
    let step = ContainerStep::new(Profile::Runner);
    if !sample_repo(&step.workspace) {
        return;
    }
    let gh = FakeGithub::start().await;
    let Some(r) = step
        .network_host()
        .input("mode", "lint-gate")
        .input("github-token", "ghs_faketoken0123456789")
        .var("GITHUB_API_URL", &gh.url())
        .input("checks", CHECKS)
        .input("generated-files", "required")
        .input("pr-title-scopes", "api, gate")
        .event(
            "pull_request",
            serde_json::json!({"number": 7, "pull_request": {"number": 7, "title": "Added coverage gate",
                "head": {"sha": "fedcba9876543210fedcba9876543210fedcba98", "ref": "f", "repo": {"full_name": "octo-org/octo-repo"}},
                "base": {"ref": "main", "repo": {"full_name": "octo-org/octo-repo"}}}}),
        )
        .run()
        .await
    else {
        return;
    };
    assert_eq!(r.code, 1, "{}", r.logs());
    assert_eq!(r.output("verdict"), Some("failure"));
    assert_eq!(
        r.output("failed-checks"),
        Some("Tests,Type check,Security,Generated files up to date,PR title"),
        "{}",
        r.logs()
    );
    assert_eq!(r.output("tests-coverage"), Some("72.97"));
    assert_eq!(r.output("generated-files-up-to-date-findings"), Some("2"));
    for prefix in [
        "::error title=Test failed%3A sample-rust%3A%3Atests%3A%3Aadds_wrong,file=src/lib.rs,line=25,",
        "::warning title=warning clippy%3A%3Aptr_arg,file=src/lib.rs,line=5,",
        "::error title=Generated file out of date,file=generated/api.rs,line=1,",
        "::error title=Generated file out of date,file=generated/client.rs,line=1,",
    ] {
        assert!(
            r.stdout.lines().any(|l| l.starts_with(prefix)),
            "missing {prefix}\n{}",
            r.logs()
        );
    }
    has(
        &r.summary,
        "| Tests | ❌ failure | 2 error(s) | 1 passed, 2 failed | 72.97% (floor 80%) |",
    );
    gh.assert_no_violations();
    let per_check = gh
        .check_runs()
        .iter()
        .filter(|c| c.name.starts_with("stevedore / lint-gate / "))
        .count();
    assert_eq!(per_check, 6, "one check run per check");
    let comments = gh.comments(7);
    assert_eq!(comments.len(), 1);
    assert!(comments[0].body.contains("feat: added coverage gate"));
}

/// Real reports of other producers (the fixtures of dorny/test-reporter and mikepenz/action-junit-report,
/// tests/fixtures/lint/peers), judged in a workspace laid out differently from the producers' machines:
/// disabled tests are skipped, failures land on the file and line the report states (on the failure
/// element, in a JVM frame naming only `AddMissingPatchVersionTest.java`, or under another machine's
/// absolute path), no annotation or reason names a path of another machine or of this one, and a format
/// that is not JUnit fails its check, named relative to the workspace.
#[tokio::test]
async fn peer_reports_are_counted_and_placed_in_this_workspace() {
    let step = Step::new();
    let ws = &step.workspace.clone();
    let java = "pulsar-common/src/test/java/org/apache/pulsar/AddMissingPatchVersionTest.java";
    let php = "tools/phpcheckstyle/test/OtherTest.php";
    let py = "backend/tests/test_always_fails.py";
    for f in [java, php, py] {
        std::fs::create_dir_all(ws.join(f).parent().unwrap()).unwrap();
        std::fs::write(ws.join(f), "// source\n").unwrap();
    }
    for f in [
        "mikepenz-action-junit-report/testDisabled.xml",
        "mikepenz-action-junit-report/report_fl_on_f.xml",
        "mikepenz-action-junit-report/flaky_all_failures.xml",
        "dorny-test-reporter/TEST-org.apache.pulsar.AddMissingPatchVersionTest.xml",
        "dorny-test-reporter/phpcheckstyle-phpunit.xml",
        "dorny-test-reporter/dotnet-nunit.xml",
    ] {
        let name = f.rsplit('/').next().unwrap();
        copy(
            &fixture(&format!("peers/{f}")),
            &ws.join("reports").join(name),
        );
    }
    let checks = "
- name: Tests
  outcome: success
  results:
    - reports/report_fl_on_f.xml
    - reports/flaky_all_failures.xml
    - reports/TEST-*.xml
    - reports/phpcheckstyle-phpunit.xml
  format: junit
- name: Native
  outcome: success
  results: reports/testDisabled.xml
  format: junit
  advisory: true
- name: NUnit
  outcome: success
  results: reports/dotnet-nunit.xml
  format: junit
";
    let r = step
        .input("mode", "lint-gate")
        .input("checks", checks)
        .input("generated-files", "off")
        .run()
        .await;
    eprintln!("{}\n{}", r.stdout, r.summary);
    assert_eq!(r.code, 1, "{}", r.stdout);
    let outputs: std::collections::HashMap<_, _> = r.outputs.iter().cloned().collect();
    for (k, v) in [
        // report_fl_on_f 3 + 1, flaky 0 + 3, TestNG 0 + 1 (1 skipped), phpunit 28 + 2.
        ("tests-tests-passed", "31"),
        ("tests-tests-failed", "7"),
        // 22 tests, 10 of them `status='disabled'`, 4 failures and 2 errors.
        ("native-tests-passed", "6"),
        ("native-tests-failed", "6"),
        ("native-verdict", "neutral"),
        ("nunit-verdict", "failure"),
    ] {
        assert_eq!(
            outputs.get(k).map(String::as_str),
            Some(v),
            "output {k}: {outputs:#?}"
        );
    }
    let lines: Vec<&str> = r.stdout.lines().filter(|l| l.starts_with("::")).collect();
    let at = |file: &str, line: u32| {
        lines
            .iter()
            .filter(|l| {
                l.starts_with("::error ") && l.contains(&format!(",file={file},line={line},"))
            })
            .count()
    };
    assert_eq!(at("main.c", 38), 1, "{lines:#?}");
    assert_eq!(at(java, 29), 1, "{lines:#?}");
    assert_eq!(at(php, 24), 1, "{lines:#?}");
    assert_eq!(at(php, 40), 1, "{lines:#?}");
    assert_eq!(at(py, 10), 3, "{lines:#?}");
    assert_eq!(at("reports/dotnet-nunit.xml", 1), 1, "{lines:#?}");
    let root = ws.to_string_lossy().into_owned();
    for text in [r.stdout.as_str(), r.summary.as_str()] {
        lacks(text, &root);
        lacks(text, "file=/");
    }
    has(
        &r.stdout,
        "::`reports/dotnet-nunit.xml` is not valid junit: no <testsuites> or <testsuite> element",
    );
    has(
        &r.summary,
        "`reports/dotnet-nunit.xml` could not be read as junit: `reports/dotnet-nunit.xml` is not valid junit",
    );
}

/// The runner attaches only the first 10 error annotations of a step and drops the rest silently
/// (actions/toolkit `docs/problem-matchers.md`, "Limitations"). With 12 error findings the verdict
/// `::error` (why the step failed, what to do) comes first, and the findings stop at 9: the runner keeps
/// all ten, and the other three are in the check run and the summary.
#[tokio::test]
async fn with_twelve_error_findings_the_verdict_is_the_first_error_the_runner_keeps() {
    use crate::helpers::workflow_commands::parse;
    let step = Step::new();
    let ws = step.workspace.clone();
    std::fs::create_dir_all(ws.join("src")).unwrap();
    std::fs::write(ws.join("src/app.js"), "x;\n".repeat(20)).unwrap();
    let messages: Vec<serde_json::Value> = (1..=12)
        .map(|i| {
            serde_json::json!({"ruleId": "no-undef", "severity": 2, "message": format!("'v{i}' is not defined."),
                "line": i, "column": 1})
        })
        .collect();
    std::fs::write(
        ws.join("eslint.json"),
        serde_json::json!([{"filePath": ws.join("src/app.js"), "messages": messages}]).to_string(),
    )
    .unwrap();
    let r = step
        .input("mode", "lint-gate")
        .input(
            "checks",
            "- name: Lint\n  outcome: failure\n  results: eslint.json\n  format: eslint\n",
        )
        .input("generated-files", "off")
        .exits(1)
        .await;
    let errors: Vec<_> = parse(&r.stdout)
        .into_iter()
        .filter(|c| c.name == "error")
        .collect();
    assert_eq!(
        errors[0].props.get("title").map(String::as_str),
        Some("stevedore lint-gate"),
        "{errors:#?}"
    );
    assert!(
        errors[0]
            .data
            .starts_with("1 of 1 required check(s) failed: Lint\n"),
        "{errors:#?}"
    );
    // Ten errors in all: the verdict, then the first nine findings in order.
    assert_eq!(errors.len(), 10, "{errors:#?}");
    for (i, e) in errors[1..].iter().enumerate() {
        assert_eq!(
            e.props.get("file").map(String::as_str),
            Some("src/app.js"),
            "{e:?}"
        );
        assert_eq!(e.props.get("line"), Some(&(i + 1).to_string()), "{e:?}");
    }
    assert!(
        r.summary.contains("3 more finding(s) are in the check run")
            || r.summary.contains("All 12 findings"),
        "{}",
        r.summary
    );
}
