//! Promote an ECR image to the release tag by digest: `BatchGetImage` reads the manifest the image already
//! has ([`resolve`], before any write), `PutImage` stores the same manifest under the new tag ([`put_tag`],
//! after the git tag claimed the version). No pull, no push, no layer moves: the tagged
//! image is byte-for-byte the one that was built and tested.
//!
//! Idempotent: ECR answers `ImageAlreadyExistsException` when the tag already names this digest (a re-run);
//! `ImageTagAlreadyExistsException` means an immutable repository has the tag on another digest — an error.

use aws_types::SdkConfig;
use aws_types::region::Region;

use crate::aws::ecr::{BatchGetImage, Ecr, ImageId, PutImage};
use crate::aws::json_rpc::RpcError;
use crate::net::Net;

/// Manifest types we accept, so ECR hands back the stored manifest unconverted.
const MEDIA_TYPES: [&str; 4] = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// Which image: by digest (preferred) or by tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selector {
    Digest(String),
    Tag(String),
}

/// An ECR image reference: `repo@sha256:…`, `repo:tag`, or the full URI
/// `<account>.dkr.ecr.<region>.amazonaws.com/<repo>@sha256:…`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRef {
    /// Registry id (account) from the URI, if given.
    pub registry_id: Option<String>,
    /// Region from the URI, if given.
    pub region: Option<String>,
    pub repository: String,
    pub selector: Selector,
}

impl std::fmt::Display for ImageRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.selector {
            Selector::Digest(d) => write!(f, "{}@{d}", self.repository),
            Selector::Tag(t) => write!(f, "{}:{t}", self.repository),
        }
    }
}

impl ImageRef {
    /// Parses an image reference; the error says what is wrong.
    pub fn parse(s: &str) -> Result<ImageRef, String> {
        let s = s.trim();
        let (host, path) = match s.split_once('/') {
            Some((h, p)) if h.contains('.') || h.contains(':') => (Some(h), p),
            _ => (None, s),
        };
        let (mut registry_id, mut region) = (None, None);
        if let Some(h) = host {
            // <account>.dkr.ecr.<region>.amazonaws.com[.cn]
            let parts: Vec<&str> = h.split('.').collect();
            if parts.len() >= 6 && parts[1] == "dkr" && parts[2] == "ecr" {
                registry_id = Some(parts[0].to_owned());
                region = Some(parts[3].to_owned());
            } else {
                return Err(format!("`{h}` is not an ECR registry host"));
            }
        }
        let (repository, selector) = if let Some((r, d)) = path.split_once('@') {
            if !d.starts_with("sha256:") || d.len() != 71 {
                return Err(format!("`{d}` is not a `sha256:` digest"));
            }
            (r, Selector::Digest(d.to_owned()))
        } else if let Some((r, t)) = path.rsplit_once(':') {
            (r, Selector::Tag(t.to_owned()))
        } else {
            return Err("names no digest (`@sha256:…`) or tag (`:tag`)".into());
        };
        let repo_ok = !repository.is_empty()
            && repository
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-/".contains(c));
        if !repo_ok {
            return Err(format!("`{repository}` is not an ECR repository name"));
        }
        Ok(ImageRef {
            registry_id,
            region,
            repository: repository.to_owned(),
            selector,
        })
    }
}

/// What the promotion did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PromoteOutcome {
    Tagged {
        digest: String,
    },
    /// The tag already named this digest.
    AlreadyTagged {
        digest: String,
    },
}

impl PromoteOutcome {
    #[must_use]
    pub fn digest(&self) -> &str {
        match self {
            PromoteOutcome::Tagged { digest } | PromoteOutcome::AlreadyTagged { digest } => digest,
        }
    }
}

/// Promotion failures, naming the image and the fix.
#[derive(Debug, thiserror::Error)]
pub enum EcrError {
    #[error("ECR image `{image}` was not found: {reason}")]
    NotFound { image: String, reason: String },
    #[error(
        "ECR repository `{repository}` is tag-immutable and tag `{tag}` already names another image; \
         the release tag cannot be moved to {digest}"
    )]
    TagTaken {
        repository: String,
        tag: String,
        digest: String,
    },
    /// `code` is ECR's exception name when the service sent one.
    #[error("ECR {operation} for `{image}` failed: {detail}")]
    Api {
        operation: &'static str,
        image: String,
        code: Option<String>,
        detail: String,
    },
    #[error("cannot build the HTTP client for ECR: {0}")]
    Http(String),
}

impl EcrError {
    fn call(operation: &'static str, image: &str, e: RpcError) -> Self {
        EcrError::Api {
            operation,
            image: image.to_owned(),
            code: e.code,
            detail: e.message,
        }
    }
}

/// An image found in ECR: its digest and stored manifest.
#[derive(Clone, Debug)]
pub struct Resolved {
    pub digest: String,
    manifest: String,
    media_type: Option<String>,
}

/// The ECR client for `image`'s own region (from its URI), else `sdk`'s.
fn client(sdk: &SdkConfig, net: &Net, image: &ImageRef) -> Result<Ecr, EcrError> {
    let built = match &image.region {
        Some(r) if sdk.region().is_none_or(|own| own.as_ref() != r) => {
            let sdk = sdk.to_builder().region(Region::new(r.clone())).build();
            Ecr::new(&sdk, net)
        }
        _ => Ecr::new(sdk, net),
    };
    built.map_err(|e| EcrError::Http(e.to_string()))
}

