//! publish mode against the fake GitHub (stateful, OpenAPI-validated): versions, tags, releases, re-runs.

use crate::helpers::{has, lacks};
use secrecy::SecretString;
use serde_json::{Value, json};
use stevedore::github::Client;
use stevedore::modes::publish::plan::TagOutcome;
use stevedore::modes::publish::remote::{RemoteError, Repo};

use crate::helpers::fake_github::{FakeGithub, Fault, NOT_ACCESSIBLE};
use crate::helpers::golden::assert_golden;
use crate::helpers::run::{Step, StepResult};

const RELEASES: &str = "POST /repos/{owner}/{repo}/releases";
const CREATE_REF: &str = "POST /repos/{owner}/{repo}/git/refs";

/// A publish step for `branch` at `head` against the fake.
pub fn step(gh: &FakeGithub, branch: &str, head: &str) -> Step {
    Step::new()
        .input("mode", "publish")
        .input("github-token", "ghs_faketoken1234")
        .var("GITHUB_API_URL", &gh.url())
        .var("GITHUB_SERVER_URL", "https://github.com")
        .var("GITHUB_SHA", head)
        .var("GITHUB_REF", &format!("refs/heads/{branch}"))
        .var("GITHUB_REF_NAME", branch)
}

/// A `pull_request` `closed` event of merged PR `number` into `base`, merged as `merge_sha`.
fn merged_pr_event(number: u64, base: &str, merge_sha: &str, labels: &[&str]) -> Value {
    json!({
        "action": "closed",
        "number": number,
        "pull_request": {
            "number": number,
            "merged": true,
            "merge_commit_sha": merge_sha,
            "title": "feat: something",
            "labels": labels.iter().map(|l| json!({"name": l})).collect::<Vec<_>>(),
            "head": {"sha": "1111111111111111111111111111111111111111", "ref": "feature", "repo": {"full_name": "octo-org/octo-repo"}},
            "base": {"sha": "2222222222222222222222222222222222222222", "ref": base, "repo": {"full_name": "octo-org/octo-repo"}},
        }
    })
}

/// Creates an annotated tag object through the API and returns its sha (not the commit's).
async fn annotated_tag(client: &Client, tag: &str, sha: &str) -> String {
    let t = client
        .post(
            "/repos/octo-org/octo-repo/git/tags",
            &json!({"tag": tag, "message": tag, "object": sha, "type": "commit"}),
        )
        .await
        .unwrap();
    t["sha"].as_str().unwrap().to_owned()
}

fn tags(gh: &FakeGithub) -> Vec<(String, String)> {
    gh.refs()
        .into_iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("refs/tags/")?.to_owned(), v)))
        .collect()
}

fn assert_released(r: &StepResult, version: &str) {
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.summary);
    assert_eq!(r.output("version"), Some(version), "{}", r.summary);
    assert_eq!(r.output("tag"), Some(format!("v{version}").as_str()));
    assert_eq!(r.output("released"), Some("true"));
    assert_eq!(r.output("verdict"), Some("success"));
}

#[tokio::test]
async fn first_release_is_the_initial_version_with_a_changelog() {
    let gh = FakeGithub::start().await;
    let shas = gh.seed_commits(
        "main",
        &["chore: init", "feat(cli): first command (#1)", "fix: typo"],
    );
    let head = shas.last().unwrap();
    let r = step(&gh, "main", head).run().await;
    assert_released(&r, "0.1.0");
    assert_eq!(r.output("previous-version"), Some(""));
    assert_eq!(tags(&gh), [("v0.1.0".to_owned(), head.clone())]);
    let releases = gh.releases();
    assert_eq!(releases.len(), 1);
    assert_eq!(releases[0]["prerelease"], false);
    let body = releases[0]["body"].as_str().unwrap();
    has(body, "### Features");
    has(
        body,
        "**cli:** first command ([#1](https://github.com/octo-org/octo-repo/pull/1))",
    );
    has(body, "by @octocat");
    lacks(body, "init");
    let changelog = r.output("changelog").unwrap();
    assert!(
        changelog.starts_with(
            "## [v0.1.0](https://github.com/octo-org/octo-repo/releases/tag/v0.1.0) ("
        ),
        "{changelog}"
    );
    assert_golden("publish-first-release.body.md", body);
    assert_golden("publish-first-release.changelog.md", changelog);
    assert_eq!(r.output("release-url"), releases[0]["html_url"].as_str());
    has(&r.summary, "released v0.1.0");
    gh.assert_no_violations();
}

#[tokio::test]
async fn a_first_release_reads_at_most_1000_commits_and_says_so() {
    let gh = FakeGithub::start().await;
    let msgs: Vec<String> = (0..1005).map(|i| format!("fix: change {i}")).collect();
    let refs: Vec<&str> = msgs.iter().map(String::as_str).collect();
    let shas = gh.seed_commits("main", &refs);
    let r = step(&gh, "main", shas.last().unwrap())
        .input("dry-run", "true")
        .run()
        .await;
    assert_eq!(r.output("version"), Some("0.1.0"), "{}", r.stdout);
    has(
        &r.summary,
        "first release: only the latest 1000 commits were read",
    );
    let cl = r.output("changelog").unwrap();
    assert_eq!(cl.matches("\n- ").count(), 1000);
    assert!(cl.contains("- change 1004 ("), "newest kept");
    assert!(!cl.contains("- change 4 ("), "oldest dropped");
    gh.assert_no_violations();
}

