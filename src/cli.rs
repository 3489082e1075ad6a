//! The command line for people: `stevedore <mode> [--input name=value ...] [--dry-run] [--summary FILE]`.
//!
//! It maps onto the same `INPUT_*` variables the runner sets, so a terminal run and an action run read
//! their inputs through one code path. Inside the action there are no arguments at all.

use crate::env::{Env, vars};
use crate::inputs::{Input, Mode, input_keys};

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// Run with the (possibly extended) environment.
    Run,
    /// `stevedore check [PATH...] [--uses REF ...]`: the offline input check ([`crate::check`]).
    Check {
        paths: Vec<String>,
        uses: Vec<String>,
    },
    Version,
    Help,
}

/// A command-line mistake.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}\n\n{USAGE}")]
pub struct CliError(String);

pub const USAGE: &str = "usage: stevedore <lint-gate|build|deploy|publish|credentials> [--input name=value ...] [--dry-run] [--summary FILE]
       stevedore check [PATH ...] [--uses OWNER/NAME ...]
       stevedore --version

Inputs are those of action.yml (`--input aws-region=eu-west-1`). Without arguments, inputs come from the
INPUT_* variables the GitHub runner sets.

`check` reads the workflow files in each PATH (default .github/workflows) and validates the `with:` of every
stevedore step as a run would, offline: no token, no cloud. Exit 0 when all are valid, 2 when any is not.";

/// Reads `check`'s arguments (after the word `check`).
fn check_args(args: &[String]) -> Result<Command, CliError> {
    let mut paths = Vec::new();
    let mut uses = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--help" | "-h" => return Ok(Command::Help),
            "--uses" => uses.push(
                it.next()
                    .ok_or_else(|| {
                        CliError(
                            "`--uses` needs an action reference, e.g. `--uses acme/deploy-action`"
                                .into(),
                        )
                    })?
                    .clone(),
            ),
            s if s.starts_with("--uses=") => uses.push(s["--uses=".len()..].to_owned()),
            s if s.starts_with('-') => {
                return Err(CliError(format!("`check`: unexpected argument `{s}`")));
            }
            s => paths.push(s.to_owned()),
        }
    }
    Ok(Command::Check { paths, uses })
}

fn set_input(env: &mut Env, name: &str, value: &str) {
    let [runner, underscore] = input_keys(name);
    env.remove(&underscore);
    env.set(runner, value);
}

/// Applies `args` (without the program name) to `env`.
pub fn apply(args: &[String], env: &mut Env) -> Result<Command, CliError> {
    if args.first().is_some_and(|a| a == "check") {
        return check_args(&args[1..]);
    }
    let mut it = args.iter();
    let mut seen_mode = false;
    while let Some(a) = it.next() {
        match a.as_str() {
            "--version" | "-V" => return Ok(Command::Version),
            "--help" | "-h" | "help" => return Ok(Command::Help),
            "--dry-run" => set_input(env, Input::DryRun.as_str(), "true"),
            "--input" | "-i" => {
                let kv = it
                    .next()
                    .ok_or_else(|| CliError("`--input` needs `name=value`".into()))?;
                let (k, v) = kv
                    .split_once('=')
                    .ok_or_else(|| CliError(format!("`--input {kv}`: expected `name=value`")))?;
                set_input(env, k.trim(), v);
            }
            "--summary" => {
                let f = it
                    .next()
                    .ok_or_else(|| CliError("`--summary` needs a file".into()))?;
                env.set(vars::GITHUB_STEP_SUMMARY, f.as_str());
            }
            s if s.starts_with("--input=") => {
                let kv = &s["--input=".len()..];
                let (k, v) = kv
                    .split_once('=')
                    .ok_or_else(|| CliError(format!("`{s}`: expected `--input name=value`")))?;
                set_input(env, k.trim(), v);
            }
            s if !s.starts_with('-') && !seen_mode => {
                if Mode::parse(s).is_none() {
                    return Err(CliError(format!("unknown mode `{s}`")));
                }
                seen_mode = true;
                set_input(env, Input::Mode.as_str(), s);
            }
            s => return Err(CliError(format!("unexpected argument `{s}`"))),
        }
    }
    Ok(Command::Run)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn cli_maps_to_the_runner_input_names() {
        let mut env = Env::from_pairs([("INPUT_AWS_REGION", "old")]);
        let cmd = apply(
            &args(&["deploy", "--input", "aws-region=eu-west-1", "--dry-run"]),
            &mut env,
        )
        .unwrap();
        assert_eq!(cmd, Command::Run);
        assert_eq!(env.get("INPUT_MODE"), Some("deploy"));
        assert_eq!(env.get("INPUT_AWS-REGION"), Some("eu-west-1"));
        assert_eq!(env.get("INPUT_AWS_REGION"), None);
        assert_eq!(env.get("INPUT_DRY-RUN"), Some("true"));
    }

    #[test]
    fn check_takes_paths_and_uses() {
        let mut env = Env::default();
        assert_eq!(
            apply(&args(&["check"]), &mut env).unwrap(),
            Command::Check {
                paths: vec![],
                uses: vec![]
            }
        );
        assert_eq!(
            apply(
                &args(&[
                    "check",
                    "examples/",
                    "--uses",
                    "acme/deploy",
                    "a.yml",
                    "--uses=./x"
                ]),
                &mut env
            )
            .unwrap(),
            Command::Check {
                paths: vec!["examples/".into(), "a.yml".into()],
                uses: vec!["acme/deploy".into(), "./x".into()]
            }
        );
        assert!(apply(&args(&["check", "--uses"]), &mut env).is_err());
        assert!(apply(&args(&["check", "--dry-run"]), &mut env).is_err());
        // `check` is no input: nothing was set.
        assert_eq!(env.get("INPUT_MODE"), None);
    }

    #[test]
    fn bad_arguments_explain_usage() {
        let e = apply(&args(&["deploi"]), &mut Env::default()).unwrap_err();
        assert!(e.to_string().contains("unknown mode `deploi`"));
        assert!(e.to_string().contains("usage:"));
    }
}
