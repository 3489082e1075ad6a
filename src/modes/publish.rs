//! `publish` mode: the next semantic version from conventional commits (a `release:*` label on the merged
//! pull request takes precedence), a changelog, a git tag made through the API and a GitHub release;
//! idempotent on re-run. See `docs/publish.md`.
//!
//! Plan, then apply: [`version`], [`changelog`] and [`plan`] are pure; [`remote`] reads and writes GitHub.
//! Everything is read through the API (tags, the compare API for commits), so a shallow checkout — or no
//! checkout at all — is enough. Only a `dry-run` without the API (no `github-token`, as under act) reads
//! the local clone instead ([`local`]).

pub mod artifacts;
pub mod changelog;
pub mod config;
pub mod ecr;
pub mod local;
pub mod packages;
pub mod plan;
pub mod remote;
pub mod upload;
pub mod version;

pub use config::Config;

use self::config::BranchKind;
use self::plan::{Applied, Decided, Plan};
use self::remote::{RemoteError, Repo};
use self::version::{Commit, Decision, Label, Tag};
use crate::modes::runtime::{ModeError, Runtime};
use crate::report::{Report, Verdict};

/// A first release reads at most this many commits of history for its changelog.
pub const FIRST_RELEASE_HISTORY: usize = 1000;
/// How often a prerelease re-reads the tags after losing a race for its counter.
const COUNTER_ATTEMPTS: usize = 3;

impl crate::modes::runtime::Failure for RemoteError {
    fn is_config(&self) -> bool {
        false
    }
    fn hint(&self) -> Option<String> {
        match self.status() {
            Some(403 | 404) => Some(
                "publish needs `permissions: contents: write` (tags and releases) and `pull-requests: read` (release labels)"
                    .to_owned(),
            ),
            _ => None,
        }
    }
}

/// Where and what this run publishes, from the event.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Target {
    head: String,
    branch: String,
    /// Labels and number of the merged PR, when the event carries it.
    pr: Option<(u64, Vec<String>)>,
}

/// Reads the commit and branch to publish from the context. `Err` is a reason to skip.
fn target(rt: &Runtime<'_>) -> Result<Target, String> {
    let ctx = rt.ctx;
    if let Some(pr) = &ctx.pull_request {
        // `pull_request: types: [closed]`: publish the merge commit on the base branch.
        if !pr.merged {
            // A dry run on an open PR previews what merging it would release (the sticky comment shows it).
            if let (true, Some(head), Some(branch)) =
                (rt.common.dry_run, &pr.head_sha, &pr.base_ref)
            {
                return Ok(Target {
                    head: head.clone(),
                    branch: branch.clone(),
                    pr: Some((pr.number, pr.labels.clone())),
                });
            }
            return Err(format!(
                "pull request #{} is not merged: publish runs after the merge (on `push`, or on `pull_request` `closed` with `merged`); with `dry-run: true` it previews the release instead",
                pr.number
            ));
        }
        let head = ctx
            .event
            .pointer("/pull_request/merge_commit_sha")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| {
                format!(
                    "the event of pull request #{} has no `merge_commit_sha`",
                    pr.number
                )
            })?;
        let branch = pr.base_ref.clone().ok_or_else(|| {
            format!(
                "the event of pull request #{} has no base branch",
                pr.number
            )
        })?;
        return Ok(Target {
            head,
            branch,
            pr: Some((pr.number, pr.labels.clone())),
        });
    }
    if ctx.ref_type == Some(crate::context::RefType::Tag) {
        return Err(format!(
            "the run is for tag `{}`: publish runs on branch pushes and makes the tags itself",
            ctx.ref_name.as_deref().unwrap_or("?")
        ));
    }
    let head = ctx
        .sha
        .clone()
        .ok_or("GITHUB_SHA is not set: publish needs the commit to release")?;
    let branch = ctx
        .ref_name
        .clone()
        .ok_or("GITHUB_REF_NAME is not set: publish needs the branch")?;
    Ok(Target {
        head,
        branch,
        pr: None,
    })
}

