//! The ECS deploy's report: per service the verdict, the task-definition diff, the stopped tasks with
//! their reasons, the rollback, and a Mermaid timeline.

use std::fmt::Write as _;

use super::oneoff::{Hook, LogTail, TaskEnd, TaskRun};
use super::{Applied, Config, End, RollbackOutcome, ServiceOutcome, ServicePlan, short_td};
use crate::inputs::Mode;
use crate::report::markdown::{code, table};
use crate::report::{Report, Verdict};

/// The plan as plain lines (dry run log).
#[must_use]
pub fn plan_lines(cfg: &Config, plans: &[ServicePlan]) -> Vec<String> {
    let mut out = Vec::new();
    for p in plans {
        if p.recorded {
            out.push(format!(
                "plan: would UpdateService `{}/{}` from {} back to the recorded {} (nothing registered)",
                cfg.cluster,
                p.service,
                short_td(&p.current_task_definition),
                short_td(&p.base)
            ));
            out.extend(p.changes.iter().map(|c| format!("  {}", change_line(c))));
            continue;
        }
        out.push(format!(
            "plan: would register a new revision of `{}` (base: {}) and UpdateService `{}/{}` (now on {})",
            p.family(),
            p.base,
            cfg.cluster,
            p.service,
            short_td(&p.current_task_definition)
        ));
        for c in &p.changes {
            out.push(format!("  {}", change_line(c)));
        }
        if p.changes.is_empty() {
            out.push(
                "  (no change to the task definition; a new revision is registered anyway)".into(),
            );
        }
    }
    out.extend(hook_plan(cfg, plans));
    out
}

/// What the hooks would run (dry run).
fn hook_plan(cfg: &Config, plans: &[ServicePlan]) -> Vec<String> {
    let Some(first) = plans.first() else {
        return Vec::new();
    };
    [(Hook::Pre, &cfg.pre_task), (Hook::Post, &cfg.post_task)]
        .into_iter()
        .filter_map(|(h, spec)| {
            let spec = spec.as_ref()?;
            let when = match h {
                Hook::Pre => "before any service is updated; its failure stops the deploy",
                Hook::Post => "after every rollout completed; its failure rolls the services back",
            };
            Some(format!(
                "plan: would run the {} ({when}): the new revision of `{}` with container `{}` command `{}`, placed as service `{}`, budget {}",
                h.label(),
                first.family(),
                spec.container
                    .clone()
                    .or_else(|| super::oneoff::choose_container(spec, &cfg.edits.containers, &first.register).ok())
                    .unwrap_or_default(),
                spec.command.join(" "),
                first.service,
                super::rollout::fmt_budget(spec.timeout)
            ))
        })
        .collect()
}

/// One hook's section: what ran, how it ended, its last log lines.
fn hook_section(t: &TaskRun) -> String {
    let mut s = format!("\n### {}\n\n", t.hook.label());
    s.push_str(&table(
        &["task", "container", "command", "result", "took"],
        &[vec![
            format!("`{}`", t.task_id()),
            format!("`{}`", t.container),
            format!("`{}`", t.command.join(" ")),
            format!(
                "{} {}",
                if t.succeeded() { "✅" } else { "❌" },
                t.end.describe(t.hook)
            ),
            format!("{:.1} s", t.took.as_secs_f64()),
        ]],
    ));
    match &t.log {
        LogTail::Lines {
            group,
            stream,
            lines,
        } => {
            let _ = write!(
                s,
                "\n**Last log lines** (CloudWatch Logs `{group}`, stream `{stream}`)\n\n"
            );
            if lines.is_empty() {
                s.push_str("_The stream has no events._\n");
            } else {
                s.push_str(&code("text", &lines.join("\n")));
            }
        }
        LogTail::Unavailable(why) => {
            let _ = writeln!(s, "\n_No log lines: {why}._");
        }
    }
    s
}

