//! Migrations between failure domains, end to end with `shopctl migrate step` on real git and
//! real Kustomize: twenty ShopSets over three tiers move from tokyo to a new domain, kyoto,
//! with Argo CD's health written as Application documents beside the resources after every
//! commit (each side Synced at its tier's tip and Healthy, unless the test says otherwise).
//! After every commit, over both sides' `kubectl kustomize` output: each base CronJob runs
//! unsuspended on at most one side (`AtMostOne`) or at least one (`AtLeastOne`); every
//! ShopSet has a side in git; no more than the in-flight limit migrate at once. An abort
//! returns every tier branch to the tree it had before the migration, byte for byte.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::Value;
use shopset_render::TierInputs;
use shopset_tests::{
    commit_count, git, kustomize, ok, quickstart, run_shopctl, shopctl_command, tip,
};

const BRANCHES: [&str; 3] = ["tier-0", "tier-1", "tier-2"];

struct World {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    /// A clone of the system repository, for building overlays.
    clone: PathBuf,
}

impl World {
    fn system(&self) -> PathBuf {
        self.dir.join("system.git")
    }

    fn res(&self) -> String {
        self.dir.join("resources").display().to_string()
    }

    /// The recorded inputs of a tier branch.
    fn recorded(&self, branch: &str) -> TierInputs {
        let shown = git(
            &self.system(),
            &["show", &format!("{branch}:.shopset/inputs.yaml")],
        );
        assert!(shown.status.success(), "{branch}: {shown:?}");
        shopset_render::parse_inputs(&String::from_utf8_lossy(&shown.stdout)).expect("inputs")
    }

    fn tree(&self, branch: &str) -> String {
        shopset_tests::rev(&self.system(), &format!("{branch}^{{tree}}"))
    }

    /// Argo CD's view: every side of every ShopSet Synced at its tier's tip and Healthy, but
    /// the Applications named in `health` report that health instead.
    fn write_health(&self, health: &BTreeMap<String, &str>) {
        let mut text = String::new();
        for branch in BRANCHES {
            let at = tip(&self.system(), branch).expect("a branch");
            for (name, placed) in &self.recorded(branch).shop_sets {
                for side in placed.sides(name) {
                    let label = if side.name == *name {
                        String::new()
                    } else {
                        format!("\n    shopset.dev/side: {}", side.failure_domain)
                    };
                    let state = health.get(&side.name).copied().unwrap_or("Healthy");
                    text.push_str(&format!(
                        "---\napiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  \
                         name: {}\n  namespace: argocd\n  labels:\n    shopset.dev/shopset: {name}{label}\n\
                         status:\n  sync:\n    status: Synced\n    revision: {at}\n  health:\n    \
                         status: {state}\n",
                        side.name
                    ));
                }
            }
        }
        std::fs::write(self.dir.join("resources/argocd.yaml"), text).expect("write");
    }

    /// `shopctl migrate step`: the Migration's status after it.
    fn step(&self, name: &str) -> Value {
        let out = ok(&run_shopctl([
            "-o",
            "json",
            "migrate",
            "step",
            name,
            "-f",
            &self.res(),
        ]));
        let v: Value = serde_json::from_str(&out).expect("JSON");
        v["migration"].clone()
    }

    /// The system repository's branch checked out in the clone (with its `base`).
    fn checkout(&self, branch: &str) {
        ok(&git(&self.clone, &["fetch", "--quiet", "origin"]));
        ok(&git(
            &self.clone,
            &[
                "checkout",
                "--quiet",
                "--detach",
                &format!("origin/{branch}"),
            ],
        ));
        ok(&git(
            &self.clone,
            &["submodule", "--quiet", "update", "--init"],
        ));
    }

