//! The `checks` input: which checks the gate judges, from which step outcome and result files.
//!
//! ```yaml
//! checks: |
//!   - name: Tests
//!     outcome: ${{ steps.test.outcome }}     # success | failure | cancelled | skipped (optional)
//!     results:                               # globs, relative to the workspace
//!       - path: target/nextest/ci/junit.xml
//!         format: junit
//!       - path: coverage.xml                 # format inferred from the name when it says
//!     coverage-floor: 80                     # percent of lines; fails the check below it
//!     required: true                         # default; `false` = advisory (warns, never fails the gate)
//!   - name: Lint
//!     outcome: ${{ steps.lint.outcome }}
//!     results: eslint.json                   # a single glob is fine too
//!     format: eslint-json                    # default format for the results of this check
//!   - name: Types
//!     results: { path: tsc.txt, format: text }   # and so is a single `{ path, format }` entry
//! ```
//!
//! Every problem names the check (by position and name) and the field, and all are reported together.

use crate::yaml::{TopKeys, YamlError};
use serde::Deserialize;

use super::parse::Format;

/// How a step ended (`steps.<id>.outcome`, before `continue-on-error`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    Cancelled,
    Skipped,
}

impl Outcome {
    #[must_use]
    pub fn parse(s: &str) -> Option<Outcome> {
        match s.trim().to_ascii_lowercase().as_str() {
            "success" => Some(Outcome::Success),
            "failure" => Some(Outcome::Failure),
            "cancelled" => Some(Outcome::Cancelled),
            "skipped" => Some(Outcome::Skipped),
            _ => None,
        }
    }

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Cancelled => "cancelled",
            Outcome::Skipped => "skipped",
        }
    }
}

/// A result-file glob with its format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResultSpec {
    pub glob: String,
    pub format: Format,
}

