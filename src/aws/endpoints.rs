//! Where AWS requests go: endpoint overrides, FIPS and dual-stack variants, and the host AWS's endpoint
//! rule sets give each service stevedore calls by hand, all read from the [`Env`] snapshot (never from
//! the process).
//!
//! Overrides: the SDK's convention (`aws-config` `env_service_config.rs`): `AWS_ENDPOINT_URL_<SERVICE>`
//! (service id upper-cased, spaces to `_`, e.g. `AWS_ENDPOINT_URL_ECS`) wins over `AWS_ENDPOINT_URL`;
//! `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true` disables both. An override wins over everything else (tests
//! reach moto and scripted fakes that way).
//!
//! Variants: `AWS_USE_FIPS_ENDPOINT` and `AWS_USE_DUALSTACK_ENDPOINT` (`true`/`false`, as the SDKs read
//! them) are set on the `SdkConfig` ([`Variants`]); the SDK clients (ECS, Lambda, STS) resolve them with
//! their own rule sets, the hand-written ones ([`resolve`]) with [`Rules`] transcribed from AWS's rule
//! sets over the partitions AWS publishes (`partitions.json`, a copy of botocore's). The test table
//! `tests/fixtures/endpoints/hosts.json` is produced by `scripts/endpoint-table.py` with botocore's own
//! rule-set engine; every row is checked here.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use aws_types::SdkConfig;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};
use serde::Deserialize;

use crate::env::{Env, vars};

/// Why no endpoint could be chosen.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error(
        "{var}=`{value}` is not `true` or `false`. Set {var}=true or {var}=false (or unset it)"
    )]
    BadFlag { var: &'static str, value: String },
    #[error(
        "AWS's endpoint rules for {service} give no endpoint in region `{region}` with {variant}: {reason}. Unset {vars}, or set AWS_ENDPOINT_URL_{env_id} to the endpoint to use"
    )]
    Refused {
        service: &'static str,
        region: String,
        variant: &'static str,
        vars: &'static str,
        env_id: String,
        reason: &'static str,
    },
    #[error("the built-in AWS partition table is unreadable: {0}")]
    Partitions(String),
}

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

/// `AWS_USE_FIPS_ENDPOINT` / `AWS_USE_DUALSTACK_ENDPOINT`: which endpoint variant every client uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Variants {
    pub fips: bool,
    pub dualstack: bool,
}

impl Variants {
    /// The two flags from the snapshot. Like the AWS SDKs, `true`/`false` in any case; any other value
    /// is an error (a FedRAMP user's `AWS_USE_FIPS_ENDPOINT=yes` must not quietly reach non-FIPS hosts).
    pub fn from_env(env: &Env) -> Result<Self, EndpointError> {
        Ok(Self {
            fips: flag(env, vars::AWS_USE_FIPS_ENDPOINT)?,
            dualstack: flag(env, vars::AWS_USE_DUALSTACK_ENDPOINT)?,
        })
    }

    /// [`Variants::from_env`] for a caller that cannot fail ([`crate::aws::sdk_config`]; [`crate::aws::plan`]
    /// has refused invalid values before): an invalid FIPS value counts as `true`, so a typo never
    /// reaches a non-FIPS host; an invalid dual-stack value as `false`.
    #[must_use]
    pub fn from_env_lenient(env: &Env) -> Self {
        Self {
            fips: flag(env, vars::AWS_USE_FIPS_ENDPOINT).unwrap_or(true),
            dualstack: flag(env, vars::AWS_USE_DUALSTACK_ENDPOINT).unwrap_or(false),
        }
    }

    /// The variants set on `sdk` (by [`crate::aws::sdk_config`]).
    #[must_use]
    pub fn of(sdk: &SdkConfig) -> Self {
        Self {
            fips: sdk.use_fips().unwrap_or(false),
            dualstack: sdk.use_dual_stack().unwrap_or(false),
        }
    }

    fn describe(self) -> (&'static str, &'static str) {
        match (self.fips, self.dualstack) {
            (true, true) => (
                "FIPS and dual-stack",
                "AWS_USE_FIPS_ENDPOINT or AWS_USE_DUALSTACK_ENDPOINT",
            ),
            (true, false) => ("FIPS", "AWS_USE_FIPS_ENDPOINT"),
            _ => ("dual-stack", "AWS_USE_DUALSTACK_ENDPOINT"),
        }
    }
}

