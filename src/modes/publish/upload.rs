//! Uploads the package artifacts of `publish` (issue 19): npm tarballs with the npm registry protocol, Python
//! wheels and sdists with the legacy upload API, each under the computed version, idempotently.
//!
//! The run is split so that nothing is written before everything that can be checked was checked:
//! [`prepare`] finds the files, reads the version each carries (it must be the computed one), asks the
//! registry whether that version is already there (same bytes: skipped; other bytes: refused) and gets the
//! upload tokens (the `npm-token`/`pypi-token` inputs, or a trusted-publishing exchange of the GitHub OIDC
//! token, masked at once). Only then does `publish` tag and release, and [`upload`] sends the files.
//!
//! - npm: `GET <registry>/<name>` (the packument) tells whether the version exists and its `dist.integrity`
//!   / `dist.shasum`; the upload is `PUT <registry>/<name>` with the packument npm's own client sends
//!   (`versions`, `dist-tags`, `_attachments` with the base64 tarball, `dist.integrity` sha512 and
//!   `dist.shasum` sha1). Trusted publishing (docs.npmjs.com "Trusted publishing"): the OIDC token for the
//!   audience `npm:<registry host>` goes as bearer to `POST <registry>/-/npm/v1/oidc/token/exchange/package/<name>`,
//!   which answers `{"token": ...}` for that one package.
//! - PyPI: the simple index (PEP 503, `<index>/<project>/`) lists the files with their `#sha256=` digests;
//!   the upload is a `multipart/form-data` POST with `:action=file_upload`, the core-metadata fields and
//!   `sha256_digest`, user `__token__`. Trusted publishing (docs.pypi.org "Publishing with a Trusted
//!   Publisher", manual exchange): `GET <origin>/_/oidc/audience` (→ `pypi`), the OIDC token for that
//!   audience, `POST <origin>/_/oidc/mint-token` with `{"token": <jwt>}` → `{"token": <api token>}`.
//!
//! Token audiences are stevedore's choice, never a server's (issue 25): `npm:<registry host>`, `pypi` for
//! pypi.org, `testpypi` for test.pypi.org, `pypi-audience` for any other index. The index's own
//! `/_/oidc/audience` answer is only compared with it: an index asking for anything else is refused before
//! a token is requested, and no registry token is ever requested for the STS audience. The exchange
//! requests (audience, mint-token, npm exchange) follow no redirect: a 3xx is refused, so the OIDC token
//! goes to the URL stevedore chose and nowhere else.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};
use semver::Version;
use serde_json::{Value, json};
use sha2::Digest as _;

use super::artifacts::{self, Artifact, ArtifactError, Kind};
use super::packages::{PackageInputs, dist_tag};
use crate::cancel::{Cancel, Cancelled};
use crate::env::Env;
use crate::net::retry::{Backoff, Retries};
use crate::net::{Net, error_chain};
use crate::report::Commands;

/// Folders never searched for artifacts.
const SKIP_DIRS: &[&str] = &[".git", "node_modules"];

/// Why packages could not be published.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("`packages` glob `{glob}` matched no file under the workspace `{workspace}`")]
    NoMatch { glob: String, workspace: PathBuf },
    #[error("cannot read `{path}`: {why}")]
    Io { path: PathBuf, why: String },
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Artifacts(Vec<ArtifactError>),
    #[error("{what} `{url}` failed: {detail}")]
    Http {
        what: String,
        url: String,
        detail: String,
    },
    #[error("{what} `{url}` was refused with HTTP {status}: {body}")]
    Refused {
        what: String,
        url: String,
        status: u16,
        body: String,
    },
    #[error(
        "`{file}`: {package} is already on {registry} with different content (registry {theirs}, this file {ours}); a published version cannot be replaced"
    )]
    Different {
        file: PathBuf,
        /// `name version`.
        package: String,
        registry: String,
        theirs: String,
        ours: String,
    },
    #[error("trusted publishing to {registry} was refused: `{url}` answered HTTP {status}: {body}")]
    ExchangeRefused {
        registry: String,
        url: String,
        status: u16,
        body: String,
        settings: String,
    },
    #[error(
        "{what} `{url}` answered HTTP {status} redirecting to `{location}`; trusted-publishing requests follow no redirect, so nothing was sent there"
    )]
    Redirected {
        what: String,
        url: String,
        status: u16,
        location: String,
    },
    #[error(
        "trusted publishing to {index}: stevedore does not know the OIDC audience of this index (it is not pypi.org or test.pypi.org and `pypi-audience` is not set); the index asks for `{asked}`, and an audience is never taken from the index, so no token was requested"
    )]
    AudienceNotSet {
        index: String,
        asked: String,
        /// Why `asked` belongs to another service, when it does.
        foreign: Option<String>,
    },
    #[error(
        "trusted publishing to {index}: the index asks for the OIDC audience `{asked}`, but stevedore requests `{ours}` for it ({chosen_by}); an audience is never taken from the index, so no token was requested"
    )]
    AudienceMismatch {
        index: String,
        asked: String,
        ours: String,
        /// Where `ours` comes from.
        chosen_by: String,
        foreign: Option<String>,
    },
    #[error("no upload token for {registry}: the OIDC audience {why}; no token was requested")]
    ForeignAudience { registry: String, why: String },
    #[error("{what} `{url}`: {source} {during}; no further attempt was made")]
    Cancelled {
        what: String,
        url: String,
        /// When the signal came: `during the request` or the wait before a retry.
        during: String,
        #[source]
        source: Cancelled,
    },
    #[error("no upload token for {registry}: {source}")]
    Oidc {
        registry: String,
        #[source]
        source: crate::oidc::OidcError,
    },
}

