//! Notifications: what happened (events), which channel hears of it (a NotificationPolicy's
//! rules), and what was already said (the policy's record). Pure, apart from
//! [`deliver`], which sends.
//!
//! **The unit of a rollout is the tier and the app and configuration commits it rolls out**
//! ([`track`]). A commit that changes the rendering of some ShopSets starts one, naming only
//! them; later commits with the same app and configuration commits join it; it ends when
//! every ShopSet in it is Synced and Healthy at the tier's tip (succeeded) or one is Degraded
//! (failed). Its messages share one key, so Slack shows one message edited in place, a
//! webhook hears "started" once and the outcome once, and GitHub sees one commit status move
//! from pending to success or failure.
//!
//! **Each message is sent once**: a message goes to a channel only when the record holds
//! nothing for its key there, or something else (its digest differs). The record is the
//! policy's status, so a restart or another replica reads it back.

pub mod deliver;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use sha2::{Digest as _, Sha256};
use shopset_crds::{
    NotificationChannel, NotificationPolicySpec, NotificationPolicyStatus, RolloutRecord,
    SentMessage, Severity,
};

pub use deliver::{Delivered, Failure, Retry, Secrets, deliver, test};

/// The events, by name, in the order the error messages list them.
pub const EVENTS: [&str; 15] = [
    "rollout.started",
    "rollout.succeeded",
    "rollout.failed",
    "promotion.started",
    "promotion.succeeded",
    "promotion.failed",
    "promotion.blocked",
    "approval.required",
    "freeze.started",
    "removals.waiting",
    "rollback",
    "shop.moved",
    "migration.step",
    "preview.ready",
    "preview.expiring",
];

/// The rollouts kept in the record per tier (the newest).
pub const KEPT_ROLLOUTS: usize = 5;
/// The messages kept in the record (the newest).
pub const KEPT_SENT: usize = 500;
/// The ShopSets a rollout's record names; a rollout over more counts every ShopSet of its
/// tier as part of it.
pub const NAMED_SHOP_SETS: usize = 1000;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Event {
    /// A commit changed some ShopSets' rendering.
    RolloutStarted,
    /// Every ShopSet of a rollout is Synced and Healthy at the tier's tip.
    RolloutSucceeded,
    /// A ShopSet of a rollout is Degraded.
    RolloutFailed,
    /// An automatic promotion begins (the gate into a tier holds for a new candidate).
    PromotionStarted,
    /// A tier was promoted.
    PromotionSucceeded,
    /// An automatic promotion failed.
    PromotionFailed,
    /// A promotion's gate stopped holding (not for soak time alone).
    PromotionBlocked,
    /// A candidate waits for a person's approval.
    ApprovalRequired,
    /// A tier's promotions stopped for a freeze window.
    FreezeStarted,
    /// A sync waits for a person to confirm its removals.
    RemovalsWaiting,
    /// A tier rolls out the app commit it is pinned to (`shopctl rollback`).
    Rollback,
    /// A shop moves to another ShopSet.
    ShopMoved,
    /// A Migration moved a ShopSet one phase.
    MigrationStep,
    /// A preview is deployed.
    PreviewReady,
    /// A preview is being removed.
    PreviewExpiring,
}

impl Event {
    /// Its name ([`EVENTS`]).
    #[must_use]
    pub fn name(self) -> &'static str {
        EVENTS[self as usize]
    }

    /// How much it needs a person.
    #[must_use]
    pub fn severity(self) -> Severity {
        match self {
            Self::RolloutFailed | Self::PromotionFailed => Severity::Error,
            Self::PromotionBlocked
            | Self::ApprovalRequired
            | Self::RemovalsWaiting
            | Self::Rollback => Severity::Warning,
            _ => Severity::Info,
        }
    }

    /// Whether `pattern` (a rule's `events` entry) names this event: its name, its family
    /// (`rollout.*`) or `*`.
    #[must_use]
    pub fn matches(self, pattern: &str) -> bool {
        let name = self.name();
        pattern == "*"
            || pattern == name
            || pattern
                .strip_suffix(".*")
                .is_some_and(|family| name.split('.').next() == Some(family))
    }

    /// Whether `pattern` names any event (a rule with a typo is refused).
    #[must_use]
    pub fn matches_any(pattern: &str) -> bool {
        ALL.iter().any(|e| e.matches(pattern))
    }
}

