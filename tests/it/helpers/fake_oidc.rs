//! A GitHub Actions OIDC issuer, in-process on loopback.
//!
//! It serves what the runner and token.actions.githubusercontent.com serve:
//! - the runner's token endpoint, `GET /_apis/distributedtask/hubs/Actions/plans/<plan>/jobs/<job>/idtoken
//!   ?api-version=2.0&audience=<aud>` with `Authorization: Bearer <ACTIONS_ID_TOKEN_REQUEST_TOKEN>`,
//!   answering `{"value": "<jwt>"}` (actions/toolkit `oidc-utils.ts`); 401 without the bearer, 400 without
//!   `api-version`;
//! - `/.well-known/openid-configuration` and `/.well-known/jwks` (RS256 keys with `kid`).
//!
//! Tokens carry GitHub's full claim set (docs "OIDC token claims"), `sub` built as GitHub builds it, 5-minute
//! lifetime and `nbf = iat - 600` as in the docs' sample token. Knobs make the bad cases: expired tokens, a
//! fixed (wrong) audience, a signature by a key the JWKS does not publish, injected 5xx answers.
//! The keys are test-only PEMs checked in beside this file.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode, jwk::Jwk};
use serde_json::{Value, json};

use super::run::Step;

const ISSUER_PEM: &[u8] = include_bytes!("keys/oidc-issuer.pem");
const ROGUE_PEM: &[u8] = include_bytes!("keys/oidc-rogue.pem");
pub const KID: &str = "stevedore-test-1";
pub const REQUEST_TOKEN: &str = "runtime-request-token-0123456789abcdef";

/// What the next tokens look like.
#[derive(Clone, Debug)]
pub struct Settings {
    pub repository: String,
    pub git_ref: String,
    /// The job's `environment:`; also changes `sub`.
    pub environment: Option<String>,
    /// Added to `exp` (negative: already expired).
    pub exp_offset: i64,
    /// Mint this audience whatever was requested.
    pub fixed_audience: Option<String>,
    /// Sign with a key the JWKS does not publish (same `kid`).
    pub rogue_signature: bool,
    /// Answer this many token requests with 503 first.
    pub fail_first: usize,
    /// Extra or replaced claims.
    pub extra: serde_json::Map<String, Value>,
    /// Refuse every token request with this status and JSON `message`.
    pub refuse: Option<(u16, String)>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            repository: "octo-org/octo-repo".into(),
            git_ref: "refs/heads/main".into(),
            environment: None,
            exp_offset: 0,
            fixed_audience: None,
            rogue_signature: false,
            fail_first: 0,
            extra: serde_json::Map::new(),
            refuse: None,
        }
    }
}

struct Inner {
    issuer: String,
    settings: Mutex<Settings>,
    token_requests: AtomicUsize,
    jwks_requests: AtomicUsize,
    minted: Mutex<Vec<String>>,
    key: EncodingKey,
    rogue: EncodingKey,
    jwk: Value,
}

/// The running issuer.
#[derive(Clone)]
pub struct FakeOidc {
    inner: Arc<Inner>,
}

impl FakeOidc {
    /// Starts on a free loopback port, on the current tokio runtime.
    pub async fn start(settings: Settings) -> Self {
        Self::start_with(settings, None).await
    }

    /// Starts over TLS as `https://localhost:<port>`, with a certificate of `ca` (which a test hands to
    /// stevedore through `SSL_CERT_FILE`).
    pub async fn start_tls(settings: Settings, ca: &super::tls::TestCa) -> Self {
        Self::start_with(settings, Some(ca)).await
    }

