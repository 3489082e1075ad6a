//! `eslint -f json`: an array of files, each with its messages (severity 1 warning, 2 error).

use std::io::Read;
use std::path::Path;

use serde::Deserialize;

use crate::report::{Annotation, Level};

use super::parsed::{self, Format, ParseError, Parsed};
use super::paths::PathMap;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FileResult {
    file_path: String,
    #[serde(default)]
    messages: Vec<Message>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Message {
    #[serde(default)]
    rule_id: Option<String>,
    #[serde(default)]
    severity: u8,
    message: String,
    #[serde(default)]
    line: Option<u32>,
    #[serde(default)]
    column: Option<u32>,
    #[serde(default)]
    end_line: Option<u32>,
    #[serde(default)]
    end_column: Option<u32>,
    #[serde(default)]
    fatal: bool,
}

/// Parses ESLint's JSON formatter output.
pub fn parse(r: impl Read, file: &Path, paths: &PathMap) -> Result<Parsed, ParseError> {
    let bytes = parsed::read_limited(r, file, Format::EslintJson, parsed::MAX_JSON_BYTES)?;
    let files: Vec<FileResult> = serde_json::from_slice(&bytes)
        .map_err(|e| ParseError::malformed(file, Format::EslintJson, e))?;
    let mut out = Parsed::default();
    for f in files {
        let path = paths.relativize(&f.file_path);
        for m in f.messages {
            let level = if m.fatal || m.severity >= 2 {
                Level::Error
            } else {
                Level::Warning
            };
            let mut a = Annotation::new(level, path.clone(), m.line.unwrap_or(1), m.message)
                .with_column(m.column)
                .with_title(match &m.rule_id {
                    Some(r) => format!("eslint {r}"),
                    None if m.fatal => "eslint parse error".to_owned(),
                    None => "eslint".to_owned(),
                });
            a.end_line = m.end_line.unwrap_or(a.start_line).max(a.start_line);
            if a.end_line == a.start_line {
                a.end_column = m.end_column;
            } else {
                a.start_column = None;
            }
            out.push(a);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eslint_json_errors_and_warnings() {
        // eslint wrote absolute paths under the directory it ran in.
        let p = crate::modes::lint_gate::parse::parse_fixture(
            "sample-node",
            "eslint.json",
            Format::EslintJson,
        );
        let got = crate::modes::lint_gate::parse::locations(&p);
        assert_eq!(
            got,
            [
                (
                    Level::Error,
                    "src/util.js",
                    1,
                    Some(7),
                    "eslint no-unused-vars"
                ),
                (Level::Warning, "src/util.js", 4, Some(12), "eslint eqeqeq"),
                (Level::Error, "src/util.js", 5, Some(23), "eslint no-undef"),
            ]
        );
        assert_eq!(p.annotations[2].message, "'nobody' is not defined.");
    }

    #[test]
    fn non_eslint_json_is_reported() {
        let e = crate::modes::lint_gate::parse::parse_error(
            b"{\"version\":\"2.1.0\"}",
            "e.json",
            Format::EslintJson,
        );
        assert!(
            e.to_string()
                .starts_with("`e.json` is not valid eslint-json"),
            "{e}"
        );
    }
}
