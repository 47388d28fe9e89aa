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

#[derive(Default)]
struct Dir<'a> {
    files: BTreeMap<&'a str, &'a [u8]>,
    links: BTreeMap<&'a str, &'a str>,
    dirs: BTreeMap<&'a str, Dir<'a>>,
}

impl<'a> Dir<'a> {
    fn at(&mut self, path: &'a str) -> (&mut Dir<'a>, &'a str) {
        let mut dir = self;
        let mut parts = path.split('/').peekable();
        loop {
            let part = parts.next().expect("a checked path has a segment");
            if parts.peek().is_none() {
                return (dir, part);
            }
            dir = dir.dirs.entry(part).or_default();
        }
    }
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

/// Above this many files, new objects go into one pack instead of loose files.
const PACK_THRESHOLD: usize = 512;

fn build_dirs(tree: &Tree) -> Result<Dir<'_>, GitError> {
    let mut root = Dir::default();
    for (path, bytes) in &tree.files {
        shopset_render::tree::check_path(path)?;
        let (dir, name) = root.at(path);
        dir.files.insert(name, bytes);
    }
    for (path, commit) in &tree.gitlinks {
        shopset_render::tree::check_path(path)?;
        let (dir, name) = root.at(path);
        dir.links.insert(name, commit);
    }
    Ok(root)
}

fn write_dir_with(
    repo: &git2::Repository,
    location: &str,
    dir: &Dir<'_>,
    path: &str,
) -> Result<git2::Oid, GitError> {
    let op = |action: String| {
        move |source| GitError::Operation {
            location: location.to_owned(),
            action,
            source,
        }
    };
    let mut builder = repo.treebuilder(None).map_err(op("start a tree".into()))?;
    for (name, bytes) in &dir.files {
        let oid = repo
            .blob(bytes)
            .map_err(op(format!("write blob {path}{name}")))?;
        builder
            .insert(name, oid, 0o100644)
            .map_err(op(format!("add {path}{name}")))?;
    }
    for (name, commit) in &dir.links {
        let oid = git2::Oid::from_str(commit).map_err(op(format!("parse gitlink {path}{name}")))?;
        builder
            .insert(name, oid, 0o160000)
            .map_err(op(format!("add gitlink {path}{name}")))?;
    }
    for (name, sub) in &dir.dirs {
        let oid = write_dir_with(repo, location, sub, &format!("{path}{name}/"))?;
        builder
            .insert(name, oid, 0o040000)
            .map_err(op(format!("add directory {path}{name}")))?;
    }
    builder.write().map_err(op(format!("write tree {path}")))
}

fn pack_dir(
    odb: &git2::Odb<'_>,
    pack: &mut crate::pack::PackBuffer,
    dir: &Dir<'_>,
) -> Result<git2::Oid, git2::Error> {
    let mut entries = Vec::with_capacity(dir.files.len() + dir.links.len() + dir.dirs.len());
    for (name, bytes) in &dir.files {
        entries.push((
            0o100644,
            *name,
            pack.add(odb, git2::ObjectType::Blob, bytes.to_vec())?,
        ));
    }
    for (name, commit) in &dir.links {
        entries.push((0o160000, *name, git2::Oid::from_str(commit)?));
    }
    for (name, sub) in &dir.dirs {
        entries.push((0o040000, *name, pack_dir(odb, pack, sub)?));
    }
    pack.add(
        odb,
        git2::ObjectType::Tree,
        crate::pack::tree_bytes(entries),
    )
}

impl Repo {
    /// Writes a whole tree. Object ids are computed in memory; only objects the repository
    /// lacks are written, as loose objects when few and as one pack when many.
    fn write_full(&self, tree: &Tree) -> Result<git2::Oid, GitError> {
        let root = build_dirs(tree)?;
        if tree.files.len() < PACK_THRESHOLD {
            return write_dir_with(&self.inner, &self.location, &root, "");
        }
        let odb = self
            .inner
            .odb()
            .map_err(self.op("open the object database"))?;
        let mut pack = crate::pack::PackBuffer::default();
        let oid = pack_dir(&odb, &mut pack, &root).map_err(self.op("hash the tree"))?;
        tracing::debug!(objects = pack.len(), "writing a pack");
        pack.write(&odb).map_err(self.op("write the pack"))?;
        Ok(oid)
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
        let mut update = git2::build::TreeUpdateBuilder::new();
        for path in &edits.remove {
            shopset_render::tree::check_path(path)?;
            update.remove(path.as_str());
        }
        for (dir, content) in &edits.replace_dirs {
            shopset_render::tree::check_path(dir)?;
            let root = build_dirs(content)?;
            let oid = write_dir_with(&self.inner, &self.location, &root, &format!("{dir}/"))?;
            update.upsert(dir.as_str(), oid, git2::FileMode::Tree);
        }
        let odb = self
            .inner
            .odb()
            .map_err(self.op("open the object database"))?;
        for (path, bytes) in &edits.upsert.files {
            shopset_render::tree::check_path(path)?;
            // Most of these are unchanged: hash first, write only what is new.
            let oid = crate::pack::write_loose(&self.inner, &odb, git2::ObjectType::Blob, bytes)
                .map_err(self.op(format!("write blob {path}")))?;
            update.upsert(path.as_str(), oid, git2::FileMode::Blob);
        }
        for (path, commit) in &edits.upsert.gitlinks {
            shopset_render::tree::check_path(path)?;
            let oid =
                git2::Oid::from_str(commit).map_err(self.op(format!("parse gitlink {path}")))?;
            update.upsert(path.as_str(), oid, git2::FileMode::Commit);
        }
        let oid = update
            .create_updated(&self.inner, &base_tree)
            .map_err(self.op(format!("update tree {base}")))?;
        Ok(oid.to_string())
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
            None => self
                .inner
                .commit(None, &sig, &sig, &meta.message, &git_tree, &parents)
                .map_err(self.op("write the commit")),
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
    use super::*;

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
        tree.insert("a-b/c".into(), "x").unwrap();
        tree.insert("a/b".into(), "y").unwrap();
        let packed = repo.write_tree(&tree).unwrap();
        let loose = write_dir_with(&repo.inner, "", &build_dirs(&tree).unwrap(), "").unwrap();
        assert_eq!(packed, loose.to_string());
        let fsck = std::process::Command::new("git")
            .arg("--git-dir")
            .arg(&dir)
            .args(["fsck", "--strict"])
            .output()
            .unwrap();
        assert!(
            fsck.status.success(),
            "{}",
            String::from_utf8_lossy(&fsck.stderr)
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
