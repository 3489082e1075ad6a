//! `rollback-to`: put an earlier release of the environment in place again (docs/rollback.md).
//!
//! Every deploy records what it put in place in its GitHub Deployment's payload
//! ([`crate::github::deployments::Target`]: task-definition ARNs, Lambda version, App Runner or ECS
//! Express image). A rollback finds the deployment `rollback-to` names ([`find_release`]: `previous` or a
//! version), then
//! runs the target's own deploy with exactly that — the same waits, health checks, rollback on failure,
//! report and cancellation — and records a new deployment with the same target, so that a later
//! `previous` works from there.
//!
//! This module names no target: [`run`] works on any [`Target`] (its identity, what is live, its release
//! check and its restore).

use super::record::Restore;
use super::target::{NEW_RELEASE_INPUTS, Target};
use crate::aws::Purpose;
use crate::github::deployments::{self, FindError, Record, Release, Search, Verify, Wanted};
use crate::inputs::Input;
use crate::inputs::Inputs;
use crate::modes::runtime::{ModeError, Runtime};
use crate::report::Report;
use crate::report::markdown::{code_span, sentence, text};

/// Parses `rollback-to` (`raw`; `deploy::Config::parse` reads it and `preview`); `None` when unset.
/// Records an error for each input that describes a new release (all at once), and for `preview: true`.
pub fn parse(p: &mut Inputs<'_>, raw: Option<&str>, preview: bool) -> Option<Wanted> {
    let raw = raw?;
    let v = raw.trim();
    let wanted = if v.eq_ignore_ascii_case("previous") {
        Some(Wanted::Previous)
    } else if v.is_empty() || v.len() > 200 || v.chars().any(char::is_whitespace) {
        p.error(
            Input::RollbackTo,
            Some(raw),
            "is neither `previous` nor a version (one word: a tag such as `v1.4.2` or a commit SHA of at least 7 hex digits)",
            "Set `rollback-to: previous`, or the version to restore, e.g. `rollback-to: v1.4.2`",
        );
        None
    } else {
        Some(Wanted::Version(v.to_owned()))
    };
    for (input, what) in NEW_RELEASE_INPUTS {
        if let Some(given) = p.string(input) {
            p.error(
                input,
                Some(&given),
                format!(
                    "is set together with `rollback-to`; a rollback redeploys exactly what the earlier deployment recorded, {what} included"
                ),
                format!(
                    "Remove `{input}` from the rollback step (or remove `rollback-to` to deploy a new release)"
                ),
            );
        }
    }
    if preview {
        p.error(
            Input::Preview,
            Some("true"),
            "is set together with `rollback-to`; previews are not rolled back, they are redeployed from the pull request",
            "Remove `preview: true` from the rollback step",
        );
    }
    wanted
}

