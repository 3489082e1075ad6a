//! Copying an image by digest between registries through the OCI distribution API
//! (<https://github.com/opencontainers/distribution-spec/blob/main/spec.md>): the artifact proven in one
//! environment moves to the next without being rebuilt, and the target gets the very same digest.
//!
//! [`copy`] copies the manifest named by a digest, its config and layers, and for a multi-architecture
//! index every child manifest with theirs:
//!
//! - **Nothing uploaded twice**: each blob is looked for in the target first (`HEAD`); a blob already there
//!   is skipped, and a blob shared by two children of an index is copied once. When source and target are
//!   the same registry, a missing blob is **mounted** from the source repository
//!   (`POST …/blobs/uploads/?mount=<digest>&from=<repository>`) instead of being downloaded and uploaded;
//!   a registry that declines the mount (202) gets the upload it opened.
//! - **Blobs streamed and verified**: a blob goes from the source's `GET` to the target's `PATCH` chunk by
//!   chunk, never whole in memory; its SHA-256 and length are computed on the way and the upload is aborted
//!   (the stream ends in an error, so the target never commits it) when either differs from the descriptor.
//!   The target checks the digest again when the upload is closed (`PUT …?digest=`).
//! - **Manifests are input from outside**: the bytes fetched must hash to the digest asked for (never the
//!   `Docker-Content-Digest` header believed), be at most [`MAX_MANIFEST`] bytes, carry one of the four
//!   manifest media types (the `Content-Type` and the body's `mediaType`, when both are given, agree), and
//!   name only `sha256` digests. The bytes are pushed unchanged, so the digest is preserved.
//! - **Order, for cancellation**: blobs, then child manifests (by digest), then the manifest asked for
//!   (by its tag when one is given, else by digest), last. Every request is guarded by the run's
//!   [`Cancel`] ([`crate::net::Net::cancel`]): a copy cancelled before that last `PUT` leaves the target
//!   without the image — no tag, and the digest copied is not reachable (blobs and child manifests it
//!   uploaded are unreferenced, and garbage-collected by the registry).
//!
//! Requests other than a blob's streamed `PATCH` are tried again on transport errors, `429` and `5xx`
//! (3 attempts).
//!
//! Authentication ([`Credentials`]): a `401` with `WWW-Authenticate: Basic` (ECR) is answered with the
//! credentials; `WWW-Authenticate: Bearer realm=…,service=…` (Docker Hub, GHCR, distribution's token auth)
//! is answered by fetching a token for the scopes the request needs from the realm (with the credentials
//! as Basic auth, or anonymously), cached per scope set. Credentials go to a realm only over `https` or on
//! the registry's own host: a registry's answer cannot send them elsewhere in the clear. ECR's credentials
//! come from `GetAuthorizationToken` ([`ecr_credentials`]).

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use futures_util::StreamExt as _;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::aws::call::CallError;
use crate::aws::ecr::Ecr;
use crate::cancel::{Cancel, Cancelled};
use crate::net::Net;
use crate::net::retry::{self, Attempt, Backoff, Retries};

/// The largest manifest accepted (distribution's own limit is 4 MiB).
pub const MAX_MANIFEST: usize = 4 * 1024 * 1024;
/// The largest token answer accepted from a realm.
const MAX_TOKEN_ANSWER: usize = 64 * 1024;
/// The most children an index may list, and the deepest nesting of indexes.
const MAX_CHILDREN: usize = 1024;
const MAX_DEPTH: usize = 2;
/// Blobs copied at the same time.
const PARALLEL_BLOBS: usize = 4;
/// Attempts of one request (a blob's streamed `PATCH` has one: its body cannot be sent twice).
const ATTEMPTS: u32 = 3;
/// About 500 ms, then 1 s.
const BACKOFF: Backoff = Backoff {
    first: Duration::from_millis(500),
    max: Duration::from_secs(5),
};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest silence while a request or a blob stream is under way.
const READ_TIMEOUT: Duration = Duration::from_secs(120);

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// Why a copy failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A digest that is not `sha256:` and 64 lower-case hex digits.
    #[error("`{0}` is not a sha256 digest (expected `sha256:` and 64 lower-case hex digits)")]
    BadDigest(String),
    /// A registry address that is not an `http(s)://host[:port]` URL.
    #[error(
        "`{0}` is not a registry address (expected e.g. `https://123456789012.dkr.ecr.eu-west-1.amazonaws.com`)"
    )]
    BadRegistry(String),
    /// A repository name the distribution API refuses.
    #[error(
        "`{0}` is not a repository name (lower-case path components of letters, digits and `._-`)"
    )]
    BadRepository(String),
    /// The HTTP client could not be built.
    #[error("the HTTP client could not be built: {0}")]
    Client(String),
    /// The request did not get an answer.
    #[error("{what}: {registry} did not answer: {message}")]
    Transport {
        what: String,
        registry: String,
        message: String,
    },
    /// The registry refused the request.
    #[error("{what}: {registry} answered HTTP {status}{}{}", .code.as_ref().map(|c| format!(" {c}")).unwrap_or_default(), .message.as_ref().map(|m| format!(": {m}")).unwrap_or_default())]
    Refused {
        what: String,
        registry: String,
        status: u16,
        /// The distribution error code (`MANIFEST_UNKNOWN`, `DENIED`), when the answer had one.
        code: Option<String>,
        message: Option<String>,
    },
    /// Still `401` after authenticating, or a challenge stevedore cannot answer.
    #[error(
        "{what}: {registry} refused the credentials: {message}. Check that the role may pull from the source and push to the target repository"
    )]
    Unauthorized {
        what: String,
        registry: String,
        message: String,
    },
    /// What the registry sent is not what was asked for, or not usable.
    #[error("{what}: {registry} sent an unusable answer: {problem}")]
    Untrusted {
        what: String,
        registry: String,
        problem: String,
    },
    /// ECR's `GetAuthorizationToken` failed or answered something unusable.
    #[error("ECR login: {0}")]
    EcrLogin(String),
    /// The run was cancelled; the target has no copy of the image.
    #[error("{0}; the image was not written to the target")]
    Cancelled(#[from] Cancelled),
}

