//! The package artifacts `publish` would upload (issue 19): what each one is, its name and its own version,
//! read from the file itself (`package/package.json` in an `npm pack` tarball, `*.dist-info/METADATA` in a
//! wheel, `PKG-INFO` in an sdist), and the check that it carries the computed version, with the command that
//! fixes it. [`super::upload`] uploads them.

use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use semver::Version;

use super::packages::pep440;

/// Reading an artifact failed.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("`{path}`: {why}")]
    Unreadable { path: PathBuf, why: String },
    #[error(
        "`{path}` is neither an npm tarball (`.tgz`) nor a wheel (`.whl`) nor an sdist (`.tar.gz`)"
    )]
    UnknownKind { path: PathBuf },
    #[error(
        "`{path}` carries version `{found}` of `{name}`, but publish computed `{expected}`; {fix}, rebuild the package and re-run"
    )]
    VersionMismatch {
        path: PathBuf,
        name: String,
        found: String,
        expected: String,
        fix: String,
    },
    #[error(
        "`{path}`: the computed version `{version}` has no PEP 440 spelling; use a prerelease channel named `dev`, `alpha`, `beta` or `rc` for Python packages"
    )]
    NoPep440 { path: PathBuf, version: String },
}

/// What kind of package a file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Npm,
    Wheel,
    Sdist,
}

/// An artifact with the name and version it carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Artifact {
    pub path: PathBuf,
    pub kind: Kind,
    pub name: String,
    pub version: String,
}

fn unreadable(path: &Path, why: impl std::fmt::Display) -> ArtifactError {
    ArtifactError::Unreadable {
        path: path.to_owned(),
        why: why.to_string(),
    }
}

/// The kind of `path`, by its name.
#[must_use]
pub fn kind_of(path: &Path) -> Option<Kind> {
    let name = path.file_name()?.to_str()?;
    if name.ends_with(".tgz") {
        Some(Kind::Npm)
    } else if name.ends_with(".whl") {
        Some(Kind::Wheel)
    } else if name.ends_with(".tar.gz") {
        Some(Kind::Sdist)
    } else {
        None
    }
}

/// Reads the name and version `bytes` (the content of `path`) carry.
pub fn read(path: &Path, bytes: &[u8]) -> Result<Artifact, ArtifactError> {
    let (kind, meta) = raw_metadata(path, bytes)?;
    let (name, version) = match kind {
        Kind::Npm => {
            let doc: serde_json::Value = serde_json::from_slice(&meta)
                .map_err(|e| unreadable(path, format!("`package/package.json`: {e}")))?;
            let field = |f: &str| {
                doc.get(f)
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| unreadable(path, format!("`package/package.json` has no `{f}`")))
            };
            (field("name")?, field("version")?)
        }
        Kind::Sdist | Kind::Wheel => core_metadata(path, &meta)?,
    };
    Ok(Artifact {
        path: path.to_owned(),
        kind,
        name,
        version,
    })
}

/// The kind of `path` and the metadata file inside it, as bytes: `package/package.json` of an npm tarball,
/// the top-level `PKG-INFO` of an sdist, `*.dist-info/METADATA` of a wheel.
pub fn raw_metadata(path: &Path, bytes: &[u8]) -> Result<(Kind, Vec<u8>), ArtifactError> {
    let kind = kind_of(path).ok_or_else(|| ArtifactError::UnknownKind {
        path: path.to_owned(),
    })?;
    let meta = match kind {
        Kind::Npm => tar_entry(path, bytes, |p| p == "package/package.json")?.ok_or_else(|| {
            unreadable(path, "no `package/package.json` (not made by `npm pack`?)")
        })?,
        Kind::Sdist => {
            // `<name>-<version>/PKG-INFO` at the top, not the copies in `*.egg-info/`.
            tar_entry(path, bytes, |p| {
                p.split('/').count() == 2 && p.ends_with("/PKG-INFO")
            })?
            .ok_or_else(|| {
                unreadable(
                    path,
                    "no top-level `PKG-INFO` (not made by `python -m build`?)",
                )
            })?
        }
        Kind::Wheel => {
            let mut zip =
                zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| unreadable(path, e))?;
            let entry = zip
                .file_names()
                .filter_map(Result::ok)
                .map(|n| n.into_owned())
                .find(|n| n.split('/').count() == 2 && n.ends_with(".dist-info/METADATA"))
                .ok_or_else(|| unreadable(path, "no `*.dist-info/METADATA`"))?;
            let mut meta = Vec::new();
            zip.by_name(&entry)
                .map_err(|e| unreadable(path, e))?
                .read_to_end(&mut meta)
                .map_err(|e| unreadable(path, e))?;
            meta
        }
    };
    Ok((kind, meta))
}

