//! ECR: registry login, repository creation, and scan findings with a severity gate.
//!
//! Login is `GetAuthorizationToken`, whose token is base64 `user:password` (user `AWS`), valid 12 h, for the
//! registry at `proxyEndpoint` (<https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_GetAuthorizationToken.html>).
//! The password is masked before anything else touches it and only ever travels in the Engine API's
//! `X-Registry-Auth` header, never on a command line (amazon-ecr-login puts it on `docker login`'s argv).
//!
//! Scan findings: basic scanning reports `findingSeverityCounts` and `findings`; enhanced scanning
//! (Inspector) reports `enhancedFindings` with severities that include `UNTRIAGED`. The gate uses the counts,
//! which cover every finding (the list is paginated), and ignores `UNDEFINED`/`UNTRIAGED` for the threshold
//! while still showing them.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use aws_config::SdkConfig;
use secrecy::{ExposeSecret as _, SecretString};

use crate::aws::call::CallError;
use crate::aws::ecr::{
    CreateRepository, Ecr, ImageId, Login, ScanFindingsPage, ScanningConfiguration,
};
use crate::net::Net;
use crate::report::Commands;

/// Credentials for one registry, from `GetAuthorizationToken`.
#[derive(Debug)]
pub struct RegistryAuth {
    /// Registry host (no scheme), e.g. `123456789012.dkr.ecr.eu-west-1.amazonaws.com`.
    pub registry: String,
    pub username: String,
    pub password: SecretString,
}

/// An ECR call failed or answered something unusable.
#[derive(Debug, thiserror::Error)]
pub enum EcrError {
    /// The call's own error keeps ECR's exception name (`error.code`).
    #[error(
        "ECR {operation} failed: {}. Check that the role may call ecr:{operation} (and the region in `aws-region`)",
        .error.message
    )]
    Call {
        operation: &'static str,
        error: Box<CallError>,
    },
    #[error("cannot build the HTTP client for ECR: {0}")]
    Http(String),
    #[error(
        "ECR repository `{0}` does not exist; create it (infrastructure as code), or set `create-repository: true`"
    )]
    RepositoryMissing(String),
    #[error("ECR GetAuthorizationToken returned no usable token ({0})")]
    BadToken(&'static str),
    #[error(
        "ECR scan of `{repository}@{digest}` did not complete within {waited:?} (last status {status}); raise `scan-timeout` or drop `scan-severity-threshold`"
    )]
    ScanTimeout {
        repository: String,
        digest: String,
        waited: Duration,
        status: String,
    },
    #[error(
        "ECR scan of `{repository}@{digest}` ended with status {status}: {description}. The severity gate cannot be evaluated"
    )]
    ScanFailed {
        repository: String,
        digest: String,
        status: String,
        description: String,
    },
    #[error("waiting for the ECR scan of `{repository}@{digest}` stopped: {signal}")]
    Cancelled {
        repository: String,
        digest: String,
        signal: String,
    },
}

fn call_err(operation: &'static str) -> impl FnOnce(CallError) -> EcrError {
    move |error| EcrError::Call {
        operation,
        error: Box::new(error),
    }
}

/// The AWS error code of a failed call.
fn code(e: &CallError) -> Option<&str> {
    e.code.as_deref()
}

/// An ECR client for `sdk` (credentials, region, `AWS_ENDPOINT_URL_ECR`/`AWS_ENDPOINT_URL`) over `net`'s
/// roots and proxy, stopping at `net`'s cancellation flag.
pub fn client(sdk: &SdkConfig, net: &Net) -> Result<Ecr, EcrError> {
    Ecr::new(sdk, net).map_err(|e| EcrError::Http(e.to_string()))
}

/// Logs in: one `GetAuthorizationToken`, the password masked at once.
pub async fn login(ecr: &Ecr, cmds: &Commands) -> Result<RegistryAuth, EcrError> {
    let data = ecr
        .get_authorization_token()
        .await
        .map_err(call_err("GetAuthorizationToken"))?;
    // The token itself is a credential too: mask it before decoding.
    if let Some(token) = data.first().and_then(|d| d.authorization_token.as_deref()) {
        cmds.add_mask(token);
    }
    let login = Login::read(&data).map_err(EcrError::BadToken)?;
    cmds.add_mask(login.password.expose_secret());
    Ok(RegistryAuth {
        registry: registry_host(&login.endpoint),
        username: login.username,
        password: login.password,
    })
}