#[tokio::test]
async fn patch_release_since_the_last_tag() {
    let gh = FakeGithub::start().await;
    let old = gh.seed_commits("main", &["feat: a"]);
    gh.set_ref("refs/tags/v1.2.3", &old[0]);
    let new = gh.seed_commits("main", &["fix: b (#7)", "chore: c", "docs: d"]);
    let r = step(&gh, "main", &new[2]).run().await;
    assert_released(&r, "1.2.4");
    assert_eq!(r.output("previous-version"), Some("1.2.3"));
    let cl = r.output("changelog").unwrap();
    assert!(
        cl.starts_with(
            "## [v1.2.4](https://github.com/octo-org/octo-repo/compare/v1.2.3...v1.2.4)"
        ),
        "{cl}"
    );
    has(cl, "- b ([#7]");
    lacks(cl, "- a ");
    assert_golden("publish-patch-release.changelog.md", cl);
    assert_golden(
        "publish-patch-release.body.md",
        gh.releases()[0]["body"].as_str().unwrap(),
    );
    gh.assert_no_violations();
}

#[tokio::test]
async fn breaking_change_on_0x_bumps_minor_and_on_1x_major() {
    let gh = FakeGithub::start().await;
    let old = gh.seed_commits("main", &["feat: a"]);
    gh.set_ref("refs/tags/v0.3.1", &old[0]);
    let new = gh.seed_commits("main", &["feat(api)!: drop v1 routes"]);
    let r = step(&gh, "main", &new[0]).run().await;
    assert_released(&r, "0.4.0");
    has(&r.summary, "0.x rule");

    let gh = FakeGithub::start().await;
    let old = gh.seed_commits("main", &["feat: a"]);
    gh.set_ref("refs/tags/v1.4.2", &old[0]);
    let new = gh.seed_commits(
        "main",
        &["fix: strict parsing\n\nBREAKING-CHANGE: lenient mode removed"],
    );
    let r = step(&gh, "main", &new[0]).run().await;
    assert_released(&r, "2.0.0");
    let body = gh.releases()[0]["body"].as_str().unwrap().to_owned();
    assert!(
        body.starts_with("### ⚠ Breaking changes\n\n- lenient mode removed"),
        "{body}"
    );
    assert_golden("publish-breaking-change.body.md", &body);
    gh.assert_no_violations();
}

#[tokio::test]
async fn label_on_the_merged_pr_overrides_the_commits() {
    let gh = FakeGithub::start().await;
    let old = gh.seed_commits("main", &["feat: a"]);
    gh.set_ref("refs/tags/v1.2.3", &old[0]);
    let new = gh.seed_commits("main", &["fix: small (#9)"]);
    let r = step(&gh, "main", &new[0])
        .event(
            "pull_request",
            merged_pr_event(9, "main", &new[0], &["bug", "release:major"]),
        )
        .run()
        .await;
    assert_released(&r, "2.0.0");
    has(&r.summary, "label `release:major` on #9");
    assert_eq!(tags(&gh).len(), 2);
    gh.assert_no_violations();
}

#[tokio::test]
async fn on_push_the_label_comes_from_the_pr_merged_as_the_head_commit() {
    let gh = FakeGithub::start().await;
    let old = gh.seed_commits("main", &["feat: a"]);
    gh.set_ref("refs/tags/v1.2.3", &old[0]);
    let new = gh.seed_commits("main", &["fix: squashed (#21)"]);
    gh.add_pr(21, "fix: squashed", &new[0], &["release:minor"]);
    // Not merged yet: its labels do not count, and the summary says why.
    let r = step(&gh, "main", &new[0])
        .input("dry-run", "true")
        .run()
        .await;
    assert_eq!(r.output("version"), Some("1.2.4"), "{}", r.summary);
    has(&r.summary, "does not list it as merged");
    gh.merge_pr(21, &new[0]);
    let r = step(&gh, "main", &new[0]).run().await;
    assert_released(&r, "1.3.0");
    has(&r.summary, "label `release:minor` on #21");
    gh.assert_no_violations();
}

#[tokio::test]
async fn conflicting_release_labels_fail_with_the_fix() {
    let gh = FakeGithub::start().await;
    let c = gh.seed_commits("main", &["feat: a (#4)"]);
    let r = step(&gh, "main", &c[0])
        .event(
            "pull_request",
            merged_pr_event(4, "main", &c[0], &["release:major", "release:skip"]),
        )
        .exits(1)
        .await;
    has(
        &r.stdout,
        "conflicting release labels `release:major`, `release:skip` (#4)",
    );
    assert!(gh.refs().keys().all(|k| !k.starts_with("refs/tags/")));
}

