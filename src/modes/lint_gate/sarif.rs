//! SARIF 2.1.0 (security scanners, eslint's SARIF formatter, clippy-sarif, CodeQL, Trivy, Bandit).
//!
//! Each result becomes one annotation at its first physical location. Level: the result's `level`, else its
//! rule's `defaultConfiguration.level`, else `warning` (SARIF §3.27.10). `uriBaseId`s are resolved through
//! the run's `originalUriBaseIds`. Results without a location are annotated on the SARIF file itself.

use std::io::Read;
use std::path::Path;

use serde_json::Value;

use crate::report::{Annotation, Level};

use super::parsed::{self, Format, ParseError, Parsed};
use super::paths::PathMap;

/// Parses a SARIF log.
pub fn parse(r: impl Read, file: &Path, paths: &PathMap) -> Result<Parsed, ParseError> {
    let bytes = parsed::read_limited(r, file, Format::Sarif, parsed::MAX_JSON_BYTES)?;
    let doc: Value = serde_json::from_slice(&bytes)
        .map_err(|e| ParseError::malformed(file, Format::Sarif, e))?;
    let version = doc
        .get("version")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !version.starts_with("2.1") {
        return Err(ParseError::malformed(
            file,
            Format::Sarif,
            format!("`version` is `{version}`, expected `2.1.0`"),
        ));
    }
    let runs = doc
        .get("runs")
        .and_then(Value::as_array)
        .ok_or_else(|| ParseError::malformed(file, Format::Sarif, "no `runs` array"))?;
    let mut out = Parsed::default();
    let self_path = paths.relativize(&file.to_string_lossy());
    for run in runs {
        let tool = run
            .pointer("/tool/driver/name")
            .and_then(Value::as_str)
            .unwrap_or("SARIF");
        let rules = run.pointer("/tool/driver/rules").and_then(Value::as_array);
        let bases = run.get("originalUriBaseIds");
        for res in run
            .get("results")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let rule_id = res
                .get("ruleId")
                .and_then(Value::as_str)
                .or_else(|| res.pointer("/rule/id").and_then(Value::as_str));
            let rule = res
                .get("ruleIndex")
                .and_then(Value::as_u64)
                .and_then(|i| rules.and_then(|r| r.get(usize::try_from(i).ok()?)))
                .or_else(|| {
                    let id = rule_id?;
                    rules?
                        .iter()
                        .find(|r| r.get("id").and_then(Value::as_str) == Some(id))
                });
            let level_word = res
                .get("level")
                .and_then(Value::as_str)
                .or_else(|| {
                    rule?
                        .pointer("/defaultConfiguration/level")
                        .and_then(Value::as_str)
                })
                .unwrap_or("warning");
            let level = parsed::level_from_word(level_word).unwrap_or(Level::Warning);
            let message = res
                .pointer("/message/text")
                .and_then(Value::as_str)
                .or_else(|| {
                    let id = res.pointer("/message/id").and_then(Value::as_str)?;
                    rule?
                        .pointer(&format!("/messageStrings/{id}/text"))
                        .and_then(Value::as_str)
                })
                .or_else(|| {
                    rule?
                        .pointer("/shortDescription/text")
                        .and_then(Value::as_str)
                })
                .unwrap_or("(no message)");
            let phys = res.pointer("/locations/0/physicalLocation");
            let uri = phys
                .and_then(|p| p.pointer("/artifactLocation/uri"))
                .and_then(Value::as_str);
            let base = phys
                .and_then(|p| p.pointer("/artifactLocation/uriBaseId"))
                .and_then(Value::as_str)
                .and_then(|id| {
                    bases?
                        .pointer(&format!("/{id}/uri"))
                        .and_then(Value::as_str)
                });
            let region = phys.and_then(|p| p.get("region"));
            let num = |k: &str| {
                region
                    .and_then(|r| r.get(k))
                    .and_then(Value::as_u64)
                    .and_then(|v| u32::try_from(v).ok())
            };
            let (path, line) = match uri {
                Some(u) => (
                    paths.relativize_in(base.map(|b| b.trim_start_matches("file://")), u),
                    num("startLine").unwrap_or(1),
                ),
                None => (self_path.clone(), 1),
            };
            let mut a = Annotation::new(level, path, line, message);
            a.end_line = num("endLine").unwrap_or(a.start_line).max(a.start_line);
            if a.end_line == a.start_line {
                a.start_column = num("startColumn");
                a.end_column = num("endColumn");
            }
            a.title = Some(match rule_id {
                Some(r) => format!("{tool} {r}"),
                None => tool.to_owned(),
            });
            a.raw_details = rule
                .and_then(|r| r.get("helpUri").and_then(Value::as_str))
                .map(|u| format!("Rule help: {u}"));
            out.push(a);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bandit_sarif_levels_and_locations() {
        let p = crate::modes::lint_gate::parse::parse_fixture(
            "sample-python",
            "bandit.sarif",
            Format::Sarif,
        );
        let got: Vec<_> = crate::modes::lint_gate::parse::locations(&p)
            .into_iter()
            .map(|(level, path, line, _, title)| (level, path, line, title))
            .collect();
        assert_eq!(
            got,
            [
                (Level::Notice, "calc/ops.py", 2, "Bandit B404"),
                (Level::Error, "calc/ops.py", 26, "Bandit B602"),
            ]
        );
        assert!(
            p.annotations[1].message.contains("shell=True"),
            "{}",
            p.annotations[1].message
        );
    }

    #[test]
    fn eslint_sarif_uses_file_uris() {
        let p = crate::modes::lint_gate::parse::parse_fixture(
            "sample-node",
            "eslint.sarif",
            Format::Sarif,
        );
        let got: Vec<_> = p
            .annotations
            .iter()
            .map(|a| (a.level, a.path.as_str(), a.start_line, a.start_column))
            .collect();
        assert_eq!(
            got,
            [
                (Level::Error, "src/util.js", 1, Some(7)),
                (Level::Warning, "src/util.js", 4, Some(12)),
                (Level::Error, "src/util.js", 5, Some(23)),
            ]
        );
    }

    #[test]
    fn wrong_versions_and_shapes_are_reported() {
        let e = crate::modes::lint_gate::parse::parse_error(
            br#"{"version":"1.0.0","runs":[]}"#,
            "s.sarif",
            Format::Sarif,
        );
        assert!(e.to_string().contains("expected `2.1.0`"), "{e}");
        let e = crate::modes::lint_gate::parse::parse_error(b"not json", "s.sarif", Format::Sarif);
        assert!(e.to_string().contains("is not valid sarif"), "{e}");
    }
}
