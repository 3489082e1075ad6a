//! `plan` mode: Terraform/OpenTofu and Pulumi plans reviewed on the pull request, and only the reviewed
//! plan applied. See docs/iac.md.
//!
//! stevedore runs no infrastructure tool: the user's earlier steps do (`terraform show -json PLAN`,
//! `pulumi preview --json`, `terraform output -json`), and this mode reads what they wrote, from paths in
//! the workspace (or `RUNNER_TEMP`), by lint-gate's path rules. Three uses, chosen by `plan-check`:
//!
//! - `review` (default): each plan of `plans` is judged (errored, destroys in a protected environment,
//!   protected resources), rendered into the sticky comment, the job summary and a check run per plan,
//!   whose summary carries the plan's fingerprint ([`fingerprint`]).
//! - `reviewed`: before apply, each new plan is compared with the fingerprint of the plan reviewed on the
//!   pull request ([`reviewed`]); any difference outside the `volatile` paths refuses the apply.
//! - `outputs` given (after apply): `terraform output -json` / `pulumi stack output --json` become the
//!   `iac-outputs` step output and the summary (sensitive ones masked), and each environment gets a GitHub
//!   Deployment.

pub mod fingerprint;
pub mod gate;
pub mod model;
pub mod outputs;
pub mod pulumi;
pub mod render;
pub mod reviewed;
pub mod terraform;

use std::path::{Path, PathBuf};

use crate::inputs::{Input, Inputs, Mode};
use crate::modes::lint_gate::paths::PathMap;
use crate::modes::runtime::{Failure, ModeError, Runtime};
use crate::report::{Annotation, CheckReport, Level, Report, Verdict, markdown};

use fingerprint::Volatile;
use model::Plan;

/// Largest plan or output file read (a plan of tens of thousands of resources is a few hundred MB).
pub const MAX_FILE_BYTES: u64 = 512 * 1024 * 1024;
/// The sticky comment and each check run's text stay under this many bytes (GitHub's cap is 65,536
/// characters for a comment, 65,535 bytes for a check-run text).
pub const MAX_REPORT_BYTES: usize = 60_000;

/// Why a plan or output file cannot be judged.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("`{file}` cannot be read: {message}")]
    Unreadable { file: String, message: String },
    #[error("`{file}` is not a plan stevedore reads: {message}")]
    Malformed { file: String, message: String },
    #[error("{message}")]
    NotReviewed { message: String, hint: String },
}

impl Failure for PlanError {
    fn is_config(&self) -> bool {
        false
    }
    fn hint(&self) -> Option<String> {
        Some(match self {
            PlanError::Unreadable { .. } => "Write the file in an earlier step of the same job (`terraform show -json tfplan > plan.json`, `pulumi preview --json > preview.json`) under the workspace or `RUNNER_TEMP`.".to_owned(),
            PlanError::Malformed { .. } => "Give the output of `terraform show -json PLANFILE` / `tofu show -json PLANFILE` (not the plan file itself, nor `terraform plan -json`'s log), or `pulumi preview --json`.".to_owned(),
            PlanError::NotReviewed { hint, .. } => hint.clone(),
        })
    }
}

/// Which side of the review this step is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// Judge and report the plans, recording their fingerprints.
    Review,
    /// Compare each plan with the reviewed fingerprint before apply.
    Reviewed,
}

/// One `environment=path` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub environment: String,
    pub path: String,
}

/// Inputs of this mode.
#[derive(Debug)]
pub struct Config {
    pub plans: Vec<Entry>,
    pub outputs: Vec<Entry>,
    pub check: Check,
    /// Resource types or address globs whose destroy or replacement needs the label anywhere.
    pub protect: Vec<String>,
    /// Environments where any destroy or replacement needs the label; `None`: the production-like ones.
    pub protected_environments: Option<Vec<String>>,
    pub allow_destroy_label: String,
    pub volatile: Vec<Volatile>,
}

fn entries(p: &mut Inputs<'_>, name: Input, example: &str) -> Vec<Entry> {
    let mut out: Vec<Entry> = Vec::new();
    let Some(text) = p.text(name) else {
        return out;
    };
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        match line.split_once('=') {
            Some((e, path)) if !e.trim().is_empty() && !path.trim().is_empty() => {
                let environment = e.trim().to_owned();
                if out.iter().any(|x| x.environment == environment) {
                    p.error(
                        name,
                        Some(line),
                        format!("names environment `{environment}` twice"),
                        "Give each environment one line",
                    );
                    continue;
                }
                out.push(Entry {
                    environment,
                    path: path.trim().to_owned(),
                });
            }
            _ => {
                p.error(
                    name,
                    Some(line),
                    "is not `environment=path`",
                    format!("One line per environment, e.g. `{example}`"),
                );
            }
        }
    }
    out
}

