//! The apply side of the review: find the fingerprint of the plan reviewed on the pull request, believe
//! it only when GitHub vouches for where it came from, and compare the new plan with it.
//!
//! What is read back is input from outside, so it is verified, and anything short of a verified record
//! refuses the apply (fail closed):
//!
//! 1. The pull request: the run's own (`pull_request` events), else the merged pull request GitHub names
//!    for the run's commit (`GET /repos/{o}/{r}/commits/{sha}/pulls`), and only one whose
//!    `merge_commit_sha` is that commit.
//! 2. The check run `stevedore / plan (ENV)` on the pull request's head commit, created by the app of this
//!    run's token (`app.slug`, `github-actions` for the workflow's `GITHUB_TOKEN`): only that app can
//!    create or edit its check runs, so no person and no other app wrote it. The newest one counts, it
//!    must be completed with conclusion `success` or `neutral` (the review's gate passed), and its record
//!    must match its own digest and name the same environment and tool.

use serde::Deserialize;

use crate::github::Client;
use crate::modes::runtime::{ModeError, Runtime};
use crate::report::{Report, Verdict, markdown};

use super::fingerprint::{self, Record};
use super::model::Plan;
use super::{Config, Entry, PlanError, check_name};

/// The pull request's labels, as the event that started the run carries them.
#[must_use]
pub fn labels(rt: &Runtime<'_>) -> Vec<String> {
    rt.ctx
        .pull_request
        .as_ref()
        .map(|p| p.labels.clone())
        .unwrap_or_default()
}

#[derive(Debug, Deserialize)]
struct PullAnswer {
    number: u64,
    #[serde(default)]
    merged_at: Option<String>,
    #[serde(default)]
    merge_commit_sha: Option<String>,
    head: HeadAnswer,
}

#[derive(Debug, Deserialize)]
struct HeadAnswer {
    sha: String,
}

#[derive(Debug, Deserialize)]
struct CheckRunsAnswer {
    #[serde(default)]
    check_runs: Vec<CheckRunAnswer>,
}

#[derive(Debug, Deserialize)]
struct CheckRunAnswer {
    id: u64,
    #[serde(default)]
    head_sha: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    conclusion: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    app: Option<AppAnswer>,
    #[serde(default)]
    output: Option<OutputAnswer>,
}

#[derive(Debug, Deserialize)]
struct AppAnswer {
    #[serde(default)]
    slug: Option<String>,
}

#[derive(Debug, Deserialize)]
struct OutputAnswer {
    #[serde(default)]
    summary: Option<String>,
}

fn refuse(message: impl Into<String>, hint: impl Into<String>) -> PlanError {
    PlanError::NotReviewed {
        message: message.into(),
        hint: hint.into(),
    }
}

const HINT_REVIEW: &str = "Run `mode: plan` (`plan-check: review`) on the pull request with `permissions: checks: write`, merge it once its plan check passed, and give this job `permissions: checks: read, pull-requests: read`.";

/// The pull request whose review counts, as (number, head commit).
async fn reviewed_pull(
    rt: &Runtime<'_>,
    client: &Client,
    repo: &str,
) -> Result<(u64, String), PlanError> {
    if let Some(pr) = &rt.ctx.pull_request
        && let Some(h) = &pr.head_sha
    {
        return Ok((pr.number, h.clone()));
    }
    let Some(sha) = rt.ctx.sha.as_deref() else {
        return Err(refuse("the run has no commit (GITHUB_SHA)", HINT_REVIEW));
    };
    let route = format!(
        "/repos/{repo}/commits/{}/pulls",
        crate::github::path_escape(sha, false)
    );
    let pulls: Vec<PullAnswer> = client.get_paged_as(&route).await.map_err(|e| {
        refuse(
            format!("the pull request of commit {sha} cannot be found: {e}"),
            HINT_REVIEW,
        )
    })?;
    pulls
        .into_iter()
        .find(|p| p.merged_at.is_some() && p.merge_commit_sha.as_deref() == Some(sha))
        .map(|p| (p.number, p.head.sha))
        .ok_or_else(|| {
            refuse(
                format!("commit {sha} is not the merge of a reviewed pull request, so no reviewed plan applies to it"),
                "Apply only commits that a merged pull request made, after its plan was reviewed (`on: push` to the default branch).",
            )
        })
}

