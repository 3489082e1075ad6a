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
    start_with(client, ctx, environment, description, false).await
}

/// [`start`], choosing `transient_environment`.
async fn start_with(
    client: &Client,
    ctx: &Context,
    environment: &str,
    description: &str,
    transient: bool,
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
                "transient_environment": transient,
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
        return start_with(client, ctx, environment, description, true).await;
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

/// `s` escaped for a query-string value (environment names contain `/`).
fn query_escape(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
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
