//! Judging checks and building the report: one check run per check, a summary table for the job summary
//! and the sticky comment, outputs per check.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::inputs::Mode;
use crate::report::markdown;
use crate::report::{Annotation, CheckReport, Level, Report, Verdict};

use super::checks::{CheckSpec, Outcome};
use super::parse::{self, Coverage, TestStats};
use super::paths::PathMap;

/// Most files one glob may match (a glob like `**/*.xml` in a big repository is a mistake).
const MAX_FILES_PER_GLOB: usize = 1_000;
/// Most directory entries visited while expanding one glob.
const MAX_WALK_ENTRIES: usize = 500_000;
/// Summary budget: the sticky comment allows 65,536 characters, check-run summaries 65,535 bytes.
pub const SUMMARY_BUDGET: usize = 60_000;

/// The judged state of one check.
#[derive(Clone, Debug, Default)]
pub struct CheckResult {
    pub name: String,
    pub required: bool,
    /// The check's own verdict (Failure even when advisory).
    pub failed: bool,
    pub skipped: bool,
    /// Why it failed or what to know, one sentence each.
    pub reasons: Vec<String>,
    pub annotations: Vec<Annotation>,
    /// Findings beyond the per-file cap (counted, not annotated).
    pub dropped: usize,
    /// Error-level findings from lint/type/security reports (not test failures).
    pub lint_errors: usize,
    pub tests: Option<TestStats>,
    pub coverage: Option<Coverage>,
    pub coverage_floor: Option<f64>,
    /// Result files read, repository-relative.
    pub files: Vec<String>,
    /// Extra Markdown for the check run and the summary (diffs, title explanation, tool output).
    pub details: String,
}

impl CheckResult {
    #[must_use]
    pub fn new(name: impl Into<String>, required: bool) -> Self {
        Self {
            name: name.into(),
            required,
            ..Self::default()
        }
    }

    /// The verdict as reported: advisory failures are `Neutral`.
    #[must_use]
    pub fn verdict(&self) -> Verdict {
        match (self.failed, self.skipped, self.required) {
            (true, _, true) => Verdict::Failure,
            (true, _, false) => Verdict::Neutral,
            (false, true, _) => Verdict::Skipped,
            (false, false, _) => Verdict::Success,
        }
    }

    pub fn fail(&mut self, reason: impl Into<String>) {
        self.failed = true;
        self.reasons.push(reason.into());
    }

    #[must_use]
    pub fn count(&self, level: Level) -> usize {
        self.annotations.iter().filter(|a| a.level == level).count()
    }

    /// Adds a parsed file's findings and statistics.
    pub fn absorb(&mut self, p: parse::Parsed) {
        if p.tests.is_none() {
            self.lint_errors += p
                .annotations
                .iter()
                .filter(|a| a.level == Level::Error)
                .count();
        }
        self.annotations.extend(p.annotations);
        self.dropped += p.dropped;
        if let Some(t) = p.tests {
            self.tests.get_or_insert_with(TestStats::default).add(t);
        }
        if let Some(c) = p.coverage {
            self.coverage.get_or_insert_with(Coverage::default).merge(c);
        }
    }

    /// Applies the rules that turn statistics into a verdict (call after all files are absorbed).
    pub fn conclude(&mut self) {
        if let Some(t) = self.tests.filter(|t| t.failed > 0) {
            self.fail(format!("{} of {} test(s) failed.", t.failed, t.total()));
        }
        if self.lint_errors > 0 {
            self.fail(format!("{} error finding(s).", self.lint_errors));
        }
        if let Some(floor) = self.coverage_floor {
            match self.coverage.as_ref().and_then(Coverage::percent) {
                Some(p) if p + 1e-9 < floor => {
                    self.fail(format!(
                        "Line coverage {p:.2}% is below the floor of {floor}%."
                    ));
                }
                Some(_) => {}
                None => self.fail(format!(
                    "A coverage floor of {floor}% is set but no coverage report measured any line."
                )),
            }
        }
    }
}

/// `judge` runs inside this: a check whose judging panics is a failed check, never a missing one.
#[must_use]
pub fn guarded(name: &str, required: bool, f: impl FnOnce() -> CheckResult) -> CheckResult {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|p| panicked(name, required, p.as_ref()))
}

