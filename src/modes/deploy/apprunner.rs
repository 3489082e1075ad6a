//! App Runner deploy: point an image-based service at the new image, follow the operation App Runner
//! starts to its end, check the service URL, and on failure put the previous image back.
//!
//! App Runner is spoken through [`crate::aws::json_rpc`] (awsJson1_0, `X-Amz-Target: AppRunner.<Op>`):
//! five read/write calls do not justify a generated SDK crate in the binary. Calls: ListServices (only to
//! resolve a name), DescribeService, UpdateService, ListOperations (the operation's status; the poll).

use crate::inputs::Input;
use std::time::{Duration, Instant};

use serde_json::Value;

pub use super::health::{HealthTiming, check_health};
use super::image_target::ImageTarget;
use super::poll::{Timing, fmt_budget};
use super::record::Restore;
use super::target::Target;
use crate::aws::call::CallError;
use crate::aws::json_rpc::{self, JsonRpc};
use crate::aws::{AwsInputs, Connected};
use crate::cancel::Cancel;
use crate::github::deployments;
use crate::inputs::Inputs;
use crate::modes::runtime::{ModeError, Runtime};
use crate::report::Report;
use crate::report::markdown::table;

/// Inputs of an App Runner deploy.
#[derive(Clone, Debug)]
pub struct Config {
    pub aws: AwsInputs,
    /// `app-runner-service`: ARN or name.
    pub service: String,
    pub image: String,
    /// `health-url`; default `https://<ServiceUrl>/`.
    pub health_url: Option<url::Url>,
    pub health_status: u16,
    pub health: HealthTiming,
    /// Polls of the operation; `timeout` is `wait-timeout`.
    pub timing: Timing,
    /// `rollback: auto` (true) or `none`.
    pub rollback: bool,
    /// `registry` (with `promote-from` from another account): this account's registry address, instead
    /// of the `proxyEndpoint` ECR returns; set by `deploy::Config::parse`.
    pub registry: Option<String>,
}

impl Config {
    /// Reads the App Runner inputs (called when `app-runner-service` is set), collecting every error;
    /// `restoring` when `rollback-to` is given.
    pub fn parse(p: &mut Inputs<'_>, service: String, restoring: bool) -> Self {
        let aws = AwsInputs::parse(p);
        if service.starts_with("arn:") && !is_service_arn(&service) {
            p.error(
                Input::AppRunnerService,
                Some(&service),
                "is an ARN but not an App Runner service ARN (`arn:aws:apprunner:<region>:<12-digit account>:service/<name>/<32-hex id>`)",
                "Give the service's ARN as App Runner shows it (`ServiceArn`), or its name (e.g. `app-runner-service: frontend`)",
            );
        } else if !service.starts_with("arn:") && !valid_name(&service) {
            p.error(
                Input::AppRunnerService,
                Some(&service),
                "is not a valid App Runner service name (4 to 40 letters, digits, `-` and `_`, starting with a letter or digit)",
                "Give the App Runner service's name (e.g. `app-runner-service: frontend`) or its ARN",
            );
        }
        let i = super::image_target::ImageInputs::parse(
            p,
            restoring,
            "an App Runner deploy",
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/web@sha256:…",
            "e.g. `wait-timeout: 15m`",
        );
        Self {
            aws,
            service,
            image: i.image,
            health_url: i.health_url,
            health_status: i.health_status,
            health: i.health,
            timing: i.timing,
            rollback: i.rollback,
            registry: None,
        }
    }
}

