//! What may go into a bundle or a build context: the rules both archivers share.
//!
//! A pull request can add any file to the checkout, including a symbolic link to `/proc/self/environ` (the
//! step's environment: the OIDC request token, every `INPUT_*`) or to a file outside the workspace. An
//! archiver that follows such a link uploads what it points to. So:
//!
//! - a link is never followed; it is stored as a link (zip symlink entry, tar symlink header) and only when
//!   its target stays inside the tree, both as written (relative, no `..` above the tree's top, which is
//!   how the link resolves once unpacked) and as resolved on disk now (no link in the chain leaves);
//! - absolute links, links leaving the tree, dangling links and special files (FIFOs, sockets, devices) are
//!   refused, all of them in one error naming each path;
//! - a tree under `/proc`, `/sys` or `/dev` is refused, and a tree named inside the workspace must resolve
//!   inside it (a checked-in link cannot redirect `bundle-dir: dist` to `/home/runner`).

use std::path::{Component, Path, PathBuf};

/// Pseudo-filesystems whose files are views of the running system, never build inputs.
const SYSTEM_TREES: [&str; 3] = ["/proc", "/sys", "/dev"];

/// One entry the archivers refuse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    /// The entry as found on disk.
    pub path: PathBuf,
    /// What is wrong, one phrase.
    pub why: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}` {}", self.path.display(), self.why)
    }
}

/// Formats refusals as an indented list.
#[must_use]
pub fn list(refused: &[Refused]) -> String {
    refused
        .iter()
        .map(|r| format!("  - {r}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// What an entry of the tree is, judged without following it.
#[derive(Debug, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File {
        executable: bool,
    },
    /// A link whose target stays inside the tree; the target as written, `/`-separated.
    Link {
        target: String,
    },
}

/// The tree's root, resolved; `root` must exist. Refuses system trees, and a root given inside
/// `workspace` that resolves outside it.
pub fn check_root(root: &Path, workspace: Option<&Path>) -> Result<PathBuf, Refused> {
    let resolved = std::fs::canonicalize(root).map_err(|e| Refused {
        path: root.to_owned(),
        why: format!("cannot be resolved: {e}"),
    })?;
    if let Some(sys) = SYSTEM_TREES
        .iter()
        .find(|s| resolved.starts_with(Path::new(s)))
    {
        return Err(Refused {
            path: root.to_owned(),
            why: format!(
                "resolves to `{}`, under `{sys}`: system files are never packaged",
                resolved.display()
            ),
        });
    }
    if let Some(ws) = workspace
        && lexically_inside(ws, root)
        && let Ok(ws_resolved) = std::fs::canonicalize(ws)
        && !resolved.starts_with(&ws_resolved)
    {
        return Err(Refused {
            path: root.to_owned(),
            why: format!(
                "is inside the workspace but resolves to `{}`, outside it (a symbolic link in the checkout)",
                resolved.display()
            ),
        });
    }
    Ok(resolved)
}

/// `p` is `base` or below it, comparing components without touching the disk (`..` is applied).
fn lexically_inside(base: &Path, p: &Path) -> bool {
    let mut out: Vec<Component<'_>> = Vec::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                if matches!(out.last(), Some(Component::Normal(_))) {
                    out.pop();
                }
            }
            Component::CurDir => {}
            c => out.push(c),
        }
    }
    out.iter().collect::<PathBuf>().starts_with(base)
}

/// Judges the entry at `path`, whose `/`-separated name inside the tree is `rel`; `root` is the tree's
/// resolved root (from [`check_root`]). Never follows a link.
pub fn classify(root: &Path, path: &Path, rel: &str) -> Result<Kind, Refused> {
    let refused = |why: String| Refused {
        path: path.to_owned(),
        why,
    };
    let meta =
        std::fs::symlink_metadata(path).map_err(|e| refused(format!("cannot be read: {e}")))?;
    let ft = meta.file_type();
    if ft.is_dir() {
        return Ok(Kind::Dir);
    }
    if ft.is_file() {
        return Ok(Kind::File {
            executable: executable(&meta),
        });
    }
    if ft.is_symlink() {
        return link(root, path, rel).map_err(refused);
    }
    Err(refused(format!(
        "is a {}; only regular files, directories and links inside the tree can be packaged",
        special_kind(&ft)
    )))
}

fn link(root: &Path, path: &Path, rel: &str) -> Result<Kind, String> {
    let target = std::fs::read_link(path).map_err(|e| format!("cannot be read: {e}"))?;
    let shown = target.display();
    if target.is_absolute() {
        return Err(format!(
            "is a symbolic link to the absolute path `{shown}`; links are kept only when relative and inside the tree"
        ));
    }
    // As written: the link resolves against its own directory once unpacked, so `..` may climb only as
    // far as the tree's top.
    let mut depth = rel.split('/').count().saturating_sub(1);
    for c in target.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::ParentDir if depth == 0 => {
                return Err(format!(
                    "is a symbolic link to `{shown}`, which leaves the tree"
                ));
            }
            Component::ParentDir => depth -= 1,
            _ => {}
        }
    }
    // As resolved now, through every link of the chain.
    let resolved = std::fs::canonicalize(path)
        .map_err(|e| format!("is a symbolic link to `{shown}`, which does not resolve ({e})"))?;
    if !resolved.starts_with(root) {
        return Err(format!(
            "is a symbolic link to `{shown}`, which resolves to `{}`, outside the tree",
            resolved.display()
        ));
    }
    let target = target
        .to_str()
        .ok_or_else(|| format!("is a symbolic link to `{shown}`, a target that is not UTF-8"))?
        .replace('\\', "/");
    Ok(Kind::Link { target })
}

#[cfg(unix)]
fn special_kind(ft: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt as _;
    if ft.is_fifo() {
        "FIFO (named pipe)"
    } else if ft.is_socket() {
        "socket"
    } else if ft.is_block_device() {
        "block device"
    } else if ft.is_char_device() {
        "character device"
    } else {
        "special file"
    }
}

#[cfg(not(unix))]
fn special_kind(_ft: &std::fs::FileType) -> &'static str {
    "special file"
}

#[cfg(unix)]
fn executable(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn executable(_meta: &std::fs::Metadata) -> bool {
    false
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn links_are_judged_as_written_and_as_resolved() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("fn");
        std::fs::create_dir_all(root.join("lib/sub")).unwrap();
        std::fs::write(root.join("lib/a.py"), "").unwrap();
        std::fs::write(d.path().join("outside.txt"), "secret").unwrap();
        symlink("../a.py", root.join("lib/sub/up.py")).unwrap();
        symlink("lib", root.join("libdir")).unwrap();
        symlink("../outside.txt", root.join("out.txt")).unwrap();
        symlink("../fn/lib/a.py", root.join("roundabout.py")).unwrap();
        symlink("/proc/self/environ", root.join("env.txt")).unwrap();
        symlink("nowhere", root.join("dangling")).unwrap();
        symlink("..", root.join("outdir")).unwrap();
        symlink("outdir/outside.txt", root.join("sneaky")).unwrap();
        let r = check_root(&root, None).unwrap();
        assert_eq!(
            classify(&r, &root.join("lib/sub/up.py"), "lib/sub/up.py").unwrap(),
            Kind::Link {
                target: "../a.py".into()
            }
        );
        assert_eq!(
            classify(&r, &root.join("libdir"), "libdir").unwrap(),
            Kind::Link {
                target: "lib".into()
            }
        );
        for (name, why) in [
            ("out.txt", "leaves the tree"),
            ("roundabout.py", "leaves the tree"),
            ("env.txt", "absolute path `/proc/self/environ`"),
            ("dangling", "does not resolve"),
            ("outdir", "leaves the tree"),
            ("sneaky", "outside the tree"),
        ] {
            let e = classify(&r, &root.join(name), name).unwrap_err();
            assert!(e.why.contains(why), "{name}: {e}");
            assert!(e.to_string().contains(&format!("fn/{name}`")), "{e}");
        }
    }

    #[test]
    fn system_trees_and_roots_redirected_out_of_the_workspace_are_refused() {
        let e = check_root(Path::new("/proc/self"), None).unwrap_err();
        assert!(e.why.contains("under `/proc`"), "{e}");
        let d = tempfile::tempdir().unwrap();
        let ws = d.path().join("ws");
        std::fs::create_dir_all(ws.join("real")).unwrap();
        std::fs::create_dir_all(d.path().join("home")).unwrap();
        symlink(d.path().join("home"), ws.join("dist")).unwrap();
        let e = check_root(&ws.join("dist"), Some(&ws)).unwrap_err();
        assert!(e.why.contains("outside it"), "{e}");
        assert!(check_root(&ws.join("real"), Some(&ws)).is_ok());
        // A root the workflow names outside the workspace is its author's choice.
        assert!(check_root(&d.path().join("home"), Some(&ws)).is_ok());
    }
}
