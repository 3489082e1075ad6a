//! Pull-request preview environments (`preview: true`), Lambda target.
//!
//! The event decides what happens:
//!
//! | event | action |
//! | --- | --- |
//! | `pull_request` `opened`/`synchronize`/`reopened` | create or update the preview of PR `n` |
//! | `pull_request` `closed` | remove the preview of PR `n` (idempotent) |
//! | `schedule`, `workflow_dispatch` | sweep: remove previews whose PR is closed or older than `preview-ttl` |
//! | other `pull_request` actions | skipped |
//!
//! A Lambda preview is an alias `pr-<n>` on a version published from the PR's code, with a function URL
//! for that alias. Aliases cannot be tagged, so the record of a preview is a tag **on the function**:
//! key `stevedore:preview:<owner/name>:pr-<n>` ([`record_key`]), value
//! `repo=<owner/name> pr=<n> updated=<RFC 3339>`. The tag is written before anything is created and
//! removed after everything else, so a run cancelled half-way leaves a tagged preview that the close or
//! the sweep removes; the sweep and the limit touch only previews carrying such a tag for this
//! repository.
//!
//! An alias `pr-<n>` is this repository's only when this repository's record of `n` is on the function
//! (issue 25): an alias without it (made by hand, or by another repository's previews of the same
//! function) is refused before anything is written, and so is any other repository's record of `n`
//! ([`claimed_by_other`]) — the alias name is shared, the record is not. Records of older releases
//! (key `stevedore:preview:pr-<n>`) still count when their value names this repository; they are
//! rewritten in the new form on the next update and removed with the preview.

use crate::inputs::Input;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;

use super::lambda::api::Api;
use super::lambda::{self, LambdaConfig, LambdaError, traffic::Traffic};
use crate::context::Context;
use crate::inputs::Inputs;
use crate::inputs::Mode;
use crate::modes::runtime::{ModeError, Runtime};
use crate::report::{Report, Verdict, markdown::table};

pub mod ecs;

/// Prefix of the function tags that record previews.
pub const TAG_PREFIX: &str = "stevedore:preview:";
/// Statement ids of the resource policy that opens a `NONE` URL.
const SID_URL: &str = "stevedore-preview-url";
const SID_INVOKE: &str = "stevedore-preview-invoke";
/// Sticky-comment key of preview reports unless `report-key` is set (`Config::parse` sets it, so the
/// check run and the error reports of a preview step use it too).
pub const REPORT_KEY: &str = "preview";

/// Who may call the preview URL (`preview-url-auth`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UrlAuth {
    /// Only SigV4-signed requests from principals allowed `lambda:InvokeFunctionUrl`.
    AwsIam,
    /// Anyone with the URL (a resource policy statement allows `*`).
    None,
}

impl UrlAuth {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            UrlAuth::AwsIam => "AWS_IAM",
            UrlAuth::None => "NONE",
        }
    }
}

/// The preview inputs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreviewConfig {
    /// `preview-url-auth` (default `AWS_IAM`).
    pub auth: UrlAuth,
    /// `preview-max`: open previews per repository and function (default 3).
    pub max: usize,
    /// `preview-ttl`: a preview not updated for this long is removed by the sweep (default 7 days).
    pub ttl: Duration,
    /// `preview-desired-count`: tasks of an ECS preview service (default 1).
    pub desired_count: i32,
    /// `preview-listener-arn`: the ALB listener that routes `preview-host` to an ECS preview.
    pub listener_arn: Option<String>,
    /// `preview-host`: the host template, `{number}` replaced by the PR number.
    pub host: Option<String>,
}

impl PreviewConfig {
    /// Reads the inputs of a preview; `None` when `preview` (`on`, read by `deploy::Config::parse`) is
    /// false. Errors are collected in `p`.
    pub fn parse(p: &mut Inputs<'_>, on: bool) -> Option<Self> {
        let auth = match p.choice(Input::PreviewUrlAuth, &["AWS_IAM", "NONE"], "AWS_IAM") {
            "NONE" => UrlAuth::None,
            _ => UrlAuth::AwsIam,
        };
        let max = p.integer(Input::PreviewMax, 1..=40, Some(3)).unwrap_or(3);
        let ttl = p.duration(Input::PreviewTtl, Duration::from_secs(7 * 86_400));
        if ttl.is_zero() {
            p.error(
                Input::PreviewTtl,
                Some("0"),
                "must be longer than zero",
                "e.g. `preview-ttl: 7d`",
            );
        }
        let desired_count = p
            .integer(Input::PreviewDesiredCount, 0..=10, Some(1))
            .unwrap_or(1);
        let listener_arn = p.string(Input::PreviewListenerArn);
        if let Some(l) = &listener_arn
            && !valid_listener_arn(l)
        {
            p.error(
                Input::PreviewListenerArn,
                Some(l),
                "is not the ARN of an Application Load Balancer listener",
                "Copy the listener ARN from the load balancer's Listeners tab, e.g. `arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2`",
            );
        }
        let host = p.string(Input::PreviewHost);
        if let Some(h) = &host
            && let Err(problem) = check_host_template(h)
        {
            p.error(
                Input::PreviewHost,
                Some(h),
                &problem,
                "A host name with `{number}` where the PR number goes, e.g. `pr-{number}.preview.example.com`",
            );
        }
        match (&listener_arn, &host) {
            (Some(_), None) => {
                p.missing(
                    Input::PreviewHost,
                    "with `preview-listener-arn` (the host the listener rule matches)",
                    "pr-{number}.preview.example.com",
                );
            }
            (None, Some(_)) => {
                p.missing(
                Input::PreviewListenerArn,
                "with `preview-host` (the ALB listener that gets the host rule)",
                "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2",
            );
            }
            _ => {}
        }
        on.then(|| Self {
            auth,
            max: usize::try_from(max).unwrap_or(3),
            ttl,
            desired_count: i32::try_from(desired_count).unwrap_or(1),
            listener_arn,
            host,
        })
    }
}

/// Whether `arn` names an ALB listener (`arn:<partition>:elasticloadbalancing:<region>:<account>:listener/app/…`).
#[must_use]
pub fn valid_listener_arn(arn: &str) -> bool {
    crate::arn::Arn::parse(arn).is_some_and(|a| {
        a.partition.starts_with("aws")
            && a.service == "elasticloadbalancing"
            && !a.region.is_empty()
            && a.account_is_id()
            && a.resource.starts_with("listener/app/")
    })
}

