//! A scripted App Runner endpoint, in-process: moto has no App Runner.
//!
//! Protocol-exact awsJson1_0 as the App Runner API: `POST /`, `Content-Type: application/x-amz-json-1.0`,
//! `X-Amz-Target: AppRunner.<Operation>`, a SigV4 `Authorization` header, PascalCase JSON members as the
//! API's, timestamps as epoch seconds, errors as HTTP 400 `{"__type": "...", "Message": "..."}`. Anything
//! else is refused and recorded in `protocol_errors`.
//!
//! Each UpdateService starts an UPDATE_SERVICE operation that follows the next scripted [`Op`]
//! (default: SUCCEEDED at the first ListOperations). ListOperations is the clock. While an operation runs
//! the service is OPERATION_IN_PROGRESS and UpdateService is refused with InvalidStateException, as App
//! Runner does; a failed operation puts the previous source configuration back (ROLLBACK_SUCCEEDED).
//! The service URL is served too: `health` sets the status it answers.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use super::fake_server::{bodies_of, health_route, serve};

/// Where [`FakeAppRunner::start`]'s service is.
const REGION: &str = "eu-west-1";
const ACCOUNT: &str = "123456789012";

/// How an operation behaves.
#[derive(Clone, Debug)]
pub enum Op {
    /// SUCCEEDED at the n-th ListOperations.
    Succeed(u32),
    /// ROLLBACK_SUCCEEDED at the n-th ListOperations; the previous image is back.
    Fail(u32),
    /// IN_PROGRESS forever.
    Stuck,
    /// SUCCEEDED once this long has passed since UpdateService (seen at the next ListOperations or
    /// DescribeService): benchmarks measure from the scheduled end.
    SucceedAfter(std::time::Duration),
    /// ROLLBACK_SUCCEEDED once this long has passed since UpdateService (seen as `SucceedAfter`).
    FailAfter(std::time::Duration),
}

#[derive(Debug)]
struct Operation {
    id: String,
    status: &'static str,
    behaviour: Op,
    polls: u32,
    previous_source: Value,
    started: f64,
    started_at: Instant,
}

#[derive(Debug, Default)]
struct St {
    /// The region requests must be signed for.
    region: String,
    arn: String,
    name: String,
    url: String,
    status: &'static str,
    source: Value,
    operations: Vec<Operation>,
    script: VecDeque<Op>,
    calls: BTreeMap<String, u32>,
    requests: Vec<(String, Value)>,
    /// Every request's operation and arrival, in order (the pollers' gaps).
    arrivals: Vec<(String, Instant)>,
    protocol_errors: Vec<String>,
    next: u64,
    /// When an operation succeeded (scheduled, or the observing poll) and when a ListOperations answer
    /// first said so.
    succeeded: Vec<(Instant, Instant)>,
    /// The same for `FailAfter` operations: scheduled end, and the answer that first said so.
    failed: Vec<(Instant, Instant)>,
}

#[derive(Clone)]
pub struct FakeAppRunner {
    url: String,
    state: Arc<Mutex<St>>,
    health: Arc<AtomicU16>,
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

impl FakeAppRunner {
    /// A RUNNING image service `name` on `image` (account 123456789012, eu-west-1).
    pub async fn start(name: &str, image: &str) -> Self {
        Self::start_in(ACCOUNT, REGION, name, image).await
    }

