//! One `Report` per run, and its fan-out.
//!
//! Every mode returns a [`Report`]: title, verdict, Markdown summary, check runs with annotations, step
//! outputs. This module delivers the parts that need no network (step outputs, job summary, workflow-command
//! annotations); `github` delivers check runs, the sticky PR comment, statuses and deployments.
//! Reporting problems are logged and noted; they never change the verdict or the exit code.

pub mod commands;
pub mod files;
pub mod markdown;

use crate::inputs::Mode;
pub use commands::{Commands, Level, Location, Masker};

/// The outcome of a mode. Maps to the check-run conclusion, the `verdict` output and the exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    Success,
    Failure,
    /// Nothing to do (e.g. `release:skip`); exit 0.
    Skipped,
    /// Advisory problems only; exit 0.
    Neutral,
}

impl Verdict {
    /// LOAD-BEARING: the `verdict` output and the check-run `conclusion`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Success => "success",
            Verdict::Failure => "failure",
            Verdict::Skipped => "skipped",
            Verdict::Neutral => "neutral",
        }
    }

    #[must_use]
    pub fn emoji(self) -> &'static str {
        match self {
            Verdict::Success => "✅",
            Verdict::Failure => "❌",
            Verdict::Skipped => "⏭️",
            Verdict::Neutral => "⚠️",
        }
    }

    /// The worse of two verdicts.
    #[must_use]
    pub fn and(self, other: Verdict) -> Verdict {
        use Verdict::{Failure, Neutral, Skipped, Success};
        match (self, other) {
            (Failure, _) | (_, Failure) => Failure,
            (Neutral, _) | (_, Neutral) => Neutral,
            (Success, _) | (_, Success) => Success,
            (Skipped, Skipped) => Skipped,
        }
    }
}

/// One finding, shaped like a check-run annotation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Annotation {
    /// Repository-relative path with `/` separators.
    pub path: String,
    pub start_line: u32,
    pub end_line: u32,
    pub start_column: Option<u32>,
    pub end_column: Option<u32>,
    pub level: Level,
    pub title: Option<String>,
    pub message: String,
    pub raw_details: Option<String>,
}

impl Annotation {
    /// An annotation on one line.
    pub fn new(
        level: Level,
        path: impl Into<String>,
        line: u32,
        message: impl Into<String>,
    ) -> Self {
        let line = line.max(1);
        Self {
            path: path.into(),
            start_line: line,
            end_line: line,
            start_column: None,
            end_column: None,
            level,
            title: None,
            message: message.into(),
            raw_details: None,
        }
    }

    #[must_use]
    pub fn with_title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    #[must_use]
    pub fn with_column(mut self, col: Option<u32>) -> Self {
        self.start_column = col.filter(|c| *c > 0);
        self
    }
}

/// One check run of a report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckReport {
    /// Check-run name, e.g. `stevedore / lint-gate / Tests`.
    pub name: String,
    pub verdict: Verdict,
    /// One-line title of the output.
    pub title: String,
    /// Markdown summary.
    pub summary: String,
    /// Markdown details (check-run `output.text`).
    pub text: String,
    pub annotations: Vec<Annotation>,
}

/// Everything a mode has to say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub mode: Mode,
    /// Distinguishes sticky comments of the same mode (environment, matrix leg).
    pub key: Option<String>,
    pub title: String,
    pub verdict: Verdict,
    /// Markdown for the job summary and the PR comment.
    pub summary: String,
    pub checks: Vec<CheckReport>,
    /// Step outputs (besides `verdict`, which is always written).
    pub outputs: Vec<(String, String)>,
    /// Whether to post the sticky PR comment for this report.
    pub comment: bool,
    /// Why a failed report failed and what to do next; said last, as an `::error` annotation.
    pub failure: Option<Failure>,
}

/// The closing `::error` of a failed run: the reason and the next step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub reason: String,
    pub next_step: String,
}

/// The next step when a mode names none.
pub const DEFAULT_NEXT_STEP: &str =
    "See the job summary (and the check run) for the details of the failure.";

