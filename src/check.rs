//! `stevedore check [PATH...]`: every stevedore step of the workflow files under each PATH (default
//! `.github/workflows`), its `with:` validated offline exactly as a run validates it (docs/check.md).
//!
//! A step is a stevedore step when its `uses:` is `OWNER/stevedore@REF`, a local action (`./`, `./PATH`)
//! whose `action.yml` says `name: stevedore`, or a reference given with `--uses`. Its inputs are made
//! into the `INPUT_*` variables the runner sets (the `with:` values, `action.yml`'s defaults for the rest)
//! and handed to [`Config::from_env`], the first thing a run does: no token, no network, no cloud.
//!
//! `${{ … }}` expressions are known only when the job runs. `${{ env.NAME }}` is replaced by the `env:`
//! entry of the workflow, job or step that defines it; every other expression is replaced by each of
//! [`STAND_INS`] in turn, and the configuration is read once per stand-in. A problem is reported only when
//! every reading finds it, word for word, and it names no stand-in; a problem in an input whose whole
//! value is one expression is never reported (any value could arrive). What this leaves unjudged is
//! listed as a notice naming the input. The ref the trigger policy matches is not known offline either:
//! the policy's rules are read and checked, the ref is not (a run checks it first).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::Config;
use crate::env::Env;
use crate::inputs::{Input, InputError, InputWarning, input_keys};
use crate::report::{Commands, Level, Location};
use crate::yaml::{self, Node, TopKeys};
use crate::{EXIT_CONFIG, EXIT_OK};

/// Where workflows live: what `stevedore check` reads without a PATH.
pub const DEFAULT_PATH: &str = ".github/workflows";

/// What an expression is replaced by, one reading of the configuration each: an account id, a word, a
/// URL, a boolean, a step outcome, an image by digest.
pub const STAND_INS: [&str; 6] = [
    "402981736450",
    "stevedore-expr",
    "https://stevedore-expr.invalid",
    "true",
    "success",
    "402981736450.dkr.ecr.eu-west-1.amazonaws.com/stevedore-expr@sha256:5eb1b4f5e8e4a3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d8",
];

/// Text that only a stand-in puts into a message (a problem quoting it depends on the expression).
const STAND_IN_MARKS: [&str; 2] = ["402981736450", "stevedore-expr"];

/// The action's own `action.yml`, as built into this binary.
const ACTION_YML: &str = include_str!("../action.yml");

/// Why the check could not run at all (the workflows' problems are [`Finding`]s).
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("the action.yml built into stevedore does not parse: {0}")]
    ActionYml(serde_yaml_ng::Error),
}

/// One problem (or note) at a place in a workflow file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub file: String,
    /// 1-based; 0 when the problem is the file itself (unreadable).
    pub line: usize,
    pub level: Level,
    pub message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}: ", self.file, self.line)?;
        } else {
            write!(f, "{}: ", self.file)?;
        }
        write!(f, "{}: {}", self.level.command(), self.message)
    }
}

/// How steps are recognised.
#[derive(Clone, Debug)]
pub struct Options {
    /// More `uses:` references that are stevedore, without `@REF` (`acme/deploy-action`, `./tools/sd`).
    pub uses: Vec<String>,
    /// Where local actions (`uses: ./…`) are looked up: the repository's root, as the runner does.
    pub root: PathBuf,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            uses: Vec::new(),
            root: PathBuf::from("."),
        }
    }
}

/// Everything one check found.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    pub files: usize,
    pub steps: usize,
    pub findings: Vec<Finding>,
}

impl Outcome {
    #[must_use]
    pub fn errors(&self) -> usize {
        self.count(Level::Error)
    }

    #[must_use]
    pub fn count(&self, level: Level) -> usize {
        self.findings.iter().filter(|f| f.level == level).count()
    }

    /// `2` when there is an error, else `0`.
    #[must_use]
    pub fn exit_code(&self) -> u8 {
        if self.errors() > 0 {
            EXIT_CONFIG
        } else {
            EXIT_OK
        }
    }
}

#[derive(Deserialize)]
struct ActionYml {
    name: String,
    inputs: BTreeMap<String, ActionInput>,
}

#[derive(Deserialize)]
struct ActionInput {
    #[serde(default)]
    default: Option<serde_yaml_ng::Value>,
}

