//! `shopctl diff`: per tier branch, the files a sync would commit, as a unified diff (or a
//! `--stat` summary) against the branch's tip, for a reviewer's CI on a change to the
//! resources. Plans exactly as a sync does; writes objects to the local cache of the system
//! repository (to compare trees there), never a commit or a branch.
//!
//! The output is bounded: the patches of the files that fit in a number of lines are printed,
//! the others are counted in a last line, so 10,000 changed ShopSets never print whole.

pub mod unified;

use std::fmt::Write as _;

use shopset_git::{Entry, TreeChange};

use crate::ops::plan::{Content, TierPlan, plan_tiers};
use crate::ops::sync::{
    SyncOptions, inputs_unchanged, removal_stop, with_annotated_confirmations, write_content,
};
use crate::repos::Repos;
use crate::resources::Resources;

/// What happens to a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ChangeKind {
    /// A new file.
    Added,
    /// A file that goes away.
    Removed,
    /// A file whose content (or mode) changes.
    Modified,
}

/// One file a sync would change.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileChange {
    /// Its path in the tier branch.
    pub path: String,
    /// What happens to it.
    pub change: ChangeKind,
    /// The content at the branch tip.
    #[serde(skip)]
    pub old: Option<Entry>,
    /// The content a sync writes.
    #[serde(skip)]
    pub new: Option<Entry>,
    /// Either side is binary (a NUL byte): no line diff.
    pub binary: bool,
    /// Lines added.
    pub insertions: usize,
    /// Lines removed.
    pub deletions: usize,
    /// The unified diff of this file, when it fits in the output (see [`DiffReport::bound`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch: Option<String>,
}

/// The text git shows for an entry: a file's bytes, a symlink's target, a gitlink's commit.
fn text_of(entry: Option<&Entry>) -> Vec<u8> {
    match entry {
        None => Vec::new(),
        Some(Entry::File { bytes, .. }) => bytes.clone(),
        Some(Entry::Symlink { target }) => target.clone(),
        Some(Entry::Gitlink { commit }) => format!("Subproject commit {commit}\n").into_bytes(),
    }
}

impl FileChange {
    /// The change of one path, with its line counts.
    #[must_use]
    pub fn new(change: TreeChange) -> Self {
        let TreeChange { path, old, new } = change;
        let kind = match (&old, &new) {
            (None, _) => ChangeKind::Added,
            (_, None) => ChangeKind::Removed,
            _ => ChangeKind::Modified,
        };
        let (a, b) = (text_of(old.as_ref()), text_of(new.as_ref()));
        let binary = unified::is_binary(&a) || unified::is_binary(&b);
        let (insertions, deletions) = if binary {
            (0, 0)
        } else {
            unified::counts(&a, &b)
        };
        Self {
            path,
            change: kind,
            old,
            new,
            binary,
            insertions,
            deletions,
            patch: None,
        }
    }

    /// The file's unified diff as git prints it (`diff --git`, the mode lines, `---`, `+++`
    /// and the hunks), with `context` lines around each change.
    #[must_use]
    pub fn unified(&self, context: usize) -> String {
        let p = &self.path;
        let mut out = format!("diff --git a/{p} b/{p}\n");
        match (&self.old, &self.new) {
            (None, Some(new)) => {
                let _ = writeln!(out, "new file mode {}", new.mode());
            }
            (Some(old), None) => {
                let _ = writeln!(out, "deleted file mode {}", old.mode());
            }
            (Some(old), Some(new)) if old.mode() != new.mode() => {
                let _ = writeln!(out, "old mode {}\nnew mode {}", old.mode(), new.mode());
            }
            _ => {}
        }
        let from = if self.old.is_some() {
            format!("a/{p}")
        } else {
            "/dev/null".into()
        };
        let to = if self.new.is_some() {
            format!("b/{p}")
        } else {
            "/dev/null".into()
        };
        if self.binary {
            let _ = writeln!(out, "Binary files {from} and {to} differ");
            return out;
        }
        let hunks = unified::hunks(
            &text_of(self.old.as_ref()),
            &text_of(self.new.as_ref()),
            context,
        );
        if !hunks.is_empty() {
            let _ = writeln!(out, "--- {from}\n+++ {to}");
            out.push_str(&hunks);
        }
        out
    }
}

