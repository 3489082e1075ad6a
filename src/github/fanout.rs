//! Fans one [`Report`] out to GitHub: check runs (created `in_progress` at start), the sticky PR comment,
//! and the fallbacks when the token may not write.
//!
//! Fallbacks, in order: a refused check run becomes a commit status per check; a refused status (or
//! comment) leaves the job summary and workflow-command annotations, which need no permission. Every
//! fallback is described in [`Delivery::notes`] with the `permissions:` line that would avoid it.
//! Nothing here changes the verdict or the exit code: errors become notes.

use super::checks::{self, CheckRun};
use super::comments::{self, Sticky};
use super::route::Permission;
use super::{Client, GithubError, statuses};
use crate::context::Context;
use crate::inputs::Mode;
use crate::report::{CheckReport, Report, Verdict, markdown};

/// What [`start`] left for [`finish`].
#[derive(Debug, Default)]
pub struct Started {
    /// The `in_progress` check run, if GitHub accepted it.
    pub run: Option<CheckRun>,
    /// Why the check run could not be created.
    pub refused: Option<GithubError>,
    /// The per-check runs created `in_progress` at start (the checks known before the mode runs).
    pub checks: Vec<CheckRun>,
}

/// What reached GitHub.
#[derive(Debug, Default)]
pub struct Delivery {
    pub check_runs: Vec<CheckRun>,
    /// Commit-status contexts set in place of check runs.
    pub statuses: Vec<String>,
    pub comment: Option<Sticky>,
    /// Markdown bullets for the job summary: fallbacks used, and what to change.
    pub notes: Vec<String>,
    /// Whether the annotations reached a check run (else the summary must list them).
    pub annotations_in_check_run: bool,
    /// HTTP requests this delivery took.
    pub requests: usize,
}

impl Delivery {
    /// The `report-url` output: the first check run, else `fallback` (the workflow run).
    #[must_use]
    pub fn report_url(&self, fallback: Option<String>) -> Option<String> {
        self.check_runs
            .iter()
            .find_map(|r| r.html_url.clone())
            .or(fallback)
    }
}

/// The name of the check run a mode creates at start.
#[must_use]
pub fn run_name(mode: Mode, key: Option<&str>) -> String {
    match key {
        Some(k) => format!("stevedore / {mode} ({k})"),
        None => format!("stevedore / {mode}"),
    }
}

/// Creates the `in_progress` check run for this mode, so a crash or cancel is visible on the commit, and
/// one per check in `checks` (check-run names, known before the mode runs: lint-gate's `checks` input).
pub async fn start(
    client: &Client,
    ctx: &Context,
    mode: Mode,
    key: Option<&str>,
    checks: &[String],
) -> Started {
    let (Some(repo), Some(sha)) = (ctx.repository.as_deref(), ctx.head_sha()) else {
        return Started::default();
    };
    let name = run_name(mode, key);
    let run_url = ctx.run_url();
    match checks::start(client, repo, sha, &name, run_url.as_deref()).await {
        Ok(run) => {
            let mut started = Vec::new();
            for c in checks {
                let c = keyed(c, key, &run_name(mode, None));
                match checks::start(client, repo, sha, &c, run_url.as_deref()).await {
                    Ok(r) => started.push(r),
                    Err(e) => {
                        // The rest are created when the mode ends.
                        tracing::warn!("check run {c} not created: {e}");
                        break;
                    }
                }
            }
            Started {
                run: Some(run),
                refused: None,
                checks: started,
            }
        }
        Err(e) => {
            tracing::warn!("check run not created: {e}");
            Started {
                run: None,
                refused: Some(e),
                checks: Vec::new(),
            }
        }
    }
}

/// A check's run name with the report key, as [`finish`] sends it.
fn keyed(name: &str, key: Option<&str>, main_name: &str) -> String {
    match key {
        Some(k) if name != main_name && !name.contains(k) => format!("{name} ({k})"),
        _ => name.to_owned(),
    }
}

