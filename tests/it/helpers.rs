//! Shared test rig.

#![allow(
    dead_code,
    reason = "each test module uses a different part of the rig"
)]

pub mod act;
pub mod deploy;
pub mod echo_registry;
pub mod engine;
pub mod fake_apprunner;
pub mod fake_ecs;
pub mod fake_github;
pub mod fake_oidc;
pub mod fake_server;
pub mod golden;
pub mod moto;
pub mod proxy;
pub mod region_front;
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

/// The check most tests make on what a step printed or wrote: `haystack` contains `needle`; on failure the
/// panic shows the whole haystack (as `assert!(haystack.contains(needle), "{}", haystack)` did).
#[track_caller]
pub fn has(haystack: &str, needle: &str) {
    assert!(haystack.contains(needle), "{haystack}");
}

/// `haystack` does not contain `needle`; on failure the panic shows the whole haystack.
#[track_caller]
pub fn lacks(haystack: &str, needle: &str) {
    assert!(!haystack.contains(needle), "{haystack}");
}

/// A free TCP port on loopback (for a server that binds it itself).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs `cmd` to success and returns its stdout; on failure the panic shows the command, stdout and stderr.
#[track_caller]
pub fn ok_output(cmd: &mut std::process::Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `secret` appears in `stdout` in its `::add-mask::` line, and on no other line.
#[track_caller]
pub fn assert_only_masked(stdout: &str, secret: &str) {
    assert!(
        stdout
            .lines()
            .any(|l| l == format!("::add-mask::{secret}").as_str()),
        "not masked: {stdout}"
    );
    assert!(
        stdout
            .lines()
            .all(|l| !l.contains(secret) || l.starts_with("::add-mask::")),
        "{stdout}"
    );
}

/// A reqwest client builder with the process's crypto provider installed first (ring, as the binary
/// does in `main`): reqwest is built without a provider of its own.
pub fn reqwest_builder() -> reqwest::ClientBuilder {
    stevedore::net::crypto::install();
    reqwest::Client::builder()
}

/// [`reqwest_builder`] with reqwest's defaults.
pub fn reqwest_client() -> reqwest::Client {
    reqwest_builder()
        .build()
        .unwrap_or_else(|e| panic!("reqwest client: {e}"))
}
