//! The sticky PR comment: one per mode and key, updated in place. A comment is ours only when both hold:
//! its first line is exactly the hidden marker (`Report::marker()`), and its author is the token's own
//! identity ([`Client::identity`]). Anyone can write the marker into a comment; only the token can author
//! as itself. A comment carrying the marker by anyone else is never adopted, edited or deleted: it stays
//! theirs, and ours is written beside it.
//!
//! Parallel jobs (a matrix) may write the same comment at once. Both may find none and create one; so
//! after creating, the writer lists again, keeps the oldest of *its own* comments carrying the marker,
//! deletes its newer duplicates (a duplicate already deleted by the other writer is fine) and writes its
//! body into the one kept. Whatever the interleaving, exactly one comment of ours remains.
//!
//! The identity of an installation token (the workflow's `GITHUB_TOKEN`, a GitHub App's token) cannot be
//! asked (`GET /user` is refused to it); until a check run or a comment of this run names it, it is taken
//! to be `github-actions[bot]`. Creating a comment settles it: the created comment's author is the token,
//! as GitHub says, and the convergence after the create uses that login.

use http::Method;
use serde::{Deserialize, Serialize};

use super::{Client, GithubError, Identity, IdentitySource};

/// GitHub's cap on a comment body, in characters.
pub const MAX_BODY_CHARS: usize = 65_536;

/// What the upsert did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Created,
    Updated,
    Unchanged,
}

/// The comment we own after an upsert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sticky {
    pub id: u64,
    pub html_url: Option<String>,
    pub action: Action,
    /// Duplicates (from concurrent writers or older runs) that were deleted.
    pub deleted: usize,
}

/// An issue comment as GitHub answers it (the part stevedore reads).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct IssueComment {
    pub id: u64,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub html_url: Option<String>,
    /// The author (`null` for a deleted account).
    #[serde(default)]
    pub user: Option<Author>,
}

/// A comment's author as GitHub answers it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Author {
    pub login: String,
    /// `User` or `Bot`.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
}

/// The body of `POST .../issues/{issue_number}/comments` and `PATCH .../issues/comments/{comment_id}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CommentBody<'a> {
    pub body: &'a str,
}

/// `marker` + `body`, cut to GitHub's limit with a note.
#[must_use]
pub fn compose(marker: &str, body: &str) -> String {
    let full = format!("{marker}\n{body}");
    if full.chars().count() <= MAX_BODY_CHARS {
        return full;
    }
    let note = "\n\n> **Truncated:** this comment reached GitHub's 65,536-character limit; the full report is in the job summary.\n";
    let keep = MAX_BODY_CHARS - note.chars().count();
    let mut s: String = full.chars().take(keep).collect();
    s.push_str(note);
    s
}

/// Whether `body` is one of ours for `marker`: the marker is the body's whole first line, exactly as
/// [`compose`] writes it. A marker anywhere else (quoted, or inside untrusted text of another report,
/// where [`crate::report::markdown::text`] writes it as `&lt;!-- … --&gt;` anyway) does not count.
fn carries(body: &str, marker: &str) -> bool {
    body.strip_prefix(marker)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('\n') || rest.starts_with("\r\n"))
}

/// The comments that are ours for `marker`, oldest first: carrying the marker as their whole first line
/// ([`carries`]) and written by `me`.
fn ours<'a>(comments: &'a [IssueComment], marker: &str, me: &Identity) -> Vec<&'a IssueComment> {
    let mut v: Vec<&IssueComment> = comments
        .iter()
        .filter(|c| c.user.as_ref().is_some_and(|u| me.is(&u.login)))
        .filter(|c| c.body.as_deref().is_some_and(|b| carries(b, marker)))
        .collect();
    v.sort_by_key(|c| c.id);
    v
}

