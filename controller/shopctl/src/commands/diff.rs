//! `shopctl diff`.

use super::{Context, Done};
use crate::cli::Format;
use crate::load::Source;

pub fn run(
    ctx: &Context,
    format: Format,
    source: &Source,
    stat: bool,
    max_lines: Option<usize>,
) -> anyhow::Result<Done> {
    let resources = source.resources()?;
    for ignored in &resources.ignored {
        eprintln!("warning: {ignored}");
    }
    let mut repos = ctx.repos(&resources);
    let mut report = shopset_engine::ops::diff::diff(&resources, &mut repos);
    // With --stat no patch is printed: none is computed, and JSON carries the counts only.
    if !stat {
        report.bound(max_lines);
    }
    super::report_problems(&report.problems);
    let text = if stat {
        report.stat(max_lines)
    } else {
        report.text()
    };
    crate::output::print(format, &text, &serde_json::to_value(&report)?);
    Ok(if shopset_engine::any_error(&report.problems) {
        Done::Failed
    } else if report.changes() {
        Done::Changes
    } else {
        Done::Ok
    })
}