    /// The invariants after a commit; returns how many ShopSets are in flight.
    fn check(&self, at_most_one: bool) -> usize {
        let mut in_flight = 0;
        for branch in BRANCHES {
            self.checkout(branch);
            let inputs = self.recorded(branch);
            for (name, placed) in &inputs.shop_sets {
                let sides = placed.sides(name);
                for side in &sides {
                    let dir = self
                        .clone
                        .join(shopset_render::layout::side_dir(name, &side.name));
                    let app = self
                        .clone
                        .join(shopset_render::layout::side_application_file(
                            name, &side.name,
                        ));
                    assert!(
                        dir.join("kustomization.yaml").is_file() && app.is_file(),
                        "{branch}: {name}: side {} missing from git",
                        side.name
                    );
                }
                if sides.len() < 2 {
                    continue;
                }
                in_flight += 1;
                // Each base CronJob: on how many sides it may run.
                let mut running: BTreeMap<String, usize> = BTreeMap::new();
                for side in &sides {
                    let dir = self
                        .clone
                        .join(shopset_render::layout::side_dir(name, &side.name));
                    for cron in kustomize(&dir).iter().filter(|o| o["kind"] == "CronJob") {
                        let cron_name = cron["metadata"]["name"].as_str().expect("a name");
                        let count = running.entry(cron_name.to_owned()).or_default();
                        assert_eq!(
                            cron["spec"]["startingDeadlineSeconds"], 300,
                            "{name}: {}: the deadline is set on both sides",
                            side.name
                        );
                        if cron["spec"]["suspend"] != true {
                            *count += 1;
                        }
                    }
                }
                assert!(!running.is_empty(), "{name}: the base has a CronJob");
                for (cron, count) in running {
                    if at_most_one {
                        assert!(count <= 1, "{branch}: {name}: {cron} runs on {count} sides");
                    } else {
                        assert!(count >= 1, "{branch}: {name}: {cron} runs on no side");
                    }
                }
            }
        }
        in_flight
    }
}

/// The quickstart with shops, a third failure domain (kyoto) and twelve more ShopSets: twenty
/// over three tiers; and a Migration `upgrade` from tokyo to kyoto (`spec` is its spec's body).
fn world(spec: &str) -> World {
    let (tmp, dir) = quickstart();
    let res = dir.join("resources");
    let mut more = String::new();
    for i in 0..12 {
        more.push_str(&format!(
            "---\napiVersion: shopset.dev/v1alpha1\nkind: ShopSet\nmetadata:\n  name: extra-{i:02}\n\
             spec:\n  tier: tier-{}\n  configuration: standard\n",
            i % 3
        ));
    }
    std::fs::write(res.join("more.yaml"), more).expect("write");
    ok(&run_shopctl(["sync", "-f", &res.display().to_string()]));
    // The new cluster arrives; the old one is cordoned, as the runbook says.
    std::fs::write(
        res.join("kyoto.yaml"),
        "apiVersion: shopset.dev/v1alpha1\nkind: FailureDomain\nmetadata:\n  name: kyoto\nspec:\n  \
         destination:\n    name: kyoto-1\n  capacity: 50\n",
    )
    .expect("write");
    ok(&run_shopctl([
        "cordon",
        "tokyo",
        "-f",
        &res.display().to_string(),
    ]));
    let clone = dir.join("clone");
    ok(&git(
        &dir,
        &[
            "clone",
            "--quiet",
            "--recurse-submodules",
            &dir.join("system.git").display().to_string(),
            &clone.display().to_string(),
        ],
    ));
    std::fs::write(
        res.join("migration.yaml"),
        format!(
            "apiVersion: shopset.dev/v1alpha1\nkind: Migration\nmetadata:\n  name: upgrade\nspec:\n  \
             from: tokyo\n  to: kyoto\n{spec}"
        ),
    )
    .expect("write");
    World {
        _tmp: tmp,
        dir,
        clone,
    }
}

/// Every ShopSet's failure domain and the Migration that brought it, as recorded.
fn placements(w: &World) -> BTreeMap<String, (String, Option<String>)> {
    let mut out = BTreeMap::new();
    for branch in BRANCHES {
        for (name, placed) in w.recorded(branch).shop_sets {
            out.insert(
                name,
                (placed.failure_domain.clone(), placed.migrated_by.clone()),
            );
        }
    }
    out
}

/// The traffic shares written to the routing tables of every tier branch.
fn shifts(w: &World, seen: &mut BTreeSet<u64>) {
    for branch in BRANCHES {
        let shown = git(
            &w.system(),
            &["show", &format!("{branch}:routing/shopsets.yaml")],
        );
        if !shown.status.success() {
            continue;
        }
        let text = String::from_utf8_lossy(&shown.stdout);
        let doc = shopset_render::yaml::parse(&text).expect("YAML");
        for (_, row) in table_rows(&doc) {
            if let Some(w) = row.pointer("/shift/weight").and_then(Value::as_u64) {
                seen.insert(w);
            }
        }
    }
}

