//! `shopctl verify`: a person's commit on a tier branch is reported path by path (a changed
//! file, an added file, a removed file, a moved gitlink); resources changed since the last
//! sync are reported as pending, ShopSet by ShopSet; a clean branch reports nothing. Real git,
//! the quickstart's repositories.

use std::path::Path;
use std::process::Output;

use serde_json::Value;
use shopset_render::layout;
use shopset_tests::{git, ok, rev, run_shopctl};

fn verify(dir: &Path, args: &[&str]) -> Output {
    let resources = dir.join("resources").display().to_string();
    let mut all = vec!["verify", "-f", resources.as_str()];
    all.extend_from_slice(args);
    run_shopctl(all)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `verify -o json`, with its exit code.
fn verify_json(dir: &Path) -> (Option<i32>, Value) {
    let out = verify(dir, &["-o", "json"]);
    let value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("verify -o json prints JSON ({e}): {out:?}"));
    (out.status.code(), value)
}

fn tier<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["tiers"]
        .as_array()
        .expect("tiers")
        .iter()
        .find(|t| t["tier"] == name)
        .unwrap_or_else(|| panic!("tier {name} in {report:#}"))
}

/// (path, kind) of each drift entry of a tier.
fn drift(report: &Value, name: &str) -> Vec<(String, String)> {
    tier(report, name)["drift"]
        .as_array()
        .expect("drift")
        .iter()
        .map(|d| {
            (
                d["path"].as_str().expect("path").to_owned(),
                d["kind"].as_str().expect("kind").to_owned(),
            )
        })
        .collect()
}

fn assert_clean(dir: &Path) {
    let out = verify(dir, &[]);
    assert_eq!(out.status.code(), Some(0), "clean: {out:?}");
    let text = stdout(&out);
    for t in ["tier-0", "tier-1", "tier-2"] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(&format!("{t:<10} {t:<10} ")) && l.ends_with(" clean")),
            "{t} is clean: {text}"
        );
    }
    assert!(
        !text.contains("by hand") && !text.contains("would change"),
        "{text}"
    );
    let (code, report) = verify_json(dir);
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["problems"], serde_json::json!([]));
    for t in ["tier-0", "tier-1", "tier-2"] {
        assert_eq!(drift(&report, t), Vec::<(String, String)>::new(), "{t}");
        assert!(tier(&report, t)["pending"].is_null(), "{t}: {report:#}");
        assert!(tier(&report, t)["tip"].is_string(), "{t}: {report:#}");
    }
}

fn run(dir: &Path, args: &[&str]) {
    let out = git(dir, args);
    assert!(out.status.success(), "git {args:?}: {out:?}");
}

