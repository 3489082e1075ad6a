//! Commit statuses: the fallback when the token may not create check runs (personal access tokens,
//! `permissions:` without `checks: write`).

use http::Method;
use serde::Serialize;

use super::checks::cut_chars;
use super::{Client, GithubError};
use crate::report::Verdict;

/// GitHub's cap on a status description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 140;

/// The commit-status `state` of a verdict (statuses know no "skipped"/"neutral": both are not failures).
#[must_use]
pub fn state(v: Verdict) -> &'static str {
    match v {
        Verdict::Failure => "failure",
        Verdict::Success | Verdict::Skipped | Verdict::Neutral => "success",
    }
}

/// The body of `POST /repos/{owner}/{repo}/statuses/{sha}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CreateStatus<'a> {
    pub state: &'a str,
    pub context: &'a str,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_url: Option<&'a str>,
}

/// Sets the status `context` on `sha`.
pub async fn set(
    client: &Client,
    repo: &str,
    sha: &str,
    state: &str,
    context: &str,
    description: &str,
    target_url: Option<&str>,
) -> Result<(), GithubError> {
    let body = CreateStatus {
        state,
        context,
        description: cut_chars(description, MAX_DESCRIPTION_CHARS),
        target_url,
    };
    let _: serde::de::IgnoredAny = client
        .send(
            Method::POST,
            &format!("/repos/{repo}/statuses/{sha}"),
            &body,
        )
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_failure_fails() {
        assert_eq!(state(Verdict::Failure), "failure");
        assert_eq!(state(Verdict::Skipped), "success");
    }
}