impl UploadError {
    /// What to do about it.
    #[must_use]
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            UploadError::NoMatch { .. } => "Build the packages in an earlier step of the same job (`npm pack --pack-destination dist`, `python -m build`) and point `packages` at them, relative to the workspace".into(),
            UploadError::Artifacts(_) => "Nothing was tagged, released or uploaded".into(),
            UploadError::Different { .. } => "Nothing was tagged, released or uploaded. Release a new version (push a new commit), or remove the other file from the registry if it may be deleted there".into(),
            UploadError::ExchangeRefused { settings, .. } => format!(
                "Nothing was tagged, released or uploaded. Check the trusted publisher configured on the registry: {settings}. The job needs `permissions: id-token: write`; for a private registry without trusted publishing set `npm-token` / `pypi-token`"
            ),
            // The OIDC error's own hint is about AWS (the credential chain); for a registry only a token helps.
            UploadError::Oidc {
                source: crate::oidc::OidcError::UnderAct,
                ..
            } => "Nothing was tagged, released or uploaded. Trusted publishing needs the GitHub OIDC token, which act does not provide: for a local run set `npm-token` / `pypi-token` from a secret (e.g. `npm-token: ${{ secrets.NPM_TOKEN }}` and `act -s NPM_TOKEN=...`), or plan it with `dry-run: true`".into(),
            UploadError::Oidc { source, .. } => source.hint().unwrap_or_else(|| "Give the job `permissions: id-token: write`, or set `npm-token` / `pypi-token`".into()),
            UploadError::Redirected { .. } => "Nothing was tagged, released or uploaded. Set `npm-registry` / `pypi-repository` to the registry's own URL (the one that answers without a redirect), or use `npm-token` / `pypi-token`".into(),
            UploadError::AudienceNotSet { asked, foreign: None, .. } => format!(
                "Nothing was tagged, released or uploaded. If this index is yours and `{asked}` is the audience it alone accepts, set `pypi-audience: {asked}`; otherwise set `pypi-token` (docs/publish.md, \"Trusted publishing audiences\")"
            ),
            UploadError::AudienceNotSet { foreign: Some(why), .. }
            | UploadError::AudienceMismatch { foreign: Some(why), .. } => format!(
                "Nothing was tagged, released or uploaded. The index asked for another service's audience ({why}): check that `pypi-repository` names the index you mean; a token for that audience is never sent to a package index"
            ),
            UploadError::AudienceMismatch { asked, .. } => format!(
                "Nothing was tagged, released or uploaded. Check `pypi-repository`; for your own index whose audience really is `{asked}`, set `pypi-audience: {asked}` (pypi.org and test.pypi.org have fixed audiences), or set `pypi-token`"
            ),
            UploadError::ForeignAudience { .. } => "Nothing was tagged, released or uploaded. Set `pypi-audience` to the audience your index alone accepts, or use `pypi-token` / `npm-token`".into(),
            UploadError::Refused { status: 401 | 403, .. } => "The registry refused the credentials: check `npm-token` / `pypi-token`, or the trusted publisher configured for this package. A re-run completes the upload (the release is kept, uploaded files are skipped)".into(),
            _ => "A re-run completes the upload: the tag and release are kept and files already uploaded are skipped".into(),
        })
    }
}

/// Where a file goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Registry {
    Npm,
    PyPi,
}

/// What happened (or will happen) to one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Not on the registry yet.
    ToUpload,
    Uploaded,
    /// The registry already has this version with the same bytes.
    AlreadyThere,
}

/// One artifact, read and checked.
#[derive(Clone, Debug)]
pub struct Package {
    pub artifact: Artifact,
    /// The path relative to the workspace.
    pub file: String,
    pub bytes: Vec<u8>,
    pub sha256: String,
    pub registry: Registry,
    /// The registry URL (`npm-registry` or `pypi-repository`).
    pub registry_url: String,
    /// Where to see it.
    pub link: String,
    /// npm: the dist-tag.
    pub dist_tag: Option<String>,
    pub outcome: Outcome,
    /// Raw metadata (package.json or core metadata).
    meta: Vec<u8>,
}

/// What the report shows of one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published {
    pub name: String,
    pub version: String,
    pub file: String,
    pub registry: String,
    pub link: String,
    pub size: usize,
    pub sha256: String,
    pub dist_tag: Option<String>,
    pub outcome: Outcome,
}

impl Package {
    #[must_use]
    pub fn published(&self) -> Published {
        Published {
            name: self.artifact.name.clone(),
            version: self.artifact.version.clone(),
            file: self.file.clone(),
            registry: self.registry_url.clone(),
            link: self.link.clone(),
            size: self.bytes.len(),
            sha256: self.sha256.clone(),
            dist_tag: self.dist_tag.clone(),
            outcome: self.outcome,
        }
    }
}

impl Published {
    /// The step-output form.
    #[must_use]
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "version": self.version,
            "file": self.file,
            "registry": self.registry,
            "url": self.link,
            "size": self.size,
            "sha256": self.sha256,
            "dist-tag": self.dist_tag,
            "outcome": self.outcome.as_str(),
        })
    }
}

impl Outcome {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::ToUpload => "to-upload",
            Outcome::Uploaded => "uploaded",
            Outcome::AlreadyThere => "already-there",
        }
    }
}

/// The HTTP client of the trusted-publishing requests: as [`client`], following no redirect (a 3xx is
/// refused by [`send`]), so the OIDC token never reaches another URL than the one stevedore chose.
fn exchange_client(env: &Env) -> Result<reqwest::Client, UploadError> {
    Net::from_env(env)
        .reqwest()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| UploadError::Http {
            what: "building the HTTP client for".into(),
            url: "the trusted-publishing exchange".into(),
            detail: e.to_string(),
        })
}

/// Everything [`upload`] needs: the files and the tokens.
pub struct Prepared {
    pub packages: Vec<Package>,
    npm_tokens: Vec<(String, SecretString)>,
    pypi_token: Option<SecretString>,
    client: reqwest::Client,
    inputs: PackageInputs,
    cancel: Cancel,
}

/// Attempts of one request when the failure is transient (connection, timeout, 429, 5xx): the first and
/// four retries, [`Backoff::REGISTRY`] apart (about 1 s, 2 s, 4 s, 8 s; 7.5 s to 15 s in all).
const ATTEMPTS: u32 = 5;

/// The retries of one registry request.
fn retries() -> Retries {
    Retries::attempts(ATTEMPTS, Backoff::REGISTRY)
}

/// The HTTP client for the registries: the run's roots and proxy.
fn client(env: &Env) -> Result<reqwest::Client, UploadError> {
    Net::from_env(env)
        .reqwest()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(300))
        .build()
        .map_err(|e| UploadError::Http {
            what: "building the HTTP client for".into(),
            url: "the registries".into(),
            detail: e.to_string(),
        })
}

