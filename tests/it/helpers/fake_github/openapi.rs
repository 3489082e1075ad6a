//! The OpenAPI 3.0 description of the GitHub operations stevedore uses, and a small schema validator.
//!
//! The description is `tests/fixtures/github-openapi/api.github.com.subset.json` (a verbatim copy of the
//! subset in the shared folder, so CI's clean clone has it). Requests are matched to operations by method
//! and path template; bodies are validated against the operation's `requestBody` schema. Request objects
//! are validated strictly: a property the schema does not list is an error (GitHub silently ignores
//! unknown fields, which hides typos; the fake does not).

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::Value;

/// One documented operation.
pub struct Operation {
    pub method: String,
    pub template: String,
    pub operation_id: String,
    segments: Vec<Segment>,
    /// Resolved parameters (path-level and operation-level).
    pub params: Vec<Value>,
    /// The operation object.
    pub op: Value,
}

enum Segment {
    Literal(String),
    Param(String),
}

/// The loaded description.
pub struct Spec {
    pub doc: Value,
    pub ops: Vec<Operation>,
}

/// The process-wide description (parsed once).
pub fn spec() -> &'static Spec {
    static SPEC: OnceLock<Spec> = OnceLock::new();
    SPEC.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/github-openapi/api.github.com.subset.json"
        );
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let doc: Value = serde_json::from_str(&text).expect("the OpenAPI subset is JSON");
        Spec::new(doc)
    })
}

/// A request matched to an operation.
pub struct Matched<'a> {
    pub op: &'a Operation,
    pub path_params: HashMap<String, String>,
}

/// Why a request does not match the description.
pub enum NoMatch {
    /// No template matches the path.
    Path,
    /// A template matches the path but not with this method; lists the documented methods.
    Method(Vec<String>),
}

impl Spec {
    fn new(doc: Value) -> Spec {
        let mut ops = Vec::new();
        for (template, item) in doc["paths"].as_object().expect("paths") {
            let shared: Vec<Value> = item
                .get("parameters")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for (method, op) in item.as_object().expect("path item") {
                if !["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                    continue;
                }
                let mut params: Vec<Value> = Vec::new();
                for p in shared
                    .iter()
                    .chain(op["parameters"].as_array().into_iter().flatten())
                {
                    params.push(resolve(&doc, p).clone());
                }
                let segments = template
                    .trim_start_matches('/')
                    .split('/')
                    .map(|s| {
                        if s.starts_with('{') && s.ends_with('}') {
                            Segment::Param(s[1..s.len() - 1].to_owned())
                        } else {
                            Segment::Literal(s.to_owned())
                        }
                    })
                    .collect();
                ops.push(Operation {
                    method: method.to_uppercase(),
                    template: template.clone(),
                    operation_id: op["operationId"].as_str().unwrap_or_default().to_owned(),
                    segments,
                    params,
                    op: op.clone(),
                });
            }
        }
        Spec { doc, ops }
    }

    /// Matches `method` + `path` (without prefix and query). Path parameters are percent-decoded and must
    /// satisfy their schema (so `/releases/latest` is not `/releases/{release_id}`); a trailing `{ref}`
    /// may span several segments (`heads/feature/x`). The most literal template wins.
    pub fn find(&self, method: &str, path: &str) -> Result<Matched<'_>, NoMatch> {
        let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let mut best: Option<(usize, Matched<'_>)> = None;
        let mut methods = Vec::new();
        for op in &self.ops {
            let Some(params) = self.match_segments(op, &segs) else {
                continue;
            };
            if op.method != method {
                methods.push(op.method.clone());
                continue;
            }
            let literals = op
                .segments
                .iter()
                .filter(|s| matches!(s, Segment::Literal(_)))
                .count();
            if best.as_ref().is_none_or(|(l, _)| literals > *l) {
                best = Some((
                    literals,
                    Matched {
                        op,
                        path_params: params,
                    },
                ));
            }
        }
        match best {
            Some((_, m)) => Ok(m),
            None if methods.is_empty() => Err(NoMatch::Path),
            None => Err(NoMatch::Method(methods)),
        }
    }

