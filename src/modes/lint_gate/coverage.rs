//! Coverage reports: Cobertura XML (coverage.py, cargo-llvm-cov, JaCoCo converters, Istanbul) and LCOV.
//!
//! Totals are recomputed from the per-file line records (the root attributes are used only when a file
//! lists no lines), so merged and filtered reports stay consistent.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;

use quick_xml::Reader;
use quick_xml::events::Event;

use super::parsed::{Coverage, FileCoverage, Format, ParseError, Parsed};
use super::paths::PathMap;
use super::xml;

/// Parses a Cobertura document.
pub fn parse_cobertura(
    r: impl BufRead,
    file: &Path,
    paths: &PathMap,
) -> Result<Parsed, ParseError> {
    let reader = Reader::from_reader(r);
    let mut sources: Vec<String> = Vec::new();
    let mut in_source = false;
    let mut source_text = String::new();
    // filename as written -> (line -> hit)
    let mut files: BTreeMap<String, BTreeMap<u32, bool>> = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut in_methods = 0u32;
    let mut saw_root = false;
    let mut root_totals: Option<(u64, u64)> = None;
    xml::each_event(reader, file, Format::Cobertura, |ev| {
        match ev {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(ev, Event::Empty(_));
                match xml::name(e).as_str() {
                    "coverage" => {
                        saw_root = true;
                        let a = xml::attrs(e);
                        let num = |k: &str| a.get(k).and_then(|v| v.trim().parse::<u64>().ok());
                        if let (Some(v), Some(c)) = (num("lines-valid"), num("lines-covered")) {
                            root_totals = Some((v, c));
                        }
                    }
                    "source" if !empty => {
                        in_source = true;
                        source_text.clear();
                    }
                    "class" => {
                        let name = xml::attrs(e).remove("filename").unwrap_or_default();
                        files.entry(name.clone()).or_default();
                        if !empty {
                            current = Some(name);
                        }
                    }
                    // Lines inside <methods> repeat the class's lines.
                    "methods" if !empty => in_methods += 1,
                    "line" if in_methods == 0 => {
                        if let Some(f) = &current {
                            let a = xml::attrs(e);
                            let n = a.get("number").and_then(|v| v.trim().parse::<u32>().ok());
                            let hits = a
                                .get("hits")
                                .and_then(|v| v.trim().parse::<f64>().ok())
                                .unwrap_or(0.0);
                            if let Some(n) = n {
                                let hit = files
                                    .entry(f.clone())
                                    .or_default()
                                    .entry(n)
                                    .or_insert(false);
                                *hit |= hits > 0.0;
                            }
                        }
                    }
                    _ => {}
                }
            }
            Event::Text(ref t) if in_source => source_text.push_str(&t.xml10_content()),
            Event::End(ref e) => match e.local_name().as_ref() {
                "source" => {
                    in_source = false;
                    sources.push(source_text.trim().to_owned());
                }
                "class" => current = None,
                "methods" => in_methods = in_methods.saturating_sub(1),
                _ => {}
            },
            _ => {}
        }
    })?;
    xml::require_root(saw_root, file, Format::Cobertura, "no <coverage> element")?;
    let mut cov = Coverage::default();
    for (name, lines) in files {
        // Filenames are relative to one of the <source> directories: take the first under which the file
        // exists, else the first source.
        let rel = sources
            .iter()
            .map(|s| paths.relativize_in(Some(s), &name))
            .find(|r| paths.exists(r))
            .unwrap_or_else(|| paths.relativize_in(sources.first().map(String::as_str), &name));
        cov.merge(Coverage {
            files: vec![FileCoverage {
                path: rel,
                lines_valid: lines.len() as u64,
                lines_covered: lines.values().filter(|h| **h).count() as u64,
            }],
        });
    }
    if cov.lines_valid() == 0
        && let Some((v, c)) = root_totals.filter(|(v, _)| *v > 0)
    {
        cov.files.push(FileCoverage {
            path: paths.relativize(&file.to_string_lossy()),
            lines_valid: v,
            lines_covered: c.min(v),
        });
    }
    Ok(Parsed {
        coverage: Some(cov),
        ..Parsed::default()
    })
}

/// One LCOV record being read: path, line hits, `LF`/`LH` totals.
type Record = (String, BTreeMap<u32, bool>, Option<(u64, u64)>);

