//! Shops in the sync: the rule's choice is recorded in the tier branches and written as their
//! routing table; it is never computed again (adding a ShopSet moves no shop); a ShopSet that
//! still serves shops is not removed; the controller agrees with `shopctl` (0 commits).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use shopset_render::routing::{self, Table};
use shopset_tests::{commit_count, git, quickstart, quickstart_without_shops, run_shopctl, tip};

const BRANCHES: [&str; 3] = ["tier-0", "tier-1", "tier-2"];

fn shop(name: &str, extra: &str) -> String {
    format!(
        "---\napiVersion: shopset.dev/v1alpha1\nkind: Shop\nmetadata:\n  name: {name}\nspec:\n  hosts: [{name}.example.com, www.{name}.shop]\n{extra}"
    )
}

/// Every routing file of every tier branch, read as a router does; and where each shop's row is.
fn tables(system: &Path) -> (Table, BTreeMap<String, Vec<String>>) {
    let mut files = Vec::new();
    let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for branch in BRANCHES {
        let listed = git(
            system,
            &["ls-tree", "-r", "--name-only", branch, "routing/"],
        );
        for path in String::from_utf8_lossy(&listed.stdout).lines() {
            let shown = git(system, &["show", &format!("{branch}:{path}")]);
            assert!(shown.status.success(), "{branch}:{path}");
            if path.starts_with("routing/shops") && !path.ends_with("shopsets.yaml") {
                let one = routing::load([(path, shown.stdout.as_slice())]).expect("a table");
                for shop in one.shops.keys() {
                    found
                        .entry(shop.clone())
                        .or_default()
                        .push(branch.to_owned());
                }
            }
            files.push((path.to_owned(), shown.stdout));
        }
    }
    let table =
        routing::load(files.iter().map(|(p, b)| (p.as_str(), b.as_slice()))).expect("loads");
    (table, found)
}

