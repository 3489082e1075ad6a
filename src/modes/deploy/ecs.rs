//! ECS deploy: a new task-definition revision, UpdateService, an adaptive watch that fails fast with the
//! reasons, and our own rollback when ECS's circuit breaker would not roll back.
//!
//! Plan (read-only: DescribeServices, DescribeTaskDefinition) and apply (RegisterTaskDefinition,
//! UpdateService, watch, rollback) are separate so `dry-run` shows the plan and stops. Every AWS function
//! takes an `&SdkConfig` or a client made from one; several services deploy concurrently.

pub mod oneoff;
pub mod report;
pub mod rollout;
pub mod taskdef;

use crate::inputs::Input;
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

pub use super::clients::ecs as client;
use aws_config::SdkConfig;
use aws_sdk_ecs::Client;
use aws_sdk_ecs::config::interceptors::AfterDeserializationInterceptorContextRef;
use aws_sdk_ecs::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_ecs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ecs::types::TaskDefinitionField;
use aws_smithy_types::body::SdkBody;
use serde_json::Value;

use crate::aws::{AwsInputs, Connected};
use crate::cancel::Cancel;
use crate::inputs::Inputs;
use crate::modes::runtime::{ModeError, Runtime};
use crate::report::Report;
pub use rollout::{End, Seen, StoppedTask, Timeline, Timing};
use taskdef::{Base, Change, Edits};

/// Inputs of an ECS deploy.
#[derive(Clone, Debug)]
pub struct Config {
    /// How to reach AWS (region, role, environment, trigger policy): `docs/credentials.md`.
    pub aws: AwsInputs,
    pub cluster: String,
    /// Deployed concurrently.
    pub services: Vec<String>,
    pub edits: Edits,
    /// Base task definition; `None` = each service's current one.
    pub task_definition: Option<PathBuf>,
    pub rollback: Rollback,
    pub wait_for_drain: bool,
    pub timing: Timing,
    /// `pre-deploy-task`: runs the new task definition before any service is updated.
    pub pre_task: Option<oneoff::TaskSpec>,
    /// `post-deploy-task`: runs it after every rollout completed; its failure rolls back.
    pub post_task: Option<oneoff::TaskSpec>,
    /// `registry` (with `promote-from` from another account): this account's registry address, instead
    /// of the `proxyEndpoint` ECR returns; set by `deploy::Config::parse`.
    pub registry: Option<String>,
}

/// `rollback` input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rollback {
    /// Roll back ourselves unless ECS's circuit breaker rolls back.
    Auto,
    None,
}

impl Config {
    /// Reads the ECS inputs, collecting every error; `given` holds `cluster` and `service`, read by
    /// `deploy::Config::parse`.
    pub fn parse(p: &mut Inputs<'_>, given: super::target::TargetInputs) -> Self {
        Self::parse_with(p, given, true)
    }

    /// Reads the ECS inputs of a preview step: what to deploy (`image`, …) is needed only when a preview
    /// is created or updated (checked then), not on `closed` or `schedule`.
    pub fn parse_preview(p: &mut Inputs<'_>, given: super::target::TargetInputs) -> Self {
        Self::parse_with(p, given, false)
    }

    /// Whether the inputs name something to deploy.
    #[must_use]
    pub fn has_code(&self) -> bool {
        self.edits.image.is_some()
            || self.task_definition.is_some()
            || !self.edits.environment.is_empty()
    }

    fn parse_with(p: &mut Inputs<'_>, given: super::target::TargetInputs, need_code: bool) -> Self {
        let aws = AwsInputs::parse(p);
        let cluster = given.cluster.unwrap_or_else(|| "default".into());
        let services = given
            .service
            .as_deref()
            .map(crate::inputs::split_list)
            .unwrap_or_default();
        if services.is_empty() {
            p.missing(Input::Service, "for an ECS deploy", "web");
        }
        let mut seen = HashSet::new();
        for s in &services {
            if !seen.insert(s) {
                p.error(
                    Input::Service,
                    Some(s),
                    "is listed twice",
                    "List each service once",
                );
            }
        }
        let containers = p.list(Input::Container);
        let image = p.string(Input::Image);
        if let Some(i) = &image
            && i.chars().any(char::is_whitespace)
        {
            p.error(
                Input::Image,
                Some(i),
                "contains whitespace",
                "Use one image URI, e.g. `image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/web@sha256:…`",
            );
        }
        if let Some(i) = &image
            && !i.chars().any(char::is_whitespace)
        {
            super::image::check_image(p, i);
        }
        let task_definition = p.string(Input::TaskDefinition).map(|f| {
            let path = PathBuf::from(&f);
            match p.env().path(crate::env::vars::GITHUB_WORKSPACE) {
                Some(ws) if path.is_relative() => ws.join(path),
                _ => path,
            }
        });
        let environment = p
            .parse_with(
                Input::EnvironmentVariables,
                "One `KEY=VALUE` per line, e.g. `LOG_LEVEL=info`",
                taskdef::parse_env_lines,
            )
            .unwrap_or_default();
        let timeout = super::poll::parse_wait_timeout(p, "e.g. `wait-timeout: 15m`");
        let rollback = match p.choice(Input::Rollback, &["auto", "none"], "auto") {
            "none" => Rollback::None,
            _ => Rollback::Auto,
        };
        let wait_for_drain = p.bool(Input::WaitForDrain, false);
        let task_fix = "A YAML mapping, e.g. `command: [bin/rails, db:migrate]`, optional `container: app` and `timeout: 15m`";
        let pre_task = p.parse_with(Input::PreDeployTask, task_fix, oneoff::parse_spec);
        let post_task = p.parse_with(Input::PostDeployTask, task_fix, oneoff::parse_spec);
        // `rollback-to` deploys what an earlier deployment recorded (its parser names these inputs).
        let restoring = given.rollback_to;
        if !restoring
            && need_code
            && image.is_none()
            && task_definition.is_none()
            && environment.is_empty()
        {
            p.missing(
                Input::Image,
                "for an ECS deploy (or give `task-definition` or `environment-variables` to deploy)",
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com/web@sha256:…",
            );
        }
        Self {
            aws,
            cluster,
            services,
            edits: Edits {
                containers,
                image,
                environment,
            },
            task_definition,
            rollback,
            wait_for_drain,
            timing: Timing::new(timeout),
            pre_task,
            post_task,
            registry: None,
        }
    }
}

