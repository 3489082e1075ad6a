//! Container images through the Docker Engine API on the socket the runner mounts.
//!
//! The runner starts container actions with `-v /var/run/docker.sock:/var/run/docker.sock`, so the binary
//! talks to the host's engine directly (bollard, unix socket only: no TLS stack, no `docker` CLI in the
//! image). `DOCKER_HOST=unix:///path` overrides the socket; podman's Docker-compatible service
//! (`podman system service`) works too and is what the tests use.
//!
//! The build context is tarred in-process and streamed to `/build` (memory stays bounded by the channel,
//! not the context size), honouring `.dockerignore` the way the Docker CLI does: patterns with `*`, `?`,
//! `**`, `!` exceptions, last match wins, a matched directory excludes what is below it; the Dockerfile and
//! `.dockerignore` are always sent. The image digest comes from the engine's push progress
//! (`TAG: digest: sha256:… size: N`, sent by both Docker and podman), else from `RepoDigests`.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use bollard::Docker;
use bollard::auth::DockerCredentials;
use bollard::query_parameters::{
    BuildImageOptionsBuilder, PushImageOptionsBuilder, TagImageOptionsBuilder,
};
use bytes::Bytes;
use futures_util::StreamExt as _;
use globset::{GlobBuilder, GlobMatcher};
use secrecy::ExposeSecret as _;

use super::ecr::RegistryAuth;

/// The socket the runner mounts into container actions.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";
/// Name under which a Dockerfile from outside the context is added to the context tar.
const OUTSIDE_DOCKERFILE: &str = ".stevedore.Dockerfile";
/// Lines of build output kept for the error message.
const TAIL_LINES: usize = 30;

/// Everything the engine needs for one build and push; pure data, printable in a dry run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImagePlan {
    /// Context directory (absolute).
    pub context: PathBuf,
    /// Dockerfile (absolute).
    pub dockerfile: PathBuf,
    /// Registry host, e.g. `123456789012.dkr.ecr.eu-west-1.amazonaws.com`.
    pub registry: String,
    pub repository: String,
    /// Tags to push, first one used for the build; at least one.
    pub tags: Vec<String>,
    pub build_args: Vec<(String, String)>,
    pub target: Option<String>,
    /// Network for `RUN` steps; `None` is the engine's default.
    pub network: Option<String>,
    pub labels: Vec<(String, String)>,
}

impl ImagePlan {
    /// `registry/repository`.
    #[must_use]
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
}

/// What was built and pushed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pushed {
    /// Local image id (`sha256:…` of the config).
    pub image_id: String,
    /// Manifest digest in the registry, `sha256:…`.
    pub digest: String,
    /// `registry/repository@sha256:…`: what deploy should run.
    pub image: String,
    /// `registry/repository:tag` for every pushed tag.
    pub tagged: Vec<String>,
}

/// The engine said no.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(
        "no Docker socket at `{0}`: the runner mounts /var/run/docker.sock into container actions; on self-hosted runners install Docker, or set DOCKER_HOST=unix:///path/to/socket"
    )]
    NoSocket(String),
    #[error(
        "DOCKER_HOST `{0}` is not a unix socket; stevedore speaks to the engine over unix:// only (the socket the runner mounts)"
    )]
    UnsupportedHost(String),
    #[error("cannot reach the Docker engine at `{socket}`: {message}")]
    Connect { socket: String, message: String },
    #[error("cannot read the build context `{}`: {message}; check input `context`", path.display())]
    Context { path: PathBuf, message: String },
    /// Links out of the context, special files: a configuration problem (exit 2), nothing is sent.
    #[error(
        "build context `{}` holds entries that may not be sent to the engine; nothing was built or pushed:\n{}\nReplace a link that leaves the context with the file itself (a relative link inside it is sent as a link), remove special files, or exclude them in `.dockerignore`",
        context.display(),
        super::tree::list(refused)
    )]
    Refused {
        context: PathBuf,
        refused: Vec<super::tree::Refused>,
    },
    #[error("invalid `.dockerignore` pattern `{pattern}`: {message}")]
    Ignore { pattern: String, message: String },
    #[error("the image build failed: {message}\n--- last build output ---\n{tail}")]
    Build { message: String, tail: String },
    #[error("tagging `{from}` as `{to}` failed: {message}")]
    Tag {
        from: String,
        to: String,
        message: String,
    },
    #[error(
        "pushing `{name}:{tag}` failed: {message}. Check that the ECR repository exists and the role may ecr:PutImage/ecr:InitiateLayerUpload"
    )]
    Push {
        name: String,
        tag: String,
        message: String,
    },
    #[error(
        "the engine pushed `{name}` but reported no digest for it and the image has none in RepoDigests"
    )]
    NoDigest { name: String },
    #[error("the tags of one image were pushed with different digests: {0}")]
    DigestMismatch(String),
}

