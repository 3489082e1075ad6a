//! A scripted ECS endpoint, in-process, for the rollout behaviour moto does not model (moto's ECS is
//! static: deployments never progress, tasks never stop).
//!
//! Protocol-exact awsJson1_1 as the ECS API: `POST /`, `Content-Type: application/x-amz-json-1.1`,
//! `X-Amz-Target: AmazonEC2ContainerServiceV20141113.<Operation>`, a SigV4 `Authorization` header, JSON
//! bodies shaped as the API's, timestamps as epoch seconds, errors as HTTP 400 with
//! `{"__type": "...", "message": "..."}`. Anything else is answered the way ECS would refuse it, and recorded
//! in `protocol_errors` so tests can assert there were none.
//!
//! Each service has a queue of [`Behaviour`]s: every UpdateService starts a deployment that follows the
//! next one (default: complete at the next poll). DescribeServices is the clock of poll-driven behaviours.
//!
//! ECS Express Mode services ([`FakeEcs::seed_express`]) answer DescribeExpressGatewayService,
//! UpdateExpressGatewayService and ListServiceDeployments with the API's shapes (`activeConfigurations`,
//! `targetConfiguration.serviceRevisionArn`, `ServiceDeploymentBrief`s). Every update creates a service
//! revision and a service deployment that follows the next scripted [`ExpressDeploy`] (default: SUCCESSFUL
//! at the first ListServiceDeployments that sees it); ListServiceDeployments (and DescribeServiceDeployments,
//! which the official action aws-actions/amazon-ecs-deploy-express-service polls) is their clock. An update while
//! a deployment runs stops that one (`STOPPED`), as a new ECS deployment does. DescribeServices shows an
//! Express service with `resourceManagementType: ECS`. `GET /ping` answers [`FakeEcs::health`]'s status:
//! the service's URL in tests.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use super::fake_server::{bodies_of, health_route, serve_local};

const TARGET_PREFIX: &str = "AmazonEC2ContainerServiceV20141113.";
const REGION: &str = "eu-west-1";
const ACCOUNT: &str = "123456789012";

/// When a scripted change happens.
#[derive(Clone, Copy, Debug)]
pub enum After {
    /// At the n-th DescribeServices of this deployment (1 = the first poll).
    Polls(u32),
    /// Once this much time has passed since UpdateService.
    Time(Duration),
}

/// How a deployment behaves.
#[derive(Clone, Debug)]
pub enum Behaviour {
    /// Becomes COMPLETED; the older deployments drain `drain_polls` polls later.
    Complete { after: After, drain_polls: u32 },
    /// The circuit breaker marks it FAILED (with `failed_tasks` failures); when the service has
    /// circuit-breaker rollback, ECS starts a rollback deployment that completes one poll later.
    Fail { after: After, failed_tasks: i32 },
    /// From `after` on, one task of the new revision stops per poll with this reason; with the circuit
    /// breaker enabled the deployment FAILS at 3 failures.
    StopTasks {
        after: After,
        stop_code: String,
        reason: String,
        /// (container, exit code, container reason)
        containers: Vec<(String, Option<i32>, Option<String>)>,
    },
    /// Stays IN_PROGRESS forever.
    Stuck,
}

impl Behaviour {
    pub fn complete_after_polls(n: u32) -> Self {
        Behaviour::Complete {
            after: After::Polls(n),
            drain_polls: 1,
        }
    }
}

/// How an ECS Express service deployment behaves; ListServiceDeployments is its clock.
#[derive(Clone, Debug)]
pub enum ExpressDeploy {
    /// SUCCESSFUL at `after` (the new configuration is the only active one).
    Succeed(After),
    /// The canary's deployment alarm fires at `after`: ROLLBACK_IN_PROGRESS, then ROLLBACK_SUCCESSFUL at
    /// the next poll with the previous configuration active again.
    AlarmRollback(After),
    /// IN_PROGRESS forever.
    Stuck,
}

#[derive(Debug)]
struct SvcDeployment {
    arn: String,
    status: &'static str,
    reason: Option<String>,
    target: String,
    source: Option<Value>,
    target_config: Value,
    behaviour: ExpressDeploy,
    polls: u32,
    created: f64,
    started: Instant,
    finished: Option<f64>,
}

#[derive(Debug)]
struct ExpressSvc {
    /// Where it is (the fake's region and account).
    region: String,
    account: String,
    name: String,
    cluster: String,
    arn: String,
    /// Active configurations, oldest first.
    configs: Vec<Value>,
    /// Service deployments, newest first.
    deployments: Vec<SvcDeployment>,
    script: VecDeque<ExpressDeploy>,
    created: f64,
    updated: f64,
}

/// How a one-off task (RunTask) behaves; DescribeTasks is its clock.
#[derive(Clone, Debug)]
pub enum OneOff {
    /// PROVISIONING, PENDING, RUNNING, then STOPPED at the `polls`-th DescribeTasks with these exit codes
    /// (stop code EssentialContainerExited).
    Exit {
        id: String,
        polls: u32,
        exit_codes: Vec<(String, i32)>,
    },
    /// STOPPED at the `polls`-th DescribeTasks without exit codes: stop code TaskFailedToStart.
    FailToStart {
        id: String,
        polls: u32,
        reason: String,
    },
    /// RUNNING until StopTask.
    Hang { id: String },
}

impl OneOff {
    fn id(&self) -> &str {
        match self {
            OneOff::Exit { id, .. } | OneOff::FailToStart { id, .. } | OneOff::Hang { id } => id,
        }
    }
}

#[derive(Debug)]
struct OneOffTask {
    task: Value,
    behaviour: OneOff,
    polls: u32,
}

#[derive(Debug)]
struct Deployment {
    id: String,
    task_definition: String,
    status: &'static str,
    rollout_state: &'static str,
    reason: String,
    failed_tasks: i32,
    running: i32,
    pending: i32,
    desired: i32,
    created: f64,
    started: Instant,
    polls: u32,
    behaviour: Behaviour,
    /// Polls left before older deployments are removed (after COMPLETED).
    drain_left: Option<u32>,
}

#[derive(Debug)]
struct Svc {
    name: String,
    cluster: String,
    task_definition: String,
    desired: i32,
    circuit_breaker: Option<(bool, bool)>,
    deployments: Vec<Deployment>,
    /// Newest first, as ECS lists them.
    events: Vec<Value>,
    script: VecDeque<Behaviour>,
    controller: &'static str,
    /// `resourceManagementType`: `CUSTOMER`, or `ECS` for an Express service.
    managed_by: &'static str,
}

/// A decision the fake made, with when: tests and benchmarks measure from here.
#[derive(Clone, Debug)]
pub struct Decided {
    pub service: String,
    pub deployment: String,
    /// `COMPLETED`, `FAILED`, `STOPPED_TASK` or `DRAINED`; Express: `SUCCESSFUL`, `ROLLBACK_IN_PROGRESS`,
    /// `ROLLBACK_SUCCESSFUL`.
    pub what: &'static str,
    pub at: Instant,
}

#[derive(Debug, Default)]
struct State_ {
    /// The region and account of the fake's ARNs (Express services and task definitions).
    region: String,
    account: String,
    task_defs: BTreeMap<String, Value>,
    tags: HashMap<String, Value>,
    revisions: HashMap<String, u32>,
    services: BTreeMap<String, Svc>,
    tasks: Vec<(String, Value)>,
    calls: BTreeMap<String, u32>,
    throttle: HashMap<String, u32>,
    requests: Vec<(String, Value)>,
    decided: Vec<Decided>,
    protocol_errors: Vec<String>,
    oneoff_script: VecDeque<OneOff>,
    oneoffs: Vec<OneOffTask>,
    next_id: u64,
    last_answer: Option<Instant>,
    /// Operation -> how long each call waits before it is handled (a slow or hanging endpoint).
    delays: HashMap<String, Duration>,
    /// Operations as they arrive (before any delay), with the time of arrival.
    arrivals: Vec<(String, Instant)>,
    /// Express services by ARN.
    express: BTreeMap<String, ExpressSvc>,
    /// Previews: created and deleted services (see the block at the end of this file).
    preview: PreviewState,
}

/// The running fake.
#[derive(Clone)]
pub struct FakeEcs {
    url: String,
    state: Arc<Mutex<State_>>,
    health: Arc<std::sync::atomic::AtomicU16>,
}

fn now_epoch() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn td_arn(s: &State_, family_rev: &str) -> String {
    format!(
        "arn:aws:ecs:{}:{}:task-definition/{family_rev}",
        s.region, s.account
    )
}

impl FakeEcs {
    pub async fn start() -> Self {
        Self::start_in(ACCOUNT, REGION).await
    }