/// ECS problems, naming the operation and the resource.
#[derive(Debug, thiserror::Error)]
pub enum EcsError {
    /// An ECS call failed: the code and status stay typed.
    #[error("{0}")]
    Api(crate::aws::call::CallError),
    #[error("service `{service}` in cluster `{cluster}` cannot be deployed: {reason}")]
    ServiceNotFound {
        cluster: String,
        service: String,
        reason: String,
    },
    #[error("task definition {what}: {problem}")]
    TaskDefinition { what: String, problem: String },
    #[error(
        "input `cluster`: the cluster `{cluster}` does not exist in this account and region (ECS answered ClusterNotFoundException)"
    )]
    ClusterNotFound { cluster: String },
}

impl EcsError {
    pub(crate) fn api<E>(
        op: &'static str,
        resource: &str,
        e: &SdkError<E, aws_smithy_runtime_api::client::orchestrator::HttpResponse>,
    ) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        EcsError::Api(crate::aws::call::CallError::from_sdk(
            "ECS", op, resource, e,
        ))
    }

    /// A call whose answer lacks what stevedore needs.
    pub(crate) fn unexpected(op: &'static str, resource: &str, message: &str) -> Self {
        EcsError::Api(crate::aws::call::CallError::plain(
            "ECS", op, resource, None, message,
        ))
    }

    /// What to do about it.
    #[must_use]
    pub fn hint(&self) -> String {
        match self {
            EcsError::Api(c) if c.is_access_denied() => {
                "The role needs ecs:DescribeServices, ecs:DescribeTaskDefinition, ecs:RegisterTaskDefinition, ecs:UpdateService, ecs:ListTasks, ecs:DescribeTasks, ecs:TagResource and iam:PassRole for the task roles".into()
            }
            EcsError::Api(_) => "Check the cluster/service names and the region".into(),
            EcsError::ServiceNotFound { .. } => {
                "Check `cluster`, `service` and `aws-region`; the service must exist and be ACTIVE".into()
            }
            EcsError::TaskDefinition { .. } => {
                "Fix `task-definition`/`container` (names are listed above)".into()
            }
            EcsError::ClusterNotFound { .. } => {
                "Set the input `cluster` to the cluster that runs the service (without it ECS uses its `default` cluster), and check `aws-region` and the environment's account".into()
            }
        }
    }
}

/// What will be deployed to one service.
#[derive(Clone, Debug, PartialEq)]
pub struct ServicePlan {
    pub service: String,
    /// The task definition the service runs now (the rollback target).
    pub current_task_definition: String,
    /// Whether ECS's circuit breaker rolls a failed deployment back on its own.
    pub circuit_breaker_rollback: bool,
    /// Where the new revision comes from (file path or the current ARN).
    pub base: String,
    /// The RegisterTaskDefinition body.
    pub register: Value,
    pub changes: Vec<Change>,
    pub dropped_fields: Vec<String>,
    /// Network configuration and launch type / capacity providers: one-off tasks run the same way.
    pub placement: oneoff::Placement,
    /// `rollback-to`: the service goes back to the recorded task definition `base` (an ARN); nothing
    /// is registered.
    pub recorded: bool,
}

