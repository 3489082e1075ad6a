//! Chat notifications (`notify`): one compact message per run, posted to each Slack-compatible incoming
//! webhook given.
//!
//! - The webhook URLs are secrets (whoever has one can post to the channel): `app` masks every entry with
//!   `::add-mask::` before anything is printed, and nothing here logs or prints a URL. Problems name the
//!   webhook by its position and host only; reqwest's errors are stripped of their URL.
//! - The message is `{"text": ...}` in Slack mrkdwn: the verdict, the mode, the repository and ref, the
//!   environment, the version or image, the reason of a failure, and a link to the workflow run (left out
//!   under act, whose run URL is a placeholder). Text that a user controls (PR titles, commit subjects,
//!   refs, reasons) is escaped for mrkdwn (`&`, `<`, `>`), so it cannot mention `@channel` or forge a link.
//! - Delivery is bounded: at most [`ATTEMPTS`] tries per webhook, a retry only after a timeout, a
//!   connection error, a 5xx or a 429 (its `Retry-After` honoured up to [`MAX_RETRY_AFTER`]), each try
//!   limited to [`REQUEST_TIMEOUT`]. Once the runner cancels the step, whatever is in flight gets
//!   [`CANCEL_GRACE`] and no retry starts.
//! - The message passes through the run's masker ([`Masker::redact_json`]) before it is sent.
//! - A notification never changes the verdict or the exit code: a webhook that fails is a `::warning` and
//!   a note in the job summary.

use crate::inputs::Input;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use crate::cancel::Cancel;
use crate::context::Context;
use crate::inputs::Inputs;
use crate::net::{Net, error_chain};
use crate::report::{Masker, Report};

/// Tries per webhook (the first and two retries).
pub const ATTEMPTS: u32 = 3;
/// The longest `Retry-After` we wait for; a longer one is cut to this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);
/// One request, connection included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// After cancellation, how long a request in flight may still take: inside the report's clean-up
/// allowance ([`crate::cancel::REPORT_CLEANUP`], 1.6 s after the signal), so the step still exits within
/// 2 s of the signal.
pub const CANCEL_GRACE: Duration = Duration::from_millis(1200);
/// How much of a failed answer's body is quoted in the warning.
const BODY_EXCERPT: usize = 200;
/// How much of a failure's reason is quoted in the message.
const REASON_EXCERPT: usize = 300;

/// One incoming-webhook URL, with a printable name that holds no secret.
#[derive(Clone, Debug)]
pub struct Webhook {
    url: SecretString,
    /// `webhook 1 of 2 (hooks.slack.com)`.
    pub label: String,
}

/// What `notify` asks for.
#[derive(Clone, Debug, Default)]
pub struct Config {
    pub webhooks: Vec<Webhook>,
    /// `environment`, shown in the message when given.
    pub environment: Option<String>,
}

impl Config {
    /// Reads `notify` (URLs separated by newlines or commas) and `environment`. A URL that is not http(s)
    /// is an error naming its position; the value itself is never echoed.
    pub fn parse(p: &mut Inputs<'_>) -> Config {
        let entries = p.list(Input::Notify);
        let total = entries.len();
        let mut webhooks = Vec::new();
        for (i, entry) in entries.into_iter().enumerate() {
            let n = i + 1;
            match url::Url::parse(&entry) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {
                    webhooks.push(Webhook {
                        label: format!(
                            "webhook {n} of {total} ({})",
                            u.host_str().unwrap_or_default()
                        ),
                        url: SecretString::from(entry),
                    });
                }
                _ => {
                    p.error(
                    Input::Notify,
                    Some("***"),
                    format!(
                        "entry {n} of {total} is not an http(s) URL (it is a secret, so it is not shown)"
                    ),
                    "Give the incoming-webhook URL your chat created, e.g. \
                     `https://hooks.slack.com/services/T000/B000/XXXX`, from a secret; separate several \
                     with newlines or commas",
                );
                }
            }
        }
        Config {
            webhooks,
            environment: p.string(Input::Environment),
        }
    }

    /// Whether there is anything to send.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.webhooks.is_empty()
    }
}

/// What to mask in a raw `notify` value before the inputs are parsed: every entry, and the path (with
/// the query) of every URL, where a webhook keeps its secret, in case a log shows the path alone.
#[must_use]
pub fn secrets_in(raw: &str) -> Vec<String> {
    let mut out = Vec::new();
    for entry in crate::inputs::split_list(raw) {
        if let Ok(u) = url::Url::parse(&entry) {
            let mut path = u.path().to_owned();
            if let Some(q) = u.query() {
                path.push('?');
                path.push_str(q);
            }
            // A bare `/` or a short path is no secret, and masking it would hide everything else.
            if path.len() >= 8 {
                out.push(path);
            }
        }
        out.push(entry);
    }
    out
}