    fn match_segments(&self, op: &Operation, segs: &[&str]) -> Option<HashMap<String, String>> {
        let mut out = HashMap::new();
        let n = op.segments.len();
        if segs.len() < n {
            return None;
        }
        for (i, s) in op.segments.iter().enumerate() {
            match s {
                Segment::Literal(l) => {
                    if segs.get(i) != Some(&l.as_str()) {
                        return None;
                    }
                }
                Segment::Param(name) => {
                    let last = i == n - 1;
                    let value = if last && name == "ref" {
                        segs[i..].join("/")
                    } else {
                        segs[i].to_owned()
                    };
                    let value = percent_decode(&value, false);
                    if value.is_empty() {
                        return None;
                    }
                    let schema = op
                        .params
                        .iter()
                        .find(|p| p["in"] == "path" && p["name"] == name.as_str())
                        .map(|p| p["schema"].clone())
                        .unwrap_or(Value::Null);
                    if check_param(self, &schema, &value).is_err() {
                        return None;
                    }
                    out.insert(name.clone(), value);
                }
            }
        }
        let spans = matches!(op.segments.last(), Some(Segment::Param(p)) if p == "ref");
        if segs.len() != n && !spans {
            return None;
        }
        Some(out)
    }

    /// Validates the query string against the operation's `in: query` parameters.
    pub fn check_query(&self, op: &Operation, query: &[(String, String)]) -> Result<(), String> {
        for (k, v) in query {
            let Some(p) = op
                .params
                .iter()
                .find(|p| p["in"] == "query" && p["name"] == k.as_str())
            else {
                return Err(format!(
                    "query parameter `{k}` is not documented for {} {}",
                    op.method, op.template
                ));
            };
            check_param(self, &p["schema"], v)
                .map_err(|e| format!("query parameter `{k}`={v:?}: {e}"))?;
        }
        for p in op.params.iter().filter(|p| p["in"] == "query") {
            if p["required"] == true && !query.iter().any(|(k, _)| p["name"] == k.as_str()) {
                return Err(format!(
                    "required query parameter `{}` is missing",
                    p["name"]
                ));
            }
        }
        Ok(())
    }

    /// The JSON request-body schema of `op`: `Ok(None)` when the operation takes no JSON body.
    pub fn body_schema<'a>(&'a self, op: &'a Operation) -> Option<(&'a Value, bool)> {
        let rb = op.op.get("requestBody")?;
        let rb = resolve(&self.doc, rb);
        let schema = rb["content"].get("application/json")?.get("schema")?;
        Some((schema, rb["required"] == true))
    }

    /// Validates `value` against `schema` (request side: unknown properties are errors).
    pub fn validate(&self, schema: &Value, value: &Value) -> Result<(), String> {
        validate(&self.doc, schema, value, "body", true)
    }
}

/// Follows a `$ref` (`#/components/...`).
pub fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    let mut v = v;
    while let Some(r) = v.get("$ref").and_then(Value::as_str) {
        let ptr = r.trim_start_matches('#');
        v = doc
            .pointer(ptr)
            .unwrap_or_else(|| panic!("dangling $ref {r}"));
    }
    v
}

fn check_param(spec: &Spec, schema: &Value, raw: &str) -> Result<(), String> {
    let schema = resolve(&spec.doc, schema);
    let value = match schema["type"].as_str() {
        Some("integer") => raw
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| "is not an integer".to_owned())?,
        Some("number") => raw
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| "is not a number".to_owned())?,
        Some("boolean") => match raw {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => return Err("is not a boolean".into()),
        },
        _ => Value::String(raw.to_owned()),
    };
    validate(&spec.doc, schema, &value, "parameter", false)
}

/// Decodes `%XX` escapes (path segments; query values also turn `+` into a space).
pub fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(if plus_is_space && b[i] == b'+' {
            b' '
        } else {
            b[i]
        });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Validates `v` against an OpenAPI 3.0 schema object: `$ref`, `type` (+`nullable`), `enum`, `properties`,
