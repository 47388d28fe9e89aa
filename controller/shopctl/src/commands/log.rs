//! `shopctl log`.

use std::fmt::Write as _;

use shopset_engine::ops::log::{Deployment, Listed};

use super::Context;
use crate::cli::Format;
use crate::load::Source;

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

fn listed(text: &mut String, label: &str, names: &Listed) {
    if names.count() > 0 {
        let _ = writeln!(text, "    {label}: {}", names.text());
    }
}

fn entry(text: &mut String, d: &Deployment) {
    if d.by_hand {
        let _ = writeln!(
            text,
            "{}  {}  by hand: {} <{}>: {}",
            short(&d.commit),
            d.date,
            d.author,
            d.email,
            d.subject
        );
        return;
    }
    let _ = write!(
        text,
        "{}  {}  app {}",
        short(&d.commit),
        d.date,
        d.app_commit.as_deref().map_or("-", short)
    );
    for c in &d.config_commits {
        let _ = write!(text, "  {} {}", c.name, short(&c.commit));
    }
    text.push('\n');
    listed(text, "added", &d.added);
    listed(text, "changed", &d.changed);
    listed(text, "removed", &d.removed);
    listed(text, "kept at last rendered version", &d.kept);
    if let Some(from) = &d.base_from {
        let _ = writeln!(
            text,
            "    base moved from {} to {}",
            short(from),
            d.app_commit.as_deref().map_or("-", short)
        );
    }
}

pub fn run(
    ctx: &Context,
    format: Format,
    source: &Source,
    tier: &str,
    max_count: usize,
) -> anyhow::Result<bool> {
    let resources = source.resources()?;
    let mut repos = ctx.repos(&resources);
    let log = shopset_engine::ops::log::log(&resources, &mut repos, tier, max_count)
        .map_err(anyhow::Error::new)?;
    let mut text = String::new();
    if log.entries.is_empty() {
        let _ = writeln!(
            text,
            "{}: branch {} of {} has no commits yet",
            log.tier, log.branch, log.repository
        );
    }
    for d in &log.entries {
        entry(&mut text, d);
    }
    if log.truncated {
        let _ = writeln!(
            text,
            "... older commits not shown (--max-count {max_count})"
        );
    }
    crate::output::print(format, &text, &serde_json::to_value(&log)?);
    Ok(true)
}
