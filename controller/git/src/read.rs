//! Reading files at a commit, without a work tree.

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
}