impl Report {
    /// A report with one check run carrying `summary`.
    pub fn new(
        mode: Mode,
        verdict: Verdict,
        title: impl Into<String>,
        summary: impl Into<String>,
    ) -> Self {
        let title = title.into();
        let summary = summary.into();
        Self {
            mode,
            key: None,
            checks: vec![CheckReport {
                name: format!("stevedore / {mode}"),
                verdict,
                title: title.clone(),
                summary: summary.clone(),
                text: String::new(),
                annotations: Vec::new(),
            }],
            title,
            verdict,
            summary,
            outputs: Vec::new(),
            comment: true,
            failure: None,
        }
    }

    /// Records why this report fails and what to do next.
    pub fn fail_because(&mut self, reason: impl Into<String>, next_step: impl Into<String>) {
        self.failure = Some(Failure {
            reason: reason.into(),
            next_step: next_step.into(),
        });
    }

    /// The closing error of a failed report: its recorded [`Failure`], else the title and
    /// [`DEFAULT_NEXT_STEP`]. `None` unless the verdict is a failure.
    #[must_use]
    pub fn closing_error(&self) -> Option<Failure> {
        if self.verdict != Verdict::Failure {
            return None;
        }
        Some(self.failure.clone().unwrap_or_else(|| Failure {
            reason: self.title.clone(),
            next_step: DEFAULT_NEXT_STEP.to_owned(),
        }))
    }

    /// Adds a step output.
    pub fn output(&mut self, name: &str, value: impl Into<String>) {
        self.outputs.push((name.to_owned(), value.into()));
    }

    /// All annotations across check runs.
    pub fn annotations(&self) -> impl Iterator<Item = &Annotation> {
        self.checks.iter().flat_map(|c| c.annotations.iter())
    }

    /// The hidden marker that identifies this report's sticky comment. LOAD-BEARING.
    #[must_use]
    pub fn marker(&self) -> String {
        match &self.key {
            Some(k) => format!("<!-- stevedore:{}:{} -->", self.mode, k),
            None => format!("<!-- stevedore:{} -->", self.mode),
        }
    }
}

/// At most 300 characters of `s`, on one line.
#[must_use]
pub fn excerpt(s: &str) -> String {
    let one = s.replace(['\r', '\n'], " ");
    let cut = truncate_bytes(&one, 300);
    if cut.len() < one.len() {
        format!("{cut}…")
    } else {
        cut.to_owned()
    }
}

/// `s` cut to at most `max` bytes on a UTF-8 boundary.
#[must_use]
pub fn truncate_bytes(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// `s` cut to at most `max_bytes` with a visible note appended when cut.
#[must_use]
pub fn truncate_with_note(s: &str, max_bytes: usize, note: &str) -> String {
    if s.len() <= max_bytes {
        return s.to_owned();
    }
    let suffix = format!("\n\n> **Truncated:** {note}\n");
    format!(
        "{}{suffix}",
        truncate_bytes(s, max_bytes.saturating_sub(suffix.len()))
    )
}

/// Runner limit: annotations per type per step that get attached to the run (`_maxCountPerIssueType`).
pub const COMMAND_ANNOTATIONS_PER_LEVEL: usize = 10;

/// What the local fan-out did, for the summary and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LocalDelivery {
    pub annotations_as_commands: usize,
    pub annotations_left_for_check_run: usize,
}

