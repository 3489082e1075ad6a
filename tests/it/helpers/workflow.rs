//! Walks an example workflow (`examples/*.yml`) the way GitHub Actions runs it: jobs in file order, each
//! job's `needs` and `if:` decided from the earlier jobs, steps in order, every `uses: ORG/stevedore@v1`
//! step run with the `with:` inputs written in the example (expressions substituted from the run's
//! contexts: `github.*`, `vars.*`, `secrets.*`, `env.*`, `steps.<id>.outputs.<name>`/`.outcome`,
//! `needs.<job>.outputs.<name>`/`.result`), the action.yml defaults for the rest (as the runner sets
//! them), the previous steps' `GITHUB_ENV` and the job's `environment:` as the OIDC `environment` claim.
//!
//! Two backends run a stevedore step: [`Backend::Container`] (the real image through the runner harness,
//! `--network host`) and [`Backend::InProcess`] (`helpers::run::Step`). [`Backend::select`] picks the
//! container under `CI=true` and in-process otherwise; `STEVEDORE_PIPELINES_BACKEND=container|in-process`
//! overrides. The container backend needs `dist/amd64/stevedore` built from the current sources: when it is
//! missing or stale the test is skipped with the reason (a failure under `CI=true`).
//!
//! `run:` steps are the user's own tools (eslint, pytest, pip ...), not stevedore: a test plays their
//! result with [`Walk::play`] (outcome + files they would have written) and [`Walk::play_outputs`] (what
//! they would have written to `GITHUB_OUTPUT`); unplayed `run:` steps succeed and write nothing. `uses: actions/checkout@...` calls the walk's checkout function on the job's workspace.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_yaml_ng::{Mapping, Value};

use super::fake_oidc::FakeOidc;
use super::run::Step;
use super::runner::{ContainerStep, Profile, repo_root};

/// How stevedore steps are run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    InProcess,
    Container(Profile),
}

impl Backend {
    /// Container under `CI=true`, in-process otherwise; `STEVEDORE_PIPELINES_BACKEND` overrides. `None`
    /// (skip, with the reason printed) when the container backend is chosen but cannot run here.
    pub fn select() -> Option<Backend> {
        let wanted = std::env::var("STEVEDORE_PIPELINES_BACKEND").unwrap_or_default();
        let container = match wanted.as_str() {
            "container" => true,
            "in-process" => false,
            "" => super::strict(),
            other => panic!("STEVEDORE_PIPELINES_BACKEND={other}: use `container` or `in-process`"),
        };
        if !container {
            return Some(Backend::InProcess);
        }
        match image_is_current() {
            Ok(()) => Some(Backend::Container(Profile::Runner)),
            Err(why) if super::strict() => panic!("container backend required (CI=true): {why}"),
            Err(why) => {
                eprintln!("SKIPPED (container backend): {why}");
                None
            }
        }
    }
}

/// The test image can carry a binary of the sources under test (see `runner::action_binary`).
pub fn image_is_current() -> Result<(), String> {
    super::runner::action_binary().map(|_| ())
}

/// An example workflow file, parsed.
pub struct Workflow {
    pub name: String,
    pub doc: Value,
}

impl Workflow {
    pub fn load(file: &str) -> Self {
        let path = repo_root().join("examples").join(file);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let doc: Value =
            serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Self {
            name: file.to_owned(),
            doc,
        }
    }

    pub fn jobs(&self) -> &Mapping {
        self.doc["jobs"].as_mapping().expect("jobs: mapping")
    }

    pub fn job(&self, id: &str) -> &Mapping {
        self.jobs()
            .get(id)
            .and_then(Value::as_mapping)
            .unwrap_or_else(|| panic!("{}: no job `{id}`", self.name))
    }

    pub fn job_mut(&mut self, id: &str) -> &mut Mapping {
        self.doc["jobs"][id]
            .as_mapping_mut()
            .unwrap_or_else(|| panic!("no job `{id}`"))
    }
}

