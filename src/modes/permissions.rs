//! The `permissions:` entries each mode needs, and when. This list is the one source: the table "Permissions
//! each mode needs" in docs/reporting.md is this list word for word (a unit test holds them equal), and the
//! examples' jobs are held to [`needed`] (tests/it/pipelines.rs). `contents: read` for `actions/checkout` is
//! the checkout's need, not stevedore's (it reads the workspace from disk), so it is not listed.

/// When a [`Need`] applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    /// Every run of the mode.
    Always,
    /// The run is on a pull request and `comment` is not `false`.
    PullRequest,
    /// `preview: true`.
    Preview,
    /// `rollback-to` is set.
    Rollback,
    /// `promote-image` is set.
    PromoteImage,
    /// `packages` is set and a package goes to npm or PyPI without `npm-token` / `pypi-token`.
    TrustedPublishing,
    /// Only when check runs are refused (a personal access token): the commit-status fallback.
    CheckRunsRefused,
}

impl When {
    /// The words of the docs table's "when" column.
    #[must_use]
    pub fn words(self) -> &'static str {
        match self {
            Self::Always => "always",
            Self::PullRequest => "on a pull request, unless `comment: false`",
            Self::Preview => "`preview: true`",
            Self::Rollback => "`rollback-to` is set",
            Self::PromoteImage => "`promote-image` is set",
            Self::TrustedPublishing => {
                "`packages` without `npm-token` / `pypi-token` (trusted publishing)"
            }
            Self::CheckRunsRefused => "optional: only when check runs are refused",
        }
    }
}

/// One `permissions:` entry a mode needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Need {
    /// `lint-gate`, `build`, `deploy`, `publish`, `credentials`, or `every mode`.
    pub mode: &'static str,
    pub when: When,
    /// The entry as written in a workflow: `checks: write`.
    pub permission: &'static str,
    /// What it is used for.
    pub why: &'static str,
}

const fn need(mode: &'static str, when: When, permission: &'static str, why: &'static str) -> Need {
    Need {
        mode,
        when,
        permission,
        why,
    }
}

/// The mode name that stands for all five.
pub const EVERY_MODE: &str = "every mode";

/// Every `permissions:` entry stevedore uses, by mode and condition.
pub const NEEDS: &[Need] = &[
    need(
        EVERY_MODE,
        When::Always,
        "checks: write",
        "the check runs with their annotations",
    ),
    need(
        EVERY_MODE,
        When::PullRequest,
        "pull-requests: write",
        "the sticky PR comment",
    ),
    need(
        EVERY_MODE,
        When::CheckRunsRefused,
        "statuses: write",
        "commit statuses instead of check runs (else the job summary only)",
    ),
    need(
        "build",
        When::Always,
        "id-token: write",
        "the GitHub OIDC token exchanged with STS (ECR, S3)",
    ),
    need(
        "deploy",
        When::Always,
        "id-token: write",
        "the GitHub OIDC token exchanged with STS",
    ),
    need(
        "deploy",
        When::Always,
        "deployments: write",
        "the GitHub Deployment and its statuses",
    ),
    need(
        "deploy",
        When::Preview,
        "pull-requests: write",
        "the preview URL in the PR comment; the sweep reads closed PRs",
    ),
    need(
        "deploy",
        When::Rollback,
        "contents: read",
        "the release's tag and branch are checked against the trigger policy",
    ),
    need(
        "publish",
        When::Always,
        "contents: write",
        "tags, GitHub releases, the commits since the last release",
    ),
    need(
        "publish",
        When::Always,
        "pull-requests: read",
        "the release labels of merged PRs",
    ),
    need(
        "publish",
        When::PromoteImage,
        "id-token: write",
        "the GitHub OIDC token exchanged with STS (ECR)",
    ),
    need(
        "publish",
        When::TrustedPublishing,
        "id-token: write",
        "the GitHub OIDC token the registry exchanges for a publish token",
    ),
    need(
        "credentials",
        When::Always,
        "id-token: write",
        "the GitHub OIDC token exchanged with STS",
    ),
];

/// What a step asks for, as far as permissions go.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Step<'a> {
    pub mode: &'a str,
    /// Runs on a pull request with the sticky comment on.
    pub pull_request: bool,
    pub preview: bool,
    pub rollback: bool,
    pub promote_image: bool,
    pub trusted_publishing: bool,
}

/// The entries a step needs (optional ones left out), in [`NEEDS`] order without repeats.
#[must_use]
pub fn needed(step: &Step<'_>) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for n in NEEDS {
        if n.mode != EVERY_MODE && n.mode != step.mode {
            continue;
        }
        let applies = match n.when {
            When::Always => true,
            When::PullRequest => step.pull_request,
            When::Preview => step.preview,
            When::Rollback => step.rollback,
            When::PromoteImage => step.promote_image,
            When::TrustedPublishing => step.trusted_publishing,
            When::CheckRunsRefused => false,
        };
        if applies && !out.contains(&n.permission) {
            out.push(n.permission);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rows of the table under `## Permissions each mode needs` in docs/reporting.md.
    fn doc_rows() -> Vec<Vec<String>> {
        let doc = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/reporting.md"),
        )
        .expect("docs/reporting.md");
        let section = doc
            .split("\n## Permissions each mode needs\n")
            .nth(1)
            .expect("the section")
            .split("\n## ")
            .next()
            .expect("its text");
        section
            .lines()
            .skip_while(|l| !l.starts_with('|'))
            .take_while(|l| l.starts_with('|'))
            .skip(2)
            .map(|l| {
                l.trim_matches('|')
                    .split(" | ")
                    .map(|c| c.trim().to_owned())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn the_docs_table_is_this_list() {
        let want: Vec<Vec<String>> = NEEDS
            .iter()
            .map(|n| {
                let mode = if n.mode == EVERY_MODE {
                    n.mode.to_owned()
                } else {
                    format!("`{}`", n.mode)
                };
                vec![
                    mode,
                    n.when.words().to_owned(),
                    format!("`{}`", n.permission),
                    n.why.to_owned(),
                ]
            })
            .collect();
        let have = doc_rows();
        for (w, h) in want.iter().zip(&have) {
            assert_eq!(h, w, "docs/reporting.md's permissions table differs");
        }
        assert_eq!(
            have.len(),
            want.len(),
            "rows in docs/reporting.md: {have:?}"
        );
    }

    #[test]
    fn every_github_permission_is_one_of_the_routes() {
        // Each GitHub scope entry named here is spelled as the route table spells the permission it needs.
        let lines: Vec<&str> = crate::github::route::ENDPOINTS
            .iter()
            .filter_map(|e| e.permission.map(crate::github::route::Permission::line))
            .collect();
        for n in NEEDS {
            if n.permission == "id-token: write" {
                continue;
            }
            assert!(
                lines.contains(&n.permission),
                "{} is needed by no route",
                n.permission
            );
        }
    }

    #[test]
    fn a_step_needs_what_its_inputs_use() {
        let publish = Step {
            mode: "publish",
            ..Step::default()
        };
        assert_eq!(
            needed(&publish),
            ["checks: write", "contents: write", "pull-requests: read"]
        );
        let trusted = Step {
            trusted_publishing: true,
            ..publish
        };
        assert!(needed(&trusted).contains(&"id-token: write"));
        let lint = Step {
            mode: "lint-gate",
            pull_request: true,
            ..Step::default()
        };
        assert_eq!(needed(&lint), ["checks: write", "pull-requests: write"]);
        // The fallback is optional: never required.
        assert!(!needed(&lint).contains(&"statuses: write"));
    }
}
