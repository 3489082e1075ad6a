//! The GitHub OIDC token: fetched from the runner, masked at once, verified against the issuer's JWKS.
//!
//! The runner exposes `ACTIONS_ID_TOKEN_REQUEST_URL` and `ACTIONS_ID_TOKEN_REQUEST_TOKEN` only when the job
//! has `permissions: id-token: write` (actions/runner `ContainerActionHandler`); act never sets them
//! (nektos/act#2500). The request is `GET <url>&audience=<aud>` with the bearer token; the answer is JSON
//! `{"value": "<jwt>"}` (actions/toolkit `oidc-utils.ts`). The JWT lives 5 minutes, so it is fetched right
//! before use and never cached.
//!
//! STS validates the token itself; we verify the signature (RS256 against the issuer's JWKS), `iss`, `aud`
//! and `exp` as well, so an expired token or a wrong audience is named as such instead of surfacing as an
//! opaque `InvalidIdentityToken`, and so the claims we print and the trigger policy reads are genuine.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::env::{Env, vars};
use crate::net::retry::{self, Attempt, Backoff, Retries};
use crate::net::{Net, error_chain};
use crate::report::Commands;

/// The audience AWS STS expects (configure-aws-credentials' default).
pub const DEFAULT_AUDIENCE: &str = "sts.amazonaws.com";
/// GitHub.com's issuer.
pub const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";
/// Transient failures of the token or JWKS request are retried this many times in total.
const ATTEMPTS: u32 = 4;
/// Docs for the permission the job needs.
const PERMISSION_DOCS: &str = "https://docs.github.com/en/actions/reference/security/oidc#workflow-permissions-for-the-requesting-the-oidc-token";

/// Why no verified token could be obtained.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error(
        "no GitHub OIDC token: `{var}` is not set, which means the job lacks `permissions: id-token: write`"
    )]
    MissingPermission { var: &'static str },
    #[error(
        "no GitHub OIDC token: this is not a GitHub Actions job (`GITHUB_ACTIONS` is not `true`), and only a job granted `permissions: id-token: write` gets one"
    )]
    OutsideActions,
    #[error(
        "no GitHub OIDC token: this runs under act (ACT=true), and act has no OIDC provider (nektos/act#2500)"
    )]
    UnderAct,
    #[error("`ACTIONS_ID_TOKEN_REQUEST_URL` = `{url}` is not a URL: {source}")]
    BadRequestUrl {
        url: String,
        source: url::ParseError,
    },
    #[error("the OIDC token was not fetched and verified: {0}")]
    Cancelled(crate::cancel::Cancelled),
    #[error("cannot build the HTTP client for the OIDC request: {0}")]
    Client(reqwest::Error),
    #[error("the OIDC {what} request to `{url}` failed after {attempts} attempt(s): {detail}")]
    Request {
        what: &'static str,
        url: String,
        attempts: u32,
        detail: String,
    },
    #[error("the OIDC {what} request to `{url}` was refused with HTTP {status}: {body}")]
    Refused {
        what: &'static str,
        url: String,
        status: u16,
        body: String,
    },
    #[error("the OIDC token endpoint `{url}` answered without a token (`value` missing or empty)")]
    EmptyToken { url: String },
    #[error("the JWKS at `{url}` is not a JSON Web Key Set: {detail}")]
    BadJwks { url: String, detail: String },
    #[error("the OIDC token is not a JWT: {0}")]
    Malformed(String),
    #[error(
        "the OIDC token is signed with algorithm {alg:?}; GitHub signs with RS256, so it was refused"
    )]
    Algorithm { alg: jsonwebtoken::Algorithm },
    #[error("the OIDC token's signing key `{kid}` is not in the issuer's JWKS at `{url}`")]
    UnknownKey { kid: String, url: String },
    #[error("the OIDC token's signature does not verify against the issuer's JWKS at `{url}`")]
    BadSignature { url: String },
    #[error("the OIDC token expired at {exp} (now {now}); tokens live 5 minutes")]
    Expired { exp: u64, now: u64 },
    #[error("the OIDC token's audience is {got}, not `{want}` (input `audience`)")]
    WrongAudience { got: String, want: String },
    #[error("the OIDC token's issuer is `{got}`, not `{want}`")]
    WrongIssuer { got: String, want: String },
    #[error("the OIDC token failed validation: {0}")]
    Invalid(String),
}

