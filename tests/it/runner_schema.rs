//! `action.yml` read with the runner's own rules: the action-manifest schema of actions/runner
//! (`tests/fixtures/actions-runner/action_yaml.json`, copied unchanged from
//! `src/Runner.Worker/action_yaml.json` at commit 258d6c85, MIT). The runner's template reader turns every
//! scalar containing `${{` into an expression, wherever it is; where the schema gives a definition a
//! `context` list only those named values and functions may appear, and everywhere else (descriptions,
//! names) none may. A manifest that breaks this is refused before any step runs ("Unrecognized
//! named-value", act: "expressions are not allowed here"), which is how stevedore once shipped unloadable.
//!
//! This is a reader of the schema, not a model of stevedore's manifest: it walks any manifest through the
//! schema's `mapping`/`sequence`/`string`/`one-of` definitions and checks each expression's named values
//! and functions against the `context` in force, so it also judges the negative cases below.

use serde_json::Value as Json;
use serde_yaml_ng::Value as Yaml;

/// Functions the runner's expression parser always knows (`ExpressionConstants.WellKnownFunctions`).
const BUILT_IN_FUNCTIONS: [&str; 7] = [
    "contains",
    "endswith",
    "format",
    "fromjson",
    "join",
    "startswith",
    "tojson",
];

fn schema() -> Json {
    let path =
        crate::helpers::runner::repo_root().join("tests/fixtures/actions-runner/action_yaml.json");
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str(text.trim_start_matches('\u{feff}')).unwrap()
}

/// What may appear inside `${{ }}` at one place of the manifest.
#[derive(Clone, Debug, Default)]
struct Allowed {
    named_values: Vec<String>,
    functions: Vec<String>,
}

impl Allowed {
    fn from_context(list: &[Json]) -> Self {
        let mut a = Allowed::default();
        for item in list.iter().filter_map(Json::as_str) {
            match item.split_once('(') {
                Some((name, _)) => a.functions.push(name.to_ascii_lowercase()),
                None => a.named_values.push(item.to_ascii_lowercase()),
            }
        }
        a
    }
}

/// Named values and function names used by the expressions in `scalar` (`None` when there is no `${{`).
fn expression_names(scalar: &str) -> Option<Vec<(String, bool)>> {
    if !scalar.contains("${{") {
        return None;
    }
    let mut names = Vec::new();
    let mut rest = scalar;
    while let Some(start) = rest.find("${{") {
        let after = &rest[start + 3..];
        let end = after.find("}}").unwrap_or(after.len());
        let expr = &after[..end];
        names.extend(identifiers(expr));
        rest = after.get(end + 2..).unwrap_or("");
    }
    Some(names)
}

/// The leading identifiers of an expression: `(name, is_function)`. Skips string literals, members after
/// `.`, and the literals `true`, `false`, `null`, numbers.
fn identifiers(expr: &str) -> Vec<(String, bool)> {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut after_dot = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            i += 1;
            while i < chars.len() {
                if chars[i] == '\'' && chars.get(i + 1) == Some(&'\'') {
                    i += 2;
                } else if chars[i] == '\'' {
                    break;
                } else {
                    i += 1;
                }
            }
            i += 1;
            after_dot = false;
        } else if c.is_ascii_alphabetic() || c == '_' {
            let s = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || "_-".contains(chars[i])) {
                i += 1;
            }
            let word: String = chars[s..i].iter().collect();
            let mut j = i;
            while j < chars.len() && chars[j].is_whitespace() {
                j += 1;
            }
            let is_function = chars.get(j) == Some(&'(');
            if !after_dot && !["true", "false", "null"].contains(&word.as_str()) {
                out.push((word.to_ascii_lowercase(), is_function));
            }
            after_dot = false;
        } else if c.is_ascii_digit() {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
            after_dot = false;
        } else {
            after_dot = c == '.' || (c == '*' && after_dot);
            i += 1;
        }
    }
    out
}

/// Walks a manifest through the schema and collects every place the runner would refuse.
struct Reader {
    schema: Json,
    problems: Vec<String>,
}

impl Reader {
    fn definition(&self, name: &str) -> Json {
        self.schema["definitions"]
            .get(name)
            .cloned()
            .unwrap_or_else(|| panic!("schema has no definition {name}"))
    }

