//! Hardening: an input mistake never deletes or moves a ShopSet, one resource never takes
//! another's place, a branch tip is a rendering only by content, and what is committed builds.
//! Each test is one mistake a user made, run through `shopctl sync` against the quickstart's
//! real repositories; each checks the error (file, kind and name, field, what was expected),
//! the exit code, and that the last good rendering is still there.

use std::path::PathBuf;
use std::process::Output;

use shopset_render::TierInputs;
use shopset_tests::{git, ok, run_shopctl};

/// The quickstart, synced once.
struct Quickstart {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

impl Quickstart {
    fn new() -> Self {
        let (tmp, dir) = shopset_tests::quickstart_without_shops();
        Self { _tmp: tmp, dir }
    }

    fn resources(&self) -> PathBuf {
        self.dir.join("resources")
    }

    fn system(&self) -> shopset_git::Repo {
        shopset_git::Repo::open(&self.dir.join("system.git").display().to_string())
            .expect("the system repository")
    }

    fn sync(&self, extra: &[&str]) -> Output {
        let resources = self.resources().display().to_string();
        let mut args = vec!["sync"];
        args.extend_from_slice(extra);
        args.extend(["-f", resources.as_str()]);
        run_shopctl(args)
    }

    fn tip(&self, branch: &str) -> Option<String> {
        self.system().tip(branch).expect("read the branch")
    }

    fn inputs(&self, branch: &str) -> TierInputs {
        let repo = self.system();
        let tip = repo.tip(branch).unwrap().expect("the branch exists");
        let bytes = repo
            .read_file(&tip, shopset_render::layout::INPUTS)
            .unwrap()
            .expect("recorded inputs");
        shopset_render::parse_inputs(std::str::from_utf8(&bytes).unwrap()).unwrap()
    }

    /// Replaces `from` with `to` in a resource file (which must contain it).
    fn edit(&self, file: &str, from: &str, to: &str) {
        let path = self.resources().join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file} holds {from:?}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    }