impl OidcError {
    /// What to do about it.
    #[must_use]
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            OidcError::MissingPermission { .. } => format!(
                "Add to the job (or workflow):\n  permissions:\n    id-token: write\n    contents: read\nPull requests from forks never get an OIDC token. Docs: {PERMISSION_DOCS}"
            ),
            OidcError::OutsideActions => "Outside a job, use your own AWS credentials: add `--input allow-aws-credential-chain=true` (the chain reads AWS_PROFILE, AWS_ACCESS_KEY_ID and the other standard sources). To check a workflow's inputs with no credentials at all, run `stevedore check .github/workflows/` (docs/check.md).".into(),
            OidcError::UnderAct => "Under act, pass AWS credentials through the environment (e.g. `act --env AWS_ACCESS_KEY_ID=...`); stevedore then uses the standard AWS credential chain.".into(),
            OidcError::Expired { .. } => "Check the runner's clock; stevedore fetches the token right before use, so an expired token means the clock is off by minutes.".into(),
            OidcError::WrongAudience { .. } => "Set input `audience` to what the issuer mints and the IAM identity provider expects (AWS: `sts.amazonaws.com`).".into(),
            OidcError::WrongIssuer { .. } | OidcError::UnknownKey { .. } | OidcError::BadSignature { .. } => format!(
                "On GHES or with a custom issuer set `{}` and `{}`.",
                vars::STEVEDORE_OIDC_ISSUER,
                vars::STEVEDORE_OIDC_JWKS_URL
            ),
            OidcError::Refused {
                what: "token",
                status: 401 | 403,
                ..
            } => format!(
                "GitHub refuses an OIDC token to this job. Usually: the job lacks `permissions: id-token: write` (a job-level `permissions:` block replaces the workflow's); in a reusable workflow, the calling workflow's job must grant `id-token: write` too (a called workflow cannot have more than its caller); or an environment protection rule (required reviewers, deployment branches) has not let this job's `environment:` proceed. Check the job's `permissions:`, the caller's `permissions:` if this is a reusable workflow, and the environment's protection rules. Docs: {PERMISSION_DOCS}"
            ),
            _ => return None,
        })
    }
}

/// An audience claim: one string or a list (RFC 7519 §4.1.3).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    #[must_use]
    pub fn contains(&self, aud: &str) -> bool {
        match self {
            Audience::One(a) => a == aud,
            Audience::Many(v) => v.iter().any(|a| a == aud),
        }
    }
}

impl std::fmt::Display for Audience {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Audience::One(a) => write!(f, "`{a}`"),
            Audience::Many(v) => write!(f, "[{}]", crate::inputs::code_list(v.iter())),
        }
    }
}

/// The claims of a GitHub Actions OIDC token that stevedore reads or prints. IDs are JSON strings.
#[derive(Clone, Debug, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: Audience,
    pub sub: String,
    pub exp: u64,
    #[serde(default)]
    pub iat: Option<u64>,
    #[serde(default)]
    pub repository: Option<String>,
    #[serde(default)]
    pub repository_owner: Option<String>,
    #[serde(default, rename = "ref")]
    pub git_ref: Option<String>,
    #[serde(default)]
    pub ref_type: Option<String>,
    #[serde(default)]
    pub environment: Option<String>,
    #[serde(default)]
    pub job_workflow_ref: Option<String>,
    #[serde(default)]
    pub workflow_ref: Option<String>,
    #[serde(default)]
    pub event_name: Option<String>,
    #[serde(default)]
    pub run_id: Option<String>,
}

impl Claims {
    /// The claims an IAM trust policy matches on, as `name = value` pairs (absent ones shown as such).
    #[must_use]
    pub fn trust_policy_view(&self) -> Vec<(&'static str, String)> {
        let opt = |v: &Option<String>| {
            v.as_deref()
                .map_or_else(|| "(absent)".to_owned(), str::to_owned)
        };
        vec![
            ("sub", self.sub.clone()),
            ("aud", self.aud.to_string().replace('`', "")),
            ("iss", self.iss.clone()),
            ("repository", opt(&self.repository)),
            ("repository_owner", opt(&self.repository_owner)),
            ("ref", opt(&self.git_ref)),
            ("environment", opt(&self.environment)),
            ("job_workflow_ref", opt(&self.job_workflow_ref)),
        ]
    }
}

/// A fetched and verified token.
#[derive(Debug)]
pub struct Token {
    pub jwt: SecretString,
    pub claims: Claims,
}

/// Where the token comes from and how it is checked.
#[derive(Clone, Debug)]
pub struct Issuer {
    pub issuer: String,
    pub jwks_url: String,
}

