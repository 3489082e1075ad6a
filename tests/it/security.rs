//! Security hardening (issue 15): private CAs, proxies, cancellation, command injection, Markdown/HTML
//! escaping. See docs/security.md for the threat model each test belongs to.

use crate::helpers::has;

use crate::helpers::fake_github::FakeGithub;
use crate::reporting::report_pr_success;

// ---- Finding 8: private CAs through SSL_CERT_FILE ----

#[tokio::test]
async fn a_private_ca_in_ssl_cert_file_is_trusted_by_the_github_client() {
    let gh = FakeGithub::start_tls().await;
    let ca = gh.ca_pem_path().unwrap().display().to_string();
    let r = report_pr_success(&gh.url(), &[("SSL_CERT_FILE", &ca)]).await;
    assert_eq!(r.code, 0, "{}", r.stdout);
    gh.assert_no_violations();
    assert_eq!(gh.failed_handshakes(), 0);
    assert_eq!(gh.check_runs().len(), 1, "{}", r.summary);
    assert_eq!(gh.comments(7).len(), 1, "{}", r.summary);
    assert!(gh.url().starts_with("https://localhost:"));
}

#[tokio::test]
async fn without_the_private_ca_the_github_client_refuses_the_server_naming_the_issuer() {
    let gh = FakeGithub::start_tls().await;
    let r = report_pr_success(&gh.url(), &[]).await;
    // Reporting problems never change the verdict; the summary says why GitHub was not reached.
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(gh.requests().is_empty());
    assert!(gh.failed_handshakes() > 0);
    assert!(gh.check_runs().is_empty());
    assert!(
        r.summary.contains("UnknownIssuer") || r.stdout.contains("UnknownIssuer"),
        "the refusal should name the unknown issuer:\n{}\n{}",
        r.summary,
        r.stdout
    );
}

/// The App Runner and Express health checks are HTTPS requests when `health-url` is not set (the service's
/// own `https://` URL): their client is built like every other from the run's roots — the ones built into
/// the binary plus `SSL_CERT_FILE`, which the image points at its bundle. A server signed by a private CA
/// is trusted once that CA is in `SSL_CERT_FILE`, and refused in the TLS handshake with the image's
/// bundle alone.
#[tokio::test]
async fn the_health_checks_https_client_trusts_ssl_cert_file_and_refuses_an_unknown_issuer() {
    use crate::helpers::tls::{TestCa, serve_tls};
    use stevedore::modes::deploy::apprunner::{HealthTiming, check_health};
    let ca = TestCa::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "https://localhost:{}/",
        listener.local_addr().unwrap().port()
    );
    let app = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
    let failed = serve_tls(listener, app, ca.acceptor());
    let timing = HealthTiming {
        passes: 2,
        interval: Duration::from_millis(50),
        budget: Duration::from_secs(5),
        request_timeout: Duration::from_secs(5),
    };
    let check = |cert_file: String| {
        let url = url.clone();
        async move {
            let env = stevedore::Env::from_pairs([("SSL_CERT_FILE", cert_file)]);
            let http = stevedore::net::Net::from_env(&env)
                .reqwest()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap();
            check_health(
                &http,
                &url,
                200,
                timing,
                &stevedore::cancel::Cancel::never(),
            )
            .await
        }
    };
    let trusted = check(ca.ca_pem_path().display().to_string()).await;
    assert_eq!(trusted, Ok(2));
    assert_eq!(failed.load(Ordering::SeqCst), 0);

    let image_bundle = concat!(env!("CARGO_MANIFEST_DIR"), "/dist/ca-certificates.crt");
    let refused = check(image_bundle.to_owned()).await;
    assert!(refused.is_err(), "{refused:?}");
    // The server counts a refused handshake once the client has gone: give the last one a moment.
    let deadline = Instant::now() + Duration::from_secs(2);
    while failed.load(Ordering::SeqCst) < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        failed.load(Ordering::SeqCst) >= 2,
        "both attempts were refused in the handshake: {refused:?}, {} failed handshakes",
        failed.load(Ordering::SeqCst)
    );
}

