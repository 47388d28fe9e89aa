//! Fault injection for the crash tests: a failpoint aborts the process (SIGABRT, no unwinding,
//! no destructors) when it is reached, as a crash or a kill would.
//!
//! The engine never reads the environment for this. A binary arms one point with [`install`]
//! before it does anything else; the shipped binaries do it through
//! [`install_from_env_in_debug_builds`], which reads `SHOPSET_FAULT` only in a debug build, so a
//! release build has no way to arm a point. Nothing armed, every point is a no-op.

use std::sync::OnceLock;

/// The one point armed in this process, if any.
static ARMED: OnceLock<String> = OnceLock::new();

/// Arms `point` for the rest of the process. Only the first call counts: a point cannot be
/// disarmed or changed once armed, so the write path sees one answer for the whole run.
pub fn install(point: impl Into<String>) {
    let _ = ARMED.set(point.into());
}

/// Arms the point named by `SHOPSET_FAULT`, in a debug build only (the tests run debug builds
/// of the binaries). In a release build this does nothing.
pub fn install_from_env_in_debug_builds() {
    if cfg!(debug_assertions)
        && let Some(point) = std::env::var_os("SHOPSET_FAULT")
    {
        install(point.to_string_lossy());
    }
}

/// Whether the process is to abort at `point`. Points, in the order a sync reaches them:
///
/// - `after-objects`: blobs and trees of a tier written to the cache, no commit yet;
/// - `after-commit`: the commit written in the cache, not pushed;
/// - `after-push`: pushed, not yet recorded or reported;
/// - `between-tiers`: a tier of this sync committed and pushed, the next tier not started;
/// - `status-mid-write` (the controller's directory backend): half of the new status
///   document written to its temporary file, which is neither synced nor renamed.
///
/// Kills during a push or a fetch are not failpoints: the crash tests have the git server kill
/// the client from a hook, so the kill happens where the server is, whatever the timing.
#[must_use]
pub fn armed(point: &str) -> bool {
    ARMED.get().is_some_and(|p| p == point)
}

/// Aborts the process when it is to fail at `point` (see [`armed`] for the points).
pub fn fault(point: &str) {
    if armed(point) {
        eprintln!("fault injected at {point}");
        std::process::abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_armed_until_a_binary_installs_a_point() {
        // The unit tests never install one: every point is a no-op, whatever the environment.
        for point in [
            "after-objects",
            "after-commit",
            "after-push",
            "between-tiers",
        ] {
            assert!(!armed(point), "{point}");
        }
        fault("after-commit"); // returns: nothing is armed
    }
}
