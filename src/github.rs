//! The GitHub REST client every mode uses, on octocrab's raw request layer.
//!
//! - Base URL from `GITHUB_API_URL` (a GHES `/api/v3` prefix is kept), token from the `github-token` input.
//! - Every request carries `X-GitHub-Api-Version: 2022-11-28` and a `stevedore/<version>` user agent.
//! - 5xx answers and transport errors are retried a bounded number of times with exponential backoff and
//!   jitter ([`crate::net::retry`]); rate limits (429, or 403 with `retry-after`, `x-ratelimit-remaining: 0` or a "secondary
//!   rate limit" message) are waited out honouring `retry-after` / `x-ratelimit-reset`, each wait capped
//!   by [`RetryPolicy::max_wait`].
//! - Content-creating requests (POST/PATCH/PUT/DELETE) go one at a time, as GitHub asks of integrations.
//!
//! Routes are relative to the API base: `"/repos/o/r/check-runs"`; [`route`] knows each by its template.
//! Bodies are typed: [`Client::send`] serialises a request struct and [`Client::get_as`] /
//! [`Client::get_paged_as`] deserialise the answer; a answer of the wrong shape is a [`GithubError::Decode`].
//! - Every request body passes through the run's [`Masker`] ([`Client::for_run`]): a registered secret in
//!   any string of it (a check run's summary, text, title or annotation, a comment, a status description, a
//!   Deployment's description or payload) leaves as `***`, whichever module built the body.
//! - [`Client::identity`] is who the token writes as (the author GitHub shows): what stevedore finds again
//!   by a marker is its own only when this identity wrote it.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::context::Context;
use crate::env::Env;
use crate::net::retry::{Backoff, Retries};
use crate::net::{Net, ProxyConnector, error_chain};
use crate::report::Masker;

pub mod checks;
pub mod comments;
pub mod deployments;
pub mod fanout;
pub mod route;
pub mod statuses;

/// The login of the workflow's `GITHUB_TOKEN` (the GitHub Actions app's bot), the author GitHub shows on
/// what that token writes.
pub const ACTIONS_BOT: &str = "github-actions[bot]";

/// Who the token writes as: the login GitHub shows as the author of its comments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub login: String,
    pub source: IdentitySource,
}

impl Identity {
    /// Whether `login` is this identity (GitHub logins compare without case).
    #[must_use]
    pub fn is(&self, login: &str) -> bool {
        self.login.eq_ignore_ascii_case(login)
    }
}

/// How [`Client::identity`] knows who the token is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdentitySource {
    /// `GET /user` answered: a personal access token or a user's OAuth token.
    User,
    /// A check run this client created names its app: the app's bot, `<slug>[bot]`.
    App,
    /// A comment this client created names its author.
    Author,
    /// An installation token that has not created anything yet (`GET /user` is refused to installation
    /// tokens): taken to be the workflow's `GITHUB_TOKEN`, [`ACTIONS_BOT`], until GitHub says otherwise.
    Assumed,
}

/// What stevedore reads of `GET /user`.
#[derive(Debug, serde::Deserialize)]
struct UserAnswer {
    login: String,
}

/// The REST API version we are written for.
pub const API_VERSION: &str = "2022-11-28";

/// `User-Agent` of every request.
pub const USER_AGENT: &str = concat!("stevedore/", env!("CARGO_PKG_VERSION"));

/// How hard to try before giving up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt, for 5xx and transport errors.
    pub max_retries: u32,
    /// Rate-limit waits allowed per request.
    pub max_rate_limit_waits: u32,
    /// First backoff; doubles each retry, with jitter.
    pub backoff: Duration,
    /// The longest single wait. A rate limit asking for longer is waited this long, then tried again.
    pub max_wait: Duration,
}

impl RetryPolicy {
    fn retries(&self) -> Retries {
        Retries::after_first(
            self.max_retries,
            Backoff {
                first: self.backoff,
                max: self.max_wait,
            },
        )
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            max_rate_limit_waits: 3,
            backoff: Duration::from_secs(1),
            max_wait: Duration::from_secs(90),
        }
    }
}