const ALL: [Event; 15] = [
    Event::RolloutStarted,
    Event::RolloutSucceeded,
    Event::RolloutFailed,
    Event::PromotionStarted,
    Event::PromotionSucceeded,
    Event::PromotionFailed,
    Event::PromotionBlocked,
    Event::ApprovalRequired,
    Event::FreezeStarted,
    Event::RemovalsWaiting,
    Event::Rollback,
    Event::ShopMoved,
    Event::MigrationStep,
    Event::PreviewReady,
    Event::PreviewExpiring,
];

/// A commit whose status GitHub shows: a repository and a commit in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusTarget {
    /// The repository's URL.
    pub url: String,
    /// The commit.
    pub commit: String,
}

/// One message about one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// What happened.
    pub event: Event,
    /// What it is about: messages with one key are one message, edited in place where the
    /// channel can.
    pub key: String,
    /// The tier, when it is about one.
    pub tier: Option<String>,
    /// The ShopSets it is about (for a rollout, those in it; empty: none in particular).
    pub shop_sets: Vec<String>,
    /// One line.
    pub title: String,
    /// The rest (may be empty).
    pub text: String,
    /// For a rollout: the commits GitHub statuses go on.
    pub commits: Vec<StatusTarget>,
    /// For a rollout: the state of those commit statuses (`pending`, `success`, `failure`;
    /// `error` when superseded).
    pub status: Option<&'static str>,
}

impl Message {
    /// The state of a GitHub commit status for this message, when it has one.
    #[must_use]
    pub fn github_state(&self) -> Option<&'static str> {
        self.status
    }

    /// What decides whether a channel already has this message: Slack shows the text (an
    /// edit when it changes), a webhook hears each event once, GitHub each state once.
    #[must_use]
    pub fn digest_for(&self, channel: &NotificationChannel) -> String {
        if channel.slack.is_some() {
            digest(&format!("{}\n{}", self.title, self.text))
        } else if channel.github.is_some() {
            self.status.unwrap_or_default().to_owned()
        } else {
            self.event.name().to_owned()
        }
    }
}

/// The first 16 hexadecimal digits of the SHA-256 of `text`.
#[must_use]
pub fn digest(text: &str) -> String {
    let hash = Sha256::digest(text.as_bytes());
    let mut out = String::with_capacity(16);
    for b in &hash[..8] {
        let _ = write!(out, "{b:02x}");
    }
    out
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

/// Whether a rule's ShopSet pattern takes `name` (a trailing `*` is a prefix).
fn name_matches(pattern: &str, name: &str) -> bool {
    pattern
        .strip_suffix('*')
        .map_or(pattern == name, |prefix| name.starts_with(prefix))
}

/// The channels of `spec` that take `message`, each once, in the order the policy lists them.
#[must_use]
pub fn route<'a>(
    spec: &'a NotificationPolicySpec,
    message: &Message,
) -> Vec<&'a NotificationChannel> {
    let mut names = BTreeSet::new();
    for rule in &spec.rules {
        if message.event.severity() < rule.severity {
            continue;
        }
        if !rule.events.is_empty() && !rule.events.iter().any(|p| message.event.matches(p)) {
            continue;
        }
        if !rule.tiers.is_empty()
            && !message
                .tier
                .as_ref()
                .is_some_and(|t| rule.tiers.iter().any(|r| r == t))
        {
            continue;
        }
        if !rule.shop_sets.is_empty()
            && !message
                .shop_sets
                .iter()
                .any(|s| rule.shop_sets.iter().any(|p| name_matches(p, s)))
        {
            continue;
        }
        names.extend(rule.channels.iter().map(String::as_str));
    }
    spec.channels
        .iter()
        .filter(|c| names.contains(c.name.as_str()))
        // GitHub statuses say how a rollout goes, nothing else.
        .filter(|c| c.github.is_none() || message.github_state().is_some())
        .collect()
}

/// One ShopSet as the batch sees it after its sync.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Argo CD synced it at the tier's tip.
    pub synced: bool,
    /// Argo CD says Healthy.
    pub healthy: bool,
    /// Argo CD says Degraded.
    pub degraded: bool,
}

