//! `shopctl sync`.

use std::fmt::Write as _;

use serde_json::json;
use shopset_engine::{Author, Problem, SyncOptions, TierOutcome};

use super::Context;
use crate::cli::Format;
use crate::load::Source;

pub fn run(
    ctx: &Context,
    format: Format,
    source: &Source,
    options: &SyncOptions,
    author: &Author,
) -> anyhow::Result<bool> {
    let resources = source.resources()?;
    for ignored in &resources.ignored {
        eprintln!("warning: {ignored}");
    }
    let outcome = sync(ctx, &resources, options, author);
    super::report_problems(&outcome.problems);
    crate::output::print(format, &outcome.text, &outcome.json);
    Ok(outcome.ok)
}

/// The result of a sync, printable.
pub struct Outcome {
    pub ok: bool,
    /// The Migrations' statuses after it.
    pub migrations: std::collections::BTreeMap<String, shopset_crds::MigrationStatus>,
    pub problems: Vec<Problem>,
    pub text: String,
    pub json: serde_json::Value,
}

pub fn sync(
    ctx: &Context,
    resources: &shopset_engine::Resources,
    options: &SyncOptions,
    author: &Author,
) -> Outcome {
    let mut repos = ctx.repos(resources);
    let result = shopset_engine::sync(resources, &mut repos, author, options);
    let ok = result.ok();
    let mut problems = result.problems.clone();
    let mut text = String::new();
    let mut tiers = Vec::new();
    for shopset_engine::TierResult {
        plan: tier,
        outcome,
    } in &result.tiers
    {
        let s = &tier.summary;
        let counts = format!(
            "{} added, {} changed, {} removed",
            s.added.len(),
            s.changed.len(),
            s.removed.len()
        );
        let (state, commit) = match outcome {
            TierOutcome::Unchanged { commit } => ("unchanged", commit.clone()),
            TierOutcome::Committed { commit, .. } => ("committed", Some(commit.clone())),
            TierOutcome::Planned => ("planned", None),
            TierOutcome::Blocked { reason } => {
                problems.push(Problem::about(
                    "Tier",
                    &tier.tier,
                    format!("branch {}: {reason}", tier.branch),
                ));
                ("blocked", None)
            }
            TierOutcome::Failed { error } => {
                problems.push(Problem::about(
                    "Tier",
                    &tier.tier,
                    format!("branch {}: {error}", tier.branch),
                ));
                ("failed", None)
            }
        };
        let _ = writeln!(
            text,
            "{:<10} {:<10} {:<12} {} ({counts})",
            tier.tier,
            tier.branch,
            state,
            commit.as_deref().map_or("-", |c| &c[..12.min(c.len())]),
        );
        if matches!(outcome, TierOutcome::Planned) {
            let _ = writeln!(
                text,
                "  would commit to {} branch {}:",
                shopset_git::redact_url(&tier.system_url),
                tier.branch
            );
            for line in shopset_engine::commit_message(tier, author).lines() {
                let _ = writeln!(text, "    {line}");
            }
        }
        tiers.push(json!({
            "tier": tier.tier, "branch": tier.branch, "repository": shopset_git::redact_url(&tier.system_url),
            "state": state, "commit": commit,
            "added": s.added, "changed": s.changed, "removed": s.removed, "kept": s.kept,
            "baseFrom": s.base_from, "baseTo": s.base_to,
        }));
    }
    let json = json!({ "tiers": tiers, "problems": problems, "attempts": result.attempts, "retries": result.retries });
    Outcome {
        ok,
        migrations: result.migrations.clone(),
        problems,
        text,
        json,
    }
}
