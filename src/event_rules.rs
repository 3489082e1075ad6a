//! EventBridge rules for Lambda workers: the `event-rules` input, what it changes ([`diff`], the dry
//! run's answer), and the sync ([`sync`]).
//!
//! ## The input
//!
//! `event-rules` is a YAML map from rule name to rule:
//!
//! ```yaml
//! nightly-report:
//!   schedule: cron(0 3 * * ? *)
//! order-created:
//!   bus: orders
//!   pattern:
//!     source: [shop.orders]
//!     detail-type: [OrderCreated]
//!   description: Bill each new order
//!   sample-event: events/order-created.json
//! paused-sweep:
//!   schedule: rate(15 minutes)
//!   enabled: false
//! ```
//!
//! - `schedule` (`rate(<n> <unit>)` or `cron(<6 fields>)`) and/or `pattern` (an event pattern, as a map);
//!   at least one. A schedule only on the default bus (EventBridge runs schedules there only).
//! - `bus`: the event bus's name (default: `default`).
//! - `description`, `enabled` (default `true`), `sample-event` (a file in the workspace the deploy sends to
//!   the new version before traffic; read by the deploy, not here).
//!
//! ## What the sync does
//!
//! Every listed rule targets the **alias** (`arn:…:function:<name>:<alias>`; never `$LATEST` nor the
//! unqualified function), with target id `stevedore`, and the alias carries a resource-policy statement
//! letting `events.amazonaws.com` invoke it for that rule only (`SourceArn` = the rule's ARN). A rule
//! stevedore creates is tagged `stevedore:managed-by=<function>`; a rule of the same name that is not
//! tagged so is someone else's and is refused, never changed. Rules tagged for this function that target
//! the alias and are no longer listed are removed (their targets, the rule, the statement); nothing else is
//! touched. Each rule is compared before anything is written, so a second run with the same input writes
//! nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::aws::call::CallError;
use crate::aws::events::{Events, PutRule, Tag, Target};
use crate::inputs::InputError;

/// The input's name.
pub const INPUT: &str = "event-rules";
/// The tag marking a rule stevedore manages, valued with the function's name.
pub const OWNER_TAG: &str = "stevedore:managed-by";
/// The target id stevedore gives its target.
pub const TARGET_ID: &str = "stevedore";
const DEFAULT_BUS: &str = "default";
const PRINCIPAL: &str = "events.amazonaws.com";

/// One rule of `event-rules`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventRule {
    pub name: String,
    /// `default` when not given.
    pub bus: String,
    pub schedule: Option<String>,
    /// A JSON object.
    pub pattern: Option<Value>,
    pub description: Option<String>,
    pub enabled: bool,
    /// The sample event file for the smoke test (a path, not read here).
    pub sample_event: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawRule {
    schedule: Option<String>,
    pattern: Option<Value>,
    bus: Option<String>,
    description: Option<String>,
    enabled: Option<bool>,
    sample_event: Option<String>,
}

const EXAMPLE: &str = "e.g. `nightly: {schedule: \"rate(1 day)\"}` or `orders: {bus: orders, pattern: {source: [shop.orders]}}`";

fn input_error(value: Option<&str>, problem: String, fix: &str) -> InputError {
    InputError {
        input: INPUT.to_owned(),
        value: value.map(|v| v.chars().take(200).collect()),
        problem,
        fix: fix.to_owned(),
    }
}

