//! What every result-file parser shares: the formats and their detection, the parsed result, the
//! errors, the limits and small helpers. The parsers import it; [`super::parse`] dispatches to them.
//!
//! Every parser is defensive: a malformed or oversized file yields a [`ParseError`] that the gate turns into a
//! finding on the result file (and a failed check), never a panic. XML and line formats are streamed; JSON
//! formats are read whole, within [`MAX_JSON_BYTES`].

use std::fmt;
use std::path::{Path, PathBuf};

use crate::report::{Annotation, Level};

/// Largest streamed result file (JUnit, Cobertura, LCOV, cargo JSON lines, text).
pub const MAX_STREAM_BYTES: u64 = 512 * 1024 * 1024;
/// Largest JSON document read whole (SARIF, ESLint JSON).
pub const MAX_JSON_BYTES: u64 = 128 * 1024 * 1024;
/// At most this many annotations are kept from one file; the rest are counted.
pub const MAX_ANNOTATIONS_PER_FILE: usize = 100_000;
/// Details (stack traces, rendered diagnostics) are cut to this many bytes.
pub const MAX_DETAILS_BYTES: usize = 8 * 1024;

/// A result-file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    Junit,
    Sarif,
    Cobertura,
    Lcov,
    /// `cargo build|clippy|check --message-format=json`.
    CargoJson,
    /// `eslint -f json`.
    EslintJson,
    /// `file:line:col: message` lines (rustc short, ruff, mypy, go vet) and tsc's `file(line,col): ...`.
    Text,
    /// `terraform validate -json` / `tofu validate -json`.
    TerraformValidate,
}

impl Format {
    pub const ALL: [Format; 8] = [
        Format::Junit,
        Format::Sarif,
        Format::Cobertura,
        Format::Lcov,
        Format::CargoJson,
        Format::EslintJson,
        Format::Text,
        Format::TerraformValidate,
    ];

    /// The name used in the `checks` input. LOAD-BEARING.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Junit => "junit",
            Format::Sarif => "sarif",
            Format::Cobertura => "cobertura",
            Format::Lcov => "lcov",
            Format::CargoJson => "cargo-json",
            Format::EslintJson => "eslint-json",
            Format::Text => "text",
            Format::TerraformValidate => "terraform-validate",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Format> {
        let s = s.trim().to_ascii_lowercase();
        Format::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .or(match s.as_str() {
                "xunit" | "junit-xml" | "nextest" | "pytest" | "jest-junit" => Some(Format::Junit),
                "sarif-2.1.0" => Some(Format::Sarif),
                "cobertura-xml" | "coverage-xml" => Some(Format::Cobertura),
                "lcov-info" => Some(Format::Lcov),
                "clippy" | "rustc-json" | "cargo" => Some(Format::CargoJson),
                "eslint" => Some(Format::EslintJson),
                "tofu-validate" | "terraform" | "tofu" => Some(Format::TerraformValidate),
                "rustc" | "ruff" | "mypy" | "tsc" | "go-vet" | "diagnostics" => Some(Format::Text),
                _ => None,
            })
    }

    /// Guesses the format from a file name; `None` when the name does not say.
    #[must_use]
    pub fn infer(path: &str) -> Option<Format> {
        let name = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
        if name.ends_with(".sarif") || name.ends_with(".sarif.json") {
            Some(Format::Sarif)
        } else if name.ends_with(".lcov") || name == "lcov.info" || name.ends_with(".lcov.info") {
            Some(Format::Lcov)
        } else if name.ends_with(".xml") && (name.contains("junit") || name.starts_with("test-")) {
            Some(Format::Junit)
        } else if name.ends_with(".xml")
            && (name.contains("cobertura") || name.contains("coverage"))
        {
            Some(Format::Cobertura)
        } else {
            None
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Test counts of one or more JUnit files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TestStats {
    pub passed: u64,
    pub failed: u64,
    pub skipped: u64,
}

impl TestStats {
    pub fn add(&mut self, o: TestStats) {
        self.passed += o.passed;
        self.failed += o.failed;
        self.skipped += o.skipped;
    }

    #[must_use]
    pub fn total(&self) -> u64 {
        self.passed + self.failed + self.skipped
    }
}

/// Line coverage of one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileCoverage {
    pub path: String,
    pub lines_valid: u64,
    pub lines_covered: u64,
}

/// Line coverage of one or more reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    pub files: Vec<FileCoverage>,
}

impl Coverage {
    #[must_use]
    pub fn lines_valid(&self) -> u64 {
        self.files.iter().map(|f| f.lines_valid).sum()
    }

    #[must_use]
    pub fn lines_covered(&self) -> u64 {
        self.files.iter().map(|f| f.lines_covered).sum()
    }

    /// Covered lines in percent; `None` when no line is measurable.
    #[must_use]
    pub fn percent(&self) -> Option<f64> {
        let v = self.lines_valid();
        #[allow(clippy::cast_precision_loss, reason = "line counts are far below 2^52")]
        (v > 0).then(|| self.lines_covered() as f64 * 100.0 / v as f64)
    }

