//! The one way YAML inputs are read (`environments`, `trigger-policy`, `checks`, a task-definition file).
//!
//! serde's maps keep the last of two equal keys without a word, so `production:` written twice in
//! `environments` silently replaced the first. Before deserialising, [`from_str`] walks the YAML events
//! (with their positions) and refuses every duplicate key, naming both lines. Where the keys of the
//! top-level map are environment names, keys that differ only in case are duplicates too (GitHub's
//! environment names are case-insensitive and compatibility characters fold to plain letters, see
//! [`crate::names`]).

use std::collections::HashMap;

use serde::de::DeserializeOwned;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// How the keys of the top-level map compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TopKeys {
    /// As written (every nested map compares this way too).
    Exact,
    /// Environment names: compared by [`crate::names::key`] (case-insensitive, compatibility folded).
    EnvironmentNames,
}

/// Two keys of one map that are the same key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Duplicate {
    pub first: String,
    pub first_line: usize,
    pub second: String,
    pub second_line: usize,
    /// Where the map is: empty at the top level, else the path to it (`production`, `item 2/results`;
    /// items count from 1).
    pub within: String,
}

impl std::fmt::Display for Duplicate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.first == self.second {
            write!(
                f,
                "has the key `{}` twice (lines {} and {}{}); the second would silently replace the first",
                self.first,
                self.first_line,
                self.second_line,
                self.within_suffix()
            )
        } else {
            write!(
                f,
                "has the keys `{}` (line {}) and `{}` (line {}){}, which name the same environment (environment names are compared case-insensitively, after Unicode compatibility folding)",
                crate::names::visible(&self.first),
                self.first_line,
                crate::names::visible(&self.second),
                self.second_line,
                self.within_suffix()
            )
        }
    }
}

impl Duplicate {
    fn within_suffix(&self) -> String {
        if self.within.is_empty() {
            String::new()
        } else {
            format!(", under `{}`", self.within)
        }
    }
}

/// Why a YAML input was not read.
#[derive(Debug, thiserror::Error)]
pub enum YamlError {
    /// Duplicate keys (every one found, one per sentence).
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Duplicates(Vec<Duplicate>),
    /// Not YAML, or not the expected shape.
    #[error(transparent)]
    Invalid(#[from] serde_yaml_ng::Error),
}

/// Deserialises `text`, refusing duplicate keys first.
pub fn from_str<T: DeserializeOwned>(text: &str, top: TopKeys) -> Result<T, YamlError> {
    let dups = duplicates(text, top);
    if !dups.is_empty() {
        return Err(YamlError::Duplicates(dups));
    }
    serde_yaml_ng::from_str(text).map_err(|e| YamlError::Invalid(with_hint(e)))
}

/// A glob that starts with `*` (`[*-stable]`, `- *.xml`) is a YAML alias when unquoted, and the parser
/// only says "unknown anchor": say to quote it.
fn with_hint(e: serde_yaml_ng::Error) -> serde_yaml_ng::Error {
    let text = e.to_string();
    // `*-stable` parses as an alias of the missing anchor `-stable`; `*.xml` fails to scan as an alias.
    if text.contains("unknown anchor") || text.contains("while scanning an alias") {
        <serde_yaml_ng::Error as serde::de::Error>::custom(format!(
            "{text}: an unquoted value that starts with `*` is a YAML alias; quote a glob that starts with `*`, e.g. `production: [\"*-stable\"]`"
        ))
    } else {
        e
    }
}

/// Every duplicate key in `text` (empty when there is none, or when the text is not YAML: deserialising
/// then reports the syntax error).
#[must_use]
pub fn duplicates(text: &str, top: TopKeys) -> Vec<Duplicate> {
    let mut walker = Walker {
        top,
        stack: Vec::new(),
        found: Vec::new(),
    };
    let mut parser = Parser::new_from_str(text);
    if parser.load(&mut walker, true).is_err() {
        return Vec::new();
    }
    walker.found
}

enum Frame {
    Map {
        /// The next node is a key.
        at_key: bool,
        /// Compared form -> (key as written, line).
        seen: HashMap<String, (String, usize)>,
        /// The last key, naming the path of nested maps.
        last_key: Option<String>,
    },
    Seq {
        index: usize,
    },
}

struct Walker {
    top: TopKeys,
    stack: Vec<Frame>,
    found: Vec<Duplicate>,
}

impl Walker {
    /// The path of the current node's parents, for messages.
    fn path(&self) -> String {
        let mut p = String::new();
        // The innermost frame is the map that holds the key; its parents name it.
        let parents = self.stack.len().saturating_sub(1);
        for f in &self.stack[..parents] {
            match f {
                Frame::Map { last_key, .. } => {
                    if !p.is_empty() {
                        p.push('/');
                    }
                    p.push_str(last_key.as_deref().unwrap_or("?"));
                }
                Frame::Seq { index } => {
                    if !p.is_empty() {
                        p.push('/');
                    }
                    p.push_str(&format!("item {index}"));
                }
            }
        }
        p
    }