/// What one step did.
#[derive(Debug, Clone)]
pub struct StepRecord {
    pub id: Option<String>,
    /// `stevedore`, `run`, or the `uses:` of another action.
    pub kind: String,
    /// `success`, `failure` or `skipped`.
    pub outcome: String,
    pub code: i32,
    pub inputs: BTreeMap<String, String>,
    pub outputs: BTreeMap<String, String>,
    pub stdout: String,
    pub summary: String,
    /// `GITHUB_ENV`: travels to the job's later steps.
    pub env_file: Vec<(String, String)>,
}

/// What one job did.
#[derive(Debug, Clone)]
pub struct JobRecord {
    /// `success`, `failure` or `skipped`.
    pub result: String,
    pub outputs: BTreeMap<String, String>,
    pub steps: Vec<StepRecord>,
}

impl JobRecord {
    /// The stevedore steps, in order.
    pub fn stevedore(&self) -> Vec<&StepRecord> {
        self.steps
            .iter()
            .filter(|s| s.kind == "stevedore")
            .collect()
    }

    pub fn step(&self, id: &str) -> &StepRecord {
        self.steps
            .iter()
            .find(|s| s.id.as_deref() == Some(id))
            .unwrap_or_else(|| panic!("no step `{id}` in {self:#?}"))
    }
}

type Checkout<'a> = Box<dyn Fn(&Path) + 'a>;

/// A played `run:` step: its outcome and the files (path, bytes) it writes.
type Played = (String, Vec<(String, Vec<u8>)>);

/// One run of a workflow: the event, the contexts, the world the steps reach.
pub struct Walk<'a> {
    pub wf: &'a Workflow,
    pub backend: Backend,
    event_name: String,
    payload: serde_json::Value,
    github: BTreeMap<String, String>,
    pub vars: BTreeMap<String, String>,
    pub secrets: BTreeMap<String, String>,
    /// Variables every step's process gets (`AWS_ENDPOINT_URL`, ...), as a runner's environment would.
    step_env: Vec<(String, String)>,
    oidc: Option<&'a FakeOidc>,
    mounts: Vec<(PathBuf, String)>,
    played: BTreeMap<(String, String), Played>,
    /// Outputs of played `run:` steps (`GITHUB_OUTPUT`), by (job, step).
    played_outputs: BTreeMap<(String, String), BTreeMap<String, String>>,
    checkout: Option<Checkout<'a>>,
    /// Jobs whose environment's reviewers have not approved yet: they wait (result `waiting`).
    awaiting_approval: Vec<String>,
    pub jobs: BTreeMap<String, JobRecord>,
    /// Job ids in the order they were decided.
    pub order: Vec<String>,
}

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

