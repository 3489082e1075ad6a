//! Health during the bake: CloudWatch alarms, an HTTP health URL, a test invocation of the new version.
//!
//! One *round* runs every configured check once; the first failing check of a round fails it, and the
//! caller rolls the alias back at once. Connection errors and timeouts of the health URL count as failures
//! (a deploy that cannot be observed is not healthy).

use std::time::Duration;

use super::api::Api;
use crate::net::error_chain;

/// Timeout of one health-URL request.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(5);

/// What to watch.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HealthConfig {
    /// CloudWatch alarm names (`alarms`); any in ALARM fails.
    pub alarms: Vec<String>,
    /// `health-url`.
    pub url: Option<url::Url>,
    /// `health-status`: the status the URL must answer.
    pub status: u16,
    /// `test-payload`: JSON sent to the new version.
    pub payload: Option<String>,
    /// The `sample-event` of each rule of `event-rules` (rule name, the event's JSON), sent to the new
    /// version before any traffic, after `test-payload`; read from the workspace by the deploy
    /// (`lambda::sample_events`), empty until then.
    pub samples: Vec<(String, String)>,
    /// `health-interval`: time between rounds during a bake.
    pub interval: Duration,
}

impl HealthConfig {
    #[must_use]
    pub fn any(&self) -> bool {
        !self.alarms.is_empty() || self.url.is_some() || self.payload.is_some()
    }
}

/// The kind of a check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    Alarms,
    Url,
    Invoke,
}

impl Check {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Check::Alarms => "alarms",
            Check::Url => "health URL",
            Check::Invoke => "test invoke",
        }
    }
}

/// One check's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub check: Check,
    pub ok: bool,
    pub detail: String,
}

/// Runs the checks.
#[derive(Debug)]
pub struct Checker<'a> {
    pub cfg: &'a HealthConfig,
    pub api: &'a Api,
}

impl<'a> Checker<'a> {
    #[must_use]
    pub fn new(cfg: &'a HealthConfig, api: &'a Api) -> Self {
        Self { cfg, api }
    }

    /// One round: every configured check, in order alarms, URL, invoke. Stops at the first failure.
    /// AWS errors while checking are failures of the round too (reported with the error).
    pub async fn round(&self, version: &str) -> Vec<Outcome> {
        let mut out = Vec::new();
        if !self.cfg.alarms.is_empty() {
            let o = match self.api.alarms(&self.cfg.alarms).await {
                Ok(s) if !s.in_alarm.is_empty() => Outcome {
                    check: Check::Alarms,
                    ok: false,
                    detail: format!("in ALARM: {}", s.in_alarm.join(", ")),
                },
                Ok(s) if !s.missing.is_empty() => Outcome {
                    check: Check::Alarms,
                    ok: false,
                    detail: format!("no longer exist: {}", s.missing.join(", ")),
                },
                Ok(s) => Outcome {
                    check: Check::Alarms,
                    ok: true,
                    detail: format!("{} alarm(s) not in ALARM", s.found.len()),
                },
                Err(e) => Outcome {
                    check: Check::Alarms,
                    ok: false,
                    detail: e.to_string(),
                },
            };
            let failed = !o.ok;
            out.push(o);
            if failed {
                return out;
            }
        }
        if let Some(url) = &self.cfg.url {
            let o = self.url(url).await;
            let failed = !o.ok;
            out.push(o);
            if failed {
                return out;
            }
        }
        if let Some(payload) = &self.cfg.payload {
            out.push(self.invoke(version, payload).await);
        }
        out
    }

    async fn url(&self, url: &url::Url) -> Outcome {
        let want = self.cfg.status;
        let http = match self.api.http().await {
            Ok(h) => h,
            Err(e) => {
                return Outcome {
                    check: Check::Url,
                    ok: false,
                    detail: e.to_string(),
                };
            }
        };
        match http.get(url.clone()).timeout(HTTP_TIMEOUT).send().await {
            Ok(r) if r.status().as_u16() == want => Outcome {
                check: Check::Url,
                ok: true,
                detail: format!("{want} from {url}"),
            },
            Ok(r) => Outcome {
                check: Check::Url,
                ok: false,
                detail: format!("{} from {url}, expected {want}", r.status().as_u16()),
            },
            Err(e) => Outcome {
                check: Check::Url,
                ok: false,
                detail: format!("{url} did not answer: {}", error_chain(&e)),
            },
        }
    }

    /// The test invocation (also used before any traffic moves).
    pub async fn invoke(&self, version: &str, payload: &str) -> Outcome {
        match self.api.invoke(version, payload).await {
            Ok(Ok(body)) => Outcome {
                check: Check::Invoke,
                ok: true,
                detail: format!("version {version} answered: {body}"),
            },
            Ok(Err(e)) => Outcome {
                check: Check::Invoke,
                ok: false,
                detail: format!("version {version} failed: {e}"),
            },
            Err(e) => Outcome {
                check: Check::Invoke,
                ok: false,
                detail: e.to_string(),
            },
        }
    }
}
