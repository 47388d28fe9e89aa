//! Notifications from the controller (directory mode, real git), to a fake Slack, a webhook
//! receiver and a fake GitHub on 127.0.0.1: one rollout over 100 ShopSets is one Slack message
//! edited in place, one "started" and one "succeeded" webhook, and a commit status on the app
//! repository's commit moving from pending to success; a restart in the middle sends nothing
//! twice; a later commit that changes one ShopSet speaks of that one alone; a webhook answering
//! 500 is retried, then reported, and the promotion goes on.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use shopset_engine::ops::notify::deliver::{SIGNATURE_HEADER, signature};
use shopset_tests::controller::{Controller, eventually};
use shopset_tests::fake_chat::{FakeChat, SLACK_TOKEN};
use shopset_tests::fake_github::FakeGitHub;
use shopset_tests::{quickstart_without_shops, rev};

const HOOK_KEY: &str = "webhook-signing-key";
const WAIT: Duration = Duration::from_secs(60);

struct World {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    resources: PathBuf,
    status: PathBuf,
}

fn world() -> World {
    let (tmp, dir) = quickstart_without_shops();
    let secrets = dir.join("secrets");
    for (name, key, value) in [
        ("slack", "token", SLACK_TOKEN),
        ("hook", "secret", HOOK_KEY),
        ("github", "token", "ghp-test"),
    ] {
        std::fs::create_dir_all(secrets.join(name)).expect("mkdir");
        std::fs::write(secrets.join(name).join(key), format!("{value}\n")).expect("secret");
    }
    World {
        resources: dir.join("resources"),
        status: dir.join("resources").join("shopset-status.json"),
        dir,
        _tmp: tmp,
    }
}

fn policy(chat: &FakeChat, github: &FakeGitHub, tiers: &str) -> String {
    format!(
        "apiVersion: shopset.dev/v1alpha1
kind: NotificationPolicy
metadata:
  name: releases
spec:
  channels:
  - name: chat
    slack:
      channel: '#releases'
      api: {chat}/api
      secretRef: {{name: slack}}
  - name: hook
    webhook:
      url: {chat}/hook
      secretRef: {{name: hook}}
  - name: commits
    github:
      api: {github}
      secretRef: {{name: github}}
  rules:
  - channels: [chat, hook, commits]
    tiers: {tiers}
",
        chat = chat.url,
        github = github.url,
    )
}

fn start(w: &World) -> Controller {
    let resources = w.resources.display().to_string();
    let cache = w.dir.join("cache").display().to_string();
    let secrets = w.dir.join("secrets").display().to_string();
    let args = [
        "--resources-dir",
        &resources,
        "--cache-dir",
        &cache,
        "--secrets-dir",
        &secrets,
        "--debounce-ms",
        "200",
        "--dir-poll-ms",
        "100",
        "--poll-seconds",
        "3600",
    ];
    Controller::start(&args, &[], &w.dir.join("controller.log"))
}

fn status(w: &World) -> Value {
    std::fs::read_to_string(&w.status)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null)
}

/// Argo CD's Applications for `names`, Synced and Healthy at `commit`.
fn healthy(w: &World, names: &[String], commit: &str) {
    let mut text = String::new();
    for name in names {
        let _ = write!(
            text,
            "---\napiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: {name}\n  namespace: argocd\n  labels:\n    shopset.dev/shopset: {name}\nstatus:\n  sync:\n    status: Synced\n    revision: \"{commit}\"\n  health:\n    status: Healthy\n"
        );
    }
    std::fs::write(w.resources.join("applications.yaml"), text).expect("applications");
}

fn wait<T>(c: &Controller, what: &str, f: impl FnMut() -> Option<T>) -> T {
    eventually(WAIT, f).unwrap_or_else(|| panic!("{what}: not reached; log:\n{}", c.log_text()))
}

/// Checks a webhook request's signature with the shared key.
fn verify(r: &shopset_tests::fake_chat::Received) {
    let header = r.headers.get(&SIGNATURE_HEADER.to_ascii_lowercase());
    assert_eq!(
        header.map(String::as_str),
        Some(signature(HOOK_KEY.as_bytes(), &r.body).as_str()),
        "the signature is the HMAC-SHA256 of the body"
    );
}

fn app_statuses(github: &FakeGitHub, app: &str) -> Vec<String> {
    github
        .statuses()
        .iter()
        .filter(|(repo, sha, _)| repo.ends_with("/app") && sha == app)
        .map(|(_, _, b)| {
            assert_eq!(b["context"], "shopset/tier-0");
            assert!(
                b["description"]
                    .as_str()
                    .is_some_and(|d| d.chars().count() <= 140)
            );
            b["state"].as_str().unwrap_or_default().to_owned()
        })
        .collect()
}

