//! An in-process fake of the GitHub REST API: stateful, and validating every request against GitHub's own
//! OpenAPI description (`tests/fixtures/github-openapi/`).
//!
//! A request whose method and path are not a documented operation, whose query parameters are not
//! documented, or whose JSON body does not match the operation's schema is answered with 500 and the
//! reason, and recorded as a violation (`assert_no_violations`). Documented requests are served from
//! in-memory state with GitHub's semantics where they matter to us: check-run annotations are appended on
//! update and capped at 50 per request, texts over 65,535 bytes and comments over 65,536 characters are
//! 422, deployments without `required_contexts` conflict on failing statuses, `auto_inactive` marks earlier
//! deployments inactive, get-release-by-tag ignores drafts, refs need fast-forwards unless forced, and list
//! endpoints paginate with a `Link` header.
//!
//! Who wrote what follows the token, as on GitHub: an installation token (`ghs_…`, the workflow's
//! `GITHUB_TOKEN`) writes as `github-actions[bot]` (type `Bot`) and is refused `GET /user` (403 "Resource
//! not accessible by integration"); any other token is a user, whose login `GET /user` answers (derived
//! from the token unless [`FakeGithub::set_identity`] names it). Comments carry their author.
//!
//! The same API is served under `/api/v3` (GitHub Enterprise Server). Faults can be injected per route:
//! permanent 403 "Resource not accessible by integration", one-shot secondary rate limits with
//! `retry-after`, primary limits with `x-ratelimit-reset`, and 5xx.

pub mod openapi;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use sha2::Digest;

use openapi::{NoMatch, spec};

/// The repository the fake hosts unless told otherwise (matches `run::Step`'s default).
pub const REPO: &str = "octo-org/octo-repo";
/// The GHES path prefix also served.
pub const GHES_PREFIX: &str = "/api/v3";
/// GitHub's message for a token that may not do something (fork PRs, narrow `permissions:`).
pub const NOT_ACCESSIBLE: &str = "Resource not accessible by integration";
const DOCS: &str = "https://docs.github.com/rest";

/// A running fake. Cloning shares the server and its state.
#[derive(Clone)]
pub struct FakeGithub {
    addr: SocketAddr,
    inner: Arc<Inner>,
    /// TLS mode: the private CA the server's certificate chains to (see [`FakeGithub::start_tls`]).
    ca: Option<Arc<super::tls::TestCa>>,
    /// TLS mode: handshakes the server saw fail (a client that did not trust the CA).
    failed_handshakes: Option<Arc<AtomicUsize>>,
}

struct Inner {
    repo: String,
    /// `http` or `https` (the URLs the fake puts in its answers).
    scheme: &'static str,
    state: Mutex<State>,
    writes_in_flight: AtomicUsize,
    max_writes_in_flight: AtomicUsize,
}

/// One request as the fake saw it.
#[derive(Clone, Debug)]
pub struct Record {
    pub method: String,
    /// `METHOD /template` when the route is documented, else `METHOD /path`.
    pub route: String,
    pub path: String,
    pub status: u16,
    pub body: Value,
    pub headers: Vec<(String, String)>,
}

/// An injected failure for one route (`"POST /repos/{owner}/{repo}/check-runs"`).
#[derive(Clone, Debug)]
pub struct Fault {
    pub status: u16,
    pub message: String,
    pub headers: Vec<(String, String)>,
    /// How many requests it answers; `None` = all.
    pub times: Option<usize>,
}

/// A stored check run.
#[derive(Clone, Debug)]
pub struct CheckRun {
    pub id: u64,
    pub name: String,
    pub head_sha: String,
    pub status: String,
    pub conclusion: Option<String>,
    pub title: Option<String>,
    pub summary: Option<String>,
    pub text: Option<String>,
    pub annotations: Vec<Value>,
    pub details_url: Option<String>,
    pub external_id: Option<String>,
    pub started_at: String,
    pub completed_at: Option<String>,
    /// The app that owns it: the creating installation token's (`github-actions` for `GITHUB_TOKEN`).
    pub app_slug: String,
}

/// A stored issue/PR comment.
#[derive(Clone, Debug)]
pub struct Comment {
    pub id: u64,
    pub issue: u64,
    /// The login of the token that created it.
    pub author: String,
    /// `User` or `Bot`.
    pub author_type: String,
    pub body: String,
    pub created_at: String,
    pub updated_at: String,
}

/// A seeded commit.
#[derive(Clone, Debug)]
pub struct Commit {
    pub sha: String,
    pub message: String,
    pub parents: Vec<String>,
    pub date: String,
}

#[derive(Default)]
struct State {
    next_id: u64,
    clock: u64,
    records: Vec<Record>,
    violations: Vec<String>,
    faults: HashMap<String, Vec<Fault>>,
    check_runs: Vec<CheckRun>,
    comments: BTreeMap<u64, Comment>,
    labels: HashMap<u64, Vec<String>>,
    statuses: Vec<(String, Value)>,
    deployments: Vec<Value>,
    deployment_statuses: HashMap<u64, Vec<Value>>,
    releases: Vec<Value>,
    assets: HashMap<u64, Vec<Value>>,
    refs: BTreeMap<String, String>,
    tags: HashMap<String, Value>,
    commits: Vec<Commit>,
    pulls: BTreeMap<u64, Value>,
    pull_files: HashMap<u64, Vec<Value>>,
    rate_remaining: u64,
    /// Token → (login, type) set by [`FakeGithub::set_identity`].
    identities: HashMap<String, (String, String)>,
}

impl State {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn now(&mut self) -> String {
        self.clock += 1;
        iso8601(1_767_225_600 + self.clock)
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` for a Unix time.
pub fn iso8601(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A deterministic 40-hex object id.
pub fn fake_sha(seed: &str) -> String {
    hex::encode(&sha2::Sha256::digest(seed.as_bytes())[..20])
}

impl FakeGithub {
    /// Starts a fake hosting [`REPO`] on a free loopback port.
    pub async fn start() -> FakeGithub {
        Self::start_for(REPO).await
    }

    /// Starts a fake hosting `owner/repo`.
    pub async fn start_for(repo: &str) -> FakeGithub {
        Self::start_with(repo, None).await
    }

    /// Starts a fake hosting [`REPO`] over HTTPS, with a certificate for `localhost` and `127.0.0.1` signed
    /// by a private CA that nothing trusts: a client reaches it only with [`FakeGithub::ca_pem_path`] in
    /// `SSL_CERT_FILE`. [`FakeGithub::url`] is `https://localhost:PORT`.
    pub async fn start_tls() -> FakeGithub {
        Self::start_tls_for(REPO).await
    }

    /// [`FakeGithub::start_tls`] hosting `owner/repo`.
    pub async fn start_tls_for(repo: &str) -> FakeGithub {
        Self::start_with(repo, Some(Arc::new(super::tls::TestCa::new()))).await
    }

    async fn start_with(repo: &str, ca: Option<Arc<super::tls::TestCa>>) -> FakeGithub {
        let inner = Arc::new(Inner {
            repo: repo.to_owned(),
            scheme: if ca.is_some() { "https" } else { "http" },
            state: Mutex::new(State {
                next_id: 1000,
                rate_remaining: 5000,
                ..State::default()
            }),
            writes_in_flight: AtomicUsize::new(0),
            max_writes_in_flight: AtomicUsize::new(0),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = inner.clone();
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let inner = shared.clone();
                async move { handle(&inner, addr, method, uri, headers, body).await }
            },
        );
        let failed_handshakes = match &ca {
            Some(ca) => Some(super::tls::serve_tls(listener, app, ca.acceptor())),
            None => {
                tokio::spawn(async move {
                    axum::serve(listener, app).await.unwrap();
                });
                None
            }
        };
        FakeGithub {
            addr,
            inner,
            ca,
            failed_handshakes,
        }
    }

    /// `http://127.0.0.1:PORT` (what `GITHUB_API_URL` would be); `https://localhost:PORT` in TLS mode.
    pub fn url(&self) -> String {
        match self.ca {
            Some(_) => format!("https://localhost:{}", self.addr.port()),
            None => format!("http://{}", self.addr),
        }
    }

    /// TLS mode: the PEM file of the private CA (for `SSL_CERT_FILE`).
    pub fn ca_pem_path(&self) -> Option<&std::path::Path> {
        self.ca.as_deref().map(super::tls::TestCa::ca_pem_path)
    }

    /// TLS mode: how many TLS handshakes failed (clients that refused the certificate).
    pub fn failed_handshakes(&self) -> usize {
        self.failed_handshakes
            .as_ref()
            .map_or(0, |f| f.load(Ordering::SeqCst))
    }

    /// The GHES-style base: `http://127.0.0.1:PORT/api/v3`.
    /// The project's own GitHub client with `token`: what another job, a person or an attacker holding
    /// that token sends through the API (the fake attributes it to `token`'s identity).
    pub fn client_as(&self, token: &str) -> stevedore::github::Client {
        stevedore::net::crypto::install();
        stevedore::github::Client::new(&self.url(), secrecy::SecretString::from(token))
            .expect("a client for the fake")
    }

    pub fn ghes_url(&self) -> String {
        format!("{}{GHES_PREFIX}", self.url())
    }

