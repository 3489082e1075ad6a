//! Pull-request previews of an ECS service (`preview: true` with `cluster` + `service`): whole steps with
//! ECS on the scripted endpoint (CreateService, UpdateService, DeleteService, tags), Elastic Load
//! Balancing v2 on moto (target groups, listener rules, tags; set up here through stevedore's own Query
//! client) and the validating fake GitHub.

use crate::helpers::has;
use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use stevedore::aws::query::{self, Node, Params, Query, QueryService};

use crate::helpers::deploy::{self, deployments_of, pull_request, scripted_step};
use crate::helpers::fake_ecs::{FakeEcs, sdk_config};
use crate::helpers::fake_github::FakeGithub;
use crate::helpers::moto::{moto, unique};
use crate::helpers::run::{Step, StepResult};

const REPO: &str = "octo-org/octo-repo";

/// This repository's record key of PR `n`.
fn key(n: u64) -> String {
    stevedore::modes::deploy::preview::record_key(REPO, n)
}
const IMAGE_A: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/web@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const IMAGE_B: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/web@sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const HOST: &str = "pr-{number}.preview.example.com";

const EC2: QueryService = QueryService {
    service_id: "EC2",
    signing_name: "ec2",
    endpoint: &stevedore::aws::endpoints::Rules::standard("ec2", "ec2-fips", &[]),
    version: "2016-11-15",
};

/// An ALB with a listener and the base service's target group in moto, and the base service `web` of a
/// cluster of its own on the scripted ECS endpoint, registered to that target group.
pub struct Rig {
    pub fake: FakeEcs,
    pub gh: FakeGithub,
    pub elb: Query,
    pub cluster: String,
    pub listener: String,
    pub base_tg: String,
    pub vpc: String,
}

fn first_text(n: &Node, list: &[&str], field: &str) -> String {
    n.members(list)[0].text_at(&[field]).unwrap().to_owned()
}

impl Rig {
    pub async fn new() -> Option<Rig> {
        let moto = moto()?.endpoint.clone();
        let sdk = sdk_config(&moto);
        let http = crate::helpers::reqwest_client();
        let never = stevedore::cancel::Cancel::never();
        let elb = Query::new(&sdk, query::ELBV2, http.clone(), never.clone());
        let ec2 = Query::new(&sdk, EC2, http, never);
        let subnets = ec2
            .call_raw("DescribeSubnets", &Params::new())
            .await
            .unwrap();
        let items: Vec<&Node> = subnets
            .child("subnetSet")
            .unwrap()
            .children
            .iter()
            .collect();
        let vpc = items[0].text_at(&["vpcId"]).unwrap().to_owned();
        let ids: Vec<String> = items
            .iter()
            .filter(|i| i.text_at(&["vpcId"]) == Some(vpc.as_str()))
            .take(2)
            .map(|i| i.text_at(&["subnetId"]).unwrap().to_owned())
            .collect();
        let name = unique("alb").replace('_', "-");
        let lb = elb
            .call(
                "CreateLoadBalancer",
                &Params::new().set("Name", &name).list("Subnets", &ids),
            )
            .await
            .unwrap();
        let lb_arn = first_text(&lb, &["LoadBalancers"], "LoadBalancerArn");
        let tg = elb
            .call(
                "CreateTargetGroup",
                &Params::new()
                    .set("Name", unique("base"))
                    .set("Protocol", "HTTP")
                    .set("Port", "8080")
                    .set("VpcId", &vpc)
                    .set("TargetType", "ip")
                    .set("HealthCheckPath", "/healthz")
                    .set("HealthCheckIntervalSeconds", "15")
                    .set("Matcher.HttpCode", "200-299"),
            )
            .await
            .unwrap();
        let base_tg = first_text(&tg, &["TargetGroups"], "TargetGroupArn");
        let listener = elb
            .call(
                "CreateListener",
                &Params::new()
                    .set("LoadBalancerArn", &lb_arn)
                    .set("Protocol", "HTTP")
                    .set("Port", "80")
                    .set("DefaultActions.member.1.Type", "forward")
                    .set("DefaultActions.member.1.TargetGroupArn", &base_tg),
            )
            .await
            .unwrap();
        let listener = first_text(&listener, &["Listeners"], "ListenerArn");

        let fake = FakeEcs::start().await;
        let td = fake.seed_task_definition(
            "web",
            json!([{"name": "app", "image": "repo/web:1", "essential": true, "memory": 256,
                    "portMappings": [{"containerPort": 8080, "protocol": "tcp"}]}]),
        );
        let cluster = unique("c");
        fake.seed_service(&cluster, "web", &td, 2, Some((true, true)));
        fake.set_service_fields(
            "web",
            json!({"loadBalancers": [{"targetGroupArn": base_tg, "containerName": "app", "containerPort": 8080}],
                   "healthCheckGracePeriodSeconds": 30}),
        );
        Some(Rig {
            fake,
            gh: FakeGithub::start().await,
            elb,
            cluster,
            listener,
            base_tg,
            vpc,
        })
    }

