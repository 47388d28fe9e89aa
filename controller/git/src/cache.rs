//! A persistent bare cache per remote repository: fetched incrementally, rebuilt when damaged.

use std::path::{Path, PathBuf};

use crate::creds::redact_url;
use crate::{GitError, Repo};

/// File in each cache that records which URL it mirrors.
const MARKER: &str = "shopset-cache-url";

/// The directory of caches.
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
}

/// A stable, readable directory name for a URL: its last path segment and a hash of the whole.
fn dir_name(url: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in url.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let last = url
        .trim_end_matches('/')
        .rsplit(['/', ':'])
        .next()
        .unwrap_or("repo");
    let slug: String = last
        .trim_end_matches(".git")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    format!("{slug}-{hash:016x}.git")
}

impl Cache {
    /// Caches under `root`.
    #[must_use]
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The cache directory of `url`.
    #[must_use]
    pub fn path_of(&self, url: &str) -> PathBuf {
        self.root.join(dir_name(&redact_url(url)))
    }

    /// Opens the cache of `url`, creating it, or rebuilding it when it is missing its marker or
    /// cannot be opened (a crash while creating it, a corrupted directory).
    ///
    /// # Errors
    /// It can be neither opened nor created.
    pub fn open(&self, url: &str) -> Result<Repo, GitError> {
        let path = self.path_of(url);
        let marker = redact_url(url);
        if let Some(repo) = Self::usable(&path, &marker) {
            return Ok(repo);
        }
        self.rebuild(url)
    }

    /// Throws the cache of `url` away and creates it anew.
    ///
    /// # Errors
    /// It cannot be created.
    pub fn rebuild(&self, url: &str) -> Result<Repo, GitError> {
        let path = self.path_of(url);
        if path.exists() {
            tracing::warn!(cache = %path.display(), "rebuilding the repository cache");
            std::fs::remove_dir_all(&path).map_err(|e| GitError::Io {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
        }
        std::fs::create_dir_all(&self.root).map_err(|e| GitError::Io {
            path: self.root.display().to_string(),
            message: e.to_string(),
        })?;
        let repo = Repo::open_or_init_bare(&path)?;
        std::fs::write(path.join(MARKER), redact_url(url)).map_err(|e| GitError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Ok(repo)
    }

    fn usable(path: &Path, marker: &str) -> Option<Repo> {
        let recorded = std::fs::read_to_string(path.join(MARKER)).ok()?;
        if recorded != marker {
            return None;
        }
        let repo = git2::Repository::open_bare(path).ok()?;
        repo.odb().ok()?;
        repo.references()
            .ok()?
            .try_for_each(|r| r.map(|_| ()))
            .ok()?;
        Some(Repo {
            inner: repo,
            location: path.display().to_string(),
        })
    }
}
