//! One-off ECS tasks around a deploy: `pre-deploy-task` (migrations) runs the NEW task definition before
//! any service is updated; `post-deploy-task` (smoke tests) runs it after the rollout.
//!
//! RunTask with a command override, the service's network configuration and launch type (or capacity
//! provider strategy); DescribeTasks at the rollout's adaptive intervals until STOPPED; every essential
//! container must exit 0. The last lines of the container's log come from CloudWatch Logs when the task
//! definition uses the `awslogs` driver with a stream prefix (stream `<prefix>/<container>/<task-id>`).

use crate::inputs::Input;
use std::time::{Duration, Instant};

use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::{
    CapacityProviderStrategyItem, ContainerOverride, LaunchType, NetworkConfiguration, TaskOverride,
};
use serde::Deserialize;
use serde_json::Value;

use super::rollout::{Timing, fmt_budget};
use crate::aws::json_rpc::{self, JsonRpc};
use crate::cancel::Cancel;

/// How many log lines the report shows.
pub const LOG_LINES: usize = 30;

/// Which hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    /// `pre-deploy-task`: before any service is updated.
    Pre,
    /// `post-deploy-task`: after every rollout completed.
    Post,
}

impl Hook {
    /// The input that configures it.
    #[must_use]
    pub fn input(self) -> Input {
        match self {
            Hook::Pre => Input::PreDeployTask,
            Hook::Post => Input::PostDeployTask,
        }
    }

    /// How the report names it.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Hook::Pre => "pre-deploy task",
            Hook::Post => "post-deploy task",
        }
    }
}

/// A `pre-deploy-task` / `post-deploy-task` input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskSpec {
    /// The container's command override (exec form).
    pub command: Vec<String>,
    /// The container to override; `None`: the `container` input when it names one, else the task
    /// definition's only container.
    pub container: Option<String>,
    /// Budget from RunTask to STOPPED.
    pub timeout: Duration,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    command: Option<Vec<String>>,
    container: Option<String>,
    timeout: Option<String>,
}

/// The default budget of a one-off task.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// Parses the input's YAML mapping (`command`, optional `container`, optional `timeout`).
pub fn parse_spec(text: &str) -> Result<TaskSpec, String> {
    let raw: RawSpec = serde_yaml_ng::from_str(text).map_err(|e| {
        let e = e.to_string();
        if e.contains("invalid type: string") && e.contains("command") {
            "`command` must be a list (exec form), not one string".to_owned()
        } else {
            format!("is not a mapping of `command`, `container`, `timeout`: {e}")
        }
    })?;
    let command = raw
        .command
        .filter(|c| !c.is_empty() && c.iter().all(|a| !a.is_empty()))
        .ok_or_else(|| "has no `command` (a non-empty list of non-empty arguments)".to_owned())?;
    let timeout = match raw.timeout {
        None => DEFAULT_TIMEOUT,
        Some(t) => crate::inputs::parse_duration(&t)
            .filter(|d| !d.is_zero() && *d <= Duration::from_secs(6 * 3600))
            .ok_or_else(|| format!("`timeout: {t}` is not a duration from 1s to 6h"))?,
    };
    Ok(TaskSpec {
        command,
        container: raw.container.filter(|c| !c.trim().is_empty()),
        timeout,
    })
}

/// Where and how the service runs its tasks: RunTask uses the same.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Placement {
    pub network_configuration: Option<NetworkConfiguration>,
    pub launch_type: Option<LaunchType>,
    pub capacity_provider_strategy: Vec<CapacityProviderStrategyItem>,
    pub platform_version: Option<String>,
}

impl Placement {
    /// From a DescribeServices answer.
    #[must_use]
    pub fn of(s: &aws_sdk_ecs::types::Service) -> Self {
        Self {
            network_configuration: s.network_configuration().cloned(),
            launch_type: s.launch_type().cloned(),
            capacity_provider_strategy: s.capacity_provider_strategy().to_vec(),
            platform_version: s.platform_version().map(str::to_owned),
        }
    }
}