    /// A node starts: a scalar key is checked; the parent map moves between key and value.
    fn node(&mut self, scalar_key: Option<(String, usize)>) {
        let depth = self.stack.len();
        let path = self.path();
        let top = self.top;
        let Some(frame) = self.stack.last_mut() else {
            return;
        };
        match frame {
            Frame::Map {
                at_key,
                seen,
                last_key,
            } => {
                if *at_key {
                    if let Some((k, line)) = scalar_key {
                        let compared = if depth == 1 && top == TopKeys::EnvironmentNames {
                            crate::names::key(&k)
                        } else {
                            k.clone()
                        };
                        // `<<` merge keys may repeat.
                        if k != "<<" {
                            if let Some((first, first_line)) = seen.get(&compared) {
                                self.found.push(Duplicate {
                                    first: first.clone(),
                                    first_line: *first_line,
                                    second: k.clone(),
                                    second_line: line,
                                    within: path,
                                });
                            } else {
                                seen.insert(compared, (k.clone(), line));
                            }
                        }
                        *last_key = Some(k);
                    } else {
                        *last_key = None;
                    }
                }
                *at_key = !*at_key;
            }
            Frame::Seq { index } => *index += 1,
        }
    }
}

impl MarkedEventReceiver for Walker {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::Scalar(value, ..) => self.node(Some((value, mark.line()))),
            Event::Alias(_) => self.node(None),
            Event::MappingStart(..) => {
                self.node(None);
                self.stack.push(Frame::Map {
                    at_key: true,
                    seen: HashMap::new(),
                    last_key: None,
                });
            }
            Event::SequenceStart(..) => {
                self.node(None);
                self.stack.push(Frame::Seq { index: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            Event::DocumentStart => self.stack.clear(),
            _ => {}
        }
    }
}

/// A YAML node with the line it starts on (1-based): what [`tree`] builds, for readers that report
/// positions (`stevedore check` names the file and line of every problem).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    /// A scalar as written (a plain `~`, `null` or empty value is `""`; `True`/`TRUE` are `true`, as a
    /// YAML 1.2 core-schema reader such as the GitHub runner's sees them).
    Scalar {
        value: String,
        line: usize,
    },
    /// A mapping: (key, line of the key, value), in order. A key that is not a scalar is `""`.
    Map {
        line: usize,
        entries: Vec<(String, usize, Node)>,
    },
    Seq {
        line: usize,
        items: Vec<Node>,
    },
}

impl Node {
    /// The line the node starts on.
    #[must_use]
    pub fn line(&self) -> usize {
        match self {
            Node::Scalar { line, .. } | Node::Map { line, .. } | Node::Seq { line, .. } => *line,
        }
    }

    /// The value of `key` when this is a mapping that has it (the last one, as the runner reads it).
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map { entries, .. } => entries
                .iter()
                .rev()
                .find(|(k, _, _)| k == key)
                .map(|(_, _, v)| v),
            _ => None,
        }
    }

    /// The scalar's text, `None` for a mapping or a sequence.
    #[must_use]
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Node::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }
}

