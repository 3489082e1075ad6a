//! stevedore: a Docker-container GitHub Action (and a CLI) that runs one of five modes.
//!
//! The flow goes one way only:
//!
//! ```text
//! env (INPUT_*, GITHUB_*, event JSON) -> inputs/config (typed, all errors at once)
//!   -> context (repo, ref, sha, PR, labels) -> mode: plan, then apply -> report fan-out -> exit code
//! ```
//!
//! The layers (docs/architecture.md): `app` -> `config` -> `modes` -> services (`aws`, `github`, `oidc`,
//! `policy`) -> foundation (`report`, `net`, `context`, `inputs`, `env`, ...); nothing points back, and
//! `tests/it/layers.rs` checks it from the sources.
//! Only [`env`] reads the process environment and only [`report::commands`] writes stdout; logs go to
//! stderr through `tracing`, redacted by the same [`report::Masker`].
//!
//! Exit codes: 0 the mode succeeded (or had nothing to do), 1 it failed, 2 bad input or configuration
//! (docs/check.md#exit-codes).

pub mod act;
pub mod app;
pub mod arn;
pub mod aws;
pub mod cancel;
pub mod check;
pub mod cli;
pub mod config;
pub mod context;
pub mod conventional;
pub mod env;
pub mod event_rules;
pub mod github;
pub mod inputs;
pub mod logging;
pub mod modes;
pub mod names;
pub mod net;
pub mod notify;
pub mod oidc;
pub mod policy;
pub mod registry;
pub mod report;
pub mod xml;
pub mod yaml;

pub use env::Env;

/// The version string: crate version plus the hash of the sources the binary was built from.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (sources ",
    env!("STEVEDORE_SOURCE_HASH"),
    ")"
);

/// Exit code: success or nothing to do.
pub const EXIT_OK: u8 = 0;
/// Exit code: the mode failed (gate red, deploy rolled back, release failed).
pub const EXIT_FAILED: u8 = 1;
/// Exit code: bad input or configuration.
pub const EXIT_CONFIG: u8 = 2;