/// The sentence naming a failed hook: task, container, command and how it ended.
fn hook_failure(t: &TaskRun) -> String {
    format!(
        "{} `{}` (container `{}`, command `{}`) failed: {}",
        t.hook.label(),
        t.task_id(),
        t.container,
        t.command.join(" "),
        t.end.describe(t.hook)
    )
}

fn hook_next(t: &TaskRun) -> String {
    let what = match t.hook {
        Hook::Pre => "the migration",
        Hook::Post => "what the smoke test found",
    };
    match &t.end {
        TaskEnd::TimedOut { budget, .. } => format!(
            "If the task is only slow, raise `timeout:` in the input `{}` (now {}); otherwise look at its last log lines in the job summary.",
            t.hook.input(),
            super::rollout::fmt_budget(*budget)
        ),
        TaskEnd::Error(_) if t.task_arn.is_none() => "Fix the error above (the role needs ecs:RunTask, ecs:DescribeTasks, ecs:StopTask and iam:PassRole for the task roles; the task needs capacity) and deploy again.".into(),
        TaskEnd::Cancelled => format!(
            "The runner cancelled the step; the task `{}` keeps running in ECS: check it before deploying again.",
            t.task_id()
        ),
        _ => format!(
            "Fix {what} (its last log lines are in the job summary) and deploy again."
        ),
    }
}

/// The report of a deploy with its hooks.
#[must_use]
pub fn applied(cfg: &Config, a: &Applied, cancelled: bool) -> Report {
    if let Some(pre) = a.pre.as_ref().filter(|_| a.services.is_empty()) {
        let mut s = format!(
            "ECS deploy to cluster `{}`.\n\nThe {} failed, so no service was updated: {} still run{} what ran before.\n",
            cfg.cluster,
            pre.hook.label(),
            crate::inputs::code_list(cfg.services.iter()),
            if cfg.services.len() == 1 { "s" } else { "" }
        );
        s.push_str(&hook_section(pre));
        let mut r = Report::new(
            Mode::Deploy,
            Verdict::Failure,
            format!("deploy stopped: {} failed", pre.hook.label()),
            s,
        );
        if let Some(arn) = &pre.task_arn {
            r.output("pre-deploy-task-arn", arn.clone());
        }
        r.fail_because(
            format!(
                "ECS deploy to cluster `{}` stopped before any service was updated: {}.",
                cfg.cluster,
                hook_failure(pre)
            ),
            hook_next(pre),
        );
        return r;
    }
    let mut r = outcome(cfg, &a.services, cancelled);
    let mut extra = String::new();
    for t in a.pre.iter().chain(a.post.iter()) {
        extra.push_str(&hook_section(t));
        if let Some(arn) = &t.task_arn {
            r.output(&format!("{}-arn", t.hook.input()), arn.clone());
        }
    }
    r.summary.push_str(&extra);
    if let Some(c) = r.checks.first_mut() {
        c.summary.clone_from(&r.summary);
    }
    if let Some(post) = a.post.as_ref().filter(|p| !p.succeeded()) {
        r.verdict = Verdict::Failure;
        r.title = format!("deploy failed: {}; rolled back", post.hook.label());
        if let Some(c) = r.checks.first_mut() {
            c.verdict = Verdict::Failure;
            c.title.clone_from(&r.title);
        }
        let rolled: Vec<String> = a
            .services
            .iter()
            .map(|o| {
                let to = match &o.rollback {
                    Some(RollbackOutcome::Ours {
                        to,
                        end: Ok(End::Completed),
                        ..
                    }) => {
                        format!("rolled back to `{}`", short_td(to))
                    }
                    Some(RollbackOutcome::Ours { to, .. }) => {
                        format!("the rollback to `{}` did not complete", short_td(to))
                    }
                    Some(RollbackOutcome::Requested { to, .. }) => {
                        format!("rollback to `{}` requested", short_td(to))
                    }
                    Some(RollbackOutcome::Disabled { .. }) => {
                        "not rolled back (`rollback: none`)".into()
                    }
                    Some(RollbackOutcome::Failed { to, .. }) => format!(
                        "the rollback to `{}` could not be started: roll back by hand",
                        short_td(to)
                    ),
                    Some(RollbackOutcome::CircuitBreaker { to }) => {
                        format!("ECS rolls back to `{}`", short_td(to))
                    }
                    None => "not rolled back".into(),
                };
                format!("`{}` {to}", o.plan.service)
            })
            .collect();
        r.fail_because(
            format!(
                "ECS deploy to cluster `{}` failed after the rollout: {}; {}.",
                cfg.cluster,
                hook_failure(post),
                rolled.join(", ")
            ),
            hook_next(post),
        );
    }
    r
}

