//! Shared test rig.

#![allow(
    dead_code,
    reason = "each test module uses a different part of the rig"
)]

pub mod act;
pub mod echo_registry;
pub mod engine;
pub mod fake_apprunner;
pub mod fake_ecs;
pub mod fake_github;
pub mod fake_oidc;
pub mod golden;
pub mod moto;
pub mod proxy;
pub mod registries;
pub mod registry_front;
pub mod run;
pub mod runner;
pub mod tied;
pub mod tls;
pub mod webhook;
pub mod workflow;
pub mod workflow_commands;

/// Whether a missing tool must fail the test (`CI=true`) rather than skip it.
pub fn strict() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Skips (returns `None`) with a printed reason when `what` is unavailable locally; panics under `CI=true`.
pub fn require<T>(what: &str, found: Option<T>) -> Option<T> {
    match found {
        Some(t) => Some(t),
        None if strict() => panic!("{what} is required when CI=true"),
        None => {
            eprintln!("SKIPPED: {what} is not available on this machine");
            None
        }
    }
}
