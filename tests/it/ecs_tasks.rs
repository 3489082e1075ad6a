//! ECS one-off tasks around a deploy: `pre-deploy-task` (migrations) and `post-deploy-task` (smoke tests)
//! against the scripted ECS endpoint (RunTask, DescribeTasks, StopTask) and CloudWatch Logs on moto.

use crate::helpers::has;
use std::time::Duration;

use serde_json::{Value, json};
use stevedore::aws::json_rpc::{self, JsonRpc};
use stevedore::cancel::{self, Cancel};
use stevedore::modes::deploy::ecs::oneoff::{LogTail, Logs, TaskEnd, parse_spec};
use stevedore::modes::deploy::ecs::{self, Applied, Config, End, RollbackOutcome};
use stevedore::report::Verdict;

use crate::ecs::{config, error_lines, step_for};
use crate::helpers::fake_ecs::{FakeEcs, OneOff, sdk_config};
use crate::helpers::moto::{moto, unique};

/// A task definition whose `app` container logs to `group` with the awslogs driver (prefix `web`).
fn containers(group: &str) -> Value {
    json!([
        {"name": "app", "image": "repo/web:1", "essential": true, "memory": 256,
         "logConfiguration": {"logDriver": "awslogs", "options": {
             "awslogs-group": group, "awslogs-region": "eu-west-1", "awslogs-stream-prefix": "web"}}},
        {"name": "log-router", "image": "repo/fluent-bit:2", "essential": false, "memory": 64}
    ])
}

async fn fake(group: &str) -> (FakeEcs, String) {
    let fake = FakeEcs::start().await;
    let td = fake.seed_task_definition("web", containers(group));
    fake.seed_service("prod", "web", &td, 2, None);
    (fake, td)
}

/// Writes `lines` to `group`/`stream` in moto's CloudWatch Logs.
async fn seed_logs(endpoint: &str, group: &str, stream: &str, lines: &[&str]) {
    let logs = JsonRpc::new(
        &sdk_config(endpoint),
        json_rpc::LOGS,
        crate::helpers::reqwest_client(),
    );
    // The group may exist from an earlier seeding in the same test.
    let _ = logs
        .call("CreateLogGroup", &json!({"logGroupName": group}))
        .await;
    logs.call(
        "CreateLogStream",
        &json!({"logGroupName": group, "logStreamName": stream}),
    )
    .await
    .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let events: Vec<Value> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| json!({"timestamp": now + i as i64, "message": l}))
        .collect();
    logs.call(
        "PutLogEvents",
        &json!({"logGroupName": group, "logStreamName": stream, "logEvents": events}),
    )
    .await
    .unwrap();
}

fn with_tasks(pre: Option<&str>, post: Option<&str>) -> Config {
    let mut cfg = config(&["web"]);
    cfg.pre_task = pre.map(|p| parse_spec(p).unwrap());
    cfg.post_task = post.map(|p| parse_spec(p).unwrap());
    cfg
}

async fn deploy(fake: &FakeEcs, moto_endpoint: &str, cfg: &Config, cancel: &Cancel) -> Applied {
    let sdk = fake.sdk();
    let plans = ecs::plan(&sdk, cfg).await.unwrap();
    let logs = Logs {
        sdk: sdk_config(moto_endpoint),
        http: crate::helpers::reqwest_client(),
    };
    let out = ecs::apply_all(&sdk, cfg, plans, Some(&logs), cancel).await;
    fake.assert_no_protocol_errors();
    out
}

const MIGRATE: &str = "command: [bin/rails, db:migrate]\ncontainer: app\ntimeout: 30s\n";
const SMOKE: &str = "command: [./smoke.sh, --base-url, http://web.internal]\n";

