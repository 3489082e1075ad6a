//! Paths in result files, made relative to the repository whatever the producer wrote.
//!
//! Producers write absolute runner paths (`/home/runner/work/r/r/src/a.rs`), the container's
//! `/github/workspace/src/a.rs`, `./src/a.rs`, `file:///...` URIs (SARIF), Windows separators, or paths relative
//! to a sub-directory (cargo's `manifest_path`, Cobertura's `<source>`). Annotations need `src/a.rs`.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// The container's workspace mount (runner contract).
const CONTAINER_WORKSPACE: &str = "/github/workspace";

/// Maps producer paths to repository-relative ones.
#[derive(Clone, Debug)]
pub struct PathMap {
    root: PathBuf,
    /// `root` as a `/`-separated string without a trailing `/`.
    root_str: String,
    /// Further absolute prefixes the producer may have used for the same directory.
    aliases: Vec<String>,
    /// Prefixes learned by the suffix search (the runner's workspace seen from the container), and absolute
    /// paths known not to be in the repository: a report names the same few prefixes thousands of times.
    learned: Arc<Mutex<Learned>>,
    /// The directories result files may be read from, links resolved: the workspace and `RUNNER_TEMP`.
    readable: Vec<PathBuf>,
    /// The workspace's files by name, listed on first need (a path named nowhere at its exact place).
    index: Arc<OnceLock<FileIndex>>,
}

/// Repository files by file name, from a bounded walk of the workspace.
#[derive(Debug, Default)]
struct FileIndex {
    by_name: HashMap<String, Vec<String>>,
}

/// Directories the file index never enters: history, build output and installed dependencies, whose files
/// a test report may name but an annotation must not point at.
const INDEX_SKIP_DIRS: [&str; 5] = [".git", "target", "node_modules", ".venv", "__pycache__"];
/// Most directory entries the file index looks at; a larger workspace is indexed in part.
const MAX_INDEX_ENTRIES: usize = 200_000;
/// Deepest directory level the file index enters.
const MAX_INDEX_DEPTH: usize = 40;

#[derive(Debug, Default)]
struct Learned {
    prefixes: Vec<String>,
    outside: HashSet<String>,
}

/// Most absolute paths remembered as outside the repository.
const MAX_OUTSIDE: usize = 10_000;

