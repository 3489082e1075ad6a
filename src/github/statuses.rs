//! Commit statuses: the fallback when the token may not create check runs (personal access tokens,
//! `permissions:` without `checks: write`).

use serde_json::json;

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
    let mut body = json!({
        "state": state,
        "context": context,
        "description": cut_chars(description, MAX_DESCRIPTION_CHARS),
    });
    if let Some(u) = target_url {
        body["target_url"] = json!(u);
    }
    client
        .post(&format!("/repos/{repo}/statuses/{sha}"), &body)
        .await
        .map(|_| ())
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
