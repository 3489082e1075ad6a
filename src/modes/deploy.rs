//! `deploy` mode: ECS when `cluster`/`service` are given, Lambda when `function-name` is, App Runner when
//! `app-runner-service` is, ECS Express Mode when `express-service` is.
//!
//! This file only chooses the target; each target reads its own inputs (AWS connection included) and
//! connects through `crate::aws::connect`, where the trigger policy and the environment mapping are
//! checked before any AWS call.

pub mod apprunner;
pub mod ecs;
pub mod express;
pub mod lambda;
pub mod preview;
pub mod rollback;

use crate::inputs::Input;
use crate::aws::{self, AwsInputs, Purpose};
use crate::inputs::Inputs;
use crate::modes::{ModeError, Runtime};
use crate::report::{Report, Verdict};
use std::time::Duration;

/// Inputs of this mode: exactly one target.
#[derive(Debug)]
pub struct Config {
    /// Set when `cluster` or `service` is given.
    pub ecs: Option<Box<ecs::Config>>,
    /// Set when `function-name` is given.
    pub lambda: Option<Box<lambda::LambdaConfig>>,
    /// Set when `app-runner-service` is given.
    pub app_runner: Option<Box<apprunner::Config>>,
    /// Set when `express-service` is given.
    pub express: Option<Box<express::Config>>,
    /// Set when `preview: true` (docs/previews.md).
    pub preview: Option<preview::PreviewConfig>,
    /// `rollback-to`: redeploy an earlier release instead (docs/rollback.md).
    pub rollback: Option<crate::github::deployments::Wanted>,
}