/// `https://host[:port]/` -> `host[:port]`.
#[must_use]
pub fn registry_host(endpoint: &str) -> String {
    let s = endpoint
        .strip_prefix("https://")
        .or_else(|| endpoint.strip_prefix("http://"))
        .unwrap_or(endpoint);
    s.trim_end_matches('/').to_owned()
}

/// Makes sure `repository` exists; creates it (scan on push, mutable tags) when `create` is set.
/// Returns whether it was created.
pub async fn ensure_repository(
    ecr: &Ecr,
    repository: &str,
    create: bool,
) -> Result<bool, EcrError> {
    match ecr.describe_repositories(&[repository]).await {
        Ok(_) => Ok(false),
        Err(e) if code(&e) == Some("RepositoryNotFoundException") => {
            if !create {
                return Err(EcrError::RepositoryMissing(repository.to_owned()));
            }
            let req = CreateRepository {
                repository_name: repository.to_owned(),
                image_scanning_configuration: Some(ScanningConfiguration { scan_on_push: true }),
                image_tag_mutability: None,
            };
            match ecr.create_repository(&req).await {
                Ok(_) => {
                    tracing::info!(%repository, "created ECR repository");
                    Ok(true)
                }
                // Another job created it between our two calls.
                Err(e) if code(&e) == Some("RepositoryAlreadyExistsException") => Ok(false),
                Err(e) => Err(call_err("CreateRepository")(e)),
            }
        }
        Err(e) => Err(call_err("DescribeRepositories")(e)),
    }
}

/// Severity of a finding, in increasing order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// `UNDEFINED` (basic) or `UNTRIAGED` (enhanced): shown, never gates.
    Unknown,
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// Input words for `scan-severity-threshold` (lower case), in increasing order.
    pub const THRESHOLDS: [&'static str; 5] =
        ["informational", "low", "medium", "high", "critical"];

    /// Parses ECR's spelling (`HIGH`) or the input's (`high`).
    #[must_use]
    pub fn parse(s: &str) -> Option<Severity> {
        Some(match s.trim().to_ascii_uppercase().as_str() {
            "CRITICAL" => Severity::Critical,
            "HIGH" => Severity::High,
            "MEDIUM" => Severity::Medium,
            "LOW" => Severity::Low,
            "INFORMATIONAL" => Severity::Informational,
            "UNDEFINED" | "UNTRIAGED" => Severity::Unknown,
            _ => return None,
        })
    }

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Unknown => "UNDEFINED",
            Severity::Informational => "INFORMATIONAL",
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
            Severity::Critical => "CRITICAL",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One finding, shown in the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub name: String,
    pub severity: Severity,
    pub uri: Option<String>,
    pub package: Option<String>,
}

/// A scan result: counts per severity (all findings) and the first page of findings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScanSummary {
    pub counts: BTreeMap<Severity, u64>,
    pub findings: Vec<Finding>,
}

/// The gate's decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gate {
    pub threshold: Severity,
    /// Findings at or above the threshold.
    pub blocking: u64,
}

impl Gate {
    #[must_use]
    pub fn passed(&self) -> bool {
        self.blocking == 0
    }
}

impl ScanSummary {
    /// Applies the threshold: fails when any finding is at or above it. `Unknown` never counts.
    #[must_use]
    pub fn gate(&self, threshold: Severity) -> Gate {
        let blocking = self
            .counts
            .iter()
            .filter(|(s, _)| **s != Severity::Unknown && **s >= threshold)
            .map(|(_, n)| *n)
            .sum();
        Gate {
            threshold,
            blocking,
        }
    }