/// How to authenticate to a registry.
#[derive(Clone, Default)]
pub enum Credentials {
    /// No credentials (public pulls, a loopback registry without auth).
    #[default]
    Anonymous,
    /// A user name and password (ECR: `AWS` and the token from `GetAuthorizationToken`).
    Basic {
        username: String,
        password: SecretString,
    },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Anonymous => f.write_str("Anonymous"),
            Credentials::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
        }
    }
}

impl Credentials {
    /// What to mask before anything is logged: the password, and its base64 `user:password` (ECR's
    /// authorization token, and the `Authorization: Basic` value).
    #[must_use]
    pub fn to_mask(&self) -> Vec<String> {
        match self {
            Credentials::Anonymous => Vec::new(),
            Credentials::Basic { username, password } => vec![
                password.expose_secret().to_owned(),
                base64::engine::general_purpose::STANDARD
                    .encode(format!("{username}:{}", password.expose_secret())),
            ],
        }
    }

    fn basic_header(&self) -> Option<String> {
        match self {
            Credentials::Anonymous => None,
            Credentials::Basic { username, password } => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD
                    .encode(format!("{username}:{}", password.expose_secret()))
            )),
        }
    }
}

/// An ECR registry's address and credentials, from `GetAuthorizationToken` with `ecr`'s credentials
/// (the token is base64 `AWS:<password>`, valid 12 hours). The address is `proxyEndpoint`
/// (`https://<account>.dkr.ecr.<region>.amazonaws.com`). The caller masks [`Credentials::to_mask`] before
/// logging anything else.
pub async fn ecr_credentials(ecr: &Ecr) -> Result<(String, Credentials), RegistryError> {
    let data = ecr
        .get_authorization_token()
        .await
        .map_err(|e: CallError| RegistryError::EcrLogin(e.to_string()))?;
    let login =
        crate::aws::ecr::Login::read(&data).map_err(|m| RegistryError::EcrLogin(m.into()))?;
    Ok((
        login.endpoint,
        Credentials::Basic {
            username: login.username,
            password: login.password,
        },
    ))
}

/// A `sha256:<hex>` digest, checked.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

impl Digest {
    /// `s` when it is `sha256:` and 64 lower-case hex digits.
    pub fn parse(s: &str) -> Result<Self, RegistryError> {
        let ok = s.strip_prefix("sha256:").is_some_and(|h| {
            h.len() == 64
                && h.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        });
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(RegistryError::BadDigest(s.chars().take(100).collect()))
        }
    }

    /// The digest of `bytes`.
    #[must_use]
    pub fn of(bytes: &[u8]) -> Self {
        Self(format!("sha256:{}", hex::encode(Sha256::digest(bytes))))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One registry: its address, credentials and HTTP client. Cheap to clone (the token cache is shared).
#[derive(Clone)]
pub struct Registry {
    /// `scheme://host[:port]`, no trailing slash.
    base: url::Url,
    creds: Credentials,
    http: reqwest::Client,
    cancel: Cancel,
    /// `Authorization` values by the scopes they were granted for.
    tokens: Arc<Mutex<HashMap<String, String>>>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("base", &self.base.as_str())
            .field("creds", &self.creds)
            .finish_non_exhaustive()
    }
}

/// An image to copy: a repository of a registry, and the digest.
#[derive(Clone, Debug)]
pub struct Source<'a> {
    pub registry: &'a Registry,
    pub repository: &'a str,
    pub digest: &'a Digest,
}

/// Where to copy it: a repository of a registry, and optionally a tag for it.
#[derive(Clone, Debug)]
pub struct Target<'a> {
    pub registry: &'a Registry,
    pub repository: &'a str,
    pub tag: Option<&'a str>,
}

/// What a copy did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Copied {
    /// The digest now in the target (the source's).
    pub digest: Option<Digest>,
    /// Manifests written (the image's, and an index's children).
    pub manifests: usize,
    /// Blobs uploaded (streamed from the source).
    pub blobs_uploaded: usize,
    /// Blobs mounted from the source repository (same registry).
    pub blobs_mounted: usize,
    /// Blobs the target had already.
    pub blobs_present: usize,
    /// Bytes streamed from the source to the target (blobs and manifests).
    pub bytes_moved: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    media_type: Option<String>,
    digest: String,
    size: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ManifestBody {
    media_type: Option<String>,
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
    manifests: Option<Vec<Descriptor>>,
}

