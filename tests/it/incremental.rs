//! A sync that renders only the changed ShopSets and edits the previous tree gives exactly the
//! tree of a full render, whatever the change.

use std::path::Path;

use shopset_engine::{Author, Content, Repos, Resources, SyncOptions, TierOutcome};
use shopset_tests::{app_repo_from_dir, fixtures, git, ok};

fn text(app: &str, system: &str, n: usize, mutate: &dyn Fn(usize, &mut String)) -> String {
    let mut docs = vec![
        format!("apiVersion: shopset.dev/v1alpha1\nkind: Tier\nmetadata: {{name: tier-0}}\nspec:\n  app: {{url: \"{app}\", path: kustomize}}\n  system: {{url: \"{system}\"}}\n"),
        format!("apiVersion: shopset.dev/v1alpha1\nkind: Tier\nmetadata: {{name: tier-1}}\nspec:\n  promotesFrom: tier-0\n  app: {{url: \"{app}\", path: kustomize}}\n  system: {{url: \"{system}\"}}\n"),
        "apiVersion: shopset.dev/v1alpha1\nkind: Configuration\nmetadata: {name: plan}\nspec:\n  inline: {values: {A: \"1\"}, replicas: {podinfo: 2}}\n".into(),
        "apiVersion: shopset.dev/v1alpha1\nkind: FailureDomain\nmetadata: {name: east}\nspec:\n  destination: {name: east-1}\n  config: {values: {REGION: \"east\"}}\n".into(),
        "apiVersion: shopset.dev/v1alpha1\nkind: FailureDomain\nmetadata: {name: west}\nspec:\n  destination: {name: west-1}\n".into(),
    ];
    for i in 0..n {
        let mut doc = format!(
            "apiVersion: shopset.dev/v1alpha1\nkind: ShopSet\nmetadata: {{name: shop-{i:03}}}\nspec:\n  tier: tier-{}\n  configuration: plan\n",
            i % 2
        );
        mutate(i, &mut doc);
        docs.push(doc);
    }
    docs.join("---\n")
}

fn load(text: &str) -> Resources {
    let mut r = Resources::default();
    r.add_text("r.yaml", text);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    r
}

/// A temporary directory with the podinfo app repository (branches tier-0 and tier-1), and
/// where the system repository and the cache go.
struct World {
    _tmp: tempfile::TempDir,
    dir: std::path::PathBuf,
    system: std::path::PathBuf,
    cache: std::path::PathBuf,
    app: String,
    system_url: String,
}

fn world() -> World {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_owned();
    let app = dir.join("app.git");
    app_repo_from_dir(
        &app,
        &fixtures().join("apps/podinfo"),
        &["tier-0", "tier-1"],
    );
    let system = dir.join("system.git");
    World {
        cache: dir.join("cache"),
        app: app.display().to_string(),
        system_url: system.display().to_string(),
        system,
        dir,
        _tmp: tmp,
    }
}

/// The author of the tests' commits, at a fixed time.
fn author() -> Author {
    Author {
        name: "t".into(),
        email: "t@t".into(),
        producer: "test".into(),
        time: Some(1_767_225_600),
        signer: None,
    }
}

