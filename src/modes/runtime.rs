//! What every mode runs with ([`Runtime`]) and how a mode fails ([`ModeError`]): the floor the modes
//! stand on. `modes.rs` above them chooses and runs one; this file imports no mode.

use crate::context::Context;
use crate::env::Env;
use crate::inputs::Common;
use crate::report::Commands;

/// What a mode may use while it runs.
#[derive(Debug)]
pub struct Runtime<'a> {
    pub env: &'a Env,
    pub ctx: &'a Context,
    pub cmds: &'a Commands,
    /// The inputs every mode shares.
    pub common: &'a Common,
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
        crate::github::Client::for_run(
            self.env,
            self.ctx,
            self.common.github_token.as_ref(),
            self.cmds.masker(),
        )
    }
}

/// A module's error as a mode reports it: whether the workflow must change (exit 2) or the run failed
/// (exit 1), and what to do. A module error implementing this converts into [`ModeError::Typed`] with `?`
/// and stays typed there ([`ModeError::downcast_ref`]); the conversion lives here, once.
pub trait Failure: std::error::Error + Send + Sync + 'static {
    /// A problem the user fixes in the workflow (exit 2) rather than a failed run (exit 1).
    fn is_config(&self) -> bool;
    /// What to do about it.
    fn hint(&self) -> Option<String>;
}

/// A mode could not produce a verdict: configuration problems (exit 2) or failures before any report.
#[derive(Debug)]
pub enum ModeError {
    /// A problem the user fixes in the workflow (exit 2).
    Config {
        message: String,
        hint: Option<String>,
    },
    /// The mode failed (exit 1).
    Failed {
        message: String,
        hint: Option<String>,
    },
    /// A module's own error, kept whole: its message, class and hint are its own, and tests (or callers)
    /// match its variant with [`ModeError::downcast_ref`].
    Typed(Box<dyn Failure>),
}

impl std::fmt::Display for ModeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ModeError::Config { message, .. } | ModeError::Failed { message, .. } => {
                f.write_str(message)
            }
            ModeError::Typed(e) => std::fmt::Display::fmt(e, f),
        }
    }
}

/// Transparent: a typed error's message is the mode error's, so its cause is the typed error's cause.
impl std::error::Error for ModeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ModeError::Typed(e) => e.source(),
            _ => None,
        }
    }
}

impl<E: Failure> From<E> for ModeError {
    fn from(e: E) -> Self {
        ModeError::Typed(Box::new(e))
    }
}

impl ModeError {
    #[must_use]
    pub fn hint(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            ModeError::Config { hint, .. } | ModeError::Failed { hint, .. } => {
                hint.as_deref().map(std::borrow::Cow::Borrowed)
            }
            ModeError::Typed(e) => e.hint().map(std::borrow::Cow::Owned),
        }
    }

    /// A problem the user fixes in the workflow: exit 2.
    #[must_use]
    pub fn is_config(&self) -> bool {
        match self {
            ModeError::Config { .. } => true,
            ModeError::Failed { .. } => false,
            ModeError::Typed(e) => e.is_config(),
        }
    }

    /// The module error behind this one, when it is a `T`.
    #[must_use]
    pub fn downcast_ref<T: Failure>(&self) -> Option<&T> {
        match self {
            ModeError::Typed(e) => {
                let e: &(dyn std::error::Error + 'static) = e.as_ref();
                e.downcast_ref::<T>()
            }
            _ => None,
        }
    }
}

impl Failure for crate::aws::AwsError {
    fn is_config(&self) -> bool {
        crate::aws::AwsError::is_config(self)
    }
    fn hint(&self) -> Option<String> {
        crate::aws::AwsError::hint(self)
    }
}