/// An App Runner service name: `[A-Za-z0-9][A-Za-z0-9-_]{3,39}` (App Runner's `ServiceName` pattern).
fn valid_name(s: &str) -> bool {
    (4..=40).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// An App Runner service ARN: `arn:<partition>:apprunner:<region>:<12-digit account>:service/<name>/<id>`,
/// the id 32 lowercase hex digits (App Runner's `ServiceId`).
fn is_service_arn(s: &str) -> bool {
    let Some(crate::arn::Arn {
        partition,
        service,
        region,
        account,
        resource,
    }) = crate::arn::Arn::parse(s)
    else {
        return false;
    };
    let label = |t: &str| {
        !t.is_empty()
            && !t.starts_with('-')
            && !t.ends_with('-')
            && t.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    let Some(rest) = resource.strip_prefix("service/") else {
        return false;
    };
    let Some((name, id)) = rest.split_once('/') else {
        return false;
    };
    (partition == "aws" || partition.starts_with("aws-") && label(partition))
        && service == "apprunner"
        && label(region)
        && account.len() == 12
        && account.chars().all(|c| c.is_ascii_digit())
        && valid_name(name)
        && id.len() == 32
        && id
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
}

/// App Runner problems.
#[derive(Debug, thiserror::Error)]
pub enum AppRunnerError {
    #[error(transparent)]
    Api(#[from] CallError),
    #[error(
        "input `app-runner-service`: no App Runner service named `{0}` in this account and region"
    )]
    NotFound(String),
    #[error("App Runner service `{service}` cannot be deployed: {reason}")]
    NotDeployable { service: String, reason: String },
}

/// The service as DescribeService shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Service {
    pub arn: String,
    pub name: String,
    pub url: String,
    pub status: String,
    pub image: String,
    /// The whole `SourceConfiguration`, sent back with only the image changed.
    pub source: Value,
}

fn service_of(v: &Value) -> Option<Service> {
    let s = v.get("Service")?;
    let text = |k: &str| {
        s.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let source = s.get("SourceConfiguration").cloned().unwrap_or(Value::Null);
    Some(Service {
        arn: text("ServiceArn"),
        name: text("ServiceName"),
        url: text("ServiceUrl"),
        status: text("Status"),
        image: source
            .pointer("/ImageRepository/ImageIdentifier")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        source,
    })
}

/// The App Runner calls this deploy makes.
#[derive(Debug)]
pub struct Api {
    rpc: JsonRpc,
    pub calls: std::sync::Mutex<u32>,
}

impl Api {
    #[must_use]
    pub fn new(sdk: &aws_config::SdkConfig, http: reqwest::Client) -> Self {
        Self {
            rpc: JsonRpc::new(sdk, json_rpc::APP_RUNNER, http),
            calls: std::sync::Mutex::new(0),
        }
    }

    async fn call(&self, op: &'static str, body: &Value) -> Result<Value, CallError> {
        if let Ok(mut n) = self.calls.lock() {
            *n += 1;
        }
        self.rpc.call(op, body).await
    }

    /// The ARN of `service` (an ARN is taken as is).
    pub async fn resolve(&self, service: &str) -> Result<String, AppRunnerError> {
        if service.starts_with("arn:") {
            return Ok(service.to_owned());
        }
        let mut token: Option<String> = None;
        loop {
            let mut body = serde_json::json!({"MaxResults": 20});
            if let Some(t) = &token {
                body["NextToken"] = Value::String(t.clone());
            }
            let page = self.call("ListServices", &body).await?;
            let found = page
                .get("ServiceSummaryList")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|s| s.get("ServiceName").and_then(Value::as_str) == Some(service))
                .and_then(|s| s.get("ServiceArn").and_then(Value::as_str));
            if let Some(arn) = found {
                return Ok(arn.to_owned());
            }
            match page.get("NextToken").and_then(Value::as_str) {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => return Err(AppRunnerError::NotFound(service.to_owned())),
            }
        }
    }

    pub async fn describe(&self, arn: &str) -> Result<Service, AppRunnerError> {
        let v = self
            .call("DescribeService", &serde_json::json!({"ServiceArn": arn}))
            .await?;
        service_of(&v).ok_or_else(|| AppRunnerError::NotDeployable {
            service: arn.to_owned(),
            reason: "DescribeService returned no service".into(),
        })
    }

    /// UpdateService to `image`, everything else of the source configuration unchanged. Returns the
    /// operation id.
    pub async fn update_image(&self, svc: &Service, image: &str) -> Result<String, AppRunnerError> {
        let mut source = svc.source.clone();
        if let Some(repo) = source.get_mut("ImageRepository") {
            repo["ImageIdentifier"] = Value::String(image.to_owned());
        }
        let v = self
            .call(
                "UpdateService",
                &serde_json::json!({"ServiceArn": svc.arn, "SourceConfiguration": source}),
            )
            .await?;
        v.get("OperationId")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| AppRunnerError::NotDeployable {
                service: svc.name.clone(),
                reason: "UpdateService returned no OperationId".into(),
            })
    }

    /// The status of operation `id` (`PENDING`, `IN_PROGRESS`, `SUCCEEDED`, `FAILED`, `ROLLBACK_*`).
    pub async fn operation_status(&self, arn: &str, id: &str) -> Result<String, AppRunnerError> {
        let v = self
            .call(
                "ListOperations",
                &serde_json::json!({"ServiceArn": arn, "MaxResults": 20}),
            )
            .await?;
        Ok(v.get("OperationSummaryList")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|o| o.get("Id").and_then(Value::as_str) == Some(id))
            .and_then(|o| o.get("Status").and_then(Value::as_str))
            .unwrap_or("UNKNOWN")
            .to_owned())
    }
}

