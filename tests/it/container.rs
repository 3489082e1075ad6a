//! End to end through the real image: built from the `Dockerfile` with podman and started exactly as
//! actions/runner and as act start a Docker action (helpers/runner.rs). Each test runs in both profiles.

use crate::helpers::has;
use std::process::Command;

use crate::helpers::runner::{ContainerResult, ContainerStep, Profile};

/// The hash of the sources, computed by `scripts/source-hash.sh` (coreutils), as CI's dist check does.
fn source_hash() -> String {
    let out = Command::new("bash")
        .arg(crate::helpers::runner::repo_root().join("scripts/source-hash.sh"))
        .output()
        .expect("bash scripts/source-hash.sh");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn error_lines(r: &ContainerResult) -> Vec<&str> {
    r.stdout
        .lines()
        .filter(|l| l.starts_with("::error"))
        .collect()
}

#[test]
fn the_source_hash_script_agrees_with_build_rs() {
    // build.rs embeds the hash in every build, so the debug build of this test binary carries it too.
    let hash = source_hash();
    assert_eq!(hash.len(), 16, "{hash}");
    assert!(
        stevedore::VERSION.ends_with(&format!("(sources {hash})")),
        "scripts/source-hash.sh says {hash}, build.rs embedded {}",
        stevedore::VERSION
    );
}

#[tokio::test]
async fn the_image_reports_the_hash_of_the_current_sources() {
    let want = format!(
        "stevedore {} (sources {})",
        env!("CARGO_PKG_VERSION"),
        source_hash()
    );
    for profile in Profile::ALL {
        let Some(r) = ContainerStep::new(profile).args(&["--version"]).run().await else {
            return;
        };
        assert_eq!(r.code, 0, "{}", r.logs());
        assert_eq!(
            r.stdout.trim(),
            want,
            "{profile:?}: the image does not carry a binary of these sources"
        );
    }
}

#[tokio::test]
async fn three_bad_inputs_give_three_errors_exit_2_and_a_summary_table_in_the_container() {
    for profile in Profile::ALL {
        let Some(r) = ContainerStep::new(profile)
            .input("mode", "deploi")
            .input("dry-run", "yes")
            .input("comment", "sometimes")
            .run()
            .await
        else {
            return;
        };
        assert_eq!(r.code, 2, "{profile:?}\n{}", r.logs());
        let errors = error_lines(&r);
        assert_eq!(errors.len(), 3, "{profile:?}\n{}", r.logs());
        has(errors[0], "input `mode` = `deploi`: is not a mode");
        has(errors[1], "input `dry-run` = `yes`: is not a boolean");
        has(errors[2], "input `comment` = `sometimes`");
        for row in [
            "| `mode` | `deploi` |",
            "| `dry-run` | `yes` |",
            "| `comment` | `sometimes` |",
        ] {
            assert!(
                r.summary.contains(row),
                "{profile:?}: {row} missing in\n{}",
                r.summary
            );
        }
        assert_eq!(r.output("verdict"), Some("failure"), "{profile:?}");
    }
}

#[tokio::test]
async fn the_hyphenated_input_name_reaches_the_binary_in_the_container() {
    // `-e INPUT_DRY-RUN` is how the runner passes `dry-run`; the value must arrive and be validated.
    for profile in Profile::ALL {
        let Some(r) = ContainerStep::new(profile)
            .input("mode", "lint-gate")
            .input("dry-run", "perhaps")
            .run()
            .await
        else {
            return;
        };
        assert!(
            r.command_line.iter().any(|a| a == "INPUT_DRY-RUN"),
            "{:?}",
            r.command_line
        );
        assert_eq!(r.code, 2, "{profile:?}\n{}", r.logs());
        assert!(
            r.stdout.contains("input `dry-run` = `perhaps`"),
            "{profile:?}\n{}",
            r.logs()
        );
    }
}

#[tokio::test]
async fn lint_gate_runs_to_a_verdict_in_the_container() {
    // Whatever lint-gate does on an empty workspace in this build, the step must end with a verdict
    // output, a summary, and an exit code that agrees with the verdict.
    for profile in Profile::ALL {
        let Some(r) = ContainerStep::new(profile)
            .input("mode", "lint-gate")
            .run()
            .await
        else {
            return;
        };
        let verdict = r
            .output("verdict")
            .unwrap_or_else(|| panic!("{profile:?}: no verdict output\n{}", r.logs()));
        match verdict {
            "success" | "skipped" => assert_eq!(r.code, 0, "{profile:?}\n{}", r.logs()),
            "failure" => assert!(r.code == 1 || r.code == 2, "{profile:?}\n{}", r.logs()),
            other => panic!("{profile:?}: unexpected verdict {other:?}\n{}", r.logs()),
        }
        assert!(
            !r.summary.trim().is_empty(),
            "{profile:?}: empty summary\n{}",
            r.logs()
        );
        assert!(
            !r.stdout.contains("stevedore: invalid input"),
            "{profile:?}: lint-gate with no other input must be valid\n{}",
            r.logs()
        );
    }
}

/// A secret and a value that embeds it; the value is invalid for `comment`, so stevedore logs it in an
/// error annotation, in the summary table and on stderr.
const SECRET: &str = "ghs_S3cr3tT0kenV4lue0123456789abcdefXYZ";

fn assert_secret_never_printed(who: &str, stdout: &str, stderr: &str, summary: &str) {
    let mut masks = 0;
    for line in stdout.lines() {
        if line.starts_with("::add-mask::") {
            masks += 1;
        } else {
            assert!(!line.contains(SECRET), "{who}: secret on stdout: {line:?}");
        }
    }
    assert!(masks >= 1, "{who}: the secret was never masked\n{stdout}");
    assert!(
        !stderr.contains(SECRET),
        "{who}: secret on stderr:\n{stderr}"
    );
    assert!(
        !summary.contains(SECRET),
        "{who}: secret in the summary:\n{summary}"
    );
    // The value was really logged (redacted), so the test proves masking, not silence.
    assert!(
        stdout.contains("input `comment` = `prefix-***-suffix`"),
        "{who}: the secret-bearing value was not logged\n{stdout}"
    );
}

#[tokio::test]
async fn a_masked_secret_never_appears_in_the_container_logs() {
    for profile in Profile::ALL {
        let Some(r) = ContainerStep::new(profile)
            .input("mode", "lint-gate")
            .input("github-token", SECRET)
            .input("comment", &format!("prefix-{SECRET}-suffix"))
            .var("RUNNER_DEBUG", "1")
            .run()
            .await
        else {
            return;
        };
        assert_eq!(r.code, 2, "{profile:?}\n{}", r.logs());
        assert_secret_never_printed(&format!("{profile:?}"), &r.stdout, &r.stderr, &r.summary);
        for (k, v) in &r.outputs {
            assert!(!v.contains(SECRET), "{profile:?}: secret in output {k}");
        }
        // As with the runner, values travel in podman's environment, never on its command line.
        assert!(
            !r.command_line.iter().any(|a| a.contains(SECRET)),
            "{profile:?}: secret on the podman command line: {:?}",
            r.command_line
        );
    }
}

#[test]
fn a_masked_secret_never_appears_in_the_binary_output() {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.md");
    let output = dir.path().join("output");
    std::fs::write(&summary, "").unwrap();
    std::fs::write(&output, "").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_stevedore"))
        .env_clear()
        .env("GITHUB_ACTIONS", "true")
        .env("CI", "true")
        .env("RUNNER_DEBUG", "1")
        .env("GITHUB_WORKSPACE", dir.path())
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_OUTPUT", &output)
        .env("INPUT_MODE", "lint-gate")
        .env("INPUT_GITHUB-TOKEN", SECRET)
        .env("INPUT_COMMENT", format!("prefix-{SECRET}-suffix"))
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_secret_never_printed(
        "binary",
        &String::from_utf8_lossy(&out.stdout),
        &String::from_utf8_lossy(&out.stderr),
        &std::fs::read_to_string(&summary).unwrap(),
    );
    assert!(!std::fs::read_to_string(&output).unwrap().contains(SECRET));
}
