//! The AWS calls of a Lambda deploy, each counted and timed (the benchmark and the report show them).
//!
//! Every mutating Lambda call is followed by [`Api::wait_updated`], which polls `GetFunctionConfiguration`
//! until `LastUpdateStatus` is `Successful` (and `State` is `Active`), so the next call never meets
//! `ResourceConflictException: The operation cannot be performed at this time. An update is in progress`.
//! Polls start at 100 ms and grow to 2 s: a real update takes a few seconds, and the SDK's own
//! `FunctionUpdated` waiter would sleep at least 5 s between polls.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_sdk_lambda::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use crate::aws::call::CallError;
use aws_sdk_lambda::types::{
    AliasRoutingConfiguration, Environment, FunctionUrlAuthType, LastUpdateStatus, State,
};
use aws_smithy_types::Blob;

use super::LambdaError;
use crate::modes::deploy::poll::{self, Poller};

/// Total time allowed for one update to settle before the deploy fails.
pub const UPDATE_BUDGET: Duration = Duration::from_secs(600);

/// What the function looks like now.
#[derive(Clone, Debug, Default)]
pub struct Current {
    pub arn: String,
    pub code_sha256: String,
    pub package_type: String,
    pub image_uri: Option<String>,
    pub role: Option<String>,
    pub memory_size: Option<i32>,
    pub timeout: Option<i32>,
    pub handler: Option<String>,
    pub runtime: Option<String>,
    pub environment: BTreeMap<String, String>,
    pub revision_id: Option<String>,
    /// An update is still in progress (or the function is still being created).
    pub busy: bool,
}

/// Both `FunctionConfiguration` and `GetFunctionConfigurationOutput` have the same accessors.
macro_rules! current_from {
    ($c:expr) => {{
        let c = $c;
        Current {
            arn: c.function_arn().unwrap_or_default().to_owned(),
            code_sha256: c.code_sha256().unwrap_or_default().to_owned(),
            package_type: c
                .package_type()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_else(|| "Zip".to_owned()),
            image_uri: None,
            role: c.role().map(str::to_owned),
            memory_size: c.memory_size(),
            timeout: c.timeout(),
            handler: c.handler().map(str::to_owned),
            runtime: c.runtime().map(|r| r.as_str().to_owned()),
            environment: c
                .environment()
                .and_then(|e| e.variables())
                .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
            revision_id: c.revision_id().map(str::to_owned),
            busy: matches!(c.last_update_status(), Some(LastUpdateStatus::InProgress))
                || matches!(c.state(), Some(State::Pending)),
        }
    }};
}

/// The alias as found.
#[derive(Clone, Debug, PartialEq)]
pub struct AliasState {
    pub arn: String,
    pub version: String,
    /// Extra version and its weight (0..1) when traffic is split.
    pub routing: Option<(String, f64)>,
}

/// The changes applied by `UpdateFunctionConfiguration`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConfigUpdate {
    pub memory_size: Option<i32>,
    pub timeout: Option<i32>,
    pub handler: Option<String>,
    pub runtime: Option<String>,
    pub environment: Option<BTreeMap<String, String>>,
}

/// Where new code comes from, in `UpdateFunctionCode` terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CodeUpdate {
    Zip(Vec<u8>),
    S3 { bucket: String, key: String },
    Image(String),
}

/// Call counts and time spent inside AWS calls.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub calls: BTreeMap<&'static str, u32>,
    pub in_api: Duration,
}

impl Stats {
    #[must_use]
    pub fn total(&self) -> u32 {
        self.calls.values().sum()
    }
}

/// Clients for Lambda, CloudWatch and S3, with counters.
#[derive(Debug)]
pub struct Api {
    lambda: aws_sdk_lambda::Client,
    cloudwatch: super::cloudwatch::CloudWatch,
    s3: tokio::sync::OnceCell<crate::aws::s3::S3>,
    sdk: SdkConfig,
    pub function: String,
    stats: Mutex<Stats>,
    /// Built on first use: loading the platform's root certificates costs ~60 ms, wasted on deploys
    /// without alarms or a health URL.
    http: tokio::sync::OnceCell<reqwest::Client>,
    /// The run's roots and proxy for that client.
    net: crate::net::Net,
}

