//! Wiring: the backend, the leases, the HTTP server, the timers, and the batch loop. The loop
//! takes one batch at a time; a shutdown signal is honoured between batches, so the current
//! batch is finished, never cut in the middle of a push.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use shopset_engine::{Author, Repos, Resources, SyncOptions, TierOutcome};
use shopset_git::{Credentials, Secret, Signer};

use crate::args::Args;
use crate::backend::dir::DirBackend;
use crate::backend::kube::KubeBackend;
use crate::backend::{Backend, Cluster, Directory};
use crate::http::{self, Shared};
use crate::lease::KubeLeases;
use crate::metrics::Metrics;
use crate::queue::Queue;
use crate::reconcile::{Report, Worker, condition_counts};
use crate::snapshot::SinceLast;

/// How long a tier whose write failed for a passing reason waits before it is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

fn identity(args: &Args) -> String {
    args.identity.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "localhost".into());
        format!("{host}-{}", std::process::id())
    })
}

/// Keeps only what routing a webhook needs.
fn routing(resources: &Resources) -> Resources {
    Resources {
        tiers: resources.tiers.clone(),
        configurations: resources.configurations.clone(),
        preview_policies: resources.preview_policies.clone(),
        ..Resources::default()
    }
}

/// Runs the controller until `shutdown` resolves (or after one batch with `--once`).
///
/// # Errors
/// The HTTP address cannot be bound, the webhook secret or GitHub token cannot be read, or no
/// Kubernetes client can be built in API mode.
pub async fn run(
    args: Args,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let metrics = Arc::new(Metrics::default());
    let queue = Arc::new(Queue::default());
    let shared = Arc::new(Shared {
        metrics: metrics.clone(),
        queue: queue.clone(),
        ready: false.into(),
        webhook_secret: read_secret(args.webhook_secret_file.as_deref(), "webhook secret", |t| {
            t.trim_end_matches(['\n', '\r'])
        })?,
        routing: std::sync::RwLock::new(Resources::default()),
    });
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    tracing::info!(address = %listener.local_addr()?, "serving /metrics, /healthz, /readyz, /webhook");
    let app = http::router(shared.clone());
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "HTTP server stopped");
        }
    });
    let worker = Arc::new(worker(&args, metrics.clone())?);
    let dashboard = match args.dashboard_listen {
        Some(address) => Some(serve_dashboard(address).await?),
        None => None,
    };
    match &args.resources_dir {
        Some(dir) => {
            let dir = DirBackend::new(dir.clone(), args.status_file.clone());
            let every = Duration::from_millis(args.dir_poll_ms.max(10));
            let backend = Directory::new(dir, every);
            serve(&backend, &args, &shared, &worker, dashboard, shutdown).await;
        }
        None => {
            let backend = cluster(&args, queue.clone()).await?;
            serve(&backend, &args, &shared, &worker, dashboard, shutdown).await;
        }
    }
    tracing::info!("stopped");
    Ok(())
}

/// The dashboard on `address`, answering from a view the batch loop replaces.
async fn serve_dashboard(
    address: std::net::SocketAddr,
) -> anyhow::Result<shopset_dashboard::Shared> {
    let view: shopset_dashboard::Shared = Arc::default();
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("dashboard: listening on {address}"))?;
    tracing::info!(address = %listener.local_addr()?, "serving the dashboard");
    let app = shopset_dashboard::router(view.clone());
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "dashboard stopped");
        }
    });
    Ok(view)
}

/// A secret read from `file`, if one is named, with `trim` applied to its text.
fn read_secret(
    file: Option<&Path>,
    what: &str,
    trim: fn(&str) -> &str,
) -> anyhow::Result<Option<Secret>> {
    file.map(|f| {
        std::fs::read_to_string(f)
            .with_context(|| format!("{}: {what}", f.display()))
            .map(|text| Secret::new(trim(&text).to_owned()))
    })
    .transpose()
}

/// API mode: the watches (their first list done) and the leases.
async fn cluster(args: &Args, queue: Arc<Queue>) -> anyhow::Result<Cluster> {
    let client = kube::Client::try_default()
        .await
        .context("no Kubernetes client (use --resources-dir to run without a cluster)")?;
    let backend = KubeBackend::start(client.clone(), &args.namespace, queue);
    let lease = Duration::from_secs(args.lease_seconds.max(3));
    let leases = KubeLeases::new(
        kube::Api::namespaced(client, &args.namespace),
        identity(args),
        lease,
    );
    backend
        .ready()
        .await
        .context("the watches stopped before their first list")?;
    Ok(Cluster::new(backend, leases, lease))
}

