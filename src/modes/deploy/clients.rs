//! The AWS clients the deploy targets share, configured once (retries, timeouts, endpoints).
//!
//! This module imports no deploy target; the targets import it.

use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_ecs::Client;

/// The ECS client for an SDK configuration. Five attempts (standard retry mode, which retries
/// ThrottlingException, 5xx and transport errors with jittered backoff): a rollout watch polls for
/// minutes and ECS's control plane throttles per account.
#[must_use]
pub fn ecs(sdk: &SdkConfig) -> Client {
    let retry = sdk
        .retry_config()
        .cloned()
        .unwrap_or_else(aws_smithy_types::retry::RetryConfig::standard);
    let retry = if retry.max_attempts() < 5 {
        retry.with_max_attempts(5)
    } else {
        retry
    };
    // A hung connection must not outlive `wait-timeout`: bound each attempt and each call.
    let timeouts = aws_smithy_types::timeout::TimeoutConfig::builder()
        .operation_attempt_timeout(Duration::from_secs(20))
        .operation_timeout(Duration::from_secs(60))
        .build();
    Client::from_conf(
        // A configured ECS endpoint wins over the FIPS and dual-stack flags.
        aws_sdk_ecs::config::Builder::from(&crate::aws::endpoints::sdk_for(sdk, "ECS"))
            .retry_config(retry)
            .timeout_config(timeouts)
            .build(),
    )
}
