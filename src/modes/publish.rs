//! `publish` mode. (Being built in this session; see the issue tracker.)

pub mod changelog;
pub mod version;

use crate::inputs::Inputs;
use crate::modes::{ModeError, Runtime};
use crate::report::Report;

/// Inputs of this mode.
#[derive(Debug, Default)]
pub struct Config {}

impl Config {
    /// Reads this mode's inputs.
    pub fn parse(_p: &mut Inputs<'_>) -> Self {
        Self {}
    }
}

/// Runs the mode.
pub async fn run(_rt: &Runtime<'_>, _cfg: &Config) -> Result<Report, ModeError> {
    Err(ModeError::Config {
        message: "mode `publish` is not available in this build yet".into(),
        hint: None,
    })
}
