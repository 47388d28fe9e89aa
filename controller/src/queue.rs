//! The work queue. Its key is the tier branch (by Tier name): changes that arrive together are
//! merged into one batch per tier (taken once they stop arriving for [`QUIET`], at most the
//! debounce after the first), so a change touching 1,000 ShopSets is one commit per tier. Some changes only need the status recomputed (an Argo CD
//! Application moved), others a sync.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;

/// What is waiting.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Every tier needs a sync (a Configuration or FailureDomain changed, a resync is due).
    pub sync_all: bool,
    /// These tiers need a sync.
    pub sync: BTreeSet<String>,
    /// These tiers only need their status recomputed.
    pub status: BTreeSet<String>,
    /// These PreviewPolicies are polled (their poll interval passed, or a `pull_request`
    /// webhook came).
    pub previews: BTreeSet<String>,
    /// Every PreviewPolicy is polled (at start).
    pub previews_all: bool,
    /// The ShopSets whose spec changed, as the watch reported them.
    pub changed_shop_sets: BTreeSet<String>,
    /// The Shops created or changed, as the watch reported them.
    pub changed_shops: BTreeSet<String>,
    /// Something else changed, or may have (another kind, a relist, a resync, the directory):
    /// the sync plans everything.
    pub unknown_change: bool,
    /// The repositories are fetched again (a poll, a webhook, a lease taken, a promotion,
    /// something unnamed changed). A batch of named ShopSet and Shop changes alone renders
    /// against the app and configuration commits last fetched and pushes onto the branch tip
    /// last seen: a push refused because the branch moved fetches it and plans again.
    pub fetch: bool,
}

impl Batch {
    /// Nothing to do.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        !self.sync_all
            && self.sync.is_empty()
            && self.status.is_empty()
            && self.previews.is_empty()
            && !self.previews_all
    }

    /// The PreviewPolicies to poll among `known`.
    #[must_use]
    pub fn policies_to_poll<'a>(&self, known: impl Iterator<Item = &'a String>) -> Vec<String> {
        known
            .filter(|p| self.previews_all || self.previews.contains(*p))
            .cloned()
            .collect()
    }

    /// The tiers to sync among `known`.
    #[must_use]
    pub fn tiers_to_sync(&self, known: &[String]) -> BTreeSet<String> {
        known
            .iter()
            .filter(|t| self.sync_all || self.sync.contains(*t))
            .cloned()
            .collect()
    }
}

/// The queue.
#[derive(Debug, Default)]
pub struct Queue {
    waiting: Mutex<Batch>,
    notify: Notify,
    /// Changes queued so far (to tell a quiet moment from a burst still arriving).
    events: std::sync::atomic::AtomicU64,
}

/// A batch is taken once no change arrived for this long (or the debounce passed).
pub const QUIET: Duration = Duration::from_millis(25);

impl Queue {
    fn with(&self, f: impl FnOnce(&mut Batch)) {
        if let Ok(mut w) = self.waiting.lock() {
            f(&mut w);
        }
        self.events
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.notify.notify_one();
    }

    /// A tier needs a sync, with its repositories fetched again.
    pub fn sync(&self, tier: &str) {
        self.with(|w| {
            w.sync.insert(tier.to_owned());
            w.fetch = true;
        });
    }

    /// A tier needs a sync, its repositories fetched already (by the poll).
    pub fn sync_fetched(&self, tier: &str) {
        self.with(|w| {
            w.sync.insert(tier.to_owned());
        });
    }

    /// Every tier needs a sync: something changed that the batch cannot name (a
    /// Configuration, a FailureDomain, a relist, a resync).
    pub fn sync_all(&self) {
        self.with(|w| {
            w.sync_all = true;
            w.unknown_change = true;
            w.fetch = true;
        });
    }

    /// The resource directory changed: every tier needs a sync, and the batch's snapshot
    /// says what changed (`SinceLast`).
    pub fn directory_changed(&self) {
        self.with(|w| w.sync_all = true);
    }

    /// A ShopSet's spec changed: its tier needs a sync, and the sync may plan it alone.
    pub fn shop_set_changed(&self, tier: &str, name: &str) {
        self.with(|w| {
            w.sync.insert(tier.to_owned());
            w.changed_shop_sets.insert(name.to_owned());
        });
    }

    /// A Shop was created or its spec changed: every tier needs a sync (the rule may give a
    /// new shop any ShopSet), and the sync may plan it alone.
    pub fn shop_changed(&self, name: &str) {
        self.with(|w| {
            w.sync_all = true;
            w.changed_shops.insert(name.to_owned());
        });
    }

    /// A resource changed that the sync cannot plan from its name alone (a Tier, a Shop, a
    /// Migration): the tier needs a sync of everything.
    pub fn changed(&self, tier: &str) {
        self.with(|w| {
            w.sync.insert(tier.to_owned());
            w.unknown_change = true;
            w.fetch = true;
        });
    }