/// A commit a sync made to a tier branch.
#[derive(Debug, Clone, Default)]
pub struct Committed {
    /// The tip before (absent: a new branch).
    pub from: Option<String>,
    /// The new tip.
    pub to: String,
    /// The ShopSets whose rendering it changed (added ones too).
    pub changed: Vec<String>,
}

/// A tier as one batch leaves it.
#[derive(Debug, Clone, Default)]
pub struct TierFacts {
    /// The tier.
    pub tier: String,
    /// The app commit it renders.
    pub app_commit: String,
    /// The app repository's URL.
    pub app_url: String,
    /// The configuration commits, by Configuration, with their repositories' URLs.
    pub configurations: BTreeMap<String, StatusTarget>,
    /// The commit this batch made, if it made one.
    pub committed: Option<Committed>,
    /// The app commit it is pinned to (a rollback), if it is.
    pub pinned: Option<String>,
    /// Its ShopSets.
    pub shop_sets: BTreeMap<String, Progress>,
}

/// Follows each tier's rollout through one batch: starts one for a commit that changed
/// ShopSets under new app or configuration commits, lets a later commit join the one under
/// way, counts its ShopSets and ends it. Returns the rollouts' messages (one per rollout
/// under way or ended in this batch: [`deliver`] sends only what changed).
pub fn track(record: &mut NotificationPolicyStatus, facts: &[TierFacts]) -> Vec<Message> {
    let mut out = Vec::new();
    for f in facts {
        let configurations: BTreeMap<String, String> = f
            .configurations
            .iter()
            .map(|(k, v)| (k.clone(), v.commit.clone()))
            .collect();
        let open = record
            .rollouts
            .iter()
            .rposition(|r| r.tier == f.tier && r.phase == "Progressing");
        let mut rollback = false;
        if let Some(c) = f.committed.as_ref().filter(|c| !c.changed.is_empty()) {
            let same = open.is_some_and(|i| {
                let r = &record.rollouts[i];
                r.app_commit == f.app_commit && r.configurations == configurations
            });
            if same {
                let r = &mut record.rollouts[open.unwrap_or_default()];
                r.to.clone_from(&c.to);
                let named = !r.members.is_empty();
                let mut all: BTreeSet<String> = r.members.drain(..).collect();
                all.extend(c.changed.iter().cloned());
                r.shop_sets = count(all.len()).max(r.shop_sets);
                if named && all.len() <= NAMED_SHOP_SETS {
                    r.members.extend(all);
                }
            } else {
                if let Some(i) = open {
                    let old = &mut record.rollouts[i];
                    old.phase = "Superseded".into();
                    let old = old.clone();
                    out.push(rollout_message(&old, f, &members_of(&old, f)));
                }
                let mut id = format!("{}@{}", f.tier, short(&f.app_commit));
                if !configurations.is_empty() {
                    let joined: Vec<String> = configurations
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect();
                    let _ = write!(id, "+{}", &digest(&joined.join(","))[..8]);
                }
                let _ = write!(id, "#{}", c.to.get(..8).unwrap_or(&c.to));
                let changed: BTreeSet<String> = c.changed.iter().cloned().collect();
                rollback = f.pinned.as_deref() == Some(f.app_commit.as_str());
                record.rollouts.push(RolloutRecord {
                    id: id.clone(),
                    tier: f.tier.clone(),
                    app_commit: f.app_commit.clone(),
                    configurations: configurations.clone(),
                    from: c.from.clone(),
                    to: c.to.clone(),
                    phase: "Progressing".into(),
                    shop_sets: count(changed.len()),
                    members: if changed.len() <= NAMED_SHOP_SETS {
                        changed.into_iter().collect()
                    } else {
                        Vec::new()
                    },
                    done: 0,
                    degraded: 0,
                });
            }
        }
        let Some(i) = record
            .rollouts
            .iter()
            .rposition(|r| r.tier == f.tier && r.phase == "Progressing")
        else {
            continue;
        };
        let names = members_of(&record.rollouts[i], f);
        let r = &mut record.rollouts[i];
        let states: Vec<Progress> = names
            .iter()
            // A ShopSet gone since is not waited for.
            .map(|n| {
                f.shop_sets.get(n).copied().unwrap_or(Progress {
                    synced: true,
                    healthy: true,
                    degraded: false,
                })
            })
            .collect();
        r.done = count(states.iter().filter(|p| p.synced && p.healthy).count());
        r.degraded = count(states.iter().filter(|p| p.degraded).count());
        if r.degraded > 0 {
            r.phase = "Failed".into();
        } else if r.done as usize == states.len() {
            r.phase = "Succeeded".into();
        }
        let r = r.clone();
        if rollback {
            out.push(Message {
                event: Event::Rollback,
                key: format!("rollback/{}", r.id),
                tier: Some(f.tier.clone()),
                shop_sets: names.clone(),
                title: format!(
                    "{}: rolling back to app {} (pinned)",
                    f.tier,
                    short(&f.app_commit)
                ),
                text: String::new(),
                commits: Vec::new(),
                status: None,
            });
        }
        out.push(rollout_message(&r, f, &names));
    }
    bound_rollouts(record);
    out
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The ShopSets of a rollout: those its record names, or every ShopSet of the tier when it
/// was too large to name them.
fn members_of(r: &RolloutRecord, f: &TierFacts) -> Vec<String> {
    if r.members.is_empty() {
        f.shop_sets.keys().cloned().collect()
    } else {
        r.members.clone()
    }
}

fn bound_rollouts(record: &mut NotificationPolicyStatus) {
    let mut per_tier: BTreeMap<String, usize> = BTreeMap::new();
    let mut keep = vec![true; record.rollouts.len()];
    for (i, r) in record.rollouts.iter().enumerate().rev() {
        let n = per_tier.entry(r.tier.clone()).or_default();
        *n += 1;
        keep[i] = *n <= KEPT_ROLLOUTS || r.phase == "Progressing";
    }
    let mut i = 0;
    record.rollouts.retain(|_| {
        i += 1;
        keep[i - 1]
    });
}

/// The message of a rollout in its current phase.
fn rollout_message(r: &RolloutRecord, f: &TierFacts, names: &[String]) -> Message {
    let event = match r.phase.as_str() {
        "Succeeded" => Event::RolloutSucceeded,
        "Failed" => Event::RolloutFailed,
        _ => Event::RolloutStarted,
    };
    let what = {
        let mut s = format!("app {}", short(&r.app_commit));
        for (name, commit) in &r.configurations {
            let _ = write!(s, ", {name} {}", short(commit));
        }
        s
    };
    let title = match r.phase.as_str() {
        "Succeeded" => format!("{}: rolled out {what} to {} ShopSets", r.tier, r.shop_sets),
        "Failed" => format!(
            "{}: rollout of {what} failed: {} of {} ShopSets degraded",
            r.tier, r.degraded, r.shop_sets
        ),
        "Superseded" => format!(
            "{}: rollout of {what} superseded ({} of {} ShopSets done)",
            r.tier, r.done, r.shop_sets
        ),
        _ => format!(
            "{}: rolling out {what} to {} ShopSets: {} done",
            r.tier, r.shop_sets, r.done
        ),
    };
    let mut text = format!("system commit {}", short(&r.to));
    let shown: Vec<&str> = names.iter().take(10).map(String::as_str).collect();
    if !shown.is_empty() {
        let _ = write!(text, "; ShopSets: {}", shown.join(", "));
        if names.len() > shown.len() {
            let _ = write!(text, " and {} more", names.len() - shown.len());
        }
    }
    // One status per commit: configurations read from one repository share theirs.
    let mut commits = vec![StatusTarget {
        url: f.app_url.clone(),
        commit: r.app_commit.clone(),
    }];
    for c in f.configurations.values() {
        if !commits.contains(c) {
            commits.push(c.clone());
        }
    }
    Message {
        event,
        key: format!("rollout/{}", r.id),
        tier: Some(r.tier.clone()),
        shop_sets: names.to_vec(),
        title,
        text,
        commits,
        status: Some(match r.phase.as_str() {
            "Succeeded" => "success",
            "Failed" => "failure",
            "Superseded" => "error",
            _ => "pending",
        }),
    }
}

/// An event the controller reports on a resource (a Kubernetes event), as a notification
/// when it is one: promotions, shop moves, migration steps, previews. `tier` is the tier the
/// resource belongs to; `now` makes the key of a one-off event its own.
#[must_use]
pub fn from_note(
    kind: &str,
    name: &str,
    reason: &str,
    message: &str,
    tier: Option<&str>,
    now: &str,
) -> Option<Message> {
    use shopset_crds::conditions::reasons;
    let event = match (kind, reason) {
        ("Tier", reasons::PROMOTION_STARTED) => Event::PromotionStarted,
        ("Tier", reasons::PROMOTED) => Event::PromotionSucceeded,
        ("Tier", reasons::PROMOTION_FAILED) => Event::PromotionFailed,
        ("Shop", reasons::MOVING) => Event::ShopMoved,
        ("ShopSet", "Migrating") => Event::MigrationStep,
        ("PreviewPolicy", "PreviewDeployed") => Event::PreviewReady,
        ("PreviewPolicy", "PreviewRemoving") => Event::PreviewExpiring,
        _ => return None,
    };
    let shop_sets = if kind == "ShopSet" {
        vec![name.to_owned()]
    } else {
        Vec::new()
    };
    Some(Message {
        event,
        key: format!(
            "{}/{kind}/{name}/{}",
            event.name(),
            digest(&format!("{message}\n{now}"))
        ),
        tier: tier.map(str::to_owned),
        shop_sets,
        title: format!("{kind} {name}: {}", event.name()),
        text: message.to_owned(),
        commits: Vec::new(),
        status: None,
    })
}

/// The messages of a promotion gate that does not hold (`reasons`, as the Tier's Promotable
/// condition lists them, `; ` between): waiting for approval, frozen, held. Soak time and
/// a rollout still under way say nothing. Each reason is its own key, so it is said once
/// however many batches find it.
#[must_use]
pub fn gate_messages(tier: &str, reasons: &str) -> Vec<Message> {
    reasons
        .split("; ")
        .filter_map(|r| {
            let event = if r.contains("requires an approval") {
                Event::ApprovalRequired
            } else if r.contains(" is frozen: ") {
                Event::FreezeStarted
            } else if r.contains(" is held ") {
                Event::PromotionBlocked
            } else {
                return None;
            };
            Some(Message {
                event,
                key: format!("{}/{tier}/{}", event.name(), digest(r)),
                tier: Some(tier.to_owned()),
                shop_sets: Vec::new(),
                title: format!("{tier}: {}", event.name()),
                text: r.to_owned(),
                commits: Vec::new(),
                status: None,
            })
        })
        .collect()
}

/// The message of a sync stopped by the mass-removal stop, said once per set of removals.
#[must_use]
pub fn removals_message(tier: &str, reason: &str) -> Message {
    Message {
        event: Event::RemovalsWaiting,
        key: format!("removals.waiting/{tier}/{}", digest(reason)),
        tier: Some(tier.to_owned()),
        shop_sets: Vec::new(),
        title: format!("{tier}: removals wait for a person's confirmation"),
        text: reason.to_owned(),
        commits: Vec::new(),
        status: None,
    }
}

/// What [`plan`] decided for one message and one channel.
#[derive(Debug, Clone)]
pub struct Send<'a> {
    /// The message.
    pub message: &'a Message,
    /// The channel.
    pub channel: &'a NotificationChannel,
    /// What the record says the channel already has under this key (Slack: the message to
    /// edit).
    pub previous: Option<&'a SentMessage>,
    /// The digest recorded once it is sent.
    pub digest: String,
}

