//! The validated configuration of one run: common inputs plus the chosen mode's inputs.
//!
//! Only the selected mode's inputs are parsed (a lint-gate run does not complain about deploy inputs), and
//! every error of every input is collected before anything runs.

use crate::inputs::Input;
use secrecy::SecretString;

use crate::env::Env;
use crate::inputs::{InputErrors, InputWarning, Inputs, Mode, Recorded};
use crate::modes;

pub use crate::inputs::Common;
pub use crate::modes::ModeConfig;

/// The whole validated configuration.
#[derive(Debug)]
pub struct Config {
    pub common: Common,
    pub mode: ModeConfig,
    /// Chat webhooks told the outcome (`notify`).
    pub notify: crate::notify::Config,
    /// Problems that do not stop this run (shown as `::warning`).
    pub warnings: Vec<InputWarning>,
}

impl Config {
    /// Parses and validates every input, reporting all errors at once.
    pub fn from_env(env: &Env) -> Result<Config, InputErrors> {
        let mut p = Inputs::new(env);
        let mut cfg = Self::parse(&mut p);
        if let Ok(c) = &mut cfg {
            c.warnings = p.warnings().to_vec();
        }
        p.finish_with(cfg)
    }

    /// Reads every input the chosen mode uses. `Err` (with the error it recorded) when the mode is missing
    /// or invalid, or the mode's inputs cannot make a configuration; other errors are collected in `p`.
    pub fn parse(p: &mut Inputs<'_>) -> Result<Config, Recorded> {
        let mode_raw = p.string(Input::Mode);
        let mode = match mode_raw.as_deref() {
            None => Err(p.missing(Input::Mode, "to choose what stevedore does", "lint-gate")),
            Some(m) => Mode::parse(m).ok_or_else(|| {
                p.error(
                    Input::Mode,
                    Some(m),
                    "is not a mode",
                    format!(
                        "Use one of {}",
                        Mode::ALL
                            .iter()
                            .map(|m| format!("`{m}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            }),
        };
        let github_token = p.string(Input::GithubToken).map(SecretString::from);
        let dry_run = p.bool(Input::DryRun, false);
        let mut report_key = p.string(Input::ReportKey);
        let comment = p.bool(Input::Comment, true);
        let notify = crate::notify::Config::parse(p);
        let mode = mode?;
        let mode_cfg = Self::parse_mode(mode, p)?;
        // Preview reports (and their failures) share one sticky comment per PR, apart from the
        // deploy comment of the same workflow.
        if let ModeConfig::Deploy(d) = &mode_cfg
            && d.preview.is_some()
            && report_key.is_none()
        {
            report_key = Some(modes::deploy::preview::REPORT_KEY.to_owned());
        }
        // A deploy's check run, sticky comment and failure report carry its environment by default
        // (`stevedore / deploy (production)`), from the start: each environment's deploy is its own
        // required check, even when the step fails before its report.
        if let ModeConfig::Deploy(d) = &mode_cfg
            && report_key.is_none()
        {
            report_key.clone_from(&d.target.aws().environment);
        }
        Ok(Config {
            common: Common {
                mode,
                github_token,
                dry_run,
                report_key,
                comment,
            },
            mode: mode_cfg,
            notify,
            warnings: Vec::new(),
        })
    }

    /// Parses the inputs of `mode` (also used by the test that compares the inputs with `action.yml`).
    pub fn parse_mode(mode: Mode, p: &mut Inputs<'_>) -> Result<ModeConfig, Recorded> {
        Ok(match mode {
            Mode::LintGate => ModeConfig::LintGate(modes::lint_gate::Config::parse(p)),
            Mode::Build => ModeConfig::Build(modes::build::Config::parse(p)),
            Mode::Deploy => ModeConfig::Deploy(modes::deploy::Config::parse(p)?),
            Mode::Publish => ModeConfig::Publish(modes::publish::Config::parse(p)),
            Mode::Credentials => ModeConfig::Credentials(modes::credentials::Config::parse(p)),
            Mode::Plan => ModeConfig::Plan(modes::plan::Config::parse(p)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(pairs: &[(&str, &str)]) -> Option<String> {
        let env = Env::from_pairs(pairs.iter().copied());
        Config::from_env(&env)
            .unwrap_or_else(|e| panic!("{e:?}"))
            .common
            .report_key
    }

    #[test]
    fn a_deploy_is_reported_under_its_environment_unless_report_key_says_otherwise() {
        let deploy = [
            ("INPUT_MODE", "deploy"),
            ("INPUT_FUNCTION-NAME", "api"),
            ("INPUT_ZIP-FILE", "app.zip"),
        ];
        assert_eq!(key(&deploy), None);
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut v = deploy.to_vec();
            v.extend_from_slice(extra);
            key(&v)
        };
        assert_eq!(
            with(&[("INPUT_ENVIRONMENT", "production")]).as_deref(),
            Some("production")
        );
        assert_eq!(
            with(&[
                ("INPUT_ENVIRONMENT", "production"),
                ("INPUT_REPORT-KEY", "eu")
            ])
            .as_deref(),
            Some("eu")
        );
        // Other modes keep one check per mode.
        assert_eq!(
            key(&[
                ("INPUT_MODE", "credentials"),
                ("INPUT_ENVIRONMENT", "dev"),
                ("INPUT_ROLE-TO-ASSUME", "arn:aws:iam::111111111111:role/x")
            ]),
            None
        );
    }
}
