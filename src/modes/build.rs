//! `build` mode: a container image pushed to ECR, or a reproducible Lambda bundle uploaded to S3.
//!
//! Images go through the Docker Engine API on the mounted socket ([`image`]), with ECR login, optional
//! repository creation and a scan-severity gate ([`ecr`]). Bundles are zipped reproducibly ([`bundle`])
//! and uploaded with a `metadata.json`, skipped when the same hash is already there ([`upload`]).
//!
//! Outputs are what deploy mode reads directly. LOAD-BEARING names: `image` (`registry/repo@sha256:…`),
//! `digest`, `image-tags`; `s3-bucket`, `s3-key`, `s3-version`, `sha256`, `code-sha256`, `zip-file`,
//! `uploaded`.
//!
//! Every AWS function takes an `&SdkConfig` (or a client built from one), so tests drive them against moto
//! and the registry on loopback with static test credentials.

pub mod bundle;
pub mod ecr;
pub mod image;
pub mod tree;
pub mod upload;

use crate::inputs::Input;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_config::SdkConfig;

use crate::aws::{self, AwsInputs, Purpose};
use crate::context::{Context, RefType};
use crate::inputs::Inputs;
use crate::modes::runtime::{ModeError, Runtime};
use crate::report::{Report, Verdict, markdown};

use ecr::Severity;

/// What to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuildType {
    Image,
    LambdaBundle,
}

/// Image inputs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageConfig {
    /// `ecr-repository`.
    pub repository: String,
    /// `context`, relative to the workspace (default `.`).
    pub context: PathBuf,
    /// `dockerfile`, relative to the workspace; default `<context>/Dockerfile`.
    pub dockerfile: Option<PathBuf>,
    /// `build-args`, `KEY=VALUE` per line.
    pub build_args: Vec<(String, String)>,
    pub target: Option<String>,
    /// `build-network`: network mode for `RUN` steps (`host`, `none`, or a network name); default the
    /// engine's.
    pub network: Option<String>,
    /// `create-repository`.
    pub create_repository: bool,
    /// `tags`: templates with `{sha}`, `{short-sha}`, `{version}`, `{branch}`.
    pub tags: Vec<String>,
    /// `registry`: push here instead of the `proxyEndpoint` ECR returns (a pull-through alias, or the
    /// loopback registry of the tests).
    pub registry: Option<String>,
    /// `scan-severity-threshold`; `None` reads no findings.
    pub scan_threshold: Option<Severity>,
    pub scan_timeout: Duration,
}

/// Lambda bundle inputs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleConfig {
    /// `bundle-dir`, relative to the workspace.
    pub dir: PathBuf,
    /// `s3-bucket`.
    pub bucket: String,
    /// `s3-prefix`.
    pub prefix: Option<String>,
    /// `bundle-file`: where the zip is written; default `<runner temp or system temp>/stevedore/…`.
    pub file: Option<PathBuf>,
    /// `bundle-include-pycache` (default false): keep `__pycache__/` and `*.pyc`.
    pub options: bundle::BundleOptions,
}

/// What this run builds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Image(Box<ImageConfig>),
    Bundle(BundleConfig),
}

/// Inputs of this mode.
#[derive(Clone, Debug)]
pub struct Config {
    /// The AWS inputs (region, role, environment, trigger policy), shared with every AWS mode.
    pub aws: Box<AwsInputs>,
    pub target: Option<Target>,
    /// `service-name`; default the repository name.
    pub service: Option<String>,
    /// `version`; default the tag name on tag builds, else the first 12 characters of the commit.
    pub version: Option<String>,
}

/// Default `tags`.
pub const DEFAULT_TAGS: [&str; 3] = ["{sha}", "{version}", "{branch}"];

