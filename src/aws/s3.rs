//! A small SigV4-signed S3 client for the three calls stevedore makes: `HeadObject`, `PutObject` (a file
//! streamed from disk, or bytes) and `GetObject`.
//!
//! It replaces `aws-sdk-s3`, whose flexible-checksum tables alone were 0.7 MB of the 16 MB image
//! (BENCHMARKS.md "Action image"). The REST protocol it speaks: objects at `/<key>` of
//! `https://<bucket>.<host>` (virtual-hosted; the host S3's endpoint rules give for the region, partition and
//! FIPS/dual-stack flags, [`super::endpoints::S3`]: `s3.<region>.amazonaws.com`, `s3-fips.dualstack…`), or
//! `/<bucket>/<key>` of the endpoint when
//! `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL` is set (moto, MinIO) or the bucket name has dots (a wildcard
//! certificate covers one label); the payload's SHA-256 signed in `x-amz-content-sha256`; user metadata in
//! `x-amz-meta-*`; errors as `<Error><Code>…</Code><Message>…</Message></Error>` (none on `HEAD`: the status
//! says it). Throttling (`SlowDown`, 503), 5xx and transport errors are retried (3 attempts, jittered).

use std::path::Path;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SigningSettings,
    UriPathNormalizationMode,
};
use reqwest::header::HeaderMap;

use super::call::{self, CallError};
use super::endpoints::{self, EndpointError};
use super::json_rpc::{excerpt, sign_with};
use crate::net::retry::{self, Attempt, Backoff, Retries};

const SERVICE: &str = "S3";
/// A whole bundle goes up in one request: generous, and per attempt.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);
const ATTEMPTS: u32 = 3;
/// About 300 ms, then 600 ms.
const BACKOFF: Backoff = Backoff {
    first: Duration::from_millis(300),
    max: Duration::from_secs(5),
};
/// SHA-256 of nothing: the payload hash of `HEAD` and `GET`.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// What `HeadObject` tells about an object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Head {
    /// `x-amz-version-id`, when the bucket is versioned.
    pub version_id: Option<String>,
    /// `x-amz-meta-<name>` values, by lower-case name.
    pub metadata: Vec<(String, String)>,
    /// `x-amz-checksum-sha256` (base64), asked for with `x-amz-checksum-mode: ENABLED`.
    pub checksum_sha256: Option<String>,
    /// `x-amz-checksum-type`: `FULL_OBJECT` or `COMPOSITE` (a multipart checksum of checksums).
    pub checksum_type: Option<String>,
}

impl Head {
    /// The user metadata `name` (without `x-amz-meta-`).
    #[must_use]
    pub fn meta(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.metadata
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The object's whole-content SHA-256 (base64), when S3 has one: not for a composite (multipart)
    /// checksum.
    #[must_use]
    pub fn full_object_sha256(&self) -> Option<&str> {
        let composite = self.checksum_type.as_deref() == Some("COMPOSITE");
        self.checksum_sha256
            .as_deref()
            .filter(|c| !composite && !c.contains('-'))
    }
}

/// What goes up in a `PutObject`.
#[derive(Clone, Copy, Debug)]
pub enum Body<'a> {
    /// A file, streamed: its size and the hex SHA-256 of its content (signed, so S3 checks it).
    File {
        path: &'a Path,
        size: u64,
        sha256_hex: &'a str,
    },
    /// Bytes in memory.
    Bytes(&'a [u8]),
}

/// One `PutObject`.
#[derive(Clone, Copy, Debug)]
pub struct Put<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub body: Body<'a>,
    pub content_type: &'a str,
    /// Sent as `x-amz-checksum-sha256` (base64): S3 rejects the object when the content differs.
    pub checksum_sha256: Option<&'a str>,
    /// User metadata, sent as `x-amz-meta-<name>`.
    pub metadata: &'a [(&'a str, &'a str)],
}

