//! Helpers for the cross-crate tests: paths, the `shopctl` binary, real git and real Kustomize.
//!
//! Tools the tests need (`git`, `kubectl`) must be installed: a missing tool fails the test, it
//! never skips it.

pub mod controller;
pub mod fake_api;
pub mod fake_chat;
pub mod fake_github;
pub mod servers;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The workspace root.
#[must_use]
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_owned()
}

/// `../shared/fixtures`, beside the project.
#[must_use]
pub fn fixtures() -> PathBuf {
    let dir = root().join("../shared/fixtures");
    assert!(
        dir.is_dir(),
        "the shared fixtures are missing at {}",
        dir.display()
    );
    dir
}

/// Fails (never skips) when `tool` is not installed.
pub fn require(tool: &str) {
    let ok = Command::new(tool).arg("version").output().is_ok();
    assert!(ok, "{tool} is required by this test but is not installed");
}

/// The `shopctl` binary, built once per test process.
pub fn shopctl() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| built("shopctl", "shopctl")).clone()
}

/// Builds `package` with cargo in the profile of the running test or benchmark (a benchmark
/// runs from `target/release`: the binaries it starts are release ones too) and returns the
/// path of its binary `bin`.
pub fn built(package: &str, bin: &str) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/<test> -> target/<profile>/<bin>
    let profile_dir = exe.parent().and_then(Path::parent).expect("target dir");
    let mut build = Command::new(cargo);
    build.args(["build", "--quiet", "-p", package]);
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        build.arg("--release");
    }
    let status = build.current_dir(root()).status().expect("cargo runs");
    assert!(status.success(), "building {package} failed");
    profile_dir.join(bin)
}

/// A `shopctl` command with a cache directory of this test process.
#[must_use]
pub fn shopctl_command() -> Command {
    let mut cmd = Command::new(shopctl());
    cmd.env(
        "SHOPSET_CACHE_DIR",
        std::env::temp_dir().join(format!("shopset-test-cache-{}", std::process::id())),
    );
    cmd
}

/// Runs `shopctl` with `args`.
pub fn run_shopctl<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Command::new(shopctl())
        .args(args)
        .output()
        .expect("shopctl runs")
}

/// Runs `shopctl quickstart` in a new temporary directory; returns it and the quickstart
/// directory inside it.
pub fn quickstart() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let dir = tmp.path().join("qs");
    ok(&run_shopctl([
        "quickstart",
        "--dir",
        &dir.display().to_string(),
    ]));
    (tmp, dir)
}

/// The quickstart as it was before the example had shops: the same repositories and
/// resources without `resources/shops.yaml`, synced by `shopctl sync`. For the tests of
/// ShopSets alone (removals, counts), which a ShopSet that serves shops would hold back.
pub fn quickstart_without_shops() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let dir = tmp.path().join("qs");
    let mut examples = BTreeMap::new();
    read_tree(&root().join("examples"), "", &mut examples);
    examples.remove("resources/shops.yaml");
    shopset_engine::ops::quickstart::prepare(&dir, &examples, &["tier-0", "tier-1", "tier-2"])
        .expect("the example's repositories");
    let dir = dir.canonicalize().expect("canonical");
    ok(&run_shopctl([
        "sync",
        "-f",
        &dir.join("resources").display().to_string(),
    ]));
    (tmp, dir)
}

/// Every file under `dir`, by its path relative to it (`/`-separated).
fn read_tree(dir: &Path, prefix: &str, out: &mut BTreeMap<String, Vec<u8>>) {
    for entry in std::fs::read_dir(dir).expect("a directory") {
        let entry = entry.expect("an entry");
        let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
        if entry.file_type().expect("a type").is_dir() {
            read_tree(&entry.path(), &format!("{name}/"), out);
        } else {
            out.insert(name, std::fs::read(entry.path()).expect("readable"));
        }
    }
}

