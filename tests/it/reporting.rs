//! Reporting against the OpenAPI-validating fake GitHub: check runs, sticky comments, fallbacks, rate
//! limits, GHES. Also the fake's own contract.

use crate::helpers::{has, lacks};
use serde_json::json;

use crate::helpers::fake_github::FakeGithub;

async fn raw(
    method: reqwest::Method,
    url: String,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    stevedore::net::crypto::install();
    let c = crate::helpers::reqwest_client();
    let mut rb = c
        .request(method, url)
        .header("authorization", "Bearer t")
        .header("user-agent", "stevedore-test")
        .header("x-github-api-version", "2022-11-28");
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let resp = rb.send().await.unwrap();
    let status = resp.status().as_u16();
    let v = resp.json().await.unwrap_or(serde_json::Value::Null);
    (status, v)
}

#[tokio::test]
async fn the_fake_rejects_an_undocumented_route() {
    let gh = FakeGithub::start().await;
    let (s, v) = raw(
        reqwest::Method::GET,
        format!("{}/repos/octo-org/octo-repo/no-such-thing", gh.url()),
        None,
    )
    .await;
    assert_eq!(s, 500);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("no documented operation"),
        "{v}"
    );
    // A documented path with an undocumented method.
    let (s, _) = raw(
        reqwest::Method::PUT,
        format!("{}/repos/octo-org/octo-repo/check-runs", gh.url()),
        Some(json!({})),
    )
    .await;
    assert_eq!(s, 500);
    assert_eq!(gh.violations().len(), 2, "{:?}", gh.violations());
}

