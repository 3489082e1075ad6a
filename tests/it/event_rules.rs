//! The `event-rules` sync against moto's EventBridge and Lambda: rules created, updated and pruned,
//! targets on the alias, the invoke permission present, a second run changing nothing, someone else's rules
//! untouched.

use serde_json::{Value, json};
use stevedore::aws::events::{Events, PutRule, Rule, SERVICE};
use stevedore::aws::json_rpc::JsonRpc;
use stevedore::event_rules::{self, Action, EventRule, OWNER_TAG, TARGET_ID, Worker};
use stevedore::net::Net;

use crate::helpers::moto::unique;
use crate::lambda::Rig;

async fn policy(rig: &Rig) -> Vec<Value> {
    match rig.policy("live").await {
        Some(p) => {
            let v: Value = serde_json::from_str(&p).unwrap();
            v["Statement"].as_array().cloned().unwrap_or_default()
        }
        None => Vec::new(),
    }
}

/// The ARN of the rig's alias `live`.
async fn live_arn(rig: &Rig) -> String {
    rig.get_alias("live").await.alias_arn.unwrap()
}

/// The default bus's rule `name`, if there is one.
async fn default_rule(events: &Events, name: &str) -> Option<Rule> {
    events.describe_rule("default", name).await.unwrap()
}

fn rules(text: &str) -> Vec<EventRule> {
    event_rules::parse(text).unwrap()
}

