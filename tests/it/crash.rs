//! Crash consistency: the process killed at each step of a sync, then run again. `git fsck` is
//! clean on the server and in the cache, the state converges, and no change is committed twice.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use shopset_tests::servers::{GitDaemon, bare_repo, hook};
use shopset_tests::{app_repo_from_dir, fixtures, git, ok, shopctl_command};

fn resources(path: &Path, app: &Path, url: &str, value: &str) {
    std::fs::write(
        path,
        format!(
            "apiVersion: shopset.dev/v1alpha1\nkind: Tier\nmetadata: {{name: tier-0}}\nspec:\n  app: {{url: \"{}\", path: kustomize}}\n  system: {{url: \"{url}\"}}\n---\n\
             apiVersion: shopset.dev/v1alpha1\nkind: Configuration\nmetadata: {{name: plan}}\nspec:\n  inline: {{values: {{A: \"{value}\"}}}}\n---\n\
             apiVersion: shopset.dev/v1alpha1\nkind: FailureDomain\nmetadata: {{name: zone}}\nspec:\n  destination: {{name: c1}}\n---\n\
             apiVersion: shopset.dev/v1alpha1\nkind: ShopSet\nmetadata: {{name: shop-a}}\nspec: {{tier: tier-0, configuration: plan}}\n",
            app.display()
        ),
    )
    .unwrap();
}

fn run(dir: &Path, file: &Path, fault: Option<&str>) -> Output {
    let mut cmd = shopctl_command();
    cmd.env("SHOPSET_CACHE_DIR", dir.join("cache"))
        .args(["sync", "-f"])
        .arg(file);
    if let Some(point) = fault {
        cmd.env("SHOPSET_FAULT", point);
    }
    cmd.output().unwrap()
}

fn commits(repo: &Path) -> Vec<String> {
    let gd = repo.display().to_string();
    ok(&git(
        repo,
        &["--git-dir", &gd, "log", "--format=%H %T", "tier-0"],
    ))
    .lines()
    .map(str::to_owned)
    .collect()
}

fn fsck(repo: &Path) {
    let gd = repo.display().to_string();
    ok(&git(
        repo,
        &["--git-dir", &gd, "fsck", "--strict", "--no-dangling"],
    ));
}

fn scenario(point: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let served = dir.join("served/system.git");
    bare_repo(&served);
    if point == "mid-push" {
        // The server takes its time, so the client can be killed while the push is in flight.
        hook(
            &served,
            "pre-receive",
            "#!/bin/sh\ncat >/dev/null\nsleep 2\n",
        );
    }
    let daemon = GitDaemon::start(&dir.join("served"));
    let app = dir.join("app.git");
    app_repo_from_dir(&app, &fixtures().join("apps/podinfo"), &["tier-0"]);
    let file = dir.join("resources.yaml");
    resources(&file, &app, &daemon.url("system.git"), "1");
    let first = run(dir, &file, None);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let before = commits(&served);
    assert_eq!(before.len(), 1);

    resources(&file, &app, &daemon.url("system.git"), "2");
    if point == "mid-push" {
        let mut child = shopctl_command()
            .env("SHOPSET_CACHE_DIR", dir.join("cache"))
            .args(["sync", "-f"])
            .arg(&file)
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(700));
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert!(!status.success(), "killed mid-push");
        std::thread::sleep(Duration::from_millis(2_500));
    } else {
        let crashed = run(dir, &file, Some(point));
        assert!(!crashed.status.success(), "{point}: the fault fired");
        assert!(
            String::from_utf8_lossy(&crashed.stderr)
                .contains(&format!("fault injected at {point}"))
        );
    }
    fsck(&served);
    fsck(&shopset_git::Cache::new(dir.join("cache")).path_of(&daemon.url("system.git")));

    let again = run(dir, &file, None);
    assert!(
        again.status.success(),
        "{point}: {}",
        String::from_utf8_lossy(&again.stderr)
    );
    let last = run(dir, &file, None);
    assert!(
        String::from_utf8_lossy(&last.stdout).contains("unchanged"),
        "{point}: converged"
    );
    let after = commits(&served);
    assert_eq!(
        after.len(),
        2,
        "{point}: exactly one commit for the change: {after:?}"
    );
    assert_eq!(after[1], before[0]);
    fsck(&served);
    let gd = served.display().to_string();
    let value = ok(&git(
        &served,
        &[
            "--git-dir",
            &gd,
            "show",
            &format!(
                "tier-0:{}/values/A",
                shopset_render::layout::shopset_dir("shop-a")
            ),
        ],
    ));
    assert_eq!(value, "2", "{point}: the change landed");
}

#[test]
fn killed_after_writing_objects() {
    scenario("after-objects");
}

#[test]
fn killed_after_the_commit_before_the_push() {
    scenario("after-commit");
}

#[test]
fn killed_mid_push() {
    scenario("mid-push");
}

#[test]
fn killed_after_the_push_before_reporting() {
    scenario("after-push");
}
