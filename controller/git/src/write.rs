//! Writing a [`Tree`] as a commit on a branch, in the object database.

use std::collections::BTreeMap;

use crate::{GitError, Repo, Tree};

/// Who writes a commit, when, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitMeta {
    /// The full message, trailers included.
    pub message: String,
    /// Author and committer name.
    pub name: String,
    /// Author and committer e-mail.
    pub email: String,
    /// Seconds since the epoch (UTC); `None` for now.
    pub time: Option<i64>,
    /// Sign the commit with this key.
    pub signer: Option<Signer>,
}

/// A commit signing key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signer {
    /// An SSH private key file (`ssh-keygen -Y sign`, namespace `git`).
    Ssh {
        /// The key file.
        key: std::path::PathBuf,
    },
    /// A GPG key (`gpg --detach-sign`).
    Gpg {
        /// Key id or fingerprint.
        key_id: String,
        /// GnuPG home directory; absent: GnuPG's default.
        homedir: Option<std::path::PathBuf>,
    },
}

impl Signer {
    /// Signs `payload` (a commit object without its signature), returning the armored signature.
    ///
    /// # Errors
    /// The signing program failed.
    pub fn sign(&self, payload: &[u8]) -> Result<String, GitError> {
        use std::io::Write as _;
        let mut cmd = match self {
            Self::Ssh { key } => {
                let mut c = std::process::Command::new("ssh-keygen");
                c.args(["-q", "-Y", "sign", "-n", "git", "-f"]).arg(key);
                c
            }
            Self::Gpg { key_id, homedir } => {
                let mut c = std::process::Command::new("gpg");
                if let Some(home) = homedir {
                    c.arg("--homedir").arg(home);
                }
                c.args([
                    "--batch",
                    "--yes",
                    "--pinentry-mode",
                    "loopback",
                    "--armor",
                    "--detach-sign",
                    "--local-user",
                    key_id,
                ]);
                c
            }
        };
        let mut child = cmd
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| GitError::Signing(format!("cannot start the signer: {e}")))?;
        child
            .stdin
            .take()
            .expect("stdin is piped")
            .write_all(payload)
            .map_err(|e| GitError::Signing(e.to_string()))?;
        let output = child
            .wait_with_output()
            .map_err(|e| GitError::Signing(e.to_string()))?;
        if !output.status.success() {
            return Err(GitError::Signing(
                String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            ));
        }
        String::from_utf8(output.stdout)
            .map_err(|_| GitError::Signing("the signature is not text".into()))
    }
}

/// What [`Repo::commit_tree`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitOutcome {
    /// The branch already had this tree: nothing written.
    Unchanged {
        /// The branch tip (absent only for an empty tree on a missing branch, which is created).
        commit: String,
    },
    /// A new commit is the branch's tip.
    Committed {
        /// The previous tip (`None`: the branch was created).
        parent: Option<String>,
        /// The new commit.
        commit: String,
    },
}

/// Changes to an existing tree: what a sync writes when only some ShopSets changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeEdits {
    /// Paths (files or directories) to remove.
    pub remove: Vec<String>,
    /// Directories whose whole content is given (paths inside are relative to the directory).
    pub replace_dirs: BTreeMap<String, Tree>,
    /// Files and gitlinks to add or replace, at full paths.
    pub upsert: Tree,
}

/// A new blob this large is written on a thread of its own while the trees are built.
const BACKGROUND_BYTES: usize = 256 * 1024;

/// Above this many files, new objects go into one pack instead of loose files.
const PACK_THRESHOLD: usize = 512;

/// What stores an object of the tree being written and returns its id: its kind, its bytes,
/// and its id when already computed.
type AddObject<'f, 'a> = dyn FnMut(
        git2::ObjectType,
        std::borrow::Cow<'a, [u8]>,
        Option<git2::Oid>,
    ) -> Result<git2::Oid, git2::Error>
    + 'f;

/// Checks every path of `tree`.
fn check_paths(tree: &Tree) -> Result<(), GitError> {
    for path in tree.files.keys().chain(tree.gitlinks.keys()) {
        shopset_render::tree::check_path(path)?;
    }
    Ok(())
}

/// A directory being built: its name and its entries so far (mode, name, id).
struct Open<'a> {
    name: &'a str,
    entries: Vec<(u32, &'a str, git2::Oid)>,
}

