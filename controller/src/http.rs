//! The HTTP server: `/healthz` (the process runs), `/readyz` (the first batch is done and the
//! watches are listed), `/metrics` (Prometheus), and `POST /webhook` (GitHub push events).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use shopset_engine::Resources;
use shopset_git::Secret;

use crate::metrics::Metrics;
use crate::queue::Queue;
use crate::webhook;

/// What the handlers share.
pub struct Shared {
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The work queue.
    pub queue: Arc<Queue>,
    /// Ready to serve.
    pub ready: AtomicBool,
    /// The webhook secret; no webhook is accepted without one.
    pub webhook_secret: Option<Secret>,
    /// The Tiers and Configurations as of the last batch, to route pushes.
    pub routing: RwLock<Resources>,
}

/// The router.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/webhook", post(hook))
        .layer(DefaultBodyLimit::max(webhook::MAX_BODY))
        .with_state(shared)
}

async fn readyz(State(s): State<Arc<Shared>>) -> (StatusCode, &'static str) {
    if s.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting")
    }
}

async fn metrics(State(s): State<Arc<Shared>>) -> ([(&'static str, &'static str); 1], String) {
    s.metrics.queue(s.queue.depth());
    (
        [(
            "content-type",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.render(),
    )
}

async fn hook(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let Some(secret) = &s.webhook_secret else {
        s.metrics.webhook("disabled");
        return (
            StatusCode::NOT_FOUND,
            "webhooks are off: no secret configured\n".into(),
        );
    };
    let signature = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok());
    if let Err(e) = webhook::verify(secret.expose().as_bytes(), signature, &body) {
        s.metrics.webhook("unauthorized");
        tracing::warn!(error = %e, "webhook refused");
        return (StatusCode::UNAUTHORIZED, format!("{e}\n"));
    }
    let event = headers
        .get("x-github-event")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("push");
    if event == "ping" {
        s.metrics.webhook("ping");
        return (StatusCode::OK, "pong\n".into());
    }
    if event == "pull_request" {
        return pull_request(&s, &body);
    }
    if event != "push" {
        s.metrics.webhook("ignored");
        return (StatusCode::ACCEPTED, format!("event {event:?} ignored\n"));
    }
    let push = match webhook::parse_push(&body) {
        Ok(p) => p,
        Err(e) => {
            s.metrics.webhook("bad_request");
            return (StatusCode::BAD_REQUEST, format!("{e}\n"));
        }
    };
    let tiers = match s.routing.read() {
        Ok(r) => webhook::tiers_for(&push, &r),
        Err(_) => Vec::new(),
    };
    for t in &tiers {
        s.queue.sync(t);
    }
    s.metrics.webhook("accepted");
    tracing::info!(branch = %push.branch, ?tiers, "push webhook");
    (
        StatusCode::ACCEPTED,
        format!("queued tiers: {}\n", tiers.join(", ")),
    )
}

/// A `pull_request` event: the PreviewPolicies of its repository are polled at once.
fn pull_request(s: &Shared, body: &[u8]) -> (StatusCode, String) {
    let event = match webhook::parse_pull_request(body) {
        Ok(e) => e,
        Err(e) => {
            s.metrics.webhook("bad_request");
            return (StatusCode::BAD_REQUEST, format!("{e}\n"));
        }
    };
    let policies = match s.routing.read() {
        Ok(r) => webhook::policies_for(&event, &r),
        Err(_) => Vec::new(),
    };
    for p in &policies {
        s.queue.preview(p);
    }
    s.metrics.webhook("accepted");
    tracing::info!(number = event.number, action = %event.action, ?policies, "pull_request webhook");
    (
        StatusCode::ACCEPTED,
        format!("queued preview policies: {}\n", policies.join(", ")),
    )
}
