//! JUnit XML from any producer: cargo-nextest, pytest, jest-junit, Surefire, TestNG, phpunit, go-junit-report.
//!
//! Streamed with quick-xml. A failed test becomes an error annotation placed, in order of preference, at
//! the `file`/`line` attributes of its `<failure>`/`<error>` element (xunit-style producers), at the
//! testcase's `file`/`line` attributes (the line made precise when the failure text names that file with a
//! line), at the first `path:line` in the failure text that names a file of the repository (nextest's
//! "panicked at src/lib.rs:25:9", pytest's "tests/test_x.py:11: AssertionError", jest's stack frames, JVM
//! frames such as `at org.x.FooTest.bar(FooTest.java:29)` resolved to the workspace's one `FooTest.java`),
//! or at the file derived from the `classname` (pytest's dotted module, a JVM class). Paths written on
//! another machine are mapped into the workspace by [`PathMap::find`]; one that maps nowhere is not used, so
//! an annotation never names a foreign absolute path. A testcase with `status="disabled"` (or `ignored`,
//! `skipped`, `notrun`) did not run and counts as skipped.

use std::io::BufRead;
use std::path::Path;

use quick_xml::Reader;
use quick_xml::events::Event;

use crate::report::{Annotation, Level};

use super::parsed::{self, Format, ParseError, Parsed, TestStats};
use super::paths::{self, PathMap};
use super::xml;

#[derive(Default)]
struct Case {
    name: String,
    classname: String,
    file: Option<String>,
    line: Option<u32>,
    /// `failure` or `error`.
    failure: Option<(String, String)>,
    /// The `file`/`line` attributes of the first `<failure>`/`<error>`.
    failure_file: Option<String>,
    failure_line: Option<u32>,
    skipped: bool,
    /// `status="disabled"` and its kin: the test did not run, whatever its children say.
    disabled: bool,
    text: String,
    in_failure: bool,
}

