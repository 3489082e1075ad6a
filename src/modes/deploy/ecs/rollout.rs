//! Following one ECS deployment until it is decided.
//!
//! Signals, in the order they decide: the deployment's `rolloutState` (COMPLETED / FAILED with
//! `rolloutStateReason`); a stopped task of the new task definition with a deterministic reason
//! (image pull, secret retrieval, essential container exit code ≠ 0), which fails the rollout at once
//! instead of waiting for the circuit breaker's threshold; the deployment disappearing (replaced by a
//! circuit-breaker rollback or another deploy); and the wait timeout. One DescribeServices a second
//! ([`crate::modes::deploy::poll`]: the end seen within 1 s; the SDK waiter's gaps grow to 600 s), plus
//! ListTasks and DescribeTasks on a hint or every 10th poll: at most 72 calls a minute per service.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::{DesiredStatus, Service, Task};

use super::EcsError;
use crate::cancel::Cancel;
pub use crate::modes::deploy::poll::{Timing, fmt_budget};

/// What happened, with offsets from the start of the service's deploy.
#[derive(Clone, Debug)]
pub struct Timeline {
    start: Instant,
    pub entries: Vec<(Duration, String)>,
}

impl Timeline {
    #[must_use]
    pub fn new(start: Instant) -> Self {
        Self {
            start,
            entries: Vec::new(),
        }
    }

    pub fn push(&mut self, what: impl Into<String>) {
        let what = what.into();
        tracing::info!("{what}");
        self.entries.push((self.start.elapsed(), what));
    }
}

/// A stopped task of the new task definition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoppedTask {
    pub task_arn: String,
    pub stop_code: Option<String>,
    pub stopped_reason: Option<String>,
    /// (container, exit code, reason)
    pub containers: Vec<(String, Option<i32>, Option<String>)>,
    /// Why this stop will repeat on every retry, if it will.
    pub deterministic: Option<String>,
}

impl StoppedTask {
    fn from_sdk(t: &Task) -> Self {
        let containers = t
            .containers()
            .iter()
            .map(|c| {
                (
                    c.name().unwrap_or_default().to_owned(),
                    c.exit_code(),
                    c.reason().map(str::to_owned),
                )
            })
            .collect();
        let mut s = StoppedTask {
            task_arn: t.task_arn().unwrap_or_default().to_owned(),
            stop_code: t.stop_code().map(|c| c.as_str().to_owned()),
            stopped_reason: t.stopped_reason().map(str::to_owned),
            containers,
            deterministic: None,
        };
        s.deterministic = deterministic_reason(&s);
        s
    }

    /// The task id (last part of the ARN).
    #[must_use]
    pub fn id(&self) -> &str {
        self.task_arn.rsplit('/').next().unwrap_or(&self.task_arn)
    }
}

/// Why a stopped task will fail again on every retry, or `None` when the stop may be transient
/// (scale-in, spot interruption, failed health check, host retirement).
#[must_use]
pub fn deterministic_reason(t: &StoppedTask) -> Option<String> {
    let reason = t.stopped_reason.as_deref().unwrap_or_default();
    let all: Vec<&str> = std::iter::once(reason)
        .chain(t.containers.iter().filter_map(|c| c.2.as_deref()))
        .collect();
    if all.iter().any(|r| r.contains("CannotPullContainerError")) {
        return Some("the image cannot be pulled (CannotPullContainerError)".into());
    }
    if all.iter().any(|r| {
        let l = r.to_ascii_lowercase();
        r.contains("ResourceInitializationError")
            && (l.contains("secret") || l.contains("ssm") || l.contains("parameter"))
    }) {
        return Some("a secret cannot be retrieved (ResourceInitializationError)".into());
    }
    if all.iter().any(|r| r.contains("CannotStartContainerError")) {
        return Some("the container cannot start (CannotStartContainerError)".into());
    }
    let essential_exit = t.stop_code.as_deref() == Some("EssentialContainerExited")
        || reason.starts_with("Essential container in task exited");
    if essential_exit
        && let Some((name, Some(code), _)) = t
            .containers
            .iter()
            .find(|c| c.1.is_some_and(|code| code != 0))
    {
        return Some(format!(
            "essential container `{name}` exited with code {code}"
        ));
    }
    None
}

/// How a watched deployment ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    Completed,
    /// `rolloutState` FAILED.
    Failed {
        reason: String,
    },
    /// A stopped task with a reason that will repeat.
    Deterministic {
        reason: String,
        task: String,
    },
    /// Our deployment is no longer listed.
    Replaced {
        by_task_definition: String,
    },
    /// Not decided within `budget` (the `wait-timeout` input).
    TimedOut {
        last_state: String,
        budget: Duration,
    },
    Cancelled,
}

