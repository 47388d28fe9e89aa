//! `shopctl`: every action of the shopset controller, by hand. Parses arguments, calls the
//! engine, prints: data on stdout, progress and problems on stderr.
//!
//! Exit codes: 0 everything done; 1 something failed (the rest was still done); 2 usage error;
//! 3 a gate does not hold (nothing was done); 4 `verify` found a branch changed by hand or not
//! rendered from the current resources, or `diff` found that a sync would change something.

mod cli;
mod cluster;
mod commands;
mod load;
mod output;

use clap::Parser;
use tracing_subscriber::filter::FilterExt as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _, filter};

/// glibc's allocator turned out slow on the engine's pattern (many small rows freed, then one
/// larger allocation that first sorts every free chunk: 40-70 ms measured inside one commit at
/// 100,000 shops); mimalloc keeps such frees cheap.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    shopset_engine::fault::install_from_env_in_debug_builds();
    let cli = cli::Cli::parse();
    logging(&cli);
    match commands::run(cli) {
        Ok(commands::Done::Ok) => std::process::ExitCode::SUCCESS,
        Ok(commands::Done::Failed) => std::process::ExitCode::from(1),
        Ok(commands::Done::GateNotMet) => std::process::ExitCode::from(3),
        Ok(commands::Done::Changes) => std::process::ExitCode::from(4),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(1)
        }
    }
}

/// Progress (fetching, writing, pushing) goes to stderr as bare lines unless `--quiet`; other
/// logs at warning level, at info with `-v`, or as `SHOPCTL_LOG` says.
fn logging(cli: &cli::Cli) {
    let logs = EnvFilter::try_from_env("SHOPCTL_LOG")
        .unwrap_or_else(|_| EnvFilter::new(if cli.verbose { "info" } else { "warn" }));
    let quiet = cli.quiet;
    let progress = move |meta: &tracing::Metadata<'_>| meta.target() == shopset_engine::PROGRESS;
    // Colour only for a person at a terminal: never escapes in a file, a pipe or CI's log.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(ansi)
                .without_time()
                .with_level(false)
                .with_target(false)
                .with_filter(filter::filter_fn(move |meta| !quiet && progress(meta))),
        )
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(ansi)
                .with_filter(logs.and(filter::filter_fn(move |meta| !progress(meta)))),
        )
        .init();
}