/// Parses a JUnit document.
pub fn parse(r: impl BufRead, file: &Path, paths: &PathMap) -> Result<Parsed, ParseError> {
    let mut reader = Reader::from_reader(r);
    reader.config_mut().trim_text(false);
    let mut out = Parsed::default();
    let mut stats = TestStats::default();
    let mut suite_files: Vec<Option<String>> = Vec::new();
    let mut case: Option<Case> = None;
    let mut saw_root = false;
    xml::each_event(reader, file, Format::Junit, |ev| match ev {
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
                    let disabled = a.get("status").is_some_and(|s| {
                        matches!(
                            s.trim().to_ascii_lowercase().as_str(),
                            "disabled" | "ignored" | "skipped" | "notrun" | "not run"
                        )
                    });
                    let c = Case {
                        name: a.remove("name").unwrap_or_default(),
                        classname: a.remove("classname").unwrap_or_default(),
                        file: a
                            .remove("file")
                            .or_else(|| suite_files.iter().rev().flatten().next().cloned()),
                        line: line_attr(&a),
                        disabled,
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
                            c.failure_file =
                                a.get("file").filter(|f| !f.trim().is_empty()).cloned();
                            c.failure_line = line_attr(&a);
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
        Event::Text(ref t) => failure_text(&mut case, || t.xml10_content()),
        Event::CData(ref t) => failure_text(&mut case, || t.xml10_content()),
        Event::GeneralRef(ref r) => failure_text(&mut case, || xml::entity(r)),
        _ => {}
    })?;
    xml::require_root(
        saw_root,
        file,
        Format::Junit,
        "no <testsuites> or <testsuite> element",
    )?;
    out.tests = Some(stats);
    Ok(out)
}

/// A positive `line` attribute.
fn line_attr(a: &std::collections::HashMap<String, String>) -> Option<u32> {
    a.get("line")
        .and_then(|l| l.trim().parse().ok())
        .filter(|l| *l > 0)
}

/// Appends what `text` reads to the failure being read, if any, up to four times the details kept.
fn failure_text<S: AsRef<str>>(case: &mut Option<Case>, text: impl FnOnce() -> S) {
    if let Some(c) = case
        .as_mut()
        .filter(|c| c.in_failure && c.text.len() < parsed::MAX_DETAILS_BYTES * 4)
    {
        c.text.push_str(text().as_ref());
    }
}

fn finish(c: Case, stats: &mut TestStats, out: &mut Parsed, result_file: &Path, paths: &PathMap) {
    let failure = if c.disabled { None } else { c.failure };
    let Some((kind, message)) = failure else {
        if c.skipped || c.disabled {
            stats.skipped += 1;
        } else {
            stats.passed += 1;
        }
        return;
    };
    stats.failed += 1;
    let case_file = c.file.as_deref().and_then(|f| attr_path(f, paths));
    let failure_file = c.failure_file.as_deref().and_then(|f| attr_path(f, paths));
    // The line at which the failure text names `file` (the assertion, not the test's first line).
    let named_line = |file: &str| {
        tokens(&message, &c.text).find_map(|t| {
            let (p, line) = split_location(t)?;
            (paths.find(&p, package_dir(t).as_deref()).as_deref() == Some(file)).then_some(line)
        })
    };
    let from_element = match (failure_file, c.failure_line) {
        (Some(f), Some(l)) => Some((f, l)),
        (Some(f), None) => {
            let l = named_line(&f).unwrap_or(1);
            Some((f, l))
        }
        (None, Some(l)) => case_file.clone().map(|f| (f, l)),
        (None, None) => None,
    };
    let (path, line) = from_element
        .or_else(|| {
            let f = case_file.clone()?;
            let l = named_line(&f).or(c.line)?;
            Some((f, l))
        })
        .or_else(|| locate(&message, &c.text, case_file.as_deref(), &c.classname, paths))
        .or_else(|| case_file.clone().map(|f| (f, 1)))
        .or_else(|| classname_file(&c.classname, paths).map(|f| (f, 1)))
        .unwrap_or_else(|| (paths.relativize(&result_file.to_string_lossy()), 1));
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
    a.raw_details = parsed::details(if c.text.trim().is_empty() {
        &message
    } else {
        &c.text
    });
    out.push(a);
}

/// A `file` attribute as a repository path: the workspace file it names (see [`PathMap::find`]), else the
/// relative path as written; `None` for an absolute path found nowhere in the workspace (another machine's).
fn attr_path(raw: &str, paths: &PathMap) -> Option<String> {
    paths.find(raw, None).or_else(|| {
        let rel = paths.relativize(raw);
        (!rel.is_empty() && !paths::is_absolute(&rel)).then_some(rel)
    })
}

fn tokens<'a>(message: &'a str, text: &'a str) -> impl Iterator<Item = &'a str> {
    message.split_whitespace().chain(text.split_whitespace())
}

/// The package directory of a JVM stack frame token, `org/apache/pulsar` from
/// `org.apache.pulsar.FooTest.testBar(FooTest.java:29)`.
fn package_dir(token: &str) -> Option<String> {
    let (call, _) = token.rsplit_once('(')?;
    let call = call.trim_start_matches("at ");
    if call.contains('/') || !call.contains('.') {
        return None;
    }
    let segs: Vec<&str> = call.split('.').collect();
    (segs.len() > 2).then(|| segs[..segs.len() - 2].join("/"))
}

/// The simple class name of a JVM `classname` (`FooTest` from `org.x.FooTest$Inner`).
fn simple_class(classname: &str) -> Option<&str> {
    let last = classname.trim().rsplit('.').next()?;
    let outer = last.split('$').next()?;
    (!outer.is_empty()).then_some(outer)
}

/// The first `path:line` in the failure that names a repository file; the testcase's own file (its `file`
/// attribute, or the source file of its JVM class) wins ties.
fn locate(
    message: &str,
    text: &str,
    case_file: Option<&str>,
    classname: &str,
    paths: &PathMap,
) -> Option<(String, u32)> {
    let own_class = simple_class(classname);
    let mut first_existing = None;
    for token in tokens(message, text) {
        let Some((p, line)) = split_location(token) else {
            continue;
        };
        let raw = p.trim_start_matches('/');
        if raw.starts_with("rustc/") || p.contains("node_modules/") {
            continue;
        }
        let found = paths.find(&p, package_dir(token).as_deref());
        let rel = found.clone().unwrap_or_else(|| paths.relativize(&p));
        if rel.starts_with("rustc/") || rel.contains("node_modules/") {
            continue;
        }
        if case_file == Some(rel.as_str()) {
            return Some((rel, line));
        }
        let Some(rel) = found else {
            continue;
        };
        let stem = rel
            .rsplit('/')
            .next()
            .and_then(|n| n.split_once('.'))
            .map(|(stem, _)| stem);
        if case_file.is_none() && own_class.is_some() && stem == own_class {
            return Some((rel, line));
        }
        if first_existing.is_none() {
            first_existing = Some((rel, line));
        }
    }
    first_existing
}

/// `path:line[:col]` inside a token such as `(src/a.js:8:24)` or `src/lib.rs:25:9:`.
/// Also `pkg.Class.method(File.java:29)` (JVM frames, the part in parentheses) and phpunit's `path(123)`.
pub(crate) fn split_location(token: &str) -> Option<(String, u32)> {
    let t = token
        .trim_matches(|c: char| matches!(c, '(' | ')' | '[' | ']' | ',' | '"' | '\'' | '<' | '>'));
    // `path(123)`: the line in parentheses.
    if token.ends_with(')')
        && let Some((path, line)) = token.trim_end_matches(')').rsplit_once('(')
        && !path.is_empty()
        && !line.is_empty()
        && line.bytes().all(|b| b.is_ascii_digit())
    {
        return split_location(&format!("{path}:{line}"));
    }
    // `method(File.java:29)`: the location is inside the parentheses (a path such as Next.js's
    // `app/(auth)/page.tsx` has a `/` before them).
    let t = match t.rsplit_once('(') {
        Some((call, inner)) if !inner.is_empty() && !call.contains('/') => inner,
        _ => t,
    };
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

/// pytest writes `classname="tests.test_ops"` for `tests/test_ops.py`; Surefire and TestNG write
/// `org.x.FooTest` for the workspace's one `FooTest.java` (or `.kt`, `.scala`, `.groovy`) under `org/x/`.
fn classname_file(classname: &str, paths: &PathMap) -> Option<String> {
    let classname = classname.trim();
    if classname.is_empty() || classname.contains(['/', '\\', ' ']) {
        return None;
    }
    let base = classname.replace('.', "/");
    if let Some(p) = ["py", "rb"]
        .iter()
        .map(|ext| format!("{base}.{ext}"))
        .find(|p| paths.exists(p))
    {
        return Some(p);
    }
    let class = simple_class(classname)?;
    let package = classname
        .rsplit_once('.')
        .map(|(pkg, _)| pkg.replace('.', "/"));
    ["java", "kt", "scala", "groovy"]
        .iter()
        .find_map(|ext| paths.find(&format!("{class}.{ext}"), package.as_deref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nextest_junit_failures_point_at_the_panic() {
        let p = crate::modes::lint_gate::parse::parse_fixture(
            "sample-rust",
            "nextest-junit.xml",
            Format::Junit,
        );
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
        let p = crate::modes::lint_gate::parse::parse_fixture(
            "sample-python",
            "pytest-junit.xml",
            Format::Junit,
        );
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
        let p = crate::modes::lint_gate::parse::parse_fixture(
            "sample-node",
            "jest-junit.xml",
            Format::Junit,
        );
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
        let e = crate::modes::lint_gate::parse::parse_error(
            b"{\"not\": \"xml\"}",
            "j.xml",
            Format::Junit,
        );
        assert!(e.to_string().contains("is not valid junit"), "{e}");
        let e = crate::modes::lint_gate::parse::parse_error(b"<a><b></a>", "j.xml", Format::Junit);
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
        // JVM frames, Kotlin test names with spaces, phpunit's `path(line)`, Next.js route groups.
        assert_eq!(
            split_location("org.x.FooTest.bar(FooTest.java:29)"),
            Some(("FooTest.java".into(), 29))
        );
        assert_eq!(
            split_location("handling(CalcUtilsTest.kt:27)"),
            Some(("CalcUtilsTest.kt".into(), 27))
        );
        assert_eq!(
            split_location("/home/runner/work/repo/src/Paren.php(123)"),
            Some(("/home/runner/work/repo/src/Paren.php".into(), 123))
        );
        assert_eq!(
            split_location("app/(auth)/page.tsx:3:1"),
            Some(("app/(auth)/page.tsx".into(), 3))
        );
        assert_eq!(split_location("Foo.bar(Native"), None);
        assert_eq!(
            package_dir("org.apache.pulsar.AddMissingPatchVersionTest.testVersionStrings(AddMissingPatchVersionTest.java:29)").as_deref(),
            Some("org/apache/pulsar")
        );
    }

    /// A fixture of dorny/test-reporter or mikepenz/action-junit-report (see tests/fixtures/lint/peers).
    fn peer(path: &str) -> std::path::PathBuf {
        crate::modes::lint_gate::parse::fixture_dir("peers").join(path)
    }

    /// Parses peer fixture `path` copied to `reports/` of workspace `ws`, whose `files` exist (empty).
    fn parse_in_workspace(ws: &Path, files: &[&str], path: &str) -> Parsed {
        for f in files {
            std::fs::create_dir_all(ws.join(f).parent().unwrap()).unwrap();
            std::fs::write(ws.join(f), "").unwrap();
        }
        let name = path.rsplit('/').next().unwrap();
        std::fs::create_dir_all(ws.join("reports")).unwrap();
        let report = ws.join("reports").join(name);
        std::fs::copy(peer(path), &report).unwrap();
        crate::modes::lint_gate::parse::parse_file(&report, Format::Junit, &PathMap::new(ws))
            .unwrap()
    }

    /// Parses peer fixture `path` where it lies (the peers folder is the workspace).
    fn parse_peer(path: &str) -> Parsed {
        crate::modes::lint_gate::parse::parse_file(
            &peer(path),
            Format::Junit,
            &PathMap::new(peer("")),
        )
        .unwrap()
    }

    fn places(p: &Parsed) -> Vec<(&str, u32)> {
        p.annotations
            .iter()
            .map(|a| (a.path.as_str(), a.start_line))
            .collect()
    }

    #[test]
    fn disabled_testcases_count_as_skipped() {
        // The suite declares tests='22' disabled='10' failures='4' errors='2'.
        let p = parse_peer("mikepenz-action-junit-report/testDisabled.xml");
        assert_eq!(
            p.tests,
            Some(TestStats {
                passed: 6,
                failed: 6,
                skipped: 10
            })
        );
        assert_eq!(p.annotations.len(), 6);
        // A disabled test with a failure child did not run: skipped, no annotation.
        let p = parse_peer("mikepenz-action-junit-report/testFailedDisabled.xml");
        assert_eq!(
            p.tests,
            Some(TestStats {
                passed: 0,
                failed: 0,
                skipped: 1
            })
        );
        assert!(p.annotations.is_empty());
    }

    #[test]
    fn file_and_line_of_the_failure_element_place_the_annotation() {
        let p = parse_peer("mikepenz-action-junit-report/report_fl_on_f.xml");
        assert_eq!(
            p.tests,
            Some(TestStats {
                passed: 3,
                failed: 1,
                skipped: 0
            })
        );
        assert_eq!(places(&p), [("main.c", 38)]);
        assert_eq!(p.annotations[0].message, "Expected 2 Was 0");
        let p = parse_peer("mikepenz-action-junit-report/test_multiple_errors.xml");
        assert_eq!(places(&p), [("src/test.ts", 101), ("src/assertion.ts", 55)]);
    }

    #[test]
    fn another_machines_absolute_paths_map_into_the_workspace_or_not_at_all() {
        // phpunit ran in a container with the project at /workspace/phpcheckstyle; here it is a
        // sub-directory. The testcase says line 12 (the test method); the failure names line 24.
        let d = tempfile::tempdir().unwrap();
        let p = parse_in_workspace(
            d.path(),
            &["tools/phpcheckstyle/test/OtherTest.php"],
            "dorny-test-reporter/phpcheckstyle-phpunit.xml",
        );
        assert_eq!(
            places(&p),
            [
                ("tools/phpcheckstyle/test/OtherTest.php", 24),
                ("tools/phpcheckstyle/test/OtherTest.php", 40)
            ]
        );
        // pytest ran with /home/runner/work as its root; the tests live in backend/tests here.
        let d = tempfile::tempdir().unwrap();
        let p = parse_in_workspace(
            d.path(),
            &["backend/tests/test_always_fails.py"],
            "mikepenz-action-junit-report/flaky_all_failures.xml",
        );
        assert_eq!(
            places(&p),
            [("backend/tests/test_always_fails.py", 10); 3].as_slice()
        );
        // Nowhere in the workspace: the annotation goes to the result file, never to a foreign path.
        let d = tempfile::tempdir().unwrap();
        let p = parse_in_workspace(
            d.path(),
            &["README.md"],
            "mikepenz-action-junit-report/flaky_all_failures.xml",
        );
        assert_eq!(
            places(&p),
            [("reports/flaky_all_failures.xml", 1); 3].as_slice()
        );
    }

    #[test]
    fn jvm_stack_frames_resolve_to_the_workspaces_one_source_file() {
        // TestNG: `at org.apache.pulsar.AddMissingPatchVersionTest.testVersionStrings(AddMissingPatchVersionTest.java:29)`.
        // A same-named class in another package, build output and dependencies do not make it ambiguous.
        let src = "pulsar-common/src/test/java/org/apache/pulsar/AddMissingPatchVersionTest.java";
        let d = tempfile::tempdir().unwrap();
        let p = parse_in_workspace(
            d.path(),
            &[
                src,
                "other/src/test/java/org/other/AddMissingPatchVersionTest.java",
                "target/generated/org/apache/pulsar/AddMissingPatchVersionTest.java",
                "node_modules/x/org/apache/pulsar/AddMissingPatchVersionTest.java",
            ],
            "dorny-test-reporter/TEST-org.apache.pulsar.AddMissingPatchVersionTest.xml",
        );
        assert_eq!(
            p.tests,
            Some(TestStats {
                passed: 0,
                failed: 1,
                skipped: 1
            })
        );
        assert_eq!(places(&p), [(src, 29)]);
        // Surefire with Kotlin (`CalcUtilsTest.test error handling(CalcUtilsTest.kt:27)`).
        let kt = "utils/src/test/java/action/surefire/report/calc/CalcUtilsTest.kt";
        let d = tempfile::tempdir().unwrap();
        let p = parse_in_workspace(
            d.path(),
            &[kt],
            "mikepenz-action-junit-report/TEST-action.surefire.report.calc.CalcUtilsTest.xml",
        );
        assert_eq!(places(&p), [(kt, 27), (kt, 15)]);
        // Two equally good candidates: no guess, the result file.
        let d = tempfile::tempdir().unwrap();
        let p = parse_in_workspace(
            d.path(),
            &[
                "a/src/test/java/org/apache/pulsar/AddMissingPatchVersionTest.java",
                "b/src/test/java/org/apache/pulsar/AddMissingPatchVersionTest.java",
            ],
            "dorny-test-reporter/TEST-org.apache.pulsar.AddMissingPatchVersionTest.xml",
        );
        assert_eq!(
            places(&p),
            [(
                "reports/TEST-org.apache.pulsar.AddMissingPatchVersionTest.xml",
                1
            )]
        );
    }

    #[test]
    fn formats_not_yet_supported_are_refused_not_passed() {
        // NUnit 3, TRX, `go test -json` and mocha's JSON given as JUnit: a parse error naming the file
        // relative to the workspace, so the check fails instead of passing on zero tests.
        let m = PathMap::new(peer(""));
        for f in [
            "dotnet-nunit.xml",
            "dotnet-trx.trx",
            "golang-json.json",
            "mocha-json.json",
        ] {
            let e = crate::modes::lint_gate::parse::parse_file(
                &peer(&format!("dorny-test-reporter/{f}")),
                Format::Junit,
                &m,
            )
            .unwrap_err();
            assert!(
                e.to_string()
                    .starts_with(&format!("`dorny-test-reporter/{f}` is not valid junit: ")),
                "{e}"
            );
        }
    }
}
