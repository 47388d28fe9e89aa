//! One module per command; each turns arguments into engine calls and prints the result.
//! `run` returns `Ok(false)` when the command finished but something in it failed.

mod crds;
mod quickstart;
mod render;
mod sync;

use crate::cli::{Cli, Command};

pub fn run(cli: Cli) -> anyhow::Result<bool> {
    let format = cli.format;
    match cli.command {
        Command::Sync {
            files,
            dry_run,
            author_name,
            author_email,
        } => sync::run(format, &files, dry_run, &author(author_name, author_email)),
        Command::Render { files, inputs, out } => render::run(format, &files, &inputs, &out),
        Command::Crds { out } => crds::run(out.as_deref()),
        Command::Quickstart { dir } => quickstart::run(format, &dir),
    }
}

fn author(name: String, email: String) -> shopset_engine::Author {
    shopset_engine::Author {
        name,
        email,
        producer: format!("shopctl/{}", env!("CARGO_PKG_VERSION")),
        time: None,
    }
}

/// Problems go to stderr, one per line.
fn report_problems(problems: &[String]) {
    for p in problems {
        eprintln!("error: {p}");
    }
}
