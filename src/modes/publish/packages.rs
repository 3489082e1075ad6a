//! Package inputs of `publish` mode (issue 19): which artifacts to upload (npm tarballs, Python wheels and
//! sdists) and where, and the version rules (PEP 440 spelling, npm dist-tags). [`super::upload`] uploads.

use crate::inputs::Input;
use globset::{Glob, GlobMatcher};
use reqwest::Url;
use secrecy::SecretString;
use semver::Version;

use crate::inputs::{Inputs, split_list};

/// The public npm registry.
pub const NPM_REGISTRY: &str = "https://registry.npmjs.org";
/// PyPI's upload endpoint (the legacy upload API).
pub const PYPI_REPOSITORY: &str = "https://upload.pypi.org/legacy/";

/// One `packages` glob.
#[derive(Clone, Debug)]
pub struct Pattern {
    pub glob: String,
    pub matcher: GlobMatcher,
}

/// The package inputs.
#[derive(Clone, Debug)]
pub struct PackageInputs {
    /// `packages`: globs of the artifacts to upload; empty when none.
    pub patterns: Vec<Pattern>,
    /// `npm-registry`: an absolute `http(s)` URL.
    pub npm_registry: String,
    /// `pypi-repository`: an absolute `http(s)` URL.
    pub pypi_repository: String,
    /// The audience of the PyPI trusted-publishing token, decided here and never by the index:
    /// `pypi` for pypi.org, `testpypi` for test.pypi.org, otherwise `pypi-audience` (`None`: not set).
    pub pypi_audience: Option<String>,
    /// The audience of the AWS STS token (`audience`, default `sts.amazonaws.com`): never a registry's.
    pub sts_audience: String,
    /// `npm-token`: wins over trusted publishing when given.
    pub npm_token: Option<SecretString>,
    /// `pypi-token`: wins over trusted publishing when given.
    pub pypi_token: Option<SecretString>,
    /// `npm-provenance` (only `false` is accepted until provenance is built).
    pub npm_provenance: bool,
}

impl Default for PackageInputs {
    fn default() -> Self {
        Self {
            patterns: Vec::new(),
            npm_registry: NPM_REGISTRY.to_owned(),
            pypi_repository: PYPI_REPOSITORY.to_owned(),
            pypi_audience: Some(PYPI_AUDIENCE.to_owned()),
            sts_audience: crate::oidc::DEFAULT_AUDIENCE.to_owned(),
            npm_token: None,
            pypi_token: None,
            npm_provenance: false,
        }
    }
}

impl PackageInputs {
    /// Reads the package inputs, collecting every error. `sts_audience` is the AWS STS audience of the
    /// run (input `audience`), which no registry token may carry.
    pub fn parse(p: &mut Inputs<'_>, sts_audience: &str) -> Self {
        let patterns = p
            .string(Input::Packages)
            .map(|v| split_list(&v))
            .unwrap_or_default()
            .into_iter()
            .filter_map(|g| match Glob::new(&g) {
                Ok(m) => Some(Pattern {
                    matcher: m.compile_matcher(),
                    glob: g,
                }),
                Err(e) => {
                    p.error(
                        Input::Packages,
                        Some(&g),
                        format!("is not a valid glob: {e}"),
                        "e.g. `packages: dist/*.tgz` or `packages: dist/*.whl, dist/*.tar.gz`",
                    );
                    None
                }
            })
            .collect();
        let npm_registry = registry_url(
            p,
            Input::NpmRegistry,
            NPM_REGISTRY,
            "e.g. `npm-registry: https://npm.example.com`",
        );
        let pypi_repository = registry_url(
            p,
            Input::PypiRepository,
            PYPI_REPOSITORY,
            "e.g. `pypi-repository: https://test.pypi.org/legacy/`",
        );
        let pypi_audience = parse_pypi_audience(p, &pypi_repository, sts_audience);
        let npm_token = p.string(Input::NpmToken).map(SecretString::from);
        let pypi_token = p.string(Input::PypiToken).map(SecretString::from);
        let npm_provenance = p.bool(Input::NpmProvenance, false);
        if npm_provenance {
            // Refused rather than silently skipped: provenance is a Sigstore bundle, which is not built.
            p.error(
                Input::NpmProvenance,
                Some("true"),
                "is not supported yet: npm provenance is a Sigstore bundle (a Fulcio certificate for the OIDC token and a Rekor transparency-log entry) that publish does not create yet",
                "Remove `npm-provenance` (the default is `false`); see docs/publish.md",
            );
        }
        Self {
            patterns,
            npm_registry,
            pypi_repository,
            pypi_audience,
            sts_audience: sts_audience.to_owned(),
            npm_token,
            pypi_token,
            npm_provenance,
        }
    }
}