/// Looks the release up in `environment`'s deployments. No good deployment, a missing token or a
/// refused read are configuration problems (exit 2), naming the environment and what to do.
pub async fn choose<T: Target>(
    rt: &Runtime<'_>,
    environment: &str,
    wanted: &Wanted,
    ours: &(dyn Fn(&deployments::Target) -> bool + Sync),
    what: &str,
    verifier: Verifier<'_, T>,
) -> Result<Restore, ModeError> {
    let Some(client) = rt.github() else {
        return Err(ModeError::Config {
            message: format!(
                "input `rollback-to`: the releases of environment `{environment}` are read from its GitHub Deployments, and there is no `github-token` (or no GITHUB_REPOSITORY)"
            ),
            hint: Some(
                "Pass `github-token: ${{ github.token }}` (the default) with `permissions: deployments: write`".into(),
            ),
        });
    };
    let repository = rt.ctx.repository.clone().unwrap_or_default();
    let verifier = Bound {
        client: &client,
        repository: &repository,
        v: verifier,
    };
    let search =
        deployments::find_release(&client, &repository, environment, wanted, ours, &verifier)
            .await
            .map_err(|e| match e {
                FindError::Verify { .. } => ModeError::Failed {
                    message: format!("input `rollback-to`: {e}"),
                    hint: Some(
                        "The release could not be checked, so nothing was restored; re-run the step (the check needs the GitHub API and the target's AWS API)".into(),
                    ),
                },
                FindError::Github(_) => {
                    let message = format!(
                        "input `rollback-to`: cannot read the deployments of environment `{environment}`: {e}"
                    );
                    let hint = Some(
                        "The token needs `permissions: deployments: write` (read to find the release, write to record the rollback) and `contents: read` (to trace each release's commit to its tag or branch)".into(),
                    );
                    if e.is_forbidden() {
                        ModeError::Config { message, hint }
                    } else {
                        ModeError::Failed { message, hint }
                    }
                }
            })?;
    let Some(release) = search.found.clone() else {
        return Err(none_found(environment, wanted, &search, what));
    };
    let live = search.live.as_ref().filter(|l| l.id != release.id);
    let mut note = format!(
        "Rolling back environment {} to deployment #{} (version {}, commit {}, {}{}).",
        code_span(environment),
        release.id,
        code_span(&release.version),
        code_span(short(&release.sha)),
        text(&release.created_at),
        release
            .run_id
            .as_ref()
            .map(|r| format!(", run {}", text(r)))
            .unwrap_or_default(),
    );
    match live {
        Some(l) => note.push_str(&format!(
            " Live before: #{} (version {}).",
            l.id,
            code_span(&l.version)
        )),
        None => note.push_str(" It is also the live one: it is deployed again as recorded."),
    }
    if !search.passed_over.is_empty() {
        note.push_str(&format!(
            " Passed over: {}.",
            sentence(&search.passed_over.join("; "))
        ));
    }
    let record = Record {
        target: Some(release.target.clone()),
        sha: Some(release.sha.clone()),
        version: Some(release.version.clone()),
        git_ref: release.git_ref.clone(),
        restored_from: Some(release.id),
        rolled_back_from: live.map(|l| l.id),
        promoted_from: None,
    };
    tracing::info!(
        "rollback-to: deployment #{} ({}) of `{environment}`",
        release.id,
        release.version
    );
    Ok(Restore {
        release,
        record,
        environment: environment.to_owned(),
        note,
        promoted_from: None,
    })
}

pub(super) fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

/// The refusal when no deployment fits.
fn none_found(environment: &str, wanted: &Wanted, s: &Search, what: &str) -> ModeError {
    let which = match wanted {
        Wanted::Previous => "no earlier good release (`rollback-to: previous`)".to_owned(),
        Wanted::Version(v) => format!("no good release of version `{v}`"),
    };
    let mut message = format!(
        "input `rollback-to`: environment `{environment}` has {which} of {what} to redeploy: {} deployment(s) read, {} without a stevedore record of this target",
        s.examined, s.foreign
    );
    if let Some(l) = &s.live {
        message.push_str(&format!("; live: #{} (version `{}`)", l.id, l.version));
    }
    if !s.passed_over.is_empty() {
        message.push_str(&format!("; passed over: {}", s.passed_over.join("; ")));
    }
    let mut hint = format!(
        "A release can be restored once a stevedore deploy of this same target to environment `{environment}` has succeeded (its GitHub Deployment records what it put in place). Check `environment` and the target inputs, or deploy the wanted commit normally (re-run its deploy job)"
    );
    if let Some((_, other)) = s.others.first() {
        let list: Vec<&str> = s.others.iter().map(|(d, _)| d.as_str()).collect();
        message.push_str(&format!(
            "; recorded for another target: {}",
            list.join("; ")
        ));
        hint = format!(
            "`rollback-to` restores releases of the target of this step ({what}). A release of {} is restored by a step with {} instead; otherwise {}",
            other.describe(),
            other.inputs(),
            lower_first(&hint)
        );
    }
    ModeError::Config {
        message,
        hint: Some(hint),
    }
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_lowercase().chain(c).collect())
        .unwrap_or_default()
}