/// What the image trusts beyond the binary's built-in roots is `dist/ca-certificates.crt`, and the AWS
/// SDK's client (STS, ECS, Lambda, S3) trusts only that file: it must hold the roots AWS endpoints chain to
/// (Amazon Trust Services' four, and the Starfield root that cross-signs them).
#[test]
fn the_image_bundle_holds_the_roots_aws_endpoints_chain_to() {
    use base64::Engine as _;
    let pem = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/dist/ca-certificates.crt"
    ))
    .unwrap();
    let ders: Vec<Vec<u8>> = pem
        .split("-----BEGIN CERTIFICATE-----")
        .skip(1)
        .map(|b| {
            let b64: String = b
                .split("-----END CERTIFICATE-----")
                .next()
                .unwrap()
                .split_whitespace()
                .collect();
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap()
        })
        .collect();
    assert!(ders.len() > 100, "{} certificates", ders.len());
    for name in [
        "Amazon Root CA 1",
        "Amazon Root CA 2",
        "Amazon Root CA 3",
        "Amazon Root CA 4",
        "Starfield Services Root Certificate Authority - G2",
    ] {
        assert!(
            ders.iter()
                .any(|d| d.windows(name.len()).any(|w| w == name.as_bytes())),
            "{name} is not in the image's bundle"
        );
    }
}

// ---- Finding 3: the runner's signal reaches every network wait ----

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Exit within this long of SIGTERM/SIGINT (the runner kills 7.5 s after SIGINT).
const EXIT_WITHIN: Duration = Duration::from_secs(2);

/// A loopback endpoint that accepts connections and never answers (and never closes them).
struct Hang {
    url: String,
    accepted: Arc<AtomicUsize>,
}

async fn hang() -> Hang {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            held.push(conn);
        }
    });
    Hang { url, accepted }
}

/// Polls `f` every 20 ms; panics after `limit`.
async fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The real binary as the runner starts it (a clean environment, file commands in a temp dir).
struct Binary {
    child: tokio::process::Child,
    dir: tempfile::TempDir,
}

fn spawn_binary(vars: &[(&str, &str)]) -> Binary {
    let dir = tempfile::tempdir().unwrap();
    let workspace = dir.path().join("workspace");
    std::fs::create_dir_all(&workspace).unwrap();
    for f in ["output", "summary", "env"] {
        std::fs::write(dir.path().join(f), "").unwrap();
    }
    let [output, summary, env] = ["output", "summary", "env"].map(|f| dir.path().join(f));
    let mut base = crate::helpers::run::runner_env(&workspace, &output, &summary, &env);
    base.push(("GITHUB_SERVER_URL", "https://github.com".to_owned()));
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_stevedore"))
        .env_clear()
        .envs(base.iter().map(|(k, v)| (*k, v.as_str())))
        .envs(vars.iter().copied())
        .current_dir(&workspace)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    Binary { child, dir }
}

struct Stopped {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    summary: String,
    /// From `kill` being sent to the process having exited.
    took: Duration,
}

impl Stopped {
    fn logs(&self) -> String {
        format!(
            "exit {:?} after {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.took, self.stdout, self.stderr
        )
    }

    /// The closing `::error` says the signal cancelled the step.
    fn assert_cancelled_by(&self, signal: &str) {
        assert_eq!(self.code, Some(1), "{}", self.logs());
        let error = self
            .stdout
            .lines()
            .find(|l| l.starts_with("::error") && l.contains(&format!("Cancelled by {signal}")));
        assert!(
            error.is_some(),
            "no ::error naming {signal}:\n{}",
            self.logs()
        );
        // The reason stops at the cancelled call, without the HTTP client's error chain.
        let error = error.unwrap();
        assert!(
            !error.contains("DispatchFailure") && !error.contains("Instant"),
            "{error}"
        );
        has(error, "started nothing after the signal");
    }
}

