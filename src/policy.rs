//! Which environment maps to which AWS role, and which refs may target which environment.
//!
//! Two inputs, both YAML:
//!
//! ```yaml
//! environments: |
//!   dev:        { role: arn:aws:iam::111111111111:role/deploy, region: eu-west-1, account-id: "111111111111" }
//!   production: { role: arn:aws:iam::333333333333:role/deploy, region: eu-west-1 }
//! trigger-policy: |
//!   dev:        { refs: [refs/heads/main] }
//!   production: { refs: ["refs/tags/*-stable"], require-environment-claim: true }
//! ```
//!
//! The defaults come from the reference pipelines: branch `main` deploys to `dev` and `staging`; tags
//! matching `*-stable` deploy to `production`, and production also requires the OIDC token's
//! `environment` claim to be `production` — the claim is only there when the job declares
//! `environment: production`, so GitHub's environment approval cannot be skipped by a workflow edit.
//! `preview` (pull-request previews) may be deployed from any ref.
//!
//! Protection never depends on spelling: an environment no rule covers is refused ([`PolicyError::NoRule`],
//! exit 2), never let through unrestricted. The default policy holds a name that reads as production
//! ([`class`]: `prod`, `prd`, `live`, `eu-prod`, `preprod`, …) to its `production` rule and one that reads
//! as staging (`stage`, `stg`, `staging-eu`, …) to its `staging` rule; a `trigger-policy` input replaces
//! the defaults and covers exactly the names it lists.
//! Everything here is pure: it runs before any network call.

use std::collections::BTreeMap;

use globset::{Glob, GlobMatcher};
use serde::Deserialize;

use crate::names;
use crate::yaml::{TopKeys, YamlError};

/// One environment's AWS target.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub role: String,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default, rename = "account-id", deserialize_with = "account_id")]
    pub account_id: Option<String>,
    /// `registry`: where `promote-from` pulls this environment's images from with its account's ECR
    /// credentials, instead of the `proxyEndpoint` ECR returns (a registry alias, or a loopback registry in
    /// tests): [`crate::net::check_address`].
    #[serde(default)]
    pub registry: Option<String>,
}

/// Accepts the account id as a string or a (YAML) number, keeping leading zeros only in the string form.
fn account_id<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        S(String),
        N(u64),
    }
    Ok(match Option::<Raw>::deserialize(d)? {
        None => None,
        Some(Raw::S(s)) => Some(s),
        Some(Raw::N(n)) => Some(format!("{n:012}")),
    })
}

/// The `environments` input: environment name -> target.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Environments(pub BTreeMap<String, Target>);

impl Environments {
    /// Parses and validates the YAML map; the error is the problem, for `Inputs::parse_with`.
    pub fn parse(yaml: &str) -> Result<Self, String> {
        let (envs, invalid) = Self::parse_entries(yaml)?;
        match invalid.into_iter().next() {
            Some((_, problem)) => Err(problem),
            None => Ok(envs),
        }
    }

    /// Like [`Environments::parse`], but an entry that fails validation is left out of the map and
    /// returned with its problem (`(name, problem)`), so the caller can be strict about the targeted
    /// environment only. A YAML that is not a map, or an empty one, is still an error.
    pub fn parse_entries(yaml: &str) -> Result<(Self, Vec<(String, String)>), String> {
        let map: BTreeMap<String, Target> = crate::yaml::from_str(yaml, TopKeys::EnvironmentNames)
            .map_err(|e| match e {
                YamlError::Invalid(e) => format!("is not a valid map: {e}"),
                d @ YamlError::Duplicates(_) => d.to_string(),
            })?;
        if map.is_empty() {
            return Err("names no environment".into());
        }
        let mut valid = BTreeMap::new();
        let mut invalid = Vec::new();
        for (name, t) in map {
            match check_target(&name, &t) {
                Ok(()) => {
                    valid.insert(name, t);
                }
                Err(p) => invalid.push((name, p)),
            }
        }
        Ok((Self(valid), invalid))
    }

    /// The target of `environment`, compared case-insensitively (as GitHub compares environment names).
    #[must_use]
    pub fn get(&self, environment: &str) -> Option<&Target> {
        self.0
            .iter()
            .find(|(k, _)| names::same(k, environment))
            .map(|(_, t)| t)
    }