/// The container a hook overrides, or why none can be chosen.
pub fn choose_container(
    spec: &TaskSpec,
    deploy_containers: &[String],
    register: &Value,
) -> Result<String, String> {
    let names: Vec<&str> = register
        .get("containerDefinitions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("name").and_then(Value::as_str))
        .collect();
    let wanted = spec.container.clone().or_else(|| match deploy_containers {
        [one] => Some(one.clone()),
        _ => None,
    });
    match wanted {
        Some(w) if names.contains(&w.as_str()) => Ok(w),
        Some(w) => Err(format!(
            "names container `{w}`, which the task definition does not have (it has {})",
            crate::inputs::code_list(names.iter())
        )),
        None => match names.as_slice() {
            [one] => Ok((*one).to_owned()),
            _ => Err(format!(
                "needs `container:` because the task definition has several containers ({})",
                crate::inputs::code_list(names.iter())
            )),
        },
    }
}

/// How a one-off task ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskEnd {
    /// STOPPED and every essential container exited 0.
    Succeeded,
    /// STOPPED with an essential container's non-zero (or missing) exit code.
    Failed {
        /// `container exited with code N` or the stop code and reason.
        what: String,
        stop_code: Option<String>,
        stopped_reason: Option<String>,
    },
    /// Not STOPPED within the budget; `stopped`: whether our StopTask was accepted.
    TimedOut {
        budget: Duration,
        last_status: String,
        stopped: bool,
    },
    /// The runner cancelled the step while the task ran; the task was left running.
    Cancelled,
    /// RunTask / DescribeTasks failed, or ECS refused to place the task.
    Error(String),
}

impl TaskEnd {
    #[must_use]
    pub fn describe(&self, hook: Hook) -> String {
        match self {
            TaskEnd::Succeeded => "exited 0".into(),
            TaskEnd::Failed { what, .. } => what.clone(),
            TaskEnd::TimedOut {
                budget,
                last_status,
                stopped,
            } => format!(
                "not stopped after {} (the `timeout` of the input `{}`; last status {last_status}){}",
                fmt_budget(*budget),
                hook.input(),
                if *stopped {
                    "; stevedore stopped it (StopTask)"
                } else {
                    "; StopTask failed, it may still run"
                }
            ),
            TaskEnd::Cancelled => "cancelled while it ran; the task was left running in ECS".into(),
            TaskEnd::Error(e) => e.clone(),
        }
    }
}

/// The tail of the task's log, or why there is none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogTail {
    Lines {
        group: String,
        stream: String,
        lines: Vec<String>,
    },
    Unavailable(String),
}

/// One run of a hook.
#[derive(Clone, Debug)]
pub struct TaskRun {
    pub hook: Hook,
    pub task_definition: String,
    pub container: String,
    pub command: Vec<String>,
    pub task_arn: Option<String>,
    pub end: TaskEnd,
    pub log: LogTail,
    pub polls: u32,
    pub took: Duration,
}

impl TaskRun {
    #[must_use]
    pub fn succeeded(&self) -> bool {
        self.end == TaskEnd::Succeeded
    }

    /// The task id (last part of the ARN), or `—` when none was started.
    #[must_use]
    pub fn task_id(&self) -> &str {
        self.task_arn
            .as_deref()
            .and_then(|a| a.rsplit('/').next())
            .unwrap_or("—")
    }
}

/// What to run.
#[derive(Debug)]
pub struct Run<'a> {
    pub client: &'a Client,
    pub logs: Option<&'a Logs>,
    pub cluster: &'a str,
    pub hook: Hook,
    pub spec: &'a TaskSpec,
    pub container: &'a str,
    /// The new task definition's ARN.
    pub task_definition: &'a str,
    /// Its body (essential flags, log configuration).
    pub register: &'a Value,
    pub placement: &'a Placement,
    pub timing: Timing,
    pub cancel: &'a Cancel,
}