/// The failed result of a check whose code panicked (`payload` is the panic's).
#[must_use]
pub fn panicked(name: &str, required: bool, payload: &(dyn std::any::Any + Send)) -> CheckResult {
    let msg = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned());
    let why = format!(
        "stevedore panicked while running or judging this check: {msg}. This is a bug in stevedore; please report it with this message."
    );
    tracing::error!(check = %name, "{why}");
    let mut r = CheckResult::new(name, required);
    r.fail(why);
    r
}

/// Judges a declared check from its step outcome and result files.
pub fn judge(spec: &CheckSpec, paths: &PathMap) -> CheckResult {
    let mut r = CheckResult::new(&spec.name, spec.required);
    r.coverage_floor = spec.coverage_floor;
    let mut found_any = false;
    for res in &spec.results {
        let Expanded { files, outside } = match expand(paths, &res.glob) {
            Ok(f) => f,
            Err(e) => {
                r.fail(e);
                continue;
            }
        };
        for o in &outside {
            found_any = true;
            r.fail(format!(
                "`{o}` (from `{}`) resolves outside the workspace and `RUNNER_TEMP` (links followed), so it was not read. Write the result file inside the workspace or `RUNNER_TEMP`, and do not point links out of them.",
                res.glob
            ));
        }
        if files.is_empty() && outside.is_empty() {
            let why = match spec.outcome {
                Some(Outcome::Failure) => format!(
                    "The step failed and wrote no result file matching `{}`: it probably stopped before producing it; read its log.",
                    res.glob
                ),
                Some(Outcome::Skipped) | Some(Outcome::Cancelled) => continue,
                _ => format!(
                    "No file matches `{}` ({}); check the path (relative to the workspace) and that the step wrote it.",
                    res.glob, res.format
                ),
            };
            r.fail(why);
            continue;
        }
        for f in files {
            found_any = true;
            let rel = paths.relativize(&f.to_string_lossy());
            match parse::parse_file(&f, res.format, paths) {
                Ok(p) => r.absorb(p),
                Err(e) => {
                    r.annotations.push(
                        Annotation::new(Level::Error, rel.clone(), 1, e.to_string())
                            .with_title(format!("Unreadable {} report", res.format)),
                    );
                    r.fail(format!("`{rel}` could not be read as {}: {e}", res.format));
                }
            }
            r.files.push(rel);
        }
    }
    match spec.outcome {
        Some(Outcome::Failure) => {
            r.fail("The step's outcome is `failure`.");
        }
        Some(Outcome::Cancelled) => r.fail("The step was cancelled."),
        Some(Outcome::Skipped) if !found_any => {
            r.skipped = true;
            r.reasons.push("The step was skipped.".into());
        }
        _ => {}
    }
    r.conclude();
    r
}

/// What a result glob matched.
#[derive(Debug, Default)]
pub struct Expanded {
    /// Files to read, inside the workspace or `RUNNER_TEMP` after following links; sorted.
    pub files: Vec<PathBuf>,
    /// Matches (or the glob's base folder, or a folder link met on the walk) that resolve elsewhere, as
    /// written relative to the workspace: never opened.
    pub outside: Vec<String>,
}