/// What to send: each message to each channel its rules name, unless the record says the
/// channel already has it.
#[must_use]
pub fn plan<'a>(
    spec: &'a NotificationPolicySpec,
    record: &'a NotificationPolicyStatus,
    messages: &'a [Message],
) -> Vec<Send<'a>> {
    let mut out = Vec::new();
    for m in messages {
        for channel in route(spec, m) {
            let digest = m.digest_for(channel);
            let previous = record
                .sent
                .iter()
                .rev()
                .find(|s| s.key == m.key && s.channel == channel.name);
            if previous.is_some_and(|p| p.digest == digest) {
                continue;
            }
            // A rollout's first word is its start: a restart that finds it ended without
            // having said so sends the outcome alone, and nothing already said again.
            out.push(Send {
                message: m,
                channel,
                previous,
                digest,
            });
        }
    }
    out
}

/// Records what was sent, keeping the newest [`KEPT_SENT`].
pub fn remember(record: &mut NotificationPolicyStatus, sent: SentMessage) {
    record
        .sent
        .retain(|s| !(s.key == sent.key && s.channel == sent.channel));
    record.sent.push(sent);
    let excess = record.sent.len().saturating_sub(KEPT_SENT);
    record.sent.drain(..excess);
}

#[cfg(test)]
mod tests {
    use super::*;
    use shopset_crds::{NotificationRule, SecretRef, SlackChannel, WebhookChannel};