/// Reads `event-rules`; every problem found, each naming the rule, the value and the fix.
pub fn parse(text: &str) -> Result<Vec<EventRule>, Vec<InputError>> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let raw: BTreeMap<String, RawRule> = crate::yaml::from_str(text, crate::yaml::TopKeys::Exact)
        .map_err(|e| {
        vec![input_error(
            None,
            format!("not a map of rule names to rules: {e}"),
            &format!("Write one entry per rule, {EXAMPLE}"),
        )]
    })?;
    let mut errors = Vec::new();
    let mut rules = Vec::new();
    for (name, r) in raw {
        let mut bad = |value: &str, problem: String, fix: &str| {
            errors.push(input_error(
                Some(value),
                format!("rule `{name}`: {problem}"),
                fix,
            ));
        };
        if !valid_rule_name(&name) {
            bad(
                &name,
                "not an EventBridge rule name".into(),
                "Use 1 to 64 letters, digits, `.`, `-` and `_`, e.g. `nightly-report`",
            );
        }
        let bus = r.bus.unwrap_or_else(|| DEFAULT_BUS.to_owned());
        if !valid_bus_name(&bus) {
            bad(
                &bus,
                "`bus` is not an event bus name".into(),
                "Give the bus's name (not its ARN): 1 to 256 letters, digits, `.`, `-`, `_` and `/`, e.g. `orders`",
            );
        }
        if let Some(s) = &r.schedule {
            if let Err(p) = check_schedule(s) {
                bad(
                    s,
                    p,
                    "Write `rate(<n> minute(s)|hour(s)|day(s))` or `cron(<minutes> <hours> <day-of-month> <month> <day-of-week> <year>)`, e.g. `rate(5 minutes)`, `cron(0 3 * * ? *)`",
                );
            }
            if bus != DEFAULT_BUS {
                bad(
                    s,
                    format!(
                        "a schedule on bus `{bus}`: EventBridge runs schedules on the default bus only"
                    ),
                    "Leave `bus` out for a scheduled rule",
                );
            }
        }
        if let Some(p) = &r.pattern {
            let text = p.to_string();
            if p.as_object().is_none_or(serde_json::Map::is_empty) {
                bad(
                    &text,
                    "`pattern` is not a non-empty map".into(),
                    "Write the event pattern as a map, e.g. `pattern: {source: [shop.orders]}`",
                );
            } else if text.len() > 4096 {
                bad(
                    &text,
                    "`pattern` is longer than EventBridge's 4096 characters".into(),
                    "Shorten the pattern",
                );
            }
        }
        if r.schedule.is_none() && r.pattern.is_none() {
            bad(
                &name,
                "neither `schedule` nor `pattern`".into(),
                &format!("Give one or both, {EXAMPLE}"),
            );
        }
        if let Some(d) = &r.description
            && d.chars().count() > 512
        {
            bad(
                d,
                "`description` is longer than 512 characters".into(),
                "Shorten the description",
            );
        }
        rules.push(EventRule {
            name,
            bus,
            schedule: r.schedule,
            pattern: r.pattern,
            description: r.description,
            enabled: r.enabled.unwrap_or(true),
            sample_event: r.sample_event,
        });
    }
    if errors.is_empty() {
        Ok(rules)
    } else {
        Err(errors)
    }
}

fn valid_rule_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

fn valid_bus_name(s: &str) -> bool {
    (1..=256).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'/'))
}

/// `rate(1 minute)`, `rate(5 minutes)`, `cron(0 3 * * ? *)`: the problem, if any.
fn check_schedule(s: &str) -> Result<(), String> {
    if let Some(inner) = s.strip_prefix("rate(").and_then(|r| r.strip_suffix(')')) {
        let mut parts = inner.split(' ');
        let (Some(n), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err("not `rate(<n> <unit>)`".into());
        };
        let n: u64 = n
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("`{n}` is not a positive whole number"))?;
        let ok = if n == 1 {
            matches!(unit, "minute" | "hour" | "day")
        } else {
            matches!(unit, "minutes" | "hours" | "days")
        };
        return if ok {
            Ok(())
        } else {
            Err(format!(
                "`{unit}` is not the unit for {n} (`minute`, `hour`, `day` for 1; `minutes`, `hours`, `days` otherwise)"
            ))
        };
    }
    if let Some(inner) = s.strip_prefix("cron(").and_then(|r| r.strip_suffix(')')) {
        let fields: Vec<&str> = inner.split_whitespace().collect();
        if fields.len() != 6 {
            return Err(format!(
                "a cron expression has 6 fields, this one {}",
                fields.len()
            ));
        }
        let allowed = |f: &str| {
            f.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'*' | b'?' | b',' | b'-' | b'/' | b'#')
            })
        };
        if let Some(f) = fields.iter().find(|f| !allowed(f)) {
            return Err(format!(
                "the cron field `{f}` has characters cron does not allow"
            ));
        }
        if fields[2] != "?" && fields[4] != "?" {
            return Err("one of day-of-month and day-of-week must be `?`".into());
        }
        return Ok(());
    }
    Err("neither `rate(…)` nor `cron(…)`".into())
}