    pub fn repo(&self) -> &str {
        &self.inner.repo
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().unwrap()
    }

    // ---- inspection ----

    /// Every request so far.
    pub fn requests(&self) -> Vec<Record> {
        self.state().records.clone()
    }

    /// Requests other than the reporting fan-out every step makes (check runs, PR comments, commit
    /// statuses): what a mode itself sent. Use it to assert "the mode wrote nothing".
    pub fn mode_requests(&self) -> Vec<Record> {
        self.state()
            .records
            .iter()
            .filter(|r| !is_reporting_route(&r.route))
            .cloned()
            .collect()
    }

    /// Requests to one route, e.g. `"PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}"`.
    pub fn count(&self, route: &str) -> usize {
        self.state()
            .records
            .iter()
            .filter(|r| r.route == route)
            .count()
    }

    /// Requests that were not documented operations or had invalid bodies.
    pub fn violations(&self) -> Vec<String> {
        self.state().violations.clone()
    }

    /// Panics listing the violations, if any.
    pub fn assert_no_violations(&self) {
        let v = self.violations();
        assert!(
            v.is_empty(),
            "requests violating GitHub's OpenAPI description:\n{}",
            v.join("\n")
        );
    }

    /// The largest number of content-creating requests (POST/PATCH/PUT/DELETE) handled at once.
    pub fn max_concurrent_writes(&self) -> usize {
        self.inner.max_writes_in_flight.load(Ordering::SeqCst)
    }

    pub fn check_runs(&self) -> Vec<CheckRun> {
        self.state().check_runs.clone()
    }

    /// Comments on issue/PR `issue`, oldest first.
    pub fn comments(&self, issue: u64) -> Vec<Comment> {
        self.state()
            .comments
            .values()
            .filter(|c| c.issue == issue)
            .cloned()
            .collect()
    }

    /// Makes `token` act as `login` of `kind` (`User` or `Bot`), e.g. another GitHub App's installation
    /// token as `my-app[bot]`.
    pub fn set_identity(&self, token: &str, login: &str, kind: &str) {
        self.state()
            .identities
            .insert(token.to_owned(), (login.to_owned(), kind.to_owned()));
    }

    /// Every request body the fake received, as JSON text, with its route (for "this never left" checks).
    pub fn request_bodies(&self) -> Vec<(String, String)> {
        self.state()
            .records
            .iter()
            .map(|r| (r.route.clone(), r.body.to_string()))
            .collect()
    }

    /// Commit statuses as `(sha, status)`.
    pub fn statuses(&self) -> Vec<(String, Value)> {
        self.state().statuses.clone()
    }

    /// Deployments, oldest first.
    pub fn deployments(&self) -> Vec<Value> {
        self.state().deployments.clone()
    }

    /// Statuses of deployment `id`, oldest first.
    pub fn deployment_statuses(&self, id: u64) -> Vec<Value> {
        self.state()
            .deployment_statuses
            .get(&id)
            .cloned()
            .unwrap_or_default()
    }

    /// Releases, oldest first.
    pub fn releases(&self) -> Vec<Value> {
        self.state().releases.clone()
    }

    /// Assets of release `id`.
    pub fn assets(&self, release: u64) -> Vec<Value> {
        self.state()
            .assets
            .get(&release)
            .cloned()
            .unwrap_or_default()
    }

    /// Git refs: full name (`refs/tags/v1.0.0`) -> sha.
    pub fn refs(&self) -> BTreeMap<String, String> {
        self.state().refs.clone()
    }

    pub fn labels(&self, issue: u64) -> Vec<String> {
        self.state().labels.get(&issue).cloned().unwrap_or_default()
    }

    // ---- seeding ----

    /// Appends commits (oldest first) on top of `branch` (created when missing) and moves the branch.
    /// Returns their shas.
    pub fn seed_commits(&self, branch: &str, messages: &[&str]) -> Vec<String> {
        let mut st = self.state();
        let mut parent = st.refs.get(&format!("refs/heads/{branch}")).cloned();
        let mut out = Vec::new();
        for m in messages {
            let n = st.commits.len();
            let sha = fake_sha(&format!("{n}:{m}:{parent:?}"));
            let date = st.now();
            st.commits.push(Commit {
                sha: sha.clone(),
                message: (*m).to_owned(),
                parents: parent.iter().cloned().collect(),
                date,
            });
            parent = Some(sha.clone());
            out.push(sha);
        }
        if let Some(p) = parent {
            st.refs.insert(format!("refs/heads/{branch}"), p);
        }
        out
    }

    /// Adds a commit with explicit parents (merges, forks of history).
    pub fn seed_commit(&self, sha: &str, message: &str, parents: &[&str]) {
        let mut st = self.state();
        let date = st.now();
        st.commits.push(Commit {
            sha: sha.to_owned(),
            message: message.to_owned(),
            parents: parents.iter().map(|p| (*p).to_owned()).collect(),
            date,
        });
    }

    /// Sets a ref (`refs/tags/v1.0.0` or `refs/heads/main`).
    pub fn set_ref(&self, name: &str, sha: &str) {
        self.state().refs.insert(name.to_owned(), sha.to_owned());
    }

    /// Stores an annotated tag object of `object` (a `commit`, or a `tag`: git tags tags, the REST API
    /// creates only tags of commits, trees and blobs), as `git push` leaves it; its sha.
    pub fn seed_tag_object(&self, tag: &str, object: &str, kind: &str) -> String {
        let api = format!("{}/repos/{}", self.url(), self.repo());
        let mut st = self.state();
        let sha = fake_sha(&format!("tag:{tag}:{object}:{kind}"));
        let t = json!({
            "node_id": format!("TAG_{sha}"), "tag": tag, "sha": sha,
            "url": format!("{api}/git/tags/{sha}"), "message": tag,
            "tagger": {"name": "a person", "email": "person@example.com", "date": "2026-01-01T00:00:00Z"},
            "object": {"type": kind, "sha": object, "url": format!("{api}/git/{kind}s/{object}")},
            "verification": {"verified": false, "reason": "unsigned", "signature": null, "payload": null, "verified_at": null},
        });
        st.tags.insert(sha.clone(), t);
        sha
    }

    /// Adds an open pull request from `head_ref`@`head_sha` into `base_ref` with labels.
    pub fn add_pr(&self, number: u64, title: &str, head_sha: &str, labels: &[&str]) {
        self.add_pr_full(number, title, "feature", head_sha, "main", labels, false);
    }

