//! Reproducible Lambda bundles: the same directory gives the same zip, byte for byte.
//!
//! What varies between two checkouts of the same commit is removed: entries are sorted by their
//! `/`-separated path (byte order), every timestamp is 1980-01-01 00:00:00 (the zip epoch), permissions are
//! 0755 when the source file has any execute bit and 0644 otherwise, the "made by" system is Unix, no extra
//! fields (extended timestamps, uid/gid) are written, and deflate runs at a fixed level. Directories are not
//! stored as entries (Lambda needs only files; empty directories carry nothing).
//!
//! Links are never followed ([`super::tree`]): a relative link that stays inside the directory is stored as
//! a zip symlink entry (Unix mode `0o120777`, the target as content, as `zip -y` does), so it unpacks as
//! the same link; a link leaving the directory, a dangling link and special files fail the whole bundle
//! before anything is written.
//!
//! Python's bytecode cache is left out by default (every file under a `__pycache__/` directory and every
//! `*.pyc`): `pip install -t` and any import write it with timestamps and interpreter-specific names, so the
//! same commit would otherwise give different bytes on every build. Lambda compiles what it needs at cold
//! start. [`BundleOptions::include_pycache`] (input `bundle-include-pycache`) keeps it.
//!
//! The SHA-256 of the zip is reported twice: hex (our `sha256` output and `metadata.json`) and base64, which
//! is what Lambda reports as `CodeSha256` after `UpdateFunctionCode`, so deploy can compare without
//! downloading anything (<https://docs.aws.amazon.com/lambda/latest/api/API_FunctionConfiguration.html>).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

/// Deflate level: fixed so that the output does not depend on a library default.
const DEFLATE_LEVEL: i64 = 6;
/// Directories nested deeper than this are refused (links are not followed, so this is a real tree).
const MAX_DEPTH: usize = 64;

/// A finished bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bundle {
    /// Where the zip was written.
    pub path: PathBuf,
    /// Size of the zip in bytes.
    pub size: u64,
    /// Number of files in it.
    pub files: usize,
    /// SHA-256 of the zip, lowercase hex.
    pub sha256_hex: String,
    /// SHA-256 of the zip, standard base64: Lambda's `CodeSha256`.
    pub code_sha256: String,
    /// Python cache files (`__pycache__/`, `*.pyc`) found and left out.
    pub left_out: usize,
}

/// What goes into a bundle besides the directory's files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BundleOptions {
    /// Keep `__pycache__/` and `*.pyc` (default: left out, see the module docs).
    pub include_pycache: bool,
}

/// True for Python's bytecode cache: an entry under a `__pycache__` directory, or a `*.pyc` file.
#[must_use]
pub fn is_python_cache(entry: &str) -> bool {
    entry.ends_with(".pyc") || entry.split('/').any(|part| part == "__pycache__")
}

/// Packaging failed.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error(
        "bundle directory `{}` does not exist or is not a directory; check input `bundle-dir` (relative to the workspace)",
        .0.display()
    )]
    NotADirectory(PathBuf),
    #[error(
        "bundle directory `{}` contains no files; build the function first (e.g. `pip install -t` or `cargo lambda build`)",
        .0.display()
    )]
    Empty(PathBuf),
    #[error("cannot read `{}` while bundling: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the bundle `{}`: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write zip entry `{entry}` into `{}`: {source}", path.display())]
    Zip {
        path: PathBuf,
        entry: String,
        source: zip::result::ZipError,
    },
    #[error("`{}` is nested more than {MAX_DEPTH} directories deep", .0.display())]
    TooDeep(PathBuf),
    #[error("`{}` has a name that is not UTF-8; zip entry names must be UTF-8", .0.display())]
    NonUtf8Name(PathBuf),
    /// Links out of the tree, special files: a configuration problem (exit 2), nothing is written.
    #[error(
        "bundle directory `{}` holds entries a bundle may not contain; nothing was zipped or uploaded:\n{}\nReplace a link that leaves the directory with the file itself (a relative link inside it is kept as a link) and remove special files",
        dir.display(),
        super::tree::list(refused)
    )]
    Refused {
        dir: PathBuf,
        refused: Vec<super::tree::Refused>,
    },
}