/// What a sync would commit to one tier branch.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TierDiff {
    /// The Tier.
    pub tier: String,
    /// Its branch.
    pub branch: String,
    /// The system repository (without credentials).
    pub repository: String,
    /// The branch tip compared with (`None`: the branch does not exist yet).
    pub previous_tip: Option<String>,
    /// ShopSets added.
    pub added: Vec<String>,
    /// ShopSets whose rendering changes.
    pub changed: Vec<String>,
    /// ShopSets removed.
    pub removed: Vec<String>,
    /// ShopSets kept at their last rendering (their input is invalid).
    pub kept: Vec<String>,
    /// The base gitlink before, when it moves.
    pub base_from: Option<String>,
    /// The base gitlink after.
    pub base_to: String,
    /// Why a sync would stop before writing this branch (the mass-removal stop), if it would.
    pub stopped: Option<String>,
    /// The files that change, in path order (empty: a sync writes nothing here).
    pub files: Vec<FileChange>,
}

/// Files left out of the printed diff.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NotShown {
    /// How many.
    pub files: usize,
    /// How many lines their patches have.
    pub lines: usize,
}

/// What a sync would commit, per tier branch.
#[derive(Debug, Clone, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DiffReport {
    /// One entry per tier that could be planned, in tier order.
    pub tiers: Vec<TierDiff>,
    /// Problems with the inputs or the repositories, each naming what it is about.
    pub problems: Vec<crate::problem::Problem>,
    /// The files whose patch did not fit (after [`DiffReport::bound`]).
    pub not_shown: NotShown,
}

/// Plans a sync of every tier of `resources` and compares each planned tree with its branch
/// tip.
pub fn diff(resources: &Resources, repos: &mut Repos) -> DiffReport {
    let plan = plan_tiers(resources, repos, None);
    let options = with_annotated_confirmations(resources, &SyncOptions::default());
    let mut report = DiffReport {
        problems: plan.problems,
        ..DiffReport::default()
    };
    for tier in &plan.tiers {
        match changes(repos, tier) {
            Ok(changes) => {
                let s = &tier.summary;
                report.tiers.push(TierDiff {
                    tier: tier.tier.clone(),
                    branch: tier.branch.clone(),
                    repository: shopset_git::redact_url(&tier.system_url),
                    previous_tip: tier.previous_tip.clone(),
                    added: s.added.clone(),
                    changed: s.changed.clone(),
                    removed: s.removed.clone(),
                    kept: s.kept.clone(),
                    base_from: s.base_from.clone(),
                    base_to: s.base_to.clone(),
                    stopped: removal_stop(tier, resources, &options),
                    files: changes.into_iter().map(FileChange::new).collect(),
                });
            }
            Err(e) => report.problems.push(crate::problem::Problem::about(
                "Tier",
                &tier.tier,
                format!(
                    "branch {} of {}: {e}",
                    tier.branch,
                    shopset_git::redact_url(&tier.system_url)
                ),
            )),
        }
    }
    report
}

/// The paths a sync of `plan` would change on its branch.
fn changes(repos: &mut Repos, plan: &TierPlan) -> Result<Vec<TreeChange>, String> {
    if inputs_unchanged(plan) {
        return Ok(Vec::new());
    }
    let Some(tip) = &plan.previous_tip else {
        // A new branch: every file is added.
        let tree = match &plan.content {
            Content::Full(tree) => tree.clone(),
            Content::Edits { .. } => plan.full_tree().map_err(|e| e.to_string())?,
        };
        let files = tree.files.into_iter().map(|(path, bytes)| TreeChange {
            path,
            old: None,
            new: Some(Entry::File {
                executable: false,
                bytes,
            }),
        });
        let links = tree.gitlinks.into_iter().map(|(path, commit)| TreeChange {
            path,
            old: None,
            new: Some(Entry::Gitlink { commit }),
        });
        let mut all: Vec<TreeChange> = files.chain(links).collect();
        all.sort_by(|a, b| a.path.cmp(&b.path));
        return Ok(all);
    };
    let repo = repos
        .system(&plan.system_url, false)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "the repository does not exist".to_owned())?;
    let new_tree = write_content(repo, plan).map_err(|e| e.to_string())?;
    let old_tree = repo.tree_id(tip).map_err(|e| e.to_string())?;
    if new_tree == old_tree {
        return Ok(Vec::new());
    }
    repo.compare_trees(Some(&old_tree), &new_tree)
        .map_err(|e| e.to_string())
}

