//! A small SigV4-signed client for AWS JSON-RPC services (`awsJson1_0` / `awsJson1_1`): `POST /` with
//! `X-Amz-Target: <prefix>.<Operation>` and a JSON body.
//!
//! Used for the few calls where a whole generated SDK crate is not worth its binary size: CloudWatch Logs
//! `GetLogEvents` (the last lines of a one-off ECS task), App Runner and ECR ([`super::ecr`]). Endpoint
//! resolution follows the SDK: `AWS_ENDPOINT_URL_<SERVICE_ID>` on the [`SdkConfig`]'s service config, then
//! `AWS_ENDPOINT_URL`, then the host the service's endpoint rules give for the region, partition and
//! FIPS/dual-stack flags ([`super::endpoints`]). Throttling, 5xx
//! and transport errors are retried (3 attempts, jittered). A client given the run's [`Cancel`]
//! ([`JsonRpc::with_cancel`]) guards every attempt with it, as the SDK's HTTP client does.

use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::provider::ProvideCredentials as _;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SigningSettings, sign as sign_request,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::call::CallError;
use super::endpoints::{self, EndpointError, Rules};
use crate::cancel::Cancel;
use crate::net::Net;
use crate::net::retry::{self, Attempt, Backoff, Retries};

const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const ATTEMPTS: u32 = 3;
/// About 600 ms, then 1.2 s.
const BACKOFF: Backoff = Backoff {
    first: Duration::from_millis(600),
    max: Duration::from_secs(10),
};

/// Which service: how it is named, signed and addressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Service {
    /// The SDK service id (`CloudWatch Logs`, `AppRunner`): `AWS_ENDPOINT_URL_<ID>` overrides.
    pub service_id: &'static str,
    /// The SigV4 signing name (`logs`, `apprunner`).
    pub signing_name: &'static str,
    /// The endpoint rules (`logs` → `https://logs.<region>.amazonaws.com/`).
    pub endpoint: &'static Rules,
    /// `application/x-amz-json-1.0` or `-1.1`.
    pub content_type: &'static str,
    /// `X-Amz-Target` prefix (`Logs_20140328`, `AppRunner`).
    pub target_prefix: &'static str,
}

/// CloudWatch Logs (awsJson1_1).
pub const LOGS: Service = Service {
    service_id: "CloudWatch Logs",
    signing_name: "logs",
    endpoint: &endpoints::LOGS,
    content_type: "application/x-amz-json-1.1",
    target_prefix: "Logs_20140328",
};

/// App Runner (awsJson1_0).
pub const APP_RUNNER: Service = Service {
    service_id: "AppRunner",
    signing_name: "apprunner",
    endpoint: &endpoints::APP_RUNNER,
    content_type: "application/x-amz-json-1.0",
    target_prefix: "AppRunner",
};

/// A signed JSON-RPC client for one service.
#[derive(Debug, Clone)]
pub struct JsonRpc {
    sdk: SdkConfig,
    service: Service,
    /// The endpoint, or why the service has none for this region and these flags (every call fails
    /// with it).
    url: Result<String, EndpointError>,
    http: reqwest::Client,
    cancel: Cancel,
}

impl JsonRpc {
    /// The client for `service` with `sdk`'s credentials, region and endpoint overrides; `http` carries
    /// the run's roots and proxy.
    #[must_use]
    pub fn new(sdk: &SdkConfig, service: Service, http: reqwest::Client) -> Self {
        Self {
            sdk: sdk.clone(),
            service,
            url: endpoints::url(sdk, service.service_id, service.endpoint),
            http,
            cancel: Cancel::never(),
        }
    }

    /// The client for `service` with `sdk`'s credentials, region and endpoint overrides, over `net`'s roots
    /// and proxy, stopping at `net`'s [`Cancel`].
    pub fn over(sdk: &SdkConfig, service: Service, net: &Net) -> Result<Self, reqwest::Error> {
        Ok(Self::new(sdk, service, net.reqwest().build()?).with_cancel(net.cancel().clone()))
    }

    /// This client with every attempt guarded by `cancel` ([`Cancel::guard`]): an attempt in flight ends at
    /// the signal, and none starts after it (outside [`crate::cancel::cleanup`]); the error says
    /// `cancelled by <signal>` and is not retried.
    #[must_use]
    pub fn with_cancel(mut self, cancel: Cancel) -> Self {
        self.cancel = cancel;
        self
    }

