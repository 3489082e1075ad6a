//! URL health checks after a rollout (App Runner, ECS Express, ECS previews): the inputs `health-url` and
//! `health-status`, the HTTP client, and the check itself, paced on the shared poll schedule.
//!
//! This module imports no deploy target; the targets import it.

use std::time::{Duration, Instant};

use crate::cancel::Cancel;
use crate::inputs::{Input, Inputs};
use crate::modes::runtime::{ModeError, Runtime};

use super::poll::fmt_budget;

/// How the service URL is checked after the operation succeeded: `passes` answers with the expected
/// status in a row, their requests started `interval` apart, within `budget`. The default, 3 answers
/// 1 s apart, gives a healthy service's verdict 2 s (plus the last answer's round trip) after the first
/// request, and still catches a new version that answers once and then fails within those 2 s; more
/// passes or a longer interval would watch longer at the cost of a later verdict on every deploy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HealthTiming {
    pub passes: u32,
    pub interval: Duration,
    pub budget: Duration,
    pub request_timeout: Duration,
}

impl Default for HealthTiming {
    fn default() -> Self {
        Self {
            passes: 3,
            interval: Duration::from_secs(1),
            budget: Duration::from_secs(60),
            request_timeout: Duration::from_secs(5),
        }
    }
}

/// Checks `url` until it answered `status` `passes` times in a row (`Ok(passes)`); `Err` as soon as it
/// answered otherwise (or not at all) `passes` times in a row, or when `budget` is spent.
pub async fn check_health(
    http: &reqwest::Client,
    url: &str,
    status: u16,
    t: HealthTiming,
    cancel: &Cancel,
) -> Result<u32, String> {
    let started = Instant::now();
    let mut pace = super::poll::Poller::new(t.interval);
    let (mut ok, mut bad) = (0, 0);
    let mut last = String::from("no answer yet");
    loop {
        pace.started();
        let answer = http
            .get(url)
            .timeout(t.request_timeout)
            .send()
            .await
            .map(|r| r.status().as_u16());
        match answer {
            Ok(s) if s == status => {
                ok += 1;
                bad = 0;
            }
            Ok(s) => {
                (ok, bad) = (0, bad + 1);
                last = format!("HTTP {s}");
            }
            Err(e) => {
                (ok, bad) = (0, bad + 1);
                last = format!("no answer ({e})");
            }
        }
        if ok >= t.passes {
            return Ok(ok);
        }
        if bad >= t.passes {
            return Err(format!(
                "`{url}` answered {last} {bad} times in a row (expected {status})"
            ));
        }
        if started.elapsed() >= t.budget {
            return Err(format!(
                "`{url}` did not answer {status} {} times in a row within {} (last: {last})",
                t.passes,
                fmt_budget(t.budget)
            ));
        }
        if !pace.wait(cancel).await {
            return Err("cancelled during the health check".into());
        }
    }
}

/// The client of the health checks after a rollout (App Runner, ECS Express, ECS previews): the run's
/// roots and proxy, redirects not followed (a redirect is an answer to judge, not to follow).
pub fn health_client(rt: &Runtime<'_>) -> Result<reqwest::Client, ModeError> {
    crate::net::Net::from_env(rt.env)
        .reqwest()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| ModeError::Failed {
            message: format!("cannot build the HTTP client: {e}"),
            hint: None,
        })
}

/// `health-url` (absolute http(s); `example` is the URL the fix shows) and `health-status` (default 200).
/// `health-passes` (good answers in a row, 1-20, default 3) and `health-interval` (between the requests,
/// 100 ms-60 s, default 1 s) of the URL check App Runner and ECS Express run after their update; the
/// answers must fit in the check's budget ([`HealthTiming::budget`]), with room for one bad answer.
pub fn parse_url_timing(p: &mut Inputs<'_>) -> HealthTiming {
    let default = HealthTiming::default();
    let passes = p
        .integer(Input::HealthPasses, 1..=20, Some(u64::from(default.passes)))
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(default.passes);
    let raw = p.string(Input::HealthInterval);
    let interval = match raw.as_deref().map(crate::inputs::parse_duration) {
        None => default.interval,
        Some(Some(d)) => d,
        Some(None) => {
            p.error(
                Input::HealthInterval,
                raw.as_deref(),
                "is not a duration",
                "Use e.g. `health-interval: 1s` (units ms, s, m)",
            );
            return HealthTiming { passes, ..default };
        }
    };
    let timing = HealthTiming {
        passes,
        interval,
        ..default
    };
    if raw.is_some() && !(Duration::from_millis(100)..=Duration::from_secs(60)).contains(&interval)
    {
        p.error(
            Input::HealthInterval,
            raw.as_deref(),
            "is outside 100ms-60s for the URL check",
            "Use e.g. `health-interval: 1s` (the default) or `5s`",
        );
    } else if interval.saturating_mul(passes) > timing.budget {
        p.error(
            Input::HealthPasses,
            Some(&passes.to_string()),
            format!(
                "with `health-interval: {}` needs {} s, more than the check's {} s budget",
                raw.as_deref().unwrap_or("1s"),
                interval.saturating_mul(passes).as_secs(),
                timing.budget.as_secs()
            ),
            "Lower `health-passes` or `health-interval`",
        );
    }
    timing
}

pub fn parse_health(p: &mut Inputs<'_>, example: &str) -> (Option<url::Url>, u16) {
    let url = p.parse_with(
        Input::HealthUrl,
        &format!("Use an absolute http(s) URL, e.g. `health-url: {example}`"),
        |v| {
            let u = url::Url::parse(v.trim()).map_err(|e| format!("is not a URL ({e})"))?;
            if matches!(u.scheme(), "http" | "https") {
                Ok(u)
            } else {
                Err(format!(
                    "has scheme `{}`; only http and https are checked",
                    u.scheme()
                ))
            }
        },
    );
    let status = p
        .integer(Input::HealthStatus, 100..=599, Some(200))
        .and_then(|s| u16::try_from(s).ok())
        .unwrap_or(200);
    (url, status)
}
