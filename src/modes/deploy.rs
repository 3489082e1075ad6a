//! `deploy` mode. (Being built in this session; see the issue tracker.) Lambda when `function-name` is
//! given (see [`lambda`]); ECS otherwise.

pub mod lambda;

use crate::inputs::Inputs;
use crate::modes::{ModeError, Runtime};
use crate::report::Report;

/// Inputs of this mode.
#[derive(Debug, Default)]
pub struct Config {
    /// Set when `function-name` is given.
    pub lambda: Option<Box<lambda::LambdaConfig>>,
}

impl Config {
    /// Reads this mode's inputs.
    pub fn parse(p: &mut Inputs<'_>) -> Self {
        Self {
            lambda: lambda::LambdaConfig::parse(p).map(Box::new),
        }
    }
}

/// Runs the mode.
pub async fn run(rt: &Runtime<'_>, cfg: &Config) -> Result<Report, ModeError> {
    if let Some(l) = &cfg.lambda {
        return lambda::run(rt, l).await;
    }
    Err(ModeError::Config {
        message: "mode `deploy` (ECS) is not available in this build yet".into(),
        hint: None,
    })
}
