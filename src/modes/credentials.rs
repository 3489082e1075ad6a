//! `credentials` mode: a drop-in for aws-actions/configure-aws-credentials.
//!
//! GitHub OIDC -> STS (with the trigger policy and environment mapping of [`crate::aws`]) -> masked
//! credentials exported to `GITHUB_ENV` for later steps (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_SESSION_TOKEN`, `AWS_REGION`, `AWS_DEFAULT_REGION`), output `aws-account-id` (and `authenticated-arn`),
//! and the credentials as step outputs only with `output-credentials: true` (as configure-aws-credentials).
//! With `dry-run` it prints the plan and makes no request at all.

use crate::inputs::Input;
use std::time::SystemTime;

use crate::aws::{self, AwsInputs, Purpose};
use crate::env::vars;
use crate::inputs::Inputs;
use crate::modes::runtime::{ModeError, Runtime};
use crate::report::{Report, Verdict, files};

/// Inputs of this mode.
#[derive(Debug, Default)]
pub struct Config {
    pub aws: Box<AwsInputs>,
    /// `output-env-credentials` (default true): write the credentials to `GITHUB_ENV`.
    pub output_env_credentials: bool,
    /// `output-credentials` (default false): also set them as step outputs.
    pub output_credentials: bool,
    /// `mask-aws-account-id` (default false).
    pub mask_account_id: bool,
}

impl Config {
    /// Reads this mode's inputs.
    pub fn parse(p: &mut Inputs<'_>) -> Self {
        let aws = Box::new(AwsInputs::parse(p));
        Self {
            aws,
            output_env_credentials: p.bool(Input::OutputEnvCredentials, true),
            output_credentials: p.bool(Input::OutputCredentials, false),
            mask_account_id: p.bool(Input::MaskAwsAccountId, false),
        }
    }
}

/// Seconds since the epoch as RFC 3339 (UTC).
fn rfc3339(t: SystemTime) -> String {
    aws_smithy_types::DateTime::from(t)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default()
}

/// Runs the mode.
pub async fn run(rt: &Runtime<'_>, cfg: &Config) -> Result<Report, ModeError> {
    let plan = aws::plan_for(
        rt.env,
        rt.ctx,
        &cfg.aws,
        Purpose::Credentials,
        rt.common.dry_run,
    )?;
    aws::warn_real_run_refusal(rt.cmds, &plan);
    let env_file = rt.env.path(vars::GITHUB_ENV);
    if cfg.output_env_credentials && env_file.is_none() && !rt.common.dry_run {
        return Err(ModeError::Config {
            message: "`GITHUB_ENV` is not set, so there is nowhere to export the credentials to"
                .into(),
            hint: Some(
                "Run inside GitHub Actions, or set `output-env-credentials: false` and use `output-credentials: true`."
                    .into(),
            ),
        });
    }
    if rt.common.dry_run {
        let mut r = Report::new(
            rt.common.mode,
            Verdict::Success,
            "credentials: dry run",
            format!(
                "## 🔑 stevedore credentials — dry run\n\nNothing was requested. The plan:\n\n{}{}",
                plan.describe(),
                plan.real_run_refusal
                    .as_deref()
                    .map_or_else(String::new, |r| format!(
                        "\n**A real run would be refused:** {r}\n"
                    ))
            ),
        );
        r.key.clone_from(&plan.environment);
        r.comment = false;
        return Ok(r);
    }

    let connected = aws::connect_planned(rt.env, rt.cmds, &cfg.aws.trigger_policy, &plan).await?;
    let creds = connected.credentials().await?;
    if cfg.mask_account_id {
        rt.cmds.add_mask(&connected.account_id);
        rt.cmds.add_mask(&connected.arn);
    }
    // Masked already by `connect`; repeated here so this mode never depends on that detail.
    rt.cmds.add_mask(creds.access_key_id());
    rt.cmds.add_mask(creds.secret_access_key());
    let token = creds.session_token().unwrap_or_default();
    rt.cmds.add_mask(token);

    let region = connected.region.as_str();
    let pairs = [
        ("AWS_ACCESS_KEY_ID", creds.access_key_id()),
        ("AWS_SECRET_ACCESS_KEY", creds.secret_access_key()),
        ("AWS_SESSION_TOKEN", token),
        ("AWS_REGION", region),
        ("AWS_DEFAULT_REGION", region),
    ];
    if cfg.output_env_credentials
        && let Some(path) = &env_file
    {
        files::write_env(path, pairs).map_err(|e| ModeError::Failed {
            message: e.to_string(),
            hint: None,
        })?;
    }

    let expiration = connected.expiration.map(rfc3339);
    let mut summary = format!(
        "## 🔑 stevedore credentials\n\n| | |\n| --- | --- |\n| identity | `{}` |\n| account | `{}` |\n| region | `{}` |\n",
        connected.arn, connected.account_id, region
    );
    if let Some(e) = &connected.environment {
        summary.push_str(&format!("| environment | `{e}` |\n"));
    }
    if let Some(x) = &expiration {
        summary.push_str(&format!("| expires | {x} |\n"));
    }
    summary.push_str(&format!(
        "| exported | {} |\n",
        match (cfg.output_env_credentials, cfg.output_credentials) {
            (true, true) => "`GITHUB_ENV` and step outputs",
            (true, false) => "`GITHUB_ENV` (later steps of this job)",
            (false, true) => "step outputs",
            (false, false) => "nowhere (identity check only)",
        }
    ));
    if let Some(c) = &connected.claims {
        summary.push_str(&format!("| OIDC subject | `{}` |\n", c.sub));
    }
    summary.push_str("\n<details><summary>Plan</summary>\n\n");
    summary.push_str(&plan.describe());
    summary.push_str("\n</details>\n");

    let mut r = Report::new(
        rt.common.mode,
        Verdict::Success,
        format!("AWS credentials for account {}", connected.account_id),
        summary,
    );
    r.key.clone_from(&connected.environment);
    r.comment = false;
    r.output("aws-account-id", connected.account_id.clone());
    r.output("authenticated-arn", connected.arn.clone());
    if cfg.output_credentials {
        r.output("aws-access-key-id", creds.access_key_id());
        r.output("aws-secret-access-key", creds.secret_access_key());
        r.output("aws-session-token", token);
        if let Some(x) = expiration {
            r.output("aws-expiration", x);
        }
    }
    Ok(r)
}