/// The verified record of `environment` on `head`.
async fn reviewed_record(
    client: &Client,
    repo: &str,
    head: &str,
    number: u64,
    environment: &str,
) -> Result<Record, PlanError> {
    let name = check_name(environment);
    let route = format!(
        "/repos/{repo}/commits/{}/check-runs?check_name={}",
        crate::github::path_escape(head, false),
        crate::github::path_escape(&name, false)
    );
    let runs: CheckRunsAnswer = client.get_as(&route).await.map_err(|e| {
        refuse(
            format!("the check runs of pull request #{number} cannot be read: {e}"),
            HINT_REVIEW,
        )
    })?;
    let me = client.identity().await.map_err(|e| {
        refuse(
            format!("the token's identity cannot be settled: {e}"),
            HINT_REVIEW,
        )
    })?;
    let app = me
        .login
        .strip_suffix("[bot]")
        .unwrap_or(&me.login)
        .to_owned();
    let ours = runs
        .check_runs
        .into_iter()
        .filter(|r| r.name == name && r.head_sha == head)
        .filter(|r| {
            r.app
                .as_ref()
                .and_then(|a| a.slug.as_deref())
                .is_some_and(|s| s.eq_ignore_ascii_case(&app))
        })
        .max_by_key(|r| r.id);
    let Some(run) = ours else {
        return Err(refuse(
            format!(
                "pull request #{number} has no `{name}` check run by `{app}` on its head commit {head}: no reviewed plan for {environment}"
            ),
            HINT_REVIEW,
        ));
    };
    if run.status.as_deref() != Some("completed")
        || !matches!(run.conclusion.as_deref(), Some("success" | "neutral"))
    {
        return Err(refuse(
            format!(
                "the review of {environment} on pull request #{number} did not pass (check run {} is {} {})",
                run.id,
                run.status.as_deref().unwrap_or("?"),
                run.conclusion.as_deref().unwrap_or("")
            ),
            "Only a plan whose review passed is applied: fix the pull request's plan and merge again.",
        ));
    }
    let summary = run.output.and_then(|o| o.summary).unwrap_or_default();
    let record = Record::parse(&summary).map_err(|why| {
        refuse(
            format!(
                "the reviewed plan of {environment} (check run {}) cannot be believed: {why}",
                run.id
            ),
            HINT_REVIEW,
        )
    })?;
    if record.environment != environment {
        return Err(refuse(
            format!(
                "check run {} records environment `{}`, not `{environment}`",
                run.id, record.environment
            ),
            HINT_REVIEW,
        ));
    }
    Ok(record)
}

/// Compares every plan with its reviewed fingerprint; the report refuses on any difference.
pub async fn check(
    rt: &Runtime<'_>,
    cfg: &Config,
    plans: &[(Entry, Plan)],
) -> Result<Report, ModeError> {
    let client = rt.github().ok_or_else(|| {
        refuse(
            "no GitHub token, so the reviewed plan cannot be found",
            "Give the job `github-token` (the default `${{ github.token }}`) with `checks: read` and `pull-requests: read`.",
        )
    })?;
    let Some(repo) = rt.ctx.repository.clone() else {
        return Err(refuse("the run has no repository (GITHUB_REPOSITORY)", HINT_REVIEW).into());
    };
    let (number, head) = reviewed_pull(rt, &client, &repo).await?;
    let mut summary = String::new();
    let mut verdict = Verdict::Success;
    let mut failed = Vec::new();
    let mut checks = Vec::new();
    for (e, plan) in plans {
        let reviewed = reviewed_record(&client, &repo, &head, number, &e.environment).await?;
        let now = fingerprint::of(plan, &e.environment, &cfg.volatile);
        let mut diffs = Vec::new();
        if reviewed.tool != now.tool {
            diffs.push(format!(
                "the plan was reviewed as {}, this one is {}",
                reviewed.tool, now.tool
            ));
        }
        if plan.errored {
            diffs.push("this plan errored".to_owned());
        }
        diffs.extend(
            fingerprint::compare(&reviewed, &now)
                .iter()
                .map(fingerprint::Difference::describe),
        );
        let mut part = format!("#### {}\n\n", markdown::text(&e.environment));
        let v = if diffs.is_empty() {
            part.push_str(&format!(
                "✅ The plan matches the plan reviewed on pull request #{number} ({} change(s){}).\n",
                now.entries.len().max(reviewed.groups.values().map(|g| g.0).sum()),
                if cfg.volatile.is_empty() {
                    String::new()
                } else {
                    ", volatile paths ignored".to_owned()
                }
            ));
            Verdict::Success
        } else {
            part.push_str(&format!(
                "❌ The plan differs from the plan reviewed on pull request #{number}; apply refused:\n\n"
            ));
            for d in diffs.iter().take(200) {
                part.push_str(&format!("- {}\n", markdown::sentence(d)));
            }
            if diffs.len() > 200 {
                part.push_str(&format!("- _…and {} more_\n", diffs.len() - 200));
            }
            failed.push(format!(
                "{}: {} difference(s) from the reviewed plan ({})",
                e.environment,
                diffs.len(),
                diffs.iter().take(3).cloned().collect::<Vec<_>>().join("; ")
            ));
            Verdict::Failure
        };
        verdict = verdict.and(v);
        summary.push_str(&part);
        summary.push('\n');
        checks.push(crate::report::CheckReport {
            name: format!("stevedore / plan-check ({})", e.environment),
            verdict: v,
            title: if v == Verdict::Success {
                format!("{}: matches the reviewed plan", e.environment)
            } else {
                format!("{}: differs from the reviewed plan", e.environment)
            },
            summary: part,
            text: String::new(),
            annotations: Vec::new(),
        });
    }
    let title = if verdict == Verdict::Success {
        format!("matches the plan reviewed on #{number}")
    } else {
        format!("differs from the plan reviewed on #{number}")
    };
    let mut r = Report::new(crate::inputs::Mode::Plan, verdict, title, summary);
    r.checks = checks;
    r.comment = false;
    r.output("reviewed-pull-request", number.to_string());
    if verdict == Verdict::Failure {
        r.fail_because(
            format!("Apply refused: {}.", failed.join(" ")),
            "Do not apply: plan the change on a pull request, have it reviewed, and merge it. If only a value that changes on every run differs (an image tag), declare its path in `volatile`.",
        );
    }
    Ok(r)
}
