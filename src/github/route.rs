//! Every REST operation stevedore calls, by method and path template (as GitHub's OpenAPI description spells
//! them), with the `permissions:` entry the job needs for stevedore's use of it. Error hints and the
//! fallback notes of [`super::fanout`] are chosen from this table, never by looking for words in a path.
//!
//! A route is matched segment by segment: `{name}` is one segment, except a template's last `{ref}`, which
//! takes the rest (git ref names keep their `/`). Where two templates match, the one with more literal
//! segments wins (`/releases/latest` over `/releases/{release_id}`). An absolute URL (a `Link: rel="next"`)
//! and a GHES `/api/v3` prefix are matched by their path from `/repos/`.

use std::fmt;

/// The permission scopes of `permissions:` that stevedore's calls need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Checks,
    Contents,
    Deployments,
    Issues,
    PullRequests,
    Statuses,
}

/// One `permissions:` entry, e.g. `checks: write`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Permission {
    pub scope: Scope,
    pub write: bool,
}

impl Permission {
    const fn write(scope: Scope) -> Self {
        Self { scope, write: true }
    }
    const fn read(scope: Scope) -> Self {
        Self {
            scope,
            write: false,
        }
    }

    /// The entry as written in a workflow: `checks: write`.
    #[must_use]
    pub fn line(self) -> &'static str {
        match (self.scope, self.write) {
            (Scope::Checks, true) => "checks: write",
            (Scope::Checks, false) => "checks: read",
            (Scope::Contents, true) => "contents: write",
            (Scope::Contents, false) => "contents: read",
            (Scope::Deployments, true) => "deployments: write",
            (Scope::Deployments, false) => "deployments: read",
            (Scope::Issues, true) => "issues: write",
            (Scope::Issues, false) => "issues: read",
            (Scope::PullRequests, true) => "pull-requests: write",
            (Scope::PullRequests, false) => "pull-requests: read",
            (Scope::Statuses, true) => "statuses: write",
            (Scope::Statuses, false) => "statuses: read",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.line())
    }
}

/// One operation: method, path template, and the permission stevedore's use of it needs (a read that only
/// serves a write, like listing comments before writing the sticky one, needs the write).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub method: &'static str,
    pub template: &'static str,
    pub permission: Option<Permission>,
}

const fn ep(method: &'static str, template: &'static str, p: Option<Permission>) -> Endpoint {
    Endpoint {
        method,
        template,
        permission: p,
    }
}

const CHECKS_W: Option<Permission> = Some(Permission::write(Scope::Checks));
const CHECKS_R: Option<Permission> = Some(Permission::read(Scope::Checks));
const CONTENTS_W: Option<Permission> = Some(Permission::write(Scope::Contents));
const CONTENTS_R: Option<Permission> = Some(Permission::read(Scope::Contents));
const DEPLOYMENTS_W: Option<Permission> = Some(Permission::write(Scope::Deployments));
const ISSUES_W: Option<Permission> = Some(Permission::write(Scope::Issues));
const PRS_W: Option<Permission> = Some(Permission::write(Scope::PullRequests));
const PRS_R: Option<Permission> = Some(Permission::read(Scope::PullRequests));
const STATUSES_W: Option<Permission> = Some(Permission::write(Scope::Statuses));
const STATUSES_R: Option<Permission> = Some(Permission::read(Scope::Statuses));

