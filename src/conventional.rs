//! Conventional Commits 1.0.0 parsing (<https://www.conventionalcommits.org/en/v1.0.0/>).
//!
//! Pure: a commit message in, a [`Message`] out. What counts for a release:
//! - the header `type(scope)!: description` (type case-insensitive, scope optional, `!` marks a breaking change;
//!   `feat!:` is honoured everywhere — the complaint in semantic-release #2374);
//! - `BREAKING CHANGE:` / `BREAKING-CHANGE:` at the start of a line after the header (the footer token; the spec
//!   wants it upper-case, so `breaking change:` in prose does not count);
//! - reverts, both git's own `Revert "feat: x"` + `This reverts commit <sha>.` and the `revert: feat: x` form;
//! - merge commits (`Merge pull request #N from ...`, `Merge branch ...`), which never bump: their changes arrive
//!   through the commits they merge;
//! - the pull-request number that GitHub appends to squash-merge titles (`feat: x (#12)`).
//!
//! Anything else is "not conventional": kept for the record but ignored for bumps.

/// A parsed commit message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub kind: Kind,
    /// The header line as written.
    pub header: String,
    /// The pull request named in the header: `(#12)` at its end, or `Merge pull request #12`.
    pub pr: Option<u64>,
}

/// What a commit message is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `type(scope)!: description`.
    Conventional(Conventional),
    /// A revert; `of` is the reverted header when it is conventional.
    Revert(Revert),
    /// A merge commit; never bumps.
    Merge,
    /// Not a conventional commit; ignored for bumps.
    Other,
}

/// A conventional commit header plus the breaking-change notes from the body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conventional {
    /// Lower-cased type: `feat`, `fix`, ...
    pub ty: String,
    pub scope: Option<String>,
    /// The description without a trailing `(#N)`.
    pub description: String,
    /// `!` in the header or a `BREAKING CHANGE:` footer.
    pub breaking: bool,
    /// Texts of the `BREAKING CHANGE:` footers (the `!` form has none: the description says it).
    pub breaking_notes: Vec<String>,
}

/// A revert commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revert {
    /// The reverted commit's header, e.g. `feat: add x`.
    pub header: String,
    /// `This reverts commit <sha>.` when present.
    pub sha: Option<String>,
}

/// Parses one commit message.
#[must_use]
pub fn parse(message: &str) -> Message {
    let message = message.replace("\r\n", "\n");
    let mut lines = message.lines();
    let header = lines.next().unwrap_or("").trim().to_owned();
    let body: Vec<&str> = lines.collect();
    let (header_wo_pr, pr) = split_pr_suffix(&header);

    if let Some(pr_merge) = merge_pr_number(&header) {
        return Message {
            kind: Kind::Merge,
            header,
            pr: Some(pr_merge),
        };
    }
    if header.starts_with("Merge branch ")
        || header.starts_with("Merge remote-tracking branch ")
        || header.starts_with("Merge tag ")
    {
        return Message {
            kind: Kind::Merge,
            header,
            pr,
        };
    }
    // git's own revert: `Revert "feat: x"` + `This reverts commit <sha>.`
    if let Some(inner) = header_wo_pr
        .strip_prefix("Revert \"")
        .and_then(|s| s.strip_suffix('"'))
    {
        return Message {
            kind: Kind::Revert(Revert {
                header: inner.to_owned(),
                sha: reverted_sha(&body),
            }),
            header,
            pr,
        };
    }
    match parse_header(header_wo_pr) {
        Some((ty, scope, bang, description)) => {
            if ty == "revert" {
                return Message {
                    kind: Kind::Revert(Revert {
                        header: description,
                        sha: reverted_sha(&body),
                    }),
                    header,
                    pr,
                };
            }
            let breaking_notes = breaking_notes(&body);
            Message {
                kind: Kind::Conventional(Conventional {
                    ty,
                    scope,
                    description,
                    breaking: bang || !breaking_notes.is_empty(),
                    breaking_notes,
                }),
                header,
                pr,
            }
        }
        None => Message {
            kind: Kind::Other,
            header,
            pr,
        },
    }
}

/// `type(scope)!: description` -> (type, scope, bang, description).
fn parse_header(h: &str) -> Option<(String, Option<String>, bool, String)> {
    let (prefix, description) = h.split_once(':')?;
    let description = description.trim();
    if description.is_empty() {
        return None;
    }
    let (prefix, bang) = match prefix.strip_suffix('!') {
        Some(p) => (p, true),
        None => (prefix, false),
    };
    let (ty, scope) = match prefix.split_once('(') {
        Some((ty, rest)) => {
            let scope = rest.strip_suffix(')')?.trim();
            if scope.is_empty() || scope.contains(['(', ')']) {
                return None;
            }
            (ty, Some(scope.to_owned()))
        }
        None => (prefix, None),
    };
    if ty.is_empty() || !ty.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return None;
    }
    Some((ty.to_ascii_lowercase(), scope, bang, description.to_owned()))
}