/// The files under `workspace` the patterns match (relative paths with `/`), each pattern at least one.
pub fn find(
    workspace: &Path,
    inputs: &PackageInputs,
) -> Result<Vec<(String, PathBuf)>, UploadError> {
    let mut all = Vec::new();
    let mut stack = vec![workspace.to_owned()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| UploadError::Io {
            path: dir.clone(),
            why: e.to_string(),
        })?;
        for e in entries.flatten() {
            let path = e.path();
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                if !SKIP_DIRS.contains(&e.file_name().to_string_lossy().as_ref()) {
                    stack.push(path);
                }
            } else if let Ok(rel) = path.strip_prefix(workspace) {
                let rel = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                all.push((rel, path));
            }
        }
    }
    all.sort();
    let mut out: Vec<(String, PathBuf)> = Vec::new();
    for p in &inputs.patterns {
        let hits: Vec<_> = all
            .iter()
            .filter(|(rel, _)| p.matcher.is_match(rel))
            .cloned()
            .collect();
        if hits.is_empty() {
            return Err(UploadError::NoMatch {
                glob: p.glob.clone(),
                workspace: workspace.to_owned(),
            });
        }
        for h in hits {
            if !out.contains(&h) {
                out.push(h);
            }
        }
    }
    Ok(out)
}

