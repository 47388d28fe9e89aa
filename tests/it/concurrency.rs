//! Many writers on one branch of a real git server: engine instances in threads and `shopctl`
//! processes, plus a person pushing hand-made commits. Afterwards every writer's last intent is
//! in the tree, every human commit is reachable, history is linear, the server never saw a
//! non-fast-forward update, and retries stayed bounded.

use std::path::{Path, PathBuf};

use shopset_engine::{Author, Repos, Resources, SyncOptions, TierOutcome};
use shopset_tests::servers::{GitDaemon, bare_repo};
use shopset_tests::{app_repo_from_dir, fixtures, git, ok, shopctl_command};

const THREADS: usize = 3;
const THREAD_ROUNDS: usize = 6;
const PROCESSES: usize = 2;
const PROCESS_ROUNDS: usize = 4;
const HUMAN_COMMITS: usize = 4;
/// The bound on plans per sync in this test. Five writers hammering one branch is far more
/// contention than production sees (one writer per branch, by lease, plus people); the default
/// is 12.
const MAX_ATTEMPTS: u32 = 16;

fn write_atomic(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(tmp, path).unwrap();
}

fn shopset(name: &str, round: usize) -> String {
    format!(
        "apiVersion: shopset.dev/v1alpha1\nkind: ShopSet\nmetadata: {{name: {name}}}\nspec:\n  tier: tier-0\n  configuration: plan\n  overrides: {{values: {{ROUND: \"{round}\"}}}}\n"
    )
}

fn load(dir: &Path) -> Resources {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let mut r = Resources::default();
    for f in files {
        r.add_text(
            &f.display().to_string(),
            &std::fs::read_to_string(&f).unwrap(),
        );
    }
    r
}

