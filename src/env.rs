//! The process environment, captured once.
//!
//! `Env` is the only reader of `std::env` in the crate (enforced by `clippy.toml`). `main` snapshots the
//! process environment, the CLI adds `INPUT_*` entries on top, and every later layer reads from this value.
//! Tests build it from a map, so no test ever mutates the process environment.
//!
//! Rule from the runner contract: a variable that is set but empty counts as unset, because the runner
//! exports every declared input, with `""` when it has no value.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// Names of the variables stevedore reads, in one place.
pub mod vars {
    pub const GITHUB_ACTIONS: &str = "GITHUB_ACTIONS";
    pub const ACT: &str = "ACT";
    pub const CI: &str = "CI";
    pub const RUNNER_DEBUG: &str = "RUNNER_DEBUG";
    pub const GITHUB_OUTPUT: &str = "GITHUB_OUTPUT";
    pub const GITHUB_ENV: &str = "GITHUB_ENV";
    pub const GITHUB_STEP_SUMMARY: &str = "GITHUB_STEP_SUMMARY";
    pub const GITHUB_EVENT_PATH: &str = "GITHUB_EVENT_PATH";
    pub const GITHUB_WORKSPACE: &str = "GITHUB_WORKSPACE";
    pub const GITHUB_API_URL: &str = "GITHUB_API_URL";
    pub const GITHUB_SERVER_URL: &str = "GITHUB_SERVER_URL";
    pub const ACTIONS_ID_TOKEN_REQUEST_URL: &str = "ACTIONS_ID_TOKEN_REQUEST_URL";
    pub const ACTIONS_ID_TOKEN_REQUEST_TOKEN: &str = "ACTIONS_ID_TOKEN_REQUEST_TOKEN";
    /// Overrides every AWS endpoint (the SDK convention); tests point it at moto.
    pub const AWS_ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";
    /// Per-service overrides, e.g. `AWS_ENDPOINT_URL_ECS` (the SDK convention); tests use it for the
    /// scripted ECS endpoint.
    pub const AWS_ENDPOINT_URL_PREFIX: &str = "AWS_ENDPOINT_URL_";
    /// `true`: every AWS client uses the service's FIPS endpoint (the SDK convention).
    pub const AWS_USE_FIPS_ENDPOINT: &str = "AWS_USE_FIPS_ENDPOINT";
    /// `true`: every AWS client uses the service's dual-stack (IPv4 and IPv6) endpoint.
    pub const AWS_USE_DUALSTACK_ENDPOINT: &str = "AWS_USE_DUALSTACK_ENDPOINT";
    /// JWKS location of the OIDC issuer (GHES, tests). Default: GitHub's.
    pub const STEVEDORE_OIDC_JWKS_URL: &str = "STEVEDORE_OIDC_JWKS_URL";
    /// Expected `iss` of OIDC tokens (GHES, tests). Default: GitHub's.
    pub const STEVEDORE_OIDC_ISSUER: &str = "STEVEDORE_OIDC_ISSUER";
    /// Log filter for stevedore's own logs (`tracing` directives).
    pub const STEVEDORE_LOG: &str = "STEVEDORE_LOG";
    pub const NO_COLOR: &str = "NO_COLOR";
    /// A PEM bundle of trusted roots, added to the built-in ones (private CAs, GHES).
    pub const SSL_CERT_FILE: &str = "SSL_CERT_FILE";
    /// Directories (`:`-separated) of PEM files of trusted roots, added to the built-in ones.
    pub const SSL_CERT_DIR: &str = "SSL_CERT_DIR";
    /// Proxy variables, each read in lower case first, then upper case (curl's convention).
    pub const HTTPS_PROXY: &str = "https_proxy";
    pub const HTTP_PROXY: &str = "http_proxy";
    pub const ALL_PROXY: &str = "all_proxy";
    pub const NO_PROXY: &str = "no_proxy";
}

/// The proxy settings of the environment (see [`crate::net`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProxyVars {
    pub https: Option<String>,
    pub http: Option<String>,
    pub all: Option<String>,
    pub no: Option<String>,
}

/// A snapshot of environment variables, and the run's cancellation flag (the signals the process gets
/// from outside; every network client built from this environment stops at them, see [`crate::cancel`]).
#[derive(Clone, Debug, Default)]
pub struct Env {
    vars: BTreeMap<String, String>,
    cancel: crate::cancel::Cancel,
}

