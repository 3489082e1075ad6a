//! `deploy` mode, Lambda: update code and configuration, publish a version, move the alias with
//! canary/linear/all-at-once traffic shifting while watching health, and roll the alias back on failure
//! or cancellation.
//!
//! Order of calls (each mutating call waits for `LastUpdateStatus: Successful` before the next, see
//! [`api`]):
//!
//! 1. `GetFunction` (current code hash and configuration), `DescribeAlarms` (the alarms exist and none is
//!    in ALARM yet), `GetAlias` (the version serving now = the rollback target).
//! 2. `UpdateFunctionConfiguration` with only the fields that differ; `UpdateFunctionCode` only when the
//!    code hash differs from the deployed `CodeSha256` (zip: SHA-256 of the file; S3: the object's
//!    full-object SHA-256 checksum when S3 has one, else the object is downloaded and hashed; image: the
//!    `@sha256:` digest of the URI; a tag-only image URI is always sent, tags being mutable).
//! 3. `PublishVersion` guarded by the expected `CodeSha256` (Lambda returns the existing version when
//!    nothing changed, so a re-run after a rollback shifts the same version again).
//! 4. Optional test invocation of the new version before any traffic moves.
//! 5. `UpdateAlias` through the steps of [`traffic::Traffic`], with a health round every
//!    `health-interval` during each bake and one after the final shift; the first failing round, or the
//!    runner's cancellation, puts the alias back on the previous version with one `UpdateAlias`.
//!
//! AWS behaviour this relies on: an alias routes to one primary version plus at most one extra version
//! with a weight in 0..1 (`RoutingConfig.AdditionalVersionWeights`); both must be published versions
//! with the same execution role.

pub mod api;
pub mod cloudwatch;
pub mod health;
pub mod report;
pub mod traffic;

use crate::inputs::Input;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use base64::Engine as _;
use sha2::Digest as _;

use crate::cancel::Cancel;
use crate::inputs::{Inputs, Recorded};
use crate::modes::runtime::{ModeError, Runtime};
use crate::report::Report;

use api::{AlarmStates, AliasState, Api, CodeUpdate, ConfigUpdate, Current, Stats};
use health::{Checker, HealthConfig, Outcome};
use traffic::Traffic;

/// Where the new code comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CodeSource {
    /// `zip-file`, resolved against the workspace.
    Zip(PathBuf),
    /// `s3-bucket` + `s3-key`.
    S3 { bucket: String, key: String },
    /// `image` (a container image URI).
    Image(String),
}

/// Configuration fields the action manages; `None` leaves the function's value alone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    /// `memory-size` in MB.
    pub memory_size: Option<i32>,
    /// `function-timeout` in seconds.
    pub timeout: Option<i32>,
    pub handler: Option<String>,
    pub runtime: Option<String>,
    /// `environment-variables`: the complete set (Lambda replaces all variables at once).
    pub environment: Option<BTreeMap<String, String>>,
}

/// Inputs of a Lambda deploy.
#[derive(Clone, Debug)]
pub struct LambdaConfig {
    /// Region, role, environment and trigger policy (`crate::aws`).
    pub aws: crate::aws::AwsInputs,
    pub function_name: String,
    pub alias: String,
    /// `None`: configuration-only deploy (publishes what `$LATEST` holds).
    pub code: Option<CodeSource>,
    pub settings: Settings,
    pub traffic: Traffic,
    pub health: HealthConfig,
    /// `event-rules`: the EventBridge rules whose target is the alias, synced after it moved
    /// (`None`: not given, rules left alone).
    pub event_rules: Option<Vec<crate::event_rules::EventRule>>,
    /// `s3-bucket` in a promotion (`promote-from`): where a release of another account is copied.
    pub promote_bucket: Option<String>,
    /// The code hash the new version must have (a promotion across accounts: the source's). The code
    /// is then not read to know its hash, and an update that ends with another hash is refused before
    /// publishing; the published version is checked too.
    pub expect_code_sha256: Option<String>,
}

impl LambdaConfig {
    /// Reads the Lambda inputs, collecting every error in `p`. `function_name` is `function-name` as
    /// `deploy::Config::parse` read it, or the error it recorded for its absence: the other inputs are
    /// still read (their errors reported too) and that error returned. With `promote` (`promote-from`
    /// given), `s3-bucket` is where a release of another account is copied, not a code source.
    pub fn parse(
        p: &mut Inputs<'_>,
        function_name: Result<String, Recorded>,
        promote: bool,
    ) -> Result<LambdaConfig, Recorded> {
        let alias = p.string(Input::Alias).unwrap_or_else(|| "live".to_owned());
        let zip = p.string(Input::ZipFile);
        let mut bucket = p.string(Input::S3Bucket);
        let promote_bucket = if promote { bucket.take() } else { None };
        // With `promote-from`, `s3-key` is refused by its parser (a promotion keeps the recorded key).
        let key = p.string(Input::S3Key).filter(|_| !promote);
        let image = p.string(Input::Image);
        if let Some(i) = &image {
            super::image::check_image(p, i);
        }
        let traffic = p
            .parse_with(Input::Traffic, Traffic::fix(), Traffic::parse)
            .unwrap_or(Traffic::AllAtOnce);
        let alarms = p.list(Input::Alarms);
        let (url, status) = super::health::parse_health(p, "https://api.example.com/health");
        let payload = p.parse_with(
            Input::TestPayload,
            "Use a JSON document, e.g. `test-payload: '{\"ping\": true}'`",
            |v| {
                serde_json::from_str::<serde_json::Value>(v)
                    .map(|_| v.trim().to_owned())
                    .map_err(|e| format!("is not JSON ({e})"))
            },
        );
        let interval = p.duration(Input::HealthInterval, Duration::from_secs(10));
        let memory_size = p
            .integer(Input::MemorySize, 128..=10_240, Some(128))
            .and_then(|v| i32::try_from(v).ok());
        let timeout = p
            .integer(Input::FunctionTimeout, 1..=900, Some(3))
            .and_then(|v| i32::try_from(v).ok());
        let handler = p.string(Input::Handler);
        let runtime = p.string(Input::Runtime);
        let environment = p.parse_with(
            Input::EnvironmentVariables,
            "Use one `KEY=value` per line, e.g. `environment-variables: |\\n  LOG_LEVEL=info`",
            parse_environment,
        );

        let function_name = function_name?;
        let aws = crate::aws::AwsInputs::parse(p);
        if interval.is_zero() {
            p.error(
                Input::HealthInterval,
                Some("0"),
                "must be longer than zero",
                "e.g. `health-interval: 10s`",
            );
        }
        if !valid_alias(&alias) {
            p.error(
                Input::Alias,
                Some(&alias),
                "is not a Lambda alias name (1-128 of letters, digits, `-`, `_`, not only digits)",
                "e.g. `alias: live`",
            );
        }
        let code = match (zip, bucket, key, image) {
            (None, None, None, None) => None,
            (Some(z), None, None, None) => Some(CodeSource::Zip(p.env().workspace().join(z))),
            (None, Some(bucket), Some(key), None) => Some(CodeSource::S3 { bucket, key }),
            (None, Some(b), None, None) => {
                p.missing(Input::S3Key, "with `s3-bucket`", "builds/app.zip");
                Some(CodeSource::S3 {
                    bucket: b,
                    key: String::new(),
                })
            }
            (None, None, Some(k), None) => {
                p.missing(Input::S3Bucket, "with `s3-key`", "my-artifacts");
                Some(CodeSource::S3 {
                    bucket: String::new(),
                    key: k,
                })
            }
            (None, None, None, Some(i)) => Some(CodeSource::Image(i)),
            (z, b, k, i) => {
                let given: Vec<&str> = [
                    z.as_ref().map(|_| "zip-file"),
                    b.as_ref().or(k.as_ref()).map(|_| "s3-bucket/s3-key"),
                    i.as_ref().map(|_| "image"),
                ]
                .into_iter()
                .flatten()
                .collect();
                p.error(
                    Input::ZipFile,
                    None,
                    format!(
                        "only one code source may be given, got {}",
                        given.join(" and ")
                    ),
                    "Keep one of `zip-file`, `s3-bucket` + `s3-key` or `image`",
                );
                None
            }
        };
        Ok(LambdaConfig {
            aws,
            function_name,
            alias,
            code,
            settings: Settings {
                memory_size,
                timeout,
                handler,
                runtime,
                environment,
            },
            traffic,
            health: HealthConfig {
                alarms,
                url,
                status,
                payload,
                samples: Vec::new(),
                interval,
            },
            // Set by `deploy::Config::parse`, which reads `event-rules` once ([`parse_event_rules`]).
            event_rules: None,
            promote_bucket,
            expect_code_sha256: None,
        })
    }
}

/// EventBridge's largest event (PutEvents: 256 KiB an entry).
const MAX_SAMPLE_EVENT: u64 = 256 * 1024;

