//! Configuration layers, merged with JSON merge patch (RFC 7386): the configuration, then the
//! failure domain, then the ShopSet's overrides, then (in maintenance) the merged maintenance
//! layer. Later wins; `null` removes.

use shopset_crds::{ConfigBody, ConfigLayer};

/// Merges the layers into the settings a ShopSet runs with.
///
/// # Errors
/// Only if a layer cannot be represented as JSON, or the merge produced a shape that is not a
/// configuration (a message naming the field).
pub fn effective(layers: &[&ConfigLayer], maintenance: bool) -> Result<ConfigBody, String> {
    // The documented defaults are the first layer, so a layer removes one with `null`.
    let mut merged = crate::isolation::defaults();
    for layer in layers {
        let patch = serde_json::to_value(layer).map_err(|e| e.to_string())?;
        json_patch::merge(&mut merged, &patch);
    }
    let maintenance_layer = merged.as_object_mut().and_then(|m| m.remove("maintenance"));
    if maintenance && let Some(patch) = maintenance_layer {
        json_patch::merge(&mut merged, &patch);
    }
    serde_json::from_value(merged).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml;

    fn layer(text: &str) -> ConfigLayer {
        serde_json::from_value(yaml::parse(text).unwrap()).unwrap()
    }

    #[test]
    fn later_layers_win_and_null_removes() {
        let config = layer(
            "values: {A: '1', B: '2'}\nreplicas: {web: 2}\nmaintenance:\n  values: {M: 'on'}\n  replicas: {web: 0}\n",
        );
        let domain = layer("values: {B: '3', Z: 'fd'}\n");
        let overrides = layer("values: {A: null}\nmaintenance:\n  values: {M: 'soon'}\n");
        let normal = effective(&[&config, &domain, &overrides], false).unwrap();
        assert_eq!(normal.values.get("A"), None);
        assert_eq!(normal.values["B"].as_deref(), Some("3"));
        assert_eq!(normal.values["Z"].as_deref(), Some("fd"));
        assert_eq!(normal.replicas["web"], Some(2));
        assert!(!normal.values.contains_key("M"));
        let maint = effective(&[&config, &domain, &overrides], true).unwrap();
        assert_eq!(maint.values["M"].as_deref(), Some("soon"));
        assert_eq!(maint.replicas["web"], Some(0));
    }
}
