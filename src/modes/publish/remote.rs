//! The GitHub side of `publish`: reading tags, commits and the merged PR; writing the tag, the release and the
//! floating major tag. Only documented operations of `github-openapi/api.github.com.subset.json`.
//!
//! Idempotence comes from reading before (or after a refused) write: a tag that already exists at the head
//! is fine, one at another commit is a clear error; a release that exists is updated, never duplicated.

use http::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;

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

pub use crate::github::path_escape as enc;

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

// ---- the bodies, as GitHub's description spells them (only the fields stevedore reads or writes) -----

/// `object` of a git ref or tag object.
#[derive(Clone, Debug, Deserialize)]
struct GitObject {
    sha: String,
    #[serde(rename = "type", default = "commit_type")]
    kind: String,
}

fn commit_type() -> String {
    "commit".to_owned()
}

/// A git ref (`git/ref/{ref}`, `git/matching-refs/{ref}`).
#[derive(Clone, Debug, Deserialize)]
struct GitRef {
    #[serde(rename = "ref")]
    full: String,
    object: GitObject,
}

/// A commit of `compare/{basehead}` or `commits`.
#[derive(Clone, Debug, Deserialize)]
struct CommitItem {
    sha: String,
    commit: CommitDetail,
    #[serde(default)]
    author: Option<Login>,
}

#[derive(Clone, Debug, Deserialize)]
struct CommitDetail {
    message: String,
    #[serde(default)]
    author: Option<GitPerson>,
    #[serde(default)]
    committer: Option<GitPerson>,
}

#[derive(Clone, Debug, Deserialize)]
struct GitPerson {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    date: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
struct Login {
    login: String,
}

/// `compare/{basehead}`.
#[derive(Clone, Debug, Deserialize)]
struct Comparison {
    #[serde(default)]
    total_commits: Option<u64>,
    commits: Vec<CommitItem>,
}

/// `pulls/{pull_number}`.
#[derive(Clone, Debug, Deserialize)]
struct PullRequest {
    #[serde(default)]
    merged_at: Option<String>,
    #[serde(default)]
    merge_commit_sha: Option<String>,
    #[serde(default)]
    labels: Vec<Label>,
}

#[derive(Clone, Debug, Deserialize)]
struct Label {
    name: String,
}

/// A release (`releases`, `releases/tags/{tag}`, `releases/{release_id}`).
#[derive(Clone, Debug, Deserialize)]
struct Release {
    id: u64,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    prerelease: bool,
    html_url: String,
}

/// The body of `POST git/refs`.
#[derive(Clone, Debug, Serialize)]
struct CreateRef<'a> {
    #[serde(rename = "ref")]
    full: String,
    sha: &'a str,
}

/// The body of `PATCH git/refs/{ref}`.
#[derive(Clone, Debug, Serialize)]
struct UpdateRef<'a> {
    sha: &'a str,
    force: bool,
}

/// The body of `POST releases`.
#[derive(Clone, Debug, Serialize)]
struct CreateRelease<'a> {
    tag_name: &'a str,
    name: &'a str,
    body: &'a str,
    prerelease: bool,
    /// `"true"` or `"false"`: a string in GitHub's description.
    make_latest: &'static str,
}