impl ServicePlan {
    #[must_use]
    pub fn family(&self) -> &str {
        self.register
            .get("family")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
}

/// Reads what runs now and renders the new task definitions. No writes.
pub async fn plan(sdk: &SdkConfig, cfg: &Config) -> Result<Vec<ServicePlan>, EcsError> {
    let client = client(sdk);
    let file_base = match &cfg.task_definition {
        Some(path) => {
            let text =
                tokio::fs::read_to_string(path)
                    .await
                    .map_err(|e| EcsError::TaskDefinition {
                        what: format!("file `{}`", path.display()),
                        problem: format!("cannot be read: {e}"),
                    })?;
            Some(
                Base::from_file_text(&text).map_err(|problem| EcsError::TaskDefinition {
                    what: format!("file `{}`", path.display()),
                    problem,
                })?,
            )
        }
        None => None,
    };
    let mut services = Vec::new();
    for chunk in cfg.services.chunks(10) {
        let out = client
            .describe_services()
            .cluster(&cfg.cluster)
            .set_services(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| {
                if e.code() == Some("ClusterNotFoundException") {
                    EcsError::ClusterNotFound {
                        cluster: cfg.cluster.clone(),
                    }
                } else {
                    EcsError::api("DescribeServices", &chunk.join(", "), &e)
                }
            })?;
        for name in chunk {
            let found = out
                .services()
                .iter()
                .find(|s| s.service_name() == Some(name.as_str()));
            match found {
                Some(s) if s.status() == Some("ACTIVE") => {
                    let controller = s
                        .deployment_controller()
                        .map(|c| c.r#type().as_str().to_owned())
                        .unwrap_or_else(|| "ECS".into());
                    if s.resource_management_type()
                        == Some(&aws_sdk_ecs::types::ResourceManagementType::Ecs)
                    {
                        return Err(EcsError::ServiceNotFound {
                            cluster: cfg.cluster.clone(),
                            service: name.clone(),
                            reason: format!(
                                "it is an ECS Express Mode service (resourceManagementType ECS): ECS owns its task definition, load balancer and scaling, and it is updated through UpdateExpressGatewayService; deploy it with `express-service: {name}` (and `cluster: {}`) instead of `service` (docs/deploy-ecs-express.md)",
                                cfg.cluster
                            ),
                        });
                    }
                    if controller != "ECS" {
                        return Err(EcsError::ServiceNotFound {
                            cluster: cfg.cluster.clone(),
                            service: name.clone(),
                            reason: format!(
                                "it uses the {controller} deployment controller; stevedore deploys services with the ECS (rolling) controller only"
                            ),
                        });
                    }
                    services.push(s.clone());
                }
                Some(s) => {
                    return Err(EcsError::ServiceNotFound {
                        cluster: cfg.cluster.clone(),
                        service: name.clone(),
                        reason: format!("its status is {}", s.status().unwrap_or("unknown")),
                    });
                }
                None => {
                    return Err(EcsError::ServiceNotFound {
                        cluster: cfg.cluster.clone(),
                        service: name.clone(),
                        reason: out
                            .failures()
                            .iter()
                            .find(|f| f.arn().is_some_and(|a| a.ends_with(&format!("/{name}"))))
                            .and_then(|f| f.reason())
                            .unwrap_or("not found")
                            .to_owned(),
                    });
                }
            }
        }
    }
    let mut current: BTreeMap<String, Base> = BTreeMap::new();
    let arns: Vec<String> = services
        .iter()
        .filter_map(|s| s.task_definition().map(str::to_owned))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let described =
        futures_util::future::join_all(arns.iter().map(|a| describe_task_definition(&client, a)))
            .await;
    for (arn, d) in arns.into_iter().zip(described) {
        current.insert(arn, d?);
    }
    let mut plans = Vec::new();
    for s in services {
        let name = s.service_name().unwrap_or_default().to_owned();
        let arn = s.task_definition().unwrap_or_default().to_owned();
        let Some(running) = current.get(&arn) else {
            return Err(EcsError::TaskDefinition {
                what: format!("of service `{name}`"),
                problem: "the service has no task definition".into(),
            });
        };
        let (base, base_name) = match &file_base {
            Some(b) => (
                b,
                cfg.task_definition
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            ),
            None => (running, arn.clone()),
        };
        let (register, dropped_fields) =
            taskdef::render(base, &cfg.edits).map_err(|problem| EcsError::TaskDefinition {
                what: format!("`{}` for service `{name}`", base.family()),
                problem,
            })?;
        let changes = taskdef::diff(&running.task_definition, &register);
        let cb = s
            .deployment_configuration()
            .and_then(|c| c.deployment_circuit_breaker())
            .is_some_and(|cb| cb.enable() && cb.rollback());
        plans.push(ServicePlan {
            placement: oneoff::Placement::of(&s),
            service: name,
            current_task_definition: arn,
            circuit_breaker_rollback: cb,
            base: base_name,
            register,
            changes,
            dropped_fields,
            recorded: false,
        });
    }
    Ok(plans)
}

/// Keeps the raw JSON body of a response (the SDK types cannot be serialised back).
#[derive(Clone, Debug, Default)]
struct RawBody(Arc<Mutex<Option<Vec<u8>>>>);

impl Intercept for RawBody {
    fn name(&self) -> &'static str {
        "stevedore::RawBody"
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_ecs::error::BoxError> {
        if let Some(b) = context.response().body().bytes() {
            *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(b.to_vec());
        }
        Ok(())
    }
}

/// DescribeTaskDefinition (with tags) as JSON.
pub async fn describe_task_definition(client: &Client, arn: &str) -> Result<Base, EcsError> {
    let raw = RawBody::default();
    client
        .describe_task_definition()
        .task_definition(arn)
        .include(TaskDefinitionField::Tags)
        .customize()
        .interceptor(raw.clone())
        .send()
        .await
        .map_err(|e| EcsError::api("DescribeTaskDefinition", arn, &e))?;
    let bytes = raw
        .0
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).map_err(|e| EcsError::TaskDefinition {
        what: format!("`{arn}`"),
        problem: format!("DescribeTaskDefinition returned invalid JSON: {e}"),
    })?;
    Base::from_describe(&body).map_err(|problem| EcsError::TaskDefinition {
        what: format!("`{arn}`"),
        problem,
    })
}

/// RegisterTaskDefinition with `body` sent as is (every field of the base survives, even ones this
/// SDK does not model). Returns the new ARN.
pub async fn register(client: &Client, body: &Value) -> Result<String, EcsError> {
    let family = body
        .get("family")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let bytes = serde_json::to_vec(body).map_err(|e| EcsError::TaskDefinition {
        what: format!("`{family}`"),
        problem: e.to_string(),
    })?;
    let out = client
        .register_task_definition()
        .family(&family)
        .customize()
        .mutate_request(move |req| {
            req.headers_mut()
                .insert("content-length", bytes.len().to_string());
            *req.body_mut() = SdkBody::from(bytes.clone());
        })
        .send()
        .await
        .map_err(|e| EcsError::api("RegisterTaskDefinition", &family, &e))?;
    out.task_definition()
        .and_then(|t| t.task_definition_arn())
        .map(str::to_owned)
        .ok_or_else(|| EcsError::TaskDefinition {
            what: format!("`{family}`"),
            problem: "RegisterTaskDefinition returned no ARN".into(),
        })
}

/// UpdateService to `task_definition`. Returns the new PRIMARY deployment id and the ids of the events
/// already listed (they predate this deployment).
pub async fn update_service(
    client: &Client,
    cluster: &str,
    service: &str,
    task_definition: &str,
) -> Result<(String, HashSet<String>), EcsError> {
    let out = client
        .update_service()
        .cluster(cluster)
        .service(service)
        .task_definition(task_definition)
        .send()
        .await
        .map_err(|e| EcsError::api("UpdateService", service, &e))?;
    primary(out.service(), "UpdateService", service)
}

/// The PRIMARY deployment of a Create/UpdateService answer and the event ids it already lists.
pub fn primary(
    s: Option<&aws_sdk_ecs::types::Service>,
    op: &'static str,
    name: &str,
) -> Result<(String, HashSet<String>), EcsError> {
    let id = s
        .and_then(|s| {
            s.deployments()
                .iter()
                .find(|d| d.status() == Some("PRIMARY"))
        })
        .and_then(|d| d.id())
        .map(str::to_owned)
        .ok_or_else(|| {
            EcsError::unexpected(op, name, "the response lists no PRIMARY deployment")
        })?;
    let events = s
        .map(|s| {
            s.events()
                .iter()
                .filter_map(|e| e.id().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    Ok((id, events))
}

/// What happened after a failed rollout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RollbackOutcome {
    /// ECS's circuit breaker rolls back (or already did) to this task definition.
    CircuitBreaker { to: String },
    /// We rolled back and watched it.
    Ours {
        to: String,
        deployment_id: String,
        end: Result<End, String>,
    },
    /// Cancelled: the rollback was requested, not watched.
    Requested { to: String, deployment_id: String },
    /// `rollback: none`.
    Disabled { running: String },
    /// The rollback could not be started.
    Failed { to: String, error: String },
}

/// The result for one service.
#[derive(Debug)]
pub struct ServiceOutcome {
    pub plan: ServicePlan,
    pub new_task_definition: Option<String>,
    pub deployment_id: Option<String>,
    pub end: Result<End, String>,
    pub seen: Seen,
    pub rollback: Option<RollbackOutcome>,
    pub timeline: Timeline,
    pub finished_at: Instant,
}

impl ServiceOutcome {
    #[must_use]
    pub fn succeeded(&self) -> bool {
        matches!(self.end, Ok(End::Completed))
    }
}

/// Registers each distinct task definition once, even when services deploy concurrently.
#[derive(Debug, Default)]
pub struct Registry {
    done: tokio::sync::Mutex<BTreeMap<String, String>>,
}

impl Registry {
    /// A registry that already knows `arn` for each body: a rollback updates the services to the
    /// recorded task definitions and registers nothing.
    #[must_use]
    pub fn seeded(known: impl IntoIterator<Item = (Value, String)>) -> Self {
        Self {
            done: tokio::sync::Mutex::new(
                known
                    .into_iter()
                    .map(|(body, arn)| (body.to_string(), arn))
                    .collect(),
            ),
        }
    }

    async fn register(&self, client: &Client, body: &Value) -> Result<String, EcsError> {
        let key = body.to_string();
        let mut done = self.done.lock().await;
        if let Some(arn) = done.get(&key) {
            return Ok(arn.clone());
        }
        let arn = register(client, body).await?;
        done.insert(key, arn.clone());
        Ok(arn)
    }
}

/// Applies the plans concurrently: register, update, watch, roll back.
pub async fn apply(
    sdk: &SdkConfig,
    cfg: &Config,
    plans: Vec<ServicePlan>,
    cancel: &Cancel,
) -> Vec<ServiceOutcome> {
    let client = client(sdk);
    let registry = Registry::default();
    futures_util::future::join_all(
        plans
            .into_iter()
            .map(|p| deploy_service(&client, cfg, p, &registry, cancel)),
    )
    .await
}

/// Everything a deploy did: the hooks and the services.
#[derive(Debug)]
pub struct Applied {
    /// `pre-deploy-task`; when it failed, no service was updated (`services` is empty).
    pub pre: Option<oneoff::TaskRun>,
    pub services: Vec<ServiceOutcome>,
    /// `post-deploy-task`, run only when every rollout completed; its failure rolled the services back.
    pub post: Option<oneoff::TaskRun>,
}

impl Applied {
    /// Every hook passed and every service completed.
    #[must_use]
    pub fn succeeded(&self) -> bool {
        self.pre.as_ref().is_none_or(oneoff::TaskRun::succeeded)
            && !self.services.is_empty()
            && self.services.iter().all(ServiceOutcome::succeeded)
            && self.post.as_ref().is_none_or(oneoff::TaskRun::succeeded)
    }
}

/// The deploy with its hooks: `pre-deploy-task` (its failure stops everything before any UpdateService),
/// the services concurrently, then `post-deploy-task` (its failure rolls every service back).
pub async fn apply_all(
    sdk: &SdkConfig,
    cfg: &Config,
    plans: Vec<ServicePlan>,
    logs: Option<&oneoff::Logs>,
    cancel: &Cancel,
) -> Applied {
    apply_all_with(sdk, cfg, plans, logs, cancel, &Registry::default()).await
}

/// [`apply_all`] with the task definitions `registry` already registered (or knows).
pub async fn apply_all_with(
    sdk: &SdkConfig,
    cfg: &Config,
    plans: Vec<ServicePlan>,
    logs: Option<&oneoff::Logs>,
    cancel: &Cancel,
    registry: &Registry,
) -> Applied {
    let client = client(sdk);
    let mut applied = Applied {
        pre: None,
        services: Vec::new(),
        post: None,
    };
    let first = plans.first().cloned();
    let hook = |plan| Hook {
        client: &client,
        cfg,
        plan,
        registry,
        logs,
        cancel,
    };
    if let (Some(spec), Some(p)) = (&cfg.pre_task, &first) {
        let run = hook(p).run(oneoff::Hook::Pre, spec).await;
        let ok = run.succeeded();
        applied.pre = Some(run);
        if !ok {
            return applied;
        }
    }
    applied.services = futures_util::future::join_all(
        plans
            .into_iter()
            .map(|p| deploy_service(&client, cfg, p, registry, cancel)),
    )
    .await;
    let all_ok = applied.services.iter().all(ServiceOutcome::succeeded);
    if let (Some(spec), Some(p), true) = (&cfg.post_task, &first, all_ok) {
        let run = hook(p).run(oneoff::Hook::Post, spec).await;
        if !run.succeeded() {
            let label = format!("{} {}", run.hook.label(), run.task_id());
            let client = &client;
            futures_util::future::join_all(applied.services.iter_mut().map(|o| {
                let label = label.clone();
                async move {
                    o.timeline.push(format!("{label} failed: rolling back"));
                    let end = Ok(End::Completed);
                    let r =
                        roll_back(client, cfg, &o.plan, &end, false, cancel, &mut o.timeline).await;
                    o.rollback = Some(r);
                }
            }))
            .await;
        }
        applied.post = Some(run);
    }
    applied
}

/// What a hook needs.
struct Hook<'a> {
    client: &'a Client,
    cfg: &'a Config,
    /// The first service: its new task definition and its placement.
    plan: &'a ServicePlan,
    registry: &'a Registry,
    logs: Option<&'a oneoff::Logs>,
    cancel: &'a Cancel,
}

impl Hook<'_> {
    async fn run(&self, hook: oneoff::Hook, spec: &oneoff::TaskSpec) -> oneoff::TaskRun {
        let failed = |td: String, container: String, e: String| oneoff::TaskRun {
            hook,
            task_definition: td,
            container,
            command: spec.command.clone(),
            task_arn: None,
            end: oneoff::TaskEnd::Error(e),
            log: oneoff::LogTail::Unavailable("the task did not start".into()),
            polls: 0,
            took: Duration::ZERO,
        };
        let container =
            match oneoff::choose_container(spec, &self.cfg.edits.containers, &self.plan.register) {
                Ok(c) => c,
                Err(e) => {
                    return failed(
                        String::new(),
                        String::new(),
                        format!("input `{}` {e}", hook.input()),
                    );
                }
            };
        let arn = match self
            .registry
            .register(self.client, &self.plan.register)
            .await
        {
            Ok(a) => a,
            Err(e) => return failed(String::new(), container, e.to_string()),
        };
        if self.cancel.is_cancelled() {
            let mut r = failed(arn, container, String::new());
            r.end = oneoff::TaskEnd::Cancelled;
            return r;
        }
        let mut timing = self.cfg.timing;
        timing.timeout = spec.timeout;
        oneoff::run(oneoff::Run {
            client: self.client,
            logs: self.logs,
            cluster: &self.cfg.cluster,
            hook,
            spec,
            container: &container,
            task_definition: &arn,
            register: &self.plan.register,
            placement: &self.plan.placement,
            timing,
            cancel: self.cancel,
        })
        .await
    }
}

async fn deploy_service(
    client: &Client,
    cfg: &Config,
    plan: ServicePlan,
    registry: &Registry,
    cancel: &Cancel,
) -> ServiceOutcome {
    let mut tl = Timeline::new(Instant::now());
    let mut seen = Seen::default();
    let out = |new_td, dep, end, seen, rollback, tl| ServiceOutcome {
        plan: plan.clone(),
        new_task_definition: new_td,
        deployment_id: dep,
        end,
        seen,
        rollback,
        timeline: tl,
        finished_at: Instant::now(),
    };
    let arn = match registry.register(client, &plan.register).await {
        Ok(a) => a,
        Err(e) => return out(None, None, Err(e.to_string()), seen, None, tl),
    };
    if plan.recorded {
        tl.push(format!("back to the recorded {}", short_td(&arn)));
    } else {
        tl.push(format!("registered {}", short_td(&arn)));
    }
    if cancel.is_cancelled() {
        tl.push("cancelled before UpdateService: the service was not changed");
        return out(Some(arn), None, Ok(End::Cancelled), seen, None, tl);
    }
    let (dep, known_events) = match update_service(client, &cfg.cluster, &plan.service, &arn).await
    {
        Ok(x) => x,
        Err(e) => return out(Some(arn), None, Err(e.to_string()), seen, None, tl),
    };
    tl.push(format!("UpdateService started deployment {dep}"));
    let watch = rollout::Watch {
        client,
        cluster: &cfg.cluster,
        service: &plan.service,
        deployment_id: &dep,
        task_definition_arn: &arn,
        timing: cfg.timing,
        wait_for_drain: cfg.wait_for_drain,
        cancel,
        seen_events: known_events,
    };
    let end = rollout::watch(watch, &mut tl, &mut seen)
        .await
        .map_err(|e| e.to_string());
    match &end {
        Ok(e) => tl.push(format!("deployment {dep} {}", e.describe())),
        Err(e) => tl.push(format!("lost track of deployment {dep}: {e}")),
    }
    let rollback = if matches!(end, Ok(End::Completed)) {
        None
    } else {
        let cb = plan.circuit_breaker_rollback;
        Some(roll_back(client, cfg, &plan, &end, cb, cancel, &mut tl).await)
    };
    out(Some(arn), Some(dep), end, seen, rollback, tl)
}

async fn roll_back(
    client: &Client,
    cfg: &Config,
    plan: &ServicePlan,
    end: &Result<End, String>,
    circuit_breaker_acts: bool,
    cancel: &Cancel,
    tl: &mut Timeline,
) -> RollbackOutcome {
    let to = plan.current_task_definition.clone();
    if let Ok(End::Replaced { by_task_definition }) = end {
        return RollbackOutcome::CircuitBreaker {
            to: by_task_definition.clone(),
        };
    }
    if circuit_breaker_acts {
        tl.push(format!(
            "ECS circuit breaker rolls back to {}",
            short_td(&to)
        ));
        return RollbackOutcome::CircuitBreaker { to };
    }
    if cfg.rollback == Rollback::None {
        return RollbackOutcome::Disabled {
            running: "the failed deployment stays as ECS left it".into(),
        };
    }
    tl.push(format!("rolling back to {}", short_td(&to)));
    // On cancellation, request the rollback (documented clean-up, allowed until `MODE_CLEANUP` after
    // the signal) and do not watch it.
    let started = crate::cancel::cleanup(
        crate::cancel::MODE_CLEANUP,
        update_service(client, &cfg.cluster, &plan.service, &to),
    )
    .await;
    let (dep, known) = match started {
        Ok(x) => x,
        Err(e) => {
            tl.push(format!("rollback failed: {e}"));
            return RollbackOutcome::Failed {
                to,
                error: e.to_string(),
            };
        }
    };
    tl.push(format!("rollback deployment {dep} started"));
    if cancel.is_cancelled() {
        return RollbackOutcome::Requested {
            to,
            deployment_id: dep,
        };
    }
    let mut seen = Seen::default();
    let watch = rollout::Watch {
        client,
        cluster: &cfg.cluster,
        service: &plan.service,
        deployment_id: &dep,
        task_definition_arn: &to,
        timing: cfg.timing,
        wait_for_drain: false,
        cancel,
        seen_events: known,
    };
    let end = rollout::watch(watch, tl, &mut seen)
        .await
        .map_err(|e| e.to_string());
    match &end {
        Ok(e) => tl.push(format!("rollback {dep} {}", e.describe())),
        Err(e) => tl.push(format!("lost track of rollback {dep}: {e}")),
    }
    RollbackOutcome::Ours {
        to,
        deployment_id: dep,
        end,
    }
}

/// `family:revision` from a task-definition ARN.
#[must_use]
pub fn short_td(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// Plan, print it (dry run) or apply it, and report.
pub async fn run_connected(
    rt: &Runtime<'_>,
    aws: &Connected,
    cfg: &Config,
) -> Result<Report, ModeError> {
    let plans = plan(&aws.sdk, cfg).await?;
    run_plans(rt, aws, cfg, plans, None).await
}

/// The GitHub environment of an ECS deploy: the mapped `environment`, else the cluster.
#[must_use]
pub fn environment_name(aws: &Connected, cfg: &Config) -> String {
    aws.environment
        .clone()
        .unwrap_or_else(|| cfg.cluster.clone())
}

/// What is live on an ECS target: the services planned as they run, read at the first release checked,
/// kept so that the restore plans from the same read.
pub struct Live {
    sdk: SdkConfig,
    running: tokio::sync::OnceCell<Vec<ServicePlan>>,
}

impl super::target::Target for Config {
    type Live = Live;

    fn aws(&self) -> &AwsInputs {
        &self.aws
    }

    fn what(&self) -> String {
        format!(
            "ECS {} in cluster `{}`",
            self.services.join(", "),
            self.cluster
        )
    }

    fn environment(&self, aws: &Connected) -> String {
        environment_name(aws, self)
    }

    /// The same cluster and the same set of services.
    fn owns(&self, _aws: &Connected, recorded: &crate::github::deployments::Target) -> bool {
        let crate::github::deployments::Target::Ecs { cluster, services } = recorded else {
            return false;
        };
        let mut names: Vec<&str> = services.iter().map(|s| s.service.as_str()).collect();
        names.sort_unstable();
        let mut ours: Vec<&str> = self.services.iter().map(String::as_str).collect();
        ours.sort_unstable();
        *cluster == self.cluster && names == ours
    }

    /// The same services (by name, in any cluster), each on its recorded task definition here.
    fn counterpart(
        &self,
        _aws: &Connected,
        recorded: &crate::github::deployments::Target,
    ) -> Option<crate::github::deployments::Target> {
        let crate::github::deployments::Target::Ecs { services, .. } = recorded else {
            return None;
        };
        let mut names: Vec<&str> = services.iter().map(|s| s.service.as_str()).collect();
        names.sort_unstable();
        let mut ours: Vec<&str> = self.services.iter().map(String::as_str).collect();
        ours.sort_unstable();
        (names == ours).then(|| crate::github::deployments::Target::Ecs {
            cluster: self.cluster.clone(),
            services: services.clone(),
        })
    }

    fn observe(&self, _rt: &Runtime<'_>, aws: &Connected) -> Result<Live, ModeError> {
        Ok(Live {
            sdk: aws.sdk.clone(),
            running: tokio::sync::OnceCell::new(),
        })
    }

    /// Each recorded task definition (an ARN) must be of the same partition, region, account and
    /// family as the one its service runs now.
    async fn check_release(
        &self,
        live: &Live,
        recorded: &crate::github::deployments::Target,
    ) -> Result<Option<String>, String> {
        let crate::github::deployments::Target::Ecs { services, .. } = recorded else {
            return Ok(super::target::records_other(recorded));
        };
        let running = live
            .running
            .get_or_try_init(|| plan_as_is(&live.sdk, self))
            .await
            .map_err(|e| e.to_string())?;
        for s in services {
            let Some(now) = running
                .iter()
                .find(|p| p.service == s.service)
                .map(|p| &p.current_task_definition)
            else {
                return Ok(Some(format!(
                    "service `{}` is not one of this step's",
                    s.service
                )));
            };
            if let Some(why) = same_task_definition_home(&s.task_definition, now) {
                return Ok(Some(format!("service `{}`: {why}", s.service)));
            }
        }
        Ok(None)
    }

    async fn deploy(&self, rt: &Runtime<'_>, aws: &Connected) -> Result<Report, ModeError> {
        run_connected(rt, aws, self).await
    }

    async fn restore(
        &self,
        rt: &Runtime<'_>,
        aws: &Connected,
        live: Live,
        restore: &super::record::Restore,
    ) -> Result<Report, ModeError> {
        run_restore(rt, aws, self, restore, live.running.into_inner()).await
    }

    fn across_accounts(&self) -> Option<(String, String)> {
        None
    }

    /// Each service's task definition here, registered again with the images of the release's: every
    /// container of the recorded task definition (read in the source account) is matched by name with
    /// one here, and its image, when it differs, copied by digest into the repository that container runs
    /// from ([`super::image_target::Carrier`]). This account's roles, secrets and log configuration stay;
    /// the new revisions are rolled out like a deploy's and recorded with `promoted_from`.
    async fn promote_across(
        &self,
        rt: &Runtime<'_>,
        aws: &Connected,
        source: &Connected,
        restore: &super::record::Restore,
    ) -> Result<Report, ModeError> {
        promote_across(rt, aws, source, self, restore).await
    }
}

/// The containers of a task definition, by name, with their images.
fn images_of(td: &Value) -> Vec<(String, String)> {
    td.get("containerDefinitions")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    let field = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or_default();
                    (field("name").to_owned(), field("image").to_owned())
                })
                .collect()
        })
        .unwrap_or_default()
}

