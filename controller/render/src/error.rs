//! Rendering errors: each names the resource and the field, and says what was expected.

use crate::tree::PathError;

/// Why a tier or one of its ShopSets could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// A problem with the Tier itself: nothing of the tier can be rendered.
    #[error("Tier {tier:?}: {field}: {message}")]
    Tier {
        /// The Tier.
        tier: String,
        /// Field path, e.g. `spec.app.path`.
        field: String,
        /// What was wrong and what was expected.
        message: String,
    },
    /// A problem with one ShopSet (or the configuration or domain it uses): only it is affected.
    #[error("ShopSet {shopset:?}: {field}: {message}")]
    ShopSet {
        /// The ShopSet.
        shopset: String,
        /// Field path, e.g. `spec.configuration` or `configuration standard: patches.x.patch`.
        field: String,
        /// What was wrong and what was expected.
        message: String,
    },
    /// A generated path failed validation.
    #[error(transparent)]
    Path(#[from] PathError),
}

impl RenderError {
    pub(crate) fn shopset(
        shopset: &str,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::ShopSet {
            shopset: shopset.to_owned(),
            field: field.into(),
            message: message.into(),
        }
    }

    pub(crate) fn tier(tier: &str, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Tier {
            tier: tier.to_owned(),
            field: field.into(),
            message: message.into(),
        }
    }
}
