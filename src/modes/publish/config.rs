//! Inputs of `publish` mode.

use crate::inputs::Input;
use globset::{Glob, GlobMatcher};
use semver::Version;

use super::ecr::ImageRef;
use super::packages::PackageInputs;
use super::version::{Bump, Rules};
use crate::aws::AwsInputs;
use crate::inputs::{Inputs, split_list};

/// A branch pattern and the prerelease channel it publishes to.
#[derive(Clone, Debug)]
pub struct Channel {
    pub pattern: String,
    matcher: GlobMatcher,
    pub channel: String,
}

/// Inputs of this mode.
#[derive(Clone, Debug)]
pub struct Config {
    /// `tag-prefix`: release tags are `<prefix><semver>`.
    pub tag_prefix: String,
    /// `release-branches`: globs of branches that cut stable releases.
    pub release_branches: Vec<(String, GlobMatcher)>,
    /// `prerelease-branches`: `branch=channel` pairs.
    pub channels: Vec<Channel>,
    /// `bump-rules`, `breaking-below-1`, `initial-version`.
    pub rules: Rules,
    /// `release-label-prefix`.
    pub label_prefix: String,
    /// `floating-tag`: also move `<prefix><major>` to each stable release.
    pub floating_tag: bool,
    /// `promote-image`: the ECR image to tag with the release tag, by digest.
    pub promote_image: Option<Box<ImageRef>>,
    /// The AWS inputs, read only when an image is to be promoted.
    pub aws: Option<Box<AwsInputs>>,
    /// `packages` and the registry inputs.
    pub packages: Box<PackageInputs>,
}

impl Default for Config {
    fn default() -> Self {
        let glob = |g: &str| Glob::new(g).map(|g| g.compile_matcher());
        Self {
            tag_prefix: "v".into(),
            release_branches: glob("main")
                .map(|m| vec![("main".to_owned(), m)])
                .unwrap_or_default(),
            channels: glob("dev")
                .map(|m| {
                    vec![Channel {
                        pattern: "dev".into(),
                        matcher: m,
                        channel: "dev".into(),
                    }]
                })
                .unwrap_or_default(),
            rules: Rules::default(),
            label_prefix: "release:".into(),
            floating_tag: false,
            promote_image: None,
            aws: None,
            packages: Box::new(PackageInputs::default()),
        }
    }
}

/// What kind of release a branch makes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BranchKind {
    Stable,
    Channel(String),
    /// Neither a release branch nor a prerelease channel.
    None,
}

