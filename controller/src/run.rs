//! Wiring: the backend, the leases, the HTTP server, the timers, and the batch loop. The loop
//! takes one batch at a time; a shutdown signal is honoured between batches, so the current
//! batch is finished, never cut in the middle of a push.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use shopset_engine::{Author, Repos, Resources, SyncOptions};
use shopset_git::{Credentials, Secret, Signer};

use crate::args::Args;
use crate::backend::dir::DirBackend;
use crate::backend::kube::KubeBackend;
use crate::http::{self, Shared};
use crate::lease::KubeLeases;
use crate::metrics::Metrics;
use crate::queue::Queue;
use crate::reconcile::{Report, Worker, condition_counts};
use crate::snapshot::Snapshot;

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

enum Backend {
    Dir(DirBackend),
    Kube(Box<(KubeBackend, KubeLeases)>),
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
        ..Resources::default()
    }
}

/// Runs the controller until `shutdown` resolves (or after one batch with `--once`).
///
/// # Errors
/// The HTTP address cannot be bound, the webhook secret cannot be read, or no Kubernetes
/// client can be built in API mode.
pub async fn run(
    args: Args,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let metrics = Arc::new(Metrics::default());
    let queue = Arc::new(Queue::default());
    let webhook_secret = match &args.webhook_secret_file {
        Some(f) => Some(Secret::new(
            std::fs::read_to_string(f)
                .with_context(|| format!("{}: webhook secret", f.display()))?
                .trim_end_matches(['\n', '\r'])
                .to_owned(),
        )),
        None => None,
    };
    let shared = Arc::new(Shared {
        metrics: metrics.clone(),
        queue: queue.clone(),
        ready: false.into(),
        webhook_secret,
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

    let me = identity(&args);
    let backend = match &args.resources_dir {
        Some(dir) => Backend::Dir(DirBackend::new(dir.clone(), args.status_file.clone())),
        None => {
            let client = kube::Client::try_default()
                .await
                .context("no Kubernetes client (use --resources-dir to run without a cluster)")?;
            let backend = KubeBackend::start(client.clone(), &args.namespace, queue.clone());
            let leases = KubeLeases::new(
                kube::Api::namespaced(client, &args.namespace),
                me.clone(),
                Duration::from_secs(args.lease_seconds.max(3)),
            );
            backend
                .ready()
                .await
                .context("the watches stopped before their first list")?;
            Backend::Kube(Box::new((backend, leases)))
        }
    };

    let signer = args.sign_ssh_key.clone().map(|key| Signer::Ssh { key });
    let author = Author {
        name: "shopset-controller".into(),
        email: args.author_email.clone(),
        producer: format!("shopset-controller/{}", env!("CARGO_PKG_VERSION")),
        time: None,
        signer,
    };
    let options = SyncOptions::default();
    let repos = Repos::new(&args.cache_dir).with_credentials(
        Credentials {
            known_hosts: args.git_known_hosts.clone(),
            ..Credentials::default()
        },
        BTreeMap::new(),
    );
    let forge = shopset_engine::ops::verdict::ForgeSettings {
        api: args.github_api.clone(),
        token: match &args.github_token_file {
            Some(f) => Some(Secret::new(
                std::fs::read_to_string(f)
                    .with_context(|| format!("{}: GitHub token", f.display()))?
                    .trim()
                    .to_owned(),
            )),
            None => None,
        },
    };
    let worker = Worker::new(repos, author, options, metrics.clone(), forge);

    // Timers: the periodic resync (repository polling), the directory poller, the leases.
    queue.sync_all();
    {
        // Each tier is synced again when its poll interval (spec.pollInterval, else
        // --poll-seconds) has passed: that is how moved app and configuration branches are seen
        // without a webhook.
        let queue = queue.clone();
        let shared = shared.clone();
        let default = Duration::from_secs(args.poll_seconds.max(1));
        tokio::spawn(async move {
            let mut due: BTreeMap<String, Instant> = BTreeMap::new();
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let tiers: Vec<(String, Duration)> = shared
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
                                (name.clone(), every)
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let now = Instant::now();
                due.retain(|t, _| tiers.iter().any(|(n, _)| n == t));
                for (tier, every) in tiers {
                    let next = due.entry(tier.clone()).or_insert(now + every);
                    if now >= *next {
                        queue.sync(&tier);
                        *next = now + every;
                    }
                }
            }
        });
    }
    match &backend {
        Backend::Dir(dir) => {
            let dir = dir.clone();
            let queue = queue.clone();
            let every = Duration::from_millis(args.dir_poll_ms.max(10));
            tokio::spawn(async move {
                let mut last = dir.fingerprint();
                loop {
                    tokio::time::sleep(every).await;
                    let now = dir.fingerprint();
                    if now != last {
                        last = now;
                        queue.sync_all();
                    }
                }
            });
        }
        Backend::Kube(kube) => {
            let (backend, leases) = &**kube;
            let backend = backend.clone();
            let leases = leases.clone();
            let queue = queue.clone();
            let metrics = metrics.clone();
            let every = Duration::from_secs(args.lease_seconds.max(3)) / 3;
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
    }

    let mut statuses = BTreeMap::new();
    let mut problems: BTreeSet<String> = BTreeSet::new();
    let debounce = Duration::from_millis(args.debounce_ms);
    tokio::pin!(shutdown);
    loop {
        let batch = tokio::select! {
            batch = queue.next(debounce) => batch,
            () = &mut shutdown => break,
        };
        metrics.queue(queue.depth());
        let now = Time(k8s_openapi::jiff::Timestamp::now());
        let started = Instant::now();
        let snapshot: Snapshot = match &backend {
            Backend::Dir(dir) => {
                let dir = dir.clone();
                tokio::task::spawn_blocking(move || dir.snapshot())
                    .await
                    .unwrap_or_default()
            }
            Backend::Kube(kube) => kube.0.snapshot(),
        };
        let read = started.elapsed();
        if let Ok(mut r) = shared.routing.write() {
            *r = routing(&snapshot.resources);
        }
        if let Some(dir) = &args.secrets_dir {
            worker.set_credentials(shopset_engine::repos::credentials_for(
                &snapshot.resources,
                dir,
            ));
        }
        let report: Report = match &backend {
            Backend::Dir(_) => {
                // One process, no lease: no deadline.
                let forever = Instant::now() + Duration::from_secs(365 * 24 * 3600);
                worker
                    .run(&batch, snapshot, &|_| Some(forever), now.clone())
                    .await
            }
            Backend::Kube(kube) => {
                let held = kube.1.held.clone();
                worker
                    .run(&batch, snapshot, &move |b| held.deadline(b), now.clone())
                    .await
            }
        };
        let worked = started.elapsed();
        // Problems are logged when they appear, not again at every resync.
        let now_problems: BTreeSet<String> = report.problems.iter().cloned().collect();
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
        match &backend {
            Backend::Dir(dir) => {
                if let Err(e) = dir.write(&report, &now.0.to_string()) {
                    tracing::error!(file = %dir.status_file().display(), error = %e, "status not written");
                }
            }
            Backend::Kube(kube) => kube.0.write(&report).await,
        }
        tracing::debug!(
            read_ms = read.as_millis(),
            sync_and_status_ms = (worked - read).as_millis(),
            write_ms = (started.elapsed() - worked).as_millis(),
            synced = report.synced.len(),
            statuses = report.statuses.shop_sets.len(),
            "batch done"
        );
        // A promoted tier's branch now moves to the candidate: render it at once.
        for tier in &report.promoted {
            queue.sync(tier);
        }
        statuses.extend(report.statuses.shop_sets.clone());
        metrics.conditions(&condition_counts(&statuses));
        shared.ready.store(true, Ordering::Relaxed);
        // `--once`: one pass, including the render of the tiers it promoted.
        if args.once && report.promoted.is_empty() {
            break;
        }
    }
    if let Backend::Kube(kube) = &backend {
        kube.1.release_all().await;
    }
    tracing::info!("stopped");
    Ok(())
}
