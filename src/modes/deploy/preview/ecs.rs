//! Pull-request previews of an ECS service (`preview: true` with `cluster` + `service`).
//!
//! A preview of PR `n` is:
//!
//! - a service `<service>-pr-<n>` in the base service's cluster, cloned from it (network configuration,
//!   launch type or capacity provider strategy, platform version, placement, deployment configuration),
//!   running a new revision of the base service's task definition with the PR's image, `desiredCount`
//!   from `preview-desired-count`; followed to steady state like any ECS rollout;
//! - with `preview-listener-arn` and `preview-host`: a target group copied from the base service's first
//!   target group (protocol, port, VPC, target type, health check) and a `host-header` rule on that
//!   listener forwarding `preview-host` to it; the service is registered to the target group.
//!
//! The record of a preview is a tag on the **base service** (`stevedore:preview:<owner/name>:pr-<n>` =
//! `repo=<owner/name> pr=<n> updated=<RFC 3339>`, the Lambda record's shape), written before anything
//! is created and removed after everything else; the service, the target group and the rule carry the
//! same tag. A run cancelled half-way therefore leaves a record, and the close or the sweep removes
//! whatever exists of it; the clean-up removes only resources carrying this repository's tag for that
//! PR (anything else with a preview's name is reported and left alone).
//!
//! Before anything is written (issue 25), [`Session::check_owner`] refuses a preview whose names are
//! taken by someone else: another repository's (or an unreadable) record of `n` on the base service, a
//! service `<service>-pr-<n>` or target group without this repository's record, or a listener rule
//! already routing the preview's host. So a refused run changes nothing — in particular not the other
//! repository's record, which its own close and sweep still find.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Instant, SystemTime};

use aws_config::SdkConfig;
use aws_sdk_ecs::Client;
use aws_sdk_ecs::error::ProvideErrorMetadata as _;
use aws_sdk_ecs::types::{LoadBalancer, PropagateTags, Service, Tag};

use super::{
    Action, Prelude, PreviewConfig, Record, Start, claimed_by_other, deployment_ended, environment,
    github_closed, github_deactivate, host_of, legacy_record_key, prelude, records, rfc3339,
};
use crate::aws::call::CallError;
use crate::aws::query::{self, Node, Params, Query};
use crate::inputs::Mode;
use crate::modes::deploy::ecs::{self as ecs_deploy, EcsError, End, Seen, Timeline, rollout};
use crate::modes::runtime::{ModeError, Runtime};
use crate::report::markdown::{self, table};
use crate::report::{Report, Verdict};

/// Lowest priority a preview rule takes; previews sit after the listener's own rules.
const PRIORITY_FLOOR: u32 = 10_000;
/// ALB rule priorities go up to 50 000.
const PRIORITY_CEIL: u32 = 50_000;