#[tokio::test]
async fn annotated_tags_are_peeled_to_their_commit() {
    let gh = FakeGithub::start().await;
    let old = gh.seed_commits("main", &["feat: a"]);
    let new = gh.seed_commits("main", &["feat: b"]);
    let client = Client::new(&gh.url(), SecretString::from("ghs_faketoken1234")).unwrap();
    let t_old = annotated_tag(&client, "v1.0.0", &old[0]).await;
    gh.set_ref("refs/tags/v1.0.0", &t_old);
    // Someone already tagged the head by hand (annotated) as v1.1.0: the run completes that release.
    let t_new = annotated_tag(&client, "v1.1.0", &new[0]).await;
    assert_ne!(t_new, new[0]);
    gh.set_ref("refs/tags/v1.1.0", &t_new);
    let r = step(&gh, "main", &new[0]).run().await;
    assert_released(&r, "1.1.0");
    assert_eq!(r.output("previous-version"), Some("1.0.0"));
    has(&r.summary, "re-run");
    assert_eq!(gh.releases().len(), 1);
    gh.assert_no_violations();
}

#[tokio::test]
async fn label_release_skip_makes_no_release() {
    let gh = FakeGithub::start().await;
    let old = gh.seed_commits("main", &["feat: a"]);
    gh.set_ref("refs/tags/v1.2.3", &old[0]);
    let new = gh.seed_commits("main", &["feat!: big (#10)"]);
    let r = step(&gh, "main", &new[0])
        .event(
            "pull_request",
            merged_pr_event(10, "main", &new[0], &["release:skip"]),
        )
        .exits(0)
        .await;
    assert_eq!(r.output("verdict"), Some("skipped"));
    assert_eq!(r.output("released"), Some("false"));
    assert_eq!(r.output("version"), Some(""));
    assert_eq!(r.output("previous-version"), Some("1.2.3"));
    assert_eq!(tags(&gh), [("v1.2.3".to_owned(), old[0].clone())]);
    assert!(gh.releases().is_empty());
    assert_eq!(gh.count(CREATE_REF), 0);
    gh.assert_no_violations();
}

#[tokio::test]
async fn two_prereleases_in_a_row_then_the_stable_one_then_the_next_prerelease() {
    let gh = FakeGithub::start().await;
    let base = gh.seed_commits("main", &["feat: a"]);
    gh.set_ref("refs/tags/v1.2.0", &base[0]);
    gh.set_ref("refs/heads/dev", &base[0]);

    let d1 = gh.seed_commits("dev", &["feat: b"]);
    let r = step(&gh, "dev", &d1[0]).run().await;
    assert_released(&r, "1.3.0-dev.1");
    assert_eq!(r.output("previous-version"), Some("1.2.0"));

    let d2 = gh.seed_commits("dev", &["fix: c"]);
    let r = step(&gh, "dev", &d2[0]).run().await;
    assert_released(&r, "1.3.0-dev.2");
    assert_eq!(r.output("previous-version"), Some("1.3.0-dev.1"));
    // The second changelog covers only what is new since dev.1.
    let cl = r.output("changelog").unwrap();
    has(cl, "- c (");
    lacks(cl, "- b (");
    assert_golden("publish-second-prerelease.changelog.md", cl);

    let releases = gh.releases();
    assert_eq!(releases.len(), 2);
    assert!(releases.iter().all(|r| r["prerelease"] == true));

    // dev merged to main: the stable release ignores the prereleases for its base.
    gh.set_ref("refs/heads/main", &d2[0]);
    let r = step(&gh, "main", &d2[0]).run().await;
    assert_released(&r, "1.3.0");
    assert_eq!(r.output("previous-version"), Some("1.2.0"));
    assert_eq!(gh.releases()[2]["prerelease"], false);

    // A prerelease after the stable release starts the next base at 1.
    let d3 = gh.seed_commits("dev", &["fix: d"]);
    let r = step(&gh, "dev", &d3[0]).run().await;
    assert_released(&r, "1.3.1-dev.1");
    assert_eq!(r.output("previous-version"), Some("1.3.0"));
    gh.assert_no_violations();
}

#[tokio::test]
async fn rerun_after_a_failure_between_tag_and_release_completes_it_once() {
    let gh = FakeGithub::start().await;
    let old = gh.seed_commits("main", &["feat: a"]);
    gh.set_ref("refs/tags/v1.0.0", &old[0]);
    let new = gh.seed_commits("main", &["feat: b"]);
    gh.fault(
        RELEASES,
        Fault {
            status: 403,
            message: NOT_ACCESSIBLE.into(),
            headers: Vec::new(),
            times: Some(1),
        },
    );
    let first = step(&gh, "main", &new[0]).exits(1).await;
    has(&first.stdout, "contents: write");
    assert_eq!(tags(&gh).len(), 2, "the tag was made before the failure");
    assert!(gh.releases().is_empty());

    let second = step(&gh, "main", &new[0]).run().await;
    assert_released(&second, "1.1.0");
    has(&second.summary, "re-run");
    has(&second.summary, "already there at this commit");
    assert_eq!(second.output("previous-version"), Some("1.0.0"));

    // A third run changes nothing: still one tag and one release for 1.1.0.
    let third = step(&gh, "main", &new[0]).run().await;
    assert_released(&third, "1.1.0");
    let t: Vec<_> = tags(&gh)
        .into_iter()
        .filter(|(n, _)| n == "v1.1.0")
        .collect();
    assert_eq!(t, [("v1.1.0".to_owned(), new[0].clone())]);
    let rel: Vec<_> = gh
        .releases()
        .into_iter()
        .filter(|r| r["tag_name"] == "v1.1.0")
        .collect();
    assert_eq!(rel.len(), 1);
    assert!(rel[0]["body"].as_str().unwrap().contains("- b ("));
    gh.assert_no_violations();
}

