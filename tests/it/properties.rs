//! Properties over random inputs (proptest), on the quickstart's real repositories through the
//! engine: a render does not depend on the order of the documents or of the files holding
//! them; a sync after a sync writes nothing; and an invalid input (one ShopSet, Tier or
//! Configuration document made invalid in one of many ways) never removes or moves a ShopSet
//! from its system branch.
//!
//! Each property builds its world once (one quickstart) and runs a bounded number of cases
//! against it, so the module stays well under a minute.

use std::collections::BTreeMap;
use std::path::PathBuf;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Value, json};
use shopset_engine::{Author, Repos, Resources, SyncOptions, SyncResult, TierOutcome};
use shopset_render::{Tree, yaml};

/// The quickstart's resources, as documents, and its repositories.
struct World {
    tmp: tempfile::TempDir,
    dir: PathBuf,
    /// Every document of the resource files, in file and document order.
    docs: Vec<Value>,
}

impl World {
    fn new() -> Self {
        let (tmp, dir) = shopset_tests::quickstart_without_shops();
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("resources"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        let mut docs = Vec::new();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            docs.extend(yaml::parse_documents(&text).unwrap());
        }
        assert!(docs.len() >= 15, "{} documents", docs.len());
        Self { tmp, dir, docs }
    }

    fn cache(&self) -> PathBuf {
        self.tmp.path().join("cache")
    }

    fn system(&self) -> shopset_git::Repo {
        shopset_git::Repo::open(&self.dir.join("system.git").display().to_string()).unwrap()
    }

    /// The indexes of the documents of `kind`.
    fn of_kind(&self, kind: &str) -> Vec<usize> {
        (0..self.docs.len())
            .filter(|&i| self.docs[i]["kind"] == kind)
            .collect()
    }

    /// Every ShopSet recorded on every tier branch, with its placement and spec.
    fn rendered(&self) -> BTreeMap<String, shopset_render::inputs::ShopSetEntries> {
        let repo = self.system();
        let mut out = BTreeMap::new();
        for tier in ["tier-0", "tier-1", "tier-2"] {
            let tip = repo.tip(tier).unwrap().expect("the branch exists");
            let bytes = repo
                .read_file(&tip, shopset_render::layout::INPUTS)
                .unwrap()
                .expect("recorded inputs");
            let inputs = shopset_render::parse_inputs(std::str::from_utf8(&bytes).unwrap())
                .expect("the recorded inputs parse");
            out.insert(tier.to_owned(), inputs.shop_sets);
        }
        out
    }

    fn tips(&self) -> Vec<Option<String>> {
        let repo = self.system();
        ["tier-0", "tier-1", "tier-2"]
            .iter()
            .map(|t| repo.tip(t).unwrap())
            .collect()
    }

    fn sync(&self, resources: &Resources) -> SyncResult {
        let author = Author {
            name: "t".into(),
            email: "t@t".into(),
            producer: "properties".into(),
            time: Some(1_767_225_600),
            signer: None,
        };
        // Removals are confirmed: whatever protects a ShopSet here is the input handling, not
        // the mass-removal stop.
        shopset_engine::sync(
            resources,
            &mut Repos::new(self.cache()),
            &author,
            &SyncOptions {
                confirm_removals: true,
                backoff_ms: 1,
                ..SyncOptions::default()
            },
        )
    }

    /// The full tree planned for each tier (nothing is written).
    fn planned(&self, resources: &Resources) -> BTreeMap<String, Tree> {
        let plan = shopset_engine::plan_sync(resources, &mut Repos::new(self.cache()));
        assert!(plan.problems.is_empty(), "{:?}", plan.problems);
        plan.tiers
            .iter()
            .map(|t| (t.tier.clone(), t.full_tree().expect("the tier renders")))
            .collect()
    }
}

/// Resources read from `files` (name and text), in that order.
fn load(files: &[(String, String)]) -> Resources {
    let mut resources = Resources::default();
    for (name, text) in files {
        resources.add_text(name, text);
    }
    resources
}

/// One file holding `docs`.
fn file_of(docs: &[Value]) -> String {
    let texts: Vec<String> = docs.iter().map(yaml::to_string).collect();
    texts.join("---\n")
}

fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        // Shrinking reruns syncs: bounded, so a failure is reported in reasonable time.
        max_shrink_iters: 64,
        ..Config::default()
    }
}

fn run<S: Strategy>(cases: u32, strategy: &S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    let mut runner = TestRunner::new(config(cases));
    if let Err(e) = runner.run(strategy, test) {
        panic!("{e}");
    }
}

#[test]
fn a_render_is_the_same_whatever_the_order_of_documents_and_files() {
    let world = World::new();
    let baseline = world.planned(&load(&[("all.yaml".into(), file_of(&world.docs))]));
    assert_eq!(baseline.len(), 3);
    let n = world.docs.len();
    // A permutation of the documents, and for each the file (of up to five) it goes to; the
    // files are read in a random order too.
    let strategy = (
        Just((0..n).collect::<Vec<_>>()).prop_shuffle(),
        proptest::collection::vec(0..5usize, n),
        Just((0..5usize).collect::<Vec<_>>()).prop_shuffle(),
    );
    run(48, &strategy, |(order, file_of_doc, file_order)| {
        let mut groups: Vec<Vec<Value>> = vec![Vec::new(); 5];
        for &i in &order {
            groups[file_of_doc[i]].push(world.docs[i].clone());
        }
        let files: Vec<(String, String)> = file_order
            .iter()
            .filter(|&&f| !groups[f].is_empty())
            .map(|&f| (format!("part-{f}.yaml"), file_of(&groups[f])))
            .collect();
        let planned = world.planned(&load(&files));
        prop_assert_eq!(
            planned.keys().collect::<Vec<_>>(),
            baseline.keys().collect::<Vec<_>>()
        );
        for (tier, tree) in &planned {
            prop_assert!(
                *tree == baseline[tier],
                "{} differs with the documents in order {:?}",
                tier,
                order
            );
        }
        Ok(())
    });
}

/// A change a person may make to the resources, always valid.
#[derive(Debug, Clone)]
enum Edit {
    /// Turn maintenance on or off for the n-th ShopSet.
    Maintenance(usize),
    /// Set a value override of the n-th ShopSet.
    Value(usize, String, String),
    /// Set a replica override of the n-th ShopSet.
    Replicas(usize, i64),
    /// Add a ShopSet on a tier (0 to 2) with one of the two configurations.
    Add(u8, usize, bool),
    /// Remove the n-th ShopSet.
    Remove(usize),
    /// Change the weight of the n-th failure domain (moves nobody).
    Weight(usize, i64),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        any::<usize>().prop_map(Edit::Maintenance),
        (any::<usize>(), "[A-Z][A-Z0-9_]{0,6}", "\\PC{0,12}")
            .prop_map(|(i, k, v)| Edit::Value(i, k, v)),
        (any::<usize>(), 0..5i64).prop_map(|(i, r)| Edit::Replicas(i, r)),
        (0..3u8, 0..4usize, any::<bool>()).prop_map(|(t, n, p)| Edit::Add(t, n, p)),
        any::<usize>().prop_map(Edit::Remove),
        (any::<usize>(), 1..1000i64).prop_map(|(i, w)| Edit::Weight(i, w)),
    ]
}

fn apply(world: &World, docs: &mut Vec<Value>, edit: &Edit) {
    let shops = world.of_kind("ShopSet");
    let shop = |i: usize| shops[i % shops.len()];
    let removed = |i: &usize| docs[shop(*i)].is_null();
    match edit {
        // A ShopSet removed by an earlier edit stays removed.
        Edit::Maintenance(i) | Edit::Value(i, ..) | Edit::Replicas(i, _) if removed(i) => {}
        Edit::Maintenance(i) => {
            let spec = &mut docs[shop(*i)]["spec"];
            let on = spec["maintenance"].as_bool().unwrap_or(false);
            spec["maintenance"] = json!(!on);
        }
        Edit::Value(i, key, value) => {
            docs[shop(*i)]["spec"]["overrides"]["values"][key] = json!(value);
        }
        Edit::Replicas(i, replicas) => {
            // A workload every base of the example has.
            docs[shop(*i)]["spec"]["overrides"]["replicas"]["storefront"] = json!(replicas);
        }
        Edit::Add(tier, n, premium) => {
            let name = format!("prop-{n}");
            if docs.iter().any(|d| d["metadata"]["name"] == name.as_str()) {
                return;
            }
            docs.push(json!({
                "apiVersion": "shopset.dev/v1alpha1",
                "kind": "ShopSet",
                "metadata": { "name": name },
                "spec": {
                    "tier": format!("tier-{tier}"),
                    "configuration": if *premium { "premium" } else { "standard" },
                },
            }));
        }
        Edit::Remove(i) => {
            // Marked, then dropped below (indexes stay valid while edits apply).
            docs[shop(*i)] = Value::Null;
        }
        Edit::Weight(i, weight) => {
            let domains = world.of_kind("FailureDomain");
            docs[domains[i % domains.len()]]["spec"]["weight"] = json!(weight);
        }
    }
}

