//! Pull-request previews of a Lambda function (`preview: true`), whole steps against moto and the
//! validating fake GitHub.
//!
//! moto 5.2.1 keeps one function URL configuration per function and ignores `Qualifier` on
//! Create/Get/Update/DeleteFunctionUrlConfig (its docstrings say "The Qualifier-parameter is not yet
//! implemented"), so two previews would overwrite each other's URL there. [`url_proxy`] therefore plays
//! those four operations per (function, qualifier) as Lambda does — 404 for an alias that does not exist
//! (asked of moto), 409 when a URL already exists, 404 when deleting none — and forwards everything
//! else (aliases, versions, tags, permissions) to moto.

use crate::helpers::has;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::helpers::deploy::{deployments_of, pull_request, record};
use crate::helpers::fake_github::FakeGithub;
use crate::helpers::run::{Step, StepResult};
use crate::lambda::Rig;

const REPO: &str = "octo-org/octo-repo";

/// This repository's record key of PR `n`.
fn key(n: u64) -> String {
    stevedore::modes::deploy::preview::record_key(REPO, n)
}

/// Function URL configurations by (function, qualifier): (URL, auth type).
type Urls = Arc<Mutex<BTreeMap<(String, String), (String, String)>>>;

/// Cancels the step (as the runner's SIGTERM does) when the first function URL creation arrives.
type CancelOnUrl = Arc<Mutex<Option<stevedore::cancel::CancelHandle>>>;

