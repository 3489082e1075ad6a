//! ECS Express Mode deploy: point an Express gateway service's primary container at the new image with
//! UpdateExpressGatewayService, follow the service deployment ECS starts to its end, check the service's
//! URL, and on failure or cancellation put the previous image back (and follow that too, unless cancelled).
//!
//! Selected by the input `express-service` (ARN or name; a name is completed with `cluster`, default
//! `default`, into the service ARN). Not by detecting that `service` is an Express service: inputs that
//! do not apply to Express (`container`, `task-definition`, hooks) must be refused before any AWS call,
//! the plan and the IAM permissions differ, and an ECS deploy (`service`) of an Express service is refused
//! by the ECS path instead (DescribeServices says `resourceManagementType: ECS`), naming this input.
//!
//! Calls (aws-sdk-ecs, awsJson1_1): DescribeExpressGatewayService (the service, its active configuration,
//! its endpoint), ListServiceDeployments (no deployment may be running before; then the poll, matching the
//! deployment whose target revision UpdateExpressGatewayService created), UpdateExpressGatewayService.

use crate::inputs::Input;
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_ecs::Client;
use aws_sdk_ecs::error::ProvideErrorMetadata;
use aws_sdk_ecs::types::{
    AccessType, CreatedAt, ExpressGatewayContainer, ExpressGatewayServiceConfiguration,
    ServiceDeploymentStatus,
};

use super::health::HealthTiming;
use super::image_target::ImageTarget;
use super::poll::{Timing, fmt_budget};
use super::record::Restore;
use super::target::Target;
use crate::aws::call::CallError;
use crate::aws::{AwsInputs, Connected};
use crate::cancel::Cancel;
use crate::github::deployments;
use crate::inputs::Inputs;
use crate::modes::runtime::{ModeError, Runtime};
use crate::report::Report;
use crate::report::markdown::{code_span, sentence, table, text};

/// Inputs of an ECS Express deploy.
#[derive(Clone, Debug)]
pub struct Config {
    pub aws: AwsInputs,
    /// `express-service`: ARN or name.
    pub service: String,
    /// `cluster` (names only; default `default`, where Express creates services).
    pub cluster: String,
    pub image: String,
    /// `health-url`; default `https://<endpoint><healthCheckPath>`.
    pub health_url: Option<url::Url>,
    pub health_status: u16,
    pub health: HealthTiming,
    /// Polls of the service deployment; `timeout` is `wait-timeout`.
    pub timing: Timing,
    /// `rollback: auto` (true) or `none`.
    pub rollback: bool,
    /// `registry` (with `promote-from` from another account): this account's registry address, instead
    /// of the `proxyEndpoint` ECR returns; set by `deploy::Config::parse`.
    pub registry: Option<String>,
}

/// Inputs of the ECS path that mean nothing to an Express service (its task definition is ECS's).
const NOT_FOR_EXPRESS: [Input; 7] = [
    Input::Service,
    Input::Container,
    Input::TaskDefinition,
    Input::EnvironmentVariables,
    Input::PreDeployTask,
    Input::PostDeployTask,
    Input::FunctionName,
];

