//! The aarch64 build for arm64 runners (`ubuntu-24.04-arm`, Graviton fleets): a static aarch64 binary of the
//! same sources, run under qemu-user, and an image built for `linux/arm64` whose entrypoint is that binary.
//!
//! The binary: `STEVEDORE_ARM64_BINARY` (`.ci/run` cross-builds one from the commit's sources), else
//! `dist/arm64/stevedore` when it is current (release commits). Without either, or without
//! `qemu-aarch64-static`, the tests skip with the reason (fail under `CI=true`).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::helpers::runner::{action_binary, podman, repo_root};

const EM_X86_64: u16 = 62;
const EM_AARCH64: u16 = 183;

/// `(e_machine, static)` of an ELF64 little-endian file.
fn elf(path: &Path) -> (u16, bool) {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        b.len() > 0x40 && &b[..4] == b"\x7fELF" && b[4] == 2 && b[5] == 1,
        "{}: not an ELF64 little-endian file",
        path.display()
    );
    let u16_at = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]);
    let phoff = u64::from_le_bytes(b[0x20..0x28].try_into().unwrap()) as usize;
    let (size, count) = (usize::from(u16_at(0x36)), usize::from(u16_at(0x38)));
    // PT_INTERP (3): a dynamic executable names its loader.
    let dynamic = (0..count).any(|i| {
        let o = phoff + i * size;
        u32::from_le_bytes(b[o..o + 4].try_into().unwrap()) == 3
    });
    (u16_at(0x12), !dynamic)
}

fn qemu() -> Option<PathBuf> {
    let found = Command::new("qemu-aarch64-static")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    crate::helpers::require(
        "qemu-aarch64-static (apt-get install qemu-user-static)",
        found.then(|| PathBuf::from("qemu-aarch64-static")),
    )
}

fn version_under_qemu(bin: &Path) -> String {
    let out = Command::new("qemu-aarch64-static")
        .arg(bin)
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// An aarch64 binary of these sources, or `None` (skip) with the reason.
fn arm64_binary() -> Option<PathBuf> {
    qemu()?;
    let candidate = std::env::var_os("STEVEDORE_ARM64_BINARY")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("dist/arm64/stevedore"));
    let found = candidate.is_file()
        && version_under_qemu(&candidate) == format!("stevedore {}", stevedore::VERSION);
    crate::helpers::require(
        &format!(
            "an aarch64 stevedore binary of these sources ({} is missing or stale; .ci/run sets \
             STEVEDORE_ARM64_BINARY, or run scripts/build-dist.sh arm64)",
            candidate.display()
        ),
        found.then_some(candidate),
    )
}

#[test]
fn the_aarch64_binary_is_static_and_reports_the_same_sources_under_qemu() {
    let Some(bin) = arm64_binary() else {
        return;
    };
    assert_eq!(
        elf(&bin),
        (EM_AARCH64, true),
        "{}: want a static aarch64 executable",
        bin.display()
    );
    let native = Command::new(env!("CARGO_BIN_EXE_stevedore"))
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(
        version_under_qemu(&bin),
        String::from_utf8(native.stdout).unwrap().trim(),
        "the aarch64 and x86-64 builds must embed the same source hash"
    );
}

/// Runs lint-gate over a workspace with one passing and one failing JUnit report, as a Docker action is
/// started (`GITHUB_ACTIONS=true`, `INPUT_*`, file commands), and returns (exit code, outputs file).
fn lint_gate(program: &[&Path], ws: &Path) -> (i32, String) {
    let files = ws.join("_files");
    std::fs::create_dir_all(&files).unwrap();
    for f in ["output", "summary", "env"] {
        std::fs::write(files.join(f), "").unwrap();
    }
    let mut cmd = Command::new(program[0]);
    cmd.args(&program[1..])
        .env_clear()
        .env("GITHUB_ACTIONS", "true")
        .env("CI", "true")
        .env("GITHUB_WORKSPACE", ws)
        .env("GITHUB_OUTPUT", files.join("output"))
        .env("GITHUB_STEP_SUMMARY", files.join("summary"))
        .env("GITHUB_ENV", files.join("env"))
        .env("GITHUB_REPOSITORY", "octo-org/octo-repo")
        .env("GITHUB_EVENT_NAME", "push")
        .env("GITHUB_REF", "refs/heads/main")
        .env("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567")
        .env("GITHUB_API_URL", crate::helpers::runner::CLOSED_URL)
        .env("INPUT_MODE", "lint-gate")
        .env(
            "INPUT_CHECKS",
            "- name: Unit\n  results: reports/unit.xml\n  format: junit\n\
             - name: Integration\n  results: reports/integration.xml\n  format: junit\n",
        )
        .current_dir(ws);
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        std::fs::read_to_string(files.join("output")).unwrap(),
    )
}

