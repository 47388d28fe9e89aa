//! Condition types and reasons, as constants, so the controller, `shopctl` and tests agree.

/// Condition types.
pub mod types {
    /// The ShopSet's overlay was rendered.
    pub const RENDERED: &str = "Rendered";
    /// The rendered overlay is in a commit on the tier branch.
    pub const COMMITTED: &str = "Committed";
    /// Argo CD reports the Application synced at that commit.
    pub const SYNCED: &str = "Synced";
    /// Argo CD reports the Application healthy.
    pub const HEALTHY: &str = "Healthy";
    /// All of the above.
    pub const READY: &str = "Ready";
    /// The tier may be promoted to the next one.
    pub const PROMOTABLE: &str = "Promotable";
    /// The tier branch's tip was a person's commit that changed generated files.
    pub const DRIFTED: &str = "Drifted";
    /// A shop has a ShopSet, recorded in a tier branch.
    pub const ASSIGNED: &str = "Assigned";
    /// A shop waits: no ShopSet of its pool has room for it.
    pub const POOL_EXHAUSTED: &str = "PoolExhausted";
}

/// Condition reasons, and the reasons of the events written when a condition changes: the
/// one list the controller, `shopctl`, metrics and tests share.
pub mod reasons {
    /// The input is invalid; the message says which field.
    pub const INVALID_SPEC: &str = "InvalidSpec";
    /// The ShopSet could not be rendered (missing Tier or Configuration, no capacity...).
    pub const NOT_RENDERED: &str = "RenderFailed";
    /// Its Tier does not exist.
    pub const TIER_NOT_FOUND: &str = "TierNotFound";
    /// Its input turned invalid: the last good rendering stays in git.
    pub const KEPT: &str = "KeptLastRendering";
    /// Rendered.
    pub const RENDERED: &str = "Rendered";
    /// In the commit at the branch tip.
    pub const COMMITTED: &str = "Committed";
    /// The branch could not be written.
    pub const WRITE_FAILED: &str = "WriteFailed";
    /// The mass-removal stop holds the branch.
    pub const REMOVALS_BLOCKED: &str = "RemovalsNeedConfirmation";
    /// A dry run or not written yet.
    pub const PENDING: &str = "Pending";
    /// Argo CD has no Application for it yet.
    pub const APP_MISSING: &str = "ApplicationMissing";
    /// Argo CD synced another commit.
    pub const WRONG_REVISION: &str = "WrongRevision";
    /// Synced at the commit.
    pub const SYNCED: &str = "Synced";
    /// All conditions hold.
    pub const READY: &str = "Ready";
    /// Some condition does not hold.
    pub const NOT_READY: &str = "NotReady";
    /// Promotable: the next tier already runs the candidate.
    pub const UP_TO_DATE: &str = "UpToDate";
    /// Promotable: the gate into the next tier holds.
    pub const GATE_HOLDS: &str = "GateHolds";
    /// Promotable: the gate into the next tier does not hold (the message says why).
    pub const GATE_NOT_MET: &str = "GateNotMet";
    /// Drifted: a person's commit changed generated files (the message names them).
    pub const CHANGED_BY_HAND: &str = "ChangedByHand";
    /// Drifted: the tip is a pure rendering of its recorded inputs.
    pub const NOT_DRIFTED: &str = "PureRendering";
    /// A shop's ShopSet is recorded in a tier branch.
    pub const ASSIGNED: &str = "Assigned";
    /// A shop is moving (its phase says which step).
    pub const MOVING: &str = "Moving";
    /// No ShopSet of a shop's pool has room for it.
    pub const POOL_EXHAUSTED: &str = "PoolExhausted";
    /// A ShopSet of the shop's pool has room for it.
    pub const ROOM_FOUND: &str = "RoomFound";
    /// The ShopSet a shop asks for cannot take it now, or the move is not allowed.
    pub const MOVE_REFUSED: &str = "MoveRefused";
    /// Event: an automatic promotion into a tier begins.
    pub const PROMOTION_STARTED: &str = "PromotionStarted";
    /// Event: a tier was promoted.
    pub const PROMOTED: &str = "Promoted";
    /// Event: an automatic promotion failed.
    pub const PROMOTION_FAILED: &str = "PromotionFailed";
}
