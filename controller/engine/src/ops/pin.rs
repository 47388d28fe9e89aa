//! Flow 5: rollback by pin. Pinning a Tier to an earlier app commit moves its base gitlink
//! back on the next sync; nobody's history is rewritten. This module finds what to pin to.

use crate::repos::Repos;
use crate::resources::Resources;

/// How far back the system branch is searched for an earlier app commit.
const SEARCH: usize = 500;

/// The app commit the tier ran before the one it runs now, read from the history of its
/// system branch (each commit records its inputs).
///
/// # Errors
/// The Tier, its system branch or an earlier app commit cannot be found.
pub fn previous_app_commit(
    resources: &Resources,
    repos: &mut Repos,
    tier: &str,
) -> Result<String, String> {
    let spec = &resources
        .tiers
        .get(tier)
        .ok_or_else(|| format!("Tier {tier:?} does not exist"))?
        .spec;
    let branch = spec.branch_or(tier);
    let repo = repos
        .system(&spec.system.url, false)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("Tier {tier:?}: no system repository yet"))?;
    let mut commit = repo
        .remote_tip(branch)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("Tier {tier:?}: branch {branch} is not rendered yet"))?;
    let mut current: Option<String> = None;
    for _ in 0..SEARCH {
        if let Ok(Some(inputs)) = crate::repos::read_recorded(repo, &commit) {
            match &current {
                None => current = Some(inputs.app_commit),
                Some(now) if *now != inputs.app_commit => return Ok(inputs.app_commit),
                Some(_) => {}
            }
        }
        match repo.parent(&commit).map_err(|e| e.to_string())? {
            Some(parent) => commit = parent,
            None => break,
        }
    }
    Err(format!(
        "{branch} ran no other app commit in its last {SEARCH} commits: name one with --to"
    ))
}