/// Connects to the engine: `DOCKER_HOST` when it is a unix socket, else [`DEFAULT_SOCKET`].
pub async fn connect(docker_host: Option<&str>) -> Result<Docker, ImageError> {
    let socket = match docker_host {
        None => DEFAULT_SOCKET.to_owned(),
        Some(h) if h.starts_with("unix://") => h.trim_start_matches("unix://").to_owned(),
        Some(h) if h.starts_with('/') => h.to_owned(),
        Some(h) => return Err(ImageError::UnsupportedHost(h.to_owned())),
    };
    if !Path::new(&socket).exists() {
        return Err(ImageError::NoSocket(socket));
    }
    let connect_err = |e: bollard::errors::Error| ImageError::Connect {
        socket: socket.clone(),
        message: e.to_string(),
    };
    // Long builds stream for minutes: the timeout is per request, generous on purpose.
    let docker = Docker::connect_with_unix(&socket, 3600, bollard::API_DEFAULT_VERSION)
        .map_err(connect_err)?;
    // Podman's compat API is 1.41, Docker's newer: talk the version the engine speaks.
    docker.negotiate_version().await.map_err(connect_err)
}

/// Builds, tags and pushes; returns the digest the registry stored.
pub async fn build_and_push(
    docker: &Docker,
    plan: &ImagePlan,
    auth: &RegistryAuth,
) -> Result<Pushed, ImageError> {
    let name = plan.name();
    let first = plan
        .tags
        .first()
        .ok_or_else(|| ImageError::Build {
            message: "no tag to build".into(),
            tail: String::new(),
        })?
        .clone();
    let image_id = build(docker, plan, &format!("{name}:{first}")).await?;
    for tag in plan.tags.iter().skip(1) {
        docker
            .tag_image(
                &format!("{name}:{first}"),
                Some(TagImageOptionsBuilder::new().repo(&name).tag(tag).build()),
            )
            .await
            .map_err(|e| ImageError::Tag {
                from: format!("{name}:{first}"),
                to: format!("{name}:{tag}"),
                message: e.to_string(),
            })?;
    }
    let creds = DockerCredentials {
        username: Some(auth.username.clone()),
        password: Some(auth.password.expose_secret().to_owned()),
        serveraddress: Some(auth.registry.clone()),
        ..Default::default()
    };
    let mut digests: Vec<(String, String)> = Vec::new();
    for tag in &plan.tags {
        let d = push(docker, &name, tag, creds.clone()).await?;
        digests.push((tag.clone(), d));
    }
    let digest = match digests.iter().find(|(_, d)| !d.is_empty()) {
        Some((_, d)) => d.clone(),
        None => repo_digest(docker, &format!("{name}:{first}"), &name)
            .await
            .ok_or_else(|| ImageError::NoDigest { name: name.clone() })?,
    };
    let differing: Vec<String> = digests
        .iter()
        .filter(|(_, d)| !d.is_empty() && *d != digest)
        .map(|(t, d)| format!("{t} -> {d}"))
        .collect();
    if !differing.is_empty() {
        return Err(ImageError::DigestMismatch(format!(
            "{first} -> {digest}; {}",
            differing.join("; ")
        )));
    }
    Ok(Pushed {
        image_id,
        image: format!("{name}@{digest}"),
        digest,
        tagged: plan.tags.iter().map(|t| format!("{name}:{t}")).collect(),
    })
}