    /// Adds a pull request with every field the modes read.
    #[allow(
        clippy::too_many_arguments,
        reason = "a seeding helper mirroring the PR's fields"
    )]
    pub fn add_pr_full(
        &self,
        number: u64,
        title: &str,
        head_ref: &str,
        head_sha: &str,
        base_ref: &str,
        labels: &[&str],
        from_fork: bool,
    ) {
        let mut st = self.state();
        let repo = self.inner.repo.clone();
        let base_sha = st
            .refs
            .get(&format!("refs/heads/{base_ref}"))
            .cloned()
            .unwrap_or_else(|| fake_sha(base_ref));
        let head_repo = if from_fork {
            format!("fork-owner/{}", repo.split('/').nth(1).unwrap_or("repo"))
        } else {
            repo.clone()
        };
        let created = st.now();
        let pr = json!({
            "id": 500_000 + number,
            "node_id": format!("PR_{number}"),
            "number": number,
            "state": "open",
            "locked": false,
            "title": title,
            "body": null,
            "user": user("octocat", "User"),
            "draft": false,
            "merged": false,
            "merge_commit_sha": null,
            "html_url": format!("https://github.com/{repo}/pull/{number}"),
            "url": format!("https://api.github.com/repos/{repo}/pulls/{number}"),
            "created_at": created,
            "updated_at": created,
            "head": {"label": format!("{}:{head_ref}", head_repo.split('/').next().unwrap_or("")), "ref": head_ref, "sha": head_sha,
                     "repo": {"full_name": head_repo, "fork": from_fork}},
            "base": {"label": format!("{}:{base_ref}", repo.split('/').next().unwrap_or("")), "ref": base_ref, "sha": base_sha,
                     "repo": {"full_name": repo, "fork": false}},
        });
        st.pulls.insert(number, pr);
        st.labels
            .insert(number, labels.iter().map(|l| (*l).to_owned()).collect());
    }

    /// Closes pull request `number` (`state: closed`, `closed_at` set), as merging or closing it does.
    pub fn close_pr(&self, number: u64) {
        let mut st = self.state();
        let now = st.now();
        if let Some(p) = st.pulls.get_mut(&number) {
            p["state"] = json!("closed");
            p["closed_at"] = json!(now);
            p["updated_at"] = json!(now);
        }
    }

    /// Sets the files `pulls/{n}/files` lists (`filename`, `status`).
    pub fn set_pr_files(&self, number: u64, files: &[(&str, &str)]) {
        let v = files
            .iter()
            .map(|(f, s)| json!({"sha": fake_sha(f), "filename": f, "status": s, "additions": 1, "deletions": 0, "changes": 1,
                                 "blob_url": "", "raw_url": "", "contents_url": ""}))
            .collect();
        self.state().pull_files.insert(number, v);
    }

    /// Marks pull request `number` merged as commit `merge_sha` (what GitHub shows after the merge).
    pub fn merge_pr(&self, number: u64, merge_sha: &str) {
        let mut st = self.state();
        let now = st.now();
        let pr = st
            .pulls
            .get_mut(&number)
            .expect("merge_pr: unknown pull request");
        pr["state"] = json!("closed");
        pr["merged"] = json!(true);
        pr["merged_at"] = json!(now);
        pr["closed_at"] = json!(now);
        pr["merge_commit_sha"] = json!(merge_sha);
    }

    /// Adds a release directly (for idempotency tests).
    pub fn seed_release(&self, tag: &str, draft: bool, prerelease: bool) -> u64 {
        let mut st = self.state();
        let id = st.id();
        let base = format!("https://api.github.com/repos/{}", self.inner.repo);
        let now = st.now();
        let r = release_json(
            &base,
            &self.inner.repo,
            id,
            tag,
            "main",
            Some(tag),
            "",
            draft,
            prerelease,
            &now,
        );
        st.releases.push(r);
        id
    }

    // ---- faults ----

    /// Adds a fault to `route` (`"POST /repos/{owner}/{repo}/check-runs"`); faults queue in order.
    pub fn fault(&self, route: &str, fault: Fault) {
        assert!(
            spec()
                .ops
                .iter()
                .any(|o| format!("{} {}", o.method, o.template) == route),
            "fault for an undocumented route {route:?}"
        );
        self.state()
            .faults
            .entry(route.to_owned())
            .or_default()
            .push(fault);
    }

    /// Every request to `route` answers 403 "Resource not accessible by integration" (fork PR token).
    pub fn forbid(&self, route: &str) {
        self.fault(
            route,
            Fault {
                status: 403,
                message: NOT_ACCESSIBLE.into(),
                headers: Vec::new(),
                times: None,
            },
        );
    }

    /// The next request to `route` hits the secondary rate limit: 403 with `retry-after: secs`.
    pub fn secondary_rate_limit_once(&self, route: &str, secs: u64) {
        self.fault(
            route,
            Fault {
                status: 403,
                message: "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID.".into(),
                headers: vec![("retry-after".into(), secs.to_string())],
                times: Some(1),
            },
        );
    }

    /// The next request to `route` hits the primary rate limit: 403, `x-ratelimit-remaining: 0` and
    /// `x-ratelimit-reset` `secs` from now.
    pub fn primary_rate_limit_once(&self, route: &str, secs: u64) {
        let reset = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + secs;
        self.fault(
            route,
            Fault {
                status: 403,
                message: "API rate limit exceeded for installation. If you reach out to GitHub Support for help, please include the request ID.".into(),
                headers: vec![
                    ("x-ratelimit-limit".into(), "5000".into()),
                    ("x-ratelimit-remaining".into(), "0".into()),
                    ("x-ratelimit-used".into(), "5000".into()),
                    ("x-ratelimit-reset".into(), reset.to_string()),
                ],
                times: Some(1),
            },
        );
    }

    /// The next request to `route` answers 429 with `retry-after: secs`.
    pub fn too_many_requests_once(&self, route: &str, secs: u64) {
        self.fault(
            route,
            Fault {
                status: 429,
                message: "Too Many Requests".into(),
                headers: vec![("retry-after".into(), secs.to_string())],
                times: Some(1),
            },
        );
    }

    /// The next `times` requests to `route` answer `status` (5xx).
    pub fn server_error(&self, route: &str, status: u16, times: usize) {
        self.fault(
            route,
            Fault {
                status,
                message: "Server Error".into(),
                headers: Vec::new(),
                times: Some(times),
            },
        );
    }
}

/// Whether `route` (`METHOD /template`) belongs to the reporting fan-out.
pub fn is_reporting_route(route: &str) -> bool {
    let path = route.split_once(' ').map_or(route, |(_, p)| p);
    path.starts_with("/repos/{owner}/{repo}/check-runs")
        || path.starts_with("/repos/{owner}/{repo}/issues/{issue_number}/comments")
        || path.starts_with("/repos/{owner}/{repo}/issues/comments/")
        || path.starts_with("/repos/{owner}/{repo}/statuses/")
        // Who the token is, asked before the sticky comment is looked for.
        || path == "/user"
}

/// The token of a request (`Authorization: Bearer …` or `token …`).
fn token_of(headers: &HeaderMap) -> String {
    let v = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    v.strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("token "))
        .unwrap_or(v)
        .trim()
        .to_owned()
}

/// Who `token` is: a registered identity, else `github-actions[bot]` for an installation token (`ghs_`),
/// else a user whose login is the token's letters, digits and hyphens (at most 39, GitHub's limit).
fn identity_of(st: &State, token: &str) -> (String, String) {
    if let Some(i) = st.identities.get(token) {
        return i.clone();
    }
    if token.starts_with("ghs_") {
        return ("github-actions[bot]".to_owned(), "Bot".to_owned());
    }
    let login: String = token
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(39)
        .collect();
    let login = if login.is_empty() {
        "anonymous".to_owned()
    } else {
        login
    };
    (login, "User".to_owned())
}

fn user(login: &str, kind: &str) -> Value {
    json!({"login": login, "id": 41_898_282, "node_id": "MDM6Qm90NDE4OTgyODI=", "type": kind,
           "avatar_url": "", "url": format!("https://api.github.com/users/{login}"),
           "html_url": format!("https://github.com/{login}"), "site_admin": false})
}

/// One HTTP answer.
struct Answer {
    status: u16,
    body: Value,
    headers: Vec<(String, String)>,
}

fn ok(status: u16, body: Value) -> Answer {
    Answer {
        status,
        body,
        headers: Vec::new(),
    }
}

fn err(status: u16, message: &str) -> Answer {
    ok(
        status,
        json!({"message": message, "documentation_url": DOCS, "status": status.to_string()}),
    )
}

fn not_found() -> Answer {
    err(404, "Not Found")
}

fn invalid(message: &str, errors: Value) -> Answer {
    ok(
        422,
        json!({"message": message, "errors": errors, "documentation_url": DOCS, "status": "422"}),
    )
}

async fn handle(
    inner: &Inner,
    addr: SocketAddr,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let write = method != Method::GET && method != Method::HEAD;
    if write {
        let now = inner.writes_in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        inner.max_writes_in_flight.fetch_max(now, Ordering::SeqCst);
        // Give a concurrent writer the chance to overlap, so `max_concurrent_writes` means something.
        tokio::task::yield_now().await;
    }
    let answer = serve(inner, addr, &method, &uri, &headers, &body);
    if write {
        inner.writes_in_flight.fetch_sub(1, Ordering::SeqCst);
    }
    let mut resp = if answer.status == 204 {
        StatusCode::NO_CONTENT.into_response()
    } else {
        (
            StatusCode::from_u16(answer.status).unwrap(),
            [("content-type", "application/json; charset=utf-8")],
            answer.body.to_string(),
        )
            .into_response()
    };
    for (k, v) in answer.headers {
        resp.headers_mut().append(
            axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(&v).unwrap(),
        );
    }
    resp
}