/// Emits the first findings as workflow-command annotations, within the runner's per-step limit of 10 per
/// level; the rest go to the check run.
pub fn emit_annotations(cmds: &Commands, report: &Report) -> LocalDelivery {
    let mut d = LocalDelivery::default();
    // The verdict first: the runner attaches only the first 10 errors of a step and drops the rest
    // silently, so the one that says why the step failed must not come 11th. It takes one of the ten,
    // and so does every annotation the step emitted before (an input warning, lint-gate's PR title):
    // the findings fill only what is left, so the runner drops none of them unsaid.
    if let Some(f) = report.closing_error() {
        cmds.annotate(
            Level::Error,
            Some(&format!("stevedore {}", report.mode)),
            &Location::default(),
            &format!("{}\n{}", f.reason, f.next_step),
        );
    }
    // Errors first: they are what the author must see.
    let mut all: Vec<&Annotation> = report.annotations().collect();
    all.sort_by_key(|a| std::cmp::Reverse(a.level));
    for a in all {
        if cmds.annotated(a.level) < COMMAND_ANNOTATIONS_PER_LEVEL {
            let loc = Location {
                file: Some(a.path.clone()),
                line: Some(a.start_line),
                end_line: Some(a.end_line),
                col: a.start_column,
                end_col: a.end_column,
            };
            cmds.annotate(a.level, a.title.as_deref(), &loc, &a.message);
            d.annotations_as_commands += 1;
        } else {
            d.annotations_left_for_check_run += 1;
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate_bytes("ééé", 3), "é");
        let t = truncate_with_note(&"é".repeat(100), 60, "see the check run");
        assert!(t.len() <= 60, "{}", t.len());
        assert!(t.ends_with("see the check run\n"));
    }

    #[test]
    fn verdicts_combine_to_the_worst() {
        assert_eq!(Verdict::Success.and(Verdict::Failure), Verdict::Failure);
        assert_eq!(Verdict::Skipped.and(Verdict::Success), Verdict::Success);
        assert_eq!(Verdict::Neutral.and(Verdict::Success), Verdict::Neutral);
    }

    #[test]
    fn only_ten_annotations_per_level_become_commands() {
        let mut r = Report::new(Mode::LintGate, Verdict::Failure, "t", "s");
        r.fail_because("3 checks failed", "Fix them.");
        for i in 0..25 {
            r.checks[0]
                .annotations
                .push(Annotation::new(Level::Error, "a.rs", i + 1, "m"));
        }
        r.checks[0]
            .annotations
            .push(Annotation::new(Level::Warning, "a.rs", 1, "w"));
        let (c, buf) = Commands::buffer(Masker::default(), true);
        let d = emit_annotations(&c, &r);
        assert_eq!(
            d,
            LocalDelivery {
                annotations_as_commands: 10,
                annotations_left_for_check_run: 16
            }
        );
        let out = String::from_utf8(buf.lock().unwrap().clone()).unwrap();
        let errors: Vec<&str> = out.lines().filter(|l| l.starts_with("::error")).collect();
        // Ten errors in all (the runner keeps no more), the verdict first, then nine findings.
        assert_eq!(errors.len(), 10, "{out}");
        assert_eq!(
            errors[0],
            "::error title=stevedore lint-gate::3 checks failed%0AFix them."
        );
        assert!(errors[1..].iter().all(|e| e.contains("file=a.rs")), "{out}");
        assert_eq!(
            out.lines().filter(|l| l.starts_with("::warning")).count(),
            1
        );
    }

    #[test]
    fn errors_the_step_emitted_before_take_their_share_of_the_ten() {
        let mut r = Report::new(Mode::LintGate, Verdict::Failure, "t", "s");
        r.fail_because("PR title and 12 findings", "Fix them.");
        for i in 0..12 {
            r.checks[0]
                .annotations
                .push(Annotation::new(Level::Error, "a.rs", i + 1, "m"));
        }
        let (c, buf) = Commands::buffer(Masker::default(), true);
        c.annotate(Level::Error, Some("PR title"), &Location::default(), "bad");
        let d = emit_annotations(&c, &r);
        assert_eq!(d.annotations_as_commands, 8);
        assert_eq!(d.annotations_left_for_check_run, 4);
        let out = String::from_utf8(buf.lock().unwrap().clone()).unwrap();
        let errors: Vec<&str> = out.lines().filter(|l| l.starts_with("::error")).collect();
        assert_eq!(errors.len(), 10, "{out}");
        assert!(
            errors[1].starts_with("::error title=stevedore lint-gate::"),
            "{out}"
        );
    }

    #[test]
    fn a_passing_report_emits_no_verdict_error() {
        let mut r = Report::new(Mode::LintGate, Verdict::Success, "t", "s");
        r.checks[0]
            .annotations
            .push(Annotation::new(Level::Error, "a.rs", 1, "m"));
        let (c, buf) = Commands::buffer(Masker::default(), true);
        emit_annotations(&c, &r);
        let out = String::from_utf8(buf.lock().unwrap().clone()).unwrap();
        assert!(!out.contains("title=stevedore"), "{out}");
    }

    #[test]
    fn marker_includes_mode_and_key() {
        let mut r = Report::new(Mode::Deploy, Verdict::Success, "t", "s");
        assert_eq!(r.marker(), "<!-- stevedore:deploy -->");
        r.key = Some("production".into());
        assert_eq!(r.marker(), "<!-- stevedore:deploy:production -->");
    }
}