    fn base(&self) -> Step {
        // The rig exists only with moto, so the step does too.
        let step = scripted_step("AWS_ENDPOINT_URL_ECS", self.fake.url())
            .unwrap()
            .input("cluster", &self.cluster)
            .input("service", "web")
            .input("container", "app")
            .input("preview", "true")
            .input("preview-listener-arn", &self.listener)
            .input("preview-host", HOST);
        deploy::record(step, &self.gh, "preview", "ghs_test")
    }

    fn step(&self, n: u64, action: &str, image: &str) -> Step {
        let sha = format!("{:040x}", n * 1000 + u64::from(image == IMAGE_B));
        pull_request(self.base().input("image", image), REPO, n, action, &sha)
    }

    fn sweep(&self) -> Step {
        self.base()
            .input("image", IMAGE_A)
            .event("schedule", json!({"schedule": "17 3 * * *"}))
    }

    fn base_arn(&self) -> String {
        FakeEcs::service_arn(&self.cluster, "web")
    }

    fn base_tags(&self) -> BTreeMap<String, String> {
        self.fake.tags_of(&self.base_arn())
    }

    fn tg_name(&self, n: u64) -> String {
        stevedore::modes::deploy::preview::ecs::target_group_name(&self.cluster, "web", n)
    }

    /// The preview target group of PR `n` in moto.
    async fn target_group(&self, n: u64) -> Option<Node> {
        let out = self
            .elb
            .call(
                "DescribeTargetGroups",
                &Params::new().list("Names", &[self.tg_name(n)]),
            )
            .await
            .ok()?;
        out.members(&["TargetGroups"]).first().map(|n| (*n).clone())
    }

    async fn elb_tags(&self, arn: &str) -> BTreeMap<String, String> {
        let out = self
            .elb
            .call("DescribeTags", &Params::new().list("ResourceArns", &[arn]))
            .await
            .unwrap();
        out.members(&["TagDescriptions"])[0]
            .members(&["Tags"])
            .iter()
            .map(|t| {
                (
                    t.text_at(&["Key"]).unwrap().to_owned(),
                    t.text_at(&["Value"]).unwrap().to_owned(),
                )
            })
            .collect()
    }

    /// The listener's non-default rules: (priority, hosts, forward target group, ARN).
    async fn rules(&self) -> Vec<(String, Vec<String>, String, String)> {
        let out = self
            .elb
            .call(
                "DescribeRules",
                &Params::new().set("ListenerArn", &self.listener),
            )
            .await
            .unwrap();
        out.members(&["Rules"])
            .into_iter()
            .filter(|r| r.text_at(&["IsDefault"]) != Some("true"))
            .map(|r| {
                (
                    r.text_at(&["Priority"]).unwrap().to_owned(),
                    r.members(&["Conditions"])[0]
                        .members(&["HostHeaderConfig", "Values"])
                        .iter()
                        .map(|v| v.text.clone())
                        .collect(),
                    r.members(&["Actions"])[0]
                        .text_at(&["TargetGroupArn"])
                        .unwrap()
                        .to_owned(),
                    r.text_at(&["RuleArn"]).unwrap().to_owned(),
                )
            })
            .collect()
    }