/// A failed GitHub API call.
#[derive(Debug, thiserror::Error)]
pub enum GithubError {
    /// GitHub answered with an error status.
    #[error("GitHub API {method} {route} answered {status}: {message}{}", hint_suffix(.hint.as_deref()))]
    Api {
        method: String,
        route: String,
        status: u16,
        message: String,
        documentation_url: Option<String>,
        /// What to change in the workflow, when we know.
        hint: Option<String>,
    },
    /// The request never got an answer (after retries).
    #[error("cannot reach the GitHub API for {method} {route}: {message}")]
    Transport {
        method: String,
        route: String,
        message: String,
    },
    /// The answer was not the JSON we expected (not JSON, or not of the documented shape).
    #[error("GitHub API {method} {route} answered something unexpected: {message}")]
    Decode {
        method: String,
        route: String,
        message: String,
    },
    /// The runner cancelled the step: the request was not sent, or its answer was not awaited.
    #[error("GitHub API {method} {route} not completed: {cancelled}")]
    Cancelled {
        method: String,
        route: String,
        cancelled: crate::cancel::Cancelled,
    },
    /// The run's context lacks something GitHub needs.
    #[error(
        "cannot call the GitHub API: {what} is not set (it is set on every GitHub Actions runner)"
    )]
    Missing { what: &'static str },
    /// `GITHUB_API_URL` or the token cannot be used.
    #[error("cannot set up the GitHub client for `{url}` (GITHUB_API_URL): {message}")]
    Setup { url: String, message: String },
}

fn hint_suffix(h: Option<&str>) -> String {
    h.map(|h| format!(" — {h}")).unwrap_or_default()
}