/// Files under the workspace matching `glob` (repository-relative, or absolute), sorted. Walks only below
/// the glob's literal prefix and never into `.git`. Every match is checked with
/// [`PathMap::resolve_readable`]: links are followed only when they stay inside the workspace or
/// `RUNNER_TEMP`.
pub fn expand(paths: &PathMap, glob: &str) -> Result<Expanded, String> {
    let root = paths.root();
    let shown = |p: &Path| {
        p.strip_prefix(root)
            .unwrap_or(p)
            .to_string_lossy()
            .replace('\\', "/")
    };
    let mut ex = Expanded::default();
    let g = glob.trim().trim_start_matches("./");
    let matcher = globset::GlobBuilder::new(g)
        .literal_separator(true)
        .build()
        .map_err(|e| format!("`{glob}` is not a valid glob: {e}"))?
        .compile_matcher();
    let literal: Vec<&str> = g
        .split('/')
        .take_while(|s| !s.contains(['*', '?', '[', '{']))
        .collect();
    if literal.len() == g.split('/').count() {
        let p = root.join(g);
        if p.symlink_metadata().is_ok() {
            match paths.resolve_readable(&p) {
                Some(c) if c.is_file() => ex.files.push(p),
                Some(_) => {}
                None => ex.outside.push(shown(&p)),
            }
        }
        return Ok(ex);
    }
    let start = root.join(literal.join("/"));
    if start.symlink_metadata().is_ok() && paths.resolve_readable(&start).is_none() {
        ex.outside.push(shown(&start));
        return Ok(ex);
    }
    let mut out = Vec::new();
    let mut stack = vec![start];
    let mut visited = 0usize;
    let descend_node_modules = g.contains("node_modules");
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            visited += 1;
            if visited > MAX_WALK_ENTRIES {
                return Err(format!(
                    "`{glob}` walks more than {MAX_WALK_ENTRIES} entries; make it more specific"
                ));
            }
            let p = e.path();
            let Ok(mut ft) = e.file_type() else { continue };
            let name = e.file_name();
            if ft.is_symlink() {
                // Followed only when it resolves inside; a link out is named, never opened.
                let target = paths
                    .resolve_readable(&p)
                    .and_then(|c| std::fs::metadata(c).ok());
                match target {
                    // A folder link inside is not descended (its files are reached by their own path).
                    Some(m) if m.is_dir() => continue,
                    Some(m) => ft = m.file_type(),
                    None => {
                        let is_dir = std::fs::metadata(&p).is_ok_and(|m| m.is_dir());
                        if is_dir || matcher.is_match(shown(&p)) {
                            ex.outside.push(shown(&p));
                        }
                        continue;
                    }
                }
            }
            if ft.is_dir() {
                if name != ".git" && (descend_node_modules || name != "node_modules") {
                    stack.push(p);
                }
            } else if ft.is_file() {
                let rel = p
                    .strip_prefix(root)
                    .unwrap_or(&p)
                    .to_string_lossy()
                    .replace('\\', "/");
                if matcher.is_match(&rel) {
                    out.push(p);
                    if out.len() > MAX_FILES_PER_GLOB {
                        return Err(format!(
                            "`{glob}` matches more than {MAX_FILES_PER_GLOB} files; make it more specific"
                        ));
                    }
                }
            }
        }
    }
    out.sort();
    ex.files = out;
    ex.outside.sort();
    Ok(ex)
}

/// A slug for output names: `Type check` -> `type-check`.
#[must_use]
pub fn slug(name: &str) -> String {
    let mut s = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            s.push(c.to_ascii_lowercase());
        } else if !s.ends_with('-') && !s.is_empty() {
            s.push('-');
        }
    }
    let s = s.trim_end_matches('-').to_owned();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        format!("check-{s}")
    } else {
        s
    }
}

/// A check's annotations as reported: an advisory check cannot fail the gate, so its errors are
/// warnings (on the commit and as workflow commands).
fn advisory_levels(r: &CheckResult) -> Vec<crate::report::Annotation> {
    let mut a = r.annotations.clone();
    if !r.required {
        for x in &mut a {
            if x.level == Level::Error {
                x.level = Level::Warning;
            }
        }
    }
    a
}

/// The title of a passing check (also the commit-status description): tests counted as tests, findings
/// as findings: `3 tests passed`, `3 tests passed; 2 warning(s)`, `passed, no findings`.
fn success_title(r: &CheckResult) -> String {
    let findings = findings_cell(r);
    match r.tests {
        Some(t) => {
            let mut s = format!("{} test(s) passed", t.passed);
            if t.skipped > 0 {
                s.push_str(&format!(", {} skipped", t.skipped));
            }
            if findings != "0" {
                s.push_str(&format!("; {findings}"));
            }
            s
        }
        None if findings == "0" => "passed, no findings".to_owned(),
        None => format!("passed: {findings}"),
    }
}

fn tests_cell(t: Option<TestStats>) -> String {
    match t {
        None => "–".into(),
        Some(t) if t.skipped > 0 => format!(
            "{} passed, {} failed, {} skipped",
            t.passed, t.failed, t.skipped
        ),
        Some(t) => format!("{} passed, {} failed", t.passed, t.failed),
    }
}

fn coverage_cell(r: &CheckResult) -> String {
    match (
        r.coverage.as_ref().and_then(Coverage::percent),
        r.coverage_floor,
    ) {
        (Some(p), Some(f)) => format!("{p:.2}% (floor {f}%)"),
        (Some(p), None) => format!("{p:.2}%"),
        (None, Some(f)) => format!("– (floor {f}%)"),
        (None, None) => "–".into(),
    }
}