impl PathMap {
    /// A map for the repository checked out at `root`.
    #[must_use]
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        let root_str = trim_slash(&root.to_string_lossy().replace('\\', "/"));
        let readable = vec![std::fs::canonicalize(&root).unwrap_or_else(|_| root.clone())];
        Self {
            root,
            root_str,
            aliases: vec![CONTAINER_WORKSPACE.to_owned()],
            learned: Arc::default(),
            readable,
            index: Arc::default(),
        }
    }

    /// Also lets result files be read from `dir` (the runner's `RUNNER_TEMP`).
    #[must_use]
    pub fn with_readable(mut self, dir: Option<&str>) -> Self {
        if let Some(c) = dir
            .filter(|d| !d.trim().is_empty())
            .and_then(|d| std::fs::canonicalize(d).ok())
        {
            self.readable.push(c);
        }
        self
    }

    /// `path` with every link resolved, when that lies inside the workspace or `RUNNER_TEMP`; `None` when
    /// it lies elsewhere or cannot be resolved (a dangling link). Result files are read only through this,
    /// so a link a pull request adds (`junit.xml -> /proc/self/environ`) is never opened.
    #[must_use]
    pub fn resolve_readable(&self, path: &Path) -> Option<PathBuf> {
        let c = std::fs::canonicalize(path).ok()?;
        self.readable.iter().any(|r| c.starts_with(r)).then_some(c)
    }

    /// Adds an absolute prefix the producer used for the repository root (e.g. the runner's
    /// `/home/runner/work/r/r` when the files are read inside the container).
    #[must_use]
    pub fn with_alias(mut self, prefix: &str) -> Self {
        self.aliases.push(trim_slash(&prefix.replace('\\', "/")));
        self
    }

    /// The repository directory on this machine.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `raw` relative to the repository, `/`-separated, without `./`.
    #[must_use]
    pub fn relativize(&self, raw: &str) -> String {
        self.relativize_in(None, raw)
    }

    /// Like [`relativize`](Self::relativize), with `raw` resolved against `base` (a directory the producer
    /// named, absolute or repository-relative) when `raw` is relative.
    #[must_use]
    pub fn relativize_in(&self, base: Option<&str>, raw: &str) -> String {
        let mut p = raw.trim().replace('\\', "/");
        if let Some(rest) = p.strip_prefix("file://") {
            p = percent_decode(rest);
        }
        // `C:/x` from Windows runners: treat as absolute.
        let windows_abs = p.len() > 2 && p.as_bytes()[1] == b':' && p.as_bytes()[2] == b'/';
        if !p.starts_with('/')
            && !windows_abs
            && let Some(b) = base
                .map(|b| b.trim().replace('\\', "/"))
                .filter(|b| !b.is_empty())
        {
            p = format!("{}/{}", trim_slash(&b), p);
        }
        let p = normalize(&p);
        if p.starts_with('/') || windows_abs {
            for prefix in std::iter::once(&self.root_str).chain(&self.aliases) {
                if let Some(rest) = strip_dir_prefix(&p, prefix) {
                    return rest.to_owned();
                }
            }
            let mut learned = self
                .learned
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for prefix in &learned.prefixes {
                if let Some(rest) = strip_dir_prefix(&p, prefix) {
                    return rest.to_owned();
                }
            }
            if learned.outside.contains(&p) {
                return p;
            }
            // An unknown absolute prefix (another runner's workspace): the longest suffix that exists here.
            let mut rest = p.as_str();
            while let Some(i) = rest[1..].find('/') {
                rest = &rest[i + 1..];
                let candidate = &rest[1..];
                if !candidate.is_empty() && self.root.join(candidate).exists() {
                    let prefix = p[..p.len() - rest.len()].to_owned();
                    // Only a prefix that leaves a multi-segment path is trusted for later paths.
                    if candidate.contains('/') && learned.prefixes.len() < 16 {
                        learned.prefixes.push(prefix);
                    }
                    return candidate.to_owned();
                }
            }
            if learned.outside.len() < MAX_OUTSIDE {
                learned.outside.insert(p.clone());
            }
            return p;
        }
        p
    }

    /// Whether `rel` (repository-relative) names an existing file. A path that climbs out (`../x`) is never
    /// looked at: a report must not learn whether a file exists outside the workspace.
    #[must_use]
    pub fn exists(&self, rel: &str) -> bool {
        !is_absolute(rel) && !rel.split('/').any(|s| s == "..") && self.root.join(rel).is_file()
    }

    /// `raw` as an existing repository file, or `None`.
    ///
    /// First [`relativize`](Self::relativize) (the workspace's own prefixes, then the longest suffix that
    /// exists at the root). When nothing exists there (the tests ran in a sub-directory mounted elsewhere,
    /// `/workspace/app/test/OtherTest.php` for the repository's `services/app/test/OtherTest.php`, or a JVM
    /// stack frame names only `OtherTest.java`), the one workspace file whose path ends with the most
    /// trailing segments of `raw`: at least the file name and its directory when `raw` has a directory,
    /// the file name alone when it has none. `package_dir` (`org/apache/pulsar` from a JVM frame) is tried
    /// first in front of a bare name. Ties find nothing: an annotation is never placed on a guess.
    ///
    /// Only names inside the workspace are listed (links are not followed); nothing is read.
    #[must_use]
    pub fn find(&self, raw: &str, package_dir: Option<&str>) -> Option<String> {
        let rel = self.relativize(raw);
        if self.exists(&rel) {
            return Some(rel);
        }
        let segs: Vec<&str> = rel
            .split('/')
            .filter(|s| !s.is_empty() && *s != "." && *s != "..")
            .collect();
        let name = *segs.last()?;
        if segs.len() == 1
            && let Some(dir) = package_dir.filter(|d| !d.is_empty())
        {
            let mut q: Vec<&str> = dir.split('/').filter(|s| !s.is_empty()).collect();
            q.push(name);
            if let Some(f) = self.by_suffix(&q, 2) {
                return Some(f);
            }
        }
        self.by_suffix(&segs, if segs.len() == 1 { 1 } else { 2 })
    }

    /// The one indexed file sharing the most trailing segments (at least `min`) with `query`.
    fn by_suffix(&self, query: &[&str], min: usize) -> Option<String> {
        let name = *query.last()?;
        let index = self.index.get_or_init(|| FileIndex::build(&self.root));
        let mut best: Option<&str> = None;
        let mut best_len = 0;
        let mut tied = false;
        for cand in index.by_name.get(name)? {
            let shared = cand
                .rsplit('/')
                .zip(query.iter().rev())
                .take_while(|(a, b)| a == *b)
                .count();
            if shared > best_len {
                best = Some(cand);
                best_len = shared;
                tied = false;
            } else if shared == best_len {
                tied = true;
            }
        }
        (best_len >= min && !tied)
            .then(|| best.map(str::to_owned))
            .flatten()
    }
}

