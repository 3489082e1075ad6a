//! `terraform show -json PLAN` / `tofu show -json PLAN` into the [`Plan`] model.
//!
//! Read as the real tool writes it, which differs from the format's documentation in places: fields are
//! often absent (`errored`, `complete`, `importing`: absent reads as false), `output_changes` entries are
//! the change itself (not wrapped in `{"change": …}`; both are accepted), and sensitivity masks are
//! `false`, `true` or a structure mirroring the value. Anything under a mask that is not plainly `false`
//! or a structure without `true` in it is sensitive.

use serde_json::Value;

use super::PlanError;
use super::model::{
    Action, Change, Leaf, OutputChange, Plan, ReplaceOrder, Tool, Values, attr_changes, join_index,
    join_key,
};

/// Whether `v` looks like a Terraform plan (`show -json` of a plan file).
#[must_use]
pub fn is_plan(v: &Value) -> bool {
    v.get("format_version").is_some()
        && (v.get("resource_changes").is_some()
            || v.get("planned_values").is_some()
            || v.get("output_changes").is_some()
            || v.get("errored").is_some())
}

/// Reads a plan; `file` names it in errors.
pub fn parse(v: &Value, file: &str) -> Result<Plan, PlanError> {
    let mut plan = Plan {
        tool: Some(Tool::Terraform),
        version: v
            .get("terraform_version")
            .and_then(Value::as_str)
            .map(str::to_owned),
        ..Plan::default()
    };
    for rc in array(v, "resource_changes", file)? {
        plan.changes.push(resource_change(rc, file)?);
    }
    for rc in array(v, "resource_drift", file)? {
        plan.drift.push(resource_change(rc, file)?);
    }
    if let Some(oc) = v.get("output_changes") {
        let Some(map) = oc.as_object() else {
            return Err(malformed(file, "`output_changes` is not an object"));
        };
        for (name, c) in map {
            // The documentation wraps each in `{"change": …}`; the real tool does not.
            let c = c.get("change").filter(|x| x.is_object()).unwrap_or(c);
            plan.outputs.push(output_change(name, c, file)?);
        }
    }
    plan.errored = v.get("errored").and_then(Value::as_bool).unwrap_or(false);
    plan.incomplete = v.get("complete").and_then(Value::as_bool) == Some(false);
    for d in array(v, "deferred_changes", file)? {
        let addr = d
            .pointer("/resource_change/address")
            .and_then(Value::as_str)
            .unwrap_or("(unnamed)");
        let reason = d
            .get("reason")
            .and_then(Value::as_str)
            .unwrap_or("deferred");
        plan.deferred.push(format!("{addr} ({reason})"));
    }
    if !plan.deferred.is_empty() {
        plan.incomplete = true;
    }
    for r in array(v, "relevant_attributes", file)? {
        let res = r.get("resource").and_then(Value::as_str).unwrap_or("");
        let attr = r.get("attribute").map(path_of).unwrap_or_default();
        plan.relevant
            .push(format!("{res} {attr}").trim().to_owned());
    }
    Ok(plan)
}

fn array<'a>(v: &'a Value, key: &str, file: &str) -> Result<&'a [Value], PlanError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(malformed(file, &format!("`{key}` is not a list"))),
    }
}

fn malformed(file: &str, why: &str) -> PlanError {
    PlanError::Malformed {
        file: file.to_owned(),
        message: why.to_owned(),
    }
}

