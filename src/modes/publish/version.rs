//! The version rules: from tags, commits and a release label to the next version. Pure.
//!
//! Precedence: a `release:major|minor|patch|skip` label on the merged pull request first, then the commits.
//! Stable releases bump the highest stable tag. A prerelease channel (`dev`) bumps the highest stable tag the
//! same way and appends `-<channel>.N`, N = the highest existing N for that base version + 1, read from the tags
//! themselves (not from git notes or a counter file), so two runs never reuse one: the second one's create
//! fails on the existing ref and it recomputes. A tag of the same kind already pointing at the head commit
//! means this is a re-run: that version is completed rather than a new one cut.

use std::collections::BTreeMap;
use std::fmt;

use semver::{Prerelease, Version};

use crate::conventional::{self, Kind};

/// How much a change moves the version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Bump {
    None,
    Patch,
    Minor,
    Major,
}

impl Bump {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Bump::None => "none",
            Bump::Patch => "patch",
            Bump::Minor => "minor",
            Bump::Major => "major",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Bump> {
        [Bump::None, Bump::Patch, Bump::Minor, Bump::Major]
            .into_iter()
            .find(|b| b.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

impl fmt::Display for Bump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The configurable rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rules {
    /// Commit type -> bump. Types not listed bump nothing.
    pub types: BTreeMap<String, Bump>,
    /// What a breaking change does while the major version is 0 (`Minor` by default: 0.x rule).
    pub breaking_below_1: Bump,
    /// The first version when there is no release tag yet.
    pub initial: Version,
}

impl Default for Rules {
    fn default() -> Self {
        let types = [
            ("feat", Bump::Minor),
            ("fix", Bump::Patch),
            ("perf", Bump::Patch),
            ("revert", Bump::Patch),
        ]
        .into_iter()
        .map(|(t, b)| (t.to_owned(), b))
        .collect();
        Self {
            types,
            breaking_below_1: Bump::Minor,
            initial: Version::new(0, 1, 0),
        }
    }
}

/// A release label on the merged pull request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Label {
    Bump(Bump),
    Skip,
}

impl Label {
    /// The release label among `labels` (`<prefix>major|minor|patch|skip`). Two different ones are an error.
    pub fn find(labels: &[String], prefix: &str) -> Result<Option<(Label, String)>, String> {
        let mut found: Vec<(Label, String)> = Vec::new();
        for l in labels {
            let Some(rest) = l.strip_prefix(prefix) else {
                continue;
            };
            let label = match rest.trim().to_ascii_lowercase().as_str() {
                "major" => Label::Bump(Bump::Major),
                "minor" => Label::Bump(Bump::Minor),
                "patch" => Label::Bump(Bump::Patch),
                "skip" => Label::Skip,
                _ => continue,
            };
            if !found.iter().any(|(f, _)| *f == label) {
                found.push((label, l.clone()));
            }
        }
        match found.len() {
            0 => Ok(None),
            1 => Ok(found.pop()),
            _ => Err(format!(
                "the pull request has conflicting release labels {}",
                found
                    .iter()
                    .map(|(_, n)| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }
}

/// A release tag with its parsed version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tag {
    pub name: String,
    pub version: Version,
    /// The commit it points at, when known (annotated tags are resolved only where it matters).
    pub commit: Option<String>,
}

impl Tag {
    /// Parses `<prefix><semver>`; `None` for tags that are not release tags.
    #[must_use]
    pub fn parse(name: &str, prefix: &str, commit: Option<String>) -> Option<Tag> {
        let v = Version::parse(name.strip_prefix(prefix)?).ok()?;
        Some(Tag {
            name: name.to_owned(),
            version: v,
            commit,
        })
    }
}

/// `channel.N` of a prerelease version, if it has that shape.
#[must_use]
pub fn channel_counter(v: &Version) -> Option<(&str, u64)> {
    let (ch, n) = v.pre.as_str().rsplit_once('.')?;
    Some((ch, n.parse().ok()?))
}

/// One commit of the range, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Commit {
    pub sha: String,
    pub message: conventional::Message,
    /// `@login` when GitHub knows the author, else the git author name.
    pub author: Option<String>,
}

impl Commit {
    #[must_use]
    pub fn new(sha: &str, message: &str, author: Option<String>) -> Self {
        Self {
            sha: sha.to_owned(),
            message: conventional::parse(message),
            author,
        }
    }
}

/// The commits that count: reverts whose reverted commit is in the same range cancel out with it.
#[must_use]
pub fn effective(commits: &[Commit]) -> Vec<&Commit> {
    let mut dropped = vec![false; commits.len()];
    for (i, c) in commits.iter().enumerate() {
        let Kind::Revert(r) = &c.message.kind else {
            continue;
        };
        let target = commits.iter().enumerate().position(|(j, o)| {
            j != i
                && !dropped[j]
                && match &r.sha {
                    Some(sha) => o.sha.starts_with(sha.as_str()),
                    None => o.message.header == r.header,
                }
        });
        if let Some(j) = target {
            dropped[i] = true;
            dropped[j] = true;
        }
    }
    commits
        .iter()
        .zip(dropped)
        .filter_map(|(c, d)| (!d).then_some(c))
        .collect()
}

/// What one commit asks for under `rules` (breaking is `Major` here; the 0.x rule applies later).
#[must_use]
pub fn commit_bump(c: &Commit, rules: &Rules) -> Bump {
    match &c.message.kind {
        Kind::Conventional(cc) if cc.breaking => Bump::Major,
        Kind::Conventional(cc) => rules.types.get(&cc.ty).copied().unwrap_or(Bump::None),
        Kind::Revert(_) => rules.types.get("revert").copied().unwrap_or(Bump::None),
        Kind::Merge | Kind::Other => Bump::None,
    }
}

/// Applies `bump` to `v` (dropping any prerelease). `zero_rule`: a major bump below 1.0 becomes `breaking_below_1`.
#[must_use]
pub fn apply(v: &Version, bump: Bump, zero_rule: Option<Bump>) -> Version {
    let bump = match (bump, zero_rule) {
        (Bump::Major, Some(b)) if v.major == 0 => b,
        (b, _) => b,
    };
    match bump {
        Bump::Major => Version::new(v.major + 1, 0, 0),
        Bump::Minor => Version::new(v.major, v.minor + 1, 0),
        Bump::Patch => Version::new(v.major, v.minor, v.patch + 1),
        Bump::None => Version::new(v.major, v.minor, v.patch),
    }
}

/// Everything the decision needs.
#[derive(Clone, Debug)]
pub struct Input<'a> {
    pub tags: &'a [Tag],
    /// Commits since the last stable tag (all reachable commits for a first release), oldest first.
    pub commits: &'a [Commit],
    /// The release label and its name, with the pull request it came from.
    pub label: Option<(Label, String, u64)>,
    /// The prerelease channel; `None` for a stable release.
    pub channel: Option<&'a str>,
    pub head: &'a str,
    pub rules: &'a Rules,
}

/// The outcome of the rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Release {
        version: Version,
        previous: Option<Version>,
        /// A tag for `version` already points at the head commit: complete that release.
        rerun: bool,
        /// Why, one sentence per line.
        why: Vec<String>,
    },
    Skip {
        previous: Option<Version>,
        why: Vec<String>,
    },
}

/// The highest stable tag, ignoring `except`.
fn last_stable<'t>(tags: &'t [Tag], except: Option<&Tag>) -> Option<&'t Tag> {
    tags.iter()
        .filter(|t| t.version.pre.is_empty() && Some(*t) != except)
        .max_by(|a, b| a.version.cmp(&b.version))
}

