//! Issue 31: the checks a rollback puts between a deployment record and production, called directly
//! against the fake GitHub. `deployments::ref_holds` answers whether the ref a record names holds the
//! commit it names; `deployments::find_release` reads the records newest first and counts only good ones
//! that a [`Verify`] accepts — as what runs now, as one a later rollback replaced, or as the one to
//! restore. Each test stands for a way a forged or stale record could reach production.

use std::sync::Mutex;

use serde_json::{Value, json};
use stevedore::github::Client;
use stevedore::github::deployments::{
    self, FindError, MAX_OTHERS, Release, Search, Target, Verify, Wanted,
};

use crate::helpers::fake_github::{FakeGithub, Fault};

const REPO: &str = "octo-org/octo-repo";
const READER: &str = "ghp_reader0123456789abcdefghijklmnopqr";
/// A commit on a feature branch, not on `main`.
const SHA_E: &str = "eeeeeee5eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee";

/// `main` with commits A then B, `feature-x` at E (a child of A), the lightweight tag `v1` at A; the
/// annotated tag `v2` at B, and `v3`, an annotated tag of the tag object of `v2`.
async fn history() -> (FakeGithub, Client, String, String) {
    let gh = FakeGithub::start_for(REPO).await;
    let main = gh.seed_commits("main", &["feat: a", "fix: b"]);
    let (a, b) = (main[0].clone(), main[1].clone());
    gh.seed_commit(SHA_E, "feat: evil", &[&a]);
    gh.set_ref("refs/heads/feature-x", SHA_E);
    gh.set_ref("refs/tags/v1", &a);
    let c = gh.client_as(READER);
    // `v2` through the REST API, `v3` (a tag of a tag) as `git push` makes it.
    let t = c
        .post(
            &format!("/repos/{REPO}/git/tags"),
            &json!({"tag": "v2", "message": "v2", "object": b, "type": "commit"}),
        )
        .await
        .unwrap();
    let v2 = t["sha"]
        .as_str()
        .unwrap_or_else(|| panic!("{t}"))
        .to_owned();
    let v3 = gh.seed_tag_object("v3", &v2, "tag");
    for (name, sha) in [("v2", v2), ("v3", v3)] {
        c.post(
            &format!("/repos/{REPO}/git/refs"),
            &json!({"ref": format!("refs/tags/{name}"), "sha": sha}),
        )
        .await
        .unwrap();
    }
    (gh, c, a, b)
}

async fn holds(c: &Client, git_ref: &str, sha: &str) -> Option<String> {
    deployments::ref_holds(c, REPO, git_ref, sha)
        .await
        .unwrap_or_else(|e| panic!("{git_ref} {sha}: {e}"))
}

#[tokio::test]
async fn a_tag_holds_the_commit_it_points_at_through_any_annotated_tags() {
    let (_gh, c, a, b) = history().await;
    assert_eq!(holds(&c, "refs/tags/v1", &a).await, None);
    assert_eq!(holds(&c, "refs/tags/v1", &a.to_uppercase()).await, None);
    assert_eq!(
        holds(&c, "refs/tags/v1", &b).await,
        Some(format!(
            "tag `v1` points at commit `{}`, not at the recorded `{}`",
            &a[..12],
            &b[..12]
        ))
    );
    assert_eq!(holds(&c, "refs/tags/v2", &b).await, None);
    assert_eq!(holds(&c, "refs/tags/v3", &b).await, None);
    assert_eq!(
        holds(&c, "refs/tags/v3", &a).await,
        Some(format!(
            "tag `v3` points at commit `{}`, not at the recorded `{}`",
            &b[..12],
            &a[..12]
        ))
    );
    assert_eq!(
        holds(&c, "refs/tags/nope", &a).await,
        Some("tag `nope` does not exist".to_owned())
    );
}

