//! `shopctl migrate`: a Migration's status and its next commit, as the controller computes
//! them (the engine's migration step, inside its sync).

use std::fmt::Write as _;

use serde_json::json;
use shopset_crds::MigrationStatus;
use shopset_engine::{Author, SyncOptions};

use super::Context;
use crate::cli::Format;
use crate::load::Source;

/// The status in text: the counts, what it waits for, each ShopSet in flight, and the
/// `argocd app wait` a person runs before the next step.
fn describe(name: &str, status: &MigrationStatus) -> String {
    let mut text = format!(
        "Migration {name}: {} (step {}), {} of {} ShopSets moved, {} in flight\n",
        status.phase.as_deref().unwrap_or("-"),
        status.step.as_deref().unwrap_or("-"),
        status.moved,
        status.selected,
        status.in_flight
    );
    if let Some(why) = &status.waiting {
        let _ = writeln!(text, "  waiting: {why}");
    }
    for s in &status.shop_sets {
        let phase = s.phase.map_or_else(|| "-".to_owned(), |p| format!("{p:?}"));
        let _ = writeln!(
            text,
            "  {:<24} {:<10} {:<9} {}",
            s.name,
            s.tier,
            phase,
            s.message.as_deref().unwrap_or("")
        );
    }
    let apps: Vec<&str> = status
        .shop_sets
        .iter()
        .flat_map(|s| s.applications.iter().map(String::as_str))
        .collect();
    if !apps.is_empty() {
        let _ = writeln!(
            text,
            "before the next step, once the branches are pushed:\n  argocd app wait {} --sync --health --timeout 600",
            apps.join(" ")
        );
    }
    text
}

fn of<'a>(
    statuses: &'a std::collections::BTreeMap<String, MigrationStatus>,
    name: &str,
) -> anyhow::Result<&'a MigrationStatus> {
    statuses.get(name).ok_or_else(|| {
        anyhow::anyhow!(
            "Migration {name:?} does not exist (or is invalid: see the errors above); expected one of {:?}",
            statuses.keys().collect::<Vec<_>>()
        )
    })
}

pub fn status(ctx: &Context, format: Format, source: &Source, name: &str) -> anyhow::Result<bool> {
    let resources = source.resources()?;
    let mut repos = ctx.repos(&resources);
    let statuses = shopset_engine::ops::migrate::statuses(&resources, &mut repos);
    let status = of(&statuses, name)?;
    crate::output::print(format, &describe(name, status), &json!(status));
    Ok(status.phase.as_deref() != Some("Stopped"))
}

pub fn step(
    ctx: &Context,
    format: Format,
    source: &Source,
    name: &str,
    options: &SyncOptions,
    author: &Author,
) -> anyhow::Result<bool> {
    let resources = source.resources()?;
    if !resources.migrations.contains_key(name) {
        let _ = of(&std::collections::BTreeMap::new(), name)?;
    }
    let outcome = super::sync::sync(ctx, &resources, options, author);
    super::report_problems(&outcome.problems);
    let status = outcome.migrations.get(name).cloned().unwrap_or_default();
    let text = format!("{}{}", outcome.text, describe(name, &status));
    crate::output::print(
        format,
        &text,
        &json!({ "sync": outcome.json, "migration": status }),
    );
    Ok(outcome.ok)
}