/// [`super::target::Target::promote_across`] for ECS.
async fn promote_across(
    rt: &Runtime<'_>,
    aws: &Connected,
    source: &Connected,
    cfg: &Config,
    restore: &super::record::Restore,
) -> Result<Report, ModeError> {
    let refuse = super::target::refuse_promotion;
    let id = restore.release.id;
    let crate::github::deployments::Target::Ecs { services, .. } = &restore.release.target else {
        return Err(refuse(
            format!("deployment #{id} does not record an ECS deploy"),
            "Promote between targets of the same kind",
        ));
    };
    let carrier = super::image_target::Carrier::login(
        rt,
        aws,
        source,
        restore,
        &cfg.aws,
        cfg.registry.as_deref(),
    )
    .await?;
    let (there, here) = (client(&source.sdk), client(&aws.sdk));
    let mut plans = plan_as_is(&aws.sdk, cfg).await?;
    let mut copied = Vec::new();
    for p in &mut plans {
        let Some(recorded) = services.iter().find(|s| s.service == p.service) else {
            return Err(refuse(
                format!(
                    "deployment #{id} records no task definition of service `{}`",
                    p.service
                ),
                "Promote a release of the same services",
            ));
        };
        let released = describe_task_definition(&there, &recorded.task_definition).await?;
        let mut base = describe_task_definition(&here, &p.current_task_definition).await?;
        // What runs now, kept before the images are replaced: the plan's diff is against it.
        let now = base.task_definition.clone();
        let running = images_of(&now);
        let mut images = BTreeMap::new();
        for (name, image) in images_of(&released.task_definition) {
            let Some((_, now)) = running.iter().find(|(n, _)| *n == name) else {
                return Err(refuse(
                    format!(
                        "container `{name}` of `{}` has no container of that name in service `{}`'s task definition here (`{}`)",
                        recorded.task_definition,
                        p.service,
                        short_td(&p.current_task_definition)
                    ),
                    "Promote between services whose task definitions name the same containers",
                ));
            };
            if *now != image {
                let (new, sentence) = carrier.carry(&image, now).await?;
                copied.push(sentence);
                images.insert(name, new);
            }
        }
        if let Some(cs) = base
            .task_definition
            .get_mut("containerDefinitions")
            .and_then(Value::as_array_mut)
        {
            for c in cs {
                let name = c.get("name").and_then(Value::as_str).unwrap_or_default();
                if let Some(new) = images.get(name) {
                    c["image"] = Value::String(new.clone());
                }
            }
        }
        let (register, dropped) = taskdef::render(&base, &Edits::default()).map_err(|problem| {
            EcsError::TaskDefinition {
                what: format!("`{}`", p.current_task_definition),
                problem,
            }
        })?;
        p.changes = taskdef::diff(&now, &register);
        p.register = register;
        p.dropped_fields = dropped;
        p.base.clone_from(&p.current_task_definition);
        p.recorded = false;
    }
    let note = if copied.is_empty() {
        "Every container here runs the release's images already.".to_owned()
    } else {
        copied.join(" ")
    };
    let restore = restore.carried(restore.release.target.clone(), &note);
    let r = run_plans(rt, aws, cfg, plans, Some(&restore)).await?;
    Ok(restore.annotate(r))
}

