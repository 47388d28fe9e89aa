//! `Tier`: a release stage, with its branch, repositories, Argo CD settings and promotion policy.

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{Condition, RepoRef, SecretRef};

/// A release stage. Its branch has the same name in the app, configuration and system
/// repositories; a change enters at the lowest tier and is promoted up the chain.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "shopset.dev",
    version = "v1alpha1",
    kind = "Tier",
    namespaced,
    status = "TierStatus",
    shortname = "tr",
    category = "shopset",
    printcolumn = r#"{"name":"Branch","type":"string","jsonPath":".spec.branch"}"#,
    printcolumn = r#"{"name":"From","type":"string","jsonPath":".spec.promotesFrom"}"#,
    printcolumn = r#"{"name":"App","type":"string","jsonPath":".status.appCommit"}"#,
    printcolumn = r#"{"name":"ShopSets","type":"integer","jsonPath":".status.shopSets"}"#,
    printcolumn = r#"{"name":"Healthy","type":"integer","jsonPath":".status.healthy"}"#,
    printcolumn = r#"{"name":"Promotable","type":"boolean","jsonPath":".status.promotable"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    validation = Rule::new("self.metadata.name.size() <= 55").message("a Tier name is at most 55 characters: its root Application shopset-<tier> must fit a 63-character label value"),
    validation = Rule::new("!has(self.spec.promotesFrom) || self.spec.promotesFrom != self.metadata.name").message("a Tier cannot promote from itself"),
)]
#[serde(rename_all = "camelCase")]
pub struct TierSpec {
    /// Branch name in every repository. Defaults to the Tier's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"), length(max = 63))]
    pub branch: Option<String>,
    /// The Tier this one receives promotions from (absent for the lowest tier).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"), length(max = 63))]
    pub promotes_from: Option<String>,
    /// The app repository: people write it; its base kustomization is deployed.
    pub app: AppRepo,
    /// The system repository: only the product writes it.
    pub system: RepoRef,
    /// Settings of the generated Argo CD Applications.
    #[serde(default)]
    pub argocd: ArgoSettings,
    /// How this tier receives promotions.
    #[serde(default)]
    pub promotion: PromotionPolicy,
    /// Pin the tier to an app commit (rollback) instead of following its branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<TierPin>,
    /// How often the controller looks at this tier's app and configuration branches when no
    /// webhook told it (`30s`, `5m`, `1h`); absent: the controller's `--poll-seconds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]+[smh])+$"))]
    pub poll_interval: Option<String>,
    /// Guards on what one sync may do to the tier's branch.
    #[serde(default, skip_serializing_if = "Safety::is_default")]
    pub safety: Safety,
    /// Where the tier's routing table is applied (the edge's cluster and namespace): an Argo CD
    /// Application for `routing/` is generated beside the ShopSets' when the tier has shops.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing: Option<RoutingTarget>,
}

/// Where a tier's routing table is applied.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoutingTarget {
    /// The edge's cluster, as Argo CD knows it.
    pub destination: crate::failure_domain::Destination,
    /// The namespace of the edge router, where the table's ConfigMaps go.
    #[schemars(regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"), length(max = 63))]
    pub namespace: String,
}

impl TierSpec {
    /// The branch of this tier, given the Tier's name.
    #[must_use]
    pub fn branch_or<'a>(&'a self, name: &'a str) -> &'a str {
        self.branch.as_deref().unwrap_or(name)
    }
}

/// Guards on what one sync may do to a tier's branch. Both the controller and `shopctl` read
/// them from the Tier, so a sync by hand stops exactly where the controller's would.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Safety {
    /// The mass-removal stop: a sync that would remove more than `percent` of the tier's
    /// ShopSets and more than `count` of them (or more than half, or the last) writes nothing
    /// for the tier until a person confirms.
    #[serde(default)]
    pub max_removals: MaxRemovals,
    /// The mass-move stop: a sync that would start moving more than `percent` of one
    /// ShopSet's shops and more than `count` of them writes none of those moves until a person
    /// confirms (the Tier's `shopset.dev/confirm-moves` annotation names the batch).
    #[serde(default)]
    pub max_shop_moves: MaxShopMoves,
}

/// The limits of the mass-move stop.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MaxShopMoves {
    /// Share of one ShopSet's shops, in percent (default 50).
    #[serde(default = "default_max_move_percent")]
    #[schemars(range(max = 100))]
    pub percent: u32,
    /// Number of shops (default 1).
    #[serde(default = "default_max_move_count")]
    #[schemars(range(max = 1_000_000))]
    pub count: u32,
}

impl Default for MaxShopMoves {
    fn default() -> Self {
        Self {
            percent: default_max_move_percent(),
            count: default_max_move_count(),
        }
    }
}

