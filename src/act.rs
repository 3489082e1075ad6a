//! nektos/act's self-hosted layout, translated.
//!
//! With `-P ubuntu-latest=-self-hosted` act runs the job's steps on the host and starts a Docker action
//! with the host's view of the paths (act `pkg/runner/run_context.go`, `startHostEnvironment` and
//! `GetBindsAndMounts`; `pkg/runner/step.go`; `pkg/runner/action.go`, `newStepContainer`):
//!
//! - the file commands and the event payload live on the host in `~/.cache/act/<16 hex>/act/workflow/`
//!   (`GITHUB_OUTPUT` = `.../act/workflow/outputcmd.txt`, `GITHUB_ENV` = `.../envs.txt`,
//!   `GITHUB_STEP_SUMMARY` = `.../SUMMARY.md`, `GITHUB_EVENT_PATH` = `.../event.json`), and act binds
//!   that `act` folder at `/var/run/act` in the action's container;
//! - `GITHUB_WORKSPACE` is the host folder `~/.cache/act/<16 hex>/hostexecutor`, which act binds at the
//!   repository's host path, the container's working directory;
//! - every host variable reaches the container, `DOCKER_HOST` included, while the engine socket act
//!   mounts (`--container-daemon-socket`, default the host's `/var/run/docker.sock`) is always at
//!   `/var/run/docker.sock` inside.
//!
//! Under `ACT=true` only, [`relocate`] rewrites such a variable when its path does not exist here and the
//! place act mounted it does; each rewrite is returned so the caller can log it. Nothing changes outside
//! act, or when the path given exists (act's job-container mode already passes container paths).

use std::path::{Component, Path, PathBuf};

use crate::env::{Env, vars};

/// Where act mounts its `act` folder in a Docker action's container (`LinuxContainerEnvironmentExtensions
/// .GetActPath`).
pub const ACT_MOUNT: &str = "/var/run/act";
/// Where act mounts the engine socket in every container it starts.
pub const DOCKER_SOCKET: &str = "/var/run/docker.sock";
/// `DOCKER_HOST`, the engine address the build mode reads.
pub const DOCKER_HOST: &str = "DOCKER_HOST";

/// Where act's mounts are in this container (tests point these into a temporary directory).
#[derive(Clone, Debug)]
pub struct Layout {
    /// act's `act` folder (`/var/run/act`).
    pub act_mount: PathBuf,
    /// The engine socket act mounts (`/var/run/docker.sock`).
    pub docker_socket: PathBuf,
    /// The container's working directory, where act binds the host workspace.
    pub working_dir: Option<PathBuf>,
}

impl Layout {
    /// The layout inside the action's container.
    #[must_use]
    pub fn container(env: &Env) -> Self {
        Self {
            act_mount: PathBuf::from(ACT_MOUNT),
            docker_socket: PathBuf::from(DOCKER_SOCKET),
            working_dir: env.current_dir(),
        }
    }
}

/// One rewritten variable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Translation {
    pub variable: &'static str,
    pub from: String,
    pub to: String,
    /// Which of act's mounts explains the new value.
    pub because: &'static str,
}

impl std::fmt::Display for Translation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "act: {} `{}` does not exist in this container; using `{}` ({})",
            self.variable, self.from, self.to, self.because
        )
    }
}

/// The variables holding a path inside act's `act` folder.
const ACT_FOLDER_VARS: [&str; 4] = [
    vars::GITHUB_EVENT_PATH,
    vars::GITHUB_OUTPUT,
    vars::GITHUB_ENV,
    vars::GITHUB_STEP_SUMMARY,
];