/// `None` when task definition `recorded` (an ARN) lives where `running` does — same partition,
/// region, account and family — else why not.
#[must_use]
pub fn same_task_definition_home(recorded: &str, running: &str) -> Option<String> {
    fn parts(arn: &str) -> Option<(&str, &str, &str, &str)> {
        let crate::arn::Arn {
            partition,
            service: "ecs",
            region,
            account,
            resource: rest,
        } = crate::arn::Arn::parse(arn)?
        else {
            return None;
        };
        let (family, revision) = rest.strip_prefix("task-definition/")?.rsplit_once(':')?;
        (!family.is_empty() && !revision.is_empty() && revision.bytes().all(|b| b.is_ascii_digit()))
            .then_some((partition, region, account, family))
    }
    let Some(rec) = parts(recorded) else {
        return Some(format!(
            "`{recorded}` is not a task-definition ARN with a revision"
        ));
    };
    let Some(now) = parts(running) else {
        return Some(format!(
            "the running task definition `{running}` is not an ARN with a revision"
        ));
    };
    let names = ["partition", "region", "account", "family"];
    let (a, b) = ([rec.0, rec.1, rec.2, rec.3], [now.0, now.1, now.2, now.3]);
    names
        .iter()
        .zip(a.iter().zip(b.iter()))
        .find(|(_, (x, y))| x != y)
        .map(|(what, (x, y))| {
            format!(
                "task definition `{recorded}` is of {what} `{x}`, the service runs {what} `{y}`"
            )
        })
}

