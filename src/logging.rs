//! `tracing` to stderr, one line per event, redacted with the run's [`Masker`] and neutralised like stdout
//! ([`crate::report::commands::neutralise`]): the runner parses workflow commands on stderr too, and a log
//! message can carry untrusted text (a check name, a commit subject).
//!
//! Level: `info`, or `debug` when the runner has step debug logging on (`RUNNER_DEBUG=1`); `STEVEDORE_LOG`
//! takes a level for stevedore, optionally followed by `target=level` directives for dependencies
//! (`debug,hyper=trace`: tracing-subscriber's `Targets` syntax, which needs no regex engine, unlike
//! `EnvFilter`'s span and field filters: BENCHMARKS.md "Action image"). Colour only on a terminal and
//! without `NO_COLOR`.

use std::io::{IsTerminal, Write};

use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

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
    let ansi = std::io::stderr().is_terminal() && env.get(vars::NO_COLOR).is_none();
    let _already = tracing_subscriber::fmt()
        .with_writer(Redacting(masker))
        .with_ansi(ansi)
        .with_target(false)
        .finish()
        .with(filter(directives))
        .try_init();
}

/// `warn` for every target, `directives` for stevedore's (a level, then any `target=level`); unreadable
/// directives fall back to `info` for stevedore.
#[must_use]
pub fn filter(directives: &str) -> Targets {
    format!("warn,stevedore={directives}")
        .parse()
        .unwrap_or_else(|_| {
            Targets::new()
                .with_default(LevelFilter::WARN)
                .with_target("stevedore", LevelFilter::INFO)
        })
}

#[cfg(test)]
mod tests {
    use super::filter;
    use tracing::Level;

    #[test]
    fn stevedore_gets_the_level_asked_for_and_dependencies_warn_unless_named() {
        let f = filter("debug");
        assert!(f.would_enable("stevedore::modes::deploy", &Level::DEBUG));
        assert!(!f.would_enable("stevedore", &Level::TRACE));
        assert!(f.would_enable("hyper::client", &Level::WARN));
        assert!(!f.would_enable("hyper::client", &Level::INFO));
        let f = filter("info,hyper=trace");
        assert!(f.would_enable("hyper::proto", &Level::TRACE));
        assert!(f.would_enable("stevedore", &Level::INFO));
        assert!(!f.would_enable("stevedore", &Level::DEBUG));
        assert!(!f.would_enable("rustls", &Level::INFO));
    }

    #[test]
    fn unreadable_directives_fall_back_to_info_for_stevedore() {
        let f = filter("stevedore[span{field=1}]=loud");
        assert!(f.would_enable("stevedore", &Level::INFO));
        assert!(!f.would_enable("stevedore", &Level::DEBUG));
        assert!(f.would_enable("aws_config", &Level::WARN));
        assert!(!f.would_enable("aws_config", &Level::INFO));
    }
}
