//! Reading files at a commit, without a work tree.

use std::collections::BTreeMap;

use crate::{GitError, Repo};

/// A file read from a tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileEntry {
    /// A regular (or executable) file.
    File {
        /// Path relative to the directory read.
        path: String,
        /// Content.
        bytes: Vec<u8>,
    },
    /// A symlink: reported, never followed.
    Symlink {
        /// Path relative to the directory read.
        path: String,
    },
}

/// One entry of a commit's whole tree, as [`Repo::read_tree`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TreeEntry {
    /// A regular file.
    File {
        /// Content.
        bytes: Vec<u8>,
        /// Mode 100755 instead of 100644.
        executable: bool,
    },
    /// A symlink, with its target as stored (never followed).
    Symlink {
        /// The target.
        target: Vec<u8>,
    },
    /// A gitlink (mode 160000): the commit of a submodule.
    Gitlink {
        /// The commit id.
        commit: String,
    },
}

impl Repo {
    /// The content of the file at `path` in `commit`, or `None` when there is no such file.
    ///
    /// # Errors
    /// No such commit, or the path is not a regular file.
    pub fn read_file(&self, commit: &str, path: &str) -> Result<Option<Vec<u8>>, GitError> {
        let tree = self
            .find_commit(commit)?
            .tree()
            .map_err(self.op(format!("read tree of {commit}")))?;
        let entry = match tree.get_path(std::path::Path::new(path)) {
            Ok(entry) => entry,
            Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
            Err(source) => return Err(self.op(format!("look up {path} at {commit}"))(source)),
        };
        if entry.filemode() != i32::from(git2::FileMode::Blob)
            && entry.filemode() != i32::from(git2::FileMode::BlobExecutable)
        {
            return Err(self.op(format!("read {path} at {commit}"))(
                git2::Error::from_str("not a regular file (symlinks and directories are not read)"),
            ));
        }
        let blob = self
            .inner
            .find_blob(entry.id())
            .map_err(self.op(format!("read {path} at {commit}")))?;
        Ok(Some(blob.content().to_vec()))
    }

    /// The id of what `path` names in `commit` (a tree, a blob, a gitlink), or `None` when
    /// nothing is there: two commits hold the same content at `path` exactly when the ids are
    /// equal.
    ///
    /// # Errors
    /// No such commit.
    pub fn path_id(&self, commit: &str, path: &str) -> Result<Option<String>, GitError> {
        let tree = self
            .find_commit(commit)?
            .tree()
            .map_err(self.op(format!("read tree of {commit}")))?;
        match tree.get_path(std::path::Path::new(path)) {
            Ok(entry) => Ok(Some(entry.id().to_string())),
            Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
            Err(source) => Err(self.op(format!("look up {path} at {commit}"))(source)),
        }
    }

    /// Every file under directory `dir` (empty: the root) in `commit`, recursively, in path order.
    /// Submodules are skipped; symlinks are listed as such.
    ///
    /// # Errors
    /// No such commit or directory.
    pub fn read_dir(&self, commit: &str, dir: &str) -> Result<Vec<FileEntry>, GitError> {
        let root = self
            .find_commit(commit)?
            .tree()
            .map_err(self.op(format!("read tree of {commit}")))?;
        let tree = if dir.is_empty() {
            root
        } else {
            let entry = root
                .get_path(std::path::Path::new(dir))
                .map_err(self.op(format!("find {dir} at {commit}")))?;
            self.inner
                .find_tree(entry.id())
                .map_err(self.op(format!("read directory {dir} at {commit}")))?
        };
        let mut out = Vec::new();
        let mut failure = None;
        tree.walk(git2::TreeWalkMode::PreOrder, |parent, entry| {
            let Ok(name) = entry.name() else {
                return git2::TreeWalkResult::Skip;
            };
            let path = format!("{parent}{name}");
            match entry.filemode() {
                0o100644 | 0o100755 => match self.inner.find_blob(entry.id()) {
                    Ok(blob) => out.push(FileEntry::File {
                        path,
                        bytes: blob.content().to_vec(),
                    }),
                    Err(e) => {
                        failure = Some((path, e));
                        return git2::TreeWalkResult::Abort;
                    }
                },
                0o120000 => out.push(FileEntry::Symlink { path }),
                _ => {}
            }
            git2::TreeWalkResult::Ok
        })
        .map_err(self.op(format!("walk {dir} at {commit}")))?;
        if let Some((path, source)) = failure {
            return Err(self.op(format!("read {path} at {commit}"))(source));
        }
        Ok(out)
    }

