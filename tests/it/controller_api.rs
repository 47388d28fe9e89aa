//! The controller binary against the in-process fake API server and real git: the same trees
//! as the directory mode, batching, status and events from Argo CD Applications, the root
//! Application applied, leases shared by two replicas with fail-over, and RBAC that allows
//! exactly the calls made.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use shopset_tests::controller::{Controller, eventually};
use shopset_tests::fake_api::FakeApi;
use shopset_tests::{commit_count as count, git, quickstart, root, tip};

const NS: &str = "shopset-system";

fn tree(system: &Path, branch: &str) -> Option<String> {
    tip(system, &format!("{branch}^{{tree}}"))
}

struct World {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    resources: PathBuf,
    /// The system repository the resources name (fresh: no branch yet).
    system: PathBuf,
}

/// The quick start's resources, pointed at a fresh system repository.
fn world() -> World {
    let (tmp, dir) = quickstart();
    let resources = dir.join("resources");
    let tiers = resources.join("tiers.yaml");
    let text = std::fs::read_to_string(&tiers).expect("tiers");
    std::fs::write(&tiers, text.replace("system.git", "system-new.git")).expect("write");
    // One shop, so that the controller writes a Shop's status too.
    std::fs::write(
        resources.join("shops.yaml"),
        "apiVersion: shopset.dev/v1alpha1\nkind: Shop\nmetadata: {name: acme}\nspec: {hosts: [acme.example.com]}\n",
    )
    .expect("write");
    World {
        system: dir.join("system-new.git"),
        resources,
        dir,
        _tmp: tmp,
    }
}

fn start(w: &World, api: &FakeApi, name: &str, extra: &[&str]) -> Controller {
    let mut args = vec!["--debounce-ms", "300"];
    args.extend_from_slice(extra);
    Controller::start_in_cluster(api, &w.dir, name, NS, &args)
}

fn conditions(object: &Value) -> Vec<(String, String, String)> {
    object
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    (
                        c["type"].as_str().unwrap_or_default().to_owned(),
                        c["status"].as_str().unwrap_or_default().to_owned(),
                        c["reason"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn has(object: &Value, kind: &str, status: &str, reason: Option<&str>) -> bool {
    conditions(object)
        .iter()
        .any(|(k, s, r)| k == kind && s == status && reason.is_none_or(|want| r == want))
}

fn application(name: &str, revision: &str, sync: &str, health: &str) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": name,
            "namespace": "argocd",
            "labels": {
                "app.kubernetes.io/managed-by": "shopset",
                "shopset.dev/shopset": name,
                "shopset.dev/tier": "tier-0",
            },
        },
        "spec": {},
        "status": {
            "sync": { "status": sync, "revision": revision },
            "health": { "status": health },
        },
    })
}

fn shop_set(name: &str, tier: &str) -> Value {
    json!({
        "apiVersion": "shopset.dev/v1alpha1",
        "kind": "ShopSet",
        "metadata": { "name": name, "namespace": NS },
        "spec": { "tier": tier, "configuration": "standard" },
    })
}

const BRANCHES: [&str; 3] = ["tier-0", "tier-1", "tier-2"];

