//! The shopset controller: a thin loop around the engine's actions.
//!
//! Room: watch the resources (from the API server, or from a directory of YAML files), batch
//! their changes per tier branch, sync the tiers with [`shopset_engine::sync`] (exactly what
//! `shopctl sync` does), and write back statuses and events; hold one Lease per tier branch so
//! each branch has one writer; serve metrics, probes and push webhooks.
//!
//! Invariants: the reconcile key is the tier branch; a replica writes a branch only while its
//! own deadline for that branch's lease has not passed; a change of status alone (ours) never
//! triggers a sync; no finalizer is ever added, so nothing waits on this process to be deleted.

pub mod args;
pub mod backend;
pub mod http;
pub mod lease;
pub mod metrics;
pub mod notify;
pub mod queue;
pub mod reconcile;
pub mod run;
pub mod snapshot;
pub mod telemetry;
/// Push webhooks: the pure part lives in the engine.
pub use shopset_engine::webhook;