/// Every document of `text` as a [`Node`] tree, aliases replaced by what their anchors name. `Err` is
/// the parser's message and the line it points at.
pub fn tree(text: &str) -> Result<Vec<Node>, (String, usize)> {
    let mut b = TreeBuilder::default();
    let mut parser = Parser::new_from_str(text);
    parser
        .load(&mut b, true)
        .map_err(|e| (e.info().to_owned(), e.marker().line()))?;
    Ok(b.docs)
}

enum Partial {
    Map {
        line: usize,
        anchor: usize,
        entries: Vec<(String, usize, Node)>,
        key: Option<(String, usize)>,
    },
    Seq {
        line: usize,
        anchor: usize,
        items: Vec<Node>,
    },
}

#[derive(Default)]
struct TreeBuilder {
    stack: Vec<Partial>,
    docs: Vec<Node>,
    anchors: HashMap<usize, Node>,
}

impl TreeBuilder {
    fn push(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some(Partial::Seq { items, .. }) => items.push(node),
            Some(Partial::Map { entries, key, .. }) => match key.take() {
                Some((k, line)) => entries.push((k, line, node)),
                None => {
                    let k = node.as_str().unwrap_or_default().to_owned();
                    *key = Some((k, node.line()));
                }
            },
        }
    }
}

/// A plain scalar as a YAML 1.2 core-schema reader sees it, in the text the runner passes on.
fn plain(value: String) -> String {
    match value.as_str() {
        "~" | "null" | "Null" | "NULL" => String::new(),
        "True" | "TRUE" => "true".to_owned(),
        "False" | "FALSE" => "false".to_owned(),
        _ => value,
    }
}