/// One entry to store: a file read from `source`, or a link stored as its target.
#[derive(Debug)]
enum Entry {
    File { source: PathBuf, executable: bool },
    Link { target: String },
}

/// Zips `dir` into `out` reproducibly and hashes the result, with the default [`BundleOptions`].
pub fn zip_dir(dir: &Path, out: &Path) -> Result<Bundle, BundleError> {
    zip_dir_with(dir, out, BundleOptions::default())
}

/// [`zip_dir`] with `options`.
pub fn zip_dir_with(dir: &Path, out: &Path, options: BundleOptions) -> Result<Bundle, BundleError> {
    let mut entries = check_dir(dir)?;
    let found = entries.len();
    if !options.include_pycache {
        entries.retain(|name, _| !is_python_cache(name));
    }
    let left_out = found - entries.len();
    // Never zip the output into itself when it is written inside the directory.
    if let Ok(rel) = out.strip_prefix(dir)
        && let Some(name) = rel.to_str()
    {
        entries.remove(&name.replace('\\', "/"));
    }
    if entries.is_empty() {
        return Err(BundleError::Empty(dir.to_owned()));
    }
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent).map_err(|source| BundleError::Write {
            path: parent.to_owned(),
            source,
        })?;
    }
    let file = File::create(out).map_err(|source| BundleError::Write {
        path: out.to_owned(),
        source,
    })?;
    let mut zip = ZipWriter::new(BufWriter::new(file));
    let base = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(DEFLATE_LEVEL))
        .last_modified_time(DateTime::DEFAULT)
        .system(zip::System::Unix);
    let zip_err = |entry: &str, source| BundleError::Zip {
        path: out.to_owned(),
        entry: entry.to_owned(),
        source,
    };
    for (name, e) in &entries {
        let (source, executable) = match e {
            Entry::File { source, executable } => (source, *executable),
            Entry::Link { target } => {
                // `add_symlink` adds S_IFLNK: the entry's mode is 0o120777, as `zip -y` writes.
                zip.add_symlink(name.as_str(), target, base.unix_permissions(0o777))
                    .map_err(|s| zip_err(name, s))?;
                continue;
            }
        };
        let len = source
            .metadata()
            .map_err(|e| BundleError::Read {
                path: source.clone(),
                source: e,
            })?
            .len();
        let opts = base
            .unix_permissions(if executable { 0o755 } else { 0o644 })
            // Zip64 only where needed, so small bundles stay plain zips.
            .large_file(len >= u64::from(u32::MAX));
        zip.start_file(name.as_str(), opts)
            .map_err(|s| zip_err(name, s))?;
        let mut src = File::open(source).map_err(|e| BundleError::Read {
            path: source.clone(),
            source: e,
        })?;
        std::io::copy(&mut src, &mut zip).map_err(|e| BundleError::Read {
            path: source.clone(),
            source: e,
        })?;
    }
    let mut w = zip
        .finish()
        .map_err(|s| zip_err("(central directory)", s))?;
    w.flush().map_err(|source| BundleError::Write {
        path: out.to_owned(),
        source,
    })?;
    drop(w);
    let (digest, size) = sha256_file(out).map_err(|source| BundleError::Read {
        path: out.to_owned(),
        source,
    })?;
    Ok(Bundle {
        path: out.to_owned(),
        size,
        files: entries.len(),
        sha256_hex: hex::encode(digest),
        code_sha256: base64::engine::general_purpose::STANDARD.encode(digest),
        left_out,
    })
}

/// SHA-256 and length of a file, streamed.
pub fn sha256_file(path: &Path) -> std::io::Result<([u8; 32], u64)> {
    let mut r = BufReader::with_capacity(1 << 20, File::open(path)?);
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        total += n as u64;
        h.update(&buf[..n]);
    }
    Ok((h.finalize().into(), total))
}

