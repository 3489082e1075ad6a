//! Result files into annotations and statistics: the one dispatcher from a [`Format`] to its parser
//! (each parser imports only [`super::parsed`], the shared types and limits, re-exported here).

use std::path::Path;
#[cfg(test)]
use std::path::PathBuf;

pub use super::parsed::{
    Coverage, FileCoverage, Format, MAX_ANNOTATIONS_PER_FILE, MAX_DETAILS_BYTES, MAX_JSON_BYTES,
    MAX_STREAM_BYTES, ParseError, Parsed, TestStats,
};
use super::paths::PathMap;

/// Parses `file` as `format`, mapping paths through `paths`. An error names `file` relative to the workspace.
pub fn parse_file(file: &Path, format: Format, paths: &PathMap) -> Result<Parsed, ParseError> {
    parse_file_at(file, format, paths).map_err(|e| e.relative_to(paths.root()))
}

fn parse_file_at(file: &Path, format: Format, paths: &PathMap) -> Result<Parsed, ParseError> {
    let size = std::fs::metadata(file)
        .map_err(|source| ParseError::Read {
            path: file.to_owned(),
            source,
        })?
        .len();
    let limit = match format {
        Format::Sarif | Format::EslintJson | Format::TerraformValidate => MAX_JSON_BYTES,
        _ => MAX_STREAM_BYTES,
    };
    if size > limit {
        return Err(ParseError::TooLarge {
            path: file.to_owned(),
            size,
            limit,
            format,
        });
    }
    let open = || {
        std::fs::File::open(file)
            .map(std::io::BufReader::new)
            .map_err(|source| ParseError::Read {
                path: file.to_owned(),
                source,
            })
    };
    match format {
        Format::Junit => super::junit::parse(open()?, file, paths),
        Format::Cobertura => super::coverage::parse_cobertura(open()?, file, paths),
        Format::Lcov => super::coverage::parse_lcov(open()?, file, paths),
        Format::CargoJson => super::cargo_json::parse(open()?, file, paths),
        Format::Text => super::text::parse(open()?, file, paths),
        Format::Sarif => super::sarif::parse(open()?, file, paths),
        Format::EslintJson => super::eslint::parse(open()?, file, paths),
        Format::TerraformValidate => super::terraform_validate::parse(open()?, file, paths),
    }
}

/// Parses in-memory output (local runs capture tool output) as `format`.
pub fn parse_bytes(
    bytes: &[u8],
    name: &Path,
    format: Format,
    paths: &PathMap,
) -> Result<Parsed, ParseError> {
    let r = std::io::BufReader::new(bytes);
    match format {
        Format::Junit => super::junit::parse(r, name, paths),
        Format::Cobertura => super::coverage::parse_cobertura(r, name, paths),
        Format::Lcov => super::coverage::parse_lcov(r, name, paths),
        Format::CargoJson => super::cargo_json::parse(r, name, paths),
        Format::Text => super::text::parse(r, name, paths),
        Format::Sarif => super::sarif::parse(r, name, paths),
        Format::EslintJson => super::eslint::parse(r, name, paths),
        Format::TerraformValidate => super::terraform_validate::parse(r, name, paths),
    }
}

/// The directory of a sample project under `tests/fixtures/lint` (real output of real tools; see the README
/// there).
#[cfg(test)]
pub(crate) fn fixture_dir(sample: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/lint")
        .join(sample)
}

/// Parses `file` of fixture project `sample`, with the project as the repository root.
#[cfg(test)]
pub(crate) fn parse_fixture(sample: &str, file: &str, format: Format) -> Parsed {
    let root = fixture_dir(sample);
    parse_file(&root.join(file), format, &PathMap::new(&root))
        .unwrap_or_else(|e| panic!("{sample}/{file}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_oversized_file_is_refused_before_reading() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("huge.xml");
        // Sparse: no disk or memory is used.
        std::fs::File::create(&p)
            .unwrap()
            .set_len(MAX_STREAM_BYTES + 1)
            .unwrap();
        let e = parse_file(&p, Format::Junit, &PathMap::new(d.path())).unwrap_err();
        assert!(
            e.to_string().ends_with(&format!("is {} bytes, over the {MAX_STREAM_BYTES}-byte limit for junit files; split the report or lower its verbosity", MAX_STREAM_BYTES + 1)),
            "{e}"
        );
    }
}