/// How an operation ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpEnd {
    Succeeded,
    /// `FAILED` or `ROLLBACK_*`: App Runner kept (or put back) the previous version.
    Failed {
        status: String,
    },
    TimedOut {
        last_status: String,
        budget: Duration,
    },
    Cancelled,
}

impl OpEnd {
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            OpEnd::Succeeded => "succeeded".into(),
            OpEnd::Failed { status } => format!("ended {status}"),
            OpEnd::TimedOut {
                last_status,
                budget,
            } => format!(
                "still {last_status} after {}, the budget set by the input `wait-timeout`",
                fmt_budget(*budget)
            ),
            OpEnd::Cancelled => "cancelled while the operation ran".into(),
        }
    }
}

/// Follows operation `id` until it ends: one ListOperations a second ([`super::poll`]), so the end is
/// seen within 1 s.
pub async fn follow(
    api: &Api,
    arn: &str,
    id: &str,
    timing: Timing,
    cancel: &Cancel,
    polls: &mut u32,
) -> Result<OpEnd, AppRunnerError> {
    let started = Instant::now();
    let mut poller = timing.poller();
    let mut last = String::new();
    loop {
        if cancel.is_cancelled() {
            return Ok(OpEnd::Cancelled);
        }
        *polls += 1;
        poller.started();
        let status = match api.operation_status(arn, id).await {
            Ok(status) => status,
            // The signal interrupted this poll: that is the cancellation, not an App Runner failure.
            Err(_) if cancel.is_cancelled() => return Ok(OpEnd::Cancelled),
            Err(e) => return Err(e),
        };
        if status != last {
            tracing::info!("App Runner operation {id}: {status}");
            last = status;
        }
        match last.as_str() {
            "SUCCEEDED" => return Ok(OpEnd::Succeeded),
            "FAILED" | "ROLLBACK_SUCCEEDED" | "ROLLBACK_FAILED" => {
                return Ok(OpEnd::Failed {
                    status: last.clone(),
                });
            }
            _ => {}
        }
        if started.elapsed() >= timing.timeout {
            return Ok(OpEnd::TimedOut {
                last_status: last,
                budget: timing.timeout,
            });
        }
        if !poller.wait(cancel).await {
            return Ok(OpEnd::Cancelled);
        }
    }
}

/// What happened to the previous image after a failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rollback {
    /// App Runner kept or put back the previous image itself (failed operation).
    ByAppRunner,
    /// We updated back and followed that operation.
    Ours { operation_id: String, end: OpEnd },
    /// Cancelled: requested, not followed.
    Requested { operation_id: String },
    /// `rollback: none`.
    Disabled,
    /// Not possible now (an operation is still running) or refused.
    Impossible(String),
}

/// The result of an App Runner deploy.
#[derive(Debug)]
pub struct Outcome {
    pub service: Service,
    pub operation_id: Option<String>,
    pub end: Result<OpEnd, String>,
    /// `Some(Ok(passes))` / `Some(Err(why))` once the operation succeeded.
    pub health: Option<Result<u32, String>>,
    pub health_url: String,
    pub rollback: Option<Rollback>,
    pub polls: u32,
    pub api_calls: u32,
}

impl Outcome {
    #[must_use]
    pub fn succeeded(&self) -> bool {
        matches!(self.end, Ok(OpEnd::Succeeded)) && matches!(self.health, Some(Ok(_)))
    }
}

