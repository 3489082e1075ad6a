//! Small Markdown helpers shared by the modes' summaries.

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
    format!("<details><summary>{summary}</summary>\n\n{body}\n\n</details>\n")
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

#[cfg(test)]
mod tests {
    use super::*;

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
