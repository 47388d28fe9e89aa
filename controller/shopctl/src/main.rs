//! `shopctl`: every action of the shopset controller, by hand. Parses arguments, calls the
//! engine, prints: data on stdout, progress and problems on stderr.
//!
//! Exit codes: 0 everything done; 1 something failed (the rest was still done); 2 usage error;
//! 3 a gate does not hold (nothing was done).

mod cli;
mod commands;
mod load;
mod output;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SHOPCTL_LOG").unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new(if cli.verbose { "info" } else { "warn" })
            }),
        )
        .init();
    match commands::run(cli) {
        Ok(commands::Done::Ok) => std::process::ExitCode::SUCCESS,
        Ok(commands::Done::Failed) => std::process::ExitCode::from(1),
        Ok(commands::Done::GateNotMet) => std::process::ExitCode::from(3),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(1)
        }
    }
}