/// The audience pypi.org mints trusted-publishing tokens for.
pub const PYPI_AUDIENCE: &str = "pypi";
/// The audience test.pypi.org mints for.
pub const TESTPYPI_AUDIENCE: &str = "testpypi";

/// The audience the PyPI instance at `host` mints for, when it is pypi.org or test.pypi.org.
#[must_use]
pub fn known_pypi_audience(host: &str) -> Option<&'static str> {
    match host.to_ascii_lowercase().as_str() {
        "upload.pypi.org" | "pypi.org" => Some(PYPI_AUDIENCE),
        "test.pypi.org" => Some(TESTPYPI_AUDIENCE),
        _ => None,
    }
}

/// The host of a registry URL, lowercase (empty when it has none).
#[must_use]
pub fn host_of(url: &str) -> String {
    Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        .unwrap_or_default()
}

/// Why `aud` must never be the audience of a token sent to the registry at `host`: it is another
/// service's, which would accept the token (`None` when it is not). `sts` is the run's STS audience.
#[must_use]
pub fn foreign_audience(aud: &str, sts: &str, host: &str) -> Option<String> {
    let a = aud.trim();
    if a.eq_ignore_ascii_case(crate::oidc::DEFAULT_AUDIENCE) || a.eq_ignore_ascii_case(sts.trim()) {
        return Some(format!(
            "`{}` is the AWS STS audience (input `audience`): a token for it can assume this repository's AWS roles",
            crate::report::truncate_bytes(a, 100)
        ));
    }
    if a.len() >= 4 && a[..4].eq_ignore_ascii_case("npm:") {
        return Some(format!(
            "`{}` is an npm registry's trusted-publishing audience: a token for it can be exchanged there for a publish token",
            crate::report::truncate_bytes(a, 100)
        ));
    }
    for (known, site) in [
        (PYPI_AUDIENCE, "pypi.org"),
        (TESTPYPI_AUDIENCE, "test.pypi.org"),
    ] {
        if a.eq_ignore_ascii_case(known) && known_pypi_audience(host) != Some(known) {
            return Some(format!(
                "`{known}` is {site}'s audience: a token for it can be exchanged on {site} for this repository's trusted publishers, so it goes to {site} only"
            ));
        }
    }
    None
}

/// `pypi-audience`: fixed for pypi.org and test.pypi.org, required (and checked) for any other index.
fn parse_pypi_audience(p: &mut Inputs<'_>, repository: &str, sts: &str) -> Option<String> {
    let host = host_of(repository);
    let given = p.string(Input::PypiAudience);
    match (known_pypi_audience(&host), given) {
        (Some(known), None) => Some(known.to_owned()),
        (Some(known), Some(v)) if v == known => Some(v),
        (Some(known), Some(v)) => {
            p.error(
                Input::PypiAudience,
                Some(&v),
                format!("is not `{known}`, the only audience {host} accepts"),
                "Remove `pypi-audience`: for pypi.org and test.pypi.org stevedore sets it",
            );
            Some(known.to_owned())
        }
        (None, Some(v)) => match foreign_audience(&v, sts, &host) {
            Some(why) => {
                p.error(
                    Input::PypiAudience,
                    Some(&v),
                    format!("is another service's audience: {why}"),
                    "Set `pypi-audience` to the audience your index alone accepts (its `OIDC_AUDIENCE`), e.g. `pypi-audience: pypi.example.com`, or use `pypi-token`",
                );
                None
            }
            None => Some(v),
        },
        (None, None) => None,
    }
}

