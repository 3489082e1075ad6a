//! A front in front of a real loopback `docker-registry` ([`super::engine::Registry`]): it forwards every
//! request and
//!
//! - **counts** them by method and kind (`GET blob`, `PATCH upload`, `PUT manifest`, ...), so tests can show
//!   that nothing was uploaded twice;
//! - optionally **demands Basic credentials** on every request (`WWW-Authenticate: Basic`, as ECR does), or
//!   **a Bearer token** (`WWW-Authenticate: Bearer realm=<front>/token,service=front`),
//!   which its `/token` endpoint hands out only for the Basic credentials it was given (as a registry's
//!   token service does);
//! - optionally **tampers** with the manifest answers (one byte added), as a hostile or broken registry
//!   would;
//! - optionally **fails** the next requests with `503`, as a registry under load does;
//! - optionally **tampers** with blob answers (the last byte flipped);
//! - optionally **fires a cancellation** once a number of blob uploads (`PATCH`) went through, to cancel a
//!   copy at a known point.
//!
//! `Location` headers naming the registry are rewritten to the front, so uploads come back through it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

#[derive(Default)]
struct Settings {
    /// `user:password` the token endpoint accepts; `None` = no auth demanded.
    basic: Option<String>,
    /// Demand these Basic credentials on every request instead of a token (as ECR does).
    basic_only: bool,
    tamper_manifests: bool,
    tamper_blobs: bool,
    /// Answer this many of the next requests `503` without forwarding them.
    fail_next: usize,
    /// Fire this once that many PATCHes were forwarded.
    cancel_after_patches: Option<(usize, stevedore::cancel::CancelHandle)>,
}

struct Inner {
    upstream: String,
    own: String,
    settings: Mutex<Settings>,
    counts: Mutex<BTreeMap<String, usize>>,
    client: reqwest::Client,
}