impl<'a> Walk<'a> {
    /// A run for `event_name` on `git_ref` (e.g. `refs/heads/main`, `refs/tags/v1.0.0-stable`).
    pub fn new(
        wf: &'a Workflow,
        backend: Backend,
        event_name: &str,
        git_ref: &str,
        payload: serde_json::Value,
    ) -> Self {
        let (ref_type, ref_name) = if let Some(t) = git_ref.strip_prefix("refs/tags/") {
            ("tag", t.to_owned())
        } else if let Some(b) = git_ref.strip_prefix("refs/heads/") {
            ("branch", b.to_owned())
        } else {
            ("branch", git_ref.to_owned())
        };
        let github: BTreeMap<String, String> = [
            ("event_name", event_name.to_owned()),
            ("ref", git_ref.to_owned()),
            ("ref_name", ref_name),
            ("ref_type", ref_type.to_owned()),
            ("sha", SHA.to_owned()),
            ("repository", "octo-org/octo-repo".to_owned()),
            ("repository_owner", "octo-org".to_owned()),
            ("token", "ghs_pipelines0123456789abcdefghij".to_owned()),
            ("run_id", "4242".to_owned()),
            ("actor", "octocat".to_owned()),
            ("api_url", super::runner::CLOSED_URL.to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        Self {
            wf,
            backend,
            event_name: event_name.to_owned(),
            payload,
            github,
            vars: BTreeMap::new(),
            secrets: BTreeMap::new(),
            step_env: Vec::new(),
            oidc: None,
            mounts: Vec::new(),
            played: BTreeMap::new(),
            played_outputs: BTreeMap::new(),
            checkout: None,
            awaiting_approval: Vec::new(),
            jobs: BTreeMap::new(),
            order: Vec::new(),
        }
    }

    pub fn var(mut self, k: &str, v: &str) -> Self {
        self.vars.insert(k.to_owned(), v.to_owned());
        self
    }

    /// A `github.*` value (`api_url` is also exported as `GITHUB_API_URL`).
    pub fn github(mut self, k: &str, v: &str) -> Self {
        self.github.insert(k.to_owned(), v.to_owned());
        self
    }

    /// A variable in every step's process environment.
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.step_env.push((k.to_owned(), v.to_owned()));
        self
    }

    /// `permissions: id-token: write` jobs get their tokens here.
    pub fn oidc(mut self, oidc: &'a FakeOidc) -> Self {
        self.oidc = Some(oidc);
        self
    }

    /// A bind mount for container steps (e.g. the engine socket at `/var/run/docker.sock`).
    pub fn mount(mut self, host: &Path, container: &str) -> Self {
        self.mounts.push((host.to_path_buf(), container.to_owned()));
        self
    }

    /// The container engine (`unix:///path.sock`): `DOCKER_HOST` in-process; mounted at
    /// `/var/run/docker.sock` in the container, as the runner mounts the Docker socket.
    pub fn engine(mut self, docker_host: &str) -> Self {
        let path = docker_host
            .strip_prefix("unix://")
            .expect("a unix:// engine socket");
        match self.backend {
            Backend::InProcess => self
                .step_env
                .push(("DOCKER_HOST".into(), docker_host.into())),
            Backend::Container(_) => self
                .mounts
                .push((PathBuf::from(path), "/var/run/docker.sock".into())),
        }
        self
    }

    /// What `actions/checkout` puts in a job's workspace.
    pub fn checkout(mut self, f: impl Fn(&Path) + 'a) -> Self {
        self.checkout = Some(Box::new(f));
        self
    }

    /// Plays the `run:` step `step` of `job`: its outcome and the files it writes in the workspace.
    pub fn play(mut self, job: &str, step: &str, outcome: &str, files: &[(&str, &str)]) -> Self {
        self.played.insert(
            (job.to_owned(), step.to_owned()),
            (
                outcome.to_owned(),
                files
                    .iter()
                    .map(|(p, c)| ((*p).to_owned(), c.as_bytes().to_vec()))
                    .collect(),
            ),
        );
        self
    }

    /// Plays what the `run:` step `step` of `job` writes to `GITHUB_OUTPUT` (`steps.<step>.outputs.*`).
    pub fn play_outputs(mut self, job: &str, step: &str, outputs: &[(&str, &str)]) -> Self {
        self.played_outputs.insert(
            (job.to_owned(), step.to_owned()),
            outputs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        );
        self
    }

    /// The job's environment has required reviewers who have not approved: GitHub holds it.
    pub fn awaiting_approval(mut self, job: &str) -> Self {
        self.awaiting_approval.push(job.to_owned());
        self
    }

    pub fn job(&self, id: &str) -> &JobRecord {
        self.jobs
            .get(id)
            .unwrap_or_else(|| panic!("job `{id}` was not reached: {:?}", self.order))
    }

    /// Whether the workflow run failed (any job failed).
    pub fn failed(&self) -> bool {
        self.jobs.values().any(|j| j.result == "failure")
    }

    /// Jobs that ran (not skipped), in order.
    pub fn ran(&self) -> Vec<&str> {
        self.order
            .iter()
            .filter(|j| !matches!(self.jobs[*j].result.as_str(), "skipped" | "waiting"))
            .map(String::as_str)
            .collect()
    }

    /// Runs every job in file order.
    pub async fn run(mut self) -> Self {
        let ids: Vec<String> = self
            .wf
            .jobs()
            .keys()
            .map(|k| k.as_str().unwrap().to_owned())
            .collect();
        for id in ids {
            let rec = self.run_job(&id).await;
            self.jobs.insert(id.clone(), rec);
            self.order.push(id);
        }
        self
    }

    /// The contexts a job's expressions see: the jobs it needs (`needs_ok`: all succeeded) and its steps so far.
    fn scope<'s>(
        &'s self,
        needs: &'s [String],
        steps: &'s BTreeMap<String, StepRecord>,
        needs_ok: bool,
    ) -> Scope<'s, 'a> {
        Scope {
            walk: self,
            needs,
            steps,
            needs_ok,
        }
    }