impl GithubError {
    /// The HTTP status GitHub answered, if it answered.
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        match self {
            GithubError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The route of the failed call.
    #[must_use]
    pub fn route(&self) -> Option<&str> {
        match self {
            GithubError::Api { route, .. }
            | GithubError::Transport { route, .. }
            | GithubError::Cancelled { route, .. }
            | GithubError::Decode { route, .. } => Some(route),
            GithubError::Setup { .. } | GithubError::Missing { .. } => None,
        }
    }

    /// GitHub's error message (for `Api`), else the whole error.
    #[must_use]
    pub fn message(&self) -> String {
        match self {
            GithubError::Api { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }

    /// The fix, when we know one (e.g. the `permissions:` line to add).
    #[must_use]
    pub fn hint(&self) -> Option<&str> {
        match self {
            GithubError::Api { hint, .. } => hint.as_deref(),
            _ => None,
        }
    }

    /// The operation that failed, from [`route::ENDPOINTS`].
    #[must_use]
    pub fn endpoint(&self) -> Option<&'static route::Endpoint> {
        match self {
            GithubError::Api { method, route, .. }
            | GithubError::Transport { method, route, .. }
            | GithubError::Cancelled { method, route, .. }
            | GithubError::Decode { method, route, .. } => route::endpoint(method, route),
            GithubError::Setup { .. } | GithubError::Missing { .. } => None,
        }
    }

    /// The `permissions:` entry the failed operation needs.
    #[must_use]
    pub fn permission(&self) -> Option<route::Permission> {
        self.endpoint()?.permission
    }

    /// Whether the token may not do this (403 that is not a rate limit, or 404 on a write, which is how
    /// GitHub answers some writes the token may not make).
    #[must_use]
    pub fn is_forbidden(&self) -> bool {
        matches!(self, GithubError::Api { status: 403, .. })
            || matches!(self, GithubError::Api { status: 401, .. })
            || matches!(self, GithubError::Api { status: 404, method, .. } if method != "GET")
    }
}

fn hint_for(method: &Method, route: &str, status: u16, message: &str) -> Option<String> {
    if !(status == 403 || status == 401 || (status == 404 && method != Method::GET)) {
        return None;
    }
    let perm = route::permission(method.as_str(), route)?;
    let mut h = format!("add `permissions: {perm}` to the job");
    if perm.scope == route::Scope::Checks && perm.write {
        h.push_str(
            " (check runs can only be created with GITHUB_TOKEN or a GitHub App token, not a personal access token)",
        );
    }
    if message.contains("Resource not accessible by integration") {
        h.push_str("; workflows triggered from forks never get a write token");
    }
    Some(h)
}

/// One answer: status, headers and the parsed JSON body (`Null` when empty).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

/// API base URLs a request has given up on (connection errors after the retry run), shared by every
/// client of the process: the check runs, the Deployment and the fan-out each build their own client, and
/// the documented promise is one retry run per run, then one try per call.
static UNREACHABLE: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

fn known_unreachable(api_url: &str) -> bool {
    UNREACHABLE
        .lock()
        .is_ok_and(|u| u.iter().any(|x| x == api_url))
}

fn mark_unreachable(api_url: &str) {
    if let Ok(mut u) = UNREACHABLE.lock()
        && !u.iter().any(|x| x == api_url)
    {
        u.push(api_url.to_owned());
    }
}

/// Octocrab over our own service stack: its default builder always adds `User-Agent: octocrab` next to
/// any we set, and a request must carry exactly one. Same parts as its default client: hyper + rustls
/// (ring; the roots and the proxy of [`Net`]: built-in roots plus `SSL_CERT_FILE`/`SSL_CERT_DIR`,
/// `HTTPS_PROXY`/`NO_PROXY`), connect/read timeouts, redirects followed, base URI (path kept, for GHES), the
/// token only sent to that host.
fn build_octocrab(base: &http::Uri, token: &str, net: &Net) -> Result<octocrab::Octocrab, String> {
    use octocrab::service::middleware::auth_header::AuthHeaderLayer;
    use octocrab::service::middleware::base_uri::BaseUriLayer;
    use octocrab::service::middleware::extra_headers::ExtraHeadersLayer;
    use std::sync::Arc;

    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(net.tls_config())
        .https_or_http()
        .enable_http1()
        .wrap_connector(ProxyConnector::new(net.clone(), Duration::from_secs(10)));
    let mut connector = hyper_timeout::TimeoutConnector::new(https);
    connector.set_connect_timeout(Some(Duration::from_secs(10)));
    connector.set_read_timeout(Some(Duration::from_secs(60)));
    connector.set_write_timeout(Some(Duration::from_secs(60)));
    let client: hyper_util::client::legacy::Client<_, octocrab::OctoBody> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(connector);
    let mut auth = http::HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| "the github-token contains characters not allowed in a header".to_owned())?;
    auth.set_sensitive(true);
    let headers = vec![(
        http::header::USER_AGENT,
        http::HeaderValue::from_static(USER_AGENT),
    )];
    octocrab::OctocrabBuilder::new_empty()
        .with_service(client)
        .with_layer(&tower_http::follow_redirect::FollowRedirectLayer::new())
        .with_layer(&ExtraHeadersLayer::new(Arc::new(headers)))
        .with_layer(&BaseUriLayer::new(base.clone()))
        .with_layer(&AuthHeaderLayer::new(
            Some(auth),
            base.clone(),
            base.clone(),
        ))
        .with_auth(octocrab::AuthState::None)
        .build()
        .map_err(|e| e.to_string())
}

/// The GitHub client.
#[derive(Debug)]
pub struct Client {
    octo: octocrab::Octocrab,
    api_url: String,
    policy: RetryPolicy,
    writes: tokio::sync::Mutex<()>,
    requests: AtomicUsize,
    waits: std::sync::Mutex<Vec<Duration>>,
    unreachable: AtomicBool,
    /// Every request is guarded by it (see [`crate::cancel`]).
    cancel: crate::cancel::Cancel,
    /// The token is a personal access token or a user's OAuth token (`ghp_`, `github_pat_`, `gho_`,
    /// `ghu_`): GitHub refuses it check runs whatever its scopes.
    personal_token: bool,
    /// The token is an installation token (`ghs_`: the workflow's `GITHUB_TOKEN` or a GitHub App's), to
    /// which GitHub refuses `GET /user`.
    installation_token: bool,
    /// Who the token is, once known ([`Client::identity`]).
    identity: std::sync::Mutex<Option<Identity>>,
    /// `GET /user` was refused (the token is an installation token after all): not asked again.
    user_refused: AtomicBool,
    /// Redacts every request body.
    masker: Masker,
}

impl Client {
    /// Whether the token is a personal (user) token, which may not create check runs.
    #[must_use]
    pub fn personal_token(&self) -> bool {
        self.personal_token
    }

    /// A client for `api_url` (e.g. `https://api.github.com` or `https://ghe.example.com/api/v3`).
    pub fn new(api_url: &str, token: SecretString) -> Result<Client, GithubError> {
        Client::with_net(api_url, token, &Net::builtin())
    }

    /// [`Client::new`] with the roots and proxy of `net` (what a run uses: [`Net::from_env`]).
    pub fn with_net(api_url: &str, token: SecretString, net: &Net) -> Result<Client, GithubError> {
        let setup = |message: String| GithubError::Setup {
            url: api_url.to_owned(),
            message,
        };
        let base = api_url.trim_end_matches('/');
        let uri: http::Uri = base.parse().map_err(|e| setup(format!("not a URL: {e}")))?;
        if uri.scheme().is_none() || uri.authority().is_none() {
            return Err(setup("expected an absolute http(s) URL".into()));
        }
        let octo = build_octocrab(&uri, token.expose_secret(), net).map_err(setup)?;
        Ok(Client {
            octo,
            api_url: base.to_owned(),
            policy: RetryPolicy::default(),
            writes: tokio::sync::Mutex::new(()),
            requests: AtomicUsize::new(0),
            waits: std::sync::Mutex::new(Vec::new()),
            unreachable: AtomicBool::new(false),
            cancel: net.cancel().clone(),
            personal_token: ["ghp_", "github_pat_", "gho_", "ghu_"]
                .iter()
                .any(|p| token.expose_secret().starts_with(p)),
            installation_token: token.expose_secret().starts_with("ghs_"),
            identity: std::sync::Mutex::new(None),
            user_refused: AtomicBool::new(false),
            masker: Masker::default(),
        })
    }

