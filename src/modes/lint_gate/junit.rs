//! JUnit XML from any producer: cargo-nextest, pytest, jest-junit, Surefire, go-junit-report.
//!
//! Streamed with quick-xml. A failed test becomes an error annotation placed, in order of preference, at
//! the testcase's `file`/`line` attributes, at the first `path:line` in the failure text that names a file
//! of the repository (nextest's "panicked at src/lib.rs:25:9", pytest's "tests/test_x.py:11: AssertionError",
//! jest's stack frames), or at the file derived from a dotted `classname` (pytest).

use std::io::BufRead;
use std::path::Path;

use quick_xml::Reader;
use quick_xml::events::Event;

use crate::report::{Annotation, Level};

use super::parse::{self, Format, ParseError, Parsed, TestStats};
use super::paths::PathMap;
use super::xml;

#[derive(Default)]
struct Case {
    name: String,
    classname: String,
    file: Option<String>,
    line: Option<u32>,
    /// `failure` or `error`.
    failure: Option<(String, String)>,
    skipped: bool,
    text: String,
    in_failure: bool,
}

/// Parses a JUnit document.
pub fn parse(r: impl BufRead, file: &Path, paths: &PathMap) -> Result<Parsed, ParseError> {
    let mut reader = Reader::from_reader(r);
    reader.config_mut().trim_text(false);
    let mut buf = Vec::new();
    let mut out = Parsed::default();
    let mut stats = TestStats::default();
    let mut suite_files: Vec<Option<String>> = Vec::new();
    let mut case: Option<Case> = None;
    let mut saw_root = false;
    loop {
        let ev = reader.read_event_into(&mut buf).map_err(|e| {
            ParseError::malformed(
                file,
                Format::Junit,
                format!("at byte {}: {e}", reader.error_position()),
            )
        })?;
        match ev {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(ev, Event::Empty(_));
                let n = xml::name(e);
                match n.as_str() {
                    "testsuites" => saw_root = true,
                    "testsuite" => {
                        saw_root = true;
                        if !empty {
                            suite_files.push(xml::attrs(e).remove("file"));
                        }
                    }
                    "testcase" => {
                        let mut a = xml::attrs(e);
                        let c = Case {
                            name: a.remove("name").unwrap_or_default(),
                            classname: a.remove("classname").unwrap_or_default(),
                            file: a
                                .remove("file")
                                .or_else(|| suite_files.iter().rev().flatten().next().cloned()),
                            line: a.get("line").and_then(|l| l.trim().parse().ok()),
                            ..Case::default()
                        };
                        if empty {
                            finish(c, &mut stats, &mut out, file, paths);
                        } else {
                            case = Some(c);
                        }
                    }
                    "failure" | "error" => {
                        if let Some(c) = case.as_mut() {
                            let a = xml::attrs(e);
                            let msg = a.get("message").cloned().unwrap_or_default();
                            if c.failure.is_none() {
                                c.failure = Some((n.clone(), msg));
                            }
                            c.in_failure = !empty;
                        }
                    }
                    "skipped" | "disabled" => {
                        if let Some(c) = case.as_mut() {
                            c.skipped = true;
                        }
                    }
                    _ => {}
                }
            }
            Event::End(ref e) => {
                let n = e.local_name().as_ref().to_ascii_lowercase();
                match n.as_str() {
                    "testcase" => {
                        if let Some(c) = case.take() {
                            finish(c, &mut stats, &mut out, file, paths);
                        }
                    }
                    "testsuite" => {
                        suite_files.pop();
                    }
                    "failure" | "error" => {
                        if let Some(c) = case.as_mut() {
                            c.in_failure = false;
                        }
                    }
                    _ => {}
                }
            }
            Event::Text(ref t) => {
                if let Some(c) = case
                    .as_mut()
                    .filter(|c| c.in_failure && c.text.len() < parse::MAX_DETAILS_BYTES * 4)
                {
                    c.text.push_str(&t.xml10_content());
                }
            }
            Event::CData(ref t) => {
                if let Some(c) = case
                    .as_mut()
                    .filter(|c| c.in_failure && c.text.len() < parse::MAX_DETAILS_BYTES * 4)
                {
                    c.text.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(ref r) => {
                if let Some(c) = case
                    .as_mut()
                    .filter(|c| c.in_failure && c.text.len() < parse::MAX_DETAILS_BYTES * 4)
                {
                    c.text.push_str(&xml::entity(r));
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if !saw_root {
        return Err(ParseError::malformed(
            file,
            Format::Junit,
            "no <testsuites> or <testsuite> element",
        ));
    }
    out.tests = Some(stats);
    Ok(out)
}

fn finish(c: Case, stats: &mut TestStats, out: &mut Parsed, result_file: &Path, paths: &PathMap) {
    let Some((kind, message)) = c.failure else {
        if c.skipped {
            stats.skipped += 1;
        } else {
            stats.passed += 1;
        }
        return;
    };
    stats.failed += 1;
    let case_file = c.file.as_deref().map(|f| paths.relativize(f));
    let (path, line) = match (&case_file, c.line) {
        (Some(f), Some(l)) => (f.clone(), l),
        _ => locate(&message, &c.text, case_file.as_deref(), paths)
            .or_else(|| case_file.clone().map(|f| (f, 1)))
            .or_else(|| classname_file(&c.classname, paths).map(|f| (f, 1)))
            .unwrap_or_else(|| (paths.relativize(&result_file.to_string_lossy()), 1)),
    };
    let test = match (c.classname.trim(), c.name.trim()) {
        ("", n) => n.to_owned(),
        (cl, n) if n.starts_with(cl) || cl == n => n.to_owned(),
        (cl, n) => format!("{cl}::{n}"),
    };
    let first_line = |s: &str| {
        s.lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(str::to_owned)
    };
    let summary = first_line(&message)
        .or_else(|| first_line(&c.text))
        .unwrap_or_else(|| format!("test {kind}"));
    let mut a = Annotation::new(Level::Error, path, line, summary)
        .with_title(format!("Test failed: {test}"));
    a.raw_details = parse::details(if c.text.trim().is_empty() {
        &message
    } else {
        &c.text
    });
    out.push(a);
}

/// The first `path:line` in the failure that names a repository file; the testcase's own file wins ties.
fn locate(
    message: &str,
    text: &str,
    case_file: Option<&str>,
    paths: &PathMap,
) -> Option<(String, u32)> {
    let mut first_existing = None;
    for token in message.split_whitespace().chain(text.split_whitespace()) {
        let Some((p, line)) = split_location(token) else {
            continue;
        };
        let rel = paths.relativize(&p);
        if rel.starts_with('/') || rel.contains("node_modules/") || rel.starts_with("rustc/") {
            continue;
        }
        if case_file == Some(rel.as_str()) {
            return Some((rel, line));
        }
        if first_existing.is_none() && paths.exists(&rel) {
            first_existing = Some((rel, line));
        }
    }
    first_existing
}

/// `path:line[:col]` inside a token such as `(src/a.js:8:24)` or `src/lib.rs:25:9:`.
pub(crate) fn split_location(token: &str) -> Option<(String, u32)> {
    let t = token
        .trim_matches(|c: char| matches!(c, '(' | ')' | '[' | ']' | ',' | '"' | '\'' | '<' | '>'));
    let segs: Vec<&str> = t.trim_end_matches(':').split(':').collect();
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let n = segs.len();
    let path_end = if n >= 3 && digits(segs[n - 1]) && digits(segs[n - 2]) {
        n - 2
    } else if n >= 2 && digits(segs[n - 1]) {
        n - 1
    } else {
        return None;
    };
    let path = segs[..path_end].join(":");
    let line: u32 = segs[path_end].parse().ok()?;
    let file_name = path.rsplit('/').next()?;
    let ext_ok = file_name
        .rsplit_once('.')
        .is_some_and(|(stem, ext)| !stem.is_empty() && !ext.is_empty() && !digits(ext));
    (line > 0 && ext_ok && !path.contains("://")).then_some((path, line))
}

/// pytest writes `classname="tests.test_ops"` for `tests/test_ops.py`.
fn classname_file(classname: &str, paths: &PathMap) -> Option<String> {
    let base = classname.replace('.', "/");
    ["py", "rb"]
        .iter()
        .map(|ext| format!("{base}.{ext}"))
        .find(|p| paths.exists(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nextest_junit_failures_point_at_the_panic() {
        let p = parse::parse_fixture("sample-rust", "nextest-junit.xml", Format::Junit);
        assert_eq!(
            p.tests,
            Some(TestStats {
                passed: 1,
                failed: 2,
                skipped: 0
            })
        );
        assert_eq!(p.annotations.len(), 2);
        let a = &p.annotations[0];
        assert_eq!((a.path.as_str(), a.start_line), ("src/lib.rs", 25));
        assert_eq!(
            a.title.as_deref(),
            Some("Test failed: sample-rust::tests::adds_wrong")
        );
        assert_eq!(
            a.message,
            "thread 'tests::adds_wrong' (23844) panicked at src/lib.rs:25:9"
        );
        assert!(a.raw_details.as_deref().unwrap().contains("two and two"));
        assert_eq!(
            (p.annotations[1].path.as_str(), p.annotations[1].start_line),
            ("src/lib.rs", 30)
        );
    }

    #[test]
    fn pytest_junit_counts_skips_and_finds_lines() {
        let p = parse::parse_fixture("sample-python", "pytest-junit.xml", Format::Junit);
        assert_eq!(
            p.tests,
            Some(TestStats {
                passed: 3,
                failed: 2,
                skipped: 1
            })
        );
        let got: Vec<_> = p
            .annotations
            .iter()
            .map(|a| (a.path.as_str(), a.start_line, a.message.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("tests/test_ops.py", 11, "assert 4 == 5"),
                ("tests/test_ops.py", 24, "RuntimeError: boom"),
            ]
        );
        assert_eq!(
            p.annotations[0].title.as_deref(),
            Some("Test failed: tests.test_ops::test_add_wrong")
        );
    }

    #[test]
    fn jest_junit_uses_the_file_attribute_and_the_stack() {
        // The stack trace holds the producer's absolute paths; relativised against the same root.
        let p = parse::parse_fixture("sample-node", "jest-junit.xml", Format::Junit);
        assert_eq!(
            p.tests,
            Some(TestStats {
                passed: 1,
                failed: 1,
                skipped: 0
            })
        );
        let a = &p.annotations[0];
        assert_eq!((a.path.as_str(), a.start_line), ("src/util.test.js", 8));
        assert_eq!(
            a.message,
            "Error: expect(received).toBe(expected) // Object.is equality"
        );
    }

    #[test]
    fn malformed_junit_is_an_error_not_a_panic() {
        let m = PathMap::new("/nonexistent");
        let e = parse::parse_bytes(b"{\"not\": \"xml\"}", Path::new("j.xml"), Format::Junit, &m)
            .unwrap_err();
        assert!(e.to_string().contains("is not valid junit"), "{e}");
        let e =
            parse::parse_bytes(b"<a><b></a>", Path::new("j.xml"), Format::Junit, &m).unwrap_err();
        assert!(e.to_string().contains("`j.xml` is not valid junit"), "{e}");
    }

    #[test]
    fn locations_are_found_in_tokens() {
        assert_eq!(
            split_location("(src/a.js:8:24)"),
            Some(("src/a.js".into(), 8))
        );
        assert_eq!(
            split_location("src/lib.rs:25:9:"),
            Some(("src/lib.rs".into(), 25))
        );
        assert_eq!(
            split_location("tests/t.py:11:"),
            Some(("tests/t.py".into(), 11))
        );
        assert_eq!(split_location("left:"), None);
        assert_eq!(split_location("12:30:45"), None);
    }
}