fn str_field(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// `["delete", "create"]` and the rest into an [`Action`].
fn action(actions: &[Value], file: &str, address: &str) -> Result<Action, PlanError> {
    let words: Vec<&str> = actions.iter().filter_map(Value::as_str).collect();
    Ok(match words.as_slice() {
        ["no-op"] | [] => Action::NoOp,
        ["create"] => Action::Create,
        ["read"] => Action::Read,
        ["update"] => Action::Update,
        ["delete", "create"] => Action::Replace(ReplaceOrder::DestroyBeforeCreate),
        ["create", "delete"] => Action::Replace(ReplaceOrder::CreateBeforeDestroy),
        ["delete"] => Action::Delete,
        ["forget"] => Action::Forget,
        other => {
            return Err(malformed(
                file,
                &format!(
                    "`{address}` has actions {other:?}, which stevedore does not know; it refuses to judge a plan it cannot read whole"
                ),
            ));
        }
    })
}

fn reason(code: &str) -> String {
    match code {
        "replace_because_tainted" => "tainted: the object is marked as broken".to_owned(),
        "replace_because_cannot_update" => {
            "the provider cannot update these attributes in place".to_owned()
        }
        "replace_by_request" => "replacement requested (`-replace`)".to_owned(),
        "replace_by_triggers" => "`replace_triggered_by` fired".to_owned(),
        "delete_because_no_resource_config" => "its configuration was removed".to_owned(),
        "delete_because_no_module" => "its module was removed".to_owned(),
        "delete_because_wrong_repetition" => "`count`/`for_each` changed".to_owned(),
        "delete_because_count_index" => "beyond the new `count`".to_owned(),
        "delete_because_each_key" => "its key left `for_each`".to_owned(),
        "delete_because_no_move_target" => "the `moved` target does not exist".to_owned(),
        "read_because_config_unknown" => "its configuration is known only at apply".to_owned(),
        "read_because_dependency_pending" => "a dependency has pending changes".to_owned(),
        "read_because_check_nested" => "a `check` block reads it".to_owned(),
        other => other.replace('_', " "),
    }
}

/// A path given as steps (`["tags", "Name"]`, `["rule", 0]`) as text.
fn path_of(steps: &Value) -> String {
    let mut p = String::new();
    for s in steps.as_array().map(Vec::as_slice).unwrap_or_default() {
        p = match s {
            Value::String(k) => join_key(&p, k),
            Value::Number(n) => n
                .as_u64()
                .map_or_else(|| format!("{p}[{n}]"), |i| join_index(&p, i as usize)),
            other => format!("{p}[{other}]"),
        };
    }
    p
}

fn resource_change(rc: &Value, file: &str) -> Result<Change, PlanError> {
    let Some(address) = str_field(rc, "address") else {
        return Err(malformed(file, "a resource change has no `address`"));
    };
    let c = rc.get("change").unwrap_or(&Value::Null);
    let actions = c
        .get("actions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut ch = Change::new(
        address.clone(),
        str_field(rc, "type").unwrap_or_default(),
        action(actions, file, &address)?,
    );
    ch.module = str_field(rc, "module_address");
    ch.previous_address = str_field(rc, "previous_address").filter(|p| *p != address);
    ch.deposed = str_field(rc, "deposed");
    ch.importing = c.get("importing").is_some_and(|i| !i.is_null());
    ch.reason = str_field(rc, "action_reason").map(|r| reason(&r));
    ch.replace_paths = c
        .get("replace_paths")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(path_of).collect())
        .unwrap_or_default();
    let before = values(
        c.get("before"),
        c.get("before_sensitive").unwrap_or(&Value::Bool(false)),
        &Value::Bool(false),
    );
    let after = values(
        c.get("after"),
        c.get("after_sensitive").unwrap_or(&Value::Bool(false)),
        c.get("after_unknown").unwrap_or(&Value::Bool(false)),
    );
    ch.attrs = attr_changes(ch.action, &before, &after);
    ch.after = after;
    Ok(ch)
}

fn output_change(name: &str, c: &Value, file: &str) -> Result<OutputChange, PlanError> {
    let actions = c
        .get("actions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let leaf = |value: Option<&Value>, sens: Option<&Value>, unknown: Option<&Value>| {
        if sens.is_some_and(mask_any) {
            return Some(Leaf::sensitive(value.unwrap_or(&Value::Null)));
        }
        if unknown.is_some_and(mask_any) {
            return Some(Leaf::Unknown);
        }
        match value {
            None | Some(Value::Null) => None,
            Some(v) => Some(Leaf::Known(v.to_string())),
        }
    };
    Ok(OutputChange {
        name: name.to_owned(),
        action: action(actions, file, &format!("output.{name}"))?,
        before: leaf(c.get("before"), c.get("before_sensitive"), None),
        after: leaf(
            c.get("after"),
            c.get("after_sensitive"),
            c.get("after_unknown"),
        ),
    })
}

/// Whether a sensitivity or unknown mask marks anything: `true`, or a structure with `true` in it.
/// Anything else that is not `false`, `null` or an empty structure counts too (fail closed).
#[must_use]
pub fn mask_any(m: &Value) -> bool {
    match m {
        Value::Bool(b) => *b,
        Value::Null => false,
        Value::Object(o) => o.values().any(mask_any),
        Value::Array(a) => a.iter().any(mask_any),
        _ => true,
    }
}

/// `value` flattened to leaves, with `sens` and `unknown` masks applied.
#[must_use]
pub fn values(value: Option<&Value>, sens: &Value, unknown: &Value) -> Values {
    let mut out = Values::new();
    flatten(value, sens, unknown, "", &mut out);
    out
}

