//! Previews per pull request, against the fake GitHub (pull requests, labels, comments, an
//! outage) and real git: each poll is the engine's `reconcile`, the controller's clock injected
//! through the author's time, Argo CD's Applications an in-memory store that removes a deleted
//! Application one poll later (as its finalizer would).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use shopset_engine::ops::preview::{self, Applications, Memory, Report};
use shopset_engine::{Author, Repos, Resources};
use shopset_tests::fake_github::FakeGitHub;
use shopset_tests::{app_repo_from_dir, commit_count, fixtures, git, kustomize, of_kind, rev, tip};

const T0: i64 = 1_767_225_600;

/// Argo CD's Applications: applied ones exist; a deleted one is gone at the next look.
#[derive(Default)]
struct Argo {
    apps: BTreeMap<String, Value>,
    deleting: Vec<String>,
    deleted: Vec<String>,
}

impl Applications for Argo {
    fn apply(&mut self, application: &Value) -> Result<(), String> {
        let name = application["metadata"]["name"].as_str().unwrap_or_default();
        self.apps.insert(name.to_owned(), application.clone());
        Ok(())
    }

    fn delete(&mut self, _namespace: &str, name: &str) -> Result<(), String> {
        self.deleting.push(name.to_owned());
        Ok(())
    }

    fn exists(&mut self, _namespace: &str, name: &str) -> Result<bool, String> {
        if self.deleting.iter().any(|d| d == name) {
            // Argo CD's finalizer removed what it applied, then the Application.
            self.deleting.retain(|d| d != name);
            self.apps.remove(name);
            self.deleted.push(name.to_owned());
            return Ok(false);
        }
        Ok(self.apps.contains_key(name))
    }

    fn state(&self, shop_set: &str) -> Option<String> {
        self.apps
            .contains_key(&format!("shopset-preview-{shop_set}"))
            .then(|| "Synced, Healthy".to_owned())
    }
}

struct World {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    app: PathBuf,
    system: PathBuf,
    repos: Repos,
    resources: Resources,
    github: FakeGitHub,
    forge: shopset_git::forge::GitHub,
    argo: Argo,
    memory: Memory,
    /// Three app commits: the first, and two more on tier-0.
    heads: Vec<String>,
}

fn resources_text(app: &Path, system: &Path, policy: &str) -> String {
    format!(
        "apiVersion: shopset.dev/v1alpha1\nkind: Tier\nmetadata: {{name: tier-0}}\nspec:\n  app: {{url: \"{app}\", path: kustomize}}\n  system: {{url: \"{system}\"}}\n---\n\
         apiVersion: shopset.dev/v1alpha1\nkind: Configuration\nmetadata: {{name: plan}}\nspec:\n  inline: {{values: {{A: \"1\"}}, replicas: {{podinfo: 2}}}}\n---\n\
         apiVersion: shopset.dev/v1alpha1\nkind: FailureDomain\nmetadata: {{name: east}}\nspec:\n  destination: {{name: east-1}}\n---\n\
         apiVersion: shopset.dev/v1alpha1\nkind: ShopSet\nmetadata: {{name: shop-a}}\nspec: {{tier: tier-0, configuration: plan}}\n---\n\
         apiVersion: shopset.dev/v1alpha1\nkind: PreviewPolicy\nmetadata: {{name: previews}}\nspec:\n  tier: tier-0\n  configuration: plan\n  host: \"pr-{{{{number}}}}.preview.example.com\"\n  source: {{github: {{repository: \"https://github.com/acme/shop\", labels: [preview]}}}}\n{policy}",
        app = app.display(),
        system = system.display(),
    )
}

fn resources(app: &Path, system: &Path, policy: &str) -> Resources {
    let text = resources_text(app, system, policy);
    let mut r = Resources::default();
    r.add_text("resources.yaml", &text);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    r
}