    /// The flag this client stops at.
    #[must_use]
    pub fn cancel(&self) -> &Cancel {
        &self.cancel
    }

    /// The endpoint calls go to, or why there is none.
    pub fn url(&self) -> Result<&str, &EndpointError> {
        self.url.as_deref()
    }

    fn err(&self, op: &'static str, code: Option<String>, message: String) -> CallError {
        CallError::plain(self.service.service_id, op, "", code, message)
    }

    /// Calls `op` with `body` and reads the answer as a `T`; a failure names `resource` (`""`: none).
    pub async fn call_as<T: DeserializeOwned>(
        &self,
        op: &'static str,
        resource: &str,
        body: &impl Serialize,
    ) -> Result<T, CallError> {
        let named = |mut e: CallError| {
            resource.clone_into(&mut e.resource);
            e
        };
        let body = serde_json::to_value(body).map_err(|e| {
            named(self.err(op, None, format!("the request cannot be written: {e}")))
        })?;
        let answer = self.call(op, &body).await.map_err(named)?;
        serde_json::from_value(answer)
            .map_err(|e| named(self.err(op, None, format!("unexpected answer: {e}"))))
    }

    /// Calls `op` with `body`; retries throttling, 5xx and transport errors.
    pub async fn call(&self, op: &'static str, body: &Value) -> Result<Value, CallError> {
        let retries = Retries::attempts(ATTEMPTS, BACKOFF);
        retry::run(op, retries, |_| async {
            let once = self
                .cancel
                .guard(self.call_once(op, body))
                .await
                .map_err(|c| Attempt::Permanent(self.err(op, None, c.to_string())))?;
            once.map_err(|(e, retryable)| {
                if retryable {
                    Attempt::Transient(e)
                } else {
                    Attempt::Permanent(e)
                }
            })
        })
        .await
        .map_err(|g| g.error)
    }

    async fn call_once(&self, op: &'static str, body: &Value) -> Result<Value, (CallError, bool)> {
        let fatal = |e: CallError| (e, false);
        let url = self
            .url
            .as_deref()
            .map_err(|e| fatal(self.err(op, None, e.to_string())))?;
        let body = body.to_string();
        let target = format!("{}.{op}", self.service.target_prefix);
        let headers = [
            ("content-type", self.service.content_type),
            ("x-amz-target", target.as_str()),
        ];
        let req = signed_post(
            &self.http,
            &self.sdk,
            self.service.signing_name,
            url,
            &headers,
            body,
        )
        .await
        .map_err(|m| fatal(self.err(op, None, m)))?;
        let resp = req.send().await.map_err(|e| {
            (
                self.err(op, None, format!("{url} did not answer: {e}")),
                true,
            )
        })?;
        let status = resp.status();
        let text = resp
            .text()
            .await
            .map_err(|e| (self.err(op, None, e.to_string()), true))?;
        if !status.is_success() {
            let v: Option<Value> = serde_json::from_str(&text).ok();
            let code = v
                .as_ref()
                .and_then(|v| v.get("__type"))
                .and_then(Value::as_str)
                // `__type` may be `com.amazonaws...#Code` or `Code`.
                .map(|t| t.rsplit('#').next().unwrap_or(t).to_owned());
            let message = v
                .as_ref()
                .and_then(|v| v.get("message").or_else(|| v.get("Message")))
                .and_then(Value::as_str)
                .map_or_else(|| excerpt(&text), str::to_owned);
            let retryable = status.is_server_error()
                || code
                    .as_deref()
                    .is_some_and(|c| c.contains("Throttling") || c == "TooManyRequestsException");
            let shown = match &code {
                Some(c) => format!("HTTP {}: {c}: {message}", status.as_u16()),
                None => format!("HTTP {}: {message}", status.as_u16()),
            };
            return Err((self.err(op, code, shown), retryable));
        }
        if text.trim().is_empty() {
            return Ok(Value::Object(serde_json::Map::new()));
        }
        serde_json::from_str(&text).map_err(|e| {
            fatal(self.err(
                op,
                None,
                format!("unexpected answer ({e}): {}", excerpt(&text)),
            ))
        })
    }
}