    #[must_use]
    pub fn names(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

/// Validates one `environments` entry; the problem names the environment and the field.
fn check_target(name: &str, t: &Target) -> Result<(), String> {
    if let Err(p) = check_role_arn(&t.role) {
        // `arn:aws:iam:::role/x`: the account came from an unset variable (`${{ vars.X_ACCOUNT_ID }}`).
        let hint = if t.role.contains(":iam:::") {
            " (the account id is empty: is the variable it is built from, e.g. `vars.<ENV>_ACCOUNT_ID`, set?)"
        } else {
            ""
        };
        return Err(format!("environment `{name}`: role `{}` {p}{hint}", t.role));
    }
    if let Some(r) = &t.region
        && !valid_region(r)
    {
        return Err(format!(
            "environment `{name}`: region `{r}` is not an AWS region"
        ));
    }
    if let Some(a) = &t.account_id
        && !(a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!(
            "environment `{name}`: account-id `{a}` is not 12 digits"
        ));
    }
    if let Some(r) = &t.registry
        && let Err(p) = crate::net::check_address(r)
    {
        return Err(format!("environment `{name}`: registry `{r}` {p}"));
    }
    Ok(())
}

/// Checks an IAM role ARN: `arn:<partition>:iam::<12 digits>:role/<path/name>`.
pub fn check_role_arn(arn: &str) -> Result<(), String> {
    let ok = crate::arn::Arn::parse(arn).is_some_and(|a| {
        a.partition.starts_with("aws")
            && a.service == "iam"
            && a.region.is_empty()
            && a.account_is_id()
            && a.resource
                .strip_prefix("role/")
                .is_some_and(|n| !n.is_empty())
    });
    if ok {
        Ok(())
    } else {
        Err("is not an IAM role ARN (`arn:aws:iam::123456789012:role/NAME`)".into())
    }
}

/// The account id of a role ARN.
#[must_use]
pub fn account_of(arn: &str) -> Option<&str> {
    arn.split(':').nth(4).filter(|a| !a.is_empty())
}

/// A plausible AWS region name, e.g. `eu-west-1`, `us-gov-west-1`, `cn-north-1`.
#[must_use]
pub fn valid_region(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    parts.len() >= 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric()))
        && parts
            .last()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

pub use crate::names::{Class, class, production_like, words};

/// One environment's rule.
#[derive(Clone, Debug)]
pub struct Rule {
    /// Globs; a glob starting with `refs/` matches the full ref, any other matches the branch or tag name.
    pub refs: Vec<String>,
    matchers: Vec<GlobMatcher>,
    /// The OIDC `environment` claim must equal the target environment.
    pub require_environment_claim: bool,
}

impl Rule {
    fn new(refs: Vec<String>, require_environment_claim: bool) -> Result<Self, String> {
        let matchers = refs
            .iter()
            .map(|r| {
                Glob::new(r)
                    .map(|g| g.compile_matcher())
                    .map_err(|e| format!("`{r}` is not a glob: {e}"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            refs,
            matchers,
            require_environment_claim,
        })
    }

    /// The pattern that allows `git_ref` (a full ref such as `refs/heads/main`), if any.
    #[must_use]
    pub fn allows(&self, git_ref: &str) -> Option<&str> {
        let short = git_ref
            .strip_prefix("refs/heads/")
            .or_else(|| git_ref.strip_prefix("refs/tags/"))
            .unwrap_or(git_ref);
        self.refs
            .iter()
            .zip(&self.matchers)
            .find(|(p, m)| {
                if p.starts_with("refs/") {
                    m.is_match(git_ref)
                } else {
                    m.is_match(short)
                }
            })
            .map(|(p, _)| p.as_str())
    }
}

/// Where the policy came from, for messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicySource {
    Default,
    /// The default policy's rule for a class of names (`prod` held to the `production` rule).
    DefaultFor(Class),
    Input,
}

impl std::fmt::Display for PolicySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PolicySource::Default => f.write_str("the default trigger policy"),
            PolicySource::DefaultFor(c) => write!(
                f,
                "the default trigger policy (its `{0}` rule, for a name that reads as {0})",
                c.rule()
            ),
            PolicySource::Input => f.write_str("input `trigger-policy`"),
        }
    }
}

/// The `trigger-policy` input: environment -> rule.
#[derive(Clone, Debug)]
pub struct TriggerPolicy {
    pub rules: BTreeMap<String, Rule>,
    pub source: PolicySource,
}