impl Config {
    /// Reads this mode's inputs, collecting every error.
    pub fn parse(p: &mut Inputs<'_>) -> Self {
        let rollback = rollback::parse(p);
        if let Some(service) = p.string(Input::ExpressService) {
            // With `rollback-to`, `preview: true` is refused by its parser.
            if preview::PreviewConfig::parse(p).is_some() && p.string(Input::RollbackTo).is_none() {
                p.error(
                    Input::Preview,
                    Some("true"),
                    "is set together with `express-service`; previews are Lambda aliases (`function-name`) or ECS services (`cluster` + `service`) only",
                    "Remove `preview: true` from the ECS Express step",
                );
            }
            return Self {
                ecs: None,
                lambda: None,
                app_runner: None,
                express: Some(Box::new(express::Config::parse(p, service))),
                preview: None,
                rollback,
            };
        }
        let ecs_wanted = p.string(Input::Cluster).is_some() || p.string(Input::Service).is_some();
        let function = p.string(Input::FunctionName);
        if let Some(service) = p.string(Input::AppRunnerService) {
            if ecs_wanted || function.is_some() {
                p.error(
                    Input::AppRunnerService,
                    Some(&service),
                    "is set together with `cluster`/`service` or `function-name`; one deploy step deploys to one target",
                    "Use one step per target",
                );
            }
            let preview = preview::PreviewConfig::parse(p);
            if preview.is_some() {
                p.error(
                    Input::Preview,
                    Some("true"),
                    "is set together with `app-runner-service`; previews are Lambda aliases (`function-name`) or ECS services (`cluster` + `service`)",
                    "Remove `preview: true` from the App Runner step",
                );
            }
            return Self {
                ecs: None,
                lambda: None,
                app_runner: Some(Box::new(apprunner::Config::parse(p, service))),
                express: None,
                preview: None,
                rollback,
            };
        }
        if ecs_wanted && function.is_some() {
            p.error(
                Input::FunctionName,
                function.as_deref(),
                "is set together with `cluster`/`service`; one deploy step deploys to ECS or to Lambda",
                "Use two steps: one with `cluster` + `service`, one with `function-name`",
            );
        }
        // Neither target: inputs only Lambda reads mean a Lambda deploy without `function-name`: name
        // that. Otherwise ECS is the default, and its parser names what is missing (`service`, `image`);
        // the Lambda parser still reads its inputs (and returns None without `function-name`).
        let mut neither = !ecs_wanted && function.is_none();
        if neither {
            let lambda_inputs = lambda_only_inputs(p);
            if !lambda_inputs.is_empty() {
                p.missing(
                    Input::FunctionName,
                    &format!(
                        "for a Lambda deploy ({} given; an ECS deploy takes `cluster` + `service` instead)",
                        lambda_inputs
                            .iter()
                            .map(|i| format!("`{i}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    "my-function",
                );
                neither = false;
            }
        }
        let preview = preview::PreviewConfig::parse(p);
        let ecs = (ecs_wanted || neither).then(|| {
            Box::new(if preview.is_some() {
                ecs::Config::parse_preview(p)
            } else {
                ecs::Config::parse(p)
            })
        });
        let lambda = if ecs_wanted {
            None
        } else {
            lambda::LambdaConfig::parse(p).map(Box::new)
        };
        if preview.is_some() {
            check_preview(p, ecs.as_deref());
        }
        Self {
            ecs,
            lambda,
            app_runner: None,
            express: None,
            preview,
            rollback,
        }
    }
}

/// Inputs that contradict `preview: true`.
fn check_preview(p: &mut Inputs<'_>, ecs: Option<&ecs::Config>) {
    if let Some(e) = ecs {
        if e.services.len() > 1 {
            p.error(
                Input::Service,
                Some(&e.services.join(", ")),
                "lists several services; an ECS preview clones one base service",
                "Use one preview step per service, each with its own `service`",
            );
        }
        if let Some(a) = p.string(Input::PreviewUrlAuth).filter(|a| a != "AWS_IAM") {
            p.error(
                Input::PreviewUrlAuth,
                Some(&a),
                "applies to Lambda previews only (their function URL); an ECS preview is reached through `preview-listener-arn` and `preview-host`",
                "Remove `preview-url-auth` from the ECS preview step",
            );
        }
        for (input, set) in [
            (Input::PreDeployTask, e.pre_task.is_some()),
            (Input::PostDeployTask, e.post_task.is_some()),
        ] {
            if set {
                p.error(
                    input,
                    None,
                    "does not apply to previews: a preview runs no one-off tasks",
                    format!("Remove `{input}` from the preview step"),
                );
            }
        }
    } else {
        for input in [Input::PreviewListenerArn, Input::PreviewHost] {
            if let Some(v) = p.string(input) {
                p.error(
                    input,
                    Some(&v),
                    "applies to ECS previews only (`cluster` + `service`); a Lambda preview's URL is its function URL",
                    format!("Remove `{input}` from the Lambda preview step"),
                );
            }
        }
    }
    if let Some(e) = p.string(Input::Environment)
        && crate::github::deployments::is_production(&e)
    {
        p.error(
            Input::Environment,
            Some(&e),
            "is a production environment; previews never use production's credentials",
            "Map a preview environment in `environments` and name it, e.g. `environment: preview`",
        );
    }
    if let Some(t) = p.string(Input::Traffic).filter(|t| t != "all-at-once") {
        p.error(
            Input::Traffic,
            Some(&t),
            "does not apply to previews: the preview alias `pr-<n>` is created or moved all at once",
            "Remove `traffic` from the preview step (or set `traffic: all-at-once`)",
        );
    }
}

/// The Lambda-only inputs that are set (`traffic` and `alias` only when not their action.yml default,
/// which the runner always passes).
fn lambda_only_inputs(p: &mut Inputs<'_>) -> Vec<Input> {
    const ONLY_LAMBDA: [Input; 10] = [
        Input::ZipFile,
        Input::S3Bucket,
        Input::S3Key,
        Input::Alarms,
        Input::HealthUrl,
        Input::Handler,
        Input::Runtime,
        Input::TestPayload,
        Input::MemorySize,
        Input::FunctionTimeout,
    ];
    let mut set: Vec<Input> = ONLY_LAMBDA
        .into_iter()
        .filter(|i| p.string(*i).is_some())
        .collect();
    if p.string(Input::Traffic).is_some_and(|t| t != "all-at-once") {
        set.push(Input::Traffic);
    }
    if p.string(Input::Alias).is_some_and(|a| a != "live") {
        set.push(Input::Alias);
    }
    set
}

/// Whether an image reference names a tag or a digest (`repo:tag`, `repo@sha256:…`); a registry port
/// (`localhost:5000/web`) is not a tag.
#[must_use]
pub fn has_tag_or_digest(image: &str) -> bool {
    let last = image.rsplit('/').next().unwrap_or(image);
    last.contains(':') || last.contains('@')
}

/// Whether an image reference pins a digest.
#[must_use]
pub fn has_digest(image: &str) -> bool {
    image.contains("@sha256:")
}

/// Records an error when `image` names neither tag nor digest: ECS and Lambda would take `latest`,
/// whatever that is at the time.
pub fn check_image(p: &mut Inputs<'_>, image: &str) {
    if !has_tag_or_digest(image) {
        p.error(
            Input::Image,
            Some(image),
            "names neither a tag nor a digest, so whatever `latest` is at deploy time would run",
            "Pin the image by digest (`image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/web@sha256:…`, the `digest` output of `build`) or at least by tag (`…/web:1.4.2`)",
        );
    }
}

/// The warning for a production deploy by tag (a tag can be moved; a digest cannot).
#[must_use]
pub fn production_by_tag(environment: &str, image: &str) -> Option<String> {
    (crate::github::deployments::is_production(environment) && !has_digest(image)).then(|| {
        format!(
            "`{environment}` is deployed by tag (`{image}`): a tag can be moved after the deploy, so what runs cannot be proven. Deploy by digest (the `digest` output of `build`: `repo@sha256:…`)."
        )
    })
}

/// Names where an ECS, ECS Express or App Runner deploy went (environment, account) and the GitHub Deployment `record`
/// under the report's first paragraph, in its check run too; the report key is `report-key`, else the
/// environment.
pub(crate) fn name_the_target(
    rt: &Runtime<'_>,
    aws: &aws::Connected,
    record: &str,
    mut r: Report,
) -> Report {
    let target = match &aws.environment {
        Some(e) => format!(
            "Environment `{e}`, account `{}`. {record}\n\n",
            aws.account_id
        ),
        None => format!("Account `{}`. {record}\n\n", aws.account_id),
    };
    if let Some(end) = r.summary.find("\n\n") {
        r.summary.insert_str(end + 2, &target);
    }
    if let Some(c) = r.checks.first_mut() {
        c.summary.clone_from(&r.summary);
    }
    r.key = rt
        .common
        .report_key
        .clone()
        .or_else(|| aws.environment.clone());
    r
}

/// Logs and annotates [`production_by_tag`]'s warning when it applies (ECS and Lambda deploys).
pub fn warn_production_by_tag(rt: &Runtime<'_>, environment: &str, image: &str) {
    if let Some(w) = production_by_tag(environment, image) {
        tracing::warn!("{w}");
        rt.cmds.annotate(
            crate::report::Level::Warning,
            Some("stevedore deploy: production by tag"),
            &crate::report::Location::default(),
            &w,
        );
    }
}

/// Runs the mode on the chosen target.
pub async fn run(rt: &Runtime<'_>, cfg: &Config) -> Result<Report, ModeError> {
    if let Some(wanted) = &cfg.rollback {
        let r = Box::pin(rollback::run(rt, cfg, wanted)).await;
        let aws = cfg
            .ecs
            .as_ref()
            .map(|c| &c.aws)
            .or(cfg.lambda.as_ref().map(|l| &l.aws))
            .or(cfg.app_runner.as_ref().map(|a| &a.aws))
            .or(cfg.express.as_ref().map(|x| &x.aws));
        return match aws {
            Some(a) => r.map(|r| note_real_run_refusal(rt, a, r)),
            None => r,
        };
    }
    if let (Some(c), Some(pv)) = (&cfg.ecs, &cfg.preview) {
        return Box::pin(preview::ecs::run(rt, c, pv)).await;
    }
    if let Some(c) = &cfg.ecs {
        let r = Box::pin(ecs::run(rt, c)).await;
        return r.map(|r| note_real_run_refusal(rt, &c.aws, r));
    }
    if let (Some(l), Some(pv)) = (&cfg.lambda, &cfg.preview) {
        return Box::pin(preview::run_lambda(rt, l, pv)).await;
    }
    if let Some(l) = &cfg.lambda {
        let r = Box::pin(lambda::run(rt, l)).await;
        return r.map(|r| note_real_run_refusal(rt, &l.aws, r));
    }
    if let Some(a) = &cfg.app_runner {
        let r = Box::pin(apprunner::run(rt, a)).await;
        return r.map(|r| note_real_run_refusal(rt, &a.aws, r));
    }
    if let Some(x) = &cfg.express {
        let r = Box::pin(express::run(rt, x)).await;
        return r.map(|r| note_real_run_refusal(rt, &x.aws, r));
    }
    Err(ModeError::Config {
        message: "deploy needs a target: `cluster` + `service` (ECS), `function-name` (Lambda) or `app-runner-service` (App Runner) or `express-service` (ECS Express)"
            .into(),
        hint: None,
    })
}

/// A dry run of an environment a real run would refuse (act: no OIDC `environment` claim) says so in
/// its report, after the plan.
fn note_real_run_refusal(rt: &Runtime<'_>, inputs: &AwsInputs, mut r: Report) -> Report {
    if !rt.common.dry_run {
        return r;
    }
    if let Ok(plan) = aws::plan_for(rt.env, rt.ctx, inputs, Purpose::Deploy, true)
        && let Some(refusal) = &plan.real_run_refusal
    {
        r.summary
            .push_str(&format!("\n**A real run would be refused:** {refusal}\n"));
    }
    r
}

/// The client of the health checks after a rollout (App Runner, ECS Express, ECS previews): the run's
/// roots and proxy, redirects not followed (a redirect is an answer to judge, not to follow).
pub(crate) fn health_client(rt: &Runtime<'_>) -> Result<reqwest::Client, ModeError> {
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
pub(crate) fn parse_health(p: &mut Inputs<'_>, example: &str) -> (Option<url::Url>, u16) {
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

/// `wait-timeout` (default 10m, more than 0 and at most 6h; `example` is the fix shown) and `rollback`
/// (`auto`: true, `none`: false) of the image targets (App Runner, ECS Express).
pub(crate) fn parse_wait_and_rollback(p: &mut Inputs<'_>, example: &str) -> (Duration, bool) {
    let timeout = p.duration(Input::WaitTimeout, Duration::from_secs(600));
    if timeout.is_zero() || timeout > Duration::from_secs(6 * 3600) {
        p.error(
            Input::WaitTimeout,
            Some(&format!("{}s", timeout.as_secs())),
            "must be more than 0 and at most 6h",
            example,
        );
    }
    let rollback = p.choice(Input::Rollback, &["auto", "none"], "auto") == "auto";
    (timeout, rollback)
}

/// The report of an image target's deploy (App Runner, ECS Express): `what` names the service and target,
/// the title says how it ended.
pub(crate) fn image_target_report(
    what: &str,
    ok: bool,
    cancelled: bool,
    summary: String,
) -> Report {
    let (verdict, title) = if ok {
        (Verdict::Success, format!("deployed {what}"))
    } else if cancelled {
        (Verdict::Failure, format!("deploy cancelled: {what}"))
    } else {
        (Verdict::Failure, format!("deploy failed: {what}"))
    };
    Report::new(crate::inputs::Mode::Deploy, verdict, title, summary)
}
