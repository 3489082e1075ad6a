//! The plan of one publish run and how it reads in the report. Pure.

use std::fmt::Write as _;

use semver::Version;

use super::changelog::Changelog;
use crate::report::markdown;

/// What happened to the tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TagOutcome {
    Created,
    /// It was already there at the head commit (a re-run).
    Existed,
}

/// What happened to the release.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReleaseOutcome {
    pub url: String,
    pub created: bool,
}

/// What happened to the floating tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FloatOutcome {
    Created,
    Moved,
    AlreadyThere,
}

/// Bytes of changelog shown in the summary (the check-run summary holds 65,535 in all).
const SUMMARY_CHANGELOG_MAX: usize = 50_000;

/// What this run will do (or would do, under `dry-run`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub head: String,
    pub branch: String,
    /// `None` for a stable release.
    pub channel: Option<String>,
    pub decision: Decided,
    /// Why, one sentence per line.
    pub why: Vec<String>,
    /// Notes that do not change the decision (PR lookups, truncated history).
    pub notes: Vec<String>,
}

/// The decision part of a plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decided {
    Release {
        version: Version,
        tag: String,
        previous: Option<Version>,
        previous_tag: Option<String>,
        changelog: Changelog,
        /// A tag at the head already exists: complete that release.
        rerun: bool,
        /// `v1` to move, when `floating-tag` is on and this is a stable release.
        floating: Option<String>,
        /// The ECR image to tag with `tag` (`promote-image`), as given.
        image: Option<String>,
    },
    Skip {
        previous: Option<Version>,
        previous_tag: Option<String>,
    },
}

/// What apply did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    pub tag: TagOutcome,
    pub release: ReleaseOutcome,
    pub floating: Option<(String, FloatOutcome)>,
    pub image: Option<super::ecr::PromoteOutcome>,
    /// The package files (`packages`), uploaded or already there.
    pub packages: Vec<super::upload::Published>,
}