/// Why a call failed, for a Markdown note: GitHub's message (or the error) is text from elsewhere, made
/// inert with [`markdown::text`].
fn why(e: &GithubError) -> String {
    match e.status() {
        Some(s) => format!("GitHub answered {s} “{}”", markdown::text(&e.message())),
        None => markdown::text(&e.to_string()),
    }
}

fn permission(e: &GithubError, fallback_perm: &'static str) -> &'static str {
    e.permission().map_or(fallback_perm, Permission::line)
}

fn permission_line(e: &GithubError, fallback_perm: &'static str) -> String {
    format!(
        "add `permissions: {}` to the job",
        permission(e, fallback_perm)
    )
}

fn verb(e: &GithubError) -> &'static str {
    if e.is_forbidden() {
        "refused"
    } else {
        "failed"
    }
}

/// The check-run advice: with a personal token no `permissions:` helps, only another token does.
fn checks_advice(client: &Client, e: &GithubError) -> String {
    let m = e.message();
    if e.is_forbidden()
        && (client.personal_token()
            || m.contains("personal access token")
            || m.contains("authenticate via a GitHub App"))
    {
        return " The `github-token` is a personal access token, and GitHub lets only the workflow's GITHUB_TOKEN or a GitHub App installation token create check runs (no `permissions:` entry changes that). To get check runs with annotations, leave `github-token` at its default (the workflow's GITHUB_TOKEN, with `permissions: checks: write`) or pass a GitHub App installation token (e.g. from actions/create-github-app-token).".to_owned();
    }
    advice(
        e,
        "To get check runs with annotations, ",
        permission_line(e, "checks: write"),
    )
}

/// `" {lead}{line}."` when the token was refused (a permission would help), else nothing.
fn advice(e: &GithubError, lead: &str, line: String) -> String {
    if e.is_forbidden() {
        format!(" {lead}{line}.")
    } else {
        String::new()
    }
}

/// What to do with one check run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunAction {
    /// Complete a run created at start; if GitHub refuses, its check goes to the fallback.
    Complete(CheckRun),
    /// Close a run created at start that no check of the report matches (the mode stopped early), so it
    /// does not stay open; a failure is only logged.
    Close(CheckRun),
    /// Create the check's run, completed.
    Create,
}

/// One step of the check-run [`Plan`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunStep {
    pub action: RunAction,
    pub check: CheckReport,
    pub conclusion: &'static str,
    /// The check's place among the report's checks (the fallback keeps that order); `usize::MAX` for a check
    /// made up for a run the report has no check for.
    pub order: usize,
}

/// The check runs [`finish`] sends, decided before any request: pure, so it is tested without GitHub.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Sent in order; the first refusal or failure (of a step that is not a [`RunAction::Close`]) stops
    /// them, and the rest go to the fallback.
    pub steps: Vec<RunStep>,
    /// Checks that go to the fallback without a try (GitHub refused the check run at start).
    pub fallback: Vec<CheckReport>,
}

impl Plan {
    /// The checks that go to the fallback when step `failed` fails: that one first, then the checks of the
    /// steps not taken, in the report's order (runs that were only to be closed have no check of their own).
    #[must_use]
    pub fn fallback_after(&self, failed: usize) -> Vec<CheckReport> {
        let mut rest: Vec<&RunStep> = self.steps[failed + 1..]
            .iter()
            .filter(|s| !matches!(s.action, RunAction::Close(_)))
            .collect();
        rest.sort_by_key(|s| s.order);
        std::iter::once(&self.steps[failed])
            .chain(rest)
            .map(|s| s.check.clone())
            .collect()
    }
}

/// A check made up for a run the report has no check for: the report's verdict, title and summary.
fn stand_in(report: &Report, name: &str) -> CheckReport {
    CheckReport {
        name: name.to_owned(),
        verdict: report.verdict,
        title: report.title.clone(),
        summary: report.summary.clone(),
        text: String::new(),
        annotations: Vec::new(),
    }
}