    async fn start_with(settings: Settings, ca: Option<&super::tls::TestCa>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let issuer = match ca {
            Some(_) => format!("https://localhost:{port}"),
            None => format!("http://127.0.0.1:{port}"),
        };
        stevedore::net::crypto::install();
        let key = EncodingKey::from_rsa_pem(ISSUER_PEM).unwrap();
        let rogue = EncodingKey::from_rsa_pem(ROGUE_PEM).unwrap();
        let mut jwk =
            serde_json::to_value(Jwk::from_encoding_key(&key, Algorithm::RS256).unwrap()).unwrap();
        jwk["kid"] = json!(KID);
        jwk["use"] = json!("sig");
        let inner = Arc::new(Inner {
            issuer,
            settings: Mutex::new(settings),
            token_requests: AtomicUsize::new(0),
            jwks_requests: AtomicUsize::new(0),
            minted: Mutex::new(Vec::new()),
            key,
            rogue,
            jwk,
        });
        let app = axum::Router::new()
            .route(
                "/_apis/distributedtask/hubs/Actions/plans/{plan}/jobs/{job}/idtoken",
                get(token),
            )
            .route("/.well-known/jwks", get(jwks))
            .route("/.well-known/openid-configuration", get(discovery))
            .with_state(inner.clone());
        match ca {
            Some(ca) => {
                super::tls::serve_tls(listener, app, ca.acceptor());
            }
            None => {
                tokio::spawn(async move {
                    axum::serve(listener, app).await.unwrap();
                });
            }
        }
        Self { inner }
    }

    /// The issuer URL (`iss`).
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// `ACTIONS_ID_TOKEN_REQUEST_URL` as the runner builds it (already carrying a query).
    pub fn request_url(&self) -> String {
        format!(
            "{}/_apis/distributedtask/hubs/Actions/plans/6f3a/jobs/9c1e/idtoken?api-version=2.0",
            self.inner.issuer
        )
    }

    /// Gives `step` the runner's OIDC variables and points stevedore's issuer checks here.
    pub fn apply(&self, step: Step) -> Step {
        step.var("ACTIONS_ID_TOKEN_REQUEST_URL", &self.request_url())
            .var("ACTIONS_ID_TOKEN_REQUEST_TOKEN", REQUEST_TOKEN)
            .var("STEVEDORE_OIDC_ISSUER", self.issuer())
    }

    pub fn update(&self, f: impl FnOnce(&mut Settings)) {
        f(&mut self.inner.settings.lock().unwrap());
    }

    pub fn token_requests(&self) -> usize {
        self.inner.token_requests.load(Ordering::SeqCst)
    }

    pub fn jwks_requests(&self) -> usize {
        self.inner.jwks_requests.load(Ordering::SeqCst)
    }

    /// Every JWT handed out so far.
    pub fn minted(&self) -> Vec<String> {
        self.inner.minted.lock().unwrap().clone()
    }

    /// The `sub` GitHub would put in a token with the current settings.
    pub fn sub(&self) -> String {
        let s = self.inner.settings.lock().unwrap();
        subject(&s)
    }
}

fn subject(s: &Settings) -> String {
    match &s.environment {
        Some(e) => format!(
            "repo:{}:environment:{}",
            s.repository,
            e.replace(':', "%3A")
        ),
        None => format!("repo:{}:ref:{}", s.repository, s.git_ref),
    }
}

fn now() -> i64 {
    i64::try_from(jsonwebtoken::get_current_timestamp()).unwrap()
}