/// An `http(s)` URL input, or the default (also after an error, which is recorded).
fn registry_url(p: &mut Inputs<'_>, name: Input, default: &str, fix: &str) -> String {
    let Some(v) = p.string(name) else {
        return default.to_owned();
    };
    let why = match Url::parse(&v) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => return u.into(),
        Ok(_) => "is not an http(s) URL".to_owned(),
        Err(e) => format!("is not a URL: {e}"),
    };
    p.error(name, Some(&v), why, fix);
    default.to_owned()
}

/// The PEP 440 spelling of a computed SemVer version, as a Python package must carry it:
/// `1.2.0` → `1.2.0`, `1.2.0-dev.3` → `1.2.0.dev3`, `1.2.0-beta.2` → `1.2.0b2`, `1.2.0-rc.1` → `1.2.0rc1`,
/// `1.2.0-alpha.1` → `1.2.0a1`. `None` when the prerelease has no PEP 440 form (e.g. `1.2.0-next.1`).
#[must_use]
pub fn pep440(v: &Version) -> Option<String> {
    let base = format!("{}.{}.{}", v.major, v.minor, v.patch);
    if v.pre.is_empty() {
        return Some(base);
    }
    let (word, n) = v.pre.as_str().split_once('.')?;
    if n.is_empty() || !n.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let n: u64 = n.parse().ok()?;
    let suffix = match word.to_ascii_lowercase().as_str() {
        "dev" => format!(".dev{n}"),
        "a" | "alpha" => format!("a{n}"),
        "b" | "beta" => format!("b{n}"),
        "rc" | "c" | "pre" | "preview" => format!("rc{n}"),
        "post" => format!(".post{n}"),
        _ => return None,
    };
    Some(format!("{base}{suffix}"))
}