impl Issuer {
    /// GitHub's issuer, or the overrides `STEVEDORE_OIDC_ISSUER` / `STEVEDORE_OIDC_JWKS_URL` (GHES, tests).
    /// Without an explicit JWKS URL it is `<issuer>/.well-known/jwks`.
    #[must_use]
    pub fn from_env(env: &Env) -> Self {
        let issuer = env
            .get(vars::STEVEDORE_OIDC_ISSUER)
            .unwrap_or(GITHUB_ISSUER)
            .trim_end_matches('/')
            .to_owned();
        let jwks_url = env
            .get(vars::STEVEDORE_OIDC_JWKS_URL)
            .map_or_else(|| format!("{issuer}/.well-known/jwks"), str::to_owned);
        Self { issuer, jwks_url }
    }
}

/// Whether the runner offers a token to this job.
#[must_use]
pub fn available(env: &Env) -> bool {
    env.get(vars::ACTIONS_ID_TOKEN_REQUEST_URL).is_some()
        && env.get(vars::ACTIONS_ID_TOKEN_REQUEST_TOKEN).is_some()
}

/// The error for a run without the OIDC variables: under act, outside Actions (a terminal: no job, no
/// token, and no permission to blame), or a job that lacks the permission.
#[must_use]
pub fn unavailable_error(env: &Env) -> OidcError {
    if env.under_act() {
        OidcError::UnderAct
    } else if !env.in_actions() && env.get(vars::ACTIONS_ID_TOKEN_REQUEST_URL).is_none() {
        OidcError::OutsideActions
    } else if env.get(vars::ACTIONS_ID_TOKEN_REQUEST_URL).is_none() {
        OidcError::MissingPermission {
            var: vars::ACTIONS_ID_TOKEN_REQUEST_URL,
        }
    } else {
        OidcError::MissingPermission {
            var: vars::ACTIONS_ID_TOKEN_REQUEST_TOKEN,
        }
    }
}

/// The client for the token and JWKS requests: the run's roots and proxy ([`Net`]).
pub fn http_client(env: &Env) -> Result<reqwest::Client, OidcError> {
    Net::from_env(env)
        .reqwest()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(15))
        .build()
        .map_err(OidcError::Client)
}

/// Fetches, masks and verifies the token for `audience`.
pub async fn token(env: &Env, cmds: &Commands, audience: &str) -> Result<Token, OidcError> {
    let client = http_client(env)?;
    // The token and JWKS requests and their retry waits end at the runner's signal.
    let cancel = env.cancel().clone();
    cancel
        .guard(async {
            let jwt = fetch(&client, env, cmds, audience).await?;
            let issuer = Issuer::from_env(env);
            let claims = verify(&client, &issuer, jwt.expose_secret(), audience).await?;
            Ok(Token { jwt, claims })
        })
        .await
        .map_err(OidcError::Cancelled)?
}

/// GETs the JWT from the runner; masks it before returning.
pub async fn fetch(
    client: &reqwest::Client,
    env: &Env,
    cmds: &Commands,
    audience: &str,
) -> Result<SecretString, OidcError> {
    let (Some(raw_url), Some(bearer)) = (
        env.get(vars::ACTIONS_ID_TOKEN_REQUEST_URL),
        env.get(vars::ACTIONS_ID_TOKEN_REQUEST_TOKEN),
    ) else {
        return Err(unavailable_error(env));
    };
    // The request token is the job's runtime token: mask it even if `app::run` already did.
    cmds.add_mask(bearer);
    let mut url = url::Url::parse(raw_url).map_err(|source| OidcError::BadRequestUrl {
        url: raw_url.to_owned(),
        source,
    })?;
    url.query_pairs_mut().append_pair("audience", audience);
    let shown = redacted_url(&url);

    #[derive(Deserialize)]
    struct TokenResponse {
        #[serde(default)]
        value: Option<String>,
    }
    let body = get_with_retries("token", client, &url, Some(bearer), &shown).await?;
    let parsed: TokenResponse = serde_json::from_str(&body).map_err(|e| OidcError::Request {
        what: "token",
        url: shown.clone(),
        attempts: 1,
        detail: format!("the answer is not JSON `{{\"value\": ...}}`: {e}"),
    })?;
    let jwt = parsed
        .value
        .filter(|v| !v.trim().is_empty())
        .ok_or(OidcError::EmptyToken { url: shown })?;
    cmds.add_mask(&jwt);
    Ok(SecretString::from(jwt))
}

/// The URL without its query (the runner's URL carries no secret, but keep logs short and stable).
fn redacted_url(url: &url::Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.to_string()
}

/// Why one attempt of a token or JWKS request failed.
enum Failed {
    /// No answer (the error chain), or a transient status.
    Detail(String),
    /// A status that is not worth another attempt.
    Refused { status: u16, body: String },
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failed::Detail(d) => f.write_str(d),
            Failed::Refused { status, .. } => write!(f, "HTTP {status}"),
        }
    }
}