/// Checks a `preview-host` template: `{number}` once, and a valid host name around it.
pub fn check_host_template(t: &str) -> Result<(), String> {
    if t.matches("{number}").count() != 1 {
        return Err("must contain `{number}` exactly once".into());
    }
    let host = t.replace("{number}", "1");
    let ok = host.len() <= 128
        && host.split('.').count() >= 2
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if ok {
        Ok(())
    } else {
        Err("is not a host name (letters, digits and `-` in dot-separated labels, no scheme, port or path)".into())
    }
}

/// The host of PR `n`'s preview.
#[must_use]
pub fn host_of(template: &str, n: u64) -> String {
    template
        .replace("{number}", &n.to_string())
        .to_ascii_lowercase()
}

/// What this run does with previews.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Create or update the preview of this PR.
    Upsert(u64),
    /// Remove the preview of this PR.
    Close(u64),
    /// Remove previews of closed PRs and previews older than the TTL.
    Sweep,
    /// Nothing to do (the reason).
    Ignore(String),
}

impl Action {
    /// What the action does, for the dry-run report.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Action::Upsert(n) => format!("create or update the preview `pr-{n}` of #{n}"),
            Action::Close(n) => format!("remove the preview `pr-{n}` of #{n}"),
            Action::Sweep => {
                "sweep previews of closed pull requests and previews older than `preview-ttl`"
                    .into()
            }
            Action::Ignore(reason) => format!("do nothing ({reason})"),
        }
    }
}

/// The action for this run's event; `Err` names an event previews do not run on.
pub fn action(ctx: &Context) -> Result<Action, String> {
    let event = ctx.event_name.as_deref().unwrap_or("");
    match event {
        "pull_request" | "pull_request_target" => {
            let Some(pr) = &ctx.pull_request else {
                return Err(format!(
                    "the `{event}` event payload has no pull request number"
                ));
            };
            let act = ctx.event["action"].as_str().unwrap_or("");
            Ok(match act {
                "opened" | "synchronize" | "reopened" => Action::Upsert(pr.number),
                "closed" => Action::Close(pr.number),
                other => Action::Ignore(format!(
                    "`{event}` action `{other}` neither changes nor closes the preview"
                )),
            })
        }
        "schedule" | "workflow_dispatch" => Ok(Action::Sweep),
        other => Err(format!(
            "previews run on `pull_request` (opened, synchronize, reopened, closed) and `schedule` events, not on `{}`",
            if other.is_empty() {
                "an unknown event"
            } else {
                other
            }
        )),
    }
}

/// The alias (and preview name) of PR `n`.
#[must_use]
pub fn alias(n: u64) -> String {
    format!("pr-{n}")
}

/// The GitHub environment of PR `n`'s preview.
#[must_use]
pub fn environment(n: u64) -> String {
    format!("preview/pr-{n}")
}

/// AWS tag keys are at most 128 characters.
const TAG_KEY_MAX: usize = 128;

/// The tag key of `repo`'s record of PR `n`: `stevedore:preview:<owner/name>:pr-<n>`, so that two
/// repositories previewing from one function or service never share (or overwrite) a record. When the
/// repository name would make the key too long for AWS (or has characters tags do not allow), 24 hex
/// digits of its SHA-256 stand in for it (`stevedore:preview:sha256-<hex>:pr-<n>`).
#[must_use]
pub fn record_key(repo: &str, n: u64) -> String {
    use sha2::Digest as _;
    let key = format!("{TAG_PREFIX}{repo}:pr-{n}");
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/');
    if key.len() <= TAG_KEY_MAX && !repo.is_empty() && repo.chars().all(allowed) {
        return key;
    }
    let h = hex::encode(&sha2::Sha256::digest(repo.as_bytes())[..12]);
    format!("{TAG_PREFIX}sha256-{h}:pr-{n}")
}

/// The key older releases recorded PR `n` under, whichever repository it was for.
#[must_use]
pub fn legacy_record_key(n: u64) -> String {
    format!("{TAG_PREFIX}pr-{n}")
}

/// One preview as recorded in a function tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub repo: String,
    pub pr: u64,
    /// RFC 3339, UTC.
    pub updated: String,
    /// Also (or only) recorded under [`legacy_record_key`] by an older release: removed with the preview.
    pub legacy: bool,
}

impl Record {
    /// A new record of `repo`'s preview of PR `pr`.
    #[must_use]
    pub fn new(repo: &str, pr: u64, updated: String) -> Self {
        Self {
            repo: repo.to_owned(),
            pr,
            updated,
            legacy: false,
        }
    }

    /// The key it is written under ([`record_key`]).
    #[must_use]
    pub fn key(&self) -> String {
        record_key(&self.repo, self.pr)
    }

    /// Every key it may be found under, to remove: the current one and, for an old record, the legacy one.
    #[must_use]
    pub fn keys(&self) -> Vec<String> {
        let mut v = vec![self.key()];
        if self.legacy {
            v.push(legacy_record_key(self.pr));
        }
        v
    }

    /// The tag value: only characters Lambda allows in tags (letters, digits, space, `_.:/=+-@`).
    #[must_use]
    pub fn value(&self) -> String {
        format!("repo={} pr={} updated={}", self.repo, self.pr, self.updated)
    }

    /// Parses a tag written by [`Record::value`] under [`record_key`] of the repository its value names
    /// (or under [`legacy_record_key`]); `None` for any other tag, and for a key naming another
    /// repository than its value.
    #[must_use]
    pub fn parse(key: &str, value: &str) -> Option<Self> {
        let n = record_pr(key)?;
        let mut repo = None;
        let mut pr = None;
        let mut updated = None;
        for part in value.split(' ') {
            match part.split_once('=')? {
                ("repo", v) => repo = Some(v.to_owned()),
                ("pr", v) => pr = v.parse::<u64>().ok(),
                ("updated", v) => updated = Some(v.to_owned()),
                _ => {}
            }
        }
        (pr == Some(n)).then_some(())?;
        let repo: String = repo?;
        let legacy = key == legacy_record_key(n);
        (legacy || key == record_key(&repo, n)).then_some(())?;
        Some(Self {
            repo,
            pr: n,
            updated: updated?,
            legacy,
        })
    }