/// Tag objects are followed a bounded number of times: a chain longer than that is not a commit.
#[tokio::test]
async fn a_chain_of_tag_objects_too_long_to_follow_is_no_commit() {
    let (gh, c, a, _) = history().await;
    let mut object = a.clone();
    let mut kind = "commit";
    for n in 0..6 {
        object = gh.seed_tag_object(&format!("deep{n}"), &object, kind);
        kind = "tag";
    }
    c.post(
        &format!("/repos/{REPO}/git/refs"),
        &json!({"ref": "refs/tags/deep", "sha": object}),
    )
    .await
    .unwrap();
    assert_eq!(
        holds(&c, "refs/tags/deep", &a).await,
        Some("tag `deep` does not point at a commit (it names a tag)".to_owned())
    );
}

#[tokio::test]
async fn a_branch_holds_the_commits_it_contains() {
    let (_gh, c, a, b) = history().await;
    assert_eq!(holds(&c, "refs/heads/main", &a).await, None);
    assert_eq!(holds(&c, "refs/heads/main", &b).await, None);
    assert_eq!(holds(&c, "refs/heads/feature-x", SHA_E).await, None);
    assert_eq!(
        holds(&c, "refs/heads/main", SHA_E).await,
        Some("commit `eeeeeee5eeee` is not on branch `main` (compare: diverged)".to_owned())
    );
    assert_eq!(
        holds(&c, "refs/heads/gone", &a).await,
        Some(format!(
            "branch `gone` or commit `{}` does not exist",
            &a[..12]
        ))
    );
}

#[tokio::test]
async fn only_a_full_commit_sha_and_a_tag_or_branch_can_be_traced() {
    let (_gh, c, a, _) = history().await;
    for sha in [
        "abc".to_owned(),
        "z".repeat(40),
        format!("{a}0"),
        a[..39].to_owned(),
    ] {
        assert_eq!(
            holds(&c, "refs/tags/v1", &sha).await,
            Some(format!("`{sha}` is not a full commit SHA"))
        );
    }
    assert_eq!(
        holds(&c, "refs/pull/1/merge", &a).await,
        Some(
            "ref `refs/pull/1/merge` is neither a tag nor a branch, so the commit cannot be traced to it"
                .to_owned()
        )
    );
}

/// A refusal GitHub gives for another reason than a missing ref is an error: the check could not be
/// made, and a rollback must stop rather than take the record as unverifiable-but-fine or forged.
#[tokio::test]
async fn github_refusing_the_lookup_is_an_error_not_an_answer() {
    let (gh, c, a, b) = history().await;
    gh.fault(
        "GET /repos/{owner}/{repo}/git/tags/{tag_sha}",
        Fault {
            status: 404,
            message: "Not Found".into(),
            headers: Vec::new(),
            times: Some(1),
        },
    );
    assert_eq!(
        holds(&c, "refs/tags/v2", &b).await,
        Some("tag `v2` names a tag object GitHub cannot find".to_owned())
    );
    gh.forbid("GET /repos/{owner}/{repo}/git/tags/{tag_sha}");
    assert!(
        deployments::ref_holds(&c, REPO, "refs/tags/v2", &b)
            .await
            .is_err()
    );
    gh.forbid("GET /repos/{owner}/{repo}/git/ref/{ref}");
    assert!(
        deployments::ref_holds(&c, REPO, "refs/tags/v1", &a)
            .await
            .is_err()
    );
    gh.forbid("GET /repos/{owner}/{repo}/compare/{basehead}");
    assert!(
        deployments::ref_holds(&c, REPO, "refs/heads/main", &a)
            .await
            .is_err()
    );
}

// ---- find_release ----

/// A verifier that refuses the records listed, fails on one, and remembers what it was asked.
#[derive(Default)]
struct Checker {
    refuse: Vec<u64>,
    fail: Option<u64>,
    asked: Mutex<Vec<u64>>,
}

impl Verify for Checker {
    async fn verify(&self, release: &Release) -> Result<Option<String>, FindError> {
        self.asked.lock().unwrap().push(release.id);
        if self.fail == Some(release.id) {
            return Err(FindError::Verify {
                id: release.id,
                message: "AWS said no".into(),
            });
        }
        Ok(self
            .refuse
            .contains(&release.id)
            .then(|| "forged".to_owned()))
    }
}

