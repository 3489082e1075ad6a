//! act's quirks, in-process: the self-hosted layout (host paths handed to the action, mounted elsewhere
//! in its container) laid out in a temporary directory, run through `stevedore::app::run_in`.

use crate::helpers::has;
use std::path::PathBuf;

use stevedore::Env;
use stevedore::act::Layout;
use stevedore::cancel::Cancel;
use stevedore::report::{Commands, Masker};

use crate::helpers::run::parse_env_file;

/// What act's `-P ubuntu-latest=-self-hosted` hands a Docker action, seen from inside its container.
struct SelfHosted {
    _dir: tempfile::TempDir,
    layout: Layout,
    env: Env,
    workflow: PathBuf,
}

fn self_hosted(event: &serde_json::Value) -> SelfHosted {
    let dir = tempfile::tempdir().unwrap();
    // On the host: ~/.cache/act/<16 hex>/{act,hostexecutor}; absent in the container.
    let host_run = dir.path().join("root/.cache/act/5f3c9a0b1d2e4f67");
    // In the container: the `act` folder at /var/run/act, the workspace at the repository's host path.
    let act_mount = dir.path().join("var/run/act");
    let workflow = act_mount.join("workflow");
    std::fs::create_dir_all(&workflow).unwrap();
    std::fs::write(workflow.join("event.json"), event.to_string()).unwrap();
    for f in ["outputcmd.txt", "envs.txt", "SUMMARY.md"] {
        std::fs::write(workflow.join(f), "").unwrap();
    }
    let repo = dir.path().join("home/dev/src/shop");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(
        repo.join("tsc.txt"),
        "src/a.ts(3,5): error TS2322: Type 'string' is not assignable to type 'number'.\n",
    )
    .unwrap();
    let socket = dir.path().join("var/run/docker.sock");
    std::fs::write(&socket, "").unwrap();
    let host_wf = host_run.join("act/workflow");
    let p = |f: &str| host_wf.join(f).display().to_string();
    let env = Env::from_pairs([
        ("ACT", "true".to_owned()),
        ("GITHUB_ACTIONS", "true".to_owned()),
        ("CI", "true".to_owned()),
        ("GITHUB_EVENT_NAME", "pull_request".to_owned()),
        ("GITHUB_EVENT_PATH", p("event.json")),
        ("GITHUB_OUTPUT", p("outputcmd.txt")),
        ("GITHUB_ENV", p("envs.txt")),
        ("GITHUB_STEP_SUMMARY", p("SUMMARY.md")),
        (
            "GITHUB_WORKSPACE",
            host_run.join("hostexecutor").display().to_string(),
        ),
        ("GITHUB_REPOSITORY", "octo-org/shop".to_owned()),
        ("GITHUB_REF", "refs/pull/8/merge".to_owned()),
        (
            "GITHUB_SHA",
            "0123456789abcdef0123456789abcdef01234567".to_owned(),
        ),
        (
            "DOCKER_HOST",
            "unix:///run/user/1000/podman/podman.sock".to_owned(),
        ),
    ]);
    SelfHosted {
        layout: Layout {
            act_mount,
            docker_socket: socket,
            working_dir: Some(repo),
        },
        _dir: dir,
        env,
        workflow,
    }
}

#[tokio::test]
async fn self_hosted_act_paths_are_found_where_act_mounted_them() {
    let event = serde_json::json!({"number": 8, "pull_request": {"number": 8, "title": "feat: judge checks", "head": {"sha": "abc"}, "base": {"ref": "main"}}});
    let mut s = self_hosted(&event);
    s.env.set("INPUT_MODE", "lint-gate");
    // The relative result file is found only if the workspace was translated to the working directory.
    s.env.set(
        "INPUT_CHECKS",
        "- name: Types\n  outcome: failure\n  results: tsc.txt\n  format: text\n",
    );
    let (cmds, buf) = Commands::buffer(Masker::default(), true);
    let code = stevedore::app::run_in(
        s.env.clone(),
        &s.layout,
        cmds,
        Cancel::never(),
        async |rt: &stevedore::modes::Runtime<'_>, mode: &stevedore::modes::ModeConfig| {
            stevedore::modes::run(rt, mode).await
        },
    )
    .await;
    let stdout = String::from_utf8(buf.lock().unwrap().clone()).unwrap();
    let read = |f: &str| std::fs::read_to_string(s.workflow.join(f)).unwrap();
    let outputs = parse_env_file(&read("outputcmd.txt"));
    let summary = read("SUMMARY.md");
    // Before: exit 2, "cannot read the event payload at .../.cache/act/.../event.json".
    assert_eq!(code, 1, "{stdout}\n{summary}");
    assert!(
        outputs
            .iter()
            .any(|(k, v)| k == "verdict" && v == "failure"),
        "{outputs:?}"
    );
    assert!(
        outputs
            .iter()
            .any(|(k, v)| k == "pr-title-verdict" && v == "success"),
        "the PR payload was read from /var/run/act: {outputs:?}"
    );
    has(&summary, "Types");
    assert!(
        stdout.contains("TS2322"),
        "the result file was read: {stdout}"
    );
}