/// The operations of the API subset stevedore is written against
/// (`tests/fixtures/github-openapi/api.github.com.subset.json`, which a test holds this table to).
pub const ENDPOINTS: &[Endpoint] = &[
    ep("POST", "/repos/{owner}/{repo}/check-runs", CHECKS_W),
    ep(
        "GET",
        "/repos/{owner}/{repo}/check-runs/{check_run_id}",
        CHECKS_W,
    ),
    ep(
        "PATCH",
        "/repos/{owner}/{repo}/check-runs/{check_run_id}",
        CHECKS_W,
    ),
    ep(
        "GET",
        "/repos/{owner}/{repo}/check-runs/{check_run_id}/annotations",
        CHECKS_R,
    ),
    ep(
        "GET",
        "/repos/{owner}/{repo}/commits/{ref}/check-runs",
        CHECKS_R,
    ),
    ep(
        "GET",
        "/repos/{owner}/{repo}/issues/{issue_number}/comments",
        PRS_W,
    ),
    ep(
        "POST",
        "/repos/{owner}/{repo}/issues/{issue_number}/comments",
        PRS_W,
    ),
    ep(
        "GET",
        "/repos/{owner}/{repo}/issues/comments/{comment_id}",
        PRS_W,
    ),
    ep(
        "PATCH",
        "/repos/{owner}/{repo}/issues/comments/{comment_id}",
        PRS_W,
    ),
    ep(
        "DELETE",
        "/repos/{owner}/{repo}/issues/comments/{comment_id}",
        PRS_W,
    ),
    ep(
        "GET",
        "/repos/{owner}/{repo}/issues/{issue_number}/labels",
        ISSUES_W,
    ),
    ep(
        "POST",
        "/repos/{owner}/{repo}/issues/{issue_number}/labels",
        ISSUES_W,
    ),
    ep(
        "PUT",
        "/repos/{owner}/{repo}/issues/{issue_number}/labels",
        ISSUES_W,
    ),
    ep(
        "DELETE",
        "/repos/{owner}/{repo}/issues/{issue_number}/labels",
        ISSUES_W,
    ),
    ep(
        "DELETE",
        "/repos/{owner}/{repo}/issues/{issue_number}/labels/{name}",
        ISSUES_W,
    ),
    ep("GET", "/repos/{owner}/{repo}/pulls/{pull_number}", PRS_R),
    ep(
        "GET",
        "/repos/{owner}/{repo}/pulls/{pull_number}/files",
        PRS_R,
    ),
    ep(
        "GET",
        "/repos/{owner}/{repo}/pulls/{pull_number}/commits",
        PRS_R,
    ),
    ep("POST", "/repos/{owner}/{repo}/statuses/{sha}", STATUSES_W),
    ep(
        "GET",
        "/repos/{owner}/{repo}/commits/{ref}/status",
        STATUSES_R,
    ),
    ep(
        "GET",
        "/repos/{owner}/{repo}/commits/{commit_sha}/pulls",
        PRS_R,
    ),
    ep("GET", "/repos/{owner}/{repo}/commits", CONTENTS_R),
    ep("GET", "/repos/{owner}/{repo}/commits/{ref}", CONTENTS_R),
    ep(
        "GET",
        "/repos/{owner}/{repo}/compare/{basehead}",
        CONTENTS_R,
    ),
    ep("GET", "/repos/{owner}/{repo}/deployments", DEPLOYMENTS_W),
    ep("POST", "/repos/{owner}/{repo}/deployments", DEPLOYMENTS_W),
    ep(
        "GET",
        "/repos/{owner}/{repo}/deployments/{deployment_id}",
        DEPLOYMENTS_W,
    ),
    ep(
        "DELETE",
        "/repos/{owner}/{repo}/deployments/{deployment_id}",
        DEPLOYMENTS_W,
    ),
    ep(
        "GET",
        "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses",
        DEPLOYMENTS_W,
    ),
    ep(
        "POST",
        "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses",
        DEPLOYMENTS_W,
    ),
    ep(
        "GET",
        "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses/{status_id}",
        DEPLOYMENTS_W,
    ),
    ep("GET", "/repos/{owner}/{repo}/releases", CONTENTS_W),
    ep("POST", "/repos/{owner}/{repo}/releases", CONTENTS_W),
    ep(
        "GET",
        "/repos/{owner}/{repo}/releases/{release_id}",
        CONTENTS_W,
    ),
    ep(
        "PATCH",
        "/repos/{owner}/{repo}/releases/{release_id}",
        CONTENTS_W,
    ),
    ep(
        "DELETE",
        "/repos/{owner}/{repo}/releases/{release_id}",
        CONTENTS_W,
    ),
    ep(
        "GET",
        "/repos/{owner}/{repo}/releases/tags/{tag}",
        CONTENTS_W,
    ),
    ep("GET", "/repos/{owner}/{repo}/releases/latest", CONTENTS_W),
    ep(
        "POST",
        "/repos/{owner}/{repo}/releases/generate-notes",
        CONTENTS_W,
    ),
    ep(
        "GET",
        "/repos/{owner}/{repo}/releases/{release_id}/assets",
        CONTENTS_W,
    ),
    ep(
        "POST",
        "/repos/{owner}/{repo}/releases/{release_id}/assets",
        CONTENTS_W,
    ),
    ep(
        "GET",
        "/repos/{owner}/{repo}/releases/assets/{asset_id}",
        CONTENTS_W,
    ),
    ep(
        "PATCH",
        "/repos/{owner}/{repo}/releases/assets/{asset_id}",
        CONTENTS_W,
    ),
    ep(
        "DELETE",
        "/repos/{owner}/{repo}/releases/assets/{asset_id}",
        CONTENTS_W,
    ),
    ep("POST", "/repos/{owner}/{repo}/git/refs", CONTENTS_W),
    ep("PATCH", "/repos/{owner}/{repo}/git/refs/{ref}", CONTENTS_W),
    ep("DELETE", "/repos/{owner}/{repo}/git/refs/{ref}", CONTENTS_W),
    ep("GET", "/repos/{owner}/{repo}/git/ref/{ref}", CONTENTS_W),
    ep(
        "GET",
        "/repos/{owner}/{repo}/git/matching-refs/{ref}",
        CONTENTS_W,
    ),
    ep("POST", "/repos/{owner}/{repo}/git/tags", CONTENTS_W),
    ep(
        "GET",
        "/repos/{owner}/{repo}/git/tags/{tag_sha}",
        CONTENTS_W,
    ),
    ep("GET", "/rate_limit", None),
    // Who a personal token is (the sticky comment is ours only when this login wrote it).
    ep("GET", "/user", None),
];

/// The path of `route` without query, and without scheme and host when it is an absolute URL.
fn path_of(route: &str) -> &str {
    let no_query = route.split(['?', '#']).next().unwrap_or(route);
    match no_query.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => no_query,
    }
}

