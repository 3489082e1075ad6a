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
    Version,
    Help,
}

/// A command-line mistake.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}\n\n{USAGE}")]
pub struct CliError(String);

pub const USAGE: &str = "usage: stevedore <lint-gate|build|deploy|publish|credentials> [--input name=value ...] [--dry-run] [--summary FILE]
       stevedore --version

Inputs are those of action.yml (`--input aws-region=eu-west-1`). Without arguments, inputs come from the
INPUT_* variables the GitHub runner sets.";

fn set_input(env: &mut Env, name: &str, value: &str) {
    let [runner, underscore] = input_keys(name);
    env.remove(&underscore);
    env.set(runner, value);
}

/// Applies `args` (without the program name) to `env`.
pub fn apply(args: &[String], env: &mut Env) -> Result<Command, CliError> {
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
    fn bad_arguments_explain_usage() {
        let e = apply(&args(&["deploi"]), &mut Env::default()).unwrap_err();
        assert!(e.to_string().contains("unknown mode `deploi`"));
        assert!(e.to_string().contains("usage:"));
    }
}