fn flag(env: &Env, var: &'static str) -> Result<bool, EndpointError> {
    match env.get(var) {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(EndpointError::BadFlag {
            var,
            value: v.to_owned(),
        }),
    }
}

/// One AWS partition, as `partitions.json` describes it.
#[derive(Clone, Debug, Deserialize)]
pub struct Partition {
    pub id: String,
    #[serde(rename = "regionRegex")]
    region_regex: String,
    regions: BTreeMap<String, serde_json::Value>,
    pub outputs: PartitionOutputs,
}

/// What a partition gives a rule set (`PartitionResult#…`).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartitionOutputs {
    pub name: String,
    pub dns_suffix: String,
    pub dual_stack_dns_suffix: String,
    #[serde(rename = "supportsFIPS")]
    pub supports_fips: bool,
    pub supports_dual_stack: bool,
}

#[derive(Deserialize)]
struct PartitionsFile {
    partitions: Vec<Partition>,
}

fn partitions() -> Result<&'static [Partition], EndpointError> {
    static P: OnceLock<Result<Vec<Partition>, String>> = OnceLock::new();
    P.get_or_init(|| {
        serde_json::from_str::<PartitionsFile>(include_str!("partitions.json"))
            .map(|f| f.partitions)
            .map_err(|e| e.to_string())
    })
    .as_ref()
    .map(Vec::as_slice)
    .map_err(|e| EndpointError::Partitions(e.clone()))
}

/// The partition of `region`, as the rule sets' `aws.partition` finds it: a region a partition lists,
/// else the first partition whose `regionRegex` matches, else `aws`.
pub fn partition_of(region: &str) -> Result<&'static Partition, EndpointError> {
    let all = partitions()?;
    all.iter()
        .find(|p| p.regions.contains_key(region))
        .or_else(|| {
            all.iter()
                .find(|p| Pattern::parse(&p.region_regex).is_some_and(|r| r.matches(region)))
        })
        .or_else(|| all.iter().find(|p| p.id == "aws"))
        .ok_or_else(|| EndpointError::Partitions("no `aws` partition".into()))
}

/// The regular expressions `partitions.json` uses for regions: `^`, `$`, literals, `\-`, `\w+`, `\d+`
/// and groups of literal alternatives (`(us|eu)`). Anything else does not parse (and so never matches);
/// a test checks every published partition parses.
#[derive(Debug, PartialEq, Eq)]
enum Tok {
    Lit(char),
    Alt(Vec<String>),
    Word,
    Digits,
}

struct Pattern(Vec<Tok>);

impl Pattern {
    fn parse(re: &str) -> Option<Self> {
        let body = re.strip_prefix('^')?.strip_suffix('$')?;
        let mut toks = Vec::new();
        let mut chars = body.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match (chars.next()?, chars.peek()) {
                    ('w', Some('+')) => {
                        chars.next();
                        toks.push(Tok::Word);
                    }
                    ('d', Some('+')) => {
                        chars.next();
                        toks.push(Tok::Digits);
                    }
                    (c, _) if !c.is_ascii_alphanumeric() => toks.push(Tok::Lit(c)),
                    _ => return None,
                },
                '(' => {
                    let mut group = String::new();
                    loop {
                        match chars.next()? {
                            ')' => break,
                            c if c.is_ascii_alphanumeric() || c == '|' || c == '-' => group.push(c),
                            _ => return None,
                        }
                    }
                    toks.push(Tok::Alt(group.split('|').map(str::to_owned).collect()));
                }
                c if c.is_ascii_alphanumeric() || c == '-' => toks.push(Tok::Lit(c)),
                _ => return None,
            }
        }
        Some(Self(toks))
    }

    fn matches(&self, s: &str) -> bool {
        fn at(toks: &[Tok], s: &str) -> bool {
            let Some((first, rest)) = toks.split_first() else {
                return s.is_empty();
            };
            let run = |pred: fn(char) -> bool| {
                let n = s.find(|c: char| !pred(c)).unwrap_or(s.len());
                (1..=n).rev().any(|k| at(rest, &s[k..]))
            };
            match first {
                Tok::Lit(c) => s.strip_prefix(*c).is_some_and(|r| at(rest, r)),
                Tok::Alt(alts) => alts
                    .iter()
                    .any(|a| s.strip_prefix(a.as_str()).is_some_and(|r| at(rest, r))),
                Tok::Word => run(|c| c.is_ascii_alphanumeric() || c == '_'),
                Tok::Digits => run(|c| c.is_ascii_digit()),
            }
        }
        at(&self.0, s)
    }
}

