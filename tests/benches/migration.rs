//! The migration benchmark: `n` ShopSets in three tiers move from one failure domain to
//! another in four steps (5, 25, 50, 100 %), through the real engine and sync (commit and push
//! to a bare repository), with Argo CD's health simulated: after each sync every side is
//! reported Synced at its tier's tip and Healthy. It prints the syncs, the commits, the wall
//! time and the largest commit (files changed); it asserts only that the migration finishes.
//!
//! `cargo bench -p shopset-tests --bench migration -- 1000` (the argument is the number of
//! ShopSets; 1,000 by default; `--in-flight=N`, default 100).

use std::process::Command;
use std::time::Instant;

use shopset_engine::ops::status::AppObservation;
use shopset_engine::{Author, Repos, Resources, SyncOptions, TierOutcome};
use shopset_tests::servers::bare_repo;
use shopset_tests::{app_repo_from_dir, fixtures};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TIERS: [&str; 3] = ["tier-0", "tier-1", "tier-2"];

fn resources(n: usize, app: &str, system: &str, migration: Option<usize>) -> Resources {
    let mut docs = Vec::new();
    for (i, tier) in TIERS.iter().enumerate() {
        let from = if i == 0 {
            String::new()
        } else {
            format!("  promotesFrom: tier-{}\n", i - 1)
        };
        // Room for a migration's removals: each sync removes up to the in-flight limit of old
        // sides.
        docs.push(format!(
            "apiVersion: shopset.dev/v1alpha1\nkind: Tier\nmetadata: {{name: {tier}}}\nspec:\n{from}  \
             app: {{url: \"{app}\", path: kustomize}}\n  system: {{url: \"{system}\"}}\n  \
             safety: {{maxRemovals: {{percent: 45, count: 1000}}}}\n"
        ));
    }
    docs.push(
        "apiVersion: shopset.dev/v1alpha1\nkind: Configuration\nmetadata: {name: standard}\nspec:\n  \
         inline:\n    values: {LOG_LEVEL: \"info\"}\n    replicas: {podinfo: 2}\n"
            .into(),
    );
    docs.push(
        "apiVersion: shopset.dev/v1alpha1\nkind: FailureDomain\nmetadata: {name: east}\nspec:\n  \
         destination: {name: east-1}\n"
            .into(),
    );
    if let Some(in_flight) = migration {
        docs.push(
            "apiVersion: shopset.dev/v1alpha1\nkind: FailureDomain\nmetadata: {name: west}\nspec:\n  \
             destination: {name: west-1}\n"
                .into(),
        );
        docs.push(format!(
            "apiVersion: shopset.dev/v1alpha1\nkind: Migration\nmetadata: {{name: upgrade}}\nspec:\n  \
             from: east\n  to: west\n  maxInFlight: {in_flight}\n  handover: 0s\n  steps:\n  \
             - {{percent: 5}}\n  - {{percent: 25}}\n  - {{percent: 50}}\n  - {{percent: 100}}\n"
        ));
    }
    for i in 0..n {
        docs.push(format!(
            "apiVersion: shopset.dev/v1alpha1\nkind: ShopSet\nmetadata: {{name: shop-{i:06}}}\nspec:\n  \
             tier: tier-{}\n  configuration: standard\n",
            i % 3
        ));
    }
    let mut r = Resources::default();
    r.add_text("bench.yaml", &docs.join("---\n"));
    assert!(r.errors.is_empty(), "{:?}", r.errors.first());
    r
}