impl Default for TriggerPolicy {
    fn default() -> Self {
        let mut rules = BTreeMap::new();
        for (env, refs, claim) in [
            ("dev", vec!["refs/heads/main"], false),
            ("staging", vec!["refs/heads/main"], false),
            ("production", vec!["refs/tags/*-stable"], true),
            ("preview", vec!["**"], false),
        ] {
            if let Ok(rule) = Rule::new(refs.into_iter().map(str::to_owned).collect(), claim) {
                rules.insert(env.to_owned(), rule);
            }
        }
        Self {
            rules,
            source: PolicySource::Default,
        }
    }
}

impl TriggerPolicy {
    /// The rule for `environment` and where it comes from, compared as [`names::same`] does: `Production`
    /// meets the `production` rule. The default policy also holds a name of a [`class`] to that class's
    /// rule (`prod` to `production`). `None`: no rule covers it, and it is refused.
    #[must_use]
    pub fn resolve(&self, environment: &str) -> Option<(&Rule, PolicySource)> {
        if let Some((_, r)) = self.rules.iter().find(|(k, _)| names::same(k, environment)) {
            return Some((r, self.source));
        }
        if self.source != PolicySource::Default {
            return None;
        }
        let c = class(environment)?;
        self.rules
            .get(c.rule())
            .map(|r| (r, PolicySource::DefaultFor(c)))
    }

    /// Whether a rule covers `environment`.
    #[must_use]
    pub fn covers(&self, environment: &str) -> bool {
        self.resolve(environment).is_some()
    }

    /// The environments this policy names a rule for.
    #[must_use]
    pub fn names(&self) -> Vec<String> {
        self.rules.keys().cloned().collect()
    }

    /// Parses the YAML: each environment maps to a list of ref globs, or to
    /// `{refs: [...], require-environment-claim: bool}` (default `true` for a name that reads as production
    /// — [`production_like`]: `production`, `prod`, `eu-prod`, … — else `false`).
    pub fn parse(yaml: &str) -> Result<Self, String> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Refs(Vec<String>),
            Full(Full),
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Full {
            refs: Vec<String>,
            #[serde(default, rename = "require-environment-claim")]
            require_environment_claim: Option<bool>,
        }
        let raw: BTreeMap<String, Raw> =
            crate::yaml::from_str(yaml, TopKeys::EnvironmentNames).map_err(|e| match e {
                YamlError::Invalid(e) => format!(
                    "is not a map of environment -> refs or {{refs, require-environment-claim}}: {e}"
                ),
                d @ YamlError::Duplicates(_) => d.to_string(),
            })?;
        let mut rules = BTreeMap::new();
        for (env, r) in raw {
            let (refs, claim) = match r {
                Raw::Refs(refs) => (refs, None),
                Raw::Full(f) => (f.refs, f.require_environment_claim),
            };
            let claim = claim.unwrap_or_else(|| production_like(&env));
            let rule = Rule::new(refs, claim).map_err(|e| format!("environment `{env}`: {e}"))?;
            rules.insert(env, rule);
        }
        Ok(Self {
            rules,
            source: PolicySource::Input,
        })
    }
}

/// A refusal, before or right after the OIDC token is read, always before any AWS call that matters.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error(
        "environment `{environment}` has no rule in {by} (it has rules for {}{}); an environment no rule covers is refused before any AWS call, whatever its name",
        names(known),
        if *by == PolicySource::Default { ", and holds names that read as production or staging to those rules" } else { "" }
    )]
    NoRule {
        environment: String,
        known: Vec<String>,
        by: PolicySource,
    },
    #[error(
        "environment `{environment}` is not in input `environments` (it names {}); refusing before any AWS call",
        names(known)
    )]
    UnmappedEnvironment {
        environment: String,
        known: Vec<String>,
    },
    #[error(
        "ref `{git_ref}` may not deploy to `{environment}`: {by} allows only {} there",
        names(allowed)
    )]
    RefNotAllowed {
        environment: String,
        git_ref: String,
        allowed: Vec<String>,
        by: PolicySource,
    },
    #[error(
        "the ref of this run is unknown, and {by} restricts `{environment}` to {}",
        names(allowed)
    )]
    NoRef {
        environment: String,
        allowed: Vec<String>,
        by: PolicySource,
    },
    #[error(
        "deploying to `{environment}` requires the OIDC token's `environment` claim to be `{environment}`, but it is {}",
        claim.as_deref().map_or_else(|| "absent".to_owned(), |c| format!("`{c}`"))
    )]
    EnvironmentClaim {
        environment: String,
        claim: Option<String>,
    },
    #[error(
        "deploying to `{environment}` requires the OIDC `environment` claim ({by}), and the AWS credential chain has no claims"
    )]
    ClaimWithoutOidc {
        environment: String,
        by: PolicySource,
    },
    #[error(
        "the credentials belong to account `{got}`, but input `environments` maps `{environment}` to account `{expected}`"
    )]
    AccountMismatch {
        environment: String,
        expected: String,
        got: String,
    },
}

