//! Docs that run: every YAML snippet in README.md, docs/*.md and examples/*.yml that configures stevedore
//! is parsed by the product's own input parsers (`Config::parse`), as the runner would hand it over.
//!
//! - A step whose `uses:` names stevedore (`…/stevedore@…`, or `./` — the repository's own action in this
//!   repository's docs) is read as the runner reads it: each `with:` key must be an input of `action.yml`,
//!   the value becomes `INPUT_<NAME>`, and every other input gets its `action.yml` default. `${{ … }}` is
//!   replaced by a plausible value for what it names (`steps.x.outcome` → `success`, `vars.*_ACCOUNT_ID` →
//!   an account id, `env.X` → the workflow's own `env:` entry, …); an expression the table below does not
//!   know fails the test, so a new one must be given a value here.
//! - A standalone block whose keys are all inputs (e.g. `trigger-policy: |` in docs/credentials.md) is
//!   parsed with every mode that reads those inputs.
//!
//! Docs snippets show only the inputs they are about, so an error about an input a doc snippet does not
//! set (a required input left out) is not counted; every error about an input it does set is. The example
//! workflows are complete: every error counts. A failure names the file and line of the snippet.

use crate::helpers::has;
use std::collections::{BTreeMap, BTreeSet};

use serde_yaml_ng::{Mapping, Value};
use stevedore::Env;
use stevedore::config::Config;
use stevedore::inputs::{Inputs, Mode};

use crate::helpers::runner::repo_root;
use crate::helpers::workflow::{action_yml_inputs, replace_expressions};

/// One `uses: …stevedore…` step or standalone input block.
#[derive(Debug)]
struct Snippet {
    /// `docs/lint-gate.md:61`.
    at: String,
    inputs: BTreeMap<String, String>,
    /// All errors count (complete workflows), or only those about the inputs set.
    complete: bool,
    standalone: bool,
}

/// `action.yml`'s inputs and their defaults.
fn action_inputs() -> BTreeMap<String, Option<String>> {
    action_yml_inputs()
        .iter()
        .map(|(k, v)| (k.as_str().unwrap().to_owned(), v.get("default").map(scalar)))
        .collect()
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Null => String::new(),
        other => serde_yaml_ng::to_string(other).unwrap(),
    }
}

const SHA: &str = "3f1c2a9e8d7b6c5a4f3e2d1c0b9a8f7e6d5c4b3a";
const DIGEST: &str = "sha256:0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