/// The function and the alias the rules target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Worker {
    /// The function's name.
    pub function: String,
    /// The alias's name.
    pub alias: String,
    /// `arn:<partition>:lambda:<region>:<account>:function:<function>:<alias>`.
    pub alias_arn: String,
}

impl Worker {
    /// The worker for an alias ARN; `None` when it is not a qualified function ARN with an alias (a
    /// version number or `$LATEST` is refused: rules target the alias).
    #[must_use]
    pub fn from_alias_arn(alias_arn: &str) -> Option<Worker> {
        let parts: Vec<&str> = alias_arn.split(':').collect();
        let [
            "arn",
            _partition,
            "lambda",
            _region,
            _account,
            "function",
            function,
            alias,
        ] = parts.as_slice()
        else {
            return None;
        };
        let alias_ok =
            !alias.is_empty() && *alias != "$LATEST" && !alias.bytes().all(|b| b.is_ascii_digit());
        (alias_ok && !function.is_empty()).then(|| Worker {
            function: (*function).to_owned(),
            alias: (*alias).to_owned(),
            alias_arn: alias_arn.to_owned(),
        })
    }
}

/// A rule as found in the account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Existing {
    pub name: String,
    pub bus: String,
    pub arn: String,
    pub schedule: Option<String>,
    pub pattern: Option<Value>,
    pub enabled: bool,
    pub description: Option<String>,
    /// The `stevedore:managed-by` tag's value.
    pub owner: Option<String>,
    /// Set when another AWS service manages the rule.
    pub service_managed: bool,
    pub targets: Vec<Target>,
    /// The `SourceArn` of the alias's policy statement for this rule, when there is one.
    pub permitted: Option<String>,
}

/// What happens to one rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Create,
    Update,
    Delete,
    Unchanged,
}

/// One rule's change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub bus: String,
    pub name: String,
    pub action: Action,
    /// The rule itself is written (`PutRule`).
    pub rule: bool,
    /// The alias target is written (`PutTargets`).
    pub target: bool,
    /// The invoke permission is written (`AddPermission`).
    pub permission: bool,
    /// What differs (`schedule rate(1 day) → cron(0 3 * * ? *)`), for the dry run.
    pub details: Vec<String>,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = match self.action {
            Action::Create => "+",
            Action::Update => "~",
            Action::Delete => "-",
            Action::Unchanged => "=",
        };
        write!(f, "{sign} rule {}/{}", self.bus, self.name)?;
        if !self.details.is_empty() {
            write!(f, ": {}", self.details.join("; "))?;
        }
        Ok(())
    }
}

/// Why the sync stopped.
#[derive(Debug, thiserror::Error)]
pub enum EventRulesError {
    /// An EventBridge or Lambda call failed.
    #[error(transparent)]
    Call(#[from] CallError),
    /// A rule of that name exists and is not this function's.
    #[error(
        "rule `{name}` on bus `{bus}` exists and is not stevedore's for function `{function}` ({why}); it was left as it is. Rename the rule in `event-rules`, or delete the existing rule"
    )]
    NotOurs {
        bus: String,
        name: String,
        function: String,
        why: String,
    },
}

/// What [`diff`] compares: whether `e` still says what `d` asks for.
fn differences(d: &EventRule, e: &Existing) -> Vec<String> {
    let mut out = Vec::new();
    let show = |v: Option<&str>| v.map_or_else(|| "none".to_owned(), str::to_owned);
    if d.schedule != e.schedule {
        out.push(format!(
            "schedule {} → {}",
            show(e.schedule.as_deref()),
            show(d.schedule.as_deref())
        ));
    }
    if d.pattern != e.pattern {
        let j = |p: &Option<Value>| {
            p.as_ref()
                .map_or_else(|| "none".to_owned(), Value::to_string)
        };
        out.push(format!("pattern {} → {}", j(&e.pattern), j(&d.pattern)));
    }
    if d.enabled != e.enabled {
        out.push(if d.enabled { "enabled" } else { "disabled" }.to_owned());
    }
    if d.description != e.description {
        out.push("description".into());
    }
    out
}