impl Config {
    /// Reads this mode's inputs, collecting every error.
    pub fn parse(p: &mut Inputs<'_>) -> Self {
        let plans = entries(p, Input::Plans, "dev=plan-dev.json");
        let outputs = entries(p, Input::Outputs, "dev=outputs-dev.json");
        let check = match p.string(Input::PlanCheck).as_deref().map(str::trim) {
            None | Some("review") => Check::Review,
            Some("reviewed") => Check::Reviewed,
            Some(v) => {
                p.error(
                    Input::PlanCheck,
                    Some(v),
                    "is not `review` or `reviewed`",
                    "`review` on the pull request, `reviewed` in the apply job before `apply`",
                );
                Check::Review
            }
        };
        if plans.is_empty() && outputs.is_empty() {
            p.error(
                Input::Plans,
                None,
                "is required by `mode: plan` (or `outputs`, after apply)",
                "e.g. `plans: dev=plan-dev.json` with the output of `terraform show -json tfplan`",
            );
        }
        if check == Check::Reviewed && plans.is_empty() {
            p.error(
                Input::Plans,
                None,
                "is required by `plan-check: reviewed`: the new plan is compared with the reviewed one",
                "e.g. `plans: prod=plan-prod.json`",
            );
        }
        let protect = p.list(Input::Protect);
        let pe = p.list(Input::ProtectedEnvironments);
        let protected_environments = (!pe.is_empty()).then_some(pe);
        let allow_destroy_label = p
            .string(Input::AllowDestroyLabel)
            .unwrap_or_else(|| "allow-destroy".to_owned());
        let mut volatile = Vec::new();
        if let Some(t) = p.text(Input::Volatile) {
            for line in t.lines().map(str::trim).filter(|l| !l.is_empty()) {
                match Volatile::parse(line) {
                    Ok(v) => volatile.push(v),
                    Err(e) => {
                        p.error(
                            Input::Volatile,
                            Some(line),
                            e,
                            "One path a line, e.g. `tags.deployed_at` or `aws_ecs_task_definition.app container_definitions`",
                        );
                    }
                }
            }
        }
        Self {
            plans,
            outputs,
            check,
            protect,
            protected_environments,
            allow_destroy_label,
            volatile,
        }
    }

    /// Whether destroys in `environment` need the label.
    #[must_use]
    pub fn is_protected(&self, environment: &str) -> bool {
        match &self.protected_environments {
            Some(l) => l.iter().any(|e| e.eq_ignore_ascii_case(environment)),
            None => crate::github::deployments::is_production(environment),
        }
    }
}

/// Reads a file named in an input by lint-gate's path rules: relative to the workspace, and only when
/// it resolves (links followed) inside the workspace or `RUNNER_TEMP`.
pub fn read(paths: &PathMap, raw: &str) -> Result<Vec<u8>, PlanError> {
    let p = Path::new(raw);
    let full: PathBuf = if p.is_absolute() {
        p.to_path_buf()
    } else {
        paths.root().join(p)
    };
    let unreadable = |m: String| PlanError::Unreadable {
        file: raw.to_owned(),
        message: m,
    };
    let Some(real) = paths.resolve_readable(&full) else {
        return Err(unreadable(
            "it does not exist, or lies outside the workspace and RUNNER_TEMP".to_owned(),
        ));
    };
    let meta = std::fs::metadata(&real).map_err(|e| unreadable(e.to_string()))?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(unreadable(format!(
            "it has {} bytes, more than the {MAX_FILE_BYTES} stevedore reads",
            meta.len()
        )));
    }
    std::fs::read(&real).map_err(|e| unreadable(e.to_string()))
}