impl FileIndex {
    /// Lists the files below `root`: links are not followed, [`INDEX_SKIP_DIRS`] and hidden directories are
    /// not entered, and the walk stops after [`MAX_INDEX_ENTRIES`] entries or [`MAX_INDEX_DEPTH`] levels.
    fn build(root: &Path) -> Self {
        let mut index = FileIndex::default();
        let mut seen = 0usize;
        let mut stack = vec![(root.to_path_buf(), String::new(), 0usize)];
        'walk: while let Some((dir, rel, depth)) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                seen += 1;
                if seen > MAX_INDEX_ENTRIES {
                    tracing::debug!(
                        "file index stopped after {MAX_INDEX_ENTRIES} entries; bare file names in test reports may not be found"
                    );
                    break 'walk;
                }
                let Ok(kind) = entry.file_type() else {
                    continue;
                };
                let name = entry.file_name().to_string_lossy().into_owned();
                let path = if rel.is_empty() {
                    name.clone()
                } else {
                    format!("{rel}/{name}")
                };
                if kind.is_dir() {
                    if depth < MAX_INDEX_DEPTH
                        && !name.starts_with('.')
                        && !INDEX_SKIP_DIRS.contains(&name.as_str())
                    {
                        stack.push((entry.path(), path, depth + 1));
                    }
                } else if kind.is_file() {
                    index.by_name.entry(name).or_default().push(path);
                }
            }
        }
        index
    }
}

/// Whether `p` (after [`PathMap::relativize`]) is still absolute: a place outside the repository.
#[must_use]
pub fn is_absolute(p: &str) -> bool {
    let b = p.as_bytes();
    p.starts_with('/') || (b.len() > 2 && b[1] == b':' && b[2] == b'/')
}

fn trim_slash(s: &str) -> String {
    let t = s.trim_end_matches('/');
    if t.is_empty() {
        s.to_owned()
    } else {
        t.to_owned()
    }
}

fn strip_dir_prefix<'a>(p: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = p.strip_prefix(prefix)?;
    let rest = rest.strip_prefix('/')?;
    (!rest.is_empty()).then_some(rest)
}

