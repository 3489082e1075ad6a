//! What the two image targets (App Runner, ECS Express) share: their `wait-timeout`/`rollback` inputs,
//! the check of a recorded image against the live one, and the frame of their dry run and report.
//!
//! This module imports no deploy target; the targets import it.

use std::fmt::Display;
use std::future::Future;

use crate::inputs::{Input, Inputs, Mode};
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
) -> Result<&'a str, crate::modes::ModeError> {
    recorded.map(String::as_str).ok_or_else(|| {
        let target = &restore.release.target;
        crate::modes::ModeError::Config {
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
        let now = self
            .running
            .get_or_try_init(|| read(&self.api))
            .await
            .map_err(|e| e.to_string())?;
        Ok(super::image::same_image_home(recorded, now))
    }
}
