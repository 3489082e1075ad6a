//! The one retry loop and backoff of every HTTP client: GitHub ([`crate::github`]), the OIDC token and JWKS
//! requests ([`crate::oidc`]), STS ([`crate::aws`]) and the package uploads of `publish`.
//!
//! A caller says what a failure is worth ([`Attempt`]); [`Retries`] counts the attempts and picks the wait
//! (exponential, with jitter: never less than half the ceiling, so retries are spread but never immediate).
//! [`run`] is the whole loop for callers that need nothing more; the GitHub client keeps its own loop
//! around [`Retries`] because rate limits are waited out on a budget of their own.

use std::future::Future;
use std::time::Duration;

/// Exponential backoff: `first`, doubling each retry, capped at `max`; the wait is jittered between half the
/// ceiling and the ceiling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
}

impl Backoff {
    /// The short backoff of the OIDC, JWKS, STS and upload requests: about 100 ms, 200 ms, 400 ms.
    pub const SHORT: Backoff = Backoff {
        first: Duration::from_millis(100),
        max: Duration::from_secs(5),
    };

    /// The backoff of the package registries' requests (`publish`): about 1 s, 2 s, 4 s, 8 s, so a registry
    /// that is away for a few seconds (a restart, a load balancer swap, a burst of 503s) is waited out
    /// instead of failing a release whose tag is already pushed.
    pub const REGISTRY: Backoff = Backoff {
        first: Duration::from_secs(1),
        max: Duration::from_secs(8),
    };

    /// The ceiling of retry `retry` (0 for the first retry): `first · 2^retry`, at most `max`.
    #[must_use]
    pub fn ceiling(&self, retry: u32) -> Duration {
        self.first
            .saturating_mul(1u32 << retry.min(16))
            .min(self.max)
    }

    /// The wait before retry `retry`: between half the ceiling and the ceiling.
    #[must_use]
    pub fn delay(&self, retry: u32) -> Duration {
        let nanos = u64::try_from(self.ceiling(retry).as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(nanos / 2 + rand::random_range(0..=nanos / 2))
    }
}

/// A bounded number of retries after the first attempt, with their waits.
#[derive(Clone, Debug)]
pub struct Retries {
    backoff: Backoff,
    max_retries: u32,
    done: u32,
}

impl Retries {
    /// `attempts` in total (the first one included; at least one).
    #[must_use]
    pub fn attempts(attempts: u32, backoff: Backoff) -> Self {
        Self::after_first(attempts.saturating_sub(1), backoff)
    }

    /// `max_retries` after the first attempt.
    #[must_use]
    pub fn after_first(max_retries: u32, backoff: Backoff) -> Self {
        Self {
            backoff,
            max_retries,
            done: 0,
        }
    }

    /// The wait before the next retry, counting it; `None` when the retries are used up.
    pub fn next_wait(&mut self) -> Option<Duration> {
        if self.done >= self.max_retries {
            return None;
        }
        let d = self.backoff.delay(self.done);
        self.done += 1;
        Some(d)
    }

    /// Retries used so far.
    #[must_use]
    pub fn used(&self) -> u32 {
        self.done
    }

    /// Attempts made so far, the first one included (once it has been made).
    #[must_use]
    pub fn attempts_made(&self) -> u32 {
        self.done + 1
    }

