//! Keeping a repository cache small: every incremental commit and small fetch leaves loose
//! objects (one file each), and nothing else here ever packs them. When git's own estimate of
//! their number (as `gc.auto` counts: the files in `objects/17/`, times 256) passes a
//! threshold, `git repack -d` packs them in a separate process that the caller does not wait
//! for: it writes a new pack, then removes only loose objects that pack holds, so this
//! process's reads and writes go on beside it.

use std::process::{Child, Command, Stdio};

use crate::{GitError, Repo};

/// Git's own default for `gc.auto`.
pub const DEFAULT_LOOSE_THRESHOLD: usize = 6700;

impl Repo {
    /// The loose objects, estimated as git estimates them for `gc.auto`.
    #[must_use]
    pub fn loose_objects_estimate(&self) -> usize {
        let sample = self.inner.path().join("objects").join("17");
        let count = std::fs::read_dir(sample).map_or(0, |entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| {
                    let name = e.file_name();
                    let name = name.to_string_lossy();
                    name.len() == 38 && name.bytes().all(|b| b.is_ascii_hexdigit())
                })
                .count()
        });
        count * 256
    }

    /// Starts `git repack -d -q` on this repository, without waiting for it.
    ///
    /// # Errors
    /// Git could not be started.
    pub fn spawn_pack_loose(&self) -> Result<Child, GitError> {
        Command::new("git")
            .arg("-C")
            .arg(self.inner.path())
            .args(["repack", "-d", "-q"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| GitError::Spawn(e.to_string()))
    }
}