#[tokio::test]
async fn an_existing_release_is_updated_not_duplicated() {
    let gh = FakeGithub::start().await;
    let old = gh.seed_commits("main", &["feat: a"]);
    gh.set_ref("refs/tags/v1.0.0", &old[0]);
    let new = gh.seed_commits("main", &["fix: b"]);
    gh.set_ref("refs/tags/v1.0.1", &new[0]);
    gh.seed_release("v1.0.1", false, false);
    let r = step(&gh, "main", &new[0]).run().await;
    assert_released(&r, "1.0.1");
    let rel = gh.releases();
    assert_eq!(rel.len(), 1);
    assert!(rel[0]["body"].as_str().unwrap().contains("### Bug Fixes"));
    assert_golden(
        "publish-updated-release.body.md",
        rel[0]["body"].as_str().unwrap(),
    );
    assert_eq!(gh.count(RELEASES), 0);
    has(&r.summary, "[updated]");
    gh.assert_no_violations();
}

#[tokio::test]
async fn a_tag_at_another_commit_is_a_clear_error_and_at_the_same_commit_is_kept() {
    let gh = FakeGithub::start().await;
    let c = gh.seed_commits("main", &["feat: a", "fix: b"]);
    gh.set_ref("refs/tags/v1.0.1", &c[0]);
    let client = Client::new(&gh.url(), SecretString::from("ghs_faketoken1234")).unwrap();
    let repo = Repo::new(&client, "octo-org", "octo-repo");
    let err = repo.create_tag("v1.0.1", &c[1]).await.unwrap_err();
    assert!(matches!(err, RemoteError::TagElsewhere { .. }), "{err:?}");
    let msg = err.to_string();
    has(
        &msg,
        &format!("tag `v1.0.1` already exists at commit {}", c[0]),
    );
    has(&msg, "delete the tag");
    assert_eq!(
        repo.create_tag("v1.0.1", &c[0]).await.unwrap(),
        TagOutcome::Existed
    );
    assert_eq!(gh.refs().get("refs/tags/v1.0.1"), Some(&c[0]));
    gh.assert_no_violations();
}

#[tokio::test]
async fn parallel_prereleases_never_share_a_counter() {
    let gh = FakeGithub::start().await;
    let base = gh.seed_commits("main", &["feat: a"]);
    gh.set_ref("refs/tags/v1.2.0", &base[0]);
    gh.set_ref("refs/heads/dev", &base[0]);
    let d = gh.seed_commits("dev", &["feat: b", "fix: c"]);
    // Two runs at two commits of the same branch at once. However their requests interleave, a run that
    // finds its counter taken at another commit reads the tags again and takes the next one.
    let (r1, r2) = tokio::join!(step(&gh, "dev", &d[0]).run(), step(&gh, "dev", &d[1]).run());
    assert_eq!((r1.code, r2.code), (0, 0), "{}\n{}", r1.stdout, r2.stdout);
    let mut got = vec![
        (r1.output("version").unwrap().to_owned(), d[0].clone()),
        (r2.output("version").unwrap().to_owned(), d[1].clone()),
    ];
    got.sort();
    assert_eq!(got[0].0, "1.3.0-dev.1");
    assert_eq!(got[1].0, "1.3.0-dev.2");
    for (v, sha) in &got {
        assert_eq!(gh.refs().get(&format!("refs/tags/v{v}")), Some(sha));
    }
    assert_eq!(gh.releases().len(), 2);
    gh.assert_no_violations();
}

#[tokio::test]
async fn dry_run_shows_the_plan_and_writes_nothing() {
    let gh = FakeGithub::start().await;
    let old = gh.seed_commits("main", &["feat: a"]);
    gh.set_ref("refs/tags/v2.0.0", &old[0]);
    let new = gh.seed_commits("main", &["feat: b"]);
    let r = step(&gh, "main", &new[0])
        .input("dry-run", "true")
        .exits(0)
        .await;
    // A dry run proves nothing was done: `skipped` in every mode (docs/reporting.md, "Dry runs").
    assert_eq!(r.output("verdict"), Some("skipped"), "{}", r.stdout);
    assert_eq!(r.output("version"), Some("2.1.0"));
    assert_eq!(r.output("released"), Some("false"));
    has(&r.summary, "would release v2.1.0 (dry run)");
    has(&r.summary, "2.0.0 + minor = 2.1.0");
    has(&r.summary, "### Features");
    assert_golden(
        "publish-dry-run.changelog.md",
        r.output("changelog").unwrap(),
    );
    assert!(
        gh.mode_requests().iter().all(|q| q.method == "GET"),
        "{:?}",
        gh.mode_requests()
    );
    gh.assert_no_violations();
}

