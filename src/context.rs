//! The run's GitHub context: repository, ref, sha, run ids, and the event payload.
//!
//! Read from the `GITHUB_*` variables and the JSON at `GITHUB_EVENT_PATH`. Under act most ids are missing
//! and the event may be `{}`: every field tolerates absence. Outside Actions (a person's terminal) the
//! context is mostly empty and modes that need it say so.

use std::path::PathBuf;

use serde_json::Value;

use crate::env::{Env, vars};

/// What kind of ref triggered the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefType {
    Branch,
    Tag,
    Unknown,
}

/// The GitHub context of this run.
#[derive(Clone, Debug, Default)]
pub struct Context {
    /// `owner/name`.
    pub repository: Option<String>,
    pub owner: Option<String>,
    pub repo: Option<String>,
    /// Full ref, e.g. `refs/heads/main`, `refs/tags/v1.2.0`, `refs/pull/7/merge`.
    pub git_ref: Option<String>,
    /// Short ref name, e.g. `main`, `v1.2.0`.
    pub ref_name: Option<String>,
    pub ref_type: Option<RefType>,
    pub sha: Option<String>,
    pub actor: Option<String>,
    pub run_id: Option<String>,
    pub run_attempt: Option<String>,
    pub run_number: Option<String>,
    pub workflow: Option<String>,
    pub job: Option<String>,
    pub event_name: Option<String>,
    /// The webhook payload; `Value::Null` when there is none.
    pub event: Value,
    pub pull_request: Option<PullRequest>,
    pub api_url: String,
    pub server_url: String,
    pub workspace: PathBuf,
    /// Running under nektos/act (`ACT=true`): the run ids are act's placeholders, not a run on GitHub.
    pub under_act: bool,
}

/// The pull request of a `pull_request`/`pull_request_target` event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PullRequest {
    pub number: u64,
    pub head_sha: Option<String>,
    pub head_ref: Option<String>,
    pub base_ref: Option<String>,
    pub title: Option<String>,
    pub labels: Vec<String>,
    /// Whether the head repository differs from the base (a fork: read-only token).
    pub from_fork: bool,
    pub merged: bool,
}

/// Failure to read the event payload.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("cannot read the event payload at `{path}` (GITHUB_EVENT_PATH): {source}")]
    ReadEvent {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the event payload at `{path}` (GITHUB_EVENT_PATH) is not JSON: {source}")]
    ParseEvent {
        path: PathBuf,
        source: serde_json::Error,
    },
}

impl Context {
    /// Reads the context from the environment and the event file.
    pub fn from_env(env: &Env) -> Result<Self, ContextError> {
        let event = match env.path(vars::GITHUB_EVENT_PATH) {
            Some(path) => {
                let raw = std::fs::read(&path).map_err(|source| ContextError::ReadEvent {
                    path: path.clone(),
                    source,
                })?;
                if raw.iter().all(u8::is_ascii_whitespace) {
                    Value::Null
                } else {
                    serde_json::from_slice(&raw)
                        .map_err(|source| ContextError::ParseEvent { path, source })?
                }
            }
            None => Value::Null,
        };
        Ok(Self::from_parts(env, event))
    }

