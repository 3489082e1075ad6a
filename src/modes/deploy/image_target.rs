//! What the two image targets (App Runner, ECS Express) share: their `wait-timeout`/`rollback` inputs,
//! the check of a recorded image against the live one, and the frame of their dry run and report.
//!
//! This module imports no deploy target; the targets import it.

use std::fmt::Display;
use std::future::Future;

use crate::inputs::{Input, Inputs, Mode};
use crate::modes::runtime::ModeError;

use super::target::refuse_promotion as refuse;
use crate::report::{Report, Verdict};

/// The inputs of an image target's release: `image` (none when `restoring`: `rollback-to` deploys the
/// image an earlier deployment recorded, and its parser refuses `image`), `health-url`,
/// `health-status`, `wait-timeout` and `rollback`.
pub struct ImageInputs {
    pub image: String,
    pub health_url: Option<url::Url>,
    pub health_status: u16,
    /// `health-passes` and `health-interval` (default: 3 good answers 1 s apart).
    pub health: super::health::HealthTiming,
    pub timing: super::poll::Timing,
    /// `rollback: auto` (true) or `none`.
    pub rollback: bool,
}

impl ImageInputs {
    /// Reads them, collecting every error: `what` names the deploy (`an App Runner deploy`),
    /// `example_image` and `example_wait` the fixes shown.
    pub fn parse(
        p: &mut Inputs<'_>,
        restoring: bool,
        what: &str,
        example_image: &str,
        example_wait: &str,
    ) -> Self {
        let image = if restoring {
            String::new()
        } else {
            p.required(Input::Image, &format!("for {what}"), example_image)
                .unwrap_or_default()
        };
        if !image.is_empty() {
            super::image::check_image(p, &image);
        }
        let (health_url, health_status) =
            super::health::parse_health(p, "https://web.example.com/health");
        let health = super::health::parse_url_timing(p);
        let timeout = super::poll::parse_wait_timeout(p, example_wait);
        let rollback = p.choice(Input::Rollback, &["auto", "none"], "auto") == "auto";
        Self {
            image,
            health_url,
            health_status,
            health,
            timing: super::poll::Timing::new(timeout),
            rollback,
        }
    }
}

/// After the followed update: when it `succeeded`, the health check of `url`; when that or the update
/// failed, `roll_back` (what happened to the previous image).
pub async fn health_or_roll_back<R, F: Future<Output = R>>(
    succeeded: bool,
    http: &reqwest::Client,
    (url, status, timing): (&str, u16, super::health::HealthTiming),
    cancel: &crate::cancel::Cancel,
    roll_back: impl FnOnce() -> F,
) -> (Option<Result<u32, String>>, Option<R>) {
    let health = if succeeded {
        let h = super::health::check_health(http, url, status, timing, cancel).await;
        if h.is_ok() {
            return (Some(h), None);
        }
        Some(h)
    } else {
        None
    };
    (health, Some(roll_back().await))
}

/// The image a restore puts back: the one `recorded` (the target's own variant of the release, `None`
/// for another kind), else the refusal naming what the release records.
///
/// # Errors
/// The release records another kind of target.
pub fn restored_image<'a>(
    restore: &super::record::Restore,
    recorded: Option<&'a String>,
    kind: &str,
) -> Result<&'a str, crate::modes::runtime::ModeError> {
    recorded.map(String::as_str).ok_or_else(|| {
        let target = &restore.release.target;
        crate::modes::runtime::ModeError::Config {
            message: format!(
                "input `rollback-to`: deployment #{} records {}, not an {kind} deploy",
                restore.release.id,
                target.describe()
            ),
            hint: Some(format!(
                "Restore it with a step naming its target ({})",
                target.inputs()
            )),
        }
    })
}

/// The report of an image target's deploy (App Runner, ECS Express): `what` names the service and target,
/// the title says how it ended.
pub fn image_target_report(what: &str, ok: bool, cancelled: bool, summary: String) -> Report {
    let (verdict, title) = if ok {
        (Verdict::Success, format!("deployed {what}"))
    } else if cancelled {
        (Verdict::Failure, format!("deploy cancelled: {what}"))
    } else {
        (Verdict::Failure, format!("deploy failed: {what}"))
    };
    Report::new(Mode::Deploy, verdict, title, summary)
}