/// GET with bounded retries ([`crate::net::retry`]) on transient failures only (connect errors, timeouts,
/// 429, 5xx).
async fn get_with_retries(
    what: &'static str,
    client: &reqwest::Client,
    url: &url::Url,
    bearer: Option<&str>,
    shown: &str,
) -> Result<String, OidcError> {
    let retries = Retries::attempts(ATTEMPTS, Backoff::SHORT);
    let label = format!("the OIDC {what} request");
    let got = retry::run(&label, retries, |_| async {
        let mut req = client.get(url.clone()).header("accept", "application/json");
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        match req.send().await {
            Ok(resp) => {
                let status = resp.status();
                let body = resp.text().await.unwrap_or_default();
                if status.is_success() {
                    Ok(body)
                } else if status.as_u16() == 429 || status.is_server_error() {
                    Err(Attempt::Transient(Failed::Detail(format!("HTTP {status}"))))
                } else {
                    Err(Attempt::Permanent(Failed::Refused {
                        status: status.as_u16(),
                        body,
                    }))
                }
            }
            Err(e) if e.is_connect() || e.is_timeout() || e.is_request() => {
                Err(Attempt::Transient(Failed::Detail(error_chain(&e))))
            }
            Err(e) => Err(Attempt::Permanent(Failed::Detail(error_chain(&e)))),
        }
    })
    .await;
    got.map_err(|g| match g.error {
        Failed::Refused { status, body } => OidcError::Refused {
            what,
            url: shown.to_owned(),
            status,
            body: crate::report::truncate_bytes(body.trim(), 500).to_owned(),
        },
        Failed::Detail(detail) => OidcError::Request {
            what,
            url: shown.to_owned(),
            attempts: g.attempts,
            detail,
        },
    })
}

/// Verifies the RS256 signature against the issuer's JWKS, then `iss`, `aud` and `exp`.
pub async fn verify(
    client: &reqwest::Client,
    issuer: &Issuer,
    jwt: &str,
    audience: &str,
) -> Result<Claims, OidcError> {
    use jsonwebtoken::errors::ErrorKind;
    use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};

    crate::net::crypto::install();
    let header = decode_header(jwt).map_err(|e| OidcError::Malformed(e.to_string()))?;
    if header.alg != Algorithm::RS256 {
        return Err(OidcError::Algorithm { alg: header.alg });
    }
    let jwks_url = url::Url::parse(&issuer.jwks_url).map_err(|e| OidcError::BadJwks {
        url: issuer.jwks_url.clone(),
        detail: e.to_string(),
    })?;
    let body = get_with_retries("JWKS", client, &jwks_url, None, &issuer.jwks_url).await?;
    let set: jsonwebtoken::jwk::JwkSet =
        serde_json::from_str(&body).map_err(|e| OidcError::BadJwks {
            url: issuer.jwks_url.clone(),
            detail: e.to_string(),
        })?;
    let candidates: Vec<&jsonwebtoken::jwk::Jwk> = match &header.kid {
        Some(kid) => vec![set.find(kid).ok_or_else(|| OidcError::UnknownKey {
            kid: kid.clone(),
            url: issuer.jwks_url.clone(),
        })?],
        None => set.keys.iter().collect(),
    };

    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.set_issuer(&[issuer.issuer.as_str()]);
    validation.set_audience(&[audience]);
    validation.leeway = 30;
    validation.validate_nbf = true;

    let mut last = OidcError::BadSignature {
        url: issuer.jwks_url.clone(),
    };
    for jwk in candidates {
        let Ok(key) = DecodingKey::from_jwk(jwk) else {
            continue;
        };
        match decode::<Claims>(jwt, &key, &validation) {
            Ok(data) => return Ok(data.claims),
            Err(e) => {
                last = match e.kind() {
                    ErrorKind::InvalidSignature => OidcError::BadSignature {
                        url: issuer.jwks_url.clone(),
                    },
                    ErrorKind::ExpiredSignature => {
                        let exp = unverified_claims(jwt).map_or(0, |c| c.exp);
                        return Err(OidcError::Expired {
                            exp,
                            now: jsonwebtoken::get_current_timestamp(),
                        });
                    }
                    ErrorKind::InvalidAudience => {
                        return Err(OidcError::WrongAudience {
                            got: unverified_claims(jwt)
                                .map_or_else(|| "(unreadable)".into(), |c| c.aud.to_string()),
                            want: audience.to_owned(),
                        });
                    }
                    ErrorKind::InvalidIssuer => {
                        return Err(OidcError::WrongIssuer {
                            got: unverified_claims(jwt).map_or_else(String::new, |c| c.iss),
                            want: issuer.issuer.clone(),
                        });
                    }
                    _ => OidcError::Invalid(e.to_string()),
                };
            }
        }
    }
    Err(last)
}