async fn build(docker: &Docker, plan: &ImagePlan, reference: &str) -> Result<String, ImageError> {
    let ignore = DockerIgnore::load(&plan.context)?;
    let (dockerfile_in_tar, outside) = match plan.dockerfile.strip_prefix(&plan.context) {
        Ok(rel) => (slash_path(rel), None),
        Err(_) => (OUTSIDE_DOCKERFILE.to_owned(), Some(plan.dockerfile.clone())),
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(8);
    let context = plan.context.clone();
    let df_name = dockerfile_in_tar.clone();
    let tar_task = tokio::task::spawn_blocking(move || {
        write_context(
            &context,
            &ignore,
            &df_name,
            outside.as_deref(),
            ChannelWriter(tx),
        )
    });
    let body =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) });
    let build_args: HashMap<String, String> = plan.build_args.iter().cloned().collect();
    let labels: HashMap<String, String> = plan.labels.iter().cloned().collect();
    let mut opts = BuildImageOptionsBuilder::new()
        .dockerfile(&dockerfile_in_tar)
        .t(reference)
        .rm(true)
        .forcerm(true)
        .buildargs(&build_args)
        .labels(&labels);
    if let Some(t) = &plan.target {
        opts = opts.target(t);
    }
    if let Some(n) = &plan.network {
        opts = opts.networkmode(n);
    }
    let mut stream = docker.build_image(opts.build(), None, Some(bollard::body_stream(body)));
    let mut tail: Vec<String> = Vec::new();
    let mut image_id = None;
    let mut failure = None;
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                if let Some(s) = info.stream.as_deref().or(info.status.as_deref()) {
                    for line in s.lines().filter(|l| !l.trim().is_empty()) {
                        tracing::info!(target: "stevedore::build::engine", "{line}");
                        tail.push(line.to_owned());
                        if tail.len() > TAIL_LINES {
                            tail.remove(0);
                        }
                    }
                }
                if let Some(id) = info.aux.and_then(|a| a.id) {
                    image_id = Some(id);
                }
                if let Some(e) = info.error_detail.and_then(|d| d.message) {
                    failure = Some(e);
                }
            }
            Err(e) => {
                failure = Some(e.to_string());
                break;
            }
        }
    }
    // A context that could not be read explains a failed build better than the engine's complaint.
    match tar_task.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e),
        Err(join) => {
            return Err(ImageError::Context {
                path: plan.context.clone(),
                message: join.to_string(),
            });
        }
    }
    if let Some(message) = failure {
        return Err(ImageError::Build {
            message,
            tail: tail.join("\n"),
        });
    }
    match image_id {
        Some(id) => Ok(id),
        None => docker
            .inspect_image(reference)
            .await
            .ok()
            .and_then(|i| i.id)
            .ok_or_else(|| ImageError::Build {
                message: format!("the engine built nothing under `{reference}`"),
                tail: tail.join("\n"),
            }),
    }
}

/// Pushes one tag; returns the digest from the progress stream, or `""` when the engine sent none.
async fn push(
    docker: &Docker,
    name: &str,
    tag: &str,
    creds: DockerCredentials,
) -> Result<String, ImageError> {
    let push_err = |message: String| ImageError::Push {
        name: name.to_owned(),
        tag: tag.to_owned(),
        message,
    };
    let mut stream = docker.push_image(
        name,
        Some(PushImageOptionsBuilder::new().tag(tag).build()),
        Some(creds),
    );
    let mut digest = String::new();
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| push_err(e.to_string()))?;
        if let Some(e) = info.error_detail.and_then(|d| d.message) {
            return Err(push_err(e));
        }
        if let Some(s) = info.status.as_deref() {
            tracing::debug!(target: "stevedore::build::engine", "{s}");
            if let Some(d) = digest_in_status(s) {
                digest = d;
            }
        }
    }
    tracing::info!(%name, %tag, %digest, "pushed");
    Ok(digest)
}

async fn repo_digest(docker: &Docker, reference: &str, name: &str) -> Option<String> {
    let inspect = docker.inspect_image(reference).await.ok()?;
    inspect
        .repo_digests?
        .into_iter()
        .find_map(|rd| rd.strip_prefix(&format!("{name}@")).map(str::to_owned))
}