/// Reads a plan in any of the formats, detected from its JSON.
pub fn parse_plan(bytes: &[u8], file: &str) -> Result<Plan, PlanError> {
    let malformed = |m: String| PlanError::Malformed {
        file: file.to_owned(),
        message: m,
    };
    match serde_json::from_slice::<serde_json::Value>(bytes) {
        Ok(v) if terraform::is_plan(&v) => terraform::parse(&v, file),
        Ok(v) if pulumi::is_digest(&v) => pulumi::parse_digest(&v, file),
        Ok(serde_json::Value::Array(a)) if a.first().is_some_and(pulumi::is_event) => {
            pulumi::parse_events(&a, file)
        }
        Ok(v) if pulumi::is_event(&v) => pulumi::parse_events(&[v], file),
        Ok(v) if v.get("format_version").is_some() && v.get("values").is_some() => Err(malformed(
            "it is a state (`terraform show -json` without a plan file), not a plan".to_owned(),
        )),
        Ok(_) => Err(malformed(
            "it is JSON, but neither a Terraform/OpenTofu plan nor a Pulumi preview".to_owned(),
        )),
        Err(whole) => {
            // Pulumi's engine events: one JSON object a line.
            let mut events = Vec::new();
            for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                match serde_json::from_slice::<serde_json::Value>(line) {
                    Ok(e) if pulumi::is_event(&e) => events.push(e),
                    _ if events.is_empty() => {
                        return Err(malformed(format!("it is not JSON: {whole}")));
                    }
                    _ => {
                        return Err(malformed(format!(
                            "line {} is not a Pulumi engine event",
                            i + 1
                        )));
                    }
                }
            }
            if events.is_empty() {
                return Err(malformed("it is empty".to_owned()));
            }
            pulumi::parse_events(&events, file)
        }
    }
}

/// Runs the mode.
pub async fn run(rt: &Runtime<'_>, cfg: &Config) -> Result<Report, ModeError> {
    let paths = PathMap::new(&rt.ctx.workspace).with_readable(rt.env.get("RUNNER_TEMP"));
    let mut plan_line = String::from("plan:\n");
    for e in &cfg.plans {
        plan_line.push_str(&format!(
            "  - {} plan of {} from {}\n",
            match cfg.check {
                Check::Review => "review the",
                Check::Reviewed => "compare with the review the",
            },
            e.environment,
            e.path
        ));
    }
    for e in &cfg.outputs {
        plan_line.push_str(&format!(
            "  - outputs of {} from {} (and a GitHub Deployment)\n",
            e.environment, e.path
        ));
    }
    rt.cmds.line(plan_line.trim_end());
    if rt.common.dry_run {
        let mut r = Report::new(
            Mode::Plan,
            Verdict::Skipped,
            "Dry run: plan only",
            format!("## plan (dry run)\n\n{}\n", markdown::code("", &plan_line)),
        );
        r.comment = false;
        return Ok(r);
    }
    if !cfg.plans.is_empty() {
        let mut plans = Vec::new();
        for e in &cfg.plans {
            let bytes = read(&paths, &e.path)?;
            let file = e.path.clone();
            let plan = tokio::task::spawn_blocking(move || parse_plan(&bytes, &file))
                .await
                .map_err(|e| ModeError::Failed {
                    message: format!("reading the plan stopped: {e}"),
                    hint: None,
                })??;
            plans.push((e.clone(), plan));
        }
        let mut report = match cfg.check {
            Check::Review => {
                let labels = reviewed::labels(rt);
                review_report(cfg, &plans, &labels)
            }
            Check::Reviewed => reviewed::check(rt, cfg, &plans).await?,
        };
        if !cfg.outputs.is_empty() {
            let o = outputs::run(rt, cfg, &paths).await?;
            merge(&mut report, o);
        }
        report.key.clone_from(&rt.common.report_key);
        return Ok(report);
    }
    let mut report = outputs::run(rt, cfg, &paths).await?;
    report.key.clone_from(&rt.common.report_key);
    Ok(report)
}

/// `other` folded into `report`: the worse verdict, both summaries, checks and outputs.
fn merge(report: &mut Report, other: Report) {
    report.verdict = report.verdict.and(other.verdict);
    report.summary.push_str("\n\n");
    report.summary.push_str(&other.summary);
    report.checks.extend(other.checks);
    report.outputs.extend(other.outputs);
    if report.failure.is_none() {
        report.failure = other.failure;
    }
}

/// The check-run name of one environment's plan. LOAD-BEARING: the apply job finds the review by it.
#[must_use]
pub fn check_name(environment: &str) -> String {
    format!("stevedore / plan ({environment})")
}