/// Errors of ECS previews.
#[derive(Debug, thiserror::Error)]
pub enum EcsPreviewError {
    #[error(transparent)]
    Ecs(#[from] EcsError),
    #[error("{0}")]
    Elb(#[from] CallError),
    /// Something with a preview's name that is not ours, or a base service that cannot be cloned.
    #[error("{message}")]
    Refused { message: String, hint: String },
}

impl crate::modes::runtime::Failure for EcsPreviewError {
    fn is_config(&self) -> bool {
        match self {
            EcsPreviewError::Ecs(e) => e.is_config(),
            EcsPreviewError::Elb(_) | EcsPreviewError::Refused { .. } => false,
        }
    }
    fn hint(&self) -> Option<String> {
        Some(match self {
            EcsPreviewError::Ecs(e) => e.hint(),
            EcsPreviewError::Elb(e) if e.is_access_denied() => "The preview role needs elasticloadbalancing:DescribeTargetGroups, DescribeRules, DescribeTags, CreateTargetGroup, CreateRule, ModifyRule, AddTags, DeleteRule and DeleteTargetGroup (docs/previews.md)".into(),
            EcsPreviewError::Elb(_) => "Check `preview-listener-arn` (same account and region as the service) and re-run: every step is safe to repeat".into(),
            EcsPreviewError::Refused { hint, .. } => hint.clone(),
        })
    }
}

/// The preview service of PR `n`.
#[must_use]
pub fn service_name(base: &str, n: u64) -> String {
    format!("{base}-pr-{n}")
}

/// The preview target group of PR `n`: at most 32 characters (ELB's limit), deterministic, readable:
/// the service name's start, 6 hex digits of `cluster/service`, `-pr-<n>`.
#[must_use]
pub fn target_group_name(cluster: &str, base: &str, n: u64) -> String {
    use sha2::Digest as _;
    let suffix = format!("-pr-{n}");
    let hash = hex::encode(&sha2::Sha256::digest(format!("{cluster}/{base}").as_bytes())[..3]);
    let room = 32usize.saturating_sub(suffix.len() + hash.len() + 1);
    let mut stem = String::new();
    for c in base
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
    {
        if stem.len() >= room || (c == '-' && (stem.is_empty() || stem.ends_with('-'))) {
            continue;
        }
        stem.push(c);
    }
    let stem = stem.trim_end_matches('-');
    if stem.is_empty() {
        format!("{hash}{suffix}")
    } else {
        format!("{stem}-{hash}{suffix}")
    }
}

/// The priority for PR `n`'s rule: `10000 + n mod 40000`, or the next free one above it (wrapping
/// within 10000..=50000): the same PR gets the same priority whenever it is free.
#[must_use]
pub fn choose_priority(n: u64, used: &BTreeSet<u32>) -> Option<u32> {
    let span = u64::from(PRIORITY_CEIL - PRIORITY_FLOOR + 1);
    let start = n % span;
    (0..span)
        .map(|i| PRIORITY_FLOOR + u32::try_from((start + i) % span).unwrap_or(0))
        .find(|p| !used.contains(p))
}

/// Runs `deploy` with `preview: true` on an ECS service.
pub async fn run(
    rt: &Runtime<'_>,
    cfg: &ecs_deploy::Config,
    pv: &PreviewConfig,
) -> Result<Report, ModeError> {
    let base = cfg.services.first().cloned().unwrap_or_default();
    let Prelude { act, repo, key } = match prelude(
        rt,
        &format!("service `{base}` in cluster `{}`", cfg.cluster),
    ) {
        Start::Go(p) => p,
        Start::Done(done) => return *done,
    };
    if matches!(act, Action::Upsert(_)) && !cfg.has_code() {
        return Err(ModeError::Config {
            message: "input `image` is required to create or update an ECS preview (or give `task-definition` or `environment-variables`)".into(),
            hint: Some("Pass the PR's image, e.g. `image: ${{ steps.build.outputs.image }}`; on `closed` and `schedule` runs it may be empty".into()),
        });
    }
    let aws = rt
        .connect_aws(&cfg.aws, crate::aws::Purpose::Deploy)
        .await?;
    let http = crate::modes::deploy::health::health_client(rt)?;
    let s = Session {
        rt,
        cfg,
        pv,
        sdk: &aws.sdk,
        client: ecs_deploy::client(&aws.sdk),
        elb: Query::new(&aws.sdk, query::ELBV2, http, rt.cancel.clone()),
        base,
        repo,
        github: rt.github(),
        key,
    };
    let r = match act {
        Action::Upsert(n) => s.upsert(n).await,
        Action::Close(n) => s.close(n).await,
        Action::Sweep => s.sweep().await,
        Action::Ignore(reason) => Ok(super::skipped(
            s.key.clone(),
            format!("Nothing to do: {reason}."),
        )),
    };
    r.map_err(ModeError::from)
}

struct Session<'a> {
    rt: &'a Runtime<'a>,
    cfg: &'a ecs_deploy::Config,
    pv: &'a PreviewConfig,
    sdk: &'a SdkConfig,
    client: Client,
    elb: Query,
    base: String,
    repo: String,
    github: Option<crate::github::Client>,
    key: String,
}

/// What routes the preview's host to it.
#[derive(Clone, Debug)]
struct Routing {
    host: String,
    target_group_arn: String,
    target_group_name: String,
    priority: String,
    container_name: String,
    container_port: i32,
    grace: Option<i32>,
}

/// A rule of the listener as DescribeRules and DescribeTags show it.
#[derive(Clone, Debug)]
struct Rule {
    arn: String,
    priority: String,
    hosts: Vec<String>,
    forwards_to: Vec<String>,
    record: Option<Record>,
}

/// The base service, its tags, and this repository's previews recorded in them.
type Looked = (Service, BTreeMap<String, String>, BTreeMap<u64, Record>);

fn tag_pairs(r: &Record) -> Vec<(String, String)> {
    vec![(r.key(), r.value())]
}

/// The record of PR `n` in `tags`, when it is `repo`'s.
fn ours(tags: &BTreeMap<String, String>, repo: &str, n: u64) -> Option<Record> {
    records(tags, repo).remove(&n)
}

fn elb_tags(node: &Node) -> BTreeMap<String, String> {
    node.members(&["Tags"])
        .iter()
        .filter_map(|t| {
            Some((
                t.text_at(&["Key"])?.to_owned(),
                t.text_at(&["Value"]).unwrap_or_default().to_owned(),
            ))
        })
        .collect()
}

impl Session<'_> {
    fn preview(&self, n: u64) -> String {
        service_name(&self.base, n)
    }

    /// DescribeServices of one service; `None` when ECS does not list it.
    async fn describe(&self, name: &str) -> Result<Option<Service>, EcsError> {
        let out = self
            .client
            .describe_services()
            .cluster(&self.cfg.cluster)
            .services(name)
            .send()
            .await
            .map_err(|e| {
                if e.code() == Some("ClusterNotFoundException") {
                    EcsError::ClusterNotFound {
                        cluster: self.cfg.cluster.clone(),
                    }
                } else {
                    EcsError::api("DescribeServices", name, &e)
                }
            })?;
        Ok(out
            .services()
            .iter()
            .find(|s| s.service_name() == Some(name))
            .cloned())
    }

    /// An existing (not INACTIVE) service named like the preview of #`n` is this repository's preview of
    /// it and not being deleted: its ARN. Refused otherwise (`tail` ends the refusal's first sentence).
    async fn existing_is_ours(
        &self,
        s: &Service,
        name: &str,
        n: u64,
        tail: &str,
    ) -> Result<String, EcsPreviewError> {
        let arn = s.service_arn().unwrap_or_default().to_owned();
        if ours(&self.ecs_tags(&arn).await?, &self.repo, n).is_none() {
            return Err(EcsPreviewError::Refused {
                message: format!(
                    "service `{name}` exists in cluster `{}` but carries no stevedore preview record of {} for #{n}; it was left alone{tail}",
                    self.cfg.cluster, self.repo
                ),
                hint: "Rename or delete that service, or deploy the preview from another base `service`; previews are named `<service>-pr-<number>`".into(),
            });
        }
        if s.status() == Some("DRAINING") {
            return Err(EcsPreviewError::Refused {
                message: format!(
                    "service `{name}` is being deleted (DRAINING) after an earlier close"
                ),
                hint: "Re-run this job in a few minutes, once ECS has finished deleting it".into(),
            });
        }
        Ok(arn)
    }

