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
pub(crate) struct Changes {
    by_name: BTreeMap<String, Change>,
    /// What the changes apply to: the base tree's directory, unless an earlier change removed
    /// it (`Some(None)`: empty) or set it to another tree (`Some(Some(id))`).
    start: Option<Option<Oid>>,
}

impl Changes {
    fn at(&mut self, path: &str) -> (&mut Self, String) {
        let mut parts: Vec<&str> = path.split('/').collect();
        let name = parts.pop().unwrap_or_default().to_owned();
        let mut dir = self;
        for part in parts {
            let entry = dir
                .by_name
                .entry(part.to_owned())
                .or_insert_with(|| Change::Dir(Self::default()));
            let start = match entry {
                Change::Dir(_) => None,
                Change::Set(0o040000, oid) => Some(Some(*oid)),
                Change::Set(..) | Change::Remove => Some(None),
            };
            if start.is_some() {
                // A change inside what an earlier change removed or replaced.
                *entry = Change::Dir(Self {
                    by_name: BTreeMap::new(),
                    start,
                });
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
        dir.by_name.insert(name, Change::Remove);
    }

    /// Sets `path` to the object `oid` with git mode `mode`.
    pub(crate) fn set(&mut self, path: &str, mode: i32, oid: Oid) {
        let (dir, name) = self.at(path);
        dir.by_name.insert(name, Change::Set(mode, oid));
    }

    /// Applies the changes to `base` (or to an empty tree) and writes the trees that changed
    /// with `write`. `None` when the result is empty.
    pub(crate) fn apply(
        &self,
        repo: &git2::Repository,
        base: Option<&git2::Tree<'_>>,
        write: &mut impl FnMut(ObjectType, &[u8]) -> Result<Oid, git2::Error>,
    ) -> Result<Option<Oid>, git2::Error> {
        let replaced = match self.start {
            None => None,
            Some(None) => return self.apply_to(repo, None, write),
            Some(Some(oid)) => Some(repo.find_tree(oid)?),
        };
        self.apply_to(repo, replaced.as_ref().or(base), write)
    }

    fn apply_to(
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
        for (name, change) in &self.by_name {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(repo: &git2::Repository, text: &str) -> Oid {
        repo.blob(text.as_bytes()).expect("blob")
    }

    fn tree(repo: &git2::Repository, entries: &[(&str, i32, Oid)]) -> Oid {
        let mut b = repo.treebuilder(None).expect("builder");
        for (name, mode, oid) in entries {
            b.insert(name, *oid, *mode).expect("insert");
        }
        b.write().expect("tree")
    }

    #[test]
    fn later_changes_inside_removed_or_replaced_directories_start_from_what_replaced_them() {
        let dir = std::env::temp_dir().join(format!("shopset-update-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let repo = git2::Repository::init_bare(&dir).expect("repo");
        let (x, y, z) = (blob(&repo, "x"), blob(&repo, "y"), blob(&repo, "z"));
        let old_a = tree(&repo, &[("old", 0o100644, x)]);
        let other = tree(&repo, &[("kept", 0o100644, y)]);
        let base = tree(&repo, &[("a", 0o040000, old_a), ("d", 0o040000, old_a)]);
        let base = repo.find_tree(base).expect("base");

        let mut changes = Changes::default();
        // "a" removed, then a file set inside it: "a" holds only that file.
        changes.remove("a");
        changes.set("a/new", 0o100644, z);
        // "d" replaced by another tree, then a file added inside: both are there.
        changes.set("d", 0o040000, other);
        changes.set("d/added", 0o100644, z);
        let mut write = |kind, bytes: &[u8]| repo.odb()?.write(kind, bytes);
        let got = changes
            .apply(&repo, Some(&base), &mut write)
            .expect("apply")
            .expect("not empty");

        let want_a = tree(&repo, &[("new", 0o100644, z)]);
        let want_d = tree(&repo, &[("added", 0o100644, z), ("kept", 0o100644, y)]);
        let want = tree(&repo, &[("a", 0o040000, want_a), ("d", 0o040000, want_d)]);
        assert_eq!(got, want);

        // Removing the last entry of a directory removes the directory.
        let mut changes = Changes::default();
        changes.remove("a/old");
        let got = changes
            .apply(&repo, Some(&base), &mut write)
            .expect("apply")
            .expect("not empty");
        assert_eq!(got, tree(&repo, &[("d", 0o040000, old_a)]));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
