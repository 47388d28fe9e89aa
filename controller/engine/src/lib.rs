//! The actions of shopset ("ops"), shared by the controller and `shopctl`.
//!
//! Room: the flows of DESIGN.md as library functions: read the resources, plan what each tier
//! branch must hold, then commit it (or write it to a directory). Both binaries call these same
//! functions with the same inputs, so what `shopctl` does by hand is what the controller does.
//!
//! Invariants: every action plans first ([`ops::plan::plan_sync`], which writes nothing) and
//! then executes; a tier whose tree is unchanged gets no commit; one bad resource is reported
//! and never stops the others; a ShopSet rendered before whose input turned invalid keeps its
//! last rendering instead of disappearing; when some input could not even be identified, no
//! ShopSet is removed.

/// The tracing target of progress messages for people (fetching, writing, pushing): shopctl
/// shows them on stderr.
pub const PROGRESS: &str = "shopset::progress";

pub mod base;
pub mod checks;
pub mod fault;
pub mod files;
pub mod memo;
pub mod ops;
pub mod problem;
pub mod repos;
pub mod resources;
pub mod webhook;

pub use ops::plan::{Content, Summary, SyncPlan, TierPlan, plan_sync, plan_tiers};
pub use ops::sync::{
    Author, CONFIRM_REMOVALS_ANNOTATION, Deadline, SyncOptions, SyncResult, TierOutcome,
    TierResult, WriteError, commit_message, removal_token, sync,
};
pub use problem::{Problem, Severity, Subject, any_error};
pub use repos::Repos;
pub use resources::{InputError, Resources};
