//! Promotion with `shopctl promote`, against the app repository served by a real git daemon:
//! the gate (no status, soak, hold), the exact candidate commit fast-forwarded (a signed one
//! stays verifiable), the system branch following, and a move that is not a fast-forward
//! refused.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{Value, json};
use shopset_tests::servers::GitDaemon;
use shopset_tests::{git, quickstart, run_shopctl};

struct World {
    _tmp: tempfile::TempDir,
    _daemon: GitDaemon,
    dir: PathBuf,
    resources: PathBuf,
    app: PathBuf,
    system: PathBuf,
}

fn world() -> World {
    let (tmp, dir) = quickstart();
    let app = dir.join("app.git");
    let out = git(&app, &["config", "daemon.receivepack", "true"]);
    assert!(out.status.success());
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
    World {
        system: dir.join("system.git"),
        resources,
        app,
        dir,
        _tmp: tmp,
        _daemon: daemon,
    }
}

fn rev(repo: &Path, what: &str) -> String {
    let out = git(repo, &["rev-parse", what]);
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The app commit the system branch of `tier` runs.
fn running(w: &World, tier: &str) -> String {
    let out = git(
        &w.system,
        &["show", &format!("{tier}:.shopset/inputs.yaml")],
    );
    let inputs: Value = serde_json::from_slice(&out.stdout).expect("inputs");
    inputs["appCommit"].as_str().expect("appCommit").to_owned()
}

/// A status file saying `tier` is synced and healthy at its tip since `ago` seconds.
fn healthy_since(w: &World, tier: &str, ago: i64) {
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

    // Soaked: the dry run says what it would do, by hand.
    healthy_since(&w, "tier-0", 3600);
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
    let work = w.dir.join("work");
    let out = git(
        &w.dir,
        &[
            "clone",
            "-q",
            "--branch",
            "tier-1",
            &w.app.display().to_string(),
            &work.display().to_string(),
        ],
    );
    assert!(out.status.success(), "{out:?}");
    std::fs::write(work.join("HOTFIX"), "x\n").expect("write");
    for args in [
        &["add", "-A"][..],
        &[
            "-c",
            "user.name=dev",
            "-c",
            "user.email=dev@example.com",
            "commit",
            "-qm",
            "hotfix",
        ],
        &["push", "-q", "origin", "tier-1"],
    ] {
        let out = git(&work, args);
        assert!(out.status.success(), "{args:?}: {out:?}");
    }
    let hotfix = rev(&w.app, "tier-1");
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
    let work = w.dir.join("work");
    let out = git(
        &w.dir,
        &[
            "clone",
            "-q",
            "--branch",
            "tier-0",
            &w.app.display().to_string(),
            &work.display().to_string(),
        ],
    );
    assert!(out.status.success(), "{out:?}");
    std::fs::write(work.join("RELEASE"), "1.3.0\n").expect("write");
    let signing = format!("user.signingkey={}", key.display());
    for args in [
        &["add", "-A"][..],
        &[
            "-c",
            "user.name=dev",
            "-c",
            "user.email=dev@example.com",
            "-c",
            "gpg.format=ssh",
            "-c",
            &signing,
            "commit",
            "-S",
            "-qm",
            "release 1.3.0",
        ],
        &["push", "-q", "origin", "tier-0"],
    ] {
        let out = git(&work, args);
        assert!(out.status.success(), "{args:?}: {out:?}");
    }
    let signed = rev(&w.app, "tier-0");
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