/// Creates or updates the comment carrying `marker` on issue/PR `issue` in `repo`.
pub async fn upsert(
    client: &Client,
    repo: &str,
    issue: u64,
    marker: &str,
    body: &str,
) -> Result<Sticky, GithubError> {
    let list = format!("/repos/{repo}/issues/{issue}/comments");
    let text = compose(marker, body);
    let mut me = client.identity().await?;
    let existing: Vec<IssueComment> = client.get_paged_as(&list).await?;
    let found = ours(&existing, marker, &me);
    let (mut action, created_id) = match found.first() {
        Some(_) => (Action::Updated, None),
        None => {
            let c: IssueComment = client
                .send(Method::POST, &list, &CommentBody { body: &text })
                .await?;
            // GitHub names the author of what we just wrote: that is the token, whatever was assumed.
            if let Some(u) = c.user.as_ref().filter(|u| !me.is(&u.login)) {
                client.learn_identity(&u.login, IdentitySource::Author);
                me = Identity {
                    login: u.login.clone(),
                    source: IdentitySource::Author,
                };
            }
            (Action::Created, Some(c.id))
        }
    };
    // Converge: list again (after our create, another writer's create may be there too).
    let current = if created_id.is_some() {
        client.get_paged_as(&list).await?
    } else {
        existing
    };
    // Only our own duplicates are deleted; a comment carrying the marker by anyone else is left alone.
    let found = ours(&current, marker, &me);
    let Some(keep) = found.first() else {
        // Our own comment vanished (deleted by hand between calls): nothing more to converge on.
        return Err(GithubError::Decode {
            method: "GET".into(),
            route: list,
            message: format!("the comment marked `{marker}` disappeared while being written"),
        });
    };
    let keep_id = keep.id;
    let mut html_url = keep.html_url.clone();
    let keep_body = keep.body.clone().unwrap_or_default();
    let mut deleted = 0;
    for dup in &found[1..] {
        let id = dup.id;
        match client
            .delete(&format!("/repos/{repo}/issues/comments/{id}"))
            .await
        {
            Ok(()) => deleted += 1,
            // The other writer deleted it first.
            Err(e) if e.status() == Some(404) => {}
            Err(e) => return Err(e),
        }
    }
    if created_id == Some(keep_id) {
        return Ok(Sticky {
            id: keep_id,
            html_url,
            action,
            deleted,
        });
    }
    if created_id.is_some() {
        // Our comment was the newer duplicate and is gone; we write into the other writer's.
        action = Action::Updated;
    }
    if keep_body == text {
        if created_id.is_none() {
            action = Action::Unchanged;
        }
    } else {
        let v: IssueComment = client
            .send(
                Method::PATCH,
                &format!("/repos/{repo}/issues/comments/{keep_id}"),
                &CommentBody { body: &text },
            )
            .await?;
        html_url = v.html_url.or(html_url);
    }
    Ok(Sticky {
        id: keep_id,
        html_url,
        action,
        deleted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_cut_to_the_character_limit_with_a_note() {
        let b = compose("<!-- stevedore:lint-gate -->", &"ж".repeat(70_000));
        assert_eq!(b.chars().count(), MAX_BODY_CHARS);
        assert!(b.starts_with("<!-- stevedore:lint-gate -->\n"));
        assert!(b.contains("Truncated"));
        assert_eq!(compose("<!-- m -->", "x"), "<!-- m -->\nx");
    }

    fn bot() -> serde_json::Value {
        serde_json::json!({"login": "github-actions[bot]", "type": "Bot"})
    }

    #[test]
    fn ours_matches_by_marker_line_and_author_oldest_first() {
        let mallory = serde_json::json!({"login": "mallory", "type": "User"});
        let cs: Vec<IssueComment> = serde_json::from_value(serde_json::json!([
            {"id": 9, "body": "<!-- stevedore:deploy -->\nb", "user": bot()},
            {"id": 3, "body": "someone else", "user": bot()},
            {"id": 5, "body": "<!-- stevedore:deploy -->\na", "user": {"login": "GitHub-Actions[bot]", "type": "Bot"}},
            {"id": 7, "body": "<!-- stevedore:deploy:prod -->\na", "user": bot()},
            {"id": 2, "body": "quoted: <!-- stevedore:deploy -->\n", "user": bot()},
            {"id": 4, "body": "<!-- stevedore:lint-gate -->\n`<!-- stevedore:deploy -->`", "user": bot()},
            {"id": 6, "body": "<!-- stevedore:deploy --> and more", "user": bot()},
            {"id": 1, "body": null, "user": bot()},
            // The marker as the whole first line, by someone else: theirs, however old.
            {"id": 0, "body": "<!-- stevedore:deploy -->\nall green", "user": mallory},
            // A deleted account.
            {"id": 8, "body": "<!-- stevedore:deploy -->\nx", "user": null},
            {"id": 10, "body": "<!-- stevedore:deploy -->\r\ny", "user": bot()},
        ]))
        .unwrap();
        let me = Identity {
            login: "github-actions[bot]".into(),
            source: IdentitySource::Assumed,
        };
        let ids: Vec<_> = ours(&cs, "<!-- stevedore:deploy -->", &me)
            .iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(ids, [5, 9, 10]);
        let mallory = Identity {
            login: "mallory".into(),
            source: IdentitySource::User,
        };
        let ids: Vec<_> = ours(&cs, "<!-- stevedore:deploy -->", &mallory)
            .iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(ids, [0]);
    }
}