/// A plausible value for one expression (without `${{ }}`); `None` when the table has none.
fn plausible(expr: &str, env: &BTreeMap<String, String>) -> Option<String> {
    let e = expr.trim();
    if let Some(name) = e.strip_prefix("env.") {
        return env.get(name).cloned();
    }
    let image = format!("123456789012.dkr.ecr.eu-west-1.amazonaws.com/app@{DIGEST}");
    let v = match e {
        "github.sha" => SHA.to_owned(),
        "github.token" => "ghs_0123456789abcdefghijklmnopqrstuvwxyzAB".to_owned(),
        "github.ref" => "refs/heads/main".to_owned(),
        "github.ref_name == 'main'" => "true".to_owned(),
        "vars.ECR_REGISTRY" => "123456789012.dkr.ecr.eu-west-1.amazonaws.com".to_owned(),
        // The examples say: empty means the endpoint ECR names.
        "vars.ECR_REGISTRY_ALIAS" => String::new(),
        "vars.ARTIFACTS_BUCKET" => "acme-artifacts".to_owned(),
        "vars.SCAN_SEVERITY_THRESHOLD || 'high'" => "high".to_owned(),
        // The package examples: the public registries unless a variable names another.
        "vars.NPM_REGISTRY || 'https://registry.npmjs.org'" => "https://registry.npmjs.org".to_owned(),
        "vars.PYPI_REPOSITORY || 'https://upload.pypi.org/legacy/'" => {
            "https://upload.pypi.org/legacy/".to_owned()
        }
        // Empty for pypi.org.
        "vars.PYPI_AUDIENCE" => String::new(),
        "vars.STEVEDORE_ENVIRONMENTS" => "production: { role: \"arn:aws:iam::333333333333:role/github-deploy\", region: eu-west-1, account-id: \"333333333333\" }".to_owned(),
        // examples/rollback.yml's workflow_dispatch inputs.
        "inputs.environment" => "dev".to_owned(),
        "inputs.version" => "previous".to_owned(),
        "inputs.environment == 'production' && 'prod' || 'dev'" => "dev".to_owned(),
        "inputs.environment == 'production' && vars.PROD_API_URL || vars.DEV_API_URL" => {
            "https://api.example.com".to_owned()
        }
        _ if e.starts_with("vars.") && e.ends_with("_ACCOUNT_ID") => "123456789012".to_owned(),
        // Empty in a real repository (the service's own URL is checked); set under act.
        _ if e.starts_with("vars.") && e.ends_with("_HEALTH_URL") => String::new(),
        _ if e.starts_with("vars.") && e.ends_with("_API_URL") => {
            "https://api.example.com".to_owned()
        }
        // Incoming-webhook URLs (`notify`) live in secrets named `*_WEBHOOK`.
        _ if e.starts_with("secrets.") && e.ends_with("_WEBHOOK") => {
            format!("https://hooks.slack.com/services/T000/B000/{}", &e["secrets.".len()..])
        }
        _ if e.starts_with("steps.") && e.ends_with(".outcome") => "success".to_owned(),
        _ if e.ends_with(".outputs.image") => image,
        _ if e.ends_with(".outputs.digest") => DIGEST.to_owned(),
        _ if e.ends_with(".outputs.bucket") || e.ends_with(".outputs.s3-bucket") => {
            "acme-artifacts".to_owned()
        }
        _ if e.ends_with("-key") && e.contains(".outputs.") => "app/1.4.0/app.zip".to_owned(),
        _ if e.ends_with(".outputs.version") => "1.4.0".to_owned(),
        _ if e.ends_with(".outputs.tag") => "v1.4.0".to_owned(),
        _ => return None,
    };
    Some(v)
}

/// Replaces every `${{ … }}` in `text`; `Err` names the first expression without a plausible value.
fn substitute(text: &str, env: &BTreeMap<String, String>) -> Result<String, String> {
    replace_expressions(text, |expr| {
        plausible(expr, env).ok_or_else(|| {
            format!("no plausible value for `${{{{{expr}}}}}`: add one to docs_snippets::plausible")
        })
    })
}

fn is_stevedore(uses: &str) -> bool {
    uses.contains("stevedore") || uses == "./"
}

/// The `env:` of a workflow or job, expressions substituted.
fn env_map(m: Option<&Value>, base: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut env = base.clone();
    if let Some(Value::Mapping(m)) = m {
        for (k, v) in m {
            if let (Some(k), v) = (k.as_str(), scalar(v)) {
                let v = substitute(&v, base).unwrap_or(v);
                env.insert(k.to_owned(), v);
            }
        }
    }
    env
}

/// Every stevedore step under `v`, in document order, with the `env:` in scope.
fn collect_steps(
    v: &Value,
    env: &BTreeMap<String, String>,
    out: &mut Vec<(Mapping, BTreeMap<String, String>)>,
) {
    match v {
        Value::Mapping(m) => {
            let env = env_map(m.get("env"), env);
            if let Some(uses) = m.get("uses").and_then(Value::as_str)
                && is_stevedore(uses)
            {
                out.push((m.clone(), env));
                return;
            }
            for (k, child) in m {
                if k.as_str() != Some("env") {
                    collect_steps(child, &env, out);
                }
            }
        }
        Value::Sequence(s) => s.iter().for_each(|c| collect_steps(c, env, out)),
        _ => {}
    }
}

