//! All git I/O of the product, on top of libgit2 (`git2`).
//!
//! Room: repositories, trees, commits and branches. It knows nothing of ShopSets: it takes a
//! [`Tree`] and a [`CommitMeta`] and reports what it did.
//!
//! Invariants:
//! - commits are built in the object database, never in a work tree;
//! - a branch only moves forward from the commit that was read (compare-and-swap on the ref), so
//!   a concurrent writer's commit is never lost and nothing is ever forced;
//! - a tree identical to the branch's current tree writes no commit;
//! - reads never follow symlinks: a symlink in a repository is reported, not resolved;
//! - errors name the repository, the branch or commit and the path involved, never credentials.

mod cache;
mod creds;
mod deflate;
pub mod forge;
mod housekeeping;
mod inspect;
mod pack;
mod present;
mod read;
mod transport;
mod update;
mod write;

use std::path::{Path, PathBuf};

pub use cache::Cache;
pub use creds::{Credentials, Scope, Secret, redact_url, scrub, url_host};
pub use housekeeping::DEFAULT_LOOSE_THRESHOLD;
pub use inspect::{CommitInfo, Entry, TreeChange};
pub use read::{FileEntry, TreeEntry};
pub use shopset_render::Tree;
pub use transport::{PushOutcome, classify_rejection};
pub use write::{CommitMeta, CommitOutcome, Signer, TreeEdits};

/// A git failure, with what was being done.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// The repository could not be opened or created.
    #[error("repository {location}: cannot {action}")]
    Open {
        /// Where the repository is (a path, never credentials).
        location: String,
        /// What was attempted.
        action: &'static str,
        /// The cause.
        #[source]
        source: git2::Error,
    },
    /// An operation on an open repository failed.
    #[error("repository {location}: {action}")]
    Operation {
        /// Where the repository is.
        location: String,
        /// What was attempted, with the ref, commit or path.
        action: String,
        /// The cause.
        #[source]
        source: git2::Error,
    },
    /// A URL this slice cannot use (remote transports arrive with the git engine).
    #[error("repository URL {0:?} is not a local path or file:// URL")]
    UnsupportedUrl(String),
    /// The branch moved while we were writing: somebody else committed.
    #[error(
        "repository {location}: branch {branch} moved from {expected} to {actual} while writing"
    )]
    BranchMoved {
        /// Where the repository is.
        location: String,
        /// The branch.
        branch: String,
        /// The tip we built on.
        expected: String,
        /// The tip we found.
        actual: String,
    },
    /// git could not talk to the server (network, authentication, missing repository).
    #[error("{url}: {action} failed: {message}")]
    Transport {
        /// The URL, without credentials.
        url: String,
        /// `fetch` or `push`.
        action: String,
        /// What git said, scrubbed of secrets.
        message: String,
        /// Authentication or host-key failure (a person must fix it; retrying will not).
        auth: bool,
    },
    /// A commit could not be signed.
    #[error("signing failed: {0}")]
    Signing(String),
    /// The git program could not be started.
    #[error("cannot run git: {0}")]
    Spawn(String),
    /// A file-system failure.
    #[error("{path}: {message}")]
    Io {
        /// The path.
        path: String,
        /// What failed.
        message: String,
    },
    /// A path in a tree was refused.
    #[error(transparent)]
    Path(#[from] shopset_render::tree::PathError),
}

/// The local path of a repository URL: a path, or a `file://` URL.
///
/// # Errors
/// Any other URL.
pub fn local_path(url: &str) -> Result<PathBuf, GitError> {
    if let Some(rest) = url.strip_prefix("file://") {
        return Ok(PathBuf::from(rest));
    }
    if url.contains("://") || url.contains('@') && url.contains(':') {
        return Err(GitError::UnsupportedUrl(url.to_owned()));
    }
    Ok(PathBuf::from(url))
}

/// An open repository.
pub struct Repo {
    pub(crate) inner: git2::Repository,
    pub(crate) location: String,
}

