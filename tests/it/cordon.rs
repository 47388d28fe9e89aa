//! `shopctl cordon`: a cordoned failure domain gets no new ShopSet, keeps what it has, and the
//! cordon alone writes nothing to git; `uncordon` opens it again. Real git, the quickstart's
//! repositories.

use std::collections::BTreeMap;
use std::path::Path;

use shopset_tests::{ok, quickstart_without_shops, run_shopctl, tip};

const BRANCHES: [&str; 3] = ["tier-0", "tier-1", "tier-2"];

/// Every ShopSet's failure domain, as the tier branches record it.
fn placements(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for branch in BRANCHES {
        let shown = shopset_tests::git(
            &dir.join("system.git"),
            &["show", &format!("{branch}:.shopset/inputs.yaml")],
        );
        assert!(shown.status.success(), "{branch}: {shown:?}");
        let inputs = shopset_render::parse_inputs(&String::from_utf8_lossy(&shown.stdout))
            .expect("recorded inputs");
        for (name, placed) in inputs.shop_sets {
            out.insert(name, placed.failure_domain.clone());
        }
    }
    out
}

fn tips(dir: &Path) -> Vec<Option<String>> {
    BRANCHES
        .iter()
        .map(|b| tip(&dir.join("system.git"), b))
        .collect()
}

#[test]
fn a_cordoned_domain_gets_no_new_shopset_and_nothing_leaves_it() {
    let (_tmp, dir) = quickstart_without_shops();
    let res = dir.join("resources").display().to_string();
    let before = placements(&dir);
    assert!(
        before.values().any(|d| d == "tokyo") && before.values().any(|d| d == "osaka"),
        "the example uses both domains: {before:?}"
    );
    let tips_before = tips(&dir);

    let out = ok(&run_shopctl(["cordon", "tokyo", "-f", &res]));
    assert!(out.contains("kubectl patch failuredomain tokyo"), "{out}");
    let file = std::fs::read_to_string(dir.join("resources/failure-domains.yaml")).expect("read");
    assert!(file.contains("cordoned: true"), "{file}");
    assert_eq!(tips(&dir), tips_before, "a cordon alone writes nothing");
    ok(&run_shopctl(["sync", "-f", &res]));
    assert_eq!(tips(&dir), tips_before, "nor does the sync after it");

    // New ShopSets in every tier: all go to osaka; every other stays where it was.
    let mut more = String::new();
    for i in 0..6 {
        more.push_str(&format!(
            "---\napiVersion: shopset.dev/v1alpha1\nkind: ShopSet\nmetadata:\n  name: new-{i}\nspec:\n  tier: tier-{}\n  configuration: standard\n",
            i % 3
        ));
    }
    std::fs::write(dir.join("resources/more.yaml"), more).expect("write");
    ok(&run_shopctl(["sync", "-f", &res]));
    let after = placements(&dir);
    for i in 0..6 {
        assert_eq!(after[&format!("new-{i}")], "osaka", "{after:?}");
    }
    for (name, domain) in &before {
        assert_eq!(&after[name], domain, "{name} did not move");
    }

    // Open again: the next new ShopSet may go to tokyo (it has twice osaka's weight).
    ok(&run_shopctl(["uncordon", "tokyo", "-f", &res]));
    std::fs::write(
        dir.join("resources/later.yaml"),
        "apiVersion: shopset.dev/v1alpha1\nkind: ShopSet\nmetadata:\n  name: later\nspec:\n  tier: tier-0\n  configuration: standard\n",
    )
    .expect("write");
    ok(&run_shopctl(["sync", "-f", &res]));
    assert_eq!(placements(&dir)["later"], "tokyo");
}
