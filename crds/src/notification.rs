//! `NotificationPolicy`: where messages about rollouts, promotions and the rest go, and which
//! ones (DESIGN: notifications).
//!
//! The unit of a rollout message is the tier and the app and configuration commits it rolls
//! out: one message when it starts, updated in place as ShopSets catch up, one when it ends.
//! What was sent is recorded in the status, so a restart or another replica sends nothing
//! twice.

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{Condition, SecretRef};

/// Channels (Slack, a webhook, GitHub commit statuses) and the rules that say which events go
/// to which channel.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "shopset.dev",
    version = "v1alpha1",
    kind = "NotificationPolicy",
    namespaced,
    status = "NotificationPolicyStatus",
    shortname = "ntp",
    category = "shopset",
    printcolumn = r#"{"name":"Channels","type":"integer","jsonPath":".spec.channels.length()"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct NotificationPolicySpec {
    /// Where messages go.
    #[schemars(length(min = 1, max = 50))]
    pub channels: Vec<NotificationChannel>,
    /// Which events go where. An event no rule takes is not sent.
    #[schemars(length(max = 100))]
    pub rules: Vec<NotificationRule>,
}

/// One channel: exactly one of `slack`, `webhook`, `github`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("[has(self.slack), has(self.webhook), has(self.github)].filter(x, x).size() == 1").message("a channel is exactly one of slack, webhook, github"))]
pub struct NotificationChannel {
    /// Its name, which rules and `shopctl notify test` use.
    #[schemars(regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"), length(max = 63))]
    pub name: String,
    /// A Slack channel, through Slack's Web API (`chat.postMessage`, `chat.update`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack: Option<SlackChannel>,
    /// A URL that receives each message as JSON in a POST, signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookChannel>,
    /// Commit statuses on the app repository's commit (and the configuration commits),
    /// context `shopset/<tier>`. Takes rollout events only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github: Option<GitHubChannel>,
}

/// A Slack channel.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SlackChannel {
    /// The channel's id or name (`C0123456789`, `#releases`).
    #[schemars(length(min = 1, max = 80))]
    pub channel: String,
    /// The Secret holding the bot token under the key `token`.
    pub secret_ref: SecretRef,
    /// Slack's Web API (default `https://slack.com/api`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^https?://"))]
    pub api: Option<String>,
}

/// A webhook.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookChannel {
    /// Where each message is posted.
    #[schemars(regex(pattern = r"^https?://"), length(max = 2048))]
    pub url: String,
    /// The Secret holding the signing key under the key `secret`: each request carries
    /// `X-Shopset-Signature-256: sha256=<hex HMAC-SHA256 of the body>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretRef>,
}

/// GitHub commit statuses.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitHubChannel {
    /// The Secret holding a token under the key `token`.
    pub secret_ref: SecretRef,
    /// GitHub's API (default `https://api.github.com`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^https?://"))]
    pub api: Option<String>,
    /// The page each status links to (a dashboard); `{{tier}}` is replaced by the tier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub target_url: Option<String>,
}

/// Which events go to which channels.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationRule {
    /// The channels, by name.
    #[schemars(length(min = 1))]
    pub channels: Vec<String>,
    /// Only these tiers (empty: every tier).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tiers: Vec<String>,
    /// Only events about these ShopSets, or rollouts they take part in (empty: all). A name
    /// ending in `*` is a prefix.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shop_sets: Vec<String>,
    /// Only these events (empty: every event): `rollout.started`, `rollout.succeeded`,
    /// `rollout.failed`, `promotion.started`, `promotion.succeeded`, `promotion.failed`,
    /// `promotion.blocked`, `approval.required`, `freeze.started`, `removals.waiting`,
    /// `rollback`, `shop.moved`, `migration.step`, `preview.ready`, `preview.expiring`;
    /// `rollout.*` and the like name a family.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<String>,
    /// The least severity sent (`info`, `warning`, `error`).
    #[serde(default)]
    pub severity: Severity,
}

/// How much an event needs a person.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum Severity {
    /// For the record.
    #[default]
    Info,
    /// Someone may have to act.
    Warning,
    /// Something failed.
    Error,
}

/// What was sent: the record that keeps each message to once.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationPolicyStatus {
    /// The rollouts followed, the newest last (bounded per tier).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rollouts: Vec<RolloutRecord>,
    /// The messages sent, the newest last (bounded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sent: Vec<SentMessage>,
    /// Deliveries that failed after their retries, since the policy was created.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failed_deliveries: u64,
    /// Ready: the last deliveries went through.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A rollout: a tier, the app and configuration commits it rolls out, and the system commits
/// that carry them.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutRecord {
    /// Its id: `<tier>@<app commit, 12>`, then `+<configuration commits' digest, 8>` and
    /// `#<first system commit, 8>`.
    pub id: String,
    /// The tier.
    pub tier: String,
    /// The app commit.
    pub app_commit: String,
    /// The configuration commits, by Configuration.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub configurations: std::collections::BTreeMap<String, String>,
    /// The system commit before it (absent: the branch was new).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The last system commit of it.
    pub to: String,
    /// `Progressing`, `Succeeded`, `Failed` or `Superseded`.
    pub phase: String,
    /// The ShopSets whose rendering it changed.
    pub shop_sets: u32,
    /// Their names, when there are at most 1,000 of them (otherwise empty, and every ShopSet
    /// of the tier counts as part of it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
    /// Of them, Synced and Healthy at `to`.
    #[serde(default)]
    pub done: u32,
    /// Of them, Degraded.
    #[serde(default)]
    pub degraded: u32,
}

/// One message sent.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SentMessage {
    /// What it is about (`rollout/<id>`, `promotion.blocked/<tier>/<digest>`...).
    pub key: String,
    /// The channel.
    pub channel: String,
    /// The channel's id of the message, to update it (Slack: `<channel id>/<ts>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// A digest of what it said: a message is updated only when this changes.
    pub digest: String,
    /// When.
    pub at: String,
}