    /// A PreviewPolicy is polled.
    pub fn preview(&self, policy: &str) {
        self.with(|w| {
            w.previews.insert(policy.to_owned());
            w.fetch = true;
        });
    }

    /// Every PreviewPolicy is polled.
    pub fn preview_all(&self) {
        self.with(|w| {
            w.previews_all = true;
            w.fetch = true;
        });
    }

    /// A tier's status needs recomputing.
    pub fn status(&self, tier: &str) {
        self.with(|w| {
            w.status.insert(tier.to_owned());
        });
    }

    /// How many tiers are waiting (every tier counts as one when all are).
    #[must_use]
    pub fn depth(&self) -> usize {
        self.waiting.lock().map_or(0, |w| {
            usize::from(w.sync_all)
                + w.sync.len()
                + w.status.difference(&w.sync).count()
                + w.previews.len()
                + usize::from(w.previews_all)
        })
    }

    /// Takes everything waiting now.
    #[must_use]
    pub fn take(&self) -> Batch {
        self.waiting
            .lock()
            .map(|mut w| std::mem::take(&mut *w))
            .unwrap_or_default()
    }

    /// Waits for work, then until changes stop arriving ([`QUIET`] without one) or `debounce`
    /// passed since the first, whichever comes first, so a burst is one batch and a lone change
    /// is not held back for the whole debounce; then takes it.
    pub async fn next(&self, debounce: Duration) -> Batch {
        loop {
            let notified = self.notify.notified();
            if self.depth() > 0 {
                break;
            }
            notified.await;
        }
        let first = tokio::time::Instant::now();
        let count = || self.events.load(std::sync::atomic::Ordering::Relaxed);
        loop {
            let seen = count();
            let left = debounce.saturating_sub(first.elapsed());
            if left.is_zero() {
                break;
            }
            tokio::time::sleep(QUIET.min(left)).await;
            if count() == seen {
                break;
            }
        }
        self.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn changes_arriving_together_make_one_batch() {
        let queue = std::sync::Arc::new(Queue::default());
        let q = queue.clone();
        let producer = tokio::spawn(async move {
            for i in 0..1000 {
                q.sync(if i % 2 == 0 { "tier-0" } else { "tier-1" });
            }
            q.status("tier-2");
        });
        producer.await.expect("producer");
        let batch = queue.next(Duration::from_millis(10)).await;
        assert_eq!(batch.sync.len(), 2);
        assert_eq!(batch.status.len(), 1);
        assert!(!batch.sync_all);
        assert_eq!(queue.depth(), 0);
        let known = vec!["tier-0".to_owned(), "tier-2".to_owned()];
        assert_eq!(
            batch.tiers_to_sync(&known).into_iter().collect::<Vec<_>>(),
            vec!["tier-0"]
        );
        queue.sync_all();
        let batch = queue.next(Duration::ZERO).await;
        assert_eq!(batch.tiers_to_sync(&known).len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_waits_for_quiet_up_to_the_debounce_and_a_lone_change_does_not() {
        let queue = std::sync::Arc::new(Queue::default());
        // A lone change: taken after one quiet period, not the whole debounce.
        queue.sync("tier-0");
        let start = tokio::time::Instant::now();
        let batch = queue.next(Duration::from_millis(500)).await;
        assert_eq!(start.elapsed(), QUIET);
        assert_eq!(batch.sync.len(), 1);
        // A burst, a change every 10 ms for 300 ms: one batch, once it stops.
        let q = queue.clone();
        let producer = tokio::spawn(async move {
            for i in 0..30 {
                q.sync(&format!("tier-{i}"));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        tokio::time::sleep(Duration::from_millis(1)).await;
        let start = tokio::time::Instant::now();
        let batch = queue.next(Duration::from_millis(500)).await;
        assert_eq!(batch.sync.len(), 30, "{batch:?}");
        assert!(start.elapsed() >= Duration::from_millis(300));
        assert!(start.elapsed() < Duration::from_millis(300) + QUIET * 2);
        producer.await.unwrap();
        // A burst longer than the debounce is cut at the debounce.
        let q = queue.clone();
        let producer = tokio::spawn(async move {
            for i in 0..100 {
                q.sync(&format!("tier-{i}"));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        tokio::time::sleep(Duration::from_millis(1)).await;
        let start = tokio::time::Instant::now();
        let batch = queue.next(Duration::from_millis(500)).await;
        assert_eq!(start.elapsed(), Duration::from_millis(500));
        assert!(
            (45..=55).contains(&batch.sync.len()),
            "{}",
            batch.sync.len()
        );
        producer.await.unwrap();
    }
}