/// What a deploy acts on, found by read-only calls: the service exists, is built from an image and is
/// RUNNING. Nothing is written (no UpdateService, no GitHub Deployment) before the plan holds.
pub struct Plan {
    api: Api,
    arn: String,
    pub service: Service,
}

/// The read-only plan of a deploy: resolve the name, DescribeService, and refuse a service App Runner
/// would not update (built from source, or not RUNNING: paused, operation in progress, failed).
pub async fn plan(
    sdk: &aws_config::SdkConfig,
    http: &reqwest::Client,
    cfg: &Config,
) -> Result<Plan, AppRunnerError> {
    let api = Api::new(sdk, http.clone());
    let arn = api.resolve(&cfg.service).await?;
    let svc = api.describe(&arn).await?;
    if svc.source.get("ImageRepository").is_none() {
        return Err(AppRunnerError::NotDeployable {
            service: svc.name,
            reason: "it is built from a source code repository, not an image".into(),
        });
    }
    if svc.status != "RUNNING" {
        return Err(AppRunnerError::NotDeployable {
            service: svc.name,
            reason: format!(
                "its status is {} (App Runner accepts an update only while RUNNING)",
                svc.status
            ),
        });
    }
    Ok(Plan {
        api,
        arn,
        service: svc,
    })
}

/// The deploy proper: [`plan`], then [`execute`].
pub async fn deploy(
    sdk: &aws_config::SdkConfig,
    http: &reqwest::Client,
    cfg: &Config,
    cancel: &Cancel,
) -> Result<Outcome, AppRunnerError> {
    let p = plan(sdk, http, cfg).await?;
    execute(p, http, cfg, cancel).await
}

/// A held plan carried out: update, follow, health, roll back.
pub async fn execute(
    plan: Plan,
    http: &reqwest::Client,
    cfg: &Config,
    cancel: &Cancel,
) -> Result<Outcome, AppRunnerError> {
    let Plan {
        api,
        arn,
        service: svc,
    } = plan;
    let health_url = cfg
        .health_url
        .as_ref()
        .map_or_else(|| format!("https://{}/", svc.url), url::Url::to_string);
    let mut out = Outcome {
        service: svc.clone(),
        operation_id: None,
        end: Err(String::new()),
        health: None,
        health_url: health_url.clone(),
        rollback: None,
        polls: 0,
        api_calls: 0,
    };
    if cancel.is_cancelled() {
        out.end = Ok(OpEnd::Cancelled);
        return Ok(finish(out, &api));
    }
    let op = api.update_image(&svc, &cfg.image).await?;
    tracing::info!("App Runner UpdateService started operation {op}");
    out.operation_id = Some(op.clone());
    out.end = follow(&api, &arn, &op, cfg.timing, cancel, &mut out.polls)
        .await
        .map_err(|e| e.to_string());
    (out.health, out.rollback) = super::image_target::health_or_roll_back(
        matches!(out.end, Ok(OpEnd::Succeeded)),
        http,
        (&health_url, cfg.health_status, cfg.health),
        cancel,
        || roll_back(&api, cfg, &svc, &out.end, cancel),
    )
    .await;
    Ok(finish(out, &api))
}

fn finish(mut out: Outcome, api: &Api) -> Outcome {
    out.api_calls = api.calls.lock().map(|n| *n).unwrap_or_default();
    out
}

async fn roll_back(
    api: &Api,
    cfg: &Config,
    before: &Service,
    end: &Result<OpEnd, String>,
    cancel: &Cancel,
) -> Rollback {
    if !cfg.rollback {
        return Rollback::Disabled;
    }
    let now = match api.describe(&before.arn).await {
        Ok(s) => s,
        Err(e) => return Rollback::Impossible(format!("DescribeService failed: {e}")),
    };
    if now.status == "OPERATION_IN_PROGRESS" {
        return Rollback::Impossible(
            "an operation is still in progress, and App Runner accepts no update until it ends; it keeps serving the previous image until then".into(),
        );
    }
    if matches!(end, Ok(OpEnd::Failed { .. })) && now.image == before.image {
        return Rollback::ByAppRunner;
    }
    let update = api.update_image(&now, &before.image);
    let started = if cancel.is_cancelled() {
        match tokio::time::timeout(Duration::from_secs(5), update).await {
            Ok(r) => r,
            Err(_) => {
                return Rollback::Impossible(
                    "UpdateService did not answer within 5 s of cancellation".into(),
                );
            }
        }
    } else {
        update.await
    };
    let op = match started {
        Ok(op) => op,
        Err(e) => return Rollback::Impossible(format!("UpdateService failed: {e}")),
    };
    if cancel.is_cancelled() {
        return Rollback::Requested { operation_id: op };
    }
    let mut polls = 0;
    match follow(api, &before.arn, &op, cfg.timing, cancel, &mut polls).await {
        Ok(end) => Rollback::Ours {
            operation_id: op,
            end,
        },
        Err(e) => Rollback::Impossible(format!("could not follow the rollback: {e}")),
    }
}