impl std::fmt::Debug for Repo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repo")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl Repo {
    /// Opens an existing repository (bare or not) at a local URL.
    ///
    /// # Errors
    /// Not a local URL, or no repository there.
    pub fn open(url: &str) -> Result<Self, GitError> {
        let path = local_path(url)?;
        let inner = git2::Repository::open(&path).map_err(|source| GitError::Open {
            location: path.display().to_string(),
            action: "open",
            source,
        })?;
        Ok(Self {
            inner,
            location: path.display().to_string(),
        })
    }

    /// Opens the bare repository at `path`, creating it when absent.
    ///
    /// # Errors
    /// It cannot be opened or created.
    pub fn open_or_init_bare(path: &Path) -> Result<Self, GitError> {
        let location = path.display().to_string();
        let inner = match git2::Repository::open_bare(path) {
            Ok(repo) => repo,
            Err(_) if !path.exists() || dir_is_empty(path) => git2::Repository::init_bare(path)
                .map_err(|source| GitError::Open {
                    location: location.clone(),
                    action: "create",
                    source,
                })?,
            Err(source) => {
                return Err(GitError::Open {
                    location,
                    action: "open",
                    source,
                });
            }
        };
        Ok(Self { inner, location })
    }

    /// Where the repository is, for messages.
    #[must_use]
    pub fn location(&self) -> &str {
        &self.location
    }

    pub(crate) fn op(
        &self,
        action: impl Into<String>,
    ) -> impl FnOnce(git2::Error) -> GitError + '_ {
        let action = action.into();
        move |source| GitError::Operation {
            location: self.location.clone(),
            action,
            source,
        }
    }

    /// The commit at the tip of `branch`, if the branch exists.
    ///
    /// # Errors
    /// The ref exists but cannot be read.
    pub fn tip(&self, branch: &str) -> Result<Option<String>, GitError> {
        match self.inner.find_reference(&format!("refs/heads/{branch}")) {
            Ok(r) => {
                let commit = r
                    .peel_to_commit()
                    .map_err(self.op(format!("read branch {branch}")))?;
                Ok(Some(commit.id().to_string()))
            }
            Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
            Err(source) => Err(self.op(format!("read branch {branch}"))(source)),
        }
    }

    /// The tree id of a commit.
    ///
    /// # Errors
    /// No such commit.
    pub fn tree_id(&self, commit: &str) -> Result<String, GitError> {
        let c = self.find_commit(commit)?;
        Ok(c.tree_id().to_string())
    }

    /// The message of a commit.
    ///
    /// # Errors
    /// No such commit.
    pub fn message(&self, commit: &str) -> Result<String, GitError> {
        let c = self.find_commit(commit)?;
        Ok(String::from_utf8_lossy(c.message_bytes()).into_owned())
    }

    /// When a commit was committed (when it landed), in seconds since the epoch.
    ///
    /// # Errors
    /// No such commit.
    pub fn commit_time(&self, commit: &str) -> Result<i64, GitError> {
        Ok(self.find_commit(commit)?.committer().when().seconds())
    }

    /// The first parent of a commit.
    ///
    /// # Errors
    /// No such commit.
    pub fn parent(&self, commit: &str) -> Result<Option<String>, GitError> {
        let c = self.find_commit(commit)?;
        Ok(c.parent_ids().next().map(|p| p.to_string()))
    }

    /// Whether `commit` is `ancestor` or has it in its history (a push of `commit` over
    /// `ancestor` is then a fast-forward).
    ///
    /// # Errors
    /// Either commit is missing.
    pub fn descends_from(&self, commit: &str, ancestor: &str) -> Result<bool, GitError> {
        let c = self.find_commit(commit)?.id();
        let a = self.find_commit(ancestor)?.id();
        if c == a {
            return Ok(true);
        }
        self.inner
            .graph_descendant_of(c, a)
            .map_err(self.op(format!("compare {commit} with {ancestor}")))
    }

    /// Points `HEAD` at `branch`, so plain clones check it out.
    ///
    /// # Errors
    /// The reference cannot be written.
    pub fn set_head(&self, branch: &str) -> Result<(), GitError> {
        self.inner
            .set_head(&format!("refs/heads/{branch}"))
            .map_err(self.op(format!("point HEAD at {branch}")))
    }

    /// The commit the remote's `branch` had at the last fetch or push
    /// (`refs/remotes/origin/<branch>`).
    ///
    /// # Errors
    /// The ref exists but cannot be read.
    pub fn remote_tip(&self, branch: &str) -> Result<Option<String>, GitError> {
        match self
            .inner
            .find_reference(&format!("refs/remotes/origin/{branch}"))
        {
            Ok(r) => Ok(Some(
                r.peel_to_commit()
                    .map_err(self.op(format!("read origin/{branch}")))?
                    .id()
                    .to_string(),
            )),
            Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
            Err(source) => Err(self.op(format!("read origin/{branch}"))(source)),
        }
    }

    /// The remote's branches whose names start with `prefix`, as (branch, commit) in name
    /// order, as of the last fetch or push.
    ///
    /// # Errors
    /// The refs cannot be read.
    pub fn remote_branches(&self, prefix: &str) -> Result<Vec<(String, String)>, GitError> {
        let glob = format!("refs/remotes/origin/{prefix}*");
        let refs = self
            .inner
            .references_glob(&glob)
            .map_err(self.op(format!("list origin/{prefix}*")))?;
        let mut out = Vec::new();
        for r in refs {
            let r = r.map_err(self.op(format!("list origin/{prefix}*")))?;
            let Some(name) = r
                .name()
                .ok()
                .and_then(|n| n.strip_prefix("refs/remotes/origin/"))
            else {
                continue;
            };
            let name = name.to_owned();
            let commit = r
                .peel_to_commit()
                .map_err(self.op(format!("read origin/{name}")))?;
            out.push((name, commit.id().to_string()));
        }
        out.sort();
        Ok(out)
    }

    pub(crate) fn forget_remote_tip(&self, branch: &str) -> Result<(), GitError> {
        match self
            .inner
            .find_reference(&format!("refs/remotes/origin/{branch}"))
        {
            Ok(mut r) => r
                .delete()
                .map_err(self.op(format!("forget origin/{branch}"))),
            Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(()),
            Err(source) => Err(self.op(format!("read origin/{branch}"))(source)),
        }
    }

    pub(crate) fn set_remote_tip(&self, branch: &str, commit: &str) -> Result<(), GitError> {
        let oid =
            git2::Oid::from_str(commit).map_err(self.op(format!("parse commit id {commit}")))?;
        self.inner
            .reference(
                &format!("refs/remotes/origin/{branch}"),
                oid,
                true,
                "shopset: pushed",
            )
            .map_err(self.op(format!("record origin/{branch}")))?;
        Ok(())
    }

    pub(crate) fn find_commit(&self, commit: &str) -> Result<git2::Commit<'_>, GitError> {
        let oid =
            git2::Oid::from_str(commit).map_err(self.op(format!("parse commit id {commit}")))?;
        self.inner
            .find_commit(oid)
            .map_err(self.op(format!("find commit {commit}")))
    }
}

fn dir_is_empty(path: &Path) -> bool {
    std::fs::read_dir(path).is_ok_and(|mut d| d.next().is_none())
}