/// The report of an image target's dry run: `kind` (`App Runner`, `ECS Express`), the service's `name`,
/// the `plan` in words and the service's URL (the output `service-url`) when known.
#[must_use]
pub fn dry_run_report(kind: &str, name: &str, plan: &str, service_url: Option<String>) -> Report {
    let mut r = Report::new(
        Mode::Deploy,
        Verdict::Skipped,
        format!("dry run: would deploy {name} ({kind})"),
        format!("{kind} deploy plan (dry run).\n\n{plan}\n"),
    );
    if let Some(u) = service_url {
        r.output("service-url", u);
    }
    r
}

/// Fails the report of an image target's deploy of `name`: `result` is the result cell (`❌ …`),
/// `rollback` what happened to the previous image, `next` what to do.
pub fn fail(
    r: &mut Report,
    kind: &str,
    name: &str,
    result: &str,
    rollback: Option<String>,
    next: String,
) {
    let rollback = rollback.map(|r| format!("; {r}")).unwrap_or_default();
    let what = result.trim_start_matches("❌ ");
    r.fail_because(
        format!("{kind} deploy of `{name}` failed: {what}{rollback}."),
        next,
    );
}

/// What is live on an image target: the API of its service and the image the service runs, read at the
/// first release checked.
pub struct LiveImage<A> {
    pub api: Box<A>,
    running: tokio::sync::OnceCell<String>,
}

impl<A: Sync> LiveImage<A> {
    #[must_use]
    pub fn new(api: A) -> Self {
        Self {
            api: Box::new(api),
            running: tokio::sync::OnceCell::new(),
        }
    }

    /// Whether `recorded` may be put in place: an image by digest, from the repository of the image the
    /// service runs (`read` reads it, once).
    ///
    /// # Errors
    /// When the running image cannot be read.
    pub async fn check<'a, E, F>(
        &'a self,
        recorded: &str,
        read: impl FnOnce(&'a A) -> F + Send,
    ) -> Result<Option<String>, String>
    where
        E: Display,
        F: Future<Output = Result<String, E>> + Send,
    {
        let now = self.running(read).await?;
        Ok(super::image::same_image_home(recorded, now))
    }

    /// The image the service runs (`read` reads it, once).
    ///
    /// # Errors
    /// When it cannot be read.
    pub async fn running<'a, E, F>(
        &'a self,
        read: impl FnOnce(&'a A) -> F + Send,
    ) -> Result<&'a str, String>
    where
        E: Display,
        F: Future<Output = Result<String, E>> + Send,
    {
        self.running
            .get_or_try_init(|| read(&self.api))
            .await
            .map(String::as_str)
            .map_err(|e| e.to_string())
    }
}

/// An image target's promotion from an environment in another account ([`copy_image_across`]).
pub struct ImagePromotion<'a> {
    /// `App Runner`, `ECS Express`.
    pub kind: &'a str,
    /// The target in words ([`super::target::Target::what`]).
    pub what: String,
    /// The target's AWS inputs: the source's `registry` is read from its `environments` entry.
    pub inputs: &'a crate::aws::AwsInputs,
    /// This step's `registry`: where the image is pushed instead of this account's ECR `proxyEndpoint`.
    pub here_registry: Option<&'a str>,
}

/// The image a release of an image target records.
fn recorded_image(target: &crate::github::deployments::Target) -> Option<&String> {
    match target {
        crate::github::deployments::Target::AppRunner { image, .. }
        | crate::github::deployments::Target::EcsExpress { image, .. } => Some(image),
        _ => None,
    }
}