/// The tag of this run's kind (stable or this channel) that already points at `head`, if any.
#[must_use]
pub fn rerun_tag<'t>(tags: &'t [Tag], channel: Option<&str>, head: &str) -> Option<&'t Tag> {
    tags.iter()
        .filter(|t| t.commit.as_deref() == Some(head))
        .filter(|t| match channel {
            None => t.version.pre.is_empty(),
            Some(ch) => channel_counter(&t.version).is_some_and(|(c, _)| c == ch),
        })
        .max_by(|a, b| a.version.cmp(&b.version))
}

/// The previous version for the changelog: the highest stable or same-channel version below `v`.
#[must_use]
pub fn previous<'t>(tags: &'t [Tag], channel: Option<&str>, v: &Version) -> Option<&'t Tag> {
    tags.iter()
        .filter(|t| &t.version < v)
        .filter(|t| {
            t.version.pre.is_empty()
                || channel
                    .is_some_and(|ch| channel_counter(&t.version).is_some_and(|(c, _)| c == ch))
        })
        .max_by(|a, b| a.version.cmp(&b.version))
}

/// The last stable release this run bumps from (ignoring a tag this very run already made at `head`).
#[must_use]
pub fn base_tag<'t>(tags: &'t [Tag], channel: Option<&str>, head: &str) -> Option<&'t Tag> {
    let rerun = rerun_tag(tags, channel, head);
    last_stable(tags, rerun.filter(|_| channel.is_none()))
}

