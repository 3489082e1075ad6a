//! ECR (`awsJson1_1`, `X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.<Operation>`) through the signed
//! JSON-RPC client ([`super::json_rpc`]): the calls `build` (login, repository, scan findings) and `publish`
//! (promotion by digest) make, with typed requests and answers
//! (<https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_Operations.html>).
//!
//! Endpoint: `AWS_ENDPOINT_URL_ECR`, then `AWS_ENDPOINT_URL`, then the host ECR's endpoint rules give
//! ([`super::endpoints::ECR`]: `https://api.ecr.<region>.amazonaws.com/`, `api.ecr-fips`, `ecr.<region>.api.aws`).
//! Every request is guarded by the run's [`Cancel`] (from [`Net`]); throttling, 5xx and transport errors are
//! retried. A failed call is an [`CallError`] whose `code` is the ECR exception name
//! (`RepositoryNotFoundException`, ...): callers match on it, never on the message.

use std::collections::BTreeMap;

use aws_types::SdkConfig;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::call::CallError;
use super::json_rpc::{JsonRpc, Service};
use crate::cancel::Cancel;
use crate::net::Net;

/// ECR (awsJson1_1).
pub const SERVICE: Service = Service {
    service_id: "ECR",
    signing_name: "ecr",
    endpoint: &super::endpoints::ECR,
    content_type: "application/x-amz-json-1.1",
    target_prefix: "AmazonEC2ContainerRegistry_V20150921",
};

/// `imageId`: a digest, a tag, or both.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageId {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_digest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_tag: Option<String>,
}

impl ImageId {
    #[must_use]
    pub fn digest(digest: &str) -> Self {
        Self {
            image_digest: Some(digest.to_owned()),
            image_tag: None,
        }
    }

    #[must_use]
    pub fn tag(tag: &str) -> Self {
        Self {
            image_digest: None,
            image_tag: Some(tag.to_owned()),
        }
    }
}

/// One entry of `GetAuthorizationToken`'s `authorizationData`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizationData {
    /// Base64 `user:password`.
    pub authorization_token: Option<String>,
    /// `https://<account>.dkr.ecr.<region>.amazonaws.com`.
    pub proxy_endpoint: Option<String>,
}

/// A registry login read from `GetAuthorizationToken`'s first authorization: the registry's address
/// (`proxyEndpoint`) and the `user:password` its base64 token holds. The caller masks the token before it
/// reads it and the password once read.
#[derive(Debug)]
pub struct Login {
    pub endpoint: String,
    pub username: String,
    pub password: secrecy::SecretString,
}

impl Login {
    /// The login in `data`; `Err` says what the answer lacks.
    pub fn read(data: &[AuthorizationData]) -> Result<Login, &'static str> {
        use base64::Engine as _;
        let first = data
            .first()
            .ok_or("the answer holds no authorizationData")?;
        let token = first
            .authorization_token
            .as_deref()
            .ok_or("the answer holds no authorizationToken")?;
        let endpoint = first
            .proxy_endpoint
            .clone()
            .ok_or("the answer holds no proxyEndpoint")?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(token.trim())
            .map_err(|_| "the token is not base64")?;
        let decoded = String::from_utf8(decoded).map_err(|_| "the token is not UTF-8")?;
        let (username, password) = decoded
            .split_once(':')
            .ok_or("the token is not `user:password`")?;
        Ok(Login {
            endpoint,
            username: username.to_owned(),
            password: secrecy::SecretString::from(password.to_owned()),
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthorizationTokenOutput {
    #[serde(default)]
    authorization_data: Vec<AuthorizationData>,
}

/// A repository as `DescribeRepositories` and `CreateRepository` describe it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Repository {
    pub repository_name: Option<String>,
    pub repository_uri: Option<String>,
    pub registry_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Repositories {
    #[serde(default)]
    repositories: Vec<Repository>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreatedRepository {
    repository: Option<Repository>,
}

/// `CreateRepository`'s request.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateRepository {
    pub repository_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_scanning_configuration: Option<ScanningConfiguration>,
    /// `MUTABLE` (ECR's default) or `IMMUTABLE`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_tag_mutability: Option<String>,
}

/// `imageScanningConfiguration`.
#[derive(Clone, Copy, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanningConfiguration {
    pub scan_on_push: bool,
}

/// An image with its manifest (`BatchGetImage`, `PutImage`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Image {
    pub registry_id: Option<String>,
    pub repository_name: Option<String>,
    pub image_id: Option<ImageId>,
    pub image_manifest: Option<String>,
    pub image_manifest_media_type: Option<String>,
}

/// `PutImage`'s request.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PutImage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry_id: Option<String>,
    pub repository_name: String,
    pub image_manifest: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_manifest_media_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_tag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_digest: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PutImageOutput {
    image: Option<Image>,
}

/// `BatchGetImage`'s request.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchGetImage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry_id: Option<String>,
    pub repository_name: String,
    pub image_ids: Vec<ImageId>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub accepted_media_types: Vec<String>,
}