impl Config {
    /// Reads this mode's inputs, collecting every error.
    pub fn parse(p: &mut Inputs<'_>) -> Self {
        let aws = Box::new(AwsInputs::parse(p));
        let build_type = p.choice(
            Input::BuildType,
            &["infer", "image", "lambda-bundle"],
            "infer",
        );
        let service = p.string(Input::ServiceName);
        let version = p.string(Input::Version);
        if let Some(v) = &version
            && (v.contains('/') || v.contains(char::is_whitespace))
        {
            p.error(
                Input::Version,
                Some(v),
                "may not contain `/` or spaces (it is an S3 key segment and an image tag)",
                "e.g. `version: 1.4.0`",
            );
        }
        // Image inputs.
        let repository = p.string(Input::EcrRepository);
        let context = p
            .string(Input::Context)
            .map_or_else(|| PathBuf::from("."), PathBuf::from);
        let dockerfile = p.string(Input::Dockerfile).map(PathBuf::from);
        let build_args = parse_build_args(p);
        let target = p.string(Input::Target);
        let network = p.string(Input::BuildNetwork);
        let create_repository = p.bool(Input::CreateRepository, false);
        let mut tags = p.list(Input::Tags);
        if tags.is_empty() {
            tags = DEFAULT_TAGS.iter().map(|s| (*s).to_owned()).collect();
        }
        let registry = p.string(Input::Registry).map(|r| ecr::registry_host(&r));
        let scan_threshold = match p.choice(
            Input::ScanSeverityThreshold,
            &["none", "informational", "low", "medium", "high", "critical"],
            "none",
        ) {
            "none" => None,
            s => Severity::parse(s),
        };
        let scan_timeout = p.duration(Input::ScanTimeout, Duration::from_secs(600));
        // Bundle inputs.
        let bundle_dir = p.string(Input::BundleDir).map(PathBuf::from);
        let bucket = p.string(Input::S3Bucket);
        let prefix = p.string(Input::S3Prefix);
        let bundle_file = p.string(Input::BundleFile).map(PathBuf::from);
        let include_pycache = p.bool(Input::BundleIncludePycache, false);

        let kind = match build_type {
            "image" => Some(BuildType::Image),
            "lambda-bundle" => Some(BuildType::LambdaBundle),
            _ if bundle_dir.is_some() => Some(BuildType::LambdaBundle),
            _ if repository.is_some() => Some(BuildType::Image),
            _ => {
                p.error(
                    Input::BuildType,
                    None,
                    "cannot be inferred: neither `bundle-dir` nor `ecr-repository` is set",
                    "Set `ecr-repository: my-service` to build an image, or `bundle-dir: dist/lambda` and `s3-bucket: my-artifacts` for a Lambda bundle",
                );
                None
            }
        };
        let target = match kind {
            Some(BuildType::Image) => match repository {
                Some(repository) => Some(Target::Image(Box::new(ImageConfig {
                    repository,
                    context,
                    dockerfile,
                    build_args,
                    target,
                    network,
                    create_repository,
                    tags,
                    registry,
                    scan_threshold,
                    scan_timeout,
                }))),
                None => {
                    p.missing(
                        Input::EcrRepository,
                        "to build an image (the ECR repository to push to)",
                        "my-service",
                    );
                    None
                }
            },
            Some(BuildType::LambdaBundle) => {
                if bundle_dir.is_none() {
                    p.missing(
                        Input::BundleDir,
                        "to build a Lambda bundle (the directory to zip)",
                        "dist/lambda",
                    );
                }
                if bucket.is_none() {
                    p.missing(
                        Input::S3Bucket,
                        "to upload a Lambda bundle (the artifacts bucket)",
                        "my-artifacts",
                    );
                }
                match (bundle_dir, bucket) {
                    (Some(dir), Some(bucket)) => Some(Target::Bundle(BundleConfig {
                        dir,
                        bucket,
                        prefix,
                        file: bundle_file,
                        options: bundle::BundleOptions { include_pycache },
                    })),
                    _ => None,
                }
            }
            None => None,
        };
        Self {
            aws,
            target,
            service,
            version,
        }
    }
}

