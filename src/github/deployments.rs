//! GitHub Deployments for the deploy modes: one deployment per environment and commit, with statuses
//! `in_progress` -> `success`/`failure` carrying `environment_url` and `log_url`.
//!
//! The deployment is created with `auto_merge: false` (never merge the default branch into what we
//! deploy) and `required_contexts: []` (our own checks are still running when it is created; GitHub would
//! otherwise answer 409). A `success` status is sent with `auto_inactive: true`, so GitHub marks the
//! earlier deployments of the environment inactive; a failed deployment leaves the previous one active,
//! which is what is still running.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::checks::cut_chars;
use super::statuses::MAX_DESCRIPTION_CHARS;
use super::{Client, GithubError};
use crate::context::Context;

/// A deployment we created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deployment {
    pub id: u64,
    pub environment: String,
    /// `owner/repo`.
    pub repository: String,
    pub sha: String,
    /// Link to the workflow run (the statuses' `log_url` unless `finish` is given another).
    pub log_url: Option<String>,
}

/// Whether an environment name reads as production (sets `production_environment`): the same word
/// rule the default trigger policy holds to the production rule ([`crate::names::production_like`]), so
/// `eu-prod`, `live` and `preprod` are production here too.
#[must_use]
pub fn is_production(environment: &str) -> bool {
    crate::names::production_like(environment)
}

/// Creates a deployment of the run's commit to `environment` and marks it `in_progress`. Its payload
/// records the run and ref but no [`Target`]: a rollback cannot redeploy it.
pub async fn start(
    client: &Client,
    ctx: &Context,
    environment: &str,
    description: &str,
) -> Result<Deployment, GithubError> {
    start_with(
        client,
        ctx,
        environment,
        description,
        false,
        &Record::default(),
    )
    .await
}

/// [`start`] with what is deployed recorded in the payload (what `rollback-to` redeploys later).
pub async fn start_recorded(
    client: &Client,
    ctx: &Context,
    environment: &str,
    description: &str,
    record: &Record,
) -> Result<Deployment, GithubError> {
    start_with(client, ctx, environment, description, false, record).await
}

/// What a deploy records in its deployment's payload, beyond the run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Record {
    /// What runs after this deploy; `None` when it is not known (the deploy failed before).
    pub target: Option<Target>,
    /// A rollback: the commit that is redeployed (the deployment's `ref`) instead of the run's.
    pub sha: Option<String>,
    /// A rollback: the version redeployed (else the run's tag or commit).
    pub version: Option<String>,
    /// A rollback: the ref the restored commit was deployed from (else the run's `GITHUB_REF`), so that
    /// a later rollback verifies the commit against the ref it really came from.
    pub git_ref: Option<String>,
    /// A rollback: the deployment whose target is redeployed.
    pub restored_from: Option<u64>,
    /// A rollback: the deployment that was live before it (a later `previous` skips it).
    pub rolled_back_from: Option<u64>,
    /// A promotion (`promote-from`): the environment whose release this deploy put in place.
    pub promoted_from: Option<String>,
}

/// The payload stevedore writes on every deployment (`payload` of POST /repos/{owner}/{repo}/deployments).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// The workflow run's `GITHUB_REF`; a rollback keeps the restored deployment's.
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub git_ref: Option<String>,
    /// The tag (`v1.4.2`) when the run is for a tag, else the commit SHA; a rollback keeps the restored
    /// deployment's version. `rollback-to: <version>` matches it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// What runs after this deploy (absent on deployments by other tools or older versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored_from: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolled_back_from: Option<u64>,
    /// A promotion: the environment the release came from (`restored_from` is its deployment there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promoted_from: Option<String>,
}