/// The npm dist-tag a version is published under: `latest` for a stable release, the prerelease channel
/// (`1.2.0-dev.3` → `dev`) otherwise — never `latest` for a prerelease.
#[must_use]
pub fn dist_tag(v: &Version) -> String {
    if v.pre.is_empty() {
        return "latest".into();
    }
    let word = v.pre.as_str().split('.').next().unwrap_or("next");
    if word.is_empty() || word == "latest" || word.chars().all(|c| c.is_ascii_digit()) {
        "next".into()
    } else {
        word.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;
    use crate::env::Env;

    fn parse(pairs: &[(&str, &str)]) -> (PackageInputs, usize) {
        let env = Env::from_pairs(pairs.iter().map(|(k, v)| (format!("INPUT_{k}"), *v)));
        let mut p = Inputs::new(&env);
        let c = PackageInputs::parse(&mut p, crate::oidc::DEFAULT_AUDIENCE);
        (c, p.error_count())
    }

    #[test]
    fn the_pypi_audience_is_fixed_for_pypi_and_required_and_checked_elsewhere() {
        let aud = |pairs: &[(&str, &str)]| {
            let (c, n) = parse(pairs);
            (c.pypi_audience, n)
        };
        assert_eq!(aud(&[]), (Some("pypi".into()), 0));
        let test = ("PYPI-REPOSITORY", "https://test.pypi.org/legacy/");
        assert_eq!(aud(&[test]), (Some("testpypi".into()), 0));
        // pypi.org's audience cannot be changed.
        assert_eq!(
            aud(&[test, ("PYPI-AUDIENCE", "pypi")]),
            (Some("testpypi".into()), 1)
        );
        let private = ("PYPI-REPOSITORY", "https://pypi.example.com/legacy/");
        assert_eq!(aud(&[private]), (None, 0));
        assert_eq!(
            aud(&[private, ("PYPI-AUDIENCE", "pypi.example.com")]),
            (Some("pypi.example.com".into()), 0)
        );
        // Audiences other services accept are refused for another index.
        for other in [
            "sts.amazonaws.com",
            "STS.amazonaws.com",
            "npm:registry.npmjs.org",
            "pypi",
            "testpypi",
        ] {
            assert_eq!(
                aud(&[private, ("PYPI-AUDIENCE", other)]),
                (None, 1),
                "{other}"
            );
        }
        // The configured STS audience too.
        let env = Env::from_pairs([
            (
                "INPUT_PYPI-REPOSITORY".to_owned(),
                "https://pypi.example.com/",
            ),
            ("INPUT_PYPI-AUDIENCE".to_owned(), "my-sts"),
        ]);
        let mut p = Inputs::new(&env);
        let c = PackageInputs::parse(&mut p, "my-sts");
        assert_eq!((c.pypi_audience, p.error_count()), (None, 1));
        assert_eq!(c.sts_audience, "my-sts");
    }

    #[test]
    fn defaults_publish_nothing_to_the_public_registries() {
        let (c, n) = parse(&[]);
        assert_eq!(n, 0);
        assert!(c.patterns.is_empty());
        assert_eq!(c.npm_registry, NPM_REGISTRY);
        assert_eq!(c.pypi_repository, PYPI_REPOSITORY);
        assert!(c.npm_token.is_none() && c.pypi_token.is_none());
        assert!(!c.npm_provenance);
    }

    #[test]
    fn custom_values() {
        let (c, n) = parse(&[
            ("PACKAGES", "dist/*.tgz\npy/dist/*.whl, py/dist/*.tar.gz"),
            ("NPM-REGISTRY", "http://127.0.0.1:4873"),
            ("PYPI-REPOSITORY", "https://test.pypi.org/legacy/"),
            ("NPM-TOKEN", "npm_secret"),
            ("PYPI-TOKEN", "pypi-secret"),
            ("NPM-PROVENANCE", "false"),
        ]);
        assert_eq!(n, 0);
        let globs: Vec<_> = c.patterns.iter().map(|p| p.glob.as_str()).collect();
        assert_eq!(globs, ["dist/*.tgz", "py/dist/*.whl", "py/dist/*.tar.gz"]);
        assert!(c.patterns[0].matcher.is_match("dist/app-1.2.0.tgz"));
        assert!(!c.patterns[0].matcher.is_match("dist/app-1.2.0.whl"));
        assert_eq!(c.npm_registry, "http://127.0.0.1:4873/");
        assert_eq!(c.pypi_repository, "https://test.pypi.org/legacy/");
        assert_eq!(c.npm_token.unwrap().expose_secret(), "npm_secret");
        assert_eq!(c.pypi_token.unwrap().expose_secret(), "pypi-secret");
        assert!(!c.npm_provenance);
    }

    #[test]
    fn every_bad_input_is_reported() {
        let (_, n) = parse(&[
            ("PACKAGES", "dist/[*.tgz, dist/*.whl"),
            ("NPM-REGISTRY", "registry.example.com"),
            ("PYPI-REPOSITORY", "ftp://pypi.example.com/"),
            ("NPM-PROVENANCE", "yes please"),
        ]);
        // The bad glob, both URLs and the boolean.
        assert_eq!(n, 4);
        let (_, n) = parse(&[("NPM-PROVENANCE", "true")]);
        assert_eq!(n, 1, "provenance is refused, not ignored");
    }

    #[test]
    fn pep440_spells_prereleases_as_python_does() {
        let v = |s: &str| pep440(&Version::parse(s).unwrap());
        assert_eq!(v("1.2.0").as_deref(), Some("1.2.0"));
        assert_eq!(v("1.2.0-dev.3").as_deref(), Some("1.2.0.dev3"));
        assert_eq!(v("1.2.0-alpha.1").as_deref(), Some("1.2.0a1"));
        assert_eq!(v("1.2.0-beta.2").as_deref(), Some("1.2.0b2"));
        assert_eq!(v("1.2.0-rc.10").as_deref(), Some("1.2.0rc10"));
        assert_eq!(v("1.2.0-next.1"), None);
        assert_eq!(v("1.2.0-dev"), None);
        assert_eq!(v("1.2.0-dev.x"), None);
    }

    #[test]
    fn prereleases_never_get_the_latest_dist_tag() {
        let t = |s: &str| dist_tag(&Version::parse(s).unwrap());
        assert_eq!(t("1.2.0"), "latest");
        assert_eq!(t("1.2.0-dev.3"), "dev");
        assert_eq!(t("2.0.0-beta.1"), "beta");
        assert_eq!(t("2.0.0-latest.1"), "next");
        assert_eq!(t("2.0.0-1"), "next");
    }
}
