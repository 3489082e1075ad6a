//! AWS access for every mode: policy -> GitHub OIDC token -> STS -> an `SdkConfig`.
//!
//! ```text
//! AwsInputs + Context --plan()--> Plan (pure: environment mapping, trigger policy on GITHUB_REF)
//!   --connect()--> OIDC token (masked, verified) -> claims re-checked (ref, environment claim)
//!   -> AssumeRoleWithWebIdentity (unsigned) -> role-chain AssumeRole... -> GetCallerIdentity
//!   -> account-id check -> Connected { sdk, account_id, environment }
//! ```
//!
//! Nothing touches AWS before the plan is accepted: an environment the mapping does not name, or a ref
//! the trigger policy refuses, stops the run with zero AWS requests. Endpoints come from the `Env`
//! snapshot (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_<SERVICE>`), so tests reach moto and scripted fakes;
//! so do the endpoint variants (`AWS_USE_FIPS_ENDPOINT`, `AWS_USE_DUALSTACK_ENDPOINT`), set on the
//! `SdkConfig` for the SDK clients and read back from it by the hand-written ones ([`endpoints`]).

pub mod call;
pub mod ecr;
pub mod endpoints;
pub mod events;
pub mod json_rpc;
pub mod query;
pub mod s3;
pub mod sts;
pub mod zip_copy;

use crate::inputs::Input;
use std::time::SystemTime;

use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_sts::config::SharedHttpClient;
use aws_types::SdkConfig;
use aws_types::region::Region;
use secrecy::ExposeSecret;

use crate::cancel::Cancel;
use crate::context::Context;
use crate::env::Env;
use crate::inputs::Inputs;
use crate::net::Net;
use crate::oidc::{self, Claims, OidcError};
use crate::policy::{self, Decision, Environments, PolicyError, TriggerPolicy};
use crate::report::{Commands, Level, Location};

pub use endpoints::{EndpointError, EnvEndpoints};

/// Default lifetime of the credentials (configure-aws-credentials' default).
pub const DEFAULT_DURATION: u32 = 3600;
/// STS caps chained role sessions at one hour.
pub const CHAINED_MAX_DURATION: u32 = 3600;

/// Which mode asks for AWS access (logs, the default session name).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    Credentials,
    Build,
    Deploy,
    Publish,
}

impl Purpose {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Credentials => "credentials",
            Purpose::Build => "build",
            Purpose::Deploy => "deploy",
            Purpose::Publish => "publish",
        }
    }
}

/// The AWS inputs shared by every mode that needs AWS.
#[derive(Clone, Debug, Default)]
pub struct AwsInputs {
    /// `aws-region`.
    pub region: Option<String>,
    /// `role-to-assume`.
    pub role_to_assume: Option<String>,
    /// `audience` (default `sts.amazonaws.com`).
    pub audience: String,
    /// `role-session-name`; default derived from the repository and run id.
    pub role_session_name: Option<String>,
    /// `role-duration-seconds` (900..=43200, default 3600).
    pub role_duration_seconds: u32,
    /// `role-chain`: further roles assumed in order with the previous credentials.
    pub role_chain: Vec<String>,
    /// `environment`.
    pub environment: Option<String>,
    /// `environments`.
    pub environments: Option<Environments>,
    /// `trigger-policy` (default: main -> dev/staging, `*-stable` tags -> production).
    pub trigger_policy: TriggerPolicy,
    /// `allow-aws-credential-chain`: use the standard AWS credential chain when there is no OIDC token.
    pub allow_credential_chain: bool,
}

impl AwsInputs {
    /// Reads and validates the AWS inputs, recording every problem in `p`.
    pub fn parse(p: &mut Inputs<'_>) -> Self {
        let region = p.string(Input::AwsRegion);
        if let Some(r) = &region
            && !policy::valid_region(r)
        {
            p.error(
                Input::AwsRegion,
                Some(r),
                "is not an AWS region",
                "e.g. `aws-region: eu-west-1`",
            );
        }
        let role_to_assume = p.string(Input::RoleToAssume);
        if let Some(r) = &role_to_assume
            && let Err(problem) = policy::check_role_arn(r)
        {
            p.error(
                Input::RoleToAssume,
                Some(r),
                problem,
                "e.g. `role-to-assume: arn:aws:iam::123456789012:role/github-deploy`",
            );
        }
        let audience = p
            .string(Input::Audience)
            .unwrap_or_else(|| oidc::DEFAULT_AUDIENCE.to_owned());
        let role_session_name = p.string(Input::RoleSessionName);
        if let Some(n) = &role_session_name
            && !valid_session_name(n)
        {
            p.error(
                Input::RoleSessionName,
                Some(n),
                "must be 2 to 64 characters of letters, digits and `+=,.@_-`",
                "e.g. `role-session-name: deploy-${{ github.run_id }}`",
            );
        }
        let role_duration_seconds = p
            .integer(
                Input::RoleDurationSeconds,
                900..=43200,
                Some(u64::from(DEFAULT_DURATION)),
            )
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(DEFAULT_DURATION);
        let role_chain = p.list(Input::RoleChain);
        for r in &role_chain {
            if let Err(problem) = policy::check_role_arn(r) {
                p.error(
                    Input::RoleChain,
                    Some(r),
                    problem,
                    "List role ARNs, one per line",
                );
            }
        }
        let environment = p.string(Input::Environment);
        let environments_fix = "e.g. `dev: {role: arn:aws:iam::111111111111:role/deploy, region: eu-west-1, account-id: \"111111111111\"}`";
        let environments = p
            .parse_with(Input::Environments, environments_fix, Environments::parse_entries)
            .map(|(envs, invalid)| {
                // Strict for the environment this job targets; the others only warn, so one unset
                // variable (`vars.DEV_ACCOUNT_ID`) does not stop the jobs deploying elsewhere.
                for (name, problem) in invalid {
                    if environment
                        .as_deref()
                        .is_some_and(|e| crate::names::same(e, &name))
                    {
                        p.error(Input::Environments, None, problem, environments_fix);
                    } else {
                        let target = environment
                            .as_deref()
                            .map_or_else(|| "no environment".to_owned(), |e| format!("`{e}`"));
                        p.warn(
                            Input::Environments,
                            format!(
                                "{problem}. This job targets {target}, so entry `{name}` is ignored here; a job targeting `{name}` stops with exit 2. Fix the entry (e.g. `role: arn:aws:iam::123456789012:role/github-deploy`)."
                            ),
                        );
                    }
                }
                envs
            });
        let trigger_policy = p
            .parse_with(
                Input::TriggerPolicy,
                "e.g. `production: {refs: [\"refs/tags/*-stable\"], require-environment-claim: true}`",
                TriggerPolicy::parse,
            )
            .unwrap_or_default();
        check_environment_names(
            p,
            environment.as_deref(),
            environments.as_ref(),
            &trigger_policy,
        );
        check_coverage(
            p,
            environment.as_deref(),
            environments.as_ref(),
            &trigger_policy,
        );
        let allow_credential_chain = p.bool(Input::AllowAwsCredentialChain, false);
        if environments.is_some() && environment.is_none() {
            p.missing(
                Input::Environment,
                "when `environments` is set (it picks the role and region)",
                "staging",
            );
        }
        if let (Some(envs), Some(e), Some(role)) = (&environments, &environment, &role_to_assume)
            && envs.get(e).is_some_and(|t| &t.role != role)
        {
            p.error(
                Input::RoleToAssume,
                Some(role),
                format!("differs from the role input `environments` maps `{e}` to"),
                "Set the role in one place: drop `role-to-assume` or the `environments` entry",
            );
        }
        Self {
            region,
            role_to_assume,
            audience,
            role_session_name,
            role_duration_seconds,
            role_chain,
            environment,
            environments,
            trigger_policy,
            allow_credential_chain,
        }
    }
}