    /// Every entry of the tree of `commit`, recursively, by full path: files with their
    /// content and mode, symlinks with their target, gitlinks with their commit. A name that is
    /// not UTF-8 is listed with its invalid bytes replaced (it is still listed).
    ///
    /// # Errors
    /// No such commit, or an object of the tree cannot be read.
    pub fn read_tree(&self, commit: &str) -> Result<BTreeMap<String, TreeEntry>, GitError> {
        let root = self
            .find_commit(commit)?
            .tree()
            .map_err(self.op(format!("read tree of {commit}")))?;
        let mut out = BTreeMap::new();
        let mut failure = None;
        root.walk(git2::TreeWalkMode::PreOrder, |parent, entry| {
            let path = format!("{parent}{}", String::from_utf8_lossy(entry.name_bytes()));
            let blob = |out: &mut BTreeMap<String, TreeEntry>,
                        failure: &mut Option<(String, git2::Error)>,
                        make: &dyn Fn(Vec<u8>) -> TreeEntry| {
                match self.inner.find_blob(entry.id()) {
                    Ok(blob) => {
                        out.insert(path.clone(), make(blob.content().to_vec()));
                        git2::TreeWalkResult::Ok
                    }
                    Err(e) => {
                        *failure = Some((path.clone(), e));
                        git2::TreeWalkResult::Abort
                    }
                }
            };
            match entry.filemode() {
                0o100644 => blob(&mut out, &mut failure, &|bytes| TreeEntry::File {
                    bytes,
                    executable: false,
                }),
                0o100755 => blob(&mut out, &mut failure, &|bytes| TreeEntry::File {
                    bytes,
                    executable: true,
                }),
                0o120000 => blob(&mut out, &mut failure, &|target| TreeEntry::Symlink {
                    target,
                }),
                0o160000 => {
                    out.insert(
                        path,
                        TreeEntry::Gitlink {
                            commit: entry.id().to_string(),
                        },
                    );
                    git2::TreeWalkResult::Ok
                }
                _ => git2::TreeWalkResult::Ok,
            }
        })
        .map_err(self.op(format!("walk the tree of {commit}")))?;
        if let Some((path, source)) = failure {
            return Err(self.op(format!("read {path} at {commit}"))(source));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CommitMeta, CommitOutcome, Tree};

    #[test]
    fn read_tree_lists_files_and_gitlinks_by_full_path() {
        let dir = std::env::temp_dir().join(format!("shopset-read-tree-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let repo = Repo::open_or_init_bare(&dir).unwrap();
        let mut tree = Tree::default();
        tree.insert("README.md".into(), "hello\n").unwrap();
        tree.insert("shopsets/ab/a/kustomization.yaml".into(), "k\n")
            .unwrap();
        let link = "0123456789abcdef0123456789abcdef01234567";
        tree.insert_gitlink("base".into(), link.into()).unwrap();
        let meta = CommitMeta {
            message: "t\n".into(),
            name: "t".into(),
            email: "t@t".into(),
            time: Some(1_767_225_600),
            signer: None,
        };
        let CommitOutcome::Committed { commit, .. } =
            repo.commit_tree("main", None, &tree, &meta).unwrap()
        else {
            panic!("a first commit is written");
        };
        let read = repo.read_tree(&commit).unwrap();
        let file = |s: &str| TreeEntry::File {
            bytes: s.as_bytes().to_vec(),
            executable: false,
        };
        assert_eq!(
            read,
            BTreeMap::from([
                ("README.md".to_owned(), file("hello\n")),
                (
                    "base".to_owned(),
                    TreeEntry::Gitlink {
                        commit: link.to_owned()
                    }
                ),
                ("shopsets/ab/a/kustomization.yaml".to_owned(), file("k\n")),
            ])
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