/// Plans the check runs: the run created at start completes the report's check of the same name (or a
/// stand-in with the report's verdict), the per-check runs created at start complete their checks (or
/// are closed), and every other check gets a run created completed. A start GitHub refused sends every
/// check to the fallback; a start that failed for a passing reason (5xx after retries, network) is
/// retried by creating the runs now.
#[must_use]
pub fn plan(report: &Report, started: &Started, cancelled: bool) -> Plan {
    let key = report.key.as_deref();
    let main_name = run_name(report.mode, None);
    let started_name = run_name(report.mode, key);
    let mut pending: Vec<(usize, CheckReport)> = report
        .checks
        .iter()
        .cloned()
        .map(|mut c| {
            c.name = keyed(&c.name, key, &main_name);
            c
        })
        .enumerate()
        .collect();
    if started
        .refused
        .as_ref()
        .is_some_and(GithubError::is_forbidden)
    {
        return Plan {
            steps: Vec::new(),
            fallback: pending.into_iter().map(|(_, c)| c).collect(),
        };
    }
    let mut steps = Vec::new();
    if let Some(run) = &started.run {
        let (order, check) = match pending
            .iter()
            .position(|(_, c)| c.name == started_name || c.name == main_name)
        {
            Some(i) => pending.remove(i),
            None => (usize::MAX, stand_in(report, &run.name)),
        };
        steps.push(RunStep {
            action: RunAction::Complete(run.clone()),
            conclusion: finished_conclusion(check.verdict, cancelled),
            check,
            order,
        });
    }
    for run in &started.checks {
        match pending.iter().position(|(_, c)| c.name == run.name) {
            Some(i) => {
                let (order, check) = pending.remove(i);
                steps.push(RunStep {
                    action: RunAction::Complete(run.clone()),
                    conclusion: finished_conclusion(check.verdict, cancelled),
                    check,
                    order,
                });
            }
            None => steps.push(RunStep {
                action: RunAction::Close(run.clone()),
                check: stand_in(report, &run.name),
                conclusion: if cancelled {
                    "cancelled"
                } else {
                    checks::conclusion(report.verdict)
                },
                order: usize::MAX,
            }),
        }
    }
    steps.extend(pending.into_iter().map(|(order, check)| RunStep {
        action: RunAction::Create,
        conclusion: checks::conclusion(check.verdict),
        check,
        order,
    }));
    Plan {
        steps,
        fallback: Vec::new(),
    }
}

/// Where the run's links point and where the full text is said to be.
struct Target<'a> {
    repo: &'a str,
    sha: &'a str,
    run_url: Option<String>,
    elsewhere: String,
}

/// What sending the planned check runs left: the runs that reached GitHub, the checks for the fallback, and
/// why the rest did not get through.
struct Sent {
    runs: Vec<CheckRun>,
    fallback: Vec<CheckReport>,
    refused: Option<GithubError>,
}

/// Phase 1: the check runs of `plan`, until the first refusal or failure.
async fn send_runs(
    client: &Client,
    t: &Target<'_>,
    plan: Plan,
    refused: Option<GithubError>,
) -> Sent {
    let mut runs = Vec::new();
    for (i, step) in plan.steps.iter().enumerate() {
        let check = &step.check;
        let sent = match &step.action {
            RunAction::Close(run) => {
                if let Err(e) =
                    checks::complete_as(client, t.repo, run, check, step.conclusion, &t.elsewhere)
                        .await
                {
                    tracing::warn!("check run {} not completed: {e}", run.id);
                }
                continue;
            }
            RunAction::Complete(run) => {
                checks::complete_as(client, t.repo, run, check, step.conclusion, &t.elsewhere)
                    .await
                    .map(|_| run.clone())
                    .inspect_err(|e| tracing::warn!("check run {} not completed: {e}", run.id))
            }
            RunAction::Create => checks::create_completed(
                client,
                t.repo,
                t.sha,
                check,
                t.run_url.as_deref(),
                &t.elsewhere,
            )
            .await
            .map(|(run, _)| run)
            .inspect_err(|e| tracing::warn!("check run {} not created: {e}", check.name)),
        };
        match sent {
            Ok(run) => runs.push(run),
            Err(e) => {
                return Sent {
                    runs,
                    fallback: plan.fallback_after(i),
                    refused: Some(e),
                };
            }
        }
    }
    Sent {
        runs,
        fallback: plan.fallback,
        refused,
    }
}

