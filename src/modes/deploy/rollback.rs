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
//! Adding a target's rollback: a [`Target`] variant recorded by its deploy, a `same_*` identity check,
//! and one arm in [`run`] that connects, calls [`choose`] and hands the [`Restore`] to the target's run.

use super::record::Restore;
use super::target::NEW_RELEASE_INPUTS;
use crate::aws::Purpose;
use crate::github::deployments::{
    self, FindError, Record, Release, Search, Target, Verify, Wanted,
};
use crate::inputs::Input;
use crate::inputs::Inputs;
use crate::modes::{ModeError, Runtime};
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
pub async fn choose(
    rt: &Runtime<'_>,
    environment: &str,
    wanted: &Wanted,
    ours: &(dyn Fn(&Target) -> bool + Sync),
    what: &str,
    checks: Checks<'_>,
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
    let verifier = Verifier {
        client: &client,
        repository: &repository,
        checks,
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
    })
}

fn short(sha: &str) -> &str {
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
/// step's environment for its commit, and what the target runs now for its artifact. A deployment's
/// payload is written by anyone with `deployments: write`; a rollback puts in place nothing that a
/// normal deploy from an allowed ref could not (docs/rollback.md, "What is verified").
pub struct Checks<'a> {
    /// The trigger policy and the step's `environment` input (`None`: no rule applies, the commit is
    /// still traced to its ref).
    pub policy: &'a crate::policy::TriggerPolicy,
    pub environment: Option<&'a str>,
    pub artifact: Artifact<'a>,
}

/// The target's side of the check. What the target runs now is read once, at the first release
/// checked (no AWS call when there is nothing to check).
pub enum Artifact<'a> {
    /// ECS: each service's task definition now (an ARN): a recorded one must be of the same partition,
    /// region, account and family.
    Ecs {
        sdk: &'a aws_config::SdkConfig,
        cfg: &'a super::ecs::Config,
        /// The services planned as they run: kept by the caller, so the restore plans from the same read.
        running: &'a tokio::sync::OnceCell<Vec<super::ecs::ServicePlan>>,
    },
    /// Lambda: a recorded version must be a published (numeric) version whose `CodeSha256` is the
    /// recorded one.
    Lambda { api: Box<super::lambda::api::Api> },
    /// App Runner and ECS Express: a recorded image must be by digest, from the repository of the image
    /// the service runs now.
    AppRunner {
        api: Box<super::apprunner::Api>,
        service: &'a str,
        running: tokio::sync::OnceCell<String>,
    },
    Express {
        api: Box<super::express::Api>,
        arn: &'a str,
        running: tokio::sync::OnceCell<String>,
    },
}

struct Verifier<'a> {
    client: &'a crate::github::Client,
    repository: &'a str,
    checks: Checks<'a>,
}

impl Verify for Verifier<'_> {
    async fn verify(&self, release: &Release) -> Result<Option<String>, FindError> {
        if let Some(why) = self.commit(release).await? {
            return Ok(Some(why));
        }
        self.artifact(release).await
    }
}