fn rollback_text(r: &Rollback, previous: &str) -> String {
    match r {
        Rollback::ByAppRunner => format!("App Runner kept the previous image `{previous}`"),
        Rollback::Ours { operation_id, end } => format!(
            "rolled back to `{previous}` (operation `{operation_id}` {})",
            end.describe()
        ),
        Rollback::Requested { operation_id } => format!(
            "rollback to `{previous}` requested (operation `{operation_id}`), not waited for"
        ),
        Rollback::Disabled => "not rolled back (`rollback: none`)".into(),
        Rollback::Impossible(why) => format!("not rolled back: {why}"),
    }
}

/// The report of an App Runner deploy.
#[must_use]
pub fn report(cfg: &Config, o: &Outcome, cancelled: bool) -> Report {
    let ok = o.succeeded();
    let name = &o.service.name;
    let result = match (&o.end, &o.health) {
        (Ok(OpEnd::Succeeded), Some(Ok(n))) => {
            format!(
                "✅ operation succeeded; `{}` answered {} {n} times in a row",
                o.health_url, cfg.health_status
            )
        }
        (Ok(OpEnd::Succeeded), Some(Err(why))) => format!("❌ operation succeeded, but {why}"),
        (Ok(e), _) => format!("❌ operation {}", e.describe()),
        (Err(e), _) => format!("❌ {e}"),
    };
    let mut s = format!("App Runner deploy of `{name}`.\n\n");
    s.push_str(&table(
        &["service", "result", "image", "operation", "rollback"],
        &[vec![
            format!("`{name}`"),
            result.clone(),
            format!("`{}` → `{}`", o.service.image, cfg.image),
            o.operation_id
                .as_deref()
                .map_or_else(|| "—".into(), |id| format!("`{id}`")),
            o.rollback
                .as_ref()
                .map_or_else(|| "—".into(), |r| rollback_text(r, &o.service.image)),
        ]],
    ));
    s.push_str(&format!(
        "\nService URL: https://{} — {} operation poll(s), {} App Runner API call(s).\n",
        o.service.url, o.polls, o.api_calls
    ));
    let mut r =
        super::image_target::image_target_report(&format!("{name} (App Runner)"), ok, cancelled, s);
    r.output("service-url", format!("https://{}", o.service.url));
    if let Some(id) = &o.operation_id {
        r.output("operation-id", id.clone());
    }
    if !ok {
        let next = match (&o.end, &o.rollback) {
            (_, _) if cancelled => "The runner cancelled the step; check the service's image in the App Runner console before deploying again.".to_owned(),
            (Ok(OpEnd::TimedOut { budget, .. }), _) => format!(
                "Wait for the operation to end in the App Runner console (or raise the input `wait-timeout`, now {}), then deploy again.",
                fmt_budget(*budget)
            ),
            (Ok(OpEnd::Failed { .. }), _) => "Look at the service's deployment log in the App Runner console (the image must start and pass App Runner's health check), fix it and deploy again.".to_owned(),
            (Ok(OpEnd::Succeeded), _) => format!(
                "Fix what makes `{}` answer otherwise than {} (or point `health-url` at the right path) and deploy again.",
                o.health_url, cfg.health_status
            ),
            _ => "Fix the App Runner error above and deploy again.".to_owned(),
        };
        let rollback = o
            .rollback
            .as_ref()
            .map(|r| rollback_text(r, &o.service.image));
        super::image_target::fail(&mut r, "App Runner", name, &result, rollback, next);
    }
    r
}