#[test]
fn a_sync_after_a_sync_writes_nothing() {
    let world = World::new();
    let strategy = proptest::collection::vec(edit(), 1..4);
    run(24, &strategy, |edits| {
        let mut docs = world.docs.clone();
        for e in &edits {
            apply(&world, &mut docs, e);
        }
        docs.retain(|d| !d.is_null());
        let resources = load(&[("edited.yaml".into(), file_of(&docs))]);
        prop_assert!(resources.errors.is_empty(), "{:?}", resources.errors);
        let first = world.sync(&resources);
        prop_assert!(first.ok(), "{:?} {:?}", first.problems, first.tiers);
        let after_first = world.tips();
        let second = world.sync(&resources);
        prop_assert!(second.ok(), "{:?}", second.problems);
        for tier in &second.tiers {
            prop_assert!(
                matches!(tier.outcome, TierOutcome::Unchanged { .. }),
                "{}: the second sync wrote: {:?}",
                tier.plan.tier,
                tier.outcome
            );
        }
        prop_assert_eq!(world.tips(), after_first);
        Ok(())
    });
}

/// A way to make one document invalid.
#[derive(Debug, Clone)]
enum Break {
    /// `metadata.name` is not a DNS label.
    BadName(String),
    /// A required field of the spec is of the wrong type.
    WrongType(u8),
    /// No spec at all.
    NoSpec,
    /// Another apiVersion of our group.
    ApiVersion,
    /// A reference that is not a DNS label (ShopSet: tier or configuration; Tier: branch).
    BadReference(String),
    /// A ShopSet naming a Tier, Configuration or FailureDomain that does not exist.
    Missing(u8),
    /// The document, with another tier, in a second file: defined twice (the original made
    /// invalid too when the flag is set, so only the copy is valid).
    Duplicate(u8, bool),
    /// The file holding the document is not YAML any more.
    Syntax,
    /// A Configuration with both `inline` and `source`, or neither.
    Exclusive(bool),
}

fn breakage() -> impl Strategy<Value = Break> {
    let not_a_label = prop_oneof![
        Just(String::new()),
        "[A-Z][a-z]{0,6}",
        "[a-z]{1,5}_[a-z]{1,5}",
        "-[a-z]{1,6}",
        "\\.\\./[a-z]{1,6}",
        "[a-z]{64,70}",
    ];
    prop_oneof![
        not_a_label.clone().prop_map(Break::BadName),
        (0..4u8).prop_map(Break::WrongType),
        Just(Break::NoSpec),
        Just(Break::ApiVersion),
        not_a_label.prop_map(Break::BadReference),
        (0..3u8).prop_map(Break::Missing),
        (0..3u8, any::<bool>()).prop_map(|(n, invalid)| Break::Duplicate(n, invalid)),
        Just(Break::Syntax),
        any::<bool>().prop_map(Break::Exclusive),
    ]
}