    /// When it was last updated; `None` when the time does not parse.
    #[must_use]
    pub fn updated_at(&self) -> Option<SystemTime> {
        let t = aws_smithy_types::DateTime::from_str(
            &self.updated,
            aws_smithy_types::date_time::Format::DateTime,
        )
        .ok()?;
        SystemTime::try_from(t).ok()
    }

    /// Whether it was not updated within `ttl` of `now` (an unreadable time counts as expired).
    #[must_use]
    pub fn expired(&self, ttl: Duration, now: SystemTime) -> bool {
        self.updated_at()
            .is_none_or(|u| now.duration_since(u).is_ok_and(|age| age > ttl))
    }
}

/// The PR number a preview record's key is about (`…pr-<n>` or `…:pr-<n>` after [`TAG_PREFIX`]).
fn record_pr(key: &str) -> Option<u64> {
    let rest = key.strip_prefix(TAG_PREFIX)?;
    let tail = match rest.rsplit_once(':') {
        Some((_, t)) => t,
        None => rest,
    };
    let digits = tail.strip_prefix("pr-")?;
    (!digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// The previews of `repo` recorded in `tags`, by PR number (a record found under both keys once, marked
/// [`Record::legacy`], with the current key's time).
#[must_use]
pub fn records(tags: &BTreeMap<String, String>, repo: &str) -> BTreeMap<u64, Record> {
    let mut out: BTreeMap<u64, Record> = BTreeMap::new();
    for r in tags
        .iter()
        .filter_map(|(k, v)| Record::parse(k, v))
        .filter(|r| r.repo == repo)
    {
        match out.remove(&r.pr) {
            None => {
                out.insert(r.pr, r);
            }
            Some(other) => {
                let (mut current, _) = if r.legacy { (other, r) } else { (r, other) };
                current.legacy = true;
                out.insert(current.pr, current);
            }
        }
    }
    out
}

/// Whoever else records PR `n` in `tags`: a record of `n` for another repository (either key form), or a
/// tag with a record's key for `n` that is not a record this repository can read — described for an
/// error message (`None` when there is none). Such a claim means `pr-<n>` is not this repository's.
#[must_use]
pub fn claimed_by_other(tags: &BTreeMap<String, String>, repo: &str, n: u64) -> Option<String> {
    for (k, v) in tags {
        if record_pr(k) != Some(n) {
            continue;
        }
        let shown = |s: &str| crate::report::truncate_bytes(s, 160).to_owned();
        match Record::parse(k, v) {
            Some(r) if r.repo == repo => {}
            Some(r) => {
                return Some(format!(
                    "repository `{}` (tag `{}`)",
                    shown(&r.repo),
                    shown(k)
                ));
            }
            None => {
                return Some(format!(
                    "a record this repository did not write (tag `{}` = `{}`)",
                    shown(k),
                    shown(v)
                ));
            }
        }
    }
    None
}

/// Now, RFC 3339 UTC (seconds).
pub(crate) fn rfc3339(t: SystemTime) -> String {
    aws_smithy_types::DateTime::from(t)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default()
}

/// What a preview step does once its event is understood.
pub(crate) struct Prelude {
    pub act: Action,
    pub repo: String,
    pub key: String,
}

/// How a preview step starts.
pub(crate) enum Start {
    /// Go on with AWS.
    Go(Prelude),
    /// The step ends here with this result (skipped, dry run, or a configuration error).
    Done(Box<Result<Report, ModeError>>),
}

/// The checks every preview target makes before touching AWS: the event, a fork, the repository, a dry
/// run.
pub(crate) fn prelude(rt: &Runtime<'_>, target: &str) -> Start {
    let act = match action(rt.ctx) {
        Ok(a) => a,
        Err(message) => {
            return Start::Done(Box::new(Err(ModeError::Config {
                message: format!("`preview: true`: {message}"),
                hint: Some(
                    "Run the preview step `on: pull_request: types: [opened, synchronize, reopened, closed]` and `on: schedule` (docs/previews.md)."
                        .into(),
                ),
            })));
        }
    };
    let key = rt
        .common
        .report_key
        .clone()
        .unwrap_or_else(|| REPORT_KEY.to_owned());
    if let Action::Ignore(reason) = &act {
        // No comment: the PR's comment keeps showing its preview.
        let mut r = skipped(key, format!("Nothing to do: {reason}."));
        r.comment = false;
        return Start::Done(Box::new(Ok(r)));
    }
    let fork = rt.ctx.pull_request.as_ref().is_some_and(|p| p.from_fork);
    if fork && matches!(act, Action::Upsert(_) | Action::Close(_)) {
        let msg = "This pull request comes from a fork: GitHub gives fork PRs no OIDC token (and a read-only `GITHUB_TOKEN`), so no preview is deployed for it. The step is skipped, not failed.";
        rt.cmds.annotate(
            crate::report::Level::Notice,
            Some("stevedore deploy: no preview for a fork"),
            &crate::report::Location::default(),
            msg,
        );
        return Start::Done(Box::new(Ok(skipped(key, msg.to_owned()))));
    }
    let Some(repo) = rt.ctx.repository.clone() else {
        return Start::Done(Box::new(Err(ModeError::Config {
            message:
                "`preview: true` needs GITHUB_REPOSITORY (previews are recorded per repository)"
                    .into(),
            hint: None,
        })));
    };
    if rt.common.dry_run {
        return Start::Done(Box::new(Ok(skipped(
            key,
            format!(
                "Dry run: would {} on {target}; nothing was read or written.",
                act.describe()
            ),
        ))));
    }
    Start::Go(Prelude { act, repo, key })
}

/// Runs `deploy` with `preview: true` on a Lambda function.
pub async fn run_lambda(
    rt: &Runtime<'_>,
    cfg: &LambdaConfig,
    pv: &PreviewConfig,
) -> Result<Report, ModeError> {
    let Prelude { act, repo, key } = match prelude(rt, &format!("function `{}`", cfg.function_name))
    {
        Start::Go(p) => p,
        Start::Done(done) => return *done,
    };
    let aws = rt
        .connect_aws(&cfg.aws, crate::aws::Purpose::Deploy)
        .await?;
    let github = rt.github();
    let s = Session {
        rt,
        cfg,
        pv,
        sdk: &aws.sdk,
        repo,
        github,
        key,
    };
    match act {
        Action::Upsert(n) => s.upsert(n).await,
        Action::Close(n) => s.close(n).await,
        Action::Sweep => s.sweep().await,
        // Returned above; kept exhaustive rather than panicking.
        Action::Ignore(reason) => Ok(skipped(s.key, format!("Nothing to do: {reason}."))),
    }
}

pub(crate) fn skipped(key: String, message: String) -> Report {
    let mut r = Report::new(Mode::Deploy, Verdict::Skipped, "preview: skipped", message);
    r.key = Some(key);
    r
}

/// One connected run.
struct Session<'a> {
    rt: &'a Runtime<'a>,
    cfg: &'a LambdaConfig,
    pv: &'a PreviewConfig,
    sdk: &'a SdkConfig,
    repo: String,
    github: Option<crate::github::Client>,
    key: String,
}

impl crate::modes::runtime::Failure for PreviewError {
    fn is_config(&self) -> bool {
        match self {
            PreviewError::Lambda(l) => l.is_config(),
            PreviewError::NotOurs { .. } => false,
        }
    }
    fn hint(&self) -> Option<String> {
        match self {
            PreviewError::Lambda(l) => crate::modes::runtime::Failure::hint(l),
            PreviewError::NotOurs { hint, .. } => Some(hint.clone()),
        }
    }
}

/// Errors of the preview actions.
#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    #[error(transparent)]
    Lambda(#[from] LambdaError),
    /// `pr-<n>` exists or is recorded, but not by this repository.
    #[error("{message}")]
    NotOurs { message: String, hint: String },
}

impl Session<'_> {
    fn api(&self) -> Api {
        Api::new(
            self.sdk,
            &self.cfg.function_name,
            crate::net::Net::from_env(self.rt.env),
        )
    }

    /// The function's ARN, its tags and the previews of this repository recorded in them.
    async fn look(
        &self,
        api: &Api,
    ) -> Result<(String, BTreeMap<String, String>, BTreeMap<u64, Record>), PreviewError> {
        let cur = api
            .get_function()
            .await?
            .ok_or_else(|| LambdaError::FunctionNotFound {
                function: self.cfg.function_name.clone(),
            })?;
        let arn = unqualified(&cur.arn);
        let tags = api.tags(&arn).await?;
        let recs = records(&tags, &self.repo);
        Ok((arn, tags, recs))
    }

    /// Refuses PR `n`'s alias when it is not provably this repository's: another repository's (or an
    /// unreadable) record of `n` on the function, or an alias `pr-<n>` without this repository's record.
    /// Runs before anything is written.
    async fn check_owner(
        &self,
        api: &Api,
        tags: &BTreeMap<String, String>,
        recs: &BTreeMap<u64, Record>,
        n: u64,
    ) -> Result<(), PreviewError> {
        let a = alias(n);
        let function = &self.cfg.function_name;
        if let Some(other) = claimed_by_other(tags, &self.repo, n) {
            return Err(PreviewError::NotOurs {
                message: format!(
                    "alias `{a}` of function `{function}` is claimed by {other}, not by {}; nothing was changed",
                    self.repo
                ),
                hint: "Two repositories previewing on one function share the alias names `pr-<number>`: give each repository its own function, or remove that tag if the other repository's preview is gone (docs/previews.md)".into(),
            });
        }
        if !recs.contains_key(&n) && api.get_alias(&a).await?.is_some() {
            return Err(PreviewError::NotOurs {
                message: format!(
                    "alias `{a}` exists on function `{function}` but carries no stevedore preview record of {} for #{n} (function tag `{}`); it was left alone and nothing was changed",
                    self.repo,
                    record_key(&self.repo, n)
                ),
                hint: format!(
                    "stevedore takes over no alias it did not create: rename or delete alias `{a}` if it is not needed, or preview on another function"
                ),
            });
        }
        Ok(())
    }

    async fn upsert(&self, n: u64) -> Result<Report, ModeError> {
        let api = self.api();
        let (arn, tags, recs) = self.look(&api).await?;
        self.check_owner(&api, &tags, &recs, n).await?;
        let now = SystemTime::now();
        let mut notes = Vec::new();
        // Expired previews are removed here rather than waiting for the sweep.
        let room = Room::for_preview(&recs, n, self.pv, now);
        for r in &room.expired {
            let removed = teardown(&api, &arn, r).await?;
            notes.push(expired_note(r, &removed));
            self.github_closed(r.pr, "expired (preview-ttl)").await;
        }
        if room.full {
            return Ok(self.refuse(n, &room.others));
        }
        // The record first: whatever follows, a cancelled run leaves something the sweep can find.
        let record = Record::new(&self.repo, n, rfc3339(now));
        api.tag(&arn, &record.key(), &record.value()).await?;
        if recs.get(&n).is_some_and(|r| r.legacy) {
            // An older release's record of ours: now recorded under the repository's key.
            api.untag(&arn, &legacy_record_key(n)).await?;
        }

        let mut deploy_cfg = self.cfg.clone();
        deploy_cfg.alias = alias(n);
        deploy_cfg.traffic = Traffic::AllAtOnce;
        let env_name = environment(n);
        let (deployment, mut gh_note) = match &self.github {
            Some(gh) => match crate::github::deployments::start_transient(
                gh,
                self.rt.ctx,
                &env_name,
                &format!("Preview of #{n}: Lambda {}", self.cfg.function_name),
            )
            .await
            {
                Ok(d) => (Some(d), None),
                Err(e) => (None, Some(format!("GitHub deployment not recorded: {e}"))),
            },
            None => (None, None),
        };
        let net = crate::net::Net::from_env(self.rt.env);
        let mut d = match lambda::deploy(self.sdk, &deploy_cfg, &net, &self.rt.cancel, false).await
        {
            Ok(d) => d,
            Err(e) => {
                // The Deployment must not stay `in_progress`.
                if let (Some(gh), Some(dep)) = (&self.github, &deployment)
                    && let Err(ge) =
                        crate::github::deployments::finish(gh, dep, false, None, None).await
                {
                    tracing::warn!("GitHub deployment status not recorded: {ge}");
                }
                return Err(PreviewError::from(e).into());
            }
        };
        let ok = lambda::report::verdict(&d.ending) != Verdict::Failure;
        let mut url = None;
        if ok && !self.rt.cancel.is_cancelled() {
            url = Some(self.ensure_url(&api, n, &mut notes).await?);
        }
        if let (Some(gh), Some(dep)) = (&self.github, &deployment) {
            let finished =
                crate::github::deployments::finish(gh, dep, ok, url.as_deref(), None).await;
            gh_note = Some(deployment_ended(gh, &self.repo, &env_name, dep, ok, finished).await);
        }
        notes.extend(gh_note);
        merge_stats(&mut d.stats, &api.stats());
        let open = room.open_with(n);
        let mut r = lambda::report::render(&d, Some(self.key.clone()));
        let mut head = match &url {
            Some(u) => format!(
                "### 🔍 Preview of #{n}: {u}\n\n{}\n\n",
                table(
                    &["", ""],
                    &[
                        vec!["URL".into(), u.clone()],
                        vec![
                            "alias".into(),
                            format!(
                                "`{}` (version {})",
                                alias(n),
                                d.version.clone().unwrap_or_default()
                            )
                        ],
                        vec!["URL auth".into(), auth_note(self.pv.auth)],
                        vec!["environment".into(), format!("`{env_name}`")],
                        vec!["updated".into(), record.updated.clone()],
                        open_row(&open, self.pv.max),
                    ],
                )
            ),
            None => format!(
                "### 🔍 Preview of #{n}: not available\n\nThe deploy did not finish ({}); the preview is recorded and is removed when the pull request closes or by the sweep.\n\n",
                lambda::report::result_line(&d)
            ),
        };
        for note in &notes {
            head.push_str(&format!("> {note}\n\n"));
        }
        r.summary = format!("{head}{}", r.summary);
        if let Some(c) = r.checks.first_mut() {
            c.summary = r.summary.clone();
        }
        if let Some(u) = &url {
            r.title = format!("preview of #{n}: {u}");
            r.output("preview-url", u.clone());
        }
        if let Some(next) = lambda::report::next_step(&d) {
            r.fail_because(
                format!(
                    "Lambda preview of #{n}: {}",
                    lambda::report::result_line(&d)
                ),
                next,
            );
        }
        Ok(r)
    }

    /// The URL of `pr-<n>` with the wanted auth type (created, or its auth type updated).
    async fn ensure_url(
        &self,
        api: &Api,
        n: u64,
        notes: &mut Vec<String>,
    ) -> Result<String, PreviewError> {
        let a = alias(n);
        let want = self.pv.auth.as_str();
        let url = match api.get_url(&a).await? {
            None => api.create_url(&a, want).await?,
            Some((u, auth)) if auth == want => u,
            Some((_, auth)) => {
                notes.push(format!(
                    "Function URL auth type changed from {auth} to {want}."
                ));
                if auth == "NONE" {
                    api.remove_permission(&a, SID_URL).await?;
                    api.remove_permission(&a, SID_INVOKE).await?;
                }
                api.update_url(&a, want).await?
            }
        };
        if self.pv.auth == UrlAuth::None {
            api.add_url_permission(&a, SID_URL, "lambda:InvokeFunctionUrl", false)
                .await?;
            api.add_url_permission(&a, SID_INVOKE, "lambda:InvokeFunction", true)
                .await?;
        }
        Ok(url)
    }

    /// The report refusing a new preview: `preview-max` open previews, none expired.
    fn refuse(&self, n: u64, open: &[&Record]) -> Report {
        let list = open
            .iter()
            .map(|r| format!("#{} (`{}`, last updated {})", r.pr, alias(r.pr), r.updated))
            .collect::<Vec<_>>()
            .join(", ");
        refused_report(
            n,
            open.len(),
            &list,
            self.pv.max,
            &self.repo,
            &format!("`{}`", self.cfg.function_name),
            &self.key,
        )
    }

    async fn close(&self, n: u64) -> Result<Report, ModeError> {
        let api = self.api();
        let (arn, _, recs) = match self.look(&api).await {
            Ok(x) => x,
            Err(PreviewError::Lambda(LambdaError::FunctionNotFound { .. })) => {
                return Ok(nothing_to_remove_report(
                    n,
                    &format!("Function `{}` does not exist", self.cfg.function_name),
                    &self.key,
                ));
            }
            Err(e) => return Err(e.into()),
        };
        let mut lines = Vec::new();
        let removed_any = recs.contains_key(&n);
        if let Some(rec) = recs.get(&n) {
            let removed = teardown(&api, &arn, rec).await?;
            lines.push(format!(
                "Removed from `{}`: {}.",
                self.cfg.function_name,
                removed.join(", ")
            ));
        } else if api.get_alias(&alias(n)).await?.is_some() {
            lines.push(format!(
                "Alias `{}` exists on `{}` but carries no stevedore preview record for {}; it was left alone.",
                alias(n),
                self.cfg.function_name,
                self.repo
            ));
        } else {
            lines.push("There was no preview to remove.".into());
        }
        lines.extend(self.github_deactivate(n, "Pull request closed").await);
        Ok(removed_report(n, &lines, &self.key, removed_any))
    }

    async fn sweep(&self) -> Result<Report, ModeError> {
        let api = self.api();
        let (arn, _, recs) = self.look(&api).await?;
        let now = SystemTime::now();
        let mut rows = Vec::new();
        let mut removed_count = 0;
        for r in recs.values() {
            let why =
                match sweep_reason(self.github.as_ref(), &self.repo, r, self.pv.ttl, now).await {
                    Ok(why) => why,
                    Err(kept) => {
                        rows.push(kept);
                        continue;
                    }
                };
            let removed = teardown(&api, &arn, r).await?;
            removed_count += 1;
            self.github_closed(r.pr, why).await;
            rows.push(removed_row(r, why, &removed));
        }
        Ok(sweep_report(
            &self.repo,
            &format!("`{}`", self.cfg.function_name),
            self.pv.ttl,
            &rows,
            removed_count,
            &self.key,
        ))
    }

    async fn github_deactivate(&self, n: u64, why: &str) -> Vec<String> {
        github_deactivate(self.github.as_ref(), &self.repo, n, why).await
    }

    async fn github_closed(&self, n: u64, why: &str) {
        github_closed(self.github.as_ref(), &self.repo, &self.key, n, why).await;
    }
}

