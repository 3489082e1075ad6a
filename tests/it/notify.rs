//! `notify`: the real binary posts one message per run to loopback incoming-webhook receivers
//! (`helpers::webhook`). The mode is lint-gate judging a declared check's outcome, so a run succeeds or
//! fails without any other service; no `github-token`, so GitHub is not involved.

use crate::helpers::{has, lacks};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::helpers::run::parse_env_file;
use crate::helpers::webhook::{Receiver, Reply};

/// What the binary did.
struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
    outputs: Vec<(String, String)>,
    summary: String,
    /// From the start of the process to its exit.
    took: Duration,
}

impl Ran {
    fn output(&self, name: &str) -> Option<&str> {
        self.outputs
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn logs(&self) -> String {
        format!(
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }

    /// No line of stdout or stderr holds `secret`, except the `::add-mask::` command that hides it (the
    /// runner consumes that line; it is how a secret is masked).
    fn assert_never_printed(&self, secret: &str) {
        for line in self.stdout.lines() {
            if line.contains(secret) {
                assert_eq!(line, format!("::add-mask::{secret}"), "{}", self.logs());
            }
        }
        assert!(
            self.stdout.contains(&format!("::add-mask::{secret}")),
            "the webhook URL was not masked:\n{}",
            self.logs()
        );
        assert!(!self.stderr.contains(secret), "{}", self.logs());
        // Nor its secret part alone (the path), anywhere but in the masks.
        let path = &secret[secret.find("/services/").unwrap()..];
        for line in self.stdout.lines().chain(self.stderr.lines()) {
            if line.contains(path) {
                assert!(line.starts_with("::add-mask::"), "{line}");
            }
        }
        lacks(&self.summary, secret);
        for (k, v) in &self.outputs {
            assert!(!v.contains(secret), "output {k}: {v}");
        }
    }
}

/// The step: lint-gate with one check whose outcome is `outcome`, on a push whose commit subject is
/// untrusted text, with `notify` = `notify` and `environment: staging`.
struct Step {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Step {
    fn new(outcome: &str, notify: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().join("workspace");
        std::fs::create_dir_all(&ws).unwrap();
        let event = dir.path().join("event.json");
        std::fs::write(
            &event,
            serde_json::json!({
                "ref": "refs/heads/main",
                "head_commit": {
                    "id": "0123456789abcdef0123456789abcdef01234567",
                    "message": "fix: <!channel> & <https://evil.example|click>\n\nbody"
                }
            })
            .to_string(),
        )
        .unwrap();
        let [output, summary, env] = ["output", "summary", "env"].map(|f| dir.path().join(f));
        let env = crate::helpers::run::runner_env(&ws, &output, &summary, &env)
            .into_iter()
            .chain([
                ("GITHUB_EVENT_PATH", event.display().to_string()),
                ("GITHUB_SERVER_URL", "https://github.com".to_owned()),
                ("INPUT_MODE", "lint-gate".to_owned()),
                (
                    "INPUT_CHECKS",
                    format!("- name: Tests\n  outcome: {outcome}\n"),
                ),
                ("INPUT_ENVIRONMENT", "staging".to_owned()),
                ("INPUT_NOTIFY", notify.to_owned()),
                // Everything logged, the HTTP client's own logs too: none may show the URL.
                ("STEVEDORE_LOG", "trace".to_owned()),
            ])
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        for f in ["output", "summary", "env"] {
            std::fs::write(dir.path().join(f), "").unwrap();
        }
        Self { dir, env }
    }

    fn var(mut self, k: &str, v: &str) -> Self {
        self.env.retain(|(n, _)| n != k);
        self.env.push((k.to_owned(), v.to_owned()));
        self
    }

    fn command(&self) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_stevedore"));
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(self.dir.path().join("workspace"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        c
    }

    async fn run(&self) -> Ran {
        let start = Instant::now();
        let out = self.command().output().await.unwrap();
        self.finish(out, start.elapsed())
    }

    fn finish(&self, out: std::process::Output, took: Duration) -> Ran {
        let read = |n: &str| std::fs::read_to_string(self.path(n)).unwrap_or_default();
        Ran {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            outputs: parse_env_file(&read("output")),
            summary: read("summary"),
            took,
        }
    }

    fn path(&self, n: &str) -> PathBuf {
        self.dir.path().join(n)
    }
}

#[tokio::test]
async fn notify_success_posts_one_compact_message_to_every_webhook() {
    let chat = Receiver::start(Vec::new()).await;
    let (a, b) = (chat.url("sEcReT-one"), chat.url("sEcReT-two"));
    let ran = Step::new("success", &format!("{a}\n{b}")).run().await;
    assert_eq!(ran.code, 0, "{}", ran.logs());
    assert_eq!(ran.output("verdict"), Some("success"));
    let got = chat.received();
    let mut paths: Vec<&str> = got.iter().map(|r| r.path.as_str()).collect();
    paths.sort_unstable();
    assert_eq!(
        paths,
        [
            "/services/T0001/B0001/sEcReT-one",
            "/services/T0001/B0001/sEcReT-two"
        ],
        "one message per webhook per run"
    );
    let r = &got[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.headers["content-type"], "application/json");
    let text = r.text();
    assert_eq!(text, got[1].text());
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0], "✅ *stevedore lint-gate: success* — octo-org/octo-repo `main`",
        "{text}"
    );
    // The commit subject is the pusher's text: escaped, so no @channel and no forged link.
    assert_eq!(
        lines[1], "Commit: fix: &lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;",
        "{text}"
    );
    assert!(
        lines.last().unwrap().contains(
            "environment `staging` · <https://github.com/octo-org/octo-repo/actions/runs/4242|run 4242>"
        ),
        "{text}"
    );
    lacks(&text, "<!channel>");
    assert!(!ran.stdout.contains("::warning"), "{}", ran.logs());
    ran.assert_never_printed(&a);
    ran.assert_never_printed(&b);
}

#[tokio::test]
async fn notify_a_failed_mode_is_notified_with_its_reason_and_keeps_its_exit_code() {
    let chat = Receiver::start(Vec::new()).await;
    let url = chat.url("sEcReT-failure");
    let ran = Step::new("failure", &url).run().await;
    assert_eq!(ran.code, 1, "{}", ran.logs());
    assert_eq!(ran.output("verdict"), Some("failure"));
    let got = chat.received();
    assert_eq!(got.len(), 1, "{got:#?}");
    let text = got[0].text();
    assert!(
        text.starts_with("❌ *stevedore lint-gate: failure* — octo-org/octo-repo `main`"),
        "{text}"
    );
    // The reason is in the message once (lint-gate's title is its reason: no `Why:` repeating it).
    assert_eq!(
        text.matches("1 of 1 required check(s) failed: Tests")
            .count(),
        1,
        "{text}"
    );
    lacks(&text, "Why: ");
    // The run's own ::error is its first error, and nothing about the notification is an error.
    let errors: Vec<&str> = ran
        .stdout
        .lines()
        .filter(|l| l.starts_with("::error"))
        .collect();
    assert!(
        errors
            .first()
            .is_some_and(|e| e.starts_with("::error title=stevedore lint-gate::")),
        "{}",
        ran.logs()
    );
    assert!(
        !ran.stdout.contains("title=stevedore%3A notify"),
        "{}",
        ran.logs()
    );
    ran.assert_never_printed(&url);
}

#[tokio::test]
async fn notify_a_5xx_is_retried_and_then_delivered() {
    let chat = Receiver::start(vec![Reply::status(500, "temporarily unavailable")]).await;
    let url = chat.url("sEcReT-retry");
    let ran = Step::new("success", &url).run().await;
    assert_eq!(ran.code, 0, "{}", ran.logs());
    let got = chat.received();
    assert_eq!(got.len(), 2, "one 500, one retry: {got:#?}");
    assert_eq!(got[0].body, got[1].body, "the retry sends the same message");
    assert!(!ran.stdout.contains("::warning"), "{}", ran.logs());
    ran.assert_never_printed(&url);
}

#[tokio::test]
async fn notify_a_429_waits_for_retry_after() {
    let chat = Receiver::start(vec![
        Reply::status(429, "rate_limited").header("Retry-After", "2"),
    ])
    .await;
    let url = chat.url("sEcReT-429");
    let ran = Step::new("success", &url).run().await;
    assert_eq!(ran.code, 0, "{}", ran.logs());
    let got = chat.received();
    assert_eq!(got.len(), 2, "{got:#?}");
    let waited = got[1].at - got[0].at;
    assert!(
        waited >= Duration::from_secs(2),
        "retried after {waited:?}, Retry-After said 2 s"
    );
    ran.assert_never_printed(&url);
}

#[tokio::test]
async fn notify_a_webhook_that_always_fails_is_a_warning_and_the_verdict_stands() {
    let chat = Receiver::always(Reply::status(500, "no_service")).await;
    let url = chat.url("sEcReT-broken");
    let ran = Step::new("success", &url).run().await;
    assert_eq!(
        ran.code,
        0,
        "a notification never changes the exit code:\n{}",
        ran.logs()
    );
    assert_eq!(ran.output("verdict"), Some("success"));
    assert_eq!(chat.received().len(), 3, "bounded: 3 tries");
    let warning = ran
        .stdout
        .lines()
        .find(|l| l.starts_with("::warning title=stevedore%3A notify::"))
        .unwrap_or_else(|| panic!("no notify warning:\n{}", ran.logs()));
    assert!(
        warning.contains("webhook 1 of 1 (127.0.0.1)")
            && warning.contains("3 attempt(s)")
            && warning.contains("HTTP 500 Internal Server Error: no_service")
            && warning.contains("The verdict is unchanged"),
        "{warning}"
    );
    assert!(
        ran.summary.contains("was not delivered"),
        "the summary notes it:\n{}",
        ran.summary
    );
    ran.assert_never_printed(&url);

    // A 404 (Slack's `no_service` for a deleted webhook) is not retried.
    let gone = Receiver::always(Reply::status(404, "no_service")).await;
    let url = gone.url("sEcReT-gone");
    let ran = Step::new("failure", &url).run().await;
    assert_eq!(ran.code, 1, "{}", ran.logs());
    assert_eq!(gone.received().len(), 1);
    assert!(
        ran.stdout.contains("HTTP 404 Not Found: no_service"),
        "{}",
        ran.logs()
    );
    ran.assert_never_printed(&url);
}

#[tokio::test]
async fn notify_an_unreachable_webhook_is_a_warning_without_its_url() {
    // A closed loopback port: connection refused, retried, then a warning naming only the host.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let url = format!("http://127.0.0.1:{port}/services/T0001/B0001/sEcReT-closed");
    let ran = Step::new("success", &url).run().await;
    assert_eq!(ran.code, 0, "{}", ran.logs());
    assert!(
        ran.stdout
            .lines()
            .any(|l| l.starts_with("::warning title=stevedore%3A notify::")
                && l.contains("request failed")),
        "{}",
        ran.logs()
    );
    ran.assert_never_printed(&url);
    assert!(!ran.stderr.contains("sEcReT-closed"), "{}", ran.logs());
}

#[tokio::test]
async fn notify_sigterm_during_a_hanging_webhook_exits_1_within_2_s() {
    // The mode succeeded; the receiver never answers in time; the runner cancels the step.
    let chat = Receiver::always(Reply::ok().after(Duration::from_secs(60))).await;
    let url = chat.url("sEcReT-hang");
    let step = Step::new("success", &url);
    let start = Instant::now();
    let child = step.command().spawn().unwrap();
    let pid = child.id().unwrap();
    // Wait until the message is in flight, then cancel as the runner does.
    let deadline = Instant::now() + Duration::from_secs(20);
    while chat.received().is_empty() {
        assert!(Instant::now() < deadline, "no notification was sent");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let signalled = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().await.unwrap();
    let after_signal = signalled.elapsed();
    let ran = step.finish(out, start.elapsed());
    // Every step exits within 2 s of the signal (docs/security.md), the notification in flight included.
    assert!(
        after_signal < Duration::from_secs(2),
        "exited {after_signal:?} after SIGTERM:\n{}",
        ran.logs()
    );
    // A cancelled step exits 1 with its `Cancelled by` error (docs/reporting.md), although the mode had
    // finished: the error says that its work stands.
    assert_eq!(ran.code, 1, "{}", ran.logs());
    assert_eq!(ran.output("verdict"), Some("failure"), "{}", ran.logs());
    let error = ran
        .stdout
        .lines()
        .find(|l| l.starts_with("::error"))
        .unwrap_or_default();
    assert!(
        error.starts_with("::error title=stevedore lint-gate::Cancelled by SIGTERM after the mode: lint-gate had finished"),
        "{}",
        ran.logs()
    );
    assert!(error.contains("that work stands"), "{error}");
    assert!(
        ran.summary.contains("Cancelled by SIGTERM"),
        "{}",
        ran.summary
    );
    assert_eq!(chat.received().len(), 1, "no retry after the cancel");
    assert!(
        ran.stdout.contains("cancelled"),
        "the warning says the step was cancelled:\n{}",
        ran.logs()
    );
    ran.assert_never_printed(&url);
    assert!(ran.took < Duration::from_secs(30));
}

#[tokio::test]
async fn notify_under_act_leaves_out_the_placeholder_run_link() {
    let chat = Receiver::start(Vec::new()).await;
    let url = chat.url("sEcReT-act");
    let ran = Step::new("success", &url)
        .var("ACT", "true")
        .var("GITHUB_RUN_ID", "1")
        .run()
        .await;
    assert_eq!(ran.code, 0, "{}", ran.logs());
    let text = chat.received()[0].text();
    has(&text, "environment `staging`");
    lacks(&text, "actions/runs");
    ran.assert_never_printed(&url);
}

#[tokio::test]
async fn notify_an_entry_that_is_not_a_url_is_an_input_error_that_does_not_echo_it() {
    let chat = Receiver::start(Vec::new()).await;
    let good = chat.url("sEcReT-good");
    let ran = Step::new("success", &format!("{good}, hooks.example.com/sEcReT-bad"))
        .run()
        .await;
    assert_eq!(ran.code, 2, "{}", ran.logs());
    assert!(
        ran.stdout
            .contains("::error title=stevedore: invalid input `notify`::")
            || ran
                .stdout
                .contains("::error title=stevedore%3A invalid input `notify`::"),
        "{}",
        ran.logs()
    );
    assert!(
        ran.stdout.contains("entry 2 of 2 is not an http(s) URL"),
        "{}",
        ran.logs()
    );
    assert!(
        !ran.stdout.contains("sEcReT-bad")
            || ran
                .stdout
                .contains("::add-mask::hooks.example.com/sEcReT-bad")
    );
    for line in ran.stdout.lines().chain(ran.stderr.lines()) {
        if line.contains("sEcReT-bad") {
            assert!(line.starts_with("::add-mask::"), "{line}");
        }
    }
    assert!(
        chat.received().is_empty(),
        "nothing is sent when inputs are invalid"
    );
}
