//! `shopctl diff` and `shopctl log` on the quickstart's real repositories: the diff is what the
//! next sync commits (it applies with `git apply` to the old tip and gives the new tip's
//! tree), it is bounded with a count, its exit code says whether anything would change; the
//! log lists syncs and a person's commit as deployments.
//!
//! The goldens are in `tests/golden/diff/`; `SHOPSET_BLESS=1` rewrites them.

use std::path::{Path, PathBuf};
use std::process::Output;

use shopset_tests::{commit_to_branch, git, ok, rev, root, shopctl_command};

fn shopctl(args: &[&str]) -> Output {
    shopctl_command().args(args).output().expect("shopctl runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn quickstart() -> (tempfile::TempDir, PathBuf, String) {
    let (tmp, dir) = shopset_tests::quickstart();
    let resources = dir.join("resources").display().to_string();
    (tmp, dir, resources)
}

/// `big-sellers` (tier-2) gets other overrides.
fn change_overrides(dir: &Path) {
    let file = dir.join("resources/shopsets.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    let changed = text
        .replace("      storefront: 6\n", "      storefront: 8\n")
        .replace("up to 50% off", "up to 70% off");
    assert_ne!(changed, text);
    std::fs::write(&file, changed).unwrap();
}

/// `text` with the machine's paths and the commit ids of this run replaced.
fn stable(text: &str, dir: &Path, tip: &str) -> String {
    let real = dir.canonicalize().unwrap().display().to_string();
    text.replace(&real, "@QUICKSTART_DIR@")
        .replace(&tip[..12], "@TIP@")
}

fn golden(name: &str, actual: &str) {
    let file = root().join("tests/golden/diff").join(name);
    if std::env::var_os("SHOPSET_BLESS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&file).unwrap_or_else(|e| {
        panic!(
            "{}: {e}: run the tests with SHOPSET_BLESS=1",
            file.display()
        )
    });
    assert!(
        expected == actual,
        "{} differs:\n--- expected\n{expected}\n--- actual\n{actual}",
        file.display()
    );
}

#[test]
fn nothing_to_sync_is_an_empty_diff_and_exit_code_0() {
    let (_tmp, _dir, resources) = quickstart();
    for args in [
        &["diff", "-f", &resources][..],
        &["diff", "--stat", "-f", &resources],
    ] {
        let out = shopctl(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {out:?}");
        assert_eq!(stdout(&out), "", "{args:?}");
    }
    let out = shopctl(&["diff", "-o", "json", "-f", &resources]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let tiers = json["tiers"].as_array().unwrap();
    assert_eq!(tiers.len(), 3, "{json}");
    assert!(
        tiers
            .iter()
            .all(|t| t["files"].as_array().unwrap().is_empty()),
        "{json}"
    );
}

#[test]
fn diff_of_changed_overrides_is_what_the_sync_commits() {
    let (tmp, dir, resources) = quickstart();
    let system = dir.join("system.git");
    let old_tip = rev(&system, "tier-2");
    change_overrides(&dir);

    let out = shopctl(&["diff", "-f", &resources]);
    assert_eq!(
        out.status.code(),
        Some(4),
        "a change is exit code 4: {out:?}"
    );
    let patch = stdout(&out);
    golden("overrides.diff", &stable(&patch, &dir, &old_tip));
    assert!(patch.contains("# Changed: big-sellers\n"), "{patch}");
    assert!(
        !patch.contains("tier-0") && !patch.contains("tier-1"),
        "{patch}"
    );

    let out = shopctl(&["diff", "--stat", "-f", &resources]);
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    golden("overrides.stat", &stable(&stdout(&out), &dir, &old_tip));

    let out = shopctl(&["diff", "-o", "json", "-f", &resources]);
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let tier = json["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tier"] == "tier-2")
        .unwrap();
    assert_eq!(tier["changed"], serde_json::json!(["big-sellers"]));
    assert_eq!(tier["previousTip"], old_tip.as_str());
    let files = tier["files"].as_array().unwrap();
    assert!(files.iter().all(|f| f["patch"].is_string()), "{tier}");
    assert!(
        files
            .iter()
            .any(|f| f["path"].as_str().unwrap().contains("big-sellers")),
        "{tier}"
    );

    // The diff applied to the old tip gives exactly the tree the sync commits.
    ok(&shopctl(&["sync", "-f", &resources]));
    let new_tip = rev(&system, "tier-2");
    assert_ne!(new_tip, old_tip);
    let work = tmp.path().join("apply");
    ok(&git(
        tmp.path(),
        &[
            "clone",
            "-q",
            "--branch",
            "tier-2",
            &system.display().to_string(),
            &work.display().to_string(),
        ],
    ));
    ok(&git(&work, &["checkout", "-q", &old_tip]));
    let patch_file = tmp.path().join("change.diff");
    std::fs::write(&patch_file, &patch).unwrap();
    ok(&git(
        &work,
        &["apply", "--index", &patch_file.display().to_string()],
    ));
    let applied = ok(&git(&work, &["write-tree"]));
    assert_eq!(applied.trim(), rev(&system, "tier-2^{tree}"));

    // And after the sync, nothing is left to diff.
    let out = shopctl(&["diff", "-f", &resources]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(stdout(&out), "");
}

#[test]
fn a_long_diff_is_cut_with_a_count() {
    let (_tmp, dir, resources) = quickstart();
    let many = |replicas: u32| -> String {
        (0..40)
            .map(|i| {
                format!(
                    "apiVersion: shopset.dev/v1alpha1\nkind: ShopSet\nmetadata:\n  name: bulk-{i:02}\n\
                     spec:\n  tier: tier-2\n  configuration: standard\n  overrides:\n    replicas:\n      storefront: {replicas}\n---\n"
                )
            })
            .collect()
    };
    let file = dir.join("resources/bulk.yaml");
    std::fs::write(&file, many(2)).unwrap();
    ok(&shopctl(&["sync", "-f", &resources]));
    std::fs::write(&file, many(3)).unwrap();

    let out = shopctl(&["diff", "--max-lines", "40", "-f", &resources]);
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    let text = stdout(&out);
    let last = text.lines().last().unwrap();
    let count = last
        .strip_prefix("... and ")
        .and_then(|r| r.strip_suffix(" lines) not shown"))
        .unwrap_or_else(|| panic!("the last line is the count: {last:?}"));
    let (files, lines) = count.split_once(" more files (").unwrap();
    let (files, lines): (usize, usize) = (files.parse().unwrap(), lines.parse().unwrap());
    let patch_lines = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("... and "))
        .count();
    assert!(patch_lines <= 40, "{patch_lines} lines printed:\n{text}");
    assert!(files >= 30, "{text}");

    // Whole, it has every file the count left out, and as many lines.
    let out = shopctl(&["diff", "--max-lines", "0", "-f", &resources]);
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    let whole = stdout(&out);
    assert!(!whole.contains("not shown"), "{whole}");
    let shown = text.matches("diff --git").count();
    assert_eq!(whole.matches("diff --git").count(), shown + files);
    let whole_lines = whole.lines().filter(|l| !l.starts_with('#')).count();
    assert_eq!(whole_lines, patch_lines + lines);
    for i in 0..40 {
        assert!(whole.contains(&format!("bulk-{i:02}/")), "bulk-{i:02}");
    }

    // The stat is cut too, and still totals everything.
    let out = shopctl(&["diff", "--stat", "--max-lines", "5", "-f", &resources]);
    let stat = stdout(&out);
    assert_eq!(
        stat.lines().filter(|l| l.contains(" | ")).count(),
        5,
        "{stat}"
    );
    let total = format!(" {} files changed,", shown + files);
    assert!(stat.contains(" more files not shown (+"), "{stat}");
    assert!(stat.contains(&total), "{total:?} in {stat}");
}

#[test]
fn log_lists_syncs_and_a_persons_commit() {
    let (tmp, dir, resources) = quickstart();
    let system = dir.join("system.git");
    change_overrides(&dir);
    ok(&shopctl(&["sync", "-f", &resources]));
    let synced = rev(&system, "tier-2");
    let by_hand = commit_to_branch(
        &system,
        "tier-2",
        &tmp.path().join("work"),
        ("NOTES.md", "a note\n"),
        &[],
        &[],
    );
    let app = shopset_tests::running_app(&system, "tier-2");

    let out = shopctl(&["log", "tier-2", "-o", "json", "-f", &resources]);
    let json: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
    let entries = json["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 3, "{json}");
    assert_eq!(json["truncated"], false);
    let (person, second, first) = (&entries[0], &entries[1], &entries[2]);
    assert_eq!(person["commit"], by_hand.as_str());
    assert_eq!(person["byHand"], true);
    assert_eq!(person["author"], "dev");
    assert_eq!(person["subject"], "a person's change");
    assert!(person["appCommit"].is_null());
    assert_eq!(second["commit"], synced.as_str());
    assert_eq!(second["byHand"], false);
    assert_eq!(second["appCommit"], app.as_str());
    assert_eq!(
        second["changed"]["names"],
        serde_json::json!(["big-sellers"])
    );
    assert_eq!(second["added"]["names"], serde_json::json!([]));
    assert_eq!(first["byHand"], false);
    assert_eq!(first["appCommit"], app.as_str());
    assert_eq!(
        first["added"]["names"],
        serde_json::json!(["big-sellers", "general-1", "general-2", "general-3"])
    );
    let configs: Vec<&str> = first["configCommits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(configs, ["premium", "standard"], "{first}");
    let config_repo = dir.join("config.git");
    assert_eq!(
        first["configCommits"][0]["commit"],
        rev(&config_repo, "tier-2").as_str()
    );

    let text = ok(&shopctl(&["log", "tier-2", "-f", &resources]));
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with(&by_hand[..12]) && lines[0].contains("by hand: dev <dev@example.com>"),
        "{text}"
    );
    assert!(
        lines[1].starts_with(&synced[..12]) && lines[1].contains(&format!("app {}", &app[..12])),
        "{text}"
    );
    assert_eq!(lines[2], "    changed: big-sellers", "{text}");
    assert!(
        text.contains("    added: big-sellers, general-1, general-2, general-3\n"),
        "{text}"
    );

    let short = ok(&shopctl(&[
        "log",
        "tier-2",
        "--max-count",
        "2",
        "-o",
        "json",
        "-f",
        &resources,
    ]));
    let json: serde_json::Value = serde_json::from_str(&short).unwrap();
    assert_eq!(json["entries"].as_array().unwrap().len(), 2);
    assert_eq!(json["truncated"], true);

    let out = shopctl(&["log", "tier-9", "-f", &resources]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Tier \"tier-9\" does not exist")
            && stderr.contains("tier-0, tier-1, tier-2"),
        "{stderr}"
    );
}