/// The `sample-event` files of `event-rules`, read from the workspace before anything is changed: each a
/// JSON object of at most 256 KiB (what EventBridge could deliver). Every problem at once.
///
/// # Errors
/// [`ModeError::Config`] (exit 2) naming each rule whose file is missing, too large or not a JSON object.
fn sample_events(rt: &Runtime<'_>, cfg: &LambdaConfig) -> Result<Vec<(String, String)>, ModeError> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for rule in cfg.event_rules.iter().flatten() {
        let Some(path) = &rule.sample_event else {
            continue;
        };
        let file = rt.env.workspace().join(path);
        let shown = crate::report::markdown::code_span(path);
        let read = std::fs::metadata(&file)
            .map_err(|e| format!("cannot be read ({e})"))
            .and_then(|m| {
                if m.len() > MAX_SAMPLE_EVENT {
                    Err(format!(
                        "is {} bytes, more than an EventBridge event can be (256 KiB)",
                        m.len()
                    ))
                } else {
                    std::fs::read_to_string(&file).map_err(|e| format!("cannot be read ({e})"))
                }
            })
            .and_then(
                |text| match serde_json::from_str::<serde_json::Value>(&text) {
                    Ok(serde_json::Value::Object(_)) => Ok(text.trim().to_owned()),
                    Ok(_) => Err("is JSON but not an object (an event is a JSON object)".into()),
                    Err(e) => Err(format!("is not JSON ({e})")),
                },
            );
        match read {
            Ok(event) => out.push((rule.name.clone(), event)),
            Err(why) => problems.push(format!(
                "rule `{}`: its sample-event {shown} {why}",
                rule.name
            )),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(ModeError::Config {
            message: format!("input `event-rules`: {}", problems.join("; ")),
            hint: Some("`sample-event` is a path relative to the workspace, to an event as EventBridge delivers it (a JSON object); nothing was deployed".into()),
        })
    }
}

/// Parses `event-rules` (`raw`, as `deploy::Config::parse` read it), recording each problem.
pub fn parse_event_rules(
    p: &mut Inputs<'_>,
    raw: Option<&str>,
) -> Option<Vec<crate::event_rules::EventRule>> {
    match crate::event_rules::parse(raw?) {
        Ok(rules) => Some(rules),
        Err(errors) => {
            for e in errors {
                p.error(Input::EventRules, e.value.as_deref(), e.problem, e.fix);
            }
            None
        }
    }
}

/// `^(?!^[0-9]+$)([a-zA-Z0-9-_]+)$`, 1 to 128 characters.
fn valid_alias(a: &str) -> bool {
    (1..=128).contains(&a.len())
        && a.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && !a.chars().all(|c| c.is_ascii_digit())
}

/// `KEY=value` lines; blank lines and `#` comments skipped. Keys as Lambda requires: a letter, then
/// letters, digits or `_`.
fn parse_environment(v: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for (i, line) in v.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((k, val)) = line.split_once('=') else {
            return Err(format!("line {} has no `=` (expected `KEY=value`)", i + 1));
        };
        let k = k.trim();
        let key_ok = k.starts_with(|c: char| c.is_ascii_alphabetic())
            && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !key_ok {
            return Err(format!(
                "line {}: `{k}` is not a valid variable name (a letter, then letters, digits or `_`)",
                i + 1
            ));
        }
        if out.insert(k.to_owned(), val.to_owned()).is_some() {
            return Err(format!("line {}: `{k}` is set twice", i + 1));
        }
    }
    Ok(out)
}

/// Errors of the Lambda deploy.
#[derive(Debug, thiserror::Error)]
pub enum LambdaError {
    /// A Lambda, CloudWatch or S3 call failed: the code and status stay typed.
    #[error("{0}")]
    Aws(#[from] crate::aws::call::CallError),
    #[error("Lambda function `{function}` does not exist in this account and region")]
    FunctionNotFound { function: String },
    #[error("Lambda function `{function}`: {what} is {status}: {reason}")]
    UpdateFailed {
        function: String,
        what: &'static str,
        status: String,
        reason: String,
    },
    #[error("Lambda function `{function}` was still updating after {waited:?} ({status})")]
    WaitTimeout {
        function: String,
        waited: Duration,
        status: String,
    },
    #[error("cannot read `zip-file` {path}: {source}")]
    ReadZip {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("CloudWatch alarm(s) named in `alarms` do not exist: {}", names.join(", "))]
    AlarmsMissing { names: Vec<String> },
    #[error("CloudWatch alarm(s) already in ALARM before the deploy: {}", names.join(", "))]
    AlarmsFiring { names: Vec<String> },
    #[error("alias `{alias}` points at $LATEST, which cannot take part in weighted routing")]
    AliasOnLatest { alias: String },
    #[error(
        "versions {previous} and {version} have different execution roles ({previous_role} vs {role}); Lambda cannot split traffic between them"
    )]
    RoleMismatch {
        previous: String,
        version: String,
        previous_role: String,
        role: String,
    },
    #[error("function `{function}` has package type {actual}, but {input} gives {wanted} code")]
    PackageType {
        function: String,
        actual: String,
        wanted: &'static str,
        input: &'static str,
    },
    #[error("cannot build the HTTP client for `health-url`: {message}")]
    Http { message: String },
    /// The `event-rules` sync after the alias moved.
    #[error("`event-rules`: {0}")]
    EventRules(#[from] crate::event_rules::EventRulesError),
    /// A promotion across accounts: the code deployed is not the source's.
    #[error(
        "Lambda function `{function}`{}: code hash `{got}`, not the promoted release's `{want}`",
        version.as_ref().map(|v| format!(" version {v}")).unwrap_or_else(|| " (`$LATEST` after the update)".into())
    )]
    CodeHashDiffers {
        function: String,
        version: Option<String>,
        got: String,
        want: String,
    },
    #[error(
        "version {version} of Lambda function `{function}`, which the deployment to restore recorded, cannot be read: {message}"
    )]
    VersionMissing {
        function: String,
        version: String,
        message: String,
    },
}

impl LambdaError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            LambdaError::Aws(e) if e.service == "S3" && e.is_access_denied() => format!(
                "The role needs `s3:GetObject` on `{}` (HeadObject and GetObject both need it).",
                e.resource
            ),
            LambdaError::Aws(e) if e.service == "S3" && e.is_not_found() => format!(
                "`{}` does not exist: check `s3-bucket`/`s3-key` (or the bundle `build` uploaded) and `aws-region`.",
                e.resource
            ),
            LambdaError::Aws(e) if e.is_access_denied() => format!(
                "The role needs `{}:{}` on this resource.",
                if e.service == "CloudWatch" { "cloudwatch" } else { "lambda" },
                e.op
            ),
            LambdaError::Aws(e) if e.code.as_deref() == Some("ResourceConflictException") => {
                "Another update of this function was in progress; re-run the job.".into()
            }
            LambdaError::Aws(_) => return None,
            LambdaError::FunctionNotFound { .. } => {
                "stevedore updates existing functions: create it with your infrastructure code, and check `function-name` and `aws-region`.".into()
            }
            LambdaError::ReadZip { .. } => {
                "`zip-file` is relative to the workspace; build the zip in an earlier step (or with `mode: build`).".into()
            }
            LambdaError::AlarmsMissing { .. } => {
                "Check the names in `alarms` (exact CloudWatch alarm names, in the deploy region).".into()
            }
            LambdaError::AlarmsFiring { .. } => {
                "Deploying while an alarm already fires would roll back at once; resolve the alarm first.".into()
            }
            LambdaError::AliasOnLatest { alias } => format!(
                "Point `{alias}` at a published version first, or use `traffic: all-at-once` for this deploy."
            ),
            LambdaError::RoleMismatch { .. } => {
                "Use `traffic: all-at-once` for the deploy that changes the execution role.".into()
            }
            LambdaError::PackageType { .. } => {
                "Zip functions take `zip-file` or `s3-bucket`/`s3-key`; image functions take `image`.".into()
            }
            LambdaError::EventRules(crate::event_rules::EventRulesError::NotOurs { .. }) => {
                "The alias was deployed; rename the rule in `event-rules` (or delete the other rule) and re-run to sync the rules.".into()
            }
            LambdaError::EventRules(crate::event_rules::EventRulesError::Call(e)) => format!(
                "The alias was deployed, its rules were not all synced. {}",
                if e.is_access_denied() {
                    format!(
                        "The role needs `{}:{}` (EventBridge: ListEventBuses, ListRuleNamesByTarget, DescribeRule, ListTargetsByRule, ListTagsForResource, PutRule with TagResource, PutTargets, RemoveTargets, DeleteRule; Lambda: GetPolicy, AddPermission, RemovePermission on the alias).",
                        if e.service == "Lambda" { "lambda" } else { "events" },
                        e.op
                    )
                } else {
                    "Re-run the job: the sync writes only what still differs.".to_owned()
                }
            ),
            LambdaError::CodeHashDiffers { version, .. } => format!(
                "The copied zip changed between the copy and the update; nothing was moved to it{}. Re-run the promotion.",
                if version.is_some() { " (the version is published but the alias was not moved)" } else { "" }
            ),
            LambdaError::VersionMissing { .. } => {
                "The version was deleted since: restore another version (`rollback-to: <version>`), or deploy the release again normally.".into()
            }
            _ => return None,
        })
    }

    fn is_config(&self) -> bool {
        matches!(
            self,
            LambdaError::FunctionNotFound { .. }
                | LambdaError::ReadZip { .. }
                | LambdaError::AlarmsMissing { .. }
                | LambdaError::AliasOnLatest { .. }
                | LambdaError::RoleMismatch { .. }
                | LambdaError::PackageType { .. }
                | LambdaError::VersionMissing { .. }
                | LambdaError::EventRules(crate::event_rules::EventRulesError::NotOurs { .. })
        )
    }
}

