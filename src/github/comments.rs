//! The sticky PR comment: one per mode and key, found by its hidden marker (`Report::marker()`), never by
//! author, and updated in place.
//!
//! Parallel jobs (a matrix) may write the same comment at once. Both may find none and create one; so
//! after creating, the writer lists again, keeps the oldest comment carrying the marker, deletes the newer
//! duplicates (a duplicate already deleted by the other writer is fine) and writes its body into the one
//! kept. Whatever the interleaving, exactly one comment remains.

use serde_json::{Value, json};

use super::{Client, GithubError};

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

fn ours<'a>(comments: &'a [Value], marker: &str) -> Vec<&'a Value> {
    let mut v: Vec<&Value> = comments
        .iter()
        .filter(|c| c["body"].as_str().is_some_and(|b| carries(b, marker)))
        .collect();
    v.sort_by_key(|c| c["id"].as_u64().unwrap_or(u64::MAX));
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
    let existing = client.get_paged(&list).await?;
    let found = ours(&existing, marker);
    let (mut action, created_id) = match found.first() {
        Some(_) => (Action::Updated, None),
        None => {
            let c = client.post(&list, &json!({"body": text})).await?;
            (Action::Created, c["id"].as_u64())
        }
    };
    // Converge: list again (after our create, another writer's create may be there too).
    let current = if created_id.is_some() {
        client.get_paged(&list).await?
    } else {
        existing
    };
    let found = ours(&current, marker);
    let Some(keep) = found.first() else {
        // Our own comment vanished (deleted by hand between calls): nothing more to converge on.
        return Err(GithubError::Decode {
            method: "GET".into(),
            route: list,
            message: format!("the comment marked `{marker}` disappeared while being written"),
        });
    };
    let keep_id = keep["id"].as_u64().unwrap_or_default();
    let mut html_url = keep["html_url"].as_str().map(str::to_owned);
    let keep_body = keep["body"].as_str().unwrap_or_default().to_owned();
    let mut deleted = 0;
    for dup in &found[1..] {
        let id = dup["id"].as_u64().unwrap_or_default();
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
        let v = client
            .patch(
                &format!("/repos/{repo}/issues/comments/{keep_id}"),
                &json!({"body": text}),
            )
            .await?;
        html_url = v["html_url"].as_str().map(str::to_owned).or(html_url);
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

    #[test]
    fn ours_matches_by_marker_oldest_first() {
        let cs = vec![
            json!({"id": 9, "body": "<!-- stevedore:deploy -->\nb"}),
            json!({"id": 3, "body": "someone else"}),
            json!({"id": 5, "body": "<!-- stevedore:deploy -->\na"}),
            json!({"id": 7, "body": "<!-- stevedore:deploy:prod -->\na"}),
            json!({"id": 2, "body": "quoted: <!-- stevedore:deploy -->\n"}),
            json!({"id": 4, "body": "<!-- stevedore:lint-gate -->\n`<!-- stevedore:deploy -->`"}),
            json!({"id": 6, "body": "<!-- stevedore:deploy --> and more"}),
        ];
        let ids: Vec<_> = ours(&cs, "<!-- stevedore:deploy -->")
            .iter()
            .map(|c| c["id"].as_u64().unwrap())
            .collect();
        assert_eq!(ids, [5, 9]);
    }
}