/// `rollback-to`: every service back on the task definition `restore` recorded, with the same watch,
/// rollback on failure and report as a deploy; nothing is registered.
pub async fn run_restore(
    rt: &Runtime<'_>,
    aws: &Connected,
    cfg: &Config,
    restore: &super::record::Restore,
    as_is: Option<Vec<ServicePlan>>,
) -> Result<Report, ModeError> {
    let crate::github::deployments::Target::Ecs { services, .. } = &restore.release.target else {
        return Err(ModeError::Config {
            message: format!(
                "deployment #{} does not record an ECS deploy",
                restore.release.id
            ),
            hint: None,
        });
    };
    let as_is = match as_is {
        Some(p) => p,
        None => plan_as_is(&aws.sdk, cfg).await?,
    };
    let plans = plan_restore(&aws.sdk, services, as_is).await?;
    let r = run_plans(rt, aws, cfg, plans, Some(restore)).await?;
    Ok(restore.annotate(r))
}

/// What runs now, planned without any change (no file, no edits): each service's current task definition
/// is the plan's `current_task_definition`. No writes.
pub async fn plan_as_is(sdk: &SdkConfig, cfg: &Config) -> Result<Vec<ServicePlan>, EcsError> {
    let mut as_is = cfg.clone();
    as_is.edits = Edits::default();
    as_is.task_definition = None;
    plan(sdk, &as_is).await
}