#[tokio::test]
async fn the_fake_rejects_a_schema_violating_body() {
    let gh = FakeGithub::start().await;
    let url = format!("{}/repos/octo-org/octo-repo/check-runs", gh.url());
    // `head_sha` missing, status outside the enum, 51 annotations, an unknown property.
    for (body, why) in [
        (json!({"name": "x"}), "required property `head_sha`"),
        (
            json!({"name": "x", "head_sha": "a", "status": "running"}),
            "is not one of",
        ),
        (
            json!({"name": "x", "head_sha": "a", "output": {"title": "t", "summary": "s",
                "annotations": (0..51).map(|i| json!({"path": "a", "start_line": i + 1, "end_line": i + 1,
                "annotation_level": "warning", "message": "m"})).collect::<Vec<_>>()}}),
            "maxItems 50",
        ),
        (
            json!({"name": "x", "head_sha": "a", "colour": "red"}),
            "`colour` is not in the schema",
        ),
        (
            json!({"name": 5, "head_sha": "a"}),
            "expected string, found integer",
        ),
    ] {
        let (s, v) = raw(reqwest::Method::POST, url.clone(), Some(body)).await;
        assert_eq!(s, 500, "{v}");
        assert!(v["message"].as_str().unwrap().contains(why), "{why}: {v}");
    }
    assert_eq!(gh.violations().len(), 5);
    // A valid body passes and is stored.
    let (s, v) = raw(
        reqwest::Method::POST,
        url,
        Some(json!({"name": "x", "head_sha": "a", "status": "in_progress"})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(gh.check_runs().len(), 1);
    assert_eq!(gh.violations().len(), 5);
}

#[tokio::test]
async fn the_fake_serves_under_the_ghes_prefix_and_paginates() {
    let gh = FakeGithub::start().await;
    for i in 0..45 {
        let (s, _) = raw(
            reqwest::Method::POST,
            format!(
                "{}/repos/octo-org/octo-repo/issues/7/comments",
                gh.ghes_url()
            ),
            Some(json!({"body": format!("c{i}")})),
        )
        .await;
        assert_eq!(s, 201);
    }
    stevedore::net::crypto::install();
    let resp = crate::helpers::reqwest_client()
        .get(format!(
            "{}/repos/octo-org/octo-repo/issues/7/comments?per_page=20",
            gh.ghes_url()
        ))
        .header("authorization", "Bearer t")
        .header("user-agent", "t")
        .header("x-github-api-version", "2022-11-28")
        .send()
        .await
        .unwrap();
    let link = resp.headers()["link"].to_str().unwrap().to_owned();
    has(
        &link,
        "/api/v3/repos/octo-org/octo-repo/issues/7/comments?per_page=20&page=2>; rel=\"next\"",
    );
    has(&link, "page=3>; rel=\"last\"");
    let v: Vec<serde_json::Value> = resp.json().await.unwrap();
    assert_eq!(v.len(), 20);
    gh.assert_no_violations();
}

/// A client for the fake with short waits (the fake's faults are one-shot, so the retry succeeds).
fn client(base: &str) -> stevedore::github::Client {
    stevedore::net::crypto::install();
    stevedore::github::Client::new(base, secrecy::SecretString::from("ghs_test"))
        .unwrap()
        .with_policy(stevedore::github::RetryPolicy {
            max_retries: 3,
            max_rate_limit_waits: 3,
            backoff: std::time::Duration::from_millis(5),
            max_wait: std::time::Duration::from_millis(20),
        })
}

const CHECK_RUNS: &str = "POST /repos/{owner}/{repo}/check-runs";
const COMMENTS: &str = "GET /repos/{owner}/{repo}/issues/{issue_number}/comments";

#[tokio::test]
async fn client_works_against_a_ghes_base_url() {
    let gh = FakeGithub::start().await;
    let c = client(&format!("{}/", gh.ghes_url()));
    let v = c
        .post(
            "/repos/octo-org/octo-repo/issues/3/comments",
            &json!({"body": "hello"}),
        )
        .await
        .unwrap();
    assert!(v["url"].as_str().unwrap().contains("/api/v3/repos/"), "{v}");
    let all = c
        .get_paged("/repos/octo-org/octo-repo/issues/3/comments")
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
    assert!(gh.requests().iter().all(|r| r.path.starts_with("/api/v3/")));
    gh.assert_no_violations();
}

#[tokio::test]
async fn client_follows_pagination_to_the_end() {
    let gh = FakeGithub::start().await;
    let c = client(&gh.url());
    for i in 0..7 {
        c.post(
            "/repos/octo-org/octo-repo/issues/3/comments",
            &json!({"body": format!("c{i}")}),
        )
        .await
        .unwrap();
    }
    let all = c
        .get_paged("/repos/octo-org/octo-repo/issues/3/comments?per_page=3")
        .await
        .unwrap();
    let bodies: Vec<_> = all.iter().map(|c| c["body"].as_str().unwrap()).collect();
    assert_eq!(bodies, ["c0", "c1", "c2", "c3", "c4", "c5", "c6"]);
    assert_eq!(gh.count(COMMENTS), 3);
    gh.assert_no_violations();
}

#[tokio::test]
async fn client_waits_out_rate_limits_and_retries_server_errors() {
    let gh = FakeGithub::start().await;
    gh.secondary_rate_limit_once(CHECK_RUNS, 2);
    gh.primary_rate_limit_once(CHECK_RUNS, 30);
    gh.server_error(CHECK_RUNS, 502, 1);
    let c = client(&gh.url());
    let v = c
        .post(
            "/repos/octo-org/octo-repo/check-runs",
            &json!({"name": "n", "head_sha": "0123456789abcdef0123456789abcdef01234567"}),
        )
        .await
        .unwrap();
    assert_eq!(v["name"], "n");
    assert_eq!(gh.count(CHECK_RUNS), 4);
    assert_eq!(gh.check_runs().len(), 1);
    let waits = c.rate_limit_waits();
    assert_eq!(
        waits[0],
        std::time::Duration::from_secs(2),
        "retry-after honoured"
    );
    assert!(
        waits[1] >= std::time::Duration::from_secs(28),
        "x-ratelimit-reset honoured: {waits:?}"
    );
    assert_eq!(c.request_count(), 4);
}

#[tokio::test]
async fn client_errors_carry_status_route_and_permission_hint() {
    let gh = FakeGithub::start().await;
    gh.forbid(CHECK_RUNS);
    let c = client(&gh.url());
    let e = c
        .post(
            "/repos/octo-org/octo-repo/check-runs",
            &json!({"name": "n", "head_sha": "0123456789abcdef0123456789abcdef01234567"}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(403));
    assert!(e.to_string().contains("permissions: checks: write"), "{e}");
    assert!(
        e.to_string()
            .contains("Resource not accessible by integration"),
        "{e}"
    );
    // Not retried: a 403 that is not a rate limit is final.
    assert_eq!(gh.count(CHECK_RUNS), 1);
    let e = c
        .get("/repos/octo-org/octo-repo/releases/tags/nope")
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(404));
}

// ---- the whole step, with a chosen report, against the fake ----

use stevedore::cancel::Cancel;
use stevedore::inputs::Mode;
use stevedore::report::{Annotation, CheckReport, Commands, Level, Masker, Report, Verdict};

use crate::helpers::run::{Step, StepResult};

const HEAD: &str = "0123456789abcdef0123456789abcdef01234567";
const PR_HEAD: &str = "fedcba9876543210fedcba9876543210fedcba98";
const CREATE_RUN: &str = "POST /repos/{owner}/{repo}/check-runs";
const UPDATE_RUN: &str = "PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}";
const CREATE_COMMENT: &str = "POST /repos/{owner}/{repo}/issues/{issue_number}/comments";
const CREATE_STATUS: &str = "POST /repos/{owner}/{repo}/statuses/{sha}";

/// A lint-gate step in Actions reporting to `api_url` with a token.
pub(crate) fn step(api_url: &str) -> Step {
    Step::new()
        .input("mode", "lint-gate")
        .input("github-token", "ghs_faketoken0123456789")
        .var("GITHUB_API_URL", api_url)
        .var("GITHUB_SERVER_URL", "https://github.com")
}

/// The step as a pull_request event for PR 7 (from a fork when `fork`).
pub(crate) fn on_pr(s: Step, fork: bool) -> Step {
    let head_repo = if fork {
        "fork-owner/octo-repo"
    } else {
        "octo-org/octo-repo"
    };
    s.event(
        "pull_request",
        json!({"number": 7, "pull_request": {"number": 7, "title": "feat: x",
            "head": {"sha": PR_HEAD, "ref": "feature", "repo": {"full_name": head_repo}},
            "base": {"ref": "main", "repo": {"full_name": "octo-org/octo-repo"}}, "labels": []}}),
    )
}

/// Runs the step with `report` standing in for the mode's result.
pub(crate) async fn run_reporting(s: Step, report: Report) -> StepResult {
    stevedore::net::crypto::install();
    let (cmds, buf) = Commands::buffer(Masker::default(), true);
    let code =
        stevedore::app::run_with(s.env.clone(), cmds, Cancel::never(), async |_rt, _mode| {
            Ok(report)
        })
        .await;
    s.result(code, &buf)
}

/// Runs the lint-gate report (a success, 3 annotations) of a same-repository pull request against the
/// GitHub API at `api_url`, with `vars` set too.
pub(crate) async fn report_pr_success(api_url: &str, vars: &[(&str, &str)]) -> StepResult {
    let s = vars
        .iter()
        .fold(on_pr(step(api_url), false), |s, (k, v)| s.var(k, v));
    run_reporting(s, report_with(Verdict::Success, 3)).await
}

pub(crate) fn report_with(verdict: Verdict, annotations: usize) -> Report {
    let mut r = Report::new(
        Mode::LintGate,
        verdict,
        "3 checks",
        "| check | result |\n| --- | --- |\n| lint | ok |\n",
    );
    for i in 0..annotations {
        let level = [Level::Error, Level::Warning, Level::Notice][i % 3];
        r.checks[0].annotations.push(
            Annotation::new(
                level,
                format!("src/f{}.rs", i % 97),
                (i % 500) as u32 + 1,
                format!("finding {i}"),
            )
            .with_title(format!("rule-{}", i % 13)),
        );
    }
    r
}

#[tokio::test]
async fn ten_thousand_annotations_all_arrive_in_at_most_201_requests() {
    let gh = FakeGithub::start().await;
    let t = std::time::Instant::now();
    let r = run_reporting(step(&gh.url()), report_with(Verdict::Failure, 10_000)).await;
    // Figures for docs/reporting.md "Measured" (printed, never asserted).
    eprintln!(
        "BENCH annotations=10000 requests={} wall={:.2}s (debug build, fake validates every body)",
        gh.requests().len(),
        t.elapsed().as_secs_f64()
    );
    assert_eq!(r.code, 1, "the verdict decides the exit code");
    gh.assert_no_violations();
    let runs = gh.check_runs();
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(run.head_sha, HEAD);
    assert_eq!(run.status, "completed");
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    assert_eq!(run.annotations.len(), 10_000, "none lost");
    for (i, a) in run.annotations.iter().enumerate() {
        assert_eq!(a["message"], format!("finding {i}"), "in order");
    }
    let requests = gh.count(CREATE_RUN) + gh.count(UPDATE_RUN);
    assert!(requests <= 201, "{requests} requests");
    assert_eq!(requests, 201);
    assert_eq!(gh.max_concurrent_writes(), 1, "writes one at a time");
    // The run's closing error comes first (a report without a recorded reason: its title), then the
    // first nine findings as workflow-command annotations (the runner keeps 10 errors per step), the
    // rest noted in the summary.
    assert_eq!(
        r.stdout.lines().find(|l| l.starts_with("::error")),
        Some(
            "::error title=stevedore lint-gate::3 checks%0ASee the job summary (and the check run) for the details of the failure."
        )
    );
    assert_eq!(
        r.stdout
            .lines()
            .filter(|l| l.starts_with("::error") && l.contains(",file=src/"))
            .count(),
        9
    );
    has(&r.summary, "9971 more finding(s) are in the check run");
    assert_eq!(
        r.output("report-url"),
        Some(format!("{}/octo-org/octo-repo/runs/{}", gh.url(), run.id).as_str())
    );
}

#[tokio::test]
async fn several_checks_get_one_check_run_each() {
    let gh = FakeGithub::start().await;
    let mut report = report_with(Verdict::Failure, 3);
    for (name, v) in [("Tests", Verdict::Failure), ("Lint", Verdict::Success)] {
        report.checks.push(CheckReport {
            name: format!("stevedore / lint-gate / {name}"),
            verdict: v,
            title: format!("{name}: {}", v.as_str()),
            summary: format!("{name} summary"),
            text: String::new(),
            annotations: vec![Annotation::new(Level::Warning, "a.rs", 2, name)],
        });
    }
    let r = run_reporting(step(&gh.url()), report).await;
    assert_eq!(r.code, 1);
    gh.assert_no_violations();
    let runs = gh.check_runs();
    let names: Vec<_> = runs.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "stevedore / lint-gate",
            "stevedore / lint-gate / Tests",
            "stevedore / lint-gate / Lint"
        ]
    );
    let conclusions: Vec<_> = runs
        .iter()
        .map(|c| c.conclusion.as_deref().unwrap())
        .collect();
    assert_eq!(conclusions, ["failure", "failure", "success"]);
    assert!(runs.iter().all(|c| c.status == "completed"));
    assert_eq!(runs[1].annotations.len(), 1);
}