#[test]
fn api_mode_writes_what_directory_mode_writes_and_reports_argo_cd_state() {
    let w = world();
    // The directory mode first, once; its repository is then put aside.
    let dir_log = w.dir.join("dir.log");
    let resources = w.resources.display().to_string();
    let dir_cache = w.dir.join("dir-cache").display().to_string();
    let out = std::process::Command::new(shopset_tests::controller::binary())
        .args([
            "--resources-dir",
            &resources,
            "--cache-dir",
            &dir_cache,
            "--once",
        ])
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .expect("the controller runs");
    std::fs::write(&dir_log, &out.stderr).expect("log");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eventually(Duration::from_secs(60), || {
        BRANCHES
            .iter()
            .all(|b| tree(&w.system, b).is_some())
            .then_some(())
    })
    .unwrap_or_else(|| panic!("directory mode wrote nothing"));
    std::thread::sleep(Duration::from_millis(500));
    let aside = w.dir.join("system-dir.git");
    std::fs::rename(&w.system, &aside).expect("rename");
    std::fs::remove_file(w.resources.join("shopset-status.json")).expect("status file");

    let api = FakeApi::start();
    api.load_resources(&w.resources, NS);
    let c = start(&w, &api, "solo", &["--poll-seconds", "1"]);
    eventually(Duration::from_secs(60), || {
        BRANCHES
            .iter()
            .all(|b| tree(&w.system, b).is_some())
            .then_some(())
    })
    .unwrap_or_else(|| panic!("API mode wrote nothing; log:\n{}", c.log_text()));
    for b in BRANCHES {
        assert_eq!(tree(&w.system, b), tree(&aside, b), "{b}: trees differ");
    }

    // Status: rendered and committed, Application missing.
    let tip0 = tip(&w.system, "tier-0").expect("tier-0");
    let canary = eventually(Duration::from_secs(30), || {
        let o = api.get_object("shopset.dev", "shopsets", NS, "canary")?;
        has(&o, "Committed", "True", None).then_some(o)
    })
    .unwrap_or_else(|| panic!("no status; log:\n{}", c.log_text()));
    assert_eq!(canary.pointer("/status/systemCommit"), Some(&json!(tip0)));
    assert_eq!(canary.pointer("/status/branch"), Some(&json!("tier-0")));
    assert!(has(&canary, "Synced", "False", Some("ApplicationMissing")));
    assert_eq!(
        canary.pointer("/status/observedGeneration"),
        Some(&json!(1))
    );
    let tier = api
        .get_object("shopset.dev", "tiers", NS, "tier-0")
        .expect("tier-0");
    assert_eq!(tier.pointer("/status/systemCommit"), Some(&json!(tip0)));
    assert_eq!(tier.pointer("/status/shopSets"), Some(&json!(2)));
    // The root Application, as in bootstrap/tier-0.yaml.
    let root_app = api
        .get_object("argoproj.io", "applications", "argocd", "shopset-tier-0")
        .expect("root Application applied");
    assert_eq!(
        root_app.pointer("/spec/source/targetRevision"),
        Some(&json!("tier-0"))
    );

    // One ShopSet's own settings change: the watch names it, and the sync plans it alone,
    // from the last one (debug builds also compare that plan with the full plan).
    let mut canary = api
        .get_object("shopset.dev", "shopsets", NS, "canary")
        .expect("canary");
    canary["spec"]["overrides"] = json!({"values": {"BANNER": "sale"}});
    canary.as_object_mut().expect("an object").remove("status");
    api.apply_object(canary);
    let tip0 = eventually(Duration::from_secs(30), || {
        tip(&w.system, "tier-0").filter(|t| *t != tip0)
    })
    .unwrap_or_else(|| panic!("the change was not committed; log:\n{}", c.log_text()));
    // The metrics are counted once the sync returns, just after its push.
    eventually(Duration::from_secs(30), || {
        let (_, metrics) = c.get("/metrics");
        metrics
            .contains("shopset_plans_total{from=\"change\"} 1")
            .then_some(())
    })
    .unwrap_or_else(|| panic!("not planned from the change: {}", c.get("/metrics").1));

    // Argo CD reports: canary healthy at the commit, staff-shops degraded.
    api.apply_object(application("canary", &tip0, "Synced", "Healthy"));
    api.apply_object(application("staff-shops", &tip0, "Synced", "Degraded"));
    eventually(Duration::from_secs(30), || {
        let c = api.get_object("shopset.dev", "shopsets", NS, "canary")?;
        let s = api.get_object("shopset.dev", "shopsets", NS, "staff-shops")?;
        let t = api.get_object("shopset.dev", "tiers", NS, "tier-0")?;
        (has(&c, "Ready", "True", None)
            && has(&s, "Healthy", "False", Some("Degraded"))
            && t.pointer("/status/healthy") == Some(&json!(1))
            && t.pointer("/status/synced") == Some(&json!(2)))
        .then_some(())
    })
    .unwrap_or_else(|| panic!("status did not follow; log:\n{}", c.log_text()));
    // The Event follows the status write (it is sent after it): wait for it too.
    eventually(Duration::from_secs(30), || {
        api.list_objects("events.k8s.io", "events")
            .iter()
            .any(|e| {
                e["reason"] == "Degraded"
                    && e["type"] == "Warning"
                    && e.pointer("/regarding/name") == Some(&json!("staff-shops"))
            })
            .then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "no Degraded event: {:#?}",
            api.list_objects("events.k8s.io", "events")
        )
    });
    // Degraded again after a recovery: the same Event again, which the recorder counts on the
    // first one (a patch of its series) instead of making another.
    api.apply_object(application("staff-shops", &tip0, "Synced", "Healthy"));
    eventually(Duration::from_secs(30), || {
        let s = api.get_object("shopset.dev", "shopsets", NS, "staff-shops")?;
        has(&s, "Healthy", "True", None).then_some(())
    })
    .unwrap_or_else(|| panic!("recovery not seen; log:\n{}", c.log_text()));
    api.apply_object(application("staff-shops", &tip0, "Synced", "Degraded"));
    eventually(Duration::from_secs(30), || {
        api.requests()
            .iter()
            .any(|r| r.verb == "patch" && r.resource == "events")
            .then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "the repeated Degraded event was not counted: {:#?}",
            api.list_objects("events.k8s.io", "events")
        )
    });
    // Healthy at the wrong revision is not synced.
    api.apply_object(application(
        "canary",
        "0123456789abcdef0123456789abcdef01234567",
        "Synced",
        "Healthy",
    ));
    eventually(Duration::from_secs(30), || {
        let c = api.get_object("shopset.dev", "shopsets", NS, "canary")?;
        has(&c, "Synced", "False", Some("WrongRevision")).then_some(())
    })
    .unwrap_or_else(|| panic!("wrong revision not seen; log:\n{}", c.log_text()));

    // Malformed resources are reported on themselves; the others go on.
    let mut bad = shop_set("bad-spec", "tier-0");
    bad["spec"]["maintenance"] = json!(3);
    api.apply_object(bad);
    api.apply_object(shop_set("lost", "no-such-tier"));
    api.apply_object(shop_set("fine", "tier-1"));
    eventually(Duration::from_secs(30), || {
        let bad = api.get_object("shopset.dev", "shopsets", NS, "bad-spec")?;
        let lost = api.get_object("shopset.dev", "shopsets", NS, "lost")?;
        let fine = api.get_object("shopset.dev", "shopsets", NS, "fine")?;
        (has(&bad, "Rendered", "False", Some("InvalidSpec"))
            && has(&lost, "Rendered", "False", Some("TierNotFound"))
            && has(&fine, "Committed", "True", None))
        .then_some(bad)
    })
    .map(|bad| {
        let message = bad.pointer("/status/conditions/0/message").cloned();
        assert!(
            message
                .as_ref()
                .and_then(Value::as_str)
                .is_some_and(|m| m.contains("spec.maintenance")),
            "{message:?}"
        );
    })
    .unwrap_or_else(|| panic!("malformed resources not reported; log:\n{}", c.log_text()));

    // A batch: three ShopSets at once is one commit; resyncs (every second) write nothing.
    let before = count(&w.system, "tier-0");
    for name in ["batch-a", "batch-b", "batch-c"] {
        api.apply_object(shop_set(name, "tier-0"));
    }
    eventually(Duration::from_secs(30), || {
        (count(&w.system, "tier-0") > before).then_some(())
    })
    .unwrap_or_else(|| panic!("no commit; log:\n{}", c.log_text()));
    std::thread::sleep(Duration::from_millis(3000));
    assert_eq!(count(&w.system, "tier-0"), before + 1);
    // A watch that expired (410) relists and goes on.
    api.compact();
    api.apply_object(shop_set("after-compaction", "tier-1"));
    let before1 = count(&w.system, "tier-1");
    eventually(Duration::from_secs(30), || {
        (count(&w.system, "tier-1") > before1).then_some(())
    })
    .unwrap_or_else(|| panic!("nothing after 410; log:\n{}", c.log_text()));

    // A Migration that selects nothing is done at once: its status is written (and read back
    // by the next batch without a second write).
    api.apply_object(json!({
        "apiVersion": "shopset.dev/v1alpha1",
        "kind": "FailureDomain",
        "metadata": { "name": "kyoto", "namespace": NS },
        "spec": { "destination": { "name": "kyoto-1" } },
    }));
    api.apply_object(json!({
        "apiVersion": "shopset.dev/v1alpha1",
        "kind": "Migration",
        "metadata": { "name": "upgrade", "namespace": NS },
        "spec": { "from": "tokyo", "to": "kyoto", "shopSets": ["no-such"] },
    }));
    eventually(Duration::from_secs(30), || {
        let m = api.get_object("shopset.dev", "migrations", NS, "upgrade")?;
        has(&m, "Succeeded", "True", Some("Moved")).then_some(())
    })
    .unwrap_or_else(|| panic!("no Migration status; log:\n{}", c.log_text()));

    // A signal: the batch in hand is finished, the leases are given back, exit 0.
    let mut c = c;
    assert!(c.terminate(), "no clean shutdown; log:\n{}", c.log_text());
    let leases = api.list_objects("coordination.k8s.io", "leases");
    assert!(
        leases
            .iter()
            .all(|l| l.pointer("/spec/holderIdentity").is_none_or(Value::is_null)),
        "{leases:#?}"
    );
    let acme = api
        .get_object("shopset.dev", "shops", NS, "acme")
        .expect("the shop");
    assert_eq!(acme["status"]["phase"], "Assigned", "{acme}");
    shopset_tests::check_rbac(&root().join("deploy/rbac.yaml"), NS, &api.requests(), true);
}