/// A Lambda endpoint with per-qualifier function URL configurations in front of moto.
pub async fn url_proxy(moto: &str, cancel_on_create: CancelOnUrl) -> (String, Urls) {
    use axum::body::Bytes;
    use axum::http::{HeaderMap, Method, StatusCode, Uri};
    let upstream = moto.to_owned();
    let urls: Urls = Arc::default();
    let state = urls.clone();
    let app = axum::Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let (upstream, urls) = (upstream.clone(), urls.clone());
            let cancel_on_create = cancel_on_create.clone();
            async move {
                let creates_url = method == Method::POST && uri.path().ends_with("/url");
                let handle = if creates_url {
                    cancel_on_create.lock().unwrap().take()
                } else {
                    None
                };
                if let Some(h) = handle {
                    // The signal arrives while the request is in flight; the step drops it.
                    h.cancel("SIGTERM");
                    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                    let mut hm = HeaderMap::new();
                    hm.insert("content-type", "application/json".parse().unwrap());
                    return (StatusCode::SERVICE_UNAVAILABLE, hm, Bytes::from("{}"));
                }
                let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
                let p = uri.path();
                let Some(function) = p
                    .strip_prefix("/2021-10-31/functions/")
                    .and_then(|r| r.strip_suffix("/url"))
                    .map(percent_decode)
                else {
                    return forward(&upstream, method, &path, &headers, body).await;
                };
                let qualifier = uri
                    .query()
                    .unwrap_or("")
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("Qualifier="))
                    .unwrap_or("$LATEST")
                    .to_owned();
                let err = |status: StatusCode, kind: &str, msg: &str| {
                    let mut h = HeaderMap::new();
                    h.insert("x-amzn-errortype", kind.parse().unwrap());
                    h.insert("content-type", "application/json".parse().unwrap());
                    (status, h, Bytes::from(json!({"Type": "User", "Message": msg}).to_string()))
                };
                let ok = |status: StatusCode, v: Value| {
                    let mut h = HeaderMap::new();
                    h.insert("content-type", "application/json".parse().unwrap());
                    (status, h, Bytes::from(v.to_string()))
                };
                // The alias must exist (ask moto; only the signature travels, not the body's length).
                let mut get_headers = HeaderMap::new();
                if let Some(a) = headers.get("authorization") {
                    get_headers.insert("authorization", a.clone());
                }
                let (alias_status, _, alias_body) = forward(
                    &upstream,
                    Method::GET,
                    &format!("/2015-03-31/functions/{function}/aliases/{qualifier}"),
                    &get_headers,
                    Bytes::new(),
                )
                .await;
                if !alias_status.is_success() {
                    return err(
                        StatusCode::NOT_FOUND,
                        "ResourceNotFoundException",
                        &format!("Function not found: {function}:{qualifier}"),
                    );
                }
                let alias: Value = serde_json::from_slice(&alias_body).unwrap();
                let arn = alias["AliasArn"].as_str().unwrap_or_default().to_owned();
                let key = (function.clone(), qualifier.clone());
                let mut urls = urls.lock().unwrap();
                let doc = |u: &str, auth: &str| {
                    json!({"FunctionUrl": u, "FunctionArn": arn, "AuthType": auth,
                           "CreationTime": "2026-12-01T00:00:00.000+0000",
                           "LastModifiedTime": "2026-12-01T00:00:00.000+0000", "InvokeMode": "BUFFERED"})
                };
                let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                match method {
                    Method::POST => {
                        if urls.contains_key(&key) {
                            return err(
                                StatusCode::CONFLICT,
                                "ResourceConflictException",
                                "Failed to create function url config for [functionArn = ...]. Error message:  FunctionUrlConfig exists for this Lambda function",
                            );
                        }
                        let u = format!(
                            "https://{}.lambda-url.us-east-1.on.aws/",
                            uuid_like(&function, &qualifier)
                        );
                        let auth = body["AuthType"].as_str().unwrap_or_default().to_owned();
                        urls.insert(key, (u.clone(), auth.clone()));
                        ok(StatusCode::CREATED, doc(&u, &auth))
                    }
                    Method::GET => match urls.get(&key) {
                        Some((u, a)) => ok(StatusCode::OK, doc(u, a)),
                        None => err(
                            StatusCode::NOT_FOUND,
                            "ResourceNotFoundException",
                            "The resource you requested does not exist.",
                        ),
                    },
                    Method::PUT => match urls.get_mut(&key) {
                        Some((u, a)) => {
                            if let Some(n) = body["AuthType"].as_str() {
                                *a = n.to_owned();
                            }
                            ok(StatusCode::OK, doc(u, a))
                        }
                        None => err(
                            StatusCode::NOT_FOUND,
                            "ResourceNotFoundException",
                            "The resource you requested does not exist.",
                        ),
                    },
                    Method::DELETE => match urls.remove(&key) {
                        Some(_) => ok(StatusCode::NO_CONTENT, Value::Null),
                        None => err(
                            StatusCode::NOT_FOUND,
                            "ResourceNotFoundException",
                            "The resource you requested does not exist.",
                        ),
                    },
                    _ => err(StatusCode::METHOD_NOT_ALLOWED, "InvalidRequest", "method"),
                }
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), state)
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// A stable 32-hex-character URL id for (function, qualifier), like Lambda's.
fn uuid_like(function: &str, qualifier: &str) -> String {
    use sha2::Digest as _;
    let h = sha2::Sha256::digest(format!("{function}:{qualifier}").as_bytes());
    h.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

async fn forward(
    upstream: &str,
    method: axum::http::Method,
    path: &str,
    headers: &axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> (
    axum::http::StatusCode,
    axum::http::HeaderMap,
    axum::body::Bytes,
) {
    crate::lambda::forward(upstream, method, path, headers, body).await
}

/// A function in moto behind the URL proxy.
struct Preview {
    rig: Rig,
    urls: Urls,
    gh: FakeGithub,
    cancel_on_url: CancelOnUrl,
}

impl Preview {
    async fn new(prefix: &str) -> Option<Preview> {
        let mut rig = Rig::new(prefix).await?;
        let cancel_on_url = CancelOnUrl::default();
        let (endpoint, urls) = url_proxy(&rig.endpoint, cancel_on_url.clone()).await;
        rig.endpoint = endpoint;
        let gh = FakeGithub::start().await;
        Some(Preview {
            rig,
            urls,
            gh,
            cancel_on_url,
        })
    }

    /// A preview step for `event`/`action` on PR `n` at commit `sha`, with `code` as the zip.
    fn step(&self, n: u64, action: &str, sha: &str, code: Option<&str>) -> Step {
        pull_request(self.base(code), REPO, n, action, sha)
    }

    fn base(&self, code: Option<&str>) -> Step {
        let step = self.rig.step(code).input("preview", "true");
        record(step, &self.gh, "preview", "ghs_test")
    }

    fn sweep(&self) -> Step {
        self.base(None)
            .event("schedule", json!({"schedule": "17 3 * * *"}))
    }

    async fn aliases(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .rig
            .lambda
            .list_aliases()
            .function_name(&self.rig.function)
            .send()
            .await
            .unwrap()
            .aliases()
            .iter()
            .map(|a| a.name().unwrap().to_owned())
            .collect();
        v.sort();
        v
    }

    async fn alias_version(&self, name: &str) -> Option<String> {
        self.rig
            .lambda
            .get_alias()
            .function_name(&self.rig.function)
            .name(name)
            .send()
            .await
            .ok()
            .map(|a| a.function_version().unwrap().to_owned())
    }

    async fn function_arn(&self) -> String {
        let f = self
            .rig
            .lambda
            .get_function()
            .function_name(&self.rig.function)
            .send()
            .await
            .unwrap();
        f.configuration()
            .unwrap()
            .function_arn()
            .unwrap()
            .to_owned()
    }

    async fn tags(&self) -> BTreeMap<String, String> {
        let arn = self.function_arn().await;
        self.rig
            .lambda
            .list_tags()
            .resource(arn)
            .send()
            .await
            .unwrap()
            .tags()
            .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }

    async fn set_tag(&self, key: &str, value: &str) {
        let arn = self.function_arn().await;
        self.rig
            .lambda
            .tag_resource()
            .resource(arn)
            .tags(key, value)
            .send()
            .await
            .unwrap();
    }

    fn url(&self, qualifier: &str) -> Option<(String, String)> {
        self.urls
            .lock()
            .unwrap()
            .get(&(self.rig.function.clone(), qualifier.to_owned()))
            .cloned()
    }

    /// States of the deployments of `preview/pr-<n>`, oldest first, each with its status list.
    fn deployments(&self, n: u64) -> Vec<(Value, Vec<String>)> {
        deployments_of(&self.gh, &format!("preview/pr-{n}"))
    }
}

fn sha(c: char) -> String {
    std::iter::repeat_n(c, 40).collect()
}

fn ok(r: &StepResult) {
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.summary);
}

#[tokio::test]
async fn a_preview_is_created_updated_and_removed_on_close_idempotently() {
    let Some(pv) = Preview::new("preview-life").await else {
        return;
    };
    pv.gh.add_pr(7, "feat: thing", &sha('a'), &[]);

    // opened: version 2, alias pr-7, a URL for it, recorded in a function tag.
    let r = pv.step(7, "opened", &sha('a'), Some("pr7-a")).run().await;
    ok(&r);
    assert_eq!(r.output("verdict"), Some("success"), "{}", r.summary);
    assert_eq!(pv.alias_version("pr-7").await.as_deref(), Some("2"));
    assert_eq!(
        pv.alias_version("live").await.as_deref(),
        Some("1"),
        "production alias untouched"
    );
    let (url, auth) = pv.url("pr-7").expect("a function URL for the alias");
    assert_eq!(auth, "AWS_IAM");
    assert_eq!(r.output("preview-url"), Some(url.as_str()));
    let tags = pv.tags().await;
    let tag = tags.get(&key(7)).expect("the preview record");
    assert!(
        tag.starts_with(&format!("repo={REPO} pr=7 updated=20")),
        "{tag}"
    );
    let comments = pv.gh.comments(7);
    assert_eq!(comments.len(), 1);
    assert!(
        comments[0]
            .body
            .contains("<!-- stevedore:deploy:preview -->")
    );
    has(&comments[0].body, &url);
    let deps = pv.deployments(7);
    assert_eq!(deps.len(), 1, "{deps:?}");
    assert_eq!(deps[0].0["transient_environment"], true);
    assert_eq!(deps[0].1, ["in_progress", "success"]);
    let last = pv.gh.deployment_statuses(deps[0].0["id"].as_u64().unwrap());
    assert_eq!(last.last().unwrap()["environment_url"], url.as_str());

    // synchronize: new code, new commit: the alias moves, the URL stays, comment edited, older
    // deployment inactive.
    let r = pv
        .step(7, "synchronize", &sha('b'), Some("pr7-b"))
        .run()
        .await;
    ok(&r);
    assert_eq!(pv.alias_version("pr-7").await.as_deref(), Some("3"));
    assert_eq!(
        pv.url("pr-7").unwrap().0,
        url,
        "the URL is stable across updates"
    );
    let comments = pv.gh.comments(7);
    assert_eq!(comments.len(), 1, "edited, never duplicated");
    has(&comments[0].body, "version 3");
    let deps = pv.deployments(7);
    assert_eq!(deps.len(), 2, "{deps:?}");
    assert_eq!(deps[0].1.last().unwrap(), "inactive");
    assert_eq!(deps[1].1, ["in_progress", "success"]);

    // A re-run of the same commit edits that deployment instead of adding one.
    let r = pv
        .step(7, "synchronize", &sha('b'), Some("pr7-b"))
        .run()
        .await;
    ok(&r);
    let deps = pv.deployments(7);
    assert_eq!(deps.len(), 2, "{deps:?}");
    assert_eq!(
        deps[1].1,
        ["in_progress", "success", "in_progress", "success"]
    );

    // closed: alias, URL and record gone; deployments inactive; the comment says so.
    let r = pv.step(7, "closed", &sha('b'), None).run().await;
    ok(&r);
    assert_eq!(pv.aliases().await, ["live"]);
    assert_eq!(pv.url("pr-7"), None);
    assert!(!pv.tags().await.contains_key(&key(7)));
    for (_, states) in pv.deployments(7) {
        assert_eq!(states.last().unwrap(), "inactive", "{states:?}");
    }
    let comments = pv.gh.comments(7);
    assert_eq!(comments.len(), 1);
    has(&comments[0].body, "removed (pull request closed)");
    has(&comments[0].body, "alias `pr-7`");

    // closed again: quiet success, nothing touched.
    let r = pv.step(7, "closed", &sha('b'), None).run().await;
    ok(&r);
    assert_eq!(r.output("verdict"), Some("success"));
    has(&r.summary, "There was no preview to remove.");
    has(&r.summary, "No active GitHub deployment");
    // The sticky comment keeps the record of what the first close removed (issue 28).
    let again = pv.gh.comments(7);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].body, comments[0].body);
    pv.gh.assert_no_violations();
}