/// The files of `docs` with document `target` broken by `how`: one file per kind, as a person
/// keeps them, plus a second file for a duplicate.
fn broken_files(docs: &[Value], target: usize, how: &Break) -> Vec<(String, String)> {
    let mut docs = docs.to_vec();
    let kind = docs[target]["kind"].as_str().unwrap_or_default().to_owned();
    let mut extra = None;
    let mut syntax = false;
    let doc = &mut docs[target];
    match how {
        Break::BadName(name) => doc["metadata"]["name"] = json!(name),
        Break::WrongType(n) => {
            let field = match (kind.as_str(), n) {
                ("ShopSet", 0) => "tier",
                ("ShopSet", 1) => "configuration",
                ("ShopSet", 2) => "maintenance",
                ("ShopSet", _) => "overrides",
                ("Tier", 0 | 1) => "app",
                ("Tier", _) => "system",
                (_, 0 | 1) => "inline",
                _ => "source",
            };
            let wrong = match n {
                0 => json!(["a", "list"]),
                1 => json!(7),
                2 => json!("yes"),
                _ => json!({ "unknownField": true, "values": 3 }),
            };
            doc["spec"][field] = wrong;
        }
        Break::NoSpec => {
            doc.as_object_mut().unwrap().remove("spec");
        }
        Break::ApiVersion => doc["apiVersion"] = json!("shopset.dev/v2"),
        Break::BadReference(name) => match kind.as_str() {
            "ShopSet" => doc["spec"]["tier"] = json!(name),
            "Tier" => doc["spec"]["branch"] = json!(name),
            _ => doc["spec"]["source"] = json!({ "url": "", "path": format!("/{name}") }),
        },
        Break::Missing(n) => match (kind.as_str(), n) {
            ("ShopSet", 0) => doc["spec"]["tier"] = json!("tier-9"),
            ("ShopSet", 1) => doc["spec"]["configuration"] = json!("nope"),
            ("ShopSet", _) => doc["spec"]["failureDomain"] = json!("nowhere"),
            ("Tier", _) => doc["spec"]["promotesFrom"] = json!("tier-9"),
            _ => doc["spec"] = json!({}),
        },
        Break::Duplicate(n, invalid) => {
            let mut copy = doc.clone();
            if kind == "ShopSet" {
                copy["spec"]["tier"] = json!(format!("tier-{n}"));
            }
            if *invalid {
                let field = match kind.as_str() {
                    "ShopSet" => "maintenance",
                    "Tier" => "app",
                    _ => "inline",
                };
                doc["spec"][field] = json!(1);
            }
            extra = Some(copy);
        }
        Break::Syntax => syntax = true,
        Break::Exclusive(both) => {
            if kind == "Configuration" {
                if *both {
                    doc["spec"]["inline"] = json!({ "values": { "A": "1" } });
                    doc["spec"]["source"] = json!({ "url": "https://h/c.git", "path": "c.yaml" });
                } else {
                    doc["spec"] = json!({});
                }
            } else {
                let field = if kind == "ShopSet" { "tier" } else { "app" };
                doc["spec"][field] = json!({ "inline": { "values": {} } });
            }
        }
    }
    let mut files = Vec::new();
    for k in ["Tier", "Configuration", "FailureDomain", "ShopSet"] {
        let mut texts = Vec::new();
        for (i, d) in docs.iter().enumerate().filter(|(_, d)| d["kind"] == k) {
            let mut text = yaml::to_string(d);
            if syntax && i == target {
                text.insert_str(0, "{{: [\n");
            }
            texts.push(text);
        }
        files.push((format!("{k}.yaml"), texts.join("---\n")));
    }
    if let Some(copy) = extra {
        files.push(("zz-copy.yaml".into(), yaml::to_string(&copy)));
    }
    files
}

#[test]
fn an_invalid_input_never_removes_or_moves_a_shopset() {
    let world = World::new();
    let before = world.rendered();
    let on_branches: usize = before.values().map(BTreeMap::len).sum();
    assert_eq!(on_branches, 8, "the quickstart's ShopSets are rendered");
    let targets: Vec<usize> = ["ShopSet", "Tier", "Configuration"]
        .iter()
        .flat_map(|k| world.of_kind(k))
        .collect();
    let strategy = (proptest::sample::select(targets), breakage());
    run(48, &strategy, |(target, how)| {
        let files = broken_files(&world.docs, target, &how);
        let resources = load(&files);
        let result = world.sync(&resources);
        prop_assert!(
            !result.problems.is_empty() || !resources.errors.is_empty(),
            "the broken input was not reported"
        );
        let after = world.rendered();
        for (tier, shops) in &before {
            for (name, placed) in shops {
                prop_assert!(
                    after[tier].get(name) == Some(placed),
                    "{} {:?}: ShopSet {} on {} was removed, moved or changed; problems: {:?}",
                    world.docs[target]["kind"],
                    how,
                    name,
                    tier,
                    result.problems
                );
            }
        }
        Ok(())
    });
}