/// The writer: who commits, with which keys and credentials, and how it reaches the forge.
fn worker(args: &Args, metrics: Arc<Metrics>) -> anyhow::Result<Worker> {
    let signer = args.sign_ssh_key.clone().map(|key| Signer::Ssh { key });
    let author = Author {
        name: "shopset-controller".into(),
        email: args.author_email.clone(),
        producer: format!("shopset-controller/{}", env!("CARGO_PKG_VERSION")),
        time: None,
        signer,
    };
    let repos = Repos::new(&args.cache_dir).with_credentials(
        Credentials {
            known_hosts: args.git_known_hosts.clone(),
            ..Credentials::default()
        },
        BTreeMap::new(),
    );
    let forge = shopset_engine::ops::verdict::ForgeSettings {
        api: args.github_api.clone(),
        token: read_secret(args.github_token_file.as_deref(), "GitHub token", str::trim)?,
    };
    Ok(
        Worker::new(repos, author, SyncOptions::default(), metrics, forge)
            .with_secrets_dir(args.secrets_dir.clone()),
    )
}

/// Each tier's repositories are fetched again when its poll interval (spec.pollInterval, else
/// --poll-seconds) has passed: that is how moved app and configuration branches are seen
/// without a webhook. The fetch runs beside the batch loop, not in a batch: a tier whose tips
/// moved (or whose last sync did not settle) is then synced, the others only get their status
/// again (gates, soak and freeze times), so a resync that finds nothing delays no change.
/// Each PreviewPolicy is polled every `spec.source.pollInterval` (GitHub is asked once per
/// interval; a `pull_request` webhook polls it at once).
fn spawn_poll_timer(shared: Arc<Shared>, default: Duration, worker: Arc<Worker>) {
    tokio::spawn(async move {
        let mut due: BTreeMap<String, Instant> = BTreeMap::new();
        let mut previews_due: BTreeMap<String, Instant> = BTreeMap::new();
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let policies: Vec<(String, Duration)> = shared
                .routing
                .read()
                .map(|r| {
                    r.preview_policies
                        .iter()
                        .map(|(name, p)| {
                            let every =
                                shopset_crds::names::duration_seconds(&p.spec.source.poll_interval)
                                    .map_or(Duration::from_secs(300), |s| {
                                        Duration::from_secs(s.max(10))
                                    });
                            (name.clone(), every)
                        })
                        .collect()
                })
                .unwrap_or_default();
            let now = Instant::now();
            previews_due.retain(|p, _| policies.iter().any(|(n, _)| n == p));
            for (policy, every) in policies {
                // Polled at start (every policy is in the first batch), then every interval.
                let next = previews_due.entry(policy.clone()).or_insert(now + every);
                if now >= *next {
                    shared.queue.preview(&policy);
                    *next = now + every;
                }
            }
            let tiers: Vec<(String, Duration, String, Vec<String>)> = shared
                .routing
                .read()
                .map(|r| {
                    r.tiers
                        .iter()
                        .map(|(name, t)| {
                            let every = t
                                .spec
                                .poll_interval
                                .as_deref()
                                .and_then(shopset_crds::names::duration_seconds)
                                .map_or(default, Duration::from_secs);
                            let branch = t.spec.branch_or(name).to_owned();
                            let urls = shopset_engine::webhook::urls_of(name, &r);
                            (name.clone(), every, branch, urls)
                        })
                        .collect()
                })
                .unwrap_or_default();
            let now = Instant::now();
            due.retain(|t, _| tiers.iter().any(|(n, ..)| n == t));
            for (tier, every, branch, urls) in tiers {
                let next = due.entry(tier.clone()).or_insert(now + every);
                if now >= *next {
                    *next = now + every;
                    let (shared, worker) = (shared.clone(), worker.clone());
                    tokio::spawn(async move {
                        if worker.poll(tier.clone(), urls, branch).await {
                            shared.queue.sync_fetched(&tier);
                        } else {
                            shared.queue.status(&tier);
                        }
                    });
                }
            }
        }
    });
}

