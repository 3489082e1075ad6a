//! The Lambda deploy's report: versions, code and configuration changes, traffic over time (table and a
//! Mermaid chart), health results and the AWS calls made.

use std::time::Duration;

use super::health::Check;
use super::traffic::fmt_weight;
use super::{CodeChange, Deployed, Ending, HealthRecord};
use crate::inputs::Mode;
use crate::report::markdown::table;
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

/// What to do after a failed deploy (the closing `::error`); `None` when the deploy did not fail.
#[must_use]
pub fn next_step(d: &Deployed) -> Option<&'static str> {
    Some(match &d.ending {
        Ending::Planned | Ending::Unchanged | Ending::Promoted => return None,
        Ending::FailedBeforeTraffic { .. } => {
            "Fix the function (the job summary shows the test invocation's error; its CloudWatch logs have the rest) and deploy again; the alias still serves the previous version."
        }
        Ending::RolledBack { .. } => {
            "The alias serves the previous version again. Look at the alarms and health checks in the job summary, fix the function and deploy again."
        }
        Ending::Cancelled { .. } => {
            "The runner cancelled the step; run the deploy again when ready."
        }
        Ending::RollbackFailed { .. } => {
            "Restore the alias by hand with the command above now, then find out why the rollback failed (permissions on lambda:UpdateAlias?)."
        }
        Ending::FailedWithoutPrevious { .. } => {
            "Fix the function and deploy again; until then the alias serves the unhealthy version."
        }
    })
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

/// Health results with runs of identical passing checks folded into one row (`3× ✅`, time range), so a
/// ten-minute bake checked every ten seconds stays readable; failures always get their own row.
fn health_rows(records: &[HealthRecord]) -> Vec<Vec<String>> {
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut i = 0;
    while i < records.len() {
        let h = &records[i];
        let mut j = i + 1;
        if h.outcome.ok {
            // Rounds interleave checks (URL, invoke, URL, ...): fold per check within one weight.
            while j < records.len()
                && records[j].outcome.ok
                && records[j].weight.total_cmp(&h.weight).is_eq()
            {
                j += 1;
            }
        }
        let group = &records[i..j];
        let mut checks: Vec<Check> = Vec::new();
        for r in group {
            if !checks.contains(&r.outcome.check) {
                checks.push(r.outcome.check);
            }
        }
        for c in checks {
            let of: Vec<&HealthRecord> = group.iter().filter(|r| r.outcome.check == c).collect();
            let (Some(first), Some(last)) = (of.first(), of.last()) else {
                continue;
            };
            let time = if of.len() == 1 {
                secs(first.at)
            } else {
                format!("{}–{}", secs(first.at), secs(last.at))
            };
            let mark = if last.outcome.ok { "✅" } else { "❌" };
            rows.push(vec![
                time,
                fmt_weight(last.weight),
                c.as_str().to_owned(),
                if of.len() == 1 {
                    mark.to_owned()
                } else {
                    format!("{}× {mark}", of.len())
                },
                last.outcome.detail.clone(),
            ]);
        }
        i = j;
    }
    rows
}

/// The report for one Lambda deploy.
#[must_use]
pub fn render(d: &Deployed, key: Option<String>) -> Report {
    let verdict = verdict(&d.ending);
    // The title is the report's heading (added by the report fan-out); the body starts with the facts.
    let mut s = String::new();
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
            // Quotes Lambda's and the health check's answers: text, with stevedore's code spans kept.
            vec![
                "result".into(),
                crate::report::markdown::sentence(&result_line(d)),
            ],
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
            &health_rows(&d.health),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modes::deploy::lambda::health::Outcome;
    use crate::modes::deploy::lambda::traffic::Traffic;
    use crate::modes::deploy::lambda::{Shift, api::Stats};

    fn rec(at: u64, weight: f64, check: Check, ok: bool, detail: &str) -> HealthRecord {
        HealthRecord {
            at: Duration::from_secs(at),
            weight,
            outcome: Outcome {
                check,
                ok,
                detail: detail.into(),
            },
        }
    }

    fn deployed(ending: Ending) -> Deployed {
        Deployed {
            function: "api".into(),
            function_arn: "arn:aws:lambda:eu-west-1:1:function:api".into(),
            alias: "live".into(),
            alias_arn: "arn:aws:lambda:eu-west-1:1:function:api:live".into(),
            previous: Some("6".into()),
            version: Some("7".into()),
            code: CodeChange::Updated {
                from: "a".into(),
                to: "b".into(),
            },
            config_changes: vec!["memory 128 → 256 MB".into()],
            traffic: Traffic::parse("canary 10% 5m").unwrap(),
            shifts: vec![
                Shift {
                    at: Duration::ZERO,
                    weight: 10.0,
                    note: "10% on version 7".into(),
                },
                Shift {
                    at: Duration::from_secs(42),
                    weight: 0.0,
                    note: "rolled back to version 6 (alarms: in ALARM: errors)".into(),
                },
            ],
            health: vec![
                rec(0, 10.0, Check::Url, true, "200"),
                rec(0, 10.0, Check::Invoke, true, "ok"),
                rec(10, 10.0, Check::Url, true, "200"),
                rec(10, 10.0, Check::Invoke, true, "ok"),
                rec(20, 10.0, Check::Url, true, "200"),
                rec(20, 10.0, Check::Invoke, true, "ok"),
                rec(42, 10.0, Check::Alarms, false, "in ALARM: errors"),
            ],
            ending,
            notes: Vec::new(),
            stats: Stats::default(),
            elapsed: Duration::from_secs(43),
            baked: Duration::from_secs(42),
        }
    }

    #[test]
    fn passing_rounds_fold_and_failures_stand_alone() {
        let rows = health_rows(&deployed(Ending::Promoted).health);
        assert_eq!(
            rows,
            [
                vec!["0.0s–20.0s", "10", "health URL", "3× ✅", "200"],
                vec!["0.0s–20.0s", "10", "test invoke", "3× ✅", "ok"],
                vec!["42.0s", "10", "alarms", "❌", "in ALARM: errors"],
            ]
            .map(|r| r.into_iter().map(str::to_owned).collect::<Vec<_>>())
        );
    }

    #[test]
    fn a_rollback_report_has_outputs_chart_and_reason() {
        let r = render(
            &deployed(Ending::RolledBack {
                reason: "alarms: in ALARM: errors".into(),
            }),
            None,
        );
        assert_eq!(r.verdict, Verdict::Failure);
        assert_eq!(r.title, "api:live rolled back to version 6");
        assert!(
            r.summary
                .contains("| result | rolled back: alarms: in ALARM: errors |")
        );
        assert!(r.summary.contains("line [0, 10, 0]"), "{}", r.summary);
        assert!(
            r.summary
                .contains("x-axis \"time since the first shift\" [\"start\", \"0.0s\", \"42.0s\"]")
        );
        assert_eq!(
            r.outputs,
            [
                ("version".to_owned(), "7".to_owned()),
                ("previous-version".to_owned(), "6".to_owned()),
                (
                    "alias-arn".to_owned(),
                    "arn:aws:lambda:eu-west-1:1:function:api:live".to_owned()
                ),
                (
                    "function-arn".to_owned(),
                    "arn:aws:lambda:eu-west-1:1:function:api".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn a_failed_rollback_says_how_to_restore_by_hand() {
        let r = render(
            &deployed(Ending::RollbackFailed {
                reason: "health URL: 500".into(),
                error: "throttled".into(),
            }),
            None,
        );
        assert!(r.summary.contains(
            "aws lambda update-alias --function-name api --name live --function-version 6"
        ));
    }
}
