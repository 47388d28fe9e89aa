//! `FailureDomain`: where ShopSets run, as an Argo CD destination, with capacity and weight for
//! automatic placement.

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::Condition;
use crate::configuration::ConfigLayer;

/// A place ShopSets run: a cluster (or a part of one) that fails independently of the others.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "shopset.dev",
    version = "v1alpha1",
    kind = "FailureDomain",
    namespaced,
    status = "FailureDomainStatus",
    shortname = "fd",
    category = "shopset",
    printcolumn = r#"{"name":"Cluster","type":"string","jsonPath":".spec.destination.name"}"#,
    printcolumn = r#"{"name":"Server","type":"string","jsonPath":".spec.destination.server"}"#,
    printcolumn = r#"{"name":"Capacity","type":"integer","jsonPath":".spec.capacity"}"#,
    printcolumn = r#"{"name":"Weight","type":"integer","jsonPath":".spec.weight"}"#,
    printcolumn = r#"{"name":"Cordoned","type":"boolean","jsonPath":".spec.cordoned"}"#,
    printcolumn = r#"{"name":"Placed","type":"integer","jsonPath":".status.placed"}"#,
    validation = Rule::new("self.metadata.name.size() <= 63").message("a FailureDomain name is at most 63 characters"),
)]
#[serde(rename_all = "camelCase")]
pub struct FailureDomainSpec {
    /// The Argo CD destination of the ShopSets placed here.
    pub destination: Destination,
    /// Labels describing the place (zone, region, cloud).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// At most this many ShopSets are placed here automatically. Absent: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub capacity: Option<i64>,
    /// Share of automatic placements, relative to the other failure domains.
    #[serde(default = "default_weight")]
    #[schemars(range(min = 1, max = 1000))]
    pub weight: i64,
    /// Settings layered over the configuration of every ShopSet placed here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ConfigLayer>,
    /// Cordoned: automatic placement no longer chooses this domain (as `kubectl cordon`
    /// does for a node). What is placed here stays; a ShopSet that names it explicitly in
    /// `spec.failureDomain` still goes here. The first step of moving work off a cluster.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cordoned: bool,
}

fn default_weight() -> i64 {
    1
}

/// An Argo CD destination: a cluster name or an API server URL.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[x_kube(validation = Rule::new("has(self.name) != has(self.server)").message("set exactly one of name and server"))]
#[serde(rename_all = "camelCase")]
pub struct Destination {
    /// Cluster name as registered in Argo CD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub name: Option<String>,
    /// Cluster API server URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    pub server: Option<String>,
}

/// What the controller observed of a failure domain.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FailureDomainStatus {
    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// ShopSets placed here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placed: Option<i64>,
    /// Standard conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}