fn junit_workspace() -> tempfile::TempDir {
    let ws = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(ws.path().join("reports")).unwrap();
    std::fs::write(
        ws.path().join("reports/unit.xml"),
        r#"<testsuite name="unit" tests="2" failures="0"><testcase name="a" classname="u"/><testcase name="b" classname="u"/></testsuite>"#,
    )
    .unwrap();
    std::fs::write(
        ws.path().join("reports/integration.xml"),
        r#"<testsuite name="it" tests="1" failures="1"><testcase name="c" classname="i" file="src/c.rs" line="3"><failure message="boom">assertion failed</failure></testcase></testsuite>"#,
    )
    .unwrap();
    ws
}

/// Outputs written with the heredoc form, as `name=value` pairs.
fn outputs(file: &str) -> Vec<(String, String)> {
    crate::helpers::run::parse_env_file(file)
}

#[test]
fn lint_gate_under_qemu_gives_the_same_verdict_and_outputs_as_x86_64() {
    let Some(bin) = arm64_binary() else {
        return;
    };
    let ws = junit_workspace();
    let (arm_code, arm_out) = lint_gate(&[Path::new("qemu-aarch64-static"), &bin], ws.path());
    let ws2 = junit_workspace();
    let native = PathBuf::from(env!("CARGO_BIN_EXE_stevedore"));
    let (x86_code, x86_out) = lint_gate(&[&native], ws2.path());
    assert_eq!(arm_code, 1, "a failing test fails the gate:\n{arm_out}");
    assert_eq!(arm_code, x86_code);
    let arm = outputs(&arm_out);
    assert!(
        arm.contains(&("verdict".into(), "failure".into()))
            && arm.contains(&("unit-verdict".into(), "success".into()))
            && arm.contains(&("integration-verdict".into(), "failure".into())),
        "{arm:?}"
    );
    assert_eq!(arm, outputs(&x86_out));
}

/// Builds the action folder for `platform` and returns the `/stevedore` the image's entrypoint runs.
fn entrypoint_of_image(dir: &Path, platform: &str, out: &Path) -> String {
    let tag = format!(
        "localhost/stevedore-it-{}:{}",
        platform.replace('/', "-"),
        std::process::id()
    );
    crate::helpers::ok_output(
        podman()
            .args(["build", "--quiet", "--platform", platform, "--tag", &tag])
            .arg(dir),
    );
    let inspect = podman()
        .args([
            "image",
            "inspect",
            "--format",
            "{{.Architecture}} {{json .Config.Entrypoint}}",
            &tag,
        ])
        .output()
        .unwrap();
    let described = String::from_utf8_lossy(&inspect.stdout).trim().to_owned();
    // A container is created (not started) to copy the entrypoint out: no emulation needed.
    let name = format!(
        "stevedore-it-arch-{}-{}",
        std::process::id(),
        platform.replace('/', "-")
    );
    let create = podman()
        .args(["create", "--name", &name, "--network", "none", &tag])
        .output()
        .unwrap();
    assert!(create.status.success(), "{create:?}");
    let cp = podman()
        .args(["cp", &format!("{name}:/stevedore")])
        .arg(out)
        .output()
        .unwrap();
    let _ = podman().args(["rm", "-f", &name]).output();
    let _ = podman().args(["rmi", "-f", &tag]).output();
    assert!(cp.status.success(), "{cp:?}");
    described
}

#[test]
fn the_image_for_each_platform_runs_its_own_binary() {
    let Some(arm) = arm64_binary() else {
        return;
    };
    let Some(_) = crate::helpers::runner::image() else {
        return;
    };
    let amd = action_binary().unwrap();
    // The action folder as a user's `uses:` has it, with both binaries.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("dist/amd64")).unwrap();
    std::fs::create_dir_all(dir.path().join("dist/arm64")).unwrap();
    for f in [
        "action.yml",
        "Dockerfile",
        ".dockerignore",
        "dist/ca-certificates.crt",
    ] {
        std::fs::copy(repo_root().join(f), dir.path().join(f)).unwrap();
    }
    std::fs::copy(&amd, dir.path().join("dist/amd64/stevedore")).unwrap();
    std::fs::copy(&arm, dir.path().join("dist/arm64/stevedore")).unwrap();

    let out = tempfile::tempdir().unwrap();
    for (platform, arch, machine, source) in [
        ("linux/arm64", "arm64", EM_AARCH64, &arm),
        ("linux/amd64", "amd64", EM_X86_64, &amd),
    ] {
        let copied = out.path().join(arch);
        let described = entrypoint_of_image(dir.path(), platform, &copied);
        assert_eq!(described, format!("{arch} [\"/stevedore\"]"), "{platform}");
        assert_eq!(elf(&copied), (machine, true), "{platform}: /stevedore");
        assert_eq!(
            std::fs::read(&copied).unwrap(),
            std::fs::read(source).unwrap(),
            "{platform}: the image carries dist/{arch}/stevedore"
        );
    }
    let arm_in_image = out.path().join("arm64");
    assert_eq!(
        version_under_qemu(&arm_in_image),
        format!("stevedore {}", stevedore::VERSION)
    );
}
