//! `PreviewPolicy`: a preview ShopSet for every pull request that asks for one, on a system
//! branch of its own, removed only on positive evidence (DESIGN: previews).

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{Condition, SecretRef};

/// Where pull requests come from, which tier's settings a preview takes, and how long it
/// lives. Each preview is a ShopSet `pr-<number>` rendered on the system branch
/// `preview/pr-<number>` of the tier's system repository, its `base` gitlink the pull
/// request's head commit; the tier branches and their pins are never touched.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "shopset.dev",
    version = "v1alpha1",
    kind = "PreviewPolicy",
    namespaced,
    status = "PreviewPolicyStatus",
    shortname = "pvp",
    category = "shopset",
    printcolumn = r#"{"name":"Tier","type":"string","jsonPath":".spec.tier"}"#,
    printcolumn = r#"{"name":"Previews","type":"integer","jsonPath":".status.count"}"#,
    printcolumn = r#"{"name":"Max","type":"integer","jsonPath":".spec.maxPreviews"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    validation = Rule::new("self.metadata.name.size() <= 63 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')").message("a PreviewPolicy name is a DNS label: it is recorded in the preview branches"),
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.host.contains('{{number}}')").message("host must contain {{number}}: each preview needs a host of its own"))]
pub struct PreviewPolicySpec {
    /// The Tier whose settings (app path, system repository, Argo CD settings) a preview
    /// takes; its configuration is read at this tier's branch.
    #[schemars(regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"), length(max = 63))]
    pub tier: String,
    /// Where pull requests come from.
    pub source: PreviewSource,
    /// The Configuration of every preview.
    #[schemars(regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"), length(max = 63))]
    pub configuration: String,
    /// The failure domain previews go to (absent: placed as any ShopSet is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"), length(max = 63))]
    pub failure_domain: Option<String>,
    /// The preview's host, `{{number}}` standing for the pull request's number
    /// (`pr-{{number}}.preview.example.com`).
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^[a-z0-9{}.-]+$"))]
    pub host: String,
    /// How long a preview lives after its first deploy (`72h`).
    #[serde(default = "default_ttl")]
    #[schemars(regex(pattern = r"^([0-9]+[smh])+$"))]
    pub ttl: String,
    /// How long a preview lives after the last push to its pull request (`24h`).
    #[serde(default = "default_idle")]
    #[schemars(regex(pattern = r"^([0-9]+[smh])+$"))]
    pub idle_ttl: String,
    /// How much longer a preview lives while its pull request carries the keep label.
    #[serde(default = "default_keep_for")]
    #[schemars(regex(pattern = r"^([0-9]+[smh])+$"))]
    pub keep_for: String,
    /// The label that keeps a preview longer (`keepFor` more than its time to live and idle
    /// time).
    #[serde(default = "default_keep_label")]
    #[schemars(length(min = 1, max = 50))]
    pub keep_label: String,
    /// Scale a preview to zero after this long without a push (`2h`): every Deployment and
    /// StatefulSet at 0 replicas, every CronJob suspended, until the next push (or `shopctl
    /// preview up` by hand). Absent: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]+[smh])+$"))]
    pub sleep_after: Option<String>,
    /// The most previews at once; a new one evicts the most idle.
    #[serde(default = "default_max")]
    #[schemars(range(min = 1, max = 1000))]
    pub max_previews: u32,
    /// The most previews one poll removes (expired or evicted; closed pull requests too):
    /// the previews' own removal budget, apart from the tiers' mass-removal stop.
    #[serde(default = "default_removals")]
    #[schemars(range(min = 1, max = 1000))]
    pub max_removals_per_poll: u32,
    /// Leave a tag `archive/preview/pr-<number>` at the branch's last commit when it is
    /// deleted.
    #[serde(default)]
    pub archive: bool,
    /// Keep one comment on the pull request with the URL, the commit, Argo CD's state and
    /// the expiry, edited on every change.
    #[serde(default = "yes")]
    pub comment: bool,
}

/// Where pull requests come from.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreviewSource {
    /// A GitHub repository.
    pub github: GitHubSource,
    /// How often GitHub is asked when no `pull_request` webhook told the controller (`5m`).
    #[serde(default = "default_poll")]
    #[schemars(regex(pattern = r"^([0-9]+[smh])+$"))]
    pub poll_interval: String,
}

/// A GitHub repository's pull requests.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitHubSource {
    /// The repository (`https://github.com/acme/shop-app`); usually the Tier's app repository.
    #[schemars(length(min = 1, max = 2048))]
    pub repository: String,
    /// Labels a pull request must all carry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(length(min = 1, max = 50)))]
    pub labels: Vec<String>,
    /// Only pull requests into this branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub base_branch: Option<String>,
    /// Secret holding the API token (`token`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretRef>,
}

/// What the controller last saw of its previews.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreviewPolicyStatus {
    /// How many previews exist.
    #[serde(default)]
    pub count: u32,
    /// The previews, by number.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previews: Vec<PreviewEntry>,
    /// `Ready` (GitHub answered at the last poll) and `PollFailed`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// One preview as its status shows it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreviewEntry {
    /// The pull request's number.
    pub number: u64,
    /// The commit deployed.
    pub head_sha: String,
    /// The preview's URL.
    pub url: String,
    /// The pull request's page.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pull_request: String,
    /// When it is removed unless its pull request moves or is kept (RFC 3339).
    pub expires_at: String,
    /// `Deploying`, `Ready`, `Asleep`, `Removing`.
    pub phase: String,
    /// Why it is being removed, when it is.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

fn default_ttl() -> String {
    "72h".to_owned()
}

fn default_idle() -> String {
    "24h".to_owned()
}

fn default_keep_for() -> String {
    "168h".to_owned()
}

fn default_keep_label() -> String {
    "preview-keep".to_owned()
}

fn default_poll() -> String {
    "5m".to_owned()
}

const fn default_max() -> u32 {
    20
}

const fn default_removals() -> u32 {
    10
}

const fn yes() -> bool {
    true
}

/// The ShopSet of preview `number`: `pr-<number>`.
#[must_use]
pub fn preview_name(number: u64) -> String {
    format!("pr-{number}")
}

/// The (synthetic) tier of preview `number`, which names its root Application
/// `shopset-preview-pr-<number>`: `preview-pr-<number>`.
#[must_use]
pub fn preview_tier(number: u64) -> String {
    format!("preview-{}", preview_name(number))
}

/// The system branch of preview `number`: `preview/pr-<number>`.
#[must_use]
pub fn preview_branch(number: u64) -> String {
    format!("{BRANCH_PREFIX}{}", preview_name(number))
}

/// Every preview branch starts with this; a Tier's branch never does.
pub const BRANCH_PREFIX: &str = "preview/";

/// The host of preview `number`: the pattern with `{{number}}` filled in.
#[must_use]
pub fn preview_host(pattern: &str, number: u64) -> String {
    pattern.replace("{{number}}", &number.to_string())
}
