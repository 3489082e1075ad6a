//! `deploy` mode: ECS when `cluster`/`service` are given, Lambda when `function-name` is.
//!
//! This file only chooses the target; each target reads its own inputs (AWS connection included) and
//! connects through `crate::aws::connect`, where the trigger policy and the environment mapping are
//! checked before any AWS call.

pub mod ecs;

use crate::inputs::Inputs;
use crate::modes::{ModeError, Runtime};
use crate::report::Report;

/// Inputs of this mode: exactly one target.
#[derive(Debug)]
pub struct Config {
    /// Set when `cluster` or `service` is given.
    pub ecs: Option<Box<ecs::Config>>,
    /// Set when `function-name` is given (the Lambda module defines the full configuration).
    pub lambda: Option<String>,
}

impl Config {
    /// Reads this mode's inputs, collecting every error.
    pub fn parse(p: &mut Inputs<'_>) -> Self {
        let ecs_wanted = p.string("cluster").is_some() || p.string("service").is_some();
        let function = p.string("function-name");
        if ecs_wanted && function.is_some() {
            p.error(
                "function-name",
                function.as_deref(),
                "is set together with `cluster`/`service`; one deploy step deploys to ECS or to Lambda",
                "Use two steps: one with `cluster` + `service`, one with `function-name`",
            );
        }
        if !ecs_wanted && function.is_none() {
            p.missing(
                "service",
                "for an ECS deploy (or set `function-name` for Lambda)",
                "web",
            );
        }
        Self {
            ecs: ecs_wanted.then(|| Box::new(ecs::Config::parse(p))),
            lambda: if ecs_wanted { None } else { function },
        }
    }
}

/// Runs the mode on the chosen target.
pub async fn run(rt: &Runtime<'_>, cfg: &Config) -> Result<Report, ModeError> {
    if let Some(c) = &cfg.ecs {
        return ecs::run(rt, c).await;
    }
    if let Some(function) = &cfg.lambda {
        return Err(ModeError::Config {
            message: format!(
                "Lambda deploy of `{function}` is implemented in the Lambda module (deploy/lambda.rs), which is not in this build"
            ),
            hint: Some(
                "Use a build that includes Lambda deploy, or deploy to ECS with `cluster` and `service`"
                    .into(),
            ),
        });
    }
    Err(ModeError::Config {
        message: "deploy needs a target: `cluster` + `service` (ECS) or `function-name` (Lambda)"
            .into(),
        hint: None,
    })
}
