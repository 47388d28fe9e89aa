//! `shopctl verify` (and, later, the controller's drift check): whether the tip of each tier
//! branch is a pure rendering of the current resources. Two questions, answered apart:
//!
//! - **drift**: the tip's tree against what the tip's own recorded inputs
//!   (`.shopset/inputs.yaml`) render to, path by path: what a person changed by hand;
//! - **pending**: the tip's recorded inputs against what the current resources plan
//!   ([`plan_tiers`]): what the next sync would change, ShopSet by ShopSet, and why.
//!
//! Reads git; commits nothing and pushes nothing (rendered trees are written into the cache's
//! object database only, to compare tree ids). The comparison itself, [`compare`], is pure.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use shopset_git::TreeEntry;
use shopset_render::{TierInputs, Tree, layout};

use crate::ops::plan::{Summary, TierPlan, plan_tiers};
use crate::repos::Repos;
use crate::resources::Resources;

/// Lines of each side a short diff shows at most.
pub const DIFF_LINES: usize = 12;

/// How a verification runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyOptions {
    /// Add a short diff to each file that drifted.
    pub diffs: bool,
    /// Verify only these tiers (all when `None`).
    pub tiers: Option<BTreeSet<String>>,
}

/// The verification of every tier.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    /// One entry per Tier of the resources (in name order).
    pub tiers: Vec<TierVerify>,
    /// Problems with the resources or the repositories, each naming what it is about: what
    /// they concern could not be verified.
    pub problems: Vec<crate::problem::Problem>,
}

impl VerifyReport {
    /// True when some tier's tip was changed by hand or a sync would change it.
    #[must_use]
    pub fn drifted_or_pending(&self) -> bool {
        self.tiers
            .iter()
            .any(|t| !t.drift.is_empty() || t.pending.is_some())
    }

    /// True when something could not be verified.
    #[must_use]
    pub fn has_problems(&self) -> bool {
        crate::any_error(&self.problems) || self.tiers.iter().any(|t| crate::any_error(&t.problems))
    }
}

/// One tier branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TierVerify {
    /// The Tier.
    pub tier: String,
    /// Its branch.
    pub branch: String,
    /// The system repository (without credentials).
    pub repository: String,
    /// The tip verified (`None`: the branch does not exist).
    pub tip: Option<String>,
    /// What the tip holds that its recorded inputs do not render to, by path.
    pub drift: Vec<Drift>,
    /// What a sync of the current resources would change (`None`: nothing, or it could not
    /// be planned, which is then a problem of the report).
    pub pending: Option<Pending>,
    /// Problems verifying this branch.
    pub problems: Vec<crate::problem::Problem>,
}

/// How a path differs from the rendering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum DriftKind {
    /// At the tip, not in the rendering: a person added it.
    Added,
    /// In the rendering, not at the tip: a person removed it.
    Removed,
    /// At both, different.
    Changed,
}

impl std::fmt::Display for DriftKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Added => "added",
            Self::Removed => "removed",
            Self::Changed => "changed",
        })
    }
}

/// One path of the tip that is not what the rendering holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Drift {
    /// The path.
    pub path: String,
    /// Added, removed or changed.
    pub kind: DriftKind,
    /// What the entry is or how it differs, when that is more than a file's content: a
    /// gitlink's commits, a mode, a symlink.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// A short diff (rendering `-`, tip `+`), when asked for and the entry is a file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}

/// What the next sync would change on a branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Pending {
    /// ShopSets it would add.
    pub added: Vec<String>,
    /// ShopSets whose files it would change.
    pub changed: Vec<String>,
    /// ShopSets it would remove.
    pub removed: Vec<String>,
    /// ShopSets it would keep at their rendered version because their input is invalid now.
    pub kept: Vec<String>,
    /// The app commit the base moves from, when it moves.
    pub base_from: Option<String>,
    /// The app commit of the base after the sync.
    pub base_to: String,
    /// Why, one sentence each.
    pub reasons: Vec<String>,
}