/// `BatchGetImage`'s answer: the images found and, for the others, why not.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchGetImageOutput {
    #[serde(default)]
    pub images: Vec<Image>,
    #[serde(default)]
    pub failures: Vec<ImageFailure>,
}

/// An image `BatchGetImage` could not return (`ImageNotFound`, ...).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageFailure {
    pub image_id: Option<ImageId>,
    pub failure_code: Option<String>,
    pub failure_reason: Option<String>,
}

/// `DescribeImageScanFindings`' answer (one page).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanFindingsPage {
    pub image_scan_status: Option<ScanStatus>,
    pub image_scan_findings: Option<ScanFindings>,
    /// More findings (the counts already cover all of them).
    pub next_token: Option<String>,
}

/// `imageScanStatus`: `IN_PROGRESS`, `COMPLETE`, `FAILED`, `UNSUPPORTED_IMAGE`, `ACTIVE`, `PENDING`, ...
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanStatus {
    pub status: Option<String>,
    pub description: Option<String>,
}

/// `imageScanFindings`: basic (`findings`) or enhanced (`enhancedFindings`), with counts per severity.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanFindings {
    #[serde(default)]
    pub finding_severity_counts: BTreeMap<String, i64>,
    #[serde(default)]
    pub findings: Vec<BasicFinding>,
    #[serde(default)]
    pub enhanced_findings: Vec<EnhancedFinding>,
}

/// A basic-scanning finding.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BasicFinding {
    pub name: Option<String>,
    pub uri: Option<String>,
    pub severity: Option<String>,
    #[serde(default)]
    pub attributes: Vec<Attribute>,
}

/// A finding attribute (`package_name`, `package_version`, ...).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attribute {
    pub key: String,
    pub value: Option<String>,
}

/// An enhanced-scanning (Inspector) finding.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnhancedFinding {
    pub title: Option<String>,
    pub severity: Option<String>,
    pub package_vulnerability_details: Option<VulnerabilityDetails>,
}

/// `packageVulnerabilityDetails`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VulnerabilityDetails {
    pub vulnerability_id: Option<String>,
    pub source_url: Option<String>,
}

/// A signed ECR client.
#[derive(Clone, Debug)]
pub struct Ecr {
    rpc: JsonRpc,
}

impl Ecr {
    /// The client for `sdk`'s credentials, region and endpoint overrides, over `net`'s roots and proxy, stopping
    /// at `net`'s [`Cancel`].
    pub fn new(sdk: &SdkConfig, net: &Net) -> Result<Self, reqwest::Error> {
        Ok(Self {
            rpc: JsonRpc::over(sdk, SERVICE, net)?,
        })
    }

    /// The endpoint calls go to, or why there is none.
    pub fn url(&self) -> Result<&str, &super::endpoints::EndpointError> {
        self.rpc.url()
    }

    /// The flag this client's requests stop at.
    #[must_use]
    pub fn cancel(&self) -> &Cancel {
        self.rpc.cancel()
    }

    /// Calls `op` with `body` and reads the answer as `T`.
    pub async fn call<T: DeserializeOwned>(
        &self,
        op: &'static str,
        body: &impl Serialize,
    ) -> Result<T, CallError> {
        self.rpc.call_as(op, "", body).await
    }

    /// `GetAuthorizationToken` for the caller's default registry.
    pub async fn get_authorization_token(&self) -> Result<Vec<AuthorizationData>, CallError> {
        let out: AuthorizationTokenOutput = self
            .call("GetAuthorizationToken", &serde_json::json!({}))
            .await?;
        Ok(out.authorization_data)
    }

    /// `DescribeRepositories` for `names`: one answer holds them all (ECR pages only listings without
    /// `repositoryNames`, which refuse `maxResults`).
    pub async fn describe_repositories(
        &self,
        names: &[&str],
    ) -> Result<Vec<Repository>, CallError> {
        let out: Repositories = self
            .call(
                "DescribeRepositories",
                &serde_json::json!({ "repositoryNames": names }),
            )
            .await?;
        Ok(out.repositories)
    }

    /// `CreateRepository`; the repository created.
    pub async fn create_repository(&self, req: &CreateRepository) -> Result<Repository, CallError> {
        let out: CreatedRepository = self.call("CreateRepository", req).await?;
        Ok(out.repository.unwrap_or_default())
    }

    /// `PutImage`; the image stored.
    pub async fn put_image(&self, req: &PutImage) -> Result<Image, CallError> {
        let out: PutImageOutput = self.call("PutImage", req).await?;
        Ok(out.image.unwrap_or_default())
    }

    /// `BatchGetImage`.
    pub async fn batch_get_image(
        &self,
        req: &BatchGetImage,
    ) -> Result<BatchGetImageOutput, CallError> {
        self.call("BatchGetImage", req).await
    }

    /// `StartImageScan` of `image` in `repository` (basic scanning without scan on push).
    pub async fn start_image_scan(
        &self,
        repository: &str,
        image: &ImageId,
    ) -> Result<(), CallError> {
        self.call::<Value>(
            "StartImageScan",
            &serde_json::json!({ "repositoryName": repository, "imageId": image }),
        )
        .await
        .map(drop)
    }