    fn check_scalar(&mut self, path: &str, value: &Yaml, allowed: Option<&Allowed>) {
        let text = match value {
            Yaml::String(s) => s.clone(),
            _ => return,
        };
        let Some(names) = expression_names(&text) else {
            return;
        };
        let Some(allowed) = allowed else {
            self.problems.push(format!(
                "{path}: `${{{{` where the runner allows no expression (\"expressions are not allowed \
                 here\"): {text:?}"
            ));
            return;
        };
        for (name, is_function) in names {
            let ok = if is_function {
                allowed.functions.contains(&name) || BUILT_IN_FUNCTIONS.contains(&name.as_str())
            } else {
                allowed.named_values.contains(&name)
            };
            if !ok {
                self.problems.push(format!(
                    "{path}: unrecognized {} `{name}` (allowed here: {:?} {:?}) in {text:?}",
                    if is_function {
                        "function"
                    } else {
                        "named-value"
                    },
                    allowed.named_values,
                    allowed.functions
                ));
            }
        }
    }

    /// Checks `value` against the definition `def` (a name or an inline `{type, required}` object).
    fn walk(&mut self, path: &str, def: &Json, value: &Yaml, inherited: Option<&Allowed>) {
        let def = match def {
            Json::String(name) => match name.as_str() {
                "any" => {
                    self.walk_any(path, value, inherited);
                    return;
                }
                other => self.definition(other),
            },
            Json::Object(o) if o.contains_key("type") => {
                let t = o["type"].clone();
                return self.walk(path, &t, value, inherited);
            }
            other => other.clone(),
        };
        let own = def
            .get("context")
            .and_then(Json::as_array)
            .map(|c| Allowed::from_context(c));
        let allowed = own.as_ref().or(inherited);
        if let Some(options) = def.get("one-of").and_then(Json::as_array) {
            // The runner picks the variant whose mapping keys fit; for a container action that is
            // `container-runs` (chosen by `using: docker`).
            let using = value.get("using").and_then(Yaml::as_str).unwrap_or("");
            let wanted = match using.to_ascii_lowercase().as_str() {
                "docker" => "container-runs",
                "composite" => "composite-runs",
                u if u.starts_with("node") => "node-runs",
                _ => "plugin-runs",
            };
            let chosen = options
                .iter()
                .find(|o| o.as_str() == Some(wanted))
                .cloned()
                .unwrap_or_else(|| options[0].clone());
            self.walk(path, &chosen, value, allowed);
            return;
        }
        if let Some(mapping) = def.get("mapping") {
            let Some(map) = value.as_mapping() else {
                self.problems.push(format!("{path}: expected a mapping"));
                return;
            };
            let props = mapping.get("properties").and_then(Json::as_object);
            if let Some(props) = props {
                for (key, prop) in props {
                    let required = prop.get("required").and_then(Json::as_bool) == Some(true);
                    if required && !map.contains_key(key.as_str()) {
                        self.problems
                            .push(format!("{path}: required key `{key}` missing"));
                    }
                }
            }
            for (k, v) in map {
                let key = k.as_str().unwrap_or_default();
                let child = format!("{path}.{key}");
                self.check_scalar(&format!("{child} (key)"), k, allowed);
                match props.and_then(|p| p.get(key)) {
                    Some(prop) => self.walk(&child, prop, v, allowed),
                    None => match mapping.get("loose-value-type") {
                        Some(loose) => self.walk(&child, loose, v, allowed),
                        // Unknown keys are ignored by the runner, but still read as template tokens.
                        None => self.walk_any(&child, v, None),
                    },
                }
            }
            return;
        }
        if let Some(seq) = def.get("sequence") {
            let Some(items) = value.as_sequence() else {
                self.problems.push(format!("{path}: expected a sequence"));
                return;
            };
            for (i, item) in items.iter().enumerate() {
                self.walk(&format!("{path}[{i}]"), &seq["item-type"], item, allowed);
            }
            return;
        }
        if let Some(string) = def.get("string") {
            if string.get("require-non-empty").and_then(Json::as_bool) == Some(true)
                && value.as_str().is_some_and(str::is_empty)
            {
                self.problems.push(format!("{path}: must not be empty"));
            }
            self.check_scalar(path, value, allowed);
            return;
        }
        self.walk_any(path, value, allowed);
    }

