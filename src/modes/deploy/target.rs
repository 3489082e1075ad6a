//! The shape every deploy target fills in ([`Target`]), and the inputs that choose one.
//!
//! A target (ECS, Lambda, App Runner, ECS Express) is its configuration, parsed from the step's inputs,
//! plus these phases:
//!
//! - **identity**: the GitHub environment its releases are recorded in ([`Target::environment`]) and
//!   which recorded releases are its own ([`Target::owns`]);
//! - **observe**: what is live now ([`Target::observe`]), read at most once, at the first question;
//! - **verify a release**: whether a recorded artifact may be put in place here
//!   ([`Target::check_release`], against what is live);
//! - **deploy** a new release: its own plan (read-only; what a dry run prints), apply, follow to the end,
//!   verify health, roll back on failure, record the release ([`super::record`]) and report
//!   ([`Target::deploy`]);
//! - **restore** a recorded release ([`Target::restore`]): the same run with the recorded artifact.
//!
//! `deploy.rs` chooses the target and runs it; `rollback.rs` and `promote.rs` find a release through
//! [`super::record`] and hand it to [`Target::restore`] without naming any target (a promotion first
//! maps the source environment's record onto this target with [`Target::counterpart`]).
//!
//! This module imports no deploy target; the targets import it.

use std::future::Future;

use crate::aws::{AwsInputs, Connected};
use crate::github::deployments;
use crate::inputs::{Input, Inputs};
use crate::modes::runtime::{ModeError, Runtime};
use crate::report::Report;

use super::record::Restore;

/// One deploy target: what every phase needs to be run, rolled back or promoted without naming it.
pub trait Target: Sync {
    /// What is live on the target, read lazily (no AWS call when nothing asks) and shared between the
    /// release checks and the restore that follows them.
    type Live: Sync;

    /// The AWS connection inputs (trigger policy, environment mapping, role).
    fn aws(&self) -> &AwsInputs;

    /// The target in words, for messages: e.g. "App Runner `web`".
    fn what(&self) -> String;

    /// The GitHub environment whose deployments record this target's releases.
    fn environment(&self, aws: &Connected) -> String;

    /// Whether a recorded release is of this very target (same service, function and alias, …).
    fn owns(&self, aws: &Connected, recorded: &deployments::Target) -> bool;

    /// A release recorded in another environment (`promote-from`) as a release of this target: the same
    /// artifact (task definitions, Lambda version, image) put in place on this step's cluster, alias or
    /// service. `None` when the record is not of this target's line: another kind of target, other ECS
    /// or ECS Express services (by name), another Lambda function. Nothing is verified here: the
    /// promotion checks the result with [`Target::check_release`] like any recorded release.
    fn counterpart(
        &self,
        aws: &Connected,
        recorded: &deployments::Target,
    ) -> Option<deployments::Target>;

    /// What is live, not read yet.
    ///
    /// # Errors
    /// When a client cannot be built.
    fn observe(&self, rt: &Runtime<'_>, aws: &Connected) -> Result<Self::Live, ModeError>;

    /// Whether the artifact `recorded` names may be put in place on this target: `Ok(None)` when it
    /// may, `Ok(Some(why))` when not, `Err` when what is live could not be read.
    fn check_release(
        &self,
        live: &Self::Live,
        recorded: &deployments::Target,
    ) -> impl Future<Output = Result<Option<String>, String>> + Send;

    /// Deploys the release the inputs describe: plan (a dry run stops there and prints it), apply,
    /// follow, health, roll back on failure, record, report.
    fn deploy(
        &self,
        rt: &Runtime<'_>,
        aws: &Connected,
    ) -> impl Future<Output = Result<Report, ModeError>>;

    /// Puts the release `restore` names in place again, with the same run as a deploy.
    fn restore(
        &self,
        rt: &Runtime<'_>,
        aws: &Connected,
        live: Self::Live,
        restore: &Restore,
    ) -> impl Future<Output = Result<Report, ModeError>>;

    /// A promotion from an environment in another account: why this target cannot take it, as the
    /// message (after "environment `x` is in account `a` and this step deploys to account `b`; ") and
    /// the hint; `None` when it can ([`Target::promote_across`]). Asked before anything is read. By
    /// default refused (the targets here override it: Lambda refuses without `s3-bucket`).
    fn across_accounts(&self) -> Option<(String, String)> {
        Some((
            "this target does not take a release of another account".into(),
            "Promote between environments of one account, or deploy the artifact here as a new release".into(),
        ))
    }

    /// Puts in place here, in `aws`'s account, the release `restore` names: recorded in the account
    /// `source` is connected to and verified there ([`Target::check_release`] against what is live in
    /// that account). Its artifact is copied into this account and deployed as a new release, recorded
    /// as `restore.record` says (`promoted_from`). Only called when [`Target::across_accounts`] is
    /// `None`; the default refuses like it.
    fn promote_across(
        &self,
        rt: &Runtime<'_>,
        aws: &Connected,
        source: &Connected,
        restore: &Restore,
    ) -> impl Future<Output = Result<Report, ModeError>> {
        let _ = (rt, aws, source, restore);
        let refusal = self.across_accounts().unwrap_or_default();
        async move {
            Err(ModeError::Config {
                message: format!("input `promote-from`: {}", refusal.0),
                hint: Some(refusal.1),
            })
        }
    }
}

/// A promotion refused (exit 2): `input `promote-from`: <message>`, with `hint`.
#[must_use]
pub fn refuse_promotion(message: String, hint: &str) -> ModeError {
    ModeError::Config {
        message: format!("input `promote-from`: {message}"),
        hint: Some(hint.to_owned()),
    }
}

/// The refusal of a recorded release of another kind of target.
#[must_use]
pub fn records_other(recorded: &deployments::Target) -> Option<String> {
    Some(format!("it records {}", recorded.describe()))
}

/// Inputs that describe a new release: a rollback takes none of them (it redeploys what was recorded).
pub const NEW_RELEASE_INPUTS: [(Input, &str); 12] = [
    (Input::Image, "the image"),
    (Input::TaskDefinition, "the task definition"),
    (Input::EnvironmentVariables, "the environment"),
    (Input::ZipFile, "the code"),
    (Input::S3Bucket, "the code"),
    (Input::S3Key, "the code"),
    (Input::Handler, "the configuration"),
    (Input::Runtime, "the configuration"),
    (Input::MemorySize, "the configuration"),
    (Input::FunctionTimeout, "the configuration"),
    (Input::PreDeployTask, "the one-off tasks"),
    (Input::PostDeployTask, "the one-off tasks"),
];

/// The inputs that choose the target, each read once (here) and passed to the target's parser.
#[derive(Debug, Default)]
pub struct TargetInputs {
    /// `cluster` (ECS and ECS Express).
    pub cluster: Option<String>,
    /// `service`, raw (a list for ECS).
    pub service: Option<String>,
    pub function_name: Option<String>,
    pub app_runner_service: Option<String>,
    pub express_service: Option<String>,
    /// Whether `rollback-to` or `promote-from` is given: the release is a recorded one (the inputs of a
    /// new release are then refused by their parser).
    pub rollback_to: bool,
}

impl TargetInputs {
    pub fn read(p: &mut Inputs<'_>, rollback_to: bool) -> Self {
        Self {
            cluster: p.string(Input::Cluster),
            service: p.string(Input::Service),
            function_name: p.string(Input::FunctionName),
            app_runner_service: p.string(Input::AppRunnerService),
            express_service: p.string(Input::ExpressService),
            rollback_to,
        }
    }
}
