//! The GitHub side of `publish`: reading tags, commits and the merged PR; writing the tag, the release and the
//! floating major tag. Only documented operations of `github-openapi/api.github.com.subset.json`.
//!
//! Idempotence comes from reading before (or after a refused) write: a tag that already exists at the head
//! is fine, one at another commit is a clear error; a release that exists is updated, never duplicated.

use http::Method;
use serde_json::{Value, json};

use super::plan::{FloatOutcome, ReleaseOutcome, TagOutcome};
use super::version::{Commit, Tag};
use crate::github::{Client, GithubError, next_link};

/// Failures talking to GitHub, naming the call and what to check.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("GitHub {what} failed: {source}")]
    Api {
        what: String,
        #[source]
        source: Box<GithubError>,
    },
    #[error("GitHub {what} answered without `{field}`")]
    Shape { what: String, field: &'static str },
    #[error(
        "tag `{tag}` already exists at commit {existing}, not at the commit being released ({head}); \
         another run released this version from a different commit. Re-run the workflow on the newer commit, \
         or delete the tag if it was made by mistake"
    )]
    TagElsewhere {
        tag: String,
        existing: String,
        head: String,
    },
}

impl RemoteError {
    /// The HTTP status of an API failure.
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        match self {
            RemoteError::Api { source, .. } => source.status(),
            _ => None,
        }
    }
}

fn api(what: impl Into<String>) -> impl FnOnce(GithubError) -> RemoteError {
    let what = what.into();
    move |source| RemoteError::Api {
        what,
        source: Box::new(source),
    }
}

/// Percent-encodes a path segment; `/` is kept when `keep_slash` (git ref names).
#[must_use]
pub fn enc(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'.' | b'_' | b'~')
            || (keep_slash && b == b'/');
        if keep {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Page size for list calls (GitHub's maximum).
const PER_PAGE: usize = 100;

/// A repository seen through the API.
#[derive(Debug)]
pub struct Repo<'a> {
    pub client: &'a Client,
    /// `/repos/{owner}/{repo}`.
    pub base: String,
}

/// A git ref as the API returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ref {
    /// Name without `refs/tags/`.
    pub name: String,
    pub object_sha: String,
    /// `commit` (lightweight tag) or `tag` (annotated).
    pub object_type: String,
}

/// The merged pull request of the head commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MergedPr {
    pub number: u64,
    pub labels: Vec<String>,
}

impl<'a> Repo<'a> {
    #[must_use]
    pub fn new(client: &'a Client, owner: &str, repo: &str) -> Self {
        Self {
            client,
            base: format!("/repos/{}/{}", enc(owner, false), enc(repo, false)),
        }
    }

    /// Every tag whose name starts with `prefix`.
    pub async fn tags(&self, prefix: &str) -> Result<Vec<Ref>, RemoteError> {
        let what = format!("list of tags starting with `{prefix}` (git/matching-refs)");
        let route = format!(
            "{}/git/matching-refs/{}",
            self.base,
            enc(&format!("tags/{prefix}"), true)
        );
        // The operation documents no `per_page`, but GitHub pages long answers with `Link`: follow it.
        let mut next = route;
        let mut out = Vec::new();
        for _ in 0..1000 {
            let a = self
                .client
                .request(Method::GET, &next, None)
                .await
                .map_err(api(&what))?;
            let items = a.body.as_array().ok_or(RemoteError::Shape {
                what: what.clone(),
                field: "[]",
            })?;
            for r in items {
                out.push(parse_ref(r, &what)?);
            }
            match next_link(&a.headers) {
                Some(n) => next = n,
                None => break,
            }
        }
        Ok(out)
    }