/// Plans that put each service back on its `recorded` task definition: the diff is against what runs
/// (`as_is`, from [`plan_as_is`]), the body is the recorded revision as described (the registry is seeded
/// with its ARN).
pub async fn plan_restore(
    sdk: &SdkConfig,
    recorded: &[crate::github::deployments::EcsService],
    as_is: Vec<ServicePlan>,
) -> Result<Vec<ServicePlan>, EcsError> {
    let mut plans = as_is;
    let client = client(sdk);
    for p in &mut plans {
        let Some(arn) = recorded
            .iter()
            .find(|s| s.service == p.service)
            .map(|s| s.task_definition.clone())
        else {
            return Err(EcsError::TaskDefinition {
                what: format!("of service `{}`", p.service),
                problem: "the deployment to restore records none".into(),
            });
        };
        let running = describe_task_definition(&client, &p.current_task_definition).await?;
        let base = describe_task_definition(&client, &arn).await?;
        if base.task_definition.get("status").and_then(Value::as_str) == Some("INACTIVE") {
            return Err(EcsError::TaskDefinition {
                what: format!("`{arn}`"),
                problem: "was deregistered (INACTIVE), so ECS cannot start it again".into(),
            });
        }
        let (register, dropped) = taskdef::render(&base, &Edits::default()).map_err(|problem| {
            EcsError::TaskDefinition {
                what: format!("`{arn}`"),
                problem,
            }
        })?;
        p.changes = taskdef::diff(&running.task_definition, &register);
        p.register = register;
        p.dropped_fields = dropped;
        p.base = arn;
        p.recorded = true;
    }
    Ok(plans)
}

