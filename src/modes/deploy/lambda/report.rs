//! The Lambda deploy's report: versions, code and configuration changes, traffic over time (table and a
//! Mermaid chart), health results and the AWS calls made.

use std::time::Duration;

use super::traffic::fmt_weight;
use super::{CodeChange, Deployed, Ending};
use crate::inputs::Mode;
use crate::report::markdown::{cell, table};
use crate::report::{Report, Verdict};

/// Seconds with one decimal: `12.3s`.
fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// The verdict of an ending.
#[must_use]
pub fn verdict(e: &Ending) -> Verdict {
    match e {
        Ending::Promoted | Ending::Planned => Verdict::Success,
        Ending::Unchanged => Verdict::Skipped,
        Ending::FailedBeforeTraffic { .. }
        | Ending::RolledBack { .. }
        | Ending::Cancelled { .. }
        | Ending::RollbackFailed { .. }
        | Ending::FailedWithoutPrevious { .. } => Verdict::Failure,
    }
}

fn title(d: &Deployed) -> String {
    let target = format!("{}:{}", d.function, d.alias);
    let v = d.version.as_deref().unwrap_or("?");
    let prev = d.previous.as_deref().unwrap_or("none");
    match &d.ending {
        Ending::Planned => format!("{target}: plan only (dry run)"),
        Ending::Unchanged => format!("{target} already serves version {v}; nothing to deploy"),
        Ending::Promoted => format!("{target} → version {v} ({})", d.traffic),
        Ending::FailedBeforeTraffic { .. } => {
            format!("{target}: version {v} failed its test invocation; no traffic moved")
        }
        Ending::RolledBack { .. } => format!("{target} rolled back to version {prev}"),
        Ending::Cancelled { shifted: true } => {
            format!("{target}: cancelled, alias restored to version {prev}")
        }
        Ending::Cancelled { shifted: false } => {
            format!("{target}: cancelled before any traffic moved")
        }
        Ending::RollbackFailed { .. } => {
            format!("{target}: unhealthy and the rollback FAILED; the alias needs attention")
        }
        Ending::FailedWithoutPrevious { .. } => {
            format!("{target}: version {v} is unhealthy and there is no previous version")
        }
    }
}

/// One line saying how the deploy ended.
#[must_use]
pub fn result_line(d: &Deployed) -> String {
    match &d.ending {
        Ending::Planned => "dry run: nothing was changed".into(),
        Ending::Unchanged => "nothing to do".into(),
        Ending::Promoted => "all traffic on the new version, health good".into(),
        Ending::FailedBeforeTraffic { reason } => format!("test invocation failed: {reason}"),
        Ending::RolledBack { reason } => format!("rolled back: {reason}"),
        Ending::Cancelled { shifted } => {
            if *shifted {
                "cancelled by the runner; alias restored".into()
            } else {
                "cancelled by the runner before the alias moved".into()
            }
        }
        Ending::RollbackFailed { reason, error } => format!(
            "unhealthy ({reason}) and the rollback failed: {error}. Run `aws lambda update-alias --function-name {} --name {} --function-version {} --routing-config AdditionalVersionWeights={{}}`",
            d.function,
            d.alias,
            d.previous.as_deref().unwrap_or("<previous>")
        ),
        Ending::FailedWithoutPrevious { reason } => format!(
            "unhealthy: {reason}; the alias was created by this deploy, so there is no version to roll back to"
        ),
    }
}

/// The Mermaid chart of the new version's share over time.
fn chart(d: &Deployed) -> String {
    let v = d.version.as_deref().unwrap_or("new");
    let xs: Vec<String> = std::iter::once("\"start\"".to_owned())
        .chain(d.shifts.iter().map(|s| format!("\"{}\"", secs(s.at))))
        .collect();
    let ys: Vec<String> = std::iter::once("0".to_owned())
        .chain(d.shifts.iter().map(|s| fmt_weight(s.weight)))
        .collect();
    format!(
        "```mermaid\nxychart-beta\n  title \"Traffic on version {v}\"\n  x-axis \"time since the first shift\" [{}]\n  y-axis \"% of requests\" 0 --> 100\n  line [{}]\n```\n",
        xs.join(", "),
        ys.join(", ")
    )
}

