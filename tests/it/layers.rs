//! The layers of `src/` (docs/architecture.md): no two top-level modules import each other, directly or
//! through others. Read from the sources' `crate::` paths (comments left out), so a new import that closes
//! a cycle fails here with the cycle named.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::helpers::runner::repo_root;

type Graph = BTreeMap<String, BTreeSet<String>>;

/// Top-level modules: `src/<name>.rs` and `src/<name>/`, without the crate roots.
fn top_level_modules(src: &Path) -> BTreeSet<String> {
    std::fs::read_dir(src)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let name = p.file_stem()?.to_str()?.to_owned();
            (p.is_dir() || p.extension().is_some_and(|e| e == "rs")).then_some(name)
        })
        .filter(|n| n != "main" && n != "lib")
        .collect()
}

/// The text of a source file without its comments (`//`, `///`, `//!`, `/* */`); string contents kept,
/// which is harmless here (no string in `src/` holds `crate::`).
fn code_of(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("//") {
            rest = r.find('\n').map_or("", |i| &r[i..]);
        } else if let Some(r) = rest.strip_prefix("/*") {
            rest = r.find("*/").map_or("", |i| &r[i + 2..]);
        } else if rest.starts_with('"') {
            // Skip a string literal so a `//` inside it is not taken for a comment.
            let mut end = 1;
            let bytes = rest.as_bytes();
            while end < bytes.len() && bytes[end] != b'"' {
                end += if bytes[end] == b'\\' { 2 } else { 1 };
            }
            let end = (end + 1).min(rest.len());
            out.push_str(&rest[..end]);
            rest = &rest[end..];
        } else {
            let c = rest.chars().next().unwrap();
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// The first segments of every `crate::` path in `code`, `crate::{a, b::c}` groups included.
fn crate_paths(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let after = &code[i + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            // The group's top-level items: split on commas outside nested braces.
            let mut depth = 0;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.insert(first_segment(&item));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            found.insert(first_segment(&item));
        } else {
            found.insert(first_segment(after));
        }
    }
    found.remove("");
    found
}

fn first_segment(path: &str) -> String {
    path.trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

fn files_under(p: &Path, out: &mut Vec<std::path::PathBuf>) {
    if p.is_dir() {
        for e in std::fs::read_dir(p).unwrap() {
            files_under(&e.unwrap().path(), out);
        }
    } else if p.extension().is_some_and(|e| e == "rs") {
        out.push(p.to_owned());
    }
}

/// Which top-level module imports which, from the sources under `src`.
fn import_graph(src: &Path) -> Graph {
    let modules = top_level_modules(src);
    let mut graph = Graph::new();
    for m in &modules {
        let mut files = Vec::new();
        files_under(&src.join(format!("{m}.rs")), &mut files);
        files_under(&src.join(m), &mut files);
        let deps = graph.entry(m.clone()).or_default();
        for f in files {
            let code = code_of(&std::fs::read_to_string(&f).unwrap());
            deps.extend(
                crate_paths(&code)
                    .into_iter()
                    .filter(|d| d != m && modules.contains(d)),
            );
        }
    }
    graph
}

/// A cycle in `graph` as the list of modules along it (first = last), if there is one.
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        graph: &Graph,
        done: &mut BTreeSet<String>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == n) {
            let mut cycle = path[at..].to_vec();
            cycle.push(n.to_owned());
            return Some(cycle);
        }
        if done.contains(n) {
            return None;
        }
        path.push(n.to_owned());
        for d in graph.get(n).into_iter().flatten() {
            if let Some(c) = visit(d, graph, done, path) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(n.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut done, &mut Vec::new()))
}

#[test]
fn no_two_top_level_modules_import_each_other() {
    let graph = import_graph(&repo_root().join("src"));
    // The reader sees the imports it must see (guards against a reader that finds nothing).
    assert!(graph["modes"].contains("aws") && graph["modes"].contains("github"));
    assert!(graph["app"].contains("modes") && graph["config"].contains("modes"));
    assert!(graph["aws"].contains("oidc"), "{graph:#?}");
    if let Some(cycle) = find_cycle(&graph) {
        panic!(
            "the modules of src/ import each other: {} (docs/architecture.md: lower layers never \
             import from higher ones)\n{graph:#?}",
            cycle.join(" -> ")
        );
    }
}

#[test]
fn the_layer_reader_finds_grouped_paths_skips_comments_and_names_a_cycle() {
    let code = code_of(
        "use crate::{aws::{self, Purpose}, env::Env};\n// use crate::modes;\n/* crate::app */\n\
         let s = \"// not a comment\"; crate::report::x();",
    );
    assert_eq!(
        crate_paths(&code),
        ["aws", "env", "report"].map(String::from).into()
    );
    let mut g = Graph::new();
    g.entry("aws".into()).or_default().insert("env".into());
    g.entry("env".into()).or_default();
    assert_eq!(find_cycle(&g), None);
    g.entry("env".into()).or_default().insert("modes".into());
    g.entry("modes".into()).or_default().insert("aws".into());
    assert_eq!(
        find_cycle(&g).unwrap(),
        ["aws", "env", "modes", "aws"].map(String::from)
    );
}

#[test]
fn the_picture_in_docs_architecture_is_every_import() {
    let graph = import_graph(&repo_root().join("src"));
    let doc = std::fs::read_to_string(repo_root().join("docs/architecture.md")).unwrap();
    let mermaid = doc
        .split("```mermaid\n")
        .nth(1)
        .and_then(|s| s.split("```").next())
        .expect("docs/architecture.md has a mermaid block");
    let drawn: BTreeSet<(String, String)> = mermaid
        .lines()
        .filter_map(|l| l.trim().split_once(" --> "))
        .map(|(a, b)| (a.trim().to_owned(), b.trim().to_owned()))
        .collect();
    let actual: BTreeSet<(String, String)> = graph
        .iter()
        .flat_map(|(m, ds)| ds.iter().map(move |d| (m.clone(), d.clone())))
        .collect();
    let missing: Vec<_> = actual.difference(&drawn).collect();
    let stale: Vec<_> = drawn.difference(&actual).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "docs/architecture.md's picture differs from the sources: imports not drawn {missing:?}, \
         drawn but not imported {stale:?}"
    );
}
