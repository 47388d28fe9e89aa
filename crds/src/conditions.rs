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
}

/// Condition reasons.
pub mod reasons {
    /// Input validation failed.
    pub const INVALID_SPEC: &str = "InvalidSpec";
    /// The referenced configuration does not exist.
    pub const CONFIGURATION_NOT_FOUND: &str = "ConfigurationNotFound";
    /// No failure domain could take the ShopSet.
    pub const NO_CAPACITY: &str = "NoCapacity";
    /// Rendering succeeded.
    pub const RENDERED: &str = "Rendered";
}