/// The body of `PATCH releases/{release_id}`.
#[derive(Clone, Debug, Serialize)]
struct UpdateRelease<'a> {
    body: &'a str,
    prerelease: bool,
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
            let items: Vec<GitRef> = decode(&next, a.body, &what)?;
            out.extend(items.into_iter().map(Ref::from));
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

    /// The commit an annotated tag object points at (following tags of tags, at most five).
    pub async fn peel(&self, tag_object_sha: &str) -> Result<String, RemoteError> {
        let start = serde_json::json!({ "type": "tag", "sha": tag_object_sha });
        let object = crate::github::follow_tags(self.client, &self.base, start, 5)
            .await
            .map_err(|(sha, e)| api(format!("annotated tag {sha} (git/tags)"))(e))?;
        match object["sha"].as_str() {
            Some(sha) => Ok(sha.to_owned()),
            None => Err(api(format!("annotated tag {tag_object_sha} (git/tags)"))(
                GithubError::Decode {
                    method: "GET".into(),
                    route: format!("{}/git/tags", self.base),
                    message: "the answer names no object SHA".into(),
                },
            )),
        }
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
            let v: Comparison = self
                .client
                .get_as(&format!(
                    "{}/compare/{}...{}?per_page={PER_PAGE}&page={page}",
                    self.base,
                    enc(base, false),
                    enc(head, false)
                ))
                .await
                .map_err(api(&what))?;
            let total = v.total_commits;
            let n = v.commits.len();
            commits.extend(v.commits.into_iter().map(commit_of));
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
            let batch: Vec<CommitItem> = self
                .client
                .get_as(&format!(
                    "{}/commits?sha={}&per_page={PER_PAGE}&page={page}",
                    self.base,
                    enc(head, false)
                ))
                .await
                .map_err(api(&what))?;
            let n = batch.len();
            commits.extend(batch.into_iter().map(commit_of));
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
        let pr: PullRequest = match self
            .client
            .get_as(&format!("{}/pulls/{number}", self.base))
            .await
        {
            Ok(v) => v,
            Err(e) if e.status() == Some(404) => return Ok(None),
            Err(e) => return Err(api(what)(e)),
        };
        if pr.merged_at.is_none() || pr.merge_commit_sha.as_deref() != Some(head) {
            return Ok(None);
        }
        Ok(Some(MergedPr {
            number,
            labels: pr.labels.into_iter().map(|l| l.name).collect(),
        }))
    }

    /// The commit a tag points at, `None` when the tag does not exist.
    pub async fn tag_commit(&self, tag: &str) -> Result<Option<String>, RemoteError> {
        let what = format!("tag `{tag}` (git/ref)");
        let r: GitRef = match self
            .client
            .get_as(&format!(
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
        let r = Ref::from(r);
        if r.object_type == "tag" {
            Ok(Some(self.peel(&r.object_sha).await?))
        } else {
            Ok(Some(r.object_sha))
        }
    }

    /// Creates `refs/tags/<tag>` at `sha`; an existing tag at `sha` is fine, elsewhere an error.
    pub async fn create_tag(&self, tag: &str, sha: &str) -> Result<TagOutcome, RemoteError> {
        let body = CreateRef {
            full: format!("refs/tags/{tag}"),
            sha,
        };
        match self
            .client
            .send::<_, serde::de::IgnoredAny>(
                Method::POST,
                &format!("{}/git/refs", self.base),
                &body,
            )
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
        let create = CreateRelease {
            tag_name: tag,
            name: tag,
            body,
            prerelease,
            make_latest: if prerelease { "false" } else { "true" },
        };
        let what = format!("creation of release `{tag}`");
        match self
            .client
            .send::<_, Release>(Method::POST, &format!("{}/releases", self.base), &create)
            .await
        {
            Ok(v) => Ok(ReleaseOutcome {
                url: v.html_url,
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

    async fn release_by_tag(&self, tag: &str) -> Result<Option<Release>, RemoteError> {
        match self
            .client
            .get_as(&format!("{}/releases/tags/{}", self.base, enc(tag, false)))
            .await
        {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(api(format!("release of tag `{tag}`"))(e)),
        }
    }

    async fn update_release(
        &self,
        existing: &Release,
        tag: &str,
        body: &str,
        prerelease: bool,
    ) -> Result<ReleaseOutcome, RemoteError> {
        let what = format!("update of release `{tag}`");
        let same = existing.body.as_deref() == Some(body) && existing.prerelease == prerelease;
        let url = if same {
            existing.html_url.clone()
        } else {
            let v: Release = self
                .client
                .send(
                    Method::PATCH,
                    &format!("{}/releases/{}", self.base, existing.id),
                    &UpdateRelease { body, prerelease },
                )
                .await
                .map_err(api(&what))?;
            v.html_url
        };
        Ok(ReleaseOutcome {
            url,
            created: false,
        })
    }

    /// Points `refs/tags/<tag>` at `sha`, creating or force-moving it.
    pub async fn float_tag(&self, tag: &str, sha: &str) -> Result<FloatOutcome, RemoteError> {
        match self.tag_commit(tag).await? {
            Some(c) if c == sha => Ok(FloatOutcome::AlreadyThere),
            Some(_) => {
                self.client
                    .send::<_, serde::de::IgnoredAny>(
                        Method::PATCH,
                        &format!(
                            "{}/git/refs/{}",
                            self.base,
                            enc(&format!("tags/{tag}"), true)
                        ),
                        &UpdateRef { sha, force: true },
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

impl From<GitRef> for Ref {
    fn from(r: GitRef) -> Self {
        Ref {
            name: r
                .full
                .strip_prefix("refs/tags/")
                .unwrap_or(&r.full)
                .to_owned(),
            object_sha: r.object.sha,
            object_type: r.object.kind,
        }
    }
}

/// A list answer read as `T`, the wrong shape named with the call.
fn decode<T: serde::de::DeserializeOwned>(
    route: &str,
    body: Value,
    what: &str,
) -> Result<T, RemoteError> {
    serde_json::from_value(body).map_err(|e| {
        api(what)(GithubError::Decode {
            method: "GET".into(),
            route: route.to_owned(),
            message: format!("the answer is not of the documented shape: {e}"),
        })
    })
}

/// A commit of a compare or list response, with its committer date (`YYYY-MM-DD`).
fn commit_of(c: CommitItem) -> (Commit, Option<String>) {
    let author = c
        .author
        .map(|a| format!("@{}", a.login))
        .or_else(|| c.commit.author.as_ref().and_then(|a| a.name.clone()));
    let date = c
        .commit
        .committer
        .as_ref()
        .and_then(|p| p.date.as_deref())
        .or_else(|| c.commit.author.as_ref().and_then(|p| p.date.as_deref()))
        .and_then(|d| d.get(..10))
        .map(str::to_owned);
    (Commit::new(&c.sha, &c.commit.message, author), date)
}

fn commits_date(commits: &[(Commit, Option<String>)]) -> Option<String> {
    commits.last().and_then(|(_, d)| d.clone())
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
