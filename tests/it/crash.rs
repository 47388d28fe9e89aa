//! Crash consistency: the process killed at each step of a sync, a promotion and a status
//! write, then run again. `git fsck` is clean on the server and in the cache, the state
//! converges, and no change is committed twice.
//!
//! Every kill is triggered by the point it is about, never by a delay: the steps inside the
//! process abort at a failpoint (`SHOPSET_FAULT`, see `shopset_engine::fault`); a kill in the
//! middle of a push or a fetch is sent by the git server itself, from a hook that runs while
//! the client waits for it, to the client's whole process group (shopctl and any git it runs).

use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output};
use std::time::Duration;

use shopset_tests::controller::{Controller, eventually};
use shopset_tests::servers::{GitDaemon, bare_repo, hook};
use shopset_tests::{app_repo_from_dir, commit_count, fixtures, git, ok, shopctl_command, tip};

/// Tiers `tiers` (all on one system repository, one ShopSet `shop-<tier>` each), sharing the
/// Configuration `plan` whose value `A` is `value`.
fn resources(path: &Path, tiers: &[&str], app: &str, url: &str, value: &str) {
    let mut text = format!(
        "apiVersion: shopset.dev/v1alpha1\nkind: Configuration\nmetadata: {{name: plan}}\nspec:\n  inline: {{values: {{A: \"{value}\"}}}}\n---\n\
         apiVersion: shopset.dev/v1alpha1\nkind: FailureDomain\nmetadata: {{name: zone}}\nspec:\n  destination: {{name: c1}}\n"
    );
    for tier in tiers {
        text.push_str(&format!(
            "---\napiVersion: shopset.dev/v1alpha1\nkind: Tier\nmetadata: {{name: {tier}}}\nspec:\n  app: {{url: \"{app}\", path: kustomize}}\n  system: {{url: \"{url}\"}}\n\
             ---\napiVersion: shopset.dev/v1alpha1\nkind: ShopSet\nmetadata: {{name: shop-{tier}}}\nspec: {{tier: {tier}, configuration: plan}}\n"
        ));
    }
    std::fs::write(path, text).unwrap();
}

/// A system repository served by a git daemon, an app repository and a resource file.
struct World {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    served: PathBuf,
    daemon: GitDaemon,
    app_url: String,
    file: PathBuf,
    tiers: Vec<&'static str>,
}

