//! `shopctl quickstart`: the embedded example, end to end on one machine. Builds an app and a
//! configuration repository from `examples/` (one commit per numbered folder; the oldest is the
//! highest tier), writes the example resources with their URLs pointing there, then syncs.

use std::collections::BTreeMap;
use std::path::Path;

use shopset_git::{CommitMeta, Repo, Tree};

/// The placeholder in the example resources that stands for the quickstart directory.
pub const DIR_PLACEHOLDER: &str = "@QUICKSTART_DIR@";

/// Commit time of the example histories (2026-01-01T00:00:00Z), so their ids are the same on
/// every machine.
const EXAMPLE_EPOCH: i64 = 1_767_225_600;

/// What quickstart prepared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// Repositories created (those that existed are left as they are).
    pub created: Vec<String>,
    /// The resource files written.
    pub resource_files: Vec<String>,
}

/// Creates `<dir>/app.git` and `<dir>/config.git` from the example files (`app/NN-*/...`,
/// `config/NN-*/...`) unless they exist, and writes `<dir>/resources/*.yaml` from
/// `resources/*.yaml`.
///
/// # Errors
/// A file-system or git failure.
pub fn prepare(
    dir: &Path,
    examples: &BTreeMap<String, Vec<u8>>,
    tiers: &[&str],
) -> Result<Prepared, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let dir = dir
        .canonicalize()
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut created = Vec::new();
    for name in ["app", "config"] {
        let path = dir.join(format!("{name}.git"));
        if path.exists() {
            continue;
        }
        build_history(&path, examples, name, tiers)?;
        created.push(path.display().to_string());
    }
    let resources = dir.join("resources");
    std::fs::create_dir_all(&resources).map_err(|e| format!("{}: {e}", resources.display()))?;
    let mut resource_files = Vec::new();
    for (path, bytes) in examples
        .iter()
        .filter(|(p, _)| p.starts_with("resources/") && p.ends_with(".yaml"))
    {
        let text =
            String::from_utf8_lossy(bytes).replace(DIR_PLACEHOLDER, &dir.display().to_string());
        let file = dir.join(path);
        std::fs::write(&file, text).map_err(|e| format!("{}: {e}", file.display()))?;
        resource_files.push(file.display().to_string());
    }
    Ok(Prepared {
        created,
        resource_files,
    })
}

fn build_history(
    path: &Path,
    examples: &BTreeMap<String, Vec<u8>>,
    name: &str,
    tiers: &[&str],
) -> Result<(), String> {
    let prefix = format!("{name}/");
    let mut steps: BTreeMap<&str, Vec<(&str, &Vec<u8>)>> = BTreeMap::new();
    for (file, bytes) in examples {
        if let Some(rest) = file.strip_prefix(&prefix)
            && let Some((step, inner)) = rest.split_once('/')
        {
            steps.entry(step).or_default().push((inner, bytes));
        }
    }
    if steps.len() != tiers.len() {
        return Err(format!(
            "examples/{name}: expected {} numbered folders, one per tier, found {}",
            tiers.len(),
            steps.len()
        ));
    }
    let repo = Repo::open_or_init_bare(path).map_err(|e| e.to_string())?;
    let mut tree = Tree::default();
    let mut parent: Option<String> = None;
    // The oldest commit is the tip of the highest tier.
    for (i, ((step, files), tier)) in steps.iter().zip(tiers.iter().rev()).enumerate() {
        for (inner, bytes) in files {
            tree.insert((*inner).to_owned(), (*bytes).clone())
                .map_err(|e| e.to_string())?;
        }
        if let Some(parent) = &parent {
            repo.move_branch(tier, None, parent, "quickstart: branch")
                .map_err(|e| e.to_string())?;
        }
        let meta = CommitMeta {
            message: format!("{name}: {step}\n"),
            name: "shopset example".into(),
            email: "example@shopset.dev".into(),
            time: Some(EXAMPLE_EPOCH + 60 * i64::try_from(i).unwrap_or(0)),
            signer: None,
        };
        let outcome = repo
            .commit_tree(tier, parent.as_deref(), &tree, &meta)
            .map_err(|e| e.to_string())?;
        parent = Some(match outcome {
            shopset_git::CommitOutcome::Committed { commit, .. }
            | shopset_git::CommitOutcome::Unchanged { commit } => commit,
        });
    }
    repo.set_head(tiers[0]).map_err(|e| e.to_string())?;
    Ok(())
}