    /// The same for `account` and `region`: the ARNs of its Express services and task definitions name
    /// them (the standard services' stay in 123456789012, eu-west-1).
    pub async fn start_in(account: &str, region: &str) -> Self {
        let state = Arc::new(Mutex::new(State_ {
            region: region.to_owned(),
            account: account.to_owned(),
            ..State_::default()
        }));
        let health = Arc::new(std::sync::atomic::AtomicU16::new(200));
        let app = Router::new()
            .route("/", post(handle))
            .route("/ping", health_route(&health))
            .with_state(state.clone());
        Self {
            url: serve_local(app).await,
            state,
            health,
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// An SDK configuration pointing at this endpoint, with static test credentials.
    pub fn sdk(&self) -> aws_config::SdkConfig {
        sdk_config(&self.url)
    }

    /// Registers a task definition directly (no API call counted); returns its ARN.
    pub fn seed_task_definition(&self, family: &str, containers: Value) -> String {
        let mut s = self.state.lock().unwrap();
        let body = json!({"family": family, "containerDefinitions": containers,
                          "cpu": "256", "memory": "512", "networkMode": "awsvpc",
                          "requiresCompatibilities": ["FARGATE"],
                          "tags": [{"key": "team", "value": "core"}]});
        register(&mut s, &body).unwrap()["taskDefinition"]["taskDefinitionArn"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// A service running `task_definition` (completed), `desired` tasks.
    pub fn seed_service(
        &self,
        cluster: &str,
        name: &str,
        task_definition: &str,
        desired: i32,
        circuit_breaker: Option<(bool, bool)>,
    ) {
        let mut s = self.state.lock().unwrap();
        s.next_id += 1;
        let dep = Deployment {
            id: format!("ecs-svc/{:019}", s.next_id),
            task_definition: task_definition.to_owned(),
            status: "PRIMARY",
            rollout_state: "COMPLETED",
            reason: "ECS deployment completed.".into(),
            failed_tasks: 0,
            running: desired,
            pending: 0,
            desired,
            created: now_epoch() - 3600.0,
            started: Instant::now(),
            polls: 0,
            behaviour: Behaviour::Stuck,
            drain_left: None,
        };
        let ev = json!({"id": "seed-event", "createdAt": now_epoch() - 3000.0,
                        "message": format!("(service {name}) has reached a steady state.")});
        s.services.insert(
            name.to_owned(),
            Svc {
                name: name.to_owned(),
                cluster: cluster.to_owned(),
                task_definition: task_definition.to_owned(),
                desired,
                circuit_breaker,
                deployments: vec![dep],
                events: vec![ev],
                script: VecDeque::new(),
                controller: "ECS",
                managed_by: "CUSTOMER",
            },
        );
    }

    /// An ECS Express service `name` in `cluster` whose one active configuration runs `image` (revision 1,
    /// deployed an hour ago); also a standard service entry (DescribeServices) managed by ECS. Returns
    /// its ARN.
    pub fn seed_express(&self, cluster: &str, name: &str, image: &str) -> String {
        let td = self.seed_task_definition(
            name,
            json!([{"name": "Main", "image": image, "essential": true,
                    "portMappings": [{"containerPort": 8080}]}]),
        );
        self.seed_service(cluster, name, &td, 1, Some((true, true)));
        let mut s = self.state.lock().unwrap();
        let (region, account) = (s.region.clone(), s.account.clone());
        s.services.get_mut(name).unwrap().managed_by = "ECS";
        let arn = format!("arn:aws:ecs:{region}:{account}:service/{cluster}/{name}");
        let created = now_epoch() - 3600.0;
        s.next_id += 1;
        let revision = format!(
            "arn:aws:ecs:{region}:{account}:service-revision/{cluster}/{name}/{:019}",
            s.next_id
        );
        let config = json!({
            "serviceRevisionArn": revision,
            "executionRoleArn": format!("arn:aws:iam::{account}:role/ecsTaskExecutionRole"),
            "taskRoleArn": format!("arn:aws:iam::{account}:role/frontend-task"),
            "taskDefinitionArn": td,
            "cpu": "1024", "memory": "2048", "cpuArchitecture": "X86_64",
            "networkConfiguration": {"subnets": ["subnet-0a1b2c3d4e5f60718"],
                                     "securityGroups": ["sg-0123456789abcdef0"]},
            "healthCheckPath": "/ping",
            "primaryContainer": {
                "image": image, "containerPort": 8080,
                "awsLogsConfiguration": {"logGroup": format!("/aws/ecs/{cluster}/{name}"),
                                         "logStreamPrefix": "ecs"},
                "command": ["node", "server.js"],
                "environment": [{"name": "MODE", "value": "prod"}],
                "secrets": [{"name": "API_KEY",
                             "valueFrom": format!("arn:aws:ssm:{region}:{account}:parameter/frontend/api-key")}]
            },
            "scalingTarget": {"minTaskCount": 1, "maxTaskCount": 4,
                              "autoScalingMetric": "AVERAGE_CPU", "autoScalingTargetValue": 60},
            "ingressPaths": [{"accessType": "PUBLIC",
                              "endpoint": format!("{name}-0123456789abcdef.ecs.{region}.on.aws")}],
            "createdAt": created,
        });
        s.next_id += 1;
        let first = SvcDeployment {
            arn: format!(
                "arn:aws:ecs:{region}:{account}:service-deployment/{cluster}/{name}/{:019}",
                s.next_id
            ),
            status: "SUCCESSFUL",
            reason: None,
            target: revision,
            source: None,
            target_config: config.clone(),
            behaviour: ExpressDeploy::Stuck,
            polls: 0,
            created,
            started: Instant::now(),
            finished: Some(created + 300.0),
        };
        s.express.insert(
            arn.clone(),
            ExpressSvc {
                region: region.clone(),
                account: account.clone(),
                name: name.to_owned(),
                cluster: cluster.to_owned(),
                arn: arn.clone(),
                configs: vec![config],
                deployments: vec![first],
                script: VecDeque::new(),
                created,
                updated: created,
            },
        );
        arn
    }

    /// Queues behaviours for the next service deployments of the Express service `arn`.
    pub fn script_express(&self, arn: &str, behaviours: impl IntoIterator<Item = ExpressDeploy>) {
        self.state
            .lock()
            .unwrap()
            .express
            .get_mut(arn)
            .unwrap()
            .script
            .extend(behaviours);
    }

    /// The image of the Express service's newest active configuration.
    pub fn express_image(&self, arn: &str) -> String {
        let s = self.state.lock().unwrap();
        s.express[arn].configs.last().unwrap()["primaryContainer"]["image"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The images of every active configuration, oldest first.
    pub fn express_active_images(&self, arn: &str) -> Vec<String> {
        let s = self.state.lock().unwrap();
        s.express[arn]
            .configs
            .iter()
            .map(|c| c["primaryContainer"]["image"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The service deployments' statuses, newest first.
    pub fn express_deployments(&self, arn: &str) -> Vec<String> {
        let s = self.state.lock().unwrap();
        s.express[arn]
            .deployments
            .iter()
            .map(|d| d.status.to_owned())
            .collect()
    }

    /// The status `GET /ping` answers.
    pub fn health(&self, status: u16) {
        self.health
            .store(status, std::sync::atomic::Ordering::SeqCst);
    }

    /// The URL this fake serves for health checks (`health-url` in tests).
    pub fn health_url(&self) -> String {
        format!("{}/ping", self.url)
    }

    /// Queues behaviours for the next deployments of `service`.
    pub fn script(&self, service: &str, behaviours: impl IntoIterator<Item = Behaviour>) {
        let mut s = self.state.lock().unwrap();
        s.services
            .get_mut(service)
            .unwrap()
            .script
            .extend(behaviours);
    }

    /// Queues behaviours for the next RunTask calls (default: exit 0 at the second DescribeTasks).
    pub fn script_tasks(&self, behaviours: impl IntoIterator<Item = OneOff>) {
        self.state.lock().unwrap().oneoff_script.extend(behaviours);
    }

    /// The one-off tasks as DescribeTasks shows them now, in RunTask order.
    pub fn oneoff_tasks(&self) -> Vec<Value> {
        self.state
            .lock()
            .unwrap()
            .oneoffs
            .iter()
            .map(|t| t.task.clone())
            .collect()
    }

    /// Switches the service's deployment controller (`ECS`, `CODE_DEPLOY`, `EXTERNAL`).
    pub fn set_controller(&self, service: &str, controller: &'static str) {
        self.state
            .lock()
            .unwrap()
            .services
            .get_mut(service)
            .unwrap()
            .controller = controller;
    }

    /// The next `n` calls of `op` are answered with ThrottlingException.
    pub fn throttle(&self, op: &str, n: u32) {
        self.state.lock().unwrap().throttle.insert(op.to_owned(), n);
    }

    /// Every later call of `op` waits `d` before it is handled (and counted in [`FakeEcs::calls`]).
    pub fn delay(&self, op: &str, d: Duration) {
        self.state.lock().unwrap().delays.insert(op.to_owned(), d);
    }

    /// Operations as they arrived, before any delay: `(operation, arrival time)`.
    pub fn arrivals(&self) -> Vec<(String, Instant)> {
        self.state.lock().unwrap().arrivals.clone()
    }

    pub fn calls(&self) -> BTreeMap<String, u32> {
        self.state.lock().unwrap().calls.clone()
    }

    pub fn total_calls(&self) -> u32 {
        self.calls().values().sum()
    }

    /// Every operation called, in order.
    pub fn ops(&self) -> Vec<String> {
        self.state
            .lock()
            .unwrap()
            .requests
            .iter()
            .map(|(o, _)| o.clone())
            .collect()
    }

    /// Request bodies of `op`, in order.
    pub fn requests(&self, op: &str) -> Vec<Value> {
        bodies_of(&self.state.lock().unwrap().requests, op)
    }

    pub fn decided(&self) -> Vec<Decided> {
        self.state.lock().unwrap().decided.clone()
    }

    /// When the last answer was produced.
    pub fn last_answer(&self) -> Option<Instant> {
        self.state.lock().unwrap().last_answer
    }

    /// Fails the test with every request this endpoint refused as off-protocol, if any.
    pub fn assert_no_protocol_errors(&self) {
        let errors = self.protocol_errors();
        assert!(errors.is_empty(), "{errors:?}");
    }

    pub fn protocol_errors(&self) -> Vec<String> {
        self.state.lock().unwrap().protocol_errors.clone()
    }

    /// The task definition the service runs now.
    pub fn service_task_definition(&self, service: &str) -> String {
        self.state.lock().unwrap().services[service]
            .task_definition
            .clone()
    }

    pub fn task_definition(&self, arn: &str) -> Value {
        let s = self.state.lock().unwrap();
        s.task_defs[arn].clone()
    }
}

/// Static test credentials, region eu-west-1, standard retries (5 attempts), endpoint `url`.
pub fn sdk_config(url: &str) -> aws_config::SdkConfig {
    use aws_credential_types::Credentials;
    use aws_credential_types::provider::SharedCredentialsProvider;
    aws_config::SdkConfig::builder()
        .http_client(stevedore::aws::http_client(&stevedore::Env::default()))
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "AKIDTEST", "secret", None, None, "test",
        )))
        .retry_config(aws_smithy_types::retry::RetryConfig::standard().with_max_attempts(5))
        .endpoint_url(url)
        .build()
}

fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    (
        status,
        [("content-type", "application/x-amz-json-1.1")],
        json!({"__type": kind, "message": message}).to_string(),
    )
        .into_response()
}

/// An ECS error answer: `__type` and message (HTTP 400).
type ApiError = (&'static str, String);

fn client_error(message: &str) -> ApiError {
    ("ClientException", message.to_owned())
}

async fn handle(
    State(state): State<Arc<Mutex<State_>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
    let arriving = h("x-amz-target")
        .strip_prefix(TARGET_PREFIX)
        .unwrap_or_default()
        .to_owned();
    let delay = {
        let mut s = state.lock().unwrap();
        s.arrivals.push((arriving.clone(), Instant::now()));
        s.delays.get(&arriving).copied()
    };
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    let mut s = state.lock().unwrap();
    if h("content-type") != "application/x-amz-json-1.1" {
        s.protocol_errors
            .push(format!("content-type {:?}", h("content-type")));
        return error(
            StatusCode::BAD_REQUEST,
            "SerializationException",
            "bad content type",
        );
    }
    // Any SigV4 credential: static test keys, or the session keys moto's STS hands out after OIDC.
    let signed = h("authorization")
        .strip_prefix("AWS4-HMAC-SHA256 Credential=")
        .and_then(|c| c.split_once('/'))
        .is_some_and(|(key, _)| {
            key.len() >= 8
                && key
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        });
    if !signed {
        s.protocol_errors.push("unsigned request".into());
        return error(
            StatusCode::BAD_REQUEST,
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        );
    }
    let Some(op) = h("x-amz-target")
        .strip_prefix(TARGET_PREFIX)
        .map(str::to_owned)
    else {
        s.protocol_errors
            .push(format!("x-amz-target {:?}", h("x-amz-target")));
        return error(
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
            "missing target",
        );
    };
    let req: Value = match serde_json::from_slice(&body) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            s.protocol_errors
                .push(format!("{op}: body is not a JSON object"));
            return error(
                StatusCode::BAD_REQUEST,
                "SerializationException",
                "body is not a JSON object",
            );
        }
    };
    *s.calls.entry(op.clone()).or_default() += 1;
    s.requests.push((op.clone(), req.clone()));
    if let Some(n) = s.throttle.get_mut(&op)
        && *n > 0
    {
        *n -= 1;
        return error(
            StatusCode::BAD_REQUEST,
            "ThrottlingException",
            "Rate exceeded",
        );
    }
    let result = match op.as_str() {
        "DescribeServices" => describe_services(&mut s, &req),
        "DescribeTaskDefinition" => describe_task_definition(&s, &req),
        "RegisterTaskDefinition" => register(&mut s, &req),
        "UpdateService" => update_service(&mut s, &req),
        "ListTasks" => Ok(list_tasks(&s, &req)),
        "DescribeTasks" => Ok(describe_tasks(&mut s, &req)),
        "RunTask" => run_task(&mut s, &req),
        "StopTask" => stop_task(&mut s, &req),
        "DescribeExpressGatewayService" => describe_express(&s, &req),
        "UpdateExpressGatewayService" => update_express(&mut s, &req),
        "ListServiceDeployments" => list_service_deployments(&mut s, &req),
        "DescribeServiceDeployments" => describe_service_deployments(&mut s, &req),
        // Previews (the block at the end of this file).
        "CreateService" => create_service(&mut s, &req),
        "DeleteService" => delete_service(&mut s, &req),
        "ListTagsForResource" => list_tags(&s, &req),
        "TagResource" => tag_resource(&mut s, &req),
        "UntagResource" => untag_resource(&mut s, &req),
        other => {
            s.protocol_errors
                .push(format!("unexpected operation {other}"));
            return error(
                StatusCode::BAD_REQUEST,
                "UnknownOperationException",
                &format!("operation {other} is not scripted"),
            );
        }
    };
    s.last_answer = Some(Instant::now());
    match result {
        Ok(v) => (
            StatusCode::OK,
            [
                ("content-type", "application/x-amz-json-1.1"),
                ("x-amzn-requestid", "00000000-0000-0000-0000-000000000000"),
            ],
            v.to_string(),
        )
            .into_response(),
        Err((kind, message)) => error(StatusCode::BAD_REQUEST, kind, &message),
    }
}

fn resolve_td(s: &State_, r: &str) -> Option<String> {
    if s.task_defs.contains_key(r) {
        return Some(r.to_owned());
    }
    if r.contains(':') && !r.starts_with("arn:") {
        let a = td_arn(s, r);
        return s.task_defs.contains_key(&a).then_some(a);
    }
    let rev = s.revisions.get(r)?;
    Some(td_arn(s, &format!("{r}:{rev}")))
}

fn register(s: &mut State_, req: &Value) -> Result<Value, ApiError> {
    for k in [
        "taskDefinitionArn",
        "revision",
        "status",
        "requiresAttributes",
        "compatibilities",
        "registeredAt",
        "registeredBy",
        "deregisteredAt",
    ] {
        if req.get(k).is_some() {
            s.protocol_errors
                .push(format!("RegisterTaskDefinition with read-only {k}"));
            return Err((
                "SerializationException",
                format!("Unexpected key '{k}' found in params"),
            ));
        }
    }
    let Some(family) = req.get("family").and_then(Value::as_str) else {
        return Err(client_error("Family is required."));
    };
    if req
        .get("containerDefinitions")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty)
    {
        return Err(client_error("Container list cannot be empty."));
    }
    let rev = {
        let r = s.revisions.entry(family.to_owned()).or_default();
        *r += 1;
        *r
    };
    let arn = td_arn(s, &format!("{family}:{rev}"));
    let mut td = req.clone();
    let tags = td
        .as_object_mut()
        .unwrap()
        .remove("tags")
        .unwrap_or(json!([]));
    let o = td.as_object_mut().unwrap();
    o.insert("taskDefinitionArn".into(), json!(arn));
    o.insert("revision".into(), json!(rev));
    o.insert("status".into(), json!("ACTIVE"));
    o.insert("compatibilities".into(), json!(["EC2", "FARGATE"]));
    o.insert("requiresAttributes".into(), json!([]));
    o.insert("registeredAt".into(), json!(now_epoch()));
    o.insert(
        "registeredBy".into(),
        json!(format!("arn:aws:sts::{ACCOUNT}:assumed-role/deploy/test")),
    );
    s.task_defs.insert(arn.clone(), td.clone());
    s.tags.insert(arn, tags.clone());
    Ok(json!({"taskDefinition": td, "tags": tags}))
}

fn describe_task_definition(s: &State_, req: &Value) -> Result<Value, ApiError> {
    let r = req
        .get("taskDefinition")
        .and_then(Value::as_str)
        .unwrap_or("");
    let Some(arn) = resolve_td(s, r) else {
        return Err(client_error("Unable to describe task definition."));
    };
    let with_tags = req
        .get("include")
        .and_then(Value::as_array)
        .is_some_and(|i| i.iter().any(|v| v == "TAGS"));
    let mut out = json!({"taskDefinition": s.task_defs[&arn]});
    if with_tags {
        out["tags"] = s.tags[&arn].clone();
    }
    Ok(out)
}

fn service_json(svc: &Svc) -> Value {
    let deps: Vec<Value> = svc
        .deployments
        .iter()
        .map(|d| {
            json!({
                "id": d.id, "status": d.status, "taskDefinition": d.task_definition,
                "desiredCount": d.desired, "pendingCount": d.pending, "runningCount": d.running,
                "failedTasks": d.failed_tasks, "createdAt": d.created, "updatedAt": now_epoch(),
                "launchType": "FARGATE", "rolloutState": d.rollout_state,
                "rolloutStateReason": d.reason,
            })
        })
        .collect();
    let mut dc = json!({"maximumPercent": 200, "minimumHealthyPercent": 100});
    if let Some((enable, rollback)) = svc.circuit_breaker {
        dc["deploymentCircuitBreaker"] = json!({"enable": enable, "rollback": rollback});
    }
    json!({
        "serviceArn": format!("arn:aws:ecs:{REGION}:{ACCOUNT}:service/{}/{}", svc.cluster, svc.name),
        "serviceName": svc.name,
        "clusterArn": format!("arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{}", svc.cluster),
        "status": "ACTIVE",
        "taskDefinition": svc.task_definition,
        "desiredCount": svc.desired,
        "runningCount": svc.deployments.iter().map(|d| d.running).sum::<i32>(),
        "pendingCount": svc.deployments.iter().map(|d| d.pending).sum::<i32>(),
        "launchType": "FARGATE",
        "platformVersion": "LATEST",
        "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-0a1b2c3d4e5f60718"],
            "securityGroups": ["sg-0123456789abcdef0"], "assignPublicIp": "DISABLED"}},
        "deploymentConfiguration": dc,
        "deploymentController": {"type": svc.controller},
        "resourceManagementType": svc.managed_by,
        "deployments": deps,
        "events": svc.events,
        "createdAt": now_epoch() - 7200.0,
    })
}

