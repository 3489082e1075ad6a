//! After apply: `terraform output -json` / `tofu output -json` (`{"name": {"sensitive": …, "type": …,
//! "value": …}}`) and `pulumi stack output --json` (`{"name": value}`, secrets written `"[secret]"`
//! unless `--show-secrets`) become the `iac-outputs` step output (JSON, by environment) and a table in
//! the summary; each environment gets a GitHub Deployment, as any deploy does.
//!
//! A sensitive value is registered as a secret (`::add-mask::`, so the runner masks it in every log)
//! before it is written to the step output, and the summary shows `(sensitive)` in its place.

use serde_json::{Map, Value};

use crate::modes::lint_gate::paths::PathMap;
use crate::modes::runtime::{ModeError, Runtime};
use crate::report::{Report, Verdict, markdown};

use super::{Config, PlanError, read};

/// One output value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Output {
    pub name: String,
    pub value: Value,
    pub sensitive: bool,
}

/// Reads either tool's outputs.
pub fn parse(bytes: &[u8], file: &str) -> Result<Vec<Output>, PlanError> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| PlanError::Malformed {
        file: file.to_owned(),
        message: format!("outputs are not JSON: {e}"),
    })?;
    let Value::Object(m) = v else {
        return Err(PlanError::Malformed {
            file: file.to_owned(),
            message: "outputs are not a JSON object of names".to_owned(),
        });
    };
    let terraform = !m.is_empty()
        && m.values()
            .all(|x| x.get("value").is_some() && x.get("type").is_some());
    Ok(m.into_iter()
        .map(|(name, x)| {
            if terraform {
                Output {
                    name,
                    sensitive: x.get("sensitive").and_then(Value::as_bool) != Some(false),
                    value: x.get("value").cloned().unwrap_or(Value::Null),
                }
            } else {
                Output {
                    name,
                    sensitive: x.as_str() == Some("[secret]"),
                    value: x,
                }
            }
        })
        .collect())
}

fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(o) => o.values().for_each(|x| strings(x, out)),
        Value::Null => {}
        other => out.push(other.to_string()),
    }
}

/// Reads each environment's outputs, masks the sensitive ones, and records a Deployment.
pub async fn run(rt: &Runtime<'_>, cfg: &Config, paths: &PathMap) -> Result<Report, ModeError> {
    let mut all = Map::new();
    let mut summary = String::new();
    let client = rt.github();
    for e in &cfg.outputs {
        let bytes = read(paths, &e.path)?;
        let outs = parse(&bytes, &e.path)?;
        let mut values = Map::new();
        let mut rows = Vec::new();
        for o in &outs {
            // Pulumi's `"[secret]"` is a placeholder, not the secret: nothing to mask.
            if o.sensitive && o.value.as_str() != Some("[secret]") {
                let mut parts = Vec::new();
                strings(&o.value, &mut parts);
                for p in parts {
                    rt.cmds.add_mask(&p);
                }
            }
            values.insert(o.name.clone(), o.value.clone());
            let shown = if o.sensitive {
                "_(sensitive)_".to_owned()
            } else {
                markdown::code_span(crate::report::truncate_bytes(&o.value.to_string(), 200))
            };
            rows.push(vec![markdown::code_span(&o.name), shown]);
        }
        all.insert(e.environment.clone(), Value::Object(values));
        summary.push_str(&format!(
            "#### {} outputs\n\n{}\n",
            markdown::text(&e.environment),
            if rows.is_empty() {
                "_No outputs._\n".to_owned()
            } else {
                markdown::table(&["output", "value"], &rows)
            }
        ));
        match &client {
            Some(c) => {
                match crate::github::deployments::start(
                    c,
                    rt.ctx,
                    &e.environment,
                    "Infrastructure applied",
                )
                .await
                {
                    Ok(d) => match crate::github::deployments::finish(c, &d, true, None, None).await
                    {
                        Ok(()) => summary.push_str(&format!(
                            "GitHub Deployment {} recorded for {}.\n\n",
                            d.id,
                            markdown::text(&e.environment)
                        )),
                        Err(err) => summary.push_str(&format!(
                            "⚠️ The GitHub Deployment of {} was created but its status was not set: {}\n\n",
                            markdown::text(&e.environment),
                            markdown::text(&err.to_string())
                        )),
                    },
                    Err(err) => summary.push_str(&format!(
                        "⚠️ No GitHub Deployment recorded for {}: {} (the job needs `permissions: deployments: write`).\n\n",
                        markdown::text(&e.environment),
                        markdown::text(&err.to_string())
                    )),
                }
            }
            None => summary.push_str("No GitHub token: no Deployment recorded.\n\n"),
        }
    }
    let mut r = Report::new(
        crate::inputs::Mode::Plan,
        Verdict::Success,
        format!(
            "outputs of {}",
            cfg.outputs
                .iter()
                .map(|e| e.environment.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        summary,
    );
    r.comment = false;
    r.checks.clear();
    r.output("iac-outputs", Value::Object(all).to_string());
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_tools_outputs_read_and_secrets_are_marked() {
        let tf = parse(
            br#"{"url":{"sensitive":false,"type":"string","value":"https://x"},"pw":{"sensitive":true,"type":"string","value":"hunter22"}}"#,
            "o.json",
        )
        .unwrap();
        assert_eq!(tf.iter().filter(|o| o.sensitive).count(), 1);
        let pu = parse(br#"{"url":"https://x","pw":"[secret]"}"#, "o.json").unwrap();
        assert!(pu.iter().any(|o| o.name == "pw" && o.sensitive));
        assert!(parse(b"[]", "o.json").is_err());
    }
}