impl End {
    #[must_use]
    pub fn is_success(&self) -> bool {
        matches!(self, End::Completed)
    }

    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            End::Completed => "completed".into(),
            End::Failed { reason } => format!("failed: {reason}"),
            End::Deterministic { reason, task } => {
                format!("failed fast: {reason} (task {task})")
            }
            End::Replaced { by_task_definition } => format!(
                "replaced by a deployment of `{by_task_definition}` (circuit-breaker rollback or another deploy)"
            ),
            End::TimedOut { last_state, budget } => format!(
                "timed out after {}, the budget set by the input `wait-timeout` ({last_state})",
                fmt_budget(*budget)
            ),
            End::Cancelled => "cancelled".into(),
        }
    }
}

/// One deployment to follow.
#[derive(Clone, Debug)]
pub struct Watch<'a> {
    pub client: &'a Client,
    pub cluster: &'a str,
    pub service: &'a str,
    pub deployment_id: &'a str,
    pub task_definition_arn: &'a str,
    pub timing: Timing,
    pub wait_for_drain: bool,
    pub cancel: &'a Cancel,
    /// Event ids already known before the deployment started (not part of its story).
    pub seen_events: HashSet<String>,
}

/// What the watch saw besides its end.
#[derive(Debug, Default)]
pub struct Seen {
    pub stopped: Vec<StoppedTask>,
    pub polls: u32,
    /// When the deciding observation was made (the poll that returned COMPLETED/FAILED, or the stopped
    /// task lookup that found a deterministic reason).
    pub decided_at: Option<Instant>,
}

/// Follows the deployment until it is decided. A call that the runner's signal ended counts as
/// cancellation, not as losing track of the deployment.
pub async fn watch(w: Watch<'_>, tl: &mut Timeline, seen: &mut Seen) -> Result<End, EcsError> {
    let cancel = w.cancel;
    match follow(w, tl, seen).await {
        Err(_) if cancel.is_cancelled() => Ok(End::Cancelled),
        r => r,
    }
}

async fn follow(w: Watch<'_>, tl: &mut Timeline, seen: &mut Seen) -> Result<End, EcsError> {
    let started = Instant::now();
    let mut poller = w.timing.poller();
    let mut seen_events = w.seen_events.clone();
    let mut seen_tasks: HashSet<String> = HashSet::new();
    let mut last_state = String::new();
    let mut last_failed = 0;
    let mut completed = false;
    loop {
        if w.cancel.is_cancelled() {
            return Ok(End::Cancelled);
        }
        seen.polls += 1;
        poller.started();
        let svc = describe_service(w.client, w.cluster, w.service).await?;
        let mut hint = false;
        let mut events: Vec<_> = svc
            .events()
            .iter()
            .filter(|e| e.id().is_some_and(|id| !seen_events.contains(id)))
            .collect();
        events.reverse(); // ECS lists newest first
        for e in events {
            seen_events.insert(e.id().unwrap_or_default().to_owned());
            let msg = e.message().unwrap_or_default();
            let l = msg.to_ascii_lowercase();
            hint |= ["stopped", "unable", "failed", "error"]
                .iter()
                .any(|w| l.contains(w));
            tl.push(format!("event: {msg}"));
        }
        let Some(dep) = svc
            .deployments()
            .iter()
            .find(|d| d.id() == Some(w.deployment_id))
        else {
            let by = svc
                .deployments()
                .iter()
                .find(|d| d.status() == Some("PRIMARY"))
                .and_then(|d| d.task_definition())
                .unwrap_or("unknown")
                .to_owned();
            seen.decided_at = Some(Instant::now());
            return Ok(End::Replaced {
                by_task_definition: by,
            });
        };
        let rollout = dep
            .rollout_state()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_else(|| "—".into());
        let state = format!(
            "{rollout}, running {}/{} pending {} failed {}, {} deployment(s)",
            dep.running_count(),
            dep.desired_count(),
            dep.pending_count(),
            dep.failed_tasks(),
            svc.deployments().len()
        );
        if state != last_state {
            tracing::info!(service = w.service, "{state}");
            if last_state.split(',').next() != state.split(',').next() {
                tl.push(format!("rollout {rollout}"));
            }
            last_state = state;
        }
        if dep.failed_tasks() > last_failed {
            tl.push(format!("failed tasks: {}", dep.failed_tasks()));
            last_failed = dep.failed_tasks();
            hint = true;
        }
        let periodic = w.timing.stopped_check_every > 0
            && seen.polls.is_multiple_of(w.timing.stopped_check_every);
        if (hint || periodic) && !completed {
            for t in stopped_tasks(&w, &mut seen_tasks).await? {
                tl.push(format!(
                    "task {} stopped: {}",
                    t.id(),
                    t.stopped_reason.as_deref().unwrap_or("no reason given")
                ));
                let det = t.deterministic.clone();
                let id = t.id().to_owned();
                seen.stopped.push(t);
                if let Some(reason) = det {
                    seen.decided_at = Some(Instant::now());
                    return Ok(End::Deterministic { reason, task: id });
                }
            }
        }
        match dep.rollout_state().map(|s| s.as_str()) {
            Some("FAILED") => {
                seen.decided_at = Some(Instant::now());
                return Ok(End::Failed {
                    reason: dep
                        .rollout_state_reason()
                        .unwrap_or("no reason given")
                        .to_owned(),
                });
            }
            Some("COMPLETED") => completed = true,
            // Without rollout states (e.g. behind a Classic Load Balancer): all new tasks running and
            // the old deployments gone.
            None if dep.running_count() == dep.desired_count()
                && dep.pending_count() == 0
                && svc.deployments().len() == 1 =>
            {
                completed = true;
            }
            _ => {}
        }
        if completed && (!w.wait_for_drain || svc.deployments().len() == 1) {
            seen.decided_at = Some(Instant::now());
            return Ok(End::Completed);
        }
        if started.elapsed() >= w.timing.timeout {
            return Ok(End::TimedOut {
                last_state,
                budget: w.timing.timeout,
            });
        }
        if !poller.wait(w.cancel).await {
            return Ok(End::Cancelled);
        }
    }
}