/// Refuses (exit 2) an environment name with invisible characters, mixed scripts, or that looks like
/// another known name: in input `environment`, and the keys of `environments` and `trigger-policy`.
fn check_environment_names(
    p: &mut Inputs<'_>,
    environment: Option<&str>,
    environments: Option<&Environments>,
    policy: &TriggerPolicy,
) {
    let defaults = TriggerPolicy::default();
    let mut known: Vec<&str> = defaults.rules.keys().map(String::as_str).collect();
    known.extend(environments.map(Environments::names).unwrap_or_default());
    known.extend(policy.rules.keys().map(String::as_str));
    let mut named: Vec<(Input, &str)> = environment
        .map(|e| (Input::Environment, e))
        .into_iter()
        .collect();
    named.extend(
        environments
            .map(Environments::names)
            .unwrap_or_default()
            .into_iter()
            .map(|n| (Input::Environments, n)),
    );
    named.extend(
        policy
            .rules
            .keys()
            .filter(|_| policy.source == crate::policy::PolicySource::Input)
            .map(|n| (Input::TriggerPolicy, n.as_str())),
    );
    for (input, name) in named {
        if let Err(problem) = crate::names::check_against(name, known.iter().copied()) {
            let problem = if input == Input::Environment {
                problem
            } else {
                format!("the environment name {problem}")
            };
            p.error(
                input,
                Some(crate::names::visible(name).as_str()),
                problem,
                crate::names::fix(name, known.iter().copied()),
            );
        }
    }
}

/// Refuses (exit 2) a targeted environment no trigger-policy rule covers — input `environment`, checked here
/// when `environments` is absent or maps it (an unmapped one is refused by [`plan`], which checks the
/// policy too) — and warns about every other `environments` entry no rule covers: the job targeting it
/// stops. Names refused by [`check_environment_names`] are not judged twice.
fn check_coverage(
    p: &mut Inputs<'_>,
    environment: Option<&str>,
    environments: Option<&Environments>,
    policy: &TriggerPolicy,
) {
    let uncovered = |name: &str| crate::names::check(name).is_ok() && !policy.covers(name);
    let problem = |name: &str| {
        PolicyError::NoRule {
            environment: name.to_owned(),
            known: policy.names(),
            by: policy.source,
        }
        .to_string()
    };
    if let Some(e) = environment
        && environments.is_none_or(|envs| envs.get(e).is_some())
        && uncovered(e)
    {
        p.error(
            Input::Environment,
            Some(e),
            problem(e),
            policy::rule_to_add(e, policy.source),
        );
    }
    for name in environments.map(Environments::names).unwrap_or_default() {
        if environment.is_some_and(|e| crate::names::same(e, name)) || !uncovered(name) {
            continue;
        }
        p.warn(
            Input::TriggerPolicy,
            format!(
                "{}. A job targeting `{name}` stops with exit 2. {}",
                problem(name),
                policy::rule_to_add(name, policy.source)
            ),
        );
    }
}

/// 2–64 characters of `[\w+=,.@-]`.
#[must_use]
pub fn valid_session_name(s: &str) -> bool {
    (2..=64).contains(&s.len()) && s.chars().all(session_char)
}

fn session_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)
}

/// A session name from the repository and run id, sanitised to 2–64 chars of `[\w+=,.@-]`; the run id
/// (for CloudTrail correlation) is kept whole when the repository part must be cut.
#[must_use]
pub fn default_session_name(repository: Option<&str>, run_id: Option<&str>) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| if session_char(c) { c } else { '-' })
            .collect()
    };
    let repo = clean(&repository.unwrap_or("stevedore").replace('/', "@"));
    let run = run_id.map(clean).filter(|r| !r.is_empty());
    let name = match run {
        Some(run) => {
            let run: String = run.chars().take(40).collect();
            let room = 64 - run.len() - 1;
            let repo: String = repo.chars().take(room).collect();
            format!("{repo}-{run}")
        }
        None => repo.chars().take(64).collect(),
    };
    if name.len() < 2 {
        "stevedore".into()
    } else {
        name
    }
}

/// How credentials are obtained.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// GitHub OIDC token -> `AssumeRoleWithWebIdentity`.
    Oidc,
    /// The standard AWS credential chain (environment, profile, container, IMDS); `why` names the reason.
    CredentialChain { why: String },
}

