//! Diagnostics as text lines: `file:line:col: message` (rustc/clippy `--message-format=short`, ruff
//! concise, go vet, gcc), `file:line: message` (mypy), and tsc's `file(line,col): error TS1234: message`.
//!
//! Lines that are not diagnostics (summaries such as "Found 7 errors.", cargo's "Checking ..." status) are
//! skipped. The level comes from a leading `error`/`warning`/`note` word; without one (ruff) it is an error,
//! since such tools fail on every finding.

use std::io::BufRead;
use std::path::Path;

use crate::report::{Annotation, Level};

use super::parsed::{self, Format, ParseError, Parsed};
use super::paths::PathMap;

/// One recognised diagnostic line.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Diag<'a> {
    pub path: &'a str,
    pub line: u32,
    pub col: Option<u32>,
    pub level: Level,
    /// The code/rule when the tool names one (`TS2322`, `F401`, `return-value`).
    pub code: Option<String>,
    pub message: String,
}

/// Parses a text stream.
///
/// Besides one-line diagnostics it understands two block formats: ESLint's default "stylish" output (a file
/// header line, then indented `line:col  level  message  rule` rows) and `cargo fmt --check` (`Diff in
/// path:line:` followed by the diff, kept as the finding's details).
pub fn parse(r: impl BufRead, file: &Path, paths: &PathMap) -> Result<Parsed, ParseError> {
    let mut out = Parsed::default();
    let mut stylish_file: Option<String> = None;
    let mut fmt_diff: Option<(Annotation, Vec<String>)> = None;
    for (i, line) in r.split(b'\n').enumerate() {
        let line = line.map_err(|e| {
            ParseError::malformed(file, Format::Text, format!("line {}: {e}", i + 1))
        })?;
        let line = String::from_utf8_lossy(&line);
        let line = strip_ansi(line.trim_end_matches('\r'));
        if let Some((a, diff)) = fmt_diff.as_mut() {
            if line.starts_with([' ', '+', '-']) || line.is_empty() {
                if diff.len() < 200 {
                    diff.push(line.clone());
                }
                continue;
            }
            let mut a = a.clone();
            a.raw_details = parsed::details(&diff.join("\n"));
            out.push(a);
            fmt_diff = None;
        }
        if let Some(rest) = line.strip_prefix("Diff in ")
            && let Some((p, l)) = rustfmt_header(rest)
        {
            let a = Annotation::new(
                Level::Error,
                paths.relativize(p),
                l,
                "Not formatted as rustfmt would; run `cargo fmt`",
            )
            .with_title("rustfmt");
            fmt_diff = Some((a, Vec::new()));
            continue;
        }
        if let (Some(f), Some(d)) = (&stylish_file, stylish_row(&line)) {
            let mut a = Annotation::new(d.level, f.clone(), d.line, d.message).with_column(d.col);
            a.title = d.code.map(|c| format!("eslint {c}"));
            out.push(a);
            continue;
        }
        if let Some(d) = parse_line(&line) {
            stylish_file = None;
            let mut a = Annotation::new(d.level, paths.relativize(d.path), d.line, d.message)
                .with_column(d.col);
            a.title = d.code;
            out.push(a);
            continue;
        }
        // A stylish header: a lone path at the start of the line.
        let t = line.trim();
        if !line.starts_with(char::is_whitespace)
            && !t.is_empty()
            && !t.contains(' ')
            && t.rsplit('/').next().is_some_and(|n| n.contains('.'))
        {
            stylish_file = Some(paths.relativize(t));
        } else if !line.starts_with(char::is_whitespace) {
            stylish_file = None;
        }
    }
    if let Some((mut a, diff)) = fmt_diff {
        a.raw_details = parsed::details(&diff.join("\n"));
        out.push(a);
    }
    Ok(out)
}

/// `path:line:` (older rustfmt) or `path at line N:`.
fn rustfmt_header(rest: &str) -> Option<(&str, u32)> {
    let rest = rest.trim_end().strip_suffix(':')?;
    if let Some((p, l)) = rest.rsplit_once(" at line ") {
        return Some((p, digits(l)?));
    }
    let (p, l) = rest.rsplit_once(':')?;
    Some((p, digits(l)?))
}

/// `  1:7   error    'x' is assigned a value but never used  no-unused-vars`
fn stylish_row(line: &str) -> Option<Diag<'static>> {
    if !line.starts_with("  ") {
        return None;
    }
    let t = line.trim();
    let (pos, rest) = t.split_once(char::is_whitespace)?;
    let (l, c) = pos.split_once(':')?;
    let (l, c) = (digits(l)?, digits(c)?);
    let rest = rest.trim_start();
    let (word, rest) = rest.split_once(char::is_whitespace)?;
    let level = match word {
        "error" => Level::Error,
        "warning" => Level::Warning,
        _ => return None,
    };
    let rest = rest.trim();
    let (message, code) = match rest.rsplit_once("  ") {
        Some((m, code)) if !code.trim().contains(' ') => (m.trim(), Some(code.trim().to_owned())),
        _ => (rest, None),
    };
    Some(Diag {
        path: "",
        line: l,
        col: Some(c),
        level,
        code,
        message: message.to_owned(),
    })
}

