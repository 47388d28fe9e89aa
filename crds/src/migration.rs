//! `Migration`: ShopSets moved from one failure domain to another, a share at a time, each
//! through a side by side phase (DESIGN: migration). The canary unit is the ShopSet: "5 % on
//! the new cluster" is 5 % of the selected ShopSets, lowest tier first.

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::Condition;

/// Moving ShopSets from the failure domain `from` to `to`, without a maintenance window: each
/// ShopSet is rendered on both sides for a while (the new side in standby), checked healthy,
/// switched, and only then removed from the old side.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "shopset.dev",
    version = "v1alpha1",
    kind = "Migration",
    namespaced,
    status = "MigrationStatus",
    shortname = "mig",
    category = "shopset",
    printcolumn = r#"{"name":"From","type":"string","jsonPath":".spec.from"}"#,
    printcolumn = r#"{"name":"To","type":"string","jsonPath":".spec.to"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Step","type":"string","jsonPath":".status.step"}"#,
    printcolumn = r#"{"name":"Moved","type":"integer","jsonPath":".status.moved"}"#,
    printcolumn = r#"{"name":"In flight","type":"integer","jsonPath":".status.inFlight"}"#,
    printcolumn = r#"{"name":"Selected","type":"integer","jsonPath":".status.selected"}"#,
    validation = Rule::new("self.metadata.name.size() <= 63 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')").message("a Migration name is a DNS label: it is recorded in the tier branches"),
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.from != self.to").message("from and to must be two failure domains"))]
#[x_kube(validation = Rule::new("size(self.steps) == 0 || self.steps[size(self.steps) - 1].percent == 100").message("the last step must take 100 percent of the selected ShopSets"))]
pub struct MigrationSpec {
    /// The failure domain the ShopSets leave.
    #[schemars(regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"), length(max = 63))]
    pub from: String,
    /// The failure domain they go to.
    #[schemars(regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"), length(max = 63))]
    pub to: String,
    /// Only ShopSets of these tiers. Empty: every tier.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"), length(max = 63)))]
    pub tiers: Vec<String>,
    /// Only these ShopSets. Empty: every ShopSet placed on `from` (of `tiers`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"), length(max = 63)))]
    pub shop_sets: Vec<String>,
    /// How many ShopSets may be between their first and last phase at once.
    #[serde(default = "one")]
    #[schemars(range(min = 1, max = 100_000))]
    pub max_in_flight: u32,
    /// Cumulative shares of the selected ShopSets (lowest tier first, then by name), each
    /// started only when the ShopSets of the step before have moved, its soak time has passed
    /// and, when it asks for one, it is approved. Empty: one step of 100 percent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<MigrationStep>,
    /// The shares of a ShopSet's requests its new side takes before the switch, in percent,
    /// ascending (`[10, 50]`), written to the routing table (`routing/shopsets.yaml`) of a tier
    /// whose ShopSets serve shops. Empty, or a ShopSet that serves no shop: one switch.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(range(min = 1, max = 99)))]
    pub traffic_weights: Vec<u32>,
    /// How jobs that must run once (every CronJob, and workloads labelled
    /// `shopset.dev/singleton: "true"`) hand over from the old side to the new.
    #[serde(default)]
    pub singletons: Singletons,
    /// With `AtMostOne`: how long the old side, once its CronJobs are suspended and Argo CD
    /// reports it Synced and Healthy, is given for Jobs already running to finish before the
    /// new side starts its own (a duration: `90s`, `10m`).
    #[serde(default = "default_handover")]
    #[schemars(regex(pattern = r"^([0-9]+[smh])+$"))]
    pub handover: String,
    /// `startingDeadlineSeconds` of every CronJob on both sides while a ShopSet migrates: a
    /// CronJob suspended for long enough to miss 100 schedules never starts again unless it
    /// is set (kubernetes#42649). Small, so that a resumed CronJob does not start a run the
    /// other side already made.
    #[serde(default = "default_deadline")]
    #[schemars(range(min = 10, max = 86_400))]
    pub starting_deadline_seconds: u32,
    /// Stop when Argo CD reports a new side Degraded (the ShopSets in flight stay where they
    /// are; the status names the ShopSet and why).
    #[serde(default = "yes")]
    pub stop_on_degraded: bool,
    /// Abort: the ShopSets in flight walk back their phases, one a commit, to where they were
    /// before (their files return to the same bytes); the ShopSets already moved stay moved.
    #[serde(default)]
    pub abort: bool,
}

