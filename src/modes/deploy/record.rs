//! The release a deploy records: its GitHub Deployment (created `in_progress` with the payload naming what
//! the deploy puts in place, [`crate::github::deployments::Record`], then `success`/`failure`), the
//! [`Restore`] a rollback (or promotion) hands to a target's run, and the report's line naming the
//! recorded deployment.
//!
//! This module imports no deploy target; the targets import it.

use std::future::Future;

use crate::github::deployments::{self, Record, Release};
use crate::modes::runtime::{ModeError, Runtime};
use crate::report::Report;

/// What a target's run needs to put a release in place again.
#[derive(Clone, Debug)]
pub struct Restore {
    /// The deployment put in place again.
    pub release: Release,
    /// What the new deployment records (the same target; restored and replaced deployments).
    pub record: Record,
    /// The environment searched.
    pub environment: String,
    /// For the report: which deployment, and what was passed over.
    pub note: String,
    /// A promotion (`promote-from`): the environment the release comes from (`release` is its
    /// deployment there); `None` for a rollback.
    pub promoted_from: Option<String>,
}

impl Restore {
    /// The GitHub Deployment description of the rollback (or promotion).
    #[must_use]
    pub fn description(&self, what: &str) -> String {
        match &self.promoted_from {
            Some(from) => format!(
                "Promotion of {what} from {from} #{} ({})",
                self.release.id, self.release.version
            ),
            None => format!(
                "Rollback of {what} to #{} ({})",
                self.release.id, self.release.version
            ),
        }
    }

    /// The same promotion with its artifact copied into this account: `target` (the copy) is what is put
    /// in place and what the new deployment records, and `copied` (how it was copied) ends the note.
    #[must_use]
    pub fn carried(&self, target: deployments::Target, copied: &str) -> Self {
        let mut r = self.clone();
        r.release.target = target.clone();
        r.record.target = Some(target);
        r.note = format!("{} {copied}", r.note);
        r
    }

    /// Adds the restored release to the report: a paragraph after the first, and the outputs
    /// `restored-version` and `restored-deployment-id` (a promotion: `promoted-version` and
    /// `promoted-deployment-id`).
    #[must_use]
    pub fn annotate(&self, mut r: Report) -> Report {
        let para = format!("{}\n\n", self.note);
        match r.summary.find("\n\n") {
            Some(end) => r.summary.insert_str(end + 2, &para),
            None => r.summary.push_str(&format!("\n\n{para}")),
        }
        if let Some(c) = r.checks.first_mut() {
            c.summary.clone_from(&r.summary);
        }
        let (kind, outputs) = match self.promoted_from {
            Some(_) => ("promotion", ["promoted-version", "promoted-deployment-id"]),
            None => ("rollback", ["restored-version", "restored-deployment-id"]),
        };
        r.title = format!("{kind}: {}", r.title);
        r.output(outputs[0], self.release.version.clone());
        r.output(outputs[1], self.release.id.to_string());
        r
    }
}

/// The GitHub Deployment that records this deploy. GitHub problems are logged and noted in the report;
/// they never change the verdict.
pub struct GithubDeployment {
    client: Option<crate::github::Client>,
    deployment: Option<crate::github::deployments::Deployment>,
    note: String,
}

impl GithubDeployment {
    /// Creates the deployment, `in_progress`, its payload recording what the deploy puts in place
    /// (`record.target`; what `rollback-to` redeploys later).
    pub async fn start_recorded(
        rt: &Runtime<'_>,
        environment: &str,
        description: &str,
        record: &crate::github::deployments::Record,
    ) -> Self {
        let Some(client) = rt.github() else {
            return Self {
                client: None,
                deployment: None,
                note: "No GitHub Deployment recorded (no `github-token` or repository).".into(),
            };
        };
        match crate::github::deployments::start_recorded(
            &client,
            rt.ctx,
            environment,
            description,
            record,
        )
        .await
        {
            Ok(d) => Self {
                client: Some(client),
                deployment: Some(d),
                note: String::new(),
            },
            Err(e) => {
                tracing::warn!("GitHub Deployment not recorded: {e}");
                Self {
                    client: None,
                    deployment: None,
                    note: format!("GitHub Deployment not recorded: {e}."),
                }
            }
        }
    }