    fn write(&self, file: &str, text: &str) {
        let path = self.resources().join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The stderr line about `needle`, which must hold every one of `parts`.
fn error_line(out: &Output, needle: &str, parts: &[&str]) -> String {
    let err = stderr(out);
    let line = err
        .lines()
        .find(|l| l.contains(needle) && parts.iter().all(|p| l.contains(p)))
        .unwrap_or_else(|| panic!("no line about {needle:?} with {parts:?} in:\n{err}"));
    line.to_owned()
}

const SHOPSET: &str = "apiVersion: shopset.dev/v1alpha1\nkind: ShopSet\n";
const TIER: &str = "apiVersion: shopset.dev/v1alpha1\nkind: Tier\n";

#[test]
fn a_shopset_naming_a_missing_tier_stays_on_its_tier() {
    let qs = Quickstart::new();
    let before = qs.tip("tier-2");
    qs.edit(
        "shopsets.yaml",
        "  name: general-1\nspec:\n  tier: tier-2\n",
        "  name: general-1\nspec:\n  tier: tier-9\n",
    );
    let out = qs.sync(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    error_line(
        &out,
        "general-1",
        &[
            "shopsets.yaml",
            "ShopSet",
            "spec.tier",
            "\"tier-9\" does not exist",
        ],
    );
    assert_eq!(qs.tip("tier-2"), before, "nothing removed from tier-2");
    assert!(qs.inputs("tier-2").shop_sets.contains_key("general-1"));
}

#[test]
fn a_shopset_defined_twice_is_neither_moved_nor_removed() {
    let qs = Quickstart::new();
    let before = qs.tip("tier-2");
    // The copy sorts first: it used to win and move general-1 to tier-0.
    qs.write(
        "aa-copy.yaml",
        &format!("{SHOPSET}metadata: {{name: general-1}}\nspec: {{tier: tier-0, configuration: standard}}\n"),
    );
    let out = qs.sync(&[]);
    assert_eq!(out.status.code(), Some(1));
    error_line(
        &out,
        "general-1",
        &["ShopSet", "metadata.name", "defined twice"],
    );
    assert_eq!(qs.tip("tier-2"), before, "general-1 stays on tier-2");
    assert!(!qs.inputs("tier-0").shop_sets.contains_key("general-1"));
    assert!(qs.inputs("tier-2").shop_sets.contains_key("general-1"));
}

#[test]
fn resources_in_a_list_are_read_and_a_sequence_document_removes_nothing() {
    let qs = Quickstart::new();
    let file = qs.resources().join("shopsets.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    let docs = shopset_render::yaml::parse_documents(&text).unwrap();
    let list = serde_json::json!({ "apiVersion": "v1", "kind": "List", "items": docs });
    std::fs::write(&file, shopset_render::yaml::to_string(&list)).unwrap();
    let out = qs.sync(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).matches("unchanged").count(),
        3,
        "{}",
        stdout(&out)
    );

    // A document that is a list of resources, not a resource: said, and nothing removed.
    let sequence = serde_json::Value::Array(docs);
    std::fs::write(&file, shopset_render::yaml::to_string(&sequence)).unwrap();
    let out = qs.sync(&[]);
    assert_eq!(out.status.code(), Some(1));
    error_line(
        &out,
        "shopsets.yaml",
        &["expected a resource", "got a list"],
    );
    assert_eq!(
        stdout(&out).matches("unchanged").count(),
        3,
        "{}",
        stdout(&out)
    );
}

#[test]
fn other_kinds_beside_the_resources_are_warned_about_not_skipped_silently() {
    let qs = Quickstart::new();
    qs.write(
        "namespace.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: shops}\n",
    );
    let out = qs.sync(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let line = error_line(
        &out,
        "namespace.yaml",
        &["Namespace", "not a shopset resource"],
    );
    assert!(line.starts_with("warning:"), "{line}");
    assert!(
        !stderr(&out).contains('\u{1b}'),
        "no colour escapes in a pipe"
    );
}

#[test]
fn removing_the_last_shopsets_of_a_small_tier_waits_for_confirmation() {
    let qs = Quickstart::new();
    let before = qs.tip("tier-0");
    // tier-0 has two ShopSets, canary and staff-shops: both documents are deleted.
    let text = std::fs::read_to_string(qs.resources().join("shopsets.yaml")).unwrap();
    let kept: Vec<&str> = text
        .split("\n---\n")
        .filter(|d| !d.contains("name: canary\n") && !d.contains("name: staff-shops\n"))
        .collect();
    assert_eq!(kept.len(), 6);
    qs.write("shopsets.yaml", &kept.join("\n---\n"));
    let out = qs.sync(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("tier-0     tier-0     blocked"),
        "{}",
        stdout(&out)
    );
    error_line(
        &out,
        "tier-0",
        &["would remove 2 of 2 ShopSets", "every ShopSet of the tier"],
    );
    assert_eq!(qs.tip("tier-0"), before, "nothing written");
    let confirmed = qs.sync(&["--confirm-removals"]);
    assert!(confirmed.status.success(), "{}", stderr(&confirmed));
    assert!(qs.inputs("tier-0").shop_sets.is_empty());
}

#[test]
fn an_unreadable_subdirectory_is_named_and_the_rest_is_still_read() {
    let qs = Quickstart::new();
    let locked = qs.resources().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::write(locked.join("more.yaml"), "# nothing\n").unwrap();
    qs.write(
        "new.yaml",
        &format!("{SHOPSET}metadata: {{name: newcomer}}\nspec: {{tier: tier-2, configuration: standard}}\n"),
    );
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    // The tests run as root, who reads anything: drop the capabilities that let it.
    let out = std::process::Command::new("setpriv")
        .args([
            "--inh-caps=-dac_override,-dac_read_search",
            "--bounding-set=-dac_override,-dac_read_search",
        ])
        .arg(shopset_tests::shopctl())
        .args(["sync", "-f"])
        .arg(qs.resources())
        .output()
        .expect("setpriv (util-linux) runs");
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let line = error_line(&out, "locked", &["ermission denied"]);
    assert!(line.contains(&locked.display().to_string()), "{line}");
    let inputs = qs.inputs("tier-2");
    assert!(
        inputs.shop_sets.contains_key("newcomer"),
        "the readable files still count"
    );
    assert_eq!(inputs.shop_sets.len(), 5, "and nothing was removed");
}

#[test]
fn two_tiers_on_one_branch_are_both_refused() {
    let qs = Quickstart::new();
    let before = qs.tip("tier-2");
    let system = format!("file://{}", qs.dir.join("system.git").display());
    let app = format!("file://{}", qs.dir.join("app.git").display());
    qs.write(
        "tier-3.yaml",
        &format!(
            "{TIER}metadata: {{name: tier-3}}\nspec:\n  branch: tier-2\n  promotesFrom: tier-2\n  app: {{url: \"{app}\", path: kustomize}}\n  system: {{url: \"{system}\"}}\n"
        ),
    );
    let out = qs.sync(&[]);
    assert_eq!(out.status.code(), Some(1));
    error_line(
        &out,
        "Tier \"tier-3\"",
        &[
            "tier-3.yaml",
            "spec.branch",
            "also written by Tier \"tier-2\"",
        ],
    );
    error_line(
        &out,
        "Tier \"tier-2\"",
        &["spec.branch", "also written by Tier \"tier-3\""],
    );
    assert_eq!(
        qs.tip("tier-2"),
        before,
        "neither replaces the other's tree"
    );
}

#[test]
fn two_shopsets_in_one_namespace_on_one_destination_keep_the_first() {
    let qs = Quickstart::new();
    let before = qs.tip("tier-2");
    let domain = qs.inputs("tier-2").shop_sets["general-1"]
        .failure_domain
        .clone();
    qs.write(
        "intruder.yaml",
        &format!(
            "{SHOPSET}metadata: {{name: intruder}}\nspec: {{tier: tier-2, configuration: standard, failureDomain: {domain}, namespace: general-1, workloadDeletion: Delete}}\n"
        ),
    );
    let out = qs.sync(&[]);
    assert_eq!(out.status.code(), Some(1));
    error_line(
        &out,
        "ShopSet \"intruder\"",
        &[
            "intruder.yaml",
            "spec.namespace",
            "namespace \"general-1\"",
            "ShopSet \"general-1\"",
        ],
    );
    assert_eq!(qs.tip("tier-2"), before);
    assert!(!qs.inputs("tier-2").shop_sets.contains_key("intruder"));
}

#[test]
fn an_application_patch_cannot_move_applications_unless_the_tier_allows_it() {
    let qs = Quickstart::new();
    let before = qs.tip("tier-2");
    let evil =
        "      spec: {project: elsewhere, destination: {server: \"https://evil.example\"}}\n";
    qs.edit(
        "tiers.yaml",
        "    applicationPatch:\n      metadata:\n",
        &format!("    applicationPatch:\n{evil}      metadata:\n"),
    );
    let out = qs.sync(&[]);
    assert_eq!(out.status.code(), Some(1));
    error_line(
        &out,
        "Tier \"tier-2\"",
        &[
            "tiers.yaml",
            "spec.argocd.applicationPatch.spec.project",
            "applicationPatchAllows",
        ],
    );
    assert_eq!(qs.tip("tier-2"), before, "nothing of the tier written");

    // The name is never patchable.
    qs.edit("tiers.yaml", evil, "");
    qs.edit(
        "tiers.yaml",
        "      metadata:\n        annotations:\n",
        "      metadata:\n        name: one-for-all\n        annotations:\n",
    );
    let out = qs.sync(&[]);
    assert_eq!(out.status.code(), Some(1));
    error_line(
        &out,
        "Tier \"tier-2\"",
        &["applicationPatch.metadata.name", "cannot be patched"],
    );

    // Allowed explicitly: the project changes, the rest of the Application does not.
    qs.edit("tiers.yaml", "        name: one-for-all\n", "");
    qs.edit(
        "tiers.yaml",
        "    applicationPatch:\n      metadata:\n",
        "    applicationPatchAllows: [spec.project]\n    applicationPatch:\n      spec: {project: shops}\n      metadata:\n",
    );
    let out = qs.sync(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let repo = qs.system();
    let tip = repo.tip("tier-2").unwrap().unwrap();
    let app = repo
        .read_file(&tip, &shopset_render::layout::application_file("general-1"))
        .unwrap()
        .unwrap();
    let app = shopset_render::yaml::parse(std::str::from_utf8(&app).unwrap()).unwrap();
    assert_eq!(app["spec"]["project"], "shops");
    assert_eq!(app["metadata"]["name"], "general-1");
}

#[test]
fn a_person_commit_reusing_our_message_is_rendered_over() {
    let qs = Quickstart::new();
    let work = qs.dir.join("work");
    let system = qs.dir.join("system.git");
    ok(&git(
        &qs.dir,
        &[
            "clone",
            "--branch",
            "tier-2",
            &system.display().to_string(),
            &work.display().to_string(),
        ],
    ));
    let app = shopset_render::layout::application_file("general-1");
    let original = std::fs::read_to_string(work.join(&app)).unwrap();
    let edited = original.replace("project: production", "project: hand-edited");
    assert_ne!(edited, original);
    std::fs::write(work.join(&app), &edited).unwrap();
    ok(&git(&work, &["commit", "-a", "-C", "HEAD"]));
    ok(&git(&work, &["push", "origin", "tier-2"]));

    // Another ShopSet changes: an edit on top of the tip would keep the hand edit.
    qs.edit(
        "shopsets.yaml",
        "  name: general-3\nspec:\n  tier: tier-2\n",
        "  name: general-3\nspec:\n  suspend: true\n  tier: tier-2\n",
    );
    let out = qs.sync(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("not what its recorded inputs render to"),
        "{err}"
    );
    assert!(
        !err.contains('\u{1b}'),
        "a log in a pipe carries no colour escapes: {err:?}"
    );
    let repo = qs.system();
    let tip = repo.tip("tier-2").unwrap().unwrap();
    let after = repo.read_file(&tip, &app).unwrap().unwrap();
    assert_eq!(
        String::from_utf8(after).unwrap(),
        original,
        "the rendering is restored"
    );
    // And the tree is exactly what its recorded inputs render to.
    let rendered = shopset_render::render_tier(&qs.inputs("tier-2")).unwrap();
    assert_eq!(
        repo.write_tree(&rendered).unwrap(),
        repo.tree_id(&tip).unwrap()
    );
}

#[test]
fn a_replicas_override_for_a_workload_the_base_lacks_is_not_committed() {
    let qs = Quickstart::new();
    let before = qs.inputs("tier-2").shop_sets["big-sellers"].clone();
    qs.edit(
        "shopsets.yaml",
        "      storefront: 6\n",
        "      storefront: 6\n      storefrnt: 2\n",
    );
    let out = qs.sync(&[]);
    assert_eq!(out.status.code(), Some(1));
    error_line(
        &out,
        "big-sellers",
        &[
            "shopsets.yaml",
            "replicas.storefrnt",
            "no workload named",
            "storefront",
        ],
    );
    assert_eq!(
        qs.inputs("tier-2").shop_sets["big-sellers"],
        before,
        "kept at its last rendering"
    );
}

#[test]
fn a_value_beyond_a_configmap_is_not_committed() {
    let qs = Quickstart::new();
    let before = qs.inputs("tier-2").shop_sets["big-sellers"].clone();
    let big = "x".repeat(1024 * 1024 + 1);
    qs.edit(
        "shopsets.yaml",
        "      SALE_BANNER: \"Year-end sale: up to 50% off\"\n",
        &format!("      SALE_BANNER: \"{big}\"\n"),
    );
    let out = qs.sync(&[]);
    assert_eq!(out.status.code(), Some(1));
    error_line(
        &out,
        "big-sellers",
        &["values", "a ConfigMap holds at most 1048576"],
    );
    assert_eq!(qs.inputs("tier-2").shop_sets["big-sellers"], before);
}

#[test]
fn a_tier_whose_app_path_holds_no_kustomization_is_not_written() {
    let qs = Quickstart::new();
    let before = qs.tip("tier-1");
    let text = std::fs::read_to_string(qs.resources().join("tiers.yaml")).unwrap();
    let at = text.find("  name: tier-1\n").unwrap();
    let (head, tail) = text.split_at(at);
    let tail = tail.replacen("    path: kustomize\n", "    path: no/such/dir\n", 1);
    qs.write("tiers.yaml", &format!("{head}{tail}"));
    let out = qs.sync(&[]);
    assert_eq!(out.status.code(), Some(1));
    error_line(
        &out,
        "Tier \"tier-1\"",
        &["spec.app.path", "no kustomization", "no/such/dir"],
    );
    assert_eq!(qs.tip("tier-1"), before);
}

#[test]
fn a_tier_name_too_long_for_its_root_application_is_refused() {
    let qs = Quickstart::new();
    let name = format!("t{}", "x".repeat(55)); // 56 characters: shopset-<name> is 64
    let system = format!("file://{}", qs.dir.join("system.git").display());
    let app = format!("file://{}", qs.dir.join("app.git").display());
    qs.write(
        "long.yaml",
        &format!(
            "{TIER}metadata: {{name: {name}}}\nspec:\n  branch: tier-0\n  app: {{url: \"{app}\"}}\n  system: {{url: \"{system}-other\"}}\n"
        ),
    );
    let out = qs.sync(&[]);
    assert_eq!(out.status.code(), Some(1));
    error_line(
        &out,
        &name,
        &["long.yaml", "Tier", "metadata.name", "at most 55"],
    );
    assert!(
        !qs.dir.join("system.git-other").exists(),
        "nothing written for it"
    );
}

#[test]
fn a_configuration_path_out_of_the_repository_is_named_on_the_configuration() {
    let qs = Quickstart::new();
    let before = qs.tip("tier-2");
    qs.edit(
        "configurations.yaml",
        "    path: configurations/standard.yaml\n",
        "    path: ../../etc/passwd\n",
    );
    let out = qs.sync(&[]);
    assert_eq!(out.status.code(), Some(1));
    let line = error_line(
        &out,
        "Configuration",
        &[
            "configurations.yaml",
            "\"standard\"",
            "spec.source.path",
            "no '..'",
        ],
    );
    assert!(!line.contains("cache"), "{line}");
    let err = stderr(&out);
    assert!(!err.contains("does not exist"), "{err}");
    error_line(
        &out,
        "general-1",
        &["spec.configuration", "\"standard\" is invalid"],
    );
    assert_eq!(
        qs.tip("tier-2"),
        before,
        "its ShopSets keep their rendering"
    );
}

#[test]
fn a_configuration_file_that_is_a_symlink_is_named_on_the_configuration() {
    let qs = Quickstart::new();
    let work = qs.dir.join("config-work");
    let config = qs.dir.join("config.git");
    ok(&git(
        &qs.dir,
        &[
            "clone",
            "--branch",
            "tier-2",
            &config.display().to_string(),
            &work.display().to_string(),
        ],
    ));
    std::os::unix::fs::symlink("/etc/passwd", work.join("configurations/link.yaml")).unwrap();
    ok(&git(&work, &["add", "-A"]));
    ok(&git(&work, &["commit", "-m", "a link"]));
    ok(&git(&work, &["push", "origin", "tier-2"]));
    qs.edit(
        "configurations.yaml",
        "    path: configurations/standard.yaml\n",
        "    path: configurations/link.yaml\n",
    );
    let out = qs.sync(&[]);
    assert_eq!(out.status.code(), Some(1));
    let line = error_line(
        &out,
        "Configuration \"standard\"",
        &["spec.source.path", "symlink"],
    );
    assert!(!line.contains(".cache"), "{line}");
}

#[test]
fn a_tier_branch_that_is_no_ref_name_is_named_on_spec_branch() {
    let qs = Quickstart::new();
    qs.edit(
        "tiers.yaml",
        "  name: tier-1\nspec:\n",
        "  name: tier-1\nspec:\n  branch: \"tier..1\"\n",
    );
    let out = qs.sync(&[]);
    assert_eq!(out.status.code(), Some(1));
    let line = error_line(
        &out,
        "Tier \"tier-1\"",
        &["tiers.yaml", "spec.branch", "expected a DNS label"],
    );
    assert!(!line.contains("origin/"), "{line}");
}

#[test]
fn a_broken_promotion_chain_is_reported_by_sync_and_status() {
    let qs = Quickstart::new();
    qs.edit(
        "tiers.yaml",
        "  promotesFrom: tier-0\n",
        "  promotesFrom: tier-7\n",
    );
    let out = qs.sync(&[]);
    assert_eq!(out.status.code(), Some(1));
    error_line(
        &out,
        "Tier \"tier-1\"",
        &["spec.promotesFrom", "\"tier-7\" does not exist"],
    );
    let resources = qs.resources().display().to_string();
    let status = run_shopctl(["status", "-f", resources.as_str()]);
    assert_eq!(status.status.code(), Some(1), "{}", stdout(&status));
    assert!(
        stdout(&status).contains("\"tier-7\" does not exist"),
        "{}",
        stdout(&status)
    );

    qs.edit(
        "tiers.yaml",
        "  promotesFrom: tier-7\n",
        "  promotesFrom: tier-2\n",
    );
    let out = qs.sync(&[]);
    assert_eq!(out.status.code(), Some(1));
    error_line(
        &out,
        "Tier \"tier-1\"",
        &["promotion cycle tier-1 <- tier-2 <- tier-1"],
    );
}