fn cluster_matches(svc: &Svc, cluster: &str) -> bool {
    cluster == svc.cluster || cluster.ends_with(&format!(":cluster/{}", svc.cluster))
}

fn push_event(svc: &mut Svc, next_id: &mut u64, message: String) {
    *next_id += 1;
    svc.events.insert(
        0,
        json!({"id": format!("ev-{next_id}"), "createdAt": now_epoch(), "message": message}),
    );
}

fn reached(after: After, d: &Deployment) -> bool {
    match after {
        After::Polls(n) => d.polls >= n,
        After::Time(t) => d.started.elapsed() >= t,
    }
}

/// When the scripted change happened: the scheduled instant for time-driven changes (ECS changes state
/// between polls; the client only sees it at its next poll), the observing poll for poll-driven ones.
fn happened_at(after: After, d: &Deployment) -> Instant {
    match after {
        After::Polls(_) => Instant::now(),
        After::Time(t) => d.started + t,
    }
}

/// Advances `svc`'s deployments by one observation.
fn tick(s: &mut State_, name: &str) {
    let State_ {
        services,
        tasks,
        decided,
        next_id,
        ..
    } = s;
    let svc = services.get_mut(name).unwrap();
    let mut rollback_to: Option<String> = None;
    let mut drained = false;
    let cb = svc.circuit_breaker;
    let mut events = Vec::new();
    let primary_idx = svc.deployments.iter().position(|d| d.status == "PRIMARY");
    for (i, d) in svc.deployments.iter_mut().enumerate() {
        if let Some(left) = d.drain_left.as_mut() {
            if *left == 0 {
                drained = true;
                d.drain_left = None;
            } else {
                *left -= 1;
            }
        }
        if d.rollout_state != "IN_PROGRESS" {
            continue;
        }
        d.polls += 1;
        match d.behaviour.clone() {
            Behaviour::Complete { after, drain_polls } if reached(after, d) => {
                d.rollout_state = "COMPLETED";
                d.reason = "ECS deployment completed.".into();
                d.running = d.desired;
                d.pending = 0;
                d.drain_left = Some(drain_polls);
                events.push(format!("(service {name}) has reached a steady state."));
                decided.push(Decided {
                    service: name.to_owned(),
                    deployment: d.id.clone(),
                    what: "COMPLETED",
                    at: happened_at(after, d),
                });
            }
            Behaviour::Fail {
                after,
                failed_tasks,
            } if reached(after, d) => {
                d.rollout_state = "FAILED";
                d.failed_tasks = failed_tasks;
                d.reason = "ECS deployment circuit breaker: tasks failed to start.".into();
                decided.push(Decided {
                    service: name.to_owned(),
                    deployment: d.id.clone(),
                    what: "FAILED",
                    at: happened_at(after, d),
                });
                events.push(format!(
                    "(service {name}) (deployment {}) deployment failed: tasks failed to start.",
                    d.id
                ));
                if Some(i) == primary_idx && cb.is_some_and(|(e, r)| e && r) {
                    rollback_to = Some(d.id.clone());
                }
            }
            Behaviour::StopTasks {
                after,
                stop_code,
                reason,
                containers,
            } if reached(after, d) => {
                *next_id += 1;
                let arn = format!(
                    "arn:aws:ecs:{REGION}:{ACCOUNT}:task/{}/{:032x}",
                    svc.cluster, next_id
                );
                let cs: Vec<Value> = containers
                    .iter()
                    .map(|(n, code, r)| {
                        let mut c = json!({"name": n, "lastStatus": "STOPPED", "taskArn": arn});
                        if let Some(code) = code {
                            c["exitCode"] = json!(code);
                        }
                        if let Some(r) = r {
                            c["reason"] = json!(r);
                        }
                        c
                    })
                    .collect();
                tasks.push((
                    name.to_owned(),
                    json!({"taskArn": arn, "clusterArn": format!("arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{}", svc.cluster),
                           "taskDefinitionArn": d.task_definition, "startedBy": d.id,
                           "lastStatus": "STOPPED", "desiredStatus": "STOPPED", "stopCode": stop_code,
                           "stoppedReason": reason, "stoppedAt": now_epoch(), "containers": cs,
                           "launchType": "FARGATE"}),
                ));
                decided.push(Decided {
                    service: name.to_owned(),
                    deployment: d.id.clone(),
                    what: "STOPPED_TASK",
                    at: happened_at(after, d),
                });
                d.failed_tasks += 1;
                if cb.is_some_and(|(e, _)| e) && d.failed_tasks >= 3 {
                    d.rollout_state = "FAILED";
                    d.reason = format!(
                        "ECS deployment circuit breaker: tasks failed to start. ({reason})"
                    );
                    if cb.is_some_and(|(_, r)| r) {
                        rollback_to = Some(d.id.clone());
                    }
                }
            }
            _ => {
                d.pending = d.desired;
            }
        }
    }
    if drained {
        svc.deployments.retain(|d| d.status == "PRIMARY");
        events.push(format!(
            "(service {name}) has stopped the tasks of older deployments."
        ));
        decided.push(Decided {
            service: name.to_owned(),
            deployment: String::new(),
            what: "DRAINED",
            at: Instant::now(),
        });
    }
    if let Some(failed_id) = rollback_to {
        // ECS's circuit-breaker rollback: the last COMPLETED deployment's task definition comes back.
        let target = svc
            .deployments
            .iter()
            .find(|d| d.id != failed_id && d.rollout_state == "COMPLETED")
            .map(|d| d.task_definition.clone());
        if let Some(target) = target {
            for d in &mut svc.deployments {
                d.status = "ACTIVE";
            }
            *next_id += 1;
            let id = format!("ecs-svc/{:019}", next_id);
            events.push(format!(
                "(service {name}) rolling back to deployment {id} with task definition {target}."
            ));
            svc.task_definition = target.clone();
            svc.deployments.insert(
                0,
                Deployment {
                    id,
                    task_definition: target,
                    status: "PRIMARY",
                    rollout_state: "IN_PROGRESS",
                    reason: "ECS deployment in progress.".into(),
                    failed_tasks: 0,
                    running: 0,
                    pending: svc.desired,
                    desired: svc.desired,
                    created: now_epoch(),
                    started: Instant::now(),
                    polls: 0,
                    behaviour: Behaviour::complete_after_polls(1),
                    drain_left: None,
                },
            );
            // The failed deployment stays listed (ACTIVE, FAILED) until the rollback has drained it.
        }
    }
    for e in events {
        push_event(svc, next_id, e);
    }
}