/// Escapes text for Slack mrkdwn: `&`, `<` and `>` (the only characters Slack asks to escape).
#[must_use]
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Cuts `text` to `max` characters on a char boundary, with an ellipsis when cut.
fn excerpt(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut s: String = text.chars().take(max).collect();
    s.push('…');
    s
}

/// The message for `report`: `{"text": ...}`, mrkdwn, every user-controlled part escaped.
#[must_use]
pub fn message(report: &Report, ctx: &Context, environment: Option<&str>) -> Value {
    let mut head = format!(
        "{} *stevedore {}: {}*",
        report.verdict.emoji(),
        report.mode,
        report.verdict.as_str()
    );
    if let Some(repo) = &ctx.repository {
        head.push_str(&format!(" — {}", escape(repo)));
        if let Some(r) = &ctx.ref_name {
            head.push_str(&format!(" `{}`", escape(r)));
        }
    }
    let mut lines = vec![head];
    // What triggered the run: the PR's title, or the pushed commit's subject.
    if let Some(pr) = &ctx.pull_request {
        let title = pr.title.as_deref().unwrap_or_default();
        lines.push(format!(
            "PR #{}: {}",
            pr.number,
            escape(&excerpt(title, REASON_EXCERPT))
        ));
    } else if let Some(subject) = ctx.event["head_commit"]["message"]
        .as_str()
        .and_then(|m| m.lines().next())
        .filter(|s| !s.trim().is_empty())
    {
        lines.push(format!(
            "Commit: {}",
            escape(&excerpt(subject, REASON_EXCERPT))
        ));
    }
    lines.push(escape(&excerpt(&report.title, REASON_EXCERPT)));
    if let Some(f) = report.failure.as_ref().filter(|f| f.reason != report.title) {
        lines.push(format!(
            "Why: {}",
            escape(&excerpt(&f.reason, REASON_EXCERPT))
        ));
    }
    let mut facts = Vec::new();
    if let Some(e) = environment {
        facts.push(format!("environment `{}`", escape(e)));
    }
    for name in ["version", "image"] {
        if let Some((_, v)) = report
            .outputs
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
        {
            facts.push(format!("{name} `{}`", escape(v)));
        }
    }
    if let Some(url) = ctx.run_url() {
        let run = ctx.run_id.as_deref().unwrap_or("run");
        facts.push(format!("<{}|run {}>", escape(&url), escape(run)));
    }
    if !facts.is_empty() {
        lines.push(facts.join(" · "));
    }
    json!({ "text": lines.join("\n") })
}

/// The outcome of one webhook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub label: String,
    /// `None` when delivered; else why not (no URL in it).
    pub problem: Option<String>,
    pub attempts: u32,
}

/// One try's result.
enum Try {
    Delivered,
    /// Worth another try, after at least this long.
    Transient(String, Option<Duration>),
    Permanent(String),
}

/// Posts `payload` to every webhook (concurrently); never fails, returns one outcome per webhook.
pub async fn send(config: &Config, payload: &Value, net: &Net, cancel: &Cancel) -> Vec<Outcome> {
    let client = match net
        .reqwest()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            let why = format!(
                "cannot build the HTTP client: {}",
                error_chain(&e.without_url())
            );
            return config
                .webhooks
                .iter()
                .map(|w| Outcome {
                    label: w.label.clone(),
                    problem: Some(why.clone()),
                    attempts: 0,
                })
                .collect();
        }
    };
    futures_util::future::join_all(
        config
            .webhooks
            .iter()
            .map(|w| send_one(&client, w, payload, cancel)),
    )
    .await
}

async fn send_one(
    client: &reqwest::Client,
    hook: &Webhook,
    payload: &Value,
    cancel: &Cancel,
) -> Outcome {
    let mut attempts = 0;
    let mut last = String::new();
    while attempts < ATTEMPTS {
        if attempts > 0 && cancel.is_cancelled() {
            last.push_str("; the step was cancelled, so no retry");
            break;
        }
        attempts += 1;
        let attempt = post(client, hook, payload);
        let grace = async {
            cancel.cancelled().await;
            tokio::time::sleep(CANCEL_GRACE).await;
        };
        let result = tokio::select! {
            r = attempt => r,
            () = grace => Try::Permanent("the step was cancelled before the webhook answered".to_owned()),
        };
        match result {
            Try::Delivered => {
                tracing::info!(webhook = %hook.label, attempts, "notification delivered");
                return Outcome {
                    label: hook.label.clone(),
                    problem: None,
                    attempts,
                };
            }
            Try::Permanent(why) => {
                last = why;
                break;
            }
            Try::Transient(why, retry_after) => {
                tracing::info!(webhook = %hook.label, attempts, "notification not delivered: {why}");
                last = why;
                if attempts >= ATTEMPTS {
                    break;
                }
                let wait = retry_after
                    .map(|d| d.min(MAX_RETRY_AFTER))
                    .unwrap_or(Duration::from_millis(500 * u64::from(attempts)));
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = cancel.cancelled() => {}
                }
            }
        }
    }
    Outcome {
        label: hook.label.clone(),
        problem: Some(last),
        attempts,
    }
}