/// Rewrites act's host paths to where act mounted them (only under `ACT=true`); returns what it changed.
pub fn relocate(env: &mut Env, layout: &Layout) -> Vec<Translation> {
    if !env.under_act() {
        return Vec::new();
    }
    let mut done = Vec::new();
    for var in ACT_FOLDER_VARS {
        let Some(given) = env.path(var) else { continue };
        if given.exists() {
            continue;
        }
        let Some(rest) = after_act_folder(&given, "act") else {
            continue;
        };
        let candidate = layout.act_mount.join(rest);
        // The output files are created by act before the step; the folder is enough for a file that is not.
        if candidate.exists() || candidate.parent().is_some_and(Path::is_dir) {
            done.push(Translation {
                variable: var,
                from: given.display().to_string(),
                to: candidate.display().to_string(),
                because: "act binds its `act` folder at /var/run/act",
            });
        }
    }
    if let (Some(given), Some(wd)) = (env.path(vars::GITHUB_WORKSPACE), &layout.working_dir)
        && !given.exists()
        && let Some(rest) = after_act_folder(&given, "hostexecutor")
    {
        let candidate = wd.join(rest);
        if candidate.is_dir() {
            done.push(Translation {
                variable: vars::GITHUB_WORKSPACE,
                from: given.display().to_string(),
                to: candidate.display().to_string(),
                because: "act binds the workspace at the repository's host path, the working directory",
            });
        }
    }
    if let Some(host) = env.get(DOCKER_HOST) {
        let socket = host.strip_prefix("unix://").unwrap_or(host);
        if socket.starts_with('/') && !Path::new(socket).exists() && layout.docker_socket.exists() {
            done.push(Translation {
                variable: DOCKER_HOST,
                from: host.to_owned(),
                to: format!("unix://{}", layout.docker_socket.display()),
                because: "act copies the host's DOCKER_HOST but mounts the engine socket at /var/run/docker.sock",
            });
        }
    }
    for t in &done {
        env.set(t.variable, t.to.clone());
    }
    done
}