impl Config {
    /// Reads the Express inputs (called when `express-service` is set), collecting every error.
    /// `given` holds the target inputs `deploy::Config::parse` read (`cluster`, `service`, …).
    pub fn parse(p: &mut Inputs<'_>, service: String, given: super::target::TargetInputs) -> Self {
        let aws = AwsInputs::parse(p);
        let rollback_to = given.rollback_to;
        for other in NOT_FOR_EXPRESS {
            // With `rollback-to`, the inputs of a new release are refused once, by its parser.
            if rollback_to
                && super::target::NEW_RELEASE_INPUTS
                    .iter()
                    .any(|(input, _)| *input == other)
            {
                continue;
            }
            let v = match other {
                Input::Service => given.service.clone(),
                Input::FunctionName => given.function_name.clone(),
                _ => p.string(other),
            };
            if let Some(v) = v {
                p.error(
                    other,
                    Some(&v),
                    "does not apply to an ECS Express deploy (`express-service`): Express services own their task definition and are updated through UpdateExpressGatewayService",
                    format!(
                        "Remove `{other}` from this step (a standard ECS service is deployed with `cluster` + `service` instead of `express-service`)"
                    ),
                );
            }
        }
        if given.app_runner_service.is_some() {
            p.error(
                Input::ExpressService,
                Some(&service),
                "is set together with `app-runner-service`; one deploy step deploys to one target",
                "Use one step per target (a matrix works: see examples/frontend.yml)",
            );
        }
        if service.starts_with("arn:") && !is_service_arn(&service) {
            p.error(
                Input::ExpressService,
                Some(&service),
                "is an ARN but not an ECS service ARN (`arn:aws:ecs:<region>:<account>:service/<cluster>/<name>`)",
                "Give the service's ARN as ECS shows it, or its name (with `cluster` when it is not in `default`)",
            );
        } else if !service.starts_with("arn:") && !valid_name(&service) {
            p.error(
                Input::ExpressService,
                Some(&service),
                "is not a valid ECS service name (1 to 255 letters, digits, `-` and `_`)",
                "Give the Express service's name (e.g. `express-service: frontend`) or its ARN",
            );
        }
        let cluster_given = given.cluster.is_some();
        let cluster = given.cluster.unwrap_or_else(|| "default".into());
        if service.starts_with("arn:") && cluster_given {
            let in_arn = service.split('/').nth(1).unwrap_or_default();
            let short = cluster.rsplit('/').next().unwrap_or(&cluster);
            if in_arn != short {
                p.error(
                    Input::Cluster,
                    Some(&cluster),
                    format!("names another cluster than the ARN in `express-service` (`{in_arn}`)"),
                    "Remove `cluster` (an ARN names its cluster) or make them agree",
                );
            }
        }
        let i = super::image_target::ImageInputs::parse(
            p,
            rollback_to,
            "an ECS Express deploy",
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/frontend@sha256:…",
            "e.g. `wait-timeout: 20m` (an Express canary bakes about 6 minutes)",
        );
        Self {
            aws,
            service,
            cluster,
            image: i.image,
            health_url: i.health_url,
            health_status: i.health_status,
            health: i.health,
            timing: i.timing,
            rollback: i.rollback,
            registry: None,
        }
    }

    /// The service's ARN: as given, or built from the name, `cluster`, the region and the account.
    #[must_use]
    pub fn service_arn(&self, partition: &str, region: &str, account: &str) -> String {
        if self.service.starts_with("arn:") {
            return self.service.clone();
        }
        let cluster = self.cluster.rsplit('/').next().unwrap_or(&self.cluster);
        format!(
            "arn:{partition}:ecs:{region}:{account}:service/{cluster}/{}",
            self.service
        )
    }
}

fn is_service_arn(s: &str) -> bool {
    crate::arn::Arn::parse(s).is_some_and(|a| {
        a.service == "ecs"
            && a.resource
                .strip_prefix("service/")
                .is_some_and(|r| r.split('/').count() == 2 && r.split('/').all(valid_name))
    })
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// ECS Express problems.
#[derive(Debug, thiserror::Error)]
pub enum ExpressError {
    /// An ECS call failed: the code and status stay typed.
    #[error("{0}")]
    Api(CallError),
    #[error(
        "input `express-service`: `{arn}` is not an ECS Express service in this account and region (ECS answered {code}: {message})"
    )]
    NotFound {
        arn: String,
        code: String,
        message: String,
    },
    #[error("ECS Express service `{service}` cannot be deployed: {reason}")]
    NotDeployable { service: String, reason: String },
}

impl crate::modes::runtime::Failure for ExpressError {
    fn is_config(&self) -> bool {
        !matches!(self, ExpressError::Api(_))
    }
    fn hint(&self) -> Option<String> {
        Some(match self {
            ExpressError::Api(c) if c.is_access_denied() => "The role needs ecs:DescribeExpressGatewayService, ecs:UpdateExpressGatewayService and ecs:ListServiceDeployments (and iam:PassRole for the service's execution and task roles)".into(),
            ExpressError::Api(_) => "Check `express-service`, `cluster` and `aws-region`".into(),
            ExpressError::NotFound { .. } => "Name an Express service (created with CreateExpressGatewayService) and its cluster when it is not `default`; a standard ECS service is deployed with `cluster` + `service`".into(),
            ExpressError::NotDeployable { .. } => "Deploy an ACTIVE Express service when no service deployment is running (wait for it in the ECS console, or re-run)".into(),
        })
    }
}

/// The service as DescribeExpressGatewayService shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Service {
    pub arn: String,
    pub name: String,
    pub cluster: String,
    /// `ACTIVE`, `DRAINING`, `INACTIVE`.
    pub status: String,
    /// The primary container of the newest active configuration (sent back with only the image
    /// changed).
    pub container: Option<ExpressGatewayContainer>,
    pub revision: String,
    /// Number of active configurations (more than one while a deployment shifts traffic).
    pub active: usize,
    /// The endpoint of its ingress path (PUBLIC preferred), as ECS gives it.
    pub endpoint: Option<String>,
    pub health_check_path: Option<String>,
}

