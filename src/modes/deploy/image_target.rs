//! What the two image targets (App Runner, ECS Express) share: their `wait-timeout`/`rollback` inputs and
//! the frame of their report.
//!
//! This module imports no deploy target; the targets import it.

use std::time::Duration;

use crate::inputs::{Input, Inputs};
use crate::report::{Report, Verdict};

/// `wait-timeout` (default 10m, more than 0 and at most 6h; `example` is the fix shown) and `rollback`
/// (`auto`: true, `none`: false) of the image targets (App Runner, ECS Express).
pub fn parse_wait_and_rollback(p: &mut Inputs<'_>, example: &str) -> (Duration, bool) {
    let timeout = p.duration(Input::WaitTimeout, Duration::from_secs(600));
    if timeout.is_zero() || timeout > Duration::from_secs(6 * 3600) {
        p.error(
            Input::WaitTimeout,
            Some(&format!("{}s", timeout.as_secs())),
            "must be more than 0 and at most 6h",
            example,
        );
    }
    let rollback = p.choice(Input::Rollback, &["auto", "none"], "auto") == "auto";
    (timeout, rollback)
}

/// The report of an image target's deploy (App Runner, ECS Express): `what` names the service and target,
/// the title says how it ended.
pub fn image_target_report(what: &str, ok: bool, cancelled: bool, summary: String) -> Report {
    let (verdict, title) = if ok {
        (Verdict::Success, format!("deployed {what}"))
    } else if cancelled {
        (Verdict::Failure, format!("deploy cancelled: {what}"))
    } else {
        (Verdict::Failure, format!("deploy failed: {what}"))
    };
    Report::new(crate::inputs::Mode::Deploy, verdict, title, summary)
}