    fn needs_of(job: &Mapping) -> Vec<String> {
        match job.get("needs") {
            None => Vec::new(),
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Sequence(v)) => v.iter().map(|n| n.as_str().unwrap().to_owned()).collect(),
            Some(other) => panic!("needs: {other:?}"),
        }
    }

    async fn run_job(&self, id: &str) -> JobRecord {
        let job = self.wf.job(id).clone();
        // What the walker does not model must not be silently ignored.
        for key in ["strategy", "env", "container", "services", "uses"] {
            assert!(
                !job.contains_key(key),
                "{}: job `{id}` uses `{key}:`, which the walker does not model; extend helpers/workflow.rs",
                self.wf.name
            );
        }
        let needs = Self::needs_of(&job);
        for n in &needs {
            assert!(
                self.jobs.contains_key(n),
                "{}: job `{id}` needs `{n}`, which is not before it in the file",
                self.wf.name
            );
        }
        let skipped = JobRecord {
            result: "skipped".into(),
            outputs: BTreeMap::new(),
            steps: Vec::new(),
        };
        let needs_ok = needs.iter().all(|n| self.jobs[n].result == "success");
        let cond = job
            .get("if")
            .map(yaml_scalar)
            .unwrap_or_else(|| "success()".into());
        let scope = Scope {
            walk: self,
            needs: &needs,
            steps: &BTreeMap::new(),
            needs_ok,
        };
        if !truthy(&scope.eval_condition(&cond)) {
            return skipped;
        }
        if self.awaiting_approval.iter().any(|j| j == id) {
            assert!(
                job.contains_key("environment"),
                "job `{id}` has no `environment:`, so nothing would hold it for approval"
            );
            return JobRecord {
                result: "waiting".into(),
                ..skipped
            };
        }
        // The job's `environment:` is what GitHub puts in the OIDC token (after its protection rules).
        let environment = job.get("environment").map(|e| match e {
            Value::Mapping(m) => yaml_scalar(&m["name"]),
            v => yaml_scalar(v),
        });
        let dir = tempfile::tempdir().unwrap();
        let workspace = dir.path().join("work/octo-repo/octo-repo");
        std::fs::create_dir_all(&workspace).unwrap();
        let runner_temp = dir.path().join("runner_temp");
        std::fs::create_dir_all(&runner_temp).unwrap();

        let mut steps_ctx: BTreeMap<String, StepRecord> = BTreeMap::new();
        let mut records = Vec::new();
        let mut job_env: Vec<(String, String)> = Vec::new();
        let mut failed = false;
        let steps = job["steps"].as_sequence().expect("steps").clone();
        for step in steps {
            let step = step.as_mapping().unwrap();
            let sid = step.get("id").map(yaml_scalar);
            for key in ["if", "env", "working-directory"] {
                assert!(
                    !step.contains_key(key),
                    "{}: a step of job `{id}` uses `{key}:`, which the walker does not model",
                    self.wf.name
                );
            }
            let continue_on_error = step
                .get("continue-on-error")
                .is_some_and(|v| v.as_bool() == Some(true));
            if failed {
                records.push(StepRecord::skipped(sid.clone()));
                continue;
            }
            let rec = if let Some(uses) = step.get("uses").map(yaml_scalar) {
                if uses == "ORG/stevedore@v1" {
                    let scope = self.scope(&needs, &steps_ctx, needs_ok);
                    let mut inputs =
                        scope.substitute_each(step.get("with").and_then(Value::as_mapping));
                    for (k, v) in action_defaults() {
                        inputs.entry(k).or_insert_with(|| scope.substitute(&v));
                    }
                    let env: Vec<(String, String)> = scope.workflow_env();
                    self.run_stevedore(
                        sid.clone(),
                        inputs,
                        env.into_iter().chain(job_env.iter().cloned()).collect(),
                        &workspace,
                        &runner_temp,
                        environment.as_deref(),
                    )
                    .await
                } else {
                    if uses.starts_with("actions/checkout@")
                        && let Some(f) = &self.checkout
                    {
                        f(&workspace);
                    }
                    StepRecord::other(sid.clone(), &uses, "success")
                }
            } else {
                assert!(step.contains_key("run"), "a step needs `uses` or `run`");
                let (outcome, files) = sid
                    .as_ref()
                    .and_then(|s| self.played.get(&(id.to_owned(), s.clone())))
                    .cloned()
                    .unwrap_or_else(|| ("success".into(), Vec::new()));
                for (p, c) in files {
                    let p = workspace.join(p);
                    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                    std::fs::write(p, c).unwrap();
                }
                let mut rec = StepRecord::other(sid.clone(), "run", &outcome);
                if let Some(outputs) = sid
                    .as_ref()
                    .and_then(|s| self.played_outputs.get(&(id.to_owned(), s.clone())))
                {
                    rec.outputs = outputs.clone();
                }
                rec
            };
            job_env.extend(rec.env_file.iter().cloned());
            if rec.outcome == "failure" && !continue_on_error {
                failed = true;
            }
            if let Some(s) = &sid {
                steps_ctx.insert(s.clone(), rec.clone());
            }
            records.push(rec);
        }
        let outputs = self
            .scope(&needs, &steps_ctx, needs_ok)
            .substitute_each(job.get("outputs").and_then(Value::as_mapping));
        // The workspace goes with the job, as on a fresh runner.
        drop(dir);
        JobRecord {
            result: if failed { "failure" } else { "success" }.into(),
            outputs,
            steps: records,
        }
    }

    async fn run_stevedore(
        &self,
        id: Option<String>,
        inputs: BTreeMap<String, String>,
        env: Vec<(String, String)>,
        workspace: &Path,
        runner_temp: &Path,
        environment: Option<&str>,
    ) -> StepRecord {
        if let Some(oidc) = self.oidc {
            let git_ref = self.github["ref"].clone();
            let environment = environment.map(str::to_owned);
            oidc.update(|s| {
                s.git_ref = git_ref;
                s.environment = environment;
            });
        }
        let g = &self.github;
        let ctx_vars = [
            ("GITHUB_REF", g["ref"].as_str()),
            ("GITHUB_REF_NAME", g["ref_name"].as_str()),
            ("GITHUB_REF_TYPE", g["ref_type"].as_str()),
            ("GITHUB_SHA", g["sha"].as_str()),
            ("GITHUB_API_URL", g["api_url"].as_str()),
            ("GITHUB_REPOSITORY", g["repository"].as_str()),
        ];
        let (code, outputs, stdout, summary, env_file) = match self.backend {
            Backend::InProcess => {
                let mut step = Step::new()
                    .event(&self.event_name, self.payload.clone())
                    .var("GITHUB_WORKSPACE", &workspace.display().to_string())
                    .var("RUNNER_TEMP", &runner_temp.display().to_string());
                for (k, v) in ctx_vars {
                    step = step.var(k, v);
                }
                for (k, v) in env.iter().chain(&self.step_env) {
                    step = step.var(k, v);
                }
                if let Some(oidc) = self.oidc {
                    step = oidc.apply(step);
                }
                for (k, v) in &inputs {
                    step = step.input(k, v);
                }
                let r = step.run().await;
                (
                    i32::from(r.code),
                    r.outputs,
                    r.stdout,
                    r.summary,
                    r.env_file,
                )
            }
            Backend::Container(profile) => {
                let mut step = ContainerStep::new(profile)
                    .network_host()
                    .event(&self.event_name, self.payload.clone());
                step.workspace = workspace.to_path_buf();
                for (k, v) in ctx_vars {
                    step = step.var(k, v);
                }
                for (k, v) in env.iter().chain(&self.step_env) {
                    step = step.var(k, v);
                }
                if let Some(oidc) = self.oidc {
                    step = step
                        .oidc(&oidc.request_url(), super::fake_oidc::REQUEST_TOKEN)
                        .var("STEVEDORE_OIDC_ISSUER", oidc.issuer());
                }
                for (h, c) in &self.mounts {
                    step = step.mount(h, c);
                }
                for (k, v) in &inputs {
                    step = step.input(k, v);
                }
                let r = step
                    .run()
                    .await
                    .expect("podman (checked by Backend::select)");
                let stdout = format!("{}\n--- stderr\n{}", r.stdout, r.stderr);
                (r.code, r.outputs, stdout, r.summary, r.env_file)
            }
        };
        let mut out_map = BTreeMap::new();
        for (k, v) in outputs {
            out_map.insert(k, v);
        }
        StepRecord {
            id,
            kind: "stevedore".into(),
            outcome: if code == 0 { "success" } else { "failure" }.into(),
            code,
            inputs,
            outputs: out_map,
            stdout,
            summary,
            env_file,
        }
    }
}