/// Reads the files, checks their versions against `version`, asks the registries what they have, and gets
/// the tokens for what must be uploaded. Writes nothing.
pub async fn prepare(
    env: &Env,
    cmds: &Commands,
    workspace: &Path,
    inputs: &PackageInputs,
    version: &Version,
) -> Result<Prepared, UploadError> {
    let files = find(workspace, inputs)?;
    let mut packages = Vec::new();
    let mut errors = Vec::new();
    for (rel, path) in files {
        let bytes = std::fs::read(&path).map_err(|e| UploadError::Io {
            path: path.clone(),
            why: e.to_string(),
        })?;
        let rel_path = PathBuf::from(&rel);
        let checked = artifacts::raw_metadata(&rel_path, &bytes).and_then(|(_, meta)| {
            let a = artifacts::read(&rel_path, &bytes)?;
            artifacts::check_version(&a, version)?;
            Ok((a, meta))
        });
        match checked {
            Ok((artifact, meta)) => {
                let (registry, registry_url) = match artifact.kind {
                    Kind::Npm => (Registry::Npm, inputs.npm_registry.clone()),
                    Kind::Wheel | Kind::Sdist => (Registry::PyPi, inputs.pypi_repository.clone()),
                };
                packages.push(Package {
                    sha256: hex::encode(sha2::Sha256::digest(&bytes)),
                    link: link(registry, &registry_url, &artifact.name, &artifact.version),
                    dist_tag: (registry == Registry::Npm).then(|| dist_tag(version)),
                    artifact,
                    file: rel,
                    bytes,
                    registry,
                    registry_url,
                    outcome: Outcome::ToUpload,
                    meta,
                });
            }
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(UploadError::Artifacts(errors));
    }
    let client = client(env)?;
    let cancel = env.cancel().clone();
    for p in &mut packages {
        let there = match p.registry {
            Registry::Npm => npm_existing(&client, &cancel, inputs, p).await?,
            Registry::PyPi => pypi_existing(&client, &cancel, inputs, p).await?,
        };
        if there {
            p.outcome = Outcome::AlreadyThere;
            tracing::info!(file = %p.file, "already on the registry with the same content");
        }
    }
    let mut npm_tokens = Vec::new();
    let mut pypi_token = None;
    let mut exchange: Option<reqwest::Client> = None;
    for p in packages.iter().filter(|p| p.outcome == Outcome::ToUpload) {
        match p.registry {
            Registry::Npm => {
                if npm_tokens.iter().any(|(n, _)| n == &p.artifact.name) {
                    continue;
                }
                let token = match &inputs.npm_token {
                    Some(t) => t.clone(),
                    None => {
                        let x = match &exchange {
                            Some(x) => x,
                            None => exchange.insert(exchange_client(env)?),
                        };
                        npm_exchange(x, env, cmds, inputs, &p.artifact.name).await?
                    }
                };
                npm_tokens.push((p.artifact.name.clone(), token));
            }
            Registry::PyPi => {
                if pypi_token.is_some() {
                    continue;
                }
                pypi_token = Some(match &inputs.pypi_token {
                    Some(t) => t.clone(),
                    None => {
                        let x = match &exchange {
                            Some(x) => x,
                            None => exchange.insert(exchange_client(env)?),
                        };
                        pypi_mint(x, env, cmds, inputs).await?
                    }
                });
            }
        }
    }
    Ok(Prepared {
        packages,
        npm_tokens,
        pypi_token,
        client,
        inputs: inputs.clone(),
        cancel,
    })
}

/// Uploads what is not there yet; marks each uploaded file. A refusal because the file exists (a retried
/// request that had gone through, or a parallel run) is checked against the registry again: the same
/// content counts as there, other content is the conflict error.
pub async fn upload(prepared: &mut Prepared) -> Result<(), UploadError> {
    let Prepared {
        packages,
        npm_tokens,
        pypi_token,
        client,
        inputs,
        cancel,
    } = prepared;
    for p in packages
        .iter_mut()
        .filter(|p| p.outcome == Outcome::ToUpload)
    {
        let sent = match p.registry {
            Registry::Npm => {
                let token = npm_tokens
                    .iter()
                    .find(|(n, _)| n == &p.artifact.name)
                    .map(|(_, t)| t);
                npm_publish(client, cancel, p, token).await
            }
            Registry::PyPi => pypi_upload(client, cancel, p, pypi_token.as_ref()).await,
        };
        match sent {
            Ok(()) => {
                p.outcome = Outcome::Uploaded;
                tracing::info!(file = %p.file, registry = %p.registry_url, "uploaded");
            }
            Err(
                e @ UploadError::Refused {
                    status: 400 | 403 | 409,
                    ..
                },
            ) => {
                let there = match p.registry {
                    Registry::Npm => npm_existing(client, cancel, inputs, p).await?,
                    Registry::PyPi => pypi_existing(client, cancel, inputs, p).await?,
                };
                if !there {
                    return Err(e);
                }
                p.outcome = Outcome::AlreadyThere;
                tracing::info!(file = %p.file, "refused as existing, and the same file is there");
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

// ---- shared HTTP -----------------------------------------------------------------------------------

async fn send_once(
    what: &str,
    url: &str,
    req: reqwest::RequestBuilder,
    cancel: &Cancel,
) -> Result<(u16, String), UploadError> {
    let resp = cancel
        .guard(req.send())
        .await
        .map_err(|c| cancelled(what, url, "during the request", c))?
        .map_err(|e| UploadError::Http {
            what: what.to_owned(),
            url: url.to_owned(),
            detail: error_chain(&e),
        })?;
    let status = resp.status().as_u16();
    redirected(what, url, &resp)?;
    Ok((status, body_of(what, url, resp, cancel).await?))
}

/// The answer's body (empty when it cannot be read), the wait bounded by the signal.
async fn body_of(
    what: &str,
    url: &str,
    resp: reqwest::Response,
    cancel: &Cancel,
) -> Result<String, UploadError> {
    cancel
        .guard(resp.text())
        .await
        .map(Result::unwrap_or_default)
        .map_err(|c| cancelled(what, url, "while the answer was read", c))
}

fn cancelled(what: &str, url: &str, during: &str, source: Cancelled) -> UploadError {
    UploadError::Cancelled {
        what: what.to_owned(),
        url: url.to_owned(),
        during: during.to_owned(),
        source,
    }
}

/// A 3xx that reached us (the exchange client follows none; the other client only after its limit or
/// without a `Location`): refused, naming where it pointed.
fn redirected(what: &str, url: &str, resp: &reqwest::Response) -> Result<(), UploadError> {
    if !resp.status().is_redirection() {
        return Ok(());
    }
    let location = resp
        .headers()
        .get(reqwest::header::LOCATION)
        .map(|l| String::from_utf8_lossy(l.as_bytes()).into_owned())
        .unwrap_or_else(|| "(no Location)".into());
    Err(UploadError::Redirected {
        what: what.to_owned(),
        url: url.to_owned(),
        status: resp.status().as_u16(),
        location: crate::report::truncate_bytes(location.trim(), 300).to_owned(),
    })
}

/// Sends with bounded retries on transient failures (connection, timeout, 429, 5xx), [`retries`] apart;
/// the status and body of the last answer. Every wait — the request, its answer, the pause before a retry —
/// ends at the runner's signal, and no attempt starts after it.
async fn send(
    what: &str,
    url: &str,
    req: reqwest::RequestBuilder,
    cancel: &Cancel,
) -> Result<(u16, String), UploadError> {
    let mut retries = retries();
    loop {
        // A streamed body cannot be sent twice (ours never are).
        let Some(this) = req.try_clone() else {
            return send_once(what, url, req, cancel).await;
        };
        let sent = cancel
            .guard(this.send())
            .await
            .map_err(|c| cancelled(what, url, "during the request", c))?;
        let (why, wait) = match sent {
            Ok(resp) => {
                let status = resp.status().as_u16();
                redirected(what, url, &resp)?;
                let body = body_of(what, url, resp, cancel).await?;
                if !(status == 429 || status >= 500) {
                    return Ok((status, body));
                }
                match retries.next_wait() {
                    Some(wait) => (format!("HTTP {status}"), wait),
                    None => return Ok((status, body)),
                }
            }
            Err(e) => match retries.next_wait() {
                Some(wait) if e.is_connect() || e.is_timeout() => (error_chain(&e), wait),
                _ => {
                    return Err(UploadError::Http {
                        what: what.to_owned(),
                        url: url.to_owned(),
                        detail: error_chain(&e),
                    });
                }
            },
        };
        let next = retries.attempts_made();
        tracing::warn!(
            "{what} `{url}`: {why}; attempt {next}/{ATTEMPTS} in {:.1} s",
            wait.as_secs_f64()
        );
        cancel.guard(tokio::time::sleep(wait)).await.map_err(|c| {
            cancelled(
                what,
                url,
                &format!("while waiting to retry ({why}; attempt {next} of {ATTEMPTS} was due)"),
                c,
            )
        })?;
    }
}

fn refused(what: &str, url: &str, status: u16, body: &str) -> UploadError {
    UploadError::Refused {
        what: what.to_owned(),
        url: url.to_owned(),
        status,
        body: crate::report::truncate_bytes(body.trim(), 500).to_owned(),
    }
}

fn join(base: &str, tail: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        tail.trim_start_matches('/')
    )
}

/// The origin (`scheme://host[:port]`) of a URL.
fn origin(url: &str) -> String {
    Url::parse(url).map_or_else(
        |_| url.trim_end_matches('/').to_owned(),
        |u| u.origin().ascii_serialization(),
    )
}

/// Where people see the published version.
fn link(registry: Registry, url: &str, name: &str, version: &str) -> String {
    let host = Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    match registry {
        Registry::Npm if host == "registry.npmjs.org" => {
            format!("https://www.npmjs.com/package/{name}/v/{version}")
        }
        Registry::Npm => join(url, &format!("{}/{version}", npm_escape(name))),
        Registry::PyPi if host == "upload.pypi.org" || host == "pypi.org" => {
            format!("https://pypi.org/project/{}/{version}/", normalize(name))
        }
        Registry::PyPi if host == "test.pypi.org" => {
            format!(
                "https://test.pypi.org/project/{}/{version}/",
                normalize(name)
            )
        }
        Registry::PyPi => format!("{}{}/", simple_index(url), normalize(name)),
    }
}

// ---- npm -------------------------------------------------------------------------------------------

/// `@scope/name` → `@scope%2fname` (npm-package-arg's `escapedName`).
fn npm_escape(name: &str) -> String {
    name.replace('/', "%2f")
}

/// `sha512-<base64>`, as npm's `dist.integrity`.
fn integrity(bytes: &[u8]) -> String {
    format!(
        "sha512-{}",
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha512::digest(bytes))
    )
}

fn shasum(bytes: &[u8]) -> String {
    use sha1::Digest as _;
    hex::encode(sha1::Sha1::digest(bytes))
}

/// Whether the registry already has this version with these bytes; an error when with other bytes.
async fn npm_existing(
    client: &reqwest::Client,
    cancel: &Cancel,
    inputs: &PackageInputs,
    p: &Package,
) -> Result<bool, UploadError> {
    let url = join(&inputs.npm_registry, &npm_escape(&p.artifact.name));
    let mut req = client.get(&url).header("accept", "application/json");
    if let Some(t) = &inputs.npm_token {
        req = req.bearer_auth(t.expose_secret());
    }
    let what = "reading the npm packument";
    let (status, body) = send(what, &url, req, cancel).await?;
    if status == 404 {
        return Ok(false);
    }
    if !(200..300).contains(&status) {
        return Err(refused(what, &url, status, &body));
    }
    let doc: Value = serde_json::from_str(&body).map_err(|e| UploadError::Http {
        what: what.into(),
        url: url.clone(),
        detail: format!("not JSON: {e}"),
    })?;
    let Some(dist) = doc.pointer(&format!(
        "/versions/{}/dist",
        p.artifact.version.replace('~', "~0").replace('/', "~1")
    )) else {
        return Ok(false);
    };
    let ours_integrity = integrity(&p.bytes);
    let ours_sha1 = shasum(&p.bytes);
    let (theirs, ours) = match (
        dist.get("integrity").and_then(Value::as_str),
        dist.get("shasum").and_then(Value::as_str),
    ) {
        (Some(i), _) if i.starts_with("sha512-") => (i.to_owned(), ours_integrity),
        (_, Some(s)) => (format!("shasum {s}"), format!("shasum {ours_sha1}")),
        _ => ("no digest".into(), ours_integrity),
    };
    if theirs == ours {
        return Ok(true);
    }
    Err(UploadError::Different {
        file: p.artifact.path.clone(),
        package: format!("{} {}", p.artifact.name, p.artifact.version),
        registry: inputs.npm_registry.clone(),
        theirs,
        ours,
    })
}

/// The trusted-publishing exchange for one package; the token is masked before it is returned.
async fn npm_exchange(
    client: &reqwest::Client,
    env: &Env,
    cmds: &Commands,
    inputs: &PackageInputs,
    name: &str,
) -> Result<SecretString, UploadError> {
    let registry = inputs.npm_registry.as_str();
    let audience = format!("npm:{}", super::packages::host_of(registry));
    let oidc = oidc_token(env, cmds, &audience, registry, &inputs.sts_audience).await?;
    let url = join(
        registry,
        &format!("-/npm/v1/oidc/token/exchange/package/{}", npm_escape(name)),
    );
    let req = client
        .post(&url)
        .header("accept", "application/json")
        .bearer_auth(oidc.expose_secret());
    let (status, body) = send(
        "the npm trusted-publishing exchange",
        &url,
        req,
        env.cancel(),
    )
    .await?;
    let settings = format!(
        "on {registry}, package `{name}` → Settings → Trusted Publisher must name {}; the package must exist there",
        publisher_fields(oidc.expose_secret())
    );
    exchanged(registry, &url, status, &body, settings, cmds)
}

/// What a trusted publisher must name for this job, with the values of the job's OIDC token (`jwt`):
/// `owner `acme`, repository `shop`, workflow `release.yml` and environment `release``. The workflow file
/// is the one of `job_workflow_ref` (the file whose job runs, which PyPI matches: warehouse
/// `oidc/models/github.py`), with `workflow_ref`'s when a reusable workflow was called from another.
/// The claims come from GitHub but are shown as any outside text: control characters and backticks
/// replaced, each cut to 100 bytes, then escaped with the rest of the message wherever it is shown.
fn publisher_fields(jwt: &str) -> String {
    const GENERIC: &str = "this repository's owner and name, the workflow file that runs this job and its environment (if any)";
    let Some(c) = crate::oidc::unverified_claims(jwt) else {
        return GENERIC.to_owned();
    };
    let Some((owner, repo)) = c.repository.as_deref().and_then(|r| r.split_once('/')) else {
        return GENERIC.to_owned();
    };
    let job_file = c.job_workflow_ref.as_deref().and_then(workflow_file);
    let caller = c.workflow_ref.as_deref().and_then(workflow_file);
    let workflow = match (job_file, caller) {
        (Some(j), Some(w)) if j != w => format!(
            "workflow `{}` (the reusable workflow whose job runs; the run's workflow is `{}`)",
            claim(j),
            claim(w)
        ),
        (Some(f), _) | (None, Some(f)) => format!("workflow `{}`", claim(f)),
        (None, None) => "the workflow file that runs this job".to_owned(),
    };
    let environment = match c.environment.as_deref().filter(|e| !e.is_empty()) {
        Some(e) => format!("environment `{}`", claim(e)),
        None => "no environment (the job has no `environment:`; leave it empty)".to_owned(),
    };
    format!(
        "owner `{}`, repository `{}`, {workflow} and {environment}",
        claim(owner),
        claim(repo)
    )
}

/// The workflow file of a `workflow_ref`/`job_workflow_ref` (`acme/shop/.github/workflows/release.yml@refs/heads/main`
/// → `release.yml`): the last `*.yml`/`*.yaml` path segment followed by `@`, as warehouse extracts it.
fn workflow_file(r: &str) -> Option<&str> {
    let path = r.split_once("/.github/workflows/")?.1;
    let end = [".yml@", ".yaml@"]
        .iter()
        .filter_map(|ext| path.find(ext).map(|i| i + ext.len() - 1))
        .min()?;
    let file = &path[..end];
    let file = file.rsplit('/').next().unwrap_or(file);
    let stem = file
        .strip_suffix(".yml")
        .or_else(|| file.strip_suffix(".yaml"))
        .unwrap_or_default();
    Some(file).filter(|_| !stem.is_empty())
}

/// A claim's value as it goes into a message: no control character (a line break would start a new line
/// in the log) and no backtick (it would end the code span it is quoted in), at most 100 bytes.
fn claim(v: &str) -> String {
    let v: String = v
        .chars()
        .map(|ch| match ch {
            '`' => '\'',
            ch if ch.is_control() => ' ',
            ch => ch,
        })
        .collect();
    crate::report::truncate_bytes(&v, 100).to_owned()
}

/// Reads `{"token": ...}`, masks it at once.
fn exchanged(
    registry: &str,
    url: &str,
    status: u16,
    body: &str,
    settings: String,
    cmds: &Commands,
) -> Result<SecretString, UploadError> {
    let token = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("token").and_then(Value::as_str).map(str::to_owned))
        .filter(|t| !t.is_empty());
    if let Some(t) = &token {
        cmds.add_mask(t);
    }
    match token {
        Some(t) if (200..300).contains(&status) => Ok(SecretString::from(t)),
        _ => Err(UploadError::ExchangeRefused {
            registry: registry.to_owned(),
            url: url.to_owned(),
            status,
            body: crate::report::truncate_bytes(body.trim(), 500).to_owned(),
            settings,
        }),
    }
}

/// The GitHub OIDC token for a registry's `audience` (never the STS audience `sts`).
async fn oidc_token(
    env: &Env,
    cmds: &Commands,
    audience: &str,
    registry: &str,
    sts: &str,
) -> Result<SecretString, UploadError> {
    if audience.eq_ignore_ascii_case(crate::oidc::DEFAULT_AUDIENCE)
        || audience.eq_ignore_ascii_case(sts)
    {
        return Err(UploadError::ForeignAudience {
            registry: registry.to_owned(),
            why: format!(
                "`{audience}` is the AWS STS audience (input `audience`): a token for it can assume this repository's AWS roles"
            ),
        });
    }
    let wrap = |source| UploadError::Oidc {
        registry: registry.to_owned(),
        source,
    };
    let c = crate::oidc::http_client(env).map_err(wrap)?;
    crate::oidc::fetch(&c, env, cmds, audience)
        .await
        .map_err(wrap)
}

/// `PUT <registry>/<name>` with the packument npm's client sends.
async fn npm_publish(
    client: &reqwest::Client,
    cancel: &Cancel,
    p: &Package,
    token: Option<&SecretString>,
) -> Result<(), UploadError> {
    let name = &p.artifact.name;
    let version = &p.artifact.version;
    let mut manifest: Value = serde_json::from_slice(&p.meta).unwrap_or_else(|_| json!({}));
    let unscoped = name.rsplit('/').next().unwrap_or(name);
    let tarball_name = format!("{name}-{version}.tgz");
    if let Some(m) = manifest.as_object_mut() {
        m.remove("readme");
        m.insert("_id".into(), json!(format!("{name}@{version}")));
        m.insert(
            "dist".into(),
            json!({
                "integrity": integrity(&p.bytes),
                "shasum": shasum(&p.bytes),
                "tarball": join(&p.registry_url, &format!("{name}/-/{unscoped}-{version}.tgz")),
            }),
        );
    }
    let tag = p.dist_tag.clone().unwrap_or_else(|| "latest".into());
    let body = json!({
        "_id": name,
        "name": name,
        "description": manifest.get("description").cloned().unwrap_or(Value::Null),
        "dist-tags": {tag: version},
        "versions": {version.clone(): manifest},
        "access": Value::Null,
        "_attachments": {
            tarball_name: {
                "content_type": "application/octet-stream",
                "data": base64::engine::general_purpose::STANDARD.encode(&p.bytes),
                "length": p.bytes.len(),
            }
        }
    });
    let url = join(&p.registry_url, &npm_escape(name));
    let mut req = client
        .put(&url)
        .header("npm-command", "publish")
        .json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t.expose_secret());
    }
    let what = format!("publishing `{}` to", p.file);
    let (status, text) = send(&what, &url, req, cancel).await?;
    if (200..300).contains(&status) {
        return Ok(());
    }
    Err(refused(&what, &url, status, &text))
}

