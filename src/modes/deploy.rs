//! `deploy` mode: ECS when `cluster`/`service` are given, Lambda when `function-name` is.
//!
//! This file only chooses the target; each target reads its own inputs (AWS connection included) and
//! connects through `crate::aws::connect`, where the trigger policy and the environment mapping are
//! checked before any AWS call.

pub mod ecs;
pub mod lambda;

use crate::aws::{self, AwsInputs, Purpose};
use crate::inputs::Inputs;
use crate::modes::{ModeError, Runtime};
use crate::report::Report;

/// Inputs of this mode: exactly one target.
#[derive(Debug)]
pub struct Config {
    /// Set when `cluster` or `service` is given.
    pub ecs: Option<Box<ecs::Config>>,
    /// Set when `function-name` is given.
    pub lambda: Option<Box<lambda::LambdaConfig>>,
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
        // Neither target: ECS is the default, and its parser names what is missing (`service`, `image`);
        // the Lambda parser still reads its inputs (and returns None without `function-name`).
        let neither = !ecs_wanted && function.is_none();
        Self {
            ecs: (ecs_wanted || neither).then(|| Box::new(ecs::Config::parse(p))),
            lambda: if ecs_wanted {
                None
            } else {
                lambda::LambdaConfig::parse(p).map(Box::new)
            },
        }
    }
}

/// Runs the mode on the chosen target.
pub async fn run(rt: &Runtime<'_>, cfg: &Config) -> Result<Report, ModeError> {
    if let Some(c) = &cfg.ecs {
        let r = ecs::run(rt, c).await;
        return r.map(|r| note_real_run_refusal(rt, &c.aws, r));
    }
    if let Some(l) = &cfg.lambda {
        let r = lambda::run(rt, l).await;
        return r.map(|r| note_real_run_refusal(rt, &l.aws, r));
    }
    Err(ModeError::Config {
        message: "deploy needs a target: `cluster` + `service` (ECS) or `function-name` (Lambda)"
            .into(),
        hint: None,
    })
}

/// A dry run of an environment a real run would refuse (act: no OIDC `environment` claim) says so in
/// its report, after the plan.
fn note_real_run_refusal(rt: &Runtime<'_>, inputs: &AwsInputs, mut r: Report) -> Report {
    if !rt.config.common.dry_run {
        return r;
    }
    if let Ok(plan) = aws::plan_for(rt.env, rt.ctx, inputs, Purpose::Deploy, true)
        && let Some(refusal) = &plan.real_run_refusal
    {
        r.summary
            .push_str(&format!("\n**A real run would be refused:** {refusal}\n"));
    }
    r
}