/// A manifest fetched and verified.
struct Manifest {
    digest: Digest,
    media_type: String,
    bytes: Bytes,
    /// Blobs (config first), for an image manifest.
    blobs: Vec<(Digest, u64)>,
    /// Children, for an index.
    children: Vec<Digest>,
}

impl Registry {
    /// The registry at `address` (`https://host[:port]`, or `http://` for a loopback registry), with
    /// `net`'s roots and proxy, stopping at `net`'s [`Cancel`].
    pub fn new(net: &Net, address: &str, creds: Credentials) -> Result<Self, RegistryError> {
        let bad = || RegistryError::BadRegistry(address.chars().take(200).collect());
        let with_scheme = if address.contains("://") {
            address.to_owned()
        } else {
            format!("https://{address}")
        };
        let mut base = url::Url::parse(&with_scheme).map_err(|_| bad())?;
        if !matches!(base.scheme(), "http" | "https")
            || base.host_str().is_none()
            || !base.username().is_empty()
            || base.password().is_some()
            || base.query().is_some()
            || !base.path().trim_end_matches('/').is_empty()
        {
            return Err(bad());
        }
        base.set_path("");
        let http = net
            .reqwest()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .build()
            .map_err(|e| RegistryError::Client(crate::net::error_chain(&e)))?;
        Ok(Self {
            base,
            creds,
            http,
            cancel: net.cancel().clone(),
            tokens: Arc::default(),
        })
    }

    /// The ECR registry of `ecr`'s account and region, logged in with `GetAuthorizationToken`
    /// ([`ecr_credentials`]). The caller masks [`Credentials::to_mask`] of [`Registry::credentials`]
    /// before anything else is logged.
    pub async fn ecr(net: &Net, ecr: &Ecr) -> Result<Self, RegistryError> {
        let (endpoint, creds) = ecr_credentials(ecr).await?;
        Registry::new(net, &endpoint, creds)
    }

    /// The credentials this client answers challenges with.
    #[must_use]
    pub fn credentials(&self) -> &Credentials {
        &self.creds
    }

    /// `host[:port]`, as image references write it.
    #[must_use]
    pub fn host(&self) -> String {
        match self.base.port() {
            Some(p) => format!("{}:{p}", self.base.host_str().unwrap_or_default()),
            None => self.base.host_str().unwrap_or_default().to_owned(),
        }
    }