fn describe_services(s: &mut State_, req: &Value) -> Result<Value, ApiError> {
    let cluster = req
        .get("cluster")
        .and_then(Value::as_str)
        .unwrap_or("default")
        .to_owned();
    // A cluster exists when a service was seeded in it; ECS refuses the call for an unknown one.
    if !s
        .services
        .values()
        .any(|svc| cluster_matches(svc, &cluster))
    {
        return Err(("ClusterNotFoundException", "Cluster not found.".into()));
    }
    let mut services = Vec::new();
    let mut failures = Vec::new();
    for name in req
        .get("services")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        let found = s
            .services
            .get(name)
            .is_some_and(|svc| cluster_matches(svc, &cluster));
        if found {
            tick(s, name);
            services.push(overlay(s, name, service_json(&s.services[name])));
        } else {
            failures.push(json!({"arn": format!("arn:aws:ecs:{REGION}:{ACCOUNT}:service/{cluster}/{name}"), "reason": "MISSING"}));
        }
    }
    Ok(json!({"services": services, "failures": failures}))
}

fn update_service(s: &mut State_, req: &Value) -> Result<Value, ApiError> {
    let cluster = req
        .get("cluster")
        .and_then(Value::as_str)
        .unwrap_or("default");
    let name = req.get("service").and_then(Value::as_str).unwrap_or("");
    if !s
        .services
        .get(name)
        .is_some_and(|svc| cluster_matches(svc, cluster))
    {
        return Err(("ServiceNotFoundException", "Service not found.".into()));
    }
    if let Some(d) = req.get("desiredCount").and_then(Value::as_i64) {
        scale(s, name, i32::try_from(d).unwrap());
        if req.get("taskDefinition").is_none() {
            return Ok(json!({"service": overlay(s, name, service_json(&s.services[name]))}));
        }
    }
    let Some(td) = req
        .get("taskDefinition")
        .and_then(Value::as_str)
        .and_then(|t| resolve_td(s, t))
    else {
        return Err(client_error("TaskDefinition not found."));
    };
    s.next_id += 1;
    let id = format!("ecs-svc/{:019}", s.next_id);
    let mut next_id = s.next_id;
    let svc = s.services.get_mut(name).unwrap();
    for d in &mut svc.deployments {
        d.status = "ACTIVE";
    }
    let behaviour = svc
        .script
        .pop_front()
        .unwrap_or_else(|| Behaviour::complete_after_polls(1));
    svc.task_definition = td.clone();
    svc.deployments.insert(
        0,
        Deployment {
            id,
            task_definition: td,
            status: "PRIMARY",
            rollout_state: "IN_PROGRESS",
            reason: "ECS deployment in progress.".into(),
            failed_tasks: 0,
            running: 0,
            pending: svc.desired,
            desired: svc.desired,
            created: now_epoch(),
            started: Instant::now(),
            polls: 0,
            behaviour,
            drain_left: None,
        },
    );
    push_event(
        svc,
        &mut next_id,
        format!("(service {name}) has started 1 tasks: (task pending)."),
    );
    s.next_id = next_id;
    Ok(json!({"service": overlay(s, name, service_json(&s.services[name]))}))
}

