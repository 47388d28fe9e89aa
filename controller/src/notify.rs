//! Notifications, after each batch: what the batch did (commits, ShopSets' progress, gates,
//! removals waiting, events) becomes the engine's messages, which go to each
//! NotificationPolicy's channels ([`shopset_engine::ops::notify`]); the policies' records go
//! back to the backend as their status. Delivery runs off the async threads, after the
//! promotions: a channel that is down delays the next batch by its retries, and never stops
//! a promotion or a sync.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use shopset_crds::conditions::types;
use shopset_crds::{NotificationPolicySpec, NotificationPolicyStatus, ShopSetStatus, TierStatus};
use shopset_engine::ops::notify::{self, Committed, Message, Progress, StatusTarget, TierFacts};
use shopset_engine::{Resources, TierOutcome, TierResult};

use crate::metrics::Metrics;
use crate::reconcile::{Note, Report};

/// What the notifier keeps between batches: each policy's record, as last written.
#[derive(Default)]
struct State {
    loaded: bool,
    records: BTreeMap<String, NotificationPolicyStatus>,
}

/// The controller's notifier.
#[derive(Default)]
pub struct Notifier {
    state: Mutex<State>,
    /// Where mounted Secrets are: `<dir>/<name>/<key>`.
    pub secrets_dir: Option<PathBuf>,
    /// How hard each delivery tries.
    pub retry: notify::Retry,
}

/// What a batch tells the notifier, gathered while the batch still holds the resources.
pub struct Input {
    policies: BTreeMap<String, NotificationPolicySpec>,
    facts: Vec<TierFacts>,
    messages: Vec<Message>,
    /// The tier of each ShopSet and PreviewPolicy, for the events about them.
    tier_of: BTreeMap<(&'static str, String), String>,
}

impl Input {
    /// `None` when no NotificationPolicy exists (nothing is gathered then). `synced` are this
    /// batch's results (their commits start rollouts), `results` every tier's last one,
    /// `shop_sets` the ShopSets' statuses as the batch leaves them.
    #[must_use]
    pub fn new(
        resources: &Resources,
        synced: &[TierResult],
        results: &[TierResult],
        shop_sets: &BTreeMap<String, ShopSetStatus>,
    ) -> Option<Self> {
        if resources.notification_policies.is_empty() {
            return None;
        }
        let mut facts = Vec::new();
        let mut messages = Vec::new();
        for result in results {
            let plan = &result.plan;
            let tier = &plan.tier;
            let Some(spec) = resources.tiers.get(tier) else {
                continue;
            };
            let committed =
                synced
                    .iter()
                    .find(|r| r.plan.tier == *tier)
                    .and_then(|r| match &r.outcome {
                        TierOutcome::Committed { parent, commit } => {
                            let s = &r.plan.summary;
                            // A new base changes what every ShopSet deploys.
                            let changed: Vec<String> = if s.base_from.is_some() || parent.is_none()
                            {
                                r.plan.inputs.shop_sets.keys().cloned().collect()
                            } else {
                                s.added.iter().chain(&s.changed).cloned().collect()
                            };
                            Some(Committed {
                                from: parent.clone(),
                                to: commit.clone(),
                                changed,
                            })
                        }
                        TierOutcome::Blocked { reason } => {
                            messages.push(notify::removals_message(tier, reason));
                            None
                        }
                        _ => None,
                    });
            let progress = plan
                .inputs
                .shop_sets
                .keys()
                .map(|name| {
                    let s = shop_sets.get(name);
                    let synced = s.is_some_and(|s| {
                        s.conditions
                            .iter()
                            .any(|c| c.type_ == types::SYNCED && c.status == "True")
                    });
                    let health = s.and_then(|s| s.health.as_deref());
                    let p = Progress {
                        synced,
                        healthy: health == Some("Healthy"),
                        degraded: synced && health == Some("Degraded"),
                    };
                    (name.clone(), p)
                })
                .collect();
            facts.push(TierFacts {
                tier: tier.clone(),
                app_commit: plan.inputs.app_commit.clone(),
                app_url: spec.spec.app.url.clone(),
                configurations: plan
                    .inputs
                    .configurations
                    .iter()
                    .filter_map(|(name, c)| {
                        let source = c.source.as_ref()?;
                        Some((
                            name.clone(),
                            StatusTarget {
                                url: source.url.clone(),
                                commit: source.commit.clone(),
                            },
                        ))
                    })
                    .collect(),
                committed,
                pinned: spec.spec.pin.as_ref().map(|p| p.app_commit.clone()),
                shop_sets: progress,
            });
        }
        let mut tier_of = BTreeMap::new();
        for (name, s) in &resources.shop_sets {
            tier_of.insert(("ShopSet", name.clone()), s.spec.tier.clone());
        }
        for (name, p) in &resources.preview_policies {
            tier_of.insert(("PreviewPolicy", name.clone()), p.spec.tier.clone());
        }
        Some(Self {
            policies: resources
                .notification_policies
                .iter()
                .map(|(k, v)| (k.clone(), v.spec.clone()))
                .collect(),
            facts,
            messages,
            tier_of,
        })
    }