/// Python core metadata (RFC 822 style): the headers in order (continuation lines joined) and the body
/// (the long description of metadata 2.1+).
#[must_use]
pub fn core_fields(meta: &[u8]) -> (Vec<(String, String)>, String) {
    let text = String::from_utf8_lossy(meta).replace("\r\n", "\n");
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = fields.last_mut() {
                v.push('\n');
                v.push_str(line.trim_start_matches(['\t', ' ']).trim_start_matches('|'));
            }
        } else if let Some((k, v)) = line.split_once(':') {
            fields.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    (fields, body.to_owned())
}

/// The first entry of a gzipped tar whose path matches.
fn tar_entry(
    path: &Path,
    bytes: &[u8],
    wanted: impl Fn(&str) -> bool,
) -> Result<Option<Vec<u8>>, ArtifactError> {
    let mut archive = tar::Archive::new(GzDecoder::new(bytes));
    for entry in archive.entries().map_err(|e| unreadable(path, e))? {
        let mut entry = entry.map_err(|e| unreadable(path, e))?;
        let name = entry
            .path()
            .map_err(|e| unreadable(path, e))?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_owned();
        if wanted(&name) {
            let mut out = Vec::new();
            entry
                .read_to_end(&mut out)
                .map_err(|e| unreadable(path, e))?;
            return Ok(Some(out));
        }
    }
    Ok(None)
}

/// `Name` and `Version` of Python core metadata (RFC 822 style headers).
fn core_metadata(path: &Path, meta: &[u8]) -> Result<(String, String), ArtifactError> {
    let text = String::from_utf8_lossy(meta);
    let header = |h: &str| {
        text.lines()
            .take_while(|l| !l.is_empty())
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case(h)
                    .then(|| v.trim().to_owned())
            })
            .ok_or_else(|| unreadable(path, format!("the core metadata has no `{h}`")))
    };
    Ok((header("Name")?, header("Version")?))
}

