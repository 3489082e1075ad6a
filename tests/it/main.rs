#![allow(
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    clippy::print_stderr,
    clippy::print_stdout,
    reason = "test rig: panics are test failures, and the harness reads the real process environment"
)]
    unreachable_pub,
    reason = "items of the test binary are shared between its modules"
)]

//! The one integration-test binary. Each module is one area; helpers hold the real parts (moto, fakes,
//! the runner harness).

mod helpers;

mod foundation;