    /// States of the deployments of `preview/pr-<n>`, oldest first.
    fn deployments(&self, n: u64) -> Vec<(Value, Vec<String>)> {
        deployments_of(&self.gh, &format!("preview/pr-{n}"))
    }

    fn no_protocol_errors(&self) {
        self.fake.assert_no_protocol_errors();
        self.gh.assert_no_violations();
    }
}

fn ok(r: &StepResult) {
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.summary);
}

fn record(n: u64, updated: &str) -> String {
    format!("repo={REPO} pr={n} updated={updated}")
}

#[tokio::test]
async fn an_ecs_preview_is_created_routed_updated_and_removed_on_close_idempotently() {
    let Some(rig) = Rig::new().await else {
        return;
    };
    rig.gh.add_pr(7, "feat: thing", &"a".repeat(40), &[]);
    // Someone's own rule at PR 7's preferred priority: the preview takes the next free one.
    let other_tg = rig
        .elb
        .call(
            "CreateTargetGroup",
            &Params::new()
                .set("Name", unique("other"))
                .set("Protocol", "HTTP")
                .set("Port", "80")
                .set("VpcId", &rig.vpc),
        )
        .await
        .unwrap();
    let other_tg = first_text(&other_tg, &["TargetGroups"], "TargetGroupArn");
    rig.elb
        .call(
            "CreateRule",
            &Params::new()
                .set("ListenerArn", &rig.listener)
                .set("Priority", "10007")
                .set("Conditions.member.1.Field", "host-header")
                .set(
                    "Conditions.member.1.HostHeaderConfig.Values.member.1",
                    "admin.example.com",
                )
                .set("Actions.member.1.Type", "forward")
                .set("Actions.member.1.TargetGroupArn", &other_tg),
        )
        .await
        .unwrap();

    // opened
    let r = rig.step(7, "opened", IMAGE_A).run().await;
    ok(&r);
    assert_eq!(r.output("verdict"), Some("success"), "{}", r.summary);
    assert_eq!(
        r.output("preview-url"),
        Some("https://pr-7.preview.example.com")
    );
    assert_eq!(r.output("preview-service"), Some("web-pr-7"));
    let tg = rig.target_group(7).await.expect("the preview target group");
    let tg_arn = tg.text_at(&["TargetGroupArn"]).unwrap().to_owned();
    assert_ne!(tg_arn, rig.base_tg, "a target group of its own");
    assert_eq!(
        rig.fake.service("web").unwrap()["loadBalancers"][0]["targetGroupArn"],
        rig.base_tg.as_str(),
        "the base service stays on its target group"
    );
    for (field, want) in [
        ("Protocol", "HTTP"),
        ("Port", "8080"),
        ("VpcId", rig.vpc.as_str()),
        ("TargetType", "ip"),
        ("HealthCheckPath", "/healthz"),
        ("HealthCheckIntervalSeconds", "15"),
    ] {
        assert_eq!(tg.text_at(&[field]), Some(want), "{field}");
    }
    assert_eq!(tg.text_at(&["Matcher", "HttpCode"]), Some("200-299"));
    let rec = rig.elb_tags(&tg_arn).await;
    assert!(
        rec[&key(7)].starts_with(&format!("repo={REPO} pr=7 updated=20")),
        "{rec:?}"
    );
    let rules = rig.rules().await;
    let ours: Vec<_> = rules.iter().filter(|r| r.2 == tg_arn).collect();
    assert_eq!(ours.len(), 1, "{rules:?}");
    assert_eq!(ours[0].0, "10008", "10007 was taken");
    assert_eq!(ours[0].1, ["pr-7.preview.example.com"]);
    let rule_arn = ours[0].3.clone();
    assert!(rig.elb_tags(&rule_arn).await.contains_key(&key(7)));
    // The clone: same network and launch type, registered to the preview target group, tagged.
    let create = &rig.fake.requests("CreateService")[0];
    assert_eq!(create["serviceName"], "web-pr-7");
    assert_eq!(create["desiredCount"], 1);
    assert_eq!(create["launchType"], "FARGATE");
    assert_eq!(
        create["networkConfiguration"]["awsvpcConfiguration"]["subnets"],
        json!(["subnet-0a1b2c3d4e5f60718"])
    );
    assert_eq!(
        create["loadBalancers"],
        json!([{"targetGroupArn": tg_arn, "containerName": "app", "containerPort": 8080}])
    );
    assert_eq!(create["healthCheckGracePeriodSeconds"], 30);
    assert_eq!(
        create["deploymentConfiguration"]["deploymentCircuitBreaker"],
        json!({"enable": true, "rollback": true})
    );
    assert_eq!(create["propagateTags"], "SERVICE");
    assert_eq!(
        create["taskDefinition"],
        r.output("task-definition-arn").unwrap()
    );
    let td = rig
        .fake
        .task_definition(r.output("task-definition-arn").unwrap());
    assert_eq!(td["containerDefinitions"][0]["image"], IMAGE_A);
    let svc_tags = rig
        .fake
        .tags_of(&FakeEcs::service_arn(&rig.cluster, "web-pr-7"));
    assert!(svc_tags.contains_key(&key(7)), "{svc_tags:?}");
    assert!(rig.base_tags().contains_key(&key(7)));
    assert!(rig.fake.service_task_definition("web").ends_with("/web:1"));
    assert!(
        rig.fake.requests("UpdateService").is_empty(),
        "the base service is never updated"
    );
    let comments = rig.gh.comments(7);
    assert_eq!(comments.len(), 1);
    has(&comments[0].body, "https://pr-7.preview.example.com");
    let deps = rig.deployments(7);
    assert_eq!(deps.len(), 1);
    assert_eq!(deps[0].0["transient_environment"], true);
    assert_eq!(deps[0].1, ["in_progress", "success"]);
    let last = rig
        .gh
        .deployment_statuses(deps[0].0["id"].as_u64().unwrap());
    assert_eq!(
        last.last().unwrap()["environment_url"],
        "https://pr-7.preview.example.com"
    );

    // synchronize: the PR's new image in place; same target group and rule.
    let r = rig.step(7, "synchronize", IMAGE_B).run().await;
    ok(&r);
    let updates = rig.fake.requests("UpdateService");
    assert_eq!(updates.len(), 1, "{updates:?}");
    assert_eq!(updates[0]["service"], "web-pr-7");
    assert_eq!(updates[0]["desiredCount"], 1);
    let td = rig
        .fake
        .task_definition(updates[0]["taskDefinition"].as_str().unwrap());
    assert_eq!(td["containerDefinitions"][0]["image"], IMAGE_B);
    assert_eq!(rig.fake.requests("CreateService").len(), 1);
    let rules = rig.rules().await;
    assert_eq!(rules.iter().filter(|r| r.3 == rule_arn).count(), 1);
    assert_eq!(rules.len(), 2, "{rules:?}");
    assert_eq!(rig.gh.comments(7).len(), 1, "edited, never duplicated");
    let deps = rig.deployments(7);
    assert_eq!(deps.len(), 2, "{deps:?}");
    assert_eq!(deps[0].1.last().unwrap(), "inactive");
    assert_eq!(deps[1].1, ["in_progress", "success"]);

    // closed: scaled to 0, deleted (forced), rule, target group and record gone.
    let r = rig.step(7, "closed", IMAGE_B).run().await;
    ok(&r);
    let updates = rig.fake.requests("UpdateService");
    assert_eq!(updates.last().unwrap()["desiredCount"], 0);
    assert!(updates.last().unwrap().get("taskDefinition").is_none());
    let deletes = rig.fake.requests("DeleteService");
    assert_eq!(deletes.len(), 1);
    assert_eq!(deletes[0]["service"], "web-pr-7");
    assert_eq!(deletes[0]["force"], true);
    assert_eq!(rig.fake.service_names(), ["web"]);
    assert!(rig.target_group(7).await.is_none());
    let rules = rig.rules().await;
    assert_eq!(rules.len(), 1, "only the foreign rule remains: {rules:?}");
    assert_eq!(rules[0].1, ["admin.example.com"]);
    assert!(!rig.base_tags().contains_key(&key(7)));
    for (_, states) in rig.deployments(7) {
        assert_eq!(states.last().unwrap(), "inactive", "{states:?}");
    }
    let c = rig.gh.comments(7);
    assert_eq!(c.len(), 1);
    has(&c[0].body, "removed (pull request closed)");
    has(&c[0].body, "service `web-pr-7`");

    // closed again: quiet success, nothing deleted.
    let r = rig.step(7, "closed", IMAGE_B).run().await;
    ok(&r);
    has(&r.summary, "There was no preview to remove.");
    assert_eq!(rig.fake.requests("DeleteService").len(), 1);
    // The sticky comment keeps the record of what the first close removed (issue 28).
    let again = rig.gh.comments(7);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].body, c[0].body);
    rig.no_protocol_errors();
}