/// For `.../<16 hex>/<folder>/rest`, the `rest` (empty for the folder itself); `None` for other paths.
fn after_act_folder<'a>(path: &'a Path, folder: &str) -> Option<&'a Path> {
    let parts: Vec<Component<'a>> = path.components().collect();
    let at = parts
        .iter()
        .rposition(|c| matches!(c, Component::Normal(n) if n.to_str() == Some(folder)))?;
    let run_dir = parts.get(at.checked_sub(1)?)?;
    let Component::Normal(run_dir) = run_dir else {
        return None;
    };
    let run_dir = run_dir.to_str()?;
    if run_dir.len() != 16 || !run_dir.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let prefix: PathBuf = parts.iter().take(at + 1).collect();
    path.strip_prefix(prefix).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A temporary directory laid out like act's self-hosted mode seen from inside the action container:
    /// the host cache path does not exist, `/var/run/act` and the repository's host path do.
    struct Fixture {
        _dir: tempfile::TempDir,
        host_run: PathBuf,
        layout: Layout,
        env: Env,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let host_run = dir.path().join("home/u/.cache/act/0a1b2c3d4e5f6789");
        let act_mount = dir.path().join("var/run/act");
        std::fs::create_dir_all(act_mount.join("workflow")).unwrap();
        for f in ["event.json", "outputcmd.txt", "envs.txt", "SUMMARY.md"] {
            std::fs::write(act_mount.join("workflow").join(f), "").unwrap();
        }
        let repo = dir.path().join("home/u/src/repo");
        std::fs::create_dir_all(repo.join("sub")).unwrap();
        let socket = dir.path().join("var/run/docker.sock");
        std::fs::write(&socket, "").unwrap();
        let wf = host_run.join("act/workflow");
        let env = Env::from_pairs([
            ("ACT", "true".to_owned()),
            (
                "GITHUB_EVENT_PATH",
                wf.join("event.json").display().to_string(),
            ),
            (
                "GITHUB_OUTPUT",
                wf.join("outputcmd.txt").display().to_string(),
            ),
            ("GITHUB_ENV", wf.join("envs.txt").display().to_string()),
            (
                "GITHUB_STEP_SUMMARY",
                wf.join("SUMMARY.md").display().to_string(),
            ),
            (
                "GITHUB_WORKSPACE",
                host_run.join("hostexecutor").display().to_string(),
            ),
            (
                "DOCKER_HOST",
                "unix:///run/user/1000/podman/podman.sock".to_owned(),
            ),
        ]);
        Fixture {
            layout: Layout {
                act_mount,
                docker_socket: socket,
                working_dir: Some(repo),
            },
            _dir: dir,
            host_run,
            env,
        }
    }

    #[test]
    fn self_hosted_host_paths_are_found_where_act_mounted_them() {
        let mut f = fixture();
        let done = relocate(&mut f.env, &f.layout);
        let vars: Vec<_> = done.iter().map(|t| t.variable).collect();
        assert_eq!(
            vars,
            [
                "GITHUB_EVENT_PATH",
                "GITHUB_OUTPUT",
                "GITHUB_ENV",
                "GITHUB_STEP_SUMMARY",
                "GITHUB_WORKSPACE",
                "DOCKER_HOST"
            ]
        );
        let wf = f.layout.act_mount.join("workflow");
        assert_eq!(f.env.path("GITHUB_EVENT_PATH"), Some(wf.join("event.json")));
        assert_eq!(f.env.path("GITHUB_OUTPUT"), Some(wf.join("outputcmd.txt")));
        assert_eq!(f.env.path("GITHUB_ENV"), Some(wf.join("envs.txt")));
        assert_eq!(
            f.env.path("GITHUB_STEP_SUMMARY"),
            Some(wf.join("SUMMARY.md"))
        );
        assert_eq!(f.env.path("GITHUB_WORKSPACE"), f.layout.working_dir);
        assert_eq!(
            f.env.get("DOCKER_HOST").map(str::to_owned),
            Some(format!("unix://{}", f.layout.docker_socket.display()))
        );
        let line = done[0].to_string();
        assert!(line.contains("GITHUB_EVENT_PATH"), "{line}");
        assert!(line.contains(&f.host_run.display().to_string()), "{line}");
        assert!(line.contains("/var/run/act"), "{line}");
    }

    #[test]
    fn nothing_changes_outside_act() {
        let mut f = fixture();
        f.env.remove("ACT");
        let before = format!("{:?}", f.env);
        assert!(relocate(&mut f.env, &f.layout).is_empty());
        assert_eq!(format!("{:?}", f.env), before);
    }

    #[test]
    fn paths_that_exist_are_kept() {
        // act's job-container mode passes container paths: they exist and stay as they are.
        let mut f = fixture();
        let wf = f.layout.act_mount.join("workflow");
        f.env.set(
            "GITHUB_OUTPUT",
            wf.join("outputcmd.txt").display().to_string(),
        );
        let ws = f.layout.working_dir.clone().unwrap();
        f.env.set("GITHUB_WORKSPACE", ws.display().to_string());
        f.env.set(
            "DOCKER_HOST",
            format!("unix://{}", f.layout.docker_socket.display()),
        );
        let done = relocate(&mut f.env, &f.layout);
        let vars: Vec<_> = done.iter().map(|t| t.variable).collect();
        assert_eq!(
            vars,
            ["GITHUB_EVENT_PATH", "GITHUB_ENV", "GITHUB_STEP_SUMMARY"]
        );
        assert_eq!(f.env.path("GITHUB_WORKSPACE"), Some(ws));
    }

    #[test]
    fn paths_not_shaped_like_acts_are_left_for_the_usual_error() {
        let mut f = fixture();
        f.env
            .set("GITHUB_EVENT_PATH", "/nowhere/act/workflow/event.json");
        f.env.set("GITHUB_WORKSPACE", "/nowhere/hostexecutor");
        let done = relocate(&mut f.env, &f.layout);
        assert!(
            done.iter()
                .all(|t| t.variable != "GITHUB_EVENT_PATH" && t.variable != "GITHUB_WORKSPACE"),
            "{done:?}"
        );
        assert_eq!(
            f.env.get("GITHUB_EVENT_PATH"),
            Some("/nowhere/act/workflow/event.json")
        );
    }

    #[test]
    fn docker_host_stays_when_no_socket_is_mounted() {
        // `--container-daemon-socket -`: nothing at /var/run/docker.sock, so the build's own error says why.
        let mut f = fixture();
        f.layout.docker_socket = f.layout.act_mount.join("no.sock");
        let done = relocate(&mut f.env, &f.layout);
        assert!(done.iter().all(|t| t.variable != "DOCKER_HOST"));
        assert_eq!(
            f.env.get("DOCKER_HOST"),
            Some("unix:///run/user/1000/podman/podman.sock")
        );
    }

    #[test]
    fn the_folder_is_recognised_by_acts_random_run_directory() {
        let p = Path::new("/h/.cache/act/0123456789abcdef/act/workflow/event.json");
        assert_eq!(
            after_act_folder(p, "act"),
            Some(Path::new("workflow/event.json"))
        );
        let p = Path::new("/h/.cache/act/0123456789abcdef/hostexecutor");
        assert_eq!(after_act_folder(p, "hostexecutor"), Some(Path::new("")));
        let p = Path::new("/h/.cache/act/not-hex-at-all!/act/workflow/event.json");
        assert_eq!(after_act_folder(p, "act"), None);
    }
}
