//! `shopctl render`: the planned tree of every tier written into a directory, one
//! sub-directory per branch, with the app repository materialised where the submodule goes, so
//! `kubectl kustomize <dir>/<branch>/shopsets/<name>` works and two renders compare with
//! `diff -r`.

use std::path::{Path, PathBuf};

use shopset_git::FileEntry;
use shopset_render::{TierInputs, Tree, layout, tree::check_path};

use crate::repos::Repos;

/// Marker that a directory was written by [`write_branch_dir`], so it may be replaced.
const MARKER: &str = layout::INPUTS;

/// Writes `tree` into `out/<branch>`, replacing an earlier render there, and materialises the
/// base from the app repository (symlinks are not followed; they are returned as warnings).
///
/// # Errors
/// A file-system or git failure, or `out/<branch>` holds something that is not a render.
pub fn write_branch_dir(
    out: &Path,
    inputs: &TierInputs,
    tree: &Tree,
    repos: &mut Repos,
) -> Result<(PathBuf, Vec<String>), String> {
    let branch = inputs.branch();
    check_path(branch).map_err(|e| e.to_string())?;
    let root = out.join(branch);
    if root.exists() {
        if !root.join(MARKER).is_file() {
            return Err(format!(
                "{} exists and is not an earlier render (no {MARKER}): refusing to replace it",
                root.display()
            ));
        }
        std::fs::remove_dir_all(&root)
            .map_err(|e| format!("{}: cannot remove: {e}", root.display()))?;
    }
    for (path, bytes) in &tree.files {
        write_file(&root, path, bytes)?;
    }
    let mut warnings = Vec::new();
    let app = repos
        .read(&inputs.tier.spec.app.url)
        .map_err(|e| format!("app repository: {e}"))?;
    for (path, commit) in &tree.gitlinks {
        for entry in app.read_dir(commit, "").map_err(|e| e.to_string())? {
            match entry {
                FileEntry::File { path: inner, bytes } => {
                    write_file(&root, &format!("{path}/{inner}"), &bytes)?;
                }
                FileEntry::Symlink { path: inner } => {
                    warnings.push(format!(
                        "app repository {commit}: {inner} is a symlink: not followed"
                    ));
                }
            }
        }
    }
    Ok((root, warnings))
}

fn write_file(root: &Path, path: &str, bytes: &[u8]) -> Result<(), String> {
    check_path(path).map_err(|e| e.to_string())?;
    let full = root.join(path);
    if let Some(parent) = full.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    std::fs::write(&full, bytes).map_err(|e| format!("{}: {e}", full.display()))
}