/// Exactly what a deploy put in place, enough to put it in place again. One variant per deploy target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Target {
    /// Each service's task-definition ARN.
    Ecs {
        cluster: String,
        services: Vec<EcsService>,
    },
    /// The published version the alias points at, and that version's code hash (`CodeSha256`): a
    /// rollback restores the version only while Lambda still reports the same hash for it. Absent in
    /// records of stevedore before 0.2, which a rollback therefore refuses to restore.
    Lambda {
        function: String,
        alias: String,
        version: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code_sha256: Option<String>,
        /// The S3 object the code was deployed from (`s3-bucket` + `s3-key`; absent for `zip-file` and
        /// image code, and in records of stevedore before promotion): where a copy of the code to another
        /// account is taken from.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        s3: Option<S3Object>,
    },
    /// The image (by digest when deployed by digest) the service runs.
    AppRunner { service: String, image: String },
    /// The image (by digest when deployed by digest) of the ECS Express service's primary container;
    /// `service` is the service's ARN (it names the cluster).
    EcsExpress { service: String, image: String },
}

/// An S3 object (`s3://bucket/key`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct S3Object {
    pub bucket: String,
    pub key: String,
}

/// `web, worker`: the ECS services of a recorded target.
fn service_names(services: &[EcsService]) -> String {
    services
        .iter()
        .map(|s| s.service.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Target {
    /// What this target is, for messages: `App Runner `web``.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Target::Ecs { cluster, services } => {
                format!("ECS `{}` in cluster `{cluster}`", service_names(services))
            }
            Target::Lambda {
                function, alias, ..
            } => format!("Lambda `{function}:{alias}`"),
            Target::AppRunner { service, .. } => format!("App Runner `{}`", last_name(service)),
            Target::EcsExpress { service, .. } => format!("ECS Express `{}`", last_name(service)),
        }
    }

    /// The inputs of a deploy step of this target, as a fix names them.
    #[must_use]
    pub fn inputs(&self) -> String {
        match self {
            Target::Ecs { cluster, services } => format!(
                "`cluster: {cluster}` + `service: {}`",
                service_names(services)
            ),
            Target::Lambda {
                function, alias, ..
            } => format!("`function-name: {function}` + `alias: {alias}`"),
            Target::AppRunner { service, .. } => format!("`app-runner-service: {service}`"),
            Target::EcsExpress { service, .. } => format!("`express-service: {service}`"),
        }
    }
}

/// The name in an ARN of the form `…:service/<name>/<id>` (App Runner) or `…:service/<cluster>/<name>`
/// (ECS); anything else as is.
fn last_name(s: &str) -> &str {
    let Some((_, rest)) = s.split_once(":service/") else {
        return s;
    };
    let parts: Vec<&str> = rest.split('/').collect();
    if s.contains(":apprunner:") {
        parts.first().copied().unwrap_or(rest)
    } else {
        parts.last().copied().unwrap_or(rest)
    }
}

/// One ECS service and the task definition it was updated to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EcsService {
    pub service: String,
    pub task_definition: String,
}

/// The body of POST /repos/{owner}/{repo}/deployments.
#[derive(Debug, Serialize)]
struct CreateDeployment<'a> {
    #[serde(rename = "ref")]
    git_ref: &'a str,
    task: &'a str,
    auto_merge: bool,
    required_contexts: [&'a str; 0],
    environment: &'a str,
    description: &'a str,
    production_environment: bool,
    transient_environment: bool,
    payload: &'a Payload,
}

/// The fields of a deployment (GitHub's `deployment` schema) stevedore reads.
#[derive(Clone, Debug, Deserialize)]
pub struct DeploymentResponse {
    pub id: u64,
    pub sha: String,
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub environment: String,
    pub created_at: String,
    /// An object, or a string holding one (the schema allows both).
    #[serde(default)]
    pub payload: Value,
}

impl DeploymentResponse {
    /// The payload as stevedore wrote it; `None` when it is not one of ours.
    #[must_use]
    pub fn stevedore_payload(&self) -> Option<Payload> {
        let v = match &self.payload {
            Value::String(s) => serde_json::from_str(s).ok()?,
            v => v.clone(),
        };
        serde_json::from_value(v).ok()
    }
}

/// The field of a deployment status (GitHub's `deployment-status` schema) stevedore reads.
#[derive(Clone, Debug, Deserialize)]
pub struct StatusResponse {
    pub state: String,
}

