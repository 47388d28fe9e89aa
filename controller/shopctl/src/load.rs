//! Reading resource files and directories.

use std::path::PathBuf;

use shopset_engine::Resources;

/// Reads every resource in `paths`. Unreadable files are reported in the result, as errors
/// that make the set incomplete.
pub fn resources(paths: &[PathBuf]) -> Resources {
    shopset_engine::files::read_documents(paths, &[]).resources()
}
