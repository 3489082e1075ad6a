//! Local use: `stevedore lint-gate` in a checkout, outside Actions, with no `checks` input. Detects the
//! project's checks, runs them in parallel (argv only, never a shell, nothing from the repository
//! interpolated into a command line beyond script *names* read from package.json and passed as one argument),
//! and judges their output with the same parsers as the action.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::cancel::Cancel;
use crate::env::Env;
use crate::report::{Annotation, Level};

use super::gate::CheckResult;
use super::parse::{self, Format, TestStats};
use super::paths::PathMap;

/// Where a check's machine-readable output is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Exit code only; the output tail is shown on failure.
    ExitCode,
    Stdout(Format),
    Stderr(Format),
    /// Stdout and stderr together, as text diagnostics.
    Combined(Format),
    /// libtest's human output (`cargo test`): counts and panic locations.
    Libtest,
    /// A file the tool writes (pytest `--junitxml`).
    File(PathBuf, Format),
}

/// One check to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalCheck {
    pub name: String,
    pub argv: Vec<String>,
    pub output: Output,
    /// Set when the tool is not on PATH: the check is skipped with this reason.
    pub missing: Option<String>,
}

/// What was detected.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LocalPlan {
    pub root: PathBuf,
    pub projects: Vec<&'static str>,
    pub checks: Vec<LocalCheck>,
}

/// Most bytes kept from one tool's stdout or stderr.
const MAX_CAPTURE: usize = 64 * 1024 * 1024;

fn which(env: &Env, tool: &str) -> bool {
    env.get("PATH")
        .is_some_and(|p| std::env::split_paths(p).any(|d| d.join(tool).is_file()))
}

impl LocalPlan {
    /// Adds the check `name`, running `argv`, its findings read from `output`; missing when its tool is
    /// not on `PATH`.
    fn add(&mut self, env: &Env, name: &str, argv: &[&str], output: Output) {
        let tool = argv[0];
        self.checks.push(LocalCheck {
            name: name.to_owned(),
            argv: argv.iter().map(|s| (*s).to_owned()).collect(),
            output,
            missing: (!which(env, tool)).then(|| format!("`{tool}` is not on PATH")),
        });
    }
}

/// Detects the checks of the project at `root`.
#[must_use]
pub fn detect(root: &Path, env: &Env) -> LocalPlan {
    let mut plan = LocalPlan {
        root: root.to_owned(),
        ..LocalPlan::default()
    };
    let has = |f: &str| root.join(f).exists();
    if has("Cargo.toml") {
        plan.projects.push("Cargo");
        plan.add(
            env,
            "Rust format",
            &["cargo", "fmt", "--all", "--check", "--", "--color", "never"],
            Output::Stdout(Format::Text),
        );
        plan.add(
            env,
            "Clippy",
            &["cargo", "clippy", "--all-targets", "--message-format=json"],
            Output::Stdout(Format::CargoJson),
        );
        plan.add(
            env,
            "Rust tests",
            &["cargo", "test", "--no-fail-fast"],
            Output::Libtest,
        );
    }
    if has("package.json") {
        plan.projects.push("Node");
        let pm = if has("pnpm-lock.yaml") {
            "pnpm"
        } else if has("yarn.lock") {
            "yarn"
        } else if has("bun.lockb") || has("bun.lock") {
            "bun"
        } else {
            "npm"
        };
        let scripts: Vec<String> = std::fs::read(root.join("package.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| {
                v.get("scripts")
                    .and_then(|s| s.as_object())
                    .map(|o| o.keys().cloned().collect())
            })
            .unwrap_or_default();
        for (script, name, output) in [
            ("lint", "Lint", Output::Combined(Format::Text)),
            ("typecheck", "Type check", Output::Combined(Format::Text)),
            ("type-check", "Type check", Output::Combined(Format::Text)),
            ("tsc", "Type check", Output::Combined(Format::Text)),
            ("test", "Tests", Output::ExitCode),
            ("build", "Build", Output::Combined(Format::Text)),
        ] {
            if scripts.iter().any(|s| s == script) && !plan.checks.iter().any(|c| c.name == name) {
                plan.add(env, name, &[pm, "run", script], output);
            }
        }
    }
    if has("pyproject.toml") || has("setup.py") || has("setup.cfg") || has("requirements.txt") {
        plan.projects.push("Python");
        plan.add(
            env,
            "Ruff",
            &["ruff", "check", "--output-format", "concise", "."],
            Output::Stdout(Format::Text),
        );
        plan.add(env, "Mypy", &["mypy", "."], Output::Stdout(Format::Text));
        let junit = env
            .path("TMPDIR")
            .unwrap_or_else(|| PathBuf::from("/tmp"))
            .join(format!(
                "stevedore-pytest-{:016x}.xml",
                rand::random::<u64>()
            ));
        let j = junit.to_string_lossy().into_owned();
        plan.add(
            env,
            "Pytest",
            &["pytest", "-q", "--junitxml", &j],
            Output::File(junit, Format::Junit),
        );
    }
    if has("go.mod") {
        plan.projects.push("Go");
        plan.add(
            env,
            "Go vet",
            &["go", "vet", "./..."],
            Output::Stderr(Format::Text),
        );
        plan.add(env, "Go tests", &["go", "test", "./..."], Output::ExitCode);
    }
    plan
}

