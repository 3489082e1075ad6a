//! `promote-from`: put in place here exactly the artifact another environment runs (docs/promotion.md).
//!
//! The source environment's latest GitHub Deployment of this target's line ([`Target::counterpart`]:
//! the same ECS or ECS Express services, the same Lambda function, an App Runner service) names the
//! artifact. It is promoted only when that deployment succeeded (not failed, not still in progress) and
//! checks out the way a rollback's release does: its commit is traced to its ref, which the trigger
//! policy allows to deploy to the source environment and to this one ([`super::rollback::check_commit`]),
//! and its artifact passes this target's [`Target::check_release`] against what is live here. The
//! payload is never believed on its own: anyone with `deployments: write` can write one.
//!
//! The release is then handed to [`Target::restore`] — the same run as a rollback: the target's plan (a
//! dry run stops there), apply, follow, health, roll back on failure — and the new deployment records
//! the same artifact with `promoted_from` (the source environment) and `restored_from` (its deployment).
//!
//! Across accounts (the source environment's account, from `environments`, is not this step's): the
//! source environment's role is assumed ([`crate::aws::connect_environment`]), the release is verified
//! against what is live in that account, and the target copies the artifact into this account and
//! deploys it as a new release ([`Target::promote_across`]): Lambda its recorded S3 zip, by its code
//! hash; App Runner and ECS Express the image, ECS each container's image, by digest into this
//! account's registry. A target that cannot copy refuses first ([`Target::across_accounts`]).
//!
//! This module names no target.

use super::record::Restore;
use super::rollback::{Checks, check_commit, short};
use super::target::{NEW_RELEASE_INPUTS, Target};
use crate::aws::Purpose;
use crate::github::deployments::{self, DeploymentResponse, FindError, Record, Release};
use crate::inputs::{Input, Inputs};
use crate::modes::runtime::{ModeError, Runtime};
use crate::report::Report;
use crate::report::markdown::{code_span, text};

/// Pages of the source environment's deployments read at most (100 each) to find its latest release of
/// this target.
const MAX_PAGES: usize = 10;

/// Parses `promote-from` (`raw`, read by `deploy::Config::parse`); `None` when unset. Records an error
/// for a bad name, for `rollback-to` or `preview: true` given too, and for each input that describes a
/// new release (all at once; with `rollback-to` those are already named by its parser) — except
/// `s3-bucket` on a Lambda step (`lambda`: `function-name` given), where a release of another account
/// is copied.
pub fn parse(
    p: &mut Inputs<'_>,
    raw: Option<&str>,
    rollback_to: bool,
    preview: bool,
    lambda: bool,
) -> Option<String> {
    let raw = raw?;
    let name = raw.trim();
    let mut ok = true;
    if let Err(problem) = crate::names::check(name) {
        p.error(
            Input::PromoteFrom,
            Some(crate::names::visible(raw).as_str()),
            format!("is not an environment name: it {problem}"),
            "Name the environment whose release this step deploys, e.g. `promote-from: staging`",
        );
        ok = false;
    }
    if rollback_to {
        p.error(
            Input::PromoteFrom,
            Some(name),
            "is set together with `rollback-to`; a step either promotes another environment's release or restores one of its own",
            "Remove `rollback-to` (to promote) or `promote-from` (to roll back)",
        );
        return None;
    }
    for (input, what) in NEW_RELEASE_INPUTS {
        if lambda && input == Input::S3Bucket {
            continue;
        }
        if let Some(given) = p.string(input) {
            p.error(
                input,
                Some(&given),
                format!(
                    "is set together with `promote-from`; a promotion deploys exactly what environment `{name}` runs, {what} included"
                ),
                format!(
                    "Remove `{input}` from the promotion step (or remove `promote-from` to deploy a new release)"
                ),
            );
        }
    }
    if preview {
        p.error(
            Input::Preview,
            Some("true"),
            "is set together with `promote-from`; previews are deployed from the pull request, not promoted",
            "Remove `preview: true` from the promotion step",
        );
    }
    ok.then(|| name.to_owned())
}

/// The newest deployment of the source environment that records a release of this target's line.
struct Latest {
    deployment: DeploymentResponse,
    payload: deployments::Payload,
    /// The record as the source wrote it.
    recorded: deployments::Target,
    /// Its statuses, newest first.
    states: Vec<String>,
}

/// What the walk over the source environment's deployments saw.
#[derive(Default)]
struct Seen {
    latest: Option<Latest>,
    examined: usize,
}