fn parse_build_args(p: &mut Inputs<'_>) -> Vec<(String, String)> {
    let Some(raw) = p.text(Input::BuildArgs) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for line in raw.lines().map(str::trim).filter(|l| !l.is_empty()) {
        match line.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                out.push((k.trim().to_owned(), v.to_owned()));
            }
            _ => {
                p.error(
                    Input::BuildArgs,
                    Some(line),
                    "is not `KEY=VALUE`",
                    "one per line, e.g. `build-args: |\n  RUST_VERSION=1.95\n  FEATURES=full`",
                );
            }
        }
    }
    out
}

/// Errors of this mode; each names the input or resource to fix.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Bundle(#[from] bundle::BundleError),
    #[error(transparent)]
    Upload(#[from] upload::UploadError),
    #[error(transparent)]
    Ecr(#[from] ecr::EcrError),
    #[error(transparent)]
    Image(#[from] image::ImageError),
    #[error(
        "no version to name the artifact: this run has neither a tag nor a commit sha; set input `version`"
    )]
    NoVersion,
    #[error("no service name: the repository is unknown outside Actions; set input `service-name`")]
    NoService,
    #[error(
        "no image tag could be formed from `tags` ({0}); add a literal tag or one whose placeholders are known here"
    )]
    NoTags(String),
    #[error("the packaging task stopped unexpectedly: {0}")]
    Join(String),
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
}

impl crate::modes::runtime::Failure for BuildError {
    fn is_config(&self) -> bool {
        matches!(
            self,
            BuildError::NoVersion
                | BuildError::NoService
                | BuildError::NoTags(_)
                | BuildError::Bundle(bundle::BundleError::Refused { .. })
                | BuildError::Image(image::ImageError::Refused { .. })
        )
    }
    fn hint(&self) -> Option<String> {
        None
    }
}

/// The version the artifact is named by: input, else tag name on tag builds, else the short commit.
pub fn resolve_version(cfg: &Config, ctx: &Context) -> Result<String, BuildError> {
    if let Some(v) = &cfg.version {
        return Ok(v.clone());
    }
    if ctx.ref_type == Some(RefType::Tag)
        && let Some(t) = &ctx.ref_name
    {
        return Ok(image::sanitize_tag(t));
    }
    ctx.sha
        .as_deref()
        .map(|s| s.chars().take(12).collect())
        .ok_or(BuildError::NoVersion)
}

/// The service name: input, else the repository name.
pub fn resolve_service(cfg: &Config, ctx: &Context) -> Result<String, BuildError> {
    cfg.service
        .clone()
        .or_else(|| ctx.repo.clone())
        .ok_or(BuildError::NoService)
}

/// The branch for the `{branch}` tag: the PR head branch, or the pushed branch.
fn branch(ctx: &Context) -> Option<String> {
    if let Some(pr) = &ctx.pull_request {
        return pr.head_ref.clone();
    }
    (ctx.ref_type == Some(RefType::Branch))
        .then(|| ctx.ref_name.clone())
        .flatten()
}

/// Now, RFC 3339 UTC.
fn now_rfc3339() -> String {
    aws_smithy_types::DateTime::from(std::time::SystemTime::now())
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default()
}

/// Runs the mode.
pub async fn run(rt: &Runtime<'_>, cfg: &Config) -> Result<Report, ModeError> {
    let Some(target) = &cfg.target else {
        return Err(ModeError::Config {
            message: "build mode has nothing to build".into(),
            hint: Some("Set `ecr-repository` or `bundle-dir`.".into()),
        });
    };
    // The trigger policy and environment mapping are checked before any AWS call, dry run included.
    let plan = aws::plan(rt.env, rt.ctx, &cfg.aws, Purpose::Build)?;
    // So is the tree: a link out of it or a special file is refused before credentials are requested.
    check_tree(rt, target)?;
    let connected = if rt.common.dry_run {
        tracing::info!("dry run: no AWS credentials requested\n{}", plan.describe());
        None
    } else {
        Some(aws::connect_planned(rt.env, rt.cmds, &cfg.aws.trigger_policy, &plan).await?)
    };
    let sdk = connected.as_ref().map(|c| &c.sdk);
    let work = async {
        match target {
            Target::Bundle(b) => run_bundle(rt, cfg, b, sdk).await,
            Target::Image(i) => run_image(rt, cfg, i, sdk).await,
        }
    };
    // On cancel the request in flight is dropped: the engine stops a build whose client went away, and an
    // interrupted PutObject leaves no object behind.
    tokio::select! {
        r = work => Ok(r?),
        () = rt.cancel.cancelled() => Err(ModeError::Failed {
            message: "build cancelled by the runner before it finished".into(),
            hint: Some("An image may have been pushed under some of its tags; re-run the job to finish.".into()),
        }),
    }
}

