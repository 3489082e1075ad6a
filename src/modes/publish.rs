//! `publish` mode: the next semantic version from conventional commits (a `release:*` label on the merged
//! pull request takes precedence), a changelog, a git tag made through the API and a GitHub release;
//! idempotent on re-run. See `docs/publish.md`.
//!
//! Plan, then apply: [`version`] and [`changelog`] are pure; `remote` reads and writes GitHub.

pub mod changelog;
pub mod config;
pub mod plan;
pub mod version;

pub use config::Config;

use crate::modes::{ModeError, Runtime};
use crate::report::Report;

/// Runs the mode.
pub async fn run(_rt: &Runtime<'_>, _cfg: &Config) -> Result<Report, ModeError> {
    Err(ModeError::Config {
        message: "mode `publish` is not available in this build yet".into(),
        hint: None,
    })
}