/// [`flatten`] of the entry `at` (a key of an object, an index of an array) of `value` and of its masks
/// (an entry a mask does not have is not masked), at `path`.
fn flatten_entry<I: serde_json::value::Index + Copy>(
    value: &Value,
    sens: &Value,
    unknown: &Value,
    at: I,
    path: &str,
    out: &mut Values,
) {
    let f = Value::Bool(false);
    flatten(
        value.get(at),
        sens.get(at).unwrap_or(&f),
        unknown.get(at).unwrap_or(&f),
        path,
        out,
    );
}

fn flatten(value: Option<&Value>, sens: &Value, unknown: &Value, path: &str, out: &mut Values) {
    let f = Value::Bool(false);
    match sens {
        Value::Bool(false) | Value::Null | Value::Object(_) | Value::Array(_) => {}
        // `true`, or a mask of a kind no version writes: keep nothing of the value.
        _ => {
            out.insert(
                path.to_owned(),
                Leaf::sensitive(value.unwrap_or(&Value::Null)),
            );
            return;
        }
    }
    if *unknown == Value::Bool(true) {
        out.insert(path.to_owned(), Leaf::Unknown);
        return;
    }
    match value {
        Some(object @ Value::Object(m)) => {
            let mut keys: Vec<&String> = m.keys().collect();
            if let Value::Object(u) = unknown {
                keys.extend(u.keys().filter(|k| !m.contains_key(*k)));
            }
            if keys.is_empty() {
                if !path.is_empty() {
                    out.insert(path.to_owned(), Leaf::Known("{}".to_owned()));
                }
                return;
            }
            for k in keys {
                flatten_entry(object, sens, unknown, k, &join_key(path, k), out);
            }
        }
        Some(array @ Value::Array(a)) => {
            let n = a.len().max(unknown.as_array().map_or(0, Vec::len));
            if n == 0 {
                out.insert(path.to_owned(), Leaf::Known("[]".to_owned()));
                return;
            }
            for i in 0..n {
                flatten_entry(array, sens, unknown, i, &join_index(path, i), out);
            }
        }
        Some(Value::Null) | None => {
            // Absent, or known to be null; a sensitive mask deeper down has nothing to hide. Unknown
            // entries of an absent object are still unknown.
            match unknown {
                Value::Object(u) => {
                    for (k, m) in u {
                        flatten(None, &f, m, &join_key(path, k), out);
                    }
                }
                Value::Array(u) => {
                    for (i, m) in u.iter().enumerate() {
                        flatten(None, &f, m, &join_index(path, i), out);
                    }
                }
                _ => {}
            }
        }
        Some(scalar) => {
            if mask_any(sens) {
                // A structure mask over a scalar: the shapes disagree; keep nothing.
                out.insert(path.to_owned(), Leaf::sensitive(scalar));
            } else {
                out.insert(path.to_owned(), Leaf::Known(scalar.to_string()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn masks_hide_values_at_any_depth_and_unknowns_are_kept() {
        let v = values(
            Some(&json!({"a": "x", "b": {"c": "secret", "d": 1}, "l": ["p", "q"]})),
            &json!({"b": {"c": true}, "l": [false, true]}),
            &json!({"id": true, "b": {"e": true}}),
        );
        assert_eq!(v["a"], Leaf::Known("\"x\"".into()));
        assert!(matches!(v["b.c"], Leaf::Sensitive(_)));
        assert_eq!(v["b.d"], Leaf::Known("1".into()));
        assert_eq!(v["b.e"], Leaf::Unknown);
        assert_eq!(v["id"], Leaf::Unknown);
        assert!(matches!(v["l[1]"], Leaf::Sensitive(_)));
        assert!(!format!("{v:?}").contains("secret"));
        // A whole value marked sensitive.
        let w = values(Some(&json!({"k": "secret"})), &json!(true), &json!(false));
        assert!(matches!(w[""], Leaf::Sensitive(_)));
        // A mask of an unknown kind keeps nothing either.
        let x = values(
            Some(&json!({"k": "secret"})),
            &json!({"k": "yes"}),
            &json!(false),
        );
        assert!(matches!(x["k"], Leaf::Sensitive(_)));
    }

    #[test]
    fn an_unknown_action_list_is_refused() {
        let e = action(&[json!("delete"), json!("update")], "p.json", "a.b").unwrap_err();
        assert!(e.to_string().contains("a.b"), "{e}");
    }
}
