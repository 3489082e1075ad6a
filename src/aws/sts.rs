//! STS calls with retries that tell transient failures from permanent ones.
//!
//! configure-aws-credentials retries every error 12 times (~100 s for a wrong trust policy, its issues #929,
//! #1293). Here only throttling, `IDPCommunicationError`, 5xx and network failures are retried, a few times;
//! `AccessDenied`, `InvalidIdentityToken`, `ExpiredToken`, validation errors fail at once. The SDK's own
//! retry is off for these clients so the two loops don't multiply.

use std::future::Future;
use std::time::SystemTime;

use aws_sdk_sts::config::http::HttpResponse;
use aws_sdk_sts::config::retry::RetryConfig;
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use aws_types::SdkConfig;

use crate::net::retry::{self, Attempt, Backoff, Retries};

/// Attempts per STS call in total.
pub const ATTEMPTS: u32 = 4;

/// Error codes that are worth another attempt.
const TRANSIENT_CODES: [&str; 8] = [
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "IDPCommunicationError",
    "ServiceUnavailable",
    "InternalFailure",
    "InternalError",
];

/// A failed STS call, classified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The AWS error code (`AccessDenied`, `InvalidIdentityToken`, ...), when the service answered.
    pub code: Option<String>,
    pub message: String,
    pub status: Option<u16>,
    pub transient: bool,
    pub attempts: u32,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.code, self.status) {
            (Some(c), Some(s)) => write!(f, "{c} (HTTP {s}): {}", self.message)?,
            (Some(c), None) => write!(f, "{c}: {}", self.message)?,
            (None, _) => f.write_str(&self.message)?,
        }
        if self.attempts > 1 {
            write!(f, " [after {} attempts]", self.attempts)?;
        }
        Ok(())
    }
}

/// Classifies an SDK error.
pub fn classify<E>(err: &SdkError<E, HttpResponse>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    let code = err.code().map(str::to_owned);
    let message = match err.message() {
        Some(m) => m.to_owned(),
        None => aws_smithy_types::error::display::DisplayErrorContext(err).to_string(),
    };
    let transient = match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(_) => {
            code.as_deref()
                .is_some_and(|c| TRANSIENT_CODES.contains(&c))
                || status.is_some_and(|s| s >= 500 || s == 429)
        }
        _ => false,
    };
    Failure {
        code,
        message,
        status,
        transient,
        attempts: 1,
    }
}

/// Runs `call` until it succeeds, fails permanently, or [`ATTEMPTS`] are used ([`crate::net::retry`]).
pub async fn with_retries<T, E, F, Fut>(what: &str, mut call: F) -> Result<T, Failure>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
{
    let retries = Retries::attempts(ATTEMPTS, Backoff::SHORT);
    retry::run(what, retries, |attempt| {
        let fut = call();
        async move {
            fut.await.map_err(|e| {
                let mut f = classify(&e);
                f.attempts = attempt;
                if f.transient {
                    Attempt::Transient(f)
                } else {
                    Attempt::Permanent(f)
                }
            })
        }
    })
    .await
    .map_err(|g| g.error)
}

/// An STS client without SDK-level retries (ours decide); a configured STS endpoint wins over the FIPS and
/// dual-stack flags ([`super::endpoints::sdk_for`]).
#[must_use]
pub fn client(sdk: &SdkConfig) -> aws_sdk_sts::Client {
    let conf = aws_sdk_sts::config::Builder::from(&super::endpoints::sdk_for(sdk, "STS"))
        .retry_config(RetryConfig::disabled())
        .build();
    aws_sdk_sts::Client::from_conf(conf)
}

/// STS credentials as SDK credentials; missing fields are an error (as in aws-config `sts/util.rs`).
pub fn into_credentials(
    c: Option<&aws_sdk_sts::types::Credentials>,
    provider: &'static str,
) -> Result<aws_credential_types::Credentials, Failure> {
    let c = c.ok_or_else(|| Failure {
        code: None,
        message: "STS answered without credentials".into(),
        status: None,
        transient: false,
        attempts: 1,
    })?;
    let expiry = SystemTime::try_from(*c.expiration()).ok();
    Ok(aws_credential_types::Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_owned()),
        expiry,
        provider,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_render_code_status_and_attempts() {
        let f = Failure {
            code: Some("Throttling".into()),
            message: "Rate exceeded".into(),
            status: Some(400),
            transient: true,
            attempts: 4,
        };
        assert_eq!(
            f.to_string(),
            "Throttling (HTTP 400): Rate exceeded [after 4 attempts]"
        );
    }
}