/// Which DNS suffix of the partition a host ends with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Suffix {
    /// `PartitionResult#dnsSuffix` (`amazonaws.com`, `amazonaws.com.cn`, `c2s.ic.gov`).
    Dns,
    /// `PartitionResult#dualStackDnsSuffix` (`api.aws`, `api.amazonwebservices.com.cn`).
    DualStack,
}

/// A host: `<label>.<region>.<suffix>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Host {
    pub label: &'static str,
    pub suffix: Suffix,
}

const fn host(label: &'static str, suffix: Suffix) -> Host {
    Host { label, suffix }
}

/// What a rule gives: a host, or the rule set's error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Host(Host),
    Refused(&'static str),
}

/// Which regions a rule-set exception applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    /// `stringEquals(PartitionResult#name, …)`.
    Partition(&'static str),
    /// `stringEquals(Region, …)`.
    Region(&'static str),
}

/// A rule that comes before the general ones in a service's rule set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exception {
    pub when: When,
    pub fips: bool,
    pub dualstack: bool,
    pub outcome: Outcome,
}

/// A service's endpoint rules: the four variants of its host, and the exceptions its rule set makes
/// (GovCloud hosts that are FIPS already, partitions without a FIPS endpoint).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rules {
    pub plain: Host,
    pub dualstack: Host,
    pub fips: Host,
    pub fips_dualstack: Host,
    pub exceptions: &'static [Exception],
}

impl Rules {
    /// The shape most rule sets share: `<p>`, `<p>-fips`, on `dnsSuffix` or `dualStackDnsSuffix`.
    #[must_use]
    pub const fn standard(
        plain: &'static str,
        fips: &'static str,
        exceptions: &'static [Exception],
    ) -> Self {
        Self {
            plain: host(plain, Suffix::Dns),
            dualstack: host(plain, Suffix::DualStack),
            fips: host(fips, Suffix::Dns),
            fips_dualstack: host(fips, Suffix::DualStack),
            exceptions,
        }
    }
}

const fn fips_only(when: When, outcome: Outcome) -> Exception {
    Exception {
        when,
        fips: true,
        dualstack: false,
        outcome,
    }
}

/// `ecr/2015-09-21`: `api.ecr`, `api.ecr-fips`; dual-stack drops `api.`.
pub const ECR: Rules = Rules {
    plain: host("api.ecr", Suffix::Dns),
    dualstack: host("ecr", Suffix::DualStack),
    fips: host("api.ecr-fips", Suffix::Dns),
    fips_dualstack: host("ecr-fips", Suffix::DualStack),
    exceptions: &[],
};

/// `apprunner/2020-05-15`.
pub const APP_RUNNER: Rules = Rules::standard("apprunner", "apprunner-fips", &[]);

/// `logs/2014-03-28`: the GovCloud regions' plain hosts are their FIPS ones.
pub const LOGS: Rules = Rules::standard(
    "logs",
    "logs-fips",
    &[
        fips_only(
            When::Region("us-gov-east-1"),
            Outcome::Host(host("logs", Suffix::Dns)),
        ),
        fips_only(
            When::Region("us-gov-west-1"),
            Outcome::Host(host("logs", Suffix::Dns)),
        ),
    ],
);

/// `elbv2/2015-12-01`: in GovCloud the plain host is the FIPS one (the rule writes `amazonaws.com`,
/// GovCloud's `dnsSuffix`).
pub const ELBV2: Rules = Rules::standard(
    "elasticloadbalancing",
    "elasticloadbalancing-fips",
    &[fips_only(
        When::Partition("aws-us-gov"),
        Outcome::Host(host("elasticloadbalancing", Suffix::Dns)),
    )],
);

/// `cloudwatch/2010-08-01` (host `monitoring`): in GovCloud the plain hosts are the FIPS ones.
pub const CLOUDWATCH: Rules = Rules::standard(
    "monitoring",
    "monitoring-fips",
    &[
        fips_only(
            When::Partition("aws-us-gov"),
            Outcome::Host(host("monitoring", Suffix::Dns)),
        ),
        Exception {
            when: When::Partition("aws-us-gov"),
            fips: true,
            dualstack: true,
            outcome: Outcome::Host(host("monitoring", Suffix::DualStack)),
        },
    ],
);