    async fn ecs_tags(&self, arn: &str) -> Result<BTreeMap<String, String>, EcsError> {
        let out = self
            .client
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .map_err(|e| EcsError::api("ListTagsForResource", arn, &e))?;
        Ok(out
            .tags()
            .iter()
            .filter_map(|t| {
                Some((
                    t.key()?.to_owned(),
                    t.value().unwrap_or_default().to_owned(),
                ))
            })
            .collect())
    }

    async fn ecs_tag(&self, arn: &str, r: &Record) -> Result<(), EcsError> {
        self.client
            .tag_resource()
            .resource_arn(arn)
            .tags(Tag::builder().key(r.key()).value(r.value()).build())
            .send()
            .await
            .map_err(|e| EcsError::api("TagResource", arn, &e))?;
        Ok(())
    }

    async fn ecs_untag(&self, arn: &str, keys: &[String]) -> Result<(), EcsError> {
        self.client
            .untag_resource()
            .resource_arn(arn)
            .set_tag_keys(Some(keys.to_vec()))
            .send()
            .await
            .map_err(|e| EcsError::api("UntagResource", arn, &e))?;
        Ok(())
    }

    /// The base service (ACTIVE), its tags and the previews of this repository recorded in them.
    async fn look(&self) -> Result<Looked, EcsPreviewError> {
        let base = match self.describe(&self.base).await? {
            Some(s) if s.status() == Some("ACTIVE") => s,
            other => {
                return Err(EcsError::ServiceNotFound {
                    cluster: self.cfg.cluster.clone(),
                    service: self.base.clone(),
                    reason: other
                        .and_then(|s| s.status().map(|st| format!("its status is {st}")))
                        .unwrap_or_else(|| "not found".into()),
                }
                .into());
            }
        };
        let arn = base.service_arn().unwrap_or_default().to_owned();
        let tags = self.ecs_tags(&arn).await?;
        let recs = records(&tags, &self.repo);
        Ok((base, tags, recs))
    }

    /// Refuses PR `n`'s preview when anything it would write to is not provably this repository's:
    /// another repository's (or an unreadable) record of `n` on the base service (`base_tags`), a
    /// service `<service>-pr-<n>` without this repository's record (or one being deleted), and with
    /// routing a target group without it or a listener rule already routing the host. Runs before
    /// anything is written, the base service's record included.
    async fn check_owner(
        &self,
        n: u64,
        base_tags: &BTreeMap<String, String>,
    ) -> Result<(), EcsPreviewError> {
        let name = self.preview(n);
        if let Some(other) = claimed_by_other(base_tags, &self.repo, n) {
            return Err(EcsPreviewError::Refused {
                message: format!(
                    "the preview of #{n} (`{name}`) on service `{}` is claimed by {other}, not by {}; nothing was changed",
                    self.base, self.repo
                ),
                hint: "Two repositories previewing from one base service share the names `<service>-pr-<number>`: preview from a base service of this repository's own, or remove that tag if the other repository's preview is gone (docs/previews.md)".into(),
            });
        }
        if let Some(s) = self
            .describe(&name)
            .await?
            .filter(|s| s.status() != Some("INACTIVE"))
        {
            self.existing_is_ours(&s, &name, n, " and nothing was changed")
                .await?;
        }
        if let (Some(listener), Some(template)) = (&self.pv.listener_arn, &self.pv.host) {
            let tg_name = target_group_name(&self.cfg.cluster, &self.base, n);
            if let Some((_, false)) = self.target_group(&tg_name, n).await? {
                return Err(EcsPreviewError::Refused {
                    message: format!(
                        "target group `{tg_name}` exists but carries no stevedore preview record of {} for #{n}; it was left alone and nothing was changed",
                        self.repo
                    ),
                    hint: "Delete or rename that target group; preview target groups are named after the service and the PR".into(),
                });
            }
            let host = host_of(template, n);
            if let Some(clash) = self.rules(listener).await?.iter().find(|r| {
                r.hosts.contains(&host) && r.record.as_ref().is_none_or(|rec| rec.pr != n)
            }) {
                return Err(EcsPreviewError::Refused {
                    message: format!(
                        "listener rule {} (priority {}) already routes host `{host}` and is not the preview rule of #{n}; nothing was changed",
                        clash.arn, clash.priority
                    ),
                    hint: "Remove that rule, or choose another `preview-host` template".into(),
                });
            }
        }
        Ok(())
    }