impl ImageTarget for Config {
    const KIND: &'static str = "App Runner";
    type Live = super::image_target::LiveImage<Api>;

    fn aws(&self) -> &AwsInputs {
        &self.aws
    }

    fn registry(&self) -> Option<&str> {
        self.registry.as_deref()
    }

    fn service(&self) -> &str {
        &self.service
    }

    fn service_name(&self, _aws: &Connected) -> String {
        let s = &self.service;
        s.rsplit('/').nth(1).unwrap_or(s).to_owned()
    }

    fn recorded(recorded: &deployments::Target) -> Option<(&String, &String)> {
        match recorded {
            deployments::Target::AppRunner { service, image } => Some((service, image)),
            _ => None,
        }
    }

    fn is_this(&self, _aws: &Connected, service: &str) -> bool {
        same_app_runner_service(service, &self.service)
    }

    /// Any App Runner release (App Runner service names are unique in an account and region, so
    /// environments of one account run services of different names; `check_release` then requires the
    /// image to come from the repository this service runs).
    fn adopts(&self, _aws: &Connected, _service: &str) -> bool {
        true
    }

    fn release(&self, _aws: &Connected, image: String) -> deployments::Target {
        deployments::Target::AppRunner {
            service: self.service.clone(),
            image,
        }
    }

    fn observe(&self, rt: &Runtime<'_>, aws: &Connected) -> Result<Self::Live, ModeError> {
        Ok(super::image_target::LiveImage::new(Api::new(
            &aws.sdk,
            super::health::health_client(rt)?,
        )))
    }

    async fn running<'a>(&'a self, live: &'a Self::Live) -> Result<&'a str, String> {
        live.running(|api| async move {
            let arn = api.resolve(&self.service).await?;
            api.describe(&arn).await.map(|s| s.image)
        })
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
        let http = super::health::health_client(rt)?;
        if let Some(e) = &aws.environment {
            super::image::warn_production_by_tag(rt, e, &self.image);
        }
        // The read-only plan first: a missing, paused or source-built service is refused before anything
        // is written, a GitHub Deployment included (it would record a target nothing was deployed to).
        let planned = plan(&aws.sdk, &http, self).await?;
        if rt.common.dry_run {
            let svc = planned.service;
            let line = format!(
                "plan: would UpdateService `{}` from `{}` to `{}`, follow the operation, check `{}` for {}, and {} on failure",
                svc.name,
                svc.image,
                self.image,
                self.health_url
                    .as_ref()
                    .map_or_else(|| format!("https://{}/", svc.url), url::Url::to_string),
                self.health_status,
                if self.rollback {
                    format!("roll back to `{}`", svc.image)
                } else {
                    "not roll back".into()
                }
            );
            rt.cmds.line(&line);
            return Ok(super::image_target::dry_run_report(
                "App Runner",
                &svc.name,
                line.trim_start_matches("plan: "),
                Some(format!("https://{}", svc.url)),
            ));
        }
        let environment = Target::environment(self, aws);
        let what = format!("App Runner {}", self.service);
        let release = super::record::describe(restore, what, || {
            Some(self.release(aws, self.image.clone()))
        });
        super::record::recorded(
            rt,
            aws,
            &environment,
            release,
            execute(planned, &http, self, &rt.cancel),
            |o| (o.succeeded(), Some(format!("https://{}", o.service.url))),
            |o| report(self, o, rt.cancel.is_cancelled()),
        )
        .await
    }
}

/// App Runner services are the same when their names are (an ARN `…:service/<name>/<id>` or a name).
#[must_use]
pub fn same_app_runner_service(a: &str, b: &str) -> bool {
    fn name(s: &str) -> &str {
        s.split_once(":service/")
            .map_or(s, |(_, rest)| rest.split('/').next().unwrap_or(rest))
    }
    a == b || name(a) == name(b)
}