/// The front; dropped with the test's runtime.
#[derive(Clone)]
pub struct RegistryFront {
    inner: Arc<Inner>,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

const TOKEN: &str = "front-token-7f3a";

impl RegistryFront {
    /// A front forwarding to the registry at `upstream` (`127.0.0.1:PORT`).
    pub async fn start(upstream: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let own = listener.local_addr().unwrap().to_string();
        let inner = Arc::new(Inner {
            upstream: upstream.to_owned(),
            own: own.clone(),
            settings: Mutex::default(),
            counts: Mutex::default(),
            client: crate::helpers::reqwest_builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(inner.clone());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            inner,
            url: format!("http://{own}"),
        }
    }

    /// Demand a Bearer token, handed out for Basic `user:password`.
    pub fn require_token_for(&self, user: &str, password: &str) {
        self.inner.settings.lock().unwrap().basic = Some(format!("{user}:{password}"));
    }

    /// Demand Basic `user:password` on every request (`WWW-Authenticate: Basic`, as ECR does).
    pub fn require_basic(&self, user: &str, password: &str) {
        let mut s = self.inner.settings.lock().unwrap();
        s.basic = Some(format!("{user}:{password}"));
        s.basic_only = true;
    }

    /// Add a byte to every manifest answered.
    pub fn tamper_manifests(&self) {
        self.inner.settings.lock().unwrap().tamper_manifests = true;
    }

    /// Answer the next `n` requests `503 Service Unavailable` without forwarding them.
    pub fn fail_next(&self, n: usize) {
        self.inner.settings.lock().unwrap().fail_next = n;
    }

    /// Flip the last byte of every blob answered (same length, other bytes).
    pub fn tamper_blobs(&self) {
        self.inner.settings.lock().unwrap().tamper_blobs = true;
    }

    /// Cancel through `handle` once `n` blob uploads (PATCH) were forwarded.
    pub fn cancel_after_patches(&self, n: usize, handle: stevedore::cancel::CancelHandle) {
        self.inner.settings.lock().unwrap().cancel_after_patches = Some((n, handle));
    }

    /// Requests forwarded so far, by `METHOD kind`.
    pub fn counts(&self) -> BTreeMap<String, usize> {
        self.inner.counts.lock().unwrap().clone()
    }

    /// How many `METHOD kind` requests were forwarded.
    pub fn count(&self, key: &str) -> usize {
        self.counts().get(key).copied().unwrap_or(0)
    }

    /// Every request forwarded that sends blob bytes or manifests (PATCH, PUT, POST).
    pub fn writes(&self) -> usize {
        self.counts()
            .iter()
            .filter(|(k, _)| {
                k.starts_with("PATCH") || k.starts_with("PUT") || k.starts_with("POST")
            })
            .map(|(_, n)| n)
            .sum()
    }
}

fn kind(path: &str) -> &'static str {
    if path.contains("/blobs/uploads") {
        "upload"
    } else if path.contains("/blobs/") {
        "blob"
    } else if path.contains("/manifests/") {
        "manifest"
    } else {
        "other"
    }
}

async fn handle(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let (basic, basic_only) = {
        let s = inner.settings.lock().unwrap();
        (s.basic.clone(), s.basic_only)
    };
    if let (Some(basic), true) = (&basic, basic_only) {
        let want = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(basic)
        );
        if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(want.as_str()) {
            return (
                StatusCode::UNAUTHORIZED,
                [("www-authenticate", "Basic realm=\"front\"")],
                "Not Authorized",
            )
                .into_response();
        }
    } else if let Some(basic) = &basic {
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if path == "/token" {
            let want = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(basic)
            );
            *inner
                .counts
                .lock()
                .unwrap()
                .entry("GET token".into())
                .or_default() += 1;
            if auth != want {
                return StatusCode::UNAUTHORIZED.into_response();
            }
            return axum::Json(serde_json::json!({ "token": TOKEN })).into_response();
        }
        if auth != format!("Bearer {TOKEN}") {
            let challenge = format!(
                "Bearer realm=\"http://{}/token\",service=\"front\"",
                inner.own
            );
            return (
                StatusCode::UNAUTHORIZED,
                [("www-authenticate", challenge)],
                "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"token required\"}]}",
            )
                .into_response();
        }
    }
    {
        let mut s = inner.settings.lock().unwrap();
        if s.fail_next > 0 {
            s.fail_next -= 1;
            *inner
                .counts
                .lock()
                .unwrap()
                .entry("503".into())
                .or_default() += 1;
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    }
    let key = format!("{method} {}", kind(&path));
    *inner.counts.lock().unwrap().entry(key).or_default() += 1;
    let url = format!(
        "http://{}{}",
        inner.upstream,
        uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
    );
    let mut req = inner.client.request(method.clone(), &url).body(body);
    for (k, v) in &headers {
        if k != "host" && k != "authorization" {
            req = req.header(k, v);
        }
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let mut out_headers = HeaderMap::new();
    for (k, v) in resp.headers() {
        if k == "location" {
            let loc = v
                .to_str()
                .unwrap()
                .replace(&inner.upstream, &inner.own)
                .parse()
                .unwrap();
            out_headers.insert(k, loc);
        } else if k != "content-length" && k != "transfer-encoding" {
            out_headers.insert(k, v.clone());
        }
    }
    let mut bytes = resp.bytes().await.unwrap().to_vec();
    if method == Method::GET && kind(&path) == "manifest" && status.is_success() {
        let tamper = inner.settings.lock().unwrap().tamper_manifests;
        if tamper {
            bytes.push(b'\n');
        }
    }
    if method == Method::GET && kind(&path) == "blob" && status.is_success() {
        let tamper = inner.settings.lock().unwrap().tamper_blobs;
        if let (true, Some(last)) = (tamper, bytes.last_mut()) {
            *last ^= 0xff;
        }
    }
    if method == Method::PATCH {
        let mut s = inner.settings.lock().unwrap();
        if let Some((n, _)) = &mut s.cancel_after_patches {
            *n = n.saturating_sub(1);
            if *n == 0
                && let Some((_, h)) = s.cancel_after_patches.take()
            {
                h.cancel("SIGTERM");
            }
        }
    }
    (status, out_headers, bytes).into_response()
}