/// One declared check.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckSpec {
    pub name: String,
    /// `None` when the workflow did not pass one (the files decide).
    pub outcome: Option<Outcome>,
    pub results: Vec<ResultSpec>,
    pub required: bool,
    /// Percent of lines, 0–100.
    pub coverage_floor: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawCheck {
    name: Option<String>,
    outcome: Option<String>,
    #[serde(default)]
    results: Option<RawResults>,
    format: Option<String>,
    required: Option<bool>,
    advisory: Option<bool>,
    coverage_floor: Option<serde_yaml_ng::Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawResults {
    One(String),
    // Before `Spec`: serde reads a struct from a sequence too (`[junit.xml, coverage.xml]` would become
    // `{path: junit.xml, format: coverage.xml}`).
    Many(Vec<RawResult>),
    Spec(RawSpec),
}

/// `{ path, format }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    path: String,
    #[serde(default)]
    format: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawResult {
    Glob(String),
    Spec(RawSpec),
}

/// One problem in the `checks` input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{check}: `{field}` {problem}")]
pub struct CheckError {
    /// `check 2 ("Tests")`.
    pub check: String,
    pub field: String,
    pub problem: String,
}

fn formats_list() -> String {
    crate::inputs::code_list(Format::ALL.iter())
}

/// Parses the `checks` YAML; returns every problem found.
pub fn parse(yaml: &str) -> Result<Vec<CheckSpec>, Vec<CheckError>> {
    let raw: Vec<serde_yaml_ng::Value> = match crate::yaml::from_str(yaml, TopKeys::Exact) {
        Ok(serde_yaml_ng::Value::Sequence(s)) => s,
        Ok(serde_yaml_ng::Value::Null) => Vec::new(),
        Ok(_) => {
            return Err(vec![CheckError {
                check: "checks".into(),
                field: "checks".into(),
                problem: "must be a YAML list of checks (`- name: Tests ...`)".into(),
            }]);
        }
        Err(d @ YamlError::Duplicates(_)) => {
            return Err(vec![CheckError {
                check: "checks".into(),
                field: "checks".into(),
                problem: d.to_string(),
            }]);
        }
        Err(YamlError::Invalid(e)) => {
            return Err(vec![CheckError {
                check: "checks".into(),
                field: "checks".into(),
                problem: format!("is not valid YAML: {e}"),
            }]);
        }
    };
    let mut errors = Vec::new();
    let mut out = Vec::new();
    let mut names = std::collections::HashSet::new();
    for (i, v) in raw.into_iter().enumerate() {
        let name_hint = v
            .get("name")
            .and_then(serde_yaml_ng::Value::as_str)
            .map(str::to_owned);
        let who = match &name_hint {
            Some(n) => format!("check {} (\"{n}\")", i + 1),
            None => format!("check {}", i + 1),
        };
        let mut err = |field: &str, problem: String| {
            errors.push(CheckError {
                check: who.clone(),
                field: field.into(),
                problem,
            })
        };
        let r: RawCheck = match serde_yaml_ng::from_value(v) {
            Ok(r) => r,
            Err(e) => {
                let msg = e.to_string();
                if msg.contains("untagged enum RawResults") {
                    err(
                        "results",
                        "has a shape stevedore does not read; give a glob (`results: eslint.json`), one `{ path, format }` entry (`results: { path: tsc.txt, format: text }`), or a list of either".into(),
                    );
                    continue;
                }
                let field = msg
                    .split('`')
                    .nth(1)
                    .filter(|_| msg.starts_with("unknown field"))
                    .unwrap_or("(entry)")
                    .to_owned();
                err(
                    &field,
                    format!(
                        "is not understood: {msg}; fields are `name`, `outcome`, `results`, `format`, `required`, `advisory`, `coverage-floor`"
                    ),
                );
                continue;
            }
        };
        let name = match r
            .name
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty())
        {
            Some(n) => n,
            None => {
                err(
                    "name",
                    "is missing; every check needs a name, e.g. `name: Tests`".into(),
                );
                continue;
            }
        };
        if !names.insert(name.to_ascii_lowercase()) {
            err(
                "name",
                format!("`{name}` is used by an earlier check; names must be unique"),
            );
        }
        let outcome = match r
            .outcome
            .as_deref()
            .map(str::trim)
            .filter(|o| !o.is_empty())
        {
            None => None,
            Some(o) => match Outcome::parse(o) {
                Some(o) => Some(o),
                None => {
                    err(
                        "outcome",
                        format!(
                            "is `{o}`; use `${{{{ steps.<id>.outcome }}}}`, which is `success`, `failure`, `cancelled` or `skipped` (give the step an `id:`)"
                        ),
                    );
                    None
                }
            },
        };
        let default_format = match r.format.as_deref() {
            None => None,
            Some(f) => match Format::parse(f) {
                Some(f) => Some(f),
                None => {
                    err(
                        "format",
                        format!("`{f}` is not a known format; use one of {}", formats_list()),
                    );
                    None
                }
            },
        };
        let had_results = r.results.is_some();
        let entries: Vec<(String, Option<String>)> = match r.results {
            None => Vec::new(),
            Some(RawResults::One(g)) => vec![(g, None)],
            Some(RawResults::Spec(RawSpec { path, format })) => vec![(path, format)],
            Some(RawResults::Many(v)) => v
                .into_iter()
                .map(|e| match e {
                    RawResult::Glob(g) => (g, None),
                    RawResult::Spec(RawSpec { path, format }) => (path, format),
                })
                .collect(),
        };
        let mut results = Vec::new();
        for (j, (glob, fmt)) in entries.into_iter().enumerate() {
            let glob = glob.trim().to_owned();
            let field = format!("results[{j}]");
            if glob.is_empty() {
                err(&field, "has an empty path".into());
                continue;
            }
            if let Err(e) = globset::Glob::new(&glob) {
                err(&field, format!("`{glob}` is not a valid glob: {e}"));
                continue;
            }
            let format = match fmt.as_deref() {
                Some(f) => match Format::parse(f) {
                    Some(f) => f,
                    None => {
                        err(
                            &format!("{field}.format"),
                            format!("`{f}` is not a known format; use one of {}", formats_list()),
                        );
                        continue;
                    }
                },
                None => match default_format.or_else(|| Format::infer(&glob)) {
                    Some(f) => f,
                    None => {
                        err(
                            &format!("{field}.format"),
                            format!(
                                "is missing and cannot be inferred from `{glob}`; add `format:` (one of {})",
                                formats_list()
                            ),
                        );
                        continue;
                    }
                },
            };
            results.push(ResultSpec { glob, format });
        }
        let coverage_floor = match r.coverage_floor {
            None => None,
            Some(v) => {
                let n = match &v {
                    serde_yaml_ng::Value::Number(n) => n.as_f64(),
                    serde_yaml_ng::Value::String(s) => {
                        s.trim().trim_end_matches('%').trim().parse().ok()
                    }
                    _ => None,
                };
                match n.filter(|n| (0.0..=100.0).contains(n)) {
                    Some(n) => Some(n),
                    None => {
                        err(
                            "coverage-floor",
                            "must be a percentage between 0 and 100, e.g. `coverage-floor: 80`"
                                .into(),
                        );
                        None
                    }
                }
            }
        };
        if coverage_floor.is_some()
            && !results
                .iter()
                .any(|r| matches!(r.format, Format::Cobertura | Format::Lcov))
        {
            err(
                "coverage-floor",
                "is set but no `results` entry is a `cobertura` or `lcov` report".into(),
            );
        }
        let required = match (r.required, r.advisory) {
            (Some(a), Some(b)) if a == b => {
                err(
                    "advisory",
                    "contradicts `required`; set only one of them".into(),
                );
                true
            }
            (Some(req), _) => req,
            (None, Some(adv)) => !adv,
            (None, None) => true,
        };
        if r.outcome.is_none() && !had_results {
            err(
                "outcome",
                "and `results` are both missing; the check has nothing to judge".into(),
            );
        }
        out.push(CheckSpec {
            name,
            outcome,
            results,
            required,
            coverage_floor,
        });
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_shape_parses() {
        let y = r"
- name: Tests
  outcome: failure
  results:
    - path: target/nextest/ci/junit.xml
      format: junit
    - coverage.xml
  coverage-floor: 80%
- name: Lint
  outcome: success
  results: eslint.json
  format: eslint-json
  advisory: true
";
        let c = parse(y).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].outcome, Some(Outcome::Failure));
        assert_eq!(
            c[0].results,
            [
                ResultSpec {
                    glob: "target/nextest/ci/junit.xml".into(),
                    format: Format::Junit
                },
                ResultSpec {
                    glob: "coverage.xml".into(),
                    format: Format::Cobertura
                },
            ]
        );
        assert_eq!(c[0].coverage_floor, Some(80.0));
        assert!(c[0].required);
        assert!(!c[1].required);
        assert_eq!(c[1].results[0].format, Format::EslintJson);
    }

    #[test]
    fn a_single_path_and_format_entry_parses() {
        // docs/lint-gate.md documents `results: { path: tsc.txt, format: text }`; it used to be refused
        // with "data did not match any variant of untagged enum RawResults".
        let c = parse(
            "- name: Types\n  outcome: failure\n  results: { path: tsc.txt, format: text }\n",
        )
        .unwrap();
        assert_eq!(
            c[0].results,
            [ResultSpec {
                glob: "tsc.txt".into(),
                format: Format::Text
            }]
        );
    }

    #[test]
    fn a_flow_list_of_globs_stays_a_list() {
        let c =
            parse("- name: Tests\n  results: [junit.xml, coverage.xml]\n  coverage-floor: 80\n")
                .unwrap();
        let formats: Vec<_> = c[0].results.iter().map(|r| r.format).collect();
        assert_eq!(formats, [Format::Junit, Format::Cobertura]);
    }

    #[test]
    fn a_results_shape_that_fits_nothing_says_what_fits() {
        let errs = parse("- name: Types\n  results: { file: tsc.txt }\n").unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].field, "results");
        assert!(errs[0].problem.contains("{ path, format }"), "{}", errs[0]);
    }

    #[test]
    fn every_error_names_the_check_and_field() {
        let y = r"
- name: Tests
  outcome: failed
  results:
    - path: out.json
  coverage-floor: 180
- outcome: success
- name: Lint
  reslts: x.json
";
        let errs = parse(y).unwrap_err();
        let msgs: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(msgs.len(), 5, "{msgs:#?}");
        assert!(
            msgs[0].starts_with("check 1 (\"Tests\"): `outcome` is `failed`"),
            "{}",
            msgs[0]
        );
        assert!(
            msgs[1].starts_with("check 1 (\"Tests\"): `results[0].format` is missing"),
            "{}",
            msgs[1]
        );
        assert!(
            msgs[2].starts_with("check 1 (\"Tests\"): `coverage-floor` must be a percentage"),
            "{}",
            msgs[2]
        );
        assert!(
            msgs[3].starts_with("check 2: `name` is missing"),
            "{}",
            msgs[3]
        );
        assert!(
            msgs[4].starts_with("check 3 (\"Lint\"): `reslts` is not understood"),
            "{}",
            msgs[4]
        );
    }

    #[test]
    fn not_a_list_is_one_clear_error() {
        let e = parse("name: Tests").unwrap_err();
        assert!(e[0].to_string().contains("must be a YAML list"), "{}", e[0]);
    }
}
