//! Task definitions as JSON: the base (a file or the service's current revision), the edits (image, env),
//! the RegisterTaskDefinition body and the diff against what runs now.
//!
//! Kept as `serde_json::Value` rather than SDK types on purpose: every field the base carries is registered
//! again unchanged, including fields newer than this binary's SDK model (the anchors break on such fields,
//! amazon-ecs-render-task-definition #363/#464).

use serde_json::{Map, Value};

/// Fields DescribeTaskDefinition returns that RegisterTaskDefinition rejects ("Unexpected key").
pub const READ_ONLY_FIELDS: [&str; 9] = [
    "taskDefinitionArn",
    "revision",
    "status",
    "requiresAttributes",
    "compatibilities",
    "registeredAt",
    "registeredBy",
    "deregisteredAt",
    "deleteRequestedAt",
];

/// A base task definition: its JSON and its tags.
#[derive(Clone, Debug, PartialEq)]
pub struct Base {
    pub task_definition: Value,
    pub tags: Vec<Value>,
}

impl Base {
    /// From a DescribeTaskDefinition response body (`{"taskDefinition": {..}, "tags": [..]}`).
    pub fn from_describe(body: &Value) -> Result<Base, String> {
        let td = body
            .get("taskDefinition")
            .filter(|v| v.is_object())
            .ok_or("the response has no `taskDefinition` object")?;
        Ok(Base {
            task_definition: td.clone(),
            tags: body
                .get("tags")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
        })
    }

    /// From a file: RegisterTaskDefinition input, a DescribeTaskDefinition output, or the bare
    /// `taskDefinition` object; JSON or YAML.
    pub fn from_file_text(text: &str) -> Result<Base, String> {
        let v: Value =
            crate::yaml::from_str(text, crate::yaml::TopKeys::Exact).map_err(|e| match e {
                crate::yaml::YamlError::Invalid(e) => format!("not JSON/YAML: {e}"),
                d @ crate::yaml::YamlError::Duplicates(_) => format!("the file {d}"),
            })?;
        if v.get("taskDefinition").is_some() {
            return Base::from_describe(&v);
        }
        if !v.is_object() {
            return Err("the file does not hold a JSON object".into());
        }
        let mut td = v;
        let tags = td
            .as_object_mut()
            .and_then(|o| o.remove("tags"))
            .and_then(|t| t.as_array().cloned())
            .unwrap_or_default();
        if td.get("family").and_then(Value::as_str).is_none() {
            return Err("the task definition has no `family`".into());
        }
        if td
            .get("containerDefinitions")
            .and_then(Value::as_array)
            .is_none()
        {
            return Err("the task definition has no `containerDefinitions` list".into());
        }
        Ok(Base {
            task_definition: td,
            tags,
        })
    }

    pub fn family(&self) -> &str {
        self.task_definition
            .get("family")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
}

/// What to change in the base.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Edits {
    /// Containers to update; empty means "the only container".
    pub containers: Vec<String>,
    pub image: Option<String>,
    pub environment: Vec<(String, String)>,
}