fn actions(changes: &[event_rules::Change]) -> Vec<(String, Action)> {
    let mut v: Vec<(String, Action)> = changes.iter().map(|c| (c.name.clone(), c.action)).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[tokio::test]
async fn event_rules_are_created_updated_pruned_on_the_alias_and_a_second_run_changes_nothing() {
    let Some(rig) = Rig::new("worker").await else {
        return;
    };
    let alias_arn = live_arn(&rig).await;
    let worker = Worker::from_alias_arn(&alias_arn).unwrap();
    let net = Net::builtin();
    let events = Events::new(&rig.sdk, &net).unwrap();
    let rpc = JsonRpc::new(&rig.sdk, SERVICE, crate::helpers::reqwest_client());
    let bus = unique("orders");
    rpc.call("CreateEventBus", &json!({ "Name": bus }))
        .await
        .unwrap();
    // Someone else's rule on the same bus, targeting the same alias: never touched.
    let foreign = unique("foreign");
    events
        .put_rule(&PutRule {
            name: foreign.clone(),
            schedule_expression: Some("rate(1 hour)".into()),
            state: "ENABLED".into(),
            ..PutRule::default()
        })
        .await
        .unwrap();
    events
        .put_targets(
            "default",
            &foreign,
            &[stevedore::aws::events::Target {
                id: "theirs".into(),
                arn: alias_arn.clone(),
                input: None,
            }],
        )
        .await
        .unwrap();

    let sync = |desired: Vec<EventRule>, dry_run: bool| {
        let (events, lambda, worker) = (&events, &rig.lambda, &worker);
        async move {
            event_rules::sync(events, lambda, worker, &desired, dry_run)
                .await
                .unwrap()
        }
    };
    let (nightly, orders, sweep) = (unique("nightly"), unique("order-created"), unique("sweep"));
    let v1 = rules(&format!(
        "{nightly}:\n  schedule: rate(1 day)\n{orders}:\n  bus: {bus}\n  pattern:\n    source: [shop.orders]\n    detail-type: [OrderCreated]\n{sweep}:\n  schedule: rate(5 minutes)\n"
    ));
    // The dry run says what would happen and writes nothing.
    let planned = sync(v1.clone(), true).await;
    assert!(
        planned.iter().all(|c| c.action == Action::Create),
        "{planned:?}"
    );
    assert!(default_rule(&events, &nightly).await.is_none());

    let created = sync(v1.clone(), false).await;
    assert_eq!(created.len(), 3);
    assert!(
        created.iter().all(|c| c.action == Action::Create),
        "{created:?}"
    );
    let statements = policy(&rig).await;
    for d in &v1 {
        let rule = events
            .describe_rule(&d.bus, &d.name)
            .await
            .unwrap()
            .unwrap();
        let arn = rule.arn.unwrap();
        // The target is the alias, under stevedore's id.
        let targets = events.list_targets_by_rule(&d.bus, &d.name).await.unwrap();
        assert_eq!(targets.len(), 1, "{targets:?}");
        assert_eq!(
            (targets[0].id.as_str(), targets[0].arn.as_str()),
            (TARGET_ID, alias_arn.as_str())
        );
        // Tagged as this function's.
        let tags = events.list_tags(&arn).await.unwrap();
        assert!(
            tags.iter()
                .any(|t| t.key == OWNER_TAG && t.value == rig.function),
            "{tags:?}"
        );
        // The alias lets EventBridge invoke it for this rule.
        let sid = event_rules::statement_id(&d.bus, &d.name);
        let st = statements
            .iter()
            .find(|s| s["Sid"] == sid.as_str())
            .unwrap_or_else(|| panic!("no statement {sid} in {statements:?}"));
        assert_eq!(st["Principal"]["Service"], "events.amazonaws.com", "{st}");
        assert_eq!(
            st["Condition"]["ArnLike"]["AWS:SourceArn"],
            arn.as_str(),
            "{st}"
        );
        assert!(st["Resource"].as_str().unwrap().ends_with(":live"), "{st}");
    }
    let pattern: Value = serde_json::from_str(
        &events
            .describe_rule(&bus, &orders)
            .await
            .unwrap()
            .unwrap()
            .event_pattern
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        pattern,
        json!({"source": ["shop.orders"], "detail-type": ["OrderCreated"]})
    );

    // A second run with the same input finds everything as it should be, and writes nothing.
    let before = event_rules::read(&events, &rig.lambda, &worker, &v1)
        .await
        .unwrap();
    let again = sync(v1.clone(), false).await;
    assert!(
        again.iter().all(|c| c.action == Action::Unchanged),
        "{again:?}"
    );
    let after = event_rules::read(&events, &rig.lambda, &worker, &v1)
        .await
        .unwrap();
    assert_eq!(before, after);
    assert_eq!(policy(&rig).await.len(), statements.len());

    // The schedule changes, the sweep is no longer listed.
    let v2 = rules(&format!(
        "{nightly}:\n  schedule: cron(0 3 * * ? *)\n{orders}:\n  bus: {bus}\n  pattern:\n    source: [shop.orders]\n    detail-type: [OrderCreated]\n"
    ));
    let changed = sync(v2.clone(), false).await;
    assert_eq!(
        actions(&changed),
        {
            let mut want = vec![
                (nightly.clone(), Action::Update),
                (orders.clone(), Action::Unchanged),
                (sweep.clone(), Action::Delete),
            ];
            want.sort_by(|a, b| a.0.cmp(&b.0));
            want
        },
        "{changed:?}"
    );
    let n = changed.iter().find(|c| c.name == nightly).unwrap();
    assert_eq!(
        n.to_string(),
        format!("~ rule default/{nightly}: schedule rate(1 day) → cron(0 3 * * ? *)")
    );
    assert_eq!(
        default_rule(&events, &nightly)
            .await
            .unwrap()
            .schedule_expression
            .as_deref(),
        Some("cron(0 3 * * ? *)")
    );
    assert!(default_rule(&events, &sweep).await.is_none(), "pruned");
    let sweep_sid = event_rules::statement_id("default", &sweep);
    assert!(
        !policy(&rig)
            .await
            .iter()
            .any(|s| s["Sid"] == sweep_sid.as_str()),
        "its permission went with it"
    );
    // Someone else's rule is as it was.
    let theirs = default_rule(&events, &foreign).await.unwrap();
    assert_eq!(theirs.schedule_expression.as_deref(), Some("rate(1 hour)"));
    assert_eq!(
        events
            .list_targets_by_rule("default", &foreign)
            .await
            .unwrap()[0]
            .id,
        "theirs"
    );
    let third = sync(v2.clone(), false).await;
    assert!(
        third.iter().all(|c| c.action == Action::Unchanged),
        "{third:?}"
    );

    // Listing someone else's rule is refused, and it stays untouched.
    let v3 = rules(&format!("{foreign}:\n  schedule: rate(2 hours)\n"));
    let e = event_rules::sync(&events, &rig.lambda, &worker, &v3, false)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("is not stevedore's"), "{e}");
    let theirs = default_rule(&events, &foreign).await.unwrap();
    assert_eq!(theirs.schedule_expression.as_deref(), Some("rate(1 hour)"));
}

/// `event-rules` through a Lambda deploy step: the dry run shows the diff and writes nothing; the deploy
/// moves the alias, then creates the rule on it; the same step again changes nothing; a step listing
/// another rule creates it and removes the first.
#[tokio::test]
async fn a_lambda_deploy_syncs_its_event_rules_after_the_alias_moved() {
    let Some(rig) = Rig::new("worker-deploy").await else {
        return;
    };
    let net = Net::builtin();
    let events = Events::new(&rig.sdk, &net).unwrap();
    let (nightly, hourly) = (unique("nightly"), unique("hourly"));
    let first = format!("{nightly}:\n  schedule: rate(1 day)\n");
    let summary = |r: &crate::helpers::run::StepResult| {
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.summary);
        r.summary.replace("&#95;", "_")
    };

    let dry = summary(
        &rig.step(Some("a"))
            .input("event-rules", &first)
            .input("dry-run", "true")
            .run()
            .await,
    );
    assert!(
        dry.contains(&format!("`+ rule default/{nightly}"))
            && dry.contains("(dry run, nothing written)"),
        "{dry}"
    );
    assert!(default_rule(&events, &nightly).await.is_none());

    let deployed = summary(&rig.step(Some("a")).input("event-rules", &first).run().await);
    assert!(
        deployed.contains(&format!("`+ rule default/{nightly}")),
        "{deployed}"
    );
    assert_eq!(rig.alias().await.0, "2");
    let alias_arn = live_arn(&rig).await;
    let targets = events
        .list_targets_by_rule("default", &nightly)
        .await
        .unwrap();
    assert_eq!(
        targets
            .iter()
            .map(|t| (t.id.as_str(), t.arn.as_str()))
            .collect::<Vec<_>>(),
        [(TARGET_ID, alias_arn.as_str())]
    );
    let sid = event_rules::statement_id("default", &nightly);
    assert!(
        policy(&rig).await.iter().any(|s| s["Sid"] == sid.as_str()),
        "no invoke permission {sid} on the alias"
    );

    let again = summary(&rig.step(Some("a")).input("event-rules", &first).run().await);
    assert!(
        again.contains(&format!("`= rule default/{nightly}")),
        "{again}"
    );

    let second = format!("{hourly}:\n  schedule: rate(1 hour)\n");
    let moved = summary(
        &rig.step(Some("a"))
            .input("event-rules", &second)
            .run()
            .await,
    );
    assert!(
        moved.contains(&format!("`+ rule default/{hourly}"))
            && moved.contains(&format!("`- rule default/{nightly}")),
        "{moved}"
    );
    assert!(default_rule(&events, &nightly).await.is_none());
    assert!(!policy(&rig).await.iter().any(|s| s["Sid"] == sid.as_str()));
}

