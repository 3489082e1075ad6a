//! `terraform validate -json` / `tofu validate -json`: `diagnostics`, each with `severity`, `summary`,
//! `detail` and a `range` (`filename`, `start`/`end` line and column). `filename` is relative to the
//! directory the tool ran in (`-chdir`, a job's `working-directory`), so it is found in the workspace by
//! its trailing segments ([`PathMap::find`]); a diagnostic with no range is put on the result file.

use std::io::Read;
use std::path::Path;

use serde::Deserialize;

use crate::report::{Annotation, Level};

use super::parsed::{self as parse, Format, ParseError, Parsed};
use super::paths::PathMap;

#[derive(Deserialize)]
struct Output {
    #[serde(default)]
    diagnostics: Vec<Diagnostic>,
}

#[derive(Deserialize)]
struct Diagnostic {
    #[serde(default)]
    severity: String,
    #[serde(default)]
    summary: String,
    #[serde(default)]
    detail: Option<String>,
    #[serde(default)]
    range: Option<Range>,
}

#[derive(Deserialize)]
struct Range {
    filename: String,
    start: Pos,
    #[serde(default)]
    end: Option<Pos>,
}

#[derive(Deserialize)]
struct Pos {
    line: u32,
    #[serde(default)]
    column: Option<u32>,
}

/// Parses `terraform validate -json` output.
pub fn parse(r: impl Read, file: &Path, paths: &PathMap) -> Result<Parsed, ParseError> {
    let bytes = parse::read_limited(r, file, Format::TerraformValidate, parse::MAX_JSON_BYTES)?;
    let out: Output = serde_json::from_slice(&bytes)
        .map_err(|e| ParseError::malformed(file, Format::TerraformValidate, e))?;
    let mut parsed = Parsed::default();
    for d in out.diagnostics {
        let level = if d.severity == "warning" {
            Level::Warning
        } else {
            Level::Error
        };
        let message = match d.detail.as_deref().map(str::trim) {
            Some(detail) if !detail.is_empty() => format!("{}: {detail}", d.summary),
            _ => d.summary.clone(),
        };
        let mut a = match &d.range {
            Some(r) => {
                let path = paths
                    .find(&r.filename, None)
                    .unwrap_or_else(|| paths.relativize(&r.filename));
                let mut a =
                    Annotation::new(level, path, r.start.line, message).with_column(r.start.column);
                if let Some(e) = &r.end {
                    a.end_line = e.line.max(a.start_line);
                    if a.end_line == a.start_line {
                        a.end_column = e.column.filter(|c| *c > 0);
                    } else {
                        a.start_column = None;
                    }
                }
                a
            }
            None => Annotation::new(level, paths.relativize(&file.to_string_lossy()), 1, message),
        };
        a.title = Some(format!("terraform validate: {}", d.summary));
        parsed.push(a);
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn golden(name: &str) -> Vec<u8> {
        std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/iac/terraform/validate")
                .join(name),
        )
        .unwrap()
    }

    #[test]
    fn terraforms_own_validate_goldens_become_annotations_at_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let module = dir.path().join("infra/testdata/validate-invalid/outputs");
        std::fs::create_dir_all(&module).unwrap();
        std::fs::write(module.join("main.tf"), "output \"myvalue\" {\n}\n").unwrap();
        let paths = PathMap::new(dir.path());
        let p = parse(
            &golden("validate-invalid--outputs.json")[..],
            Path::new("validate.json"),
            &paths,
        )
        .unwrap();
        assert_eq!(p.annotations.len(), 2);
        let a = &p.annotations[0];
        assert_eq!(a.path, "infra/testdata/validate-invalid/outputs/main.tf");
        assert_eq!((a.start_line, a.start_column), (1, Some(18)));
        assert_eq!(a.level, Level::Error);
        assert!(
            a.message
                .starts_with("Missing required argument: The argument")
        );
        // Every golden reads, and the valid one has nothing to say.
        for name in [
            "validate-valid.json",
            "validate-invalid.json",
            "validate-invalid--incorrectmodulename.json",
            "validate-invalid--interpolation.json",
            "validate-invalid--missing_defined_var.json",
            "validate-invalid--missing_quote.json",
            "validate-invalid--missing_var.json",
            "validate-invalid--multiple_modules.json",
            "validate-invalid--multiple_providers.json",
            "validate-invalid--multiple_resources.json",
            "validate-invalid--duplicate_import_targets.json",
        ] {
            let p = parse(&golden(name)[..], Path::new(name), &paths).unwrap();
            let v: serde_json::Value = serde_json::from_slice(&golden(name)).unwrap();
            let want = v["error_count"].as_u64().unwrap() + v["warning_count"].as_u64().unwrap();
            assert_eq!(p.annotations.len() as u64, want, "{name}");
        }
        assert!(parse(&b"{"[..], Path::new("x.json"), &paths).is_err());
    }
}