/// `v1: digest: sha256:<64 hex> size: 420` -> `sha256:<64 hex>`.
#[must_use]
pub fn digest_in_status(status: &str) -> Option<String> {
    let at = status.find("digest: sha256:")? + "digest: ".len();
    let rest = &status[at..];
    let hex: String = rest["sha256:".len()..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    (hex.len() == 64).then(|| format!("sha256:{hex}"))
}

/// Sends tar bytes to the request body in chunks; blocks when the engine reads slower than we tar.
struct ChannelWriter(tokio::sync::mpsc::Sender<Bytes>);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Bytes::copy_from_slice(buf))
            .map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::BrokenPipe,
                    "engine closed the build request",
                )
            })?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Checks, without sending anything, that the context holds nothing [`write_context`] would refuse: links
/// leaving it and special files among the entries that would be sent (`.dockerignore` applied). A
/// missing context is left to the build to report. `workspace`: a context named inside it must resolve
/// inside it.
pub fn check_context(
    context: &Path,
    dockerfile: &Path,
    workspace: Option<&Path>,
) -> Result<(), ImageError> {
    if !context.is_dir() {
        return Ok(());
    }
    super::tree::check_root(context, workspace).map_err(|r| ImageError::Refused {
        context: context.to_owned(),
        refused: vec![r],
    })?;
    let ignore = DockerIgnore::load(context)?;
    let df = match dockerfile.strip_prefix(context) {
        Ok(rel) => slash_path(rel),
        Err(_) => OUTSIDE_DOCKERFILE.to_owned(),
    };
    context_files(context, &ignore, &df).map(drop)
}

/// The entries to send, sorted; refuses links leaving the context and special files, all at once.
fn context_files(
    context: &Path,
    ignore: &DockerIgnore,
    dockerfile_in_tar: &str,
) -> Result<Vec<String>, ImageError> {
    let ctx_err = |path: &Path, e: std::io::Error| ImageError::Context {
        path: path.to_owned(),
        message: e.to_string(),
    };
    let refuse = |refused: Vec<super::tree::Refused>| ImageError::Refused {
        context: context.to_owned(),
        refused,
    };
    let root = super::tree::check_root(context, None).map_err(|r| refuse(vec![r]))?;
    let mut files = Vec::new();
    let mut refused = Vec::new();
    walk(
        &root,
        context,
        "",
        ignore,
        dockerfile_in_tar,
        &mut files,
        &mut refused,
    )
    .map_err(|e| ctx_err(context, e))?;
    if !refused.is_empty() {
        return Err(refuse(refused));
    }
    files.sort();
    Ok(files)
}

/// Writes the context tar (sorted entries, links inside the context kept as links) to `w`.
fn write_context(
    context: &Path,
    ignore: &DockerIgnore,
    dockerfile_in_tar: &str,
    outside_dockerfile: Option<&Path>,
    w: impl Write,
) -> Result<(), ImageError> {
    let ctx_err = |path: &Path, e: std::io::Error| ImageError::Context {
        path: path.to_owned(),
        message: e.to_string(),
    };
    let files = context_files(context, ignore, dockerfile_in_tar)?;
    let mut tar = tar::Builder::new(std::io::BufWriter::with_capacity(1 << 16, w));
    tar.follow_symlinks(false);
    for rel in &files {
        let path = context.join(rel);
        tar.append_path_with_name(&path, rel)
            .map_err(|e| ctx_err(&path, e))?;
    }
    if let Some(df) = outside_dockerfile {
        tar.append_path_with_name(df, OUTSIDE_DOCKERFILE)
            .map_err(|e| ctx_err(df, e))?;
    }
    let mut inner = tar.into_inner().map_err(|e| ctx_err(context, e))?;
    inner.flush().map_err(|e| ctx_err(context, e))?;
    Ok(())
}

fn walk(
    root: &Path,
    dir: &Path,
    prefix: &str,
    ignore: &DockerIgnore,
    dockerfile: &str,
    out: &mut Vec<String>,
    refused: &mut Vec<super::tree::Refused>,
) -> std::io::Result<()> {
    for item in std::fs::read_dir(dir)? {
        let item = item?;
        let name = item.file_name().to_string_lossy().into_owned();
        let rel = format!("{prefix}{name}");
        let always = rel == dockerfile || rel == ".dockerignore";
        let ft = item.file_type()?;
        if ft.is_dir() {
            // A directory is entered even when excluded, since an exception (`!dir/keep`) may re-include a
            // child; its own entry is only added when it is not excluded.
            if !ignore.excluded(&rel) {
                out.push(rel.clone());
            } else if !ignore.has_exceptions() {
                continue;
            }
            walk(
                root,
                &item.path(),
                &format!("{rel}/"),
                ignore,
                dockerfile,
                out,
                refused,
            )?;
        } else if always || !ignore.excluded(&rel) {
            // Files, and links judged without following them: only what is sent is checked.
            match super::tree::classify(root, &item.path(), &rel) {
                Ok(_) => out.push(rel),
                Err(r) => refused.push(r),
            }
        }
    }
    Ok(())
}

