//! Check runs: created `in_progress` when a mode starts, completed with conclusion, summary, text and every
//! annotation (50 per request, GitHub's cap; the rest in further updates, which append).
//!
//! Limits GitHub enforces, handled here rather than rejected there: `output.summary` and `output.text` at
//! most 65,535 bytes (cut on a UTF-8 boundary with a visible note), titles at most 255 characters,
//! annotation messages and raw details at most 64 KiB, columns only on single-line annotations.

use http::Method;
use serde::{Deserialize, Serialize};

use super::{Client, GithubError};
use crate::report::{Annotation, CheckReport, Level, Verdict, truncate_bytes, truncate_with_note};

/// GitHub's cap on annotations per create/update request.
pub const ANNOTATIONS_PER_REQUEST: usize = 50;
/// GitHub's cap on `output.summary` and `output.text`, in bytes.
pub const MAX_OUTPUT_BYTES: usize = 65_535;
/// GitHub's cap on titles, in characters.
pub const MAX_TITLE_CHARS: usize = 255;
/// GitHub's cap on an annotation's `message` and `raw_details`, in bytes.
pub const MAX_ANNOTATION_BYTES: usize = 65_535;

/// A check run we created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckRun {
    pub id: u64,
    pub name: String,
    pub html_url: Option<String>,
}

/// What completing a check run took.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Completion {
    pub requests: usize,
    pub annotations_sent: usize,
    pub summary_truncated: bool,
    pub text_truncated: bool,
}

/// The check-run `conclusion` of a verdict.
#[must_use]
pub fn conclusion(v: Verdict) -> &'static str {
    v.as_str()
}

/// `s` cut to `max` characters, with an ellipsis when cut.
#[must_use]
pub fn cut_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn level(l: Level) -> &'static str {
    match l {
        Level::Notice => "notice",
        Level::Warning => "warning",
        Level::Error => "failure",
    }
}

/// One annotation as the Checks API takes it (`output.annotations[]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckAnnotation {
    pub path: String,
    pub start_line: u32,
    pub end_line: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_column: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_column: Option<u32>,
    pub annotation_level: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_details: Option<String>,
}

/// `output` of a check-run create or update.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Output<'a> {
    pub title: &'a str,
    pub summary: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<&'a [CheckAnnotation]>,
}

/// The body of `POST /repos/{owner}/{repo}/check-runs`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CreateCheckRun<'a> {
    pub name: &'a str,
    pub head_sha: &'a str,
    pub status: &'static str,
    pub output: Output<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details_url: Option<&'a str>,
}

/// The body of `PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UpdateCheckRun<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conclusion: Option<&'a str>,
    pub output: Output<'a>,
}

/// What stevedore reads of a check run GitHub answers with.
#[derive(Clone, Debug, Deserialize)]
struct CheckRunAnswer {
    id: u64,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    html_url: Option<String>,
    /// The GitHub App that owns the check run, i.e. the token's app: its bot writes our comments.
    #[serde(default)]
    app: Option<AppAnswer>,
}

/// The part of a check run's `app` stevedore reads.
#[derive(Clone, Debug, Deserialize)]
struct AppAnswer {
    #[serde(default)]
    slug: Option<String>,
}

/// One annotation as the Checks API takes it.
#[must_use]
pub fn check_annotation(a: &Annotation) -> CheckAnnotation {
    let start = a.start_line.max(1);
    let end = a.end_line.max(start);
    let path = if a.path.is_empty() { "." } else { &a.path };
    let columns = if start == end {
        a.start_column
            .filter(|c| *c > 0)
            .map(|c| (c, a.end_column.filter(|e| *e >= c).unwrap_or(c)))
    } else {
        None
    };
    CheckAnnotation {
        path: path.to_owned(),
        start_line: start,
        end_line: end,
        start_column: columns.map(|(c, _)| c),
        end_column: columns.map(|(_, e)| e),
        annotation_level: level(a.level),
        message: truncate_bytes(
            if a.message.is_empty() {
                "(no message)"
            } else {
                &a.message
            },
            MAX_ANNOTATION_BYTES,
        )
        .to_owned(),
        title: a
            .title
            .as_deref()
            .filter(|t| !t.is_empty())
            .map(|t| cut_chars(t, MAX_TITLE_CHARS)),
        raw_details: a
            .raw_details
            .as_deref()
            .filter(|d| !d.is_empty())
            .map(|d| truncate_bytes(d, MAX_ANNOTATION_BYTES).to_owned()),
    }
}

/// `summary`/`text` within GitHub's byte limit, with a note pointing to where the rest is.
#[must_use]
pub fn fit_output(s: &str, elsewhere: &str) -> (String, bool) {
    if s.len() <= MAX_OUTPUT_BYTES {
        return (s.to_owned(), false);
    }
    let note = format!(
        "this text was {} bytes and GitHub allows {MAX_OUTPUT_BYTES} in a check run; {elsewhere}",
        s.len()
    );
    (truncate_with_note(s, MAX_OUTPUT_BYTES, &note), true)
}

fn repo_route(repo: &str, rest: &str) -> String {
    format!("/repos/{repo}{rest}")
}

