//! The repositories a run touches, opened once each.

use std::collections::BTreeMap;

use shopset_git::{GitError, Repo};

/// Open repositories by URL.
#[derive(Debug, Default)]
pub struct Repos {
    open: BTreeMap<String, Repo>,
}

impl Repos {
    /// A repository to read (app or configuration): it must exist.
    ///
    /// # Errors
    /// It cannot be opened.
    pub fn read(&mut self, url: &str) -> Result<&Repo, GitError> {
        if !self.open.contains_key(url) {
            let repo = Repo::open(url)?;
            self.open.insert(url.to_owned(), repo);
        }
        Ok(&self.open[url])
    }

    /// A system repository if it exists already.
    ///
    /// # Errors
    /// It exists but cannot be opened.
    pub fn existing(&mut self, url: &str) -> Result<Option<&Repo>, GitError> {
        let path = shopset_git::local_path(url)?;
        if !self.open.contains_key(url) && !path.exists() {
            return Ok(None);
        }
        self.read(url).map(Some)
    }

    /// A system repository: created (bare) when absent.
    ///
    /// # Errors
    /// It cannot be opened or created.
    pub fn system(&mut self, url: &str) -> Result<&Repo, GitError> {
        if !self.open.contains_key(url) {
            let path = shopset_git::local_path(url)?;
            let repo = Repo::open_or_init_bare(&path)?;
            self.open.insert(url.to_owned(), repo);
        }
        Ok(&self.open[url])
    }
}
