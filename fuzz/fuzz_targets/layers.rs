//! Layer merging: a YAML stream of configuration layers (configuration, failure domain,
//! overrides...), merged as a ShopSet's settings; the first byte says whether it is in
//! maintenance. Properties of a JSON merge patch: a `null` never survives the merge, the last
//! layer wins, applying the last layer again or an empty layer changes nothing, the result is
//! a fixpoint when merged alone; and the engine's own merge patch (used to edit resource files)
//! agrees with the renderer's on every pair of documents.
#![no_main]

use shopset_crds::{ConfigBody, ConfigLayer};
use shopset_fuzz::text;
use shopset_render::{layers, yaml};

fn no_nulls(body: &ConfigBody) -> bool {
    body.values.values().all(Option::is_some)
        && body.replicas.values().all(Option::is_some)
        && body.images.values().all(Option::is_some)
        && body.patches.values().all(Option::is_some)
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((flags, rest)) = data.split_first() else {
        return;
    };
    let Some(text) = text(rest) else { return };
    let Ok(docs) = yaml::parse_documents(text) else {
        return;
    };
    let maintenance = flags & 1 == 1;

    // The engine's merge patch against json-patch's, on the raw documents.
    if let [target, patch, ..] = docs.as_slice() {
        let mut ours = target.clone();
        shopset_engine::files::merge_patch(&mut ours, patch);
        let mut theirs = target.clone();
        json_patch::merge(&mut theirs, patch);
        assert_eq!(ours, theirs, "two merge patches disagree");
    }

    let layers: Vec<ConfigLayer> = docs
        .into_iter()
        .take(6)
        .filter_map(|d| serde_json::from_value(d).ok())
        .collect();
    if layers.is_empty() {
        return;
    }
    let refs: Vec<&ConfigLayer> = layers.iter().collect();
    let Ok(merged) = layers::effective(&refs, maintenance) else {
        return;
    };
    assert!(no_nulls(&merged), "a null survived the merge: {merged:?}");

    let empty = ConfigLayer::default();
    let mut with_empty = refs.clone();
    with_empty.push(&empty);
    assert_eq!(
        layers::effective(&with_empty, maintenance).as_ref(),
        Ok(&merged),
        "an empty layer changed the settings"
    );
    let mut twice = refs.clone();
    twice.push(refs[refs.len() - 1]);
    assert_eq!(
        layers::effective(&twice, maintenance).as_ref(),
        Ok(&merged),
        "applying the last layer again changed the settings"
    );
    let alone = ConfigLayer {
        body: merged.clone(),
        maintenance: None,
    };
    assert_eq!(
        layers::effective(&[&alone], maintenance).as_ref(),
        Ok(&merged),
        "the merged settings are not a fixpoint"
    );

    if !maintenance {
        let last = &refs[refs.len() - 1].body;
        for (key, value) in &last.values {
            assert_eq!(
                merged.values.get(key),
                value.as_ref().map(|v| Some(v.clone())).as_ref(),
                "value {key:?}: the last layer does not win"
            );
        }
        for (key, value) in &last.replicas {
            assert_eq!(merged.replicas.get(key), value.map(Some).as_ref());
        }
    }
});