    /// Release tags with their commits resolved where `need` says so (annotated tags cost one call each).
    pub async fn release_tags(
        &self,
        refs: &[Ref],
        prefix: &str,
        need: impl Fn(&semver::Version) -> bool,
    ) -> Result<Vec<Tag>, RemoteError> {
        let mut out = Vec::new();
        for r in refs {
            let Some(mut t) = Tag::parse(&r.name, prefix, None) else {
                continue;
            };
            if r.object_type == "commit" {
                t.commit = Some(r.object_sha.clone());
            } else if need(&t.version) {
                t.commit = Some(self.peel(&r.object_sha).await?);
            }
            out.push(t);
        }
        Ok(out)
    }

    /// The commit an annotated tag object points at (following tags of tags).
    pub async fn peel(&self, tag_object_sha: &str) -> Result<String, RemoteError> {
        let mut sha = tag_object_sha.to_owned();
        for _ in 0..5 {
            let what = format!("annotated tag {sha} (git/tags)");
            let v = self
                .client
                .get(&format!("{}/git/tags/{}", self.base, enc(&sha, false)))
                .await
                .map_err(api(&what))?;
            let ty = v.pointer("/object/type").and_then(Value::as_str);
            let next = v
                .pointer("/object/sha")
                .and_then(Value::as_str)
                .ok_or(RemoteError::Shape {
                    what: what.clone(),
                    field: "object.sha",
                })?
                .to_owned();
            if ty == Some("tag") {
                sha = next;
            } else {
                return Ok(next);
            }
        }
        Ok(sha)
    }

    /// Commits in `head` since `base` (merge-base based), oldest first, via the compare API: works on
    /// shallow checkouts since nothing is read from the local clone. Also the head commit's date.
    pub async fn compare(
        &self,
        base: &str,
        head: &str,
    ) -> Result<(Vec<Commit>, Option<String>), RemoteError> {
        let what = format!("comparison {base}...{head}");
        let mut commits = Vec::new();
        let mut page = 1;
        loop {
            let v = self
                .client
                .get(&format!(
                    "{}/compare/{}...{}?per_page={PER_PAGE}&page={page}",
                    self.base,
                    enc(base, false),
                    enc(head, false)
                ))
                .await
                .map_err(api(&what))?;
            let total = v.get("total_commits").and_then(Value::as_u64);
            let batch = v
                .get("commits")
                .and_then(Value::as_array)
                .ok_or(RemoteError::Shape {
                    what: what.clone(),
                    field: "commits",
                })?;
            let n = batch.len();
            commits.extend(batch.iter().filter_map(commit_of));
            let done = n < PER_PAGE || total.is_some_and(|t| commits.len() as u64 >= t);
            if done || n == 0 {
                break;
            }
            page += 1;
        }
        let date = commits_date(&commits);
        Ok((commits.into_iter().map(|(c, _)| c).collect(), date))
    }

    /// The history of `head`, oldest first, at most `limit` commits (a first release has no base tag).
    pub async fn history(
        &self,
        head: &str,
        limit: usize,
    ) -> Result<(Vec<Commit>, Option<String>, bool), RemoteError> {
        let what = format!("commit list of {head}");
        let mut commits = Vec::new();
        let mut page = 1;
        let mut truncated = false;
        loop {
            let v = self
                .client
                .get(&format!(
                    "{}/commits?sha={}&per_page={PER_PAGE}&page={page}",
                    self.base,
                    enc(head, false)
                ))
                .await
                .map_err(api(&what))?;
            let batch = v.as_array().ok_or(RemoteError::Shape {
                what: what.clone(),
                field: "[]",
            })?;
            let n = batch.len();
            commits.extend(batch.iter().filter_map(commit_of));
            if commits.len() > limit {
                truncated = true;
                commits.truncate(limit);
                break;
            }
            if n < PER_PAGE {
                break;
            }
            page += 1;
        }
        // The list is newest first.
        let date = commits.first().and_then(|(_, d)| d.clone());
        commits.reverse();
        Ok((
            commits.into_iter().map(|(c, _)| c).collect(),
            date,
            truncated,
        ))
    }

