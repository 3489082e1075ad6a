//! One model for a Terraform/OpenTofu plan (`show -json`) and a Pulumi preview (`preview --json`, or
//! its engine-event stream): what happens to each resource, why, what changes in it, drift found during
//! refresh, output changes, and whether planning failed.
//!
//! Sensitive values never enter the model: the parsers turn every value under `before_sensitive` /
//! `after_sensitive` (Terraform) or a Pulumi secret into [`Leaf::Sensitive`], which holds no part of
//! the value, only a per-process keyed hash used to tell whether it changed within this plan.

use std::collections::BTreeMap;
use std::hash::BuildHasher;
use std::sync::OnceLock;

/// The tool that wrote a plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    /// `terraform show -json` or `tofu show -json` (the same format).
    Terraform,
    /// `pulumi preview --json` (the digest) or its engine-event stream.
    Pulumi,
}

impl Tool {
    /// LOAD-BEARING: recorded in the fingerprint.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Tool::Terraform => "terraform",
            Tool::Pulumi => "pulumi",
        }
    }

    /// As people name it.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Tool::Terraform => "Terraform/OpenTofu",
            Tool::Pulumi => "Pulumi",
        }
    }
}

/// The order of a replacement's two halves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReplaceOrder {
    /// The old object is destroyed first (Terraform's default: `["delete", "create"]`).
    DestroyBeforeCreate,
    /// The new object is created first (`create_before_destroy`, Pulumi's default).
    CreateBeforeDestroy,
}

/// What happens to one resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    NoOp,
    /// A data source is read during apply.
    Read,
    Create,
    Update,
    Replace(ReplaceOrder),
    Delete,
    /// Removed from state, the real object left alone (`removed { lifecycle { destroy = false } }`,
    /// Pulumi `discard`).
    Forget,
}

impl Action {
    /// LOAD-BEARING: the fingerprint's action word.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Action::NoOp => "no-op",
            Action::Read => "read",
            Action::Create => "create",
            Action::Update => "update",
            Action::Replace(ReplaceOrder::DestroyBeforeCreate) => "replace",
            Action::Replace(ReplaceOrder::CreateBeforeDestroy) => "replace-cbd",
            Action::Delete => "delete",
            Action::Forget => "forget",
        }
    }

    /// As the table shows it.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Action::NoOp => "no change",
            Action::Read => "read",
            Action::Create => "create",
            Action::Update => "update in place",
            Action::Replace(ReplaceOrder::DestroyBeforeCreate) => "replace (destroy, then create)",
            Action::Replace(ReplaceOrder::CreateBeforeDestroy) => "replace (create, then destroy)",
            Action::Delete => "destroy",
            Action::Forget => "forget (removed from state, kept)",
        }
    }

    #[must_use]
    pub fn emoji(self) -> &'static str {
        match self {
            Action::NoOp => "⚪",
            Action::Read => "🔎",
            Action::Create => "🟢",
            Action::Update => "🟡",
            Action::Replace(_) => "🟠",
            Action::Delete => "🔴",
            Action::Forget => "⚫",
        }
    }

    /// Whether an existing object is destroyed.
    #[must_use]
    pub fn destroys(self) -> bool {
        matches!(self, Action::Delete | Action::Replace(_))
    }

    /// Rank for ordering the table: destroys first, then replacements, updates, creates.
    #[must_use]
    pub fn rank(self) -> u8 {
        match self {
            Action::Delete => 0,
            Action::Replace(_) => 1,
            Action::Forget => 2,
            Action::Update => 3,
            Action::Create => 4,
            Action::Read => 5,
            Action::NoOp => 6,
        }
    }
}

/// One value at the end of an attribute path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Leaf {
    /// A known value, as compact JSON (a scalar, `[]` or `{}`).
    Known(String),
    /// Known only after apply.
    Unknown,
    /// Sensitive: the value is not kept. The number is a keyed hash, with a key drawn for this process
    /// only, so two sensitive leaves of one plan can be compared; it is never written anywhere.
    Sensitive(u64),
}