#[tokio::test]
async fn a_200_kb_summary_is_truncated_not_rejected() {
    let gh = FakeGithub::start().await;
    let mut report = report_with(Verdict::Success, 0);
    let big = "ünïcödé line with a few words to fill the summary\n".repeat(4000);
    assert!(big.len() > 200_000);
    report.summary = big.clone();
    report.checks[0].summary = big.clone();
    report.checks[0].text = big.clone();
    let r = run_reporting(on_pr(step(&gh.url()), false), report).await;
    assert_eq!(r.code, 0);
    gh.assert_no_violations();
    let run = &gh.check_runs()[0];
    assert_eq!(run.conclusion.as_deref(), Some("success"));
    for t in [run.summary.as_ref().unwrap(), run.text.as_ref().unwrap()] {
        assert!(t.len() <= 65_535, "{}", t.len());
        assert!(t.len() > 60_000, "not cut more than needed: {}", t.len());
        assert!(
            t.contains("**Truncated:**") && t.contains("job summary"),
            "visible note"
        );
    }
    let comments = gh.comments(7);
    assert_eq!(comments.len(), 1);
    assert!(comments[0].body.chars().count() <= 65_536);
    assert!(comments[0].body.contains("Truncated"));
    // The job summary keeps everything.
    assert!(r.summary.contains(&big));
}

#[tokio::test]
async fn two_concurrent_writers_of_one_sticky_comment_leave_exactly_one() {
    use stevedore::github::comments;
    let gh = FakeGithub::start().await;
    // An unrelated comment and another mode's sticky comment must survive.
    let other = client(&gh.url());
    other
        .post(
            "/repos/octo-org/octo-repo/issues/7/comments",
            &json!({"body": "LGTM"}),
        )
        .await
        .unwrap();
    other
        .post(
            "/repos/octo-org/octo-repo/issues/7/comments",
            &json!({"body": "<!-- stevedore:deploy -->\nx"}),
        )
        .await
        .unwrap();
    // Someone else wrote our marker first (issue 25, finding 2): the writers' dedup must leave it alone.
    gh.set_identity("mallory-token", "mallory", "User");
    let forged = comment_as(
        &gh,
        "mallory-token",
        7,
        "<!-- stevedore:lint-gate -->\nall green",
    )
    .await;
    for round in 0..5 {
        let (a, b) = (client(&gh.url()), client(&gh.url()));
        let marker = "<!-- stevedore:lint-gate -->";
        let (body_a, body_b) = (format!("from A {round}"), format!("from B {round}"));
        let (ra, rb) = tokio::join!(
            comments::upsert(&a, "octo-org/octo-repo", 7, marker, &body_a),
            comments::upsert(&b, "octo-org/octo-repo", 7, marker, &body_b),
        );
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        let ours: Vec<_> = gh
            .comments(7)
            .into_iter()
            .filter(|c| c.body.contains(marker) && c.author == "github-actions[bot]")
            .collect();
        assert_eq!(ours.len(), 1, "round {round}: {ours:?}");
        let theirs = gh.comments(7);
        let theirs = theirs.iter().find(|c| c.id == forged);
        assert_eq!(
            theirs.map(|c| c.body.as_str()),
            Some("<!-- stevedore:lint-gate -->\nall green"),
            "round {round}"
        );
        assert_eq!(ra.id, ours[0].id);
        assert_eq!(rb.id, ours[0].id);
        assert!(
            ours[0].body.ends_with(&format!(" {round}")),
            "{}",
            ours[0].body
        );
    }
    assert_eq!(gh.comments(7).len(), 4);
    gh.assert_no_violations();
}

