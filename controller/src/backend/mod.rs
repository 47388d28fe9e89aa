//! Where the resources come from and where status goes: the API server, or a directory.
//!
//! The batch loop (`run.rs`) is written once, against [`Backend`]; each mode says how it reads
//! a snapshot, who may write which branch, what wakes the queue between batches and where the
//! statuses go.

pub mod dir;
pub mod kube;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::lease::KubeLeases;
use crate::metrics::Metrics;
use crate::queue::Queue;
use crate::reconcile::Report;
use crate::snapshot::Snapshot;

/// One mode of the controller.
pub trait Backend: Send + Sync {
    /// Everything a batch needs, read now.
    fn snapshot(&self) -> impl Future<Output = Snapshot> + Send;

    /// Until when this process may write each branch (`None` when it may not: another
    /// replica holds its lease), asked again whenever it matters.
    fn deadline(&self) -> shopset_engine::Deadline;

    /// Starts what marks the queue between batches (the directory poller, the lease rounds).
    fn watch(&self, queue: Arc<Queue>, metrics: Arc<Metrics>);

    /// Writes a batch's statuses and events.
    fn write(&self, report: &Report, now: &Time) -> impl Future<Output = ()> + Send;

    /// Gives back what it holds before the process stops.
    fn stop(&self) -> impl Future<Output = ()> + Send;
}

/// Directory mode: one process, no lease, the directory polled for changes.
pub struct Directory {
    dir: dir::DirBackend,
    poll: Duration,
}

impl Directory {
    /// Resources in `dir`, polled every `poll`.
    #[must_use]
    pub fn new(dir: dir::DirBackend, poll: Duration) -> Self {
        Self { dir, poll }
    }
}

impl Backend for Directory {
    async fn snapshot(&self) -> Snapshot {
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || dir.snapshot())
            .await
            .unwrap_or_default()
    }

    fn deadline(&self) -> shopset_engine::Deadline {
        // One process, no lease: no deadline that could pass during a batch.
        shopset_engine::Deadline::new(|_| {
            Some(Instant::now() + Duration::from_secs(365 * 24 * 3600))
        })
    }

    fn watch(&self, queue: Arc<Queue>, _metrics: Arc<Metrics>) {
        let dir = self.dir.clone();
        let every = self.poll;
        tokio::spawn(async move {
            let mut last = dir.fingerprint();
            loop {
                tokio::time::sleep(every).await;
                let now = dir.fingerprint();
                if now != last {
                    last = now;
                    queue.directory_changed();
                }
            }
        });
    }

    async fn write(&self, report: &Report, now: &Time) {
        if let Err(e) = self.dir.write(report, &now.0.to_string()) {
            tracing::error!(file = %self.dir.status_file().display(), error = %e, "status not written");
        }
    }

    async fn stop(&self) {}
}

/// API mode: watches on the API server, one lease per tier branch.
pub struct Cluster {
    backend: kube::KubeBackend,
    leases: KubeLeases,
    renew_every: Duration,
}

impl Cluster {
    /// The watched stores and the leases, renewed three times per `lease` duration.
    #[must_use]
    pub fn new(backend: kube::KubeBackend, leases: KubeLeases, lease: Duration) -> Self {
        Self {
            backend,
            leases,
            renew_every: lease / 3,
        }
    }
}

impl Backend for Cluster {
    async fn snapshot(&self) -> Snapshot {
        self.backend.snapshot()
    }

    fn deadline(&self) -> shopset_engine::Deadline {
        let held = self.leases.held.clone();
        shopset_engine::Deadline::new(move |branch| held.deadline(branch))
    }

    fn watch(&self, queue: Arc<Queue>, metrics: Arc<Metrics>) {
        // The watches mark the queue themselves; here, the lease rounds: a branch whose lease
        // this replica just took is synced at once.
        let backend = self.backend.clone();
        let leases = self.leases.clone();
        let every = self.renew_every;
        tokio::spawn(async move {
            loop {
                let snapshot = backend.snapshot();
                let by_branch: BTreeMap<String, String> = snapshot
                    .resources
                    .tiers
                    .iter()
                    .map(|(t, s)| (s.spec.branch_or(t).to_owned(), t.clone()))
                    .collect();
                let branches: BTreeSet<String> = by_branch.keys().cloned().collect();
                match leases.round(&branches).await {
                    Ok(taken) => {
                        for b in taken {
                            if let Some(t) = by_branch.get(&b) {
                                queue.sync(t);
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "leases not renewed"),
                }
                metrics.leases(leases.held.branches().len());
                tokio::time::sleep(every).await;
            }
        });
    }

    async fn write(&self, report: &Report, _now: &Time) {
        self.backend.write(report).await;
    }

    async fn stop(&self) {
        self.leases.release_all().await;
    }
}