#[tokio::test]
async fn without_a_listener_the_preview_is_the_service_alone() {
    let Some(rig) = Rig::new().await else {
        return;
    };
    // A base service on an EC2 capacity provider with placement rules: the clone gets the same.
    rig.fake.set_service_fields(
        "web",
        json!({"launchType": null,
               "capacityProviderStrategy": [{"capacityProvider": "asg-provider", "weight": 1, "base": 0}],
               "placementConstraints": [{"type": "memberOf", "expression": "attribute:ecs.instance-type =~ t3.*"}],
               "placementStrategy": [{"type": "spread", "field": "attribute:ecs.availability-zone"}]}),
    );
    let step = |action: &str| {
        let mut s = rig.step(3, action, IMAGE_A);
        s.env.remove("INPUT_PREVIEW-LISTENER-ARN");
        s.env.remove("INPUT_PREVIEW-HOST");
        s.input("preview-desired-count", "2")
    };
    let r = step("opened").run().await;
    ok(&r);
    assert_eq!(r.output("preview-url"), None);
    assert_eq!(r.output("preview-service"), Some("web-pr-3"));
    let create = &rig.fake.requests("CreateService")[0];
    assert_eq!(create["desiredCount"], 2);
    assert!(create.get("launchType").is_none(), "{create}");
    assert_eq!(
        create["capacityProviderStrategy"],
        json!([{"capacityProvider": "asg-provider", "weight": 1, "base": 0}])
    );
    assert_eq!(
        create["placementConstraints"],
        json!([{"type": "memberOf", "expression": "attribute:ecs.instance-type =~ t3.*"}])
    );
    assert_eq!(
        create["placementStrategy"],
        json!([{"type": "spread", "field": "attribute:ecs.availability-zone"}])
    );
    assert!(create.get("loadBalancers").is_none(), "{create}");
    assert!(rig.target_group(3).await.is_none());
    assert!(rig.rules().await.is_empty());
    // Closing needs no image (the PR's build does not run on `closed`); creating does.
    let mut closed = step("closed");
    closed.env.remove("INPUT_IMAGE");
    ok(&closed.run().await);
    assert_eq!(rig.fake.service_names(), ["web"]);
    let mut opened = step("reopened");
    opened.env.remove("INPUT_IMAGE");
    let calls = rig.fake.total_calls();
    let r = opened.exits(2).await;
    has(&r.stdout, "input `image` is required");
    assert_eq!(rig.fake.total_calls(), calls, "refused before any AWS call");
    assert!(rig.base_tags().is_empty());
    rig.no_protocol_errors();
}

