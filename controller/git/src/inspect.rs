//! Reading history and comparing trees, for people: what a commit says and who made it, and
//! which paths differ between two trees. Reads only.

use std::collections::BTreeMap;

use crate::{GitError, Repo};

/// What a path holds on one side of a comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A regular file.
    File {
        /// Whether it is executable (mode 100755).
        executable: bool,
        /// Its content.
        bytes: Vec<u8>,
    },
    /// A symlink (never followed).
    Symlink {
        /// Where it points.
        target: Vec<u8>,
    },
    /// A gitlink (a submodule's commit).
    Gitlink {
        /// The commit id.
        commit: String,
    },
}

impl Entry {
    /// The git file mode, as git prints it (`100644`, `100755`, `120000`, `160000`).
    #[must_use]
    pub fn mode(&self) -> &'static str {
        match self {
            Self::File {
                executable: false, ..
            } => "100644",
            Self::File {
                executable: true, ..
            } => "100755",
            Self::Symlink { .. } => "120000",
            Self::Gitlink { .. } => "160000",
        }
    }
}

/// A path whose content differs between two trees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeChange {
    /// The full path.
    pub path: String,
    /// Before (`None`: added).
    pub old: Option<Entry>,
    /// After (`None`: removed).
    pub new: Option<Entry>,
}

/// Who made a commit, when, and what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInfo {
    /// The commit id.
    pub id: String,
    /// Its parents, first parent first.
    pub parents: Vec<String>,
    /// The author's name.
    pub author_name: String,
    /// The author's e-mail.
    pub author_email: String,
    /// When it was committed, in seconds since the epoch (the committer time: when it landed).
    pub time: i64,
    /// The whole message.
    pub message: String,
}

type Entries = BTreeMap<Vec<u8>, (i32, git2::Oid)>;

const TREE: i32 = 0o040000;

impl Repo {
    /// Who made `commit`, when, its parents and its message.
    ///
    /// # Errors
    /// No such commit.
    pub fn commit_info(&self, commit: &str) -> Result<CommitInfo, GitError> {
        let c = self.find_commit(commit)?;
        let author = c.author();
        Ok(CommitInfo {
            id: c.id().to_string(),
            parents: c.parent_ids().map(|p| p.to_string()).collect(),
            author_name: String::from_utf8_lossy(author.name_bytes()).into_owned(),
            author_email: String::from_utf8_lossy(author.email_bytes()).into_owned(),
            time: c.committer().when().seconds(),
            message: String::from_utf8_lossy(c.message_bytes()).into_owned(),
        })
    }

    /// The commits reachable from `to` and not from `from` (all of `to`'s history when
    /// `from` is `None`), newest first: at most `max` of them, and how many there are in all.
    ///
    /// # Errors
    /// A commit is missing.
    pub fn commits_between(
        &self,
        from: Option<&str>,
        to: &str,
        max: usize,
    ) -> Result<(Vec<CommitInfo>, usize), GitError> {
        let action = format!("list the commits {}..{to}", from.unwrap_or(""));
        let op = || self.op(action.clone());
        let mut walk = self.inner.revwalk().map_err(op())?;
        walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::TIME)
            .map_err(op())?;
        walk.push(self.find_commit(to)?.id()).map_err(op())?;
        if let Some(from) = from {
            walk.hide(self.find_commit(from)?.id()).map_err(op())?;
        }
        let mut shown = Vec::new();
        let mut total = 0;
        for id in walk {
            let id = id.map_err(op())?;
            total += 1;
            if shown.len() < max {
                shown.push(self.commit_info(&id.to_string())?);
            }
        }
        Ok((shown, total))
    }

    /// The paths whose entries differ between the trees `old` (`None`: the empty tree) and
    /// `new`, with both sides' content, in path order. Directories equal on both sides are not
    /// read; a path that is a directory on one side and not on the other is its files removed
    /// and the entry added (or the reverse).
    ///
    /// # Errors
    /// A tree or object is missing.
    pub fn compare_trees(&self, old: Option<&str>, new: &str) -> Result<Vec<TreeChange>, GitError> {
        let old = old.map(|id| self.tree_entries(id)).transpose()?;
        let new = self.tree_entries(new)?;
        let mut out = Vec::new();
        self.compare_entries(&old.unwrap_or_default(), &new, "", &mut out)?;
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    fn tree_entries(&self, id: &str) -> Result<Entries, GitError> {
        let oid = git2::Oid::from_str(id).map_err(self.op(format!("parse tree id {id}")))?;
        self.entries_of(oid, id)
    }

    fn entries_of(&self, oid: git2::Oid, what: &str) -> Result<Entries, GitError> {
        let tree = self
            .inner
            .find_tree(oid)
            .map_err(self.op(format!("read tree {what}")))?;
        Ok(tree
            .iter()
            .map(|e| (e.name_bytes().to_vec(), (e.filemode(), e.id())))
            .collect())
    }

    fn compare_entries(
        &self,
        old: &Entries,
        new: &Entries,
        prefix: &str,
        out: &mut Vec<TreeChange>,
    ) -> Result<(), GitError> {
        let names: std::collections::BTreeSet<&Vec<u8>> = old.keys().chain(new.keys()).collect();
        for name in names {
            let path = format!("{prefix}{}", String::from_utf8_lossy(name));
            let (a, b) = (old.get(name), new.get(name));
            if a == b {
                continue;
            }
            let sub = |side: Option<&(i32, git2::Oid)>| -> Result<Entries, GitError> {
                match side {
                    Some((TREE, oid)) => self.entries_of(*oid, &path),
                    _ => Ok(Entries::new()),
                }
            };
            let a_tree = matches!(a, Some((TREE, _)));
            let b_tree = matches!(b, Some((TREE, _)));
            if a_tree || b_tree {
                self.compare_entries(&sub(a)?, &sub(b)?, &format!("{path}/"), out)?;
            }
            let a = if a_tree { None } else { a };
            let b = if b_tree { None } else { b };
            if a.is_none() && b.is_none() {
                continue;
            }
            out.push(TreeChange {
                old: a.map(|e| self.entry(e, &path)).transpose()?,
                new: b.map(|e| self.entry(e, &path)).transpose()?,
                path,
            });
        }
        Ok(())
    }

    fn entry(&self, (mode, oid): &(i32, git2::Oid), path: &str) -> Result<Entry, GitError> {
        if *mode == 0o160000 {
            return Ok(Entry::Gitlink {
                commit: oid.to_string(),
            });
        }
        let blob = self
            .inner
            .find_blob(*oid)
            .map_err(self.op(format!("read {path} ({oid})")))?;
        let bytes = blob.content().to_vec();
        Ok(match *mode {
            0o120000 => Entry::Symlink { target: bytes },
            mode => Entry::File {
                executable: mode == 0o100755,
                bytes,
            },
        })
    }
}
