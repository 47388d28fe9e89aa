//! The complete inputs of one tier branch, as recorded in `.shopset/inputs.yaml`.
//!
//! Everything `render_tier` reads is here, already resolved (configuration documents read at the
//! tier's branch, failure domains, placements, the app commit), so anyone can re-render the branch
//! from this file alone.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use shopset_crds::{ConfigLayer, FailureDomainSpec, ShopSetSpec, SidePhase, Singletons, TierSpec};

/// `kind` of the inputs document.
pub const INPUTS_KIND: &str = "RenderInputs";

/// The inputs of one tier branch.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TierInputs {
    /// Always `shopset.dev/v1alpha1`.
    pub api_version: String,
    /// Always [`INPUTS_KIND`].
    pub kind: String,
    /// The Tier.
    pub tier: NamedTier,
    /// The app commit the `base` gitlink points to.
    pub app_commit: String,
    /// The configurations the tier's ShopSets use, resolved at the tier's branch.
    #[serde(default)]
    pub configurations: BTreeMap<String, ResolvedConfiguration>,
    /// The failure domains the tier's ShopSets are placed in.
    #[serde(default)]
    pub failure_domains: BTreeMap<String, FailureDomainSpec>,
    /// The tier's ShopSets with their placement (shared: a plan that changes one ShopSet
    /// copies the others' entries by reference).
    #[serde(default)]
    pub shop_sets: ShopSetEntries,
    /// The shops the tier's ShopSets serve, with their assignment: the record that makes an
    /// assignment sticky, and the source of the routing table.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub shops: ShopRows,
    /// In a recorded file only: the shop rows are not in it but in `.shopset/shops-<xx>.yaml`,
    /// one file per hash prefix listed here (a tier with many shops; see
    /// [`crate::record`]). Always empty once read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shop_shards: Vec<String>,
    /// In a recorded file only: the ShopSets are not in it but in
    /// `.shopset/shopsets-<xx>.yaml`, one file per hash prefix listed here (a tier of more
    /// than [`crate::record::MAX_INLINE_SHOP_SETS`] ShopSets). Always empty once read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shop_set_shards: Vec<String>,
    /// Set on a preview's branch (`preview/pr-<number>`): whose preview it is. Its root
    /// Application then has Argo CD's resources finalizer, so deleting it removes the
    /// preview's Applications and, with them, everything they applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview: Option<PreviewOf>,
}

/// What a preview's branch records of it. No time: when it was deployed and last pushed are
/// the times of the branch's commits, so the same preview rendered by hand or by the
/// controller is the same tree.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PreviewOf {
    /// The PreviewPolicy.
    pub policy: String,
    /// The pull request's number.
    pub number: u64,
    /// The pull request's page, when known.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pull_request: String,
    /// The branch of the configuration repository the configuration was read at (the
    /// policy tier's).
    pub configuration_branch: String,
    /// The preview's host.
    pub host: String,
    /// Scaled to zero after a while without a push (`sleepAfter`): every Deployment and
    /// StatefulSet at 0 replicas, every CronJob suspended; a push wakes it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub asleep: bool,
}

impl TierInputs {
    /// Inputs with no ShopSet.
    #[must_use]
    pub fn new(name: String, spec: TierSpec, app_commit: String) -> Self {
        Self {
            api_version: shopset_crds::API_VERSION.to_owned(),
            kind: INPUTS_KIND.to_owned(),
            tier: NamedTier { name, spec },
            app_commit,
            configurations: BTreeMap::new(),
            failure_domains: BTreeMap::new(),
            shop_sets: BTreeMap::new(),
            shops: BTreeMap::new(),
            shop_shards: Vec::new(),
            shop_set_shards: Vec::new(),
            preview: None,
        }
    }

    /// The tier's branch.
    #[must_use]
    pub fn branch(&self) -> &str {
        self.tier.spec.branch_or(&self.tier.name)
    }
}

/// A Tier with its name.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NamedTier {
    /// `metadata.name`.
    pub name: String,
    /// `spec`.
    pub spec: TierSpec,
}

/// A configuration document and where it was read.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResolvedConfiguration {
    /// Where the document was read; absent for inline configurations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ConfigSourceAt>,
    /// The document.
    pub document: ConfigLayer,
}

/// A configuration file read from a repository at a commit.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigSourceAt {
    /// Repository URL.
    pub url: String,
    /// File path.
    pub path: String,
    /// Commit read (the tip of the tier's branch at the time).
    pub commit: String,
}