/// `eventbridge/2015-10-07` (host `events`): in GovCloud the FIPS host of us-gov-east-1 and us-gov-west-1
/// is the plain one, and FIPS with dual-stack is the plain dual-stack host.
pub const EVENTS: Rules = Rules::standard(
    "events",
    "events-fips",
    &[
        fips_only(
            When::Region("us-gov-east-1"),
            Outcome::Host(host("events", Suffix::Dns)),
        ),
        fips_only(
            When::Region("us-gov-west-1"),
            Outcome::Host(host("events", Suffix::Dns)),
        ),
        Exception {
            when: When::Partition("aws-us-gov"),
            fips: true,
            dualstack: true,
            outcome: Outcome::Host(host("events", Suffix::DualStack)),
        },
    ],
);

/// `s3/2006-03-01`, for a regional bucket (no accelerate, no access point, `UseGlobalEndpoint` false):
/// dual-stack is `s3.dualstack` on the partition's `dnsSuffix`; China has no FIPS endpoint. The bucket
/// goes in front of the host (virtual-hosted) or after it (path-style), see [`super::s3`].
pub const S3: Rules = Rules {
    plain: host("s3", Suffix::Dns),
    dualstack: host("s3.dualstack", Suffix::Dns),
    fips: host("s3-fips", Suffix::Dns),
    fips_dualstack: host("s3-fips.dualstack", Suffix::Dns),
    exceptions: &[
        Exception {
            when: When::Partition("aws-cn"),
            fips: true,
            dualstack: false,
            outcome: Outcome::Refused("Partition does not support FIPS"),
        },
        Exception {
            when: When::Partition("aws-cn"),
            fips: true,
            dualstack: true,
            outcome: Outcome::Refused("Partition does not support FIPS"),
        },
    ],
};

/// The host of `rules` in `region` with `variants`, as the service's rule set gives it
/// (`api.ecr-fips.us-east-1.amazonaws.com`); the rule set's error when it refuses the combination.
/// `service` names the service (its SDK id, `AWS_ENDPOINT_URL_<ID>`) in the error.
pub fn resolve(
    service: &'static str,
    rules: &Rules,
    region: &str,
    variants: Variants,
) -> Result<String, EndpointError> {
    let partition = partition_of(region)?;
    let out = &partition.outputs;
    let refused = |reason: &'static str| {
        let (variant, vars) = variants.describe();
        EndpointError::Refused {
            service,
            region: region.to_owned(),
            variant,
            vars,
            env_id: service.to_uppercase().replace(' ', "_"),
            reason,
        }
    };
    let exception = rules.exceptions.iter().find(|e| {
        e.fips == variants.fips
            && e.dualstack == variants.dualstack
            && match e.when {
                When::Partition(p) => out.name == p,
                When::Region(r) => region == r,
            }
    });
    let chosen = match (exception, variants.fips, variants.dualstack) {
        (Some(e), _, _) => e.outcome,
        (None, true, true) if !(out.supports_fips && out.supports_dual_stack) => Outcome::Refused(
            "FIPS and DualStack are enabled, but this partition does not support one or both",
        ),
        (None, true, true) => Outcome::Host(rules.fips_dualstack),
        (None, true, false) if !out.supports_fips => {
            Outcome::Refused("FIPS is enabled but this partition does not support FIPS")
        }
        (None, true, false) => Outcome::Host(rules.fips),
        (None, false, true) if !out.supports_dual_stack => {
            Outcome::Refused("DualStack is enabled but this partition does not support DualStack")
        }
        (None, false, true) => Outcome::Host(rules.dualstack),
        (None, false, false) => Outcome::Host(rules.plain),
    };
    match chosen {
        Outcome::Refused(reason) => Err(refused(reason)),
        Outcome::Host(h) => {
            let suffix = match h.suffix {
                Suffix::Dns => &out.dns_suffix,
                Suffix::DualStack => &out.dual_stack_dns_suffix,
            };
            Ok(format!("{}.{region}.{suffix}", h.label))
        }
    }
}

/// The configured endpoint of a service, if any: `AWS_ENDPOINT_URL_<SERVICE_ID>` on `sdk`'s service
/// config, then `AWS_ENDPOINT_URL`.
#[must_use]
pub fn configured(sdk: &SdkConfig, service_id: &str) -> Option<String> {
    let per_service = sdk.service_config().and_then(|c| {
        c.load_config(
            ServiceConfigKey::builder()
                .service_id(service_id)
                .env(vars::AWS_ENDPOINT_URL)
                .profile("endpoint_url")
                .build()
                .ok()?,
        )
    });
    per_service.or_else(|| sdk.endpoint_url().map(str::to_owned))
}

