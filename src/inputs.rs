//! Action inputs: from `INPUT_*` variables to typed configuration.
//!
//! Two stages, as in ripgrep's `lowargs`/`hiargs`: [`Inputs`] reads raw strings and validates them one by one,
//! *collecting* every error instead of stopping at the first; each mode's config is then built from the
//! validated values. Nothing here does I/O beyond reading the [`Env`] snapshot.
//!
//! The runner's contract (actions/runner's `ContainerActionHandler`, and act's equivalent): input `aws-region` arrives as
//! `INPUT_AWS-REGION` (upper-cased, spaces to `_`, hyphens kept). Shells cannot set such names, so for local
//! runs the underscore name (`INPUT_AWS_REGION`) is accepted too, the hyphenated one first. An empty value
//! means unset, since every declared input is exported (an omitted one as its `action.yml` default, so a
//! blank value of an input with a default was written blank: [`Inputs::string_or_blank`]).

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use secrecy::SecretString;

use crate::env::Env;

mod names;
pub use names::Input;

/// `items` as code spans, comma-separated (`` `a`, `b` ``): how messages list names and values.
pub fn code_list<T: std::fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    items
        .into_iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The job stevedore runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    LintGate,
    Build,
    Deploy,
    Publish,
    Credentials,
    Plan,
}

impl Mode {
    pub const ALL: [Mode; 6] = [
        Mode::LintGate,
        Mode::Build,
        Mode::Deploy,
        Mode::Publish,
        Mode::Credentials,
        Mode::Plan,
    ];

    /// The name users type. LOAD-BEARING: used in comment markers and check-run names.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::LintGate => "lint-gate",
            Mode::Build => "build",
            Mode::Deploy => "deploy",
            Mode::Publish => "publish",
            Mode::Credentials => "credentials",
            Mode::Plan => "plan",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Mode> {
        Mode::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The environment variable names an input may arrive under: the runner's spelling first.
#[must_use]
pub fn input_keys(name: &str) -> [String; 2] {
    let runner = format!("INPUT_{}", name.replace(' ', "_").to_uppercase());
    let underscore = runner.replace('-', "_");
    [runner, underscore]
}

/// Inputs shared by every mode (parsed by `config`, read by every mode through its `Runtime`).
#[derive(Debug)]
pub struct Common {
    pub mode: Mode,
    /// `github-token`; `None` when empty (local runs, act without a token).
    pub github_token: Option<SecretString>,
    pub dry_run: bool,
    /// Distinguishes sticky comments and check runs of parallel jobs of one mode (`report-key`).
    pub report_key: Option<String>,
    /// Whether to post/update the sticky PR comment (`comment`).
    pub comment: bool,
}

/// One bad input: which input, what value, what is wrong, and what a good value looks like.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("input `{input}`{}: {problem}. {fix}", value.as_ref().map(|v| format!(" = `{v}`")).unwrap_or_default())]
pub struct InputError {
    pub input: String,
    /// The offending value; `None` when the input is missing. Never holds a secret.
    pub value: Option<String>,
    pub problem: String,
    /// How to fix it, with an example of a good value.
    pub fix: String,
}

/// Proof that an input error was recorded: only [`Inputs::error`] and [`Inputs::missing`] make one, and
/// it carries that error. A parser that cannot build its configuration returns `Err(Recorded)`, so it
/// cannot give up without saying why (see [`Inputs::finish_with`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded(InputError);

impl Recorded {
    /// The error that was recorded.
    #[must_use]
    pub fn error(&self) -> &InputError {
        &self.0
    }
}

/// Every input error found, reported together.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{} invalid input(s):\n{}", .0.len(), .0.iter().map(|e| format!("  - {e}")).collect::<Vec<_>>().join("\n"))]
pub struct InputErrors(pub Vec<InputError>);

/// A problem in an input that does not stop this run (e.g. an `environments` entry this job does not
/// target): shown as a `::warning`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("input `{input}`: {message}")]
pub struct InputWarning {
    pub input: String,
    pub message: String,
}

/// Reads inputs from the environment, validating each and collecting errors.
#[derive(Debug)]
pub struct Inputs<'e> {
    env: &'e Env,
    errors: Vec<InputError>,
    warnings: Vec<InputWarning>,
    read: BTreeSet<&'static str>,
    /// Inputs read more than once (each read after the first), in order.
    reread: Vec<Input>,
}

const TRUE: [&str; 3] = ["true", "True", "TRUE"];
const FALSE: [&str; 3] = ["false", "False", "FALSE"];

impl<'e> Inputs<'e> {
    #[must_use]
    pub fn new(env: &'e Env) -> Self {
        Self {
            env,
            errors: Vec::new(),
            warnings: Vec::new(),
            read: BTreeSet::new(),
            reread: Vec::new(),
        }
    }