#[tokio::test]
async fn duplicates_left_by_a_race_converge_to_the_oldest() {
    use stevedore::github::comments::{self, Action};
    let gh = FakeGithub::start().await;
    let c = client(&gh.url());
    let marker = "<!-- stevedore:deploy:production -->";
    for body in ["old 1", "old 2", "old 3"] {
        c.post(
            "/repos/octo-org/octo-repo/issues/7/comments",
            &json!({"body": format!("{marker}\n{body}")}),
        )
        .await
        .unwrap();
    }
    let oldest = gh.comments(7)[0].id;
    let s = comments::upsert(&c, "octo-org/octo-repo", 7, marker, "new")
        .await
        .unwrap();
    assert_eq!(
        (s.id, s.action.clone(), s.deleted),
        (oldest, Action::Updated, 2)
    );
    let left = gh.comments(7);
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].body, format!("{marker}\nnew"));
    let again = comments::upsert(&c, "octo-org/octo-repo", 7, marker, "new")
        .await
        .unwrap();
    assert_eq!(again.action, Action::Unchanged);
    assert_eq!(
        gh.count("PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}"),
        1
    );
    gh.assert_no_violations();
}

#[tokio::test]
async fn a_fork_pr_token_falls_back_and_the_step_still_succeeds() {
    let gh = FakeGithub::start().await;
    // A fork's GITHUB_TOKEN is read-only: every write is refused.
    for route in [CREATE_RUN, CREATE_COMMENT, CREATE_STATUS] {
        gh.forbid(route);
    }
    let r = run_reporting(
        on_pr(step(&gh.url()), true),
        report_with(Verdict::Success, 40),
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert_eq!(r.output("verdict"), Some("success"));
    gh.assert_no_violations();
    assert!(gh.check_runs().is_empty() && gh.comments(7).is_empty());
    let s = &r.summary;
    has(
        s,
        "Check run refused (GitHub answered 403 “Resource not accessible by integration”)",
    );
    has(s, "`permissions: checks: write`");
    has(s, "`permissions: statuses: write`");
    has(s, "PR comment refused");
    has(s, "`permissions: pull-requests: write`");
    has(s, "comes from a fork");
    // Without a check run, every finding is listed in the summary, and the first ones are annotations.
    has(s, "All 40 findings");
    has(s, "finding 39");
    assert!(r.stdout.contains("::error"));
    // report-url falls back to the workflow run.
    assert_eq!(
        r.output("report-url"),
        Some("https://github.com/octo-org/octo-repo/actions/runs/4242")
    );
}

#[tokio::test]
async fn a_refused_check_run_becomes_a_commit_status() {
    let gh = FakeGithub::start().await;
    gh.forbid(CREATE_RUN);
    let r = run_reporting(
        on_pr(step(&gh.url()), false),
        report_with(Verdict::Failure, 0),
    )
    .await;
    assert_eq!(r.code, 1);
    gh.assert_no_violations();
    let st = gh.statuses();
    assert_eq!(st.len(), 1);
    assert_eq!(st[0].0, PR_HEAD);
    assert_eq!(st[0].1["state"], "failure");
    assert_eq!(st[0].1["context"], "stevedore / lint-gate");
    has(
        &r.summary,
        "reported as commit status `stevedore / lint-gate` instead",
    );
    assert_eq!(gh.comments(7).len(), 1, "the comment still works");
}

#[tokio::test]
async fn a_secondary_rate_limit_is_waited_out() {
    let gh = FakeGithub::start().await;
    gh.secondary_rate_limit_once(UPDATE_RUN, 1);
    gh.secondary_rate_limit_once(CREATE_COMMENT, 1);
    let r = run_reporting(
        on_pr(step(&gh.url()), false),
        report_with(Verdict::Success, 60),
    )
    .await;
    assert_eq!(r.code, 0);
    gh.assert_no_violations();
    let run = &gh.check_runs()[0];
    assert_eq!(run.annotations.len(), 60);
    assert_eq!(run.conclusion.as_deref(), Some("success"));
    // 2 batches + 1 refused attempt.
    assert_eq!(gh.count(UPDATE_RUN), 3);
    assert_eq!(gh.comments(7).len(), 1);
    lacks(&r.summary, "refused");
}

#[tokio::test]
async fn a_ghes_base_url_with_api_v3_works() {
    let gh = FakeGithub::start().await;
    let r = report_pr_success(&gh.ghes_url(), &[]).await;
    assert_eq!(r.code, 0);
    gh.assert_no_violations();
    assert_eq!(gh.check_runs().len(), 1);
    assert_eq!(gh.comments(7).len(), 1);
    let reqs = gh.requests();
    assert!(!reqs.is_empty());
    assert!(
        reqs.iter()
            .all(|q| q.path.starts_with("/api/v3/repos/octo-org/octo-repo/")),
        "{reqs:?}"
    );
    assert!(reqs.iter().all(|q| {
        q.headers
            .iter()
            .any(|(k, v)| k == "user-agent" && v.contains("stevedore/"))
    }));
}

#[tokio::test]
async fn no_token_reports_locally_only() {
    let gh = FakeGithub::start().await;
    let s = Step::new()
        .input("mode", "lint-gate")
        .var("GITHUB_API_URL", &gh.url());
    let r = run_reporting(s, report_with(Verdict::Success, 0)).await;
    assert_eq!(r.code, 0);
    assert!(gh.requests().is_empty());
    has(&r.summary, "No `github-token`");
}

#[tokio::test]
async fn deployments_go_in_progress_then_success_and_retire_the_previous_one() {
    use stevedore::github::deployments;
    let gh = FakeGithub::start().await;
    // A failing status on the commit: without `required_contexts: []` GitHub would answer 409.
    let c = client(&gh.url());
    c.post(
        &format!("/repos/octo-org/octo-repo/statuses/{HEAD}"),
        &json!({"state": "failure", "context": "ci/other"}),
    )
    .await
    .unwrap();
    let env = stevedore::Env::from_pairs([
        ("GITHUB_REPOSITORY", "octo-org/octo-repo"),
        ("GITHUB_SHA", HEAD),
        ("GITHUB_REF", "refs/heads/main"),
        ("GITHUB_RUN_ID", "4242"),
    ]);
    let ctx = stevedore::context::Context::from_parts(&env, serde_json::Value::Null);
    let first = deployments::start(&c, &ctx, "staging", "ECS service api")
        .await
        .unwrap();
    deployments::finish(&c, &first, true, Some("https://staging.example.com"), None)
        .await
        .unwrap();
    let second = deployments::start(&c, &ctx, "staging", "ECS service api")
        .await
        .unwrap();
    let third = deployments::start(&c, &ctx, "production", "ECS service api")
        .await
        .unwrap();
    deployments::finish(&c, &third, true, None, None)
        .await
        .unwrap();
    // A failed deployment leaves the previous one active.
    deployments::finish(&c, &second, false, None, Some("https://logs.example.com/1"))
        .await
        .unwrap();
    gh.assert_no_violations();
    let deps = gh.deployments();
    assert_eq!(deps.len(), 3);
    assert_eq!(deps[0]["sha"], HEAD);
    assert_eq!(deps[0]["environment"], "staging");
    assert_eq!(deps[2]["production_environment"], true);
    let states = |id: u64| -> Vec<String> {
        gh.deployment_statuses(id)
            .iter()
            .map(|s| s["state"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(states(first.id), ["in_progress", "success"]);
    assert_eq!(states(second.id), ["in_progress", "failure"]);
    assert_eq!(states(third.id), ["in_progress", "success"]);
    let first_statuses = gh.deployment_statuses(first.id);
    assert_eq!(
        first_statuses[1]["environment_url"],
        "https://staging.example.com"
    );
    assert_eq!(
        first_statuses[1]["log_url"],
        "https://github.com/octo-org/octo-repo/actions/runs/4242"
    );
    assert_eq!(
        gh.deployment_statuses(second.id)[1]["log_url"],
        "https://logs.example.com/1"
    );
    // A later success in staging retires the first.
    let fourth = deployments::start(&c, &ctx, "staging", "again")
        .await
        .unwrap();
    deployments::finish(&c, &fourth, true, None, None)
        .await
        .unwrap();
    assert_eq!(states(first.id), ["in_progress", "success", "inactive"]);
    assert_eq!(
        states(third.id),
        ["in_progress", "success"],
        "other environments untouched"
    );
    gh.assert_no_violations();
}

#[tokio::test]
async fn a_dry_run_writes_nothing_to_github() {
    let gh = FakeGithub::start().await;
    let r = run_reporting(
        on_pr(step(&gh.url()), false).input("dry-run", "true"),
        report_with(Verdict::Success, 0),
    )
    .await;
    assert_eq!(r.code, 0);
    assert!(gh.requests().is_empty(), "{:?}", gh.requests());
    has(&r.summary, "Dry run");
}

// ---- golden Markdown: the PR comment and the job summary, for a passing and a failing report ----

/// Compares `actual` with `tests/fixtures/golden/<name>`; `STEVEDORE_UPDATE_GOLDEN=1` rewrites the file.
fn golden(name: &str, actual: &str) {
    crate::helpers::golden::assert_golden(name, actual);
}

fn passing_report() -> Report {
    use stevedore::report::markdown::table;
    let summary = table(
        &["check", "result", "time"],
        &[
            vec!["lint".into(), "✅ 0 findings".into(), "4.1 s".into()],
            vec![
                "tests".into(),
                "✅ 412 passed, coverage 87.2 % (floor 80 %)".into(),
                "38.0 s".into(),
            ],
            vec![
                "pr-title".into(),
                "✅ `feat(api): add | pipe`".into(),
                "0.0 s".into(),
            ],
        ],
    );
    let mut r = Report::new(
        Mode::LintGate,
        Verdict::Success,
        "3 of 3 checks passed",
        summary,
    );
    r.checks[0].annotations.push(Annotation::new(
        Level::Notice,
        "src/lib.rs",
        10,
        "coverage dropped 0.3 %",
    ));
    r
}

fn failing_report() -> Report {
    use stevedore::report::markdown::{code, details, mermaid_timeline, table};
    let mut summary = table(
        &["service", "task definition", "result"],
        &[vec![
            "api".into(),
            "api:42 → api:43".into(),
            "❌ rolled back to api:42".into(),
        ]],
    );
    summary.push('\n');
    summary.push_str(&mermaid_timeline(
        "Deployment of api",
        &[
            (
                "+0s".into(),
                vec!["task definition api:43 registered".into()],
            ),
            (
                "+3s".into(),
                vec!["service updated".into(), "2 tasks started".into()],
            ),
            (
                "+41s".into(),
                vec!["task stopped: CannotPullContainerError".into()],
            ),
            ("+44s".into(), vec!["rolled back to api:42".into()]),
        ],
    ));
    summary.push('\n');
    summary.push_str(&details(
        "Stopped task reasons",
        &code(
            "text",
            "CannotPullContainerError: pull image manifest has been retried 5 time(s)",
        ),
    ));
    let mut r = Report::new(
        Mode::Deploy,
        Verdict::Failure,
        "api failed to roll out; rolled back",
        summary,
    );
    r.key = Some("production".into());
    for i in 0..13 {
        r.checks[0].annotations.push(
            Annotation::new(
                Level::Error,
                "deploy/task-definition.json",
                i + 1,
                format!("container `api` problem {i}"),
            )
            .with_title("ECS"),
        );
    }
    r
}

fn local_delivery(r: &Report) -> stevedore::report::LocalDelivery {
    let (cmds, _) = Commands::buffer(Masker::default(), true);
    stevedore::report::emit_annotations(&cmds, r)
}

#[test]
fn golden_comment_and_summary_of_a_passing_report() {
    use stevedore::github::comments::compose;
    use stevedore::report::markdown::{comment_body, job_summary};
    let r = passing_report();
    golden(
        "lint-gate-pass.comment.md",
        &compose(
            &r.marker(),
            &comment_body(&r, Some("https://github.com/octo-org/octo-repo/runs/1001")),
        ),
    );
    golden(
        "lint-gate-pass.summary.md",
        &job_summary(&r, &local_delivery(&r), true, &[]),
    );
}

#[test]
fn golden_comment_and_summary_of_a_failing_report() {
    use stevedore::github::comments::compose;
    use stevedore::report::markdown::{comment_body, job_summary};
    let r = failing_report();
    golden(
        "deploy-fail.comment.md",
        &compose(
            &r.marker(),
            &comment_body(&r, Some("https://github.com/octo-org/octo-repo/runs/1002")),
        ),
    );
    golden(
        "deploy-fail.summary.md",
        &job_summary(&r, &local_delivery(&r), true, &[]),
    );
    // With the check run refused: every finding is listed, and the note says what to do.
    golden(
        "deploy-fail-fallback.summary.md",
        &job_summary(
            &r,
            &local_delivery(&r),
            false,
            &["Check run refused (GitHub answered 403 “Resource not accessible by integration”): reported as commit status `stevedore / deploy (production)` instead, and the annotations are in this summary. To get check runs with annotations, add `permissions: checks: write` to the job.".to_owned()],
        ),
    );
}

#[tokio::test]
async fn a_cancelled_step_completes_its_check_run_as_cancelled() {
    let gh = FakeGithub::start().await;
    let s = step(&gh.url());
    let (handle, cancel) = stevedore::cancel::pair();
    let (cmds, _) = Commands::buffer(Masker::default(), true);
    let code = stevedore::app::run_with(s.env.clone(), cmds, cancel, async |_rt, _mode| {
        // The runner cancels while the mode runs.
        handle.cancel("SIGINT");
        Err(stevedore::modes::ModeError::Failed {
            message: "cancelled while waiting for the rollout".into(),
            hint: None,
        })
    })
    .await;
    assert_eq!(code, 1);
    let runs = gh.check_runs();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, "completed");
    assert_eq!(runs[0].conclusion.as_deref(), Some("cancelled"));
    gh.assert_no_violations();
}

#[tokio::test]
async fn an_unreachable_api_is_noted_and_costs_little() {
    // A closed loopback port: connections are refused.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let r = run_reporting(
        on_pr(step(&format!("http://{closed}")), false),
        report_with(Verdict::Success, 0),
    )
    .await;
    assert_eq!(r.code, 0);
    assert_eq!(r.output("verdict"), Some("success"));
    has(&r.summary, "could not be reached");
    assert!(
        !r.summary.contains("permissions:"),
        "no permission advice for a network problem"
    );
}

#[tokio::test]
async fn mode_requests_leave_out_the_reporting_fan_out() {
    let gh = FakeGithub::start().await;
    let r = run_reporting(
        on_pr(step(&gh.url()), false),
        report_with(Verdict::Skipped, 0),
    )
    .await;
    assert_eq!(r.code, 0);
    assert!(!gh.requests().is_empty());
    assert!(gh.mode_requests().is_empty(), "{:?}", gh.mode_requests());
    assert_eq!(gh.check_runs()[0].conclusion.as_deref(), Some("skipped"));
}

#[tokio::test]
async fn the_fake_routes_refs_with_slashes_and_literal_segments() {
    let gh = FakeGithub::start().await;
    let shas = gh.seed_commits("main", &["feat: a", "fix: b"]);
    gh.set_ref("refs/heads/feature/x", &shas[0]);
    gh.seed_release("v1.0.0", false, false);
    let c = client(&gh.url());
    let r = c
        .get("/repos/octo-org/octo-repo/git/ref/heads/feature/x")
        .await
        .unwrap();
    assert_eq!(r["object"]["sha"], shas[0].as_str());
    let r = c
        .get("/repos/octo-org/octo-repo/git/ref/heads%2Ffeature%2Fx")
        .await
        .unwrap();
    assert_eq!(r["ref"], "refs/heads/feature/x");
    // `latest` is the literal route, not `{release_id}` (which must be an integer).
    let r = c
        .get("/repos/octo-org/octo-repo/releases/latest")
        .await
        .unwrap();
    assert_eq!(r["tag_name"], "v1.0.0");
    let cmp = c
        .get(&format!(
            "/repos/octo-org/octo-repo/compare/{}...main",
            shas[0]
        ))
        .await
        .unwrap();
    assert_eq!(cmp["status"], "ahead");
    assert_eq!(cmp["ahead_by"], 1);
    assert_eq!(cmp["commits"][0]["commit"]["message"], "fix: b");
    // Another repository does not exist here.
    let e = c
        .get("/repos/someone/else/releases/latest")
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(404));
    // An undocumented query parameter is a violation.
    let e = c
        .get("/repos/octo-org/octo-repo/releases?colour=red")
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(500));
    let v = gh.violations();
    // The client retries a 500 like any server error; every attempt is recorded.
    assert_eq!(v.len(), 4, "{v:?}");
    assert!(
        v.iter()
            .all(|m| m.contains("query parameter `colour` is not documented")),
        "{v:?}"
    );
}

