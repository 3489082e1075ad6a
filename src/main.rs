//! The `stevedore` binary: process-wide set-up, then [`stevedore::run`].

use std::process::ExitCode;

use stevedore::cli::{self, Command};
use stevedore::report::{Commands, Masker};
use stevedore::{EXIT_CONFIG, Env, logging};

fn main() -> ExitCode {
    // One TLS crypto provider for octocrab, reqwest and the AWS SDK: aws-lc-rs (see Cargo.toml).
    let _already_installed = rustls::crypto::aws_lc_rs::default_provider().install_default();

    let mut env = Env::from_process();
    let masker = Masker::default();
    let cmds = Commands::stdout(masker.clone(), env.in_actions());
    let args: Vec<String> = std::env::args().skip(1).collect();
    match cli::apply(&args, &mut env) {
        Ok(Command::Run) => {}
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
    let code = runtime.block_on(async move {
        let (handle, cancel) = stevedore::cancel::pair();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::warn!("cancellation requested by the runner; cleaning up");
            handle.cancel();
        });
        stevedore::run(env, cmds, cancel).await
    });
    ExitCode::from(code)
}

/// SIGINT or SIGTERM, whichever comes first.
async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut int), Ok(mut term)) => {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
}
