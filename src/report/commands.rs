//! Workflow commands, the only writer of stdout.
//!
//! Escaping follows actions/runner `ActionCommand.cs` (`_escapeDataMappings`, `_escapePropertyMappings`):
//! data escapes `%`, CR, LF; property values also escape `:` and `,`. Every line written passes through the
//! [`Masker`] first, so a registered secret can only ever leave as the `::add-mask::` line the runner
//! swallows (and that line is printed only inside Actions, where the runner consumes it).

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

/// Known secrets; every output line is redacted with them.
#[derive(Clone, Debug, Default)]
pub struct Masker {
    secrets: Arc<RwLock<Vec<String>>>,
}

impl Masker {
    /// Registers a secret (and each of its lines, as the runner does). Returns false if it was known or too
    /// short to mask usefully.
    pub fn register(&self, secret: &str) -> bool {
        if secret.trim().len() < 4 {
            return false;
        }
        let mut s = self.secrets.write().unwrap_or_else(PoisonError::into_inner);
        if s.iter().any(|k| k == secret) {
            return false;
        }
        s.push(secret.to_owned());
        for line in secret.lines().map(str::trim).filter(|l| l.len() >= 4) {
            if !s.iter().any(|k| k == line) {
                s.push(line.to_owned());
            }
        }
        // Longest first, so a secret containing another is replaced whole.
        s.sort_by_key(|k| std::cmp::Reverse(k.len()));
        true
    }

    /// `text` with every registered secret replaced by `***`.
    #[must_use]
    pub fn redact(&self, text: &str) -> String {
        let s = self.secrets.read().unwrap_or_else(PoisonError::into_inner);
        let mut out = text.to_owned();
        for k in s.iter() {
            if out.contains(k.as_str()) {
                out = out.replace(k.as_str(), "***");
            }
        }
        out
    }
}

/// Escapes command data (`%`, CR, LF).
#[must_use]
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a command property value (`%`, CR, LF, `:`, `,`).
#[must_use]
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// Annotation severity for `::error`/`::warning`/`::notice`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Notice,
    Warning,
    Error,
}

impl Level {
    #[must_use]
    pub fn command(self) -> &'static str {
        match self {
            Level::Notice => "notice",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

/// Where an annotation points.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Location {
    pub file: Option<String>,
    pub line: Option<u32>,
    pub end_line: Option<u32>,
    pub col: Option<u32>,
    pub end_col: Option<u32>,
}

type Sink = Arc<Mutex<Box<dyn Write + Send>>>;

/// The stdout writer: workflow commands and the human report.
#[derive(Clone)]
pub struct Commands {
    sink: Sink,
    masker: Masker,
    /// Whether the runner reads our stdout (emit `::add-mask::`, groups as commands).
    in_actions: bool,
}

impl std::fmt::Debug for Commands {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Commands")
            .field("in_actions", &self.in_actions)
            .finish_non_exhaustive()
    }
}

impl Commands {
    /// Commands written to `sink`.
    pub fn new(sink: Box<dyn Write + Send>, masker: Masker, in_actions: bool) -> Self {
        Self {
            sink: Arc::new(Mutex::new(sink)),
            masker,
            in_actions,
        }
    }

    /// Commands written to the process's stdout.
    #[must_use]
    pub fn stdout(masker: Masker, in_actions: bool) -> Self {
        Self::new(Box::new(std::io::stdout()), masker, in_actions)
    }

    /// A writer that keeps everything in memory (tests, benchmarks).
    #[must_use]
    pub fn buffer(masker: Masker, in_actions: bool) -> (Self, Arc<Mutex<Vec<u8>>>) {
        let buf = Arc::new(Mutex::new(Vec::new()));
        (
            Self::new(Box::new(SharedBuf(buf.clone())), masker, in_actions),
            buf,
        )
    }

    #[must_use]
    pub fn masker(&self) -> &Masker {
        &self.masker
    }

    #[must_use]
    pub fn in_actions(&self) -> bool {
        self.in_actions
    }

    fn write_raw(&self, line: &str) {
        let mut w = self.sink.lock().unwrap_or_else(PoisonError::into_inner);
        // stdout closed (a pipe to `head`) is not worth failing a deploy for.
        let _ignored = writeln!(w, "{line}").and_then(|()| w.flush());
    }

    /// Writes a line of text, redacted.
    pub fn line(&self, text: &str) {
        for l in self.masker.redact(text).split('\n') {
            // A line that would be parsed as a command is neutralised.
            if l.trim_start().starts_with("::") {
                self.write_raw(&format!(" {l}"));
            } else {
                self.write_raw(l);
            }
        }
    }

    /// Registers a secret and, inside Actions, tells the runner to mask it. Must run before any use.
    pub fn add_mask(&self, secret: &str) {
        if self.masker.register(secret) && self.in_actions {
            for part in std::iter::once(secret).chain(secret.lines().filter(|l| *l != secret)) {
                if !part.trim().is_empty() {
                    self.write_raw(&format!("::add-mask::{}", escape_data(part)));
                }
            }
        }
    }

