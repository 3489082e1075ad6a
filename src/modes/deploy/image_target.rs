//! What the two image targets (App Runner, ECS Express) share: their `wait-timeout`/`rollback` inputs,
//! their side of [`Target`] ([`ImageTarget`]: the check of a recorded image against the live one, the
//! restore, the promotion across accounts), and the frame of their dry run and report.
//!
//! This module imports no deploy target; the targets import it.

use std::fmt::Display;
use std::future::Future;

use crate::aws::{AwsInputs, Connected};
use crate::github::deployments;
use crate::inputs::{Input, Inputs, Mode};
use crate::modes::runtime::{ModeError, Runtime};

use super::record::Restore;
use super::target::{Target, refuse_promotion as refuse};
use crate::report::{Report, Verdict};

/// An image target (App Runner, ECS Express): what differs between them. [`Target`] is implemented once
/// for all of them from it: a release records the service and its image, a recorded image is checked
/// against the one the service runs, a restore runs the deploy with the recorded image, a promotion
/// across accounts copies it first.
pub trait ImageTarget: Clone + Sync {
    /// `App Runner`, `ECS Express`: in messages and reports.
    const KIND: &'static str;

    /// What is live ([`Target::Live`]).
    type Live: Sync;

    /// The AWS connection inputs ([`Target::aws`]).
    fn aws(&self) -> &AwsInputs;

    /// This step's `registry`: where a promotion pushes instead of this account's ECR `proxyEndpoint`.
    fn registry(&self) -> Option<&str>;

    /// The service as the step names it (an ARN or a name).
    fn service(&self) -> &str;

    /// The GitHub environment when none is mapped: the service's name.
    fn service_name(&self, aws: &Connected) -> String;

    /// The service and image a release of this kind records; `None` for another kind of target.
    fn recorded(recorded: &deployments::Target) -> Option<(&String, &String)>;

    /// Whether the recorded `service` is this step's ([`Target::owns`]).
    fn is_this(&self, aws: &Connected, service: &str) -> bool;

    /// Whether a release of the recorded `service` (in another environment) is one of this service's
    /// line ([`Target::counterpart`]).
    fn adopts(&self, aws: &Connected, service: &str) -> bool;

    /// The release of `image` on this service.
    fn release(&self, aws: &Connected, image: String) -> deployments::Target;

    /// What is live, not read yet ([`Target::observe`]).
    ///
    /// # Errors
    /// When a client cannot be built.
    fn observe(&self, rt: &Runtime<'_>, aws: &Connected) -> Result<Self::Live, ModeError>;

    /// The image the service runs, read at the first question and kept in `live`.
    fn running<'a>(
        &'a self,
        live: &'a Self::Live,
    ) -> impl Future<Output = Result<&'a str, String>> + Send;

    /// This configuration with `image` in place of its own.
    #[must_use]
    fn with_image(&self, image: &str) -> Self;

    /// The deploy of the configured image: plan (a dry run stops there), update, follow, health, roll
    /// back on failure, record, report; `restore` is the recorded release put back, if any.
    fn run(
        &self,
        rt: &Runtime<'_>,
        aws: &Connected,
        restore: Option<&Restore>,
    ) -> impl Future<Output = Result<Report, ModeError>>;
}

impl<T: ImageTarget> Target for T {
    type Live = T::Live;

    fn aws(&self) -> &AwsInputs {
        ImageTarget::aws(self)
    }

    fn what(&self) -> String {
        format!("{} `{}`", T::KIND, self.service())
    }

    fn environment(&self, aws: &Connected) -> String {
        aws.environment
            .clone()
            .unwrap_or_else(|| self.service_name(aws))
    }

    fn owns(&self, aws: &Connected, recorded: &deployments::Target) -> bool {
        T::recorded(recorded).is_some_and(|(service, _)| self.is_this(aws, service))
    }

    /// A release of this service's line: its image on this service.
    fn counterpart(
        &self,
        aws: &Connected,
        recorded: &deployments::Target,
    ) -> Option<deployments::Target> {
        let (service, image) = T::recorded(recorded)?;
        self.adopts(aws, service)
            .then(|| self.release(aws, image.clone()))
    }