/// `required`, `additionalProperties`, `items`, `minItems`/`maxItems`, `minLength`/`maxLength`,
/// `minimum`/`maximum`, `oneOf`/`anyOf`/`allOf`. `strict` closes objects that list `properties` and say
/// nothing about `additionalProperties`.
pub fn validate(
    doc: &Value,
    schema: &Value,
    v: &Value,
    at: &str,
    strict: bool,
) -> Result<(), String> {
    let s = resolve(doc, schema);
    if s.as_object().is_none_or(|o| o.is_empty()) {
        return Ok(());
    }
    if v.is_null() {
        if s["nullable"] == true {
            return Ok(());
        }
        if s.get("type").is_some() {
            return Err(format!(
                "{at}: null is not allowed (schema is not nullable)"
            ));
        }
    }
    if let Some(t) = s["type"].as_str() {
        let actual = type_name(v);
        let ok = actual == t || (t == "number" && actual == "integer");
        if !ok {
            return Err(format!("{at}: expected {t}, found {actual} ({v})"));
        }
    }
    if let Some(e) = s["enum"].as_array()
        && !e.contains(v)
    {
        return Err(format!(
            "{at}: {v} is not one of {}",
            Value::Array(e.clone())
        ));
    }
    if let Some(str) = v.as_str() {
        let chars = str.chars().count() as u64;
        if let Some(max) = s["maxLength"].as_u64()
            && chars > max
        {
            return Err(format!(
                "{at}: string of {chars} characters exceeds maxLength {max}"
            ));
        }
        if let Some(min) = s["minLength"].as_u64()
            && chars < min
        {
            return Err(format!("{at}: string shorter than minLength {min}"));
        }
    }
    if let Some(n) = v.as_f64() {
        if let Some(max) = s["maximum"].as_f64()
            && n > max
        {
            return Err(format!("{at}: {n} exceeds maximum {max}"));
        }
        if let Some(min) = s["minimum"].as_f64()
            && n < min
        {
            return Err(format!("{at}: {n} is below minimum {min}"));
        }
    }
    if let Some(items) = v.as_array() {
        if let Some(max) = s["maxItems"].as_u64()
            && items.len() as u64 > max
        {
            return Err(format!("{at}: {} items exceed maxItems {max}", items.len()));
        }
        if let Some(min) = s["minItems"].as_u64()
            && (items.len() as u64) < min
        {
            return Err(format!("{at}: fewer than minItems {min} items"));
        }
        if let Some(is) = s.get("items") {
            for (i, item) in items.iter().enumerate() {
                validate(doc, is, item, &format!("{at}[{i}]"), strict)?;
            }
        }
    }
    if let Some(obj) = v.as_object() {
        let props = s["properties"].as_object();
        if let Some(req) = s["required"].as_array() {
            for r in req.iter().filter_map(Value::as_str) {
                if !obj.contains_key(r) {
                    return Err(format!("{at}: required property `{r}` is missing"));
                }
            }
        }
        for (k, val) in obj {
            match props.and_then(|p| p.get(k)) {
                Some(ps) => validate(doc, ps, val, &format!("{at}.{k}"), strict)?,
                None => match s.get("additionalProperties") {
                    Some(Value::Bool(false)) => {
                        return Err(format!("{at}: property `{k}` is not allowed"));
                    }
                    Some(Value::Bool(true)) => {}
                    Some(ap) => validate(doc, ap, val, &format!("{at}.{k}"), strict)?,
                    None if strict && props.is_some() => {
                        return Err(format!(
                            "{at}: property `{k}` is not in the schema (known: {})",
                            props
                                .map(|p| p.keys().cloned().collect::<Vec<_>>().join(", "))
                                .unwrap_or_default()
                        ));
                    }
                    None => {}
                },
            }
        }
    }
    if let Some(all) = s["allOf"].as_array() {
        for (i, sub) in all.iter().enumerate() {
            validate(doc, sub, v, &format!("{at}(allOf[{i}])"), strict)?;
        }
    }
    if let Some(any) = s["anyOf"].as_array() {
        let errs: Vec<String> = any
            .iter()
            .filter_map(|sub| validate(doc, sub, v, at, strict).err())
            .collect();
        if errs.len() == any.len() {
            return Err(format!("{at}: matches none of anyOf: {}", errs.join("; ")));
        }
    }
    if let Some(one) = s["oneOf"].as_array() {
        let mut errs = Vec::new();
        let mut ok = 0;
        for sub in one {
            match validate(doc, sub, v, at, strict) {
                Ok(()) => ok += 1,
                Err(e) => errs.push(e),
            }
        }
        if ok == 0 {
            return Err(format!("{at}: matches none of oneOf: {}", errs.join("; ")));
        }
        if ok > 1 {
            return Err(format!(
                "{at}: matches {ok} branches of oneOf (exactly one allowed)"
            ));
        }
    }
    Ok(())
}
