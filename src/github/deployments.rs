//! GitHub Deployments for the deploy modes: one deployment per environment and commit, with statuses
//! `in_progress` -> `success`/`failure` carrying `environment_url` and `log_url`.
//!
//! The deployment is created with `auto_merge: false` (never merge the default branch into what we
//! deploy) and `required_contexts: []` (our own checks are still running when it is created; GitHub would
//! otherwise answer 409). A `success` status is sent with `auto_inactive: true`, so GitHub marks the
//! earlier deployments of the environment inactive; a failed deployment leaves the previous one active,
//! which is what is still running.

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

/// Whether an environment name reads as production (sets `production_environment`).
#[must_use]
pub fn is_production(environment: &str) -> bool {
    let e = environment.to_ascii_lowercase();
    e == "prod" || e.starts_with("prod-") || e.starts_with("production")
}

/// Creates a deployment of the run's commit to `environment` and marks it `in_progress`.
pub async fn start(
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
    let log_url = ctx.run_url();
    let mut payload = json!({});
    if let Some(id) = &ctx.run_id {
        payload["run_id"] = json!(id);
    }
    if let Some(r) = &ctx.git_ref {
        payload["ref"] = json!(r);
    }
    let d = client
        .post(
            &format!("/repos/{repository}/deployments"),
            &json!({
                "ref": sha,
                "task": "deploy",
                "auto_merge": false,
                "required_contexts": [],
                "environment": environment,
                "description": cut_chars(description, MAX_DESCRIPTION_CHARS),
                "production_environment": is_production(environment),
                "transient_environment": false,
                "payload": payload,
            }),
        )
        .await?;
    let id = d["id"].as_u64().ok_or_else(|| GithubError::Decode {
        method: "POST".into(),
        route: format!("/repos/{repository}/deployments"),
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
    status(client, &dep, "in_progress", description, None, None).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_names() {
        assert!(is_production("production"));
        assert!(is_production("Prod"));
        assert!(is_production("prod-eu"));
        assert!(!is_production("staging"));
        assert!(!is_production("preprod"));
    }
}