    /// The merged pull request `number`, if its merge commit is `head`.
    pub async fn merged_pr(
        &self,
        number: u64,
        head: &str,
    ) -> Result<Option<MergedPr>, RemoteError> {
        let what = format!("pull request #{number}");
        let v = match self
            .client
            .get(&format!("{}/pulls/{number}", self.base))
            .await
        {
            Ok(v) => v,
            Err(e) if e.status() == Some(404) => return Ok(None),
            Err(e) => return Err(api(what)(e)),
        };
        let merged = v.get("merged_at").is_some_and(|m| !m.is_null());
        let merge_sha = v.get("merge_commit_sha").and_then(Value::as_str);
        if !merged || merge_sha != Some(head) {
            return Ok(None);
        }
        Ok(Some(MergedPr {
            number,
            labels: label_names(&v),
        }))
    }

    /// The commit a tag points at, `None` when the tag does not exist.
    pub async fn tag_commit(&self, tag: &str) -> Result<Option<String>, RemoteError> {
        let what = format!("tag `{tag}` (git/ref)");
        let v = match self
            .client
            .get(&format!(
                "{}/git/ref/{}",
                self.base,
                enc(&format!("tags/{tag}"), true)
            ))
            .await
        {
            Ok(v) => v,
            Err(e) if e.status() == Some(404) => return Ok(None),
            Err(e) => return Err(api(what)(e)),
        };
        let r = parse_ref(&v, &what)?;
        if r.object_type == "tag" {
            Ok(Some(self.peel(&r.object_sha).await?))
        } else {
            Ok(Some(r.object_sha))
        }
    }

    /// Creates `refs/tags/<tag>` at `sha`; an existing tag at `sha` is fine, elsewhere an error.
    pub async fn create_tag(&self, tag: &str, sha: &str) -> Result<TagOutcome, RemoteError> {
        let body = json!({"ref": format!("refs/tags/{tag}"), "sha": sha});
        match self
            .client
            .post(&format!("{}/git/refs", self.base), &body)
            .await
        {
            Ok(_) => Ok(TagOutcome::Created),
            // 422 "Reference already exists": find out where it points.
            Err(e) if e.status() == Some(422) => match self.tag_commit(tag).await? {
                Some(existing) if existing == sha => Ok(TagOutcome::Existed),
                Some(existing) => Err(RemoteError::TagElsewhere {
                    tag: tag.to_owned(),
                    existing,
                    head: sha.to_owned(),
                }),
                None => Err(api(format!("creation of tag `{tag}` (git/refs)"))(e)),
            },
            Err(e) => Err(api(format!("creation of tag `{tag}` (git/refs)"))(e)),
        }
    }

    /// Creates the release of `tag`, or updates it when it exists (a re-run, or a parallel run).
    pub async fn upsert_release(
        &self,
        tag: &str,
        body: &str,
        prerelease: bool,
    ) -> Result<ReleaseOutcome, RemoteError> {
        if let Some(existing) = self.release_by_tag(tag).await? {
            return self.update_release(&existing, tag, body, prerelease).await;
        }
        let create = json!({
            "tag_name": tag,
            "name": tag,
            "body": body,
            "prerelease": prerelease,
            "make_latest": if prerelease { "false" } else { "true" },
        });
        let what = format!("creation of release `{tag}`");
        match self
            .client
            .post(&format!("{}/releases", self.base), &create)
            .await
        {
            Ok(v) => Ok(ReleaseOutcome {
                url: html_url(&v, &what)?,
                created: true,
            }),
            // Another run created it between our read and our write.
            Err(e) if e.status() == Some(422) => match self.release_by_tag(tag).await? {
                Some(existing) => self.update_release(&existing, tag, body, prerelease).await,
                None => Err(api(what)(e)),
            },
            Err(e) => Err(api(what)(e)),
        }
    }

    async fn release_by_tag(&self, tag: &str) -> Result<Option<Value>, RemoteError> {
        match self
            .client
            .get(&format!("{}/releases/tags/{}", self.base, enc(tag, false)))
            .await
        {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(api(format!("release of tag `{tag}`"))(e)),
        }
    }

