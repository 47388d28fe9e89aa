//! Isolation of a ShopSet in its cluster, set by the configuration layers (so it is tiered,
//! tried on tier-0 first, and a ShopSet may override it): its own Namespace, a ResourceQuota,
//! a LimitRange, a default-deny NetworkPolicy and PodDisruptionBudgets. Each part is on by
//! default with the defaults below, and each can be switched off by any layer
//! (`isolation: {quota: {enabled: false}}`). Every part is a map or an optional field, so a
//! later layer changes one entry.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The isolation settings of a layer.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Isolation {
    /// Render the ShopSet's Namespace, so that Argo CD owns and prunes it (instead of an
    /// untracked namespace made by `CreateNamespace=true`). Default: true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<bool>,
    /// A ResourceQuota for the namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<Quota>,
    /// A LimitRange for the namespace's containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
    /// A NetworkPolicy that denies everything but traffic inside the ShopSet, from the edge
    /// router and to the declared shared services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
    /// PodDisruptionBudgets, by workload name (its pods are selected by
    /// `app.kubernetes.io/name: <workload>` unless `selector` says otherwise).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub disruption_budgets: BTreeMap<String, Option<DisruptionBudget>>,
}

/// A ResourceQuota.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Quota {
    /// Default: true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Its `spec.hard`, merged over the defaults ([`DEFAULT_QUOTA`]); `null` removes one.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hard: BTreeMap<String, Option<String>>,
}

/// A LimitRange of type Container.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Limits {
    /// Default: true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Requests of a container that sets none, over [`DEFAULT_REQUEST`].
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub default_request: BTreeMap<String, Option<String>>,
    /// Limits of a container that sets none, over [`DEFAULT_LIMIT`].
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub default: BTreeMap<String, Option<String>>,
    /// The most a container may ask for (none by default).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub max: BTreeMap<String, Option<String>>,
}

/// The NetworkPolicy.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Network {
    /// Default: true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// The namespace of the edge router, which may reach every pod of the ShopSet
    /// (default: the Tier's `spec.routing.namespace`, else [`DEFAULT_EDGE_NAMESPACE`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edge_namespace: Option<String>,
    /// Shared services the ShopSet's pods may reach, by a name of your choice. The cluster's
    /// DNS (`dns`: kube-system pods labelled `k8s-app: kube-dns`, port 53 over UDP and TCP)
    /// is declared by default; `dns: null` removes it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub services: BTreeMap<String, Option<SharedService>>,
}

/// A service outside the ShopSet that its pods may reach: pods of a namespace, or addresses.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SharedService {
    /// Pods of this namespace (by its `kubernetes.io/metadata.name` label).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Of those, the pods with these labels (all of them when empty).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pod_labels: BTreeMap<String, String>,
    /// Or addresses, as a CIDR (`10.0.5.10/32` for one database endpoint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr: Option<String>,
    /// Ports, as `5432/TCP` or `53/UDP` (a port without a protocol is TCP). Empty: every
    /// port.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<String>,
}

/// A PodDisruptionBudget for one workload: exactly one of the two.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DisruptionBudget {
    /// `minAvailable`: a count (`1`) or a percentage (`50%`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_available: Option<String>,
    /// `maxUnavailable`: a count or a percentage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<String>,
    /// The pods' labels (default: `app.kubernetes.io/name: <workload>`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub selector: BTreeMap<String, String>,
}

/// The quota of a ShopSet whose layers set none.
pub const DEFAULT_QUOTA: [(&str, &str); 5] = [
    ("limits.cpu", "8"),
    ("limits.memory", "16Gi"),
    ("pods", "50"),
    ("requests.cpu", "4"),
    ("requests.memory", "8Gi"),
];

/// The requests of a container that sets none.
pub const DEFAULT_REQUEST: [(&str, &str); 2] = [("cpu", "100m"), ("memory", "128Mi")];

/// The limits of a container that sets none.
pub const DEFAULT_LIMIT: [(&str, &str); 2] = [("cpu", "500m"), ("memory", "512Mi")];

/// The edge router's namespace when neither the layers nor the Tier name one.
pub const DEFAULT_EDGE_NAMESPACE: &str = "shopset-edge";