    fn observe(&self, rt: &Runtime<'_>, aws: &Connected) -> Result<T::Live, ModeError> {
        ImageTarget::observe(self, rt, aws)
    }

    /// A recorded image must be by digest, from the repository of the image the service runs now.
    async fn check_release(
        &self,
        live: &T::Live,
        recorded: &deployments::Target,
    ) -> Result<Option<String>, String> {
        let Some((_, image)) = T::recorded(recorded) else {
            return Ok(super::target::records_other(recorded));
        };
        let now = self.running(live).await?;
        Ok(super::image::same_image_home(image, now))
    }

    async fn deploy(&self, rt: &Runtime<'_>, aws: &Connected) -> Result<Report, ModeError> {
        self.run(rt, aws, None).await
    }

    /// `rollback-to`: the service pointed at the image `restore` recorded, with the same watch, health
    /// check and rollback as a deploy.
    async fn restore(
        &self,
        rt: &Runtime<'_>,
        aws: &Connected,
        _live: T::Live,
        restore: &Restore,
    ) -> Result<Report, ModeError> {
        restore_image(self, rt, aws, restore).await
    }

    fn across_accounts(&self) -> Option<(String, String)> {
        None
    }

    /// The recorded image copied by digest into the repository the service runs from
    /// ([`copy_image_across`]), then put in place like a rollback's image.
    async fn promote_across(
        &self,
        rt: &Runtime<'_>,
        aws: &Connected,
        source: &Connected,
        restore: &Restore,
    ) -> Result<Report, ModeError> {
        let live = ImageTarget::observe(self, rt, aws)?;
        let (image, copied) = copy_image_across(self, rt, aws, source, restore, &live).await?;
        let target = self.release(aws, image);
        restore_image(self, rt, aws, &restore.carried(target, &copied)).await
    }
}

/// [`Target::restore`] of an image target: its deploy with the image `restore` recorded.
async fn restore_image<T: ImageTarget>(
    cfg: &T,
    rt: &Runtime<'_>,
    aws: &Connected,
    restore: &Restore,
) -> Result<Report, ModeError> {
    let image = restored_image::<T>(restore)?;
    let r = cfg.with_image(image).run(rt, aws, Some(restore)).await?;
    Ok(restore.annotate(r))
}

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

/// The image a restore puts back: the one the release records when it is of this kind of target, else
/// the refusal naming what the release records.
fn restored_image<T: ImageTarget>(restore: &Restore) -> Result<&str, ModeError> {
    let target = &restore.release.target;
    let recorded = T::recorded(target).map(|(_, image)| image.as_str());
    recorded.ok_or_else(|| ModeError::Config {
        message: format!(
            "input `rollback-to`: deployment #{} records {}, not an {} deploy",
            restore.release.id,
            target.describe(),
            T::KIND
        ),
        hint: Some(format!(
            "Restore it with a step naming its target ({})",
            target.inputs()
        )),
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

/// Copies the release's image `recorded` (by digest, in the source account's registry: verified there
/// against what the source service runs) into the repository of the image the service runs here
/// (`live`), by digest ([`Carrier`]). Returns the image to put in place
/// (`<this registry>/<repository>@<digest>`) and the sentence the report adds.
///
/// # Errors
/// [`ModeError::Config`] (exit 2) when an image is not in its registry, or not by digest;
/// [`ModeError::Failed`] when what runs here cannot be read, or a login or the copy fails (nothing was
/// deployed).
async fn copy_image_across<T: ImageTarget>(
    cfg: &T,
    rt: &Runtime<'_>,
    aws: &Connected,
    source: &Connected,
    restore: &Restore,
    live: &T::Live,
) -> Result<(String, String), ModeError> {
    let recorded = restored_image::<T>(restore)?;
    let running = cfg.running(live).await.map_err(|e| ModeError::Failed {
        message: format!(
            "input `promote-from`: cannot read the image {} runs in this account: {e}",
            cfg.what()
        ),
        hint: Some("Nothing was copied or deployed; check the step's role and re-run".into()),
    })?;
    Carrier::login(rt, aws, source, restore, cfg.aws(), cfg.registry())
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