/// Creates a check run `in_progress` on `head_sha`.
pub async fn start(
    client: &Client,
    repo: &str,
    head_sha: &str,
    name: &str,
    details_url: Option<&str>,
) -> Result<CheckRun, GithubError> {
    let name = cut_chars(name, MAX_TITLE_CHARS);
    let body = CreateCheckRun {
        name: &name,
        head_sha,
        status: "in_progress",
        output: Output {
            title: "Running…",
            summary: "stevedore is running; this check completes when it finishes.",
            text: None,
            annotations: None,
        },
        details_url,
    };
    let run: CheckRunAnswer = client
        .send(Method::POST, &repo_route(repo, "/check-runs"), &body)
        .await?;
    // Only an installation token creates check runs; GitHub names its app, whose bot
    // (`<slug>[bot]`) is the author of every comment the same token writes.
    if let Some(slug) = run.app.and_then(|a| a.slug).filter(|s| !s.is_empty()) {
        client.learn_identity(&format!("{slug}[bot]"), super::IdentitySource::App);
    }
    Ok(CheckRun {
        id: run.id,
        name: run.name.unwrap_or(name),
        html_url: run.html_url,
    })
}

/// Completes `run` with `check`'s verdict and output, sending every annotation.
///
/// Annotation batches go first (the run stays `in_progress` while they arrive), and the last request
/// carries the final batch, the text and the conclusion: `ceil(n / 50)` requests in all (one for none).
pub async fn complete(
    client: &Client,
    repo: &str,
    run: &CheckRun,
    check: &CheckReport,
    elsewhere: &str,
) -> Result<Completion, GithubError> {
    complete_as(
        client,
        repo,
        run,
        check,
        conclusion(check.verdict),
        elsewhere,
    )
    .await
}

/// [`complete`] with an explicit conclusion (`cancelled` when the runner cancelled the step).
pub async fn complete_as(
    client: &Client,
    repo: &str,
    run: &CheckRun,
    check: &CheckReport,
    conclusion: &str,
    elsewhere: &str,
) -> Result<Completion, GithubError> {
    let route = repo_route(repo, &format!("/check-runs/{}", run.id));
    let title = cut_chars(&check.title, MAX_TITLE_CHARS);
    let (summary, summary_truncated) = fit_output(&check.summary, elsewhere);
    let (text, text_truncated) = fit_output(&check.text, elsewhere);
    let annotations: Vec<CheckAnnotation> =
        check.annotations.iter().map(check_annotation).collect();
    let mut batches: Vec<&[CheckAnnotation]> =
        annotations.chunks(ANNOTATIONS_PER_REQUEST).collect();
    let last = batches.pop().unwrap_or(&[]);
    let mut done = Completion {
        summary_truncated,
        text_truncated,
        ..Completion::default()
    };
    for b in batches {
        let batch = UpdateCheckRun {
            status: None,
            conclusion: None,
            output: Output {
                title: &title,
                summary: &summary,
                text: None,
                annotations: Some(b),
            },
        };
        let _: serde::de::IgnoredAny = client.send(Method::PATCH, &route, &batch).await?;
        done.requests += 1;
        done.annotations_sent += b.len();
    }
    let last_update = UpdateCheckRun {
        status: Some("completed"),
        conclusion: Some(conclusion),
        output: Output {
            title: &title,
            summary: &summary,
            text: Some(text.as_str()).filter(|t| !t.is_empty()),
            annotations: Some(last),
        },
    };
    let _: serde::de::IgnoredAny = client.send(Method::PATCH, &route, &last_update).await?;
    done.requests += 1;
    done.annotations_sent += last.len();
    Ok(done)
}

/// Creates a check run for `check` and completes it (for checks that had no run at start).
pub async fn create_completed(
    client: &Client,
    repo: &str,
    head_sha: &str,
    check: &CheckReport,
    details_url: Option<&str>,
    elsewhere: &str,
) -> Result<(CheckRun, Completion), GithubError> {
    let run = start(client, repo, head_sha, &check.name, details_url).await?;
    let mut c = complete(client, repo, &run, check, elsewhere).await?;
    c.requests += 1;
    Ok((run, c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_only_on_single_lines_and_levels_map() {
        let mut a = Annotation::new(Level::Error, "src/a.rs", 3, "m").with_column(Some(5));
        let v = check_annotation(&a);
        assert_eq!(v.annotation_level, "failure");
        assert_eq!((v.start_column, v.end_column), (Some(5), Some(5)));
        a.end_line = 4;
        let v = check_annotation(&a);
        assert_eq!((v.start_column, v.end_column), (None, None));
        let json = serde_json::to_value(&v).unwrap();
        assert!(json.get("start_column").is_none(), "{json}");
    }

    #[test]
    fn bodies_serialise_as_the_checks_api_takes_them() {
        let a = [check_annotation(
            &Annotation::new(Level::Warning, "", 0, "").with_column(Some(2)),
        )];
        let body = UpdateCheckRun {
            status: Some("completed"),
            conclusion: Some("success"),
            output: Output {
                title: "t",
                summary: "s",
                text: None,
                annotations: Some(&a),
            },
        };
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::json!({
                "status": "completed",
                "conclusion": "success",
                "output": {"title": "t", "summary": "s", "annotations": [{
                    "path": ".", "start_line": 1, "end_line": 1, "start_column": 2, "end_column": 2,
                    "annotation_level": "warning", "message": "(no message)",
                }]},
            })
        );
    }

    #[test]
    fn long_outputs_are_cut_on_a_char_boundary_with_a_note() {
        let s = "é".repeat(100_000);
        let (t, cut) = fit_output(&s, "see the job summary");
        assert!(cut);
        assert!(t.len() <= MAX_OUTPUT_BYTES);
        assert!(t.contains("200000 bytes"));
        assert!(t.ends_with("see the job summary\n"));
        let (t, cut) = fit_output("short", "x");
        assert_eq!((t.as_str(), cut), ("short", false));
    }

    #[test]
    fn titles_are_cut_to_255_chars() {
        let t = cut_chars(&"ü".repeat(300), MAX_TITLE_CHARS);
        assert_eq!(t.chars().count(), 255);
        assert!(t.ends_with('…'));
    }
}
