//! `action.yml` and the input parsers agree: every input a mode reads is declared, every declared input is
//! read by some mode, and every input and output is described. Generic over modes and inputs, so it keeps
//! holding as modes add inputs.

use std::collections::BTreeSet;

use serde_yaml_ng::Value;
use stevedore::Env;
use stevedore::config::Config;
use stevedore::inputs::{Input, Inputs, Mode};

fn action_yml() -> Value {
    let path = crate::helpers::runner::repo_root().join("action.yml");
    serde_yaml_ng::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn section<'a>(doc: &'a Value, key: &str) -> &'a serde_yaml_ng::Mapping {
    doc.get(key)
        .and_then(Value::as_mapping)
        .unwrap_or_else(|| panic!("action.yml has no `{key}:` mapping"))
}

fn declared_inputs(doc: &Value) -> BTreeSet<String> {
    section(doc, "inputs")
        .keys()
        .map(|k| k.as_str().expect("input names are strings").to_owned())
        .collect()
}

/// Every input any mode reads: common inputs (read by `Config::parse` before the mode's) plus each mode's,
/// on an environment where nothing else is set, and with each declared input set alone (so inputs a mode
/// reads only for one target, e.g. Lambda's after `function-name`, are found too).
fn inputs_read() -> BTreeSet<String> {
    let declared = declared_inputs(&action_yml());
    let mut read = BTreeSet::new();
    for mode in Mode::ALL {
        let env = Env::from_pairs([("INPUT_MODE", mode.as_str())]);
        let mut p = Inputs::new(&env);
        let cfg = Config::parse(&mut p);
        assert!(cfg.is_ok(), "{mode}: Config::parse gave no config: {cfg:?}");
        read.extend(p.names_read().iter().map(|s| (*s).to_owned()));
        for input in &declared {
            let env =
                Env::from_pairs([(format!("INPUT_{}", input.to_uppercase()), "x".to_owned())]);
            let mut p = Inputs::new(&env);
            let _mode_config = Config::parse_mode(mode, &mut p);
            read.extend(p.names_read().iter().map(|s| (*s).to_owned()));
        }
    }
    read
}

#[test]
fn every_input_read_is_declared_in_action_yml() {
    let declared = declared_inputs(&action_yml());
    let undeclared: Vec<_> = inputs_read().difference(&declared).cloned().collect();
    assert!(
        undeclared.is_empty(),
        "inputs read by a parser but not declared in action.yml (the runner would warn \
         \"Unexpected input(s)\" and never pass them): {undeclared:?}"
    );
}

#[test]
fn every_input_declared_in_action_yml_is_read() {
    let declared = declared_inputs(&action_yml());
    let unread: Vec<_> = declared.difference(&inputs_read()).cloned().collect();
    assert!(
        unread.is_empty(),
        "inputs declared in action.yml that no mode's Config::parse reads on an empty environment \
         (read them unconditionally, or remove them from action.yml): {unread:?}"
    );
}

/// The one list of input names in the code (`stevedore::inputs::Input`, which every reader takes) is
/// exactly `action.yml`'s inputs, in its order: a new input is declared and named in one change.
#[test]
fn the_input_names_in_the_code_are_exactly_those_action_yml_declares() {
    let doc = action_yml();
    let declared: Vec<&str> = section(&doc, "inputs")
        .keys()
        .map(|k| k.as_str().expect("input names are strings"))
        .collect();
    let ours: Vec<&str> = Input::ALL.iter().map(|i| i.as_str()).collect();
    assert_eq!(ours, declared);
}

/// For `mode`: the environment with only `INPUT_MODE`, then one more for each other declared input set
/// alone (to `x`).
fn one_input_envs(mode: Mode, declared: &BTreeSet<String>) -> Vec<Env> {
    let mut envs = vec![Env::from_pairs([("INPUT_MODE", mode.as_str())])];
    envs.extend(declared.iter().filter(|i| *i != "mode").map(|input| {
        Env::from_pairs([
            ("INPUT_MODE".to_owned(), mode.as_str().to_owned()),
            (format!("INPUT_{}", input.to_uppercase()), "x".to_owned()),
        ])
    }));
    envs
}

/// A configuration that cannot be built always says why: for every mode, on an empty environment and
/// with each declared input set alone (to `x`), a refused run lists at least one input error (never
/// "0 invalid input(s)"), and each names a declared input.
#[test]
fn every_refused_configuration_names_an_input() {
    let declared = declared_inputs(&action_yml());
    let mut refused = 0;
    for mode in Mode::ALL {
        for env in one_input_envs(mode, &declared) {
            let mut p = Inputs::new(&env);
            let parsed = Config::parse(&mut p);
            let n = p.error_count();
            if parsed.is_err() {
                refused += 1;
                assert!(
                    n > 0,
                    "{mode}: Config::parse gave up without recording an error"
                );
            }
            if let Err(e) = Config::from_env(&env) {
                assert!(!e.0.is_empty(), "{mode}: refused with no input error");
                for err in &e.0 {
                    assert!(declared.contains(&err.input), "{err}");
                }
            }
        }
    }
    // Without `mode`, and with a Lambda-only input but no `function-name`, no configuration is built.
    let env = Env::from_pairs([("INPUT_DRY-RUN", "true")]);
    let e = Config::from_env(&env).unwrap_err();
    assert_eq!(e.0.len(), 1, "{e}");
    assert_eq!(e.0[0].input, "mode");
    assert!(refused > 0, "no case refused: the test checks nothing");
}

