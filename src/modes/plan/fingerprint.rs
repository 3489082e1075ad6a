//! The fingerprint of a reviewed plan, and the comparison the apply job makes with it.
//!
//! A fingerprint is one entry per resource (and output) the plan changes: its address, its action and a
//! digest of the values that matter: every planned attribute except the paths declared `volatile`.
//! Known values enter the digest as written; an unknown one as "known after apply"; a sensitive one only
//! as "sensitive, changes" or "sensitive, unchanged" (its value is never part of the fingerprint, which is
//! stored where people can read it).
//!
//! It is written as a [`Record`] inside an HTML comment (invisible on GitHub). A plan whose record would
//! exceed [`MAX_FULL_BYTES`] is recorded in [`GROUPS`] groups by the hash of the address (count and digest
//! per group): the comparison then names the new plan's resources in the groups that differ.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use super::model::{Change, Leaf, Plan, Tool};

/// The first line of a record. LOAD-BEARING.
pub const MARKER: &str = "<!-- stevedore:plan-fingerprint:v1";
/// A record with one line per resource is kept up to this size; a larger plan is grouped.
pub const MAX_FULL_BYTES: usize = 40_000;
/// Groups of a grouped record.
pub const GROUPS: usize = 256;

/// An attribute path ignored by the comparison, optionally only on resources matching an address glob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Volatile {
    /// `None`: every resource.
    pub address: Option<String>,
    pub path: String,
}

impl Volatile {
    /// `PATH` or `ADDRESS-GLOB PATH` (white space between).
    pub fn parse(line: &str) -> Result<Volatile, String> {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let v = match parts.as_slice() {
            [p] => Volatile {
                address: None,
                path: (*p).to_owned(),
            },
            [a, p] => Volatile {
                address: Some((*a).to_owned()),
                path: (*p).to_owned(),
            },
            _ => {
                return Err(
                    "is neither `PATH` nor `ADDRESS-GLOB PATH` (e.g. `container_definitions` or `aws_lambda_function.* image_uri`)"
                        .to_owned(),
                );
            }
        };
        if v.path.starts_with('.') || v.path.ends_with('.') || v.path.contains("..") {
            return Err("has an empty path segment".to_owned());
        }
        Ok(v)
    }

    /// Whether the leaf at `path` of `address` is volatile: the path is this one or lies under it.
    #[must_use]
    pub fn covers(&self, address: &str, path: &str) -> bool {
        if let Some(a) = &self.address
            && !wildcard(a, address)
        {
            return false;
        }
        let b = path.as_bytes();
        (0..=b.len())
            .filter(|&i| i == b.len() || b[i] == b'.' || b[i] == b'[')
            .any(|i| wildcard(&self.path, &path[..i]))
    }
}

/// `*` matches any run of characters (dots and brackets too); everything else matches itself.
#[must_use]
pub fn wildcard(pattern: &str, s: &str) -> bool {
    let (p, s) = (pattern.as_bytes(), s.as_bytes());
    let (mut pi, mut si) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while si < s.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = si;
            pi += 1;
        } else if pi < p.len() && p[pi] == s[si] {
            pi += 1;
            si += 1;
        } else if let Some(st) = star {
            pi = st + 1;
            mark += 1;
            si = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

/// One fingerprinted entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub address: String,
    /// The action word, with `+import` / `+moved` when the entry also imports or moves.
    pub action: String,
    /// First 16 hex digits of the SHA-256 of the values that matter.
    pub digest: String,
}

/// A fingerprint: for one environment and tool, every entry (or the groups of a large plan).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub environment: String,
    pub tool: String,
    pub entries: Vec<Entry>,
    /// Grouped record: group → (count, digest); `entries` is then empty.
    pub groups: BTreeMap<usize, (usize, String)>,
}

