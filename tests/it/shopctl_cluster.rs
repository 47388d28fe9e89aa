//! `shopctl` against a cluster: the in-process fake API server, reached through a kubeconfig as
//! kubectl would. The resources and the statuses the controller wrote are read from it, changes
//! are merge patches on it, and the git work is the same as offline: the trees equal those the
//! files give, promotion ships the tested commit, rollback pins and holds, unpin follows again,
//! and every call is one `deploy/shopctl-rbac.yaml` allows.

use std::path::PathBuf;
use std::process::Output;

use serde_json::{Value, json};
use shopset_tests::fake_api::FakeApi;
use shopset_tests::{check_rbac, commit_to_branch, quickstart, rev, root, shopctl_command};

const NS: &str = "shopset-system";

struct World {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    resources: PathBuf,
    app: PathBuf,
    system: PathBuf,
    api: FakeApi,
    kubeconfig: PathBuf,
}

/// The quick start, with its resources in the fake API server and a kubeconfig for it.
fn world() -> World {
    let (tmp, dir) = quickstart();
    let resources = dir.join("resources");
    let api = FakeApi::start();
    api.load_resources(&resources, NS);
    let kubeconfig = dir.join("kubeconfig");
    api.write_kubeconfig(&kubeconfig, None);
    World {
        app: dir.join("app.git"),
        system: dir.join("system.git"),
        resources,
        dir,
        api,
        kubeconfig,
        _tmp: tmp,
    }
}