/// Benchmark (prints figures): GitHub requests per report, for the shapes a run produces: a push with a
/// passing one-check report, a PR with a failing report (check run + sticky comment, first run and
/// re-run), and a PR report with 120 annotations (three annotation batches).
/// `cargo test --test it bench_requests_per_report -- --ignored --nocapture`
#[tokio::test]
#[ignore = "benchmark: prints figures"]
async fn bench_requests_per_report() {
    let cases: [(&str, bool, Verdict, usize, usize); 4] = [
        ("push, passing, no findings", false, Verdict::Success, 0, 1),
        (
            "PR, failing, 5 findings, first run",
            true,
            Verdict::Failure,
            5,
            1,
        ),
        (
            "PR, failing, 5 findings, re-run (comment updated)",
            true,
            Verdict::Failure,
            5,
            2,
        ),
        ("PR, failing, 120 findings", true, Verdict::Failure, 120, 1),
    ];
    println!("| report | GitHub requests (last run) | of which writes |");
    println!("| --- | --- | --- |");
    for (name, pr, verdict, n, runs) in cases {
        let gh = FakeGithub::start().await;
        let mut before = 0;
        let mut writes_before = 0;
        for _ in 0..runs {
            before = gh.requests().len();
            writes_before = gh.requests().iter().filter(|q| q.method != "GET").count();
            let s = if pr {
                on_pr(step(&gh.url()), false)
            } else {
                step(&gh.url())
            };
            let _ = run_reporting(s, report_with(verdict, n)).await;
        }
        gh.assert_no_violations();
        let total = gh.requests().len() - before;
        let writes = gh.requests().iter().filter(|q| q.method != "GET").count() - writes_before;
        println!("| {name} | {total} | {writes} |");
    }
}