impl Service {
    #[must_use]
    pub fn image(&self) -> &str {
        self.container.as_ref().map_or("", |c| c.image.as_str())
    }

    /// `https://<endpoint>` (an endpoint given with a scheme is kept as is).
    #[must_use]
    pub fn url(&self) -> Option<String> {
        self.endpoint.as_deref().map(|e| {
            if e.starts_with("http://") || e.starts_with("https://") {
                e.trim_end_matches('/').to_owned()
            } else {
                format!("https://{}", e.trim_end_matches('/'))
            }
        })
    }

    /// The URL that is checked: `health-url`, else the service URL with its ALB health-check path.
    #[must_use]
    pub fn health_url(&self, configured: Option<&url::Url>) -> Option<String> {
        if let Some(u) = configured {
            return Some(u.to_string());
        }
        let path = self.health_check_path.as_deref().unwrap_or("/");
        let path = if path.starts_with('/') {
            path.to_owned()
        } else {
            format!("/{path}")
        };
        self.url().map(|u| format!("{u}{path}"))
    }
}

fn newest(
    configs: &[ExpressGatewayServiceConfiguration],
) -> Option<&ExpressGatewayServiceConfiguration> {
    configs.iter().max_by(|a, b| {
        let t = |c: &ExpressGatewayServiceConfiguration| {
            c.created_at().map_or(0.0, |d| d.as_secs_f64())
        };
        t(a).total_cmp(&t(b))
    })
}

/// The ECS calls of an Express deploy, counted.
#[derive(Debug)]
pub struct Api {
    client: Client,
    pub calls: std::sync::Mutex<u32>,
}

/// A deployment as ListServiceDeployments shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub arn: String,
    pub status: String,
    pub reason: Option<String>,
}

const RUNNING: [ServiceDeploymentStatus; 5] = [
    ServiceDeploymentStatus::Pending,
    ServiceDeploymentStatus::InProgress,
    ServiceDeploymentStatus::RollbackRequested,
    ServiceDeploymentStatus::RollbackInProgress,
    ServiceDeploymentStatus::StopRequested,
];

