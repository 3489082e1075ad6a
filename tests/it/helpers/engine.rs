//! A container engine and a registry on loopback, for build-mode tests.
//!
//! - [`Podman`]: `podman system service --time=0 unix://<tmp>/podman.sock` with `CONTAINERS_CONF` set to
//!   `tests/podman/containers.conf` (runc, ulimits), `CONTAINERS_REGISTRIES_CONF` marking the loopback
//!   registry as plain HTTP (the Docker daemon treats 127.0.0.0/8 as insecure by default; podman needs
//!   to be told, as a CI host's daemon config would), and a **private image store** (`--root`/`--runroot`
//!   in its temporary directory). The store is private because podman's build cache is shared by
//!   everything using the machine's store: two identical builds (every test building `FROM scratch` +
//!   `COPY static.txt`, here or in another checkout's run) get the same image, and one test removing its
//!   image while the other build commits it fails that build (`layer not known`) or its push. With a
//!   private store no other test or workload sees, reuses or removes what a test builds, and dropping the
//!   [`Podman`] removes all of it.
//! - [`Registry`]: Debian `docker-registry` (distribution 2.8) on a free 127.0.0.1 port with a minimal
//!   config and no auth, one per test (a shared registry would let two tests push different images under
//!   the same `app:<sha>`). It is only used once it answers `/v2/` as a registry while the child is alive:
//!   a port taken by someone else between the pick and the bind restarts it on another port, instead of
//!   the test talking to a stranger's server.
//!
//! Both skip (None) with a printed reason when the tool is missing, and fail under `CI=true`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::free_port;
use super::tied::{self, Tied};

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
    // Fields drop in order: the process stops before its directory goes.
    _child: Tied,
    _dir: tempfile::TempDir,
}

impl Registry {
    /// A fresh `docker-registry` on a free loopback port; None = skip.
    pub fn start() -> Option<Registry> {
        let bin = "docker-registry";
        if !on_path(bin) {
            return super::require::<Registry>(
                "docker-registry (apt install docker-registry)",
                None,
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.yml");
        let log = dir.path().join("registry.log");
        // The port is free when picked but not reserved: another process may bind it before the registry
        // does. The registry then exits (address in use); start it again on another port.
        for _ in 0..5 {
            let port = free_port();
            std::fs::write(
                &config,
                format!(
                    "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n  headers:\n    X-Stevedore-Test: [\"{}\"]\n",
                    dir.path().join("data").display(),
                    nonce(dir.path(), port)
                ),
            )
            .unwrap();
            let mut cmd = Command::new(bin);
            cmd.arg("serve").arg(&config);
            let mut guard = tied::spawn(
                &cmd,
                Stdio::null(),
                Stdio::from(std::fs::File::create(&log).unwrap()),
            )
            .unwrap();
            if wait_for_registry(&mut guard, port, &nonce(dir.path(), port)) {
                return Some(Registry {
                    addr: format!("127.0.0.1:{port}"),
                    _child: guard,
                    _dir: dir,
                });
            }
            eprintln!(
                "docker-registry did not start on 127.0.0.1:{port}; trying another port:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        panic!("docker-registry did not start on any of 5 free ports");
    }

    /// `GET /v2/<name>/manifests/<reference>` with the manifest media types; returns the
    /// `Docker-Content-Digest` header and the body.
    pub async fn manifest(&self, name: &str, reference: &str) -> (String, Vec<u8>, String) {
        let url = format!("http://{}/v2/{name}/manifests/{reference}", self.addr);
        let resp = crate::helpers::reqwest_client()
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

/// `podman system service` on a unix socket in its own directory, with its own image store.
pub struct Podman {
    /// `unix:///tmp/...sock`, for `DOCKER_HOST`.
    pub docker_host: String,
    /// `--root` and `--runroot` of the private store.
    root: PathBuf,
    runroot: PathBuf,
    child: Option<Tied>,
    _dir: tempfile::TempDir,
}

impl Drop for Podman {
    fn drop(&mut self) {
        // Stop the service, then remove every container and image of the private store (unmounting their
        // layers), so removing the directory leaves nothing behind.
        drop(self.child.take());
        for args in [
            &["rm", "--all", "--force"][..],
            &["rmi", "--all", "--force"],
        ] {
            let _ = self
                .cli()
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Podman {
    /// Starts the service, trusting `insecure_registry` over plain HTTP; None = skip.
    pub fn start(insecure_registry: &str) -> Option<Podman> {
        if !on_path("podman") {
            return super::require::<Podman>("podman (apt install podman runc)", None);
        }
        let conf = containers_conf();
        assert!(conf.exists(), "{} is missing", conf.display());
        let dir = tempfile::tempdir().unwrap();
        let registries = dir.path().join("registries.conf");
        std::fs::write(
            &registries,
            format!("[[registry]]\nlocation = \"{insecure_registry}\"\ninsecure = true\n"),
        )
        .unwrap();
        let socket = dir.path().join("podman.sock");
        let docker_host = format!("unix://{}", socket.display());
        let mut podman = Podman {
            docker_host,
            root: dir.path().join("root"),
            runroot: dir.path().join("run"),
            child: None,
            _dir: dir,
        };
        let mut cmd = podman.cli();
        cmd.args(["system", "service", "--time=0", &podman.docker_host])
            .env("CONTAINERS_REGISTRIES_CONF", &registries);
        let child = tied::spawn(&cmd, Stdio::null(), Stdio::null()).unwrap();
        podman.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !socket.exists() {
            assert!(Instant::now() < deadline, "podman service did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(podman)
    }

    /// The private store (`--root`); removed with the [`Podman`].
    pub fn store(&self) -> &Path {
        &self.root
    }

    /// A podman command on this service's private store.
    pub fn cli(&self) -> Command {
        let mut c = Command::new("podman");
        c.env("CONTAINERS_CONF", containers_conf())
            .arg("--root")
            .arg(&self.root)
            .arg("--runroot")
            .arg(&self.runroot);
        c
    }
}

fn containers_conf() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/podman/containers.conf")
}

/// What the registry in `dir` on `port` says in `X-Stevedore-Test` (the directory is unique).
fn nonce(dir: &Path, port: u16) -> String {
    let name = dir.file_name().unwrap().to_string_lossy().to_lowercase();
    format!("{port}-{name}")
}

/// Whether the registry `child` started answers on `port`: `GET /v2/` is 200 with the `X-Stevedore-Test`
/// header its config sets to `nonce` (a stranger on the port, or a child that exited, is not it).
fn wait_for_registry(child: &mut Tied, port: u16, nonce: &str) -> bool {
    use std::io::{Read, Write};
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if child.try_wait().is_some() {
            return false;
        }
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let mut head = String::new();
            if s.write_all(b"GET /v2/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                .is_ok()
                && s.read_to_string(&mut head).is_ok()
            {
                // Anything else (a stranger, or a connection to itself while nothing listens yet) is not
                // it: keep waiting until the registry answers or exits.
                let head = head.to_ascii_lowercase();
                if head.starts_with("http/1.")
                    && head[..head.find('\n').unwrap_or(0)].contains(" 200 ")
                    && head.contains(&format!("x-stevedore-test: {nonce}"))
                {
                    return true;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}
