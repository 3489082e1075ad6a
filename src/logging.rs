//! `tracing` to stderr, one line per event, redacted with the run's [`Masker`] and neutralised like stdout
//! ([`crate::report::commands::neutralise`]): the runner parses workflow commands on stderr too, and a log
//! message can carry untrusted text (a check name, a commit subject).
//!
//! Level: `info`, or `debug` when the runner has step debug logging on (`RUNNER_DEBUG=1`); `STEVEDORE_LOG`
//! takes `tracing` directives. Colour only on a terminal and without `NO_COLOR`.

use std::io::{IsTerminal, Write};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::env::{Env, vars};
use crate::report::Masker;
use crate::report::commands::neutralise;

/// Writes one event to stderr after redaction and neutralisation.
#[derive(Debug)]
pub struct RedactingWriter {
    masker: Masker,
    buf: Vec<u8>,
}

impl Write for RedactingWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What one formatted event becomes on stderr: redacted, then neutralised.
#[must_use]
pub fn render_event(masker: &Masker, event: &[u8]) -> String {
    neutralise(&masker.redact(&String::from_utf8_lossy(event)))
}

impl Drop for RedactingWriter {
    fn drop(&mut self) {
        let safe = render_event(&self.masker, &self.buf);
        let mut err = std::io::stderr().lock();
        let _ignored = err.write_all(safe.as_bytes());
    }
}

/// Makes a [`RedactingWriter`] per event.
#[derive(Clone, Debug)]
pub struct Redacting(pub Masker);

impl<'a> MakeWriter<'a> for Redacting {
    type Writer = RedactingWriter;
    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter {
            masker: self.0.clone(),
            buf: Vec::new(),
        }
    }
}

/// Installs the global subscriber. Safe to call more than once (later calls do nothing).
pub fn init(env: &Env, masker: Masker) {
    let default = if env.get(vars::RUNNER_DEBUG) == Some("1") {
        "debug"
    } else {
        "info"
    };
    let directives = env.get(vars::STEVEDORE_LOG).unwrap_or(default);
    let filter = EnvFilter::try_new(format!("warn,stevedore={directives}"))
        .unwrap_or_else(|_| EnvFilter::new("warn,stevedore=info"));
    let ansi = std::io::stderr().is_terminal() && env.get(vars::NO_COLOR).is_none();
    let _already = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(Redacting(masker))
        .with_ansi(ansi)
        .with_target(false)
        .try_init();
}