    /// The environment the inputs come from.
    #[must_use]
    pub fn env(&self) -> &'e Env {
        self.env
    }

    /// Names of every input read so far (tests compare them with `action.yml`).
    #[must_use]
    pub fn names_read(&self) -> &BTreeSet<&'static str> {
        &self.read
    }

    /// Inputs read again after their first read, in order (a test requires none: read once, pass down).
    #[must_use]
    pub fn names_read_again(&self) -> &[Input] {
        &self.reread
    }

    fn note_read(&mut self, name: Input) {
        if !self.read.insert(name.as_str()) {
            self.reread.push(name);
        }
    }

    /// The trimmed raw value, `None` when unset or blank.
    pub fn string(&mut self, name: Input) -> Option<String> {
        self.note_read(name);
        input_keys(name.as_str())
            .iter()
            .find_map(|k| self.env.get(k))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    }

    /// The trimmed raw value, `Some("")` when it is set but blank, `None` when it is not set at all. Only
    /// for an input whose `action.yml` default is not empty: the runner passes that default when the step
    /// omits the input, so a blank value there was written in the workflow (`prerelease-branches: ""`:
    /// none) and must not read as the default.
    pub fn string_or_blank(&mut self, name: Input) -> Option<String> {
        let keys = input_keys(name.as_str());
        let set = keys.iter().any(|k| self.env.is_set(k));
        match self.string(name) {
            None if set => Some(String::new()),
            v => v,
        }
    }

    /// The raw value, not trimmed (multi-line YAML or Markdown inputs).
    pub fn text(&mut self, name: Input) -> Option<String> {
        self.note_read(name);
        input_keys(name.as_str())
            .iter()
            .find_map(|k| self.env.get(k))
            .filter(|v| !v.trim().is_empty())
            .map(str::to_owned)
    }

    /// A required input; records an error naming `example` when it is missing.
    pub fn required(&mut self, name: Input, why: &str, example: &str) -> Option<String> {
        let v = self.string(name);
        if v.is_none() {
            self.missing(name, why, example);
        }
        v
    }

    /// Records that a required input is missing.
    pub fn missing(&mut self, name: Input, why: &str, example: &str) -> Recorded {
        self.record(InputError {
            input: name.as_str().to_owned(),
            value: None,
            problem: format!("is required {why}"),
            fix: format!("Set it in `with:`, e.g. `{name}: {example}`"),
        })
    }

    fn record(&mut self, e: InputError) -> Recorded {
        self.errors.push(e.clone());
        Recorded(e)
    }

    /// Records an error for `name`.
    pub fn error(
        &mut self,
        name: Input,
        value: Option<&str>,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> Recorded {
        self.record(InputError {
            input: name.as_str().to_owned(),
            value: value.map(str::to_owned),
            problem: problem.into(),
            fix: fix.into(),
        })
    }

    /// A strict boolean: `true|True|TRUE|false|False|FALSE`, as in `@actions/core` `getBooleanInput`.
    pub fn bool(&mut self, name: Input, default: bool) -> bool {
        match self.string(name) {
            None => default,
            Some(v) if TRUE.contains(&v.as_str()) => true,
            Some(v) if FALSE.contains(&v.as_str()) => false,
            Some(v) => {
                self.error(
                    name,
                    Some(&v),
                    "is not a boolean",
                    format!("Use `true` or `false` (YAML 1.2 core schema), e.g. `{name}: true`"),
                );
                default
            }
        }
    }

    /// A list split on newlines and commas, items trimmed, empty items dropped.
    pub fn list(&mut self, name: Input) -> Vec<String> {
        self.string(name)
            .map(|v| split_list(&v))
            .unwrap_or_default()
    }

    /// A duration such as `90s`, `10m`, `1h30m` or a bare number of seconds.
    pub fn duration(&mut self, name: Input, default: Duration) -> Duration {
        match self.string(name) {
            None => default,
            Some(v) => match parse_duration(&v) {
                Some(d) => d,
                None => {
                    self.error(
                        name,
                        Some(&v),
                        "is not a duration",
                        format!("Use e.g. `{name}: 10m` (units s, m, h, d)"),
                    );
                    default
                }
            },
        }
    }

    /// An integer within `range`.
    pub fn integer(
        &mut self,
        name: Input,
        range: std::ops::RangeInclusive<u64>,
        default: Option<u64>,
    ) -> Option<u64> {
        let v = self.string(name)?;
        match v.parse::<u64>() {
            Ok(n) if range.contains(&n) => Some(n),
            _ => {
                self.error(
                    name,
                    Some(&v),
                    format!(
                        "must be a whole number from {} to {}",
                        range.start(),
                        range.end()
                    ),
                    format!("e.g. `{name}: {}`", default.unwrap_or(*range.start())),
                );
                default
            }
        }
    }

    /// One of a fixed set of words (case-insensitive).
    pub fn choice(
        &mut self,
        name: Input,
        allowed: &[&'static str],
        default: &'static str,
    ) -> &'static str {
        match self.string(name) {
            None => default,
            Some(v) => {
                if let Some(a) = allowed.iter().find(|a| a.eq_ignore_ascii_case(&v)) {
                    a
                } else {
                    self.error(
                        name,
                        Some(&v),
                        format!("is not one of {}", code_list(allowed.iter())),
                        format!(
                            "e.g. `{name}: {}`",
                            allowed.first().copied().unwrap_or(default)
                        ),
                    );
                    default
                }
            }
        }
    }

    /// Parses a value with `f`, which returns the problem on failure; `fix` says what a good value is.
    pub fn parse_with<T>(
        &mut self,
        name: Input,
        fix: &str,
        f: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let v = self.text(name)?;
        match f(&v) {
            Ok(t) => Some(t),
            Err(problem) => {
                let shown = if v.len() > 200 || v.contains('\n') {
                    None
                } else {
                    Some(v.trim())
                };
                self.error(name, shown, problem, fix.to_owned());
                None
            }
        }
    }

    /// Records a problem that does not stop the run.
    pub fn warn(&mut self, name: Input, message: impl Into<String>) {
        self.warnings.push(InputWarning {
            input: name.as_str().to_owned(),
            message: message.into(),
        });
    }

    /// Warnings collected so far.
    #[must_use]
    pub fn warnings(&self) -> &[InputWarning] {
        &self.warnings
    }

    /// Ends parsing: `Err` with every collected error, in input order of discovery.
    pub fn finish(self) -> Result<(), InputErrors> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(InputErrors(self.errors))
        }
    }

    /// Ends parsing with the parser's result: every collected error when there is one, else the value.
    /// A parser that gives up (`Err`) holds the [`Recorded`] error that says why, so a failed parse never
    /// reports "0 invalid input(s)".
    pub fn finish_with<T>(self, parsed: Result<T, Recorded>) -> Result<T, InputErrors> {
        match (parsed, self.errors.is_empty()) {
            (Ok(t), true) => Ok(t),
            (_, false) => Err(InputErrors(self.errors)),
            (Err(Recorded(e)), true) => Err(InputErrors(vec![e])),
        }
    }

    /// Errors collected so far.
    #[must_use]
    pub fn error_count(&self) -> usize {
        self.errors.len()
    }
}