/// Runs the mode.
pub async fn run(rt: &Runtime<'_>, cfg: &Config) -> Result<Report, ModeError> {
    let dry_run = rt.common.dry_run;
    let target = match target(rt) {
        Ok(t) => t,
        Err(why) => return Ok(skip_report(rt, &why)),
    };
    let channel = match cfg.branch_kind(&target.branch) {
        BranchKind::Stable => None,
        BranchKind::Channel(c) => Some(c),
        BranchKind::None => {
            return Ok(skip_report(
                rt,
                &format!(
                    "branch `{}` is neither a release branch ({}) nor a prerelease branch ({}); see `release-branches` and `prerelease-branches`",
                    target.branch,
                    cfg.release_branches
                        .iter()
                        .map(|(g, _)| format!("`{g}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    cfg.channels
                        .iter()
                        .map(|c| format!("`{}`→`{}`", c.pattern, c.channel))
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
            ));
        }
    };
    let (Some(client), Some(owner), Some(name)) =
        (rt.github(), rt.ctx.owner.as_deref(), rt.ctx.repo.as_deref())
    else {
        if dry_run {
            return local_dry_run(rt, cfg, &target, channel.as_deref()).await;
        }
        return Err(ModeError::Config {
            message: "publish reads tags and commits through the GitHub API, but there is no `github-token` or no GITHUB_REPOSITORY".into(),
            hint: Some("Keep the default `github-token: ${{ github.token }}` and give the job `permissions: contents: write` (a `dry-run: true` plans from the local clone without them)".into()),
        });
    };
    let repo = Repo::new(&client, owner, name);
    let source = Source::Api(&repo);

    let mut attempt = 0;
    loop {
        attempt += 1;
        let plan = make_plan(rt, cfg, &source, &target, channel.as_deref()).await?;
        if dry_run || matches!(plan.decision, Decided::Skip { .. }) {
            return Ok(report(rt, &plan, None, dry_run));
        }
        match apply(rt, cfg, &repo, &plan).await {
            Ok(applied) => return Ok(report(rt, &plan, applied.as_ref(), false)),
            // Another run took this prerelease counter from a different commit: read the tags again.
            Err(ApplyError::Remote(RemoteError::TagElsewhere { tag, .. }))
                if channel.is_some() && attempt < COUNTER_ATTEMPTS =>
            {
                tracing::warn!(
                    "tag `{tag}` was taken by a parallel run; computing the next counter again"
                );
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Where the plan's tags and commits come from.
enum Source<'s> {
    /// The GitHub API (every real run).
    Api(&'s Repo<'s>),
    /// The local clone, read beforehand into plain data (a `dry-run` without the API).
    Local(&'s local::History),
}

impl Source<'_> {
    /// Commits in `head` since release tag `base` (by name), oldest first, and the head commit's date.
    async fn compare(
        &self,
        base: &str,
        head: &str,
    ) -> Result<(Vec<Commit>, Option<String>), ModeError> {
        match self {
            Source::Api(repo) => Ok(repo.compare(base, head).await?),
            Source::Local(h) => {
                let base = h.tag_commit(base).ok_or_else(|| ModeError::Failed {
                    message: format!("tag `{base}` has no commit in the local clone"),
                    hint: None,
                })?;
                Ok(h.compare(base, head))
            }
        }
    }

    async fn history(
        &self,
        head: &str,
        limit: usize,
    ) -> Result<(Vec<Commit>, Option<String>, bool), ModeError> {
        match self {
            Source::Api(repo) => Ok(repo.history(head, limit).await?),
            Source::Local(h) => Ok(h.history(head, limit)),
        }
    }
}

/// A `dry-run` with no GitHub API (no `github-token` or no GITHUB_REPOSITORY, as under act): the plan from
/// the local clone's tags and commits. The clone is read synchronously, into plain data, before anything
/// else is awaited.
async fn local_dry_run(
    rt: &Runtime<'_>,
    cfg: &Config,
    target: &Target,
    channel: Option<&str>,
) -> Result<Report, ModeError> {
    let workspace = &rt.ctx.workspace;
    let history = local::read(workspace, &cfg.tag_prefix, &target.head).map_err(|e| {
        ModeError::Config {
            message: format!(
                "publish has no GitHub API here (no `github-token` or no GITHUB_REPOSITORY) and cannot plan from the local clone either: {e}"
            ),
            hint: Some("Check the repository out in an earlier step (actions/checkout with `fetch-depth: 0` for the tags), or pass `github-token`".into()),
        }
    })?;
    tracing::info!(
        workspace = %workspace.display(),
        tags = history.tags.len(),
        "no GitHub API: planning from the local clone's tags and commits"
    );
    let mut plan = make_plan(rt, cfg, &Source::Local(&history), target, channel).await?;
    plan.notes.insert(
        0,
        format!(
            "no GitHub API (no `github-token`): the version and changelog come from the local clone's tags and commits in `{}`; a real run reads them from GitHub",
            workspace.display()
        ),
    );
    if history.shallow {
        plan.notes.push(
            "the local clone is shallow: tags and commits before its depth are not seen (actions/checkout with `fetch-depth: 0`)".into(),
        );
    }
    Ok(report(rt, &plan, None, true))
}

/// Reads GitHub (or the local clone) and applies the rules: the plan, with nothing written.
async fn make_plan(
    rt: &Runtime<'_>,
    cfg: &Config,
    source: &Source<'_>,
    target: &Target,
    channel: Option<&str>,
) -> Result<Plan, ModeError> {
    let prefix = &cfg.tag_prefix;
    let tags = match source {
        Source::Api(repo) => {
            let refs = repo.tags(prefix).await?;
            // Only tags that could be this run's own (re-run) need their commit resolved: stable ones and
            // those of this channel, at or above the last stable version.
            let parsed: Vec<Tag> = refs
                .iter()
                .filter_map(|r| Tag::parse(&r.name, prefix, None))
                .collect();
            let top_stable = parsed
                .iter()
                .filter(|t| t.version.pre.is_empty())
                .map(|t| t.version.clone())
                .max();
            repo.release_tags(&refs, prefix, |v| {
                top_stable.as_ref().is_none_or(|s| v >= s)
                    && (v.pre.is_empty()
                        || channel.is_some_and(|ch| {
                            version::channel_counter(v).is_some_and(|(c, _)| c == ch)
                        }))
            })
            .await?
        }
        Source::Local(h) => h.tags.clone(),
    };

    let mut notes = Vec::new();
    let base = version::base_tag(&tags, channel, &target.head).cloned();
    let (commits, date) = match &base {
        Some(b) => source.compare(&b.name, &target.head).await?,
        None => {
            let (cs, date, truncated) = source.history(&target.head, FIRST_RELEASE_HISTORY).await?;
            if truncated {
                notes.push(format!(
                    "first release: only the latest {FIRST_RELEASE_HISTORY} commits were read for the changelog"
                ));
            }
            (cs, date)
        }
    };

    let api = match source {
        Source::Api(repo) => Some(*repo),
        Source::Local(_) => None,
    };
    let label = find_label(cfg, api, target, &commits, &mut notes).await?;
    let decision = version::decide(&version::Input {
        tags: &tags,
        commits: &commits,
        label: label.clone(),
        channel,
        head: &target.head,
        rules: &cfg.rules,
    });
    let tag_of = |v: &semver::Version| {
        tags.iter()
            .find(|t| &t.version == v)
            .map_or_else(|| format!("{prefix}{v}"), |t| t.name.clone())
    };
    let (decided, why) = match decision {
        Decision::Skip { previous, why } => (
            Decided::Skip {
                previous_tag: previous.as_ref().map(&tag_of),
                previous,
            },
            why,
        ),
        Decision::Release {
            version,
            previous,
            rerun,
            why,
        } => {
            let tag = format!("{prefix}{version}");
            let previous_tag = previous.as_ref().map(&tag_of);
            // The changelog covers what is new since the previous version on this line; for a prerelease
            // after another prerelease that is a shorter range than the one the bump was computed from.
            let log_commits = match &previous_tag {
                Some(p) if Some(p) != base.as_ref().map(|b| &b.name) => {
                    source.compare(p, &target.head).await?.0
                }
                _ => commits.clone(),
            };
            let links = changelog::Links {
                repo_url: rt
                    .ctx
                    .repository
                    .as_ref()
                    .map(|r| format!("{}/{r}", rt.ctx.server_url)),
            };
            let changelog = changelog::render(
                &log_commits,
                &cfg.rules,
                &links,
                &tag,
                previous_tag.as_deref(),
                date.as_deref(),
            );
            let floating = (cfg.floating_tag && version.pre.is_empty())
                .then(|| format!("{prefix}{}", version.major));
            let image = cfg.promote_image.as_ref().map(ToString::to_string);
            (
                Decided::Release {
                    version,
                    tag,
                    previous,
                    previous_tag,
                    changelog,
                    rerun,
                    floating,
                    image,
                },
                why,
            )
        }
    };
    Ok(Plan {
        head: target.head.clone(),
        branch: target.branch.clone(),
        channel: channel.map(str::to_owned),
        decision: decided,
        why,
        notes,
    })
}

/// The release label: from the event's PR, else from the PR named in the head commit's message
/// (`(#N)` of a squash merge, `Merge pull request #N`) when GitHub says it was merged as this very commit.
async fn find_label(
    cfg: &Config,
    repo: Option<&Repo<'_>>,
    target: &Target,
    commits: &[Commit],
    notes: &mut Vec<String>,
) -> Result<Option<(Label, String, u64)>, ModeError> {
    let pr = match &target.pr {
        Some(p) => Some(p.clone()),
        None => {
            let head_msg = commits
                .iter()
                .find(|c| c.sha == target.head)
                .map(|c| c.message.clone());
            match (head_msg.and_then(|m| m.pr), repo) {
                (Some(n), None) => {
                    notes.push(format!(
                        "the head commit names #{n}, but without the GitHub API its `release:*` labels are not read"
                    ));
                    None
                }
                (Some(n), Some(repo)) => match repo.merged_pr(n, &target.head).await? {
                    Some(p) => Some((p.number, p.labels)),
                    None => {
                        notes.push(format!(
                            "the head commit names #{n}, but GitHub does not list it as merged as this commit: its labels are not used"
                        ));
                        None
                    }
                },
                (None, _) => None,
            }
        }
    };
    let Some((number, labels)) = pr else {
        return Ok(None);
    };
    match Label::find(&labels, &cfg.label_prefix) {
        Ok(found) => Ok(found.map(|(l, name)| (l, name, number))),
        Err(problem) => Err(ModeError::Failed {
            message: format!("{problem} (#{number})"),
            hint: Some(format!(
                "Keep one of `{p}major`, `{p}minor`, `{p}patch`, `{p}skip` on #{number} and re-run the job",
                p = cfg.label_prefix
            )),
        }),
    }
}

/// Why apply stopped.
#[derive(Debug, thiserror::Error)]
enum ApplyError {
    #[error(transparent)]
    Remote(#[from] RemoteError),
    #[error(transparent)]
    Ecr(#[from] ecr::EcrError),
    #[error(transparent)]
    Aws(#[from] crate::aws::AwsError),
    #[error(transparent)]
    Upload(#[from] upload::UploadError),
}

impl crate::modes::runtime::Failure for ApplyError {
    fn is_config(&self) -> bool {
        match self {
            ApplyError::Aws(a) => a.is_config(),
            ApplyError::Remote(_) | ApplyError::Upload(_) | ApplyError::Ecr(_) => false,
        }
    }
    fn hint(&self) -> Option<String> {
        match self {
            ApplyError::Remote(r) => crate::modes::runtime::Failure::hint(r),
            ApplyError::Aws(a) => a.hint(),
            ApplyError::Upload(e) => e.hint(),
            ApplyError::Ecr(_) => Some(
                "The role needs `ecr:BatchGetImage` and `ecr:PutImage` on the repository; nothing was tagged in git yet"
                    .into(),
            ),
        }
    }
}

/// Looks the image up, writes the tag, tags the image, writes the release and the floating tag; each step
/// finds and keeps what a previous run did.
async fn apply(
    rt: &Runtime<'_>,
    cfg: &Config,
    repo: &Repo<'_>,
    plan: &Plan,
) -> Result<Option<Applied>, ApplyError> {
    let Decided::Release {
        tag,
        changelog,
        floating,
        version,
        ..
    } = &plan.decision
    else {
        return Ok(None);
    };
    // The packages are read, their versions checked, the registries asked and the upload tokens obtained
    // first (no writes): a wrong version, a conflicting upload or a refused exchange stops the run here.
    let mut packages = if cfg.packages.patterns.is_empty() {
        None
    } else {
        Some(upload::prepare(rt.env, rt.cmds, &rt.ctx.workspace, &cfg.packages, version).await?)
    };
    // The image is looked up first (read-only): a missing image stops the run before any write.
    let net = crate::net::Net::from_env(rt.env);
    let image = match (&cfg.promote_image, &cfg.aws) {
        (Some(img), Some(aws_inputs)) => {
            let conn = rt
                .connect_aws(aws_inputs, crate::aws::Purpose::Publish)
                .await?;
            let resolved = ecr::resolve(&conn.sdk, &net, img).await?;
            Some((img, conn, resolved))
        }
        _ => None,
    };
    // The git tag claims the version (a prerelease counter lost to a parallel run is retried from here),
    // and only then does the image get the tag.
    let tag_outcome = repo.create_tag(tag, &plan.head).await?;
    tracing::info!(%tag, ?tag_outcome, "tag");
    let image = match image {
        Some((img, conn, resolved)) => {
            let out = ecr::put_tag(&conn.sdk, &net, img, &resolved, tag).await?;
            tracing::info!(image = %img, ?out, "ECR image promoted");
            Some(out)
        }
        None => None,
    };
    let release = repo
        .upsert_release(tag, &changelog.release_body(), !version.pre.is_empty())
        .await?;
    tracing::info!(url = %release.url, created = release.created, "release");
    let floating = match floating {
        Some(f) => Some((f.clone(), repo.float_tag(f, &plan.head).await?)),
        None => None,
    };
    // Last: a failed upload leaves the tag and release, and a re-run completes the upload.
    let packages = match &mut packages {
        Some(p) => {
            upload::upload(p).await?;
            p.packages.iter().map(upload::Package::published).collect()
        }
        None => Vec::new(),
    };
    Ok(Some(Applied {
        tag: tag_outcome,
        release,
        floating,
        image,
        packages,
    }))
}

fn report(rt: &Runtime<'_>, plan: &Plan, applied: Option<&Applied>, dry_run: bool) -> Report {
    let verdict = match (&plan.decision, applied) {
        (Decided::Skip { .. }, _) => Verdict::Skipped,
        _ => Verdict::Success,
    };
    let mut r = Report::new(
        rt.common.mode,
        verdict,
        plan.title(applied, dry_run),
        plan.summary(applied, dry_run),
    );
    r.key.clone_from(&rt.common.report_key);
    r.outputs = plan.outputs(applied);
    r
}

fn skip_report(rt: &Runtime<'_>, why: &str) -> Report {
    let mut r = Report::new(
        rt.common.mode,
        Verdict::Skipped,
        "no release",
        format!("## ⏭️ publish: no release\n\n{why}\n"),
    );
    r.key.clone_from(&rt.common.report_key);
    for (k, v) in [
        ("version", ""),
        ("previous-version", ""),
        ("tag", ""),
        ("release-url", ""),
        ("released", "false"),
        ("changelog", ""),
        ("packages", "[]"),
    ] {
        r.output(k, v);
    }
    r
}