#[tokio::test]
async fn floating_major_tag_is_created_then_moved() {
    let gh = FakeGithub::start().await;
    let old = gh.seed_commits("main", &["feat: a"]);
    gh.set_ref("refs/tags/v1.0.0", &old[0]);
    let a = gh.seed_commits("main", &["feat: b"]);
    let r = step(&gh, "main", &a[0])
        .input("floating-tag", "true")
        .run()
        .await;
    assert_released(&r, "1.1.0");
    assert_eq!(gh.refs().get("refs/tags/v1"), Some(&a[0]));
    let b = gh.seed_commits("main", &["fix: c"]);
    let r = step(&gh, "main", &b[0])
        .input("floating-tag", "true")
        .run()
        .await;
    assert_released(&r, "1.1.1");
    assert_eq!(gh.refs().get("refs/tags/v1"), Some(&b[0]));
    has(&r.summary, "`v1` (moved)");
    gh.assert_no_violations();
}

/// The 1.0 policy (docs/releasing.md): the docs pin `@v1`, so stevedore's own first release is `v1.0.0` and
/// it creates the floating `v1` the docs pin. Runs publish with the `with:` of
/// `.github/workflows/release.yml` (a push to `main`, no tag yet) and checks both against the README's pin.
#[tokio::test]
async fn the_release_workflow_cuts_v1_0_0_first_and_creates_the_v1_the_docs_pin() {
    use serde_yaml_ng::Value as Y;
    let root = crate::helpers::runner::repo_root();
    let wf: Y = serde_yaml_ng::from_str(
        &std::fs::read_to_string(root.join(".github/workflows/release.yml")).unwrap(),
    )
    .unwrap();
    let with = wf["jobs"]["release"]["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|s| s["id"].as_str() == Some("publish"))
        .expect("the publish step")["with"]
        .clone();
    assert_eq!(with["mode"].as_str(), Some("publish"));
    let initial = with["initial-version"]
        .as_str()
        .expect("release.yml sets `initial-version` (the action's default is 0.1.0)");
    assert_eq!(
        with["floating-tag"].as_str(),
        Some("${{ github.ref_name == 'main' }}"),
        "stable releases from main move the floating tag"
    );
    let gh = FakeGithub::start().await;
    let commits = gh.seed_commits("main", &["chore: init", "feat: the first feature"]);
    let head = commits.last().unwrap();
    let r = step(&gh, "main", head)
        .input("initial-version", initial)
        // What `${{ github.ref_name == 'main' }}` is on a push to main.
        .input("floating-tag", "true")
        .run()
        .await;
    assert_released(&r, "1.0.0");
    assert_eq!(gh.refs().get("refs/tags/v1"), Some(head));
    // Every doc pins the major tag the release flow creates.
    for doc in ["README.md", "docs/pipelines.md", "docs/releasing.md"] {
        let text = std::fs::read_to_string(root.join(doc)).unwrap();
        assert!(text.contains("ORG/stevedore@v1"), "{doc}");
        assert!(!text.contains("stevedore@v0"), "{doc} pins v0");
    }
    gh.assert_no_violations();
}

#[tokio::test]
async fn dry_run_on_an_open_pr_previews_the_release_and_a_real_run_skips() {
    let gh = FakeGithub::start().await;
    let old = gh.seed_commits("main", &["feat: a"]);
    gh.set_ref("refs/tags/v1.2.3", &old[0]);
    let head = gh.seed_commits("feature", &["fix: b"]);
    let mut ev = merged_pr_event(30, "main", "", &["release:minor"]);
    ev["pull_request"]["merged"] = json!(false);
    ev["pull_request"]["merge_commit_sha"] = Value::Null;
    ev["pull_request"]["head"]["sha"] = json!(head[0]);
    let r = step(&gh, "main", &head[0])
        .input("dry-run", "true")
        .event("pull_request", ev.clone())
        .exits(0)
        .await;
    assert_eq!(r.output("version"), Some("1.3.0"), "{}", r.summary);
    has(&r.summary, "would release v1.3.0 (dry run)");
    has(&r.summary, "label `release:minor` on #30");
    let r = step(&gh, "main", &head[0])
        .event("pull_request", ev)
        .run()
        .await;
    assert_eq!(r.output("verdict"), Some("skipped"));
    has(&r.summary, "is not merged");
    assert!(gh.mode_requests().iter().all(|q| q.method == "GET"));
    gh.assert_no_violations();
}

#[tokio::test]
async fn other_branches_and_unmerged_prs_are_skipped() {
    let gh = FakeGithub::start().await;
    let c = gh.seed_commits("feature/x", &["feat: a"]);
    let r = step(&gh, "feature/x", &c[0]).run().await;
    assert_eq!(r.code, 0);
    assert_eq!(r.output("verdict"), Some("skipped"));
    has(&r.summary, "neither a release branch");
    assert!(gh.mode_requests().is_empty());
}

/// Benchmark (prints figures, asserts only correctness): a dry-run plan over 5,000 commits since the last
/// tag. Run with `cargo test --test it publish::bench_ -- --nocapture`.
#[tokio::test]
async fn bench_dry_run_plan_over_5000_commits() {
    let gh = FakeGithub::start().await;
    let old = gh.seed_commits("main", &["feat: a"]);
    gh.set_ref("refs/tags/v1.0.0", &old[0]);
    let msgs: Vec<String> = (0..5000)
        .map(|i| match i % 4 {
            0 => format!("feat(area{}): feature {i} (#{i})", i % 7),
            1 => format!("fix: fix {i}"),
            2 => format!("chore: chore {i}"),
            _ => format!("misc change {i}"),
        })
        .collect();
    let refs: Vec<&str> = msgs.iter().map(String::as_str).collect();
    let shas = gh.seed_commits("main", &refs);
    let head = shas.last().unwrap();
    let started = std::time::Instant::now();
    let r = step(&gh, "main", head).input("dry-run", "true").run().await;
    let elapsed = started.elapsed();
    assert_eq!(r.output("version"), Some("1.1.0"), "{}", r.summary);
    let cl = r.output("changelog").unwrap();
    assert_eq!(cl.matches("\n- ").count(), 2500, "feat + fix entries");
    println!(
        "publish dry-run over 5000 commits: {} ms wall (in-process, fake GitHub on loopback), {} requests, changelog {} bytes",
        elapsed.as_millis(),
        gh.requests().len(),
        cl.len()
    );
}

// ---- ECR promotion (moto for ECR and STS, the fake OIDC issuer for the token) ----

mod ecr {
    use aws_credential_types::Credentials;
    use stevedore::aws::ecr::{CreateRepository, PutImage};
    use stevedore::modes::publish::ecr::{EcrError, ImageRef, PromoteOutcome, promote};
    use stevedore::net::Net;

    use super::{FakeGithub, assert_released, step, tags};
    use crate::helpers::fake_oidc::{FakeOidc, Settings};
    use crate::helpers::has;
    use crate::helpers::moto::{ecr, ecr_repository, moto, unique};

    const ROLE: &str = "arn:aws:iam::123456789012:role/github-release";

    /// A static-credential SDK config against moto (test setup only; stevedore itself uses OIDC).
    fn sdk(endpoint: &str) -> aws_types::SdkConfig {
        sdk_in(endpoint, "eu-west-1")
    }

    fn sdk_in(endpoint: &str, region: &str) -> aws_types::SdkConfig {
        aws_types::SdkConfig::builder()
            .http_client(stevedore::aws::http_client(&stevedore::Env::default()))
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_types::region::Region::new(region.to_owned()))
            .endpoint_url(endpoint)
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(Credentials::new(
                    "AKIDTEST", "secret", None, None, "test",
                )),
            )
            .build()
    }

    /// The network settings of a run without proxy or extra roots.
    fn net() -> Net {
        Net::from_env(&stevedore::Env::from_pairs::<&str, &str>([]))
    }

    /// A repository holding one image tagged `build-tag`; returns (repository, digest).
    async fn seed_image(endpoint: &str, build_tag: &str) -> (String, String) {
        let sdk = sdk(endpoint);
        let repo = unique("app");
        ecr_repository(&sdk, &repo).await;
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7023,
                       "digest": format!("sha256:{}", "a".repeat(64))},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 32654,
                        "digest": format!("sha256:{}", "b".repeat(64))}]
        })
        .to_string();
        let out = ecr(&sdk)
            .put_image(&PutImage {
                repository_name: repo.clone(),
                image_manifest: manifest,
                image_tag: Some(build_tag.to_owned()),
                ..PutImage::default()
            })
            .await
            .unwrap();
        let digest = out.image_id.and_then(|i| i.image_digest).unwrap();
        (repo, digest)
    }

    async fn tags_of(endpoint: &str, repo: &str, digest: &str) -> Vec<String> {
        let d: serde_json::Value = ecr(&sdk(endpoint))
            .call(
                "DescribeImages",
                &serde_json::json!({"repositoryName": repo, "imageIds": [{"imageDigest": digest}]}),
            )
            .await
            .unwrap();
        let mut t: Vec<String> =
            serde_json::from_value(d["imageDetails"][0]["imageTags"].clone()).unwrap();
        t.sort();
        t
    }

    #[tokio::test]
    async fn promote_tags_the_same_digest_and_is_idempotent() {
        let Some(moto) = moto() else { return };
        let (repo, digest) = seed_image(&moto.endpoint, "sha-1234567").await;
        let sdk = sdk(&moto.endpoint);
        let by_digest = ImageRef::parse(&format!(
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/{repo}@{digest}"
        ))
        .unwrap();
        let out = promote(&sdk, &net(), &by_digest, "v1.0.0").await.unwrap();
        assert_eq!(
            out,
            PromoteOutcome::Tagged {
                digest: digest.clone()
            }
        );
        let again = promote(&sdk, &net(), &by_digest, "v1.0.0").await.unwrap();
        assert_eq!(again.digest(), digest);
        let by_tag = ImageRef::parse(&format!("{repo}:sha-1234567")).unwrap();
        assert_eq!(
            promote(&sdk, &net(), &by_tag, "v1").await.unwrap().digest(),
            digest
        );
        assert_eq!(
            tags_of(&moto.endpoint, &repo, &digest).await,
            ["sha-1234567", "v1", "v1.0.0"]
        );
        // The image's own region (from its URI) wins over the connection's: moto keeps regions apart, and
        // the repository exists in eu-west-1 only.
        let elsewhere = sdk_in(&moto.endpoint, "us-east-1");
        assert_eq!(
            promote(&elsewhere, &net(), &by_digest, "v1.0.0")
                .await
                .unwrap(),
            PromoteOutcome::AlreadyTagged {
                digest: digest.clone()
            }
        );
        let err = promote(&elsewhere, &net(), &by_tag, "v1")
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("does not exist"),
            "a URI without a region uses the connection's: {err}"
        );
        let missing = ImageRef::parse(&format!("{repo}@sha256:{}", "c".repeat(64))).unwrap();
        let err = promote(&sdk, &net(), &missing, "v1.0.1").await.unwrap_err();
        assert!(matches!(err, EcrError::NotFound { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn an_immutable_repository_refuses_to_move_a_release_tag() {
        let Some(moto) = moto() else { return };
        let sdk = sdk(&moto.endpoint);
        let ecr = ecr(&sdk);
        let repo = unique("immutable");
        ecr.create_repository(&CreateRepository {
            repository_name: repo.clone(),
            image_tag_mutability: Some("IMMUTABLE".into()),
            ..CreateRepository::default()
        })
        .await
        .unwrap();
        let mut digests = Vec::new();
        for (i, t) in ["build-1", "build-2"].iter().enumerate() {
            let manifest = serde_json::json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7023,
                           "digest": format!("sha256:{}", i.to_string().repeat(64))},
                "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 100 + i,
                            "digest": format!("sha256:{}", (i + 5).to_string().repeat(64))}]
            })
            .to_string();
            let out = ecr
                .put_image(&PutImage {
                    repository_name: repo.clone(),
                    image_manifest: manifest,
                    image_tag: Some((*t).to_owned()),
                    ..PutImage::default()
                })
                .await
                .unwrap();
            digests.push(out.image_id.and_then(|i| i.image_digest).unwrap());
        }
        assert_ne!(digests[0], digests[1]);
        let first = ImageRef::parse(&format!("{repo}@{}", digests[0])).unwrap();
        let second = ImageRef::parse(&format!("{repo}@{}", digests[1])).unwrap();
        assert!(matches!(
            promote(&sdk, &net(), &first, "v2.0.0").await.unwrap(),
            PromoteOutcome::Tagged { .. }
        ));
        let err = promote(&sdk, &net(), &second, "v2.0.0").await.unwrap_err();
        assert!(matches!(err, EcrError::TagTaken { .. }), "{err:?}");
        assert!(err.to_string().contains("tag-immutable"), "{err}");
    }

    #[tokio::test]
    async fn publish_promotes_the_image_before_tagging_and_says_so() {
        let Some(moto) = moto() else { return };
        let (repo, digest) = seed_image(&moto.endpoint, "sha-7654321").await;
        let gh = FakeGithub::start().await;
        let old = gh.seed_commits("main", &["feat: a"]);
        gh.set_ref("refs/tags/v1.0.0", &old[0]);
        let new = gh.seed_commits("main", &["feat: b"]);
        let oidc = FakeOidc::start(Settings::default()).await;
        let run = |image: String| {
            oidc.apply(step(&gh, "main", &new[0]))
                .var("AWS_ENDPOINT_URL", &moto.endpoint)
                .input("aws-region", "eu-west-1")
                .input("role-to-assume", ROLE)
                .input("promote-image", &image)
                .run()
        };
        // A missing image stops the run before anything is tagged in git.
        let r = run(format!("{repo}@sha256:{}", "d".repeat(64))).await;
        assert_eq!(r.code, 1, "{}", r.stdout);
        has(&r.stdout, "was not found");
        assert_eq!(tags(&gh).len(), 1);

        let r = run(format!("{repo}@{digest}")).await;
        assert_released(&r, "1.1.0");
        has(&r.summary, &format!("tagged `v1.1.0` at `{digest}`"));
        assert_eq!(
            tags_of(&moto.endpoint, &repo, &digest).await,
            ["sha-7654321", "v1.1.0"]
        );
        // Re-run: the image already carries the tag; still one git tag and one release.
        let r = run(format!("{repo}@{digest}")).await;
        assert_released(&r, "1.1.0");
        has(&r.summary, "already at");
        assert_eq!(gh.releases().len(), 1);
        gh.assert_no_violations();
    }
}