/// Removes ANSI colour sequences (`ESC [ ... m`, `ESC ( B`).
fn strip_ansi(s: &str) -> String {
    if !s.contains('\u{1b}') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('[') => {
                for n in chars.by_ref() {
                    if n.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            Some('(' | ')') => {
                chars.next();
            }
            _ => {}
        }
    }
    out
}

fn digits(s: &str) -> Option<u32> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// Recognises one diagnostic line.
pub(crate) fn parse_line(line: &str) -> Option<Diag<'_>> {
    if line.starts_with(char::is_whitespace) || line.len() > 64 * 1024 {
        return None;
    }
    tsc(line).or_else(|| colon(line))
}

/// `src/a.ts(6,3): error TS2322: Type ...`
fn tsc(line: &str) -> Option<Diag<'_>> {
    let open = line.find('(')?;
    let close = open + line[open..].find("): ")?;
    let (l, c) = line[open + 1..close].split_once(',')?;
    let (l, c) = (digits(l)?, digits(c)?);
    let path = &line[..open];
    if path.is_empty() || path.contains(": ") {
        return None;
    }
    let rest = &line[close + 3..];
    let (level, rest) = level_prefix(rest).unwrap_or((Level::Error, rest));
    let (code, message) = match rest.split_once(": ") {
        Some((code, m)) if code.starts_with("TS") && digits(&code[2..]).is_some() => {
            (Some(code.to_owned()), m)
        }
        _ => (None, rest),
    };
    Some(Diag {
        path,
        line: l,
        col: Some(c),
        level,
        code,
        message: message.trim().to_owned(),
    })
}

/// `path:line[:col]: message`, skipping a Windows drive letter.
fn colon(line: &str) -> Option<Diag<'_>> {
    let skip =
        if line.len() > 2 && line.as_bytes()[1] == b':' && line.as_bytes()[0].is_ascii_alphabetic()
        {
            2
        } else {
            0
        };
    let first = skip + line[skip..].find(':')?;
    let path = &line[..first];
    if path.is_empty() || path.contains(' ') && !path.contains('/') {
        return None;
    }
    let rest = &line[first + 1..];
    let (l, rest) = rest.split_once(':')?;
    let l = digits(l)?;
    let (col, rest) = match rest.split_once(':') {
        Some((c, r)) if digits(c).is_some() => (digits(c), r),
        _ => (None, rest),
    };
    if !rest.starts_with(' ') {
        return None;
    }
    let rest = rest.trim();
    let (level, rest) = level_prefix(rest).unwrap_or((Level::Error, rest));
    // mypy: `message  [code]`; ruff: `F401 [*] message`.
    let (code, message) = if let Some(open) = rest.rfind("  [").filter(|_| rest.ends_with(']')) {
        (
            Some(rest[open + 3..rest.len() - 1].to_owned()),
            rest[..open].to_owned(),
        )
    } else if let Some((code, m)) = rest.split_once(' ').filter(|(c, _)| is_rule_code(c)) {
        (
            Some(code.to_owned()),
            m.trim_start_matches("[*] ").to_owned(),
        )
    } else {
        (None, rest.to_owned())
    };
    Some(Diag {
        path,
        line: l,
        col,
        level,
        code,
        message,
    })
}

/// `F401`, `E501`, `S602`, `PLR0913`, `SA1019`.
fn is_rule_code(s: &str) -> bool {
    let letters = s.bytes().take_while(u8::is_ascii_uppercase).count();
    (1..=4).contains(&letters)
        && s.len() > letters
        && s.bytes().skip(letters).all(|b| b.is_ascii_digit())
}