fn findings_cell(r: &CheckResult) -> String {
    let (e, w, n) = (
        r.count(Level::Error),
        r.count(Level::Warning),
        r.count(Level::Notice),
    );
    if e + w + n + r.dropped == 0 {
        return "0".into();
    }
    let mut parts = Vec::new();
    if e > 0 {
        parts.push(format!("{e} error(s)"));
    }
    if w > 0 {
        parts.push(format!("{w} warning(s)"));
    }
    if n > 0 {
        parts.push(format!("{n} notice(s)"));
    }
    if r.dropped > 0 {
        parts.push(format!("+{} not annotated", r.dropped));
    }
    parts.join(", ")
}

/// The gate's verdict over all checks.
#[must_use]
pub fn overall(results: &[CheckResult]) -> Verdict {
    if results.is_empty() {
        return Verdict::Skipped;
    }
    results
        .iter()
        .map(CheckResult::verdict)
        .fold(Verdict::Skipped, Verdict::and)
}

/// Rows of the summary table: check, verdict, findings, tests, coverage.
#[must_use]
pub fn table_rows(results: &[CheckResult]) -> Vec<[String; 5]> {
    results
        .iter()
        .map(|r| {
            let v = r.verdict();
            let label = match (v, r.required) {
                (Verdict::Neutral, _) => "failed (advisory)".to_owned(),
                (v, _) => v.as_str().to_owned(),
            };
            [
                markdown::text(&r.name),
                format!("{} {label}", v.emoji()),
                findings_cell(r),
                tests_cell(r.tests),
                coverage_cell(r),
            ]
        })
        .collect()
}

fn check_markdown(r: &CheckResult, max_findings: usize) -> String {
    let mut s = String::new();
    for reason in &r.reasons {
        let _ = writeln!(s, "- {}", markdown::sentence(reason));
    }
    if !r.reasons.is_empty() {
        s.push('\n');
    }
    if !r.details.is_empty() {
        s.push_str(&r.details);
        s.push('\n');
    }
    let mut shown: Vec<&Annotation> = r.annotations.iter().collect();
    shown.sort_by_key(|a| std::cmp::Reverse(a.level));
    if !shown.is_empty() {
        let rows: Vec<Vec<String>> = shown
            .iter()
            .take(max_findings)
            .map(|a| {
                vec![
                    a.level.command().to_owned(),
                    markdown::code_span(&format!("{}:{}", a.path, a.start_line)),
                    markdown::sentence(a.title.as_deref().unwrap_or_default()),
                    markdown::sentence(a.message.lines().next().unwrap_or_default()),
                ]
            })
            .collect();
        s.push_str(&markdown::table(
            &["level", "where", "rule", "message"],
            &rows,
        ));
        if shown.len() > max_findings {
            let _ = writeln!(
                s,
                "\n_{} more finding(s) in the check run {}._",
                shown.len() - max_findings,
                markdown::code_span(&check_run_name(&r.name))
            );
        }
    }
    if let Some(c) = &r.coverage {
        let mut files: Vec<_> = c.files.iter().filter(|f| f.lines_valid > 0).collect();
        files.sort_by(|a, b| {
            let pa = a.lines_covered * 1000 / a.lines_valid;
            let pb = b.lines_covered * 1000 / b.lines_valid;
            pa.cmp(&pb).then_with(|| a.path.cmp(&b.path))
        });
        if !files.is_empty() {
            let rows: Vec<Vec<String>> = files
                .iter()
                .take(20)
                .map(|f| {
                    #[allow(clippy::cast_precision_loss, reason = "line counts")]
                    let p = f.lines_covered as f64 * 100.0 / f.lines_valid as f64;
                    vec![
                        markdown::code_span(&f.path),
                        format!("{p:.1}%"),
                        format!("{}/{}", f.lines_covered, f.lines_valid),
                    ]
                })
                .collect();
            s.push_str(&markdown::details(
                &format!(
                    "Coverage by file (least covered first, {} file(s))",
                    files.len()
                ),
                &markdown::table(&["file", "lines", "covered/valid"], &rows),
            ));
        }
    }
    s
}

/// The check-run name of a check. LOAD-BEARING: users make these required in branch protection.
#[must_use]
pub fn check_run_name(check: &str) -> String {
    format!("stevedore / lint-gate / {check}")
}

