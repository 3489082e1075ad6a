//! Runs stevedore in-process the way the runner would: an `Env` built from a map, temp files for
//! `GITHUB_OUTPUT`/`GITHUB_STEP_SUMMARY`/`GITHUB_ENV`, stdout captured.

use std::path::{Path, PathBuf};

use stevedore::Env;
use stevedore::cancel::Cancel;
use stevedore::report::{Commands, Masker};

/// One simulated step.
pub struct Step {
    pub env: Env,
    pub dir: tempfile::TempDir,
    pub workspace: PathBuf,
}

/// What the step left behind.
#[derive(Debug)]
pub struct StepResult {
    pub code: u8,
    pub stdout: String,
    pub outputs: Vec<(String, String)>,
    pub summary: String,
    pub env_file: Vec<(String, String)>,
}

impl StepResult {
    pub fn output(&self, name: &str) -> Option<&str> {
        last_output(&self.outputs, name)
    }
}

/// The value the step set last for output `name` (a later `name=` wins, as on the runner).
pub fn last_output<'a>(outputs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    outputs
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

impl Step {
    /// A step in Actions (`GITHUB_ACTIONS=true`) with an empty workspace.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let workspace = dir.path().join("workspace");
        std::fs::create_dir_all(&workspace).unwrap();
        let files = dir.path().join("file_commands");
        std::fs::create_dir_all(&files).unwrap();
        let mut env = Env::default();
        let [output, summary, env_file] =
            ["set_output", "step_summary", "set_env"].map(|f| files.join(f));
        for (k, v) in runner_env(&workspace, &output, &summary, &env_file) {
            env.set(k, v);
        }
        env.set("GITHUB_ACTOR", "octocat");
        Self {
            env,
            dir,
            workspace,
        }
    }

    /// Sets an input the way the runner does (`INPUT_` + upper-cased name, hyphens kept).
    pub fn input(mut self, name: &str, value: &str) -> Self {
        self.env
            .set(format!("INPUT_{}", name.to_uppercase()), value);
        self
    }

    pub fn var(mut self, key: &str, value: &str) -> Self {
        self.env.set(key, value);
        self
    }

    /// Writes the event payload and points `GITHUB_EVENT_PATH` at it.
    pub fn event(mut self, name: &str, payload: serde_json::Value) -> Self {
        let p = self.dir.path().join("event.json");
        std::fs::write(&p, payload.to_string()).unwrap();
        self.env.set("GITHUB_EVENT_PATH", p.display().to_string());
        self.env.set("GITHUB_EVENT_NAME", name);
        self
    }

    /// Runs stevedore to completion.
    pub async fn run(self) -> StepResult {
        self.run_with_cancel(Cancel::never()).await
    }

    /// Runs stevedore to completion and checks that it exited with `code`, showing stdout and the job
    /// summary when it did not (what nearly every test checks first).
    pub async fn exits(self, code: u8) -> StepResult {
        let r = self.run().await;
        assert_eq!(r.code, code, "{}\n{}", r.stdout, r.summary);
        r
    }

    pub async fn run_with_cancel(self, cancel: Cancel) -> StepResult {
        stevedore::net::crypto::install();
        let (cmds, buf) = Commands::buffer(Masker::default(), true);
        let code = stevedore::app::run(self.env.clone(), cmds, cancel).await;
        self.result(code, &buf)
    }

    /// What the step left behind after stevedore exited with `code`, having printed into `stdout`.
    pub fn result(&self, code: u8, stdout: &std::sync::Mutex<Vec<u8>>) -> StepResult {
        let read = |n: &str| {
            std::fs::read_to_string(self.dir.path().join("file_commands").join(n))
                .unwrap_or_default()
        };
        StepResult {
            code,
            stdout: String::from_utf8(stdout.lock().unwrap().clone()).unwrap(),
            outputs: parse_env_file(&read("set_output")),
            summary: read("step_summary"),
            env_file: parse_env_file(&read("set_env")),
        }
    }
}

/// What the runner sets for every step of run 4242 (attempt 1) of a push to `main` of
/// `octo-org/octo-repo`, with the workspace at `workspace` and the file commands at `output`, `summary`
/// and `env`.
pub fn runner_env(
    workspace: &Path,
    output: &Path,
    summary: &Path,
    env: &Path,
) -> Vec<(&'static str, String)> {
    let path = |p: &Path| p.display().to_string();
    vec![
        ("GITHUB_ACTIONS", "true".to_owned()),
        ("CI", "true".to_owned()),
        ("GITHUB_WORKSPACE", path(workspace)),
        ("GITHUB_OUTPUT", path(output)),
        ("GITHUB_STEP_SUMMARY", path(summary)),
        ("GITHUB_ENV", path(env)),
        ("GITHUB_REPOSITORY", "octo-org/octo-repo".to_owned()),
        (
            "GITHUB_SHA",
            "0123456789abcdef0123456789abcdef01234567".to_owned(),
        ),
        ("GITHUB_REF", "refs/heads/main".to_owned()),
        ("GITHUB_REF_NAME", "main".to_owned()),
        ("GITHUB_REF_TYPE", "branch".to_owned()),
        ("GITHUB_EVENT_NAME", "push".to_owned()),
        ("GITHUB_RUN_ID", "4242".to_owned()),
        ("GITHUB_RUN_ATTEMPT", "1".to_owned()),
    ]
}

/// Parses an env file exactly as actions/runner `FileCommandManager` does (heredoc and `k=v` forms);
/// panics on anything the runner would reject.
pub fn parse_env_file(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut lines = text.split('\n').peekable();
    while let Some(line) = lines.next() {
        if line.is_empty() {
            continue;
        }
        let eq = line.find('=');
        let heredoc = line.find("<<");
        match (eq, heredoc) {
            (Some(e), h) if h.is_none_or(|h| e < h) => {
                out.push((line[..e].to_owned(), line[e + 1..].to_owned()))
            }
            (_, Some(h)) => {
                let (name, delim) = (&line[..h], &line[h + 2..]);
                assert!(
                    !name.is_empty() && !delim.is_empty(),
                    "invalid heredoc header {line:?}"
                );
                let mut value = Vec::new();
                loop {
                    let l = lines
                        .next()
                        .unwrap_or_else(|| panic!("Matching delimiter not found {delim:?}"));
                    if l == delim {
                        break;
                    }
                    value.push(l);
                }
                out.push((name.to_owned(), value.join("\n")));
            }
            _ => panic!("invalid env-file line {line:?}"),
        }
    }
    out
}