const fn default_max_move_percent() -> u32 {
    50
}

const fn default_max_move_count() -> u32 {
    1
}

impl Safety {
    fn is_default(&self) -> bool {
        self == &Self::default()
    }
}

/// The limits of the mass-removal stop.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MaxRemovals {
    /// Share of the tier's ShopSets, in percent (default 10).
    #[serde(default = "default_max_removal_percent")]
    #[schemars(range(max = 100))]
    pub percent: u32,
    /// Number of ShopSets (default 2).
    #[serde(default = "default_max_removal_count")]
    #[schemars(range(max = 1_000_000))]
    pub count: u32,
}

impl Default for MaxRemovals {
    fn default() -> Self {
        Self {
            percent: default_max_removal_percent(),
            count: default_max_removal_count(),
        }
    }
}

fn default_max_removal_percent() -> u32 {
    10
}

fn default_max_removal_count() -> u32 {
    2
}

/// The app repository and where its base kustomization lives.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppRepo {
    /// Clone URL. Never put credentials in it: use `secretRef`.
    #[schemars(length(min = 1, max = 2048))]
    pub url: String,
    /// Directory of the base kustomization inside the app repository.
    #[serde(default = "default_app_path")]
    #[schemars(
        regex(pattern = r"^([A-Za-z0-9_][A-Za-z0-9._-]*)(/[A-Za-z0-9_][A-Za-z0-9._-]*)*$"),
        length(max = 1024)
    )]
    pub path: String,
    /// Secret holding the credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretRef>,
}

fn default_app_path() -> String {
    "kustomize".to_owned()
}

/// Settings of the Argo CD Applications generated for the tier.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ArgoSettings {
    /// Namespace of the Application objects (where Argo CD runs).
    #[serde(default = "default_argocd_namespace")]
    #[schemars(regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"), length(max = 63))]
    pub namespace: String,
    /// Argo CD project of the Applications.
    #[serde(default = "default_project")]
    #[schemars(length(min = 1, max = 253))]
    pub project: String,
    /// `spec.syncPolicy` of every ShopSet Application. Absent: automated, prune, self-heal,
    /// `CreateNamespace=true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::common::optional_free_object")]
    pub sync_policy: Option<serde_json::Value>,
    /// A JSON merge patch (RFC 7386) applied to every generated ShopSet Application. It may
    /// not change the fields that decide where and with which rights a ShopSet runs (see
    /// [`ProtectedField`]) unless `applicationPatchAllows` names them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::common::optional_free_object")]
    pub application_patch: Option<serde_json::Value>,
    /// The protected fields `applicationPatch` may change.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub application_patch_allows: Vec<ProtectedField>,
}

/// A field of a generated Application that decides where and with which rights its ShopSet
/// runs. `applicationPatch` may change it only when the Tier lists it in
/// `applicationPatchAllows`. (`metadata.name` is never patched: the Application lists and the
/// status name the Applications by their ShopSets.)
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, JsonSchema,
)]
pub enum ProtectedField {
    /// The namespace of the Application object (the Argo CD instance that applies it).
    #[serde(rename = "metadata.namespace")]
    MetadataNamespace,
    /// Finalizers (Argo CD's deletes the workloads with the Application).
    #[serde(rename = "metadata.finalizers")]
    MetadataFinalizers,
    /// The Argo CD project, and with it the rights.
    #[serde(rename = "spec.project")]
    Project,
    /// The cluster and namespace.
    #[serde(rename = "spec.destination")]
    Destination,
    /// The repository applied.
    #[serde(rename = "spec.source.repoURL")]
    SourceRepoUrl,
    /// The directory applied.
    #[serde(rename = "spec.source.path")]
    SourcePath,
    /// The branch applied (another tier's).
    #[serde(rename = "spec.source.targetRevision")]
    SourceTargetRevision,
    /// Several sources, which Argo CD prefers over `spec.source`.
    #[serde(rename = "spec.sources")]
    Sources,
}

impl ProtectedField {
    /// Every protected field, with `metadata.name`, which no Tier can allow, first.
    pub const ALL: [&'static str; 9] = [
        "metadata.name",
        "metadata.namespace",
        "metadata.finalizers",
        "spec.project",
        "spec.destination",
        "spec.source.repoURL",
        "spec.source.path",
        "spec.source.targetRevision",
        "spec.sources",
    ];

    /// The field's path, as written in `applicationPatchAllows`.
    #[must_use]
    pub fn path(self) -> &'static str {
        match self {
            Self::MetadataNamespace => Self::ALL[1],
            Self::MetadataFinalizers => Self::ALL[2],
            Self::Project => Self::ALL[3],
            Self::Destination => Self::ALL[4],
            Self::SourceRepoUrl => Self::ALL[5],
            Self::SourcePath => Self::ALL[6],
            Self::SourceTargetRevision => Self::ALL[7],
            Self::Sources => Self::ALL[8],
        }
    }
}

