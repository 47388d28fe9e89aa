//! `shopctl verify`.

use std::fmt::Write as _;

use shopset_engine::ops::verify::{self, VerifyOptions, VerifyReport};

use super::{Context, Done};
use crate::cli::Format;
use crate::load::Source;

pub fn run(ctx: &Context, format: Format, source: &Source, diff: bool) -> anyhow::Result<Done> {
    let resources = source.resources()?;
    for ignored in &resources.ignored {
        eprintln!("warning: {ignored}");
    }
    let mut repos = ctx.repos(&resources);
    let options = VerifyOptions {
        diffs: diff,
        tiers: None,
    };
    let report = verify::verify(&resources, &mut repos, &options);
    let mut problems = report.problems.clone();
    problems.extend(report.tiers.iter().flat_map(|t| t.problems.iter().cloned()));
    super::report_problems(&problems);
    crate::output::print(format, &text(&report), &serde_json::to_value(&report)?);
    Ok(if report.has_problems() {
        Done::Failed
    } else if report.drifted_or_pending() {
        Done::Changes
    } else {
        Done::Ok
    })
}

fn text(report: &VerifyReport) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "{:<10} {:<10} {:<12} STATE", "TIER", "BRANCH", "TIP");
    for t in &report.tiers {
        let mut state = Vec::new();
        if !t.drift.is_empty() {
            state.push(format!("{} paths changed by hand", t.drift.len()));
        }
        if t.pending.is_some() {
            state.push("sync pending".to_owned());
        }
        if shopset_engine::any_error(&t.problems) {
            state.push("not verified".to_owned());
        }
        if state.is_empty() {
            state.push(
                if t.tip.is_some() {
                    "clean"
                } else {
                    "no branch"
                }
                .to_owned(),
            );
        }
        let _ = writeln!(
            text,
            "{:<10} {:<10} {:<12} {}",
            t.tier,
            t.branch,
            t.tip.as_deref().map_or("-", |c| &c[..12.min(c.len())]),
            state.join(", ")
        );
    }
    for t in &report.tiers {
        if !t.drift.is_empty() {
            let _ = writeln!(
                text,
                "\n{} ({} at {}): changed by hand:",
                t.tier,
                t.branch,
                t.tip.as_deref().unwrap_or("-")
            );
            for d in &t.drift {
                let _ = write!(text, "  {:<8} {}", d.kind.to_string(), d.path);
                if let Some(detail) = &d.detail {
                    let _ = write!(text, " ({detail})");
                }
                text.push('\n');
                if let Some(diff) = &d.diff {
                    for line in diff.lines() {
                        let _ = writeln!(text, "      {line}");
                    }
                }
            }
        }
        if let Some(p) = &t.pending {
            let _ = writeln!(
                text,
                "\n{} ({}): a sync would change it ({} added, {} changed, {} removed):",
                t.tier,
                t.branch,
                p.added.len(),
                p.changed.len(),
                p.removed.len()
            );
            for reason in &p.reasons {
                let _ = writeln!(text, "  {reason}");
            }
        }
    }
    text
}
