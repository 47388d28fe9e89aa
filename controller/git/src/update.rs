//! Editing a tree in place: removals and replacements at full paths, applied to an existing
//! tree, writing only the trees on the changed paths. The same result as libgit2's
//! `TreeUpdateBuilder` (a directory left empty disappears), but the new trees are written with
//! [`crate::pack::write_loose`], without the object-database rescan libgit2 does for every
//! object it writes.

use std::collections::BTreeMap;

use git2::{ObjectType, Oid};

/// What becomes of one name in a directory.
#[derive(Debug)]
enum Change {
    /// Removed.
    Remove,
    /// Set to this entry (mode and id).
    Set(i32, Oid),
    /// Changed inside.
    Dir(Changes),
}

/// The changes in one directory, by name.
#[derive(Debug, Default)]
pub(crate) struct Changes(BTreeMap<String, Change>);

impl Changes {
    fn at(&mut self, path: &str) -> (&mut Self, String) {
        let mut parts: Vec<&str> = path.split('/').collect();
        let name = parts.pop().unwrap_or_default().to_owned();
        let mut dir = self;
        for part in parts {
            let entry = dir
                .0
                .entry(part.to_owned())
                .or_insert_with(|| Change::Dir(Self::default()));
            if !matches!(entry, Change::Dir(_)) {
                // A later change inside what was set or removed: edit it instead.
                *entry = Change::Dir(Self::default());
            }
            let Change::Dir(inner) = entry else {
                unreachable!("made a directory just above")
            };
            dir = inner;
        }
        (dir, name)
    }

    /// Removes `path` (a file or a directory); nothing when it is not there.
    pub(crate) fn remove(&mut self, path: &str) {
        let (dir, name) = self.at(path);
        dir.0.insert(name, Change::Remove);
    }

    /// Sets `path` to the object `oid` with git mode `mode`.
    pub(crate) fn set(&mut self, path: &str, mode: i32, oid: Oid) {
        let (dir, name) = self.at(path);
        dir.0.insert(name, Change::Set(mode, oid));
    }

    /// Applies the changes to `base` (or to an empty tree) and writes the trees that changed
    /// with `write`. `None` when the result is empty.
    pub(crate) fn apply(
        &self,
        repo: &git2::Repository,
        base: Option<&git2::Tree<'_>>,
        write: &mut impl FnMut(ObjectType, &[u8]) -> Result<Oid, git2::Error>,
    ) -> Result<Option<Oid>, git2::Error> {
        let mut entries: BTreeMap<String, (i32, Oid)> = base
            .map(|t| {
                t.iter()
                    .map(|e| {
                        (
                            String::from_utf8_lossy(e.name_bytes()).into_owned(),
                            (e.filemode(), e.id()),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        for (name, change) in &self.0 {
            match change {
                Change::Remove => {
                    entries.remove(name);
                }
                Change::Set(mode, oid) => {
                    entries.insert(name.clone(), (*mode, *oid));
                }
                Change::Dir(inner) => {
                    let sub = match entries.get(name) {
                        Some((0o040000, oid)) => Some(repo.find_tree(*oid)?),
                        _ => None,
                    };
                    match inner.apply(repo, sub.as_ref(), write)? {
                        Some(oid) => {
                            entries.insert(name.clone(), (0o040000, oid));
                        }
                        None => {
                            entries.remove(name);
                        }
                    }
                }
            }
        }
        if entries.is_empty() {
            return Ok(None);
        }
        let listed = entries
            .iter()
            .map(|(name, (mode, oid))| {
                (
                    u32::try_from(*mode).unwrap_or(0o100644),
                    name.as_str(),
                    *oid,
                )
            })
            .collect();
        write(ObjectType::Tree, &crate::pack::tree_bytes(listed)).map(Some)
    }
}
