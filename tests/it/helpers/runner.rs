//! The runner harness: builds our image from the `Dockerfile` with podman and runs it exactly as
//! actions/runner (or, in the [`Profile::Act`] profile, nektos/act) starts a Docker action.
//!
//! Runner profile (shared/reference/runner-contract.md §3-§4, actions/runner `DockerCommandManager.DockerRun`
//! and `ContainerActionHandler`):
//! - `podman run --name <name> --label stevedore-it --workdir /github/workspace --rm -e NAME ...
//!   -e GITHUB_ACTIONS=true -e CI=true --network <host|none> -v ... <image> <args>`;
//! - every variable is passed as `-e NAME` **without a value**; the values travel in the environment of
//!   the podman process, as the runner does with the docker CLI;
//! - mounts, in the runner's order: (docker socket when asked), `RUNNER_TEMP` -> `/github/runner_temp`,
//!   `_github_home` -> `/github/home`, `_github_workflow` -> `/github/workflow`,
//!   `_runner_file_commands` -> `/github/file_commands`, the workspace -> `/github/workspace`;
//! - file commands are fresh empty files `/github/file_commands/<prefix>_<guid>`, the event payload is
//!   `/github/workflow/event.json`, `HOME=/github/home`, inputs are `INPUT_<NAME>` with hyphens kept;
//! - values naming a mounted host path are rewritten to the container path (`TranslateToContainerPath`).
//!
//! Act profile (runner-contract.md §10): `ACT=true`, the workspace mounted at its host path and used as
//! the working directory, file commands with act's fixed names under `/var/run/act/workflow/`, event `{}`
//! unless given, act's reduced `GITHUB_*`/`RUNNER_*` set, no `HOME`, never any OIDC variable.
//!
//! Both profiles use `--network none` unless a test asks for `--network host` (to reach a loopback fake):
//! never podman's default bridge, whose 10.88.0.0/16 is a private range no test may reach. No default
//! points at a public host: `GITHUB_API_URL` defaults to a closed loopback port.
//!
//! The image is built once per test process from the repository's `Dockerfile`, in a copy of the action
//! folder whose `dist/amd64/stevedore` is the binary of the sources under test ([`action_binary`]), tagged with
//! the hash of that binary; the podman settings come from `tests/podman/containers.conf` unless `CONTAINERS_CONF`
//! is already set.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::run::parse_env_file;

/// How the step is started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// actions/runner on a GitHub-hosted Linux runner.
    Runner,
    /// nektos/act.
    Act,
}

impl Profile {
    pub const ALL: [Profile; 2] = [Profile::Runner, Profile::Act];
}

/// The container's network: never podman's default bridge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Network {
    /// No network at all (the default).
    None,
    /// The host's network namespace, to reach fakes listening on 127.0.0.1.
    Host,
}

/// An address nothing listens on (TCP port 9, "discard", closed on test machines): the default API URL.
pub const CLOSED_URL: &str = "http://127.0.0.1:9";

/// Root of the repository (where the `Dockerfile` is).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `containers.conf` the harness hands podman.
pub fn containers_conf() -> PathBuf {
    std::env::var_os("CONTAINERS_CONF")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("tests/podman/containers.conf"))
}

/// A podman command with our settings.
pub fn podman() -> std::process::Command {
    let mut c = std::process::Command::new("podman");
    c.env("CONTAINERS_CONF", containers_conf());
    c
}

