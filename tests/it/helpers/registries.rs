//! The package registries `publish` uploads to: a real Verdaccio (npm) and a real pypiserver (PyPI), both
//! started on loopback by `.ci/run` (`STEVEDORE_TEST_VERDACCIO`, `STEVEDORE_TEST_PYPISERVER` and the upload
//! token pypiserver checks, `STEVEDORE_TEST_PYPI_TOKEN`); package artifacts laid out as `npm pack` and
//! `python -m build` lay them out; and, for trusted publishing, a front that serves only the registries'
//! documented OIDC exchange endpoints and passes every other request to the real registry behind it.
//!
//! - npm (docs.npmjs.com "Trusted publishing", npm CLI `lib/utils/oidc.js`): `POST
//!   /-/npm/v1/oidc/token/exchange/package/<escaped name>` with the GitHub OIDC token (audience
//!   `npm:<registry host>`) as bearer → `201 {"token": ...}`; a token that matches no trusted publisher →
//!   `404 {"message": ...}`.
//! - PyPI (docs.pypi.org "Publishing with a Trusted Publisher", manual exchange): `GET /_/oidc/audience` →
//!   `{"audience": <the trust's audience>}`; `POST /_/oidc/mint-token` with `{"token": <jwt>}` → `{"success": true, "token":
//!   ..., "expires": ...}`; refused → `422 {"message": "Token request failed", "errors": [{"code":
//!   "invalid-publisher", "description": ...}]}`.

use std::io::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::fake_server::{Call, forwarding_client, serve_local};
use super::require;

/// The Verdaccio `.ci/run` started.
pub struct Verdaccio {
    pub url: String,
}

/// The pypiserver `.ci/run` started, and the token it accepts (user `__token__`).
pub struct PypiServer {
    pub url: String,
    pub token: String,
}

pub fn verdaccio() -> Option<Verdaccio> {
    let url = require(
        "Verdaccio (STEVEDORE_TEST_VERDACCIO, started by .ci/run)",
        std::env::var("STEVEDORE_TEST_VERDACCIO").ok(),
    )?;
    Some(Verdaccio { url })
}

pub fn pypiserver() -> Option<PypiServer> {
    let url = require(
        "pypiserver (STEVEDORE_TEST_PYPISERVER, started by .ci/run)",
        std::env::var("STEVEDORE_TEST_PYPISERVER").ok(),
    )?;
    let token = require(
        "the pypiserver token (STEVEDORE_TEST_PYPI_TOKEN)",
        std::env::var("STEVEDORE_TEST_PYPI_TOKEN").ok(),
    )?;
    Some(PypiServer { url, token })
}

/// A name no other test run uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

