//! A container engine and a registry on loopback, for build-mode tests.
//!
//! - [`Podman`]: `podman system service --time=0 unix:///tmp/<unique>.sock` with `CONTAINERS_CONF` set to
//!   `tests/podman/containers.conf` (runc, ulimits) and `CONTAINERS_REGISTRIES_CONF` marking the loopback
//!   registry as plain HTTP (the Docker daemon treats 127.0.0.0/8 as insecure by default; podman needs
//!   to be told, as a CI host's daemon config would).
//! - [`Registry`]: Debian `docker-registry` (distribution 2.8) on a free 127.0.0.1 port with a minimal
//!   config and no auth, or the address in `STEVEDORE_TEST_REGISTRY` when `.ci/run` started one.
//!
//! Both skip (None) with a printed reason when the tool is missing, and fail under `CI=true`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn on_path(bin: &str) -> bool {
    Command::new(bin)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A registry speaking the distribution API over plain HTTP on loopback.
pub struct Registry {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    _dir: Option<tempfile::TempDir>,
    _child: Option<Guard>,
}

impl Registry {
    /// The registry from `STEVEDORE_TEST_REGISTRY`, else a fresh `docker-registry`; None = skip.
    pub fn start() -> Option<Registry> {
        if let Ok(addr) = std::env::var("STEVEDORE_TEST_REGISTRY")
            && !addr.is_empty()
        {
            return Some(Registry {
                addr,
                _dir: None,
                _child: None,
            });
        }
        let bin = "docker-registry";
        if !on_path(bin) {
            return super::require::<Registry>(
                "docker-registry (apt install docker-registry)",
                None,
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let child = Command::new(bin)
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let guard = Guard(child);
        wait_for_port(port, "docker-registry");
        Some(Registry {
            addr: format!("127.0.0.1:{port}"),
            _dir: Some(dir),
            _child: Some(guard),
        })
    }

    /// `GET /v2/<name>/manifests/<reference>` with the manifest media types; returns the
    /// `Docker-Content-Digest` header and the body.
    pub async fn manifest(&self, name: &str, reference: &str) -> (String, Vec<u8>, String) {
        let url = format!("http://{}/v2/{name}/manifests/{reference}", self.addr);
        let resp = reqwest::Client::new()
            .get(&url)
            .header(
                "Accept",
                "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json",
            )
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "GET {url}: {}", resp.status());
        let digest = resp
            .headers()
            .get("Docker-Content-Digest")
            .expect("Docker-Content-Digest header")
            .to_str()
            .unwrap()
            .to_owned();
        let media = resp
            .headers()
            .get("Content-Type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (digest, resp.bytes().await.unwrap().to_vec(), media)
    }
}

/// `podman system service` on a unique unix socket.
pub struct Podman {
    /// `unix:///tmp/...sock`, for `DOCKER_HOST`.
    pub docker_host: String,
    socket: PathBuf,
    /// The registry the images are named after (for cleanup).
    registry: String,
    _dir: tempfile::TempDir,
    _child: Guard,
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.socket);
        // Remove the images this test built: they are all named after its own registry address.
        let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/podman/containers.conf");
        let listed = Command::new("podman")
            .args(["images", "--format", "{{.Repository}}:{{.Tag}}", "--filter"])
            .arg(format!("reference={}/*", self.registry))
            .env("CONTAINERS_CONF", &conf)
            .output();
        if let Ok(out) = listed {
            let refs: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter(|l| l.starts_with(&self.registry))
                .map(str::to_owned)
                .collect();
            if !refs.is_empty() {
                let _ = Command::new("podman")
                    .args(["rmi", "--force"])
                    .args(&refs)
                    .env("CONTAINERS_CONF", &conf)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
}

impl Podman {
    /// Starts the service, trusting `insecure_registry` over plain HTTP; None = skip.
    pub fn start(insecure_registry: &str) -> Option<Podman> {
        if !on_path("podman") {
            return super::require::<Podman>("podman (apt install podman runc)", None);
        }
        let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/podman/containers.conf");
        assert!(conf.exists(), "{} is missing", conf.display());
        let dir = tempfile::tempdir().unwrap();
        let registries = dir.path().join("registries.conf");
        std::fs::write(
            &registries,
            format!("[[registry]]\nlocation = \"{insecure_registry}\"\ninsecure = true\n"),
        )
        .unwrap();
        let socket = PathBuf::from(format!(
            "/tmp/stevedore-build-{}-{}.sock",
            std::process::id(),
            free_port()
        ));
        let docker_host = format!("unix://{}", socket.display());
        let child = Command::new("podman")
            .args(["system", "service", "--time=0", &docker_host])
            .env("CONTAINERS_CONF", &conf)
            .env("CONTAINERS_REGISTRIES_CONF", &registries)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let guard = Guard(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !socket.exists() {
            assert!(Instant::now() < deadline, "podman service did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(Podman {
            docker_host,
            socket,
            registry: insecure_registry.to_owned(),
            _dir: dir,
            _child: guard,
        })
    }
}

fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not start on {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