/// Verifies every tier branch of `resources` (those in `options.tiers` only, when given).
/// Never stops at the first problem: each is reported and the rest is still verified.
#[must_use]
pub fn verify(resources: &Resources, repos: &mut Repos, options: &VerifyOptions) -> VerifyReport {
    let plan = plan_tiers(resources, repos, options.tiers.as_ref());
    let plans: BTreeMap<&str, &TierPlan> =
        plan.tiers.iter().map(|p| (p.tier.as_str(), p)).collect();
    let mut report = VerifyReport {
        tiers: Vec::new(),
        problems: plan.problems.clone(),
    };
    for (tier, sourced) in &resources.tiers {
        if options
            .tiers
            .as_ref()
            .is_some_and(|only| !only.contains(tier))
        {
            continue;
        }
        let spec = &sourced.spec;
        let branch = spec.branch_or(tier).to_owned();
        let url = &spec.system.url;
        let tier_plan = plans.get(tier.as_str()).copied();
        let mut t = TierVerify {
            tier: tier.clone(),
            branch: branch.clone(),
            repository: shopset_git::redact_url(url),
            tip: None,
            drift: Vec::new(),
            pending: tier_plan.and_then(pending),
            problems: Vec::new(),
        };
        // The tip the plan was made on, so drift and pending speak of the same commit.
        let tip = match tier_plan {
            Some(p) => Ok(p.previous_tip.clone()),
            None => read_tip(repos, url, &branch),
        };
        match tip {
            Ok(Some(tip)) => {
                match tip_drift(repos, url, &tip, options.diffs) {
                    Ok(drift) => t.drift = drift,
                    Err(e) => t.problems.push(crate::problem::Problem::about(
                        "Tier",
                        tier,
                        format!("branch {branch} at {tip}: {e}"),
                    )),
                }
                t.tip = Some(tip);
            }
            Ok(None) => {}
            Err(e) => t.problems.push(crate::problem::Problem::about(
                "Tier",
                tier,
                format!("system repository: {e}"),
            )),
        }
        tracing::info!(
            %tier, %branch, tip = ?t.tip, drift = t.drift.len(), pending = t.pending.is_some(),
            "verified"
        );
        report.tiers.push(t);
    }
    report
}

fn read_tip(repos: &mut Repos, url: &str, branch: &str) -> Result<Option<String>, String> {
    match repos.system(url, false).map_err(|e| e.to_string())? {
        Some(repo) => repo.remote_tip(branch).map_err(|e| e.to_string()),
        None => Ok(None),
    }
}

fn system<'a>(repos: &'a mut Repos, url: &str) -> Result<&'a shopset_git::Repo, String> {
    repos
        .system(url, false)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "the system repository is gone".to_owned())
}

/// What `tip` holds beyond, or short of, what its recorded inputs render to.
pub(crate) fn tip_drift(
    repos: &mut Repos,
    url: &str,
    tip: &str,
    diffs: bool,
) -> Result<Vec<Drift>, String> {
    let inputs = match repos.parsed_inputs(tip) {
        Some(inputs) => inputs,
        None => {
            let repo = system(repos, url)?;
            let bytes = repo
                .read_file(tip, layout::INPUTS)
                .map_err(|e| e.to_string())?;
            // Without readable inputs nothing can be rendered again: that one path is the
            // drift, and the rest of the tree is not compared.
            let unreadable = |kind, detail: String| {
                Ok(vec![Drift {
                    path: layout::INPUTS.to_owned(),
                    kind,
                    detail: Some(format!(
                        "{detail}: the tip cannot be rendered again, the rest of its tree was \
                         not compared"
                    )),
                    diff: None,
                }])
            };
            let Some(bytes) = bytes else {
                return unreadable(DriftKind::Removed, "missing".to_owned());
            };
            let read = shopset_render::record::read(&String::from_utf8_lossy(&bytes), &mut |p| {
                repo.read_file(tip, p).map_err(|e| e.to_string())
            });
            let inputs = match read {
                Ok(inputs) => std::sync::Arc::new(inputs),
                Err(e) => return unreadable(DriftKind::Changed, format!("not readable ({e})")),
            };
            repos.keep_inputs(tip, std::sync::Arc::clone(&inputs));
            inputs
        }
    };
    let tree_id = system(repos, url)?
        .tree_id(tip)
        .map_err(|e| e.to_string())?;
    // Clean tips, the usual case, are settled by tree id (and remembered per commit).
    if repos.is_rendering(url, tip, &tree_id, &inputs) {
        return Ok(Vec::new());
    }
    let expected = shopset_render::render_tier(&inputs)
        .map_err(|e| format!("{} does not render: {e}", layout::INPUTS))?;
    let actual = system(repos, url)?
        .read_tree(tip)
        .map_err(|e| e.to_string())?;
    Ok(compare(&expected, &actual, diffs))
}

