//! Paths in result files, made relative to the repository whatever the producer wrote.
//!
//! Producers write absolute runner paths (`/home/runner/work/r/r/src/a.rs`), the container's
//! `/github/workspace/src/a.rs`, `./src/a.rs`, `file:///...` URIs (SARIF), Windows separators, or paths relative
//! to a sub-directory (cargo's `manifest_path`, Cobertura's `<source>`). Annotations need `src/a.rs`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

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
}

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

    /// Whether `rel` (repository-relative) names an existing file.
    #[must_use]
    pub fn exists(&self, rel: &str) -> bool {
        !rel.starts_with('/') && self.root.join(rel).is_file()
    }
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
}
