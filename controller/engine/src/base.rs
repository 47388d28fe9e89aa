//! Reading the app repository's base at the app commit into a [`BaseCatalog`]: the kinds and
//! names of its objects, following the kustomizations' local `resources` (files and
//! directories) without running Kustomize. What it cannot follow (a remote resource, a
//! component, a generator, a Helm chart) makes the catalog incomplete, and an incomplete
//! catalog refuses nothing.

use serde_json::Value;
use shopset_git::Repo;
use shopset_render::base::BaseCatalog;
use shopset_render::yaml;

/// File names Kustomize reads as a kustomization, in its order of preference.
pub const KUSTOMIZATION_FILES: [&str; 3] =
    ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// How deep kustomizations may nest before the catalog gives up (incomplete).
const MAX_DEPTH: usize = 16;

/// Why a base cannot be used at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BaseError {
    /// No kustomization at the path.
    #[error("no kustomization ({}) in {path:?} at app commit {commit}", KUSTOMIZATION_FILES.join(", "))]
    NoKustomization {
        /// The path (`spec.app.path`).
        path: String,
        /// The app commit.
        commit: String,
    },
    /// The app repository could not be fetched.
    #[error("{0}")]
    Fetch(String),
    /// The app commit is not in the repository.
    #[error("app commit {commit} is not in the app repository")]
    NoCommit {
        /// The commit.
        commit: String,
    },
}

/// The catalog of the base at `dir` in `commit`.
///
/// # Errors
/// There is no kustomization at `dir`, or no such commit.
pub fn read(repo: &Repo, commit: &str, dir: &str) -> Result<BaseCatalog, BaseError> {
    if repo.tree_id(commit).is_err() {
        return Err(BaseError::NoCommit {
            commit: commit.to_owned(),
        });
    }
    let mut catalog = BaseCatalog {
        complete: true,
        ..BaseCatalog::default()
    };
    if !kustomization(repo, commit, dir, &[], &mut catalog, 0) {
        return Err(BaseError::NoKustomization {
            path: dir.to_owned(),
            commit: commit.to_owned(),
        });
    }
    Ok(catalog)
}

/// `dir/rel`, normalised; `None` when it leaves the repository.
fn join(dir: &str, rel: &str) -> Option<String> {
    let mut parts: Vec<&str> = if rel.starts_with('/') {
        return None;
    } else {
        dir.split('/').filter(|p| !p.is_empty()).collect()
    };
    for part in rel.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    Some(parts.join("/"))
}

/// Name prefixes and suffixes of the kustomizations above, innermost first.
type Affixes = [(String, String)];

fn add_objects(text: &str, affixes: &Affixes, catalog: &mut BaseCatalog) {
    let Ok(docs) = yaml::parse_documents(text) else {
        catalog.complete = false;
        return;
    };
    for doc in docs {
        let kind = doc.get("kind").and_then(Value::as_str);
        let name = doc.pointer("/metadata/name").and_then(Value::as_str);
        let (Some(kind), Some(name)) = (kind, name) else {
            continue;
        };
        // The name as each kustomization on the way up sees it (Kustomize matches either).
        let mut current = name.to_owned();
        catalog.objects.insert((kind.to_owned(), current.clone()));
        for (prefix, suffix) in affixes {
            current = format!("{prefix}{current}{suffix}");
            catalog.objects.insert((kind.to_owned(), current.clone()));
        }
    }
}

/// Reads the kustomization in `dir` into `catalog`; false when there is none.
fn kustomization(
    repo: &Repo,
    commit: &str,
    dir: &str,
    affixes: &Affixes,
    catalog: &mut BaseCatalog,
    depth: usize,
) -> bool {
    let file = KUSTOMIZATION_FILES.iter().find_map(|name| {
        let path = join(dir, name)?;
        repo.read_file(commit, &path).ok().flatten()
    });
    let Some(bytes) = file else {
        return false;
    };
    let Some(k) = std::str::from_utf8(&bytes)
        .ok()
        .and_then(|t| yaml::parse(t).ok())
    else {
        catalog.complete = false;
        return true;
    };
    if depth >= MAX_DEPTH {
        catalog.complete = false;
        return true;
    }
    // What renames or creates objects beyond plain resources is not followed.
    for unread in [
        "components",
        "configMapGenerator",
        "secretGenerator",
        "generators",
        "helmCharts",
        "transformers",
    ] {
        if k.get(unread).is_some_and(|v| !v.is_null()) {
            if unread.ends_with("Generator") {
                continue; // ConfigMaps and Secrets: never scaled, never missed
            }
            catalog.complete = false;
        }
    }
    let text = |key: &str| k.get(key).and_then(Value::as_str).unwrap_or_default();
    let mut inner = vec![(text("namePrefix").to_owned(), text("nameSuffix").to_owned())];
    inner.extend(affixes.iter().cloned());
    let entries = ["resources", "bases"]
        .iter()
        .filter_map(|key| k.get(*key).and_then(Value::as_array))
        .flatten();
    for entry in entries {
        let Some(rel) = entry.as_str() else {
            catalog.complete = false;
            continue;
        };
        let Some(path) = (!rel.contains("://") && !rel.contains('@'))
            .then(|| join(dir, rel))
            .flatten()
        else {
            catalog.complete = false; // remote, or outside the repository
            continue;
        };
        match repo.read_file(commit, &path) {
            Ok(Some(bytes)) => match std::str::from_utf8(&bytes) {
                Ok(text) => add_objects(text, &inner, catalog),
                Err(_) => catalog.complete = false,
            },
            _ => {
                if !kustomization(repo, commit, &path, &inner, catalog, depth + 1) {
                    catalog.complete = false;
                }
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::join;

    #[test]
    fn paths_join_inside_the_repository_only() {
        assert_eq!(join("a/b", "../c").as_deref(), Some("a/c"));
        assert_eq!(join("a", "./x.yaml").as_deref(), Some("a/x.yaml"));
        assert_eq!(join("a", "../../x"), None);
        assert_eq!(join("a", "/etc"), None);
    }
}