/// The ShopSet rows of a `routing/shopsets.yaml` (a ConfigMap source: `shopSets: {...}`).
fn table_rows(doc: &Value) -> Vec<(String, Value)> {
    doc.get("shopSets")
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

#[test]
fn twenty_shop_sets_move_with_at_most_one_cron_side_and_the_limit_in_flight() {
    let w = world(
        "  maxInFlight: 3\n  handover: 0s\n  trafficWeights: [10, 50]\n  steps:\n  - percent: 25\n  \
         - percent: 100\n",
    );
    let before = placements(&w);
    let on_tokyo: Vec<&String> = before
        .iter()
        .filter(|(_, (d, _))| d == "tokyo")
        .map(|(n, _)| n)
        .collect();
    assert!(on_tokyo.len() >= 6, "{before:?}");
    let commits_before: usize = BRANCHES
        .iter()
        .map(|b| shopset_tests::commit_count(&w.system(), b))
        .sum();
    w.write_health(&BTreeMap::new());
    let mut weights = BTreeSet::new();
    let mut status = Value::Null;
    let mut held = false;
    for round in 0..120 {
        status = w.step("upgrade");
        let in_flight = w.check(true);
        assert!(
            in_flight <= 3,
            "round {round}: {in_flight} in flight: {status}"
        );
        assert!(status["inFlight"].as_u64().unwrap() <= 3, "{status}");
        shifts(&w, &mut weights);
        if status["phase"] == "Succeeded" {
            break;
        }
        // Once, a new side that is not healthy yet: its ShopSet waits, its old side stays.
        let mut health = BTreeMap::new();
        if !held && let Some(first) = status["shopSets"].as_array().and_then(|a| a.first()) {
            held = true;
            let name = first["name"].as_str().unwrap().to_owned();
            let new_side = format!("{name}--kyoto");
            health.insert(new_side, "Progressing");
            w.write_health(&health);
            let again = w.step("upgrade");
            let line = again["shopSets"]
                .as_array()
                .unwrap()
                .iter()
                .find(|l| l["name"] == name.as_str())
                .cloned()
                .expect("still in flight");
            assert_eq!(line["phase"], first["phase"], "{again}");
            assert!(
                line["message"].as_str().unwrap().contains("Healthy"),
                "{again}"
            );
            w.check(true);
        }
        w.write_health(&BTreeMap::new());
    }
    assert_eq!(status["phase"], "Succeeded", "{status}");
    assert_eq!(status["moved"], status["selected"], "{status}");
    assert!(held);
    let after = placements(&w);
    for name in &on_tokyo {
        let (domain, by) = &after[*name];
        if name.as_str() == "big-sellers" {
            // It names tokyo in its spec: it stays.
            assert_eq!(domain, "tokyo");
            continue;
        }
        assert_eq!(domain, "kyoto", "{name}");
        assert_eq!(by.as_deref(), Some("upgrade"), "{name}");
    }
    for (name, (domain, _)) in &before {
        if domain != "tokyo" {
            assert_eq!(&after[name].0, domain, "{name} was not selected");
        }
    }
    // The ShopSets that serve shops went through the traffic shares.
    assert_eq!(weights, BTreeSet::from([10, 50]), "shares seen");
    // A moved ShopSet's files are its side's: `<name>--kyoto`, and its old ones are gone.
    let moved = on_tokyo
        .iter()
        .find(|n| n.as_str() != "big-sellers")
        .unwrap();
    let tier = w
        .recorded("tier-0")
        .shop_sets
        .contains_key(moved.as_str())
        .then_some("tier-0");
    let branch = tier.unwrap_or_else(|| {
        BRANCHES
            .into_iter()
            .find(|b| w.recorded(b).shop_sets.contains_key(moved.as_str()))
            .unwrap()
    });
    w.checkout(branch);
    assert!(
        w.clone
            .join(shopset_render::layout::side_dir(
                moved,
                &format!("{moved}--kyoto")
            ))
            .is_dir()
    );
    assert!(
        !w.clone
            .join(shopset_render::layout::shopset_dir(moved))
            .exists()
    );
    let commits: usize = BRANCHES
        .iter()
        .map(|b| shopset_tests::commit_count(&w.system(), b))
        .sum();
    eprintln!(
        "migration of {} ShopSets: {} commits over the three tier branches",
        status["selected"],
        commits - commits_before
    );
    // Nothing more to do: the next step writes nothing.
    w.write_health(&BTreeMap::new());
    let tips: Vec<_> = BRANCHES.iter().map(|b| tip(&w.system(), b)).collect();
    let again = w.step("upgrade");
    assert_eq!(again["phase"], "Succeeded");
    let tips_after: Vec<_> = BRANCHES.iter().map(|b| tip(&w.system(), b)).collect();
    assert_eq!(tips, tips_after);
}

#[test]
fn at_least_one_keeps_a_cron_side_running_throughout() {
    // Two in flight: tier-0 has six ShopSets, and removing more than two of their sides in
    // one commit would trip its mass-removal stop.
    let w = world("  maxInFlight: 2\n  singletons: AtLeastOne\n  tiers: [tier-0, tier-1]\n");
    w.write_health(&BTreeMap::new());
    let mut status = Value::Null;
    for _ in 0..60 {
        status = w.step("upgrade");
        w.check(false);
        if status["phase"] == "Succeeded" {
            break;
        }
        w.write_health(&BTreeMap::new());
    }
    assert_eq!(status["phase"], "Succeeded", "{status}");
    // tier-2 was not selected.
    for (name, placed) in w.recorded("tier-2").shop_sets {
        assert!(placed.migrated_by.is_none(), "{name}");
    }
}

#[test]
fn a_degraded_side_stops_it_and_an_abort_restores_every_branch_exactly() {
    let w = world("  maxInFlight: 2\n  handover: 0s\n");
    let trees: Vec<String> = BRANCHES.iter().map(|b| w.tree(b)).collect();
    w.write_health(&BTreeMap::new());
    let mut status = Value::Null;
    for _ in 0..3 {
        status = w.step("upgrade");
        w.check(true);
        w.write_health(&BTreeMap::new());
    }
    let first = status["shopSets"][0]["name"].as_str().unwrap().to_owned();
    let degraded = BTreeMap::from([(format!("{first}--kyoto"), "Degraded")]);
    w.write_health(&degraded);
    let tips: Vec<_> = BRANCHES.iter().map(|b| tip(&w.system(), b)).collect();
    let out = run_shopctl(["-o", "json", "migrate", "step", "upgrade", "-f", &w.res()]);
    let stopped: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(stopped["migration"]["phase"], "Stopped", "{stopped}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&first) && stderr.contains("Degraded"),
        "{stderr}"
    );
    let tips_after: Vec<_> = BRANCHES.iter().map(|b| tip(&w.system(), b)).collect();
    assert_eq!(tips, tips_after, "a stopped migration writes nothing");

    ok(&run_shopctl([
        "migrate",
        "abort",
        "upgrade",
        "-f",
        &w.res(),
    ]));
    for _ in 0..20 {
        w.write_health(&degraded);
        status = w.step("upgrade");
        w.check(true);
        if status["phase"] == "Aborted" {
            break;
        }
    }
    assert_eq!(status["phase"], "Aborted", "{status}");
    let after: Vec<String> = BRANCHES.iter().map(|b| w.tree(b)).collect();
    assert_eq!(
        after, trees,
        "every tier branch is back to its tree before the migration"
    );
}

#[test]
fn a_step_that_asks_for_an_approval_waits_for_it() {
    let w = world(
        "  maxInFlight: 10\n  handover: 0s\n  steps:\n  - percent: 10\n  - percent: 100\n    \
         approval: true\n",
    );
    w.write_health(&BTreeMap::new());
    let mut status = Value::Null;
    for _ in 0..15 {
        status = w.step("upgrade");
        w.write_health(&BTreeMap::new());
        if status["waiting"]
            .as_str()
            .is_some_and(|s| s.contains("approval"))
        {
            break;
        }
    }
    assert_eq!(status["step"], "2/2", "{status}");
    assert_eq!(status["inFlight"], 0, "{status}");
    let moved = status["moved"].as_u64().unwrap();
    assert!(moved >= 1, "{status}");
    let waiting = status["waiting"].as_str().unwrap();
    assert!(
        waiting.contains("shopctl migrate approve upgrade 2"),
        "{waiting}"
    );
    ok(&run_shopctl([
        "migrate",
        "approve",
        "upgrade",
        "2",
        "-f",
        &w.res(),
    ]));
    let file = std::fs::read_to_string(w.dir.join("resources/migration.yaml")).unwrap();
    assert!(file.contains("shopset.dev/approved-step"), "{file}");
    let status = w.step("upgrade");
    assert!(status["inFlight"].as_u64().unwrap() >= 1, "{status}");
}

#[test]
fn a_crash_at_every_phase_converges_without_a_duplicate_commit() {
    let w = world("  maxInFlight: 2\n  handover: 0s\n  tiers: [tier-0]\n");
    w.write_health(&BTreeMap::new());
    let faults = ["after-objects", "after-commit", "after-push"];
    let mut status = Value::Null;
    let mut crashed = 0;
    for round in 0..30_usize {
        let out = shopctl_command()
            .env("SHOPSET_FAULT", faults[round % faults.len()])
            .args(["migrate", "step", "upgrade", "-f", &w.res()])
            .output()
            .expect("shopctl runs");
        if !out.status.success() {
            crashed += 1;
        }
        status = w.step("upgrade");
        w.check(true);
        if status["phase"] == "Succeeded" {
            break;
        }
        w.write_health(&BTreeMap::new());
    }
    assert_eq!(status["phase"], "Succeeded", "{status}");
    assert!(crashed >= 6, "the failpoints were reached: {crashed}");
    // No state was committed twice: every commit of tier-0 records other inputs.
    let listed = git(
        &w.system(),
        &["log", "--format=%H", "tier-0", "--", ".shopset/inputs.yaml"],
    );
    let commits: Vec<String> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    let blobs: BTreeSet<String> = commits
        .iter()
        .map(|c| shopset_tests::rev(&w.system(), &format!("{c}:.shopset/inputs.yaml")))
        .collect();
    assert_eq!(
        blobs.len(),
        commits.len(),
        "a recorded state committed twice"
    );
    assert_eq!(
        commits.len(),
        commit_count(&w.system(), "tier-0"),
        "every commit changed the inputs"
    );
}

#[test]
fn a_held_tier_takes_no_phase_until_released() {
    let w = world("  maxInFlight: 2\n  tiers: [tier-0]\n");
    w.write_health(&BTreeMap::new());
    ok(&run_shopctl([
        "hold",
        "tier-0",
        "--reason",
        "incident",
        "-f",
        &w.res(),
    ]));
    let before = tip(&w.system(), "tier-0");
    let status = w.step("upgrade");
    assert_eq!(
        tip(&w.system(), "tier-0"),
        before,
        "nothing written: {status}"
    );
    assert!(
        status["waiting"]
            .as_str()
            .is_some_and(|s| s.contains("held (incident)")),
        "{status}"
    );
    ok(&run_shopctl(["release", "tier-0", "-f", &w.res()]));
    let status = w.step("upgrade");
    assert_ne!(tip(&w.system(), "tier-0"), before, "{status}");
    assert_eq!(status["inFlight"], 2, "{status}");
}

#[test]
fn a_finished_migration_is_undone_by_one_the_other_way() {
    // Two in flight: tier-0 has six ShopSets, and three sides removed in one commit would
    // trip its mass-removal stop.
    let w = world("  maxInFlight: 2\n  handover: 0s\n  tiers: [tier-0]\n");
    let before: BTreeMap<String, (String, Option<String>)> = placements(&w);
    let run = |name: &str| {
        let mut status = Value::Null;
        for _ in 0..40 {
            w.write_health(&BTreeMap::new());
            status = w.step(name);
            w.check(true);
            if status["phase"] == "Succeeded" {
                break;
            }
        }
        assert_eq!(status["phase"], "Succeeded", "{name}: {status}");
        status
    };
    let there = run("upgrade");
    assert!(there["moved"].as_u64().unwrap() >= 1, "{there}");
    // Back: from kyoto to tokyo, the same ShopSets. Beside `upgrade`, it would start none
    // (the two would move them back and forth): `upgrade` is deleted first, as the runbook
    // says.
    std::fs::write(
        w.dir.join("resources/back.yaml"),
        "apiVersion: shopset.dev/v1alpha1\nkind: Migration\nmetadata:\n  name: back\nspec:\n  \
         from: kyoto\n  to: tokyo\n  maxInFlight: 2\n  handover: 0s\n",
    )
    .expect("write");
    let waiting = w.step("back");
    assert_eq!(waiting["inFlight"], 0, "{waiting}");
    assert!(
        waiting["waiting"]
            .as_str()
            .is_some_and(|s| s.contains("other way")),
        "{waiting}"
    );
    std::fs::remove_file(w.dir.join("resources/migration.yaml")).expect("delete upgrade");
    std::fs::write(
        w.dir.join("resources/back.yaml"),
        "apiVersion: shopset.dev/v1alpha1\nkind: Migration\nmetadata:\n  name: back\nspec:\n  \
         from: kyoto\n  to: tokyo\n  maxInFlight: 2\n  handover: 0s\n",
    )
    .expect("write");
    let back = run("back");
    assert_eq!(back["moved"], there["moved"], "{back}");

    let after = placements(&w);
    for (name, (domain, by)) in &before {
        let (now, now_by) = &after[name];
        assert_eq!(now, domain, "{name} is where it started");
        if by != now_by {
            assert_eq!(now_by.as_deref(), Some("back"), "{name}");
            // Its side is named after tokyo now; kyoto's is gone.
            w.checkout("tier-0");
            let side = |d: &str| {
                w.clone.join(shopset_render::layout::side_dir(
                    name,
                    &format!("{name}--{d}"),
                ))
            };
            assert!(side("tokyo").is_dir(), "{name}");
            assert!(!side("kyoto").exists(), "{name}");
        }
    }
}