// ---- no GitHub API (as under act): a dry run plans from the local clone ----

fn git_in(dir: &std::path::Path, args: &[&str]) -> String {
    crate::helpers::act::git_as_octocat(dir, "2026-02-03T04:05:06Z", args)
}

/// A workspace with `v1.2.0` (annotated) and two conventional commits since: a feature and a fix.
fn local_clone(s: &Step) -> String {
    let ws = &s.workspace;
    git_in(ws, &["init", "-q", "-b", "main"]);
    git_in(ws, &["commit", "-q", "--allow-empty", "-m", "chore: init"]);
    git_in(ws, &["tag", "-a", "v1.2.0", "-m", "v1.2.0"]);
    git_in(
        ws,
        &[
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "feat(api): orders endpoint",
        ],
    );
    git_in(
        ws,
        &[
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "fix: a typo in the summary (#5)",
        ],
    );
    git_in(ws, &["rev-parse", "HEAD"])
}

/// No `github-token` (act has no token of its own): `dry-run: true` computes the next version and the
/// changelog from the local clone's tags and commits (gix, no API, no network) and says so. Before, this
/// was exit 2 (`publish reads tags and commits through the GitHub API, but there is no github-token`).
#[tokio::test]
async fn a_dry_run_without_the_api_plans_from_the_local_clones_tags_and_commits() {
    let s = Step::new()
        .input("mode", "publish")
        .input("dry-run", "true")
        .var("GITHUB_API_URL", crate::helpers::runner::CLOSED_URL);
    let head = local_clone(&s);
    let r = s
        .var("GITHUB_SHA", &head)
        .var("GITHUB_SERVER_URL", "https://github.com")
        .exits(0)
        .await;
    assert_eq!(r.output("version"), Some("1.3.0"), "{:?}", r.outputs);
    assert_eq!(r.output("previous-version"), Some("1.2.0"));
    assert_eq!(r.output("tag"), Some("v1.3.0"));
    assert_eq!(r.output("released"), Some("false"));
    let changelog = r.output("changelog").unwrap_or_default();
    assert!(
        changelog.contains("orders endpoint") && changelog.contains("a typo in the summary"),
        "both commits since v1.2.0 are in the changelog: {changelog}"
    );
    assert!(
        !changelog.contains("init"),
        "nothing before the tag: {changelog}"
    );
    assert!(
        r.summary.contains("the local clone's tags and commits"),
        "the summary says where the plan came from:\n{}",
        r.summary
    );
    assert!(
        r.summary.contains("#5") && r.summary.contains("labels are not read"),
        "the PR's labels cannot be read without the API, and the summary says so:\n{}",
        r.summary
    );
}