fn serve(
    inner: &Inner,
    addr: SocketAddr,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Answer {
    let raw_path = uri.path();
    let (prefix, path) = match raw_path.strip_prefix(GHES_PREFIX) {
        Some(rest) if rest.starts_with('/') => (GHES_PREFIX, rest),
        _ => ("", raw_path),
    };
    let query: Vec<(String, String)> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (
                openapi::percent_decode(k, true),
                openapi::percent_decode(v, true),
            )
        })
        .collect();
    let header_list: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let json_body: Value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(body)
            .unwrap_or_else(|_| Value::String(format!("<{} bytes>", body.len())))
    };
    let mut st = inner.state.lock().unwrap();
    let spec = spec();

    let mut record = Record {
        method: method.to_string(),
        route: format!("{method} {path}"),
        path: raw_path.to_owned(),
        status: 0,
        body: json_body.clone(),
        headers: header_list,
    };
    let answer = (|| {
        let m = match spec.find(method.as_str(), path) {
            Ok(m) => m,
            Err(NoMatch::Path) => {
                return Err(format!(
                    "{method} {path}: no documented operation has this path"
                ));
            }
            Err(NoMatch::Method(ms)) => {
                return Err(format!(
                    "{method} {path}: the path is documented only for {}",
                    ms.join(", ")
                ));
            }
        };
        record.route = format!("{} {}", m.op.method, m.op.template);
        spec.check_query(m.op, &query)
            .map_err(|e| format!("{}: {e}", record.route))?;
        if headers.get_all("user-agent").iter().count() > 1 {
            return Err(format!(
                "{}: {} User-Agent headers (HTTP allows one)",
                record.route,
                headers.get_all("user-agent").iter().count()
            ));
        }
        // Our own contract: the versioned API.
        match headers
            .get("x-github-api-version")
            .map(|v| v.to_str().unwrap_or(""))
        {
            Some("2022-11-28") => {}
            other => {
                return Err(format!(
                    "{}: header X-GitHub-Api-Version must be 2022-11-28, found {other:?}",
                    record.route
                ));
            }
        }
        let json_ct = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        match spec.body_schema(m.op) {
            Some((schema, required)) => {
                if body.is_empty() {
                    if required {
                        return Err(format!("{}: the request body is required", record.route));
                    }
                } else {
                    if !json_ct {
                        return Err(format!(
                            "{}: body sent without Content-Type application/json",
                            record.route
                        ));
                    }
                    let v: Value = serde_json::from_slice(body)
                        .map_err(|e| format!("{}: body is not JSON: {e}", record.route))?;
                    spec.validate(schema, &v)
                        .map_err(|e| format!("{}: {e}", record.route))?;
                }
            }
            None => {
                let octet = m.op.op["requestBody"]["content"]
                    .get("application/octet-stream")
                    .is_some();
                if !body.is_empty() && !octet {
                    return Err(format!(
                        "{}: this operation takes no request body",
                        record.route
                    ));
                }
            }
        }
        Ok(m)
    })();
    let m = match answer {
        Ok(m) => m,
        Err(reason) => {
            st.violations.push(reason.clone());
            record.status = 500;
            st.records.push(record);
            return err(500, &format!("fake GitHub: {reason}"));
        }
    };
    let route = record.route.clone();

    let mut a = (|| {
        if !headers.contains_key("user-agent") {
            return err(
                403,
                "Request forbidden by administrative rules. Please make sure your request has a User-Agent header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required).",
            );
        }
        if !headers.contains_key("authorization") {
            return err(401, "Requires authentication");
        }
        let owner_repo = format!(
            "{}/{}",
            m.path_params.get("owner").map_or("", String::as_str),
            m.path_params.get("repo").map_or("", String::as_str)
        );
        if m.path_params.contains_key("owner") && owner_repo != inner.repo {
            return not_found();
        }
        if let Some(list) = st.faults.get_mut(&route)
            && let Some(f) = list.first_mut()
        {
            let f2 = f.clone();
            if let Some(t) = &mut f.times {
                *t -= 1;
                if *t == 0 {
                    list.remove(0);
                }
            }
            let mut a = err(f2.status, &f2.message);
            a.headers = f2.headers;
            return a;
        }
        let req = Req {
            op: &m.op.operation_id,
            p: &m.path_params,
            q: &query,
            body: &json_body,
            api: format!("{}://{addr}{prefix}/repos/{}", inner.scheme, inner.repo),
            html: format!("{}://{addr}/{}", inner.scheme, inner.repo),
            repo: &inner.repo,
            raw: body,
            headers,
        };
        dispatch(&mut st, &req)
    })();
    st.rate_remaining = st.rate_remaining.saturating_sub(1);
    if !a.headers.iter().any(|(k, _)| k == "x-ratelimit-remaining") {
        a.headers.extend([
            ("x-ratelimit-limit".to_owned(), "5000".to_owned()),
            (
                "x-ratelimit-remaining".to_owned(),
                st.rate_remaining.to_string(),
            ),
            ("x-ratelimit-resource".to_owned(), "core".to_owned()),
        ]);
    }
    a.headers.push((
        "x-github-request-id".into(),
        format!("FAKE:{}", st.records.len()),
    ));
    record.status = a.status;
    st.records.push(record);
    a
}

struct Req<'a> {
    op: &'a str,
    p: &'a HashMap<String, String>,
    q: &'a [(String, String)],
    body: &'a Value,
    /// API base of this repository as the client reached it (`http://host[/api/v3]/repos/o/r`).
    api: String,
    /// Web base of this repository.
    html: String,
    repo: &'a str,
    raw: &'a Bytes,
    headers: &'a HeaderMap,
}

impl Req<'_> {
    fn p(&self, k: &str) -> &str {
        self.p.get(k).map_or("", String::as_str)
    }
    fn id(&self, k: &str) -> u64 {
        self.p(k).parse().unwrap_or(0)
    }
    fn q(&self, k: &str) -> Option<&str> {
        self.q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }
    fn s(&self, k: &str) -> Option<&str> {
        self.body.get(k).and_then(Value::as_str)
    }
}