/// Removes `.` segments, resolves `..` where possible, collapses `//`.
fn normalize(p: &str) -> String {
    let absolute = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." if out.last().is_some_and(|l| *l != "..") => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    let joined = out.join("/");
    if absolute {
        format!("/{joined}")
    } else {
        joined
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn producer_paths_become_repository_relative() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("src")).unwrap();
        std::fs::write(dir.path().join("src/a.rs"), "").unwrap();
        let root = dir.path().to_string_lossy().into_owned();
        let m = PathMap::new(dir.path());
        assert_eq!(m.relativize(&format!("{root}/src/a.rs")), "src/a.rs");
        assert_eq!(m.relativize("/github/workspace/src/a.rs"), "src/a.rs");
        assert_eq!(m.relativize("./src/./a.rs"), "src/a.rs");
        assert_eq!(m.relativize("src\\a.rs"), "src/a.rs");
        assert_eq!(m.relativize("/home/runner/work/r/r/src/a.rs"), "src/a.rs");
        assert_eq!(m.relativize(&format!("file://{root}/src/a.rs")), "src/a.rs");
        assert_eq!(
            m.relativize("file:///github/workspace/src/my%20file.rs"),
            "src/my file.rs"
        );
        assert_eq!(
            m.relativize_in(Some("crates/x"), "src/lib.rs"),
            "crates/x/src/lib.rs"
        );
        assert_eq!(
            m.relativize_in(Some(&format!("{root}/src")), "a.rs"),
            "src/a.rs"
        );
        assert_eq!(
            m.relativize_in(Some("/github/workspace/"), "./b/../src/a.rs"),
            "src/a.rs"
        );
        // Outside the repository and not found here: kept absolute, never invented.
        assert_eq!(
            m.relativize("/usr/lib/x/nothere.rs"),
            "/usr/lib/x/nothere.rs"
        );
    }

    #[test]
    fn find_maps_foreign_paths_by_their_longest_suffix_and_never_guesses() {
        let dir = tempfile::tempdir().unwrap();
        for f in [
            "services/app/test/OtherTest.php",
            "lib/test/Helper.php",
            "web/test/Helper.php",
            "src/main/java/org/x/Foo.java",
            "src/test/java/org/y/Foo.java",
            "target/classes/org/x/Only.java",
            ".git/objects/Hidden.java",
        ] {
            std::fs::create_dir_all(dir.path().join(f).parent().unwrap()).unwrap();
            std::fs::write(dir.path().join(f), "").unwrap();
        }
        let m = PathMap::new(dir.path());
        // Another machine's mount of a sub-directory: the longest suffix that names one workspace file.
        assert_eq!(
            m.find("/workspace/app/test/OtherTest.php", None).as_deref(),
            Some("services/app/test/OtherTest.php")
        );
        assert_eq!(
            m.find("test/OtherTest.php", None).as_deref(),
            Some("services/app/test/OtherTest.php")
        );
        // Only the file name in common is not enough for a path with directories.
        assert_eq!(m.find("/usr/share/php/OtherTest.php", None), None);
        // Two candidates share the same suffix: no guess.
        assert_eq!(m.find("/workspace/test/Helper.php", None), None);
        assert_eq!(
            m.find("/workspace/web/test/Helper.php", None).as_deref(),
            Some("web/test/Helper.php")
        );
        // A bare JVM file name: the package decides between same-named files, and one alone is taken.
        assert_eq!(
            m.find("Foo.java", Some("org/y")).as_deref(),
            Some("src/test/java/org/y/Foo.java")
        );
        assert_eq!(m.find("Foo.java", None), None);
        assert_eq!(
            m.find("OtherTest.php", Some("a/b")).as_deref(),
            Some("services/app/test/OtherTest.php")
        );
        // Build output and history are not indexed.
        assert_eq!(m.find("Only.java", None), None);
        assert_eq!(m.find("Hidden.java", None), None);
        // Present at the exact place: as relativize says.
        assert_eq!(
            m.find("/home/runner/work/r/r/lib/test/Helper.php", None)
                .as_deref(),
            Some("lib/test/Helper.php")
        );
    }

    #[test]
    fn nothing_outside_the_workspace_is_looked_at() {
        let outer = tempfile::tempdir().unwrap();
        let ws = outer.path().join("ws");
        std::fs::create_dir_all(ws.join("src")).unwrap();
        std::fs::write(outer.path().join("Secret.java"), "").unwrap();
        let m = PathMap::new(&ws);
        assert!(!m.exists("../Secret.java"));
        assert_eq!(m.find("../Secret.java", None), None);
        assert_eq!(m.find("src/../../Secret.java", None), None);
        assert_eq!(m.find("Secret.java", None), None);
    }
}
