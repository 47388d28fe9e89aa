//! The controller binary in its embedded mode (a directory of resources, no cluster), against
//! real git repositories: batching, quiet resyncs, the mass-removal stop and its confirmation,
//! status from Argo CD Applications, webhooks and metrics.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use shopset_tests::controller::{Controller, eventually};
use shopset_tests::{
    commit_count as count, commit_to_branch, git, quickstart_without_shops, run_shopctl,
};

fn tip(system: &Path, branch: &str) -> String {
    shopset_tests::tip(system, branch).unwrap_or_default()
}

fn status(file: &Path) -> Value {
    std::fs::read_to_string(file)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null)
}

fn condition<'a>(status: &'a Value, pointer: &str, kind: &str) -> Option<&'a Value> {
    status
        .pointer(pointer)?
        .get("conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

struct World {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    resources: PathBuf,
    system: PathBuf,
    status: PathBuf,
}

fn world() -> World {
    let (tmp, dir) = quickstart_without_shops();
    World {
        resources: dir.join("resources"),
        system: dir.join("system.git"),
        status: dir.join("resources").join("shopset-status.json"),
        dir,
        _tmp: tmp,
    }
}

fn start(w: &World, extra: &[&str]) -> Controller {
    let resources = w.resources.display().to_string();
    let cache = w.dir.join("cache").display().to_string();
    let mut args = vec![
        "--resources-dir",
        &resources,
        "--cache-dir",
        &cache,
        "--debounce-ms",
        "300",
        "--dir-poll-ms",
        "100",
    ];
    args.extend_from_slice(extra);
    let c = Controller::start(&args, &[], &w.dir.join("controller.log"));
    eventually(Duration::from_secs(60), || w.status.exists().then_some(()))
        .unwrap_or_else(|| panic!("no status file; log:\n{}", c.log_text()));
    c
}

const SHOPSET: &str = "apiVersion: shopset.dev/v1alpha1\nkind: ShopSet\n";

#[test]
fn a_batch_of_changes_is_one_commit_per_tier_and_a_resync_writes_nothing() {
    let w = world();
    let before: Vec<(String, usize)> = ["tier-0", "tier-1", "tier-2"]
        .iter()
        .map(|b| (tip(&w.system, b), count(&w.system, b)))
        .collect();
    let c = start(&w, &["--poll-seconds", "1"]);
    // The quick start's commits are exactly what the controller renders: nothing to write.
    std::thread::sleep(Duration::from_millis(2500));
    for (i, b) in ["tier-0", "tier-1", "tier-2"].iter().enumerate() {
        assert_eq!(tip(&w.system, b), before[i].0, "{b} moved on start-up");
    }
    // Five new ShopSets in two tiers, in one file write.
    let mut text = String::new();
    for (name, tier) in [
        ("new-a", "tier-0"),
        ("new-b", "tier-0"),
        ("new-c", "tier-0"),
        ("new-d", "tier-1"),
        ("new-e", "tier-1"),
    ] {
        text.push_str(&format!(
            "---\n{SHOPSET}metadata:\n  name: {name}\nspec:\n  tier: {tier}\n  configuration: standard\n"
        ));
    }
    std::fs::write(w.resources.join("more.yaml"), text).expect("write");
    eventually(Duration::from_secs(30), || {
        (tip(&w.system, "tier-0") != before[0].0 && tip(&w.system, "tier-1") != before[1].0)
            .then_some(())
    })
    .unwrap_or_else(|| panic!("no commit; log:\n{}", c.log_text()));
    // Several resyncs later, still one commit per tier, none on tier-2.
    std::thread::sleep(Duration::from_millis(3000));
    assert_eq!(count(&w.system, "tier-0"), before[0].1 + 1);
    assert_eq!(count(&w.system, "tier-1"), before[1].1 + 1);
    assert_eq!(tip(&w.system, "tier-2"), before[2].0);
    let message = git(&w.system, &["log", "-1", "--format=%B", "tier-0"]);
    let message = String::from_utf8_lossy(&message.stdout);
    assert!(message.contains("3 added"), "{message}");
    assert!(
        message.contains("Shopset-Producer: shopset-controller/"),
        "{message}"
    );

    // shopctl, by hand, finds nothing to change: the controller wrote what it would have.
    let out = run_shopctl([
        "sync",
        "--dry-run",
        "-f",
        &w.resources.display().to_string(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.matches("unchanged").count(), 3, "{stdout}");

    let s = status(&w.status);
    let ready = condition(&s, "/shopSets/new-a", "Committed").expect("new-a status");
    assert_eq!(ready["status"], "True");
    assert_eq!(
        s.pointer("/shopSets/new-a/branch"),
        Some(&Value::from("tier-0"))
    );
    assert_eq!(
        s.pointer("/tiers/tier-0/systemCommit"),
        Some(&Value::from(tip(&w.system, "tier-0")))
    );
    let (code, metrics) = c.get("/metrics");
    assert_eq!(code, 200);
    assert!(
        metrics.contains("shopset_commits_total{tier=\"tier-0\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("shopset_noop_syncs_total"), "{metrics}");
    assert_eq!(c.get("/healthz").0, 200);
}

#[test]
fn removing_most_of_a_tier_waits_for_the_annotation() {
    let w = world();
    let c = start(&w, &["--poll-seconds", "3600"]);
    let before = tip(&w.system, "tier-2");
    // Keep one tier-2 ShopSet of four.
    let file = w.resources.join("shopsets.yaml");
    let text = std::fs::read_to_string(&file).expect("read");
    let mut kept_one = false;
    let docs: Vec<&str> = text
        .split("\n---\n")
        .filter(|d| {
            if !d.contains("tier: tier-2") {
                return true;
            }
            !std::mem::replace(&mut kept_one, true)
        })
        .collect();
    std::fs::write(&file, docs.join("\n---\n")).expect("write");
    let s = eventually(Duration::from_secs(30), || {
        let s = status(&w.status);
        let c = condition(&s, "/tiers/tier-2", "Committed")?;
        (c["reason"] == "RemovalsNeedConfirmation").then(|| s.clone())
    })
    .unwrap_or_else(|| panic!("no stop; log:\n{}", c.log_text()));
    let message = condition(&s, "/tiers/tier-2", "Committed").expect("condition")["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(message.contains("would remove 3 of 4"), "{message}");
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(
        tip(&w.system, "tier-2"),
        before,
        "nothing written while stopped"
    );
    let events = s["events"].as_array().cloned().unwrap_or_default();
    assert!(
        events
            .iter()
            .any(|e| e["reason"] == "RemovalsNeedConfirmation"
                && e["type"] == "Warning"
                && e["object"] == "Tier/tier-2"),
        "{events:?}"
    );

    // Confirm with the token the message names.
    let token = message
        .split("shopset.dev/confirm-removals=")
        .nth(1)
        .and_then(|t| t.split(|c: char| !c.is_ascii_hexdigit()).next())
        .expect("token")
        .to_owned();
    let tiers = w.resources.join("tiers.yaml");
    let text = std::fs::read_to_string(&tiers).expect("read");
    let text = text.replace(
        "  name: tier-2\n",
        &format!("  name: tier-2\n  annotations:\n    shopset.dev/confirm-removals: \"{token}\"\n"),
    );
    std::fs::write(&tiers, text).expect("write");
    eventually(Duration::from_secs(30), || {
        (tip(&w.system, "tier-2") != before).then_some(())
    })
    .unwrap_or_else(|| panic!("not released; log:\n{}", c.log_text()));
    let message = git(&w.system, &["log", "-1", "--format=%s", "tier-2"]);
    assert!(
        String::from_utf8_lossy(&message.stdout).contains("3 removed"),
        "{:?}",
        message
    );
}

fn application(name: &str, sync: &str, revision: &str, health: &str) -> String {
    format!(
        "---\napiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: {name}\n  namespace: argocd\n  labels:\n    shopset.dev/shopset: {name}\n    shopset.dev/tier: tier-0\nstatus:\n  sync:\n    status: {sync}\n    revision: \"{revision}\"\n  health:\n    status: {health}\n"
    )
}

#[test]
fn status_follows_what_argo_cd_reports() {
    let w = world();
    let c = start(&w, &["--poll-seconds", "3600"]);
    let commit = tip(&w.system, "tier-0");
    let apps = w.resources.join("applications.yaml");
    let check = |canary: (&str, &str), staff: (&str, &str), tier: (i64, i64)| {
        eventually(Duration::from_secs(30), || {
            let s = status(&w.status);
            let ok = |name: &str, (kind, want): (&str, &str)| {
                condition(&s, &format!("/shopSets/{name}"), kind)
                    .is_some_and(|c| c["status"] == want || c["reason"] == want)
            };
            (ok("canary", canary)
                && ok("staff-shops", staff)
                && s.pointer("/tiers/tier-0/synced") == Some(&Value::from(tier.0))
                && s.pointer("/tiers/tier-0/healthy") == Some(&Value::from(tier.1)))
            .then_some(())
        })
        .unwrap_or_else(|| {
            panic!(
                "status not reached: {canary:?} {staff:?} {tier:?}\n{}\nlog:\n{}",
                std::fs::read_to_string(&w.status).unwrap_or_default(),
                c.log_text()
            )
        });
    };
    // Missing.
    check(("Synced", "ApplicationMissing"), ("Ready", "False"), (0, 0));
    // Progressing and OutOfSync.
    std::fs::write(
        &apps,
        application("canary", "Synced", &commit, "Progressing")
            + &application("staff-shops", "OutOfSync", &commit, "Healthy"),
    )
    .expect("write");
    check(("Healthy", "Progressing"), ("Synced", "OutOfSync"), (1, 1));
    // Healthy at the wrong revision; Degraded.
    std::fs::write(
        &apps,
        application(
            "canary",
            "Synced",
            "0123456789abcdef0123456789abcdef01234567",
            "Healthy",
        ) + &application("staff-shops", "Synced", &commit, "Degraded"),
    )
    .expect("write");
    check(("Synced", "WrongRevision"), ("Healthy", "Degraded"), (1, 1));
    // Healthy at the right one: Ready.
    std::fs::write(
        &apps,
        application("canary", "Synced", &commit, "Healthy")
            + &application("staff-shops", "Synced", &commit, "Healthy"),
    )
    .expect("write");
    check(("Ready", "True"), ("Ready", "True"), (2, 2));
    let s = status(&w.status);
    assert_eq!(
        condition(&s, "/tiers/tier-0", "Ready").map(|c| c["status"].clone()),
        Some(Value::from("True"))
    );
    // Status changes alone never commit.
    assert_eq!(tip(&w.system, "tier-0"), commit);
}

#[test]
fn webhooks_need_a_good_signature_and_then_sync_at_once() {
    let w = world();
    let secret = w.dir.join("webhook-secret");
    std::fs::write(&secret, "hook s3cret\n").expect("write");
    let c = start(
        &w,
        &[
            "--poll-seconds",
            "3600",
            "--webhook-secret-file",
            &secret.display().to_string(),
        ],
    );
    let before = tip(&w.system, "tier-0");
    // A new app commit on tier-0.
    let app = w.dir.join("app.git");
    commit_to_branch(
        &app,
        "tier-0",
        &w.dir.join("app-work"),
        ("kustomize/NOTE", "changed\n"),
        &[],
        &[],
    );
    let body = format!(
        r#"{{"ref":"refs/heads/tier-0","repository":{{"clone_url":"file://{}"}}}}"#,
        app.display()
    );
    let bad = c.post(
        "/webhook",
        &[
            ("X-GitHub-Event", "push"),
            ("X-Hub-Signature-256", "sha256=00"),
        ],
        body.as_bytes(),
    );
    assert_eq!(bad.0, 401, "{bad:?}");
    let forged = shopset_controller::webhook::sign(b"other secret", body.as_bytes());
    let bad = c.post(
        "/webhook",
        &[("X-GitHub-Event", "push"), ("X-Hub-Signature-256", &forged)],
        body.as_bytes(),
    );
    assert_eq!(bad.0, 401, "{bad:?}");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(tip(&w.system, "tier-0"), before, "a refused webhook synced");
    let big = vec![b' '; 2 * 1024 * 1024];
    assert_eq!(c.post("/webhook", &[], &big).0, 413);

    let good = shopset_controller::webhook::sign(b"hook s3cret", body.as_bytes());
    let (code, text) = c.post(
        "/webhook",
        &[("X-GitHub-Event", "push"), ("X-Hub-Signature-256", &good)],
        body.as_bytes(),
    );
    assert_eq!(code, 202, "{text}");
    assert!(text.contains("tier-0"), "{text}");
    eventually(Duration::from_secs(30), || {
        (tip(&w.system, "tier-0") != before).then_some(())
    })
    .unwrap_or_else(|| panic!("no sync; log:\n{}", c.log_text()));
    let subject = git(&w.system, &["log", "-1", "--format=%s", "tier-0"]);
    assert!(
        String::from_utf8_lossy(&subject.stdout).contains("base"),
        "{subject:?}"
    );
    let (_, metrics) = c.get("/metrics");
    assert!(
        metrics.contains("shopset_webhooks_total{result=\"unauthorized\"} 2"),
        "{metrics}"
    );
}

#[test]
fn a_hand_edit_of_generated_files_is_reported_and_rendered_back() {
    let w = world();
    // A person edits a generated Application and adds a file, on tier-2's branch.
    let work = w.dir.join("work");
    let app_file = {
        let out = git(&w.system, &["ls-tree", "-r", "--name-only", "tier-2"]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find(|p| p.starts_with("applications/") && p.ends_with("/general-1.yaml"))
            .expect("an Application file")
            .to_owned()
    };
    commit_to_branch(
        &w.system,
        "tier-2",
        &work,
        (&app_file, "edited: by hand\n"),
        &[],
        &[],
    );
    let hand = tip(&w.system, "tier-2");
    let out = std::process::Command::new(shopset_tests::controller::binary())
        .args(["--resources-dir", &w.resources.display().to_string()])
        .args(["--cache-dir", &w.dir.join("cache").display().to_string()])
        .args(["--listen", "127.0.0.1:0", "--once"])
        .output()
        .expect("the controller runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let s = status(&w.status);
    let drifted = condition(&s, "/tiers/tier-2", "Drifted").expect("a Drifted condition");
    assert_eq!(drifted["status"], "True", "{drifted}");
    assert_eq!(drifted["reason"], "ChangedByHand");
    let message = drifted["message"].as_str().unwrap_or_default();
    let restored = tip(&w.system, "tier-2");
    assert_ne!(
        restored, hand,
        "rendered back on top of the person's commit"
    );
    assert!(
        message.contains(&app_file) && message.contains(&format!("rendered back in {restored}")),
        "{message}"
    );
    let events = s["events"].as_array().cloned().unwrap_or_default();
    assert!(
        events.iter().any(|e| e["reason"] == "ChangedByHand"
            && e["type"] == "Warning"
            && e["object"] == "Tier/tier-2"
            && e["message"].as_str().is_some_and(|m| m.contains(&app_file))),
        "{events:?}"
    );
    let body = git(&w.system, &["log", "-1", "--format=%B", "tier-2"]);
    let body = String::from_utf8_lossy(&body.stdout);
    assert!(
        body.contains(&format!("Rendered back (changed by hand): {app_file}")),
        "{body}"
    );
    assert_eq!(
        git(&w.system, &["rev-parse", "tier-2~1"]).stdout,
        git(&w.system, &["rev-parse", &hand]).stdout,
        "the person's commit stays in the history"
    );
    // The other tiers were not touched by hand.
    for t in ["/tiers/tier-0", "/tiers/tier-1"] {
        assert_eq!(
            condition(&s, t, "Drifted").expect("condition")["status"],
            "False"
        );
    }
}