fn names(v: &[String]) -> String {
    if v.is_empty() {
        return "nothing".into();
    }
    crate::inputs::code_list(v.iter())
}

impl PolicyError {
    #[must_use]
    pub fn hint(&self) -> String {
        match self {
            PolicyError::UnmappedEnvironment { environment, .. } => format!(
                "Add `{environment}` to input `environments` (role, region, account-id), or fix input `environment`."
            ),
            PolicyError::NoRule { environment, by, .. } => rule_to_add(environment, *by),
            PolicyError::RefNotAllowed { environment, .. } | PolicyError::NoRef { environment, .. } => format!(
                "Deploy to `{environment}` from an allowed ref, or change input `trigger-policy` (defaults: `refs/heads/main` -> dev, staging and names that read as staging; `refs/tags/*-stable` -> production and names that read as production; any ref -> preview)."
            ),
            PolicyError::EnvironmentClaim { environment, .. } => format!(
                "Declare `environment: {environment}` on the job so GitHub's environment protection (approval) applies and the token carries the claim."
            ),
            PolicyError::ClaimWithoutOidc { .. } => {
                "Run in GitHub Actions with `permissions: id-token: write` and the job's `environment:` set.".into()
            }
            PolicyError::AccountMismatch { .. } => {
                "Check the role ARN (and `role-chain`) against the account-id in `environments`.".into()
            }
        }
    }

    /// Configuration problems exit 2; refusals of a well-formed request exit 1.
    #[must_use]
    pub fn is_config(&self) -> bool {
        matches!(
            self,
            PolicyError::UnmappedEnvironment { .. } | PolicyError::NoRule { .. }
        )
    }
}

/// The `trigger-policy` line that covers `environment`, as YAML: the production rule for a name that reads
/// as production, `refs/heads/main` otherwise.
#[must_use]
pub fn rule_line(environment: &str) -> String {
    let plain = !environment.is_empty()
        && environment
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !environment.starts_with(['-', '.'])
        && environment.chars().any(char::is_alphabetic)
        && !matches!(
            environment.to_ascii_lowercase().as_str(),
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n"
        );
    let key = if plain {
        environment.to_owned()
    } else {
        format!(
            "\"{}\"",
            environment.replace('\\', "\\\\").replace('"', "\\\"")
        )
    };
    if production_like(environment) {
        format!("{key}: {{ refs: [\"refs/tags/*-stable\"], require-environment-claim: true }}")
    } else {
        format!("{key}: [refs/heads/main]")
    }
}

/// How to cover `environment`: the exact `trigger-policy` line, and — when the defaults were in force —
/// the default rules to write with it, since a `trigger-policy` input replaces them.
#[must_use]
pub fn rule_to_add(environment: &str, by: PolicySource) -> String {
    let line = rule_line(environment);
    match by {
        PolicySource::Input => format!(
            "Add the line `{line}` to input `trigger-policy` (list the refs that may deploy to `{environment}`; `[\"**\"]` allows every ref, deliberately)."
        ),
        PolicySource::Default | PolicySource::DefaultFor(_) => format!(
            "Give input `trigger-policy` a rule for it; the input replaces the defaults, so write them too: `trigger-policy: |` with the lines `dev: [refs/heads/main]`, `staging: [refs/heads/main]`, `production: {{ refs: [\"refs/tags/*-stable\"], require-environment-claim: true }}`, `preview: [\"**\"]` and `{line}` (list the refs that may deploy to `{environment}`; `[\"**\"]` allows every ref, deliberately)."
        ),
    }
}

