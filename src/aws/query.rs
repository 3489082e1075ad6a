//! A small SigV4-signed client for AWS Query-protocol services (`awsQuery`): `POST /` with a form-encoded
//! body `Action=<Operation>&Version=<API version>&<parameters>`, XML answers
//! (`<OperationResponse><OperationResult>…`), errors as
//! `<ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse>`.
//!
//! The sibling of [`super::json_rpc`], for Elastic Load Balancing v2 (the preview target groups and
//! listener rules): a generated SDK crate for a handful of calls costs more image size than this file.
//! Endpoint resolution and signing are [`super::json_rpc`]'s; every request is guarded by the run's
//! [`Cancel`]. Throttling, 5xx and transport errors are retried (3 attempts, jittered).

use std::time::Duration;

use aws_config::SdkConfig;
use quick_xml::Reader;
use quick_xml::events::Event;

use super::call::CallError;
use super::endpoints::{self, EndpointError, Rules};
use super::json_rpc::{excerpt, signed_post};
use crate::cancel::Cancel;

const ATTEMPTS: u32 = 3;
const CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";

/// Which Query service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryService {
    /// The SDK service id: `AWS_ENDPOINT_URL_<ID>` (spaces as `_`) overrides the endpoint.
    pub service_id: &'static str,
    /// The SigV4 signing name.
    pub signing_name: &'static str,
    /// The endpoint rules.
    pub endpoint: &'static Rules,
    /// The `Version` parameter.
    pub version: &'static str,
}

/// Elastic Load Balancing v2 (`AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2`).
pub const ELBV2: QueryService = QueryService {
    service_id: "Elastic Load Balancing v2",
    signing_name: "elasticloadbalancing",
    endpoint: &endpoints::ELBV2,
    version: "2015-12-01",
};

/// An XML element of an answer: local name, text, children in document order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    pub text: String,
    pub children: Vec<Node>,
}

impl Node {
    /// The first child called `name`.
    #[must_use]
    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The descendant at `path` (each step the first child of that name).
    #[must_use]
    pub fn at(&self, path: &[&str]) -> Option<&Node> {
        path.iter().try_fold(self, |n, p| n.child(p))
    }

    /// The text of the descendant at `path`, when present.
    #[must_use]
    pub fn text_at(&self, path: &[&str]) -> Option<&str> {
        self.at(path).map(|n| n.text.as_str())
    }

    /// The `<member>` items of the list at `path` (none when it is absent).
    #[must_use]
    pub fn members(&self, path: &[&str]) -> Vec<&Node> {
        self.at(path)
            .map(|l| l.children.iter().filter(|c| c.name == "member").collect())
            .unwrap_or_default()
    }

    /// Parses a document; its root element.
    pub fn parse(xml: &str) -> Result<Node, String> {
        let mut reader = Reader::from_str(xml);
        let mut stack: Vec<Node> = Vec::new();
        loop {
            match reader.read_event() {
                Err(e) => {
                    return Err(format!(
                        "invalid XML at byte {}: {e}",
                        reader.buffer_position()
                    ));
                }
                Ok(Event::Start(e)) => stack.push(Node {
                    name: e.local_name().as_ref().to_owned(),
                    ..Node::default()
                }),
                Ok(Event::Empty(e)) => {
                    let n = Node {
                        name: e.local_name().as_ref().to_owned(),
                        ..Node::default()
                    };
                    match stack.last_mut() {
                        Some(p) => p.children.push(n),
                        None => return Ok(n),
                    }
                }
                Ok(Event::Text(t)) => {
                    if let Some(n) = stack.last_mut() {
                        n.text.push_str(&t.xml10_content());
                    }
                }
                Ok(Event::CData(t)) => {
                    if let Some(n) = stack.last_mut() {
                        n.text.push_str(&t.xml10_content());
                    }
                }
                Ok(Event::GeneralRef(r)) => {
                    if let Some(n) = stack.last_mut() {
                        n.text.push_str(&crate::xml::entity(&r));
                    }
                }
                Ok(Event::End(_)) => {
                    let Some(done) = stack.pop() else {
                        return Err("unbalanced XML".into());
                    };
                    match stack.last_mut() {
                        Some(p) => p.children.push(done),
                        None => return Ok(done),
                    }
                }
                Ok(Event::Eof) => return Err("the XML document has no root element".into()),
                Ok(_) => {}
            }
        }
    }
}