fn sha(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

fn entry_of(ch: &Change, volatile: &[Volatile]) -> Entry {
    let mut h = Sha256::new();
    for (path, leaf) in &ch.after {
        if volatile.iter().any(|v| v.covers(&ch.address, path)) {
            continue;
        }
        let token = match leaf {
            Leaf::Known(s) => format!("={s}"),
            Leaf::Unknown => "?".to_owned(),
            Leaf::Sensitive(_) => {
                let changes = ch
                    .attrs
                    .iter()
                    .any(|a| a.path == *path || a.path.starts_with(&format!("{path}.")));
                if changes {
                    "sensitive:changes".to_owned()
                } else {
                    "sensitive:unchanged".to_owned()
                }
            }
        };
        h.update(path.as_bytes());
        h.update([0]);
        h.update(token.as_bytes());
        h.update([0]);
    }
    let mut action = ch.action.as_str().to_owned();
    if ch.importing {
        action.push_str("+import");
    }
    if let Some(p) = &ch.previous_address {
        action.push_str("+moved");
        h.update(b"from\0");
        h.update(p.as_bytes());
    }
    if let Some(d) = &ch.deposed {
        h.update(b"deposed\0");
        h.update(d.as_bytes());
    }
    Entry {
        address: ch.address.clone(),
        action,
        digest: hex::encode(&h.finalize()[..8]),
    }
}

/// The fingerprint of `plan` for `environment`.
#[must_use]
pub fn of(plan: &Plan, environment: &str, volatile: &[Volatile]) -> Record {
    let mut entries: Vec<Entry> = plan
        .changes
        .iter()
        .filter(|c| c.is_change())
        .map(|c| entry_of(c, volatile))
        .collect();
    for o in plan
        .outputs
        .iter()
        .filter(|o| o.action != super::model::Action::NoOp)
    {
        // The value sits at path `output.NAME`, so a `volatile` line `output.NAME` ignores it.
        let address = format!("output.{}", o.name);
        let mut ch = Change::new(address.clone(), "output", o.action);
        if let Some(a) = &o.after {
            ch.after.insert(address.clone(), a.clone());
        }
        if o.before != o.after {
            ch.attrs.push(super::model::AttrChange {
                path: address,
                before: o.before.clone(),
                after: o.after.clone(),
            });
        }
        entries.push(entry_of(&ch, volatile));
    }
    entries.sort_by(|a, b| a.address.cmp(&b.address));
    Record {
        environment: environment.to_owned(),
        tool: plan.tool.map_or("unknown", Tool::as_str).to_owned(),
        entries,
        groups: BTreeMap::new(),
    }
}

fn group_of(address: &str) -> usize {
    let d = Sha256::digest(address.as_bytes());
    usize::from(d[0]) % GROUPS
}

/// Addresses are written with `%`, white space, `<`, `>` and control characters percent-encoded, so a
/// record stays one line per entry and inside its HTML comment whatever the address holds.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c == '%' || c == '<' || c == '>' || c.is_whitespace() || c.is_control() {
            let mut b = [0; 4];
            for byte in c.encode_utf8(&mut b).bytes() {
                let _ = write!(out, "%{byte:02X}");
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(h, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl Record {
    /// This record with its entries folded into groups.
    #[must_use]
    pub fn grouped(&self) -> Record {
        if self.entries.is_empty() {
            return self.clone();
        }
        let mut acc: BTreeMap<usize, (usize, Sha256)> = BTreeMap::new();
        for e in &self.entries {
            let g = acc
                .entry(group_of(&e.address))
                .or_insert((0, Sha256::new()));
            g.0 += 1;
            g.1.update(format!("{} {} {}\n", e.digest, e.action, e.address).as_bytes());
        }
        Record {
            environment: self.environment.clone(),
            tool: self.tool.clone(),
            entries: Vec::new(),
            groups: acc
                .into_iter()
                .map(|(k, (n, h))| (k, (n, hex::encode(&h.finalize()[..8]))))
                .collect(),
        }
    }

    fn body(&self) -> String {
        let mut b = String::new();
        for e in &self.entries {
            let _ = writeln!(b, "e {} {} {}", e.digest, e.action, encode(&e.address));
        }
        for (g, (n, d)) in &self.groups {
            let _ = writeln!(b, "g {g} {n} {d}");
        }
        b
    }

    /// The record as written into the check run: full when it fits [`MAX_FULL_BYTES`], else grouped.
    #[must_use]
    pub fn render(&self) -> String {
        let full = self.render_exact();
        if full.len() <= MAX_FULL_BYTES {
            full
        } else {
            self.grouped().render_exact()
        }
    }

    fn render_exact(&self) -> String {
        let body = self.body();
        format!(
            "{MARKER}\nenvironment: {}\ntool: {}\ndigest: {}\n{body}-->\n",
            encode(&self.environment),
            self.tool,
            sha(&body)
        )
    }

    /// Reads the record in `text` (a check run's summary); `Err` says why none can be believed.
    pub fn parse(text: &str) -> Result<Record, String> {
        let start = text
            .find(MARKER)
            .ok_or_else(|| "no fingerprint record".to_owned())?;
        let rest = &text[start + MARKER.len()..];
        let end = rest
            .find("-->")
            .ok_or_else(|| "the fingerprint record is cut off".to_owned())?;
        let mut lines = rest[..end].lines().filter(|l| !l.is_empty());
        let mut field = |name: &str| {
            lines
                .next()
                .and_then(|l| l.strip_prefix(&format!("{name}: ")))
                .map(str::to_owned)
                .ok_or_else(|| format!("the fingerprint record has no `{name}`"))
        };
        let environment =
            decode(&field("environment")?).ok_or("the environment is not readable")?;
        let tool = field("tool")?;
        let digest = field("digest")?;
        let body: String = lines.map(|l| format!("{l}\n")).collect();
        if sha(&body) != digest {
            return Err("the fingerprint record does not match its digest".to_owned());
        }
        let mut r = Record {
            environment,
            tool,
            entries: Vec::new(),
            groups: BTreeMap::new(),
        };
        for l in body.lines() {
            let f: Vec<&str> = l.splitn(4, ' ').collect();
            match f.as_slice() {
                ["e", d, a, addr] => r.entries.push(Entry {
                    digest: (*d).to_owned(),
                    action: (*a).to_owned(),
                    address: decode(addr).ok_or("an address is not readable")?,
                }),
                ["g", g, n, d] => {
                    let g: usize = g.parse().map_err(|_| "a group is not a number")?;
                    let n: usize = n.parse().map_err(|_| "a count is not a number")?;
                    r.groups.insert(g, (n, (*d).to_owned()));
                }
                _ => return Err("a fingerprint line is not readable".to_owned()),
            }
        }
        Ok(r)
    }
}

/// How the plan about to be applied differs from the reviewed one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Difference {
    /// In the new plan, not in the reviewed one.
    Added { address: String, action: String },
    /// In the reviewed plan, not in the new one.
    Removed { address: String, action: String },
    /// Another action.
    Action {
        address: String,
        reviewed: String,
        now: String,
    },
    /// The same action with other values (outside the volatile paths).
    Values { address: String, action: String },
    /// A group of a grouped record differs: the new plan's resources in it, and the reviewed count.
    Group {
        addresses: Vec<String>,
        reviewed_count: usize,
    },
}

impl Difference {
    /// One line naming the resource and the difference (the address is untrusted text).
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Difference::Added { address, action } => {
                format!("`{address}`: {action} is new since the review")
            }
            Difference::Removed { address, action } => {
                format!("`{address}`: the reviewed {action} is no longer in the plan")
            }
            Difference::Action {
                address,
                reviewed,
                now,
            } => format!("`{address}`: reviewed as {reviewed}, now {now}"),
            Difference::Values { address, action } => {
                format!("`{address}`: {action} with other values than reviewed")
            }
            Difference::Group {
                addresses,
                reviewed_count,
            } => format!(
                "a group of {reviewed_count} reviewed change(s) differs; the plan's changes in it: {}",
                if addresses.is_empty() {
                    "none".to_owned()
                } else {
                    addresses
                        .iter()
                        .map(|a| format!("`{a}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ),
        }
    }
}

/// Compares the new plan's record with the reviewed one (grouped when the reviewed one is).
#[must_use]
pub fn compare(reviewed: &Record, now: &Record) -> Vec<Difference> {
    let mut out = Vec::new();
    if !reviewed.groups.is_empty() {
        let g = now.grouped();
        let keys: std::collections::BTreeSet<usize> = reviewed
            .groups
            .keys()
            .chain(g.groups.keys())
            .copied()
            .collect();
        for k in keys {
            if reviewed.groups.get(&k) != g.groups.get(&k) {
                out.push(Difference::Group {
                    addresses: now
                        .entries
                        .iter()
                        .filter(|e| group_of(&e.address) == k)
                        .map(|e| e.address.clone())
                        .collect(),
                    reviewed_count: reviewed.groups.get(&k).map_or(0, |x| x.0),
                });
            }
        }
        return out;
    }
    let r: BTreeMap<&str, &Entry> = reviewed
        .entries
        .iter()
        .map(|e| (e.address.as_str(), e))
        .collect();
    let n: BTreeMap<&str, &Entry> = now
        .entries
        .iter()
        .map(|e| (e.address.as_str(), e))
        .collect();
    for (a, e) in &n {
        match r.get(a) {
            None => out.push(Difference::Added {
                address: (*a).to_owned(),
                action: e.action.clone(),
            }),
            Some(x) if x.action != e.action => out.push(Difference::Action {
                address: (*a).to_owned(),
                reviewed: x.action.clone(),
                now: e.action.clone(),
            }),
            Some(x) if x.digest != e.digest => out.push(Difference::Values {
                address: (*a).to_owned(),
                action: e.action.clone(),
            }),
            Some(_) => {}
        }
    }
    for (a, e) in &r {
        if !n.contains_key(a) {
            out.push(Difference::Removed {
                address: (*a).to_owned(),
                action: e.action.clone(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_and_volatile_paths() {
        assert!(wildcard("aws_*.app", "aws_ecs_service.app"));
        assert!(!wildcard("aws_*.app", "aws_ecs_service.api"));
        let v = Volatile::parse("aws_lambda_function.* image_uri").unwrap();
        assert!(v.covers("aws_lambda_function.api", "image_uri"));
        assert!(!v.covers("aws_s3_bucket.b", "image_uri"));
        let t = Volatile::parse("tags.deployed_at").unwrap();
        assert!(t.covers("x", "tags.deployed_at"));
        assert!(!t.covers("x", "tags.deployed_atx"));
        let w = Volatile::parse("container_definitions").unwrap();
        assert!(w.covers("x", "container_definitions[0].image"));
        assert!(Volatile::parse("a b c").is_err());
        let o = Volatile::parse("output.image_tag").unwrap();
        assert!(o.covers("output.image_tag", "output.image_tag"));
        assert!(!o.covers("output.other", "output.other"));
        assert!(Volatile::parse("a..b").is_err());
    }

    #[test]
    fn a_record_reads_back_and_refuses_edits() {
        let r = Record {
            environment: "prod eu".into(),
            tool: "terraform".into(),
            entries: vec![Entry {
                address: "aws_s3_bucket.b[\"x y-->\"]".into(),
                action: "delete".into(),
                digest: "0123456789abcdef".into(),
            }],
            groups: BTreeMap::new(),
        };
        let text = format!("summary\n{}", r.render());
        assert!(!text[MARKER.len()..].contains("-->\"]"), "{text}");
        assert_eq!(Record::parse(&text).unwrap(), r);
        let edited = text.replace("delete", "create");
        assert!(Record::parse(&edited).unwrap_err().contains("digest"));
        assert!(Record::parse("nothing").is_err());
        let g = r.grouped();
        assert_eq!(Record::parse(&g.render()).unwrap(), g);
    }
}