fn level_prefix(s: &str) -> Option<(Level, &str)> {
    let (word, rest) = s.split_once([':', ' '])?;
    let level = parsed::level_from_word(word).filter(|_| {
        matches!(
            word.to_ascii_lowercase().as_str(),
            "error" | "warning" | "note" | "help" | "info" | "notice"
        )
    })?;
    Some((level, rest.trim_start_matches(':').trim_start()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(p: &str) -> (std::path::PathBuf, Parsed) {
        let (sample, file) = p.split_once('/').unwrap();
        (
            crate::modes::lint_gate::parse::fixture_dir(sample),
            crate::modes::lint_gate::parse::parse_fixture(sample, file, Format::Text),
        )
    }

    use crate::modes::lint_gate::parse::rows;

    #[test]
    fn ruff_concise() {
        let (_, p) = fixture("sample-python/ruff.txt");
        let r = rows(&p);
        assert_eq!(r.len(), 7);
        assert_eq!(
            r[0],
            (
                Level::Error,
                "calc/ops.py",
                1,
                Some(8),
                Some("F401"),
                "`os` imported but unused"
            )
        );
        assert_eq!(r[2].4, Some("S602"));
        assert_eq!(r[6].1, "tests/test_ops.py");
    }

    #[test]
    fn mypy() {
        let (_, p) = fixture("sample-python/mypy.txt");
        assert_eq!(
            rows(&p),
            [(
                Level::Error,
                "calc/ops.py",
                21,
                None,
                Some("return-value"),
                "Incompatible return value type (got \"int\", expected \"str\")"
            )]
        );
    }

    #[test]
    fn tsc() {
        let (_, p) = fixture("sample-node/tsc.txt");
        assert_eq!(
            rows(&p),
            [
                (
                    Level::Error,
                    "src/math.ts",
                    6,
                    Some(3),
                    Some("TS2322"),
                    "Type 'number' is not assignable to type 'string'."
                ),
                (
                    Level::Error,
                    "src/math.ts",
                    9,
                    Some(7),
                    Some("TS2322"),
                    "Type 'string' is not assignable to type 'number'."
                ),
            ]
        );
    }

    #[test]
    fn rustc_short_skips_cargo_status_lines() {
        let (_, p) = fixture("sample-rust/clippy-short.txt");
        let r = rows(&p);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].0, Level::Warning);
        assert_eq!((r[0].1, r[0].2, r[0].3), ("src/lib.rs", 5, Some(24)));
        assert!(r[1].5.starts_with("length comparison to zero"));
    }

    #[test]
    fn eslint_stylish_blocks() {
        let (_, p) = fixture("sample-node/eslint-stylish.txt");
        assert_eq!(
            rows(&p),
            [
                (
                    Level::Error,
                    "src/util.js",
                    1,
                    Some(7),
                    Some("eslint no-unused-vars"),
                    "'unusedThing' is assigned a value but never used"
                ),
                (
                    Level::Warning,
                    "src/util.js",
                    4,
                    Some(12),
                    Some("eslint eqeqeq"),
                    "Expected '===' and instead saw '=='"
                ),
                (
                    Level::Error,
                    "src/util.js",
                    5,
                    Some(23),
                    Some("eslint no-undef"),
                    "'nobody' is not defined"
                ),
            ]
        );
    }

    #[test]
    fn rustfmt_check_diffs() {
        let (_, p) = fixture("sample-rust-fmt/rustfmt-check.txt");
        assert_eq!(p.annotations.len(), 1);
        let a = &p.annotations[0];
        assert_eq!(
            (a.path.as_str(), a.start_line, a.level),
            ("src/lib.rs", 1, Level::Error)
        );
        let d = a.raw_details.as_deref().unwrap();
        assert!(
            d.starts_with("-pub fn a( x:i32)->i32{x+1}\n+pub fn a(x: i32) -> i32 {"),
            "{d}"
        );
        assert!(d.contains("+    let v = vec![1, 2, 3];"), "{d}");
        let coloured = "Diff in /w/src/a.rs:3:\n\u{1b}[31m-x\n\u{1b}(B\u{1b}[m\u{1b}[32m+y\n";
        let p = crate::modes::lint_gate::parse::parse_bytes(
            coloured.as_bytes(),
            Path::new("fmt"),
            Format::Text,
            &PathMap::new("/w"),
        )
        .unwrap();
        assert_eq!(p.annotations[0].raw_details.as_deref(), Some("-x\n+y"));
    }

    #[test]
    fn go_vet_and_windows_lines() {
        let d = parse_line("./main.go:12:2: fmt.Printf format %d has arg s of wrong type string")
            .unwrap();
        assert_eq!(
            (d.path, d.line, d.col, d.level),
            ("./main.go", 12, Some(2), Level::Error)
        );
        let d = parse_line(r"C:\w\r\src\a.rs:3:1: warning: unused").unwrap();
        assert_eq!(
            (d.path, d.level, d.message.as_str()),
            (r"C:\w\r\src\a.rs", Level::Warning, "unused")
        );
        assert_eq!(parse_line("Found 7 errors."), None);
        assert_eq!(
            parse_line("error: could not compile `x` (lib) due to 1 previous error"),
            None
        );
        assert_eq!(
            parse_line("    Checking sample-rust v0.1.0 (/work/x)"),
            None
        );
    }
}