/// A call's answer, `None` when Lambda says the resource does not exist (`ResourceNotFoundException`).
fn found<T>(r: Result<T, CallError>) -> Result<Option<T>, LambdaError> {
    match r {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

impl Api {
    #[must_use]
    pub fn new(sdk: &SdkConfig, function: &str, net: crate::net::Net) -> Self {
        Self {
            // A configured Lambda endpoint wins over the FIPS and dual-stack flags.
            lambda: aws_sdk_lambda::Client::new(&crate::aws::endpoints::sdk_for(sdk, "Lambda")),
            cloudwatch: super::cloudwatch::CloudWatch::new(sdk),
            s3: tokio::sync::OnceCell::new(),
            sdk: sdk.clone(),
            function: function.to_owned(),
            stats: Mutex::new(Stats::default()),
            http: tokio::sync::OnceCell::new(),
            net,
        }
    }

    /// The HTTP client for CloudWatch and the health URL (no redirects followed; timeouts per request).
    pub async fn http(&self) -> Result<&reqwest::Client, LambdaError> {
        self.http
            .get_or_try_init(|| async {
                self.net
                    .reqwest()
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .map_err(|e| LambdaError::Http {
                        message: e.to_string(),
                    })
            })
            .await
    }

    /// A copy of the counters.
    #[must_use]
    pub fn stats(&self) -> Stats {
        self.stats.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// One Lambda call: counted and timed; its failure a [`CallError`] on the function. Boxed: the SDK's
    /// request futures are large, and held inline in every caller's state they overflowed the 2 MiB
    /// stack of a debug-build test thread.
    fn call<'a, T, E>(
        &'a self,
        op: &'static str,
        fut: impl Future<Output = Result<T, SdkError<E, HttpResponse>>> + Send + 'a,
    ) -> futures_util::future::BoxFuture<'a, Result<T, CallError>>
    where
        T: Send + 'a,
        E: ProvideErrorMetadata + std::error::Error + Send + 'static,
    {
        Box::pin(async move {
            self.timed(op, fut)
                .await
                .map_err(|e| CallError::from_sdk("Lambda", op, &self.function, &e))
        })
    }

    async fn timed<T>(&self, op: &'static str, fut: impl Future<Output = T>) -> T {
        let start = Instant::now();
        let out = fut.await;
        if let Ok(mut s) = self.stats.lock() {
            *s.calls.entry(op).or_default() += 1;
            s.in_api += start.elapsed();
        }
        out
    }

    /// `GetFunction`: configuration and code location; `None` when the function does not exist.
    pub async fn get_function(&self) -> Result<Option<Current>, LambdaError> {
        let r = self
            .call(
                "GetFunction",
                self.lambda
                    .get_function()
                    .function_name(&self.function)
                    .send(),
            )
            .await;
        match found(r)? {
            Some(out) => {
                let Some(cfg) = out.configuration() else {
                    return Ok(None);
                };
                let mut cur = current_from!(cfg);
                cur.image_uri = out.code().and_then(|c| c.image_uri()).map(str::to_owned);
                Ok(Some(cur))
            }
            None => Ok(None),
        }
    }

    /// Polls until the last update of `qualifier` (`None` = `$LATEST`) succeeded and the function is
    /// active; fails with Lambda's reason when it failed. One GetFunctionConfiguration a second
    /// ([`crate::modes::deploy::poll`]): the settled function is seen within 1 s.
    pub async fn wait_updated(&self, qualifier: Option<&str>) -> Result<Current, LambdaError> {
        let start = Instant::now();
        let mut poller = Poller::new(poll::GAP);
        loop {
            poller.started();
            let r = self.configuration(qualifier).await?;
            let update = r.last_update_status();
            let state = r.state();
            if matches!(update, Some(LastUpdateStatus::Failed)) {
                return Err(LambdaError::UpdateFailed {
                    function: self.function.clone(),
                    what: "LastUpdateStatus",
                    status: "Failed".into(),
                    reason: format!(
                        "{} {}",
                        r.last_update_status_reason_code()
                            .map(|c| c.as_str())
                            .unwrap_or_default(),
                        r.last_update_status_reason().unwrap_or_default()
                    )
                    .trim()
                    .to_owned(),
                });
            }
            if matches!(state, Some(State::Failed | State::Inactive)) {
                return Err(LambdaError::UpdateFailed {
                    function: self.function.clone(),
                    what: "State",
                    status: state.map(|s| s.as_str().to_owned()).unwrap_or_default(),
                    reason: r.state_reason().unwrap_or_default().to_owned(),
                });
            }
            // `LastUpdateStatus` is absent right after creation; `State` then tells.
            let settled = matches!(update, None | Some(LastUpdateStatus::Successful))
                && matches!(state, None | Some(State::Active));
            if settled {
                return Ok(current_from!(&r));
            }
            if start.elapsed() > UPDATE_BUDGET {
                return Err(LambdaError::WaitTimeout {
                    function: self.function.clone(),
                    waited: start.elapsed(),
                    status: format!(
                        "State {}, LastUpdateStatus {}",
                        state.map_or("-", |s| s.as_str()),
                        update.map_or("-", |s| s.as_str())
                    ),
                });
            }
            poller.sleep().await;
        }
    }

    /// `UpdateFunctionConfiguration` with only the changed fields, then waits.
    pub async fn update_configuration(
        &self,
        u: &ConfigUpdate,
        revision_id: Option<&str>,
    ) -> Result<Current, LambdaError> {
        let mut req = self
            .lambda
            .update_function_configuration()
            .function_name(&self.function)
            .set_memory_size(u.memory_size)
            .set_timeout(u.timeout)
            .set_handler(u.handler.clone())
            .set_runtime(
                u.runtime
                    .as_deref()
                    .map(aws_sdk_lambda::types::Runtime::from),
            )
            .set_revision_id(revision_id.map(str::to_owned));
        if let Some(env) = &u.environment {
            req = req.environment(
                Environment::builder()
                    .set_variables(Some(env.clone().into_iter().collect::<HashMap<_, _>>()))
                    .build(),
            );
        }
        self.call("UpdateFunctionConfiguration", req.send()).await?;
        self.wait_updated(None).await
    }

    /// `UpdateFunctionCode`, then waits. Returns the settled configuration (with the new `CodeSha256`).
    pub async fn update_code(
        &self,
        code: &CodeUpdate,
        revision_id: Option<&str>,
    ) -> Result<Current, LambdaError> {
        let req = self
            .lambda
            .update_function_code()
            .function_name(&self.function)
            .set_revision_id(revision_id.map(str::to_owned));
        let req = match code {
            CodeUpdate::Zip(bytes) => req.zip_file(Blob::new(bytes.clone())),
            CodeUpdate::S3 { bucket, key } => req.s3_bucket(bucket).s3_key(key),
            CodeUpdate::Image(uri) => req.image_uri(uri),
        };
        self.call("UpdateFunctionCode", req.send()).await?;
        self.wait_updated(None).await
    }

    /// `PublishVersion` guarded by the code hash we expect (Lambda refuses when `$LATEST` changed under
    /// us); Lambda returns the latest version unchanged when nothing changed since it. Waits until the
    /// version is active.
    pub async fn publish_version(
        &self,
        code_sha256: &str,
        description: &str,
    ) -> Result<String, LambdaError> {
        let out = self
            .call(
                "PublishVersion",
                self.lambda
                    .publish_version()
                    .function_name(&self.function)
                    .code_sha256(code_sha256)
                    .description(description)
                    .send(),
            )
            .await?;
        let version = out.version().unwrap_or_default().to_owned();
        if version.is_empty() || version == "$LATEST" {
            return Err(LambdaError::UpdateFailed {
                function: self.function.clone(),
                what: "PublishVersion",
                status: "no version".into(),
                reason: "Lambda answered without a version number".into(),
            });
        }
        self.wait_updated(Some(&version)).await?;
        Ok(version)
    }

    /// `GetFunctionConfiguration` of `qualifier` (`None`: `$LATEST`).
    async fn configuration(
        &self,
        qualifier: Option<&str>,
    ) -> Result<
        aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput,
        CallError,
    > {
        self.call(
            "GetFunctionConfiguration",
            self.lambda
                .get_function_configuration()
                .function_name(&self.function)
                .set_qualifier(qualifier.map(str::to_owned))
                .send(),
        )
        .await
    }

    /// The code hash (`CodeSha256`) of published `version`; `None` when the version does not exist.
    pub async fn version_code_sha256(&self, version: &str) -> Result<Option<String>, LambdaError> {
        let out = found(self.configuration(Some(version)).await)?;
        Ok(out.map(|o| o.code_sha256().unwrap_or_default().to_owned()))
    }

    /// The role of one version (weighted aliases need the same execution role on both versions).
    pub async fn role_of(&self, version: &str) -> Result<Option<String>, LambdaError> {
        let r = self.configuration(Some(version)).await?;
        Ok(r.role().map(str::to_owned))
    }

    /// `GetAlias`; `None` when it does not exist.
    pub async fn get_alias(&self, alias: &str) -> Result<Option<AliasState>, LambdaError> {
        let r = self
            .call(
                "GetAlias",
                self.lambda
                    .get_alias()
                    .function_name(&self.function)
                    .name(alias)
                    .send(),
            )
            .await;
        Ok(found(r)?.map(|a| AliasState {
            arn: a.alias_arn().unwrap_or_default().to_owned(),
            version: a.function_version().unwrap_or_default().to_owned(),
            routing: a
                .routing_config()
                .and_then(|r| r.additional_version_weights())
                .and_then(|w| w.iter().next().map(|(v, w)| (v.clone(), *w))),
        }))
    }

    /// `CreateAlias` pointing at `version`.
    pub async fn create_alias(
        &self,
        alias: &str,
        version: &str,
    ) -> Result<AliasState, LambdaError> {
        let a = self
            .call(
                "CreateAlias",
                self.lambda
                    .create_alias()
                    .function_name(&self.function)
                    .name(alias)
                    .function_version(version)
                    .description("managed by stevedore")
                    .send(),
            )
            .await?;
        Ok(AliasState {
            arn: a.alias_arn().unwrap_or_default().to_owned(),
            version: version.to_owned(),
            routing: None,
        })
    }

    /// `UpdateAlias`: `primary` gets the rest of the traffic, `extra` (version, weight 0..1) its share.
    /// `extra = None` clears the routing configuration (all traffic on `primary`).
    pub async fn update_alias(
        &self,
        alias: &str,
        primary: &str,
        extra: Option<(&str, f64)>,
    ) -> Result<AliasState, LambdaError> {
        let weights: HashMap<String, f64> =
            extra.iter().map(|(v, w)| ((*v).to_owned(), *w)).collect();
        let a = self
            .call(
                "UpdateAlias",
                self.lambda
                    .update_alias()
                    .function_name(&self.function)
                    .name(alias)
                    .function_version(primary)
                    .routing_config(
                        AliasRoutingConfiguration::builder()
                            .set_additional_version_weights(Some(weights))
                            .build(),
                    )
                    .send(),
            )
            .await?;
        Ok(AliasState {
            arn: a.alias_arn().unwrap_or_default().to_owned(),
            version: primary.to_owned(),
            routing: extra.map(|(v, w)| (v.to_owned(), w)),
        })
    }

    /// `DeleteAlias`; `false` when it did not exist.
    pub async fn delete_alias(&self, alias: &str) -> Result<bool, LambdaError> {
        let r = self
            .call(
                "DeleteAlias",
                self.lambda
                    .delete_alias()
                    .function_name(&self.function)
                    .name(alias)
                    .send(),
            )
            .await;
        Ok(found(r)?.is_some())
    }

    /// `GetFunctionUrlConfig` of `qualifier`: (URL, auth type); `None` when it has none.
    pub async fn get_url(&self, qualifier: &str) -> Result<Option<(String, String)>, LambdaError> {
        let r = self
            .call(
                "GetFunctionUrlConfig",
                self.lambda
                    .get_function_url_config()
                    .function_name(&self.function)
                    .qualifier(qualifier)
                    .send(),
            )
            .await;
        Ok(found(r)?.map(|c| {
            (
                c.function_url().to_owned(),
                c.auth_type().as_str().to_owned(),
            )
        }))
    }

    /// `CreateFunctionUrlConfig` for `qualifier` with `auth_type` (`AWS_IAM` or `NONE`); the URL.
    pub async fn create_url(
        &self,
        qualifier: &str,
        auth_type: &str,
    ) -> Result<String, LambdaError> {
        let c = self
            .call(
                "CreateFunctionUrlConfig",
                self.lambda
                    .create_function_url_config()
                    .function_name(&self.function)
                    .qualifier(qualifier)
                    .auth_type(FunctionUrlAuthType::from(auth_type))
                    .send(),
            )
            .await?;
        Ok(c.function_url().to_owned())
    }

    /// `UpdateFunctionUrlConfig`: a new auth type for `qualifier`'s URL.
    pub async fn update_url(
        &self,
        qualifier: &str,
        auth_type: &str,
    ) -> Result<String, LambdaError> {
        let c = self
            .call(
                "UpdateFunctionUrlConfig",
                self.lambda
                    .update_function_url_config()
                    .function_name(&self.function)
                    .qualifier(qualifier)
                    .auth_type(FunctionUrlAuthType::from(auth_type))
                    .send(),
            )
            .await?;
        Ok(c.function_url().to_owned())
    }

    /// `DeleteFunctionUrlConfig` of `qualifier`; `false` when there was none.
    pub async fn delete_url(&self, qualifier: &str) -> Result<bool, LambdaError> {
        let r = self
            .call(
                "DeleteFunctionUrlConfig",
                self.lambda
                    .delete_function_url_config()
                    .function_name(&self.function)
                    .qualifier(qualifier)
                    .send(),
            )
            .await;
        Ok(found(r)?.is_some())
    }

    /// `AddPermission` on `qualifier`; an existing statement with the same id is fine
    /// (`ResourceConflictException`).
    pub async fn add_url_permission(
        &self,
        qualifier: &str,
        statement_id: &str,
        action: &str,
        via_url: bool,
    ) -> Result<(), LambdaError> {
        let mut req = self
            .lambda
            .add_permission()
            .function_name(&self.function)
            .qualifier(qualifier)
            .statement_id(statement_id)
            .action(action)
            .principal("*");
        req = if via_url {
            req.invoked_via_function_url(true)
        } else {
            req.function_url_auth_type(FunctionUrlAuthType::None)
        };
        match self.call("AddPermission", req.send()).await {
            Ok(_) => Ok(()),
            Err(e) if e.code.as_deref() == Some("ResourceConflictException") => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// `RemovePermission` on `qualifier`; a missing statement or alias is fine.
    pub async fn remove_permission(
        &self,
        qualifier: &str,
        statement_id: &str,
    ) -> Result<(), LambdaError> {
        let r = self
            .call(
                "RemovePermission",
                self.lambda
                    .remove_permission()
                    .function_name(&self.function)
                    .qualifier(qualifier)
                    .statement_id(statement_id)
                    .send(),
            )
            .await;
        found(r)?;
        Ok(())
    }

    /// `ListTags` of the function (unqualified ARN).
    pub async fn tags(&self, function_arn: &str) -> Result<BTreeMap<String, String>, LambdaError> {
        let r = self
            .call(
                "ListTags",
                self.lambda.list_tags().resource(function_arn).send(),
            )
            .await?;
        Ok(r.tags()
            .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default())
    }

    /// `TagResource` on the function: one tag.
    pub async fn tag(&self, function_arn: &str, key: &str, value: &str) -> Result<(), LambdaError> {
        self.call(
            "TagResource",
            self.lambda
                .tag_resource()
                .resource(function_arn)
                .tags(key, value)
                .send(),
        )
        .await?;
        Ok(())
    }

    /// `UntagResource` on the function: one key.
    pub async fn untag(&self, function_arn: &str, key: &str) -> Result<(), LambdaError> {
        self.call(
            "UntagResource",
            self.lambda
                .untag_resource()
                .resource(function_arn)
                .tag_keys(key)
                .send(),
        )
        .await?;
        Ok(())
    }

    /// Invokes `version` with `payload`: `Ok(Err(..))` when the function reported an error.
    pub async fn invoke(
        &self,
        version: &str,
        payload: &str,
    ) -> Result<Result<String, String>, LambdaError> {
        let r = self
            .call(
                "Invoke",
                self.lambda
                    .invoke()
                    .function_name(&self.function)
                    .qualifier(version)
                    .payload(Blob::new(payload.as_bytes().to_vec()))
                    .send(),
            )
            .await?;
        let body = r
            .payload()
            .map(|p| String::from_utf8_lossy(p.as_ref()).into_owned())
            .unwrap_or_default();
        Ok(match r.function_error() {
            Some(kind) => Err(format!("{kind}: {}", crate::report::excerpt(&body))),
            None => Ok(crate::report::excerpt(&body)),
        })
    }

    /// Names of the given alarms currently in ALARM, and names that do not exist.
    pub async fn alarms(&self, names: &[String]) -> Result<AlarmStates, LambdaError> {
        let mut states = AlarmStates::default();
        // DescribeAlarms takes at most 100 names per call.
        for chunk in names.chunks(100) {
            let alarms = self
                .timed(
                    "DescribeAlarms",
                    self.cloudwatch.describe_alarms(self.http().await?, chunk),
                )
                .await?;
            for a in alarms {
                if a.state == "ALARM" {
                    states.in_alarm.push(a.name.clone());
                }
                states.found.push(a.name);
            }
        }
        states.missing = names
            .iter()
            .filter(|n| !states.found.contains(n))
            .cloned()
            .collect();
        Ok(states)
    }

    /// The S3 client (built on first use, on the HTTP client of [`Api::http`]).
    async fn s3(&self) -> Result<&crate::aws::s3::S3, LambdaError> {
        let http = self.http().await?.clone();
        Ok(self
            .s3
            .get_or_init(|| async { crate::aws::s3::S3::new(&self.sdk, http) })
            .await)
    }

    /// `HeadObject` with checksums: the object's full-object SHA-256 (base64, as Lambda's `CodeSha256`)
    /// when S3 has one.
    pub async fn s3_sha256(&self, bucket: &str, key: &str) -> Result<Option<String>, LambdaError> {
        let s3 = self.s3().await?;
        let head = self
            .timed("HeadObject", s3.head(bucket, key))
            .await?
            .ok_or_else(|| {
                LambdaError::from(crate::aws::call::CallError {
                    service: "S3",
                    op: "HeadObject",
                    resource: format!("s3://{bucket}/{key}"),
                    code: Some("NoSuchKey".into()),
                    status: Some(404),
                    message: "HTTP 404: NoSuchKey: there is no such object".into(),
                    transient: false,
                })
            })?;
        Ok(head.full_object_sha256().map(str::to_owned))
    }

    /// `GetObject`, the whole body (Lambda code from S3 is at most 250 MB unzipped, typically a few MB).
    pub async fn s3_get(&self, bucket: &str, key: &str) -> Result<Vec<u8>, LambdaError> {
        let s3 = self.s3().await?;
        Ok(self.timed("GetObject", s3.get(bucket, key)).await?)
    }
}

/// The result of one `DescribeAlarms` round.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AlarmStates {
    pub found: Vec<String>,
    pub in_alarm: Vec<String>,
    pub missing: Vec<String>,
}
