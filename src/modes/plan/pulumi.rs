//! Pulumi previews into the [`Plan`] model, from either of the two JSON forms Pulumi writes:
//!
//! - the digest of `pulumi preview --json` (`PreviewDigest` in pulumi's `pkg/display/json.go`:
//!   `steps` with `op`, `urn`, `oldState`/`newState`, `replaceReasons`, `diffReasons`, `detailedDiff`;
//!   `diagnostics`; `changeSummary`);
//! - the engine-event stream (`--event-log`, and `--json` of newer CLIs): one JSON object a line (or one
//!   array of them), `resourcePreEvent`/`resOutputsEvent` with step metadata (`op`, `urn`, `old`/`new`
//!   with `inputs`/`outputs`, `keys`, `diffs`), `diagnosticEvent`, `resOpFailedEvent`, `summaryEvent`.
//!
//! A replacement is three steps for one URN (`create-replacement`, `replace`, `delete-replaced`); their
//! order says whether the new object is created first (Pulumi's default) or the old one deleted first
//! (`deleteBeforeReplace`). Secrets (`{"4dabf18193072939515e22adb298388d":
//! "1b47061264138c4ac30d75fd1eb44270", …}`) become [`Leaf::Sensitive`], whatever they carry (`ciphertext`,
//! or `plaintext` under `--show-secrets`); unknowns (`04da6b54-80e4-46f7-96ec-b56ff0331ba9`) become
//! [`Leaf::Unknown`].

use std::collections::BTreeMap;

use serde_json::Value;

use super::PlanError;
use super::model::{
    Action, Change, Leaf, OutputChange, Plan, ReplaceOrder, Tool, Values, attr_changes, join_index,
    join_key,
};

/// Pulumi's signature key of special objects (secrets, assets, archives).
const SIG_KEY: &str = "4dabf18193072939515e22adb298388d";
/// The signature of a secret.
const SECRET_SIG: &str = "1b47061264138c4ac30d75fd1eb44270";
/// The string Pulumi writes for a value known only after the update.
const UNKNOWN: &str = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
/// Engine-event kinds (one of these keys is in every event).
const EVENT_KEYS: [&str; 6] = [
    "resourcePreEvent",
    "resOutputsEvent",
    "diagnosticEvent",
    "summaryEvent",
    "preludeEvent",
    "resOpFailedEvent",
];

/// Whether `v` (a whole document) is a Pulumi preview digest.
#[must_use]
pub fn is_digest(v: &Value) -> bool {
    v.is_object()
        && (v.get("steps").is_some_and(Value::is_array)
            || v.get("changeSummary").is_some_and(Value::is_object))
}

/// Whether `v` is one engine event.
#[must_use]
pub fn is_event(v: &Value) -> bool {
    EVENT_KEYS.iter().any(|k| v.get(*k).is_some())
        || (v.get("sequence").is_some() && v.get("timestamp").is_some())
}

/// One step, whichever form it came in.
struct Step<'a> {
    op: &'a str,
    urn: &'a str,
    old: Option<&'a Value>,
    new: Option<&'a Value>,
    keys: Vec<String>,
}

/// Reads a preview digest.
pub fn parse_digest(v: &Value, file: &str) -> Result<Plan, PlanError> {
    let mut steps = Vec::new();
    for s in v
        .get("steps")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        steps.push(step(s, "oldState", "newState", "replaceReasons", file)?);
    }
    let mut plan = build(&steps);
    for d in v
        .get("diagnostics")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        diagnostic(&mut plan, d);
    }
    if v.get("maybeCorrupt").and_then(Value::as_bool) == Some(true) {
        plan.errored = true;
        plan.errors
            .push("Pulumi says one or more resources may be corrupt (`maybeCorrupt`).".into());
    }
    Ok(plan)
}

/// Reads an engine-event stream.
pub fn parse_events(events: &[Value], file: &str) -> Result<Plan, PlanError> {
    let mut steps = Vec::new();
    let mut failed = Vec::new();
    let mut diags = Vec::new();
    let mut corrupt = false;
    let mut stack_outputs: Option<(&Value, &Value)> = None;
    for e in events {
        if let Some(m) = e
            .get("resourcePreEvent")
            .or_else(|| e.get("resOutputsEvent"))
            .and_then(|x| x.get("metadata"))
        {
            let s = step(m, "old", "new", "keys", file)?;
            if s.op != "same" || !is_stack(m) {
                steps.push(s);
            }
            if is_stack(m)
                && let (Some(o), Some(n)) = (
                    m.pointer("/old/outputs"),
                    m.pointer("/new/outputs").filter(|n| non_empty(n)),
                )
            {
                stack_outputs = Some((o, n));
            }
        } else if let Some(m) = e.pointer("/resOpFailedEvent/metadata") {
            failed.push(format!(
                "the {} of `{}` failed",
                m.get("op").and_then(Value::as_str).unwrap_or("step"),
                address(m.get("urn").and_then(Value::as_str).unwrap_or_default()).0
            ));
        } else if let Some(d) = e.get("diagnosticEvent") {
            diags.push(d);
        } else if let Some(s) = e.get("summaryEvent") {
            corrupt |= s.get("maybeCorrupt").and_then(Value::as_bool) == Some(true);
            if s.get("result").and_then(Value::as_str) == Some("failed") {
                failed.push("Pulumi reports the operation failed".to_owned());
            }
        }
    }
    let mut plan = build(&steps);
    for d in diags {
        diagnostic(&mut plan, d);
    }
    if !failed.is_empty() {
        plan.errored = true;
        plan.errors.extend(failed);
    }
    if corrupt {
        plan.errored = true;
        plan.errors
            .push("Pulumi says one or more resources may be corrupt (`maybeCorrupt`).".into());
    }
    if let Some((old, new)) = stack_outputs {
        plan.outputs = output_changes(old, new);
    }
    Ok(plan)
}

