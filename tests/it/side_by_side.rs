//! Side by side with the official actions (issue 28): the same scripted endpoints
//! (`helpers::fake_apprunner`, `helpers::fake_ecs`), an operation ending at a scheduled instant, and each
//! tool run as a process the way the runner runs it — the official action as `node dist/index.js` with
//! `INPUT_*` variables, stevedore as its binary — under `/usr/bin/time` for the peak memory.
//!
//! Nothing of the official actions is in this repository: the benchmark runs the `dist/index.js` of a
//! checkout given by an environment variable (`STEVEDORE_BENCH_APP_RUNNER_ACTION`: a directory holding
//! awslabs/amazon-app-runner-deploy's `dist/index.js`; `STEVEDORE_BENCH_EXPRESS_ACTION`: the same for
//! aws-actions/amazon-ecs-deploy-express-service). Both use the AWS SDK for JavaScript v3, which takes its
//! endpoint from `AWS_ENDPOINT_URL_APPRUNNER` / `AWS_ENDPOINT_URL_ECS`, as stevedore does.
//! `STEVEDORE_BENCH_BINARY` picks the stevedore binary (default: the one built with the tests).
//!
//! Run: `cargo test --test it bench_side_by_side -- --ignored --nocapture` (BENCHMARKS.md).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::helpers::fake_apprunner::{FakeAppRunner, Op};
use crate::helpers::fake_ecs::{After, ExpressDeploy, FakeEcs};

const OLD: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/frontend@sha256:0000000000000000000000000000000000000000000000000000000000000000";
const NEW: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/frontend@sha256:2222222222222222222222222222222222222222222222222222222222222222";
/// When the scripted operation ends after the update: 20 s, plus a third of a second more per run, so the
/// end falls at different phases of the tools' 1 s polls.
fn end_at(run: usize) -> Duration {
    Duration::from_secs(20) + Duration::from_millis(333) * u32::try_from(run % 3).unwrap()
}
/// How long a run may take before it is stopped and recorded as "no exit".
const LIMIT: Duration = Duration::from_secs(75);

/// One run of one tool.
#[derive(Debug)]
struct Sample {
    /// Scheduled end → process exit (`None`: still running at [`LIMIT`], stopped).
    end_to_exit: Option<Duration>,
    code: Option<i32>,
    /// API calls the scripted endpoint answered.
    calls: u32,
    /// Maximum resident set size, kB (`/usr/bin/time`).
    peak_kb: Option<u64>,
}

/// Runs `program args` with exactly `env` (and PATH/HOME) under `/usr/bin/time`, stopping it at [`LIMIT`].
/// Returns the exit instant, the code and the peak RSS.
async fn run_process(
    program: &Path,
    args: &[&str],
    env: &[(String, String)],
    dir: &Path,
) -> (Option<Instant>, Option<i32>, Option<u64>) {
    let rss = dir.join("rss");
    let mut cmd = tokio::process::Command::new("/usr/bin/time");
    cmd.arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&rss)
        .arg(program)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("/usr/bin/time runs");
    let (exit, code) = match tokio::time::timeout(LIMIT, child.wait()).await {
        Ok(status) => (Some(Instant::now()), status.ok().and_then(|s| s.code())),
        Err(_) => {
            // Stop the tool itself (the child of `time`, which then writes its peak RSS and exits);
            // killing `time` alone would leave the tool running on.
            if let Some(pid) = child.id() {
                let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
                    .unwrap_or_default();
                for c in children.split_whitespace() {
                    let _ = std::process::Command::new("kill")
                        .args(["-KILL", c])
                        .status();
                }
            }
            if tokio::time::timeout(Duration::from_secs(5), child.wait())
                .await
                .is_err()
            {
                let _ = child.kill().await;
            }
            (None, None)
        }
    };
    let peak = std::fs::read_to_string(&rss)
        .ok()
        .and_then(|t| t.lines().last().and_then(|l| l.trim().parse().ok()));
    (exit, code, peak)
}

/// The runner's environment for a Docker action, and the AWS credentials and Region both tools read.
fn files(dir: &Path) -> Vec<(String, String)> {
    let workspace = dir.join("workspace");
    std::fs::create_dir_all(&workspace).unwrap();
    let [output, summary, env] = ["output", "summary", "env"].map(|f| dir.join(f));
    for f in [&output, &summary, &env] {
        std::fs::write(f, "").unwrap();
    }
    let runner = crate::helpers::run::runner_env(&workspace, &output, &summary, &env)
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    with(
        runner,
        &[
            ("AWS_ACCESS_KEY_ID", "AKIDTEST"),
            ("AWS_SECRET_ACCESS_KEY", "secret-key-for-tests"),
            ("AWS_REGION", "eu-west-1"),
        ],
    )
}