fn list_tasks(s: &State_, req: &Value) -> Value {
    let service = req.get("serviceName").and_then(Value::as_str);
    let stopped = req.get("desiredStatus").and_then(Value::as_str) == Some("STOPPED");
    let arns: Vec<&Value> = s
        .tasks
        .iter()
        .filter(|(svc, _)| service.is_none_or(|n| n == svc))
        .filter(|_| stopped)
        .map(|(_, t)| &t["taskArn"])
        .collect();
    json!({"taskArns": arns})
}

fn describe_tasks(s: &mut State_, req: &Value) -> Value {
    let wanted: Vec<String> = req
        .get("tasks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    for t in &mut s.oneoffs {
        if wanted.iter().any(|w| t.task["taskArn"] == w.as_str()) {
            tick_oneoff(t);
        }
    }
    let tasks: Vec<&Value> = s
        .tasks
        .iter()
        .map(|(_, t)| t)
        .chain(s.oneoffs.iter().map(|t| &t.task))
        .filter(|t| wanted.iter().any(|w| t["taskArn"] == w.as_str()))
        .collect();
    json!({"tasks": tasks, "failures": []})
}

fn stop_oneoff(
    t: &mut Value,
    stop_code: &str,
    reason: &str,
    exit: Option<(&[(String, i32)], i32)>,
) {
    t["lastStatus"] = json!("STOPPED");
    t["desiredStatus"] = json!("STOPPED");
    t["stopCode"] = json!(stop_code);
    t["stoppedReason"] = json!(reason);
    t["stoppedAt"] = json!(now_epoch());
    for c in t["containers"].as_array_mut().unwrap() {
        c["lastStatus"] = json!("STOPPED");
        if let Some((codes, default)) = exit {
            let name = c["name"].as_str().unwrap().to_owned();
            let code = codes
                .iter()
                .find(|(n, _)| *n == name)
                .map_or(default, |(_, code)| *code);
            c["exitCode"] = json!(code);
        } else {
            c["reason"] = json!(reason);
        }
    }
}

/// One DescribeTasks observation of a one-off task.
fn tick_oneoff(t: &mut OneOffTask) {
    if t.task["lastStatus"] == "STOPPED" {
        return;
    }
    t.polls += 1;
    let running = ["PROVISIONING", "PENDING", "RUNNING"][(t.polls as usize - 1).min(2)];
    match t.behaviour.clone() {
        OneOff::Exit {
            polls, exit_codes, ..
        } if t.polls >= polls => stop_oneoff(
            &mut t.task,
            "EssentialContainerExited",
            "Essential container in task exited",
            Some((&exit_codes, 0)),
        ),
        OneOff::FailToStart { polls, reason, .. } if t.polls >= polls => {
            stop_oneoff(&mut t.task, "TaskFailedToStart", &reason, None);
        }
        OneOff::FailToStart { .. } => {
            t.task["lastStatus"] = json!(if t.polls == 1 {
                "PROVISIONING"
            } else {
                "PENDING"
            });
        }
        _ => t.task["lastStatus"] = json!(running),
    }
}

fn invalid(message: &str) -> ApiError {
    ("InvalidParameterException", message.to_owned())
}

fn run_task(s: &mut State_, req: &Value) -> Result<Value, ApiError> {
    let cluster = req
        .get("cluster")
        .and_then(Value::as_str)
        .unwrap_or("default")
        .to_owned();
    if !s
        .services
        .values()
        .any(|svc| cluster_matches(svc, &cluster))
    {
        return Err(("ClusterNotFoundException", "Cluster not found.".into()));
    }
    let Some(td_arn) = req
        .get("taskDefinition")
        .and_then(Value::as_str)
        .and_then(|t| resolve_td(s, t))
    else {
        return Err(client_error("TaskDefinition not found."));
    };
    let td = s.task_defs[&td_arn].clone();
    if req.get("launchType").is_some() && req.get("capacityProviderStrategy").is_some() {
        return Err(invalid(
            "Specifying both a launch type and capacity provider strategy is not supported.",
        ));
    }
    if td["networkMode"] == "awsvpc"
        && req
            .pointer("/networkConfiguration/awsvpcConfiguration/subnets")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty)
    {
        return Err(invalid(
            "Network Configuration must be provided when networkMode 'awsvpc' is specified.",
        ));
    }
    if req.get("count").and_then(Value::as_i64).unwrap_or(1) != 1 {
        s.protocol_errors.push("RunTask count is not 1".into());
    }
    let names: Vec<&str> = td["containerDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    for o in req
        .pointer("/overrides/containerOverrides")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let n = o["name"].as_str().unwrap_or("");
        if !names.contains(&n) {
            return Err(invalid(&format!(
                "Override for container named {n} is not a container in the TaskDefinition."
            )));
        }
    }
    s.next_id += 1;
    let behaviour = s.oneoff_script.pop_front().unwrap_or_else(|| OneOff::Exit {
        id: format!("{:032x}", s.next_id),
        polls: 2,
        exit_codes: vec![],
    });
    let short_cluster = cluster.rsplit('/').next().unwrap_or(&cluster).to_owned();
    let arn = format!(
        "arn:aws:ecs:{REGION}:{ACCOUNT}:task/{short_cluster}/{}",
        behaviour.id()
    );
    let containers: Vec<Value> = names
        .iter()
        .map(|n| json!({"name": n, "lastStatus": "PENDING", "taskArn": arn}))
        .collect();
    let mut task = json!({
        "taskArn": arn,
        "clusterArn": format!("arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{short_cluster}"),
        "taskDefinitionArn": td_arn,
        "lastStatus": "PROVISIONING", "desiredStatus": "RUNNING",
        "group": format!("family:{}", td["family"].as_str().unwrap_or("")),
        "containers": containers,
        "overrides": req.get("overrides").cloned().unwrap_or(json!({})),
        "createdAt": now_epoch(),
    });
    for k in ["launchType", "startedBy", "platformVersion"] {
        if let Some(v) = req.get(k) {
            task[k] = v.clone();
        }
    }
    s.oneoffs.push(OneOffTask {
        task: task.clone(),
        behaviour,
        polls: 0,
    });
    Ok(json!({"tasks": [task], "failures": []}))
}