/// The changes that bring `existing` (what [`read`] found) to `desired` for `worker`: pure, for the dry
/// run and for [`apply`]. Refuses a listed rule that exists and is not this function's.
pub fn diff(
    worker: &Worker,
    desired: &[EventRule],
    existing: &[Existing],
) -> Result<Vec<Change>, EventRulesError> {
    let found: BTreeMap<(&str, &str), &Existing> = existing
        .iter()
        .map(|e| ((e.bus.as_str(), e.name.as_str()), e))
        .collect();
    let mut changes = Vec::new();
    let mut listed = BTreeSet::new();
    for d in desired {
        listed.insert((d.bus.as_str(), d.name.as_str()));
        let Some(e) = found.get(&(d.bus.as_str(), d.name.as_str())) else {
            changes.push(Change {
                bus: d.bus.clone(),
                name: d.name.clone(),
                action: Action::Create,
                rule: true,
                target: true,
                permission: true,
                details: vec![format!("→ {}", worker.alias_arn)],
            });
            continue;
        };
        if e.service_managed || e.owner.as_deref() != Some(worker.function.as_str()) {
            return Err(EventRulesError::NotOurs {
                bus: d.bus.clone(),
                name: d.name.clone(),
                function: worker.function.clone(),
                why: if e.service_managed {
                    "another AWS service manages it".into()
                } else {
                    match &e.owner {
                        Some(o) => format!("tagged `{OWNER_TAG}={o}`"),
                        None => format!("no `{OWNER_TAG}` tag"),
                    }
                },
            });
        }
        let mut details = differences(d, e);
        let target = !e
            .targets
            .iter()
            .any(|t| t.id == TARGET_ID && t.arn == worker.alias_arn);
        if target {
            details.push(format!("target → {}", worker.alias_arn));
        }
        let permission = e.permitted.as_deref() != Some(e.arn.as_str());
        if permission {
            details.push(format!("permission for {PRINCIPAL}"));
        }
        let rule = !differences(d, e).is_empty();
        let action = if rule || target || permission {
            Action::Update
        } else {
            Action::Unchanged
        };
        changes.push(Change {
            bus: d.bus.clone(),
            name: d.name.clone(),
            action,
            rule,
            target,
            permission,
            details,
        });
    }
    for e in existing {
        if listed.contains(&(e.bus.as_str(), e.name.as_str()))
            || e.service_managed
            || e.owner.as_deref() != Some(worker.function.as_str())
        {
            continue;
        }
        changes.push(Change {
            bus: e.bus.clone(),
            name: e.name.clone(),
            action: Action::Delete,
            rule: true,
            target: true,
            permission: e.permitted.is_some(),
            details: vec!["no longer listed".into()],
        });
    }
    Ok(changes)
}

/// The alias policy's statement id for a rule: `stevedore-events-` and 16 hex digits of the SHA-256 of
/// `<bus>/<name>` (fits Lambda's 100 characters whatever the bus's name).
#[must_use]
pub fn statement_id(bus: &str, name: &str) -> String {
    let h = hex::encode(Sha256::digest(format!("{bus}/{name}").as_bytes()));
    format!("stevedore-events-{}", &h[..16])
}

/// The rules that matter to `worker`: those `desired` names, and those of any bus targeting the alias.
pub async fn read(
    events: &Events,
    lambda: &aws_sdk_lambda::Client,
    worker: &Worker,
    desired: &[EventRule],
) -> Result<Vec<Existing>, EventRulesError> {
    let mut candidates: BTreeSet<(String, String)> = desired
        .iter()
        .map(|d| (d.bus.clone(), d.name.clone()))
        .collect();
    for bus in events.list_event_buses().await? {
        for name in events
            .list_rule_names_by_target(&bus, &worker.alias_arn)
            .await?
        {
            candidates.insert((bus.clone(), name));
        }
    }
    let statements = policy_statements(lambda, worker).await?;
    let mut out = Vec::new();
    for (bus, name) in candidates {
        let Some(rule) = events.describe_rule(&bus, &name).await? else {
            continue;
        };
        let arn = rule.arn.clone().unwrap_or_default();
        let tags = if arn.is_empty() {
            Vec::new()
        } else {
            events.list_tags(&arn).await?
        };
        let targets = events.list_targets_by_rule(&bus, &name).await?;
        out.push(Existing {
            permitted: statements.get(&statement_id(&bus, &name)).cloned(),
            name,
            bus,
            arn,
            schedule: rule.schedule_expression.filter(|s| !s.is_empty()),
            // Compared as JSON: EventBridge may give the pattern back re-spaced.
            pattern: rule
                .event_pattern
                .as_deref()
                .and_then(|p| serde_json::from_str(p).ok()),
            enabled: rule.state.as_deref() != Some("DISABLED"),
            description: rule.description.filter(|d| !d.is_empty()),
            owner: tags
                .into_iter()
                .find(|t| t.key == OWNER_TAG)
                .map(|t| t.value),
            service_managed: rule.managed_by.is_some_and(|m| !m.is_empty()),
            targets,
        });
    }
    Ok(out)
}