/// A `POST` of `body` to `url` with `headers`, SigV4-signed, given up after 30 s. The error is a sentence.
pub(crate) async fn signed_post(
    http: &reqwest::Client,
    sdk: &SdkConfig,
    signing_name: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: String,
) -> Result<reqwest::RequestBuilder, String> {
    let signed = sign(sdk, signing_name, url, headers, body.as_bytes()).await?;
    let mut req = http.post(url).timeout(REQUEST_TIMEOUT);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    for (k, v) in signed {
        req = req.header(k, v);
    }
    Ok(req.body(body))
}

/// SigV4-signs a `POST` of `body` to `url` with `headers`; the headers to add (`authorization`,
/// `x-amz-date`, `x-amz-security-token`). The error is a sentence.
pub(crate) async fn sign(
    sdk: &SdkConfig,
    signing_name: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Vec<(String, String)>, String> {
    sign_with(
        sdk,
        signing_name,
        "POST",
        url,
        headers,
        SignableBody::Bytes(body),
        SigningSettings::default(),
    )
    .await
}

/// SigV4-signs a request: `method`, `url`, `headers`, the `body` (or its precomputed hash) and the
/// service's signing `settings` (S3 signs its payload hash into `x-amz-content-sha256` and does not
/// normalise or double-encode paths). The headers to add; the error is a sentence.
pub(crate) async fn sign_with(
    sdk: &SdkConfig,
    signing_name: &str,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: SignableBody<'_>,
    settings: SigningSettings,
) -> Result<Vec<(String, String)>, String> {
    let creds = match sdk.credentials_provider() {
        Some(p) => p
            .provide_credentials()
            .await
            .map_err(|e| format!("no credentials: {e}"))?,
        None => return Err("no credentials provider".into()),
    };
    let region = sdk
        .region()
        .map(|r| r.as_ref().to_owned())
        .ok_or_else(|| "no region".to_owned())?;
    let identity: Identity = creds.into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&region)
        .name(signing_name)
        .time(SystemTime::now())
        .settings(settings)
        .build()
        .map_err(|e| format!("cannot sign: {e}"))?
        .into();
    let signable = SignableRequest::new(method, url, headers.iter().copied(), body)
        .map_err(|e| format!("cannot sign: {e}"))?;
    let (instructions, _signature) = sign_request(signable, &params)
        .map_err(|e| format!("cannot sign: {e}"))?
        .into_parts();
    Ok(instructions
        .headers()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect())
}

/// The first 300 characters of a body, on one line.
pub(crate) fn excerpt(s: &str) -> String {
    let one: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() > 300 {
        format!("{}…", one.chars().take(300).collect::<String>())
    } else {
        one
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use aws_credential_types::Credentials;
    use aws_credential_types::provider::SharedCredentialsProvider;

    use super::*;
    use crate::env::Env;
    use crate::net::Net;

    /// A server that accepts connections, counts them and never answers.
    async fn silent_server() -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                held.push(s);
            }
        });
        (url, accepted)
    }

    #[tokio::test]
    async fn a_call_in_flight_ends_at_the_signal_and_none_is_sent_after_it() {
        let (url, accepted) = silent_server().await;
        let env = Env::from_pairs([("AWS_ENDPOINT_URL", url.as_str())]);
        let creds = SharedCredentialsProvider::new(Credentials::new(
            "AKIDTEST", "secret", None, None, "test",
        ));
        let sdk = crate::aws::sdk_config(&env, "eu-west-1", Some(creds));
        let http = Net::from_env(&env).reqwest().build().unwrap();
        let (handle, cancel) = crate::cancel::pair();
        let rpc = JsonRpc::new(&sdk, super::super::ecr::SERVICE, http).with_cancel(cancel);
        let body = serde_json::json!({});
        let call = rpc.call("DescribeRepositories", &body);
        let signal = async {
            // The request is in flight (the server holds it) when the signal comes.
            while accepted.load(Ordering::SeqCst) == 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            handle.cancel("SIGTERM");
        };
        let (r, ()) = tokio::join!(call, signal);
        let e = r.unwrap_err();
        assert_eq!(e.message, "cancelled by SIGTERM", "{e}");
        assert_eq!(e.code, None);
        // Not retried, and a call after the signal sends nothing.
        let e = rpc.call("DescribeRepositories", &body).await.unwrap_err();
        assert_eq!(e.message, "cancelled by SIGTERM", "{e}");
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }
}