/// Walks the bundle directory or the image context the way packaging will, without writing anything:
/// links leaving the tree and special files are refused (exit 2) before any AWS call.
fn check_tree(rt: &Runtime<'_>, target: &Target) -> Result<(), BuildError> {
    let ws = &rt.ctx.workspace;
    match target {
        Target::Bundle(b) => {
            let dir = in_workspace(ws, &b.dir);
            if dir.is_dir() {
                tree::check_root(&dir, Some(ws)).map_err(|r| bundle::BundleError::Refused {
                    dir: dir.clone(),
                    refused: vec![r],
                })?;
            }
            bundle::check(&dir)?;
        }
        Target::Image(i) => {
            let context = in_workspace(ws, &i.context);
            let dockerfile = i
                .dockerfile
                .as_ref()
                .map_or_else(|| context.join("Dockerfile"), |d| in_workspace(ws, d));
            image::check_context(&context, &dockerfile, Some(ws))?;
        }
    }
    Ok(())
}

/// Where the zip goes when `bundle-file` is not set: the runner's temp directory (shared by the job's
/// steps), else the system's.
fn default_bundle_file(rt: &Runtime<'_>, service: &str, version: &str) -> PathBuf {
    let base = rt
        .env
        .path("RUNNER_TEMP")
        .unwrap_or_else(std::env::temp_dir);
    base.join("stevedore")
        .join(format!("{service}-{version}.zip"))
}

fn in_workspace(ws: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_owned()
    } else {
        ws.join(p)
    }
}

/// Packages and uploads a Lambda bundle.
pub async fn run_bundle(
    rt: &Runtime<'_>,
    cfg: &Config,
    b: &BundleConfig,
    sdk: Option<&SdkConfig>,
) -> Result<Report, BuildError> {
    let version = resolve_version(cfg, rt.ctx)?;
    let service = resolve_service(cfg, rt.ctx)?;
    let dir = in_workspace(&rt.ctx.workspace, &b.dir);
    let out = b.file.as_ref().map_or_else(
        || default_bundle_file(rt, &service, &version),
        |f| in_workspace(&rt.ctx.workspace, f),
    );
    let started = std::time::Instant::now();
    let bundle = {
        let (dir, out, options) = (dir.clone(), out.clone(), b.options);
        tokio::task::spawn_blocking(move || bundle::zip_dir_with(&dir, &out, options))
            .await
            .map_err(|e| BuildError::Join(e.to_string()))??
    };
    tracing::info!(files = bundle.files, size = bundle.size, sha256 = %bundle.sha256_hex, python_cache_left_out = bundle.left_out, elapsed_ms = started.elapsed().as_millis(), "bundle zipped");
    let dest = upload::Destination::new(&b.bucket, b.prefix.as_deref(), &service, &version);
    let meta = upload::Metadata {
        service: service.clone(),
        version: version.clone(),
        commit: rt.ctx.sha.clone(),
        git_ref: rt.ctx.git_ref.clone(),
        repository: rt.ctx.repository.clone(),
        build_time: now_rfc3339(),
        size: bundle.size,
        sha256: bundle.sha256_hex.clone(),
        code_sha256: bundle.code_sha256.clone(),
        bucket: dest.bucket.clone(),
        key: dest.key.clone(),
        workflow_run_url: rt.ctx.run_url(),
    };
    // No SDK configuration means a dry run: packaged and hashed, nothing sent.
    let uploaded = match sdk {
        Some(sdk) if !rt.common.dry_run => {
            let http = crate::net::Net::from_env(rt.env)
                .reqwest()
                .build()
                .map_err(|e| BuildError::Http(e.to_string()))?;
            let s3 = crate::aws::s3::S3::new(sdk, http);
            Some(upload::upload(&s3, &dest, &bundle, &meta).await?)
        }
        _ => None,
    };
    Ok(bundle_report(
        rt,
        &service,
        &version,
        &bundle,
        &dest,
        uploaded.as_ref(),
    ))
}