/// How well `segs` fit `template` (its literal segments), `None` when they do not.
fn fit(template: &str, segs: &[&str]) -> Option<usize> {
    let tpl: Vec<&str> = template.trim_start_matches('/').split('/').collect();
    let start = segs.iter().position(|s| *s == tpl[0])?;
    let segs = &segs[start..];
    let mut literals = 0;
    for (i, t) in tpl.iter().enumerate() {
        let last = i + 1 == tpl.len();
        if *t == "{ref}" && last {
            return (segs.len() > i && segs[i..].iter().all(|s| !s.is_empty())).then_some(literals);
        }
        let s = segs.get(i)?;
        if t.starts_with('{') {
            if s.is_empty() {
                return None;
            }
        } else if t != s {
            return None;
        } else {
            literals += 1;
        }
    }
    (segs.len() == tpl.len()).then_some(literals)
}

/// The operation `method route` is, if it is one of [`ENDPOINTS`].
#[must_use]
pub fn endpoint(method: &str, route: &str) -> Option<&'static Endpoint> {
    let segs: Vec<&str> = path_of(route).trim_start_matches('/').split('/').collect();
    ENDPOINTS
        .iter()
        .filter(|e| e.method.eq_ignore_ascii_case(method))
        .filter_map(|e| fit(e.template, &segs).map(|n| (n, e)))
        .max_by_key(|(n, _)| *n)
        .map(|(_, e)| e)
}

/// The `permissions:` entry `method route` needs, when it is a known operation that needs one.
#[must_use]
pub fn permission(method: &str, route: &str) -> Option<Permission> {
    endpoint(method, route)?.permission
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_matched_by_template_not_by_words() {
        let t = |m, r| endpoint(m, r).map(|e| e.template);
        assert_eq!(
            t("POST", "/repos/o/r/check-runs"),
            Some("/repos/{owner}/{repo}/check-runs")
        );
        assert_eq!(
            t("GET", "/repos/o/r/issues/comments/7"),
            Some("/repos/{owner}/{repo}/issues/comments/{comment_id}")
        );
        assert_eq!(
            t(
                "GET",
                "https://ghe.example/api/v3/repos/o/r/issues/3/comments?per_page=100&page=2"
            ),
            Some("/repos/{owner}/{repo}/issues/{issue_number}/comments")
        );
        assert_eq!(
            t("GET", "/repos/o/r/releases/latest"),
            Some("/repos/{owner}/{repo}/releases/latest")
        );
        assert_eq!(
            t("GET", "/repos/o/r/releases/42"),
            Some("/repos/{owner}/{repo}/releases/{release_id}")
        );
        assert_eq!(
            t("PATCH", "/repos/o/r/git/refs/tags/app/v1"),
            Some("/repos/{owner}/{repo}/git/refs/{ref}")
        );
        // A repository named like a route word is not that route.
        assert_eq!(
            t("POST", "/repos/o/labels/statuses/abc"),
            Some("/repos/{owner}/{repo}/statuses/{sha}")
        );
        assert_eq!(
            permission("POST", "/repos/o/check-runs/git/refs").map(Permission::line),
            Some("contents: write")
        );
        assert_eq!(
            t("POST", "/repos/o/r/check-runs/5"),
            None,
            "no such method on that path"
        );
        assert_eq!(t("GET", "/repos/o/r/unknown"), None);
    }

    #[test]
    fn permissions_come_from_the_table() {
        let p = |m, r| permission(m, r).map(Permission::line);
        assert_eq!(p("PATCH", "/repos/o/r/check-runs/9"), Some("checks: write"));
        assert_eq!(
            p("GET", "/repos/o/r/issues/3/comments"),
            Some("pull-requests: write")
        );
        assert_eq!(
            p("DELETE", "/repos/o/r/issues/3/labels/x"),
            Some("issues: write")
        );
        assert_eq!(
            p("POST", "/repos/o/r/statuses/abc"),
            Some("statuses: write")
        );
        assert_eq!(
            p("POST", "/repos/o/r/deployments/1/statuses"),
            Some("deployments: write")
        );
        assert_eq!(p("POST", "/repos/o/r/releases"), Some("contents: write"));
        assert_eq!(p("GET", "/repos/o/r/pulls/4"), Some("pull-requests: read"));
        assert_eq!(p("GET", "/rate_limit"), None);
    }

    /// The table and GitHub's description agree: every entry is a documented operation, and every documented
    /// operation of the subset has an entry.
    #[test]
    fn the_table_is_the_openapi_subset() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/github-openapi/api.github.com.subset.json"
        );
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let mut documented = Vec::new();
        for (p, item) in doc["paths"].as_object().unwrap() {
            for m in ["get", "post", "patch", "put", "delete"] {
                if item.get(m).is_some() {
                    documented.push((m.to_ascii_uppercase(), p.clone()));
                }
            }
        }
        let mut table: Vec<(String, String)> = ENDPOINTS
            .iter()
            .map(|e| (e.method.to_owned(), e.template.to_owned()))
            .collect();
        documented.sort();
        table.sort();
        assert_eq!(table, documented);
    }
}