/// The plan as lines for the terminal.
#[must_use]
pub fn describe(plan: &LocalPlan) -> String {
    if plan.checks.is_empty() {
        return format!(
            "  no Cargo.toml, package.json, pyproject.toml/setup.py/requirements.txt or go.mod in {}: nothing to run\n",
            plan.root.display()
        );
    }
    let mut s = format!(
        "  detected: {} (in {})\n",
        plan.projects.join(", "),
        plan.root.display()
    );
    for c in &plan.checks {
        s.push_str(&format!(
            "  - {}: {}{}\n",
            c.name,
            c.argv.join(" "),
            c.missing
                .as_deref()
                .map(|m| format!("  [skipped: {m}]"))
                .unwrap_or_default()
        ));
    }
    s
}

/// Runs every check of `plan` concurrently and judges each.
pub async fn run_all(plan: LocalPlan, paths: &PathMap, cancel: &Cancel) -> Vec<CheckResult> {
    run_all_with(plan, paths, cancel, run_one).await
}

/// [`run_all`] with the per-check runner given (tests make one panic). A check whose task panics or
/// is aborted is reported as a failed check, never dropped: the gate cannot go green without it. Every
/// profile unwinds (Cargo.toml), so this holds in the shipped binary too.
pub async fn run_all_with<F, Fut>(
    plan: LocalPlan,
    paths: &PathMap,
    cancel: &Cancel,
    run: F,
) -> Vec<CheckResult>
where
    F: Fn(LocalCheck, PathBuf, PathMap, Cancel) -> Fut,
    Fut: Future<Output = CheckResult> + Send + 'static,
{
    let mut set = tokio::task::JoinSet::new();
    let mut names = std::collections::HashMap::new();
    for (i, c) in plan.checks.into_iter().enumerate() {
        let name = c.name.clone();
        let fut = run(c, plan.root.clone(), paths.clone(), cancel.clone());
        let handle = set.spawn(async move { (i, fut.await) });
        names.insert(handle.id(), (i, name));
    }
    let mut out = Vec::new();
    while let Some(j) = set.join_next_with_id().await {
        match j {
            Ok((_, r)) => out.push(r),
            Err(e) => {
                let Some((i, name)) = names.get(&e.id()).cloned() else {
                    tracing::error!("a check task stopped: {e}");
                    continue;
                };
                let r = if e.is_panic() {
                    super::gate::panicked(&name, true, e.into_panic().as_ref())
                } else {
                    let why = format!("the check's task stopped before it finished: {e}");
                    tracing::error!(check = %name, "{why}");
                    let mut r = CheckResult::new(&name, true);
                    r.fail(why);
                    r
                };
                out.push((i, r));
            }
        }
    }
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, r)| r).collect()
}

