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

fn why(e: &GithubError) -> String {
    match e.status() {
        Some(s) => format!("GitHub answered {s} “{}”", e.message()),
        None => e.to_string(),
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

/// Completes the check runs, or falls back; then writes the sticky comment when asked and on a PR.
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
    let key = report.key.as_deref();
    let main_name = run_name(report.mode, None);
    let started_name = run_name(report.mode, key);

    // Which report check completes the run created at start.
    let mut checks_to_send: Vec<CheckReport> = report
        .checks
        .iter()
        .cloned()
        .map(|mut c| {
            c.name = keyed(&c.name, key, &main_name);
            c
        })
        .collect();
    let started_idx = checks_to_send
        .iter()
        .position(|c| c.name == started_name || c.name == main_name);
    // A start that failed for a passing reason (5xx after retries, network) is retried below by creating
    // the runs now; only a refusal sends us straight to the fallback.
    let mut refused = started.refused.filter(GithubError::is_forbidden);
    if let Some(run) = started.run {
        let check = match started_idx {
            Some(i) => checks_to_send.remove(i),
            None => CheckReport {
                name: run.name.clone(),
                verdict: report.verdict,
                title: report.title.clone(),
                summary: report.summary.clone(),
                text: String::new(),
                annotations: Vec::new(),
            },
        };
        let conclusion = finished_conclusion(check.verdict, cancelled);
        match checks::complete_as(client, repo, &run, &check, conclusion, &elsewhere).await {
            Ok(_) => d.check_runs.push(run),
            Err(e) => {
                tracing::warn!("check run {} not completed: {e}", run.id);
                // Put the check back so the fallback reports it.
                checks_to_send.insert(0, check);
                refused = Some(e);
            }
        }
    }
    // The per-check runs created at start are completed, not created again.
    if refused.is_none() {
        for run in started.checks {
            let Some(i) = checks_to_send.iter().position(|c| c.name == run.name) else {
                // The mode reported no such check (it stopped early): the run must not stay open.
                let check = CheckReport {
                    name: run.name.clone(),
                    verdict: report.verdict,
                    title: report.title.clone(),
                    summary: report.summary.clone(),
                    text: String::new(),
                    annotations: Vec::new(),
                };
                let conclusion = if cancelled {
                    "cancelled"
                } else {
                    checks::conclusion(report.verdict)
                };
                if let Err(e) =
                    checks::complete_as(client, repo, &run, &check, conclusion, &elsewhere).await
                {
                    tracing::warn!("check run {} not completed: {e}", run.id);
                }
                continue;
            };
            let check = checks_to_send.remove(i);
            let conclusion = finished_conclusion(check.verdict, cancelled);
            match checks::complete_as(client, repo, &run, &check, conclusion, &elsewhere).await {
                Ok(_) => d.check_runs.push(run),
                Err(e) => {
                    tracing::warn!("check run {} not completed: {e}", run.id);
                    checks_to_send.insert(0, check);
                    refused = Some(e);
                    break;
                }
            }
        }
    }
    if refused.is_none() {
        let mut rest = Vec::new();
        for check in checks_to_send.drain(..) {
            if refused.is_some() {
                rest.push(check);
                continue;
            }
            match checks::create_completed(
                client,
                repo,
                sha,
                &check,
                run_url.as_deref(),
                &elsewhere,
            )
            .await
            {
                Ok((run, _)) => d.check_runs.push(run),
                Err(e) => {
                    tracing::warn!("check run {} not created: {e}", check.name);
                    rest.push(check);
                    refused = Some(e);
                }
            }
        }
        checks_to_send = rest;
    }
    d.annotations_in_check_run = refused.is_none();
    if let Some(e @ GithubError::Transport { .. }) = &refused {
        // Nothing else will get through either.
        d.notes.push(format!(
            "The GitHub API at {} could not be reached ({}): no check run, status or PR comment was written; the report is only in this job summary and the step's annotations.",
            client.api_url(),
            e.message()
        ));
        d.requests = client.request_count() - before;
        return d;
    }
    if let Some(e) = &refused {
        // Fallback 1: commit statuses for every check that has no run (and the overall verdict if the
        // started run was the one refused).
        let mut contexts: Vec<(String, &str, String)> = checks_to_send
            .iter()
            .map(|c| (c.name.clone(), statuses::state(c.verdict), c.title.clone()))
            .collect();
        if d.check_runs.is_empty() && contexts.is_empty() {
            contexts.push((
                started_name.clone(),
                statuses::state(report.verdict),
                report.title.clone(),
            ));
        }
        let mut status_error = None;
        for (context, state, title) in &contexts {
            match statuses::set(client, repo, sha, state, context, title, run_url.as_deref()).await
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
                d.statuses.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", "),
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

    // The sticky comment.
    if comment
        && report.comment
        && let Some(pr) = &ctx.pull_request
    {
        let body = markdown::comment_body(report, d.report_url(run_url.clone()).as_deref());
        match comments::upsert(client, repo, pr.number, &report.marker(), &body).await {
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