impl Verifier<'_> {
    /// The commit: its recorded ref is allowed to deploy to the environment, the version is that ref's
    /// (the tag's name, or the commit on a branch), and GitHub shows the ref holding the commit.
    async fn commit(&self, r: &Release) -> Result<Option<String>, FindError> {
        let Some(git_ref) = r.git_ref.as_deref() else {
            return Ok(Some(
                "the record names no ref to trace its commit to".into(),
            ));
        };
        if let Some(environment) = self.checks.environment
            && let Err(e) = crate::policy::check_ref(self.checks.policy, environment, Some(git_ref))
        {
            return Ok(Some(format!(
                "{e} (a rollback restores only what a deploy from an allowed ref could have made)"
            )));
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
        deployments::ref_holds(self.client, self.repository, git_ref, &r.sha)
            .await
            .map_err(|e| FindError::Verify {
                id: r.id,
                message: e.to_string(),
            })
    }

    /// The artifact: the target's own (see [`Artifact`]).
    async fn artifact(&self, r: &Release) -> Result<Option<String>, FindError> {
        let failed = |message: String| FindError::Verify { id: r.id, message };
        match (&self.checks.artifact, &r.target) {
            (Artifact::Ecs { sdk, cfg, running }, Target::Ecs { services, .. }) => {
                let running = running
                    .get_or_try_init(|| super::ecs::plan_as_is(sdk, cfg))
                    .await
                    .map_err(|e| failed(e.to_string()))?;
                for s in services {
                    let Some(now) = running
                        .iter()
                        .find(|p| p.service == s.service)
                        .map(|p| &p.current_task_definition)
                    else {
                        return Ok(Some(format!(
                            "service `{}` is not one of this step's",
                            s.service
                        )));
                    };
                    if let Some(why) = same_task_definition_home(&s.task_definition, now) {
                        return Ok(Some(format!("service `{}`: {why}", s.service)));
                    }
                }
                Ok(None)
            }
            (
                Artifact::Lambda { api },
                Target::Lambda {
                    version,
                    code_sha256,
                    ..
                },
            ) => {
                if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) {
                    return Ok(Some(format!(
                        "version `{version}` is not a published (numeric) version"
                    )));
                }
                let Some(recorded) = code_sha256 else {
                    return Ok(Some(
                        "the record has no code hash (written by an older stevedore), so its version cannot be checked".into(),
                    ));
                };
                match api
                    .version_code_sha256(version)
                    .await
                    .map_err(|e| failed(e.to_string()))?
                {
                    Some(h) if h == *recorded => Ok(None),
                    Some(h) => Ok(Some(format!(
                        "version {version} has code hash `{h}`, the record says `{recorded}`"
                    ))),
                    None => Ok(Some(format!("version {version} no longer exists"))),
                }
            }
            (
                Artifact::AppRunner {
                    api,
                    service,
                    running,
                },
                Target::AppRunner { image, .. },
            ) => {
                let now = running
                    .get_or_try_init(|| async {
                        let arn = api.resolve(service).await?;
                        api.describe(&arn).await.map(|s| s.image)
                    })
                    .await
                    .map_err(|e| failed(e.to_string()))?;
                Ok(same_image_home(image, now))
            }
            (Artifact::Express { api, arn, running }, Target::EcsExpress { image, .. }) => {
                let now = running
                    .get_or_try_init(|| async {
                        api.describe(arn).await.map(|s| s.image().to_owned())
                    })
                    .await
                    .map_err(|e| failed(e.to_string()))?;
                Ok(same_image_home(image, now))
            }
            (_, t) => Ok(Some(format!("it records {}", t.describe()))),
        }
    }
}

/// `None` when task definition `recorded` (an ARN) lives where `running` does — same partition,
/// region, account and family — else why not.
#[must_use]
pub fn same_task_definition_home(recorded: &str, running: &str) -> Option<String> {
    fn parts(arn: &str) -> Option<(&str, &str, &str, &str)> {
        let mut it = arn.splitn(6, ':');
        let (Some("arn"), Some(partition), Some("ecs"), Some(region), Some(account), Some(rest)) = (
            it.next(),
            it.next(),
            it.next(),
            it.next(),
            it.next(),
            it.next(),
        ) else {
            return None;
        };
        let (family, revision) = rest.strip_prefix("task-definition/")?.rsplit_once(':')?;
        (!family.is_empty() && !revision.is_empty() && revision.bytes().all(|b| b.is_ascii_digit()))
            .then_some((partition, region, account, family))
    }
    let Some(rec) = parts(recorded) else {
        return Some(format!(
            "`{recorded}` is not a task-definition ARN with a revision"
        ));
    };
    let Some(now) = parts(running) else {
        return Some(format!(
            "the running task definition `{running}` is not an ARN with a revision"
        ));
    };
    let names = ["partition", "region", "account", "family"];
    let (a, b) = ([rec.0, rec.1, rec.2, rec.3], [now.0, now.1, now.2, now.3]);
    names
        .iter()
        .zip(a.iter().zip(b.iter()))
        .find(|(_, (x, y))| x != y)
        .map(|(what, (x, y))| {
            format!(
                "task definition `{recorded}` is of {what} `{x}`, the service runs {what} `{y}`"
            )
        })
}

/// The repository part of an image reference (`host[:port]/path`, without `:tag` or `@digest`).
fn image_repository(image: &str) -> &str {
    let no_digest = image.split_once('@').map_or(image, |(r, _)| r);
    match no_digest.rsplit_once('/') {
        Some((head, last)) => match last.split_once(':') {
            Some((name, _tag)) => &no_digest[..head.len() + 1 + name.len()],
            None => no_digest,
        },
        None => no_digest.split_once(':').map_or(no_digest, |(n, _)| n),
    }
}