/// The version a run deploys: its tag, else its commit.
fn run_version(ctx: &Context, sha: &str) -> String {
    ctx.git_ref
        .as_deref()
        .and_then(|r| r.strip_prefix("refs/tags/"))
        .map_or_else(|| sha.to_owned(), str::to_owned)
}

/// [`start`], choosing `transient_environment`.
async fn start_with(
    client: &Client,
    ctx: &Context,
    environment: &str,
    description: &str,
    transient: bool,
    record: &Record,
) -> Result<Deployment, GithubError> {
    let repository = ctx.repository.clone().ok_or(GithubError::Missing {
        what: "GITHUB_REPOSITORY",
    })?;
    let sha = match &record.sha {
        Some(s) => s.clone(),
        None => ctx
            .sha
            .clone()
            .or_else(|| ctx.head_sha().map(str::to_owned))
            .ok_or(GithubError::Missing { what: "GITHUB_SHA" })?,
    };
    let log_url = ctx.run_url();
    let payload = Payload {
        run_id: ctx.run_id.clone(),
        git_ref: record.git_ref.clone().or_else(|| ctx.git_ref.clone()),
        version: Some(
            record
                .version
                .clone()
                .unwrap_or_else(|| run_version(ctx, &sha)),
        ),
        target: record.target.clone(),
        restored_from: record.restored_from,
        rolled_back_from: record.rolled_back_from,
        promoted_from: record.promoted_from.clone(),
    };
    let description = cut_chars(description, MAX_DESCRIPTION_CHARS);
    let body = CreateDeployment {
        git_ref: &sha,
        task: "deploy",
        auto_merge: false,
        required_contexts: [],
        environment,
        description: &description,
        production_environment: is_production(environment),
        transient_environment: transient,
        payload: &payload,
    };
    let route = format!("/repos/{repository}/deployments");
    let body = serde_json::to_value(&body).map_err(|e| GithubError::Decode {
        method: "POST".into(),
        route: route.clone(),
        message: format!("the request body cannot be encoded: {e}"),
    })?;
    let d = client.post(&route, &body).await?;
    let id = d["id"].as_u64().ok_or_else(|| GithubError::Decode {
        method: "POST".into(),
        route: route.clone(),
        message: format!(
            "the answer has no deployment id: {}",
            crate::report::truncate_bytes(&d.to_string(), 200)
        ),
    })?;
    let dep = Deployment {
        id,
        environment: environment.to_owned(),
        repository,
        sha,
        log_url,
    };
    status(client, &dep, "in_progress", &description, None, None).await?;
    Ok(dep)
}

/// Sets one status on `dep`.
pub async fn status(
    client: &Client,
    dep: &Deployment,
    state: &str,
    description: &str,
    environment_url: Option<&str>,
    log_url: Option<&str>,
) -> Result<Value, GithubError> {
    let mut body = json!({
        "state": state,
        "description": cut_chars(description, MAX_DESCRIPTION_CHARS),
    });
    if let Some(u) = log_url.or(dep.log_url.as_deref()) {
        body["log_url"] = json!(u);
    }
    if let Some(u) = environment_url {
        body["environment_url"] = json!(u);
    }
    if state == "success" {
        // Ignored by GitHub for transient environments (see `deactivate`).
        body["auto_inactive"] = json!(true);
    }
    client
        .post(
            &format!("/repos/{}/deployments/{}/statuses", dep.repository, dep.id),
            &body,
        )
        .await
}

/// Marks `dep` `success` (earlier deployments of the environment become inactive) or `failure`.
pub async fn finish(
    client: &Client,
    dep: &Deployment,
    success: bool,
    environment_url: Option<&str>,
    log_url: Option<&str>,
) -> Result<(), GithubError> {
    let (state, description) = if success {
        ("success", format!("Deployed to {}", dep.environment))
    } else {
        (
            "failure",
            format!("Deployment to {} failed", dep.environment),
        )
    };
    status(client, dep, state, &description, environment_url, log_url)
        .await
        .map(|_| ())
}