    async fn update_release(
        &self,
        existing: &Value,
        tag: &str,
        body: &str,
        prerelease: bool,
    ) -> Result<ReleaseOutcome, RemoteError> {
        let what = format!("update of release `{tag}`");
        let id = existing
            .get("id")
            .and_then(Value::as_u64)
            .ok_or(RemoteError::Shape {
                what: what.clone(),
                field: "id",
            })?;
        let same = existing.get("body").and_then(Value::as_str) == Some(body)
            && existing.get("prerelease").and_then(Value::as_bool) == Some(prerelease);
        let v = if same {
            existing.clone()
        } else {
            self.client
                .patch(
                    &format!("{}/releases/{id}", self.base),
                    &json!({"body": body, "prerelease": prerelease}),
                )
                .await
                .map_err(api(&what))?
        };
        Ok(ReleaseOutcome {
            url: html_url(&v, &what)?,
            created: false,
        })
    }

    /// Points `refs/tags/<tag>` at `sha`, creating or force-moving it.
    pub async fn float_tag(&self, tag: &str, sha: &str) -> Result<FloatOutcome, RemoteError> {
        match self.tag_commit(tag).await? {
            Some(c) if c == sha => Ok(FloatOutcome::AlreadyThere),
            Some(_) => {
                self.client
                    .patch(
                        &format!(
                            "{}/git/refs/{}",
                            self.base,
                            enc(&format!("tags/{tag}"), true)
                        ),
                        &json!({"sha": sha, "force": true}),
                    )
                    .await
                    .map_err(api(format!("move of floating tag `{tag}`")))?;
                Ok(FloatOutcome::Moved)
            }
            None => {
                self.create_tag(tag, sha).await?;
                Ok(FloatOutcome::Created)
            }
        }
    }
}

fn parse_ref(v: &Value, what: &str) -> Result<Ref, RemoteError> {
    let shape = |field| RemoteError::Shape {
        what: what.to_owned(),
        field,
    };
    let full = v.get("ref").and_then(Value::as_str).ok_or(shape("ref"))?;
    Ok(Ref {
        name: full.strip_prefix("refs/tags/").unwrap_or(full).to_owned(),
        object_sha: v
            .pointer("/object/sha")
            .and_then(Value::as_str)
            .ok_or(shape("object.sha"))?
            .to_owned(),
        object_type: v
            .pointer("/object/type")
            .and_then(Value::as_str)
            .unwrap_or("commit")
            .to_owned(),
    })
}

/// A commit of a compare or list response, with its committer date (`YYYY-MM-DD`).
fn commit_of(v: &Value) -> Option<(Commit, Option<String>)> {
    let sha = v.get("sha").and_then(Value::as_str)?;
    let message = v.pointer("/commit/message").and_then(Value::as_str)?;
    let author = v
        .pointer("/author/login")
        .and_then(Value::as_str)
        .map(|l| format!("@{l}"))
        .or_else(|| {
            v.pointer("/commit/author/name")
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
    let date = v
        .pointer("/commit/committer/date")
        .or_else(|| v.pointer("/commit/author/date"))
        .and_then(Value::as_str)
        .and_then(|d| d.get(..10))
        .map(str::to_owned);
    Some((Commit::new(sha, message, author), date))
}

fn commits_date(commits: &[(Commit, Option<String>)]) -> Option<String> {
    commits.last().and_then(|(_, d)| d.clone())
}

fn label_names(pr: &Value) -> Vec<String> {
    pr.get("labels")
        .and_then(Value::as_array)
        .map(|ls| {
            ls.iter()
                .filter_map(|l| l.get("name").and_then(Value::as_str))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn html_url(v: &Value, what: &str) -> Result<String, RemoteError> {
    v.get("html_url")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or(RemoteError::Shape {
            what: what.to_owned(),
            field: "html_url",
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(enc("tags/app/v1.0.0", true), "tags/app/v1.0.0");
        assert_eq!(enc("app/v1.0.0+b", false), "app%2Fv1.0.0%2Bb");
    }
}