/// The review of every plan: verdict, the comment/summary, one check run per plan carrying its
/// fingerprint, annotations on each destroy and replacement, and the `plan-counts` output.
#[must_use]
pub fn review_report(cfg: &Config, plans: &[(Entry, Plan)], labels: &[String]) -> Report {
    let mut verdict = Verdict::Success;
    let mut summary = String::new();
    let mut checks = Vec::new();
    let mut failures = Vec::new();
    let mut counts = serde_json::Map::new();
    let per_plan = MAX_REPORT_BYTES / plans.len().max(1);
    for (e, plan) in plans {
        let judged = gate::judge(cfg, &e.environment, plan, labels);
        verdict = verdict.and(judged.verdict);
        failures.extend(judged.failures.iter().cloned());
        let record = fingerprint::of(plan, &e.environment, &cfg.volatile);
        let body = render::plan(plan, &e.environment, &judged.notes, per_plan);
        summary.push_str(&body);
        summary.push('\n');
        let c = plan.counts();
        counts.insert(
            e.environment.clone(),
            serde_json::json!({
                "add": c.add, "change": c.change, "replace": c.replace, "destroy": c.destroy,
                "import": c.import, "move": c.moved, "forget": c.forget,
                "errored": plan.errored,
            }),
        );
        let mut annotations = Vec::new();
        for ch in plan.changes.iter().filter(|c| c.action.destroys()) {
            annotations.push(
                Annotation::new(
                    if judged.verdict == Verdict::Failure {
                        Level::Error
                    } else {
                        Level::Warning
                    },
                    e.path.trim_start_matches("./"),
                    1,
                    format!(
                        "{} {} in {}{}",
                        ch.address,
                        ch.action.label(),
                        e.environment,
                        ch.reason
                            .as_deref()
                            .map(|r| format!(": {r}"))
                            .unwrap_or_default()
                    ),
                )
                .with_title(format!("{}: {}", e.environment, ch.action.label())),
            );
        }
        checks.push(CheckReport {
            name: check_name(&e.environment),
            verdict: judged.verdict,
            title: format!(
                "{}: {}",
                e.environment,
                if plan.errored {
                    "planning failed".to_owned()
                } else {
                    render::counts_line(&plan.counts())
                }
            ),
            // The fingerprint first: it must never be cut off by the size limit.
            summary: format!(
                "{}\n{}",
                record.render(),
                judged
                    .notes
                    .iter()
                    .map(|n| format!("- {n}\n"))
                    .collect::<String>()
            ),
            text: render::plan(plan, &e.environment, &judged.notes, MAX_REPORT_BYTES),
            annotations,
        });
    }
    let title = if plans.len() == 1 {
        checks[0].title.clone()
    } else {
        plans
            .iter()
            .map(|(e, p)| format!("{}: {}", e.environment, render::counts_line(&p.counts())))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let mut r = Report::new(Mode::Plan, verdict, title, summary);
    r.checks = checks;
    r.output("plan-counts", serde_json::Value::Object(counts).to_string());
    if verdict == Verdict::Failure {
        let errored = plans.iter().any(|(_, p)| p.errored);
        let blocked = failures.len() > plans.iter().filter(|(_, p)| p.errored).count();
        let mut next = Vec::new();
        if errored {
            next.push("Fix the errors the plan step printed and push again.".to_owned());
        }
        if blocked {
            next.push(format!(
                "If destroying or replacing the protected resources is intended, add the `{}` label to the pull request (the review runs again on `labeled`).",
                cfg.allow_destroy_label
            ));
        }
        r.fail_because(failures.join(" "), next.join(" "));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_format_is_detected_and_what_is_no_plan_is_refused_by_name() {
        let state =
            br#"{"format_version":"1.0","terraform_version":"1.5.7","values":{"root_module":{}}}"#;
        let e = parse_plan(state, "s.json").unwrap_err();
        assert!(e.to_string().contains("it is a state"), "{e}");
        let e = parse_plan(b"not json", "x.json").unwrap_err();
        assert!(e.to_string().contains("not JSON"), "{e}");
        let e = parse_plan(br#"{"a": 1}"#, "x.json").unwrap_err();
        assert!(e.to_string().contains("neither"), "{e}");
        assert!(parse_plan(b"\n\n", "x.json").is_err());
        // Engine events as a JSON array, and as lines with a broken line after the first.
        let events = br#"[{"sequence":1,"timestamp":1,"resourcePreEvent":{"metadata":{"op":"create","urn":"urn:pulumi:dev::p::aws:s3/bucket:Bucket::b","type":"aws:s3/bucket:Bucket","old":null,"new":{"inputs":{}}}}}]"#;
        let p = parse_plan(events, "e.json").unwrap();
        assert_eq!(p.tool, Some(model::Tool::Pulumi));
        assert_eq!(p.counts().add, 1);
        let lines = b"{\"sequence\":1,\"timestamp\":1,\"preludeEvent\":{\"config\":{}}}\n{broken\n";
        let e = parse_plan(lines, "e.json").unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
    }
}