// ---- PyPI ------------------------------------------------------------------------------------------

/// PEP 503 normalized project name.
fn normalize(name: &str) -> String {
    let mut out = String::new();
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// The simple index (PEP 503) beside an upload URL: PyPI's `upload.pypi.org/legacy/` → `pypi.org/simple/`,
/// `…/legacy/` → `…/simple/`, anything else (pypiserver, devpi…) → `<url>/simple/`.
#[must_use]
pub fn simple_index(repository: &str) -> String {
    let Ok(mut u) = Url::parse(repository) else {
        return join(repository, "simple/");
    };
    if u.host_str() == Some("upload.pypi.org") {
        return "https://pypi.org/simple/".into();
    }
    let path = u.path().trim_end_matches('/').to_owned();
    let base = path.strip_suffix("/legacy").unwrap_or(&path).to_owned();
    u.set_path(&format!("{base}/simple/"));
    u.set_query(None);
    u.into()
}

/// Whether the index lists this file with these bytes; an error when with other bytes.
async fn pypi_existing(
    client: &reqwest::Client,
    cancel: &Cancel,
    inputs: &PackageInputs,
    p: &Package,
) -> Result<bool, UploadError> {
    let index = format!(
        "{}{}/",
        simple_index(&inputs.pypi_repository),
        normalize(&p.artifact.name)
    );
    let mut req = client.get(&index).header("accept", "text/html");
    if let Some(t) = &inputs.pypi_token {
        req = req.basic_auth("__token__", Some(t.expose_secret()));
    }
    let what = "reading the simple index";
    let (status, body) = send(what, &index, req, cancel).await?;
    if status == 404 {
        return Ok(false);
    }
    if !(200..300).contains(&status) {
        return Err(refused(what, &index, status, &body));
    }
    let file_name = p
        .artifact
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    for href in hrefs(&body) {
        let (target, fragment) = href.split_once('#').unwrap_or((&href, ""));
        let listed = target.rsplit('/').next().unwrap_or_default();
        if listed != file_name {
            continue;
        }
        let theirs = match fragment.strip_prefix("sha256=") {
            Some(d) => d.to_owned(),
            None => {
                // No sha256 in the index: fetch the file and hash it.
                let url = Url::parse(&index)
                    .and_then(|b| b.join(target))
                    .map(String::from)
                    .unwrap_or_else(|_| target.to_owned());
                let resp = client
                    .get(&url)
                    .send()
                    .await
                    .map_err(|e| UploadError::Http {
                        what: "downloading".into(),
                        url: url.clone(),
                        detail: error_chain(&e),
                    })?;
                let bytes = resp.bytes().await.map_err(|e| UploadError::Http {
                    what: "downloading".into(),
                    url: url.clone(),
                    detail: error_chain(&e),
                })?;
                hex::encode(sha2::Sha256::digest(&bytes))
            }
        };
        if theirs.eq_ignore_ascii_case(&p.sha256) {
            return Ok(true);
        }
        return Err(UploadError::Different {
            file: p.artifact.path.clone(),
            package: format!("{} {}", p.artifact.name, p.artifact.version),
            registry: inputs.pypi_repository.clone(),
            theirs: format!("sha256 {theirs}"),
            ours: format!("sha256 {}", p.sha256),
        });
    }
    Ok(false)
}

/// The `href` values of the anchors of a simple-index page, entities `&amp;` decoded.
fn hrefs(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find("href=") {
        rest = &rest[i + 5..];
        let Some(q) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') else {
            continue;
        };
        let Some(end) = rest[1..].find(q) else { break };
        out.push(rest[1..=end].replace("&amp;", "&"));
        rest = &rest[end + 1..];
    }
    out
}