/// The inputs `action.yml` declares and the default the runner gives each one not written.
#[derive(Clone, Debug)]
pub struct Declared(BTreeMap<String, Option<String>>);

impl Declared {
    /// Those of the `action.yml` built into this binary.
    pub fn builtin() -> Result<Self, CheckError> {
        let a: ActionYml = serde_yaml_ng::from_str(ACTION_YML).map_err(CheckError::ActionYml)?;
        Ok(Self(
            a.inputs
                .into_iter()
                .map(|(k, v)| {
                    let d = v.default.map(|d| match d {
                        serde_yaml_ng::Value::String(s) => s,
                        serde_yaml_ng::Value::Bool(b) => b.to_string(),
                        serde_yaml_ng::Value::Number(n) => n.to_string(),
                        _ => String::new(),
                    });
                    (k, d)
                })
                .collect(),
        ))
    }

    fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// The declared input closest to a misspelt one (at most two edits away).
    fn closest(&self, name: &str) -> Option<&str> {
        self.0
            .keys()
            .map(|k| (edit_distance(k, name), k))
            .filter(|(d, _)| *d <= 2)
            .min()
            .map(|(_, k)| k.as_str())
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Whether `uses` names stevedore (see the module docs).
#[must_use]
pub fn is_stevedore(uses: &str, opts: &Options) -> bool {
    let uses = uses.trim();
    let name = uses.split_once('@').map_or(uses, |(n, _)| n);
    let norm = |s: &str| s.trim_end_matches('/').to_ascii_lowercase();
    if opts.uses.iter().any(|u| norm(u) == norm(name)) {
        return true;
    }
    if uses.starts_with("docker://") {
        return false;
    }
    if let Some(local) = uses.strip_prefix("./") {
        return local_action_is_stevedore(&opts.root.join(local));
    }
    let parts: Vec<&str> = name.split('/').collect();
    uses.contains('@') && parts.len() == 2 && parts[1].eq_ignore_ascii_case("stevedore")
}

fn local_action_is_stevedore(dir: &Path) -> bool {
    ["action.yml", "action.yaml"].iter().any(|f| {
        std::fs::read_to_string(dir.join(f))
            .ok()
            .and_then(|t| serde_yaml_ng::from_str::<ActionYml>(&t).ok())
            .is_some_and(|a| a.name.trim().eq_ignore_ascii_case("stevedore"))
    })
}

/// A stevedore step found in a file.
#[derive(Clone, Debug)]
struct Step<'a> {
    uses_line: usize,
    with: Option<(usize, &'a Node)>,
    /// The `env:` in scope (workflow, job, step), `${{ env.* }}` resolved.
    env: BTreeMap<String, String>,
}

fn key_line(node: &Node, key: &str) -> Option<usize> {
    match node {
        Node::Map { entries, .. } => entries
            .iter()
            .rev()
            .find(|(k, _, _)| k == key)
            .map(|(_, l, _)| *l),
        _ => None,
    }
}

fn with_env(outer: &BTreeMap<String, String>, env: Option<&Node>) -> BTreeMap<String, String> {
    let mut out = outer.clone();
    if let Some(Node::Map { entries, .. }) = env {
        for (k, _, v) in entries {
            if let Some(v) = v.as_str() {
                out.insert(k.clone(), resolve_env(v, outer));
            }
        }
    }
    out
}

/// Every stevedore step under `node`, in document order: a workflow, a job, a list of steps or one step.
fn find_steps<'a>(
    node: &'a Node,
    env: &BTreeMap<String, String>,
    opts: &Options,
    out: &mut Vec<Step<'a>>,
) {
    match node {
        Node::Map { entries, .. } => {
            let env = with_env(env, node.get("env"));
            if let Some(uses) = node.get("uses").and_then(Node::as_str)
                && is_stevedore(uses, opts)
            {
                out.push(Step {
                    uses_line: key_line(node, "uses").unwrap_or(node.line()),
                    with: node
                        .get("with")
                        .map(|w| (key_line(node, "with").unwrap_or(w.line()), w)),
                    env,
                });
                return;
            }
            for (k, _, child) in entries {
                if k != "env" {
                    find_steps(child, &env, opts, out);
                }
            }
        }
        Node::Seq { items, .. } => items.iter().for_each(|i| find_steps(i, env, opts, out)),
        Node::Scalar { .. } => {}
    }
}

/// The `${{ … }}` expressions of `text`, as (start, end) byte ranges.
fn expressions(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(s) = text[from..].find("${{") {
        let start = from + s;
        let Some(e) = text[start + 3..].find("}}") else {
            break;
        };
        let end = start + 3 + e + 2;
        out.push((start, end));
        from = end;
    }
    out
}

/// `text` with each expression replaced by `f(inner text)`, or kept when `f` gives `None`.
fn replace_expressions(text: &str, f: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::new();
    let mut last = 0;
    for (s, e) in expressions(text) {
        out.push_str(&text[last..s]);
        match f(text[s + 3..e - 2].trim()) {
            Some(v) => out.push_str(&v),
            None => out.push_str(&text[s..e]),
        }
        last = e;
    }
    out.push_str(&text[last..]);
    out
}

/// `${{ env.NAME }}` replaced by the `env:` entry in scope; other expressions kept.
fn resolve_env(text: &str, env: &BTreeMap<String, String>) -> String {
    replace_expressions(text, |e| {
        e.strip_prefix("env.")
            .filter(|n| {
                n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            })
            .and_then(|n| env.get(n).cloned())
    })
}

/// How a written value relates to expressions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Known {
    /// No expression: checked as written.
    Yes,
    /// Expressions inside other text: checked with stand-ins.
    Partly,
    /// One expression and nothing else: any value could arrive.
    No,
}