/// Reads `environment`'s deployments newest first (a page at a time) to the first whose stevedore
/// payload records a target `ours` accepts, and that deployment's statuses.
async fn latest(
    client: &crate::github::Client,
    repository: &str,
    environment: &str,
    ours: &(dyn Fn(&deployments::Target) -> bool + Sync),
) -> Result<Seen, crate::github::GithubError> {
    let mut seen = Seen::default();
    let escaped: String = url::form_urlencoded::byte_serialize(environment.as_bytes()).collect();
    let mut next = format!("/repos/{repository}/deployments?environment={escaped}&per_page=100");
    for _ in 0..MAX_PAGES {
        let answer = client.request(reqwest::Method::GET, &next, None).await?;
        let page: Vec<DeploymentResponse> = serde_json::from_value(answer.body).map_err(|e| {
            crate::github::GithubError::Decode {
                method: "GET".into(),
                route: next.clone(),
                message: format!("not a list of deployments: {e}"),
            }
        })?;
        for d in page {
            seen.examined += 1;
            let Some(payload) = d.stevedore_payload() else {
                continue;
            };
            let Some(recorded) = payload.target.clone().filter(|t| ours(t)) else {
                continue;
            };
            let route = format!(
                "/repos/{repository}/deployments/{}/statuses?per_page=100",
                d.id
            );
            let statuses = client.get(&route).await?;
            let states = statuses
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s["state"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            seen.latest = Some(Latest {
                deployment: d,
                payload,
                recorded,
                states,
            });
            return Ok(seen);
        }
        match crate::github::next_link(&answer.headers) {
            Some(n) => next = n,
            None => break,
        }
    }
    Ok(seen)
}

/// Why the latest deployment's statuses (newest first) do not make it promotable, if they do not.
fn not_promotable(states: &[String]) -> Option<String> {
    if deployments::is_good(states) {
        return None;
    }
    let history = if states.is_empty() {
        "no status".to_owned()
    } else {
        states.iter().rev().cloned().collect::<Vec<_>>().join(" → ")
    };
    Some(if states.iter().any(|s| s == "failure" || s == "error") {
        format!("failed (statuses {history})")
    } else if states.first().is_some_and(|s| s == "inactive") {
        format!("never succeeded (statuses {history})")
    } else {
        format!("is still in progress (statuses {history})")
    })
}

/// A refusal of the source's release (exit 2), naming the input.
fn refusal(message: String, hint: impl Into<String>) -> ModeError {
    ModeError::Config {
        message: format!("input `promote-from`: {message}"),
        hint: Some(hint.into()),
    }
}

/// Runs the promotion on `target`: connect, find the source environment's latest release of this
/// target, refuse it with the reason unless it succeeded and checks out here, and hand it to the
/// target's restore.
pub async fn run<T: Target>(rt: &Runtime<'_>, target: &T, from: &str) -> Result<Report, ModeError> {
    let aws = rt.connect_aws(target.aws(), Purpose::Deploy).await?;
    let here = target.environment(&aws);
    let what = target.what();
    if crate::names::same(from, &here) {
        return Err(refusal(
            format!("names `{from}`, the environment this step deploys to"),
            "Name the environment the release comes from, e.g. `promote-from: staging` in the production job",
        ));
    }
    let across = target
        .aws()
        .environments
        .as_ref()
        .and_then(|envs| envs.get(from))
        .and_then(|t| {
            t.account_id
                .clone()
                .or_else(|| crate::policy::account_of(&t.role).map(str::to_owned))
        })
        .filter(|a| *a != aws.account_id);
    if let Some(account) = &across
        && let Some((why, hint)) = target.across_accounts()
    {
        return Err(refusal(
            format!(
                "environment `{from}` is in account `{account}` and this step deploys to account `{}`; {why}",
                aws.account_id
            ),
            hint,
        ));
    }
    let Some(client) = rt.github() else {
        return Err(refusal(
            format!(
                "the release of environment `{from}` is read from its GitHub Deployments, and there is no `github-token` (or no GITHUB_REPOSITORY)"
            ),
            "Pass `github-token: ${{ github.token }}` (the default) with `permissions: deployments: write`",
        ));
    };
    let repository = rt.ctx.repository.clone().unwrap_or_default();
    let ours = |t: &deployments::Target| target.counterpart(&aws, t).is_some();
    let seen = latest(&client, &repository, from, &ours)
        .await
        .map_err(|e| {
            let message = format!("cannot read the deployments of environment `{from}`: {e}");
            let hint = "The token needs `permissions: deployments: write` (read the source's release, record the promotion) and `contents: read` (trace its commit to its tag or branch)";
            if e.is_forbidden() {
                refusal(message, hint)
            } else {
                ModeError::Failed {
                    message: format!("input `promote-from`: {message}"),
                    hint: Some(hint.into()),
                }
            }
        })?;
    let Some(l) = seen.latest else {
        return Err(refusal(
            format!(
                "environment `{from}` has no stevedore deployment of {what} to promote ({} deployment(s) read)",
                seen.examined
            ),
            format!(
                "A release is promoted once a stevedore deploy of this target's line (the same ECS or ECS Express services, the same Lambda function, an App Runner service) to `{from}` has recorded it. Check `promote-from` and the target inputs"
            ),
        ));
    };
    let version = l
        .payload
        .version
        .clone()
        .unwrap_or_else(|| l.deployment.sha.clone());
    let id = l.deployment.id;
    if let Some(why) = not_promotable(&l.states) {
        return Err(refusal(
            format!("the latest deployment of {what} to `{from}`, #{id} (`{version}`), {why}"),
            format!(
                "Promote once `{from}` runs a good release: wait for its deploy to finish, or fix and redeploy it there"
            ),
        ));
    }
    let Some(adopted) = target.counterpart(&aws, &l.recorded) else {
        return Err(refusal(
            format!("deployment #{id} of `{from}` is not of {what}"),
            "Check the target inputs",
        ));
    };
    let source = Release {
        id,
        sha: l.deployment.sha.clone(),
        created_at: l.deployment.created_at.clone(),
        version: version.clone(),
        target: adopted.clone(),
        run_id: l.payload.run_id.clone(),
        rolled_back_from: None,
        git_ref: l.payload.git_ref.clone(),
    };
    // Across accounts the release is verified where it runs, with the source environment's role.
    let source_aws = match &across {
        Some(_) => Some(
            crate::aws::connect_environment(
                rt.env,
                rt.ctx,
                rt.cmds,
                target.aws(),
                from,
                rt.common.dry_run,
            )
            .await?,
        ),
        None => None,
    };
    let live = target.observe(rt, source_aws.as_ref().unwrap_or(&aws))?;
    let policy = &target.aws().trigger_policy;
    let unverifiable = |e: FindError| {
        ModeError::Failed {
        message: format!("input `promote-from`: {e}"),
        hint: Some(
            "The release could not be checked, so nothing was promoted; re-run the step (the check needs the GitHub API and the target's AWS API)".into(),
        ),
    }
    };
    let mut envs = vec![from];
    envs.extend(target.aws().environment.as_deref());
    for environment in envs {
        let checks = Checks {
            policy,
            environment: Some(environment),
        };
        let why = check_commit(
            &client,
            &repository,
            &checks,
            &source,
            "a promotion puts in place only what a deploy from an allowed ref could have made in both environments",
        )
        .await
        .map_err(unverifiable)?;
        if let Some(why) = why {
            return Err(refusal(
                format!("deployment #{id} of `{from}` (`{version}`) cannot be promoted: {why}"),
                "Promote a release deployed from a ref the trigger policy allows for both environments, or deploy this commit normally",
            ));
        }
    }
    let checked = target
        .check_release(&live, &adopted)
        .await
        .map_err(|message| unverifiable(FindError::Verify { id, message }))?;
    if let Some(why) = checked {
        return Err(refusal(
            format!(
                "deployment #{id} of `{from}` (`{version}`) cannot be put in place on {what}: {why}"
            ),
            "Promote between targets that run the same artifact line (the same task-definition family, Lambda function, image repository), or deploy the artifact here as a new release",
        ));
    }
    let note = format!(
        "{} environment {} to {}: deployment #{id} (version {}, commit {}, {}{}), {}.",
        if rt.common.dry_run {
            "Would promote the release of"
        } else {
            "Promoting the release of"
        },
        code_span(from),
        code_span(&here),
        code_span(&version),
        code_span(short(&source.sha)),
        text(&source.created_at),
        source
            .run_id
            .as_ref()
            .map(|r| format!(", run {}", text(r)))
            .unwrap_or_default(),
        text(&adopted.describe_artifact()),
    );
    let record = Record {
        target: Some(adopted),
        sha: Some(source.sha.clone()),
        version: Some(version.clone()),
        git_ref: source.git_ref.clone(),
        restored_from: Some(id),
        rolled_back_from: None,
        promoted_from: Some(from.to_owned()),
    };
    tracing::info!("promote-from: deployment #{id} ({version}) of `{from}` to `{here}`");
    let restore = Restore {
        release: source,
        record,
        environment: here,
        note,
        promoted_from: Some(from.to_owned()),
    };
    match &source_aws {
        Some(source) => Box::pin(target.promote_across(rt, &aws, source, &restore)).await,
        None => Box::pin(target.restore(rt, &aws, live, &restore)).await,
    }
}

/// The artifact a promotion's note names (task definitions, Lambda version and code hash, image).
trait Artifact {
    fn describe_artifact(&self) -> String;
}

impl Artifact for deployments::Target {
    fn describe_artifact(&self) -> String {
        match self {
            deployments::Target::Ecs { services, .. } => services
                .iter()
                .map(|s| format!("{} on {}", s.service, s.task_definition))
                .collect::<Vec<_>>()
                .join(", "),
            deployments::Target::Lambda {
                version,
                code_sha256,
                ..
            } => format!(
                "Lambda version {version} (code SHA-256 {})",
                code_sha256.as_deref().unwrap_or("unknown")
            ),
            deployments::Target::AppRunner { image, .. }
            | deployments::Target::EcsExpress { image, .. } => format!("image {image}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_with(pairs: &[(&str, &str)]) -> (Option<String>, Vec<String>) {
        crate::inputs::parsed(pairs, |p| {
            let raw = p.string(Input::PromoteFrom);
            let rollback = p.string(Input::RollbackTo).is_some();
            let preview = p.bool(Input::Preview, false);
            let lambda = p.string(Input::FunctionName).is_some();
            parse(p, raw.as_deref(), rollback, preview, lambda)
        })
    }

    #[test]
    fn an_environment_name_and_every_conflicting_input_named_at_once() {
        assert_eq!(parse_with(&[]).0, None);
        assert_eq!(
            parse_with(&[("INPUT_PROMOTE-FROM", " staging ")]).0,
            Some("staging".into())
        );
        let (_, e) = parse_with(&[
            ("INPUT_PROMOTE-FROM", "staging"),
            ("INPUT_IMAGE", "repo@sha256:abc"),
            ("INPUT_ZIP-FILE", "a.zip"),
            ("INPUT_PREVIEW", "true"),
        ]);
        assert_eq!(e.len(), 3, "{e:#?}");
        let all = e.join("\n");
        for needle in [
            "input `image` = `repo@sha256:abc`: is set together with `promote-from`",
            "input `zip-file` = `a.zip`: is set together with `promote-from`",
            "input `preview` = `true`: is set together with `promote-from`",
        ] {
            assert!(all.contains(needle), "{needle} not in {all}");
        }
        let (from, e) = parse_with(&[
            ("INPUT_PROMOTE-FROM", "staging"),
            ("INPUT_ROLLBACK-TO", "previous"),
        ]);
        assert_eq!(from, None);
        assert_eq!(e.len(), 1, "{e:#?}");
        assert!(
            e[0].contains("input `promote-from` = `staging`: is set together with `rollback-to`"),
            "{e:#?}"
        );
        // `s3-bucket` is where a Lambda promotion copies a release of another account; anywhere
        // else it describes a new release.
        let (_, e) = parse_with(&[("INPUT_PROMOTE-FROM", "staging"), ("INPUT_S3-BUCKET", "b")]);
        assert_eq!(e.len(), 1, "{e:#?}");
        let (_, e) = parse_with(&[
            ("INPUT_PROMOTE-FROM", "staging"),
            ("INPUT_FUNCTION-NAME", "f"),
            ("INPUT_S3-BUCKET", "b"),
        ]);
        assert!(e.is_empty(), "{e:#?}");
        let (from, e) = parse_with(&[("INPUT_PROMOTE-FROM", "stag\u{200b}ing")]);
        assert_eq!(from, None);
        assert!(
            e[0].contains("input `promote-from`") && e[0].contains("is not an environment name"),
            "{e:#?}"
        );
    }

    #[test]
    fn only_a_succeeded_latest_deployment_is_promotable() {
        let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        assert_eq!(not_promotable(&s(&["success", "in_progress"])), None);
        assert_eq!(
            not_promotable(&s(&["inactive", "success", "in_progress"])),
            None
        );
        assert_eq!(
            not_promotable(&s(&["failure", "in_progress"])).as_deref(),
            Some("failed (statuses in_progress → failure)")
        );
        assert_eq!(
            not_promotable(&s(&["in_progress"])).as_deref(),
            Some("is still in progress (statuses in_progress)")
        );
        assert_eq!(
            not_promotable(&[]).as_deref(),
            Some("is still in progress (statuses no status)")
        );
        assert!(
            not_promotable(&s(&["inactive", "in_progress"]))
                .unwrap()
                .starts_with("never succeeded")
        );
    }
}
