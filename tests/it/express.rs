//! ECS Express Mode deploy against the scripted ECS endpoint (tests/it/helpers/fake_ecs.rs, awsJson1_1):
//! success, a deployment ECS rolled back (canary alarm), a stuck deployment (timeout, rolled back by us),
//! an unhealthy URL (rolled back by us), cancellation mid-deployment (the previous image requested back),
//! a running deployment refused, bad inputs (exit 2, all at once), a dry run, the whole step, and the ECS
//! path refusing an Express service.

use crate::helpers::has;
use std::time::Duration;

use serde_json::json;
use stevedore::cancel::{self, Cancel};
use stevedore::modes::deploy::apprunner::HealthTiming;
use stevedore::modes::deploy::express::{self, Config, End, Rollback};
use stevedore::report::Verdict;

use crate::ecs::{error_lines, fast};
use crate::helpers::deploy::{TOKEN, one_failed_deployment, record, scripted_step, succeeds};
use crate::helpers::fake_ecs::{After, ExpressDeploy, FakeEcs};
use crate::helpers::run::Step;

const OLD: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/frontend@sha256:0000000000000000000000000000000000000000000000000000000000000000";
const NEW: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/frontend@sha256:2222222222222222222222222222222222222222222222222222222222222222";

async fn fake() -> (FakeEcs, String) {
    let fake = FakeEcs::start().await;
    let arn = fake.seed_express("default", "frontend", OLD);
    (fake, arn)
}

fn config(fake: &FakeEcs, service: &str) -> Config {
    Config {
        aws: stevedore::aws::AwsInputs::default(),
        service: service.into(),
        cluster: "default".into(),
        image: NEW.into(),
        health_url: Some(url::Url::parse(&fake.health_url()).unwrap()),
        health_status: 200,
        health: HealthTiming {
            passes: 2,
            interval: Duration::from_millis(20),
            budget: Duration::from_millis(300),
            request_timeout: Duration::from_secs(2),
        },
        timing: fast(Duration::from_secs(5)),
        rollback: true,
        registry: None,
    }
}

async fn deploy_with(fake: &FakeEcs, cfg: &Config, cancel: &Cancel) -> express::Outcome {
    let arn = cfg.service_arn("aws", "eu-west-1", "123456789012");
    let out = express::deploy(
        &fake.sdk(),
        &crate::helpers::reqwest_client(),
        cfg,
        &arn,
        cancel,
    )
    .await
    .unwrap();
    fake.assert_no_protocol_errors();
    out
}

async fn deploy(fake: &FakeEcs, cfg: &Config) -> express::Outcome {
    deploy_with(fake, cfg, &Cancel::never()).await
}

#[tokio::test]
async fn at_the_production_gap_a_service_deployment_is_polled_once_a_second_and_its_end_seen_within_a_second()
 {
    let (fake, arn) = fake().await;
    fake.script_express(
        &arn,
        [ExpressDeploy::Succeed(After::Time(Duration::from_millis(
            2600,
        )))],
    );
    let mut cfg = config(&fake, "frontend");
    cfg.timing = stevedore::modes::deploy::ecs::Timing::new(Duration::from_secs(30));
    let o = deploy(&fake, &cfg).await;
    assert!(o.succeeded(), "{o:#?}");
    let polls: Vec<_> = fake
        .arrivals()
        .into_iter()
        .filter(|(op, _)| op == "ListServiceDeployments")
        .map(|(_, t)| t)
        .collect();
    let end = fake
        .decided()
        .into_iter()
        .find(|d| d.what == "SUCCESSFUL")
        .expect("the deployment succeeded")
        .at;
    // The follow loop's polls: the ones from its first to the one that saw the end.
    let seen = polls
        .iter()
        .position(|t| *t >= end)
        .expect("a poll saw the end");
    let follow = &polls[seen + 1 - o.polls as usize..=seen];
    crate::ecs::assert_paced_once_a_second("Express service deployment", follow, end);
}

