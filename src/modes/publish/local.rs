//! `publish` without the GitHub API (issue 13, item 4): under act there is no token of its own, so a
//! `dry-run` reads the release tags and the commits from the local clone in `GITHUB_WORKSPACE` with gix
//! (no git binary, no network) and computes the same plan from them.
//!
//! Everything is read at once, synchronously, into plain data ([`History`]); the gix `Repository` is
//! dropped before the mode goes on (it is not `Send` and must never live across an `.await`).

use std::collections::{HashMap, HashSet};
use std::path::Path;

use super::version::{Commit, Tag};

/// At most this many commits are read from the local clone.
pub const MAX_COMMITS: usize = 100_000;

/// Failures reading the local clone, naming the path.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("cannot open a git repository at `{path}`: {detail}")]
    Open { path: String, detail: String },
    #[error("the commit to release, `{sha}`, is not in the local clone at `{path}`: {detail}")]
    Head {
        path: String,
        sha: String,
        detail: String,
    },
    #[error("reading the local clone at `{path}`: {detail}")]
    Read { path: String, detail: String },
}

#[derive(Clone, Debug)]
struct Node {
    parents: Vec<String>,
    message: String,
    author: String,
    /// `YYYY-MM-DD` of the committer time.
    date: Option<String>,
}

/// The release tags and the history of the head commit, read from the local clone.
#[derive(Clone, Debug)]
pub struct History {
    /// Release tags (`<prefix><semver>`), each with the commit it points at.
    pub tags: Vec<Tag>,
    /// Whether the clone is shallow (its history, and so the changelog, may be cut short).
    pub shallow: bool,
    /// Whether more than [`MAX_COMMITS`] commits were reachable.
    pub truncated: bool,
    nodes: HashMap<String, Node>,
}

/// Reads the release tags starting with `prefix` and the history of `head` from the repository at
/// `workspace` (reduced trust, no system or global configuration, like lint-gate's generated-files check).
pub fn read(workspace: &Path, prefix: &str, head: &str) -> Result<History, LocalError> {
    let path = workspace.display().to_string();
    let read_err = |detail: String| LocalError::Read {
        path: path.clone(),
        detail,
    };
    let repo = gix::open::Options::isolated()
        .with(gix::sec::Trust::Reduced)
        .open(workspace)
        .map_err(|e| LocalError::Open {
            path: path.clone(),
            detail: e.to_string(),
        })?
        .to_thread_local();
    let shallow = repo.is_shallow().map_err(|e| read_err(e.to_string()))?;

    let mut tags = Vec::new();
    let platform = repo.references().map_err(|e| read_err(e.to_string()))?;
    for r in platform.tags().map_err(|e| read_err(e.to_string()))? {
        let mut r = r.map_err(|e| read_err(e.to_string()))?;
        let name = r.name().shorten().to_string();
        if !name.starts_with(prefix) {
            continue;
        }
        let id = r
            .peel_to_id()
            .map_err(|e| read_err(format!("tag `{name}`: {e}")))?;
        if let Some(t) = Tag::parse(&name, prefix, Some(id.to_string())) {
            tags.push(t);
        }
    }

    let head_id = gix::ObjectId::from_hex(head.as_bytes()).map_err(|e| LocalError::Head {
        path: path.clone(),
        sha: head.to_owned(),
        detail: e.to_string(),
    })?;
    if repo.find_commit(head_id).is_err() {
        return Err(LocalError::Head {
            path,
            sha: head.to_owned(),
            detail: "check out the commit being released (actions/checkout with `fetch-depth: 0`)"
                .into(),
        });
    }
    let mut nodes = HashMap::new();
    let mut queue = vec![head_id];
    let mut truncated = false;
    while let Some(id) = queue.pop() {
        let sha = id.to_string();
        if nodes.contains_key(&sha) {
            continue;
        }
        if nodes.len() >= MAX_COMMITS {
            truncated = true;
            break;
        }
        // A shallow clone ends where its parents are missing.
        let Ok(commit) = repo.find_commit(id) else {
            continue;
        };
        let parents: Vec<gix::ObjectId> = commit.parent_ids().map(gix::Id::detach).collect();
        let message = commit
            .message_raw()
            .map_err(|e| read_err(format!("commit {sha}: {e}")))?
            .to_string();
        let author = commit
            .author()
            .map(|a| a.name.to_string())
            .unwrap_or_default();
        let date = commit
            .time()
            .ok()
            .and_then(|t| t.format(gix::date::time::format::SHORT).ok());
        queue.extend(parents.iter().copied());
        nodes.insert(
            sha,
            Node {
                parents: parents.iter().map(ToString::to_string).collect(),
                message,
                author,
                date,
            },
        );
    }
    Ok(History {
        tags,
        shallow,
        truncated,
        nodes,
    })
}

impl History {
    /// Commits reachable from `from` (within what was read), parents before children.
    fn oldest_first(&self, from: &str, exclude: &HashSet<&str>) -> Vec<&str> {
        let mut out = Vec::new();
        let mut done: HashSet<&str> = HashSet::new();
        // Iterative post-order: a commit is emitted after all its parents.
        let mut stack: Vec<(&str, bool)> = vec![(from, false)];
        while let Some((sha, expanded)) = stack.pop() {
            let Some((key, node)) = self.nodes.get_key_value(sha) else {
                continue;
            };
            let key = key.as_str();
            if done.contains(key) || exclude.contains(key) {
                continue;
            }
            if expanded {
                done.insert(key);
                out.push(key);
                continue;
            }
            stack.push((key, true));
            for p in node.parents.iter().rev() {
                if !done.contains(p.as_str()) {
                    stack.push((p.as_str(), false));
                }
            }
        }
        out
    }