/// A ShopSet and the failure domain it is placed in.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlacedShopSet {
    /// The failure domain (explicit or placed automatically).
    pub failure_domain: String,
    /// The ShopSet's spec.
    pub spec: ShopSetSpec,
    /// The Migration that brought it to its failure domain, if one did. Its overlay and
    /// Application are then named after the domain (`<name>--<domain>`,
    /// [`crate::layout::side_name`]): the side it moved to keeps the name it had during the
    /// migration, as Argo CD cannot rename an Application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migrated_by: Option<String>,
    /// A migration to another failure domain in progress: the ShopSet is rendered there too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migrating: Option<Migrating>,
    /// Deployments leaving canary release: their Rollout stays one more commit, scaling
    /// nothing down, while Argo CD scales the Deployment back up ([`crate::delivery`]).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub rollouts_leaving: BTreeSet<String>,
}

impl PlacedShopSet {
    /// Placed in `failure_domain`, never migrated.
    #[must_use]
    pub const fn new(failure_domain: String, spec: ShopSetSpec) -> Self {
        Self {
            failure_domain,
            spec,
            migrated_by: None,
            migrating: None,
            rollouts_leaving: BTreeSet::new(),
        }
    }

    /// The name of the overlay and Application of the side on its recorded failure domain.
    #[must_use]
    pub fn home_name(&self, shop_set: &str) -> String {
        if self.migrated_by.is_some() {
            crate::layout::side_name(shop_set, &self.failure_domain)
        } else {
            shop_set.to_owned()
        }
    }

    /// Its sides: (overlay and Application name, failure domain, in standby), the recorded
    /// one first, then the one a migration adds.
    #[must_use]
    pub fn sides(&self, shop_set: &str) -> Vec<Side> {
        let home = Side {
            name: self.home_name(shop_set),
            failure_domain: self.failure_domain.clone(),
            standby: false,
            deadline: None,
        };
        let Some(m) = &self.migrating else {
            return vec![home];
        };
        let deadline = Some(m.starting_deadline_seconds);
        let both_standby = m.phase == SidePhase::Handover && m.singletons == Singletons::AtMostOne;
        let target_active = matches!(m.phase, SidePhase::Handover | SidePhase::Switched);
        vec![
            Side {
                standby: m.phase == SidePhase::Switched || both_standby,
                deadline,
                ..home
            },
            Side {
                name: crate::layout::side_name(shop_set, &m.to),
                failure_domain: m.to.clone(),
                standby: !target_active || both_standby,
                deadline,
            },
        ]
    }
}

/// One side of a ShopSet: where an overlay of it is rendered and applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Side {
    /// The overlay directory's and the Application's name.
    pub name: String,
    /// Where it runs.
    pub failure_domain: String,
    /// In standby: every CronJob suspended, singletons at 0 replicas.
    pub standby: bool,
    /// During a migration: every CronJob's `startingDeadlineSeconds`.
    pub deadline: Option<u32>,
}

/// A ShopSet's migration as recorded in its tier branch: one phase a commit.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Migrating {
    /// The Migration.
    pub migration: String,
    /// The failure domain it moves to.
    pub to: String,
    /// Where it is.
    pub phase: SidePhase,
    /// In the `Traffic` phase: the share of its requests the new side takes, in percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    /// How its singletons hand over.
    pub singletons: Singletons,
    /// Its CronJobs' `startingDeadlineSeconds` on both sides.
    pub starting_deadline_seconds: u32,
}

/// Shop rows by shop name. A row is shared, not copied, by every map that holds it (the
/// branches' record, the plan, each tier's inputs): at 100,000 shops a sync copies only
/// pointers, and an unchanged row is the same allocation from one sync to the next.
pub type ShopRows = BTreeMap<String, Arc<AssignedShop>>;

/// The ShopSets of a tier, by name.
pub type ShopSetEntries = BTreeMap<String, Arc<PlacedShopSet>>;

/// A shop and the ShopSet that serves it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AssignedShop {
    /// The ShopSet.
    pub shop_set: String,
    /// One more for each move.
    pub epoch: u64,
    /// How it got there.
    pub by: shopset_crds::AssignedBy,
    /// Its hosts, the primary one first.
    pub hosts: Vec<String>,
    /// Its load.
    pub weight: u32,
    /// A move's first step (*warm*): the ShopSet it is moving to, which lists its hosts
    /// already while routing still points at `shop_set`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warming: Option<String>,
    /// A move's second step (*switched*): the ShopSet it moved from, which still lists its
    /// hosts until the move settles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draining: Option<String>,
}

impl AssignedShop {
    /// Whether `shop_set` serves it, lists its hosts for a move, or both: the tiers of those
    /// ShopSets carry its row.
    #[must_use]
    pub fn involves(&self, shop_set: &str) -> bool {
        self.shop_sets().any(|s| s == shop_set)
    }

