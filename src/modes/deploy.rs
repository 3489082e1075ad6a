//! `deploy` mode: ECS when `cluster`/`service` are given, Lambda when `function-name` is, App Runner when
//! `app-runner-service` is, ECS Express Mode when `express-service` is.
//!
//! This file only chooses the target; each target reads its own inputs (AWS connection included) and
//! connects through `crate::aws::connect`, where the trigger policy and the environment mapping are
//! checked before any AWS call.

pub mod apprunner;
pub mod clients;
pub mod ecs;
pub mod express;
pub mod health;
pub mod image;
pub mod image_target;
pub mod lambda;
pub mod poll;
pub mod preview;
pub mod promote;
pub mod record;
pub mod rollback;
pub mod target;

use crate::aws::{self, AwsInputs, Purpose};
use crate::inputs::Input;
use crate::inputs::{Inputs, Recorded};
use crate::modes::runtime::{ModeError, Runtime};
use crate::report::Report;

pub use image::{check_image, has_digest, has_tag_or_digest, production_by_tag};
pub use target::{NEW_RELEASE_INPUTS, TargetInputs};

/// Runs `$body` with `$t` bound to the configuration of whichever target `$target` is: the one place
/// that lists the targets (a new target is one more line here and its variant of [`Target`]).
macro_rules! each_target {
    ($target:expr, $t:ident => $body:expr) => {
        match $target {
            Target::Ecs($t) => $body,
            Target::Lambda($t) => $body,
            Target::AppRunner($t) => $body,
            Target::Express($t) => $body,
        }
    };
}

/// Inputs of this mode: exactly one target.
#[derive(Debug)]
pub struct Config {
    /// Where this step deploys, chosen once from the inputs.
    pub target: Target,
    /// Set when `preview: true` (docs/previews.md).
    pub preview: Option<preview::PreviewConfig>,
    /// `rollback-to`: redeploy an earlier release instead (docs/rollback.md).
    pub rollback: Option<crate::github::deployments::Wanted>,
    /// `promote-from`: deploy what that environment runs instead (docs/promotion.md).
    pub promote_from: Option<String>,
}

/// Where a deploy step deploys. Boxed: the configurations are large and a deploy's futures already are.
#[derive(Debug)]
pub enum Target {
    /// `cluster` / `service` given (and the default when no target input is).
    Ecs(Box<ecs::Config>),
    /// `function-name` given.
    Lambda(Box<lambda::LambdaConfig>),
    /// `app-runner-service` given.
    AppRunner(Box<apprunner::Config>),
    /// `express-service` given.
    Express(Box<express::Config>),
}

impl Target {
    /// The AWS connection inputs of the target.
    #[must_use]
    pub fn aws(&self) -> &AwsInputs {
        each_target!(self, t => target::Target::aws(t.as_ref()))
    }
}