#[tokio::test]
async fn closing_a_pr_that_never_had_a_preview_leaves_foreign_aliases_alone() {
    let Some(pv) = Preview::new("preview-never").await else {
        return;
    };
    // Someone's own alias that happens to be called pr-9, without our record.
    pv.rig
        .lambda
        .create_alias()
        .function_name(&pv.rig.function)
        .name("pr-9")
        .function_version("1")
        .send()
        .await
        .unwrap();
    let r = pv.step(9, "closed", &sha('c'), None).run().await;
    ok(&r);
    has(&r.summary, "carries no stevedore preview record");
    assert_eq!(pv.aliases().await, ["live", "pr-9"]);
    let r = pv.step(10, "closed", &sha('c'), None).run().await;
    ok(&r);
    has(&r.summary, "There was no preview to remove.");
    // Nothing was removed: no comment headed "removed" on pull requests that never had a preview.
    assert!(pv.gh.comments(9).is_empty(), "{:?}", pv.gh.comments(9));
    assert!(pv.gh.comments(10).is_empty(), "{:?}", pv.gh.comments(10));
    pv.gh.assert_no_violations();
}

#[tokio::test]
async fn a_public_url_gets_the_resource_policy_and_switching_back_removes_it() {
    let Some(pv) = Preview::new("preview-none").await else {
        return;
    };
    let r = pv
        .step(3, "opened", &sha('a'), Some("pr3"))
        .input("preview-url-auth", "NONE")
        .run()
        .await;
    ok(&r);
    assert_eq!(pv.url("pr-3").unwrap().1, "NONE");
    let policy = pv.rig.policy("pr-3").await.unwrap();
    has(&policy, "stevedore-preview-url");
    has(&policy, "lambda:InvokeFunctionUrl");
    has(&policy, "stevedore-preview-invoke");
    has(&r.summary, "`NONE`: public");

    let r = pv
        .step(3, "synchronize", &sha('b'), Some("pr3"))
        .run()
        .await;
    ok(&r);
    assert_eq!(pv.url("pr-3").unwrap().1, "AWS_IAM");
    has(&r.summary, "auth type changed from NONE to AWS_IAM");
}