impl MarkedEventReceiver for TreeBuilder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let line = mark.line();
        match ev {
            Event::Scalar(value, style, anchor, _) => {
                let value = if style == yaml_rust2::scanner::TScalarStyle::Plain {
                    plain(value)
                } else {
                    value
                };
                self.push(Node::Scalar { value, line }, anchor);
            }
            Event::Alias(id) => {
                let node = self.anchors.get(&id).cloned().unwrap_or(Node::Scalar {
                    value: String::new(),
                    line,
                });
                self.push(node, 0);
            }
            Event::MappingStart(anchor, _) => self.stack.push(Partial::Map {
                line,
                anchor,
                entries: Vec::new(),
                key: None,
            }),
            Event::SequenceStart(anchor, _) => self.stack.push(Partial::Seq {
                line,
                anchor,
                items: Vec::new(),
            }),
            Event::MappingEnd | Event::SequenceEnd => match self.stack.pop() {
                Some(Partial::Map {
                    line,
                    anchor,
                    entries,
                    ..
                }) => self.push(Node::Map { line, entries }, anchor),
                Some(Partial::Seq {
                    line,
                    anchor,
                    items,
                }) => self.push(Node::Seq { line, items }, anchor),
                None => {}
            },
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_tree_keeps_lines_values_and_aliases() {
        let docs = tree("a: &x\n  b: ~\n  c: True\nd:\n  - 'TRUE'\n  - *x\n").unwrap();
        let root = &docs[0];
        let Node::Map { entries, .. } = root else {
            panic!("{root:?}")
        };
        assert_eq!(
            entries
                .iter()
                .map(|(k, l, _)| (k.as_str(), *l))
                .collect::<Vec<_>>(),
            [("a", 1), ("d", 4)]
        );
        let a = root.get("a").unwrap();
        assert_eq!(a.get("b").unwrap().as_str(), Some(""));
        assert_eq!(a.get("c").unwrap().as_str(), Some("true"));
        assert_eq!(a.get("c").unwrap().line(), 3);
        let Node::Seq { items, .. } = root.get("d").unwrap() else {
            panic!()
        };
        // Quoted scalars are kept as written; an alias is the anchored node.
        assert_eq!(items[0].as_str(), Some("TRUE"));
        assert_eq!(&items[1], a);
        let (msg, line) = tree("a: 1\nb: [\n").unwrap_err();
        assert!(line >= 2, "{msg} at {line}");
    }

    use super::*;

    /// Issue 30: `production: [*-stable]` failed with "unknown anchor" alone.
    #[test]
    fn an_unquoted_glob_starting_with_a_star_is_told_to_be_quoted() {
        for y in ["production: [*-stable]\n", "checks:\n  - *.xml\n"] {
            let e = from_str::<serde_yaml_ng::Value>(y, TopKeys::EnvironmentNames)
                .expect_err("an alias without its anchor");
            let m = e.to_string();
            assert!(m.contains("quote a glob that starts with `*`"), "{m}");
            assert!(m.contains(r#"["*-stable"]"#), "{m}");
        }
        // The `trigger-policy` input reads through here and keeps the hint
        // (`policy::tests::an_unquoted_stable_glob_is_told_to_be_quoted`).
        // Quoted, it is the glob it meant.
        let v: std::collections::BTreeMap<String, Vec<String>> =
            from_str("production: [\"*-stable\"]\n", TopKeys::EnvironmentNames).expect("quoted");
        assert_eq!(v["production"], ["*-stable"]);
    }

    #[test]
    fn an_exact_duplicate_names_both_lines() {
        let d = duplicates("dev: 1\nproduction: 2\nproduction: 3\n", TopKeys::Exact);
        assert_eq!(d.len(), 1);
        assert_eq!(
            d[0].to_string(),
            "has the key `production` twice (lines 2 and 3); the second would silently replace the first"
        );
    }

    #[test]
    fn environment_names_differing_in_case_are_duplicates_only_where_asked() {
        let y = "production: {role: a}\nProduction: {role: b}\n";
        assert!(duplicates(y, TopKeys::Exact).is_empty());
        let d = duplicates(y, TopKeys::EnvironmentNames);
        assert_eq!(
            d[0].to_string(),
            "has the keys `production` (line 1) and `Production` (line 2), which name the same environment (environment names are compared case-insensitively, after Unicode compatibility folding)"
        );
        // Nested keys stay exact: `Role` and `role` are different fields (serde refuses the unknown one).
        assert!(duplicates("dev: {role: a, Role: b}\n", TopKeys::EnvironmentNames).is_empty());
    }

    #[test]
    fn nested_and_flow_duplicates_are_found_with_their_path() {
        let d = duplicates(
            "- name: Lint\n  results: a\n- name: Tests\n  results: {path: x, path: y}\n",
            TopKeys::Exact,
        );
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].within, "item 2/results");
        assert_eq!((d[0].first_line, d[0].second_line), (4, 4));
        let d = duplicates("a:\n  b: 1\n  c: 2\n  b: 3\n", TopKeys::Exact);
        assert_eq!(d[0].within, "a");
        assert_eq!((d[0].first_line, d[0].second_line), (2, 4));
    }

    #[test]
    fn values_equal_to_keys_and_sequences_of_maps_are_not_duplicates() {
        assert!(duplicates("a: a\nb: [a, a]\nc: {x: a}\n", TopKeys::Exact).is_empty());
        assert!(duplicates("- {a: 1}\n- {a: 2}\n", TopKeys::Exact).is_empty());
        assert!(duplicates("a: &x {k: 1}\nb:\n  <<: *x\n  j: 2\n", TopKeys::Exact).is_empty());
    }

    #[test]
    fn from_str_refuses_before_deserialising() {
        let r: Result<std::collections::BTreeMap<String, u32>, _> =
            from_str("a: 1\na: 2\n", TopKeys::Exact);
        assert!(
            r.unwrap_err()
                .to_string()
                .contains("`a` twice (lines 1 and 2)")
        );
        let ok: std::collections::BTreeMap<String, u32> =
            from_str("a: 1\nb: 2\n", TopKeys::Exact).unwrap();
        assert_eq!(ok.len(), 2);
        assert!(from_str::<u32>("[", TopKeys::Exact).is_err());
    }
}