impl Api {
    #[must_use]
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        Self {
            client: super::clients::ecs(sdk),
            calls: std::sync::Mutex::new(0),
        }
    }

    fn count(&self) {
        if let Ok(mut n) = self.calls.lock() {
            *n += 1;
        }
    }

    /// How many calls were made so far.
    #[must_use]
    pub fn calls(&self) -> u32 {
        self.calls.lock().map(|n| *n).unwrap_or_default()
    }

    pub async fn describe(&self, arn: &str) -> Result<Service, ExpressError> {
        self.count();
        let out = self
            .client
            .describe_express_gateway_service()
            .service_arn(arn)
            .send()
            .await
            .map_err(|e| match e.code() {
                Some(
                    c @ ("ServiceNotFoundException"
                    | "ClusterNotFoundException"
                    | "InvalidParameterException"),
                ) => ExpressError::NotFound {
                    arn: arn.to_owned(),
                    code: c.to_owned(),
                    message: e.message().unwrap_or_default().to_owned(),
                },
                _ => ExpressError::Api(CallError::from_sdk(
                    "ECS",
                    "DescribeExpressGatewayService",
                    arn,
                    &e,
                )),
            })?;
        let Some(s) = out.service() else {
            return Err(ExpressError::NotDeployable {
                service: arn.to_owned(),
                reason: "DescribeExpressGatewayService returned no service".into(),
            });
        };
        let config = newest(s.active_configurations());
        let ingress = config.map(ExpressGatewayServiceConfiguration::ingress_paths);
        let endpoint = ingress.and_then(|paths| {
            paths
                .iter()
                .find(|p| p.access_type() == &AccessType::Public)
                .or_else(|| paths.first())
                .map(|p| p.endpoint().to_owned())
        });
        Ok(Service {
            arn: s.service_arn().unwrap_or(arn).to_owned(),
            name: s.service_name().map_or_else(
                || arn.rsplit('/').next().unwrap_or(arn).to_owned(),
                str::to_owned,
            ),
            cluster: s.cluster().unwrap_or_default().to_owned(),
            status: s
                .status()
                .and_then(|st| st.status_code())
                .map_or_else(|| "UNKNOWN".into(), |c| c.as_str().to_owned()),
            container: config.and_then(|c| c.primary_container().cloned()),
            revision: config
                .and_then(|c| c.service_revision_arn())
                .unwrap_or_default()
                .to_owned(),
            active: s.active_configurations().len(),
            endpoint,
            health_check_path: config
                .and_then(|c| c.health_check_path())
                .map(str::to_owned),
        })
    }

    /// The service's deployments, newest pages first as ECS returns them; `running` keeps only those
    /// that have not ended; `since` keeps those created after it.
    pub async fn deployments(
        &self,
        svc: &Service,
        running: bool,
        since: Option<aws_smithy_types::DateTime>,
    ) -> Result<Vec<(Seen, String)>, ExpressError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            self.count();
            let mut req = self
                .client
                .list_service_deployments()
                .service(&svc.arn)
                .set_next_token(token.clone());
            if !svc.cluster.is_empty() {
                req = req.cluster(&svc.cluster);
            }
            if running {
                req = req.set_status(Some(RUNNING.to_vec()));
            }
            if let Some(t) = since {
                req = req.created_at(CreatedAt::builder().after(t).build());
            }
            let page = req.send().await.map_err(|e| {
                ExpressError::Api(CallError::from_sdk(
                    "ECS",
                    "ListServiceDeployments",
                    &svc.arn,
                    &e,
                ))
            })?;
            for d in page.service_deployments() {
                out.push((
                    Seen {
                        arn: d.service_deployment_arn().unwrap_or_default().to_owned(),
                        status: d
                            .status()
                            .map_or_else(|| "UNKNOWN".into(), |s| s.as_str().to_owned()),
                        reason: d.status_reason().map(str::to_owned),
                    },
                    d.target_service_revision_arn()
                        .unwrap_or_default()
                        .to_owned(),
                ));
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => return Ok(out),
            }
        }
    }

    /// UpdateExpressGatewayService with `container` (the whole primary container). Returns the target
    /// service revision ARN and when ECS says the update happened.
    pub async fn update(
        &self,
        svc: &Service,
        container: ExpressGatewayContainer,
    ) -> Result<(String, Option<aws_smithy_types::DateTime>), ExpressError> {
        self.count();
        let out = self
            .client
            .update_express_gateway_service()
            .service_arn(&svc.arn)
            .primary_container(container)
            .send()
            .await
            .map_err(|e| {
                ExpressError::Api(CallError::from_sdk(
                    "ECS",
                    "UpdateExpressGatewayService",
                    &svc.arn,
                    &e,
                ))
            })?;
        let updated = out.service();
        let revision = updated
            .and_then(|s| s.target_configuration())
            .and_then(|c| c.service_revision_arn())
            .map(str::to_owned)
            .ok_or_else(|| ExpressError::NotDeployable {
                service: svc.name.clone(),
                reason: "UpdateExpressGatewayService returned no target service revision".into(),
            })?;
        Ok((revision, updated.and_then(|s| s.updated_at()).copied()))
    }
}

/// How a service deployment ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    Succeeded,
    /// `ROLLBACK_SUCCESSFUL`, `ROLLBACK_FAILED` or `STOPPED` (with ECS's reason).
    Failed {
        status: String,
        reason: Option<String>,
    },
    TimedOut {
        last_status: String,
        budget: Duration,
    },
    Cancelled,
}

impl End {
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            End::Succeeded => "succeeded".into(),
            End::Failed {
                status,
                reason: Some(r),
            } => format!("ended {status} ({})", r.trim_end_matches('.')),
            End::Failed { status, .. } => format!("ended {status}"),
            End::TimedOut {
                last_status,
                budget,
            } => format!(
                "still {last_status} after {}, the budget set by the input `wait-timeout`",
                fmt_budget(*budget)
            ),
            End::Cancelled => "cancelled while the deployment ran".into(),
        }
    }
}

/// What is being followed: the service deployment whose target is `revision`.
struct Follow<'a> {
    api: &'a Api,
    svc: &'a Service,
    revision: &'a str,
    since: Option<aws_smithy_types::DateTime>,
    timing: Timing,
    cancel: &'a Cancel,
}

