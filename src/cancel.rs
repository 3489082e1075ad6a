//! Cancellation: the runner sends SIGINT, then SIGTERM 7.5 s later, then kills (actions/runner
//! `ProcessInvoker.cs`); `podman stop`/`docker stop` send SIGTERM. `main` turns the first signal into a
//! fired [`Cancel`], and the process exits within 2 s of it whatever it was waiting for:
//!
//! - **Every network wait** goes through [`Cancel::guard`]: the AWS SDK's HTTP client
//!   ([`crate::aws::http_client`]), the ECR client's signed JSON-RPC requests ([`crate::aws::ecr`]), the
//!   GitHub client's `request`, the OIDC token and JWKS requests and the health checks. A guarded wait in flight ends at the signal, and one started after it fails at
//!   once without sending anything, so nothing new is created after the signal (no task definition, no
//!   Deployment, no alias move).
//! - **The documented clean-up** runs inside [`cleanup`], where guarded calls may still go out until a
//!   deadline after the signal: the rollback requests of a deploy ([`MODE_CLEANUP`]) and the check run
//!   completed as `cancelled` ([`REPORT_CLEANUP`]).
//! - `app` drops the mode at [`MODE_CLEANUP`] whatever it waits for (a retry sleep, a poll interval, a
//!   local process) and `main` exits the process at [`HARD_EXIT`] if the clean-up still hangs.

use std::future::Future;
use std::time::{Duration, Instant};

use tokio::sync::watch;

/// Until when after the signal a mode's clean-up (rollback requests, the Deployment's final status) may
/// talk to AWS and GitHub; `app` drops the mode at this point.
pub const MODE_CLEANUP: Duration = Duration::from_millis(1000);
/// Until when after the signal the report may reach GitHub (the check run completed as `cancelled`).
pub const REPORT_CLEANUP: Duration = Duration::from_millis(1600);
/// When after the signal `main` exits the process whatever is still running.
pub const HARD_EXIT: Duration = Duration::from_millis(1900);

/// The signal that cancelled the run, and when it arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signal {
    /// `SIGINT` or `SIGTERM`.
    pub name: &'static str,
    pub at: Instant,
}

/// A wait that the signal ended.
#[derive(Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cancelled by {}", .0.name)]
pub struct Cancelled(pub Signal);

/// Errors that print their source with `{:?}` (the AWS SDK's) show the same words as `Display`.
impl std::fmt::Debug for Cancelled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cancelled by {}", self.0.name)
    }
}

/// A cloneable cancellation flag. The default never fires.
#[derive(Clone, Debug)]
pub struct Cancel {
    rx: watch::Receiver<Option<Signal>>,
}

/// The side that cancels.
#[derive(Debug)]
pub struct CancelHandle {
    tx: watch::Sender<Option<Signal>>,
}

/// A new flag and its trigger.
#[must_use]
pub fn pair() -> (CancelHandle, Cancel) {
    let (tx, rx) = watch::channel(None);
    (CancelHandle { tx }, Cancel { rx })
}

impl CancelHandle {
    /// Cancels because of `signal` (the first call wins); every waiter wakes.
    pub fn cancel(&self, signal: &'static str) {
        self.tx.send_if_modified(|s| {
            if s.is_some() {
                return false;
            }
            *s = Some(Signal {
                name: signal,
                at: Instant::now(),
            });
            true
        });
    }
}

impl Default for Cancel {
    fn default() -> Self {
        Self::never()
    }
}

tokio::task_local! {
    /// Inside [`cleanup`]: how long after the signal guarded waits may still run.
    static CLEANUP_UNTIL: Duration;
}

/// Runs `fut` as documented clean-up: guarded waits inside it may start after the signal and run until
/// `within` after it.
pub async fn cleanup<F: Future>(within: Duration, fut: F) -> F::Output {
    // Boxed: the SDK's futures are large, and this wrapper would otherwise add their size again.
    CLEANUP_UNTIL.scope(within, Box::pin(fut)).await
}

/// The clean-up allowance of the calling task (`None` outside [`cleanup`]), to hand to
/// [`Cancel::guard_with`] when the guarded future is polled outside the caller's task.
#[must_use]
pub fn allowance() -> Option<Duration> {
    CLEANUP_UNTIL.try_with(|d| *d).ok()
}