/// Whether (and how much of) `value` is known before the job runs.
#[must_use]
pub fn known(value: &str) -> Known {
    let ex = expressions(value);
    match ex.as_slice() {
        [] => Known::Yes,
        [(s, e)] if value[..*s].trim().is_empty() && value[*e..].trim().is_empty() => Known::No,
        _ => Known::Partly,
    }
}

/// One written input.
struct Written {
    value: String,
    line: usize,
    known: Known,
}

/// What one reading of the configuration found.
struct Reading {
    errors: Vec<InputError>,
    warnings: Vec<InputWarning>,
}

fn read_config(
    declared: &Declared,
    written: &BTreeMap<String, Written>,
    stand_in: &str,
) -> Reading {
    let mut env = Env::default();
    for (name, default) in &declared.0 {
        let value = written
            .get(name)
            .map(|w| w.value.clone())
            .or_else(|| default.clone());
        if let Some(v) = value {
            let v = replace_expressions(&v, |_| Some(stand_in.to_owned()));
            env.set(input_keys(name)[0].clone(), v);
        }
    }
    // The run's code path: `Config::from_env` is what `app::run` calls first.
    match Config::from_env(&env) {
        Ok(c) => Reading {
            errors: Vec::new(),
            warnings: c.warnings,
        },
        Err(e) => Reading {
            errors: e.0,
            warnings: Vec::new(),
        },
    }
}

