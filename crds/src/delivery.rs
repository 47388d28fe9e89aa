//! How a ShopSet's workloads are released and kept fresh, set by the configuration layers (so
//! it is tiered, tried on tier-0 first, and a ShopSet may override it): canary releases with
//! Argo Rollouts (`progressiveDelivery`) and scheduled restarts (`restarts`). Both are off
//! unless a layer declares them. Every part a later layer may change alone is a map.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Canary releases with Argo Rollouts for named Deployments of the base. Each is rendered as a
/// Rollout that takes its pods from the Deployment (`workloadRef`), so the base stays plain
/// Kubernetes and every patch, image and replica setting still reaches the Deployment.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProgressiveDelivery {
    /// The Deployments released by canary, by name (as the base builds them); `null` removes
    /// one, which takes two commits (DESIGN: the Deployment is scaled up again before its
    /// Rollout goes). Each needs its replica count in `replicas`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub workloads: BTreeMap<String, Option<ProgressiveWorkload>>,
    /// The canary steps, in order (a later layer replaces the whole list).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<CanaryStep>,
    /// Analysis that runs in the background from a step on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background_analysis: Option<BackgroundAnalysis>,
    /// Labels on the canary's pods while they are the canary (default
    /// `shopset.dev/track: canary`); `null` removes one.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub canary_labels: BTreeMap<String, Option<String>>,
    /// Labels on the stable pods (default `shopset.dev/track: stable`); `null` removes one.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub stable_labels: BTreeMap<String, Option<String>>,
    /// Argo Rollouts' `strategy.canary.trafficRouting`, as it is (none by default: the weight
    /// is then approximated by replica counts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::common::optional_free_object")]
    pub traffic_routing: Option<serde_json::Value>,
    /// AnalysisTemplates rendered in the ShopSet's namespace, by name: each value is the
    /// template's `spec` (`metrics`, `args`...). The arguments `shopset`, `tier` and
    /// `failure-domain` are declared in each and filled in by the Rollout.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "free_objects")]
    pub analysis_templates: BTreeMap<String, Option<serde_json::Value>>,
}

/// One Deployment released by canary.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProgressiveWorkload {
    /// The base's HorizontalPodAutoscaler of this Deployment, retargeted to the Rollout (the
    /// Rollout's replica count is then the autoscaler's: Argo CD ignores it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hpa: Option<String>,
}

/// One canary step: exactly one of its fields.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CanaryStep {
    /// Send this percentage of the traffic (or of the pods) to the canary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub set_weight: Option<i32>,
    /// Wait: for `duration` (`30s`, `10m`, `1h`), or until a person promotes the Rollout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause: Option<Pause>,
    /// Run an analysis and go on only when it succeeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<StepAnalysis>,
}

/// A pause step.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Pause {
    /// How long; none: until promoted (`kubectl argo rollouts promote`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
}

/// An analysis step.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StepAnalysis {
    /// The templates, run as one AnalysisRun.
    pub templates: Vec<TemplateRef>,
}

/// Background analysis.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BackgroundAnalysis {
    /// The templates, run as one AnalysisRun.
    pub templates: Vec<TemplateRef>,
    /// The step (0-based) it starts on (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub starting_step: Option<i32>,
}

/// An AnalysisTemplate by name: one of `analysisTemplates`, one already in the namespace, or a
/// ClusterAnalysisTemplate.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TemplateRef {
    /// Its name.
    #[schemars(length(min = 1, max = 253))]
    pub template_name: String,
    /// A ClusterAnalysisTemplate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_scope: Option<bool>,
}

/// A scheduled restart of one workload (`kubectl rollout restart` from a CronJob in the
/// ShopSet's namespace, allowed to restart exactly the workloads declared).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Restart {
    /// When, as a cron schedule (`0 4 * * *`).
    #[schemars(length(min = 9, max = 128))]
    pub schedule: String,
    /// The schedule's time zone (`Asia/Tokyo`; default the cluster's, usually UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// The workload's kind: `Deployment` (default), `StatefulSet` or `DaemonSet`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The image that runs `kubectl` (default [`DEFAULT_RESTART_IMAGE`]; it needs `kubectl` on
    /// its PATH).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

/// The image that runs `kubectl rollout restart`, unless a restart names another.
pub const DEFAULT_RESTART_IMAGE: &str = "registry.k8s.io/kubectl:v1.32.4";

/// The label that tells the canary's pods from the stable ones, by default.
pub const TRACK_LABEL: &str = "shopset.dev/track";

/// A map of free-form objects, each of which may be `null` (removed by a later layer).
fn free_objects(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "additionalProperties": {
            "type": "object",
            "nullable": true,
            "x-kubernetes-preserve-unknown-fields": true,
        },
    })
}