/// Paginates `items` GitHub-style (`per_page` default 30, max 100; `page` from 1) with a `Link` header.
fn paged(req: &Req<'_>, path: &str, items: Vec<Value>) -> Answer {
    let per_page = req
        .q("per_page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let page = req
        .q("page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let last = items.len().div_ceil(per_page).max(1);
    let slice: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let mut a = ok(200, Value::Array(slice));
    let mut other: Vec<String> = req
        .q
        .iter()
        .filter(|(k, _)| k != "page" && k != "per_page")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    other.push(format!("per_page={per_page}"));
    let link = |p: usize, rel: &str| {
        format!(
            "<{}{path}?{}&page={p}>; rel=\"{rel}\"",
            req.api,
            other.join("&")
        )
    };
    let mut links = Vec::new();
    if page < last {
        links.push(link(page + 1, "next"));
        links.push(link(last, "last"));
    }
    if page > 1 {
        links.push(link(1, "first"));
        links.push(link(page - 1, "prev"));
    }
    if !links.is_empty() {
        a.headers.push(("link".into(), links.join(", ")));
    }
    a
}

fn dispatch(st: &mut State, r: &Req<'_>) -> Answer {
    match r.op {
        "checks/create" => check_create(st, r),
        "checks/update" => check_update(st, r),
        "checks/get" => match st.check_runs.iter().find(|c| c.id == r.id("check_run_id")) {
            Some(c) => ok(200, check_json(r, c)),
            None => not_found(),
        },
        "checks/list-annotations" => {
            match st.check_runs.iter().find(|c| c.id == r.id("check_run_id")) {
                Some(c) => {
                    let items = c.annotations.clone();
                    paged(r, &format!("/check-runs/{}/annotations", c.id), items)
                }
                None => not_found(),
            }
        }
        "checks/list-for-ref" => {
            let sha = resolve_commitish(st, r.p("ref")).unwrap_or_else(|| r.p("ref").to_owned());
            let runs: Vec<Value> = st
                .check_runs
                .iter()
                .rev()
                .filter(|c| c.head_sha == sha)
                .filter(|c| r.q("check_name").is_none_or(|n| n == c.name))
                .map(|c| check_json(r, c))
                .collect();
            ok(200, json!({"total_count": runs.len(), "check_runs": runs}))
        }
        // GitHub refuses `GET /user` to installation tokens; a user token gets its private profile.
        "users/get-authenticated" => {
            let (login, kind) = identity_of(st, &token_of(r.headers));
            if kind == "Bot" {
                return err(403, NOT_ACCESSIBLE);
            }
            let mut u = user(&login, &kind);
            if let Some(o) = u.as_object_mut() {
                for (k, v) in [
                    ("gravatar_id", json!("")),
                    ("followers_url", json!("")),
                    ("following_url", json!("")),
                    ("gists_url", json!("")),
                    ("starred_url", json!("")),
                    ("subscriptions_url", json!("")),
                    ("organizations_url", json!("")),
                    ("repos_url", json!("")),
                    ("events_url", json!("")),
                    ("received_events_url", json!("")),
                    ("name", Value::Null),
                    ("company", Value::Null),
                    ("blog", Value::Null),
                    ("location", Value::Null),
                    ("email", Value::Null),
                    ("hireable", Value::Null),
                    ("bio", Value::Null),
                    ("public_repos", json!(0)),
                    ("public_gists", json!(0)),
                    ("followers", json!(0)),
                    ("following", json!(0)),
                    ("created_at", json!("2020-01-01T00:00:00Z")),
                    ("updated_at", json!("2020-01-01T00:00:00Z")),
                    ("user_view_type", json!("private")),
                ] {
                    o.insert(k.to_owned(), v);
                }
            }
            ok(200, u)
        }
        "issues/list-comments" => {
            let n = r.id("issue_number");
            let items = st
                .comments
                .values()
                .filter(|c| c.issue == n)
                .map(|c| comment_json(r, c))
                .collect();
            paged(r, &format!("/issues/{n}/comments"), items)
        }
        "issues/create-comment" => {
            let body = r.s("body").unwrap_or_default().to_owned();
            if let Some(a) = comment_too_long(&body) {
                return a;
            }
            let (author, author_type) = identity_of(st, &token_of(r.headers));
            let id = st.id();
            let now = st.now();
            let c = Comment {
                id,
                issue: r.id("issue_number"),
                author,
                author_type,
                body,
                created_at: now.clone(),
                updated_at: now,
            };
            let j = comment_json(r, &c);
            st.comments.insert(id, c);
            let mut a = ok(201, j);
            a.headers
                .push(("location".into(), format!("{}/issues/comments/{id}", r.api)));
            a
        }
        "issues/get-comment" => match st.comments.get(&r.id("comment_id")) {
            Some(c) => ok(200, comment_json(r, c)),
            None => not_found(),
        },
        "issues/update-comment" => {
            let body = r.s("body").unwrap_or_default().to_owned();
            if let Some(a) = comment_too_long(&body) {
                return a;
            }
            let now = st.now();
            match st.comments.get_mut(&r.id("comment_id")) {
                Some(c) => {
                    c.body = body;
                    c.updated_at = now;
                    let c = c.clone();
                    ok(200, comment_json(r, &c))
                }
                None => not_found(),
            }
        }
        "issues/delete-comment" => match st.comments.remove(&r.id("comment_id")) {
            Some(_) => ok(204, Value::Null),
            None => not_found(),
        },
        "issues/list-labels-on-issue" => {
            let n = r.id("issue_number");
            let items = labels_json(r, st.labels.get(&n).cloned().unwrap_or_default());
            paged(r, &format!("/issues/{n}/labels"), items)
        }
        "issues/add-labels" | "issues/set-labels" => {
            let n = r.id("issue_number");
            let given: Vec<String> = match r.body {
                Value::Array(a) => a.clone(),
                Value::Object(o) => o
                    .get("labels")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
                Value::String(s) => vec![Value::String(s.clone())],
                _ => Vec::new(),
            }
            .into_iter()
            .filter_map(|v| match v {
                Value::String(s) => Some(s),
                Value::Object(o) => o.get("name").and_then(Value::as_str).map(str::to_owned),
                _ => None,
            })
            .collect();
            let e = st.labels.entry(n).or_default();
            if r.op == "issues/set-labels" {
                e.clear();
            }
            for l in given {
                if !e.contains(&l) {
                    e.push(l);
                }
            }
            let all = e.clone();
            ok(200, Value::Array(labels_json(r, all)))
        }
        "issues/remove-all-labels" => {
            st.labels.remove(&r.id("issue_number"));
            ok(204, Value::Null)
        }
        "issues/remove-label" => {
            let e = st.labels.entry(r.id("issue_number")).or_default();
            let before = e.len();
            e.retain(|l| l != r.p("name"));
            if e.len() == before {
                return err(404, "Label does not exist");
            }
            let all = e.clone();
            ok(200, Value::Array(labels_json(r, all)))
        }
        "pulls/get" => match st.pulls.get(&r.id("pull_number")) {
            Some(p) => {
                let mut p = p.clone();
                let n = r.id("pull_number");
                p["labels"] = Value::Array(labels_json(
                    r,
                    st.labels.get(&n).cloned().unwrap_or_default(),
                ));
                ok(200, p)
            }
            None => not_found(),
        },
        "pulls/list-commits" => match st.pulls.get(&r.id("pull_number")) {
            Some(p) => {
                let head = p["head"]["sha"].as_str().unwrap_or_default().to_owned();
                let base = p["base"]["sha"].as_str().unwrap_or_default().to_owned();
                let (ahead, _) = range(st, &base, &head);
                let items = ahead.iter().map(|c| commit_json(r, c)).collect();
                paged(r, &format!("/pulls/{}/commits", r.id("pull_number")), items)
            }
            None => not_found(),
        },
        // GitHub lists the merged pull request that made the commit, and open ones whose head it is.
        "repos/list-pull-requests-associated-with-commit" => {
            let sha = r.p("commit_sha");
            let items: Vec<Value> = st
                .pulls
                .values()
                .filter(|p| {
                    p["merge_commit_sha"].as_str() == Some(sha)
                        || (p["state"] == "open" && p["head"]["sha"].as_str() == Some(sha))
                })
                .cloned()
                .collect();
            paged(r, &format!("/commits/{sha}/pulls"), items)
        }
        "pulls/list-files" => match st.pulls.get(&r.id("pull_number")) {
            Some(_) => {
                let items = st
                    .pull_files
                    .get(&r.id("pull_number"))
                    .cloned()
                    .unwrap_or_default();
                paged(r, &format!("/pulls/{}/files", r.id("pull_number")), items)
            }
            None => not_found(),
        },
        "repos/create-commit-status" => {
            let id = st.id();
            let now = st.now();
            let s = json!({
                "id": id, "node_id": format!("SC_{id}"), "url": format!("{}/statuses/{}", r.api, r.p("sha")),
                "avatar_url": null, "state": r.s("state"),
                "description": r.body.get("description").cloned().unwrap_or(Value::Null),
                "target_url": r.body.get("target_url").cloned().unwrap_or(Value::Null),
                "context": r.s("context").unwrap_or("default"),
                "created_at": now, "updated_at": now, "creator": user("github-actions[bot]", "Bot"),
            });
            st.statuses.push((r.p("sha").to_owned(), s.clone()));
            ok(201, s)
        }
        "repos/get-combined-status-for-ref" => {
            let sha = resolve_commitish(st, r.p("ref")).unwrap_or_else(|| r.p("ref").to_owned());
            let latest = latest_statuses(st, &sha);
            let state = combined_state(&latest);
            ok(
                200,
                json!({"state": state, "statuses": latest, "sha": sha, "total_count": latest.len(),
                       "repository": {"full_name": r.repo}, "commit_url": format!("{}/commits/{sha}", r.api),
                       "url": format!("{}/commits/{sha}/status", r.api)}),
            )
        }
        "repos/list-commits" => {
            let start = r.q("sha").unwrap_or("main");
            let Some(head) = resolve_commitish(st, start) else {
                return err(404, &format!("No commit found for SHA: {start}"));
            };
            let mut cs = ancestors(st, &head);
            cs.reverse();
            let items = cs.iter().map(|c| commit_json(r, c)).collect();
            paged(r, "/commits", items)
        }
        "repos/get-commit" => match resolve_commitish(st, r.p("ref"))
            .and_then(|s| st.commits.iter().find(|c| c.sha == s).cloned())
        {
            Some(c) => ok(200, commit_json(r, &c)),
            None => invalid(
                &format!("No commit found for SHA: {}", r.p("ref")),
                json!([]),
            ),
        },
        "repos/compare-commits-with-basehead" => {
            let bh = r.p("basehead");
            let Some((b, h)) = bh.split_once("...") else {
                return not_found();
            };
            let (Some(base), Some(head)) = (resolve_commitish(st, b), resolve_commitish(st, h))
            else {
                return not_found();
            };
            let (ahead, behind) = range(st, &base, &head);
            let status = match (ahead.len(), behind.len()) {
                (0, 0) => "identical",
                (_, 0) => "ahead",
                (0, _) => "behind",
                _ => "diverged",
            };
            let base_anc = ancestors(st, &base);
            let merge_base = ancestors(st, &head)
                .into_iter()
                .rev()
                .find(|c| base_anc.iter().any(|b| b.sha == c.sha));
            let base_commit = st.commits.iter().find(|c| c.sha == base).cloned();
            ok(
                200,
                json!({
                    "url": format!("{}/compare/{bh}", r.api),
                    "html_url": format!("{}/compare/{bh}", r.html),
                    "permalink_url": format!("{}/compare/{bh}", r.html),
                    "diff_url": format!("{}/compare/{bh}.diff", r.html),
                    "patch_url": format!("{}/compare/{bh}.patch", r.html),
                    "base_commit": base_commit.map(|c| commit_json(r, &c)),
                    "merge_base_commit": merge_base.map(|c| commit_json(r, &c)),
                    "status": status,
                    "ahead_by": ahead.len(),
                    "behind_by": behind.len(),
                    "total_commits": ahead.len(),
                    "commits": ahead.iter().map(|c| commit_json(r, c)).collect::<Vec<_>>(),
                    "files": [],
                }),
            )
        }
        "repos/list-deployments" => {
            let items = st
                .deployments
                .iter()
                .rev()
                .filter(|d| {
                    ["sha", "ref", "task", "environment"]
                        .iter()
                        .all(|k| r.q(k).is_none_or(|v| d[*k] == v))
                })
                .cloned()
                .collect();
            paged(r, "/deployments", items)
        }
        "repos/create-deployment" => deployment_create(st, r),
        "repos/get-deployment" => match st
            .deployments
            .iter()
            .find(|d| d["id"] == r.id("deployment_id"))
        {
            Some(d) => ok(200, d.clone()),
            None => not_found(),
        },
        "repos/delete-deployment" => {
            let id = r.id("deployment_id");
            let Some(d) = st.deployments.iter().find(|d| d["id"] == id).cloned() else {
                return not_found();
            };
            let env = d["environment"].clone();
            let others = st
                .deployments
                .iter()
                .filter(|x| x["environment"] == env && x["id"] != id)
                .count();
            let inactive = st
                .deployment_statuses
                .get(&id)
                .and_then(|s| s.last())
                .is_some_and(|s| s["state"] == "inactive");
            if !inactive && others > 0 {
                return invalid(
                    "We cannot delete an active deployment unless it is the only deployment in a given environment.",
                    json!([]),
                );
            }
            st.deployments.retain(|x| x["id"] != id);
            ok(204, Value::Null)
        }
        "repos/list-deployment-statuses" => {
            let id = r.id("deployment_id");
            if !st.deployments.iter().any(|d| d["id"] == id) {
                return not_found();
            }
            let mut items = st.deployment_statuses.get(&id).cloned().unwrap_or_default();
            items.reverse();
            paged(r, &format!("/deployments/{id}/statuses"), items)
        }
        "repos/create-deployment-status" => deployment_status_create(st, r),
        "repos/get-deployment-status" => match st
            .deployment_statuses
            .get(&r.id("deployment_id"))
            .and_then(|v| v.iter().find(|s| s["id"] == r.id("status_id")))
        {
            Some(s) => ok(200, s.clone()),
            None => not_found(),
        },
        "repos/list-releases" => {
            let items = st.releases.iter().rev().cloned().collect();
            paged(r, "/releases", items)
        }
        "repos/create-release" => release_create(st, r),
        "repos/get-release" => match st.releases.iter().find(|x| x["id"] == r.id("release_id")) {
            Some(x) => ok(200, x.clone()),
            None => not_found(),
        },
        "repos/update-release" => {
            let id = r.id("release_id");
            let now = st.now();
            let Some(x) = st.releases.iter_mut().find(|x| x["id"] == id) else {
                return not_found();
            };
            for k in [
                "tag_name",
                "target_commitish",
                "name",
                "body",
                "draft",
                "prerelease",
            ] {
                if let Some(v) = r.body.get(k) {
                    x[k] = v.clone();
                }
            }
            if x["draft"] == false && x["published_at"].is_null() {
                x["published_at"] = Value::String(now);
            }
            let tag = x["tag_name"].as_str().unwrap_or_default().to_owned();
            x["html_url"] = Value::String(format!("{}/releases/tag/{tag}", r.html));
            let out = x.clone();
            if out["draft"] == false {
                ensure_tag(st, &tag, out["target_commitish"].as_str().unwrap_or("main"));
            }
            ok(200, out)
        }
        "repos/delete-release" => {
            let id = r.id("release_id");
            let before = st.releases.len();
            st.releases.retain(|x| x["id"] != id);
            if st.releases.len() == before {
                return not_found();
            }
            ok(204, Value::Null)
        }
        "repos/get-release-by-tag" => match st
            .releases
            .iter()
            .find(|x| x["tag_name"] == r.p("tag") && x["draft"] == false)
        {
            Some(x) => ok(200, x.clone()),
            None => not_found(),
        },
        "repos/get-latest-release" => match st
            .releases
            .iter()
            .rev()
            .find(|x| x["draft"] == false && x["prerelease"] == false)
        {
            Some(x) => ok(200, x.clone()),
            None => not_found(),
        },
        "repos/generate-release-notes" => {
            let tag = r.s("tag_name").unwrap_or_default();
            let prev = r.s("previous_tag_name");
            let head = resolve_commitish(st, tag)
                .or_else(|| resolve_commitish(st, r.s("target_commitish").unwrap_or("main")));
            let mut body = String::from("## What's Changed\n");
            if let Some(h) = head {
                let base = prev
                    .and_then(|p| resolve_commitish(st, p))
                    .unwrap_or_default();
                let (cs, _) = range(st, &base, &h);
                for c in cs.iter().rev() {
                    body.push_str(&format!("* {}\n", c.message.lines().next().unwrap_or("")));
                }
            }
            ok(200, json!({"name": tag, "body": body}))
        }
        "repos/list-release-assets" => {
            let id = r.id("release_id");
            if !st.releases.iter().any(|x| x["id"] == id) {
                return not_found();
            }
            let items = st.assets.get(&id).cloned().unwrap_or_default();
            paged(r, &format!("/releases/{id}/assets"), items)
        }
        "repos/upload-release-asset" => {
            let id = r.id("release_id");
            if !st.releases.iter().any(|x| x["id"] == id) {
                return not_found();
            }
            let Some(name) = r.q("name") else {
                return invalid(
                    "Validation Failed",
                    json!([{"resource": "ReleaseAsset", "code": "missing_field", "field": "name"}]),
                );
            };
            if st
                .assets
                .get(&id)
                .is_some_and(|a| a.iter().any(|x| x["name"] == name))
            {
                return invalid(
                    "Validation Failed",
                    json!([{"resource": "ReleaseAsset", "code": "already_exists", "field": "name"}]),
                );
            }
            let aid = st.id();
            let now = st.now();
            let ct = r
                .headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("application/octet-stream");
            let tag = st
                .releases
                .iter()
                .find(|x| x["id"] == id)
                .and_then(|x| x["tag_name"].as_str())
                .unwrap_or_default()
                .to_owned();
            let a = json!({"id": aid, "node_id": format!("RA_{aid}"), "name": name, "label": r.q("label"),
                "content_type": ct, "state": "uploaded", "size": r.raw.len(), "download_count": 0,
                "url": format!("{}/releases/assets/{aid}", r.api),
                "browser_download_url": format!("{}/releases/download/{tag}/{name}", r.html),
                "created_at": now, "updated_at": now, "uploader": user("github-actions[bot]", "Bot"),
                "digest": format!("sha256:{}", hex::encode(sha2::Sha256::digest(r.raw)))});
            st.assets.entry(id).or_default().push(a.clone());
            ok(201, a)
        }
        "repos/get-release-asset" | "repos/update-release-asset" | "repos/delete-release-asset" => {
            let aid = r.id("asset_id");
            let Some((rid, idx)) = st
                .assets
                .iter()
                .find_map(|(rid, v)| v.iter().position(|a| a["id"] == aid).map(|i| (*rid, i)))
            else {
                return not_found();
            };
            let list = st.assets.entry(rid).or_default();
            match r.op {
                "repos/delete-release-asset" => {
                    list.remove(idx);
                    ok(204, Value::Null)
                }
                "repos/update-release-asset" => {
                    for k in ["name", "label", "state"] {
                        if let Some(v) = r.body.get(k) {
                            list[idx][k] = v.clone();
                        }
                    }
                    ok(200, list[idx].clone())
                }
                _ => ok(200, list[idx].clone()),
            }
        }
        "git/create-ref" => {
            let name = r.s("ref").unwrap_or_default().to_owned();
            let sha = r.s("sha").unwrap_or_default().to_owned();
            if !name.starts_with("refs/") || name.matches('/').count() < 2 {
                return invalid("Reference name is invalid", json!([]));
            }
            if st.refs.contains_key(&name) {
                return invalid("Reference already exists", json!([]));
            }
            if !object_exists(st, &sha) {
                return invalid("Object does not exist", json!([]));
            }
            st.refs.insert(name.clone(), sha.clone());
            ok(201, ref_json(st, r, &name, &sha))
        }
        "git/get-ref" => {
            let name = format!("refs/{}", r.p("ref"));
            match st.refs.get(&name).cloned() {
                Some(sha) => ok(200, ref_json(st, r, &name, &sha)),
                None => not_found(),
            }
        }
        "git/update-ref" => {
            let name = format!("refs/{}", r.p("ref"));
            let sha = r.s("sha").unwrap_or_default().to_owned();
            let force = r.body.get("force") == Some(&Value::Bool(true));
            let Some(old) = st.refs.get(&name).cloned() else {
                return invalid("Reference does not exist", json!([]));
            };
            if !object_exists(st, &sha) {
                return invalid("Object does not exist", json!([]));
            }
            if !force && !ancestors(st, &sha).iter().any(|c| c.sha == old) {
                return invalid("Update is not a fast forward", json!([]));
            }
            st.refs.insert(name.clone(), sha.clone());
            ok(200, ref_json(st, r, &name, &sha))
        }
        "git/delete-ref" => {
            let name = format!("refs/{}", r.p("ref"));
            if st.refs.remove(&name).is_none() {
                return invalid("Reference does not exist", json!([]));
            }
            ok(204, Value::Null)
        }
        "git/list-matching-refs" => {
            let prefix = format!("refs/{}", r.p("ref"));
            let items: Vec<Value> = st
                .refs
                .iter()
                .filter(|(k, _)| k.starts_with(&prefix))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<Vec<_>>()
                .into_iter()
                .map(|(k, v)| ref_json(st, r, &k, &v))
                .collect();
            ok(200, Value::Array(items))
        }
        "git/create-tag" => {
            let object = r.s("object").unwrap_or_default().to_owned();
            if !object_exists(st, &object) {
                return invalid("Object does not exist", json!([]));
            }
            let sha = fake_sha(&format!("tag:{}", r.body));
            let t = json!({
                "node_id": format!("TAG_{sha}"), "tag": r.s("tag"), "sha": sha,
                "url": format!("{}/git/tags/{sha}", r.api), "message": r.s("message"),
                "tagger": r.body.get("tagger").cloned().unwrap_or_else(|| json!({"name": "github-actions[bot]", "email": "41898282+github-actions[bot]@users.noreply.github.com", "date": "2026-01-01T00:00:00Z"})),
                "object": {"type": r.s("type"), "sha": object, "url": format!("{}/git/commits/{object}", r.api)},
                "verification": {"verified": false, "reason": "unsigned", "signature": null, "payload": null, "verified_at": null},
            });
            st.tags.insert(sha, t.clone());
            ok(201, t)
        }
        "git/get-tag" => match st.tags.get(r.p("tag_sha")) {
            Some(t) => ok(200, t.clone()),
            None => not_found(),
        },
        "rate-limit/get" => {
            let core = json!({"limit": 5000, "used": 5000 - st.rate_remaining, "remaining": st.rate_remaining, "reset": 1_767_229_200});
            ok(
                200,
                json!({"resources": {"core": core, "search": core}, "rate": core}),
            )
        }
        other => err(
            501,
            &format!("fake GitHub: operation {other} is documented but not modelled"),
        ),
    }
}

fn comment_too_long(body: &str) -> Option<Answer> {
    (body.chars().count() > 65_536).then(|| {
        invalid(
            "Validation Failed",
            json!([{"resource": "IssueComment", "code": "custom", "field": "body",
                    "message": "body is too long (maximum is 65536 characters)"}]),
        )
    })
}

fn comment_json(r: &Req<'_>, c: &Comment) -> Value {
    json!({
        "id": c.id, "node_id": format!("IC_{}", c.id),
        "url": format!("{}/issues/comments/{}", r.api, c.id),
        "html_url": format!("{}/pull/{}#issuecomment-{}", r.html, c.issue, c.id),
        "issue_url": format!("{}/issues/{}", r.api, c.issue),
        "body": c.body, "user": user(&c.author, &c.author_type),
        "created_at": c.created_at, "updated_at": c.updated_at, "author_association": "NONE",
    })
}

fn labels_json(r: &Req<'_>, names: Vec<String>) -> Vec<Value> {
    names
        .into_iter()
        .map(|n| {
            json!({"id": 1, "node_id": "LA", "url": format!("{}/labels/{n}", r.api), "name": n,
                   "description": null, "color": "ededed", "default": false})
        })
        .collect()
}

fn check_json(r: &Req<'_>, c: &CheckRun) -> Value {
    json!({
        "id": c.id, "node_id": format!("CR_{}", c.id), "head_sha": c.head_sha, "external_id": c.external_id,
        "url": format!("{}/check-runs/{}", r.api, c.id),
        "html_url": format!("{}/runs/{}", r.html, c.id),
        "details_url": c.details_url, "status": c.status, "conclusion": c.conclusion,
        "started_at": c.started_at, "completed_at": c.completed_at, "name": c.name,
        "output": {"title": c.title, "summary": c.summary, "text": c.text,
                   "annotations_count": c.annotations.len(),
                   "annotations_url": format!("{}/check-runs/{}/annotations", r.api, c.id)},
        "check_suite": {"id": 1},
        "app": {"id": 15368, "slug": c.app_slug, "name": c.app_slug},
        "pull_requests": [],
    })
}

/// GitHub's extra rules on check-run output beyond the schema: 65,535 bytes per text, columns only on
/// one line.
fn check_output_rules(body: &Value) -> Option<Answer> {
    let out = body.get("output")?;
    for k in ["summary", "text"] {
        if let Some(s) = out.get(k).and_then(Value::as_str)
            && s.len() > 65_535
        {
            return Some(invalid(
                &format!(
                    "Invalid request.\n\nOnly 65535 characters are allowed; {} were supplied.",
                    s.len()
                ),
                json!([]),
            ));
        }
    }
    for a in out
        .get("annotations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let cols = a.get("start_column").is_some() || a.get("end_column").is_some();
        if cols && a["start_line"] != a["end_line"] {
            return Some(invalid(
                "Invalid request.\n\nstart_column and end_column may only be given when start_line equals end_line.",
                json!([]),
            ));
        }
        if a["start_line"].as_i64().unwrap_or(0) < 1 {
            return Some(invalid(
                "Invalid request.\n\nstart_line must be at least 1.",
                json!([]),
            ));
        }
    }
    None
}

fn apply_check_fields(st: &mut State, c: &mut CheckRun, b: &Value) -> Option<Answer> {
    if let Some(n) = b.get("name").and_then(Value::as_str) {
        c.name = n.to_owned();
    }
    if let Some(v) = b.get("details_url").and_then(Value::as_str) {
        c.details_url = Some(v.to_owned());
    }
    if let Some(v) = b.get("external_id").and_then(Value::as_str) {
        c.external_id = Some(v.to_owned());
    }
    if let Some(v) = b.get("started_at").and_then(Value::as_str) {
        c.started_at = v.to_owned();
    }
    if let Some(v) = b.get("status").and_then(Value::as_str) {
        c.status = v.to_owned();
    }
    if let Some(v) = b.get("conclusion").and_then(Value::as_str) {
        c.conclusion = Some(v.to_owned());
        c.status = "completed".into();
    }
    if c.status == "completed" && c.conclusion.is_none() {
        return Some(invalid(
            "Invalid request.\n\nNo conclusion provided for a completed check run.",
            json!([]),
        ));
    }
    if c.status == "completed" && c.completed_at.is_none() {
        c.completed_at = Some(
            b.get("completed_at")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| st.now()),
        );
    }
    if let Some(out) = b.get("output") {
        if let Some(v) = out.get("title").and_then(Value::as_str) {
            c.title = Some(v.to_owned());
        }
        if let Some(v) = out.get("summary").and_then(Value::as_str) {
            c.summary = Some(v.to_owned());
        }
        if let Some(v) = out.get("text").and_then(Value::as_str) {
            c.text = Some(v.to_owned());
        }
        if let Some(a) = out.get("annotations").and_then(Value::as_array) {
            c.annotations.extend(a.iter().cloned());
        }
    }
    None
}

fn check_create(st: &mut State, r: &Req<'_>) -> Answer {
    if let Some(a) = check_output_rules(r.body) {
        return a;
    }
    let id = st.id();
    let now = st.now();
    let mut c = CheckRun {
        id,
        name: String::new(),
        head_sha: r.s("head_sha").unwrap_or_default().to_owned(),
        status: "queued".into(),
        conclusion: None,
        title: None,
        summary: None,
        text: None,
        annotations: Vec::new(),
        details_url: None,
        external_id: None,
        started_at: now,
        completed_at: None,
        app_slug: {
            let (login, _) = identity_of(st, &token_of(r.headers));
            login
                .strip_suffix("[bot]")
                .unwrap_or("github-actions")
                .to_owned()
        },
    };
    if let Some(a) = apply_check_fields(st, &mut c, r.body) {
        return a;
    }
    let j = check_json(r, &c);
    st.check_runs.push(c);
    ok(201, j)
}

fn check_update(st: &mut State, r: &Req<'_>) -> Answer {
    if let Some(a) = check_output_rules(r.body) {
        return a;
    }
    let id = r.id("check_run_id");
    let Some(idx) = st.check_runs.iter().position(|c| c.id == id) else {
        return not_found();
    };
    // Work on a copy (a rejected update changes nothing) without copying the annotations each time.
    let annotations = std::mem::take(&mut st.check_runs[idx].annotations);
    let mut c = st.check_runs[idx].clone();
    c.annotations = annotations;
    if let Some(a) = apply_check_fields(st, &mut c, r.body) {
        st.check_runs[idx].annotations = std::mem::take(&mut c.annotations);
        return a;
    }
    let j = check_json(r, &c);
    st.check_runs[idx] = c;
    ok(200, j)
}

fn latest_statuses(st: &State, sha: &str) -> Vec<Value> {
    let mut by_ctx: BTreeMap<String, Value> = BTreeMap::new();
    for (s, v) in &st.statuses {
        if s == sha {
            by_ctx.insert(v["context"].as_str().unwrap_or("").to_owned(), v.clone());
        }
    }
    by_ctx.into_values().collect()
}

fn combined_state(latest: &[Value]) -> &'static str {
    if latest
        .iter()
        .any(|s| s["state"] == "failure" || s["state"] == "error")
    {
        "failure"
    } else if latest.is_empty() || latest.iter().any(|s| s["state"] == "pending") {
        "pending"
    } else {
        "success"
    }
}