fn podman_available() -> bool {
    podman()
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether `path` is an ELF executable without a program interpreter (a static binary, as `FROM scratch`
/// needs).
fn is_static_elf(path: &Path) -> bool {
    let Ok(bytes) = std::fs::read(path) else {
        return false;
    };
    // ELF64 little-endian: e_phoff at 0x20, e_phentsize at 0x36, e_phnum at 0x38; PT_INTERP = 3.
    if bytes.len() < 0x40 || &bytes[..4] != b"\x7fELF" || bytes[4] != 2 {
        return false;
    }
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(bytes[0x20..0x28].try_into().unwrap()) as usize;
    let (size, count) = (u16_at(0x36), u16_at(0x38));
    (0..count).all(|i| {
        let o = phoff + i * size;
        bytes.len() >= o + 4 && u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap()) != 3
    })
}

/// `<binary> --version` is the version of these sources (build.rs embeds their hash in every build).
fn built_from_these_sources(path: &Path) -> Result<(), String> {
    let out = std::process::Command::new(path)
        .arg("--version")
        .output()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let got = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let want = format!("stevedore {}", stevedore::VERSION);
    if got == want {
        Ok(())
    } else {
        Err(format!(
            "{} is {got:?}, the sources are {want:?}",
            path.display()
        ))
    }
}

/// The binary the test image carries, built from the sources under test:
/// 1. `STEVEDORE_IMAGE_BINARY` when set;
/// 2. the `stevedore` binary cargo built with this test binary, when it is static — `.ci/run` builds with
///    `CARGO_BUILD_TARGET=x86_64-unknown-linux-gnu` and `+crt-static`, so CI always tests the sources of
///    the commit, whatever `dist/` holds (dist/ is rebuilt in release commits only: docs/releasing.md);
/// 3. `dist/amd64/stevedore` when it was built from these sources (scripts/build-dist.sh).
///
/// `Err` says why none qualifies (a dynamic debug build and a dist/ from older sources).
pub fn action_binary() -> Result<PathBuf, String> {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("STEVEDORE_IMAGE_BINARY") {
            let p = PathBuf::from(p);
            return built_from_these_sources(&p).map(|()| p);
        }
        let cargo_bin = PathBuf::from(env!("CARGO_BIN_EXE_stevedore"));
        if is_static_elf(&cargo_bin) {
            return built_from_these_sources(&cargo_bin).map(|()| cargo_bin);
        }
        let dist = repo_root().join("dist/amd64/stevedore");
        built_from_these_sources(&dist).map(|()| dist).map_err(|why| {
            format!(
                "no static stevedore binary of these sources for the image: {} is dynamically linked \
                 and {why}. Build the tests as CI does (CARGO_BUILD_TARGET=x86_64-unknown-linux-gnu \
                 CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS='-C target-feature=+crt-static'), set \
                 STEVEDORE_IMAGE_BINARY, or run scripts/build-dist.sh",
                cargo_bin.display()
            )
        })
    })
    .clone()
}

/// The action as a user's `uses:` sees it: a folder with the repository's unmodified `action.yml`,
/// `Dockerfile` and `.dockerignore`, and `dist/` holding the CA bundle and [`action_binary`] (assembled
/// once per test process; the runner builds the image from this folder).
pub fn action_dir() -> Result<&'static Path, String> {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    DIR.get_or_init(|| {
        let bin = action_binary()?;
        let root = repo_root();
        let dir = std::env::temp_dir().join(format!(
            "stevedore-action-{}-{}",
            std::process::id(),
            &hex::encode(Sha256::digest(bin.display().to_string()))[..8]
        ));
        let _ = std::fs::remove_dir_all(&dir);
        remove_folders_of_finished_runs();
        std::fs::create_dir_all(dir.join("dist/amd64")).map_err(|e| e.to_string())?;
        for f in [
            "action.yml",
            "Dockerfile",
            ".dockerignore",
            "dist/ca-certificates.crt",
        ] {
            std::fs::copy(root.join(f), dir.join(f)).map_err(|e| format!("{f}: {e}"))?;
        }
        std::fs::copy(&bin, dir.join("dist/amd64/stevedore")).map_err(|e| e.to_string())?;
        Ok(dir)
    })
    .as_ref()
    .map(PathBuf::as_path)
    .map_err(Clone::clone)
}

/// The action folders of test processes that have ended (a static folder is never dropped, so each process
/// leaves its own behind; the next one removes those whose process is gone, keeping the temporary
/// directory bounded).
fn remove_folders_of_finished_runs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("stevedore-action-"))
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

static IMAGE: OnceLock<Option<String>> = OnceLock::new();

