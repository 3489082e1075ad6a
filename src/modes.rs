//! The six modes. Each has `Config::parse` (inputs) and `run` (plan, then apply) returning a [`Report`].

pub mod build;
pub mod credentials;
pub mod deploy;
pub mod lint_gate;
pub mod permissions;
pub mod plan;
pub mod publish;
pub mod runtime;

pub use runtime::{Failure, ModeError, Runtime};

use crate::report::Report;

/// Mode-specific configuration.
#[derive(Debug)]
pub enum ModeConfig {
    LintGate(lint_gate::Config),
    Build(build::Config),
    Deploy(deploy::Config),
    Publish(publish::Config),
    Credentials(credentials::Config),
    Plan(plan::Config),
}

/// Runs the configured mode.
pub async fn run(rt: &Runtime<'_>, mode: &ModeConfig) -> Result<Report, ModeError> {
    match mode {
        ModeConfig::LintGate(c) => lint_gate::run(rt, c).await,
        ModeConfig::Build(c) => build::run(rt, c).await,
        ModeConfig::Deploy(c) => deploy::run(rt, c).await,
        ModeConfig::Publish(c) => publish::run(rt, c).await,
        ModeConfig::Credentials(c) => credentials::run(rt, c).await,
        ModeConfig::Plan(c) => plan::run(rt, c).await,
    }
}

#[cfg(test)]
mod failure_tests {
    use super::*;
    use crate::aws::call::CallError;
    use crate::modes::deploy::lambda::LambdaError;

    fn denied() -> LambdaError {
        LambdaError::Aws(CallError {
            service: "Lambda",
            op: "UpdateFunctionCode",
            resource: "api".into(),
            code: Some("AccessDeniedException".into()),
            status: Some(403),
            message: "AccessDeniedException: not allowed".into(),
            transient: false,
        })
    }

    fn through_question_mark(e: LambdaError) -> Result<(), ModeError> {
        Err(e)?;
        Ok(())
    }

    #[test]
    fn a_module_error_stays_typed_behind_mode_error() {
        let Err(m) = through_question_mark(denied()) else {
            panic!("no error");
        };
        assert!(!m.is_config());
        assert_eq!(
            m.to_string(),
            "Lambda UpdateFunctionCode on `api` failed: AccessDeniedException: not allowed"
        );
        assert_eq!(
            m.hint().as_deref(),
            Some("The role needs `lambda:UpdateFunctionCode` on this resource.")
        );
        let Some(LambdaError::Aws(call)) = m.downcast_ref::<LambdaError>() else {
            panic!("not a LambdaError::Aws: {m:?}");
        };
        assert!(call.is_access_denied());
        assert_eq!(call.status, Some(403));
        assert!(m.downcast_ref::<crate::aws::AwsError>().is_none());
    }

    #[test]
    fn the_class_of_a_typed_error_is_its_own() {
        let m = ModeError::from(LambdaError::FunctionNotFound {
            function: "api".into(),
        });
        assert!(m.is_config(), "{m}");
        let plain = ModeError::Failed {
            message: "x".into(),
            hint: None,
        };
        assert!(!plain.is_config() && plain.downcast_ref::<LambdaError>().is_none());
    }
}