fn ecs(cluster: &str, revision: u32) -> Value {
    json!({"kind": "ecs", "cluster": cluster, "services": [{"service": "web",
        "task_definition": format!("arn:aws:ecs:eu-west-1:123456789012:task-definition/web:{revision}")}]})
}

/// Records a deployment of `sha` to `staging` with `payload` and the statuses `states` (oldest first;
/// without `auto_inactive`, so each record keeps exactly these).
async fn record(c: &Client, sha: &str, payload: Value, states: &[&str]) -> u64 {
    let d = c
        .post(
            &format!("/repos/{REPO}/deployments"),
            &json!({"ref": sha, "environment": "staging", "auto_merge": false,
                    "required_contexts": [], "payload": payload}),
        )
        .await
        .unwrap();
    let id = d["id"].as_u64().unwrap_or_else(|| panic!("{d}"));
    for s in states {
        c.post(
            &format!("/repos/{REPO}/deployments/{id}/statuses"),
            &json!({"state": s, "auto_inactive": false}),
        )
        .await
        .unwrap();
    }
    id
}

/// The records, oldest first: r0 (revision 0), r1 (1), r2 (2, live), r3 (3, failed), then a deploy of
/// another cluster and one by another tool. Their ids.
struct Records {
    gh: FakeGithub,
    c: Client,
    ids: Vec<u64>,
    shas: Vec<String>,
}

async fn records() -> Records {
    let gh = FakeGithub::start_for(REPO).await;
    let shas = gh.seed_commits("main", &["a", "b", "c", "d"]);
    let c = gh.client_as(READER);
    let mut ids = Vec::new();
    for (n, sha) in shas.iter().enumerate() {
        let states: &[&str] = if n == 3 {
            &["in_progress", "failure"]
        } else {
            &["in_progress", "success", "inactive"]
        };
        let payload = json!({"ref": "refs/heads/main", "version": format!("v{n}"),
                             "target": ecs("prod", u32::try_from(n).unwrap())});
        ids.push(record(&c, sha, payload, states).await);
    }
    let other = json!({"version": "o", "target": ecs("other", 9)});
    ids.push(record(&c, &shas[0], other, &["success"]).await);
    ids.push(
        record(
            &c,
            &shas[0],
            json!({"deployer": "someone else"}),
            &["success"],
        )
        .await,
    );
    Records { gh, c, ids, shas }
}

async fn find(r: &Records, wanted: &Wanted, checker: &Checker) -> Result<Search, FindError> {
    let prod = |t: &Target| matches!(t, Target::Ecs { cluster, .. } if cluster == "prod");
    deployments::find_release(&r.c, REPO, "staging", wanted, &prod, checker).await
}

fn id(r: &Option<Release>) -> Option<u64> {
    r.as_ref().map(|r| r.id)
}

#[tokio::test]
async fn previous_is_the_newest_good_verified_record_before_the_live_one() {
    let r = records().await;
    let checker = Checker::default();
    let s = find(&r, &Wanted::Previous, &checker).await.unwrap();
    assert_eq!(id(&s.live), Some(r.ids[2]));
    assert_eq!(id(&s.found), Some(r.ids[1]));
    // Read newest first, up to the one found: r0 was never needed.
    assert_eq!(s.examined, 5);
    assert_eq!(s.foreign, 2);
    assert_eq!(s.others.len(), 1);
    assert!(s.others[0].0.contains("cluster `other`"), "{:?}", s.others);
    assert_eq!(
        s.passed_over,
        [format!(
            "#{} (`v3`): not good (statuses in_progress → failure; last `failure`)",
            r.ids[3]
        )]
    );
    // Only good records of this target were checked, newest first, and no further than needed.
    assert_eq!(*checker.asked.lock().unwrap(), [r.ids[2], r.ids[1]]);
}