/// The deployment of the run's commit to the transient environment `environment` (a PR preview): the
/// existing one when this commit was already deployed there (a re-run edits it), else a new one created
/// with `transient_environment: true`. Marked `in_progress` either way.
pub async fn start_transient(
    client: &Client,
    ctx: &Context,
    environment: &str,
    description: &str,
) -> Result<Deployment, GithubError> {
    let repository = ctx.repository.clone().ok_or(GithubError::Missing {
        what: "GITHUB_REPOSITORY",
    })?;
    let sha = ctx
        .sha
        .clone()
        .or_else(|| ctx.head_sha().map(str::to_owned))
        .ok_or(GithubError::Missing { what: "GITHUB_SHA" })?;
    let existing = client
        .get_paged(&format!(
            "/repos/{repository}/deployments?environment={}&sha={sha}",
            query_escape(environment)
        ))
        .await?;
    let Some(id) = existing.first().and_then(|d| d["id"].as_u64()) else {
        return start_with(
            client,
            ctx,
            environment,
            description,
            true,
            &Record::default(),
        )
        .await;
    };
    let dep = Deployment {
        id,
        environment: environment.to_owned(),
        repository,
        sha,
        log_url: ctx.run_url(),
    };
    status(client, &dep, "in_progress", description, None, None).await?;
    Ok(dep)
}

/// Marks every deployment of `environment` in `repository` inactive (except `keep`), skipping those
/// already inactive; the number marked. GitHub's `auto_inactive` does not apply to transient
/// environments, so previews retire their older deployments this way.
pub async fn deactivate(
    client: &Client,
    repository: &str,
    environment: &str,
    keep: Option<u64>,
    description: &str,
) -> Result<usize, GithubError> {
    let all = client
        .get_paged(&format!(
            "/repos/{repository}/deployments?environment={}",
            query_escape(environment)
        ))
        .await?;
    let mut marked = 0;
    for d in all {
        let Some(id) = d["id"].as_u64() else { continue };
        if Some(id) == keep {
            continue;
        }
        let statuses = client
            .get(&format!(
                "/repos/{repository}/deployments/{id}/statuses?per_page=1"
            ))
            .await?;
        if statuses
            .as_array()
            .and_then(|s| s.first())
            .is_some_and(|s| s["state"] == "inactive")
        {
            continue;
        }
        let dep = Deployment {
            id,
            environment: environment.to_owned(),
            repository: repository.to_owned(),
            sha: d["sha"].as_str().unwrap_or_default().to_owned(),
            log_url: None,
        };
        status(client, &dep, "inactive", description, None, None).await?;
        marked += 1;
    }
    Ok(marked)
}

/// Which earlier deployment `rollback-to` asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Wanted {
    /// The last good deployment other than the live one, the one rolled back from, or one that put in
    /// place the same thing as the live one.
    Previous,
    /// The newest good deployment whose payload `version` is this, or whose commit starts with it (at
    /// least 7 hex digits).
    Version(String),
}

impl Wanted {
    fn matches(&self, d: &DeploymentResponse, p: &Payload) -> bool {
        match self {
            Wanted::Previous => false,
            Wanted::Version(v) => {
                p.version.as_deref() == Some(v.as_str())
                    || (v.len() >= 7
                        && v.bytes().all(|b| b.is_ascii_hexdigit())
                        && d.sha.starts_with(&v.to_ascii_lowercase()))
            }
        }
    }
}

/// An earlier deployment that can be put in place again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Release {
    pub id: u64,
    pub sha: String,
    pub created_at: String,
    /// The payload's version (else the commit).
    pub version: String,
    pub target: Target,
    pub run_id: Option<String>,
    pub rolled_back_from: Option<u64>,
    /// The ref the payload says the commit was deployed from (`refs/tags/v1.2.0`, `refs/heads/main`).
    pub git_ref: Option<String>,
}

