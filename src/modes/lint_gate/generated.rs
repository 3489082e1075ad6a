//! "Generated files up to date": the workspace compared with its git index, in-process.
//!
//! A generator (codegen, lockfile update, `cargo fmt`, OpenAPI client) ran in an earlier step; any tracked
//! file it changed or deleted, and any new file that is neither tracked nor ignored, means the commit is
//! stale. We use gix (no git binary in the image). The workspace is usually owned by the runner's uid, not
//! ours: git would refuse it ("dubious ownership"); gix opens it with reduced trust instead, which only
//! limits which configuration is honoured, and ignores system/global configuration (`isolated`).

use std::path::Path;

use gix::bstr::ByteSlice;

/// How a path differs from the index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    Modified,
    Deleted,
    New,
    TypeChanged,
    Conflict,
}

impl ChangeKind {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Modified => "modified",
            ChangeKind::Deleted => "deleted",
            ChangeKind::New => "new",
            ChangeKind::TypeChanged => "type changed",
            ChangeKind::Conflict => "conflict",
        }
    }
}

/// One stale path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaleFile {
    pub path: String,
    pub kind: ChangeKind,
    /// First changed line in the workspace version (1 when unknown).
    pub line: u32,
    /// A short unified-style diff.
    pub diff: String,
}

/// Failure to read the repository.
#[derive(Debug, thiserror::Error)]
pub enum GeneratedError {
    #[error(
        "`{path}` is not a git checkout ({detail}); check out the repository with actions/checkout before this step"
    )]
    Open { path: String, detail: String },
    #[error("cannot compare the workspace with the git index: {0}")]
    Status(String),
}

/// At most this many diff lines per file.
const DIFF_LINES: usize = 16;
/// Files larger than this are not diffed.
const DIFF_MAX_BYTES: usize = 1024 * 1024;