#[tokio::test]
async fn a_name_becomes_the_arn_only_the_image_changes_the_deployment_is_followed_and_the_url_checked()
 {
    let (fake, arn) = fake().await;
    fake.script_express(&arn, [ExpressDeploy::Succeed(After::Polls(3))]);
    let cfg = config(&fake, "frontend");
    let o = deploy(&fake, &cfg).await;
    assert!(o.succeeded(), "{o:#?}");
    assert_eq!(o.end, Ok(End::Succeeded));
    assert_eq!(o.polls, 3, "decided at the poll that saw SUCCESSFUL");
    assert_eq!(o.health, Some(Ok(2)));
    assert_eq!(fake.express_active_images(&arn), vec![NEW.to_owned()]);
    assert_eq!(fake.express_deployments(&arn)[0], "SUCCESSFUL");
    // The whole primary container is sent back; only the image differs.
    let req = &fake.requests("UpdateExpressGatewayService")[0];
    assert_eq!(req["serviceArn"], arn);
    assert_eq!(
        req["primaryContainer"],
        json!({"image": NEW, "containerPort": 8080,
               "awsLogsConfiguration": {"logGroup": "/aws/ecs/default/frontend", "logStreamPrefix": "ecs"},
               "command": ["node", "server.js"],
               "environment": [{"name": "MODE", "value": "prod"}],
               "secrets": [{"name": "API_KEY",
                            "valueFrom": "arn:aws:ssm:eu-west-1:123456789012:parameter/frontend/api-key"}]})
    );
    let keys: Vec<&String> = req.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["primaryContainer", "serviceArn"],
        "nothing else is changed"
    );
    // Before the update: no deployment may be running; the poll filters on the update's time.
    let lists = fake.requests("ListServiceDeployments");
    assert_eq!(
        lists[0]["status"],
        json!([
            "PENDING",
            "IN_PROGRESS",
            "ROLLBACK_REQUESTED",
            "ROLLBACK_IN_PROGRESS",
            "STOP_REQUESTED"
        ])
    );
    assert!(lists[1]["createdAt"]["after"].is_number(), "{}", lists[1]);
    assert_eq!(
        lists[1]["cluster"],
        "arn:aws:ecs:eu-west-1:123456789012:cluster/default"
    );
    assert_eq!(
        o.api_calls,
        1 + 1 + 1 + 3,
        "DescribeExpressGatewayService, ListServiceDeployments, UpdateExpressGatewayService, 3 polls"
    );
    assert_eq!(fake.total_calls(), o.api_calls, "{:?}", fake.calls());
    let r = express::report(&cfg, &o, false);
    assert_eq!(r.verdict, Verdict::Success);
    let out = |n: &str| {
        r.outputs
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        out("service-url").as_deref(),
        Some("https://frontend-0123456789abcdef.ecs.eu-west-1.on.aws")
    );
    assert!(
        out("deployment-id")
            .unwrap()
            .starts_with("arn:aws:ecs:eu-west-1:123456789012:service-deployment/default/frontend/")
    );
}

