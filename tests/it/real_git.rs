//! Real git: the quickstart's system repository, cloned with the git CLI and built with real
//! Kustomize; re-runs write nothing; a deleted system repository comes back identical.

use std::collections::BTreeMap;
use std::path::Path;

use shopset_tests::{clone_branch, git, kustomize, of_kind, ok, run_shopctl};

const TIERS: [&str; 3] = ["tier-0", "tier-1", "tier-2"];

fn quickstart(dir: &Path) -> String {
    ok(&run_shopctl([
        "quickstart",
        "--dir",
        &dir.display().to_string(),
    ]))
}

fn tips_and_trees(system: &Path) -> BTreeMap<String, (String, String)> {
    let repo = shopset_git::Repo::open(&system.display().to_string()).unwrap();
    TIERS
        .iter()
        .map(|t| {
            let tip = repo
                .tip(t)
                .unwrap()
                .unwrap_or_else(|| panic!("branch {t} exists"));
            let tree = repo.tree_id(&tip).unwrap();
            ((*t).to_string(), (tip, tree))
        })
        .collect()
}

#[test]
fn quickstart_branches_clone_with_submodules_and_build() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("qs");
    quickstart(&dir);
    let system = dir.join("system.git");
    ok(&git(&system, &["fsck", "--strict"]));

    for tier in TIERS {
        let clone = tmp.path().join(format!("clone-{tier}"));
        clone_branch(&system, tier, &clone);
        ok(&git(&clone, &["fsck", "--strict"]));
        // The base is a real gitlink with a matching .gitmodules.
        let ls = ok(&git(&clone, &["ls-tree", "HEAD", "base"]));
        assert!(ls.starts_with("160000 commit "), "{ls}");
        let url = ok(&git(
            &clone,
            &["config", "-f", ".gitmodules", "submodule.base.url"],
        ));
        assert_eq!(
            url.trim(),
            format!(
                "file://{}",
                dir.canonicalize().unwrap().join("app.git").display()
            )
        );
        assert!(
            clone.join("base/kustomize/kustomization.yaml").is_file(),
            "submodule checked out"
        );

        let inputs_text = std::fs::read_to_string(clone.join(".shopset/inputs.yaml")).unwrap();
        let inputs = shopset_render::parse_inputs(&inputs_text).unwrap();
        assert!(!inputs.shop_sets.is_empty());
        for (name, placed) in &inputs.shop_sets {
            let objects = kustomize(&clone.join(shopset_render::layout::shopset_dir(name)));
            let namespace = placed
                .spec
                .namespace
                .clone()
                .unwrap_or_else(|| name.clone());
            let config = &inputs.configurations[&placed.spec.configuration].document;
            let domain = inputs.failure_domains[&placed.failure_domain]
                .config
                .as_ref();
            let mut layers = vec![config];
            layers.extend(domain);
            layers.extend(placed.spec.overrides.as_deref());
            let expected =
                shopset_render::layers::effective(&layers, placed.spec.maintenance).unwrap();

            // The Namespace itself is not namespaced (issue 14: the overlay renders it).
            let namespaced = objects.iter().filter(|o| o["kind"] != "Namespace");
            assert_eq!(
                shopset_tests::of_kind(&objects, "Namespace")[0]["metadata"]["name"],
                namespace.as_str()
            );
            for object in namespaced {
                assert_eq!(
                    object["metadata"]["namespace"],
                    namespace.as_str(),
                    "{name}: {}",
                    object["metadata"]["name"]
                );
                assert_eq!(
                    object["metadata"]["labels"]["shopset.dev/shopset"],
                    name.as_str()
                );
                assert_eq!(object["metadata"]["labels"]["shopset.dev/tier"], tier);
            }
            let deployments = of_kind(&objects, "Deployment");
            for (workload, count) in &expected.replicas {
                let d = deployments
                    .iter()
                    .find(|d| d["metadata"]["name"] == workload.as_str())
                    .unwrap();
                assert_eq!(
                    d["spec"]["replicas"].as_i64(),
                    *count,
                    "{name}: replicas of {workload}"
                );
                assert_eq!(
                    d["spec"]["template"]["metadata"]["labels"]["shopset.dev/shopset"],
                    name.as_str()
                );
            }
            for (image, change) in &expected.images {
                let change = change.as_ref().unwrap();
                let wanted = format!(
                    "{}:{}",
                    change.new_name.as_deref().unwrap_or(image),
                    change.new_tag.as_deref().unwrap_or("")
                );
                let text = serde_json::to_string(&objects).unwrap();
                assert!(
                    text.contains(&format!("\"{wanted}\"")),
                    "{name}: image {wanted}"
                );
            }
            let maps = of_kind(&objects, "ConfigMap");
            let values = maps
                .iter()
                .find(|m| {
                    m["metadata"]["name"]
                        .as_str()
                        .unwrap()
                        .starts_with("shopset-values-")
                })
                .unwrap();
            let data: BTreeMap<String, String> =
                serde_json::from_value(values["data"].clone()).unwrap();
            let wanted: BTreeMap<String, String> = expected
                .values
                .iter()
                .map(|(k, v)| (k.clone(), v.clone().unwrap()))
                .collect();
            assert_eq!(data, wanted, "{name}: values");
            // Every workload reads the hashed ConfigMap.
            let hashed = values["metadata"]["name"].as_str().unwrap();
            for d in deployments
                .iter()
                .filter(|d| d["metadata"]["name"] != "redis")
            {
                assert!(
                    serde_json::to_string(d).unwrap().contains(hashed),
                    "{name}: {} reads {hashed}",
                    d["metadata"]["name"]
                );
            }
        }
    }
}

