//! Issue 15, finding 9: untrusted text (PR title, check name, test names and messages, file names) is
//! escaped for Markdown and HTML wherever it enters the sticky comment, the job summary or a check run's
//! summary/text, and the sticky comment's marker cannot be forged.

use crate::helpers::fake_github::{CheckRun, FakeGithub};
use crate::helpers::has;
use crate::helpers::run::Step;

const IMG: &str = "<img src=x onerror=alert(1)>";
const LINK: &str = "[link](javascript:alert(1))";
const MARKER_COPY: &str = "<!-- stevedore:lint-gate -->";

/// The number of cells of a GFM table row: `|` not escaped by a backslash separate them.
fn cells(row: &str) -> usize {
    let mut n: usize = 0;
    let mut escaped = false;
    for c in row.trim().chars() {
        match c {
            '\\' if !escaped => escaped = true,
            '|' if !escaped => n += 1,
            _ => escaped = false,
        }
    }
    n.saturating_sub(1)
}

/// Every table in `md` keeps the column count of its header row.
fn assert_tables_intact(what: &str, md: &str) {
    let mut columns: Option<usize> = None;
    for line in md.lines() {
        if line.trim_start().starts_with('|') {
            let n = cells(line);
            match columns {
                None => columns = Some(n),
                Some(c) => assert_eq!(n, c, "{what}: a cell broke the table at {line:?}\n{md}"),
            }
        } else {
            columns = None;
        }
    }
}