/// How many ShopSet names a header line lists.
const NAMES_LISTED: usize = 20;

fn names_line(out: &mut String, label: &str, names: &[String]) {
    if names.is_empty() {
        return;
    }
    let shown: Vec<&str> = names
        .iter()
        .take(NAMES_LISTED)
        .map(String::as_str)
        .collect();
    let _ = write!(out, "# {label}: {}", shown.join(", "));
    if names.len() > NAMES_LISTED {
        let _ = write!(out, " and {} more", names.len() - NAMES_LISTED);
    }
    out.push('\n');
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl TierDiff {
    /// Whether a sync would commit to this branch.
    #[must_use]
    pub fn changes(&self) -> bool {
        !self.files.is_empty()
    }

    /// The comment lines that introduce the tier: branch, tip, ShopSets, base, stop.
    fn header(&self) -> String {
        let mut out = format!(
            "# {}: branch {} of {} ",
            self.tier, self.branch, self.repository
        );
        match &self.previous_tip {
            Some(tip) => {
                let _ = write!(out, "at {}", short(tip));
            }
            None => out.push_str("(new branch)"),
        }
        let _ = writeln!(
            out,
            ": {} added, {} changed, {} removed",
            self.added.len(),
            self.changed.len(),
            self.removed.len()
        );
        names_line(&mut out, "Added", &self.added);
        names_line(&mut out, "Changed", &self.changed);
        names_line(&mut out, "Removed", &self.removed);
        names_line(&mut out, "Kept at last rendered version", &self.kept);
        if let Some(from) = &self.base_from {
            let _ = writeln!(
                out,
                "# Base moves: {} -> {}",
                short(from),
                short(&self.base_to)
            );
        }
        if let Some(why) = &self.stopped {
            let _ = writeln!(out, "# A sync stops here: {why}");
        }
        out
    }

    fn totals(&self) -> (usize, usize) {
        self.files
            .iter()
            .fold((0, 0), |(i, d), f| (i + f.insertions, d + f.deletions))
    }
}

/// "3 files changed, 5 insertions(+), 1 deletion(-)", as git says it.
fn summary_line(files: usize, insertions: usize, deletions: usize) -> String {
    let mut line = plural(files, "file changed", "files changed");
    if insertions > 0 || deletions == 0 {
        let _ = write!(
            line,
            ", {}",
            plural(insertions, "insertion(+)", "insertions(+)")
        );
    }
    if deletions > 0 {
        let _ = write!(
            line,
            ", {}",
            plural(deletions, "deletion(-)", "deletions(-)")
        );
    }
    line
}

impl DiffReport {
    /// Whether a sync would commit to any branch.
    #[must_use]
    pub fn changes(&self) -> bool {
        self.tiers.iter().any(TierDiff::changes)
    }

    /// Fills in the patches of the files that fit in `max_lines` lines (all of them when
    /// `None`), in tier and path order; a file that does not fit is left out and counted in
    /// [`DiffReport::not_shown`], and smaller ones after it may still be shown.
    pub fn bound(&mut self, max_lines: Option<usize>) {
        let mut used = 0usize;
        let mut not_shown = NotShown::default();
        for tier in &mut self.tiers {
            for file in &mut tier.files {
                let patch = file.unified(unified::CONTEXT);
                let lines = patch.lines().count();
                if max_lines.is_none_or(|max| used + lines <= max) {
                    used += lines;
                    file.patch = Some(patch);
                } else {
                    file.patch = None;
                    not_shown.files += 1;
                    not_shown.lines += lines;
                }
            }
        }
        self.not_shown = not_shown;
    }

    /// The diff for people: per changed tier, its header (comment lines starting with `#`)
    /// and the patches filled in by [`DiffReport::bound`]; then, when some did not fit, a last
    /// line `... and N more files (M lines) not shown`. Empty when nothing would change.
    #[must_use]
    pub fn text(&self) -> String {
        let mut out = String::new();
        for tier in self.tiers.iter().filter(|t| t.changes()) {
            out.push_str(&tier.header());
            for file in &tier.files {
                if let Some(patch) = &file.patch {
                    out.push_str(patch);
                }
            }
        }
        if self.not_shown.files > 0 {
            let _ = writeln!(
                out,
                "... and {} not shown",
                not_shown_text(self.not_shown.files, self.not_shown.lines)
            );
        }
        out
    }

    /// The summary for people: per changed tier, its header, one line per file
    /// (`path | +insertions -deletions`, at most `max_lines` of them over all tiers), then
    /// the tier's totals; and a grand total when more than one tier changes.
    #[must_use]
    pub fn stat(&self, max_lines: Option<usize>) -> String {
        let mut out = String::new();
        let mut rows = 0usize;
        let changed: Vec<&TierDiff> = self.tiers.iter().filter(|t| t.changes()).collect();
        for tier in &changed {
            out.push_str(&tier.header());
            let room = max_lines.map_or(usize::MAX, |max| max.saturating_sub(rows));
            let shown = &tier.files[..tier.files.len().min(room)];
            rows += shown.len();
            let width = shown.iter().map(|f| f.path.len()).max().unwrap_or(0);
            for file in shown {
                if file.binary {
                    let _ = writeln!(out, " {:<width$} | Bin", file.path);
                } else {
                    let _ = writeln!(
                        out,
                        " {:<width$} | +{} -{}",
                        file.path, file.insertions, file.deletions
                    );
                }
            }
            let hidden = &tier.files[shown.len()..];
            if !hidden.is_empty() {
                let (i, d) = hidden
                    .iter()
                    .fold((0, 0), |(i, d), f| (i + f.insertions, d + f.deletions));
                let _ = writeln!(
                    out,
                    " ... and {} not shown (+{i} -{d})",
                    plural(hidden.len(), "more file", "more files")
                );
            }
            let (i, d) = tier.totals();
            let _ = writeln!(out, " {}", summary_line(tier.files.len(), i, d));
        }
        if changed.len() > 1 {
            let files = changed.iter().map(|t| t.files.len()).sum();
            let (i, d) = changed.iter().fold((0, 0), |(i, d), t| {
                let (ti, td) = t.totals();
                (i + ti, d + td)
            });
            let _ = writeln!(
                out,
                "# total: {} changed, {}",
                plural(changed.len(), "tier", "tiers"),
                summary_line(files, i, d)
            );
        }
        out
    }
}

fn not_shown_text(files: usize, lines: usize) -> String {
    format!(
        "{} ({})",
        plural(files, "more file", "more files"),
        plural(lines, "line", "lines")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, old: Option<&str>, new: Option<&str>) -> FileChange {
        let side = |s: Option<&str>| {
            s.map(|s| Entry::File {
                executable: false,
                bytes: s.as_bytes().to_vec(),
            })
        };
        FileChange::new(TreeChange {
            path: path.into(),
            old: side(old),
            new: side(new),
        })
    }

    fn tier(name: &str, files: Vec<FileChange>) -> TierDiff {
        TierDiff {
            tier: name.into(),
            branch: name.into(),
            repository: "/srv/system.git".into(),
            previous_tip: Some("0123456789abcdef0123456789abcdef01234567".into()),
            added: vec![],
            changed: vec!["shop-1".into()],
            removed: vec![],
            kept: vec![],
            base_from: None,
            base_to: "f".repeat(40),
            stopped: None,
            files,
        }
    }

    #[test]
    fn a_modified_file_is_a_git_patch() {
        let f = file("a/b.yaml", Some("x: 1\ny: 2\n"), Some("x: 1\ny: 3\n"));
        assert_eq!(
            (f.change, f.insertions, f.deletions),
            (ChangeKind::Modified, 1, 1)
        );
        assert_eq!(
            f.unified(3),
            "diff --git a/a/b.yaml b/a/b.yaml\n--- a/a/b.yaml\n+++ b/a/b.yaml\n\
             @@ -1,2 +1,2 @@\n x: 1\n-y: 2\n+y: 3\n"
        );
    }

    #[test]
    fn added_removed_gitlink_and_binary_files() {
        let added = file("n.yaml", None, Some("a\n"));
        assert_eq!(
            added.unified(3),
            "diff --git a/n.yaml b/n.yaml\nnew file mode 100644\n--- /dev/null\n+++ b/n.yaml\n\
             @@ -0,0 +1 @@\n+a\n"
        );
        let removed = file("o.yaml", Some("a\n"), None);
        assert!(
            removed
                .unified(3)
                .contains("deleted file mode 100644\n--- a/o.yaml\n+++ /dev/null\n")
        );
        let link = FileChange::new(TreeChange {
            path: "base".into(),
            old: Some(Entry::Gitlink {
                commit: "a".repeat(40),
            }),
            new: Some(Entry::Gitlink {
                commit: "b".repeat(40),
            }),
        });
        assert!(link.unified(3).ends_with(&format!(
            "-Subproject commit {}\n+Subproject commit {}\n",
            "a".repeat(40),
            "b".repeat(40)
        )));
        let binary = file("x.bin", Some("a\0"), Some("b\0"));
        assert!(binary.binary);
        assert!(
            binary
                .unified(3)
                .ends_with("Binary files a/x.bin and b/x.bin differ\n")
        );
    }

    #[test]
    fn the_output_is_cut_with_a_count() {
        let files: Vec<FileChange> = (0..10)
            .map(|i| file(&format!("f{i}.yaml"), Some("a\n"), Some("b\n")))
            .collect();
        // Each patch is 6 lines: diff, ---, +++, @@, -, +.
        let mut report = DiffReport {
            tiers: vec![tier("t", files)],
            ..DiffReport::default()
        };
        report.bound(Some(20));
        assert_eq!(
            report.not_shown,
            NotShown {
                files: 7,
                lines: 42
            }
        );
        let text = report.text();
        assert_eq!(text.matches("diff --git").count(), 3, "{text}");
        assert!(
            text.ends_with("\n... and 7 more files (42 lines) not shown\n"),
            "{text}"
        );
        report.bound(None);
        assert_eq!(report.not_shown, NotShown::default());
        assert_eq!(report.text().matches("diff --git").count(), 10);
    }

    #[test]
    fn a_big_file_is_skipped_and_smaller_ones_still_fit() {
        let big: String = (0..100).map(|i| format!("{i}\n")).collect();
        let files = vec![
            file(".shopset/inputs.yaml", Some(""), Some(&big)),
            file("small.yaml", Some("a\n"), Some("b\n")),
        ];
        let mut report = DiffReport {
            tiers: vec![tier("t", files)],
            ..DiffReport::default()
        };
        report.bound(Some(10));
        let text = report.text();
        assert!(text.contains("diff --git a/small.yaml"), "{text}");
        assert!(!text.contains("inputs.yaml b/"), "{text}");
        assert!(
            text.ends_with("... and 1 more file (104 lines) not shown\n"),
            "{text}"
        );
    }

    #[test]
    fn nothing_changed_prints_nothing() {
        let mut report = DiffReport {
            tiers: vec![tier("t", vec![])],
            ..DiffReport::default()
        };
        report.bound(Some(10));
        assert!(!report.changes());
        assert_eq!(report.text(), "");
        assert_eq!(report.stat(Some(10)), "");
    }

    #[test]
    fn stat_counts_and_totals() {
        let t1 = tier(
            "t1",
            vec![
                file("a.yaml", Some("1\n2\n"), Some("1\n3\n4\n")),
                file("bb.yaml", None, Some("x\n")),
            ],
        );
        let t2 = tier("t2", vec![file("c.yaml", Some("1\n"), None)]);
        let report = DiffReport {
            tiers: vec![t1, t2],
            ..DiffReport::default()
        };
        let stat = report.stat(None);
        assert!(
            stat.contains(" a.yaml  | +2 -1\n bb.yaml | +1 -0\n 2 files changed, 3 insertions(+), 1 deletion(-)\n"),
            "{stat}"
        );
        assert!(
            stat.contains(" c.yaml | +0 -1\n 1 file changed, 1 deletion(-)\n"),
            "{stat}"
        );
        assert!(
            stat.ends_with(
                "# total: 2 tiers changed, 3 files changed, 3 insertions(+), 2 deletions(-)\n"
            ),
            "{stat}"
        );
        let cut = report.stat(Some(1));
        assert!(
            cut.contains(" ... and 1 more file not shown (+1 -0)\n"),
            "{cut}"
        );
        assert!(
            cut.contains(" ... and 1 more file not shown (+0 -1)\n"),
            "{cut}"
        );
    }
}