/// Lists every path of `workspace` that differs from the index, except those matching `ignore`.
pub fn stale_files(
    workspace: &Path,
    ignore: &globset::GlobSet,
) -> Result<Vec<StaleFile>, GeneratedError> {
    let repo = gix::open::Options::isolated()
        .with(gix::sec::Trust::Reduced)
        .open(workspace)
        .map_err(|e| GeneratedError::Open {
            path: workspace.display().to_string(),
            detail: e.to_string(),
        })?
        .to_thread_local();
    let workdir = repo
        .workdir()
        .map(Path::to_owned)
        .ok_or_else(|| GeneratedError::Open {
            path: workspace.display().to_string(),
            detail: "bare repository".into(),
        })?;
    let iter = repo
        .status(gix::progress::Discard)
        .map_err(|e| GeneratedError::Status(e.to_string()))?
        .untracked_files(gix::status::UntrackedFiles::Files)
        .index_worktree_rewrites(None)
        .into_index_worktree_iter(Vec::<gix::bstr::BString>::new())
        .map_err(|e| GeneratedError::Status(e.to_string()))?;
    let mut out = Vec::new();
    for item in iter {
        let item = item.map_err(|e| GeneratedError::Status(e.to_string()))?;
        use gix::status::index_worktree::Item;
        use gix::status::index_worktree::iter::Summary;
        let Some(summary) = item.summary() else {
            continue;
        };
        let path = item.rela_path().to_str_lossy().into_owned();
        if ignore.is_match(&path) {
            continue;
        }
        let kind = match summary {
            Summary::Removed => ChangeKind::Deleted,
            Summary::Added | Summary::Copied | Summary::Renamed | Summary::IntentToAdd => {
                ChangeKind::New
            }
            Summary::Modified => ChangeKind::Modified,
            Summary::TypeChange => ChangeKind::TypeChanged,
            Summary::Conflict => ChangeKind::Conflict,
        };
        let old = match &item {
            Item::Modification { entry, .. } => {
                repo.find_object(entry.id).ok().map(|o| o.data.clone())
            }
            _ => None,
        };
        let new = match kind {
            ChangeKind::Deleted => None,
            _ => std::fs::read(workdir.join(&path)).ok(),
        };
        let (line, diff) = short_diff(old.as_deref(), new.as_deref());
        out.push(StaleFile {
            path,
            kind,
            line,
            diff,
        });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// A short diff of `old` (index) against `new` (workspace): the changed block between the common prefix and
/// suffix, at most [`DIFF_LINES`] lines. Returns the first changed line of `new` too.
#[must_use]
pub fn short_diff(old: Option<&[u8]>, new: Option<&[u8]>) -> (u32, String) {
    let binary = |b: &[u8]| b.len() > DIFF_MAX_BYTES || b.contains(&0);
    if old.is_some_and(binary) || new.is_some_and(binary) {
        return (1, "(binary or large file differs)".to_owned());
    }
    let text = |b: Option<&[u8]>| {
        b.map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default()
    };
    let (old, new) = (text(old), text(new));
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let removed = &a[prefix..a.len() - suffix];
    let added = &b[prefix..b.len() - suffix];
    let mut lines = vec![format!(
        "@@ -{},{} +{},{} @@",
        prefix + 1,
        removed.len(),
        prefix + 1,
        added.len()
    )];
    let total = removed.len() + added.len();
    lines.extend(
        removed
            .iter()
            .map(|l| format!("-{l}"))
            .chain(added.iter().map(|l| format!("+{l}")))
            .take(DIFF_LINES),
    );
    if total > DIFF_LINES {
        lines.push(format!("… {} more changed line(s)", total - DIFF_LINES));
    }
    if total == 0 {
        lines.push("(only line endings, whitespace at the end, or file mode differ)".to_owned());
    }
    (u32::try_from(prefix + 1).unwrap_or(1), lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_diffs_show_the_changed_block() {
        let (line, d) = short_diff(Some(b"a\nb\nc\n"), Some(b"a\nB\nc\n"));
        assert_eq!(line, 2);
        assert_eq!(d, "@@ -2,1 +2,1 @@\n-b\n+B");
        let (line, d) = short_diff(None, Some(b"new\n"));
        assert_eq!((line, d.as_str()), (1, "@@ -1,0 +1,1 @@\n+new"));
        let big: String = (0..40).map(|i| format!("{i}\n")).collect();
        let (_, d) = short_diff(Some(b""), Some(big.as_bytes()));
        assert!(d.ends_with("… 24 more changed line(s)"), "{d}");
        assert_eq!(
            short_diff(Some(b"\0x"), Some(b"y")).1,
            "(binary or large file differs)"
        );
    }
}

#[cfg(test)]
mod ignored_tests {
    use super::*;

    fn git(dir: &Path, args: &[&str]) {
        let ok = std::process::Command::new("git")
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@e",
                "-c",
                "init.defaultBranch=main",
            ])
            .args(args)
            .current_dir(dir)
            .status()
            .expect("git")
            .success();
        assert!(ok, "git {args:?}");
    }

    /// Issue 30: ordinary ignored leftovers (`.coverage`, `__pycache__/*.pyc`, `dist/`) are not stale.
    #[test]
    fn ignored_leftovers_are_not_stale() {
        let tmp = tempfile::tempdir().expect("tmp");
        let ws = tmp.path();
        std::fs::create_dir_all(ws.join("pkg")).expect("dir");
        std::fs::write(ws.join("pkg/mod.py"), "x = 1\n").expect("write");
        std::fs::write(
            ws.join(".gitignore"),
            ".coverage\n__pycache__/\n*.pyc\ndist/\nbuild/\n*.egg-info/\n",
        )
        .expect("write");
        // An ignored directory that holds one force-added, tracked file.
        std::fs::create_dir_all(ws.join("build")).expect("dir");
        std::fs::write(ws.join("build/keep.txt"), "kept\n").expect("write");
        git(ws, &["init", "-q"]);
        git(ws, &["add", "."]);
        git(ws, &["add", "-f", "build/keep.txt"]);
        git(ws, &["commit", "-qm", "init"]);
        std::fs::write(ws.join("build/out.o"), b"\x7fELF").expect("write");
        std::fs::create_dir_all(ws.join("pkg.egg-info")).expect("dir");
        std::fs::write(ws.join("pkg.egg-info/PKG-INFO"), "Name: pkg\n").expect("write");
        std::fs::write(ws.join(".coverage"), "sqlite").expect("write");
        std::fs::create_dir_all(ws.join("pkg/__pycache__")).expect("dir");
        std::fs::write(ws.join("pkg/__pycache__/mod.cpython-312.pyc"), b"\0pyc").expect("write");
        std::fs::create_dir_all(ws.join("dist")).expect("dir");
        std::fs::write(ws.join("dist/pkg-1.0.tar.gz"), b"\x1f\x8b").expect("write");
        std::fs::write(ws.join("pkg/new.py"), "y = 2\n").expect("write");
        std::fs::create_dir_all(ws.join("sub")).expect("dir");
        std::fs::write(ws.join("sub/.gitignore"), "out/\n").expect("write");
        std::fs::create_dir_all(ws.join("sub/out")).expect("dir");
        std::fs::write(ws.join("sub/out/x"), "x").expect("write");
        std::fs::write(ws.join(".git/info/exclude"), "local.txt\n").expect("write");
        std::fs::write(ws.join("local.txt"), "x").expect("write");
        // As on a runner: the checkout belongs to another uid (only possible as root).
        let chowned = std::process::Command::new("chown")
            .args(["-R", "4321:4321"])
            .arg(ws)
            .status()
            .is_ok_and(|s| s.success());
        let stale = stale_files(ws, &globset::GlobSet::empty()).expect("status");
        let paths: Vec<&str> = stale.iter().map(|f| f.path.as_str()).collect();
        // `.gitignore` at the top and below it, and `.git/info/exclude`, are honoured; a new
        // `.gitignore` is itself a new file.
        assert_eq!(
            paths,
            ["pkg/new.py", "sub/.gitignore"],
            "chowned: {chowned}"
        );
    }
}
