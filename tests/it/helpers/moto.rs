//! One moto server per test process, on a free loopback port.
//!
//! moto (`moto[server]` from PyPI, pinned in `.ci/run`) plays STS, ECS, Lambda, CloudWatch, ECR, S3 and
//! IAM. Tests share the server and keep apart by using unique resource names ([`unique`]).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub struct Moto {
    pub endpoint: String,
    _child: ChildGuard,
}

struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

static MOTO: OnceLock<Option<Moto>> = OnceLock::new();

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start() -> Option<Moto> {
    let bin = std::env::var("MOTO_SERVER").unwrap_or_else(|_| "moto_server".to_owned());
    let port = free_port();
    let child = Command::new(&bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        // Image functions as in AWS: the image must exist in (moto's) ECR and `CodeSha256` is its digest,
        // instead of moto's default stub (a hash of the URI string).
        .env("MOTO_LAMBDA_STUB_ECR", "false")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let guard = ChildGuard(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            let endpoint = format!("http://127.0.0.1:{port}");
            // Lambda invoke without Docker (see DESIGN.md notes).
            post_json(
                port,
                "/moto-api/config",
                r#"{"lambda": {"use_docker": false}}"#,
            );
            return Some(Moto {
                endpoint,
                _child: guard,
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// The shared moto server, or `None` (skip) when moto is not installed and `CI` is not `true`.
pub fn moto() -> Option<&'static Moto> {
    super::require(
        "moto_server (pip install 'moto[server]')",
        MOTO.get_or_init(start).as_ref(),
    )
}

/// A moto server of the caller's own (dropped with it), for tests whose resource names are fixed (an
/// example's function names) and would collide on the shared one; `None` as for [`moto`].
pub fn own() -> Option<Moto> {
    super::require("moto_server (pip install 'moto[server]')", start())
}

/// A name unique within this test process, for AWS resources on the shared server.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A minimal HTTP/1.1 POST (moto's control API), without pulling an HTTP client into the rig.
pub fn post_json(port: u16, path: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// stevedore's own ECR client ([`stevedore::aws::ecr::Ecr`]) for `sdk` (its endpoint: moto), as test setup
/// and inspection use it.
pub fn ecr(sdk: &aws_types::SdkConfig) -> stevedore::aws::ecr::Ecr {
    let net = stevedore::net::Net::from_env(&stevedore::Env::from_pairs::<&str, &str>([]));
    stevedore::aws::ecr::Ecr::new(sdk, &net).unwrap()
}

/// A repository `name` in moto's ECR (ignored when it exists already, as infrastructure would leave it).
pub async fn ecr_repository(sdk: &aws_types::SdkConfig, name: &str) {
    let req = stevedore::aws::ecr::CreateRepository {
        repository_name: name.to_owned(),
        ..Default::default()
    };
    match ecr(sdk).create_repository(&req).await {
        Ok(_) => {}
        Err(e) if e.code.as_deref() == Some("RepositoryAlreadyExistsException") => {}
        Err(e) => panic!("{e}"),
    }
}