impl crate::modes::runtime::Failure for LambdaError {
    fn is_config(&self) -> bool {
        LambdaError::is_config(self)
    }
    fn hint(&self) -> Option<String> {
        LambdaError::hint(self)
    }
}

/// What happened to the code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CodeChange {
    /// No code input: configuration-only deploy.
    NotGiven,
    /// Same hash as deployed: `UpdateFunctionCode` skipped.
    Unchanged {
        sha256: String,
    },
    Updated {
        from: String,
        to: String,
    },
}

/// How the deploy ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ending {
    /// Dry run: nothing written.
    Planned,
    /// The alias already served this version: nothing to shift.
    Unchanged,
    /// All traffic on the new version, health good.
    Promoted,
    /// The test invocation failed before any traffic moved; the alias was not touched.
    FailedBeforeTraffic { reason: String },
    /// A health round failed; the alias is back on the previous version.
    RolledBack { reason: String },
    /// The runner cancelled the step; the alias is back on the previous version (or never moved).
    Cancelled { shifted: bool },
    /// Health failed and the alias could not be put back: it needs a person.
    RollbackFailed { reason: String, error: String },
    /// Health failed after the first deploy created the alias: there is no previous version.
    FailedWithoutPrevious { reason: String },
}

/// One point of the weights-over-time record.
#[derive(Clone, Debug, PartialEq)]
pub struct Shift {
    /// Since the first alias change.
    pub at: Duration,
    /// Percent of traffic on the new version.
    pub weight: f64,
    pub note: String,
}

/// One health result with its time and weight.
#[derive(Clone, Debug, PartialEq)]
pub struct HealthRecord {
    pub at: Duration,
    pub weight: f64,
    pub outcome: Outcome,
}

/// Everything the report needs.
#[derive(Clone, Debug)]
pub struct Deployed {
    pub function: String,
    pub function_arn: String,
    pub alias: String,
    pub alias_arn: String,
    pub previous: Option<String>,
    pub version: Option<String>,
    pub code: CodeChange,
    pub config_changes: Vec<String>,
    pub traffic: Traffic,
    pub shifts: Vec<Shift>,
    pub health: Vec<HealthRecord>,
    pub ending: Ending,
    pub notes: Vec<String>,
    pub stats: Stats,
    pub elapsed: Duration,
    /// Time spent deliberately waiting in bakes (not the action's overhead).
    pub baked: Duration,
}

/// Lambda's side of [`super::target::Target`]: what is live is the function, read through its API.
impl super::target::Target for LambdaConfig {
    type Live = Box<Api>;

    fn aws(&self) -> &crate::aws::AwsInputs {
        &self.aws
    }

    fn what(&self) -> String {
        format!("Lambda `{}:{}`", self.function_name, self.alias)
    }

    fn environment(&self, aws: &crate::aws::Connected) -> String {
        environment_name(aws.environment.as_deref(), self)
    }

    /// The same function and alias.
    fn owns(
        &self,
        _aws: &crate::aws::Connected,
        recorded: &crate::github::deployments::Target,
    ) -> bool {
        matches!(recorded, crate::github::deployments::Target::Lambda { function, alias, .. }
            if *function == self.function_name && *alias == self.alias)
    }

    /// The same function: its recorded version (and code hash) behind this step's alias.
    fn counterpart(
        &self,
        _aws: &crate::aws::Connected,
        recorded: &crate::github::deployments::Target,
    ) -> Option<crate::github::deployments::Target> {
        match recorded {
            crate::github::deployments::Target::Lambda {
                function,
                version,
                code_sha256,
                s3,
                ..
            } if *function == self.function_name => {
                Some(crate::github::deployments::Target::Lambda {
                    function: function.clone(),
                    alias: self.alias.clone(),
                    version: version.clone(),
                    code_sha256: code_sha256.clone(),
                    s3: s3.clone(),
                })
            }
            _ => None,
        }
    }

    fn observe(
        &self,
        rt: &Runtime<'_>,
        aws: &crate::aws::Connected,
    ) -> Result<Box<Api>, ModeError> {
        Ok(Box::new(Api::new(
            &aws.sdk,
            &self.function_name,
            crate::net::Net::from_env(rt.env),
        )))
    }

    /// A recorded version must be a published (numeric) version whose `CodeSha256` is the recorded one.
    async fn check_release(
        &self,
        api: &Box<Api>,
        recorded: &crate::github::deployments::Target,
    ) -> Result<Option<String>, String> {
        let crate::github::deployments::Target::Lambda {
            version,
            code_sha256,
            ..
        } = recorded
        else {
            return Ok(super::target::records_other(recorded));
        };
        if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(Some(format!(
                "version `{version}` is not a published (numeric) version"
            )));
        }
        let Some(recorded) = code_sha256 else {
            return Ok(Some(
                "the record has no code hash (written by an older stevedore), so its version cannot be checked".into(),
            ));
        };
        match api
            .version_code_sha256(version)
            .await
            .map_err(|e| e.to_string())?
        {
            Some(h) if h == *recorded => Ok(None),
            Some(h) => Ok(Some(format!(
                "version {version} has code hash `{h}`, the record says `{recorded}`"
            ))),
            None => Ok(Some(format!("version {version} no longer exists"))),
        }
    }

    async fn deploy(
        &self,
        rt: &Runtime<'_>,
        aws: &crate::aws::Connected,
    ) -> Result<Report, ModeError> {
        run_connected(rt, &aws.sdk, aws.environment.as_deref(), self).await
    }

    async fn restore(
        &self,
        rt: &Runtime<'_>,
        aws: &crate::aws::Connected,
        _live: Box<Api>,
        restore: &super::record::Restore,
    ) -> Result<Report, ModeError> {
        run_restore(rt, &aws.sdk, aws.environment.as_deref(), self, restore).await
    }

    /// Lambda copies a release between accounts through S3: `s3-bucket` is where.
    fn across_accounts(&self) -> Option<(String, String)> {
        self.promote_bucket.is_none().then(|| {
            (
                "a Lambda release is copied into this account through S3, and input `s3-bucket` is not given".into(),
                "Add `s3-bucket: <a bucket of this account>` to the promotion step: the recorded zip is copied there (under its recorded key) and deployed from it".into(),
            )
        })
    }

    /// The recorded zip copied by its code hash into `s3-bucket` (same key), then deployed from there
    /// as a new version that must have that code hash.
    async fn promote_across(
        &self,
        rt: &Runtime<'_>,
        aws: &crate::aws::Connected,
        source: &crate::aws::Connected,
        restore: &super::record::Restore,
    ) -> Result<Report, ModeError> {
        promote_across(rt, aws, source, self, restore).await
    }
}

/// [`super::target::Target::promote_across`] for Lambda.
async fn promote_across(
    rt: &Runtime<'_>,
    aws: &crate::aws::Connected,
    source: &crate::aws::Connected,
    cfg: &LambdaConfig,
    restore: &super::record::Restore,
) -> Result<Report, ModeError> {
    use crate::aws::zip_copy::{Object, copy_zip};
    use crate::report::markdown::code_span;
    let refuse = super::target::refuse_promotion;
    let id = restore.release.id;
    let from_env = restore.promoted_from.as_deref().unwrap_or_default();
    let crate::github::deployments::Target::Lambda {
        code_sha256: Some(sha),
        s3,
        ..
    } = &restore.release.target
    else {
        return Err(refuse(
            format!("deployment #{id} of `{from_env}` records no Lambda code hash"),
            "Promote a release deployed by this version",
        ));
    };
    let Some(s3) = s3 else {
        return Err(refuse(
            format!(
                "deployment #{id} of `{from_env}` records no S3 object: it was deployed from zip-file (or `image`); promote across accounts needs a release deployed from S3 by this version"
            ),
            "Deploy the source environment from `s3-bucket` + `s3-key` (e.g. the bundle `mode: build` uploads), then promote that release",
        ));
    };
    let Some(bucket) = cfg.promote_bucket.as_deref() else {
        let (why, hint) = super::target::Target::across_accounts(cfg).unwrap_or_default();
        return Err(refuse(why, &hint));
    };
    let from = Object {
        bucket: &s3.bucket,
        key: &s3.key,
    };
    let to = Object {
        bucket,
        key: &s3.key,
    };
    let route = format!(
        "{} (account {}) to {} (account {})",
        code_span(&from.to_string()),
        code_span(&source.account_id),
        code_span(&to.to_string()),
        code_span(&aws.account_id),
    );
    let copied = if rt.common.dry_run {
        format!(
            "Would copy {route}, checking its SHA-256 against the code hash {} before and after.",
            code_span(sha),
        )
    } else {
        let http = crate::net::Net::from_env(rt.env)
            .with_cancel(rt.cancel.clone())
            .reqwest()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| LambdaError::Http {
                message: e.to_string(),
            })?;
        let (source_s3, target_s3) = (
            crate::aws::s3::S3::new(&source.sdk, http.clone()),
            crate::aws::s3::S3::new(&aws.sdk, http),
        );
        let c = copy_zip(&source_s3, from, &target_s3, to, sha)
            .await
            .map_err(|e| ModeError::Failed {
                message: format!("input `promote-from`: the zip of deployment #{id} of `{from_env}` was not copied into this account: {e}"),
                hint: Some(format!(
                    "The source role needs `s3:GetObject` on {from}; this step's role `s3:PutObject` and `s3:GetObject` on {to}. Nothing was deployed"
                )),
            })?;
        format!(
            "Copied {route}: {}, SHA-256 checked against the code hash {} before and after.",
            if c.bytes_written == 0 {
                "it held those bytes already, nothing written".to_owned()
            } else {
                format!("{} bytes written", c.bytes_written)
            },
            code_span(sha),
        )
    };
    let mut here = cfg.clone();
    here.code = Some(CodeSource::S3 {
        bucket: bucket.to_owned(),
        key: s3.key.clone(),
    });
    here.expect_code_sha256 = Some(sha.clone());
    let mut restore = restore.clone();
    restore.note = format!("{} {copied}", restore.note);
    let r = run_inner(
        rt,
        &aws.sdk,
        aws.environment.as_deref(),
        &here,
        Some(&restore),
        true,
    )
    .await?;
    Ok(restore.annotate(r))
}

