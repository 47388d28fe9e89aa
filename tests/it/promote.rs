//! Promotion with `shopctl promote`, against the app repository served by a real git daemon:
//! the gate (no status, soak, hold), the exact candidate commit fast-forwarded (a signed one
//! stays verifiable), the system branch following, and a move that is not a fast-forward
//! refused.

use std::path::PathBuf;
use std::process::Output;

use serde_json::{Value, json};
use shopset_tests::servers::GitDaemon;
use shopset_tests::{commit_to_branch, git, quickstart_without_shops, rev, run_shopctl};

/// A quick start whose app and configuration repositories are served by a git daemon
/// (the crash tests use it too).
pub(crate) struct World {
    _tmp: tempfile::TempDir,
    _daemon: GitDaemon,
    pub(crate) dir: PathBuf,
    pub(crate) resources: PathBuf,
    pub(crate) app: PathBuf,
    pub(crate) system: PathBuf,
}

pub(crate) fn world() -> World {
    let (tmp, dir) = quickstart_without_shops();
    let app = dir.join("app.git");
    for repo in [&app, &dir.join("config.git")] {
        let out = git(repo, &["config", "daemon.receivepack", "true"]);
        assert!(out.status.success());
    }
    let daemon = GitDaemon::start(&dir);
    let resources = dir.join("resources");
    let tiers = resources.join("tiers.yaml");
    let text = std::fs::read_to_string(&tiers).expect("tiers");
    let served = format!("git://127.0.0.1:{}/app.git", daemon.port);
    std::fs::write(
        &tiers,
        text.replace(&format!("file://{}", app.display()), &served),
    )
    .expect("write");
    let configurations = resources.join("configurations.yaml");
    let text = std::fs::read_to_string(&configurations).expect("configurations");
    let config = dir.join("config.git");
    std::fs::write(
        &configurations,
        text.replace(
            &format!("file://{}", config.display()),
            &format!("git://127.0.0.1:{}/config.git", daemon.port),
        ),
    )
    .expect("write");
    World {
        system: dir.join("system.git"),
        resources,
        app,
        dir,
        _tmp: tmp,
        _daemon: daemon,
    }
}

/// The app commit the system branch of `tier` runs.
pub(crate) fn running(w: &World, tier: &str) -> String {
    shopset_tests::running_app(&w.system, tier)
}

/// A status file saying `tier` is synced and healthy at its tip since `ago` seconds.
pub(crate) fn healthy_since(w: &World, tier: &str, ago: i64) {
    let since =
        k8s_openapi::jiff::Timestamp::now() - k8s_openapi::jiff::SignedDuration::from_secs(ago);
    let status = json!({
        "tiers": { tier: {
            "appCommit": running(w, tier),
            "systemCommit": rev(&w.system, tier),
            "conditions": [{
                "type": "Ready", "status": "True", "reason": "Ready", "message": "all ready",
                "lastTransitionTime": since.to_string(),
            }],
        }},
        "shopSets": {},
    });
    std::fs::write(
        w.resources.join("shopset-status.json"),
        serde_json::to_string_pretty(&status).expect("json"),
    )
    .expect("write");
}

fn promote(w: &World, tier: &str, extra: &[&str]) -> Output {
    let resources = w.resources.display().to_string();
    let mut args = vec!["promote", tier, "-f", &resources];
    args.extend_from_slice(extra);
    run_shopctl(args)
}