/// What a recorded release is checked against before it may be restored: the trigger policy of the
/// step's environment for its commit, and what the target runs now for its artifact
/// ([`Target::check_release`]). A deployment's payload is written by anyone with `deployments: write`;
/// a rollback puts in place nothing that a normal deploy from an allowed ref could not
/// (docs/rollback.md, "What is verified").
pub struct Checks<'a> {
    /// The trigger policy and the step's `environment` input (`None`: no rule applies, the commit is
    /// still traced to its ref).
    pub policy: &'a crate::policy::TriggerPolicy,
    pub environment: Option<&'a str>,
}

/// The checks of one target's releases; what is live is read once, at the first release checked (no
/// AWS call when there is nothing to check).
pub struct Verifier<'a, T: Target> {
    pub checks: Checks<'a>,
    pub target: &'a T,
    pub live: &'a T::Live,
}

struct Bound<'a, T: Target> {
    client: &'a crate::github::Client,
    repository: &'a str,
    v: Verifier<'a, T>,
}

impl<T: Target> Verify for Bound<'_, T> {
    async fn verify(&self, release: &Release) -> Result<Option<String>, FindError> {
        if let Some(why) = self.commit(release).await? {
            return Ok(Some(why));
        }
        self.v
            .target
            .check_release(self.v.live, &release.target)
            .await
            .map_err(|message| FindError::Verify {
                id: release.id,
                message,
            })
    }
}

impl<T: Target> Bound<'_, T> {
    async fn commit(&self, r: &Release) -> Result<Option<String>, FindError> {
        check_commit(
            self.client,
            self.repository,
            &self.v.checks,
            r,
            "a rollback restores only what a deploy from an allowed ref could have made",
        )
        .await
    }
}

/// The commit of a recorded release (`r`): its recorded ref is allowed to deploy to
/// `checks.environment`, the version is that ref's (the tag's name, or the commit on a branch), and
/// GitHub shows the ref holding the commit. `why` ends a policy refusal (what the check guards).
/// Shared with promotion, which checks the source environment's release the same way.
pub(super) async fn check_commit(
    client: &crate::github::Client,
    repository: &str,
    checks: &Checks<'_>,
    r: &Release,
    why: &str,
) -> Result<Option<String>, FindError> {
    let Some(git_ref) = r.git_ref.as_deref() else {
        return Ok(Some(
            "the record names no ref to trace its commit to".into(),
        ));
    };
    if let Some(environment) = checks.environment
        && let Err(e) = crate::policy::check_ref(checks.policy, environment, Some(git_ref))
    {
        return Ok(Some(format!("{e} ({why})")));
    }
    if let Some(tag) = git_ref.strip_prefix("refs/tags/") {
        if r.version != tag {
            return Ok(Some(format!(
                "the record's version `{}` is not its tag `{tag}`",
                r.version
            )));
        }
    } else if r.version != r.sha {
        return Ok(Some(format!(
            "the record's version `{}` is not its commit `{}`",
            r.version, r.sha
        )));
    }
    deployments::ref_holds(client, repository, git_ref, &r.sha)
        .await
        .map_err(|e| FindError::Verify {
            id: r.id,
            message: e.to_string(),
        })
}