    fn spec() -> NotificationPolicySpec {
        NotificationPolicySpec {
            channels: vec![
                NotificationChannel {
                    name: "chat".into(),
                    slack: Some(SlackChannel {
                        channel: "#releases".into(),
                        secret_ref: SecretRef {
                            name: "slack".into(),
                        },
                        api: None,
                    }),
                    webhook: None,
                    github: None,
                },
                NotificationChannel {
                    name: "hook".into(),
                    slack: None,
                    webhook: Some(WebhookChannel {
                        url: "http://127.0.0.1:1/".into(),
                        secret_ref: None,
                    }),
                    github: None,
                },
            ],
            rules: vec![
                NotificationRule {
                    channels: vec!["chat".into()],
                    tiers: vec!["prod".into()],
                    shop_sets: Vec::new(),
                    events: vec!["rollout.*".into()],
                    severity: Severity::Info,
                },
                NotificationRule {
                    channels: vec!["hook".into()],
                    tiers: Vec::new(),
                    shop_sets: vec!["cart-*".into()],
                    events: Vec::new(),
                    severity: Severity::Warning,
                },
            ],
        }
    }

    fn facts(committed: Option<Vec<&str>>, states: &[(&str, bool, bool, bool)]) -> TierFacts {
        TierFacts {
            tier: "prod".into(),
            app_commit: "a".repeat(40),
            app_url: "https://github.com/o/app".into(),
            configurations: BTreeMap::new(),
            committed: committed.map(|c| Committed {
                from: Some("0".repeat(40)),
                to: "1".repeat(40),
                changed: c.into_iter().map(str::to_owned).collect(),
            }),
            pinned: None,
            shop_sets: states
                .iter()
                .map(|(n, s, h, d)| {
                    (
                        (*n).to_owned(),
                        Progress {
                            synced: *s,
                            healthy: *h,
                            degraded: *d,
                        },
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn a_rollout_starts_counts_and_succeeds_under_one_key() {
        let mut record = NotificationPolicyStatus::default();
        let all = [
            ("a", false, false, false),
            ("b", false, false, false),
            ("c", false, false, false),
        ];
        let m = track(&mut record, &[facts(Some(vec!["a", "b"]), &all)]);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].event, Event::RolloutStarted);
        assert_eq!(
            m[0].shop_sets,
            vec!["a", "b"],
            "c's rendering did not change"
        );
        let key = m[0].key.clone();
        let half = [
            ("a", true, true, false),
            ("b", false, false, false),
            ("c", false, false, false),
        ];
        let m = track(&mut record, &[facts(None, &half)]);
        assert_eq!(
            (m[0].event, m[0].key.as_str()),
            (Event::RolloutStarted, key.as_str())
        );
        assert!(m[0].title.contains("1 done"), "{}", m[0].title);
        let done = [
            ("a", true, true, false),
            ("b", true, true, false),
            ("c", false, false, false),
        ];
        let m = track(&mut record, &[facts(None, &done)]);
        assert_eq!(
            (m[0].event, m[0].key.as_str()),
            (Event::RolloutSucceeded, key.as_str())
        );
        let m = track(&mut record, &[facts(None, &done)]);
        assert!(m.is_empty(), "an ended rollout says nothing more: {m:?}");
    }

    #[test]
    fn degraded_fails_and_a_new_app_commit_supersedes() {
        let mut record = NotificationPolicyStatus::default();
        let none = [("a", false, false, false)];
        track(&mut record, &[facts(Some(vec!["a"]), &none)]);
        let mut next = facts(Some(vec!["a"]), &none);
        next.app_commit = "b".repeat(40);
        let m = track(&mut record, &[next]);
        let events: Vec<(Event, &str)> = m
            .iter()
            .map(|m| (m.event, record_phase(&record, &m.key)))
            .collect();
        assert_eq!(
            events,
            vec![
                (Event::RolloutStarted, "Superseded"),
                (Event::RolloutStarted, "Progressing")
            ]
        );
        let states: Vec<Option<&str>> = m.iter().map(Message::github_state).collect();
        assert_eq!(states, vec![Some("error"), Some("pending")]);
        let mut bad = facts(None, &[("a", true, false, true)]);
        bad.app_commit = "b".repeat(40);
        let m = track(&mut record, &[bad]);
        assert_eq!(m[0].event, Event::RolloutFailed);
        assert_eq!(m[0].github_state(), Some("failure"));
    }

    fn record_phase<'a>(record: &'a NotificationPolicyStatus, key: &str) -> &'a str {
        record
            .rollouts
            .iter()
            .find(|r| format!("rollout/{}", r.id) == key)
            .map_or("", |r| r.phase.as_str())
    }

    #[test]
    fn rules_route_by_tier_event_severity_and_shop_set() {
        let spec = spec();
        let mut m = Message {
            event: Event::RolloutStarted,
            key: "k".into(),
            tier: Some("prod".into()),
            shop_sets: vec!["cart-1".into()],
            title: "t".into(),
            text: String::new(),
            commits: Vec::new(),
            status: None,
        };
        let names = |m: &Message| {
            route(&spec, m)
                .iter()
                .map(|c| c.name.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&m), vec!["chat"], "info is below the hook's severity");
        m.event = Event::RolloutFailed;
        assert_eq!(names(&m), vec!["chat", "hook"]);
        m.tier = Some("dev".into());
        assert_eq!(names(&m), vec!["hook"]);
        m.shop_sets = vec!["web-1".into()];
        assert!(names(&m).is_empty());
    }

    #[test]
    fn the_record_keeps_each_message_to_once() {
        let spec = spec();
        let mut record = NotificationPolicyStatus::default();
        let m = vec![Message {
            event: Event::RolloutStarted,
            key: "rollout/x".into(),
            tier: Some("prod".into()),
            shop_sets: Vec::new(),
            title: "1 done".into(),
            text: String::new(),
            commits: Vec::new(),
            status: None,
        }];
        let sends = plan(&spec, &record, &m);
        assert_eq!(sends.len(), 1);
        let sent = SentMessage {
            key: sends[0].message.key.clone(),
            channel: sends[0].channel.name.clone(),
            id: Some("C1/1.0".into()),
            digest: sends[0].digest.clone(),
            at: "now".into(),
        };
        remember(&mut record, sent);
        assert!(plan(&spec, &record, &m).is_empty(), "sent once");
        let mut edited = m.clone();
        edited[0].title = "2 done".into();
        let sends = plan(&spec, &record, &edited);
        assert_eq!(sends.len(), 1);
        assert_eq!(
            sends[0].previous.and_then(|p| p.id.as_deref()),
            Some("C1/1.0")
        );
    }

    #[test]
    fn gates_closed_by_soak_time_alone_say_nothing() {
        let events = |r: &str| {
            gate_messages("prod", r)
                .iter()
                .map(|m| m.event)
                .collect::<Vec<_>>()
        };
        assert!(
            events("dev has been synced and healthy for 1m of the 30m soak time of prod")
                .is_empty()
        );
        assert!(events("dev is not synced and healthy: 1 of 3").is_empty());
        assert_eq!(
            events(
                "prod is frozen: in the freeze window \"0 17 * * 5\"; prod requires an approval of abc (shopctl approve prod abc)"
            ),
            vec![Event::FreezeStarted, Event::ApprovalRequired]
        );
        assert_eq!(
            events("prod is held (incident): nothing promotes into it"),
            vec![Event::PromotionBlocked]
        );
        for (i, name) in EVENTS.iter().enumerate() {
            assert_eq!(ALL[i].name(), *name);
            assert!(Event::matches_any(name));
        }
        assert!(!Event::matches_any("rollout.finished"));
        let started = from_note(
            "Tier",
            "prod",
            "PromotionStarted",
            "promoting abc",
            None,
            "now",
        );
        assert_eq!(
            started.map(|m| (m.event, m.tier)),
            Some((Event::PromotionStarted, None))
        );
        assert!(from_note("Tier", "prod", "Ready", "Ready is True", None, "now").is_none());
        assert!(Event::matches_any("promotion.*"));
    }
}