fn mint(inner: &Inner, s: &Settings, audience: &str) -> String {
    let iat = now();
    let (owner, _) = s.repository.split_once('/').unwrap();
    let ref_type = if s.git_ref.starts_with("refs/tags/") {
        "tag"
    } else {
        "branch"
    };
    let mut claims = json!({
        "jti": format!("{:032x}", rand::random::<u128>()),
        "sub": subject(s),
        "aud": s.fixed_audience.clone().unwrap_or_else(|| audience.to_owned()),
        "ref": s.git_ref,
        "sha": "0123456789abcdef0123456789abcdef01234567",
        "repository": s.repository,
        "repository_owner": owner,
        "repository_owner_id": "65",
        "run_id": "4242",
        "run_number": "17",
        "run_attempt": "1",
        "repository_visibility": "private",
        "repository_id": "35",
        "actor_id": "12",
        "actor": "octocat",
        "workflow": "deploy",
        "head_ref": "",
        "base_ref": "",
        "event_name": "push",
        "ref_protected": "true",
        "ref_type": ref_type,
        "workflow_ref": format!("{}/.github/workflows/deploy.yml@{}", s.repository, s.git_ref),
        "workflow_sha": "0123456789abcdef0123456789abcdef01234567",
        "job_workflow_ref": format!("{}/.github/workflows/deploy.yml@{}", s.repository, s.git_ref),
        "job_workflow_sha": "0123456789abcdef0123456789abcdef01234567",
        "runner_environment": "github-hosted",
        "iss": inner.issuer,
        "nbf": iat - 600,
        "iat": iat,
        "exp": iat + 300 + s.exp_offset,
    });
    if let Some(e) = &s.environment {
        claims["environment"] = json!(e);
        claims["environment_node_id"] = json!("EN_kwDOAAAAAA");
    }
    for (k, v) in &s.extra {
        claims[k] = v.clone();
    }
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(KID.into());
    header.typ = Some("JWT".into());
    header.x5t = Some("dGVzdC1rZXktdGh1bWJwcmludA".into());
    let key = if s.rogue_signature {
        &inner.rogue
    } else {
        &inner.key
    };
    encode(&header, &claims, key).unwrap()
}

#[derive(serde::Deserialize)]
struct TokenQuery {
    #[serde(rename = "api-version")]
    api_version: Option<String>,
    audience: Option<String>,
}

async fn token(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
) -> Response {
    inner.token_requests.fetch_add(1, Ordering::SeqCst);
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if auth != format!("Bearer {REQUEST_TOKEN}") {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"message": "Unauthorized"})),
        )
            .into_response();
    }
    if q.api_version.is_none() {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"message": "api-version is required"})),
        )
            .into_response();
    }
    let settings = {
        let mut s = inner.settings.lock().unwrap();
        if let Some((status, message)) = &s.refuse {
            return (
                StatusCode::from_u16(*status).unwrap(),
                Json(json!({ "message": message })),
            )
                .into_response();
        }
        if s.fail_first > 0 {
            s.fail_first -= 1;
            return (StatusCode::SERVICE_UNAVAILABLE, "upstream unavailable").into_response();
        }
        s.clone()
    };
    // Without `audience` GitHub uses the repository owner's URL; stevedore always sends one.
    let audience = q
        .audience
        .unwrap_or_else(|| format!("https://github.com/{}", settings.repository));
    let jwt = mint(&inner, &settings, &audience);
    inner.minted.lock().unwrap().push(jwt.clone());
    Json(json!({ "value": jwt })).into_response()
}

async fn jwks(State(inner): State<Arc<Inner>>) -> Json<Value> {
    inner.jwks_requests.fetch_add(1, Ordering::SeqCst);
    Json(json!({ "keys": [inner.jwk] }))
}

async fn discovery(State(inner): State<Arc<Inner>>) -> Json<Value> {
    Json(json!({
        "issuer": inner.issuer,
        "jwks_uri": format!("{}/.well-known/jwks", inner.issuer),
        "subject_types_supported": ["public", "pairwise"],
        "response_types_supported": ["id_token"],
        "claims_supported": ["sub", "aud", "exp", "iat", "iss", "jti", "nbf", "ref", "sha", "repository",
            "repository_id", "repository_owner", "repository_owner_id", "run_id", "run_number", "run_attempt",
            "actor", "actor_id", "workflow", "workflow_ref", "workflow_sha", "head_ref", "base_ref",
            "event_name", "ref_type", "ref_protected", "environment", "environment_node_id",
            "job_workflow_ref", "job_workflow_sha", "repository_visibility", "runner_environment"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid"]
    }))
}