    /// Sets the final status; returns the sentence for the report.
    pub async fn finish(self, success: bool, environment_url: Option<&str>) -> String {
        let (Some(client), Some(d)) = (self.client, self.deployment) else {
            return self.note;
        };
        let state = if success { "success" } else { "failure" };
        let finished = crate::cancel::cleanup(
            crate::cancel::MODE_CLEANUP,
            crate::github::deployments::finish(&client, &d, success, environment_url, None),
        );
        match finished.await {
            Ok(()) => format!(
                "GitHub Deployment {} to `{}`: {state}.",
                d.id, d.environment
            ),
            Err(e) => {
                tracing::warn!("GitHub Deployment {} status not set: {e}", d.id);
                format!(
                    "GitHub Deployment {} to `{}` created, but its {state} status could not be set: {e}.",
                    d.id, d.environment
                )
            }
        }
    }
}
/// Names where an ECS, ECS Express or App Runner deploy went (environment, account) and the GitHub Deployment `record`
/// under the report's first paragraph, in its check run too; the report key is `report-key`, else the
/// environment.
pub fn name_the_target(
    rt: &Runtime<'_>,
    aws: &crate::aws::Connected,
    record: &str,
    mut r: Report,
) -> Report {
    let target = match &aws.environment {
        Some(e) => format!(
            "Environment `{e}`, account `{}`. {record}\n\n",
            aws.account_id
        ),
        None => format!("Account `{}`. {record}\n\n", aws.account_id),
    };
    if let Some(end) = r.summary.find("\n\n") {
        r.summary.insert_str(end + 2, &target);
    }
    if let Some(c) = r.checks.first_mut() {
        c.summary.clone_from(&r.summary);
    }
    r.key = rt
        .common
        .report_key
        .clone()
        .or_else(|| aws.environment.clone());
    r
}

/// The description and payload of a deploy's GitHub Deployment: a restore's (the rollback's description,
/// the restored record) or a new release's (`what`, recording `target`).
pub fn describe(
    restore: Option<&Restore>,
    what: String,
    target: impl FnOnce() -> Option<deployments::Target>,
) -> (String, Record) {
    match restore {
        Some(r) => (r.description(&what), r.record.clone()),
        None => (
            what,
            Record {
                target: target(),
                ..Default::default()
            },
        ),
    }
}

/// Runs `apply` inside its GitHub Deployment: created `in_progress` before, set to `success`/`failure`
/// after (`end`: whether it succeeded and the environment URL; an error is a failure without one), and
/// the sentence naming it put in the report `report` makes.
///
/// # Errors
/// `apply`'s error, after the deployment is marked failed.
pub async fn recorded<O, E: Into<ModeError>>(
    rt: &Runtime<'_>,
    aws: &crate::aws::Connected,
    environment: &str,
    (description, record): (String, Record),
    apply: impl Future<Output = Result<O, E>>,
    end: impl FnOnce(&O) -> (bool, Option<String>),
    report: impl FnOnce(&O) -> Report,
) -> Result<Report, ModeError> {
    let gh = GithubDeployment::start_recorded(rt, environment, &description, &record).await;
    let o = match apply.await {
        Ok(o) => o,
        Err(e) => {
            let record = gh.finish(false, None).await;
            tracing::info!("{record}");
            return Err(e.into());
        }
    };
    let (ok, url) = end(&o);
    let record = gh.finish(ok, url.as_deref()).await;
    Ok(name_the_target(rt, aws, &record, report(&o)))
}