impl Plan {
    /// The step outputs: version, previous-version, tag, release-url, released, changelog.
    #[must_use]
    pub fn outputs(&self, applied: Option<&Applied>) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut put = |k: &str, v: String| out.push((k.to_owned(), v));
        let (Decided::Release { previous, .. } | Decided::Skip { previous, .. }) = &self.decision;
        let previous = previous
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        match &self.decision {
            Decided::Release {
                version,
                tag,
                changelog,
                ..
            } => {
                put("version", version.to_string());
                put("previous-version", previous);
                put("tag", tag.clone());
                put(
                    "release-url",
                    applied.map(|a| a.release.url.clone()).unwrap_or_default(),
                );
                put("released", applied.is_some().to_string());
                put("changelog", changelog.section.clone());
                put(
                    "packages",
                    serde_json::Value::Array(
                        applied
                            .map(|a| a.packages.iter().map(|p| p.to_json()).collect())
                            .unwrap_or_default(),
                    )
                    .to_string(),
                );
            }
            Decided::Skip { .. } => {
                put("version", String::new());
                put("previous-version", previous);
                put("tag", String::new());
                put("release-url", String::new());
                put("released", "false".into());
                put("changelog", String::new());
                put("packages", "[]".into());
            }
        }
        out
    }

    /// A one-line title.
    #[must_use]
    pub fn title(&self, applied: Option<&Applied>, dry_run: bool) -> String {
        match (&self.decision, applied) {
            (Decided::Skip { .. }, _) => "no release".into(),
            (Decided::Release { tag, .. }, Some(_)) => format!("released {tag}"),
            (Decided::Release { tag, .. }, None) if dry_run => {
                format!("would release {tag} (dry run)")
            }
            (Decided::Release { tag, .. }, None) => format!("{tag} not released"),
        }
    }

    /// The Markdown summary: the plan, why, what was done, the changelog.
    #[must_use]
    pub fn summary(&self, applied: Option<&Applied>, dry_run: bool) -> String {
        let emoji = match (&self.decision, applied) {
            (Decided::Skip { .. }, _) => "⏭️",
            (_, Some(_)) => "🚀",
            (_, None) => "📝",
        };
        let mut s = format!("## {emoji} publish: {}\n\n", self.title(applied, dry_run));
        let channel = self
            .channel
            .as_deref()
            .map_or_else(|| "stable".to_owned(), |c| format!("prerelease `{c}`"));
        let mut rows = vec![
            vec!["branch".into(), format!("`{}` ({channel})", self.branch)],
            vec!["commit".into(), format!("`{}`", self.head)],
        ];
        match &self.decision {
            Decided::Release {
                version,
                tag,
                previous,
                previous_tag,
                rerun,
                floating,
                image,
                ..
            } => {
                rows.push(vec!["version".into(), format!("**{version}**")]);
                rows.push(vec![
                    "previous".into(),
                    match (previous, previous_tag) {
                        (Some(v), Some(t)) => format!("{v} (`{t}`)"),
                        _ => "none (first release)".into(),
                    },
                ]);
                let tag_state = match applied.map(|a| a.tag) {
                    Some(TagOutcome::Created) => "created",
                    Some(TagOutcome::Existed) => "already there at this commit",
                    None if *rerun => "already there at this commit",
                    None => "to create",
                };
                rows.push(vec!["tag".into(), format!("`{tag}` ({tag_state})")]);
                rows.push(vec![
                    "release".into(),
                    match applied {
                        Some(a) if a.release.created => format!("[created]({})", a.release.url),
                        Some(a) => format!("[updated]({})", a.release.url),
                        None => "to create or update".into(),
                    },
                ]);
                if let Some(f) = floating {
                    let st = match applied.and_then(|a| a.floating.as_ref()).map(|(_, o)| *o) {
                        Some(FloatOutcome::Created) => "created",
                        Some(FloatOutcome::Moved) => "moved",
                        Some(FloatOutcome::AlreadyThere) => "already here",
                        None => "to move",
                    };
                    rows.push(vec!["floating tag".into(), format!("`{f}` ({st})")]);
                }
                if let Some(i) = image {
                    let st = match applied.and_then(|a| a.image.as_ref()) {
                        Some(super::ecr::PromoteOutcome::Tagged { digest }) => {
                            format!("tagged `{tag}` at `{digest}`")
                        }
                        Some(super::ecr::PromoteOutcome::AlreadyTagged { digest }) => {
                            format!("`{tag}` already at `{digest}`")
                        }
                        None => format!("to tag `{tag}`"),
                    };
                    rows.push(vec!["ECR image".into(), format!("`{i}` ({st})")]);
                }
            }
            Decided::Skip {
                previous,
                previous_tag,
            } => rows.push(vec![
                "last release".into(),
                match (previous, previous_tag) {
                    (Some(v), Some(t)) => format!("{v} (`{t}`)"),
                    _ => "none".into(),
                },
            ]),
        }
        s.push_str(&markdown::table(&["", ""], &rows));
        if let Some(a) = applied.filter(|a| !a.packages.is_empty()) {
            s.push_str("\n**Packages**\n\n");
            let rows: Vec<Vec<String>> = a
                .packages
                .iter()
                .map(|p| {
                    vec![
                        format!("`{}`", p.file),
                        format!("[{} {}]({})", p.name, p.version, p.link),
                        format!("`{}`", p.registry),
                        p.dist_tag
                            .as_ref()
                            .map_or_else(String::new, |t| format!("`{t}`")),
                        format!("{} B", p.size),
                        format!("`{}`", p.sha256),
                        match p.outcome {
                            super::upload::Outcome::Uploaded => "uploaded".into(),
                            super::upload::Outcome::AlreadyThere => {
                                "already there (same content), skipped".into()
                            }
                            super::upload::Outcome::ToUpload => "not uploaded".into(),
                        },
                    ]
                })
                .collect();
            s.push_str(&markdown::table(
                &[
                    "file", "package", "registry", "dist-tag", "size", "sha256", "",
                ],
                &rows,
            ));
        }
        s.push_str("\n**Why**\n\n");
        // Reasons quote commit headers and labels: untrusted text.
        for w in &self.why {
            let _ = writeln!(s, "- {}", markdown::sentence(w));
        }
        for n in &self.notes {
            let _ = writeln!(s, "- _{}_", markdown::sentence(n));
        }
        if dry_run {
            s.push_str("\n_Dry run: nothing was written._\n");
        }
        if let Decided::Release { changelog, .. } = &self.decision {
            s.push('\n');
            s.push_str(&markdown::details(
                "Changelog",
                &crate::report::truncate_with_note(
                    &changelog.section,
                    SUMMARY_CHANGELOG_MAX,
                    "the whole changelog is in the step output `changelog` and the release body.",
                ),
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        Plan {
            head: "abc".into(),
            branch: "main".into(),
            channel: None,
            decision: Decided::Release {
                version: Version::new(1, 3, 0),
                tag: "v1.3.0".into(),
                previous: Some(Version::new(1, 2, 0)),
                previous_tag: Some("v1.2.0".into()),
                changelog: Changelog {
                    section: "## v1.3.0\n\n### Features\n\n- x\n".into(),
                    body: "### Features\n\n- x\n".into(),
                },
                rerun: false,
                floating: Some("v1".into()),
                image: None,
            },
            why: vec!["1.2.0 + minor = 1.3.0".into()],
            notes: vec![],
        }
    }

    #[test]
    fn dry_run_outputs_say_not_released_and_summary_has_the_plan() {
        let p = plan();
        let out = p.outputs(None);
        let get = |k: &str| out.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("version"), Some("1.3.0"));
        assert_eq!(get("previous-version"), Some("1.2.0"));
        assert_eq!(get("released"), Some("false"));
        assert_eq!(get("release-url"), Some(""));
        let s = p.summary(None, true);
        assert!(s.contains("would release v1.3.0 (dry run)"), "{s}");
        assert!(s.contains("| tag | `v1.3.0` (to create) |"), "{s}");
        assert!(s.contains("| floating tag | `v1` (to move) |"), "{s}");
        assert!(s.contains("- 1.2.0 + minor = 1.3.0"), "{s}");
        assert!(s.contains("### Features"), "{s}");
    }

    /// What applying the plan did: the release created at `https://x/r`, no image.
    fn applied(
        tag: TagOutcome,
        floating: Option<(String, FloatOutcome)>,
        packages: Vec<super::super::upload::Published>,
    ) -> Applied {
        Applied {
            tag,
            release: ReleaseOutcome {
                url: "https://x/r".into(),
                created: true,
            },
            floating,
            image: None,
            packages,
        }
    }

    #[test]
    fn applied_outputs_carry_the_url() {
        let p = plan();
        let a = applied(
            TagOutcome::Existed,
            Some(("v1".into(), FloatOutcome::Moved)),
            vec![],
        );
        let out = p.outputs(Some(&a));
        assert!(out.contains(&("released".into(), "true".into())));
        assert!(out.contains(&("release-url".into(), "https://x/r".into())));
        let s = p.summary(Some(&a), false);
        assert!(s.contains("already there at this commit"), "{s}");
        assert!(s.contains("[created](https://x/r)"), "{s}");
        assert!(s.contains("`v1` (moved)"), "{s}");
    }

    #[test]
    fn packages_are_reported_per_file_and_as_json_output() {
        use super::super::upload::{Outcome, Published};
        let p = plan();
        let a = applied(
            TagOutcome::Created,
            None,
            vec![
                Published {
                    name: "@acme/lib".into(),
                    version: "1.3.0".into(),
                    file: "dist/acme-lib-1.3.0.tgz".into(),
                    registry: "https://registry.npmjs.org/".into(),
                    link: "https://www.npmjs.com/package/@acme/lib/v/1.3.0".into(),
                    size: 1234,
                    sha256: "ab".repeat(32),
                    dist_tag: Some("latest".into()),
                    outcome: Outcome::Uploaded,
                },
                Published {
                    name: "acme".into(),
                    version: "1.3.0".into(),
                    file: "py/dist/acme-1.3.0.tar.gz".into(),
                    registry: "https://upload.pypi.org/legacy/".into(),
                    link: "https://pypi.org/project/acme/1.3.0/".into(),
                    size: 99,
                    sha256: "cd".repeat(32),
                    dist_tag: None,
                    outcome: Outcome::AlreadyThere,
                },
            ],
        );
        let s = p.summary(Some(&a), false);
        assert!(
            s.contains(&format!(
                "| `dist/acme-lib-1.3.0.tgz` | [@acme/lib 1.3.0](https://www.npmjs.com/package/@acme/lib/v/1.3.0) | `https://registry.npmjs.org/` | `latest` | 1234 B | `{}` | uploaded |",
                "ab".repeat(32)
            )),
            "{s}"
        );
        assert!(s.contains("already there (same content), skipped"), "{s}");
        let out = p.outputs(Some(&a));
        let json = &out.iter().find(|(k, _)| k == "packages").unwrap().1;
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(v[0]["outcome"], "uploaded");
        assert_eq!(v[0]["size"], 1234);
        assert_eq!(v[0]["dist-tag"], "latest");
        assert_eq!(v[1]["outcome"], "already-there");
        assert_eq!(v[1]["dist-tag"], serde_json::Value::Null);
        assert_eq!(v[1]["url"], "https://pypi.org/project/acme/1.3.0/");
        // No packages: an empty list, and no table.
        let out = p.outputs(None);
        assert!(out.contains(&("packages".into(), "[]".into())));
        assert!(!p.summary(None, true).contains("**Packages**"));
    }
}