/// Everything decided before any network call; printable for `dry-run`.
#[derive(Clone, Debug)]
pub struct Plan {
    pub purpose: Purpose,
    pub environment: Option<String>,
    /// First role: assumed with the OIDC token (or, with the credential chain, with `AssumeRole`).
    pub role: Option<String>,
    pub chain: Vec<String>,
    pub region: String,
    pub account_id: Option<String>,
    pub session_name: String,
    pub duration: u32,
    pub audience: String,
    pub source: Source,
    pub decision: Option<Decision>,
    /// Dry runs only: the refusal a real run would meet (the OIDC `environment` claim the credential
    /// chain cannot prove), with its fix. `None` when a real run would pass the policy.
    pub real_run_refusal: Option<String>,
}

impl Plan {
    /// Markdown lines for the summary and the dry run.
    #[must_use]
    pub fn describe(&self) -> String {
        let mut s = String::new();
        let row = |s: &mut String, k: &str, v: &str| s.push_str(&format!("| {k} | {v} |\n"));
        s.push_str("| | |\n| --- | --- |\n");
        row(
            &mut s,
            "environment",
            &self
                .environment
                .as_deref()
                .map_or("_(none)_".into(), |e| format!("`{e}`")),
        );
        match &self.source {
            Source::Oidc => row(
                &mut s,
                "credentials",
                &format!("GitHub OIDC (audience `{}`)", self.audience),
            ),
            Source::CredentialChain { why } => row(
                &mut s,
                "credentials",
                &format!("standard AWS credential chain ({why})"),
            ),
        }
        if let Some(r) = &self.role {
            row(&mut s, "role", &format!("`{r}`"));
        }
        for (i, r) in self.chain.iter().enumerate() {
            row(
                &mut s,
                &format!("chained role {}", i + 1),
                &format!("`{r}`"),
            );
        }
        row(&mut s, "region", &format!("`{}`", self.region));
        if let Some(a) = &self.account_id {
            row(&mut s, "expected account", &format!("`{a}`"));
        }
        row(&mut s, "session", &format!("`{}`", self.session_name));
        row(&mut s, "duration", &format!("{} s", self.duration));
        if let Some(d) = &self.decision {
            let rule = match &d.matched {
                Some(m) => format!("ref matches `{m}` ({})", d.source),
                None => format!("no rule for `{}` in {}", d.environment, d.source),
            };
            row(&mut s, "trigger policy", &rule);
            if d.require_environment_claim {
                row(
                    &mut s,
                    "environment claim",
                    &format!("must be `{}`", d.environment),
                );
            }
        }
        if let Some(r) = &self.real_run_refusal {
            row(
                &mut s,
                "a real run",
                &format!("❌ would be refused: {}", crate::report::markdown::cell(r)),
            );
        }
        s
    }
}

/// Credentials ready for the SDK.
#[derive(Clone, Debug)]
pub struct Connected {
    pub sdk: SdkConfig,
    pub account_id: String,
    pub environment: Option<String>,
    /// The caller ARN (`arn:aws:sts::<account>:assumed-role/<role>/<session>`).
    pub arn: String,
    pub region: String,
    pub expiration: Option<SystemTime>,
    /// The verified token claims, when OIDC was used.
    pub claims: Option<Claims>,
}

impl Connected {
    /// The credentials (for export by the `credentials` mode).
    pub async fn credentials(&self) -> Result<Credentials, AwsError> {
        let provider =
            self.sdk
                .credentials_provider()
                .ok_or_else(|| AwsError::CredentialChain {
                    detail: "no credentials provider".into(),
                })?;
        provider
            .provide_credentials()
            .await
            .map_err(|e| AwsError::CredentialChain {
                detail: aws_smithy_types::error::display::DisplayErrorContext(&e).to_string(),
            })
    }
}

/// Why no AWS credentials.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error(transparent)]
    Oidc(#[from] OidcError),
    #[error(
        "no IAM role to assume: set input `role-to-assume`, or `environment` with `environments`"
    )]
    NoRole,
    #[error("no AWS region: set input `aws-region` (or `region` in `environments`, or AWS_REGION)")]
    NoRegion,
    #[error("{}", denied_message(.role_arn, .failure))]
    Denied {
        role_arn: String,
        failure: sts::Failure,
        claims: Option<Box<Claims>>,
    },
    #[error("STS {operation} for role `{role_arn}` failed: {failure}")]
    Sts {
        operation: &'static str,
        role_arn: String,
        failure: sts::Failure,
    },
    #[error("STS GetCallerIdentity failed: {failure}")]
    CallerIdentity { failure: sts::Failure },
    #[error("the AWS credential chain gave no credentials: {detail}")]
    CredentialChain { detail: String },
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
}

fn denied_message(role: &str, f: &sts::Failure) -> String {
    format!("STS refused to let this job assume `{role}`: {f}")
}

/// The claims block: indented four spaces, so it is a code block in Markdown and aligned in plain text.
fn claims_block(c: &Claims) -> String {
    let mut s = String::from("The token's claims that the role's trust policy matches on:\n\n");
    for (k, v) in c.trust_policy_view() {
        s.push_str(&format!("    {k:<17}= {v}\n"));
    }
    s
}

impl AwsError {
    /// What to do about it.
    #[must_use]
    pub fn hint(&self) -> Option<String> {
        match self {
            AwsError::Policy(p) => Some(p.hint()),
            AwsError::Oidc(o) => o.hint(),
            AwsError::Denied {
                role_arn,
                failure,
                claims: Some(c),
            } => Some(format!("{}\n{}", claims_block(c), trust_hint(role_arn, failure, c))),
            AwsError::Denied { role_arn, .. } => Some(format!(
                "No OIDC token was used (AWS credential chain): the identity from the chain must be allowed `sts:AssumeRole` on `{role_arn}`, and the role's trust policy must name it."
            )),
            AwsError::Sts { failure, .. } if failure.code.as_deref() == Some("ValidationError") => {
                Some("Check `role-duration-seconds` against the role's maximum session duration (chained roles: at most 3600).".into())
            }
            AwsError::CredentialChain { .. } => Some(
                "The chain reads AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN), then AWS_PROFILE and ~/.aws, then the container and instance metadata. Under act pass them with `act --env AWS_ACCESS_KEY_ID=... --env AWS_SECRET_ACCESS_KEY=...`; in GitHub Actions prefer OIDC (`permissions: id-token: write`)."
                    .into(),
            ),
            _ => None,
        }
    }

