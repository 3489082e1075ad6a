//! Issue 15, finding 7: every client goes through the proxy the runner passes (`HTTPS_PROXY`/`https_proxy`
//! for https, `HTTP_PROXY` for http), and around it for `NO_PROXY` hosts. The proxy is a loopback one that
//! records each `CONNECT` and each forwarded request (helpers/proxy.rs). See docs/security.md.

use stevedore::report::Verdict;

use crate::credentials::{ScriptedSts, errors, step as credentials_step};
use crate::helpers::fake_github::FakeGithub;
use crate::helpers::fake_oidc::{FakeOidc, Settings};
use crate::helpers::proxy::RecordingProxy;
use crate::helpers::tls::TestCa;
use crate::reporting::{on_pr, report_with, run_reporting, step};

const ROLE: &str = "arn:aws:iam::123456789012:role/github-deploy";

/// `https://localhost:1234` -> `localhost:1234`.
fn authority(url: &str) -> String {
    url.split("://")
        .nth(1)
        .unwrap()
        .trim_end_matches('/')
        .to_owned()
}

#[tokio::test]
async fn the_github_client_tunnels_through_https_proxy_in_either_spelling() {
    for var in ["HTTPS_PROXY", "https_proxy"] {
        let proxy = RecordingProxy::start().await;
        let gh = FakeGithub::start_tls().await;
        let ca = gh.ca_pem_path().unwrap().display().to_string();
        let r = run_reporting(
            on_pr(step(&gh.url()), false)
                .var("SSL_CERT_FILE", &ca)
                .var(var, &proxy.url),
            report_with(Verdict::Success, 3),
        )
        .await;
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
    let ca = gh.ca_pem_path().unwrap().display().to_string();
    let r = run_reporting(
        on_pr(step(&gh.url()), false)
            .var("SSL_CERT_FILE", &ca)
            .var("HTTPS_PROXY", &proxy.url)
            .var("NO_PROXY", "example.com,localhost"),
        report_with(Verdict::Success, 3),
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
    let ca = gh.ca_pem_path().unwrap().display().to_string();
    let r = run_reporting(
        on_pr(step(&gh.url()), false)
            .var("SSL_CERT_FILE", &ca)
            .var("HTTPS_PROXY", &format!("http://127.0.0.1:{port}")),
        report_with(Verdict::Success, 3),
    )
    .await;
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
    let ca = TestCa::new();
    let oidc = FakeOidc::start_tls(Settings::default(), &ca).await;
    let sts = ScriptedSts::start(vec![]).await;
    let proxy = RecordingProxy::start().await;
    let r = credentials_step(&oidc, &sts.url)
        .var("SSL_CERT_FILE", &ca.ca_pem_path().display().to_string())
        .var("https_proxy", &proxy.url)
        .var("HTTP_PROXY", &proxy.url)
        .input("role-to-assume", ROLE)
        .input("aws-region", "eu-west-1")
        .run()
        .await;
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
    let ca = TestCa::new();
    let oidc = FakeOidc::start_tls(Settings::default(), &ca).await;
    let sts = ScriptedSts::start(vec![]).await;
    let proxy = RecordingProxy::start().await;
    let r = credentials_step(&oidc, &sts.url)
        .var("SSL_CERT_FILE", &ca.ca_pem_path().display().to_string())
        .var("HTTPS_PROXY", &proxy.url)
        .var("HTTP_PROXY", &proxy.url)
        .var("NO_PROXY", "127.0.0.1")
        .input("role-to-assume", ROLE)
        .input("aws-region", "eu-west-1")
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
