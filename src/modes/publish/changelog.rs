//! The changelog of one release, as Markdown. Pure.
//!
//! Groups in a fixed order: breaking changes first, then Features, Bug Fixes, Performance, Reverts, then any
//! other type the rules make releasable. Each entry links its pull request (`#N` from a squash-merge title)
//! and commit, and names the author. The same text is the release body and (with its heading) the
//! `changelog` output, ready to prepend to `CHANGELOG.md` in a later step: no commit to a protected branch,
//! so no personal token.

use std::fmt::Write as _;

use super::version::{Bump, Commit, Rules, effective, short};
use crate::conventional::Kind;

/// Where links point.
#[derive(Clone, Debug)]
pub struct Links {
    /// `https://github.com/owner/repo`; no links when `None`.
    pub repo_url: Option<String>,
}

impl Links {
    fn pr(&self, n: u64) -> String {
        match &self.repo_url {
            Some(u) => format!("[#{n}]({u}/pull/{n})"),
            None => format!("#{n}"),
        }
    }

    fn commit(&self, sha: &str) -> String {
        match &self.repo_url {
            Some(u) => format!("[{}]({u}/commit/{sha})", short(sha)),
            None => short(sha).to_owned(),
        }
    }
}

/// A rendered changelog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Changelog {
    /// `## [version](compare) (date)` plus the body: what `CHANGELOG.md` gets.
    pub section: String,
    /// The groups only: the GitHub release body.
    pub body: String,
}

/// GitHub refuses release bodies over 125,000 characters (`body is too long`).
pub const RELEASE_BODY_MAX: usize = 125_000;

impl Changelog {
    /// The release body, cut (with a note) to what GitHub accepts.
    #[must_use]
    pub fn release_body(&self) -> String {
        crate::report::truncate_with_note(
            &self.body,
            RELEASE_BODY_MAX,
            "the changelog is longer than a GitHub release body may be; the whole text is in the step output `changelog`.",
        )
    }
}

const GROUPS: &[(&str, &str)] = &[
    ("feat", "Features"),
    ("fix", "Bug Fixes"),
    ("perf", "Performance"),
];

/// Renders the changelog of `commits` (oldest first) for `tag`.
#[must_use]
pub fn render(
    commits: &[Commit],
    rules: &Rules,
    links: &Links,
    tag: &str,
    previous_tag: Option<&str>,
    date: Option<&str>,
) -> Changelog {
    let commits = effective(commits);
    let mut body = String::new();

    let breaking: Vec<_> = commits
        .iter()
        .filter_map(|c| match &c.message.kind {
            Kind::Conventional(cc) if cc.breaking => Some((c, cc)),
            _ => None,
        })
        .collect();
    if !breaking.is_empty() {
        body.push_str("### ⚠ Breaking changes\n\n");
        for (c, cc) in &breaking {
            let text = if cc.breaking_notes.is_empty() {
                cc.description.clone()
            } else {
                cc.breaking_notes.join(" ")
            };
            body.push_str(&entry(c, cc.scope.as_deref(), &text, links));
        }
        body.push('\n');
    }

    // Fixed groups first, then other releasable types in name order.
    let mut groups: Vec<(String, String)> = GROUPS
        .iter()
        .map(|(t, h)| ((*t).to_owned(), (*h).to_owned()))
        .collect();
    for (ty, b) in &rules.types {
        if *b > Bump::None && ty != "revert" && !groups.iter().any(|(t, _)| t == ty) {
            groups.push((ty.clone(), title_case(ty)));
        }
    }
    for (ty, heading) in &groups {
        let entries: String = commits
            .iter()
            .filter_map(|c| match &c.message.kind {
                Kind::Conventional(cc) if &cc.ty == ty => {
                    Some(entry(c, cc.scope.as_deref(), &cc.description, links))
                }
                _ => None,
            })
            .collect();
        if !entries.is_empty() {
            let _ = write!(body, "### {heading}\n\n{entries}\n");
        }
    }
    let reverts: String = commits
        .iter()
        .filter_map(|c| match &c.message.kind {
            Kind::Revert(r) => Some(entry(c, None, &format!("revert \"{}\"", r.header), links)),
            _ => None,
        })
        .collect();
    if !reverts.is_empty() {
        let _ = write!(body, "### Reverts\n\n{reverts}\n");
    }
    if body.is_empty() {
        body.push_str("_No user-facing changes._\n");
    }

    let version = tag.to_owned();
    let title = match (&links.repo_url, previous_tag) {
        (Some(u), Some(p)) => format!("[{version}]({u}/compare/{p}...{tag})"),
        (Some(u), None) => format!("[{version}]({u}/releases/tag/{tag})"),
        (None, _) => version,
    };
    let heading = match date {
        Some(d) => format!("## {title} ({d})\n\n"),
        None => format!("## {title}\n\n"),
    };
    let body = body.trim_end().to_owned() + "\n";
    Changelog {
        section: format!("{heading}{body}"),
        body,
    }
}

