//! The PR-title check: Conventional Commits `type(scope)!: subject`, with configurable types and scopes.
//!
//! On failure it says what is wrong, each problem in one sentence, and proposes the title corrected, so the
//! author can copy it (the complaint behind amannn/action-semantic-pull-request#187).

/// The default types (the Angular/Conventional Commits set).
pub const DEFAULT_TYPES: [&str; 11] = [
    "feat", "fix", "docs", "style", "refactor", "perf", "test", "build", "ci", "chore", "revert",
];

/// The rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TitleRules {
    pub types: Vec<String>,
    /// Empty: any scope.
    pub scopes: Vec<String>,
    pub require_scope: bool,
}

impl Default for TitleRules {
    fn default() -> Self {
        Self {
            types: DEFAULT_TYPES.iter().map(|s| (*s).to_owned()).collect(),
            scopes: Vec::new(),
            require_scope: false,
        }
    }
}

/// What the check found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TitleCheck {
    pub title: String,
    pub problems: Vec<String>,
    /// A corrected title when there are problems.
    pub suggestion: Option<String>,
}

impl TitleCheck {
    #[must_use]
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

struct Header<'a> {
    kind: &'a str,
    scope: Option<&'a str>,
    breaking: bool,
    subject: &'a str,
    /// Whitespace around `:` or before `(` was wrong.
    spacing: bool,
}

fn split(title: &str) -> Option<Header<'_>> {
    let colon = title.find(':')?;
    let (head, subject) = (&title[..colon], &title[colon + 1..]);
    let head_trimmed = head.trim_end();
    let mut spacing =
        head_trimmed.len() != head.len() || !subject.starts_with(' ') || subject.starts_with("  ");
    let (head_trimmed, breaking) = match head_trimmed.strip_suffix('!') {
        Some(h) => (h, true),
        None => (head_trimmed, false),
    };
    let (kind, scope) = match head_trimmed.find('(') {
        Some(open) if head_trimmed.ends_with(')') => {
            let kind = &head_trimmed[..open];
            spacing |= kind.ends_with(' ');
            (
                kind.trim_end(),
                Some(head_trimmed[open + 1..head_trimmed.len() - 1].trim()),
            )
        }
        _ => (head_trimmed, None),
    };
    if kind.is_empty() || kind.contains(' ') {
        return None;
    }
    Some(Header {
        kind,
        scope,
        breaking,
        subject: subject.trim(),
        spacing,
    })
}

/// The allowed type closest to `kind` (`Feat` -> `feat`, `feature` -> `feat`, `bugfix` -> `fix`).
fn closest_type(kind: &str, types: &[String]) -> Option<String> {
    let k = kind.to_ascii_lowercase();
    let alias = match k.as_str() {
        "feature" | "features" => "feat",
        "bug" | "bugfix" | "hotfix" | "fixes" | "fixed" => "fix",
        "doc" | "documentation" => "docs",
        "tests" | "testing" => "test",
        "refactoring" => "refactor",
        "performance" => "perf",
        "deps" | "chores" => "chore",
        other => other,
    };
    types
        .iter()
        .find(|t| t.as_str() == alias)
        .or_else(|| {
            types
                .iter()
                .find(|t| t.starts_with(alias) || alias.starts_with(t.as_str()))
        })
        .cloned()
}