impl Leaf {
    /// A sensitive leaf for `value`: only its process-keyed hash is kept.
    #[must_use]
    pub fn sensitive(value: &serde_json::Value) -> Leaf {
        static KEY: OnceLock<std::collections::hash_map::RandomState> = OnceLock::new();
        Leaf::Sensitive(
            KEY.get_or_init(std::collections::hash_map::RandomState::new)
                .hash_one(value.to_string()),
        )
    }

    /// As the table shows it (cut to `max` characters).
    #[must_use]
    pub fn show(&self, max: usize) -> String {
        match self {
            Leaf::Known(s) if s.chars().count() > max => {
                let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
                t.push('…');
                t
            }
            Leaf::Known(s) => s.clone(),
            Leaf::Unknown => "(known after apply)".to_owned(),
            Leaf::Sensitive(_) => "(sensitive)".to_owned(),
        }
    }
}

/// An attribute path → its leaf, sorted by path.
pub type Values = BTreeMap<String, Leaf>;

/// One attribute that changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttrChange {
    pub path: String,
    /// `None`: absent before.
    pub before: Option<Leaf>,
    /// `None`: absent after.
    pub after: Option<Leaf>,
}

/// What happens to one resource instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// Terraform address (`module.a.aws_s3_bucket.b["x"]`) or Pulumi URN without its stack and project
    /// (`aws:s3/bucket:Bucket::logs`).
    pub address: String,
    /// Resource type (`aws_s3_bucket`, `aws:s3/bucket:Bucket`).
    pub kind: String,
    /// `module.a` (Terraform) or the parent component (Pulumi); `None` at the root.
    pub module: Option<String>,
    pub action: Action,
    /// The address it had before a `moved` block (Terraform) or alias (Pulumi).
    pub previous_address: Option<String>,
    /// The object is imported by this plan.
    pub importing: bool,
    /// The change is to a deposed object (its key), not the current one.
    pub deposed: Option<String>,
    /// Why, in words (`action_reason`, Pulumi's replace keys).
    pub reason: Option<String>,
    /// Attribute paths that force the replacement (`replace_paths`, Pulumi `keys`).
    pub replace_paths: Vec<String>,
    /// The attributes that change (before vs after; all of them for a create or destroy).
    pub attrs: Vec<AttrChange>,
    /// The planned values after the change (for the fingerprint).
    pub after: Values,
}

impl Change {
    /// A change with nothing but its address, type and action.
    #[must_use]
    pub fn new(address: impl Into<String>, kind: impl Into<String>, action: Action) -> Self {
        Self {
            address: address.into(),
            kind: kind.into(),
            module: None,
            action,
            previous_address: None,
            importing: false,
            deposed: None,
            reason: None,
            replace_paths: Vec::new(),
            attrs: Vec::new(),
            after: Values::new(),
        }
    }

    /// Whether this entry does anything (moves and imports count, even without a change).
    #[must_use]
    pub fn is_change(&self) -> bool {
        self.action != Action::NoOp || self.previous_address.is_some() || self.importing
    }
}

/// An output value's change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputChange {
    pub name: String,
    pub action: Action,
    pub before: Option<Leaf>,
    pub after: Option<Leaf>,
}

/// One plan, whichever tool wrote it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Plan {
    pub tool: Option<Tool>,
    /// The tool's version when the plan says (`terraform_version`).
    pub version: Option<String>,
    /// Resource changes, in the plan's order.
    pub changes: Vec<Change>,
    /// Changes made outside the tool, found during refresh (`resource_drift`).
    pub drift: Vec<Change>,
    pub outputs: Vec<OutputChange>,
    /// Planning failed (`errored`, a Pulumi error diagnostic or failed step); such a plan cannot be
    /// applied.
    pub errored: bool,
    /// Error messages the plan carries (Pulumi diagnostics).
    pub errors: Vec<String>,
    /// The plan is not the last one needed (`complete: false`, deferred changes).
    pub incomplete: bool,
    /// Resources whose changes are deferred to a later plan (`deferred_changes`).
    pub deferred: Vec<String>,
    /// The attributes that contribute to the plan (`relevant_attributes`): `address attribute`.
    pub relevant: Vec<String>,
}

