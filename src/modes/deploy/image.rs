//! Image references of a deploy: pinned by tag or digest, the production-by-tag warning, and whether a
//! recorded image comes from the repository a service runs (the release check of the image targets).
//!
//! This module imports no deploy target; the targets import it.

use crate::inputs::{Input, Inputs};
use crate::modes::runtime::Runtime;

/// Whether an image reference names a tag or a digest (`repo:tag`, `repo@sha256:…`); a registry port
/// (`localhost:5000/web`) is not a tag.
#[must_use]
pub fn has_tag_or_digest(image: &str) -> bool {
    let last = image.rsplit('/').next().unwrap_or(image);
    last.contains(':') || last.contains('@')
}

/// Whether an image reference pins a digest.
#[must_use]
pub fn has_digest(image: &str) -> bool {
    image.contains("@sha256:")
}

/// Records an error when `image` names neither tag nor digest: ECS and Lambda would take `latest`,
/// whatever that is at the time.
pub fn check_image(p: &mut Inputs<'_>, image: &str) {
    if !has_tag_or_digest(image) {
        p.error(
            Input::Image,
            Some(image),
            "names neither a tag nor a digest, so whatever `latest` is at deploy time would run",
            "Pin the image by digest (`image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/web@sha256:…`, the `digest` output of `build`) or at least by tag (`…/web:1.4.2`)",
        );
    }
}

/// The warning for a production deploy by tag (a tag can be moved; a digest cannot).
#[must_use]
pub fn production_by_tag(environment: &str, image: &str) -> Option<String> {
    (crate::github::deployments::is_production(environment) && !has_digest(image)).then(|| {
        format!(
            "`{environment}` is deployed by tag (`{image}`): a tag can be moved after the deploy, so what runs cannot be proven. Deploy by digest (the `digest` output of `build`: `repo@sha256:…`)."
        )
    })
}

/// Logs and annotates [`production_by_tag`]'s warning when it applies (ECS and Lambda deploys).
pub fn warn_production_by_tag(rt: &Runtime<'_>, environment: &str, image: &str) {
    if let Some(w) = production_by_tag(environment, image) {
        tracing::warn!("{w}");
        rt.cmds.annotate(
            crate::report::Level::Warning,
            Some("stevedore deploy: production by tag"),
            &crate::report::Location::default(),
            &w,
        );
    }
}

/// The repository part of an image reference (`host[:port]/path`, without `:tag` or `@digest`).
fn image_repository(image: &str) -> &str {
    let no_digest = image.split_once('@').map_or(image, |(r, _)| r);
    match no_digest.rsplit_once('/') {
        Some((head, last)) => match last.split_once(':') {
            Some((name, _tag)) => &no_digest[..head.len() + 1 + name.len()],
            None => no_digest,
        },
        None => no_digest.split_once(':').map_or(no_digest, |(n, _)| n),
    }
}

/// The registry host and repository path of an image reference (`host[:port]/path[:tag][@digest]`);
/// `None` when the first part is not a host (`web:1`, `library/web`: Docker Hub's short forms).
#[must_use]
pub fn image_parts(image: &str) -> Option<(&str, &str)> {
    let (host, path) = image_repository(image).split_once('/')?;
    (!path.is_empty() && (host.contains('.') || host.contains(':') || host == "localhost"))
        .then_some((host, path))
}

/// `None` when `recorded` is an image by digest (`@sha256:` and 64 hex digits) from the repository of
/// `running`, else why not.
#[must_use]
pub fn same_image_home(recorded: &str, running: &str) -> Option<String> {
    let by_digest = recorded.split_once("@sha256:").is_some_and(|(_, d)| {
        d.len() == 64
            && d.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    });
    if !by_digest {
        return Some(format!(
            "image `{recorded}` is not pinned by digest (`@sha256:…`), so what it names can have changed"
        ));
    }
    let (rec, now) = (image_repository(recorded), image_repository(running));
    if running.is_empty() || rec != now {
        return Some(format!(
            "image `{recorded}` is not from `{now}`, the repository the service runs from"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references_split_into_host_and_repository() {
        let d = format!("sha256:{}", "a".repeat(64));
        for (image, want) in [
            (
                format!("123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/web@{d}"),
                Some(("123456789012.dkr.ecr.eu-west-1.amazonaws.com", "team/web")),
            ),
            (
                "127.0.0.1:5000/web:1.2".into(),
                Some(("127.0.0.1:5000", "web")),
            ),
            ("localhost/web".into(), Some(("localhost", "web"))),
            ("library/web:1".into(), None),
            ("web:1".into(), None),
            ("registry.example/".into(), None),
        ] {
            assert_eq!(image_parts(&image), want, "{image}");
        }
    }
}