/// The line numbers (1-based, in `text`) of the stevedore `uses:` lines, in order.
fn uses_lines(text: &str) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            let t = l.trim_start().trim_start_matches("- ").trim_start();
            t.strip_prefix("uses:")
                .is_some_and(|u| is_stevedore(u.split('#').next().unwrap_or_default().trim()))
        })
        .map(|(i, _)| i + 1)
        .collect()
}

/// The snippets of one YAML text that starts at `first_line` of `file`.
fn snippets_of(
    file: &str,
    first_line: usize,
    text: &str,
    complete: bool,
    inputs: &BTreeMap<String, Option<String>>,
    problems: &mut Vec<String>,
) -> Vec<Snippet> {
    let doc: Value = match serde_yaml_ng::from_str(text) {
        Ok(d) => d,
        Err(e) => {
            problems.push(format!(
                "{file}:{first_line}: the YAML block does not parse: {e}"
            ));
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    // A standalone block of inputs (`trigger-policy: |`, `checks: |`, …).
    if let Value::Mapping(m) = &doc
        && !m.is_empty()
        && m.keys()
            .all(|k| k.as_str().is_some_and(|k| inputs.contains_key(k)))
    {
        let mut set = BTreeMap::new();
        for (k, v) in m {
            match substitute(&scalar(v), &BTreeMap::new()) {
                Ok(v) => {
                    set.insert(k.as_str().unwrap_or_default().to_owned(), v);
                }
                Err(e) => problems.push(format!("{file}:{first_line}: {e}")),
            }
        }
        out.push(Snippet {
            at: format!("{file}:{first_line}"),
            inputs: set,
            complete: false,
            standalone: true,
        });
        return out;
    }
    let mut steps = Vec::new();
    let top_env = env_map(doc.get("env"), &BTreeMap::new());
    collect_steps(&doc, &top_env, &mut steps);
    let lines = uses_lines(text);
    assert_eq!(
        lines.len(),
        steps.len(),
        "{file}:{first_line}: found {} stevedore `uses:` lines but {} steps",
        lines.len(),
        steps.len()
    );
    for ((step, env), line) in steps.into_iter().zip(lines) {
        let at = format!("{file}:{}", first_line + line - 1);
        let Some(with) = step.get("with").and_then(Value::as_mapping) else {
            // `- uses: ORG/stevedore@v1` alone (docs/pipelines.md's pinning examples) configures nothing.
            continue;
        };
        let mut set = BTreeMap::new();
        for (k, v) in with {
            let k = k.as_str().unwrap_or_default().to_owned();
            if !inputs.contains_key(&k) {
                problems.push(format!(
                    "{at}: `with: {k}` is not an input of action.yml (the runner warns and ignores it)"
                ));
                continue;
            }
            match substitute(&scalar(v), &env) {
                Ok(v) => {
                    set.insert(k, v);
                }
                Err(e) => problems.push(format!("{at}: input `{k}`: {e}")),
            }
        }
        out.push(Snippet {
            at,
            inputs: set,
            complete,
            standalone: false,
        });
    }
    out
}

/// The fenced ```yaml blocks of a Markdown file: (line of the first YAML line, text).
fn yaml_blocks(md: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, usize, String)> = None;
    for (i, line) in md.lines().enumerate() {
        let t = line.trim_start();
        match &mut current {
            None if t.starts_with("```yaml") || t.starts_with("```yml") => {
                current = Some((i + 2, line.len() - t.len(), String::new()));
            }
            Some((start, indent, text)) => {
                if t.starts_with("```") {
                    out.push((*start, std::mem::take(text)));
                    current = None;
                } else {
                    let cut = line
                        .char_indices()
                        .nth(*indent)
                        .map_or(line.len(), |(b, _)| b)
                        .min(line.len() - t.len());
                    text.push_str(&line[cut..]);
                    text.push('\n');
                }
            }
            None => {}
        }
    }
    out
}

/// Parses one snippet; returns its problems.
fn check(s: &Snippet, inputs: &BTreeMap<String, Option<String>>) -> Vec<String> {
    let modes: Vec<Option<Mode>> = if s.standalone {
        Mode::ALL.into_iter().map(Some).collect()
    } else {
        vec![None]
    };
    let mut problems = Vec::new();
    let mut read_by_some = BTreeSet::new();
    for mode in modes {
        let mut env = Env::default();
        // The runner exports every declared input: the value written, else the default.
        for (name, default) in inputs {
            let value = s.inputs.get(name).cloned().or_else(|| {
                default
                    .as_ref()
                    .map(|d| substitute(d, &BTreeMap::new()).unwrap())
            });
            if let Some(v) = value {
                env.set(stevedore::inputs::input_keys(name)[0].clone(), v);
            }
        }
        if let Some(m) = mode {
            env.set("INPUT_MODE", m.as_str());
        }
        let mut p = Inputs::new(&env);
        let _config = Config::parse(&mut p);
        let read = p.names_read().clone();
        if mode.is_some() && !s.inputs.keys().any(|k| read.contains(k.as_str())) {
            continue;
        }
        read_by_some.extend(read.iter().map(|s| (*s).to_owned()));
        if let Err(errors) = p.finish() {
            for e in errors.0 {
                if s.complete || s.inputs.contains_key(&e.input) {
                    let mode = mode.map(|m| format!(" (mode {m})")).unwrap_or_default();
                    problems.push(format!("{}{mode}: {e}", s.at));
                }
            }
        }
    }
    if s.standalone {
        for k in s.inputs.keys() {
            if !read_by_some.contains(k) {
                problems.push(format!("{}: input `{k}` is read by no mode", s.at));
            }
        }
    }
    problems
}

fn all_snippets(problems: &mut Vec<String>) -> Vec<Snippet> {
    let root = repo_root();
    let inputs = action_inputs();
    let mut files: Vec<String> = vec!["README.md".into()];
    for dir in ["docs", "examples"] {
        let mut names: Vec<String> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".md") || n.ends_with(".yml"))
            .map(|n| format!("{dir}/{n}"))
            .collect();
        names.sort();
        files.extend(names);
    }
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(root.join(&f)).unwrap();
        if f.ends_with(".yml") {
            out.extend(snippets_of(&f, 1, &text, true, &inputs, problems));
        } else {
            for (line, block) in yaml_blocks(&text) {
                out.extend(snippets_of(&f, line, &block, false, &inputs, problems));
            }
        }
    }
    out
}