impl Default for ArgoSettings {
    fn default() -> Self {
        Self {
            namespace: default_argocd_namespace(),
            project: default_project(),
            sync_policy: None,
            application_patch: None,
            application_patch_allows: Vec::new(),
        }
    }
}

fn default_argocd_namespace() -> String {
    "argocd".to_owned()
}

fn default_project() -> String {
    "default".to_owned()
}

/// How a tier receives promotions.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromotionPolicy {
    /// Push the candidate commit to the tier branch, or open a pull request.
    #[serde(default)]
    pub mode: PromotionMode,
    /// Promote without a person when the gate holds.
    #[serde(default)]
    pub auto: bool,
    /// How long every ShopSet of the previous tier must stay synced and healthy (`30s`, `10m`,
    /// `1h30m`).
    #[serde(default = "default_soak")]
    #[schemars(regex(pattern = r"^([0-9]+[smh])+$"))]
    pub soak: String,
    /// A person must approve each candidate.
    #[serde(default)]
    pub require_approval: bool,
    /// Times when nothing is promoted into the tier, automatically or by hand.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub freeze_windows: Vec<FreezeWindow>,
    /// The pull request a promotion opens (pull-request mode). Title, body and labels may name
    /// `{{ from }}`, `{{ to }}`, `{{ commit }}`, `{{ short }}`, `{{ subject }}`,
    /// `{{ repository }}`, `{{ branch }}`, `{{ gate }}` and `{{ changes }}`; absent fields keep the
    /// defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<PullRequestTemplate>,
}

/// The title, body and labels of a promotion's pull request. Each may name `{{ from }}`,
/// `{{ to }}`, `{{ commit }}`, `{{ short }}` (12 characters), `{{ subject }}` (`app` or
/// `configuration`), `{{ repository }}`, `{{ branch }}`, `{{ gate }}` and `{{ changes }}` (the
/// commits it brings, a Markdown list); any other name is an
/// error reported before the pull request is opened.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PullRequestTemplate {
    /// Title (default `Promote {{ short }} from {{ from }} to {{ to }}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub title: Option<String>,
    /// Body, Markdown (default: the commit promoted, the gate, how to merge).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 65536))]
    pub body: Option<String>,
    /// Labels, replacing the default `shopset`, `promotion`, `{{ to }}` (empty: the defaults).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20), inner(length(min = 1, max = 256)))]
    pub labels: Vec<String>,
}

/// A recurring time when promotions stop: it opens at every time `schedule` names and lasts
/// `duration`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FreezeWindow {
    /// When it opens, in cron's five fields: minute, hour, day of month, month, day of week
    /// (`0 18 * * FRI`: Fridays at 18:00). Lists, ranges, steps and names are accepted.
    #[schemars(regex(pattern = r"^\S+( \S+){4}$"))]
    pub schedule: String,
    /// How long it lasts (`30m`, `64h`); at most 31 days.
    #[schemars(regex(pattern = r"^([0-9]+[smh])+$"))]
    pub duration: String,
    /// The IANA time zone the schedule is read in (default `UTC`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

impl Default for PromotionPolicy {
    fn default() -> Self {
        Self {
            mode: PromotionMode::Push,
            auto: false,
            soak: default_soak(),
            require_approval: false,
            freeze_windows: Vec::new(),
            pull_request: None,
        }
    }
}

fn default_soak() -> String {
    "10m".to_owned()
}

/// How a promotion reaches the tier branch.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum PromotionMode {
    /// Fast-forward push of the candidate commit.
    #[default]
    Push,
    /// A pull request into the tier branch.
    PullRequest,
}

/// A pin of the tier's app commit.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TierPin {
    /// The app commit the tier runs while pinned.
    #[schemars(regex(pattern = r"^[0-9a-f]{40}$"))]
    pub app_commit: String,
    /// Why it was pinned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub reason: Option<String>,
}

/// What the controller observed of the tier.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TierStatus {
    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// App commit at the tip of the tier branch (or the pin).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_commit: Option<String>,
    /// System commit last pushed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_commit: Option<String>,
    /// ShopSets rendered on this tier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shop_sets: Option<i32>,
    /// ShopSets Argo CD reports synced at the system commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synced: Option<i32>,
    /// ShopSets Argo CD reports healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy: Option<i32>,
    /// Whether the tier's candidate may be promoted to the next tier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promotable: Option<bool>,
    /// Standard conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}
