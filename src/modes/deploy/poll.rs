//! The one poll schedule of every followed operation: App Runner operations, ECS Express service
//! deployments, ECS rollouts, one-off tasks and Lambda settle waits.
//!
//! The rule: one call per `gap` (1 s in production), counted from the start of one call to the start of
//! the next. So two calls are never closer than 1 s: one call a second per followed operation, against
//! AWS's published per-account, per-Region buckets (ECS service reads and service deployments: 20 per
//! second sustained; Lambda's control plane: 15 per second for all calls together; App Runner: none
//! found) — under them for one operation, but shared with every caller in the account
//! (docs/architecture.md has the figures and sources). An end is seen at most 1 s
//! after it happened, plus one round trip, from the first poll on — the end of a deploy can come within
//! seconds (a rejected image, a stopped task, a scripted rollback), so there is no slower phase to save
//! calls on. A call that takes longer than `gap` is followed by the next one at once. Callers poll once
//! immediately, then call [`Poller::wait`] before every further call.
//!
//! This module imports no deploy target; the targets import it.

use std::time::Duration;

use tokio::time::Instant;

use crate::cancel::Cancel;

/// The production gap between the starts of two polls of one operation.
pub const GAP: Duration = Duration::from_secs(1);

/// The most calls one followed operation makes in a minute at [`GAP`] (the call budget in the docs).
pub const CALLS_PER_MINUTE: u32 = 60;

/// The poll gap and the overall budget. Tests shorten the gap.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timing {
    /// Between the starts of two polls: [`GAP`] (1 s), the shared schedule of every followed
    /// operation.
    pub gap: Duration,
    pub timeout: Duration,
    /// Look for stopped tasks at least every this many polls even without a hint (failed-task count,
    /// events), because a task that dies after RUNNING does not always leave one.
    pub stopped_check_every: u32,
}

impl Timing {
    /// One poll a second ([`GAP`]); stopped tasks looked up at least every 10 polls.
    #[must_use]
    pub fn new(timeout: Duration) -> Self {
        Self {
            gap: GAP,
            timeout,
            stopped_check_every: 10,
        }
    }

    /// A pacer for one followed operation.
    #[must_use]
    pub fn poller(&self) -> Poller {
        Poller::new(self.gap)
    }
}

/// A `wait-timeout` as the user would write it: `10m`, `90s`, `1h`, `400ms`.
#[must_use]
pub fn fmt_budget(d: Duration) -> String {
    let s = d.as_secs();
    if d.subsec_millis() != 0 || s == 0 {
        format!("{}ms", d.as_millis())
    } else if s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

/// `wait-timeout` (default 10m, more than 0 and at most 6h; `example` is the fix shown): the budget of
/// every followed operation of a deploy.
pub fn parse_wait_timeout(p: &mut crate::inputs::Inputs<'_>, example: &str) -> Duration {
    let input = crate::inputs::Input::WaitTimeout;
    let timeout = p.duration(input, Duration::from_secs(600));
    if timeout.is_zero() || timeout > Duration::from_secs(6 * 3600) {
        p.error(
            input,
            Some(&format!("{}s", timeout.as_secs())),
            "must be more than 0 and at most 6h",
            example,
        );
    }
    timeout
}

/// Paces the polls of one operation: records when each call started and waits until `gap` after it.
#[derive(Debug)]
pub struct Poller {
    gap: Duration,
    last: Option<Instant>,
    calls: u32,
}

impl Poller {
    #[must_use]
    pub fn new(gap: Duration) -> Self {
        Self {
            gap,
            last: None,
            calls: 0,
        }
    }

    /// Records that a call starts now.
    pub fn started(&mut self) {
        self.started_at(Instant::now());
    }

    fn started_at(&mut self, at: Instant) {
        self.last = Some(at);
        self.calls += 1;
    }

    /// When the next call may start: `gap` after the last one started, or at once when it took longer
    /// (`now` is later) or nothing was called yet.
    #[must_use]
    pub fn due(&self, now: Instant) -> Instant {
        self.last.map_or(now, |last| (last + self.gap).max(now))
    }

    /// Waits until the next call is due; `false` when `cancel` fired first.
    pub async fn wait(&self, cancel: &Cancel) -> bool {
        tokio::select! {
            () = self.sleep() => true,
            () = cancel.cancelled() => false,
        }
    }

    /// Waits until the next call is due (for a caller whose own caller handles cancellation).
    pub async fn sleep(&self) {
        tokio::time::sleep_until(self.due(Instant::now())).await;
    }

    /// Calls recorded so far.
    #[must_use]
    pub fn calls(&self) -> u32 {
        self.calls
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The start of every call when each takes `durations[i]`, following the pacing of a follow loop:
    /// a call, then wait until due, then the next.
    fn schedule(gap: Duration, durations: &[Duration]) -> Vec<Instant> {
        let t0 = Instant::now();
        let mut p = Poller::new(gap);
        let mut now = t0;
        let mut starts = Vec::new();
        for d in durations {
            now = p.due(now);
            p.started_at(now);
            starts.push(now);
            now += *d;
        }
        assert_eq!(p.calls() as usize, durations.len());
        starts
    }

    #[test]
    fn two_calls_are_never_within_the_gap_and_never_further_apart_unless_a_call_took_longer() {
        let ms = Duration::from_millis;
        let durations = [
            ms(5),
            ms(80),
            ms(999),
            ms(1000),
            ms(1400),
            ms(3),
            ms(250),
            ms(0),
            ms(2500),
            ms(10),
        ];
        let starts = schedule(GAP, &durations);
        for (i, w) in starts.windows(2).enumerate() {
            let gap = w[1] - w[0];
            assert!(gap >= GAP, "calls {i} and {} are {gap:?} apart", i + 1);
            assert!(
                gap <= GAP.max(durations[i]),
                "calls {i} and {} are {gap:?} apart after a call of {:?}",
                i + 1,
                durations[i]
            );
            if durations[i] <= GAP {
                assert_eq!(gap, GAP, "a quick call is followed exactly one gap later");
            }
        }
    }

    #[test]
    fn a_minute_of_quick_calls_stays_within_the_budget_and_sees_every_second() {
        let starts = schedule(GAP, &[Duration::from_millis(40); 200]);
        let t0 = starts[0];
        let in_first_minute = starts
            .iter()
            .filter(|t| **t - t0 < Duration::from_secs(60))
            .count();
        assert_eq!(in_first_minute, CALLS_PER_MINUTE as usize);
        // An end at any instant in the run is seen by the next call, at most one gap later.
        for k in 0..1000u64 {
            let end = t0 + Duration::from_millis(k * 137 % 150_000);
            let seen = starts.iter().find(|t| **t >= end).unwrap();
            assert!(
                *seen - end <= GAP,
                "end at {:?} seen {:?} later",
                end - t0,
                *seen - end
            );
        }
    }

    #[test]
    fn the_first_call_is_due_at_once() {
        let p = Poller::new(GAP);
        let now = Instant::now();
        assert_eq!(p.due(now), now);
        assert_eq!(p.calls(), 0);
    }

    #[tokio::test]
    async fn waiting_ends_at_the_due_instant_or_on_cancellation() {
        let mut p = Poller::new(Duration::from_millis(30));
        let started = Instant::now();
        p.started_at(started);
        assert!(p.wait(&Cancel::never()).await);
        assert!(Instant::now() >= started + Duration::from_millis(30));
        let (trigger, cancel) = crate::cancel::pair();
        let mut p = Poller::new(Duration::from_secs(3600));
        p.started();
        trigger.cancel("SIGTERM");
        assert!(!p.wait(&cancel).await);
    }
}
