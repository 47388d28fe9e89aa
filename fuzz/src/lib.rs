//! What the fuzz targets share: turning fuzzer bytes into text, building a tier's render inputs
//! from parsed resources the way the engine does (without git: source configurations are given
//! an empty document read at a fixed commit), and the properties every rendered tree has.

use std::collections::BTreeMap;

use serde_json::Value;
use shopset_engine::Resources;
use shopset_render::inputs::{ConfigSourceAt, PlacedShopSet, ResolvedConfiguration};
use shopset_render::placement::{self, PlacementRequest};
use shopset_render::{TierInputs, Tree, layout, tree, yaml};

/// The app commit every fuzzed tier runs.
pub const APP_COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// The fuzzer's bytes as text, when they are UTF-8 (YAML and JSON texts are).
#[must_use]
pub fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// The render inputs of every tier of `resources`, as the engine would resolve them: ShopSets
/// placed over every failure domain at once (capacity is shared), each tier with its own
/// ShopSets and the configurations they use. ShopSets that cannot be placed are left out.
#[must_use]
pub fn tier_inputs(resources: &Resources) -> BTreeMap<String, TierInputs> {
    let domains: BTreeMap<String, _> = resources
        .failure_domains
        .iter()
        .map(|(name, s)| (name.clone(), s.spec.clone()))
        .collect();
    let requests: Vec<(&str, PlacementRequest<'_>)> = resources
        .shop_sets
        .iter()
        .map(|(name, s)| {
            (
                name.as_str(),
                PlacementRequest {
                    explicit: s.spec.failure_domain.as_deref(),
                    previous: resources.recorded_placements.get(name).map(String::as_str),
                },
            )
        })
        .collect();
    let placements = placement::place(&requests, &domains);
    let mut out = BTreeMap::new();
    for (tier, sourced) in &resources.tiers {
        let mut inputs = TierInputs::new(tier.clone(), sourced.spec.clone(), APP_COMMIT.into());
        for (name, placed) in placements.iter() {
            let Ok(domain) = placed else { continue };
            let shop = &resources.shop_sets[*name];
            if shop.spec.tier != *tier {
                continue;
            }
            if let Some(config) = resources.configurations.get(&shop.spec.configuration) {
                let resolved = match (&config.spec.inline, &config.spec.source) {
                    (Some(inline), _) => ResolvedConfiguration {
                        source: None,
                        document: inline.clone(),
                    },
                    (None, Some(source)) => ResolvedConfiguration {
                        source: Some(ConfigSourceAt {
                            url: source.url.clone(),
                            path: source.path.clone(),
                            commit: APP_COMMIT.into(),
                        }),
                        document: shopset_crds::ConfigLayer::default(),
                    },
                    (None, None) => continue,
                };
                inputs
                    .configurations
                    .insert(shop.spec.configuration.clone(), resolved);
            }
            if let Some(fd) = domains.get(*domain) {
                inputs
                    .failure_domains
                    .insert((*domain).to_owned(), fd.clone());
            }
            inputs.shop_sets.insert(
                (*name).to_owned(),
                PlacedShopSet::new((*domain).to_owned(), shop.spec.clone()).into(),
            );
        }
        out.insert(tier.clone(), inputs);
    }
    out
}

/// Renders a tier in both ways the engine does (whole, and common part plus each ShopSet) and
/// checks what every rendered tree must be: the same both ways and on a second render, every
/// path safe, every YAML file readable, and the recorded inputs reading back as the inputs.
/// Returns the tree, or `None` when the tier (or one of its ShopSets) is refused.
///
/// # Panics
/// When a property does not hold.
#[must_use]
pub fn check_render(inputs: &TierInputs) -> Option<Tree> {
    let whole = shopset_render::render_tier(inputs);
    let again = shopset_render::render_tier(inputs);
    assert_eq!(
        whole.as_ref().ok(),
        again.as_ref().ok(),
        "two renders of the same inputs differ"
    );
    let mut parts = match shopset_render::render_common(inputs) {
        Ok(tree) => tree,
        Err(_) => {
            assert!(whole.is_err(), "the tier renders whole but not in parts");
            return None;
        }
    };
    let mut refused = false;
    for name in inputs.shop_sets.keys() {
        match shopset_render::render_shopset(inputs, name) {
            Ok(files) => {
                for (path, bytes) in files {
                    assert!(
                        path.starts_with(&layout::shopset_dir(name))
                            || path == layout::application_file(name),
                        "ShopSet {name:?} wrote {path:?}, outside its own places"
                    );
                    parts.insert(path, bytes).expect("a rendered path is valid");
                }
            }
            Err(_) => refused = true,
        }
    }
    let Ok(whole) = whole else {
        assert!(refused, "the tier renders in parts but not whole");
        return None;
    };
    assert!(
        !refused,
        "a ShopSet is refused alone but rendered in the whole tier"
    );
    assert_eq!(
        whole, parts,
        "whole render differs from common part + ShopSets"
    );
    for (path, bytes) in &whole.files {
        tree::check_path(path).expect("every path of a tree is safe");
        if path.ends_with(".yaml") {
            let text = std::str::from_utf8(bytes).expect("YAML files are UTF-8");
            yaml::parse_documents(text)
                .unwrap_or_else(|e| panic!("{path} does not parse back: {e}\n{text}"));
        }
    }
    let recorded = std::str::from_utf8(&whole.files[layout::INPUTS]).expect("UTF-8");
    let read = shopset_render::parse_inputs(recorded).expect("recorded inputs parse");
    assert_eq!(&read, inputs, "recorded inputs read back differently");
    Some(whole)
}

/// The YAML document a resource of `kind` named `name` with `spec` is written as.
#[must_use]
pub fn document(kind: &str, name: &str, spec: Value, annotations: Option<Value>) -> Value {
    let mut metadata = serde_json::json!({ "name": name });
    if let Some(a) = annotations {
        metadata["annotations"] = a;
    }
    serde_json::json!({
        "apiVersion": shopset_crds::API_VERSION,
        "kind": kind,
        "metadata": metadata,
        "spec": spec,
    })
}

/// A value as JSON (every spec serializes).
///
/// # Panics
/// When it does not.
#[must_use]
pub fn json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("serializes to JSON")
}