/// What a tier's planned sync would change, or `None` when its inputs are the ones recorded
/// at the tip (then the sync writes nothing, unless the tip drifted).
#[must_use]
pub fn pending(plan: &TierPlan) -> Option<Pending> {
    if plan.previous.as_deref() == Some(&*plan.inputs) {
        return None;
    }
    let Summary {
        added,
        changed,
        removed,
        kept,
        base_from,
        base_to,
        shops: _,
        migrations: _,
        sides_removed: _,
        rollouts_leaving: _,
    } = plan.summary.clone();
    Some(Pending {
        reasons: reasons(
            &plan.branch,
            plan.previous_tip.as_deref(),
            plan.previous.as_deref(),
            &plan.inputs,
            &plan.summary,
        ),
        added,
        changed,
        removed,
        kept,
        base_from,
        base_to,
    })
}

/// Why the inputs planned now differ from those recorded at the tip of `branch` (`tip`:
/// `None` when the branch does not exist), one sentence each.
#[must_use]
pub fn reasons(
    branch: &str,
    tip: Option<&str>,
    previous: Option<&TierInputs>,
    inputs: &TierInputs,
    summary: &Summary,
) -> Vec<String> {
    let mut out = Vec::new();
    let Some(previous) = previous else {
        out.push(match tip {
            None => format!("branch {branch} does not exist yet: every ShopSet is new"),
            Some(tip) => format!(
                "the tip of {branch} ({tip}) records no inputs ({}): every ShopSet is rendered \
                 again",
                layout::INPUTS
            ),
        });
        out.extend(
            summary
                .added
                .iter()
                .map(|n| format!("ShopSet {n:?}: added")),
        );
        return out;
    };
    if previous.tier != inputs.tier {
        let fields = changed_fields(&previous.tier.spec, &inputs.tier.spec, "spec");
        out.push(format!(
            "Tier {:?} changed: {}",
            inputs.tier.name,
            if fields.is_empty() {
                "its name".to_owned()
            } else {
                fields.join(", ")
            }
        ));
    }
    if let Some(from) = &summary.base_from {
        out.push(format!("base: app commit {from} -> {}", summary.base_to));
    }
    for name in &summary.added {
        out.push(format!(
            "ShopSet {name:?}: added (in the resources, not rendered at the tip)"
        ));
    }
    for name in &summary.removed {
        out.push(format!(
            "ShopSet {name:?}: removed (rendered at the tip, no longer a ShopSet of this tier)"
        ));
    }
    for name in &summary.changed {
        let why = match (previous.shop_sets.get(name), inputs.shop_sets.get(name)) {
            (Some(old), Some(new)) => shopset_why(previous, inputs, old, new),
            _ => Vec::new(),
        };
        out.push(format!(
            "ShopSet {name:?}: changed: {}",
            if why.is_empty() {
                "the tier's settings changed".to_owned()
            } else {
                why.join("; ")
            }
        ));
    }
    for name in &summary.kept {
        out.push(format!(
            "ShopSet {name:?}: kept at its rendered version (its input is invalid now)"
        ));
    }
    for shop in &summary.shops {
        out.push(format!("Shop {shop}"));
    }
    for line in &summary.migrations {
        out.push(format!("Migrating ShopSet {line}"));
    }
    for line in &summary.rollouts_leaving {
        out.push(format!(
            "ShopSet {line}: leaving canary release; each Rollout goes once Argo CD reports the \
             ShopSet Synced at the commit that keeps it and Healthy"
        ));
    }
    for (name, new) in &inputs.configurations {
        let old = previous.configurations.get(name);
        let at = |c: &shopset_render::inputs::ResolvedConfiguration| {
            c.source.as_ref().map(|s| s.commit.clone())
        };
        match old {
            Some(old) if old.document != new.document => out.push(format!(
                "Configuration {name:?}: its document changed{}",
                match (at(old), at(new)) {
                    (Some(a), Some(b)) if a != b => format!(" (read at {b}, was {a})"),
                    _ => String::new(),
                }
            )),
            Some(old) if at(old) != at(new) => out.push(format!(
                "Configuration {name:?}: read at {} (was {}), same document",
                at(new).unwrap_or_else(|| "inline".into()),
                at(old).unwrap_or_else(|| "inline".into())
            )),
            _ => {}
        }
    }
    for (name, new) in &inputs.failure_domains {
        if previous
            .failure_domains
            .get(name)
            .is_some_and(|old| old != new)
        {
            out.push(format!("FailureDomain {name:?} changed"));
        }
    }
    if out.is_empty() {
        out.push(format!(
            "the inputs recorded at the tip of {branch} differ from those of the resources"
        ));
    }
    out
}