/// Copies the release's image `recorded` (by digest, in the source account's registry: verified there
/// against what the source service runs) into the repository of the image the service runs here, by
/// digest ([`Carrier`]). Returns the image to put in place (`<this registry>/<repository>@<digest>`)
/// and the sentence the report adds.
///
/// # Errors
/// [`ModeError::Config`] (exit 2) when an image is not in its registry, or not by digest;
/// [`ModeError::Failed`] when what runs here cannot be read, or a login or the copy fails (nothing was
/// deployed).
pub async fn copy_image_across<'a, A, E, F, R>(
    rt: &crate::modes::runtime::Runtime<'_>,
    aws: &crate::aws::Connected,
    source: &crate::aws::Connected,
    restore: &super::record::Restore,
    p: ImagePromotion<'_>,
    (live, read): (&'a LiveImage<A>, R),
) -> Result<(String, String), ModeError>
where
    A: Sync,
    R: FnOnce(&'a A) -> F + Send,
    E: Display,
    F: Future<Output = Result<String, E>> + Send,
{
    let recorded = restored_image(restore, recorded_image(&restore.release.target), p.kind)?;
    let running = live.running(read).await.map_err(|e| ModeError::Failed {
        message: format!(
            "input `promote-from`: cannot read the image {} runs in this account: {e}",
            p.what
        ),
        hint: Some("Nothing was copied or deployed; check the step's role and re-run".into()),
    })?;
    Carrier::login(rt, aws, source, restore, p.inputs, p.here_registry)
        .await?
        .carry(recorded, running)
        .await
}

/// The two registries of a promotion across accounts, logged in: the source environment's and this
/// account's, each with its own account's ECR credentials (masked first). The source registry is the
/// source account's ECR `proxyEndpoint`, or the `registry` of its `environments` entry; this account's
/// is its own `proxyEndpoint`, or the step's `registry`.
pub struct Carrier<'r> {
    rt: &'r crate::modes::runtime::Runtime<'r>,
    from: String,
    source_account: String,
    here_account: String,
    source: crate::registry::Registry,
    here: crate::registry::Registry,
}

impl<'r> Carrier<'r> {
    /// Logs in to both registries for the promotion `restore` (from the account `source` is connected
    /// to, into `aws`'s); `inputs` are the target's (its `environments`), `here_registry` the step's
    /// `registry`.
    ///
    /// # Errors
    /// [`ModeError::Failed`] when a login fails.
    pub async fn login(
        rt: &'r crate::modes::runtime::Runtime<'r>,
        aws: &crate::aws::Connected,
        source: &crate::aws::Connected,
        restore: &super::record::Restore,
        inputs: &crate::aws::AwsInputs,
        here_registry: Option<&str>,
    ) -> Result<Self, ModeError> {
        let from = restore.promoted_from.clone().unwrap_or_default();
        let source_registry = inputs
            .environments
            .as_ref()
            .and_then(|e| e.get(&from))
            .and_then(|t| t.registry.as_deref());
        let net = crate::net::Net::from_env(rt.env).with_cancel(rt.cancel.clone());
        let login = async |sdk: &aws_config::SdkConfig, over: Option<&str>, whose: String| {
            let failed = |e: String| ModeError::Failed {
                message: format!("input `promote-from`: cannot log in to {whose}: {e}"),
                hint: Some(
                    "The role needs `ecr:GetAuthorizationToken`; nothing was deployed".into(),
                ),
            };
            let ecr = crate::aws::ecr::Ecr::new(sdk, &net).map_err(|e| failed(e.to_string()))?;
            let (endpoint, creds) = crate::registry::ecr_credentials(&ecr)
                .await
                .map_err(|e| failed(e.to_string()))?;
            for m in creds.to_mask() {
                rt.cmds.add_mask(&m);
            }
            crate::registry::Registry::new(&net, over.unwrap_or(&endpoint), creds)
                .map_err(|e| failed(e.to_string()))
        };
        let source_registry = login(
            &source.sdk,
            source_registry,
            format!("the registry of `{from}` (account {})", source.account_id),
        )
        .await?;
        let here = login(
            &aws.sdk,
            here_registry,
            format!("this account's registry (account {})", aws.account_id),
        )
        .await?;
        Ok(Self {
            rt,
            from,
            source_account: source.account_id.clone(),
            here_account: aws.account_id.clone(),
            source: source_registry,
            here,
        })
    }