impl Config {
    /// Reads this mode's inputs, collecting every error.
    pub fn parse(p: &mut Inputs<'_>) -> Self {
        let d = Self::default();
        let tag_prefix = p.string(Input::TagPrefix).unwrap_or(d.tag_prefix);
        if tag_prefix.contains(['~', '^', ':', '?', '*', '[', '\\', ' '])
            || tag_prefix.contains("..")
        {
            p.error(
                Input::TagPrefix,
                Some(&tag_prefix),
                "contains characters git does not allow in a tag name",
                "Use letters, digits, `-`, `_`, `.` or `/`, e.g. `tag-prefix: v` or `tag-prefix: app-v`",
            );
        }

        let release_branches = match p.string(Input::ReleaseBranches) {
            None => d.release_branches,
            Some(v) => split_list(&v)
                .into_iter()
                .filter_map(|g| match Glob::new(&g) {
                    Ok(m) => Some((g, m.compile_matcher())),
                    Err(e) => {
                        p.error(
                            Input::ReleaseBranches,
                            Some(&g),
                            format!("is not a valid glob: {e}"),
                            "e.g. `release-branches: main` or `release-branches: main, release/*`",
                        );
                        None
                    }
                })
                .collect(),
        };

        // `prerelease-branches: ""` turns prereleases off (the runner passes the default `dev=dev` only
        // when the input is omitted).
        let channels = match p.string_or_blank(Input::PrereleaseBranches) {
            None => d.channels,
            Some(v) if v.is_empty() => Vec::new(),
            Some(v) => split_list(&v)
                .into_iter()
                .filter_map(|item| match parse_channel(&item) {
                    Ok(c) => Some(c),
                    Err(problem) => {
                        p.error(
                            Input::PrereleaseBranches,
                            Some(&item),
                            problem,
                            "Use `branch=channel` items, e.g. `prerelease-branches: dev=dev, next=beta`",
                        );
                        None
                    }
                })
                .collect(),
        };

        let mut rules = d.rules;
        if let Some(v) = p.string(Input::BumpRules) {
            for item in split_list(&v) {
                let parsed = item
                    .split_once(['=', ':'])
                    .and_then(|(t, b)| Some((t.trim().to_ascii_lowercase(), Bump::parse(b)?)))
                    .filter(|(t, _)| !t.is_empty());
                match parsed {
                    Some((t, b)) => {
                        rules.types.insert(t, b);
                    }
                    None => {
                        p.error(
                            Input::BumpRules,
                            Some(&item),
                            "is not `type=bump` with bump one of `major`, `minor`, `patch`, `none`",
                            "e.g. `bump-rules: docs=patch, refactor=patch, perf=none`",
                        );
                    }
                }
            }
        }
        rules.breaking_below_1 = match p.choice(Input::BreakingBelow1, &["minor", "major"], "minor")
        {
            "major" => Bump::Major,
            _ => Bump::Minor,
        };
        if let Some(v) = p.string(Input::InitialVersion) {
            match Version::parse(v.trim_start_matches(&tag_prefix)) {
                Ok(ver) if ver.pre.is_empty() => rules.initial = ver,
                _ => {
                    p.error(
                        Input::InitialVersion,
                        Some(&v),
                        "is not a stable semantic version",
                        "e.g. `initial-version: 0.1.0` or `initial-version: 1.0.0`",
                    );
                }
            }
        }
        let label_prefix = p
            .string(Input::ReleaseLabelPrefix)
            .unwrap_or(d.label_prefix);
        let floating_tag = p.bool(Input::FloatingTag, false);
        let promote_raw = p.string(Input::PromoteImage);
        let promote_image = promote_raw.as_deref().and_then(|v| match ImageRef::parse(v) {
            Ok(i) => Some(Box::new(i)),
            Err(problem) => {
                p.error(
                    Input::PromoteImage,
                    Some(v),
                    problem,
                    "Use an ECR image by digest, e.g. `promote-image: ${{ steps.build.outputs.image }}` or `app@sha256:…`",
                );
                None
            }
        });
        let aws = promote_raw.is_some().then(|| Box::new(AwsInputs::parse(p)));
        // The STS audience is read once: from the AWS inputs when they are read, otherwise here, so that
        // no registry token is ever requested for it.
        let sts_audience = match &aws {
            Some(a) => a.audience.clone(),
            None => p
                .string(Input::Audience)
                .unwrap_or_else(|| crate::oidc::DEFAULT_AUDIENCE.to_owned()),
        };
        let packages = Box::new(PackageInputs::parse(p, &sts_audience));
        Self {
            tag_prefix,
            release_branches,
            channels,
            rules,
            label_prefix,
            floating_tag,
            promote_image,
            aws,
            packages,
        }
    }

    /// What `branch` publishes.
    #[must_use]
    pub fn branch_kind(&self, branch: &str) -> BranchKind {
        if let Some(c) = self.channels.iter().find(|c| c.matcher.is_match(branch)) {
            return BranchKind::Channel(c.channel.clone());
        }
        if self
            .release_branches
            .iter()
            .any(|(_, m)| m.is_match(branch))
        {
            return BranchKind::Stable;
        }
        BranchKind::None
    }
}