/// Finds `image` and reads its manifest (`BatchGetImage`). Read-only: run it before any write so a missing
/// image stops the release before anything is tagged.
pub async fn resolve(sdk: &SdkConfig, net: &Net, image: &ImageRef) -> Result<Resolved, EcrError> {
    let ecr = client(sdk, net, image)?;
    let shown = image.to_string();
    let id = match &image.selector {
        Selector::Digest(d) => ImageId::digest(d),
        Selector::Tag(t) => ImageId::tag(t),
    };
    let req = BatchGetImage {
        registry_id: image.registry_id.clone(),
        repository_name: image.repository.clone(),
        image_ids: vec![id],
        accepted_media_types: MEDIA_TYPES.iter().map(|m| (*m).to_owned()).collect(),
    };
    let got = ecr.batch_get_image(&req).await.map_err(|e| {
        if e.code.as_deref() == Some("RepositoryNotFoundException") {
            EcrError::NotFound {
                image: shown.clone(),
                reason: format!("repository `{}` does not exist", image.repository),
            }
        } else {
            EcrError::call("BatchGetImage", &shown, e)
        }
    })?;
    let Some(found) = got.images.first() else {
        let reason = got
            .failures
            .first()
            .map(|f| {
                format!(
                    "{} {}",
                    f.failure_code.as_deref().unwrap_or("ImageNotFound"),
                    f.failure_reason.as_deref().unwrap_or("")
                )
            })
            .unwrap_or_else(|| "no image returned".into());
        return Err(EcrError::NotFound {
            image: shown,
            reason: reason.trim().to_owned(),
        });
    };
    let api = |detail: &str| EcrError::Api {
        operation: "BatchGetImage",
        image: shown.clone(),
        code: None,
        detail: detail.to_owned(),
    };
    Ok(Resolved {
        digest: found
            .image_id
            .as_ref()
            .and_then(|i| i.image_digest.clone())
            .ok_or_else(|| api("the answer has no image digest"))?,
        manifest: found
            .image_manifest
            .clone()
            .ok_or_else(|| api("the answer has no manifest"))?,
        media_type: found.image_manifest_media_type.clone(),
    })
}

/// Stores the resolved manifest under `tag` (`PutImage` with the digest: no re-push).
pub async fn put_tag(
    sdk: &SdkConfig,
    net: &Net,
    image: &ImageRef,
    resolved: &Resolved,
    tag: &str,
) -> Result<PromoteOutcome, EcrError> {
    let ecr = client(sdk, net, image)?;
    let digest = resolved.digest.clone();
    let req = PutImage {
        registry_id: image.registry_id.clone(),
        repository_name: image.repository.clone(),
        image_manifest: resolved.manifest.clone(),
        image_manifest_media_type: resolved.media_type.clone(),
        image_tag: Some(tag.to_owned()),
        image_digest: Some(digest.clone()),
    };
    match ecr.put_image(&req).await {
        Ok(_) => Ok(PromoteOutcome::Tagged { digest }),
        Err(e) => match e.code.as_deref() {
            // "Already exists" is only good news if the tag really names this digest: check, rather than
            // trust the exception's name (emulators use it for immutable-tag conflicts too).
            Some("ImageAlreadyExistsException") => {
                let at_tag = ImageRef {
                    selector: Selector::Tag(tag.to_owned()),
                    ..image.clone()
                };
                match resolve(sdk, net, &at_tag).await {
                    Ok(r) if r.digest == digest => Ok(PromoteOutcome::AlreadyTagged { digest }),
                    Ok(_) => Err(EcrError::TagTaken {
                        repository: image.repository.clone(),
                        tag: tag.to_owned(),
                        digest,
                    }),
                    Err(e) => Err(e),
                }
            }
            Some("ImageTagAlreadyExistsException") => Err(EcrError::TagTaken {
                repository: image.repository.clone(),
                tag: tag.to_owned(),
                digest,
            }),
            _ => Err(EcrError::call("PutImage", &image.to_string(), e)),
        },
    }
}

/// [`resolve`] then [`put_tag`].
pub async fn promote(
    sdk: &SdkConfig,
    net: &Net,
    image: &ImageRef,
    tag: &str,
) -> Result<PromoteOutcome, EcrError> {
    let resolved = resolve(sdk, net, image).await?;
    put_tag(sdk, net, image, &resolved, tag).await
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn image_references() {
        assert_eq!(
            ImageRef::parse(&format!(
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app@{D}"
            ))
            .unwrap(),
            ImageRef {
                registry_id: Some("123456789012".into()),
                region: Some("eu-west-1".into()),
                repository: "team/app".into(),
                selector: Selector::Digest(D.into()),
            }
        );
        assert_eq!(
            ImageRef::parse("app:sha-abc1234").unwrap().selector,
            Selector::Tag("sha-abc1234".into())
        );
        for bad in ["app", "app@sha256:12", "ghcr.io/o/app:1", "App:1", ""] {
            assert!(ImageRef::parse(bad).is_err(), "{bad}");
        }
    }
}
