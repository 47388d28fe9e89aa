//! What the controller knows of the resources at one moment, from either backend: the
//! resources themselves (as the engine reads them), their generations, annotations and stored
//! statuses, and Argo CD's view of each generated Application. No client, no git.

use std::collections::BTreeMap;

use serde::Deserialize as _;
use serde_json::Value;
use shopset_crds::{ShopSetStatus, TierStatus};
use shopset_engine::Resources;
use shopset_engine::ops::status::{self, AppObservation};

/// A snapshot of the inputs of one batch.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// The resources, with their errors.
    pub resources: Resources,
    /// ShopSets' `metadata.generation`.
    pub generations: BTreeMap<String, i64>,
    /// Tiers' `metadata.generation`.
    pub tier_generations: BTreeMap<String, i64>,
    /// Argo CD's Applications, by ShopSet.
    pub applications: BTreeMap<String, AppObservation>,
    /// The ShopSet statuses stored now.
    pub shop_set_statuses: BTreeMap<String, ShopSetStatus>,
    /// The Tier statuses stored now.
    pub tier_statuses: BTreeMap<String, TierStatus>,
    /// The Shop statuses stored now.
    pub shop_statuses: BTreeMap<String, shopset_crds::ShopStatus>,
    /// The Migrations' `metadata.generation`.
    pub migration_generations: BTreeMap<String, i64>,
    /// The Migration statuses stored now.
    pub migration_statuses: BTreeMap<String, shopset_crds::MigrationStatus>,
    /// The NotificationPolicies' records (what was sent) stored now.
    pub notification_statuses: BTreeMap<String, shopset_crds::NotificationPolicyStatus>,
    /// What changed since the backend's previous snapshot, when it reads that way.
    pub since_last: SinceLast,
}

/// What a backend knows of the change between two of its snapshots.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub enum SinceLast {
    /// Its watches name the changes to the queue (API mode).
    #[default]
    Watched,
    /// It cannot say: anything may have changed.
    Unknown,
    /// Exactly these ShopSets and Shops changed, and nothing else but Argo CD's view.
    Changed(shopset_engine::ops::warm::Changed),
}

/// The value at `pointer` (object keys only, none escaped): `Value::pointer` would make a new
/// string of every segment, for every object of every snapshot.
fn at<'a>(doc: &'a Value, pointer: &str) -> Option<&'a Value> {
    pointer
        .split('/')
        .skip(1)
        .try_fold(doc, |v, key| v.get(key))
}

fn text<'a>(doc: &'a Value, pointer: &str) -> Option<&'a str> {
    at(doc, pointer).and_then(Value::as_str)
}

/// What a backend keeps from one snapshot to the next: the ShopSets' specs and statuses as
/// read, while their values are the same (at 10,000 ShopSets, reading them all again was most
/// of a one-ShopSet batch).
#[derive(Debug, Default)]
pub struct SnapshotMemo {
    specs: shopset_engine::resources::SpecMemo,
    statuses: shopset_engine::memo::Memo<Option<ShopSetStatus>>,
}