fn non_empty(v: &Value) -> bool {
    v.as_object().is_some_and(|o| !o.is_empty())
}

fn is_stack(m: &Value) -> bool {
    m.get("type").and_then(Value::as_str) == Some("pulumi:pulumi:Stack")
}

fn step<'a>(
    s: &'a Value,
    old: &str,
    new: &str,
    keys: &str,
    file: &str,
) -> Result<Step<'a>, PlanError> {
    let (Some(op), Some(urn)) = (
        s.get("op").and_then(Value::as_str),
        s.get("urn").and_then(Value::as_str),
    ) else {
        return Err(PlanError::Malformed {
            file: file.to_owned(),
            message: "a Pulumi step has no `op` or `urn`".to_owned(),
        });
    };
    Ok(Step {
        op,
        urn,
        old: s.get(old).filter(|v| v.is_object()),
        new: s.get(new).filter(|v| v.is_object()),
        keys: s
            .get(keys)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
    })
}

/// Pulumi's color markup (`<{%fg 1%}>`, `<{%reset%}>`) removed.
fn uncolor(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("<{%") {
        out.push_str(&rest[..i]);
        match rest[i..].find("%}>") {
            Some(j) => rest = &rest[i + j + 3..],
            None => {
                rest = &rest[i..];
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

fn diagnostic(plan: &mut Plan, d: &Value) {
    if d.get("severity").and_then(Value::as_str) == Some("error") {
        plan.errored = true;
        let msg = uncolor(d.get("message").and_then(Value::as_str).unwrap_or(""));
        plan.errors.push(msg.trim().to_owned());
    }
}

/// The URN without stack and project: `(address, type, parent chain)`.
fn address(urn: &str) -> (String, String, Option<String>) {
    let parts: Vec<&str> = urn.splitn(4, "::").collect();
    match parts.as_slice() {
        [_, _, qtype, name] => {
            let kind = qtype.rsplit('$').next().unwrap_or(qtype).to_owned();
            let parent = qtype
                .rsplit_once('$')
                .map(|(p, _)| p.to_owned())
                .filter(|p| !p.is_empty());
            (format!("{qtype}::{name}"), kind, parent)
        }
        _ => (urn.to_owned(), String::new(), None),
    }
}

fn inputs(state: Option<&Value>) -> Values {
    let mut out = Values::new();
    if let Some(i) = state.and_then(|s| s.get("inputs")) {
        flatten(i, "", &mut out);
    }
    out
}

/// `v` flattened to leaves: secrets and unknowns become their leaves.
fn flatten(v: &Value, path: &str, out: &mut Values) {
    match v {
        Value::Object(m) if m.get(SIG_KEY).and_then(Value::as_str) == Some(SECRET_SIG) => {
            out.insert(path.to_owned(), Leaf::sensitive(v));
        }
        Value::Object(m) if m.is_empty() => {
            if !path.is_empty() {
                out.insert(path.to_owned(), Leaf::Known("{}".to_owned()));
            }
        }
        Value::Object(m) => {
            for (k, x) in m {
                flatten(x, &join_key(path, k), out);
            }
        }
        Value::Array(a) if a.is_empty() => {
            out.insert(path.to_owned(), Leaf::Known("[]".to_owned()));
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                flatten(x, &join_index(path, i), out);
            }
        }
        Value::String(s) if s == UNKNOWN => {
            out.insert(path.to_owned(), Leaf::Unknown);
        }
        Value::Null => {}
        scalar => {
            out.insert(path.to_owned(), Leaf::Known(scalar.to_string()));
        }
    }
}

/// A stack output as one leaf: a secret anywhere in it makes the whole output sensitive.
fn output_leaf(v: &Value) -> Leaf {
    fn has_secret(v: &Value) -> bool {
        match v {
            Value::Object(m) => {
                m.get(SIG_KEY).and_then(Value::as_str) == Some(SECRET_SIG)
                    || m.values().any(has_secret)
            }
            Value::Array(a) => a.iter().any(has_secret),
            _ => false,
        }
    }
    fn strip(v: &Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .filter(|(k, _)| k.as_str() != "@isPulumiResource")
                    .map(|(k, x)| (k.clone(), strip(x)))
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.iter().map(strip).collect()),
            other => other.clone(),
        }
    }
    if has_secret(v) {
        Leaf::sensitive(v)
    } else if v.as_str() == Some(UNKNOWN) {
        Leaf::Unknown
    } else {
        Leaf::Known(strip(v).to_string())
    }
}

fn output_changes(old: &Value, new: &Value) -> Vec<OutputChange> {
    let empty = serde_json::Map::new();
    let (o, n) = (
        old.as_object().unwrap_or(&empty),
        new.as_object().unwrap_or(&empty),
    );
    let mut names: Vec<&String> = o.keys().chain(n.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|k| {
            let before = o.get(k).map(output_leaf);
            let after = n.get(k).map(output_leaf);
            let action = match (&before, &after) {
                (None, Some(_)) => Action::Create,
                (Some(_), None) => Action::Delete,
                (b, a) if b == a => Action::NoOp,
                _ => Action::Update,
            };
            OutputChange {
                name: k.clone(),
                action,
                before,
                after,
            }
        })
        .collect()
}

/// The steps of all URNs into changes, in the order each URN first appears.
fn build(steps: &[Step<'_>]) -> Plan {
    let mut order: Vec<&str> = Vec::new();
    let mut by_urn: BTreeMap<&str, Vec<&Step<'_>>> = BTreeMap::new();
    for s in steps {
        let e = by_urn.entry(s.urn).or_default();
        if e.is_empty() {
            order.push(s.urn);
        }
        if !e.iter().any(|x| x.op == s.op) {
            e.push(s);
        }
    }
    let mut plan = Plan {
        tool: Some(Tool::Pulumi),
        ..Plan::default()
    };
    for urn in order {
        let ss = &by_urn[urn];
        let pos = |op: &str| ss.iter().position(|s| s.op == op);
        let has = |op: &str| pos(op).is_some();
        let replace_order = match (pos("create-replacement"), pos("delete-replaced")) {
            (Some(c), Some(d)) if d < c => ReplaceOrder::DestroyBeforeCreate,
            _ => ReplaceOrder::CreateBeforeDestroy,
        };
        let mut importing = false;
        let mut deposed = None;
        let action = if has("replace")
            || (has("create-replacement") && has("delete-replaced"))
            || has("import-replacement")
        {
            importing = has("import-replacement");
            Action::Replace(replace_order)
        } else if has("delete") {
            Action::Delete
        } else if has("delete-replaced") {
            // The old object of an earlier replacement, still waiting to be deleted.
            deposed = Some("pending-replacement".to_owned());
            Action::Delete
        } else if has("discard") || has("discard-replaced") || has("remove-pending-replace") {
            Action::Forget
        } else if has("create") || has("create-replacement") {
            Action::Create
        } else if has("update") {
            Action::Update
        } else if has("read") || has("read-replacement") {
            Action::Read
        } else {
            importing = has("import");
            Action::NoOp
        };
        // The step that carries the most: the replace (or the single step).
        let main = ss
            .iter()
            .find(|s| s.op == "replace")
            .or_else(|| ss.first())
            .copied();
        let Some(main) = main else { continue };
        let old = ss.iter().find_map(|s| s.old);
        let new = ss.iter().rev().find_map(|s| s.new);
        let (addr, kind, parent) = address(urn);
        let mut ch = Change::new(addr, kind, action);
        ch.module = parent;
        ch.importing = importing;
        ch.deposed = deposed;
        ch.replace_paths = ss.iter().flat_map(|s| s.keys.clone()).collect();
        ch.replace_paths.sort();
        ch.replace_paths.dedup();
        if !action.destroys() || matches!(action, Action::Delete) {
            ch.replace_paths.clear();
        }
        if !ch.replace_paths.is_empty() {
            ch.reason = Some("the provider cannot update these properties in place".to_owned());
        }
        let before = inputs(old.or(main.old));
        let after = inputs(new.or(main.new));
        ch.attrs = attr_changes(action, &before, &after);
        if !matches!(action, Action::Delete | Action::Forget) {
            ch.after = after;
        }
        plan.changes.push(ch);
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_secret_keeps_nothing_even_in_plaintext() {
        let mut v = Values::new();
        flatten(
            &json!({"pw": {SIG_KEY: SECRET_SIG, "plaintext": "\"hunter2\""}, "n": UNKNOWN, "k": 1}),
            "",
            &mut v,
        );
        assert!(matches!(v["pw"], Leaf::Sensitive(_)));
        assert_eq!(v["n"], Leaf::Unknown);
        assert!(!format!("{v:?}").contains("hunter2"));
    }

    #[test]
    fn urns_lose_stack_and_project() {
        let (a, k, p) =
            address("urn:pulumi:dev::proj::my:component:Component$aws:s3/bucket:Bucket::logs::x");
        assert_eq!(a, "my:component:Component$aws:s3/bucket:Bucket::logs::x");
        assert_eq!(k, "aws:s3/bucket:Bucket");
        assert_eq!(p.as_deref(), Some("my:component:Component"));
    }

    #[test]
    fn color_markup_is_removed() {
        assert_eq!(uncolor("<{%fg 1%}>error:<{%reset%}> boom"), "error: boom");
    }
}