    /// Merges another report; the same file measured twice keeps the better-covered measurement.
    pub fn merge(&mut self, other: Coverage) {
        for f in other.files {
            match self.files.iter_mut().find(|g| g.path == f.path) {
                Some(g)
                    if f.lines_covered * g.lines_valid.max(1)
                        > g.lines_covered * f.lines_valid.max(1) =>
                {
                    *g = f
                }
                Some(_) => {}
                None => self.files.push(f),
            }
        }
    }
}

/// What one result file says.
#[derive(Clone, Debug, Default)]
pub struct Parsed {
    pub annotations: Vec<Annotation>,
    /// Findings beyond [`MAX_ANNOTATIONS_PER_FILE`], counted only.
    pub dropped: usize,
    pub tests: Option<TestStats>,
    pub coverage: Option<Coverage>,
}

impl Parsed {
    pub(crate) fn push(&mut self, a: Annotation) {
        if self.annotations.len() < MAX_ANNOTATIONS_PER_FILE {
            self.annotations.push(a);
        } else {
            self.dropped += 1;
        }
    }
}

/// A result file that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("cannot read `{path}`: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "`{path}` is {size} bytes, over the {limit}-byte limit for {format} files; split the report or lower its verbosity"
    )]
    TooLarge {
        path: PathBuf,
        size: u64,
        limit: u64,
        format: Format,
    },
    #[error("`{path}` is not valid {format}: {detail}")]
    Malformed {
        path: PathBuf,
        format: Format,
        detail: String,
    },
}

impl ParseError {
    /// The same error naming the result file relative to the workspace (its absolute path on this machine
    /// says nothing to the reader, and the runner's layout is not theirs to see); a file elsewhere
    /// (`RUNNER_TEMP`) keeps its path.
    #[must_use]
    pub fn relative_to(mut self, root: &Path) -> Self {
        let (ParseError::Read { path, .. }
        | ParseError::TooLarge { path, .. }
        | ParseError::Malformed { path, .. }) = &mut self;
        if let Ok(rel) = path.strip_prefix(root)
            && !rel.as_os_str().is_empty()
        {
            *path = rel.to_path_buf();
        }
        self
    }

    pub(crate) fn malformed(path: &Path, format: Format, detail: impl fmt::Display) -> Self {
        ParseError::Malformed {
            path: path.to_owned(),
            format,
            detail: detail.to_string(),
        }
    }
}

/// `s` cut to [`MAX_DETAILS_BYTES`].
pub(crate) fn details(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty())
        .then(|| crate::report::truncate_with_note(s, MAX_DETAILS_BYTES, "cut; see the full log"))
}

/// Level from the usual severity words.
pub(crate) fn level_from_word(w: &str) -> Option<Level> {
    match w.trim().to_ascii_lowercase().as_str() {
        "error" | "fatal" | "failure" | "critical" | "high" => Some(Level::Error),
        "warning" | "warn" | "medium" => Some(Level::Warning),
        "note" | "notice" | "info" | "help" | "low" | "none" => Some(Level::Notice),
        _ => None,
    }
}

/// Reads at most `limit` bytes of `r` into a `String`, failing past the limit.
pub(crate) fn read_limited(
    mut r: impl std::io::Read,
    file: &Path,
    format: Format,
    limit: u64,
) -> Result<Vec<u8>, ParseError> {
    use std::io::Read as _;
    let mut buf = Vec::new();
    (&mut r)
        .take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(|source| ParseError::Read {
            path: file.to_owned(),
            source,
        })?;
    if buf.len() as u64 > limit {
        return Err(ParseError::TooLarge {
            path: file.to_owned(),
            size: buf.len() as u64,
            limit,
            format,
        });
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse_and_infer() {
        assert_eq!(Format::parse("JUnit"), Some(Format::Junit));
        assert_eq!(Format::parse("clippy"), Some(Format::CargoJson));
        assert_eq!(Format::parse("xml"), None);
        assert_eq!(
            Format::infer("target/nextest/ci/junit.xml"),
            Some(Format::Junit)
        );
        assert_eq!(Format::infer("results.sarif"), Some(Format::Sarif));
        assert_eq!(Format::infer("coverage.xml"), Some(Format::Cobertura));
        assert_eq!(Format::infer("coverage/lcov.info"), Some(Format::Lcov));
        assert_eq!(Format::infer("eslint.json"), None);
    }

    #[test]
    fn coverage_merges_and_rounds() {
        let mut c = Coverage {
            files: vec![FileCoverage {
                path: "a".into(),
                lines_valid: 10,
                lines_covered: 5,
            }],
        };
        c.merge(Coverage {
            files: vec![
                FileCoverage {
                    path: "a".into(),
                    lines_valid: 10,
                    lines_covered: 8,
                },
                FileCoverage {
                    path: "b".into(),
                    lines_valid: 10,
                    lines_covered: 2,
                },
            ],
        });
        assert_eq!((c.lines_valid(), c.lines_covered()), (20, 10));
        assert_eq!(c.percent(), Some(50.0));
    }

    #[test]
    fn oversized_files_are_refused_clearly() {
        let e =
            read_limited(&b"0123456789"[..], Path::new("big.json"), Format::Sarif, 4).unwrap_err();
        assert!(e.to_string().contains("over the 4-byte limit"), "{e}");
    }
}