/// A sha, branch, tag or `refs/...` name -> commit sha (annotated tags are peeled).
fn resolve_commitish(st: &State, name: &str) -> Option<String> {
    let peel = |sha: &String| -> String {
        match st.tags.get(sha) {
            Some(t) => t["object"]["sha"].as_str().unwrap_or_default().to_owned(),
            None => sha.clone(),
        }
    };
    for cand in [
        name.to_owned(),
        format!("refs/heads/{name}"),
        format!("refs/tags/{name}"),
        format!("refs/{name}"),
    ] {
        if let Some(sha) = st.refs.get(&cand) {
            return Some(peel(sha));
        }
    }
    if st.commits.iter().any(|c| c.sha == name) {
        return Some(name.to_owned());
    }
    let hexish = name.len() == 40 && name.bytes().all(|b| b.is_ascii_hexdigit());
    hexish.then(|| name.to_owned())
}

fn object_exists(st: &State, sha: &str) -> bool {
    st.commits.iter().any(|c| c.sha == sha) || st.tags.contains_key(sha)
}

/// `sha` and its ancestors, oldest first.
fn ancestors(st: &State, sha: &str) -> Vec<Commit> {
    let mut seen = std::collections::HashSet::new();
    let mut stack = vec![sha.to_owned()];
    while let Some(s) = stack.pop() {
        if !seen.insert(s.clone()) {
            continue;
        }
        if let Some(c) = st.commits.iter().find(|c| c.sha == s) {
            stack.extend(c.parents.iter().cloned());
        }
    }
    st.commits
        .iter()
        .filter(|c| seen.contains(&c.sha))
        .cloned()
        .collect()
}

