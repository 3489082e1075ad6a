//! One run: inputs -> context -> mode -> report -> exit code.

use secrecy::ExposeSecret;

use crate::act;
use crate::cancel::{self, Cancel};
use crate::config::Config;
use crate::context::Context;
use crate::env::{Env, vars};
use crate::github::{self, fanout};
use crate::inputs::Input;
use crate::modes::runtime::{ModeError, Runtime};
use crate::modes::{self, ModeConfig};
use crate::net::Net;
use crate::notify;
use crate::report::{self, Commands, Level, Location, Report, Verdict, files};
use crate::{EXIT_CONFIG, EXIT_FAILED, EXIT_OK};

/// Runs stevedore against `env`, writing workflow commands to `cmds`. Returns the process exit code.
pub async fn run(env: Env, cmds: Commands, cancel: Cancel) -> u8 {
    run_with(
        env,
        cmds,
        cancel,
        async |rt: &Runtime<'_>, mode: &ModeConfig| modes::run(rt, mode).await,
    )
    .await
}

/// [`run`] with the mode given as a function: everything around the mode (inputs, context, check run at
/// start, fan-out, outputs, exit code) is the same. Tests use it to feed the fan-out a chosen report.
pub async fn run_with(
    env: Env,
    cmds: Commands,
    cancel: Cancel,
    mode: impl AsyncFnOnce(&Runtime<'_>, &ModeConfig) -> Result<Report, ModeError>,
) -> u8 {
    let layout = act::Layout::container(&env);
    run_in(env, &layout, cmds, cancel, mode).await
}

/// [`run_with`] with act's mounts at `layout` (tests lay them out in a temporary directory).
pub async fn run_in(
    mut env: Env,
    layout: &act::Layout,
    cmds: Commands,
    cancel: Cancel,
    mode: impl AsyncFnOnce(&Runtime<'_>, &ModeConfig) -> Result<Report, ModeError>,
) -> u8 {
    // Every client built from the environment (GitHub, OIDC, AWS) stops at the runner's signal.
    env.set_cancel(cancel.clone());
    // act's self-hosted mode hands over host paths; find them where act mounted them, and say so.
    for t in act::relocate(&mut env, layout) {
        tracing::info!("{t}");
    }
    // Secrets that arrive through the environment are masked before anything else can print them.
    for input in [Input::GithubToken, Input::NpmToken, Input::PypiToken] {
        for key in crate::inputs::input_keys(input.as_str()) {
            if let Some(t) = env.get(&key) {
                cmds.add_mask(t);
            }
        }
    }
    if let Some(t) = env.get(vars::ACTIONS_ID_TOKEN_REQUEST_TOKEN) {
        cmds.add_mask(t);
    }
    // Webhook URLs are secrets too (anyone holding one can post to the channel).
    for key in crate::inputs::input_keys(Input::Notify.as_str()) {
        if let Some(raw) = env.get(&key) {
            for url in notify::secrets_in(raw) {
                cmds.add_mask(&url);
            }
        }
    }

    let config = match Config::from_env(&env) {
        Ok(c) => c,
        Err(errors) => {
            tracing::error!("{} invalid input(s)", errors.0.len());
            for e in &errors.0 {
                cmds.annotate(
                    Level::Error,
                    Some(&format!("stevedore: invalid input `{}`", e.input)),
                    &Location::default(),
                    &e.to_string(),
                );
            }
            write_summary(&env, &cmds, &config_error_summary(&errors));
            write_outputs(&env, &cmds, &[("verdict".to_owned(), "failure".to_owned())]);
            return EXIT_CONFIG;
        }
    };
    if let Some(t) = &config.common.github_token {
        cmds.add_mask(t.expose_secret());
    }
    for w in &config.warnings {
        cmds.annotate(
            Level::Warning,
            Some(&format!("stevedore: input `{}`", w.input)),
            &Location::default(),
            &w.message,
        );
    }
    let ctx = match Context::from_env(&env) {
        Ok(c) => c,
        Err(e) => {
            cmds.annotate(
                Level::Error,
                Some("stevedore: cannot read the GitHub context"),
                &Location::default(),
                &e.to_string(),
            );
            return EXIT_CONFIG;
        }
    };
    tracing::info!(mode = %config.common.mode, dry_run = config.common.dry_run, "starting");

    let rt = Runtime {
        env: &env,
        ctx: &ctx,
        cmds: &cmds,
        common: &config.common,
        cancel,
    };
    // The check run shows `in_progress` while the mode runs (so a crash or cancel is visible).
    // A dry run writes nothing, to GitHub neither.
    let gh = if config.common.dry_run {
        None
    } else {
        rt.github()
    };
    let started = match &gh {
        Some(c) => {
            fanout::start(
                c,
                &ctx,
                config.common.mode,
                config.common.report_key.as_deref(),
                &known_checks(&config),
            )
            .await
        }
        None => fanout::Started::default(),
    };
    // The mode stops at its own pace after the signal (rollbacks are its documented clean-up), but no
    // later than `MODE_CLEANUP` after it, whatever it waits for.
    let outcome = tokio::select! {
        r = Box::pin(mode(&rt, &config.mode)) => r,
        s = rt.cancel.elapsed(cancel::MODE_CLEANUP) => Err(ModeError::Failed {
            message: format!(
                "{} stopped {} ms after {}: the step was cancelled",
                config.common.mode,
                s.at.elapsed().as_millis(),
                s.name
            ),
            hint: None,
        }),
    };
    let cancelled_during_mode = rt.cancel.signal();
    let (mut report, code) = match outcome {
        Ok(mut r) => {
            if config.common.dry_run {
                dry_run_verdicts(&mut r);
            }
            let code = if r.verdict == Verdict::Failure {
                EXIT_FAILED
            } else {
                EXIT_OK
            };
            (r, code)
        }
        Err(e) => {
            let code = if e.is_config() {
                EXIT_CONFIG
            } else {
                EXIT_FAILED
            };
            let hint = e.hint();
            // The error quotes what others wrote (a registry's answer, a payload's version, a tag): it
            // is rendered inert, its `code` spans kept as code (docs/security.md, issue 25 finding 6).
            // Masked before it is escaped (escaping changes how a secret is spelled).
            let mask = |s: &str| cmds.masker().redact(s);
            let mut body = format!(
                "**{}**\n",
                report::markdown::sentence(&mask(&e.to_string()))
            );
            if let Some(h) = &hint {
                body.push_str(&format!("\n{}\n", report::markdown::sentence(&mask(h))));
            }
            let mut r = Report::new(
                config.common.mode,
                Verdict::Failure,
                format!("{} failed", config.common.mode),
                body,
            );
            r.fail_because(
                e.to_string(),
                hint.as_deref().unwrap_or(report::DEFAULT_NEXT_STEP),
            );
            r.key.clone_from(&config.common.report_key);
            (r, code)
        }
    };
    if report.key.is_none() {
        report.key.clone_from(&config.common.report_key);
    }
    let code = match cancelled_during_mode {
        Some(s) => {
            mark_cancelled(&mut report, s);
            EXIT_FAILED
        }
        None => code,
    };
    // Reporting and notification problems become notes and warnings; they never change the verdict or
    // the exit code. The chat notification goes out while the GitHub report is written.
    let to_github = async {
        match &gh {
            Some(c) => Some(report_to_github(c, &ctx, &report, started, &config, &rt.cancel).await),
            None => None,
        }
    };
    let to_chat = async {
        if config.common.dry_run {
            Vec::new()
        } else {
            notify::notify(
                &config.notify,
                &report,
                &ctx,
                &Net::from_env(&env),
                &rt.cancel,
                cmds.masker(),
            )
            .await
        }
    };
    let (delivered, notified) = tokio::join!(to_github, to_chat);
    // A signal after the mode (while the report went to GitHub or the chat notification out) cancelled the
    // step all the same: the runner shows it cancelled whatever the exit code, and a cancelled step exits 1
    // with its `Cancelled by` error (docs/reporting.md), not 0 because the mode had finished first.
    let code = match (cancelled_during_mode, rt.cancel.signal()) {
        (None, Some(s)) => {
            mark_cancelled_after_mode(&mut report, s);
            EXIT_FAILED
        }
        _ => code,
    };
    let delivery = match delivered {
        Some(d) => d,
        None => {
            let mut d = fanout::Delivery::default();
            if config.common.dry_run {
                d.notes.push(
                    "Dry run: no check run, status or PR comment was written; the report is only in this job summary.".to_owned(),
                );
            } else if cmds.in_actions() {
                d.notes.push(
                    "No `github-token` (or no `GITHUB_REPOSITORY`): no check run, status or PR comment; the report is only in this job summary and the step's annotations.".to_owned(),
                );
            }
            d
        }
    };
    let mut delivery = delivery;
    if config.common.dry_run && !config.notify.is_empty() {
        delivery
            .notes
            .push("Dry run: no notification was sent to the `notify` webhooks.".to_owned());
    }
    let failed_notifications: Vec<&notify::Outcome> =
        notified.iter().filter(|o| o.problem.is_some()).collect();
    for o in &failed_notifications {
        // The problem quotes the webhook's answer: someone else's text.
        delivery.notes.push(format!(
            "The notification to {} was not delivered ({} attempt(s)): {}",
            report::markdown::text(&o.label),
            o.attempts,
            report::markdown::text(o.problem.as_deref().unwrap_or_default())
        ));
    }
    if let Some(placeholder) = ctx.act_placeholder_run_url()
        && delivery.report_url(None).is_none()
    {
        delivery.notes.push(format!(
            "`report-url` is empty: under act the workflow run URL (`{placeholder}`) is act's placeholder, not a page on GitHub, so it is not linked."
        ));
    }
    deliver(&env, &cmds, &report, &delivery, ctx.run_url());
    for o in failed_notifications {
        tracing::warn!(
            "notification to {} not delivered: {}",
            o.label,
            o.problem.as_deref().unwrap_or_default()
        );
        cmds.annotate(
            Level::Warning,
            Some("stevedore: notify"),
            &Location::default(),
            &format!(
                "The notification to {} was not delivered after {} attempt(s): {}. The verdict is unchanged. Check that the webhook URL in `notify` is current and that the chat accepts it.",
                o.label,
                o.attempts,
                o.problem.as_deref().unwrap_or_default()
            ),
        );
    }
    close_with_error(&report);
    code
}

/// A failed run's one `::error` stating the reason and the next step is the first of the report's
/// annotations ([`report::emit_annotations`]: the runner keeps only the first 10 errors of a step); the
/// log ends with the same reason at ERROR, where the user reading the log looks first.
fn close_with_error(report: &Report) {
    let Some(f) = report.closing_error() else {
        return;
    };
    tracing::error!("{} failed: {} Next: {}", report.mode, f.reason, f.next_step);
}

/// A run the signal interrupted fails, and its closing `::error` says so first: the mode's own next step
/// (e.g. "check the service names") does not apply to a cancelled step.
fn mark_cancelled(report: &mut Report, signal: cancel::Signal) {
    let mut reason = match report.closing_error() {
        Some(f) => f.reason,
        None => report.title.clone(),
    };
    // What follows the cancelled call's own words is the client's error chain, noise here.
    let words = format!("cancelled by {}", signal.name);
    if let Some(i) = reason.find(&words) {
        reason.truncate(i + words.len());
    }
    report.verdict = Verdict::Failure;
    report.fail_because(
        format!("Cancelled by {}: {reason}", signal.name),
        "The runner cancelled the step (or the container was stopped): stevedore started nothing after the signal and ran only the documented clean-up. The job summary shows what was done before it; run the step again when ready.",
    );
}

/// A run the signal interrupted after its mode had finished (while the report or the notification was
/// sent): it fails as cancelled, and says that what the mode did stands.
fn mark_cancelled_after_mode(report: &mut Report, signal: cancel::Signal) {
    let finished = format!("{} had finished ({})", report.mode, report.title);
    report.title = format!(
        "Cancelled by {} after the mode: {}",
        signal.name, report.title
    );
    report.summary = format!(
        "**Cancelled by {}** after {} had finished, while its report and notification were sent: what it did, below, stands.\n\n{}",
        signal.name, report.mode, report.summary
    );
    report.verdict = Verdict::Failure;
    report.fail_because(
        format!(
            "Cancelled by {} after the mode: {finished}, and its report and notification were being sent",
            signal.name
        ),
        "The runner cancelled the step (or the container was stopped) after the mode's work was done: that work stands, as this summary shows; the check run, PR comment or chat notification may not have been delivered. Nothing was started after the signal.",
    );
}

/// The check runs known before the mode runs, created `in_progress` with the overall run: lint-gate's
/// declared `checks` (the built-in ones depend on what the mode finds).
fn known_checks(config: &Config) -> Vec<String> {
    match &config.mode {
        crate::config::ModeConfig::LintGate(c) => c
            .checks
            .iter()
            .flatten()
            .map(|s| modes::lint_gate::gate::check_run_name(&s.name))
            .collect(),
        _ => Vec::new(),
    }
}

/// The GitHub fan-out. Once the runner cancelled the step it is documented clean-up (the check run is
/// completed as `cancelled`), allowed until [`cancel::REPORT_CLEANUP`] after the signal.
async fn report_to_github(
    client: &github::Client,
    ctx: &Context,
    report: &Report,
    started: fanout::Started,
    config: &Config,
    cancel: &Cancel,
) -> fanout::Delivery {
    let finish = cancel::cleanup(
        cancel::REPORT_CLEANUP,
        fanout::finish(
            client,
            ctx,
            report,
            started,
            config.common.comment,
            cancel.is_cancelled(),
        ),
    );
    tokio::select! {
        d = finish => d,
        _ = cancel.elapsed(cancel::REPORT_CLEANUP) => {
            let mut d = fanout::Delivery::default();
            d.notes.push("The step was cancelled before the report reached GitHub.".to_owned());
            d
        }
    }
}

/// The network-free part of the fan-out: annotations as commands, summary, outputs.
fn deliver(
    env: &Env,
    cmds: &Commands,
    report: &Report,
    delivery: &fanout::Delivery,
    run_url: Option<String>,
) {
    let local = report::emit_annotations(cmds, report);
    let summary = report::markdown::job_summary(
        report,
        &local,
        delivery.annotations_in_check_run,
        &delivery.notes,
    );
    write_summary(env, cmds, &summary);
    let mut outputs = vec![("verdict".to_owned(), report.verdict.as_str().to_owned())];
    if let Some(u) = delivery.report_url(run_url) {
        outputs.push(("report-url".to_owned(), u));
    }
    outputs.extend(report.outputs.iter().cloned());
    write_outputs(env, cmds, &outputs);
    if !cmds.in_actions() {
        cmds.line(&format!(
            "{} {}: {}",
            report.verdict.emoji(),
            report.mode,
            report.title
        ));
    }
}

fn write_summary(env: &Env, cmds: &Commands, markdown: &str) {
    match env.path(vars::GITHUB_STEP_SUMMARY) {
        Some(p) => {
            if let Err(e) = files::append_summary(&p, &cmds.masker().redact(markdown)) {
                tracing::warn!("{e}");
            }
        }
        None if !cmds.in_actions() => cmds.line(markdown),
        None => {}
    }
}

fn write_outputs(env: &Env, cmds: &Commands, outputs: &[(String, String)]) {
    let Some(p) = env.path(vars::GITHUB_OUTPUT) else {
        for (k, v) in outputs {
            tracing::debug!(output = %k, value = %cmds.masker().redact(v), "no GITHUB_OUTPUT");
        }
        return;
    };
    if let Err(e) = files::write_outputs(&p, outputs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    {
        tracing::warn!("{e}");
    }
}

fn config_error_summary(errors: &crate::inputs::InputErrors) -> String {
    let mut s = String::from(
        "## ❌ stevedore: invalid inputs\n\n| input | value | problem | fix |\n| --- | --- | --- | --- |\n",
    );
    // A value can come from the event (`with: comment: ${{ github.event.pull_request.title }}`), and
    // problems quote values: untrusted text, made inert (docs/security.md, finding 9).
    use report::markdown::{cell, code_span, sentence};
    for e in &errors.0 {
        s.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            cell(&code_span(&e.input)),
            e.value
                .as_deref()
                .map(|v| cell(&code_span(v)))
                .unwrap_or_else(|| "_(missing)_".into()),
            cell(&sentence(&e.problem)),
            cell(&sentence(&e.fix))
        ));
    }
    s
}

/// A dry run proves that nothing was done, in every mode: a plan that holds is `skipped` (the report and
/// each of its checks), never `success`; a plan with a warning stays `neutral` and one that cannot be made
/// stays `failure` (docs/reporting.md, "Dry runs").
fn dry_run_verdicts(r: &mut Report) {
    if r.verdict == Verdict::Success {
        r.verdict = Verdict::Skipped;
    }
    for c in r
        .checks
        .iter_mut()
        .filter(|c| c.verdict == Verdict::Success)
    {
        c.verdict = Verdict::Skipped;
    }
}