/// Follows the deployment of `revision` until it ends, one ListServiceDeployments a second
/// ([`super::poll`], the end seen within 1 s). Returns
/// the end and the deployment's ARN once ECS listed it.
async fn follow(f: Follow<'_>, polls: &mut u32) -> Result<(End, Option<String>), ExpressError> {
    let started = Instant::now();
    let mut poller = f.timing.poller();
    let mut last = String::from("PENDING");
    let mut arn = None;
    loop {
        if f.cancel.is_cancelled() {
            return Ok((End::Cancelled, arn));
        }
        *polls += 1;
        poller.started();
        let list = match f.api.deployments(f.svc, false, f.since).await {
            Ok(list) => list,
            // The signal interrupted this poll (the SDK call ends with a dispatch failure): that is the
            // cancellation, not an ECS failure.
            Err(_) if f.cancel.is_cancelled() => return Ok((End::Cancelled, arn)),
            Err(e) => return Err(e),
        };
        if let Some((seen, _)) = list.into_iter().find(|(_, target)| target == f.revision) {
            if arn.is_none() {
                tracing::info!("ECS Express: service deployment {}", seen.arn);
                arn = Some(seen.arn.clone());
            }
            if seen.status != last {
                tracing::info!("ECS Express deployment {}: {}", seen.arn, seen.status);
                last.clone_from(&seen.status);
            }
            match last.as_str() {
                "SUCCESSFUL" => return Ok((End::Succeeded, arn)),
                "ROLLBACK_SUCCESSFUL" | "ROLLBACK_FAILED" | "STOPPED" => {
                    return Ok((
                        End::Failed {
                            status: last.clone(),
                            reason: seen.reason,
                        },
                        arn,
                    ));
                }
                _ => {}
            }
        }
        if started.elapsed() >= f.timing.timeout {
            return Ok((
                End::TimedOut {
                    last_status: last,
                    budget: f.timing.timeout,
                },
                arn,
            ));
        }
        if !poller.wait(f.cancel).await {
            return Ok((End::Cancelled, arn));
        }
    }
}

/// What happened to the previous image after a failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rollback {
    /// ECS rolled the deployment back itself (ROLLBACK_SUCCESSFUL) and the previous image is configured.
    ByEcs,
    /// We updated back and followed that deployment.
    Ours {
        revision: String,
        deployment: Option<String>,
        end: End,
    },
    /// Cancelled: requested, not followed.
    Requested { revision: String },
    /// `rollback: none`.
    Disabled,
    /// Not possible (the update back was refused or failed).
    Impossible(String),
}

/// The result of an Express deploy.
#[derive(Debug)]
pub struct Outcome {
    /// The service before the deploy.
    pub service: Service,
    /// The target revision UpdateExpressGatewayService created.
    pub revision: Option<String>,
    /// The service deployment ECS ran for it.
    pub deployment: Option<String>,
    pub end: Result<End, String>,
    /// `Some(Ok(passes))` / `Some(Err(why))` once the deployment succeeded.
    pub health: Option<Result<u32, String>>,
    pub health_url: String,
    pub rollback: Option<Rollback>,
    pub polls: u32,
    pub api_calls: u32,
    /// When the step saw the deployment's end (benchmarks measure from the endpoint's answer).
    pub ended_at: Option<Instant>,
}

impl Outcome {
    #[must_use]
    pub fn succeeded(&self) -> bool {
        matches!(self.end, Ok(End::Succeeded)) && matches!(self.health, Some(Ok(_)))
    }
}

/// The service as it is before the deploy, checked deployable: ACTIVE, an active configuration with a
/// primary container, a URL to check, and no deployment running.
pub async fn prepare(
    api: &Api,
    arn: &str,
    cfg: &Config,
) -> Result<(Service, String), ExpressError> {
    let svc = api.describe(arn).await?;
    let refuse = |reason: String| ExpressError::NotDeployable {
        service: svc.name.clone(),
        reason,
    };
    if svc.status != "ACTIVE" {
        return Err(refuse(format!(
            "its status is {} (only an ACTIVE service is updated)",
            svc.status
        )));
    }
    if svc.container.is_none() {
        return Err(refuse(
            "it has no active configuration with a primary container".into(),
        ));
    }
    let Some(health_url) = svc.health_url(cfg.health_url.as_ref()) else {
        return Err(refuse(
            "its active configuration has no ingress endpoint to check; set `health-url`".into(),
        ));
    };
    Ok((svc, health_url))
}

/// What a deploy acts on, found by read-only calls ([`prepare`], and no service deployment running).
/// Nothing is written (no update, no GitHub Deployment) before the plan holds.
pub struct Plan {
    api: Api,
    pub service: Service,
    pub health_url: String,
}

/// The read-only plan of a deploy: [`prepare`], then refuse a service whose deployment still runs.
/// `arn` is [`Config::service_arn`].
pub async fn plan(
    sdk: &aws_config::SdkConfig,
    cfg: &Config,
    arn: &str,
) -> Result<Plan, ExpressError> {
    let api = Api::new(sdk);
    let (svc, health_url) = prepare(&api, arn, cfg).await?;
    let running = api.deployments(&svc, true, None).await?;
    if let Some((d, _)) = running.first() {
        return Err(ExpressError::NotDeployable {
            service: svc.name.clone(),
            reason: format!(
                "service deployment `{}` is {}; the image it runs is not settled until it ends",
                d.arn, d.status
            ),
        });
    }
    Ok(Plan {
        api,
        service: svc,
        health_url,
    })
}

