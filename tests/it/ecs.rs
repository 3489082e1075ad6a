//! ECS deploy: against moto (register, update, describe) and against the scripted ECS endpoint for the
//! rollout behaviour moto does not model.

use crate::helpers::has;
use std::time::Duration;

use serde_json::{Value, json};
use stevedore::cancel::{self, Cancel};
use stevedore::modes::deploy::ecs::{
    self, Config, End, RollbackOutcome, ServiceOutcome, Timing, taskdef::Edits,
};

use crate::helpers::deploy::{TOKEN, one_failed_deployment, record, scripted_step, succeeds};
use crate::helpers::fake_ecs::{After, Behaviour, FakeEcs, sdk_config};
use crate::helpers::run::Step;

pub const IMAGE: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/web@sha256:1111111111111111111111111111111111111111111111111111111111111111";

pub fn fast(timeout: Duration) -> Timing {
    Timing {
        gap: Duration::from_millis(20),
        timeout,
        stopped_check_every: 6,
    }
}

pub fn config(services: &[&str]) -> Config {
    Config {
        aws: stevedore::aws::AwsInputs::default(),
        cluster: "prod".into(),
        services: services.iter().map(|s| (*s).to_owned()).collect(),
        edits: Edits {
            containers: vec!["app".into()],
            image: Some(IMAGE.into()),
            environment: vec![("RELEASE".into(), "42".into())],
        },
        task_definition: None,
        rollback: ecs::Rollback::Auto,
        wait_for_drain: false,
        timing: fast(Duration::from_secs(30)),
        pre_task: None,
        post_task: None,
        registry: None,
    }
}

fn containers() -> Value {
    json!([
        {"name": "app", "image": "repo/web:1", "essential": true, "memory": 256,
         "environment": [{"name": "MODE", "value": "prod"}]},
        {"name": "log-router", "image": "repo/fluent-bit:2", "essential": false, "memory": 64}
    ])
}

/// A fake with `services` on cluster `prod`, all running `web:1`.
pub async fn fake_with(services: &[(&str, Option<(bool, bool)>)]) -> (FakeEcs, String) {
    let fake = FakeEcs::start().await;
    let td = fake.seed_task_definition("web", containers());
    for (s, cb) in services {
        fake.seed_service("prod", s, &td, 2, *cb);
    }
    (fake, td)
}

async fn deploy(fake: &FakeEcs, cfg: &Config, cancel: &Cancel) -> Vec<ServiceOutcome> {
    let sdk = fake.sdk();
    let plans = ecs::plan(&sdk, cfg).await.unwrap();
    let out = ecs::apply(&sdk, cfg, plans, cancel).await;
    fake.assert_no_protocol_errors();
    out
}

/// The shared poll schedule at its production gap (src/modes/deploy/poll.rs), read from the arrivals a
/// scripted endpoint recorded: `polls` (the follow loop's calls, in order) are about a second apart, never
/// much closer, never much further, and the first one at or after `end` (the scheduled instant the
/// operation ended) came within about a second. Bounds are generous for a loaded machine: the loop spaces
/// the starts of its calls exactly 1 s apart, the old schedule's gaps grew to 5 s.
pub fn assert_paced_once_a_second(
    what: &str,
    polls: &[std::time::Instant],
    end: std::time::Instant,
) {
    assert!(polls.len() >= 3, "{what}: {} poll(s)", polls.len());
    let gaps: Vec<Duration> = polls.windows(2).map(|w| w[1] - w[0]).collect();
    for g in &gaps {
        assert!(
            *g >= Duration::from_millis(700),
            "{what}: two polls {g:?} apart (never more than one a second): {gaps:?}"
        );
        assert!(
            *g <= Duration::from_millis(1600),
            "{what}: two polls {g:?} apart (never a gap over 1 s): {gaps:?}"
        );
    }
    let seen = polls
        .iter()
        .find(|t| **t >= end)
        .unwrap_or_else(|| panic!("{what}: no poll after the end: {gaps:?}"));
    assert!(
        *seen - end <= Duration::from_millis(1600),
        "{what}: the end was seen {:?} after it happened",
        *seen - end
    );
}

#[tokio::test]
async fn at_the_production_gap_a_rollout_is_polled_once_a_second_and_its_end_seen_within_a_second()
{
    let (fake, _) = fake_with(&[("web", None)]).await;
    fake.script(
        "web",
        [Behaviour::Complete {
            after: After::Time(Duration::from_millis(2600)),
            drain_polls: 1,
        }],
    );
    let mut cfg = config(&["web"]);
    cfg.timing = Timing::new(Duration::from_secs(30));
    let out = deploy(&fake, &cfg, &Cancel::never()).await;
    assert_eq!(out[0].end, Ok(End::Completed), "{:#?}", out[0].timeline);
    let arrivals = fake.arrivals();
    let update = arrivals
        .iter()
        .find(|(op, _)| op == "UpdateService")
        .map(|(_, t)| *t)
        .unwrap();
    let polls: Vec<_> = arrivals
        .iter()
        .filter(|(op, t)| op == "DescribeServices" && *t >= update)
        .map(|(_, t)| *t)
        .collect();
    let end = fake
        .decided()
        .into_iter()
        .find(|d| d.what == "COMPLETED")
        .expect("the rollout completed")
        .at;
    assert_paced_once_a_second("ECS rollout", &polls, end);
    assert_eq!(polls.len() as u32, out[0].seen.polls);
}