#[test]
fn every_snippet_that_configures_stevedore_parses() {
    let inputs = action_inputs();
    let mut problems = Vec::new();
    let snippets = all_snippets(&mut problems);
    for s in &snippets {
        problems.extend(check(s, &inputs));
    }
    let per_file = snippets
        .iter()
        .fold(BTreeMap::<&str, usize>::new(), |mut m, s| {
            *m.entry(s.at.split(':').next().unwrap_or_default())
                .or_default() += 1;
            m
        });
    eprintln!("{} snippets parsed: {per_file:?}", snippets.len());
    // Every place that documents a configuration is seen (a regression in the extractor would pass
    // silently otherwise).
    for f in [
        "README.md",
        "docs/build.md",
        "docs/credentials.md",
        "docs/deploy-app-runner.md",
        "docs/deploy-ecs.md",
        "docs/deploy-ecs-express.md",
        "docs/deploy-lambda.md",
        "docs/lint-gate.md",
        "docs/previews.md",
        "docs/publish.md",
        "docs/promotion.md",
        "docs/rollback.md",
        "examples/container.yml",
        "examples/frontend.yml",
        "examples/python-package.yml",
        "examples/preview.yml",
        "examples/promotion.yml",
        "examples/rollback.yml",
        "examples/serverless.yml",
        "examples/standards.yml",
        "examples/typescript-package.yml",
        "examples/versioned.yml",
    ] {
        assert!(
            per_file.contains_key(f),
            "no snippet found in {f}: {per_file:?}"
        );
    }
    assert!(
        snippets.iter().any(|s| s.standalone),
        "the standalone `trigger-policy:` block of docs/credentials.md was not found"
    );
    assert!(
        problems.is_empty(),
        "{} snippet problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn a_broken_snippet_is_named_by_file_and_line() {
    let inputs = action_inputs();
    let md = "intro\n\n```yaml\nsteps:\n  - uses: org/stevedore@v1\n    with:\n      mode: lint-gate\n      checks: |\n        - name: Types\n          results: { file: tsc.txt }\n```\n";
    let mut problems = Vec::new();
    let mut snippets = Vec::new();
    for (line, block) in yaml_blocks(md) {
        snippets.extend(snippets_of(
            "docs/x.md",
            line,
            &block,
            false,
            &inputs,
            &mut problems,
        ));
    }
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(snippets.len(), 1);
    let found = check(&snippets[0], &inputs);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("docs/x.md:5: "), "{}", found[0]);
    has(&found[0], "`checks`");
    // An unknown expression is a failure too, not a silent pass.
    assert!(substitute("${{ steps.x.outputs.whatever }}", &BTreeMap::new()).is_err());
    // And a with: key action.yml does not declare.
    let md =
        "```yaml\n- uses: org/stevedore@v1\n  with:\n    mode: lint-gate\n    chekcs: x\n```\n";
    let mut problems = Vec::new();
    for (line, block) in yaml_blocks(md) {
        snippets_of("docs/y.md", line, &block, false, &inputs, &mut problems);
    }
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("docs/y.md:2: `with: chekcs`"),
        "{}",
        problems[0]
    );
}