fn build_image() -> Option<String> {
    if !podman_available() {
        return None;
    }
    let dir = match action_dir() {
        Ok(d) => d,
        Err(why) if super::strict() => {
            panic!("the test image needs a current binary (CI=true): {why}")
        }
        Err(why) => {
            eprintln!("SKIPPED (container): {why}");
            return None;
        }
    };
    let bin = std::fs::read(dir.join("dist/amd64/stevedore")).expect("the assembled binary");
    let tag = format!(
        "localhost/stevedore-it:{}",
        &hex::encode(Sha256::digest(&bin))[..16]
    );
    // As the runner: `docker build -t <tag> -f <abs Dockerfile> <dir of the Dockerfile>`.
    let out = podman()
        .args(["build", "--quiet", "--tag", &tag, "--file"])
        .arg(dir.join("Dockerfile"))
        .arg(dir)
        .output()
        .expect("podman build");
    assert!(
        out.status.success(),
        "podman build of the Dockerfile failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(tag)
}

/// The image built from our Dockerfile (once per test process), or `None` (skip) when podman is absent
/// and `CI` is not `true`.
pub fn image() -> Option<&'static str> {
    super::require(
        "podman (apt-get install podman runc)",
        IMAGE.get_or_init(build_image).as_deref(),
    )
}

/// A fresh id like the runner's GUIDs (32 hex chars, unique within the test process).
fn guid() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let seed = format!(
        "{}-{}-{:?}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
    );
    hex::encode(Sha256::digest(seed.as_bytes()))[..32].to_owned()
}

/// One container-action step, configured like a workflow step.
pub struct ContainerStep {
    pub profile: Profile,
    network: Network,
    /// Values set by the test; they win over the profile's defaults.
    vars: Vec<(String, String)>,
    inputs: Vec<(String, String)>,
    event: Option<(String, serde_json::Value)>,
    oidc: Option<(String, String)>,
    args: Vec<String>,
    extra_mounts: Vec<(PathBuf, String)>,
    /// When it resolves, `podman stop -t 7` stops the container (SIGTERM, kill 7 s later).
    stop_when: Option<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>>,
    /// Host side of everything (workspace, runner temp).
    pub dir: tempfile::TempDir,
    /// The workspace on the host (`GITHUB_WORKSPACE` outside the container).
    pub workspace: PathBuf,
}

/// What the step left behind.
#[derive(Debug)]
pub struct ContainerResult {
    pub profile: Profile,
    /// The exit code of `podman run` (the container's, or podman's own 125-127).
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// `GITHUB_OUTPUT`, parsed as the runner parses it.
    pub outputs: Vec<(String, String)>,
    /// `GITHUB_STEP_SUMMARY`.
    pub summary: String,
    /// `GITHUB_ENV`, parsed as the runner parses it.
    pub env_file: Vec<(String, String)>,
    /// The podman command line (no values of variables are on it).
    pub command_line: Vec<String>,
    /// With [`ContainerStep::stop_when`]: from `podman stop` being started to `podman run` returning.
    pub stop_to_exit: Option<Duration>,
}

impl ContainerResult {
    pub fn output(&self, name: &str) -> Option<&str> {
        super::run::last_output(&self.outputs, name)
    }

