//! Markdown for the job summary and the sticky PR comment, and small helpers the modes' summaries use
//! (tables, collapsible details, code blocks, Mermaid timelines).

use super::{Annotation, LocalDelivery, Report};

/// Escapes text for a Markdown table cell.
#[must_use]
pub fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', "<br>")
}

/// A Markdown table.
#[must_use]
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = format!(
        "| {} |\n|{}\n",
        headers.join(" | "),
        " --- |".repeat(headers.len())
    );
    for r in rows {
        out.push_str(&format!(
            "| {} |\n",
            r.iter().map(|c| cell(c)).collect::<Vec<_>>().join(" | ")
        ));
    }
    out
}

/// A collapsible section.
#[must_use]
pub fn details(summary: &str, body: &str) -> String {
    format!(
        "<details><summary>{summary}</summary>\n\n{}\n\n</details>\n",
        body.trim_end()
    )
}

/// A fenced code block whose fence cannot be closed by the content.
#[must_use]
pub fn code(lang: &str, body: &str) -> String {
    let mut fence = "```".to_owned();
    while body.contains(&fence) {
        fence.push('`');
    }
    format!("{fence}{lang}\n{body}\n{fence}\n")
}

/// A Mermaid `timeline` (GitHub renders Mermaid in summaries and comments): one entry per
/// `(period, events)`, e.g. `("+0s", ["task definition rev 7"])`. Characters Mermaid gives meaning to in a
/// timeline (`:` `;` `#` and newlines) are replaced so labels cannot break the diagram.
#[must_use]
pub fn mermaid_timeline(title: &str, entries: &[(String, Vec<String>)]) -> String {
    fn clean(s: &str) -> String {
        s.replace(':', "∶")
            .replace(';', ",")
            .replace('#', "♯")
            .replace(['\n', '\r'], " ")
    }
    let mut out = format!("```mermaid\ntimeline\n    title {}\n", clean(title));
    for (period, events) in entries {
        out.push_str(&format!("    {}", clean(period)));
        if events.is_empty() {
            out.push_str(" : -");
        }
        for e in events {
            out.push_str(&format!(" : {}", clean(e)));
        }
        out.push('\n');
    }
    out.push_str("```\n");
    out
}

/// The heading every report starts with: verdict, mode, key and title.
#[must_use]
pub fn heading(report: &Report) -> String {
    let key = report
        .key
        .as_deref()
        .map(|k| format!(" ({k})"))
        .unwrap_or_default();
    format!(
        "### {} stevedore {}{key}: {}\n",
        report.verdict.emoji(),
        report.mode,
        report.title.replace('\n', " ")
    )
}

/// Annotations as a table (level, location, title, message), at most `max_rows` rows, inside a
/// collapsible section titled `summary`.
#[must_use]
pub fn annotations_details(summary: &str, annotations: &[&Annotation], max_rows: usize) -> String {
    let rows: Vec<Vec<String>> = annotations
        .iter()
        .take(max_rows)
        .map(|a| {
            let loc = match a.start_column {
                Some(c) => format!("`{}:{}:{c}`", a.path, a.start_line),
                None => format!("`{}:{}`", a.path, a.start_line),
            };
            vec![
                a.level.command().to_owned(),
                loc,
                a.title.clone().unwrap_or_default(),
                a.message.lines().next().unwrap_or("").to_owned(),
            ]
        })
        .collect();
    let mut body = table(&["level", "location", "title", "message"], &rows);
    if annotations.len() > max_rows {
        body.push_str(&format!(
            "\n_…and {} more, not shown._\n",
            annotations.len() - max_rows
        ));
    }
    details(summary, &body)
}

/// The sticky PR comment (without its marker, which `github::comments` adds): heading, the report's
/// summary, and a footer linking the details.
#[must_use]
pub fn comment_body(report: &Report, details_url: Option<&str>) -> String {
    let mut s = heading(report);
    s.push('\n');
    s.push_str(report.summary.trim_end());
    s.push_str("\n\n---\n<sub>");
    if let Some(u) = details_url {
        s.push_str(&format!("[Details]({u}) · "));
    }
    s.push_str("updated by stevedore on every run of this job</sub>\n");
    s
}

/// The most annotation rows the job summary lists when no check run carries them.
pub const SUMMARY_ANNOTATION_ROWS: usize = 1000;

/// The job summary: heading, the report's summary, where the remaining findings are, and the reporting
/// notes (fallbacks used and the `permissions:` to add).
#[must_use]
pub fn job_summary(
    report: &Report,
    local: &LocalDelivery,
    annotations_in_check_run: bool,
    notes: &[String],
) -> String {
    let mut s = heading(report);
    s.push('\n');
    s.push_str(report.summary.trim_end());
    s.push('\n');
    if local.annotations_left_for_check_run > 0 {
        if annotations_in_check_run {
            s.push_str(&format!(
                "\n_{} more finding(s) are in the check run (the runner shows only 10 annotations per type per step)._\n",
                local.annotations_left_for_check_run
            ));
        } else {
            let all: Vec<&Annotation> = report.annotations().collect();
            s.push('\n');
            s.push_str(&annotations_details(
                &format!("All {} findings", all.len()),
                &all,
                SUMMARY_ANNOTATION_ROWS,
            ));
        }
    }
    let mut tail = String::new();
    if !notes.is_empty() {
        tail.push_str("\n> [!NOTE]\n> **Reporting**\n");
        for n in notes {
            tail.push_str(&format!("> - {}\n", n.replace('\n', " ")));
        }
    }
    // The runner refuses a step summary over 1 MiB; keep the notes, cut the body.
    let room = MAX_SUMMARY_BYTES.saturating_sub(tail.len());
    let mut s = super::truncate_with_note(
        &s,
        room,
        "this summary reached the runner's 1 MiB limit for a step summary; the check run and the step log have the rest.",
    );
    s.push_str(&tail);
    s
}

/// The runner's limit for one step's summary (`GITHUB_STEP_SUMMARY`), with a margin for what `app` adds.
pub const MAX_SUMMARY_BYTES: usize = 1024 * 1024 - 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_summaries_stay_under_the_runner_limit_and_keep_the_notes() {
        let r = Report::new(
            crate::inputs::Mode::LintGate,
            crate::report::Verdict::Success,
            "t",
            "x".repeat(2 * 1024 * 1024),
        );
        let s = job_summary(&r, &LocalDelivery::default(), true, &["a note".to_owned()]);
        assert!(s.len() <= MAX_SUMMARY_BYTES, "{}", s.len());
        assert!(s.contains("1 MiB limit"));
        assert!(s.ends_with("> - a note\n"));
    }

    #[test]
    fn mermaid_labels_cannot_break_the_diagram() {
        let m = mermaid_timeline(
            "deploy: prod",
            &[("12:00".into(), vec!["rev 7; #1".into(), "ok".into()])],
        );
        assert_eq!(
            m,
            "```mermaid\ntimeline\n    title deploy∶ prod\n    12∶00 : rev 7, ♯1 : ok\n```\n"
        );
    }

    #[test]
    fn tables_escape_pipes() {
        assert_eq!(
            table(&["a", "b"], &[vec!["x|y".into(), "z".into()]]),
            "| a | b |\n| --- | --- |\n| x\\|y | z |\n"
        );
    }

    #[test]
    fn code_fences_grow_past_the_content() {
        assert!(code("", "```inner```").starts_with("````\n"));
    }
}
