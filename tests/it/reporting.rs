//! Reporting against the OpenAPI-validating fake GitHub: check runs, sticky comments, fallbacks, rate
//! limits, GHES. Also the fake's own contract.

use serde_json::json;

use crate::helpers::fake_github::FakeGithub;

async fn raw(
    method: reqwest::Method,
    url: String,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let c = reqwest::Client::new();
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
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let resp = reqwest::Client::new()
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
    assert!(
        link.contains(
            "/api/v3/repos/octo-org/octo-repo/issues/7/comments?per_page=20&page=2>; rel=\"next\""
        ),
        "{link}"
    );
    assert!(link.contains("page=3>; rel=\"last\""), "{link}");
    let v: Vec<serde_json::Value> = resp.json().await.unwrap();
    assert_eq!(v.len(), 20);
    gh.assert_no_violations();
}

/// A client for the fake with short waits (the fake's faults are one-shot, so the retry succeeds).
fn client(base: &str) -> stevedore::github::Client {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
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