fn stop_task(s: &mut State_, req: &Value) -> Result<Value, ApiError> {
    let wanted = req.get("task").and_then(Value::as_str).unwrap_or("");
    let reason = req
        .get("reason")
        .and_then(Value::as_str)
        .unwrap_or("Task stopped by user")
        .to_owned();
    let Some(t) = s.oneoffs.iter_mut().find(|t| {
        t.task["taskArn"] == wanted
            || t.task["taskArn"]
                .as_str()
                .is_some_and(|a| a.ends_with(&format!("/{wanted}")))
    }) else {
        return Err(invalid("The referenced task was not found."));
    };
    if t.task["lastStatus"] != "STOPPED" {
        stop_oneoff(&mut t.task, "UserInitiated", &reason, Some((&[], 143)));
    }
    Ok(json!({"task": t.task}))
}

// ---- ECS Express Mode ----

/// The Express service an ARN or name (with `cluster`, default `default`) names.
fn find_express<'a>(s: &'a State_, service: &str, cluster: Option<&str>) -> Option<&'a str> {
    s.express
        .values()
        .find(|e| {
            e.arn == service
                || (e.name == service
                    && cluster.is_none_or(|c| {
                        c == e.cluster || c.ends_with(&format!(":cluster/{}", e.cluster))
                    }))
        })
        .map(|e| e.arn.as_str())
}

/// ECS's answer for an ARN that names no Express service: the cluster first, then the service. (The
/// message ECS gives for a standard service's ARN is not documented; the error type is ECS's.)
fn express_missing(s: &State_, arn: &str) -> ApiError {
    let cluster = arn.split('/').nth(1).unwrap_or("default");
    if !s.services.values().any(|svc| cluster_matches(svc, cluster)) {
        return ("ClusterNotFoundException", "Cluster not found.".into());
    }
    let name = arn.rsplit('/').next().unwrap_or(arn);
    if s.services
        .get(name)
        .is_some_and(|svc| cluster_matches(svc, cluster))
    {
        return invalid("The specified service is not an Express service.");
    }
    ("ServiceNotFoundException", "Service not found.".into())
}

fn express_service_json(e: &ExpressSvc) -> Value {
    let (region, account) = (&e.region, &e.account);
    json!({
        "cluster": format!("arn:aws:ecs:{region}:{account}:cluster/{}", e.cluster),
        "serviceName": e.name,
        "serviceArn": e.arn,
        "infrastructureRoleArn": format!("arn:aws:iam::{account}:role/ecsInfrastructureRoleForExpressServices"),
        "status": {"statusCode": "ACTIVE"},
        "currentDeployment": e.deployments.first().map(|d| d.arn.clone()),
        "activeConfigurations": e.configs,
        "createdAt": e.created,
        "updatedAt": e.updated,
    })
}

fn describe_express(s: &State_, req: &Value) -> Result<Value, ApiError> {
    let Some(arn) = req.get("serviceArn").and_then(Value::as_str) else {
        return Err(invalid("serviceArn is required."));
    };
    if let Some(inc) = req.get("include") {
        let ok = inc
            .as_array()
            .is_some_and(|a| a.iter().all(|v| v == "TAGS"));
        if !ok {
            return Err(invalid("include may only contain TAGS."));
        }
    }
    match s.express.get(arn) {
        Some(e) => Ok(json!({"service": express_service_json(e)})),
        None => Err(express_missing(s, arn)),
    }
}

fn update_express(s: &mut State_, req: &Value) -> Result<Value, ApiError> {
    let (region, account) = (s.region.clone(), s.account.clone());
    let Some(arn) = req.get("serviceArn").and_then(Value::as_str) else {
        return Err(invalid("serviceArn is required."));
    };
    if !s.express.contains_key(arn) {
        return Err(express_missing(s, arn));
    }
    if let Some(c) = req.get("primaryContainer")
        && c.get("image")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
    {
        return Err(invalid("primaryContainer.image is required."));
    }
    s.next_id += 1;
    let id = s.next_id;
    let State_ {
        express, decided, ..
    } = s;
    let e = express.get_mut(arn).unwrap();
    let now = now_epoch();
    // A new deployment stops the running one.
    for d in &mut e.deployments {
        if matches!(d.status, "PENDING" | "IN_PROGRESS") {
            d.status = "STOPPED";
            d.reason = Some(
                "Service deployment stopped because a newer service deployment started.".into(),
            );
            d.finished = Some(now);
            decided.push(Decided {
                service: e.name.clone(),
                deployment: d.arn.clone(),
                what: "STOPPED",
                at: Instant::now(),
            });
        }
    }
    let current = e.configs.last().cloned().unwrap();
    let revision = format!(
        "arn:aws:ecs:{region}:{account}:service-revision/{}/{}/{id:019}",
        e.cluster, e.name
    );
    let mut config = current.clone();
    for k in [
        "primaryContainer",
        "executionRoleArn",
        "taskRoleArn",
        "healthCheckPath",
        "networkConfiguration",
        "cpu",
        "memory",
        "cpuArchitecture",
        "scalingTarget",
    ] {
        if let Some(v) = req.get(k) {
            config[k] = v.clone();
        }
    }
    config["serviceRevisionArn"] = json!(revision);
    config["taskDefinitionArn"] = json!(format!(
        "arn:aws:ecs:{region}:{account}:task-definition/{}:{}",
        e.name,
        e.deployments.len() + 1
    ));
    config["createdAt"] = json!(now);
    // The previous configuration stays active while the canary shifts traffic.
    e.configs = vec![current.clone(), config.clone()];
    e.updated = now;
    let behaviour = e
        .script
        .pop_front()
        .unwrap_or(ExpressDeploy::Succeed(After::Polls(1)));
    e.deployments.insert(
        0,
        SvcDeployment {
            arn: format!(
                "arn:aws:ecs:{region}:{account}:service-deployment/{}/{}/{id:019}",
                e.cluster, e.name
            ),
            status: "IN_PROGRESS",
            reason: None,
            target: revision,
            source: Some(current),
            target_config: config.clone(),
            behaviour,
            polls: 0,
            created: now,
            started: Instant::now(),
            finished: None,
        },
    );
    Ok(json!({"service": {
        "serviceArn": e.arn,
        "cluster": format!("arn:aws:ecs:{region}:{account}:cluster/{}", e.cluster),
        "serviceName": e.name,
        "status": {"statusCode": "ACTIVE"},
        "targetConfiguration": config,
        "createdAt": e.created,
        "updatedAt": now,
    }}))
}

fn express_reached(after: After, d: &SvcDeployment) -> bool {
    match after {
        After::Polls(n) => d.polls >= n,
        After::Time(t) => d.started.elapsed() >= t,
    }
}

fn express_happened_at(after: After, d: &SvcDeployment) -> Instant {
    match after {
        After::Polls(_) => Instant::now(),
        After::Time(t) => d.started + t,
    }
}