    /// Configuration problems exit 2.
    #[must_use]
    pub fn is_config(&self) -> bool {
        match self {
            AwsError::Policy(p) => p.is_config(),
            AwsError::NoRole | AwsError::NoRegion => true,
            AwsError::Endpoint(EndpointError::BadFlag { .. }) => true,
            AwsError::Oidc(o) => {
                matches!(
                    o,
                    OidcError::MissingPermission { .. }
                        | OidcError::OutsideActions
                        | OidcError::UnderAct
                )
            }
            _ => false,
        }
    }
}

/// The trust-policy statement that would admit this token.
fn trust_hint(role_arn: &str, failure: &sts::Failure, c: &Claims) -> String {
    let host = c
        .iss
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let account = policy::account_of(role_arn).unwrap_or("ACCOUNT_ID");
    let aud = match &c.aud {
        oidc::Audience::One(a) => a.clone(),
        oidc::Audience::Many(v) => v.first().cloned().unwrap_or_default(),
    };
    let mut h = String::new();
    if failure.code.as_deref() == Some("InvalidIdentityToken") {
        h.push_str(&format!(
            "STS does not accept tokens from `{}`: account {account} needs an IAM OIDC identity provider for that URL with client id (audience) `{aud}`.\n\n",
            c.iss
        ));
    }
    h.push_str(&format!(
        "The trust policy of `{role_arn}` must allow this `sub` exactly (matching is case-sensitive):\n\n    \"Principal\": {{\"Federated\": \"arn:aws:iam::{account}:oidc-provider/{host}\"}},\n    \"Action\": \"sts:AssumeRoleWithWebIdentity\",\n    \"Condition\": {{\"StringEquals\": {{\"{host}:aud\": \"{aud}\", \"{host}:sub\": \"{}\"}}}}\n",
        c.sub
    ));
    if c.sub.contains(":environment:") {
        h.push_str(
            "\nThe job declares an `environment`, so `sub` names the environment, not the ref.",
        );
    }
    if c.sub.split(':').nth(1).is_some_and(|r| r.contains('@')) {
        h.push_str("\n`sub` uses the immutable `owner@id/repo@id` form (repositories created after 2026-07-15): a policy written for `repo:owner/repo:*` does not match it.");
    }
    h
}

/// Decides everything that needs no network: mapping, region, role, session, trigger policy on the run's ref.
pub fn plan(
    env: &Env,
    ctx: &crate::context::Context,
    inputs: &AwsInputs,
    purpose: Purpose,
) -> Result<Plan, AwsError> {
    plan_for(env, ctx, inputs, purpose, false)
}

/// [`plan`], for a dry run when `dry_run`: an environment whose policy requires the OIDC `environment`
/// claim, met with the credential chain (act), is not refused but planned, with the refusal a real run
/// would meet in [`Plan::real_run_refusal`]. A dry run writes nothing, so the approval the claim
/// proves guards nothing it could do; every other check stays as strict as for a real run.
pub fn plan_for(
    env: &Env,
    ctx: &crate::context::Context,
    inputs: &AwsInputs,
    purpose: Purpose,
    dry_run: bool,
) -> Result<Plan, AwsError> {
    let mut target = None;
    if let (Some(envs), Some(e)) = (&inputs.environments, &inputs.environment) {
        target = Some(
            envs.get(e)
                .ok_or_else(|| PolicyError::UnmappedEnvironment {
                    environment: e.clone(),
                    known: envs.names().into_iter().map(str::to_owned).collect(),
                })?,
        );
    }
    let decision = match &inputs.environment {
        Some(e) => Some(policy::check_ref(
            &inputs.trigger_policy,
            e,
            ctx.git_ref.as_deref(),
        )?),
        None => None,
    };
    let region = target
        .and_then(|t| t.region.clone())
        .or_else(|| inputs.region.clone())
        .or_else(|| env.get("AWS_REGION").map(str::to_owned))
        .or_else(|| env.get("AWS_DEFAULT_REGION").map(str::to_owned))
        .ok_or(AwsError::NoRegion)?;
    // A bad `AWS_USE_FIPS_ENDPOINT` stops the run before any request (exit 2), never falls back to
    // non-FIPS hosts.
    endpoints::Variants::from_env(env)?;
    let role = target
        .map(|t| t.role.clone())
        .or_else(|| inputs.role_to_assume.clone());
    let source = if oidc::available(env) {
        Source::Oidc
    } else if env.under_act() {
        Source::CredentialChain {
            why: "act (ACT=true) has no OIDC".into(),
        }
    } else if inputs.allow_credential_chain {
        Source::CredentialChain {
            why: "no OIDC token and input `allow-aws-credential-chain: true`".into(),
        }
    } else {
        return Err(oidc::unavailable_error(env).into());
    };
    if source == Source::Oidc && role.is_none() {
        return Err(AwsError::NoRole);
    }
    let mut real_run_refusal = None;
    if let (Source::CredentialChain { .. }, Some(d)) = (&source, &decision)
        && d.require_environment_claim
    {
        let refusal = PolicyError::ClaimWithoutOidc {
            environment: d.environment.clone(),
            by: d.source,
        };
        if !dry_run {
            return Err(refusal.into());
        }
        real_run_refusal = Some(format!("{refusal}. {}", refusal.hint()));
    }
    let session_name = inputs
        .role_session_name
        .clone()
        .unwrap_or_else(|| default_session_name(ctx.repository.as_deref(), ctx.run_id.as_deref()));
    Ok(Plan {
        purpose,
        environment: inputs.environment.clone(),
        role,
        chain: inputs.role_chain.clone(),
        region,
        account_id: target.and_then(|t| t.account_id.clone()),
        session_name,
        duration: inputs.role_duration_seconds,
        audience: inputs.audience.clone(),
        source,
        decision,
        real_run_refusal,
    })
}