/// Walks `dir` without following links and judges every entry ([`super::tree`]); every refused entry
/// is reported at once. Nothing is written.
pub fn check(dir: &Path) -> Result<usize, BundleError> {
    check_dir(dir).map(|e| e.len())
}

fn check_dir(dir: &Path) -> Result<BTreeMap<String, Entry>, BundleError> {
    if !dir.is_dir() {
        return Err(BundleError::NotADirectory(dir.to_owned()));
    }
    let refuse = |refused: Vec<super::tree::Refused>| BundleError::Refused {
        dir: dir.to_owned(),
        refused,
    };
    let root = super::tree::check_root(dir, None).map_err(|r| refuse(vec![r]))?;
    let mut entries = BTreeMap::new();
    let mut refused = Vec::new();
    collect(&root, dir, "", 0, &mut entries, &mut refused)?;
    if !refused.is_empty() {
        return Err(refuse(refused));
    }
    Ok(entries)
}

fn collect(
    root: &Path,
    dir: &Path,
    prefix: &str,
    depth: usize,
    out: &mut BTreeMap<String, Entry>,
    refused: &mut Vec<super::tree::Refused>,
) -> Result<(), BundleError> {
    if depth > MAX_DEPTH {
        return Err(BundleError::TooDeep(dir.to_owned()));
    }
    let read_err = |path: &Path| {
        let path = path.to_owned();
        move |source| BundleError::Read { path, source }
    };
    for item in std::fs::read_dir(dir).map_err(read_err(dir))? {
        let item = item.map_err(read_err(dir))?;
        let path = item.path();
        let name = item
            .file_name()
            .into_string()
            .map_err(|_| BundleError::NonUtf8Name(path.clone()))?;
        let entry_name = format!("{prefix}{name}");
        // Never follows a link: a link is kept only when it stays inside the tree.
        match super::tree::classify(root, &path, &entry_name) {
            Ok(super::tree::Kind::Dir) => collect(
                root,
                &path,
                &format!("{entry_name}/"),
                depth + 1,
                out,
                refused,
            )?,
            Ok(super::tree::Kind::File { executable }) => {
                out.insert(
                    entry_name,
                    Entry::File {
                        source: path,
                        executable,
                    },
                );
            }
            Ok(super::tree::Kind::Link { target }) => {
                out.insert(entry_name, Entry::Link { target });
            }
            Err(r) => refused.push(r),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(root: &Path) {
        std::fs::create_dir_all(root.join("pkg/sub")).unwrap();
        std::fs::write(
            root.join("handler.py"),
            "def handler(e, c):\n    return 1\n",
        )
        .unwrap();
        std::fs::write(root.join("pkg/__init__.py"), "").unwrap();
        std::fs::write(root.join("pkg/sub/data.json"), "{\"a\": 1}").unwrap();
        std::fs::write(root.join("bootstrap"), "#!/bin/sh\necho hi\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(
                root.join("bootstrap"),
                std::fs::Permissions::from_mode(0o700),
            )
            .unwrap();
        }
    }

    #[test]
    fn entries_are_sorted_with_fixed_times_and_modes() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src");
        tree(&src);
        let b = zip_dir(&src, &d.path().join("out.zip")).unwrap();
        assert_eq!(b.files, 4);
        let mut z = zip::ZipArchive::new(File::open(&b.path).unwrap()).unwrap();
        let names: Vec<String> = z.file_names().map(|n| n.unwrap().into_owned()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names.len(), 4);
        for (i, expected) in sorted.iter().enumerate() {
            let f = z.by_index(i).unwrap();
            let name = f.name().unwrap().into_owned();
            assert_eq!(&name, expected);
            assert_eq!(f.last_modified(), Some(DateTime::DEFAULT));
            assert_eq!(f.compression(), CompressionMethod::Deflated);
            let mode = f.unix_mode().unwrap() & 0o777;
            if name == "bootstrap" {
                assert_eq!(mode, 0o755);
            } else {
                assert_eq!(mode, 0o644, "{name}");
            }
        }
        let (digest, size) = sha256_file(&b.path).unwrap();
        assert_eq!(size, b.size);
        assert_eq!(b.sha256_hex, hex::encode(digest));
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(&b.code_sha256)
                .unwrap(),
            digest
        );
    }

    /// What `pip install -t` and a test import leave behind: different bytes on every run.
    fn pycache(root: &Path, stamp: &str) {
        std::fs::create_dir_all(root.join("pkg/__pycache__")).unwrap();
        std::fs::create_dir_all(root.join("__pycache__")).unwrap();
        std::fs::write(root.join("pkg/__pycache__/__init__.cpython-312.pyc"), stamp).unwrap();
        std::fs::write(root.join("__pycache__/handler.cpython-312.pyc"), stamp).unwrap();
        std::fs::write(root.join("legacy.pyc"), stamp).unwrap();
    }

    #[test]
    fn python_cache_is_left_out_so_the_same_tree_gives_the_same_bytes() {
        let d = tempfile::tempdir().unwrap();
        let clean = d.path().join("clean");
        tree(&clean);
        let cached = d.path().join("cached");
        tree(&cached);
        pycache(&cached, "\u{1}timestamp 1764547200");
        let a = zip_dir(&clean, &d.path().join("a.zip")).unwrap();
        let b = zip_dir(&cached, &d.path().join("b.zip")).unwrap();
        assert_eq!(a.sha256_hex, b.sha256_hex);
        assert_eq!(
            std::fs::read(&a.path).unwrap(),
            std::fs::read(&b.path).unwrap()
        );
        assert_eq!((a.left_out, b.left_out), (0, 3));
        assert_eq!(b.files, 4);
    }

    #[test]
    fn python_cache_is_kept_when_asked() {
        let d = tempfile::tempdir().unwrap();
        tree(d.path());
        pycache(d.path(), "x");
        let out = d.path().join("o.zip");
        let b = zip_dir_with(
            d.path(),
            &out,
            BundleOptions {
                include_pycache: true,
            },
        )
        .unwrap();
        assert_eq!((b.files, b.left_out), (7, 0));
        let z = zip::ZipArchive::new(File::open(&b.path).unwrap()).unwrap();
        assert!(
            z.file_names()
                .any(|n| n.unwrap() == "pkg/__pycache__/__init__.cpython-312.pyc")
        );
    }

    #[test]
    fn only_python_cache_counts_as_python_cache() {
        assert!(is_python_cache("__pycache__/a.cpython-312.pyc"));
        assert!(is_python_cache("pkg/__pycache__/data.bin"));
        assert!(is_python_cache("old.pyc"));
        assert!(!is_python_cache("pkg/pycache.py"));
        assert!(!is_python_cache("my__pycache__/x.py"));
        assert!(!is_python_cache("a.pyc.txt"));
    }

    #[test]
    fn a_missing_or_empty_directory_is_named() {
        let d = tempfile::tempdir().unwrap();
        let e = zip_dir(&d.path().join("nope"), &d.path().join("o.zip")).unwrap_err();
        assert!(e.to_string().contains("bundle-dir"), "{e}");
        std::fs::create_dir(d.path().join("empty")).unwrap();
        let e = zip_dir(&d.path().join("empty"), &d.path().join("o.zip")).unwrap_err();
        assert!(matches!(e, BundleError::Empty(_)), "{e}");
    }

    #[test]
    fn the_output_inside_the_directory_is_not_zipped_into_itself() {
        let d = tempfile::tempdir().unwrap();
        tree(d.path());
        let out = d.path().join("lambda.zip");
        let first = zip_dir(d.path(), &out).unwrap();
        let second = zip_dir(d.path(), &out).unwrap();
        assert_eq!(first.sha256_hex, second.sha256_hex);
        assert_eq!(second.files, 4);
    }
}