async fn post(client: &reqwest::Client, hook: &Webhook, payload: &Value) -> Try {
    let resp = match client
        .post(hook.url.expose_secret())
        .json(payload)
        .send()
        .await
    {
        Ok(r) => r,
        Err(e) => {
            // reqwest's message names the URL: drop it.
            let e = e.without_url();
            let why = if e.is_timeout() {
                format!("no answer within {}s", REQUEST_TIMEOUT.as_secs())
            } else {
                format!("request failed: {}", error_chain(&e))
            };
            return if e.is_builder() {
                Try::Permanent(why)
            } else {
                Try::Transient(why, None)
            };
        }
    };
    let status = resp.status();
    if status.is_success() {
        return Try::Delivered;
    }
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = resp.text().await.unwrap_or_default();
    let why = if body.trim().is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {}", excerpt(&body, BODY_EXCERPT))
    };
    if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        Try::Transient(why, retry_after)
    } else {
        Try::Permanent(why)
    }
}

/// Sends the run's notification when `notify` is set; returns the problems as notes (no URL in them). The
/// message passes through `masker`, the run's one masker, before it leaves: a secret a registry or an
/// error echoed into the report's title or reason is `***` in the chat as everywhere else.
pub async fn notify(
    config: &Config,
    report: &Report,
    ctx: &Context,
    net: &Net,
    cancel: &Cancel,
    masker: &Masker,
) -> Vec<Outcome> {
    if config.is_empty() {
        return Vec::new();
    }
    let payload = masker.redact_json(&message(report, ctx, config.environment.as_deref()));
    send(config, &payload, net, cancel).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Env;
    use crate::inputs::Mode;
    use crate::report::Verdict;

    #[test]
    fn mrkdwn_control_characters_are_escaped() {
        assert_eq!(
            escape("<!channel> & <https://evil|click>"),
            "&lt;!channel&gt; &amp; &lt;https://evil|click&gt;"
        );
    }

    #[test]
    fn entries_are_validated_without_echoing_them() {
        let env = Env::from_pairs([(
            "INPUT_NOTIFY",
            "https://hooks.example.com/services/T/B/secret1\nftp://x/secret2, not a url",
        )]);
        let mut p = Inputs::new(&env);
        let c = Config::parse(&mut p);
        assert_eq!(c.webhooks.len(), 1);
        assert_eq!(c.webhooks[0].label, "webhook 1 of 3 (hooks.example.com)");
        let errors = p.finish().unwrap_err();
        assert_eq!(errors.0.len(), 2, "{errors}");
        let text = errors.to_string();
        assert!(
            text.contains("entry 2 of 3") && text.contains("entry 3 of 3"),
            "{text}"
        );
        assert!(
            !text.contains("secret2") && !text.contains("not a url"),
            "{text}"
        );
    }

    #[test]
    fn the_message_links_the_run_and_escapes_user_text() {
        let env = Env::from_pairs([
            ("GITHUB_REPOSITORY", "o/r"),
            ("GITHUB_REF_NAME", "main"),
            ("GITHUB_RUN_ID", "99"),
            ("GITHUB_SERVER_URL", "https://github.com"),
        ]);
        let ctx = Context::from_env(&env).unwrap();
        let mut r = Report::new(Mode::Deploy, Verdict::Failure, "deploy <b> failed", "");
        r.fail_because("tasks died: <!here>", "look");
        r.outputs.push(("image".into(), "reg/app@sha256:1".into()));
        let m = message(&r, &ctx, Some("staging"));
        let text = m["text"].as_str().unwrap();
        assert!(
            text.starts_with("❌ *stevedore deploy: failure* — o/r `main`"),
            "{text}"
        );
        assert!(text.contains("deploy &lt;b&gt; failed"), "{text}");
        assert!(text.contains("Why: tasks died: &lt;!here&gt;"), "{text}");
        assert!(text.contains("environment `staging` · image `reg/app@sha256:1` · <https://github.com/o/r/actions/runs/99|run 99>"), "{text}");
    }
}
