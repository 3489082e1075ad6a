//! `cargo build|check|clippy|test --message-format=json`: one JSON object per line; we read the
//! `compiler-message` ones and annotate each diagnostic at its primary span.
//!
//! Span file names are relative to the package's directory (the `manifest_path` of the same line), which
//! in a workspace differs from the repository root. The same diagnostic reported for several targets (lib and
//! test) is kept once.

use std::collections::HashSet;
use std::io::BufRead;
use std::path::Path;

use serde::Deserialize;

use crate::report::{Annotation, Level};

use super::parsed::{self, Format, ParseError, Parsed};
use super::paths::PathMap;

#[derive(Deserialize)]
struct Line {
    reason: String,
    #[serde(default)]
    manifest_path: Option<String>,
    #[serde(default)]
    message: Option<Message>,
}

#[derive(Deserialize)]
struct Message {
    message: String,
    level: String,
    #[serde(default)]
    code: Option<Code>,
    #[serde(default)]
    spans: Vec<Span>,
    #[serde(default)]
    rendered: Option<String>,
}

#[derive(Deserialize)]
struct Code {
    code: String,
}

#[derive(Deserialize)]
struct Span {
    file_name: String,
    line_start: u32,
    line_end: u32,
    column_start: u32,
    column_end: u32,
    is_primary: bool,
}

/// Parses cargo's JSON message stream. Lines that are not JSON (cargo's own status output when both
/// streams were captured together) are skipped; a stream with no JSON line at all is an error.
pub fn parse(r: impl BufRead, file: &Path, paths: &PathMap) -> Result<Parsed, ParseError> {
    let mut out = Parsed::default();
    let mut seen = HashSet::new();
    let mut json_lines = 0usize;
    let mut non_empty = 0usize;
    for (i, line) in r.lines().enumerate() {
        let line = line.map_err(|e| {
            ParseError::malformed(file, Format::CargoJson, format!("line {}: {e}", i + 1))
        })?;
        if line.trim().is_empty() {
            continue;
        }
        non_empty += 1;
        if !line.trim_start().starts_with('{') {
            continue;
        }
        let Ok(l) = serde_json::from_str::<Line>(&line) else {
            continue;
        };
        json_lines += 1;
        if l.reason != "compiler-message" {
            continue;
        }
        let Some(m) = l.message else { continue };
        let level = match m.level.as_str() {
            "error" | "error: internal compiler error" => Level::Error,
            "warning" => Level::Warning,
            "note" | "help" => Level::Notice,
            _ => continue,
        };
        let Some(span) = m.spans.iter().find(|s| s.is_primary) else {
            continue;
        };
        let base = l
            .manifest_path
            .as_deref()
            .and_then(|m| Path::new(m).parent())
            .map(|d| d.to_string_lossy().into_owned());
        let path = paths.relativize_in(base.as_deref(), &span.file_name);
        let key = (
            path.clone(),
            span.line_start,
            span.column_start,
            m.message.clone(),
        );
        if !seen.insert(key) {
            continue;
        }
        let mut a = Annotation::new(level, path, span.line_start, m.message.clone());
        a.end_line = span.line_end.max(a.start_line);
        if span.line_start == span.line_end {
            a.start_column = Some(span.column_start).filter(|c| *c > 0);
            a.end_column = Some(span.column_end).filter(|c| *c > 0);
        }
        a.title = Some(match &m.code {
            Some(c) => format!("{} {}", m.level, c.code),
            None => m.level.clone(),
        });
        a.raw_details = m.rendered.as_deref().and_then(parsed::details);
        out.push(a);
    }
    if json_lines == 0 && non_empty > 0 {
        return Err(ParseError::malformed(
            file,
            Format::CargoJson,
            "no JSON message line; run cargo with `--message-format=json`",
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clippy_json_warnings_at_their_spans() {
        let p = crate::modes::lint_gate::parse::parse_fixture(
            "sample-rust",
            "clippy.json",
            Format::CargoJson,
        );
        let got = crate::modes::lint_gate::parse::locations(&p);
        assert_eq!(
            got,
            [
                (
                    Level::Warning,
                    "src/lib.rs",
                    5,
                    Some(24),
                    "warning clippy::ptr_arg"
                ),
                (
                    Level::Warning,
                    "src/lib.rs",
                    6,
                    Some(5),
                    "warning clippy::len_zero"
                ),
            ]
        );
        assert_eq!(p.annotations[1].message, "length comparison to zero");
        assert!(
            p.annotations[0]
                .raw_details
                .as_deref()
                .unwrap()
                .contains("help: change this to")
        );
    }

    #[test]
    fn a_workspace_member_path_is_joined_with_its_manifest_dir() {
        let line = r#"{"reason":"compiler-message","manifest_path":"/github/workspace/crates/a/Cargo.toml","message":{"message":"unused variable: `x`","level":"warning","code":{"code":"unused_variables"},"spans":[{"file_name":"src/lib.rs","line_start":3,"line_end":3,"column_start":9,"column_end":10,"is_primary":true}],"rendered":"warning: unused"}}"#;
        let p = crate::modes::lint_gate::parse::parse_bytes(
            line.as_bytes(),
            Path::new("c.json"),
            Format::CargoJson,
            &PathMap::new("/nonexistent"),
        )
        .unwrap();
        assert_eq!(p.annotations[0].path, "crates/a/src/lib.rs");
        let e = crate::modes::lint_gate::parse::parse_error(
            b"warning: plain text\n",
            "c.json",
            Format::CargoJson,
        );
        assert!(e.to_string().contains("--message-format=json"), "{e}");
    }
}
