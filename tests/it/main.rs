#![allow(
    unreachable_pub,
    reason = "items of the test binary are shared between its modules"
)]

//! The one integration-test binary. Each module is one area; helpers hold the real parts (moto, fakes,
//! the runner harness).

mod helpers;

mod foundation;
