//! The actions, one module each.

pub mod bootstrap;
pub mod diff;
pub mod edit;
pub mod freeze;
pub mod log;
pub mod migrate;
pub mod notify;
pub mod observe;
pub mod overview;
pub mod pin;
pub mod plan;
pub mod preview;
pub mod promote;
pub mod pull_request;
pub mod quickstart;
pub mod render_dir;
pub mod rollouts;
pub mod shops;
pub mod status;
pub mod sync;
pub mod verdict;
pub mod verify;
pub mod warm;

/// Every action of the product, whoever takes it: the controller on its own, or a person with
/// `shopctl` (or git and kubectl). Each is decided by one engine function that both binaries
/// call with the same inputs ([`Action::engine_function`]); the parity test has one row per
/// variant and fails to build when a variant has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    /// Render the resources into every tier branch.
    Sync,
    /// The app branch of a tier moved: render the tier on its new base.
    BaseMove,
    /// A configuration repository's branch moved: render the ShopSets that read it.
    ConfigurationMove,
    /// A sync that would remove too many ShopSets stops.
    RemovalStop,
    /// A person confirmed exactly that set of removals (the Tier's annotation).
    RemovalConfirmation,
    /// Promote the app commit into the next tier, by fast-forward push.
    PromoteApp,
    /// Promote the configuration commits into the next tier.
    PromoteConfiguration,
    /// Promote by a pull request, merged by fast-forward.
    PromoteByPullRequest,
    /// Pin a tier to an earlier app commit and hold it.
    Rollback,
    /// Let a pinned tier follow its app branch again.
    Unpin,
    /// Hold a tier: nothing promotes into it.
    Hold,
    /// Release a held tier.
    Release,
    /// Approve a candidate for a tier that requires approval.
    Approve,
    /// Switch a ShopSet's maintenance mode.
    Maintenance,
    /// Move a shop to another ShopSet (its first step, warm; switch and settle follow as
    /// Argo CD reports each step in effect).
    ShopMove,
    /// Give a shop a ShopSet of its own and move it there.
    ShopIsolate,
    /// Add a shop (the sync assigns it).
    ShopAdd,
    /// Remove a shop (its rows leave the routing table).
    ShopRemove,
    /// Cordon a failure domain: new ShopSets are placed elsewhere, nothing moves.
    Cordon,
    /// A Migration's next commit: each ShopSet in flight one phase further, new ones as its
    /// step and in-flight limit allow.
    MigrationStep,
    /// Approve a Migration's steps up to a number.
    MigrationApprove,
    /// Abort a Migration: its ShopSets in flight walk back.
    MigrationAbort,
    /// A pull request's preview: its branch `preview/pr-<n>` rendered at the pull request's
    /// head (created, or its gitlink moved).
    PreviewUp,
    /// A preview removed on positive evidence: its Application, then its branch.
    PreviewDown,
}

impl Action {
    /// Every action, in declaration order.
    pub const ALL: [Self; 24] = [
        Self::Sync,
        Self::BaseMove,
        Self::ConfigurationMove,
        Self::RemovalStop,
        Self::RemovalConfirmation,
        Self::PromoteApp,
        Self::PromoteConfiguration,
        Self::PromoteByPullRequest,
        Self::Rollback,
        Self::Unpin,
        Self::Hold,
        Self::Release,
        Self::Approve,
        Self::Maintenance,
        Self::ShopMove,
        Self::ShopIsolate,
        Self::ShopAdd,
        Self::ShopRemove,
        Self::Cordon,
        Self::MigrationStep,
        Self::MigrationApprove,
        Self::MigrationAbort,
        Self::PreviewUp,
        Self::PreviewDown,
    ];

    /// The engine function that decides the action, called by the controller and by
    /// `shopctl` alike.
    #[must_use]
    pub const fn engine_function(self) -> &'static str {
        match self {
            Self::Sync | Self::BaseMove | Self::ConfigurationMove => "ops::sync::sync",
            Self::RemovalStop | Self::RemovalConfirmation => {
                "ops::sync::sync (ops::sync::removal_stop, from the Tier's spec.safety and annotation)"
            }
            Self::PromoteApp | Self::PromoteConfiguration => {
                "ops::verdict::verdict, then ops::verdict::carry_out (push)"
            }
            Self::PromoteByPullRequest => {
                "ops::verdict::verdict, then ops::verdict::carry_out (pull request)"
            }
            Self::Rollback => {
                "ops::edit::rollback (ops::pin::previous_app_commit), then ops::sync::sync"
            }
            Self::Unpin => "ops::edit::unpin, then ops::sync::sync",
            Self::Hold => "ops::edit::hold",
            Self::Release => "ops::edit::release",
            Self::Approve => "ops::edit::approve",
            Self::Maintenance => "ops::edit::maintenance, then ops::sync::sync",
            Self::ShopMove => {
                "ops::edit::move_shop, then ops::sync::sync (ops::shops::plan: warm, switch, settle)"
            }
            Self::ShopIsolate => {
                "ops::edit::isolate_shop, then ops::sync::sync (ops::shops::isolated, then a move)"
            }
            Self::ShopAdd => "ops::edit::add_shop, then ops::sync::sync (ops::shops::plan)",
            Self::ShopRemove => {
                "ops::edit::remove_shop, then ops::sync::sync (ops::shops::plan, the mass-move stop)"
            }
            Self::Cordon => "ops::edit::cordon, then ops::sync::sync (placement skips the domain)",
            Self::MigrationStep => "ops::sync::sync (ops::migrate::plan: one phase a ShopSet)",
            Self::MigrationApprove => {
                "ops::edit::approve_migration_step, then ops::sync::sync (ops::migrate::plan)"
            }
            Self::MigrationAbort => {
                "ops::edit::abort_migration, then ops::sync::sync (ops::migrate::plan walks back)"
            }
            Self::PreviewUp => {
                "ops::preview::up (the controller: ops::preview::reconcile, ops::preview::decide)"
            }
            Self::PreviewDown => {
                "ops::preview::down (the controller: ops::preview::reconcile, ops::preview::decide)"
            }
        }
    }

    /// Its position in [`Action::ALL`].
    #[must_use]
    pub const fn ordinal(self) -> usize {
        self as usize
    }
}

#[cfg(test)]
mod tests {
    use super::Action;

    #[test]
    fn all_lists_every_action_once_in_order() {
        for (i, action) in Action::ALL.iter().enumerate() {
            assert_eq!(action.ordinal(), i, "{action:?}");
        }
        assert_eq!(
            Action::ALL.len(),
            Action::PreviewDown.ordinal() + 1,
            "a new action goes into Action::ALL, and gets a row in tests/it/parity.rs"
        );
    }
}