#[tokio::test]
async fn a_deployment_ecs_rolled_back_is_a_failure_and_the_previous_image_serves() {
    let (fake, arn) = fake().await;
    fake.script_express(&arn, [ExpressDeploy::AlarmRollback(After::Polls(2))]);
    let cfg = config(&fake, &arn);
    let o = deploy(&fake, &cfg).await;
    match &o.end {
        Ok(End::Failed { status, reason }) => {
            assert_eq!(status, "ROLLBACK_SUCCESSFUL");
            assert!(
                reason.as_deref().unwrap_or_default().contains("alarm"),
                "{reason:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(o.health, None, "no health check after a failed deployment");
    assert_eq!(o.rollback, Some(Rollback::ByEcs));
    assert_eq!(fake.express_active_images(&arn), vec![OLD.to_owned()]);
    assert_eq!(
        fake.requests("UpdateExpressGatewayService").len(),
        1,
        "ECS rolled back; no update of ours"
    );
    let f = express::report(&cfg, &o, false).closing_error().unwrap();
    assert!(
        f.reason.starts_with(
            "ECS Express deploy of `frontend` failed: deployment ended ROLLBACK_SUCCESSFUL (Service deployment rolled back because the CloudWatch alarm"
        ),
        "{}",
        f.reason
    );
    assert!(
        f.reason.ends_with(&format!(
            "; ECS rolled back to the previous image `{OLD}` itself."
        )),
        "{}",
        f.reason
    );
}

#[tokio::test]
async fn a_stuck_deployment_times_out_and_the_previous_image_is_put_back_and_followed() {
    let (fake, arn) = fake().await;
    fake.script_express(
        &arn,
        [
            ExpressDeploy::Stuck,
            ExpressDeploy::Succeed(After::Polls(2)),
        ],
    );
    let mut cfg = config(&fake, "frontend");
    cfg.timing = fast(Duration::from_millis(300));
    let o = deploy(&fake, &cfg).await;
    assert_eq!(
        o.end,
        Ok(End::TimedOut {
            last_status: "IN_PROGRESS".into(),
            budget: Duration::from_millis(300)
        })
    );
    match &o.rollback {
        Some(Rollback::Ours { end, .. }) => assert_eq!(end, &End::Succeeded),
        other => panic!("{other:?}"),
    }
    let updates = fake.requests("UpdateExpressGatewayService");
    assert_eq!(updates.len(), 2);
    assert_eq!(updates[1]["primaryContainer"]["image"], OLD);
    assert_eq!(
        updates[1]["primaryContainer"]["environment"],
        json!([{"name": "MODE", "value": "prod"}]),
        "the previous container comes back whole"
    );
    assert_eq!(fake.express_active_images(&arn), vec![OLD.to_owned()]);
    assert_eq!(
        fake.express_deployments(&arn)[..2],
        ["SUCCESSFUL".to_owned(), "STOPPED".to_owned()],
        "the rollback deployment stopped the stuck one"
    );
    let f = express::report(&cfg, &o, false).closing_error().unwrap();
    has(
        &f.reason,
        "deployment still IN_PROGRESS after 300ms, the budget set by the input `wait-timeout`; rolled back to `",
    );
    has(&f.next_step, "`wait-timeout` (now 300ms)");
}

#[tokio::test]
async fn an_unhealthy_url_rolls_back_to_the_previous_image() {
    let (fake, arn) = fake().await;
    fake.health(503);
    let cfg = config(&fake, "frontend");
    let o = deploy(&fake, &cfg).await;
    assert_eq!(o.end, Ok(End::Succeeded));
    match &o.health {
        Some(Err(why)) => assert!(
            why.ends_with("/ping` answered HTTP 503 2 times in a row (expected 200)"),
            "{why}"
        ),
        other => panic!("{other:?}"),
    }
    match &o.rollback {
        Some(Rollback::Ours {
            end, deployment, ..
        }) => {
            assert_eq!(end, &End::Succeeded);
            assert!(deployment.is_some());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.express_active_images(&arn), vec![OLD.to_owned()]);
    assert!(!o.succeeded());
    let r = express::report(&cfg, &o, false);
    assert_eq!(r.verdict, Verdict::Failure);
    has(&r.summary, "rolled back to");
}

#[tokio::test]
async fn rollback_none_leaves_the_service_as_ecs_left_it() {
    let (fake, arn) = fake().await;
    fake.health(500);
    let mut cfg = config(&fake, "frontend");
    cfg.rollback = false;
    let o = deploy(&fake, &cfg).await;
    assert_eq!(o.rollback, Some(Rollback::Disabled));
    assert_eq!(fake.express_active_images(&arn), vec![NEW.to_owned()]);
    assert_eq!(fake.requests("UpdateExpressGatewayService").len(), 1);
}

#[tokio::test]
async fn cancellation_mid_deployment_requests_the_previous_image_and_does_not_wait() {
    let (fake, arn) = fake().await;
    fake.script_express(&arn, [ExpressDeploy::Stuck]);
    let (handle, cancel) = cancel::pair();
    let watcher = {
        let fake = fake.clone();
        tokio::spawn(async move {
            // The pre-check and two polls of the running deployment.
            while fake
                .calls()
                .get("ListServiceDeployments")
                .copied()
                .unwrap_or(0)
                < 3
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            handle.cancel("SIGTERM");
        })
    };
    let cfg = config(&fake, "frontend");
    let o = deploy_with(&fake, &cfg, &cancel).await;
    watcher.await.unwrap();
    assert_eq!(o.end, Ok(End::Cancelled));
    assert!(
        matches!(o.rollback, Some(Rollback::Requested { .. })),
        "{:?}",
        o.rollback
    );
    let updates = fake.requests("UpdateExpressGatewayService");
    assert_eq!(updates.len(), 2);
    assert_eq!(updates[1]["primaryContainer"]["image"], OLD);
    // The newest configuration is the previous image again; the new one's deployment was stopped.
    assert_eq!(fake.express_image(&arn), OLD);
    assert_eq!(fake.express_deployments(&arn)[1], "STOPPED");
    let lists_after = fake.calls()["ListServiceDeployments"];
    assert_eq!(
        lists_after, 3,
        "the rollback is not followed after the signal"
    );
    let r = express::report(&cfg, &o, true);
    assert!(
        r.title.starts_with("deploy cancelled: frontend"),
        "{}",
        r.title
    );
    let f = r.closing_error().unwrap();
    has(
        &f.reason,
        &format!("; rollback to `{OLD}` requested (revision `"),
    );
}

#[tokio::test]
async fn cancellation_before_the_update_changes_nothing() {
    let (fake, arn) = fake().await;
    let (handle, cancel) = cancel::pair();
    handle.cancel("SIGINT");
    let cfg = config(&fake, "frontend");
    let o = deploy_with(&fake, &cfg, &cancel).await;
    assert_eq!(o.end, Ok(End::Cancelled));
    assert!(fake.requests("UpdateExpressGatewayService").is_empty());
    assert_eq!(fake.express_image(&arn), OLD);
}

#[tokio::test]
async fn a_running_deployment_is_refused_before_any_update() {
    let (fake, arn) = fake().await;
    fake.script_express(&arn, [ExpressDeploy::Stuck]);
    let mut cfg = config(&fake, "frontend");
    cfg.timing = fast(Duration::from_millis(100));
    cfg.rollback = false;
    let _ = deploy(&fake, &cfg).await;
    assert_eq!(fake.express_image(&arn), NEW);
    let again = express::deploy(
        &fake.sdk(),
        &crate::helpers::reqwest_client(),
        &cfg,
        &arn,
        &Cancel::never(),
    )
    .await;
    let e = again.unwrap_err();
    assert!(
        matches!(
            &e,
            express::ExpressError::NotDeployable { reason, .. }
                if reason.starts_with("service deployment `arn:aws:ecs:eu-west-1:123456789012:service-deployment/default/frontend/")
                    && reason.contains("is IN_PROGRESS")
        ),
        "{e:?}"
    );
    assert_eq!(fake.requests("UpdateExpressGatewayService").len(), 1);
}

#[tokio::test]
async fn an_unknown_service_and_a_standard_service_are_named() {
    let (fake, _) = fake().await;
    let td = fake.seed_task_definition(
        "api",
        json!([{"name": "api", "image": OLD, "essential": true}]),
    );
    fake.seed_service("default", "api", &td, 1, None);
    let cfg = config(&fake, "frontend");
    for (name, code) in [
        ("missing", "ServiceNotFoundException"),
        ("api", "InvalidParameterException"),
    ] {
        let arn = format!("arn:aws:ecs:eu-west-1:123456789012:service/default/{name}");
        let e = express::deploy(
            &fake.sdk(),
            &crate::helpers::reqwest_client(),
            &cfg,
            &arn,
            &Cancel::never(),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(
                &e,
                express::ExpressError::NotFound { arn: a, code: c, .. } if *a == arn && c == code
            ),
            "{e:?}"
        );
        assert!(
            e.to_string().starts_with(&format!(
                "input `express-service`: `{arn}` is not an ECS Express service in this account and region (ECS answered {code}"
            )),
            "{e}"
        );
    }
    fake.assert_no_protocol_errors();
}

#[test]
fn the_service_url_and_the_health_url_come_from_the_endpoint_and_the_health_check_path() {
    let (fake_url, arn) = ("unused", "arn:aws:ecs:eu-west-1:1:service/c/web");
    let _ = fake_url;
    let cfg = |service: &str, cluster: &str| Config {
        aws: stevedore::aws::AwsInputs::default(),
        service: service.into(),
        cluster: cluster.into(),
        image: NEW.into(),
        health_url: None,
        health_status: 200,
        health: HealthTiming::default(),
        timing: fast(Duration::from_secs(1)),
        rollback: true,
        registry: None,
    };
    assert_eq!(
        cfg("web", "default").service_arn("aws", "eu-west-1", "123456789012"),
        "arn:aws:ecs:eu-west-1:123456789012:service/default/web"
    );
    assert_eq!(
        cfg("web", "arn:aws-cn:ecs:cn-north-1:123456789012:cluster/apps").service_arn(
            "aws-cn",
            "cn-north-1",
            "123456789012"
        ),
        "arn:aws-cn:ecs:cn-north-1:123456789012:service/apps/web"
    );
    assert_eq!(cfg(arn, "ignored").service_arn("aws", "x", "y"), arn);
    let svc = express::Service {
        arn: arn.into(),
        name: "web".into(),
        cluster: "c".into(),
        status: "ACTIVE".into(),
        container: None,
        revision: String::new(),
        active: 1,
        endpoint: Some("web-1a2b.ecs.eu-west-1.on.aws".into()),
        health_check_path: Some("/ping".into()),
    };
    assert_eq!(
        svc.url().as_deref(),
        Some("https://web-1a2b.ecs.eu-west-1.on.aws")
    );
    assert_eq!(
        svc.health_url(None).as_deref(),
        Some("https://web-1a2b.ecs.eu-west-1.on.aws/ping")
    );
    let configured = url::Url::parse("https://app.example.com/health").unwrap();
    assert_eq!(
        svc.health_url(Some(&configured)).as_deref(),
        Some("https://app.example.com/health")
    );
    let with_scheme = express::Service {
        endpoint: Some("https://web.example.com/".into()),
        health_check_path: None,
        ..svc
    };
    assert_eq!(
        with_scheme.url().as_deref(),
        Some("https://web.example.com")
    );
    assert_eq!(
        with_scheme.health_url(None).as_deref(),
        Some("https://web.example.com/")
    );
}

// ---- the whole step ----

fn step(fake: &FakeEcs) -> Option<Step> {
    Some(
        scripted_step("AWS_ENDPOINT_URL_ECS", fake.url())?
            .input("express-service", "frontend")
            .input("image", NEW)
            .input("health-url", &fake.health_url()),
    )
}

#[tokio::test]
async fn the_whole_step_deploys_to_ecs_express_and_writes_the_outputs() {
    let (fake, arn) = fake().await;
    let Some(step) = step(&fake) else { return };
    let r = succeeds(step).await;
    assert_eq!(
        r.output("service-url"),
        Some("https://frontend-0123456789abcdef.ecs.eu-west-1.on.aws")
    );
    assert!(
        r.output("deployment-id")
            .unwrap()
            .contains(":service-deployment/default/frontend/")
    );
    has(&r.summary, "ECS Express deploy of `frontend`.");
    has(&r.summary, "Account `123456789012`.");
    assert_eq!(fake.express_image(&arn), NEW);
    fake.assert_no_protocol_errors();
}

#[tokio::test]
async fn the_whole_step_cancelled_mid_deployment_leaves_the_previous_image_serving() {
    let (fake, arn) = fake().await;
    fake.script_express(&arn, [ExpressDeploy::Stuck]);
    let Some(step) = step(&fake) else { return };
    let (handle, cancel) = cancel::pair();
    let watcher = {
        let fake = fake.clone();
        tokio::spawn(async move {
            while fake
                .calls()
                .get("ListServiceDeployments")
                .copied()
                .unwrap_or(0)
                < 2
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            handle.cancel("SIGTERM");
        })
    };
    let r = step.run_with_cancel(cancel).await;
    watcher.await.unwrap();
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert_eq!(fake.express_image(&arn), OLD, "{}", r.stdout);
    let updates = fake.requests("UpdateExpressGatewayService");
    assert_eq!(updates.len(), 2, "{}", r.stdout);
    assert_eq!(updates[1]["primaryContainer"]["image"], OLD);
    let errors = error_lines(&r.stdout);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("rollback to `") && e.contains("requested")),
        "{}",
        r.stdout
    );
}

#[tokio::test]
async fn bad_inputs_are_all_refused_at_once_with_exit_2_and_no_ecs_call() {
    let (fake, _) = fake().await;
    let Some(step) = step(&fake) else { return };
    let r = step
        .input(
            "image",
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/frontend",
        )
        .input("container", "app")
        .input("task-definition", "taskdef.json")
        .input("health-url", "ftp://example.com/")
        .input("wait-timeout", "0s")
        .input("rollback", "sometimes")
        .exits(2)
        .await;
    let errors = error_lines(&r.stdout).join("\n");
    for input in [
        "image",
        "container",
        "task-definition",
        "health-url",
        "wait-timeout",
        "rollback",
    ] {
        assert!(
            errors.contains(&format!("`{input}`")),
            "{input} not named:\n{errors}"
        );
    }
    has(&errors, "ftp://example.com/");
    has(&errors, "does not apply to an ECS Express deploy");
    assert_eq!(fake.total_calls(), 0, "{:?}", fake.calls());
}

#[tokio::test]
async fn an_express_target_mixed_with_app_runner_or_a_bad_arn_is_refused() {
    let (fake, _) = fake().await;
    let Some(step) = step(&fake) else { return };
    let r = step
        .input("app-runner-service", "frontend")
        .input(
            "express-service",
            "arn:aws:lambda:eu-west-1:123456789012:function:x",
        )
        .input("cluster", "other")
        .exits(2)
        .await;
    let errors = error_lines(&r.stdout).join("\n");
    has(&errors, "together with `app-runner-service`");
    has(&errors, "not an ECS service ARN");
    assert_eq!(fake.total_calls(), 0);
}

#[tokio::test]
async fn a_dry_run_describes_the_service_and_changes_nothing() {
    let (fake, arn) = fake().await;
    let Some(step) = step(&fake) else { return };
    let r = step.input("dry-run", "true").exits(0).await;
    assert_eq!(r.output("verdict"), Some("skipped"));
    has(
        &r.stdout,
        &format!("plan: would UpdateExpressGatewayService `frontend` from `{OLD}` to `{NEW}`"),
    );
    assert_eq!(
        fake.calls().keys().collect::<Vec<_>>(),
        ["DescribeExpressGatewayService"]
    );
    assert_eq!(fake.express_image(&arn), OLD);
}

#[tokio::test]
async fn a_github_deployment_records_an_unhealthy_express_deploy_as_a_failure() {
    use crate::helpers::fake_github::FakeGithub;
    let gh = FakeGithub::start_for("octo-org/octo-repo").await;
    let (fake, arn) = fake().await;
    fake.health(500);
    let Some(step) = step(&fake) else { return };
    let r = record(step, &gh, "staging", TOKEN).exits(1).await;
    one_failed_deployment(&gh, "staging");
    assert_eq!(fake.express_image(&arn), OLD);
    let errors = error_lines(&r.stdout);
    assert_eq!(errors.len(), 1, "{}", r.stdout);
    assert!(
        errors[0].starts_with(
            "::error title=stevedore deploy::ECS Express deploy of `frontend` failed: deployment succeeded, but `"
        ),
        "{}",
        errors[0]
    );
    has(
        errors[0],
        &format!("; rolled back to `{OLD}` (deployment `"),
    );
}

#[tokio::test]
async fn the_ecs_path_refuses_an_express_service_and_names_express_service() {
    let (fake, _) = fake().await;
    let Some(step) = crate::ecs::step_for(&fake) else {
        return;
    };
    let r = step
        .input("cluster", "default")
        .input("service", "frontend")
        .input("container", "Main")
        .exits(2)
        .await;
    let errors = error_lines(&r.stdout).join("\n");
    assert!(
        errors.contains("is an ECS Express Mode service")
            && errors.contains("`express-service: frontend`"),
        "{errors}"
    );
    assert!(fake.requests("RegisterTaskDefinition").is_empty());
    assert!(fake.requests("UpdateService").is_empty());
}

// ---- benchmark ----

/// Benchmark, not a timed test: the whole step (default timing: the shared poll schedule, one call a
/// second; health check 3 answers 1 s apart) against the scripted endpoints, where the operation / service deployment
/// succeeds at a scheduled instant between polls. Measures the time from that end, and from the endpoint's
/// first answer reporting it, to the step's exit, and the AWS API calls per deploy (counted by the
/// endpoints; STS's one GetCallerIdentity on moto comes on top).
/// Run: `cargo test --test it bench_app_runner_and_express -- --ignored --nocapture`
#[tokio::test]
#[ignore = "benchmark: prints figures, takes ~25 s"]
async fn bench_app_runner_and_express_end_to_exit_and_api_calls() {
    use std::time::Instant;

    use crate::helpers::fake_apprunner::{FakeAppRunner, Op};

    /// (scheduled end → exit, reported → exit, API calls, exit code)
    type Sample = (Duration, Duration, u32, u8);

    async fn app_runner(at: Duration) -> Sample {
        let fake = FakeAppRunner::start("frontend", OLD).await;
        fake.script([Op::SucceedAfter(at)]);
        let moto = crate::helpers::moto::moto().expect("the benchmark needs moto");
        let r = Step::new()
            .input("mode", "deploy")
            .input("allow-aws-credential-chain", "true")
            .var("AWS_ENDPOINT_URL", &moto.endpoint)
            .input("aws-region", "eu-west-1")
            .input("app-runner-service", "frontend")
            .input("image", NEW)
            .input("health-url", &fake.health_url())
            .var("AWS_ACCESS_KEY_ID", "AKIDTEST")
            .var("AWS_SECRET_ACCESS_KEY", "secret-key-for-tests")
            .var("AWS_ENDPOINT_URL_APPRUNNER", fake.url())
            .run()
            .await;
        let exit = Instant::now();
        let (ended, reported) = fake.succeeded()[0];
        (
            exit.duration_since(ended),
            exit.duration_since(reported),
            fake.total_calls(),
            r.code,
        )
    }

    async fn express(at: Duration) -> Sample {
        let (fake, arn) = fake().await;
        fake.script_express(&arn, [ExpressDeploy::Succeed(After::Time(at))]);
        let r = step(&fake).expect("the benchmark needs moto").run().await;
        let exit = Instant::now();
        let ended = fake
            .decided()
            .into_iter()
            .find(|d| d.what == "SUCCESSFUL")
            .expect("the deployment succeeded")
            .at;
        // The first poll at or after the scheduled end is the answer that reported it.
        let reported = fake
            .arrivals()
            .into_iter()
            .filter(|(op, t)| op == "ListServiceDeployments" && *t >= ended)
            .map(|(_, t)| t)
            .min()
            .expect("a poll saw it");
        (
            exit.duration_since(ended),
            exit.duration_since(reported),
            fake.total_calls(),
            r.code,
        )
    }

    let delays = [2.0, 3.5, 6.0, 9.0, 14.0].map(Duration::from_secs_f64);
    let ar = futures_util::future::join_all(delays.iter().map(|d| app_runner(*d))).await;
    let ex = futures_util::future::join_all(delays.iter().map(|d| express(*d))).await;
    println!(
        "| target | samples | scheduled end → step exit: mean | max | endpoint reported success → exit: mean | max | API calls per deploy | exit codes |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for (name, rs) in [("App Runner", &ar), ("ECS Express", &ex)] {
        let mean = |f: fn(&Sample) -> Duration| {
            rs.iter().map(|r| f(r).as_secs_f64()).sum::<f64>() / rs.len() as f64
        };
        let max =
            |f: fn(&Sample) -> Duration| rs.iter().map(|r| f(r).as_secs_f64()).fold(0.0, f64::max);
        let calls: Vec<u32> = rs.iter().map(|r| r.2).collect();
        let codes: std::collections::BTreeSet<u8> = rs.iter().map(|r| r.3).collect();
        println!(
            "| {name} | {} | {:.2} s | {:.2} s | {:.2} s | {:.2} s | {}–{} | {codes:?} |",
            rs.len(),
            mean(|r| r.0),
            max(|r| r.0),
            mean(|r| r.1),
            max(|r| r.1),
            calls.iter().min().unwrap(),
            calls.iter().max().unwrap(),
        );
    }
    println!("(ends scheduled {delays:?} after the update)");
}

/// The read-only plan comes before any GitHub Deployment: an unknown service, or one whose deployment
/// still runs, is refused with exit 2 and leaves no Deployment recording a target nothing was deployed to.
#[tokio::test]
async fn a_refused_plan_creates_no_github_deployment() {
    let (fake, arn) = fake().await;
    // A deployment that never ends, started before the step.
    fake.script_express(&arn, [ExpressDeploy::Stuck]);
    let mut cfg = config(&fake, "frontend");
    cfg.timing = fast(Duration::from_millis(100));
    cfg.rollback = false;
    let _ = deploy(&fake, &cfg).await;
    for (service, said) in [
        ("backend", "input `express-service`: `"),
        ("frontend", "is IN_PROGRESS"),
    ] {
        let Some(step) = step(&fake) else { return };
        crate::ecs::refused_before_any_deployment(
            step.input("express-service", service),
            service,
            said,
        )
        .await;
    }
    assert_eq!(fake.requests("UpdateExpressGatewayService").len(), 1);
}