    fn same_registry(&self, other: &Registry) -> bool {
        self.base == other.base
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base.as_str().trim_end_matches('/'))
    }

    /// Sends the request `make` builds, authenticating on a `401` for `scopes` and sending it again once.
    async fn send(
        &self,
        what: &str,
        scopes: &[String],
        make: &(dyn Fn() -> reqwest::RequestBuilder + Sync),
    ) -> Result<reqwest::Response, RegistryError> {
        let key = scopes.join(" ");
        let cached = self
            .tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&key)
            .cloned();
        let resp = self.once(what, make, cached.as_deref()).await?;
        if resp.status() != reqwest::StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        let challenge = resp
            .headers()
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let auth = self.authenticate(what, &challenge, scopes).await?;
        self.tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key, auth.clone());
        let resp = self.once(what, make, Some(&auth)).await?;
        if resp.status() == reqwest::StatusCode::UNAUTHORIZED {
            return Err(RegistryError::Unauthorized {
                what: what.to_owned(),
                registry: self.host(),
                message: "still HTTP 401 with the credentials".into(),
            });
        }
        Ok(resp)
    }

    /// One request (built anew for each attempt); transport errors, `429` and `5xx` are tried again
    /// ([`ATTEMPTS`] in all), a cancellation is not.
    async fn once(
        &self,
        what: &str,
        make: &(dyn Fn() -> reqwest::RequestBuilder + Sync),
        auth: Option<&str>,
    ) -> Result<reqwest::Response, RegistryError> {
        let retries = Retries::attempts(ATTEMPTS, BACKOFF);
        retry::run(what, retries, |_| async {
            let mut req = make();
            if let Some(a) = auth {
                req = req.header(reqwest::header::AUTHORIZATION, a);
            }
            match self.cancel.guard(req.send()).await {
                Err(c) => Err(Attempt::Permanent(RegistryError::Cancelled(c))),
                Ok(Err(e)) => Err(Attempt::Transient(self.transport(what, &e))),
                Ok(Ok(resp))
                    if resp.status().is_server_error()
                        || resp.status() == reqwest::StatusCode::TOO_MANY_REQUESTS =>
                {
                    Err(Attempt::Transient(self.refused(what, resp).await))
                }
                Ok(Ok(resp)) => Ok(resp),
            }
        })
        .await
        .map_err(|g| g.error)
    }

    fn transport(&self, what: &str, e: &reqwest::Error) -> RegistryError {
        RegistryError::Transport {
            what: what.to_owned(),
            registry: self.host(),
            message: crate::net::error_chain(e),
        }
    }

    fn untrusted(&self, what: &str, problem: impl Into<String>) -> RegistryError {
        RegistryError::Untrusted {
            what: what.to_owned(),
            registry: self.host(),
            problem: problem.into(),
        }
    }

    /// The `Authorization` value answering `challenge`.
    async fn authenticate(
        &self,
        what: &str,
        challenge: &str,
        scopes: &[String],
    ) -> Result<String, RegistryError> {
        let unauthorized = |m: String| RegistryError::Unauthorized {
            what: what.to_owned(),
            registry: self.host(),
            message: m,
        };
        let (scheme, params) = parse_challenge(challenge);
        if scheme.eq_ignore_ascii_case("basic") {
            return self.creds.basic_header().ok_or_else(|| {
                unauthorized("it asks for a user name and password, and none were given".into())
            });
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(unauthorized(format!(
                "unsupported challenge `{}`",
                challenge.chars().take(100).collect::<String>()
            )));
        }
        let realm = params
            .get("realm")
            .ok_or_else(|| unauthorized("the Bearer challenge names no realm".into()))?;
        let mut url = url::Url::parse(realm)
            .map_err(|_| unauthorized(format!("the realm `{realm}` is not a URL")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(unauthorized(format!(
                "the realm `{realm}` is not an http(s) URL"
            )));
        }
        {
            let mut q = url.query_pairs_mut();
            if let Some(service) = params.get("service") {
                q.append_pair("service", service);
            }
            for s in scopes {
                q.append_pair("scope", s);
            }
        }
        let mut req = self.http.get(url.clone());
        // Credentials go over https, or to the registry's own host.
        let safe = url.scheme() == "https" || url.host_str() == self.base.host_str();
        if let Some(basic) = self.creds.basic_header() {
            if !safe {
                return Err(unauthorized(format!(
                    "the realm `{realm}` is plain http on another host; credentials are not sent there"
                )));
            }
            req = req.header(reqwest::header::AUTHORIZATION, basic);
        }
        let resp = self
            .cancel
            .guard(req.send())
            .await?
            .map_err(|e| self.transport(what, &e))?;
        if !resp.status().is_success() {
            return Err(unauthorized(format!(
                "the token service answered HTTP {}",
                resp.status().as_u16()
            )));
        }
        let body = self.read_bounded(what, resp, MAX_TOKEN_ANSWER).await?;
        #[derive(Deserialize)]
        struct Token {
            token: Option<String>,
            access_token: Option<String>,
        }
        let t: Token = serde_json::from_slice(&body)
            .map_err(|e| self.untrusted(what, format!("the token answer is not JSON: {e}")))?;
        let token = t
            .token
            .or(t.access_token)
            .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic()))
            .ok_or_else(|| self.untrusted(what, "the token answer holds no usable token"))?;
        Ok(format!("Bearer {token}"))
    }

    /// The body of `resp`, refused when longer than `max`.
    async fn read_bounded(
        &self,
        what: &str,
        resp: reqwest::Response,
        max: usize,
    ) -> Result<Bytes, RegistryError> {
        if resp.content_length().is_some_and(|l| l > max as u64) {
            return Err(self.untrusted(what, format!("the answer is larger than {max} bytes")));
        }
        let mut out = Vec::new();
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = self.cancel.guard(stream.next()).await? {
            let chunk = chunk.map_err(|e| self.transport(what, &e))?;
            if out.len() + chunk.len() > max {
                return Err(self.untrusted(what, format!("the answer is larger than {max} bytes")));
            }
            out.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(out))
    }

    /// The error for a non-success answer (its distribution error code and message, when it has them).
    async fn refused(&self, what: &str, resp: reqwest::Response) -> RegistryError {
        let status = resp.status().as_u16();
        let body = self.read_bounded(what, resp, 64 * 1024).await.ok();
        #[derive(Deserialize)]
        struct Errors {
            #[serde(default)]
            errors: Vec<ErrorEntry>,
        }
        #[derive(Deserialize)]
        struct ErrorEntry {
            code: Option<String>,
            message: Option<String>,
        }
        let first = body
            .and_then(|b| serde_json::from_slice::<Errors>(&b).ok())
            .and_then(|e| e.errors.into_iter().next());
        let clean =
            |s: String| -> String { s.chars().filter(|c| !c.is_control()).take(300).collect() };
        RegistryError::Refused {
            what: what.to_owned(),
            registry: self.host(),
            status,
            code: first.as_ref().and_then(|e| e.code.clone()).map(clean),
            message: first.and_then(|e| e.message).map(clean),
        }
    }

    /// The manifest `digest` of `repository`, verified (see the module's documentation).
    async fn manifest(&self, repository: &str, digest: &Digest) -> Result<Manifest, RegistryError> {
        let what = format!("GET manifest {repository}@{digest}");
        let url = self.url(&format!("/v2/{repository}/manifests/{digest}"));
        let scopes = [format!("repository:{repository}:pull")];
        let resp = self
            .send(&what, &scopes, &|| {
                self.http.get(&url).header("Accept", ACCEPT)
            })
            .await?;
        if !resp.status().is_success() {
            return Err(self.refused(&what, resp).await);
        }
        let header_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or(v).trim().to_owned());
        let bytes = self.read_bounded(&what, resp, MAX_MANIFEST).await?;
        let got = Digest::of(&bytes);
        if got != *digest {
            return Err(self.untrusted(
                &what,
                format!("the manifest's bytes hash to {got}, not to the digest asked for"),
            ));
        }
        let body: ManifestBody = serde_json::from_slice(&bytes)
            .map_err(|e| self.untrusted(&what, format!("the manifest is not a manifest: {e}")))?;
        let media_type = match (header_type.as_deref(), body.media_type.as_deref()) {
            (_, Some(b)) if is_manifest_type(b) => {
                if let Some(h) = header_type.as_deref().filter(|h| is_manifest_type(h))
                    && h != b
                {
                    return Err(self.untrusted(
                        &what,
                        format!("Content-Type `{h}` and the manifest's mediaType `{b}` differ"),
                    ));
                }
                b.to_owned()
            }
            (Some(h), None) if is_manifest_type(h) => h.to_owned(),
            (h, b) => {
                return Err(self.untrusted(
                    &what,
                    format!(
                        "unsupported media type (Content-Type {:?}, mediaType {:?})",
                        h.map(|s| s.chars().take(100).collect::<String>()),
                        b.map(|s| s.chars().take(100).collect::<String>())
                    ),
                ));
            }
        };
        let index = media_type == OCI_INDEX || media_type == DOCKER_LIST;
        let mut blobs = Vec::new();
        let mut children = Vec::new();
        if index {
            let list = body
                .manifests
                .ok_or_else(|| self.untrusted(&what, "an index without `manifests`"))?;
            if list.len() > MAX_CHILDREN {
                return Err(self.untrusted(&what, format!("more than {MAX_CHILDREN} manifests")));
            }
            for d in list {
                if let Some(t) = d.media_type.as_deref()
                    && !is_manifest_type(t)
                {
                    return Err(self.untrusted(
                        &what,
                        format!(
                            "a child of unsupported media type `{}`",
                            t.chars().take(100).collect::<String>()
                        ),
                    ));
                }
                children.push(Digest::parse(&d.digest)?);
            }
        } else {
            let config = body
                .config
                .ok_or_else(|| self.untrusted(&what, "an image manifest without `config`"))?;
            for d in std::iter::once(config).chain(body.layers) {
                let size = u64::try_from(d.size).map_err(|_| {
                    self.untrusted(&what, format!("a negative size for {}", d.digest))
                })?;
                blobs.push((Digest::parse(&d.digest)?, size));
            }
        }
        Ok(Manifest {
            digest: digest.clone(),
            media_type,
            bytes,
            blobs,
            children,
        })
    }

    /// Whether `repository` has the blob `digest` (`HEAD`).
    async fn has_blob(&self, repository: &str, digest: &Digest) -> Result<bool, RegistryError> {
        let what = format!("HEAD blob {repository}@{digest}");
        let url = self.url(&format!("/v2/{repository}/blobs/{digest}"));
        let scopes = [format!("repository:{repository}:pull,push")];
        let resp = self.send(&what, &scopes, &|| self.http.head(&url)).await?;
        match resp.status().as_u16() {
            200 => Ok(true),
            404 => Ok(false),
            _ => Err(self.refused(&what, resp).await),
        }
    }

    /// Whether `repository` has the manifest `digest` (`HEAD`).
    pub async fn has_manifest(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> Result<bool, RegistryError> {
        check_repository(repository)?;
        let what = format!("HEAD manifest {repository}@{digest}");
        let url = self.url(&format!("/v2/{repository}/manifests/{digest}"));
        let scopes = [format!("repository:{repository}:pull")];
        let resp = self
            .send(&what, &scopes, &|| {
                self.http.head(&url).header("Accept", ACCEPT)
            })
            .await?;
        match resp.status().as_u16() {
            200 => Ok(true),
            404 => Ok(false),
            _ => Err(self.refused(&what, resp).await),
        }
    }

    /// Pushes manifest `bytes` of `media_type` as `reference` (a digest or a tag) and checks the digest
    /// the registry computed.
    async fn put_manifest(
        &self,
        repository: &str,
        reference: &str,
        media_type: &str,
        bytes: &Bytes,
        digest: &Digest,
    ) -> Result<(), RegistryError> {
        let what = format!("PUT manifest {repository}:{reference}");
        let url = self.url(&format!("/v2/{repository}/manifests/{reference}"));
        let scopes = [format!("repository:{repository}:pull,push")];
        let resp = self
            .send(&what, &scopes, &|| {
                self.http
                    .put(&url)
                    .header(reqwest::header::CONTENT_TYPE, media_type)
                    .body(bytes.clone())
            })
            .await?;
        if !resp.status().is_success() {
            return Err(self.refused(&what, resp).await);
        }
        if let Some(d) = resp
            .headers()
            .get("Docker-Content-Digest")
            .and_then(|v| v.to_str().ok())
            && d != digest.as_str()
        {
            return Err(self.untrusted(
                &what,
                format!(
                    "it stored the manifest as `{}`, not {digest}",
                    d.chars().take(100).collect::<String>()
                ),
            ));
        }
        Ok(())
    }

    /// The `Location` of an upload answer, resolved against the registry.
    fn location(&self, what: &str, resp: &reqwest::Response) -> Result<url::Url, RegistryError> {
        let loc = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| self.untrusted(what, "an upload answer without Location"))?;
        let url = self
            .base
            .join(loc)
            .map_err(|_| self.untrusted(what, "an upload Location that is not a URL"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(self.untrusted(what, "an upload Location that is not http(s)"));
        }
        Ok(url)
    }
}