/// `None` when `recorded` is an image by digest (`@sha256:` and 64 hex digits) from the repository of
/// `running`, else why not.
#[must_use]
pub fn same_image_home(recorded: &str, running: &str) -> Option<String> {
    let by_digest = recorded.split_once("@sha256:").is_some_and(|(_, d)| {
        d.len() == 64
            && d.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    });
    if !by_digest {
        return Some(format!(
            "image `{recorded}` is not pinned by digest (`@sha256:…`), so what it names can have changed"
        ));
    }
    let (rec, now) = (image_repository(recorded), image_repository(running));
    if running.is_empty() || rec != now {
        return Some(format!(
            "image `{recorded}` is not from `{now}`, the repository the service runs from"
        ));
    }
    None
}

/// App Runner services are the same when their names are (an ARN `…:service/<name>/<id>` or a name).
#[must_use]
pub fn same_app_runner_service(a: &str, b: &str) -> bool {
    fn name(s: &str) -> &str {
        s.split_once(":service/")
            .map_or(s, |(_, rest)| rest.split('/').next().unwrap_or(rest))
    }
    a == b || name(a) == name(b)
}

/// ECS Express services are the same when their ARNs are (both sides are ARNs: the step's name is
/// completed with `cluster`, the region and the account before it is compared).
#[must_use]
pub fn same_express_service(recorded: &str, arn: &str) -> bool {
    recorded == arn
}

fn checks<'a>(aws: &'a crate::aws::AwsInputs, artifact: Artifact<'a>) -> Checks<'a> {
    Checks {
        policy: &aws.trigger_policy,
        environment: aws.environment.as_deref(),
        artifact,
    }
}

