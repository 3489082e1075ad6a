//! What every HTTP client of a run shares: the trusted roots, the proxy, and the retry loop ([`retry`]).
//!
//! The GitHub client (octocrab over hyper), the OIDC/JWKS and health/CloudWatch clients (reqwest) and the
//! AWS SDK's client (aws-smithy-http-client) all take their TLS roots and their proxy from one [`Net`],
//! built once per run from the environment ([`Net::from_env`]):
//!
//! - **Roots**: the ones built into the binary (Mozilla's, from `webpki-roots`) **plus** the certificates
//!   in `SSL_CERT_FILE` (or, when it is unset, the first system bundle found) and in every PEM file of the
//!   directories in `SSL_CERT_DIR`. A GitHub Enterprise Server or a TLS-inspecting proxy with a private CA
//!   works by pointing `SSL_CERT_FILE` at a bundle that holds it. The AWS SDK's trust store takes PEM, so it
//!   gets the file/directory/system certificates (every bundle carries Amazon's roots; the image ships one).
//! - **Crypto**: ring for every client and for JWT signatures (`crypto`; aws-lc-rs is not in the dependency tree).
//! - **Proxy**: `HTTPS_PROXY`/`https_proxy` for https URLs, `HTTP_PROXY`/`http_proxy` for http URLs,
//!   `ALL_PROXY`/`all_proxy` for both, `NO_PROXY`/`no_proxy` to exclude hosts (curl's rules, as parsed by
//!   hyper-util's matcher; the lower-case spelling wins when both are set). https goes through a `CONNECT`
//!   tunnel; the runner passes these variables to Docker actions on self-hosted runners behind a proxy.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use std::time::Duration;

use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::TokioIo;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::cancel::Cancel;
use crate::env::{Env, ProxyVars};

pub mod crypto;
pub mod retry;

pub use retry::error_chain;

/// Where the system keeps its bundle when `SSL_CERT_FILE` is unset (the paths openssl-probe knows).
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// The shared network settings, and the run's cancellation flag (every client built from a `Net` guards
/// its waits with it, see [`crate::cancel`]). Cheap to clone.
#[derive(Clone)]
pub struct Net {
    inner: Arc<Inner>,
    cancel: Cancel,
}

struct Inner {
    tls: Arc<rustls::ClientConfig>,
    /// The certificates loaded from files, PEM-encoded (for the AWS SDK's trust store).
    file_roots_pem: Vec<String>,
    /// Where they came from (for logs and errors).
    sources: Vec<PathBuf>,
    proxy: ProxyVars,
    matcher: Arc<Matcher>,
}

impl std::fmt::Debug for Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Net")
            .field("file_roots", &self.inner.file_roots_pem.len())
            .field("sources", &self.inner.sources)
            .field("proxy", &self.inner.proxy)
            .finish_non_exhaustive()
    }
}

/// The key the one cached [`Net`] was built for.
#[derive(Clone, PartialEq, Eq)]
struct Key {
    cert_file: Option<String>,
    cert_dir: Option<String>,
    proxy: ProxyVars,
}

static CACHE: Mutex<Option<(Key, Net)>> = Mutex::new(None);

impl Net {
    /// The settings for this environment. Built once: later calls with the same variables return the same
    /// value (the roots are read and parsed once per run).
    #[must_use]
    pub fn from_env(env: &Env) -> Net {
        let key = Key {
            cert_file: env.ssl_cert_file().map(str::to_owned),
            cert_dir: env.ssl_cert_dir().map(str::to_owned),
            proxy: env.proxy_vars(),
        };
        let mut cache = CACHE
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((k, net)) = cache.as_ref()
            && *k == key
        {
            return net.clone().with_cancel(env.cancel().clone());
        }
        let net = Net::build(&key, true);
        *cache = Some((key, net.clone()));
        net.with_cancel(env.cancel().clone())
    }

    /// These settings, stopping at `cancel`.
    #[must_use]
    pub fn with_cancel(mut self, cancel: Cancel) -> Net {
        self.cancel = cancel;
        self
    }

    /// The cancellation flag of the clients built from these settings.
    #[must_use]
    pub fn cancel(&self) -> &Cancel {
        &self.cancel
    }