impl StepRecord {
    fn skipped(id: Option<String>) -> Self {
        Self::other(id, "skipped", "skipped")
    }

    fn other(id: Option<String>, kind: &str, outcome: &str) -> Self {
        Self {
            id,
            kind: kind.to_owned(),
            outcome: outcome.to_owned(),
            code: 0,
            inputs: BTreeMap::new(),
            outputs: BTreeMap::new(),
            stdout: String::new(),
            summary: String::new(),
            env_file: Vec::new(),
        }
    }

    pub fn output(&self, name: &str) -> &str {
        self.outputs
            .get(name)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("no output `{name}`: {:?}\n{}", self.outputs, self.stdout))
    }

    /// Logs for assertion messages.
    pub fn logs(&self) -> String {
        format!(
            "exit {} ({:?})\n--- stdout\n{}\n--- summary\n{}",
            self.code, self.id, self.stdout, self.summary
        )
    }
}

/// action.yml's `inputs:` mapping (each input's name to its spec).
pub fn action_yml_inputs() -> Mapping {
    let text = std::fs::read_to_string(repo_root().join("action.yml")).unwrap();
    let doc: Value = serde_yaml_ng::from_str(&text).unwrap();
    doc["inputs"].as_mapping().unwrap().clone()
}

/// Replaces every `${{ … }}` in `text` with what `value` gives for the expression inside (untrimmed), left
/// to right; `Err` for an unterminated expression (naming `text`) or the first `Err` of `value`.
pub fn replace_expressions(
    text: &str,
    mut value: impl FnMut(&str) -> Result<String, String>,
) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 3..];
        let end = after
            .find("}}")
            .ok_or_else(|| format!("unterminated expression in {text:?}"))?;
        out.push_str(&value(&after[..end])?);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// action.yml's input defaults (the runner sets `INPUT_<NAME>` for each input the step does not give).