fn text(out: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn annotate(w: &World, tier: &str, key: &str, value: &str) {
    let file = w.resources.join("tiers.yaml");
    let text = std::fs::read_to_string(&file).expect("read");
    let text = text.replace(
        &format!("  name: {tier}\n"),
        &format!("  name: {tier}\n  annotations:\n    {key}: \"{value}\"\n"),
    );
    std::fs::write(&file, text).expect("write");
}

#[test]
fn the_gate_decides_and_the_tested_commit_is_the_one_that_ships() {
    let w = world();
    let candidate = running(&w, "tier-0");
    let before = rev(&w.app, "tier-1");
    assert_ne!(candidate, before);

    // No status: the gate does not hold, exit code 3, nothing moves.
    let out = promote(&w, "tier-1", &[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("tier-0 has no status"),
        "{}",
        text(&out)
    );
    assert_eq!(rev(&w.app, "tier-1"), before);

    // Healthy, but not for the soak time (10m in the example).
    healthy_since(&w, "tier-0", 30);
    let out = promote(&w, "tier-1", &[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("soak time"), "{}", text(&out));

    // Soaked, but tier-1 is in a freeze window.
    healthy_since(&w, "tier-0", 3600);
    let tiers = w.resources.join("tiers.yaml");
    let plain = std::fs::read_to_string(&tiers).expect("read");
    let frozen = plain.replace(
        "    soak: 30m\n",
        "    soak: 30m\n    freezeWindows:\n    - schedule: \"* * * * *\"\n      duration: 1h\n      timeZone: Europe/Berlin\n",
    );
    assert_ne!(frozen, plain);
    std::fs::write(&tiers, frozen).expect("write");
    let out = promote(&w, "tier-1", &[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("tier-1 is frozen: in the freeze window"),
        "{}",
        text(&out)
    );
    std::fs::write(&tiers, plain).expect("write");

    // The dry run says what it would do, by hand.
    let out = promote(&w, "tier-1", &["--dry-run"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!(
            "git push git://127.0.0.1:{}/app.git {candidate}:refs/heads/tier-1",
            w._daemon.port
        )),
        "{}",
        text(&out)
    );
    assert_eq!(rev(&w.app, "tier-1"), before);

    // Promote: tier-1 of the app repository is exactly the candidate; the system follows.
    let out = promote(&w, "tier-1", &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(rev(&w.app, "tier-1"), candidate);
    assert_eq!(running(&w, "tier-1"), candidate);
    let base = git(&w.system, &["ls-tree", "tier-1", "base"]);
    assert!(
        String::from_utf8_lossy(&base.stdout).contains(&candidate),
        "{:?}",
        base
    );
    // Again: nothing to do.
    let out = promote(&w, "tier-1", &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("up to date"), "{}", text(&out));

    // A hold on tier-2 keeps promotion away, whatever the gate says otherwise.
    healthy_since(&w, "tier-1", 3600);
    annotate(&w, "tier-2", "shopset.dev/hold", "rolled back 1.2.0");
    let out = promote(&w, "tier-2", &[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("held (rolled back 1.2.0)"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_promotion_that_is_not_a_fast_forward_is_refused() {
    let w = world();
    // A hotfix straight onto tier-1 of the app repository, not in tier-0.
    let hotfix = commit_to_branch(
        &w.app,
        "tier-1",
        &w.dir.join("work"),
        ("HOTFIX", "x\n"),
        &[],
        &[],
    );
    assert_eq!(rev(&w.app, "tier-1"), hotfix);
    healthy_since(&w, "tier-0", 3600);
    let out = promote(&w, "tier-1", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("not a fast-forward"), "{}", text(&out));
    assert_eq!(rev(&w.app, "tier-1"), hotfix, "nothing was lost");
}

#[test]
fn a_signed_candidate_stays_verifiable_after_promotion() {
    let w = world();
    let key = w.dir.join("signing_key");
    shopset_tests::servers::ssh_keygen(&key);
    let signing = format!("user.signingkey={}", key.display());
    let signed = commit_to_branch(
        &w.app,
        "tier-0",
        &w.dir.join("work"),
        ("RELEASE", "1.3.0\n"),
        &["-c", "gpg.format=ssh", "-c", &signing],
        &["-S"],
    );
    let out = run_shopctl(["sync", "-f", &w.resources.display().to_string()]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(running(&w, "tier-0"), signed);
    healthy_since(&w, "tier-0", 3600);
    let out = promote(&w, "tier-1", &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(rev(&w.app, "tier-1"), signed);
    let public = std::fs::read_to_string(w.dir.join("signing_key.pub")).expect("public key");
    let allowed = w.dir.join("allowed_signers");
    std::fs::write(
        &allowed,
        format!("dev@example.com namespaces=\"git\" {public}"),
    )
    .expect("write");
    let verify = git(
        &w.app,
        &[
            "-c",
            &format!("gpg.ssh.allowedSignersFile={}", allowed.display()),
            "verify-commit",
            "tier-1",
        ],
    );
    assert!(verify.status.success(), "{verify:?}");
}

/// Argo CD, played by a file: every ShopSet of `tiers` Synced and Healthy at the tip of its
/// tier branch.
fn argo_reports_healthy(w: &World, tiers: &[&str]) {
    let mut docs = String::new();
    for tier in tiers {
        let tip = rev(&w.system, tier);
        let out = git(
            &w.system,
            &["show", &format!("{tier}:.shopset/inputs.yaml")],
        );
        let inputs: Value = serde_json::from_slice(&out.stdout).expect("inputs");
        for name in inputs["shopSets"].as_object().expect("shopSets").keys() {
            docs.push_str(&format!(
                "---\napiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: {name}\n  \
                 labels:\n    shopset.dev/shopset: {name}\n    shopset.dev/tier: {tier}\nstatus:\n  sync:\n    \
                 status: Synced\n    revision: \"{tip}\"\n  health:\n    status: Healthy\n"
            ));
        }
    }
    std::fs::write(w.resources.join("applications.yaml"), docs).expect("write");
}

/// The controller in directory mode on the world's resources, with short intervals.
fn start_controller(w: &World, extra: &[&str]) -> shopset_tests::controller::Controller {
    let resources = w.resources.display().to_string();
    let cache = w.dir.join("controller-cache").display().to_string();
    let mut args = vec![
        "--resources-dir",
        &resources,
        "--cache-dir",
        &cache,
        "--debounce-ms",
        "200",
        "--dir-poll-ms",
        "100",
        "--poll-seconds",
        "1",
    ];
    args.extend_from_slice(extra);
    shopset_tests::controller::Controller::start(&args, &[], &w.dir.join("controller.log"))
}

fn wait(what: &str, c: &shopset_tests::controller::Controller, mut f: impl FnMut() -> bool) {
    shopset_tests::controller::eventually(std::time::Duration::from_secs(60), || f().then_some(()))
        .unwrap_or_else(|| panic!("{what}; log:\n{}", c.log_text()));
}

fn new_app_release(w: &World, version: &str) -> String {
    commit_to_branch(
        &w.app,
        "tier-0",
        &w.dir.join(format!("work-{version}")),
        ("RELEASE", &format!("{version}\n")),
        &[],
        &[],
    )
}

#[test]
fn three_tiers_promote_roll_back_hold_and_release() {
    let w = world();
    // Short soaks; tier-2 by hand with an approval.
    let tiers = w.resources.join("tiers.yaml");
    let edited = std::fs::read_to_string(&tiers).expect("read");
    let edited = edited
        .replace("soak: 30m", "soak: 2s")
        .replace("mode: PullRequest", "mode: Push")
        .replace("soak: 2h", "soak: 2s");
    std::fs::write(&tiers, edited).expect("write");
    let c = start_controller(&w, &[]);
    let resources = w.resources.display().to_string();
    let v120 = running(&w, "tier-0");
    let v110 = running(&w, "tier-1");
    assert_ne!(v120, v110);

    // tier-0 healthy: after the soak, tier-1 is promoted automatically, to the exact commit.
    argo_reports_healthy(&w, &["tier-0"]);
    wait("tier-1 not promoted", &c, || {
        rev(&w.app, "tier-1") == v120 && running(&w, "tier-1") == v120
    });

    // A bad release: roll tier-1 back (pin + hold); the base moves back, no history rewritten.
    let out = run_shopctl(["rollback", "tier-1", "-f", &resources]);
    assert!(out.status.success(), "{}", text(&out));
    wait("tier-1 not rolled back", &c, || {
        running(&w, "tier-1") == v110
    });
    assert_eq!(
        rev(&w.app, "tier-1"),
        v120,
        "the app branch keeps its history"
    );

    // A new release reaches tier-0 and is healthy there: the hold keeps it out of tier-1.
    let v130 = new_app_release(&w, "1.3.0");
    wait("tier-0 did not follow its branch", &c, || {
        running(&w, "tier-0") == v130
    });
    argo_reports_healthy(&w, &["tier-0"]);
    wait("no verdict on tier-0", &c, || {
        std::fs::read_to_string(w.resources.join("shopset-status.json"))
            .is_ok_and(|s| s.contains("tier-1 is held (rolled back by hand)"))
    });
    std::thread::sleep(std::time::Duration::from_secs(4));
    assert_eq!(
        rev(&w.app, "tier-1"),
        v120,
        "automation stayed away from the held tier"
    );
    assert_eq!(running(&w, "tier-1"), v110);

    // Unpin: tier-1 follows its branch again; release: automation promotes 1.3.0.
    let out = run_shopctl(["unpin", "tier-1", "-f", &resources]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(running(&w, "tier-1"), v120);
    let out = run_shopctl(["release", "tier-1", "-f", &resources]);
    assert!(out.status.success(), "{}", text(&out));
    wait("tier-1 not promoted after release", &c, || {
        rev(&w.app, "tier-1") == v130 && running(&w, "tier-1") == v130
    });

    // tier-2 needs an approval of the exact candidate.
    argo_reports_healthy(&w, &["tier-0", "tier-1"]);
    wait("tier-1 never promotable", &c, || {
        std::fs::read_to_string(w.resources.join("shopset-status.json"))
            .is_ok_and(|s| s.contains("requires an approval"))
    });
    let out = run_shopctl(["promote", "tier-2", "-f", &resources]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let out = run_shopctl(["approve", "tier-2", &v130, "-f", &resources]);
    assert!(out.status.success(), "{}", text(&out));
    wait("tier-2 not promoted", &c, || {
        let out = run_shopctl(["promote", "tier-2", "-f", &resources]);
        out.status.success() && rev(&w.app, "tier-2") == v130
    });
    assert_eq!(running(&w, "tier-2"), v130);
}

#[test]
fn status_shows_commits_gates_holds_and_pins() {
    let w = world();
    let resources = w.resources.display().to_string();
    let status = || -> Value {
        let out = run_shopctl(["status", "-o", "json", "-f", &resources]);
        assert!(out.status.success(), "{}", text(&out));
        serde_json::from_slice(&out.stdout).expect("json")
    };
    let s = status();
    let tier = |s: &Value, name: &str| -> Value {
        s.as_array()
            .and_then(|a| a.iter().find(|t| t["tier"] == name))
            .cloned()
            .expect("tier")
    };
    let t1 = tier(&s, "tier-1");
    assert_eq!(t1["appRunning"], json!(running(&w, "tier-1")));
    assert_eq!(t1["appBranchTip"], json!(rev(&w.app, "tier-1")));
    assert_eq!(t1["systemCommit"], json!(rev(&w.system, "tier-1")));
    assert_eq!(t1["promotable"], json!(false));
    // The managed pin: what a promotion from tier-0 brings, commit by commit.
    assert_eq!(t1["incoming"]["count"], json!(1), "{t1}");
    assert_eq!(
        t1["incoming"]["commits"][0]["commit"],
        json!(rev(&w.app, "tier-0"))
    );
    assert!(
        t1["gate"][0]
            .as_str()
            .unwrap_or_default()
            .contains("no status"),
        "{t1}"
    );
    assert_eq!(t1["notReady"].as_array().map(Vec::len), Some(2));

    healthy_since(&w, "tier-0", 3600);
    annotate(&w, "tier-2", "shopset.dev/hold", "change freeze");
    // A freeze window open at every minute: tier-2 is frozen now.
    let file = w.resources.join("tiers.yaml");
    let text = std::fs::read_to_string(&file).expect("read");
    let (before, after) = text.split_once("name: tier-2").expect("tier-2");
    let after = after.replacen(
        "  promotion:\n",
        "  promotion:\n    freezeWindows:\n    - {schedule: \"* * * * *\", duration: 1h, timeZone: Europe/Berlin}\n",
        1,
    );
    std::fs::write(&file, format!("{before}name: tier-2{after}")).expect("write");
    let s = status();
    assert_eq!(tier(&s, "tier-1")["promotable"], json!(true));
    assert_eq!(tier(&s, "tier-1")["frozen"], Value::Null);
    let t2 = tier(&s, "tier-2");
    assert_eq!(t2["hold"], json!("change freeze"));
    assert_eq!(
        t2["freezeWindows"],
        json!(["* * * * * for 1h (Europe/Berlin)"])
    );
    assert!(
        t2["frozen"]
            .as_str()
            .is_some_and(|f| f.contains("in the freeze window")),
        "{t2}"
    );
    // The table for people says the same.
    let out = run_shopctl(["status", "-f", &resources]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("held: change freeze"), "{table}");
    assert!(
        table.contains("freeze window: * * * * * for 1h (Europe/Berlin)"),
        "{table}"
    );
    assert!(
        table.contains("frozen now: in the freeze window"),
        "{table}"
    );
}

/// The configuration commits the system branch of `tier` was rendered with.
fn running_config(w: &World, tier: &str) -> Vec<String> {
    let out = git(
        &w.system,
        &["show", &format!("{tier}:.shopset/inputs.yaml")],
    );
    let inputs: Value = serde_json::from_slice(&out.stdout).expect("inputs");
    let mut commits: Vec<String> = inputs["configurations"]
        .as_object()
        .expect("configurations")
        .values()
        .filter_map(|c| c.pointer("/source/commit").and_then(Value::as_str))
        .map(str::to_owned)
        .collect();
    commits.dedup();
    commits
}

#[test]
fn configuration_is_promoted_separately_from_the_app() {
    let w = world();
    // The quick start's resources now read configurations through the daemon: render again.
    let resources = w.resources.display().to_string();
    let out = run_shopctl(["sync", "-f", &resources]);
    assert!(out.status.success(), "{}", text(&out));
    let candidate = running_config(&w, "tier-0");
    assert_eq!(candidate.len(), 1, "{candidate:?}");
    let config = w.dir.join("config.git");
    assert_ne!(rev(&config, "tier-1"), candidate[0]);
    let app_before = rev(&w.app, "tier-1");

    healthy_since(&w, "tier-0", 3600);
    let out = promote(&w, "tier-1", &["--config"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        rev(&config, "tier-1"),
        candidate[0],
        "the tested configuration commit ships"
    );
    assert_eq!(running_config(&w, "tier-1"), candidate);
    assert_eq!(rev(&w.app, "tier-1"), app_before, "the app did not move");
    let out = promote(&w, "tier-1", &["--config"]);
    assert!(text(&out).contains("up to date"), "{}", text(&out));
}

#[test]
fn pull_request_mode_opens_one_pull_request_and_merges_by_fast_forward() {
    let w = world();
    // The repository as GitHub would name it: <owner>/<repo>.
    std::os::unix::fs::symlink(".", w.dir.join("acme")).expect("symlink");
    let tiers = w.resources.join("tiers.yaml");
    let text_before = std::fs::read_to_string(&tiers).expect("read");
    let edited = text_before.replace("/app.git", "/acme/app.git").replace(
        "    mode: Push\n    auto: true\n    soak: 30m",
        "    mode: PullRequest\n    auto: true\n    soak: 30m",
    );
    assert!(edited.contains("mode: PullRequest\n    auto: true\n    soak: 30m"));
    std::fs::write(&tiers, edited).expect("write");
    let github = shopset_tests::fake_github::FakeGitHub::start(&w.app);
    let candidate = running(&w, "tier-0");
    let before = rev(&w.app, "tier-1");
    healthy_since(&w, "tier-0", 3600);

    // GitHub's secondary rate limit, twice: waited out.
    github.rate_limit_next(&[403, 429]);
    let api = ["--github-api", github.url.as_str()];
    let out = promote(&w, "tier-1", &api);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("pull request #1"), "{}", text(&out));
    assert!(text(&out).contains("waiting for a merge"), "{}", text(&out));
    assert_eq!(rev(&w.app, "tier-1"), before, "people merge, or --merge");
    let head = format!("shopset/promote-tier-1-{}", &candidate[..12]);
    assert_eq!(
        rev(&w.app, &head),
        candidate,
        "the pull request carries the exact commit"
    );
    assert!(github.labels(1).contains(&"promotion".to_owned()));
    let limited = github
        .requests()
        .iter()
        .filter(|(_, p)| p.contains("/git/ref/heads/"))
        .count();
    assert!(
        limited >= 3,
        "the rate-limited request was retried: {:?}",
        github.requests()
    );

    // Asked again: the same pull request, not a second one.
    let out = promote(&w, "tier-1", &api);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(github.pulls().len(), 1);

    // Merged by the product: tier-1 fast-forwarded to the very candidate.
    let mut merging = api.to_vec();
    merging.push("--merge");
    let out = promote(&w, "tier-1", &merging);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("merged by fast-forward"),
        "{}",
        text(&out)
    );
    assert_eq!(rev(&w.app, "tier-1"), candidate);
    assert_eq!(github.pulls().len(), 1);
    assert_eq!(github.pulls()[0]["merged"], json!(true));
    assert_eq!(
        running(&w, "tier-1"),
        candidate,
        "the system branch followed"
    );
}

/// The app repository renamed `acme/app.git` as GitHub would name it, and tier-1 promoted by
/// pull request with `promotion` (YAML lines under `promotion:`, 4 spaces deep).
fn promote_tier_1_by_pull_request(w: &World, promotion: &str) {
    std::os::unix::fs::symlink(".", w.dir.join("acme")).expect("symlink");
    let tiers = w.resources.join("tiers.yaml");
    let before = std::fs::read_to_string(&tiers).expect("read");
    let edited = before.replace("/app.git", "/acme/app.git").replace(
        "  promotion:\n    mode: Push\n    auto: true\n    soak: 30m\n",
        &format!("  promotion:\n{promotion}"),
    );
    assert!(edited.contains(promotion), "tier-1 not edited:\n{edited}");
    std::fs::write(&tiers, edited).expect("write");
}

#[test]
fn a_bad_pull_request_template_is_reported_before_github_is_asked() {
    let w = world();
    promote_tier_1_by_pull_request(
        &w,
        "    mode: PullRequest\n    soak: 30m\n    pullRequest:\n      title: \"Promote {{ sha }}\"\n",
    );
    let github = shopset_tests::fake_github::FakeGitHub::start(&w.app);
    let before = rev(&w.app, "tier-1");
    healthy_since(&w, "tier-0", 3600);
    let out = promote(&w, "tier-1", &["--github-api", github.url.as_str()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains(
            "Tier \"tier-1\": spec.promotion.pullRequest.title: unknown placeholder {{ sha }}; \
             the placeholders are from, to, commit, short, subject, repository, branch, gate"
        ),
        "{}",
        text(&out)
    );
    assert_eq!(github.requests(), Vec::new(), "GitHub was not asked");
    assert_eq!(rev(&w.app, "tier-1"), before);
}

/// Batches the controller has run (its `shopset_reconcile_duration_seconds` histogram).
fn batches(c: &shopset_tests::controller::Controller) -> u64 {
    c.get("/metrics")
        .1
        .lines()
        .find_map(|l| l.strip_prefix("shopset_reconcile_duration_seconds_count "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn the_controller_promotes_by_one_pull_request_written_from_the_tiers_template() {
    let w = world();
    promote_tier_1_by_pull_request(
        &w,
        "    mode: PullRequest\n    auto: true\n    soak: 2s\n    pullRequest:\n      \
         title: \"Release {{short}} to {{ to }} ({{ subject }})\"\n      \
         labels: [release, \"to-{{ to }}\", \"from-{{ from }}\"]\n",
    );
    // The configuration is already on tier-1: only the app moves (one repository, one pull
    // request; the fake GitHub serves the app repository only).
    let config = w.dir.join("config.git");
    let out = git(
        &config,
        &["update-ref", "refs/heads/tier-1", &rev(&config, "tier-0")],
    );
    assert!(out.status.success(), "{out:?}");
    let github = shopset_tests::fake_github::FakeGitHub::start(&w.app);
    let c = start_controller(&w, &["--github-api", &github.url]);
    let candidate = running(&w, "tier-0");
    assert_ne!(rev(&w.app, "tier-1"), candidate);
    assert!(github.pulls().is_empty(), "no gate, no pull request");

    // tier-0 healthy: after the soak, one pull request, merged by fast-forward.
    argo_reports_healthy(&w, &["tier-0"]);
    wait("tier-1 not promoted by pull request", &c, || {
        github
            .pulls()
            .first()
            .is_some_and(|p| p["merged"] == json!(true))
            && running(&w, "tier-1") == candidate
    });
    let pulls = github.pulls();
    assert_eq!(pulls.len(), 1, "{pulls:?}");
    let pr = &pulls[0];
    let short = &candidate[..12];
    assert_eq!(
        pr["title"],
        json!(format!("Release {short} to tier-1 (app)")),
        "the Tier's title"
    );
    assert!(
        pr["body"].as_str().is_some_and(|b| b
            .starts_with(&format!("shopset promotes `{candidate}` from tier-0"))
            && b.contains("Gate: holds.")
            && b.contains(&format!("What it brings:\n\n- `{short}` "))),
        "the default body: {pr}"
    );
    assert_eq!(
        github.labels(1),
        ["release", "to-tier-1", "from-tier-0"],
        "the Tier's labels, instead of the default ones"
    );
    assert_eq!(pr["base"]["ref"], json!("tier-1"));
    assert_eq!(
        pr["head"]["ref"],
        json!(format!("shopset/promote-tier-1-{short}"))
    );
    assert_eq!(
        pr["head"]["sha"],
        json!(candidate),
        "the pull request carries the exact candidate"
    );
    assert_eq!(pr["state"], json!("closed"));
    assert_eq!(
        rev(&w.app, "tier-1"),
        candidate,
        "merged by fast-forward: tier-1 is the commit tested on tier-0"
    );
    let log = c.log_text();
    assert!(
        !log.contains("promotion failed"),
        "no failed attempt: {log}"
    );

    // Later batches find tier-1 up to date: no second pull request, not even a request.
    let asked = github.requests().len();
    let seen = batches(&c);
    wait("no further batches", &c, || batches(&c) >= seen + 3);
    assert_eq!(github.pulls().len(), 1, "{:?}", github.pulls());
    assert_eq!(
        github.requests().len(),
        asked,
        "GitHub asked again: {:?}",
        github.requests()
    );
    assert_eq!(rev(&w.app, "tier-1"), candidate);
    assert_eq!(running(&w, "tier-1"), candidate);
}