/// The manual trusted-publishing exchange; the minted token is masked before it is returned.
async fn pypi_mint(
    client: &reqwest::Client,
    env: &Env,
    cmds: &Commands,
    inputs: &PackageInputs,
) -> Result<SecretString, UploadError> {
    let repository = inputs.pypi_repository.as_str();
    let base = origin(repository);
    let audience_url = format!("{base}/_/oidc/audience");
    let (status, body) = send(
        "reading the trusted-publishing audience",
        &audience_url,
        client
            .get(&audience_url)
            .header("accept", "application/json"),
        env.cancel(),
    )
    .await?;
    let audience = serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|v| v.get("audience").and_then(Value::as_str).map(str::to_owned));
    let Some(audience) = audience.filter(|_| (200..300).contains(&status)) else {
        return Err(UploadError::ExchangeRefused {
            registry: repository.to_owned(),
            url: audience_url,
            status,
            body: crate::report::truncate_bytes(body.trim(), 500).to_owned(),
            settings: format!(
                "on {base}, the project's Publishing settings must list a GitHub trusted publisher with this repository's owner and name, the workflow file that runs this job and its environment (if any); the repository must support trusted publishing (PyPI and TestPyPI do)"
            ),
        });
    };
    let audience = pypi_audience(inputs, &base, &audience)?;
    let oidc = oidc_token(env, cmds, &audience, repository, &inputs.sts_audience).await?;
    let url = format!("{base}/_/oidc/mint-token");
    let req = client
        .post(&url)
        .header("accept", "application/json")
        .json(&json!({"token": oidc.expose_secret()}));
    let (status, body) = send(
        "the PyPI trusted-publishing exchange",
        &url,
        req,
        env.cancel(),
    )
    .await?;
    let settings = format!(
        "on {base}, the project's Publishing settings must list a GitHub trusted publisher with {}",
        publisher_fields(oidc.expose_secret())
    );
    exchanged(repository, &url, status, &body, settings, cmds)
}

