//! The changes a person makes to one resource: hold, release, approve, rollback, unpin,
//! maintenance. Each is one JSON merge patch (RFC 7386) and the kubectl command that makes
//! it, decided here so that `shopctl` (on a file or through the API server) and a person with
//! kubectl make byte-for-byte the same change. Applying it is the caller's: it only gathers
//! and writes.

use serde_json::{Value, json};

use crate::ops::promote::{APPROVED_ANNOTATION, APPROVED_CONFIG_ANNOTATION, HOLD_ANNOTATION};
use crate::resources::Resources;

/// A change that cannot be made as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// A commit given is not a full commit id.
    #[error("{field}: {message}")]
    Commit {
        /// The argument.
        field: &'static str,
        /// What was expected.
        message: String,
    },
    /// The resource to create or delete is not valid, exists already, or does not exist.
    #[error("{kind} {name:?}: {field}: {message}")]
    Resource {
        /// Its kind.
        kind: &'static str,
        /// Its name.
        name: String,
        /// The field at fault.
        field: String,
        /// What was expected.
        message: String,
    },
}

/// Whether a change creates or deletes its resource instead of patching it.
#[derive(Debug, Clone, PartialEq)]
pub enum Lifecycle {
    /// Create this document (as `kubectl create` does).
    Create(Value),
    /// Delete the resource (as `kubectl delete` does).
    Delete,
}

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
    /// The tiers to render again afterwards (none, one, or those a shop moves between).
    pub sync_tiers: Vec<String>,
    /// Set: the resource is created or deleted, and `patch` is `null`.
    pub lifecycle: Option<Lifecycle>,
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
        sync_tiers: Vec::new(),
        lifecycle: None,
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
#[must_use]
pub fn hold(tier: &str, reason: &str) -> Change {
    annotate(
        tier,
        HOLD_ANNOTATION,
        Some(reason.to_owned()),
        format!("held ({reason}): nothing promotes into {tier}"),
    )
}

/// `release`.
#[must_use]
pub fn release(tier: &str) -> Change {
    annotate(tier, HOLD_ANNOTATION, None, format!("{tier} released"))
}

/// `approve`.
///
/// # Errors
/// Not a full commit id.
pub fn approve(tier: &str, commit: &str, config: bool) -> Result<Change, EditError> {
    for c in commit.split(',') {
        shopset_crds::names::commit_id(c.trim()).map_err(|e| EditError::Commit {
            field: "commit",
            message: e,
        })?;
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
        sync_tiers: vec![tier.to_owned()],
        lifecycle: None,
    }
}

/// `rollback`: pin and hold.
///
/// # Errors
/// Not a full commit id.
pub fn rollback(tier: &str, commit: &str, reason: &str) -> Result<Change, EditError> {
    shopset_crds::names::commit_id(commit).map_err(|e| EditError::Commit {
        field: "--to",
        message: e,
    })?;
    let patch = json!({
        "metadata": { "annotations": { HOLD_ANNOTATION: reason } },
        "spec": { "pin": { "appCommit": commit, "reason": reason } },
    });
    Ok(repin(
        tier,
        patch,
        format!("{tier} pinned to {commit} and held ({reason})"),
    ))
}

/// `unpin`.
#[must_use]
pub fn unpin(tier: &str) -> Change {
    let patch = json!({ "spec": { "pin": null } });
    repin(tier, patch, format!("{tier} follows its app branch again"))
}

/// `maintenance on|off`; the ShopSet's tier (as the resources say) is rendered again.
#[must_use]
pub fn maintenance(resources: &Resources, shopset: &str, on: bool) -> Change {
    let tier = resources
        .shop_sets
        .get(shopset)
        .map(|s| s.spec.tier.clone());
    let patch = json!({ "spec": { "maintenance": on } });
    Change {
        kind: "ShopSet",
        name: shopset.to_owned(),
        what: format!("{shopset}: maintenance {}", if on { "on" } else { "off" }),
        kubectl: patch_command("ShopSet", shopset, &patch),
        patch,
        sync_tiers: tier.into_iter().collect(),
        lifecycle: None,
    }
}

/// `cordon` / `uncordon`: automatic placement stops (or starts again) choosing a failure
/// domain (`spec.cordoned`); nothing placed there moves, and no branch changes (a cordon is
/// not recorded), so there is nothing to render.
#[must_use]
pub fn cordon(domain: &str, on: bool) -> Change {
    let patch = json!({ "spec": { "cordoned": on } });
    Change {
        kind: "FailureDomain",
        name: domain.to_owned(),
        what: format!(
            "{domain}: {}",
            if on {
                "cordoned (no new ShopSet is placed here)"
            } else {
                "uncordoned"
            }
        ),
        kubectl: patch_command("FailureDomain", domain, &patch),
        patch,
        sync_tiers: Vec::new(),
        lifecycle: None,
    }
}