#[tokio::test]
async fn pre_and_post_tasks_run_the_new_revision_placed_like_the_service_and_show_their_logs() {
    let Some(moto) = moto() else { return };
    let group = unique("/ecs/web");
    let (fake, old) = fake(&group).await;
    let pre_id = "a1b2c3d4e5f60718293a4b5c6d7e8f90";
    let post_id = "0f9e8d7c6b5a49382716f5e4d3c2b1a0";
    seed_logs(
        &moto.endpoint,
        &group,
        &format!("web/app/{pre_id}"),
        &[
            "== 20261130 AddIndex: migrating",
            "== 20261130 AddIndex: migrated (0.0121s)",
        ],
    )
    .await;
    seed_logs(
        &moto.endpoint,
        &group,
        &format!("web/app/{post_id}"),
        &["GET / 200", "smoke: 3/3 passed"],
    )
    .await;
    fake.script_tasks([
        OneOff::Exit {
            id: pre_id.into(),
            polls: 3,
            exit_codes: vec![("app".into(), 0), ("log-router".into(), 0)],
        },
        OneOff::Exit {
            id: post_id.into(),
            polls: 2,
            exit_codes: vec![("app".into(), 0)],
        },
    ]);
    let cfg = with_tasks(Some(MIGRATE), Some(SMOKE));
    let a = deploy(&fake, &moto.endpoint, &cfg, &Cancel::never()).await;
    assert!(a.succeeded(), "{a:#?}");
    let pre = a.pre.as_ref().unwrap();
    let post = a.post.as_ref().unwrap();
    assert_eq!(pre.end, TaskEnd::Succeeded);
    assert_eq!(pre.polls, 3, "STOPPED at the third DescribeTasks");
    let new = a.services[0].new_task_definition.clone().unwrap();
    assert!(new.ends_with("task-definition/web:2"), "{new}");
    // The migration ran before anything was switched, with the NEW revision.
    let ops = fake.ops();
    let run = ops.iter().position(|o| o == "RunTask").unwrap();
    let update = ops.iter().position(|o| o == "UpdateService").unwrap();
    assert!(run < update, "{ops:?}");
    assert_eq!(fake.requests("RunTask").len(), 2);
    let req = &fake.requests("RunTask")[0];
    assert_eq!(req["taskDefinition"], new.as_str());
    assert_eq!(req["count"], 1);
    assert_eq!(req["launchType"], "FARGATE");
    assert_eq!(req["platformVersion"], "LATEST");
    assert_eq!(req["startedBy"], "stevedore/pre-deploy");
    assert_eq!(
        req["networkConfiguration"],
        json!({"awsvpcConfiguration": {"subnets": ["subnet-0a1b2c3d4e5f60718"],
               "securityGroups": ["sg-0123456789abcdef0"], "assignPublicIp": "DISABLED"}})
    );
    assert_eq!(
        req["overrides"],
        json!({"containerOverrides": [{"name": "app", "command": ["bin/rails", "db:migrate"]}]})
    );
    // The smoke test's container comes from the `container` input (one container deployed).
    let req = &fake.requests("RunTask")[1];
    assert_eq!(req["startedBy"], "stevedore/post-deploy");
    assert_eq!(req["overrides"]["containerOverrides"][0]["name"], "app");
    assert_eq!(
        *ops.last().unwrap(),
        "DescribeTasks",
        "the smoke test ran after the rollout: {ops:?}"
    );
    assert!(ops.iter().rposition(|o| o == "RunTask").unwrap() > update);
    assert_eq!(
        pre.log,
        LogTail::Lines {
            group: group.clone(),
            stream: format!("web/app/{pre_id}"),
            lines: vec![
                "== 20261130 AddIndex: migrating".into(),
                "== 20261130 AddIndex: migrated (0.0121s)".into()
            ],
        }
    );
    assert!(matches!(&post.log, LogTail::Lines { lines, .. } if lines[1] == "smoke: 3/3 passed"));
    assert_eq!(fake.service_task_definition("web"), new);
    assert_ne!(new, old);
    let r = ecs::report::applied(&cfg, &a, false);
    assert_eq!(r.verdict, Verdict::Success);
    has(&r.summary, "### pre-deploy task");
    has(
        &r.summary,
        "```text\n== 20261130 AddIndex: migrating\n== 20261130 AddIndex: migrated (0.0121s)\n```",
    );
    assert!(r.summary.contains(&format!("stream `web/app/{post_id}`")));
    let out = |n: &str| {
        r.outputs
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
    };
    assert!(out("pre-deploy-task-arn").unwrap().ends_with(pre_id));
    assert!(out("post-deploy-task-arn").unwrap().ends_with(post_id));
}