/// The audience of the PyPI token: stevedore's (see [`PackageInputs::pypi_audience`]), and only when the
/// index at `base` asks for exactly that one (`asked`, its `/_/oidc/audience` answer).
fn pypi_audience(inputs: &PackageInputs, base: &str, asked: &str) -> Result<String, UploadError> {
    let host = super::packages::host_of(&inputs.pypi_repository);
    let shown = crate::report::truncate_bytes(asked.trim(), 100).to_owned();
    let foreign = super::packages::foreign_audience(asked, &inputs.sts_audience, &host);
    let Some(ours) = &inputs.pypi_audience else {
        return Err(UploadError::AudienceNotSet {
            index: base.to_owned(),
            asked: shown,
            foreign,
        });
    };
    if ours != asked {
        let source = match super::packages::known_pypi_audience(&host) {
            Some(_) => format!("the audience of {host}"),
            None => "input `pypi-audience`".to_owned(),
        };
        return Err(UploadError::AudienceMismatch {
            index: base.to_owned(),
            asked: shown,
            ours: ours.clone(),
            chosen_by: source,
            foreign,
        });
    }
    if let Some(why) = super::packages::foreign_audience(ours, &inputs.sts_audience, &host) {
        return Err(UploadError::ForeignAudience {
            registry: inputs.pypi_repository.clone(),
            why,
        });
    }
    Ok(ours.clone())
}

/// The legacy-API form fields of a file: metadata fields as twine sends them, plus the digest.
fn pypi_fields(p: &Package) -> Vec<(String, String)> {
    let (headers, body) = artifacts::core_fields(&p.meta);
    let mut fields = vec![
        (":action".to_owned(), "file_upload".to_owned()),
        ("protocol_version".to_owned(), "1".to_owned()),
    ];
    let mut has_description = false;
    for (k, v) in headers {
        let key = match k.to_ascii_lowercase().as_str() {
            "metadata-version" => "metadata_version".to_owned(),
            "home-page" => "home_page".to_owned(),
            "classifier" => "classifiers".to_owned(),
            "project-url" => "project_urls".to_owned(),
            "provides-extra" => "provides_extra".to_owned(),
            "license-file" => "license_file".to_owned(),
            other => other.replace('-', "_"),
        };
        has_description |= key == "description";
        fields.push((key, v));
    }
    if !has_description && !body.trim().is_empty() {
        fields.push(("description".into(), body));
    }
    let (filetype, pyversion) = match p.artifact.kind {
        Kind::Wheel => {
            // `{name}-{ver}(-{build})?-{python}-{abi}-{platform}.whl`: the python tag is third from the end.
            let stem = p.file.rsplit('/').next().unwrap_or_default();
            let parts: Vec<&str> = stem.trim_end_matches(".whl").split('-').collect();
            let py = parts
                .len()
                .checked_sub(3)
                .and_then(|i| parts.get(i))
                .copied()
                .unwrap_or("py3");
            ("bdist_wheel", py.to_owned())
        }
        _ => ("sdist", "source".to_owned()),
    };
    fields.push(("filetype".into(), filetype.into()));
    fields.push(("pyversion".into(), pyversion));
    fields.push(("sha256_digest".into(), p.sha256.clone()));
    fields
}