fn bundle_report(
    rt: &Runtime<'_>,
    service: &str,
    version: &str,
    bundle: &bundle::Bundle,
    dest: &upload::Destination,
    uploaded: Option<&upload::Uploaded>,
) -> Report {
    let s3_uri = format!("s3://{}/{}", dest.bucket, dest.key);
    let (title, state) = match uploaded {
        None => (
            format!("{service} {version}: bundle planned (dry run)"),
            "dry run: nothing uploaded",
        ),
        Some(u) if !u.uploaded => (
            format!("{service} {version}: bundle unchanged"),
            "unchanged: same sha256 already in S3, upload skipped",
        ),
        Some(_) => (format!("{service} {version}: bundle uploaded"), "uploaded"),
    };
    let mut rows = vec![
        vec!["S3".into(), format!("`{s3_uri}`")],
        vec!["state".into(), state.into()],
        vec!["sha256".into(), format!("`{}`", bundle.sha256_hex)],
        vec!["CodeSha256".into(), format!("`{}`", bundle.code_sha256)],
        vec![
            "size".into(),
            format!("{} bytes, {} files", bundle.size, bundle.files),
        ],
    ];
    if bundle.left_out > 0 {
        rows.push(vec![
            "left out".into(),
            format!(
                "{} Python cache file(s) (`__pycache__/`, `*.pyc`); `bundle-include-pycache: true` keeps them",
                bundle.left_out
            ),
        ]);
    }
    if let Some(v) = uploaded.and_then(|u| u.version_id.as_deref()) {
        rows.push(vec!["object version".into(), format!("`{v}`")]);
    }
    if let Some(u) = uploaded
        && let Some(old) = &u.replaced_sha256
    {
        rows.push(vec![
            "replaced".into(),
            format!(
                "an object with sha256 `{old}` was overwritten (same version, different content)"
            ),
        ]);
    }
    let summary = format!(
        "## 📦 stevedore build: {title}\n\n{}",
        markdown::table(&["", ""], &rows)
    );
    let mut r = Report::new(rt.common.mode, Verdict::Success, title, summary);
    r.key.clone_from(&rt.common.report_key);
    r.output("s3-bucket", &dest.bucket);
    r.output("s3-key", &dest.key);
    r.output(
        "s3-version",
        uploaded
            .and_then(|u| u.version_id.clone())
            .unwrap_or_default(),
    );
    r.output("sha256", &bundle.sha256_hex);
    r.output("code-sha256", &bundle.code_sha256);
    r.output("zip-file", bundle.path.display().to_string());
    r.output("uploaded", uploaded.is_some_and(|u| u.uploaded).to_string());
    if let Some(u) = uploaded
        && u.replaced_sha256.is_some()
    {
        rt.cmds.annotate(
            crate::report::Level::Warning,
            Some("stevedore build: artifact replaced"),
            &crate::report::Location::default(),
            &format!("{s3_uri} held different content for the same version; it was overwritten"),
        );
    }
    r
}