/// Computes the ids of `tree`'s blobs and trees (its paths checked by the caller), handing
/// each object to `add`, which stores it (or not, when the database has it) and returns its id; `ids`, when
/// given, are the files' blob ids in the tree's order. Returns the root tree's id.
///
/// One pass over the paths in order: the paths of a directory are consecutive, and in the
/// order git gives their entries, so each directory is finished, bottom up, as soon as the
/// paths leave it.
fn store_tree<'a>(
    tree: &'a Tree,
    ids: Option<&[git2::Oid]>,
    add: &mut AddObject<'_, 'a>,
) -> Result<git2::Oid, git2::Error> {
    enum Item<'a> {
        File(&'a [u8], Option<git2::Oid>),
        Link(&'a str),
    }
    let mut files = tree
        .files
        .iter()
        .enumerate()
        .map(|(i, (path, bytes))| (path.as_str(), Item::File(bytes, ids.map(|ids| ids[i]))))
        .peekable();
    let mut links = tree
        .gitlinks
        .iter()
        .map(|(path, commit)| (path.as_str(), Item::Link(commit)))
        .peekable();
    // The files and gitlinks merged, in path order.
    let mut next = || match (files.peek(), links.peek()) {
        (Some((f, _)), Some((l, _))) if l < f => links.next(),
        (Some(_), _) => files.next(),
        (None, _) => links.next(),
    };
    let close = |stack: &mut Vec<Open<'a>>, add: &mut AddObject<'_, 'a>| {
        let dir = stack.pop().expect("a directory is open");
        let oid = add(
            git2::ObjectType::Tree,
            crate::pack::tree_bytes(dir.entries).into(),
            None,
        )?;
        if let Some(parent) = stack.last_mut() {
            parent.entries.push((0o040000, dir.name, oid));
        }
        Ok::<_, git2::Error>(oid)
    };
    let mut stack = vec![Open {
        name: "",
        entries: Vec::new(),
    }];
    while let Some((path, item)) = next() {
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
        let mut parts = dir.split('/').filter(|part| !part.is_empty());
        // How deep the open directories match this path's; the rest are finished.
        let mut depth = 0;
        let mut new = None;
        for part in parts.by_ref() {
            if stack.get(depth + 1).is_some_and(|open| open.name == part) {
                depth += 1;
            } else {
                new = Some(part);
                break;
            }
        }
        while stack.len() > depth + 1 {
            close(&mut stack, add)?;
        }
        for part in new.into_iter().chain(parts) {
            stack.push(Open {
                name: part,
                entries: Vec::new(),
            });
        }
        let entry = match item {
            Item::File(bytes, id) => (
                0o100644,
                name,
                add(git2::ObjectType::Blob, bytes.into(), id)?,
            ),
            Item::Link(commit) => (0o160000, name, git2::Oid::from_str(commit)?),
        };
        stack
            .last_mut()
            .expect("the root is open")
            .entries
            .push(entry);
    }
    loop {
        let oid = close(&mut stack, add)?;
        if stack.is_empty() {
            return Ok(oid);
        }
    }
}

/// Writes `tree` (its paths checked by the caller) as loose objects (few objects: an edit, a small tree).
fn write_tree_loose(repo: &git2::Repository, tree: &Tree) -> Result<git2::Oid, git2::Error> {
    let odb = repo.odb()?;
    store_tree(tree, None, &mut |kind, bytes, _| {
        crate::pack::write_loose(repo, &odb, kind, &bytes)
    })
}

impl Repo {
    /// Writes a whole tree. Object ids are computed in memory; only objects the repository
    /// lacks are written, as loose objects when few and as one pack when many (its blobs
    /// hashed and its objects compressed on every core, [`crate::pack::threads`]).
    fn write_full(&self, tree: &Tree) -> Result<git2::Oid, GitError> {
        self.write_full_on(tree, crate::pack::threads())
    }

