//! Lambda deploys against moto (Lambda, CloudWatch, IAM, S3), run as whole steps in-process.
//!
//! Every test creates its own function (unique name) with an execution role in moto's IAM, version 1
//! published and alias `live` on it, then runs `mode: deploy` with `function-name` set. Health URLs are
//! served by an in-process axum server on loopback. Nothing here asserts on time: bakes are only upper
//! bounds, and tests watch the alias itself to know when traffic is split.

use crate::helpers::{has, lacks};
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_smithy_types::Blob;
use stevedore::aws::ecr::{CreateRepository, PutImage};

use crate::helpers::deploy::{only_deployment, record, states};
use crate::helpers::fake_github::FakeGithub;
use crate::helpers::moto::{LambdaCode, lambda_function, moto, unique};
use crate::helpers::run::{Step, StepResult};

const REGION: &str = "us-east-1";

pub fn sdk(endpoint: &str) -> SdkConfig {
    crate::helpers::moto::sdk(endpoint, REGION)
}

pub use crate::helpers::moto::{create_role_as, zip};

/// One function with version 1 published and alias `live` on it.
pub struct Rig {
    pub endpoint: String,
    pub sdk: SdkConfig,
    pub lambda: aws_sdk_lambda::Client,
    pub function: String,
}

impl Rig {
    pub async fn new(prefix: &str) -> Option<Rig> {
        let m = moto()?;
        let sdk = sdk(&m.endpoint);
        let lambda = aws_sdk_lambda::Client::new(&sdk);
        let function = unique(prefix);
        lambda_function(
            &sdk,
            &m.endpoint,
            &function,
            LambdaCode::Python("v1"),
            Some("live"),
        )
        .await;
        Some(Rig {
            endpoint: m.endpoint.clone(),
            sdk,
            lambda,
            function,
        })
    }

    /// A deploy step for this function with `zip` written into the workspace as `app.zip`.
    pub fn step(&self, zip_body: Option<&str>) -> Step {
        let s = Step::new()
            .input("mode", "deploy")
            .input("function-name", &self.function)
            .input("aws-region", REGION)
            .input("allow-aws-credential-chain", "true")
            .var("AWS_ACCESS_KEY_ID", "testing")
            .var("AWS_SECRET_ACCESS_KEY", "testing")
            .var("AWS_ENDPOINT_URL", &self.endpoint);
        match zip_body {
            Some(b) => {
                std::fs::write(s.workspace.join("app.zip"), zip(b)).unwrap();
                s.input("zip-file", "app.zip")
            }
            None => s,
        }
    }

    /// The function's alias `name`, as GetAlias describes it.
    pub async fn get_alias(
        &self,
        name: &str,
    ) -> aws_sdk_lambda::operation::get_alias::GetAliasOutput {
        self.lambda
            .get_alias()
            .function_name(&self.function)
            .name(name)
            .send()
            .await
            .unwrap()
    }

    /// The resource policy (JSON text) on the function's `qualifier` (version or alias); `None` when
    /// GetPolicy refuses (there is none).
    pub async fn policy(&self, qualifier: &str) -> Option<String> {
        let p = self
            .lambda
            .get_policy()
            .function_name(&self.function)
            .qualifier(qualifier)
            .send()
            .await
            .ok()?;
        Some(p.policy().unwrap().to_owned())
    }

    /// The configuration of the function's `qualifier` (version or alias), or of `$LATEST` for `None`.
    pub async fn configuration(
        &self,
        qualifier: Option<&str>,
    ) -> aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput {
        self.lambda
            .get_function_configuration()
            .function_name(&self.function)
            .set_qualifier(qualifier.map(str::to_owned))
            .send()
            .await
            .unwrap()
    }

    /// (primary version, routing) of alias `live`.
    pub async fn alias(&self) -> (String, Option<(String, f64)>) {
        let a = self.get_alias("live").await;
        (
            a.function_version().unwrap().to_owned(),
            a.routing_config()
                .and_then(|r| r.additional_version_weights())
                .and_then(|w| w.iter().next().map(|(k, v)| (k.clone(), *v))),
        )
    }