/// Request parameters in the Query shape: `Names.member.1=…`, `Tags.member.1.Key=…`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// `key=value`.
    #[must_use]
    pub fn set(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.0.push((key.into(), value.into()));
        self
    }

    /// A list of strings: `key.member.1=…`.
    #[must_use]
    pub fn list<S: AsRef<str>>(mut self, key: &str, values: &[S]) -> Self {
        for (i, v) in values.iter().enumerate() {
            self.0
                .push((format!("{key}.member.{}", i + 1), v.as_ref().to_owned()));
        }
        self
    }

    /// A list of `Key`/`Value` structures (tags): `key.member.1.Key=…&key.member.1.Value=…`.
    #[must_use]
    pub fn tags(mut self, key: &str, tags: &[(String, String)]) -> Self {
        for (i, (k, v)) in tags.iter().enumerate() {
            self.0
                .push((format!("{key}.member.{}.Key", i + 1), k.clone()));
            self.0
                .push((format!("{key}.member.{}.Value", i + 1), v.clone()));
        }
        self
    }

    /// The form body for `action` of `service`.
    #[must_use]
    pub fn body(&self, service: QueryService, action: &str) -> String {
        let mut f = url::form_urlencoded::Serializer::new(String::new());
        f.append_pair("Action", action);
        f.append_pair("Version", service.version);
        for (k, v) in &self.0 {
            f.append_pair(k, v);
        }
        f.finish()
    }
}

/// A signed Query client for one service.
#[derive(Debug, Clone)]
pub struct Query {
    sdk: SdkConfig,
    service: QueryService,
    /// The endpoint, or why the service has none here (every call fails with it).
    url: Result<String, EndpointError>,
    http: reqwest::Client,
    cancel: Cancel,
}

impl Query {
    /// The client for `service` with `sdk`'s credentials, region and endpoint overrides; `http` carries
    /// the run's roots and proxy; `cancel` ends a request in flight and refuses new ones.
    #[must_use]
    pub fn new(
        sdk: &SdkConfig,
        service: QueryService,
        http: reqwest::Client,
        cancel: Cancel,
    ) -> Self {
        Self {
            sdk: sdk.clone(),
            service,
            url: endpoints::url(sdk, service.service_id, service.endpoint),
            http,
            cancel,
        }
    }

    /// The endpoint calls go to, or why there is none.
    pub fn url(&self) -> Result<&str, &EndpointError> {
        self.url.as_deref()
    }

    fn err(&self, op: &'static str, code: Option<String>, message: String) -> CallError {
        CallError::plain(self.service.service_id, op, "", code, message)
    }

    /// Calls `action`; the `<ActionResult>` element (an empty one when the answer has none).
    pub async fn call(&self, action: &'static str, params: &Params) -> Result<Node, CallError> {
        let doc = self.call_raw(action, params).await?;
        Ok(doc
            .child(&format!("{action}Result"))
            .cloned()
            .unwrap_or_default())
    }