    /// The ShopSets that list its hosts: the one serving it, and during a move the other.
    pub fn shop_sets(&self) -> impl Iterator<Item = &str> {
        [
            Some(&self.shop_set),
            self.warming.as_ref(),
            self.draining.as_ref(),
        ]
        .into_iter()
        .flatten()
        .map(String::as_str)
    }

    /// Where it is in a move.
    #[must_use]
    pub const fn phase(&self) -> shopset_crds::ShopPhase {
        match (&self.warming, &self.draining) {
            (Some(_), _) => shopset_crds::ShopPhase::Warming,
            (None, Some(_)) => shopset_crds::ShopPhase::Switched,
            (None, None) => shopset_crds::ShopPhase::Assigned,
        }
    }
}

/// The hosts one ShopSet lists, as [`hosts_by_shop_set`] gives them: one walk of the rows,
/// for rendering a few ShopSets of a tier with many shops.
#[must_use]
pub fn hosts_of<'a>(shops: &'a ShopRows, shop_set: &str) -> Vec<&'a str> {
    let mut out: Vec<&str> = shops
        .values()
        .filter(|row| row.involves(shop_set))
        .flat_map(|row| row.hosts.iter().map(String::as_str))
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// The hosts each ShopSet lists: those of the shops it serves and of the shops moving to or
/// from it, sorted. Built once per tier (a lookup per ShopSet would cost shops × ShopSets).
#[must_use]
pub fn hosts_by_shop_set(shops: &ShopRows) -> BTreeMap<&str, Vec<&str>> {
    let mut out: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for row in shops.values() {
        for set in row.shop_sets() {
            out.entry(set)
                .or_default()
                .extend(row.hosts.iter().map(String::as_str));
        }
    }
    for hosts in out.values_mut() {
        hosts.sort_unstable();
        hosts.dedup();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(shop_set: &str, hosts: &[&str], warming: Option<&str>) -> Arc<AssignedShop> {
        Arc::new(AssignedShop {
            shop_set: shop_set.into(),
            epoch: 0,
            by: shopset_crds::AssignedBy::Rule,
            hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
            weight: 1,
            warming: warming.map(str::to_owned),
            draining: None,
        })
    }

    #[test]
    fn the_sides_of_each_phase_run_singletons_as_their_guarantee_says() {
        let spec: ShopSetSpec =
            serde_json::from_value(serde_json::json!({"tier": "t", "configuration": "c"}))
                .expect("a spec");
        let mut placed = PlacedShopSet::new("east".into(), spec);
        assert_eq!(placed.sides("a").len(), 1);
        assert!(!placed.sides("a")[0].standby);
        for singletons in [Singletons::AtMostOne, Singletons::AtLeastOne] {
            for phase in [
                SidePhase::Dual,
                SidePhase::Verified,
                SidePhase::Traffic,
                SidePhase::Handover,
                SidePhase::Switched,
            ] {
                placed.migrating = Some(Migrating {
                    migration: "m".into(),
                    to: "west".into(),
                    phase,
                    weight: None,
                    singletons,
                    starting_deadline_seconds: 60,
                });
                let sides = placed.sides("a");
                assert_eq!(sides[0].name, "a");
                assert_eq!(sides[1].name, "a--west");
                assert!(sides.iter().all(|s| s.deadline == Some(60)));
                let active = sides.iter().filter(|s| !s.standby).count();
                match (singletons, phase) {
                    (Singletons::AtMostOne, SidePhase::Handover) => assert_eq!(active, 0),
                    (Singletons::AtLeastOne, SidePhase::Handover) => assert_eq!(active, 2),
                    _ => assert_eq!(active, 1, "{singletons:?} {phase:?}"),
                }
                let old_active = !sides[0].standby;
                let before_switch = phase < SidePhase::Handover;
                if active == 1 {
                    assert_eq!(old_active, before_switch, "{phase:?}");
                }
            }
        }
        placed.migrating = None;
        placed.migrated_by = Some("m".into());
        assert_eq!(placed.home_name("a"), "a--east");
    }

    #[test]
    fn the_hosts_of_one_shop_set_are_its_entry_of_the_whole_map() {
        let shops: ShopRows = [
            ("a", row("one", &["b.example.com", "a.example.com"], None)),
            ("b", row("two", &["c.example.com"], Some("one"))),
            ("c", row("one", &["a.example.com"], None)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let all = hosts_by_shop_set(&shops);
        for set in ["one", "two", "three"] {
            assert_eq!(
                hosts_of(&shops, set),
                all.get(set).cloned().unwrap_or_default(),
                "{set}"
            );
        }
        assert_eq!(
            hosts_of(&shops, "one"),
            ["a.example.com", "b.example.com", "c.example.com"]
        );
    }
}