/// Asserts success and returns stdout.
pub fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "command failed ({}):\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Runs git with a clean environment (no user or system config).
pub fn git(dir: &Path, args: &[&str]) -> Output {
    require("git");
    Command::new("git")
        .args([
            "-c",
            "protocol.file.allow=always",
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
        ])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .expect("git runs")
}

/// `git clone --recurse-submodules --branch <branch> <repo> <dest>`, with the git CLI.
pub fn clone_branch(repo: &Path, branch: &str, dest: &Path) {
    let parent = dest.parent().expect("dest has a parent");
    let out = git(
        parent,
        &[
            "clone",
            "--quiet",
            "--recurse-submodules",
            "--branch",
            branch,
            &repo.display().to_string(),
            &dest.display().to_string(),
        ],
    );
    ok(&out);
}

/// `kubectl kustomize <dir>`: the built objects.
pub fn kustomize(dir: &Path) -> Vec<serde_json::Value> {
    require("kubectl");
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .expect("kubectl runs");
    let text = ok(&out);
    shopset_render::yaml::parse_documents(&text).expect("kustomize output is YAML")
}

/// Every file under `dir`, by relative path, except `.git` and the `base` submodule.
#[must_use]
pub fn read_dir_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).expect("readable dir") {
            let path = entry.expect("entry").path();
            let rel = path
                .strip_prefix(root)
                .expect("under root")
                .to_string_lossy()
                .replace('\\', "/");
            if rel == ".git" || rel == "base" {
                continue;
            }
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.insert(rel, std::fs::read(&path).expect("readable file"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Creates a bare app repository at `path` from the files of `dir`, with the same commit at
/// every branch of `branches`; returns the commit.
pub fn app_repo_from_dir(path: &Path, dir: &Path, branches: &[&str]) -> String {
    let repo = shopset_git::Repo::open_or_init_bare(path).expect("repo");
    let mut tree = shopset_git::Tree::default();
    for (rel, bytes) in read_dir_files(dir) {
        tree.insert(rel, bytes).expect("valid path");
    }
    let meta = shopset_git::CommitMeta {
        message: "app\n".into(),
        name: "t".into(),
        email: "t@t".into(),
        time: Some(1_767_225_600),
        signer: None,
    };
    let commit = match repo
        .commit_tree(branches[0], None, &tree, &meta)
        .expect("commit")
    {
        shopset_git::CommitOutcome::Committed { commit, .. }
        | shopset_git::CommitOutcome::Unchanged { commit } => commit,
    };
    for branch in &branches[1..] {
        repo.move_branch(branch, None, &commit, "branch")
            .expect("branch");
    }
    repo.set_head(branches[0]).expect("head");
    commit
}

/// The objects of `kind` in a built list.
#[must_use]
pub fn of_kind<'a>(objects: &'a [serde_json::Value], kind: &str) -> Vec<&'a serde_json::Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

/// A person's commit on `branch` of `repo` (a bare repository): clone into `work`, write
/// `file`, commit (with `config` such as `-c gpg.format=ssh` before `commit`, and `commit_args`
/// such as `-S` after it), push. Returns the new tip.
pub fn commit_to_branch(
    repo: &Path,
    branch: &str,
    work: &Path,
    file: (&str, &str),
    config: &[&str],
    commit_args: &[&str],
) -> String {
    let parent = work.parent().expect("work has a parent");
    let out = git(
        parent,
        &[
            "clone",
            "-q",
            "--branch",
            branch,
            &repo.display().to_string(),
            &work.display().to_string(),
        ],
    );
    assert!(out.status.success(), "{out:?}");
    std::fs::write(work.join(file.0), file.1).expect("write");
    let mut commit = vec!["-c", "user.name=dev", "-c", "user.email=dev@example.com"];
    commit.extend_from_slice(config);
    commit.extend_from_slice(&["commit", "-qm", "a person's change"]);
    commit.extend_from_slice(commit_args);
    for args in [
        &["add", "-A"][..],
        &commit,
        &["push", "-q", "origin", branch],
    ] {
        let out = git(work, args);
        assert!(out.status.success(), "{args:?}: {out:?}");
    }
    let out = git(work, &["rev-parse", "HEAD"]);
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The commit `what` names in `repo` (`git rev-parse`).
#[must_use]
pub fn rev(repo: &Path, what: &str) -> String {
    let out = git(repo, &["rev-parse", what]);
    assert!(out.status.success(), "rev-parse {what}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The app commit that the system branch `tier` of `system` runs (its recorded inputs).
#[must_use]
pub fn running_app(system: &Path, tier: &str) -> String {
    let out = git(system, &["show", &format!("{tier}:.shopset/inputs.yaml")]);
    let inputs: serde_json::Value = serde_json::from_slice(&out.stdout).expect("inputs");
    inputs["appCommit"].as_str().expect("appCommit").to_owned()
}

/// The commit `what` names in `repo`, or `None` when it names nothing.
#[must_use]
pub fn tip(repo: &Path, what: &str) -> Option<String> {
    let out = git(repo, &["rev-parse", "--verify", "-q", what]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// How many commits `branch` of `repo` has (0 when it does not exist).
#[must_use]
pub fn commit_count(repo: &Path, branch: &str) -> usize {
    let out = git(repo, &["rev-list", "--count", branch]);
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

/// Every call in `requests` is allowed by the Roles and ClusterRoles in `rbac` (a Role's
/// rules in `namespace` only), and, when `every_rule_used`, every rule there was used.
///
/// # Panics
/// A call is not allowed, or a rule was never used.
pub fn check_rbac(
    rbac: &Path,
    namespace: &str,
    requests: &[fake_api::RequestRecord],
    every_rule_used: bool,
) {
    let text = std::fs::read_to_string(rbac).expect("the RBAC file");
    let docs = shopset_render::yaml::parse_documents(&text).expect("the RBAC file parses");
    // (namespaced role?, group, resource, verb)
    let mut allowed: std::collections::BTreeSet<(bool, String, String, String)> =
        std::collections::BTreeSet::new();
    for doc in &docs {
        let cluster = match doc["kind"].as_str() {
            Some("ClusterRole") => true,
            Some("Role") => false,
            _ => continue,
        };
        for rule in doc["rules"].as_array().into_iter().flatten() {
            for g in rule["apiGroups"].as_array().into_iter().flatten() {
                for r in rule["resources"].as_array().into_iter().flatten() {
                    for v in rule["verbs"].as_array().into_iter().flatten() {
                        allowed.insert((
                            cluster,
                            g.as_str().unwrap_or_default().to_owned(),
                            r.as_str().unwrap_or_default().to_owned(),
                            v.as_str().unwrap_or_default().to_owned(),
                        ));
                    }
                }
            }
        }
    }
    let mut used = std::collections::BTreeSet::new();
    for r in requests {
        let resource = match &r.subresource {
            Some(s) => format!("{}/{s}", r.resource),
            None => r.resource.clone(),
        };
        let in_ns = r.namespace.as_deref() == Some(namespace);
        let rule = [(false, in_ns), (true, true)]
            .into_iter()
            .filter(|(_, applies)| *applies)
            .map(|(cluster, _)| {
                (
                    cluster,
                    r.api_group.clone(),
                    resource.clone(),
                    r.verb.clone(),
                )
            })
            .find(|k| allowed.contains(k));
        let rule = rule.unwrap_or_else(|| panic!("not allowed by {}: {r:?}", rbac.display()));
        used.insert(rule);
    }
    let unused: Vec<_> = allowed.difference(&used).collect();
    assert!(
        !every_rule_used || unused.is_empty(),
        "rules of {} never used: {unused:?}",
        rbac.display()
    );
}