/// `migrate approve`: approves the steps of a Migration up to `step` (1 is the first), with
/// the annotation the migration step reads (`shopset.dev/approved-step`). Nothing is
/// rendered: the next sync starts the step.
#[must_use]
pub fn approve_migration_step(migration: &str, step: u32) -> Change {
    let key = shopset_crds::migration::APPROVED_STEP_ANNOTATION;
    Change {
        kind: "Migration",
        name: migration.to_owned(),
        what: format!("{migration}: steps up to {step} approved"),
        kubectl: format!("kubectl annotate migration {migration} {key}={step} --overwrite"),
        patch: json!({ "metadata": { "annotations": { key: step.to_string() } } }),
        sync_tiers: Vec::new(),
        lifecycle: None,
    }
}

/// `migrate abort`: the ShopSets of a Migration in flight walk back their phases, one a
/// sync (`spec.abort`); those already moved stay.
#[must_use]
pub fn abort_migration(migration: &str) -> Change {
    let patch = json!({ "spec": { "abort": true } });
    Change {
        kind: "Migration",
        name: migration.to_owned(),
        what: format!("{migration}: aborted (the ShopSets in flight walk back)"),
        kubectl: patch_command("Migration", migration, &patch),
        patch,
        sync_tiers: Vec::new(),
        lifecycle: None,
    }
}

/// `shop move`: pins a shop to a ShopSet (`spec.shopSet`). The sync then moves it in three
/// steps (ops::shops), and refuses with the reason a move it may not make; the tiers of both
/// ShopSets are rendered, since both list the shop's hosts during the move.
#[must_use]
pub fn move_shop(resources: &Resources, shop: &str, to: &str, recorded_on: Option<&str>) -> Change {
    let tier_of = |s: &str| resources.shop_sets.get(s).map(|s| s.spec.tier.clone());
    let mut tiers: Vec<String> = [tier_of(to), recorded_on.and_then(tier_of)]
        .into_iter()
        .flatten()
        .collect();
    tiers.sort();
    tiers.dedup();
    shop_patch(
        shop,
        json!({ "spec": { "shopSet": to } }),
        format!("{shop}: moves to ShopSet {to} (warm, switch, settle)"),
        tiers,
    )
}

fn shop_patch(shop: &str, patch: Value, what: String, sync_tiers: Vec<String>) -> Change {
    Change {
        kind: "Shop",
        name: shop.to_owned(),
        what,
        kubectl: patch_command("Shop", shop, &patch),
        patch,
        sync_tiers,
        lifecycle: None,
    }
}

/// `shop isolate`: asks for a ShopSet of the shop's own (`spec.isolate`). The sync renders it
/// in the tier of the shop's ShopSet (ops::shops::isolated) and moves the shop into it by the
/// steps of a move.
#[must_use]
pub fn isolate_shop(resources: &Resources, shop: &str, recorded_on: Option<&str>) -> Change {
    let tier = recorded_on
        .and_then(|s| resources.shop_sets.get(s))
        .map(|s| s.spec.tier.clone());
    shop_patch(
        shop,
        json!({ "spec": { "isolate": true } }),
        format!("{shop}: gets a ShopSet of its own, {shop}, and moves into it"),
        tier.into_iter().collect(),
    )
}

/// What `shop add` asks for.
pub struct NewShop<'a> {
    /// Its name.
    pub name: &'a str,
    /// Its hosts, the primary one first.
    pub hosts: &'a [String],
    /// Its pool (`None`: the default one).
    pub pool: Option<&'a str>,
    /// Its load (`None`: 1).
    pub weight: Option<u32>,
    /// A pin to a ShopSet.
    pub shop_set: Option<&'a str>,
}

