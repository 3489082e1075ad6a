//! `plan` mode (docs/iac.md): real Terraform/OpenTofu `show -json` and Pulumi outputs (tests/fixtures/iac,
//! see its README for where each file comes from) judged, rendered, fingerprinted and compared.

use std::path::{Path, PathBuf};

use stevedore::Env;
use stevedore::inputs::Inputs;
use stevedore::modes::plan::model::{Action, Plan, ReplaceOrder};
use stevedore::modes::plan::{self, Config, Entry, fingerprint, render};
use stevedore::report::Verdict;

use crate::helpers::fake_github::FakeGithub;
use crate::helpers::run::Step;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/iac")
}

fn load(rel: &str) -> Plan {
    let bytes = std::fs::read(fixtures().join(rel)).unwrap();
    plan::parse_plan(&bytes, rel).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn config(pairs: &[(&str, &str)]) -> Config {
    let mut all = vec![("INPUT_PLANS", "dev=p.json")];
    all.extend_from_slice(pairs);
    let env = Env::from_pairs(all);
    let mut p = Inputs::new(&env);
    let c = Config::parse(&mut p);
    p.finish().unwrap();
    c
}

fn review(cfg: &Config, env: &str, plan: Plan, labels: &[&str]) -> stevedore::report::Report {
    let labels: Vec<String> = labels.iter().map(|s| (*s).to_owned()).collect();
    plan::review_report(
        cfg,
        &[(
            Entry {
                environment: env.to_owned(),
                path: "plan.json".to_owned(),
            },
            plan,
        )],
        &labels,
    )
}

fn counts(p: &Plan) -> [usize; 7] {
    let c = p.counts();
    [
        c.add, c.change, c.replace, c.destroy, c.import, c.moved, c.forget,
    ]
}

/// A fixture, its counts (add, change, replace, destroy, import, move, forget), its verdict in dev and in
/// production, and what its summary must show.
type Case = (
    &'static str,
    [usize; 7],
    Verdict,
    Verdict,
    &'static [&'static str],
);