#[tokio::test]
async fn preview_max_counts_ecs_previews_and_an_expired_one_makes_room() {
    let Some(rig) = Rig::new().await else {
        return;
    };
    ok(&rig
        .step(1, "opened", IMAGE_A)
        .input("preview-max", "1")
        .run()
        .await);
    let r = rig
        .step(2, "opened", IMAGE_A)
        .input("preview-max", "1")
        .exits(1)
        .await;
    assert!(
        r.stdout.contains("::error") && r.stdout.contains("`preview-max` (1)"),
        "{}",
        r.stdout
    );
    has(&r.summary, "#1 (`web-pr-1`");
    has(&r.summary, "Nothing was created for #2");
    assert_eq!(rig.fake.service_names(), ["web", "web-pr-1"]);
    assert!(rig.target_group(2).await.is_none());
    assert!(!rig.base_tags().contains_key(&key(2)));

    // #1 not updated for long: removed to make room for #2.
    rig.fake
        .set_tag(&rig.base_arn(), &key(1), &record(1, "2026-01-01T00:00:00Z"));
    let r = rig
        .step(2, "opened", IMAGE_A)
        .input("preview-max", "1")
        .run()
        .await;
    ok(&r);
    has(&r.summary, "Removed the expired preview of #1");
    // The open previews no longer list the one removed (issue 28).
    has(&r.summary, "1 of 1 (`preview-max`): #2");
    assert_eq!(rig.fake.service_names(), ["web", "web-pr-2"]);
    assert!(rig.target_group(1).await.is_none());
    assert!(rig.target_group(2).await.is_some());
    rig.no_protocol_errors();
}

