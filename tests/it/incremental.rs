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
    let author = Author {
        name: "t".into(),
        email: "t@t".into(),
        producer: "test".into(),
        time: Some(1_767_225_600),
        signer: None,
    };
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
    let repo = shopset_git::Repo::open(&url).unwrap();
    for tier in &result.tiers {
        assert!(
            !matches!(tier.outcome, TierOutcome::Failed { .. }),
            "{step}: {:?}",
            tier.outcome
        );
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
