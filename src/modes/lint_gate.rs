//! `lint-gate` mode: judges the repository's required checks and fails the step when a required one fails.
//!
//! In a workflow the checks run in earlier `run:` steps (our `FROM scratch` image has no toolchains); this
//! mode reads their outcomes (`${{ steps.X.outcome }}`) and result files from the workspace, as declared in
//! the `checks` input, plus two built-in checks: "Generated files up to date" (workspace vs git index, via
//! gix) and the PR title (Conventional Commits). On a person's machine (`stevedore lint-gate`, not in
//! Actions, no `checks` input) it detects the project's checks, runs them in parallel and judges their
//! output with the same parsers. See docs/lint-gate.md.

pub mod cargo_json;
pub mod checks;
pub mod coverage;
pub mod eslint;
pub mod gate;
pub mod generated;
pub mod junit;
pub mod local;
pub mod parse;
pub mod parsed;
pub mod paths;
pub mod pr_title;
pub mod sarif;
pub mod terraform_validate;
pub mod text;
mod xml;

use crate::inputs::Input;
use crate::inputs::Inputs;
use crate::modes::runtime::{ModeError, Runtime};
use crate::report::{Level, Report};

use checks::CheckSpec;
use gate::CheckResult;
use paths::PathMap;
use pr_title::TitleRules;

/// Whether a built-in check runs, and whether it can fail the gate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gate {
    Off,
    Required,
    Advisory,
}

impl Gate {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Gate::Off => "off",
            Gate::Required => "required",
            Gate::Advisory => "advisory",
        }
    }

    fn parse(p: &mut Inputs<'_>, name: Input, default: Gate) -> Gate {
        match p
            .string(name)
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None => default,
            Some("required" | "true") => Gate::Required,
            Some("advisory") => Gate::Advisory,
            Some("off" | "false") => Gate::Off,
            Some(v) => {
                p.error(
                    name,
                    Some(v),
                    "is not `required`, `advisory` or `off`",
                    format!("e.g. `{name}: required`"),
                );
                default
            }
        }
    }
}

/// Inputs of this mode.
#[derive(Debug)]
pub struct Config {
    /// `checks`; `None` when not given.
    pub checks: Option<Vec<CheckSpec>>,
    pub generated_files: Gate,
    /// Globs excluded from the generated-files comparison (besides the declared result files).
    pub generated_ignore: Vec<String>,
    pub pr_title: Gate,
    pub title_rules: TitleRules,
    /// Inside GitHub Actions: judge only, never spawn tools.
    pub in_actions: bool,
}

impl Config {
    /// Reads this mode's inputs, collecting every error.
    pub fn parse(p: &mut Inputs<'_>) -> Self {
        let checks = p.text(Input::Checks).and_then(|y| match checks::parse(&y) {
            Ok(c) => Some(c),
            Err(errors) => {
                for e in errors {
                    p.error(
                        Input::Checks,
                        None,
                        e.to_string(),
                        "See docs/lint-gate.md for the `checks` format (a YAML list of `name`, `outcome`, `results`, `required`, `coverage-floor`)",
                    );
                }
                None
            }
        });
        let generated_files = Gate::parse(p, Input::GeneratedFiles, Gate::Off);
        let generated_ignore = p.list(Input::GeneratedFilesIgnore);
        for g in &generated_ignore {
            if let Err(e) = globset::Glob::new(g) {
                p.error(
                    Input::GeneratedFilesIgnore,
                    Some(g),
                    format!("is not a valid glob: {e}"),
                    "e.g. `dist/**`",
                );
            }
        }
        let pr_title = Gate::parse(p, Input::PrTitle, Gate::Required);
        let mut title_rules = TitleRules::default();
        let types = p.list(Input::PrTitleTypes);
        if !types.is_empty() {
            title_rules.types = types;
        }
        title_rules.scopes = p.list(Input::PrTitleScopes);
        title_rules.require_scope = p.bool(Input::PrTitleRequireScope, false);
        Self {
            checks,
            generated_files,
            generated_ignore,
            pr_title,
            title_rules,
            in_actions: p.env().in_actions(),
        }
    }
}