    /// Total findings.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    /// Markdown: a count table (highest first) and up to `max` findings, highest severity first.
    #[must_use]
    pub fn markdown(&self, max: usize) -> String {
        use crate::report::markdown::cell;
        if self.counts.is_empty() {
            return "No findings.\n".to_owned();
        }
        let mut s = String::from("| severity | findings |\n| --- | ---: |\n");
        for (sev, n) in self.counts.iter().rev() {
            s.push_str(&format!("| {sev} | {n} |\n"));
        }
        let mut list = self.findings.clone();
        list.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.name.cmp(&b.name)));
        if !list.is_empty() {
            s.push_str("\n| finding | severity | package |\n| --- | --- | --- |\n");
            for f in list.iter().take(max) {
                let name = match &f.uri {
                    Some(u) => format!("[{}]({})", cell(&f.name), u),
                    None => cell(&f.name),
                };
                s.push_str(&format!(
                    "| {name} | {} | {} |\n",
                    f.severity,
                    f.package.as_deref().map(cell).unwrap_or_default()
                ));
            }
            if list.len() > max {
                s.push_str(&format!(
                    "\n_{} more finding(s) in the ECR console._\n",
                    list.len() - max
                ));
            }
        }
        s
    }
}

/// Reads the scan findings of `digest`, starting a scan when none exists (basic scanning without scan on
/// push) and polling until it completes or `timeout` passes.
pub async fn scan_findings(
    ecr: &Ecr,
    repository: &str,
    digest: &str,
    timeout: Duration,
) -> Result<ScanSummary, EcrError> {
    let image = ImageId::digest(digest);
    let started = tokio::time::Instant::now();
    let mut delay = Duration::from_secs(2);
    let mut scan_started = false;
    loop {
        let status = match ecr.describe_image_scan_findings(repository, &image).await {
            Ok(out) => {
                let scan = out.image_scan_status.clone().unwrap_or_default();
                let status = scan.status.unwrap_or_else(|| "PENDING".to_owned());
                match status.as_str() {
                    "COMPLETE" => return Ok(summarize(&out)),
                    "IN_PROGRESS" | "PENDING" => status,
                    _ => {
                        return Err(EcrError::ScanFailed {
                            repository: repository.to_owned(),
                            digest: digest.to_owned(),
                            status,
                            description: scan
                                .description
                                .unwrap_or_else(|| "no description".to_owned()),
                        });
                    }
                }
            }
            Err(e) if !scan_started && code(&e) == Some("ScanNotFoundException") => {
                ecr.start_image_scan(repository, &image)
                    .await
                    .map_err(call_err("StartImageScan"))?;
                scan_started = true;
                tracing::info!(%repository, %digest, "no scan yet: started one");
                continue;
            }
            Err(e) if code(&e) == Some("ScanNotFoundException") => "SCAN_NOT_FOUND".to_owned(),
            Err(e) => return Err(call_err("DescribeImageScanFindings")(e)),
        };
        let waited = started.elapsed();
        if waited + delay > timeout {
            return Err(EcrError::ScanTimeout {
                repository: repository.to_owned(),
                digest: digest.to_owned(),
                waited,
                status,
            });
        }
        tracing::info!(%status, "waiting for the ECR scan");
        // The poll interval ends at the signal like the requests do.
        ecr.cancel()
            .guard(tokio::time::sleep(delay))
            .await
            .map_err(|c| EcrError::Cancelled {
                repository: repository.to_owned(),
                digest: digest.to_owned(),
                signal: c.to_string(),
            })?;
        delay = (delay * 2).min(Duration::from_secs(15));
    }
}

