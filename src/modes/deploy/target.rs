//! The shape every deploy target fills in.
//!
//! This module imports no deploy target; the targets import it.

use crate::inputs::{Input, Inputs};

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
    /// Whether `rollback-to` is given (the inputs of a new release are then refused by its parser).
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
