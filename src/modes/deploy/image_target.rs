//! What the two image targets (App Runner, ECS Express) share: their `wait-timeout`/`rollback` inputs,
//! the check of a recorded image against the live one, and the frame of their dry run and report.
//!
//! This module imports no deploy target; the targets import it.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use crate::inputs::{Input, Inputs, Mode};
use crate::report::{Report, Verdict};

/// `wait-timeout` (default 10m, more than 0 and at most 6h; `example` is the fix shown) and `rollback`
/// (`auto`: true, `none`: false) of the image targets (App Runner, ECS Express).
pub fn parse_wait_and_rollback(p: &mut Inputs<'_>, example: &str) -> (Duration, bool) {
    let timeout = super::poll::parse_wait_timeout(p, example);
    let rollback = p.choice(Input::Rollback, &["auto", "none"], "auto") == "auto";
    (timeout, rollback)
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