fn slash_path(p: &Path) -> String {
    p.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// `.dockerignore` rules, in file order.
#[derive(Debug, Default)]
pub struct DockerIgnore {
    rules: Vec<(GlobMatcher, bool)>,
}

impl DockerIgnore {
    /// Reads `<context>/.dockerignore`; none is no rules.
    pub fn load(context: &Path) -> Result<Self, ImageError> {
        match std::fs::read_to_string(context.join(".dockerignore")) {
            Ok(text) => Self::parse(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(ImageError::Context {
                path: context.join(".dockerignore"),
                message: e.to_string(),
            }),
        }
    }

    /// Parses the file's text.
    pub fn parse(text: &str) -> Result<Self, ImageError> {
        let mut rules = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (negate, pat) = match line.strip_prefix('!') {
                Some(p) => (true, p.trim()),
                None => (false, line),
            };
            let pat = pat.trim_start_matches("./").trim_start_matches('/');
            let pat = pat.trim_end_matches('/');
            if pat.is_empty() {
                continue;
            }
            let glob = GlobBuilder::new(pat)
                .literal_separator(true)
                .build()
                .map_err(|e| ImageError::Ignore {
                    pattern: line.to_owned(),
                    message: e.to_string(),
                })?;
            rules.push((glob.compile_matcher(), negate));
        }
        Ok(Self { rules })
    }

    fn has_exceptions(&self) -> bool {
        self.rules.iter().any(|(_, n)| *n)
    }

    /// Whether `rel` (slash-separated) is excluded: the last rule matching it or one of its parents wins.
    #[must_use]
    pub fn excluded(&self, rel: &str) -> bool {
        let mut excluded = false;
        for (glob, negate) in &self.rules {
            let hit = glob.is_match(rel)
                || rel
                    .match_indices('/')
                    .any(|(i, _)| glob.is_match(&rel[..i]));
            if hit {
                excluded = !negate;
            }
        }
        excluded
    }
}

/// Image tags from templates: `{sha}`, `{short-sha}`, `{version}`, `{branch}` are replaced; a template whose
/// placeholder has no value here (e.g. `{branch}` in a tag build) is dropped. Values are made valid tags
/// (`[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`) and duplicates removed, keeping order.
#[must_use]
pub fn resolve_tags(
    templates: &[String],
    sha: Option<&str>,
    version: Option<&str>,
    branch: Option<&str>,
) -> Vec<String> {
    let short = sha.map(|s| s.chars().take(12).collect::<String>());
    let mut out: Vec<String> = Vec::new();
    for t in templates {
        let mut v = t.clone();
        let mut missing = false;
        for (ph, val) in [
            ("{sha}", sha),
            ("{short-sha}", short.as_deref()),
            ("{version}", version),
            ("{branch}", branch),
        ] {
            if v.contains(ph) {
                match val {
                    Some(x) => v = v.replace(ph, x),
                    None => missing = true,
                }
            }
        }
        if missing {
            continue;
        }
        let tag = sanitize_tag(&v);
        if !tag.is_empty() && !out.contains(&tag) {
            out.push(tag);
        }
    }
    out
}

/// Replaces characters a tag may not hold with `-`, strips leading `.`/`-`, caps at 128.
#[must_use]
pub fn sanitize_tag(s: &str) -> String {
    let t: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    t.trim_start_matches(['.', '-']).chars().take(128).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_read_from_docker_and_podman_progress() {
        let d = "a".repeat(64);
        assert_eq!(
            digest_in_status(&format!("v1: digest: sha256:{d} size: 420")),
            Some(format!("sha256:{d}"))
        );
        assert_eq!(digest_in_status("Pushing [=====>   ]"), None);
        assert_eq!(digest_in_status("x: digest: sha256:abc size: 1"), None);
    }

    #[test]
    fn tags_resolve_and_drop_missing_placeholders() {
        let t = |s: &[&str]| s.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        let sha = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(
            resolve_tags(
                &t(&["{sha}", "{version}", "{branch}"]),
                Some(sha),
                Some("1.2.0"),
                Some("feature/x")
            ),
            [sha, "1.2.0", "feature-x"]
        );
        assert_eq!(
            resolve_tags(
                &t(&["{short-sha}", "{branch}", "latest", "latest"]),
                Some(sha),
                None,
                None
            ),
            ["0123456789ab", "latest"]
        );
        assert_eq!(sanitize_tag(".-v1+build"), "v1-build");
    }

    #[test]
    fn dockerignore_follows_the_cli_rules() {
        let ig = DockerIgnore::parse(
            "# comment\n.git\ntarget/\n**/*.log\n!keep.log\n/docs/*.md\n!docs/README.md\n",
        )
        .unwrap();
        assert!(ig.excluded(".git"));
        assert!(ig.excluded(".git/config"));
        assert!(ig.excluded("target/debug/x"));
        assert!(ig.excluded("a/b/c.log"));
        assert!(ig.excluded("c.log"));
        assert!(!ig.excluded("keep.log"));
        assert!(ig.excluded("docs/build.md"));
        assert!(!ig.excluded("docs/README.md"));
        assert!(!ig.excluded("src/main.rs"));
        assert!(!ig.excluded("docs/sub/x.md"));
    }

    #[cfg(unix)]
    #[test]
    fn links_inside_the_context_are_sent_as_links_and_links_out_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let c = d.path().join("ctx");
        std::fs::create_dir_all(c.join("conf")).unwrap();
        std::fs::write(c.join("conf/app.toml"), "a = 1").unwrap();
        std::fs::write(c.join("Dockerfile"), "FROM scratch\n").unwrap();
        std::os::unix::fs::symlink("conf/app.toml", c.join("app.toml")).unwrap();
        let ig = DockerIgnore::default();
        let mut buf = Vec::new();
        write_context(&c, &ig, "Dockerfile", None, &mut buf).unwrap();
        let mut ar = tar::Archive::new(buf.as_slice());
        let links: Vec<(String, String)> = ar
            .entries()
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| e.header().entry_type().is_symlink())
            .map(|e| {
                (
                    e.path().unwrap().display().to_string(),
                    e.link_name().unwrap().unwrap().display().to_string(),
                )
            })
            .collect();
        assert_eq!(links, [("app.toml".to_owned(), "conf/app.toml".to_owned())]);
        std::fs::write(d.path().join("secret"), "s").unwrap();
        std::os::unix::fs::symlink("../secret", c.join("conf/leak")).unwrap();
        let mut buf = Vec::new();
        let e = write_context(&c, &ig, "Dockerfile", None, &mut buf).unwrap_err();
        assert!(matches!(e, ImageError::Refused { .. }), "{e}");
        assert!(
            e.to_string()
                .contains("conf/leak` is a symbolic link to `../secret`"),
            "{e}"
        );
        assert!(buf.is_empty(), "nothing written before the refusal");
    }

    #[test]
    fn the_context_tar_is_sorted_and_honours_dockerignore() {
        let d = tempfile::tempdir().unwrap();
        let c = d.path();
        std::fs::create_dir_all(c.join("b/.git")).unwrap();
        std::fs::write(c.join("b/.git/HEAD"), "x").unwrap();
        std::fs::write(c.join("b/z.txt"), "z").unwrap();
        std::fs::write(c.join("a.txt"), "a").unwrap();
        std::fs::write(c.join("secret.env"), "k=v").unwrap();
        std::fs::write(c.join("Dockerfile"), "FROM scratch\n").unwrap();
        std::fs::write(c.join(".dockerignore"), "**/.git\n*.env\nDockerfile\n").unwrap();
        let ig = DockerIgnore::load(c).unwrap();
        let mut buf = Vec::new();
        write_context(c, &ig, "Dockerfile", None, &mut buf).unwrap();
        let mut ar = tar::Archive::new(buf.as_slice());
        let names: Vec<String> = ar
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(
            names,
            [".dockerignore", "Dockerfile", "a.txt", "b", "b/z.txt"]
        );
    }
}