/// `shop add`: creates a Shop; the sync then assigns it by the rule (or its pin). Every tier
/// is rendered, as the controller does on a new Shop: which tier gets it is the sync's to
/// decide.
///
/// # Errors
/// A Shop of that name exists, or the new one is not valid (its name, hosts, pool or weight).
pub fn add_shop(resources: &Resources, new: &NewShop<'_>) -> Result<Change, EditError> {
    let invalid = |field: &str, message: String| EditError::Resource {
        kind: "Shop",
        name: new.name.to_owned(),
        field: field.to_owned(),
        message,
    };
    if resources.shops.contains_key(new.name) {
        return Err(invalid(
            "metadata.name",
            "a Shop of that name exists already (use shop move to move it)".into(),
        ));
    }
    let mut spec = serde_json::Map::new();
    spec.insert("hosts".into(), json!(new.hosts));
    if let Some(pool) = new.pool {
        spec.insert("pool".into(), json!(pool));
    }
    if let Some(weight) = new.weight {
        spec.insert("weight".into(), json!(weight));
    }
    if let Some(pin) = new.shop_set {
        spec.insert("shopSet".into(), json!(pin));
    }
    let doc = json!({
        "apiVersion": shopset_crds::API_VERSION,
        "kind": "Shop",
        "metadata": { "name": new.name },
        "spec": spec,
    });
    // Read as the sync will read it: what it refuses is refused here, before anything changes.
    let mut alone = Resources::default();
    alone.add_object("(new)", &doc);
    if let Some(e) = alone.errors.first() {
        return Err(invalid(&e.field, e.message.clone()));
    }
    let text = shopset_render::yaml::to_string(&doc);
    Ok(Change {
        kind: "Shop",
        name: new.name.to_owned(),
        what: format!(
            "{}: a new shop ({}), assigned by the sync",
            new.name,
            new.hosts.join(", ")
        ),
        kubectl: format!("kubectl create -f - <<'EOF'\n{text}EOF"),
        patch: Value::Null,
        sync_tiers: resources.tiers.keys().cloned().collect(),
        lifecycle: Some(Lifecycle::Create(doc)),
    })
}

/// `shop remove`: deletes a Shop; the sync then removes its rows from the routing table (the
/// mass-move stop counts it as a shop leaving its ShopSet). Every tier is rendered.
///
/// # Errors
/// No Shop of that name.
pub fn remove_shop(resources: &Resources, name: &str) -> Result<Change, EditError> {
    if !resources.shops.contains_key(name) {
        return Err(EditError::Resource {
            kind: "Shop",
            name: name.to_owned(),
            field: "metadata.name".into(),
            message: "no Shop of that name".into(),
        });
    }
    Ok(Change {
        kind: "Shop",
        name: name.to_owned(),
        what: format!("{name}: deleted; its rows leave the routing table"),
        kubectl: format!("kubectl delete shop {name}"),
        patch: Value::Null,
        sync_tiers: resources.tiers.keys().cloned().collect(),
        lifecycle: Some(Lifecycle::Delete),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_are_set_and_removed_with_their_kubectl_equivalent() {
        let held = hold("tier-1", "it's broken");
        assert_eq!(
            held.patch,
            json!({ "metadata": { "annotations": { HOLD_ANNOTATION: "it's broken" } } })
        );
        assert_eq!(
            held.kubectl,
            "kubectl annotate tier tier-1 shopset.dev/hold='it'\\''s broken' --overwrite"
        );
        let released = release("tier-1");
        assert_eq!(
            released.patch,
            json!({ "metadata": { "annotations": { HOLD_ANNOTATION: null } } })
        );
        assert_eq!(
            released.kubectl,
            "kubectl annotate tier tier-1 shopset.dev/hold-"
        );
        assert!(held.sync_tiers.is_empty());
    }

    #[test]
    fn pins_render_the_tier_again() {
        let commit = "0123456789abcdef0123456789abcdef01234567";
        let back = rollback("tier-2", commit, "bad").unwrap();
        assert_eq!(back.sync_tiers, ["tier-2"]);
        assert_eq!(back.patch["spec"]["pin"]["appCommit"], commit);
        assert!(
            back.kubectl
                .starts_with("kubectl patch tier tier-2 --type merge -p '{")
        );
        assert_eq!(unpin("tier-2").patch, json!({ "spec": { "pin": null } }));
        assert!(rollback("tier-2", "abc", "bad").is_err());
        assert!(approve("tier-2", &format!("{commit},abc"), true).is_err());
        assert!(approve("tier-2", &format!("{commit}, {commit}"), true).is_ok());
    }

    #[test]
    fn maintenance_renders_the_shop_sets_tier() {
        let mut resources = Resources::default();
        resources.add_text(
            "s.yaml",
            "apiVersion: shopset.dev/v1alpha1\nkind: ShopSet\nmetadata:\n  name: a\nspec:\n  tier: tier-0\n  configuration: c\n",
        );
        let on = maintenance(&resources, "a", true);
        assert_eq!(on.sync_tiers, ["tier-0"]);
        assert_eq!(on.patch, json!({ "spec": { "maintenance": true } }));
        assert!(
            maintenance(&resources, "missing", false)
                .sync_tiers
                .is_empty()
        );
    }
}