#[test]
fn the_documented_results_shape_of_lint_gate_is_read() {
    // docs/lint-gate.md documents `results: { path: tsc.txt, format: text }`; it used to exit 2.
    let text = std::fs::read_to_string(repo_root().join("docs/lint-gate.md")).unwrap();
    assert!(text.contains("results: { path: tsc.txt, format: text }"));
    let inputs = action_inputs();
    let mut problems = Vec::new();
    let snippets: Vec<Snippet> = yaml_blocks(&text)
        .into_iter()
        .flat_map(|(line, block)| {
            snippets_of(
                "docs/lint-gate.md",
                line,
                &block,
                false,
                &inputs,
                &mut problems,
            )
        })
        .collect();
    let gate = snippets
        .iter()
        .find(|s| {
            s.inputs
                .get("checks")
                .is_some_and(|c| c.contains("tsc.txt"))
        })
        .unwrap();
    assert_eq!(check(gate, &inputs), Vec::<String>::new());
}

/// Every `run:` text of every job (or bare `steps:` list) in a workflow or snippet, in order.
fn job_runs(doc: &Value) -> Vec<Vec<String>> {
    let steps_runs = |steps: Option<&Value>| -> Vec<String> {
        steps
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
            .filter_map(|s| s.get("run").and_then(Value::as_str).map(str::to_owned))
            .collect()
    };
    let mut out = Vec::new();
    if let Some(jobs) = doc.get("jobs").and_then(Value::as_mapping) {
        for (_, job) in jobs {
            out.push(steps_runs(job.get("steps")));
        }
    }
    if doc.get("steps").is_some() {
        out.push(steps_runs(doc.get("steps")));
    }
    out
}