/// The controller in directory mode, one pass over `dir/resources`; it must succeed.
fn controller_once(dir: &Path) {
    let out = Command::new(shopset_tests::controller::binary())
        .args([
            "--resources-dir",
            &dir.join("resources").display().to_string(),
        ])
        .args([
            "--cache-dir",
            &dir.join("controller-cache").display().to_string(),
        ])
        .args(["--listen", "127.0.0.1:0", "--once", "--debounce-ms", "50"])
        .output()
        .expect("the controller runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `shopctl -o json shop list` over `dir/resources`.
fn shop_list(dir: &Path) -> std::process::Output {
    let res = dir.join("resources").display().to_string();
    let cache = dir.join("cache").display().to_string();
    run_shopctl([
        "--cache-dir",
        cache.as_str(),
        "-o",
        "json",
        "shop",
        "list",
        "-f",
        res.as_str(),
    ])
}

fn sync(dir: &Path) -> std::process::Output {
    let resources = dir.join("resources").display().to_string();
    let cache = dir.join("cache").display().to_string();
    run_shopctl([
        "--cache-dir",
        cache.as_str(),
        "sync",
        "-f",
        resources.as_str(),
    ])
}

#[test]
fn shops_are_assigned_once_recorded_in_the_branches_and_routed() {
    let (_tmp, dir) = quickstart_without_shops();
    let system = dir.join("system.git");
    let resources = dir.join("resources");
    let mut text = String::new();
    for i in 0..12 {
        text.push_str(&shop(&format!("shop-{i:02}"), ""));
    }
    text.push_str(&shop("pinned", "  shopSet: general-1\n"));
    text.push_str(&shop("heavy", "  weight: 5\n"));
    std::fs::write(resources.join("shops.yaml"), &text).expect("write");
    let out = sync(&dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let (table, found) = tables(&system);
    assert_eq!(table.shops.len(), 14, "{:?}", table.shops.keys());
    for (shop, branches) in &found {
        assert_eq!(
            branches.len(),
            1,
            "{shop} is in one tier's table: {branches:?}"
        );
    }
    assert_eq!(table.shops["pinned"].shop_set, "general-1");
    assert_eq!(found["pinned"], ["tier-2"]);
    assert_eq!(
        table.shops["shop-00"].hosts,
        ["shop-00.example.com", "www.shop-00.shop"]
    );
    // Each row's ShopSet is rendered in the branch whose table holds the row.
    for (shop, row) in &table.shops {
        let branch = &found[shop][0];
        let dir = shopset_render::layout::shopset_dir(&row.shop_set);
        let listed = git(&system, &["ls-tree", "--name-only", branch, &dir]);
        assert!(
            !listed.stdout.is_empty(),
            "{shop}: {} is not on {branch}",
            row.shop_set
        );
    }
    let before = table.shops.clone();

    // shopctl shop: where a host goes, every shop, and the capacities, from the branches.
    let res = resources.display().to_string();
    let cache = dir.join("cache").display().to_string();
    let shop_cmd = |args: &[&str]| {
        let mut all = vec!["--cache-dir", cache.as_str(), "-o", "json", "shop"];
        all.extend_from_slice(args);
        all.extend(["-f", res.as_str()]);
        run_shopctl(all)
    };
    let out = shop_cmd(&["where", "www.pinned.shop"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let found_by: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(found_by["shop"], "pinned");
    assert_eq!(found_by["shopSet"], "general-1");
    assert_eq!(found_by["tier"], "tier-2");
    assert_eq!(
        shop_cmd(&["where", "nobody.example.com"]).status.code(),
        Some(1)
    );
    let listed: serde_json::Value =
        serde_json::from_slice(&shop_cmd(&["list"]).stdout).expect("JSON");
    assert_eq!(listed.as_array().map(Vec::len), Some(14));
    let on_general_1: serde_json::Value =
        serde_json::from_slice(&shop_cmd(&["list", "--shop-set", "general-1"]).stdout)
            .expect("JSON");
    assert!(
        on_general_1
            .as_array()
            .expect("a list")
            .iter()
            .all(|s| s["shopSet"] == "general-1"),
        "{on_general_1}"
    );
    let capacity: serde_json::Value =
        serde_json::from_slice(&shop_cmd(&["capacity"]).stdout).expect("JSON");
    let load: u64 = capacity["capacity"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|c| c["load"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(
        load,
        13 + 5,
        "12 shops and the pinned one of weight 1, one of weight 5"
    );

    // A sync of the same resources writes nothing.
    let tips: Vec<Option<String>> = BRANCHES.iter().map(|b| tip(&system, b)).collect();
    assert!(sync(&dir).status.success());
    assert_eq!(
        tips,
        BRANCHES.iter().map(|b| tip(&system, b)).collect::<Vec<_>>()
    );

    // A new ShopSet and new shops: no recorded shop moves.
    let shopsets = resources.join("shopsets.yaml");
    let mut sets = std::fs::read_to_string(&shopsets).expect("read");
    sets.push_str(
        "---\napiVersion: shopset.dev/v1alpha1\nkind: ShopSet\nmetadata:\n  name: general-9\nspec:\n  tier: tier-2\n  configuration: standard\n",
    );
    std::fs::write(&shopsets, &sets).expect("write");
    for i in 0..6 {
        text.push_str(&shop(&format!("later-{i}"), ""));
    }
    std::fs::write(resources.join("shops.yaml"), &text).expect("write");
    let out = sync(&dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (after, _) = tables(&system);
    for (shop, row) in &before {
        assert_eq!(after.shops[shop], *row, "{shop} moved");
    }
    assert_eq!(after.shops.len(), 20);

    // The controller, from the same resources, agrees: nothing to write.
    let counts: Vec<usize> = BRANCHES.iter().map(|b| commit_count(&system, b)).collect();
    controller_once(&dir);
    assert_eq!(
        counts,
        BRANCHES
            .iter()
            .map(|b| commit_count(&system, b))
            .collect::<Vec<_>>(),
        "the controller adopted shopctl's assignments"
    );

    // A ShopSet that still serves shops is not removed.
    let serving = &after.shops["pinned"].shop_set;
    let kept: Vec<&str> = sets
        .split("\n---\n")
        .filter(|d| !d.contains(&format!("name: {serving}\n")))
        .collect();
    std::fs::write(&shopsets, kept.join("\n---\n")).expect("write");
    let out = sync(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("ShopSet \"{serving}\"")) && stderr.contains("still serves"),
        "{stderr}"
    );
    let dir = shopset_render::layout::shopset_dir(serving);
    let listed = git(&system, &["ls-tree", "--name-only", "tier-2", &dir]);
    assert!(!listed.stdout.is_empty(), "{serving} is still rendered");
    let (still, _) = tables(&system);
    assert_eq!(still.shops["pinned"].shop_set, *serving);
}

#[test]
fn a_shop_with_no_room_waits_and_nothing_else_is_affected() {
    let (_tmp, dir) = quickstart_without_shops();
    let resources = dir.join("resources");
    let text = shop("ok", "") + &shop("huge", "  weight: 1000\n");
    std::fs::write(resources.join("shops.yaml"), text).expect("write");
    let out = sync(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Waiting for room is a state, not a failure: a warning, and the sync succeeds.
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("warning: ")
            && stderr.contains("Shop \"huge\": spec.pool: pool \"default\"")
            && stderr.contains("weight 1000"),
        "{stderr}"
    );
    let (table, _) = tables(&dir.join("system.git"));
    assert!(table.shops.contains_key("ok"));
    assert!(!table.shops.contains_key("huge"));
    let out = shop_list(&dir);
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let huge = listed
        .as_array()
        .expect("a list")
        .iter()
        .find(|s| s["shop"] == "huge")
        .cloned()
        .expect("listed");
    assert_eq!(huge["phase"], "Pending");
    assert_eq!(huge["shopSet"], serde_json::Value::Null);

    // The controller writes the shops' statuses, and a Warning event for the one that waits.
    controller_once(&dir);
    let text = std::fs::read_to_string(resources.join("shopset-status.json")).expect("status");
    let status: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let condition = |shop: &str, kind: &str| {
        status["shops"][shop]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["type"] == kind)
            .cloned()
            .unwrap_or_default()
    };
    let (table, found) = tables(&dir.join("system.git"));
    assert_eq!(status["shops"]["ok"]["phase"], "Assigned");
    assert_eq!(
        status["shops"]["ok"]["shopSet"],
        table.shops["ok"].shop_set.as_str()
    );
    assert_eq!(status["shops"]["ok"]["tier"], found["ok"][0].as_str());
    assert_eq!(condition("ok", "Assigned")["status"], "True");
    assert_eq!(condition("ok", "PoolExhausted")["status"], "False");
    assert_eq!(status["shops"]["huge"]["phase"], "Pending");
    let exhausted = condition("huge", "PoolExhausted");
    assert_eq!(exhausted["status"], "True", "{exhausted}");
    let message = exhausted["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("pool \"default\"") && message.contains("weight 1000"),
        "{message}"
    );
    assert_eq!(condition("huge", "Assigned")["reason"], "PoolExhausted");
    let events = status["events"].as_array().expect("events");
    assert!(
        events.iter().any(|e| e["object"] == "Shop/huge"
            && e["reason"] == "PoolExhausted"
            && e["type"] == "Warning"),
        "{events:?}"
    );
}

/// Argo CD reports each ShopSet Synced at its tier branch's tip and Healthy, except those in
/// `behind`, which it reports at `old` (they have not synced the last commit yet).
fn argo_reports(dir: &Path, behind: &[&str], old: &str) {
    let system = dir.join("system.git");
    let resources =
        shopset_engine::files::read_documents(&[dir.join("resources")], &[]).resources();
    let mut text = String::new();
    for (name, s) in &resources.shop_sets {
        let at = tip(&system, &s.spec.tier).expect("a tier branch");
        let revision = if behind.contains(&name.as_str()) {
            old
        } else {
            at.as_str()
        };
        text.push_str(&format!(
            "---\napiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: {name}\n  \
             namespace: argocd\n  labels:\n    shopset.dev/shopset: {name}\nstatus:\n  sync:\n    \
             status: Synced\n    revision: {revision}\n  health:\n    status: Healthy\n"
        ));
    }
    std::fs::write(dir.join("resources").join("argocd.yaml"), text).expect("write");
}

/// The hosts a ShopSet's overlay lists at `rev` (a branch or a commit).
fn listed_hosts(system: &Path, rev: &str, shop_set: &str) -> Vec<String> {
    let dir = shopset_render::layout::shopset_dir(shop_set);
    let shown = git(system, &["show", &format!("{rev}:{dir}/hosts")]);
    String::from_utf8_lossy(&shown.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The model router, over the union of every tier's table as the branch tips hold it (the
/// edge may load a table the moment it is committed): each host resolves to exactly one
/// ShopSet, which Argo CD reports Healthy, running a revision whose overlay lists the host.
fn model_router_agrees(dir: &Path, step: &str) {
    let system = dir.join("system.git");
    let (table, _) = tables(&system);
    let resources =
        shopset_engine::files::read_documents(&[dir.join("resources")], &[]).resources();
    let mut owners: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for row in table.shops.values() {
        for host in &row.hosts {
            owners.entry(host).or_default().push(&row.shop_set);
        }
    }
    for (host, sets) in owners {
        assert_eq!(sets.len(), 1, "{step}: {host} resolves to {sets:?}");
        let set = sets[0];
        let seen = &resources.applications[set];
        assert_eq!(seen.health.as_deref(), Some("Healthy"), "{step}: {set}");
        let running = seen.revision.as_deref().expect("a revision");
        assert!(
            listed_hosts(&system, running, set)
                .iter()
                .any(|h| h == host),
            "{step}: {host} goes to {set}, whose overlay at {running} does not list it"
        );
    }
}

#[test]
fn a_move_is_three_commits_each_written_once_the_last_took_effect() {
    let (_tmp, dir) = quickstart_without_shops();
    let system = dir.join("system.git");
    let resources = dir.join("resources");
    let shopsets = resources.join("shopsets.yaml");
    let sets = std::fs::read_to_string(&shopsets).expect("read");
    // general-1 is the first ShopSet of capacity 14.
    assert!(sets.find("name: general-1") < sets.find("    capacity: 14\n"));
    let sets = sets.replacen(
        "    capacity: 14\n",
        "    capacity: 14\n    settle: 0s\n",
        1,
    );
    std::fs::write(&shopsets, sets).expect("write");
    let mut text = shop("hot", "  shopSet: general-1\n");
    for i in 0..6 {
        text.push_str(&shop(&format!("shop-{i}"), ""));
    }
    std::fs::write(resources.join("shops.yaml"), &text).expect("write");
    assert!(sync(&dir).status.success());
    argo_reports(&dir, &[], "");
    model_router_agrees(&dir, "assigned");
    let hot_hosts = ["hot.example.com", "www.hot.shop"];
    assert!(
        listed_hosts(&system, "tier-2", "general-3")
            .iter()
            .all(|h| !hot_hosts.contains(&h.as_str()))
    );

    // Into a ShopSet in maintenance: refused, with the reason; nothing written.
    let before = tip(&system, "tier-2");
    std::fs::write(
        resources.join("shops.yaml"),
        text.replace("shopSet: general-1", "shopSet: general-2"),
    )
    .expect("write");
    let out = sync(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Shop \"hot\": spec.shopSet: ShopSet \"general-2\" cannot take it")
            && stderr.contains("maintenance"),
        "{stderr}"
    );
    assert_eq!(tip(&system, "tier-2"), before);

    // 1. Warm: general-3 lists the hosts; routing unchanged.
    std::fs::write(
        resources.join("shops.yaml"),
        text.replace("shopSet: general-1", "shopSet: general-3"),
    )
    .expect("write");
    assert!(sync(&dir).status.success());
    let warm = tip(&system, "tier-2").expect("tier-2");
    assert_ne!(Some(&warm), before.as_ref(), "warm is a commit");
    let (table, _) = tables(&system);
    assert_eq!(
        (
            table.shops["hot"].shop_set.as_str(),
            table.shops["hot"].epoch
        ),
        ("general-1", 0)
    );
    for set in ["general-1", "general-3"] {
        let listed = listed_hosts(&system, "tier-2", set);
        assert!(
            hot_hosts.iter().all(|h| listed.iter().any(|l| l == h)),
            "warm: {set} lists {listed:?}"
        );
    }
    argo_reports(&dir, &["general-3"], before.as_deref().unwrap_or_default());
    model_router_agrees(&dir, "warm");
    // Argo CD has not synced general-3 at the warm commit: nothing moves.
    assert!(sync(&dir).status.success());
    assert_eq!(tip(&system, "tier-2").as_ref(), Some(&warm));

    // 2. Switch, once general-3 is healthy at the tip: routing points at it, epoch 1.
    argo_reports(&dir, &[], "");
    assert!(sync(&dir).status.success());
    let switched = tip(&system, "tier-2").expect("tier-2");
    assert_ne!(switched, warm, "switch is a commit");
    let (table, _) = tables(&system);
    assert_eq!(
        (
            table.shops["hot"].shop_set.as_str(),
            table.shops["hot"].epoch
        ),
        ("general-3", 1)
    );
    let listed = listed_hosts(&system, "tier-2", "general-1");
    assert!(
        hot_hosts.iter().all(|h| listed.iter().any(|l| l == h)),
        "switched: the source still lists the hosts: {listed:?}"
    );
    // Argo CD as it was when the gate opened: general-3 runs the warm commit. Routing already
    // points at it, and it lists the hosts: make before break. Behind the tip, it does not
    // settle.
    argo_reports(&dir, &["general-3"], &warm);
    model_router_agrees(&dir, "switched");
    assert!(sync(&dir).status.success());
    assert_eq!(tip(&system, "tier-2").as_ref(), Some(&switched));

    // 3. Settle: general-3 healthy at the switch, general-1's settle time (0s) past.
    argo_reports(&dir, &[], "");
    assert!(sync(&dir).status.success());
    let settled = tip(&system, "tier-2").expect("tier-2");
    assert_ne!(settled, switched, "settle is a commit");
    let listed = listed_hosts(&system, "tier-2", "general-1");
    assert!(
        hot_hosts.iter().all(|h| !listed.iter().any(|l| l == h)),
        "settled: the source no longer lists the hosts: {listed:?}"
    );
    let (table, _) = tables(&system);
    assert_eq!(
        (
            table.shops["hot"].shop_set.as_str(),
            table.shops["hot"].epoch
        ),
        ("general-3", 1)
    );
    argo_reports(&dir, &[], "");
    model_router_agrees(&dir, "settled");

    // The controller, from the same state, writes nothing: the move is done.
    let count = commit_count(&system, "tier-2");
    controller_once(&dir);
    assert_eq!(commit_count(&system, "tier-2"), count);
}

#[test]
fn the_example_has_a_pinned_an_isolated_a_heavy_and_a_pending_shop() {
    // The quickstart succeeds with one shop pending (a warning, not an error).
    let (_tmp, dir) = quickstart();
    let system = dir.join("system.git");
    let out = shop_list(&dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let shops = listed.as_array().expect("a list");
    assert!(
        (35..=45).contains(&shops.len()),
        "about forty: {}",
        shops.len()
    );
    let of = |name: &str| {
        shops
            .iter()
            .find(|s| s["shop"] == name)
            .unwrap_or_else(|| panic!("{name} listed"))
    };
    assert_eq!(
        (&of("tea-house")["shopSet"], &of("tea-house")["by"]),
        (
            &serde_json::json!("early-adopters"),
            &serde_json::json!("Pin")
        )
    );
    assert_eq!(of("mega-mart")["shopSet"], "mega-mart", "isolated at once");
    assert_eq!(of("mega-mart")["phase"], "Assigned");
    assert_eq!(of("outdoor-gear")["weight"], 5);
    assert_eq!(of("zenith-furniture")["phase"], "Pending");
    assert!(of("zenith-furniture")["shopSet"].is_null());
    // The isolated shop's ShopSet is rendered, dedicated to it, and serves no other shop.
    let tier = of("mega-mart")["tier"].as_str().expect("a tier").to_owned();
    let dir_of = shopset_render::layout::shopset_dir("mega-mart");
    let listed_dir = git(&system, &["ls-tree", "--name-only", &tier, &dir_of]);
    assert!(!listed_dir.stdout.is_empty(), "{dir_of} on {tier}");
    assert!(
        shops
            .iter()
            .filter(|s| s["shopSet"] == "mega-mart")
            .all(|s| s["shop"] == "mega-mart")
    );
    // Every assigned shop is in exactly one tier's table; the pending one in none.
    let (table, found) = tables(&system);
    assert_eq!(table.shops.len(), shops.len() - 1);
    assert!(found.values().all(|b| b.len() == 1), "{found:?}");
    assert!(!table.shops.contains_key("zenith-furniture"));
    // The controller agrees: it finds nothing to write.
    let before: Vec<usize> = BRANCHES.iter().map(|b| commit_count(&system, b)).collect();
    controller_once(&dir);
    let after: Vec<usize> = BRANCHES.iter().map(|b| commit_count(&system, b)).collect();
    assert_eq!(before, after, "the controller wrote nothing");
}