    /// A value of type `any`: no structure, and expressions only with the context in force (none at the
    /// manifest's top level).
    fn walk_any(&mut self, path: &str, value: &Yaml, allowed: Option<&Allowed>) {
        match value {
            Yaml::Mapping(m) => {
                for (k, v) in m {
                    let child = format!("{path}.{}", k.as_str().unwrap_or("?"));
                    self.check_scalar(&format!("{child} (key)"), k, allowed);
                    self.walk_any(&child, v, allowed);
                }
            }
            Yaml::Sequence(s) => {
                for (i, v) in s.iter().enumerate() {
                    self.walk_any(&format!("{path}[{i}]"), v, allowed);
                }
            }
            other => self.check_scalar(path, other, allowed),
        }
    }
}

/// Every place the runner would refuse `manifest` (empty when it loads).
fn refusals(manifest: &str) -> Vec<String> {
    let doc: Yaml = serde_yaml_ng::from_str(manifest).unwrap();
    let mut reader = Reader {
        schema: schema(),
        problems: Vec::new(),
    };
    reader.walk("action", &Json::String("action-root".into()), &doc, None);
    reader.problems
}

#[test]
fn action_yml_loads_under_the_runners_manifest_schema() {
    let path = crate::helpers::runner::repo_root().join("action.yml");
    let problems = refusals(&std::fs::read_to_string(&path).unwrap());
    assert!(
        problems.is_empty(),
        "the runner (and act) would refuse action.yml:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_schema_reader_refuses_what_the_runner_refuses() {
    let head = "name: x\ndescription: y\nruns:\n  using: docker\n  image: Dockerfile\n";
    // The defect that shipped: an example expression in an input description.
    let p = refusals(&format!(
        "{head}inputs:\n  checks:\n    description: \"each has `outcome` (`${{{{ steps.<id>.outcome }}}}`)\"\n"
    ));
    assert!(
        p.len() == 1 && p[0].starts_with("action.inputs.checks.description:"),
        "{p:?}"
    );
    // In the action's own description and name.
    let p = refusals(
        "name: ${{ github.repository }}\ndescription: y\nruns:\n  using: docker\n  image: Dockerfile\n",
    );
    assert_eq!(p.len(), 1, "{p:?}");
    // `secrets` and `steps` are not named values an input default may use; `github` and hashFiles are.
    let p = refusals(&format!(
        "{head}inputs:\n  a:\n    default: ${{{{ secrets.TOKEN }}}}\n  b:\n    default: ${{{{ steps.x.outputs.y }}}}\n  c:\n    default: ${{{{ github.token }}}}\n  d:\n    default: ${{{{ hashFiles('**/Cargo.lock') }}}}\n"
    ));
    assert_eq!(p.len(), 2, "{p:?}");
    assert!(
        p[0].contains("`secrets`") && p[1].contains("`steps`"),
        "{p:?}"
    );
    // A container action's args and env may use `inputs` only.
    let p = refusals(
        "name: x\ndescription: y\nruns:\n  using: docker\n  image: Dockerfile\n  args: ['${{ inputs.a }}', '${{ github.sha }}']\n  env:\n    A: ${{ inputs.a }}\n    B: ${{ env.B }}\n",
    );
    assert_eq!(p.len(), 2, "{p:?}");
    assert!(p[0].contains("`github`") && p[1].contains("`env`"), "{p:?}");
    // Output descriptions allow nothing; a docker action's outputs have no `value`.
    let p = refusals(&format!(
        "{head}outputs:\n  v:\n    description: \"like ${{{{ steps.a.outputs.b }}}}\"\n"
    ));
    assert_eq!(p.len(), 1, "{p:?}");
    // String literals and member names are not named values.
    let p = refusals(&format!(
        "{head}inputs:\n  e:\n    default: \"${{{{ github.event_name == 'push' && format('{{0}}', github.ref) }}}}\"\n"
    ));
    assert!(p.is_empty(), "{p:?}");
}