/// The report for one Lambda deploy.
#[must_use]
pub fn render(d: &Deployed, key: Option<String>) -> Report {
    let verdict = verdict(&d.ending);
    let mut s = format!(
        "## {} Lambda deploy: {}\n\n",
        verdict.emoji(),
        cell(&title(d))
    );
    let code = match &d.code {
        CodeChange::NotGiven => "not given (configuration-only deploy)".to_owned(),
        CodeChange::Unchanged { sha256 } => format!("unchanged (`{sha256}`), upload skipped"),
        CodeChange::Updated { from, to } => format!("`{from}` → `{to}`"),
    };
    let config = if d.config_changes.is_empty() {
        "unchanged".to_owned()
    } else {
        d.config_changes.join("; ")
    };
    s.push_str(&table(
        &["", ""],
        &[
            vec!["function".into(), format!("`{}`", d.function_arn)],
            vec!["alias".into(), format!("`{}`", d.alias)],
            vec![
                "previous version".into(),
                d.previous
                    .clone()
                    .unwrap_or_else(|| "none (new alias)".into()),
            ],
            vec![
                "new version".into(),
                d.version.clone().unwrap_or_else(|| "not published".into()),
            ],
            vec!["code".into(), code],
            vec!["configuration".into(), config],
            vec!["traffic".into(), format!("`{}`", d.traffic)],
            vec!["result".into(), result_line(d)],
        ],
    ));
    for n in &d.notes {
        s.push_str(&format!("\n> {n}\n"));
    }
    if !d.shifts.is_empty() {
        s.push_str("\n### Traffic over time\n\n");
        s.push_str(&table(
            &["time", "% on new version", "event"],
            &d.shifts
                .iter()
                .map(|x| vec![secs(x.at), fmt_weight(x.weight), x.note.clone()])
                .collect::<Vec<_>>(),
        ));
        s.push('\n');
        s.push_str(&chart(d));
    }
    if !d.health.is_empty() {
        let failed = d.health.iter().filter(|h| !h.outcome.ok).count();
        s.push_str(&format!(
            "\n### Health ({} check(s), {failed} failed)\n\n",
            d.health.len()
        ));
        s.push_str(&table(
            &["time", "% on new version", "check", "result", "detail"],
            &d.health
                .iter()
                .map(|h| {
                    vec![
                        secs(h.at),
                        fmt_weight(h.weight),
                        h.outcome.check.as_str().to_owned(),
                        if h.outcome.ok { "✅" } else { "❌" }.to_owned(),
                        h.outcome.detail.clone(),
                    ]
                })
                .collect::<Vec<_>>(),
        ));
    }
    let overhead = d
        .elapsed
        .saturating_sub(d.stats.in_api)
        .saturating_sub(d.baked);
    let ms = |d: Duration| format!("{} ms", d.as_millis());
    s.push_str(&format!(
        "\n<details><summary>{} AWS call(s) taking {}; bake {}; stevedore's own time {} (deploy total {})</summary>\n\n",
        d.stats.total(),
        ms(d.stats.in_api),
        ms(d.baked),
        ms(overhead),
        ms(d.elapsed)
    ));
    s.push_str(&table(
        &["call", "count"],
        &d.stats
            .calls
            .iter()
            .map(|(k, v)| vec![(*k).to_owned(), v.to_string()])
            .collect::<Vec<_>>(),
    ));
    s.push_str("\n</details>\n");

    let mut r = Report::new(Mode::Deploy, verdict, title(d), s);
    r.key = key;
    if let Some(v) = &d.version {
        r.output("version", v.clone());
    }
    if let Some(p) = &d.previous {
        r.output("previous-version", p.clone());
    }
    if !d.alias_arn.is_empty() {
        r.output("alias-arn", d.alias_arn.clone());
    }
    if !d.function_arn.is_empty() {
        r.output("function-arn", d.function_arn.clone());
    }
    r
}