#[test]
fn hand_edits_on_a_tier_branch_are_reported_path_by_path_and_a_clean_branch_reports_nothing() {
    let (tmp, dir) = shopset_tests::quickstart_without_shops();
    assert_clean(&dir);

    // A person's commit on tier-2: one generated file changed, one file added, one removed,
    // and the base gitlink moved to another app commit.
    let system = dir.join("system.git");
    let running = rev(&system, "tier-2:base");
    let other = rev(&dir.join("app.git"), "tier-0");
    assert_ne!(running, other, "tier-0 of the app runs a newer commit");
    let work = tmp.path().join("work");
    run(
        tmp.path(),
        &[
            "clone",
            "-q",
            "--branch",
            "tier-2",
            &system.display().to_string(),
            &work.display().to_string(),
        ],
    );
    let changed = format!("{}/kustomization.yaml", layout::shopset_dir("general-1"));
    let removed = layout::application_file("general-2");
    let text = std::fs::read_to_string(work.join(&changed)).expect("a rendered overlay");
    std::fs::write(work.join(&changed), format!("{text}# tuned by hand\n")).unwrap();
    std::fs::write(work.join("NOTES.md"), "a person's notes\n").unwrap();
    run(&work, &["rm", "-q", &removed]);
    run(
        &work,
        &[
            "update-index",
            "--cacheinfo",
            &format!("160000,{other},base"),
        ],
    );
    run(&work, &["add", &changed, "NOTES.md"]);
    run(&work, &["commit", "-qm", "a person's change"]);
    run(&work, &["push", "-q", "origin", "tier-2"]);
    let tip = rev(&system, "tier-2");

    let out = verify(&dir, &[]);
    assert_eq!(out.status.code(), Some(4), "drift is exit code 4: {out:?}");
    let text = stdout(&out);
    for line in [
        "  added    NOTES.md".to_owned(),
        format!("  removed  {removed}"),
        format!("  changed  base (gitlink {running} -> {other})"),
        format!("  changed  {changed}"),
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} in:\n{text}");
    }
    assert!(
        text.contains(&format!("tier-2 (tier-2 at {tip}): changed by hand:")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("tier-2 ") && l.ends_with(" 4 paths changed by hand")),
        "{text}"
    );
    assert!(
        !text.contains("+# tuned by hand"),
        "no diff unless asked: {text}"
    );

    let (code, report) = verify_json(&dir);
    assert_eq!(code, Some(4));
    assert_eq!(
        drift(&report, "tier-2"),
        vec![
            ("NOTES.md".to_owned(), "added".to_owned()),
            (removed.clone(), "removed".to_owned()),
            ("base".to_owned(), "changed".to_owned()),
            (changed.clone(), "changed".to_owned()),
        ]
    );
    assert_eq!(tier(&report, "tier-2")["tip"], tip.as_str());
    assert_eq!(
        tier(&report, "tier-2")["drift"][2]["detail"],
        format!("gitlink {running} -> {other}").as_str()
    );
    assert!(
        tier(&report, "tier-2")["pending"].is_null(),
        "the resources did not change: nothing pending: {report:#}"
    );
    for t in ["tier-0", "tier-1"] {
        assert_eq!(drift(&report, t), Vec::<(String, String)>::new(), "{t}");
    }

    let out = verify(&dir, &["--diff"]);
    assert_eq!(out.status.code(), Some(4));
    let text = stdout(&out);
    for line in ["      +# tuned by hand", "      +a person's notes"] {
        assert!(text.lines().any(|l| l == line), "{line:?} in:\n{text}");
    }
    assert!(
        text.lines()
            .any(|l| l.starts_with("      -") && l.contains("general-2")),
        "the removed Application's lines: {text}"
    );

    // A sync renders the branch again: it is clean after it.
    ok(&run_shopctl([
        "sync",
        "-f",
        &dir.join("resources").display().to_string(),
    ]));
    assert_clean(&dir);
}

#[test]
fn resources_changed_since_the_last_sync_are_pending_shopset_by_shopset() {
    let (_tmp, dir) = shopset_tests::quickstart_without_shops();
    let resources = dir.join("resources");
    std::fs::write(
        resources.join("more.yaml"),
        "apiVersion: shopset.dev/v1alpha1\nkind: ShopSet\nmetadata:\n  name: newcomer\nspec:\n  \
         tier: tier-2\n  configuration: standard\n",
    )
    .unwrap();
    let shopsets = resources.join("shopsets.yaml");
    let text = std::fs::read_to_string(&shopsets).unwrap();
    let changed = text.replace(
        "  name: general-1\nspec:\n  tier: tier-2\n",
        "  name: general-1\nspec:\n  maintenance: true\n  tier: tier-2\n",
    );
    assert_ne!(text, changed);
    std::fs::write(&shopsets, changed).unwrap();

    let out = verify(&dir, &[]);
    assert_eq!(
        out.status.code(),
        Some(4),
        "pending is exit code 4: {out:?}"
    );
    let text = stdout(&out);
    for line in [
        "tier-2 (tier-2): a sync would change it (1 added, 1 changed, 0 removed):",
        "  ShopSet \"newcomer\": added (in the resources, not rendered at the tip)",
        "  ShopSet \"general-1\": changed: spec.maintenance changed",
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} in:\n{text}");
    }
    assert!(
        text.lines()
            .any(|l| l.starts_with("tier-2 ") && l.ends_with(" sync pending")),
        "{text}"
    );

    let (code, report) = verify_json(&dir);
    assert_eq!(code, Some(4));
    let pending = &tier(&report, "tier-2")["pending"];
    assert_eq!(
        pending["added"],
        serde_json::json!(["newcomer"]),
        "{report:#}"
    );
    assert_eq!(pending["changed"], serde_json::json!(["general-1"]));
    assert_eq!(pending["removed"], serde_json::json!([]));
    assert!(pending["baseFrom"].is_null());
    assert_eq!(drift(&report, "tier-2"), Vec::<(String, String)>::new());
    for t in ["tier-0", "tier-1"] {
        assert!(tier(&report, t)["pending"].is_null(), "{t}: {report:#}");
    }

    ok(&run_shopctl([
        "sync",
        "-f",
        &resources.display().to_string(),
    ]));
    assert_clean(&dir);
}

