//! The shopset API: `Tier`, `Configuration`, `ShopSet`, `FailureDomain`, `Shop`, `Migration`,
//! `PreviewPolicy` and `NotificationPolicy` in the group `shopset.dev`, version `v1alpha1`.
//!
//! Room: types only. The Rust types are the source of truth for the CRD schemas (`all_crds`); the
//! committed YAML in `crds/yaml/` is `shopctl crds` output and CI fails when it drifts.
//! Invariants: no I/O, no YAML emission, no Kubernetes client. Validation that can run at
//! admission (patterns, lengths, enums, CEL) lives in the schema; [`names`] holds the same rules
//! for code that reads resources from files, where no API server checked them.

pub mod common;
pub mod conditions;
pub mod configuration;
pub mod delivery;
pub mod failure_domain;
pub mod isolation;
pub mod migration;
pub mod names;
pub mod notification;
pub mod preview;
pub mod shop;
pub mod shopset;
pub mod tier;

pub use common::*;
pub use configuration::{
    ConfigBody, ConfigLayer, Configuration, ConfigurationSource, ConfigurationSpec, ImageOverride,
    Patch, PatchTarget,
};
pub use failure_domain::{Destination, FailureDomain, FailureDomainSpec};
pub use migration::{
    MigratingShopSet, Migration, MigrationSpec, MigrationStatus, MigrationStep, SidePhase,
    Singletons,
};
pub use notification::{
    GitHubChannel, NotificationChannel, NotificationPolicy, NotificationPolicySpec,
    NotificationPolicyStatus, NotificationRule, RolloutRecord, SentMessage, Severity, SlackChannel,
    WebhookChannel,
};
pub use preview::{
    GitHubSource, PreviewEntry, PreviewPolicy, PreviewPolicySpec, PreviewPolicyStatus,
    PreviewSource,
};
pub use shop::{AssignedBy, Shop, ShopPhase, ShopSettings, ShopSpec, ShopStatus};
pub use shopset::{ShopSet, ShopSetSpec, ShopSetStatus, WorkloadDeletion};
pub use tier::{
    ArgoSettings, FreezeWindow, PromotionMode, PromotionPolicy, ProtectedField,
    PullRequestTemplate, Tier, TierPin, TierSpec, TierStatus,
};

/// The API group of every shopset resource.
pub const GROUP: &str = "shopset.dev";
/// The API version of every shopset resource.
pub const VERSION: &str = "v1alpha1";
/// `apiVersion` as it appears in manifests.
pub const API_VERSION: &str = "shopset.dev/v1alpha1";

/// The CustomResourceDefinitions of the eight kinds, in a fixed order.
#[must_use]
pub fn all_crds()
-> Vec<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition>
{
    use kube::CustomResourceExt;
    vec![
        Tier::crd(),
        Configuration::crd(),
        ShopSet::crd(),
        FailureDomain::crd(),
        Shop::crd(),
        Migration::crd(),
        PreviewPolicy::crd(),
        NotificationPolicy::crd(),
    ]
}
