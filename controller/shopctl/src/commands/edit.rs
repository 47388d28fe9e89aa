//! The commands that change one resource: `hold`, `release`, `approve`, `rollback`, `unpin`,
//! `maintenance`, `cordon`, `uncordon`. The engine decides each change ([`shopset_engine::ops::edit`]: one JSON
//! merge patch and its kubectl equivalent); this sends it to the API server in a cluster, or
//! applies it to the resource in its file offline, then renders the tier again where the
//! change moves something, as the controller would on the change.

use std::fmt::Write as _;

use serde_json::{Value, json};
use shopset_engine::ops::edit::Change;
use shopset_engine::{Author, SyncOptions};

use super::{Context, Done};
use crate::cli::Format;
use crate::load::Source;

/// Makes the change (or only prints it), then renders the tier it moves.
pub fn run(
    ctx: &Context,
    format: Format,
    source: &Source,
    dry_run: bool,
    change: Change,
    author: &Author,
) -> anyhow::Result<Done> {
    let mut text = String::new();
    let _ = writeln!(text, "{}/{}: {}", change.kind, change.name, change.what);
    let kubectl = source.kubectl(&change.kubectl);
    let _ = writeln!(text, "with kubectl: {kubectl}");
    if dry_run {
        crate::output::print(
            format,
            &text,
            &json!({ "planned": change.what, "kubectl": kubectl, "patch": change.patch }),
        );
        return Ok(Done::Ok);
    }
    let changed = match &change.lifecycle {
        Some(what) => source.lifecycle(change.kind, &change.name, what)?,
        None => source.change(change.kind, &change.name, &change.patch)?,
    };
    let _ = writeln!(text, "changed {changed}");
    let mut ok = true;
    let mut system = Value::Null;
    if !change.sync_tiers.is_empty() {
        let resources = source.resources()?;
        let options = SyncOptions {
            tiers: Some(change.sync_tiers.iter().cloned().collect()),
            ..SyncOptions::default()
        };
        let tiers = change.sync_tiers.join(", ");
        tracing::info!(target: shopset_engine::PROGRESS, "rendering tier {tiers}");
        let outcome = super::sync::sync(ctx, &resources, &options, author);
        super::report_problems(&outcome.problems);
        text.push_str(&outcome.text);
        ok = outcome.ok;
        system = outcome.json;
    }
    crate::output::print(
        format,
        &text,
        &json!({ "changed": changed, "what": change.what, "kubectl": kubectl, "system": system }),
    );
    Ok(Done::from(ok))
}