    fn write_full_on(&self, tree: &Tree, threads: usize) -> Result<git2::Oid, GitError> {
        check_paths(tree)?;
        if tree.files.len() < PACK_THRESHOLD {
            return write_tree_loose(&self.inner, tree).map_err(self.op("write the tree"));
        }
        let odb = self
            .inner
            .odb()
            .map_err(self.op("open the object database"))?;
        // The blobs' ids first, on every core; the trees' (fewer, small) as they are built.
        let blobs: Vec<&[u8]> = tree.files.values().map(Vec::as_slice).collect();
        let ids = crate::pack::parallel_map(&blobs, threads, |b| {
            crate::pack::object_id(git2::ObjectType::Blob, b)
        });
        drop(blobs);
        let mut pack = crate::pack::PackBuffer::default();
        let oid = store_tree(tree, Some(&ids), &mut |kind, bytes, id| {
            Ok(match id {
                Some(id) => pack.add_known(kind, bytes, id),
                None => pack.add(kind, bytes),
            })
        })
        .map_err(self.op("hash the tree"))?;
        pack.write(&self.inner, &odb, threads)
            .map_err(self.op("write the pack"))?;
        Ok(oid)
    }

    /// [`Repo::write_tree`] on one thread: the baseline the benchmark compares with.
    ///
    /// # Errors
    /// As [`Repo::write_tree`].
    #[doc(hidden)]
    pub fn write_tree_on_one_thread(&self, tree: &Tree) -> Result<String, GitError> {
        Ok(self.write_full_on(tree, 1)?.to_string())
    }

    /// Applies `edits` to the tree `base` and writes the result, creating only the objects on
    /// the changed paths.
    ///
    /// # Errors
    /// A refused path or a failed write.
    pub fn write_tree_edited(&self, base: &str, edits: &TreeEdits) -> Result<String, GitError> {
        let base_oid =
            git2::Oid::from_str(base).map_err(self.op(format!("parse tree id {base}")))?;
        let base_tree = self
            .inner
            .find_tree(base_oid)
            .map_err(self.op(format!("read tree {base}")))?;
        let odb = self
            .inner
            .odb()
            .map_err(self.op("open the object database"))?;
        let mut write =
            |kind, bytes: &[u8]| crate::pack::write_loose(&self.inner, &odb, kind, bytes);
        let files = edits.upsert.files.len()
            + edits
                .replace_dirs
                .values()
                .map(|t| t.files.len())
                .sum::<usize>();
        if files >= PACK_THRESHOLD {
            // Many new files (a tier gaining thousands of ShopSets): their objects go into
            // one pack, as a whole tree's do, rather than thousands of loose files.
            return self.write_edits_packed(&base_tree, edits, &odb);
        }
        let objects = self.inner.path().join("objects");
        std::thread::scope(|scope| {
            let mut background = Vec::new();
            let mut changes =
                self.removals_and_dirs(edits, &mut |kind, bytes, _| write(kind, &bytes))?;
            for (path, bytes) in &edits.upsert.files {
                shopset_render::tree::check_path(path)?;
                // Most of these are unchanged: hashed first, written only when new. A large
                // new one (the recorded inputs) is compressed and written on another thread
                // while the trees are built; only its id is needed for them.
                let blob = git2::ObjectType::Blob;
                let oid = crate::pack::object_id(blob, bytes);
                if !crate::pack::exists(&odb, oid) {
                    if bytes.len() >= BACKGROUND_BYTES {
                        let objects = &objects;
                        background.push((
                            path,
                            scope.spawn(move || {
                                crate::pack::write_loose_file(objects, oid, blob, bytes)
                            }),
                        ));
                    } else {
                        crate::pack::write_loose_file(&objects, oid, blob, bytes)
                            .map_err(self.op(format!("write blob {path}")))?;
                    }
                }
                changes.set(path, 0o100644, oid);
            }
            for (path, commit) in &edits.upsert.gitlinks {
                shopset_render::tree::check_path(path)?;
                let oid = git2::Oid::from_str(commit)
                    .map_err(self.op(format!("parse gitlink {path}")))?;
                changes.set(path, 0o160000, oid);
            }
            let oid = changes
                .apply(&self.inner, Some(&base_tree), &mut write)
                .map_err(self.op(format!("update tree {base}")))?;
            for (path, writer) in background {
                writer
                    .join()
                    .unwrap_or_else(|_| Err(git2::Error::from_str("the writer panicked")))
                    .map_err(self.op(format!("write blob {path}")))?;
            }
            match oid {
                Some(oid) => Ok(oid.to_string()),
                // Everything removed: the empty tree.
                None => write(git2::ObjectType::Tree, &[])
                    .map(|oid| oid.to_string())
                    .map_err(self.op("write the empty tree")),
            }
        })
    }