/// Parses an LCOV tracefile.
pub fn parse_lcov(r: impl BufRead, file: &Path, paths: &PathMap) -> Result<Parsed, ParseError> {
    let mut cov = Coverage::default();
    let mut current: Option<Record> = None;
    let mut records = 0usize;
    for (i, line) in r.lines().enumerate() {
        let line = line.map_err(|e| {
            ParseError::malformed(file, Format::Lcov, format!("line {}: {e}", i + 1))
        })?;
        let line = line.trim();
        if let Some(sf) = line.strip_prefix("SF:") {
            current = Some((paths.relativize(sf), BTreeMap::new(), None));
        } else if let Some(da) = line.strip_prefix("DA:") {
            let Some((_, lines, _)) = current.as_mut() else {
                return Err(ParseError::malformed(
                    file,
                    Format::Lcov,
                    format!("line {}: DA before SF", i + 1),
                ));
            };
            let mut parts = da.split(',');
            let n = parts.next().and_then(|v| v.trim().parse::<u32>().ok());
            let hits = parts.next().and_then(|v| v.trim().parse::<f64>().ok());
            match (n, hits) {
                (Some(n), Some(h)) => *lines.entry(n).or_insert(false) |= h > 0.0,
                _ => {
                    return Err(ParseError::malformed(
                        file,
                        Format::Lcov,
                        format!("line {}: bad `DA:{da}`", i + 1),
                    ));
                }
            }
        } else if let Some(lf) = line.strip_prefix("LF:") {
            if let Some((_, _, t)) = current.as_mut() {
                let v = lf.trim().parse().unwrap_or(0);
                *t = Some((v, t.map_or(0, |t| t.1)));
            }
        } else if let Some(lh) = line.strip_prefix("LH:") {
            if let Some((_, _, t)) = current.as_mut() {
                let h = lh.trim().parse().unwrap_or(0);
                *t = Some((t.map_or(0, |t| t.0), h));
            }
        } else if line == "end_of_record" {
            if let Some((path, lines, totals)) = current.take() {
                records += 1;
                let (valid, covered) = if lines.is_empty() {
                    totals.unwrap_or((0, 0))
                } else {
                    (
                        lines.len() as u64,
                        lines.values().filter(|h| **h).count() as u64,
                    )
                };
                cov.merge(Coverage {
                    files: vec![FileCoverage {
                        path,
                        lines_valid: valid,
                        lines_covered: covered.min(valid),
                    }],
                });
            }
        } else if !line.is_empty() && !line.starts_with(|c: char| c.is_ascii_uppercase()) {
            return Err(ParseError::malformed(
                file,
                Format::Lcov,
                format!(
                    "line {}: unexpected `{}`",
                    i + 1,
                    crate::report::truncate_bytes(line, 80)
                ),
            ));
        }
    }
    if records == 0 {
        return Err(ParseError::malformed(
            file,
            Format::Lcov,
            "no `SF:` ... `end_of_record` record",
        ));
    }
    Ok(Parsed {
        coverage: Some(cov),
        ..Parsed::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modes::lint_gate::parse::parse_fixture;

    #[test]
    fn coverage_py_cobertura_totals_and_files() {
        let p = parse_fixture("sample-python", "coverage.xml", Format::Cobertura);
        let c = p.coverage.unwrap();
        // coverage.py measured tests too: 37 statements in total, 27 run (line-rate 0.7297).
        assert_eq!((c.lines_valid(), c.lines_covered()), (37, 27));
        let ops = c.files.iter().find(|f| f.path == "calc/ops.py").unwrap();
        assert_eq!((ops.lines_valid, ops.lines_covered), (21, 12));
        assert!(
            c.files.iter().any(|f| f.path == "tests/test_ops.py"),
            "{:?}",
            c.files
        );
    }

    #[test]
    fn coverage_py_lcov_matches_cobertura() {
        let p = parse_fixture("sample-python", "coverage.lcov", Format::Lcov);
        let c = p.coverage.unwrap();
        assert_eq!((c.lines_valid(), c.lines_covered()), (37, 27));
        let ops = c.files.iter().find(|f| f.path == "calc/ops.py").unwrap();
        assert_eq!((ops.lines_valid, ops.lines_covered), (21, 12));
    }

    #[test]
    fn broken_coverage_files_are_errors() {
        let e = crate::modes::lint_gate::parse::parse_error(b"DA:1,1\n", "c.lcov", Format::Lcov);
        assert!(e.to_string().contains("DA before SF"), "{e}");
        let e = crate::modes::lint_gate::parse::parse_error(
            b"<html></html>",
            "c.xml",
            Format::Cobertura,
        );
        assert!(e.to_string().contains("no <coverage> element"), "{e}");
    }
}
