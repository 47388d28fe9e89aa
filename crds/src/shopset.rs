//! `ShopSet`: one isolated copy of the application stack.

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::Condition;
use crate::configuration::ConfigLayer;

/// One isolated copy of the application stack, serving a subset of the shops.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "shopset.dev",
    version = "v1alpha1",
    kind = "ShopSet",
    namespaced,
    status = "ShopSetStatus",
    shortname = "ss",
    category = "shopset",
    printcolumn = r#"{"name":"Tier","type":"string","jsonPath":".spec.tier"}"#,
    printcolumn = r#"{"name":"Config","type":"string","jsonPath":".spec.configuration"}"#,
    printcolumn = r#"{"name":"Domain","type":"string","jsonPath":".status.failureDomain"}"#,
    printcolumn = r#"{"name":"Maint","type":"boolean","jsonPath":".spec.maintenance"}"#,
    printcolumn = r#"{"name":"Sync","type":"string","jsonPath":".status.sync"}"#,
    printcolumn = r#"{"name":"Health","type":"string","jsonPath":".status.health"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    validation = Rule::new("self.metadata.name.size() <= 63 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')").message("a ShopSet name is a DNS label: it names a directory, an Application and by default a namespace"),
)]
#[serde(rename_all = "camelCase")]
pub struct ShopSetSpec {
    /// The Tier this ShopSet belongs to.
    #[schemars(regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"), length(max = 63))]
    pub tier: String,
    /// The Configuration it uses.
    #[schemars(regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"), length(max = 63))]
    pub configuration: String,
    /// The FailureDomain it runs in. Absent: placed automatically, and the placement is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"), length(max = 63))]
    pub failure_domain: Option<String>,
    /// Namespace of its workloads. Absent: the ShopSet's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"), length(max = 63))]
    pub namespace: Option<String>,
    /// Its own settings, layered over the configuration and the failure domain.
    // Boxed: a layer is a kilobyte inline, most ShopSets have none, and a controller holds
    // every spec (100,000 of them, some in several copies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overrides: Option<Box<ConfigLayer>>,
    /// Maintenance mode: the merged `maintenance` layer is applied on top.
    #[serde(default)]
    pub maintenance: bool,
    /// Suspend: still rendered, but its Application stops syncing automatically.
    #[serde(default)]
    pub suspend: bool,
    /// The shops it serves: its pool, its capacity, whether it takes new shops, whether it is
    /// dedicated to one. Absent: the default pool, capacity 100, accepting new shops.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shops: Option<crate::shop::ShopSettings>,
    /// What happens to the workloads when the ShopSet is removed: `Orphan` leaves them running,
    /// `Delete` lets Argo CD delete them (the Application carries Argo CD's resources finalizer).
    #[serde(default)]
    pub workload_deletion: WorkloadDeletion,
}

/// What happens to a removed ShopSet's workloads.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum WorkloadDeletion {
    /// The workloads stay; only the Application goes.
    #[default]
    Orphan,
    /// Argo CD deletes the workloads with the Application.
    Delete,
}

/// What the controller observed of a ShopSet.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShopSetStatus {
    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The failure domain it was placed in (kept, so adding a domain moves nobody).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_domain: Option<String>,
    /// The system repository branch holding it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// Its directory in that branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The system commit that contains its current rendering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_commit: Option<String>,
    /// Argo CD sync status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<String>,
    /// Argo CD health status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
    /// Standard conditions: Rendered, Committed, Synced, Healthy, Ready.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}