async fn run_one(c: LocalCheck, root: PathBuf, paths: PathMap, cancel: Cancel) -> CheckResult {
    let (root, paths, cancel) = (root.as_path(), &paths, &cancel);
    let mut r = CheckResult::new(&c.name, true);
    if let Some(m) = &c.missing {
        r.skipped = true;
        r.reasons.push(format!("Skipped: {m}."));
        return r;
    }
    let mut cmd = tokio::process::Command::new(&c.argv[0]);
    cmd.args(&c.argv[1..])
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let started = std::time::Instant::now();
    let out = tokio::select! {
        o = cmd.output() => o,
        () = cancel.cancelled() => {
            r.fail("Cancelled.");
            return r;
        }
    };
    let out = match out {
        Ok(o) => o,
        Err(e) => {
            r.fail(format!("`{}` could not start: {e}", c.argv.join(" ")));
            return r;
        }
    };
    tracing::info!(check = %c.name, elapsed_ms = started.elapsed().as_millis() as u64, status = %out.status, "check finished");
    let cap = |b: &[u8]| b[..b.len().min(MAX_CAPTURE)].to_vec();
    let (stdout, stderr) = (cap(&out.stdout), cap(&out.stderr));
    let name = Path::new(&c.name);
    let parsed = match &c.output {
        Output::ExitCode => None,
        Output::Stdout(f) => Some(parse::parse_bytes(&stdout, name, *f, paths)),
        Output::Stderr(f) => Some(parse::parse_bytes(&stderr, name, *f, paths)),
        Output::Combined(f) => Some(parse::parse_bytes(
            &[stdout.as_slice(), b"\n", stderr.as_slice()].concat(),
            name,
            *f,
            paths,
        )),
        Output::Libtest => {
            let (stats, anns) = libtest(
                &String::from_utf8_lossy(&[stdout.as_slice(), b"\n", stderr.as_slice()].concat()),
                paths,
            );
            r.tests = Some(stats);
            r.annotations.extend(anns);
            None
        }
        Output::File(p, f) => {
            let res = parse::parse_file(p, *f, paths);
            if let Err(e) = std::fs::remove_file(p) {
                tracing::debug!("cannot remove {}: {e}", p.display());
            }
            Some(res)
        }
    };
    match parsed {
        Some(Ok(p)) => r.absorb(p),
        Some(Err(e)) => r.reasons.push(format!("Output not understood: {e}")),
        None => {}
    }
    if !out.status.success() {
        r.fail(match out.status.code() {
            Some(code) => format!("`{}` exited with code {code}.", c.argv.join(" ")),
            None => format!("`{}` was killed by a signal.", c.argv.join(" ")),
        });
        if r.annotations.is_empty() {
            let all = String::from_utf8_lossy(&[stdout.as_slice(), stderr.as_slice()].concat())
                .into_owned();
            let tail: Vec<&str> = all.lines().rev().take(30).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            r.details = crate::report::markdown::code("", &tail.join("\n"));
        }
    }
    r.conclude();
    r
}

/// libtest's human output: `test a::b ... ok|FAILED|ignored` lines and `panicked at path:line:col:`.
/// Each panic's annotation carries the panic message (the assertion and its `left`/`right` values) and
/// the tail of the test's captured output (its `---- name stdout ----` section), so the terminal shows them.
#[must_use]
pub fn libtest(out: &str, paths: &PathMap) -> (TestStats, Vec<Annotation>) {
    let mut s = TestStats::default();
    let mut anns = Vec::new();
    let lines: Vec<&str> = out.lines().collect();
    // The test whose captured output is being read, and that output.
    let mut section: Option<(String, Vec<&str>)> = None;
    for (n, line) in lines.iter().enumerate() {
        if let Some(name) = line
            .strip_prefix("---- ")
            .and_then(|r| r.strip_suffix(" stdout ----"))
        {
            section = Some((name.to_owned(), Vec::new()));
            continue;
        }
        if *line == "failures:" {
            section = None;
        }
        if let Some((_, out)) = &mut section {
            out.push(line);
        }
        if let Some(rest) = line.strip_prefix("test ") {
            if rest.ends_with(" ... ok") {
                s.passed += 1;
            } else if rest.ends_with(" ... FAILED") {
                s.failed += 1;
            } else if rest.ends_with(" ... ignored") || rest.contains(" ... ignored, ") {
                s.skipped += 1;
            }
        } else if let Some(i) = line
            .find(" panicked at ")
            .filter(|_| line.starts_with("thread '"))
        {
            let thread = line["thread '".len()..]
                .split('\'')
                .next()
                .unwrap_or_default();
            let loc = line[i + " panicked at ".len()..].trim_end_matches(':');
            let message: Vec<&str> = lines[n + 1..]
                .iter()
                .take_while(|l| {
                    !l.trim().is_empty()
                        && !l.starts_with("note: run with `RUST_BACKTRACE")
                        && !l.starts_with("stack backtrace:")
                        && !l.starts_with("thread '")
                        && !l.starts_with("---- ")
                })
                .copied()
                .collect();
            if let Some((p, l)) = super::junit::split_location(loc) {
                let mut a = Annotation::new(
                    Level::Error,
                    paths.relativize(&p),
                    l,
                    if message.is_empty() {
                        format!("test {thread} panicked")
                    } else {
                        format!("test {thread} panicked: {}", message.join("\n"))
                    },
                )
                .with_title(format!("Test failed: {thread}"));
                if let Some((name, out)) = &section
                    && name == thread
                {
                    // The output before the panic line: what the test printed.
                    let before: Vec<&str> = out[..out.len().saturating_sub(1)]
                        .iter()
                        .copied()
                        .filter(|l| !l.trim().is_empty())
                        .collect();
                    if !before.is_empty() {
                        let tail = &before[before.len().saturating_sub(TEST_OUTPUT_TAIL)..];
                        a.message.push_str(&format!(
                            "\nlast {} line(s) of the test's output:\n{}",
                            tail.len(),
                            tail.join("\n")
                        ));
                    }
                }
                anns.push(a);
            }
        }
    }
    (s, anns)
}