/// Says, as a warning annotation, what a real run would refuse (dry runs of a claim-guarded environment).
pub fn warn_real_run_refusal(cmds: &Commands, plan: &Plan) {
    if let Some(r) = &plan.real_run_refusal {
        cmds.annotate(
            Level::Warning,
            Some("stevedore: dry run only; a real run would be refused"),
            &Location::default(),
            r,
        );
    }
}

/// An `SdkConfig` for `region`, endpoints from the snapshot, and `creds` (none: unsigned calls only), with
/// its own HTTP client.
#[must_use]
pub fn sdk_config(env: &Env, region: &str, creds: Option<SharedCredentialsProvider>) -> SdkConfig {
    build_sdk_config(env, region, creds, http_client(env))
}

/// The SDK's default HTTPS client (hyper 1, rustls with ring), with the run's roots and proxy ([`Net`]:
/// the certificates of `SSL_CERT_FILE`/`SSL_CERT_DIR`/the system bundle, `HTTPS_PROXY`/`NO_PROXY` read by
/// `env.rs`, not by the SDK). Built once per run so every client shares its connector: connections are
/// pooled (each SDK client otherwise builds its own).
#[must_use]
pub fn http_client(env: &Env) -> SharedHttpClient {
    use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
    use aws_smithy_http_client::{Builder, ConnectorBuilder};
    let net = Net::from_env(env);
    let mut trust = TrustStore::empty().with_native_roots(false);
    for pem in net.file_roots_pem() {
        trust.add_pem_certificate(pem.as_bytes());
    }
    let tls_context = TlsContext::builder().with_trust_store(trust).build();
    let proxy = aws_proxy_config(net.proxy_vars());
    let cancel = net.cancel().clone();
    let inner = Builder::new().build_with_connector_fn(move |settings, components| {
        let mut b =
            ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(CryptoMode::Ring));
        if let Ok(ctx) = &tls_context {
            b.set_tls_context(ctx.clone());
        }
        b.set_connector_settings(settings.cloned());
        if let Some(c) = components {
            b.set_sleep_impl(c.sleep_impl());
        }
        b.set_proxy_config(Some(proxy.clone()));
        b.build()
    });
    SharedHttpClient::new(Cancellable { inner, cancel })
}

/// The SDK's HTTP client with every request guarded by the run's [`Cancel`]: a request in flight ends at
/// the signal and one started after it fails without being sent (outside [`crate::cancel::cleanup`]).
/// The error is a "user" connector error, which the SDK's retry classifier never retries.
#[derive(Debug)]
struct Cancellable {
    inner: SharedHttpClient,
    cancel: Cancel,
}

impl aws_smithy_runtime_api::client::http::HttpClient for Cancellable {
    fn http_connector(
        &self,
        settings: &aws_smithy_runtime_api::client::http::HttpConnectorSettings,
        components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
    ) -> aws_smithy_runtime_api::client::http::SharedHttpConnector {
        aws_smithy_runtime_api::client::http::SharedHttpConnector::new(CancellableConnector {
            inner: self.inner.http_connector(settings, components),
            cancel: self.cancel.clone(),
        })
    }
}

#[derive(Debug)]
struct CancellableConnector {
    inner: aws_smithy_runtime_api::client::http::SharedHttpConnector,
    cancel: Cancel,
}

impl aws_smithy_runtime_api::client::http::HttpConnector for CancellableConnector {
    fn call(
        &self,
        request: aws_smithy_runtime_api::client::orchestrator::HttpRequest,
    ) -> aws_smithy_runtime_api::client::http::HttpConnectorFuture {
        use aws_smithy_runtime_api::client::http::HttpConnectorFuture;
        use aws_smithy_runtime_api::client::result::ConnectorError;
        let cancel = self.cancel.clone();
        let allowance = crate::cancel::allowance();
        let inner = self.inner.clone();
        HttpConnectorFuture::new(async move {
            // `inner.call` runs inside the guard, so a request after the signal is never sent.
            match cancel
                .guard_with(allowance, async move { inner.call(request).await })
                .await
            {
                Ok(r) => r,
                Err(c) => Err(ConnectorError::user(Box::new(c))),
            }
        })
    }
}

/// The SDK's proxy settings from ours (the SDK would otherwise read the process environment itself).
fn aws_proxy_config(vars: &crate::env::ProxyVars) -> aws_smithy_http_client::proxy::ProxyConfig {
    use aws_smithy_http_client::proxy::ProxyConfig;
    let https = vars.https.as_ref().or(vars.all.as_ref());
    let http = vars.http.as_ref().or(vars.all.as_ref());
    let config = match (http, https) {
        (Some(h), Some(s)) if h == s => ProxyConfig::all(h.as_str()),
        (_, Some(s)) => ProxyConfig::https(s.as_str()),
        (Some(h), None) => ProxyConfig::http(h.as_str()),
        (None, None) => return ProxyConfig::disabled(),
    };
    match config {
        Ok(c) => match &vars.no {
            Some(no) => c.no_proxy(no),
            None => c,
        },
        Err(e) => {
            tracing::warn!("the proxy variables are not usable for AWS requests: {e}");
            ProxyConfig::disabled()
        }
    }
}

fn build_sdk_config(
    env: &Env,
    region: &str,
    creds: Option<SharedCredentialsProvider>,
    http: SharedHttpClient,
) -> SdkConfig {
    let endpoints = EnvEndpoints::from_env(env);
    let variants = endpoints::Variants::from_env_lenient(env);
    let mut b = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .use_fips(variants.fips)
        .use_dual_stack(variants.dualstack)
        .http_client(http);
    if let Some(g) = &endpoints.global {
        b = b.endpoint_url(g.clone());
    }
    b = b.service_config(endpoints);
    if let Some(c) = creds {
        b = b.credentials_provider(c);
    }
    b.build()
}

fn mask_credentials(cmds: &Commands, c: &Credentials) {
    cmds.add_mask(c.access_key_id());
    cmds.add_mask(c.secret_access_key());
    if let Some(t) = c.session_token() {
        cmds.add_mask(t);
    }
}

/// OIDC -> STS -> SdkConfig, after the policy allowed it. See the module docs.
pub async fn connect(
    env: &Env,
    ctx: &Context,
    cmds: &Commands,
    inputs: &AwsInputs,
    purpose: Purpose,
    dry_run: bool,
) -> Result<Connected, AwsError> {
    let plan = plan_for(env, ctx, inputs, purpose, dry_run)?;
    warn_real_run_refusal(cmds, &plan);
    connect_planned(env, cmds, &inputs.trigger_policy, &plan).await
}