/// Every input is read once per run and its value passed down: for every mode, on an empty environment
/// and with each declared input set alone, no parser reads an input another already read (but for the
/// listed ones still to do).
#[test]
fn every_input_is_read_once() {
    let declared = declared_inputs(&action_yml());
    let mut again = BTreeSet::new();
    for mode in Mode::ALL {
        for env in one_input_envs(mode, &declared) {
            let mut p = Inputs::new(&env);
            let _config = Config::parse(&mut p);
            again.extend(
                p.names_read_again()
                    .iter()
                    .map(|i| (mode.as_str(), i.as_str())),
            );
        }
    }
    // A ratchet: the re-reads not yet turned into one read passed down (issue 20, point 5). `cluster`,
    // `service`, `function-name`, `app-runner-service`, `express-service`, `rollback-to`, `preview` and
    // `promote-image` are read once; shorten this list as the others are, never lengthen it.
    const NOT_YET_READ_ONCE: [(&str, &str); 21] = [
        ("build", "environment"),
        ("credentials", "environment"),
        ("deploy", "alarms"),
        ("deploy", "alias"),
        ("deploy", "environment"),
        ("deploy", "environment-variables"),
        ("deploy", "function-timeout"),
        ("deploy", "handler"),
        ("deploy", "health-url"),
        ("deploy", "image"),
        ("deploy", "memory-size"),
        ("deploy", "post-deploy-task"),
        ("deploy", "pre-deploy-task"),
        ("deploy", "runtime"),
        ("deploy", "s3-bucket"),
        ("deploy", "s3-key"),
        ("deploy", "task-definition"),
        ("deploy", "test-payload"),
        ("deploy", "traffic"),
        ("deploy", "zip-file"),
        ("publish", "environment"),
    ];
    let known: BTreeSet<(&str, &str)> = NOT_YET_READ_ONCE.into_iter().collect();
    assert_eq!(
        again, known,
        "(mode, input) pairs read more than once; read the input once and pass its value down \
         (and drop a pair from NOT_YET_READ_ONCE when it is)"
    );
}

#[test]
fn every_input_and_output_has_a_description() {
    let doc = action_yml();
    for key in ["inputs", "outputs"] {
        for (name, spec) in section(&doc, key) {
            let description = spec
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or("");
            assert!(
                !description.trim().is_empty(),
                "action.yml {key}.{}: no description",
                name.as_str().unwrap_or("?")
            );
        }
    }
}

#[test]
fn action_yml_runs_our_dockerfile() {
    let doc = action_yml();
    let runs = doc.get("runs").expect("runs:");
    assert_eq!(runs.get("using").and_then(Value::as_str), Some("docker"));
    assert_eq!(
        runs.get("image").and_then(Value::as_str),
        Some("Dockerfile")
    );
    assert!(
        crate::helpers::runner::repo_root()
            .join("Dockerfile")
            .is_file(),
        "runs.image names a Dockerfile that does not exist"
    );
}

/// The README's inputs/outputs tables, rendered from action.yml.
fn readme_tables(doc: &Value) -> String {
    let cell = |s: &str| s.trim().replace('|', "\\|").replace('\n', " ");
    let description = |spec: &Value| {
        cell(
            spec.get("description")
                .and_then(Value::as_str)
                .unwrap_or(""),
        )
    };
    let mut out =
        String::from("| input | required | default | description |\n| --- | --- | --- | --- |\n");
    for (name, spec) in section(doc, "inputs") {
        let default = spec
            .get("default")
            .and_then(Value::as_str)
            .map(|d| format!("`{}`", cell(d)))
            .unwrap_or_default();
        let required = spec
            .get("required")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            name.as_str().unwrap_or(""),
            if required { "yes" } else { "no" },
            default,
            description(spec)
        ));
    }
    out.push_str("\n| output | description |\n| --- | --- |\n");
    for (name, spec) in section(doc, "outputs") {
        out.push_str(&format!(
            "| `{}` | {} |\n",
            name.as_str().unwrap_or(""),
            description(spec)
        ));
    }
    out
}

/// The README lists exactly action.yml's inputs and outputs. `STEVEDORE_UPDATE_GOLDEN=1` rewrites them.
#[test]
fn readme_inputs_and_outputs_tables_match_action_yml() {
    let path = crate::helpers::runner::repo_root().join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let (start, end) = ("<!-- inputs-table:start -->\n", "<!-- inputs-table:end -->");
    let a = readme
        .find(start)
        .expect("README has the inputs-table start marker")
        + start.len();
    let b = readme
        .find(end)
        .expect("README has the inputs-table end marker");
    let want = readme_tables(&action_yml());
    if std::env::var("STEVEDORE_UPDATE_GOLDEN").is_ok() {
        std::fs::write(&path, format!("{}{want}{}", &readme[..a], &readme[b..])).unwrap();
        return;
    }
    assert_eq!(
        readme[a..b],
        want,
        "README's inputs/outputs tables differ from action.yml; run \
         `STEVEDORE_UPDATE_GOLDEN=1 cargo test --test it readme_inputs` to regenerate"
    );
}

/// action.yml's comments describe the file as it is: every `runs.<key>` they name exists (the header once
/// promised a `runs.env` block that was never there, issue 30).
#[test]
fn the_comments_name_only_keys_that_exist() {
    let path = crate::helpers::runner::repo_root().join("action.yml");
    let text = std::fs::read_to_string(path).unwrap();
    let doc = action_yml();
    let runs = section(&doc, "runs");
    for line in text.lines().filter(|l| l.trim_start().starts_with('#')) {
        for (i, _) in line.match_indices("runs.") {
            let key: String = line[i + "runs.".len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect();
            assert!(
                runs.contains_key(key.as_str()),
                "action.yml comment names `runs.{key}`, which it does not have: {line}"
            );
        }
    }
}