/// Posts `body` on issue `issue` with `token` (written as whoever the fake takes `token` for); its id.
async fn comment_as(gh: &FakeGithub, token: &str, issue: u64, body: &str) -> u64 {
    let v = gh
        .client_as(token)
        .post(
            &format!("/repos/octo-org/octo-repo/issues/{issue}/comments"),
            &json!({ "body": body }),
        )
        .await
        .unwrap();
    v["id"].as_u64().unwrap()
}

/// No request but GETs touched comment `id`.
fn never_written(gh: &FakeGithub, id: u64) -> bool {
    let tail = format!("/issues/comments/{id}");
    gh.requests()
        .iter()
        .all(|q| q.method == "GET" || !q.path.ends_with(&tail))
}

/// Issue 25, finding 2: a commenter who posts our marker as the first line of a comment before stevedore's
/// first run does not get that comment adopted (and then edit it into a fake green report): stevedore
/// writes its own beside it, on every run, and never edits or deletes theirs.
#[tokio::test]
async fn a_comment_carrying_our_marker_by_someone_else_is_never_adopted_edited_or_deleted() {
    let gh = FakeGithub::start().await;
    gh.set_identity("mallory-token", "mallory", "User");
    let forged = "<!-- stevedore:lint-gate -->\n### ✅ stevedore lint-gate: all checks passed";
    let theirs = comment_as(&gh, "mallory-token", 7, forged).await;
    for round in 0..2 {
        let r = run_reporting(
            on_pr(step(&gh.url()), false),
            report_with(Verdict::Failure, 0),
        )
        .await;
        assert_eq!(r.code, 1, "{}", r.stdout);
        let cs = gh.comments(7);
        assert_eq!(cs.len(), 2, "round {round}: {cs:#?}");
        assert_eq!(
            (cs[0].id, cs[0].author.as_str(), cs[0].body.as_str()),
            (theirs, "mallory", forged),
            "round {round}: the forged comment was taken for ours"
        );
        assert_eq!(cs[1].author, "github-actions[bot]");
        assert!(
            cs[1]
                .body
                .starts_with("<!-- stevedore:lint-gate -->\n### ❌")
                && cs[1].body.contains("3 checks"),
            "{}",
            cs[1].body
        );
    }
    assert!(never_written(&gh, theirs), "{:#?}", gh.requests());
    // Mallory's comment and ours, once: the second run found its own again.
    assert_eq!(gh.count(CREATE_COMMENT), 2);
    gh.assert_no_violations();
}