/// Why one ShopSet's rendering changes.
fn shopset_why(
    previous: &TierInputs,
    inputs: &TierInputs,
    old: &shopset_render::inputs::PlacedShopSet,
    new: &shopset_render::inputs::PlacedShopSet,
) -> Vec<String> {
    let mut why = Vec::new();
    let fields = changed_fields(&old.spec, &new.spec, "spec");
    if !fields.is_empty() {
        why.push(format!("{} changed", fields.join(", ")));
    }
    if old.failure_domain != new.failure_domain {
        why.push(format!(
            "placed in failure domain {:?} (was {:?})",
            new.failure_domain, old.failure_domain
        ));
    } else if previous.failure_domains.get(&new.failure_domain)
        != inputs.failure_domains.get(&new.failure_domain)
    {
        why.push(format!("FailureDomain {:?} changed", new.failure_domain));
    }
    let config = &new.spec.configuration;
    if old.spec.configuration == *config
        && previous.configurations.get(config).map(|c| &c.document)
            != inputs.configurations.get(config).map(|c| &c.document)
    {
        why.push(format!("Configuration {config:?} changed"));
    }
    why
}

/// The top-level fields (as `prefix.field`) whose values differ between `a` and `b`.
fn changed_fields<T: Serialize>(a: &T, b: &T, prefix: &str) -> Vec<String> {
    let (Ok(serde_json::Value::Object(a)), Ok(serde_json::Value::Object(b))) =
        (serde_json::to_value(a), serde_json::to_value(b))
    else {
        return Vec::new();
    };
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| format!("{prefix}.{k}"))
        .collect()
}