    /// The client for this run: `None` without a token or a repository (local runs, act without a token).
    /// Every request body passes through `masker`, the run's one masker (the one stdout, stderr and the
    /// job summary are redacted with).
    #[must_use]
    pub fn for_run(
        env: &Env,
        ctx: &Context,
        token: Option<&SecretString>,
        masker: &Masker,
    ) -> Option<Client> {
        let token = token?.clone();
        ctx.repository.as_ref()?;
        match Client::with_net(&ctx.api_url, token, &Net::from_env(env)) {
            Ok(c) => Some(c.with_masker(masker.clone())),
            Err(e) => {
                tracing::warn!("{e}");
                None
            }
        }
    }

    /// Redacts every request body with `masker` (shared: secrets registered later are redacted too).
    #[must_use]
    pub fn with_masker(mut self, masker: Masker) -> Client {
        self.masker = masker;
        self
    }

    /// Who the token writes as on GitHub, found once and kept:
    ///
    /// 1. the author GitHub named on a comment this client created, or `GET /user`'s `login` (asked once,
    ///    unless the token is an installation token, `ghs_`): a personal access token or a user's OAuth
    ///    token;
    /// 2. else the app GitHub named on a check run this client created, as its bot `<slug>[bot]` (only
    ///    installation tokens create check runs);
    /// 3. else (an installation token, or `GET /user` refused with 401/403/404 as GitHub refuses it to
    ///    installation tokens) [`ACTIONS_BOT`], the workflow's `GITHUB_TOKEN`, until a check run or a
    ///    comment this client creates names another app's bot.
    ///
    /// Any other failure of `GET /user` is an error: whoever asks finds nothing of its own rather than
    /// guess (fail closed).
    pub async fn identity(&self) -> Result<Identity, GithubError> {
        let known = self.known_identity();
        let settled =
            |i: &Identity| matches!(i.source, IdentitySource::User | IdentitySource::Author);
        if let Some(i) = known.as_ref().filter(|i| settled(i)) {
            return Ok(i.clone());
        }
        if !self.installation_token && !self.user_refused.load(Ordering::SeqCst) {
            match self.get_as::<UserAnswer>("/user").await {
                Ok(u) => {
                    let i = Identity {
                        login: u.login,
                        source: IdentitySource::User,
                    };
                    *self
                        .identity
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(i.clone());
                    return Ok(i);
                }
                Err(e) if matches!(e.status(), Some(401 | 403 | 404)) => {
                    self.user_refused.store(true, Ordering::SeqCst);
                }
                Err(e) => return Err(e),
            }
        }
        let mut slot = self
            .identity
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // A check run created meanwhile may have named the app.
        Ok(slot
            .get_or_insert_with(|| Identity {
                login: ACTIONS_BOT.to_owned(),
                source: IdentitySource::Assumed,
            })
            .clone())
    }