#[tokio::test]
async fn preview_max_refuses_a_new_preview_naming_the_open_ones() {
    let Some(pv) = Preview::new("preview-max").await else {
        return;
    };
    for n in [1, 2] {
        let r = pv
            .step(n, "opened", &sha('a'), Some(&format!("pr{n}")))
            .input("preview-max", "2")
            .run()
            .await;
        ok(&r);
    }
    let r = pv
        .step(3, "opened", &sha('a'), Some("pr3"))
        .input("preview-max", "2")
        .exits(1)
        .await;
    assert!(
        r.stdout.contains("::error") && r.stdout.contains("`preview-max` (2)"),
        "{}",
        r.stdout
    );
    for open in ["#1 (`pr-1`", "#2 (`pr-2`"] {
        assert!(r.summary.contains(open), "{open} in {}", r.summary);
    }
    has(&r.summary, "Nothing was created for #3");
    assert_eq!(pv.aliases().await, ["live", "pr-1", "pr-2"]);
    assert!(!pv.tags().await.contains_key(&key(3)));
    assert!(pv.gh.comments(3)[0].body.contains("refused"));
    // An open preview is still updated when the limit is reached.
    let r = pv
        .step(2, "synchronize", &sha('b'), Some("pr2-b"))
        .input("preview-max", "2")
        .run()
        .await;
    ok(&r);

    // An expired preview makes room at once.
    pv.set_tag(
        &key(1),
        &format!("repo={REPO} pr=1 updated=2026-01-01T00:00:00Z"),
    )
    .await;
    let r = pv
        .step(3, "opened", &sha('a'), Some("pr3"))
        .input("preview-max", "2")
        .run()
        .await;
    ok(&r);
    has(&r.summary, "Removed the expired preview of #1");
    // The open previews no longer list the one removed (issue 28: it read "3 of 2: #1, #2, #3").
    has(&r.summary, "2 of 2 (`preview-max`): #2, #3");
    assert_eq!(pv.aliases().await, ["live", "pr-2", "pr-3"]);
    pv.gh.assert_no_violations();
}

