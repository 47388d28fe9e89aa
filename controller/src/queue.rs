//! The work queue. Its key is the tier branch (by Tier name): changes that arrive together are
//! merged into one batch per tier, after a short debounce, so a change touching 1,000 ShopSets
//! is one commit per tier. Some changes only need the status recomputed (an Argo CD
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
}

impl Batch {
    /// Nothing to do.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        !self.sync_all && self.sync.is_empty() && self.status.is_empty()
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
}

impl Queue {
    fn with(&self, f: impl FnOnce(&mut Batch)) {
        if let Ok(mut w) = self.waiting.lock() {
            f(&mut w);
        }
        self.notify.notify_one();
    }

    /// A tier needs a sync.
    pub fn sync(&self, tier: &str) {
        self.with(|w| {
            w.sync.insert(tier.to_owned());
        });
    }

    /// Every tier needs a sync.
    pub fn sync_all(&self) {
        self.with(|w| w.sync_all = true);
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
            usize::from(w.sync_all) + w.sync.len() + w.status.difference(&w.sync).count()
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

    /// Waits for work, then for `debounce` more so changes arriving together are batched,
    /// then takes it.
    pub async fn next(&self, debounce: Duration) -> Batch {
        loop {
            let notified = self.notify.notified();
            if self.depth() > 0 {
                break;
            }
            notified.await;
        }
        tokio::time::sleep(debounce).await;
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
}
