//! `shopset-controller`: parse the flags, start the logs, run until a signal.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    shopset_engine::fault::install_from_env_in_debug_builds();
    let args = shopset_controller::args::Args::parse();
    shopset_controller::telemetry::init(args.log_json);
    shopset_controller::run::run(args, shopset_controller::run::shutdown_signal()).await
}