    /// The same in `account` and `region` (requests must be signed for that region).
    pub async fn start_in(account: &str, region: &str, name: &str, image: &str) -> Self {
        let health = Arc::new(AtomicU16::new(200));
        let arn = format!(
            "arn:aws:apprunner:{region}:{account}:service/{name}/8fe1e10304f84fd2b0df550fe98a71fa"
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(St {
            region: region.to_owned(),
            arn,
            name: name.to_owned(),
            // App Runner's ServiceUrl has no scheme; here it is this server (health on `/`).
            url: format!("{addr}"),
            status: "RUNNING",
            source: json!({
                "ImageRepository": {"ImageIdentifier": image, "ImageRepositoryType": "ECR",
                    "ImageConfiguration": {"Port": "8080", "RuntimeEnvironmentVariables": {"MODE": "prod"}}},
                "AutoDeploymentsEnabled": false,
                "AuthenticationConfiguration": {"AccessRoleArn": format!("arn:aws:iam::{account}:role/apprunner-ecr")}
            }),
            ..St::default()
        }));
        let app = Router::new()
            .route("/", post(handle).with_state(state.clone()))
            .route("/health", health_route(&health));
        serve(listener, app);
        Self {
            url: format!("http://{addr}"),
            state,
            health,
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The health URL this fake serves (`health-url` in tests; App Runner's is `https://<ServiceUrl>/`).
    pub fn health_url(&self) -> String {
        format!("{}/health", self.url)
    }

    pub fn arn(&self) -> String {
        self.state.lock().unwrap().arn.clone()
    }

    /// The service's `Status` from now on (`PAUSED`, `CREATE_FAILED`, …).
    pub fn set_status(&self, status: &'static str) {
        self.state.lock().unwrap().status = status;
    }

    /// The status the health URL answers.
    pub fn health(&self, status: u16) {
        self.health.store(status, Ordering::SeqCst);
    }

    pub fn script(&self, ops: impl IntoIterator<Item = Op>) {
        self.state.lock().unwrap().script.extend(ops);
    }

    pub fn image(&self) -> String {
        self.state.lock().unwrap().source["ImageRepository"]["ImageIdentifier"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub fn source(&self) -> Value {
        self.state.lock().unwrap().source.clone()
    }

    pub fn calls(&self) -> BTreeMap<String, u32> {
        self.state.lock().unwrap().calls.clone()
    }

    pub fn requests(&self, op: &str) -> Vec<Value> {
        bodies_of(&self.state.lock().unwrap().requests, op)
    }

    /// When each request of operation `op` arrived, in order.
    pub fn arrivals(&self, op: &str) -> Vec<Instant> {
        self.state
            .lock()
            .unwrap()
            .arrivals
            .iter()
            .filter(|(o, _)| o == op)
            .map(|(_, t)| *t)
            .collect()
    }

    /// Per succeeded operation: when it ended, and when the endpoint first reported SUCCEEDED.
    pub fn succeeded(&self) -> Vec<(Instant, Instant)> {
        self.state.lock().unwrap().succeeded.clone()
    }

    /// Per `FailAfter` operation: when it ended, and when the endpoint first reported it.
    pub fn failed(&self) -> Vec<(Instant, Instant)> {
        self.state.lock().unwrap().failed.clone()
    }

    pub fn total_calls(&self) -> u32 {
        self.calls().values().sum()
    }

    /// Fails the test with every request this endpoint refused as off-protocol, if any.
    pub fn assert_no_protocol_errors(&self) {
        let errors = self.protocol_errors();
        assert!(errors.is_empty(), "{errors:?}");
    }

    pub fn protocol_errors(&self) -> Vec<String> {
        self.state.lock().unwrap().protocol_errors.clone()
    }
}

fn error(kind: &str, message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [("content-type", "application/x-amz-json-1.0")],
        json!({"__type": kind, "Message": message}).to_string(),
    )
        .into_response()
}

fn service_json(s: &St) -> Value {
    json!({
        "ServiceName": s.name, "ServiceId": "8fe1e10304f84fd2b0df550fe98a71fa", "ServiceArn": s.arn,
        "ServiceUrl": s.url, "CreatedAt": now() - 86400.0, "UpdatedAt": now(), "Status": s.status,
        "SourceConfiguration": s.source,
        "InstanceConfiguration": {"Cpu": "1024", "Memory": "2048"},
        "HealthCheckConfiguration": {"Protocol": "TCP", "Interval": 5, "Timeout": 2,
                                     "HealthyThreshold": 1, "UnhealthyThreshold": 5},
        "NetworkConfiguration": {"EgressConfiguration": {"EgressType": "DEFAULT"}},
    })
}

/// Advances the operations: `poll` for a ListOperations (counted by `Succeed(n)`/`Fail(n)`); the time-driven
/// ones also end at a DescribeService (how the official action, awslabs/amazon-app-runner-deploy, watches).
fn tick(s: &mut St, poll: bool) {
    let mut finished: Option<(&'static str, Value)> = None;
    for o in &mut s.operations {
        if o.status != "IN_PROGRESS" {
            continue;
        }
        if poll {
            o.polls += 1;
        }
        match o.behaviour {
            Op::FailAfter(d) if o.started_at.elapsed() >= d => {
                o.status = "ROLLBACK_SUCCEEDED";
                finished = Some(("ROLLBACK_SUCCEEDED", o.previous_source.clone()));
                s.failed.push((o.started_at + d, Instant::now()));
            }
            Op::Succeed(n) if o.polls >= n => {
                o.status = "SUCCEEDED";
                finished = Some(("SUCCEEDED", Value::Null));
                s.succeeded.push((Instant::now(), Instant::now()));
            }
            Op::SucceedAfter(d) if o.started_at.elapsed() >= d => {
                o.status = "SUCCEEDED";
                finished = Some(("SUCCEEDED", Value::Null));
                s.succeeded.push((o.started_at + d, Instant::now()));
            }
            Op::Fail(n) if o.polls >= n => {
                o.status = "ROLLBACK_SUCCEEDED";
                finished = Some(("ROLLBACK_SUCCEEDED", o.previous_source.clone()));
            }
            _ => {}
        }
    }
    if let Some((status, previous)) = finished {
        s.status = "RUNNING";
        if status == "ROLLBACK_SUCCEEDED" {
            s.source = previous;
        }
    }
}

async fn handle(State(state): State<Arc<Mutex<St>>>, headers: HeaderMap, body: Bytes) -> Response {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mut s = state.lock().unwrap();
    if h("content-type") != "application/x-amz-json-1.0" {
        s.protocol_errors
            .push(format!("content-type {:?}", h("content-type")));
        return error("SerializationException", "bad content type");
    }
    let signed = h("authorization")
        .strip_prefix("AWS4-HMAC-SHA256 Credential=")
        .is_some_and(|c| c.contains(&format!("/{}/apprunner/aws4_request", s.region)));
    if !signed {
        s.protocol_errors.push(format!(
            "not signed for apprunner: {:?}",
            h("authorization")
        ));
        return error(
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        );
    }
    let Some(op) = h("x-amz-target")
        .strip_prefix("AppRunner.")
        .map(str::to_owned)
    else {
        s.protocol_errors
            .push(format!("x-amz-target {:?}", h("x-amz-target")));
        return error("UnknownOperationException", "missing target");
    };
    let Ok(req @ Value::Object(_)) = serde_json::from_slice::<Value>(&body) else {
        s.protocol_errors
            .push(format!("{op}: body is not a JSON object"));
        return error("SerializationException", "body is not a JSON object");
    };
    *s.calls.entry(op.clone()).or_default() += 1;
    s.requests.push((op.clone(), req.clone()));
    s.arrivals.push((op.clone(), Instant::now()));
    let arn_ok = |s: &St| req.get("ServiceArn").and_then(Value::as_str) == Some(s.arn.as_str());
    let out = match op.as_str() {
        "ListServices" => Ok(json!({"ServiceSummaryList": [{
            "ServiceName": s.name, "ServiceId": "8fe1e10304f84fd2b0df550fe98a71fa",
            "ServiceArn": s.arn, "ServiceUrl": s.url, "Status": s.status,
            "CreatedAt": now() - 86400.0, "UpdatedAt": now()}]})),
        "DescribeService" if arn_ok(&s) => {
            tick(&mut s, false);
            Ok(json!({"Service": service_json(&s)}))
        }
        "ListOperations" if arn_ok(&s) => {
            tick(&mut s, true);
            let list: Vec<Value> = s
                .operations
                .iter()
                .rev()
                .map(|o| {
                    json!({"Id": o.id, "Type": "UPDATE_SERVICE", "Status": o.status,
                                 "TargetArn": s.arn, "StartedAt": o.started, "UpdatedAt": now()})
                })
                .collect();
            Ok(json!({"OperationSummaryList": list}))
        }
        "UpdateService" if arn_ok(&s) => {
            if s.status != "RUNNING" {
                Err((
                    "InvalidStateException",
                    format!(
                        "You can't update the service when it's in {} state.",
                        s.status
                    ),
                ))
            } else if let Some(src) = req.get("SourceConfiguration") {
                if src
                    .pointer("/ImageRepository/ImageRepositoryType")
                    .is_none()
                {
                    Err((
                        "InvalidRequestException",
                        "ImageRepositoryType is required.".to_owned(),
                    ))
                } else {
                    s.next += 1;
                    let id = format!("{:032x}", 0xa000 + s.next);
                    let behaviour = s.script.pop_front().unwrap_or(Op::Succeed(1));
                    let previous_source = s.source.clone();
                    s.source = src.clone();
                    s.status = "OPERATION_IN_PROGRESS";
                    s.operations.push(Operation {
                        id: id.clone(),
                        status: "IN_PROGRESS",
                        behaviour,
                        polls: 0,
                        previous_source,
                        started: now(),
                        started_at: Instant::now(),
                    });
                    Ok(json!({"Service": service_json(&s), "OperationId": id}))
                }
            } else {
                Err(("InvalidRequestException", "Nothing to update.".to_owned()))
            }
        }
        "DescribeService" | "ListOperations" | "UpdateService" => {
            Err(("ResourceNotFoundException", "Service not found.".to_owned()))
        }
        other => {
            s.protocol_errors
                .push(format!("unexpected operation {other}"));
            Err((
                "UnknownOperationException",
                format!("{other} is not scripted"),
            ))
        }
    };
    match out {
        Ok(v) => (
            StatusCode::OK,
            [("content-type", "application/x-amz-json-1.0")],
            v.to_string(),
        )
            .into_response(),
        Err((kind, message)) => error(kind, &message),
    }
}
