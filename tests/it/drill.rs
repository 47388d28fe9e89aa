//! The controller-down drill: the `sh` blocks of `docs/runbook.md`, extracted from the
//! Markdown and run in order in one shell against the quick start's real git repositories; then
//! Argo CD catches up, the controller starts again (API mode, against the fake API server loaded
//! with the same resources), and its first pass must write nothing and record the statuses
//! `shopctl status` printed.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use shopset_tests::controller::{Controller, eventually};
use shopset_tests::fake_api::FakeApi;
use shopset_tests::{commit_count, quickstart_without_shops, root, tip};

const NS: &str = "shopset-system";
const BRANCHES: [&str; 3] = ["tier-0", "tier-1", "tier-2"];

/// The blocks fenced as `sh` (not `sh cluster`, nor any other language), in order.
fn sh_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```sh") => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), text) => {
                block.push_str(text);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    assert!(current.is_none(), "an sh block is not closed");
    blocks
}

#[test]
fn the_runbook_blocks_are_extracted_by_their_fence() {
    let md = "x\n```sh\na\nb\n```\n```sh cluster\nno\n```\n```console\nno\n```\n```sh\nc\n```\n";
    assert_eq!(sh_blocks(md), ["a\nb\n", "c\n"]);
}

fn application(shop_set: &str, revision: &str) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": shop_set,
            "namespace": "argocd",
            "labels": {
                "shopset.dev/shopset": shop_set,
                "app.kubernetes.io/managed-by": "shopset",
            },
        },
        "status": {
            "sync": { "status": "Synced", "revision": revision },
            "health": { "status": "Healthy" },
        },
    })
}

#[test]
fn the_runbook_done_by_hand_leaves_the_controller_nothing_to_write() {
    let (_tmp, dir) = quickstart_without_shops();
    let resources = dir.join("resources");
    let system = dir.join("system.git");
    let work = dir.join("work");
    std::fs::create_dir_all(&work).expect("work");
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    std::os::unix::fs::symlink(shopset_tests::shopctl(), bin.join("shopctl")).expect("symlink");

    // 1. The runbook, block by block, in one shell.
    let markdown = std::fs::read_to_string(root().join("docs/runbook.md")).expect("runbook");
    let blocks = sh_blocks(&markdown);
    assert!(
        blocks.len() >= 8,
        "the runbook has its steps: {}",
        blocks.len()
    );
    let mut script = String::from("set -euo pipefail\n");
    for (i, block) in blocks.iter().enumerate() {
        script.push_str(&format!("echo '### block {}'\n{block}", i + 1));
    }
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .env("PATH", path)
        .env("RESOURCES", &resources)
        .env("APP", dir.join("app.git"))
        .env("CONFIG", dir.join("config.git"))
        .env("SYSTEM", &system)
        .env("WORK", &work)
        .env("SHOPSET_CACHE_DIR", dir.join("cache"))
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("bash runs");
    let log = format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "the runbook failed:\n{log}");
    // Each step did what it says.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("exit 3: the gate does not hold"), "{log}");
    assert!(stdout.contains("exit 4: drift found"), "{log}");
    assert!(
        stdout.contains("NOTES.md"),
        "verify named the hand edit: {log}"
    );
    let docs = shopset_engine::files::read_documents(std::slice::from_ref(&resources), &[]);
    let tiers = docs.resources();
    let pin = tiers.tiers["tier-1"]
        .spec
        .pin
        .as_ref()
        .expect("tier-1 rolled back");
    assert_eq!(
        shopset_tests::running_app(&system, "tier-1"),
        pin.app_commit,
        "tier-1 runs its pin"
    );
    assert_ne!(
        shopset_tests::rev(&dir.join("app.git"), "tier-1"),
        pin.app_commit,
        "the app branch was promoted, the rollback rewrote nobody's history"
    );
    let tree = shopset_tests::git(&system, &["ls-tree", "--name-only", "tier-2"]);
    assert!(
        !String::from_utf8_lossy(&tree.stdout).contains("NOTES.md"),
        "the hand edit was rendered away"
    );

    // 2. Argo CD catches up: every ShopSet synced and healthy at its branch tip.
    let mut apps = Vec::new();
    for (name, shop_set) in &tiers.shop_sets {
        let branch = tiers.tiers[&shop_set.spec.tier]
            .spec
            .branch_or(&shop_set.spec.tier)
            .to_owned();
        apps.push(application(name, &tip(&system, &branch).expect("a tip")));
    }
    let text: String = apps
        .iter()
        .map(|a| format!("---\n{}\n", serde_json::to_string(a).expect("json")))
        .collect();
    std::fs::write(resources.join("argocd-applications.yaml"), text).expect("write");
    let out = shopset_tests::run_shopctl([
        "--cache-dir",
        &dir.join("cache").display().to_string(),
        "status",
        "-o",
        "json",
        "-f",
        &resources.display().to_string(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    let printed: BTreeMap<String, Value> = printed
        .as_array()
        .expect("tiers")
        .iter()
        .map(|t| (t["tier"].as_str().unwrap_or_default().to_owned(), t.clone()))
        .collect();
    assert_eq!(
        printed["tier-0"]["statusSource"]["from"], "applications",
        "{printed:?}"
    );

    // 3. The controller is back: the same resources and Applications, in the API server.
    let before: Vec<(Option<String>, usize)> = BRANCHES
        .iter()
        .map(|b| (tip(&system, b), commit_count(&system, b)))
        .collect();
    let api = FakeApi::start();
    // The resources and Argo CD's Applications (argocd-applications.yaml), as they are now.
    api.load_resources(&resources, NS);
    let c = Controller::start_in_cluster(&api, &dir, "drill", NS, &["--debounce-ms", "100"]);
    let statuses = eventually(Duration::from_secs(60), || {
        let mut out = BTreeMap::new();
        for b in BRANCHES {
            let t = api.get_object("shopset.dev", "tiers", NS, b)?;
            t.pointer("/status/systemCommit")?;
            if b != "tier-2" {
                // The verdict out of it is recorded with the statuses.
                t.pointer("/status/promotable")?;
            }
            out.insert(b.to_owned(), t["status"].clone());
        }
        Some(out)
    })
    .unwrap_or_else(|| panic!("no statuses; log:\n{}", c.log_text()));
    std::thread::sleep(Duration::from_millis(1500));
    let after: Vec<(Option<String>, usize)> = BRANCHES
        .iter()
        .map(|b| (tip(&system, b), commit_count(&system, b)))
        .collect();
    assert_eq!(
        before,
        after,
        "the controller's first pass wrote nothing; log:\n{}",
        c.log_text()
    );

    for b in BRANCHES {
        let (p, s) = (&printed[b], &statuses[b]);
        assert_eq!(p["systemCommit"], s["systemCommit"], "{b}: {p} / {s}");
        assert_eq!(p["synced"], s["synced"], "{b}: synced");
        assert_eq!(p["healthy"], s["healthy"], "{b}: healthy");
        assert_eq!(p["synced"], p["shopSets"], "{b}: every ShopSet synced");
    }
    // `status` shows the verdict into a tier; the controller records it on the tier below.
    assert_eq!(
        printed["tier-1"]["promotable"],
        statuses["tier-0"]["promotable"]
    );
    assert_eq!(
        printed["tier-2"]["promotable"],
        statuses["tier-1"]["promotable"]
    );
}