/// One ListServiceDeployments observation of the Express service's running deployments.
fn tick_express(e: &mut ExpressSvc, decided: &mut Vec<Decided>) {
    let now = now_epoch();
    let mut active: Option<Vec<Value>> = None;
    for d in &mut e.deployments {
        match d.status {
            "ROLLBACK_IN_PROGRESS" => {
                d.status = "ROLLBACK_SUCCESSFUL";
                d.finished = Some(now);
                active = d.source.clone().map(|s| vec![s]);
                decided.push(Decided {
                    service: e.name.clone(),
                    deployment: d.arn.clone(),
                    what: "ROLLBACK_SUCCESSFUL",
                    at: Instant::now(),
                });
            }
            "IN_PROGRESS" => {
                d.polls += 1;
                match d.behaviour {
                    ExpressDeploy::Succeed(after) if express_reached(after, d) => {
                        d.status = "SUCCESSFUL";
                        d.finished = Some(now);
                        active = Some(vec![d.target_config.clone()]);
                        decided.push(Decided {
                            service: e.name.clone(),
                            deployment: d.arn.clone(),
                            what: "SUCCESSFUL",
                            at: express_happened_at(after, d),
                        });
                    }
                    ExpressDeploy::AlarmRollback(after) if express_reached(after, d) => {
                        d.status = "ROLLBACK_IN_PROGRESS";
                        d.reason = Some(format!(
                            "Service deployment rolled back because the CloudWatch alarm {}-deployment-alarm is in ALARM state.",
                            e.name
                        ));
                        decided.push(Decided {
                            service: e.name.clone(),
                            deployment: d.arn.clone(),
                            what: "ROLLBACK_IN_PROGRESS",
                            at: express_happened_at(after, d),
                        });
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    if let Some(a) = active {
        e.configs = a;
    }
}

fn list_service_deployments(s: &mut State_, req: &Value) -> Result<Value, ApiError> {
    let (region, account) = (s.region.clone(), s.account.clone());
    let Some(service) = req.get("service").and_then(Value::as_str) else {
        return Err(invalid("service is required."));
    };
    let cluster = req.get("cluster").and_then(Value::as_str);
    if let Some(c) = cluster
        && !s.services.values().any(|svc| cluster_matches(svc, c))
    {
        return Err(("ClusterNotFoundException", "Cluster not found.".into()));
    }
    let Some(arn) = find_express(s, service, cluster).map(str::to_owned) else {
        return Err(("ServiceNotFoundException", "Service not found.".into()));
    };
    let statuses: Option<Vec<String>> = req.get("status").and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    });
    // Timestamps are epoch seconds in awsJson1_1; anything else is a client bug.
    let after = req
        .pointer("/createdAt/after")
        .map(|v| v.as_f64().unwrap_or(f64::NAN));
    if after.is_some_and(f64::is_nan) {
        s.protocol_errors
            .push(format!("createdAt.after is not epoch seconds: {req}"));
        return Err(("SerializationException", "createdAt.after".into()));
    }
    let before = req.pointer("/createdAt/before").and_then(Value::as_f64);
    let max = req.get("maxResults").and_then(Value::as_u64).unwrap_or(20) as usize;
    if !(1..=100).contains(&max) {
        return Err(invalid("maxResults must be between 1 and 100."));
    }
    let start: usize = match req.get("nextToken").and_then(Value::as_str) {
        Some(t) => t.parse().map_err(|_| invalid("Invalid nextToken."))?,
        None => 0,
    };
    let State_ {
        express, decided, ..
    } = s;
    let e = express.get_mut(&arn).unwrap();
    tick_express(e, decided);
    let cluster_arn = format!("arn:aws:ecs:{region}:{account}:cluster/{}", e.cluster);
    let all: Vec<Value> = e
        .deployments
        .iter()
        .filter(|d| {
            statuses
                .as_ref()
                .is_none_or(|st| st.iter().any(|x| x == d.status))
        })
        .filter(|d| after.is_none_or(|a| d.created > a))
        .filter(|d| before.is_none_or(|b| d.created < b))
        .map(|d| {
            let mut b = json!({
                "serviceDeploymentArn": d.arn, "serviceArn": e.arn, "clusterArn": cluster_arn,
                "startedAt": d.created, "createdAt": d.created,
                "targetServiceRevisionArn": d.target, "status": d.status,
            });
            if let Some(f) = d.finished {
                b["finishedAt"] = json!(f);
            }
            if let Some(r) = &d.reason {
                b["statusReason"] = json!(r);
            }
            b
        })
        .collect();
    let page: Vec<Value> = all.iter().skip(start).take(max).cloned().collect();
    let mut out = json!({"serviceDeployments": page});
    if start + max < all.len() {
        out["nextToken"] = json!((start + max).to_string());
    }
    Ok(out)
}

/// DescribeServiceDeployments of Express services' deployments (`serviceDeploymentArns`, 1 to 20): each
/// owning service is observed once (as a ListServiceDeployments would), then the deployments are described;
/// an unknown ARN is a `failures` entry (`MISSING`).
fn describe_service_deployments(s: &mut State_, req: &Value) -> Result<Value, ApiError> {
    let (region, account) = (s.region.clone(), s.account.clone());
    let Some(arns) = req.get("serviceDeploymentArns").and_then(Value::as_array) else {
        return Err(invalid("serviceDeploymentArns is required."));
    };
    if arns.is_empty() || arns.len() > 20 {
        return Err(invalid(
            "serviceDeploymentArns must hold between 1 and 20 ARNs.",
        ));
    }
    let wanted: Vec<String> = arns
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    let State_ {
        express, decided, ..
    } = s;
    let mut found = Vec::new();
    let mut failures = Vec::new();
    for e in express.values_mut() {
        if e.deployments.iter().any(|d| wanted.contains(&d.arn)) {
            tick_express(e, decided);
        }
    }
    for arn in &wanted {
        let hit = express
            .values()
            .find_map(|e| e.deployments.iter().find(|d| &d.arn == arn).map(|d| (e, d)));
        match hit {
            Some((e, d)) => {
                let mut v = json!({
                    "serviceDeploymentArn": d.arn, "serviceArn": e.arn,
                    "clusterArn": format!("arn:aws:ecs:{region}:{account}:cluster/{}", e.cluster),
                    "createdAt": d.created, "startedAt": d.created, "updatedAt": now_epoch(),
                    "targetServiceRevision": {"arn": d.target},
                    "status": d.status,
                });
                if let Some(f) = d.finished {
                    v["finishedAt"] = json!(f);
                }
                if let Some(r) = &d.reason {
                    v["statusReason"] = json!(r);
                }
                found.push(v);
            }
            None => failures.push(json!({"arn": arn, "reason": "MISSING"})),
        }
    }
    Ok(json!({"serviceDeployments": found, "failures": failures}))
}

// ---- Previews: CreateService, DeleteService, UpdateService's desiredCount, ListTagsForResource,
// TagResource, UntagResource (tests/it/ecs_preview.rs). Shapes and errors as the ECS API reference gives
// them; service tags live in `State_::tags` under the service ARN.

/// What previews add to the fake.
#[derive(Debug, Default)]
struct PreviewState {
    /// Service name -> fields shown over `service_json` (loadBalancers, networkConfiguration, ...).
    extras: HashMap<String, Value>,
    /// Services deleted with DeleteService, in order (ECS lists them as MISSING afterwards).
    deleted: Vec<String>,
}

fn service_arn(cluster: &str, name: &str) -> String {
    format!("arn:aws:ecs:{REGION}:{ACCOUNT}:service/{cluster}/{name}")
}

/// `service_json` with the service's extra fields and its status.
fn overlay(s: &State_, name: &str, mut v: Value) -> Value {
    if let Some(Value::Object(extra)) = s.preview.extras.get(name) {
        for (k, x) in extra {
            v[k] = x.clone();
        }
    }
    v
}

fn scale(s: &mut State_, name: &str, desired: i32) {
    let svc = s.services.get_mut(name).unwrap();
    svc.desired = desired;
    if let Some(d) = svc.deployments.iter_mut().find(|d| d.status == "PRIMARY") {
        d.desired = desired;
        if d.rollout_state == "COMPLETED" {
            d.running = desired;
            d.pending = 0;
        }
    }
}

fn invalid_parameter(message: &str) -> ApiError {
    ("InvalidParameterException", message.to_owned())
}

impl FakeEcs {
    /// Shows `fields` over the service's DescribeServices entry (e.g. its `loadBalancers`).
    pub fn set_service_fields(&self, service: &str, fields: Value) {
        self.state
            .lock()
            .unwrap()
            .preview
            .extras
            .insert(service.to_owned(), fields);
    }

    /// The services that exist now, by name.
    pub fn service_names(&self) -> Vec<String> {
        self.state
            .lock()
            .unwrap()
            .services
            .keys()
            .cloned()
            .collect()
    }

    /// The services deleted so far, in order.
    pub fn deleted_services(&self) -> Vec<String> {
        self.state.lock().unwrap().preview.deleted.clone()
    }

    /// Sets one tag of a resource directly (no API call counted).
    pub fn set_tag(&self, arn: &str, key: &str, value: &str) {
        let mut s = self.state.lock().unwrap();
        let mut map = tag_map(s.tags.get(arn));
        map.insert(key.to_owned(), value.to_owned());
        s.tags.insert(
            arn.to_owned(),
            Value::Array(
                map.into_iter()
                    .map(|(k, v)| json!({"key": k, "value": v}))
                    .collect(),
            ),
        );
    }

    /// The tags of a resource, by key.
    pub fn tags_of(&self, arn: &str) -> BTreeMap<String, String> {
        tag_map(self.state.lock().unwrap().tags.get(arn))
    }

    /// A service as DescribeServices shows it now (without advancing it).
    pub fn service(&self, name: &str) -> Option<Value> {
        let s = self.state.lock().unwrap();
        s.services
            .get(name)
            .map(|svc| overlay(&s, name, service_json(svc)))
    }

    /// The ARN of a service of cluster `cluster`.
    pub fn service_arn(cluster: &str, name: &str) -> String {
        service_arn(cluster, name)
    }
}

fn tag_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| {
            Some((
                t["key"].as_str()?.to_owned(),
                t["value"].as_str().unwrap_or_default().to_owned(),
            ))
        })
        .collect()
}

fn valid_tags(tags: &Value) -> Result<(), ApiError> {
    for t in tags.as_array().into_iter().flatten() {
        let (Some(k), Some(v)) = (t["key"].as_str(), t["value"].as_str()) else {
            return Err(invalid_parameter("Tags must have a key and a value."));
        };
        let ok = |x: &str| {
            x.chars()
                .all(|c| c.is_alphanumeric() || c == ' ' || "+-=._:/@".contains(c))
        };
        if k.is_empty() || k.len() > 128 || v.len() > 256 || !ok(k) || !ok(v) {
            return Err(invalid_parameter(&format!(
                "The tag {k}={v} contains invalid characters or is too long."
            )));
        }
    }
    Ok(())
}

/// The service named by an ARN of this fake, when it exists.
fn service_of_arn(s: &State_, arn: &str) -> Option<String> {
    let (region, account) = (&s.region, &s.account);
    let rest = arn.strip_prefix(&format!("arn:aws:ecs:{region}:{account}:service/"))?;
    let (cluster, name) = rest.split_once('/')?;
    s.services
        .get(name)
        .filter(|svc| svc.cluster == cluster)
        .map(|svc| svc.name.clone())
}

fn known_resource(s: &State_, arn: &str) -> Result<(), ApiError> {
    if s.task_defs.contains_key(arn) || service_of_arn(s, arn).is_some() {
        Ok(())
    } else {
        Err(invalid_parameter("The specified resource is not found."))
    }
}

fn list_tags(s: &State_, req: &Value) -> Result<Value, ApiError> {
    let arn = req["resourceArn"].as_str().unwrap_or_default();
    known_resource(s, arn)?;
    Ok(json!({"tags": s.tags.get(arn).cloned().unwrap_or_else(|| json!([]))}))
}

fn tag_resource(s: &mut State_, req: &Value) -> Result<Value, ApiError> {
    let arn = req["resourceArn"].as_str().unwrap_or_default().to_owned();
    known_resource(s, &arn)?;
    let tags = req.get("tags").cloned().unwrap_or_else(|| json!([]));
    if tags.as_array().is_none_or(Vec::is_empty) {
        return Err(invalid_parameter("tags must not be empty."));
    }
    valid_tags(&tags)?;
    let mut map = tag_map(s.tags.get(&arn));
    map.extend(tag_map(Some(&tags)));
    s.tags.insert(
        arn,
        Value::Array(
            map.into_iter()
                .map(|(k, v)| json!({"key": k, "value": v}))
                .collect(),
        ),
    );
    Ok(json!({}))
}

fn untag_resource(s: &mut State_, req: &Value) -> Result<Value, ApiError> {
    let arn = req["resourceArn"].as_str().unwrap_or_default().to_owned();
    known_resource(s, &arn)?;
    let keys: Vec<&str> = req["tagKeys"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if keys.is_empty() {
        return Err(invalid_parameter("tagKeys must not be empty."));
    }
    let mut map = tag_map(s.tags.get(&arn));
    for k in keys {
        map.remove(k);
    }
    s.tags.insert(
        arn,
        Value::Array(
            map.into_iter()
                .map(|(k, v)| json!({"key": k, "value": v}))
                .collect(),
        ),
    );
    Ok(json!({}))
}

fn create_service(s: &mut State_, req: &Value) -> Result<Value, ApiError> {
    let cluster = req["cluster"].as_str().unwrap_or("default").to_owned();
    let cluster = cluster.rsplit('/').next().unwrap_or_default().to_owned();
    if !s.services.values().any(|svc| svc.cluster == cluster) {
        return Err(("ClusterNotFoundException", "Cluster not found.".into()));
    }
    let Some(name) = req["serviceName"].as_str().map(str::to_owned) else {
        return Err(invalid_parameter("serviceName is required."));
    };
    if s.services.contains_key(&name) {
        return Err(invalid_parameter("Creation of service was not idempotent."));
    }
    let Some(td) = req["taskDefinition"]
        .as_str()
        .and_then(|t| resolve_td(s, t))
    else {
        return Err(client_error("TaskDefinition not found."));
    };
    if req.get("launchType").is_some() && req.get("capacityProviderStrategy").is_some() {
        return Err(invalid_parameter(
            "Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again.",
        ));
    }
    let def = &s.task_defs[&td];
    if def["networkMode"] == "awsvpc" && req.get("networkConfiguration").is_none() {
        return Err(invalid_parameter(
            "Network Configuration must be provided when networkMode 'awsvpc' is specified.",
        ));
    }
    for lb in req["loadBalancers"].as_array().into_iter().flatten() {
        let container = lb["containerName"].as_str().unwrap_or_default();
        let exists = def["containerDefinitions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["name"] == container);
        if lb["targetGroupArn"].as_str().is_none() || lb["containerPort"].as_i64().is_none() {
            return Err(invalid_parameter(
                "targetGroupArn and containerPort are required for a load balancer.",
            ));
        }
        if !exists {
            return Err(invalid_parameter(&format!(
                "The container {container} does not exist in the task definition."
            )));
        }
    }
    if let Some(t) = req.get("tags") {
        valid_tags(t)?;
    }
    let desired = i32::try_from(req["desiredCount"].as_i64().unwrap_or(0)).unwrap();
    let cb = req["deploymentConfiguration"]["deploymentCircuitBreaker"]
        .as_object()
        .map(|c| {
            (
                c.get("enable").and_then(Value::as_bool).unwrap_or(false),
                c.get("rollback").and_then(Value::as_bool).unwrap_or(false),
            )
        });
    s.next_id += 1;
    let id = format!("ecs-svc/{:019}", s.next_id);
    let mut svc = Svc {
        name: name.clone(),
        cluster: cluster.clone(),
        task_definition: td.clone(),
        desired,
        circuit_breaker: cb,
        managed_by: "CUSTOMER",
        deployments: vec![Deployment {
            id,
            task_definition: td,
            status: "PRIMARY",
            rollout_state: "IN_PROGRESS",
            reason: "ECS deployment in progress.".into(),
            failed_tasks: 0,
            running: 0,
            pending: desired,
            desired,
            created: now_epoch(),
            started: Instant::now(),
            polls: 0,
            behaviour: Behaviour::complete_after_polls(1),
            drain_left: None,
        }],
        events: Vec::new(),
        script: VecDeque::new(),
        controller: "ECS",
    };
    let mut next_id = s.next_id;
    push_event(
        &mut svc,
        &mut next_id,
        format!("(service {name}) has started {desired} tasks: (task pending)."),
    );
    s.next_id = next_id;
    s.services.insert(name.clone(), svc);
    let mut extra = serde_json::Map::new();
    for k in [
        "loadBalancers",
        "networkConfiguration",
        "launchType",
        "capacityProviderStrategy",
        "platformVersion",
        "healthCheckGracePeriodSeconds",
        "propagateTags",
        "placementConstraints",
        "placementStrategy",
    ] {
        if let Some(v) = req.get(k) {
            extra.insert(k.to_owned(), v.clone());
        }
    }
    if req.get("capacityProviderStrategy").is_some() {
        extra.insert("launchType".into(), Value::Null);
    }
    s.preview.extras.insert(name.clone(), Value::Object(extra));
    if let Some(t) = req.get("tags") {
        s.tags.insert(service_arn(&cluster, &name), t.clone());
    }
    Ok(json!({"service": overlay(s, &name, service_json(&s.services[&name]))}))
}

fn delete_service(s: &mut State_, req: &Value) -> Result<Value, ApiError> {
    let cluster = req["cluster"].as_str().unwrap_or("default");
    let name = req["service"].as_str().unwrap_or_default();
    let name = name.rsplit('/').next().unwrap_or_default().to_owned();
    if !s
        .services
        .get(&name)
        .is_some_and(|svc| cluster_matches(svc, cluster))
    {
        return Err(("ServiceNotFoundException", "Service not found.".into()));
    }
    let force = req["force"].as_bool().unwrap_or(false);
    if s.services[&name].desired > 0 && !force {
        return Err(invalid_parameter(
            "The service cannot be stopped while it is scaled above 0.",
        ));
    }
    let mut v = overlay(s, &name, service_json(&s.services[&name]));
    v["status"] = json!("DRAINING");
    let svc = s.services.remove(&name).unwrap();
    s.tags.remove(&service_arn(&svc.cluster, &name));
    s.preview.extras.remove(&name);
    s.preview.deleted.push(name);
    Ok(json!({"service": v}))
}