/// Runs git in `dir` with `input` on its standard input; returns its trimmed output.
fn git_with_input(dir: &Path, args: &[&str], input: &[u8]) -> String {
    use std::io::Write as _;
    let mut child = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().expect("stdin").write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "git {args:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Renders `text` with `shopctl render -f`, then renders `tier` again from the inputs that
/// rendering recorded (`shopctl render --inputs`, which reads the shards beside
/// `inputs.yaml`), and asserts both trees are byte for byte the same; returns the second.
fn render_back_from_inputs(dir: &Path, cache: &Path, text: &str, tier: &str) -> std::path::PathBuf {
    let res = dir.join("resources");
    std::fs::create_dir_all(&res).unwrap();
    std::fs::write(res.join("all.yaml"), text).unwrap();
    let (out_a, out_b) = (dir.join("render-a"), dir.join("render-b"));
    let cache_arg = cache.display().to_string();
    ok(&shopset_tests::run_shopctl([
        "--cache-dir",
        &cache_arg,
        "render",
        "-f",
        &res.display().to_string(),
        "--out",
        &out_a.display().to_string(),
    ]));
    ok(&shopset_tests::run_shopctl([
        "--cache-dir",
        &cache_arg,
        "render",
        "--inputs",
        &out_a
            .join(format!("{tier}/.shopset/inputs.yaml"))
            .display()
            .to_string(),
        "--out",
        &out_b.display().to_string(),
    ]));
    let diff = std::process::Command::new("diff")
        .args(["-r", "--brief"])
        .arg(out_a.join(tier))
        .arg(out_b.join(tier))
        .output()
        .unwrap();
    assert!(
        diff.status.success(),
        "{}",
        String::from_utf8_lossy(&diff.stdout)
    );
    out_b.join(tier)
}

/// Asserts that each tier `result` synced has at its tip exactly the full rendering of its
/// inputs.
fn assert_tips_are_full_renders(url: &str, step: &str, result: &shopset_engine::SyncResult) {
    let repo = shopset_git::Repo::open(url).unwrap();
    for tier in &result.tiers {
        let tip = repo.tip(&tier.plan.branch).unwrap().unwrap();
        let full = repo.write_tree(&tier.plan.full_tree().unwrap()).unwrap();
        assert_eq!(
            repo.tree_id(&tip).unwrap(),
            full,
            "{step}: {} tree equals a full render",
            tier.plan.tier
        );
    }
}

fn check(step: &str, text: &str, system: &Path, cache: &Path, expect_edits: bool) {
    let resources = load(text);
    let url = system.display().to_string();
    let plan = shopset_engine::plan_sync(&resources, &mut Repos::new(cache));
    assert!(plan.problems.is_empty(), "{step}: {:?}", plan.problems);
    for tier in &plan.tiers {
        assert_eq!(
            matches!(tier.content, Content::Edits { .. }),
            expect_edits,
            "{step}: {} planned as edits",
            tier.tier
        );
    }
    let author = author();
    let result = shopset_engine::sync(
        &resources,
        &mut Repos::new(cache),
        &author,
        &SyncOptions {
            confirm_removals: true,
            ..SyncOptions::default()
        },
    );
    assert!(result.ok(), "{step}: {:?}", result.problems);
    for tier in &result.tiers {
        assert!(
            !matches!(tier.outcome, TierOutcome::Failed { .. }),
            "{step}: {:?}",
            tier.outcome
        );
    }
    assert_tips_are_full_renders(&url, step, &result);
}

#[test]
fn edits_equal_full_renders() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let app = dir.join("app.git");
    let first = app_repo_from_dir(
        &app,
        &fixtures().join("apps/podinfo"),
        &["tier-0", "tier-1"],
    );
    let system = dir.join("system.git");
    let cache = dir.join("cache");
    let (a, s) = (app.display().to_string(), system.display().to_string());
    let none = |_: usize, _: &mut String| {};

    check("cold", &text(&a, &s, 30, &none), &system, &cache, false);
    check("unchanged", &text(&a, &s, 30, &none), &system, &cache, true);
    check(
        "one override",
        &text(&a, &s, 30, &|i, d| {
            if i == 7 {
                d.push_str("  overrides: {values: {B: \"2\"}}\n")
            }
        }),
        &system,
        &cache,
        true,
    );
    check(
        "removed (shards emptied)",
        &text(&a, &s, 24, &none),
        &system,
        &cache,
        true,
    );
    check("added", &text(&a, &s, 33, &none), &system, &cache, true);
    check(
        "maintenance and suspend",
        &text(&a, &s, 33, &|i, d| match i {
            3 => d.push_str("  maintenance: true\n"),
            4 => d.push_str("  suspend: true\n"),
            _ => {}
        }),
        &system,
        &cache,
        true,
    );
    let config_changed =
        text(&a, &s, 33, &none).replace("values: {A: \"1\"}", "values: {A: \"9\"}");
    check(
        "configuration changed",
        &config_changed,
        &system,
        &cache,
        true,
    );
    let domain_changed =
        config_changed.replace("values: {REGION: \"east\"}", "values: {REGION: \"east-2\"}");
    check(
        "failure domain changed",
        &domain_changed,
        &system,
        &cache,
        true,
    );
    let moved = domain_changed.replace(
        "  app: {url:",
        &format!("  pin: {{appCommit: {first}}}\n  app: {{url:"),
    );
    check("base pinned (gitlink)", &moved, &system, &cache, true);

    // A person commits on the branch: the next sync renders everything again and restores the
    // generated content, so the tree is again exactly a rendering.
    let clone = dir.join("clone");
    ok(&git(
        dir,
        &[
            "clone",
            "--quiet",
            "--branch",
            "tier-0",
            &s,
            &clone.display().to_string(),
        ],
    ));
    std::fs::write(clone.join("README.md"), "edited by hand\n").unwrap();
    ok(&git(&clone, &["commit", "--quiet", "-am", "by hand"]));
    ok(&git(&clone, &["push", "--quiet", "origin", "HEAD:tier-0"]));
    let resources = load(&moved);
    let plan = shopset_engine::plan_sync(&resources, &mut Repos::new(&cache));
    let tier0 = plan.tiers.iter().find(|t| t.tier == "tier-0").unwrap();
    assert!(
        matches!(tier0.content, Content::Full(_)),
        "a human commit at the tip means a full render"
    );
    let author = Author {
        name: "t".into(),
        email: "t@t".into(),
        producer: "test".into(),
        time: None,
        signer: None,
    };
    assert!(
        shopset_engine::sync(
            &resources,
            &mut Repos::new(&cache),
            &author,
            &SyncOptions {
                confirm_removals: true,
                ..SyncOptions::default()
            }
        )
        .ok()
    );
    let repo = shopset_git::Repo::open(&s).unwrap();
    let tip = repo.tip("tier-0").unwrap().unwrap();
    assert_eq!(
        repo.read_file(&tip, "README.md").unwrap().unwrap(),
        tier0.full_tree().unwrap().files["README.md"]
    );
}