#[tokio::test]
async fn the_sweep_removes_closed_and_expired_previews_and_only_ours() {
    let Some(pv) = Preview::new("preview-sweep").await else {
        return;
    };
    for n in [1, 2, 3] {
        pv.gh.add_pr(n, "feat", &sha('a'), &[]);
        ok(&pv
            .step(n, "opened", &sha('a'), Some(&format!("pr{n}")))
            .run()
            .await);
    }
    // #1 closed without its close run (a cancelled job); #2 stale; #3 fresh and open.
    pv.gh.close_pr(1);
    pv.set_tag(
        &key(2),
        &format!("repo={REPO} pr=2 updated=2026-01-01T00:00:00Z"),
    )
    .await;
    // Another repository's preview on the same function, stale: not ours to touch.
    pv.rig
        .lambda
        .create_alias()
        .function_name(&pv.rig.function)
        .name("pr-40")
        .function_version("1")
        .send()
        .await
        .unwrap();
    pv.set_tag(
        "stevedore:preview:pr-40",
        "repo=other-org/other-repo pr=40 updated=2026-01-01T00:00:00Z",
    )
    .await;

    let r = pv.sweep().run().await;
    ok(&r);
    assert_eq!(r.output("previews-removed"), Some("2"), "{}", r.summary);
    assert_eq!(pv.aliases().await, ["live", "pr-3", "pr-40"]);
    assert!(pv.url("pr-1").is_none() && pv.url("pr-2").is_none());
    assert!(pv.url("pr-3").is_some());
    let tags = pv.tags().await;
    assert!(tags.contains_key(&key(3)));
    assert!(tags.contains_key("stevedore:preview:pr-40"));
    assert!(!tags.contains_key(&key(1)));
    has(&r.summary, "| #1 |");
    has(&r.summary, "pull request closed");
    has(&r.summary, "not updated within `preview-ttl`");
    for n in [1, 2] {
        for (_, states) in pv.deployments(n) {
            assert_eq!(states.last().unwrap(), "inactive");
        }
        let c = pv.gh.comments(n);
        assert_eq!(c.len(), 1, "the PR's own comment is edited");
        has(&c[0].body, &format!("Preview of #{n}: removed"));
    }
    assert_eq!(pv.deployments(3)[0].1.last().unwrap(), "success");

    // A second sweep finds nothing more to do.
    let r = pv.sweep().run().await;
    ok(&r);
    assert_eq!(r.output("previews-removed"), Some("0"));
    pv.gh.assert_no_violations();
}