/// A record the verifier refuses is no release at all: not live, not restorable.
#[tokio::test]
async fn a_record_that_fails_verification_counts_for_nothing() {
    let r = records().await;
    let checker = Checker {
        refuse: vec![r.ids[2]],
        ..Checker::default()
    };
    let s = find(&r, &Wanted::Previous, &checker).await.unwrap();
    assert_eq!(id(&s.live), Some(r.ids[1]));
    assert_eq!(id(&s.found), Some(r.ids[0]));
    assert!(
        s.passed_over
            .contains(&format!("#{} (`v2`): not verified: forged", r.ids[2])),
        "{:?}",
        s.passed_over
    );
    // A version asked for by name is refused the same way.
    let s = find(&r, &Wanted::Version("v2".into()), &checker)
        .await
        .unwrap();
    assert_eq!(id(&s.found), None);
}

/// A check that cannot be made stops the search: `previous` must not restore an older release than
/// the one meant because AWS failed to answer once.
#[tokio::test]
async fn a_check_that_cannot_be_made_stops_the_search() {
    let r = records().await;
    let checker = Checker {
        fail: Some(r.ids[2]),
        ..Checker::default()
    };
    let e = find(&r, &Wanted::Previous, &checker).await.unwrap_err();
    assert!(
        matches!(e, FindError::Verify { id, .. } if id == r.ids[2]),
        "{e}"
    );
    assert_eq!(*checker.asked.lock().unwrap(), [r.ids[2]]);
}

#[tokio::test]
async fn a_version_names_a_record_by_its_version_or_a_commit_prefix() {
    let r = records().await;
    let checker = Checker::default();
    let found = |w: &str| {
        let w = Wanted::Version(w.to_owned());
        let checker = &checker;
        let r = &r;
        async move { find(r, &w, checker).await.unwrap() }
    };
    assert_eq!(id(&found("v0").await.found), Some(r.ids[0]));
    assert_eq!(id(&found("v2").await.found), Some(r.ids[2]));
    let sha1 = &r.shas[1];
    assert_eq!(id(&found(&sha1[..7]).await.found), Some(r.ids[1]));
    assert_eq!(
        id(&found(&sha1[..7].to_uppercase()).await.found),
        Some(r.ids[1])
    );
    // Six digits are too few to name a commit, and a prefix is hex.
    assert_eq!(id(&found(&sha1[..6]).await.found), None);
    assert_eq!(id(&found(&format!("{}g", &sha1[..7])).await.found), None);
    assert_eq!(id(&found("0000000").await.found), None);
    // A failed record asked for by name is passed over, and says why; one not asked for is not named.
    let s = found("v3").await;
    assert_eq!(id(&s.found), None);
    assert_eq!(
        s.passed_over,
        [format!(
            "#{} (`v3`): not good (statuses in_progress → failure; last `failure`)",
            r.ids[3]
        )]
    );
    assert!(found("v1").await.passed_over.is_empty());
}

/// After a rollback, `previous` skips the release it replaced and any that put the same thing in place
/// as what runs now.
#[tokio::test]
async fn previous_skips_what_a_rollback_replaced_and_what_runs_now() {
    let r = records().await;
    // A rollback from r2 back to revision 1.
    let rollback = json!({"ref": "refs/heads/main", "version": "v1", "target": ecs("prod", 1),
                          "restored_from": r.ids[1], "rolled_back_from": r.ids[2]});
    let back = record(&r.c, &r.shas[1], rollback, &["success"]).await;
    let s = find(&r, &Wanted::Previous, &Checker::default())
        .await
        .unwrap();
    assert_eq!(id(&s.live), Some(back));
    assert_eq!(id(&s.found), Some(r.ids[0]));
    assert!(
        s.passed_over.contains(&format!(
            "#{} (`v2`): a later rollback replaced it",
            r.ids[2]
        )),
        "{:?}",
        s.passed_over
    );
    assert!(
        s.passed_over.contains(&format!(
            "#{} (`v1`): the same as what runs now (#{back})",
            r.ids[1]
        )),
        "{:?}",
        s.passed_over
    );
}

