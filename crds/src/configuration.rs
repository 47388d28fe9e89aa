//! `Configuration`: named settings of ShopSets, inline or read from a configuration repository at
//! the branch of each ShopSet's tier; and the document shape shared by every configuration layer.

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{Condition, SecretRef};

/// Named settings for ShopSets. Exactly one of `inline` and `source`.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "shopset.dev",
    version = "v1alpha1",
    kind = "Configuration",
    namespaced,
    status = "ConfigurationStatus",
    shortname = "shopconfig",
    category = "shopset",
    printcolumn = r#"{"name":"Source","type":"string","jsonPath":".spec.source.url"}"#,
    printcolumn = r#"{"name":"Path","type":"string","jsonPath":".spec.source.path"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    validation = Rule::new("self.metadata.name.size() <= 63").message("a Configuration name is at most 63 characters"),
)]
#[x_kube(validation = Rule::new("has(self.inline) != has(self.source)").message("set exactly one of inline and source"))]
#[serde(rename_all = "camelCase")]
pub struct ConfigurationSpec {
    /// The configuration document itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline: Option<ConfigLayer>,
    /// Where to read the document: a file in a configuration repository, read at the branch of
    /// the tier of each ShopSet that uses it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ConfigurationSource>,
}

/// A configuration document in a configuration repository.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigurationSource {
    /// Clone URL of the configuration repository.
    #[schemars(length(min = 1, max = 2048))]
    pub url: String,
    /// Path of the YAML document inside the repository.
    #[schemars(
        regex(pattern = r"^([A-Za-z0-9_][A-Za-z0-9._-]*)(/[A-Za-z0-9_][A-Za-z0-9._-]*)*$"),
        length(max = 1024)
    )]
    pub path: String,
    /// Secret holding the credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretRef>,
}

/// What the controller observed of a configuration.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigurationStatus {
    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Configuration repository commit read, per tier branch.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub commits: BTreeMap<String, String>,
    /// Standard conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// One layer of settings. Layers merge with JSON merge patch (RFC 7386), later wins, in this
/// order: the configuration, the failure domain, the ShopSet's overrides, then the merged
/// `maintenance` layer when the ShopSet is in maintenance. Every part is a map so that a later
/// layer can change or remove (with `null`) a single entry.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigLayer {
    /// The settings.
    #[serde(flatten)]
    pub body: ConfigBody,
    /// Applied on top of the merged settings when a ShopSet is in maintenance mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance: Option<ConfigBody>,
}

/// The settings of a layer.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigBody {
    /// Key/value settings, rendered as the ConfigMap `shopset-values` (a Kustomize
    /// `configMapGenerator`, so a change rolls the pods). `null` removes a key set by an earlier
    /// layer.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub values: BTreeMap<String, Option<String>>,
    /// Replica counts by Deployment or StatefulSet name (Kustomize `replicas`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub replicas: BTreeMap<String, Option<i64>>,
    /// Image replacements by image name (Kustomize `images`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub images: BTreeMap<String, Option<ImageOverride>>,
    /// Kustomize patches by name; each is written to `patches/<name>.yaml`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub patches: BTreeMap<String, Option<Patch>>,
    /// The ShopSet's isolation in its cluster: Namespace, ResourceQuota, LimitRange,
    /// NetworkPolicy, PodDisruptionBudgets; on by default ([`crate::isolation`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation: Option<crate::isolation::Isolation>,
    /// Canary releases with Argo Rollouts for named Deployments ([`crate::delivery`]); off
    /// unless declared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progressive_delivery: Option<crate::delivery::ProgressiveDelivery>,
    /// Scheduled restarts, by workload name; `null` removes one.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub restarts: BTreeMap<String, Option<crate::delivery::Restart>>,
}

/// A Kustomize image replacement.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageOverride {
    /// New image name (registry and repository).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_name: Option<String>,
    /// New tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_tag: Option<String>,
    /// Digest (`sha256:...`), which wins over the tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// A Kustomize patch: a strategic merge patch (a YAML object) or a JSON 6902 patch (a list of
/// operations), with an optional target.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Patch {
    /// Which objects to patch. Required for JSON 6902 patches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<PatchTarget>,
    /// The patch as YAML text.
    #[schemars(length(min = 1, max = 262_144))]
    pub patch: String,
}

/// Kustomize patch target selector.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PatchTarget {
    /// API group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// API version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Name (a regular expression for Kustomize).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Label selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<String>,
    /// Annotation selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotation_selector: Option<String>,
}