    async fn upsert(&self, n: u64) -> Result<Report, EcsPreviewError> {
        let (base, base_tags, recs) = self.look().await?;
        self.check_owner(n, &base_tags).await?;
        let base_arn = base.service_arn().unwrap_or_default().to_owned();
        let now = SystemTime::now();
        let mut notes = Vec::new();
        let room = super::Room::for_preview(&recs, n, self.pv, now);
        for r in &room.expired {
            let removed = self.teardown(&base_arn, r).await?;
            notes.push(super::expired_note(r, &removed));
            let why = "expired (preview-ttl)";
            github_closed(self.github.as_ref(), &self.repo, &self.key, r.pr, why).await;
        }
        if room.full {
            return Ok(self.refuse(n, &room.others));
        }
        // The record first: whatever follows, a cancelled run leaves something the close or sweep finds.
        let record = Record::new(&self.repo, n, rfc3339(now));
        self.ecs_tag(&base_arn, &record).await?;
        if recs.get(&n).is_some_and(|r| r.legacy) {
            // An older release's record of ours: now recorded under the repository's key.
            self.ecs_untag(&base_arn, &[legacy_record_key(n)]).await?;
        }

        let env_name = environment(n);
        let name = self.preview(n);
        let mut dep = None;
        if let Some(gh) = &self.github {
            match crate::github::deployments::start_transient(
                gh,
                self.rt.ctx,
                &env_name,
                &format!("Preview of #{n}: ECS {name} in {}", self.cfg.cluster),
            )
            .await
            {
                Ok(d) => dep = Some(d),
                Err(e) => notes.push(format!("GitHub deployment not recorded: {e}")),
            }
        }
        let applied = self.apply(n, &base, &record).await;
        let (ok, url) = match &applied {
            Ok(a) => (a.end.is_success(), a.url.clone()),
            Err(_) => (false, None),
        };
        if let (Some(gh), Some(d)) = (&self.github, &dep) {
            let finished = crate::cancel::cleanup(
                crate::cancel::MODE_CLEANUP,
                crate::github::deployments::finish(gh, d, ok, url.as_deref(), None),
            )
            .await;
            notes.push(deployment_ended(gh, &self.repo, &env_name, d, ok, finished).await);
        }
        let a = applied?;
        let open = room.open_with(n);
        Ok(self.report_upsert(n, &name, &record, &a, &open, &notes))
    }

    /// Task definition, routing, service, rollout.
    async fn apply(
        &self,
        n: u64,
        base: &Service,
        record: &Record,
    ) -> Result<Applied, EcsPreviewError> {
        let mut tl = Timeline::new(Instant::now());
        let plans = ecs_deploy::plan(self.sdk, self.cfg).await?;
        let Some(plan) = plans.into_iter().next() else {
            return Err(EcsError::ServiceNotFound {
                cluster: self.cfg.cluster.clone(),
                service: self.base.clone(),
                reason: "not found".into(),
            }
            .into());
        };
        let td = ecs_deploy::register(&self.client, &plan.register).await?;
        tl.push(format!("registered {}", ecs_deploy::short_td(&td)));
        let routing = match (&self.pv.listener_arn, &self.pv.host) {
            (Some(listener), Some(template)) => Some(
                self.ensure_routing(n, base, listener, &host_of(template, n), record)
                    .await?,
            ),
            _ => None,
        };
        if let Some(r) = &routing {
            tl.push(format!(
                "target group {}, rule priority {} for {}",
                r.target_group_name, r.priority, r.host
            ));
        }
        let name = self.preview(n);
        let existing = self.describe(&name).await?;
        let (dep, known) = match existing.filter(|s| s.status() != Some("INACTIVE")) {
            Some(s) => {
                let arn = self.existing_is_ours(&s, &name, n, "").await?;
                self.ecs_tag(&arn, record).await?;
                let out = self
                    .client
                    .update_service()
                    .cluster(&self.cfg.cluster)
                    .service(&name)
                    .task_definition(&td)
                    .desired_count(self.pv.desired_count)
                    .send()
                    .await
                    .map_err(|e| EcsError::api("UpdateService", &name, &e))?;
                tl.push(format!("UpdateService of `{name}`"));
                ecs_deploy::primary(out.service(), "UpdateService", &name)?
            }
            None => {
                let out = self
                    .create_service(&name, &td, base, routing.as_ref(), record)
                    .await?;
                tl.push(format!("CreateService `{name}`"));
                ecs_deploy::primary(out.as_ref(), "CreateService", &name)?
            }
        };
        let mut seen = Seen::default();
        let watch = rollout::Watch {
            client: &self.client,
            cluster: &self.cfg.cluster,
            service: &name,
            deployment_id: &dep,
            task_definition_arn: &td,
            timing: self.cfg.timing,
            wait_for_drain: false,
            cancel: &self.rt.cancel,
            seen_events: known,
        };
        let end = rollout::watch(watch, &mut tl, &mut seen).await?;
        tl.push(format!("deployment {dep} {}", end.describe()));
        let url = routing.as_ref().map(|r| format!("https://{}", r.host));
        Ok(Applied {
            task_definition: td,
            deployment_id: dep,
            end,
            seen,
            routing,
            url,
            timeline: tl,
        })
    }