/// A record that never succeeded, or failed after succeeding, is not a release; one replaced by a later
/// success (`inactive`) still is.
#[tokio::test]
async fn only_records_that_succeeded_and_never_failed_are_releases() {
    let r = records().await;
    for states in [&["inactive"][..], &["success", "error"], &[]] {
        let payload = json!({"ref": "refs/heads/main", "version": "bad", "target": ecs("prod", 7)});
        record(&r.c, &r.shas[2], payload, states).await;
    }
    let s = find(&r, &Wanted::Previous, &Checker::default())
        .await
        .unwrap();
    assert_eq!(id(&s.live), Some(r.ids[2]));
    assert_eq!(id(&s.found), Some(r.ids[1]));
    assert!(
        s.passed_over
            .iter()
            .any(|p| p.ends_with("not good (statuses none; last `no status`)")),
        "{:?}",
        s.passed_over
    );
}

/// The search names at most [`MAX_OTHERS`] records of other targets (a refusal lists them).
#[tokio::test]
async fn at_most_a_few_records_of_other_targets_are_named() {
    let r = records().await;
    for n in 0..MAX_OTHERS {
        let other = json!({"version": format!("o{n}"), "target": ecs("other", 10)});
        record(&r.c, &r.shas[0], other, &["success"]).await;
    }
    let s = find(&r, &Wanted::Version("nothing".into()), &Checker::default())
        .await
        .unwrap();
    assert_eq!(s.others.len(), MAX_OTHERS);
    assert_eq!(s.foreign, MAX_OTHERS + 2);
    drop(r.gh);
}

/// A token that may not read the deployments is a configuration problem (the rollback exits 2 naming
/// the permission); a deployment GitHub does not find, or a release that could not be checked, is not
/// one, and must not send the user to change permissions that are fine.
#[tokio::test]
async fn only_a_refused_read_of_the_records_is_a_permission_problem() {
    let r = records().await;
    let checker = Checker {
        fail: Some(r.ids[2]),
        ..Checker::default()
    };
    let e = find(&r, &Wanted::Previous, &checker).await.unwrap_err();
    assert!(!e.is_forbidden(), "{e}");
    r.gh.fault(
        "GET /repos/{owner}/{repo}/deployments",
        Fault {
            status: 404,
            message: "Not Found".into(),
            headers: Vec::new(),
            times: Some(1),
        },
    );
    let e = find(&r, &Wanted::Previous, &Checker::default())
        .await
        .unwrap_err();
    assert!(
        matches!(e, FindError::Github(_)) && !e.is_forbidden(),
        "{e}"
    );
    r.gh.forbid("GET /repos/{owner}/{repo}/deployments");
    let e = find(&r, &Wanted::Previous, &Checker::default())
        .await
        .unwrap_err();
    assert!(e.is_forbidden(), "{e}");
}

/// The run's context: `GITHUB_REF` `git_ref` at commit `sha`.
fn run(git_ref: &str, sha: &str) -> stevedore::context::Context {
    stevedore::context::Context {
        repository: Some(REPO.to_owned()),
        git_ref: Some(git_ref.to_owned()),
        sha: Some(sha.to_owned()),
        run_id: Some("4711".to_owned()),
        server_url: "https://github.com".to_owned(),
        ..Default::default()
    }
}