    /// Waits (bounded by the deploy itself finishing) until traffic on `live` is split.
    pub async fn until_split(&self, run: &tokio::task::JoinHandle<StepResult>) {
        loop {
            if self.alias().await.1.is_some() {
                return;
            }
            assert!(
                !run.is_finished(),
                "the deploy ended before splitting traffic"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Runs `step` (a canary or linear deploy), cancels it (`SIGINT`) once traffic on `live` is split,
    /// and checks that it then exits 1.
    pub async fn cancelled_mid_split(&self, step: Step) -> StepResult {
        let (handle, cancel) = stevedore::cancel::pair();
        let run = tokio::spawn(step.run_with_cancel(cancel));
        self.until_split(&run).await;
        handle.cancel("SIGINT");
        let r = run.await.unwrap();
        assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.summary);
        r
    }
}

/// A loopback health endpoint answering `status` (changeable) and counting requests.
pub struct Health {
    pub url: String,
    pub hits: Arc<AtomicUsize>,
}

pub async fn health_server(status: u16) -> Health {
    use axum::http::StatusCode;
    let hits = Arc::new(AtomicUsize::new(0));
    let (h, c) = (hits.clone(), Arc::new(AtomicU16::new(status)));
    let app = axum::Router::new().route(
        "/health",
        axum::routing::get(move || {
            let (h, c) = (h.clone(), c.clone());
            async move {
                h.fetch_add(1, Ordering::SeqCst);
                StatusCode::from_u16(c.load(Ordering::SeqCst)).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Health {
        url: format!("http://{addr}/health"),
        hits,
    }
}

/// A CloudWatch call in the JSON 1.0 protocol (the Rust SDK speaks only CBOR, which moto lacks).
pub async fn cloudwatch(endpoint: &str, op: &str, body: serde_json::Value) {
    let r = crate::helpers::reqwest_client()
        .post(format!("{endpoint}/"))
        .header(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/monitoring/aws4_request, SignedHeaders=host, Signature=0",
        )
        .header("Content-Type", "application/x-amz-json-1.0")
        .header("X-Amz-Target", format!("GraniteServiceVersion20100801.{op}"))
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status();
    assert!(
        status.is_success(),
        "{op}: {status} {}",
        r.text().await.unwrap()
    );
}

pub fn calls(r: &StepResult, op: &str) -> usize {
    r.summary
        .lines()
        .find(|l| l.starts_with(&format!("| {op} | ")))
        .and_then(|l| l.split('|').nth(2))
        .map_or(0, |n| n.trim().parse().unwrap())
}

#[tokio::test]
async fn unchanged_code_is_not_uploaded_and_the_deploy_is_skipped() {
    let Some(rig) = Rig::new("lambda-same").await else {
        return;
    };
    let r = rig.step(Some("v1")).exits(0).await;
    assert_eq!(r.output("verdict"), Some("skipped"), "{}", r.summary);
    assert_eq!(calls(&r, "UpdateFunctionCode"), 0, "{}", r.summary);
    assert_eq!(calls(&r, "UpdateAlias"), 0, "{}", r.summary);
    has(&r.summary, "upload skipped");
    assert_eq!(r.output("version"), Some("1"));
    assert_eq!(r.output("previous-version"), Some("1"));
    assert_eq!(rig.alias().await, ("1".to_owned(), None));
}

#[tokio::test]
async fn configuration_and_code_are_updated_one_after_the_other_and_the_alias_moves() {
    let Some(rig) = Rig::new("lambda-update").await else {
        return;
    };
    let r = rig
        .step(Some("v2"))
        .input("memory-size", "256")
        .input("function-timeout", "30")
        .input(
            "environment-variables",
            "LOG_LEVEL=debug\nSECRET_THING=hunter2",
        )
        .exits(0)
        .await;
    assert_eq!(r.output("verdict"), Some("success"));
    assert_eq!(r.output("version"), Some("2"));
    assert_eq!(r.output("previous-version"), Some("1"));
    assert!(
        r.output("alias-arn")
            .unwrap()
            .ends_with(&format!(":function:{}:live", rig.function)),
        "{:?}",
        r.outputs
    );
    assert_eq!(calls(&r, "UpdateFunctionConfiguration"), 1, "{}", r.summary);
    assert_eq!(calls(&r, "UpdateFunctionCode"), 1, "{}", r.summary);
    // Each update (and the published version) was awaited before the next call.
    assert!(calls(&r, "GetFunctionConfiguration") >= 3, "{}", r.summary);
    lacks(&r.summary, "ResourceConflict");
    has(&r.summary, "memory 128 → 256 MB");
    assert!(r.summary.contains("environment +LOG_LEVEL +SECRET_THING"));
    assert!(
        !r.summary.contains("hunter2"),
        "values never reach the report"
    );
    assert_eq!(rig.alias().await, ("2".to_owned(), None));
    let v2 = rig.configuration(Some("2")).await;
    assert_eq!(v2.memory_size(), Some(256));
    assert_eq!(v2.timeout(), Some(30));
    assert_eq!(
        v2.code_sha256(),
        Some(stevedore::modes::deploy::lambda::code_sha256(&zip("v2")).as_str())
    );

    // Running the same deploy again changes nothing.
    let again = rig
        .step(Some("v2"))
        .input("memory-size", "256")
        .input("function-timeout", "30")
        .input(
            "environment-variables",
            "LOG_LEVEL=debug\nSECRET_THING=hunter2",
        )
        .run()
        .await;
    assert_eq!(
        again.output("verdict"),
        Some("skipped"),
        "{}",
        again.summary
    );
    assert_eq!(calls(&again, "UpdateFunctionConfiguration"), 0);
    assert_eq!(calls(&again, "UpdateFunctionCode"), 0);
}

#[tokio::test]
async fn a_canary_bakes_with_health_checks_then_shifts_everything() {
    let Some(rig) = Rig::new("lambda-canary").await else {
        return;
    };
    let health = health_server(204).await;
    let gh = FakeGithub::start().await;
    let step = record(rig.step(Some("v2")), &gh, "staging", "ghs_test")
        .input("traffic", "canary 25% 1s")
        .input("health-url", &health.url)
        .input("health-status", "204")
        .input("health-interval", "200ms")
        .input("test-payload", r#"{"ping": true}"#);
    let run = tokio::spawn(step.run());
    rig.until_split(&run).await;
    assert_eq!(
        rig.alias().await,
        ("1".to_owned(), Some(("2".to_owned(), 0.25)))
    );
    let r = run.await.unwrap();
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.summary);
    assert_eq!(rig.alias().await, ("2".to_owned(), None));
    assert_eq!(calls(&r, "UpdateAlias"), 2, "{}", r.summary);
    // Several rounds during the bake plus one after the full shift.
    assert!(health.hits.load(Ordering::SeqCst) >= 3, "{}", r.summary);
    has(&r.summary, "| 25 | 25% on version 2 |");
    has(&r.summary, "| 100 | all traffic on version 2 |");
    has(&r.summary, "xychart-beta");
    has(&r.summary, "line [0, 25, 100]");
    has(&r.summary, "| test invoke | ✅ |");
    lacks(&r.summary, "❌");
    gh.assert_no_violations();
    let id = only_deployment(&gh, "staging");
    assert_eq!(states(&gh, id), ["in_progress", "success"]);
}

#[tokio::test]
async fn an_alarm_going_off_during_the_bake_rolls_the_alias_back() {
    let Some(rig) = Rig::new("lambda-alarm").await else {
        return;
    };
    let alarm = format!("{}-errors", rig.function);
    cloudwatch(
        &rig.endpoint,
        "PutMetricAlarm",
        serde_json::json!({
            "AlarmName": alarm,
            "Namespace": "AWS/Lambda",
            "MetricName": "Errors",
            "Statistic": "Sum",
            "Period": 60,
            "EvaluationPeriods": 1,
            "Threshold": 1.0,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        }),
    )
    .await;
    let step = rig
        .step(Some("v2"))
        .input("traffic", "canary 10% 10m")
        .input("alarms", &alarm)
        .input("health-interval", "100ms");
    let run = tokio::spawn(step.run());
    rig.until_split(&run).await;
    cloudwatch(
        &rig.endpoint,
        "SetAlarmState",
        serde_json::json!({"AlarmName": alarm, "StateValue": "ALARM", "StateReason": "test: errors"}),
    )
    .await;
    let r = run.await.unwrap();
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.summary);
    assert_eq!(r.output("verdict"), Some("failure"));
    assert_eq!(rig.alias().await, ("1".to_owned(), None));
    has(&r.summary, &format!("in ALARM: {alarm}"));
    has(&r.summary, "rolled back to version 1");
    has(&r.summary, "line [0, 10, 0]");
}

#[tokio::test]
async fn an_unhealthy_url_rolls_the_alias_back_at_the_first_check() {
    let Some(rig) = Rig::new("lambda-url").await else {
        return;
    };
    let health = health_server(500).await;
    let gh = FakeGithub::start().await;
    let r = rig
        .step(Some("v2"))
        .input("github-token", "ghs_test")
        .var("GITHUB_API_URL", &gh.url())
        .input("traffic", "linear 10% 10m")
        .input("health-url", &health.url)
        .exits(1)
        .await;
    assert_eq!(rig.alias().await, ("1".to_owned(), None));
    assert_eq!(health.hits.load(Ordering::SeqCst), 1);
    has(
        &r.summary,
        &format!("500 from {}, expected 200", health.url),
    );
    assert_eq!(r.output("version"), Some("2"));
    assert_eq!(r.output("previous-version"), Some("1"));
    // One closing error (not one from the mode and one from the run), with the next step.
    let errors: Vec<&str> = r
        .stdout
        .lines()
        .filter(|l| l.starts_with("::error"))
        .collect();
    assert_eq!(errors.len(), 1, "{}", r.stdout);
    let prefix = format!(
        "::error title=stevedore deploy::Lambda: {}:live rolled back to version 1: rolled back: ",
        rig.function
    );
    assert!(errors[0].starts_with(&prefix), "{}", errors[0]);
    assert!(
        errors[0].ends_with("%0AThe alias serves the previous version again. Look at the alarms and health checks in the job summary, fix the function and deploy again."),
        "{}",
        errors[0]
    );
    gh.assert_no_violations();
    let id = only_deployment(&gh, &format!("{}:live", rig.function));
    let last = gh.deployment_statuses(id).last().cloned().unwrap();
    assert_eq!(last["state"], "failure");
}

#[tokio::test]
async fn cancelling_mid_canary_restores_the_alias() {
    let Some(rig) = Rig::new("lambda-cancel").await else {
        return;
    };
    let step = rig.step(Some("v2")).input("traffic", "canary 10% 10m");
    let r = rig.cancelled_mid_split(step).await;
    assert_eq!(rig.alias().await, ("1".to_owned(), None));
    has(&r.summary, "cancelled, alias restored to version 1");
}

#[tokio::test]
async fn s3_code_is_compared_by_checksum_and_otherwise_downloaded() {
    let Some(rig) = Rig::new("lambda-s3").await else {
        return;
    };
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&rig.sdk)
            .force_path_style(true)
            .build(),
    );
    let bucket = rig.function.to_lowercase();
    crate::helpers::moto::s3_bucket(&rig.sdk, &bucket, false).await;
    // Same code as deployed, uploaded with a SHA-256 checksum: HeadObject is enough.
    s3.put_object()
        .bucket(&bucket)
        .key("same.zip")
        .body(zip("v1").into())
        .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Sha256)
        .send()
        .await
        .unwrap();
    let same = rig
        .step(None)
        .input("s3-bucket", &bucket)
        .input("s3-key", "same.zip")
        .run()
        .await;
    assert_eq!(
        same.output("verdict"),
        Some("skipped"),
        "{}\n{}",
        same.stdout,
        same.summary
    );
    assert_eq!(calls(&same, "HeadObject"), 1, "{}", same.summary);
    assert_eq!(calls(&same, "GetObject"), 0, "{}", same.summary);
    // New code without a SHA-256 checksum: downloaded and hashed, then deployed.
    s3.put_object()
        .bucket(&bucket)
        .key("new.zip")
        .body(zip("v3").into())
        .send()
        .await
        .unwrap();
    let new = rig
        .step(None)
        .input("s3-bucket", &bucket)
        .input("s3-key", "new.zip")
        .exits(0)
        .await;
    assert_eq!(calls(&new, "GetObject"), 1, "{}", new.summary);
    assert_eq!(calls(&new, "UpdateFunctionCode"), 1, "{}", new.summary);
    assert_eq!(rig.alias().await, ("2".to_owned(), None));
}

#[tokio::test]
async fn a_missing_alarm_is_a_configuration_error_before_anything_changes() {
    let Some(rig) = Rig::new("lambda-noalarm").await else {
        return;
    };
    let r = rig
        .step(Some("v2"))
        .input("traffic", "canary 10% 5m")
        .input("alarms", "no-such-alarm")
        .exits(2)
        .await;
    has(&r.stdout, "no-such-alarm");
    assert_eq!(rig.alias().await, ("1".to_owned(), None));
    let cfg = rig.configuration(None).await;
    assert_eq!(
        cfg.code_sha256(),
        Some(stevedore::modes::deploy::lambda::code_sha256(&zip("v1")).as_str()),
        "the code was not touched"
    );
}

/// `(calls, ms in AWS, ms baked, ms deploy total)` from the report's details line.
fn figures(r: &StepResult) -> (u32, f64, f64, f64) {
    let line = r
        .summary
        .lines()
        .find(|l| l.contains("AWS call(s) taking"))
        .unwrap_or_else(|| panic!("no figures in {}", r.summary));
    let num = |after: &str| -> f64 {
        let rest = &line[line.find(after).unwrap() + after.len()..];
        let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap();
        rest[..end].parse().unwrap()
    };
    let calls = line[line.find("<summary>").unwrap() + 9..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    (calls, num("taking "), num("; bake "), num("deploy total "))
}

/// `Op n` pairs of the report's call table.
fn call_table(r: &StepResult) -> String {
    r.summary
        .lines()
        .skip_while(|l| !l.starts_with("| call | count |"))
        .skip(2)
        .take_while(|l| l.starts_with("| "))
        .map(|l| {
            let c: Vec<&str> = l.split('|').map(str::trim).collect();
            format!("{} {}", c[1], c[2])
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Benchmark: API calls and stevedore's own overhead per Lambda deploy, against moto on loopback.
/// `cargo test --test it bench_lambda -- --ignored --nocapture`
#[tokio::test]
#[ignore = "benchmark: prints figures"]
async fn bench_lambda_deploy() {
    let Some(_) = moto() else {
        return;
    };
    let health = health_server(200).await;
    const N: usize = 10;
    let shapes: [(&str, &[(&str, &str)]); 4] = [
        ("unchanged code (skip)", &[]),
        ("new code, all-at-once", &[]),
        (
            "new code + config, all-at-once",
            &[("memory-size", "256"), ("environment-variables", "A=1")],
        ),
        (
            "new code, canary 50% 1s, URL + invoke + alarms",
            &[
                ("traffic", "canary 50% 1s"),
                ("health-interval", "250ms"),
                ("test-payload", "{}"),
            ],
        ),
    ];
    println!(
        "| deploy | AWS calls | calls by operation | step wall ms (median of {N}) | in AWS calls ms | baked ms | own ms in deploy | ms outside deploy (connect, inputs, report) |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for (i, (name, inputs)) in shapes.iter().enumerate() {
        let mut rows = Vec::new();
        let mut ops = String::new();
        for _ in 0..N {
            let rig = Rig::new("bench").await.unwrap();
            let code = if i == 0 { "v1" } else { "v2" };
            let mut step = rig.step(Some(code));
            for (k, v) in *inputs {
                step = step.input(k, v);
            }
            if i == 3 {
                let alarm = format!("{}-a", rig.function);
                cloudwatch(
                    &rig.endpoint,
                    "PutMetricAlarm",
                    serde_json::json!({"AlarmName": alarm, "Namespace": "N", "MetricName": "M",
                        "Statistic": "Sum", "Period": 60, "EvaluationPeriods": 1, "Threshold": 1.0,
                        "ComparisonOperator": "GreaterThanThreshold"}),
                )
                .await;
                step = step
                    .input("alarms", &alarm)
                    .input("health-url", &health.url);
            }
            let t = std::time::Instant::now();
            let r = step.run().await;
            let wall = t.elapsed().as_secs_f64();
            assert_eq!(r.code, 0, "{}", r.summary);
            let (calls, api, baked, total) = figures(&r);
            ops = call_table(&r);
            rows.push((calls, wall * 1e3, api, baked, total));
        }
        rows.sort_by(|a, b| a.1.total_cmp(&b.1));
        let (calls, wall, api, baked, total) = rows[N / 2];
        println!(
            "| {name} | {calls} | {ops} | {wall:.0} | {api:.0} | {baked:.0} | {:.0} | {:.0} |",
            total - api - baked,
            wall - total
        );
    }
}

#[tokio::test]
async fn a_dry_run_plans_without_writing() {
    let Some(rig) = Rig::new("lambda-dry").await else {
        return;
    };
    let r = rig
        .step(Some("v2"))
        .input("dry-run", "true")
        .input("memory-size", "512")
        .exits(0)
        .await;
    // A dry run proves nothing was done: `skipped` in every mode (docs/reporting.md, "Dry runs").
    assert_eq!(r.output("verdict"), Some("skipped"), "{}", r.stdout);
    has(&r.summary, "dry run: nothing was changed");
    has(&r.summary, "memory 128 → 512 MB");
    for op in [
        "UpdateFunctionCode",
        "UpdateFunctionConfiguration",
        "PublishVersion",
        "UpdateAlias",
    ] {
        assert_eq!(calls(&r, op), 0, "{op}: {}", r.summary);
    }
    assert_eq!(rig.alias().await, ("1".to_owned(), None));
}

#[tokio::test]
async fn the_first_deploy_creates_the_alias_on_the_new_version() {
    let Some(rig) = Rig::new("lambda-new-alias").await else {
        return;
    };
    let r = rig
        .step(Some("v2"))
        .input("alias", "blue")
        .input("traffic", "canary 10% 5m")
        .exits(0)
        .await;
    assert_eq!(r.output("version"), Some("2"));
    assert_eq!(r.output("previous-version"), None);
    assert!(r.output("alias-arn").unwrap().ends_with(":blue"));
    has(&r.summary, "no previous version to split traffic with");
    let a = rig.get_alias("blue").await;
    assert_eq!(a.function_version(), Some("2"));
}

/// A Lambda endpoint that forwards every call to moto, except `Invoke`, which answers as Lambda does for
/// a function that raised (HTTP 200, `X-Amz-Function-Error: Unhandled`, the error document) once
/// `ok_invokes` invocations have succeeded. moto's Docker-less Lambda only echoes payloads, so it
/// cannot play a failing function.
pub async fn failing_invoke_proxy(moto: &str, ok_invokes: usize) -> String {
    invoke_proxy(moto, move |n, _| n >= ok_invokes).await.0
}

/// An endpoint in front of moto that records the payload of every invocation (`Invoke`) and answers the
/// n-th (from 0) with a function error (`X-Amz-Function-Error: Unhandled`, `boom`) when `fail(n, payload)`;
/// everything else is forwarded. Its URL, and the payloads in order.
pub async fn invoke_proxy(
    moto: &str,
    fail: impl Fn(usize, &[u8]) -> bool + Clone + Send + Sync + 'static,
) -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
    use axum::body::Bytes;
    use axum::http::{HeaderMap, Method, StatusCode, Uri};
    let upstream = moto.to_owned();
    let invokes = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    let app = axum::Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let (upstream, invokes, record, fail) = (
                upstream.clone(),
                invokes.clone(),
                record.clone(),
                fail.clone(),
            );
            async move {
                let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
                if method == Method::POST && uri.path().ends_with("/invocations") {
                    let n = invokes.fetch_add(1, Ordering::SeqCst);
                    record
                        .lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&body).into_owned());
                    if fail(n, &body) {
                        let mut h = HeaderMap::new();
                        h.insert("x-amz-function-error", "Unhandled".parse().unwrap());
                        h.insert("x-amz-executed-version", "2".parse().unwrap());
                        h.insert("content-type", "application/json".parse().unwrap());
                        return (
                            StatusCode::OK,
                            h,
                            Bytes::from_static(
                                br#"{"errorMessage":"boom","errorType":"RuntimeError"}"#,
                            ),
                        );
                    }
                }
                forward(&upstream, method, &path, &headers, body).await
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), seen)
}

pub use crate::helpers::region_front::forward;

/// Lambda's update lifecycle, which moto skips (its updates settle at once): after
/// `UpdateFunctionCode`/`UpdateFunctionConfiguration`, `GetFunctionConfiguration` reports
/// `LastUpdateStatus: InProgress` for `busy_polls` polls, and every mutating call meanwhile gets
/// HTTP 409 `ResourceConflictException` exactly as Lambda sends it. Everything else goes to moto.
/// Returns the endpoint and the number of conflicts handed out.
pub async fn updating_lambda_proxy(moto: &str, busy_polls: usize) -> (String, Arc<AtomicUsize>) {
    use axum::body::Bytes;
    use axum::http::{HeaderMap, Method, StatusCode, Uri};
    let upstream = moto.to_owned();
    let busy = Arc::new(AtomicUsize::new(0));
    let conflicts = Arc::new(AtomicUsize::new(0));
    let conflicts_seen = conflicts.clone();
    let app = axum::Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let (upstream, busy, conflicts) = (upstream.clone(), busy.clone(), conflicts.clone());
            async move {
                let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
                let p = uri.path();
                let update = method == Method::PUT
                    && (p.ends_with("/code") || p.ends_with("/configuration"));
                let mutating = update
                    || (method == Method::POST && (p.ends_with("/versions") || p.ends_with("/aliases")))
                    || (method == Method::PUT && p.contains("/aliases/"));
                if mutating && busy.load(Ordering::SeqCst) > 0 {
                    conflicts.fetch_add(1, Ordering::SeqCst);
                    let mut h = HeaderMap::new();
                    h.insert("x-amzn-errortype", "ResourceConflictException".parse().unwrap());
                    h.insert("content-type", "application/json".parse().unwrap());
                    return (
                        StatusCode::CONFLICT,
                        h,
                        Bytes::from(
                            r#"{"Type":"User","message":"The operation cannot be performed at this time. An update is in progress for resource"}"#,
                        ),
                    );
                }
                let (status, h, body) = forward(&upstream, method.clone(), &path, &headers, body).await;
                if update && status.is_success() {
                    busy.store(busy_polls, Ordering::SeqCst);
                }
                if method == Method::GET && p.ends_with("/configuration") && status.is_success() {
                    let left = busy.load(Ordering::SeqCst);
                    if left > 0 {
                        busy.store(left - 1, Ordering::SeqCst);
                        let mut v: serde_json::Value = serde_json::from_slice(&body).unwrap();
                        v["LastUpdateStatus"] = "InProgress".into();
                        return (status, h, Bytes::from(v.to_string()));
                    }
                }
                (status, h, body)
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), conflicts_seen)
}

#[tokio::test]
async fn updates_wait_for_lambda_to_settle_so_no_call_conflicts() {
    let Some(rig) = Rig::new("lambda-settle").await else {
        return;
    };
    let (proxy, conflicts) = updating_lambda_proxy(&rig.endpoint, 3).await;
    let r = rig
        .step(Some("v2"))
        .var("AWS_ENDPOINT_URL_LAMBDA", &proxy)
        .input("memory-size", "1024")
        .input("handler", "app.main")
        .exits(0)
        .await;
    assert_eq!(conflicts.load(Ordering::SeqCst), 0, "{}", r.summary);
    // Two updates, each polled through three InProgress answers to Successful, plus the version's poll.
    assert_eq!(calls(&r, "GetFunctionConfiguration"), 9, "{}", r.summary);
    assert_eq!(rig.alias().await, ("2".to_owned(), None));
}

#[tokio::test]
async fn the_updating_proxy_really_conflicts_when_a_caller_does_not_wait() {
    let Some(rig) = Rig::new("lambda-conflict").await else {
        return;
    };
    let (proxy, conflicts) = updating_lambda_proxy(&rig.endpoint, 3).await;
    // What aws-lambda-deploy does: update the configuration, then the code, without waiting.
    let mut cfg = aws_sdk_lambda::config::Builder::from(&rig.sdk);
    cfg.set_endpoint_url(Some(proxy));
    let lambda = aws_sdk_lambda::Client::from_conf(cfg.build());
    lambda
        .update_function_configuration()
        .function_name(&rig.function)
        .memory_size(256)
        .send()
        .await
        .unwrap();
    let e = lambda
        .update_function_code()
        .function_name(&rig.function)
        .zip_file(Blob::new(zip("v2")))
        .send()
        .await
        .unwrap_err();
    assert!(
        e.as_service_error()
            .is_some_and(|e| e.is_resource_conflict_exception()),
        "{e:?}"
    );
    assert_eq!(conflicts.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_failing_smoke_invocation_stops_before_any_traffic_moves() {
    let Some(rig) = Rig::new("lambda-smoke").await else {
        return;
    };
    let proxy = failing_invoke_proxy(&rig.endpoint, 0).await;
    let r = rig
        .step(Some("v2"))
        .var("AWS_ENDPOINT_URL_LAMBDA", &proxy)
        .input("traffic", "canary 10% 10m")
        .input("test-payload", r#"{"smoke": 1}"#)
        .exits(1)
        .await;
    assert_eq!(calls(&r, "UpdateAlias"), 0, "{}", r.summary);
    has(
        &r.summary,
        "version 2 failed: Unhandled: {\"errorMessage\":\"boom\"",
    );
    has(&r.summary, "no traffic moved");
    assert_eq!(rig.alias().await, ("1".to_owned(), None));
}

#[tokio::test]
async fn a_function_error_during_the_bake_rolls_back() {
    let Some(rig) = Rig::new("lambda-invoke-bake").await else {
        return;
    };
    // The smoke test and the first two bake rounds pass; the third round's invocation fails.
    let proxy = failing_invoke_proxy(&rig.endpoint, 3).await;
    let r = rig
        .step(Some("v2"))
        .var("AWS_ENDPOINT_URL_LAMBDA", &proxy)
        .input("traffic", "linear 20% 10m")
        .input("health-interval", "50ms")
        .input("test-payload", "{}")
        .exits(1)
        .await;
    assert_eq!(rig.alias().await, ("1".to_owned(), None));
    has(&r.summary, "| test invoke | 2× ✅ |");
    has(
        &r.summary,
        "rolled back to version 1 (test invoke: version 2 failed",
    );
}

#[tokio::test]
async fn a_deploy_through_github_oidc_and_sts_needs_no_static_keys() {
    let Some(rig) = Rig::new("lambda-oidc").await else {
        return;
    };
    let oidc = crate::helpers::fake_oidc::FakeOidc::start(Default::default()).await;
    let step = Step::new()
        .input("mode", "deploy")
        .input("function-name", &rig.function)
        .input("aws-region", REGION)
        .input(
            "role-to-assume",
            "arn:aws:iam::123456789012:role/github-deploy",
        )
        .var("AWS_ENDPOINT_URL", &rig.endpoint);
    std::fs::write(step.workspace.join("app.zip"), zip("v2")).unwrap();
    let r = oidc.apply(step.input("zip-file", "app.zip")).exits(0).await;
    assert_eq!(oidc.token_requests(), 1);
    lacks(&r.stdout, "credential chain");
    assert_eq!(r.output("version"), Some("2"));
    assert_eq!(rig.alias().await, ("2".to_owned(), None));
}

/// Pushes a manifest (no layers) to moto's ECR; returns `(repository URI, digest)`.
async fn push_image(sdk: &SdkConfig, repo: &str, tag: &str, seed: &str) -> (String, String) {
    let ecr = crate::helpers::moto::ecr(sdk);
    let created = ecr
        .create_repository(&CreateRepository {
            repository_name: repo.to_owned(),
            ..CreateRepository::default()
        })
        .await;
    let uri = match created {
        Ok(r) => r.repository_uri.unwrap(),
        Err(_) => ecr.describe_repositories(&[repo]).await.unwrap()[0]
            .repository_uri
            .clone()
            .unwrap(),
    };
    let config_digest = stevedore::modes::deploy::lambda::code_sha256(seed.as_bytes());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": 100,
            "digest": format!("sha256:{}", hex::encode(config_digest.as_bytes())[..64].to_owned()),
        },
        "layers": [],
    });
    let out = ecr
        .put_image(&PutImage {
            repository_name: repo.to_owned(),
            image_tag: Some(tag.to_owned()),
            image_manifest: manifest.to_string(),
            ..PutImage::default()
        })
        .await
        .unwrap();
    let digest = out.image_id.and_then(|i| i.image_digest).unwrap();
    (uri, digest)
}

#[tokio::test]
async fn image_functions_compare_the_digest_and_take_new_images() {
    let Some(m) = moto() else {
        return;
    };
    stevedore::net::crypto::install();
    let sdk = sdk(&m.endpoint);
    let lambda = aws_sdk_lambda::Client::new(&sdk);
    let function = unique("lambda-image");
    let repo = function.to_lowercase();
    let (uri, d1) = push_image(&sdk, &repo, "v1", "one").await;
    let image = format!("{uri}:v1");
    lambda_function(
        &sdk,
        &m.endpoint,
        &function,
        LambdaCode::Image(&image),
        Some("live"),
    )
    .await;
    let rig = Rig {
        endpoint: m.endpoint.clone(),
        sdk: sdk.clone(),
        lambda,
        function,
    };
    // The same image by digest: nothing to send.
    let same = rig
        .step(None)
        .input("image", &format!("{uri}@{d1}"))
        .run()
        .await;
    assert_eq!(
        same.output("verdict"),
        Some("skipped"),
        "{}\n{}",
        same.stdout,
        same.summary
    );
    assert_eq!(calls(&same, "UpdateFunctionCode"), 0, "{}", same.summary);
    // A new tag: sent, published, shifted.
    let (_, d2) = push_image(&sdk, &repo, "v2", "two").await;
    let new = rig
        .step(None)
        .input("image", &format!("{uri}:v2"))
        .exits(0)
        .await;
    assert_eq!(calls(&new, "UpdateFunctionCode"), 1, "{}", new.summary);
    assert_eq!(rig.alias().await, ("2".to_owned(), None));
    has(&new.summary, d2.trim_start_matches("sha256:"));
    // A zip for an image function is refused before anything changes.
    let wrong = rig.step(Some("v9")).exits(2).await;
    has(
        &wrong.stdout,
        "has package type Image, but `zip-file` gives zip code",
    );
}

/// Benchmark (prints figures): peak memory of a whole deploy as a process — the real binary started the
/// way the runner starts it (only the step's environment), a canary with alarms, URL and invoke checks
/// against moto, measured with `/usr/bin/time -f %M`. The binary is `STEVEDORE_BENCH_BIN`, else
/// `dist/amd64/stevedore`, else the test build's.
/// `cargo test --test it bench_deploy_process_peak_memory -- --ignored --nocapture`
#[tokio::test]
#[ignore = "benchmark: prints figures"]
async fn bench_deploy_process_peak_memory() {
    let Some(_) = moto() else {
        return;
    };
    let bin = std::env::var("STEVEDORE_BENCH_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| {
            let dist = crate::helpers::runner::repo_root().join("dist/amd64/stevedore");
            if dist.exists() {
                dist
            } else {
                std::path::PathBuf::from(env!("CARGO_BIN_EXE_stevedore"))
            }
        });
    let health = health_server(200).await;
    let mut rows = Vec::new();
    for _ in 0..3 {
        let rig = Rig::new("mem").await.unwrap();
        let alarm = format!("{}-a", rig.function);
        cloudwatch(
            &rig.endpoint,
            "PutMetricAlarm",
            serde_json::json!({"AlarmName": alarm, "Namespace": "N", "MetricName": "M",
                "Statistic": "Sum", "Period": 60, "EvaluationPeriods": 1, "Threshold": 1.0,
                "ComparisonOperator": "GreaterThanThreshold"}),
        )
        .await;
        let step = rig
            .step(Some("v2"))
            .input("traffic", "canary 50% 1s")
            .input("health-interval", "250ms")
            .input("test-payload", "{}")
            .input("alarms", &alarm)
            .input("health-url", &health.url);
        let out = tokio::process::Command::new("/usr/bin/time")
            .arg("-f")
            .arg("peak_rss_kb=%M")
            .arg(&bin)
            .env_clear()
            .envs(
                step.env
                    .with_prefix("")
                    .map(|(k, v)| (k.to_owned(), v.to_owned())),
            )
            .current_dir(&step.workspace)
            .output()
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        let kb: u64 = stderr
            .lines()
            .find_map(|l| l.strip_prefix("peak_rss_kb="))
            .and_then(|v| v.trim().parse().ok())
            .unwrap();
        rows.push(kb);
    }
    rows.sort_unstable();
    println!(
        "BENCH deploy (Lambda canary, alarms + URL + invoke, moto) peak RSS of the process: median {:.1} MB, runs {:?} kB, binary {}",
        rows[1] as f64 / 1024.0,
        rows,
        bin.display()
    );
}

/// The read-only plan comes before any GitHub Deployment: a function that does not exist is refused with
/// exit 2, and no Deployment records a deploy that never started.
#[tokio::test]
async fn a_missing_function_creates_no_github_deployment() {
    let Some(rig) = Rig::new("lambda-missing").await else {
        return;
    };
    let gh = FakeGithub::start().await;
    let missing = format!("{}-missing", rig.function);
    let r = record(rig.step(Some("v2")), &gh, "staging", "ghs_test")
        .input("function-name", &missing)
        .exits(2)
        .await;
    has(
        &r.stdout,
        &format!("Lambda function `{missing}` does not exist"),
    );
    gh.assert_no_violations();
    assert!(gh.deployments().is_empty(), "{:?}", gh.deployments());
}
