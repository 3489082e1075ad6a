//! The policy on one plan: a plan that errored fails; destroying or replacing anything in a protected
//! environment (by default the production-like ones, as the trigger policy names them), or a protected
//! resource type or address anywhere, fails unless the pull request carries the allow label; an
//! incomplete plan (deferred changes) is said, not failed.

use crate::report::{Verdict, markdown};

use super::Config;
use super::fingerprint::wildcard;
use super::model::{Change, Plan};

/// The gate's verdict on one plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Judged {
    pub verdict: Verdict,
    /// Markdown lines for the report.
    pub notes: Vec<String>,
    /// Why it fails (plain sentences, for the closing `::error`).
    pub failures: Vec<String>,
}

/// Whether `ch` is protected by one of `protect` (a resource type, or an address glob).
#[must_use]
pub fn protected_by<'a>(protect: &'a [String], ch: &Change) -> Option<&'a str> {
    protect
        .iter()
        .find(|p| **p == ch.kind || wildcard(p, &ch.address))
        .map(String::as_str)
}

/// Judges `plan` of `environment`; `labels` are the pull request's.
#[must_use]
pub fn judge(cfg: &Config, environment: &str, plan: &Plan, labels: &[String]) -> Judged {
    let mut j = Judged {
        verdict: Verdict::Success,
        notes: Vec::new(),
        failures: Vec::new(),
    };
    if plan.errored {
        j.verdict = Verdict::Failure;
        j.notes.push(format!(
            "❌ Planning failed for **{}**: an errored plan cannot be applied.",
            markdown::text(environment)
        ));
        j.failures.push(format!(
            "The plan for {environment} errored; fix the errors the plan step printed."
        ));
    }
    let labelled = labels
        .iter()
        .any(|l| l.eq_ignore_ascii_case(&cfg.allow_destroy_label));
    let env_protected = cfg.is_protected(environment);
    let mut blocked: Vec<(&Change, String)> = Vec::new();
    for ch in plan.changes.iter().filter(|c| c.action.destroys()) {
        if let Some(p) = protected_by(&cfg.protect, ch) {
            blocked.push((ch, format!("protected by `{p}`")));
        } else if env_protected {
            blocked.push((ch, "in a protected environment".to_owned()));
        }
    }
    if !blocked.is_empty() {
        let names: Vec<String> = blocked
            .iter()
            .take(20)
            .map(|(c, why)| {
                format!(
                    "{} ({}, {why})",
                    markdown::code_span(&c.address),
                    c.action.label()
                )
            })
            .collect();
        let more = blocked.len().saturating_sub(20);
        let list = format!(
            "{}{}",
            names.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        );
        if labelled {
            j.notes.push(format!(
                "⚠️ Destroys or replaces {} protected resource(s) in **{}**, allowed by the `{}` label: {list}",
                blocked.len(),
                markdown::text(environment),
                markdown::text(&cfg.allow_destroy_label),
            ));
        } else {
            j.verdict = Verdict::Failure;
            j.notes.push(format!(
                "❌ Destroys or replaces {} protected resource(s) in **{}**: {list}. Add the `{}` label to the pull request if this is intended.",
                blocked.len(),
                markdown::text(environment),
                markdown::text(&cfg.allow_destroy_label),
            ));
            j.failures.push(format!(
                "The plan for {environment} destroys or replaces {} protected resource(s) without the `{}` label.",
                blocked.len(),
                cfg.allow_destroy_label
            ));
        }
    }
    if plan.incomplete {
        j.notes.push(
            "ℹ️ The plan is incomplete (deferred changes): after this apply, plan and apply again."
                .to_owned(),
        );
    }
    j
}