/// Builds the mode's report.
#[must_use]
pub fn report(results: &[CheckResult], key: Option<String>) -> Report {
    let verdict = overall(results);
    let failed_required: Vec<&str> = results
        .iter()
        .filter(|r| r.failed && r.required)
        .map(|r| r.name.as_str())
        .collect();
    let failed_advisory: Vec<&str> = results
        .iter()
        .filter(|r| r.failed && !r.required)
        .map(|r| r.name.as_str())
        .collect();
    let title = match verdict {
        Verdict::Failure => format!(
            "{} of {} required check(s) failed: {}",
            failed_required.len(),
            results.iter().filter(|r| r.required).count(),
            failed_required.join(", ")
        ),
        Verdict::Neutral => format!(
            "Required checks passed; advisory check(s) failed: {}",
            failed_advisory.join(", ")
        ),
        Verdict::Success => format!("All {} check(s) passed", results.len()),
        Verdict::Skipped => "No check to judge".to_owned(),
    };
    let rows: Vec<Vec<String>> = table_rows(results).into_iter().map(Vec::from).collect();
    // The fan-out puts the heading (verdict and title) above this body.
    let mut summary = markdown::table(
        &["check", "verdict", "findings", "tests", "coverage"],
        &rows,
    );
    let mut sections = String::new();
    for r in results.iter().filter(|r| r.failed) {
        let _ = write!(
            sections,
            "\n### {} {}\n\n{}",
            r.verdict().emoji(),
            markdown::text(&r.name),
            check_markdown(r, 10)
        );
    }
    summary.push_str(&crate::report::truncate_with_note(
        &sections,
        SUMMARY_BUDGET.saturating_sub(summary.len()),
        "every finding is in the check runs",
    ));
    let checks = results
        .iter()
        .map(|r| {
            let v = r.verdict();
            let title = match v {
                Verdict::Success => success_title(r),
                Verdict::Skipped => "skipped".to_owned(),
                _ => r
                    .reasons
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "failed".into()),
            };
            let table = markdown::table(
                &["verdict", "findings", "tests", "coverage", "result files"],
                &[vec![
                    format!("{} {}", v.emoji(), v.as_str()),
                    findings_cell(r),
                    tests_cell(r.tests),
                    coverage_cell(r),
                    if r.files.is_empty() {
                        "–".into()
                    } else {
                        r.files
                            .iter()
                            .map(|f| markdown::code_span(f))
                            .collect::<Vec<_>>()
                            .join(", ")
                    },
                ]],
            );
            let body = check_markdown(r, 50);
            CheckReport {
                name: check_run_name(&r.name),
                verdict: v,
                title: crate::report::truncate_bytes(&title, 250).to_owned(),
                summary: crate::report::truncate_with_note(
                    &format!(
                        "{table}\n{}",
                        r.reasons
                            .iter()
                            .map(|x| format!("- {}\n", markdown::sentence(x)))
                            .collect::<String>()
                    ),
                    65_000,
                    "see the text below",
                ),
                text: crate::report::truncate_with_note(
                    &body,
                    65_000,
                    "see the job summary and the annotations",
                ),
                annotations: advisory_levels(r),
            }
        })
        .collect();
    let mut outputs = Vec::new();
    for r in results {
        let s = slug(&r.name);
        outputs.push((format!("{s}-verdict"), r.verdict().as_str().to_owned()));
        outputs.push((
            format!("{s}-findings"),
            r.annotations.len().saturating_add(r.dropped).to_string(),
        ));
        if let Some(p) = r.coverage.as_ref().and_then(Coverage::percent) {
            outputs.push((format!("{s}-coverage"), format!("{p:.2}")));
        }
        if let Some(t) = r.tests {
            outputs.push((format!("{s}-tests-passed"), t.passed.to_string()));
            outputs.push((format!("{s}-tests-failed"), t.failed.to_string()));
        }
    }
    outputs.push((
        "failed-checks".into(),
        results
            .iter()
            .filter(|r| r.failed)
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>()
            .join(","),
    ));
    let failure = (verdict == Verdict::Failure).then(|| crate::report::Failure {
        reason: title.clone(),
        next_step: "Fix what the failing check(s) report (annotations, check runs and the job summary list every finding), then push again.".to_owned(),
    });
    Report {
        mode: Mode::LintGate,
        key,
        title,
        verdict,
        summary,
        checks,
        outputs,
        comment: true,
        failure,
    }
}