    async fn create_service(
        &self,
        name: &str,
        td: &str,
        base: &Service,
        routing: Option<&Routing>,
        record: &Record,
    ) -> Result<Option<Service>, EcsError> {
        let mut req = self
            .client
            .create_service()
            .cluster(&self.cfg.cluster)
            .service_name(name)
            .task_definition(td)
            .desired_count(self.pv.desired_count)
            .set_network_configuration(base.network_configuration().cloned())
            .set_platform_version(base.platform_version().map(str::to_owned))
            .set_deployment_configuration(base.deployment_configuration().cloned())
            .set_placement_constraints(
                Some(base.placement_constraints().to_vec()).filter(|v| !v.is_empty()),
            )
            .set_placement_strategy(
                Some(base.placement_strategy().to_vec()).filter(|v| !v.is_empty()),
            )
            .propagate_tags(PropagateTags::Service)
            .tags(
                Tag::builder()
                    .key(record.key())
                    .value(record.value())
                    .build(),
            );
        if base.capacity_provider_strategy().is_empty() {
            req = req.set_launch_type(base.launch_type().cloned());
        } else {
            req = req
                .set_capacity_provider_strategy(Some(base.capacity_provider_strategy().to_vec()));
        }
        if let Some(r) = routing {
            req = req
                .load_balancers(
                    LoadBalancer::builder()
                        .target_group_arn(&r.target_group_arn)
                        .container_name(&r.container_name)
                        .container_port(r.container_port)
                        .build(),
                )
                .set_health_check_grace_period_seconds(r.grace);
        }
        let out = req
            .send()
            .await
            .map_err(|e| EcsError::api("CreateService", name, &e))?;
        Ok(out.service().cloned())
    }