/// Runs the task to STOPPED (or the budget) and fetches its last log lines.
pub async fn run(r: Run<'_>) -> TaskRun {
    let started = Instant::now();
    let mut out = TaskRun {
        hook: r.hook,
        task_definition: r.task_definition.to_owned(),
        container: r.container.to_owned(),
        command: r.spec.command.clone(),
        task_arn: None,
        end: TaskEnd::Error(String::new()),
        log: LogTail::Unavailable("the task did not start".into()),
        polls: 0,
        took: Duration::ZERO,
    };
    match run_task(&r).await {
        Ok(arn) => {
            tracing::info!("{} {} started", r.hook.label(), short(&arn));
            out.task_arn = Some(arn.clone());
            out.end = wait(&r, &arn, &mut out.polls).await;
            out.log = match r.logs {
                Some(logs) if !matches!(out.end, TaskEnd::Cancelled) => {
                    log_tail(logs, r.register, r.container, &arn).await
                }
                Some(_) => LogTail::Unavailable("not fetched: the step was cancelled".into()),
                None => LogTail::Unavailable("no CloudWatch Logs client".into()),
            };
        }
        Err(e) => out.end = TaskEnd::Error(e),
    }
    out.took = started.elapsed();
    tracing::info!(
        "{} {}: {}",
        r.hook.label(),
        out.task_id(),
        out.end.describe(r.hook)
    );
    out
}

