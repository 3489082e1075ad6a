//! CloudWatch `DescribeAlarms` over the `awsJson1_0` protocol, SigV4-signed with the deploy's credentials.
//!
//! Why not `aws-sdk-cloudwatch`: since 2025 the Rust SDK speaks only Smithy RPCv2 CBOR to CloudWatch.
//! CloudWatch itself serves three protocols (Query, JSON 1.0, CBOR), but moto, the AWS double our tests
//! run against, implements Query and JSON only (getmoto/moto#9195). One small read-only call does not
//! justify giving up tests against a real implementation, so this module sends the JSON 1.0 form:
//! `POST /` with `X-Amz-Target: GraniteServiceVersion20100801.DescribeAlarms`.

use std::time::SystemTime;

use aws_config::SdkConfig;
use aws_credential_types::provider::ProvideCredentials as _;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use aws_types::service_config::ServiceConfigKey;
use serde::Deserialize;

use super::LambdaError;
use crate::aws::call::CallError;

const TARGET: &str = "GraniteServiceVersion20100801.DescribeAlarms";
const CONTENT_TYPE: &str = "application/x-amz-json-1.0";
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A signed JSON-protocol CloudWatch client for alarm states.
#[derive(Debug)]
pub struct CloudWatch {
    sdk: SdkConfig,
    url: String,
}

/// One alarm's name and state.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Alarm {
    #[serde(rename = "AlarmName")]
    pub name: String,
    #[serde(rename = "StateValue", default)]
    pub state: String,
}

#[derive(Debug, Deserialize)]
struct Page {
    #[serde(rename = "MetricAlarms", default)]
    metric: Vec<Alarm>,
    #[serde(rename = "CompositeAlarms", default)]
    composite: Vec<Alarm>,
    #[serde(rename = "NextToken", default)]
    next: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    #[serde(rename = "__type", default)]
    kind: String,
    #[serde(default, alias = "Message")]
    message: String,
}

impl CloudWatch {
    /// Endpoint: `AWS_ENDPOINT_URL` as configured on `sdk`, else the regional endpoint.
    #[must_use]
    pub fn new(sdk: &SdkConfig) -> Self {
        // Per-service override first (`AWS_ENDPOINT_URL_CLOUDWATCH`), as the SDK clients resolve it.
        let per_service = sdk.service_config().and_then(|c| {
            c.load_config(
                ServiceConfigKey::builder()
                    .service_id("CloudWatch")
                    .env("AWS_ENDPOINT_URL")
                    .profile("endpoint_url")
                    .build()
                    .ok()?,
            )
        });
        let url = match per_service.as_deref().or(sdk.endpoint_url()) {
            Some(e) => format!("{}/", e.trim_end_matches('/')),
            None => format!(
                "https://monitoring.{}.amazonaws.com/",
                sdk.region().map_or("us-east-1", |r| r.as_ref())
            ),
        };
        Self {
            sdk: sdk.clone(),
            url,
        }
    }

    fn err(&self, names: &[String], code: Option<String>, message: String) -> LambdaError {
        LambdaError::Aws(self.call_error(names, code, message))
    }

    fn call_error(&self, names: &[String], code: Option<String>, message: String) -> CallError {
        CallError {
            service: "CloudWatch",
            op: "DescribeAlarms",
            resource: names.join(", "),
            code,
            status: None,
            message,
            transient: false,
        }
    }

    /// The named alarms (metric and composite) that exist, with their states; follows `NextToken`.
    pub async fn describe_alarms(
        &self,
        http: &reqwest::Client,
        names: &[String],
    ) -> Result<Vec<Alarm>, LambdaError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut body = serde_json::json!({
                "AlarmNames": names,
                "AlarmTypes": ["MetricAlarm", "CompositeAlarm"],
            });
            if let Some(t) = &token {
                body["NextToken"] = serde_json::Value::String(t.clone());
            }
            let page: Page = self.call(http, names, &body.to_string()).await?;
            out.extend(page.metric);
            out.extend(page.composite);
            match page.next.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
    }

    async fn call(
        &self,
        http: &reqwest::Client,
        names: &[String],
        body: &str,
    ) -> Result<Page, LambdaError> {
        let creds = match self.sdk.credentials_provider() {
            Some(p) => p
                .provide_credentials()
                .await
                .map_err(|e| self.err(names, None, format!("no credentials: {e}")))?,
            None => return Err(self.err(names, None, "no credentials provider".into())),
        };
        let region = self
            .sdk
            .region()
            .map(|r| r.as_ref().to_owned())
            .ok_or_else(|| self.err(names, None, "no region".into()))?;
        let identity: Identity = creds.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&region)
            .name("monitoring")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| self.err(names, None, format!("cannot sign: {e}")))?
            .into();
        let headers = [("content-type", CONTENT_TYPE), ("x-amz-target", TARGET)];
        let signable = SignableRequest::new(
            "POST",
            &self.url,
            headers.iter().copied(),
            SignableBody::Bytes(body.as_bytes()),
        )
        .map_err(|e| self.err(names, None, format!("cannot sign: {e}")))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| self.err(names, None, format!("cannot sign: {e}")))?
            .into_parts();
        let mut req = http
            .post(&self.url)
            .timeout(REQUEST_TIMEOUT)
            .header("content-type", CONTENT_TYPE)
            .header("x-amz-target", TARGET)
            .body(body.to_owned());
        for (k, v) in instructions.headers() {
            req = req.header(k, v);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| self.err(names, None, format!("{} did not answer: {e}", self.url)))?;
        let status = resp.status();
        let text = resp
            .text()
            .await
            .map_err(|e| self.err(names, None, e.to_string()))?;
        if !status.is_success() {
            let e: Option<ErrorBody> = serde_json::from_str(&text).ok();
            let (code, message) = match e {
                Some(e) => (
                    // `__type` may be `com.amazonaws...#Code` or `Code`.
                    Some(e.kind.rsplit('#').next().unwrap_or_default().to_owned()),
                    e.message,
                ),
                None => (None, super::api::excerpt(&text)),
            };
            let status = status.as_u16();
            return Err(LambdaError::Aws(CallError {
                status: Some(status),
                transient: crate::aws::call::transient(status, code.as_deref()),
                ..self.call_error(names, code, format!("HTTP {status}: {message}"))
            }));
        }
        serde_json::from_str(&text).map_err(|e| {
            self.err(
                names,
                None,
                format!("unexpected answer ({e}): {}", super::api::excerpt(&text)),
            )
        })
    }
}