impl Verdaccio {
    /// Registers a new user (the npm `adduser` call) and returns its token.
    pub async fn token(&self) -> String {
        let user = unique("u");
        let r: Value = crate::helpers::reqwest_client()
            .put(format!("{}/-/user/org.couchdb.user:{user}", self.url))
            .json(&json!({"name": user, "password": "stevedore-test-pw", "type": "user"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r["token"].as_str().unwrap().to_owned()
    }

    /// The packument, or `None` (404).
    pub async fn packument(&self, name: &str) -> Option<Value> {
        let r = reqwest::get(format!("{}/{}", self.url, name.replace('/', "%2f")))
            .await
            .unwrap();
        if r.status() == 404 {
            return None;
        }
        assert!(r.status().is_success(), "{}", r.status());
        Some(r.json().await.unwrap())
    }

    /// Downloads the tarball of `name@version`.
    pub async fn tarball(&self, name: &str, version: &str) -> Vec<u8> {
        let doc = self.packument(name).await.unwrap();
        let url = doc["versions"][version]["dist"]["tarball"]
            .as_str()
            .unwrap();
        get_bytes(url).await
    }
}

impl PypiServer {
    /// The simple page of a project (`None`: 404).
    pub async fn simple(&self, project: &str) -> Option<String> {
        let r = reqwest::get(format!("{}/simple/{project}/", self.url))
            .await
            .unwrap();
        if r.status() == 404 {
            return None;
        }
        Some(r.text().await.unwrap())
    }

    pub async fn download(&self, file: &str) -> Vec<u8> {
        get_bytes(&format!("{}/packages/{file}", self.url)).await
    }
}

/// The body of a GET of `url`, whatever its status.
async fn get_bytes(url: &str) -> Vec<u8> {
    reqwest::get(url)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec()
}

// ---- artifacts ----------------------------------------------------------------------------------------

fn targz(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    for (name, body) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        // npm pack's fixed mtime (1985-10-26), so equal content gives equal bytes.
        h.set_mtime(499_162_500);
        h.set_cksum();
        b.append_data(&mut h, name, *body).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap()
}

/// An `npm pack` tarball: `package/package.json` and `package/index.js`.
pub fn npm_tgz(name: &str, version: &str, code: &str) -> Vec<u8> {
    let pj = json!({"name": name, "version": version, "description": "stevedore test package", "main": "index.js", "license": "MIT"})
        .to_string();
    targz(&[
        ("package/package.json", pj.as_bytes()),
        ("package/index.js", code.as_bytes()),
    ])
}

fn core_metadata(name: &str, version: &str) -> String {
    format!(
        "Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: stevedore test package\nLicense: MIT\nClassifier: Programming Language :: Python :: 3\nClassifier: License :: OSI Approved :: MIT License\nRequires-Python: >=3.8\nDescription-Content-Type: text/markdown\n\n# {name}\n\nA test package.\n"
    )
}

/// A `python -m build` sdist: `<name>-<version>/PKG-INFO` and a module.
pub fn sdist(name: &str, version: &str, code: &str) -> Vec<u8> {
    let top = format!("{}-{version}", name.replace('-', "_"));
    let meta = core_metadata(name, version);
    targz(&[
        (&format!("{top}/PKG-INFO"), meta.as_bytes()),
        (&format!("{top}/src/mod.py"), code.as_bytes()),
    ])
}

/// A pure-Python wheel: the module and `<name>-<version>.dist-info/{METADATA,WHEEL,RECORD}`.
pub fn wheel(name: &str, version: &str, code: &str) -> Vec<u8> {
    let dist = format!("{}-{version}.dist-info", name.replace('-', "_"));
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts =
        zip::write::SimpleFileOptions::default().last_modified_time(zip::DateTime::default());
    for (path, body) in [
        ("mod.py".to_owned(), code.to_owned()),
        (format!("{dist}/METADATA"), core_metadata(name, version)),
        (
            format!("{dist}/WHEEL"),
            "Wheel-Version: 1.0\nGenerator: stevedore-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
                .to_owned(),
        ),
        (format!("{dist}/RECORD"), String::new()),
    ] {
        z.start_file(path, opts).unwrap();
        z.write_all(body.as_bytes()).unwrap();
    }
    z.finish().unwrap().into_inner()
}

/// The Python file names of `name` at `version`.
pub fn python_files(name: &str, version: &str) -> (String, String) {
    let n = name.replace('-', "_");
    (
        format!("{n}-{version}.tar.gz"),
        format!("{n}-{version}-py3-none-any.whl"),
    )
}

// ---- the trusted-publishing front ---------------------------------------------------------------------

/// What the front accepts and hands out.
#[derive(Clone, Debug)]
pub struct Trust {
    /// The `repository` claim a trusted publisher is configured for.
    pub repository: String,
    /// The audience the token must carry (`npm:127.0.0.1`, `pypi`).
    pub audience: String,
    /// The real registry token handed out on a successful exchange.
    pub token: String,
}

struct Inner {
    upstream: String,
    trust: Mutex<Trust>,
    exchanges: Mutex<Vec<(String, u16)>>,
    /// Uploads (PUT, or POST outside `/_/`) still to be forwarded and then answered `503`, as when the
    /// answer of a request that went through is lost.
    lose_answers: AtomicUsize,
    uploads: AtomicUsize,
    outage: Mutex<Option<Outage>>,
    /// Uploads answered `503` by the outage (never forwarded).
    unavailable: AtomicUsize,
    client: reqwest::Client,
}

/// The registry is away (`503` to every upload, nothing forwarded) for `length` from the first upload on.
struct Outage {
    length: std::time::Duration,
    began: Option<std::time::Instant>,
    /// Fired (as the runner's SIGTERM) when the first `503` is answered.
    cancel: Option<stevedore::cancel::CancelHandle>,
}

/// The exchange endpoints in front of a real registry.
#[derive(Clone)]
pub struct Front {
    inner: Arc<Inner>,
    pub url: String,
}

impl Front {
    /// [`Front::start`] in front of `upstream`, trusting tokens of `repository` for `audience` and handing
    /// out `token` on a successful exchange.
    pub async fn trusting(upstream: &str, repository: &str, audience: &str, token: &str) -> Self {
        let trust = Trust {
            repository: repository.to_owned(),
            audience: audience.to_owned(),
            token: token.to_owned(),
        };
        Self::start(upstream, trust).await
    }

    pub async fn start(upstream: &str, trust: Trust) -> Self {
        let inner = Arc::new(Inner {
            upstream: upstream.trim_end_matches('/').to_owned(),
            trust: Mutex::new(trust),
            exchanges: Mutex::new(Vec::new()),
            lose_answers: AtomicUsize::new(0),
            uploads: AtomicUsize::new(0),
            outage: Mutex::new(None),
            unavailable: AtomicUsize::new(0),
            client: forwarding_client(),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(inner.clone());
        let url = serve_local(app).await;
        Self { inner, url }
    }

    pub fn update(&self, f: impl FnOnce(&mut Trust)) {
        f(&mut self.inner.trust.lock().unwrap());
    }

    /// Forward the next `n` uploads, then answer them `503` instead of the registry's answer.
    pub fn lose_next_answers(&self, n: usize) {
        self.inner.lose_answers.store(n, Ordering::SeqCst);
    }

    /// From the first upload on, answer every upload `503` for `length` (the registry restarting).
    pub fn outage_at_first_upload(&self, length: std::time::Duration) {
        *self.inner.outage.lock().unwrap() = Some(Outage {
            length,
            began: None,
            cancel: None,
        });
    }

    /// [`Front::outage_at_first_upload`], and the step is cancelled (`handle`, as the runner's SIGTERM)
    /// 200 ms after the first `503` is answered.
    pub fn outage_then_cancel(
        &self,
        length: std::time::Duration,
        handle: stevedore::cancel::CancelHandle,
    ) {
        *self.inner.outage.lock().unwrap() = Some(Outage {
            length,
            began: None,
            cancel: Some(handle),
        });
    }

    /// Uploads the outage answered `503`.
    pub fn unavailable(&self) -> usize {
        self.inner.unavailable.load(Ordering::SeqCst)
    }

    /// Upload requests forwarded so far.
    pub fn uploads(&self) -> usize {
        self.inner.uploads.load(Ordering::SeqCst)
    }

    /// The exchange requests so far: (path, status answered).
    pub fn exchanges(&self) -> Vec<(String, u16)> {
        self.inner.exchanges.lock().unwrap().clone()
    }
}

/// Checks the bearer/posted JWT against the trust: audience and repository (the signature is the real
/// registry's business against GitHub's JWKS; here the fake issuer signed it).
fn check(trust: &Trust, jwt: &str) -> Result<(), String> {
    let claims = stevedore::oidc::unverified_claims(jwt).ok_or("the OIDC token is not a JWT")?;
    if !claims.aud.contains(&trust.audience) {
        return Err(format!(
            "audience {:?} is not `{}`",
            claims.aud, trust.audience
        ));
    }
    if claims.repository.as_deref() != Some(trust.repository.as_str()) {
        return Err(format!(
            "no trusted publisher for repository {:?}",
            claims.repository
        ));
    }
    Ok(())
}

async fn handle(
    State(inner): State<Arc<Inner>>,
    Call(method, uri, headers, body): Call,
) -> Response {
    let path = uri.path().to_owned();
    let trust = inner.trust.lock().unwrap().clone();
    let record = |status: u16| inner.exchanges.lock().unwrap().push((path.clone(), status));
    if method == Method::POST && path.starts_with("/-/npm/v1/oidc/token/exchange/package/") {
        let jwt = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        return match check(&trust, jwt) {
            Ok(()) => {
                record(201);
                (
                    StatusCode::CREATED,
                    axum::Json(json!({"token": trust.token})),
                )
                    .into_response()
            }
            Err(why) => {
                record(404);
                (
                    StatusCode::NOT_FOUND,
                    axum::Json(json!({"message": format!("OIDC token exchange error - package not found: {why}")})),
                )
                    .into_response()
            }
        };
    }
    if method == Method::GET && path == "/_/oidc/audience" {
        return axum::Json(json!({"audience": trust.audience})).into_response();
    }
    if method == Method::POST && path == "/_/oidc/mint-token" {
        let jwt = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v["token"].as_str().map(str::to_owned))
            .unwrap_or_default();
        return match check(&trust, &jwt) {
            Ok(()) => {
                record(200);
                axum::Json(json!({"success": true, "token": trust.token, "expires": 1_900_000_000}))
                    .into_response()
            }
            Err(why) => {
                record(422);
                (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    axum::Json(json!({"message": "Token request failed", "errors": [{"code": "invalid-publisher", "description": format!("valid token, but no corresponding publisher ({why})")}]})),
                )
                    .into_response()
            }
        };
    }
    // Everything else goes to the real registry.
    let is_upload = method == Method::PUT || (method == Method::POST && !path.starts_with("/_/"));
    if is_upload {
        let mut outage = inner.outage.lock().unwrap();
        if let Some(o) = outage.as_mut() {
            let began = *o.began.get_or_insert_with(std::time::Instant::now);
            if began.elapsed() < o.length {
                inner.unavailable.fetch_add(1, Ordering::SeqCst);
                if let Some(h) = o.cancel.take() {
                    // After the answer, while the step waits to retry.
                    tokio::spawn(async move {
                        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                        h.cancel("SIGTERM");
                    });
                }
                return (StatusCode::SERVICE_UNAVAILABLE, "registry restarting").into_response();
            }
        }
    }
    let target = format!(
        "{}{}",
        inner.upstream,
        uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let mut req = inner.client.request(method, &target).body(body);
    for (k, v) in &headers {
        if k != "host" && k != "content-length" {
            req = req.header(k, v);
        }
    }
    let resp = req.send().await.unwrap();
    if is_upload {
        inner.uploads.fetch_add(1, Ordering::SeqCst);
        let lose = inner
            .lose_answers
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if lose {
            return (StatusCode::SERVICE_UNAVAILABLE, "answer lost").into_response();
        }
    }
    let status = resp.status();
    let ct = resp.headers().get("content-type").cloned();
    let bytes = resp.bytes().await.unwrap();
    let mut out = (status, bytes).into_response();
    if let Some(ct) = ct {
        out.headers_mut().insert("content-type", ct);
    }
    out
}
