//! The commands that change one resource: `hold`, `release`, `approve`, `rollback`, `unpin`,
//! `maintenance`. Offline, the resource is changed in its file and the tier is rendered again
//! where that moves something (as the controller would on the change); the equivalent kubectl
//! command is printed for a cluster.

use std::fmt::Write as _;

use serde_json::{Value, json};
use shopset_engine::ops::promote::{
    APPROVED_ANNOTATION, APPROVED_CONFIG_ANNOTATION, HOLD_ANNOTATION,
};
use shopset_engine::{Author, SyncOptions};

use super::{Context, Done};
use crate::cli::{EditArgs, Format};

/// One change to one resource.
pub struct Change {
    /// `Tier` or `ShopSet`.
    pub kind: &'static str,
    /// Its name.
    pub name: String,
    /// What it does, for people.
    pub what: String,
    /// The same in a cluster.
    pub kubectl: String,
    /// The change.
    pub apply: Box<dyn FnOnce(&mut Value)>,
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
        apply: Box::new(move |doc| {
            let annotations = &mut doc["metadata"]["annotations"];
            if !annotations.is_object() {
                *annotations = json!({});
            }
            if let Some(map) = annotations.as_object_mut() {
                match value {
                    Some(v) => {
                        map.insert(key.to_owned(), json!(v));
                    }
                    None => {
                        map.remove(key);
                    }
                }
            }
            if annotations
                .as_object()
                .is_some_and(serde_json::Map::is_empty)
                && let Some(meta) = doc["metadata"].as_object_mut()
            {
                meta.remove("annotations");
            }
        }),
        sync_tier: None,
    }
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

/// `rollback`: pin and hold.
pub fn rollback(tier: &str, commit: &str, reason: &str) -> Change {
    let patch = json!({
        "metadata": { "annotations": { HOLD_ANNOTATION: reason } },
        "spec": { "pin": { "appCommit": commit, "reason": reason } },
    });
    let (c, r) = (commit.to_owned(), reason.to_owned());
    Change {
        kind: "Tier",
        name: tier.to_owned(),
        what: format!("{tier} pinned to {commit} and held ({reason})"),
        kubectl: format!(
            "kubectl patch tier {tier} --type merge -p {}",
            quote(&patch.to_string())
        ),
        apply: Box::new(move |doc| {
            doc["spec"]["pin"] = json!({ "appCommit": c, "reason": r });
            if !doc["metadata"]["annotations"].is_object() {
                doc["metadata"]["annotations"] = json!({});
            }
            doc["metadata"]["annotations"][HOLD_ANNOTATION] = json!(r);
        }),
        sync_tier: Some(tier.to_owned()),
    }
}

/// `unpin`.
pub fn unpin(tier: &str) -> Change {
    Change {
        kind: "Tier",
        name: tier.to_owned(),
        what: format!("{tier} follows its app branch again"),
        kubectl: format!(
            "kubectl patch tier {tier} --type json -p '[{{\"op\":\"remove\",\"path\":\"/spec/pin\"}}]'"
        ),
        apply: Box::new(|doc| {
            if let Some(spec) = doc["spec"].as_object_mut() {
                spec.remove("pin");
            }
        }),
        sync_tier: Some(tier.to_owned()),
    }
}

/// `maintenance on|off`.
pub fn maintenance(shopset: &str, on: bool, tier: Option<String>) -> Change {
    Change {
        kind: "ShopSet",
        name: shopset.to_owned(),
        what: format!("{shopset}: maintenance {}", if on { "on" } else { "off" }),
        kubectl: format!(
            "kubectl patch shopset {shopset} --type merge -p '{{\"spec\":{{\"maintenance\":{on}}}}}'"
        ),
        apply: Box::new(move |doc| doc["spec"]["maintenance"] = json!(on)),
        sync_tier: tier,
    }
}

/// Makes the change in its file (or only prints it), then renders the tier it moves.
pub fn run(
    ctx: &Context,
    format: Format,
    edit: &EditArgs,
    change: Change,
    author: &Author,
) -> anyhow::Result<Done> {
    let mut text = String::new();
    let _ = writeln!(text, "{}/{}: {}", change.kind, change.name, change.what);
    let _ = writeln!(text, "in a cluster: {}", change.kubectl);
    if edit.dry_run {
        crate::output::print(
            format,
            &text,
            &json!({ "planned": change.what, "kubectl": change.kubectl }),
        );
        return Ok(Done::Ok);
    }
    let file =
        shopset_engine::files::edit_resource(&edit.files, change.kind, &change.name, change.apply)
            .map_err(|e| anyhow::anyhow!(e))?;
    let _ = writeln!(text, "changed {}", file.display());
    let mut ok = true;
    let mut system = Value::Null;
    if let Some(tier) = &change.sync_tier {
        let resources = crate::load::resources(&edit.files);
        let options = SyncOptions {
            tiers: Some([tier.clone()].into()),
            ..SyncOptions::default()
        };
        let outcome = super::sync::sync(ctx, &resources, &options, author);
        super::report_problems(&outcome.problems);
        text.push_str(&outcome.text);
        ok = outcome.ok;
        system = outcome.json;
    }
    crate::output::print(
        format,
        &text,
        &json!({ "changed": file, "what": change.what, "kubectl": change.kubectl, "system": system }),
    );
    Ok(Done::from(ok))
}