    /// Built-in roots only, no proxy (tests and clients made without an environment).
    #[must_use]
    pub fn builtin() -> Net {
        Net::build(
            &Key {
                cert_file: None,
                cert_dir: None,
                proxy: ProxyVars::default(),
            },
            false,
        )
    }

    fn build(key: &Key, system_bundle: bool) -> Net {
        let mut sources = Vec::new();
        match &key.cert_file {
            Some(f) => sources.push(PathBuf::from(f)),
            None if system_bundle => {
                if let Some(p) = SYSTEM_BUNDLES.iter().map(Path::new).find(|p| p.is_file()) {
                    sources.push(p.to_owned());
                }
            }
            None => {}
        }
        if let Some(dirs) = &key.cert_dir {
            for dir in dirs.split(':').filter(|d| !d.is_empty()) {
                match std::fs::read_dir(dir) {
                    Ok(entries) => {
                        let mut files: Vec<PathBuf> = entries
                            .filter_map(Result::ok)
                            .map(|e| e.path())
                            .filter(|p| p.is_file())
                            .collect();
                        files.sort();
                        sources.extend(files);
                    }
                    Err(e) => tracing::warn!("SSL_CERT_DIR: cannot read `{dir}`: {e}"),
                }
            }
        }
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let mut file_roots_pem = Vec::new();
        for path in &sources {
            let explicit = key.cert_file.as_deref().map(Path::new) == Some(path.as_path());
            match load_pem_certs(path) {
                Ok(certs) => {
                    let (added, ignored) = roots.add_parsable_certificates(certs.iter().cloned());
                    tracing::debug!(path = %path.display(), added, ignored, "trusted roots loaded");
                    file_roots_pem.extend(certs.iter().map(to_pem));
                }
                // A file in SSL_CERT_DIR that is not PEM (hash links to CRLs, README files) is skipped quietly.
                Err(e) if explicit => tracing::warn!(
                    "SSL_CERT_FILE `{}`: {e}; only the built-in roots are trusted",
                    path.display()
                ),
                Err(e) => tracing::debug!(path = %path.display(), "no certificates: {e}"),
            }
        }
        let provider = crypto::tls_provider();
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map(|b| b.with_root_certificates(roots).with_no_client_auth())
            // ring supports the default versions; this branch is unreachable in practice, and the empty
            // config refuses every server rather than trusting anything.
            .unwrap_or_else(|e| {
                tracing::error!("TLS setup: {e}");
                rustls::ClientConfig::builder()
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth()
            });
        let matcher = key.proxy.matcher();
        Net {
            inner: Arc::new(Inner {
                tls: Arc::new(tls),
                file_roots_pem,
                sources,
                proxy: key.proxy.clone(),
                matcher: Arc::new(matcher),
            }),
            cancel: Cancel::never(),
        }
    }

    /// The rustls client configuration (roots above, ring, no client certificate).
    #[must_use]
    pub fn tls_config(&self) -> rustls::ClientConfig {
        (*self.inner.tls).clone()
    }

    /// The certificates read from `SSL_CERT_FILE`/`SSL_CERT_DIR`/the system bundle, PEM-encoded.
    #[must_use]
    pub fn file_roots_pem(&self) -> &[String] {
        &self.inner.file_roots_pem
    }

    /// The proxy URL for a request to `url`, or `None` to connect directly.
    #[must_use]
    pub fn proxy_for(&self, url: &http::Uri) -> Option<ProxyTarget> {
        self.inner.matcher.intercept(url).map(|i| ProxyTarget {
            uri: i.uri().clone(),
            basic_auth: i.basic_auth().cloned(),
        })
    }

    /// The proxy variables in effect.
    #[must_use]
    pub fn proxy_vars(&self) -> &ProxyVars {
        &self.inner.proxy
    }

    /// A reqwest client builder with these roots, this proxy and stevedore's user agent (redirects,
    /// timeouts: the caller's).
    pub fn reqwest(&self) -> reqwest::ClientBuilder {
        let matcher = self.inner.matcher.clone();
        let proxy = reqwest::Proxy::custom(move |url: &url::Url| {
            let uri: http::Uri = url.as_str().parse().ok()?;
            matcher.intercept(&uri).map(|i| {
                let u = i.uri();
                // The matcher strips credentials into `basic_auth`; reqwest wants them in the URL.
                match i.raw_auth() {
                    Some((user, pass)) => {
                        let mut with_auth = url::Url::parse(&u.to_string()).ok()?;
                        with_auth.set_username(user).ok()?;
                        with_auth.set_password(Some(pass)).ok()?;
                        Some(with_auth.to_string())
                    }
                    None => Some(u.to_string()),
                }
            })?
        });
        reqwest::Client::builder()
            .no_proxy()
            .proxy(proxy)
            .tls_backend_preconfigured(self.tls_config())
            .user_agent(concat!("stevedore/", env!("CARGO_PKG_VERSION")))
    }
}

