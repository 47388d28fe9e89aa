//! Rendering: a resource file read, its ShopSets placed, and every tier rendered. Beyond the
//! properties of every rendered tree (see `check_render`: deterministic, whole = parts, safe
//! paths, readable YAML, recorded inputs that read back as the inputs), the resources read in
//! the reverse document order render the same trees, and a render from the recorded inputs
//! gives the same tree again.
#![no_main]

use shopset_engine::Resources;
use shopset_fuzz::{check_render, text, tier_inputs};
use shopset_render::{layout, yaml};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some(text) = text(data) else { return };
    let Ok(docs) = yaml::parse_documents(text) else {
        return;
    };
    let mut forward = Resources::default();
    let mut backward = Resources::default();
    for doc in &docs {
        forward.add_object("fuzz.yaml", doc);
    }
    for doc in docs.iter().rev() {
        backward.add_object("fuzz.yaml", doc);
    }
    let inputs = tier_inputs(&forward);
    assert_eq!(
        inputs,
        tier_inputs(&backward),
        "the document order changed the inputs"
    );
    for tier in inputs.values().take(4) {
        let Some(tree) = check_render(tier) else {
            continue;
        };
        let recorded = std::str::from_utf8(&tree.files[layout::INPUTS]).expect("UTF-8");
        let again = shopset_render::parse_inputs(recorded).expect("recorded inputs parse");
        assert_eq!(
            shopset_render::render_tier(&again).ok().as_ref(),
            Some(&tree),
            "a render from the recorded inputs differs"
        );
    }
});