/// Why the sweep removes the preview of record `r`: its pull request closed, or it was not updated within
/// `ttl`. `Err`: it is kept, and the sweep report's row says so.
pub(crate) async fn sweep_reason(
    github: Option<&crate::github::Client>,
    repo: &str,
    r: &Record,
    ttl: Duration,
    now: SystemTime,
) -> Result<&'static str, Vec<String>> {
    let expired = r.expired(ttl, now);
    let state = pr_state(github, repo, r.pr).await;
    if state.as_deref() == Some("closed") {
        Ok("pull request closed")
    } else if expired {
        Ok("not updated within `preview-ttl`")
    } else {
        Err(vec![
            format!("#{}", r.pr),
            r.updated.clone(),
            "kept".into(),
            state.map_or_else(
                || "PR state unknown".into(),
                |s| format!("pull request {s}"),
            ),
        ])
    }
}

/// Room for the preview of #`n` among the other previews of `recs`. Only when #`n` has none yet and
/// `preview-max` others live are the expired ones among them (`expired`) removed first; `full` when the
/// rest (`others`) still leave no room.
pub(crate) struct Room<'r> {
    pub expired: Vec<&'r Record>,
    pub others: Vec<&'r Record>,
    pub full: bool,
}

impl<'r> Room<'r> {
    /// The previews open once `n` is deployed: the others still recorded (an expired one removed to
    /// make room is no longer among them) and `n`, in order.
    pub(crate) fn open_with(&self, n: u64) -> Vec<u64> {
        let mut open: Vec<u64> = self.others.iter().map(|r| r.pr).collect();
        open.push(n);
        open.sort_unstable();
        open
    }