/// Sends `signal` (`TERM`, `INT`) and waits (at most 30 s) for the exit.
async fn signal(b: Binary, signal: &str) -> Stopped {
    let pid = b.child.id().unwrap().to_string();
    let t0 = Instant::now();
    let sent = std::process::Command::new("kill")
        .args(["-s", signal, &pid])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = tokio::time::timeout(Duration::from_secs(30), b.child.wait_with_output())
        .await
        .expect("still running 30 s after the signal")
        .unwrap();
    let took = t0.elapsed();
    Stopped {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        summary: std::fs::read_to_string(b.dir.path().join("summary")).unwrap_or_default(),
        took,
    }
}

/// Once `what` has happened (`happened`, polled for at most `limit`) and `settle` more has passed, sends
/// `SIG<sig>` to `b`, prints how long it took to exit (as `label`), and checks that it exited within
/// [`EXIT_WITHIN`], cancelled by that signal.
async fn stop_once(
    b: Binary,
    what: &str,
    limit: Duration,
    happened: impl FnMut() -> bool,
    settle: Duration,
    sig: &str,
    label: &str,
) -> Stopped {
    wait_until(what, limit, happened).await;
    tokio::time::sleep(settle).await;
    let r = signal(b, sig).await;
    eprintln!("{label}: SIG{sig} to exit {:?}", r.took);
    assert!(r.took < EXIT_WITHIN, "{}", r.logs());
    r.assert_cancelled_by(&format!("SIG{sig}"));
    r
}

/// [`stop_once`] with SIGTERM, a second after `b` reached the endpoint `hung` (`what`, within 20 s).
async fn term_once_hung(b: Binary, hung: &Hang, what: &str, label: &str) -> Stopped {
    let accepted = hung.accepted.clone();
    stop_once(
        b,
        what,
        Duration::from_secs(20),
        || accepted.load(Ordering::SeqCst) > 0,
        Duration::from_secs(1),
        "TERM",
        label,
    )
    .await
}

const ROLE: &str = "arn:aws:iam::123456789012:role/deploy";

#[tokio::test]
async fn sigterm_while_the_oidc_token_request_hangs_exits_within_2_s() {
    let endpoint = hang().await;
    let b = spawn_binary(&[
        ("INPUT_MODE", "credentials"),
        ("INPUT_ROLE-TO-ASSUME", ROLE),
        ("INPUT_AWS-REGION", "eu-west-1"),
        (
            "ACTIONS_ID_TOKEN_REQUEST_URL",
            &format!("{}/token", endpoint.url),
        ),
        ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "request-token-for-tests"),
    ]);
    let r = term_once_hung(b, &endpoint, "the token request", "OIDC hang").await;
    assert_eq!(
        endpoint.accepted.load(Ordering::SeqCst),
        1,
        "no retry after the signal"
    );
    assert!(!r.stdout.contains("request-token-for-tests") || r.stdout.contains("::add-mask::"));
    has(&r.summary, "SIGTERM");
}

#[tokio::test]
async fn sigterm_while_the_github_api_hangs_exits_within_2_s() {
    let api = hang().await;
    let b = spawn_binary(&[
        ("INPUT_MODE", "lint-gate"),
        ("INPUT_GITHUB-TOKEN", "ghs_faketoken0123456789"),
        ("GITHUB_API_URL", &api.url),
    ]);
    term_once_hung(b, &api, "the check-run request", "GitHub hang").await;
}