/// Decides whether a recorded release may be put in place again. A deployment's payload is written by
/// whoever holds `deployments: write`, so nothing in it is believed: the mode checks the commit against
/// the trigger policy and the artifact against the target ([`find_release`] asks before a release counts
/// as live, as replaced, or as the one to restore).
pub trait Verify: Sync {
    /// `Ok(None)` when `release` checks out; `Ok(Some(reason))` when it does not (it is passed over with
    /// the reason); `Err` when the check itself could not be made (the search stops: a transient failure
    /// must not make `previous` restore an older release than the one meant).
    fn verify(
        &self,
        release: &Release,
    ) -> impl std::future::Future<Output = Result<Option<String>, FindError>> + Send;
}

/// Why [`find_release`] stopped without an answer.
#[derive(Debug, thiserror::Error)]
pub enum FindError {
    #[error(transparent)]
    Github(#[from] GithubError),
    /// A release could not be checked (an AWS or GitHub call failed).
    #[error("cannot verify deployment #{id}: {message}")]
    Verify { id: u64, message: String },
}

impl FindError {
    /// GitHub refused the token (403): a configuration problem.
    #[must_use]
    pub fn is_forbidden(&self) -> bool {
        matches!(self, FindError::Github(e) if e.is_forbidden())
    }
}

/// What [`find_release`] saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Search {
    /// The newest good deployment of this target: what runs now.
    pub live: Option<Release>,
    /// The deployment to put in place again.
    pub found: Option<Release>,
    /// Deployments of the environment looked at.
    pub examined: usize,
    /// Deployments of the environment without a stevedore payload for this target.
    pub foreign: usize,
    /// Why each candidate passed over was not taken, newest first (`#id: reason`).
    pub passed_over: Vec<String>,
    /// Deployments whose stevedore payload records another target, newest first (at most
    /// [`MAX_OTHERS`]): `#id (`version`): <target>`. A refusal names them, and the inputs that restore them.
    pub others: Vec<(String, Target)>,
}

/// How many deployments of other targets [`Search::others`] keeps.
pub const MAX_OTHERS: usize = 3;

/// Pages of deployments [`find_release`] reads at most (100 each).
pub const MAX_PAGES: usize = 10;

/// A deployment is good when one of its statuses is `success` and none is `failure` or `error`: GitHub
/// marks every earlier deployment `inactive` when a later one succeeds (`auto_inactive`), so a good
/// release that was replaced reads `success` then `inactive`; an `inactive` one that never succeeded is
/// not good.
#[must_use]
pub fn is_good(states: &[String]) -> bool {
    states.iter().any(|s| s == "success") && !states.iter().any(|s| s == "failure" || s == "error")
}

