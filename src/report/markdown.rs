//! Markdown for the job summary and the sticky PR comment, and small helpers the modes' summaries use
//! (tables, collapsible details, code blocks, Mermaid timelines).

use super::{Annotation, LocalDelivery, Report};

/// Untrusted text (a PR title, test name or message, commit subject, file or check name) made inert for
/// GitHub Markdown and HTML: shown exactly as written, never markup. Characters with a meaning are written
/// as numeric character references, which Markdown and HTML both show as the character and neither parses
/// (`<` and `>` so no tag or `<!-- marker -->` exists; `` ` `` `*` `_` `~` `[` `]` `\` `|` `$` anywhere; and
/// a `#` `-` `+` `=` or list number at the start, where a line could begin). Line breaks become `<br>`, so
/// the text never starts a block of its own. Works in paragraphs, list items, headings, table cells and
/// inside HTML such as `<summary>`.
#[must_use]
pub fn text(s: &str) -> String {
    let s = s.replace("\r\n", "\n").replace('\r', "\n");
    let mut out = String::with_capacity(s.len() + 16);
    let mut at_start = true;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\n' => {
                out.push_str("<br>");
                at_start = true;
                continue;
            }
            '`' | '*' | '_' | '~' | '[' | ']' | '\\' | '|' | '$' => {
                out.push_str(&format!("&#{};", u32::from(c)));
            }
            '#' | '-' | '+' | '=' if at_start => out.push_str(&format!("&#{};", u32::from(c))),
            '0'..='9' if at_start => {
                // `1.` or `1)` at the start would open an ordered list.
                out.push(c);
                while let Some(d) = chars.next_if(char::is_ascii_digit) {
                    out.push(d);
                }
                let list = matches!(chars.peek(), Some('.' | ')'))
                    && chars.clone().nth(1).is_none_or(char::is_whitespace);
                if list && let Some(p) = chars.next() {
                    out.push_str(&format!("&#{};", u32::from(p)));
                }
            }
            c => out.push(c),
        }
        at_start = at_start && c.is_whitespace();
    }
    out
}

/// [`text`] of `s` as it is written in the middle of a line (no start-of-line escapes): how a secret
/// echoed inside someone else's text looks once escaped, so that [`super::Masker`] finds it there too.
#[must_use]
pub fn text_mid_line(s: &str) -> String {
    let t = text(&format!("x{s}"));
    t.strip_prefix('x').unwrap_or(&t).to_owned()
}

/// Untrusted text as an inline code span (file names, paths): a backtick fence longer than any run of
/// backticks inside, padded when the text starts or ends with one; line breaks become spaces. Markdown
/// and HTML inside a code span are shown, never parsed. In a table, [`cell`] escapes its `|`. Text with
/// `<` or `>` becomes `<code>` around [`text`] instead, so that no tag or `<!-- marker -->` is ever in the
/// Markdown source, not even inside a code span.
#[must_use]
pub fn code_span(s: &str) -> String {
    let s = s.replace(['\r', '\n'], " ");
    if s.contains(['<', '>']) {
        return format!("<code>{}</code>", text(&s));
    }
    let longest = s.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') || s.is_empty() {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{s}{pad}{fence}")
}

/// A sentence stevedore wrote around untrusted parts (a check's reason, a report title): text between
/// matched backticks becomes a [`code_span`], everything else goes through [`text`].
#[must_use]
pub fn sentence(s: &str) -> String {
    let parts: Vec<&str> = s.split('`').collect();
    let mut out = String::new();
    for (i, p) in parts.iter().enumerate() {
        // Odd pieces are inside backticks, unless the last backtick has no partner.
        if i % 2 == 1 && i + 1 < parts.len() {
            out.push_str(&code_span(p));
        } else if i % 2 == 1 {
            out.push_str(&text(&format!("`{p}")));
        } else {
            out.push_str(&text(p));
        }
    }
    out
}