#[test]
fn one_rollout_is_one_message_edited_in_place_and_a_restart_sends_nothing_twice() {
    let w = world();
    let chat = FakeChat::start();
    let github = FakeGitHub::start(&w.dir.join("app.git"));
    // Room for 100 more ShopSets in tier-0.
    let domains = w.resources.join("failure-domains.yaml");
    let text = std::fs::read_to_string(&domains).expect("domains");
    std::fs::write(&domains, text.replace("capacity: 50", "capacity: 500")).expect("write");
    let names: Vec<String> = (0..100).map(|i| format!("shop-{i:03}")).collect();
    let mut many = String::new();
    for name in &names {
        let _ = write!(
            many,
            "---\napiVersion: shopset.dev/v1alpha1\nkind: ShopSet\nmetadata:\n  name: {name}\nspec:\n  tier: tier-0\n  configuration: standard\n"
        );
    }
    std::fs::write(w.resources.join("many.yaml"), many).expect("write");
    std::fs::write(
        w.resources.join("notifications.yaml"),
        policy(&chat, &github, "[tier-0]"),
    )
    .expect("write");
    let app = rev(&w.dir.join("app.git"), "tier-0");

    let mut c = start(&w);
    let system = w.dir.join("system.git");
    wait(&c, "the rollout's first message", || {
        (chat.received("/api/chat.postMessage").len() == 1).then_some(())
    });
    let posted = chat.received("/api/chat.postMessage");
    let text = posted[0].json()["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        text.contains("rolling out app") && text.contains("to 100 ShopSets"),
        "only the ShopSets whose rendering changed take part: {text}"
    );
    let hooks = wait(&c, "the webhook's started", || {
        let h = chat.received("/hook");
        (!h.is_empty()).then_some(h)
    });
    assert_eq!(hooks[0].json()["event"], "rollout.started");
    assert_eq!(hooks[0].json()["shopSetCount"], 100);
    verify(&hooks[0]);
    wait(&c, "the pending commit status", || {
        (app_statuses(&github, &app) == ["pending"]).then_some(())
    });

    // Half of them synced and healthy: the message is edited, nothing new is posted.
    let tip = rev(&system, "tier-0");
    healthy(&w, &names[..50], &tip);
    wait(&c, "the message edited with 50 done", || {
        chat.messages()
            .values()
            .any(|t| t.contains("50 done"))
            .then_some(())
    });
    wait(&c, "the record written", || {
        status(&w)
            .pointer("/notificationPolicies/releases/rollouts/0/done")
            .and_then(Value::as_u64)
            .filter(|d| *d == 50)
    });

    // A restart in the middle.
    c.kill();
    let c = start(&w);
    let mut all = names.clone();
    all.extend(["canary".to_owned(), "staff-shops".to_owned()]);
    healthy(&w, &all, &tip);
    wait(&c, "the message edited to succeeded", || {
        chat.messages()
            .values()
            .any(|t| t.contains("rolled out app"))
            .then_some(())
    });
    wait(&c, "the webhook's succeeded", || {
        (chat.received("/hook").len() == 2).then_some(())
    });
    wait(&c, "the success commit status", || {
        (app_statuses(&github, &app) == ["pending", "success"]).then_some(())
    });
    // Settle: a few more batches send nothing more.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        chat.received("/api/chat.postMessage").len(),
        1,
        "one message for the rollout, before and after the restart"
    );
    let updates = chat.received("/api/chat.update");
    assert!(!updates.is_empty());
    for u in &updates {
        assert_eq!(
            u.json()["ts"],
            posted_ts(&chat),
            "an edit of the first message"
        );
    }
    let hooks = chat.received("/hook");
    let events: Vec<&str> = hooks
        .iter()
        .filter_map(|h| h.headers.get("x-shopset-event").map(String::as_str))
        .collect();
    assert_eq!(events, ["rollout.started", "rollout.succeeded"]);
    for h in &hooks {
        verify(h);
    }
    assert_eq!(app_statuses(&github, &app), ["pending", "success"]);
    // The configuration commit has its status too (the example's two configurations share
    // one repository and commit: one status each time).
    let config = rev(&w.dir.join("config.git"), "tier-0");
    let config_states: Vec<String> = github
        .statuses()
        .iter()
        .filter(|(repo, sha, _)| repo.ends_with("/config") && *sha == config)
        .map(|(_, _, b)| b["state"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(config_states, ["pending", "success"]);

    // A commit that changes one ShopSet speaks of that one alone.
    let file = w.resources.join("many.yaml");
    let text = std::fs::read_to_string(&file).expect("read");
    std::fs::write(
        &file,
        text.replacen(
            "name: shop-007\nspec:\n",
            "name: shop-007\nspec:\n  maintenance: true\n",
            1,
        ),
    )
    .expect("write");
    let third = wait(&c, "a webhook about one ShopSet", || {
        chat.received("/hook").get(2).cloned()
    });
    let body = third.json();
    assert_eq!(body["event"], "rollout.started");
    assert_eq!(body["shopSetCount"], 1);
    assert_eq!(body["shopSets"], serde_json::json!(["shop-007"]));
    verify(&third);
    assert_eq!(
        chat.received("/api/chat.postMessage").len(),
        2,
        "a new rollout is a new Slack message"
    );
    drop(c);
}

fn posted_ts(chat: &FakeChat) -> String {
    chat.messages().keys().next().cloned().unwrap_or_default()
}

#[test]
fn a_failing_channel_is_retried_reported_and_the_promotion_goes_on() {
    let w = world();
    let chat = FakeChat::start();
    chat.fail_with(Some(500));
    let github = FakeGitHub::start(&w.dir.join("app.git"));
    std::fs::write(
        w.resources.join("notifications.yaml"),
        policy(&chat, &github, "[]").replace("channels: [chat, hook, commits]", "channels: [hook]"),
    )
    .expect("write");
    // tier-1 promotes from tier-0 as soon as it is healthy (no soak time).
    let tiers = w.resources.join("tiers.yaml");
    let text = std::fs::read_to_string(&tiers).expect("tiers");
    std::fs::write(&tiers, text.replacen("soak: 30m", "soak: 0s", 1)).expect("write");
    let app = w.dir.join("app.git");
    let candidate = rev(&app, "tier-0");
    assert_ne!(rev(&app, "tier-1"), candidate);

    let c = start(&w);
    let system = w.dir.join("system.git");
    let tip = rev(&system, "tier-0");
    healthy(&w, &["canary".to_owned(), "staff-shops".to_owned()], &tip);
    wait(&c, "the promotion into tier-1", || {
        (rev(&app, "tier-1") == candidate).then_some(())
    });
    wait(&c, "the failure reported", || {
        let s = status(&w);
        let failed = s
            .pointer("/notificationPolicies/releases/failedDeliveries")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let event = s["events"].as_array().is_some_and(|e| {
            e.iter().any(|e| {
                e["reason"] == "NotificationFailed"
                    && e["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("HTTP 500") && m.contains("after 3 tries"))
            })
        });
        (failed > 0 && event).then_some(())
    });
    // The promotion's own events are among those that could not be delivered (reported once
    // the batch that promoted has tried them and written its status).
    for key in [
        "promotion.started/Tier/tier-1/",
        "promotion.succeeded/Tier/tier-1/",
    ] {
        wait(&c, key, || {
            status(&w)["events"]
                .as_array()
                .is_some_and(|e| {
                    e.iter().any(|e| {
                        e["reason"] == "NotificationFailed"
                            && e["message"].as_str().is_some_and(|m| m.starts_with(key))
                    })
                })
                .then_some(())
        });
    }
    let tries = chat.received("/hook").len();
    assert!(tries >= 3, "retried: {tries} requests");
    let ready = status(&w)
        .pointer("/notificationPolicies/releases/conditions/0/status")
        .cloned();
    assert_eq!(ready, Some(Value::from("False")));
    let metrics = c.get("/metrics").1;
    assert!(
        metrics.contains("shopset_notifications_total{channel=\"hook\",result=\"failed\"}"),
        "{metrics}"
    );
    // Secrets never appear in what the controller writes.
    let log = c.log_text();
    let written = std::fs::read_to_string(&w.status).unwrap_or_default();
    for secret in [HOOK_KEY, SLACK_TOKEN, "ghp-test"] {
        assert!(!log.contains(secret) && !written.contains(secret));
    }
    // It recovers: what was not delivered goes at the next batch, and is recorded.
    chat.fail_with(None);
    healthy(&w, &["canary".to_owned(), "staff-shops".to_owned()], &tip);
    wait(&c, "the delivery recorded", || {
        status(&w)
            .pointer("/notificationPolicies/releases/sent")
            .and_then(Value::as_array)
            .is_some_and(|s| s.iter().any(|m| m["channel"] == "hook"))
            .then_some(())
    });
}

#[test]
fn shopctl_notify_test_sends_through_the_same_code() {
    let w = world();
    let chat = FakeChat::start();
    let github = FakeGitHub::start(&w.dir.join("app.git"));
    std::fs::write(
        w.resources.join("notifications.yaml"),
        policy(&chat, &github, "[]"),
    )
    .expect("write");
    let secrets = w.dir.join("secrets").display().to_string();
    let resources = w.resources.display().to_string();
    let out = shopset_tests::run_shopctl([
        "notify",
        "test",
        "chat",
        "-f",
        &resources,
        "--secrets-dir",
        &secrets,
    ]);
    let text = shopset_tests::ok(&out);
    assert!(text.contains("sent a test message to chat"), "{text}");
    let posted = chat.received("/api/chat.postMessage");
    assert_eq!(posted.len(), 1);
    assert!(
        posted[0].json()["text"]
            .as_str()
            .is_some_and(|t| t.contains("a test message"))
    );
    let out = shopset_tests::run_shopctl([
        "notify",
        "test",
        "hook",
        "-f",
        &resources,
        "--secrets-dir",
        &secrets,
    ]);
    shopset_tests::ok(&out);
    verify(&chat.received("/hook")[0]);
    // A channel that fails, and one that does not exist: a clear error, exit code 1.
    chat.fail_with(Some(500));
    let out = shopset_tests::run_shopctl([
        "notify",
        "test",
        "hook",
        "-f",
        &resources,
        "--secrets-dir",
        &secrets,
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("HTTP 500") && err.contains("channel hook"),
        "{err}"
    );
    assert!(!err.contains(HOOK_KEY));
    let out = shopset_tests::run_shopctl(["notify", "test", "pager", "-f", &resources]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("no channel \"pager\"") && err.contains("\"chat\""),
        "{err}"
    );
    // Without the Secret, the error names it.
    let out = shopset_tests::run_shopctl(["notify", "test", "chat", "-f", &resources]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Secret \"slack\" has no key \"token\""),
        "{err}"
    );
}

#[test]
fn in_api_mode_the_record_is_the_policys_status_and_a_new_replica_sends_nothing_twice() {
    use shopset_tests::fake_api::FakeApi;
    const NS: &str = "shopset-system";
    let w = world();
    let chat = FakeChat::start();
    let github = FakeGitHub::start(&w.dir.join("app.git"));
    // A new system repository: the first batch commits every tier, each a rollout.
    let tiers = w.resources.join("tiers.yaml");
    let text = std::fs::read_to_string(&tiers).expect("tiers");
    std::fs::write(&tiers, text.replace("system.git", "system-new.git")).expect("write");
    std::fs::write(
        w.resources.join("notifications.yaml"),
        policy(&chat, &github, "[]"),
    )
    .expect("write");
    let api = FakeApi::start();
    api.load_resources(&w.resources, NS);
    let secrets = w.dir.join("secrets").display().to_string();
    let args = ["--debounce-ms", "300", "--secrets-dir", &secrets];
    let mut a = Controller::start_in_cluster(&api, &w.dir, "a", NS, &args);
    let sent = |api: &FakeApi| {
        api.get_object("shopset.dev", "notificationpolicies", NS, "releases")
            .and_then(|p| p.pointer("/status/sent").and_then(Value::as_array).cloned())
            .unwrap_or_default()
    };
    let keys = wait(&a, "each tier's rollout recorded in the status", || {
        let keys: Vec<String> = sent(&api)
            .iter()
            .filter(|m| m["channel"] == "chat")
            .filter_map(|m| m["key"].as_str().map(str::to_owned))
            .collect();
        (["tier-0", "tier-1", "tier-2"]
            .iter()
            .all(|t| keys.iter().any(|k| k.starts_with(&format!("rollout/{t}@")))))
        .then_some(keys)
    });
    let posted = chat.received("/api/chat.postMessage").len();
    assert_eq!(
        posted,
        keys.len(),
        "one Slack message per rollout: {keys:?}"
    );
    a.kill();
    // Another replica reads the record from the status: nothing is posted again.
    let b = Controller::start_in_cluster(&api, &w.dir, "b", NS, &args);
    wait(&b, "replica b's first batches", || {
        b.get("/metrics")
            .1
            .contains("shopset_plans_total")
            .then_some(())
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(chat.received("/api/chat.postMessage").len(), posted);
    // Every call was allowed by the controller's RBAC with the notifications' part.
    let both = w.dir.join("rbac-with-notifications.yaml");
    let root = shopset_tests::root();
    let text = std::fs::read_to_string(root.join("deploy/rbac.yaml")).expect("rbac")
        + "---\n"
        + &std::fs::read_to_string(root.join("deploy/rbac-notifications.yaml")).expect("rbac");
    std::fs::write(&both, text).expect("write");
    let requests = api.requests();
    assert!(
        requests.iter().any(|r| r.resource == "notificationpolicies"
            && r.subresource.as_deref() == Some("status")
            && r.verb == "patch"),
        "the status was patched"
    );
    shopset_tests::check_rbac(&both, NS, &requests, false);
}