/// Applies the rules.
#[must_use]
pub fn decide(i: &Input<'_>) -> Decision {
    let mut why = Vec::new();
    if let Some(t) = rerun_tag(i.tags, i.channel, i.head) {
        let prev = previous(i.tags, i.channel, &t.version).map(|p| p.version.clone());
        why.push(format!(
            "tag `{}` already points at the head commit: completing that release (re-run)",
            t.name
        ));
        return Decision::Release {
            version: t.version.clone(),
            previous: prev,
            rerun: true,
            why,
        };
    }
    let stable = last_stable(i.tags, None);
    let prev_for = |v: &Version| previous(i.tags, i.channel, v).map(|p| p.version.clone());

    // 1. The label decides, if there is one.
    let (bump, from_label) = match &i.label {
        Some((Label::Skip, name, pr)) => {
            why.push(format!("label `{name}` on #{pr}: no release"));
            return Decision::Skip {
                previous: stable.map(|t| t.version.clone()),
                why,
            };
        }
        Some((Label::Bump(b), name, pr)) => {
            let from_commits = commits_bump(i.commits, i.rules, stable.map(|t| t.name.as_str()));
            why.push(format!(
                "label `{name}` on #{pr} asks for a {b} release (it takes precedence over the commits, which ask for {})",
                from_commits.0
            ));
            (*b, true)
        }
        None => {
            let (b, reason) = commits_bump(i.commits, i.rules, stable.map(|t| t.name.as_str()));
            why.push(reason);
            (b, false)
        }
    };
    if bump == Bump::None {
        why.push("nothing to release".to_owned());
        return Decision::Skip {
            previous: stable.map(|t| t.version.clone()),
            why,
        };
    }

    // 2. The stable base version.
    let base = match stable {
        None => {
            why.push(format!(
                "no release tag yet: the first release is the initial version {}",
                i.rules.initial
            ));
            let mut v = i.rules.initial.clone();
            v.pre = Prerelease::EMPTY;
            v
        }
        Some(t) => {
            let zero = (!from_label).then_some(i.rules.breaking_below_1);
            let v = apply(&t.version, bump, zero);
            if bump == Bump::Major && !from_label && t.version.major == 0 {
                why.push(format!(
                    "below 1.0 a breaking change bumps the {} version (0.x rule)",
                    i.rules.breaking_below_1
                ));
            }
            why.push(format!("{} + {bump} = {v}", t.version));
            v
        }
    };

    // 3. Stable, or the next counter of the channel.
    let version = match i.channel {
        None => base,
        Some(ch) => {
            let n = i
                .tags
                .iter()
                .filter(|t| {
                    (t.version.major, t.version.minor, t.version.patch)
                        == (base.major, base.minor, base.patch)
                })
                .filter_map(|t| channel_counter(&t.version))
                .filter(|(c, _)| *c == ch)
                .map(|(_, n)| n)
                .max()
                .unwrap_or(0)
                + 1;
            let mut v = base;
            v.pre = match Prerelease::new(&format!("{ch}.{n}")) {
                Ok(p) => p,
                Err(_) => Prerelease::EMPTY,
            };
            why.push(format!(
                "prerelease channel `{ch}`: counter {n} (highest existing `{ch}` tag for {}.{}.{} + 1)",
                v.major, v.minor, v.patch
            ));
            v
        }
    };
    Decision::Release {
        previous: prev_for(&version),
        version,
        rerun: false,
        why,
    }
}

/// The strongest bump the commits ask for, with the sentence explaining it.
#[must_use]
pub fn commits_bump(commits: &[Commit], rules: &Rules, since: Option<&str>) -> (Bump, String) {
    let since = since.map_or_else(|| "in the history".to_owned(), |t| format!("since `{t}`"));
    let eff = effective(commits);
    let cancelled = commits.len() - eff.len();
    let mut best: Option<(Bump, &Commit)> = None;
    let mut ignored = 0usize;
    for c in &eff {
        if matches!(c.message.kind, Kind::Other) {
            ignored += 1;
        }
        let b = commit_bump(c, rules);
        if b > Bump::None && best.is_none_or(|(bb, _)| b > bb) {
            best = Some((b, c));
        }
    }
    let mut notes = Vec::new();
    if ignored > 0 {
        notes.push(format!("{ignored} not conventional, ignored"));
    }
    if cancelled > 0 {
        notes.push(format!("{cancelled} cancelled out by reverts in the range"));
    }
    let notes = if notes.is_empty() {
        String::new()
    } else {
        format!(" ({})", notes.join("; "))
    };
    match best {
        Some((b, c)) => (
            b,
            format!(
                "{} commit(s) {since}{notes}; the strongest is `{}` ({}): {b}",
                commits.len(),
                c.message.header,
                short(&c.sha)
            ),
        ),
        None => (
            Bump::None,
            format!(
                "{} commit(s) {since}{notes}; none asks for a release",
                commits.len()
            ),
        ),
    }
}

