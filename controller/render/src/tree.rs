//! A tree of files, as it will be committed: validated relative paths to bytes, plus gitlinks.

use std::collections::BTreeMap;

/// A path that failed validation; it is never written.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("refusing path {path:?}: {reason}")]
pub struct PathError {
    /// The refused path.
    pub path: String,
    /// Why.
    pub reason: &'static str,
}

/// Checks that `path` is relative, has no empty, `.` or `..` segment, no `.git` segment, no
/// backslash and no NUL, so it cannot leave the repository or touch its metadata.
///
/// # Errors
/// The first rule broken.
pub fn check_path(path: &str) -> Result<(), PathError> {
    let fail = |reason| {
        Err(PathError {
            path: path.to_owned(),
            reason,
        })
    };
    if path.is_empty() || path.len() > 4096 {
        return fail("empty or longer than 4096 bytes");
    }
    if path.contains('\\') || path.contains('\0') {
        return fail("contains a backslash or NUL");
    }
    for segment in path.split('/') {
        if segment.is_empty() || segment == "." || segment == ".." {
            return fail("has an empty, '.' or '..' segment");
        }
        if segment.eq_ignore_ascii_case(".git") {
            return fail("has a '.git' segment");
        }
    }
    Ok(())
}

/// The complete content of one branch: ordered, so iteration is deterministic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tree {
    /// Regular files (mode 100644) by path.
    pub files: BTreeMap<String, Vec<u8>>,
    /// Gitlinks (mode 160000, submodule commits) by path.
    pub gitlinks: BTreeMap<String, String>,
}

impl Tree {
    /// Adds a file.
    ///
    /// # Errors
    /// A path that fails [`check_path`].
    pub fn insert(&mut self, path: String, bytes: impl Into<Vec<u8>>) -> Result<(), PathError> {
        check_path(&path)?;
        self.files.insert(path, bytes.into());
        Ok(())
    }

    /// Adds a gitlink.
    ///
    /// # Errors
    /// A path that fails [`check_path`].
    pub fn insert_gitlink(&mut self, path: String, commit: String) -> Result<(), PathError> {
        check_path(&path)?;
        self.gitlinks.insert(path, commit);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_escape_are_refused() {
        for bad in [
            "",
            "/abs",
            "a/../b",
            "..",
            "a//b",
            ".git/config",
            "a/.GIT/x",
            "a\\b",
            "./a",
        ] {
            assert!(check_path(bad).is_err(), "{bad}");
        }
        for good in [
            ".gitmodules",
            ".shopset/inputs.yaml",
            "shopsets/a/values/K.1",
        ] {
            assert!(check_path(good).is_ok(), "{good}");
        }
    }
}