/// `dev=dev`, `next: beta`, or a bare `dev` (channel named after the branch).
fn parse_channel(item: &str) -> Result<Channel, String> {
    let (pattern, channel) = match item.split_once(['=', ':']) {
        Some((b, c)) => (b.trim(), c.trim()),
        None => (item.trim(), item.trim()),
    };
    if channel.is_empty()
        || !channel
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
        || channel.chars().all(|c| c.is_ascii_digit())
    {
        return Err(format!(
            "channel `{channel}` is not a SemVer prerelease word (letters, digits and `-`, not only digits)"
        ));
    }
    let matcher = Glob::new(pattern)
        .map_err(|e| format!("branch pattern `{pattern}` is not a valid glob: {e}"))?
        .compile_matcher();
    Ok(Channel {
        pattern: pattern.to_owned(),
        matcher,
        channel: channel.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Env;

    fn parse(pairs: &[(&str, &str)]) -> (Config, usize) {
        let env = Env::from_pairs(pairs.iter().map(|(k, v)| (format!("INPUT_{k}"), *v)));
        let mut p = Inputs::new(&env);
        let c = Config::parse(&mut p);
        let n = p.error_count();
        (c, n)
    }

    #[test]
    fn defaults() {
        let (c, n) = parse(&[]);
        assert_eq!(n, 0);
        assert_eq!(c.tag_prefix, "v");
        assert_eq!(c.branch_kind("main"), BranchKind::Stable);
        assert_eq!(c.branch_kind("dev"), BranchKind::Channel("dev".into()));
        assert_eq!(c.branch_kind("feature/x"), BranchKind::None);
        assert_eq!(c.rules, Rules::default());
    }

    /// `prerelease-branches: ""` written in the workflow arrives as an empty variable (the runner passes the
    /// default only for an omitted input): no prerelease branches, not the default `dev=dev` (issue 30).
    #[test]
    fn an_explicitly_empty_prerelease_branches_means_none() {
        for blank in ["", "  "] {
            let (c, n) = parse(&[("PRERELEASE-BRANCHES", blank)]);
            assert_eq!(n, 0);
            assert!(c.channels.is_empty(), "{blank:?}");
            assert_eq!(c.branch_kind("dev"), BranchKind::None);
            assert_eq!(c.branch_kind("main"), BranchKind::Stable);
        }
        // Omitted (no variable at all: local runs): the default.
        let (c, _) = parse(&[]);
        assert_eq!(c.branch_kind("dev"), BranchKind::Channel("dev".into()));
    }

    #[test]
    fn custom_values() {
        let (c, n) = parse(&[
            ("RELEASE-BRANCHES", "main, release/*"),
            ("PRERELEASE-BRANCHES", "dev=dev\nnext: beta"),
            ("BUMP-RULES", "docs=patch, perf=none"),
            ("BREAKING-BELOW-1", "major"),
            ("INITIAL-VERSION", "1.0.0"),
            ("FLOATING-TAG", "true"),
        ]);
        assert_eq!(n, 0);
        assert_eq!(c.branch_kind("release/1.x"), BranchKind::Stable);
        assert_eq!(c.branch_kind("next"), BranchKind::Channel("beta".into()));
        assert_eq!(c.rules.types["docs"], Bump::Patch);
        assert_eq!(c.rules.types["perf"], Bump::None);
        assert_eq!(c.rules.types["feat"], Bump::Minor);
        assert_eq!(c.rules.breaking_below_1, Bump::Major);
        assert_eq!(c.rules.initial, Version::new(1, 0, 0));
        assert!(c.floating_tag);
    }

    #[test]
    fn every_input_read_is_declared_in_the_publish_section_of_action_yml() {
        let yml = include_str!("../../../action.yml");
        let section = yml
            .split("# --- publish")
            .nth(1)
            .and_then(|s| s.split("\n  # ---").next())
            .and_then(|s| s.split("\noutputs:").next())
            .unwrap();
        let env = Env::default();
        let mut p = Inputs::new(&env);
        let _cfg = Config::parse(&mut p);
        // `audience` (the AWS section's) is read only so that no registry token is requested for it.
        for name in p.names_read().iter().filter(|n| **n != "audience") {
            assert!(
                section.contains(&format!("\n  {name}:\n")),
                "input `{name}` is read by publish but not declared in action.yml's publish section"
            );
        }
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(yml).unwrap();
        for out in [
            "version",
            "previous-version",
            "tag",
            "release-url",
            "released",
            "changelog",
        ] {
            assert!(doc["outputs"][out].is_mapping(), "output `{out}` missing");
        }
    }

    #[test]
    fn every_bad_input_is_reported() {
        let pairs = [
            ("TAG-PREFIX", "v~"),
            ("PRERELEASE-BRANCHES", "dev=dev.1, x=42"),
            ("BUMP-RULES", "docs=big"),
            ("BREAKING-BELOW-1", "patch"),
            ("INITIAL-VERSION", "1.0"),
        ];
        let env = Env::from_pairs(pairs.iter().map(|(k, v)| (format!("INPUT_{k}"), *v)));
        let mut p = Inputs::new(&env);
        let _cfg = Config::parse(&mut p);
        let errors = p.finish().unwrap_err().0;
        let got: Vec<(&str, Option<&str>)> = errors
            .iter()
            .map(|e| (e.input.as_str(), e.value.as_deref()))
            .collect();
        // Both bad entries of `prerelease-branches` are named, each with its own value.
        assert_eq!(
            got,
            [
                ("tag-prefix", Some("v~")),
                ("prerelease-branches", Some("dev=dev.1")),
                ("prerelease-branches", Some("x=42")),
                ("bump-rules", Some("docs=big")),
                ("breaking-below-1", Some("patch")),
                ("initial-version", Some("1.0")),
            ],
            "{errors:#?}"
        );
        for e in &errors {
            assert!(!e.problem.is_empty() && !e.fix.is_empty(), "{e:?}");
        }
    }
}