/// The decision for a target environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub environment: String,
    /// The glob that allowed the ref (always set: an environment without a rule is refused).
    pub matched: Option<String>,
    pub require_environment_claim: bool,
    pub source: PolicySource,
}

/// Checks that `git_ref` may target `environment`. An environment no rule covers is refused
/// ([`PolicyError::NoRule`]): protection never depends on how a name is spelt.
pub fn check_ref(
    policy: &TriggerPolicy,
    environment: &str,
    git_ref: Option<&str>,
) -> Result<Decision, PolicyError> {
    let Some((rule, by)) = policy.resolve(environment) else {
        return Err(PolicyError::NoRule {
            environment: environment.to_owned(),
            known: policy.names(),
            by: policy.source,
        });
    };
    let Some(git_ref) = git_ref else {
        return Err(PolicyError::NoRef {
            environment: environment.to_owned(),
            allowed: rule.refs.clone(),
            by,
        });
    };
    match rule.allows(git_ref) {
        Some(p) => Ok(Decision {
            environment: environment.to_owned(),
            matched: Some(p.to_owned()),
            require_environment_claim: rule.require_environment_claim,
            source: by,
        }),
        None => Err(PolicyError::RefNotAllowed {
            environment: environment.to_owned(),
            git_ref: git_ref.to_owned(),
            allowed: rule.refs.clone(),
            by,
        }),
    }
}