/// `text` without the `column N` of YAML parse errors: a stand-in's length moves the columns after it, so
/// readings are compared (and reported) without them.
fn without_columns(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find(" column ") {
        let after = &rest[i + " column ".len()..];
        let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        out.push_str(&rest[..i]);
        if digits == 0 {
            out.push_str(" column ");
        }
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

/// The findings of one step.
fn check_step(file: &str, step: &Step<'_>, declared: &Declared, cmds: &Commands) -> Vec<Finding> {
    let mut found = Vec::new();
    let at = |line: usize, level: Level, message: String| Finding {
        file: file.to_owned(),
        line,
        level,
        message,
    };
    let mut written: BTreeMap<String, Written> = BTreeMap::new();
    match step.with {
        None | Some((_, Node::Scalar { .. })) => {}
        Some((line, Node::Seq { .. })) => found.push(at(
            line,
            Level::Error,
            "`with:` is a list; it must be a mapping of input names to values (`with:` then `mode: deploy` indented below it)".into(),
        )),
        Some((_, Node::Map { entries, .. })) => {
            for (k, line, v) in entries {
                if !declared.contains(k) {
                    let hint = declared
                        .closest(k)
                        .map(|c| format!(" Did you mean `{c}`?"))
                        .unwrap_or_default();
                    found.push(at(
                        *line,
                        Level::Error,
                        format!(
                            "`with: {k}` is not an input of stevedore: the runner ignores it (with a warning), so it configures nothing.{hint} The inputs are listed in action.yml and the README."
                        ),
                    ));
                    continue;
                }
                let Some(value) = v.as_str() else {
                    found.push(at(
                        *line,
                        Level::Error,
                        format!(
                            "input `{k}` is a YAML {}; an input is a string, and the runner refuses the workflow. Write it as a block scalar: `{k}: |` followed by the YAML, indented",
                            if matches!(v, Node::Map { .. }) { "mapping" } else { "list" }
                        ),
                    ));
                    continue;
                };
                let value = resolve_env(value, &step.env);
                written.insert(
                    k.clone(),
                    Written {
                        known: known(&value),
                        value,
                        line: *line,
                    },
                );
            }
        }
    }
    // Secrets written into the file are masked like a run masks them.
    for input in [Input::GithubToken, Input::NpmToken, Input::PypiToken] {
        if let Some(w) = written.get(input.as_str())
            && w.known == Known::Yes
        {
            cmds.add_mask(&w.value);
        }
    }
    if let Some(w) = written.get(Input::Notify.as_str()) {
        for url in crate::notify::secrets_in(&w.value) {
            cmds.add_mask(&url);
        }
    }
    let readings: Vec<Reading> = STAND_INS
        .iter()
        .map(|s| read_config(declared, &written, s))
        .collect();
    let line_of = |input: &str| {
        written
            .get(input)
            .map(|w| w.line)
            .or(step.with.map(|(l, _)| l))
            .unwrap_or(step.uses_line)
    };
    let shows_stand_in = |text: &str| STAND_IN_MARKS.iter().any(|s| text.contains(s));
    let whole_expression = |input: &str| written.get(input).is_some_and(|w| w.known == Known::No);
    // An input some reading finds nothing wrong with can hold a valid value: nothing to say about it.
    let same = |a: &str, b: &str| without_columns(a) == without_columns(b);
    let clean_somewhere = |input: &str| {
        readings
            .iter()
            .any(|r| r.errors.iter().all(|e| e.input != input))
    };
    let mut unjudged: Vec<String> = Vec::new();
    for e in &readings[0].errors {
        let everywhere = readings[1..].iter().all(|r| {
            r.errors
                .iter()
                .any(|o| o.input == e.input && same(&o.problem, &e.problem) && o.fix == e.fix)
        });
        if !everywhere
            || whole_expression(&e.input)
            || shows_stand_in(&e.problem)
            || shows_stand_in(&e.fix)
        {
            if !clean_somewhere(&e.input) && !unjudged.contains(&e.input) {
                unjudged.push(e.input.clone());
            }
            continue;
        }
        let mut shown = e.clone();
        if written.get(&e.input).is_some_and(|w| w.known != Known::Yes) {
            shown.problem = without_columns(&shown.problem);
        }
        if shown.value.as_deref().is_some_and(shows_stand_in) {
            shown.value = written
                .get(&e.input)
                .map(|w| w.value.trim().to_owned())
                .filter(|v| !v.contains('\n') && v.len() <= 200);
        }
        found.push(at(line_of(&e.input), Level::Error, shown.to_string()));
    }
    for w in &readings[0].warnings {
        let everywhere = readings[1..].iter().all(|r| {
            r.warnings
                .iter()
                .any(|o| o.input == w.input && same(&o.message, &w.message))
        });
        if everywhere && !whole_expression(&w.input) && !shows_stand_in(&w.message) {
            let shown = InputWarning {
                input: w.input.clone(),
                message: without_columns(&w.message),
            };
            found.push(at(line_of(&w.input), Level::Warning, shown.to_string()));
        }
    }
    for input in unjudged {
        let why = match written.get(&input) {
            Some(w) if w.known != Known::Yes => {
                "its value holds an expression known only when the job runs".to_owned()
            }
            _ => "it is judged together with an input whose value holds an expression known only when the job runs".to_owned(),
        };
        found.push(at(
            line_of(&input),
            Level::Notice,
            format!("input `{input}` is not checked offline: {why}, and no stand-in for it made a valid value; the run checks it before anything else"),
        ));
    }
    // In the order of the file.
    found.sort_by_key(|f| f.line);
    found
}

/// Checks one workflow file's text; `file` names it in the findings. Returns the findings and the number
/// of stevedore steps.
#[must_use]
pub fn check_text(
    file: &str,
    text: &str,
    declared: &Declared,
    opts: &Options,
    cmds: &Commands,
) -> (Vec<Finding>, usize) {
    let mut found = Vec::new();
    let docs = match yaml::tree(text) {
        Ok(d) => d,
        Err((msg, line)) => {
            found.push(Finding {
                file: file.to_owned(),
                line,
                level: Level::Error,
                message: format!("not YAML: {msg}"),
            });
            return (found, 0);
        }
    };
    for d in yaml::duplicates(text, TopKeys::Exact) {
        found.push(Finding {
            file: file.to_owned(),
            line: d.second_line,
            level: Level::Error,
            message: format!("the file {d}; GitHub refuses a workflow with a duplicate key"),
        });
    }
    let mut steps = Vec::new();
    for doc in &docs {
        find_steps(doc, &BTreeMap::new(), opts, &mut steps);
    }
    for s in &steps {
        found.extend(check_step(file, s, declared, cmds));
    }
    (found, steps.len())
}

/// The workflow files a PATH names: itself, or the `.yml`/`.yaml` files directly in a folder (GitHub
/// reads no subfolder of `.github/workflows`), sorted.
fn files_of(path: &Path) -> Result<Vec<PathBuf>, std::io::Error> {
    if !path.is_dir() {
        std::fs::metadata(path)?;
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    for e in std::fs::read_dir(path)? {
        let p = e?.path();
        if p.is_file() && p.extension().is_some_and(|x| x == "yml" || x == "yaml") {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

/// Checks every workflow file under `paths` (default [`DEFAULT_PATH`]).
pub fn check_paths(
    paths: &[String],
    opts: &Options,
    cmds: &Commands,
) -> Result<Outcome, CheckError> {
    let declared = Declared::builtin()?;
    let default = [DEFAULT_PATH.to_owned()];
    let paths = if paths.is_empty() {
        &default[..]
    } else {
        paths
    };
    let mut out = Outcome::default();
    for p in paths {
        let files = match files_of(Path::new(p)) {
            Ok(f) => f,
            Err(e) => {
                out.findings.push(Finding {
                    file: p.clone(),
                    line: 0,
                    level: Level::Error,
                    message: format!("cannot read it: {e}"),
                });
                continue;
            }
        };
        for f in files {
            let name = f.to_string_lossy().into_owned();
            out.files += 1;
            match std::fs::read_to_string(&f) {
                Ok(text) => {
                    let (found, steps) = check_text(&name, &text, &declared, opts, cmds);
                    out.findings.extend(found);
                    out.steps += steps;
                }
                Err(e) => out.findings.push(Finding {
                    file: name,
                    line: 0,
                    level: Level::Error,
                    message: format!("cannot read it: {e}"),
                }),
            }
        }
    }
    Ok(out)
}

/// `stevedore check`: checks, prints every finding (workflow commands inside Actions, `file:line:
/// level: message` outside) and a summary; returns the exit code (2 when any error, else 0).
pub fn run(paths: &[String], opts: &Options, cmds: &Commands) -> u8 {
    let outcome = match check_paths(paths, opts, cmds) {
        Ok(o) => o,
        Err(e) => {
            cmds.annotate(
                Level::Error,
                Some("stevedore check"),
                &Location::default(),
                &e.to_string(),
            );
            return crate::EXIT_FAILED;
        }
    };
    for f in &outcome.findings {
        if cmds.in_actions() {
            let loc = Location {
                file: Some(f.file.clone()),
                line: u32::try_from(f.line).ok().filter(|l| *l > 0),
                ..Location::default()
            };
            cmds.annotate(f.level, Some("stevedore check"), &loc, &f.message);
        } else {
            cmds.line(&f.to_string());
        }
    }
    let mut summary = format!(
        "stevedore check: {} file(s), {} stevedore step(s): {} error(s), {} warning(s), {} input(s) not checked offline",
        outcome.files,
        outcome.steps,
        outcome.errors(),
        outcome.count(Level::Warning),
        outcome.count(Level::Notice)
    );
    if outcome.steps == 0 {
        summary.push_str(
            ". No step uses stevedore (`OWNER/stevedore@REF`, or `./` whose action.yml is stevedore's); name other references with `--uses`",
        );
    }
    cmds.line(&summary);
    outcome.exit_code()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> (Vec<Finding>, usize) {
        let (cmds, _) = Commands::buffer(crate::report::Masker::default(), false);
        check_text(
            "wf.yml",
            text,
            &Declared::builtin().unwrap(),
            &Options::default(),
            &cmds,
        )
    }

    fn errors(text: &str) -> Vec<String> {
        check(text)
            .0
            .into_iter()
            .filter(|f| f.level == Level::Error)
            .map(|f| f.to_string())
            .collect()
    }

    #[test]
    fn steps_are_found_in_workflows_jobs_and_step_lists() {
        let opts = Options::default();
        assert!(is_stevedore("acme/stevedore@v1", &opts));
        assert!(is_stevedore("Acme/Stevedore@3f1c2a9e", &opts));
        assert!(
            !is_stevedore("acme/stevedore", &opts),
            "no ref: not runnable"
        );
        assert!(!is_stevedore("acme/stevedore-tools@v1", &opts));
        assert!(!is_stevedore(
            "acme/stevedore/.github/workflows/x.yml@v1",
            &opts
        ));
        assert!(!is_stevedore("actions/checkout@v5", &opts));
        assert!(!is_stevedore("docker://ghcr.io/acme/stevedore:v1", &opts));
        let mine = Options {
            uses: vec!["acme/deploy-action".into()],
            ..Options::default()
        };
        assert!(is_stevedore("acme/deploy-action@v2", &mine));
        // `./` is this repository's own action.yml (the tests run at the crate root).
        assert!(is_stevedore("./", &opts));
        assert!(!is_stevedore("./src", &opts));

        let wf = "on: push\njobs:\n  a:\n    steps:\n      - uses: actions/checkout@v5\n      - uses: acme/stevedore@v1\n        with: { mode: lint-gate }\n  b:\n    steps:\n      - name: x\n        uses: acme/stevedore@v1\n";
        assert_eq!(check(wf).1, 2);
        assert_eq!(
            check("- uses: acme/stevedore@v1\n  with:\n    mode: lint-gate\n").1,
            1
        );
        assert_eq!(check("steps:\n  - uses: acme/stevedore@v1\n").1, 1);
    }

    #[test]
    fn every_problem_is_named_with_its_line() {
        let wf = "jobs:\n  a:\n    steps:\n      - uses: acme/stevedore@v1\n        with:\n          mode: deploi\n          dry-rnu: true\n      - uses: acme/stevedore@v1\n        with:\n          mode: build\n          dry-run: maybe\n          build-args: { A: b }\n";
        let e = errors(wf);
        assert_eq!(e.len(), 5, "{e:#?}");
        assert!(
            e[0].starts_with("wf.yml:6: error: input `mode` = `deploi`: is not a mode"),
            "{}",
            e[0]
        );
        assert!(
            e[1].starts_with("wf.yml:7: error: `with: dry-rnu` is not an input"),
            "{}",
            e[1]
        );
        assert!(e[1].contains("Did you mean `dry-run`?"), "{}", e[1]);
        // An input the step lacks is named at its `with:`.
        assert!(
            e[2].starts_with("wf.yml:9: error: input `build-type`: cannot be inferred"),
            "{}",
            e[2]
        );
        assert!(
            e[3].starts_with("wf.yml:11: error: input `dry-run` = `maybe`: is not a boolean"),
            "{}",
            e[3]
        );
        assert!(
            e[4].starts_with("wf.yml:12: error: input `build-args` is a YAML mapping"),
            "{}",
            e[4]
        );
    }

    #[test]
    fn a_whole_expression_is_unknown_and_never_an_error() {
        let wf = "- uses: acme/stevedore@v1\n  with:\n    mode: deploy\n    function-name: api\n    zip-file: app.zip\n    role-duration-seconds: ${{ vars.DURATION }}\n    dry-run: ${{ github.event_name == 'pull_request' }}\n";
        let (found, _) = check(wf);
        assert!(found.iter().all(|f| f.level != Level::Error), "{found:#?}");
        let notices: Vec<String> = found
            .iter()
            .filter(|f| f.level == Level::Notice)
            .map(ToString::to_string)
            .collect();
        // `dry-run` is judged with the stand-in `true`; no stand-in is a number from 900 to 43200.
        assert_eq!(notices.len(), 1, "{notices:#?}");
        assert!(
            notices.iter().any(|n| n.starts_with(
                "wf.yml:6: notice: input `role-duration-seconds` is not checked offline"
            )),
            "{notices:#?}"
        );
        // Present, though unknown: a required input given as an expression is not "missing".
        let wf = "- uses: acme/stevedore@v1\n  with:\n    mode: deploy\n    function-name: ${{ vars.FN }}\n    zip-file: app.zip\n";
        assert_eq!(errors(wf), Vec::<String>::new());
    }

    #[test]
    fn an_expression_inside_a_value_gives_no_false_error_and_hides_no_real_one() {
        let envs = "    environment: production\n    environments: |\n      production: { role: \"arn:aws:iam::${{ vars.PROD_ACCOUNT_ID }}:role/deploy\", region: eu-west-1, account-id: \"${{ vars.PROD_ACCOUNT_ID }}\" }\n";
        let good = format!(
            "- uses: acme/stevedore@v1\n  with:\n    mode: deploy\n    function-name: api-${{{{ github.ref_name }}}}\n    zip-file: app.zip\n    health-url: ${{{{ vars.API_URL }}}}/health\n{envs}"
        );
        assert_eq!(errors(&good), Vec::<String>::new(), "{good}");
        // The same step with a value no expression can mend: still an error, on its line.
        let bad = good.replace(
            "zip-file: app.zip",
            "zip-file: app.zip\n    health-status: ok",
        );
        let e = errors(&bad);
        assert_eq!(e.len(), 1, "{e:#?}");
        assert!(
            e[0].starts_with("wf.yml:6: error: input `health-status` = `ok`"),
            "{}",
            e[0]
        );
    }

    #[test]
    fn a_typo_next_to_an_expression_is_still_found() {
        let wf = "- uses: acme/stevedore@v1\n  with:\n    mode: credentials\n    environment: staging\n    environments: |\n      staging: { role: \"arn:aws:iam::${{ vars.ID }}:role/deploy\", regoin: eu-west-1 }\n";
        let e = errors(wf);
        assert_eq!(e.len(), 1, "{e:#?}");
        assert!(
            e[0].starts_with("wf.yml:5: error: input `environments`"),
            "{}",
            e[0]
        );
        assert!(e[0].contains("regoin"), "{}", e[0]);
        assert!(!e[0].contains("402981736450"), "{}", e[0]);
        assert_eq!(
            without_columns("x at line 1 column 85, y column z"),
            "x at line 1, y column z"
        );
    }

    #[test]
    fn env_expressions_are_resolved_from_the_env_in_scope() {
        let wf = "env:\n  ENVS: |\n    dev: { role: not-an-arn, region: eu-west-1 }\njobs:\n  a:\n    steps:\n      - uses: acme/stevedore@v1\n        with:\n          mode: credentials\n          environment: dev\n          environments: ${{ env.ENVS }}\n";
        let e = errors(wf);
        assert_eq!(e.len(), 1, "{e:#?}");
        assert!(
            e[0].starts_with("wf.yml:11: error: input `environments`"),
            "{}",
            e[0]
        );
        assert_eq!(
            resolve_env(
                "a-${{ env.X }}-${{ env.Y }}-${{ vars.Z }}",
                &BTreeMap::from([("X".into(), "1".into())])
            ),
            "a-1-${{ env.Y }}-${{ vars.Z }}"
        );
        assert_eq!(known("${{ a }}"), Known::No);
        assert_eq!(known("  ${{ a }}\n"), Known::No);
        assert_eq!(known("${{ a }}/${{ b }}"), Known::Partly);
        assert_eq!(known("x-${{ a }}"), Known::Partly);
        assert_eq!(known("plain ${{"), Known::Yes);
    }

    #[test]
    fn a_file_that_is_not_yaml_or_repeats_a_key_is_an_error() {
        let e = errors("jobs:\n  a: [\n");
        assert_eq!(e.len(), 1, "{e:#?}");
        assert!(e[0].contains("not YAML"), "{}", e[0]);
        let e =
            errors("- uses: acme/stevedore@v1\n  with:\n    mode: lint-gate\n    mode: build\n");
        assert!(
            e.iter()
                .any(|x| x.starts_with("wf.yml:4: error: the file has the key `mode` twice")),
            "{e:#?}"
        );
    }
}