/// Connects as environment `name` of the `environments` map — the source of a promotion across
/// accounts (docs/promotion.md): its role, region and account, the role assumed the way this step's is
/// (the GitHub OIDC token, or the credential chain where allowed), without `role-chain` and without the
/// trigger policy's decision for `name` (the step deploys elsewhere; the promotion checks the release's
/// commit against the policy of both environments). The account reached must be the one the map names.
///
/// # Errors
/// `name` not in the map, and every error of [`connect`].
pub async fn connect_environment(
    env: &Env,
    ctx: &Context,
    cmds: &Commands,
    inputs: &AwsInputs,
    name: &str,
    dry_run: bool,
) -> Result<Connected, AwsError> {
    let envs = inputs.environments.as_ref();
    let target =
        envs.and_then(|e| e.get(name))
            .ok_or_else(|| PolicyError::UnmappedEnvironment {
                environment: name.to_owned(),
                known: envs
                    .map(|e| e.names().into_iter().map(str::to_owned).collect())
                    .unwrap_or_default(),
            })?;
    let mut plan = plan_for(env, ctx, inputs, Purpose::Deploy, dry_run)?;
    plan.role = Some(target.role.clone());
    plan.chain = Vec::new();
    if let Some(r) = &target.region {
        plan.region.clone_from(r);
    }
    plan.account_id = target
        .account_id
        .clone()
        .or_else(|| policy::account_of(&target.role).map(str::to_owned));
    plan.environment = Some(name.to_owned());
    plan.decision = None;
    plan.real_run_refusal = None;
    connect_planned(env, cmds, &inputs.trigger_policy, &plan).await
}

/// [`connect`] for a plan already made.
pub async fn connect_planned(
    env: &Env,
    cmds: &Commands,
    trigger_policy: &TriggerPolicy,
    plan: &Plan,
) -> Result<Connected, AwsError> {
    let http = http_client(env);
    let unsigned = build_sdk_config(env, &plan.region, None, http.clone());
    let mut claims = None;
    let mut creds = match &plan.source {
        Source::Oidc => {
            let role = plan.role.as_deref().ok_or(AwsError::NoRole)?;
            let token = oidc::token(env, cmds, &plan.audience).await?;
            tracing::info!(
                sub = %token.claims.sub,
                "GitHub OIDC token verified (issuer {})",
                token.claims.iss
            );
            if let Some(d) = &plan.decision {
                policy::check_claims(trigger_policy, d, &token.claims)?;
            }
            let client = sts::client(&unsigned);
            let out = sts::with_retries("AssumeRoleWithWebIdentity", || {
                client
                    .assume_role_with_web_identity()
                    .role_arn(role)
                    .role_session_name(&plan.session_name)
                    .duration_seconds(i32::try_from(plan.duration).unwrap_or(3600))
                    .web_identity_token(token.jwt.expose_secret())
                    .send()
            })
            .await
            .map_err(|failure| {
                sts_error(
                    "AssumeRoleWithWebIdentity",
                    role,
                    failure,
                    Some(&token.claims),
                )
            })?;
            let c =
                sts::into_credentials(out.credentials(), "stevedore-oidc").map_err(|failure| {
                    AwsError::Sts {
                        operation: "AssumeRoleWithWebIdentity",
                        role_arn: role.to_owned(),
                        failure,
                    }
                })?;
            mask_credentials(cmds, &c);
            tracing::info!("assumed `{role}` with the GitHub OIDC token");
            claims = Some(token.claims);
            c
        }
        Source::CredentialChain { why } => {
            let msg = format!(
                "Using the standard AWS credential chain instead of GitHub OIDC: {why}. These credentials are whatever the environment provides."
            );
            tracing::warn!("{msg}");
            cmds.annotate(
                Level::Warning,
                Some("stevedore: AWS credential chain in use"),
                &Location::default(),
                &msg,
            );
            let c = chain_credentials(env, &plan.region, http.clone()).await?;
            mask_credentials(cmds, &c);
            match plan.role.as_deref() {
                Some(role) => {
                    let sdk = build_sdk_config(
                        env,
                        &plan.region,
                        Some(SharedCredentialsProvider::new(c)),
                        http.clone(),
                    );
                    assume_role(
                        &sdk,
                        cmds,
                        role,
                        &plan.session_name,
                        plan.duration,
                        claims.as_ref(),
                    )
                    .await?
                }
                None => c,
            }
        }
    };
    for role in &plan.chain {
        let duration = plan.duration.min(CHAINED_MAX_DURATION);
        let sdk = build_sdk_config(
            env,
            &plan.region,
            Some(SharedCredentialsProvider::new(creds)),
            http.clone(),
        );
        creds = assume_role(
            &sdk,
            cmds,
            role,
            &plan.session_name,
            duration,
            claims.as_ref(),
        )
        .await?;
    }
    let expiration = creds.expiry();
    let sdk = build_sdk_config(
        env,
        &plan.region,
        Some(SharedCredentialsProvider::new(creds)),
        http,
    );
    let client = sts::client(&sdk);
    let who = sts::with_retries("GetCallerIdentity", || client.get_caller_identity().send())
        .await
        .map_err(|failure| AwsError::CallerIdentity { failure })?;
    let account_id = who.account().unwrap_or_default().to_owned();
    let arn = who.arn().unwrap_or_default().to_owned();
    if let (Some(expected), Some(e)) = (&plan.account_id, &plan.environment)
        && expected != &account_id
    {
        return Err(PolicyError::AccountMismatch {
            environment: e.clone(),
            expected: expected.clone(),
            got: account_id,
        }
        .into());
    }
    tracing::info!(account = %account_id, "AWS identity `{arn}`");
    Ok(Connected {
        sdk,
        account_id,
        environment: plan.environment.clone(),
        arn,
        region: plan.region.clone(),
        expiration,
        claims,
    })
}