/// The batch loop: one batch at a time until `shutdown` (or after one pass with `--once`).
async fn serve(
    backend: &impl Backend,
    args: &Args,
    shared: &Arc<Shared>,
    worker: &Arc<Worker>,
    dashboard: Option<shopset_dashboard::Shared>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let queue = &shared.queue;
    let metrics = &shared.metrics;
    queue.sync_all();
    queue.preview_all();
    spawn_poll_timer(
        shared.clone(),
        Duration::from_secs(args.poll_seconds.max(1)),
        worker.clone(),
    );
    backend.watch(queue.clone(), metrics.clone());

    let mut statuses = BTreeMap::new();
    let mut problems: BTreeSet<String> = BTreeSet::new();
    // Per tier, how many batches in a row failed to write it for a passing reason.
    let mut failures: BTreeMap<String, u32> = BTreeMap::new();
    let debounce = Duration::from_millis(args.debounce_ms);
    tokio::pin!(shutdown);
    loop {
        let mut batch = tokio::select! {
            batch = queue.next(debounce) => batch,
            () = &mut shutdown => break,
        };
        metrics.queue(queue.depth());
        let now = Time(k8s_openapi::jiff::Timestamp::now());
        let started = Instant::now();
        let snapshot = backend.snapshot().await;
        let read = started.elapsed();
        match &snapshot.since_last {
            SinceLast::Watched => {}
            SinceLast::Unknown => {
                batch.unknown_change = true;
                batch.fetch = true;
            }
            SinceLast::Changed(c) => {
                batch.changed_shop_sets.extend(c.shop_sets.iter().cloned());
                batch.changed_shops.extend(c.shops.iter().cloned());
            }
        }
        // What the dashboard shows after this batch: the resources, and the statuses stored
        // now with this batch's changes.
        let for_dashboard = dashboard.as_ref().map(|_| {
            (
                snapshot.resources.clone(),
                shopset_engine::ops::status::Statuses {
                    shop_sets: snapshot.shop_set_statuses.clone(),
                    tiers: snapshot.tier_statuses.clone(),
                    shops: snapshot.shop_statuses.clone(),
                    migrations: snapshot.migration_statuses.clone(),
                },
            )
        });
        if let Ok(mut r) = shared.routing.write() {
            *r = routing(&snapshot.resources);
        }
        if let Some(dir) = &args.secrets_dir {
            worker.set_credentials(shopset_engine::repos::credentials_for(
                &snapshot.resources,
                dir,
            ));
        }
        let report: Report = worker
            .run(&batch, snapshot, &backend.deadline(), now.clone())
            .await;
        let worked = started.elapsed();
        // Problems are logged when they appear, not again at every resync.
        let now_problems: BTreeSet<String> =
            report.problems.iter().map(ToString::to_string).collect();
        for p in now_problems.difference(&problems) {
            tracing::warn!(problem = %p, "input problem");
        }
        if !report.synced.is_empty() {
            problems = now_problems;
        }
        for n in &report.notes {
            if n.warning {
                tracing::warn!(kind = n.kind, name = %n.name, reason = %n.reason, message = %n.message, "event");
            } else {
                tracing::info!(kind = n.kind, name = %n.name, reason = %n.reason, message = %n.message, "event");
            }
        }
        let write_started = Instant::now();
        backend.write(&report, &now).await;
        let status_write = write_started.elapsed();
        if let (Some(shared), Some((resources, mut current))) = (&dashboard, for_dashboard) {
            current.shop_sets.extend(report.statuses.shop_sets.clone());
            current.tiers.extend(report.statuses.tiers.clone());
            current.shops.extend(report.statuses.shops.clone());
            if let Some(view) = worker.dashboard_view(resources, current, &now).await
                && let Ok(mut v) = shared.write()
            {
                *v = Arc::new(view);
            }
        }
        tracing::debug!(
            read_ms = read.as_millis(),
            sync_and_status_ms = (worked - read).as_millis(),
            write_ms = (started.elapsed() - worked).as_millis(),
            status_write_ms = status_write.as_millis(),
            problems = report.problems.len(),
            synced = report.synced.len(),
            statuses = report.statuses.shop_sets.len(),
            "batch done"
        );
        // A promoted tier's branch now moves to the candidate: render it at once.
        for tier in &report.promoted {
            queue.sync(tier);
        }
        // A tier not written for a passing reason (its lease lapsed during a long batch, the
        // remote did not answer) is tried again soon, not at its next poll: after 1 s, then
        // twice as long each time it fails again, up to a minute.
        for r in &report.synced {
            let tier = &r.plan.tier;
            if !matches!(&r.outcome, TierOutcome::Failed { error } if error.transient()) {
                failures.remove(tier);
                continue;
            }
            let n = failures.entry(tier.clone()).or_insert(0);
            let delay = (RETRY_AFTER * 2u32.saturating_pow(*n)).min(Duration::from_secs(60));
            *n = (*n + 1).min(16);
            let (queue, tier) = (queue.clone(), tier.clone());
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                queue.sync(&tier);
            });
        }
        statuses.extend(report.statuses.shop_sets.clone());
        metrics.conditions(&condition_counts(&statuses));
        shared.ready.store(true, Ordering::Relaxed);
        // `--once`: one pass, including the render of the tiers it promoted.
        if args.once && report.promoted.is_empty() {
            break;
        }
    }
    backend.stop().await;
}