/// The commit statuses standing in for `fallback`: one per check, or the overall verdict under the name of
/// the run created at start when no check run got through and no check is left.
#[must_use]
pub fn status_contexts(
    report: &Report,
    fallback: &[CheckReport],
    any_run: bool,
) -> Vec<(String, &'static str, String)> {
    let mut contexts: Vec<(String, &'static str, String)> = fallback
        .iter()
        .map(|c| (c.name.clone(), statuses::state(c.verdict), c.title.clone()))
        .collect();
    if !any_run && contexts.is_empty() {
        contexts.push((
            run_name(report.mode, report.key.as_deref()),
            statuses::state(report.verdict),
            report.title.clone(),
        ));
    }
    contexts
}

/// Phase 2: commit statuses for the checks without a run, and the note saying so.
async fn fall_back_to_statuses(
    client: &Client,
    t: &Target<'_>,
    report: &Report,
    fallback: &[CheckReport],
    e: &GithubError,
    d: &mut Delivery,
) {
    let contexts = status_contexts(report, fallback, !d.check_runs.is_empty());
    let mut status_error = None;
    for (context, state, title) in &contexts {
        match statuses::set(
            client,
            t.repo,
            t.sha,
            state,
            context,
            title,
            t.run_url.as_deref(),
        )
        .await
        {
            Ok(()) => d.statuses.push(context.clone()),
            Err(se) => {
                tracing::warn!("commit status {context} not set: {se}");
                status_error = Some(se);
                break;
            }
        }
    }
    match status_error {
        None => d.notes.push(format!(
            "Check run {} ({}): reported as commit status{} {} instead, and the annotations are in this summary.{}",
            verb(e),
            why(e),
            if d.statuses.len() == 1 { "" } else { "es" },
            crate::inputs::code_list(d.statuses.iter()),
            checks_advice(client, e),
        )),
        Some(se) => d.notes.push(format!(
            "Check run {} ({}) and commit status {} ({}): the result is only in this job summary and the step's annotations.{}",
            verb(e),
            why(e),
            verb(&se),
            why(&se),
            if e.is_forbidden() || se.is_forbidden() {
                format!(
                    " To report on the commit, add `permissions: {}` (check runs with annotations) or `permissions: {}` (commit status) to the job.",
                    permission(e, "checks: write"),
                    permission(&se, "statuses: write"),
                )
            } else {
                String::new()
            },
        )),
    }
}

/// Phase 3: the sticky comment on the pull request, or the note saying why not.
async fn sticky_comment(
    client: &Client,
    t: &Target<'_>,
    ctx: &Context,
    report: &Report,
    d: &mut Delivery,
) {
    let Some(pr) = &ctx.pull_request else {
        return;
    };
    let body = markdown::comment_body(report, d.report_url(t.run_url.clone()).as_deref());
    match comments::upsert(client, t.repo, pr.number, &report.marker(), &body).await {
        Ok(s) => d.comment = Some(s),
        Err(e) => {
            tracing::warn!("PR comment not written: {e}");
            let fork = if pr.from_fork {
                " This pull request comes from a fork, and GitHub never gives fork workflows a write token; use the job summary, or a `workflow_run` follow-up workflow to comment."
            } else {
                ""
            };
            d.notes.push(format!(
                "PR comment {} ({}): the report is in this job summary and the step's annotations instead.{}{fork}",
                verb(&e),
                why(&e),
                advice(&e, "To get the comment, ", permission_line(&e, "pull-requests: write")),
            ));
        }
    }
}

/// Completes the check runs, or falls back; then writes the sticky comment when asked and on a PR.
///
/// The check runs follow [`plan`]; when GitHub refuses one, the checks without a run become commit
/// statuses; when it cannot be reached at all, nothing more is tried and a note says so.
pub async fn finish(
    client: &Client,
    ctx: &Context,
    report: &Report,
    started: Started,
    comment: bool,
    cancelled: bool,
) -> Delivery {
    let before = client.request_count();
    let mut d = Delivery::default();
    let (Some(repo), Some(sha)) = (ctx.repository.as_deref(), ctx.head_sha()) else {
        return d;
    };
    let run_url = ctx.run_url();
    let elsewhere = match &run_url {
        Some(u) => format!("the full text is in the job summary of [the workflow run]({u})."),
        None => "the full text is in the job summary of the workflow run.".to_owned(),
    };
    let t = Target {
        repo,
        sha,
        run_url,
        elsewhere,
    };
    let plan = plan(report, &started, cancelled);
    let refused_at_start = started.refused.filter(GithubError::is_forbidden);
    let sent = send_runs(client, &t, plan, refused_at_start).await;
    d.check_runs = sent.runs;
    d.annotations_in_check_run = sent.refused.is_none();
    match &sent.refused {
        Some(e @ GithubError::Transport { .. }) => {
            // Nothing else will get through either.
            d.notes.push(format!(
                "The GitHub API at {} could not be reached ({}): no check run, status or PR comment was written; the report is only in this job summary and the step's annotations.",
                markdown::code_span(client.api_url()),
                markdown::text(&e.message())
            ));
            d.requests = client.request_count() - before;
            return d;
        }
        Some(e) => fall_back_to_statuses(client, &t, report, &sent.fallback, e, &mut d).await,
        None => {}
    }
    if comment && report.comment {
        sticky_comment(client, &t, ctx, report, &mut d).await;
    }
    d.requests = client.request_count() - before;
    d
}

/// A check's conclusion: a failure because the runner cancelled the step shows as `cancelled`, not as a
/// red check.
fn finished_conclusion(verdict: Verdict, cancelled: bool) -> &'static str {
    if cancelled && verdict == Verdict::Failure {
        "cancelled"
    } else {
        checks::conclusion(verdict)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, verdict: Verdict) -> CheckReport {
        CheckReport {
            name: name.to_owned(),
            verdict,
            title: format!("{name} title"),
            summary: String::new(),
            text: String::new(),
            annotations: Vec::new(),
        }
    }

    fn run(id: u64, name: &str) -> CheckRun {
        CheckRun {
            id,
            name: name.to_owned(),
            html_url: None,
        }
    }

    /// A lint-gate report with the main check and three named checks, keyed `api`.
    fn report() -> Report {
        let mut r = Report::new(Mode::LintGate, Verdict::Failure, "1 check failed", "s");
        r.key = Some("api".into());
        r.checks.extend([
            check("fmt", Verdict::Success),
            check("clippy", Verdict::Failure),
            check("tests", Verdict::Success),
        ]);
        r
    }

    fn names(checks: &[CheckReport]) -> Vec<&str> {
        checks.iter().map(|c| c.name.as_str()).collect()
    }

    #[test]
    fn started_runs_are_completed_unmatched_ones_closed_and_the_rest_created() {
        let started = Started {
            run: Some(run(1, "stevedore / lint-gate (api)")),
            refused: None,
            checks: vec![run(2, "clippy (api)"), run(3, "audit (api)")],
        };
        let p = plan(&report(), &started, false);
        assert!(p.fallback.is_empty());
        let got: Vec<(&RunAction, &str, &str)> = p
            .steps
            .iter()
            .map(|s| (&s.action, s.check.name.as_str(), s.conclusion))
            .collect();
        assert_eq!(
            got,
            [
                (
                    &RunAction::Complete(run(1, "stevedore / lint-gate (api)")),
                    "stevedore / lint-gate",
                    "failure"
                ),
                (
                    &RunAction::Complete(run(2, "clippy (api)")),
                    "clippy (api)",
                    "failure"
                ),
                (
                    &RunAction::Close(run(3, "audit (api)")),
                    "audit (api)",
                    "failure"
                ),
                (&RunAction::Create, "fmt (api)", "success"),
                (&RunAction::Create, "tests (api)", "success"),
            ]
        );
        // The stand-in for the unmatched run carries the report's verdict and title.
        assert_eq!(p.steps[2].check.title, "1 check failed");
    }

    #[test]
    fn a_cancelled_step_shows_its_failures_as_cancelled() {
        let started = Started {
            run: Some(run(1, "stevedore / lint-gate (api)")),
            refused: None,
            checks: vec![
                run(2, "clippy (api)"),
                run(3, "fmt (api)"),
                run(4, "gone (api)"),
            ],
        };
        let p = plan(&report(), &started, true);
        let conclusions: Vec<&str> = p.steps.iter().map(|s| s.conclusion).collect();
        // main (failure), clippy (failure), fmt (success), the closed run, tests (created, not cancelled).
        assert_eq!(
            conclusions,
            ["cancelled", "cancelled", "success", "cancelled", "success"]
        );
    }

    #[test]
    fn without_a_started_run_every_check_is_created_and_a_missing_main_check_gets_a_stand_in() {
        let p = plan(&report(), &Started::default(), false);
        assert!(p.steps.iter().all(|s| s.action == RunAction::Create));
        assert_eq!(
            names(&p.steps.iter().map(|s| s.check.clone()).collect::<Vec<_>>()),
            [
                "stevedore / lint-gate",
                "fmt (api)",
                "clippy (api)",
                "tests (api)"
            ]
        );

        let mut r = report();
        r.checks.remove(0);
        let started = Started {
            run: Some(run(1, "stevedore / lint-gate (api)")),
            ..Started::default()
        };
        let p = plan(&r, &started, false);
        assert_eq!(p.steps[0].check.name, "stevedore / lint-gate (api)");
        assert_eq!(p.steps[0].order, usize::MAX);
        assert_eq!(p.steps[0].check.verdict, Verdict::Failure);
    }

    #[test]
    fn a_refused_start_sends_every_check_to_the_fallback() {
        let refused = GithubError::Api {
            method: "POST".into(),
            route: "/repos/o/r/check-runs".into(),
            status: 403,
            message: "Resource not accessible by integration".into(),
            documentation_url: None,
            hint: None,
        };
        let started = Started {
            run: None,
            refused: Some(refused),
            checks: Vec::new(),
        };
        let p = plan(&report(), &started, false);
        assert!(p.steps.is_empty());
        assert_eq!(
            names(&p.fallback),
            [
                "stevedore / lint-gate",
                "fmt (api)",
                "clippy (api)",
                "tests (api)"
            ]
        );
        // A start that failed for a passing reason is retried by creating the runs.
        let started = Started {
            run: None,
            refused: Some(GithubError::Transport {
                method: "POST".into(),
                route: "/repos/o/r/check-runs".into(),
                message: "connection refused".into(),
            }),
            checks: Vec::new(),
        };
        assert_eq!(plan(&report(), &started, false).steps.len(), 4);
    }

    #[test]
    fn after_a_refusal_the_failed_check_comes_first_then_the_rest_in_report_order() {
        let started = Started {
            run: Some(run(1, "stevedore / lint-gate (api)")),
            refused: None,
            checks: vec![
                run(4, "tests (api)"),
                run(3, "gone (api)"),
                run(2, "fmt (api)"),
            ],
        };
        let p = plan(&report(), &started, false);
        // Steps: main, tests, gone (close), fmt, clippy (create).
        assert_eq!(
            names(&p.fallback_after(1)),
            ["tests (api)", "fmt (api)", "clippy (api)"]
        );
        assert_eq!(
            names(&p.fallback_after(0)),
            [
                "stevedore / lint-gate",
                "fmt (api)",
                "clippy (api)",
                "tests (api)"
            ]
        );
        assert_eq!(names(&p.fallback_after(4)), ["clippy (api)"]);
    }

    #[test]
    fn statuses_stand_in_for_the_checks_or_for_the_whole_report() {
        let r = report();
        let fallback = [check("clippy (api)", Verdict::Failure)];
        assert_eq!(
            status_contexts(&r, &fallback, true),
            [(
                "clippy (api)".to_owned(),
                "failure",
                "clippy (api) title".to_owned()
            )]
        );
        assert_eq!(
            status_contexts(&r, &[], false),
            [(
                "stevedore / lint-gate (api)".to_owned(),
                "failure",
                "1 check failed".to_owned()
            )]
        );
        assert!(status_contexts(&r, &[], true).is_empty());
    }
}