    /// The gates as the batch judged them: a Promotable condition that does not hold names
    /// why (approval, freeze, hold).
    pub fn gates(&mut self, tiers: &BTreeMap<String, TierStatus>) {
        for (tier, status) in tiers {
            if let Some(c) = status
                .conditions
                .iter()
                .find(|c| c.type_ == types::PROMOTABLE && c.status == "False")
            {
                self.messages
                    .extend(notify::gate_messages(tier, &c.message));
            }
        }
    }
}

impl Notifier {
    /// Sends what `input` and the batch's events say, to every policy's channels, and puts
    /// the records that changed into `report`. `stored` are the records as the backend holds
    /// them: read once, at the first batch (a restart picks up where the last process was).
    pub async fn run(
        &self,
        mut input: Input,
        stored: BTreeMap<String, NotificationPolicyStatus>,
        report: &mut Report,
        metrics: &Metrics,
        now: &Time,
    ) {
        let at = now.0.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
        for note in &report.notes {
            let tier = match note.kind {
                "Tier" => Some(note.name.clone()),
                kind => input.tier_of.get(&(kind, note.name.clone())).cloned(),
            };
            let kind = note.kind;
            if let Some(m) = notify::from_note(
                kind,
                &note.name,
                &note.reason,
                &note.message,
                tier.as_deref(),
                &at,
            ) {
                input.messages.push(m);
            }
        }
        let mut records = {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            if !state.loaded {
                state.loaded = true;
                state.records = stored;
            }
            state.records.clone()
        };
        let secrets_dir = self.secrets_dir.clone();
        let retry = self.retry;
        let joined = tokio::task::spawn_blocking(move || {
            let secrets = move |name: &str, key: &str| {
                let dir = secrets_dir.as_ref()?;
                std::fs::read_to_string(dir.join(name).join(key))
                    .ok()
                    .map(|t| shopset_git::Secret::new(t.trim().to_owned()))
            };
            let mut out = Vec::new();
            for (name, spec) in &input.policies {
                let record = records.entry(name.clone()).or_default();
                let before = record.clone();
                let mut messages = notify::track(record, &input.facts);
                messages.extend(input.messages.iter().cloned());
                let delivered = notify::deliver(spec, record, &messages, &secrets, &retry, &at);
                out.push((name.clone(), before, delivered));
            }
            (records, out)
        })
        .await;
        let Ok((records, out)) = joined else {
            report.problems.push(shopset_engine::Problem::general(
                "the notification task panicked",
            ));
            return;
        };
        for (name, before, delivered) in out {
            for s in &delivered.sent {
                metrics.notification(&s.channel, "sent");
            }
            for f in &delivered.failed {
                metrics.notification(&f.channel, "failed");
                report.notes.push(Note {
                    kind: "NotificationPolicy",
                    name: name.clone(),
                    warning: true,
                    reason: "NotificationFailed".into(),
                    message: format!("{} to {}: {}", f.key, f.channel, f.error),
                });
            }
            let Some(mut record) = records.get(&name).cloned() else {
                continue;
            };
            if !delivered.sent.is_empty() || !delivered.failed.is_empty() {
                let ok = delivered.failed.is_empty();
                let message = delivered.failed.first().map_or_else(
                    || format!("{} messages delivered", delivered.sent.len()),
                    |f| format!("{}: {}", f.channel, f.error),
                );
                record.conditions = vec![shopset_crds::Condition {
                    type_: "Ready".into(),
                    status: if ok { "True" } else { "False" }.into(),
                    reason: if ok { "Delivered" } else { "DeliveryFailed" }.into(),
                    message: message.chars().take(1000).collect(),
                    last_transition_time: now.clone(),
                    observed_generation: None,
                }];
            }
            if record != before {
                report.notifications.insert(name.clone(), record);
            }
        }
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.records = records;
        for (name, r) in &report.notifications {
            state.records.insert(name.clone(), r.clone());
        }
    }
}