/// The alias policy's statements: statement id → `AWS:SourceArn` of its condition.
async fn policy_statements(
    lambda: &aws_sdk_lambda::Client,
    worker: &Worker,
) -> Result<BTreeMap<String, String>, EventRulesError> {
    let got = lambda
        .get_policy()
        .function_name(&worker.function)
        .qualifier(&worker.alias)
        .send()
        .await
        .map_err(|e| CallError::from_sdk("Lambda", "GetPolicy", &worker.alias_arn, &e));
    let policy = match got {
        Ok(out) => out.policy.unwrap_or_default(),
        Err(e) if e.is_not_found() => return Ok(BTreeMap::new()),
        Err(e) => return Err(e.into()),
    };
    let v: Value = serde_json::from_str(&policy).unwrap_or(Value::Null);
    let statements = match v.get("Statement") {
        Some(Value::Array(a)) => a.clone(),
        Some(s @ Value::Object(_)) => vec![s.clone()],
        _ => Vec::new(),
    };
    Ok(statements
        .iter()
        .filter(|s| {
            s.get("Principal")
                .map(|p| p.get("Service").unwrap_or(p))
                .and_then(Value::as_str)
                == Some(PRINCIPAL)
        })
        .filter_map(|s| {
            let sid = s.get("Sid")?.as_str()?.to_owned();
            let arn = s
                .pointer("/Condition/ArnLike/AWS:SourceArn")
                .or_else(|| s.pointer("/Condition/ArnEquals/AWS:SourceArn"))?
                .as_str()?
                .to_owned();
            Some((sid, arn))
        })
        .collect())
}

/// Writes `changes` (from [`diff`] of what [`read`] found): rules, permissions, then targets; removed rules'
/// targets, the rules and their statements.
pub async fn apply(
    events: &Events,
    lambda: &aws_sdk_lambda::Client,
    worker: &Worker,
    desired: &[EventRule],
    existing: &[Existing],
    changes: &[Change],
) -> Result<(), EventRulesError> {
    let lambda_err = |op: &'static str| {
        move |e: aws_sdk_lambda::error::SdkError<_, _>| -> EventRulesError {
            CallError::from_sdk::<_>("Lambda", op, &worker.alias_arn, &e).into()
        }
    };
    for c in changes {
        let d = desired.iter().find(|d| d.bus == c.bus && d.name == c.name);
        let e = existing.iter().find(|e| e.bus == c.bus && e.name == c.name);
        let sid = statement_id(&c.bus, &c.name);
        match (c.action, d) {
            (Action::Unchanged, _) => {}
            (Action::Create | Action::Update, Some(d)) => {
                let mut arn = e.map(|e| e.arn.clone()).unwrap_or_default();
                if c.rule {
                    arn = events
                        .put_rule(&PutRule {
                            name: d.name.clone(),
                            event_bus_name: Some(d.bus.clone()),
                            schedule_expression: d.schedule.clone(),
                            event_pattern: d.pattern.as_ref().map(Value::to_string),
                            state: if d.enabled { "ENABLED" } else { "DISABLED" }.into(),
                            description: d.description.clone(),
                            tags: if c.action == Action::Create {
                                vec![Tag {
                                    key: OWNER_TAG.into(),
                                    value: worker.function.clone(),
                                }]
                            } else {
                                Vec::new()
                            },
                        })
                        .await?;
                }
                if c.permission {
                    if e.is_some_and(|e| e.permitted.is_some()) {
                        remove_permission(lambda, worker, &sid).await?;
                    }
                    lambda
                        .add_permission()
                        .function_name(&worker.function)
                        .qualifier(&worker.alias)
                        .statement_id(&sid)
                        .action("lambda:InvokeFunction")
                        .principal(PRINCIPAL)
                        .source_arn(&arn)
                        .send()
                        .await
                        .map_err(lambda_err("AddPermission"))?;
                }
                if c.target {
                    events
                        .put_targets(
                            &d.bus,
                            &d.name,
                            &[Target {
                                id: TARGET_ID.into(),
                                arn: worker.alias_arn.clone(),
                                input: None,
                            }],
                        )
                        .await?;
                }
                tracing::info!("{c}");
            }
            (Action::Delete, _) => {
                let ids: Vec<String> = e
                    .map(|e| e.targets.iter().map(|t| t.id.clone()).collect())
                    .unwrap_or_default();
                if !ids.is_empty() {
                    events.remove_targets(&c.bus, &c.name, &ids).await?;
                }
                events.delete_rule(&c.bus, &c.name).await?;
                if c.permission {
                    remove_permission(lambda, worker, &sid).await?;
                }
                tracing::info!("{c}");
            }
            (Action::Create | Action::Update, None) => {}
        }
    }
    Ok(())
}

