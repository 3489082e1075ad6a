//! `stevedore check` (docs/check.md): the real binary over workflow files, offline — no token, no cloud,
//! no network variable set.

use crate::helpers::{has, lacks};
use std::process::{Command, Output};

use crate::helpers::runner::repo_root;

fn stevedore(args: &[&str], in_actions: bool) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_stevedore"));
    c.args(args).current_dir(repo_root()).env_clear();
    if let Ok(p) = std::env::var("PATH") {
        c.env("PATH", p);
    }
    if in_actions {
        c.env("GITHUB_ACTIONS", "true");
    }
    c.output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const BAD: &str = r#"name: deploy
on: push
env:
  ENVIRONMENTS: |
    prod: { role: "arn:aws:iam::${{ vars.PROD_ACCOUNT_ID }}:role/deploy", regoin: eu-west-1 }
jobs:
  gate:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v5
      - uses: acme/stevedore@v1
        with:
          mode: lint-gate
          generated-files: sometimes
          pr-title: ${{ vars.PR_TITLE }}
  deploy:
    runs-on: ubuntu-latest
    environment: prod
    steps:
      - uses: acme/stevedore@v1.4.2
        with:
          mode: deploy
          environment: prod
          environments: ${{ env.ENVIRONMENTS }}
          function-name: api
          zip-file: app.zip
          wait-timout: 10m
          health-status: ${{ vars.STATUS }}
      - uses: acme/stevedore@v1
        with:
          mode: credentials
          role-to-assume: arn:aws:iam::123456789012:role/x
          aws-region: moon-1
          role-duration-seconds: 60
"#;

#[test]
fn check_names_every_bad_input_with_its_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("deploy.yml"), BAD).unwrap();
    std::fs::write(
        dir.path().join("fine.yaml"),
        "on: push\njobs:\n  a:\n    steps:\n      - uses: acme/stevedore@v1\n        with: { mode: lint-gate }\n",
    )
    .unwrap();
    // Not a workflow: read, no step found, no complaint.
    std::fs::write(dir.path().join("notes.txt"), "mode: deploi\n").unwrap();
    let d = dir.path().to_str().unwrap();
    let o = stevedore(&["check", d], false);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    let file = format!("{d}/deploy.yml");
    let errors: Vec<&str> = out.lines().filter(|l| l.contains(": error: ")).collect();
    let at: Vec<String> = errors
        .iter()
        .map(|l| l.split(": error: ").next().unwrap().to_owned())
        .collect();
    assert_eq!(
        at,
        [14, 24, 27, 33, 34].map(|l| format!("{file}:{l}")),
        "{out}"
    );
    for (line, words) in [
        (
            14,
            "input `generated-files` = `sometimes`: is not `required`, `advisory` or `off`",
        ),
        // Through `${{ env.ENVIRONMENTS }}`, next to an expression: the typo is still found.
        (
            24,
            "input `environments`: is not a valid map: prod: unknown field `regoin`",
        ),
        (27, "`with: wait-timout` is not an input of stevedore"),
        (33, "input `aws-region` = `moon-1`: is not an AWS region"),
        (
            34,
            "input `role-duration-seconds` = `60`: must be a whole number from 900 to 43200",
        ),
    ] {
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with(&format!("{file}:{line}: error: {words}"))),
            "line {line}: {words}\n{out}"
        );
    }
    has(&out, "Did you mean `wait-timeout`?");
    // Whole expressions are unknown offline: never an error.
    lacks(&out, ":15: error");
    lacks(&out, ":28: error");
    assert!(
        out.lines()
            .last()
            .unwrap()
            .starts_with("stevedore check: 2 file(s), 4 stevedore step(s): 5 error(s)"),
        "{out}"
    );

    // Inside Actions: annotations on the file and line, nothing else that the runner would execute.
    let o = stevedore(&["check", &file], true);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    let annotations: Vec<&str> = out.lines().filter(|l| l.starts_with("::error ")).collect();
    assert_eq!(annotations.len(), 5, "{out}");
    assert!(
        annotations[0].starts_with(&format!(
            "::error title=stevedore check,file={file},line=14::"
        )),
        "{out}"
    );
}

#[test]
fn every_example_passes_check() {
    let o = stevedore(&["check", "examples/"], false);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    let examples = std::fs::read_dir(repo_root().join("examples"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_str()
                .unwrap()
                .ends_with(".yml")
        })
        .count();
    let summary = out.lines().last().unwrap();
    assert!(
        summary.starts_with(&format!("stevedore check: {examples} file(s), ")),
        "{out}"
    );
    assert!(summary.contains(" 0 error(s), 0 warning(s)"), "{out}");
    // Each example has stevedore steps, and all were found.
    let steps: usize = summary
        .split(" file(s), ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(steps >= examples * 2, "{out}");
    // The project's own workflows too (`uses: ./` is this action).
    let o = stevedore(&["check"], false);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    has(&stdout(&o), "1 stevedore step(s)");
}

/// docs/build.md said a dry run needs no credentials; outside a job it exits 2 for want of an OIDC token.
/// The words say so — no job, not a bad input — and name the way out.
#[test]
fn a_dry_run_outside_a_job_says_there_is_no_job_not_that_an_input_is_bad() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("b")).unwrap();
    std::fs::write(dir.path().join("b/handler.py"), "def h(e, c): return 1\n").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_stevedore"))
        .args([
            "build",
            "--dry-run",
            "--input",
            "bundle-dir=b",
            "--input",
            "s3-bucket=artifacts",
            "--input",
            "service=api",
            "--input",
            "aws-region=eu-west-1",
        ])
        .current_dir(dir.path())
        .env_clear()
        .env("GITHUB_WORKSPACE", dir.path())
        .output()
        .unwrap();
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    has(&out, "not a GitHub Actions job");
    has(&out, "allow-aws-credential-chain=true");
    has(&out, "stevedore check");
    lacks(&out, "invalid input");
    lacks(&out, "the job lacks");
}