/// `bandit -f sarif` needs bandit's `sarif` extra: plain `pip install bandit` (1.9) answers
/// `argument -f/--format: invalid choice: 'sarif'` and exits 2 (issue 13, item 6). Every job in the examples
/// and docs that runs bandit with SARIF output installs `bandit[sarif]` in an earlier step.
#[test]
fn every_bandit_sarif_step_installs_the_sarif_extra() {
    let root = repo_root();
    let mut texts: Vec<(String, String)> = Vec::new();
    for dir in ["docs", "examples"] {
        for e in std::fs::read_dir(root.join(dir)).unwrap() {
            let name = e.unwrap().file_name().into_string().unwrap();
            let text = std::fs::read_to_string(root.join(dir).join(&name)).unwrap();
            if name.ends_with(".yml") {
                texts.push((format!("{dir}/{name}"), text));
            } else if name.ends_with(".md") {
                for (line, block) in yaml_blocks(&text) {
                    texts.push((format!("{dir}/{name}:{line}"), block));
                }
            }
        }
    }
    let mut seen = 0;
    let mut problems = Vec::new();
    for (at, text) in texts {
        let Ok(doc) = serde_yaml_ng::from_str::<Value>(&text) else {
            continue;
        };
        for runs in job_runs(&doc) {
            for (i, run) in runs.iter().enumerate() {
                let sarif = run.lines().any(|l| {
                    let w: Vec<&str> = l.split_whitespace().collect();
                    w.first() == Some(&"bandit") && w.windows(2).any(|p| p == ["-f", "sarif"])
                });
                if !sarif {
                    continue;
                }
                seen += 1;
                if !runs[..i].iter().any(|r| r.contains("\"bandit[sarif]\"")) {
                    problems.push(format!(
                        "{at}: `{}` without an earlier `pip install \"bandit[sarif]\"` in its job",
                        run.trim()
                    ));
                }
            }
        }
    }
    assert!(
        seen >= 2,
        "the examples and docs run bandit with SARIF output ({seen} found)"
    );
    assert!(problems.is_empty(), "{problems:#?}");
}

/// `stevedore check` (docs/check.md) accepts every workflow and every list of steps the docs and examples
/// show: what a reader copies passes the offline check, and a problem names the Markdown file and line.
#[test]
fn stevedore_check_accepts_every_workflow_and_step_list_in_the_docs() {
    use stevedore::check::{Declared, Options, check_text};
    use stevedore::report::{Commands, Level, Masker};
    let root = repo_root();
    let declared = Declared::builtin().unwrap();
    let opts = Options {
        root: root.clone(),
        ..Options::default()
    };
    let (cmds, _) = Commands::buffer(Masker::default(), false);
    let mut blocks: Vec<(String, usize, String)> = Vec::new();
    let mut files: Vec<String> = vec!["README.md".into()];
    for dir in ["docs", "examples"] {
        let mut names: Vec<String> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .map(|e| format!("{dir}/{}", e.unwrap().file_name().into_string().unwrap()))
            .filter(|n| n.ends_with(".md") || n.ends_with(".yml"))
            .collect();
        names.sort();
        files.extend(names);
    }
    for f in files {
        let text = std::fs::read_to_string(root.join(&f)).unwrap();
        if f.ends_with(".yml") {
            blocks.push((f, 1, text));
        } else {
            for (line, block) in yaml_blocks(&text) {
                blocks.push((f.clone(), line, block));
            }
        }
    }
    let (mut checked, mut steps, mut problems) = (0, 0, Vec::new());
    for (file, first, text) in blocks {
        // A workflow, a job's `steps:`, or a bare list of steps.
        let is_steps = match serde_yaml_ng::from_str::<Value>(&text) {
            Ok(Value::Mapping(m)) => m.contains_key("jobs") || m.contains_key("steps"),
            Ok(Value::Sequence(_)) => true,
            _ => false,
        };
        if !is_steps {
            continue;
        }
        checked += 1;
        let (found, n) = check_text(&file, &text, &declared, &opts, &cmds);
        steps += n;
        // `- uses: ORG/stevedore@v1` alone (docs/pipelines.md's pinning examples) shows a `uses:` line and
        // configures nothing; in a workflow, the check rightly says `mode` is missing.
        let pinning_only = |f: &stevedore::check::Finding| {
            f.message.starts_with("input `mode`: is required")
                && !text
                    .lines()
                    .nth(f.line)
                    .is_some_and(|l| l.contains("with:"))
        };
        for f in found
            .into_iter()
            .filter(|f| f.level == Level::Error && !pinning_only(f))
        {
            problems.push(format!("{file}:{}: {}", first + f.line - 1, f.message));
        }
    }
    eprintln!("stevedore check: {checked} snippet(s), {steps} stevedore step(s)");
    assert!(
        checked >= 20 && steps >= 40,
        "{checked} snippets, {steps} steps"
    );
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}