#[tokio::test]
async fn the_sweep_removes_closed_and_expired_ecs_previews_and_only_ours() {
    let Some(rig) = Rig::new().await else {
        return;
    };
    for n in [1, 2, 3] {
        rig.gh.add_pr(n, "feat", &"a".repeat(40), &[]);
        ok(&rig.step(n, "opened", IMAGE_A).run().await);
    }
    rig.gh.close_pr(1);
    rig.fake
        .set_tag(&rig.base_arn(), &key(2), &record(2, "2026-01-01T00:00:00Z"));
    // Another repository's stale record on the same service: not ours to touch.
    rig.fake.set_tag(
        &rig.base_arn(),
        "stevedore:preview:pr-40",
        "repo=other-org/other-repo pr=40 updated=2026-01-01T00:00:00Z",
    );
    let r = rig.sweep().run().await;
    ok(&r);
    assert_eq!(r.output("previews-removed"), Some("2"), "{}", r.summary);
    assert_eq!(rig.fake.service_names(), ["web", "web-pr-3"]);
    assert!(rig.target_group(1).await.is_none() && rig.target_group(2).await.is_none());
    assert!(rig.target_group(3).await.is_some());
    assert_eq!(rig.rules().await.len(), 1);
    let tags = rig.base_tags();
    assert!(tags.contains_key(&key(3)));
    assert!(tags.contains_key("stevedore:preview:pr-40"));
    assert!(!tags.contains_key(&key(1)));
    has(&r.summary, "pull request closed");
    has(&r.summary, "not updated within `preview-ttl`");
    for n in [1, 2] {
        let c = rig.gh.comments(n);
        assert_eq!(c.len(), 1);
        has(&c[0].body, &format!("Preview of #{n}: removed"));
    }
    let r = rig.sweep().run().await;
    ok(&r);
    assert_eq!(r.output("previews-removed"), Some("0"));
    rig.no_protocol_errors();
}

#[tokio::test]
async fn a_fork_pr_gets_no_ecs_preview_and_the_step_is_skipped() {
    let Some(rig) = Rig::new().await else {
        return;
    };
    let r = rig
        .step(5, "opened", IMAGE_A)
        .event(
            "pull_request",
            json!({"action": "opened", "number": 5, "pull_request": {"number": 5,
                "head": {"sha": "a".repeat(40), "repo": {"full_name": "fork-owner/octo-repo"}},
                "base": {"repo": {"full_name": REPO}}}}),
        )
        .run()
        .await;
    ok(&r);
    assert_eq!(r.output("verdict"), Some("skipped"));
    assert!(
        r.stdout.contains("::notice") && r.stdout.contains("fork"),
        "{}",
        r.stdout
    );
    assert_eq!(rig.fake.total_calls(), 0, "no ECS call at all");
    assert!(rig.target_group(5).await.is_none());

    // A dry run says what it would do and reads nothing.
    let r = rig
        .step(5, "opened", IMAGE_A)
        .input("dry-run", "true")
        .run()
        .await;
    ok(&r);
    assert_eq!(r.output("verdict"), Some("skipped"));
    has(
        &r.summary,
        "Dry run: would create or update the preview `pr-5` of #5 on service `web`",
    );
    assert_eq!(rig.fake.total_calls(), 0, "no ECS call at all");
}