/// Issue 25, finding 2, with a personal access token: its identity is `GET /user`'s login, and of the
/// comments carrying the marker only the one that login wrote is adopted (not another workflow's).
#[tokio::test]
async fn a_personal_token_adopts_only_the_comment_its_own_login_wrote() {
    const PAT: &str = "ghp_releasebot0123456789abcdefghijklmnop";
    let gh = FakeGithub::start().await;
    gh.set_identity(PAT, "release-bot", "User");
    let marker = "<!-- stevedore:lint-gate -->";
    let other = comment_as(
        &gh,
        "ghs_otherworkflow",
        7,
        &format!("{marker}\nanother workflow"),
    )
    .await;
    let own = comment_as(&gh, PAT, 7, &format!("{marker}\nan earlier run")).await;
    let r = run_reporting(
        on_pr(step(&gh.url()).input("github-token", PAT), false),
        report_with(Verdict::Success, 0),
    )
    .await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.summary);
    let cs = gh.comments(7);
    assert_eq!(cs.len(), 2, "{cs:#?}");
    assert_eq!(
        (cs[0].id, cs[0].body.as_str()),
        (other, "<!-- stevedore:lint-gate -->\nanother workflow")
    );
    assert_eq!((cs[1].id, cs[1].author.as_str()), (own, "release-bot"));
    has(&cs[1].body, "3 checks");
    assert!(never_written(&gh, other));
    assert_eq!(gh.count("GET /user"), 1);
    gh.assert_no_violations();
}

/// Issue 25, finding 2, with another GitHub App's installation token: `GET /user` is refused to it, the
/// check run it creates names its app, and its bot's comment is found again; a `github-actions[bot]`
/// comment carrying the marker is not its own.
#[tokio::test]
async fn an_app_token_finds_the_comment_its_bot_wrote_and_no_other() {
    const APP: &str = "ghs_releaseapp0123456789";
    let gh = FakeGithub::start().await;
    gh.set_identity(APP, "release-app[bot]", "Bot");
    let marker = "<!-- stevedore:lint-gate -->";
    let actions = comment_as(
        &gh,
        "ghs_otherworkflow",
        7,
        &format!("{marker}\nanother workflow"),
    )
    .await;
    for _ in 0..2 {
        let r = run_reporting(
            on_pr(step(&gh.url()).input("github-token", APP), false),
            report_with(Verdict::Success, 0),
        )
        .await;
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.summary);
    }
    let cs = gh.comments(7);
    assert_eq!(cs.len(), 2, "{cs:#?}");
    assert_eq!(cs[0].id, actions);
    assert!(never_written(&gh, actions));
    assert_eq!(cs[1].author, "release-app[bot]");
    has(&cs[1].body, "3 checks");
    // One create over both runs, and nothing deleted: the second run knew its bot from the check run.
    assert_eq!(gh.count(CREATE_COMMENT), 2);
    assert_eq!(
        gh.count("DELETE /repos/{owner}/{repo}/issues/comments/{comment_id}"),
        0
    );
    assert_eq!(
        gh.count("GET /user"),
        0,
        "an installation token is not asked"
    );
    gh.assert_no_violations();
}