/// Each rule's `sample-event` (a file in the workspace) is sent to the new version before any traffic,
/// after `test-payload`. A sample event the new version fails on stops the deploy with the alias where
/// it was and no rule synced; a missing or non-object file is an input error (exit 2) before anything is
/// deployed.
#[tokio::test]
async fn each_rules_sample_event_is_sent_to_the_new_version_before_traffic() {
    let Some(rig) = Rig::new("worker-sample").await else {
        return;
    };
    let events = Events::new(&rig.sdk, &Net::builtin()).unwrap();
    let orders = unique("orders");
    let ok_event = r#"{"version": "0", "detail-type": "OrderCreated", "source": "shop.orders", "detail": {"id": 7}}"#;
    let (proxy, seen) = crate::lambda::invoke_proxy(&rig.endpoint, |_, body| {
        String::from_utf8_lossy(body).contains("Poison")
    })
    .await;
    let rules = |file: &str| {
        format!(
            "{orders}:\n  pattern:\n    source: [shop.orders]\n  sample-event: events/{file}\nnightly-{orders}:\n  schedule: rate(1 day)\n"
        )
    };
    let step = |zip: &str, file: &str| {
        let s = rig
            .step(Some(zip))
            .var("AWS_ENDPOINT_URL_LAMBDA", &proxy)
            .input("test-payload", r#"{"ping": 1}"#)
            .input("event-rules", &rules(file));
        std::fs::create_dir_all(s.workspace.join("events")).unwrap();
        std::fs::write(s.workspace.join("events/ok.json"), ok_event).unwrap();
        std::fs::write(
            s.workspace.join("events/poison.json"),
            r#"{"detail-type": "Poison", "source": "shop.orders", "detail": {}}"#,
        )
        .unwrap();
        std::fs::write(s.workspace.join("events/list.json"), "[1, 2]").unwrap();
        s
    };

    let r = step("a", "ok.json").run().await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.summary);
    // Before traffic: `test-payload`, then the sample event; after the shift, `test-payload` again
    // (the health round), never the sample event.
    assert_eq!(
        *seen.lock().unwrap(),
        [r#"{"ping": 1}"#, ok_event, r#"{"ping": 1}"#]
    );
    assert_eq!(rig.alias().await.0, "2");
    assert!(default_rule(&events, &orders).await.is_some());

    // The new version fails on the sample event: no traffic moves, no rule is synced or pruned.
    seen.lock().unwrap().clear();
    let r = step("b", "poison.json").exits(1).await;
    assert_eq!(seen.lock().unwrap().len(), 2, "{:?}", seen.lock().unwrap());
    assert_eq!(rig.alias().await.0, "2");
    assert!(
        r.summary.contains(&format!(
            "the sample event of rule `{orders}`: version 3 failed"
        )),
        "{}",
        r.summary
    );
    assert!(r.summary.contains("no traffic moved"), "{}", r.summary);

    // A file that is missing or not an event: exit 2, nothing invoked or deployed.
    seen.lock().unwrap().clear();
    let r = step("c", "missing.json").exits(2).await;
    assert!(
        r.stdout.contains(&format!(
            "input `event-rules`: rule `{orders}`: its sample-event `events/missing.json` cannot be read"
        )),
        "{}",
        r.stdout
    );
    let r = step("c", "list.json").exits(2).await;
    assert!(
        r.stdout.contains("is JSON but not an object"),
        "{}",
        r.stdout
    );
    assert!(seen.lock().unwrap().is_empty());
    assert_eq!(crate::lambda::calls(&r, "UpdateFunctionCode"), 0);
    assert_eq!(rig.alias().await.0, "2");
}