fn with(mut env: Vec<(String, String)>, more: &[(&str, &str)]) -> Vec<(String, String)> {
    env.extend(more.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    env
}

fn stevedore_binary() -> PathBuf {
    std::env::var_os("STEVEDORE_BENCH_BINARY").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_stevedore")),
        PathBuf::from,
    )
}

/// Runs one tool in the environment `base`: the official action (`dist/index.js` of `action`) with its
/// `inputs`, or stevedore ([`stevedore`]) deploying the service named by its input `target`.
async fn run_tool(
    tool: Tool,
    action: &Path,
    base: Vec<(String, String)>,
    inputs: &[(&str, &str)],
    target: &str,
    health_url: &str,
    dir: &Path,
) -> (Option<Instant>, Option<i32>, Option<u64>) {
    match tool {
        Tool::Official => {
            let script = action.join("dist/index.js");
            let env = with(base, inputs);
            run_process(
                Path::new("node"),
                &[&script.display().to_string()],
                &env,
                dir,
            )
            .await
        }
        Tool::Stevedore => stevedore(base, target, health_url, dir).await,
    }
}

/// stevedore's deploy of service `frontend` (named by the input `target`) to `NEW`, checking `health_url`;
/// STS on moto.
async fn stevedore(
    base: Vec<(String, String)>,
    target: &str,
    health_url: &str,
    dir: &Path,
) -> (Option<Instant>, Option<i32>, Option<u64>) {
    let moto = crate::helpers::moto::moto().expect("the benchmark needs moto");
    let env = with(
        base,
        &[
            ("INPUT_MODE", "deploy"),
            ("INPUT_ALLOW-AWS-CREDENTIAL-CHAIN", "true"),
            ("AWS_ENDPOINT_URL", &moto.endpoint),
            ("INPUT_AWS-REGION", "eu-west-1"),
            (target, "frontend"),
            ("INPUT_IMAGE", NEW),
            ("INPUT_HEALTH-URL", health_url),
        ],
    );
    run_process(&stevedore_binary(), &[], &env, dir).await
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tool {
    Official,
    Stevedore,
}

async fn app_runner(tool: Tool, action: &Path, fail: bool, end: Duration) -> Sample {
    let fake = FakeAppRunner::start("frontend", OLD).await;
    fake.script([if fail {
        Op::FailAfter(end)
    } else {
        Op::SucceedAfter(end)
    }]);
    let dir = tempfile::tempdir().unwrap();
    let base = with(
        files(dir.path()),
        &[("AWS_ENDPOINT_URL_APPRUNNER", fake.url())],
    );
    let (exit, code, peak_kb) = run_tool(
        tool,
        action,
        base,
        &[
            ("INPUT_SERVICE", "frontend"),
            ("INPUT_IMAGE", NEW),
            (
                "INPUT_ACCESS-ROLE-ARN",
                "arn:aws:iam::123456789012:role/apprunner-ecr",
            ),
            ("INPUT_REGION", "eu-west-1"),
            ("INPUT_PORT", "8080"),
            ("INPUT_CPU", "1"),
            ("INPUT_MEMORY", "2"),
            ("INPUT_WAIT-FOR-SERVICE-STABILITY-SECONDS", "600"),
        ],
        "INPUT_APP-RUNNER-SERVICE",
        &fake.health_url(),
        dir.path(),
    )
    .await;
    let ended = if fail {
        fake.failed()
    } else {
        fake.succeeded()
    };
    let end_to_exit = exit
        .zip(ended.first())
        .map(|(x, (end, _))| x.duration_since(*end));
    Sample {
        end_to_exit,
        code,
        calls: fake.total_calls(),
        peak_kb,
    }
}

async fn express(tool: Tool, action: &Path, fail: bool, end: Duration) -> Sample {
    let fake = FakeEcs::start().await;
    let arn = fake.seed_express("default", "frontend", OLD);
    fake.script_express(
        &arn,
        [if fail {
            ExpressDeploy::AlarmRollback(After::Time(end))
        } else {
            ExpressDeploy::Succeed(After::Time(end))
        }],
    );
    let dir = tempfile::tempdir().unwrap();
    let base = with(files(dir.path()), &[("AWS_ENDPOINT_URL_ECS", fake.url())]);
    let (exit, code, peak_kb) = run_tool(
        tool,
        action,
        base,
        &[
            ("INPUT_SERVICE-NAME", "frontend"),
            ("INPUT_IMAGE", NEW),
            (
                "INPUT_EXECUTION-ROLE-ARN",
                "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
            ),
            (
                "INPUT_INFRASTRUCTURE-ROLE-ARN",
                "arn:aws:iam::123456789012:role/ecsInfrastructureRoleForExpressServices",
            ),
            ("INPUT_CLUSTER", "default"),
            ("INPUT_MUTATE-TAGS-ON-UPDATE", "false"),
        ],
        "INPUT_EXPRESS-SERVICE",
        &fake.health_url(),
        dir.path(),
    )
    .await;
    // The scheduled instant: SUCCESSFUL, or the alarm that starts the rollback.
    let what = if fail {
        "ROLLBACK_IN_PROGRESS"
    } else {
        "SUCCESSFUL"
    };
    let end = fake
        .decided()
        .into_iter()
        .find(|d| d.what == what)
        .map(|d| d.at);
    Sample {
        end_to_exit: exit.zip(end).map(|(x, e)| x.duration_since(e)),
        code,
        calls: fake.total_calls(),
        peak_kb,
    }
}

fn range<T: Copy + PartialOrd>(v: &[T]) -> Option<(T, T)> {
    let mut it = v.iter().copied();
    let first = it.next()?;
    Some(it.fold((first, first), |(lo, hi), x| {
        (if x < lo { x } else { lo }, if x > hi { x } else { hi })
    }))
}

fn row(target: &str, ending: &str, tool: &str, samples: &[Sample]) -> String {
    let exits: Vec<f64> = samples
        .iter()
        .filter_map(|s| s.end_to_exit.map(|d| d.as_secs_f64()))
        .collect();
    let stopped = samples.len() - exits.len();
    let exit = match range(&exits) {
        Some((lo, hi)) => format!("{lo:.2}–{hi:.2} s"),
        None => String::new(),
    };
    let exit = match (exit.is_empty(), stopped) {
        (_, 0) => exit,
        (true, n) => format!("no exit within {} s ({n} runs stopped)", LIMIT.as_secs()),
        (false, n) => format!("{exit}; {n} runs stopped at {} s", LIMIT.as_secs()),
    };
    let calls: Vec<u32> = samples.iter().map(|s| s.calls).collect();
    let (clo, chi) = range(&calls).unwrap_or((0, 0));
    let rss: Vec<u64> = samples.iter().filter_map(|s| s.peak_kb).collect();
    let mem = range(&rss).map_or(String::from("–"), |(lo, hi)| {
        format!("{:.1}–{:.1} MB", lo as f64 / 1024.0, hi as f64 / 1024.0)
    });
    let codes: std::collections::BTreeSet<String> = samples
        .iter()
        .map(|s| {
            s.code
                .map_or_else(|| "stopped".to_owned(), |c| c.to_string())
        })
        .collect();
    format!(
        "| {target} {ending} | {tool} | {} | {exit} | {clo}–{chi} | {mem} | {} |",
        samples.len(),
        codes.into_iter().collect::<Vec<_>>().join(", ")
    )
}

/// Benchmark, not a timed test: see the module comment. Each case runs `STEVEDORE_BENCH_RUNS` times (3),
/// one after the other (a run's timing is not shared with another's).
#[tokio::test]
#[ignore = "benchmark: needs the official actions' checkouts and node; prints figures, takes minutes"]
async fn bench_side_by_side_with_the_official_actions() {
    let dir = |var: &str| {
        PathBuf::from(std::env::var(var).unwrap_or_else(|_| panic!("set {var} (module comment)")))
    };
    let (app_runner_action, express_action) = (
        dir("STEVEDORE_BENCH_APP_RUNNER_ACTION"),
        dir("STEVEDORE_BENCH_EXPRESS_ACTION"),
    );
    let runs: usize = std::env::var("STEVEDORE_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    println!(
        "| target, ending | tool | runs | scheduled end → exit (min–max) | API calls answered by the endpoint | peak RSS | exit codes |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for (target, action) in [
        ("App Runner", &app_runner_action),
        ("ECS Express", &express_action),
    ] {
        for fail in [false, true] {
            let ending = match (target, fail) {
                ("App Runner", false) => "SUCCEEDED",
                ("App Runner", true) => "ROLLBACK_SUCCEEDED",
                (_, false) => "SUCCESSFUL",
                (_, true) => "alarm → ROLLBACK_SUCCESSFUL",
            };
            for tool in [Tool::Official, Tool::Stevedore] {
                let mut samples = Vec::new();
                for run in 0..runs {
                    samples.push(match target {
                        "App Runner" => app_runner(tool, action, fail, end_at(run)).await,
                        _ => express(tool, action, fail, end_at(run)).await,
                    });
                }
                let name = match tool {
                    Tool::Official => "official",
                    Tool::Stevedore => "stevedore",
                };
                println!("{}", row(target, ending, name, &samples));
                eprintln!("{target} {ending} {name}: {samples:?}");
            }
        }
    }
    println!(
        "(operation scheduled to end 20.0, 20.33 or 20.67 s after the update; runs stopped at {} s; stevedore: {})",
        LIMIT.as_secs(),
        stevedore_binary().display()
    );
}
