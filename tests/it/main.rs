//! Cross-crate tests. One binary (one link) for all of them.

mod argo_schema;
mod concurrency;
mod controller;
mod controller_api;
mod cordon;
mod crash;
mod crds;
mod determinism;
mod diff_log;
mod drill;
mod errors;
mod fake_api;
mod golden;
mod hardening;
mod incremental;
mod kustomize;
mod migration;
mod parity;
mod promote;
mod properties;
mod real_git;
mod remote_git;
mod routing_nginx;
mod shopctl_cluster;
mod shops;
mod verify;