/// Finds the deployment of `environment` that `wanted` names among those whose payload records a
/// target for which `ours` is true, newest first (GitHub lists deployments newest first). Reads the
/// deployments a page at a time and each candidate's statuses (GET .../deployments/{id}/statuses), and
/// stops at the first match.
pub async fn find_release(
    client: &Client,
    repository: &str,
    environment: &str,
    wanted: &Wanted,
    ours: &(dyn Fn(&Target) -> bool + Sync),
    verify: &impl Verify,
) -> Result<Search, FindError> {
    let mut search = Search::default();
    let mut away: std::collections::HashSet<u64> = std::collections::HashSet::new();
    let mut next = format!(
        "/repos/{repository}/deployments?environment={}&per_page=100",
        query_escape(environment)
    );
    for _ in 0..MAX_PAGES {
        let answer = client.request(reqwest::Method::GET, &next, None).await?;
        let page: Vec<DeploymentResponse> =
            serde_json::from_value(answer.body).map_err(|e| GithubError::Decode {
                method: "GET".into(),
                route: next.clone(),
                message: format!("not a list of deployments: {e}"),
            })?;
        for d in page {
            search.examined += 1;
            let payload = d.stevedore_payload();
            let Some((payload, target)) = payload
                .clone()
                .and_then(|p| p.target.clone().filter(|t| ours(t)).map(|t| (p, t)))
            else {
                search.foreign += 1;
                if let Some((p, t)) = payload.and_then(|p| p.target.clone().map(|t| (p, t)))
                    && search.others.len() < MAX_OTHERS
                {
                    let version = p.version.unwrap_or_else(|| d.sha.clone());
                    search
                        .others
                        .push((format!("#{} (`{version}`): {}", d.id, t.describe()), t));
                }
                continue;
            };
            let route = format!(
                "/repos/{repository}/deployments/{}/statuses?per_page=100",
                d.id
            );
            let statuses: Vec<StatusResponse> = serde_json::from_value(client.get(&route).await?)
                .map_err(|e| GithubError::Decode {
                method: "GET".into(),
                route: route.clone(),
                message: format!("not a list of deployment statuses: {e}"),
            })?;
            let states: Vec<String> = statuses.into_iter().map(|s| s.state).collect();
            let release = Release {
                id: d.id,
                sha: d.sha.clone(),
                created_at: d.created_at.clone(),
                version: payload.version.clone().unwrap_or_else(|| d.sha.clone()),
                target,
                run_id: payload.run_id.clone(),
                rolled_back_from: payload.rolled_back_from,
                git_ref: payload.git_ref.clone(),
            };
            if !is_good(&states) {
                if *wanted == Wanted::Previous || wanted.matches(&d, &payload) {
                    let last = states.first().map_or("no status", String::as_str);
                    search.passed_over.push(format!(
                        "#{} (`{}`): not good (statuses {}; last `{last}`)",
                        d.id,
                        release.version,
                        if states.is_empty() {
                            "none".to_owned()
                        } else {
                            states.iter().rev().cloned().collect::<Vec<_>>().join(" → ")
                        }
                    ));
                }
                continue;
            }
            // Only a verified release counts: as what runs now, as a rollback that replaced another,
            // or as the one to restore.
            if let Some(why) = verify.verify(&release).await? {
                search.passed_over.push(format!(
                    "#{} (`{}`): not verified: {why}",
                    release.id, release.version
                ));
                continue;
            }
            if let Some(from) = release.rolled_back_from {
                away.insert(from);
            }
            let Some(live) = &search.live else {
                search.live = Some(release.clone());
                if wanted.matches(&d, &payload) {
                    search.found = Some(release);
                    return Ok(search);
                }
                continue;
            };
            match wanted {
                Wanted::Version(_) => {
                    if wanted.matches(&d, &payload) {
                        search.found = Some(release);
                        return Ok(search);
                    }
                }
                Wanted::Previous => {
                    if away.contains(&release.id) {
                        search.passed_over.push(format!(
                            "#{} (`{}`): a later rollback replaced it",
                            release.id, release.version
                        ));
                    } else if release.target == live.target {
                        search.passed_over.push(format!(
                            "#{} (`{}`): the same as what runs now (#{})",
                            release.id, release.version, live.id
                        ));
                    } else {
                        search.found = Some(release);
                        return Ok(search);
                    }
                }
            }
        }
        match super::next_link(&answer.headers) {
            Some(n) => next = n,
            None => break,
        }
    }
    Ok(search)
}