fn sts_error(
    operation: &'static str,
    role: &str,
    failure: sts::Failure,
    claims: Option<&Claims>,
) -> AwsError {
    match failure.code.as_deref() {
        Some("AccessDenied" | "InvalidIdentityToken" | "IDPRejectedClaim") => AwsError::Denied {
            role_arn: role.to_owned(),
            failure,
            claims: claims.cloned().map(Box::new),
        },
        _ => AwsError::Sts {
            operation,
            role_arn: role.to_owned(),
            failure,
        },
    }
}

async fn assume_role(
    sdk: &SdkConfig,
    cmds: &Commands,
    role: &str,
    session: &str,
    duration: u32,
    claims: Option<&Claims>,
) -> Result<Credentials, AwsError> {
    let client = sts::client(sdk);
    let out = sts::with_retries("AssumeRole", || {
        client
            .assume_role()
            .role_arn(role)
            .role_session_name(session)
            .duration_seconds(i32::try_from(duration).unwrap_or(3600))
            .send()
    })
    .await
    .map_err(|failure| sts_error("AssumeRole", role, failure, claims))?;
    let c = sts::into_credentials(out.credentials(), "stevedore-chain").map_err(|failure| {
        AwsError::Sts {
            operation: "AssumeRole",
            role_arn: role.to_owned(),
            failure,
        }
    })?;
    mask_credentials(cmds, &c);
    tracing::info!("assumed chained role `{role}`");
    Ok(c)
}

