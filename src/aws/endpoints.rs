//! AWS endpoint overrides read from the [`Env`] snapshot, never from the process.
//!
//! Same convention as the SDK (`aws-config` `env_service_config.rs`): `AWS_ENDPOINT_URL_<SERVICE>` (service
//! id upper-cased, spaces to `_`, e.g. `AWS_ENDPOINT_URL_ECS`) wins over `AWS_ENDPOINT_URL`;
//! `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true` disables both. Tests use it to reach moto and scripted fakes.

use std::collections::BTreeMap;

use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};

use crate::env::{Env, vars};

const IGNORE: &str = "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS";

/// Endpoint overrides captured from the environment snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EnvEndpoints {
    pub global: Option<String>,
    /// Keyed by the upper-cased service id (`STS`, `ECS`, `LAMBDA`, `CLOUDWATCH`, ...).
    pub per_service: BTreeMap<String, String>,
}

impl EnvEndpoints {
    #[must_use]
    pub fn from_env(env: &Env) -> Self {
        if env.flag(IGNORE) {
            return Self::default();
        }
        let per_service = env
            .with_prefix(vars::AWS_ENDPOINT_URL_PREFIX)
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| {
                (
                    k.trim_start_matches(vars::AWS_ENDPOINT_URL_PREFIX)
                        .to_owned(),
                    v.to_owned(),
                )
            })
            .collect();
        Self {
            global: env.get(vars::AWS_ENDPOINT_URL).map(str::to_owned),
            per_service,
        }
    }

    /// The endpoint for a service id as the SDK names it (`STS`, `Lambda`, `CloudWatch`).
    #[must_use]
    pub fn for_service(&self, service_id: &str) -> Option<&str> {
        let key = service_id.to_uppercase().replace(' ', "_");
        self.per_service
            .get(&key)
            .or(self.global.as_ref())
            .map(String::as_str)
    }
}

impl LoadServiceConfig for EnvEndpoints {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        if key.env() != vars::AWS_ENDPOINT_URL {
            return None;
        }
        self.for_service(key.service_id()).map(str::to_owned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_service_beats_global() {
        let env = Env::from_pairs([
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:1"),
            ("AWS_ENDPOINT_URL_ECS", "http://127.0.0.1:2"),
            ("AWS_ENDPOINT_URL_CLOUDWATCH", "http://127.0.0.1:3"),
        ]);
        let e = EnvEndpoints::from_env(&env);
        assert_eq!(e.for_service("ECS"), Some("http://127.0.0.1:2"));
        assert_eq!(e.for_service("CloudWatch"), Some("http://127.0.0.1:3"));
        assert_eq!(e.for_service("STS"), Some("http://127.0.0.1:1"));
        let key = ServiceConfigKey::builder()
            .service_id("ECS")
            .env("AWS_ENDPOINT_URL")
            .profile("endpoint_url")
            .build()
            .unwrap();
        assert_eq!(e.load_config(key).as_deref(), Some("http://127.0.0.1:2"));
    }

    #[test]
    fn ignore_flag_disables_overrides() {
        let env = Env::from_pairs([
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:1"),
            ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"),
        ]);
        assert_eq!(EnvEndpoints::from_env(&env).for_service("STS"), None);
    }
}