/// Issue 25, finding 5: a registry that repeats the token it was sent in its 403 answer. The token is
/// masked (`npm-token`), and no request stevedore sends anywhere carries it: not a check run (summary,
/// text, title), not the sticky comment, not a status, not a release, not the chat notification.
#[tokio::test]
async fn a_secret_echoed_by_a_registry_reaches_no_github_request_and_no_notification() {
    use crate::helpers::echo_registry::EchoRegistry;
    use crate::helpers::webhook::Receiver;
    const TOKEN: &str = "npm_EchoedSecret0123456789abcdef";
    // `***`, escaped as the registry's text around it is (it renders as `***`).
    const MASKED: &str = "the token &#42;&#42;&#42; may not publish";
    let registry = EchoRegistry::start("Contact the registry's owner.").await;
    let chat = Receiver::start(Vec::new()).await;
    let gh = FakeGithub::start().await;
    let old = gh.seed_commits("main", &["feat: a"]);
    gh.set_ref("refs/tags/v1.0.0", &old[0]);
    let head = gh.seed_commits("main", &["feat: b (#9)"]).remove(0);
    let s = publish_step(&gh, &head, &registry.url())
        .input("npm-token", TOKEN)
        .input("notify", &chat.url("T0KENWEBHOOK"));
    let r = s.exits(1).await;
    assert!(
        registry.requests().iter().any(|(m, _)| m == "PUT"),
        "the publish never reached the registry: {:?}\n{}",
        registry.requests(),
        r.stdout
    );
    // The refusal is reported, with the token as `***`.
    has(&r.summary, "HTTP 403");
    lacks(&r.summary, TOKEN);
    let runs = gh.check_runs();
    assert!(
        runs.iter().any(|c| c
            .summary
            .as_deref()
            .is_some_and(|s| s.contains("HTTP 403") && s.contains(MASKED))),
        "{runs:#?}"
    );
    assert!(
        gh.comments(9).iter().any(|c| c.body.contains(MASKED)),
        "{:#?}",
        gh.comments(9)
    );
    for (route, body) in gh.request_bodies() {
        assert!(!body.contains(TOKEN), "{route} carried the token: {body}");
    }
    let sent = chat.received();
    assert!(!sent.is_empty(), "no notification was sent");
    for m in sent {
        assert!(
            !m.body.contains(TOKEN),
            "the notification carried the token: {}",
            m.body
        );
    }
    assert!(
        r.stdout
            .lines()
            .all(|l| !l.contains(TOKEN) || l.starts_with("::add-mask::")),
        "{}",
        r.stdout
    );
    gh.assert_no_violations();
}

/// A publish step on `main` at `head`, run for merged PR #9 (so it also writes the sticky comment),
/// uploading `dist/*.tgz` (`dist/lib.tgz`: echo-lib 1.1.0) to `registry`.
pub(crate) fn publish_step(gh: &FakeGithub, head: &str, registry: &str) -> Step {
    let s = Step::new();
    std::fs::create_dir_all(s.workspace.join("dist")).unwrap();
    std::fs::write(
        s.workspace.join("dist/lib.tgz"),
        crate::helpers::registries::npm_tgz("echo-lib", "1.1.0", "x"),
    )
    .unwrap();
    s
        .input("mode", "publish")
        .input("github-token", "ghs_faketoken0123456789")
        .input("packages", "dist/*.tgz")
        .input("npm-registry", registry)
        .var("GITHUB_API_URL", &gh.url())
        .var("GITHUB_SERVER_URL", "https://github.com")
        .var("GITHUB_SHA", head)
        .event(
            "pull_request",
            json!({
                "action": "closed", "number": 9,
                "pull_request": {
                    "number": 9, "merged": true, "merge_commit_sha": head, "title": "feat: b", "labels": [],
                    "head": {"sha": "1111111111111111111111111111111111111111", "ref": "feature", "repo": {"full_name": "octo-org/octo-repo"}},
                    "base": {"sha": "2222222222222222222222222222222222222222", "ref": "main", "repo": {"full_name": "octo-org/octo-repo"}},
                }
            }),
        )
}

/// docs/reporting.md, "Which checks to require in branch protection": every name it lists is the name the
/// code gives the check run (issue 30: no doc said which names to require).
#[test]
fn the_documented_check_names_are_the_ones_created() {
    use stevedore::github::fanout::run_name;
    use stevedore::modes::lint_gate::gate::check_run_name;
    let doc =
        std::fs::read_to_string(crate::helpers::runner::repo_root().join("docs/reporting.md"))
            .unwrap();
    let section = doc
        .split("\n## Which checks to require in branch protection\n")
        .nth(1)
        .expect("the section")
        .split("\n## ")
        .next()
        .unwrap();
    // A deploy step's report key is its environment unless `report-key` says otherwise.
    let env = stevedore::Env::from_pairs([
        ("INPUT_MODE", "deploy"),
        ("INPUT_FUNCTION-NAME", "api"),
        ("INPUT_ZIP-FILE", "app.zip"),
        ("INPUT_ENVIRONMENT", "staging"),
    ]);
    let deploy = stevedore::config::Config::from_env(&env).unwrap_or_else(|e| panic!("{e}"));
    let names = [
        run_name(Mode::LintGate, None),
        check_run_name("Tests"),
        check_run_name("Generated files up to date"),
        check_run_name("PR title"),
        run_name(Mode::Deploy, deploy.common.report_key.as_deref()),
        run_name(Mode::Build, None),
        run_name(Mode::Publish, None),
        run_name(Mode::Credentials, None),
    ];
    for n in &names {
        assert!(
            section.contains(&format!("`{n}`")),
            "`{n}` is not in the section"
        );
    }
    assert_eq!(names[4], "stevedore / deploy (staging)");
    assert!(section.contains(&format!(
        "`{}`",
        run_name(Mode::LintGate, Some("<report-key>"))
    )));
    assert!(section.contains(&format!(
        "`{}`",
        run_name(Mode::Deploy, Some("<environment>"))
    )));
    assert!(section.contains(&format!("`{}`", check_run_name("<check>"))));
}