    /// The listener's rules with their tags (DescribeRules paged, DescribeTags by 20).
    async fn rules(&self, listener: &str) -> Result<Vec<Rule>, CallError> {
        let mut nodes = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let mut p = Params::new()
                .set("ListenerArn", listener)
                .set("PageSize", "400");
            if let Some(m) = &marker {
                p = p.set("Marker", m.clone());
            }
            let out = self.elb.call("DescribeRules", &p).await?;
            nodes.extend(out.members(&["Rules"]).into_iter().cloned());
            match out.text_at(&["NextMarker"]).filter(|m| !m.is_empty()) {
                Some(m) => marker = Some(m.to_owned()),
                None => break,
            }
        }
        let mut rules: Vec<Rule> = nodes
            .iter()
            .filter(|r| r.text_at(&["IsDefault"]) != Some("true"))
            .map(|r| Rule {
                arn: r.text_at(&["RuleArn"]).unwrap_or_default().to_owned(),
                priority: r.text_at(&["Priority"]).unwrap_or_default().to_owned(),
                hosts: r
                    .members(&["Conditions"])
                    .iter()
                    .filter(|c| c.text_at(&["Field"]) == Some("host-header"))
                    .flat_map(|c| {
                        let mut v: Vec<String> = c
                            .members(&["HostHeaderConfig", "Values"])
                            .iter()
                            .map(|h| h.text.to_ascii_lowercase())
                            .collect();
                        v.extend(
                            c.members(&["Values"])
                                .iter()
                                .map(|h| h.text.to_ascii_lowercase()),
                        );
                        v
                    })
                    .collect(),
                forwards_to: r
                    .members(&["Actions"])
                    .iter()
                    .filter_map(|a| a.text_at(&["TargetGroupArn"]).map(str::to_owned))
                    .collect(),
                record: None,
            })
            .collect();
        for chunk in rules.chunks_mut(20) {
            let arns: Vec<&str> = chunk.iter().map(|r| r.arn.as_str()).collect();
            let out = self
                .elb
                .call("DescribeTags", &Params::new().list("ResourceArns", &arns))
                .await?;
            for d in out.members(&["TagDescriptions"]) {
                let arn = d.text_at(&["ResourceArn"]).unwrap_or_default();
                let tags = elb_tags(d);
                if let Some(r) = chunk.iter_mut().find(|r| r.arn == arn) {
                    r.record = records(&tags, &self.repo).into_values().next();
                }
            }
        }
        Ok(rules)
    }

    /// The target group named `name`: its ARN and whether it carries PR `n`'s record of this repository.
    async fn target_group(&self, name: &str, n: u64) -> Result<Option<(String, bool)>, CallError> {
        let out = match self
            .elb
            .call(
                "DescribeTargetGroups",
                &Params::new().list("Names", &[name]),
            )
            .await
        {
            Ok(o) => o,
            Err(e) if e.code.as_deref() == Some("TargetGroupNotFound") => return Ok(None),
            Err(e) => return Err(e),
        };
        let Some(arn) = out
            .members(&["TargetGroups"])
            .first()
            .and_then(|t| t.text_at(&["TargetGroupArn"]))
            .map(str::to_owned)
        else {
            return Ok(None);
        };
        let tags = self
            .elb
            .call("DescribeTags", &Params::new().list("ResourceArns", &[&arn]))
            .await?;
        let mine = tags
            .members(&["TagDescriptions"])
            .first()
            .is_some_and(|d| ours(&elb_tags(d), &self.repo, n).is_some());
        Ok(Some((arn, mine)))
    }

    async fn ensure_routing(
        &self,
        n: u64,
        base: &Service,
        listener: &str,
        host: &str,
        record: &Record,
    ) -> Result<Routing, EcsPreviewError> {
        let lb = base
            .load_balancers()
            .iter()
            .find(|l| l.target_group_arn().is_some())
            .ok_or_else(|| EcsPreviewError::Refused {
                message: format!(
                    "`preview-listener-arn` is set, but service `{}` is not behind a target group, so there is nothing to copy the preview's target group from",
                    self.base
                ),
                hint: "Remove `preview-listener-arn`/`preview-host` (the preview then has no URL), or preview a service registered to an ALB target group".into(),
            })?;
        let base_tg = lb.target_group_arn().unwrap_or_default().to_owned();
        let (Some(container_name), Some(container_port)) =
            (lb.container_name(), lb.container_port())
        else {
            return Err(EcsPreviewError::Refused {
                message: format!(
                    "the load balancer entry of service `{}` names no container and port",
                    self.base
                ),
                hint: "Preview a service whose target group is attached by container name and port"
                    .into(),
            });
        };
        let tg_name = target_group_name(&self.cfg.cluster, &self.base, n);
        let tags = tag_pairs(record);
        let tg_arn = match self.target_group(&tg_name, n).await? {
            Some((arn, true)) => {
                self.elb
                    .call(
                        "AddTags",
                        &Params::new()
                            .list("ResourceArns", &[&arn])
                            .tags("Tags", &tags),
                    )
                    .await?;
                arn
            }
            Some((_, false)) => {
                return Err(EcsPreviewError::Refused {
                    message: format!(
                        "target group `{tg_name}` exists but carries no stevedore preview record of {} for #{n}; it was left alone",
                        self.repo
                    ),
                    hint: "Delete or rename that target group; preview target groups are named after the service and the PR".into(),
                });
            }
            None => {
                let described = self
                    .elb
                    .call(
                        "DescribeTargetGroups",
                        &Params::new().list("TargetGroupArns", &[&base_tg]),
                    )
                    .await?;
                let Some(b) = described
                    .members(&["TargetGroups"])
                    .first()
                    .copied()
                    .cloned()
                else {
                    return Err(EcsPreviewError::Refused {
                        message: format!(
                            "target group `{base_tg}` of service `{}` was not found",
                            self.base
                        ),
                        hint: "Check the service's load balancer configuration".into(),
                    });
                };
                let mut p = Params::new().set("Name", tg_name.clone());
                for field in [
                    "Protocol",
                    "ProtocolVersion",
                    "Port",
                    "VpcId",
                    "TargetType",
                    "IpAddressType",
                    "HealthCheckProtocol",
                    "HealthCheckPort",
                    "HealthCheckEnabled",
                    "HealthCheckPath",
                    "HealthCheckIntervalSeconds",
                    "HealthCheckTimeoutSeconds",
                    "HealthyThresholdCount",
                    "UnhealthyThresholdCount",
                ] {
                    if let Some(v) = b.text_at(&[field]).filter(|v| !v.is_empty()) {
                        p = p.set(field, v);
                    }
                }
                for m in ["HttpCode", "GrpcCode"] {
                    if let Some(v) = b.text_at(&["Matcher", m]).filter(|v| !v.is_empty()) {
                        p = p.set(format!("Matcher.{m}"), v);
                    }
                }
                let out = self
                    .elb
                    .call("CreateTargetGroup", &p.tags("Tags", &tags))
                    .await?;
                out.members(&["TargetGroups"])
                    .first()
                    .and_then(|t| t.text_at(&["TargetGroupArn"]))
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        CallError::plain(
                            query::ELBV2.service_id,
                            "CreateTargetGroup",
                            "",
                            None,
                            "the answer names no target group",
                        )
                    })?
            }
        };
        let rules = self.rules(listener).await?;
        if let Some(clash) = rules.iter().find(|r| {
            r.hosts.iter().any(|h| h == host) && r.record.as_ref().is_none_or(|rec| rec.pr != n)
        }) {
            return Err(EcsPreviewError::Refused {
                message: format!(
                    "listener rule {} (priority {}) already routes host `{host}` and is not the preview rule of #{n}",
                    clash.arn, clash.priority
                ),
                hint: "Remove that rule, or choose another `preview-host` template".into(),
            });
        }
        let forward = |p: Params| {
            p.set("Actions.member.1.Type", "forward")
                .set("Actions.member.1.TargetGroupArn", tg_arn.clone())
        };
        let condition = |p: Params| {
            p.set("Conditions.member.1.Field", "host-header")
                .set("Conditions.member.1.HostHeaderConfig.Values.member.1", host)
        };
        let priority = match rules
            .iter()
            .find(|r| r.record.as_ref().is_some_and(|rec| rec.pr == n))
        {
            Some(r) => {
                if r.hosts != [host] || r.forwards_to != [tg_arn.clone()] {
                    self.elb
                        .call(
                            "ModifyRule",
                            &forward(condition(Params::new().set("RuleArn", r.arn.clone()))),
                        )
                        .await?;
                }
                self.elb
                    .call(
                        "AddTags",
                        &Params::new()
                            .list("ResourceArns", &[&r.arn])
                            .tags("Tags", &tags),
                    )
                    .await?;
                r.priority.clone()
            }
            None => {
                let used: BTreeSet<u32> = rules
                    .iter()
                    .filter_map(|r| r.priority.parse().ok())
                    .collect();
                let Some(priority) = choose_priority(n, &used) else {
                    return Err(EcsPreviewError::Refused {
                        message: "the listener has no free rule priority between 10000 and 50000"
                            .into(),
                        hint: "Remove unused rules from the listener".into(),
                    });
                };
                let out = self
                    .elb
                    .call(
                        "CreateRule",
                        &forward(condition(
                            Params::new()
                                .set("ListenerArn", listener)
                                .set("Priority", priority.to_string()),
                        ))
                        .tags("Tags", &tags),
                    )
                    .await?;
                if out.members(&["Rules"]).is_empty() {
                    return Err(CallError::plain(
                        query::ELBV2.service_id,
                        "CreateRule",
                        "",
                        None,
                        "the answer lists no rule",
                    )
                    .into());
                }
                priority.to_string()
            }
        };
        Ok(Routing {
            host: host.to_owned(),
            target_group_arn: tg_arn,
            target_group_name: tg_name,
            priority,
            container_name: container_name.to_owned(),
            container_port,
            grace: base.health_check_grace_period_seconds(),
        })
    }

    /// Removes what PR `n`'s preview consists of, last its record; each step is a no-op when already
    /// gone, and only resources carrying this repository's record for `n` are removed. The names of what
    /// was removed (and of what was left alone, said so).
    async fn teardown(&self, base_arn: &str, rec: &Record) -> Result<Vec<String>, EcsPreviewError> {
        let n = rec.pr;
        let mut removed = Vec::new();
        let name = self.preview(n);
        if let Some(s) = self.describe(&name).await? {
            let arn = s.service_arn().unwrap_or_default().to_owned();
            let status = s.status().unwrap_or_default();
            let mine =
                status != "INACTIVE" && ours(&self.ecs_tags(&arn).await?, &self.repo, n).is_some();
            match status {
                // Already deleted, or being deleted by an earlier close.
                "INACTIVE" | "DRAINING" => {}
                _ if mine => {
                    if status == "ACTIVE" {
                        self.client
                            .update_service()
                            .cluster(&self.cfg.cluster)
                            .service(&name)
                            .desired_count(0)
                            .send()
                            .await
                            .map_err(|e| EcsError::api("UpdateService", &name, &e))?;
                    }
                    self.client
                        .delete_service()
                        .cluster(&self.cfg.cluster)
                        .service(&name)
                        .force(true)
                        .send()
                        .await
                        .map_err(|e| EcsError::api("DeleteService", &name, &e))?;
                    removed.push(format!("service `{name}`"));
                }
                _ => removed.push(format!(
                    "not service `{name}` (it carries no preview record of {}: left alone)",
                    self.repo
                )),
            }
        }
        if let Some(listener) = &self.pv.listener_arn {
            for r in self.rules(listener).await? {
                if r.record.as_ref().is_some_and(|rec| rec.pr == n) {
                    self.elb
                        .call("DeleteRule", &Params::new().set("RuleArn", r.arn.clone()))
                        .await?;
                    removed.push(format!("listener rule (priority {})", r.priority));
                }
            }
        }
        let tg = target_group_name(&self.cfg.cluster, &self.base, n);
        match self.target_group(&tg, n).await? {
            Some((arn, true)) => {
                self.elb
                    .call(
                        "DeleteTargetGroup",
                        &Params::new().set("TargetGroupArn", arn),
                    )
                    .await?;
                removed.push(format!("target group `{tg}`"));
            }
            Some((_, false)) => removed.push(format!(
                "not target group `{tg}` (it carries no preview record of {}: left alone)",
                self.repo
            )),
            None => {}
        }
        self.ecs_untag(base_arn, &rec.keys()).await?;
        removed.push(format!("preview record (tag on service `{}`)", self.base));
        Ok(removed)
    }

    fn refuse(&self, n: u64, open: &[&Record]) -> Report {
        let list = open
            .iter()
            .map(|r| {
                format!(
                    "#{} (`{}`, last updated {})",
                    r.pr,
                    self.preview(r.pr),
                    r.updated
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        super::refused_report(
            n,
            open.len(),
            &list,
            self.pv.max,
            &self.repo,
            &format!("service `{}`", self.base),
            &self.key,
        )
    }

    fn report_upsert(
        &self,
        n: u64,
        name: &str,
        record: &Record,
        a: &Applied,
        open: &[u64],
        notes: &[String],
    ) -> Report {
        let ok = a.end.is_success();
        let mut rows = vec![
            vec![
                "service".into(),
                format!("`{name}` in cluster `{}`", self.cfg.cluster),
            ],
            vec![
                "task definition".into(),
                format!("`{}`", ecs_deploy::short_td(&a.task_definition)),
            ],
            vec![
                "deployment".into(),
                format!(
                    "`{}`: {}",
                    a.deployment_id,
                    markdown::sentence(&a.end.describe())
                ),
            ],
            vec!["desired count".into(), self.pv.desired_count.to_string()],
        ];
        if let Some(r) = &a.routing {
            rows.insert(0, vec!["URL".into(), format!("https://{}", r.host)]);
            rows.push(vec![
                "routing".into(),
                format!(
                    "host `{}` → target group `{}` (listener rule priority {})",
                    r.host, r.target_group_name, r.priority
                ),
            ]);
        }
        rows.push(vec!["environment".into(), format!("`{}`", environment(n))]);
        rows.push(vec!["updated".into(), record.updated.clone()]);
        rows.push(super::open_row(open, self.pv.max));
        let heading = match (&a.url, ok) {
            (Some(u), true) => format!("### 🔍 Preview of #{n}: {u}"),
            (None, true) => format!("### 🔍 Preview of #{n}: service `{name}`"),
            (_, false) => format!("### 🔍 Preview of #{n}: not available"),
        };
        let mut summary = format!("{heading}\n\n{}\n", table(&["", ""], &rows));
        if !ok {
            summary.push_str(&format!(
                "\nThe rollout did not complete ({}); the preview is recorded and is removed when the pull request closes or by the sweep.\n",
                a.end.describe()
            ));
        }
        for s in &a.seen.stopped {
            if let Some(reason) = &s.stopped_reason {
                summary.push_str(&format!(
                    "\n> Task `{}` stopped: {}\n",
                    s.task_arn.rsplit('/').next().unwrap_or_default(),
                    markdown::text(reason)
                ));
            }
        }
        for note in notes {
            summary.push_str(&format!("\n> {}\n", markdown::sentence(note)));
        }
        summary.push_str("\n<details><summary>Timeline</summary>\n\n");
        for (at, what) in &a.timeline.entries {
            summary.push_str(&format!(
                "- {:.1} s: {}\n",
                at.as_secs_f64(),
                markdown::sentence(what)
            ));
        }
        summary.push_str("\n</details>\n");
        let verdict = if ok {
            Verdict::Success
        } else {
            Verdict::Failure
        };
        let title = match (&a.url, ok) {
            (Some(u), true) => format!("preview of #{n}: {u}"),
            (None, true) => format!("preview of #{n}: service {name}"),
            (_, false) => format!("preview of #{n}: {}", a.end.describe()),
        };
        let mut r = Report::new(Mode::Deploy, verdict, title, summary);
        r.key = Some(self.key.clone());
        r.output("task-definition-arn", a.task_definition.clone());
        r.output("deployment-id", a.deployment_id.clone());
        r.output("preview-service", name.to_owned());
        if let (Some(u), true) = (&a.url, ok) {
            r.output("preview-url", u.clone());
        }
        if !ok && a.end != End::Cancelled {
            r.fail_because(
                format!("ECS preview of #{n}: the rollout of `{name}` {}", a.end.describe()),
                "Fix the image or the task definition and push again; the preview service is updated in place (or removed when the pull request closes).",
            );
        }
        r
    }

    async fn close(&self, n: u64) -> Result<Report, EcsPreviewError> {
        let (base, _, recs) = match self.look().await {
            Ok(x) => x,
            Err(EcsPreviewError::Ecs(
                EcsError::ServiceNotFound { .. } | EcsError::ClusterNotFound { .. },
            )) => {
                return Ok(super::nothing_to_remove_report(
                    n,
                    &format!(
                        "Service `{}` does not exist in cluster `{}`",
                        self.base, self.cfg.cluster
                    ),
                    &self.key,
                ));
            }
            Err(e) => return Err(e),
        };
        let base_arn = base.service_arn().unwrap_or_default().to_owned();
        let mut lines = Vec::new();
        let removed_any = recs.contains_key(&n);
        if let Some(rec) = recs.get(&n) {
            let removed = self.teardown(&base_arn, rec).await?;
            lines.push(format!("Removed: {}.", removed.join(", ")));
        } else if self
            .describe(&self.preview(n))
            .await?
            .is_some_and(|s| s.status() == Some("ACTIVE"))
        {
            lines.push(format!(
                "Service `{}` exists but service `{}` carries no stevedore preview record of {} for #{n}; it was left alone.",
                self.preview(n),
                self.base,
                self.repo
            ));
        } else {
            lines.push("There was no preview to remove.".into());
        }
        lines.extend(
            github_deactivate(self.github.as_ref(), &self.repo, n, "Pull request closed").await,
        );
        Ok(super::removed_report(n, &lines, &self.key, removed_any))
    }

    async fn sweep(&self) -> Result<Report, EcsPreviewError> {
        let (base, _, recs) = self.look().await?;
        let base_arn = base.service_arn().unwrap_or_default().to_owned();
        let now = SystemTime::now();
        let mut rows = Vec::new();
        let mut removed_count = 0;
        for r in recs.values() {
            let why =
                match super::sweep_reason(self.github.as_ref(), &self.repo, r, self.pv.ttl, now)
                    .await
                {
                    Ok(why) => why,
                    Err(kept) => {
                        rows.push(kept);
                        continue;
                    }
                };
            let removed = self.teardown(&base_arn, r).await?;
            removed_count += 1;
            github_closed(self.github.as_ref(), &self.repo, &self.key, r.pr, why).await;
            rows.push(super::removed_row(r, why, &removed));
        }
        Ok(super::sweep_report(
            &self.repo,
            &format!("service `{}`", self.base),
            self.pv.ttl,
            &rows,
            removed_count,
            &self.key,
        ))
    }
}

/// What an upsert did.
struct Applied {
    task_definition: String,
    deployment_id: String,
    end: End,
    seen: Seen,
    routing: Option<Routing>,
    url: Option<String>,
    timeline: Timeline,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_group_names_fit_and_stay_stable() {
        let a = target_group_name("prod", "web", 7);
        assert_eq!(a, target_group_name("prod", "web", 7));
        assert!(a.starts_with("web-") && a.ends_with("-pr-7"), "{a}");
        assert_ne!(a, target_group_name("staging", "web", 7));
        let long = target_group_name("prod", "a-very--long_service-name-that-goes-on", 123_456);
        assert!(long.len() <= 32, "{long}");
        assert!(!long.contains("--") && !long.starts_with('-'), "{long}");
        assert!(long.ends_with("-pr-123456"), "{long}");
    }

    #[test]
    fn priorities_are_deterministic_and_free() {
        let none = BTreeSet::new();
        assert_eq!(choose_priority(7, &none), Some(10_007));
        let used = BTreeSet::from([10_007, 10_008]);
        assert_eq!(choose_priority(7, &used), Some(10_009));
        assert_eq!(choose_priority(40_000, &none), Some(50_000));
        assert_eq!(choose_priority(40_001, &none), Some(10_000));
        let all: BTreeSet<u32> = (PRIORITY_FLOOR..=PRIORITY_CEIL).collect();
        assert_eq!(choose_priority(1, &all), None);
    }
}