/// Plain-text table for terminals.
#[must_use]
pub fn terminal_table(results: &[CheckResult]) -> String {
    let head = ["CHECK", "VERDICT", "FINDINGS", "TESTS", "COVERAGE"];
    let rows: Vec<[String; 5]> = table_rows(results);
    let mut w = head.map(|h| h.chars().count());
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let line = |cells: [&str; 5]| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c}{}", " ".repeat(w[i] - c.chars().count())))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let mut out = line(head);
    for r in &rows {
        out.push('\n');
        out.push_str(&line([&r[0], &r[1], &r[2], &r[3], &r[4]]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreadable_and_missing_results_fail_clearly() {
        use crate::modes::lint_gate::checks::{CheckSpec, Outcome, ResultSpec};
        use crate::modes::lint_gate::parse::Format;
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("junit.xml"), "<testsuite><testcase></wrong>").unwrap();
        let spec = CheckSpec {
            name: "Tests".into(),
            outcome: Some(Outcome::Success),
            results: vec![
                ResultSpec {
                    glob: "junit.xml".into(),
                    format: Format::Junit,
                },
                ResultSpec {
                    glob: "cov/*.info".into(),
                    format: Format::Lcov,
                },
            ],
            required: true,
            coverage_floor: Some(50.0),
        };
        let r = judge(&spec, &PathMap::new(d.path()));
        assert_eq!(r.verdict(), Verdict::Failure);
        // The result file is named relative to the workspace, never by this machine's path.
        assert!(
            r.reasons[0].starts_with(
                "`junit.xml` could not be read as junit: `junit.xml` is not valid junit: "
            ),
            "{:?}",
            r.reasons
        );
        let root = d.path().to_string_lossy().into_owned();
        assert!(
            !r.annotations[0].message.contains(&root) && !r.reasons[0].contains(&root),
            "{:?} {:?}",
            r.reasons,
            r.annotations[0].message
        );
        assert!(
            r.reasons[1].starts_with("No file matches `cov/*.info` (lcov)"),
            "{:?}",
            r.reasons
        );
        assert_eq!(
            r.reasons[2],
            "A coverage floor of 50% is set but no coverage report measured any line."
        );
        assert_eq!(
            (r.annotations[0].path.as_str(), r.annotations[0].level),
            ("junit.xml", Level::Error)
        );
        // A failed step with no result file at all.
        let spec = CheckSpec {
            outcome: Some(Outcome::Failure),
            coverage_floor: None,
            results: vec![ResultSpec {
                glob: "none.xml".into(),
                format: Format::Junit,
            }],
            ..spec
        };
        let r = judge(&spec, &PathMap::new(d.path()));
        assert!(
            r.reasons[0]
                .starts_with("The step failed and wrote no result file matching `none.xml`"),
            "{:?}",
            r.reasons
        );
        assert_eq!(r.reasons[1], "The step's outcome is `failure`.");
    }

    #[test]
    fn slugs_are_valid_output_names() {
        assert_eq!(slug("Type check"), "type-check");
        assert_eq!(
            slug("Generated files up to date"),
            "generated-files-up-to-date"
        );
        assert_eq!(slug("3rd party"), "check-3rd-party");
        assert_eq!(slug("PR title"), "pr-title");
    }

    #[test]
    fn advisory_failures_are_neutral_and_required_ones_fail() {
        let mut a = CheckResult::new("Docs", false);
        a.fail("x");
        let ok = CheckResult::new("Lint", true);
        assert_eq!(overall(&[a.clone(), ok.clone()]), Verdict::Neutral);
        let mut b = CheckResult::new("Tests", true);
        b.fail("y");
        assert_eq!(overall(&[a, ok, b]), Verdict::Failure);
        assert_eq!(overall(&[]), Verdict::Skipped);
    }

    #[test]
    fn globs_expand_below_their_literal_prefix() {
        let d = tempfile::tempdir().unwrap();
        for p in [
            "a/x/junit.xml",
            "a/y/junit.xml",
            "node_modules/m/junit.xml",
            "b/junit.xml",
        ] {
            std::fs::create_dir_all(d.path().join(p).parent().unwrap()).unwrap();
            std::fs::write(d.path().join(p), "").unwrap();
        }
        let m = PathMap::new(d.path());
        let got: Vec<_> = expand(&m, "a/*/junit.xml")
            .unwrap()
            .files
            .iter()
            .map(|p| p.strip_prefix(d.path()).unwrap().to_owned())
            .collect();
        assert_eq!(
            got,
            [
                PathBuf::from("a/x/junit.xml"),
                PathBuf::from("a/y/junit.xml")
            ]
        );
        assert_eq!(expand(&m, "**/junit.xml").unwrap().files.len(), 3);
        assert_eq!(expand(&m, "./b/junit.xml").unwrap().files.len(), 1);
        assert!(expand(&m, "c/junit.xml").unwrap().files.is_empty());
    }
}