/// Whether commit `sha` is what `git_ref` of `repository` holds: a tag (`refs/tags/…`) that points at it
/// (annotated tags followed), or a branch (`refs/heads/…`) that contains it (GET `compare/{sha}...{branch}`
/// answers `identical` or `ahead`). `Ok(None)` when it is; `Ok(Some(why))` when it is not or cannot be
/// (a missing tag, branch or commit, another kind of ref); `Err` when GitHub could not be asked.
pub async fn ref_holds(
    client: &Client,
    repository: &str,
    git_ref: &str,
    sha: &str,
) -> Result<Option<String>, GithubError> {
    let missing = |e: &GithubError| {
        matches!(
            e,
            GithubError::Api {
                status: 404 | 409 | 422,
                ..
            }
        )
    };
    if !sha.len().eq(&40) || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(Some(format!("`{sha}` is not a full commit SHA")));
    }
    if let Some(tag) = git_ref.strip_prefix("refs/tags/") {
        let route = format!(
            "/repos/{repository}/git/ref/{}",
            super::path_escape(&format!("tags/{tag}"), true)
        );
        let object = match client.get(&route).await {
            Ok(v) => v["object"].clone(),
            Err(e) if missing(&e) => return Ok(Some(format!("tag `{tag}` does not exist"))),
            Err(e) => return Err(e),
        };
        // An annotated tag points at a tag object; follow (a bounded number of) tag objects.
        let object =
            match super::follow_tags(client, &format!("/repos/{repository}"), object, 4).await {
                Ok(object) => object,
                Err((_, e)) if missing(&e) => {
                    return Ok(Some(format!(
                        "tag `{tag}` names a tag object GitHub cannot find"
                    )));
                }
                Err((_, e)) => return Err(e),
            };
        return Ok(match (object["type"].as_str(), object["sha"].as_str()) {
            (Some("commit"), Some(s)) if s.eq_ignore_ascii_case(sha) => None,
            (Some("commit"), Some(s)) => Some(format!(
                "tag `{tag}` points at commit `{}`, not at the recorded `{}`",
                s.get(..12).unwrap_or(s),
                sha.get(..12).unwrap_or(sha)
            )),
            (kind, _) => Some(format!(
                "tag `{tag}` does not point at a commit (it names a {})",
                kind.unwrap_or("nothing")
            )),
        });
    }
    if let Some(branch) = git_ref.strip_prefix("refs/heads/") {
        let route = format!(
            "/repos/{repository}/compare/{sha}...{}",
            super::path_escape(branch, true)
        );
        let status = match client.get(&route).await {
            Ok(v) => v["status"].as_str().unwrap_or_default().to_owned(),
            Err(e) if missing(&e) => {
                return Ok(Some(format!(
                    "branch `{branch}` or commit `{}` does not exist",
                    sha.get(..12).unwrap_or(sha)
                )));
            }
            Err(e) => return Err(e),
        };
        return Ok(match status.as_str() {
            "identical" | "ahead" => None,
            other => Some(format!(
                "commit `{}` is not on branch `{branch}` (compare: {other})",
                sha.get(..12).unwrap_or(sha)
            )),
        });
    }
    Ok(Some(format!(
        "ref `{git_ref}` is neither a tag nor a branch, so the commit cannot be traced to it"
    )))
}

