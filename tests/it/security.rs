//! Security hardening (issue 15): private CAs, proxies, cancellation, command injection, Markdown/HTML
//! escaping. See docs/security.md for the threat model each test belongs to.

use stevedore::report::Verdict;

use crate::helpers::fake_github::FakeGithub;
use crate::reporting::{on_pr, report_with, run_reporting, step};

// ---- Finding 8: private CAs through SSL_CERT_FILE ----

#[tokio::test]
async fn a_private_ca_in_ssl_cert_file_is_trusted_by_the_github_client() {
    let gh = FakeGithub::start_tls().await;
    let ca = gh.ca_pem_path().unwrap().display().to_string();
    let r = run_reporting(
        on_pr(step(&gh.url()), false).var("SSL_CERT_FILE", &ca),
        report_with(Verdict::Success, 3),
    )
    .await;
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
    let r = run_reporting(
        on_pr(step(&gh.url()), false),
        report_with(Verdict::Success, 3),
    )
    .await;
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
