//! Repository caches are packed once they gather too many loose objects (issue 17, point 5):
//! the packing runs in another process beside this one's reads and writes, and afterwards
//! every object is still there, the loose ones gone into a pack, and `git fsck` is content.

use shopset_engine::Repos;
use shopset_tests::{app_repo_from_dir, fixtures, git};

/// Writes `n` distinct blobs into the repository at `path` as loose objects, and a tree and
/// a commit holding them on the branch `objects-<from>` (a cache's objects are reachable:
/// its commits are on branches).
fn loose_blobs(path: &std::path::Path, from: usize, n: usize) -> Vec<git2::Oid> {
    let repo = git2::Repository::open_bare(path).expect("the cache");
    let blobs: Vec<git2::Oid> = (from..from + n)
        .map(|i| repo.blob(format!("blob {i}\n").as_bytes()).expect("a blob"))
        .collect();
    let mut tree = repo.treebuilder(None).unwrap();
    for (i, oid) in blobs.iter().enumerate() {
        tree.insert(format!("f{i}"), *oid, 0o100_644).unwrap();
    }
    let tree = repo.find_tree(tree.write().unwrap()).unwrap();
    let who = git2::Signature::new("t", "t@t", &git2::Time::new(1_767_225_600, 0)).unwrap();
    repo.commit(
        Some(&format!("refs/heads/objects-{from}")),
        &who,
        &who,
        "objects\n",
        &tree,
        &[],
    )
    .unwrap();
    blobs
}

fn loose_files(path: &std::path::Path) -> usize {
    std::fs::read_dir(path.join("objects"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|d| d.file_name().len() == 2)
        .map(|d| std::fs::read_dir(d.path()).unwrap().count())
        .sum()
}

#[test]
fn a_cache_with_too_many_loose_objects_is_packed_beside_its_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let remote = tmp.path().join("app.git");
    app_repo_from_dir(&remote, &fixtures().join("apps/podinfo"), &["tier-0"]);
    let url = remote.display().to_string();
    let cache_dir = tmp.path().join("cache");
    let cache_path = shopset_git::Cache::new(&cache_dir).path_of(&url);

    let mut repos = Repos::new(&cache_dir).with_loose_threshold(2_000);
    repos.read(&url).expect("fetched");
    let mut blobs = loose_blobs(&cache_path, 0, 1_000);
    // Below the threshold: nothing is packed.
    repos.forget_all();
    let estimate = repos.read(&url).unwrap().loose_objects_estimate();
    repos.finish_housekeeping();
    assert!(loose_files(&cache_path) >= 1_000, "{estimate}");

    // Above it: the next fetch starts packing, and writes go on meanwhile.
    blobs.extend(loose_blobs(&cache_path, 1_000, 9_000));
    repos.forget_all();
    let before = repos.read(&url).unwrap().loose_objects_estimate();
    assert!(before > 2_000, "estimated {before}");
    blobs.extend(loose_blobs(&cache_path, 10_000, 500));
    repos.finish_housekeeping();

    // Only what was written while it packed may still be loose (500 blobs, a tree, a commit).
    let after = loose_files(&cache_path);
    assert!(after <= 502, "{after} loose objects left of 10,500");
    let packs = std::fs::read_dir(cache_path.join("objects/pack"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "pack"))
        })
        .count();
    assert!(packs >= 1);
    let repo = git2::Repository::open_bare(&cache_path).unwrap();
    for oid in &blobs {
        assert!(repo.find_blob(*oid).is_ok(), "{oid} lost");
    }
    let fsck = git(
        &cache_path,
        &["fsck", "--no-dangling", "--connectivity-only"],
    );
    assert!(fsck.status.success(), "{fsck:?}");
    // And the cache still serves its branch.
    repos.forget_all();
    assert!(
        repos
            .read(&url)
            .unwrap()
            .remote_tip("tier-0")
            .unwrap()
            .is_some()
    );
}

/// A tier's poll sees its app branch move even when another tier's poll (or a sync) fetched
/// the new tip first: each poller compares with what it saw itself.
#[test]
fn a_poll_sees_a_move_another_fetch_saw_first() {
    let tmp = tempfile::tempdir().unwrap();
    let app = tmp.path().join("app.git");
    app_repo_from_dir(
        &app,
        &fixtures().join("apps/podinfo"),
        &["tier-0", "tier-1"],
    );
    let url = app.display().to_string();
    let urls = [url.clone()];
    let mut repos = Repos::new(tmp.path().join("cache"));
    assert!(
        repos.fetch_moved("tier-0", &urls, "tier-0"),
        "a first look counts as a move"
    );
    assert!(
        !repos.fetch_moved("tier-0", &urls, "tier-0"),
        "nothing moved"
    );

    let release = shopset_tests::commit_to_branch(
        &app,
        "tier-0",
        &tmp.path().join("work"),
        ("RELEASE", "1.3.0\n"),
        &[],
        &[],
    );
    // Another poller fetches the repository first: the cache has the new tip now.
    assert!(repos.fetch_moved("tier-1", &urls, "tier-0"));
    assert_eq!(repos.tip(&url, "tier-0").unwrap(), Some(release));
    assert!(
        repos.fetch_moved("tier-0", &urls, "tier-0"),
        "tier-0's poll still sees its branch move"
    );
    assert!(!repos.fetch_moved("tier-0", &urls, "tier-0"));
}
