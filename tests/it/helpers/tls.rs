//! A private certificate authority and a TLS front for the in-process fakes.
//!
//! [`TestCa::new`] makes a CA and a leaf for `localhost` and `127.0.0.1` (rcgen, ring) and writes the
//! CA's PEM to a file: the file a test hands to stevedore through `SSL_CERT_FILE`. Nothing else trusts this
//! CA, so a client without that variable must refuse the server (`UnknownIssuer`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A CA, a server certificate it signed, and the CA's PEM on disk.
pub struct TestCa {
    _dir: tempfile::TempDir,
    ca_pem_path: PathBuf,
    ca_pem: String,
    acceptor: TlsAcceptor,
}

impl TestCa {
    pub fn new() -> TestCa {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "stevedore test CA");
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);

        let leaf_key = KeyPair::generate().unwrap();
        let mut leaf_params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();

        let dir = tempfile::tempdir().unwrap();
        let ca_pem_path = dir.path().join("private-ca.pem");
        let ca_pem = ca_cert.pem();
        std::fs::write(&ca_pem_path, &ca_pem).unwrap();

        let provider = stevedore::net::crypto::tls_provider();
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![
                    CertificateDer::from(leaf.der().to_vec()),
                    CertificateDer::from(ca_cert.der().to_vec()),
                ],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
            )
            .unwrap();
        TestCa {
            _dir: dir,
            ca_pem_path,
            ca_pem,
            acceptor: TlsAcceptor::from(Arc::new(config)),
        }
    }

    /// The file to put in `SSL_CERT_FILE`.
    pub fn ca_pem_path(&self) -> &Path {
        &self.ca_pem_path
    }

    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    pub fn acceptor(&self) -> TlsAcceptor {
        self.acceptor.clone()
    }
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}

/// Serves `app` over TLS on `listener` until the runtime ends. Failed handshakes (a client that does not
/// trust the CA) are counted, not fatal.
pub fn serve_tls(
    listener: TcpListener,
    app: axum::Router,
    acceptor: TlsAcceptor,
) -> Arc<std::sync::atomic::AtomicUsize> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let failed = Arc::new(AtomicUsize::new(0));
    let failed2 = failed.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            let app = app.clone();
            let failed = failed2.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    failed.fetch_add(1, Ordering::SeqCst);
                    return;
                };
                let service = hyper_util::service::TowerToHyperService::new(app);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    failed
}
