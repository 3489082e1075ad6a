//! A plan as Markdown, within a byte budget: the counts, errors, every destroy and replacement named,
//! then a table of the other changes, attribute changes, drift and outputs, each part dropped or cut
//! (with a count of what was left out) when the budget runs out, never the destroys first.
//!
//! Every name and value from the plan is untrusted text: addresses and values are code spans
//! ([`markdown::code_span`]), reasons and messages go through [`markdown::text`].

use std::fmt::Write as _;

use crate::report::markdown;

use super::model::{Action, Change, Counts, Leaf, Plan};

/// Widest value shown in an attribute change, in characters.
const VALUE_CHARS: usize = 80;
/// Most attribute changes shown for one resource.
const ATTRS_PER_RESOURCE: usize = 20;

/// The counts in words: `2 to add, 1 to destroy`; `no changes` when none.
#[must_use]
pub fn counts_line(c: &Counts) -> String {
    let parts: Vec<String> = [
        (c.add, "to add"),
        (c.change, "to change"),
        (c.replace, "to replace"),
        (c.destroy, "to destroy"),
        (c.import, "to import"),
        (c.moved, "to move"),
        (c.forget, "to forget"),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, w)| format!("{n} {w}"))
    .collect();
    if parts.is_empty() {
        "no changes".to_owned()
    } else {
        parts.join(", ")
    }
}

fn leaf(l: Option<&Leaf>) -> String {
    match l {
        None => "_(absent)_".to_owned(),
        Some(Leaf::Known(s)) => markdown::code_span(&Leaf::Known(s.clone()).show(VALUE_CHARS)),
        Some(other) => format!("_{}_", other.show(VALUE_CHARS)),
    }
}

fn what(ch: &Change) -> String {
    let mut w = ch.action.label().to_owned();
    if ch.importing {
        w.push_str(", import");
    }
    if ch.previous_address.is_some() {
        w = if ch.action == Action::NoOp {
            "move".to_owned()
        } else {
            format!("{w}, move")
        };
    }
    if ch.deposed.is_some() {
        w.push_str(" (deposed object)");
    }
    w
}