/// Checks `title` against `rules`.
#[must_use]
pub fn check(title: &str, rules: &TitleRules) -> TitleCheck {
    let title = title.trim();
    let mut problems = Vec::new();
    let types_list = crate::inputs::code_list(rules.types.iter());
    let fallback_type = rules
        .types
        .first()
        .cloned()
        .unwrap_or_else(|| "feat".to_owned());
    let Some(h) = split(title) else {
        problems.push(format!(
            "The title does not start with a type and a colon (`type: subject` or `type(scope): subject`); allowed types: {types_list}."
        ));
        let subject = lower_first(title);
        let kind = title.split_whitespace().next().and_then(|w| {
            closest_type(
                w.trim_end_matches(|c: char| !c.is_alphanumeric()),
                &rules.types,
            )
        });
        let subject = match &kind {
            Some(_) => lower_first(title.split_once(' ').map_or("", |(_, r)| r).trim()),
            None => subject,
        };
        let scope = rules
            .scopes
            .first()
            .filter(|_| rules.require_scope)
            .map(|s| format!("({s})"))
            .unwrap_or_default();
        let suggestion = format!(
            "{}{scope}: {}",
            kind.unwrap_or(fallback_type),
            if subject.is_empty() {
                "describe the change".into()
            } else {
                subject
            }
        );
        return TitleCheck {
            title: title.to_owned(),
            problems,
            suggestion: Some(suggestion),
        };
    };
    let mut kind = h.kind.to_owned();
    if !rules.types.iter().any(|t| t == h.kind) {
        match closest_type(h.kind, &rules.types) {
            Some(t) => {
                problems.push(format!("The type `{}` is not allowed; did you mean `{t}`? Allowed types: {types_list}.", h.kind));
                kind = t;
            }
            None => {
                problems.push(format!(
                    "The type `{}` is not allowed; allowed types: {types_list}.",
                    h.kind
                ));
                kind.clone_from(&fallback_type);
            }
        }
    }
    let mut scope = h.scope.map(str::to_owned);
    if let Some(s) = h.scope {
        if s.is_empty() {
            problems
                .push("The scope in `()` is empty; name it or drop the parentheses.".to_owned());
            scope = None;
        } else if !rules.scopes.is_empty() && !rules.scopes.iter().any(|a| a == s) {
            let allowed = crate::inputs::code_list(rules.scopes.iter());
            problems.push(format!(
                "The scope `{s}` is not allowed; allowed scopes: {allowed}."
            ));
            scope = rules
                .scopes
                .iter()
                .find(|a| a.eq_ignore_ascii_case(s))
                .cloned()
                .or_else(|| rules.scopes.first().cloned());
        }
    }
    if rules.require_scope && scope.is_none() {
        problems.push(match rules.scopes.first() {
            Some(_) => format!(
                "A scope is required, e.g. `{kind}({}): ...`.",
                rules.scopes.first().map_or("scope", String::as_str)
            ),
            None => format!("A scope is required, e.g. `{kind}(api): ...`."),
        });
        scope = Some(
            rules
                .scopes
                .first()
                .cloned()
                .unwrap_or_else(|| "scope".to_owned()),
        );
    }
    if h.subject.is_empty() {
        problems.push("The subject after `:` is empty; say what the change does.".to_owned());
    }
    if h.spacing {
        problems.push(
            "Write exactly one space after the colon and none before it (`type(scope): subject`)."
                .to_owned(),
        );
    }
    let suggestion = (!problems.is_empty()).then(|| {
        format!(
            "{kind}{}{}: {}",
            scope.map(|s| format!("({s})")).unwrap_or_default(),
            if h.breaking { "!" } else { "" },
            if h.subject.is_empty() {
                "describe the change".to_owned()
            } else {
                h.subject.to_owned()
            }
        )
    });
    TitleCheck {
        title: title.to_owned(),
        problems,
        suggestion,
    }
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) if c.clone().next().is_some_and(char::is_lowercase) => {
            f.to_lowercase().chain(c).collect()
        }
        Some(f) => std::iter::once(f).chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(scopes: &[&str], require: bool) -> TitleRules {
        TitleRules {
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            require_scope: require,
            ..TitleRules::default()
        }
    }

    #[test]
    fn good_titles_pass() {
        for t in [
            "feat: add x",
            "fix(api): handle 404",
            "feat(api)!: drop v1",
            "revert: feat: x",
        ] {
            let c = check(t, &rules(&[], false));
            assert!(c.ok(), "{t}: {:?}", c.problems);
            assert_eq!(c.suggestion, None);
        }
    }

    #[test]
    fn wrong_type_gets_the_closest_one() {
        let c = check("Feature(api): add login", &rules(&[], false));
        assert_eq!(c.problems.len(), 1);
        assert!(
            c.problems[0].starts_with("The type `Feature` is not allowed; did you mean `feat`?"),
            "{}",
            c.problems[0]
        );
        assert_eq!(c.suggestion.as_deref(), Some("feat(api): add login"));
    }

    #[test]
    fn missing_type_is_explained_with_an_example() {
        let c = check("Add login page", &rules(&[], false));
        assert!(c.problems[0].contains("does not start with a type"));
        assert_eq!(c.suggestion.as_deref(), Some("feat: add login page"));
        let c = check("Fixed crash on start", &rules(&[], false));
        assert_eq!(c.suggestion.as_deref(), Some("fix: crash on start"));
    }

    #[test]
    fn scopes_are_enforced() {
        let c = check("fix(UI) : broken button", &rules(&["ui", "api"], true));
        assert_eq!(c.problems.len(), 2, "{:?}", c.problems);
        assert!(c.problems[0].contains("scope `UI` is not allowed; allowed scopes: `ui`, `api`"));
        assert!(c.problems[1].contains("one space after the colon"));
        assert_eq!(c.suggestion.as_deref(), Some("fix(ui): broken button"));
        let c = check("fix: broken button", &rules(&["ui"], true));
        assert_eq!(c.suggestion.as_deref(), Some("fix(ui): broken button"));
        assert!(c.problems[0].contains("A scope is required"));
    }
}
