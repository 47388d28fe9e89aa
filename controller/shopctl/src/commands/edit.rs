//! The commands that change one resource: `hold`, `release`, `approve`, `rollback`, `unpin`,
//! `maintenance`. Each change is one JSON merge patch: sent to the API server in a cluster,
//! or applied to the resource in its file offline. Then the tier is rendered again where the
//! change moves something, as the controller would on the change.

use std::fmt::Write as _;

use serde_json::{Value, json};
use shopset_engine::ops::promote::{
    APPROVED_ANNOTATION, APPROVED_CONFIG_ANNOTATION, HOLD_ANNOTATION,
};
use shopset_engine::{Author, SyncOptions};

use super::{Context, Done};
use crate::cli::Format;
use crate::load::Source;

/// One change to one resource.
pub struct Change {
    /// `Tier` or `ShopSet`.
    pub kind: &'static str,
    /// Its name.
    pub name: String,
    /// What it does, for people.
    pub what: String,
    /// The same with kubectl.
    pub kubectl: String,
    /// The change, as a JSON merge patch (RFC 7386: `null` removes).
    pub patch: Value,
    /// The tier to render again afterwards, if any.
    pub sync_tier: Option<String>,
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn annotate(tier: &str, key: &'static str, value: Option<String>, what: String) -> Change {
    let kubectl = match &value {
        Some(v) => format!(
            "kubectl annotate tier {tier} {key}={} --overwrite",
            quote(v)
        ),
        None => format!("kubectl annotate tier {tier} {key}-"),
    };
    Change {
        kind: "Tier",
        name: tier.to_owned(),
        what,
        kubectl,
        patch: json!({ "metadata": { "annotations": { key: value } } }),
        sync_tier: None,
    }
}

fn patch_command(kind: &str, name: &str, patch: &Value) -> String {
    format!(
        "kubectl patch {} {name} --type merge -p {}",
        kind.to_lowercase(),
        quote(&patch.to_string())
    )
}

/// `hold`.
pub fn hold(tier: &str, reason: &str) -> Change {
    annotate(
        tier,
        HOLD_ANNOTATION,
        Some(reason.to_owned()),
        format!("held ({reason}): nothing promotes into {tier}"),
    )
}

/// `release`.
pub fn release(tier: &str) -> Change {
    annotate(tier, HOLD_ANNOTATION, None, format!("{tier} released"))
}

/// `approve`.
///
/// # Errors
/// Not a full commit id.
pub fn approve(tier: &str, commit: &str, config: bool) -> anyhow::Result<Change> {
    for c in commit.split(',') {
        shopset_crds::names::commit_id(c.trim()).map_err(|e| anyhow::anyhow!("commit: {e}"))?;
    }
    let key = if config {
        APPROVED_CONFIG_ANNOTATION
    } else {
        APPROVED_ANNOTATION
    };
    Ok(annotate(
        tier,
        key,
        Some(commit.to_owned()),
        format!("{commit} approved for {tier}"),
    ))
}

/// A merge patch on a Tier that moves what it runs: the tier is rendered again.
fn repin(tier: &str, patch: Value, what: String) -> Change {
    Change {
        kind: "Tier",
        name: tier.to_owned(),
        what,
        kubectl: patch_command("Tier", tier, &patch),
        patch,
        sync_tier: Some(tier.to_owned()),
    }
}

/// `rollback`: pin and hold.
pub fn rollback(tier: &str, commit: &str, reason: &str) -> Change {
    let patch = json!({
        "metadata": { "annotations": { HOLD_ANNOTATION: reason } },
        "spec": { "pin": { "appCommit": commit, "reason": reason } },
    });
    repin(
        tier,
        patch,
        format!("{tier} pinned to {commit} and held ({reason})"),
    )
}

/// `unpin`.
pub fn unpin(tier: &str) -> Change {
    let patch = json!({ "spec": { "pin": null } });
    repin(tier, patch, format!("{tier} follows its app branch again"))
}

/// `maintenance on|off`.
pub fn maintenance(shopset: &str, on: bool, tier: Option<String>) -> Change {
    let patch = json!({ "spec": { "maintenance": on } });
    Change {
        kind: "ShopSet",
        name: shopset.to_owned(),
        what: format!("{shopset}: maintenance {}", if on { "on" } else { "off" }),
        kubectl: patch_command("ShopSet", shopset, &patch),
        patch,
        sync_tier: tier,
    }
}

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
    let changed = source.change(change.kind, &change.name, &change.patch)?;
    let _ = writeln!(text, "changed {changed}");
    let mut ok = true;
    let mut system = Value::Null;
    if let Some(tier) = &change.sync_tier {
        let resources = source.resources()?;
        let options = SyncOptions {
            tiers: Some([tier.clone()].into()),
            ..SyncOptions::default()
        };
        tracing::info!(target: shopset_engine::PROGRESS, "rendering tier {tier}");
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
