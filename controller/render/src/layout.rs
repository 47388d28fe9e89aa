//! Where things live in a system repository branch. The only place that turns names into paths.

/// Path of the `base` gitlink (the app repository submodule).
pub const BASE: &str = "base";
/// Path of the recorded inputs.
pub const INPUTS: &str = ".shopset/inputs.yaml";
/// Directory of the ShopSet Applications.
pub const APPLICATIONS: &str = "applications";

/// Directory of a ShopSet's overlay (the name was validated as a DNS label).
#[must_use]
pub fn shopset_dir(shopset: &str) -> String {
    format!("shopsets/{shopset}")
}

/// File of a ShopSet's Application.
#[must_use]
pub fn application_file(shopset: &str) -> String {
    format!("{APPLICATIONS}/{shopset}.yaml")
}

/// File of the tier's root Application.
#[must_use]
pub fn bootstrap_file(tier: &str) -> String {
    format!("bootstrap/{tier}.yaml")
}

/// The base kustomization, relative to a ShopSet's overlay directory.
#[must_use]
pub fn base_from_overlay(app_path: &str) -> String {
    format!("../../{BASE}/{app_path}")
}