/// The deploy proper: [`plan`], then [`execute`]. `arn` is [`Config::service_arn`].
pub async fn deploy(
    sdk: &aws_config::SdkConfig,
    http: &reqwest::Client,
    cfg: &Config,
    arn: &str,
    cancel: &Cancel,
) -> Result<Outcome, ExpressError> {
    let p = plan(sdk, cfg, arn).await?;
    execute(p, http, cfg, cancel).await
}

/// A held plan carried out: update, follow, health, roll back.
pub async fn execute(
    plan: Plan,
    http: &reqwest::Client,
    cfg: &Config,
    cancel: &Cancel,
) -> Result<Outcome, ExpressError> {
    let Plan {
        api,
        service: svc,
        health_url,
    } = plan;
    let mut out = Outcome {
        service: svc.clone(),
        revision: None,
        deployment: None,
        end: Err(String::new()),
        health: None,
        health_url: health_url.clone(),
        rollback: None,
        polls: 0,
        api_calls: 0,
        ended_at: None,
    };
    if cancel.is_cancelled() {
        out.end = Ok(End::Cancelled);
        return Ok(finish(out, &api));
    }
    let Some(mut container) = svc.container.clone() else {
        return Err(ExpressError::NotDeployable {
            service: svc.name.clone(),
            reason: "it has no primary container".into(),
        });
    };
    container.image.clone_from(&cfg.image);
    let (revision, at) = api.update(&svc, container).await?;
    tracing::info!("UpdateExpressGatewayService created revision {revision}");
    out.revision = Some(revision.clone());
    let followed = follow(
        Follow {
            api: &api,
            svc: &svc,
            revision: &revision,
            since: Some(since(at)),
            timing: cfg.timing,
            cancel,
        },
        &mut out.polls,
    )
    .await;
    out.ended_at = Some(Instant::now());
    match followed {
        Ok((end, dep)) => {
            out.end = Ok(end);
            out.deployment = dep;
        }
        Err(e) => out.end = Err(e.to_string()),
    }
    (out.health, out.rollback) = super::image_target::health_or_roll_back(
        matches!(out.end, Ok(End::Succeeded)),
        http,
        (&health_url, cfg.health_status, cfg.health),
        cancel,
        || roll_back(&api, cfg, &svc, &out.end, cancel),
    )
    .await;
    Ok(finish(out, &api))
}

/// The `createdAt` filter for the deployment of an update: a minute before ECS's time of the update (or
/// ten minutes before ours, when ECS gave none), so clock skew cannot hide it.
fn since(at: Option<aws_smithy_types::DateTime>) -> aws_smithy_types::DateTime {
    match at {
        Some(t) => aws_smithy_types::DateTime::from_secs(t.secs() - 60),
        None => aws_smithy_types::DateTime::from(
            SystemTime::now()
                .checked_sub(Duration::from_secs(600))
                .unwrap_or(SystemTime::UNIX_EPOCH),
        ),
    }
}

fn finish(mut out: Outcome, api: &Api) -> Outcome {
    out.api_calls = api.calls();
    out
}

async fn roll_back(
    api: &Api,
    cfg: &Config,
    before: &Service,
    end: &Result<End, String>,
    cancel: &Cancel,
) -> Rollback {
    if !cfg.rollback {
        return Rollback::Disabled;
    }
    let Some(previous) = before.container.clone() else {
        return Rollback::Impossible("the previous primary container is unknown".into());
    };
    // ECS's own rollback (the canary's alarm): check that the previous image is configured again.
    if !cancel.is_cancelled()
        && matches!(end, Ok(End::Failed { status, .. }) if status == "ROLLBACK_SUCCESSFUL")
    {
        match api.describe(&before.arn).await {
            Ok(now) if now.image() == before.image() => return Rollback::ByEcs,
            Ok(_) => {}
            Err(e) => {
                return Rollback::Impossible(format!("DescribeExpressGatewayService failed: {e}"));
            }
        }
    }
    // On cancellation the update back is documented clean-up (allowed until `MODE_CLEANUP` after the
    // signal) and is not followed.
    let started =
        crate::cancel::cleanup(crate::cancel::MODE_CLEANUP, api.update(before, previous)).await;
    let (revision, at) = match started {
        Ok(x) => x,
        Err(e) => return Rollback::Impossible(format!("UpdateExpressGatewayService failed: {e}")),
    };
    tracing::info!("rollback: UpdateExpressGatewayService created revision {revision}");
    if cancel.is_cancelled() {
        return Rollback::Requested { revision };
    }
    let mut polls = 0;
    let followed = follow(
        Follow {
            api,
            svc: before,
            revision: &revision,
            since: Some(since(at)),
            timing: cfg.timing,
            cancel,
        },
        &mut polls,
    )
    .await;
    match followed {
        Ok((end, deployment)) => Rollback::Ours {
            revision,
            deployment,
            end,
        },
        Err(e) => Rollback::Impossible(format!("could not follow the rollback: {e}")),
    }
}