/// The GitHub environment of a Lambda deploy: the mapped `environment`, else `function:alias`.
#[must_use]
pub fn environment_name(environment: Option<&str>, cfg: &LambdaConfig) -> String {
    environment.map_or_else(
        || format!("{}:{}", cfg.function_name, cfg.alias),
        str::to_owned,
    )
}

/// The deploy and its report with an existing AWS connection (for a `deploy.rs` that connects itself).
/// Records a GitHub Deployment (`in_progress`, then `success`/`failure`) when a token and repository are
/// available and this is not a dry run; GitHub problems are logged and noted, never fatal.
pub async fn run_connected(
    rt: &Runtime<'_>,
    sdk: &SdkConfig,
    environment: Option<&str>,
    cfg: &LambdaConfig,
) -> Result<Report, ModeError> {
    run_inner(rt, sdk, environment, cfg, None, false).await
}

/// `rollback-to`: the alias moved to the version `restore` recorded, with the configured `traffic`,
/// health checks and rollback; nothing is updated or published.
pub async fn run_restore(
    rt: &Runtime<'_>,
    sdk: &SdkConfig,
    environment: Option<&str>,
    cfg: &LambdaConfig,
    restore: &super::record::Restore,
) -> Result<Report, ModeError> {
    let r = run_inner(rt, sdk, environment, cfg, Some(restore), false).await?;
    Ok(restore.annotate(r))
}

/// The GitHub Deployment of a Lambda deploy, created when the version is known (its payload names it:
/// what `rollback-to` moves the alias back to), or at the end without one when the deploy stopped before
/// (never when the plan refused the deploy: an input error creates no Deployment).
pub struct Recorder<'r, 'a> {
    rt: &'r Runtime<'a>,
    environment: String,
    description: String,
    record: crate::github::deployments::Record,
    started: Option<super::record::GithubDeployment>,
}

impl Recorder<'_, '_> {
    /// Creates the deployment (once), marked `in_progress`, recording `version` and its code hash.
    async fn start(&mut self, cfg: &LambdaConfig, version: Option<(&str, &str)>) {
        if self.started.is_some() {
            return;
        }
        if let Some((v, code_sha256)) = version {
            self.record.target = Some(crate::github::deployments::Target::Lambda {
                function: cfg.function_name.clone(),
                alias: cfg.alias.clone(),
                version: v.to_owned(),
                code_sha256: Some(code_sha256.to_owned()),
                s3: match &cfg.code {
                    Some(CodeSource::S3 { bucket, key }) => {
                        Some(crate::github::deployments::S3Object {
                            bucket: bucket.clone(),
                            key: key.clone(),
                        })
                    }
                    _ => None,
                },
            });
        }
        self.started = Some(
            super::record::GithubDeployment::start_recorded(
                self.rt,
                &self.environment,
                &self.description,
                &self.record,
            )
            .await,
        );
    }

    /// Sets the final status; the sentence for the report.
    async fn finish(mut self, cfg: &LambdaConfig, success: bool, url: &str) -> String {
        self.start(cfg, None).await;
        match self.started {
            Some(d) => d.finish(success, Some(url)).await,
            None => String::new(),
        }
    }
}

/// A deploy (`restore`: of a recorded release; `copied`: of a release copied from another account,
/// deployed as a new version and recorded as `restore` says).
async fn run_inner(
    rt: &Runtime<'_>,
    sdk: &SdkConfig,
    environment: Option<&str>,
    cfg: &LambdaConfig,
    restore: Option<&super::record::Restore>,
    copied: bool,
) -> Result<Report, ModeError> {
    let dry_run = rt.common.dry_run;
    let env_name = environment_name(environment, cfg);
    if let (Some(e), Some(CodeSource::Image(i))) = (environment, &cfg.code) {
        super::image::warn_production_by_tag(rt, e, i);
    }
    let what = format!(
        "Lambda {}:{} ({})",
        cfg.function_name, cfg.alias, cfg.traffic
    );
    // The version is recorded once published ([`Recorder::start`]).
    let (description, record) = super::record::describe(restore, what.clone(), || None);
    let mut recorder = (!dry_run && rt.github().is_some()).then(|| Recorder {
        rt,
        environment: env_name.clone(),
        description,
        record,
        started: None,
    });
    let restore_version = match restore.filter(|_| !copied).map(|r| &r.release.target) {
        Some(crate::github::deployments::Target::Lambda { version, .. }) => Some(version.as_str()),
        Some(_) => {
            return Err(ModeError::Config {
                message: "the deployment to restore does not record a Lambda deploy".into(),
                hint: None,
            });
        }
        None => None,
    };
    let mut cfg = cfg.clone();
    cfg.health.samples = sample_events(rt, &cfg)?;
    let cfg = &cfg;
    let net = crate::net::Net::from_env(rt.env);
    let outcome = deploy_inner(
        sdk,
        cfg,
        &net,
        &rt.cancel,
        dry_run,
        restore_version,
        recorder.as_mut(),
    )
    .await;
    let success =
        matches!(&outcome, Ok(d) if report::verdict(&d.ending) != crate::report::Verdict::Failure);
    let github_note = match recorder {
        // Refused by the read-only plan (an input error, exit 2: the function, an alarm or the code is
        // not what the inputs say) before anything was deployed: no Deployment records the attempt.
        Some(rec) if rec.started.is_none() && matches!(&outcome, Err(e) if e.is_config()) => None,
        Some(rec) => {
            let url = console_url(sdk, cfg);
            Some(rec.finish(cfg, success, &url).await)
        }
        None => None,
    };
    let mut d = outcome?;
    // The plan words a recorded release's move as a rollback; a promotion names its source instead.
    if let Some(from) = restore.and_then(|r| r.promoted_from.as_deref()) {
        for n in &mut d.notes {
            if let Some(rest) = n.strip_prefix("Rollback") {
                *n = format!(
                    "Promotion from {}{rest}",
                    crate::report::markdown::code_span(from)
                );
            }
        }
    }
    d.notes.extend(github_note.filter(|n| !n.is_empty()));
    if let Some(rules) = &cfg.event_rules {
        if success {
            sync_event_rules(sdk, cfg, &net, rules, dry_run, &mut d).await?;
        } else {
            d.notes.push(
                "EventBridge rules (`event-rules`) not synced: the alias did not move to the new release.".into(),
            );
        }
    }
    let key = rt
        .common
        .report_key
        .clone()
        .or_else(|| environment.map(str::to_owned));
    let mut r = report::render(&d, key);
    // Not tied to a file, so not a report annotation: the run's closing `::error` says it.
    if let Some(next) = report::next_step(&d) {
        r.fail_because(
            format!("Lambda: {}: {}", r.title, report::result_line(&d)),
            next,
        );
    }
    Ok(r)
}

/// Syncs `event-rules` with the alias (`dry_run`: compares only) and notes each rule's change in the
/// report: created, updated, removed or unchanged, with what differs.
async fn sync_event_rules(
    sdk: &SdkConfig,
    cfg: &LambdaConfig,
    net: &crate::net::Net,
    rules: &[crate::event_rules::EventRule],
    dry_run: bool,
    d: &mut Deployed,
) -> Result<(), LambdaError> {
    let alias_arn = if d.alias_arn.is_empty() {
        format!("{}:{}", d.function_arn, cfg.alias)
    } else {
        d.alias_arn.clone()
    };
    let Some(worker) = crate::event_rules::Worker::from_alias_arn(&alias_arn) else {
        d.notes.push(format!(
            "EventBridge rules (`event-rules`) not synced: {} is not an alias ARN.",
            crate::report::markdown::code_span(&alias_arn)
        ));
        return Ok(());
    };
    let events = crate::aws::events::Events::new(sdk, net).map_err(|e| LambdaError::Http {
        message: e.to_string(),
    })?;
    let lambda = aws_sdk_lambda::Client::new(sdk);
    let changes = crate::event_rules::sync(&events, &lambda, &worker, rules, dry_run).await?;
    let lines: Vec<String> = changes
        .iter()
        .map(|c| crate::report::markdown::code_span(&c.to_string()))
        .collect();
    d.notes.push(format!(
        "EventBridge rules on alias {}{}: {}.",
        crate::report::markdown::code_span(&cfg.alias),
        if dry_run {
            " (dry run, nothing written)"
        } else {
            ""
        },
        if lines.is_empty() {
            "none listed, none of stevedore's left".to_owned()
        } else {
            lines.join(", ")
        }
    ));
    for c in &changes {
        tracing::info!("event-rules: {c}");
    }
    Ok(())
}