/// The image plan: paths, registry, tags, labels.
pub fn image_plan(
    rt: &Runtime<'_>,
    cfg: &Config,
    i: &ImageConfig,
    registry: &str,
) -> Result<image::ImagePlan, BuildError> {
    let version = resolve_version(cfg, rt.ctx)?;
    let tags = image::resolve_tags(
        &i.tags,
        rt.ctx.sha.as_deref(),
        Some(&version),
        branch(rt.ctx).as_deref(),
    );
    if tags.is_empty() {
        return Err(BuildError::NoTags(i.tags.join(", ")));
    }
    let context = in_workspace(&rt.ctx.workspace, &i.context);
    let dockerfile = i.dockerfile.as_ref().map_or_else(
        || context.join("Dockerfile"),
        |d| in_workspace(&rt.ctx.workspace, d),
    );
    let mut labels = vec![
        ("org.opencontainers.image.created".to_owned(), now_rfc3339()),
        ("org.opencontainers.image.version".to_owned(), version),
    ];
    if let Some(repo) = &rt.ctx.repository {
        labels.push((
            "org.opencontainers.image.source".to_owned(),
            format!("{}/{repo}", rt.ctx.server_url),
        ));
    }
    if let Some(sha) = &rt.ctx.sha {
        labels.push(("org.opencontainers.image.revision".to_owned(), sha.clone()));
    }
    Ok(image::ImagePlan {
        context,
        dockerfile,
        registry: registry.to_owned(),
        repository: i.repository.clone(),
        tags,
        build_args: i.build_args.clone(),
        target: i.target.clone(),
        network: i.network.clone(),
        labels,
    })
}