/// `shopctl` with the kubeconfig and no `-f`: the cluster is the source.
fn shopctl(w: &World, args: &[&str]) -> Output {
    shopctl_command()
        .env("KUBECONFIG", &w.kubeconfig)
        .args(args)
        .output()
        .expect("shopctl runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "{}", text(out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn tier(w: &World, name: &str) -> Value {
    w.api
        .get_object("shopset.dev", "tiers", NS, name)
        .expect("the Tier is in the cluster")
}

/// The app commit the system branch of `tier` runs.
fn running(w: &World, tier: &str) -> String {
    shopset_tests::running_app(&w.system, tier)
}

/// What the controller writes on a Tier whose ShopSets have all been Ready since `ago`
/// seconds, at the system branch's tip.
fn report_ready(w: &World, name: &str, ago: i64) {
    let since =
        k8s_openapi::jiff::Timestamp::now() - k8s_openapi::jiff::SignedDuration::from_secs(ago);
    let mut object = tier(w, name);
    object["status"] = json!({
        "appCommit": running(w, name),
        "systemCommit": rev(&w.system, name),
        "conditions": [{
            "type": "Ready", "status": "True", "reason": "Ready", "message": "all ready",
            "lastTransitionTime": since.to_string(),
        }],
    });
    w.api.apply_object(object);
}

fn tier_states(json: &str) -> Vec<(String, String)> {
    let v: Value = serde_json::from_str(json).expect("JSON output");
    v["tiers"]
        .as_array()
        .expect("tiers")
        .iter()
        .map(|t| {
            (
                t["tier"].as_str().unwrap_or_default().to_owned(),
                t["state"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[test]
fn the_cluster_gives_the_same_trees_and_the_edits_are_patches_on_it() {
    let w = world();
    let files_before = std::fs::read(w.resources.join("tiers.yaml")).expect("read");

    // The cluster's resources render to exactly what the files did.
    let out = ok(&shopctl(&w, &["sync", "--dry-run", "-o", "json"]));
    assert_eq!(
        tier_states(&out),
        [
            ("tier-0".to_owned(), "unchanged".to_owned()),
            ("tier-1".to_owned(), "unchanged".to_owned()),
            ("tier-2".to_owned(), "unchanged".to_owned()),
        ]
    );

    // hold: an annotation on the Tier in the cluster, not in the files.
    let out = ok(&shopctl(
        &w,
        &["hold", "tier-1", "--reason", "cluster test"],
    ));
    assert!(out.contains(&format!("changed {NS}/Tier/tier-1")), "{out}");
    assert_eq!(
        tier(&w, "tier-1")["metadata"]["annotations"]["shopset.dev/hold"],
        "cluster test"
    );
    assert_eq!(
        std::fs::read(w.resources.join("tiers.yaml")).expect("read"),
        files_before
    );

    // A dry run names the namespace in its kubectl command and changes nothing.
    let out = ok(&shopctl(&w, &["release", "tier-1", "--dry-run"]));
    assert!(
        out.contains(&format!(
            "kubectl annotate tier tier-1 shopset.dev/hold- -n {NS}"
        )),
        "{out}"
    );
    assert_eq!(
        tier(&w, "tier-1")["metadata"]["annotations"]["shopset.dev/hold"],
        "cluster test"
    );
    ok(&shopctl(&w, &["release", "tier-1"]));
    assert!(
        tier(&w, "tier-1")
            .pointer("/metadata/annotations/shopset.dev~1hold")
            .is_none(),
        "{}",
        tier(&w, "tier-1")
    );

    // maintenance: the ShopSet in the cluster changes, and its tier is rendered again.
    let before = rev(&w.system, "tier-0");
    let out = shopctl(&w, &["maintenance", "on", "canary"]);
    ok(&out);
    let canary = w
        .api
        .get_object("shopset.dev", "shopsets", NS, "canary")
        .expect("canary");
    assert_eq!(canary["spec"]["maintenance"], true);
    let after = rev(&w.system, "tier-0");
    assert_ne!(before, after, "tier-0 was rendered again");
    assert_eq!(rev(&w.system, &format!("{after}^")), before);
    // Progress goes to stderr, and stdout stays the result.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("writing tier tier-0"), "{}", text(&out));
    assert!(stderr.contains("pushing"), "{}", text(&out));
    let quiet = shopctl(&w, &["-q", "maintenance", "off", "canary"]);
    ok(&quiet);
    assert!(
        !String::from_utf8_lossy(&quiet.stderr).contains("pushing"),
        "{}",
        text(&quiet)
    );
    // Shops in the cluster: add creates one, move patches it, remove deletes it; each renders.
    let shop = || w.api.get_object("shopset.dev", "shops", NS, "acme");
    let out = ok(&shopctl(
        &w,
        &[
            "shop",
            "add",
            "acme",
            "--host",
            "acme.example.com",
            "--dry-run",
        ],
    ));
    assert!(
        out.contains("kubectl create -f - <<'EOF'") && out.contains(&format!("-n {NS}")),
        "{out}"
    );
    assert!(shop().is_none(), "a dry run creates nothing");
    let out = ok(&shopctl(
        &w,
        &["shop", "add", "acme", "--host", "acme.example.com"],
    ));
    assert!(out.contains(&format!("changed {NS}/Shop/acme")), "{out}");
    assert_eq!(
        shop().expect("created")["spec"]["hosts"][0],
        "acme.example.com"
    );
    ok(&shopctl(&w, &["shop", "move", "acme", "--to", "general-1"]));
    assert_eq!(shop().expect("there")["spec"]["shopSet"], "general-1");
    ok(&shopctl(&w, &["shop", "remove", "acme"]));
    assert!(shop().is_none(), "deleted");
    // A cordon patches the FailureDomain; a Migration's approval annotates it.
    ok(&shopctl(&w, &["cordon", "osaka"]));
    let osaka = w
        .api
        .get_object("shopset.dev", "failuredomains", NS, "osaka")
        .expect("osaka");
    assert_eq!(osaka["spec"]["cordoned"], true, "{osaka}");
    ok(&shopctl(&w, &["uncordon", "osaka"]));
    w.api.apply_object(serde_json::json!({
        "apiVersion": "shopset.dev/v1alpha1",
        "kind": "Migration",
        "metadata": { "name": "upgrade", "namespace": NS },
        "spec": { "from": "tokyo", "to": "osaka", "shopSets": ["canary"] },
    }));
    ok(&shopctl(&w, &["migrate", "approve", "upgrade", "2"]));
    let m = w
        .api
        .get_object("shopset.dev", "migrations", NS, "upgrade")
        .expect("the migration");
    assert_eq!(
        m["metadata"]["annotations"]["shopset.dev/approved-step"], "2",
        "{m}"
    );
    let out = ok(&shopctl(&w, &["migrate", "status", "upgrade"]));
    assert!(out.contains("Migration upgrade"), "{out}");
    // deploy/shopctl-rbac.yaml allows exactly what these commands did.
    check_rbac(
        &root().join("deploy/shopctl-rbac.yaml"),
        NS,
        &w.api.requests(),
        true,
    );
}

#[test]
fn promotion_rollback_and_unpin_read_the_gate_from_the_cluster() {
    let w = world();
    let original = rev(&w.app, "tier-1");

    // A release merged to tier-0, rendered from the cluster's resources.
    let candidate = commit_to_branch(
        &w.app,
        "tier-0",
        &w.dir.join("work"),
        ("release.txt", "2\n"),
        &[],
        &[],
    );
    let out = ok(&shopctl(&w, &["sync", "-o", "json"]));
    assert!(
        tier_states(&out).contains(&("tier-0".to_owned(), "committed".to_owned())),
        "{out}"
    );
    assert_eq!(running(&w, "tier-0"), candidate);

    // No status on tier-0 in the cluster: the gate does not hold (exit code 3).
    let out = shopctl(&w, &["promote", "tier-1"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert_eq!(rev(&w.app, "tier-1"), original);

    // Ready for an hour (tier-1's soak is 30 minutes): the exact candidate ships.
    report_ready(&w, "tier-0", 3600);
    let out = ok(&shopctl(&w, &["promote", "tier-1", "--dry-run"]));
    assert!(
        out.contains(&format!("{candidate}:refs/heads/tier-1")),
        "{out}"
    );
    assert_eq!(rev(&w.app, "tier-1"), original, "a dry run moves nothing");
    let out = ok(&shopctl(&w, &["promote", "tier-1"]));
    assert!(out.contains("promoted"), "{out}");
    assert_eq!(rev(&w.app, "tier-1"), candidate);
    assert_eq!(running(&w, "tier-1"), candidate);

    // The status, from the cluster, in JSON.
    let out = ok(&shopctl(&w, &["status", "-o", "json"]));
    let status: Value = serde_json::from_str(&out).expect("JSON");
    let t0 = status
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["tier"] == "tier-0"))
        .expect("tier-0");
    assert_eq!(t0["appRunning"], candidate.as_str(), "{t0}");

    // Rollback: pinned to what tier-1 ran before, and held, in the cluster.
    ok(&shopctl(&w, &["rollback", "tier-1"]));
    let t1 = tier(&w, "tier-1");
    assert_eq!(t1["spec"]["pin"]["appCommit"], original.as_str(), "{t1}");
    assert!(
        t1.pointer("/metadata/annotations/shopset.dev~1hold")
            .is_some(),
        "{t1}"
    );
    assert_eq!(running(&w, "tier-1"), original);
    assert_eq!(rev(&w.app, "tier-1"), candidate, "nobody's history moved");

    // The hold keeps the next release away.
    let next = commit_to_branch(
        &w.app,
        "tier-0",
        &w.dir.join("work-2"),
        ("release.txt", "3\n"),
        &[],
        &[],
    );
    ok(&shopctl(&w, &["sync"]));
    report_ready(&w, "tier-0", 3600);
    let out = shopctl(&w, &["promote", "tier-1"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("held"),
        "{}",
        text(&out)
    );
    assert_eq!(rev(&w.app, "tier-1"), candidate);
    assert_eq!(running(&w, "tier-0"), next);

    // Unpin: tier-1 follows its branch again; the hold stays until release.
    ok(&shopctl(&w, &["unpin", "tier-1"]));
    let t1 = tier(&w, "tier-1");
    assert!(t1["spec"].get("pin").is_none(), "{t1}");
    assert_eq!(running(&w, "tier-1"), candidate);
    check_rbac(
        &root().join("deploy/shopctl-rbac.yaml"),
        NS,
        &w.api.requests(),
        false,
    );
}

#[test]
fn without_files_or_a_cluster_the_error_says_what_to_give() {
    let (_tmp, dir) = quickstart();
    let out = shopctl_command()
        .env("KUBECONFIG", dir.join("no-such-kubeconfig"))
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env("HOME", &dir)
        .args(["status"])
        .output()
        .expect("shopctl runs");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("-f"), "{stderr}");
}