/// Names of the containers of a task definition.
pub fn container_names(td: &Value) -> Vec<String> {
    containers(td)
        .iter()
        .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

fn containers(td: &Value) -> &[Value] {
    td.get("containerDefinitions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// The RegisterTaskDefinition body: the base minus read-only fields and nulls, with the edits applied
/// and the tags kept. Returns the body and the fields that were dropped.
pub fn render(base: &Base, edits: &Edits) -> Result<(Value, Vec<String>), String> {
    let Some(obj) = base.task_definition.as_object() else {
        return Err("the task definition is not a JSON object".into());
    };
    let mut out = Map::new();
    let mut dropped = Vec::new();
    for (k, v) in obj {
        if READ_ONLY_FIELDS.contains(&k.as_str()) {
            dropped.push(k.clone());
        } else if !v.is_null() {
            out.insert(k.clone(), v.clone());
        }
    }
    let names = container_names(&base.task_definition);
    let targets: Vec<String> = if edits.containers.is_empty() {
        if edits.image.is_none() && edits.environment.is_empty() {
            Vec::new()
        } else if names.len() == 1 {
            names.clone()
        } else {
            return Err(format!(
                "task definition `{}` has {} containers ({}); name the one(s) to update in `container`",
                base.family(),
                names.len(),
                names.join(", ")
            ));
        }
    } else {
        edits.containers.clone()
    };
    let missing: Vec<&String> = targets.iter().filter(|t| !names.contains(t)).collect();
    if !missing.is_empty() {
        return Err(format!(
            "container(s) {} not in task definition `{}`; it has: {}",
            crate::inputs::code_list(missing.iter()),
            base.family(),
            names.join(", ")
        ));
    }
    if let Some(Value::Array(cs)) = out.get_mut("containerDefinitions") {
        for c in cs.iter_mut() {
            let name = c.get("name").and_then(Value::as_str).unwrap_or_default();
            if !targets.iter().any(|t| t == name) {
                continue;
            }
            let Some(c) = c.as_object_mut() else { continue };
            if let Some(image) = &edits.image {
                c.insert("image".into(), Value::String(image.clone()));
            }
            if !edits.environment.is_empty() {
                let env = c
                    .entry("environment")
                    .or_insert_with(|| Value::Array(Vec::new()));
                if !env.is_array() {
                    *env = Value::Array(Vec::new());
                }
                if let Value::Array(list) = env {
                    for (k, v) in &edits.environment {
                        list.retain(|e| e.get("name").and_then(Value::as_str) != Some(k));
                        list.push(serde_json::json!({"name": k, "value": v}));
                    }
                }
            }
        }
    }
    if !base.tags.is_empty() {
        out.insert("tags".into(), Value::Array(base.tags.clone()));
    }
    Ok((Value::Object(out), dropped))
}

/// One difference between the running task definition and the new one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// Container name, or empty for a task-level field.
    pub container: String,
    pub field: String,
    pub before: String,
    pub after: String,
}

/// What changes from `old` (a task definition) to `new` (a register body): images, environment variable
/// names (values are not shown: they may be sensitive), containers added/removed, and task-level fields.
pub fn diff(old: &Value, new: &Value) -> Vec<Change> {
    let mut out = Vec::new();
    let show = |v: Option<&Value>| match v {
        None | Some(Value::Null) => "—".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    };
    let keys: std::collections::BTreeSet<&String> = old
        .as_object()
        .into_iter()
        .chain(new.as_object())
        .flat_map(Map::keys)
        .collect();
    for k in keys {
        if READ_ONLY_FIELDS.contains(&k.as_str()) || k == "containerDefinitions" || k == "tags" {
            continue;
        }
        let (a, b) = (old.get(k), new.get(k));
        if a.filter(|v| !v.is_null()) != b.filter(|v| !v.is_null()) {
            out.push(Change {
                container: String::new(),
                field: k.clone(),
                before: show(a),
                after: show(b),
            });
        }
    }
    let find = |td: &Value, name: &str| {
        containers(td)
            .iter()
            .find(|c| c.get("name").and_then(Value::as_str) == Some(name))
            .cloned()
    };
    let mut names = container_names(old);
    for n in container_names(new) {
        if !names.contains(&n) {
            names.push(n);
        }
    }
    for name in names {
        match (find(old, &name), find(new, &name)) {
            (Some(_), None) => out.push(Change {
                container: name.clone(),
                field: "container".into(),
                before: "present".into(),
                after: "removed".into(),
            }),
            (None, Some(_)) => out.push(Change {
                container: name.clone(),
                field: "container".into(),
                before: "—".into(),
                after: "added".into(),
            }),
            (Some(a), Some(b)) => {
                if a.get("image") != b.get("image") {
                    out.push(Change {
                        container: name.clone(),
                        field: "image".into(),
                        before: show(a.get("image")),
                        after: show(b.get("image")),
                    });
                }
                let env = |c: &Value| -> Vec<(String, Value)> {
                    c.get("environment")
                        .and_then(Value::as_array)
                        .map(|l| {
                            l.iter()
                                .filter_map(|e| {
                                    Some((
                                        e.get("name")?.as_str()?.to_owned(),
                                        e.get("value").cloned().unwrap_or(Value::Null),
                                    ))
                                })
                                .collect()
                        })
                        .unwrap_or_default()
                };
                let (ea, eb) = (env(&a), env(&b));
                for (k, v) in &eb {
                    match ea.iter().find(|(n, _)| n == k) {
                        None => out.push(Change {
                            container: name.clone(),
                            field: format!("env {k}"),
                            before: "—".into(),
                            after: "added".into(),
                        }),
                        Some((_, old_v)) if old_v != v => out.push(Change {
                            container: name.clone(),
                            field: format!("env {k}"),
                            before: "set".into(),
                            after: "changed".into(),
                        }),
                        Some(_) => {}
                    }
                }
                for (k, _) in &ea {
                    if !eb.iter().any(|(n, _)| n == k) {
                        out.push(Change {
                            container: name.clone(),
                            field: format!("env {k}"),
                            before: "set".into(),
                            after: "removed".into(),
                        });
                    }
                }
                let other = |c: &Value| {
                    let mut c = c.clone();
                    if let Some(o) = c.as_object_mut() {
                        o.remove("image");
                        o.remove("environment");
                        o.retain(|_, v| !v.is_null());
                    }
                    c
                };
                if other(&a) != other(&b) {
                    out.push(Change {
                        container: name.clone(),
                        field: "other settings".into(),
                        before: "…".into(),
                        after: "changed".into(),
                    });
                }
            }
            (None, None) => {}
        }
    }
    out
}

/// Parses `environment-variables`: one `KEY=VALUE` per line; blank lines and `#` comments skipped.
pub fn parse_env_lines(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(format!("line {} has no `=`", i + 1));
        };
        let k = k.trim();
        let valid = k
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(format!(
                "line {}: `{k}` is not a variable name (letters, digits, `_`; not starting with a digit)",
                i + 1
            ));
        }
        out.retain(|(n, _)| n != k);
        out.push((k.to_owned(), v.to_owned()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn described() -> Value {
        json!({
            "taskDefinition": {
                "taskDefinitionArn": "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:7",
                "family": "web", "revision": 7, "status": "ACTIVE",
                "requiresAttributes": [{"name": "com.amazonaws.ecs.capability.logging-driver.awslogs"}],
                "compatibilities": ["EC2", "FARGATE"], "registeredAt": 1.7e9, "registeredBy": "arn:x",
                "cpu": "256", "memory": "512", "networkMode": "awsvpc", "taskRoleArn": null,
                "enableFaultInjection": false,
                "containerDefinitions": [
                    {"name": "app", "image": "repo/app:1", "essential": true,
                     "environment": [{"name": "MODE", "value": "a"}, {"name": "KEEP", "value": "k"}]},
                    {"name": "sidecar", "image": "repo/side:1", "essential": false}
                ]
            },
            "tags": [{"key": "team", "value": "core"}]
        })
    }

    #[test]
    fn render_drops_read_only_fields_keeps_tags_and_unknown_fields() {
        let base = Base::from_describe(&described()).unwrap();
        let edits = Edits {
            containers: vec!["app".into()],
            image: Some("repo/app@sha256:abc".into()),
            environment: vec![("MODE".into(), "b".into()), ("NEW".into(), "1".into())],
        };
        let (body, dropped) = render(&base, &edits).unwrap();
        for k in READ_ONLY_FIELDS {
            assert!(body.get(k).is_none(), "{k} kept");
        }
        assert!(dropped.contains(&"revision".to_owned()));
        assert!(body.get("taskRoleArn").is_none(), "nulls dropped");
        assert_eq!(body["enableFaultInjection"], json!(false));
        assert_eq!(body["tags"], json!([{"key": "team", "value": "core"}]));
        assert_eq!(
            body["containerDefinitions"][0]["image"],
            "repo/app@sha256:abc"
        );
        assert_eq!(body["containerDefinitions"][1]["image"], "repo/side:1");
        assert_eq!(
            body["containerDefinitions"][0]["environment"],
            json!([{"name": "KEEP", "value": "k"}, {"name": "MODE", "value": "b"}, {"name": "NEW", "value": "1"}])
        );
        let d = diff(&base.task_definition, &body);
        assert_eq!(
            d.iter()
                .map(|c| format!("{}/{}: {} -> {}", c.container, c.field, c.before, c.after))
                .collect::<Vec<_>>(),
            vec![
                "app/image: repo/app:1 -> repo/app@sha256:abc",
                "app/env MODE: set -> changed",
                "app/env NEW: — -> added",
            ]
        );
    }

    #[test]
    fn render_names_the_containers_when_the_choice_is_ambiguous_or_wrong() {
        let base = Base::from_describe(&described()).unwrap();
        let e = render(
            &base,
            &Edits {
                image: Some("x".into()),
                ..Edits::default()
            },
        )
        .unwrap_err();
        assert!(e.contains("has 2 containers (app, sidecar)"), "{e}");
        let e = render(
            &base,
            &Edits {
                containers: vec!["api".into()],
                image: Some("x".into()),
                ..Edits::default()
            },
        )
        .unwrap_err();
        assert!(e.contains("`api` not in task definition `web`"), "{e}");
    }

    #[test]
    fn files_may_be_register_input_describe_output_or_yaml() {
        let b = Base::from_file_text(
            "family: web\ncontainerDefinitions:\n  - name: app\n    image: a\ntags:\n  - key: k\n    value: v\n",
        )
        .unwrap();
        assert_eq!(b.family(), "web");
        assert_eq!(b.tags.len(), 1);
        assert!(b.task_definition.get("tags").is_none());
        let d = Base::from_file_text(&described().to_string()).unwrap();
        assert_eq!(d.family(), "web");
        assert!(Base::from_file_text("[1]").is_err());
        assert!(Base::from_file_text("{\"family\": \"x\"}").is_err());
    }

    #[test]
    fn env_lines_are_validated() {
        assert_eq!(
            parse_env_lines("A=1\n# c\n\nB = x=y\nA=2").unwrap(),
            vec![("B".into(), " x=y".into()), ("A".into(), "2".into())]
        );
        assert!(parse_env_lines("1A=x").unwrap_err().contains("line 1"));
        assert!(
            parse_env_lines("A=1\nnovalue")
                .unwrap_err()
                .contains("line 2")
        );
    }
}