/// `n` ShopSets with room, and `shops` shops; `extra` is appended to each Shop's spec line
/// when `pick(i)` holds.
fn with_shops(base: &str, shops: usize, pick: &dyn Fn(usize) -> Option<String>) -> String {
    let mut text = base
        .replace(
            "  configuration: plan\n",
            "  configuration: plan\n  shops: {capacity: 1000000}\n",
        )
        .replace(
            "  system: {url:",
            "  safety: {maxShopMoves: {percent: 100, count: 1000000}}\n  system: {url:",
        );
    for i in 0..shops {
        let extra = pick(i).unwrap_or_default();
        text.push_str(&format!(
            "---\napiVersion: shopset.dev/v1alpha1\nkind: Shop\nmetadata: {{name: s-{i:05}}}\nspec: {{hosts: [s-{i:05}.shops.example.com, www.s-{i:05}.example]{extra}}}\n"
        ));
    }
    text
}

#[test]
fn edits_of_many_shops_equal_full_renders_and_touch_only_their_shards() {
    let World {
        _tmp,
        dir,
        system,
        cache,
        app: a,
        system_url: s,
    } = world();
    let dir = dir.as_path();
    let base = text(&a, &s, 12, &|_, _| {});
    let none = |_: usize| None;

    // Few shops: the rows are in inputs.yaml and routing/shops.yaml.
    check(
        "few shops",
        &with_shops(&base, 300, &none),
        &system,
        &cache,
        false,
    );
    let files = |branch: &str| -> Vec<String> {
        let out = git(&system, &["ls-tree", "-r", "--name-only", branch]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    };
    assert!(
        !files("tier-0")
            .iter()
            .any(|p| p.starts_with(".shopset/shops-"))
    );
    // Many: both go to shards (the change of layout is written whole).
    check(
        "many shops",
        &with_shops(&base, 6000, &none),
        &system,
        &cache,
        true,
    );
    let listed = files("tier-0");
    let shards = listed
        .iter()
        .filter(|p| p.starts_with(".shopset/shops-"))
        .count();
    assert!(shards > 200, "{shards} record shards");
    assert!(listed.iter().any(|p| p.starts_with("routing/shops-")));
    let repo = shopset_git::Repo::open(&s).unwrap();
    let tip = repo.tip("tier-0").unwrap().unwrap();
    let inputs = repo
        .read_file(&tip, ".shopset/inputs.yaml")
        .unwrap()
        .unwrap();
    assert!(
        inputs.len() < 64 * 1024,
        "inputs.yaml is {} bytes",
        inputs.len()
    );

    // `shopctl render --inputs` reads the shards beside inputs.yaml: byte for byte the same.
    let rendered = render_back_from_inputs(dir, &cache, &with_shops(&base, 6000, &none), "tier-0");
    assert!(rendered.join(".shopset").read_dir().unwrap().count() > 200);

    // One shop added, one moved (warm), one removed: each an edit, equal to a full render.
    let added = with_shops(&base, 6001, &none);
    check("one shop added", &added, &system, &cache, true);
    let before = repo.tip("tier-0").unwrap();
    let moved = with_shops(&base, 6001, &|i| {
        (i == 42).then(|| ", shopSet: shop-004".to_owned())
    });
    check("one shop moved", &moved, &system, &cache, true);
    let removed = with_shops(&base, 6000, &|i| {
        (i == 42).then(|| ", shopSet: shop-004".to_owned())
    });
    check("one shop removed", &removed, &system, &cache, true);
    // The commits of one shop change files of rows of its shard only (and the overlays).
    let changed = git(
        &system,
        &["diff", "--name-only", &before.unwrap_or_default(), "tier-0"],
    );
    let changed = String::from_utf8_lossy(&changed.stdout).into_owned();
    let rows: Vec<&str> = changed
        .lines()
        .filter(|p| p.starts_with(".shopset/shops-") || p.starts_with("routing/shops-"))
        .collect();
    let shard = shopset_render::layout::shard("s-00042");
    let other = shopset_render::layout::shard("s-06000");
    assert!(
        rows.iter()
            .all(|p| p.contains(&format!("-{shard}.")) || p.contains(&format!("-{other}."))),
        "{rows:?}"
    );
    // Back to few: the shards go, the single files return.
    check(
        "few again",
        &with_shops(&base, 300, &none),
        &system,
        &cache,
        true,
    );
    assert!(
        !files("tier-0")
            .iter()
            .any(|p| p.starts_with(".shopset/shops-") || p.starts_with("routing/shops-"))
    );
}

#[test]
fn a_commit_marked_as_a_rendering_by_another_layout_is_checked_again() {
    let World {
        _tmp,
        system,
        cache,
        app: a,
        system_url: s,
        ..
    } = world();
    let world = text(&a, &s, 6, &|_, _| {});
    check("cold", &world, &system, &cache, false);

    // A commit that says it is a rendering (our message) but whose tree is not what the
    // current renderer makes of its inputs, as one from a renderer of another layout would be;
    // and a marker for it where that renderer kept them (no layout version in the path).
    let tip = git(&system, &["rev-parse", "tier-0"]);
    let tip = String::from_utf8_lossy(&tip.stdout).trim().to_owned();
    let message = git(&system, &["log", "-1", "--format=%B", &tip]);
    let tree = git(&system, &["rev-parse", &format!("{tip}^{{tree}}")]);
    let tree = String::from_utf8_lossy(&tree.stdout).trim().to_owned();
    let listing = git(&system, &["ls-tree", &tree]);
    let readme = git_with_input(
        &system,
        &["hash-object", "-w", "--stdin"],
        b"an older layout\n",
    );
    let entries: String = String::from_utf8_lossy(&listing.stdout)
        .lines()
        .map(|l| {
            if l.ends_with("\tREADME.md") {
                format!("100644 blob {readme}\tREADME.md\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    let new_tree = git_with_input(&system, &["mktree"], entries.as_bytes());
    let commit = ok(&git(
        &system,
        &[
            "commit-tree",
            &new_tree,
            "-p",
            &tip,
            "-m",
            String::from_utf8_lossy(&message.stdout).trim(),
        ],
    ));
    let commit = commit.trim();
    ok(&git(
        &system,
        &["update-ref", "refs/heads/tier-0", commit, &tip],
    ));
    let old_marker = shopset_git::Cache::new(&cache)
        .path_of(&s)
        .join("shopset-renderings")
        .join(commit);
    std::fs::create_dir_all(old_marker.parent().unwrap()).unwrap();
    std::fs::write(&old_marker, b"").unwrap();

    // The old marker is not believed: the tip is rendered again whole.
    let plan = shopset_engine::plan_sync(&load(&world), &mut Repos::new(&cache));
    let tier0 = plan.tiers.iter().find(|t| t.tier == "tier-0").unwrap();
    assert!(
        matches!(tier0.content, Content::Full(_)),
        "a tip marked by another layout is rendered whole"
    );
    // The sync renders it whole; then every tip is a rendering again (the next plan edits,
    // and each tree equals a full render).
    let author = author();
    let result = shopset_engine::sync(
        &load(&world),
        &mut Repos::new(&cache),
        &author,
        &SyncOptions::default(),
    );
    assert!(result.ok(), "{:?}", result.problems);
    check("edited again", &world, &system, &cache, true);
}

/// A running engine told which ShopSets changed plans only them, from its last sync, and
/// writes what a full plan writes (debug builds also compare every such plan with the full
/// plan); whatever it cannot plan that way (a ShopSet moving tier, a person's commit at the
/// tip) is planned whole.
#[test]
fn told_changes_plan_only_them_and_write_what_full_plans_write() {
    let World {
        _tmp,
        dir,
        system,
        cache,
        app: a,
        system_url: s,
    } = world();
    // 1,100 ShopSets over two tiers: each tier records its ShopSets in shards.
    let n = 1_100;
    let overrides = |picked: &'static [usize]| {
        move |i: usize, d: &mut String| {
            if picked.contains(&i) {
                d.push_str(&format!("  overrides: {{values: {{B: \"{i}\"}}}}\n"));
            }
        }
    };
    let mut repos = Repos::new(&cache);
    let author = author();
    let mut sync = |text: &str, only: Option<&[&str]>, changed: Option<&[&str]>| {
        let resources = load(text);
        repos.forget_all();
        let options = SyncOptions {
            tiers: only.map(|o| o.iter().map(|t| (*t).to_owned()).collect()),
            changed: changed.map(|c| shopset_engine::ops::warm::Changed {
                shop_sets: c.iter().map(|t| (*t).to_owned()).collect(),
                ..Default::default()
            }),
            ..SyncOptions::default()
        };
        let result = shopset_engine::sync(&resources, &mut repos, &author, &options);
        assert!(result.ok(), "{:?}", result.problems);
        result
    };
    let cold = sync(&text(&a, &s, n, &|_, _| {}), None, None);
    assert!(!cold.from_change);
    let repo = shopset_git::Repo::open(&s).unwrap();
    let changed_files = |from: &str, to: &str| -> Vec<String> {
        let out = git(&system, &["diff", "--name-only", from, to]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    };

    let listed = git(&system, &["ls-tree", "-r", "--name-only", "tier-0"]);
    let recorded = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .filter(|p| p.starts_with(".shopset/shopsets-"))
        .count();
    assert!(recorded > 100, "{recorded} files of recorded ShopSets");

    // `shopctl render --inputs` reads the ShopSets' shards beside inputs.yaml: byte for byte
    // the same tree.
    let rendered = render_back_from_inputs(&dir, &cache, &text(&a, &s, n, &|_, _| {}), "tier-1");
    assert!(
        rendered
            .join(".shopset")
            .read_dir()
            .unwrap()
            .filter_map(Result::ok)
            .any(|e| e.file_name().to_string_lossy().starts_with("shopsets-"))
    );

    // One ShopSet's overrides: planned from the change; the commit changes its overlay and
    // the one file of recorded ShopSets of its shard, nothing else.
    let before = repo.tip("tier-0").unwrap().unwrap();
    let one = sync(
        &text(&a, &s, n, &overrides(&[8])),
        None,
        Some(&["shop-008"]),
    );
    assert!(one.from_change, "planned from the change");
    assert_tips_are_full_renders(&s, "one override", &one);
    let after = repo.tip("tier-0").unwrap().unwrap();
    let files = changed_files(&before, &after);
    let shard = shopset_render::layout::shard("shop-008");
    assert!(
        files.contains(&format!(".shopset/shopsets-{shard}.yaml")),
        "{files:?}"
    );
    assert!(
        files
            .iter()
            .all(|f| f.contains("shop-008") || f == &format!(".shopset/shopsets-{shard}.yaml")),
        "only the ShopSet's files: {files:?}"
    );
    assert_eq!(
        one.tiers
            .iter()
            .filter(|t| matches!(t.outcome, TierOutcome::Committed { .. }))
            .count(),
        1,
        "one tier written"
    );

    // A change in a tier that is not synced this time is planned with the next sync of its
    // tier.
    let later = sync(
        &text(&a, &s, n, &overrides(&[8, 9])),
        Some(&["tier-0"]),
        Some(&["shop-009"]),
    );
    assert!(later.from_change);
    let tier1 = repo.tip("tier-1").unwrap().unwrap();
    let then = sync(
        &text(&a, &s, n, &overrides(&[8, 9])),
        Some(&["tier-1"]),
        Some(&[]),
    );
    assert!(then.from_change);
    assert_tips_are_full_renders(&s, "pending change", &then);
    assert!(
        changed_files(&tier1, "tier-1")
            .iter()
            .any(|f| f.contains("shop-009")),
        "shop-009 rendered at last"
    );

    // A ShopSet moving tier is planned whole.
    let moved_tier = text(&a, &s, n, &overrides(&[8, 9])).replace(
        "name: shop-011}\nspec:\n  tier: tier-1",
        "name: shop-011}\nspec:\n  tier: tier-0",
    );
    let moved = sync(&moved_tier, None, Some(&["shop-011"]));
    assert!(!moved.from_change, "a tier change is planned whole");
    assert_tips_are_full_renders(&s, "moved tier", &moved);

    // A person's commit at the tip: planned whole, and the next change from it again.
    let clone = dir.join("clone");
    ok(&git(
        &dir,
        &[
            "clone",
            "--quiet",
            "--branch",
            "tier-0",
            &s,
            &clone.display().to_string(),
        ],
    ));
    std::fs::write(clone.join("README.md"), "edited by hand\n").unwrap();
    ok(&git(&clone, &["commit", "--quiet", "-am", "by hand"]));
    ok(&git(&clone, &["push", "--quiet", "origin", "HEAD:tier-0"]));
    let restored = sync(&moved_tier, None, Some(&[]));
    assert!(!restored.from_change, "the branch moved: planned whole");
    assert_tips_are_full_renders(&s, "restored", &restored);
    let again = sync(
        &moved_tier.replace("B: \"8\"", "B: \"eight\""),
        None,
        Some(&["shop-008"]),
    );
    assert!(again.from_change);
    assert_tips_are_full_renders(&s, "after a person's commit", &again);
}

/// A running engine told that Shops were created assigns them by the rule on the loads its
/// tiers record and plans only their tiers' rows and ShopSets: the same as the full plan
/// (which debug builds compare on every such sync), whether the rows are in `inputs.yaml` or
/// in shards.
#[test]
fn told_new_shops_are_assigned_and_planned_alone() {
    let World {
        _tmp,
        dir: _,
        system: _,
        cache,
        app: a,
        system_url: s,
    } = world();
    let base = text(&a, &s, 12, &|_, _| {});
    let mut repos = Repos::new(&cache);
    let author = author();
    let mut sync = |text: &str, shops: &[&str]| {
        let resources = load(text);
        repos.forget_all();
        let options = SyncOptions {
            changed: Some(shopset_engine::ops::warm::Changed {
                shops: shops.iter().map(|s| (*s).to_owned()).collect(),
                ..Default::default()
            }),
            ..SyncOptions::default()
        };
        let result = shopset_engine::sync(&resources, &mut repos, &author, &options);
        assert!(result.ok(), "{:?}", result.problems);
        result
    };
    let extra = |names: &[&str], pin: Option<&str>| -> String {
        names
            .iter()
            .map(|n| {
                let pin = pin.map(|p| format!(", shopSet: {p}")).unwrap_or_default();
                format!(
                    "---\napiVersion: shopset.dev/v1alpha1\nkind: Shop\nmetadata: {{name: {n}}}\nspec: {{hosts: [{n}.example.com]{pin}}}\n"
                )
            })
            .collect()
    };
    for (count, label) in [(300, "rows in inputs.yaml"), (6_000, "rows in shards")] {
        let first = sync(&with_shops(&base, count, &|_| None), &[]);
        assert_tips_are_full_renders(&s, label, &first);
        let mut text = with_shops(&base, count, &|_| None);
        text.push_str(&extra(&["zz-new-1", "zz-new-2"], None));
        let two = sync(&text, &["zz-new-1", "zz-new-2"]);
        assert!(two.from_change, "{label}: planned from the change");
        assert_tips_are_full_renders(&s, label, &two);
        let rows: usize = two
            .tiers
            .iter()
            .filter(|t| t.plan.inputs.shops.contains_key("zz-new-1"))
            .count();
        assert_eq!(rows, 1, "{label}: the new shop is in one tier's rows");
        // A pinned new shop is planned whole.
        text.push_str(&extra(&["zz-pinned"], Some("shop-003")));
        let pinned = sync(&text, &["zz-pinned"]);
        assert!(!pinned.from_change, "{label}: a pin is planned whole");
        assert_tips_are_full_renders(&s, label, &pinned);
        // A shop pinned to another ShopSet of its tier: the move's first step (warm) is
        // planned from the change; the next steps wait for Argo CD, so the next plan is whole.
        let (tier, from) = pinned
            .tiers
            .iter()
            .find_map(|t| {
                let row = t.plan.inputs.shops.get("zz-new-1")?;
                Some((t.plan.tier.clone(), row.shop_set.clone()))
            })
            .expect("zz-new-1 is served");
        let to = pinned
            .tiers
            .iter()
            .find(|t| t.plan.tier == tier)
            .and_then(|t| {
                t.plan
                    .inputs
                    .shop_sets
                    .keys()
                    .find(|k| **k != from)
                    .cloned()
            })
            .expect("another ShopSet in its tier");
        let moved_text = text.replace(
            "{hosts: [zz-new-1.example.com]}",
            &format!("{{hosts: [zz-new-1.example.com], shopSet: {to}}}"),
        );
        let moved = sync(&moved_text, &["zz-new-1"]);
        assert!(
            moved.from_change,
            "{label}: a move's first step from the change"
        );
        assert_tips_are_full_renders(&s, label, &moved);
        let row = moved
            .tiers
            .iter()
            .find_map(|t| t.plan.inputs.shops.get("zz-new-1").cloned())
            .expect("a row");
        assert_eq!(
            row.warming.as_deref(),
            Some(to.as_str()),
            "{label}: warming"
        );
        let next = sync(&moved_text, &[]);
        assert!(!next.from_change, "{label}: a move under way plans whole");
    }
}