/// The standard chain: static keys from the environment snapshot first, then aws-config's default chain
/// (profile, web-identity file, ECS container, IMDS), whose providers call out through `http` (the run's
/// client, [`http_client`]).
async fn chain_credentials(
    env: &Env,
    region: &str,
    http: SharedHttpClient,
) -> Result<Credentials, AwsError> {
    if let (Some(id), Some(secret)) = (
        env.get("AWS_ACCESS_KEY_ID"),
        env.get("AWS_SECRET_ACCESS_KEY"),
    ) {
        return Ok(Credentials::new(
            id,
            secret,
            env.get("AWS_SESSION_TOKEN").map(str::to_owned),
            None,
            "stevedore-environment",
        ));
    }
    // The SDK's default HTTP client is not linked (one crypto library, src/net/crypto.rs).
    let providers =
        aws_config::provider_config::ProviderConfig::without_region().with_http_client(http);
    let chain = aws_config::default_provider::credentials::DefaultCredentialsChain::builder()
        .configure(providers)
        .region(Region::new(region.to_owned()))
        .build()
        .await;
    chain
        .provide_credentials()
        .await
        .map_err(|e| AwsError::CredentialChain {
            detail: aws_smithy_types::error::display::DisplayErrorContext(&e).to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::Context;

    #[test]
    fn session_names_are_sanitised_and_bounded() {
        assert_eq!(
            default_session_name(Some("octo-org/octo-repo"), Some("4242")),
            "octo-org@octo-repo-4242"
        );
        let long = format!("o/{}", "r".repeat(100));
        let n = default_session_name(Some(&long), Some("123456789"));
        assert_eq!(n.len(), 64);
        assert!(n.ends_with("-123456789"));
        assert!(valid_session_name(&n));
        assert_eq!(default_session_name(Some("o/ré po"), None), "o@r--po");
        assert!(valid_session_name(&default_session_name(None, None)));
        assert!(!valid_session_name("a"));
        assert!(!valid_session_name("a b"));
        assert!(!valid_session_name(&"a".repeat(65)));
    }

    fn inputs(pairs: &[(&str, &str)]) -> (AwsInputs, usize) {
        let env = Env::from_pairs(
            pairs
                .iter()
                .map(|(k, v)| (format!("INPUT_{}", k.to_uppercase()), (*v).to_owned())),
        );
        let mut p = Inputs::new(&env);
        let a = AwsInputs::parse(&mut p);
        (a, p.error_count())
    }

    #[test]
    fn every_bad_input_is_reported() {
        let (_, n) = inputs(&[
            ("aws-region", "moon"),
            ("role-to-assume", "arn:aws:iam::1:role/x"),
            ("role-session-name", "a b"),
            ("role-duration-seconds", "60"),
            ("role-chain", "nope"),
            (
                "environments",
                "dev: {role: 'arn:aws:iam::111111111111:role/x'}",
            ),
        ]);
        // region, role, session, duration, chain, and `environment` missing beside `environments`.
        assert_eq!(n, 6);
    }

    /// `examples/*.yml` build the map from repository variables; an unset one leaves `arn:aws:iam:::role/x`.
    const ONE_VARIABLE_UNSET: &str = "dev:        { role: \"arn:aws:iam:::role/github-deploy\", region: eu-west-1 }\nproduction: { role: \"arn:aws:iam::333333333333:role/github-deploy\", region: eu-west-1 }\n";

    #[test]
    fn an_invalid_entry_for_another_environment_only_warns() {
        let env = Env::from_pairs([
            ("INPUT_ENVIRONMENT", "production"),
            ("INPUT_ENVIRONMENTS", ONE_VARIABLE_UNSET),
        ]);
        let mut p = Inputs::new(&env);
        let a = AwsInputs::parse(&mut p);
        assert_eq!(p.error_count(), 0);
        let w = p.warnings();
        assert_eq!(w.len(), 1, "{w:?}");
        assert_eq!(w[0].input, "environments");
        for part in [
            "environment `dev`",
            "arn:aws:iam:::role/github-deploy",
            "vars.<ENV>_ACCOUNT_ID",
            "targets `production`",
            "Fix the entry",
        ] {
            assert!(w[0].message.contains(part), "{part}: {}", w[0].message);
        }
        let envs = a.environments.unwrap();
        assert_eq!(envs.names(), ["production"]);
    }

    #[test]
    fn an_invalid_entry_for_the_targeted_environment_is_an_error() {
        let env = Env::from_pairs([
            ("INPUT_ENVIRONMENT", "dev"),
            ("INPUT_ENVIRONMENTS", ONE_VARIABLE_UNSET),
        ]);
        let mut p = Inputs::new(&env);
        let _a = AwsInputs::parse(&mut p);
        assert!(p.warnings().is_empty());
        let e = p.finish().unwrap_err();
        assert_eq!(e.0.len(), 1, "{e}");
        assert_eq!(e.0[0].input, "environments");
        assert!(
            e.0[0].problem.contains(
                "environment `dev`: role `arn:aws:iam:::role/github-deploy` is not an IAM role ARN"
            ),
            "{e}"
        );
    }

    #[test]
    fn unmapped_environment_is_refused_by_the_plan() {
        let (a, n) = inputs(&[
            ("environment", "qa"),
            (
                "environments",
                "dev: {role: 'arn:aws:iam::111111111111:role/x', region: eu-west-1}",
            ),
        ]);
        assert_eq!(n, 0);
        let env = Env::from_pairs([
            ("ACTIONS_ID_TOKEN_REQUEST_URL", "http://x"),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "t"),
        ]);
        let e = plan(&env, &Context::default(), &a, Purpose::Deploy).unwrap_err();
        assert!(
            e.to_string()
                .contains("`qa` is not in input `environments`"),
            "{e}"
        );
        assert!(e.is_config());
    }

    #[test]
    fn mapping_gives_role_region_and_account() {
        let (a, _) = inputs(&[
            ("environment", "dev"),
            (
                "environments",
                "dev: {role: 'arn:aws:iam::111111111111:role/x', region: eu-west-1, account-id: '111111111111'}",
            ),
        ]);
        let env = Env::from_pairs([
            ("ACTIONS_ID_TOKEN_REQUEST_URL", "http://x"),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "t"),
            ("GITHUB_REF", "refs/heads/main"),
        ]);
        let ctx = Context::from_parts(&env, serde_json::Value::Null);
        let p = plan(&env, &ctx, &a, Purpose::Deploy).unwrap();
        assert_eq!(p.role.as_deref(), Some("arn:aws:iam::111111111111:role/x"));
        assert_eq!(p.region, "eu-west-1");
        assert_eq!(p.account_id.as_deref(), Some("111111111111"));
        assert!(p.describe().contains("ref matches `refs/heads/main`"));
    }

    #[test]
    fn without_oidc_the_chain_needs_act_or_opt_in() {
        let (a, _) = inputs(&[("aws-region", "eu-west-1")]);
        let e = plan(
            &Env::default(),
            &Context::default(),
            &a,
            Purpose::Credentials,
        )
        .unwrap_err();
        assert!(e.to_string().contains("id-token: write"), "{e}");
        let act = Env::from_pairs([("ACT", "true")]);
        let p = plan(&act, &Context::default(), &a, Purpose::Credentials).unwrap();
        assert!(matches!(p.source, Source::CredentialChain { .. }));
        let (a, _) = inputs(&[
            ("aws-region", "eu-west-1"),
            ("allow-aws-credential-chain", "true"),
        ]);
        assert!(
            plan(
                &Env::default(),
                &Context::default(),
                &a,
                Purpose::Credentials
            )
            .is_ok()
        );
    }

    fn claims(sub: &str) -> Claims {
        serde_json::from_value(serde_json::json!({
            "iss": "https://token.actions.githubusercontent.com",
            "aud": "sts.amazonaws.com",
            "sub": sub,
            "exp": 0
        }))
        .unwrap()
    }

    #[test]
    fn the_trust_hint_names_the_principal_and_the_usual_surprises() {
        let f = sts::Failure {
            code: Some("AccessDenied".into()),
            message: "m".into(),
            status: Some(403),
            transient: false,
            attempts: 1,
        };
        let role = "arn:aws:iam::333333333333:role/deploy";
        let h = trust_hint(role, &f, &claims("repo:o/r:environment:production"));
        assert!(
            h.contains(
                "arn:aws:iam::333333333333:oidc-provider/token.actions.githubusercontent.com"
            ),
            "{h}"
        );
        assert!(
            h.contains(
                "\"token.actions.githubusercontent.com:sub\": \"repo:o/r:environment:production\""
            ),
            "{h}"
        );
        assert!(h.contains("`sub` names the environment"), "{h}");
        let h = trust_hint(role, &f, &claims("repo:o@1/r@2:ref:refs/heads/main"));
        assert!(h.contains("immutable"), "{h}");
        let f = sts::Failure {
            code: Some("InvalidIdentityToken".into()),
            ..f
        };
        let h = trust_hint(role, &f, &claims("repo:o/r:ref:refs/heads/main"));
        assert!(h.contains("needs an IAM OIDC identity provider"), "{h}");
    }

    #[test]
    fn a_bad_endpoint_flag_stops_the_plan_and_the_flags_reach_the_sdk_config() {
        let (a, _) = inputs(&[("aws-region", "us-gov-west-1")]);
        let env = Env::from_pairs([("ACT", "true"), ("AWS_USE_FIPS_ENDPOINT", "on")]);
        let e = plan(&env, &Context::default(), &a, Purpose::Credentials).unwrap_err();
        assert!(e.is_config(), "{e}");
        assert!(e.to_string().contains("AWS_USE_FIPS_ENDPOINT=`on`"), "{e}");
        let env = Env::from_pairs([
            ("AWS_USE_FIPS_ENDPOINT", "true"),
            ("AWS_USE_DUALSTACK_ENDPOINT", "true"),
        ]);
        let sdk = sdk_config(&env, "us-gov-west-1", None);
        assert_eq!(
            (sdk.use_fips(), sdk.use_dual_stack()),
            (Some(true), Some(true))
        );
        let sdk = sdk_config(&Env::default(), "us-gov-west-1", None);
        assert_eq!(
            (sdk.use_fips(), sdk.use_dual_stack()),
            (Some(false), Some(false))
        );
    }

    #[test]
    fn production_under_act_is_refused_for_lack_of_claims() {
        let (a, _) = inputs(&[("aws-region", "eu-west-1"), ("environment", "production")]);
        let env = Env::from_pairs([("ACT", "true"), ("GITHUB_REF", "refs/tags/v1.2.0-stable")]);
        let ctx = Context::from_parts(&env, serde_json::Value::Null);
        let e = plan(&env, &ctx, &a, Purpose::Deploy).unwrap_err();
        assert!(
            e.to_string().contains("credential chain has no claims"),
            "{e}"
        );
    }
}