#[tokio::test]
async fn a_fork_pr_is_skipped_with_a_notice_and_nothing_is_created() {
    let Some(pv) = Preview::new("preview-fork").await else {
        return;
    };
    let r = pv
        .step(5, "opened", &sha('a'), Some("pr5"))
        .event(
            "pull_request",
            json!({"action": "opened", "number": 5, "pull_request": {"number": 5,
                "head": {"sha": sha('a'), "repo": {"full_name": "fork-owner/octo-repo"}},
                "base": {"repo": {"full_name": REPO}}}}),
        )
        .run()
        .await;
    ok(&r);
    assert_eq!(r.output("verdict"), Some("skipped"));
    assert!(
        r.stdout.contains("::notice") && r.stdout.contains("fork"),
        "{}",
        r.stdout
    );
    assert_eq!(pv.aliases().await, ["live"]);
    assert!(pv.tags().await.is_empty());
}

#[tokio::test]
async fn a_cancelled_create_leaves_a_record_that_the_close_cleans_up() {
    let Some(pv) = Preview::new("preview-cancel").await else {
        return;
    };
    // The signal comes while the function URL is being created: the record and the alias exist by then.
    let (handle, cancel) = stevedore::cancel::pair();
    *pv.cancel_on_url.lock().unwrap() = Some(handle);
    let r = pv
        .step(4, "opened", &sha('a'), Some("pr4"))
        .run_with_cancel(cancel)
        .await;
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.summary);
    assert!(pv.tags().await.contains_key(&key(4)), "recorded first");
    assert!(pv.url("pr-4").is_none());
    let r = pv.step(4, "closed", &sha('a'), None).run().await;
    ok(&r);
    assert!(pv.tags().await.is_empty(), "{:?}", pv.tags().await);
    assert_eq!(pv.aliases().await, ["live"]);
}

#[tokio::test]
async fn preview_inputs_and_events_are_checked_before_any_aws_call() {
    let Some(pv) = Preview::new("preview-bad").await else {
        return;
    };
    let r = pv
        .base(Some("x"))
        .input("environment", "production")
        .input("traffic", "canary 10% 1m")
        .input("preview-ttl", "a week")
        .exits(2)
        .await;
    for needle in [
        "input `environment` = `production`",
        "input `traffic`",
        "input `preview-ttl` = `a week`",
    ] {
        assert!(r.stdout.contains(needle), "{needle} in {}", r.stdout);
    }
    let r = pv.base(Some("x")).run().await; // a push event
    assert_eq!(r.code, 2, "{}", r.stdout);
    has(&r.stdout, "not on `push`");
    assert_eq!(pv.aliases().await, ["live"]);
}

#[tokio::test]
async fn a_failed_deploy_fails_its_deployment_and_other_pr_actions_leave_the_comment_alone() {
    let Some(pv) = Preview::new("preview-fail").await else {
        return;
    };
    // The zip was never built: a configuration error found after the Deployment started.
    let r = pv
        .step(6, "opened", &sha('a'), None)
        .input("zip-file", "missing.zip")
        .exits(2)
        .await;
    has(&r.stdout, "missing.zip");
    let deps = pv.deployments(6);
    assert_eq!(deps.len(), 1, "{deps:?}");
    assert_eq!(
        deps[0].1,
        ["in_progress", "failure"],
        "never left in_progress"
    );
    assert_eq!(pv.aliases().await, ["live"]);
    // Recorded first, so the close removes the record.
    assert!(pv.tags().await.contains_key(&key(6)));

    ok(&pv.step(6, "opened", &sha('a'), Some("pr6")).run().await);
    let before = pv.gh.comments(6);
    assert_eq!(before.len(), 1);
    let r = pv.step(6, "labeled", &sha('a'), None).run().await;
    ok(&r);
    assert_eq!(r.output("verdict"), Some("skipped"));
    let after = pv.gh.comments(6);
    assert_eq!(after.len(), 1);
    assert_eq!(
        after[0].body, before[0].body,
        "the preview comment still shows the URL"
    );
    pv.gh.assert_no_violations();
}