/// The alias in the Lambda console (the deployment's `environment_url`).
fn console_url(sdk: &SdkConfig, cfg: &LambdaConfig) -> String {
    let region = sdk.region().map_or("us-east-1", |r| r.as_ref());
    format!(
        "https://{region}.console.aws.amazon.com/lambda/home?region={region}#/functions/{}/aliases/{}",
        cfg.function_name, cfg.alias
    )
}

/// SHA-256 of `bytes`, base64: the form of Lambda's `CodeSha256` for zip code.
#[must_use]
pub fn code_sha256(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(bytes))
}

/// The configuration fields that differ, and their descriptions for the report.
fn config_diff(want: &Settings, cur: &Current) -> (ConfigUpdate, Vec<String>) {
    let mut u = ConfigUpdate::default();
    let mut notes = Vec::new();
    let show = |v: Option<String>| v.unwrap_or_else(|| "unset".into());
    if let Some(m) = want.memory_size.filter(|m| Some(*m) != cur.memory_size) {
        notes.push(format!(
            "memory {} → {m} MB",
            show(cur.memory_size.map(|v| v.to_string()))
        ));
        u.memory_size = Some(m);
    }
    if let Some(t) = want.timeout.filter(|t| Some(*t) != cur.timeout) {
        notes.push(format!(
            "timeout {} → {t} s",
            show(cur.timeout.map(|v| v.to_string()))
        ));
        u.timeout = Some(t);
    }
    if let Some(h) = want
        .handler
        .as_ref()
        .filter(|h| Some(*h) != cur.handler.as_ref())
    {
        notes.push(format!("handler {} → {h}", show(cur.handler.clone())));
        u.handler = Some(h.clone());
    }
    if let Some(r) = want
        .runtime
        .as_ref()
        .filter(|r| Some(*r) != cur.runtime.as_ref())
    {
        notes.push(format!("runtime {} → {r}", show(cur.runtime.clone())));
        u.runtime = Some(r.clone());
    }
    if let Some(env) = want.environment.as_ref().filter(|e| **e != cur.environment) {
        // Names only: values may be secrets.
        let added: Vec<&str> = env
            .keys()
            .filter(|k| !cur.environment.contains_key(*k))
            .map(String::as_str)
            .collect();
        let changed: Vec<&str> = env
            .iter()
            .filter(|(k, v)| cur.environment.get(*k).is_some_and(|c| c != *v))
            .map(|(k, _)| k.as_str())
            .collect();
        let removed: Vec<&str> = cur
            .environment
            .keys()
            .filter(|k| !env.contains_key(*k))
            .map(String::as_str)
            .collect();
        let mut parts = Vec::new();
        for (sign, names) in [("+", added), ("~", changed), ("-", removed)] {
            parts.extend(names.into_iter().map(|n| format!("{sign}{n}")));
        }
        notes.push(format!("environment {}", parts.join(" ")));
        u.environment = Some(env.clone());
    }
    (u, notes)
}

/// The digest of an image URI `repo@sha256:<hex>`, as Lambda's `CodeSha256` shows it for images.
fn image_digest(uri: &str) -> Option<&str> {
    uri.split_once("@sha256:").map(|(_, d)| d)
}

/// The new code: what to send and its hash when known in advance.
async fn resolve_code(
    api: &Api,
    source: &CodeSource,
    cur: &Current,
    function: &str,
) -> Result<(CodeUpdate, Option<String>), LambdaError> {
    let is_image = cur.package_type.eq_ignore_ascii_case("Image");
    match source {
        CodeSource::Image(uri) => {
            if !is_image {
                return Err(LambdaError::PackageType {
                    function: function.to_owned(),
                    actual: cur.package_type.clone(),
                    wanted: "image",
                    input: "`image`",
                });
            }
            Ok((
                CodeUpdate::Image(uri.clone()),
                image_digest(uri).map(str::to_owned),
            ))
        }
        _ if is_image => Err(LambdaError::PackageType {
            function: function.to_owned(),
            actual: cur.package_type.clone(),
            wanted: "zip",
            input: match source {
                CodeSource::Zip(_) => "`zip-file`",
                _ => "`s3-bucket`/`s3-key`",
            },
        }),
        CodeSource::Zip(path) => {
            let bytes = tokio::fs::read(path)
                .await
                .map_err(|e| LambdaError::ReadZip {
                    path: path.clone(),
                    source: e,
                })?;
            let sha = code_sha256(&bytes);
            Ok((CodeUpdate::Zip(bytes), Some(sha)))
        }
        CodeSource::S3 { bucket, key } => {
            let sha = match api.s3_sha256(bucket, key).await? {
                Some(s) => s,
                None => code_sha256(&api.s3_get(bucket, key).await?),
            };
            Ok((
                CodeUpdate::S3 {
                    bucket: bucket.clone(),
                    key: key.clone(),
                },
                Some(sha),
            ))
        }
    }
}

/// The deploy proper, against any `SdkConfig` (OIDC credentials in production, moto in tests).
pub async fn deploy(
    sdk: &SdkConfig,
    cfg: &LambdaConfig,
    net: &crate::net::Net,
    cancel: &Cancel,
    dry_run: bool,
) -> Result<Deployed, LambdaError> {
    deploy_inner(sdk, cfg, net, cancel, dry_run, None, None).await
}

/// What the deploy read before changing anything: the function, its alias, the code to deploy (resolved,
/// with its hash when known) and, for a rollback, the recorded version's execution role.
struct Observed {
    cur: Current,
    alias: Option<AliasState>,
    /// The code input resolved: the update to send and its `CodeSha256` when it can be known beforehand.
    code: Option<(CodeUpdate, Option<String>)>,
    /// The execution role of the version a rollback restores.
    restore_role: Option<Option<String>>,
}

/// Reads what the plan needs, in the order that refuses early: the function (waiting out an update in
/// progress), the alarms (none missing or firing), the alias (not on `$LATEST` for a traffic split), then
/// the code or the version to restore.
async fn observe(
    api: &Api,
    cfg: &LambdaConfig,
    restore: Option<&str>,
) -> Result<Observed, LambdaError> {
    let mut cur = api
        .get_function()
        .await?
        .ok_or_else(|| LambdaError::FunctionNotFound {
            function: cfg.function_name.clone(),
        })?;
    if cur.busy {
        tracing::info!(function = %cfg.function_name, "an update is in progress; waiting for it first");
        let image_uri = cur.image_uri.take();
        cur = api.wait_updated(None).await?;
        cur.image_uri = image_uri;
    }
    if !cfg.health.alarms.is_empty() {
        alarm_refusal(api.alarms(&cfg.health.alarms).await?)?;
    }
    let alias = api.get_alias(&cfg.alias).await?;
    alias_refusal(cfg, alias.as_ref())?;
    let mut seen = Observed {
        cur,
        alias,
        code: None,
        restore_role: None,
    };
    match restore {
        Some(version) => {
            let role = api
                .role_of(version)
                .await
                .map_err(|e| LambdaError::VersionMissing {
                    function: cfg.function_name.clone(),
                    version: version.to_owned(),
                    message: e.to_string(),
                })?;
            seen.restore_role = Some(role);
        }
        None => {
            if let Some(src) = &cfg.code {
                seen.code = Some(match (src, &cfg.expect_code_sha256) {
                    // Copied and checked against this hash by the promotion (a dry run: to be).
                    (CodeSource::S3 { bucket, key }, Some(sha)) => (
                        CodeUpdate::S3 {
                            bucket: bucket.clone(),
                            key: key.clone(),
                        },
                        Some(sha.clone()),
                    ),
                    _ => resolve_code(api, src, &seen.cur, &cfg.function_name).await?,
                });
            }
        }
    }
    Ok(seen)
}

/// A deploy starts only when every alarm exists and none is firing.
fn alarm_refusal(s: AlarmStates) -> Result<(), LambdaError> {
    if !s.missing.is_empty() {
        return Err(LambdaError::AlarmsMissing { names: s.missing });
    }
    if !s.in_alarm.is_empty() {
        return Err(LambdaError::AlarmsFiring { names: s.in_alarm });
    }
    Ok(())
}

/// An alias on `$LATEST` cannot split traffic (Lambda weights only published versions).
fn alias_refusal(cfg: &LambdaConfig, alias: Option<&AliasState>) -> Result<(), LambdaError> {
    match alias {
        Some(a) if a.version == "$LATEST" && cfg.traffic.splits() => {
            Err(LambdaError::AliasOnLatest {
                alias: cfg.alias.clone(),
            })
        }
        _ => Ok(()),
    }
}