impl Env {
    /// Captures the process environment. Non-UTF-8 values are skipped (the runner only passes UTF-8).
    #[must_use]
    pub fn from_process() -> Self {
        #[expect(
            clippy::disallowed_methods,
            reason = "this is the one reader of the environment"
        )]
        let vars = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        Self {
            vars,
            cancel: crate::cancel::Cancel::never(),
        }
    }

    /// Builds an environment from pairs (tests, the CLI).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            cancel: crate::cancel::Cancel::never(),
        }
    }

    /// The run's cancellation flag (never fires unless [`Env::set_cancel`] was called).
    #[must_use]
    pub fn cancel(&self) -> &crate::cancel::Cancel {
        &self.cancel
    }

    /// Makes every client built from this environment stop at `cancel`.
    pub fn set_cancel(&mut self, cancel: crate::cancel::Cancel) {
        self.cancel = cancel;
    }

    /// Sets one variable on this snapshot (not on the process).
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.vars.insert(key.into(), value.into());
    }

    /// Removes a variable from this snapshot.
    pub fn remove(&mut self, key: &str) {
        self.vars.remove(key);
    }

    /// The value of `key`, or `None` when it is unset **or empty**.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// Whether `key` is set at all, empty included (an input written blank in the workflow).
    #[must_use]
    pub fn is_set(&self, key: &str) -> bool {
        self.vars.contains_key(key)
    }

    /// True when `key` is exactly `true` (the runner's spelling of flags such as `GITHUB_ACTIONS`).
    #[must_use]
    pub fn flag(&self, key: &str) -> bool {
        self.get(key)
            .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
    }

    /// `get` as a path.
    #[must_use]
    pub fn path(&self, key: &str) -> Option<PathBuf> {
        self.get(key).map(PathBuf::from)
    }

    /// Running inside GitHub Actions (or act).
    #[must_use]
    pub fn in_actions(&self) -> bool {
        self.flag(vars::GITHUB_ACTIONS)
    }

    /// Running under nektos/act.
    #[must_use]
    pub fn under_act(&self) -> bool {
        self.flag(vars::ACT)
    }

    /// All variables whose name starts with `prefix`.
    pub fn with_prefix<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.vars
            .range(prefix.to_owned()..)
            .take_while(move |(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// `SSL_CERT_FILE`.
    #[must_use]
    pub fn ssl_cert_file(&self) -> Option<&str> {
        self.get(vars::SSL_CERT_FILE)
    }

    /// `SSL_CERT_DIR`.
    #[must_use]
    pub fn ssl_cert_dir(&self) -> Option<&str> {
        self.get(vars::SSL_CERT_DIR)
    }

    /// `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`, each in lower case, else upper case.
    #[must_use]
    pub fn proxy_vars(&self) -> ProxyVars {
        let either = |lower: &str| {
            self.get(lower)
                .or_else(|| self.get(&lower.to_ascii_uppercase()))
                .map(str::to_owned)
        };
        ProxyVars {
            https: either(vars::HTTPS_PROXY),
            http: either(vars::HTTP_PROXY),
            all: either(vars::ALL_PROXY),
            no: either(vars::NO_PROXY),
        }
    }

    /// The directory relative paths are resolved against: `GITHUB_WORKSPACE`, else the current directory.
    #[must_use]
    pub fn workspace(&self) -> PathBuf {
        self.path(vars::GITHUB_WORKSPACE)
            .or_else(|| self.current_dir())
            .unwrap_or_else(|| PathBuf::from("."))
    }

    /// The process's working directory (the container's `WorkingDir`).
    #[must_use]
    pub fn current_dir(&self) -> Option<PathBuf> {
        std::env::current_dir().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_values_count_as_unset() {
        let env = Env::from_pairs([("A", ""), ("B", "x")]);
        assert_eq!(env.get("A"), None);
        assert_eq!(env.get("B"), Some("x"));
        assert_eq!(env.get("C"), None);
    }

    #[test]
    fn prefix_iteration_stops_at_the_prefix() {
        let env = Env::from_pairs([
            ("INPUT_A", "1"),
            ("INPUT_B", "2"),
            ("INPUTX", "3"),
            ("HOME", "h"),
        ]);
        let got: Vec<_> = env.with_prefix("INPUT_").map(|(k, _)| k).collect();
        assert_eq!(got, ["INPUT_A", "INPUT_B"]);
    }
}
