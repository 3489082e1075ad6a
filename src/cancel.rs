//! Cancellation: the runner sends SIGINT, then SIGTERM 7.5 s later, then kills (actions/runner
//! `ProcessInvoker.cs`). `main` turns the first signal into a [`Cancel`] that modes watch, so a Lambda
//! deploy can put its alias back before the kill.

use tokio::sync::watch;

/// A cloneable cancellation flag.
#[derive(Clone, Debug)]
pub struct Cancel {
    rx: watch::Receiver<bool>,
}

/// The side that cancels.
#[derive(Debug)]
pub struct CancelHandle {
    tx: watch::Sender<bool>,
}

/// A new flag and its trigger.
#[must_use]
pub fn pair() -> (CancelHandle, Cancel) {
    let (tx, rx) = watch::channel(false);
    (CancelHandle { tx }, Cancel { rx })
}

impl CancelHandle {
    /// Cancels; every waiter wakes.
    pub fn cancel(&self) {
        self.tx.send_replace(true);
    }
}

impl Cancel {
    /// A flag that never fires.
    #[must_use]
    pub fn never() -> Self {
        let (tx, rx) = watch::channel(false);
        // Keep the sender alive forever so `cancelled()` pends instead of returning on a closed channel.
        std::mem::forget(tx);
        Self { rx }
    }

    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        *self.rx.borrow()
    }

    /// Resolves when cancelled.
    pub async fn cancelled(&self) {
        let mut rx = self.rx.clone();
        if rx.wait_for(|c| *c).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