/// One changelog line. Scope, description and author come from commits (untrusted): written through
/// [`crate::report::markdown::text`], so they show as written and never become markup.
fn entry(c: &Commit, scope: Option<&str>, text: &str, links: &Links) -> String {
    use crate::report::markdown::text as md;
    let mut s = String::from("- ");
    if let Some(sc) = scope {
        let _ = write!(s, "**{}:** ", md(sc));
    }
    s.push_str(&md(text.trim()));
    if let Some(pr) = c.message.pr {
        let _ = write!(s, " ({})", links.pr(pr));
    }
    let _ = write!(s, " ({})", links.commit(&c.sha));
    if let Some(a) = &c.author {
        let _ = write!(s, " by {}", md(a));
    }
    s.push('\n');
    s
}

fn title_case(s: &str) -> String {
    let mut cs = s.chars();
    match cs.next() {
        Some(f) => f.to_uppercase().chain(cs).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(sha: &str, msg: &str, author: &str) -> Commit {
        Commit::new(sha, msg, Some(author.to_owned()))
    }

    /// `commits` rendered with the default rules, linked to `https://github.com/o/r`.
    fn render_linked(
        commits: &[Commit],
        tag: &str,
        previous_tag: Option<&str>,
        date: Option<&str>,
    ) -> Changelog {
        let links = Links {
            repo_url: Some("https://github.com/o/r".into()),
        };
        render(commits, &Rules::default(), &links, tag, previous_tag, date)
    }

    #[test]
    fn groups_in_order_with_links_and_authors() {
        let commits = vec![
            c("1111111aaaa", "fix(cli): empty input (#3)", "@ana"),
            c("2222222bbbb", "feat: colours (#4)", "@bo"),
            c(
                "3333333cccc",
                "feat(api)!: v2 routes\n\nBREAKING CHANGE: v1 routes are gone",
                "Cy",
            ),
            c("4444444dddd", "chore: deps", "@bot"),
            c("5555555eeee", "perf: cache", "@ana"),
            c("6666666ffff", "just a message", "@ana"),
        ];
        let cl = render_linked(&commits, "v1.3.0", Some("v1.2.0"), Some("2026-11-25"));
        let want = "## [v1.3.0](https://github.com/o/r/compare/v1.2.0...v1.3.0) (2026-11-25)

### ⚠ Breaking changes

- **api:** v1 routes are gone ([3333333](https://github.com/o/r/commit/3333333cccc)) by Cy

### Features

- colours ([#4](https://github.com/o/r/pull/4)) ([2222222](https://github.com/o/r/commit/2222222bbbb)) by @bo
- **api:** v2 routes ([3333333](https://github.com/o/r/commit/3333333cccc)) by Cy

### Bug Fixes

- **cli:** empty input ([#3](https://github.com/o/r/pull/3)) ([1111111](https://github.com/o/r/commit/1111111aaaa)) by @ana

### Performance

- cache ([5555555](https://github.com/o/r/commit/5555555eeee)) by @ana
";
        assert_eq!(cl.section, want);
        assert!(want.ends_with(&cl.body));
        assert!(cl.body.starts_with("### ⚠ Breaking changes"));
    }

    #[test]
    fn release_bodies_are_cut_to_what_github_accepts() {
        let commits: Vec<Commit> = (0..3000)
            .map(|i| {
                c(
                    &format!("{i:040x}"),
                    &format!("feat: feature number {i} (#{i})"),
                    "@a",
                )
            })
            .collect();
        let cl = render_linked(&commits, "v2.0.0", None, None);
        assert!(cl.body.len() > RELEASE_BODY_MAX);
        let body = cl.release_body();
        assert!(body.chars().count() <= RELEASE_BODY_MAX);
        assert!(
            body.ends_with("in the step output `changelog`.\n"),
            "{}",
            &body[body.len() - 200..]
        );
    }

    /// Benchmark: `cargo test --lib publish::changelog::tests::bench_ -- --nocapture` prints the figures.
    #[test]
    fn bench_parse_decide_and_render_5000_commits() {
        let started = std::time::Instant::now();
        let commits: Vec<Commit> = (0..5000)
            .map(|i| {
                let msg = match i % 4 {
                    0 => format!("feat(area{}): feature {i} (#{i})", i % 7),
                    1 => format!("fix: fix {i}"),
                    2 => format!("chore: chore {i}"),
                    _ => format!("misc change {i}"),
                };
                c(&format!("{i:040x}"), &msg, "@a")
            })
            .collect();
        let parsed = started.elapsed();
        let tags =
            vec![super::super::version::Tag::parse("v1.0.0", "v", Some("x".into())).unwrap()];
        let d = super::super::version::decide(&super::super::version::Input {
            tags: &tags,
            commits: &commits,
            label: None,
            channel: None,
            head: "h",
            rules: &Rules::default(),
        });
        let decided = started.elapsed();
        let cl = render_linked(&commits, "v1.1.0", Some("v1.0.0"), None);
        let rendered = started.elapsed();
        assert!(
            matches!(d, super::super::version::Decision::Release { ref version, .. } if version.to_string() == "1.1.0")
        );
        assert_eq!(cl.body.matches("\n- ").count(), 2500);
        println!(
            "5000 commits: parse {} ms, decide {} ms, render {} ms ({} bytes)",
            parsed.as_millis(),
            (decided - parsed).as_millis(),
            (rendered - decided).as_millis(),
            cl.section.len()
        );
    }

    #[test]
    fn commit_subjects_scopes_and_authors_are_text_not_markup() {
        let cl = render(
            &[c(
                "abcdef12",
                "fix(<b>x</b>): <img src=x onerror=alert(1)> [l](javascript:alert(1)) | `t` <!-- stevedore:publish -->",
                "<script>",
            )],
            &Rules::default(),
            &Links { repo_url: None },
            "v0.1.1",
            None,
            None,
        );
        assert!(
            cl.body.starts_with("### Bug Fixes\n\n- **&lt;b&gt;x&lt;/b&gt;:** &lt;img src=x onerror=alert(1)&gt; &#91;l&#93;(javascript:alert(1)) &#124; &#96;t&#96; &lt;!-- stevedore:publish --&gt; ("),
            "{}",
            cl.body
        );
        assert!(cl.body.contains(" by &lt;script&gt;\n"), "{}", cl.body);
        assert!(!cl.body.contains('<'), "{}", cl.body);
    }

    #[test]
    fn nothing_user_facing_and_no_links() {
        let cl = render(
            &[c("abcdef12", "chore: x", "@a")],
            &Rules::default(),
            &Links { repo_url: None },
            "v0.1.0",
            None,
            None,
        );
        assert_eq!(cl.section, "## v0.1.0\n\n_No user-facing changes._\n");
    }

    #[test]
    fn reverts_in_range_vanish_and_other_reverts_are_listed() {
        let commits = vec![
            c("aaaaaaa1", "feat: x", "@a"),
            c(
                "bbbbbbb2",
                "revert: feat: x\n\nThis reverts commit aaaaaaa1.",
                "@a",
            ),
            c(
                "ccccccc3",
                "Revert \"fix: old\"\n\nThis reverts commit 9999999.",
                "@b",
            ),
        ];
        let cl = render(
            &commits,
            &Rules::default(),
            &Links { repo_url: None },
            "v1.0.1",
            None,
            None,
        );
        assert_eq!(
            cl.body,
            "### Reverts\n\n- revert \"fix: old\" (ccccccc) by @b\n"
        );
    }
}