/// What a deploy will change: pure, from the configuration and what was observed. A dry run reports it;
/// a real run applies it.
#[derive(Clone, Debug, PartialEq)]
struct Plan {
    /// The configuration to update (empty: nothing) and the names of what differs (never values).
    config_update: ConfigUpdate,
    config_changes: Vec<String>,
    code: PlannedCode,
    /// `Some(version)`: a rollback moves the alias there; nothing is updated or published.
    restore: Option<String>,
    notes: Vec<String>,
}

/// The code part of a plan.
#[derive(Clone, Debug, PartialEq)]
enum PlannedCode {
    NotGiven,
    /// The same hash as deployed: `UpdateFunctionCode` is skipped.
    Unchanged {
        sha256: String,
    },
    /// Sent with `UpdateFunctionCode`; `to` is the new hash, or the image or S3 location when the hash is
    /// known only after the update.
    Update {
        update: CodeUpdate,
        to: String,
    },
}

/// The plan of a deploy (`restore`: of a rollback to that version), and the lines it is shown as.
fn plan(
    cfg: &LambdaConfig,
    seen: &Observed,
    code: Option<(CodeUpdate, Option<String>)>,
    restore: Option<&str>,
    dry_run: bool,
) -> Plan {
    let mut notes = Vec::new();
    if let Some(AliasState {
        routing: Some((v, w)),
        version,
        ..
    }) = &seen.alias
    {
        notes.push(format!(
            "The alias was split when the deploy started ({version} plus {}% on {v}), probably left by an interrupted deploy; {version} is treated as the previous version.",
            traffic::fmt_weight(w * 100.0)
        ));
    }
    if let Some(version) = restore {
        notes.push(if dry_run {
            format!(
                "Rollback (dry run): would move alias `{}` to version {version} as recorded, updating and publishing nothing.",
                cfg.alias
            )
        } else {
            format!(
                "Rollback: alias `{}` moved to version {version} as recorded; no code or configuration was updated and nothing was published.",
                cfg.alias
            )
        });
        return Plan {
            config_update: ConfigUpdate::default(),
            config_changes: Vec::new(),
            code: PlannedCode::NotGiven,
            restore: Some(version.to_owned()),
            notes,
        };
    }
    let (config_update, config_changes) = config_diff(&cfg.settings, &seen.cur);
    let code = match code {
        None => PlannedCode::NotGiven,
        Some((_, Some(sha))) if sha == seen.cur.code_sha256 => {
            PlannedCode::Unchanged { sha256: sha }
        }
        Some((update, _)) => PlannedCode::Update {
            to: match &update {
                CodeUpdate::Image(u) => u.clone(),
                CodeUpdate::Zip(b) => code_sha256(b),
                CodeUpdate::S3 { bucket, key } => format!("s3://{bucket}/{key}"),
            },
            update,
        },
    };
    Plan {
        config_update,
        config_changes,
        code,
        restore: None,
        notes,
    }
}

impl Plan {
    /// The deploy's record before anything is applied: what a dry run reports.
    fn deployed(&self, cfg: &LambdaConfig, seen: &Observed) -> Deployed {
        Deployed {
            function: cfg.function_name.clone(),
            function_arn: seen.cur.arn.clone(),
            alias: cfg.alias.clone(),
            alias_arn: seen
                .alias
                .as_ref()
                .map(|a| a.arn.clone())
                .unwrap_or_default(),
            previous: seen.alias.as_ref().map(|a| a.version.clone()),
            version: self.restore.clone(),
            code: match &self.code {
                PlannedCode::NotGiven => CodeChange::NotGiven,
                PlannedCode::Unchanged { sha256 } => CodeChange::Unchanged {
                    sha256: sha256.clone(),
                },
                PlannedCode::Update { to, .. } => CodeChange::Updated {
                    from: seen.cur.code_sha256.clone(),
                    to: to.clone(),
                },
            },
            config_changes: self.config_changes.clone(),
            traffic: cfg.traffic.clone(),
            shifts: Vec::new(),
            health: Vec::new(),
            ending: Ending::Planned,
            notes: self.notes.clone(),
            stats: Stats::default(),
            elapsed: Duration::ZERO,
            baked: Duration::ZERO,
        }
    }
}

/// [`deploy`]; with `restore`, the alias moves to that existing version (no update, no publish). The
/// `recorder`'s deployment is created once the version is known, before the alias moves. Observe, plan
/// (pure), then apply; a dry run or a cancellation before the first write stops after the plan.
async fn deploy_inner(
    sdk: &SdkConfig,
    cfg: &LambdaConfig,
    net: &crate::net::Net,
    cancel: &Cancel,
    dry_run: bool,
    restore: Option<&str>,
    recorder: Option<&mut Recorder<'_, '_>>,
) -> Result<Deployed, LambdaError> {
    let started = Instant::now();
    let api = Api::new(sdk, &cfg.function_name, net.clone());
    let mut seen = observe(&api, cfg, restore).await?;
    let code = seen.code.take();
    let planned = plan(cfg, &seen, code, restore, dry_run);
    let mut d = planned.deployed(cfg, &seen);
    if dry_run || cancel.is_cancelled() {
        d.ending = if dry_run {
            Ending::Planned
        } else {
            Ending::Cancelled { shifted: false }
        };
        return Ok(finish(d, &api, started));
    }
    apply(&api, cfg, seen, planned, cancel, recorder, &mut d).await?;
    Ok(finish(d, &api, started))
}

/// Applies `planned`: configuration first, then code (each waits for the update to settle), a new
/// version, then the alias through the traffic steps with health rounds; a rollback only moves the alias.
async fn apply(
    api: &Api,
    cfg: &LambdaConfig,
    seen: Observed,
    planned: Plan,
    cancel: &Cancel,
    recorder: Option<&mut Recorder<'_, '_>>,
    d: &mut Deployed,
) -> Result<(), LambdaError> {
    let checker = Checker::new(&cfg.health, api);
    let Observed {
        mut cur,
        alias,
        restore_role,
        ..
    } = seen;
    if let Some(version) = &planned.restore {
        if let Some(r) = recorder {
            // The restore's record already names the verified target (version and code hash).
            r.start(cfg, None).await;
        }
        let new = Candidate {
            version: version.clone(),
            role: restore_role.flatten(),
        };
        d.ending = release(api, &checker, cfg, alias, new, cancel, d).await?;
        return Ok(());
    }
    let mut revision = cur.revision_id.clone();
    if planned.config_update != ConfigUpdate::default() {
        cur = api
            .update_configuration(&planned.config_update, revision.as_deref())
            .await?;
        revision = cur.revision_id.clone();
    }
    if let PlannedCode::Update { update, .. } = &planned.code {
        let from = cur.code_sha256.clone();
        cur = api.update_code(update, revision.as_deref()).await?;
        d.code = if cur.code_sha256 == from {
            CodeChange::Unchanged { sha256: from }
        } else {
            CodeChange::Updated {
                from,
                to: cur.code_sha256.clone(),
            }
        };
    }
    if cancel.is_cancelled() {
        d.ending = Ending::Cancelled { shifted: false };
        d.notes.push(
            "Cancelled before publishing: `$LATEST` was updated, the alias was not touched.".into(),
        );
        return Ok(());
    }
    let expected = |got: &str, version: Option<&str>| match &cfg.expect_code_sha256 {
        Some(want) if want != got => Err(LambdaError::CodeHashDiffers {
            function: cfg.function_name.clone(),
            version: version.map(str::to_owned),
            got: got.to_owned(),
            want: want.clone(),
        }),
        _ => Ok(()),
    };
    expected(&cur.code_sha256, None)?;
    let description = format!("stevedore {}", env!("CARGO_PKG_VERSION"));
    let version = api.publish_version(&cur.code_sha256, &description).await?;
    if cfg.expect_code_sha256.is_some() {
        let published = api.version_code_sha256(&version).await?.unwrap_or_default();
        expected(&published, Some(&version))?;
    }
    d.version = Some(version.clone());
    if let Some(r) = recorder {
        r.start(cfg, Some((&version, &cur.code_sha256))).await;
    }
    let new = Candidate {
        version,
        role: cur.role.clone(),
    };
    d.ending = release(api, &checker, cfg, alias, new, cancel, d).await?;
    Ok(())
}

/// A published version to move the alias to, with its execution role.
struct Candidate {
    version: String,
    role: Option<String>,
}

