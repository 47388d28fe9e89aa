//! The one rule, checked action by action: the same starting state is given to `shopctl` (a
//! person's way), to the controller in directory mode (`--once`) and to the controller in API
//! mode (against the fake API server, loaded with the same resources and Argo CD
//! Applications, run until it settles); the branch tips' trees of the system repository, the
//! app and configuration branches, the resources and the promotion verdict must come out
//! equal. Every [`Action`] has a row: the `match` in [`row`] has no wildcard, so an action
//! added without one does not build.
//!
//! The runs happen at the same path (the world is copied aside first and put back for each
//! run), because the rendered inputs name the repositories by their absolute paths.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use shopset_engine::ops::{Action, edit};
use shopset_tests::controller::{Controller, eventually};
use shopset_tests::fake_api::FakeApi;
use shopset_tests::fake_github::FakeGitHub;
use shopset_tests::{commit_to_branch, git, quickstart_without_shops, rev, run_shopctl, tip};

const BRANCHES: [&str; 3] = ["tier-0", "tier-1", "tier-2"];

/// The controller's namespace in API mode.
const NS: &str = "shopset-system";

/// The kinds of shopset resources, as the API server names them.
const PLURALS: [&str; 8] = [
    "tiers",
    "configurations",
    "shopsets",
    "failuredomains",
    "shops",
    "migrations",
    "previewpolicies",
    "notificationpolicies",
];

struct World {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

impl World {
    fn resources(&self) -> PathBuf {
        self.dir.join("resources")
    }

    fn res(&self) -> String {
        self.resources().display().to_string()
    }

    fn repo(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.git"))
    }

    fn edit_file(&self, file: &str, from: &str, to: &str) {
        let path = self.resources().join(file);
        let text = std::fs::read_to_string(&path).expect("read");
        let edited = text.replacen(from, to, 1);
        assert_ne!(edited, text, "{file}: {from:?} not found");
        std::fs::write(&path, edited).expect("write");
    }

    fn shopctl(&self, args: &[&str]) -> Output {
        let cache = self.dir.join("cache").display().to_string();
        let mut all = vec!["--cache-dir", cache.as_str()];
        all.extend_from_slice(args);
        run_shopctl(all)
    }

    fn shopctl_ok(&self, args: &[&str]) -> String {
        shopset_tests::ok(&self.shopctl(args))
    }

    /// A person's edit of a resource file, as `kubectl patch` would do it in a cluster.
    fn patch(&self, change: &edit::Change) {
        shopset_engine::files::patch_resource(
            &[self.resources()],
            change.kind,
            &change.name,
            &change.patch,
        )
        .expect("patched");
    }

    /// A person's creation or deletion of a resource, as `kubectl create` or `kubectl delete`
    /// would do it in a cluster; or their patch.
    fn apply(&self, change: &edit::Change) {
        match &change.lifecycle {
            Some(edit::Lifecycle::Create(doc)) => {
                shopset_engine::files::add_resource(&self.resources(), "shops.yaml", doc)
                    .expect("created");
            }
            Some(edit::Lifecycle::Delete) => {
                shopset_engine::files::delete_resource(
                    &[self.resources()],
                    change.kind,
                    &change.name,
                )
                .expect("deleted");
            }
            None => self.patch(change),
        }
    }