    /// stdout and stderr, for assertion messages.
    pub fn logs(&self) -> String {
        format!(
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl ContainerStep {
    pub fn new(profile: Profile) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let workspace = dir.path().join("work/octo-repo/octo-repo");
        std::fs::create_dir_all(&workspace).unwrap();
        Self {
            profile,
            network: Network::None,
            vars: Vec::new(),
            inputs: Vec::new(),
            event: None,
            oidc: None,
            args: Vec::new(),
            extra_mounts: Vec::new(),
            stop_when: None,
            dir,
            workspace,
        }
    }

    /// An input, exported as the runner does: `INPUT_` + upper-cased name, spaces to `_`, hyphens kept.
    pub fn input(mut self, name: &str, value: &str) -> Self {
        self.inputs.push((name.to_owned(), value.to_owned()));
        self
    }

    /// A variable of the step's environment (`env:`); wins over the profile's defaults.
    pub fn var(mut self, key: &str, value: &str) -> Self {
        self.vars.push((key.to_owned(), value.to_owned()));
        self
    }

    /// The event name and webhook payload (act: the `-e` file).
    pub fn event(mut self, name: &str, payload: serde_json::Value) -> Self {
        self.event = Some((name.to_owned(), payload));
        self
    }

    /// `permissions: id-token: write`: the OIDC request URL and token (runner profile only; act never
    /// sets them).
    pub fn oidc(mut self, request_url: &str, request_token: &str) -> Self {
        self.oidc = Some((request_url.to_owned(), request_token.to_owned()));
        self
    }

    /// `--network host`, to reach fakes on 127.0.0.1.
    pub fn network_host(mut self) -> Self {
        self.network = Network::Host;
        self
    }

    /// Arguments after the image (action.yml `args`).
    pub fn args(mut self, args: &[&str]) -> Self {
        self.args = args.iter().map(|a| (*a).to_owned()).collect();
        self
    }

    /// An extra bind mount, e.g. a container-engine socket at `/var/run/docker.sock`.
    pub fn mount(mut self, host: &Path, container: &str) -> Self {
        self.extra_mounts
            .push((host.to_path_buf(), container.to_owned()));
        self
    }

    /// Stops the container with `podman stop -t 7` (SIGTERM to its PID 1, SIGKILL 7 s later, like the
    /// runner's cancellation) once `trigger` resolves.
    pub fn stop_when(
        mut self,
        trigger: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Self {
        self.stop_when = Some(Box::pin(trigger));
        self
    }

    /// Runs the step. `None` when podman is unavailable (skipped locally; a failure under `CI=true`).
    pub async fn run(self) -> Option<ContainerResult> {
        let image = image()?;
        Some(self.run_image(image).await)
    }

    async fn run_image(mut self, image: &str) -> ContainerResult {
        let layout = match self.profile {
            Profile::Runner => Layout::runner(self.dir.path(), &self.workspace),
            Profile::Act => Layout::act(self.dir.path(), &self.workspace),
        };
        for d in [&layout.files_host, &layout.workflow_host] {
            std::fs::create_dir_all(d).unwrap();
        }
        for d in [&layout.home_host, &layout.temp_host].into_iter().flatten() {
            std::fs::create_dir_all(d).unwrap();
        }
        // The runner creates the file-command files empty before the step (`InitializeFiles`).
        for f in layout.files.values() {
            std::fs::write(layout.files_host.join(f), b"").unwrap();
        }
        let (event_name, payload) = self.event.clone().unwrap_or_else(|| match self.profile {
            Profile::Runner => ("push".to_owned(), default_push_event()),
            Profile::Act => ("push".to_owned(), serde_json::json!({})),
        });
        std::fs::write(
            layout.workflow_host.join("event.json"),
            serde_json::to_vec_pretty(&payload).unwrap(),
        )
        .unwrap();

        let env = self.environment(&layout, &event_name);

        let name = format!("stevedore_{}", &guid()[..6]);
        let mut cmd_line: Vec<String> = vec![
            "run".into(),
            "--name".into(),
            name.clone(),
            "--label".into(),
            "stevedore-it".into(),
            "--workdir".into(),
            layout.workdir.clone(),
            "--rm".into(),
        ];
        for (k, _) in &env {
            cmd_line.push("-e".into());
            cmd_line.push(k.clone());
        }
        cmd_line.push("-e".into());
        cmd_line.push("GITHUB_ACTIONS=true".into());
        if !env.iter().any(|(k, _)| k == "CI") {
            cmd_line.push("-e".into());
            cmd_line.push("CI=true".into());
        }
        cmd_line.push("--network".into());
        cmd_line.push(
            match self.network {
                Network::None => "none",
                Network::Host => "host",
            }
            .into(),
        );
        for (host, container) in self.extra_mounts.iter().chain(layout.mounts.iter()) {
            cmd_line.push("-v".into());
            cmd_line.push(format!("{}:{container}", host.display()));
        }
        cmd_line.push(image.to_owned());
        cmd_line.extend(self.args.iter().cloned());

        let mut cmd = tokio::process::Command::new("podman");
        cmd.args(&cmd_line)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("CONTAINERS_CONF", containers_conf())
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let child = cmd.spawn().expect("podman run");
        let wait = child.wait_with_output();
        tokio::pin!(wait);
        let mut stopped_at = None;
        let mut early = None;
        if let Some(trigger) = self.stop_when.take() {
            tokio::select! {
                out = &mut wait => early = Some(out),
                () = trigger => {
                    stopped_at = Some(std::time::Instant::now());
                    let mut stop = tokio::process::Command::new("podman");
                    stop.args(["stop", "-t", "7", &name])
                        .env("CONTAINERS_CONF", containers_conf())
                        .stdout(Stdio::null())
                        .stderr(Stdio::null());
                    tokio::spawn(async move { stop.status().await });
                }
            }
        }
        // A guard against a hung container, not a timing assertion.
        let finished = async {
            match early {
                Some(out) => out,
                None => wait.await,
            }
        };
        let out = match tokio::time::timeout(Duration::from_secs(600), finished).await {
            Ok(out) => out.expect("podman run"),
            Err(_) => {
                let _ = podman().args(["rm", "-f", &name]).output();
                panic!("container {name} did not finish within 10 minutes");
            }
        };
        let exited = std::time::Instant::now();
        let read = |f: &str| {
            std::fs::read_to_string(layout.files_host.join(f))
                .unwrap_or_else(|e| panic!("{f}: {e}"))
        };
        let outputs_text = read(&layout.files["output"]);
        let env_text = read(&layout.files["env"]);
        if self.profile == Profile::Act {
            check_act_env_file(&outputs_text);
            check_act_env_file(&env_text);
        }
        ContainerResult {
            profile: self.profile,
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            outputs: parse_env_file(&outputs_text),
            summary: read(&layout.files["summary"]),
            env_file: parse_env_file(&env_text),
            command_line: cmd_line,
            stop_to_exit: stopped_at.map(|t| exited.duration_since(t)),
        }
    }

    /// The step's environment, in the order the runner assembles it, with the test's values on top.
    fn environment(&self, l: &Layout, event_name: &str) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = Vec::new();
        let mut set = |k: &str, v: &str| {
            if let Some(e) = env.iter_mut().find(|(n, _)| n == k) {
                e.1 = v.to_owned();
            } else {
                env.push((k.to_owned(), v.to_owned()));
            }
        };
        for (name, value) in &self.inputs {
            set(
                &format!("INPUT_{}", name.replace(' ', "_").to_uppercase()),
                value,
            );
        }
        let file = |kind: &str| format!("{}/{}", l.files_container, l.files[kind]);
        let event_path = format!("{}/event.json", l.workflow_container);
        let sha = "0123456789abcdef0123456789abcdef01234567";
        match self.profile {
            Profile::Runner => {
                set("HOME", "/github/home");
                for (k, v) in [
                    ("GITHUB_ACTION", "__octo-org_stevedore"),
                    ("GITHUB_ACTION_REF", "v1"),
                    ("GITHUB_ACTION_REPOSITORY", "octo-org/stevedore"),
                    ("GITHUB_ACTOR", "octocat"),
                    ("GITHUB_ACTOR_ID", "583231"),
                    ("GITHUB_API_URL", CLOSED_URL),
                    ("GITHUB_BASE_REF", ""),
                    ("GITHUB_ENV", &file("env")),
                    ("GITHUB_EVENT_NAME", event_name),
                    ("GITHUB_EVENT_PATH", &event_path),
                    ("GITHUB_GRAPHQL_URL", &format!("{CLOSED_URL}/graphql")),
                    ("GITHUB_HEAD_REF", ""),
                    ("GITHUB_JOB", "ci"),
                    ("GITHUB_OUTPUT", &file("output")),
                    ("GITHUB_PATH", &file("path")),
                    ("GITHUB_REF", "refs/heads/main"),
                    ("GITHUB_REF_NAME", "main"),
                    ("GITHUB_REF_PROTECTED", "true"),
                    ("GITHUB_REF_TYPE", "branch"),
                    ("GITHUB_REPOSITORY", "octo-org/octo-repo"),
                    ("GITHUB_REPOSITORY_ID", "1296269"),
                    ("GITHUB_REPOSITORY_OWNER", "octo-org"),
                    ("GITHUB_REPOSITORY_OWNER_ID", "9919"),
                    ("GITHUB_RETENTION_DAYS", "90"),
                    ("GITHUB_RUN_ATTEMPT", "1"),
                    ("GITHUB_RUN_ID", "4242"),
                    ("GITHUB_RUN_NUMBER", "7"),
                    ("GITHUB_SERVER_URL", "https://github.com"),
                    ("GITHUB_SHA", sha),
                    ("GITHUB_STATE", &file("state")),
                    ("GITHUB_STEP_SUMMARY", &file("summary")),
                    ("GITHUB_TRIGGERING_ACTOR", "octocat"),
                    ("GITHUB_WORKFLOW", "ci"),
                    (
                        "GITHUB_WORKFLOW_REF",
                        "octo-org/octo-repo/.github/workflows/ci.yml@refs/heads/main",
                    ),
                    ("GITHUB_WORKFLOW_SHA", sha),
                    ("GITHUB_WORKSPACE", &l.workdir),
                    ("RUNNER_OS", "Linux"),
                    ("RUNNER_ARCH", "X64"),
                    ("RUNNER_NAME", "GitHub Actions 2"),
                    ("RUNNER_ENVIRONMENT", "github-hosted"),
                    ("RUNNER_TOOL_CACHE", "/opt/hostedtoolcache"),
                    ("RUNNER_TEMP", "/github/runner_temp"),
                    // Not a mounted path: passed unchanged and absent inside the container.
                    (
                        "RUNNER_WORKSPACE",
                        &self.workspace.parent().unwrap().display().to_string(),
                    ),
                    ("ACTIONS_RUNTIME_URL", &format!("{CLOSED_URL}/runtime/")),
                    (
                        "ACTIONS_RUNTIME_TOKEN",
                        "runtime-token-not-a-secret-in-tests",
                    ),
                    ("ACTIONS_RESULTS_URL", &format!("{CLOSED_URL}/results/")),
                ] {
                    set(k, v);
                }
                if let Some((url, token)) = &self.oidc {
                    set("ACTIONS_ID_TOKEN_REQUEST_URL", url);
                    set("ACTIONS_ID_TOKEN_REQUEST_TOKEN", token);
                }
            }
            Profile::Act => {
                let workspace = self.workspace.display().to_string();
                for (k, v) in [
                    ("ACT", "true"),
                    ("CI", "true"),
                    ("GITHUB_ACTION", "0"),
                    ("GITHUB_ACTOR", "nektos/act"),
                    ("GITHUB_API_URL", CLOSED_URL),
                    ("GITHUB_BASE_REF", ""),
                    ("GITHUB_ENV", &file("env")),
                    ("GITHUB_EVENT_NAME", event_name),
                    ("GITHUB_EVENT_PATH", &event_path),
                    ("GITHUB_GRAPHQL_URL", &format!("{CLOSED_URL}/graphql")),
                    ("GITHUB_HEAD_REF", ""),
                    ("GITHUB_JOB", "ci"),
                    ("GITHUB_OUTPUT", &file("output")),
                    ("GITHUB_PATH", &file("path")),
                    ("GITHUB_REF", "refs/heads/main"),
                    ("GITHUB_REF_NAME", "main"),
                    ("GITHUB_REF_TYPE", "branch"),
                    ("GITHUB_REPOSITORY", "octo-org/octo-repo"),
                    ("GITHUB_REPOSITORY_OWNER", "octo-org"),
                    ("GITHUB_RETENTION_DAYS", "0"),
                    ("GITHUB_RUN_ATTEMPT", "1"),
                    ("GITHUB_RUN_ID", "1"),
                    ("GITHUB_RUN_NUMBER", "1"),
                    ("GITHUB_SERVER_URL", "https://github.com"),
                    ("GITHUB_SHA", sha),
                    ("GITHUB_STATE", &file("state")),
                    ("GITHUB_STEP_SUMMARY", &file("summary")),
                    ("GITHUB_WORKFLOW", "ci"),
                    ("GITHUB_WORKSPACE", &workspace),
                    ("RUNNER_OS", "Linux"),
                    ("RUNNER_ARCH", "X64"),
                    ("RUNNER_TEMP", "/tmp"),
                    ("RUNNER_TOOL_CACHE", "/opt/hostedtoolcache"),
                    ("RUNNER_PERFLOG", "/dev/null"),
                    ("RUNNER_TRACKING_ID", ""),
                ] {
                    set(k, v);
                }
            }
        }
        for (k, v) in &self.vars {
            let v = l.translate(v);
            set(k, &v);
        }
        if self.profile == Profile::Act {
            // act has no OIDC support at all: whatever the test set, these never reach the container.
            env.retain(|(k, _)| !k.starts_with("ACTIONS_ID_TOKEN_REQUEST_"));
        }
        env
    }
}

/// Where things live on the host and in the container for one profile.
struct Layout {
    workdir: String,
    files_host: PathBuf,
    files_container: String,
    workflow_host: PathBuf,
    workflow_container: String,
    home_host: Option<PathBuf>,
    temp_host: Option<PathBuf>,
    /// File-command kind -> file name.
    files: std::collections::BTreeMap<&'static str, String>,
    /// (host, container) in the runner's order.
    mounts: Vec<(PathBuf, String)>,
}

impl Layout {
    fn runner(dir: &Path, workspace: &Path) -> Self {
        // As on a hosted runner: everything under RUNNER_TEMP (`_work/_temp`).
        let temp = dir.join("work/_temp");
        let home = temp.join("_github_home");
        let workflow = temp.join("_github_workflow");
        let files_host = temp.join("_runner_file_commands");
        let g = guid();
        let files = [
            ("output", format!("set_output_{g}")),
            ("env", format!("set_env_{g}")),
            ("state", format!("save_state_{g}")),
            ("path", format!("add_path_{g}")),
            ("summary", format!("step_summary_{g}")),
        ]
        .into_iter()
        .collect();
        Self {
            workdir: "/github/workspace".into(),
            files_container: "/github/file_commands".into(),
            workflow_container: "/github/workflow".into(),
            mounts: vec![
                (temp.clone(), "/github/runner_temp".into()),
                (home.clone(), "/github/home".into()),
                (workflow.clone(), "/github/workflow".into()),
                (files_host.clone(), "/github/file_commands".into()),
                (workspace.to_path_buf(), "/github/workspace".into()),
            ],
            files_host,
            workflow_host: workflow,
            home_host: Some(home),
            temp_host: Some(temp),
            files,
        }
    }

    fn act(dir: &Path, workspace: &Path) -> Self {
        // act copies these into the container; a bind mount lets the harness read what the step wrote.
        let act_dir = dir.join("act/workflow");
        let files = [
            ("output", "outputcmd.txt".to_owned()),
            ("env", "envs.txt".to_owned()),
            ("state", "statecmd.txt".to_owned()),
            ("path", "pathcmd.txt".to_owned()),
            ("summary", "SUMMARY.md".to_owned()),
        ]
        .into_iter()
        .collect();
        let ws = workspace.display().to_string();
        Self {
            workdir: ws.clone(),
            files_container: "/var/run/act/workflow".into(),
            workflow_container: "/var/run/act/workflow".into(),
            mounts: vec![
                (workspace.to_path_buf(), ws),
                (act_dir.clone(), "/var/run/act/workflow".into()),
            ],
            files_host: act_dir.clone(),
            workflow_host: act_dir,
            home_host: None,
            temp_host: None,
            files,
        }
    }

    /// actions/runner `TranslateToContainerPath`: a value equal to, or under, a mounted host directory
    /// is rewritten to the container path; the most recently added mapping is searched first.
    fn translate(&self, value: &str) -> String {
        for (host, container) in self.mounts.iter().rev() {
            let h = host.display().to_string();
            if value == h {
                return container.clone();
            }
            if let Some(rest) = value.strip_prefix(&format!("{h}/")) {
                return format!("{container}/{rest}");
            }
        }
        value.to_owned()
    }
}

/// A minimal but real-shaped `push` payload for `refs/heads/main`.
fn default_push_event() -> serde_json::Value {
    serde_json::json!({
        "ref": "refs/heads/main",
        "before": "1111111111111111111111111111111111111111",
        "after": "0123456789abcdef0123456789abcdef01234567",
        "repository": {
            "id": 1_296_269,
            "name": "octo-repo",
            "full_name": "octo-org/octo-repo",
            "owner": { "login": "octo-org", "id": 9919 },
            "default_branch": "main"
        },
        "pusher": { "name": "octocat" },
        "sender": { "login": "octocat", "id": 583_231 },
        "head_commit": {
            "id": "0123456789abcdef0123456789abcdef01234567",
            "message": "feat: a change"
        }
    })
}

/// act's env-file parser (`pkg/container/parse_env_file.go`) rejects a top-level line that is neither
/// `NAME=value` nor `NAME<<DELIM` — in particular a blank line — where the runner would skip it.
pub fn check_act_env_file(text: &str) {
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if let Some((_, delim)) = line.split_once("<<").filter(|(k, _)| !k.contains('=')) {
            assert!(
                lines.any(|l| l == delim),
                "act: heredoc delimiter {delim:?} not found in {text:?}"
            );
        } else {
            assert!(
                line.contains('='),
                "act would fail on env-file line {line:?} (\"invalid format\") in {text:?}"
            );
        }
    }
}