/// `md` without the contents of fenced code blocks, which Markdown shows literally (a PR-title
/// suggestion, a diff); the fence grows past any backtick run inside (`markdown::code`).
fn outside_fences(md: &str) -> String {
    let mut out = String::new();
    let mut fence: Option<String> = None;
    for line in md.lines() {
        let t = line.trim_start();
        match &fence {
            Some(f) if t.starts_with(f.as_str()) && t.trim_start_matches('`').trim().is_empty() => {
                fence = None;
            }
            Some(_) => {}
            None if t.starts_with("```") => {
                fence = Some(t.chars().take_while(|c| *c == '`').collect());
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    assert!(
        fence.is_none(),
        "an unclosed code fence swallows the rest:\n{md}"
    );
    out
}

/// No live HTML or Markdown link from the untrusted text, and no copy of a marker.
fn assert_inert(what: &str, md: &str) {
    let live = outside_fences(md);
    for raw in [
        "<img",
        "](javascript:",
        "<!-- stevedore:deploy",
        "onerror=alert(1)>",
    ] {
        assert!(!live.contains(raw), "{what}: raw {raw:?} in\n{md}");
    }
    assert_tables_intact(what, md);
}

/// The job summary shows the escaped `<img …>` (`whose` text, for the failure message), inert and with no
/// `<!--` outside code fences.
#[track_caller]
fn assert_summary_shows_it_escaped(summary: &str, whose: &str) {
    assert_inert("job summary", summary);
    assert!(
        summary.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "{whose} should be shown, escaped:\n{summary}"
    );
    assert!(!outside_fences(summary).contains("<!--"), "{summary}");
}

/// Every check run's summary and text is inert with no `<!--` outside code fences; whether one of them
/// shows the escaped `<img …>`.
#[track_caller]
fn check_runs_inert_one_showing_it(runs: &[CheckRun]) -> bool {
    let mut seen = false;
    for run in runs {
        for (part, md) in [("summary", &run.summary), ("text", &run.text)] {
            let md = md.clone().unwrap_or_default();
            assert_inert(&format!("check run {:?} {part}", run.name), &md);
            assert!(!outside_fences(&md).contains("<!--"), "{md}");
            seen |= md.contains("&lt;img src=x onerror=alert(1)&gt;");
        }
    }
    seen
}

/// The sticky comment `ours` starts with its own `marker`, holds no other `<!--` outside code fences and
/// is inert.
#[track_caller]
fn assert_ours_inert(ours: &str, marker: &str) {
    assert!(ours.starts_with(marker), "{ours}");
    assert_eq!(
        outside_fences(ours).matches("<!--").count(),
        1,
        "only our own marker:\n{ours}"
    );
    assert_inert("comment", ours);
}

/// A `pull_request` event for PR 7 titled `title`, from a branch of the same repository.
fn pull_request_7(title: &str) -> serde_json::Value {
    serde_json::json!({"number": 7, "pull_request": {"number": 7, "title": title,
        "head": {"sha": "fedcba9876543210fedcba9876543210fedcba98", "ref": "f", "repo": {"full_name": "octo-org/octo-repo"}},
        "base": {"ref": "main", "repo": {"full_name": "octo-org/octo-repo"}}}})
}

#[tokio::test]
async fn hostile_text_is_escaped_in_comment_summary_and_check_runs_and_the_marker_cannot_be_forged()
{
    let step = Step::new();
    let check = format!("Tests {IMG} | {LINK} `tick` <!-- stevedore:deploy -->");
    let test_name = format!("{IMG}|{LINK}");
    let message = format!("boom `x` | {IMG} {LINK} {MARKER_COPY}");
    std::fs::write(
        step.workspace.join("junit.xml"),
        format!(
            r#"<testsuite name="s" tests="2" failures="1"><testcase classname="a" name="ok" time="0.1"/><testcase classname="c|{}" name="{}" file="src/{}|`f`.rs" line="3" time="0.1"><failure message="{}">trace</failure></testcase></testsuite>"#,
            xml(LINK),
            xml(&test_name),
            xml(IMG),
            xml(&message)
        ),
    )
    .unwrap();
    let gh = FakeGithub::start().await;
    // Someone quotes our marker in their own comment first: it must stay theirs.
    let quoted = format!("Looks fine to me. {MARKER_COPY}");
    let seeded = crate::helpers::reqwest_client()
        .post(format!(
            "{}/repos/octo-org/octo-repo/issues/7/comments",
            gh.url()
        ))
        .header("X-GitHub-Api-Version", "2022-11-28")
        .header("Authorization", "Bearer someone-else")
        .header("User-Agent", "test")
        .json(&serde_json::json!({ "body": quoted }))
        .send()
        .await
        .unwrap();
    assert!(seeded.status().is_success(), "{}", seeded.status());
    let pr_title = format!("{MARKER_COPY} {IMG} {LINK} `code` | pipe");
    let r = step
        .input("mode", "lint-gate")
        .input("github-token", "ghs_faketoken0123456789")
        .var("GITHUB_API_URL", &gh.url())
        .input(
            "checks",
            &format!(
                "- name: {}\n  outcome: failure\n  results: junit.xml\n",
                serde_json::to_string(&check).unwrap()
            ),
        )
        .input("generated-files", "off")
        .event("pull_request", pull_request_7(&pr_title))
        .exits(1)
        .await;
    gh.assert_no_violations();

    // The job summary.
    assert_summary_shows_it_escaped(&r.summary, "the hostile text");
    has(&r.summary, "&#91;link&#93;(javascript:alert(1))");

    // The sticky comment: ours is a new one; the quoting comment is untouched.
    let comments = gh.comments(7);
    assert_eq!(comments.len(), 2, "{comments:#?}");
    assert_eq!(
        comments[0].body, quoted,
        "the quoting comment was taken for ours"
    );
    let ours = &comments[1].body;
    assert_ours_inert(ours, "<!-- stevedore:lint-gate -->\n");
    has(ours, "&lt;img src=x onerror=alert(1)&gt;");

    // Check runs: summary and text are Markdown.
    let runs = gh.check_runs();
    assert!(runs.len() >= 2, "{runs:#?}");
    let seen = check_runs_inert_one_showing_it(&runs);
    assert!(seen, "no check run showed the escaped text: {runs:#?}");

    // A second run finds its comment again (the marker still works) and leaves the other alone.
    Step::new()
        .input("mode", "lint-gate")
        .input("github-token", "ghs_faketoken0123456789")
        .var("GITHUB_API_URL", &gh.url())
        .input("checks", "- name: Lint\n  outcome: success\n")
        .input("generated-files", "off")
        .event("pull_request", pull_request_7("fix: quoted"))
        .exits(0)
        .await;
    let comments = gh.comments(7);
    assert_eq!(comments.len(), 2, "{comments:#?}");
    assert_eq!(comments[0].body, quoted);
    has(&comments[1].body, "All 2 check(s) passed");
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[tokio::test]
async fn a_hostile_input_value_is_inert_in_the_invalid_inputs_table() {
    // `with: dry-run: ${{ github.event.pull_request.title }}` puts the PR author's text into an input.
    let hostile = format!("{IMG} `x` | {LINK} <!-- stevedore:deploy -->");
    let r = Step::new()
        .input("mode", "lint-gate")
        .input("dry-run", &hostile)
        .exits(2)
        .await;
    assert_inert("invalid-inputs summary", &r.summary);
    has(
        &r.summary,
        "<code>&lt;img src=x onerror=alert(1)&gt; &#96;x&#96; &#124; &#91;link&#93;",
    );
}

/// Issue 25, finding 6: an error quoting someone else's text (here a registry's 403 answer, as a payload's
/// `version` or a tag would be) closes no code span and opens no tag, link or marker in the job summary, the
/// check run or the sticky comment: the error paragraph and its hint pass through `markdown::sentence`.
#[tokio::test]
async fn an_error_quoting_hostile_text_is_inert_in_summary_check_run_and_comment() {
    use crate::helpers::echo_registry::EchoRegistry;
    let hostile = format!("` {IMG} {LINK} {MARKER_COPY} <!-- stevedore:deploy -->\n# heading");
    let registry = EchoRegistry::start(&hostile).await;
    let gh = FakeGithub::start().await;
    let old = gh.seed_commits("main", &["feat: a"]);
    gh.set_ref("refs/tags/v1.0.0", &old[0]);
    let head = gh.seed_commits("main", &["feat: b (#9)"]).remove(0);
    let s = crate::reporting::publish_step(&gh, &head, &registry.url())
        .input("npm-token", "npm_token0123456789");
    let r = s.exits(1).await;
    gh.assert_no_violations();

    assert_summary_shows_it_escaped(&r.summary, "the registry's text");

    let runs = gh.check_runs();
    let seen = check_runs_inert_one_showing_it(&runs);
    assert!(seen, "no check run showed the registry's text: {runs:#?}");

    let comments = gh.comments(9);
    assert_eq!(comments.len(), 1, "{comments:#?}");
    assert_ours_inert(&comments[0].body, "<!-- stevedore:publish -->\n");
}