impl Config {
    /// Reads this mode's inputs, collecting every error. `Err` when no target can be chosen (the error
    /// recorded names the input that is missing).
    pub fn parse(p: &mut Inputs<'_>) -> Result<Self, Recorded> {
        let rollback_to = p.string(Input::RollbackTo);
        let preview_on = p.bool(Input::Preview, false);
        let rollback = rollback::parse(p, rollback_to.as_deref(), preview_on);
        let promote_raw = p.string(Input::PromoteFrom);
        // Lambda only: read once here, refused by name for every other target.
        let event_rules = p.text(Input::EventRules);
        let registry = p.string(Input::Registry);
        let mut given = TargetInputs::read(p, rollback_to.is_some() || promote_raw.is_some());
        let promote_from = promote::parse(
            p,
            promote_raw.as_deref(),
            rollback_to.is_some(),
            preview_on && rollback_to.is_none(),
            given.function_name.is_some(),
        );
        if let Some(service) = given.express_service.take() {
            // With `rollback-to`, `preview: true` is refused by its parser.
            if preview::PreviewConfig::parse(p, preview_on).is_some() && !given.rollback_to {
                p.error(
                    Input::Preview,
                    Some("true"),
                    "is set together with `express-service`; previews are Lambda aliases (`function-name`) or ECS services (`cluster` + `service`) only",
                    "Remove `preview: true` from the ECS Express step",
                );
            }
            refuse_event_rules(
                p,
                event_rules.as_deref(),
                "an ECS Express deploy (`express-service`)",
            );
            let mut express = express::Config::parse(p, service, given);
            express.registry = promote_registry(p, registry, promote_raw.is_some(), None);
            return Ok(Self {
                target: Target::Express(Box::new(express)),
                preview: None,
                rollback,
                promote_from,
            });
        }
        let ecs_wanted = given.cluster.is_some() || given.service.is_some();
        let function = given.function_name.take();
        if let Some(service) = given.app_runner_service.take() {
            if ecs_wanted || function.is_some() {
                p.error(
                    Input::AppRunnerService,
                    Some(&service),
                    "is set together with `cluster`/`service` or `function-name`; one deploy step deploys to one target",
                    "Use one step per target",
                );
            }
            let preview = preview::PreviewConfig::parse(p, preview_on);
            if preview.is_some() {
                p.error(
                    Input::Preview,
                    Some("true"),
                    "is set together with `app-runner-service`; previews are Lambda aliases (`function-name`) or ECS services (`cluster` + `service`)",
                    "Remove `preview: true` from the App Runner step",
                );
            }
            refuse_inputs(
                p,
                &[&ONLY_ECS[..], &[Input::EnvironmentVariables]].concat(),
                given.rollback_to,
                "an App Runner deploy (`app-runner-service`)",
                "App Runner runs the image with the service's own configuration; one-off tasks run on ECS only",
            );
            let lambda: Vec<Input> = ONLY_LAMBDA
                .into_iter()
                .filter(|i| *i != Input::HealthUrl)
                .chain([Input::Traffic, Input::Alias])
                .collect();
            refuse_inputs(
                p,
                &lambda,
                given.rollback_to,
                "an App Runner deploy (`app-runner-service`)",
                "it is a Lambda input: App Runner switches all traffic once the new version is healthy, and a Lambda function is deployed with `function-name`",
            );
            refuse_event_rules(
                p,
                event_rules.as_deref(),
                "an App Runner deploy (`app-runner-service`)",
            );
            let mut app_runner = apprunner::Config::parse(p, service, given.rollback_to);
            app_runner.registry = promote_registry(p, registry, promote_raw.is_some(), None);
            return Ok(Self {
                target: Target::AppRunner(Box::new(app_runner)),
                preview: None,
                rollback,
                promote_from,
            });
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
        // that (the Lambda parser still reads its inputs, so their errors are reported too). Otherwise
        // ECS is the default, and its parser names what is missing (`service`, `image`).
        let function: Option<Result<String, Recorded>> = match function {
            Some(f) if !ecs_wanted => Some(Ok(f)),
            Some(_) => None,
            None if ecs_wanted => None,
            None => {
                let mut lambda_inputs = lambda_only_inputs(p);
                if event_rules.is_some() {
                    lambda_inputs.push(Input::EventRules);
                }
                (!lambda_inputs.is_empty()).then(|| {
                    Err(p.missing(
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
                    ))
                })
            }
        };
        let preview = preview::PreviewConfig::parse(p, preview_on);
        let registry = promote_registry(
            p,
            registry,
            promote_raw.is_some(),
            function
                .is_some()
                .then_some("a Lambda promotion copies its zip into `s3-bucket`, not an image"),
        );
        let target = match function {
            Some(function) => {
                refuse_inputs(
                    p,
                    &ONLY_ECS,
                    given.rollback_to,
                    "a Lambda deploy (`function-name`)",
                    "task definitions, one-off tasks and draining are ECS's; run a migration as a workflow step or a Lambda invocation before the deploy",
                );
                refuse_inputs(
                    p,
                    &[Input::HealthPasses],
                    given.rollback_to,
                    "a Lambda deploy (`function-name`)",
                    "a Lambda bake is judged in rounds every `health-interval` (alarms, `health-url`, `test-payload`), not by answers in a row",
                );
                let rules = lambda::parse_event_rules(p, event_rules.as_deref());
                let lambda =
                    lambda::LambdaConfig::parse(p, function, promote_raw.is_some()).map(|mut l| {
                        l.event_rules = rules;
                        l
                    });
                if preview.is_some() {
                    check_preview(p, None);
                    if event_rules.is_some() {
                        p.error(
                            Input::EventRules,
                            None,
                            "does not apply to previews: a preview alias `pr-<n>` gets no EventBridge rules (they would fire the preview on real events)",
                            "Remove `event-rules` from the preview step; sync them in the step that deploys the environment's alias",
                        );
                    }
                }
                Target::Lambda(Box::new(lambda?))
            }
            None => {
                let rollback_to = given.rollback_to;
                let ecs = if preview.is_some() {
                    ecs::Config::parse_preview(p, given)
                } else {
                    ecs::Config::parse(p, given)
                };
                if preview.is_some() {
                    check_preview(p, Some(&ecs));
                }
                // `traffic` on a preview is refused by the preview check (read there once).
                let mut lambda = ONLY_LAMBDA.to_vec();
                lambda.push(Input::Alias);
                if preview.is_none() {
                    lambda.push(Input::Traffic);
                }
                refuse_inputs(
                    p,
                    &lambda,
                    rollback_to,
                    "an ECS deploy (`cluster` + `service`)",
                    "it is a Lambda input: an ECS rollout is judged by ECS's deployment state and its tasks and replaces tasks by its deployment configuration, not by weighted traffic; a Lambda function is deployed with `function-name`",
                );
                refuse_inputs(
                    p,
                    &[Input::HealthPasses],
                    rollback_to,
                    "an ECS deploy (`cluster` + `service`)",
                    "an ECS rollout is judged by ECS's deployment state and its tasks' own health checks",
                );
                refuse_event_rules(
                    p,
                    event_rules.as_deref(),
                    "an ECS deploy (`cluster` + `service`)",
                );
                let mut ecs = ecs;
                ecs.registry = registry;
                Target::Ecs(Box::new(ecs))
            }
        };
        Ok(Self {
            target,
            preview,
            rollback,
            promote_from,
        })
    }
}

/// `registry` on a deploy step: this account's registry for the images of a release promoted from another
/// account (ECS, App Runner, ECS Express; `not_here` says why another target takes none), checked as an
/// address.
/// Records an error when it is given without `promote-from`, on another target, or is no address.
fn promote_registry(
    p: &mut Inputs<'_>,
    registry: Option<String>,
    promote: bool,
    not_here: Option<&str>,
) -> Option<String> {
    let r = registry?;
    let refuse = |p: &mut Inputs<'_>, why: String| {
        p.error(
            Input::Registry,
            Some(&r),
            why,
            "Remove `registry` from this step (it names where `build` pushes, and where `promote-from` copies the images of a release from another account)",
        );
    };
    if !promote {
        refuse(
            p,
            "applies to a deploy only with `promote-from` (the registry a release of another account is copied into)".into(),
        );
        return None;
    }
    if let Some(why) = not_here {
        refuse(p, format!("does not apply to this deploy: {why}"));
        return None;
    }
    match crate::net::check_address(&r) {
        Ok(a) => Some(a),
        Err(problem) => {
            p.error(
                Input::Registry,
                Some(&r),
                problem,
                "Give this account's registry as `host[:port]` or `https://host[:port]` (e.g. `123456789012.dkr.ecr.eu-west-1.amazonaws.com`)",
            );
            None
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

/// Inputs of the ECS path (a task definition, its container, one-off tasks, draining) that no other
/// target reads.
const ONLY_ECS: [Input; 5] = [
    Input::Container,
    Input::TaskDefinition,
    Input::PreDeployTask,
    Input::PostDeployTask,
    Input::WaitForDrain,
];

/// Refuses each of `inputs` that is set: it does not apply to `target`, and a deploy that silently
/// skipped it (a migration in `pre-deploy-task`, say) would claim a success it did not earn. With
/// `rollback-to`, the inputs of a new release are refused once, by its parser, and not read here.
fn refuse_inputs(p: &mut Inputs<'_>, inputs: &[Input], rollback_to: bool, target: &str, fix: &str) {
    for &input in inputs {
        if rollback_to && NEW_RELEASE_INPUTS.iter().any(|(i, _)| *i == input) {
            continue;
        }
        if let Some(v) = p
            .string(input)
            .filter(|v| Some(v.as_str()) != runner_default(input))
        {
            p.error(
                input,
                Some(&v),
                format!("does not apply to {target}: nothing would use it"),
                format!("Remove `{input}` from this step ({fix})"),
            );
        }
    }
}

/// Refuses `event-rules` (read once by `Config::parse`) on a target that is not Lambda.
fn refuse_event_rules(p: &mut Inputs<'_>, raw: Option<&str>, target: &str) {
    if raw.is_some() {
        p.error(
            Input::EventRules,
            None,
            format!("does not apply to {target}: EventBridge rules target a Lambda alias"),
            "Remove `event-rules` from this step (sync a worker's rules in its Lambda deploy step, with `function-name`)",
        );
    }
}

/// Inputs only a Lambda deploy reads (besides `traffic` and `alias`, which have defaults: [`runner_default`]).
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

/// The action.yml default the runner passes for an input another target may refuse: a value equal to
/// it was not written by the user, so it is no reason to refuse the step.
fn runner_default(input: Input) -> Option<&'static str> {
    match input {
        Input::WaitForDrain => Some("false"),
        Input::Traffic => Some("all-at-once"),
        Input::Alias => Some("live"),
        _ => None,
    }
}

/// The Lambda-only inputs that are set (`traffic` and `alias` only when not their action.yml default,
/// which the runner always passes).
fn lambda_only_inputs(p: &mut Inputs<'_>) -> Vec<Input> {
    ONLY_LAMBDA
        .into_iter()
        .chain([Input::Traffic, Input::Alias])
        .filter(|&i| {
            p.string(i)
                .is_some_and(|v| Some(v.as_str()) != runner_default(i))
        })
        .collect()
}

/// Runs the mode on the chosen target: a preview, a rollback (any target, through [`target::Target`])
/// or a deploy.
pub async fn run(rt: &Runtime<'_>, cfg: &Config) -> Result<Report, ModeError> {
    // Previews are refused for App Runner and Express at parse time.
    let recorded = cfg.rollback.is_some() || cfg.promote_from.is_some();
    match (&cfg.target, &cfg.preview, recorded) {
        (Target::Ecs(c), Some(pv), false) => return Box::pin(preview::ecs::run(rt, c, pv)).await,
        (Target::Lambda(l), Some(pv), false) => {
            return Box::pin(preview::run_lambda(rt, l, pv)).await;
        }
        _ => {}
    }
    let r = each_target!(&cfg.target, t => match (&cfg.rollback, &cfg.promote_from) {
        (Some(wanted), _) => Box::pin(rollback::run(rt, t.as_ref(), wanted)).await,
        (None, Some(from)) => Box::pin(promote::run(rt, t.as_ref(), from)).await,
        (None, None) => Box::pin(deploy(rt, t.as_ref())).await,
    });
    r.map(|r| note_real_run_refusal(rt, cfg.target.aws(), r))
}

/// A deploy of a new release on any target: connect (trigger policy and environment mapping first),
/// then the target's run.
async fn deploy<T: target::Target>(rt: &Runtime<'_>, target: &T) -> Result<Report, ModeError> {
    let aws = rt.connect_aws(target.aws(), Purpose::Deploy).await?;
    target.deploy(rt, &aws).await
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Env;

    /// The target chosen (its name) and every error, for a deploy step with `pairs` as inputs.
    fn choose(pairs: &[(&str, &str)]) -> (Option<&'static str>, Vec<String>) {
        let env = Env::from_pairs(pairs.iter().copied());
        let mut p = Inputs::new(&env);
        let target = Config::parse(&mut p).ok().map(|c| match c.target {
            Target::Ecs(_) => "ecs",
            Target::Lambda(_) => "lambda",
            Target::AppRunner(_) => "app-runner",
            Target::Express(_) => "express",
        });
        let errors = p
            .finish()
            .err()
            .map(|e| e.0.iter().map(ToString::to_string).collect())
            .unwrap_or_default();
        (target, errors)
    }

    const IMAGE: (&str, &str) = ("INPUT_IMAGE", "repo@sha256:0");

    #[test]
    fn event_rules_are_lambda_only_and_not_for_previews() {
        const RULES: (&str, &str) = ("INPUT_EVENT-RULES", "nightly:\n  schedule: rate(1 day)\n");
        let (t, e) = choose(&[("INPUT_FUNCTION-NAME", "api"), RULES]);
        assert_eq!((t, e.len()), (Some("lambda"), 0), "{e:#?}");
        for (input, value) in [
            ("INPUT_SERVICE", "web"),
            ("INPUT_APP-RUNNER-SERVICE", "front"),
            ("INPUT_EXPRESS-SERVICE", "front"),
        ] {
            let (_, e) = choose(&[(input, value), IMAGE, RULES]);
            assert_eq!(e.len(), 1, "{e:#?}");
            assert!(
                e[0].starts_with("input `event-rules`: does not apply to")
                    && e[0].contains("EventBridge rules target a Lambda alias"),
                "{e:#?}"
            );
        }
        // Without `function-name`, the rules make it a Lambda deploy that lacks one.
        let (_, e) = choose(&[RULES]);
        assert!(
            e.iter()
                .any(|e| e.contains("`function-name`") && e.contains("`event-rules` given")),
            "{e:#?}"
        );
        let (_, e) = choose(&[
            ("INPUT_FUNCTION-NAME", "api"),
            ("INPUT_PREVIEW", "true"),
            RULES,
        ]);
        assert!(
            e.iter()
                .any(|e| e.starts_with("input `event-rules`: does not apply to previews")),
            "{e:#?}"
        );
        let (_, e) = choose(&[
            ("INPUT_FUNCTION-NAME", "api"),
            ("INPUT_EVENT-RULES", "x: 1"),
        ]);
        assert!(
            e.iter().any(|e| e.starts_with("input `event-rules`")),
            "{e:#?}"
        );
    }

    #[test]
    fn each_target_input_chooses_its_target_once() {
        for (input, value, want) in [
            ("INPUT_SERVICE", "web", "ecs"),
            ("INPUT_FUNCTION-NAME", "api", "lambda"),
            ("INPUT_APP-RUNNER-SERVICE", "front", "app-runner"),
            ("INPUT_EXPRESS-SERVICE", "front", "express"),
        ] {
            let (target, errors) = choose(&[(input, value), IMAGE]);
            assert_eq!(target, Some(want), "{input}: {errors:?}");
            assert!(errors.is_empty(), "{input}: {errors:#?}");
        }
    }

    #[test]
    fn inputs_another_target_reads_are_refused_never_ignored() {
        // Lambda: a migration in `pre-deploy-task` would silently never run.
        let (target, errors) = choose(&[
            ("INPUT_FUNCTION-NAME", "api"),
            ("INPUT_ZIP-FILE", "app.zip"),
            ("INPUT_PRE-DEPLOY-TASK", "command: [migrate]"),
            ("INPUT_CONTAINER", "app"),
        ]);
        assert_eq!(target, Some("lambda"));
        assert_eq!(errors.len(), 2, "{errors:#?}");
        assert!(
            errors[0].starts_with("input `container` = `app`: does not apply to a Lambda deploy")
                || errors[1]
                    .starts_with("input `container` = `app`: does not apply to a Lambda deploy"),
            "{errors:#?}"
        );
        assert!(
            errors.iter().any(|e| e.contains(
                "input `pre-deploy-task` = `command: [migrate]`: does not apply to a Lambda deploy (`function-name`)"
            ) && e.contains("Remove `pre-deploy-task` from this step")),
            "{errors:#?}"
        );
        // App Runner: ECS and Lambda inputs, all at once; the action.yml defaults pass.
        let (target, errors) = choose(&[
            ("INPUT_APP-RUNNER-SERVICE", "front"),
            IMAGE,
            ("INPUT_TASK-DEFINITION", "td.json"),
            ("INPUT_ENVIRONMENT-VARIABLES", "A=1"),
            ("INPUT_ZIP-FILE", "app.zip"),
            ("INPUT_TRAFFIC", "canary 10% 5m"),
            ("INPUT_ALIAS", "live"),
        ]);
        assert_eq!(target, Some("app-runner"));
        let all = errors.join("\n");
        for input in [
            "task-definition",
            "environment-variables",
            "zip-file",
            "traffic",
        ] {
            assert!(
                all.contains(&format!("input `{input}`")) && all.contains("App Runner deploy"),
                "{input}: {all}"
            );
        }
        assert_eq!(errors.len(), 4, "{all}");
        // With `rollback-to`, the inputs of a new release are named once, by the rollback's parser.
        let (_, errors) = choose(&[
            ("INPUT_FUNCTION-NAME", "api"),
            ("INPUT_ROLLBACK-TO", "previous"),
            ("INPUT_PRE-DEPLOY-TASK", "command: [migrate]"),
        ]);
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert!(
            errors[0].contains("is set together with `rollback-to`"),
            "{errors:#?}"
        );
    }

    #[test]
    fn lambda_inputs_on_an_ecs_step_are_refused_never_ignored() {
        let (target, errors) = choose(&[
            ("INPUT_CLUSTER", "prod"),
            ("INPUT_SERVICE", "web"),
            IMAGE,
            ("INPUT_ALARMS", "api-errors"),
            ("INPUT_TRAFFIC", "canary 10% 5m"),
            ("INPUT_HEALTH-URL", "https://api.example.com/health"),
            ("INPUT_ALIAS", "live"),
        ]);
        assert_eq!(target, Some("ecs"));
        let all = errors.join("\n");
        for input in ["alarms", "traffic", "health-url"] {
            assert!(
                all.contains(&format!("input `{input}`")) && all.contains("ECS deploy"),
                "{input}: {all}"
            );
        }
        assert_eq!(errors.len(), 3, "{all}");
    }

    #[test]
    fn no_target_input_means_ecs_and_its_parser_names_what_is_missing() {
        let (target, errors) = choose(&[IMAGE]);
        assert_eq!(target, Some("ecs"));
        assert_eq!(
            errors,
            [
                "input `service`: is required for an ECS deploy. Set it in `with:`, e.g. `service: web`"
            ]
        );
    }

    #[test]
    fn lambda_inputs_without_function_name_choose_no_target_and_say_so_with_the_other_errors() {
        let (target, errors) = choose(&[("INPUT_ZIP-FILE", "a.zip"), ("INPUT_MEMORY-SIZE", "1")]);
        assert_eq!(target, None);
        assert_eq!(errors.len(), 2, "{errors:#?}");
        assert!(
            errors[0].starts_with(
                "input `function-name`: is required for a Lambda deploy (`zip-file`, `memory-size` given; an ECS deploy takes `cluster` + `service` instead)"
            ),
            "{errors:#?}"
        );
        assert!(
            errors[1]
                .starts_with("input `memory-size` = `1`: must be a whole number from 128 to 10240"),
            "{errors:#?}"
        );
    }

    #[test]
    fn two_targets_at_once_are_refused_naming_both_inputs() {
        for (pairs, input, other) in [
            (
                &[("INPUT_SERVICE", "web"), ("INPUT_FUNCTION-NAME", "api")][..],
                "function-name",
                "cluster`/`service",
            ),
            (
                &[
                    ("INPUT_APP-RUNNER-SERVICE", "front"),
                    ("INPUT_FUNCTION-NAME", "api"),
                ][..],
                "app-runner-service",
                "function-name",
            ),
            (
                &[
                    ("INPUT_APP-RUNNER-SERVICE", "front"),
                    ("INPUT_CLUSTER", "c"),
                ][..],
                "app-runner-service",
                "cluster`/`service",
            ),
            (
                &[
                    ("INPUT_EXPRESS-SERVICE", "f"),
                    ("INPUT_APP-RUNNER-SERVICE", "green"),
                ][..],
                "express-service",
                "app-runner-service",
            ),
            (
                &[("INPUT_EXPRESS-SERVICE", "f"), ("INPUT_SERVICE", "web")][..],
                "service",
                "express-service",
            ),
            (
                &[
                    ("INPUT_EXPRESS-SERVICE", "f"),
                    ("INPUT_FUNCTION-NAME", "api"),
                ][..],
                "function-name",
                "express-service",
            ),
        ] {
            let mut with_image = pairs.to_vec();
            with_image.push(IMAGE);
            let (_, errors) = choose(&with_image);
            assert_eq!(errors.len(), 1, "{pairs:?}: {errors:#?}");
            assert!(
                errors[0].starts_with(&format!("input `{input}`")),
                "{pairs:?}: {errors:#?}"
            );
            assert!(
                errors[0].contains(&format!("`{other}`")),
                "{pairs:?}: {errors:#?}"
            );
        }
    }

    #[test]
    fn a_bad_preview_value_is_reported_once_with_rollback_to() {
        let (_, errors) = choose(&[
            ("INPUT_EXPRESS-SERVICE", "f"),
            ("INPUT_ROLLBACK-TO", "previous"),
            ("INPUT_PREVIEW", "yes"),
        ]);
        assert_eq!(
            errors,
            [
                "input `preview` = `yes`: is not a boolean. Use `true` or `false` (YAML 1.2 core schema), e.g. `preview: true`"
            ]
        );
    }

    fn deploy_errors(pairs: &[(&str, &str)]) -> (Config, Vec<String>) {
        let (c, errs) = crate::inputs::parsed(pairs, Config::parse);
        (c.expect("the target is chosen"), errs)
    }

    /// `registry` on a deploy: this account's registry for the images of a release promoted from another
    /// account (ECS, App Runner, ECS Express), and nothing else.
    #[test]
    fn registry_is_taken_only_by_an_image_promotion() {
        let promote = [
            ("INPUT_PROMOTE-FROM", "staging"),
            ("INPUT_ENVIRONMENT", "production"),
        ];
        for target in [
            ("INPUT_EXPRESS-SERVICE", "frontend"),
            ("INPUT_APP-RUNNER-SERVICE", "frontend"),
        ] {
            let (c, e) = deploy_errors(
                &[
                    &promote[..],
                    &[target, ("INPUT_REGISTRY", "http://127.0.0.1:5000/")],
                ]
                .concat(),
            );
            assert!(e.is_empty(), "{e:#?}");
            let got = match &c.target {
                Target::Express(x) => x.registry.clone(),
                Target::AppRunner(a) => a.registry.clone(),
                _ => panic!("{target:?}"),
            };
            assert_eq!(got.as_deref(), Some("http://127.0.0.1:5000"), "{target:?}");
            let (_, e) = deploy_errors(
                &[
                    &promote[..],
                    &[target, ("INPUT_REGISTRY", "http://mirror.example")],
                ]
                .concat(),
            );
            assert_eq!(e.len(), 1, "{e:#?}");
            assert!(
                e[0].contains("input `registry` = `http://mirror.example`: is plain `http://`"),
                "{e:#?}"
            );
            let (_, e) = deploy_errors(&[
                target,
                (
                    "INPUT_IMAGE",
                    "123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:1",
                ),
                ("INPUT_REGISTRY", "registry.example"),
            ]);
            assert_eq!(e.len(), 1, "{e:#?}");
            assert!(
                e[0].contains("applies to a deploy only with `promote-from`"),
                "{e:#?}"
            );
        }
        // ECS copies each container's image too.
        let (c, e) = deploy_errors(
            &[
                &promote[..],
                &[
                    ("INPUT_CLUSTER", "c"),
                    ("INPUT_SERVICE", "web"),
                    ("INPUT_REGISTRY", "registry.example"),
                ],
            ]
            .concat(),
        );
        assert!(e.is_empty(), "{e:#?}");
        let Target::Ecs(ecs) = &c.target else {
            panic!("{:?}", c.target)
        };
        assert_eq!(ecs.registry.as_deref(), Some("https://registry.example"));
        // A Lambda promotion copies its zip through S3.
        let (_, e) = deploy_errors(
            &[
                &promote[..],
                &[
                    ("INPUT_FUNCTION-NAME", "fn"),
                    ("INPUT_ALIAS", "live"),
                    ("INPUT_REGISTRY", "registry.example"),
                ],
            ]
            .concat(),
        );
        assert!(
            e.iter().any(|e| e.contains("input `registry`")
                && e.contains("a Lambda promotion copies its zip into `s3-bucket`")),
            "{e:#?}"
        );
    }

    #[test]
    fn express_takes_rollback_to_without_an_image_and_names_each_new_release_input_once() {
        let (c, e) = deploy_errors(&[
            ("INPUT_EXPRESS-SERVICE", "frontend"),
            ("INPUT_ROLLBACK-TO", "previous"),
        ]);
        assert!(e.is_empty(), "{e:#?}");
        assert_eq!(
            c.rollback,
            Some(crate::github::deployments::Wanted::Previous)
        );
        let Target::Express(x) = c.target else {
            panic!("not an ECS Express target: {:?}", c.target)
        };
        assert_eq!(x.image, "");
        let (_, e) = deploy_errors(&[
            ("INPUT_EXPRESS-SERVICE", "frontend"),
            ("INPUT_ROLLBACK-TO", "v1.2.0"),
            ("INPUT_IMAGE", "repo@sha256:abc"),
            ("INPUT_TASK-DEFINITION", "td.json"),
            ("INPUT_PREVIEW", "true"),
            ("INPUT_CONTAINER", "app"),
        ]);
        let all = e.join("\n");
        for input in ["image", "task-definition", "preview", "container"] {
            let n = e
                .iter()
                .filter(|l| l.starts_with(&format!("input `{input}`")))
                .count();
            assert_eq!(n, 1, "`{input}` named once: {all}");
        }
        assert_eq!(e.len(), 4, "{all}");
    }

    /// docs/architecture.md, "deploy/": the shared rooms import no target, no target imports another,
    /// and `rollback.rs` names none (it works through `target::Target`).
    #[test]
    fn shared_rooms_and_targets_import_no_other_target() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/modes/deploy");
        let targets = ["ecs", "lambda", "apprunner", "express"];
        let mut rooms: Vec<(String, Option<&str>)> = [
            "record",
            "health",
            "image",
            "image_target",
            "clients",
            "poll",
            "target",
            "rollback",
            "promote",
        ]
        .iter()
        .map(|r| (format!("{r}.rs"), None))
        .collect();
        for t in targets {
            rooms.push((format!("{t}.rs"), Some(t)));
            if let Ok(files) = std::fs::read_dir(dir.join(t)) {
                for f in files {
                    let name = f.unwrap().file_name().into_string().unwrap();
                    rooms.push((format!("{t}/{name}"), Some(t)));
                }
            }
        }
        for (room, own) in rooms {
            let text = std::fs::read_to_string(dir.join(&room)).unwrap();
            for t in targets.iter().filter(|t| Some(**t) != own) {
                for path in [
                    format!("super::{t}::"),
                    format!("super::{t};"),
                    format!("super::super::{t}"),
                    format!("deploy::{t}"),
                ] {
                    assert!(!text.contains(&path), "{room} names `{path}`");
                }
            }
        }
    }
}
