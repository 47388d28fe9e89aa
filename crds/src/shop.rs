//! `Shop`: one tenant of the platform, served by exactly one ShopSet at a time.

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::Condition;

/// A shop: its hosts, its load, and which ShopSet serves it. Which ShopSet a new shop goes to is
/// decided by the product, by convention (DESIGN: shops), and then recorded: it never changes
/// unless the shop is moved.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "shopset.dev",
    version = "v1alpha1",
    kind = "Shop",
    namespaced,
    status = "ShopStatus",
    shortname = "shop",
    category = "shopset",
    printcolumn = r#"{"name":"Host","type":"string","jsonPath":".spec.hosts[0]"}"#,
    printcolumn = r#"{"name":"ShopSet","type":"string","jsonPath":".status.shopSet"}"#,
    printcolumn = r#"{"name":"Tier","type":"string","jsonPath":".status.tier"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    validation = Rule::new("self.metadata.name.size() <= 63 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')").message("a Shop name is a DNS label: it names a row of the routing table and, when isolated, a ShopSet"),
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.allowWildcardHosts || self.hosts.all(h, !h.startsWith('*.'))").message("a wildcard host (*.example.com) is refused unless allowWildcardHosts is true: it would take every subdomain from the other shops"))]
pub struct ShopSpec {
    /// Its hosts: the primary host first, then custom domains. Each is a DNS name in lower case
    /// (`shop.example.com`), or a wildcard `*.example.com` when `allowWildcardHosts` is set.
    #[schemars(length(min = 1, max = 100), inner(regex(pattern = crate::names::HOST_PATTERN), length(max = 253)))]
    pub hosts: Vec<String>,
    /// Whether a host may be a wildcard (`*.example.com`).
    #[serde(default)]
    pub allow_wildcard_hosts: bool,
    /// The pool of ShopSets it is assigned in.
    #[serde(default = "default_pool")]
    #[schemars(regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"), length(max = 63))]
    pub pool: String,
    /// Its load, in the same units as the ShopSets' capacity.
    #[serde(default = "default_weight")]
    #[schemars(range(min = 1, max = 1_000_000))]
    pub weight: u32,
    /// A pin to one ShopSet. Absent: assigned by the rule. Setting or changing it is a move.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"), length(max = 63))]
    pub shop_set: Option<String>,
    /// Ask for a ShopSet of its own (named like the shop, in its tier); the shop moves there
    /// once it is Ready.
    #[serde(default)]
    pub isolate: bool,
    /// Whether a move may take it to a ShopSet of another tier (its application version then
    /// changes, to that tier's).
    #[serde(default)]
    pub allow_tier_change: bool,
}

/// The pool a shop or a ShopSet is in when it names none.
pub const DEFAULT_POOL: &str = "default";

fn default_pool() -> String {
    DEFAULT_POOL.to_owned()
}

fn default_weight() -> u32 {
    1
}

/// How a shop got its ShopSet.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, JsonSchema,
)]
pub enum AssignedBy {
    /// The rule chose it (the highest weighted rendezvous score among the eligible ShopSets).
    Rule,
    /// The shop's `spec.shopSet` named it.
    Pin,
    /// A move put it there (a pin changed, or the shop was isolated).
    Move,
}

/// Where a shop is in its life.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, JsonSchema,
)]
pub enum ShopPhase {
    /// No ShopSet yet (see the PoolExhausted condition).
    Pending,
    /// Served by its ShopSet.
    Assigned,
    /// Moving: the target ShopSet lists its hosts, routing still points at the source.
    Warming,
    /// Moving: routing points at the target; the source still lists the hosts.
    Switched,
}

/// What the controller observed of a shop.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShopStatus {
    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The ShopSet that serves it (sticky once assigned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shop_set: Option<String>,
    /// The tier of that ShopSet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    /// Grows by one per move; a router that finds the shop in two tiers' tables follows the
    /// higher epoch.
    #[serde(default)]
    pub epoch: u64,
    /// How it got its ShopSet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned_by: Option<AssignedBy>,
    /// Where it is in its life.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<ShopPhase>,
    /// Conditions: Assigned, PoolExhausted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// A ShopSet's settings for the shops it serves.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShopSettings {
    /// The pool it serves.
    #[serde(default = "default_pool")]
    #[schemars(regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"), length(max = 63))]
    pub pool: String,
    /// How much load it takes, in the units of the shops' weights.
    #[serde(default = "default_capacity")]
    #[schemars(range(min = 0, max = 1_000_000_000))]
    pub capacity: u32,
    /// Whether the rule may give it new shops (moves and pins still may).
    #[serde(default = "accept")]
    pub accept_new: bool,
    /// The one shop it is dedicated to: it takes no other and leaves the pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"), length(max = 63))]
    pub dedicated_to: Option<String>,
    /// Where the edge forwards its shops' requests (`http://` or `https://`), written into the
    /// routing table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^https?://[^\s]+$"), length(max = 2048))]
    pub upstream: Option<String>,
    /// How long it keeps listing the hosts of a shop that moved away, once routing points at
    /// the shop's new ShopSet and that one is healthy (a duration: `30s`, `5m`): requests
    /// already on their way, and caches, drain meanwhile.
    #[serde(default = "default_settle")]
    #[schemars(regex(pattern = r"^([0-9]+[smh])+$"))]
    pub settle: String,
}

/// How long a ShopSet keeps a moved shop's hosts when it sets no `settle`.
pub const DEFAULT_SETTLE: &str = "5m";

fn default_settle() -> String {
    DEFAULT_SETTLE.to_owned()
}

/// The capacity of a ShopSet that sets none, in load units.
pub const DEFAULT_CAPACITY: u32 = 100;

fn default_capacity() -> u32 {
    DEFAULT_CAPACITY
}

fn accept() -> bool {
    true
}

impl Default for ShopSettings {
    fn default() -> Self {
        Self {
            pool: default_pool(),
            capacity: DEFAULT_CAPACITY,
            accept_new: true,
            dedicated_to: None,
            upstream: None,
            settle: default_settle(),
        }
    }
}