impl Cancel {
    /// A flag that never fires.
    #[must_use]
    pub fn never() -> Self {
        let (tx, rx) = watch::channel(None);
        // Keep the sender alive forever so `cancelled()` pends instead of returning on a closed channel.
        std::mem::forget(tx);
        Self { rx }
    }

    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        self.rx.borrow().is_some()
    }

    /// The signal, once it came.
    #[must_use]
    pub fn signal(&self) -> Option<Signal> {
        *self.rx.borrow()
    }

    /// Resolves when cancelled.
    pub async fn cancelled(&self) {
        self.signalled().await;
    }

    async fn signalled(&self) -> Signal {
        let mut rx = self.rx.clone();
        let got = rx.wait_for(Option::is_some).await.ok().and_then(|s| *s);
        match got {
            Some(s) => s,
            None => std::future::pending().await,
        }
    }

    /// Resolves `after` the signal (at once when that time has passed).
    pub async fn elapsed(&self, after: Duration) -> Signal {
        let s = self.signalled().await;
        tokio::time::sleep_until((s.at + after).into()).await;
        s
    }

    /// Runs one network wait. Outside [`cleanup`]: fails at once when the signal already came (nothing is
    /// sent), and ends the wait when it comes. Inside: the same, at the clean-up deadline.
    pub async fn guard<F: Future>(&self, fut: F) -> Result<F::Output, Cancelled> {
        self.guard_with(allowance(), fut).await
    }

    /// [`Cancel::guard`] with the allowance captured by the caller (for futures polled elsewhere).
    pub async fn guard_with<F: Future>(
        &self,
        allowance: Option<Duration>,
        fut: F,
    ) -> Result<F::Output, Cancelled> {
        let after = allowance.unwrap_or(Duration::ZERO);
        if let Some(s) = self.signal()
            && s.at.elapsed() >= after
        {
            return Err(Cancelled(s));
        }
        // Boxed, as in `cleanup`: one allocation per guarded wait keeps callers' futures small.
        let fut = Box::pin(fut);
        tokio::select! {
            biased;
            s = self.elapsed(after) => Err(Cancelled(s)),
            v = fut => Ok(v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_guarded_wait_ends_at_the_signal_and_later_ones_never_start() {
        let (h, c) = pair();
        let hang = c.guard(std::future::pending::<()>());
        let signal = async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            h.cancel("SIGTERM");
        };
        let (r, ()) = tokio::join!(hang, signal);
        assert_eq!(
            r.map_err(|e| e.to_string()),
            Err("cancelled by SIGTERM".into())
        );
        let mut started = false;
        let r = c.guard(async { started = true }).await;
        assert!(r.is_err());
        assert!(!started, "a wait after the signal must not start");
        // A second signal does not replace the first.
        h.cancel("SIGINT");
        assert_eq!(c.signal().map(|s| s.name), Some("SIGTERM"));
    }

    #[tokio::test]
    async fn clean_up_may_run_until_its_deadline_and_no_longer() {
        let (h, c) = pair();
        h.cancel("SIGINT");
        let quick = cleanup(
            Duration::from_millis(500),
            c.guard(async {
                tokio::time::sleep(Duration::from_millis(100)).await;
                7
            }),
        )
        .await;
        assert_eq!(quick, Ok(7));
        let t0 = Instant::now();
        let slow = cleanup(
            Duration::from_millis(500),
            c.guard(std::future::pending::<()>()),
        )
        .await;
        assert!(slow.is_err());
        assert!(t0.elapsed() < Duration::from_millis(600));
        tokio::time::sleep(Duration::from_millis(500)).await;
        let late = cleanup(Duration::from_millis(500), c.guard(async { 1 })).await;
        assert!(
            late.is_err(),
            "past the deadline even clean-up does not start"
        );
    }

    #[tokio::test]
    async fn never_does_not_fire() {
        let c = Cancel::never();
        assert_eq!(c.guard(async { 3 }).await, Ok(3));
        assert!(!c.is_cancelled());
    }
}