#[tokio::test]
async fn success_is_reported_at_the_poll_that_sees_completed() {
    let (fake, old) = fake_with(&[("web", None)]).await;
    fake.script("web", [Behaviour::complete_after_polls(3)]);
    let out = deploy(&fake, &config(&["web"]), &Cancel::never()).await;
    let o = &out[0];
    assert_eq!(o.end, Ok(End::Completed), "{:#?}", o.timeline);
    assert_eq!(o.seen.polls, 3, "decided at the third DescribeServices");
    assert!(o.rollback.is_none());
    let new = o.new_task_definition.clone().unwrap();
    assert!(new.ends_with("task-definition/web:2"), "{new}");
    assert_eq!(fake.service_task_definition("web"), new);
    // The registered body: read-only fields gone, tags kept, image and env edited, sidecar untouched.
    let reg = &fake.requests("RegisterTaskDefinition")[0];
    for k in ecs::taskdef::READ_ONLY_FIELDS {
        assert!(reg.get(k).is_none(), "{k} was sent");
    }
    assert_eq!(reg["tags"], json!([{"key": "team", "value": "core"}]));
    assert_eq!(reg["containerDefinitions"][0]["image"], IMAGE);
    assert_eq!(
        reg["containerDefinitions"][0]["environment"],
        json!([{"name": "MODE", "value": "prod"}, {"name": "RELEASE", "value": "42"}])
    );
    assert_eq!(reg["containerDefinitions"][1]["image"], "repo/fluent-bit:2");
    assert_eq!(fake.requests("UpdateService").len(), 1);
    let changes: Vec<String> = o
        .plan
        .changes
        .iter()
        .map(|c| format!("{} {}: {} -> {}", c.container, c.field, c.before, c.after))
        .collect();
    assert_eq!(
        changes,
        vec![
            format!("app image: repo/web:1 -> {IMAGE}"),
            "app env RELEASE: — -> added".to_owned()
        ]
    );
    assert_eq!(o.plan.current_task_definition, old);
    fake.assert_no_protocol_errors();
    // The drain is not waited for: the old deployment was still listed when we decided.
    let drained = fake.decided().iter().any(|d| d.what == "DRAINED");
    assert!(!drained, "success must not wait for the old tasks to drain");
}

#[tokio::test]
async fn a_task_definition_file_is_the_base_and_the_diff_is_against_what_runs() {
    let (fake, old) = fake_with(&[("web", None)]).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("task-definition.yaml");
    // A DescribeTaskDefinition output saved from the console, YAML this time, read-only fields included.
    std::fs::write(
        &file,
        "taskDefinition:\n  family: web\n  taskDefinitionArn: arn:aws:ecs:eu-west-1:123456789012:task-definition/web:1\n  revision: 1\n  status: ACTIVE\n  cpu: '512'\n  memory: '1024'\n  networkMode: awsvpc\n  containerDefinitions:\n    - name: app\n      image: repo/web:placeholder\n      essential: true\n      memory: 256\ntags:\n  - key: owner\n    value: platform\n",
    )
    .unwrap();
    let mut cfg = config(&["web"]);
    cfg.task_definition = Some(file);
    cfg.edits.environment.clear();
    let out = deploy(&fake, &cfg, &Cancel::never()).await;
    assert_eq!(out[0].end, Ok(End::Completed));
    let reg = &fake.requests("RegisterTaskDefinition")[0];
    assert_eq!(reg["cpu"], "512");
    assert_eq!(reg["tags"], json!([{"key": "owner", "value": "platform"}]));
    assert_eq!(reg["containerDefinitions"][0]["image"], IMAGE);
    let changes: Vec<String> = out[0]
        .plan
        .changes
        .iter()
        .map(|c| format!("{}/{}: {} -> {}", c.container, c.field, c.before, c.after))
        .collect();
    assert_eq!(
        changes,
        vec![
            "/cpu: 256 -> 512".to_owned(),
            "/memory: 512 -> 1024".to_owned(),
            "/requiresCompatibilities: [\"FARGATE\"] -> —".to_owned(),
            format!("app/image: repo/web:1 -> {IMAGE}"),
            "app/env MODE: set -> removed".to_owned(),
            "log-router/container: present -> removed".to_owned(),
        ]
    );
    assert_eq!(out[0].plan.current_task_definition, old);
}

#[tokio::test]
async fn wait_for_drain_waits_until_one_deployment_is_left() {
    let (fake, _) = fake_with(&[("web", None)]).await;
    fake.script(
        "web",
        [Behaviour::Complete {
            after: After::Polls(1),
            drain_polls: 2,
        }],
    );
    let mut cfg = config(&["web"]);
    cfg.wait_for_drain = true;
    let out = deploy(&fake, &cfg, &Cancel::never()).await;
    assert_eq!(out[0].end, Ok(End::Completed));
    assert!(fake.decided().iter().any(|d| d.what == "DRAINED"));
    assert_eq!(out[0].seen.polls, 4, "COMPLETED at 1, drained at 4");
}

