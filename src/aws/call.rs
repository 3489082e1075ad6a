//! One failed AWS call, whatever client made it (the S3 REST client, the JSON-RPC and query clients, the
//! generated SDKs): the operation, the resource, the service's error code and HTTP status, and whether a
//! retry could help. Callers decide on these fields (`code`, `status`), never on the message's text.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// A failed AWS call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallError {
    /// The service (`S3`, `ECR`, `AppRunner`).
    pub service: &'static str,
    /// The operation (`PutObject`).
    pub op: &'static str,
    /// What it was called on (`s3://bucket/key`, a service ARN).
    pub resource: String,
    /// The service's error code (`AccessDenied`, `NoSuchBucket`), when it sent one.
    pub code: Option<String>,
    /// The HTTP status, when an answer came.
    pub status: Option<u16>,
    /// The service's message, or what went wrong on the way (on one line).
    pub message: String,
    /// Throttling, a 5xx or a transport failure: a later attempt may succeed.
    pub transient: bool,
}

/// `S3 PutObject on `s3://b/k` failed: …`, or without the resource when the client does not know it.
impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.resource.is_empty() {
            write!(f, "{} {} failed: {}", self.service, self.op, self.message)
        } else {
            write!(
                f,
                "{} {} on `{}` failed: {}",
                self.service, self.op, self.resource, self.message
            )
        }
    }
}

impl std::error::Error for CallError {}

impl CallError {
    /// The caller lacks the permission (the code says so, or a 403 came without a code).
    #[must_use]
    pub fn is_access_denied(&self) -> bool {
        match self.code.as_deref() {
            Some(c) => {
                matches!(
                    c,
                    "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation"
                )
            }
            None => self.status == Some(403),
        }
    }

    /// The resource does not exist (a 404, or a `…NotFound…`/`NoSuch…` code).
    #[must_use]
    pub fn is_not_found(&self) -> bool {
        self.status == Some(404)
            || self
                .code
                .as_deref()
                .is_some_and(|c| c.contains("NotFound") || c.starts_with("NoSuch"))
    }

    /// Throttled: `Throttling`, `ThrottlingException`, `SlowDown`, `TooManyRequestsException`, HTTP 429.
    #[must_use]
    pub fn is_throttling(&self) -> bool {
        self.status == Some(429)
            || self.code.as_deref().is_some_and(|c| {
                c.starts_with("Throttling")
                    || matches!(
                        c,
                        "SlowDown" | "TooManyRequestsException" | "RequestLimitExceeded"
                    )
            })
    }
}

impl CallError {
    /// A failure the service's answer does not describe (no HTTP status, not worth another attempt): a
    /// request that cannot be written or sent, an answer that lacks what the caller needs; `code` when the
    /// service named one.
    pub fn plain(
        service: &'static str,
        op: &'static str,
        resource: impl Into<String>,
        code: Option<String>,
        message: impl Into<String>,
    ) -> Self {
        CallError {
            service,
            op,
            resource: resource.into(),
            code,
            status: None,
            message: message.into(),
            transient: false,
        }
    }

    /// A failed call of a generated SDK client (`aws-sdk-ecs`, `aws-sdk-lambda`): the service's code and
    /// message, the HTTP status of its answer, and whether it was throttling, a 5xx, a timeout or no
    /// answer at all.
    pub fn from_sdk<E>(
        service: &'static str,
        op: &'static str,
        resource: &str,
        e: &SdkError<E, HttpResponse>,
    ) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let status = e.raw_response().map(|r| r.status().as_u16());
        let code = e.code().map(str::to_owned);
        let no_answer = matches!(
            e,
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_)
        );
        let message = match e.message() {
            Some(m) => format!("{}: {m}", e.code().unwrap_or("error")),
            None => DisplayErrorContext(e).to_string(),
        };
        CallError {
            service,
            op,
            resource: resource.to_owned(),
            transient: no_answer || status.is_some_and(|s| transient(s, code.as_deref())),
            code,
            status,
            message,
        }
    }
}

/// Whether an answer with `status` and `code` is worth another attempt.
#[must_use]
pub fn transient(status: u16, code: Option<&str>) -> bool {
    status >= 500
        || status == 429
        || code.is_some_and(|c| {
            c.starts_with("Throttling")
                || matches!(
                    c,
                    "SlowDown" | "TooManyRequestsException" | "RequestLimitExceeded"
                )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(code: Option<&str>, status: Option<u16>) -> CallError {
        CallError {
            service: "S3",
            op: "PutObject",
            resource: "s3://b/k".into(),
            code: code.map(str::to_owned),
            status,
            message: "m".into(),
            transient: false,
        }
    }

    #[test]
    fn access_denied_is_read_from_the_code_or_a_bare_403() {
        assert!(err(Some("AccessDenied"), Some(403)).is_access_denied());
        assert!(err(Some("AccessDeniedException"), Some(400)).is_access_denied());
        assert!(err(None, Some(403)).is_access_denied());
        assert!(!err(Some("SignatureDoesNotMatch"), Some(403)).is_access_denied());
        assert!(!err(None, None).is_access_denied());
    }

    #[test]
    fn not_found_and_throttling_are_recognised() {
        assert!(err(Some("NoSuchBucket"), Some(404)).is_not_found());
        assert!(err(Some("RepositoryNotFoundException"), Some(400)).is_not_found());
        assert!(err(None, Some(404)).is_not_found());
        assert!(!err(Some("AccessDenied"), Some(403)).is_not_found());
        assert!(err(Some("SlowDown"), Some(503)).is_throttling());
        assert!(err(Some("ThrottlingException"), Some(400)).is_throttling());
        assert!(transient(503, None) && transient(400, Some("Throttling")));
        assert!(!transient(400, Some("ValidationException")) && !transient(404, None));
    }

    #[test]
    fn the_message_names_service_operation_and_resource() {
        assert_eq!(
            err(Some("AccessDenied"), Some(403)).to_string(),
            "S3 PutObject on `s3://b/k` failed: m"
        );
    }
}