/// Checks that `a` carries `expected` (PEP 440 spelling for Python packages); the error names the file, both
/// versions and the command that fixes it.
pub fn check_version(a: &Artifact, expected: &Version) -> Result<(), ArtifactError> {
    let (want, fix) = match a.kind {
        Kind::Npm => (
            expected.to_string(),
            format!("run `npm version {expected} --no-git-tag-version` before `npm pack`"),
        ),
        Kind::Wheel | Kind::Sdist => {
            let v = pep440(expected).ok_or_else(|| ArtifactError::NoPep440 {
                path: a.path.clone(),
                version: expected.to_string(),
            })?;
            let fix = format!(
                "set `version = \"{v}\"` in the `[project]` table of pyproject.toml (or the version your build backend reads) before `python -m build`"
            );
            (v, fix)
        }
    };
    if a.version == want {
        return Ok(());
    }
    Err(ArtifactError::VersionMismatch {
        path: a.path.clone(),
        name: a.name.clone(),
        found: a.version.clone(),
        expected: want,
        fix,
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::GzEncoder;
    use zip::write::SimpleFileOptions;

    use super::*;

    fn targz(entries: &[(&str, &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
        for (name, body) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(body.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, body.as_bytes()).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap()
    }

    fn wheel(entries: &[(&str, &str)]) -> Vec<u8> {
        let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, body) in entries {
            z.start_file(*name, SimpleFileOptions::default()).unwrap();
            z.write_all(body.as_bytes()).unwrap();
        }
        z.finish().unwrap().into_inner()
    }

    const META: &str = "Metadata-Version: 2.1\nName: demo-pkg\nVersion: 1.2.0.dev3\n\nVersion: 9.9.9 in the description\n";

    #[test]
    fn reads_name_and_version_of_each_kind() {
        let npm = targz(&[
            ("package/README.md", "hi"),
            (
                "package/package.json",
                r#"{"name":"@o/demo","version":"1.2.0-dev.3"}"#,
            ),
        ]);
        let a = read(Path::new("dist/o-demo-1.2.0-dev.3.tgz"), &npm).unwrap();
        assert_eq!(
            (a.kind, a.name.as_str(), a.version.as_str()),
            (Kind::Npm, "@o/demo", "1.2.0-dev.3")
        );

        let sdist = targz(&[
            (
                "demo_pkg-1.2.0.dev3/src/demo_pkg.egg-info/PKG-INFO",
                "Name: x\nVersion: 0.0.1\n",
            ),
            ("demo_pkg-1.2.0.dev3/PKG-INFO", META),
        ]);
        let a = read(Path::new("demo_pkg-1.2.0.dev3.tar.gz"), &sdist).unwrap();
        assert_eq!(
            (a.kind, a.name.as_str(), a.version.as_str()),
            (Kind::Sdist, "demo-pkg", "1.2.0.dev3")
        );

        let whl = wheel(&[
            ("demo_pkg/__init__.py", ""),
            ("demo_pkg-1.2.0.dev3.dist-info/METADATA", META),
        ]);
        let a = read(Path::new("demo_pkg-1.2.0.dev3-py3-none-any.whl"), &whl).unwrap();
        assert_eq!(
            (a.kind, a.name.as_str(), a.version.as_str()),
            (Kind::Wheel, "demo-pkg", "1.2.0.dev3")
        );
    }

    #[test]
    fn unreadable_and_unknown_files_are_named() {
        let e = read(Path::new("x.zip"), b"").unwrap_err();
        assert!(e.to_string().contains("`x.zip` is neither"), "{e}");
        let e = read(Path::new("a.tgz"), &targz(&[("other/package.json", "{}")])).unwrap_err();
        assert!(e.to_string().contains("no `package/package.json`"), "{e}");
        let e = read(Path::new("a.whl"), b"not a zip").unwrap_err();
        assert!(e.to_string().starts_with("`a.whl`: "), "{e}");
    }

    #[test]
    fn version_mismatch_names_file_both_versions_and_the_fix() {
        let v = Version::parse("1.2.0-dev.3").unwrap();
        let npm = Artifact {
            path: "dist/demo-1.0.0.tgz".into(),
            kind: Kind::Npm,
            name: "demo".into(),
            version: "1.0.0".into(),
        };
        let e = check_version(&npm, &v).unwrap_err().to_string();
        for part in [
            "`dist/demo-1.0.0.tgz`",
            "`1.0.0`",
            "`1.2.0-dev.3`",
            "npm version 1.2.0-dev.3 --no-git-tag-version",
        ] {
            assert!(e.contains(part), "{part}: {e}");
        }
        let ok = Artifact {
            version: "1.2.0-dev.3".into(),
            ..npm
        };
        check_version(&ok, &v).unwrap();

        let whl = Artifact {
            path: "demo-1.2.0-py3-none-any.whl".into(),
            kind: Kind::Wheel,
            name: "demo".into(),
            version: "1.2.0".into(),
        };
        let e = check_version(&whl, &v).unwrap_err().to_string();
        for part in [
            "`1.2.0`",
            "`1.2.0.dev3`",
            "version = \"1.2.0.dev3\"",
            "pyproject.toml",
        ] {
            assert!(e.contains(part), "{part}: {e}");
        }
        let ok = Artifact {
            version: "1.2.0.dev3".into(),
            ..whl
        };
        check_version(&ok, &v).unwrap();
        let e = check_version(&ok, &Version::parse("1.2.0-next.1").unwrap()).unwrap_err();
        assert!(matches!(e, ArtifactError::NoPep440 { .. }), "{e}");
    }
}