    pub(crate) fn for_preview(
        recs: &'r BTreeMap<u64, Record>,
        n: u64,
        pv: &PreviewConfig,
        now: SystemTime,
    ) -> Self {
        let others: Vec<&Record> = recs.values().filter(|r| r.pr != n).collect();
        if recs.contains_key(&n) || others.len() < pv.max {
            return Room {
                expired: Vec::new(),
                others,
                full: false,
            };
        }
        let (expired, others): (Vec<&Record>, Vec<&Record>) =
            others.into_iter().partition(|r| r.expired(pv.ttl, now));
        let full = others.len() >= pv.max;
        Room {
            expired,
            others,
            full,
        }
    }
}

/// The report row of the open previews (`open`: their PR numbers) against `preview-max`.
pub(crate) fn open_row(open: &[u64], max: usize) -> Vec<String> {
    vec![
        "open previews".into(),
        format!(
            "{} of {max} (`preview-max`): {}",
            open.len(),
            open.iter()
                .map(|p| format!("#{p}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ]
}

/// The note on an expired preview removed to make room for a new one.
pub(crate) fn expired_note(r: &Record, removed: &[String]) -> String {
    format!(
        "Removed the expired preview of #{} (last updated {}, older than `preview-ttl`): {}.",
        r.pr,
        r.updated,
        removed.join(", ")
    )
}

/// The sweep report's row of a removed preview.
pub(crate) fn removed_row(r: &Record, why: &str, removed: &[String]) -> Vec<String> {
    vec![
        format!("#{}", r.pr),
        r.updated.clone(),
        "removed".into(),
        format!("{why}: {}", removed.join(", ")),
    ]
}

/// `open`/`closed` from GitHub; `None` without a client or when GitHub does not answer.
pub(crate) async fn pr_state(
    github: Option<&crate::github::Client>,
    repo: &str,
    n: u64,
) -> Option<String> {
    let gh = github?;
    match gh.get(&format!("/repos/{repo}/pulls/{n}")).await {
        Ok(v) => v["state"].as_str().map(str::to_owned),
        Err(e) => {
            tracing::warn!("cannot read the state of #{n}: {e}");
            None
        }
    }
}

/// A preview's GitHub Deployment ended (`finished`: its final status recorded, or why not); a successful one
/// marks the environment's earlier preview Deployments inactive. The note for the report.
pub(crate) async fn deployment_ended(
    gh: &crate::github::Client,
    repo: &str,
    env_name: &str,
    dep: &crate::github::deployments::Deployment,
    ok: bool,
    finished: Result<(), crate::github::GithubError>,
) -> String {
    let r = match finished {
        Ok(()) if ok => crate::github::deployments::deactivate(
            gh,
            repo,
            env_name,
            Some(dep.id),
            "Superseded by a newer preview deployment",
        )
        .await
        .map(|_| ()),
        other => other,
    };
    match r {
        Ok(()) => format!(
            "GitHub deployment {} to environment `{env_name}` marked {}.",
            dep.id,
            if ok { "success" } else { "failure" }
        ),
        Err(e) => format!("GitHub deployment status not recorded: {e}"),
    }
}

/// Marks the PR's preview Deployments inactive; the notes.
pub(crate) async fn github_deactivate(
    github: Option<&crate::github::Client>,
    repo: &str,
    n: u64,
    why: &str,
) -> Vec<String> {
    let Some(gh) = github else {
        return vec!["No `github-token`: GitHub Deployments were not updated.".into()];
    };
    let env = environment(n);
    match crate::github::deployments::deactivate(
        gh,
        repo,
        &env,
        None,
        &format!("Preview removed: {why}"),
    )
    .await
    {
        Ok(0) => vec![format!("No active GitHub deployment in `{env}`.")],
        Ok(k) => vec![format!(
            "{k} GitHub deployment(s) in `{env}` marked inactive."
        )],
        Err(e) => vec![format!("GitHub deployments in `{env}` not updated: {e}")],
    }
}

/// After a removal outside the PR's own run: Deployments inactive and the PR's sticky comment saying so
/// (errors are logged; the removal stands).
pub(crate) async fn github_closed(
    github: Option<&crate::github::Client>,
    repo: &str,
    key: &str,
    n: u64,
    why: &str,
) {
    let notes = github_deactivate(github, repo, n, why).await;
    let Some(gh) = github else { return };
    let mut marker_report = Report::new(Mode::Deploy, Verdict::Success, "", "");
    marker_report.key = Some(key.to_owned());
    let body = format!(
        "## stevedore deploy\n\n{}",
        removed_body(n, "removed", why, &notes)
    );
    if let Err(e) =
        crate::github::comments::upsert(gh, repo, n, &marker_report.marker(), &body).await
    {
        tracing::warn!("the comment on #{n} was not updated: {e}");
    }
}

/// Removes what this repository's preview `rec` consists of, last the record; each step is a no-op when
/// already gone. The names of what was actually removed.
async fn teardown(api: &Api, function_arn: &str, rec: &Record) -> Result<Vec<String>, LambdaError> {
    let a = alias(rec.pr);
    let mut removed = Vec::new();
    if api.delete_url(&a).await? {
        removed.push(format!("function URL of `{a}`"));
    }
    if api.get_alias(&a).await?.is_some() {
        api.remove_permission(&a, SID_URL).await?;
        api.remove_permission(&a, SID_INVOKE).await?;
    }
    if api.delete_alias(&a).await? {
        removed.push(format!("alias `{a}`"));
    }
    for key in rec.keys() {
        api.untag(function_arn, &key).await?;
    }
    removed.push("preview record (function tag)".into());
    Ok(removed)
}

/// The function ARN without a version or alias qualifier (tags live on the function).
fn unqualified(arn: &str) -> String {
    let parts: Vec<&str> = arn.split(':').collect();
    if parts.len() > 7 {
        parts[..7].join(":")
    } else {
        arn.to_owned()
    }
}

fn merge_stats(into: &mut lambda::api::Stats, more: &lambda::api::Stats) {
    for (k, v) in &more.calls {
        *into.calls.entry(k).or_default() += v;
    }
    into.in_api += more.in_api;
}

fn auth_note(a: UrlAuth) -> String {
    match a {
        UrlAuth::AwsIam => "`AWS_IAM`: requests must be SigV4-signed by a principal allowed `lambda:InvokeFunctionUrl` (e.g. `awscurl --service lambda URL`)".into(),
        UrlAuth::None => "`NONE`: public, anyone with the URL can call it".into(),
    }
}

pub(crate) fn fmt_ttl(d: Duration) -> String {
    let s = d.as_secs();
    if s.is_multiple_of(86_400) {
        format!("{}d", s / 86_400)
    } else if s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else {
        format!("{s}s")
    }
}

pub(crate) fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

// ---- the reports both preview targets give; `on` names what previews hang on ("`orders-api`",
// "service `web`") ----

/// A new preview refused: `preview-max` previews open (`list` names them), none expired.
pub(super) fn refused_report(
    n: u64,
    open: usize,
    list: &str,
    max: usize,
    repo: &str,
    on: &str,
    key: &str,
) -> Report {
    let reason = format!(
        "no preview for #{n}: `preview-max` ({max}) previews of {repo} are already open on {on}: {list}"
    );
    let mut r = Report::new(
        Mode::Deploy,
        Verdict::Failure,
        format!("preview of #{n}: refused, {open} previews open"),
        format!(
            "### 🔍 Preview of #{n}: refused\n\n{}.\n\nNothing was created for #{n}.\n",
            // The list quotes tag values anyone allowed to tag the function or service wrote.
            crate::report::markdown::sentence(&upper_first(&reason))
        ),
    );
    r.key = Some(key.to_owned());
    r.fail_because(
        reason,
        "Close one of those pull requests (its preview is removed on close), raise `preview-max`, or lower `preview-ttl` so the scheduled sweep frees them sooner; then re-run this job.",
    );
    r
}

/// A close with nothing to remove because what previews hang on does not exist (`why`): said in the
/// job summary only, so the sticky comment keeps what an earlier close removed, and a pull request that
/// never had a preview gets no comment.
pub(super) fn nothing_to_remove_report(n: u64, why: &str, key: &str) -> Report {
    let mut r = Report::new(
        Mode::Deploy,
        Verdict::Success,
        format!("preview of #{n}: nothing to remove"),
        format!(
            "### 🔍 Preview of #{n}: nothing to remove\n\n{why}, so there is no preview to remove.\n"
        ),
    );
    r.key = Some(key.to_owned());
    r.comment = false;
    r
}

/// A close: what was removed (or that there was nothing), one line each. Only a close that `removed`
/// something writes the sticky comment; otherwise (a second close, a pull request without a preview, a
/// service or alias left alone) the job summary says so and the comment keeps its record.
pub(super) fn removed_report(n: u64, lines: &[String], key: &str, removed: bool) -> Report {
    let (title, why) = if removed {
        ("removed", "pull request closed")
    } else {
        ("nothing to remove", "pull request closed")
    };
    let mut r = Report::new(
        Mode::Deploy,
        Verdict::Success,
        format!("preview of #{n}: {title}"),
        removed_body(n, title, why, lines),
    );
    r.key = Some(key.to_owned());
    r.comment = removed;
    r
}

/// The report section of a removed preview: why, then one line each of what was done.
fn removed_body(n: u64, title: &str, why: &str, lines: &[String]) -> String {
    format!(
        "### 🔍 Preview of #{n}: {title} ({why})\n\n{}\n",
        lines
            .iter()
            .map(|l| format!("- {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    )
}

/// A sweep: one row per recorded preview (PR, last updated, result, why).
pub(super) fn sweep_report(
    repo: &str,
    on: &str,
    ttl: Duration,
    rows: &[Vec<String>],
    removed_count: usize,
    key: &str,
) -> Report {
    let summary = if rows.is_empty() {
        format!("### 🔍 Preview sweep\n\nNo previews of {repo} are recorded on {on}.\n")
    } else {
        format!(
            "### 🔍 Preview sweep\n\n`preview-ttl` {}; previews of {repo} on {on}:\n\n{}",
            fmt_ttl(ttl),
            table(&["PR", "last updated", "result", "why"], rows)
        )
    };
    let mut r = Report::new(
        Mode::Deploy,
        Verdict::Success,
        format!(
            "preview sweep: {removed_count} removed, {} kept",
            rows.len() - removed_count
        ),
        summary,
    );
    r.key = Some(key.to_owned());
    r.output("previews-removed", removed_count.to_string());
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Env;
    use serde_json::Value;

    fn pull_request_event(number: u64, action: &str) -> Value {
        serde_json::json!({"action": action, "number": number, "pull_request": {"number": number}})
    }

    fn ctx(event: &str, payload: Value) -> Context {
        let env = Env::from_pairs([("GITHUB_EVENT_NAME", event)]);
        Context::from_parts(&env, payload)
    }

    #[test]
    fn events_choose_the_action() {
        for (a, want) in [
            ("opened", Action::Upsert(7)),
            ("synchronize", Action::Upsert(7)),
            ("reopened", Action::Upsert(7)),
            ("closed", Action::Close(7)),
        ] {
            assert_eq!(
                action(&ctx("pull_request", pull_request_event(7, a))),
                Ok(want)
            );
        }
        assert!(matches!(
            action(&ctx("pull_request", pull_request_event(7, "labeled"))),
            Ok(Action::Ignore(_))
        ));
        assert_eq!(action(&ctx("schedule", Value::Null)), Ok(Action::Sweep));
        let e = action(&ctx("push", Value::Null)).unwrap_err();
        assert!(e.contains("not on `push`"), "{e}");
    }

    #[test]
    fn records_round_trip_and_only_ours_count() {
        let r = Record::new("octo-org/octo-repo", 12, "2026-12-01T03:30:00Z".into());
        assert_eq!(r.key(), "stevedore:preview:octo-org/octo-repo:pr-12");
        assert_eq!(
            r.value(),
            "repo=octo-org/octo-repo pr=12 updated=2026-12-01T03:30:00Z"
        );
        // Every character is one Lambda allows in a tag value.
        assert!(
            r.value()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || " _.:/=+-@".contains(c))
        );
        assert_eq!(Record::parse(&r.key(), &r.value()), Some(r.clone()));
        let tags = BTreeMap::from([
            (r.key(), r.value()),
            (
                "stevedore:preview:pr-13".into(),
                "repo=other/repo pr=13 updated=2026-12-01T03:30:00Z".into(),
            ),
            (
                "stevedore:preview:pr-14".into(),
                "repo=octo-org/octo-repo pr=99 updated=x".into(),
            ),
            ("team".into(), "web".into()),
        ]);
        assert_eq!(
            records(&tags, "octo-org/octo-repo")
                .into_keys()
                .collect::<Vec<_>>(),
            [12]
        );
    }

    #[test]
    fn record_keys_name_the_repository_and_other_claims_are_seen() {
        let ours = "octo-org/octo-repo";
        let value = |repo: &str, n: u64| format!("repo={repo} pr={n} updated=2026-12-01T03:30:00Z");
        // Long names get a hash, within the 128 characters AWS allows.
        let long = format!("o/{}", "r".repeat(110));
        let k = record_key(&long, 7);
        assert!(
            k.len() <= 128 && k.starts_with("stevedore:preview:sha256-") && k.ends_with(":pr-7"),
            "{k}"
        );
        assert_eq!(
            Record::parse(&k, &value(&long, 7)).map(|r| r.repo),
            Some(long.clone())
        );
        // A key naming one repository with a value naming another is nobody's record.
        assert_eq!(
            Record::parse(&record_key(ours, 7), &value("other/repo", 7)),
            None
        );
        // An older release's key: ours when its value names us; merged with the current one.
        let tags = BTreeMap::from([
            (legacy_record_key(3), value(ours, 3)),
            (legacy_record_key(4), value(ours, 4)),
            (
                record_key(ours, 4),
                value(ours, 4).replace("2026-12-01", "2026-12-02"),
            ),
        ]);
        let recs = records(&tags, ours);
        assert!(recs[&3].legacy && recs[&4].legacy);
        assert!(recs[&4].updated.starts_with("2026-12-02"));
        assert_eq!(recs[&3].keys(), [record_key(ours, 3), legacy_record_key(3)]);
        assert_eq!(claimed_by_other(&tags, ours, 3), None);
        // Another repository's record of the same PR, in either form, or an unreadable one, is a claim.
        for (k, v) in [
            (legacy_record_key(7), value("other-org/other-repo", 7)),
            (
                record_key("other-org/other-repo", 7),
                value("other-org/other-repo", 7),
            ),
            (legacy_record_key(7), "made by hand".to_owned()),
            (record_key(ours, 7), value("other-org/other-repo", 7)),
        ] {
            let tags = BTreeMap::from([(k.clone(), v.clone())]);
            assert!(claimed_by_other(&tags, ours, 7).is_some(), "{k} = {v}");
            assert!(records(&tags, ours).is_empty(), "{k} = {v}");
            assert_eq!(claimed_by_other(&tags, ours, 8), None);
        }
    }

    /// Issue 31: only `pr-<digits>` is a record's key. `pr-+5` (which Rust's number parser reads as 5) is
    /// someone else's tag: it does not claim PR 5 and refuse its preview.
    #[test]
    fn only_digits_make_the_number_of_a_record_s_key() {
        let key = format!("{TAG_PREFIX}pr-+5");
        let tags = BTreeMap::from([(
            key.clone(),
            "repo=o/r pr=5 updated=2026-01-01T00:00:00Z".to_owned(),
        )]);
        assert_eq!(record_pr(&key), None);
        assert_eq!(claimed_by_other(&tags, "o/r", 5), None);
        assert_eq!(record_pr(&record_key("o/r", 5)), Some(5));
    }

    #[test]
    fn expiry_follows_the_ttl() {
        let r = Record::new("o/r", 1, "2026-12-01T00:00:00Z".into());
        let at = r.updated_at().unwrap();
        let day = Duration::from_secs(86_400);
        assert!(!r.expired(7 * day, at + 6 * day));
        assert!(r.expired(7 * day, at + 8 * day));
        let bad = Record {
            updated: "yesterday".into(),
            ..r
        };
        assert!(bad.expired(7 * day, at));
    }

    #[test]
    fn listener_arns_and_host_templates_are_checked() {
        assert!(valid_listener_arn(
            "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2"
        ));
        assert!(!valid_listener_arn(
            "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/web/50dc6c495c0c9188"
        ));
        assert!(!valid_listener_arn(
            "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/net/nlb/1/2"
        ));
        assert!(!valid_listener_arn("listener/app/web/1/2"));
        assert!(check_host_template("pr-{number}.preview.example.com").is_ok());
        assert!(check_host_template("preview.example.com").is_err());
        assert!(check_host_template("{number}-{number}.example.com").is_err());
        assert!(check_host_template("https://pr-{number}.example.com").is_err());
        assert!(check_host_template("pr-{number}.example.com/path").is_err());
        assert!(check_host_template("pr-{number}").is_err());
        assert_eq!(
            host_of("PR-{number}.Preview.example.com", 12),
            "pr-12.preview.example.com"
        );
    }

    #[test]
    fn arns_lose_their_qualifier() {
        assert_eq!(
            unqualified("arn:aws:lambda:us-east-1:123456789012:function:f:pr-1"),
            "arn:aws:lambda:us-east-1:123456789012:function:f"
        );
        assert_eq!(
            unqualified("arn:aws:lambda:us-east-1:123456789012:function:f"),
            "arn:aws:lambda:us-east-1:123456789012:function:f"
        );
    }
}
