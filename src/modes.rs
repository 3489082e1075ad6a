//! The five modes. Each has `Config::parse` (inputs) and `run` (plan, then apply) returning a [`Report`].

pub mod build;
pub mod credentials;
pub mod deploy;
pub mod lint_gate;
pub mod publish;

use crate::config::{Config, ModeConfig};
use crate::context::Context;
use crate::env::Env;
use crate::report::{Commands, Report};

/// What a mode may use while it runs.
#[derive(Debug)]
pub struct Runtime<'a> {
    pub env: &'a Env,
    pub ctx: &'a Context,
    pub cmds: &'a Commands,
    pub config: &'a Config,
    /// Fires when the runner cancels the step (SIGINT/SIGTERM).
    pub cancel: crate::cancel::Cancel,
}

/// A mode could not produce a verdict: configuration problems (exit 2) or failures before any report.
#[derive(Debug, thiserror::Error)]
pub enum ModeError {
    /// A problem the user fixes in the workflow (exit 2).
    #[error("{message}")]
    Config {
        message: String,
        hint: Option<String>,
    },
    /// The mode failed (exit 1).
    #[error("{message}")]
    Failed {
        message: String,
        hint: Option<String>,
    },
}

impl ModeError {
    #[must_use]
    pub fn hint(&self) -> Option<&str> {
        match self {
            ModeError::Config { hint, .. } | ModeError::Failed { hint, .. } => hint.as_deref(),
        }
    }
}

/// Runs the configured mode.
pub async fn run(rt: &Runtime<'_>) -> Result<Report, ModeError> {
    match &rt.config.mode {
        ModeConfig::LintGate(c) => lint_gate::run(rt, c).await,
        ModeConfig::Build(c) => build::run(rt, c).await,
        ModeConfig::Deploy(c) => deploy::run(rt, c).await,
        ModeConfig::Publish(c) => publish::run(rt, c).await,
        ModeConfig::Credentials(c) => credentials::run(rt, c).await,
    }
}