/// A hyper connector for [`Net`]: direct TCP, or a `CONNECT` tunnel through the proxy the environment names
/// for the destination (http destinations are tunnelled too). TLS goes on top (hyper-rustls).
#[derive(Clone, Debug)]
pub struct ProxyConnector {
    net: Net,
    tcp: HttpConnector,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl ProxyConnector {
    /// A connector with `connect_timeout` for the TCP connection (to the proxy or the server).
    #[must_use]
    pub fn new(net: Net, connect_timeout: Duration) -> ProxyConnector {
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_connect_timeout(Some(connect_timeout));
        ProxyConnector { net, tcp }
    }
}

impl tower_service::Service<http::Uri> for ProxyConnector {
    type Response = TokioIo<tokio::net::TcpStream>;
    type Error = BoxError;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), BoxError>> {
        self.tcp.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, dst: http::Uri) -> Self::Future {
        let mut tcp = self.tcp.clone();
        match self.net.proxy_for(&dst) {
            None => Box::pin(async move { tcp.call(dst).await.map_err(Into::into) }),
            Some(p) => Box::pin(async move {
                let proxy = p.uri.to_string();
                let mut tunnel = Tunnel::new(p.uri, tcp);
                if let Some(auth) = p.basic_auth {
                    tunnel = tunnel.with_auth(auth);
                }
                std::future::poll_fn(|cx| tunnel.poll_ready(cx)).await?;
                tunnel
                    .call(with_default_port(dst))
                    .await
                    .map_err(|e| format!("proxy {}: {e}", redact_userinfo(&proxy)).into())
            }),
        }
    }
}

/// The tunnel asks for port 443 when the URL has none; an http URL means 80.
fn with_default_port(dst: http::Uri) -> http::Uri {
    if dst.port().is_some() || dst.scheme_str() != Some("http") {
        return dst;
    }
    let Some(host) = dst.host() else { return dst };
    let mut parts = dst.clone().into_parts();
    match format!("{host}:80").parse() {
        Ok(a) => {
            parts.authority = Some(a);
            http::Uri::from_parts(parts).unwrap_or(dst)
        }
        Err(_) => dst,
    }
}

/// A proxy URL without its credentials, for messages.
#[must_use]
pub fn redact_userinfo(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("***");
            let _ = u.set_password(None);
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

/// Where to send a request through a proxy.
#[derive(Clone, Debug)]
pub struct ProxyTarget {
    pub uri: http::Uri,
    pub basic_auth: Option<http::HeaderValue>,
}

impl ProxyVars {
    fn matcher(&self) -> Matcher {
        let mut b = Matcher::builder();
        if let Some(a) = &self.all {
            b = b.all(a.clone());
        }
        if let Some(h) = &self.http {
            b = b.http(h.clone());
        }
        if let Some(h) = &self.https {
            b = b.https(h.clone());
        }
        if let Some(n) = &self.no {
            b = b.no(n.clone());
        }
        b.build()
    }
}

fn load_pem_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read it: {e}"))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&bytes)
        .filter_map(Result::ok)
        .collect();
    if certs.is_empty() {
        return Err("no PEM certificate in it".into());
    }
    Ok(certs)
}

fn to_pem(der: &CertificateDer<'_>) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let mut s = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        s.push_str(&String::from_utf8_lossy(chunk));
        s.push('\n');
    }
    s.push_str("-----END CERTIFICATE-----\n");
    s
}