/// Splits GitHub's squash-merge suffix ` (#12)` off a header.
fn split_pr_suffix(h: &str) -> (&str, Option<u64>) {
    if let Some(rest) = h.strip_suffix(')')
        && let Some(idx) = rest.rfind("(#")
    {
        let digits = &rest[idx + 2..];
        if !digits.is_empty()
            && digits.chars().all(|c| c.is_ascii_digit())
            && let Ok(n) = digits.parse()
        {
            return (rest[..idx].trim_end(), Some(n));
        }
    }
    (h, None)
}

/// `Merge pull request #12 from owner/branch` -> 12.
fn merge_pr_number(h: &str) -> Option<u64> {
    let rest = h.strip_prefix("Merge pull request #")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn reverted_sha(body: &[&str]) -> Option<String> {
    body.iter().find_map(|l| {
        let rest = l.trim().strip_prefix("This reverts commit ")?;
        let sha: String = rest.chars().take_while(char::is_ascii_hexdigit).collect();
        (sha.len() >= 7).then_some(sha)
    })
}

/// Text of each `BREAKING CHANGE:` / `BREAKING-CHANGE:` footer, continuation lines included.
fn breaking_notes(body: &[&str]) -> Vec<String> {
    let mut notes = Vec::new();
    let mut current: Option<String> = None;
    for line in body {
        let started = ["BREAKING CHANGE:", "BREAKING-CHANGE:"]
            .iter()
            .find_map(|k| line.strip_prefix(k));
        if let Some(text) = started {
            if let Some(n) = current.take() {
                notes.push(n);
            }
            current = Some(text.trim().to_owned());
        } else if let Some(n) = current.as_mut() {
            // A footer runs until a blank line or the next footer token (`Token: ` / `Token #`).
            if line.trim().is_empty() || is_footer_token(line) {
                notes.push(std::mem::take(n));
                current = None;
            } else {
                if !n.is_empty() {
                    n.push(' ');
                }
                n.push_str(line.trim());
            }
        }
    }
    if let Some(n) = current {
        notes.push(n);
    }
    notes
}

fn is_footer_token(line: &str) -> bool {
    let token_end = line.find(": ").or_else(|| line.find(" #"));
    token_end.is_some_and(|i| {
        let t = &line[..i];
        !t.is_empty() && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(m: &str) -> Conventional {
        match parse(m).kind {
            Kind::Conventional(c) => c,
            k => panic!("{m:?} parsed as {k:?}"),
        }
    }

    #[test]
    fn header_with_scope_and_bang() {
        let c = conv("feat(api)!: drop v1 endpoints");
        assert_eq!(c.ty, "feat");
        assert_eq!(c.scope.as_deref(), Some("api"));
        assert!(c.breaking);
        assert_eq!(c.description, "drop v1 endpoints");
    }

    #[test]
    fn bang_without_scope_is_breaking() {
        assert!(conv("feat!: new config format").breaking);
        assert!(conv("fix!: stricter parsing").breaking);
    }

    #[test]
    fn type_is_case_insensitive() {
        assert_eq!(conv("Feat: x").ty, "feat");
    }

    #[test]
    fn breaking_change_footers_in_both_spellings() {
        let c = conv(
            "feat: x\n\nbody text\n\nBREAKING CHANGE: config moved\n  to a new file\nRefs: #4",
        );
        assert!(c.breaking);
        assert_eq!(c.breaking_notes, ["config moved to a new file"]);
        let c = conv("fix: y\n\nBREAKING-CHANGE: env var renamed");
        assert!(c.breaking);
        assert_eq!(c.breaking_notes, ["env var renamed"]);
    }

    #[test]
    fn lower_case_breaking_change_in_prose_does_not_count() {
        assert!(!conv("fix: y\n\nthis is not a breaking change: really").breaking);
    }

    #[test]
    fn squash_merge_suffix_gives_the_pr() {
        let m = parse("fix(cli): handle empty input (#42)");
        assert_eq!(m.pr, Some(42));
        let Kind::Conventional(c) = m.kind else {
            panic!()
        };
        assert_eq!(c.description, "handle empty input");
    }

    #[test]
    fn merge_commits_never_count() {
        let m = parse("Merge pull request #7 from o/feature\n\nfeat: thing");
        assert_eq!(m.kind, Kind::Merge);
        assert_eq!(m.pr, Some(7));
        assert_eq!(parse("Merge branch 'main' into dev").kind, Kind::Merge);
    }

    #[test]
    fn git_reverts_and_revert_type() {
        let m = parse(
            "Revert \"feat: add x\"\n\nThis reverts commit 0123456789abcdef0123456789abcdef01234567.",
        );
        assert_eq!(
            m.kind,
            Kind::Revert(Revert {
                header: "feat: add x".into(),
                sha: Some("0123456789abcdef0123456789abcdef01234567".into())
            })
        );
        let m = parse("revert: feat: add x\n\nThis reverts commit abcdef1.");
        assert_eq!(
            m.kind,
            Kind::Revert(Revert {
                header: "feat: add x".into(),
                sha: Some("abcdef1".into())
            })
        );
    }

    #[test]
    fn non_conventional_messages() {
        for m in [
            "Update README",
            "feat add thing",
            "feat(: x",
            "feat():x",
            "feat:   ",
            "wip stuff: more",
            "",
        ] {
            assert_eq!(parse(m).kind, Kind::Other, "{m:?}");
        }
    }
}