/// Runs the rollback on `target`: connect, find the release (each candidate verified against what is
/// live), and hand it to the target's restore. Names no target: each one fills in [`Target`].
pub async fn run<T: Target>(
    rt: &Runtime<'_>,
    target: &T,
    wanted: &Wanted,
) -> Result<Report, ModeError> {
    let aws = rt.connect_aws(target.aws(), Purpose::Deploy).await?;
    let environment = target.environment(&aws);
    let ours = |t: &deployments::Target| target.owns(&aws, t);
    let live = target.observe(rt, &aws)?;
    let checks = Checks {
        policy: &target.aws().trigger_policy,
        environment: target.aws().environment.as_deref(),
    };
    let restore = choose(
        rt,
        &environment,
        wanted,
        &ours,
        &target.what(),
        Verifier {
            checks,
            target,
            live: &live,
        },
    )
    .await?;
    // Boxed: a target's deploy future is large (the Lambda one overflowed a 2 MiB test-thread stack
    // in debug builds unboxed inside this one).
    Box::pin(target.restore(rt, &aws, live, &restore)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_with(pairs: &[(&str, &str)]) -> (Option<Wanted>, Vec<String>) {
        crate::inputs::parsed(pairs, |p| {
            let raw = p.string(Input::RollbackTo);
            let preview = p.bool(Input::Preview, false);
            parse(p, raw.as_deref(), preview)
        })
    }

    #[test]
    fn previous_and_versions() {
        assert_eq!(parse_with(&[]).0, None);
        assert_eq!(
            parse_with(&[("INPUT_ROLLBACK-TO", "Previous")]).0,
            Some(Wanted::Previous)
        );
        assert_eq!(
            parse_with(&[("INPUT_ROLLBACK-TO", " v1.4.2 ")]).0,
            Some(Wanted::Version("v1.4.2".into()))
        );
    }

    /// Issue 31: a version is one word of 1 to 200 characters; an empty or blank value is refused, as is a
    /// 201st character (`rollback-to` is matched against tags and SHAs GitHub returns, never longer).
    #[test]
    fn a_version_is_one_word_of_at_most_200_characters() {
        let one = |raw: &str| crate::inputs::parsed(&[], |p| parse(p, Some(raw), false));
        let longest = "v".repeat(200);
        assert_eq!(
            one(&longest),
            (Some(Wanted::Version(longest.clone())), vec![])
        );
        let (w, e) = one(&"v".repeat(201));
        assert_eq!(w, None);
        assert!(
            e[0].contains("is neither `previous` nor a version"),
            "{e:#?}"
        );
        for blank in ["", "   "] {
            let (w, e) = one(blank);
            assert_eq!(w, None, "{blank:?}");
            assert_eq!(e.len(), 1, "{blank:?}: {e:#?}");
        }
    }

    /// Issue 31: when only releases of another target were found, the hint names the step that restores
    /// them and goes on with the general advice, its first letter lowered mid-sentence.
    #[test]
    fn a_refusal_names_the_inputs_of_the_other_target_then_the_general_advice() {
        let s = Search {
            examined: 3,
            foreign: 1,
            others: vec![(
                "#7 (`v1`): App Runner `web`".into(),
                deployments::Target::AppRunner {
                    service: "web".into(),
                    image: "r/web@sha256:1".into(),
                },
            )],
            ..Search::default()
        };
        let e = none_found("production", &Wanted::Previous, &s, "ECS web in prod");
        let hint = e.hint().unwrap_or_default().into_owned();
        assert!(
            hint.contains(
                "; otherwise a release can be restored once a stevedore deploy of this same target to environment `production` has succeeded"
            ),
            "{hint}"
        );
        assert_eq!(lower_first("Abc"), "abc");
        assert_eq!(lower_first(""), "");
    }

    #[test]
    fn new_release_inputs_and_bad_values_are_all_named() {
        let (_, e) = parse_with(&[
            ("INPUT_ROLLBACK-TO", "v1 v2"),
            ("INPUT_IMAGE", "repo@sha256:abc"),
            ("INPUT_ZIP-FILE", "a.zip"),
            ("INPUT_PREVIEW", "true"),
        ]);
        assert_eq!(e.len(), 4, "{e:#?}");
        let all = e.join("\n");
        for needle in [
            "input `rollback-to` = `v1 v2`: is neither `previous` nor a version",
            "input `image` = `repo@sha256:abc`: is set together with `rollback-to`",
            "input `zip-file` = `a.zip`: is set together with `rollback-to`",
            "input `preview` = `true`",
        ] {
            assert!(all.contains(needle), "{needle} not in {all}");
        }
    }
}