fn why(ch: &Change) -> String {
    let mut parts = Vec::new();
    if let Some(r) = &ch.reason {
        parts.push(markdown::text(r));
    }
    if !ch.replace_paths.is_empty() {
        parts.push(format!(
            "replaced because of {}",
            ch.replace_paths
                .iter()
                .map(|p| markdown::code_span(p))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if let Some(p) = &ch.previous_address {
        parts.push(format!("moved from {}", markdown::code_span(p)));
    }
    if let Some(d) = &ch.deposed {
        parts.push(format!("deposed object {}", markdown::code_span(d)));
    }
    parts.join("; ")
}

fn row(ch: &Change) -> String {
    format!(
        "| {} {} | {} | {} |\n",
        ch.action.emoji(),
        markdown::cell(&what(ch)),
        markdown::cell(&markdown::code_span(&ch.address)),
        markdown::cell(&why(ch))
    )
}

fn attrs(ch: &Change) -> String {
    let mut s = String::new();
    for a in ch.attrs.iter().take(ATTRS_PER_RESOURCE) {
        let _ = writeln!(
            s,
            "- {}: {} → {}",
            markdown::code_span(if a.path.is_empty() {
                "(whole value)"
            } else {
                &a.path
            }),
            leaf(a.before.as_ref()),
            match (&a.before, &a.after) {
                (Some(Leaf::Sensitive(_)), Some(Leaf::Sensitive(_))) => {
                    "_(sensitive, changes)_".to_owned()
                }
                _ => leaf(a.after.as_ref()),
            }
        );
    }
    if ch.attrs.len() > ATTRS_PER_RESOURCE {
        let _ = writeln!(
            s,
            "- _…and {} more attributes_",
            ch.attrs.len() - ATTRS_PER_RESOURCE
        );
    }
    s
}

/// Appends `part` to `out` if it fits in `budget`; returns whether it did.
fn push(out: &mut String, part: &str, budget: usize) -> bool {
    if out.len() + part.len() <= budget {
        out.push_str(part);
        true
    } else {
        false
    }
}

/// Space kept for the closing notes of a cut section.
const RESERVE: usize = 400;

/// `plan` for `environment` as Markdown of at most `budget` bytes; `notes` (the gate's findings, already
/// Markdown) come right after the counts.
#[must_use]
pub fn plan(plan: &Plan, environment: &str, notes: &[String], budget: usize) -> String {
    let budget = budget.max(2 * RESERVE);
    let c = plan.counts();
    let tool = plan.tool.map_or("plan", super::model::Tool::label);
    let mut out = format!(
        "#### {} · {}: {}\n\n",
        markdown::text(environment),
        tool,
        counts_line(&c)
    );
    if !c.any() && !plan.outputs_change() && !plan.errored {
        out.push_str(
            "**No changes.** The infrastructure matches the configuration; applying this plan changes nothing.\n\n",
        );
    }
    for n in notes {
        let line = format!("- {n}\n");
        if !push(&mut out, &line, budget - RESERVE) {
            break;
        }
    }
    if !notes.is_empty() {
        out.push('\n');
    }
    if plan.errored {
        out.push_str("**Planning failed**: this plan cannot be applied.\n");
        for e in plan.errors.iter().take(10) {
            let line = format!(
                "> {}\n",
                markdown::text(crate::report::truncate_bytes(e, 1000))
            );
            if !push(&mut out, &line, budget - RESERVE) {
                break;
            }
        }
        out.push('\n');
    }
    if plan.incomplete {
        let mut s = "**Incomplete plan**: some changes are deferred; another plan and apply follow this one.\n".to_owned();
        for d in plan.deferred.iter().take(20) {
            let _ = writeln!(s, "- {}", markdown::code_span(d));
        }
        push(&mut out, &s, budget - RESERVE);
        out.push('\n');
    }
    // Every destroy and replacement, named, before anything else that can be cut: in full rows while they
    // take up to a third of the budget, the rest by address alone.
    let mut shown: Vec<&Change> = plan.changes.iter().filter(|c| c.is_change()).collect();
    shown.sort_by_key(|c| c.action.rank());
    let head = "| action | resource | why |\n| --- | --- | --- |\n";
    let destroys: Vec<&Change> = shown
        .iter()
        .copied()
        .filter(|c| c.action.destroys())
        .collect();
    let mut full = 0;
    if !destroys.is_empty() {
        out.push_str(head);
        for ch in &destroys {
            if !push(&mut out, &row(ch), budget / 3) {
                break;
            }
            full += 1;
        }
    }
    let mut named = full;
    if full < destroys.len() {
        let _ = write!(
            out,
            "\n**Also destroyed or replaced** ({}, named only; each is an annotation in the check run): ",
            destroys.len() - full
        );
        for (i, ch) in destroys[full..].iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            let part = format!(
                "{sep}{}{}",
                markdown::code_span(&ch.address),
                if ch.action == Action::Delete {
                    ""
                } else {
                    " (replace)"
                }
            );
            if !push(&mut out, &part, budget - RESERVE) {
                break;
            }
            named += 1;
        }
        out.push('\n');
        if named < destroys.len() {
            let _ = writeln!(
                out,
                "\n_…and {} more destroyed or replaced resource(s) that do not fit here; see the check run's annotations._",
                destroys.len() - named
            );
        }
    }
    let others: Vec<&Change> = shown
        .iter()
        .copied()
        .filter(|c| !c.action.destroys())
        .collect();
    let mut rows = 0;
    if !others.is_empty() {
        let mut table = String::from(if full > 0 && full == destroys.len() {
            ""
        } else {
            "\n| action | resource | why |\n| --- | --- | --- |\n"
        });
        for ch in &others {
            if out.len() + table.len() + row(ch).len() > budget - RESERVE * 2 {
                break;
            }
            table.push_str(&row(ch));
            rows += 1;
        }
        if rows > 0 {
            out.push_str(&table);
        }
    }
    if named + rows < shown.len() {
        let left: Vec<&Change> = others[rows..].to_vec();
        let _ = write!(
            out,
            "\n_…and {} more change(s) not listed here ({}); every change is in the plan file, every destroy and replacement in the check run's annotations._\n",
            left.len() + destroys.len() - named,
            counts_line(&super::model::counts_of(left.iter().copied()))
        );
    }
    out.push('\n');
    // Attribute changes, resource by resource, while they fit.
    let mut details = String::new();
    let mut left_out = 0;
    for ch in &shown {
        if ch.attrs.is_empty() {
            continue;
        }
        let part = format!(
            "{} {} {}\n{}\n",
            ch.action.emoji(),
            markdown::code_span(&ch.address),
            markdown::text(&what(ch)),
            attrs(ch)
        );
        if out.len() + details.len() + part.len() + RESERVE * 2 > budget {
            left_out += 1;
            continue;
        }
        details.push_str(&part);
    }
    if left_out > 0 {
        let _ = writeln!(
            details,
            "_…attribute changes of {left_out} more resource(s) not shown (size limit)._"
        );
    }
    if !details.trim().is_empty() {
        out.push_str(&markdown::details("Attribute changes", &details));
    }
    if !plan.drift.is_empty() {
        let mut d = format!(
            "{} resource(s) changed outside {} since the last apply (found during refresh; the plan above already accounts for them):\n\n",
            plan.drift.len(),
            tool
        );
        for ch in &plan.drift {
            let part = format!("- {}\n{}", markdown::code_span(&ch.address), attrs(ch));
            if out.len() + d.len() + part.len() + RESERVE > budget {
                d.push_str("- _…more drift not shown (size limit)._\n");
                break;
            }
            d.push_str(&part);
        }
        out.push_str(&markdown::details("Drift", &d));
    }
    if plan.outputs_change() {
        let mut o =
            String::from("| output | change | before | after |\n| --- | --- | --- | --- |\n");
        for oc in plan.outputs.iter().filter(|o| o.action != Action::NoOp) {
            let line = format!(
                "| {} | {} | {} | {} |\n",
                markdown::cell(&markdown::code_span(&oc.name)),
                oc.action.label(),
                markdown::cell(&leaf(oc.before.as_ref())),
                markdown::cell(&leaf(oc.after.as_ref()))
            );
            if out.len() + o.len() + line.len() + RESERVE > budget {
                o.push_str("\n_…more outputs not shown (size limit)._\n");
                break;
            }
            o.push_str(&line);
        }
        out.push_str(&markdown::details("Output changes", &o));
    }
    if !plan.relevant.is_empty() && out.len() + RESERVE < budget {
        let mut r = String::new();
        for a in plan.relevant.iter().take(50) {
            let _ = writeln!(r, "- {}", markdown::code_span(a));
        }
        push(
            &mut out,
            &markdown::details("Attributes that contribute to the plan", &r),
            budget,
        );
    }
    out
}
