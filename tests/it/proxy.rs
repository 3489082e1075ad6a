//! Issue 15, finding 7: every client goes through the proxy the runner passes (`HTTPS_PROXY`/`https_proxy`
//! for https, `HTTP_PROXY` for http), and around it for `NO_PROXY` hosts. The proxy is a loopback one that
//! records each `CONNECT` and each forwarded request (helpers/proxy.rs). See docs/security.md.

use crate::credentials::{ScriptedSts, errors, step as credentials_step};
use crate::helpers::fake_github::FakeGithub;
use crate::helpers::fake_oidc::{FakeOidc, Settings};
use crate::helpers::proxy::RecordingProxy;
use crate::helpers::run::{Step, StepResult};
use crate::helpers::tls::TestCa;
use crate::reporting::report_pr_success;

const ROLE: &str = "arn:aws:iam::123456789012:role/github-deploy";

/// `https://localhost:1234` -> `localhost:1234`.
fn authority(url: &str) -> String {
    url.split("://")
        .nth(1)
        .unwrap()
        .trim_end_matches('/')
        .to_owned()
}

/// The lint-gate report (a success, 3 annotations) of a same-repo pull request sent to the TLS fake
/// GitHub `gh` (trusted through `SSL_CERT_FILE`), with `vars` (the proxy settings) set too.
async fn report_through(gh: &FakeGithub, vars: &[(&str, &str)]) -> StepResult {
    let ca = gh.ca_pem_path().unwrap().display().to_string();
    let mut all = vec![("SSL_CERT_FILE", ca.as_str())];
    all.extend_from_slice(vars);
    report_pr_success(&gh.url(), &all).await
}

/// A TLS OIDC issuer (trusted through `SSL_CERT_FILE`), an STS that refuses, and a recording proxy.
struct ProxiedSts {
    ca: TestCa,
    oidc: FakeOidc,
    sts: ScriptedSts,
    proxy: RecordingProxy,
}

impl ProxiedSts {
    async fn start() -> Self {
        let ca = TestCa::new();
        let oidc = FakeOidc::start_tls(Settings::default(), &ca).await;
        let sts = ScriptedSts::start(vec![]).await;
        let proxy = RecordingProxy::start().await;
        Self {
            ca,
            oidc,
            sts,
            proxy,
        }
    }

    /// The credentials step assuming `ROLE`, with the proxy as `https_var` (either spelling) and `HTTP_PROXY`.
    fn step(&self, https_var: &str) -> Step {
        credentials_step(&self.oidc, &self.sts.url)
            .var(
                "SSL_CERT_FILE",
                &self.ca.ca_pem_path().display().to_string(),
            )
            .var(https_var, &self.proxy.url)
            .var("HTTP_PROXY", &self.proxy.url)
            .input("role-to-assume", ROLE)
            .input("aws-region", "eu-west-1")
    }
}

#[tokio::test]
async fn the_github_client_tunnels_through_https_proxy_in_either_spelling() {
    for var in ["HTTPS_PROXY", "https_proxy"] {
        let proxy = RecordingProxy::start().await;
        let gh = FakeGithub::start_tls().await;
        let r = report_through(&gh, &[(var, &proxy.url)]).await;
        assert_eq!(r.code, 0, "{}", r.stdout);
        gh.assert_no_violations();
        assert_eq!(gh.check_runs().len(), 1, "{var}: {}", r.summary);
        assert_eq!(gh.comments(7).len(), 1, "{var}: {}", r.summary);
        let target = authority(&gh.url());
        let connects = proxy.connects();
        assert!(
            !connects.is_empty(),
            "{var}: nothing went through the proxy"
        );
        assert!(
            connects.iter().all(|c| *c == target),
            "{var}: every tunnel leads to GitHub ({target}): {connects:?}"
        );
    }
}

#[tokio::test]
async fn no_proxy_hosts_are_reached_directly() {
    let proxy = RecordingProxy::start().await;
    let gh = FakeGithub::start_tls().await;
    let r = report_through(
        &gh,
        &[
            ("HTTPS_PROXY", &proxy.url),
            ("NO_PROXY", "example.com,localhost"),
        ],
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert_eq!(gh.check_runs().len(), 1, "{}", r.summary);
    assert_eq!(proxy.seen(), Vec::<String>::new(), "NO_PROXY was ignored");
}

#[tokio::test]
async fn a_dead_proxy_is_named_when_github_cannot_be_reached() {
    // Nothing listens on the proxy port: the request fails, and the reason names the proxy (not GitHub).
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let gh = FakeGithub::start_tls().await;
    let r = report_through(&gh, &[("HTTPS_PROXY", &format!("http://127.0.0.1:{port}"))]).await;
    assert!(
        gh.requests().is_empty(),
        "GitHub was reached around the proxy"
    );
    let text = format!("{}\n{}", r.stdout, r.summary);
    assert!(
        text.contains(&format!("proxy http://127.0.0.1:{port}/")),
        "the failure should name the proxy:\n{text}"
    );
}

#[tokio::test]
async fn the_oidc_token_and_jwks_requests_tunnel_through_https_proxy_and_sts_through_http_proxy() {
    let rig = ProxiedSts::start().await;
    let (oidc, sts, proxy) = (&rig.oidc, &rig.sts, &rig.proxy);
    let r = rig.step("https_proxy").run().await;
    // The scripted STS refuses: the run fails after the token was fetched and verified and STS asked.
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        errors(&r).contains("STS refused to let this job assume"),
        "{}",
        r.stdout
    );
    assert_eq!(oidc.token_requests(), 1);
    assert!(sts.requests() >= 1);
    let seen = proxy.seen();
    let issuer = authority(oidc.issuer());
    assert!(
        seen.iter().any(|l| *l == format!("CONNECT {issuer}")),
        "the token request did not tunnel through the proxy: {seen:?}"
    );
    // The AWS SDK forwards plain http through HTTP_PROXY in absolute form.
    let sts_url = format!("{}/", sts.url);
    assert!(
        seen.iter().any(|l| *l == format!("POST {sts_url}")),
        "the STS request did not go through HTTP_PROXY: {seen:?}"
    );
}

#[tokio::test]
async fn sts_bypasses_the_proxy_for_no_proxy_hosts() {
    let rig = ProxiedSts::start().await;
    let (oidc, sts, proxy) = (&rig.oidc, &rig.sts, &rig.proxy);
    let r = rig
        .step("HTTPS_PROXY")
        .var("NO_PROXY", "127.0.0.1")
        .exits(1)
        .await;
    assert!(sts.requests() >= 1, "{}", r.stdout);
    let seen = proxy.seen();
    // The issuer is `localhost` (not excluded): tunnelled. STS is at 127.0.0.1 (excluded): direct.
    let issuer = authority(oidc.issuer());
    assert!(seen.contains(&format!("CONNECT {issuer}")), "{seen:?}");
    assert!(
        seen.iter().all(|l| !l.contains("127.0.0.1")),
        "a NO_PROXY host went through the proxy: {seen:?}"
    );
}
