//! `rollback-to` (docs/rollback.md): deploys record what they put in place in their GitHub Deployment's
//! payload, and a rollback step puts an earlier release back — ECS on the scripted ECS endpoint, Lambda on
//! moto, App Runner on the scripted App Runner endpoint — always with the fake GitHub that checks every
//! request and answer against GitHub's OpenAPI description.

use crate::helpers::has;
use serde_json::Value;

use crate::ecs::{error_lines, fake_with, step_for};
use crate::helpers::deploy::{TOKEN, record, scripted_step, states};
use crate::helpers::fake_ecs::{After, Behaviour, FakeEcs};
use crate::helpers::fake_github::FakeGithub;
use crate::helpers::run::{Step, StepResult};

const SHA_A: &str = "aaaaaaa1aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const SHA_B: &str = "bbbbbbb2bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const SHA_C: &str = "ccccccc3cccccccccccccccccccccccccccccccc";
const SHA_D: &str = "ddddddd4dddddddddddddddddddddddddddddddd";

/// The repository as GitHub shows it: SHA_A to SHA_D on `main`, tag `v1.0.0` on A. A rollback traces
/// every recorded commit to the ref its deployment names before it restores it.
fn history(gh: &FakeGithub) {
    let mut parents: Vec<&str> = Vec::new();
    for sha in [SHA_A, SHA_B, SHA_C, SHA_D] {
        gh.seed_commit(sha, "feat: a change", &parents);
        parents = vec![sha];
    }
    gh.set_ref("refs/heads/main", SHA_D);
    gh.set_ref("refs/tags/v1.0.0", SHA_A);
}

pub fn image(n: char) -> String {
    format!(
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/web@sha256:{}",
        n.to_string().repeat(64)
    )
}

/// `step` run for commit `sha` against `gh`, in environment `staging`, which `main` and `v*` tags may
/// deploy to (a rollback checks each recorded release's ref against this same policy).
fn at(step: Step, gh: &FakeGithub, sha: &str) -> Step {
    record(step, gh, "staging", TOKEN)
        .input("trigger-policy", "staging: [refs/heads/main, refs/tags/v*]")
        .var("GITHUB_SHA", sha)
}

/// The same step as a tag build (`refs/tags/<tag>`): its version is the tag.
fn tagged(step: Step, tag: &str) -> Step {
    step.var("GITHUB_REF", &format!("refs/tags/{tag}"))
        .var("GITHUB_REF_NAME", tag)
        .var("GITHUB_REF_TYPE", "tag")
}

pub fn last_deployment(gh: &FakeGithub) -> Value {
    gh.deployments().last().cloned().unwrap()
}

pub fn ok(r: &StepResult) {
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.summary);
}

/// `web` completes each deployment one poll after UpdateService.
pub fn complete(fake: &FakeEcs, n: usize) {
    fake.script("web", vec![Behaviour::complete_after_polls(1); n]);
}

