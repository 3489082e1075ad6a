//! App Runner deploy against the scripted App Runner endpoint (moto has no App Runner): success, a failed
//! operation, a stuck operation, an unhealthy URL rolled back, and the whole step.

use crate::helpers::has;
use std::time::Duration;

use serde_json::json;
use stevedore::cancel::Cancel;
use stevedore::modes::deploy::apprunner::{self, Config, HealthTiming, OpEnd, Rollback};
use stevedore::report::Verdict;

use crate::ecs::{error_lines, fast};
use crate::helpers::deploy::{TOKEN, one_failed_deployment, record, scripted_step, succeeds};
use crate::helpers::fake_apprunner::{FakeAppRunner, Op};
use crate::helpers::fake_ecs::sdk_config;
use crate::helpers::run::Step;

const OLD: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/frontend@sha256:0000000000000000000000000000000000000000000000000000000000000000";
const NEW: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/frontend@sha256:2222222222222222222222222222222222222222222222222222222222222222";

fn config(fake: &FakeAppRunner, service: &str) -> Config {
    Config {
        aws: stevedore::aws::AwsInputs::default(),
        service: service.into(),
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

async fn deploy(fake: &FakeAppRunner, cfg: &Config) -> apprunner::Outcome {
    let out = apprunner::deploy(
        &sdk_config(fake.url()),
        &crate::helpers::reqwest_client(),
        cfg,
        &Cancel::never(),
    )
    .await
    .unwrap();
    fake.assert_no_protocol_errors();
    out
}

#[tokio::test]
async fn at_the_production_gap_an_operation_is_polled_once_a_second_and_its_end_seen_within_a_second()
 {
    let fake = FakeAppRunner::start("frontend", OLD).await;
    fake.script([Op::SucceedAfter(Duration::from_millis(2600))]);
    let mut cfg = config(&fake, "frontend");
    cfg.timing = stevedore::modes::deploy::ecs::Timing::new(Duration::from_secs(30));
    let o = deploy(&fake, &cfg).await;
    assert!(o.succeeded(), "{o:#?}");
    let polls = fake.arrivals("ListOperations");
    let (end, _) = fake.succeeded()[0];
    crate::ecs::assert_paced_once_a_second("App Runner operation", &polls, end);
    assert_eq!(polls.len() as u32, o.polls);
}

#[tokio::test]
async fn the_default_health_verdict_is_three_answers_one_second_apart() {
    let fake = FakeAppRunner::start("frontend", OLD).await;
    let d = HealthTiming::default();
    assert_eq!((d.passes, d.interval), (3, Duration::from_secs(1)));
    let before = std::time::Instant::now();
    let r = apprunner::check_health(
        &crate::helpers::reqwest_client(),
        &fake.health_url(),
        200,
        d,
        &Cancel::never(),
    )
    .await;
    assert_eq!(r, Ok(3));
    // Three requests started 1 s apart: the verdict 2 s after the first, plus round trips (generous).
    let took = before.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(4),
        "{took:?}"
    );
}

#[tokio::test]
async fn a_name_is_resolved_the_image_updated_by_digest_the_operation_followed_and_the_url_checked()
{
    let fake = FakeAppRunner::start("frontend", OLD).await;
    fake.script([Op::Succeed(3)]);
    let cfg = config(&fake, "frontend");
    let o = deploy(&fake, &cfg).await;
    assert!(o.succeeded(), "{o:#?}");
    assert_eq!(o.end, Ok(OpEnd::Succeeded));
    assert_eq!(
        o.polls, 3,
        "decided at the ListOperations that saw SUCCEEDED"
    );
    assert_eq!(o.health, Some(Ok(2)));
    assert_eq!(fake.image(), NEW);
    // Everything but the image is sent back as it was.
    let req = &fake.requests("UpdateService")[0];
    assert_eq!(req["ServiceArn"], fake.arn());
    assert_eq!(
        req["SourceConfiguration"]["ImageRepository"],
        json!({"ImageIdentifier": NEW, "ImageRepositoryType": "ECR",
               "ImageConfiguration": {"Port": "8080", "RuntimeEnvironmentVariables": {"MODE": "prod"}}})
    );
    assert_eq!(
        req["SourceConfiguration"]["AuthenticationConfiguration"]["AccessRoleArn"],
        "arn:aws:iam::123456789012:role/apprunner-ecr"
    );
    assert_eq!(fake.calls().get("ListServices"), Some(&1));
    assert_eq!(
        o.api_calls,
        1 + 1 + 1 + 3,
        "ListServices, DescribeService, UpdateService, 3 polls"
    );
    let r = apprunner::report(&cfg, &o, false);
    assert_eq!(r.verdict, Verdict::Success);
    let out = |n: &str| {
        r.outputs
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(out("operation-id"), o.operation_id.clone());
    assert_eq!(
        out("service-url"),
        Some(format!("https://{}", o.service.url))
    );
}

#[tokio::test]
async fn a_failed_operation_is_reported_and_app_runner_kept_the_previous_image() {
    let fake = FakeAppRunner::start("frontend", OLD).await;
    fake.script([Op::Fail(2)]);
    let cfg = config(&fake, &fake.arn());
    let o = deploy(&fake, &cfg).await;
    assert_eq!(
        o.end,
        Ok(OpEnd::Failed {
            status: "ROLLBACK_SUCCEEDED".into()
        })
    );
    assert_eq!(o.health, None, "no health check after a failed operation");
    assert_eq!(o.rollback, Some(Rollback::ByAppRunner));
    assert_eq!(fake.image(), OLD);
    assert_eq!(fake.requests("UpdateService").len(), 1);
    assert_eq!(
        fake.calls().get("ListServices"),
        None,
        "an ARN is not looked up"
    );
    let f = apprunner::report(&cfg, &o, false).closing_error().unwrap();
    assert_eq!(
        f.reason,
        format!(
            "App Runner deploy of `frontend` failed: operation ended ROLLBACK_SUCCEEDED; App Runner kept the previous image `{OLD}`."
        )
    );
}

#[tokio::test]
async fn a_stuck_operation_times_out_and_says_no_update_is_possible_until_it_ends() {
    let fake = FakeAppRunner::start("frontend", OLD).await;
    fake.script([Op::Stuck]);
    let mut cfg = config(&fake, "frontend");
    cfg.timing = fast(Duration::from_millis(300));
    let o = deploy(&fake, &cfg).await;
    assert_eq!(
        o.end,
        Ok(OpEnd::TimedOut {
            last_status: "IN_PROGRESS".into(),
            budget: Duration::from_millis(300)
        })
    );
    match &o.rollback {
        Some(Rollback::Impossible(why)) => assert!(why.contains("still in progress"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        fake.requests("UpdateService").len(),
        1,
        "no update while an operation runs"
    );
    let f = apprunner::report(&cfg, &o, false).closing_error().unwrap();
    has(
        &f.reason,
        "operation still IN_PROGRESS after 300ms, the budget set by the input `wait-timeout`",
    );
    assert!(
        f.next_step.starts_with("Wait for the operation to end"),
        "{}",
        f.next_step
    );
}

#[tokio::test]
async fn an_unhealthy_url_rolls_back_to_the_previous_image() {
    let fake = FakeAppRunner::start("frontend", OLD).await;
    fake.health(503);
    let cfg = config(&fake, "frontend");
    let o = deploy(&fake, &cfg).await;
    assert_eq!(o.end, Ok(OpEnd::Succeeded));
    match &o.health {
        Some(Err(why)) => assert!(
            why.ends_with("/health` answered HTTP 503 2 times in a row (expected 200)"),
            "{why}"
        ),
        other => panic!("{other:?}"),
    }
    match &o.rollback {
        Some(Rollback::Ours { end, .. }) => assert_eq!(end, &OpEnd::Succeeded),
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.image(), OLD);
    let reqs = fake.requests("UpdateService");
    assert_eq!(reqs.len(), 2);
    assert_eq!(
        reqs[1]["SourceConfiguration"]["ImageRepository"]["ImageIdentifier"],
        OLD
    );
    assert!(!o.succeeded());
}

fn step(fake: &FakeAppRunner) -> Option<Step> {
    Some(
        scripted_step("AWS_ENDPOINT_URL_APPRUNNER", fake.url())?
            .input("app-runner-service", "frontend")
            .input("image", NEW)
            .input("health-url", &fake.health_url()),
    )
}

#[tokio::test]
async fn the_whole_step_deploys_to_app_runner_and_writes_the_outputs() {
    let fake = FakeAppRunner::start("frontend", OLD).await;
    let Some(step) = step(&fake) else { return };
    let r = succeeds(step).await;
    assert!(
        r.output("service-url")
            .unwrap()
            .starts_with("https://127.0.0.1:")
    );
    assert_eq!(r.output("operation-id").unwrap().len(), 32);
    assert_eq!(fake.image(), NEW);
    fake.assert_no_protocol_errors();
}

#[tokio::test]
async fn the_whole_step_refuses_an_app_runner_target_mixed_with_ecs() {
    let fake = FakeAppRunner::start("frontend", OLD).await;
    let Some(step) = step(&fake) else { return };
    let r = step.input("cluster", "prod").exits(2).await;
    let errors = error_lines(&r.stdout);
    assert!(
        errors.iter().any(|e| e.contains("app-runner-service")),
        "{}",
        r.stdout
    );
    assert!(fake.calls().is_empty());
}

#[tokio::test]
async fn a_github_deployment_records_an_unhealthy_app_runner_deploy_as_a_failure() {
    use crate::helpers::fake_github::FakeGithub;
    let gh = FakeGithub::start_for("octo-org/octo-repo").await;
    let fake = FakeAppRunner::start("frontend", OLD).await;
    fake.health(500);
    let Some(step) = step(&fake) else { return };
    let r = record(step, &gh, "staging", TOKEN).exits(1).await;
    let id = one_failed_deployment(&gh, "staging");
    has(
        &r.summary,
        &format!("GitHub Deployment {id} to `staging`: failure."),
    );
    // The previous image serves again, and the one error says so.
    assert_eq!(fake.image(), OLD);
    let errors = error_lines(&r.stdout);
    assert_eq!(errors.len(), 1, "{}", r.stdout);
    assert!(
        errors[0].starts_with("::error title=stevedore deploy::App Runner deploy of `frontend` failed: operation succeeded, but `"),
        "{}",
        errors[0]
    );
    has(errors[0], &format!("; rolled back to `{OLD}` (operation `"));
}

#[tokio::test]
async fn a_dry_run_describes_the_service_and_changes_nothing() {
    let fake = FakeAppRunner::start("frontend", OLD).await;
    let Some(step) = step(&fake) else { return };
    let r = step.input("dry-run", "true").exits(0).await;
    assert_eq!(r.output("verdict"), Some("skipped"));
    has(
        &r.stdout,
        &format!("plan: would UpdateService `frontend` from `{OLD}` to `{NEW}`"),
    );
    assert_eq!(fake.requests("UpdateService").len(), 0);
    assert_eq!(fake.image(), OLD);
}

/// A malformed `app-runner-service` is an input error: exit 2 before anything runs. Every AWS call of
/// the step (STS included) would reach the scripted endpoint, and none does; GitHub gets no Deployment.
#[tokio::test]
async fn a_malformed_app_runner_service_is_an_input_error_before_any_call() {
    use crate::helpers::fake_github::FakeGithub;
    let gh = FakeGithub::start_for("octo-org/octo-repo").await;
    let fake = FakeAppRunner::start("frontend", OLD).await;
    let arn = fake.arn();
    let short_account = arn.replace(":123456789012:", ":12345678901:");
    assert_ne!(short_account, arn);
    for (service, problem) in [
        (
            short_account.as_str(),
            "is an ARN but not an App Runner service ARN",
        ),
        ("web", "is not a valid App Runner service name"),
        ("front end", "is not a valid App Runner service name"),
        (
            "arn:aws:ecs:eu-west-1:123456789012:service/prod/frontend",
            "is an ARN but not an App Runner service ARN",
        ),
    ] {
        let r = Step::new()
            .input("mode", "deploy")
            .input("allow-aws-credential-chain", "true")
            .var("AWS_ENDPOINT_URL", fake.url())
            .var("AWS_ENDPOINT_URL_APPRUNNER", fake.url())
            .var("AWS_ENDPOINT_URL_STS", fake.url())
            .input("aws-region", "eu-west-1")
            .input("app-runner-service", service)
            .input("image", NEW)
            .input("environment", "production")
            .input("github-token", "ghs_faketoken0123456789")
            .var("GITHUB_API_URL", &gh.url())
            .var("AWS_ACCESS_KEY_ID", "AKIDTEST")
            .var("AWS_SECRET_ACCESS_KEY", "secret-key-for-tests")
            .run()
            .await;
        assert_eq!(r.code, 2, "{service}: {}", r.stdout);
        let errors = error_lines(&r.stdout);
        assert!(
            errors.iter().any(|e| e.starts_with(
                "::error title=stevedore%3A invalid input `app-runner-service`::input `app-runner-service`"
            ) && e.contains(&format!("`{service}`"))
                && e.contains(problem)),
            "{service}: {}",
            r.stdout
        );
        assert!(fake.calls().is_empty(), "{service}: {:?}", fake.calls());
        assert!(
            fake.protocol_errors().is_empty(),
            "{service}: {:?}",
            fake.protocol_errors()
        );
    }
    assert!(gh.deployments().is_empty(), "{:?}", gh.deployments());
    gh.assert_no_violations();
}

/// The read-only plan comes before any GitHub Deployment: a missing or paused service is refused with
/// exit 2, and no Deployment records a target nothing was deployed to.
#[tokio::test]
async fn a_missing_or_paused_service_creates_no_github_deployment() {
    for (service, status, said) in [
        (
            "backend",
            "RUNNING",
            "input `app-runner-service`: no App Runner service named `backend`",
        ),
        (
            "frontend",
            "PAUSED",
            "App Runner service `frontend` cannot be deployed: its status is PAUSED",
        ),
    ] {
        let fake = FakeAppRunner::start("frontend", OLD).await;
        fake.set_status(status);
        let Some(step) = step(&fake) else { return };
        crate::ecs::refused_before_any_deployment(
            step.input("app-runner-service", service),
            service,
            said,
        )
        .await;
        assert!(fake.requests("UpdateService").is_empty());
        assert_eq!(fake.image(), OLD);
    }
}

#[tokio::test]
async fn health_passes_and_interval_set_the_url_check_of_the_whole_step() {
    let fake = FakeAppRunner::start("frontend", OLD).await;
    let Some(step) = step(&fake) else { return };
    let r = step
        .input("health-passes", "5")
        .input("health-interval", "200ms")
        .exits(0)
        .await;
    has(&r.summary, "answered 200 5 times in a row");
    assert_eq!(fake.image(), NEW);
}

#[tokio::test]
async fn health_timing_out_of_bounds_is_an_input_error_before_any_call() {
    for (inputs, named) in [
        (&[("health-passes", "0")][..], "health-passes"),
        (&[("health-passes", "21")][..], "health-passes"),
        (&[("health-interval", "50ms")][..], "health-interval"),
        (&[("health-interval", "2m")][..], "health-interval"),
        (
            &[("health-passes", "20"), ("health-interval", "5s")][..],
            "health-passes",
        ),
    ] {
        let fake = FakeAppRunner::start("frontend", OLD).await;
        let Some(mut step) = step(&fake) else { return };
        for (k, v) in inputs {
            step = step.input(k, v);
        }
        let r = step.exits(2).await;
        let errors = error_lines(&r.stdout);
        assert!(
            errors.iter().any(|e| e.contains(named)),
            "{inputs:?}: {}",
            r.stdout
        );
        assert!(fake.calls().is_empty(), "{inputs:?}");
    }
}
