//! `shopctl status`.

use std::fmt::Write as _;
use std::path::Path;

use shopset_engine::ops::overview;

use super::Context;
use crate::cli::Format;
use crate::load::Source;

fn short(c: Option<&String>) -> String {
    c.map_or_else(|| "-".into(), |c| c.chars().take(12).collect())
}

pub fn run(
    ctx: &Context,
    format: Format,
    source: &Source,
    status_file: Option<&Path>,
) -> anyhow::Result<bool> {
    let super::Observed {
        resources,
        mut repos,
        statuses,
        from,
    } = ctx.statuses(source, status_file)?;
    let tiers = overview::overview(
        &resources,
        &statuses,
        &mut repos,
        k8s_openapi::jiff::Timestamp::now(),
    );
    let mut text = String::new();
    let _ = writeln!(
        text,
        "{:<10} {:<12} {:<12} {:<12} {:>8} {:>7} {:>7}  PROMOTABLE",
        "TIER", "APP BRANCH", "APP RUNNING", "SYSTEM", "SHOPSETS", "SYNCED", "HEALTHY"
    );
    for t in &tiers {
        let count = |n: Option<i32>| n.map_or_else(|| "-".into(), |n| n.to_string());
        let _ = writeln!(
            text,
            "{:<10} {:<12} {:<12} {:<12} {:>8} {:>7} {:>7}  {}",
            t.tier,
            short(t.app_branch_tip.as_ref()),
            short(t.app_running.as_ref()),
            short(t.system_commit.as_ref()),
            t.shop_sets,
            count(t.synced),
            count(t.healthy),
            match t.promotable {
                None => "-",
                Some(true) => "yes",
                Some(false) => "no",
            }
        );
    }
    for t in &tiers {
        let mut lines = Vec::new();
        if let Some(h) = &t.hold {
            lines.push(format!("held: {h}"));
        }
        if let Some(p) = &t.pin {
            lines.push(format!("pinned to {p}"));
        }
        for w in &t.freeze_windows {
            lines.push(format!("freeze window: {w}"));
        }
        if let Some(f) = &t.frozen {
            lines.push(format!("frozen now: {f}"));
        }
        for c in &t.configurations {
            if c.branch_tip != c.running {
                lines.push(format!(
                    "configuration {}: branch at {}, running {}",
                    c.name,
                    short(c.branch_tip.as_ref()),
                    short(c.running.as_ref())
                ));
            }
        }
        if let Some(from) = &t.promotes_from {
            for g in &t.gate {
                lines.push(format!("from {from}: {g}"));
            }
        }
        if let (Some(from), Some(incoming)) = (&t.promotes_from, &t.incoming) {
            lines.push(format!(
                "from {from}: {} app commit(s) to promote:",
                incoming.count
            ));
            for c in incoming.commits.iter().take(10) {
                lines.push(format!(
                    "  {} {} ({})",
                    c.commit.get(..12).unwrap_or(&c.commit),
                    c.subject,
                    c.author
                ));
            }
            if incoming.count > incoming.commits.len().min(10) {
                lines.push(format!(
                    "  ... and {} more",
                    incoming.count - incoming.commits.len().min(10)
                ));
            }
        }
        let shown = t.not_ready.len().min(10);
        for n in &t.not_ready[..shown] {
            lines.push(format!("not ready: {n}"));
        }
        if t.not_ready.len() > shown {
            lines.push(format!(
                "... and {} more not ready",
                t.not_ready.len() - shown
            ));
        }
        lines.extend(t.problems.iter().map(|p| {
            let label = if p.is_error() { "problem" } else { "warning" };
            format!("{label}: {p}")
        }));
        if !lines.is_empty() {
            let _ = writeln!(text, "\n{}:", t.tier);
            for l in lines {
                let _ = writeln!(text, "  {l}");
            }
        }
    }
    let _ = writeln!(text, "\nstatuses: {from}");
    let mut json = serde_json::to_value(&tiers)?;
    for tier in json.as_array_mut().into_iter().flatten() {
        tier["statusSource"] = serde_json::to_value(&from)?;
    }
    crate::output::print(format, &text, &json);
    Ok(!tiers.iter().any(|t| shopset_engine::any_error(&t.problems)))
}