    /// The most retries allowed.
    #[must_use]
    pub fn max(&self) -> u32 {
        self.max_retries
    }
}

/// What one failed attempt is worth.
#[derive(Debug)]
pub enum Attempt<E> {
    /// Worth another try (a connection error, a timeout, 429, 5xx, a throttling code).
    Transient(E),
    /// Fails the call at once (a refusal, a validation error).
    Permanent(E),
}

/// Why [`run`] gave up: the last error and the attempts made.
#[derive(Debug)]
pub struct GaveUp<E> {
    pub error: E,
    pub attempts: u32,
    /// Whether the last error was transient (the retries were used up).
    pub transient: bool,
}

/// Runs `call` until it succeeds, fails permanently, or `retries` are used up; warns before each retry.
pub async fn run<T, E, F, Fut>(
    what: &str,
    mut retries: Retries,
    mut call: F,
) -> Result<T, GaveUp<E>>
where
    E: std::fmt::Display,
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, Attempt<E>>>,
{
    loop {
        let attempt = retries.attempts_made();
        match call(attempt).await {
            Ok(t) => return Ok(t),
            Err(Attempt::Permanent(error)) => {
                return Err(GaveUp {
                    error,
                    attempts: attempt,
                    transient: false,
                });
            }
            Err(Attempt::Transient(error)) => {
                let Some(wait) = retries.next_wait() else {
                    return Err(GaveUp {
                        error,
                        attempts: attempt,
                        transient: true,
                    });
                };
                tracing::warn!(
                    "{what}: {error}; retry {}/{} in {}ms",
                    retries.used(),
                    retries.max(),
                    wait.as_millis()
                );
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// An error and its sources, `: `-joined, a source already said by the text before it left out (reqwest's
/// and hyper's top messages alone say little, and some repeat their source).
#[must_use]
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_is_jittered_within_half_and_is_capped() {
        let b = Backoff::SHORT;
        for retry in 0..4 {
            let ceiling = Duration::from_millis(100 << retry);
            for _ in 0..50 {
                let d = b.delay(retry);
                assert!(d >= ceiling / 2 && d <= ceiling, "{retry}: {d:?}");
            }
        }
        assert_eq!(b.ceiling(20), Duration::from_secs(5));
    }

    #[test]
    fn the_registry_backoff_waits_seconds_one_two_four_eight() {
        let b = Backoff::REGISTRY;
        let secs = |r| b.ceiling(r).as_secs();
        assert_eq!(
            [secs(0), secs(1), secs(2), secs(3), secs(4)],
            [1, 2, 4, 8, 8]
        );
        for retry in 0..4 {
            for _ in 0..50 {
                let d = b.delay(retry);
                assert!(
                    d >= b.ceiling(retry) / 2 && d <= b.ceiling(retry),
                    "{retry}: {d:?}"
                );
            }
        }
    }

    #[test]
    fn retries_are_counted_and_bounded() {
        let mut r = Retries::attempts(4, Backoff::SHORT);
        assert_eq!(r.attempts_made(), 1);
        assert!(r.next_wait().is_some() && r.next_wait().is_some() && r.next_wait().is_some());
        assert_eq!(r.next_wait(), None);
        assert_eq!((r.used(), r.attempts_made()), (3, 4));
        assert_eq!(Retries::attempts(0, Backoff::SHORT).next_wait(), None);
    }

    #[tokio::test]
    async fn run_retries_transient_failures_and_stops_at_a_permanent_one() {
        let mut calls = 0;
        let r: Result<u32, _> = run("t", Retries::attempts(4, Backoff::SHORT), |n| {
            calls += 1;
            async move {
                if n < 3 {
                    Err(Attempt::Transient(format!("try {n}")))
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(r.unwrap(), 3);
        assert_eq!(calls, 3);

        let r: Result<(), _> = run("t", Retries::attempts(4, Backoff::SHORT), |n| async move {
            Err(Attempt::Permanent(format!("no {n}")))
        })
        .await;
        let g = r.unwrap_err();
        assert_eq!(
            (g.error.as_str(), g.attempts, g.transient),
            ("no 1", 1, false)
        );

        let r: Result<(), _> = run("t", Retries::attempts(2, Backoff::SHORT), |n| async move {
            Err(Attempt::Transient(format!("down {n}")))
        })
        .await;
        let g = r.unwrap_err();
        assert_eq!(
            (g.error.as_str(), g.attempts, g.transient),
            ("down 2", 2, true)
        );
    }

    #[test]
    fn error_chains_leave_out_sources_already_said() {
        #[derive(Debug)]
        struct E(&'static str, Option<Box<E>>);
        impl std::fmt::Display for E {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.0)
            }
        }
        impl std::error::Error for E {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                self.1.as_deref().map(|e| e as _)
            }
        }
        let e = E(
            "error sending request",
            Some(Box::new(E(
                "connection refused",
                Some(Box::new(E("refused", None))),
            ))),
        );
        assert_eq!(error_chain(&e), "error sending request: connection refused");
    }
}
