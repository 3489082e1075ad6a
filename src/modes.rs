//! The five modes. Each has `Config::parse` (inputs) and `run` (plan, then apply) returning a [`Report`].

pub mod build;
pub mod credentials;
pub mod deploy;
pub mod lint_gate;
pub mod publish;

use crate::context::Context;
use crate::env::Env;
use crate::inputs::Common;
use crate::report::{Commands, Report};

/// Mode-specific configuration.
#[derive(Debug)]
pub enum ModeConfig {
    LintGate(lint_gate::Config),
    Build(build::Config),
    Deploy(deploy::Config),
    Publish(publish::Config),
    Credentials(credentials::Config),
}

/// What a mode may use while it runs.
#[derive(Debug)]
pub struct Runtime<'a> {
    pub env: &'a Env,
    pub ctx: &'a Context,
    pub cmds: &'a Commands,
    /// The inputs every mode shares.
    pub common: &'a Common,
    /// The chosen mode's configuration.
    pub mode: &'a ModeConfig,
    /// Fires when the runner cancels the step (SIGINT/SIGTERM).
    pub cancel: crate::cancel::Cancel,
}

impl Runtime<'_> {
    /// OIDC -> STS -> AWS for this run ([`crate::aws::connect`]).
    pub async fn connect_aws(
        &self,
        inputs: &crate::aws::AwsInputs,
        purpose: crate::aws::Purpose,
    ) -> Result<crate::aws::Connected, crate::aws::AwsError> {
        crate::aws::connect(
            self.env,
            self.ctx,
            self.cmds,
            inputs,
            purpose,
            self.common.dry_run,
        )
        .await
    }

    /// The GitHub client for this run: `None` without a token or a repository.
    #[must_use]
    pub fn github(&self) -> Option<crate::github::Client> {
        crate::github::Client::for_run(self.env, self.ctx, self.common.github_token.as_ref())
    }
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

impl From<crate::aws::AwsError> for ModeError {
    fn from(e: crate::aws::AwsError) -> Self {
        let hint = e.hint();
        let message = e.to_string();
        if e.is_config() {
            ModeError::Config { message, hint }
        } else {
            ModeError::Failed { message, hint }
        }
    }
}

/// Runs the configured mode.
pub async fn run(rt: &Runtime<'_>) -> Result<Report, ModeError> {
    match rt.mode {
        ModeConfig::LintGate(c) => lint_gate::run(rt, c).await,
        ModeConfig::Build(c) => build::run(rt, c).await,
        ModeConfig::Deploy(c) => deploy::run(rt, c).await,
        ModeConfig::Publish(c) => publish::run(rt, c).await,
        ModeConfig::Credentials(c) => credentials::run(rt, c).await,
    }
}