#[tokio::test]
async fn circuit_breaker_failure_is_reported_at_failed_and_ecs_rolls_back() {
    let (fake, old) = fake_with(&[("web", Some((true, true)))]).await;
    fake.script(
        "web",
        [Behaviour::Fail {
            after: After::Polls(2),
            failed_tasks: 3,
        }],
    );
    let out = deploy(&fake, &config(&["web"]), &Cancel::never()).await;
    let o = &out[0];
    match &o.end {
        Ok(End::Failed { reason }) => assert!(reason.contains("circuit breaker"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(o.seen.polls, 2);
    assert_eq!(
        o.rollback,
        Some(RollbackOutcome::CircuitBreaker { to: old.clone() })
    );
    assert_eq!(
        fake.requests("UpdateService").len(),
        1,
        "no rollback of our own"
    );
    assert_eq!(fake.service_task_definition("web"), old);
    let r = ecs::report::outcome(&config(&["web"]), &out, false);
    assert_eq!(r.verdict, stevedore::report::Verdict::Failure);
    has(
        &r.summary,
        "ECS's deployment circuit breaker rolls the service back to `web:1`",
    );
}

#[tokio::test]
async fn cannot_pull_container_fails_at_the_first_stopped_task_and_we_roll_back() {
    let (fake, old) = fake_with(&[("web", None)]).await;
    fake.script(
        "web",
        [
            Behaviour::StopTasks {
                after: After::Polls(2),
                stop_code: "TaskFailedToStart".into(),
                reason: "CannotPullContainerError: pull image manifest has been retried 7 time(s): failed to resolve ref 123456789012.dkr.ecr.eu-west-1.amazonaws.com/web@sha256:1111: not found".into(),
                containers: vec![("app".into(), None, Some("CannotPullContainerError: not found".into())), ("log-router".into(), None, None)],
            },
            Behaviour::complete_after_polls(2),
        ],
    );
    let out = deploy(&fake, &config(&["web"]), &Cancel::never()).await;
    let o = &out[0];
    match &o.end {
        Ok(End::Deterministic { reason, .. }) => {
            assert!(reason.contains("cannot be pulled"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        o.seen.polls, 2,
        "decided at the poll that saw the first failure"
    );
    assert_eq!(o.seen.stopped.len(), 1);
    assert_eq!(
        o.seen.stopped[0].stop_code.as_deref(),
        Some("TaskFailedToStart")
    );
    match &o.rollback {
        Some(RollbackOutcome::Ours { to, end, .. }) => {
            assert_eq!(to, &old);
            assert_eq!(end, &Ok(End::Completed));
        }
        other => panic!("{other:?}"),
    }
    let updates = fake.requests("UpdateService");
    assert_eq!(updates.len(), 2);
    assert_eq!(updates[1]["taskDefinition"], json!(old));
    assert_eq!(fake.service_task_definition("web"), old);
    let r = ecs::report::outcome(&config(&["web"]), &out, false);
    has(&r.summary, "CannotPullContainerError");
    has(&r.summary, "stevedore rolled back to `web:1`");
    has(&r.summary, "```mermaid\ntimeline");
}

#[tokio::test]
async fn a_stuck_rollout_without_circuit_breaker_times_out_and_we_roll_back() {
    let (fake, old) = fake_with(&[("web", Some((false, false)))]).await;
    fake.script(
        "web",
        [Behaviour::Stuck, Behaviour::complete_after_polls(2)],
    );
    let mut cfg = config(&["web"]);
    cfg.timing = fast(Duration::from_millis(400));
    let out = deploy(&fake, &cfg, &Cancel::never()).await;
    let o = &out[0];
    assert!(matches!(o.end, Ok(End::TimedOut { .. })), "{:?}", o.end);
    match &o.rollback {
        Some(RollbackOutcome::Ours { to, end, .. }) => {
            assert_eq!(to, &old);
            assert_eq!(end, &Ok(End::Completed));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.service_task_definition("web"), old);
}

#[tokio::test]
async fn code_deploy_services_are_refused_before_any_write() {
    let (fake, _) = fake_with(&[("web", None)]).await;
    fake.set_controller("web", "CODE_DEPLOY");
    let e = ecs::plan(&fake.sdk(), &config(&["web"])).await.unwrap_err();
    assert!(
        matches!(
            &e,
            ecs::EcsError::ServiceNotFound { cluster, service, reason }
                if cluster == "prod" && service == "web"
                    && reason.starts_with("it uses the CODE_DEPLOY deployment controller")
        ),
        "{e:?}"
    );
    // A problem of the workflow's target (exit 2), with its hint, once it is a mode's error.
    let m = stevedore::modes::ModeError::from(e);
    assert!(m.is_config(), "{m}");
    assert!(
        matches!(
            m.downcast_ref::<ecs::EcsError>(),
            Some(ecs::EcsError::ServiceNotFound { .. })
        ),
        "{m:?}"
    );
    assert!(!fake.calls().contains_key("RegisterTaskDefinition"));
}

#[tokio::test]
async fn a_circuit_breaker_without_rollback_fails_and_we_roll_back() {
    let (fake, old) = fake_with(&[("web", Some((true, false)))]).await;
    fake.script(
        "web",
        [
            Behaviour::Fail {
                after: After::Polls(2),
                failed_tasks: 3,
            },
            Behaviour::complete_after_polls(1),
        ],
    );
    let out = deploy(&fake, &config(&["web"]), &Cancel::never()).await;
    assert!(
        matches!(out[0].end, Ok(End::Failed { .. })),
        "{:?}",
        out[0].end
    );
    match &out[0].rollback {
        Some(RollbackOutcome::Ours { to, end, .. }) => {
            assert_eq!(to, &old);
            assert_eq!(end, &Ok(End::Completed));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.service_task_definition("web"), old);
}

#[tokio::test]
async fn ecs_and_lambda_targets_in_one_step_are_refused() {
    let r = Step::new()
        .input("mode", "deploy")
        .input("service", "web")
        .input("image", IMAGE)
        .input("function-name", "api")
        .exits(2)
        .await;
    has(
        &r.stdout,
        "input `function-name` = `api`: is set together with `cluster`/`service`",
    );
}

#[tokio::test]
async fn rollback_none_leaves_the_failed_deployment_alone() {
    let (fake, _) = fake_with(&[("web", None)]).await;
    fake.script(
        "web",
        [Behaviour::Fail {
            after: After::Polls(1),
            failed_tasks: 1,
        }],
    );
    let mut cfg = config(&["web"]);
    cfg.rollback = ecs::Rollback::None;
    let out = deploy(&fake, &cfg, &Cancel::never()).await;
    assert!(matches!(
        out[0].rollback,
        Some(RollbackOutcome::Disabled { .. })
    ));
    assert_eq!(fake.requests("UpdateService").len(), 1);
}

#[tokio::test]
async fn throttling_responses_are_retried() {
    let (fake, _) = fake_with(&[("web", None)]).await;
    fake.script("web", [Behaviour::complete_after_polls(2)]);
    fake.throttle("DescribeServices", 2);
    fake.throttle("RegisterTaskDefinition", 1);
    let out = deploy(&fake, &config(&["web"]), &Cancel::never()).await;
    assert_eq!(out[0].end, Ok(End::Completed), "{:?}", out[0].end);
    let calls = fake.calls();
    assert_eq!(
        calls["RegisterTaskDefinition"], 2,
        "one throttled, one retried"
    );
    // plan (1) + throttled (2) + watch polls (2)
    assert_eq!(calls["DescribeServices"], 5, "{calls:?}");
}

#[tokio::test]
async fn two_services_deploy_in_parallel_and_one_fails() {
    let (fake, old) = fake_with(&[("web", None), ("worker", None)]).await;
    fake.script("web", [Behaviour::complete_after_polls(3)]);
    fake.script(
        "worker",
        [
            Behaviour::StopTasks {
                after: After::Polls(1),
                stop_code: "EssentialContainerExited".into(),
                reason: "Essential container in task exited".into(),
                containers: vec![
                    ("app".into(), Some(1), None),
                    ("log-router".into(), Some(0), None),
                ],
            },
            Behaviour::complete_after_polls(1),
        ],
    );
    let cfg = config(&["web", "worker"]);
    let out = deploy(&fake, &cfg, &Cancel::never()).await;
    assert_eq!(out[0].plan.service, "web");
    assert_eq!(out[0].end, Ok(End::Completed));
    match &out[1].end {
        Ok(End::Deterministic { reason, .. }) => {
            assert_eq!(reason, "essential container `app` exited with code 1")
        }
        other => panic!("{other:?}"),
    }
    // Same base and edits: one registration shared by both services.
    assert_eq!(fake.calls()["RegisterTaskDefinition"], 1);
    assert_eq!(fake.service_task_definition("worker"), old);
    assert_ne!(fake.service_task_definition("web"), old);
    let r = ecs::report::outcome(&cfg, &out, false);
    assert_eq!(r.verdict, stevedore::report::Verdict::Failure);
    assert_eq!(r.title, "deploy failed: worker");
    let arn = r
        .outputs
        .iter()
        .find(|(k, _)| k == "task-definition-arn")
        .unwrap();
    assert!(
        arn.1.starts_with("web=arn:aws:ecs:") && arn.1.contains("\nworker=arn:aws:ecs:"),
        "{}",
        arn.1
    );
}

#[tokio::test]
async fn cancellation_requests_the_rollback_and_says_so() {
    let (fake, old) = fake_with(&[("web", None)]).await;
    fake.script("web", [Behaviour::Stuck]);
    let (handle, cancel) = cancel::pair();
    let watcher = {
        let fake = fake.clone();
        tokio::spawn(async move {
            while fake.calls().get("DescribeServices").copied().unwrap_or(0) < 3 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            handle.cancel("SIGINT");
        })
    };
    let cfg = config(&["web"]);
    let out = deploy(&fake, &cfg, &cancel).await;
    watcher.await.unwrap();
    assert_eq!(out[0].end, Ok(End::Cancelled));
    match &out[0].rollback {
        Some(RollbackOutcome::Requested { to, .. }) => assert_eq!(to, &old),
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.service_task_definition("web"), old);
    let r = ecs::report::outcome(&cfg, &out, true);
    has(&r.summary, "Cancelled: rollback to `web:1` requested");
}

/// The whole step: credentials from the AWS credential chain (static test keys), STS
/// (GetCallerIdentity) on moto, ECS on the scripted endpoint. `None` (skip) without moto.
pub fn step_for(fake: &FakeEcs) -> Option<Step> {
    Some(
        scripted_step("AWS_ENDPOINT_URL_ECS", fake.url())?
            .input("cluster", "prod")
            .input("service", "web")
            .input("container", "app")
            .input("image", IMAGE),
    )
}

#[tokio::test]
async fn the_whole_step_deploys_and_writes_outputs_and_summary() {
    let (fake, _) = fake_with(&[("web", None)]).await;
    fake.script("web", [Behaviour::complete_after_polls(1)]);
    let Some(step) = step_for(&fake) else {
        return;
    };
    let r = succeeds(step).await;
    assert!(
        r.output("task-definition-arn")
            .unwrap()
            .ends_with("task-definition/web:2")
    );
    assert!(r.output("deployment-id").unwrap().starts_with("ecs-svc/"));
    has(&r.summary, "```mermaid\ntimeline");
    has(&r.summary, "Account `123456789012`.");
    // The secret key only ever leaves as the mask command the runner swallows.
    assert!(r.stdout.contains("::add-mask::secret-key-for-tests"));
    assert!(
        r.stdout
            .lines()
            .filter(|l| !l.starts_with("::add-mask::"))
            .all(|l| !l.contains("secret-key-for-tests"))
    );
    assert!(!r.summary.contains("secret-key-for-tests"));
}

/// Runs `step` into `staging` against a fresh fake GitHub and checks it was refused as a configuration
/// problem — exit 2, one `::error` containing `said` — before any GitHub Deployment was created.
pub async fn refused_before_any_deployment(step: Step, what: &str, said: &str) {
    let gh = crate::helpers::fake_github::FakeGithub::start_for("octo-org/octo-repo").await;
    let r = record(step, &gh, "staging", TOKEN).run().await;
    assert_eq!(r.code, 2, "{what}: {}\n{}", r.stdout, r.summary);
    let errors = error_lines(&r.stdout);
    assert_eq!(errors.len(), 1, "{}", r.stdout);
    has(errors[0], said);
    gh.assert_no_violations();
    assert!(
        gh.deployments().is_empty(),
        "{what}: {:?}",
        gh.deployments()
    );
}

/// The `::error` lines of a step's stdout.
pub fn error_lines(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter(|l| l.starts_with("::error"))
        .collect()
}

#[tokio::test]
async fn a_failed_deploy_ends_with_an_error_annotation_naming_the_reason_and_the_next_step() {
    let (fake, _) = fake_with(&[("web", None)]).await;
    fake.script(
        "web",
        [
            Behaviour::StopTasks {
                after: After::Polls(1),
                stop_code: "TaskFailedToStart".into(),
                reason: "CannotPullContainerError: pull image manifest has been retried 7 time(s): not found".into(),
                containers: vec![("app".into(), None, Some("CannotPullContainerError: not found".into()))],
            },
            Behaviour::complete_after_polls(1),
        ],
    );
    let Some(step) = step_for(&fake) else {
        return;
    };
    let r = step.exits(1).await;
    let errors = error_lines(&r.stdout);
    assert_eq!(errors.len(), 1, "{}", r.stdout);
    assert!(
        errors[0].starts_with(
            "::error title=stevedore deploy::ECS deploy to cluster `prod` failed: `web`: failed fast: the image cannot be pulled (CannotPullContainerError) (task "
        ),
        "{}",
        errors[0]
    );
    assert!(
        errors[0].ends_with(
            "; rolled back to `web:1`.%0AFix the cause named above (the job summary lists the stopped tasks and their reasons) and deploy again."
        ),
        "{}",
        errors[0]
    );
}

#[tokio::test]
async fn a_timed_out_deploy_says_the_budget_and_the_input_that_sets_it() {
    let (fake, _) = fake_with(&[("web", Some((false, false)))]).await;
    fake.script(
        "web",
        [Behaviour::Stuck, Behaviour::complete_after_polls(1)],
    );
    let Some(step) = step_for(&fake) else {
        return;
    };
    let r = step.input("wait-timeout", "2s").exits(1).await;
    let errors = error_lines(&r.stdout);
    assert_eq!(errors.len(), 1, "{}", r.stdout);
    assert!(
        errors[0].starts_with(
            "::error title=stevedore deploy::ECS deploy to cluster `prod` failed: `web`: timed out after 2s, the budget set by the input `wait-timeout` ("
        ),
        "{}",
        errors[0]
    );
    assert!(
        errors[0].ends_with(
            "; rolled back to `web:1`.%0AIf the rollout is only slow, raise the input `wait-timeout` (now 2s); otherwise look at the service events and stopped tasks in the job summary."
        ),
        "{}",
        errors[0]
    );
    has(
        &r.summary,
        "timed out after 2s, the budget set by the input `wait-timeout` (",
    );
}

/// A GitHub API that accepts connections and closes them at once (unreachable), counting them.
async fn slammed_door() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let n = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = n.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(s);
        }
    });
    (url, n)
}

/// docs/reporting.md: one bounded retry run when GitHub is unreachable, then one try per call, the
/// Deployment POST included (it has its own client).
#[tokio::test]
async fn an_unreachable_github_costs_one_retry_run_then_one_try_per_call() {
    let (fake, _) = fake_with(&[("web", None)]).await;
    fake.script("web", [Behaviour::complete_after_polls(1)]);
    let Some(step) = step_for(&fake) else {
        return;
    };
    let (url, connections) = slammed_door().await;
    let r = step
        .input("github-token", "ghs_test")
        .var("GITHUB_API_URL", &url)
        .exits(0)
        .await;
    // The in-progress check run: 1 try + 3 retries; the Deployment POST: 1; the fan-out's check run: 1.
    assert_eq!(
        connections.load(std::sync::atomic::Ordering::SeqCst),
        6,
        "{}",
        r.summary
    );
    has(&r.summary, "could not be reached");
}

#[tokio::test]
async fn dry_run_prints_the_plan_and_writes_nothing() {
    let (fake, _) = fake_with(&[("web", None)]).await;
    let Some(step) = step_for(&fake) else {
        return;
    };
    let r = step.input("dry-run", "true").exits(0).await;
    assert_eq!(r.output("verdict"), Some("skipped"));
    let calls = fake.calls();
    assert!(
        !calls.contains_key("RegisterTaskDefinition") && !calls.contains_key("UpdateService"),
        "{calls:?}"
    );
    has(&r.stdout, "plan: would register a new revision of `web`");
    has(
        &r.stdout,
        &format!("container `app` image: repo/web:1 -> {IMAGE}"),
    );
    has(&r.summary, "Nothing was registered or updated");
    has(&r.summary, r#""name": "MODE","#);
    assert!(
        !r.summary.contains(r#""value": "prod""#),
        "env values are hidden: {}",
        r.summary
    );
}

#[tokio::test]
async fn all_input_errors_are_reported_together() {
    let r = Step::new()
        .input("mode", "deploy")
        .input("cluster", "prod")
        .input("wait-timeout", "soon")
        .input("rollback", "maybe")
        .input("environment-variables", "OK=1\n9BAD=x")
        .input("wait-for-drain", "yes")
        .run()
        .await;
    assert_eq!(r.code, 2);
    for input in [
        "service",
        "wait-timeout",
        "rollback",
        "environment-variables",
        "wait-for-drain",
    ] {
        assert!(
            r.stdout.contains(&format!("input `{input}`")),
            "{input}: {}",
            r.stdout
        );
    }
}

#[tokio::test]
async fn a_missing_cluster_whose_default_does_not_exist_is_a_configuration_error_naming_cluster() {
    let (fake, _) = fake_with(&[("web", None)]).await;
    let Some(step) = step_for(&fake) else {
        return;
    };
    let r = step.input("cluster", "").exits(2).await;
    assert_eq!(
        error_lines(&r.stdout),
        [
            "::error title=stevedore deploy::input `cluster`: the cluster `default` does not exist in this account and region (ECS answered ClusterNotFoundException)%0ASet the input `cluster` to the cluster that runs the service (without it ECS uses its `default` cluster), and check `aws-region` and the environment's account"
        ]
    );
    assert!(fake.requests("RegisterTaskDefinition").is_empty());
}

#[tokio::test]
async fn lambda_inputs_without_function_name_name_function_name_not_the_ecs_inputs() {
    let r = Step::new()
        .input("mode", "deploy")
        .input("zip-file", "dist/fn.zip")
        .input("traffic", "canary 10% 5m")
        .input("alias", "live")
        .exits(2)
        .await;
    assert_eq!(
        error_lines(&r.stdout),
        [
            "::error title=stevedore%3A invalid input `function-name`::input `function-name`: is required for a Lambda deploy (`zip-file`, `traffic` given; an ECS deploy takes `cluster` + `service` instead). Set it in `with:`, e.g. `function-name: my-function`"
        ]
    );
}

#[tokio::test]
async fn an_image_without_tag_or_digest_is_refused_and_production_by_tag_is_warned() {
    let r = Step::new()
        .input("mode", "deploy")
        .input("cluster", "prod")
        .input("service", "web")
        .input("image", "localhost:5000/team/web")
        .exits(2)
        .await;
    assert_eq!(
        error_lines(&r.stdout),
        [
            "::error title=stevedore%3A invalid input `image`::input `image` = `localhost:5000/team/web`: names neither a tag nor a digest, so whatever `latest` is at deploy time would run. Pin the image by digest (`image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/web@sha256:…`, the `digest` output of `build`) or at least by tag (`…/web:1.4.2`)"
        ]
    );
    let r = Step::new()
        .input("mode", "deploy")
        .input("function-name", "api")
        .input("image", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/api")
        .exits(2)
        .await;
    has(
        &r.stdout,
        "::error title=stevedore%3A invalid input `image`::input `image` = `123456789012.dkr.ecr.eu-west-1.amazonaws.com/api`: names neither a tag nor a digest",
    );

    // Production by tag deploys, with a warning.
    let (fake, _) = fake_with(&[("web", None)]).await;
    fake.script("web", [Behaviour::complete_after_polls(1)]);
    let Some(step) = step_for(&fake) else {
        return;
    };
    let tagged = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:1.4.2";
    let r = step
        .input("image", tagged)
        .input("environment", "production")
        .input(
            "trigger-policy",
            "production:\n  refs: [main]\n  require-environment-claim: false\n",
        )
        .exits(0)
        .await;
    assert!(
        r.stdout.lines().any(|l| l == format!("::warning title=stevedore deploy%3A production by tag::`production` is deployed by tag (`{tagged}`): a tag can be moved after the deploy, so what runs cannot be proven. Deploy by digest (the `digest` output of `build`: `repo@sha256:…`).")),
        "{}",
        r.stdout
    );
}

#[tokio::test]
async fn a_missing_container_name_is_a_configuration_error_naming_the_containers() {
    let (fake, _) = fake_with(&[("web", None)]).await;
    let Some(step) = step_for(&fake) else {
        return;
    };
    let r = step.input("container", "api").exits(2).await;
    has(
        &r.stdout,
        "`api` not in task definition `web`; it has: app, log-router",
    );
}

#[tokio::test]
async fn against_moto_register_update_and_describe_work_end_to_end() {
    let Some(moto) = crate::helpers::moto::moto() else {
        return;
    };
    let sdk = sdk_config(&moto.endpoint);
    let c = aws_sdk_ecs::Client::new(&sdk);
    let cluster = crate::helpers::moto::unique("cl");
    let service = crate::helpers::moto::unique("svc");
    let family = crate::helpers::moto::unique("fam");
    c.create_cluster()
        .cluster_name(&cluster)
        .send()
        .await
        .unwrap();
    let app = aws_sdk_ecs::types::ContainerDefinition::builder()
        .name("app")
        .image("repo/web:1")
        .memory(128)
        .essential(true)
        .environment(
            aws_sdk_ecs::types::KeyValuePair::builder()
                .name("MODE")
                .value("prod")
                .build(),
        )
        .build();
    let td = c
        .register_task_definition()
        .family(&family)
        .network_mode(aws_sdk_ecs::types::NetworkMode::Bridge)
        .container_definitions(app)
        .tags(
            aws_sdk_ecs::types::Tag::builder()
                .key("team")
                .value("core")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let old = td
        .task_definition()
        .unwrap()
        .task_definition_arn()
        .unwrap()
        .to_owned();
    c.create_service()
        .cluster(&cluster)
        .service_name(&service)
        .task_definition(&old)
        .desired_count(1)
        .launch_type(aws_sdk_ecs::types::LaunchType::Ec2)
        .send()
        .await
        .unwrap();

    let mut cfg = config(&[]);
    cfg.cluster = cluster.clone();
    cfg.services = vec![service.clone()];
    let plans = ecs::plan(&sdk, &cfg).await.unwrap();
    assert_eq!(plans.len(), 1);
    assert_eq!(plans[0].current_task_definition, old);
    for k in ecs::taskdef::READ_ONLY_FIELDS {
        assert!(plans[0].register.get(k).is_none(), "{k} would be sent");
    }
    let client = ecs::client(&sdk);
    let new = ecs::register(&client, &plans[0].register).await.unwrap();
    assert_ne!(new, old);
    let (deployment, _) = ecs::update_service(&client, &cluster, &service, &new)
        .await
        .unwrap();
    assert!(!deployment.is_empty());
    let described = ecs::describe_task_definition(&client, &new).await.unwrap();
    let app = &described.task_definition["containerDefinitions"][0];
    assert_eq!(app["image"], IMAGE);
    let env = app["environment"].as_array().unwrap();
    assert!(
        env.contains(&json!({"name": "RELEASE", "value": "42"})),
        "{env:?}"
    );
    assert!(
        env.contains(&json!({"name": "MODE", "value": "prod"})),
        "{env:?}"
    );
    assert_eq!(
        described.tags,
        vec![json!({"key": "team", "value": "core"})]
    );
    let svc = c
        .describe_services()
        .cluster(&cluster)
        .services(&service)
        .send()
        .await
        .unwrap();
    assert_eq!(svc.services()[0].task_definition(), Some(new.as_str()));
}

/// Benchmark, not a timed test: the whole step (default timing: the shared poll schedule, one call a second) against
/// the scripted endpoint, where the rollout changes state at a scheduled instant between polls.
/// Run: `cargo test --test it bench_ecs -- --ignored --nocapture`
#[tokio::test]
#[ignore = "benchmark: prints figures, takes ~20 s"]
async fn bench_ecs_detection_latency_and_api_calls() {
    use std::time::Instant;

    #[derive(Clone, Copy, Debug)]
    enum Kind {
        Completed,
        Failed,
        DeterministicStopEcsRollback,
        DeterministicStopOurRollback,
    }
    async fn sample(kind: Kind, at: Duration) -> (Duration, u32, u8, Duration) {
        let cb = match kind {
            Kind::Completed | Kind::DeterministicStopOurRollback => None,
            Kind::Failed | Kind::DeterministicStopEcsRollback => Some((true, true)),
        };
        let (fake, _) = fake_with(&[("web", cb)]).await;
        let stop = Behaviour::StopTasks {
            after: After::Time(at),
            stop_code: "TaskFailedToStart".into(),
            reason: "CannotPullContainerError: pull image manifest has been retried 7 time(s): not found".into(),
            containers: vec![("app".into(), None, None)],
        };
        let (b, what) = match kind {
            Kind::Completed => (
                Behaviour::Complete {
                    after: After::Time(at),
                    drain_polls: 1,
                },
                "COMPLETED",
            ),
            Kind::Failed => (
                Behaviour::Fail {
                    after: After::Time(at),
                    failed_tasks: 3,
                },
                "FAILED",
            ),
            Kind::DeterministicStopEcsRollback | Kind::DeterministicStopOurRollback => {
                (stop, "STOPPED_TASK")
            }
        };
        fake.script("web", [b, Behaviour::complete_after_polls(1)]);
        let r = step_for(&fake)
            .expect("the benchmark needs moto")
            .run()
            .await;
        let exit = Instant::now();
        let decided = fake
            .decided()
            .into_iter()
            .find(|d| d.what == what)
            .expect("the scripted change happened");
        let last = fake.last_answer().unwrap();
        (
            exit.duration_since(decided.at),
            fake.total_calls(),
            r.code,
            exit.duration_since(last),
        )
    }
    let delays = [2.0, 3.5, 6.0, 9.0, 14.0].map(Duration::from_secs_f64);
    let kinds = [
        Kind::Completed,
        Kind::Failed,
        Kind::DeterministicStopEcsRollback,
        Kind::DeterministicStopOurRollback,
    ];
    let runs = futures_util::future::join_all(kinds.iter().flat_map(|k| {
        delays
            .iter()
            .map(move |d| async move { (*k, sample(*k, *d).await) })
    }))
    .await;
    println!(
        "| scenario | samples | state change → step exit: mean | max | last ECS answer → exit: max | ECS API calls per deploy | exit code |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for k in kinds {
        let rs: Vec<_> = runs
            .iter()
            .filter(|(kk, _)| std::mem::discriminant(kk) == std::mem::discriminant(&k))
            .map(|(_, r)| *r)
            .collect();
        let mean = rs.iter().map(|r| r.0.as_secs_f64()).sum::<f64>() / rs.len() as f64;
        let max = rs.iter().map(|r| r.0.as_secs_f64()).fold(0.0, f64::max);
        let calls: Vec<u32> = rs.iter().map(|r| r.1).collect();
        let codes: std::collections::BTreeSet<u8> = rs.iter().map(|r| r.2).collect();
        let tail = rs.iter().map(|r| r.3.as_secs_f64()).fold(0.0, f64::max);
        println!(
            "| {k:?} | {} | {mean:.2} s | {max:.2} s | {:.0} ms | {}–{} | {codes:?} |",
            rs.len(),
            tail * 1000.0,
            calls.iter().min().unwrap(),
            calls.iter().max().unwrap()
        );
    }
    println!("(state changes scheduled {delays:?} after UpdateService)");
}

#[tokio::test]
async fn the_trigger_policy_refuses_a_production_deploy_from_a_branch_before_any_ecs_call() {
    let (fake, _) = fake_with(&[("web", None)]).await;
    let Some(step) = step_for(&fake) else {
        return;
    };
    let r = step.input("environment", "production").run().await;
    assert_ne!(r.code, 0, "{}", r.stdout);
    has(&r.stdout, "may not deploy to `production`");
    assert_eq!(fake.total_calls(), 0, "{:?}", fake.calls());
    assert_eq!(r.output("verdict"), Some("failure"));
}

#[tokio::test]
async fn a_github_deployment_records_the_deploy_and_its_outcome() {
    use crate::helpers::fake_github::FakeGithub;
    let gh = FakeGithub::start_for("octo-org/octo-repo").await;
    let (fake, _) = fake_with(&[("web", None), ("worker", None)]).await;
    fake.script("web", [Behaviour::complete_after_polls(1)]);
    fake.script(
        "worker",
        [
            Behaviour::StopTasks {
                after: After::Polls(1),
                stop_code: "TaskFailedToStart".into(),
                reason: "ResourceInitializationError: unable to pull secrets or registry auth: unable to retrieve secret from asm: ResourceNotFoundException".into(),
                containers: vec![("app".into(), None, None)],
            },
            Behaviour::complete_after_polls(1),
        ],
    );
    let Some(step) = step_for(&fake) else {
        return;
    };
    let r = record(step, &gh, "staging", TOKEN)
        .input("service", "web\nworker")
        .exits(1)
        .await;
    let id = one_failed_deployment(&gh, "staging");
    has(
        &r.summary,
        &format!("GitHub Deployment {id} to `staging`: failure."),
    );
    has(&r.summary, "a secret cannot be retrieved");
    assert_eq!(r.output("verdict"), Some("failure"));
}

#[tokio::test]
async fn health_passes_is_refused_on_ecs_and_lambda_deploys() {
    for (target, named) in [
        (
            &[
                ("cluster", "prod"),
                ("service", "web"),
                ("image", "r/web:1"),
            ][..],
            "does not apply to an ECS deploy",
        ),
        (
            &[("function-name", "worker"), ("zip-file", "fn.zip")][..],
            "does not apply to a Lambda deploy",
        ),
    ] {
        let mut step = Step::new()
            .input("mode", "deploy")
            .input("health-passes", "2");
        for (k, v) in target {
            step = step.input(k, v);
        }
        let r = step.exits(2).await;
        let errors = error_lines(&r.stdout).join("\n");
        assert!(
            errors.contains("`health-passes`") && errors.contains(named),
            "{errors}"
        );
    }
}