/// Runs the mode.
pub async fn run(rt: &Runtime<'_>, cfg: &Config) -> Result<Report, ModeError> {
    let workspace = rt.ctx.workspace.clone();
    let paths = PathMap::new(&workspace).with_readable(rt.env.get("RUNNER_TEMP"));
    let dry_run = rt.common.dry_run;
    let local_plan = if cfg.checks.is_none() && !cfg.in_actions {
        Some(local::detect(&workspace, rt.env))
    } else {
        None
    };
    // The plan, printed before anything runs.
    let mut plan = String::from("lint-gate plan:\n");
    match (&cfg.checks, &local_plan) {
        (Some(c), _) => {
            for s in c {
                plan.push_str(&format!(
                    "  - {} ({}): outcome {}, results {}\n",
                    s.name,
                    if s.required { "required" } else { "advisory" },
                    s.outcome.map_or("not given", checks::Outcome::as_str),
                    if s.results.is_empty() {
                        "none".to_owned()
                    } else {
                        s.results
                            .iter()
                            .map(|r| format!("{} ({})", r.glob, r.format))
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ));
            }
        }
        (None, Some(l)) => plan.push_str(&local::describe(l)),
        (None, None) => plan.push_str("  (no `checks` input: only the built-in checks)\n"),
    }
    if cfg.generated_files != Gate::Off {
        plan.push_str(&format!(
            "  - Generated files up to date ({}): workspace vs git index\n",
            cfg.generated_files.as_str()
        ));
    }
    let pr_title = rt.ctx.pull_request.as_ref().and_then(|p| p.title.clone());
    if cfg.pr_title != Gate::Off && pr_title.is_some() {
        plan.push_str(&format!(
            "  - PR title ({}): Conventional Commits\n",
            cfg.pr_title.as_str()
        ));
    }
    rt.cmds.line(plan.trim_end());
    if dry_run {
        let mut r = Report::new(
            crate::inputs::Mode::LintGate,
            crate::report::Verdict::Skipped,
            "Dry run: plan only",
            format!(
                "## lint-gate plan (dry run)\n\n```\n{}\n```\n",
                plan.trim_end()
            ),
        );
        r.key.clone_from(&rt.common.report_key);
        r.comment = false;
        return Ok(r);
    }

    let mut results: Vec<CheckResult> = Vec::new();
    if let Some(specs) = &cfg.checks {
        let specs = specs.clone();
        let p = paths.clone();
        results = tokio::task::spawn_blocking(move || {
            specs
                .iter()
                .map(|s| gate::guarded(&s.name, s.required, || gate::judge(s, &p)))
                .collect()
        })
        .await
        .map_err(|e| ModeError::Failed {
            message: format!("judging the checks stopped: {e}"),
            hint: None,
        })?;
    } else if let Some(l) = local_plan {
        results = local::run_all(l, &paths, &rt.cancel).await;
    }

    if cfg.generated_files != Gate::Off {
        let mut globs = globset::GlobSetBuilder::new();
        for g in cfg.generated_ignore.iter().chain(
            cfg.checks
                .iter()
                .flatten()
                .flat_map(|c| c.results.iter().map(|r| &r.glob)),
        ) {
            if let Ok(g) = globset::GlobBuilder::new(g.trim_start_matches("./"))
                .literal_separator(true)
                .build()
            {
                globs.add(g);
            }
        }
        let set = globs.build().map_err(|e| ModeError::Config {
            message: format!("`generated-files-ignore`: {e}"),
            hint: None,
        })?;
        let ws = workspace.clone();
        let stale = tokio::task::spawn_blocking(move || generated::stale_files(&ws, &set))
            .await
            .map_err(|e| ModeError::Failed {
                message: format!("the generated-files check stopped: {e}"),
                hint: None,
            })?;
        results.push(generated_result(
            stale,
            cfg.generated_files == Gate::Required,
        ));
    }
    if cfg.pr_title != Gate::Off
        && let Some(t) = &pr_title
    {
        let r = title_result(t, &cfg.title_rules, cfg.pr_title == Gate::Required);
        // The title is in no file, so no report annotation carries it: say it as a workflow command.
        if r.failed {
            rt.cmds.annotate(
                if r.required {
                    Level::Error
                } else {
                    Level::Warning
                },
                Some("PR title"),
                &crate::report::Location::default(),
                &format!(
                    "{} Edit the pull request's title: the check runs again on the `edited` event when the workflow lists it (`on: pull_request: types: [opened, synchronize, reopened, edited]`), else on the next push.",
                    r.reasons.join(" ")
                ),
            );
        }
        results.push(r);
    }
    if !cfg.in_actions {
        // The findings themselves follow as `error: file:line: ...` lines (report fan-out).
        rt.cmds.line(&gate::terminal_table(&results));
    }
    Ok(gate::report(&results, rt.common.report_key.clone()))
}

/// The "Generated files up to date" check from the stale-file list.
pub fn generated_result(
    stale: Result<Vec<generated::StaleFile>, generated::GeneratedError>,
    required: bool,
) -> CheckResult {
    let mut r = CheckResult::new("Generated files up to date", required);
    match stale {
        Err(e) => r.fail(e.to_string()),
        Ok(files) if files.is_empty() => {}
        Ok(files) => {
            r.fail(format!(
                "{} file(s) differ from the commit after the build. Generated sources: run the generators locally and commit the result. Build or test leftovers (`.coverage`, `__pycache__/`, `dist/`): add them to `.gitignore`, or list their globs in `generated-files-ignore`; ignored files are never reported.",
                files.len()
            ));
            for f in &files {
                let mut a = crate::report::Annotation::new(
                    Level::Error,
                    f.path.clone(),
                    f.line,
                    if f.kind == generated::ChangeKind::New {
                        "new by the build, neither tracked nor ignored: commit it if it is generated source; if it is a build or test leftover, add it to `.gitignore` or to `generated-files-ignore`".to_owned()
                    } else {
                        format!(
                            "{} by the build but not committed: run the generator locally and commit the result, or list the file in `generated-files-ignore`",
                            f.kind.as_str()
                        )
                    },
                )
                .with_title("Generated file out of date");
                a.raw_details = Some(f.diff.clone());
                r.annotations.push(a);
                r.details.push_str(&format!(
                    "`{}` ({})\n{}",
                    f.path,
                    f.kind.as_str(),
                    crate::report::markdown::code("diff", &f.diff)
                ));
            }
        }
    }
    r
}

/// The PR-title check.
#[must_use]
pub fn title_result(title: &str, rules: &TitleRules, required: bool) -> CheckResult {
    let mut r = CheckResult::new("PR title", required);
    let c = pr_title::check(title, rules);
    if !c.ok() {
        r.failed = true;
        r.reasons.push(format!(
            "The title `{}` is not a Conventional Commit header.",
            title.replace('`', "'")
        ));
        r.reasons.extend(c.problems.iter().cloned());
        if let Some(s) = &c.suggestion {
            r.details = format!(
                "A title that passes:\n\n{}\nEdit the pull request's title: the check runs again on the `edited` event when the workflow lists it (`on: pull_request: types: [opened, synchronize, reopened, edited]`), else on the next push.\n",
                crate::report::markdown::code("", s)
            );
        }
    }
    r
}