/// An alias `pr-<n>` this repository did not record is never taken over (issue 25): made by hand
/// (untagged), recorded by another repository (the old key form), or another repository's record of the
/// same PR without an alias yet. Each run fails before anything is written: the alias keeps its version,
/// the function's tags stay as they were, no Deployment is started.
#[tokio::test]
async fn a_pr_alias_someone_else_owns_is_refused_before_anything_is_written() {
    let Some(pv) = Preview::new("preview-foreign").await else {
        return;
    };
    for name in ["pr-7", "pr-8"] {
        pv.rig
            .lambda
            .create_alias()
            .function_name(&pv.rig.function)
            .name(name)
            .function_version("1")
            .send()
            .await
            .unwrap();
    }
    let other = "other-org/other-repo";
    pv.set_tag(
        "stevedore:preview:pr-8",
        &format!("repo={other} pr=8 updated=2026-12-01T00:00:00Z"),
    )
    .await;
    let other_key = format!("stevedore:preview:{other}:pr-9");
    pv.set_tag(
        &other_key,
        &format!("repo={other} pr=9 updated=2026-12-01T00:00:00Z"),
    )
    .await;
    let before = pv.tags().await;
    for (n, says) in [
        (
            7,
            "carries no stevedore preview record of octo-org/octo-repo for #7",
        ),
        (8, "claimed by repository `other-org/other-repo`"),
        (9, "claimed by repository `other-org/other-repo`"),
    ] {
        pv.gh.add_pr(n, "feat", &sha('a'), &[]);
        let r = pv
            .step(n, "opened", &sha('a'), Some(&format!("pr{n}")))
            .run()
            .await;
        assert_eq!(r.code, 1, "#{n}: {}\n{}", r.stdout, r.summary);
        has(&r.stdout, "::error");
        assert!(r.stdout.contains(says), "#{n}: {says} in {}", r.stdout);
        has(&r.stdout, "nothing was changed");
        assert!(pv.deployments(n).is_empty(), "no Deployment for #{n}");
        assert!(pv.url(&format!("pr-{n}")).is_none());
    }
    assert_eq!(pv.aliases().await, ["live", "pr-7", "pr-8"]);
    assert_eq!(pv.alias_version("pr-7").await.as_deref(), Some("1"));
    assert_eq!(pv.alias_version("pr-8").await.as_deref(), Some("1"));
    assert_eq!(
        pv.tags().await,
        before,
        "the function's tags are as they were"
    );
    // The close leaves them alone too.
    ok(&pv.step(8, "closed", &sha('a'), None).run().await);
    assert_eq!(pv.aliases().await, ["live", "pr-7", "pr-8"]);
    assert_eq!(pv.tags().await, before);
    pv.gh.assert_no_violations();
}

/// A record an older release wrote (key `stevedore:preview:pr-<n>`, value naming this repository) is still
/// ours: the update adopts its alias and rewrites the record under the repository's key, and the close
/// removes both.
#[tokio::test]
async fn a_record_in_the_old_key_form_naming_this_repository_is_still_ours() {
    let Some(pv) = Preview::new("preview-legacy").await else {
        return;
    };
    pv.gh.add_pr(5, "feat", &sha('a'), &[]);
    pv.rig
        .lambda
        .create_alias()
        .function_name(&pv.rig.function)
        .name("pr-5")
        .function_version("1")
        .send()
        .await
        .unwrap();
    pv.set_tag(
        "stevedore:preview:pr-5",
        &format!("repo={REPO} pr=5 updated=2026-12-01T00:00:00Z"),
    )
    .await;
    let r = pv
        .step(5, "synchronize", &sha('a'), Some("pr5"))
        .run()
        .await;
    ok(&r);
    assert_eq!(pv.alias_version("pr-5").await.as_deref(), Some("2"));
    let tags = pv.tags().await;
    assert!(
        tags.contains_key("stevedore:preview:octo-org/octo-repo:pr-5"),
        "{tags:?}"
    );
    assert!(!tags.contains_key("stevedore:preview:pr-5"), "{tags:?}");
    ok(&pv.step(5, "closed", &sha('a'), None).run().await);
    assert_eq!(pv.aliases().await, ["live"]);
    assert!(pv.tags().await.is_empty(), "{:?}", pv.tags().await);
}