#[tokio::test]
async fn a_failed_migration_stops_the_deploy_before_the_service_is_touched() {
    let Some(moto) = moto() else { return };
    let group = unique("/ecs/web");
    let (fake, old) = fake(&group).await;
    let id = "11112222333344445555666677778888";
    seed_logs(
        &moto.endpoint,
        &group,
        &format!("web/app/{id}"),
        &["PG::UndefinedTable: ERROR:  relation \"users\" does not exist"],
    )
    .await;
    fake.script_tasks([OneOff::Exit {
        id: id.into(),
        polls: 2,
        exit_codes: vec![("app".into(), 1)],
    }]);
    let cfg = with_tasks(Some(MIGRATE), Some(SMOKE));
    let a = deploy(&fake, &moto.endpoint, &cfg, &Cancel::never()).await;
    assert!(!a.succeeded());
    assert!(a.services.is_empty());
    assert!(a.post.is_none(), "no smoke test after a failed migration");
    match &a.pre.as_ref().unwrap().end {
        TaskEnd::Failed {
            what, stop_code, ..
        } => {
            assert!(
                what.starts_with(
                    "container `app` exited with code 1 (stop code EssentialContainerExited"
                ),
                "{what}"
            );
            assert_eq!(stop_code.as_deref(), Some("EssentialContainerExited"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.requests("UpdateService").len(), 0);
    assert_eq!(fake.service_task_definition("web"), old);
    let r = ecs::report::applied(&cfg, &a, false);
    assert_eq!(r.verdict, Verdict::Failure);
    let f = r.closing_error().unwrap();
    assert_eq!(
        f.reason,
        format!(
            "ECS deploy to cluster `prod` stopped before any service was updated: pre-deploy task `{id}` (container `app`, command `bin/rails db:migrate`) failed: container `app` exited with code 1 (stop code EssentialContainerExited: Essential container in task exited)."
        )
    );
    assert_eq!(
        f.next_step,
        "Fix the migration (its last log lines are in the job summary) and deploy again."
    );
    assert!(r.summary.contains("relation \"users\" does not exist"));
    assert!(
        r.summary
            .contains("no service was updated: `web` still runs what ran before")
    );
}

#[tokio::test]
async fn a_task_that_fails_to_start_stops_the_deploy_with_its_stop_code_and_reason() {
    let Some(moto) = moto() else { return };
    let (fake, old) = fake(&unique("/ecs/web")).await;
    fake.script_tasks([OneOff::FailToStart {
        id: "99990000aaaabbbbccccddddeeeeffff".into(),
        polls: 2,
        reason:
            "CannotPullContainerError: pull image manifest has been retried 7 time(s): not found"
                .into(),
    }]);
    let cfg = with_tasks(Some(MIGRATE), None);
    let a = deploy(&fake, &moto.endpoint, &cfg, &Cancel::never()).await;
    let pre = a.pre.as_ref().unwrap();
    match &pre.end {
        TaskEnd::Failed {
            what,
            stop_code,
            stopped_reason,
        } => {
            assert_eq!(stop_code.as_deref(), Some("TaskFailedToStart"));
            assert!(
                stopped_reason
                    .as_deref()
                    .unwrap()
                    .starts_with("CannotPullContainerError")
            );
            assert!(
                what.starts_with("container `app` has no exit code (CannotPullContainerError"),
                "{what}"
            );
            has(
                what,
                "(stop code TaskFailedToStart: CannotPullContainerError",
            );
        }
        other => panic!("{other:?}"),
    }
    // The log stream never existed: said, not fatal.
    match &pre.log {
        LogTail::Unavailable(why) => assert!(why.contains("ResourceNotFoundException"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.requests("UpdateService").len(), 0);
    assert_eq!(fake.service_task_definition("web"), old);
}

#[tokio::test]
async fn a_failed_smoke_test_rolls_the_service_back() {
    let Some(moto) = moto() else { return };
    let (fake, old) = fake(&unique("/ecs/web")).await;
    fake.script_tasks([OneOff::Exit {
        id: "abababababababababababababababab".into(),
        polls: 2,
        exit_codes: vec![("app".into(), 2)],
    }]);
    let cfg = with_tasks(None, Some(SMOKE));
    let a = deploy(&fake, &moto.endpoint, &cfg, &Cancel::never()).await;
    assert!(!a.succeeded());
    assert_eq!(
        a.services[0].end,
        Ok(End::Completed),
        "the rollout itself completed"
    );
    match &a.services[0].rollback {
        Some(RollbackOutcome::Ours { to, end, .. }) => {
            assert_eq!(to, &old);
            assert_eq!(end, &Ok(End::Completed));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.requests("UpdateService").len(), 2);
    assert_eq!(fake.service_task_definition("web"), old);
    let r = ecs::report::applied(&cfg, &a, false);
    assert_eq!(r.verdict, Verdict::Failure);
    assert_eq!(r.checks[0].verdict, Verdict::Failure);
    let f = r.closing_error().unwrap();
    assert_eq!(
        f.reason,
        "ECS deploy to cluster `prod` failed after the rollout: post-deploy task `abababababababababababababababab` (container `app`, command `./smoke.sh --base-url http://web.internal`) failed: container `app` exited with code 2 (stop code EssentialContainerExited: Essential container in task exited); `web` rolled back to `web:1`."
    );
    has(
        &r.summary,
        "No log lines: stream `web/app/abababababababababababababababab`",
    );
}

#[tokio::test]
async fn a_task_over_its_timeout_is_stopped_and_nothing_is_switched() {
    let Some(moto) = moto() else { return };
    let (fake, old) = fake(&unique("/ecs/web")).await;
    fake.script_tasks([OneOff::Hang {
        id: "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd".into(),
    }]);
    let cfg = with_tasks(
        Some("command: [bin/rails, db:migrate]\ntimeout: 400ms\n"),
        None,
    );
    let a = deploy(&fake, &moto.endpoint, &cfg, &Cancel::never()).await;
    let pre = a.pre.as_ref().unwrap();
    assert_eq!(
        pre.end,
        TaskEnd::TimedOut {
            budget: Duration::from_millis(400),
            last_status: "RUNNING".into(),
            stopped: true
        }
    );
    let stop = &fake.requests("StopTask")[0];
    assert_eq!(
        stop["reason"],
        "stevedore: pre-deploy-task timeout of 400ms exceeded"
    );
    assert_eq!(fake.oneoff_tasks()[0]["lastStatus"], "STOPPED");
    assert_eq!(fake.requests("UpdateService").len(), 0);
    assert_eq!(fake.service_task_definition("web"), old);
    let f = ecs::report::applied(&cfg, &a, false)
        .closing_error()
        .unwrap();
    has(
        &f.reason,
        "not stopped after 400ms (the `timeout` of the input `pre-deploy-task`; last status RUNNING); stevedore stopped it (StopTask)",
    );
    assert_eq!(
        f.next_step,
        "If the task is only slow, raise `timeout:` in the input `pre-deploy-task` (now 400ms); otherwise look at its last log lines in the job summary."
    );
}

#[tokio::test]
async fn cancelled_during_the_smoke_test_the_rollback_is_requested() {
    let Some(moto) = moto() else { return };
    let (fake, old) = fake(&unique("/ecs/web")).await;
    fake.script_tasks([OneOff::Hang {
        id: "efefefefefefefefefefefefefefefef".into(),
    }]);
    let (handle, cancel) = cancel::pair();
    let watcher = {
        let fake = fake.clone();
        tokio::spawn(async move {
            while fake.calls().get("DescribeTasks").copied().unwrap_or(0) < 2 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            handle.cancel("SIGTERM");
        })
    };
    let cfg = with_tasks(None, Some(SMOKE));
    let a = deploy(&fake, &moto.endpoint, &cfg, &cancel).await;
    watcher.await.unwrap();
    assert_eq!(a.post.as_ref().unwrap().end, TaskEnd::Cancelled);
    match &a.services[0].rollback {
        Some(RollbackOutcome::Requested { to, .. }) => assert_eq!(to, &old),
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.service_task_definition("web"), old);
}

#[tokio::test]
async fn the_whole_step_fails_a_migration_with_one_error_naming_the_task() {
    let group = unique("/ecs/web");
    let (fake, old) = fake(&group).await;
    fake.script_tasks([OneOff::Exit {
        id: "12121212121212121212121212121212".into(),
        polls: 1,
        exit_codes: vec![("app".into(), 3)],
    }]);
    let Some(step) = step_for(&fake) else { return };
    let r = step
        .input("pre-deploy-task", "command: [bin/migrate]\n")
        .exits(1)
        .await;
    let errors = error_lines(&r.stdout);
    assert_eq!(errors.len(), 1, "{}", r.stdout);
    assert!(
        errors[0].starts_with("::error title=stevedore deploy::ECS deploy to cluster `prod` stopped before any service was updated: pre-deploy task `12121212121212121212121212121212` (container `app`, command `bin/migrate`) failed: container `app` exited with code 3"),
        "{}",
        errors[0]
    );
    assert!(
        r.output("pre-deploy-task-arn")
            .unwrap()
            .ends_with("/12121212121212121212121212121212")
    );
    assert_eq!(fake.requests("UpdateService").len(), 0);
    assert_eq!(fake.service_task_definition("web"), old);
}

#[tokio::test]
async fn task_inputs_are_checked_with_the_other_inputs() {
    let (fake, _) = fake("/ecs/web").await;
    let Some(step) = step_for(&fake) else { return };
    let r = step
        .input("pre-deploy-task", "command: bin/rails db:migrate\n")
        .input("post-deploy-task", "command: [x]\ncontainer: nope\n")
        .input("wait-timeout", "never")
        .exits(2)
        .await;
    has(&r.stdout, "pre-deploy-task");
    has(
        &r.stdout,
        "`command` must be a list (exec form), not one string",
    );
    has(&r.stdout, "wait-timeout");
    assert_eq!(
        fake.total_calls(),
        0,
        "input errors stop before any ECS call"
    );
    // A container the task definition lacks is a configuration error before any write.
    let Some(step) = step_for(&fake) else { return };
    let r = step
        .input("post-deploy-task", "command: [x]\ncontainer: nope\n")
        .exits(2)
        .await;
    has(
        &r.stdout,
        "input `post-deploy-task` names container `nope`, which the task definition does not have (it has `app`, `log-router`)",
    );
    assert_eq!(fake.requests("RegisterTaskDefinition").len(), 0);
    assert_eq!(fake.requests("RunTask").len(), 0);
}

#[tokio::test]
async fn a_dry_run_lists_the_tasks_it_would_run_and_runs_none() {
    let (fake, _) = fake("/ecs/web").await;
    let Some(step) = step_for(&fake) else { return };
    let r = step
        .input("dry-run", "true")
        .input("pre-deploy-task", MIGRATE)
        .exits(0)
        .await;
    has(
        &r.stdout,
        "plan: would run the pre-deploy task (before any service is updated; its failure stops the deploy): the new revision of `web` with container `app` command `bin/rails db:migrate`, placed as service `web`, budget 30s",
    );
    has(&r.summary, "**One-off tasks**");
    assert_eq!(fake.requests("RunTask").len(), 0);
    assert_eq!(fake.requests("RegisterTaskDefinition").len(), 0);
}