#[test]
fn a_tip_without_recorded_inputs_is_drift_and_a_missing_branch_is_pending() {
    let (tmp, dir) = shopset_tests::quickstart_without_shops();
    let system = dir.join("system.git");
    let work = tmp.path().join("work");
    run(
        tmp.path(),
        &[
            "clone",
            "-q",
            "--branch",
            "tier-0",
            &system.display().to_string(),
            &work.display().to_string(),
        ],
    );
    run(&work, &["rm", "-q", layout::INPUTS]);
    run(&work, &["commit", "-qm", "a person removes the inputs"]);
    run(&work, &["push", "-q", "origin", "tier-0"]);
    let tip = rev(&system, "tier-0");

    let (code, report) = verify_json(&dir);
    assert_eq!(code, Some(4), "{report:#}");
    assert_eq!(
        drift(&report, "tier-0"),
        vec![(layout::INPUTS.to_owned(), "removed".to_owned())]
    );
    let detail = tier(&report, "tier-0")["drift"][0]["detail"]
        .as_str()
        .expect("a detail")
        .to_owned();
    assert!(
        detail.starts_with("missing: the tip cannot be rendered again"),
        "{detail}"
    );
    let pending = &tier(&report, "tier-0")["pending"];
    assert_eq!(
        pending["added"],
        serde_json::json!(["canary", "staff-shops"])
    );
    assert_eq!(
        pending["reasons"][0],
        format!(
            "the tip of tier-0 ({tip}) records no inputs (.shopset/inputs.yaml): every ShopSet \
             is rendered again"
        )
        .as_str()
    );
    for t in ["tier-1", "tier-2"] {
        assert_eq!(drift(&report, t), Vec::<(String, String)>::new(), "{t}");
        assert!(tier(&report, t)["pending"].is_null(), "{t}");
    }

    // No system repository at all: no tip, nothing drifted, every ShopSet pending.
    std::fs::remove_dir_all(&system).unwrap();
    let (code, report) = verify_json(&dir);
    assert_eq!(code, Some(4), "{report:#}");
    for (t, shop_sets) in [
        ("tier-0", serde_json::json!(["canary", "staff-shops"])),
        (
            "tier-1",
            serde_json::json!(["beta-premium", "early-adopters"]),
        ),
    ] {
        assert!(tier(&report, t)["tip"].is_null(), "{t}");
        assert_eq!(drift(&report, t), Vec::<(String, String)>::new(), "{t}");
        assert_eq!(tier(&report, t)["pending"]["added"], shop_sets, "{t}");
        assert_eq!(
            tier(&report, t)["pending"]["reasons"][0],
            format!("branch {t} does not exist yet: every ShopSet is new").as_str()
        );
    }
}