#[tokio::test]
async fn ecs_previous_skips_a_failed_deploy_restores_the_last_good_task_definition_and_records_it()
{
    let gh = FakeGithub::start_for("octo-org/octo-repo").await;
    history(&gh);
    let (fake, _) = fake_with(&[("web", None)]).await;
    let Some(base) = step_for(&fake) else { return };
    drop(base);
    let step = || step_for(&fake).unwrap();

    // A (tag v1.0.0) succeeds: web:2.
    complete(&fake, 1);
    let a = tagged(at(step(), &gh, SHA_A), "v1.0.0")
        .input("image", &image('a'))
        .run()
        .await;
    ok(&a);
    let dep_a = last_deployment(&gh);
    assert_eq!(dep_a["payload"]["version"], "v1.0.0", "{dep_a}");
    assert_eq!(dep_a["payload"]["target"]["kind"], "ecs", "{dep_a}");
    let td_a = dep_a["payload"]["target"]["services"][0]["task_definition"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(td_a.ends_with("task-definition/web:2"), "{td_a}");
    assert_eq!(a.output("task-definition-arn"), Some(td_a.as_str()));

    // B fails (a task cannot pull its image) and is rolled back to web:2: a `failure` deployment.
    fake.script(
        "web",
        [
            Behaviour::StopTasks {
                after: After::Polls(1),
                stop_code: "TaskFailedToStart".into(),
                reason: "CannotPullContainerError: pull image manifest has been retried 5 time(s)"
                    .into(),
                containers: vec![("app".into(), None, None)],
            },
            Behaviour::complete_after_polls(1),
        ],
    );
    at(step(), &gh, SHA_B)
        .input("image", &image('b'))
        .exits(1)
        .await;
    let dep_b = last_deployment(&gh);
    assert!(
        states(&gh, dep_b["id"].as_u64().unwrap()).contains(&"failure".to_owned()),
        "{dep_b}"
    );

    // C succeeds: web:4 is live.
    complete(&fake, 1);
    let c = at(step(), &gh, SHA_C)
        .input("image", &image('c'))
        .run()
        .await;
    ok(&c);
    let dep_c = last_deployment(&gh);
    assert!(
        fake.service_task_definition("web")
            .ends_with("task-definition/web:4")
    );

    // Dry run: says what would be redeployed, changes nothing, records nothing.
    let (updates, registers, deployments) = (
        fake.requests("UpdateService").len(),
        fake.requests("RegisterTaskDefinition").len(),
        gh.deployments().len(),
    );
    let dry = at(step(), &gh, SHA_D)
        .input("image", "")
        .input("rollback-to", "previous")
        .input("dry-run", "true")
        .run()
        .await;
    ok(&dry);
    assert_eq!(dry.output("verdict"), Some("skipped"));
    assert_eq!(dry.output("restored-version"), Some("v1.0.0"));
    has(
        &dry.summary,
        &format!(
            "to deployment #{} (version `v1.0.0`, commit `aaaaaaa1aaaa`",
            dep_a["id"]
        ),
    );
    has(&dry.stdout, "web:2");
    assert_eq!(fake.requests("UpdateService").len(), updates);
    assert_eq!(gh.deployments().len(), deployments);

    // The rollback: `previous` passes over B (failed) and puts A's task definition back, registering
    // nothing; a new deployment records the same target.
    complete(&fake, 1);
    let r = at(step(), &gh, SHA_D)
        .input("image", "")
        .input("rollback-to", "previous")
        .run()
        .await;
    ok(&r);
    gh.assert_no_violations();
    fake.assert_no_protocol_errors();
    assert_eq!(fake.requests("RegisterTaskDefinition").len(), registers);
    let last_update = fake.requests("UpdateService").last().cloned().unwrap();
    assert_eq!(
        last_update["taskDefinition"],
        td_a.as_str(),
        "{last_update}"
    );
    assert_eq!(fake.service_task_definition("web"), td_a);
    assert_eq!(r.output("restored-version"), Some("v1.0.0"));
    assert_eq!(
        r.output("restored-deployment-id"),
        Some(dep_a["id"].to_string().as_str())
    );
    assert_eq!(r.output("task-definition-arn"), Some(td_a.as_str()));
    has(
        &r.summary,
        &format!(
            "{} (`{}`): not good (statuses in&#95;progress → failure",
            dep_b["id"], SHA_B
        ),
    );
    let dep_r = last_deployment(&gh);
    assert_eq!(dep_r["sha"], SHA_A, "{dep_r}");
    assert_eq!(dep_r["payload"]["target"], dep_a["payload"]["target"]);
    assert_eq!(dep_r["payload"]["restored_from"], dep_a["id"]);
    assert_eq!(dep_r["payload"]["rolled_back_from"], dep_c["id"]);
    assert_eq!(dep_r["payload"]["version"], "v1.0.0");
    assert_eq!(
        states(&gh, dep_r["id"].as_u64().unwrap()),
        ["in_progress", "success"]
    );

    // Again: C was rolled back from, B failed, A is what runs: nothing earlier is good. Exit 2, naming
    // the environment and what to do; nothing is touched.
    // The lookup read one page of deployments and the statuses of the candidates down to A (dry run
    // and rollback: twice).
    assert_eq!(gh.count("GET /repos/{owner}/{repo}/deployments"), 2);
    assert_eq!(
        gh.count("GET /repos/{owner}/{repo}/deployments/{deployment_id}/statuses"),
        2 * 3
    );

    let updates = fake.requests("UpdateService").len();
    let again = at(step(), &gh, SHA_D)
        .input("image", "")
        .input("rollback-to", "previous")
        .exits(2)
        .await;
    let errors = error_lines(&again.stdout);
    assert!(
        errors.iter().any(
            |e| e.contains("environment `staging` has no earlier good release")
                && e.contains("a later rollback replaced it")
        ),
        "{}",
        again.stdout
    );
    assert_eq!(fake.requests("UpdateService").len(), updates);

    // A version names one: C again, by its commit's first 7 digits.
    complete(&fake, 1);
    let v = at(step(), &gh, SHA_D)
        .input("image", "")
        .input("rollback-to", &SHA_C[..7])
        .run()
        .await;
    ok(&v);
    assert_eq!(v.output("restored-version"), Some(SHA_C));
    assert!(
        fake.service_task_definition("web")
            .ends_with("task-definition/web:4")
    );
    gh.assert_no_violations();
}

#[tokio::test]
async fn ecs_rollback_without_any_recorded_release_or_token_is_refused_before_any_ecs_write() {
    let gh = FakeGithub::start_for("octo-org/octo-repo").await;
    history(&gh);
    let (fake, _) = fake_with(&[("web", None)]).await;
    let Some(step) = step_for(&fake) else { return };
    let r = at(step, &gh, SHA_D)
        .input("image", "")
        .input("rollback-to", "v9.9.9")
        .exits(2)
        .await;
    let errors = error_lines(&r.stdout);
    assert!(
        errors.iter().any(|e| e.contains(
            "input `rollback-to`: environment `staging` has no good release of version `v9.9.9`"
        ) && e.contains("0 deployment(s) read")),
        "{}",
        r.stdout
    );
    assert!(fake.requests("UpdateService").is_empty());
    assert!(gh.deployments().is_empty());

    // Without a token the releases cannot be read: exit 2 naming `github-token`.
    let r = step_for(&fake)
        .unwrap()
        .input("image", "")
        .input("rollback-to", "previous")
        .exits(2)
        .await;
    assert!(
        error_lines(&r.stdout)
            .iter()
            .any(|e| e.contains("github-token")),
        "{}",
        r.stdout
    );

    // A token without `deployments` permission: exit 2 naming the permission.
    gh.forbid("GET /repos/{owner}/{repo}/deployments");
    let r = at(step_for(&fake).unwrap(), &gh, SHA_D)
        .input("image", "")
        .input("rollback-to", "previous")
        .exits(2)
        .await;
    assert!(
        error_lines(&r.stdout)
            .iter()
            .any(|e| e.contains("deployments: write")),
        "{}",
        r.stdout
    );
    assert!(fake.requests("UpdateService").is_empty());
}

#[tokio::test]
async fn bad_rollback_inputs_are_all_named_at_once_before_anything_runs() {
    let gh = FakeGithub::start_for("octo-org/octo-repo").await;
    history(&gh);
    let (fake, _) = fake_with(&[("web", None)]).await;
    let Some(step) = step_for(&fake) else { return };
    let r = at(step, &gh, SHA_D)
        .input("rollback-to", "v1 or v2")
        .input("task-definition", "td.json")
        .input("pre-deploy-task", "command: [migrate]")
        .exits(2)
        .await;
    let errors = error_lines(&r.stdout).join("\n");
    for needle in [
        "rollback-to",
        "is neither `previous` nor a version",
        "image",
        "task-definition",
        "pre-deploy-task",
    ] {
        assert!(errors.contains(needle), "{needle}: {errors}");
    }
    assert_eq!(fake.total_calls(), 0, "{:?}", fake.calls());
    assert!(
        gh.requests()
            .iter()
            .all(|q| !q.route.contains("deployments"))
    );
}

#[tokio::test]
async fn lambda_rollback_moves_the_alias_back_to_the_recorded_version_with_health_checks() {
    let gh = FakeGithub::start_for("octo-org/octo-repo").await;
    history(&gh);
    let Some(rig) = crate::lambda::Rig::new("rollback").await else {
        return;
    };
    let health = crate::lambda::health_server(200).await;
    // A: version 2. B: version 3.
    for (sha, body) in [(SHA_A, "a"), (SHA_B, "b")] {
        let r = at(rig.step(Some(body)), &gh, sha)
            .input("health-url", &health.url)
            .run()
            .await;
        ok(&r);
    }
    assert_eq!(rig.alias().await.0, "3");
    let dep_a = gh.deployments()[0].clone();
    assert_eq!(dep_a["payload"]["target"]["kind"], "lambda", "{dep_a}");
    assert_eq!(dep_a["payload"]["target"]["version"], "2", "{dep_a}");

    // Dry run: names the version, moves nothing, records nothing.
    let deployments = gh.deployments().len();
    let dry = at(rig.step(None), &gh, SHA_C)
        .input("health-url", &health.url)
        .input("rollback-to", "previous")
        .input("dry-run", "true")
        .run()
        .await;
    ok(&dry);
    assert_eq!(dry.output("restored-version"), Some(SHA_A));
    has(
        &dry.summary,
        "Rollback (dry run): would move alias `live` to version 2 as recorded",
    );
    assert_eq!(rig.alias().await.0, "3");
    assert_eq!(gh.deployments().len(), deployments);

    let hits = health.hits.load(std::sync::atomic::Ordering::SeqCst);
    let r = at(rig.step(None), &gh, SHA_C)
        .input("health-url", &health.url)
        .input("rollback-to", "previous")
        .run()
        .await;
    ok(&r);
    gh.assert_no_violations();
    assert_eq!(rig.alias().await, ("2".to_owned(), None));
    assert!(
        health.hits.load(std::sync::atomic::Ordering::SeqCst) > hits,
        "the health URL was checked after the alias moved"
    );
    assert_eq!(r.output("restored-version"), Some(SHA_A));
    let dep_r = last_deployment(&gh);
    assert_eq!(dep_r["payload"]["target"], dep_a["payload"]["target"]);
    assert_eq!(
        states(&gh, dep_r["id"].as_u64().unwrap()),
        ["in_progress", "success"]
    );
    // Version 2 was published once, by A: the function has versions 1 to 3 only.
    let versions = rig
        .lambda
        .list_versions_by_function()
        .function_name(&rig.function)
        .send()
        .await
        .unwrap();
    assert_eq!(versions.versions().len(), 4, "$LATEST, 1, 2, 3");

    // An unhealthy URL during the rollback puts the alias back where it was (version 2 stays).
    let sick = crate::lambda::health_server(503).await;
    at(rig.step(None), &gh, SHA_D)
        .input("health-url", &sick.url)
        .input("rollback-to", &SHA_B[..8])
        .exits(1)
        .await;
    assert_eq!(rig.alias().await, ("2".to_owned(), None));
    let dep_f = last_deployment(&gh);
    assert_eq!(dep_f["payload"]["target"]["version"], "3");
    assert_eq!(
        states(&gh, dep_f["id"].as_u64().unwrap()),
        ["in_progress", "failure"]
    );
    gh.assert_no_violations();
}

pub fn app_runner_step(fake: &crate::helpers::fake_apprunner::FakeAppRunner) -> Option<Step> {
    Some(
        scripted_step("AWS_ENDPOINT_URL_APPRUNNER", fake.url())?
            .input("app-runner-service", "frontend")
            .input("health-url", &fake.health_url()),
    )
}

#[tokio::test]
async fn app_runner_rollback_restores_the_recorded_image_and_refuses_when_only_failures_precede() {
    use crate::helpers::fake_apprunner::FakeAppRunner;
    let gh = FakeGithub::start_for("octo-org/octo-repo").await;
    history(&gh);
    let fake = FakeAppRunner::start("frontend", &image('0')).await;
    let Some(step) = app_runner_step(&fake) else {
        return;
    };
    let r = at(step, &gh, SHA_A).input("image", &image('1')).run().await;
    ok(&r);
    let dep_a = last_deployment(&gh);
    assert_eq!(dep_a["payload"]["target"]["kind"], "app-runner", "{dep_a}");
    assert_eq!(dep_a["payload"]["target"]["image"], image('1').as_str());

    // B is unhealthy and rolled back to image 1.
    fake.health(500);
    at(app_runner_step(&fake).unwrap(), &gh, SHA_B)
        .input("image", &image('2'))
        .exits(1)
        .await;
    assert_eq!(fake.image(), image('1'));
    fake.health(200);

    // A is live; B failed; nothing earlier: refused, exit 2.
    let r = at(app_runner_step(&fake).unwrap(), &gh, SHA_C)
        .input("rollback-to", "previous")
        .exits(2)
        .await;
    assert!(
        error_lines(&r.stdout).iter().any(|e| e
            .contains("environment `staging` has no earlier good release")
            && e.contains("not good")),
        "{}",
        r.stdout
    );

    // C (image 3) succeeds; `previous` is A's image 1 again.
    let r = at(app_runner_step(&fake).unwrap(), &gh, SHA_C)
        .input("image", &image('3'))
        .run()
        .await;
    ok(&r);
    assert_eq!(fake.image(), image('3'));
    let deployments = gh.deployments().len();
    let dry = at(app_runner_step(&fake).unwrap(), &gh, SHA_D)
        .input("rollback-to", "previous")
        .input("dry-run", "true")
        .run()
        .await;
    ok(&dry);
    assert_eq!(dry.output("verdict"), Some("skipped"));
    has(
        &dry.stdout,
        &format!(
            "plan: would UpdateService `frontend` from `{}` to `{}`",
            image('3'),
            image('1')
        ),
    );
    assert_eq!(fake.image(), image('3'));
    assert_eq!(gh.deployments().len(), deployments);
    let r = at(app_runner_step(&fake).unwrap(), &gh, SHA_D)
        .input("rollback-to", "previous")
        .run()
        .await;
    ok(&r);
    assert_eq!(fake.image(), image('1'));
    assert_eq!(r.output("restored-version"), Some(SHA_A));
    assert!(r.output("operation-id").is_some());
    let dep_r = last_deployment(&gh);
    assert_eq!(dep_r["payload"]["target"], dep_a["payload"]["target"]);
    assert_eq!(dep_r["sha"], SHA_A);
    fake.assert_no_protocol_errors();
    gh.assert_no_violations();
}

/// A Lambda function on moto with A (version 2, commit SHA_A) then B (version 3, SHA_B) deployed to
/// `staging` and recorded in a fake GitHub holding the repository's history; `None` without moto.
async fn lambda_a_then_b(prefix: &str) -> Option<(FakeGithub, crate::lambda::Rig)> {
    let gh = FakeGithub::start_for("octo-org/octo-repo").await;
    history(&gh);
    let rig = crate::lambda::Rig::new(prefix).await?;
    for (sha, body) in [(SHA_A, "a"), (SHA_B, "b")] {
        ok(&at(rig.step(Some(body)), &gh, sha).run().await);
    }
    assert_eq!(rig.alias().await.0, "3");
    Some((gh, rig))
}

#[tokio::test]
async fn a_cancelled_lambda_rollback_leaves_the_live_version_serving_and_records_a_failure() {
    let Some((gh, rig)) = lambda_a_then_b("rollback-cancel").await else {
        return;
    };
    let step = at(rig.step(None), &gh, SHA_C)
        .input("rollback-to", "previous")
        .input("traffic", "canary 10% 10m");
    let r = rig.cancelled_mid_split(step).await;
    assert_eq!(rig.alias().await, ("3".to_owned(), None));
    has(&r.summary, "cancelled, alias restored to version 3");
    let dep = last_deployment(&gh);
    assert_eq!(dep["payload"]["target"]["version"], "2");
    assert_eq!(
        states(&gh, dep["id"].as_u64().unwrap()),
        ["in_progress", "failure"]
    );
    gh.assert_no_violations();
}

// ---- ECS Express ----

const EXPRESS_ARN: &str = "arn:aws:ecs:eu-west-1:123456789012:service/default/frontend";

/// An ECS Express deploy step of `frontend` (in `default`) on the scripted ECS endpoint, its URL
/// checked at the endpoint's `/ping`.
pub fn express_step(fake: &FakeEcs) -> Option<Step> {
    Some(
        scripted_step("AWS_ENDPOINT_URL_ECS", fake.url())?
            .input("express-service", "frontend")
            .input("health-url", &fake.health_url()),
    )
}

fn express_updates(fake: &FakeEcs) -> Vec<String> {
    fake.requests("UpdateExpressGatewayService")
        .iter()
        .map(|r| r["primaryContainer"]["image"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn express_previous_puts_the_recorded_image_back_and_a_version_names_one() {
    let gh = FakeGithub::start_for("octo-org/octo-repo").await;
    history(&gh);
    let fake = FakeEcs::start().await;
    let arn = fake.seed_express("default", "frontend", &image('0'));
    assert_eq!(arn, EXPRESS_ARN);
    if express_step(&fake).is_none() {
        return;
    }
    let step = || express_step(&fake).unwrap();

    // A (tag v1.0.0): image 1, recorded with the service's ARN before the update.
    let a = tagged(at(step(), &gh, SHA_A), "v1.0.0")
        .input("image", &image('1'))
        .run()
        .await;
    ok(&a);
    let dep_a = last_deployment(&gh);
    assert_eq!(
        dep_a["payload"]["target"],
        serde_json::json!({"kind": "ecs-express", "service": EXPRESS_ARN, "image": image('1')}),
        "{dep_a}"
    );
    assert_eq!(dep_a["payload"]["version"], "v1.0.0");
    // B: image 2 is live.
    let b = at(step(), &gh, SHA_B)
        .input("image", &image('2'))
        .run()
        .await;
    ok(&b);
    let dep_b = last_deployment(&gh);
    assert_eq!(fake.express_image(&arn), image('2'));

    // Dry run: the plan names A's image, nothing is updated or recorded.
    let deployments = gh.deployments().len();
    let dry = at(step(), &gh, SHA_C)
        .input("rollback-to", "previous")
        .input("dry-run", "true")
        .run()
        .await;
    ok(&dry);
    assert_eq!(dry.output("verdict"), Some("skipped"));
    assert_eq!(dry.output("restored-version"), Some("v1.0.0"));
    has(
        &dry.stdout,
        &format!(
            "plan: would UpdateExpressGatewayService `frontend` from `{}` to `{}`",
            image('2'),
            image('1')
        ),
    );
    assert_eq!(express_updates(&fake).len(), 2);
    assert_eq!(gh.deployments().len(), deployments);

    // The rollback: UpdateExpressGatewayService to A's image (the rest of the primary container as it
    // is), followed and checked; a new deployment records A's target, restored from A, rolled back from B.
    let r = at(step(), &gh, SHA_C)
        .input("rollback-to", "previous")
        .run()
        .await;
    ok(&r);
    assert_eq!(express_updates(&fake), [image('1'), image('2'), image('1')]);
    let last = fake
        .requests("UpdateExpressGatewayService")
        .last()
        .cloned()
        .unwrap();
    assert_eq!(last["serviceArn"], EXPRESS_ARN);
    assert_eq!(last["primaryContainer"]["containerPort"], 8080, "{last}");
    assert_eq!(fake.express_image(&arn), image('1'));
    assert_eq!(fake.express_deployments(&arn)[0], "SUCCESSFUL");
    assert_eq!(r.output("restored-version"), Some("v1.0.0"));
    assert_eq!(
        r.output("restored-deployment-id"),
        Some(dep_a["id"].to_string().as_str())
    );
    assert!(
        r.output("deployment-id")
            .is_some_and(|d| d.contains(":service-deployment/default/frontend/"))
    );
    has(
        &r.summary,
        &format!(
            "Rolling back environment `staging` to deployment #{} (version `v1.0.0`",
            dep_a["id"]
        ),
    );
    let dep_r = last_deployment(&gh);
    assert_eq!(dep_r["sha"], SHA_A, "{dep_r}");
    assert_eq!(dep_r["payload"]["target"], dep_a["payload"]["target"]);
    assert_eq!(dep_r["payload"]["restored_from"], dep_a["id"]);
    assert_eq!(dep_r["payload"]["rolled_back_from"], dep_b["id"]);
    assert_eq!(dep_r["payload"]["version"], "v1.0.0");
    assert!(
        dep_r["description"]
            .as_str()
            .unwrap()
            .starts_with("Rollback of ECS Express frontend to #"),
        "{dep_r}"
    );
    assert_eq!(
        states(&gh, dep_r["id"].as_u64().unwrap()),
        ["in_progress", "success"]
    );

    // A version names one: B again, by its commit's first 8 digits.
    let v = at(step(), &gh, SHA_D)
        .input("rollback-to", &SHA_B[..8])
        .run()
        .await;
    ok(&v);
    assert_eq!(v.output("restored-version"), Some(SHA_B));
    assert_eq!(fake.express_image(&arn), image('2'));
    let dep_v = last_deployment(&gh);
    assert_eq!(dep_v["payload"]["restored_from"], dep_b["id"]);
    assert_eq!(dep_v["payload"]["rolled_back_from"], dep_r["id"]);
    fake.assert_no_protocol_errors();
    gh.assert_no_violations();
}

#[tokio::test]
async fn express_failed_rollback_puts_back_what_was_live_and_records_a_failure() {
    let gh = FakeGithub::start_for("octo-org/octo-repo").await;
    history(&gh);
    let fake = FakeEcs::start().await;
    let arn = fake.seed_express("default", "frontend", &image('0'));
    if express_step(&fake).is_none() {
        return;
    }
    let step = || express_step(&fake).unwrap();
    for (sha, n) in [(SHA_A, '1'), (SHA_B, '2')] {
        ok(&at(step(), &gh, sha).input("image", &image(n)).run().await);
    }
    let dep_a = gh.deployments()[0].clone();
    let dep_b = last_deployment(&gh);

    // A's image comes up, but the URL answers 500: the image that was live (B's) is put back.
    fake.health(500);
    let r = at(step(), &gh, SHA_C)
        .input("rollback-to", "previous")
        .exits(1)
        .await;
    assert_eq!(
        express_updates(&fake),
        [image('1'), image('2'), image('1'), image('2')]
    );
    assert_eq!(fake.express_image(&arn), image('2'));
    let errors = error_lines(&r.stdout);
    assert_eq!(errors.len(), 1, "{}", r.stdout);
    assert!(
        errors[0].contains("ECS Express deploy of `frontend` failed: deployment succeeded, but `")
            && errors[0].contains(&format!("; rolled back to `{}` (deployment `", image('2'))),
        "{}",
        errors[0]
    );
    let dep_f = last_deployment(&gh);
    assert_eq!(dep_f["payload"]["target"], dep_a["payload"]["target"]);
    assert_eq!(dep_f["payload"]["restored_from"], dep_a["id"]);
    assert_eq!(dep_f["payload"]["rolled_back_from"], dep_b["id"]);
    assert_eq!(
        states(&gh, dep_f["id"].as_u64().unwrap()),
        ["in_progress", "failure"]
    );

    // The failed rollback is not good: `previous` still finds A (B is live).
    fake.health(200);
    let again = at(step(), &gh, SHA_D)
        .input("rollback-to", "previous")
        .run()
        .await;
    ok(&again);
    assert_eq!(fake.express_image(&arn), image('1'));
    has(
        &again.summary,
        &format!(
            "{} (`{SHA_A}`): not good (statuses in&#95;progress → failure",
            dep_f["id"]
        ),
    );
    fake.assert_no_protocol_errors();
    gh.assert_no_violations();
}

#[tokio::test]
async fn express_without_an_earlier_release_or_with_another_targets_release_is_refused_with_exit_2()
{
    use crate::helpers::fake_apprunner::FakeAppRunner;
    let gh = FakeGithub::start_for("octo-org/octo-repo").await;
    history(&gh);
    let fake = FakeEcs::start().await;
    let arn = fake.seed_express("default", "frontend", &image('0'));
    if express_step(&fake).is_none() {
        return;
    }
    let step = || express_step(&fake).unwrap();

    // Nothing deployed: exit 2 for a version, before any ECS call.
    let r = at(step(), &gh, SHA_D)
        .input("rollback-to", "v9.9.9")
        .exits(2)
        .await;
    assert!(
        error_lines(&r.stdout).iter().any(|e| e.contains(
            "input `rollback-to`: environment `staging` has no good release of version `v9.9.9` of ECS Express `frontend`"
        ) && e.contains("0 deployment(s) read")),
        "{}",
        r.stdout
    );
    assert_eq!(fake.total_calls(), 0, "{:?}", fake.calls());

    // The environment's release is App Runner's (the same `frontend`, the same environment): refused,
    // naming that release and the input that restores it.
    let ar = FakeAppRunner::start("frontend", &image('0')).await;
    let ar_step = app_runner_step(&ar).unwrap();
    ok(&at(ar_step, &gh, SHA_A)
        .input("image", &image('5'))
        .run()
        .await);
    let dep_ar = last_deployment(&gh);
    let r = at(step(), &gh, SHA_B)
        .input("rollback-to", "previous")
        .exits(2)
        .await;
    let errors = error_lines(&r.stdout).join("\n");
    for needle in [
        "input `rollback-to`: environment `staging` has no earlier good release (`rollback-to: previous`) of ECS Express `frontend`",
        "1 deployment(s) read, 1 without a stevedore record of this target",
        &format!(
            "recorded for another target: #{} (`{SHA_A}`): App Runner `frontend`",
            dep_ar["id"]
        ),
        "`rollback-to` restores releases of the target of this step (ECS Express `frontend`)",
        "`app-runner-service: frontend`",
    ] {
        assert!(errors.contains(needle), "{needle}\n{errors}");
    }
    assert!(fake.requests("UpdateExpressGatewayService").is_empty());

    // One Express release, then App Runner again: `previous` has nothing earlier of Express (A is live).
    ok(&at(step(), &gh, SHA_B)
        .input("image", &image('1'))
        .run()
        .await);
    ok(&at(app_runner_step(&ar).unwrap(), &gh, SHA_C)
        .input("image", &image('6'))
        .run()
        .await);
    let r = at(step(), &gh, SHA_D)
        .input("rollback-to", "previous")
        .exits(2)
        .await;
    let errors = error_lines(&r.stdout).join("\n");
    assert!(
        errors.contains("3 deployment(s) read, 2 without a stevedore record of this target")
            && errors.contains("; live: #"),
        "{errors}"
    );
    // An Express B: `previous` passes over the App Runner releases and puts the Express A back.
    ok(&at(step(), &gh, SHA_D)
        .input("image", &image('2'))
        .run()
        .await);
    let r = at(step(), &gh, SHA_D)
        .input("rollback-to", "previous")
        .run()
        .await;
    ok(&r);
    assert_eq!(r.output("restored-version"), Some(SHA_B));
    assert_eq!(fake.express_image(&arn), image('1'));
    assert_eq!(ar.image(), image('6'), "App Runner untouched");
    fake.assert_no_protocol_errors();
    gh.assert_no_violations();
}

// ---- forged releases (issue 25, finding 1) ----------------------------------------------------------
//
// Any job with `deployments: write`, or a person's token, can create a Deployment with any payload and
// mark it `success`. Each test below forges releases through GitHub's API as such an attacker would,
// then runs `rollback-to`: a forged release is passed over with the reason, never put in place.

/// A commit on a feature branch (not on `main`, not tagged).
const SHA_E: &str = "eeeeeee5eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee";

/// Creates a deployment of `sha` to `staging` with `payload` and marks it `success`, with the
/// attacker's own token, through the fake GitHub's REST API; its id.
async fn forge(gh: &FakeGithub, sha: &str, payload: serde_json::Value) -> u64 {
    let attacker = gh.client_as("ghp_attacker0123456789abcdefghijklmn");
    let d = attacker
        .post(
            "/repos/octo-org/octo-repo/deployments",
            &serde_json::json!({
                "ref": sha, "environment": "staging", "auto_merge": false,
                "required_contexts": [], "payload": payload,
            }),
        )
        .await
        .unwrap();
    let id = d["id"].as_u64().unwrap_or_else(|| panic!("{d}"));
    attacker
        .post(
            &format!("/repos/octo-org/octo-repo/deployments/{id}/statuses"),
            &serde_json::json!({"state": "success"}),
        )
        .await
        .unwrap();
    id
}

/// `history`, plus SHA_E on branch `feature/x`.
fn feature_branch(gh: &FakeGithub) {
    gh.seed_commit(SHA_E, "feat: evil", &[SHA_A]);
    gh.set_ref("refs/heads/feature/x", SHA_E);
}

/// The passed-over note of forged deployment `id` contains `why`.
fn passed_over(r: &StepResult, id: u64, why: &str) {
    let text = format!("{}\n{}", r.stdout, r.summary)
        .replace("&#96;", "`")
        .replace("&#35;", "#");
    assert!(
        text.contains(&format!("#{id} (")) && text.contains(why),
        "#{id} should be passed over with `{why}`:\n{}\n{}",
        r.stdout,
        r.summary
    );
}

#[tokio::test]
async fn ecs_forged_releases_are_passed_over_and_previous_restores_the_last_verified_one() {
    let gh = FakeGithub::start_for("octo-org/octo-repo").await;
    history(&gh);
    feature_branch(&gh);
    let (fake, _) = fake_with(&[("web", None)]).await;
    if step_for(&fake).is_none() {
        return;
    }
    let step = || step_for(&fake).unwrap();
    complete(&fake, 1);
    ok(&tagged(at(step(), &gh, SHA_A), "v1.0.0")
        .input("image", &image('a'))
        .run()
        .await);
    let td_a = last_deployment(&gh)["payload"]["target"]["services"][0]["task_definition"]
        .as_str()
        .unwrap()
        .to_owned();
    complete(&fake, 1);
    ok(&at(step(), &gh, SHA_C)
        .input("image", &image('c'))
        .run()
        .await);
    let td_c = fake.service_task_definition("web");
    assert_ne!(td_a, td_c);

    let ecs = |td: &str| {
        serde_json::json!({"kind": "ecs", "cluster": "prod",
                           "services": [{"service": "web", "task_definition": td}]})
    };
    let main = |sha: &str, target: serde_json::Value| serde_json::json!({"ref": "refs/heads/main", "version": sha, "target": target});
    // Another family (an admin task role), another account and region, a feature-branch commit, a
    // tag that does not exist, a commit that is not on the branch it names, a tag that points elsewhere,
    // a version that is not the tag.
    let family = forge(
        &gh,
        SHA_B,
        main(
            SHA_B,
            ecs("arn:aws:ecs:eu-west-1:123456789012:task-definition/admin-tools:3"),
        ),
    )
    .await;
    let account = forge(
        &gh,
        SHA_B,
        main(
            SHA_B,
            ecs("arn:aws:ecs:eu-west-1:999999999999:task-definition/web:7"),
        ),
    )
    .await;
    let branch = forge(
        &gh,
        SHA_E,
        serde_json::json!({"ref": "refs/heads/feature/x", "version": SHA_E, "target": ecs(&td_a)}),
    )
    .await;
    let no_tag = forge(
        &gh,
        SHA_B,
        serde_json::json!({"ref": "refs/tags/v9.9.9", "version": "v9.9.9", "target": ecs(&td_a)}),
    )
    .await;
    let off_branch = forge(&gh, SHA_E, main(SHA_E, ecs(&td_a))).await;
    let moved_tag = forge(
        &gh,
        SHA_B,
        serde_json::json!({"ref": "refs/tags/v1.0.0", "version": "v1.0.0", "target": ecs(&td_a)}),
    )
    .await;
    let relabelled = forge(
        &gh,
        SHA_A,
        serde_json::json!({"ref": "refs/tags/v1.0.0", "version": "v2.0.0", "target": ecs(&td_a)}),
    )
    .await;

    // A version only the forged records carry: exit 2, nothing updated.
    let updates = fake.requests("UpdateService").len();
    let r = at(step(), &gh, SHA_D)
        .input("image", "")
        .input("rollback-to", "v9.9.9")
        .exits(2)
        .await;
    passed_over(&r, no_tag, "tag `v9.9.9` does not exist");
    assert_eq!(fake.requests("UpdateService").len(), updates);

    // `previous`: every forged record is passed over with its reason; C is live (verified), A is
    // restored.
    complete(&fake, 1);
    let r = at(step(), &gh, SHA_D)
        .input("image", "")
        .input("rollback-to", "previous")
        .run()
        .await;
    ok(&r);
    for (id, why) in [
        (
            family,
            "of family `admin-tools`, the service runs family `web`",
        ),
        (
            account,
            "of account `999999999999`, the service runs account `123456789012`",
        ),
        (
            branch,
            "ref `refs/heads/feature/x` may not deploy to `staging`",
        ),
        (no_tag, "tag `v9.9.9` does not exist"),
        (off_branch, "is not on branch `main`"),
        (
            moved_tag,
            "tag `v1.0.0` points at commit `aaaaaaa1aaaa`, not at the recorded `bbbbbbb2bbbb`",
        ),
        (
            relabelled,
            "the record's version `v2.0.0` is not its tag `v1.0.0`",
        ),
    ] {
        passed_over(&r, id, why);
    }
    let sent: Vec<String> = fake
        .requests("UpdateService")
        .iter()
        .filter_map(|u| u["taskDefinition"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(sent.last(), Some(&td_a), "{sent:?}");
    assert!(
        sent.iter()
            .all(|td| !td.contains("admin-tools") && !td.contains("999999999999")),
        "{sent:?}"
    );
    assert_eq!(r.output("restored-version"), Some("v1.0.0"));
    let dep_r = last_deployment(&gh);
    assert_eq!(dep_r["payload"]["ref"], "refs/tags/v1.0.0", "{dep_r}");
    gh.assert_no_violations();
}

#[tokio::test]
async fn lambda_forged_latest_or_another_code_hash_is_never_put_behind_the_alias() {
    let Some((gh, rig)) = lambda_a_then_b("forged").await else {
        return;
    };
    let dep_a = gh.deployments()[0].clone();
    let hash_a = dep_a["payload"]["target"]["code_sha256"]
        .as_str()
        .unwrap_or_else(|| panic!("a Lambda deploy records the code hash: {dep_a}"))
        .to_owned();
    let lambda = |version: &str, hash: Option<&str>| {
        let mut t = serde_json::json!({"kind": "lambda", "function": rig.function,
                                       "alias": "live", "version": version});
        if let Some(h) = hash {
            t["code_sha256"] = h.into();
        }
        serde_json::json!({"ref": "refs/heads/main", "version": SHA_C, "target": t})
    };
    let latest = forge(&gh, SHA_C, lambda("$LATEST", Some(&hash_a))).await;
    let other_hash = forge(&gh, SHA_C, lambda("1", Some(&hash_a))).await;
    let no_hash = forge(&gh, SHA_C, lambda("1", None)).await;

    // `previous`: B (version 3) is live, A (version 2) is restored; the forged ones are passed over.
    let r = at(rig.step(None), &gh, SHA_D)
        .input("rollback-to", "previous")
        .run()
        .await;
    ok(&r);
    passed_over(
        &r,
        latest,
        "version `$LATEST` is not a published (numeric) version",
    );
    passed_over(&r, other_hash, "version 1 has code hash");
    passed_over(&r, no_hash, "the record has no code hash");
    assert_eq!(rig.alias().await, ("2".to_owned(), None));
    assert_eq!(r.output("restored-version"), Some(SHA_A));
    let dep_r = last_deployment(&gh);
    assert_eq!(dep_r["payload"]["target"]["code_sha256"], hash_a.as_str());
    gh.assert_no_violations();
}

#[tokio::test]
async fn app_runner_forged_images_from_elsewhere_or_by_tag_are_refused() {
    use crate::helpers::fake_apprunner::FakeAppRunner;
    let gh = FakeGithub::start_for("octo-org/octo-repo").await;
    history(&gh);
    let fake = FakeAppRunner::start("frontend", &image('0')).await;
    let Some(step) = app_runner_step(&fake) else {
        return;
    };
    ok(&at(step, &gh, SHA_A).input("image", &image('1')).run().await);
    ok(&at(app_runner_step(&fake).unwrap(), &gh, SHA_B)
        .input("image", &image('2'))
        .run()
        .await);
    let ar = |img: &str| {
        serde_json::json!({"ref": "refs/heads/main", "version": SHA_C,
                           "target": {"kind": "app-runner", "service": "frontend", "image": img}})
    };
    let by_tag = forge(&gh, SHA_C, ar("docker.io/attacker/backdoor:latest")).await;
    let elsewhere = forge(
        &gh,
        SHA_C,
        ar(&format!(
            "999999999999.dkr.ecr.us-east-1.amazonaws.com/web@sha256:{}",
            "f".repeat(64)
        )),
    )
    .await;
    // Only forged releases for the version: exit 2, the service untouched.
    let r = at(app_runner_step(&fake).unwrap(), &gh, SHA_D)
        .input("rollback-to", SHA_C)
        .exits(2)
        .await;
    passed_over(&r, by_tag, "is not pinned by digest");
    passed_over(
        &r,
        elsewhere,
        "is not from `123456789012.dkr.ecr.eu-west-1.amazonaws.com/web`",
    );
    assert_eq!(fake.image(), image('2'));
    // `previous` restores A's image.
    let r = at(app_runner_step(&fake).unwrap(), &gh, SHA_D)
        .input("rollback-to", "previous")
        .run()
        .await;
    ok(&r);
    assert_eq!(fake.image(), image('1'));
    gh.assert_no_violations();
}

#[tokio::test]
async fn express_forged_images_from_elsewhere_or_by_tag_are_refused() {
    let gh = FakeGithub::start_for("octo-org/octo-repo").await;
    history(&gh);
    let fake = FakeEcs::start().await;
    let arn = fake.seed_express("default", "frontend", &image('0'));
    if express_step(&fake).is_none() {
        return;
    }
    let step = || express_step(&fake).unwrap();
    ok(&at(step(), &gh, SHA_A)
        .input("image", &image('1'))
        .run()
        .await);
    ok(&at(step(), &gh, SHA_B)
        .input("image", &image('2'))
        .run()
        .await);
    let x = |img: &str| {
        serde_json::json!({"ref": "refs/heads/main", "version": SHA_C,
                           "target": {"kind": "ecs-express", "service": EXPRESS_ARN, "image": img}})
    };
    let by_tag = forge(&gh, SHA_C, x("docker.io/attacker/backdoor:latest")).await;
    let elsewhere = forge(
        &gh,
        SHA_C,
        x(&format!(
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/tools@sha256:{}",
            "f".repeat(64)
        )),
    )
    .await;
    let updates = express_updates(&fake).len();
    let r = at(step(), &gh, SHA_D)
        .input("rollback-to", SHA_C)
        .exits(2)
        .await;
    passed_over(&r, by_tag, "is not pinned by digest");
    passed_over(
        &r,
        elsewhere,
        "is not from `123456789012.dkr.ecr.eu-west-1.amazonaws.com/web`",
    );
    assert_eq!(express_updates(&fake).len(), updates);
    let r = at(step(), &gh, SHA_D)
        .input("rollback-to", "previous")
        .run()
        .await;
    ok(&r);
    assert_eq!(fake.express_image(&arn), image('1'));
    gh.assert_no_violations();
}