/// `sdk` for an SDK client of `service_id` (`STS`, `ECS`, `Lambda`): with the FIPS and dual-stack flags
/// cleared when an endpoint is configured for that service. AWS's rule sets refuse a configured
/// endpoint with either flag ("Invalid Configuration: FIPS and custom endpoint are not supported");
/// stevedore lets the configured endpoint win, as it does for the hand-written clients ([`url`]).
#[must_use]
pub fn sdk_for(sdk: &SdkConfig, service_id: &str) -> SdkConfig {
    if configured(sdk, service_id).is_some()
        && (sdk.use_fips() == Some(true) || sdk.use_dual_stack() == Some(true))
    {
        sdk.to_builder()
            .use_fips(false)
            .use_dual_stack(false)
            .build()
    } else {
        sdk.clone()
    }
}

/// The base URL (with a trailing `/`) a hand-written client sends `service_id`'s calls to: the
/// configured endpoint ([`configured`]), else `https://<host>/` from [`resolve`] with `sdk`'s region
/// (`us-east-1` when it has none) and [`Variants`].
pub fn url(
    sdk: &SdkConfig,
    service_id: &'static str,
    rules: &Rules,
) -> Result<String, EndpointError> {
    if let Some(e) = configured(sdk, service_id) {
        return Ok(format!("{}/", e.trim_end_matches('/')));
    }
    let region = sdk.region().map_or("us-east-1", |r| r.as_ref());
    resolve(service_id, rules, region, Variants::of(sdk)).map(|h| format!("https://{h}/"))
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

    /// One row of `tests/fixtures/endpoints/hosts.json` (scripts/endpoint-table.py: botocore's own
    /// evaluation of AWS's endpoint rule sets).
    #[derive(Debug, Deserialize)]
    struct Row {
        service: String,
        service_id: String,
        region: String,
        fips: bool,
        dualstack: bool,
        bucket: Option<String>,
        url: Option<String>,
        error: Option<String>,
    }

    #[derive(Deserialize)]
    struct Table {
        rows: Vec<Row>,
    }

    fn table() -> Vec<Row> {
        let t: Table =
            serde_json::from_str(include_str!("../../tests/fixtures/endpoints/hosts.json"))
                .unwrap();
        t.rows
    }

    fn env_for(row: &Row) -> Env {
        Env::from_pairs([
            (
                "AWS_USE_FIPS_ENDPOINT",
                if row.fips { "true" } else { "false" },
            ),
            (
                "AWS_USE_DUALSTACK_ENDPOINT",
                if row.dualstack { "true" } else { "false" },
            ),
        ])
    }

    fn sdk_of_row(row: &Row) -> SdkConfig {
        let creds = aws_credential_types::provider::SharedCredentialsProvider::new(
            aws_credential_types::Credentials::new("AKIDTEST", "secret", None, None, "test"),
        );
        crate::aws::sdk_config(&env_for(row), &row.region, Some(creds))
    }

    /// What the hand-written client for `row` would send to: its base URL without the trailing `/`
    /// (S3: the bucket's URL), or the error.
    fn hand_written(row: &Row) -> Option<Result<String, EndpointError>> {
        let sdk = sdk_of_row(row);
        let rules = match row.service.as_str() {
            "ecr" => crate::aws::ecr::SERVICE.endpoint,
            "apprunner" => crate::aws::json_rpc::APP_RUNNER.endpoint,
            "logs" => crate::aws::json_rpc::LOGS.endpoint,
            "elbv2" => crate::aws::query::ELBV2.endpoint,
            "cloudwatch" => &CLOUDWATCH,
            "events" => crate::aws::events::SERVICE.endpoint,
            "s3" => {
                let s3 = crate::aws::s3::S3::new(
                    &sdk,
                    crate::net::Net::from_env(&crate::env::Env::default())
                        .reqwest()
                        .build()
                        .unwrap(),
                );
                let bucket = row.bucket.as_deref().unwrap();
                return Some(
                    s3.url(bucket, "")
                        .map(|u| u.trim_end_matches('/').to_owned()),
                );
            }
            _ => return None,
        };
        let id: &'static str = Box::leak(row.service_id.clone().into_boxed_str());
        Some(url(&sdk, id, rules).map(|u| u.trim_end_matches('/').to_owned()))
    }

    #[test]
    fn every_hand_written_client_reaches_the_host_the_rule_sets_give() {
        let mut checked = 0;
        let mut wrong = Vec::new();
        for row in table() {
            let Some(got) = hand_written(&row) else {
                continue;
            };
            checked += 1;
            let ok = match (&got, &row.url, &row.error) {
                (Ok(u), Some(want), None) => u == want,
                (Err(e), None, Some(reason)) => e.to_string().contains(reason.as_str()),
                _ => false,
            };
            if !ok {
                wrong.push(format!(
                    "{} {} fips={} dualstack={} {:?}: want {:?}, got {got:?}",
                    row.service,
                    row.region,
                    row.fips,
                    row.dualstack,
                    row.bucket,
                    row.url.as_ref().or(row.error.as_ref()),
                ));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
        // 6 services x 5 regions x 4 flag pairs, and S3 with two buckets.
        assert_eq!(checked, 6 * 20 + 40);
    }

    /// Captures the URI of the first request an SDK client would send, and stops it there.
    #[derive(Clone, Debug, Default)]
    struct Capture(std::sync::Arc<std::sync::Mutex<Option<String>>>);

    impl aws_smithy_runtime_api::client::interceptors::Intercept for Capture {
        fn name(&self) -> &'static str {
            "capture"
        }

        fn read_before_transmit(
            &self,
            ctx: &aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef<'_>,
            _: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
            _: &mut aws_smithy_types::config_bag::ConfigBag,
        ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
            *self.0.lock().unwrap() = Some(ctx.request().uri().to_owned());
            Err("captured".into())
        }
    }

    #[tokio::test]
    async fn the_sdk_clients_are_given_the_flags_and_reach_the_host_the_rule_sets_give() {
        let mut checked = 0;
        let mut wrong = Vec::new();
        for row in table() {
            let sdk = sdk_of_row(&row);
            let cap = Capture::default();
            let sent = match row.service.as_str() {
                "ecs" => {
                    let c = aws_sdk_ecs::config::Builder::from(&sdk_for(&sdk, "ECS"))
                        .interceptor(cap.clone())
                        .retry_config(aws_sdk_ecs::config::retry::RetryConfig::disabled())
                        .build();
                    aws_sdk_ecs::Client::from_conf(c)
                        .list_clusters()
                        .send()
                        .await
                        .is_ok()
                }
                "lambda" => {
                    let c = aws_sdk_lambda::config::Builder::from(&sdk_for(&sdk, "Lambda"))
                        .interceptor(cap.clone())
                        .retry_config(aws_sdk_lambda::config::retry::RetryConfig::disabled())
                        .build();
                    aws_sdk_lambda::Client::from_conf(c)
                        .list_functions()
                        .send()
                        .await
                        .is_ok()
                }
                "sts" => {
                    let c = aws_sdk_sts::config::Builder::from(&sdk_for(&sdk, "STS"))
                        .interceptor(cap.clone())
                        .retry_config(aws_sdk_sts::config::retry::RetryConfig::disabled())
                        .build();
                    aws_sdk_sts::Client::from_conf(c)
                        .get_caller_identity()
                        .send()
                        .await
                        .is_ok()
                }
                _ => continue,
            };
            assert!(!sent, "the capture stops every request");
            checked += 1;
            // Scheme and host: the path is the operation's (`/2015-03-31/functions`).
            let got = cap.0.lock().unwrap().take().map(|uri| {
                let host_end = uri["https://".len()..]
                    .find('/')
                    .map_or(uri.len(), |i| i + "https://".len());
                uri[..host_end].to_owned()
            });
            let ok = match (&got, &row.url) {
                (Some(origin), Some(want)) => origin == want,
                (None, None) => true,
                _ => false,
            };
            if !ok {
                wrong.push(format!(
                    "{} {} fips={} dualstack={}: want {:?}, got {got:?}",
                    row.service,
                    row.region,
                    row.fips,
                    row.dualstack,
                    row.url.as_ref().or(row.error.as_ref())
                ));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
        assert_eq!(checked, 3 * 20);
    }

    /// An override for one SDK service wins over the flags for that service only.
    #[tokio::test]
    async fn an_override_for_one_sdk_service_leaves_the_others_on_fips() {
        let env = Env::from_pairs([
            ("AWS_USE_FIPS_ENDPOINT", "true"),
            ("AWS_ENDPOINT_URL_ECS", "http://127.0.0.1:9"),
        ]);
        let creds = aws_credential_types::provider::SharedCredentialsProvider::new(
            aws_credential_types::Credentials::new("AKIDTEST", "secret", None, None, "test"),
        );
        let sdk = crate::aws::sdk_config(&env, "us-east-1", Some(creds));
        let ecs = Capture::default();
        let c = aws_sdk_ecs::config::Builder::from(&sdk_for(&sdk, "ECS"))
            .interceptor(ecs.clone())
            .retry_config(aws_sdk_ecs::config::retry::RetryConfig::disabled())
            .build();
        let stopped = aws_sdk_ecs::Client::from_conf(c)
            .list_clusters()
            .send()
            .await;
        assert!(stopped.is_err(), "the capture stops the request");
        assert_eq!(
            ecs.0.lock().unwrap().as_deref(),
            Some("http://127.0.0.1:9/")
        );
        let sts = Capture::default();
        let c = aws_sdk_sts::config::Builder::from(&sdk_for(&sdk, "STS"))
            .interceptor(sts.clone())
            .retry_config(aws_sdk_sts::config::retry::RetryConfig::disabled())
            .build();
        let stopped = aws_sdk_sts::Client::from_conf(c)
            .get_caller_identity()
            .send()
            .await;
        assert!(stopped.is_err(), "the capture stops the request");
        assert_eq!(
            sts.0.lock().unwrap().as_deref(),
            Some("https://sts-fips.us-east-1.amazonaws.com/")
        );
    }

    #[test]
    fn every_published_partition_pattern_is_understood() {
        for p in partitions().unwrap() {
            let pattern = Pattern::parse(&p.region_regex);
            assert!(pattern.is_some(), "{}: {}", p.id, p.region_regex);
            // Every region the partition lists (but its `-global` pseudo-region) matches its pattern.
            for r in p.regions.keys().filter(|r| !r.ends_with("-global")) {
                assert!(pattern.as_ref().unwrap().matches(r), "{} {r}", p.id);
            }
        }
        // Regions not (yet) listed are placed by pattern, as the rule sets' `aws.partition` does.
        for (region, id) in [
            ("us-gov-north-9", "aws-us-gov"),
            ("cn-south-7", "aws-cn"),
            ("us-isob-west-5", "aws-iso-b"),
            ("eusc-de-west-2", "aws-eusc"),
            ("ap-moon-1", "aws"),
            ("xx-nowhere-1", "aws"),
        ] {
            assert_eq!(partition_of(region).unwrap().id, id, "{region}");
        }
        let p = Pattern::parse(r"^(us|eu)\-\w+\-\d+$").unwrap();
        assert!(p.matches("eu-west-1"));
        assert!(!p.matches("us-gov-west-1"));
        assert!(!p.matches("eu-west-"));
        assert!(!p.matches("ca-west-1"));
        assert!(Pattern::parse(r"^us\-[a-z]+\-\d+$").is_none());
    }

    #[test]
    fn the_flags_are_true_or_false_and_anything_else_is_refused() {
        let v =
            |pairs: &[(&str, &str)]| Variants::from_env(&Env::from_pairs(pairs.iter().copied()));
        assert_eq!(v(&[]).unwrap(), Variants::default());
        assert_eq!(
            v(&[
                ("AWS_USE_FIPS_ENDPOINT", "TRUE"),
                ("AWS_USE_DUALSTACK_ENDPOINT", "false")
            ])
            .unwrap(),
            Variants {
                fips: true,
                dualstack: false
            }
        );
        let e = v(&[("AWS_USE_FIPS_ENDPOINT", "yes")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "AWS_USE_FIPS_ENDPOINT=`yes` is not `true` or `false`. Set AWS_USE_FIPS_ENDPOINT=true or AWS_USE_FIPS_ENDPOINT=false (or unset it)"
        );
        // Without a plan to refuse it, a bad FIPS value means FIPS: a typo never reaches a plain host.
        let lenient = Variants::from_env_lenient(&Env::from_pairs([
            ("AWS_USE_FIPS_ENDPOINT", "yes"),
            ("AWS_USE_DUALSTACK_ENDPOINT", "1"),
        ]));
        assert_eq!(
            lenient,
            Variants {
                fips: true,
                dualstack: false
            }
        );
    }
}