    /// The removals and the replaced directories of `edits`, as tree changes; each replaced
    /// directory's objects are handed to `add`, which stores them and returns their ids.
    fn removals_and_dirs<'a>(
        &self,
        edits: &'a TreeEdits,
        add: &mut AddObject<'_, 'a>,
    ) -> Result<crate::update::Changes, GitError> {
        let mut changes = crate::update::Changes::default();
        for path in &edits.remove {
            shopset_render::tree::check_path(path)?;
            changes.remove(path);
        }
        for (dir, content) in &edits.replace_dirs {
            shopset_render::tree::check_path(dir)?;
            check_paths(content)?;
            let oid = store_tree(content, None, add)
                .map_err(self.op(format!("write directory {dir}")))?;
            changes.set(dir, 0o040000, oid);
        }
        Ok(changes)
    }

    /// [`Repo::write_tree_edited`] for edits with many files: the blobs and the replaced
    /// directories' trees are hashed, compressed on every core and written as one pack first;
    /// then the trees on the changed paths (one per directory) are written loose.
    fn write_edits_packed(
        &self,
        base_tree: &git2::Tree<'_>,
        edits: &TreeEdits,
        odb: &git2::Odb<'_>,
    ) -> Result<String, GitError> {
        let threads = crate::pack::threads();
        let mut pack = crate::pack::PackBuffer::default();
        let mut changes =
            self.removals_and_dirs(edits, &mut |kind, bytes, _| Ok(pack.add(kind, bytes)))?;
        let blobs: Vec<(&String, &Vec<u8>)> = edits.upsert.files.iter().collect();
        for (path, _) in &blobs {
            shopset_render::tree::check_path(path)?;
        }
        let ids = crate::pack::parallel_map(&blobs, threads, |(_, bytes)| {
            crate::pack::object_id(git2::ObjectType::Blob, bytes)
        });
        for ((path, bytes), oid) in blobs.into_iter().zip(ids) {
            pack.add_known(git2::ObjectType::Blob, bytes.as_slice(), oid);
            changes.set(path, 0o100644, oid);
        }
        for (path, commit) in &edits.upsert.gitlinks {
            shopset_render::tree::check_path(path)?;
            let oid =
                git2::Oid::from_str(commit).map_err(self.op(format!("parse gitlink {path}")))?;
            changes.set(path, 0o160000, oid);
        }
        // Written before the trees are updated: a change inside a replaced directory reads it.
        pack.write(&self.inner, odb, threads)
            .map_err(self.op("write the pack"))?;
        let mut write =
            |kind, bytes: &[u8]| crate::pack::write_loose(&self.inner, odb, kind, bytes);
        let oid = changes
            .apply(&self.inner, Some(base_tree), &mut write)
            .map_err(self.op(format!("update tree {}", base_tree.id())))?;
        match oid {
            Some(oid) => Ok(oid.to_string()),
            None => write(git2::ObjectType::Tree, &[])
                .map(|oid| oid.to_string())
                .map_err(self.op("write the empty tree")),
        }
    }

    /// Writes `tree` and returns its id, without committing.
    ///
    /// # Errors
    /// A refused path or a failed write.
    pub fn write_tree(&self, tree: &Tree) -> Result<String, GitError> {
        Ok(self.write_full(tree)?.to_string())
    }

    /// Makes `tree` the content of `branch`: a new commit on top of `expected_tip` unless the
    /// tip already has this tree. The branch is updated only if it still points to
    /// `expected_tip` (compare-and-swap), so a concurrent writer is detected, never overwritten.
    ///
    /// # Errors
    /// A failed write, or [`GitError::BranchMoved`].
    pub fn commit_tree(
        &self,
        branch: &str,
        expected_tip: Option<&str>,
        tree: &Tree,
        meta: &CommitMeta,
    ) -> Result<CommitOutcome, GitError> {
        let tree_id = self.write_tree(tree)?;
        let tree_oid = git2::Oid::from_str(&tree_id).map_err(self.op("parse tree id"))?;
        let parent = expected_tip.map(|tip| self.find_commit(tip)).transpose()?;
        if let Some(parent) = &parent
            && parent.tree_id() == tree_oid
        {
            return Ok(CommitOutcome::Unchanged {
                commit: parent.id().to_string(),
            });
        }
        let git_tree = self
            .inner
            .find_tree(tree_oid)
            .map_err(self.op("read the new tree"))?;
        let time = git2::Time::new(meta.time.unwrap_or_else(now), 0);
        let sig = git2::Signature::new(&meta.name, &meta.email, &time)
            .map_err(self.op("make the signature"))?;
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        let oid = self
            .inner
            .commit(None, &sig, &sig, &meta.message, &git_tree, &parents)
            .map_err(self.op(format!("commit on {branch}")))?;
        self.move_branch(
            branch,
            expected_tip,
            &oid.to_string(),
            &format!("shopset: commit {oid}"),
        )?;
        Ok(CommitOutcome::Committed {
            parent: expected_tip.map(str::to_owned),
            commit: oid.to_string(),
        })
    }

    fn write_commit(
        &self,
        tree: git2::Oid,
        parent: Option<&git2::Commit<'_>>,
        meta: &CommitMeta,
    ) -> Result<git2::Oid, GitError> {
        let git_tree = self
            .inner
            .find_tree(tree)
            .map_err(self.op("read the new tree"))?;
        let time = git2::Time::new(meta.time.unwrap_or_else(now), 0);
        let sig = git2::Signature::new(&meta.name, &meta.email, &time)
            .map_err(self.op("make the signature"))?;
        let parents: Vec<&git2::Commit<'_>> = parent.into_iter().collect();
        match &meta.signer {
            None => {
                let buffer = self
                    .inner
                    .commit_create_buffer(&sig, &sig, &meta.message, &git_tree, &parents)
                    .map_err(self.op("build the commit"))?;
                let odb = self
                    .inner
                    .odb()
                    .map_err(self.op("open the object database"))?;
                crate::pack::write_loose(&self.inner, &odb, git2::ObjectType::Commit, &buffer)
                    .map_err(self.op("write the commit"))
            }
            Some(signer) => {
                let buffer = self
                    .inner
                    .commit_create_buffer(&sig, &sig, &meta.message, &git_tree, &parents)
                    .map_err(self.op("build the commit"))?;
                let signature = signer.sign(&buffer)?;
                let text = std::str::from_utf8(&buffer)
                    .map_err(|_| GitError::Signing("the commit is not UTF-8".into()))?;
                self.inner
                    .commit_signed(text, &signature, None)
                    .map_err(self.op("write the signed commit"))
            }
        }
    }

    /// Writes `tree` as a commit on top of `parent`, touching no ref. `None` when `parent`
    /// already has this tree (nothing to commit).
    ///
    /// # Errors
    /// A failed write or signature.
    pub fn create_commit(
        &self,
        parent: Option<&str>,
        tree: &Tree,
        meta: &CommitMeta,
    ) -> Result<Option<String>, GitError> {
        let tree_id = self.write_tree(tree)?;
        self.commit_tree_id(parent, &tree_id, meta)
    }

    /// Writes a commit of the already written tree `tree_id` on top of `parent`, touching no
    /// ref. `None` when `parent` already has this tree.
    ///
    /// # Errors
    /// A failed write or signature.
    pub fn commit_tree_id(
        &self,
        parent: Option<&str>,
        tree_id: &str,
        meta: &CommitMeta,
    ) -> Result<Option<String>, GitError> {
        let tree_oid = git2::Oid::from_str(tree_id).map_err(self.op("parse tree id"))?;
        let parent = parent.map(|p| self.find_commit(p)).transpose()?;
        if parent.as_ref().is_some_and(|p| p.tree_id() == tree_oid) {
            return Ok(None);
        }
        Ok(Some(
            self.write_commit(tree_oid, parent.as_ref(), meta)?
                .to_string(),
        ))
    }

    /// Points `branch` at `commit` if it still points at `expected_tip` (`None`: if it does not
    /// exist yet).
    ///
    /// # Errors
    /// [`GitError::BranchMoved`] when somebody else moved it.
    pub fn move_branch(
        &self,
        branch: &str,
        expected_tip: Option<&str>,
        commit: &str,
        log: &str,
    ) -> Result<(), GitError> {
        let refname = format!("refs/heads/{branch}");
        let oid =
            git2::Oid::from_str(commit).map_err(self.op(format!("parse commit id {commit}")))?;
        let result = match expected_tip {
            Some(old) => {
                let old =
                    git2::Oid::from_str(old).map_err(self.op(format!("parse commit id {old}")))?;
                self.inner.reference_matching(&refname, oid, true, old, log)
            }
            None => self.inner.reference(&refname, oid, false, log),
        };
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.code(),
                    git2::ErrorCode::Modified | git2::ErrorCode::Exists
                ) =>
            {
                Err(GitError::BranchMoved {
                    location: self.location.clone(),
                    branch: branch.to_owned(),
                    expected: expected_tip.unwrap_or("(no branch)").to_owned(),
                    actual: self
                        .tip(branch)?
                        .unwrap_or_else(|| "(no branch)".to_owned()),
                })
            }
            Err(source) => Err(self.op(format!("update branch {branch}"))(source)),
        }
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    /// The tree libgit2's own update makes of `tree` from the empty tree: the reference our
    /// tree bytes are checked against.
    fn written_by_libgit2(repo: &git2::Repository, tree: &Tree) -> git2::Oid {
        let mut update = git2::build::TreeUpdateBuilder::new();
        for (path, bytes) in &tree.files {
            let oid = repo.blob(bytes).unwrap();
            update.upsert(path.as_str(), oid, git2::FileMode::Blob);
        }
        for (path, commit) in &tree.gitlinks {
            let oid = git2::Oid::from_str(commit).unwrap();
            update.upsert(path.as_str(), oid, git2::FileMode::Commit);
        }
        let empty = repo.treebuilder(None).unwrap().write().unwrap();
        let empty = repo.find_tree(empty).unwrap();
        update.create_updated(repo, &empty).unwrap()
    }

    use super::*;

    /// `git fsck --strict` finds nothing wrong in the repository at `dir`.
    fn assert_fsck_clean(dir: &std::path::Path) {
        let fsck = std::process::Command::new("git")
            .arg("--git-dir")
            .arg(dir)
            .args(["fsck", "--strict"])
            .output()
            .unwrap();
        assert!(
            fsck.status.success(),
            "{}",
            String::from_utf8_lossy(&fsck.stderr)
        );
    }

    #[test]
    fn large_trees_are_written_as_a_readable_pack() {
        let dir = std::env::temp_dir().join(format!("shopset-pack-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let repo = Repo::open_or_init_bare(&dir).unwrap();
        let mut tree = Tree::default();
        for i in 0..(PACK_THRESHOLD * 2) {
            tree.insert(format!("d{}/f{i}", i % 7), format!("content {i}\n"))
                .unwrap();
        }
        let id = repo.write_tree(&tree).unwrap();
        let packs = std::fs::read_dir(dir.join("objects/pack")).unwrap().count();
        assert!(packs >= 2, "a pack and its index: {packs}");
        let oid = git2::Oid::from_str(&id).unwrap();
        assert!(
            repo.inner.find_tree(oid).is_ok(),
            "the same handle reads the new tree"
        );
        // The same ids as libgit2's own tree builder, gitlinks and nested directories included.
        tree.insert_gitlink(
            "base".into(),
            "0123456789abcdef0123456789abcdef01234567".into(),
        )
        .unwrap();
        // Names that sort differently as paths and as tree entries, unless a directory is
        // taken as its name and a slash; a gitlink deep down.
        for path in [
            "a-b/c", "a/b", "a.b", "a0", "a/b.c", "a/b-c/d", "a/b0", "a/c/d",
        ] {
            tree.insert(path.into(), path).unwrap();
        }
        tree.insert_gitlink(
            "a/c/link".into(),
            "89abcdef0123456789abcdef0123456789abcdef".into(),
        )
        .unwrap();
        let packed = repo.write_tree(&tree).unwrap();
        let theirs = written_by_libgit2(&repo.inner, &tree);
        assert_eq!(write_tree_loose(&repo.inner, &tree).unwrap(), theirs);
        assert_eq!(packed, theirs.to_string());
        assert_fsck_clean(&dir);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The pack and index written on every core: what git itself reads and checks
    /// (`verify-pack`, `fsck --strict`), byte for byte the pack one thread writes, with large
    /// blobs (compressible or not) among many small files.
    #[test]
    fn a_pack_written_on_every_core_is_one_git_verifies() {
        let base = std::env::temp_dir().join(format!("shopset-cores-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        // More objects than one chunk of the pack writer (`PACK_CHUNK`), some blobs shared.
        let mut tree = Tree::default();
        for i in 0..6_000 {
            tree.insert(
                format!("s/{:02x}/f{i}", i % 256),
                format!("content {}\n", i % 5_000),
            )
            .unwrap();
        }
        let mut noise = Vec::with_capacity(3 << 20);
        let mut x: u64 = 0x1234_5678_9abc_def0;
        while noise.len() < 3 << 20 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            noise.extend_from_slice(&x.to_le_bytes());
        }
        tree.insert("big/noise".into(), noise.clone()).unwrap();
        tree.insert("big/text".into(), "row\n".repeat(1 << 20))
            .unwrap();
        let mut packs = Vec::new();
        for threads in [1, 2, 3] {
            let dir = base.join(format!("t{threads}"));
            let repo = Repo::open_or_init_bare(&dir).unwrap();
            let id = repo.write_full_on(&tree, threads).unwrap().to_string();
            let pack_dir = dir.join("objects/pack");
            let mut names: Vec<_> = std::fs::read_dir(&pack_dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            names.sort();
            assert_eq!(names.len(), 2, "{names:?}");
            let verify = std::process::Command::new("git")
                .args(["verify-pack", "-v"])
                .arg(&names[0])
                .output()
                .unwrap();
            assert!(
                verify.status.success(),
                "{}",
                String::from_utf8_lossy(&verify.stderr)
            );
            assert_fsck_clean(&dir);
            let shown = std::process::Command::new("git")
                .arg("-C")
                .arg(&dir)
                .args(["cat-file", "blob", &format!("{id}:big/noise")])
                .output()
                .unwrap();
            assert!(shown.stdout == noise, "the large blob reads back");
            packs.push((id, std::fs::read(&names[1]).unwrap()));
        }
        assert!(
            packs.windows(2).all(|w| w[0] == w[1]),
            "the same pack whatever the threads"
        );
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn an_edited_tree_is_the_tree_written_whole() {
        edits_give_the_tree_written_whole(0);
    }

    #[test]
    fn many_edits_are_written_as_a_pack_and_give_the_tree_written_whole() {
        edits_give_the_tree_written_whole(PACK_THRESHOLD);
    }

    /// Edits of every kind (plus `many` new files, and a file added inside a replaced
    /// directory) give the tree written whole, and the tree libgit2's own update makes.
    fn edits_give_the_tree_written_whole(many: usize) {
        let dir = std::env::temp_dir().join(format!("shopset-edit-{many}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let repo = Repo::open_or_init_bare(&dir).unwrap();
        let mut before = Tree::default();
        for path in [
            "README.md",
            "apps/01/kustomization.yaml",
            "apps/02/kustomization.yaml",
            "shopsets/01/a/kustomization.yaml",
            "shopsets/01/a/values.yaml",
            "shopsets/02/b/kustomization.yaml",
            "shopsets/02/c/kustomization.yaml",
        ] {
            before
                .insert(path.into(), format!("{path} before\n"))
                .unwrap();
        }
        before
            .insert_gitlink(
                "base".into(),
                "1111111111111111111111111111111111111111".into(),
            )
            .unwrap();
        let base = repo.write_tree(&before).unwrap();

        let mut edits = TreeEdits::default();
        // A directory whose last entry goes (the directory goes too), a file, a new directory,
        // a replaced one, a changed file, a new nested file and a moved gitlink.
        edits.remove.push("shopsets/01/a".into());
        edits.remove.push("apps/01/kustomization.yaml".into());
        let mut d = Tree::default();
        d.insert("kustomization.yaml".into(), "d\n").unwrap();
        edits.replace_dirs.insert("shopsets/03/d".into(), d);
        let mut b = Tree::default();
        b.insert("kustomization.yaml".into(), "b after\n").unwrap();
        b.insert("extra.yaml".into(), "e\n").unwrap();
        edits.replace_dirs.insert("shopsets/02/b".into(), b);
        edits.upsert.insert("README.md".into(), "after\n").unwrap();
        // Large enough to be written on the side while the trees are built.
        let big = "inputs\n".repeat(BACKGROUND_BYTES / 7 + 1);
        edits
            .upsert
            .insert(".shopset/inputs.yaml".into(), big.as_str())
            .unwrap();
        edits
            .upsert
            .insert("apps/03/kustomization.yaml".into(), "k\n")
            .unwrap();
        edits
            .upsert
            .insert_gitlink(
                "base".into(),
                "2222222222222222222222222222222222222222".into(),
            )
            .unwrap();
        // Inside a directory replaced above: the edit reads the tree it has just written.
        edits
            .upsert
            .insert("shopsets/02/b/inside.yaml".into(), "i\n")
            .unwrap();
        for i in 0..many {
            edits
                .upsert
                .insert(format!("many/{:02x}/f{i}", i % 16), format!("{i}\n"))
                .unwrap();
        }
        let packs = || {
            std::fs::read_dir(dir.join("objects/pack"))
                .map(|d| d.count())
                .unwrap_or(0)
        };
        let packs_before = packs();
        let edited = repo.write_tree_edited(&base, &edits).unwrap();
        assert_eq!(
            packs() > packs_before,
            many >= PACK_THRESHOLD,
            "many new files are written as a pack, few as loose objects"
        );

        let mut expected = Tree::default();
        expected.insert("README.md".into(), "after\n").unwrap();
        expected
            .insert(".shopset/inputs.yaml".into(), big.as_str())
            .unwrap();
        expected
            .insert(
                "apps/02/kustomization.yaml".into(),
                "apps/02/kustomization.yaml before\n",
            )
            .unwrap();
        expected
            .insert("apps/03/kustomization.yaml".into(), "k\n")
            .unwrap();
        expected
            .insert("shopsets/02/b/kustomization.yaml".into(), "b after\n")
            .unwrap();
        expected
            .insert("shopsets/02/b/extra.yaml".into(), "e\n")
            .unwrap();
        expected
            .insert("shopsets/02/b/inside.yaml".into(), "i\n")
            .unwrap();
        for i in 0..many {
            expected
                .insert(format!("many/{:02x}/f{i}", i % 16), format!("{i}\n"))
                .unwrap();
        }
        expected
            .insert(
                "shopsets/02/c/kustomization.yaml".into(),
                "shopsets/02/c/kustomization.yaml before\n",
            )
            .unwrap();
        expected
            .insert("shopsets/03/d/kustomization.yaml".into(), "d\n")
            .unwrap();
        expected
            .insert_gitlink(
                "base".into(),
                "2222222222222222222222222222222222222222".into(),
            )
            .unwrap();
        assert_eq!(edited, repo.write_tree(&expected).unwrap());

        // And what libgit2's own tree update makes of the same edits.
        let mut update = git2::build::TreeUpdateBuilder::new();
        for path in &edits.remove {
            update.remove(path.as_str());
        }
        // libgit2's update does not look inside a directory it was given whole: the file
        // added inside the replaced one is given as part of it.
        let inside = "shopsets/02/b/inside.yaml";
        for (path, content) in &edits.replace_dirs {
            let mut content = content.clone();
            if let Some(name) = inside.strip_prefix(&format!("{path}/")) {
                content.insert(name.into(), "i\n").unwrap();
            }
            let oid = git2::Oid::from_str(&repo.write_tree(&content).unwrap()).unwrap();
            update.upsert(path.as_str(), oid, git2::FileMode::Tree);
        }
        for (path, bytes) in edits.upsert.files.iter().filter(|(p, _)| *p != inside) {
            let oid = repo.inner.blob(bytes).unwrap();
            update.upsert(path.as_str(), oid, git2::FileMode::Blob);
        }
        for (path, commit) in &edits.upsert.gitlinks {
            let oid = git2::Oid::from_str(commit).unwrap();
            update.upsert(path.as_str(), oid, git2::FileMode::Commit);
        }
        let base_tree = repo
            .inner
            .find_tree(git2::Oid::from_str(&base).unwrap())
            .unwrap();
        let theirs = update.create_updated(&repo.inner, &base_tree).unwrap();
        assert_eq!(edited, theirs.to_string());
        assert_fsck_clean(&dir);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