    fn commit(&self, sha: &str) -> Option<Commit> {
        let n = self.nodes.get(sha)?;
        Some(Commit::new(
            sha,
            &n.message,
            (!n.author.is_empty()).then(|| n.author.clone()),
        ))
    }

    fn date(&self, sha: &str) -> Option<String> {
        self.nodes.get(sha).and_then(|n| n.date.clone())
    }

    /// The commit of release tag `name`.
    #[must_use]
    pub fn tag_commit(&self, name: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|t| t.name == name)
            .and_then(|t| t.commit.as_deref())
    }

    /// Commits in `head` that are not in `base` (a commit id), oldest first, and the head commit's date:
    /// what the compare API answers for `base...head`.
    #[must_use]
    pub fn compare(&self, base: &str, head: &str) -> (Vec<Commit>, Option<String>) {
        let ancestors: HashSet<&str> = self
            .oldest_first(base, &HashSet::new())
            .into_iter()
            .collect();
        let commits = self
            .oldest_first(head, &ancestors)
            .into_iter()
            .filter_map(|s| self.commit(s))
            .collect();
        (commits, self.date(head))
    }

    /// The latest `limit` commits of `head`, oldest first, its date, and whether more were left out.
    #[must_use]
    pub fn history(&self, head: &str, limit: usize) -> (Vec<Commit>, Option<String>, bool) {
        let all = self.oldest_first(head, &HashSet::new());
        let cut = all.len().saturating_sub(limit);
        let commits = all[cut..].iter().filter_map(|s| self.commit(s)).collect();
        (commits, self.date(head), cut > 0 || self.truncated)
    }
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "Octo Cat")
            .env("GIT_AUTHOR_EMAIL", "octocat@example.com")
            .env("GIT_COMMITTER_NAME", "Octo Cat")
            .env("GIT_COMMITTER_EMAIL", "octocat@example.com")
            .env("GIT_AUTHOR_DATE", "2026-03-04T05:06:07Z")
            .env("GIT_COMMITTER_DATE", "2026-03-04T05:06:07Z")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .expect("git");
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    fn commit(dir: &Path, msg: &str) -> String {
        git(dir, &["commit", "-q", "--allow-empty", "-m", msg]);
        git(dir, &["rev-parse", "HEAD"])
    }

    #[test]
    fn tags_and_the_range_since_the_last_tag_come_from_the_local_clone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        git(d, &["init", "-q", "-b", "main"]);
        let first = commit(d, "chore: init");
        git(d, &["tag", "v1.0.0"]);
        git(d, &["tag", "-a", "v1.1.0-rc.1", "-m", "an annotated tag"]);
        git(d, &["tag", "not-a-release"]);
        let second = commit(d, "feat(api): orders endpoint");
        let head = commit(d, "fix: a typo\n\nBREAKING CHANGE: none really");

        let h = read(d, "v", &head).expect("read");
        let mut names: Vec<(&str, &str)> = h
            .tags
            .iter()
            .map(|t| (t.name.as_str(), t.commit.as_deref().unwrap_or("")))
            .collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [("v1.0.0", first.as_str()), ("v1.1.0-rc.1", first.as_str())],
            "release tags only, annotated ones peeled to their commit"
        );
        assert!(!h.shallow);

        let (commits, date) = h.compare(&first, &head);
        let shas: Vec<&str> = commits.iter().map(|c| c.sha.as_str()).collect();
        assert_eq!(
            shas,
            [second.as_str(), head.as_str()],
            "oldest first, the base left out"
        );
        let conventional = |c: &Commit| match &c.message.kind {
            crate::conventional::Kind::Conventional(k) => Some(k.clone()),
            _ => None,
        };
        assert_eq!(
            conventional(&commits[0]).and_then(|k| k.scope).as_deref(),
            Some("api")
        );
        assert!(conventional(&commits[1]).is_some_and(|k| k.breaking));
        assert_eq!(commits[0].author.as_deref(), Some("Octo Cat"));
        assert_eq!(date.as_deref(), Some("2026-03-04"));

        let (all, _, truncated) = h.history(&head, 2);
        assert!(truncated);
        assert_eq!(
            all.iter().map(|c| c.sha.as_str()).collect::<Vec<_>>(),
            [second.as_str(), head.as_str()],
            "the latest two"
        );
        let (all, _, truncated) = h.history(&head, 10);
        assert!(!truncated);
        assert_eq!(all.len(), 3);
    }

    #[test]
    fn a_head_that_is_not_in_the_clone_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        git(dir.path(), &["init", "-q", "-b", "main"]);
        commit(dir.path(), "chore: init");
        let missing = "0123456789abcdef0123456789abcdef01234567";
        let e = read(dir.path(), "v", missing).expect_err("missing head");
        assert!(e.to_string().contains(missing), "{e}");
        let e = read(&dir.path().join("nope"), "v", missing).expect_err("no repository");
        assert!(
            e.to_string().contains("cannot open a git repository"),
            "{e}"
        );
    }
}