/// The record a deploy writes: the deployment of the run's commit with what it put in place, the run's tag
/// as its version, `production_environment` by the environment's name, `in_progress` at once; then
/// `success` (with `auto_inactive`, retiring earlier ones) or `failure`. A record missing or wrong here is
/// one a later rollback cannot find or cannot verify.
#[tokio::test]
async fn a_deploy_records_what_it_put_in_place_and_how_it_ended() {
    let gh = FakeGithub::start_for(REPO).await;
    let shas = gh.seed_commits("main", &["a", "b"]);
    let c = gh.client_as(READER);
    let target = Target::Lambda {
        function: "api".into(),
        alias: "live".into(),
        version: "7".into(),
        code_sha256: Some("c0de".into()),
        s3: None,
    };
    let record = deployments::Record {
        target: Some(target.clone()),
        ..Default::default()
    };
    let prod = deployments::start_recorded(
        &c,
        &run("refs/tags/v1.4.2", &shas[0]),
        "production",
        "Deploying api",
        &record,
    )
    .await
    .unwrap();
    let staging = deployments::start(
        &c,
        &run("refs/heads/main", &shas[1]),
        "staging",
        "Deploying",
    )
    .await
    .unwrap();
    let all = gh.deployments();
    assert_eq!(all.len(), 2, "{all:#?}");
    let by_id = |id: u64| {
        all.iter()
            .find(|d| d["id"].as_u64() == Some(id))
            .unwrap_or_else(|| panic!("no deployment {id}: {all:#?}"))
            .clone()
    };
    let (p, s) = (by_id(prod.id), by_id(staging.id));
    assert_eq!(p["sha"], shas[0].as_str());
    assert_eq!(p["environment"], "production");
    assert_eq!(p["production_environment"], true);
    assert_eq!(p["transient_environment"], false);
    let payload: deployments::Payload = serde_json::from_value(p["payload"].clone()).unwrap();
    assert_eq!(payload.version.as_deref(), Some("v1.4.2"), "{payload:?}");
    assert_eq!(payload.git_ref.as_deref(), Some("refs/tags/v1.4.2"));
    assert_eq!(payload.run_id.as_deref(), Some("4711"));
    assert_eq!(payload.target, Some(target));
    // Not a tag: the version is the commit; no target recorded.
    assert_eq!(s["production_environment"], false);
    let payload: deployments::Payload = serde_json::from_value(s["payload"].clone()).unwrap();
    assert_eq!(payload.version.as_deref(), Some(shas[1].as_str()));
    assert_eq!(payload.target, None);

    deployments::finish(&c, &prod, true, Some("https://api.example.com/"), None)
        .await
        .unwrap();
    deployments::finish(&c, &staging, false, None, None)
        .await
        .unwrap();
    let states = |id: u64| {
        gh.deployment_statuses(id)
            .iter()
            .map(|s| s["state"].as_str().unwrap_or_default().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(states(prod.id), ["in_progress", "success"]);
    assert_eq!(states(staging.id), ["in_progress", "failure"]);
    let done = gh.deployment_statuses(prod.id)[1].clone();
    assert_eq!(done["description"], "Deployed to production", "{done}");
    assert_eq!(done["environment_url"], "https://api.example.com/");
    assert_eq!(
        done["log_url"],
        "https://github.com/octo-org/octo-repo/actions/runs/4711"
    );
    let failed = gh.deployment_statuses(staging.id)[1].clone();
    assert_eq!(
        failed["description"], "Deployment to staging failed",
        "{failed}"
    );
    // Only a success retires the deployments before it.
    let bodies = gh.request_bodies();
    let status_bodies: Vec<Value> = bodies
        .iter()
        .filter(|(route, _)| route.ends_with("/statuses"))
        .map(|(_, b)| serde_json::from_str(b).unwrap())
        .collect();
    assert_eq!(
        status_bodies
            .iter()
            .map(|b| (b["state"].clone(), b.get("auto_inactive").cloned()))
            .collect::<Vec<_>>(),
        [
            (json!("in_progress"), None),
            (json!("in_progress"), None),
            (json!("success"), Some(json!(true))),
            (json!("failure"), None),
        ]
    );
    gh.assert_no_violations();
}

/// A preview's record: one transient deployment per commit (a re-run edits it instead of adding one), and
/// the older deployments of the preview's environment made inactive once, never the one kept.
#[tokio::test]
async fn a_preview_record_is_one_per_commit_and_its_older_ones_are_retired_once() {
    let gh = FakeGithub::start_for(REPO).await;
    let shas = gh.seed_commits("main", &["a", "b"]);
    let c = gh.client_as(READER);
    let env = "pr-7";
    let first =
        deployments::start_transient(&c, &run("refs/pull/7/merge", &shas[0]), env, "Preview")
            .await
            .unwrap();
    let again =
        deployments::start_transient(&c, &run("refs/pull/7/merge", &shas[0]), env, "Preview")
            .await
            .unwrap();
    assert_eq!(
        again.id, first.id,
        "a re-run of the same commit edits its deployment"
    );
    assert_eq!(again.sha, shas[0]);
    let newer =
        deployments::start_transient(&c, &run("refs/pull/7/merge", &shas[1]), env, "Preview")
            .await
            .unwrap();
    assert_ne!(newer.id, first.id);
    let all = gh.deployments();
    assert_eq!(all.len(), 2, "{all:#?}");
    assert!(
        all.iter().all(|d| d["transient_environment"] == true),
        "{all:#?}"
    );
    let last_state = |id: u64| {
        gh.deployment_statuses(id)
            .last()
            .map(|s| s["state"].as_str().unwrap_or_default().to_owned())
    };
    assert_eq!(
        gh.deployment_statuses(first.id).len(),
        2,
        "in_progress twice"
    );

    let retired = deployments::deactivate(&c, REPO, env, Some(newer.id), "Superseded")
        .await
        .unwrap();
    assert_eq!(retired, 1);
    assert_eq!(last_state(first.id).as_deref(), Some("inactive"));
    assert_eq!(last_state(newer.id).as_deref(), Some("in_progress"));
    // Already inactive: not marked again.
    let retired = deployments::deactivate(&c, REPO, env, Some(newer.id), "Superseded")
        .await
        .unwrap();
    assert_eq!(retired, 0);
    assert_eq!(gh.deployment_statuses(first.id).len(), 3);
    // Closing the preview retires the rest.
    let retired = deployments::deactivate(&c, REPO, env, None, "Closed")
        .await
        .unwrap();
    assert_eq!(retired, 1);
    assert_eq!(last_state(newer.id).as_deref(), Some("inactive"));
    gh.assert_no_violations();
}

/// How a recorded target is named in messages and in a fix's inputs.
#[test]
fn a_recorded_target_is_named_by_its_kind_its_name_and_its_inputs() {
    let ecs = Target::Ecs {
        cluster: "prod".into(),
        services: ["web", "worker"]
            .map(|s| deployments::EcsService {
                service: s.into(),
                task_definition: format!("{s}:3"),
            })
            .to_vec(),
    };
    assert_eq!(ecs.describe(), "ECS `web, worker` in cluster `prod`");
    assert_eq!(ecs.inputs(), "`cluster: prod` + `service: web, worker`");
    let lambda = Target::Lambda {
        function: "api".into(),
        alias: "live".into(),
        version: "7".into(),
        code_sha256: None,
        s3: None,
    };
    assert_eq!(lambda.describe(), "Lambda `api:live`");
    assert_eq!(lambda.inputs(), "`function-name: api` + `alias: live`");
    let app =
        "arn:aws:apprunner:eu-west-1:123456789012:service/web/8fe1e10304f84fd2b0df550fe98a71fa";
    let apprunner = Target::AppRunner {
        service: app.into(),
        image: "img".into(),
    };
    assert_eq!(apprunner.describe(), "App Runner `web`");
    assert_eq!(apprunner.inputs(), format!("`app-runner-service: {app}`"));
    let express_arn = "arn:aws:ecs:eu-west-1:123456789012:service/default/shop";
    let express = Target::EcsExpress {
        service: express_arn.into(),
        image: "img".into(),
    };
    assert_eq!(express.describe(), "ECS Express `shop`");
    assert_eq!(
        express.inputs(),
        format!("`express-service: {express_arn}`")
    );
    let plain = Target::AppRunner {
        service: "web".into(),
        image: "img".into(),
    };
    assert_eq!(plain.describe(), "App Runner `web`");
}