impl World {
    /// The app repository is a local path, or (`serve_app`) served by the daemon too.
    fn new(tiers: &[&'static str], serve_app: bool, daemon_env: &[(&str, &Path)]) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_owned();
        let served = dir.join("served/system.git");
        bare_repo(&served);
        let app = if serve_app {
            dir.join("served/app.git")
        } else {
            dir.join("app.git")
        };
        app_repo_from_dir(&app, &fixtures().join("apps/podinfo"), tiers);
        let daemon = GitDaemon::start_with_env(&dir.join("served"), daemon_env);
        let app_url = if serve_app {
            daemon.url("app.git")
        } else {
            app.display().to_string()
        };
        let w = Self {
            file: dir.join("resources.yaml"),
            _tmp: tmp,
            dir,
            served,
            daemon,
            app_url,
            tiers: tiers.to_vec(),
        };
        w.set_value("1");
        w
    }

    fn system_url(&self) -> String {
        self.daemon.url("system.git")
    }

    fn set_value(&self, value: &str) {
        resources(
            &self.file,
            &self.tiers,
            &self.app_url,
            &self.system_url(),
            value,
        );
    }

    fn sync_command(&self) -> Command {
        let mut cmd = shopctl_command();
        cmd.env("SHOPSET_CACHE_DIR", self.dir.join("cache"))
            .args(["sync", "-f"])
            .arg(&self.file);
        cmd
    }

    fn sync(&self, fault: Option<&str>) -> Output {
        let mut cmd = self.sync_command();
        if let Some(point) = fault {
            cmd.env("SHOPSET_FAULT", point);
        }
        cmd.output().unwrap()
    }

    fn cache_of(&self, url: &str) -> PathBuf {
        shopset_git::Cache::new(self.dir.join("cache")).path_of(url)
    }

    /// The commits of `branch` on the server, newest first.
    fn commits(&self, branch: &str) -> Vec<String> {
        let gd = self.served.display().to_string();
        ok(&git(
            &self.served,
            &["--git-dir", &gd, "log", "--format=%H", branch],
        ))
        .lines()
        .map(str::to_owned)
        .collect()
    }

    /// The value `A` the server's `branch` renders for `shop-<branch>`.
    fn value(&self, branch: &str) -> String {
        let gd = self.served.display().to_string();
        ok(&git(
            &self.served,
            &[
                "--git-dir",
                &gd,
                "show",
                &format!(
                    "{branch}:{}/values/A",
                    shopset_render::layout::shopset_dir(&format!("shop-{branch}"))
                ),
            ],
        ))
    }

    /// The server and the system repository's cache pass `git fsck --strict`.
    fn fsck_system(&self) {
        fsck(&self.served);
        fsck(&self.cache_of(&self.system_url()));
    }

    /// Syncs once more (it succeeds) and once again (nothing left to do).
    fn rerun_converges(&self, what: &str) {
        let again = self.sync(None);
        assert!(
            again.status.success(),
            "{what}: the rerun fails: {}",
            String::from_utf8_lossy(&again.stderr)
        );
        let last = self.sync(None);
        assert!(
            last.status.success() && String::from_utf8_lossy(&last.stdout).contains("unchanged"),
            "{what}: not converged: {}",
            String::from_utf8_lossy(&last.stdout)
        );
        self.fsck_system();
    }
}

fn fsck(repo: &Path) {
    let gd = repo.display().to_string();
    ok(&git(
        repo,
        &["--git-dir", &gd, "fsck", "--strict", "--no-dangling"],
    ));
}

fn success(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A kill sent by a server-side script to a client's process group: the client writes its
/// process group id to `pgid` when it starts; the script waits for it (bounded), records that
/// it fired in `marker`, and kills the group. It fires once: later runs pass through.
struct ServerKill {
    pgid: PathBuf,
    marker: PathBuf,
}

impl ServerKill {
    fn new(dir: &Path) -> Self {
        Self {
            pgid: dir.join("client.pgid"),
            marker: dir.join("server-killed-the-client"),
        }
    }

    /// Shell lines that kill the client once (`kill -9 -PGID`: dash's `kill` takes no `--`).
    fn script(&self) -> String {
        let (pgid, marker) = (self.pgid.display(), self.marker.display());
        format!(
            "if [ ! -e '{marker}' ]; then\n\
             \x20 i=0; while [ ! -s '{pgid}' ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done\n\
             \x20 touch '{marker}'\n\
             \x20 kill -9 -$(cat '{pgid}')\n\
             fi\n"
        )
    }

    /// Runs `cmd` in a process group of its own and waits for it to end (2 minutes at most).
    fn run(&self, mut cmd: Command) -> ExitStatus {
        let mut child = cmd.process_group(0).spawn().unwrap();
        // With process_group(0) the group id is the child's pid.
        let tmp = self.pgid.with_extension("tmp");
        std::fs::write(&tmp, child.id().to_string()).unwrap();
        std::fs::rename(&tmp, &self.pgid).unwrap();
        let status = eventually(Duration::from_secs(120), || child.try_wait().unwrap());
        status.unwrap_or_else(|| {
            let _ = child.kill();
            panic!("the client was not killed and did not finish");
        })
    }

    /// The server fired and the client died of its SIGKILL (not an exit of its own).
    fn assert_fired(&self, status: ExitStatus, what: &str) {
        assert!(self.marker.exists(), "{what}: the server hook never fired");
        assert_eq!(
            status.signal(),
            Some(9),
            "{what}: the client was not killed by the server ({status})"
        );
    }
}

/// A failpoint scenario: one tier synced, its value changed, the sync aborted at `point`, then
/// the rerun converges with exactly one commit for the change.
fn killed_at(point: &str) {
    let w = World::new(&["tier-0"], false, &[]);
    success(&w.sync(None), "first sync");
    let before = w.commits("tier-0");
    assert_eq!(before.len(), 1);

    w.set_value("2");
    let crashed = w.sync(Some(point));
    assert!(!crashed.status.success(), "{point}: the fault fired");
    assert!(
        String::from_utf8_lossy(&crashed.stderr).contains(&format!("fault injected at {point}"))
    );
    w.fsck_system();
    w.rerun_converges(point);
    let after = w.commits("tier-0");
    assert_eq!(
        after.len(),
        2,
        "{point}: exactly one commit for the change: {after:?}"
    );
    assert_eq!(after[1], before[0]);
    assert_eq!(w.value("tier-0"), "2", "{point}: the change landed");
}

#[test]
fn killed_after_writing_objects() {
    killed_at("after-objects");
}

#[test]
fn killed_after_the_commit_before_the_push() {
    killed_at("after-commit");
}

#[test]
fn killed_after_the_push_before_reporting() {
    killed_at("after-push");
}

#[test]
fn killed_by_the_server_mid_push_the_rerun_commits_the_change_once() {
    let w = World::new(&["tier-0"], false, &[]);
    success(&w.sync(None), "first sync");
    let before = w.commits("tier-0");

    // The server has the whole pack and kills the client before it answers: the ref update
    // goes through, and the client never learns of it.
    let kill = ServerKill::new(&w.dir);
    hook(
        &w.served,
        "pre-receive",
        &format!("#!/bin/sh\ncat >/dev/null\n{}exit 0\n", kill.script()),
    );
    w.set_value("2");
    let status = kill.run(w.sync_command());
    kill.assert_fired(status, "mid-push");
    w.fsck_system();

    w.rerun_converges("mid-push");
    let after = w.commits("tier-0");
    assert_eq!(
        after.len(),
        2,
        "exactly one commit for the change: {after:?}"
    );
    assert_eq!(after[1], before[0]);
    assert_eq!(w.value("tier-0"), "2", "the change landed");
}

#[test]
fn killed_by_the_server_while_fetching_a_pack_the_rerun_succeeds() {
    // upload-pack runs pack-objects through this hook, which kills the client first: the
    // client dies while it waits for the pack of the app repository (its cold first fetch).
    let dir = tempfile::tempdir().unwrap();
    let kill = ServerKill::new(dir.path());
    let script = dir.path().join("pack-objects-hook");
    std::fs::write(
        &script,
        format!("#!/bin/sh\n{}exec \"$@\"\n", kill.script()),
    )
    .unwrap();
    ok(&Command::new("chmod")
        .arg("+x")
        .arg(&script)
        .output()
        .unwrap());
    let config = dir.path().join("daemon.gitconfig");
    std::fs::write(
        &config,
        format!("[uploadpack]\n\tpackObjectsHook = {}\n", script.display()),
    )
    .unwrap();
    let w = World::new(&["tier-0"], true, &[("GIT_CONFIG_GLOBAL", &config)]);

    let status = kill.run(w.sync_command());
    kill.assert_fired(status, "fetch");
    assert!(
        tip(&w.served, "tier-0").is_none(),
        "killed while fetching, yet something was pushed"
    );

    w.rerun_converges("fetch");
    fsck(&w.cache_of(&w.app_url));
    assert_eq!(w.commits("tier-0").len(), 1);
    assert_eq!(w.value("tier-0"), "1", "the rendering landed");
}

#[test]
fn killed_between_two_tiers_the_rerun_commits_the_second_and_not_the_first_again() {
    let w = World::new(&["tier-0", "tier-1"], false, &[]);
    success(&w.sync(None), "first sync");
    let before = [w.commits("tier-0"), w.commits("tier-1")];

    // One configuration change for both tiers; the sync dies after the first tier's push.
    w.set_value("2");
    let crashed = w.sync(Some("between-tiers"));
    assert!(!crashed.status.success());
    assert!(String::from_utf8_lossy(&crashed.stderr).contains("fault injected at between-tiers"));
    let moved: Vec<usize> = (0..2)
        .filter(|&i| w.commits(w.tiers[i]).len() == before[i].len() + 1)
        .collect();
    assert_eq!(moved.len(), 1, "exactly one tier pushed before the crash");
    w.fsck_system();

    w.rerun_converges("between-tiers");
    for (i, tier) in w.tiers.iter().enumerate() {
        let after = w.commits(tier);
        assert_eq!(
            after.len(),
            before[i].len() + 1,
            "{tier}: exactly one commit for the change: {after:?}"
        );
        assert_eq!(after[1], before[i][0]);
        assert_eq!(w.value(tier), "2", "{tier}: the change landed");
    }
}

#[test]
fn killed_by_the_server_during_a_promotion_push_the_rerun_finishes_it_once() {
    use crate::promote::{healthy_since, running, world};
    let w = world();
    healthy_since(&w, "tier-0", 3600);
    let candidate = running(&w, "tier-0");
    let config = w.dir.join("config.git");
    let tiers = ["tier-0", "tier-1", "tier-2"];
    let snapshot = |repo: &Path| -> Vec<(Option<String>, usize)> {
        tiers
            .iter()
            .map(|t| (tip(repo, t), commit_count(repo, t)))
            .collect()
    };
    let (app_before, config_before, system_before) =
        (snapshot(&w.app), snapshot(&config), snapshot(&w.system));
    assert_ne!(app_before[1].0.as_deref(), Some(candidate.as_str()));

    // The app repository's server takes the fast-forward of tier-1 and kills the client
    // before it answers, so the system branch is not moved yet.
    let kill = ServerKill::new(&w.dir);
    hook(
        &w.app,
        "pre-receive",
        &format!("#!/bin/sh\ncat >/dev/null\n{}exit 0\n", kill.script()),
    );
    let promote = || {
        let mut cmd = shopctl_command();
        cmd.env("SHOPSET_CACHE_DIR", w.dir.join("crash-cache"))
            .args(["promote", "tier-1", "-f"])
            .arg(&w.resources);
        cmd
    };
    let status = kill.run(promote());
    kill.assert_fired(status, "promotion push");
    assert_eq!(
        snapshot(&w.system),
        system_before,
        "the system branches moved before the kill"
    );

    let again = promote().output().unwrap();
    success(&again, "the promotion's rerun");
    let last = promote().output().unwrap();
    success(&last, "the promotion once more");
    assert!(String::from_utf8_lossy(&last.stdout).contains("up to date"));

    // The app's tier-1 is the candidate, the system's tier-1 runs it with one commit, and
    // nothing else moved.
    let (app_after, config_after, system_after) =
        (snapshot(&w.app), snapshot(&config), snapshot(&w.system));
    assert_eq!(app_after[1].0.as_deref(), Some(candidate.as_str()));
    assert_eq!(running(&w, "tier-1"), candidate, "the system follows");
    assert_eq!(
        system_after[1].1,
        system_before[1].1 + 1,
        "one system commit for the promotion"
    );
    for i in [0, 2] {
        assert_eq!(app_after[i], app_before[i], "app {}", tiers[i]);
        assert_eq!(system_after[i], system_before[i], "system {}", tiers[i]);
    }
    assert_eq!(
        config_after, config_before,
        "the configuration did not move"
    );
    fsck(&w.app);
    fsck(&w.system);
}

#[test]
fn killed_while_writing_the_status_file_leaves_the_old_document_and_the_next_run_writes_the_new() {
    let (_tmp, dir) = shopset_tests::quickstart();
    let resources = dir.join("resources");
    let status = resources.join("shopset-status.json");
    let args = [
        "--resources-dir".to_owned(),
        resources.display().to_string(),
        "--cache-dir".to_owned(),
        dir.join("cache").display().to_string(),
        "--debounce-ms".to_owned(),
        "300".to_owned(),
        "--dir-poll-ms".to_owned(),
        "100".to_owned(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let log = dir.join("controller.log");
    let read = || std::fs::read(&status).ok();
    let parsed = |bytes: &[u8]| serde_json::from_slice::<serde_json::Value>(bytes).ok();

    let mut c = Controller::start(&args, &[], &log);
    eventually(Duration::from_secs(60), &read)
        .unwrap_or_else(|| panic!("no status file; log:\n{}", c.log_text()));
    assert!(c.terminate(), "clean stop; log:\n{}", c.log_text());
    let old = read().expect("the status file");
    assert!(parsed(&old).is_some());

    // A new ShopSet: the next status document differs from the old one.
    std::fs::write(
        resources.join("more.yaml"),
        "apiVersion: shopset.dev/v1alpha1\nkind: ShopSet\nmetadata:\n  name: new-a\nspec:\n  tier: tier-0\n  configuration: standard\n",
    )
    .unwrap();
    let mut c = Controller::spawn(&args, &[("SHOPSET_FAULT", "status-mid-write")], &log);
    let exit = c
        .wait_exit(Duration::from_secs(60))
        .unwrap_or_else(|| panic!("the fault never fired; log:\n{}", c.log_text()));
    assert!(
        !exit.success() && c.log_text().contains("fault injected at status-mid-write"),
        "{exit}; log:\n{}",
        c.log_text()
    );
    let after_crash = read().expect("the status file");
    let doc = parsed(&after_crash).unwrap_or_else(|| {
        panic!(
            "a partial status file after the crash:\n{}",
            String::from_utf8_lossy(&after_crash)
        )
    });
    assert!(
        after_crash == old || doc.pointer("/shopSets/new-a").is_some(),
        "neither the old document nor the new one"
    );

    let mut c = Controller::start(&args, &[], &log);
    eventually(Duration::from_secs(60), || {
        read()
            .and_then(|b| parsed(&b))
            .and_then(|d| d.pointer("/shopSets/new-a/branch").cloned())
    })
    .unwrap_or_else(|| panic!("the new status never written; log:\n{}", c.log_text()));
    assert!(c.terminate(), "clean stop; log:\n{}", c.log_text());
    assert!(
        !status.with_extension("json.tmp").exists(),
        "the temporary file is left over"
    );
}

/// A move, killed at every failpoint of each of its three steps (warm, switch, settle): each
/// rerun takes the step exactly once, and the next step waits for Argo CD as if nothing had
/// happened.
#[test]
fn killed_at_each_step_of_a_move_the_rerun_takes_each_step_once() {
    let w = World::new(&["tier-0"], false, &[]);
    let base = std::fs::read_to_string(&w.file).unwrap();
    let write = |pin: &str, healthy_at: Option<&str>| {
        let mut text = base.replacen(
            "spec: {tier: tier-0, configuration: plan}",
            "spec: {tier: tier-0, configuration: plan, shops: {settle: 0s}}",
            1,
        );
        text.push_str(
            "---\napiVersion: shopset.dev/v1alpha1\nkind: ShopSet\nmetadata: {name: spare}\nspec: {tier: tier-0, configuration: plan, shops: {settle: 0s}}\n",
        );
        text.push_str(&format!(
            "---\napiVersion: shopset.dev/v1alpha1\nkind: Shop\nmetadata: {{name: hot}}\nspec: {{hosts: [hot.example.com], shopSet: {pin}}}\n"
        ));
        if let Some(revision) = healthy_at {
            for name in ["shop-tier-0", "spare"] {
                text.push_str(&format!(
                    "---\napiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: {name}\n  namespace: argocd\n  \
                     labels: {{shopset.dev/shopset: {name}}}\nstatus:\n  sync: {{status: Synced, revision: {revision}}}\n  health: {{status: Healthy}}\n"
                ));
            }
        }
        std::fs::write(&w.file, text).unwrap();
    };
    let row = || {
        let gd = w.served.display().to_string();
        let text = ok(&git(
            &w.served,
            &["--git-dir", &gd, "show", "tier-0:routing/shops.yaml"],
        ));
        let table = shopset_render::routing::load([("routing/shops.yaml", text.as_bytes())])
            .expect("a table");
        let r = &table.shops["hot"];
        (r.shop_set.clone(), r.epoch)
    };
    let hosts_of = |shop_set: &str| {
        let gd = w.served.display().to_string();
        let dir = shopset_render::layout::shopset_dir(shop_set);
        git(
            &w.served,
            &["--git-dir", &gd, "show", &format!("tier-0:{dir}/hosts")],
        )
        .stdout
    };
    write("shop-tier-0", None);
    success(&w.sync(None), "first sync");
    assert_eq!(row(), ("shop-tier-0".to_owned(), 0));
    let points = ["after-objects", "after-commit", "after-push"];
    let step = |point: &str, what: &str| {
        let before = w.commits("tier-0").len();
        let crashed = w.sync(Some(point));
        assert!(
            !crashed.status.success(),
            "{what} at {point}: the fault fired"
        );
        w.fsck_system();
        w.rerun_converges(&format!("{what} at {point}"));
        assert_eq!(
            w.commits("tier-0").len(),
            before + 1,
            "{what} at {point}: exactly one commit"
        );
    };
    for (i, point) in points.iter().enumerate() {
        // Each round starts back on shop-tier-0 (a move to spare, then one back).
        let (from, to) = if i % 2 == 0 {
            ("shop-tier-0", "spare")
        } else {
            ("spare", "shop-tier-0")
        };
        let epoch = row().1;
        let tip = w.commits("tier-0")[0].clone();
        // Warm.
        write(to, Some(&tip));
        step(point, "warm");
        assert_eq!(row(), (from.to_owned(), epoch));
        assert!(!hosts_of(to).is_empty(), "warm: {to} lists the host");
        // Switch, once Argo CD reports the warm commit.
        let warm = w.commits("tier-0")[0].clone();
        write(to, Some(&warm));
        step(point, "switch");
        assert_eq!(row(), (to.to_owned(), epoch + 1));
        assert!(
            !hosts_of(from).is_empty(),
            "switched: {from} still lists it"
        );
        // Settle.
        let switched = w.commits("tier-0")[0].clone();
        write(to, Some(&switched));
        step(point, "settle");
        assert_eq!(row(), (to.to_owned(), epoch + 1));
        assert!(
            hosts_of(from).is_empty(),
            "settled: {from} lists it no more"
        );
    }
}