    /// Emits an annotation (`::error file=..,line=..::message`).
    pub fn annotate(&self, level: Level, title: Option<&str>, loc: &Location, message: &str) {
        let mut props = Vec::new();
        if let Some(t) = title {
            props.push(format!("title={}", escape_property(&self.masker.redact(t))));
        }
        if let Some(f) = &loc.file {
            props.push(format!("file={}", escape_property(f)));
        }
        if let Some(l) = loc.line {
            props.push(format!("line={l}"));
            if let Some(e) = loc.end_line.filter(|e| *e >= l) {
                props.push(format!("endLine={e}"));
            }
            if let Some(c) = loc.col.filter(|_| loc.end_line.is_none_or(|e| e == l)) {
                props.push(format!("col={c}"));
                if let Some(e) = loc.end_col.filter(|e| *e >= c) {
                    props.push(format!("endColumn={e}"));
                }
            }
        }
        let header = if props.is_empty() {
            level.command().to_owned()
        } else {
            format!("{} {}", level.command(), props.join(","))
        };
        let msg = escape_data(&self.masker.redact(message));
        if self.in_actions {
            self.write_raw(&format!("::{header}::{msg}"));
        } else {
            let place = loc.file.as_ref().map(|f| match loc.line {
                Some(l) => format!("{f}:{l}: "),
                None => format!("{f}: "),
            });
            self.write_raw(&self.masker.redact(&format!(
                "{}: {}{}{}",
                level.command(),
                place.unwrap_or_default(),
                title.map(|t| format!("{t}: ")).unwrap_or_default(),
                message
            )));
        }
    }

    /// Opens a collapsible log group.
    pub fn group(&self, title: &str) {
        if self.in_actions {
            self.write_raw(&format!(
                "::group::{}",
                escape_data(&self.masker.redact(title))
            ));
        } else {
            self.write_raw(&format!("== {}", self.masker.redact(title)));
        }
    }

    /// Closes the log group.
    pub fn endgroup(&self) {
        if self.in_actions {
            self.write_raw("::endgroup::");
        }
    }

    /// A debug message (shown by the runner only with step debug logging).
    pub fn debug(&self, message: &str) {
        if self.in_actions {
            self.write_raw(&format!(
                "::debug::{}",
                escape_data(&self.masker.redact(message))
            ));
        }
    }
}

/// A `Write` into a shared buffer.
#[derive(Clone, Debug)]
pub struct SharedBuf(pub Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(buf: &Arc<Mutex<Vec<u8>>>) -> String {
        String::from_utf8(buf.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn data_and_properties_are_escaped() {
        assert_eq!(escape_data("50%\r\nnext"), "50%25%0D%0Anext");
        assert_eq!(escape_property("a:b,c%"), "a%3Ab%2Cc%25");
    }

    #[test]
    fn annotations_carry_escaped_properties() {
        let (c, buf) = Commands::buffer(Masker::default(), true);
        let loc = Location {
            file: Some("src/a,b.rs".into()),
            line: Some(3),
            end_line: Some(3),
            col: Some(2),
            end_col: Some(5),
        };
        c.annotate(
            Level::Error,
            Some("std::io: fail"),
            &loc,
            "line1\nline2 std::io::Error",
        );
        assert_eq!(
            text(&buf),
            "::error title=std%3A%3Aio%3A fail,file=src/a%2Cb.rs,line=3,endLine=3,col=2,endColumn=5::line1%0Aline2 std::io::Error\n"
        );
    }

    #[test]
    fn columns_are_dropped_for_multi_line_ranges() {
        let (c, buf) = Commands::buffer(Masker::default(), true);
        let loc = Location {
            file: Some("a".into()),
            line: Some(3),
            end_line: Some(5),
            col: Some(2),
            end_col: None,
        };
        c.annotate(Level::Warning, None, &loc, "m");
        assert_eq!(text(&buf), "::warning file=a,line=3,endLine=5::m\n");
    }

    #[test]
    fn secrets_are_masked_everywhere_after_registration() {
        let (c, buf) = Commands::buffer(Masker::default(), true);
        c.add_mask("s3cr3t-value");
        c.line("token is s3cr3t-value");
        c.annotate(
            Level::Error,
            Some("s3cr3t-value"),
            &Location::default(),
            "x s3cr3t-value",
        );
        let out = text(&buf);
        let mut lines = out.lines();
        assert_eq!(lines.next(), Some("::add-mask::s3cr3t-value"));
        assert!(lines.all(|l| !l.contains("s3cr3t-value")), "{out}");
    }

    #[test]
    fn outside_actions_no_add_mask_line_is_printed() {
        let (c, buf) = Commands::buffer(Masker::default(), false);
        c.add_mask("s3cr3t-value");
        c.line("s3cr3t-value");
        assert_eq!(text(&buf), "***\n");
    }

    #[test]
    fn text_lines_cannot_inject_commands() {
        let (c, buf) = Commands::buffer(Masker::default(), true);
        c.line("commit msg\n::add-mask::x");
        assert_eq!(text(&buf), "commit msg\n ::add-mask::x\n");
    }
}
