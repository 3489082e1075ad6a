//! Servers tied to the life of the test process: they stop when it exits, however it exits.
//!
//! A server held in a `static` (the shared moto, act's podman service) is never dropped, and no `Drop`
//! runs when the test binary is killed (SIGKILL, a harness timeout) or aborts; `prctl(PR_SET_PDEATHSIG)`
//! would need `unsafe`, which the crate forbids. So the server is started under a small `sh` watcher
//! whose standard input is a pipe from this process: the kernel closes that pipe when the process ends,
//! for any reason, and the watcher then stops the server (SIGTERM, SIGKILL after 5 s). Rust opens the
//! pipe close-on-exec, so no other child (a stevedore run, podman) holds it open.

use std::process::{Child, Command, ExitStatus, Stdio};

/// `$0 "$@"` is the server. Exit 127 at once when it is not installed (the caller skips). The server gets
/// neither the pipe (fd 3 closed) nor a terminal on stdin; the watcher (a subshell) reads the pipe to its
/// end, then stops the server. When the server ends first, the watcher is stopped too (no stale pid is
/// signalled later) and the shell exits with the server's status.
const WATCHER: &str = r#"command -v "$0" >/dev/null 2>&1 || exit 127
exec 3<&0 0</dev/null
"$0" "$@" 3<&- &
pid=$!
{ cat <&3 >/dev/null; kill -TERM "$pid"; i=0; while kill -0 "$pid" && [ "$i" -lt 50 ]; do sleep 0.1; i=$((i+1)); done; kill -KILL "$pid"; } 2>/dev/null &
watcher=$!
exec 3<&-
wait "$pid"
status=$?
kill "$watcher" 2>/dev/null
exit "$status""#;

/// A server started by [`spawn`]: dropping it (or the end of this process) stops the server.
pub struct Tied(Child);

/// Starts `cmd` (program, arguments, environment and directory; not its stdio) tied to this process,
/// with `stdout` and `stderr` as given.
pub fn spawn(cmd: &Command, stdout: Stdio, stderr: Stdio) -> std::io::Result<Tied> {
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(WATCHER)
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    if let Some(d) = cmd.get_current_dir() {
        c.current_dir(d);
    }
    let child = c
        .stdin(Stdio::piped())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()?;
    Ok(Tied(child))
}

impl Tied {
    /// The exit status once the server (and so its watcher) ended; 127: the program is not installed.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.0.try_wait().ok().flatten()
    }
}

impl Drop for Tied {
    fn drop(&mut self) {
        // Closing the pipe is what stops the server; then the shell ends with it.
        drop(self.0.stdin.take());
        let _ = self.0.wait();
    }
}
