//! The one integration-test binary. Each module is one area; helpers hold the real parts (moto, fakes,
//! the runner harness).

#![allow(
    unreachable_pub,
    reason = "items of the test binary are shared between its modules"
)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    clippy::print_stderr,
    clippy::print_stdout,
    let_underscore_drop,
    reason = "test rig: panics are test failures, and the harness reads the real process environment"
)]

mod helpers;

mod act;
mod act_quirks;
mod action_yml;
mod apprunner;
mod arm64;
mod build;
mod check;
mod command_injection;
mod container;
mod credentials;
mod dist;
mod docs_snippets;
mod ecs;
mod ecs_preview;
mod ecs_tasks;
mod event_rules;
mod express;
mod foundation;
mod iac;
mod lambda;
mod layers;
mod lint_gate;
mod markup_escaping;
mod notify;
mod packages;
mod pipelines;
mod preview;
mod promote;
mod promotion;
mod proxy;
mod publish;
mod release_records;
mod reporting;
mod rollback;
mod runner_schema;
mod security;
mod security_inputs;
mod side_by_side;