#[tokio::test]
async fn a_cancelled_create_leaves_a_record_that_the_close_cleans_up() {
    let Some(rig) = Rig::new().await else {
        return;
    };
    // The signal comes while CreateService is in flight: record, task definition, target group and rule
    // exist by then.
    rig.fake.delay("CreateService", Duration::from_millis(1500));
    let (handle, cancel) = stevedore::cancel::pair();
    let fake = rig.fake.clone();
    let watcher = tokio::spawn(async move {
        while !fake.arrivals().iter().any(|(op, _)| op == "CreateService") {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        handle.cancel("SIGTERM");
    });
    let r = rig.step(4, "opened", IMAGE_A).run_with_cancel(cancel).await;
    watcher.await.unwrap();
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.summary);
    assert!(rig.base_tags().contains_key(&key(4)), "recorded first");
    assert!(rig.target_group(4).await.is_some());
    tokio::time::sleep(Duration::from_millis(1600)).await;

    let r = rig.step(4, "closed", IMAGE_A).run().await;
    ok(&r);
    assert_eq!(rig.fake.service_names(), ["web"]);
    assert!(rig.target_group(4).await.is_none());
    assert!(rig.rules().await.is_empty());
    assert!(rig.base_tags().is_empty(), "{:?}", rig.base_tags());
    rig.no_protocol_errors();
}

#[tokio::test]
async fn a_foreign_service_with_the_preview_name_is_left_alone() {
    let Some(rig) = Rig::new().await else {
        return;
    };
    let td = rig.fake.service_task_definition("web");
    rig.fake
        .seed_service(&rig.cluster, "web-pr-9", &td, 1, None);
    let r = rig.step(9, "opened", IMAGE_A).exits(1).await;
    has(&r.stdout, "carries no stevedore preview record");
    // Its record makes the close clean up what this run created, and leave the service.
    let r = rig.step(9, "closed", IMAGE_A).run().await;
    ok(&r);
    has(&r.summary, "left alone");
    assert_eq!(rig.fake.service_names(), ["web", "web-pr-9"]);
    assert!(rig.fake.requests("DeleteService").is_empty());
    assert!(rig.target_group(9).await.is_none());
    assert!(rig.base_tags().is_empty());
    rig.no_protocol_errors();
}

#[tokio::test]
async fn a_foreign_rule_for_the_preview_host_is_refused_and_left_alone() {
    let Some(rig) = Rig::new().await else {
        return;
    };
    rig.elb
        .call(
            "CreateRule",
            &Params::new()
                .set("ListenerArn", &rig.listener)
                .set("Priority", "5")
                .set("Conditions.member.1.Field", "host-header")
                .set(
                    "Conditions.member.1.HostHeaderConfig.Values.member.1",
                    "pr-8.preview.example.com",
                )
                .set("Actions.member.1.Type", "forward")
                .set("Actions.member.1.TargetGroupArn", &rig.base_tg),
        )
        .await
        .unwrap();
    let r = rig.step(8, "opened", IMAGE_A).exits(1).await;
    has(&r.stdout, "already routes host `pr-8.preview.example.com`");
    assert!(rig.fake.requests("CreateService").is_empty());
    // The close removes what the refused run made (its target group) and leaves the foreign rule.
    ok(&rig.step(8, "closed", IMAGE_A).run().await);
    assert!(rig.target_group(8).await.is_none());
    let rules = rig.rules().await;
    assert_eq!(rules.len(), 1, "{rules:?}");
    assert_eq!(rules[0].0, "5");
    assert!(rig.base_tags().is_empty());
    rig.no_protocol_errors();
}

