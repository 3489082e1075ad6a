//! Environment files the runner reads after the step: `GITHUB_OUTPUT`, `GITHUB_ENV`, `GITHUB_STEP_SUMMARY`.
//!
//! Format (actions/runner `FileCommandManager.cs`): UTF-8, LF line ends, no blank lines (act rejects them),
//! every value in heredoc form `name<<DELIM` with a random delimiter that does not occur in the value.
//! The summary is Markdown appended to the file, at most 1 MiB per step (the runner skips larger uploads).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The runner's limit for one step summary.
pub const SUMMARY_LIMIT: usize = 1024 * 1024;

/// Failure to write an environment file.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("cannot append to `{path}` ({var}): {source}")]
    Write {
        var: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "output name `{0}` is invalid: use letters, digits, `-` and `_`, starting with a letter or `_`"
    )]
    BadName(String),
}

fn delimiter(value: &str) -> String {
    loop {
        let d = format!("ghadelimiter_{:032x}", rand::random::<u128>());
        if !value.contains(&d) {
            return d;
        }
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Renders `name<<DELIM\nvalue\nDELIM\n` entries.
pub fn render_heredoc<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<String, FileError> {
    let mut out = String::new();
    for (name, value) in pairs {
        if !valid_name(name) {
            return Err(FileError::BadName(name.to_owned()));
        }
        let value = value.replace("\r\n", "\n");
        let d = delimiter(&value);
        out.push_str(&format!("{name}<<{d}\n{value}\n{d}\n"));
    }
    Ok(out)
}

fn append(var: &'static str, path: &Path, text: &str) -> Result<(), FileError> {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| FileError::Write {
            var,
            path: path.to_owned(),
            source,
        })?;
    f.write_all(text.as_bytes())
        .map_err(|source| FileError::Write {
            var,
            path: path.to_owned(),
            source,
        })
}

/// Appends step outputs to `GITHUB_OUTPUT`.
pub fn write_outputs<'a>(
    path: &Path,
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<(), FileError> {
    append("GITHUB_OUTPUT", path, &render_heredoc(pairs)?)
}

/// Appends variables for later steps to `GITHUB_ENV`.
pub fn write_env<'a>(
    path: &Path,
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<(), FileError> {
    append("GITHUB_ENV", path, &render_heredoc(pairs)?)
}

/// Appends Markdown to the step summary, cut to what is left of the 1 MiB budget.
pub fn append_summary(path: &Path, markdown: &str) -> Result<(), FileError> {
    let used = std::fs::metadata(path)
        .map(|m| usize::try_from(m.len()).unwrap_or(usize::MAX))
        .unwrap_or(0);
    let room = SUMMARY_LIMIT.saturating_sub(used);
    let note = "\n\n> **Note:** summary truncated to the runner's 1 MiB limit; the check run has everything.\n";
    let text = if markdown.len() < room {
        format!("{markdown}\n")
    } else {
        format!(
            "{}{note}",
            crate::report::truncate_bytes(markdown, room.saturating_sub(note.len()))
        )
    };
    append("GITHUB_STEP_SUMMARY", path, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses a file the way actions/runner does (`EnvFileKeyValuePairs`), for round-trip tests.
    fn parse_runner(text: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut lines = text.split('\n');
        while let Some(line) = lines.next() {
            if line.is_empty() {
                continue;
            }
            let (name, delim) = line.split_once("<<").unwrap();
            let mut value = Vec::new();
            for l in lines.by_ref() {
                if l == delim {
                    break;
                }
                value.push(l);
            }
            out.push((name.to_owned(), value.join("\n")));
        }
        out
    }

    #[test]
    fn multi_line_values_round_trip_through_the_runner_parser() {
        let text =
            render_heredoc([("changelog", "## 1.0\n\n- x\nEOF"), ("version", "1.0.0")]).unwrap();
        assert!(!text.contains("\n\n\n"));
        assert_eq!(
            parse_runner(&text),
            [
                ("changelog".to_owned(), "## 1.0\n\n- x\nEOF".to_owned()),
                ("version".to_owned(), "1.0.0".to_owned())
            ]
        );
    }

    #[test]
    fn bad_output_names_are_refused() {
        assert!(render_heredoc([("1x", "v")]).is_err());
        assert!(render_heredoc([("a b", "v")]).is_err());
    }

    #[test]
    fn summary_is_capped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.md");
        append_summary(&p, &"é".repeat(SUMMARY_LIMIT)).unwrap();
        let len = std::fs::metadata(&p).unwrap().len();
        assert!(len <= SUMMARY_LIMIT as u64);
        assert!(std::fs::read_to_string(&p).unwrap().contains("truncated"));
    }
}