/// Re-checks with the verified token: its `ref` (which the workflow cannot forge) and its `environment`.
pub fn check_claims(
    policy: &TriggerPolicy,
    decision: &Decision,
    claims: &crate::oidc::Claims,
) -> Result<Decision, PolicyError> {
    let d = match claims.git_ref.as_deref() {
        Some(r) => check_ref(policy, &decision.environment, Some(r))?,
        None => decision.clone(),
    };
    if d.require_environment_claim
        && !claims
            .environment
            .as_deref()
            .is_some_and(|c| names::same_claim(c, &d.environment))
    {
        return Err(PolicyError::EnvironmentClaim {
            environment: d.environment.clone(),
            claim: claims.environment.clone(),
        });
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    /// Issue 30: `production: [*-stable]` failed with "unknown anchor" alone.
    #[test]
    fn an_unquoted_stable_glob_is_told_to_be_quoted() {
        let e = TriggerPolicy::parse("production: [*-stable]\n").unwrap_err();
        assert!(e.contains("quote a glob that starts with `*`"), "{e}");
    }

    use super::*;

    #[test]
    fn defaults_follow_the_reference_pipelines() {
        let p = TriggerPolicy::default();
        assert!(check_ref(&p, "dev", Some("refs/heads/main")).is_ok());
        assert!(check_ref(&p, "staging", Some("refs/heads/main")).is_ok());
        let d = check_ref(&p, "production", Some("refs/tags/v1.2.0-stable")).unwrap();
        assert!(d.require_environment_claim);
        let e = check_ref(&p, "production", Some("refs/heads/feature/x")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "ref `refs/heads/feature/x` may not deploy to `production`: the default trigger policy allows only `refs/tags/*-stable` there"
        );
        assert!(check_ref(&p, "production", Some("refs/heads/main")).is_err());
        assert!(check_ref(&p, "production", Some("refs/tags/v1.2.0")).is_err());
        assert!(check_ref(&p, "dev", Some("refs/heads/feature/x")).is_err());
        assert!(check_ref(&p, "preview", Some("refs/heads/feature/x")).is_ok());
        assert!(matches!(
            check_ref(&p, "production", None),
            Err(PolicyError::NoRef { .. })
        ));
    }

    #[test]
    fn a_branch_named_like_a_stable_tag_is_not_a_tag() {
        let p = TriggerPolicy::default();
        assert!(check_ref(&p, "production", Some("refs/heads/v1-stable")).is_err());
    }

    #[test]
    fn policy_input_accepts_lists_and_maps_and_short_names() {
        let p = TriggerPolicy::parse(
            "dev: [main, 'release/*']\nproduction:\n  refs: ['v*']\nqa:\n  refs: [refs/heads/qa]\n  require-environment-claim: true\n",
        )
        .unwrap();
        assert!(check_ref(&p, "dev", Some("refs/heads/release/2")).is_ok());
        assert!(p.rules["production"].require_environment_claim);
        assert!(!p.rules["dev"].require_environment_claim);
        assert!(p.rules["qa"].require_environment_claim);
        assert!(check_ref(&p, "production", Some("refs/tags/v2")).is_ok());
        let e = TriggerPolicy::parse("dev: {refs: [main], oops: 1}").unwrap_err();
        assert!(e.contains("is not a map"), "{e}");
        assert!(TriggerPolicy::parse("dev: ['[']").is_err());
    }

    #[test]
    fn environments_are_validated() {
        let e = Environments::parse(
            "dev: {role: 'arn:aws:iam::111111111111:role/deploy', region: eu-west-1, account-id: 111111111111}\n",
        )
        .unwrap();
        assert_eq!(
            e.get("dev").unwrap().account_id.as_deref(),
            Some("111111111111")
        );
        assert!(
            Environments::parse("dev: {role: 'arn:aws:iam::1:role/x'}")
                .unwrap_err()
                .contains("not an IAM role ARN")
        );
        assert!(
            Environments::parse(
                "dev: {role: 'arn:aws:iam::111111111111:role/x', account-id: '12'}"
            )
            .unwrap_err()
            .contains("12 digits")
        );
        assert!(
            Environments::parse("dev: {role: 'arn:aws:iam::111111111111:role/x', region: moon}")
                .is_err()
        );
        assert!(Environments::parse("{}").is_err());
        // `registry` (promotion's source registry): checked as an address; http only to loopback.
        let e = Environments::parse(
            "dev: {role: 'arn:aws:iam::111111111111:role/x', registry: 'http://127.0.0.1:5000'}",
        )
        .unwrap();
        assert_eq!(
            e.get("dev").unwrap().registry.as_deref(),
            Some("http://127.0.0.1:5000")
        );
        let e = Environments::parse(
            "dev: {role: 'arn:aws:iam::111111111111:role/x', registry: 'http://mirror.example'}",
        )
        .unwrap_err();
        assert!(
            e.starts_with("environment `dev`: registry `http://mirror.example` is plain `http://`"),
            "{e}"
        );
    }

    #[test]
    fn regions_and_arns() {
        assert!(valid_region("eu-west-1"));
        assert!(valid_region("us-gov-west-1"));
        assert!(!valid_region("eu-west"));
        // Issue 31: at least three parts, none empty, letters and digits only, a number last.
        assert!(valid_region("cn-north-1"));
        assert!(!valid_region("eu-1"));
        assert!(!valid_region("eu-west-x"));
        assert!(!valid_region("eu--1"));
        assert!(!valid_region("eu-west-1-"));
        assert!(!valid_region("eu-w\u{00E9}st-1"));
        assert!(!valid_region("eu-west-1/"));
        assert!(!valid_region("eu-west-1\u{0661}"));
        assert!(check_role_arn("arn:aws:iam::123456789012:role/path/name").is_ok());
        assert!(check_role_arn("arn:aws-cn:iam::123456789012:role/n").is_ok());
        assert!(check_role_arn("arn:aws:iam::123456789012:user/n").is_err());
        assert_eq!(
            account_of("arn:aws:iam::123456789012:role/n"),
            Some("123456789012")
        );
    }

    /// Issue 30 item 1: the class of a name, word by word.
    #[test]
    fn names_that_read_as_production_or_staging() {
        for n in [
            "prod",
            "PRD",
            "Production",
            "live",
            "eu-prod",
            "prod_eu",
            "prod.eu",
            "euProd",
            "prod2",
            "prod-staging",
            "preprod",
            "pre-prod",
            "pre_production",
            "non-prod",
            "PROD EU",
            "\u{FF50}rod",
        ] {
            assert_eq!(class(n), Some(Class::Production), "{n}");
            assert!(production_like(n), "{n}");
        }
        for n in [
            "stag",
            "stage",
            "Staging",
            "stg",
            "staging-eu",
            "eu-stage2",
            "euStaging",
        ] {
            assert_eq!(class(n), Some(Class::Staging), "{n}");
        }
        for n in [
            "dev",
            "qa",
            "preview",
            "test",
            "product-catalog",
            "producer",
            "prodigy",
            "livestock",
            "backstage",
            "nonprod",
        ] {
            assert_eq!(class(n), None, "{n}");
        }
        assert_eq!(words("euProd-2_x"), ["eu", "prod", "2", "x"]);
    }

    #[test]
    fn the_default_policy_holds_production_like_names_to_the_production_rule() {
        let p = TriggerPolicy::default();
        for env in ["prod", "prd", "live", "eu-prod", "Prod-EU", "preprod"] {
            let e = check_ref(&p, env, Some("refs/heads/feature/x")).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!(
                    "ref `refs/heads/feature/x` may not deploy to `{env}`: the default trigger policy (its `production` rule, for a name that reads as production) allows only `refs/tags/*-stable` there"
                )
            );
            assert!(
                check_ref(&p, env, Some("refs/heads/main")).is_err(),
                "{env}"
            );
            let d = check_ref(&p, env, Some("refs/tags/v1-stable")).unwrap();
            assert!(d.require_environment_claim, "{env}");
            assert_eq!(d.source, PolicySource::DefaultFor(Class::Production));
        }
        for env in ["stag", "stage", "stg", "staging-eu"] {
            let d = check_ref(&p, env, Some("refs/heads/main")).unwrap();
            assert!(!d.require_environment_claim);
            assert_eq!(d.source, PolicySource::DefaultFor(Class::Staging));
            assert!(
                check_ref(&p, env, Some("refs/heads/feature/x")).is_err(),
                "{env}"
            );
        }
        assert!(check_ref(&p, "preview", Some("refs/pull/7/merge")).is_ok());
    }

    #[test]
    fn an_environment_no_rule_covers_is_refused_naming_the_rule_to_add() {
        let p = TriggerPolicy::default();
        let e = check_ref(&p, "qa", Some("refs/heads/main")).unwrap_err();
        assert!(e.is_config());
        assert_eq!(
            e.to_string(),
            "environment `qa` has no rule in the default trigger policy (it has rules for `dev`, `preview`, `production`, `staging`, and holds names that read as production or staging to those rules); an environment no rule covers is refused before any AWS call, whatever its name"
        );
        assert!(e.hint().contains("`qa: [refs/heads/main]`"), "{}", e.hint());
        assert!(
            e.hint().contains("`dev: [refs/heads/main]`"),
            "{}",
            e.hint()
        );

        // An explicit policy covers exactly what it names: `prod` is not `production`.
        let p = TriggerPolicy::parse("production: [\"refs/tags/*-stable\"]\n").unwrap();
        let e = check_ref(&p, "prod", Some("refs/tags/v1-stable")).unwrap_err();
        assert!(matches!(e, PolicyError::NoRule { .. }));
        assert_eq!(
            e.hint(),
            "Add the line `prod: { refs: [\"refs/tags/*-stable\"], require-environment-claim: true }` to input `trigger-policy` (list the refs that may deploy to `prod`; `[\"**\"]` allows every ref, deliberately)."
        );
        assert!(check_ref(&p, "staging", Some("refs/heads/main")).is_err());
        // An explicit catch-all is a rule.
        let p = TriggerPolicy::parse("qa: [\"**\"]\nprod: [main]\n").unwrap();
        assert!(check_ref(&p, "qa", Some("refs/heads/feature/x")).is_ok());
        // A production-like key requires the claim unless it says otherwise.
        assert!(p.rules["prod"].require_environment_claim);
        assert!(!p.rules["qa"].require_environment_claim);
    }

    /// Issue 31: the environments a policy covers are the ones a deploy is not refused for — what the
    /// inputs check warns about (`aws::check_coverage`) before any job runs.
    #[test]
    fn a_policy_covers_exactly_what_a_deploy_is_not_refused_for() {
        let p = TriggerPolicy::default();
        for env in ["dev", "Production", "prod", "eu-prod", "stg", "preview"] {
            assert!(p.covers(env), "{env}");
            assert!(
                !matches!(
                    check_ref(&p, env, Some("refs/heads/main")),
                    Err(PolicyError::NoRule { .. })
                ),
                "{env}"
            );
        }
        for env in ["qa", "sandbox"] {
            assert!(!p.covers(env), "{env}");
        }
        let p = TriggerPolicy::parse("production: [\"refs/tags/*-stable\"]\n").unwrap();
        assert!(p.covers("PRODUCTION"));
        assert!(
            !p.covers("prod"),
            "an explicit policy covers exactly the names it lists"
        );
        assert!(!p.covers("dev"));
    }

    /// Issue 31: the names `environments` maps, which a refusal lists and the inputs check walks for
    /// entries no rule covers; an entry that fails validation is not one of them.
    #[test]
    fn environments_name_their_valid_entries() {
        let e = Environments::parse(
            "production: {role: 'arn:aws:iam::333333333333:role/d'}\ndev: {role: 'arn:aws:iam::111111111111:role/d'}\n",
        )
        .unwrap();
        assert_eq!(e.names(), ["dev", "production"]);
        let (e, bad) = Environments::parse_entries(
            "dev: {role: 'arn:aws:iam::111111111111:role/d'}\nqa: {role: 'arn:aws:iam:::role/d'}\n",
        )
        .unwrap();
        assert_eq!(e.names(), ["dev"]);
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].0, "qa");
        assert!(bad[0].1.contains("the account id is empty"), "{}", bad[0].1);
    }

    /// Issue 31: a ref that is not allowed, or a missing claim, is a refusal of a well-formed request
    /// (exit 1), not a configuration problem (exit 2).
    #[test]
    fn only_missing_rules_and_mappings_are_configuration_problems() {
        let p = TriggerPolicy::default();
        assert!(
            check_ref(&p, "qa", Some("refs/heads/main"))
                .unwrap_err()
                .is_config()
        );
        assert!(
            !check_ref(&p, "production", Some("refs/heads/main"))
                .unwrap_err()
                .is_config()
        );
        assert!(!check_ref(&p, "production", None).unwrap_err().is_config());
        let d = check_ref(&p, "production", Some("refs/tags/v1-stable")).unwrap();
        let e = check_claims(&p, &d, &claims(Some("refs/tags/v1-stable"), None)).unwrap_err();
        assert!(!e.is_config(), "{e}");
    }

    fn claims(git_ref: Option<&str>, environment: Option<&str>) -> crate::oidc::Claims {
        serde_json::from_value(serde_json::json!({
            "iss": "https://token.actions.githubusercontent.com", "aud": "sts.amazonaws.com",
            "sub": "repo:o/r:environment:production", "exp": 0,
            "ref": git_ref, "environment": environment,
        }))
        .unwrap()
    }

    /// Issue 31: the verified token decides. Production needs its `environment` claim to name the
    /// environment (GitHub's approval ran); a token for another environment or none is refused, and the
    /// token's `ref` is checked again, whatever the run's environment said.
    #[test]
    fn the_token_s_ref_and_environment_claim_are_checked_again() {
        let p = TriggerPolicy::default();
        let d = check_ref(&p, "production", Some("refs/tags/v1-stable")).unwrap();
        let ok = check_claims(
            &p,
            &d,
            &claims(Some("refs/tags/v1-stable"), Some("Production")),
        )
        .unwrap();
        assert_eq!(ok, d);
        for env in [None, Some("staging"), Some("prod")] {
            let e = check_claims(&p, &d, &claims(Some("refs/tags/v1-stable"), env)).unwrap_err();
            assert!(
                matches!(e, PolicyError::EnvironmentClaim { .. }),
                "{env:?}: {e}"
            );
        }
        // No `ref` claim: the decision stands, and the environment claim is still required.
        assert_eq!(
            check_claims(&p, &d, &claims(None, Some("production"))).unwrap(),
            d
        );
        assert!(check_claims(&p, &d, &claims(None, None)).is_err());
        // The token's ref is not allowed: refused even though the run's was.
        let e =
            check_claims(&p, &d, &claims(Some("refs/heads/main"), Some("production"))).unwrap_err();
        assert!(matches!(e, PolicyError::RefNotAllowed { .. }), "{e}");
        // An environment without the claim requirement needs no claim.
        let d = check_ref(&p, "dev", Some("refs/heads/main")).unwrap();
        assert_eq!(
            check_claims(&p, &d, &claims(Some("refs/heads/main"), None)).unwrap(),
            d
        );
    }

    #[test]
    fn rule_lines_are_valid_yaml_for_any_name() {
        for env in [
            "qa", "prod-eu", "my env", "true", "1", "a:b", "qu\"ote", "本番",
        ] {
            let line = rule_line(env);
            let p = TriggerPolicy::parse(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
            assert!(p.rules.contains_key(env), "{line}");
        }
        assert_eq!(rule_line("my env"), "\"my env\": [refs/heads/main]");
    }
}