/// Lines of a failing test's own output kept with its finding.
const TEST_OUTPUT_TAIL: usize = 20;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_reads_manifests_and_lockfiles() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("Cargo.toml"), "[package]").unwrap();
        std::fs::write(
            d.path().join("package.json"),
            r#"{"scripts":{"lint":"eslint .","test":"jest","typecheck":"tsc"}}"#,
        )
        .unwrap();
        std::fs::write(d.path().join("pnpm-lock.yaml"), "").unwrap();
        let bin = d.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        std::fs::write(bin.join("cargo"), "").unwrap();
        let env = Env::from_pairs([("PATH", bin.display().to_string())]);
        let plan = detect(d.path(), &env);
        assert_eq!(plan.projects, ["Cargo", "Node"]);
        let names: Vec<_> = plan
            .checks
            .iter()
            .map(|c| (c.name.as_str(), c.argv.join(" "), c.missing.is_some()))
            .collect();
        assert_eq!(
            names,
            [
                (
                    "Rust format",
                    "cargo fmt --all --check -- --color never".to_owned(),
                    false
                ),
                (
                    "Clippy",
                    "cargo clippy --all-targets --message-format=json".to_owned(),
                    false
                ),
                ("Rust tests", "cargo test --no-fail-fast".to_owned(), false),
                ("Lint", "pnpm run lint".to_owned(), true),
                ("Type check", "pnpm run typecheck".to_owned(), true),
                ("Tests", "pnpm run test".to_owned(), true),
            ]
        );
        assert!(describe(&plan).contains("[skipped: `pnpm` is not on PATH]"));
    }

    #[test]
    fn libtest_output_gives_counts_and_panics() {
        let out = "running 3 tests\ntest tests::adds ... ok\ntest tests::ignored ... ignored\ntest tests::adds_wrong ... FAILED\n\nthread 'tests::adds_wrong' (23844) panicked at src/lib.rs:25:9:\nassertion failed\n";
        let (s, a) = libtest(out, &PathMap::new("/nonexistent"));
        assert_eq!(
            s,
            TestStats {
                passed: 1,
                failed: 1,
                skipped: 1
            }
        );
        assert_eq!((a[0].path.as_str(), a[0].start_line), ("src/lib.rs", 25));
        assert_eq!(
            a[0].title.as_deref(),
            Some("Test failed: tests::adds_wrong")
        );
        assert_eq!(
            a[0].message,
            "test tests::adds_wrong panicked: assertion failed"
        );
    }

    #[test]
    fn a_failed_assertion_keeps_its_values_and_the_tests_output() {
        let out = "running 2 tests\ntest pipelines::deploys ... FAILED\ntest other ... ok\n\nfailures:\n\n---- pipelines::deploys stdout ----\npushing image\ncontainer name in use: stevedore-it-web\n\nthread 'pipelines::deploys' (99) panicked at tests/it/pipelines.rs:120:5:\nassertion `left == right` failed: exit code\n  left: 1\n right: 0\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n\n\nfailures:\n    pipelines::deploys\n\ntest result: FAILED. 1 passed; 1 failed\n";
        let (s, a) = libtest(out, &PathMap::new("/nonexistent"));
        assert_eq!((s.passed, s.failed), (1, 1));
        assert_eq!(a.len(), 1);
        assert_eq!(
            (a[0].path.as_str(), a[0].start_line),
            ("tests/it/pipelines.rs", 120)
        );
        assert_eq!(
            a[0].message,
            "test pipelines::deploys panicked: assertion `left == right` failed: exit code\n  left: 1\n right: 0\nlast 2 line(s) of the test's output:\npushing image\ncontainer name in use: stevedore-it-web"
        );
        assert_eq!(a[0].raw_details, None);
    }
}