/// Moves the alias to `version` (created on it when missing), after the test invocation, through the
/// traffic steps with health rounds; the ending.
async fn release(
    api: &Api,
    checker: &Checker<'_>,
    cfg: &LambdaConfig,
    alias: Option<AliasState>,
    new: Candidate,
    cancel: &Cancel,
    d: &mut Deployed,
) -> Result<Ending, LambdaError> {
    let Candidate { version, role } = new;
    // No alias yet: create it on the new version; there is nothing to split against.
    let Some(alias) = alias else {
        let a = api.create_alias(&cfg.alias, &version).await?;
        d.alias_arn = a.arn;
        let t0 = Instant::now();
        d.shifts.push(Shift {
            at: Duration::ZERO,
            weight: 100.0,
            note: format!("alias `{}` created on version {version}", cfg.alias),
        });
        if cfg.traffic.splits() {
            d.notes.push(format!(
                "First deploy through alias `{}`: no previous version to split traffic with, so it was created on version {version} directly.",
                cfg.alias
            ));
        }
        return Ok(
            match health_round(checker, &version, 100.0, t0, &mut d.health, cancel).await {
                Round::Healthy => Ending::Promoted,
                Round::Cancelled => Ending::Cancelled { shifted: false },
                Round::Failed(reason) => Ending::FailedWithoutPrevious { reason },
            },
        );
    };
    let previous = alias.version.clone();
    if previous == version {
        if alias.routing.is_some() {
            api.update_alias(&cfg.alias, &version, None).await?;
            d.shifts.push(Shift {
                at: Duration::ZERO,
                weight: 100.0,
                note: "leftover routing cleared".into(),
            });
            return Ok(Ending::Promoted);
        }
        return Ok(Ending::Unchanged);
    }
    if cfg.traffic.splits() {
        let previous_role = api.role_of(&previous).await?;
        if previous_role.is_some() && previous_role != role {
            return Err(LambdaError::RoleMismatch {
                previous: previous.clone(),
                version,
                previous_role: previous_role.unwrap_or_default(),
                role: role.unwrap_or_default(),
            });
        }
    }

    // Pre-traffic test invocations (`test-payload`, then each rule's sample event): nothing has moved
    // yet, so a failure needs no rollback.
    let samples = cfg.health.samples.iter().map(|(rule, event)| {
        (
            Some(format!("the sample event of rule `{rule}`")),
            event.as_str(),
        )
    });
    for (what, payload) in cfg
        .health
        .payload
        .as_deref()
        .map(|p| (None, p))
        .into_iter()
        .chain(samples)
    {
        let mut o = tokio::select! {
            biased;
            () = cancel.cancelled() => return Ok(Ending::Cancelled { shifted: false }),
            o = checker.invoke(&version, payload) => o,
        };
        if let Some(w) = &what {
            o.detail = format!("{w}: {}", o.detail);
        }
        let ok = o.ok;
        let detail = o.detail.clone();
        d.health.push(HealthRecord {
            at: Duration::ZERO,
            weight: 0.0,
            outcome: o,
        });
        if !ok {
            return Ok(Ending::FailedBeforeTraffic { reason: detail });
        }
    }

    Ok(shift(api, checker, cfg, &previous, &version, cancel, d).await)
}

fn finish(mut d: Deployed, api: &Api, started: Instant) -> Deployed {
    d.stats = api.stats();
    d.elapsed = started.elapsed();
    d
}

enum Round {
    Healthy,
    Failed(String),
    Cancelled,
}

/// One health round at `weight`, recorded; cancellation wins over a pending check.
async fn health_round(
    checker: &Checker<'_>,
    version: &str,
    weight: f64,
    t0: Instant,
    records: &mut Vec<HealthRecord>,
    cancel: &Cancel,
) -> Round {
    if !checker.cfg.any() {
        return Round::Healthy;
    }
    let outcomes = tokio::select! {
        biased;
        () = cancel.cancelled() => return Round::Cancelled,
        o = checker.round(version) => o,
    };
    let at = t0.elapsed();
    let mut failed = None;
    for o in outcomes {
        if !o.ok && failed.is_none() {
            failed = Some(format!("{}: {}", o.check.as_str(), o.detail));
        }
        records.push(HealthRecord {
            at,
            weight,
            outcome: o,
        });
    }
    match failed {
        Some(f) => Round::Failed(f),
        None => Round::Healthy,
    }
}

/// Moves the alias through the steps, baking with health rounds; rolls back on failure or cancellation.
async fn shift(
    api: &Api,
    checker: &Checker<'_>,
    cfg: &LambdaConfig,
    previous: &str,
    version: &str,
    cancel: &Cancel,
    d: &mut Deployed,
) -> Ending {
    let t0 = Instant::now();
    let mut weight = 0.0;
    for step in cfg.traffic.steps() {
        if cancel.is_cancelled() {
            return rollback(api, cfg, previous, weight, t0, d, None).await;
        }
        let res = if step.weight >= 100.0 {
            api.update_alias(&cfg.alias, version, None).await
        } else {
            api.update_alias(&cfg.alias, previous, Some((version, step.weight / 100.0)))
                .await
        };
        match res {
            Ok(a) => d.alias_arn = a.arn,
            Err(e) => {
                // The alias may be half-shifted from an earlier step: put it back.
                let reason = format!("moving the alias failed: {e}");
                return rollback(api, cfg, previous, weight, t0, d, Some(reason)).await;
            }
        }
        weight = step.weight;
        d.shifts.push(Shift {
            at: t0.elapsed(),
            weight,
            note: if weight >= 100.0 {
                format!("all traffic on version {version}")
            } else {
                format!("{}% on version {version}", traffic::fmt_weight(weight))
            },
        });
        tracing::info!(alias = %cfg.alias, weight, "alias moved");
        let bake_end = Instant::now() + step.bake;
        loop {
            match health_round(checker, version, weight, t0, &mut d.health, cancel).await {
                Round::Healthy => {}
                Round::Cancelled => return rollback(api, cfg, previous, weight, t0, d, None).await,
                Round::Failed(reason) => {
                    return rollback(api, cfg, previous, weight, t0, d, Some(reason)).await;
                }
            }
            let now = Instant::now();
            if now >= bake_end {
                break;
            }
            let nap = cfg.health.interval.min(bake_end - now);
            let slept = Instant::now();
            tokio::select! {
                biased;
                () = cancel.cancelled() => {
                    d.baked += slept.elapsed();
                    return rollback(api, cfg, previous, weight, t0, d, None).await;
                }
                () = tokio::time::sleep(nap) => d.baked += slept.elapsed(),
            }
        }
    }
    Ending::Promoted
}

