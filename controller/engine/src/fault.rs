//! Fault injection for the crash tests: `SHOPSET_FAULT=<point>` aborts the process (SIGABRT,
//! no unwinding, no destructors) when it reaches that point, as a crash or a kill would.
//! Unset, every point is a no-op.

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
    std::env::var("SHOPSET_FAULT").is_ok_and(|p| p == point)
}

/// Aborts the process when it is to fail at `point` (see [`armed`] for the points).
pub fn fault(point: &str) {
    if armed(point) {
        eprintln!("fault injected at {point}");
        std::process::abort();
    }
}