/// Runs the rollback on the configured target.
pub async fn run(
    rt: &Runtime<'_>,
    cfg: &super::Config,
    wanted: &Wanted,
) -> Result<Report, ModeError> {
    match &cfg.target {
        super::Target::Ecs(c) => {
            let aws = rt.connect_aws(&c.aws, Purpose::Deploy).await?;
            let environment = super::ecs::environment_name(&aws, c);
            let mut services = c.services.clone();
            services.sort();
            let ours = |t: &Target| match t {
                Target::Ecs {
                    cluster,
                    services: recorded,
                } => {
                    let mut names: Vec<String> =
                        recorded.iter().map(|s| s.service.clone()).collect();
                    names.sort();
                    *cluster == c.cluster && names == services
                }
                _ => false,
            };
            let what = format!("ECS {} in cluster `{}`", c.services.join(", "), c.cluster);
            let running = tokio::sync::OnceCell::new();
            let artifact = Artifact::Ecs {
                sdk: &aws.sdk,
                cfg: c,
                running: &running,
            };
            let restore = choose(
                rt,
                &environment,
                wanted,
                &ours,
                &what,
                checks(&c.aws, artifact),
            )
            .await?;
            Box::pin(super::ecs::run_restore(
                rt,
                &aws,
                c,
                &restore,
                running.into_inner(),
            ))
            .await
        }
        super::Target::Lambda(l) => {
            let aws = rt.connect_aws(&l.aws, Purpose::Deploy).await?;
            let environment = super::lambda::environment_name(aws.environment.as_deref(), l);
            let ours = |t: &Target| {
                matches!(t, Target::Lambda { function, alias, .. }
                if *function == l.function_name && *alias == l.alias)
            };
            let what = format!("Lambda `{}:{}`", l.function_name, l.alias);
            let artifact = Artifact::Lambda {
                api: Box::new(super::lambda::api::Api::new(
                    &aws.sdk,
                    &l.function_name,
                    crate::net::Net::from_env(rt.env),
                )),
            };
            let restore = choose(
                rt,
                &environment,
                wanted,
                &ours,
                &what,
                checks(&l.aws, artifact),
            )
            .await?;
            // Boxed: the Lambda deploy future is large; unboxed inside this one it overflowed a 2 MiB
            // test-thread stack in debug builds.
            Box::pin(super::lambda::run_restore(
                rt,
                &aws.sdk,
                aws.environment.as_deref(),
                l,
                &restore,
            ))
            .await
        }
        super::Target::AppRunner(a) => {
            let aws = rt.connect_aws(&a.aws, Purpose::Deploy).await?;
            let environment = super::apprunner::environment_name(aws.environment.as_deref(), a);
            let ours = |t: &Target| matches!(t, Target::AppRunner { service, .. } if same_app_runner_service(service, &a.service));
            let what = format!("App Runner `{}`", a.service);
            let artifact = Artifact::AppRunner {
                api: Box::new(super::apprunner::Api::new(
                    &aws.sdk,
                    super::health::health_client(rt)?,
                )),
                service: &a.service,
                running: tokio::sync::OnceCell::new(),
            };
            let restore = choose(
                rt,
                &environment,
                wanted,
                &ours,
                &what,
                checks(&a.aws, artifact),
            )
            .await?;
            Box::pin(super::apprunner::run_restore(rt, &aws, a, &restore)).await
        }
        super::Target::Express(x) => {
            let aws = rt.connect_aws(&x.aws, Purpose::Deploy).await?;
            let arn = super::express::arn_of(&aws, x);
            let environment = super::express::environment_name(aws.environment.as_deref(), x, &arn);
            let ours = |t: &Target| matches!(t, Target::EcsExpress { service, .. } if same_express_service(service, &arn));
            let what = format!("ECS Express `{}`", x.service);
            let artifact = Artifact::Express {
                api: Box::new(super::express::Api::new(&aws.sdk)),
                arn: &arn,
                running: tokio::sync::OnceCell::new(),
            };
            let restore = choose(
                rt,
                &environment,
                wanted,
                &ours,
                &what,
                checks(&x.aws, artifact),
            )
            .await?;
            Box::pin(super::express::run_restore(rt, &aws, x, &restore)).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Env;

    fn parse_with(pairs: &[(&str, &str)]) -> (Option<Wanted>, Vec<String>) {
        let env = Env::from_pairs(pairs.iter().copied());
        let mut p = Inputs::new(&env);
        let raw = p.string(Input::RollbackTo);
        let preview = p.bool(Input::Preview, false);
        let w = parse(&mut p, raw.as_deref(), preview);
        let errs = p
            .finish()
            .err()
            .map(|e| e.0.iter().map(ToString::to_string).collect())
            .unwrap_or_default();
        (w, errs)
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

    fn deploy_errors(pairs: &[(&str, &str)]) -> (super::super::Config, Vec<String>) {
        let env = Env::from_pairs(pairs.iter().copied());
        let mut p = Inputs::new(&env);
        let c = super::super::Config::parse(&mut p)
            .expect("the express path always chooses its target");
        let errs = p
            .finish()
            .err()
            .map(|e| e.0.iter().map(ToString::to_string).collect())
            .unwrap_or_default();
        (c, errs)
    }

    #[test]
    fn express_takes_rollback_to_without_an_image_and_names_each_new_release_input_once() {
        let (c, e) = deploy_errors(&[
            ("INPUT_EXPRESS-SERVICE", "frontend"),
            ("INPUT_ROLLBACK-TO", "previous"),
        ]);
        assert!(e.is_empty(), "{e:#?}");
        assert_eq!(c.rollback, Some(Wanted::Previous));
        let super::super::Target::Express(x) = c.target else {
            panic!("not an ECS Express target: {:?}", c.target)
        };
        assert_eq!(x.image, "");
        let (_, e) = deploy_errors(&[
            ("INPUT_EXPRESS-SERVICE", "frontend"),
            ("INPUT_ROLLBACK-TO", "v1.2.0"),
            ("INPUT_IMAGE", "repo@sha256:abc"),
            ("INPUT_TASK-DEFINITION", "td.json"),
            ("INPUT_PREVIEW", "true"),
            ("INPUT_CONTAINER", "app"),
        ]);
        let all = e.join("\n");
        for input in ["image", "task-definition", "preview", "container"] {
            let n = e
                .iter()
                .filter(|l| l.starts_with(&format!("input `{input}`")))
                .count();
            assert_eq!(n, 1, "`{input}` named once: {all}");
        }
        assert_eq!(e.len(), 4, "{all}");
    }

    #[test]
    fn express_services_are_the_same_when_their_arns_are() {
        let arn = "arn:aws:ecs:eu-west-1:123456789012:service/default/frontend";
        assert!(same_express_service(arn, arn));
        assert!(!same_express_service(
            arn,
            "arn:aws:ecs:eu-west-1:123456789012:service/other/frontend"
        ));
    }

    #[test]
    fn app_runner_names_and_arns_are_the_same_service() {
        let arn =
            "arn:aws:apprunner:eu-west-1:123456789012:service/web/8fe1e10304f84fd2b0df550fe98a71fa";
        assert!(same_app_runner_service(arn, "web"));
        assert!(same_app_runner_service("web", arn));
        assert!(!same_app_runner_service(arn, "api"));
    }
}