/// DescribeServices for one service; a missing or inactive service is an error naming it.
pub async fn describe_service(
    client: &Client,
    cluster: &str,
    service: &str,
) -> Result<Service, EcsError> {
    let out = client
        .describe_services()
        .cluster(cluster)
        .services(service)
        .send()
        .await
        .map_err(|e| EcsError::api("DescribeServices", service, &e))?;
    if let Some(s) = out.services().first() {
        if s.status() == Some("ACTIVE") {
            return Ok(s.clone());
        }
        return Err(EcsError::ServiceNotFound {
            cluster: cluster.to_owned(),
            service: service.to_owned(),
            reason: format!("its status is {}", s.status().unwrap_or("unknown")),
        });
    }
    let reason = out
        .failures()
        .first()
        .and_then(|f| f.reason())
        .unwrap_or("not found")
        .to_owned();
    Err(EcsError::ServiceNotFound {
        cluster: cluster.to_owned(),
        service: service.to_owned(),
        reason,
    })
}

/// Stopped tasks of the new task definition not seen before (ListTasks STOPPED + DescribeTasks).
async fn stopped_tasks(
    w: &Watch<'_>,
    seen: &mut HashSet<String>,
) -> Result<Vec<StoppedTask>, EcsError> {
    let listed = w
        .client
        .list_tasks()
        .cluster(w.cluster)
        .service_name(w.service)
        .desired_status(DesiredStatus::Stopped)
        .send()
        .await
        .map_err(|e| EcsError::api("ListTasks", w.service, &e))?;
    let new: Vec<String> = listed
        .task_arns()
        .iter()
        .filter(|a| !seen.contains(*a))
        .take(100)
        .cloned()
        .collect();
    if new.is_empty() {
        return Ok(Vec::new());
    }
    let described = w
        .client
        .describe_tasks()
        .cluster(w.cluster)
        .set_tasks(Some(new.clone()))
        .send()
        .await
        .map_err(|e| EcsError::api("DescribeTasks", w.service, &e))?;
    seen.extend(new);
    Ok(described
        .tasks()
        .iter()
        .filter(|t| t.task_definition_arn() == Some(w.task_definition_arn))
        .filter(|t| {
            t.started_by()
                .is_none_or(|s| s == w.deployment_id || !s.starts_with("ecs-svc/"))
        })
        .map(StoppedTask::from_sdk)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(
        code: Option<&str>,
        reason: &str,
        containers: &[(&str, Option<i32>, &str)],
    ) -> StoppedTask {
        let mut t = StoppedTask {
            task_arn: "arn:aws:ecs:r:1:task/c/abc".into(),
            stop_code: code.map(str::to_owned),
            stopped_reason: Some(reason.into()),
            containers: containers
                .iter()
                .map(|(n, c, r)| {
                    (
                        (*n).to_owned(),
                        *c,
                        Some((*r).to_owned()).filter(|r| !r.is_empty()),
                    )
                })
                .collect(),
            deterministic: None,
        };
        t.deterministic = deterministic_reason(&t);
        t
    }

    #[test]
    fn deterministic_stop_reasons_are_recognised() {
        let pull = task(
            Some("TaskFailedToStart"),
            "CannotPullContainerError: pull image manifest has been retried 5 time(s): repo/app:nope: not found",
            &[("app", None, "")],
        );
        assert!(pull.deterministic.unwrap().contains("cannot be pulled"));
        let secret = task(
            Some("TaskFailedToStart"),
            "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm",
            &[],
        );
        assert!(secret.deterministic.unwrap().contains("secret"));
        let exit = task(
            Some("EssentialContainerExited"),
            "Essential container in task exited",
            &[("app", Some(137), ""), ("side", Some(0), "")],
        );
        assert_eq!(
            exit.deterministic.as_deref(),
            Some("essential container `app` exited with code 137")
        );
        assert_eq!(
            task(
                None,
                "Task failed ELB health checks in (target-group x)",
                &[]
            )
            .deterministic,
            None
        );
        assert_eq!(
            task(
                Some("ServiceSchedulerInitiated"),
                "Scaling activity initiated by (deployment ecs-svc/1)",
                &[]
            )
            .deterministic,
            None
        );
        assert_eq!(
            task(
                Some("EssentialContainerExited"),
                "Essential container in task exited",
                &[("app", Some(0), "")]
            )
            .deterministic,
            None
        );
    }
}