#[tokio::test]
async fn ecs_preview_inputs_are_checked_all_at_once() {
    let r = Step::new()
        .input("mode", "deploy")
        .input("aws-region", "eu-west-1")
        .input("cluster", "prod")
        .input("service", "web\napi")
        .input("image", IMAGE_A)
        .input("preview", "true")
        .input(
            "preview-listener-arn",
            "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/web/1",
        )
        .input("preview-desired-count", "50")
        .input("pre-deploy-task", "command: [migrate]")
        .input("preview-url-auth", "NONE")
        .exits(2)
        .await;
    for needle in [
        "input `service`",
        "input `preview-listener-arn`",
        "input `preview-host`",
        "input `preview-desired-count`",
        "input `pre-deploy-task`",
        "input `preview-url-auth`",
    ] {
        assert!(r.stdout.contains(needle), "{needle} in {}", r.stdout);
    }
    let r = Step::new()
        .input("mode", "deploy")
        .input("aws-region", "eu-west-1")
        .input("function-name", "f")
        .input("preview", "true")
        .input("preview-host", "pr-{number}.example.com")
        .exits(2)
        .await;
    has(&r.stdout, "applies to ECS previews only");
}

/// Another repository's record of the same PR on the base service (issue 25): the preview is refused
/// before anything is written — that record stays exactly as it was (so its own close and sweep still
/// find it), no service, target group or rule is made, and a close of ours leaves it alone.
#[tokio::test]
async fn another_repositorys_record_on_the_base_service_is_refused_and_kept() {
    let Some(rig) = Rig::new().await else {
        return;
    };
    let other = "other-org/other-repo";
    let legacy = format!("repo={other} pr=11 updated=2026-12-01T00:00:00Z");
    rig.fake
        .set_tag(&rig.base_arn(), "stevedore:preview:pr-11", &legacy);
    let other_key = format!("stevedore:preview:{other}:pr-12");
    let current = format!("repo={other} pr=12 updated=2026-12-01T00:00:00Z");
    rig.fake.set_tag(&rig.base_arn(), &other_key, &current);
    // The other repository's preview service of #11, with its record.
    let td = rig.fake.service_task_definition("web");
    rig.fake
        .seed_service(&rig.cluster, "web-pr-11", &td, 1, None);
    rig.fake.set_tag(
        &FakeEcs::service_arn(&rig.cluster, "web-pr-11"),
        "stevedore:preview:pr-11",
        &legacy,
    );
    let before = rig.base_tags();
    for n in [11, 12] {
        let r = rig.step(n, "opened", IMAGE_A).run().await;
        assert_eq!(r.code, 1, "#{n}: {}\n{}", r.stdout, r.summary);
        has(&r.stdout, "is claimed by repository `other-org/other-repo`");
        has(&r.stdout, "nothing was changed");
        assert_eq!(rig.base_tags(), before, "#{n}: the base service's tags");
        assert!(rig.target_group(n).await.is_none());
    }
    assert!(rig.fake.requests("TagResource").is_empty());
    assert!(rig.fake.requests("CreateService").is_empty());
    assert!(rig.fake.requests("UpdateService").is_empty());
    assert!(rig.rules().await.is_empty());
    assert!(rig.deployments(11).is_empty() && rig.deployments(12).is_empty());
    // Our close of #11 leaves the other repository's preview and record alone.
    ok(&rig.step(11, "closed", IMAGE_A).run().await);
    assert_eq!(rig.base_tags(), before);
    assert_eq!(rig.fake.service_names(), ["web", "web-pr-11"]);
    assert!(rig.fake.requests("DeleteService").is_empty());
    rig.no_protocol_errors();
}

/// A foreign service with the preview's name is refused before the base service's record is written:
/// no tag is written anywhere.
#[tokio::test]
async fn a_foreign_preview_service_is_refused_before_any_tag_is_written() {
    let Some(rig) = Rig::new().await else {
        return;
    };
    let td = rig.fake.service_task_definition("web");
    rig.fake
        .seed_service(&rig.cluster, "web-pr-13", &td, 1, None);
    let r = rig.step(13, "opened", IMAGE_A).exits(1).await;
    has(&r.stdout, "carries no stevedore preview record");
    assert!(rig.fake.requests("TagResource").is_empty());
    assert!(rig.fake.requests("RegisterTaskDefinition").is_empty());
    assert!(rig.base_tags().is_empty());
    assert!(rig.target_group(13).await.is_none());
    rig.no_protocol_errors();
}
