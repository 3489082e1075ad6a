//! Golden files: expected output pinned byte for byte, as git-cliff's `expected.md` fixtures are.
//!
//! [`assert_golden`] compares with `tests/fixtures/golden/<name>`; `STEVEDORE_UPDATE_GOLDEN=1` rewrites the
//! file instead (then review the diff before committing it).

use std::path::PathBuf;

/// Where the golden file `name` lives.
#[must_use]
pub fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/golden")
        .join(name)
}

/// Whether this run rewrites golden files (`STEVEDORE_UPDATE_GOLDEN=1`).
#[must_use]
pub fn updating() -> bool {
    std::env::var("STEVEDORE_UPDATE_GOLDEN").is_ok_and(|v| v == "1")
}

/// Fails unless `actual` equals the golden file `name` byte for byte.
pub fn assert_golden(name: &str, actual: &str) {
    let path = path(name);
    if updating() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with STEVEDORE_UPDATE_GOLDEN=1 to create it)",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "{} differs (run with STEVEDORE_UPDATE_GOLDEN=1 to accept):\n--- expected\n{expected}\n--- actual\n{actual}",
        path.display()
    );
}
