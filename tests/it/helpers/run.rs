//! Runs stevedore in-process the way the runner would: an `Env` built from a map, temp files for
//! `GITHUB_OUTPUT`/`GITHUB_STEP_SUMMARY`/`GITHUB_ENV`, stdout captured.

use std::path::PathBuf;

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
        self.outputs
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
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
        for (k, v) in [
            ("GITHUB_WORKSPACE", workspace.display().to_string()),
            (
                "GITHUB_OUTPUT",
                files.join("set_output").display().to_string(),
            ),
            ("GITHUB_ENV", files.join("set_env").display().to_string()),
            (
                "GITHUB_STEP_SUMMARY",
                files.join("step_summary").display().to_string(),
            ),
            ("GITHUB_ACTOR", "octocat".to_owned()),
        ] {
            env.set(k, v);
        }
        for (k, v) in PUSH_TO_MAIN {
            env.set(k, v);
        }
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

    pub async fn run_with_cancel(self, cancel: Cancel) -> StepResult {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let (cmds, buf) = Commands::buffer(Masker::default(), true);
        let code = stevedore::run(self.env.clone(), cmds, cancel).await;
        let read = |n: &str| {
            std::fs::read_to_string(self.dir.path().join("file_commands").join(n))
                .unwrap_or_default()
        };
        StepResult {
            code,
            stdout: String::from_utf8(buf.lock().unwrap().clone()).unwrap(),
            outputs: parse_env_file(&read("set_output")),
            summary: read("step_summary"),
            env_file: parse_env_file(&read("set_env")),
        }
    }
}

/// The run every step here belongs to: a push to `main` of `octo-org/octo-repo`.
const PUSH_TO_MAIN: [(&str, &str); 10] = [
    ("GITHUB_ACTIONS", "true"),
    ("CI", "true"),
    ("GITHUB_REPOSITORY", "octo-org/octo-repo"),
    ("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567"),
    ("GITHUB_REF", "refs/heads/main"),
    ("GITHUB_REF_NAME", "main"),
    ("GITHUB_REF_TYPE", "branch"),
    ("GITHUB_EVENT_NAME", "push"),
    ("GITHUB_RUN_ID", "4242"),
    ("GITHUB_RUN_ATTEMPT", "1"),
];

/// The environment the runner gives a Docker action's process, with its file commands (`output`,
/// `summary`, `env`) and `workspace` made under `dir`: for tests that run a binary as a process.
pub fn runner_env(dir: &std::path::Path) -> Vec<(String, String)> {
    let workspace = dir.join("workspace");
    std::fs::create_dir_all(&workspace).unwrap();
    for f in ["output", "summary", "env"] {
        std::fs::write(dir.join(f), "").unwrap();
    }
    let p = |f: &str| dir.join(f).display().to_string();
    PUSH_TO_MAIN
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .chain([
            (
                "GITHUB_WORKSPACE".to_owned(),
                workspace.display().to_string(),
            ),
            ("GITHUB_OUTPUT".to_owned(), p("output")),
            ("GITHUB_STEP_SUMMARY".to_owned(), p("summary")),
            ("GITHUB_ENV".to_owned(), p("env")),
            (
                "GITHUB_SERVER_URL".to_owned(),
                "https://github.com".to_owned(),
            ),
        ])
        .collect()
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