/// Splits on newlines and commas; trims; drops empty items.
#[must_use]
pub fn split_list(v: &str) -> Vec<String> {
    v.split(['\n', ','])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `90`, `90s`, `10m`, `1h30m`, `500ms`, `7d`.
#[must_use]
pub fn parse_duration(v: &str) -> Option<Duration> {
    let v = v.trim();
    if v.is_empty() {
        return None;
    }
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut num = String::new();
    let mut chars = v.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: u64 = num.parse().ok()?;
        num.clear();
        let unit = match c {
            'm' if chars.peek() == Some(&'s') => {
                chars.next();
                Duration::from_millis(n)
            }
            's' => Duration::from_secs(n),
            'm' => Duration::from_secs(n * 60),
            'h' => Duration::from_secs(n * 3600),
            'd' => Duration::from_secs(n * 86_400),
            _ => return None,
        };
        total += unit;
    }
    if !num.is_empty() {
        return None;
    }
    Some(total)
}

/// Tests: runs `parse` on the inputs of `pairs` (`("INPUT_X", "v")`), and returns what it returned with
/// every input error it recorded, as text.
#[cfg(test)]
pub fn parsed<T>(
    pairs: &[(&str, &str)],
    parse: impl FnOnce(&mut Inputs<'_>) -> T,
) -> (T, Vec<String>) {
    let env = crate::env::Env::from_pairs(pairs.iter().copied());
    let mut p = Inputs::new(&env);
    let out = parse(&mut p);
    let errs = p
        .finish()
        .err()
        .map(|e| e.0.iter().map(ToString::to_string).collect())
        .unwrap_or_default();
    (out, errs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hyphenated_and_underscore_spellings_are_both_read() {
        let env = Env::from_pairs([
            ("INPUT_AWS-REGION", "eu-west-1"),
            ("INPUT_ROLE_TO_ASSUME", "arn:x"),
        ]);
        let mut p = Inputs::new(&env);
        assert_eq!(p.string(Input::AwsRegion).as_deref(), Some("eu-west-1"));
        assert_eq!(p.string(Input::RoleToAssume).as_deref(), Some("arn:x"));
    }

    #[test]
    fn the_runner_spelling_wins_over_the_underscore_one() {
        let env = Env::from_pairs([
            ("INPUT_AWS-REGION", "eu-west-1"),
            ("INPUT_AWS_REGION", "us-east-1"),
        ]);
        assert_eq!(
            Inputs::new(&env).string(Input::AwsRegion).as_deref(),
            Some("eu-west-1")
        );
    }

    #[test]
    fn empty_means_unset() {
        let env = Env::from_pairs([("INPUT_AWS-REGION", "  ")]);
        assert_eq!(Inputs::new(&env).string(Input::AwsRegion), None);
    }

    #[test]
    fn booleans_are_strict_and_errors_are_collected() {
        let env = Env::from_pairs([
            ("INPUT_DRY-RUN", "yes"),
            ("INPUT_COMMENT", "TRUE"),
            ("INPUT_WAIT-TIMEOUT", "ten minutes"),
        ]);
        let mut p = Inputs::new(&env);
        assert!(!p.bool(Input::DryRun, false));
        assert!(p.bool(Input::Comment, false));
        p.duration(Input::WaitTimeout, Duration::from_secs(1));
        let errs = p.finish().unwrap_err();
        assert_eq!(errs.0.len(), 2);
        assert!(
            errs.to_string()
                .contains("input `dry-run` = `yes`: is not a boolean"),
            "{errs}"
        );
    }

    #[test]
    fn a_parser_that_gives_up_always_reports_why() {
        let env = Env::from_pairs([("INPUT_MODE", "deploy")]);
        // The proof of an error recorded elsewhere (another `Inputs`) still names it.
        let mut other = Inputs::new(&env);
        let recorded = other.missing(Input::Service, "for an ECS deploy", "web");
        let errs = Inputs::new(&env)
            .finish_with::<()>(Err(recorded.clone()))
            .unwrap_err();
        assert_eq!(errs.0, [recorded.error().clone()]);
        assert!(errs.to_string().starts_with("1 invalid input(s)"), "{errs}");
        // Errors collected alongside are all reported, the recorded one once.
        let mut p = Inputs::new(&env);
        let r = p.error(Input::Image, Some("x"), "is bad", "fix it");
        p.bool(Input::DryRun, false);
        assert_eq!(p.finish_with::<()>(Err(r)).unwrap_err().0.len(), 1);
        let mut p = Inputs::new(&env);
        p.error(Input::Image, Some("x"), "is bad", "fix it");
        assert_eq!(p.finish_with(Ok(1)).unwrap_err().0.len(), 1);
        assert_eq!(Inputs::new(&env).finish_with(Ok(1)), Ok(1));
    }

    #[test]
    fn lists_split_on_newlines_and_commas() {
        assert_eq!(split_list("a, b\n\nc,"), ["a", "b", "c"]);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Some(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("7d"), Some(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_duration("10x"), None);
        assert_eq!(parse_duration("m"), None);
    }
}