fn action_defaults() -> Vec<(String, String)> {
    action_yml_inputs()
        .iter()
        .filter_map(|(k, v)| v.get("default").map(|d| (yaml_scalar(k), yaml_scalar(d))))
        .collect()
}

fn yaml_scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Null => String::new(),
        other => panic!("expected a scalar, got {other:?}"),
    }
}

/// The contexts an expression sees.
struct Scope<'s, 'a> {
    walk: &'s Walk<'a>,
    needs: &'s [String],
    steps: &'s BTreeMap<String, StepRecord>,
    needs_ok: bool,
}

impl Scope<'_, '_> {
    fn workflow_env(&self) -> Vec<(String, String)> {
        let Some(env) = self.walk.wf.doc.get("env").and_then(Value::as_mapping) else {
            return Vec::new();
        };
        env.iter()
            .map(|(k, v)| (yaml_scalar(k), self.substitute(&yaml_scalar(v))))
            .collect()
    }

    /// Each `key: value` of `mapping` (none when it is absent), the value's expressions replaced.
    fn substitute_each(&self, mapping: Option<&Mapping>) -> BTreeMap<String, String> {
        mapping
            .into_iter()
            .flatten()
            .map(|(k, v)| (yaml_scalar(k), self.substitute(&yaml_scalar(v))))
            .collect()
    }