/// A real run without the API stays an error (exit 2) naming the token; so does a dry run with no clone.
#[tokio::test]
async fn without_the_api_a_real_run_and_a_dry_run_without_a_clone_are_refused() {
    let s = Step::new().input("mode", "publish");
    let head = local_clone(&s);
    let r = s.var("GITHUB_SHA", &head).exits(2).await;
    has(&r.stdout, "github-token");

    let r = Step::new()
        .input("mode", "publish")
        .input("dry-run", "true")
        .exits(2)
        .await;
    assert!(
        r.stdout.contains("cannot open a git repository") && r.stdout.contains("actions/checkout"),
        "{}",
        r.stdout
    );
}

/// The package inputs: tokens are masked before anything else, every bad package input is reported at once
/// with exit 2 (npm provenance is refused, not ignored), and nothing is tagged or released.
#[tokio::test]
async fn package_inputs_are_masked_and_validated_at_once() {
    let gh = FakeGithub::start().await;
    let c = gh.seed_commits("main", &["feat: a"]);
    let r = step(&gh, "main", &c[0])
        .input("packages", "dist/[*.tgz")
        .input("npm-registry", "registry.example.com")
        .input("pypi-repository", "ftp://pypi.example.com/")
        .input("npm-token", "npm_tok_for_tests_123")
        .input("pypi-token", "pypi-tok-for-tests-456")
        .input("npm-provenance", "true")
        .exits(2)
        .await;
    let first = r.stdout.lines().next().unwrap_or_default();
    assert_eq!(first, "::add-mask::ghs_faketoken1234", "{}", r.stdout);
    for secret in ["npm_tok_for_tests_123", "pypi-tok-for-tests-456"] {
        crate::helpers::assert_only_masked(&r.stdout, secret);
    }
    for input in [
        "packages",
        "npm-registry",
        "pypi-repository",
        "npm-provenance",
    ] {
        assert!(
            r.stdout
                .contains(&format!("invalid input `{input}`::input `{input}`")),
            "{input}: {}",
            r.stdout
        );
    }
    has(&r.stdout, "Sigstore");
    assert!(gh.refs().keys().all(|k| !k.starts_with("refs/tags/")));
    assert_eq!(gh.count(RELEASES), 0);
}