#[test]
fn second_sync_writes_nothing_and_a_lost_system_repo_comes_back_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("qs");
    let first = quickstart(&dir);
    assert_eq!(first.matches("committed").count(), 3, "{first}");
    let before = tips_and_trees(&dir.join("system.git"));

    let again = quickstart(&dir);
    assert_eq!(again.matches("unchanged").count(), 3, "{again}");
    assert_eq!(
        tips_and_trees(&dir.join("system.git")),
        before,
        "no new commit"
    );
    let sync = ok(&run_shopctl([
        "sync",
        "-f",
        &dir.join("resources").display().to_string(),
    ]));
    assert_eq!(sync.matches("unchanged").count(), 3, "{sync}");
    assert_eq!(
        tips_and_trees(&dir.join("system.git")),
        before,
        "no new commit from sync"
    );

    std::fs::remove_dir_all(dir.join("system.git")).unwrap();
    quickstart(&dir);
    let after = tips_and_trees(&dir.join("system.git"));
    for tier in TIERS {
        assert_eq!(after[tier].1, before[tier].1, "{tier}: same tree id");
    }
}

#[test]
fn a_changed_shopset_is_one_commit_on_its_tier_only() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("qs");
    quickstart(&dir);
    let system = dir.join("system.git");
    let before = tips_and_trees(&system);
    let file = dir.join("resources/shopsets.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    let changed = text.replace(
        "  name: general-1\nspec:\n  tier: tier-2\n",
        "  name: general-1\nspec:\n  maintenance: true\n  tier: tier-2\n",
    );
    assert_ne!(text, changed);
    std::fs::write(&file, changed).unwrap();
    let out = ok(&run_shopctl([
        "sync",
        "-f",
        &dir.join("resources").display().to_string(),
    ]));
    assert!(out.contains("tier-2     tier-2     committed"), "{out}");
    let after = tips_and_trees(&system);
    assert_eq!(after["tier-0"], before["tier-0"]);
    assert_eq!(after["tier-1"], before["tier-1"]);
    let repo = shopset_git::Repo::open(&system.display().to_string()).unwrap();
    let tip = &after["tier-2"].0;
    assert_eq!(
        repo.parent(tip).unwrap().as_deref(),
        Some(before["tier-2"].0.as_str()),
        "one commit on top"
    );
    let message = repo.message(tip).unwrap();
    assert!(
        message.starts_with("shopset: tier-2: 0 added, 1 changed, 0 removed\n"),
        "{message}"
    );
    assert!(message.contains("Changed: general-1\n"), "{message}");
    for trailer in [
        "Shopset-Tier: tier-2",
        "Shopset-App-Commit: ",
        "Shopset-Config-Commit: standard ",
        "Shopset-Producer: shopctl/",
    ] {
        assert!(message.contains(trailer), "{trailer} in {message}");
    }
    let trailers = ok(&git(
        &system,
        &[
            "log",
            "-1",
            "--format=%(trailers:key=Shopset-Tier,valueonly)",
            "tier-2",
        ],
    ));
    assert_eq!(trailers.trim(), "tier-2", "git parses the trailers");
}