fn summarize(out: &ScanFindingsPage) -> ScanSummary {
    let mut sum = ScanSummary::default();
    let Some(f) = &out.image_scan_findings else {
        return sum;
    };
    for (sev, n) in &f.finding_severity_counts {
        let s = Severity::parse(sev).unwrap_or(Severity::Unknown);
        *sum.counts.entry(s).or_default() += u64::try_from(*n).unwrap_or(0);
    }
    for x in &f.findings {
        let attribute = |key: &str| {
            x.attributes
                .iter()
                .find(|a| a.key == key)
                .and_then(|a| a.value.as_deref())
        };
        let package = attribute("package_name").map(|name| match attribute("package_version") {
            Some(v) => format!("{name} {v}"),
            None => name.to_owned(),
        });
        sum.findings.push(Finding {
            name: x.name.as_deref().unwrap_or("(unnamed)").to_owned(),
            severity: x
                .severity
                .as_deref()
                .and_then(Severity::parse)
                .unwrap_or(Severity::Unknown),
            uri: x.uri.clone(),
            package,
        });
    }
    for x in &f.enhanced_findings {
        let details = x.package_vulnerability_details.as_ref();
        sum.findings.push(Finding {
            name: details
                .and_then(|d| d.vulnerability_id.as_deref())
                .or(x.title.as_deref())
                .unwrap_or("(unnamed)")
                .to_owned(),
            severity: x
                .severity
                .as_deref()
                .and_then(Severity::parse)
                .unwrap_or(Severity::Unknown),
            uri: details.and_then(|d| d.source_url.clone()),
            package: None,
        });
    }
    // Enhanced scanning may omit counts; derive them from the list then.
    if sum.counts.is_empty() {
        for x in &sum.findings {
            *sum.counts.entry(x.severity).or_default() += 1;
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(counts: &[(Severity, u64)]) -> ScanSummary {
        ScanSummary {
            counts: counts.iter().copied().collect(),
            findings: Vec::new(),
        }
    }

    #[test]
    fn the_gate_counts_findings_at_or_above_the_threshold() {
        let s = summary(&[
            (Severity::Low, 4),
            (Severity::Medium, 2),
            (Severity::High, 1),
        ]);
        assert_eq!(s.gate(Severity::Critical).blocking, 0);
        assert!(s.gate(Severity::Critical).passed());
        assert_eq!(s.gate(Severity::High).blocking, 1);
        assert_eq!(s.gate(Severity::Medium).blocking, 3);
        assert_eq!(s.gate(Severity::Informational).blocking, 7);
        assert!(!s.gate(Severity::Low).passed());
    }

    #[test]
    fn untriaged_and_undefined_never_gate() {
        let s = summary(&[(Severity::Unknown, 9)]);
        assert!(s.gate(Severity::Informational).passed());
        assert_eq!(s.total(), 9);
    }

    #[test]
    fn severities_parse_both_spellings_in_order() {
        assert_eq!(Severity::parse("high"), Some(Severity::High));
        assert_eq!(Severity::parse("CRITICAL"), Some(Severity::Critical));
        assert_eq!(Severity::parse("UNTRIAGED"), Some(Severity::Unknown));
        assert_eq!(Severity::parse("severe"), None);
        let parsed: Vec<_> = Severity::THRESHOLDS
            .iter()
            .map(|t| Severity::parse(t).unwrap())
            .collect();
        assert!(parsed.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn proxy_endpoints_become_hosts() {
        assert_eq!(
            registry_host("https://123456789012.dkr.ecr.eu-west-1.amazonaws.com"),
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
        );
        assert_eq!(registry_host("http://127.0.0.1:5000/"), "127.0.0.1:5000");
    }

    #[test]
    fn markdown_lists_highest_first_and_caps_the_list() {
        let mut s = summary(&[(Severity::Low, 1), (Severity::Critical, 1)]);
        s.findings = vec![
            Finding {
                name: "CVE-1".into(),
                severity: Severity::Low,
                uri: None,
                package: Some("zlib 1.2".into()),
            },
            Finding {
                name: "CVE-2".into(),
                severity: Severity::Critical,
                uri: Some("https://example.invalid/CVE-2".into()),
                package: None,
            },
        ];
        let md = s.markdown(1);
        let crit = md.find("| CRITICAL | 1 |").unwrap();
        let low = md.find("| LOW | 1 |").unwrap();
        assert!(crit < low, "{md}");
        assert!(
            md.contains("[CVE-2](https://example.invalid/CVE-2)"),
            "{md}"
        );
        assert!(!md.contains("CVE-1"), "{md}");
        assert!(md.contains("1 more finding"), "{md}");
    }
}