fn world(policy: &str) -> World {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().to_owned();
    let app = dir.join("app.git");
    let first = app_repo_from_dir(&app, &fixtures().join("apps/podinfo"), &["tier-0"]);
    let mut heads = vec![first];
    for i in 1..3 {
        heads.push(shopset_tests::commit_to_branch(
            &app,
            "tier-0",
            &dir.join(format!("work-{i}")),
            ("kustomize/NOTE", &format!("change {i}\n")),
            &[],
            &[],
        ));
    }
    let system = dir.join("system.git");
    let resources = resources(&app, &system, policy);
    let mut repos = Repos::new(dir.join("cache"));
    // The tiers as they are before any preview.
    let synced = shopset_engine::ops::sync::sync(
        &resources,
        &mut repos,
        &author(T0),
        &shopset_engine::SyncOptions::default(),
    );
    assert!(synced.ok(), "{:?}", synced.problems);
    let github = FakeGitHub::start(&app);
    let forge = shopset_git::forge::GitHub::new(&github.url, "https://github.com/acme/shop", None)
        .expect("client");
    World {
        _tmp: tmp,
        dir,
        app,
        system,
        repos,
        resources,
        github,
        forge,
        argo: Argo::default(),
        memory: Memory::default(),
        heads,
    }
}

fn author(time: i64) -> Author {
    Author {
        name: "shopset".into(),
        email: "shopset@example.com".into(),
        producer: "test".into(),
        time: Some(time),
        signer: None,
    }
}

impl World {
    fn poll(&mut self, time: i64) -> Report {
        preview::reconcile(
            &self.resources,
            &mut self.repos,
            &author(time),
            "previews",
            &self.forge,
            &mut self.argo,
            &mut self.memory,
        )
    }

    fn branch(&self, n: u64) -> Option<String> {
        tip(&self.system, &format!("refs/heads/preview/pr-{n}"))
    }

    fn deployed(&self, n: u64) -> String {
        shopset_tests::running_app(&self.system, &format!("preview/pr-{n}"))
    }