/// Commits in `head` not in `base` (oldest first), and in `base` not in `head`.
fn range(st: &State, base: &str, head: &str) -> (Vec<Commit>, Vec<Commit>) {
    let a = ancestors(st, head);
    let b = ancestors(st, base);
    let ahead = a
        .iter()
        .filter(|c| !b.iter().any(|x| x.sha == c.sha))
        .cloned()
        .collect();
    let behind = b
        .iter()
        .filter(|c| !a.iter().any(|x| x.sha == c.sha))
        .cloned()
        .collect();
    (ahead, behind)
}

fn commit_json(r: &Req<'_>, c: &Commit) -> Value {
    let who = json!({"name": "Octo Cat", "email": "octocat@example.com", "date": c.date});
    json!({
        "sha": c.sha, "node_id": format!("C_{}", c.sha),
        "url": format!("{}/commits/{}", r.api, c.sha),
        "html_url": format!("{}/commit/{}", r.html, c.sha),
        "comments_url": format!("{}/commits/{}/comments", r.api, c.sha),
        "commit": {"message": c.message, "author": who, "committer": who, "comment_count": 0,
                   "url": format!("{}/git/commits/{}", r.api, c.sha),
                   "tree": {"sha": fake_sha(&format!("tree:{}", c.sha)), "url": ""}},
        "author": user("octocat", "User"), "committer": user("octocat", "User"),
        "parents": c.parents.iter().map(|p| json!({"sha": p, "url": format!("{}/commits/{p}", r.api)})).collect::<Vec<_>>(),
    })
}