    /// Replaces every `${{ expr }}` in `text`.
    fn substitute(&self, text: &str) -> String {
        replace_expressions(text, |expr| Ok(as_string(&self.eval(expr.trim()))))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// A job `if:` (with or without `${{ }}`).
    fn eval_condition(&self, cond: &str) -> Val {
        let c = cond.trim();
        let c = c
            .strip_prefix("${{")
            .and_then(|c| c.strip_suffix("}}"))
            .unwrap_or(c);
        // GitHub adds `success() &&` unless the condition calls a status function.
        let v = self.eval(c);
        if ["success()", "failure()", "always()", "cancelled()"]
            .iter()
            .any(|f| c.contains(f))
        {
            v
        } else {
            Val::Bool(self.needs_ok && truthy(&v))
        }
    }

    fn eval(&self, expr: &str) -> Val {
        let toks = tokenize(expr);
        let mut p = Parser {
            toks: &toks,
            pos: 0,
            scope: self,
        };
        let v = p.or();
        assert_eq!(p.pos, toks.len(), "trailing tokens in expression {expr:?}");
        v
    }

    fn lookup(&self, path: &str) -> Val {
        let parts: Vec<&str> = path.split('.').collect();
        let w = self.walk;
        let found = match parts.as_slice() {
            ["github", k] => w.github.get(*k).cloned(),
            ["vars", k] => w.vars.get(*k).cloned(),
            ["secrets", k] => w.secrets.get(*k).cloned(),
            ["env", k] => self.workflow_env_raw(k).map(|raw| self.substitute(&raw)),
            ["steps", id, "outputs", name] => Some(
                self.steps
                    .get(*id)
                    .and_then(|s| s.outputs.get(*name).cloned())
                    .unwrap_or_default(),
            ),
            ["steps", id, "outcome" | "conclusion"] => Some(
                self.steps
                    .get(*id)
                    .map(|s| s.outcome.clone())
                    .unwrap_or_default(),
            ),
            ["needs", job, rest @ ..] => {
                assert!(
                    self.needs.iter().any(|n| n == job),
                    "`needs.{job}` used by a job that does not need `{job}`"
                );
                let rec = &w.jobs[*job];
                match rest {
                    ["outputs", name] => Some(rec.outputs.get(*name).cloned().unwrap_or_default()),
                    ["result"] => Some(rec.result.clone()),
                    _ => None,
                }
            }
            _ => None,
        };
        Val::Str(found.unwrap_or_else(|| {
            panic!(
                "{}: `{path}` has no value in this run; give it to the walk (vars/secrets/github)",
                w.wf.name
            )
        }))
    }

    fn workflow_env_raw(&self, k: &str) -> Option<String> {
        self.walk
            .wf
            .doc
            .get("env")
            .and_then(|e| e.get(k))
            .map(yaml_scalar)
    }

    fn call(&self, f: &str, args: Vec<Val>) -> Val {
        let s = |i: usize| as_string(&args[i]).to_lowercase();
        match f {
            "startsWith" => Val::Bool(s(0).starts_with(&s(1))),
            "endsWith" => Val::Bool(s(0).ends_with(&s(1))),
            "contains" => Val::Bool(s(0).contains(&s(1))),
            "success" => Val::Bool(self.needs_ok),
            "always" => Val::Bool(true),
            "failure" => Val::Bool(!self.needs_ok),
            "cancelled" => Val::Bool(false),
            other => panic!("expression function `{other}` is not supported by the walker"),
        }
    }
}

#[derive(Clone, Debug)]
enum Val {
    Str(String),
    Bool(bool),
}

fn truthy(v: &Val) -> bool {
    match v {
        Val::Bool(b) => *b,
        Val::Str(s) => !s.is_empty(),
    }
}

fn as_string(v: &Val) -> String {
    match v {
        Val::Bool(b) => b.to_string(),
        Val::Str(s) => s.clone(),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Op(&'static str),
}

fn tokenize(s: &str) -> Vec<Tok> {
    let c: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
        } else if ch == '\'' {
            let mut v = String::new();
            i += 1;
            loop {
                assert!(i < c.len(), "unterminated string in {s:?}");
                if c[i] == '\'' {
                    if c.get(i + 1) == Some(&'\'') {
                        v.push('\'');
                        i += 2;
                        continue;
                    }
                    i += 1;
                    break;
                }
                v.push(c[i]);
                i += 1;
            }
            out.push(Tok::Str(v));
        } else if let Some(op) = ["==", "!=", "&&", "||"]
            .into_iter()
            .find(|op| s[s.char_indices().nth(i).unwrap().0..].starts_with(op))
        {
            out.push(Tok::Op(op));
            i += 2;
        } else if let Some(op) = ["!", "(", ")", ","]
            .into_iter()
            .find(|op| op.starts_with(ch))
        {
            out.push(Tok::Op(op));
            i += 1;
        } else if ch.is_alphanumeric() || ch == '_' {
            let mut v = String::new();
            while i < c.len() && (c[i].is_alphanumeric() || "_-.".contains(c[i])) {
                v.push(c[i]);
                i += 1;
            }
            out.push(Tok::Ident(v));
        } else {
            panic!("unexpected {ch:?} in expression {s:?}");
        }
    }
    out
}

struct Parser<'t, 's, 'w, 'a> {
    toks: &'t [Tok],
    pos: usize,
    scope: &'s Scope<'w, 'a>,
}

impl Parser<'_, '_, '_, '_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn eat(&mut self, op: &str) -> bool {
        if self.peek()
            == Some(&Tok::Op(match op {
                "==" => "==",
                "!=" => "!=",
                "&&" => "&&",
                "||" => "||",
                "!" => "!",
                "(" => "(",
                ")" => ")",
                _ => ",",
            }))
        {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Val {
        let mut v = self.and();
        while self.eat("||") {
            let r = self.and();
            v = if truthy(&v) { v } else { r };
        }
        v
    }

    fn and(&mut self) -> Val {
        let mut v = self.cmp();
        while self.eat("&&") {
            let r = self.cmp();
            v = if truthy(&v) { r } else { v };
        }
        v
    }

    fn cmp(&mut self) -> Val {
        let l = self.unary();
        if self.eat("==") {
            let r = self.unary();
            return Val::Bool(as_string(&l).eq_ignore_ascii_case(&as_string(&r)));
        }
        if self.eat("!=") {
            let r = self.unary();
            return Val::Bool(!as_string(&l).eq_ignore_ascii_case(&as_string(&r)));
        }
        l
    }

    fn unary(&mut self) -> Val {
        if self.eat("!") {
            return Val::Bool(!truthy(&self.unary()));
        }
        if self.eat("(") {
            let v = self.or();
            assert!(self.eat(")"), "missing `)`");
            return v;
        }
        match self.toks.get(self.pos).cloned() {
            Some(Tok::Str(s)) => {
                self.pos += 1;
                Val::Str(s)
            }
            Some(Tok::Ident(id)) => {
                self.pos += 1;
                if id == "true" || id == "false" {
                    return Val::Bool(id == "true");
                }
                if self.eat("(") {
                    let mut args = Vec::new();
                    if !self.eat(")") {
                        loop {
                            args.push(self.or());
                            if self.eat(")") {
                                break;
                            }
                            assert!(self.eat(","), "expected `,` in call of {id}");
                        }
                    }
                    return self.scope.call(&id, args);
                }
                self.scope.lookup(&id)
            }
            other => panic!("unexpected token {other:?}"),
        }
    }
}