    /// The identity found so far, if any.
    #[must_use]
    pub fn known_identity(&self) -> Option<Identity> {
        self.identity
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Records what GitHub said about something this client created (`source` is [`IdentitySource::App`] or
    /// [`IdentitySource::Author`]). An app replaces only an assumption; an author replaces anything but
    /// what `GET /user` answered.
    pub fn learn_identity(&self, login: &str, source: IdentitySource) {
        let mut slot = self
            .identity
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let keep = matches!(
            (slot.as_ref().map(|i| i.source), source),
            (Some(IdentitySource::User), _) | (Some(IdentitySource::Author), IdentitySource::App)
        );
        if keep {
            return;
        }
        *slot = Some(Identity {
            login: login.to_owned(),
            source,
        });
    }

    /// Replaces the retry policy (tests use short waits).
    #[must_use]
    pub fn with_policy(mut self, policy: RetryPolicy) -> Client {
        self.policy = policy;
        self
    }

    /// The API base URL, without trailing slash.
    #[must_use]
    pub fn api_url(&self) -> &str {
        &self.api_url
    }

    /// HTTP requests sent so far (retries included).
    #[must_use]
    pub fn request_count(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// The rate-limit waits GitHub asked for so far (before capping).
    #[must_use]
    pub fn rate_limit_waits(&self) -> Vec<Duration> {
        self.waits.lock().map(|w| w.clone()).unwrap_or_default()
    }

    pub async fn get(&self, route: &str) -> Result<Value, GithubError> {
        Ok(self.request(Method::GET, route, None).await?.body)
    }

    /// GETs `route` and reads the answer as a `T`.
    pub async fn get_as<T: DeserializeOwned>(&self, route: &str) -> Result<T, GithubError> {
        let body = self.get(route).await?;
        decode(&Method::GET, route, body)
    }

    /// GETs `route` and every following page (`Link: rel="next"`), concatenating the arrays. Adds
    /// `per_page=100` unless the route sets it.
    pub async fn get_paged(&self, route: &str) -> Result<Vec<Value>, GithubError> {
        let mut next = if route.contains("per_page=") {
            route.to_owned()
        } else if route.contains('?') {
            format!("{route}&per_page=100")
        } else {
            format!("{route}?per_page=100")
        };
        let mut out = Vec::new();
        // A bound against a server that links in circles.
        for _ in 0..1000 {
            let a = self.request(Method::GET, &next, None).await?;
            match a.body {
                Value::Array(items) => out.extend(items),
                other => {
                    return Err(GithubError::Decode {
                        method: "GET".into(),
                        route: next,
                        message: format!("expected a JSON array, got {}", kind(&other)),
                    });
                }
            }
            match next_link(&a.headers) {
                Some(n) => next = n,
                None => return Ok(out),
            }
        }
        Ok(out)
    }

    /// [`Client::get_paged`], each item read as a `T`.
    pub async fn get_paged_as<T: DeserializeOwned>(
        &self,
        route: &str,
    ) -> Result<Vec<T>, GithubError> {
        let items = self.get_paged(route).await?;
        decode(&Method::GET, route, Value::Array(items))
    }

    /// Sends `body` (a request struct) with `method` and reads the answer as a `T` (`()` reads nothing).
    pub async fn send<B, T>(&self, method: Method, route: &str, body: &B) -> Result<T, GithubError>
    where
        B: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        let body = serde_json::to_value(body).map_err(|e| GithubError::Decode {
            method: method.to_string(),
            route: route.to_owned(),
            message: format!("the request body cannot be written as JSON: {e}"),
        })?;
        let answer = self.request(method.clone(), route, Some(&body)).await?;
        decode(&method, route, answer.body)
    }

    pub async fn post(&self, route: &str, body: &Value) -> Result<Value, GithubError> {
        Ok(self.request(Method::POST, route, Some(body)).await?.body)
    }

    pub async fn patch(&self, route: &str, body: &Value) -> Result<Value, GithubError> {
        Ok(self.request(Method::PATCH, route, Some(body)).await?.body)
    }

    pub async fn put(&self, route: &str, body: &Value) -> Result<Value, GithubError> {
        Ok(self.request(Method::PUT, route, Some(body)).await?.body)
    }

    pub async fn delete(&self, route: &str) -> Result<(), GithubError> {
        self.request(Method::DELETE, route, None).await.map(|_| ())
    }

    /// Sends one request with retries and rate-limit waits; writes are serialised. The whole of it (the
    /// queue for the write lock, the waits between retries) ends at the runner's signal, and nothing is
    /// sent after it outside [`crate::cancel::cleanup`].
    pub async fn request(
        &self,
        method: Method,
        route: &str,
        body: Option<&Value>,
    ) -> Result<Answer, GithubError> {
        // The one place every body leaves through: redacted here, whichever module built it.
        let masked = body
            .filter(|_| !self.masker.is_empty())
            .map(|b| self.masker.redact_json(b));
        let body = masked.as_ref().or(body);
        match self
            .cancel
            .guard(self.request_unguarded(&method, route, body))
            .await
        {
            Ok(r) => r,
            Err(cancelled) => {
                tracing::warn!("{method} {route} not completed: {cancelled}");
                Err(GithubError::Cancelled {
                    method: method.to_string(),
                    route: route.to_owned(),
                    cancelled,
                })
            }
        }
    }

    async fn request_unguarded(
        &self,
        method: &Method,
        route: &str,
        body: Option<&Value>,
    ) -> Result<Answer, GithubError> {
        let method = method.clone();
        let _write = if method == Method::GET {
            None
        } else {
            Some(self.writes.lock().await)
        };
        let mut retries = self.policy.retries();
        let mut rate_waits = 0u32;
        loop {
            self.requests.fetch_add(1, Ordering::SeqCst);
            match self.send_once(&method, route, body).await {
                Ok(a) if (200..300).contains(&a.status) => return Ok(a),
                Ok(a) => {
                    if let Some(wait) = rate_limit_wait(&a, SystemTime::now()) {
                        if rate_waits < self.policy.max_rate_limit_waits {
                            rate_waits += 1;
                            if let Ok(mut w) = self.waits.lock() {
                                w.push(wait);
                            }
                            let capped = wait.min(self.policy.max_wait);
                            tracing::warn!(
                                "GitHub rate limit on {method} {route}: waiting {}s (asked {}s)",
                                capped.as_secs_f32(),
                                wait.as_secs()
                            );
                            tokio::time::sleep(capped).await;
                            continue;
                        }
                    } else if a.status >= 500
                        && let Some(d) = retries.next_wait()
                    {
                        tracing::warn!(
                            "GitHub answered {} to {method} {route}; retry {}/{} in {}ms",
                            a.status,
                            retries.used(),
                            retries.max(),
                            d.as_millis()
                        );
                        tokio::time::sleep(d).await;
                        continue;
                    }
                    return Err(api_error(&method, route, a));
                }
                Err(Unanswered::NotJson { source, excerpt }) => {
                    return Err(GithubError::Decode {
                        method: method.to_string(),
                        route: route.to_owned(),
                        message: format!("{source}: {excerpt}"),
                    });
                }
                Err(Unanswered::Method) => {
                    return Err(GithubError::Setup {
                        url: self.api_url.clone(),
                        message: format!("the client does not send {method} requests"),
                    });
                }
                Err(e @ (Unanswered::Send(_) | Unanswered::Body(_))) => {
                    // Connection failures retry on a quarter of the 5xx backoff; once a request has
                    // given up, the API counts as unreachable and later requests try once (a closed
                    // port or a missing network should not cost every call the whole backoff).
                    let given_up =
                        self.unreachable.load(Ordering::SeqCst) || known_unreachable(&self.api_url);
                    if !given_up && let Some(d) = retries.next_wait() {
                        let d = d / 4;
                        tracing::warn!(
                            "{method} {route} failed ({e}); retry {} in {}ms",
                            retries.used(),
                            d.as_millis()
                        );
                        tokio::time::sleep(d).await;
                        continue;
                    }
                    self.unreachable.store(true, Ordering::SeqCst);
                    mark_unreachable(&self.api_url);
                    return Err(GithubError::Transport {
                        method: method.to_string(),
                        route: route.to_owned(),
                        message: e.to_string(),
                    });
                }
            }
        }
    }

    async fn send_once(
        &self,
        method: &Method,
        route: &str,
        body: Option<&Value>,
    ) -> Result<Answer, Unanswered> {
        let uri = route.to_owned();
        let resp = match *method {
            Method::GET => self.octo._get(uri).await,
            Method::POST => self.octo._post(uri, body).await,
            Method::PATCH => self.octo._patch(uri, body).await,
            Method::PUT => self.octo._put(uri, body).await,
            Method::DELETE => self.octo._delete(uri, body).await,
            _ => return Err(Unanswered::Method),
        }
        .map_err(Unanswered::Send)?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = self
            .octo
            .body_to_string(resp)
            .await
            .map_err(Unanswered::Body)?;
        let body = if text.trim().is_empty() || status == StatusCode::NO_CONTENT {
            Value::Null
        } else {
            match serde_json::from_str(&text) {
                Ok(v) => v,
                // Error pages from proxies are not JSON; keep the text for the message.
                Err(_) if !status.is_success() => Value::String(text),
                Err(source) => {
                    return Err(Unanswered::NotJson {
                        source,
                        excerpt: crate::report::truncate_bytes(&text, 200).to_owned(),
                    });
                }
            }
        };
        Ok(Answer {
            status: status.as_u16(),
            headers,
            body,
        })
    }
}

/// Why one request got no usable answer.
#[derive(Debug, thiserror::Error)]
enum Unanswered {
    /// A method [`Client::request`] does not send.
    #[error("unsupported method")]
    Method,
    /// The request was not sent, or no answer came (connect, TLS, timeout).
    #[error("{}", error_chain(.0))]
    Send(octocrab::Error),
    /// The answer's body could not be read.
    #[error("{}", error_chain(.0))]
    Body(octocrab::Error),
    /// A success whose body is not JSON.
    #[error("the answer is not JSON ({source}): {excerpt}")]
    NotJson {
        source: serde_json::Error,
        excerpt: String,
    },
}

/// `body` read as a `T`; the wrong shape is a [`GithubError::Decode`] naming the call.
fn decode<T: DeserializeOwned>(
    method: &Method,
    route: &str,
    body: Value,
) -> Result<T, GithubError> {
    serde_json::from_value(body).map_err(|e| GithubError::Decode {
        method: method.to_string(),
        route: route.to_owned(),
        message: format!("the answer is not of the documented shape: {e}"),
    })
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn api_error(method: &Method, route: &str, a: Answer) -> GithubError {
    let (mut message, documentation_url) = match &a.body {
        Value::Object(o) => (
            o.get("message")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            o.get("documentation_url")
                .and_then(Value::as_str)
                .map(str::to_owned),
        ),
        Value::String(s) => (crate::report::truncate_bytes(s, 300).to_owned(), None),
        _ => (String::new(), None),
    };
    if let Some(errs) = a.body.get("errors").and_then(Value::as_array) {
        let details: Vec<String> = errs
            .iter()
            .map(|e| match e {
                Value::String(s) => s.clone(),
                Value::Object(o) => o
                    .get("message")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .unwrap_or_else(|| {
                        format!(
                            "{} {} {}",
                            o.get("resource").and_then(Value::as_str).unwrap_or(""),
                            o.get("field").and_then(Value::as_str).unwrap_or(""),
                            o.get("code").and_then(Value::as_str).unwrap_or("")
                        )
                        .trim()
                        .to_owned()
                    }),
                other => other.to_string(),
            })
            .filter(|s| !s.is_empty())
            .collect();
        if !details.is_empty() {
            message.push_str(&format!(" ({})", details.join("; ")));
        }
    }
    if message.is_empty() {
        message = StatusCode::from_u16(a.status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("error")
            .to_owned();
    }
    GithubError::Api {
        method: method.to_string(),
        route: route.to_owned(),
        status: a.status,
        hint: hint_for(method, route, a.status, &message),
        message,
        documentation_url,
    }
}

fn header_u64(h: &HeaderMap, name: &str) -> Option<u64> {
    h.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// How long GitHub asks us to wait, if `a` is a rate-limit answer.
///
/// Per GitHub's docs: `retry-after` (seconds) wins; else with `x-ratelimit-remaining: 0` wait until
/// `x-ratelimit-reset` (epoch seconds); else a 403/429 saying "secondary rate limit" waits a minute.
#[must_use]
pub fn rate_limit_wait(a: &Answer, now: SystemTime) -> Option<Duration> {
    if a.status != 403 && a.status != 429 {
        return None;
    }
    if let Some(s) = header_u64(&a.headers, "retry-after") {
        return Some(Duration::from_secs(s.max(1)));
    }
    if header_u64(&a.headers, "x-ratelimit-remaining") == Some(0) {
        let now = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let reset = header_u64(&a.headers, "x-ratelimit-reset").unwrap_or(now + 60);
        return Some(Duration::from_secs(reset.saturating_sub(now).max(1)));
    }
    let msg = a
        .body
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_ascii_lowercase();
    if a.status == 429 || msg.contains("secondary rate limit") || msg.contains("abuse") {
        return Some(Duration::from_secs(60));
    }
    None
}

/// The `rel="next"` URL of a `Link` header.
#[must_use]
pub fn next_link(h: &HeaderMap) -> Option<String> {
    let link = h.get("link")?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| {
                let p = p.trim();
                p == "rel=\"next\"" || p == "rel=next"
            })
            .then(|| {
                url.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_owned()
            })
    })
}

/// Follows annotated tag objects from `object` (a git object, `{"type", "sha"}`, as a ref or a tag object
/// names it) through `GET {repo_route}/git/tags/{sha}`, at most `depth` of them: the first object that is
/// not a tag, the last tag object named when the chain is longer, or an object without a SHA as it came.
/// `Err((sha, e))`: GitHub could not give tag object `sha`. `repo_route` is `/repos/{owner}/{repo}`.
pub async fn follow_tags(
    client: &Client,
    repo_route: &str,
    mut object: Value,
    depth: usize,
) -> Result<Value, (String, GithubError)> {
    for _ in 0..depth {
        if object["type"] != "tag" {
            break;
        }
        let Some(sha) = object["sha"].as_str().map(str::to_owned) else {
            break;
        };
        let route = format!("{repo_route}/git/tags/{}", path_escape(&sha, false));
        object = match client.get(&route).await {
            Ok(v) => v["object"].clone(),
            Err(e) => return Err((sha, e)),
        };
    }
    Ok(object)
}

/// Percent-encodes a path segment of a GitHub route; `/` is kept when `keep_slash` (git ref names such as
/// `tags/app/v1.0.0`).
#[must_use]
pub fn path_escape(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'.' | b'_' | b'~')
            || (keep_slash && b == b'/');
        if keep {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, headers: &[(&str, &str)], body: Value) -> Answer {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.insert(
                http::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        Answer {
            status,
            headers: h,
            body,
        }
    }

    #[test]
    fn rate_limits_are_recognised_from_headers_and_messages() {
        let now = UNIX_EPOCH + Duration::from_secs(1000);
        let a = answer(403, &[("retry-after", "30")], Value::Null);
        assert_eq!(rate_limit_wait(&a, now), Some(Duration::from_secs(30)));
        let a = answer(
            403,
            &[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "1042"),
            ],
            Value::Null,
        );
        assert_eq!(rate_limit_wait(&a, now), Some(Duration::from_secs(42)));
        let a = answer(
            403,
            &[],
            serde_json::json!({"message": "You have exceeded a secondary rate limit."}),
        );
        assert_eq!(rate_limit_wait(&a, now), Some(Duration::from_secs(60)));
        let a = answer(
            403,
            &[("x-ratelimit-remaining", "4999")],
            serde_json::json!({"message": "Resource not accessible by integration"}),
        );
        assert_eq!(rate_limit_wait(&a, now), None);
        assert_eq!(rate_limit_wait(&answer(500, &[], Value::Null), now), None);
    }

    #[test]
    fn next_link_is_found_among_others() {
        let a = answer(
            200,
            &[(
                "link",
                "<https://api.github.com/x?page=3>; rel=\"last\", <https://api.github.com/x?page=2>; rel=\"next\"",
            )],
            Value::Null,
        );
        assert_eq!(
            next_link(&a.headers).as_deref(),
            Some("https://api.github.com/x?page=2")
        );
    }

    #[test]
    fn forbidden_check_runs_hint_at_the_permission() {
        let e = api_error(
            &Method::POST,
            "/repos/o/r/check-runs",
            answer(
                403,
                &[],
                serde_json::json!({"message": "Resource not accessible by integration", "documentation_url": "https://docs.github.com/rest/checks/runs#create-a-check-run"}),
            ),
        );
        assert_eq!(e.status(), Some(403));
        assert!(e.is_forbidden());
        assert_eq!(
            e.endpoint().map(|ep| (ep.method, ep.template)),
            Some(("POST", "/repos/{owner}/{repo}/check-runs"))
        );
        let s = e.to_string();
        assert!(s.contains("permissions: checks: write"), "{s}");
        assert!(s.contains("fork"), "{s}");
        assert_eq!(
            e.permission().map(route::Permission::line),
            Some("checks: write")
        );
    }

    #[test]
    fn validation_errors_are_listed() {
        let e = api_error(
            &Method::POST,
            "/repos/o/r/releases",
            answer(
                422,
                &[],
                serde_json::json!({"message": "Validation Failed", "errors": [{"resource": "Release", "code": "already_exists", "field": "tag_name"}]}),
            ),
        );
        assert_eq!(
            e.message(),
            "Validation Failed (Release tag_name already_exists)"
        );
    }

    #[test]
    fn an_answer_of_the_wrong_shape_is_a_decode_error_naming_the_call() {
        #[derive(Debug, serde::Deserialize)]
        struct Run {
            #[allow(dead_code, reason = "only its presence is checked")]
            id: u64,
        }
        let e = decode::<Run>(
            &Method::POST,
            "/repos/o/r/check-runs",
            serde_json::json!({"name": "x"}),
        )
        .unwrap_err();
        assert!(
            matches!(&e, GithubError::Decode { method, route, message }
                if method == "POST" && route == "/repos/o/r/check-runs" && message.contains("missing field `id`")),
            "{e:?}"
        );
        let ok: Run = decode(&Method::GET, "/x", serde_json::json!({"id": 3})).unwrap();
        assert_eq!(ok.id, 3);
    }

    #[test]
    fn a_bad_api_url_is_a_setup_error() {
        let e = Client::new("not a url", SecretString::from("t")).unwrap_err();
        assert!(
            matches!(&e, GithubError::Setup { url, .. } if url == "not a url"),
            "{e:?}"
        );
        assert!(e.to_string().contains("GITHUB_API_URL"), "{e}");
    }
}