impl crate::modes::runtime::Failure for AppRunnerError {
    fn is_config(&self) -> bool {
        !matches!(self, AppRunnerError::Api(_))
    }
    fn hint(&self) -> Option<String> {
        Some(match self {
            AppRunnerError::Api(api) if api.is_access_denied() => "The role needs apprunner:ListServices, apprunner:DescribeService, apprunner:UpdateService and apprunner:ListOperations (and iam:PassRole for the service's access role)".into(),
            AppRunnerError::Api(_) => "Check `app-runner-service` and `aws-region`".into(),
            _ => "Name an image-based App Runner service in this account and region (`app-runner-service`), and deploy when no other operation runs".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_names_follow_app_runners_pattern() {
        for ok in ["frontend", "web1", "a-b_c", "0abc", &"a".repeat(40)] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in [
            "",
            "web",
            "-web",
            "_web",
            "front end",
            "front/end",
            "frontend:1",
            "fröntend",
            &"a".repeat(41),
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn service_arns_need_partition_region_a_12_digit_account_name_and_32_hex_id() {
        let id = "8fe1e10304f84fd2b0df550fe98a71fa";
        for ok in [
            format!("arn:aws:apprunner:eu-west-1:123456789012:service/frontend/{id}"),
            format!("arn:aws-cn:apprunner:cn-north-1:123456789012:service/web_1/{id}"),
            format!("arn:aws-us-gov:apprunner:us-gov-west-1:123456789012:service/web-1/{id}"),
        ] {
            assert!(is_service_arn(&ok), "{ok}");
        }
        for bad in [
            format!("arn:aws:apprunner:eu-west-1:12345678901:service/frontend/{id}"),
            format!("arn:aws:apprunner:eu-west-1:1234567890123:service/frontend/{id}"),
            format!("arn:aws:apprunner:eu-west-1:12345678901x:service/frontend/{id}"),
            format!("arn:aws:ecs:eu-west-1:123456789012:service/frontend/{id}"),
            format!("arn:aws:apprunner::123456789012:service/frontend/{id}"),
            format!("arn:aws:apprunner:EU-WEST-1:123456789012:service/frontend/{id}"),
            format!("arn:gcp:apprunner:eu-west-1:123456789012:service/frontend/{id}"),
            format!("arn:aws:apprunner:eu-west-1:123456789012:connection/frontend/{id}"),
            format!("arn:aws:apprunner:eu-west-1:123456789012:service/web/{id}"),
            "arn:aws:apprunner:eu-west-1:123456789012:service/frontend".to_owned(),
            "arn:aws:apprunner:eu-west-1:123456789012:service/frontend/8FE1E10304F84FD2B0DF550FE98A71FA".to_owned(),
            format!("arn:aws:apprunner:eu-west-1:123456789012:service/frontend/{id}0"),
            format!("arn:aws:apprunner:eu-west-1:123456789012:service/frontend/{id}/x"),
            "arn:aws:apprunner".to_owned(),
        ] {
            assert!(!is_service_arn(&bad), "{bad}");
        }
    }

    #[test]
    fn a_malformed_service_is_an_input_error_naming_the_input_and_value() {
        let env = crate::Env::from_pairs([
            ("INPUT_MODE", "deploy"),
            (
                "INPUT_APP-RUNNER-SERVICE",
                "arn:aws:apprunner:eu-west-1:1234:service/frontend/x",
            ),
            (
                "INPUT_IMAGE",
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com/web@sha256:2222222222222222222222222222222222222222222222222222222222222222",
            ),
            ("INPUT_AWS-REGION", "eu-west-1"),
        ]);
        let mut p = crate::inputs::Inputs::new(&env);
        let _config = super::super::Config::parse(&mut p);
        let errors = p.finish().err().map(|e| e.0).unwrap_or_default();
        assert!(
            errors.iter().any(|e| e.input == "app-runner-service"
                && e.to_string()
                    .contains("arn:aws:apprunner:eu-west-1:1234:service/frontend/x")
                && e.to_string().contains("not an App Runner service ARN")),
            "{errors:?}"
        );
    }

    #[test]
    fn app_runner_names_and_arns_are_the_same_service() {
        let arn =
            "arn:aws:apprunner:eu-west-1:123456789012:service/web/8fe1e10304f84fd2b0df550fe98a71fa";
        assert!(same_app_runner_service(arn, "web"));
        assert!(same_app_runner_service("web", arn));
        assert!(!same_app_runner_service(arn, "api"));
    }
}