/// An entry of the rendering, seen as [`TreeEntry`] is.
enum Expected<'a> {
    File(&'a [u8]),
    Gitlink(&'a str),
}

/// Compares the rendering `expected` with the tree `actual` of a tip, path by path, in path
/// order: what `actual` adds, lacks and changes, with a short diff of files when `diffs`.
/// Gitlinks compare by commit id; a file compares by content and mode.
#[must_use]
pub fn compare(expected: &Tree, actual: &BTreeMap<String, TreeEntry>, diffs: bool) -> Vec<Drift> {
    let mut wanted: BTreeMap<&str, Expected<'_>> = expected
        .files
        .iter()
        .map(|(p, b)| (p.as_str(), Expected::File(b)))
        .collect();
    wanted.extend(
        expected
            .gitlinks
            .iter()
            .map(|(p, c)| (p.as_str(), Expected::Gitlink(c))),
    );
    let paths: BTreeSet<&str> = wanted
        .keys()
        .copied()
        .chain(actual.keys().map(String::as_str))
        .collect();
    let mut out = Vec::new();
    for path in paths {
        let drift = |kind, detail: Option<String>, diff: Option<String>| Drift {
            path: path.to_owned(),
            kind,
            detail,
            diff: diff.filter(|_| diffs),
        };
        match (wanted.get(path), actual.get(path)) {
            (None, None) => {}
            (None, Some(entry)) => {
                let diff = match entry {
                    TreeEntry::File { bytes, .. } => Some(short_diff(b"", bytes)),
                    _ => None,
                };
                out.push(drift(DriftKind::Added, describe(entry), diff));
            }
            (Some(Expected::File(bytes)), None) => out.push(drift(
                DriftKind::Removed,
                None,
                Some(short_diff(bytes, b"")),
            )),
            (Some(Expected::Gitlink(commit)), None) => out.push(drift(
                DriftKind::Removed,
                Some(format!("a gitlink to {commit}")),
                None,
            )),
            (Some(Expected::File(want)), Some(entry)) => match entry {
                TreeEntry::File { bytes, executable } => {
                    let mode = executable.then(|| "mode 100644 -> 100755".to_owned());
                    if *want != bytes.as_slice() {
                        out.push(drift(
                            DriftKind::Changed,
                            mode,
                            Some(short_diff(want, bytes)),
                        ));
                    } else if mode.is_some() {
                        out.push(drift(DriftKind::Changed, mode, None));
                    }
                }
                other => out.push(drift(
                    DriftKind::Changed,
                    describe(other).map(|d| format!("{d}, expected a file")),
                    None,
                )),
            },
            (Some(Expected::Gitlink(want)), Some(entry)) => match entry {
                TreeEntry::Gitlink { commit } if commit == want => {}
                TreeEntry::Gitlink { commit } => out.push(drift(
                    DriftKind::Changed,
                    Some(format!("gitlink {want} -> {commit}")),
                    None,
                )),
                other => out.push(drift(
                    DriftKind::Changed,
                    Some(format!(
                        "{}, expected a gitlink to {want}",
                        describe(other).unwrap_or_else(|| "a file".to_owned())
                    )),
                    None,
                )),
            },
        }
    }
    out
}

/// What an entry is, when it is not a plain file.
fn describe(entry: &TreeEntry) -> Option<String> {
    match entry {
        TreeEntry::File {
            executable: false, ..
        } => None,
        TreeEntry::File {
            executable: true, ..
        } => Some("an executable file".to_owned()),
        TreeEntry::Symlink { target } => Some(format!(
            "a symlink to {:?}",
            String::from_utf8_lossy(target)
        )),
        TreeEntry::Gitlink { commit } => Some(format!("a gitlink to {commit}")),
    }
}

/// A short diff of two versions of a file: the lines that differ between the common first
/// and last lines, at most [`DIFF_LINES`] of each side, with one line of context around them.
#[must_use]
pub fn short_diff(before: &[u8], after: &[u8]) -> String {
    let (Ok(a), Ok(b)) = (std::str::from_utf8(before), std::str::from_utf8(after)) else {
        return format!("binary: {} bytes -> {} bytes\n", before.len(), after.len());
    };
    let a: Vec<&str> = a.lines().collect();
    let b: Vec<&str> = b.lines().collect();
    if a == b {
        return "only the line endings or the final newline differ\n".to_owned();
    }
    let head = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let tail = a[head..]
        .iter()
        .rev()
        .zip(b[head..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let removed = &a[head..a.len() - tail];
    let added = &b[head..b.len() - tail];
    let mut out = format!(
        "@@ -{},{} +{},{} @@\n",
        head + 1,
        removed.len(),
        head + 1,
        added.len()
    );
    if head > 0 {
        out.push_str(&format!(" {}\n", a[head - 1]));
    }
    for (sign, lines) in [('-', removed), ('+', added)] {
        for line in lines.iter().take(DIFF_LINES) {
            out.push_str(&format!("{sign}{line}\n"));
        }
        if lines.len() > DIFF_LINES {
            out.push_str(&format!(
                "{sign}... {} more lines\n",
                lines.len() - DIFF_LINES
            ));
        }
    }
    if tail > 0 {
        out.push_str(&format!(" {}\n", a[a.len() - tail]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINK: &str = "1111111111111111111111111111111111111111";

    fn rendering() -> Tree {
        let mut tree = Tree::default();
        for (path, text) in [
            (".shopset/inputs.yaml", "{}\n"),
            ("README.md", "readme\n"),
            ("applications/0a/a.yaml", "kind: Application\n"),
            ("shopsets/0a/a/kustomization.yaml", "one\ntwo\nthree\n"),
        ] {
            tree.insert(path.into(), text).unwrap();
        }
        tree.insert_gitlink("base".into(), LINK.into()).unwrap();
        tree
    }

    fn as_tip(tree: &Tree) -> BTreeMap<String, TreeEntry> {
        let mut out: BTreeMap<String, TreeEntry> = tree
            .files
            .iter()
            .map(|(p, b)| {
                (
                    p.clone(),
                    TreeEntry::File {
                        bytes: b.clone(),
                        executable: false,
                    },
                )
            })
            .collect();
        for (p, c) in &tree.gitlinks {
            out.insert(p.clone(), TreeEntry::Gitlink { commit: c.clone() });
        }
        out
    }

    fn file(text: &str) -> TreeEntry {
        TreeEntry::File {
            bytes: text.as_bytes().to_vec(),
            executable: false,
        }
    }

    fn kinds(drift: &[Drift]) -> Vec<(&str, DriftKind)> {
        drift.iter().map(|d| (d.path.as_str(), d.kind)).collect()
    }

    #[test]
    fn a_pure_rendering_has_no_drift() {
        let tree = rendering();
        assert_eq!(compare(&tree, &as_tip(&tree), true), Vec::new());
    }

    #[test]
    fn each_hand_edit_is_reported_with_its_path_and_kind_in_path_order() {
        let tree = rendering();
        let mut tip = as_tip(&tree);
        tip.insert(
            "shopsets/0a/a/kustomization.yaml".into(),
            file("one\nTWO\nthree\n"),
        );
        tip.insert("NOTES.md".into(), file("mine\n"));
        tip.remove("applications/0a/a.yaml");
        let other = "2222222222222222222222222222222222222222";
        tip.insert(
            "base".into(),
            TreeEntry::Gitlink {
                commit: other.into(),
            },
        );
        let drift = compare(&tree, &tip, false);
        assert_eq!(
            kinds(&drift),
            vec![
                ("NOTES.md", DriftKind::Added),
                ("applications/0a/a.yaml", DriftKind::Removed),
                ("base", DriftKind::Changed),
                ("shopsets/0a/a/kustomization.yaml", DriftKind::Changed),
            ]
        );
        assert_eq!(
            drift[2].detail.as_deref(),
            Some(format!("gitlink {LINK} -> {other}").as_str())
        );
        assert!(
            drift.iter().all(|d| d.diff.is_none()),
            "no diffs unless asked"
        );

        let with_diffs = compare(&tree, &tip, true);
        assert_eq!(
            with_diffs[3].diff.as_deref(),
            Some("@@ -2,1 +2,1 @@\n one\n-two\n+TWO\n three\n")
        );
        assert_eq!(
            with_diffs[0].diff.as_deref(),
            Some("@@ -1,0 +1,1 @@\n+mine\n")
        );
        assert_eq!(
            with_diffs[1].diff.as_deref(),
            Some("@@ -1,1 +1,0 @@\n-kind: Application\n")
        );
        assert_eq!(with_diffs[2].diff, None, "a gitlink has no diff");
    }

    #[test]
    fn modes_symlinks_and_entries_of_another_kind_are_changes() {
        let tree = rendering();
        let mut tip = as_tip(&tree);
        tip.insert(
            "README.md".into(),
            TreeEntry::File {
                bytes: b"readme\n".to_vec(),
                executable: true,
            },
        );
        tip.insert(
            "applications/0a/a.yaml".into(),
            TreeEntry::Symlink {
                target: b"/etc/passwd".to_vec(),
            },
        );
        tip.insert("base".into(), file("not a gitlink\n"));
        tip.remove(".shopset/inputs.yaml");
        let drift = compare(&tree, &tip, true);
        let details: Vec<(&str, DriftKind, Option<&str>)> = drift
            .iter()
            .map(|d| (d.path.as_str(), d.kind, d.detail.as_deref()))
            .collect();
        assert_eq!(
            details,
            vec![
                (".shopset/inputs.yaml", DriftKind::Removed, None),
                (
                    "README.md",
                    DriftKind::Changed,
                    Some("mode 100644 -> 100755")
                ),
                (
                    "applications/0a/a.yaml",
                    DriftKind::Changed,
                    Some("a symlink to \"/etc/passwd\", expected a file")
                ),
                (
                    "base",
                    DriftKind::Changed,
                    Some(format!("a file, expected a gitlink to {LINK}").as_str())
                ),
            ]
        );
    }

    #[test]
    fn short_diffs_are_short() {
        let before: String = (0..100).map(|i| format!("line {i}\n")).collect();
        let after: String = (0..100)
            .map(|i| {
                if (10..50).contains(&i) {
                    format!("changed {i}\n")
                } else {
                    format!("line {i}\n")
                }
            })
            .collect();
        let diff = short_diff(before.as_bytes(), after.as_bytes());
        assert!(
            diff.starts_with("@@ -11,40 +11,40 @@\n line 9\n-line 10\n"),
            "{diff}"
        );
        assert!(diff.contains("-... 28 more lines\n"), "{diff}");
        assert!(diff.contains("+changed 10\n"), "{diff}");
        assert!(diff.ends_with("+... 28 more lines\n line 50\n"), "{diff}");
        assert_eq!(diff.lines().count(), 1 + 1 + 13 + 13 + 1);
        assert_eq!(short_diff(b"a\xff", b"b"), "binary: 2 bytes -> 1 bytes\n");
        assert_eq!(
            short_diff(b"a\n", b"a"),
            "only the line endings or the final newline differ\n"
        );
    }

    fn inputs(json: &str) -> TierInputs {
        shopset_render::parse_inputs(json).unwrap()
    }

    const BEFORE: &str = r#"{"apiVersion": "shopset.dev/v1alpha1", "kind": "RenderInputs",
        "appCommit": "1111111111111111111111111111111111111111",
        "tier": {"name": "t", "spec": {"app": {"url": "u", "path": "p"},
            "system": {"url": "s"}, "argocd": {"namespace": "argocd", "project": "default"}}},
        "configurations": {"std": {"document": {}}},
        "failureDomains": {"fd": {"destination": {"server": "https://x"}}},
        "shopSets": {
            "a": {"failureDomain": "fd", "spec": {"tier": "t", "configuration": "std"}},
            "b": {"failureDomain": "fd", "spec": {"tier": "t", "configuration": "std"}}}}"#;

    #[test]
    fn reasons_name_each_shopset_and_what_changed() {
        let before = inputs(BEFORE);
        let mut after = before.clone();
        after.app_commit = "2222222222222222222222222222222222222222".into();
        after.shop_sets.remove("b");
        let mut c = after.shop_sets["a"].clone();
        after.shop_sets.insert("c".into(), c.clone());
        std::sync::Arc::make_mut(&mut c).spec.maintenance = true;
        after.shop_sets.insert("a".into(), c);
        let summary = Summary {
            added: vec!["c".into()],
            changed: vec!["a".into()],
            removed: vec!["b".into()],
            kept: Vec::new(),
            base_from: Some(before.app_commit.clone()),
            base_to: after.app_commit.clone(),
            shops: Vec::new(),
            migrations: Vec::new(),
            sides_removed: Vec::new(),
            rollouts_leaving: Vec::new(),
        };
        assert_eq!(
            reasons("t", Some("abc"), Some(&before), &after, &summary),
            vec![
                "base: app commit 1111111111111111111111111111111111111111 -> \
                 2222222222222222222222222222222222222222"
                    .to_owned(),
                "ShopSet \"c\": added (in the resources, not rendered at the tip)".to_owned(),
                "ShopSet \"b\": removed (rendered at the tip, no longer a ShopSet of this tier)"
                    .to_owned(),
                "ShopSet \"a\": changed: spec.maintenance changed".to_owned(),
            ]
        );
        let first = reasons(
            "t",
            None,
            None,
            &after,
            &Summary {
                added: vec!["a".into(), "c".into()],
                ..Summary::default()
            },
        );
        assert_eq!(
            first,
            vec![
                "branch t does not exist yet: every ShopSet is new".to_owned(),
                "ShopSet \"a\": added".to_owned(),
                "ShopSet \"c\": added".to_owned(),
            ]
        );
    }
}