impl Snapshot {
    /// Builds a snapshot from objects, each with where it came from (a file, or
    /// `namespace/Kind/name` for the API server).
    pub fn from_objects<'a>(objects: impl IntoIterator<Item = (String, &'a Value)>) -> Self {
        Self::from_objects_memo(
            objects.into_iter().map(|(source, doc)| (source, doc, None)),
            &mut SnapshotMemo::default(),
        )
    }

    /// [`Snapshot::from_objects`], reading again only the ShopSets whose specs or statuses
    /// changed since the last snapshot made with `memo`: each object may come with its version
    /// (`resourceVersion`), else its values are compared.
    pub fn from_objects_memo<'a>(
        objects: impl IntoIterator<Item = (String, &'a Value, Option<&'a str>)>,
        memo: &mut SnapshotMemo,
    ) -> Self {
        let mut out = Self::default();
        for (source, doc, version) in objects {
            let kind = text(doc, "/kind").unwrap_or_default();
            let api_version = text(doc, "/apiVersion").unwrap_or_default();
            let name = text(doc, "/metadata/name").unwrap_or_default().to_owned();
            if let Some((shop_set, observation)) = status::application(doc) {
                let namespace = text(doc, "/metadata/namespace").unwrap_or("argocd");
                out.resources
                    .argo_applications
                    .insert(format!("{namespace}/{name}"));
                out.resources
                    .applications
                    .insert(shop_set.clone(), observation.clone());
                out.applications.insert(shop_set, observation);
                continue;
            }
            out.resources
                .add_object_memo(&source, doc, version, &mut memo.specs);
            if api_version != shopset_crds::API_VERSION {
                continue;
            }
            let generation = at(doc, "/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            let status = || doc.get("status").cloned();
            match kind {
                "ShopSet" => {
                    out.generations.insert(name.clone(), generation);
                    let stored = doc.get("status").and_then(|s| {
                        memo.statuses
                            .get(&name, s, version, |s| ShopSetStatus::deserialize(s).ok())
                    });
                    if let Some(s) = stored {
                        out.shop_set_statuses.insert(name, s);
                    }
                }
                "Shop" => {
                    if let Some(s) = status().and_then(|s| serde_json::from_value(s).ok()) {
                        out.shop_statuses.insert(name, s);
                    }
                }
                "Migration" => {
                    out.migration_generations.insert(name.clone(), generation);
                    if let Some(s) = status().and_then(|s| serde_json::from_value(s).ok()) {
                        out.migration_statuses.insert(name, s);
                    }
                }
                "NotificationPolicy" => {
                    if let Some(s) = status().and_then(|s| serde_json::from_value(s).ok()) {
                        out.notification_statuses.insert(name, s);
                    }
                }
                "Tier" => {
                    out.tier_generations.insert(name.clone(), generation);
                    if let Some(s) = status().and_then(|s| serde_json::from_value(s).ok()) {
                        out.tier_statuses.insert(name, s);
                    }
                }
                _ => {}
            }
        }
        memo.specs.round();
        memo.statuses.round();
        out
    }

    /// The names of every Tier in the snapshot.
    #[must_use]
    pub fn tiers(&self) -> Vec<String> {
        self.resources.tiers.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn shop_set(name: &str, tier: &str, health: &str) -> Value {
        json!({
            "apiVersion": shopset_crds::API_VERSION, "kind": "ShopSet",
            "metadata": {"name": name, "namespace": "ns", "generation": 2},
            "spec": {"tier": tier, "configuration": "standard"},
            "status": {"observedGeneration": 2, "health": health},
        })
    }

    fn read(objects: &[(Value, &str)], memo: Option<&mut SnapshotMemo>) -> Snapshot {
        let items = objects.iter().map(|(doc, version)| {
            let name = doc["metadata"]["name"].as_str().unwrap();
            let version = (!version.is_empty()).then_some(*version);
            (format!("ns/ShopSet/{name}"), doc, version)
        });
        match memo {
            Some(memo) => Snapshot::from_objects_memo(items, memo),
            None => Snapshot::from_objects_memo(items, &mut SnapshotMemo::default()),
        }
    }

    /// Read through a memo, a snapshot is the one read afresh: when objects change (with a new
    /// version, or a new value where there are no versions), are bad, or are deleted.
    #[test]
    fn a_snapshot_read_through_the_memo_is_the_one_read_afresh() {
        for versioned in [true, false] {
            let v = |n: &'static str| if versioned { n } else { "" };
            let mut memo = SnapshotMemo::default();
            let rounds = [
                vec![
                    (shop_set("a", "tier-0", "Healthy"), v("1")),
                    (shop_set("b", "tier-1", "Healthy"), v("2")),
                    (shop_set("c", "tier-1", "Pending"), v("3")),
                ],
                // b moved, c's status changed, a unchanged.
                vec![
                    (shop_set("a", "tier-0", "Healthy"), v("1")),
                    (shop_set("b", "tier-2", "Healthy"), v("4")),
                    (shop_set("c", "tier-1", "Healthy"), v("5")),
                ],
                // b's tier is no name; c deleted.
                vec![
                    (shop_set("a", "tier-0", "Healthy"), v("1")),
                    (shop_set("b", "Tier 2!", "Healthy"), v("6")),
                ],
                // c back as it was.
                vec![
                    (shop_set("a", "tier-0", "Healthy"), v("1")),
                    (shop_set("b", "tier-2", "Healthy"), v("7")),
                    (shop_set("c", "tier-1", "Pending"), v("8")),
                ],
            ];
            for (i, objects) in rounds.iter().enumerate() {
                let kept = read(objects, Some(&mut memo));
                let fresh = read(objects, None);
                let what = format!("round {i}, versioned {versioned}");
                assert_eq!(kept.resources, fresh.resources, "{what}");
                assert_eq!(kept.shop_set_statuses, fresh.shop_set_statuses, "{what}");
                assert_eq!(kept.generations, fresh.generations, "{what}");
            }
            let last = read(&rounds[3], Some(&mut memo));
            assert_eq!(last.resources.shop_sets["b"].spec.tier, "tier-2");
            assert_eq!(
                last.shop_set_statuses["c"].health.as_deref(),
                Some("Pending")
            );
        }
    }
}