/// The plan of an image build as a table (the dry run's summary): what a real run would build and push.
fn describe_image_plan(plan: &image::ImagePlan, workspace: &std::path::Path) -> String {
    let path = |p: &std::path::Path| {
        let rel = p.strip_prefix(workspace).unwrap_or(p);
        let shown = rel.display().to_string();
        markdown::code_span(if shown.is_empty() { "." } else { &shown })
    };
    let list = |items: Vec<String>| {
        if items.is_empty() {
            "none".to_owned()
        } else {
            items
                .iter()
                .map(|s| markdown::code_span(s))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let name = plan.name();
    let rows = vec![
        vec!["image".into(), markdown::code_span(&name)],
        vec![
            "tags".into(),
            list(plan.tags.iter().map(|t| format!("{name}:{t}")).collect()),
        ],
        vec!["context".into(), path(&plan.context)],
        vec!["Dockerfile".into(), path(&plan.dockerfile)],
        vec![
            "target".into(),
            plan.target
                .as_deref()
                .map_or_else(|| "the last stage".to_owned(), markdown::code_span),
        ],
        vec![
            "build args".into(),
            list(
                plan.build_args
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect(),
            ),
        ],
        vec![
            "network".into(),
            plan.network
                .as_deref()
                .map_or_else(|| "the engine's default".to_owned(), markdown::code_span),
        ],
        vec![
            "labels".into(),
            list(
                plan.labels
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect(),
            ),
        ],
    ];
    format!(
        "Nothing was built or pushed. A real run would:\n\n{}",
        markdown::table(&["", "plan"], &rows)
    )
}

/// Builds and pushes an image, then applies the scan gate.
pub async fn run_image(
    rt: &Runtime<'_>,
    cfg: &Config,
    i: &ImageConfig,
    sdk: Option<&SdkConfig>,
) -> Result<Report, BuildError> {
    let sdk = match sdk {
        Some(sdk) if !rt.common.dry_run => sdk,
        _ => {
            let registry = i
                .registry
                .clone()
                .unwrap_or_else(|| "<ECR registry>".into());
            let plan = image_plan(rt, cfg, i, &registry)?;
            let title = format!("{}: image planned (dry run)", i.repository);
            let summary = format!(
                "## 🐳 stevedore build: {title}\n\n{}",
                describe_image_plan(&plan, &rt.ctx.workspace)
            );
            let mut r = Report::new(rt.common.mode, Verdict::Success, title, summary);
            r.key.clone_from(&rt.common.report_key);
            return Ok(r);
        }
    };
    let ecr_client = ecr::client(sdk, &crate::net::Net::from_env(rt.env))?;
    let auth = ecr::login(&ecr_client, rt.cmds).await?;
    let registry = i.registry.clone().unwrap_or_else(|| auth.registry.clone());
    let auth = ecr::RegistryAuth { registry, ..auth };
    let created = ecr::ensure_repository(&ecr_client, &i.repository, i.create_repository).await?;
    let plan = image_plan(rt, cfg, i, &auth.registry)?;
    let docker = image::connect(rt.env.get("DOCKER_HOST")).await?;
    let pushed = image::build_and_push(&docker, &plan, &auth).await?;
    let scan = match i.scan_threshold {
        Some(t) => Some((
            t,
            ecr::scan_findings(&ecr_client, &i.repository, &pushed.digest, i.scan_timeout).await?,
        )),
        None => None,
    };
    Ok(image_report(rt, i, &plan, &pushed, created, scan.as_ref()))
}

/// Verdict and title of an image build: a failure when the scan gate blocks (the image is pushed, but deploy
/// must not take it).
fn image_outcome(repository: &str, gate: Option<&ecr::Gate>) -> (Verdict, String) {
    match gate {
        Some(g) if !g.passed() => (
            Verdict::Failure,
            format!(
                "{repository}: {} finding(s) at or above {}; image pushed but gated",
                g.blocking, g.threshold
            ),
        ),
        _ => (Verdict::Success, format!("{repository}: image pushed")),
    }
}

fn image_report(
    rt: &Runtime<'_>,
    i: &ImageConfig,
    plan: &image::ImagePlan,
    pushed: &image::Pushed,
    created: bool,
    scan: Option<&(Severity, ecr::ScanSummary)>,
) -> Report {
    let gate = scan.map(|(t, s)| s.gate(*t));
    let (verdict, title) = image_outcome(&i.repository, gate.as_ref());
    let mut rows = vec![
        vec!["image".into(), format!("`{}`", pushed.image)],
        vec!["digest".into(), format!("`{}`", pushed.digest)],
        vec!["tags".into(), crate::inputs::code_list(plan.tags.iter())],
    ];
    if created {
        rows.push(vec![
            "repository".into(),
            format!("created `{}` (scan on push)", i.repository),
        ]);
    }
    let mut summary = format!(
        "## 🐳 stevedore build: {title}\n\n{}",
        markdown::table(&["", ""], &rows)
    );
    if let Some((t, s)) = scan {
        summary.push_str(&format!(
            "\n### Scan findings (threshold {t})\n\n{}",
            s.markdown(20)
        ));
    }
    let mut r = Report::new(rt.common.mode, verdict, title, summary);
    r.key.clone_from(&rt.common.report_key);
    r.output("image", &pushed.image);
    r.output("digest", &pushed.digest);
    r.output("image-tags", pushed.tagged.join("\n"));
    if let (Some((t, s)), Some(g)) = (scan, gate.as_ref()) {
        r.output("scan-findings", scan_counts_json(s));
        r.output(
            "scan-gate",
            format!(
                "{} (threshold {t})",
                if g.passed() { "passed" } else { "blocked" }
            ),
        );
    }
    r
}

/// Audit evidence for the `scan-findings` output: counts per severity as a JSON object, e.g.
/// `{"CRITICAL":0,"HIGH":2,"MEDIUM":5}` (only severities with findings; `{}` for a clean scan).
fn scan_counts_json(s: &ecr::ScanSummary) -> String {
    let map: serde_json::Map<String, serde_json::Value> = s
        .counts
        .iter()
        .map(|(sev, n)| (sev.as_str().to_owned(), serde_json::Value::from(*n)))
        .collect();
    serde_json::Value::Object(map).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Env;

    fn parse(pairs: &[(&str, &str)]) -> (Config, Vec<String>) {
        let env = Env::from_pairs(
            pairs
                .iter()
                .map(|(k, v)| (format!("INPUT_{}", k.to_uppercase()), *v)),
        );
        let mut p = Inputs::new(&env);
        let c = Config::parse(&mut p);
        let errs = p
            .finish()
            .err()
            .map(|e| e.0.into_iter().map(|e| e.to_string()).collect())
            .unwrap_or_default();
        (c, errs)
    }

    #[test]
    fn scan_evidence_is_counts_per_severity_as_json() {
        let s = ecr::ScanSummary {
            counts: [(Severity::High, 2), (Severity::Medium, 5)]
                .into_iter()
                .collect(),
            ..Default::default()
        };
        assert_eq!(scan_counts_json(&s), r#"{"HIGH":2,"MEDIUM":5}"#);
        assert_eq!(scan_counts_json(&ecr::ScanSummary::default()), "{}");
    }

    #[test]
    fn a_blocking_scan_gate_fails_the_build() {
        let sum = ecr::ScanSummary {
            counts: [(Severity::High, 2), (Severity::Low, 5)]
                .into_iter()
                .collect(),
            findings: Vec::new(),
        };
        let (v, title) = image_outcome("svc", Some(&sum.gate(Severity::High)));
        assert_eq!(v, Verdict::Failure);
        assert_eq!(
            title,
            "svc: 2 finding(s) at or above HIGH; image pushed but gated"
        );
        let (v, _) = image_outcome("svc", Some(&sum.gate(Severity::Critical)));
        assert_eq!(v, Verdict::Success);
        assert_eq!(image_outcome("svc", None).0, Verdict::Success);
    }

    #[test]
    fn the_build_type_is_inferred_from_the_inputs() {
        let (c, e) = parse(&[("bundle-dir", "dist"), ("s3-bucket", "b")]);
        assert!(e.is_empty(), "{e:?}");
        assert!(matches!(c.target, Some(Target::Bundle(_))));
        let (c, e) = parse(&[("ecr-repository", "svc"), ("build-args", "A=1\nB=x=y")]);
        assert!(e.is_empty(), "{e:?}");
        let Some(Target::Image(i)) = c.target else {
            panic!("not an image")
        };
        assert_eq!(
            i.build_args,
            [("A".into(), "1".into()), ("B".into(), "x=y".into())]
        );
        assert_eq!(i.tags, DEFAULT_TAGS);
        assert_eq!(i.scan_threshold, None);
    }

    #[test]
    fn every_input_error_is_collected() {
        let (_, e) = parse(&[
            ("build-type", "lambda-bundle"),
            ("build-args", "NOEQUALS"),
            ("scan-severity-threshold", "severe"),
            ("version", "a/b"),
        ]);
        assert_eq!(e.len(), 5, "{e:#?}");
        assert!(e.iter().any(|m| m.contains("`bundle-dir`")));
        assert!(e.iter().any(|m| m.contains("`s3-bucket`")));
        assert!(e.iter().any(|m| m.contains("`build-args` = `NOEQUALS`")));
        let (_, e) = parse(&[]);
        assert_eq!(e.len(), 1);
        assert!(e[0].contains("cannot be inferred"), "{e:?}");
    }

    #[test]
    fn versions_come_from_tags_or_the_commit() {
        let cfg = Config {
            aws: Box::default(),
            target: None,
            service: None,
            version: None,
        };
        let at = |git_ref| {
            Context::from_parts(
                &Env::from_pairs([("GITHUB_REF", git_ref), ("GITHUB_SHA", "abcdef0123456789")]),
                serde_json::Value::Null,
            )
        };
        let tag = at("refs/tags/v1.2.0-stable");
        assert_eq!(resolve_version(&cfg, &tag).unwrap(), "v1.2.0-stable");
        let branch = at("refs/heads/main");
        assert_eq!(resolve_version(&cfg, &branch).unwrap(), "abcdef012345");
        assert!(resolve_version(&cfg, &Context::default()).is_err());
    }
}