/// A step of a migration.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MigrationStep {
    /// The share of the selected ShopSets moved once the step is done (cumulative).
    #[schemars(range(min = 1, max = 100))]
    pub percent: u32,
    /// How long to wait, after the step before is done, before starting this one (a
    /// duration: `1h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]+[smh])+$"))]
    pub soak: Option<String>,
    /// A person approves the step before it starts: the annotation
    /// `shopset.dev/approved-step` on the Migration holds its number (1 is the first step)
    /// or a later one (`shopctl migrate approve NAME STEP`).
    #[serde(default)]
    pub approval: bool,
}

/// How jobs that must run once hand over between the two sides.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum Singletons {
    /// Never both: the old side is suspended first; the new one starts once the old side is
    /// Synced and Healthy and the handover time has passed. A scheduled run may be skipped.
    #[default]
    AtMostOne,
    /// Never neither: the new side starts first; the old one stops once the new side is
    /// Synced and Healthy. A scheduled run may happen twice.
    AtLeastOne,
}

/// Where one ShopSet is in a migration; each phase is one commit of its tier branch.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, JsonSchema,
)]
pub enum SidePhase {
    /// The new side is rendered, in standby (CronJobs suspended, singletons at 0 replicas).
    Dual,
    /// Argo CD reported the new side Synced and Healthy.
    Verified,
    /// The new side takes a share of the ShopSet's requests (`weight` in the record).
    Traffic,
    /// The singletons hand over: both sides in standby (`AtMostOne`) or both active
    /// (`AtLeastOne`); routing points at the new side.
    Handover,
    /// The new side is active, the old one in standby.
    Switched,
}

/// What the controller observed of a migration.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MigrationStatus {
    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Progressing`, `Waiting` (for a soak time or an approval), `Stopped` (a new side is
    /// Degraded, or a gate holds it), `Aborting`, `Aborted` or `Succeeded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// The current step, as `2/4`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// The ShopSets selected.
    #[serde(default)]
    pub selected: u32,
    /// Of those, moved to `to`.
    #[serde(default)]
    pub moved: u32,
    /// Of those, between their first and last phase.
    #[serde(default)]
    pub in_flight: u32,
    /// The ShopSets in flight, and those a problem holds, with their phase.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shop_sets: Vec<MigratingShopSet>,
    /// Why it waits, when it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<String>,
    /// Conditions: Progressing, Stopped, Succeeded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// One ShopSet in a migration's status.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MigratingShopSet {
    /// The ShopSet.
    pub name: String,
    /// Its tier.
    pub tier: String,
    /// Its phase; absent when it has not started or has moved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<SidePhase>,
    /// Its Argo CD Applications, the old side's first: what `argocd app wait` waits for
    /// between two phases.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub applications: Vec<String>,
    /// What its next phase waits for, or what stops it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The annotation on a Migration that approves its steps up to the number it holds.
pub const APPROVED_STEP_ANNOTATION: &str = "shopset.dev/approved-step";

/// The label of a workload that must run on one side only (scaled to 0 on a side in
/// standby).
pub const SINGLETON_LABEL: &str = "shopset.dev/singleton";

fn one() -> u32 {
    1
}

fn yes() -> bool {
    true
}

/// The handover time when a Migration sets none.
pub const DEFAULT_HANDOVER: &str = "5m";

fn default_handover() -> String {
    DEFAULT_HANDOVER.to_owned()
}

/// The CronJobs' deadline during a migration when a Migration sets none, in seconds.
pub const DEFAULT_STARTING_DEADLINE: u32 = 300;

fn default_deadline() -> u32 {
    DEFAULT_STARTING_DEADLINE
}

impl MigrationSpec {
    /// A migration of every ShopSet on `from` to `to`, in one step, with the defaults.
    #[must_use]
    pub fn new(from: &str, to: &str) -> Self {
        Self {
            from: from.to_owned(),
            to: to.to_owned(),
            tiers: Vec::new(),
            shop_sets: Vec::new(),
            max_in_flight: 1,
            steps: Vec::new(),
            traffic_weights: Vec::new(),
            singletons: Singletons::AtMostOne,
            handover: default_handover(),
            starting_deadline_seconds: DEFAULT_STARTING_DEADLINE,
            stop_on_degraded: true,
            abort: false,
        }
    }

    /// The steps, or one step of 100 percent when none is given.
    #[must_use]
    pub fn steps_or_default(&self) -> Vec<MigrationStep> {
        if self.steps.is_empty() {
            vec![MigrationStep {
                percent: 100,
                soak: None,
                approval: false,
            }]
        } else {
            self.steps.clone()
        }
    }
}
