//! Bad input: a clear error naming the file, the resource and the field; the other resources
//! still render; what was already written is not lost.

use shopset_tests::run_shopctl;

#[test]
fn one_bad_shopset_is_reported_and_the_others_render() {
    let (_tmp, dir) = shopset_tests::quickstart();
    let resources = dir.join("resources");
    let system = dir.join("system.git").display().to_string();

    // general-1 (already rendered) gets a bad field; a new ShopSet names a missing configuration;
    // another new one is fine.
    let shopsets = resources.join("shopsets.yaml");
    let text = std::fs::read_to_string(&shopsets).unwrap();
    let broken = text.replace(
        "  name: general-1\nspec:\n  tier: tier-2\n",
        "  name: general-1\nspec:\n  maintenance: sometimes\n  tier: tier-2\n",
    );
    assert_ne!(broken, text);
    std::fs::write(&shopsets, broken).unwrap();
    std::fs::write(
        resources.join("more.yaml"),
        "apiVersion: shopset.dev/v1alpha1\nkind: ShopSet\nmetadata:\n  name: orphan-config\nspec:\n  tier: tier-2\n  configuration: missing\n---\n\
         apiVersion: shopset.dev/v1alpha1\nkind: ShopSet\nmetadata:\n  name: newcomer\nspec:\n  tier: tier-2\n  configuration: standard\n",
    )
    .unwrap();

    let out = run_shopctl(["sync", "-f", &resources.display().to_string()]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a failed resource makes the exit code 1"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr
        .lines()
        .find(|l| l.contains("general-1"))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(
        line.contains("shopsets.yaml")
            && line.contains("ShopSet")
            && line.contains("spec.maintenance")
            && line.contains("expected a boolean"),
        "{line}"
    );
    let line = stderr
        .lines()
        .find(|l| l.contains("orphan-config"))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(
        line.contains("more.yaml")
            && line.contains("spec.configuration")
            && line.contains("\"missing\" does not exist"),
        "{line}"
    );

    let repo = shopset_git::Repo::open(&system).unwrap();
    let tip = repo.tip("tier-2").unwrap().unwrap();
    let inputs = shopset_render::parse_inputs(
        std::str::from_utf8(
            &repo
                .read_file(&tip, ".shopset/inputs.yaml")
                .unwrap()
                .unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert!(
        inputs.shop_sets.contains_key("newcomer"),
        "the good new ShopSet is rendered"
    );
    assert!(
        !inputs.shop_sets.contains_key("orphan-config"),
        "the bad new one is not"
    );
    assert!(
        inputs.shop_sets.contains_key("general-1"),
        "the broken one keeps its last rendering"
    );
    assert!(!inputs.shop_sets["general-1"].spec.maintenance);
    assert!(
        repo.read_file(
            &tip,
            &format!(
                "{}/kustomization.yaml",
                shopset_render::layout::shopset_dir("general-1")
            )
        )
        .unwrap()
        .is_some()
    );
    let message = repo.message(&tip).unwrap();
    assert!(
        message.contains("Added: newcomer")
            && message.contains("Kept at last rendered version (invalid input): general-1"),
        "{message}"
    );
}

#[test]
fn an_unreadable_file_removes_nothing() {
    let (_tmp, dir) = shopset_tests::quickstart();
    let resources = dir.join("resources");
    // The ShopSets file is unreadable YAML: nobody may be deleted because of it.
    std::fs::write(resources.join("shopsets.yaml"), "apiVersion: [unclosed\n").unwrap();
    let out = run_shopctl(["sync", "-f", &resources.display().to_string()]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.matches("unchanged").count(), 3, "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("shopsets.yaml"), "{stderr}");
}

#[test]
fn a_bad_tier_does_not_stop_the_other_tiers() {
    let (_tmp, dir) = shopset_tests::quickstart();
    let tiers = dir.join("resources/tiers.yaml");
    let text = std::fs::read_to_string(&tiers).unwrap();
    // tier-0's app path escapes the repository.
    let bad = text.replacen("    path: kustomize\n", "    path: ../../etc\n", 1);
    std::fs::write(&tiers, bad).unwrap();
    let out = run_shopctl(["sync", "-f", &dir.join("resources").display().to_string()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Tier \"tier-0\"") && stderr.contains("spec.app.path"),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("tier-1") && stdout.contains("tier-2") && !stdout.contains("tier-0 "),
        "{stdout}"
    );
}

#[test]
fn removing_many_shopsets_at_once_stops_until_confirmed() {
    let (_tmp, dir) = shopset_tests::quickstart_without_shops();
    let resources = dir.join("resources");
    let file = resources.join("shopsets.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    // Keep only the first five documents: tier-2 loses three of its four ShopSets.
    let kept: Vec<&str> = text.split("\n---\n").take(5).collect();
    std::fs::write(&file, kept.join("\n---\n")).unwrap();
    let system = dir.join("system.git").display().to_string();
    let repo = shopset_git::Repo::open(&system).unwrap();
    let before = repo.tip("tier-2").unwrap();

    let out = run_shopctl(["sync", "-f", &resources.display().to_string()]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("tier-2     tier-2     blocked"), "{stdout}");
    assert!(
        stderr.contains("would remove 3 of 4 ShopSets") && stderr.contains("--confirm-removals"),
        "{stderr}"
    );
    assert_eq!(repo.tip("tier-2").unwrap(), before, "nothing written");

    let confirmed = run_shopctl([
        "sync",
        "--confirm-removals",
        "-f",
        &resources.display().to_string(),
    ]);
    assert!(
        confirmed.status.success(),
        "{}",
        String::from_utf8_lossy(&confirmed.stderr)
    );
    let stdout = String::from_utf8_lossy(&confirmed.stdout);
    assert!(
        stdout.contains("tier-2     tier-2     committed") && stdout.contains("3 removed"),
        "{stdout}"
    );
}

#[test]
fn shopctl_sync_honours_the_tiers_removal_confirmation_annotation() {
    let (_tmp, dir) = shopset_tests::quickstart_without_shops();
    let resources = dir.join("resources");
    let file = resources.join("shopsets.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    let kept: Vec<&str> = text.split("\n---\n").take(5).collect();
    std::fs::write(&file, kept.join("\n---\n")).unwrap();
    let repo = shopset_git::Repo::open(&dir.join("system.git").display().to_string()).unwrap();
    let before = repo.tip("tier-2").unwrap();
    let sync = || run_shopctl(["sync", "-f", &resources.display().to_string()]);

    let blocked = sync();
    assert_eq!(blocked.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&blocked.stderr).into_owned();
    let token = stderr
        .split("shopset.dev/confirm-removals=")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .expect("the message names the token")
        .to_owned();
    let tiers = resources.join("tiers.yaml");
    let original = std::fs::read_to_string(&tiers).unwrap();
    let annotate = |value: &str| {
        let annotated = original.replacen(
            "  name: tier-2\n",
            &format!(
                "  name: tier-2\n  annotations:\n    shopset.dev/confirm-removals: \"{value}\"\n"
            ),
            1,
        );
        assert_ne!(annotated, original, "the Tier was annotated");
        std::fs::write(&tiers, annotated).unwrap();
    };

    // Another set's token confirms nothing.
    annotate("0000000000000000");
    let still = sync();
    assert_eq!(still.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&still.stdout).contains("tier-2     tier-2     blocked"));
    assert_eq!(repo.tip("tier-2").unwrap(), before, "nothing written");

    // The token of this exact set lets it through, as it does in the controller.
    annotate(&token);
    let confirmed = sync();
    assert!(
        confirmed.status.success(),
        "{}",
        String::from_utf8_lossy(&confirmed.stderr)
    );
    let stdout = String::from_utf8_lossy(&confirmed.stdout);
    assert!(
        stdout.contains("tier-2     tier-2     committed") && stdout.contains("3 removed"),
        "{stdout}"
    );
}

#[test]
fn shopctl_sync_stops_at_the_tiers_own_removal_limits() {
    let (_tmp, dir) = shopset_tests::quickstart_without_shops();
    let resources = dir.join("resources");
    let file = resources.join("shopsets.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    let docs: Vec<&str> = text.split("\n---\n").collect();
    assert!(docs.last().unwrap().contains("name: general-3"));
    std::fs::write(&file, docs[..docs.len() - 1].join("\n---\n")).unwrap();
    let tiers = resources.join("tiers.yaml");
    let original = std::fs::read_to_string(&tiers).unwrap();
    let strict = original.replacen(
        "  promotesFrom: tier-1\n",
        "  promotesFrom: tier-1\n  safety:\n    maxRemovals:\n      count: 0\n",
        1,
    );
    assert_ne!(strict, original, "the limit was set");
    std::fs::write(&tiers, strict).unwrap();
    let repo = shopset_git::Repo::open(&dir.join("system.git").display().to_string()).unwrap();
    let before = repo.tip("tier-2").unwrap();
    let sync = || run_shopctl(["sync", "-f", &resources.display().to_string()]);

    // One removal of four: under the defaults (more than 2) it would pass; this Tier allows 0.
    let blocked = sync();
    assert_eq!(blocked.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&blocked.stderr);
    assert!(
        stderr.contains("would remove 1 of 4 ShopSets (general-3)")
            && stderr
                .contains("more than 10% and more than 0 (the Tier's spec.safety.maxRemovals)"),
        "{stderr}"
    );
    assert_eq!(repo.tip("tier-2").unwrap(), before, "nothing written");

    // The Tier's defaults let the same removal through.
    std::fs::write(&tiers, &original).unwrap();
    let passed = sync();
    assert!(
        passed.status.success(),
        "{}",
        String::from_utf8_lossy(&passed.stderr)
    );
    assert!(String::from_utf8_lossy(&passed.stdout).contains("1 removed"));
    assert_ne!(repo.tip("tier-2").unwrap(), before);
}