/// Checks a registry address given by the user (`registry`, or `registry` in an `environments` entry):
/// `host[:port]` or `https://host[:port]`, or `http://` to a loopback host (`127.0.0.0/8`, `[::1]`,
/// `localhost`: a registry on the runner itself); no path, user, query or fragment. ECR's credentials
/// are sent to it, so plain HTTP anywhere else is refused: it would carry them in the clear. `Ok` is the
/// address as [`crate::registry::Registry::new`] takes it; `Err` the problem, for an input error.
pub fn check_address(address: &str) -> Result<String, String> {
    let a = address.trim();
    let with_scheme = if a.contains("://") {
        a.to_owned()
    } else {
        format!("https://{a}")
    };
    let url =
        url::Url::parse(&with_scheme).map_err(|e| format!("is not a registry address ({e})"))?;
    let plain = url.scheme() == "http";
    if !matches!(url.scheme(), "http" | "https")
        || url.host_str().is_none_or(str::is_empty)
        || !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || url.fragment().is_some()
        || !url.path().trim_end_matches('/').is_empty()
    {
        return Err(
            "is not a registry address: give `host[:port]` (https) or `https://host[:port]`, without a path"
                .into(),
        );
    }
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    if plain && !loopback {
        return Err(
            "is plain `http://` to a host that is not loopback: the registry credentials would travel in the clear; use `https://`"
                .into(),
        );
    }
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    Ok(format!(
        "{}://{}{port}",
        url.scheme(),
        url.host_str().unwrap_or_default()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Registry addresses a user gives: https by default, plain HTTP only to the runner itself (ECR's
    /// credentials are sent there), never a path or credentials in the address.
    #[test]
    fn registry_addresses_are_https_or_loopback_http() {
        for (given, want) in [
            (
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
                "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com",
            ),
            (
                "https://registry.example:5000/",
                "https://registry.example:5000",
            ),
            ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
            ("http://127.8.0.1:5000", "http://127.8.0.1:5000"),
            ("http://localhost:5000", "http://localhost:5000"),
            ("http://[::1]:5000", "http://[::1]:5000"),
        ] {
            assert_eq!(check_address(given).as_deref(), Ok(want), "{given}");
        }
        for (bad, needle) in [
            ("http://registry.example", "in the clear"),
            ("http://10.0.0.1:5000", "in the clear"),
            ("ftp://registry.example", "not a registry address"),
            ("https://registry.example/v2", "without a path"),
            ("https://user:pw@registry.example", "without a path"),
            ("https://registry.example?x=1", "without a path"),
            ("https://", "not a registry address"),
        ] {
            let e = check_address(bad).unwrap_err();
            assert!(e.contains(needle), "{bad}: {e}");
        }
    }

    #[test]
    fn proxy_variables_pick_by_scheme_and_no_proxy_excludes() {
        let env = Env::from_pairs([
            ("HTTPS_PROXY", "http://proxy.example:3128"),
            ("http_proxy", "http://plain.example:8080"),
            ("NO_PROXY", "internal.example, 10.0.0.0/8"),
        ]);
        let net = Net::from_env(&env);
        let https: http::Uri = "https://api.github.com/repos".parse().unwrap();
        let http: http::Uri = "http://api.github.com/repos".parse().unwrap();
        let excluded: http::Uri = "https://ghe.internal.example/api/v3".parse().unwrap();
        let ip: http::Uri = "https://10.1.2.3/".parse().unwrap();
        assert_eq!(
            net.proxy_for(&https).unwrap().uri.to_string(),
            "http://proxy.example:3128/"
        );
        assert_eq!(
            net.proxy_for(&http).unwrap().uri.to_string(),
            "http://plain.example:8080/"
        );
        assert!(net.proxy_for(&excluded).is_none());
        assert!(net.proxy_for(&ip).is_none());
    }

    #[test]
    fn lower_case_wins_and_no_variables_means_direct() {
        let env = Env::from_pairs([
            ("https_proxy", "http://lower.example:1"),
            ("HTTPS_PROXY", "http://upper.example:2"),
        ]);
        let u: http::Uri = "https://x.example/".parse().unwrap();
        assert_eq!(
            Net::from_env(&env).proxy_for(&u).unwrap().uri.host(),
            Some("lower.example")
        );
        assert!(Net::builtin().proxy_for(&u).is_none());
    }

    #[test]
    fn a_missing_cert_file_leaves_the_builtin_roots() {
        let env = Env::from_pairs([("SSL_CERT_FILE", "/nonexistent/ca.pem")]);
        let net = Net::from_env(&env);
        assert!(net.file_roots_pem().is_empty());
        assert!(!webpki_roots::TLS_SERVER_ROOTS.is_empty());
    }
}