/// Argo CD's view after a sync: every side of every ShopSet Synced at its tier's tip, Healthy.
fn healthy(r: &mut Resources, repos: &mut Repos, system: &str, tips: &[(String, String)]) {
    r.applications.clear();
    for (tier, tip) in tips {
        let repo = repos.system(system, false).unwrap().unwrap();
        let text = repo
            .read_file(tip, shopset_render::layout::INPUTS)
            .unwrap()
            .unwrap();
        let inputs = shopset_render::parse_inputs(&String::from_utf8_lossy(&text)).unwrap();
        let _ = tier;
        for (name, placed) in &inputs.shop_sets {
            for side in placed.sides(name) {
                r.applications.insert(
                    side.name,
                    AppObservation {
                        sync: Some("Synced".into()),
                        revision: Some(tip.clone()),
                        health: Some("Healthy".into()),
                    },
                );
            }
        }
    }
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000);
    let in_flight: usize = std::env::args()
        .find_map(|a| a.strip_prefix("--in-flight=").and_then(|v| v.parse().ok()))
        .unwrap_or(100);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let system = dir.join("system.git");
    bare_repo(&system);
    let app = dir.join("app.git");
    app_repo_from_dir(&app, &fixtures().join("apps/podinfo"), &TIERS);
    let system_url = system.display().to_string();
    let app_url = app.display().to_string();
    let author = Author {
        name: "bench".into(),
        email: "b@b".into(),
        producer: "bench".into(),
        time: None,
        signer: None,
    };
    let mut repos = Repos::new(dir.join("cache"));
    let options = SyncOptions::default();
    println!(
        "migration benchmark: {n} ShopSets in 3 tiers from east to west, steps 5/25/50/100 %, \
         {in_flight} in flight, health simulated after each sync"
    );
    let start = Instant::now();
    let cold = shopset_engine::sync(
        &resources(n, &app_url, &system_url, None),
        &mut repos,
        &author,
        &options,
    );
    assert!(cold.ok(), "{:?}", cold.problems.first());
    println!("cold sync: {:.2}s", start.elapsed().as_secs_f64());
    let first: Vec<String> = TIERS
        .iter()
        .map(|t| shopset_tests::rev(&system, t))
        .collect();

    let mut r = resources(n, &app_url, &system_url, Some(in_flight));
    let (mut syncs, mut commits, mut sync_time) = (0, 0, 0.0);
    let mut last = None;
    for _ in 0..10_000 {
        let start = Instant::now();
        let result = shopset_engine::sync(&r, &mut repos, &author, &options);
        sync_time += start.elapsed().as_secs_f64();
        syncs += 1;
        assert!(result.ok(), "{:?}", result.problems.first());
        let mut tips = Vec::new();
        for t in &result.tiers {
            match &t.outcome {
                TierOutcome::Committed { commit, .. } => {
                    commits += 1;
                    tips.push((t.plan.tier.clone(), commit.clone()));
                }
                TierOutcome::Unchanged { commit: Some(c) } => {
                    tips.push((t.plan.tier.clone(), c.clone()));
                }
                other => panic!("{}: {other:?}", t.plan.tier),
            }
        }
        let status = result.migrations["upgrade"].clone();
        let done = status.phase.as_deref() == Some("Succeeded");
        last = Some(status);
        if done {
            break;
        }
        healthy(&mut r, &mut repos, &system_url, &tips);
    }
    let status = last.unwrap();
    assert_eq!(status.phase.as_deref(), Some("Succeeded"), "{status:?}");
    // The largest commit, in files changed.
    let mut largest = (0, String::new());
    for (tier, from) in TIERS.iter().zip(&first) {
        let out = Command::new("git")
            .args(["rev-list", &format!("{from}..{tier}")])
            .current_dir(&system)
            .output()
            .unwrap();
        for commit in String::from_utf8_lossy(&out.stdout).lines() {
            let files = Command::new("git")
                .args(["diff-tree", "-r", "--no-commit-id", "--name-only", commit])
                .current_dir(&system)
                .output()
                .unwrap();
            let count = String::from_utf8_lossy(&files.stdout).lines().count();
            if count > largest.0 {
                largest = (count, format!("{tier} {}", &commit[..12]));
            }
        }
    }
    println!(
        "migrated {} ShopSets: {syncs} syncs, {commits} commits, {:.2}s in the engine's syncs \
         ({:.1} ms a sync); largest commit {} files ({})",
        status.moved,
        sync_time,
        1000.0 * sync_time / f64::from(syncs),
        largest.0,
        largest.1
    );
}
