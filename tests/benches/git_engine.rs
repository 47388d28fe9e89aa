//! The git engine's benchmark: synthetic ShopSets through the real renderer and engine, in
//! three tiers, against a git daemon on 127.0.0.1; every figure beside the same operation done
//! by hand (a checked-out clone, `git add -A && git commit && git push`), measured in the same
//! run, with the ratio.
//!
//! `cargo bench -p shopset-tests --bench git_engine -- 10000` (the argument is the number of
//! ShopSets; 10,000 by default). It prints figures; it asserts nothing about time.
//! `--engine-only` skips the by-hand baseline; `--shops=M` adds M shops and measures one shop
//! added and one moved (instead of the no-op); `SHOPSET_BENCH_ROUNDS=1` prints every round of
//! the warm row, not only the median.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use shopset_engine::{Author, Repos, Resources, TierPlan};
use shopset_git::CommitMeta;
use shopset_tests::servers::{GitDaemon, bare_repo};
use shopset_tests::{app_repo_from_dir, fixtures};

/// glibc's allocator turned out slow on the engine's pattern (many small rows freed, then one
/// larger allocation that first sorts every free chunk: 40-70 ms measured inside one commit at
/// 100,000 shops); mimalloc keeps such frees cheap.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn git(dir: &Path, args: &[&str]) -> f64 {
    let start = Instant::now();
    let out = Command::new("git")
        .args(["-c", "user.name=person", "-c", "user.email=p@p"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    start.elapsed().as_secs_f64()
}

fn resources_text(
    n: usize,
    app: &str,
    system: &str,
    pinned: Option<&str>,
    changed: &[usize],
) -> String {
    resources_with_shops(n, app, system, pinned, changed, "")
}

/// [`resources_text`], with `shops` (documents) appended and, when there are shops, room for
/// them in every ShopSet.
fn resources_with_shops(
    n: usize,
    app: &str,
    system: &str,
    pinned: Option<&str>,
    changed: &[usize],
    shops: &str,
) -> String {
    let mut docs = Vec::new();
    for (i, tier) in ["tier-0", "tier-1", "tier-2"].iter().enumerate() {
        let from = if i == 0 {
            String::new()
        } else {
            format!("  promotesFrom: tier-{}\n", i - 1)
        };
        let pin = pinned
            .filter(|_| i == 0)
            .map(|c| format!("  pin: {{appCommit: {c}}}\n"))
            .unwrap_or_default();
        docs.push(format!("apiVersion: shopset.dev/v1alpha1\nkind: Tier\nmetadata: {{name: {tier}}}\nspec:\n{from}{pin}  app: {{url: \"{app}\", path: kustomize}}\n  system: {{url: \"{system}\"}}\n"));
    }
    docs.push("apiVersion: shopset.dev/v1alpha1\nkind: Configuration\nmetadata: {name: standard}\nspec:\n  inline:\n    values: {LOG_LEVEL: \"info\", CURRENCY: \"JPY\", PAGE_SIZE: \"48\"}\n    replicas: {podinfo: 2}\n    patches:\n      limits:\n        target: {kind: Deployment, name: podinfo}\n        patch: |\n          - op: add\n            path: /spec/template/spec/priorityClassName\n            value: shop\n".into());
    for fd in ["east", "west"] {
        docs.push(format!("apiVersion: shopset.dev/v1alpha1\nkind: FailureDomain\nmetadata: {{name: {fd}}}\nspec:\n  destination: {{name: {fd}-1}}\n  config: {{values: {{REGION: \"{fd}\"}}}}\n"));
    }
    for i in 0..n {
        let extra = if changed.contains(&i) {
            "  overrides: {values: {BANNER: \"sale\"}}\n"
        } else {
            ""
        };
        let room = if shops.is_empty() {
            ""
        } else {
            "  shops: {capacity: 1000000}\n"
        };
        docs.push(format!("apiVersion: shopset.dev/v1alpha1\nkind: ShopSet\nmetadata: {{name: shop-{i:06}}}\nspec:\n  tier: tier-{}\n  configuration: standard\n{extra}{room}", i % 3));
    }
    let mut text = docs.join("---\n");
    text.push_str(shops);
    text
}

/// `m` shops (`s-<i>`, one host each), then `more` (other documents), as resource text.
fn shops_text(m: usize, more: &str) -> String {
    let mut text = String::with_capacity(m * 120);
    for i in 0..m {
        text.push_str(&format!(
            "---\napiVersion: shopset.dev/v1alpha1\nkind: Shop\nmetadata: {{name: s-{i:06}}}\nspec: {{hosts: [s-{i:06}.example.com]}}\n"
        ));
    }
    text.push_str(more);
    text
}

fn load(text: &str) -> Resources {
    let mut r = Resources::default();
    r.add_text("bench.yaml", text);
    assert!(r.errors.is_empty(), "{:?}", r.errors.first());
    r
}

struct Figures {
    fetch: f64,
    render: f64,
    commit: f64,
    push: f64,
    commits: usize,
    pushes: usize,
    objects: usize,
    rss: f64,
}

fn count_objects(repo: &Path) -> usize {
    let mut n = 0;
    for entry in std::fs::read_dir(repo.join("objects")).unwrap().flatten() {
        let name = entry.file_name();
        if name.len() == 2 {
            n += std::fs::read_dir(entry.path())
                .map(|d| d.count())
                .unwrap_or(0);
        }
    }
    n + std::fs::read_dir(repo.join("objects/pack"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// One sync through the engine, timed by phase: of the tiers in `only` (all when `None`), as
/// the controller does for a batch of changes.
fn engine_sync(
    resources: &Resources,
    repos: &mut Repos,
    cache_repo: &Path,
    only: Option<&BTreeSet<String>>,
) -> (Figures, Vec<TierPlan>) {
    engine_sync_changed(resources, repos, cache_repo, only, None)
}

/// [`engine_sync`], told which ShopSets changed since the last one (as the controller's watch
/// tells it): planned from the last sync and the change when the engine can
/// ([`shopset_engine::ops::warm`]).
fn engine_sync_changed(
    resources: &Resources,
    repos: &mut Repos,
    cache_repo: &Path,
    only: Option<&BTreeSet<String>>,
    changed: Option<&shopset_engine::ops::warm::Changed>,
) -> (Figures, Vec<TierPlan>) {
    reset_peak_rss();
    let objects_before = if cache_repo.exists() {
        count_objects(cache_repo)
    } else {
        0
    };
    let start = Instant::now();
    for tier in resources.tiers.values() {
        repos.read(&tier.spec.app.url).unwrap();
        repos.system(&tier.spec.system.url, true).unwrap();
    }
    let fetch = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let plan = match changed {
        Some(changed) => shopset_engine::ops::warm::plan(resources, repos, only, changed)
            .unwrap_or_else(|why| panic!("not planned from the change: {why}")),
        None => shopset_engine::plan_tiers(resources, repos, only),
    };
    assert!(plan.problems.is_empty(), "{:?}", plan.problems);
    let render = start.elapsed().as_secs_f64();
    let author = Author {
        name: "bench".into(),
        email: "b@b".into(),
        producer: "bench".into(),
        time: Some(1_767_225_600),
        signer: None,
    };
    let start = Instant::now();
    let mut created = Vec::new();
    for tier in &plan.tiers {
        let meta = CommitMeta {
            message: shopset_engine::commit_message(tier, &author),
            name: "bench".into(),
            email: "b@b".into(),
            time: Some(1_767_225_600),
            signer: None,
        };
        let repo = repos.system(&tier.system_url, true).unwrap().unwrap();
        if shopset_engine::ops::sync::inputs_unchanged(tier) {
            continue;
        }
        let tree = shopset_engine::ops::sync::write_content(repo, tier).unwrap();
        if let Some(commit) = repo
            .commit_tree_id(tier.previous_tip.as_deref(), &tree, &meta)
            .unwrap()
        {
            created.push((
                tier.system_url.clone(),
                commit,
                tier.branch.clone(),
                std::sync::Arc::clone(&tier.inputs),
            ));
        }
    }
    let commit = start.elapsed().as_secs_f64();
    let start = Instant::now();
    for (url, commit, branch, inputs) in &created {
        let outcome = repos.push(url, commit, branch).unwrap();
        assert_eq!(outcome, shopset_git::PushOutcome::Pushed);
        // As the sync does: its own commit is known to be a rendering of its inputs.
        repos.mark_rendering(url, commit);
        repos.keep_inputs(commit, std::sync::Arc::clone(inputs));
    }
    let push = start.elapsed().as_secs_f64();
    // As the sync does: what the next sync may build on.
    let written = plan
        .tiers
        .iter()
        .map(|t| {
            let commit = created
                .iter()
                .find(|c| c.2 == t.branch)
                .map(|c| c.1.clone())
                .or_else(|| t.previous_tip.clone());
            (t.tier.clone(), commit, std::sync::Arc::clone(&t.inputs))
        })
        .collect();
    let state = shopset_engine::ops::warm::PlanState {
        quiet: plan.quiet,
        migrations: plan.migrations.clone(),
        loads: plan.loads.clone(),
    };
    shopset_engine::ops::warm::remember(repos, resources, state, written, changed);
    let objects = count_objects(cache_repo).saturating_sub(objects_before);
    (
        Figures {
            fetch,
            render,
            commit,
            push,
            commits: created.len(),
            pushes: created.len(),
            objects,
            rss: peak_rss_mb(),
        },
        plan.tiers,
    )
}

/// Writes the rendered trees of the plans into the person's clones (one per branch).
fn write_worktrees(plans: &[TierPlan], clones: &Path) {
    for tier in plans {
        let root = clones.join(&tier.branch);
        let tree = tier.full_tree().unwrap();
        let rendered: std::collections::BTreeSet<&String> = tree.files.keys().collect();
        // The person's render replaces the whole checkout (files of removed ShopSets go).
        for path in list_files(&root) {
            if !rendered.contains(&path) {
                std::fs::remove_file(root.join(&path)).unwrap();
            }
        }
        for (path, bytes) in &tree.files {
            let file = root.join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            if std::fs::read(&file).ok().as_deref() != Some(bytes.as_slice()) {
                std::fs::write(file, bytes).unwrap();
            }
        }
    }
}

fn list_files(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            if rel == ".git" {
                continue;
            }
            if p.is_dir() {
                walk(root, &p, out)
            } else {
                out.push(rel)
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out
}

fn by_hand(plans: &[TierPlan], clones: &Path) -> (f64, f64) {
    let (mut commit, mut push) = (0.0, 0.0);
    for tier in plans {
        let root = clones.join(&tier.branch);
        for (path, c) in &tier.full_tree().unwrap().gitlinks {
            commit += git(
                &root,
                &[
                    "update-index",
                    "--add",
                    "--cacheinfo",
                    &format!("160000,{c},{path}"),
                ],
            );
        }
        commit += git(&root, &["add", "-A"]);
        let dirty = !Command::new("git")
            .args(["diff", "--cached", "--quiet"])
            .current_dir(&root)
            .status()
            .unwrap()
            .success();
        if dirty {
            commit += git(&root, &["commit", "-q", "-m", "by hand"]);
            push += git(
                &root,
                &["push", "-q", "origin", &format!("HEAD:{}", tier.branch)],
            );
        }
    }
    (commit, push)
}

/// The same edit by hand (`baseline`), or no figures.
fn hand_baseline(baseline: bool, plans: &[TierPlan], clones: &Path) -> (f64, f64) {
    if baseline {
        write_worktrees(plans, clones);
        by_hand(plans, clones)
    } else {
        (f64::NAN, f64::NAN)
    }
}

fn row(label: &str, ours: &Figures, hand: (f64, f64)) {
    let ours_commit = ours.render + ours.commit;
    println!(
        "{label:<20} fetch {:>6.3}s render {:>7.3}s  commit {:>7.3}s  push {:>7.3}s | by hand: add+commit {:>7.3}s push {:>7.3}s | ratio (render+commit)/(add+commit) {:>6.3}  push/push {:>6.3} | commits {} pushes {} objects {} | peak RSS {:.0} MB",
        ours.fetch,
        ours.render,
        ours.commit,
        ours.push,
        hand.0,
        hand.1,
        if hand.0 > 0.0 {
            ours_commit / hand.0
        } else {
            f64::NAN
        },
        if hand.1 > 0.0 {
            ours.push / hand.1
        } else {
            f64::NAN
        },
        ours.commits,
        ours.pushes,
        ours.objects,
        ours.rss
    );
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000);
    // `--engine-only` skips the by-hand baseline (for 100,000 ShopSets, where it alone takes
    // many minutes).
    let baseline = !std::env::args().any(|a| a == "--engine-only");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let served = dir.join("served");
    bare_repo(&served.join("system.git"));
    bare_repo(&served.join("by-hand.git"));
    let daemon = GitDaemon::start(&served);
    let app = dir.join("app.git");
    let first_app = app_repo_from_dir(
        &app,
        &fixtures().join("apps/podinfo"),
        &["tier-0", "tier-1", "tier-2"],
    );
    let system_url = daemon.url("system.git");
    let app_url = app.display().to_string();
    let cache_dir = dir.join("cache");
    let cache_repo: PathBuf = shopset_git::Cache::new(&cache_dir).path_of(&system_url);
    let clones = dir.join("clones");
    println!(
        "git engine benchmark: {n} ShopSets in 3 tiers, git daemon on 127.0.0.1 (engine) vs a checked-out clone (by hand)"
    );

    // Cold.
    let text = resources_text(n, &app_url, &system_url, None, &[]);
    let resources = load(&text);
    let mut repos = Repos::new(&cache_dir);
    let (cold, plans) = engine_sync(&resources, &mut repos, &cache_repo, None);
    for tier in ["tier-0", "tier-1", "tier-2"] {
        let root = clones.join(tier);
        std::fs::create_dir_all(&root).unwrap();
        git(&root, &["init", "-q", "-b", tier]);
        git(
            &root,
            &["remote", "add", "origin", &daemon.url("by-hand.git")],
        );
    }
    let hand = hand_baseline(baseline, &plans, &clones);
    row("cold", &cold, hand);
    if std::env::var_os("SHOPSET_BENCH_PROFILE").is_some() {
        let inputs = &plans[0].inputs;
        let t = Instant::now();
        let text = shopset_render::inputs_yaml(inputs);
        let ser = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let parsed = shopset_render::parse_inputs(&text).unwrap();
        let parse = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let _ = shopset_render::render_common(&parsed).unwrap();
        let common = t.elapsed().as_secs_f64();
        println!(
            "profile: inputs.yaml of {} ShopSets, {} bytes: serialize {ser:.3}s parse {parse:.3}s render_common {common:.3}s",
            inputs.shop_sets.len(),
            text.len()
        );
    }

    // Each row starts from what the last one left (a shadowed binding would live to the end
    // of `main` and count in every later row's peak RSS).
    drop((plans, resources, text, repos));

    // One ShopSet changed, in a new process: every tier planned, the recorded inputs read
    // from git (the repository caches on disk are kept).
    let text = resources_text(n, &app_url, &system_url, None, &[n / 2]);
    let resources = load(&text);
    let mut repos = Repos::new(&cache_dir);
    let (one, plans) = engine_sync(&resources, &mut repos, &cache_repo, None);
    let hand = hand_baseline(baseline, &plans, &clones);
    row("one ShopSet changed", &one, hand);
    drop((plans, resources, text));

    // Another ShopSet changed, as the running controller does it: the same engine (the inputs
    // it wrote are still parsed), and only the changed ShopSet's tier, which the watch event
    // names. By hand, the same: that tier's clone only. Five rounds (a different ShopSet of
    // the same tier each time); the row is the round with the median render and commit.
    let mut changed = vec![n / 2];
    let mut rounds = Vec::new();
    for round in 0..5 {
        let shop_set = n / 2 + 1 + 3 * round;
        changed.push(shop_set);
        let text = resources_text(n, &app_url, &system_url, None, &changed);
        let resources = load(&text);
        let only: BTreeSet<String> = [format!("tier-{}", shop_set % 3)].into();
        repos.forget_all();
        let (warm, plans) = engine_sync(&resources, &mut repos, &cache_repo, Some(&only));
        assert_eq!(warm.commits, 1, "one tier written");
        let hand = hand_baseline(baseline, &plans, &clones);
        if std::env::var_os("SHOPSET_BENCH_ROUNDS").is_some() {
            row(&format!("  warm round {round}"), &warm, hand);
        }
        rounds.push((warm, hand));
    }
    rounds.sort_by(|a, b| (a.0.render + a.0.commit).total_cmp(&(b.0.render + b.0.commit)));
    let (warm, hand) = &rounds[rounds.len() / 2];
    row("one changed, warm", warm, *hand);

    // The same, told which ShopSet changed (as the controller's watch tells the engine): only
    // it is planned, from the last sync.
    let mut rounds = Vec::new();
    for round in 0..5 {
        let shop_set = n / 2 + 16 + 3 * round;
        changed.push(shop_set);
        let text = resources_text(n, &app_url, &system_url, None, &changed);
        let resources = load(&text);
        let only: BTreeSet<String> = [format!("tier-{}", shop_set % 3)].into();
        let named = shopset_engine::ops::warm::Changed {
            shop_sets: [format!("shop-{shop_set:06}")].into(),
            ..Default::default()
        };
        repos.forget_all();
        let (warm, plans) = engine_sync_changed(
            &resources,
            &mut repos,
            &cache_repo,
            Some(&only),
            Some(&named),
        );
        assert_eq!(warm.commits, 1, "one tier written");
        let hand = hand_baseline(baseline, &plans, &clones);
        if std::env::var_os("SHOPSET_BENCH_ROUNDS").is_some() {
            row(&format!("  change round {round}"), &warm, hand);
        }
        rounds.push((warm, hand));
    }
    rounds.sort_by(|a, b| (a.0.render + a.0.commit).total_cmp(&(b.0.render + b.0.commit)));
    let (warm, hand) = &rounds[rounds.len() / 2];
    row("one changed, told", warm, *hand);

    // The base gitlink moved: tier-0 pinned to another app commit.
    let repo = shopset_git::Repo::open(&app_url).unwrap();
    let mut tree = shopset_git::Tree::default();
    for entry in repo.read_dir(&first_app, "").unwrap() {
        if let shopset_git::FileEntry::File { path, bytes } = entry {
            tree.insert(path, bytes).unwrap();
        }
    }
    tree.insert("CHANGELOG".into(), b"1.1\n".to_vec()).unwrap();
    let meta = CommitMeta {
        message: "app 1.1\n".into(),
        name: "dev".into(),
        email: "d@d".into(),
        time: Some(1_767_225_700),
        signer: None,
    };
    let Some(next_app) = repo.create_commit(Some(&first_app), &tree, &meta).unwrap() else {
        unreachable!()
    };
    // On a branch, so that a fetch of the app repository brings it.
    git(&app, &["branch", "bench-next", &next_app]);
    let text = resources_text(n, &app_url, &system_url, Some(&next_app), &changed);
    let resources = load(&text);
    repos = Repos::new(&cache_dir);
    let (base, plans) = engine_sync(&resources, &mut repos, &cache_repo, None);
    let hand = hand_baseline(baseline, &plans, &clones);
    row("base gitlink moved", &base, hand);

    // Shops (`--shops=M`): M shops over the ShopSets, cold; then one shop added and one
    // moved (the move's first step, warm), each as the running controller does it (every tier
    // planned: a Shop event names no tier), beside the same edit by hand.
    let shops = std::env::args().find_map(|a| {
        a.strip_prefix("--shops=")
            .and_then(|m| m.parse::<usize>().ok())
    });
    if let Some(m) = shops {
        drop((text, resources, plans));
        let text = resources_with_shops(
            n,
            &app_url,
            &system_url,
            Some(&next_app),
            &changed,
            &shops_text(m, ""),
        );
        let resources = load(&text);
        repos.forget_all();
        let (cold, plans) = engine_sync(&resources, &mut repos, &cache_repo, None);
        let hand = hand_baseline(baseline, &plans, &clones);
        row(&format!("{m} shops, cold"), &cold, hand);
        let largest = plans
            .iter()
            .flat_map(|p| p.full_tree().unwrap().files.into_values())
            .map(|b| b.len())
            .max()
            .unwrap_or(0);
        println!("  largest generated file: {} KiB", largest / 1024);

        let added = "---\napiVersion: shopset.dev/v1alpha1\nkind: Shop\nmetadata: {name: s-new}\nspec: {hosts: [s-new.example.com]}\n";
        drop((text, resources, plans));
        let text = resources_with_shops(
            n,
            &app_url,
            &system_url,
            Some(&next_app),
            &changed,
            &shops_text(m, added),
        );
        let resources = load(&text);
        repos.forget_all();
        let (one, plans) = engine_sync(&resources, &mut repos, &cache_repo, None);
        assert_eq!(one.commits, 1, "the new shop's tier only");
        let hand = hand_baseline(baseline, &plans, &clones);
        row("one shop added, warm", &one, hand);

        // Another, told (as the controller's watch tells the engine a Shop was created): only
        // it is assigned and planned, from the last sync.
        let added = format!(
            "{added}---\napiVersion: shopset.dev/v1alpha1\nkind: Shop\nmetadata: {{name: s-new-2}}\nspec: {{hosts: [s-new-2.example.com]}}\n"
        );
        drop((text, resources, plans));
        let text = resources_with_shops(
            n,
            &app_url,
            &system_url,
            Some(&next_app),
            &changed,
            &shops_text(m, &added),
        );
        let resources = load(&text);
        repos.forget_all();
        let told = shopset_engine::ops::warm::Changed {
            shops: ["s-new-2".to_owned()].into(),
            ..Default::default()
        };
        let (one, plans) =
            engine_sync_changed(&resources, &mut repos, &cache_repo, None, Some(&told));
        assert_eq!(one.commits, 1, "the new shop's tier only");
        let hand = hand_baseline(baseline, &plans, &clones);
        row("one shop added, told", &one, hand);

        // s-000000 moves to another ShopSet of its tier.
        let (tier, from) = plans
            .iter()
            .find_map(|p| {
                Some((
                    p.tier.clone(),
                    p.inputs.shops.get("s-000000")?.shop_set.clone(),
                ))
            })
            .expect("s-000000 is assigned");
        let to = plans
            .iter()
            .find(|p| p.tier == tier)
            .and_then(|p| p.inputs.shop_sets.keys().find(|k| **k != from).cloned())
            .expect("another ShopSet in the tier");
        let pinned = shops_text(m, &added).replacen(
            "{hosts: [s-000000.example.com]}",
            &format!("{{hosts: [s-000000.example.com], shopSet: {to}}}"),
            1,
        );
        drop((text, resources, plans));
        let text =
            resources_with_shops(n, &app_url, &system_url, Some(&next_app), &changed, &pinned);
        let resources = load(&text);
        repos.forget_all();
        let (moved, plans) = engine_sync(&resources, &mut repos, &cache_repo, None);
        assert_eq!(moved.commits, 1, "the shop's tier only");
        let hand = hand_baseline(baseline, &plans, &clones);
        row("one shop moved, warm", &moved, hand);

        // Another shop moved, told: s-000001 pinned to a ShopSet of its tier. The last plan
        // has a move under way, so first a plan of everything settles the engine's memory
        // (the move of s-000000 called off), then the told move.
        let settled = resources_with_shops(
            n,
            &app_url,
            &system_url,
            Some(&next_app),
            &changed,
            &shops_text(m, &added),
        );
        drop(resources);
        let resources = load(&settled);
        repos.forget_all();
        let _ = engine_sync(&resources, &mut repos, &cache_repo, None);
        let (tier, from) = plans
            .iter()
            .find_map(|p| {
                Some((
                    p.tier.clone(),
                    p.inputs.shops.get("s-000001")?.shop_set.clone(),
                ))
            })
            .expect("s-000001 is assigned");
        let to = plans
            .iter()
            .find(|p| p.tier == tier)
            .and_then(|p| p.inputs.shop_sets.keys().find(|k| **k != from).cloned())
            .expect("another ShopSet in the tier");
        let pinned = shops_text(m, &added).replacen(
            "{hosts: [s-000001.example.com]}",
            &format!("{{hosts: [s-000001.example.com], shopSet: {to}}}"),
            1,
        );
        drop((text, resources, plans));
        let text =
            resources_with_shops(n, &app_url, &system_url, Some(&next_app), &changed, &pinned);
        let resources = load(&text);
        repos.forget_all();
        let told = shopset_engine::ops::warm::Changed {
            shops: ["s-000001".to_owned()].into(),
            ..Default::default()
        };
        let (moved, plans) =
            engine_sync_changed(&resources, &mut repos, &cache_repo, None, Some(&told));
        assert_eq!(moved.commits, 1, "the shop's tier only");
        let hand = hand_baseline(baseline, &plans, &clones);
        row("one shop moved, told", &moved, hand);
        return;
    }

    // No-op.
    drop(plans);
    repos = Repos::new(&cache_dir);
    let (noop, plans) = engine_sync(&resources, &mut repos, &cache_repo, None);
    let start = Instant::now();
    for tier in plans.iter().filter(|_| baseline) {
        let root = clones.join(&tier.branch);
        git(&root, &["add", "-A"]);
        assert!(
            Command::new("git")
                .args(["diff", "--cached", "--quiet"])
                .current_dir(&root)
                .status()
                .unwrap()
                .success()
        );
    }
    let hand_noop = if baseline {
        start.elapsed().as_secs_f64()
    } else {
        f64::NAN
    };
    row("no-op", &noop, (hand_noop, 0.0));
    assert_eq!(
        (noop.commits, noop.pushes, noop.objects),
        (0, 0, 0),
        "a no-op writes nothing"
    );
}