    /// Calls `action`; the whole answer's root element (EC2's answers have no `<ActionResult>`).
    pub async fn call_raw(&self, action: &'static str, params: &Params) -> Result<Node, CallError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.call_once(action, params).await {
                Err((e, retryable)) if retryable && attempt < ATTEMPTS => {
                    let ms = 200 * u64::from(2_u32.pow(attempt)) + rand::random_range(0..200);
                    tracing::debug!("{e}; retrying in {ms} ms");
                    let slept = self
                        .cancel
                        .guard(tokio::time::sleep(Duration::from_millis(ms)))
                        .await;
                    if let Err(c) = slept {
                        return Err(self.err(action, None, c.to_string()));
                    }
                }
                Err((e, _)) => return Err(e),
                Ok(v) => return Ok(v),
            }
        }
    }

    async fn call_once(
        &self,
        action: &'static str,
        params: &Params,
    ) -> Result<Node, (CallError, bool)> {
        let fatal = |e: CallError| (e, false);
        let url = self
            .url
            .as_deref()
            .map_err(|e| fatal(self.err(action, None, e.to_string())))?;
        let body = params.body(self.service, action);
        let req = signed_post(
            &self.http,
            &self.sdk,
            self.service.signing_name,
            url,
            &[("content-type", CONTENT_TYPE)],
            body,
        )
        .await
        .map_err(|m| fatal(self.err(action, None, m)))?;
        let sent = self
            .cancel
            .guard(async {
                let resp = req.send().await?;
                let status = resp.status();
                resp.text().await.map(|t| (status, t))
            })
            .await
            .map_err(|c| fatal(self.err(action, None, c.to_string())))?;
        let (status, text) = sent.map_err(|e| {
            (
                self.err(action, None, format!("{url} did not answer: {e}")),
                true,
            )
        })?;
        let doc = Node::parse(&text);
        if !status.is_success() {
            let error = doc.as_ref().ok().and_then(|d| {
                // `<ErrorResponse><Error>`; some services answer `<Response><Errors><Error>`.
                d.child("Error")
                    .or_else(|| d.at(&["Errors", "Error"]))
                    .cloned()
            });
            let code = error
                .as_ref()
                .and_then(|e| e.text_at(&["Code"]))
                .map(str::to_owned);
            let message = error
                .as_ref()
                .and_then(|e| e.text_at(&["Message"]))
                .map_or_else(|| excerpt(&text), str::to_owned);
            let retryable = status.is_server_error()
                || code
                    .as_deref()
                    .is_some_and(|c| c.contains("Throttl") || c == "RequestLimitExceeded");
            let shown = match &code {
                Some(c) => format!("HTTP {}: {c}: {message}", status.as_u16()),
                None => format!("HTTP {}: {message}", status.as_u16()),
            };
            return Err((self.err(action, code, shown), retryable));
        }
        let doc = doc.map_err(|e| {
            fatal(self.err(
                action,
                None,
                format!("unexpected answer ({e}): {}", excerpt(&text)),
            ))
        })?;
        Ok(doc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_and_errors_parse() {
        let ok = r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeTargetGroupsResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/">
  <DescribeTargetGroupsResult>
    <TargetGroups>
      <member><TargetGroupName>web</TargetGroupName><Port>80</Port><Matcher><HttpCode>200</HttpCode></Matcher></member>
      <member><TargetGroupName>a&amp;b</TargetGroupName><Port/></member>
    </TargetGroups>
  </DescribeTargetGroupsResult>
  <ResponseMetadata><RequestId>x</RequestId></ResponseMetadata>
</DescribeTargetGroupsResponse>"#;
        let d = Node::parse(ok).unwrap();
        let r = d.child("DescribeTargetGroupsResult").unwrap();
        let tgs = r.members(&["TargetGroups"]);
        assert_eq!(tgs.len(), 2);
        assert_eq!(tgs[0].text_at(&["Matcher", "HttpCode"]), Some("200"));
        assert_eq!(tgs[1].text_at(&["TargetGroupName"]), Some("a&b"));
        assert_eq!(tgs[1].text_at(&["Port"]), Some(""));
        assert!(r.members(&["Nothing"]).is_empty());
        let e = Node::parse(
            "<ErrorResponse><Error><Type>Sender</Type><Code>TargetGroupNotFound</Code><Message>One or more target groups not found</Message></Error><RequestId>1</RequestId></ErrorResponse>",
        )
        .unwrap();
        assert_eq!(e.text_at(&["Error", "Code"]), Some("TargetGroupNotFound"));
        assert!(Node::parse("<a><b></a>").is_err());
        assert!(Node::parse("").is_err());
    }

    #[test]
    fn parameters_are_form_encoded_in_the_query_shape() {
        let p = Params::new()
            .set("ListenerArn", "arn:aws:x/y")
            .list("Names", &["a b", "c"])
            .tags("Tags", &[("k:1".into(), "repo=o/r pr=1".into())]);
        assert_eq!(
            p.body(ELBV2, "DescribeTargetGroups"),
            "Action=DescribeTargetGroups&Version=2015-12-01&ListenerArn=arn%3Aaws%3Ax%2Fy&Names.member.1=a+b&Names.member.2=c&Tags.member.1.Key=k%3A1&Tags.member.1.Value=repo%3Do%2Fr+pr%3D1"
        );
    }
}