    /// Builds the context from variables and an already parsed payload.
    #[must_use]
    pub fn from_parts(env: &Env, event: Value) -> Self {
        let s = |k: &str| env.get(k).map(str::to_owned);
        let repository = s("GITHUB_REPOSITORY").or_else(|| {
            event
                .pointer("/repository/full_name")
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        let (owner, repo) = match repository.as_deref().and_then(|r| r.split_once('/')) {
            Some((o, r)) => (Some(o.to_owned()), Some(r.to_owned())),
            None => (None, None),
        };
        let git_ref =
            s("GITHUB_REF").or_else(|| event.get("ref").and_then(Value::as_str).map(str::to_owned));
        let ref_type = match env.get("GITHUB_REF_TYPE") {
            Some("branch") => Some(RefType::Branch),
            Some("tag") => Some(RefType::Tag),
            Some(_) => Some(RefType::Unknown),
            None => git_ref.as_deref().map(|r| {
                if r.starts_with("refs/heads/") {
                    RefType::Branch
                } else if r.starts_with("refs/tags/") {
                    RefType::Tag
                } else {
                    RefType::Unknown
                }
            }),
        };
        let ref_name = s("GITHUB_REF_NAME").or_else(|| {
            git_ref.as_deref().map(|r| {
                r.strip_prefix("refs/heads/")
                    .or_else(|| r.strip_prefix("refs/tags/"))
                    .unwrap_or(r)
                    .to_owned()
            })
        });
        let pull_request = event.get("pull_request").and_then(|pr| {
            let number = pr
                .get("number")
                .and_then(Value::as_u64)
                .or_else(|| event.get("number").and_then(Value::as_u64))?;
            let str_at = |p: &str| pr.pointer(p).and_then(Value::as_str).map(str::to_owned);
            let labels = pr
                .get("labels")
                .and_then(Value::as_array)
                .map(|ls| {
                    ls.iter()
                        .filter_map(|l| l.get("name").and_then(Value::as_str))
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            let head_repo = str_at("/head/repo/full_name");
            let base_repo = str_at("/base/repo/full_name");
            Some(PullRequest {
                number,
                head_sha: str_at("/head/sha"),
                head_ref: str_at("/head/ref"),
                base_ref: str_at("/base/ref"),
                title: str_at("/title"),
                labels,
                from_fork: matches!((&head_repo, &base_repo), (Some(h), Some(b)) if h != b),
                merged: pr.get("merged").and_then(Value::as_bool).unwrap_or(false),
            })
        });
        Self {
            repository,
            owner,
            repo,
            git_ref,
            ref_name,
            ref_type,
            sha: s("GITHUB_SHA"),
            actor: s("GITHUB_ACTOR"),
            run_id: s("GITHUB_RUN_ID"),
            run_attempt: s("GITHUB_RUN_ATTEMPT"),
            run_number: s("GITHUB_RUN_NUMBER"),
            workflow: s("GITHUB_WORKFLOW"),
            job: s("GITHUB_JOB"),
            event_name: s("GITHUB_EVENT_NAME"),
            event,
            pull_request,
            api_url: s(vars::GITHUB_API_URL).unwrap_or_else(|| "https://api.github.com".to_owned()),
            server_url: s(vars::GITHUB_SERVER_URL)
                .unwrap_or_else(|| "https://github.com".to_owned()),
            workspace: env.workspace(),
            under_act: env.under_act(),
        }
    }

    /// The commit checks and statuses attach to: the PR head for pull requests, else `GITHUB_SHA`.
    #[must_use]
    pub fn head_sha(&self) -> Option<&str> {
        self.pull_request
            .as_ref()
            .and_then(|p| p.head_sha.as_deref())
            .or(self.sha.as_deref())
    }

    /// Link to this workflow run, when the ids are known and name a run on GitHub: `None` under act, whose
    /// run URL is a placeholder (see [`Context::act_placeholder_run_url`]).
    #[must_use]
    pub fn run_url(&self) -> Option<String> {
        if self.under_act {
            return None;
        }
        self.workflow_run_url()
    }

    /// Under act, the run URL act's variables spell (`GITHUB_RUN_ID` is act's placeholder): never a link.
    #[must_use]
    pub fn act_placeholder_run_url(&self) -> Option<String> {
        if self.under_act {
            self.workflow_run_url()
        } else {
            None
        }
    }

    fn workflow_run_url(&self) -> Option<String> {
        Some(format!(
            "{}/{}/actions/runs/{}",
            self.server_url,
            self.repository.as_deref()?,
            self.run_id.as_deref()?
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pull_request_payload_gives_number_head_and_labels() {
        let env = Env::from_pairs([
            ("GITHUB_REPOSITORY", "o/r"),
            ("GITHUB_REF", "refs/pull/7/merge"),
            ("GITHUB_SHA", "m"),
        ]);
        let ev = json!({"number": 7, "pull_request": {"number": 7, "title": "feat: x", "head": {"sha": "h", "ref": "f", "repo": {"full_name": "fork/r"}}, "base": {"ref": "main", "repo": {"full_name": "o/r"}}, "labels": [{"name": "release:minor"}]}});
        let ctx = Context::from_parts(&env, ev);
        let pr = ctx.pull_request.clone().unwrap();
        assert_eq!(pr.number, 7);
        assert_eq!(pr.labels, ["release:minor"]);
        assert!(pr.from_fork);
        assert_eq!(ctx.head_sha(), Some("h"));
        assert_eq!(ctx.owner.as_deref(), Some("o"));
    }

    #[test]
    fn tag_push_without_ref_type_is_inferred() {
        let env = Env::from_pairs([("GITHUB_REF", "refs/tags/v1.2.0-stable")]);
        let ctx = Context::from_parts(&env, Value::Null);
        assert_eq!(ctx.ref_type, Some(RefType::Tag));
        assert_eq!(ctx.ref_name.as_deref(), Some("v1.2.0-stable"));
    }

    #[test]
    fn act_style_empty_event_is_tolerated() {
        let ctx = Context::from_parts(&Env::default(), json!({}));
        assert!(ctx.pull_request.is_none());
        assert_eq!(ctx.api_url, "https://api.github.com");
    }
}