/// The first 7 characters of a sha.
#[must_use]
pub fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "ffffffffffffffffffffffffffffffffffffffff";

    fn tags(spec: &[(&str, &str)]) -> Vec<Tag> {
        spec.iter()
            .map(|(n, c)| Tag::parse(n, "v", Some((*c).to_owned())).unwrap())
            .collect()
    }

    fn commits(msgs: &[&str]) -> Vec<Commit> {
        msgs.iter()
            .enumerate()
            .map(|(i, m)| Commit::new(&format!("{i:040x}"), m, None))
            .collect()
    }

    struct Case {
        name: &'static str,
        tags: &'static [(&'static str, &'static str)],
        commits: &'static [&'static str],
        label: Option<&'static str>,
        channel: Option<&'static str>,
        rules: fn() -> Rules,
        /// Expected version, or `None` for no release.
        want: Option<&'static str>,
        want_prev: Option<&'static str>,
    }

    fn default_rules() -> Rules {
        Rules::default()
    }

    fn strict_semver_rules() -> Rules {
        Rules {
            breaking_below_1: Bump::Major,
            initial: Version::new(1, 0, 0),
            ..Rules::default()
        }
    }

    fn docs_bump_patch() -> Rules {
        let mut r = Rules::default();
        r.types.insert("docs".into(), Bump::Patch);
        r
    }

    const CASES: &[Case] = &[
        Case {
            name: "first release, no tags: the initial version",
            tags: &[],
            commits: &["feat: start", "fix: typo"],
            label: None,
            channel: None,
            rules: default_rules,
            want: Some("0.1.0"),
            want_prev: None,
        },
        Case {
            name: "first release with a configured initial 1.0.0",
            tags: &[],
            commits: &["feat!: start"],
            label: None,
            channel: None,
            rules: strict_semver_rules,
            want: Some("1.0.0"),
            want_prev: None,
        },
        Case {
            name: "first release needs a releasable commit",
            tags: &[],
            commits: &["chore: init", "docs: readme"],
            label: None,
            channel: None,
            rules: default_rules,
            want: None,
            want_prev: None,
        },
        Case {
            name: "patch",
            tags: &[("v1.2.3", "a")],
            commits: &["fix: off by one", "chore: deps"],
            label: None,
            channel: None,
            rules: default_rules,
            want: Some("1.2.4"),
            want_prev: Some("1.2.3"),
        },
        Case {
            name: "perf is a patch",
            tags: &[("v1.2.3", "a")],
            commits: &["perf: faster"],
            label: None,
            channel: None,
            rules: default_rules,
            want: Some("1.2.4"),
            want_prev: Some("1.2.3"),
        },
        Case {
            name: "feat is a minor",
            tags: &[("v1.2.3", "a"), ("v1.1.0", "b")],
            commits: &["fix: a", "feat(cli): b"],
            label: None,
            channel: None,
            rules: default_rules,
            want: Some("1.3.0"),
            want_prev: Some("1.2.3"),
        },
        Case {
            name: "chore and docs release nothing",
            tags: &[("v1.2.3", "a")],
            commits: &["chore: a", "docs: b", "Update README"],
            label: None,
            channel: None,
            rules: default_rules,
            want: None,
            want_prev: Some("1.2.3"),
        },
        Case {
            name: "configurable rules: docs bumps patch",
            tags: &[("v1.2.3", "a")],
            commits: &["docs: b"],
            label: None,
            channel: None,
            rules: docs_bump_patch,
            want: Some("1.2.4"),
            want_prev: Some("1.2.3"),
        },
        Case {
            name: "breaking on 1.x is a major",
            tags: &[("v1.4.2", "a")],
            commits: &["fix: a", "feat: b\n\nBREAKING CHANGE: config renamed"],
            label: None,
            channel: None,
            rules: default_rules,
            want: Some("2.0.0"),
            want_prev: Some("1.4.2"),
        },
        Case {
            name: "feat! is honoured",
            tags: &[("v1.4.2", "a")],
            commits: &["feat!: new format"],
            label: None,
            channel: None,
            rules: default_rules,
            want: Some("2.0.0"),
            want_prev: Some("1.4.2"),
        },
        Case {
            name: "breaking on 0.x is a minor (0.x rule)",
            tags: &[("v0.3.1", "a")],
            commits: &["feat(api)!: drop v1"],
            label: None,
            channel: None,
            rules: default_rules,
            want: Some("0.4.0"),
            want_prev: Some("0.3.1"),
        },
        Case {
            name: "breaking on 0.x with the 0.x rule off is a major",
            tags: &[("v0.3.1", "a")],
            commits: &["fix!: strict"],
            label: None,
            channel: None,
            rules: strict_semver_rules,
            want: Some("1.0.0"),
            want_prev: Some("0.3.1"),
        },
        Case {
            name: "label overrides the commits (downwards)",
            tags: &[("v1.2.3", "a")],
            commits: &["feat!: big"],
            label: Some("release:patch"),
            channel: None,
            rules: default_rules,
            want: Some("1.2.4"),
            want_prev: Some("1.2.3"),
        },
        Case {
            name: "label overrides the commits (upwards, even with nothing releasable)",
            tags: &[("v1.2.3", "a")],
            commits: &["chore: a"],
            label: Some("release:minor"),
            channel: None,
            rules: default_rules,
            want: Some("1.3.0"),
            want_prev: Some("1.2.3"),
        },
        Case {
            name: "label release:major leaves 0.x (the 0.x rule is for commits only)",
            tags: &[("v0.9.0", "a")],
            commits: &["feat: done"],
            label: Some("release:major"),
            channel: None,
            rules: default_rules,
            want: Some("1.0.0"),
            want_prev: Some("0.9.0"),
        },
        Case {
            name: "label release:skip",
            tags: &[("v1.2.3", "a")],
            commits: &["feat!: big"],
            label: Some("release:skip"),
            channel: None,
            rules: default_rules,
            want: None,
            want_prev: Some("1.2.3"),
        },
        Case {
            name: "first prerelease on dev",
            tags: &[("v1.2.0", "a")],
            commits: &["feat: x"],
            label: None,
            channel: Some("dev"),
            rules: default_rules,
            want: Some("1.3.0-dev.1"),
            want_prev: Some("1.2.0"),
        },
        Case {
            name: "second prerelease in a row: counter from the tags, base kept by the earlier feat",
            tags: &[("v1.2.0", "a"), ("v1.3.0-dev.1", "b")],
            commits: &["feat: x", "fix: y"],
            label: None,
            channel: Some("dev"),
            rules: default_rules,
            want: Some("1.3.0-dev.2"),
            want_prev: Some("1.3.0-dev.1"),
        },
        Case {
            name: "counter is max + 1, not count + 1 (a gap from a deleted tag is not reused)",
            tags: &[
                ("v1.2.0", "a"),
                ("v1.3.0-dev.1", "b"),
                ("v1.3.0-dev.4", "c"),
            ],
            commits: &["feat: x"],
            label: None,
            channel: Some("dev"),
            rules: default_rules,
            want: Some("1.3.0-dev.5"),
            want_prev: Some("1.3.0-dev.4"),
        },
        Case {
            name: "other channels do not share the counter",
            tags: &[("v1.2.0", "a"), ("v1.3.0-beta.7", "b")],
            commits: &["feat: x"],
            label: None,
            channel: Some("dev"),
            rules: default_rules,
            want: Some("1.3.0-dev.1"),
            want_prev: Some("1.2.0"),
        },
        Case {
            name: "prerelease after a stable release starts a new base at 1",
            tags: &[
                ("v1.2.0", "a"),
                ("v1.3.0-dev.1", "b"),
                ("v1.3.0-dev.2", "c"),
                ("v1.3.0", "d"),
            ],
            commits: &["fix: after"],
            label: None,
            channel: Some("dev"),
            rules: default_rules,
            want: Some("1.3.1-dev.1"),
            want_prev: Some("1.3.0"),
        },
        Case {
            name: "stable after prereleases ignores them for the base",
            tags: &[
                ("v1.2.0", "a"),
                ("v1.3.0-dev.1", "b"),
                ("v1.3.0-dev.2", "c"),
            ],
            commits: &["feat: x", "fix: y"],
            label: None,
            channel: None,
            rules: default_rules,
            want: Some("1.3.0"),
            want_prev: Some("1.2.0"),
        },
        Case {
            name: "a revert of a commit in the range cancels both",
            tags: &[("v1.2.0", "a")],
            commits: &[
                "feat: x",
                "Revert \"feat: x\"\n\nThis reverts commit 0000000000000000000000000000000000000000.",
                "fix: y",
            ],
            label: None,
            channel: None,
            rules: default_rules,
            want: Some("1.2.1"),
            want_prev: Some("1.2.0"),
        },
        Case {
            name: "a revert of something already released is a patch",
            tags: &[("v1.2.0", "a")],
            commits: &["revert: feat: x\n\nThis reverts commit abcdef1234."],
            label: None,
            channel: None,
            rules: default_rules,
            want: Some("1.2.1"),
            want_prev: Some("1.2.0"),
        },
        Case {
            name: "merge commits never bump",
            tags: &[("v1.2.0", "a")],
            commits: &["Merge pull request #3 from o/feat\n\nfeat: x"],
            label: None,
            channel: None,
            rules: default_rules,
            want: None,
            want_prev: Some("1.2.0"),
        },
        Case {
            name: "re-run: a stable tag at the head is completed, not bumped again",
            tags: &[("v1.2.0", "a"), ("v1.3.0", HEAD)],
            commits: &["feat: x"],
            label: None,
            channel: None,
            rules: default_rules,
            want: Some("1.3.0"),
            want_prev: Some("1.2.0"),
        },
        Case {
            name: "re-run of a prerelease reuses its tag at the head",
            tags: &[
                ("v1.2.0", "a"),
                ("v1.3.0-dev.1", "b"),
                ("v1.3.0-dev.2", HEAD),
            ],
            commits: &["feat: x"],
            label: None,
            channel: Some("dev"),
            rules: default_rules,
            want: Some("1.3.0-dev.2"),
            want_prev: Some("1.3.0-dev.1"),
        },
    ];

    #[test]
    fn version_rules() {
        for c in CASES {
            let tags = tags(c.tags);
            let commits = commits(c.commits);
            let rules = (c.rules)();
            let label = c.label.map(|l| {
                let (lab, name) = Label::find(&[l.to_owned()], "release:").unwrap().unwrap();
                (lab, name, 12)
            });
            let d = decide(&Input {
                tags: &tags,
                commits: &commits,
                label,
                channel: c.channel,
                head: HEAD,
                rules: &rules,
            });
            let (got, prev) = match &d {
                Decision::Release {
                    version, previous, ..
                } => (Some(version.to_string()), previous.clone()),
                Decision::Skip { previous, .. } => (None, previous.clone()),
            };
            assert_eq!(got.as_deref(), c.want, "{}: {d:?}", c.name);
            assert_eq!(
                prev.map(|v| v.to_string()).as_deref(),
                c.want_prev,
                "{} (previous): {d:?}",
                c.name
            );
        }
    }

    #[test]
    fn conflicting_labels_are_an_error_and_duplicates_are_not() {
        let ls = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(
            Label::find(&ls(&["release:major", "release:skip"]), "release:")
                .unwrap_err()
                .contains("`release:major`, `release:skip`")
        );
        assert_eq!(
            Label::find(&ls(&["bug", "release:minor"]), "release:").unwrap(),
            Some((Label::Bump(Bump::Minor), "release:minor".into()))
        );
        assert_eq!(
            Label::find(&ls(&["release:later"]), "release:").unwrap(),
            None
        );
    }

    #[test]
    fn the_why_names_the_deciding_commit() {
        let tags = tags(&[("v1.0.0", "a")]);
        let commits = commits(&["fix: a", "feat(x): b", "misc"]);
        let Decision::Release { why, .. } = decide(&Input {
            tags: &tags,
            commits: &commits,
            label: None,
            channel: None,
            head: HEAD,
            rules: &Rules::default(),
        }) else {
            panic!()
        };
        assert!(why[0].contains("`feat(x): b`"), "{why:?}");
        assert!(why[0].contains("1 not conventional"), "{why:?}");
        assert_eq!(why[1], "1.0.0 + minor = 1.1.0");
    }

    #[test]
    fn tags_without_the_prefix_or_semver_are_not_releases() {
        assert!(Tag::parse("v1.2", "v", None).is_none());
        assert!(Tag::parse("1.2.0", "v", None).is_none());
        assert!(Tag::parse("app-v1.2.0", "app-v", None).is_some());
    }
}