fn rollback_text(r: &Rollback, previous: &str) -> String {
    match r {
        Rollback::ByEcs => format!("ECS rolled back to the previous image `{previous}` itself"),
        Rollback::Ours {
            deployment, end, ..
        } => format!(
            "rolled back to `{previous}` (deployment {} {})",
            deployment
                .as_deref()
                .map_or_else(|| "not listed".into(), |d| format!("`{}`", short(d))),
            end.describe()
        ),
        Rollback::Requested { revision } => format!(
            "rollback to `{previous}` requested (revision `{}`), not waited for",
            short(revision)
        ),
        Rollback::Disabled => "not rolled back (`rollback: none`)".into(),
        Rollback::Impossible(why) => format!("not rolled back: {why}"),
    }
}

/// The last path segment of an ARN (`…/service-deployment/c/s/abc` → `abc`).
fn short(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// The report of an Express deploy.
#[must_use]
pub fn report(cfg: &Config, o: &Outcome, cancelled: bool) -> Report {
    let ok = o.succeeded();
    let name = &o.service.name;
    let result = match (&o.end, &o.health) {
        (Ok(End::Succeeded), Some(Ok(n))) => format!(
            "✅ deployment succeeded; `{}` answered {} {n} times in a row",
            o.health_url, cfg.health_status
        ),
        (Ok(End::Succeeded), Some(Err(why))) => format!("❌ deployment succeeded, but {why}"),
        (Ok(e), _) => format!("❌ deployment {}", e.describe()),
        (Err(e), _) => format!("❌ {e}"),
    };
    let mut s = format!("ECS Express deploy of {}.\n\n", code_span(name));
    s.push_str(&table(
        &["service", "result", "image", "deployment", "rollback"],
        &[vec![
            code_span(name),
            sentence(&result),
            format!(
                "{} → {}",
                code_span(o.service.image()),
                code_span(&cfg.image)
            ),
            o.deployment
                .as_deref()
                .map_or_else(|| "—".into(), |d| code_span(short(d))),
            o.rollback.as_ref().map_or_else(
                || "—".into(),
                |r| sentence(&rollback_text(r, o.service.image())),
            ),
        ]],
    ));
    let url = o.service.url().unwrap_or_else(|| o.health_url.clone());
    s.push_str(&format!(
        "\nService URL: {} — {} deployment poll(s), {} ECS API call(s).\n",
        text(&url),
        o.polls,
        o.api_calls
    ));
    let mut r = super::image_target::image_target_report(
        &format!("{name} (ECS Express)"),
        ok,
        cancelled,
        s,
    );
    r.output("service-url", url);
    if let Some(d) = &o.deployment {
        r.output("deployment-id", d.clone());
    }
    if !ok {
        let next = match &o.end {
            _ if cancelled => "The runner cancelled the step; check the service's deployments in the ECS console before deploying again.".to_owned(),
            Ok(End::TimedOut { budget, .. }) => format!(
                "Look at the service deployment in the ECS console (an Express canary bakes for minutes); raise the input `wait-timeout` (now {}) if it needs longer, then deploy again.",
                fmt_budget(*budget)
            ),
            Ok(End::Failed { .. }) => "Look at the service deployment and the tasks' logs in the ECS console (the image must start, pass the load balancer's health check and keep the 4xx/5xx rate low during the canary), fix it and deploy again.".to_owned(),
            Ok(End::Succeeded) => format!(
                "Fix what makes `{}` answer otherwise than {} (or point `health-url` at the right path) and deploy again.",
                o.health_url,
                cfg.health_status
            ),
            _ => "Fix the ECS error above and deploy again.".to_owned(),
        };
        let rollback = o
            .rollback
            .as_ref()
            .map(|r| rollback_text(r, o.service.image()));
        super::image_target::fail(&mut r, "ECS Express", name, &result, rollback, next);
    }
    r
}

/// What is live on an ECS Express target: the image the service (`arn`) runs, read at the first release
/// checked.
pub struct Live {
    image: super::image_target::LiveImage<Api>,
    arn: String,
}

impl ImageTarget for Config {
    const KIND: &'static str = "ECS Express";
    type Live = Live;

    fn aws(&self) -> &AwsInputs {
        &self.aws
    }

    fn registry(&self) -> Option<&str> {
        self.registry.as_deref()
    }

    fn service(&self) -> &str {
        &self.service
    }

    fn service_name(&self, aws: &Connected) -> String {
        let arn = arn_of(aws, self);
        arn.rsplit('/').next().unwrap_or(&self.service).to_owned()
    }

    fn recorded(recorded: &deployments::Target) -> Option<(&String, &String)> {
        match recorded {
            deployments::Target::EcsExpress { service, image } => Some((service, image)),
            _ => None,
        }
    }

    fn is_this(&self, aws: &Connected, service: &str) -> bool {
        same_express_service(service, &arn_of(aws, self))
    }

    /// The same service name, in any cluster.
    fn adopts(&self, aws: &Connected, service: &str) -> bool {
        let name = |s: &str| s.rsplit('/').next().map(str::to_owned);
        name(service) == name(&arn_of(aws, self))
    }

    fn release(&self, aws: &Connected, image: String) -> deployments::Target {
        deployments::Target::EcsExpress {
            service: arn_of(aws, self),
            image,
        }
    }

    fn observe(&self, _rt: &Runtime<'_>, aws: &Connected) -> Result<Live, ModeError> {
        Ok(Live {
            image: super::image_target::LiveImage::new(Api::new(&aws.sdk)),
            arn: arn_of(aws, self),
        })
    }

    async fn running<'a>(&'a self, live: &'a Live) -> Result<&'a str, String> {
        live.image
            .running(
                |api| async move { api.describe(&live.arn).await.map(|s| s.image().to_owned()) },
            )
            .await
    }

    fn with_image(&self, image: &str) -> Self {
        let mut cfg = self.clone();
        image.clone_into(&mut cfg.image);
        cfg
    }

    async fn run(
        &self,
        rt: &Runtime<'_>,
        aws: &Connected,
        restore: Option<&Restore>,
    ) -> Result<Report, ModeError> {
        let arn = arn_of(aws, self);
        let http = super::health::health_client(rt)?;
        if let Some(e) = &aws.environment {
            super::image::warn_production_by_tag(rt, e, &self.image);
        }
        if rt.common.dry_run {
            let api = Api::new(&aws.sdk);
            let (svc, health_url) = prepare(&api, &arn, self).await?;
            let line = format!(
                "plan: would UpdateExpressGatewayService `{}` from `{}` to `{}` (the rest of the primary container unchanged), follow its service deployment, check `{health_url}` for {}, and {} on failure",
                svc.name,
                svc.image(),
                self.image,
                self.health_status,
                if self.rollback {
                    format!("roll back to `{}`", svc.image())
                } else {
                    "not roll back".into()
                }
            );
            rt.cmds.line(&line);
            return Ok(super::image_target::dry_run_report(
                "ECS Express",
                &svc.name,
                &sentence(line.trim_start_matches("plan: ")),
                svc.url(),
            ));
        }
        // The read-only plan first: a missing, inactive or busy service is refused before anything is
        // written, a GitHub Deployment included (it would record a target nothing was deployed to).
        let planned = plan(&aws.sdk, self, &arn).await?;
        let environment = Target::environment(self, aws);
        let what = format!("ECS Express {}", short(&arn));
        // Recorded before the update: what `rollback-to` puts back later.
        let release = super::record::describe(restore, what, || {
            Some(self.release(aws, self.image.clone()))
        });
        super::record::recorded(
            rt,
            aws,
            &environment,
            release,
            execute(planned, &http, self, &rt.cancel),
            |o| (o.succeeded(), o.service.url()),
            |o| report(self, o, rt.cancel.is_cancelled()),
        )
        .await
    }
}

/// ECS Express services are the same when their ARNs are (both sides are ARNs: the step's name is
/// completed with `cluster`, the region and the account before it is compared).
#[must_use]
pub fn same_express_service(recorded: &str, arn: &str) -> bool {
    recorded == arn
}

/// The service's ARN in the connected account and region ([`Config::service_arn`]).
#[must_use]
pub fn arn_of(aws: &Connected, cfg: &Config) -> String {
    let partition = aws
        .arn
        .split(':')
        .nth(1)
        .filter(|p| !p.is_empty())
        .unwrap_or("aws");
    cfg.service_arn(partition, &aws.region, &aws.account_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn express_services_are_the_same_when_their_arns_are() {
        let arn = "arn:aws:ecs:eu-west-1:123456789012:service/default/frontend";
        assert!(same_express_service(arn, arn));
        assert!(!same_express_service(
            arn,
            "arn:aws:ecs:eu-west-1:123456789012:service/other/frontend"
        ));
    }
}
