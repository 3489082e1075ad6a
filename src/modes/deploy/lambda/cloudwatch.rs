//! CloudWatch `DescribeAlarms` over the `awsJson1_0` protocol, SigV4-signed with the deploy's credentials.
//!
//! Why not `aws-sdk-cloudwatch`: since 2025 the Rust SDK speaks only Smithy RPCv2 CBOR to CloudWatch.
//! CloudWatch itself serves three protocols (Query, JSON 1.0, CBOR), but moto, the AWS double our tests
//! run against, implements Query and JSON only (getmoto/moto#9195). One small read-only call does not
//! justify giving up tests against a real implementation, so this module sends the JSON 1.0 form:
//! `POST /` with `X-Amz-Target: GraniteServiceVersion20100801.DescribeAlarms`.

use aws_config::SdkConfig;
use serde::Deserialize;

use super::LambdaError;
use crate::aws::call::CallError;
use crate::aws::endpoints::{self, EndpointError};

const TARGET: &str = "GraniteServiceVersion20100801.DescribeAlarms";
const CONTENT_TYPE: &str = "application/x-amz-json-1.0";
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A signed JSON-protocol CloudWatch client for alarm states.
#[derive(Debug)]
pub struct CloudWatch {
    sdk: SdkConfig,
    /// The endpoint, or why CloudWatch has none here (every call fails with it).
    url: Result<String, EndpointError>,
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
    /// Endpoint: `AWS_ENDPOINT_URL_CLOUDWATCH`, then `AWS_ENDPOINT_URL`, as configured on `sdk`, else the
    /// host CloudWatch's endpoint rules give for the region, partition and FIPS/dual-stack flags
    /// ([`endpoints::CLOUDWATCH`]: `monitoring.cn-north-1.amazonaws.com.cn` in China).
    #[must_use]
    pub fn new(sdk: &SdkConfig) -> Self {
        Self {
            sdk: sdk.clone(),
            url: endpoints::url(sdk, "CloudWatch", &endpoints::CLOUDWATCH),
        }
    }

    /// The endpoint calls go to, or why there is none.
    pub fn url(&self) -> Result<&str, &EndpointError> {
        self.url.as_deref()
    }

    fn err(&self, names: &[String], code: Option<String>, message: String) -> LambdaError {
        LambdaError::Aws(self.call_error(names, code, message))
    }

    fn call_error(&self, names: &[String], code: Option<String>, message: String) -> CallError {
        CallError::plain(
            "CloudWatch",
            "DescribeAlarms",
            names.join(", "),
            code,
            message,
        )
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
        let url = self
            .url
            .as_deref()
            .map_err(|e| self.err(names, None, e.to_string()))?;
        let headers = [("content-type", CONTENT_TYPE), ("x-amz-target", TARGET)];
        let signed =
            crate::aws::json_rpc::sign(&self.sdk, "monitoring", url, &headers, body.as_bytes())
                .await
                .map_err(|m| self.err(names, None, m))?;
        let mut req = http
            .post(url)
            .timeout(REQUEST_TIMEOUT)
            .header("content-type", CONTENT_TYPE)
            .header("x-amz-target", TARGET)
            .body(body.to_owned());
        for (k, v) in signed {
            req = req.header(k, v);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| self.err(names, None, format!("{url} did not answer: {e}")))?;
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
                None => (None, crate::report::excerpt(&text)),
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
                format!("unexpected answer ({e}): {}", crate::report::excerpt(&text)),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Env;

    fn url(pairs: &[(&str, &str)], region: &str) -> String {
        let env = Env::from_pairs(pairs.iter().copied());
        CloudWatch::new(&crate::aws::sdk_config(&env, region, None))
            .url()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn alarms_in_china_go_to_the_china_domain_and_the_flags_are_honoured() {
        assert_eq!(
            url(&[], "cn-north-1"),
            "https://monitoring.cn-north-1.amazonaws.com.cn/"
        );
        assert_eq!(
            url(&[("AWS_USE_FIPS_ENDPOINT", "true")], "us-east-1"),
            "https://monitoring-fips.us-east-1.amazonaws.com/"
        );
        // GovCloud's plain host is its FIPS one (the rule set's exception).
        assert_eq!(
            url(&[("AWS_USE_FIPS_ENDPOINT", "true")], "us-gov-west-1"),
            "https://monitoring.us-gov-west-1.amazonaws.com/"
        );
        assert_eq!(
            url(&[("AWS_USE_DUALSTACK_ENDPOINT", "true")], "eu-west-1"),
            "https://monitoring.eu-west-1.api.aws/"
        );
        assert_eq!(
            url(
                &[
                    ("AWS_USE_FIPS_ENDPOINT", "true"),
                    ("AWS_ENDPOINT_URL_CLOUDWATCH", "http://127.0.0.1:7")
                ],
                "cn-north-1"
            ),
            "http://127.0.0.1:7/"
        );
    }
}