    fn tiers(&self) -> String {
        let out = git(&self.system, &["for-each-ref", "refs/heads/tier-*"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

#[test]
fn a_labelled_pull_request_gets_a_branch_an_application_and_one_comment_edited_on_each_push() {
    let mut w = world("");
    let tiers = w.tiers();
    w.github
        .open_pull(7, &w.heads[1], "tier-0", &["preview", "team-a"]);
    w.github.open_pull(8, &w.heads[2], "tier-0", &["team-a"]);

    let report = w.poll(T0);
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert!(
        w.branch(7).is_some(),
        "a branch for the labelled pull request"
    );
    assert_eq!(
        w.deployed(7),
        w.heads[1],
        "its gitlink is the pull request's head"
    );
    assert!(w.branch(8).is_none(), "no label, no preview");
    let app = &w.argo.apps["shopset-preview-pr-7"];
    assert_eq!(
        app["metadata"]["finalizers"][0],
        "resources-finalizer.argocd.argoproj.io"
    );
    assert_eq!(app["spec"]["source"]["targetRevision"], "preview/pr-7");
    let argo = crate::argo_schema::validator();
    let wrong = crate::argo_schema::errors(&argo, app);
    assert!(wrong.is_empty(), "Argo CD's schema: {wrong:?}");
    // The Application applied is the one the branch holds.
    let out = git(
        &w.system,
        &["show", "preview/pr-7:bootstrap/preview-pr-7.yaml"],
    );
    let held =
        shopset_render::yaml::parse(&String::from_utf8_lossy(&out.stdout)).expect("bootstrap file");
    assert_eq!(&held, app);
    assert_eq!(w.tiers(), tiers, "no tier branch moved");
    let comments = w.github.comments(7);
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert!(comments[0].1.contains("https://pr-7.preview.example.com"));
    assert!(comments[0].1.contains(&w.heads[1][..12]));
    assert!(w.github.comments(8).is_empty());
    assert_eq!(report.previews.len(), 1);
    assert_eq!(report.previews[0].phase, "Ready");
    assert_eq!(
        report.previews[0].expires_at, "2026-01-02T00:00:00Z",
        "idle time first: 24h"
    );

    // Nothing new: nothing written, no request but the listing.
    let before = w.github.requests().len();
    let commits = commit_count(&w.system, "preview/pr-7");
    w.poll(T0 + 60);
    assert_eq!(commit_count(&w.system, "preview/pr-7"), commits);
    let asked: Vec<_> = w.github.requests()[before..].to_vec();
    assert_eq!(asked.len(), 1, "{asked:?}");

    // A push moves the gitlink in one commit; the comment is edited, not posted again.
    w.github.push_pull(7, &w.heads[2]);
    w.poll(T0 + 3600);
    assert_eq!(commit_count(&w.system, "preview/pr-7"), commits + 1);
    assert_eq!(w.deployed(7), w.heads[2]);
    let comments = w.github.comments(7);
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert!(
        comments[0].1.contains(&w.heads[2][..12]),
        "{}",
        comments[0].1
    );
    assert_eq!(w.tiers(), tiers, "no tier branch moved");

    // The preview's overlay builds with real Kustomize, its Namespace included.
    let work = w.dir.join("checkout");
    shopset_tests::clone_branch(&w.system, "preview/pr-7", &work);
    let overlay = find_overlay(&work, "pr-7").expect("the preview's overlay");
    let objects = kustomize(&overlay);
    let namespaces = of_kind(&objects, "Namespace");
    assert_eq!(namespaces.len(), 1, "{objects:?}");
    assert!(!of_kind(&objects, "Deployment").is_empty());
}

/// The directory of the ShopSet's overlay (the one whose name is the ShopSet's and that holds a
/// kustomization).
fn find_overlay(dir: &Path, name: &str) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if !path.is_dir() || entry.file_name() == ".git" {
            continue;
        }
        if entry.file_name() == name && path.join("kustomization.yaml").exists() {
            return Some(path);
        }
        if let Some(found) = find_overlay(&path, name) {
            return Some(found);
        }
    }
    None
}

#[test]
fn closing_removes_the_application_then_the_branch_and_an_outage_removes_nothing() {
    let mut w = world("  archive: true\n");
    let tiers = w.tiers();
    w.github.open_pull(7, &w.heads[1], "tier-0", &["preview"]);
    w.poll(T0);
    let last = w.branch(7).expect("deployed");

    // An hour of 500s from GitHub, polled every five minutes: nothing is removed.
    w.github.close_pull(7, true);
    w.github.fail_with(500);
    for i in 1..=12 {
        let report = w.poll(T0 + i * 300);
        assert!(!report.listed);
        assert!(!report.problems.is_empty(), "the outage is said");
    }
    assert_eq!(w.branch(7).as_deref(), Some(last.as_str()));
    assert!(w.argo.apps.contains_key("shopset-preview-pr-7"));
    assert!(w.argo.deleted.is_empty());

    // GitHub answers again: the pull request is missing from the listing once, then again
    // five minutes later, and its own page says merged. Then, in order: the Application goes,
    // and only once it is gone, the branch.
    w.github.recover();
    let t = T0 + 4000;
    w.poll(t);
    assert!(w.branch(7).is_some(), "missing once is no evidence");
    assert!(w.argo.deleting.is_empty());
    let report = w.poll(t + 301);
    assert!(
        report
            .events
            .iter()
            .any(|(r, m)| r == "PreviewRemoving" && m.contains("merged")),
        "{:?}",
        report.events
    );
    assert!(
        w.branch(7).is_some(),
        "the branch waits for the Application"
    );
    assert_eq!(w.argo.deleting, vec!["shopset-preview-pr-7".to_owned()]);
    let report = w.poll(t + 400);
    assert_eq!(w.argo.deleted, vec!["shopset-preview-pr-7".to_owned()]);
    assert!(w.branch(7).is_none(), "{:?}", report.problems);
    assert_eq!(
        tip(&w.system, "refs/tags/archive/preview/pr-7").as_deref(),
        Some(last.as_str()),
        "the tag the policy asks for"
    );
    assert_eq!(
        w.tiers(),
        tiers,
        "a preview's removal never touches a tier branch"
    );
    let comments = w.github.comments(7);
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert!(
        comments[0].1.contains("Preview removed"),
        "{}",
        comments[0].1
    );
    assert!(report.previews.is_empty());
}

#[test]
fn a_removed_label_time_to_live_and_idle_time_remove_and_the_keep_label_keeps() {
    let mut w = world("  ttl: 48h\n  idleTtl: 24h\n  keepFor: 72h\n");
    for n in [1, 2, 3] {
        w.github.open_pull(n, &w.heads[1], "tier-0", &["preview"]);
    }
    w.poll(T0);
    assert!((1..=3).all(|n| w.branch(n).is_some()));
    // 1 loses its label; 3 is kept; 2 is pushed at 20 h.
    w.github.set_labels(1, &[]);
    w.github.set_labels(3, &["preview", "preview-keep"]);
    w.github.push_pull(2, &w.heads[2]);
    let report = w.poll(T0 + 20 * 3600);
    assert!(
        report
            .events
            .iter()
            .any(|(_, m)| m.contains("pull request 1") && m.contains("label")),
        "{:?}",
        report.events
    );
    w.poll(T0 + 20 * 3600 + 10);
    assert!(w.branch(1).is_none(), "label removed");
    // At 25 h: 2 was pushed 5 h ago (idle until 44 h); 3 is kept (24 h + 72 h).
    w.poll(T0 + 25 * 3600);
    assert!(w.branch(2).is_some() && w.branch(3).is_some());
    // At 45 h: 2 is idle (pushed at 20 h); 3 still kept.
    let report = w.poll(T0 + 45 * 3600);
    assert!(
        report
            .events
            .iter()
            .any(|(_, m)| m.contains("pull request 2") && m.contains("idle")),
        "{:?}",
        report.events
    );
    w.poll(T0 + 45 * 3600 + 10);
    assert!(w.branch(2).is_none());
    assert!(w.branch(3).is_some());
    // At 97 h: 3's kept time (24 h idle + 72 h) has passed; its time to live (48 + 72) has
    // not, so it goes as idle.
    w.poll(T0 + 97 * 3600);
    w.poll(T0 + 97 * 3600 + 10);
    assert!(w.branch(3).is_none());
}

#[test]
fn the_cap_evicts_the_most_idle_preview() {
    let mut w = world("  maxPreviews: 2\n");
    w.github.open_pull(1, &w.heads[1], "tier-0", &["preview"]);
    w.poll(T0);
    w.github.open_pull(2, &w.heads[1], "tier-0", &["preview"]);
    w.poll(T0 + 60);
    // 1 is pushed later than 2 was deployed: 2 is now the most idle.
    w.github.push_pull(1, &w.heads[2]);
    w.poll(T0 + 120);
    w.github.open_pull(3, &w.heads[1], "tier-0", &["preview"]);
    let report = w.poll(T0 + 180);
    assert!(
        report
            .events
            .iter()
            .any(|(_, m)| m.contains("pull request 2") && m.contains("evicted")),
        "{:?}",
        report.events
    );
    assert!(w.branch(3).is_some(), "the new one is deployed at once");
    w.poll(T0 + 240);
    assert!(w.branch(2).is_none(), "evicted");
    assert!(w.branch(1).is_some());
    assert_eq!(
        rev(&w.app, "tier-0"),
        w.heads[2],
        "the app repository is untouched"
    );
}

#[test]
fn by_hand_shopctl_brings_a_preview_up_lists_it_and_takes_it_down() {
    let w = world("  archive: true\n");
    let tiers = w.tiers();
    let file = w.dir.join("resources.yaml");
    std::fs::write(
        &file,
        resources_text(&w.app, &w.system, "  archive: true\n"),
    )
    .expect("write");
    let cache = w.dir.join("shopctl-cache").display().to_string();
    let res = file.display().to_string();
    let shopctl = |args: &[&str]| {
        let mut all = vec!["--cache-dir", cache.as_str()];
        all.extend_from_slice(args);
        shopset_tests::run_shopctl(all)
    };
    let up = |sha: &str| {
        shopset_tests::ok(&shopctl(&[
            "preview", "up", "--pr", "12", "--sha", sha, "-f", &res,
        ]))
    };
    let out = up(&w.heads[1]);
    assert!(out.contains("committed"), "{out}");
    assert!(out.contains("kubectl apply -f - <<'EOF'"), "{out}");
    assert!(
        out.contains("resources-finalizer.argocd.argoproj.io"),
        "{out}"
    );
    assert_eq!(w.deployed(12), w.heads[1]);
    // The same commit again writes nothing; a new one moves the gitlink in one commit.
    let out = up(&w.heads[1]);
    assert!(out.contains("unchanged"), "{out}");
    let commits = commit_count(&w.system, "preview/pr-12");
    up(&w.heads[2]);
    assert_eq!(commit_count(&w.system, "preview/pr-12"), commits + 1);
    assert_eq!(w.deployed(12), w.heads[2]);
    let listed = shopset_tests::ok(&shopctl(&["preview", "list", "-f", &res]));
    assert!(
        listed.contains("https://pr-12.preview.example.com"),
        "{listed}"
    );
    assert!(listed.contains(&w.heads[2][..12]), "{listed}");
    let last = w.branch(12).expect("branch");
    // Down: without a cluster and without --application-gone, nothing is deleted.
    let refused = shopctl(&[
        "preview",
        "down",
        "12",
        "-f",
        &res,
        "--kubeconfig",
        "/nonexistent",
    ]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("--application-gone"),
        "{refused:?}"
    );
    assert!(w.branch(12).is_some());
    let out = shopset_tests::ok(&shopctl(&[
        "preview",
        "down",
        "12",
        "-f",
        &res,
        "--application-gone",
    ]));
    assert!(out.contains("removed"), "{out}");
    assert!(w.branch(12).is_none());
    assert_eq!(
        tip(&w.system, "refs/tags/archive/preview/pr-12"),
        Some(last)
    );
    assert_eq!(w.tiers(), tiers, "no tier branch moved");
}

#[test]
fn the_controller_polls_at_start_and_a_signed_pull_request_webhook_deploys_a_push_at_once() {
    use shopset_tests::controller::{Controller, eventually};
    use std::time::Duration;
    let w = world("");
    let tiers = w.tiers();
    let res = w.dir.join("res");
    std::fs::create_dir_all(&res).expect("dir");
    std::fs::write(
        res.join("resources.yaml"),
        resources_text(&w.app, &w.system, ""),
    )
    .expect("write");
    let secret = w.dir.join("webhook-secret");
    std::fs::write(&secret, "pr s3cret\n").expect("write");
    w.github.open_pull(7, &w.heads[1], "tier-0", &["preview"]);
    let c = Controller::start(
        &[
            "--resources-dir",
            &res.display().to_string(),
            "--cache-dir",
            &w.dir.join("controller-cache").display().to_string(),
            "--github-api",
            &w.github.url,
            "--webhook-secret-file",
            &secret.display().to_string(),
            "--poll-seconds",
            "3600",
            "--debounce-ms",
            "50",
        ],
        &[],
        &w.dir.join("controller.log"),
    );
    // Polled at start: the branch, the status, and the Application to apply, said.
    eventually(Duration::from_secs(60), || w.branch(7))
        .unwrap_or_else(|| panic!("no preview; log:\n{}", c.log_text()));
    assert_eq!(w.deployed(7), w.heads[1]);
    let status = || -> Value {
        let text = std::fs::read_to_string(res.join("shopset-status.json")).unwrap_or_default();
        serde_json::from_str(&text).unwrap_or(Value::Null)
    };
    let seen = eventually(Duration::from_secs(30), || {
        let s = status();
        (s["previewPolicies"]["previews"]["count"] == 1).then_some(s)
    })
    .unwrap_or_else(|| panic!("no status; log:\n{}", c.log_text()));
    let entry = &seen["previewPolicies"]["previews"]["previews"][0];
    assert_eq!(entry["headSha"], w.heads[1].as_str());
    assert_eq!(entry["url"], "https://pr-7.preview.example.com");
    assert!(
        seen["events"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|e| e["reason"] == "ApplyApplication"
                && e["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("shopset-preview-pr-7"))),
        "{seen}"
    );

    // A push: the poll interval is five minutes; the signed webhook deploys it at once.
    w.github.push_pull(7, &w.heads[2]);
    let body = br#"{"action":"synchronize","number":7,"repository":{"html_url":"https://github.com/acme/shop"}}"#;
    let refused = c.post(
        "/webhook",
        &[
            ("X-GitHub-Event", "pull_request"),
            ("X-Hub-Signature-256", "sha256=00"),
        ],
        body,
    );
    assert_eq!(refused.0, 401, "{refused:?}");
    let good = shopset_controller::webhook::sign(b"pr s3cret", body);
    let (code, text) = c.post(
        "/webhook",
        &[
            ("X-GitHub-Event", "pull_request"),
            ("X-Hub-Signature-256", &good),
        ],
        body,
    );
    assert_eq!(code, 202, "{text}");
    assert!(text.contains("previews"), "{text}");
    eventually(Duration::from_secs(60), || {
        (w.deployed(7) == w.heads[2]).then_some(())
    })
    .unwrap_or_else(|| panic!("the push was not deployed; log:\n{}", c.log_text()));
    let comments = eventually(Duration::from_secs(30), || {
        let c = w.github.comments(7);
        c.first()
            .is_some_and(|(_, t)| t.contains(&w.heads[2][..12]))
            .then_some(c)
    })
    .expect("the comment names the new commit");
    assert_eq!(comments.len(), 1, "edited, not posted again: {comments:?}");
    assert_eq!(w.tiers(), tiers, "no tier branch moved");
}

#[test]
fn a_preview_without_a_push_sleeps_at_zero_replicas_and_a_push_wakes_it() {
    let mut w = world("  sleepAfter: 2h\n");
    w.github.open_pull(4, &w.heads[1], "tier-0", &["preview"]);
    w.poll(T0);
    let replicas = |w: &World| -> Vec<Value> {
        let work = w.dir.join(format!(
            "checkout-{}",
            commit_count(&w.system, "preview/pr-4")
        ));
        shopset_tests::clone_branch(&w.system, "preview/pr-4", &work);
        let overlay = find_overlay(&work, "pr-4").expect("the preview's overlay");
        kustomize(&overlay)
            .iter()
            .filter(|o| o["kind"] == "Deployment")
            .map(|o| o["spec"]["replicas"].clone())
            .collect()
    };
    assert_eq!(
        replicas(&w),
        vec![Value::from(2)],
        "awake: the configuration's count"
    );
    // One hour: still awake.
    let commits = commit_count(&w.system, "preview/pr-4");
    w.poll(T0 + 3600);
    assert_eq!(commit_count(&w.system, "preview/pr-4"), commits);
    // Three hours without a push: one commit scales it to zero; the next poll writes nothing.
    let report = w.poll(T0 + 3 * 3600);
    assert!(
        report.events.iter().any(|(r, _)| r == "PreviewAsleep"),
        "{:?}",
        report.events
    );
    assert_eq!(report.previews[0].phase, "Asleep");
    assert_eq!(commit_count(&w.system, "preview/pr-4"), commits + 1);
    assert_eq!(replicas(&w), vec![Value::from(0)], "asleep");
    assert!(w.github.comments(4)[0].1.contains("asleep"));
    w.poll(T0 + 4 * 3600);
    assert_eq!(commit_count(&w.system, "preview/pr-4"), commits + 1);
    assert!(w.branch(4).is_some(), "asleep is not removed");
    // A push wakes it, at the new commit.
    w.github.push_pull(4, &w.heads[2]);
    let report = w.poll(T0 + 5 * 3600);
    assert_eq!(report.previews[0].phase, "Ready");
    assert_eq!(w.deployed(4), w.heads[2]);
    assert_eq!(replicas(&w), vec![Value::from(2)], "awake again");
    // And sleeps again two hours after that push, not after the first deploy.
    w.poll(T0 + 6 * 3600);
    assert_eq!(commit_count(&w.system, "preview/pr-4"), commits + 2);
    w.poll(T0 + 7 * 3600 + 1);
    assert_eq!(replicas(&w), vec![Value::from(0)]);
}

#[test]
fn a_preview_of_a_tier_with_an_edge_gets_a_routing_row_for_its_host() {
    let mut w = world("");
    let text = resources_text(&w.app, &w.system, "").replacen(
        "kind: Tier\nmetadata: {name: tier-0}\nspec:\n",
        "kind: Tier\nmetadata: {name: tier-0}\nspec:\n  routing: {destination: {name: edge}, namespace: router}\n",
        1,
    );
    let mut r = Resources::default();
    r.add_text("resources.yaml", &text);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    w.resources = r;
    w.github.open_pull(9, &w.heads[1], "tier-0", &["preview"]);
    let report = w.poll(T0);
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let show = |path: &str| {
        let out = git(&w.system, &["show", &format!("preview/pr-9:{path}")]);
        assert!(out.status.success(), "{path}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let table = shopset_render::routing::load(
        [
            ("routing/shops.yaml", show("routing/shops.yaml")),
            ("routing/shopsets.yaml", show("routing/shopsets.yaml")),
        ]
        .iter()
        .map(|(p, t)| (*p, t.as_bytes())),
    )
    .expect("the table loads");
    let row = &table.shops["pr-9"];
    assert_eq!(row.shop_set, "pr-9");
    assert_eq!(row.hosts, vec!["pr-9.preview.example.com".to_owned()]);
    assert!(table.shop_sets.contains_key("pr-9"));
    // Its tables are its own in the edge's namespace, beside the tiers'.
    let kustomization = show("routing/kustomization.yaml");
    assert!(
        kustomization.contains("name: shopset-routing-preview-pr-9-shops"),
        "{kustomization}"
    );
    let app = show("applications/routing.yaml");
    assert!(app.contains("name: shopset-routing-preview-pr-9"), "{app}");
    assert!(
        app.contains("resources-finalizer.argocd.argoproj.io"),
        "its tables are removed with it: {app}"
    );
    let parsed = shopset_render::yaml::parse(&app).expect("YAML");
    let wrong = crate::argo_schema::errors(&crate::argo_schema::validator(), &parsed);
    assert!(wrong.is_empty(), "Argo CD's schema: {wrong:?}");
    // The overlay lists its host.
    let work = w.dir.join("routed");
    shopset_tests::clone_branch(&w.system, "preview/pr-9", &work);
    let overlay = find_overlay(&work, "pr-9").expect("overlay");
    let objects = kustomize(&overlay);
    let hosts = of_kind(&objects, "ConfigMap")
        .into_iter()
        .find(|c| {
            c["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("shopset-hosts"))
        })
        .expect("the hosts ConfigMap");
    assert_eq!(hosts["data"]["hosts"], "pr-9.preview.example.com\n");
}

#[test]
fn a_pull_request_from_a_fork_is_deployed_from_its_pull_ref() {
    let mut w = world("");
    // The head exists only as refs/pull/5/head, as GitHub keeps a fork's.
    let work = w.dir.join("fork");
    let out = git(
        &w.dir,
        &[
            "clone",
            "-q",
            &w.app.display().to_string(),
            &work.display().to_string(),
        ],
    );
    assert!(out.status.success(), "{out:?}");
    std::fs::write(work.join("kustomize/FORK"), "from a fork\n").expect("write");
    for args in [
        &["add", "-A"][..],
        &[
            "-c",
            "user.name=f",
            "-c",
            "user.email=f@f",
            "commit",
            "-qm",
            "fork",
        ],
        &["push", "-q", "origin", "HEAD:refs/pull/5/head"],
    ] {
        let out = git(&work, args);
        assert!(out.status.success(), "{args:?}: {out:?}");
    }
    let head = rev(&w.app, "refs/pull/5/head");
    assert!(!w.heads.contains(&head));
    w.github.open_pull(5, &head, "tier-0", &["preview"]);
    let report = w.poll(T0);
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(w.deployed(5), head);
}

#[test]
fn two_policies_on_one_system_repository_are_refused() {
    let mut w = world("");
    let text = resources_text(&w.app, &w.system, "")
        + "---\napiVersion: shopset.dev/v1alpha1\nkind: PreviewPolicy\nmetadata: {name: others}\nspec:\n  tier: tier-0\n  configuration: plan\n  host: \"o-{{number}}.example.com\"\n  source: {github: {repository: \"https://github.com/acme/other\"}}\n";
    let mut r = Resources::default();
    r.add_text("resources.yaml", &text);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    w.resources = r;
    w.github.open_pull(7, &w.heads[1], "tier-0", &["preview"]);
    let report = w.poll(T0);
    let said = report
        .problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>();
    assert!(
        said.iter()
            .any(|p| p.contains("\"others\"")
                && p.contains("one PreviewPolicy per system repository")),
        "{said:?}"
    );
    assert!(w.branch(7).is_none(), "nothing written");
    assert!(w.github.requests().is_empty(), "GitHub not asked");
}
