//! How the deploy mode reaches AWS until `crate::aws` (OIDC -> STS, trigger policy) is in this build.
//!
//! The shapes mirror the agreed interface (`aws::AwsInputs::parse`, `aws::connect` returning
//! `Connected { sdk, account_id, environment }`), so switching means replacing this module's two items by
//! `crate::aws`'s. Until then the credentials are the standard `AWS_*` variables of the environment
//! snapshot (act, local runs) and endpoints follow `AWS_ENDPOINT_URL_ECS` / `AWS_ENDPOINT_URL`.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_types::retry::RetryConfig;

use crate::env::vars;
use crate::inputs::Inputs;
use crate::modes::{ModeError, Runtime};

/// The AWS inputs the deploy mode reads.
#[derive(Debug, Default)]
pub struct AwsInputs {
    pub region: Option<String>,
}

impl AwsInputs {
    pub fn parse(p: &mut Inputs<'_>) -> Self {
        Self {
            region: p.string("aws-region"),
        }
    }
}

/// A usable AWS connection.
#[derive(Debug)]
pub struct Connected {
    pub sdk: SdkConfig,
    pub account_id: String,
    pub environment: Option<String>,
}

/// Builds the SDK configuration from the environment snapshot.
pub async fn connect(rt: &Runtime<'_>, inputs: &AwsInputs) -> Result<Connected, ModeError> {
    let env = rt.env;
    let region = inputs
        .region
        .clone()
        .or_else(|| env.get("AWS_REGION").map(str::to_owned))
        .ok_or_else(|| ModeError::Config {
            message: "no AWS region: input `aws-region` is empty and AWS_REGION is unset".into(),
            hint: Some("Set `aws-region: eu-west-1` (for example) in `with:`".into()),
        })?;
    let (Some(id), Some(secret)) = (
        env.get("AWS_ACCESS_KEY_ID"),
        env.get("AWS_SECRET_ACCESS_KEY"),
    ) else {
        return Err(ModeError::Config {
            message: "no AWS credentials: this build reads AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (OIDC role assumption is provided by the credentials module)".into(),
            hint: Some("Run aws-actions/configure-aws-credentials before this step, or use a build with OIDC support".into()),
        });
    };
    rt.cmds.add_mask(secret);
    let token = env.get("AWS_SESSION_TOKEN").map(str::to_owned);
    if let Some(t) = &token {
        rt.cmds.add_mask(t);
    }
    let creds = Credentials::new(id, secret, token, None, "environment");
    let mut b = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region))
        .credentials_provider(SharedCredentialsProvider::new(creds))
        .retry_config(RetryConfig::standard().with_max_attempts(5));
    let endpoint = env
        .get(&format!("{}ECS", vars::AWS_ENDPOINT_URL_PREFIX))
        .or_else(|| env.get(vars::AWS_ENDPOINT_URL));
    if let Some(e) = endpoint {
        b = b.endpoint_url(e);
    }
    Ok(Connected {
        sdk: b.build(),
        account_id: String::new(),
        environment: None,
    })
}
