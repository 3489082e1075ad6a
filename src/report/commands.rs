//! Workflow commands, the only writer of stdout.
//!
//! Escaping follows actions/runner `ActionCommand.cs` (`_escapeDataMappings`, `_escapePropertyMappings`):
//! data escapes `%`, CR, LF; property values also escape `:` and `,`. Every line written passes through the
//! [`Masker`] first, so a registered secret can only ever leave as the `::add-mask::` line the runner
//! swallows (and that line is printed only inside Actions, where the runner consumes it).
//!
//! Every line that is not a command stevedore means passes through [`neutralise`]: the runner reads our
//! output with `StreamReader.ReadLine` (a line ends at LF, CR or CRLF), takes a line as a `::` command when
//! it starts with `::` after `TrimStart()` (any Unicode white space), and as a legacy `##[name]` command
//! when `##[` occurs *anywhere* in it (`ActionCommand.TryParseV2`/`TryParse`). A leading space is no
//! protection (it is trimmed), so text lines are split where the runner splits them, a `::` after the
//! leading white space gets a `\` in front, and every `##[` becomes `##[\` (the runner's own treatment of
//! `##[start-action`). No registered command name starts with `\`, and an injected `::stop-commands::` can
//! therefore never switch off the runner's processing of our later `::add-mask::` lines.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
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
        // A value read from a file or a command usually ends in a line break; the break is not part of the
        // secret, and masking it would swallow the line break of the text the secret is found in.
        let secret = secret.trim_matches(['\r', '\n']);
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
        // The same secrets as untrusted text renders them in Markdown (`npm_x` becomes `npm&#95;x`): a
        // secret echoed inside someone else's text is escaped before it reaches a report, and must still
        // be found there.
        let escaped: Vec<String> = std::iter::once(secret)
            .chain(secret.lines())
            .map(|k| super::markdown::text_mid_line(k.trim()))
            .filter(|e| e.len() >= 4)
            .collect();
        for e in escaped {
            if !s.contains(&e) {
                s.push(e);
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

    /// `value` with every string in it (at any depth) redacted as [`Masker::redact`] does; object keys are
    /// stevedore's own field names and stay as they are. What every request body sent to GitHub and every
    /// chat payload passes through.
    #[must_use]
    pub fn redact_json(&self, value: &serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        match value {
            Value::String(s) => Value::String(self.redact(s)),
            Value::Array(a) => Value::Array(a.iter().map(|v| self.redact_json(v)).collect()),
            Value::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, v)| (k.clone(), self.redact_json(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// Whether no secret is registered (nothing to redact).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.secrets
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
    }
}

/// White space the runner's `TrimStart()` drops (.NET `char.IsWhiteSpace` is Unicode `White_Space`), plus
/// three invisible characters older Unicode tables or terminals treat as space: erring this way only
/// neutralises a few more lines.
fn runner_space(c: char) -> bool {
    c.is_whitespace() || matches!(c, '\u{180E}' | '\u{200B}' | '\u{FEFF}')
}

/// `text` cut where the runner cuts lines (.NET `StreamReader.ReadLine`: LF, CR, or CRLF). Like
/// [`str::split`], a terminator at the end yields a last empty piece.
#[must_use]
pub fn runner_lines(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(['\r', '\n']) {
        out.push(&rest[..i]);
        let end = if rest[i..].starts_with("\r\n") {
            i + 2
        } else {
            i + 1
        };
        rest = &rest[end..];
    }
    out.push(rest);
    out
}

/// One line (no CR or LF in it) made inert for the runner's command parsers: a `::` right after the
/// leading white space gets a `\` in front, every `##[` becomes `##[\`. Everything else is kept.
#[must_use]
pub fn neutralise_line(line: &str) -> String {
    let body = line.trim_start_matches(runner_space);
    let lead = &line[..line.len() - body.len()];
    let mut out = String::with_capacity(line.len() + 2);
    out.push_str(lead);
    if body.starts_with("::") {
        out.push('\\');
    }
    out.push_str(&body.replace("##[", "##[\\"));
    out
}

/// Text of any shape made inert for the runner: cut into the runner's lines, each neutralised, joined
/// with LF (a CR becomes a line break, as the runner would read it).
#[must_use]
pub fn neutralise(text: &str) -> String {
    runner_lines(text)
        .into_iter()
        .map(neutralise_line)
        .collect::<Vec<_>>()
        .join("\n")
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

fn level_index(level: Level) -> usize {
    match level {
        Level::Notice => 0,
        Level::Warning => 1,
        Level::Error => 2,
    }
}

/// The stdout writer: workflow commands and the human report.
#[derive(Clone)]
pub struct Commands {
    sink: Sink,
    masker: Masker,
    /// Annotations emitted so far per level (notice, warning, error), shared by clones: the runner
    /// attaches only the first [`crate::report::COMMAND_ANNOTATIONS_PER_LEVEL`] of each level per step.
    annotated: Arc<[AtomicUsize; 3]>,
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
            annotated: Arc::new(Default::default()),
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

    /// Writes text, redacted, one output line per line the runner would read (LF, CR, CRLF), each
    /// neutralised so that the runner never takes it for a command.
    pub fn line(&self, text: &str) {
        for l in runner_lines(&self.masker.redact(text)) {
            self.write_raw(&neutralise_line(l));
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

    /// How many annotations of `level` this step has emitted so far.
    #[must_use]
    pub fn annotated(&self, level: Level) -> usize {
        self.annotated[level_index(level)].load(Ordering::Relaxed)
    }

    /// Emits an annotation (`::error file=..,line=..::message`).
    pub fn annotate(&self, level: Level, title: Option<&str>, loc: &Location, message: &str) {
        self.annotated[level_index(level)].fetch_add(1, Ordering::Relaxed);
        // The runner drops a property with an empty value and trims the end of the property list, so
        // an empty title or file is left out and the title is trimmed.
        let mut props = Vec::new();
        if let Some(t) = title
            .map(|t| self.masker.redact(t))
            .filter(|t| !t.trim().is_empty())
        {
            props.push(format!("title={}", escape_property(t.trim())));
        }
        if let Some(f) = loc.file.as_deref().filter(|f| !f.is_empty()) {
            props.push(format!("file={}", escape_property(&self.masker.redact(f))));
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
            self.line(&format!(
                "{}: {}{}{}",
                level.command(),
                place.unwrap_or_default(),
                title.map(|t| format!("{t}: ")).unwrap_or_default(),
                message
            ));
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
            self.line(&format!("== {title}"));
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
    fn secrets_are_found_in_json_at_any_depth_and_once_escaped_for_markdown() {
        let m = Masker::default();
        m.register("npm_Secret*01");
        let v = serde_json::json!({"output": {"summary": "the token npm_Secret*01 may not",
            "annotations": [{"message": "x npm_Secret*01"}]}, "n": 3});
        assert_eq!(
            m.redact_json(&v),
            serde_json::json!({"output": {"summary": "the token *** may not",
                "annotations": [{"message": "x ***"}]}, "n": 3})
        );
        // What `markdown::text` makes of it inside someone else's text.
        let escaped = crate::report::markdown::sentence("forbidden: npm_Secret*01 `x`");
        assert!(escaped.contains("npm&#95;Secret&#42;01"), "{escaped}");
        assert_eq!(m.redact(&escaped), "forbidden: *** `x`");
        assert!(Masker::default().is_empty() && !m.is_empty());
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
        c.line("commit msg\n ::add-mask::x\r\t::stop-commands::t\r\nnote ##[set-output name=a;]b");
        assert_eq!(
            text(&buf),
            "commit msg\n \\::add-mask::x\n\t\\::stop-commands::t\nnote ##[\\set-output name=a;]b\n"
        );
    }

    #[test]
    fn runner_lines_end_at_lf_cr_and_crlf() {
        assert_eq!(runner_lines("a\r\nb\rc\nd"), ["a", "b", "c", "d"]);
        assert_eq!(runner_lines("a\n"), ["a", ""]);
        assert_eq!(
            neutralise("x\n\u{2003}::y ##[z\r"),
            "x\n\u{2003}\\::y ##[\\z\n"
        );
    }

    /// Issue 31: what a secret must be to be masked — the runner's own rules.
    #[test]
    fn secrets_of_four_characters_or_more_are_masked_once_each() {
        let m = Masker::default();
        // Under 4 characters (after trimming) masking would blank out ordinary words.
        assert!(!m.register("abc"));
        assert!(!m.register("  ab  "));
        assert!(m.is_empty());
        assert_eq!(m.redact("abc ab"), "abc ab");
        // 4 is enough.
        assert!(m.register("k3y!"));
        assert_eq!(m.redact("the k3y! here"), "the *** here");
        // A known secret is not registered twice (the caller prints `::add-mask::` only once).
        assert!(!m.register("k3y!"));
        let (c, buf) = Commands::buffer(Masker::default(), true);
        c.add_mask("s3cr3t-value");
        c.add_mask("s3cr3t-value");
        assert_eq!(text(&buf), "::add-mask::s3cr3t-value\n");
    }

    /// Issue 31: a multi-line secret (a PEM key) is masked as a whole and line by line, as the runner
    /// masks it, so a log that prints one of its lines shows `***`; a short line is not a secret alone.
    #[test]
    fn each_line_of_a_multi_line_secret_is_masked() {
        let m = Masker::default();
        assert!(m.register("-----BEGIN KEY-----\nab\nMIIEvQIBADAN\nk3y!\n-----END KEY-----"));
        assert_eq!(m.redact("line: MIIEvQIBADAN"), "line: ***");
        assert_eq!(m.redact("k3y!"), "***");
        assert_eq!(m.redact("-----END KEY-----"), "***");
        // A line that Markdown escaping would change is registered as written, not only escaped.
        assert!(m.register("-----BEGIN-----\nkey_part*2\n-----END-----"));
        assert_eq!(m.redact("key_part*2"), "***");
        // `ab` is one of its lines, too short to mask on its own.
        assert_eq!(m.redact("a grab bag"), "a grab bag");
        let (c, buf) = Commands::buffer(Masker::default(), true);
        c.add_mask("first-line\n  \nsecond-line");
        assert_eq!(
            text(&buf),
            "::add-mask::first-line%0A  %0Asecond-line\n::add-mask::first-line\n::add-mask::second-line\n"
        );
    }

    /// A value read from a file ends in a line break (`token\n`); the break is not masked, so the log line
    /// the secret appears at the end of keeps its own line break, and the runner still reads two lines.
    #[test]
    fn a_secret_s_trailing_line_break_is_not_part_of_it() {
        let m = Masker::default();
        assert!(m.register("group\r\n"));
        assert!(!m.register("group"), "the same secret, registered once");
        assert_eq!(m.redact("check: group\nnext"), "check: ***\nnext");
        assert_eq!(m.redact("check: group\r\n"), "check: ***\r\n");
        assert!(m.register("\nleading-secret"));
        assert_eq!(m.redact("a\nleading-secret"), "a\n***");
    }

    /// Issue 31: a secret that contains another is replaced whole, whatever the order of registration.
    #[test]
    fn the_longest_secret_is_replaced_first() {
        let m = Masker::default();
        m.register("abcd");
        m.register("abcdefgh-long");
        assert_eq!(m.redact("x abcdefgh-long y abcd"), "x *** y ***");
    }

    /// Issue 31: the masker a `Commands` holds is the one secrets were registered with, and it says
    /// whether the runner reads its output.
    #[test]
    fn commands_share_their_masker_and_know_where_they_run() {
        let m = Masker::default();
        let (c, _) = Commands::buffer(m.clone(), true);
        c.add_mask("s3cr3t-value");
        assert_eq!(c.masker().redact("s3cr3t-value"), "***");
        assert_eq!(m.redact("s3cr3t-value"), "***");
        assert!(c.in_actions());
        assert!(format!("{c:?}").contains("in_actions: true"));
        let (c, _) = Commands::buffer(Masker::default(), false);
        assert!(!c.in_actions());
    }

    #[test]
    fn annotations_are_counted_per_level() {
        let (c, _) = Commands::buffer(Masker::default(), true);
        let here = Location::default();
        c.annotate(Level::Error, None, &here, "a");
        c.annotate(Level::Error, None, &here, "b");
        c.annotate(Level::Warning, None, &here, "c");
        assert_eq!(c.annotated(Level::Error), 2);
        assert_eq!(c.annotated(Level::Warning), 1);
        assert_eq!(c.annotated(Level::Notice), 0);
        // Clones share the count: the runner's limit is per step.
        let d = c.clone();
        d.annotate(Level::Notice, None, &here, "d");
        assert_eq!(c.annotated(Level::Notice), 1);
    }

    /// An end before the start is no range: the runner would drop the annotation's position.
    #[test]
    fn backwards_ranges_are_left_out() {
        let (c, buf) = Commands::buffer(Masker::default(), true);
        let loc = Location {
            file: Some("a".into()),
            line: Some(3),
            end_line: Some(2),
            col: Some(4),
            end_col: Some(3),
        };
        c.annotate(Level::Error, None, &loc, "m");
        let loc = Location {
            end_line: Some(3),
            ..loc
        };
        c.annotate(Level::Error, None, &loc, "m");
        let loc = Location {
            end_col: Some(4),
            ..loc
        };
        c.annotate(Level::Error, None, &loc, "m");
        assert_eq!(
            text(&buf),
            "::error file=a,line=3::m\n::error file=a,line=3,endLine=3,col=4::m\n::error file=a,line=3,endLine=3,col=4,endColumn=4::m\n"
        );
    }

    #[test]
    fn outside_actions_annotations_groups_and_debug_are_plain_masked_text() {
        let (c, buf) = Commands::buffer(Masker::default(), false);
        c.add_mask("s3cr3t-value");
        let loc = Location {
            file: Some("src/a.rs".into()),
            line: Some(3),
            ..Location::default()
        };
        c.annotate(Level::Error, Some("T"), &loc, "bad s3cr3t-value");
        let loc = Location { line: None, ..loc };
        c.annotate(Level::Warning, None, &loc, "::stop-commands::x");
        c.group("g s3cr3t-value");
        c.debug("dbg");
        c.endgroup();
        assert_eq!(
            text(&buf),
            "error: src/a.rs:3: T: bad ***\nwarning: src/a.rs: ::stop-commands::x\n== g ***\n"
        );
    }

    #[test]
    fn groups_and_debug_are_masked_commands_inside_actions() {
        let (c, buf) = Commands::buffer(Masker::default(), true);
        c.add_mask("s3cr3t-value");
        c.group("g s3cr3t-value\n::x");
        c.debug("d s3cr3t-value%");
        c.endgroup();
        assert_eq!(
            text(&buf),
            "::add-mask::s3cr3t-value\n::group::g ***%0A::x\n::debug::d ***%25\n::endgroup::\n"
        );
    }

    #[test]
    fn invisible_leading_characters_do_not_hide_a_command() {
        assert_eq!(neutralise_line("\u{200B}::x"), "\u{200B}\\::x");
        assert_eq!(
            neutralise_line("\u{FEFF}\u{180E}::x"),
            "\u{FEFF}\u{180E}\\::x"
        );
        assert_eq!(neutralise_line("a::x"), "a::x");
    }

    #[test]
    fn empty_titles_and_files_are_left_out() {
        let (c, buf) = Commands::buffer(Masker::default(), true);
        let loc = Location {
            file: Some(String::new()),
            ..Location::default()
        };
        c.annotate(Level::Notice, Some("  "), &loc, "m");
        assert_eq!(text(&buf), "::notice::m\n");
    }
}
