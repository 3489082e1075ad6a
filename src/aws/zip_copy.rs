//! Copying a Lambda zip between accounts through S3, by its code hash: the very bytes whose SHA-256 the
//! source function reports (`CodeSha256`, base64 of the SHA-256 of the zip) reach the target's bucket, or
//! nothing does.
//!
//! [`copy_zip`] reads the recorded object with the **source** account's client and checks its SHA-256
//! against the code hash before anything is written; writes it with the **target** account's client,
//! sending the hash as `x-amz-checksum-sha256` (S3 refuses the object if the bytes differ); then reads the
//! target object back and checks it again. A target object that already holds those bytes is left as it
//! is (idempotent: a second copy writes nothing); one that holds other bytes is never overwritten (the key
//! comes from a deployment record, which anyone with `deployments: write` can write). The object is held
//! in memory (Lambda's zips are at most 250 MB unzipped).

use base64::Engine as _;
use sha2::{Digest as _, Sha256};

use super::call::CallError;
use super::s3::{Body, Put, S3};

/// The metadata entry the target object carries: the code hash (base64).
pub const META_CODE_SHA256: &str = "stevedore-code-sha256";

/// An S3 object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Object<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
}

impl std::fmt::Display for Object<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

/// What a copy did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZipCopied {
    /// The code hash (base64 SHA-256), the same in source and target.
    pub code_sha256: String,
    /// Bytes written to the target (0 when it held them already).
    pub bytes_written: u64,
    /// The target object's version, when its bucket is versioned and it was written.
    pub version_id: Option<String>,
}

/// Why a zip was not copied.
#[derive(Debug, thiserror::Error)]
pub enum ZipCopyError {
    /// The code hash given is not base64 of 32 bytes.
    #[error("`{0}` is not a Lambda code hash (base64 of a SHA-256, 44 characters)")]
    BadCodeHash(String),
    /// An S3 call failed.
    #[error(transparent)]
    Call(#[from] CallError),
    /// The target key holds other bytes: not overwritten.
    #[error(
        "{object} already holds other bytes (SHA-256 {got}, not the code hash {want}); it was not overwritten and nothing was copied"
    )]
    Occupied {
        object: String,
        got: String,
        want: String,
    },
    /// The bytes read are not the code hash's.
    #[error(
        "{object} holds a zip whose SHA-256 is {got}, not the recorded code hash {want}; {}",
        if *.target { "the target object is not the source's and must not be deployed" } else { "nothing was copied. The recorded object was replaced after the deployment: promote from a deployment whose zip is still in place" }
    )]
    Mismatch {
        object: String,
        got: String,
        want: String,
        /// Whether it was the target (read back) rather than the source.
        target: bool,
    },
}

/// The code hash of `bytes` (base64 SHA-256, as Lambda's `CodeSha256`).
#[must_use]
pub fn code_sha256(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes))
}

fn check(bytes: &[u8], object: Object<'_>, want: &str, target: bool) -> Result<(), ZipCopyError> {
    let got = code_sha256(bytes);
    if got == want {
        Ok(())
    } else {
        Err(ZipCopyError::Mismatch {
            object: object.to_string(),
            got,
            want: want.to_owned(),
            target,
        })
    }
}

/// Copies `from` (read with `source`) to `to` (written with `target`) when its SHA-256 is `code_sha256`
/// (see the module's documentation).
pub async fn copy_zip(
    source: &S3,
    from: Object<'_>,
    target: &S3,
    to: Object<'_>,
    code_sha256: &str,
) -> Result<ZipCopied, ZipCopyError> {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(code_sha256)
        .ok()
        .filter(|d| d.len() == 32);
    if decoded.is_none() {
        return Err(ZipCopyError::BadCodeHash(
            code_sha256.chars().take(100).collect(),
        ));
    }
    if target.head(to.bucket, to.key).await?.is_some() {
        let there = target.get(to.bucket, to.key).await?;
        let got = self::code_sha256(&there);
        if got != code_sha256 {
            return Err(ZipCopyError::Occupied {
                object: to.to_string(),
                got,
                want: code_sha256.to_owned(),
            });
        }
        tracing::info!("{to} holds the zip already ({code_sha256})");
        return Ok(ZipCopied {
            code_sha256: code_sha256.to_owned(),
            bytes_written: 0,
            version_id: None,
        });
    }
    let bytes = source.get(from.bucket, from.key).await?;
    check(&bytes, from, code_sha256, false)?;
    let version_id = target
        .put(Put {
            bucket: to.bucket,
            key: to.key,
            body: Body::Bytes(&bytes),
            content_type: "application/zip",
            checksum_sha256: Some(code_sha256),
            metadata: &[(META_CODE_SHA256, code_sha256)],
        })
        .await?;
    let back = target.get(to.bucket, to.key).await?;
    check(&back, to, code_sha256, true)?;
    tracing::info!(
        "{from} copied to {to} ({code_sha256}, {} bytes)",
        bytes.len()
    );
    Ok(ZipCopied {
        code_sha256: code_sha256.to_owned(),
        bytes_written: bytes.len() as u64,
        version_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_hash_is_base64_of_the_sha256() {
        // Lambda's CodeSha256 of an empty file.
        assert_eq!(
            code_sha256(b""),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }
}