fn change_line(c: &super::Change) -> String {
    let who = if c.container.is_empty() {
        "task".to_owned()
    } else {
        format!("container `{}`", c.container)
    };
    format!("{who} {}: {} -> {}", c.field, c.before, c.after)
}

fn changes_table(changes: &[super::Change]) -> String {
    if changes.is_empty() {
        return "_No change to the task definition._\n".into();
    }
    table(
        &["container", "field", "before", "after"],
        &changes
            .iter()
            .map(|c| {
                vec![
                    if c.container.is_empty() {
                        "(task)".into()
                    } else {
                        format!("`{}`", c.container)
                    },
                    c.field.clone(),
                    format!("`{}`", c.before),
                    format!("`{}`", c.after),
                ]
            })
            .collect::<Vec<_>>(),
    )
}

/// The dry-run report: what would be registered and updated.
#[must_use]
pub fn dry_run(cfg: &Config, plans: &[ServicePlan]) -> Report {
    let mut s = format!(
        "ECS deploy plan for cluster `{}` (dry run).\n\nNothing was registered or updated.\n\n",
        cfg.cluster
    );
    for p in plans {
        if p.recorded {
            let _ = write!(
                s,
                "### `{}`\n\nWould update the service from `{}` back to the recorded `{}` (nothing registered).\n\
                 On failure: {}.\n\n{}\n",
                p.service,
                short_td(&p.current_task_definition),
                short_td(&p.base),
                rollback_policy(cfg, p),
                changes_table(&p.changes)
            );
            continue;
        }
        let _ = write!(
            s,
            "### `{}`\n\nWould register a new revision of `{}` from {} and update the service from `{}`.\n\
             On failure: {}.\n\n{}\n",
            p.service,
            p.family(),
            if p.base.starts_with("arn:") {
                format!("the current `{}`", short_td(&p.base))
            } else {
                format!("`{}`", p.base)
            },
            short_td(&p.current_task_definition),
            rollback_policy(cfg, p),
            changes_table(&p.changes)
        );
        s.push_str(&crate::report::markdown::details(
            "RegisterTaskDefinition body (environment values hidden)",
            &code(
                "json",
                &serde_json::to_string_pretty(&hide_env_values(&p.register)).unwrap_or_default(),
            ),
        ));
    }
    let hooks = hook_plan(cfg, plans);
    if !hooks.is_empty() {
        s.push_str("\n**One-off tasks**\n\n");
        for h in hooks {
            let _ = writeln!(s, "- {}", h.trim_start_matches("plan: "));
        }
    }
    Report::new(
        Mode::Deploy,
        Verdict::Skipped,
        format!(
            "dry run: would deploy {} to {}",
            plans
                .iter()
                .map(|p| p.service.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            cfg.cluster
        ),
        s,
    )
}

/// The body with every container environment value replaced: values may come from workflow secrets.
fn hide_env_values(body: &serde_json::Value) -> serde_json::Value {
    let mut b = body.clone();
    if let Some(cs) = b
        .get_mut("containerDefinitions")
        .and_then(serde_json::Value::as_array_mut)
    {
        for c in cs {
            if let Some(env) = c
                .get_mut("environment")
                .and_then(serde_json::Value::as_array_mut)
            {
                for e in env {
                    if let Some(v) = e.get_mut("value") {
                        *v = serde_json::Value::String("…".into());
                    }
                }
            }
        }
    }
    b
}

fn rollback_policy(cfg: &Config, p: &ServicePlan) -> String {
    if p.circuit_breaker_rollback {
        "ECS's circuit breaker rolls back".into()
    } else if cfg.rollback == super::Rollback::Auto {
        format!(
            "stevedore rolls back to `{}`",
            short_td(&p.current_task_definition)
        )
    } else {
        "no rollback (`rollback: none`)".into()
    }
}

/// Text safe inside a Mermaid timeline event.
fn mermaid_text(s: &str) -> String {
    let s: String = s
        .chars()
        .map(|c| match c {
            ':' => '﹕',
            '#' | ';' | '\n' | '\r' | '`' => ' ',
            c => c,
        })
        .collect();
    let s = s.trim();
    if s.chars().count() > 140 {
        format!("{}…", s.chars().take(140).collect::<String>())
    } else {
        s.to_owned()
    }
}

const MERMAID_MAX: usize = 60;
const MERMAID_HEAD: usize = 20;

/// The timeline as a Mermaid `timeline` diagram (at most 60 entries).
#[must_use]
pub fn mermaid(title: &str, tl: &super::Timeline) -> String {
    let mut s = format!("timeline\n    title {}\n", mermaid_text(title));
    let n = tl.entries.len();
    for (i, (at, what)) in tl.entries.iter().enumerate() {
        // Long rollouts: the first and the last entries, which hold the start and the decision.
        if n > MERMAID_MAX && i == MERMAID_HEAD {
            let _ = writeln!(s, "    … : {} more entries in the log", n - MERMAID_MAX);
        }
        if n > MERMAID_MAX && i >= MERMAID_HEAD && i < n - (MERMAID_MAX - MERMAID_HEAD) {
            continue;
        }
        let _ = writeln!(s, "    +{:.1}s : {}", at.as_secs_f64(), mermaid_text(what));
    }
    code("mermaid", s.trim_end())
}

fn rollback_text(r: &RollbackOutcome) -> String {
    match r {
        RollbackOutcome::CircuitBreaker { to } => format!(
            "ECS's deployment circuit breaker rolls the service back to `{}` (ECS-managed).",
            short_td(to)
        ),
        RollbackOutcome::Ours {
            to,
            deployment_id,
            end,
        } => format!(
            "stevedore rolled back to `{}` (deployment `{deployment_id}`): {}.",
            short_td(to),
            match end {
                Ok(e) => e.describe(),
                Err(e) => format!("could not follow it: {e}"),
            }
        ),
        RollbackOutcome::Requested { to, deployment_id } => format!(
            "Cancelled: rollback to `{}` requested (deployment `{deployment_id}`); ECS completes it, stevedore did not wait.",
            short_td(to)
        ),
        RollbackOutcome::Disabled { running } => {
            format!("No rollback (`rollback: none`): {running}.")
        }
        RollbackOutcome::Failed { to, error } => format!(
            "Rollback to `{}` could not be started: {error}. Roll back by hand.",
            short_td(to)
        ),
    }
}

/// The closing error of a failed ECS deploy: what happened to each failed service (and its rollback),
/// and what to do next.
fn failure(cfg: &Config, outcomes: &[ServiceOutcome], cancelled: bool) -> (String, String) {
    let failed: Vec<&ServiceOutcome> = outcomes.iter().filter(|o| !o.succeeded()).collect();
    let lines: Vec<String> = failed
        .iter()
        .map(|o| {
            let what = match &o.end {
                Ok(e) => e.describe(),
                Err(e) => e.clone(),
            };
            let rollback = match &o.rollback {
                Some(RollbackOutcome::CircuitBreaker { to }) => {
                    format!("; ECS's circuit breaker rolls back to `{}`", short_td(to))
                }
                Some(RollbackOutcome::Ours { to, end, .. }) => {
                    if matches!(end, Ok(End::Completed)) {
                        format!("; rolled back to `{}`", short_td(to))
                    } else {
                        format!("; the rollback to `{}` did not complete", short_td(to))
                    }
                }
                Some(RollbackOutcome::Requested { to, .. }) => {
                    format!("; rollback to `{}` requested", short_td(to))
                }
                Some(RollbackOutcome::Disabled { .. }) => {
                    "; not rolled back (`rollback: none`)".into()
                }
                Some(RollbackOutcome::Failed { to, .. }) => {
                    format!(
                        "; the rollback to `{}` could not be started: roll back by hand",
                        short_td(to)
                    )
                }
                None => String::new(),
            };
            format!("`{}`: {what}{rollback}", o.plan.service)
        })
        .collect();
    let verb = if cancelled { "was cancelled" } else { "failed" };
    let reason = format!(
        "ECS deploy to cluster `{}` {verb}: {}.",
        cfg.cluster,
        lines.join("; ")
    );
    let timed_out = failed.iter().find_map(|o| match &o.end {
        Ok(End::TimedOut { budget, .. }) => Some(*budget),
        _ => None,
    });
    let next = if cancelled {
        "The runner cancelled the step; check the services' state in the job summary's rollback column, then deploy again.".to_owned()
    } else if let Some(b) = timed_out {
        format!(
            "If the rollout is only slow, raise the input `wait-timeout` (now {}); otherwise look at the service events and stopped tasks in the job summary.",
            super::rollout::fmt_budget(b)
        )
    } else if failed.iter().any(|o| o.end.is_err()) {
        "Fix the AWS error above (the role's ECS permissions, the service and cluster names) and deploy again.".to_owned()
    } else {
        "Fix the cause named above (the job summary lists the stopped tasks and their reasons) and deploy again.".to_owned()
    };
    (reason, next)
}

/// The report after applying.
#[must_use]
pub fn outcome(cfg: &Config, outcomes: &[ServiceOutcome], cancelled: bool) -> Report {
    let ok = outcomes.iter().all(ServiceOutcome::succeeded);
    let verdict = if ok {
        Verdict::Success
    } else {
        Verdict::Failure
    };
    let failed: Vec<&str> = outcomes
        .iter()
        .filter(|o| !o.succeeded())
        .map(|o| o.plan.service.as_str())
        .collect();
    let title = if ok {
        format!(
            "deployed {} to {}",
            outcomes
                .iter()
                .map(|o| o.plan.service.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            cfg.cluster
        )
    } else if cancelled {
        format!("deploy cancelled: {}", failed.join(", "))
    } else {
        format!("deploy failed: {}", failed.join(", "))
    };
    // The fan-out puts the heading (verdict, mode, key, title) above this.
    let mut s = format!("ECS deploy to cluster `{}`.\n\n", cfg.cluster);
    s.push_str(&table(
        &[
            "service",
            "result",
            "task definition",
            "deployment",
            "rollback",
        ],
        &outcomes
            .iter()
            .map(|o| {
                vec![
                    format!("`{}`", o.plan.service),
                    match &o.end {
                        Ok(e) => format!(
                            "{} {}",
                            if o.succeeded() { "✅" } else { "❌" },
                            e.describe()
                        ),
                        Err(e) => format!("❌ {e}"),
                    },
                    format!(
                        "`{}` → `{}`",
                        short_td(&o.plan.current_task_definition),
                        o.new_task_definition
                            .as_deref()
                            .map(short_td)
                            .unwrap_or("—")
                    ),
                    o.deployment_id
                        .as_deref()
                        .map(|d| format!("`{d}`"))
                        .unwrap_or_else(|| "—".into()),
                    o.rollback
                        .as_ref()
                        .map(|r| match r {
                            RollbackOutcome::CircuitBreaker { to } => {
                                format!("ECS → `{}`", short_td(to))
                            }
                            RollbackOutcome::Ours { to, end, .. } => format!(
                                "stevedore → `{}` ({})",
                                short_td(to),
                                if matches!(end, Ok(End::Completed)) {
                                    "completed"
                                } else {
                                    "not completed"
                                }
                            ),
                            RollbackOutcome::Requested { to, .. } => {
                                format!("requested → `{}`", short_td(to))
                            }
                            RollbackOutcome::Disabled { .. } => "none".into(),
                            RollbackOutcome::Failed { .. } => "❌ failed".into(),
                        })
                        .unwrap_or_else(|| "—".into()),
                ]
            })
            .collect::<Vec<_>>(),
    ));
    for o in outcomes {
        let _ = write!(s, "\n### `{}`\n\n", o.plan.service);
        if let Some(r) = &o.rollback {
            // Quotes ECS's error message: text, with stevedore's code spans kept.
            let _ = writeln!(
                s,
                "**Rollback:** {}\n",
                crate::report::markdown::sentence(&rollback_text(r))
            );
        }
        s.push_str("**Task definition changes**\n\n");
        s.push_str(&changes_table(&o.plan.changes));
        if !o.seen.stopped.is_empty() {
            s.push_str("\n**Stopped tasks of the new revision**\n\n");
            s.push_str(&table(
                &[
                    "task",
                    "stop code",
                    "reason",
                    "containers (exit code: reason)",
                ],
                &o.seen
                    .stopped
                    .iter()
                    .map(|t| {
                        vec![
                            format!("`{}`", t.id()),
                            t.stop_code.clone().unwrap_or_default(),
                            t.stopped_reason.clone().unwrap_or_default(),
                            t.containers
                                .iter()
                                .map(|(n, code, r)| {
                                    format!(
                                        "{n}: {}{}",
                                        code.map(|c| c.to_string()).unwrap_or_else(|| "—".into()),
                                        r.as_deref().map(|r| format!(" ({r})")).unwrap_or_default()
                                    )
                                })
                                .collect::<Vec<_>>()
                                .join("; "),
                        ]
                    })
                    .collect::<Vec<_>>(),
            ));
        }
        s.push_str("\n**Timeline**\n\n");
        s.push_str(&mermaid(&o.plan.service, &o.timeline));
    }
    if cancelled {
        s.push_str("\n> **Cancelled.** ECS was left as described in the rollback column above.\n");
    }
    let mut r = Report::new(Mode::Deploy, verdict, title, s);
    if !ok {
        let (reason, next) = failure(cfg, outcomes, cancelled);
        r.fail_because(reason, next);
    }
    let per_service = |f: &dyn Fn(&ServiceOutcome) -> Option<String>| {
        let vals: Vec<(String, String)> = outcomes
            .iter()
            .filter_map(|o| f(o).map(|v| (o.plan.service.clone(), v)))
            .collect();
        if outcomes.len() == 1 {
            vals.into_iter().next().map(|(_, v)| v)
        } else if vals.is_empty() {
            None
        } else {
            Some(
                vals.into_iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
            )
        }
    };
    if let Some(v) = per_service(&|o| o.new_task_definition.clone()) {
        r.output("task-definition-arn", v);
    }
    if let Some(v) = per_service(&|o| o.deployment_id.clone()) {
        r.output("deployment-id", v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mermaid_text_cannot_break_the_diagram() {
        let mut tl = super::super::Timeline::new(std::time::Instant::now());
        tl.entries.push((
            std::time::Duration::from_millis(1500),
            "event: (service web) has stopped 1 running tasks: (task a#b; c)\nx".into(),
        ));
        let m = mermaid("web", &tl);
        assert!(
            m.starts_with("```mermaid\ntimeline\n    title web\n"),
            "{m}"
        );
        let line = m.lines().nth(3).unwrap();
        assert!(
            line.starts_with("    +1.5s : event﹕ (service web)"),
            "{line}"
        );
        assert_eq!(line.matches(':').count(), 1, "{line}");
        assert!(!line.contains('#') && !line.contains(';'));
        for i in 0..100 {
            tl.push(format!("e{i}"));
        }
        let m = mermaid("web", &tl);
        assert_eq!(m.lines().filter(|l| l.starts_with("    +")).count(), 60);
        assert!(m.contains("    … : 41 more entries in the log\n"), "{m}");
        assert!(m.contains(": e99\n"));
    }
}