fn is_manifest_type(t: &str) -> bool {
    matches!(t, OCI_MANIFEST | OCI_INDEX | DOCKER_MANIFEST | DOCKER_LIST)
}

/// A repository name as the distribution spec allows it (`[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/…)*`).
fn check_repository(name: &str) -> Result<(), RegistryError> {
    let component_ok = |c: &str| {
        !c.is_empty()
            && c.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
            })
            && c.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
            && c.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
            && !c.contains("..")
    };
    if name.len() <= 255 && name.split('/').all(component_ok) {
        Ok(())
    } else {
        Err(RegistryError::BadRepository(
            name.chars().take(200).collect(),
        ))
    }
}

fn check_tag(tag: &str) -> Result<(), RegistryError> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && tag
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(RegistryError::BadRepository(format!(
            "tag `{}`",
            tag.chars().take(200).collect::<String>()
        )))
    }
}

/// `Bearer realm="…",service="…"` → (`Bearer`, {realm, service}).
fn parse_challenge(s: &str) -> (String, HashMap<String, String>) {
    let s = s.trim();
    let (scheme, rest) = s.split_once(' ').unwrap_or((s, ""));
    let mut params = HashMap::new();
    let mut rest = rest.trim();
    while !rest.is_empty() {
        let Some((k, after)) = rest.split_once('=') else {
            break;
        };
        let k = k.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (v, next) = if let Some(q) = after.strip_prefix('"') {
            match q.find('"') {
                Some(end) => (&q[..end], &q[end + 1..]),
                None => (q, ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (&after[..end], &after[end..]),
                None => (after, ""),
            }
        };
        params.insert(k, v.to_owned());
        rest = next.trim_start().trim_start_matches(',').trim_start();
    }
    (scheme.to_owned(), params)
}

/// Copies the image `source.digest` of `source.repository` to `target` (see the module's documentation):
/// its blobs, an index's children, and the manifest last, tagged `target.tag` when given. The target then
/// holds the same digest.
pub async fn copy(source: &Source<'_>, target: &Target<'_>) -> Result<Copied, RegistryError> {
    check_repository(source.repository)?;
    check_repository(target.repository)?;
    if let Some(t) = target.tag {
        check_tag(t)?;
    }
    let mut run = CopyRun {
        source,
        target,
        done_blobs: BTreeSet::new(),
        copied: Copied::default(),
    };
    let top = source
        .registry
        .manifest(source.repository, source.digest)
        .await?;
    run.manifest_tree(&top, 0).await?;
    let reference = target.tag.unwrap_or(source.digest.as_str());
    target
        .registry
        .put_manifest(
            target.repository,
            reference,
            &top.media_type,
            &top.bytes,
            &top.digest,
        )
        .await?;
    run.copied.manifests += 1;
    run.copied.bytes_moved += top.bytes.len() as u64;
    run.copied.digest = Some(top.digest.clone());
    tracing::info!(
        digest = %top.digest,
        manifests = run.copied.manifests,
        uploaded = run.copied.blobs_uploaded,
        mounted = run.copied.blobs_mounted,
        present = run.copied.blobs_present,
        bytes = run.copied.bytes_moved,
        "image copied to {}/{}",
        target.registry.host(),
        target.repository
    );
    Ok(run.copied)
}

struct CopyRun<'a, 'b> {
    source: &'a Source<'b>,
    target: &'a Target<'b>,
    done_blobs: BTreeSet<Digest>,
    copied: Copied,
}

enum BlobOutcome {
    Present,
    Mounted,
    Uploaded(u64),
}

impl CopyRun<'_, '_> {
    /// Copies everything `m` refers to (not `m` itself): its blobs, or its children and theirs, children
    /// written by digest.
    async fn manifest_tree(&mut self, m: &Manifest, depth: usize) -> Result<(), RegistryError> {
        if !m.children.is_empty() {
            if depth >= MAX_DEPTH {
                return Err(self.source.registry.untrusted(
                    &format!("GET manifest {}@{}", self.source.repository, m.digest),
                    "indexes nested deeper than 2",
                ));
            }
            let mut seen = BTreeSet::new();
            for child in &m.children {
                if !seen.insert(child.clone()) {
                    continue;
                }
                let cm = self
                    .source
                    .registry
                    .manifest(self.source.repository, child)
                    .await?;
                Box::pin(self.manifest_tree(&cm, depth + 1)).await?;
                self.target
                    .registry
                    .put_manifest(
                        self.target.repository,
                        child.as_str(),
                        &cm.media_type,
                        &cm.bytes,
                        child,
                    )
                    .await?;
                self.copied.manifests += 1;
                self.copied.bytes_moved += cm.bytes.len() as u64;
            }
            return Ok(());
        }
        let todo: Vec<(Digest, u64)> = m
            .blobs
            .iter()
            .filter(|(d, _)| self.done_blobs.insert(d.clone()))
            .cloned()
            .collect();
        let source = self.source;
        let target = self.target;
        let mut results = futures_util::stream::iter(todo)
            .map(|(d, size)| async move { copy_blob(source, target, &d, size).await })
            .buffer_unordered(PARALLEL_BLOBS);
        while let Some(r) = results.next().await {
            match r? {
                BlobOutcome::Present => self.copied.blobs_present += 1,
                BlobOutcome::Mounted => self.copied.blobs_mounted += 1,
                BlobOutcome::Uploaded(n) => {
                    self.copied.blobs_uploaded += 1;
                    self.copied.bytes_moved += n;
                }
            }
        }
        Ok(())
    }
}

/// Copies one blob: skipped when the target has it, mounted within one registry, else streamed.
async fn copy_blob(
    source: &Source<'_>,
    target: &Target<'_>,
    digest: &Digest,
    size: u64,
) -> Result<BlobOutcome, RegistryError> {
    let dst = target.registry;
    let repo = target.repository;
    if dst.has_blob(repo, digest).await? {
        return Ok(BlobOutcome::Present);
    }
    let same = dst.same_registry(source.registry);
    let what = format!("upload blob {repo}@{digest}");
    let mut scopes = vec![format!("repository:{repo}:pull,push")];
    let start = if same && source.repository != repo {
        scopes.push(format!("repository:{}:pull", source.repository));
        dst.url(&format!(
            "/v2/{repo}/blobs/uploads/?mount={digest}&from={}",
            source.repository
        ))
    } else {
        dst.url(&format!("/v2/{repo}/blobs/uploads/"))
    };
    let resp = dst
        .send(&what, &scopes, &|| {
            dst.http
                .post(&start)
                .header(reqwest::header::CONTENT_LENGTH, "0")
        })
        .await?;
    match resp.status().as_u16() {
        201 if same => return Ok(BlobOutcome::Mounted),
        202 => {}
        _ => return Err(dst.refused(&what, resp).await),
    }
    let location = dst.location(&what, &resp)?;
    let n = stream_blob(source, target, digest, size, location, &scopes).await?;
    Ok(BlobOutcome::Uploaded(n))
}

/// Streams blob `digest` from the source into the upload at `location`, verifying size and SHA-256 on
/// the way, and closes the upload with the digest.
async fn stream_blob(
    source: &Source<'_>,
    target: &Target<'_>,
    digest: &Digest,
    size: u64,
    location: url::Url,
    scopes: &[String],
) -> Result<u64, RegistryError> {
    let src = source.registry;
    let dst = target.registry;
    let get_what = format!("GET blob {}@{digest}", source.repository);
    let get_url = src.url(&format!("/v2/{}/blobs/{digest}", source.repository));
    let src_scopes = [format!("repository:{}:pull", source.repository)];
    let resp = src
        .send(&get_what, &src_scopes, &|| src.http.get(&get_url))
        .await?;
    if !resp.status().is_success() {
        return Err(src.refused(&get_what, resp).await);
    }
    if resp.content_length().is_some_and(|l| l != size) {
        return Err(src.untrusted(
            &get_what,
            format!(
                "a blob of {} bytes, not the {size} the manifest says",
                resp.content_length().unwrap_or_default()
            ),
        ));
    }
    // The body: the source's chunks, hashed and counted; an error at the end when the bytes are not the
    // blob's, which aborts the request so the target never commits them.
    // The last chunk is checked before it is handed on: the target reads exactly `size` bytes (the
    // Content-Length) and stops polling, so a check after the end would never run.
    let verified = Arc::new(Mutex::new(None::<Result<(), String>>));
    let fail = |v: &Arc<Mutex<Option<Result<(), String>>>>, m: String| {
        *v.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Err(m.clone()));
        std::io::Error::other(m)
    };
    let want = digest.clone();
    let check = move |h: &Sha256, n: u64| -> Result<(), String> {
        let got = format!("sha256:{}", hex::encode(h.clone().finalize()));
        if n == size && got == want.as_str() {
            Ok(())
        } else {
            Err(format!(
                "the blob's {n} bytes hash to {got}, not to {want} ({size} bytes)"
            ))
        }
    };
    if size == 0 {
        check(&Sha256::new(), 0).map_err(|m| src.untrusted(&get_what, m))?;
        *verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Ok(()));
    }
    let state = (
        resp.bytes_stream(),
        Sha256::new(),
        0u64,
        size == 0,
        verified.clone(),
    );
    let body = futures_util::stream::unfold(state, move |(mut s, mut h, mut n, finished, v)| {
        let check = check.clone();
        async move {
            if finished {
                return None;
            }
            match s.next().await {
                Some(Ok(chunk)) => {
                    n += chunk.len() as u64;
                    if n > size {
                        let e = fail(
                            &v,
                            format!("the blob is longer than the {size} bytes the manifest says"),
                        );
                        return Some((Err(e), (s, h, n, true, v)));
                    }
                    h.update(&chunk);
                    if n == size {
                        if let Err(m) = check(&h, n) {
                            return Some((Err(fail(&v, m)), (s, h, n, true, v)));
                        }
                        *v.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Ok(()));
                    }
                    Some((Ok(chunk), (s, h, n, n == size, v)))
                }
                Some(Err(e)) => {
                    let e = fail(
                        &v,
                        format!("the download broke off: {}", crate::net::error_chain(&e)),
                    );
                    Some((Err(e), (s, h, n, true, v)))
                }
                None => {
                    let m =
                        format!("the blob ended after {n} of the {size} bytes the manifest says");
                    Some((Err(fail(&v, m)), (s, h, n, true, v)))
                }
            }
        }
    });
    let put_what = format!("upload blob {}@{digest}", target.repository);
    // One streaming PATCH (the body cannot be sent twice: no authentication retry; the upload session's
    // POST has authenticated already).
    let auth = dst
        .tokens
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(&scopes.join(" "))
        .cloned();
    let mut req = dst
        .http
        .patch(location.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
        .header(reqwest::header::CONTENT_LENGTH, size.to_string())
        .body(reqwest::Body::wrap_stream(body));
    if let Some(a) = &auth {
        req = req.header(reqwest::header::AUTHORIZATION, a);
    }
    let sent = dst.cancel.guard(req.send()).await?;
    let bad_source = verified
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    if let Some(Err(m)) = bad_source {
        return Err(src.untrusted(&get_what, m));
    }
    let resp = sent.map_err(|e| dst.transport(&put_what, &e))?;
    if !resp.status().is_success() {
        return Err(dst.refused(&put_what, resp).await);
    }
    if bad_source.is_none() {
        return Err(src.untrusted(&get_what, "the blob stream was not read to its end"));
    }
    let mut close = dst.location(&put_what, &resp)?;
    close
        .query_pairs_mut()
        .append_pair("digest", digest.as_str());
    let resp = dst
        .send(&put_what, scopes, &|| {
            dst.http
                .put(close.clone())
                .header(reqwest::header::CONTENT_LENGTH, "0")
        })
        .await?;
    if resp.status().as_u16() != 201 {
        return Err(dst.refused(&put_what, resp).await);
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_sha256_lower_hex_only() {
        let ok = format!("sha256:{}", "a".repeat(64));
        assert!(Digest::parse(&ok).is_ok());
        for bad in [
            "sha256:".to_owned(),
            format!("sha256:{}", "A".repeat(64)),
            format!("sha512:{}", "a".repeat(64)),
            format!("sha256:{}", "a".repeat(63)),
            format!("sha256:{}/../x", "a".repeat(64)),
        ] {
            assert!(Digest::parse(&bad).is_err(), "{bad}");
        }
        assert_eq!(
            Digest::of(b"").as_str(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn challenges_parse_quoted_and_bare_parameters() {
        let (s, p) = parse_challenge(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(s, "Bearer");
        assert_eq!(p["realm"], "https://auth.example/token");
        assert_eq!(p["service"], "registry.example");
        assert_eq!(p["scope"], "repository:a/b:pull,push");
        let (s, p) = parse_challenge("Basic realm=ecr");
        assert_eq!(s, "Basic");
        assert_eq!(p["realm"], "ecr");
    }

    #[test]
    fn repository_names_and_tags_follow_the_distribution_grammar() {
        for ok in ["app", "team/app", "a.b_c-d/e", "x9"] {
            assert!(check_repository(ok).is_ok(), "{ok}");
        }
        for bad in ["", "App", "a//b", "-a", "a/../b", "a?b", "a b"] {
            assert!(check_repository(bad).is_err(), "{bad}");
        }
        assert!(check_tag("v1.2_3-x").is_ok());
        assert!(check_tag("-x").is_err());
        assert!(check_tag("a/b").is_err());
    }

    #[test]
    fn registry_addresses_are_scheme_and_host_only() {
        let net = Net::builtin();
        let r = Registry::new(&net, "127.0.0.1:5000", Credentials::Anonymous).unwrap();
        assert_eq!(r.host(), "127.0.0.1:5000");
        assert_eq!(r.url("/v2/"), "https://127.0.0.1:5000/v2/");
        let r = Registry::new(&net, "http://127.0.0.1:5000/", Credentials::Anonymous).unwrap();
        assert_eq!(r.url("/v2/"), "http://127.0.0.1:5000/v2/");
        for bad in [
            "ftp://x",
            "https://u:p@x",
            "https://x/path",
            "https://x?q=1",
            "://",
        ] {
            assert!(
                Registry::new(&net, bad, Credentials::Anonymous).is_err(),
                "{bad}"
            );
        }
        let basic = Credentials::Basic {
            username: "AWS".into(),
            password: SecretString::from("s3cret".to_owned()),
        };
        assert!(!format!("{basic:?}").contains("s3cret"));
        // The password and the token ECR hands out (base64 `AWS:<password>`).
        assert_eq!(basic.to_mask(), ["s3cret", "QVdTOnMzY3JldA=="]);
    }
}