    /// The controller, directory mode, one pass.
    fn controller(&self, extra: &[&str]) -> Output {
        let out = Command::new(shopset_tests::controller::binary())
            .args(["--resources-dir", &self.res()])
            .args([
                "--cache-dir",
                &self.dir.join("controller-cache").display().to_string(),
            ])
            .args(["--listen", "127.0.0.1:0", "--once", "--debounce-ms", "50"])
            .args(extra)
            .output()
            .expect("the controller runs");
        assert!(
            out.status.success(),
            "controller: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// The controller, API mode, against a fake API server holding this world's resources and
    /// Argo CD Applications: it runs until it settles (every Tier has a status, and neither
    /// the branches nor the Tiers' statuses change for 3 s), then stops. Returns the server and
    /// the log.
    fn controller_in_cluster(&self, extra: &[&str]) -> (FakeApi, String) {
        let api = FakeApi::start();
        api.load_resources(&self.resources(), NS);
        let mut args = vec!["--debounce-ms", "50"];
        args.extend_from_slice(extra);
        let mut c = Controller::start_in_cluster(&api, &self.dir, "controller-api", NS, &args);
        let state = || {
            let statuses: Vec<Value> = api
                .list_objects("shopset.dev", "tiers")
                .into_iter()
                .map(|t| t["status"].clone())
                .collect();
            let tips: Vec<Option<String>> = ["system", "app", "config"]
                .iter()
                .flat_map(|repo| BRANCHES.iter().map(move |b| tip(&self.repo(repo), b)))
                .collect();
            (statuses, tips)
        };
        let mut last = state();
        let mut since = std::time::Instant::now();
        let settled = eventually(std::time::Duration::from_secs(120), || {
            std::thread::sleep(std::time::Duration::from_millis(200));
            let now = state();
            if now != last {
                last = now;
                since = std::time::Instant::now();
                return None;
            }
            let all = last.0.len() == BRANCHES.len()
                && last.0.iter().all(|s| s.get("conditions").is_some());
            (all && since.elapsed() >= std::time::Duration::from_secs(3)).then_some(())
        });
        let log = c.log_text();
        assert!(
            settled.is_some(),
            "the controller did not settle; log:\n{}",
            tail(&log, 40)
        );
        c.terminate();
        (api, log)
    }

    /// Argo CD reports every ShopSet of `tier` synced at its branch tip and healthy.
    fn healthy(&self, tier: &str, shop_sets: &[&str]) {
        let tip = rev(&self.repo("system"), tier);
        let mut text = String::new();
        for name in shop_sets {
            text.push_str(&format!(
                "---\napiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: {name}\n  \
                 namespace: argocd\n  labels:\n    shopset.dev/shopset: {name}\n    \
                 app.kubernetes.io/managed-by: shopset\nstatus:\n  sync:\n    status: Synced\n    \
                 revision: {tip}\n  health:\n    status: Healthy\n"
            ));
        }
        std::fs::write(self.resources().join(format!("argocd-{tier}.yaml")), text).expect("write");
    }
}

/// What an action leaves behind, compared between the two ways of taking it.
#[derive(Debug, PartialEq)]
struct Outcome {
    /// The tree at the tip of each system branch.
    system: Vec<Option<String>>,
    /// The app and configuration branch tips.
    app: Vec<Option<String>>,
    config: Vec<Option<String>>,
    /// Every resource document (status left out), by `Kind/name`.
    resources: BTreeMap<String, Value>,
    /// Per tier, whether its predecessor's candidate may be promoted into it.
    promotable: BTreeMap<String, Option<bool>>,
    /// Tiers stopped by the mass-removal stop, with the confirmation token named.
    blocked: BTreeMap<String, String>,
    /// The pull requests opened (title, merged).
    pulls: Vec<(String, bool)>,
    /// The system repository's preview branches and tags: (ref, tree or commit).
    previews: Vec<String>,
}

impl Outcome {
    /// What differs, field by field (`by hand` first).
    fn differences(&self, other: &Self) -> Vec<String> {
        let mut out = Vec::new();
        let mut field = |name: &str, a: String, b: String| {
            if a != b {
                out.push(format!(
                    "{name}: by hand {a}\n{name}: by the controller {b}"
                ));
            }
        };
        field(
            "system trees",
            format!("{:?}", self.system),
            format!("{:?}", other.system),
        );
        field(
            "app branches",
            format!("{:?}", self.app),
            format!("{:?}", other.app),
        );
        field(
            "config branches",
            format!("{:?}", self.config),
            format!("{:?}", other.config),
        );
        for key in self.resources.keys().chain(other.resources.keys()) {
            field(
                key,
                format!("{:?}", self.resources.get(key)),
                format!("{:?}", other.resources.get(key)),
            );
        }
        field(
            "promotable",
            format!("{:?}", self.promotable),
            format!("{:?}", other.promotable),
        );
        field(
            "blocked",
            format!("{:?}", self.blocked),
            format!("{:?}", other.blocked),
        );
        field(
            "pull requests",
            format!("{:?}", self.pulls),
            format!("{:?}", other.pulls),
        );
        field(
            "previews",
            format!("{:?}", self.previews),
            format!("{:?}", other.previews),
        );
        out.dedup();
        out
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn token(message: &str) -> String {
    message
        .split("shopset.dev/confirm-removals=")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .unwrap_or_default()
        .to_owned()
}

fn outcome(
    w: &World,
    promotable: BTreeMap<String, Option<bool>>,
    blocked: BTreeMap<String, String>,
    github: Option<&FakeGitHub>,
) -> Outcome {
    let docs = shopset_engine::files::read_documents(
        &[w.resources()],
        &[w.resources().join("shopset-status.json")],
    );
    let resources = docs
        .documents
        .into_iter()
        .map(|(_, d)| d)
        .filter(|d| d["kind"] != "Application")
        .map(comparable)
        .collect();
    outcome_with(w, resources, promotable, blocked, github)
}

/// A resource as the comparison sees it, by `Kind/name`: its kind, name, labels, annotations
/// and spec (what the API server adds, and the status, left out).
fn comparable(d: Value) -> (String, Value) {
    let key = format!(
        "{}/{}",
        d["kind"].as_str().unwrap_or_default(),
        d["metadata"]["name"].as_str().unwrap_or_default()
    );
    let mut metadata = serde_json::Map::new();
    metadata.insert("name".into(), d["metadata"]["name"].clone());
    for field in ["labels", "annotations"] {
        if let Some(v) = d["metadata"]
            .get(field)
            .filter(|v| v.as_object().is_some_and(|m| !m.is_empty()))
        {
            metadata.insert(field.into(), v.clone());
        }
    }
    let value = serde_json::json!({
        "apiVersion": d["apiVersion"],
        "kind": d["kind"],
        "metadata": metadata,
        "spec": d["spec"],
    });
    (key, value)
}

/// What the controller left behind in API mode: the resources are the API server's.
fn outcome_in_cluster(
    w: &World,
    api: &FakeApi,
    promotable: BTreeMap<String, Option<bool>>,
    blocked: BTreeMap<String, String>,
    github: Option<&FakeGitHub>,
) -> Outcome {
    let resources = PLURALS
        .iter()
        .flat_map(|plural| api.list_objects("shopset.dev", plural))
        .map(comparable)
        .collect();
    outcome_with(w, resources, promotable, blocked, github)
}

fn outcome_with(
    w: &World,
    resources: BTreeMap<String, Value>,
    promotable: BTreeMap<String, Option<bool>>,
    blocked: BTreeMap<String, String>,
    github: Option<&FakeGitHub>,
) -> Outcome {
    let branches = |repo: &str, suffix: &str| -> Vec<Option<String>> {
        BRANCHES
            .iter()
            .map(|b| tip(&w.repo(repo), &format!("{b}{suffix}")))
            .collect()
    };
    Outcome {
        system: branches("system", "^{tree}"),
        app: branches("app", ""),
        config: branches("config", ""),
        resources,
        promotable,
        blocked,
        pulls: github
            .map(|g| {
                g.pulls()
                    .iter()
                    .map(|p| {
                        (
                            p["title"].as_str().unwrap_or_default().to_owned(),
                            p["merged"] == Value::Bool(true),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
        previews: previews_of(&w.repo("system")),
    }
}

/// The preview branches (with their trees) and the archive tags (with their commits) of a
/// system repository.
fn previews_of(system: &Path) -> Vec<String> {
    let out = git(
        system,
        &[
            "for-each-ref",
            "--format=%(refname) %(objectname) %(tree)",
            "refs/heads/preview/",
            "refs/tags/archive/",
        ],
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let parts: Vec<&str> = l.split(' ').collect();
            match parts[..] {
                // A branch: its tree (its commits carry each writer's time).
                [name, _, tree] if name.starts_with("refs/heads/") => format!("{name} {tree}"),
                [name, commit, ..] => format!("{name} {commit}"),
                _ => l.to_owned(),
            }
        })
        .collect()
}

/// `shopctl status`'s verdict per tier.
fn status_verdict(w: &World) -> BTreeMap<String, Option<bool>> {
    let out = w.shopctl(&["status", "-o", "json", "-f", &w.res()]);
    let json: Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    json.as_array()
        .expect("tiers")
        .iter()
        .map(|t| {
            (
                t["tier"].as_str().unwrap_or_default().to_owned(),
                t["promotable"].as_bool(),
            )
        })
        .collect()
}

/// The controller's verdict per tier (recorded on the tier promoted from), and its stops, from
/// the status file it wrote in directory mode.
fn controller_verdict(w: &World) -> (BTreeMap<String, Option<bool>>, BTreeMap<String, String>) {
    let text =
        std::fs::read_to_string(w.resources().join("shopset-status.json")).expect("status file");
    let status: Value = serde_json::from_str(&text).expect("status JSON");
    let tiers = status["tiers"].as_object().cloned().unwrap_or_default();
    verdict_of(w, &tiers.into_iter().collect())
}

/// The same, from the Tiers' statuses in the API server.
fn cluster_verdict(
    w: &World,
    api: &FakeApi,
) -> (BTreeMap<String, Option<bool>>, BTreeMap<String, String>) {
    let tiers = api
        .list_objects("shopset.dev", "tiers")
        .into_iter()
        .map(|t| {
            (
                t["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                t["status"].clone(),
            )
        })
        .collect();
    verdict_of(w, &tiers)
}

/// Per tier, the verdict recorded on the tier it is promoted from; and the tiers whose
/// Committed condition says removals need confirmation, with the token it names.
fn verdict_of(
    w: &World,
    status: &BTreeMap<String, Value>,
) -> (BTreeMap<String, Option<bool>>, BTreeMap<String, String>) {
    let tiers = resources_of(w);
    let mut promotable = BTreeMap::new();
    let mut blocked = BTreeMap::new();
    for (name, spec) in &tiers.tiers {
        let verdict = spec
            .spec
            .promotes_from
            .as_deref()
            .and_then(|from| status.get(from)?["promotable"].as_bool());
        promotable.insert(name.clone(), verdict);
        let committed = status
            .get(name)
            .and_then(|s| s["conditions"].as_array())
            .into_iter()
            .flatten()
            .find(|c| c["type"] == "Committed")
            .cloned()
            .unwrap_or_default();
        if committed["reason"] == "RemovalsNeedConfirmation" {
            blocked.insert(
                name.clone(),
                token(committed["message"].as_str().unwrap_or_default()),
            );
        }
    }
    (promotable, blocked)
}

/// A person's blocked tiers, from `shopctl sync -o json`.
fn sync_blocked(out: &Output) -> BTreeMap<String, String> {
    let json: Value = serde_json::from_slice(&out.stdout).expect("sync JSON");
    let problems: Vec<&Value> = json["problems"].as_array().into_iter().flatten().collect();
    json["tiers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["state"] == "blocked")
        .map(|t| {
            let tier = t["tier"].as_str().unwrap_or_default().to_owned();
            let message = problems
                .iter()
                .find(|p| p["subject"]["kind"] == "Tier" && p["subject"]["name"] == tier.as_str())
                .and_then(|p| p["message"].as_str())
                .unwrap_or_default()
                .to_owned();
            (tier, token(&message))
        })
        .collect()
}

/// One row: how to prepare the starting state, what a person runs, and what the controller is
/// given (the person's resource edit, if any, and its flags).
struct Row {
    prepare: fn(&World),
    by_hand: fn(&World, Option<&FakeGitHub>) -> BTreeMap<String, String>,
    for_controller: fn(&World),
    /// A fake GitHub, with what it holds (pull requests) set up by this function.
    github: Option<fn(&FakeGitHub, &World)>,
}

fn nothing(_: &World) {}

fn no_pulls(_: &FakeGitHub, _: &World) {}

/// A PreviewPolicy for tier-0's pull requests labelled `preview`, written.
fn preview_policy(w: &World) {
    std::fs::write(
        w.resources().join("previews.yaml"),
        "apiVersion: shopset.dev/v1alpha1\nkind: PreviewPolicy\nmetadata:\n  name: previews\nspec:\n  \
         tier: tier-0\n  configuration: standard\n  host: \"pr-{{number}}.preview.example.com\"\n  \
         archive: true\n  source:\n    github:\n      repository: https://github.com/acme/app\n      \
         labels: [preview]\n",
    )
    .expect("write");
}

/// Pull request 5 into tier-0, its head tier-0's app commit, labelled `preview` when
/// `labelled`.
fn pull_five(g: &FakeGitHub, w: &World, labelled: bool) {
    let head = rev(&w.repo("app"), "tier-0");
    let labels: &[&str] = if labelled { &["preview"] } else { &[] };
    g.open_pull(5, &head, "tier-0", labels);
}

const PULL_FIVE_URL: &str = "https://github.example/acme/shop/pull/5";

/// `shopctl preview up` of pull request 5 at tier-0's app commit; its output.
fn preview_five_by_hand(w: &World) -> String {
    let head = rev(&w.repo("app"), "tier-0");
    w.shopctl_ok(&[
        "preview",
        "up",
        "--pr",
        "5",
        "--sha",
        &head,
        "--url",
        PULL_FIVE_URL,
        "-f",
        &w.res(),
    ])
}

fn sync(w: &World, _: Option<&FakeGitHub>) -> BTreeMap<String, String> {
    let out = w.shopctl(&["sync", "-o", "json", "-f", &w.res()]);
    sync_blocked(&out)
}

fn removed_three(w: &World) {
    let file = w.resources().join("shopsets.yaml");
    let text = std::fs::read_to_string(&file).expect("read");
    let docs: Vec<&str> = text
        .split("\n---\n")
        .filter(|d| {
            !["general-1", "general-2", "general-3"]
                .iter()
                .any(|n| d.contains(&format!("name: {n}\n")))
        })
        .collect();
    std::fs::write(&file, docs.join("\n---\n")).expect("write");
}

fn quick_promotion(w: &World) {
    w.edit_file("tiers.yaml", "    soak: 30m\n", "    soak: 0s\n");
    w.shopctl_ok(&["sync", "-f", &w.res()]);
    w.healthy("tier-0", &["canary", "staff-shops"]);
}

fn by_pull_request(w: &World) {
    std::os::unix::fs::symlink(".", w.dir.join("acme")).expect("symlink");
    let tiers = w.resources().join("tiers.yaml");
    let text = std::fs::read_to_string(&tiers).expect("read");
    std::fs::write(&tiers, text.replace("/app.git", "/acme/app.git")).expect("write");
    w.edit_file(
        "tiers.yaml",
        "    mode: Push\n    auto: true\n    soak: 30m\n",
        "    mode: PullRequest\n    auto: true\n    soak: 0s\n",
    );
    w.shopctl_ok(&["sync", "-f", &w.res()]);
    w.healthy("tier-0", &["canary", "staff-shops"]);
}

fn rollback_change(w: &World) -> edit::Change {
    let to = rev(&w.repo("app"), "tier-2");
    edit::rollback("tier-1", &to, "bad release").expect("a commit id")
}

fn row(action: Action) -> Row {
    match action {
        Action::Sync => Row {
            prepare: new_shopset,
            by_hand: sync,
            for_controller: nothing,
            github: None,
        },
        Action::BaseMove => Row {
            prepare: |w| {
                commit_to_branch(
                    &w.repo("app"),
                    "tier-0",
                    &w.dir.join("work-app"),
                    ("kustomize/NOTES.md", "a person's note\n"),
                    &[],
                    &[],
                );
            },
            by_hand: sync,
            for_controller: nothing,
            github: None,
        },
        Action::ConfigurationMove => Row {
            prepare: |w| {
                let work = w.dir.join("work-config");
                commit_to_branch(
                    &w.repo("config"),
                    "tier-0",
                    &work,
                    ("NOTES.md", "a note\n"),
                    &[],
                    &[],
                );
            },
            by_hand: sync,
            for_controller: nothing,
            github: None,
        },
        Action::RemovalStop => Row {
            prepare: removed_three,
            by_hand: sync,
            for_controller: nothing,
            github: None,
        },
        Action::RemovalConfirmation => Row {
            prepare: |w| {
                removed_three(w);
                let token = shopset_engine::removal_token(&[
                    "general-1".into(),
                    "general-2".into(),
                    "general-3".into(),
                ]);
                w.edit_file(
                    "tiers.yaml",
                    "  name: tier-2\n",
                    &format!("  name: tier-2\n  annotations:\n    shopset.dev/confirm-removals: \"{token}\"\n"),
                );
            },
            by_hand: sync,
            for_controller: nothing,
            github: None,
        },
        Action::PromoteApp => Row {
            prepare: |w| {
                quick_promotion(w);
                w.shopctl_ok(&["promote", "tier-1", "--config", "-f", &w.res()]);
            },
            by_hand: |w, _| {
                w.shopctl_ok(&["promote", "tier-1", "-f", &w.res()]);
                BTreeMap::new()
            },
            for_controller: nothing,
            github: None,
        },
        Action::PromoteConfiguration => Row {
            prepare: |w| {
                quick_promotion(w);
                w.shopctl_ok(&["promote", "tier-1", "-f", &w.res()]);
            },
            by_hand: |w, _| {
                w.shopctl_ok(&["promote", "tier-1", "--config", "-f", &w.res()]);
                BTreeMap::new()
            },
            for_controller: nothing,
            github: None,
        },
        Action::PromoteByPullRequest => Row {
            prepare: |w| {
                by_pull_request(w);
                // The configuration is promoted by pull request too: only the app moves here.
                let config = rev(&w.repo("config"), "tier-0");
                let out = git(
                    &w.repo("config"),
                    &["push", "-q", ".", &format!("{config}:refs/heads/tier-1")],
                );
                assert!(out.status.success(), "{out:?}");
                w.shopctl_ok(&["sync", "-f", &w.res()]);
            },
            by_hand: |w, github| {
                let api = github.expect("a fake GitHub").url.clone();
                w.shopctl_ok(&[
                    "promote",
                    "tier-1",
                    "--merge",
                    "--github-api",
                    &api,
                    "-f",
                    &w.res(),
                ]);
                BTreeMap::new()
            },
            for_controller: nothing,
            github: Some(no_pulls),
        },
        Action::Rollback => Row {
            prepare: nothing,
            by_hand: |w, _| {
                let to = rev(&w.repo("app"), "tier-2");
                w.shopctl_ok(&[
                    "rollback",
                    "tier-1",
                    "--to",
                    &to,
                    "--reason",
                    "bad release",
                    "-f",
                    &w.res(),
                ]);
                BTreeMap::new()
            },
            for_controller: |w| w.patch(&rollback_change(w)),
            github: None,
        },
        Action::Unpin => Row {
            prepare: |w| {
                w.patch(&rollback_change(w));
                w.shopctl_ok(&["sync", "-f", &w.res()]);
            },
            by_hand: |w, _| {
                w.shopctl_ok(&["unpin", "tier-1", "-f", &w.res()]);
                BTreeMap::new()
            },
            for_controller: |w| w.patch(&edit::unpin("tier-1")),
            github: None,
        },
        Action::Hold => Row {
            prepare: quick_promotion,
            by_hand: |w, _| {
                w.shopctl_ok(&["hold", "tier-1", "--reason", "checking", "-f", &w.res()]);
                BTreeMap::new()
            },
            for_controller: |w| w.patch(&edit::hold("tier-1", "checking")),
            github: None,
        },
        Action::Release => Row {
            prepare: |w| w.patch(&edit::hold("tier-2", "checking")),
            by_hand: |w, _| {
                w.shopctl_ok(&["release", "tier-2", "-f", &w.res()]);
                BTreeMap::new()
            },
            for_controller: |w| w.patch(&edit::release("tier-2")),
            github: None,
        },
        Action::Approve => Row {
            prepare: nothing,
            by_hand: |w, _| {
                let commit = shopset_tests::running_app(&w.repo("system"), "tier-1");
                w.shopctl_ok(&["approve", "tier-2", &commit, "-f", &w.res()]);
                BTreeMap::new()
            },
            for_controller: |w| {
                let commit = shopset_tests::running_app(&w.repo("system"), "tier-1");
                w.patch(&edit::approve("tier-2", &commit, false).expect("a commit id"));
            },
            github: None,
        },
        Action::Maintenance => Row {
            prepare: nothing,
            by_hand: |w, _| {
                w.shopctl_ok(&["maintenance", "on", "general-1", "-f", &w.res()]);
                BTreeMap::new()
            },
            for_controller: |w| {
                let resources = resources_of(w);
                w.patch(&edit::maintenance(&resources, "general-1", true));
            },
            github: None,
        },
        Action::ShopMove => Row {
            prepare: three_shops,
            by_hand: |w, _| {
                w.shopctl_ok(&["shop", "move", "hot", "--to", "general-3", "-f", &w.res()]);
                BTreeMap::new()
            },
            for_controller: |w| {
                let resources = resources_of(w);
                w.patch(&edit::move_shop(
                    &resources,
                    "hot",
                    "general-3",
                    Some("general-1"),
                ));
            },
            github: None,
        },
        Action::ShopIsolate => Row {
            prepare: |w| {
                three_shops(w);
                // Unpinned: the shop is isolated from where the rule put it.
                w.edit_file("shops.yaml", "  shopSet: general-1\n", "");
                w.shopctl_ok(&["sync", "-f", &w.res()]);
            },
            by_hand: |w, _| {
                w.shopctl_ok(&["shop", "isolate", "hot", "-f", &w.res()]);
                BTreeMap::new()
            },
            for_controller: |w| {
                let resources = resources_of(w);
                let mut repos = shopset_engine::Repos::new(w.dir.join("cache"));
                let report = shopset_engine::ops::shops::report(&resources, &mut repos);
                let at = report.shops.iter().find(|s| s.shop == "hot");
                let at = at.and_then(|s| s.shop_set.as_deref());
                w.patch(&edit::isolate_shop(&resources, "hot", at));
            },
            github: None,
        },
        Action::ShopAdd => Row {
            prepare: three_shops,
            by_hand: |w, _| {
                w.shopctl_ok(&[
                    "shop",
                    "add",
                    "new",
                    "--host",
                    "new.example.com",
                    "--host",
                    "www.new.shop",
                    "-f",
                    &w.res(),
                ]);
                BTreeMap::new()
            },
            for_controller: |w| {
                let hosts = ["new.example.com".to_owned(), "www.new.shop".to_owned()];
                let new = edit::NewShop {
                    name: "new",
                    hosts: &hosts,
                    pool: None,
                    weight: None,
                    shop_set: None,
                };
                w.apply(&edit::add_shop(&resources_of(w), &new).expect("a new shop"));
            },
            github: None,
        },
        Action::ShopRemove => Row {
            prepare: three_shops,
            by_hand: |w, _| {
                w.shopctl_ok(&["shop", "remove", "a", "-f", &w.res()]);
                BTreeMap::new()
            },
            for_controller: |w| {
                w.apply(&edit::remove_shop(&resources_of(w), "a").expect("a shop"));
            },
            github: None,
        },
        // A ShopSet arrives while tokyo is cordoned: it is placed in osaka, and nothing that
        // is in tokyo moves.
        Action::Cordon => Row {
            prepare: new_shopset,
            by_hand: |w, _| {
                w.shopctl_ok(&["cordon", "tokyo", "-f", &w.res()]);
                sync(w, None)
            },
            for_controller: |w| w.patch(&edit::cordon("tokyo", true)),
            github: None,
        },
        // ShopSets in Dual whose new side Argo CD reports healthy at the tip: each is
        // Verified, in one commit.
        Action::MigrationStep => Row {
            prepare: |w| migration(w, "", true),
            by_hand: |w, _| {
                let out = w.shopctl_ok(&["migrate", "step", "upgrade", "-f", &w.res()]);
                assert!(
                    out.contains("Verified") && out.contains("committed"),
                    "{out}"
                );
                BTreeMap::new()
            },
            for_controller: nothing,
            github: None,
        },
        // The only step asks for an approval: once given, the first ShopSets start.
        Action::MigrationApprove => Row {
            prepare: |w| migration(w, "  steps:\n  - percent: 100\n    approval: true\n", false),
            by_hand: |w, _| {
                w.shopctl_ok(&["migrate", "approve", "upgrade", "1", "-f", &w.res()]);
                let out = w.shopctl_ok(&["migrate", "step", "upgrade", "-f", &w.res()]);
                assert!(out.contains("Dual") && out.contains("committed"), "{out}");
                BTreeMap::new()
            },
            for_controller: |w| w.patch(&edit::approve_migration_step("upgrade", 1)),
            github: None,
        },
        // Aborted in Dual: the new sides go, tier-0 is back to its tree before the migration.
        Action::MigrationAbort => Row {
            prepare: |w| migration(w, "", true),
            by_hand: |w, _| {
                w.shopctl_ok(&["migrate", "abort", "upgrade", "-f", &w.res()]);
                let out = w.shopctl_ok(&["migrate", "step", "upgrade", "-f", &w.res()]);
                assert!(
                    out.contains("Aborted") && out.contains("committed"),
                    "{out}"
                );
                BTreeMap::new()
            },
            for_controller: |w| w.patch(&edit::abort_migration("upgrade")),
            github: None,
        },
        Action::PreviewUp => Row {
            prepare: preview_policy,
            by_hand: |w, _| {
                let out = preview_five_by_hand(w);
                assert!(out.contains("kubectl apply"), "{out}");
                BTreeMap::new()
            },
            for_controller: nothing,
            github: Some(|g, w| pull_five(g, w, true)),
        },
        Action::PreviewDown => Row {
            prepare: |w| {
                preview_policy(w);
                preview_five_by_hand(w);
            },
            by_hand: |w, _| {
                // The label was removed: a person takes the preview down (the Application was
                // never applied here, so it is gone).
                w.shopctl_ok(&["preview", "down", "5", "--application-gone", "-f", &w.res()]);
                BTreeMap::new()
            },
            for_controller: nothing,
            github: Some(|g, w| pull_five(g, w, false)),
        },
    }
}

/// A new failure domain, kyoto, and a Migration `upgrade` of tier-0's ShopSets from tokyo to
/// it (`extra` ends its spec), written; with `start`, synced by hand once (its first ShopSets
/// in Dual) and every side of tier-0 reported Synced at the tip and Healthy.
fn migration(w: &World, extra: &str, start: bool) {
    std::fs::write(
        w.resources().join("migration.yaml"),
        format!(
            "apiVersion: shopset.dev/v1alpha1\nkind: FailureDomain\nmetadata:\n  name: kyoto\nspec:\n  \
             destination:\n    name: kyoto-1\n---\napiVersion: shopset.dev/v1alpha1\nkind: Migration\n\
             metadata:\n  name: upgrade\nspec:\n  from: tokyo\n  to: kyoto\n  tiers: [tier-0]\n  \
             maxInFlight: 2\n{extra}"
        ),
    )
    .expect("write");
    if !start {
        return;
    }
    w.shopctl_ok(&["sync", "-f", &w.res()]);
    let shown = git(&w.repo("system"), &["show", "tier-0:.shopset/inputs.yaml"]);
    let inputs = shopset_render::parse_inputs(&String::from_utf8_lossy(&shown.stdout))
        .expect("recorded inputs");
    let sides: Vec<String> = inputs
        .shop_sets
        .iter()
        .flat_map(|(name, placed)| placed.sides(name).into_iter().map(|s| s.name))
        .collect();
    assert!(sides.iter().any(|s| s.ends_with("--kyoto")), "{sides:?}");
    let sides: Vec<&str> = sides.iter().map(String::as_str).collect();
    w.healthy("tier-0", &sides);
}

/// A ShopSet, new-a in tier-0, written (not synced).
fn new_shopset(w: &World) {
    std::fs::write(
        w.resources().join("more.yaml"),
        "apiVersion: shopset.dev/v1alpha1\nkind: ShopSet\nmetadata:\n  name: new-a\nspec:\n  tier: tier-0\n  configuration: standard\n",
    )
    .expect("write");
}

/// Three shops, one pinned to general-1, synced.
fn three_shops(w: &World) {
    let mut text = String::new();
    for (name, extra) in [("hot", "  shopSet: general-1\n"), ("a", ""), ("b", "")] {
        text.push_str(&format!(
            "---\napiVersion: shopset.dev/v1alpha1\nkind: Shop\nmetadata:\n  name: {name}\nspec:\n  hosts: [{name}.example.com]\n{extra}"
        ));
    }
    std::fs::write(w.resources().join("shops.yaml"), text).expect("write");
    w.shopctl_ok(&["sync", "-f", &w.res()]);
}

fn resources_of(w: &World) -> shopset_engine::Resources {
    shopset_engine::files::read_documents(&[w.resources()], &[]).resources()
}

fn copy(from: &Path, to: &Path) {
    let out = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .output()
        .expect("cp");
    assert!(out.status.success(), "{out:?}");
}

/// A fresh fake GitHub for the row, set up as it says.
fn github_of(w: &World, r: &Row) -> Option<FakeGitHub> {
    r.github.map(|setup| {
        let g = FakeGitHub::start(&w.repo("app"));
        setup(&g, w);
        g
    })
}

/// The starting state back at the world's path (what is there now set aside as `aside`),
/// with the person's resource edit the controller is given and, when the row needs one, a
/// fresh fake GitHub; returns it and the controller's extra flags.
fn again(w: &World, start: &Path, aside: &str, r: &Row) -> (Option<FakeGitHub>, Vec<String>) {
    std::fs::rename(&w.dir, w.dir.with_extension(aside)).expect("rename");
    copy(start, &w.dir);
    let github = github_of(w, r);
    (r.for_controller)(w);
    let extra = github
        .as_ref()
        .map(|g| vec!["--github-api".to_owned(), g.url.clone()])
        .unwrap_or_default();
    (github, extra)
}

fn check(action: Action) {
    let (tmp, dir) = quickstart_without_shops();
    let w = World { _tmp: tmp, dir };
    let r = row(action);
    (r.prepare)(&w);
    let start = w.dir.with_extension("start");
    copy(&w.dir, &start);

    // By hand.
    let github = github_of(&w, &r);
    let blocked = (r.by_hand)(&w, github.as_ref());
    let by_hand = outcome(&w, status_verdict(&w), blocked, github.as_ref());
    drop(github);

    // The controller, from the same state at the same path.
    let (github, extra) = again(&w, &start, "by-hand", &r);
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let log = w.controller(&extra);
    let (recorded, blocked) = controller_verdict(&w);
    let by_controller = outcome(&w, recorded, blocked, github.as_ref());
    let differences = by_hand.differences(&by_controller);
    assert!(
        differences.is_empty(),
        "{action:?}: shopctl and the controller differ:\n{}\ncontroller log (end):\n{}",
        differences.join("\n"),
        tail(&String::from_utf8_lossy(&log.stderr), 30)
    );
    // And `shopctl status` says what the controller recorded.
    assert_eq!(
        status_verdict(&w),
        by_controller.promotable,
        "{action:?}: status"
    );

    // The controller in API mode, from the same state at the same path.
    drop(github);
    let (github, extra) = again(&w, &start, "by-controller", &r);
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let (api, log) = w.controller_in_cluster(&extra);
    let (recorded, blocked) = cluster_verdict(&w, &api);
    let in_cluster = outcome_in_cluster(&w, &api, recorded, blocked, github.as_ref());
    let differences = by_hand.differences(&in_cluster);
    for tier in BRANCHES {
        let file = shopset_render::layout::bootstrap_file(tier);
        let shown = git(&w.repo("system"), &["show", &format!("{tier}:{file}")]);
        assert!(
            shown.status.success(),
            "{action:?}: {tier}: {file}: {shown:?}"
        );
        let by_kubectl =
            shopset_render::yaml::parse(&String::from_utf8_lossy(&shown.stdout)).expect("YAML");
        let applied = api
            .get_object(
                "argoproj.io",
                "applications",
                "argocd",
                &format!("shopset-{tier}"),
            )
            .unwrap_or_else(|| panic!("{action:?}: {tier}: no root Application applied"));
        assert_eq!(
            (&applied["spec"], &applied["metadata"]["labels"]),
            (&by_kubectl["spec"], &by_kubectl["metadata"]["labels"]),
            "{action:?}: {tier}: the root Application the controller applied is not {file}"
        );
    }
    for shop in api.list_objects("shopset.dev", "shops") {
        // Every shop has a status: its ShopSet, or Pending while its pool has no room.
        let status = &shop["status"];
        assert!(
            status["shopSet"].is_string() || status["phase"] == "Pending",
            "{action:?}: the controller wrote no status on {shop}"
        );
        assert!(
            status["phase"].is_string(),
            "{action:?}: no phase on {shop}"
        );
    }
    assert!(
        differences.is_empty(),
        "{action:?}: shopctl and the controller in API mode differ:\n{}\ncontroller log (end):\n{}",
        differences.join("\n"),
        tail(&log, 30)
    );
    // The row did something where something was to be done.
    let start_system: Vec<Option<String>> = BRANCHES
        .iter()
        .map(|b| tip(&start.join("system.git"), &format!("{b}^{{tree}}")))
        .collect();
    let start_app: Vec<Option<String>> = BRANCHES
        .iter()
        .map(|b| tip(&start.join("app.git"), b))
        .collect();
    let moved = by_hand.system != start_system
        || by_hand.app != start_app
        || by_hand.previews != previews_of(&start.join("system.git"));
    match action {
        Action::Hold | Action::Release | Action::Approve | Action::RemovalStop => {
            assert!(!moved, "{action:?} moves no branch");
        }
        _ => assert!(moved, "{action:?} moved nothing: the row tests nothing"),
    }
    if action == Action::RemovalStop {
        assert!(
            by_hand.blocked.get("tier-2").is_some_and(|t| t.len() == 16),
            "{:?}",
            by_hand.blocked
        );
    }
}

#[test]
fn every_action_gives_the_same_result_by_hand_and_by_the_controller() {
    let mut failures = Vec::new();
    // For a quicker look at a few rows: SHOPSET_PARITY_ONLY=Cordon,MigrationStep.
    let only = std::env::var("SHOPSET_PARITY_ONLY").ok();
    for action in Action::ALL {
        if only
            .as_deref()
            .is_some_and(|o| !o.split(',').any(|a| a == format!("{action:?}")))
        {
            continue;
        }
        if let Err(e) = std::panic::catch_unwind(|| check(action)) {
            let message = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            failures.push(format!(
                "{action:?} ({}): {message}",
                action.engine_function()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} actions differ:\n{}",
        failures.len(),
        Action::ALL.len(),
        failures.join("\n\n")
    );
}