/// Puts all traffic back on `previous` (a few attempts: this must not be lost to a blip). `reason`
/// `None` means cancellation.
async fn rollback(
    api: &Api,
    cfg: &LambdaConfig,
    previous: &str,
    weight: f64,
    t0: Instant,
    d: &mut Deployed,
    reason: Option<String>,
) -> Ending {
    let shifted = weight > 0.0 || !d.shifts.is_empty();
    if !shifted {
        return match reason {
            None => Ending::Cancelled { shifted: false },
            Some(r) => Ending::RolledBack { reason: r },
        };
    }
    tracing::warn!(alias = %cfg.alias, previous, "rolling the alias back");
    // Documented clean-up: after the runner's signal it may still run until `MODE_CLEANUP`.
    let last = crate::cancel::cleanup(crate::cancel::MODE_CLEANUP, async {
        let mut last = None;
        for attempt in 0..3u32 {
            match api.update_alias(&cfg.alias, previous, None).await {
                Ok(_) => return None,
                Err(e) => {
                    last = Some(e.to_string());
                    tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt + 1))).await;
                }
            }
        }
        last
    })
    .await;
    if let Some(error) = last {
        return Ending::RollbackFailed {
            reason: reason.unwrap_or_else(|| "cancelled".into()),
            error,
        };
    }
    d.shifts.push(Shift {
        at: t0.elapsed(),
        weight: 0.0,
        note: format!(
            "rolled back to version {previous} ({})",
            reason.as_deref().unwrap_or("cancelled")
        ),
    });
    match reason {
        None => Ending::Cancelled { shifted: true },
        Some(r) => Ending::RolledBack { reason: r },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> (Option<LambdaConfig>, Vec<String>) {
        // Through the deploy parser, which chooses the target and reads `function-name`.
        let (c, errs) = crate::inputs::parsed(pairs, super::super::Config::parse);
        let c = c.ok().and_then(|c| match c.target {
            super::super::Target::Lambda(l) => Some(*l),
            _ => None,
        });
        (c, errs)
    }

    #[test]
    fn a_promotion_takes_s3_bucket_as_where_a_release_of_another_account_is_copied() {
        let promote = [
            ("INPUT_FUNCTION-NAME", "f"),
            ("INPUT_PROMOTE-FROM", "dev"),
            ("INPUT_S3-BUCKET", "prod-artifacts"),
        ];
        let (c, e) = parse(&promote);
        assert!(e.is_empty(), "{e:#?}");
        let c = c.unwrap();
        assert_eq!(c.promote_bucket.as_deref(), Some("prod-artifacts"));
        assert_eq!(c.code, None);
        let (_, e) = parse(&[promote.as_slice(), &[("INPUT_S3-KEY", "k.zip")]].concat());
        assert_eq!(e.len(), 1, "{e:#?}");
        assert!(
            e[0].contains("input `s3-key` = `k.zip`: is set together with `promote-from`"),
            "{e:#?}"
        );
        // Without `promote-from`, `s3-bucket` is the code source again.
        let (c, _) = parse(&[
            ("INPUT_FUNCTION-NAME", "f"),
            ("INPUT_S3-BUCKET", "b"),
            ("INPUT_S3-KEY", "k.zip"),
        ]);
        let c = c.unwrap();
        assert_eq!(c.promote_bucket, None);
        assert!(matches!(c.code, Some(CodeSource::S3 { .. })));
    }

    #[test]
    fn not_a_lambda_deploy_without_function_name() {
        assert!(parse(&[("INPUT_ZIP-FILE", "a.zip")]).0.is_none());
    }

    #[test]
    fn defaults_and_code_sources() {
        let (c, e) = parse(&[
            ("INPUT_FUNCTION-NAME", "api"),
            ("INPUT_ZIP-FILE", "dist/app.zip"),
            ("GITHUB_WORKSPACE", "/w"),
        ]);
        assert!(e.is_empty(), "{e:?}");
        let c = c.unwrap();
        assert_eq!(c.alias, "live");
        assert_eq!(c.traffic, Traffic::AllAtOnce);
        assert_eq!(c.code, Some(CodeSource::Zip("/w/dist/app.zip".into())));
        assert_eq!(c.health.status, 200);
        assert_eq!(c.health.interval, Duration::from_secs(10));
    }

    #[test]
    fn every_error_is_collected() {
        let (_, e) = parse(&[
            ("INPUT_FUNCTION-NAME", "api"),
            ("INPUT_ZIP-FILE", "a.zip"),
            ("INPUT_IMAGE", "repo:tag"),
            ("INPUT_TRAFFIC", "canary 10 5m"),
            ("INPUT_ALIAS", "123"),
            ("INPUT_HEALTH-URL", "ftp://x"),
            ("INPUT_TEST-PAYLOAD", "{nope"),
            ("INPUT_MEMORY-SIZE", "64"),
            ("INPUT_ENVIRONMENT-VARIABLES", "A=1\n9B=2"),
        ]);
        assert_eq!(e.len(), 7, "{e:#?}");
        let all = e.join("\n");
        for needle in [
            "input `traffic` = `canary 10 5m`: weight `10` must be a percentage",
            "input `alias` = `123`",
            "only http and https",
            "input `test-payload`",
            "input `memory-size` = `64`",
            "`9B` is not a valid variable name",
            "only one code source may be given, got zip-file and image",
        ] {
            assert!(all.contains(needle), "{needle} not in {all}");
        }
    }

    #[test]
    fn s3_needs_both_parts() {
        let (_, e) = parse(&[("INPUT_FUNCTION-NAME", "f"), ("INPUT_S3-BUCKET", "b")]);
        assert_eq!(e.len(), 1);
        assert!(
            e[0].contains("input `s3-key`: is required with `s3-bucket`"),
            "{e:?}"
        );
    }

    #[test]
    fn environment_lines() {
        assert_eq!(
            parse_environment("# c\nA=1\n\nB = x=y\n").unwrap(),
            BTreeMap::from([("A".into(), "1".into()), ("B".into(), " x=y".into())])
        );
        assert!(
            parse_environment("A=1\nA=2")
                .unwrap_err()
                .contains("set twice")
        );
        assert!(parse_environment("A").unwrap_err().contains("no `=`"));
    }

    #[test]
    fn code_hash_is_base64_sha256() {
        assert_eq!(
            code_sha256(b""),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }

    #[test]
    fn config_diff_names_only_what_differs_and_never_values() {
        let cur = Current {
            memory_size: Some(128),
            timeout: Some(3),
            handler: Some("a.h".into()),
            environment: BTreeMap::from([
                ("KEEP".into(), "1".into()),
                ("OLD".into(), "s3cret".into()),
                ("CHG".into(), "a".into()),
            ]),
            ..Current::default()
        };
        let want = Settings {
            memory_size: Some(256),
            timeout: Some(3),
            handler: None,
            runtime: None,
            environment: Some(BTreeMap::from([
                ("KEEP".into(), "1".into()),
                ("NEW".into(), "x".into()),
                ("CHG".into(), "b".into()),
            ])),
        };
        let (u, notes) = config_diff(&want, &cur);
        assert_eq!(u.memory_size, Some(256));
        assert_eq!(u.timeout, None);
        assert_eq!(u.handler, None);
        assert_eq!(notes, ["memory 128 → 256 MB", "environment +NEW ~CHG -OLD"]);
        let (u, notes) = config_diff(&Settings::default(), &cur);
        assert_eq!(u, ConfigUpdate::default());
        assert!(notes.is_empty());
    }

    fn plan_cfg(traffic: &str) -> LambdaConfig {
        LambdaConfig {
            aws: crate::aws::AwsInputs::default(),
            function_name: "api".into(),
            alias: "live".into(),
            code: None,
            settings: Settings {
                memory_size: Some(256),
                ..Settings::default()
            },
            traffic: Traffic::parse(traffic).unwrap(),
            health: HealthConfig::default(),
            event_rules: None,
            promote_bucket: None,
            expect_code_sha256: None,
        }
    }

    fn seen(alias: Option<AliasState>) -> Observed {
        Observed {
            cur: Current {
                arn: "arn:aws:lambda:eu-west-1:123456789012:function:api".into(),
                code_sha256: "OLD=".into(),
                memory_size: Some(128),
                ..Current::default()
            },
            alias,
            code: None,
            restore_role: None,
        }
    }

    fn live(version: &str, routing: Option<(&str, f64)>) -> AliasState {
        AliasState {
            arn: "arn:aws:lambda:eu-west-1:123456789012:function:api:live".into(),
            version: version.into(),
            routing: routing.map(|(v, w)| (v.to_owned(), w)),
        }
    }

    #[test]
    fn the_plan_is_pure_and_names_every_change() {
        let cfg = plan_cfg("canary 10% 5m");
        let s = seen(Some(live("7", Some(("8", 0.1)))));
        let zip = b"new code".to_vec();
        let p = plan(
            &cfg,
            &s,
            Some((CodeUpdate::Zip(zip.clone()), Some(code_sha256(&zip)))),
            None,
            false,
        );
        assert_eq!(
            p,
            Plan {
                config_update: ConfigUpdate {
                    memory_size: Some(256),
                    ..ConfigUpdate::default()
                },
                config_changes: vec!["memory 128 → 256 MB".into()],
                code: PlannedCode::Update {
                    update: CodeUpdate::Zip(zip.clone()),
                    to: code_sha256(&zip),
                },
                restore: None,
                notes: vec!["The alias was split when the deploy started (7 plus 10% on 8), probably left by an interrupted deploy; 7 is treated as the previous version.".into()],
            }
        );
        let d = p.deployed(&cfg, &s);
        assert_eq!(d.previous.as_deref(), Some("7"));
        assert_eq!(d.version, None);
        assert_eq!(
            d.code,
            CodeChange::Updated {
                from: "OLD=".into(),
                to: code_sha256(&zip)
            }
        );
        assert_eq!(d.ending, Ending::Planned);
        // The same bytes as deployed: no code update.
        let same = plan(
            &cfg,
            &s,
            Some((CodeUpdate::Zip(zip), Some("OLD=".into()))),
            None,
            false,
        );
        assert_eq!(
            same.code,
            PlannedCode::Unchanged {
                sha256: "OLD=".into()
            }
        );
        // An image or S3 code whose hash is known only after the update names its location.
        let s3 = plan(
            &cfg,
            &s,
            Some((
                CodeUpdate::S3 {
                    bucket: "b".into(),
                    key: "k.zip".into(),
                },
                None,
            )),
            None,
            false,
        );
        assert!(matches!(&s3.code, PlannedCode::Update { to, .. } if to == "s3://b/k.zip"));
    }

    #[test]
    fn a_rollback_plan_moves_the_alias_only() {
        let cfg = plan_cfg("all-at-once");
        let s = seen(Some(live("9", None)));
        let p = plan(&cfg, &s, None, Some("7"), true);
        assert_eq!(
            p,
            Plan {
                config_update: ConfigUpdate::default(),
                config_changes: Vec::new(),
                code: PlannedCode::NotGiven,
                restore: Some("7".into()),
                notes: vec!["Rollback (dry run): would move alias `live` to version 7 as recorded, updating and publishing nothing.".into()],
            }
        );
        let d = p.deployed(&cfg, &s);
        assert_eq!(
            (d.previous.as_deref(), d.version.as_deref()),
            (Some("9"), Some("7"))
        );
        assert_eq!(d.code, CodeChange::NotGiven);
    }

    #[test]
    fn refusals_before_any_write() {
        assert!(matches!(
            alarm_refusal(AlarmStates {
                found: vec!["a".into()],
                in_alarm: vec!["a".into()],
                missing: Vec::new(),
            }),
            Err(LambdaError::AlarmsFiring { names }) if names == ["a"]
        ));
        assert!(matches!(
            alarm_refusal(AlarmStates {
                missing: vec!["b".into()],
                ..AlarmStates::default()
            }),
            Err(LambdaError::AlarmsMissing { .. })
        ));
        let on_latest = live("$LATEST", None);
        assert!(matches!(
            alias_refusal(&plan_cfg("canary 10% 5m"), Some(&on_latest)),
            Err(LambdaError::AliasOnLatest { .. })
        ));
        assert!(alias_refusal(&plan_cfg("all-at-once"), Some(&on_latest)).is_ok());
    }

    #[test]
    fn image_digests() {
        assert_eq!(image_digest("r/x@sha256:abc"), Some("abc"));
        assert_eq!(image_digest("r/x:tag"), None);
    }
}
