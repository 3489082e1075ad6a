//! The rig of "deploy, record, restore" scenarios, shared by the ECS, Lambda, App Runner, Express,
//! rollback and preview tests: a whole `mode: deploy` step with AWS credentials from the credential
//! chain (static test keys) and moto behind every AWS call a scripted fake does not play
//! ([`scripted_step`]), the fake GitHub the release is recorded in ([`record`]) and what it recorded
//! ([`states`], [`only_deployment`], [`deployments_of`]), and the pull-request event a preview reacts to
//! ([`pull_request`]).

use serde_json::{Value, json};

use super::fake_ecs::{Behaviour, FakeEcs};
use super::fake_github::FakeGithub;
use super::run::{Step, StepResult};

/// The `github-token` the record steps pass (the fake GitHub takes any token).
pub const TOKEN: &str = "ghs_faketoken0123456789";

/// A `mode: deploy` step in `eu-west-1` with credentials from the AWS credential chain (static test keys),
/// STS (GetCallerIdentity) on moto and the service of the target on the scripted endpoint `fake_url`,
/// named by `endpoint_var` (`AWS_ENDPOINT_URL_ECS`, `AWS_ENDPOINT_URL_APPRUNNER`). `None` (skip) without
/// moto. The target's inputs are the caller's.
pub fn scripted_step(endpoint_var: &str, fake_url: &str) -> Option<Step> {
    let moto = super::moto::moto()?;
    Some(
        Step::new()
            .input("mode", "deploy")
            .input("allow-aws-credential-chain", "true")
            .var("AWS_ENDPOINT_URL", &moto.endpoint)
            .input("aws-region", "eu-west-1")
            .var("AWS_ACCESS_KEY_ID", "AKIDTEST")
            .var("AWS_SECRET_ACCESS_KEY", "secret-key-for-tests")
            .var(endpoint_var, fake_url),
    )
}

/// The ECR registry of the example pipelines' account (`123456789012`, eu-west-1).
pub const ECR_REGISTRY: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";

/// The scripted ECS endpoint with one service `service` in `cluster`, two tasks of
/// `<ECR_REGISTRY>/<service>:old` (circuit breaker on, no automatic rollback), whose next deployments
/// follow `script`: what a pipeline's deploy jobs roll out to.
pub async fn ecs_service(cluster: &str, service: &str, script: Vec<Behaviour>) -> FakeEcs {
    let ecs = FakeEcs::start().await;
    let td = ecs.seed_task_definition(
        service,
        json!([{"name": service, "image": format!("{ECR_REGISTRY}/{service}:old"), "essential": true}]),
    );
    ecs.seed_service(cluster, service, &td, 2, Some((true, false)));
    ecs.script(service, script);
    ecs
}

/// `step` deploying to `environment` with `token`, recording the release as a GitHub Deployment in `gh`.
pub fn record(step: Step, gh: &FakeGithub, environment: &str, token: &str) -> Step {
    step.input("environment", environment)
        .input("github-token", token)
        .var("GITHUB_API_URL", &gh.url())
}

/// The states of deployment `id`'s statuses, oldest first.
pub fn states(gh: &FakeGithub, id: u64) -> Vec<String> {
    gh.deployment_statuses(id)
        .iter()
        .map(|s| s["state"].as_str().unwrap().to_owned())
        .collect()
}

/// The id of the one deployment `gh` holds, after checking that it is the only one and is of
/// `environment`.
#[track_caller]
pub fn only_deployment(gh: &FakeGithub, environment: &str) -> u64 {
    let deps = gh.deployments();
    assert_eq!(deps.len(), 1, "{deps:?}");
    assert_eq!(deps[0]["environment"].as_str(), Some(environment));
    deps[0]["id"].as_u64().unwrap()
}

/// `gh` saw no protocol violation and holds one deployment, of `environment`, whose statuses went
/// `in_progress` then `failure`; its id.
#[track_caller]
pub fn one_failed_deployment(gh: &FakeGithub, environment: &str) -> u64 {
    gh.assert_no_violations();
    let id = only_deployment(gh, environment);
    assert_eq!(states(gh, id), vec!["in_progress", "failure"]);
    id
}

/// Runs `step`, which must exit 0 with the verdict `success`.
pub async fn succeeds(step: Step) -> StepResult {
    let r = step.exits(0).await;
    assert_eq!(r.output("verdict"), Some("success"));
    r
}

/// The deployments of `environment`, oldest first, each with its status states.
pub fn deployments_of(gh: &FakeGithub, environment: &str) -> Vec<(Value, Vec<String>)> {
    let mut v: Vec<(Value, Vec<String>)> = gh
        .deployments()
        .into_iter()
        .filter(|d| d["environment"] == environment)
        .map(|d| {
            let id = d["id"].as_u64().unwrap();
            (d, states(gh, id))
        })
        .collect();
    v.sort_by_key(|(d, _)| d["id"].as_u64());
    v
}

/// `step` run for pull request `n` of `repo` (head `sha` on branch `feature`, base `main`) on its
/// `action` (`opened`, `synchronize`, `closed`, …), as the runner starts it for a `pull_request` event.
pub fn pull_request(step: Step, repo: &str, n: u64, action: &str, sha: &str) -> Step {
    step.var("GITHUB_SHA", sha)
        .var("GITHUB_REF", &format!("refs/pull/{n}/merge"))
        .event(
            "pull_request",
            json!({
                "action": action,
                "number": n,
                "pull_request": {
                    "number": n,
                    "head": {"sha": sha, "ref": "feature", "repo": {"full_name": repo}},
                    "base": {"ref": "main", "repo": {"full_name": repo}},
                },
                "repository": {"full_name": repo},
            }),
        )
}