impl crate::modes::runtime::Failure for EcsError {
    fn is_config(&self) -> bool {
        !matches!(self, EcsError::Api(_))
    }
    fn hint(&self) -> Option<String> {
        Some(EcsError::hint(self))
    }
}

/// Prints the plans (dry run) or applies them, recording a GitHub Deployment whose payload names the
/// task definitions; `restore` seeds the registry with the recorded ARNs.
async fn run_plans(
    rt: &Runtime<'_>,
    aws: &Connected,
    cfg: &Config,
    plans: Vec<ServicePlan>,
    restore: Option<&super::record::Restore>,
) -> Result<Report, ModeError> {
    for p in &plans {
        if !p.dropped_fields.is_empty() {
            tracing::info!(
                service = %p.service,
                "read-only fields not registered again: {}",
                p.dropped_fields.join(", ")
            );
        }
    }
    // A hook's container must exist in the new task definition: a configuration error before any write.
    if let Some(first) = plans.first() {
        let problems: Vec<String> = [
            (oneoff::Hook::Pre, &cfg.pre_task),
            (oneoff::Hook::Post, &cfg.post_task),
        ]
        .into_iter()
        .filter_map(|(h, spec)| {
            let spec = spec.as_ref()?;
            oneoff::choose_container(spec, &cfg.edits.containers, &first.register)
                .err()
                .map(|e| format!("input `{}` {e}", h.input()))
        })
        .collect();
        if !problems.is_empty() {
            return Err(ModeError::Config {
                message: problems.join("; "),
                hint: Some(
                    "Set `container:` in the task input to one of the containers named".into(),
                ),
            });
        }
    }
    let mut record = String::new();
    let r = if rt.common.dry_run {
        for line in report::plan_lines(cfg, &plans) {
            rt.cmds.line(&line);
        }
        report::dry_run(cfg, &plans)
    } else {
        let environment = environment_name(aws, cfg);
        if let (Some(e), Some(i)) = (&aws.environment, &cfg.edits.image) {
            super::image::warn_production_by_tag(rt, e, i);
        }
        let what = format!("ECS {} in {}", cfg.services.join(", "), cfg.cluster);
        let client = client(&aws.sdk);
        // A rollback or a promotion within one account puts recorded revisions back; a promotion across
        // accounts registers new ones (this account's task definitions with the copied images), recorded
        // with the promotion's record.
        let (registry, deployment) = match restore.filter(|_| plans.iter().all(|p| p.recorded)) {
            Some(r) => (
                Registry::seeded(plans.iter().map(|p| (p.register.clone(), p.base.clone()))),
                r.record.clone(),
            ),
            None => {
                // Registered before the GitHub Deployment, whose payload names the new revisions (what
                // `rollback-to` redeploys). A registration failing here fails again, reported, in apply.
                let registry = Registry::default();
                let mut services = Vec::new();
                for p in &plans {
                    match registry.register(&client, &p.register).await {
                        Ok(arn) => services.push(crate::github::deployments::EcsService {
                            service: p.service.clone(),
                            task_definition: arn,
                        }),
                        Err(e) => tracing::warn!(service = %p.service, "{e}"),
                    }
                }
                let target = (services.len() == plans.len()).then(|| {
                    crate::github::deployments::Target::Ecs {
                        cluster: cfg.cluster.clone(),
                        services,
                    }
                });
                let mut record = restore.map(|r| r.record.clone()).unwrap_or_default();
                record.target = target;
                (registry, record)
            }
        };
        let description = match restore {
            Some(r) => r.description(&what),
            None => what,
        };
        let gh = super::record::GithubDeployment::start_recorded(
            rt,
            &environment,
            &description,
            &deployment,
        )
        .await;
        let logs = if cfg.pre_task.is_some() || cfg.post_task.is_some() {
            crate::net::Net::from_env(rt.env)
                .reqwest()
                .build()
                .map_err(|e| tracing::warn!("no HTTP client for CloudWatch Logs: {e}"))
                .ok()
                .map(|http| oneoff::Logs {
                    sdk: aws.sdk.clone(),
                    http,
                })
        } else {
            None
        };
        let applied =
            apply_all_with(&aws.sdk, cfg, plans, logs.as_ref(), &rt.cancel, &registry).await;
        let ok = applied.succeeded();
        let url = console_url(&aws.sdk, cfg);
        record = gh.finish(ok, Some(&url)).await;
        report::applied(cfg, &applied, rt.cancel.is_cancelled())
    };
    Ok(super::record::name_the_target(rt, aws, &record, r))
}

/// The ECS console page of the deployment (one service) or of the cluster's services.
fn console_url(sdk: &SdkConfig, cfg: &Config) -> String {
    let region = sdk
        .region()
        .map(|r| r.as_ref().to_owned())
        .unwrap_or_default();
    match cfg.services.as_slice() {
        [one] => format!(
            "https://{region}.console.aws.amazon.com/ecs/v2/clusters/{}/services/{one}/deployments?region={region}",
            cfg.cluster
        ),
        _ => format!(
            "https://{region}.console.aws.amazon.com/ecs/v2/clusters/{}/services?region={region}",
            cfg.cluster
        ),
    }
}