async fn remove_permission(
    lambda: &aws_sdk_lambda::Client,
    worker: &Worker,
    sid: &str,
) -> Result<(), EventRulesError> {
    let r = lambda
        .remove_permission()
        .function_name(&worker.function)
        .qualifier(&worker.alias)
        .statement_id(sid)
        .send()
        .await
        .map_err(|e| CallError::from_sdk("Lambda", "RemovePermission", &worker.alias_arn, &e));
    match r {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Reads, compares and (unless `dry_run`) writes: the changes, `Unchanged` ones included.
pub async fn sync(
    events: &Events,
    lambda: &aws_sdk_lambda::Client,
    worker: &Worker,
    desired: &[EventRule],
    dry_run: bool,
) -> Result<Vec<Change>, EventRulesError> {
    let existing = read(events, lambda, worker, desired).await?;
    let changes = diff(worker, desired, &existing)?;
    if !dry_run {
        apply(events, lambda, worker, desired, &existing, &changes).await?;
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worker() -> Worker {
        Worker::from_alias_arn("arn:aws:lambda:eu-west-1:123456789012:function:billing:live")
            .unwrap()
    }

    #[test]
    fn the_documented_input_parses() {
        // The example of this module's documentation, as written there.
        let source = include_str!("event_rules.rs");
        let text: String = source
            .lines()
            .skip_while(|l| *l != "//! ```yaml")
            .skip(1)
            .take_while(|l| *l != "//! ```")
            .map(|l| {
                format!(
                    "{}\n",
                    l.trim_start_matches("//!").strip_prefix(' ').unwrap_or("")
                )
            })
            .collect();
        assert!(text.contains("order-created:"), "{text}");
        let rules = parse(&text).unwrap();
        assert_eq!(rules.len(), 3);
        let order = rules.iter().find(|r| r.name == "order-created").unwrap();
        assert_eq!(order.bus, "orders");
        assert_eq!(
            order.pattern,
            Some(serde_json::json!({"source": ["shop.orders"], "detail-type": ["OrderCreated"]}))
        );
        assert_eq!(
            order.sample_event.as_deref(),
            Some("events/order-created.json")
        );
        let paused = rules.iter().find(|r| r.name == "paused-sweep").unwrap();
        assert!(!paused.enabled);
        assert_eq!(paused.bus, "default");
        assert_eq!(parse("  \n").unwrap(), Vec::new());
    }

    #[test]
    fn every_bad_rule_is_reported_at_once_naming_the_input_value_and_fix() {
        let text = "\"bad name!\":\n  schedule: rate(1 days)\nscheduled-on-bus:\n  bus: orders\n  schedule: rate(5 minutes)\nempty:\n  description: nothing\nwrong-cron:\n  schedule: cron(0 3 * * *)\nlist-pattern:\n  pattern: [1, 2]\n";
        let errs = parse(text).unwrap_err();
        let all: Vec<String> = errs.iter().map(ToString::to_string).collect();
        let joined = all.join("\n");
        assert!(errs.iter().all(|e| e.input == INPUT), "{joined}");
        for want in [
            "rule `bad name!`: not an EventBridge rule name",
            "`days` is not the unit for 1",
            "a schedule on bus `orders`",
            "rule `empty`: neither `schedule` nor `pattern`",
            "a cron expression has 6 fields, this one 5",
            "`pattern` is not a non-empty map",
        ] {
            assert!(joined.contains(want), "missing `{want}` in:\n{joined}");
        }
        assert_eq!(errs.len(), 6, "{joined}");
        let unknown = parse("x:\n  schedul: rate(1 day)\n").unwrap_err();
        assert!(
            unknown[0].to_string().contains("unknown field `schedul`"),
            "{:?}",
            unknown
        );
        let dup = parse("x:\n  schedule: rate(1 day)\nx:\n  schedule: rate(2 days)\n").unwrap_err();
        assert!(dup[0].to_string().contains("`x`"), "{:?}", dup);
    }

    #[test]
    fn only_an_alias_arn_names_a_worker() {
        assert_eq!(worker().function, "billing");
        assert_eq!(worker().alias, "live");
        for bad in [
            "arn:aws:lambda:eu-west-1:123456789012:function:billing",
            "arn:aws:lambda:eu-west-1:123456789012:function:billing:$LATEST",
            "arn:aws:lambda:eu-west-1:123456789012:function:billing:7",
            "arn:aws:s3:::bucket",
        ] {
            assert!(Worker::from_alias_arn(bad).is_none(), "{bad}");
        }
    }

    fn existing(name: &str, owner: Option<&str>) -> Existing {
        let w = worker();
        let arn = format!("arn:aws:events:eu-west-1:123456789012:rule/{name}");
        Existing {
            name: name.into(),
            bus: "default".into(),
            permitted: Some(arn.clone()),
            arn,
            schedule: Some("rate(1 day)".into()),
            pattern: None,
            enabled: true,
            description: None,
            owner: owner.map(str::to_owned),
            service_managed: false,
            targets: vec![Target {
                id: TARGET_ID.into(),
                arn: w.alias_arn,
                input: None,
            }],
        }
    }

    #[test]
    fn diff_creates_updates_prunes_and_leaves_the_rest() {
        let w = worker();
        let desired = parse("same:\n  schedule: rate(1 day)\nchanged:\n  schedule: rate(2 days)\nnew:\n  pattern: {source: [a]}\n").unwrap();
        let found = vec![
            existing("same", Some("billing")),
            existing("changed", Some("billing")),
            existing("gone", Some("billing")),
            existing("other-function", Some("shipping")),
        ];
        let changes = diff(&w, &desired, &found).unwrap();
        let by: BTreeMap<&str, &Change> = changes.iter().map(|c| (c.name.as_str(), c)).collect();
        assert_eq!(by["same"].action, Action::Unchanged);
        assert_eq!(by["changed"].action, Action::Update);
        assert!(by["changed"].rule && !by["changed"].target && !by["changed"].permission);
        assert_eq!(
            by["changed"].to_string(),
            "~ rule default/changed: schedule rate(1 day) → rate(2 days)"
        );
        assert_eq!(by["new"].action, Action::Create);
        assert_eq!(by["gone"].action, Action::Delete);
        assert!(
            !by.contains_key("other-function"),
            "someone else's rule is not touched"
        );
        // A retargeted or unpermitted rule is an update of those parts only.
        let mut stale = existing("same", Some("billing"));
        stale.targets[0].arn = "arn:aws:lambda:eu-west-1:123456789012:function:billing".into();
        stale.permitted = None;
        let only_same: Vec<EventRule> = desired
            .iter()
            .filter(|d| d.name == "same")
            .cloned()
            .collect();
        let c = &diff(&w, &only_same, &[stale]).unwrap()[0];
        assert!(!c.rule && c.target && c.permission, "{c:?}");
    }

    #[test]
    fn a_listed_rule_that_is_not_ours_is_refused() {
        let desired = parse("same:\n  schedule: rate(1 day)\n").unwrap();
        for owner in [None, Some("shipping")] {
            let e = diff(&worker(), &desired, &[existing("same", owner)]).unwrap_err();
            assert!(
                e.to_string()
                    .contains("is not stevedore's for function `billing`"),
                "{e}"
            );
        }
    }

    #[test]
    fn statement_ids_fit_lambda_whatever_the_bus() {
        let long = "b".repeat(256);
        let id = statement_id(&long, "x");
        assert!(id.len() <= 100 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
        assert_ne!(statement_id("default", "a"), statement_id("default", "b"));
    }
}