/// How many resources each action touches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub add: usize,
    pub change: usize,
    pub replace: usize,
    pub destroy: usize,
    pub import: usize,
    pub moved: usize,
    pub forget: usize,
    pub read: usize,
}

impl Counts {
    /// Whether the plan changes any resource or the state.
    #[must_use]
    pub fn any(&self) -> bool {
        self.add
            + self.change
            + self.replace
            + self.destroy
            + self.import
            + self.moved
            + self.forget
            > 0
    }
}

impl Plan {
    /// Counts per action (a moved or imported resource also counts under its action).
    #[must_use]
    pub fn counts(&self) -> Counts {
        counts_of(&self.changes)
    }

    /// Whether the outputs change.
    #[must_use]
    pub fn outputs_change(&self) -> bool {
        self.outputs.iter().any(|o| o.action != Action::NoOp)
    }
}

/// Counts per action of `changes` (a moved or imported resource also counts under its action).
#[must_use]
pub fn counts_of<'a>(changes: impl IntoIterator<Item = &'a Change>) -> Counts {
    let mut c = Counts::default();
    for ch in changes {
        match ch.action {
            Action::Create => c.add += 1,
            Action::Update => c.change += 1,
            Action::Replace(_) => c.replace += 1,
            Action::Delete => c.destroy += 1,
            Action::Forget => c.forget += 1,
            Action::Read => c.read += 1,
            Action::NoOp => {}
        }
        if ch.importing {
            c.import += 1;
        }
        if ch.previous_address.is_some() {
            c.moved += 1;
        }
    }
    c
}

/// The attribute changes of a resource with `action`: every leaf it had for a destroy or forget, else
/// the leaves that differ.
#[must_use]
pub fn attr_changes(action: Action, before: &Values, after: &Values) -> Vec<AttrChange> {
    match action {
        Action::Delete | Action::Forget => before
            .iter()
            .map(|(p, l)| AttrChange {
                path: p.clone(),
                before: Some(l.clone()),
                after: None,
            })
            .collect(),
        _ => diff(before, after),
    }
}

/// Leaves of `before` and `after` that differ, sorted by path.
#[must_use]
pub fn diff(before: &Values, after: &Values) -> Vec<AttrChange> {
    let mut out = Vec::new();
    for (p, b) in before {
        match after.get(p) {
            Some(a) if a == b => {}
            a => out.push(AttrChange {
                path: p.clone(),
                before: Some(b.clone()),
                after: a.cloned(),
            }),
        }
    }
    for (p, a) in after {
        if !before.contains_key(p) {
            out.push(AttrChange {
                path: p.clone(),
                before: None,
                after: Some(a.clone()),
            });
        }
    }
    out.sort_by(|x, y| x.path.cmp(&y.path));
    out
}

/// `path` extended by an object key: `a.b`, or `a["k.x"]` when the key is not a plain name.
#[must_use]
pub fn join_key(path: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    match (path.is_empty(), plain) {
        (true, true) => key.to_owned(),
        (false, true) => format!("{path}.{key}"),
        (_, false) => format!("{path}[{}]", serde_json::Value::from(key)),
    }
}

/// `path` extended by a list index: `a[3]`.
#[must_use]
pub fn join_index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_leaves_keep_no_part_of_the_value() {
        let a = Leaf::sensitive(&serde_json::json!("hunter2"));
        let b = Leaf::sensitive(&serde_json::json!("hunter2"));
        let c = Leaf::sensitive(&serde_json::json!("hunter3"));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.show(80), "(sensitive)");
        assert!(!format!("{a:?}").contains("hunter"));
    }

    #[test]
    fn paths_quote_keys_that_are_not_names() {
        assert_eq!(join_key("", "tags"), "tags");
        assert_eq!(join_key("tags", "Name"), "tags.Name");
        assert_eq!(join_key("tags", "a.b c"), "tags[\"a.b c\"]");
        assert_eq!(join_index("rules", 2), "rules[2]");
    }
}
