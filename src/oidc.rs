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