fn short(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

async fn run_task(r: &Run<'_>) -> Result<String, String> {
    let overrides = TaskOverride::builder()
        .container_overrides(
            ContainerOverride::builder()
                .name(r.container)
                .set_command(Some(r.spec.command.clone()))
                .build(),
        )
        .build();
    let mut req = r
        .client
        .run_task()
        .cluster(r.cluster)
        .task_definition(r.task_definition)
        .count(1)
        .started_by(match r.hook {
            Hook::Pre => "stevedore/pre-deploy",
            Hook::Post => "stevedore/post-deploy",
        })
        .overrides(overrides)
        // The service's awsvpc configuration as is (subnets, security groups, public IP).
        .set_network_configuration(r.placement.network_configuration.clone());
    if r.placement.capacity_provider_strategy.is_empty() {
        req = req.set_launch_type(r.placement.launch_type.clone());
    } else {
        req = req
            .set_capacity_provider_strategy(Some(r.placement.capacity_provider_strategy.clone()));
    }
    if r.placement.launch_type == Some(LaunchType::Fargate)
        || !r.placement.capacity_provider_strategy.is_empty()
    {
        req = req.set_platform_version(r.placement.platform_version.clone());
    }
    let out = req
        .send()
        .await
        .map_err(|e| super::EcsError::api("RunTask", r.task_definition, &e).to_string())?;
    if let Some(arn) = out.tasks().first().and_then(|t| t.task_arn()) {
        return Ok(arn.to_owned());
    }
    let why = out
        .failures()
        .iter()
        .map(|f| {
            format!(
                "{}{}",
                f.reason().unwrap_or("unknown reason"),
                f.detail().map(|d| format!(" ({d})")).unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    Err(format!(
        "ECS RunTask placed no task: {}",
        if why.is_empty() {
            "no reason given"
        } else {
            &why
        }
    ))
}

/// The essential containers of the body (`essential` defaults to true).
fn essential(register: &Value) -> Vec<String> {
    register
        .get("containerDefinitions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|c| c.get("essential").and_then(Value::as_bool).unwrap_or(true))
        .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

async fn wait(r: &Run<'_>, arn: &str, polls: &mut u32) -> TaskEnd {
    let started = Instant::now();
    let mut poller = r.timing.poller();
    let mut last_status = "PROVISIONING".to_owned();
    loop {
        if r.cancel.is_cancelled() {
            return TaskEnd::Cancelled;
        }
        *polls += 1;
        poller.started();
        let described = r
            .client
            .describe_tasks()
            .cluster(r.cluster)
            .tasks(arn)
            .send()
            .await;
        let task = match described {
            Ok(d) => d.tasks().first().cloned(),
            Err(e) => {
                return TaskEnd::Error(
                    super::EcsError::api("DescribeTasks", short(arn), &e).to_string(),
                );
            }
        };
        let Some(task) = task else {
            return TaskEnd::Error(format!(
                "ECS DescribeTasks does not know task `{}`",
                short(arn)
            ));
        };
        let status = task.last_status().unwrap_or("UNKNOWN").to_owned();
        if status != last_status {
            tracing::info!("{} {}: {status}", r.hook.label(), short(arn));
            last_status = status;
        }
        if last_status == "STOPPED" {
            return judge(&task, &essential(r.register));
        }
        if started.elapsed() >= r.spec.timeout {
            let stopped = r
                .client
                .stop_task()
                .cluster(r.cluster)
                .task(arn)
                .reason(format!(
                    "stevedore: {} timeout of {} exceeded",
                    r.hook.input(),
                    fmt_budget(r.spec.timeout)
                ))
                .send()
                .await
                .is_ok();
            return TaskEnd::TimedOut {
                budget: r.spec.timeout,
                last_status,
                stopped,
            };
        }
        if !poller.wait(r.cancel).await {
            return TaskEnd::Cancelled;
        }
    }
}

/// The verdict on a STOPPED task: every essential container exited 0.
#[must_use]
pub fn judge(task: &aws_sdk_ecs::types::Task, essential: &[String]) -> TaskEnd {
    let stop_code = task.stop_code().map(|c| c.as_str().to_owned());
    let stopped_reason = task.stopped_reason().map(str::to_owned);
    let mut problems = Vec::new();
    for c in task.containers() {
        let name = c.name().unwrap_or_default();
        if !essential.iter().any(|e| e == name) {
            continue;
        }
        match c.exit_code() {
            Some(0) => {}
            Some(code) => problems.push(format!("container `{name}` exited with code {code}")),
            None => problems.push(format!(
                "container `{name}` has no exit code{}",
                c.reason().map(|r| format!(" ({r})")).unwrap_or_default()
            )),
        }
    }
    if task.containers().is_empty() {
        problems.push("the task lists no containers".into());
    }
    if problems.is_empty() {
        return TaskEnd::Succeeded;
    }
    let mut what = problems.join(", ");
    if let Some(code) = &stop_code {
        what.push_str(&format!(
            " (stop code {code}{})",
            stopped_reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        ));
    }
    TaskEnd::Failed {
        what,
        stop_code,
        stopped_reason,
    }
}

/// Where the `awslogs` driver writes the container's log: (region, group, stream).
pub fn log_location(
    register: &Value,
    container: &str,
    task_arn: &str,
) -> Result<(Option<String>, String, String), String> {
    let def = register
        .get("containerDefinitions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|c| c.get("name").and_then(Value::as_str) == Some(container))
        .ok_or_else(|| format!("container `{container}` is not in the task definition"))?;
    let lc = def
        .get("logConfiguration")
        .ok_or_else(|| format!("container `{container}` has no logConfiguration"))?;
    let driver = lc.get("logDriver").and_then(Value::as_str).unwrap_or("");
    if driver != "awslogs" {
        return Err(format!(
            "container `{container}` logs with `{driver}`, not `awslogs`; its log is not read"
        ));
    }
    let opt = |k: &str| {
        lc.get("options")
            .and_then(|o| o.get(k))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let group = opt("awslogs-group").ok_or("the awslogs options name no `awslogs-group`")?;
    let prefix = opt("awslogs-stream-prefix").ok_or(
        "the awslogs options have no `awslogs-stream-prefix`, so the stream name cannot be derived",
    )?;
    let id = short(task_arn);
    Ok((
        opt("awslogs-region"),
        group,
        format!("{prefix}/{container}/{id}"),
    ))
}

async fn log_tail(logs: &Logs, register: &Value, container: &str, task_arn: &str) -> LogTail {
    let (region, group, stream) = match log_location(register, container, task_arn) {
        Ok(l) => l,
        Err(e) => return LogTail::Unavailable(e),
    };
    let logs = logs.client(region.as_deref());
    // CloudWatch Logs may lag the task's stop by a moment: two tries.
    let mut last_err = String::new();
    for attempt in 0..2 {
        let body = serde_json::json!({
            "logGroupName": group,
            "logStreamName": stream,
            "limit": LOG_LINES,
            "startFromHead": false,
        });
        match logs.call("GetLogEvents", &body).await {
            Ok(v) => {
                let lines: Vec<String> = v
                    .get("events")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e.get("message").and_then(Value::as_str))
                    .map(|m| m.trim_end().to_owned())
                    .collect();
                if !lines.is_empty() || attempt == 1 {
                    return LogTail::Lines {
                        group,
                        stream,
                        lines,
                    };
                }
            }
            Err(e) => last_err = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    LogTail::Unavailable(format!(
        "stream `{stream}` of group `{group}` could not be read: {last_err}"
    ))
}

/// CloudWatch Logs access for the deploy: its credentials and endpoint overrides, in the region the
/// `awslogs` driver names (`awslogs-region`, else the deploy's).
#[derive(Clone, Debug)]
pub struct Logs {
    pub sdk: aws_config::SdkConfig,
    pub http: reqwest::Client,
}

impl Logs {
    #[must_use]
    pub fn client(&self, region: Option<&str>) -> JsonRpc {
        match region {
            Some(r) if self.sdk.region().is_none_or(|own| own.as_ref() != r) => {
                let sdk = self
                    .sdk
                    .to_builder()
                    .region(aws_config::Region::new(r.to_owned()))
                    .build();
                JsonRpc::new(&sdk, json_rpc::LOGS, self.http.clone())
            }
            _ => JsonRpc::new(&self.sdk, json_rpc::LOGS, self.http.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_input_is_a_mapping_with_a_command_list() {
        let s =
            parse_spec("command: [bin/rails, db:migrate]\ncontainer: app\ntimeout: 15m\n").unwrap();
        assert_eq!(s.command, vec!["bin/rails", "db:migrate"]);
        assert_eq!(s.container.as_deref(), Some("app"));
        assert_eq!(s.timeout, Duration::from_secs(900));
        let d = parse_spec("command:\n  - ./smoke\n").unwrap();
        assert_eq!(d.timeout, DEFAULT_TIMEOUT);
        assert_eq!(d.container, None);
        assert!(
            parse_spec("command: bin/rails db:migrate\n")
                .unwrap_err()
                .contains("must be a list")
        );
        assert!(
            parse_spec("container: app\n")
                .unwrap_err()
                .contains("no `command`")
        );
        assert!(
            parse_spec("command: [x]\ncmd: y\n")
                .unwrap_err()
                .contains("cmd")
        );
        assert!(
            parse_spec("command: [x]\ntimeout: forever\n")
                .unwrap_err()
                .contains("`timeout: forever`")
        );
    }

    #[test]
    fn the_log_stream_is_prefix_container_task_id() {
        let body = serde_json::json!({"containerDefinitions": [{"name": "app", "logConfiguration": {
            "logDriver": "awslogs", "options": {"awslogs-group": "/ecs/web", "awslogs-region": "eu-west-1",
            "awslogs-stream-prefix": "web"}}}, {"name": "side"}]});
        assert_eq!(
            log_location(&body, "app", "arn:aws:ecs:eu-west-1:1:task/prod/abc123").unwrap(),
            (
                Some("eu-west-1".to_owned()),
                "/ecs/web".to_owned(),
                "web/app/abc123".to_owned()
            )
        );
        assert!(
            log_location(&body, "side", "arn:x/abc")
                .unwrap_err()
                .contains("no logConfiguration")
        );
    }

    #[test]
    fn the_container_is_chosen_or_named_as_missing() {
        let body = serde_json::json!({"containerDefinitions": [{"name": "app"}, {"name": "side"}]});
        let spec = parse_spec("command: [x]").unwrap();
        assert_eq!(
            choose_container(&spec, &["app".into()], &body).unwrap(),
            "app"
        );
        assert!(
            choose_container(&spec, &[], &body)
                .unwrap_err()
                .contains("needs `container:`")
        );
        let named = parse_spec("command: [x]\ncontainer: nope").unwrap();
        assert!(
            choose_container(&named, &[], &body)
                .unwrap_err()
                .contains("`app`, `side`")
        );
    }
}