/// Every fixture class: what the model reads and how the review judges and renders it.
#[test]
fn every_fixture_class_renders_and_gates_as_documented() {
    let cfg = config(&[]);
    // (file, [add, change, replace, destroy, import, move, forget], verdict in dev, verdict in prod, must render)
    let cases: &[Case] = &[
        (
            "terraform/show-json/basic-create.json",
            [3, 0, 0, 0, 0, 0, 0],
            Verdict::Success,
            Verdict::Success,
            &["3 to add", "`test_instance.test[0]`"],
        ),
        (
            "terraform/show-json/basic-delete.json",
            [0, 1, 0, 1, 0, 0, 0],
            Verdict::Success,
            Verdict::Failure,
            &[
                "1 to destroy",
                "🔴 destroy",
                "its configuration was removed",
            ],
        ),
        (
            "terraform/show-json/basic-update.json",
            [0, 0, 0, 0, 0, 0, 0],
            Verdict::Success,
            Verdict::Success,
            &["**No changes.**"],
        ),
        (
            "terraform/show-json/requires-replace.json",
            [0, 0, 1, 0, 0, 0, 0],
            Verdict::Success,
            Verdict::Failure,
            &[
                "replace (destroy, then create)",
                "replaced because of `ami`",
                "the provider cannot update these attributes in place",
            ],
        ),
        (
            "terraform/show-json/drift.json",
            [0, 2, 0, 0, 0, 0, 0],
            Verdict::Success,
            Verdict::Success,
            &[
                "<summary>Drift</summary>",
                "`\"refresh-me\"` → `\"refreshed\"`",
            ],
        ),
        (
            "terraform/show-json/moved.json",
            [0, 1, 0, 0, 0, 1, 0],
            Verdict::Success,
            Verdict::Success,
            &["1 to move", "moved from `test_instance.foo`"],
        ),
        (
            "terraform/show-json/moved-drift.json",
            [0, 2, 0, 0, 0, 1, 0],
            Verdict::Success,
            Verdict::Success,
            &[
                "1 to move",
                "moved from `test_instance.should_refresh`",
                "<summary>Drift</summary>",
            ],
        ),
        (
            "terraform/show-json/modules.json",
            [4, 0, 0, 0, 0, 0, 0],
            Verdict::Success,
            Verdict::Success,
            &["`module.module_test_foo.test_instance.test[0]`"],
        ),
        (
            "terraform/show-json/nested-modules.json",
            [1, 0, 0, 0, 0, 0, 0],
            Verdict::Success,
            Verdict::Success,
            &["`module.my_module.module.more.test_instance.test`"],
        ),
        (
            "terraform/show-json/plan-error.json",
            [0, 0, 0, 0, 0, 0, 0],
            Verdict::Failure,
            Verdict::Failure,
            &["**Planning failed**"],
        ),
        (
            "terraform/show-json/unknown-output.json",
            [0, 0, 0, 0, 0, 0, 0],
            Verdict::Success,
            Verdict::Success,
            &["<summary>Output changes</summary>", "_(known after apply)_"],
        ),
        (
            "terraform/show-json/sensitive-values.json",
            [1, 0, 0, 0, 0, 0, 0],
            Verdict::Success,
            Verdict::Success,
            &["_(sensitive)_"],
        ),
        (
            "terraform-json/action_reason.json",
            [0, 0, 1, 0, 0, 0, 0],
            Verdict::Success,
            Verdict::Failure,
            &["tainted"],
        ),
        (
            "terraform-json/identity.json",
            [0, 1, 0, 0, 1, 0, 0],
            Verdict::Success,
            Verdict::Success,
            &["1 to import", "update in place, import"],
        ),
        (
            "terraform-json/no_changes.json",
            [0, 0, 0, 0, 0, 0, 0],
            Verdict::Success,
            Verdict::Success,
            &[
                "Terraform/OpenTofu: no changes",
                "<summary>Output changes</summary>",
            ],
        ),
        (
            "terraform-json/deep_module.json",
            [1, 0, 0, 0, 0, 0, 0],
            Verdict::Success,
            Verdict::Success,
            &["`module.foo.module.bar.null_resource.baz`"],
        ),
        (
            "terraform-json/110_sensitive_values.json",
            [7, 0, 0, 0, 0, 0, 0],
            Verdict::Success,
            Verdict::Success,
            &["_(sensitive)_"],
        ),
        (
            "documented/terraform-cbd-forget-deposed.json",
            [0, 1, 1, 1, 0, 0, 1],
            Verdict::Success,
            Verdict::Failure,
            &[
                "replace (create, then destroy)",
                "deposed object `00000001`",
                "forget (removed from state, kept)",
                "**Incomplete plan**",
                "`kubernetes_namespace.apps (provider_config_unknown)`",
                "Attributes that contribute to the plan",
                "`password`: _(sensitive)_ → _(sensitive, changes)_",
            ],
        ),
        (
            "pulumi/webserver-userdata.events.json",
            [0, 0, 1, 0, 0, 0, 0],
            Verdict::Success,
            Verdict::Failure,
            &[
                "replace (create, then destroy)",
                "replaced because of `userData`",
            ],
        ),
        (
            "pulumi/destroy-with-components.events.json",
            [0, 0, 0, 2, 0, 0, 0],
            Verdict::Success,
            Verdict::Failure,
            &[
                "`my:component:Child::mychild`",
                "`my:component:Component::mycomponent`",
            ],
        ),
        (
            "pulumi/failed-stacks-dont-rewrite-operations.events.json",
            [0, 1, 0, 1, 0, 0, 0],
            Verdict::Failure,
            Verdict::Failure,
            &[
                "**Planning failed**",
                "deposed object `pending-replacement`",
            ],
        ),
        (
            "pulumi/up-4.events.json",
            [0, 1, 0, 0, 0, 0, 0],
            Verdict::Success,
            Verdict::Success,
            &["update in place"],
        ),
        (
            "pulumi/stack-output-resource-diff.events.json",
            [0, 0, 0, 0, 0, 0, 0],
            Verdict::Success,
            Verdict::Success,
            &["**No changes.**"],
        ),
        (
            "documented/pulumi-preview-digest.json",
            [1, 1, 1, 1, 0, 0, 0],
            Verdict::Success,
            Verdict::Failure,
            &[
                "replace (destroy, then create)",
                "replaced because of `ami`",
                "_(sensitive)_",
            ],
        ),
    ];
    let mut failures = Vec::new();
    for (file, want, dev, prod, shows) in cases {
        let p = load(file);
        if counts(&p) != *want {
            failures.push(format!("{file}: counts {:?}, want {want:?}", counts(&p)));
        }
        let d = review(&cfg, "dev", p.clone(), &[]);
        let pr = review(&cfg, "prod", p.clone(), &[]);
        if d.verdict != *dev || pr.verdict != *prod {
            failures.push(format!(
                "{file}: dev {:?} prod {:?}, want {dev:?} {prod:?}",
                d.verdict, pr.verdict
            ));
        }
        for s in *shows {
            if !d.summary.contains(s) {
                failures.push(format!("{file}: the summary lacks {s:?}:\n{}", d.summary));
            }
        }
        // Every destroy and replacement is annotated.
        let destroys = p.changes.iter().filter(|c| c.action.destroys()).count();
        if d.checks[0].annotations.len() != destroys {
            failures.push(format!(
                "{file}: {} annotations for {destroys} destroys",
                d.checks[0].annotations.len()
            ));
        }
        // The fingerprint reads back from the check run's summary.
        let rec = fingerprint::Record::parse(&d.checks[0].summary).unwrap();
        if rec != fingerprint::of(&p, "dev", &[]) {
            failures.push(format!("{file}: the fingerprint does not read back"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_label_allows_a_protected_destroy_and_protect_reaches_every_environment() {
    let p = load("terraform/show-json/basic-delete.json");
    let cfg = config(&[]);
    let r = review(&cfg, "production", p.clone(), &["allow-destroy"]);
    assert_eq!(r.verdict, Verdict::Success);
    assert!(
        r.summary.contains("allowed by the `allow-destroy` label"),
        "{}",
        r.summary
    );
    let r = review(&cfg, "production", p.clone(), &[]);
    assert_eq!(r.verdict, Verdict::Failure);
    let f = r.closing_error().unwrap();
    assert!(
        f.reason
            .contains("production destroys or replaces 1 protected resource"),
        "{f:?}"
    );
    // `protect` by type fails even in dev; `protected-environments` replaces the default.
    let cfg = config(&[
        ("INPUT_PROTECT", "test_instance"),
        ("INPUT_PROTECTED-ENVIRONMENTS", "staging"),
    ]);
    assert_eq!(
        review(&cfg, "dev", p.clone(), &[]).verdict,
        Verdict::Failure
    );
    let cfg = config(&[("INPUT_PROTECTED-ENVIRONMENTS", "staging")]);
    assert_eq!(
        review(&cfg, "production", p.clone(), &[]).verdict,
        Verdict::Success
    );
    assert_eq!(review(&cfg, "staging", p, &[]).verdict, Verdict::Failure);
}

#[test]
fn bad_inputs_are_named_all_at_once() {
    let env = Env::from_pairs([
        ("INPUT_MODE", "plan"),
        ("INPUT_PLANS", "dev=a.json\nnot-a-pair\ndev=b.json"),
        ("INPUT_PLAN-CHECK", "later"),
        ("INPUT_VOLATILE", "a b c"),
    ]);
    let e = stevedore::config::Config::from_env(&env).unwrap_err();
    let text = e.to_string();
    for want in [
        "`not-a-pair`",
        "names environment `dev` twice",
        "`later`",
        "`a b c`",
    ] {
        assert!(text.contains(want), "{want}: {text}");
    }
}

/// Addresses, values and messages come from the configuration under review: they are shown, never
/// markup, and cannot forge the comment marker or end the fingerprint record.
#[test]
fn hostile_addresses_and_values_are_inert_everywhere() {
    let hostile = "aws_s3_bucket.b[\"<!-- stevedore:plan --> --> <img src=x onerror=alert(1)> ](javascript:x) `x`\"]";
    let doc = serde_json::json!({
        "format_version": "1.2",
        "resource_changes": [{
            "address": hostile, "type": "aws_s3_bucket", "action_reason": "replace_<b>because</b>",
            "change": {"actions": ["delete"], "before": {"acl": "<script>alert(1)</script>"}, "after": null,
                       "before_sensitive": {}, "after_sensitive": false}
        }],
        "errored": false
    });
    let p = plan::parse_plan(doc.to_string().as_bytes(), "h").unwrap();
    let r = review(&config(&[]), "production", p.clone(), &[]);
    let comment = stevedore::report::markdown::comment_body(&r, None);
    for text in [&comment, &r.checks[0].text] {
        for raw in ["<img", "<script", "<!-- stevedore", "<b>", "](javascript"] {
            assert!(!text.contains(raw), "{raw} is live in:\n{text}");
        }
        assert!(text.contains("&lt;img"), "the address is shown: {text}");
    }
    let rec = fingerprint::Record::parse(&r.checks[0].summary).unwrap();
    assert_eq!(rec.entries[0].address, hostile);
    assert_eq!(rec, fingerprint::of(&p, "production", &[]));
}

/// The comparison: an added, a removed and a changed resource are each named; a difference only in a
/// declared volatile path is not one.
#[test]
fn the_comparison_catches_added_removed_and_changed_resources_and_ignores_volatile_paths() {
    let base: serde_json::Value = serde_json::from_slice(
        &std::fs::read(fixtures().join("terraform/show-json/modules.json")).unwrap(),
    )
    .unwrap();
    let reviewed = plan::parse_plan(base.to_string().as_bytes(), "r").unwrap();
    let rec = fingerprint::of(&reviewed, "dev", &[]);
    assert!(fingerprint::compare(&rec, &rec).is_empty());

    let mut changed = base.clone();
    let rcs = changed["resource_changes"].as_array_mut().unwrap();
    let removed = rcs.remove(0)["address"].as_str().unwrap().to_owned();
    let mut added = rcs[0].clone();
    added["address"] = "module.extra.test_instance.new".into();
    rcs[1]["change"]["after"]["ami"] = "other-ami".into();
    let edited = rcs[1]["address"].as_str().unwrap().to_owned();
    rcs.push(added);
    let now = plan::parse_plan(changed.to_string().as_bytes(), "n").unwrap();
    let diffs: Vec<String> = fingerprint::compare(&rec, &fingerprint::of(&now, "dev", &[]))
        .iter()
        .map(fingerprint::Difference::describe)
        .collect();
    assert_eq!(diffs.len(), 3, "{diffs:?}");
    assert!(diffs.iter().any(
        |d| d.contains("module.extra.test_instance.new") && d.contains("new since the review")
    ));
    assert!(
        diffs
            .iter()
            .any(|d| d.contains(&removed) && d.contains("no longer in the plan"))
    );
    assert!(
        diffs
            .iter()
            .any(|d| d.contains(&edited) && d.contains("other values"))
    );

    // Only `ami` differs: volatile for those resources, no difference.
    let mut tag_only = base.clone();
    tag_only["resource_changes"][1]["change"]["after"]["ami"] = "image-tag-2".into();
    let v = [fingerprint::Volatile::parse("module.module_test_foo.* ami").unwrap()];
    let now = plan::parse_plan(tag_only.to_string().as_bytes(), "v").unwrap();
    assert!(
        fingerprint::compare(
            &fingerprint::of(&reviewed, "dev", &v),
            &fingerprint::of(&now, "dev", &v)
        )
        .is_empty()
    );
    assert_eq!(
        fingerprint::compare(&rec, &fingerprint::of(&now, "dev", &[])).len(),
        1
    );

    // A grouped record (a plan too large for one line per resource) still catches the change, and names it.
    let grouped = rec.grouped();
    let diffs = fingerprint::compare(&grouped, &fingerprint::of(&now, "dev", &[]));
    assert_eq!(diffs.len(), 1);
    assert!(
        diffs[0]
            .describe()
            .contains(tag_only["resource_changes"][1]["address"].as_str().unwrap())
    );
}

const PR_HEAD: &str = "fedcba9876543210fedcba9876543210fedcba98";

fn pr_event(labels: &[&str]) -> serde_json::Value {
    serde_json::json!({"number": 7, "pull_request": {"number": 7, "title": "feat: infra",
        "labels": labels.iter().map(|l| serde_json::json!({"name": l})).collect::<Vec<_>>(),
        "head": {"sha": PR_HEAD, "ref": "f", "repo": {"full_name": "octo-org/octo-repo"}},
        "base": {"ref": "main", "repo": {"full_name": "octo-org/octo-repo"}}}})
}

fn step_with(files: &[(&str, &[u8])], gh: &FakeGithub) -> Step {
    let s = Step::new();
    for (name, bytes) in files {
        std::fs::write(s.workspace.join(name), bytes).unwrap();
    }
    s.input("mode", "plan")
        .input("github-token", "ghs_faketoken0123456789")
        .var("GITHUB_API_URL", &gh.url())
}

fn fixture(rel: &str) -> Vec<u8> {
    std::fs::read(fixtures().join(rel)).unwrap()
}

/// Sensitive values of real and documented fixtures appear in no output channel: stdout (workflow
/// commands), the job summary, the outputs file, and every request body the fake GitHub received.
#[tokio::test]
async fn sensitive_values_never_leak_into_any_channel() {
    let gh = FakeGithub::start().await;
    let r = step_with(
        &[
            (
                "tf.json",
                &fixture("terraform/show-json/sensitive-values.json"),
            ),
            (
                "doc.json",
                &fixture("documented/terraform-cbd-forget-deposed.json"),
            ),
            (
                "pulumi.json",
                &fixture("documented/pulumi-preview-digest.json"),
            ),
        ],
        &gh,
    )
    .input("plans", "dev=tf.json\nstaging=doc.json\nqa=pulumi.json")
    .input("protected-environments", "none")
    .event("pull_request", pr_event(&[]))
    .run()
    .await;
    gh.assert_no_violations();
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.summary);
    let bodies: String = gh.request_bodies().into_iter().map(|(_, b)| b).collect();
    let outputs: String = r
        .outputs
        .iter()
        .map(|(k, v)| format!("{k}={v}\n"))
        .collect();
    assert!(bodies.contains("(sensitive)"), "the plans were reported");
    for secret in [
        "boop",
        "documented-fixture-db-password-1",
        "documented-fixture-db-password-2",
        "documented-pulumi-secret-old",
        "documented-pulumi-secret-new",
    ] {
        for (channel, text) in [
            ("stdout", &r.stdout),
            ("summary", &r.summary),
            ("outputs", &outputs),
            ("requests", &bodies),
        ] {
            assert!(
                !text.contains(secret),
                "{secret} leaked into {channel}:\n{text}"
            );
        }
    }
}

/// The review records the fingerprint in its check run; the apply job finds it (verified: our app, the
/// PR's head, passed) and applies only an unchanged plan.
#[tokio::test]
async fn only_the_reviewed_plan_passes_the_apply_check() {
    let gh = FakeGithub::start().await;
    let reviewed = fixture("terraform/show-json/modules.json");
    let r = step_with(&[("plan.json", &reviewed)], &gh)
        .input("plans", "prod=plan.json")
        .event("pull_request", pr_event(&[]))
        .run()
        .await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.summary);
    let run = gh
        .check_runs()
        .into_iter()
        .find(|c| c.name == "stevedore / plan (prod)")
        .expect("a check run per plan");
    assert_eq!(run.head_sha, PR_HEAD);
    assert!(
        run.summary
            .unwrap_or_default()
            .starts_with(fingerprint::MARKER)
    );

    // The same plan passes.
    let ok = step_with(&[("plan.json", &reviewed)], &gh)
        .input("plans", "prod=plan.json")
        .input("plan-check", "reviewed")
        .event("pull_request", pr_event(&[]))
        .run()
        .await;
    assert_eq!(ok.code, 0, "{}\n{}", ok.stdout, ok.summary);
    assert_eq!(ok.output("reviewed-pull-request"), Some("7"));

    // A changed plan is refused, the resource named.
    let mut v: serde_json::Value = serde_json::from_slice(&reviewed).unwrap();
    v["resource_changes"][0]["change"]["after"]["ami"] = "something-else".into();
    let bad = step_with(&[("plan.json", v.to_string().as_bytes())], &gh)
        .input("plans", "prod=plan.json")
        .input("plan-check", "reviewed")
        .event("pull_request", pr_event(&[]))
        .run()
        .await;
    assert_eq!(bad.code, 1, "{}", bad.stdout);
    assert!(bad.stdout.contains("::error"), "{}", bad.stdout);
    assert!(
        bad.summary
            .contains("module.module_test_bar.test_instance.test"),
        "{}",
        bad.summary
    );
    gh.assert_no_violations();
}

/// The usual apply: `push` to the default branch after the merge. The pull request is the merged one
/// GitHub names for the commit; a commit no pull request merged has no reviewed plan.
#[tokio::test]
async fn after_the_merge_the_apply_finds_the_review_through_the_merged_pull_request() {
    const MERGE: &str = "1111111111111111111111111111111111111111";
    let gh = FakeGithub::start().await;
    let p = fixture("pulumi/webserver-userdata.events.json");
    let r = step_with(&[("plan.json", &p)], &gh)
        .input("plans", "dev=plan.json")
        .event("pull_request", pr_event(&[]))
        .run()
        .await;
    assert_eq!(r.code, 0, "{}", r.stdout);
    gh.add_pr_full(7, "feat: infra", "f", PR_HEAD, "main", &[], false);
    gh.merge_pr(7, MERGE);
    let apply = step_with(&[("plan.json", &p)], &gh)
        .input("plans", "dev=plan.json")
        .input("plan-check", "reviewed")
        .var("GITHUB_SHA", MERGE)
        .event(
            "push",
            serde_json::json!({"ref": "refs/heads/main", "after": MERGE}),
        )
        .run()
        .await;
    assert_eq!(apply.code, 0, "{}\n{}", apply.stdout, apply.summary);
    assert_eq!(apply.output("reviewed-pull-request"), Some("7"));
    // Another commit on main: no merged pull request made it.
    let stray = step_with(&[("plan.json", &p)], &gh)
        .input("plans", "dev=plan.json")
        .input("plan-check", "reviewed")
        .var("GITHUB_SHA", "2222222222222222222222222222222222222222")
        .event("push", serde_json::json!({"ref": "refs/heads/main"}))
        .run()
        .await;
    assert_eq!(stray.code, 1, "{}", stray.stdout);
    assert!(
        stray
            .stdout
            .contains("is not the merge of a reviewed pull request"),
        "{}",
        stray.stdout
    );
    gh.assert_no_violations();
}

/// No reviewed plan, or one written by another app, or a review that failed: the apply is refused.
#[tokio::test]
async fn the_apply_check_fails_closed_without_a_verified_review() {
    let gh = FakeGithub::start().await;
    let p = fixture("terraform/show-json/basic-delete.json");
    let none = step_with(&[("plan.json", &p)], &gh)
        .input("plans", "prod=plan.json")
        .input("plan-check", "reviewed")
        .event("pull_request", pr_event(&[]))
        .run()
        .await;
    assert_eq!(none.code, 1, "{}", none.stdout);
    assert!(
        none.stdout.contains("no reviewed plan for prod"),
        "{}",
        none.stdout
    );

    // A review that failed its gate (a destroy in production without the label) is no review.
    let failed = step_with(&[("plan.json", &p)], &gh)
        .input("plans", "prod=plan.json")
        .event("pull_request", pr_event(&[]))
        .run()
        .await;
    assert_eq!(failed.code, 1);
    let refused = step_with(&[("plan.json", &p)], &gh)
        .input("plans", "prod=plan.json")
        .input("plan-check", "reviewed")
        .event("pull_request", pr_event(&[]))
        .run()
        .await;
    assert_eq!(refused.code, 1);
    assert!(
        refused.stdout.contains("did not pass"),
        "{}",
        refused.stdout
    );
    // The newest review counts: labelled, the same plan passes its review, and then the apply check.
    let labelled = step_with(&[("plan.json", &p)], &gh)
        .input("plans", "prod=plan.json")
        .event("pull_request", pr_event(&["allow-destroy"]))
        .run()
        .await;
    assert_eq!(labelled.code, 0, "{}", labelled.stdout);
    let applied = step_with(&[("plan.json", &p)], &gh)
        .input("plans", "prod=plan.json")
        .input("plan-check", "reviewed")
        .event("pull_request", pr_event(&["allow-destroy"]))
        .run()
        .await;
    assert_eq!(applied.code, 0, "{}", applied.stdout);
    // An errored plan is never applied, whatever was reviewed.
    let mut v: serde_json::Value = serde_json::from_slice(&p).unwrap();
    v["errored"] = true.into();
    let errored = step_with(&[("plan.json", v.to_string().as_bytes())], &gh)
        .input("plans", "prod=plan.json")
        .input("plan-check", "reviewed")
        .event("pull_request", pr_event(&["allow-destroy"]))
        .run()
        .await;
    assert_eq!(errored.code, 1, "{}", errored.stdout);
    assert!(
        errored.summary.contains("this plan errored"),
        "{}",
        errored.summary
    );

    // A passing review by another app's token does not count for this token.
    let other = FakeGithub::start().await;
    other.set_identity("ghs_otherapp0123456789", "some-other-app[bot]", "Bot");
    let ok_plan = fixture("terraform/show-json/basic-create.json");
    let s = Step::new();
    std::fs::write(s.workspace.join("plan.json"), &ok_plan).unwrap();
    let r = s
        .input("mode", "plan")
        .input("github-token", "ghs_otherapp0123456789")
        .var("GITHUB_API_URL", &other.url())
        .input("plans", "prod=plan.json")
        .event("pull_request", pr_event(&[]))
        .run()
        .await;
    assert_eq!(r.code, 0, "{}", r.stdout);
    let apply = step_with(&[("plan.json", &ok_plan)], &other)
        .input("plans", "prod=plan.json")
        .input("plan-check", "reviewed")
        .event("pull_request", pr_event(&[]))
        .run()
        .await;
    assert_eq!(apply.code, 1, "{}", apply.stdout);
    assert!(
        apply.stdout.contains("check run by `github-actions`"),
        "{}",
        apply.stdout
    );
}

/// After apply: outputs become `iac-outputs`, sensitive ones masked and never in the summary; a
/// GitHub Deployment is recorded.
#[tokio::test]
async fn outputs_become_step_outputs_with_secrets_masked_and_a_deployment() {
    let gh = FakeGithub::start().await;
    let tf = br#"{"url":{"sensitive":false,"type":"string","value":"https://dev.example.com"},"db_password":{"sensitive":true,"type":"string","value":"output-secret-value-123"}}"#;
    let r = step_with(&[("out.json", tf)], &gh)
        .input("outputs", "dev=out.json")
        .run()
        .await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.summary);
    let o: serde_json::Value = serde_json::from_str(r.output("iac-outputs").unwrap()).unwrap();
    assert_eq!(o["dev"]["url"], "https://dev.example.com");
    assert!(
        r.stdout.contains("::add-mask::output-secret-value-123"),
        "{}",
        r.stdout
    );
    assert!(!r.summary.contains("output-secret-value-123"));
    let bodies: String = gh.request_bodies().into_iter().map(|(_, b)| b).collect();
    assert!(!bodies.contains("output-secret-value-123"));
    assert_eq!(gh.deployments().len(), 1);
    assert_eq!(gh.deployments()[0]["environment"], "dev");
}

/// A huge plan (≥ 5,000 changes made by repeating real fixtures' resources) stays under GitHub's limit,
/// names every destroy, and counts what it leaves out.
#[test]
fn a_huge_plan_stays_under_the_comment_limit_and_names_every_destroy() {
    let p = huge_plan(6_000);
    assert!(p.changes.len() >= 6_000);
    let destroys: Vec<&str> = p
        .changes
        .iter()
        .filter(|c| c.action.destroys())
        .map(|c| c.address.as_str())
        .collect();
    // 546 destroys and 546 replacements: more than fit as table rows.
    assert!(destroys.len() > 1_000);
    let r = review(&config(&[]), "dev", p.clone(), &[]);
    let comment = stevedore::report::markdown::comment_body(&r, None);
    assert!(comment.chars().count() < 65_536, "{}", comment.len());
    for d in &destroys {
        assert!(comment.contains(&format!("`{d}`")), "{d} is not named");
    }
    assert!(comment.contains("more change(s) not listed here"));
    assert!(r.checks[0].text.len() <= 65_535);
    assert!(r.checks[0].summary.len() <= 65_535);
    // The grouped fingerprint reads back.
    assert!(fingerprint::Record::parse(&r.checks[0].summary).is_ok());
    assert_eq!(
        render::counts_line(&p.counts()),
        "4368 to add, 546 to change, 546 to replace, 546 to destroy"
    );
    assert!(
        p.changes
            .iter()
            .any(|c| c.action == Action::Replace(ReplaceOrder::DestroyBeforeCreate))
    );
}

/// `n` resource changes from real fixtures' resources: basic-create's, modules', requires-replace's,
/// basic-delete's and sensitive-values', each renamed with an index (as scripts/bench-plan.sh makes them).
pub fn huge_plan(n: usize) -> Plan {
    let mut all = Vec::new();
    for f in [
        "terraform/show-json/basic-create.json",
        "terraform/show-json/modules.json",
        "terraform/show-json/requires-replace.json",
        "terraform/show-json/basic-delete.json",
        "terraform/show-json/sensitive-values.json",
    ] {
        let v: serde_json::Value = serde_json::from_slice(&fixture(f)).unwrap();
        all.extend(v["resource_changes"].as_array().unwrap().iter().cloned());
    }
    let mut out = Vec::new();
    let mut i = 0;
    while out.len() < n {
        for rc in &all {
            let mut rc = rc.clone();
            let a = format!("{}_{i}", rc["address"].as_str().unwrap());
            rc["address"] = a.into();
            out.push(rc);
            i += 1;
        }
    }
    let doc = serde_json::json!({"format_version": "1.2", "resource_changes": out});
    plan::parse_plan(doc.to_string().as_bytes(), "huge").unwrap()
}

// ---- examples/terraform.yml and examples/pulumi.yml under act ----

/// `examples/<name>.yml` unmodified as the repository's workflow, with the tool's setup action replaced
/// by its recorded-output stand-in (tests/fixtures/act/setup-*), and the files it plans.
fn iac_example(
    example: crate::helpers::act::Repo,
    stand_ins: &[(&str, &str)],
) -> crate::helpers::act::Repo {
    let root = crate::helpers::runner::repo_root();
    let mut repo = example
        .file(
            "infra/envs/dev/main.tf",
            "module \"app\" { source = \"../../modules/app\" }\n",
        )
        .file(
            "infra/envs/production/main.tf",
            "module \"app\" { source = \"../../modules/app\" }\n",
        )
        .file(
            "infra/modules/app/main.tf",
            "resource \"test_instance\" \"test\" {}\n",
        )
        .file("Pulumi.yaml", "name: shop\nruntime: nodejs\n");
    for (spec, dir) in stand_ins {
        repo = repo.local_action(spec, root.join("tests/fixtures/act").join(dir));
    }
    repo
}

fn act_pr_payload(number: u64, title: &str, head: &str) -> serde_json::Value {
    serde_json::json!({
        "action": "opened",
        "number": number,
        "pull_request": {
            "number": number, "title": title, "labels": [],
            "head": {"ref": "feature", "sha": head, "repo": {"full_name": crate::helpers::act::REPOSITORY, "fork": false}},
            "base": {"ref": "main", "sha": head, "repo": {"full_name": crate::helpers::act::REPOSITORY, "fork": false}},
        },
        "repository": {"full_name": crate::helpers::act::REPOSITORY},
    })
}

/// One example's whole life under act (host mode, against the fake GitHub over TLS and moto for the
/// credential chain): the pull request is reviewed (one sticky comment with both plans, a check run per
/// plan on the head commit); after the merge, the push applies dev (the new plan matches the review, the
/// outputs become `iac-outputs` with the secret masked, a GitHub Deployment is recorded) and production
/// is refused under act (no OIDC `environment` claim, docs/act.md).
async fn iac_example_lifecycle(
    name: &str,
    example: crate::helpers::act::Repo,
    review_job: &str,
    apply_job: &str,
    prod_job: &str,
) {
    use crate::helpers::act::{Mode, Run, act};
    let Some(act) = act() else {
        return;
    };
    let Some(moto) = crate::helpers::moto::own() else {
        return;
    };
    let gh = FakeGithub::start_tls_for(crate::helpers::act::REPOSITORY).await;
    let stand_ins: &[(&str, &str)] = if name == "terraform" {
        &[
            ("hashicorp/setup-terraform@v3", "setup-terraform"),
            ("terraform-linters/setup-tflint@v4", "setup-tflint"),
        ]
    } else {
        &[("pulumi/actions@v6", "setup-pulumi")]
    };
    let repo = std::sync::Arc::new(iac_example(example, stand_ins));
    let head = repo.commit("feat(infra): the app's resources");
    gh.add_pr_full(
        9,
        "feat(infra): the app's resources",
        "feature",
        &head,
        "main",
        &[],
        false,
    );
    let (url, ca) = (gh.url(), gh.ca_pem_path().map(std::path::Path::to_owned));
    let endpoint = moto.endpoint.clone();
    let workflow = format!(".github/workflows/{name}.yml");
    let run = move |event: &'static str, payload: serde_json::Value| {
        let (repo, url, ca, endpoint, workflow) = (
            repo.clone(),
            url.clone(),
            ca.clone(),
            endpoint.clone(),
            workflow.clone(),
        );
        tokio::task::spawn_blocking(move || {
            Run::new(act, &repo, Mode::Host, &workflow)
                .event(event, payload)
                .github(&url, ca.as_deref())
                .secret("GITHUB_TOKEN", "ghs_actiactoken0123456789")
                .secret("PULUMI_ACCESS_TOKEN", "pul-0123456789abcdef")
                .var("DEV_ACCOUNT_ID", "123456789012")
                .var("PROD_ACCOUNT_ID", "123456789012")
                .env("AWS_ACCESS_KEY_ID", "testing")
                .env("AWS_SECRET_ACCESS_KEY", "testing")
                .env("AWS_ENDPOINT_URL", &endpoint)
                .run()
        })
    };
    let pr = run(
        "pull_request",
        act_pr_payload(9, "feat(infra): the app's resources", &head),
    )
    .await
    .unwrap();
    pr.check(pr.job_succeeded(review_job), "the review job is green");
    if name == "terraform" {
        pr.check(
            pr.job_succeeded("validate"),
            "validate (fmt, validate, TFLint) is green",
        );
    }
    pr.check(
        !pr.job_ran(apply_job),
        "nothing is applied on a pull request",
    );
    let comments = gh.comments(9);
    let plan_comment: Vec<_> = comments
        .iter()
        .filter(|c| c.body.starts_with("<!-- stevedore:plan -->"))
        .collect();
    pr.check(
        plan_comment.len() == 1,
        &format!("one sticky plan comment: {comments:?}"),
    );
    pr.check(
        plan_comment[0].body.contains("#### dev")
            && plan_comment[0].body.contains("#### production")
            && plan_comment[0].body.contains("**No changes.**"),
        "both plans in the comment, production's said to change nothing",
    );
    for env in ["dev", "production"] {
        let runs = gh.check_runs();
        let run = runs
            .iter()
            .find(|c| c.name == format!("stevedore / plan ({env})"))
            .unwrap_or_else(|| panic!("no check run for {env}: {runs:?}"));
        pr.check(
            run.head_sha == head && run.conclusion.as_deref() == Some("success"),
            &format!("{env}: a passing check run on the head commit"),
        );
    }

    gh.merge_pr(9, &head);
    let push = run(
        "push",
        serde_json::json!({"ref": "refs/heads/main", "after": head}),
    )
    .await
    .unwrap();
    push.check(push.job_succeeded(apply_job), "dev is applied");
    push.check(
        push.log.contains("::set-output:: reviewed-pull-request=9"),
        "the new plan matched the review of pull request #9",
    );
    push.check(
        push.log.contains("::set-output:: iac-outputs=")
            && push.log.contains("https://api.dev.example.com"),
        "the outputs are a step output",
    );
    if name == "terraform" {
        push.check(
            !push.log.contains("recorded-terraform-output-secret")
                || push
                    .log
                    .lines()
                    .filter(|l| l.contains("recorded-terraform-output-secret"))
                    .all(|l| l.contains("::add-mask::")),
            "the sensitive output is only ever registered as a mask",
        );
    }
    push.check(
        gh.deployments().iter().any(|d| d["environment"] == "dev"),
        "a GitHub Deployment of dev",
    );
    push.check(push.job_failed(prod_job), "production is refused under act");
    gh.assert_no_violations();
}

#[tokio::test]
async fn act_terraform_example_reviews_the_pr_applies_dev_and_refuses_production() {
    iac_example_lifecycle(
        "terraform",
        crate::act::example_repo("terraform"),
        "plan",
        "apply-dev",
        "apply-production",
    )
    .await;
}

#[tokio::test]
async fn act_pulumi_example_reviews_the_pr_applies_dev_and_refuses_production() {
    iac_example_lifecycle(
        "pulumi",
        crate::act::example_repo("pulumi"),
        "preview",
        "up-dev",
        "up-production",
    )
    .await;
}

/// A check run of the right name, app and commit whose record was edited, or names another
/// environment, is not believed: the apply is refused.
#[tokio::test]
async fn a_record_that_does_not_check_out_is_not_believed() {
    use stevedore::github::{Client, checks};
    use stevedore::report::CheckReport;
    stevedore::net::crypto::install();
    let gh = FakeGithub::start().await;
    let client = Client::new(&gh.url(), "ghs_faketoken0123456789".to_owned().into()).unwrap();
    let p = load("terraform/show-json/modules.json");
    let for_dev = fingerprint::of(&p, "dev", &[]).render();
    let edited = fingerprint::of(&p, "prod", &[])
        .render()
        .replacen(" create ", " no-op ", 1);
    for (summary, why) in [
        (for_dev, "records environment `dev`, not `prod`"),
        (edited, "does not match its digest"),
    ] {
        let check = CheckReport {
            name: "stevedore / plan (prod)".to_owned(),
            verdict: Verdict::Success,
            title: "prod".to_owned(),
            summary,
            text: String::new(),
            annotations: Vec::new(),
        };
        checks::create_completed(&client, "octo-org/octo-repo", PR_HEAD, &check, None, "")
            .await
            .unwrap();
        let r = step_with(
            &[("plan.json", &fixture("terraform/show-json/modules.json"))],
            &gh,
        )
        .input("plans", "prod=plan.json")
        .input("plan-check", "reviewed")
        .event("pull_request", pr_event(&[]))
        .run()
        .await;
        assert_eq!(r.code, 1, "{}", r.stdout);
        assert!(r.stdout.contains(why), "{why}: {}", r.stdout);
    }
    gh.assert_no_violations();
}

/// Plan and output files are read by lint-gate's path rules: inside the workspace or `RUNNER_TEMP`,
/// links followed only when they stay there.
#[tokio::test]
async fn plan_files_outside_the_workspace_are_named_never_read() {
    for path in ["/etc/passwd", "leak.json", "../outside.json"] {
        let s = Step::new();
        std::os::unix::fs::symlink("/proc/self/environ", s.workspace.join("leak.json")).unwrap();
        std::fs::write(
            s.dir.path().join("outside.json"),
            fixture("terraform/show-json/basic-create.json"),
        )
        .unwrap();
        let r = s
            .input("mode", "plan")
            .input("plans", &format!("dev={path}"))
            .run()
            .await;
        assert_eq!(r.code, 1, "{path}: {}", r.stdout);
        assert!(
            r.stdout
                .contains("lies outside the workspace and RUNNER_TEMP"),
            "{path}: {}",
            r.stdout
        );
    }
}

/// Every recorded plan reads, renders within the comment budget and fingerprints to a record that
/// reads back; Terraform's change counts agree with its own `actions` lists.
#[test]
fn every_recorded_plan_reads_renders_and_fingerprints() {
    let mut n = 0;
    for dir in [
        "terraform/show-json",
        "terraform-json",
        "pulumi",
        "documented",
    ] {
        for e in std::fs::read_dir(fixtures().join(dir)).unwrap() {
            let path = e.unwrap().path();
            if path.extension().is_none_or(|x| x != "json") {
                continue;
            }
            let rel = format!("{dir}/{}", path.file_name().unwrap().to_string_lossy());
            let p = load(&rel);
            let md = render::plan(&p, "dev", &[], plan::MAX_REPORT_BYTES);
            assert!(md.len() <= plan::MAX_REPORT_BYTES, "{rel}");
            let rec = fingerprint::of(&p, "dev", &[]);
            assert_eq!(
                fingerprint::Record::parse(&rec.render()).unwrap(),
                rec,
                "{rel}"
            );
            if dir.starts_with("terraform") {
                let v: serde_json::Value = serde_json::from_slice(&fixture(&rel)).unwrap();
                let acting = v["resource_changes"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter(|r| r["change"]["actions"] != serde_json::json!(["no-op"]))
                            .count()
                    })
                    .unwrap_or(0);
                let c = p.counts();
                assert_eq!(
                    c.add + c.change + c.replace + c.destroy + c.forget + c.read,
                    acting,
                    "{rel}"
                );
            }
            n += 1;
        }
    }
    assert_eq!(n, 31);
}