/// Escapes a table cell's Markdown (which may hold code spans and text made safe with [`text`]): `|` and
/// line breaks. Untrusted text must go through [`text`] or [`code_span`] first.
#[must_use]
pub fn cell(s: &str) -> String {
    s.replace('|', "\\|")
        .replace("\r\n", "<br>")
        .replace(['\n', '\r'], "<br>")
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
        .map(|k| format!(" ({})", text(k)))
        .unwrap_or_default();
    format!(
        "### {} stevedore {}{key}: {}\n",
        report.verdict.emoji(),
        report.mode,
        sentence(&report.title.replace('\n', " "))
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
                Some(c) => code_span(&format!("{}:{}:{c}", a.path, a.start_line)),
                None => code_span(&format!("{}:{}", a.path, a.start_line)),
            };
            vec![
                a.level.command().to_owned(),
                loc,
                sentence(a.title.as_deref().unwrap_or_default()),
                sentence(a.message.lines().next().unwrap_or("")),
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
    use crate::report::Level;

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
    fn untrusted_text_is_shown_never_parsed() {
        assert_eq!(
            text("<img src=x onerror=alert(1)>"),
            "&lt;img src=x onerror=alert(1)&gt;"
        );
        assert_eq!(
            text("[link](javascript:alert(1))"),
            "&#91;link&#93;(javascript:alert(1))"
        );
        assert_eq!(
            text("a|b `c` *d* _e_ ~f~ $g$ \\"),
            "a&#124;b &#96;c&#96; &#42;d&#42; &#95;e&#95; &#126;f&#126; &#36;g&#36; &#92;"
        );
        assert_eq!(
            text("<!-- stevedore:lint-gate -->"),
            "&lt;!-- stevedore:lint-gate --&gt;"
        );
        assert_eq!(
            text("# h\r\n- item\n1. x & y"),
            "&#35; h<br>&#45; item<br>1&#46; x &amp; y"
        );
        assert_eq!(text("v1.2.3 - ok #4"), "v1.2.3 - ok #4");
        assert_eq!(text("2.0.0 + minor"), "2.0.0 + minor");
        assert_eq!(text("3) x"), "3&#41; x");
    }

    #[test]
    fn code_spans_hold_any_text() {
        assert_eq!(code_span("src/a.rs"), "`src/a.rs`");
        assert_eq!(code_span("a`b"), "``a`b``");
        assert_eq!(code_span("`x``"), "``` `x`` ```");
        assert_eq!(code_span("a\nb"), "`a b`");
        assert_eq!(
            sentence("The title `<b>x</b>` is not *ok*; `odd"),
            "The title <code>&lt;b&gt;x&lt;/b&gt;</code> is not &#42;ok&#42;; &#96;odd"
        );
        assert_eq!(sentence("use `a_b`"), "use `a_b`");
        assert_eq!(cell(&code_span("a|b")), "`a\\|b`");
    }

    /// Issue 31: a code span that starts or ends with a backtick (or is empty) is padded, else its fence
    /// would join the text's backtick and the span would close early, letting the rest be parsed.
    #[test]
    fn code_spans_pad_a_backtick_at_either_end() {
        assert_eq!(code_span("`a"), "`` `a ``");
        assert_eq!(code_span("a`"), "`` a` ``");
        assert_eq!(code_span(""), "`  `");
        assert_eq!(code_span("a`b"), "``a`b``");
        assert_eq!(code_span("a\r\nb<"), "<code>a  b&lt;</code>");
    }

    /// Issue 31: start-of-line characters are escaped at the start of every line and only there.
    #[test]
    fn line_starts_are_escaped_on_every_line_and_nowhere_else() {
        assert_eq!(text("a\n+ b\r= c"), "a<br>&#43; b<br>&#61; c");
        assert_eq!(text("  - x - y"), "  &#45; x - y");
        assert_eq!(text("x\n  12. y 3. z"), "x<br>  12&#46; y 3. z");
        assert_eq!(text("1."), "1&#46;");
        assert_eq!(text("a # - + = 1. 2)"), "a # - + = 1. 2)");
        assert_eq!(text_mid_line("-x"), "-x");
    }

    fn untrusted_report() -> Report {
        let mut r = Report::new(
            crate::inputs::Mode::LintGate,
            crate::report::Verdict::Failure,
            "PR `<b>` *x*\nnext",
            "the summary\n\n",
        );
        r.key = Some("<img src=x>".into());
        r
    }

    /// Issue 31: the heading carries the verdict, the mode and the untrusted key and title made inert.
    #[test]
    fn headings_show_untrusted_titles_and_keys_as_text() {
        assert_eq!(
            heading(&untrusted_report()),
            "### \u{274C} stevedore lint-gate (&lt;img src=x&gt;): PR <code>&lt;b&gt;</code> &#42;x&#42; next\n"
        );
    }

    #[test]
    fn comment_bodies_are_heading_summary_and_footer() {
        let r = untrusted_report();
        let h = heading(&r);
        assert_eq!(
            comment_body(&r, Some("https://x/runs/1")),
            format!(
                "{h}\nthe summary\n\n---\n<sub>[Details](https://x/runs/1) · updated by stevedore on every run of this job</sub>\n"
            )
        );
        assert_eq!(
            comment_body(&r, None),
            format!(
                "{h}\nthe summary\n\n---\n<sub>updated by stevedore on every run of this job</sub>\n"
            )
        );
    }

    #[test]
    fn annotation_tables_list_at_most_max_rows_and_count_the_rest() {
        let a = Annotation::new(Level::Error, "src/a.rs", 3, "first `x`\nsecond")
            .with_column(Some(2))
            .with_title("T*");
        let b = Annotation::new(Level::Warning, "b|c.rs", 4, "m");
        let c = Annotation::new(Level::Notice, "c.rs", 5, "n");
        // Five findings, two rows: three more (not 5 / 2, not 5 + 2).
        let d = annotations_details("S", &[&a, &b, &c, &c, &c], 2);
        assert_eq!(
            d,
            "<details><summary>S</summary>\n\n| level | location | title | message |\n| --- | --- | --- | --- |\n\
             | error | `src/a.rs:3:2` | T&#42; | first `x` |\n| warning | `b\\|c.rs:4` |  | m |\n\n\
             _…and 3 more, not shown._\n\n</details>\n"
        );
        assert!(!annotations_details("S", &[&a, &b], 2).contains("more, not shown"));
    }

    #[test]
    fn job_summaries_point_at_findings_left_out_of_the_log() {
        let mut r = untrusted_report();
        r.checks[0].annotations = vec![
            Annotation::new(Level::Error, "a.rs", 1, "x"),
            Annotation::new(Level::Error, "b.rs", 2, "y"),
        ];
        let none = LocalDelivery::default();
        let s = job_summary(&r, &none, true, &[]);
        assert_eq!(s, format!("{}\nthe summary\n", heading(&r)));
        let left = LocalDelivery {
            annotations_as_commands: 0,
            annotations_left_for_check_run: 2,
        };
        let s = job_summary(&r, &left, true, &[]);
        assert!(
            s.ends_with("\n_2 more finding(s) are in the check run (the runner shows only 10 annotations per type per step)._\n"),
            "{s}"
        );
        let s = job_summary(&r, &left, false, &["n1\nn2".to_owned()]);
        assert!(
            s.contains("<details><summary>All 2 findings</summary>"),
            "{s}"
        );
        assert!(s.contains("| error | `b.rs:2` |  | y |"), "{s}");
        assert!(
            s.ends_with("\n> [!NOTE]\n> **Reporting**\n> - n1 n2\n"),
            "{s}"
        );
    }

    /// Issue 31: the summary is cut to fit the runner's 1 MiB, and no further than it must be.
    #[test]
    fn job_summaries_are_cut_just_under_one_mebibyte() {
        let r = Report::new(
            crate::inputs::Mode::LintGate,
            crate::report::Verdict::Success,
            "t",
            "x".repeat(2 * 1024 * 1024),
        );
        let note = "n".repeat(10_000);
        let s = job_summary(
            &r,
            &LocalDelivery::default(),
            true,
            std::slice::from_ref(&note),
        );
        assert!(s.len() <= 1024 * 1024 - 1024, "{}", s.len());
        assert!(s.len() > 1024 * 1024 - 2048, "{}", s.len());
        assert!(s.ends_with(&format!("> - {note}\n")));
    }

    #[test]
    fn an_empty_timeline_period_still_parses() {
        assert_eq!(
            mermaid_timeline("t", &[("+0s".into(), vec![])]),
            "```mermaid\ntimeline\n    title t\n    +0s : -\n```\n"
        );
    }

    #[test]
    fn code_fences_grow_past_the_content() {
        assert!(code("", "```inner```").starts_with("````\n"));
    }
}
