//! The `stevedore` binary: process-wide set-up, then [`stevedore::app::run`].

use std::process::ExitCode;

use stevedore::cli::{self, Command};
use stevedore::report::{Commands, Masker};
use stevedore::{EXIT_CONFIG, Env, logging};

fn main() -> ExitCode {
    // One crypto library for TLS (octocrab, reqwest, the AWS SDK) and JWT signatures: ring.
    stevedore::net::crypto::install();

    let mut env = Env::from_process();
    let masker = Masker::default();
    let cmds = Commands::stdout(masker.clone(), env.in_actions());
    let args: Vec<String> = std::env::args().skip(1).collect();
    match cli::apply(&args, &mut env) {
        Ok(Command::Run) => {}
        Ok(Command::Check { paths, uses }) => {
            let opts = stevedore::check::Options {
                uses,
                ..Default::default()
            };
            return ExitCode::from(stevedore::check::run(&paths, &opts, &cmds));
        }
        Ok(Command::Version) => {
            cmds.line(&format!("stevedore {}", stevedore::VERSION));
            return ExitCode::SUCCESS;
        }
        Ok(Command::Help) => {
            cmds.line(cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            cmds.annotate(
                stevedore::report::Level::Error,
                Some("stevedore: bad arguments"),
                &Default::default(),
                &e.to_string(),
            );
            return ExitCode::from(EXIT_CONFIG);
        }
    }
    logging::init(&env, masker);
    // The handlers go in before anything can wait: as PID 1 of the `scratch` image, a signal without a
    // handler does nothing at all (the kernel ignores SIGTERM for a namespace's init).
    let (handle, cancel) = stevedore::cancel::pair();
    if let Err(e) = watch_signals(handle, cmds.clone()) {
        tracing::warn!(
            "cannot watch SIGINT/SIGTERM ({e}); a cancelled step will only end when killed"
        );
    }

    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            return ExitCode::from(stevedore::EXIT_FAILED);
        }
    };
    let code = runtime.block_on(stevedore::app::run(env, cmds, cancel));
    ExitCode::from(code)
}

/// Watches SIGINT and SIGTERM on a thread of its own (so a blocked main thread cannot delay it): the first
/// signal fires the run's [`stevedore::cancel::Cancel`]; a second one, or
/// [`stevedore::cancel::HARD_EXIT`] after the first, ends the process with an `::error` saying why.
/// Returns once the handlers are installed.
fn watch_signals(handle: stevedore::cancel::CancelHandle, cmds: Commands) -> Result<(), String> {
    use stevedore::cancel::HARD_EXIT;
    use tokio::signal::unix::{SignalKind, signal};
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
    let spawned = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    let _ignored = ready_tx.send(Err(e.to_string()));
                    return;
                }
            };
            runtime.block_on(async move {
                let (mut int, mut term) = match (
                    signal(SignalKind::interrupt()),
                    signal(SignalKind::terminate()),
                ) {
                    (Ok(i), Ok(t)) => (i, t),
                    (Err(e), _) | (_, Err(e)) => {
                        let _ignored = ready_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                let _ignored = ready_tx.send(Ok(()));
                let name = tokio::select! {
                    _ = int.recv() => "SIGINT",
                    _ = term.recv() => "SIGTERM",
                };
                tracing::warn!("{name}: the step is cancelled; stopping every wait, cleaning up");
                handle.cancel(name);
                let why = tokio::select! {
                    () = tokio::time::sleep(HARD_EXIT) => format!(
                        "the clean-up did not finish within {} ms of it",
                        HARD_EXIT.as_millis()
                    ),
                    _ = int.recv() => "then SIGINT again".to_owned(),
                    _ = term.recv() => "then SIGTERM again".to_owned(),
                };
                tracing::error!("cancelled by {name}; {why}: exiting now");
                cmds.annotate(
                    stevedore::report::Level::Error,
                    Some("stevedore: cancelled"),
                    &Default::default(),
                    &format!(
                        "Cancelled by {name}; {why}, so stevedore exited without finishing it. Nothing was started after the signal; check the job summary and the target's state before running the step again."
                    ),
                );
                #[expect(
                    clippy::disallowed_methods,
                    clippy::exit,
                    reason = "the main thread may be stuck; this is the deadline the runner needs"
                )]
                std::process::exit(i32::from(stevedore::EXIT_FAILED));
            });
        });
    if let Err(e) = spawned {
        return Err(e.to_string());
    }
    ready_rx
        .recv()
        .map_err(|_| "the signal thread ended".to_owned())?
}