    /// Copies `recorded` (the release's image: by digest, in the source registry) into the repository of
    /// `running` (an image of this account's registry that runs here) by digest ([`crate::registry::copy`]:
    /// a multi-architecture index whole, nothing uploaded twice, the same digest): a record names only
    /// an image of the source environment's registry, and the copy goes only to a repository that already
    /// runs here. A dry run checks that the source holds the digest, and copies nothing. Returns the image
    /// to put in place (`<this registry>/<repository>@<digest>`) and the sentence the report adds.
    ///
    /// # Errors
    /// [`ModeError::Config`] (exit 2) when an image is not in its registry, or not by digest;
    /// [`ModeError::Failed`] when the copy fails.
    pub async fn carry(
        &self,
        recorded: &str,
        running: &str,
    ) -> Result<(String, String), ModeError> {
        use crate::registry::Digest;
        use crate::report::markdown::code_span;
        let from = &self.from;
        let digest = recorded
            .split_once('@')
            .and_then(|(_, d)| Digest::parse(d).ok())
            .ok_or_else(|| {
                refuse(
                    format!("the image `{recorded}` of `{from}` is not pinned by digest"),
                    "Promote a release deployed by digest (the `image` output of `build`)",
                )
            })?;
        let source_repo = match super::image::image_parts(recorded) {
            Some((host, repo)) if host == self.source.host() => repo,
            _ => {
                return Err(refuse(
                    format!(
                        "the image `{recorded}` of `{from}` is not in that environment's registry `{}` (its account's ECR, or `registry` in its `environments` entry)",
                        self.source.host()
                    ),
                    "Promote a release whose image is in the source account's ECR registry; name an alias of it as `registry` in the source's `environments` entry",
                ));
            }
        };
        let here_repo = match super::image::image_parts(running) {
            Some((host, repo)) if host == self.here.host() => repo,
            _ => {
                return Err(refuse(
                    format!(
                        "`{running}` runs here, not an image of this account's registry `{}` (ECR, or the input `registry`)",
                        self.here.host()
                    ),
                    "Deploy it here once from this account's ECR repository (the repository a promotion copies into), then promote",
                ));
            }
        };
        let image = format!("{}/{here_repo}@{digest}", self.here.host());
        let route = format!(
            "{} (account {}) to {} (account {})",
            code_span(recorded),
            code_span(&self.source_account),
            code_span(&image),
            code_span(&self.here_account),
        );
        let copy_failed = |e: crate::registry::RegistryError| ModeError::Failed {
            message: format!(
                "input `promote-from`: the image of `{from}` was not copied into this account: {e}"
            ),
            hint: Some(format!(
                "The source role needs `ecr:BatchGetImage` and `ecr:GetDownloadUrlForLayer` on `{source_repo}`; this step's role the ECR push actions on `{here_repo}`. Nothing was deployed"
            )),
        };
        if self.rt.common.dry_run {
            if !self
                .source
                .has_manifest(source_repo, &digest)
                .await
                .map_err(copy_failed)?
            {
                return Err(refuse(
                    format!("the image `{recorded}` of `{from}` is not in its registry any more"),
                    "Redeploy the source environment, then promote",
                ));
            }
            return Ok((
                image,
                format!("Would copy {route} by digest (the source holds it)."),
            ));
        }
        let copied = crate::registry::copy(
            &crate::registry::Source {
                registry: &self.source,
                repository: source_repo,
                digest: &digest,
            },
            &crate::registry::Target {
                registry: &self.here,
                repository: here_repo,
                tag: None,
            },
        )
        .await
        .map_err(copy_failed)?;
        if copied.digest.as_ref() != Some(&digest) {
            return Err(ModeError::Failed {
                message: format!(
                    "input `promote-from`: the copy of `{recorded}` ended without the digest {digest} in this account's registry"
                ),
                hint: Some("Nothing was deployed; run the step again".into()),
            });
        }
        let sentence = if copied.blobs_uploaded == 0 && copied.bytes_moved == 0 {
            format!("Copied {route} by digest: this registry held it already, nothing uploaded.")
        } else {
            format!(
                "Copied {route} by digest: {} manifest(s), {} blob(s) uploaded ({} bytes moved), {} already there.",
                copied.manifests, copied.blobs_uploaded, copied.bytes_moved, copied.blobs_present
            )
        };
        Ok((image, sentence))
    }
}
