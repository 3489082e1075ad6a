//! Uploads a Lambda bundle and its `metadata.json` to S3, skipping an unchanged bundle.
//!
//! Key layout from the reference serverless pipeline (`s3://outreachpass-artifacts/backend/{version}/lambda.zip`
//! next to a `metadata.json`), with an optional prefix: `[PREFIX/]SERVICE/VERSION/lambda.zip`.
//!
//! "Unchanged" is decided with one `HeadObject`: the object's user metadata `sha256` (written by us) equals
//! the new bundle's hash. Then nothing is written and the existing object's version id is reported, so a
//! re-run of the same commit is free and deploy sees the same key and version. The zip is sent with
//! `x-amz-checksum-sha256`, so S3 itself rejects a corrupted upload.

use serde::Serialize;

use crate::aws::call::CallError;
use crate::aws::s3::{Body, Put, S3};

use super::bundle::Bundle;

/// User-metadata key holding the hex SHA-256 of the zip (sent as `x-amz-meta-sha256`). LOAD-BEARING.
pub const META_SHA256: &str = "sha256";
/// File name of the bundle inside `SERVICE/VERSION/`. LOAD-BEARING (deploy and people read it).
pub const BUNDLE_NAME: &str = "lambda.zip";
/// File name of the metadata next to it. LOAD-BEARING.
pub const METADATA_NAME: &str = "metadata.json";

/// Where a bundle goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Destination {
    pub bucket: String,
    /// Key of the zip.
    pub key: String,
    /// Key of `metadata.json`.
    pub metadata_key: String,
}

impl Destination {
    /// `[prefix/]service/version/lambda.zip`; empty or slash-only prefixes are ignored.
    #[must_use]
    pub fn new(bucket: &str, prefix: Option<&str>, service: &str, version: &str) -> Self {
        let mut dir = String::new();
        if let Some(p) = prefix
            .map(|p| p.trim_matches('/'))
            .filter(|p| !p.is_empty())
        {
            dir.push_str(p);
            dir.push('/');
        }
        dir.push_str(service.trim_matches('/'));
        dir.push('/');
        dir.push_str(version.trim_matches('/'));
        dir.push('/');
        Self {
            bucket: bucket.to_owned(),
            key: format!("{dir}{BUNDLE_NAME}"),
            metadata_key: format!("{dir}{METADATA_NAME}"),
        }
    }
}

/// The content of `metadata.json`. LOAD-BEARING: field names are read by people and scripts.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Metadata {
    pub service: String,
    pub version: String,
    pub commit: Option<String>,
    #[serde(rename = "ref")]
    pub git_ref: Option<String>,
    pub repository: Option<String>,
    /// RFC 3339, UTC.
    pub build_time: String,
    pub size: u64,
    pub sha256: String,
    /// Base64 SHA-256, as Lambda's `CodeSha256`.
    pub code_sha256: String,
    pub bucket: String,
    pub key: String,
    pub workflow_run_url: Option<String>,
}

/// What happened in S3.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Uploaded {
    pub destination: Destination,
    /// Object version id of the zip, when the bucket is versioned.
    pub version_id: Option<String>,
    /// False when the same bundle was already there and nothing was uploaded.
    pub uploaded: bool,
    /// The hash of an object that was replaced (same key, different content).
    pub replaced_sha256: Option<String>,
}

/// Uploading failed.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error(
        "{0}. Check that input `s3-bucket` names an existing bucket in this region and that the role may s3:GetObject/s3:PutObject on it"
    )]
    S3(#[from] CallError),
    #[error("cannot serialize metadata.json: {0}")]
    Json(#[from] serde_json::Error),
}

/// Uploads `bundle` and `meta` to `dest`, unless an object with the same hash is already there.
pub async fn upload(
    s3: &S3,
    dest: &Destination,
    bundle: &Bundle,
    meta: &Metadata,
) -> Result<Uploaded, UploadError> {
    let existing = s3.head(&dest.bucket, &dest.key).await?;
    let existing_sha = existing
        .as_ref()
        .and_then(|h| h.meta(META_SHA256))
        .map(str::to_owned);
    if existing_sha.as_deref() == Some(bundle.sha256_hex.as_str()) {
        let version_id = existing.as_ref().and_then(|h| h.version_id.clone());
        // The bundle is there; make sure its metadata is too (a run may have died between the two puts).
        let meta_there = s3
            .head(&dest.bucket, &dest.metadata_key)
            .await
            .is_ok_and(|h| h.is_some());
        if !meta_there {
            put_metadata(s3, dest, meta).await?;
        }
        tracing::info!(bucket = %dest.bucket, key = %dest.key, "bundle unchanged (same sha256), upload skipped");
        return Ok(Uploaded {
            destination: dest.clone(),
            version_id,
            uploaded: false,
            replaced_sha256: None,
        });
    }
    let version_id = s3
        .put(Put {
            bucket: &dest.bucket,
            key: &dest.key,
            body: Body::File {
                path: &bundle.path,
                size: bundle.size,
                sha256_hex: &bundle.sha256_hex,
            },
            content_type: "application/zip",
            checksum_sha256: Some(&bundle.code_sha256),
            metadata: &[(META_SHA256, &bundle.sha256_hex)],
        })
        .await?;
    put_metadata(s3, dest, meta).await?;
    tracing::info!(bucket = %dest.bucket, key = %dest.key, size = bundle.size, "bundle uploaded");
    Ok(Uploaded {
        destination: dest.clone(),
        version_id,
        uploaded: true,
        replaced_sha256: existing.map(|_| existing_sha.unwrap_or_else(|| "(unknown)".to_owned())),
    })
}

async fn put_metadata(s3: &S3, dest: &Destination, meta: &Metadata) -> Result<(), UploadError> {
    let json = serde_json::to_vec_pretty(meta)?;
    s3.put(Put {
        bucket: &dest.bucket,
        key: &dest.metadata_key,
        body: Body::Bytes(&json),
        content_type: "application/json",
        checksum_sha256: None,
        metadata: &[],
    })
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_reference_layout() {
        let d = Destination::new("artifacts", None, "backend", "1.4.0");
        assert_eq!(d.key, "backend/1.4.0/lambda.zip");
        assert_eq!(d.metadata_key, "backend/1.4.0/metadata.json");
        let d = Destination::new("artifacts", Some("/lambda/"), "worker", "abc123");
        assert_eq!(d.key, "lambda/worker/abc123/lambda.zip");
        let d = Destination::new("artifacts", Some("/"), "worker", "v1");
        assert_eq!(d.key, "worker/v1/lambda.zip");
    }

    #[test]
    fn metadata_json_uses_the_documented_names() {
        let m = Metadata {
            service: "backend".into(),
            version: "1.4.0".into(),
            commit: Some("abc".into()),
            git_ref: Some("refs/tags/v1.4.0".into()),
            repository: Some("o/r".into()),
            build_time: "2026-01-01T00:00:00Z".into(),
            size: 10,
            sha256: "00".into(),
            code_sha256: "AA==".into(),
            bucket: "b".into(),
            key: "backend/1.4.0/lambda.zip".into(),
            workflow_run_url: Some("https://github.com/o/r/actions/runs/1".into()),
        };
        let v = serde_json::to_value(&m).unwrap();
        for k in [
            "service",
            "version",
            "commit",
            "ref",
            "build_time",
            "size",
            "sha256",
            "code_sha256",
            "workflow_run_url",
        ] {
            assert!(v.get(k).is_some(), "{k} missing in {v}");
        }
    }
}