/// The claims without any verification: only for error messages after verification has spoken.
#[must_use]
pub fn unverified_claims(jwt: &str) -> Option<Claims> {
    jsonwebtoken::dangerous::insecure_decode::<Claims>(jwt)
        .ok()
        .map(|d| d.claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_variables_name_the_permission_or_act() {
        let job = Env::from_pairs([("GITHUB_ACTIONS", "true")]);
        let e = unavailable_error(&job);
        assert!(
            e.to_string()
                .contains("the job lacks `permissions: id-token: write`"),
            "{e}"
        );
        assert!(e.hint().unwrap().contains("id-token: write"));
        // A terminal is no job: the words say so, and point at the credential chain and the offline check.
        let e = unavailable_error(&Env::default());
        assert!(e.to_string().contains("not a GitHub Actions job"), "{e}");
        assert!(!e.to_string().contains("lacks"), "{e}");
        let hint = e.hint().unwrap();
        assert!(hint.contains("allow-aws-credential-chain=true"), "{hint}");
        assert!(hint.contains("stevedore check"), "{hint}");
        let e = unavailable_error(&Env::from_pairs([("ACT", "true")]));
        assert!(e.to_string().contains("act has no OIDC"), "{e}");
        let e = unavailable_error(&Env::from_pairs([(
            "ACTIONS_ID_TOKEN_REQUEST_URL",
            "http://x",
        )]));
        assert!(
            e.to_string().contains("ACTIONS_ID_TOKEN_REQUEST_TOKEN"),
            "{e}"
        );
    }

    #[test]
    fn issuer_overrides_derive_the_jwks_location() {
        let i = Issuer::from_env(&Env::default());
        assert_eq!(
            i.jwks_url,
            "https://token.actions.githubusercontent.com/.well-known/jwks"
        );
        let i = Issuer::from_env(&Env::from_pairs([(
            "STEVEDORE_OIDC_ISSUER",
            "https://ghes.example/_services/token/",
        )]));
        assert_eq!(i.issuer, "https://ghes.example/_services/token");
        assert_eq!(
            i.jwks_url,
            "https://ghes.example/_services/token/.well-known/jwks"
        );
    }

    /// The test issuer's key (the one tests/it's fake issuer signs with) and a key it does not publish.
    const ISSUER_PEM: &[u8] = include_bytes!("../tests/it/helpers/keys/oidc-issuer.pem");
    const ROGUE_PEM: &[u8] = include_bytes!("../tests/it/helpers/keys/oidc-rogue.pem");
    const KID: &str = "k1";

    /// A loopback issuer: `/jwks` publishes the issuer key, `/token` answers `{"value": <jwt>}` to the
    /// bearer `request-token-0001`, `/status/<code>` answers that status and counts the requests.
    struct Issuer0 {
        base: String,
        hits: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    }

    async fn issuer(token_value: serde_json::Value) -> Issuer0 {
        use axum::extract::Path;
        use axum::http::{HeaderMap, StatusCode};
        use std::sync::atomic::AtomicUsize;
        crate::net::crypto::install();
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(ISSUER_PEM).unwrap();
        let mut jwk = serde_json::to_value(
            jsonwebtoken::jwk::Jwk::from_encoding_key(&key, jsonwebtoken::Algorithm::RS256)
                .unwrap(),
        )
        .unwrap();
        jwk["kid"] = serde_json::json!(KID);
        let jwks = serde_json::json!({ "keys": [jwk] });
        let hits = std::sync::Arc::new(AtomicUsize::new(0));
        let counted = hits.clone();
        let app = axum::Router::new()
            .route(
                "/jwks",
                axum::routing::get(move || async move { axum::Json(jwks) }),
            )
            .route(
                "/token",
                axum::routing::get(move |h: HeaderMap| async move {
                    if h.get("authorization").and_then(|v| v.to_str().ok())
                        != Some("Bearer request-token-0001")
                    {
                        return Err(StatusCode::UNAUTHORIZED);
                    }
                    Ok(axum::Json(token_value))
                }),
            )
            .route(
                "/status/{code}",
                axum::routing::get(move |Path(code): Path<u16>| async move {
                    counted.fetch_add(1, Ordering::SeqCst);
                    (StatusCode::from_u16(code).unwrap(), "  no such thing  ")
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Issuer0 { base, hits }
    }

    use std::sync::atomic::Ordering;

    impl Issuer0 {
        fn issuer(&self) -> Issuer {
            Issuer {
                issuer: self.base.clone(),
                jwks_url: format!("{}/jwks", self.base),
            }
        }
        fn claims(&self) -> serde_json::Value {
            let now = jsonwebtoken::get_current_timestamp();
            serde_json::json!({
                "iss": self.base, "aud": DEFAULT_AUDIENCE, "sub": "repo:o/r:environment:production",
                "exp": now + 300, "iat": now, "nbf": now - 600, "environment": "production",
                "ref": "refs/tags/v1-stable",
            })
        }
    }

    fn mint(claims: &serde_json::Value, pem: &[u8], kid: Option<&str>) -> String {
        crate::net::crypto::install();
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        h.kid = kid.map(str::to_owned);
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem).unwrap();
        jsonwebtoken::encode(&h, claims, &key).unwrap()
    }

    async fn check(i: &Issuer0, jwt: &str) -> Result<Claims, OidcError> {
        let client = http_client(&Env::default()).unwrap();
        verify(&client, &i.issuer(), jwt, DEFAULT_AUDIENCE).await
    }

    /// Issue 31: a token signed by the issuer's key, for our audience, from the issuer, unexpired, passes
    /// with its claims; with or without a `kid`.
    #[tokio::test]
    async fn a_genuine_token_verifies_with_its_claims() {
        let i = issuer(serde_json::Value::Null).await;
        for kid in [Some(KID), None] {
            let c = check(&i, &mint(&i.claims(), ISSUER_PEM, kid))
                .await
                .unwrap();
            assert_eq!(c.environment.as_deref(), Some("production"));
            assert_eq!(c.git_ref.as_deref(), Some("refs/tags/v1-stable"));
            assert!(c.aud.contains(DEFAULT_AUDIENCE));
        }
    }

    /// Issue 31: each forged or stale token is refused, and named for what is wrong with it.
    #[tokio::test]
    async fn forged_stale_and_misdirected_tokens_are_refused_by_name() {
        let i = issuer(serde_json::Value::Null).await;
        let e = check(&i, &mint(&i.claims(), ROGUE_PEM, Some(KID)))
            .await
            .unwrap_err();
        assert!(matches!(e, OidcError::BadSignature { .. }), "{e}");
        let e = check(&i, &mint(&i.claims(), ROGUE_PEM, None))
            .await
            .unwrap_err();
        assert!(matches!(e, OidcError::BadSignature { .. }), "{e}");
        let e = check(&i, &mint(&i.claims(), ISSUER_PEM, Some("other")))
            .await
            .unwrap_err();
        assert!(
            matches!(e, OidcError::UnknownKey { ref kid, .. } if kid == "other"),
            "{e}"
        );

        // An HS256 token (a shared secret anyone holding the JWKS could forge with): refused by its
        // header, before any key is looked at.
        let hs = {
            use base64::Engine;
            let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
            format!(
                "{}.{}.{}",
                b64(r#"{"alg":"HS256","typ":"JWT"}"#),
                b64(&i.claims().to_string()),
                b64("a shared secret's signature")
            )
        };
        let e = check(&i, &hs).await.unwrap_err();
        assert!(
            matches!(
                e,
                OidcError::Algorithm {
                    alg: jsonwebtoken::Algorithm::HS256
                }
            ),
            "{e}"
        );

        let mut old = i.claims();
        let exp = jsonwebtoken::get_current_timestamp() - 600;
        old["exp"] = serde_json::json!(exp);
        let e = check(&i, &mint(&old, ISSUER_PEM, Some(KID)))
            .await
            .unwrap_err();
        assert!(
            matches!(e, OidcError::Expired { exp: got, .. } if got == exp),
            "{e}"
        );
        assert!(e.hint().unwrap().contains("clock"));

        let mut other = i.claims();
        other["aud"] = serde_json::json!(["sts.example", "other"]);
        let e = check(&i, &mint(&other, ISSUER_PEM, Some(KID)))
            .await
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "the OIDC token's audience is [`sts.example`, `other`], not `sts.amazonaws.com` (input `audience`)"
        );
        assert!(e.hint().unwrap().contains("input `audience`"));

        let mut foreign = i.claims();
        foreign["iss"] = serde_json::json!("https://evil.example");
        let e = check(&i, &mint(&foreign, ISSUER_PEM, Some(KID)))
            .await
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "the OIDC token's issuer is `https://evil.example`, not `{}`",
                i.base
            )
        );
        assert!(e.hint().unwrap().contains("STEVEDORE_OIDC_ISSUER"));

        let mut future = i.claims();
        future["nbf"] = serde_json::json!(jsonwebtoken::get_current_timestamp() + 3600);
        let e = check(&i, &mint(&future, ISSUER_PEM, Some(KID)))
            .await
            .unwrap_err();
        assert!(matches!(e, OidcError::Invalid(_)), "{e}");

        let e = check(&i, "not.a.jwt").await.unwrap_err();
        assert!(matches!(e, OidcError::Malformed(_)), "{e}");
        assert!(e.hint().is_none());
    }

    #[test]
    fn audiences_match_exactly_and_show_every_value() {
        let one = Audience::One("sts.amazonaws.com".into());
        assert!(one.contains("sts.amazonaws.com") && !one.contains("sts"));
        let many = Audience::Many(vec!["a".into(), "sts.amazonaws.com".into()]);
        assert!(many.contains("sts.amazonaws.com") && !many.contains("b"));
        assert_eq!(one.to_string(), "`sts.amazonaws.com`");
        assert_eq!(many.to_string(), "[`a`, `sts.amazonaws.com`]");
    }

    #[test]
    fn the_trust_policy_view_lists_the_claims_iam_matches() {
        let c: Claims = serde_json::from_value(serde_json::json!({
            "iss": "https://i", "aud": ["a", "b"], "sub": "repo:o/r:ref:refs/heads/main", "exp": 1,
            "repository": "o/r", "ref": "refs/heads/main",
        }))
        .unwrap();
        let v: Vec<(&str, String)> = c.trust_policy_view();
        let absent = "(absent)".to_owned();
        assert_eq!(
            v,
            vec![
                ("sub", "repo:o/r:ref:refs/heads/main".to_owned()),
                ("aud", "[a, b]".to_owned()),
                ("iss", "https://i".to_owned()),
                ("repository", "o/r".to_owned()),
                ("repository_owner", absent.clone()),
                ("ref", "refs/heads/main".to_owned()),
                ("environment", absent.clone()),
                ("job_workflow_ref", absent),
            ]
        );
    }

    #[test]
    fn a_token_is_offered_only_with_both_runner_variables() {
        let url = ("ACTIONS_ID_TOKEN_REQUEST_URL", "http://x");
        let token = ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "t0k3n");
        assert!(available(&Env::from_pairs([url, token])));
        assert!(!available(&Env::from_pairs([url])));
        assert!(!available(&Env::from_pairs([token])));
        let e = unavailable_error(&Env::from_pairs([("GITHUB_ACTIONS", "true"), url]));
        assert!(
            matches!(e, OidcError::MissingPermission { var } if var == "ACTIONS_ID_TOKEN_REQUEST_TOKEN"),
            "{e}"
        );
        assert!(e.hint().unwrap().contains("id-token: write"));
        assert!(
            unavailable_error(&Env::from_pairs([("ACT", "true")]))
                .hint()
                .unwrap()
                .contains("act --env")
        );
    }

    /// Issue 31: the fetched token and the request token are masked before anything can print them; an
    /// answer without a token is an error, not an empty credential.
    #[tokio::test]
    async fn fetched_tokens_are_masked_and_an_empty_answer_is_refused() {
        let i = issuer(serde_json::json!({"value": "eyJ.fetched-jwt.sig"})).await;
        let env = |path: &str| {
            Env::from_pairs([
                (
                    "ACTIONS_ID_TOKEN_REQUEST_URL",
                    format!("{}{path}?api-version=2.0", i.base),
                ),
                (
                    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
                    "request-token-0001".to_owned(),
                ),
            ])
        };
        let client = http_client(&Env::default()).unwrap();
        let (cmds, _) = Commands::buffer(crate::report::Masker::default(), true);
        let jwt = fetch(&client, &env("/token"), &cmds, DEFAULT_AUDIENCE)
            .await
            .unwrap();
        assert_eq!(jwt.expose_secret(), "eyJ.fetched-jwt.sig");
        assert_eq!(
            cmds.masker()
                .redact("eyJ.fetched-jwt.sig request-token-0001"),
            "*** ***"
        );
        for blank in [serde_json::json!({"value": "  "}), serde_json::json!({})] {
            let i = issuer(blank).await;
            let env = Env::from_pairs([
                (
                    "ACTIONS_ID_TOKEN_REQUEST_URL",
                    format!("{}/token?api-version=2.0", i.base),
                ),
                (
                    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
                    "request-token-0001".to_owned(),
                ),
            ]);
            let e = fetch(&client, &env, &cmds, DEFAULT_AUDIENCE)
                .await
                .unwrap_err();
            assert_eq!(
                e.to_string(),
                format!(
                    "the OIDC token endpoint `{}/token` answered without a token (`value` missing or empty)",
                    i.base
                )
            );
        }
        // A refusal names the URL without its query.
        let e = fetch(&client, &env("/status/403"), &cmds, DEFAULT_AUDIENCE)
            .await
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "the OIDC token request to `{}/status/403` was refused with HTTP 403: no such thing",
                i.base
            )
        );
        assert!(e.hint().unwrap().contains("id-token: write"));
    }

    /// Issue 31: only 429, 5xx and no answer are tried again (4 attempts); any other refusal stops at
    /// once.
    #[tokio::test]
    async fn only_transient_failures_are_retried() {
        for (code, attempts) in [(429, 4), (503, 4), (404, 1), (401, 1)] {
            let i = issuer(serde_json::Value::Null).await;
            let client = http_client(&Env::default()).unwrap();
            let url = url::Url::parse(&format!("{}/status/{code}", i.base)).unwrap();
            let e = get_with_retries("JWKS", &client, &url, None, "shown")
                .await
                .unwrap_err();
            assert_eq!(i.hits.load(Ordering::SeqCst), attempts, "{code}: {e}");
            if attempts == 1 {
                assert!(
                    matches!(e, OidcError::Refused { status, .. } if status == code),
                    "{e}"
                );
                assert!(
                    e.hint().is_none(),
                    "a JWKS refusal is no permission problem"
                );
            } else {
                assert!(
                    e.to_string().ends_with(&format!(
                        "failed after 4 attempt(s): HTTP {code} {}",
                        axum::http::StatusCode::from_u16(code)
                            .unwrap()
                            .canonical_reason()
                            .unwrap()
                    )),
                    "{e}"
                );
            }
        }
        // A connection closed before any answer (neither a connect error nor a timeout): tried again.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url =
            url::Url::parse(&format!("http://{}/jwks", listener.local_addr().unwrap())).unwrap();
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = accepted.clone();
        tokio::spawn(async move {
            use tokio::io::AsyncReadExt;
            while let Ok((mut conn, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                let mut buf = [0u8; 1024];
                let _request = conn.read(&mut buf).await;
                drop(conn);
            }
        });
        let client = http_client(&Env::default()).unwrap();
        let e = get_with_retries("JWKS", &client, &url, None, "shown")
            .await
            .unwrap_err();
        assert!(matches!(e, OidcError::Request { attempts: 4, .. }), "{e}");
        assert_eq!(accepted.load(Ordering::SeqCst), 4);
        // A request that cannot be made at all (a scheme reqwest does not speak) is not tried again.
        let url = url::Url::parse("ftp://127.0.0.1:9/jwks").unwrap();
        let e = get_with_retries("JWKS", &client, &url, None, "shown")
            .await
            .unwrap_err();
        assert!(matches!(e, OidcError::Request { attempts: 1, .. }), "{e}");
        // Nothing listening: a connect error, tried again.
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url =
            url::Url::parse(&format!("http://{}/jwks", closed.local_addr().unwrap())).unwrap();
        drop(closed);
        let client = http_client(&Env::default()).unwrap();
        let e = get_with_retries("JWKS", &client, &url, None, "shown")
            .await
            .unwrap_err();
        assert!(matches!(e, OidcError::Request { attempts: 4, .. }), "{e}");
    }

    /// Issue 31: the token and JWKS requests go the way the run's other requests go: through the
    /// run's proxy (`HTTP_PROXY` here, from the step's environment, not the process's).
    #[tokio::test]
    async fn oidc_requests_use_the_runs_proxy() {
        let proxy = issuer(serde_json::Value::Null).await;
        let env = Env::from_pairs([("HTTP_PROXY", proxy.base.as_str())]);
        let client = http_client(&env).unwrap();
        let url = url::Url::parse("http://oidc.invalid/status/404").unwrap();
        let e = get_with_retries("JWKS", &client, &url, None, "shown")
            .await
            .unwrap_err();
        assert!(matches!(e, OidcError::Refused { status: 404, .. }), "{e}");
        assert_eq!(proxy.hits.load(Ordering::SeqCst), 1);
    }

    /// What the retry log says of a failed attempt.
    #[test]
    fn failed_attempts_are_described() {
        assert_eq!(
            Failed::Detail("connection refused".into()).to_string(),
            "connection refused"
        );
        let refused = Failed::Refused {
            status: 403,
            body: "no".into(),
        };
        assert_eq!(refused.to_string(), "HTTP 403");
    }

    #[test]
    fn audience_appends_to_an_existing_query() {
        let mut u = url::Url::parse("http://h/idtoken?api-version=2.0").unwrap();
        u.query_pairs_mut()
            .append_pair("audience", "sts.amazonaws.com");
        assert_eq!(
            u.as_str(),
            "http://h/idtoken?api-version=2.0&audience=sts.amazonaws.com"
        );
    }
}