#[test]
fn two_replicas_share_the_branches_and_fail_over() {
    let w = world();
    let api = FakeApi::start();
    api.load_resources(&w.resources, NS);
    let a = start(
        &w,
        &api,
        "replica-a",
        &["--poll-seconds", "1", "--author-email", "a@replicas"],
    );
    let mut b = start(
        &w,
        &api,
        "replica-b",
        &["--poll-seconds", "1", "--author-email", "b@replicas"],
    );
    let holders = || -> Vec<(String, String)> {
        api.list_objects("coordination.k8s.io", "leases")
            .iter()
            .filter(|l| l.pointer("/metadata/labels/shopset.dev~1lease") == Some(&json!("branch")))
            .filter_map(|l| {
                Some((
                    l.pointer("/metadata/annotations/shopset.dev~1branch")?
                        .as_str()?
                        .to_owned(),
                    l.pointer("/spec/holderIdentity")?.as_str()?.to_owned(),
                ))
            })
            .collect()
    };
    // Both hold some branch; every branch is held.
    let spread = eventually(Duration::from_secs(60), || {
        let h = holders();
        let owners: BTreeSet<&str> = h.iter().map(|(_, o)| o.as_str()).collect();
        (h.len() == 3 && owners.len() == 2).then_some(h)
    })
    .unwrap_or_else(|| {
        panic!(
            "no spread: {:?}\nA:\n{}\nB:\n{}",
            holders(),
            a.log_text(),
            b.log_text()
        )
    });
    eventually(Duration::from_secs(60), || {
        BRANCHES
            .iter()
            .all(|br| tip(&w.system, br).is_some())
            .then_some(())
    })
    .expect("every branch written");
    // A change on every tier: each branch gets one commit, from the replica holding it.
    std::thread::sleep(Duration::from_millis(2000));
    let before: Vec<usize> = BRANCHES.iter().map(|br| count(&w.system, br)).collect();
    for br in BRANCHES {
        api.apply_object(shop_set(&format!("spread-{br}"), br));
    }
    eventually(Duration::from_secs(60), || {
        BRANCHES
            .iter()
            .zip(&before)
            .all(|(br, n)| count(&w.system, br) > *n)
            .then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "not every tier written; A:\n{}\nB:\n{}",
            a.log_text(),
            b.log_text()
        )
    });
    std::thread::sleep(Duration::from_millis(2500));
    for (i, br) in BRANCHES.iter().enumerate() {
        assert_eq!(count(&w.system, br), before[i] + 1, "{br}: one commit");
        let holder = &spread.iter().find(|(b, _)| b == br).expect("held").1;
        let out = git(&w.system, &["log", "-1", "--format=%ae", br]);
        let expected = if holder == "replica-a" {
            "a@replicas"
        } else {
            "b@replicas"
        };
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            expected,
            "{br} held by {holder}"
        );
    }
    // Kill B: A takes its branches and writes them; nothing is written twice.
    let b_branches: Vec<String> = spread
        .iter()
        .filter(|(_, h)| h == "replica-b")
        .map(|(br, _)| br.clone())
        .collect();
    b.kill();
    let tier = b_branches[0].clone();
    let before = count(&w.system, &tier);
    api.apply_object(shop_set("after-failover", &tier));
    eventually(Duration::from_secs(60), || {
        (count(&w.system, &tier) > before).then_some(())
    })
    .unwrap_or_else(|| panic!("no fail-over; A:\n{}", a.log_text()));
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(count(&w.system, &tier), before + 1, "written exactly once");
    let out = git(&w.system, &["log", "-1", "--format=%ae", &tier]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "a@replicas");
    let files = git(&w.system, &["ls-tree", "-r", "--name-only", &tier]);
    assert!(
        String::from_utf8_lossy(&files.stdout).contains("/after-failover/kustomization.yaml"),
        "the change is in the tree"
    );
    assert!(holders().iter().all(|(_, h)| h == "replica-a"));
}