fn ref_json(st: &State, r: &Req<'_>, name: &str, sha: &str) -> Value {
    let kind = if st.tags.contains_key(sha) {
        "tag"
    } else {
        "commit"
    };
    json!({"ref": name, "node_id": format!("REF_{name}"), "url": format!("{}/git/{name}", r.api),
           "object": {"type": kind, "sha": sha, "url": format!("{}/git/{kind}s/{sha}", r.api)}})
}

fn ensure_tag(st: &mut State, tag: &str, target: &str) {
    let name = format!("refs/tags/{tag}");
    if st.refs.contains_key(&name) {
        return;
    }
    if let Some(sha) = resolve_commitish(st, target) {
        st.refs.insert(name, sha);
    }
}

#[allow(
    clippy::too_many_arguments,
    reason = "mirrors the release object's fields"
)]
fn release_json(
    api: &str,
    repo: &str,
    id: u64,
    tag: &str,
    target: &str,
    name: Option<&str>,
    body: &str,
    draft: bool,
    prerelease: bool,
    now: &str,
) -> Value {
    json!({
        "id": id, "node_id": format!("RE_{id}"), "url": format!("{api}/releases/{id}"),
        "html_url": format!("https://github.com/{repo}/releases/tag/{tag}"),
        "assets_url": format!("{api}/releases/{id}/assets"),
        "upload_url": format!("{api}/releases/{id}/assets{{?name,label}}"),
        "tarball_url": format!("{api}/tarball/{tag}"), "zipball_url": format!("{api}/zipball/{tag}"),
        "tag_name": tag, "target_commitish": target, "name": name, "body": body,
        "draft": draft, "prerelease": prerelease, "immutable": false,
        "created_at": now, "published_at": if draft { Value::Null } else { Value::String(now.to_owned()) },
        "author": user("github-actions[bot]", "Bot"), "assets": [],
    })
}

fn release_create(st: &mut State, r: &Req<'_>) -> Answer {
    let tag = r.s("tag_name").unwrap_or_default().to_owned();
    if st.releases.iter().any(|x| x["tag_name"] == tag.as_str()) {
        return invalid(
            "Validation Failed",
            json!([{"resource": "Release", "code": "already_exists", "field": "tag_name"}]),
        );
    }
    let target = r.s("target_commitish").unwrap_or("main").to_owned();
    let draft = r.body.get("draft") == Some(&Value::Bool(true));
    if !draft && !st.refs.contains_key(&format!("refs/tags/{tag}")) {
        if resolve_commitish(st, &target).is_none() {
            return invalid(
                "Validation Failed",
                json!([{"resource": "Release", "code": "invalid", "field": "target_commitish"}]),
            );
        }
        ensure_tag(st, &tag, &target);
    }
    let id = st.id();
    let now = st.now();
    let mut body = r.s("body").unwrap_or_default().to_owned();
    if r.body.get("generate_release_notes") == Some(&Value::Bool(true)) {
        body.push_str("\n\n**Full Changelog**: generated");
    }
    let api = r.api.clone();
    let mut x = release_json(
        &api,
        r.repo,
        id,
        &tag,
        &target,
        r.s("name"),
        &body,
        draft,
        r.body.get("prerelease") == Some(&Value::Bool(true)),
        &now,
    );
    x["html_url"] = Value::String(format!("{}/releases/tag/{tag}", r.html));
    st.releases.push(x.clone());
    let mut a = ok(201, x);
    a.headers
        .push(("location".into(), format!("{}/releases/{id}", r.api)));
    a
}

fn deployment_create(st: &mut State, r: &Req<'_>) -> Answer {
    let git_ref = r.s("ref").unwrap_or_default().to_owned();
    let Some(sha) = resolve_commitish(st, &git_ref) else {
        return invalid(&format!("No ref found for: {git_ref}"), json!([]));
    };
    if r.body.get("required_contexts").is_none() {
        let latest = latest_statuses(st, &sha);
        let bad: Vec<&str> = latest
            .iter()
            .filter(|s| s["state"] != "success")
            .filter_map(|s| s["context"].as_str())
            .collect();
        if !bad.is_empty() {
            return ok(
                409,
                json!({"message": format!("Conflict: Commit status checks failed for {git_ref}."),
                       "errors": [{"contexts": latest, "resource": "Deployment", "field": "required_contexts", "code": "invalid"}],
                       "documentation_url": DOCS, "status": "409"}),
            );
        }
    }
    let id = st.id();
    let now = st.now();
    let env = r.s("environment").unwrap_or("production").to_owned();
    let d = json!({
        "url": format!("{}/deployments/{id}", r.api), "id": id, "node_id": format!("DE_{id}"),
        "sha": sha, "ref": git_ref, "task": r.s("task").unwrap_or("deploy"),
        "payload": r.body.get("payload").cloned().unwrap_or_else(|| json!({})),
        "original_environment": env, "environment": env,
        "description": r.body.get("description").cloned().unwrap_or(Value::Null),
        "creator": user("github-actions[bot]", "Bot"), "created_at": now, "updated_at": now,
        "statuses_url": format!("{}/deployments/{id}/statuses", r.api),
        "repository_url": r.api,
        "transient_environment": r.body.get("transient_environment").cloned().unwrap_or(Value::Bool(false)),
        "production_environment": r.body.get("production_environment").cloned().unwrap_or(Value::Bool(env == "production")),
    });
    st.deployments.push(d.clone());
    ok(201, d)
}

fn deployment_status_create(st: &mut State, r: &Req<'_>) -> Answer {
    let id = r.id("deployment_id");
    let Some(d) = st.deployments.iter().find(|d| d["id"] == id).cloned() else {
        return not_found();
    };
    let state = r.s("state").unwrap_or_default().to_owned();
    let env = r
        .s("environment")
        .map(str::to_owned)
        .unwrap_or_else(|| d["environment"].as_str().unwrap_or_default().to_owned());
    let sid = st.id();
    let now = st.now();
    let s = json!({
        "url": format!("{}/deployments/{id}/statuses/{sid}", r.api), "id": sid, "node_id": format!("DES_{sid}"),
        "state": state, "creator": user("github-actions[bot]", "Bot"),
        "description": r.s("description").unwrap_or(""), "environment": env,
        "target_url": r.s("target_url").or(r.s("log_url")).unwrap_or(""),
        "log_url": r.s("log_url").or(r.s("target_url")).unwrap_or(""),
        "environment_url": r.s("environment_url").unwrap_or(""),
        "created_at": now, "updated_at": now,
        "deployment_url": format!("{}/deployments/{id}", r.api), "repository_url": r.api,
    });
    st.deployment_statuses
        .entry(id)
        .or_default()
        .push(s.clone());
    if let Some(dd) = st.deployments.iter_mut().find(|d| d["id"] == id) {
        dd["environment"] = Value::String(env.clone());
        dd["updated_at"] = Value::String(now.clone());
    }
    let auto_inactive = r.body.get("auto_inactive") != Some(&Value::Bool(false));
    if state == "success" && auto_inactive {
        let others: Vec<u64> = st
            .deployments
            .iter()
            .filter(|x| {
                x["environment"] == env.as_str()
                    && x["id"] != id
                    && x["transient_environment"] != true
            })
            .filter_map(|x| x["id"].as_u64())
            .collect();
        for o in others {
            let last_inactive = st
                .deployment_statuses
                .get(&o)
                .and_then(|v| v.last())
                .is_some_and(|s| s["state"] == "inactive");
            if last_inactive {
                continue;
            }
            let sid = st.id();
            let now = st.now();
            let inactive = json!({
                "url": format!("{}/deployments/{o}/statuses/{sid}", r.api), "id": sid, "node_id": format!("DES_{sid}"),
                "state": "inactive", "creator": user("github-actions[bot]", "Bot"), "description": "",
                "environment": env, "target_url": "", "log_url": "", "environment_url": "",
                "created_at": now, "updated_at": now,
                "deployment_url": format!("{}/deployments/{o}", r.api), "repository_url": r.api,
            });
            st.deployment_statuses.entry(o).or_default().push(inactive);
        }
    }
    ok(201, s)
}