/// An S3 client: the run's credentials, region and endpoint, and its HTTP client (roots, proxy).
#[derive(Debug, Clone)]
pub struct S3 {
    sdk: SdkConfig,
    http: reqwest::Client,
    /// The configured endpoint (path-style addressing), without a trailing slash.
    endpoint: Option<String>,
    /// The host S3's endpoint rules give (`s3.eu-west-1.amazonaws.com`), or why there is none.
    host: Result<String, EndpointError>,
}

impl S3 {
    #[must_use]
    pub fn new(sdk: &SdkConfig, http: reqwest::Client) -> Self {
        Self {
            sdk: sdk.clone(),
            http,
            endpoint: endpoints::configured(sdk, SERVICE)
                .map(|e| e.trim_end_matches('/').to_owned()),
            host: endpoints::resolve(
                SERVICE,
                &endpoints::S3,
                sdk.region().map_or("us-east-1", |r| r.as_ref()),
                endpoints::Variants::of(sdk),
            ),
        }
    }

    /// The error of an operation that has no endpoint.
    fn refused(op: &'static str, bucket: &str, key: &str, e: &EndpointError) -> CallError {
        CallError::plain(
            SERVICE,
            op,
            format!("s3://{bucket}/{key}"),
            None,
            e.to_string(),
        )
    }

    /// The URL of `key` in `bucket`, or why S3 has no endpoint here.
    pub fn url(&self, bucket: &str, key: &str) -> Result<String, EndpointError> {
        let key = encode_key(key);
        if let Some(e) = &self.endpoint {
            return Ok(format!("{e}/{}/{key}", encode_key(bucket)));
        }
        let host = self.host.as_ref().map_err(Clone::clone)?;
        Ok(if virtual_hostable(bucket) {
            format!("https://{bucket}.{host}/{key}")
        } else {
            format!("https://{host}/{}/{key}", encode_key(bucket))
        })
    }

    /// `HeadObject` with checksums asked for; `None` when there is no such object.
    pub async fn head(&self, bucket: &str, key: &str) -> Result<Option<Head>, CallError> {
        let url = self
            .url(bucket, key)
            .map_err(|e| Self::refused("HeadObject", bucket, key, &e))?;
        let got = self
            .send("HeadObject", bucket, key, || async {
                let r = self
                    .signed(
                        reqwest::Method::HEAD,
                        &url,
                        &[("x-amz-checksum-mode", "ENABLED")],
                        EMPTY_SHA256,
                    )
                    .await?;
                Ok(r)
            })
            .await;
        let (headers, _) = match got {
            Ok(r) => r,
            Err(e) if e.status == Some(404) => return Ok(None),
            Err(e) => return Err(e),
        };
        let text = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let metadata = headers
            .iter()
            .filter_map(|(k, v)| {
                let name = k.as_str().strip_prefix("x-amz-meta-")?;
                Some((name.to_owned(), v.to_str().ok()?.to_owned()))
            })
            .collect();
        Ok(Some(Head {
            version_id: text("x-amz-version-id"),
            metadata,
            checksum_sha256: text("x-amz-checksum-sha256"),
            checksum_type: text("x-amz-checksum-type"),
        }))
    }