/// A `multipart/form-data` body: the fields, then the file as `content`.
fn multipart(fields: &[(String, String)], file_name: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = format!("stevedore-{:032x}", rand::random::<u128>());
    let mut body = Vec::with_capacity(bytes.len() + 4096);
    let quote = |s: &str| s.replace('"', "%22").replace(['\r', '\n'], " ");
    for (k, v) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"\r\n\r\n",
                quote(k)
            )
            .as_bytes(),
        );
        body.extend_from_slice(v.as_bytes());
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"content\"; filename=\"{}\"\r\nContent-Type: application/octet-stream\r\n\r\n",
            quote(file_name)
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn pypi_upload(
    client: &reqwest::Client,
    cancel: &Cancel,
    p: &Package,
    token: Option<&SecretString>,
) -> Result<(), UploadError> {
    let file_name = p.file.rsplit('/').next().unwrap_or(&p.file);
    let (content_type, body) = multipart(&pypi_fields(p), file_name, &p.bytes);
    let mut req = client
        .post(&p.registry_url)
        .header("content-type", content_type)
        .body(body);
    if let Some(t) = token {
        req = req.basic_auth("__token__", Some(t.expose_secret()));
    }
    let what = format!("uploading `{}` to", p.file);
    let (status, text) = send(&what, &p.registry_url, req, cancel).await?;
    if (200..300).contains(&status) {
        return Ok(());
    }
    Err(refused(&what, &p.registry_url, status, &text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn under_act_the_hint_names_the_registry_tokens_not_aws() {
        let e = UploadError::Oidc {
            registry: "https://registry.npmjs.org".into(),
            source: crate::oidc::OidcError::UnderAct,
        };
        let hint = e.hint().unwrap_or_default();
        assert!(hint.contains("`npm-token` / `pypi-token`"), "{hint}");
        assert!(
            hint.contains("Nothing was tagged, released or uploaded"),
            "{hint}"
        );
        assert!(!hint.contains("AWS"), "{hint}");
    }

    /// The product's schedule, not a test's: five attempts, about 1 s, 2 s, 4 s and 8 s apart (each wait
    /// jittered between half its ceiling and the ceiling), so an outage shorter than 7.5 s is waited out.
    #[test]
    fn registry_requests_retry_over_seconds() {
        for _ in 0..20 {
            let mut r = retries();
            let mut waited = Duration::ZERO;
            for ceiling in [1, 2, 4, 8] {
                let w = r.next_wait().unwrap_or_default();
                let c = Duration::from_secs(ceiling);
                assert!(w >= c / 2 && w <= c, "{ceiling}: {w:?}");
                waited += w;
            }
            assert_eq!(r.next_wait(), None);
            assert_eq!(r.attempts_made(), ATTEMPTS);
            assert!(waited >= Duration::from_millis(7500) && waited <= Duration::from_secs(15));
        }
    }

    #[test]
    fn workflow_files_of_workflow_refs() {
        for (r, want) in [
            (
                "acme/shop/.github/workflows/release.yml@refs/heads/main",
                Some("release.yml"),
            ),
            (
                "acme/shop/.github/workflows/a.yaml@refs/tags/v1.yml@x",
                Some("a.yaml"),
            ),
            (
                "acme/shop/.github/workflows/sub/dir.yml@main",
                Some("dir.yml"),
            ),
            (
                "acme/shop/.github/workflows/x@y.yml@refs/heads/main",
                Some("x@y.yml"),
            ),
            ("acme/shop/release.yml@main", None),
            ("acme/shop/.github/workflows/.yml@main", None),
        ] {
            assert_eq!(workflow_file(r), want, "{r}");
        }
        assert_eq!(claim("rel`ease\n::error::x"), "rel'ease ::error::x");
        assert_eq!(claim(&"e".repeat(300)).len(), 100);
    }

    #[test]
    fn simple_index_beside_the_upload_url() {
        assert_eq!(
            simple_index("https://upload.pypi.org/legacy/"),
            "https://pypi.org/simple/"
        );
        assert_eq!(
            simple_index("https://test.pypi.org/legacy/"),
            "https://test.pypi.org/simple/"
        );
        assert_eq!(
            simple_index("http://127.0.0.1:8080/"),
            "http://127.0.0.1:8080/simple/"
        );
        assert_eq!(
            simple_index("https://pkgs.example.com/root/dev"),
            "https://pkgs.example.com/root/dev/simple/"
        );
    }

    #[test]
    fn names_links_and_digests() {
        assert_eq!(normalize("My_Package.Name"), "my-package-name");
        assert_eq!(npm_escape("@acme/lib"), "@acme%2flib");
        assert_eq!(
            link(
                Registry::Npm,
                "https://registry.npmjs.org/",
                "@acme/lib",
                "1.0.0"
            ),
            "https://www.npmjs.com/package/@acme/lib/v/1.0.0"
        );
        assert_eq!(
            link(
                Registry::PyPi,
                "https://upload.pypi.org/legacy/",
                "My_Pkg",
                "1.0.0"
            ),
            "https://pypi.org/project/my-pkg/1.0.0/"
        );
        assert_eq!(
            link(Registry::PyPi, "http://127.0.0.1:9/", "demo", "1.0.0"),
            "http://127.0.0.1:9/simple/demo/"
        );
        // Known digests of "abc".
        assert_eq!(shasum(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(
            integrity(b"abc"),
            "sha512-3a81oZNherrMQXNJriBBMRLm+k6JqX6iCp7u5ktV05ohkpkqJ0/BqDa6PCOj/uu9RU1EI2Q86A4qmslPpUyknw=="
        );
        assert_eq!(
            origin("https://upload.pypi.org/legacy/"),
            "https://upload.pypi.org"
        );
    }

    #[test]
    fn hrefs_of_a_simple_page() {
        let html = r#"<a href="/packages/demo-1.0.0.tar.gz#sha256=ab">demo-1.0.0.tar.gz</a><br>
<a href='../f/demo-1.0.0-py3-none-any.whl?x=1&amp;y=2'>w</a>"#;
        assert_eq!(
            hrefs(html),
            [
                "/packages/demo-1.0.0.tar.gz#sha256=ab",
                "../f/demo-1.0.0-py3-none-any.whl?x=1&y=2"
            ]
        );
    }

    #[test]
    fn multipart_body_is_well_formed() {
        let (ct, body) = multipart(
            &[(":action".into(), "file_upload".into())],
            "demo-1.0.0.tar.gz",
            b"BYTES",
        );
        let boundary = ct.strip_prefix("multipart/form-data; boundary=").unwrap();
        let text = String::from_utf8(body).unwrap();
        assert!(text.starts_with(&format!("--{boundary}\r\nContent-Disposition: form-data; name=\":action\"\r\n\r\nfile_upload\r\n")));
        assert!(text.contains("name=\"content\"; filename=\"demo-1.0.0.tar.gz\"\r\nContent-Type: application/octet-stream\r\n\r\nBYTES\r\n"));
        assert!(text.ends_with(&format!("--{boundary}--\r\n")));
    }
}