#[tokio::test]
async fn sigint_during_the_ecs_plan_registers_nothing_and_creates_no_deployment() {
    use crate::helpers::fake_ecs::Behaviour;
    let (ecs, td) = crate::ecs::fake_with(&[("web", None)]).await;
    ecs.script("web", [Behaviour::complete_after_polls(1)]);
    // The plan's first call is slow: the signal arrives while it waits.
    ecs.delay("DescribeServices", Duration::from_secs(4));
    let gh = FakeGithub::start().await;
    let Some(moto) = crate::helpers::moto::moto() else {
        return;
    };
    let b = spawn_binary(&[
        ("INPUT_MODE", "deploy"),
        ("INPUT_ALLOW-AWS-CREDENTIAL-CHAIN", "true"),
        ("AWS_ENDPOINT_URL", &moto.endpoint),
        ("AWS_ENDPOINT_URL_ECS", ecs.url()),
        ("AWS_ACCESS_KEY_ID", "AKIDTEST"),
        ("AWS_SECRET_ACCESS_KEY", "secret-key-for-tests"),
        ("INPUT_AWS-REGION", "eu-west-1"),
        ("INPUT_CLUSTER", "prod"),
        ("INPUT_SERVICE", "web"),
        ("INPUT_CONTAINER", "app"),
        ("INPUT_IMAGE", crate::ecs::IMAGE),
        ("INPUT_GITHUB-TOKEN", "ghs_faketoken0123456789"),
        ("GITHUB_API_URL", &gh.url()),
    ]);
    let e = ecs.clone();
    let r = stop_once(
        b,
        "DescribeServices",
        Duration::from_secs(30),
        || e.arrivals().iter().any(|(op, _)| op == "DescribeServices"),
        Duration::from_millis(300),
        "INT",
        "ECS plan",
    )
    .await;
    // Past the delay: had the process gone on, it would have registered and deployed by now.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let ops: Vec<String> = ecs.arrivals().into_iter().map(|(op, _)| op).collect();
    for write in ["RegisterTaskDefinition", "UpdateService"] {
        assert!(
            !ops.iter().any(|o| o == write),
            "{write} after the signal: {ops:?}"
        );
    }
    assert_eq!(ecs.service_task_definition("web"), td);
    assert!(gh.deployments().is_empty(), "{:?}", gh.deployments());
    assert!(
        !gh.requests()
            .iter()
            .any(|q| q.method == "POST" && q.path.contains("/deployments")),
        "{:?}",
        gh.requests()
            .iter()
            .map(|q| q.route.clone())
            .collect::<Vec<_>>()
    );
    // The documented clean-up: the check run created at the start is completed as cancelled.
    let runs = gh.check_runs();
    assert_eq!(runs.len(), 1, "{}", r.logs());
    assert_eq!(
        runs[0].conclusion.as_deref(),
        Some("cancelled"),
        "{}",
        r.logs()
    );
    gh.assert_no_violations();
}

#[tokio::test]
async fn podman_stop_reaches_pid_1_of_the_image_while_the_oidc_request_hangs() {
    use crate::helpers::runner::{ContainerStep, Profile};
    let endpoint = hang().await;
    let accepted = endpoint.accepted.clone();
    let trigger = async move {
        while accepted.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let Some(r) = ContainerStep::new(Profile::Runner)
        .network_host()
        .input("mode", "credentials")
        .input("role-to-assume", ROLE)
        .input("aws-region", "eu-west-1")
        .oidc(
            &format!("{}/token", endpoint.url),
            "request-token-for-tests",
        )
        .stop_when(trigger)
        .run()
        .await
    else {
        return;
    };
    let took = r.stop_to_exit.expect("the container was stopped");
    eprintln!("image: podman stop to exit {took:?}");
    // 137 would be podman's SIGKILL after 7 s: PID 1 ignored SIGTERM.
    assert_eq!(r.code, 1, "{}", r.logs());
    assert!(took < Duration::from_secs(3), "{took:?}\n{}", r.logs());
    assert!(
        r.stdout
            .lines()
            .any(|l| l.starts_with("::error") && l.contains("Cancelled by SIGTERM")),
        "{}",
        r.logs()
    );
    assert_eq!(endpoint.accepted.load(Ordering::SeqCst), 1);
}