#[test]
fn racing_writers_lose_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let served = dir.join("served");
    bare_repo(&served.join("system.git"));
    let daemon = GitDaemon::start(&served);
    let url = daemon.url("system.git");
    let app = dir.join("app.git");
    app_repo_from_dir(&app, &fixtures().join("apps/podinfo"), &["tier-0"]);
    let resources = dir.join("resources");
    std::fs::create_dir_all(&resources).unwrap();
    std::fs::write(
        resources.join("base.yaml"),
        format!(
            "apiVersion: shopset.dev/v1alpha1\nkind: Tier\nmetadata: {{name: tier-0}}\nspec:\n  app: {{url: \"{}\", path: kustomize}}\n  system: {{url: \"{url}\"}}\n---\n\
             apiVersion: shopset.dev/v1alpha1\nkind: Configuration\nmetadata: {{name: plan}}\nspec:\n  inline: {{values: {{A: \"1\"}}}}\n---\n\
             apiVersion: shopset.dev/v1alpha1\nkind: FailureDomain\nmetadata: {{name: zone}}\nspec:\n  destination: {{name: c1}}\n",
            app.display()
        ),
    )
    .unwrap();
    let writers: Vec<String> = (0..THREADS)
        .map(|i| format!("thread-{i}"))
        .chain((0..PROCESSES).map(|i| format!("process-{i}")))
        .collect();
    for w in &writers {
        write_atomic(&resources.join(format!("{w}.yaml")), &shopset(w, 0));
    }

    std::thread::scope(|scope| {
        let mut handles = Vec::new();
        for t in 0..THREADS {
            let (resources, dir) = (resources.clone(), dir.to_owned());
            handles.push(scope.spawn(move || {
                let name = format!("thread-{t}");
                let mut repos = Repos::new(dir.join(format!("cache-{name}")));
                let author = Author {
                    name: name.clone(),
                    email: "t@t".into(),
                    producer: "test".into(),
                    time: None,
                    signer: None,
                };
                let mut max_attempts = 0;
                for round in 1..=THREAD_ROUNDS {
                    write_atomic(
                        &resources.join(format!("{name}.yaml")),
                        &shopset(&name, round),
                    );
                    let result = shopset_engine::sync(
                        &load(&resources),
                        &mut repos,
                        &author,
                        &SyncOptions {
                            max_attempts: MAX_ATTEMPTS,
                            ..SyncOptions::default()
                        },
                    );
                    for tier in &result.tiers {
                        assert!(
                            !matches!(tier.outcome, TierOutcome::Failed { .. }),
                            "{name} round {round}: {:?}",
                            tier.outcome
                        );
                    }
                    max_attempts = max_attempts.max(result.attempts);
                    repos = Repos::new(dir.join(format!("cache-{name}")));
                    // Writers arrive at slightly different moments, as controllers and people do.
                    std::thread::sleep(std::time::Duration::from_millis(
                        ((t * 37 + round * 53) % 60) as u64,
                    ));
                }
                max_attempts
            }));
        }
        for p in 0..PROCESSES {
            let (resources, dir) = (resources.clone(), dir.to_owned());
            handles.push(scope.spawn(move || {
                let name = format!("process-{p}");
                for round in 1..=PROCESS_ROUNDS {
                    write_atomic(
                        &resources.join(format!("{name}.yaml")),
                        &shopset(&name, round),
                    );
                    let out = shopctl_command()
                        .env("SHOPSET_CACHE_DIR", dir.join(format!("cache-{name}")))
                        .args(["-o", "json", "sync", "-f"])
                        .arg(&resources)
                        .output()
                        .unwrap();
                    assert!(
                        out.status.success(),
                        "{name} round {round}: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
                0
            }));
        }
        let human_dir = dir.join("human");
        let served_url = url.clone();
        let human = scope.spawn(move || {
            let mut commits = Vec::new();
            // Wait for the branch to exist, then commit by hand between the writers' pushes.
            for _ in 0..200 {
                let out = git(dir, &["ls-remote", &served_url, "refs/heads/tier-0"]);
                if !String::from_utf8_lossy(&out.stdout).is_empty() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            ok(&git(
                dir,
                &[
                    "clone",
                    "--quiet",
                    "--branch",
                    "tier-0",
                    &served_url,
                    &human_dir.display().to_string(),
                ],
            ));
            for n in 0..HUMAN_COMMITS {
                std::fs::write(
                    human_dir.join(format!("NOTE-{n}.txt")),
                    format!("a person wrote this ({n})\n"),
                )
                .unwrap();
                ok(&git(&human_dir, &["add", "-A"]));
                ok(&git(
                    &human_dir,
                    &["commit", "--quiet", "-m", &format!("note {n}, by hand")],
                ));
                let mut pushed = false;
                for _ in 0..50 {
                    if git(&human_dir, &["push", "--quiet", "origin", "HEAD:tier-0"])
                        .status
                        .success()
                    {
                        pushed = true;
                        break;
                    }
                    ok(&git(
                        &human_dir,
                        &["pull", "--quiet", "--rebase", "origin", "tier-0"],
                    ));
                }
                assert!(pushed, "the person could push");
                commits.push(
                    String::from_utf8_lossy(&git(&human_dir, &["rev-parse", "HEAD"]).stdout)
                        .trim()
                        .to_owned(),
                );
                std::thread::sleep(std::time::Duration::from_millis(30));
            }
            commits
        });
        let attempts: Vec<u32> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        eprintln!("plans per sync, worst per thread writer: {attempts:?}");
        assert!(attempts.iter().all(|a| *a <= MAX_ATTEMPTS), "{attempts:?}");
        let human_commits = human.join().unwrap();

        // One last sync sees every writer's final file.
        let final_out = shopctl_command()
            .env("SHOPSET_CACHE_DIR", dir.join("cache-final"))
            .args(["sync", "-f"])
            .arg(&resources)
            .output()
            .unwrap();
        assert!(
            final_out.status.success(),
            "{}",
            String::from_utf8_lossy(&final_out.stderr)
        );
        let served_repo = served.join("system.git");
        let gd = served_repo.display().to_string();
        let tip =
            String::from_utf8_lossy(&git(dir, &["--git-dir", &gd, "rev-parse", "tier-0"]).stdout)
                .trim()
                .to_owned();

        let inputs = String::from_utf8(
            ok(&git(
                dir,
                &["--git-dir", &gd, "show", "tier-0:.shopset/inputs.yaml"],
            ))
            .into_bytes(),
        )
        .unwrap();
        let inputs = shopset_render::parse_inputs(&inputs).unwrap();
        for w in &writers {
            let last = if w.starts_with("thread") {
                THREAD_ROUNDS
            } else {
                PROCESS_ROUNDS
            };
            let values = &inputs.shop_sets[w]
                .spec
                .overrides
                .as_ref()
                .unwrap()
                .body
                .values;
            assert_eq!(
                values["ROUND"].as_deref(),
                Some(last.to_string().as_str()),
                "{w}: its last intent"
            );
        }
        for c in &human_commits {
            assert!(
                git(
                    dir,
                    &["--git-dir", &gd, "merge-base", "--is-ancestor", c, &tip]
                )
                .status
                .success(),
                "human commit {c} is reachable"
            );
        }
        let merges = ok(&git(
            dir,
            &["--git-dir", &gd, "rev-list", "--min-parents=2", &tip],
        ));
        assert!(merges.trim().is_empty(), "history is linear");
        let reflog = std::fs::read_to_string(served_repo.join("logs/refs/heads/tier-0")).unwrap();
        let mut updates = 0;
        for line in reflog.lines() {
            let mut f = line.split_whitespace();
            let (old, new) = (f.next().unwrap(), f.next().unwrap());
            updates += 1;
            if old.chars().all(|c| c == '0') {
                continue;
            }
            assert!(
                git(
                    dir,
                    &["--git-dir", &gd, "merge-base", "--is-ancestor", old, new]
                )
                .status
                .success(),
                "non-fast-forward {old} -> {new}"
            );
        }
        assert!(updates >= HUMAN_COMMITS + 2, "{updates} updates");
    });
}

/// The sync asks its deadline again before each tier it writes: a lease renewed during the
/// sync lets it go on, a branch whose lease is gone is not written (a transient failure).
#[test]
fn the_deadline_is_asked_again_before_each_tier() {
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let app = dir.join("app.git");
    app_repo_from_dir(
        &app,
        &fixtures().join("apps/podinfo"),
        &["tier-0", "tier-1"],
    );
    let system = dir.join("system.git");
    bare_repo(&system);
    let (app, system_url) = (app.display().to_string(), system.display().to_string());
    let tiers = format!(
        "apiVersion: shopset.dev/v1alpha1\nkind: Tier\nmetadata: {{name: tier-0}}\nspec:\n  app: {{url: \"{app}\", path: kustomize}}\n  system: {{url: \"{system_url}\"}}\n---\napiVersion: shopset.dev/v1alpha1\nkind: Tier\nmetadata: {{name: tier-1}}\nspec:\n  promotesFrom: tier-0\n  app: {{url: \"{app}\", path: kustomize}}\n  system: {{url: \"{system_url}\"}}\n---\napiVersion: shopset.dev/v1alpha1\nkind: Configuration\nmetadata: {{name: plan}}\nspec:\n  inline: {{values: {{A: \"1\"}}}}\n"
    );
    std::fs::write(dir.join("tiers.yaml"), &tiers).unwrap();
    for (i, tier) in ["tier-0", "tier-1"].iter().enumerate() {
        std::fs::write(
            dir.join(format!("s{i}.yaml")),
            format!("apiVersion: shopset.dev/v1alpha1\nkind: ShopSet\nmetadata: {{name: s{i}}}\nspec:\n  tier: {tier}\n  configuration: plan\n"),
        )
        .unwrap();
    }
    let resources = load(dir);
    assert!(resources.errors.is_empty(), "{:?}", resources.errors);
    let author = Author {
        name: "t".into(),
        email: "t@t".into(),
        producer: "test".into(),
        time: Some(1_767_225_600),
        signer: None,
    };
    let outcomes = |deadline: shopset_engine::Deadline| {
        let result = shopset_engine::sync(
            &resources,
            &mut Repos::new(dir.join("cache")),
            &author,
            &SyncOptions {
                deadline: Some(deadline),
                ..SyncOptions::default()
            },
        );
        result
            .tiers
            .into_iter()
            .map(|t| (t.plan.tier, t.outcome))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let tip = |branch: &str| {
        shopset_git::Repo::open(&system_url)
            .unwrap()
            .tip(branch)
            .unwrap()
    };

    // tier-1's lease is gone: tier-0 is written, tier-1 fails, transiently, and is not pushed.
    let outcome = outcomes(shopset_engine::Deadline::new(|branch| {
        (branch == "tier-0").then(|| Instant::now() + Duration::from_secs(60))
    }));
    assert!(
        matches!(outcome["tier-0"], TierOutcome::Committed { .. }),
        "{outcome:?}"
    );
    let TierOutcome::Failed { error } = &outcome["tier-1"] else {
        panic!("tier-1 is not written: {outcome:?}");
    };
    assert_eq!(error, &shopset_engine::WriteError::LeaseLapsed);
    assert!(error.transient());
    assert!(tip("tier-1").is_none(), "nothing pushed to tier-1");

    // Each tier's branch is asked for when that tier is reached, not once at the start: a
    // lease that only holds from the moment it is asked (renewed meanwhile) lets each through.
    let asked = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&asked);
    let outcome = outcomes(shopset_engine::Deadline::new(move |branch| {
        log.lock().unwrap().push(branch.to_owned());
        Some(Instant::now() + Duration::from_secs(60))
    }));
    assert!(
        matches!(outcome["tier-1"], TierOutcome::Committed { .. }),
        "{outcome:?}"
    );
    assert!(
        matches!(outcome["tier-0"], TierOutcome::Unchanged { .. }),
        "{outcome:?}"
    );
    assert!(tip("tier-1").is_some());
    assert_eq!(
        *asked.lock().unwrap(),
        ["tier-1"],
        "asked for the tier it writes, when it writes it (an unchanged tier writes nothing)"
    );
}
