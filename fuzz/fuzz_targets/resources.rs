//! Resource parsing: any text read as a resource file. Beyond not panicking: every document
//! the YAML writer prints reads back as itself; every resource accepted has a valid DNS-label
//! name, is neither invalid nor duplicated, and reads back as itself when written out again; a
//! resource refused is recorded as invalid (so it is never taken for a removal) or marks the
//! set incomplete.
#![no_main]

use shopset_engine::Resources;
use shopset_fuzz::{document, json, text};
use shopset_render::yaml;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some(text) = text(data) else { return };
    let mut resources = Resources::default();
    resources.add_text("fuzz.yaml", text);

    // The emitter and the parser agree on every value the parser produces.
    if let Ok(docs) = yaml::parse_documents(text) {
        for doc in &docs {
            let written = yaml::to_string(doc);
            let read = yaml::parse(&written)
                .unwrap_or_else(|e| panic!("written YAML does not parse: {e}\n{written}"));
            assert_eq!(&read, doc, "YAML written does not read back:\n{written}");
        }
    } else {
        assert!(
            resources.incomplete,
            "unreadable YAML must make the set incomplete"
        );
    }

    let mut accepted: Vec<(&str, &String)> = Vec::new();
    accepted.extend(resources.tiers.keys().map(|n| ("Tier", n)));
    accepted.extend(
        resources
            .configurations
            .keys()
            .map(|n| ("Configuration", n)),
    );
    accepted.extend(
        resources
            .failure_domains
            .keys()
            .map(|n| ("FailureDomain", n)),
    );
    accepted.extend(resources.shop_sets.keys().map(|n| ("ShopSet", n)));
    for (kind, name) in &accepted {
        shopset_crds::names::dns_label(name).expect("an accepted name is a DNS label");
        assert!(
            !resources.is_invalid(kind, name),
            "{kind} {name} accepted and invalid"
        );
        assert!(
            !resources.duplicated.contains(&(*kind, (*name).clone())),
            "{kind} {name} accepted and duplicated"
        );
    }
    for (kind, names) in &resources.invalid {
        assert!(!names.is_empty(), "{kind}: an empty list of invalid names");
    }
    for shop in resources.shop_sets.values() {
        shopset_crds::names::dns_label(&shop.spec.tier).expect("spec.tier is a DNS label");
        shopset_crds::names::dns_label(&shop.spec.configuration)
            .expect("spec.configuration is a DNS label");
    }
    for (name, tier) in &resources.tiers {
        shopset_crds::names::tier_name(name).expect("an accepted Tier name fits");
        shopset_crds::names::repo_path(&tier.spec.app.path).expect("spec.app.path is safe");
    }
    if resources.errors.is_empty() {
        assert!(!resources.incomplete, "incomplete without an error said");
    }

    // Every accepted resource, written out as the one document it is, reads back the same.
    let mut docs = Vec::new();
    for (name, s) in &resources.tiers {
        let annotations = resources
            .tier_annotations
            .get(name)
            .filter(|a| !a.is_empty());
        docs.push(document("Tier", name, json(&s.spec), annotations.map(json)));
    }
    for (name, s) in &resources.configurations {
        docs.push(document("Configuration", name, json(&s.spec), None));
    }
    for (name, s) in &resources.failure_domains {
        docs.push(document("FailureDomain", name, json(&s.spec), None));
    }
    for (name, s) in &resources.shop_sets {
        let mut doc = document("ShopSet", name, json(&s.spec), None);
        if let Some(fd) = resources.recorded_placements.get(name) {
            doc["status"] = serde_json::json!({ "failureDomain": fd });
        }
        docs.push(doc);
    }
    let written: Vec<String> = docs.iter().map(yaml::to_string).collect();
    let written = written.join("---\n");
    let mut again = Resources::default();
    again.add_text("fuzz.yaml", &written);
    assert!(again.errors.is_empty(), "{:?}\n{written}", again.errors);
    assert_eq!(again.tiers, resources.tiers, "Tiers differ when read again");
    assert_eq!(again.configurations, resources.configurations);
    assert_eq!(again.failure_domains, resources.failure_domains);
    assert_eq!(again.shop_sets, resources.shop_sets);
    assert_eq!(again.recorded_placements, resources.recorded_placements);
    assert_eq!(again.tier_annotations, resources.tier_annotations);
});