/// `s` escaped for a query-string value (environment names contain `/`).
fn query_escape(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_means_succeeded_and_never_failed() {
        let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        // Newest first, as GitHub lists them.
        assert!(is_good(&s(&["success", "in_progress"])));
        assert!(is_good(&s(&["inactive", "success", "in_progress"])));
        assert!(!is_good(&s(&["inactive", "failure", "in_progress"])));
        assert!(!is_good(&s(&["inactive", "in_progress"])));
        assert!(!is_good(&s(&["error"])));
        assert!(!is_good(&s(&["in_progress"])));
        assert!(!is_good(&[]));
    }

    #[test]
    fn payloads_round_trip_and_foreign_ones_are_not_ours() {
        let p = Payload {
            run_id: Some("42".into()),
            git_ref: Some("refs/tags/v1.2.0".into()),
            version: Some("v1.2.0".into()),
            target: Some(Target::Lambda {
                function: "api".into(),
                alias: "live".into(),
                version: "7".into(),
                code_sha256: None,
                s3: None,
            }),
            restored_from: None,
            rolled_back_from: None,
            promoted_from: None,
        };
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(
            v,
            json!({"run_id": "42", "ref": "refs/tags/v1.2.0", "version": "v1.2.0",
                   "target": {"kind": "lambda", "function": "api", "alias": "live", "version": "7"}})
        );
        let d = |payload: Value| DeploymentResponse {
            id: 1,
            sha: "a".repeat(40),
            git_ref: "main".into(),
            environment: "prod".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            payload,
        };
        assert_eq!(d(v.clone()).stevedore_payload(), Some(p.clone()));
        assert_eq!(d(Value::String(v.to_string())).stevedore_payload(), Some(p));
        // Another tool's payload: no target.
        let other = d(json!({"deploy_tool": "other"}))
            .stevedore_payload()
            .unwrap();
        assert_eq!(other.target, None);
        assert_eq!(d(Value::String(String::new())).stevedore_payload(), None);
        let ecs: Target = serde_json::from_value(json!({"kind": "ecs", "cluster": "prod",
            "services": [{"service": "web", "task_definition": "arn:aws:ecs:eu-west-1:1:task-definition/web:3"}]}))
        .unwrap();
        assert!(matches!(ecs, Target::Ecs { .. }));
        let ar: Target = serde_json::from_value(
            json!({"kind": "app-runner", "service": "web", "image": "r@sha256:0"}),
        )
        .unwrap();
        assert!(matches!(ar, Target::AppRunner { .. }));
    }

    #[test]
    fn an_ecs_express_payload_round_trips_with_its_service_arn_and_image() {
        let arn = "arn:aws:ecs:eu-west-1:123456789012:service/default/frontend";
        let image = format!(
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/frontend@sha256:{}",
            "a".repeat(64)
        );
        let p = Payload {
            run_id: Some("7".into()),
            git_ref: Some("refs/heads/main".into()),
            version: Some("c0ffee0".into()),
            target: Some(Target::EcsExpress {
                service: arn.into(),
                image: image.clone(),
            }),
            restored_from: Some(3),
            rolled_back_from: Some(5),
            promoted_from: None,
        };
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(
            v,
            json!({"run_id": "7", "ref": "refs/heads/main", "version": "c0ffee0",
                   "target": {"kind": "ecs-express", "service": arn, "image": image},
                   "restored_from": 3, "rolled_back_from": 5})
        );
        let d = DeploymentResponse {
            id: 9,
            sha: "c".repeat(40),
            git_ref: "main".into(),
            environment: "staging".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            payload: Value::String(v.to_string()),
        };
        assert_eq!(d.stevedore_payload(), Some(p.clone()));
        let t = p.target.unwrap();
        assert_eq!(t.describe(), "ECS Express `frontend`");
        assert_eq!(t.inputs(), format!("`express-service: {arn}`"));
        // An Express record is not an App Runner one, even for a service of the same name.
        let ar: Target = serde_json::from_value(
            json!({"kind": "app-runner", "service": "arn:aws:apprunner:eu-west-1:123456789012:service/frontend/8fe1e10304f84fd2b0df550fe98a71fa", "image": image}),
        )
        .unwrap();
        assert_ne!(ar, t);
        assert_eq!(ar.describe(), "App Runner `frontend`");
        assert_eq!(
            Target::Lambda {
                function: "api".into(),
                alias: "live".into(),
                version: "3".into(),
                code_sha256: None,
                s3: None,
            }
            .inputs(),
            "`function-name: api` + `alias: live`"
        );
    }

    #[test]
    fn versions_match_the_payload_or_a_commit_prefix() {
        let d = DeploymentResponse {
            id: 1,
            sha: "abcdef0123456789abcdef0123456789abcdef01".into(),
            git_ref: "abcdef0123456789abcdef0123456789abcdef01".into(),
            environment: "prod".into(),
            created_at: String::new(),
            payload: Value::Null,
        };
        let p = Payload {
            version: Some("v1.2.0".into()),
            ..Payload::default()
        };
        let w = |v: &str| Wanted::Version(v.into());
        assert!(w("v1.2.0").matches(&d, &p));
        assert!(w("abcdef0").matches(&d, &p));
        assert!(w("ABCDEF01").matches(&d, &p));
        assert!(!w("abcdef").matches(&d, &p), "6 digits are too few");
        assert!(!w("v1.2").matches(&d, &p));
        assert!(!Wanted::Previous.matches(&d, &p));
    }

    #[test]
    fn production_names() {
        assert!(is_production("production"));
        assert!(is_production("Prod"));
        assert!(is_production("prod-eu"));
        assert!(!is_production("staging"));
        assert!(is_production("eu-prod"));
        assert!(is_production("live"));
        // Pre-production holds production data: held to the production rule (docs/credentials.md).
        assert!(is_production("preprod"));
        assert!(!is_production("products"));
    }
}