    /// The first page of `DescribeImageScanFindings` of `image` in `repository`.
    pub async fn describe_image_scan_findings(
        &self,
        repository: &str,
        image: &ImageId,
    ) -> Result<ScanFindingsPage, CallError> {
        self.call(
            "DescribeImageScanFindings",
            &serde_json::json!({ "repositoryName": repository, "imageId": image }),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_use_ecr_member_names_and_leave_out_what_is_unset() {
        let put = PutImage {
            repository_name: "app".into(),
            image_manifest: "{}".into(),
            image_tag: Some("v1".into()),
            ..PutImage::default()
        };
        assert_eq!(
            serde_json::to_value(&put).unwrap(),
            serde_json::json!({"repositoryName": "app", "imageManifest": "{}", "imageTag": "v1"})
        );
        let create = CreateRepository {
            repository_name: "app".into(),
            image_scanning_configuration: Some(ScanningConfiguration { scan_on_push: true }),
            image_tag_mutability: None,
        };
        assert_eq!(
            serde_json::to_value(&create).unwrap(),
            serde_json::json!({"repositoryName": "app", "imageScanningConfiguration": {"scanOnPush": true}})
        );
        let get = BatchGetImage {
            registry_id: Some("123456789012".into()),
            repository_name: "app".into(),
            image_ids: vec![ImageId::digest("sha256:ab")],
            accepted_media_types: Vec::new(),
        };
        assert_eq!(
            serde_json::to_value(&get).unwrap(),
            serde_json::json!({"registryId": "123456789012", "repositoryName": "app",
                               "imageIds": [{"imageDigest": "sha256:ab"}]})
        );
    }

    #[test]
    fn scan_findings_read_both_kinds_and_ignore_other_members() {
        let page: ScanFindingsPage = serde_json::from_value(serde_json::json!({
            "registryId": "123456789012",
            "imageScanStatus": {"status": "COMPLETE", "description": "done"},
            "imageScanFindings": {
                "imageScanCompletedAt": 1.7e9,
                "findingSeverityCounts": {"HIGH": 1, "UNTRIAGED": 2},
                "findings": [{"name": "CVE-1", "severity": "HIGH", "uri": "https://x.invalid/1",
                              "attributes": [{"key": "package_name", "value": "zlib"}]}],
                "enhancedFindings": [{"title": "CVE-2 - openssl", "severity": "UNTRIAGED",
                                      "packageVulnerabilityDetails": {"vulnerabilityId": "CVE-2"}}]
            },
            "nextToken": "t"
        }))
        .unwrap();
        let status = page.image_scan_status.unwrap();
        assert_eq!(status.status.as_deref(), Some("COMPLETE"));
        let f = page.image_scan_findings.unwrap();
        assert_eq!(f.finding_severity_counts.get("UNTRIAGED"), Some(&2));
        assert_eq!(f.findings[0].attributes[0].value.as_deref(), Some("zlib"));
        assert_eq!(
            f.enhanced_findings[0]
                .package_vulnerability_details
                .as_ref()
                .and_then(|d| d.vulnerability_id.as_deref()),
            Some("CVE-2")
        );
        assert_eq!(page.next_token.as_deref(), Some("t"));
    }

    #[test]
    fn the_endpoint_is_the_ecr_override_then_the_global_one_then_the_regional_one() {
        let client = |pairs: &[(&str, &str)], region: &str| {
            let env = crate::env::Env::from_pairs(pairs.iter().copied());
            let sdk = crate::aws::sdk_config(&env, region, None);
            Ecr::new(&sdk, &Net::from_env(&env))
                .unwrap()
                .url()
                .unwrap()
                .to_owned()
        };
        let both = [
            ("AWS_ENDPOINT_URL_ECR", "http://127.0.0.1:1/"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:2"),
        ];
        assert_eq!(client(&both, "eu-west-1"), "http://127.0.0.1:1/");
        assert_eq!(client(&both[1..], "eu-west-1"), "http://127.0.0.1:2/");
        assert_eq!(
            client(&[], "eu-west-1"),
            "https://api.ecr.eu-west-1.amazonaws.com/"
        );
        assert_eq!(
            client(&[], "cn-north-1"),
            "https://api.ecr.cn-north-1.amazonaws.com.cn/"
        );
        let fips = [("AWS_USE_FIPS_ENDPOINT", "true")];
        assert_eq!(
            client(&fips, "us-gov-west-1"),
            "https://api.ecr-fips.us-gov-west-1.amazonaws.com/"
        );
        let dual = [("AWS_USE_DUALSTACK_ENDPOINT", "TRUE")];
        assert_eq!(client(&dual, "eu-west-1"), "https://ecr.eu-west-1.api.aws/");
        // The override still wins over both flags.
        assert_eq!(
            client(&[fips[0], dual[0], both[1]], "eu-west-1"),
            "http://127.0.0.1:2/"
        );
    }
}
