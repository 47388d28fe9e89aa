//! Prometheus metrics, served at `/metrics` in the text format.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = Vec<(String, String)>;

fn label(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

/// Every metric the controller exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    reconcile_seconds: Histogram,
    git_seconds: Family<Labels, Histogram, fn() -> Histogram>,
    commits: Family<Labels, Counter>,
    pushes: Family<Labels, Counter>,
    push_retries: Counter,
    push_rejections: Family<Labels, Counter>,
    noop_syncs: Counter,
    deletions_blocked: Family<Labels, Counter>,
    queue_depth: Gauge,
    shop_sets: Family<Labels, Gauge>,
    webhooks: Family<Labels, Counter>,
    leases_held: Gauge,
    plans: Family<Labels, Counter>,
    notifications: Family<Labels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("shopset");
        let m = Self {
            reconcile_seconds: histogram(),
            git_seconds: Family::new_with_constructor(histogram),
            commits: Family::default(),
            pushes: Family::default(),
            push_retries: Counter::default(),
            push_rejections: Family::default(),
            noop_syncs: Counter::default(),
            deletions_blocked: Family::default(),
            queue_depth: Gauge::default(),
            shop_sets: Family::default(),
            webhooks: Family::default(),
            leases_held: Gauge::default(),
            plans: Family::default(),
            notifications: Family::default(),
            registry: Registry::default(),
        };
        registry.register(
            "reconcile_duration_seconds",
            "Time of one batch: snapshot, sync of its tiers, status",
            m.reconcile_seconds.clone(),
        );
        registry.register(
            "git_operation_duration_seconds",
            "Time of git work per tier sync (fetch, plan, write, push), by tier",
            m.git_seconds.clone(),
        );
        registry.register("commits", "Commits written, by tier", m.commits.clone());
        registry.register("pushes", "Pushes accepted, by tier", m.pushes.clone());
        registry.register(
            "push_retries",
            "Pushes refused because the branch moved, then retried",
            m.push_retries.clone(),
        );
        registry.register(
            "plans",
            "Syncs planned, by what they planned from: the change the watch named, or everything",
            m.plans.clone(),
        );
        registry.register(
            "push_rejections",
            "Pushes refused for good, by reason",
            m.push_rejections.clone(),
        );
        registry.register(
            "noop_syncs",
            "Tier syncs that found nothing to write",
            m.noop_syncs.clone(),
        );
        registry.register(
            "deletions_blocked",
            "Syncs held by the mass-removal stop, by tier",
            m.deletions_blocked.clone(),
        );
        registry.register(
            "queue_depth",
            "Tiers waiting for a batch",
            m.queue_depth.clone(),
        );
        registry.register(
            "shopsets",
            "ShopSets by condition and status",
            m.shop_sets.clone(),
        );
        registry.register(
            "webhooks",
            "Webhook deliveries, by result",
            m.webhooks.clone(),
        );
        registry.register(
            "notifications",
            "Notification messages, by channel and result (sent, failed)",
            m.notifications.clone(),
        );
        registry.register(
            "leases_held",
            "Tier branch leases this replica holds",
            m.leases_held.clone(),
        );
        Self { registry, ..m }
    }
}

impl Metrics {
    /// The text exposition.
    #[must_use]
    pub fn render(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }

    /// One batch took `seconds`.
    pub fn batch(&self, seconds: f64) {
        self.reconcile_seconds.observe(seconds);
    }

    /// One tier's git work took `seconds`.
    pub fn git(&self, tier: &str, seconds: f64) {
        self.git_seconds
            .get_or_create(&label(&[("tier", tier)]))
            .observe(seconds);
    }

    /// A commit was pushed.
    pub fn committed(&self, tier: &str) {
        self.commits.get_or_create(&label(&[("tier", tier)])).inc();
        self.pushes.get_or_create(&label(&[("tier", tier)])).inc();
    }

    /// Pushes were refused because the branch moved.
    pub fn retried(&self, n: u32) {
        self.push_retries.inc_by(u64::from(n));
    }

    /// A sync was planned from the change alone (`true`), or of everything.
    pub fn planned(&self, from_change: bool) {
        let from = if from_change { "change" } else { "everything" };
        self.plans.get_or_create(&label(&[("from", from)])).inc();
    }

    /// A push or write failed for good.
    pub fn rejected(&self, reason: &str) {
        self.push_rejections
            .get_or_create(&label(&[("reason", reason)]))
            .inc();
    }

    /// A tier had nothing to write.
    pub fn noop(&self) {
        self.noop_syncs.inc();
    }

    /// The mass-removal stop held a tier.
    pub fn blocked(&self, tier: &str) {
        self.deletions_blocked
            .get_or_create(&label(&[("tier", tier)]))
            .inc();
    }

    /// The queue's depth now.
    pub fn queue(&self, depth: usize) {
        self.queue_depth
            .set(i64::try_from(depth).unwrap_or(i64::MAX));
    }

    /// How many ShopSets have each condition in each status.
    pub fn conditions(&self, counts: &std::collections::BTreeMap<(String, String), usize>) {
        self.shop_sets.clear();
        for ((kind, status), n) in counts {
            self.shop_sets
                .get_or_create(&label(&[("condition", kind), ("status", status)]))
                .set(i64::try_from(*n).unwrap_or(i64::MAX));
        }
    }

    /// A webhook delivery ended with `result`.
    pub fn webhook(&self, result: &str) {
        self.webhooks
            .get_or_create(&label(&[("result", result)]))
            .inc();
    }

    /// A notification message to `channel` ended with `result` (`sent`, `failed`).
    pub fn notification(&self, channel: &str, result: &str) {
        self.notifications
            .get_or_create(&label(&[("channel", channel), ("result", result)]))
            .inc();
    }

    /// This replica holds `n` leases.
    pub fn leases(&self, n: usize) {
        self.leases_held.set(i64::try_from(n).unwrap_or(i64::MAX));
    }
}