    /// `PutObject`; the new object's version id when the bucket is versioned.
    pub async fn put(&self, put: Put<'_>) -> Result<Option<String>, CallError> {
        let url = self
            .url(put.bucket, put.key)
            .map_err(|e| Self::refused("PutObject", put.bucket, put.key, &e))?;
        let (size, sha) = match put.body {
            Body::File {
                size, sha256_hex, ..
            } => (size, sha256_hex.to_owned()),
            Body::Bytes(b) => (b.len() as u64, sha256_hex(b)),
        };
        let size = size.to_string();
        let meta_names: Vec<String> = put
            .metadata
            .iter()
            .map(|(k, _)| format!("x-amz-meta-{}", k.to_ascii_lowercase()))
            .collect();
        let mut headers: Vec<(&str, &str)> = vec![
            ("content-type", put.content_type),
            ("content-length", size.as_str()),
        ];
        if let Some(c) = put.checksum_sha256 {
            headers.push(("x-amz-checksum-sha256", c));
        }
        for (name, (_, value)) in meta_names.iter().zip(put.metadata) {
            headers.push((name.as_str(), value));
        }
        let (answer, _) = self
            .send("PutObject", put.bucket, put.key, || async {
                let body = match put.body {
                    Body::File { path, .. } => {
                        let file = tokio::fs::File::open(path).await.map_err(|e| {
                            Failure::Fatal(format!("cannot read `{}`: {e}", path.display()))
                        })?;
                        reqwest::Body::from(file)
                    }
                    Body::Bytes(b) => reqwest::Body::from(b.to_vec()),
                };
                self.signed_with_body(reqwest::Method::PUT, &url, &headers, &sha, body)
                    .await
            })
            .await?;
        Ok(answer
            .get("x-amz-version-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned))
    }

    /// `GetObject`: the whole body.
    pub async fn get(&self, bucket: &str, key: &str) -> Result<Vec<u8>, CallError> {
        let url = self
            .url(bucket, key)
            .map_err(|e| Self::refused("GetObject", bucket, key, &e))?;
        let (_, body) = self
            .send("GetObject", bucket, key, || async {
                self.signed(reqwest::Method::GET, &url, &[], EMPTY_SHA256)
                    .await
            })
            .await?;
        Ok(body)
    }

    /// Runs one operation with retries; the answer's headers and body, or the call's error.
    async fn send<F, Fut>(
        &self,
        op: &'static str,
        bucket: &str,
        key: &str,
        attempt: F,
    ) -> Result<(HeaderMap, Vec<u8>), CallError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<reqwest::Response, Failure>>,
    {
        let resource = format!("s3://{bucket}/{key}");
        let err =
            |code: Option<String>, status: Option<u16>, message: String, transient| CallError {
                service: SERVICE,
                op,
                resource: resource.clone(),
                code,
                status,
                message,
                transient,
            };
        let retries = Retries::attempts(ATTEMPTS, BACKOFF);
        retry::run(op, retries, |_| async {
            let resp = match attempt().await {
                Ok(r) => r,
                Err(Failure::Fatal(m)) => {
                    return Err(Attempt::Permanent(err(None, None, m, false)));
                }
                Err(Failure::Transport(m)) => {
                    return Err(Attempt::Transient(err(None, None, m, true)));
                }
            };
            let status = resp.status();
            let headers = resp.headers().clone();
            let body = resp
                .bytes()
                .await
                .map_err(|e| Attempt::Transient(err(None, None, e.to_string(), true)))?;
            if status.is_success() {
                return Ok((headers, body.to_vec()));
            }
            let (code, message) = error_of(status.as_u16(), &headers, &body);
            let transient = call::transient(status.as_u16(), code.as_deref());
            let shown = match &code {
                Some(c) => format!("HTTP {}: {c}: {message}", status.as_u16()),
                None => format!("HTTP {}: {message}", status.as_u16()),
            };
            let e = err(code, Some(status.as_u16()), shown, transient);
            Err(if transient {
                Attempt::Transient(e)
            } else {
                Attempt::Permanent(e)
            })
        })
        .await
        .map_err(|g| g.error)
    }

    async fn signed(
        &self,
        method: reqwest::Method,
        url: &str,
        headers: &[(&str, &str)],
        payload_sha256: &str,
    ) -> Result<reqwest::Response, Failure> {
        self.signed_with_body(
            method,
            url,
            headers,
            payload_sha256,
            reqwest::Body::from(""),
        )
        .await
    }

    async fn signed_with_body(
        &self,
        method: reqwest::Method,
        url: &str,
        headers: &[(&str, &str)],
        payload_sha256: &str,
        body: reqwest::Body,
    ) -> Result<reqwest::Response, Failure> {
        let mut settings = SigningSettings::default();
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        let signed = sign_with(
            &self.sdk,
            "s3",
            method.as_str(),
            url,
            headers,
            SignableBody::Precomputed(payload_sha256.to_owned()),
            settings,
        )
        .await
        .map_err(Failure::Fatal)?;
        let mut req = self
            .http
            .request(method, url)
            .timeout(REQUEST_TIMEOUT)
            .body(body);
        for (k, v) in headers.iter().copied() {
            req = req.header(k, v);
        }
        for (k, v) in signed {
            req = req.header(k, v);
        }
        req.send()
            .await
            .map_err(|e| Failure::Transport(format!("{url} did not answer: {e}")))
    }
}

/// Why an attempt produced no answer.
enum Failure {
    /// Signing or reading the file: retrying cannot help.
    Fatal(String),
    /// The connection: a retry may.
    Transport(String),
}

/// The error code and message of a failed answer: from the XML body, or from the status when there is
/// none (`HEAD`).
fn error_of(status: u16, headers: &HeaderMap, body: &[u8]) -> (Option<String>, String) {
    let text = String::from_utf8_lossy(body);
    let code = xml_text(&text, "Code");
    let message = xml_text(&text, "Message");
    let region = headers
        .get("x-amz-bucket-region")
        .and_then(|v| v.to_str().ok());
    let code = code.or_else(|| {
        Some(
            match status {
                301 => "PermanentRedirect",
                400 => "BadRequest",
                403 => "AccessDenied",
                404 => "NotFound",
                _ => return None,
            }
            .to_owned(),
        )
    });
    let mut message = message.unwrap_or_else(|| {
        if text.trim().is_empty() {
            match status {
                301 => "the bucket is in another region".to_owned(),
                403 => "Access Denied".to_owned(),
                404 => "Not Found".to_owned(),
                _ => "no error body".to_owned(),
            }
        } else {
            excerpt(&text)
        }
    });
    if let Some(r) = region.filter(|_| status == 301 || status == 400) {
        message.push_str(&format!(" (the bucket is in `{r}`)"));
    }
    (code, message)
}

/// The unescaped text of the first `<tag>…</tag>` of a small XML error document.
fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let len = xml[start..].find(&close)?;
    let raw = &xml[start..start + len];
    let text = quick_xml::escape::unescape(raw).map_or_else(|_| raw.to_owned(), |t| t.into_owned());
    Some(text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// A key (or bucket) as a URL path: every byte but unreserved characters and `/` percent-encoded, as S3
/// signs it.
fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A bucket that can be a host name under a wildcard certificate: lower-case letters, digits and
/// hyphens (a dot would add a label the certificate does not cover).
fn virtual_hostable(bucket: &str) -> bool {
    (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !bucket.starts_with('-')
        && !bucket.ends_with('-')
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(endpoint: Option<&str>, region: &str) -> S3 {
        let mut pairs = vec![];
        if let Some(e) = endpoint {
            pairs.push(("AWS_ENDPOINT_URL_S3", e));
        }
        with(&pairs, region)
    }

    fn with(pairs: &[(&str, &str)], region: &str) -> S3 {
        let env = crate::env::Env::from_pairs(pairs.iter().copied());
        S3::new(
            &crate::aws::sdk_config(&env, region, None),
            crate::net::Net::from_env(&env).reqwest().build().unwrap(),
        )
    }

    #[test]
    fn fips_and_dual_stack_hosts_follow_the_rule_set_and_the_override_wins() {
        let fips = ("AWS_USE_FIPS_ENDPOINT", "true");
        let dual = ("AWS_USE_DUALSTACK_ENDPOINT", "true");
        assert_eq!(
            with(&[fips, dual], "us-gov-west-1")
                .url("artifacts", "k")
                .unwrap(),
            "https://artifacts.s3-fips.dualstack.us-gov-west-1.amazonaws.com/k"
        );
        assert_eq!(
            with(&[dual], "eu-west-1").url("my.bucket", "k").unwrap(),
            "https://s3.dualstack.eu-west-1.amazonaws.com/my.bucket/k"
        );
        // S3 has no FIPS endpoint in China: an error, not a guess.
        let e = with(&[fips], "cn-north-1")
            .url("artifacts", "k")
            .unwrap_err();
        assert!(
            e.to_string().contains("Partition does not support FIPS"),
            "{e}"
        );
        assert!(e.to_string().contains("AWS_ENDPOINT_URL_S3"), "{e}");
        assert_eq!(
            with(
                &[fips, ("AWS_ENDPOINT_URL", "http://127.0.0.1:9")],
                "cn-north-1"
            )
            .url("artifacts", "k")
            .unwrap(),
            "http://127.0.0.1:9/artifacts/k"
        );
    }

    #[tokio::test]
    async fn an_operation_without_an_endpoint_fails_naming_the_variable() {
        let s3 = with(&[("AWS_USE_FIPS_ENDPOINT", "true")], "cn-north-1");
        let e = s3.get("artifacts", "k").await.unwrap_err();
        assert_eq!(e.op, "GetObject");
        assert!(e.message.contains("AWS_USE_FIPS_ENDPOINT"), "{e}");
    }

    #[test]
    fn urls_are_virtual_hosted_on_aws_and_path_style_on_an_endpoint() {
        let aws = client(None, "eu-west-1");
        assert_eq!(
            aws.url("artifacts", "backend/1.4.0/lambda.zip").unwrap(),
            "https://artifacts.s3.eu-west-1.amazonaws.com/backend/1.4.0/lambda.zip"
        );
        assert_eq!(
            aws.url("my.bucket", "a b/c+d").unwrap(),
            "https://s3.eu-west-1.amazonaws.com/my.bucket/a%20b/c%2Bd"
        );
        assert_eq!(
            client(None, "cn-north-1").url("b-1", "k").unwrap(),
            "https://b-1.s3.cn-north-1.amazonaws.com.cn/k"
        );
        assert_eq!(
            client(Some("http://127.0.0.1:5000"), "eu-west-1")
                .url("artifacts", "x/ü.zip")
                .unwrap(),
            "http://127.0.0.1:5000/artifacts/x/%C3%BC.zip"
        );
    }

    #[test]
    fn errors_come_from_the_xml_body_or_the_status() {
        let body = b"<?xml version=\"1.0\"?><Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist &amp; never did</Message></Error>";
        let (code, message) = error_of(404, &HeaderMap::new(), body);
        assert_eq!(code.as_deref(), Some("NoSuchBucket"));
        assert_eq!(message, "The specified bucket does not exist & never did");
        let (code, message) = error_of(403, &HeaderMap::new(), b"");
        assert_eq!(
            (code.as_deref(), message.as_str()),
            (Some("AccessDenied"), "Access Denied")
        );
        let mut h = HeaderMap::new();
        h.insert(
            "x-amz-bucket-region",
            reqwest::header::HeaderValue::from_static("us-west-2"),
        );
        let (code, message) = error_of(301, &h, b"");
        assert_eq!(code.as_deref(), Some("PermanentRedirect"));
        assert!(message.contains("`us-west-2`"), "{message}");
        let (code, _) = error_of(503, &HeaderMap::new(), b"");
        assert_eq!(code, None);
    }

    #[test]
    fn a_composite_checksum_is_not_the_content_hash() {
        let mut h = Head {
            checksum_sha256: Some("abc=".into()),
            checksum_type: Some("FULL_OBJECT".into()),
            ..Head::default()
        };
        assert_eq!(h.full_object_sha256(), Some("abc="));
        h.checksum_type = Some("COMPOSITE".into());
        assert_eq!(h.full_object_sha256(), None);
        h.checksum_type = None;
        h.checksum_sha256 = Some("abc=-3".into());
        assert_eq!(h.full_object_sha256(), None);
    }

    #[test]
    fn bucket_names_with_dots_or_capitals_are_not_virtual_hosted() {
        assert!(virtual_hostable("artifacts-123"));
        assert!(!virtual_hostable("my.bucket"));
        assert!(!virtual_hostable("Upper"));
        assert!(!virtual_hostable("ab"));
    }
}
