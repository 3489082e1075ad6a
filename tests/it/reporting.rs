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
