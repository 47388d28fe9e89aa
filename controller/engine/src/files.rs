//! Reading resource files and directories: every `*.yaml` and `*.yml` below a path, in name
//! order (names starting with `.` left out), parsed into documents. Files that cannot be read or parsed are reported, never
//! skipped silently: they make a resource set incomplete.

use std::path::{Path, PathBuf};

use serde_json::Value;
use shopset_render::yaml;

use crate::resources::Resources;

/// The documents found under some paths.
#[derive(Debug, Default)]
pub struct Documents {
    /// Each document with the file it came from.
    pub documents: Vec<(String, Value)>,
    /// Files that could not be read or parsed, with why.
    pub unreadable: Vec<(String, String)>,
}

impl Documents {
    /// The resources these documents describe.
    #[must_use]
    pub fn resources(&self) -> Resources {
        let mut resources = Resources::default();
        for (file, message) in &self.unreadable {
            resources.add_unreadable(file, message);
        }
        for (file, doc) in &self.documents {
            resources.add_object(file, doc);
        }
        resources
    }
}

/// Adds the YAML files below `path` to `out`, in name order. A directory or entry that cannot
/// be read is reported with its own path in `unreadable`, and the rest is still read.
fn collect(
    path: &Path,
    skip: &[PathBuf],
    out: &mut Vec<PathBuf>,
    unreadable: &mut Vec<(String, String)>,
) {
    if skip.iter().any(|s| s == path) {
        return;
    }
    let is_dir = match std::fs::metadata(path) {
        Ok(meta) => meta.is_dir(),
        Err(e) => {
            unreadable.push((path.display().to_string(), e.to_string()));
            return;
        }
    };
    if !is_dir {
        out.push(path.to_owned());
        return;
    }
    let entries = std::fs::read_dir(path).and_then(|entries| {
        entries
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<Vec<_>, _>>()
    });
    let mut entries = match entries {
        Ok(entries) => entries,
        Err(e) => {
            unreadable.push((path.display().to_string(), e.to_string()));
            return;
        }
    };
    entries.sort();
    for entry in entries {
        let hidden = entry
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if hidden {
            continue; // `.git`, editors' lock and swap files
        }
        let is_yaml = entry.extension().is_some_and(|e| e == "yaml" || e == "yml");
        if is_yaml || entry.is_dir() {
            collect(&entry, skip, out, unreadable);
        }
    }
}

/// Reads every YAML document under `paths`, leaving out the files in `skip`.
#[must_use]
pub fn read_documents(paths: &[PathBuf], skip: &[PathBuf]) -> Documents {
    let mut out = Documents::default();
    let mut files = Vec::new();
    for path in paths {
        collect(path, skip, &mut files, &mut out.unreadable);
    }
    for file in files {
        let name = file.display().to_string();
        let parsed = std::fs::read_to_string(&file)
            .map_err(|e| e.to_string())
            .and_then(|text| yaml::parse_documents(&text).map_err(|e| e.to_string()));
        match parsed {
            Ok(docs) => out
                .documents
                .extend(docs.into_iter().map(|d| (name.clone(), d))),
            Err(e) => out.unreadable.push((name, e)),
        }
    }
    out
}

/// Applies a JSON merge patch (RFC 7386) to one resource in its file, as `kubectl patch
/// --type merge` does in a cluster: `null` removes a field, and an annotations map left empty
/// is removed too. Returns the file changed.
///
/// # Errors
/// As [`edit_resource`].
pub fn patch_resource(
    paths: &[PathBuf],
    kind: &str,
    name: &str,
    patch: &Value,
) -> Result<PathBuf, String> {
    edit_resource(paths, kind, name, |doc| {
        merge_patch(doc, patch);
        let empty = doc
            .pointer("/metadata/annotations")
            .and_then(Value::as_object)
            .is_some_and(serde_json::Map::is_empty);
        if empty && let Some(meta) = doc["metadata"].as_object_mut() {
            meta.remove("annotations");
        }
    })
}

/// Changes one resource in place in its file: the document of `kind` named `name` under
/// `paths` is parsed, changed by `change`, and written back in the canonical YAML form. The
/// other documents of the file, and the comment lines heading the changed one, stay as they
/// were. Returns the file changed.
///
/// # Errors
/// No such resource, or the file cannot be read or written.
pub fn edit_resource(
    paths: &[PathBuf],
    kind: &str,
    name: &str,
    change: impl FnOnce(&mut Value),
) -> Result<PathBuf, String> {
    rewrite_resource(paths, kind, name, |doc| {
        change(doc);
        true
    })
}

/// Deletes one resource from its file, as `kubectl delete` does in a cluster: its document
/// (or its item of a `List`) goes; the other documents of the file stay as they were.
/// Returns the file changed.
///
/// # Errors
/// As [`edit_resource`].
pub fn delete_resource(paths: &[PathBuf], kind: &str, name: &str) -> Result<PathBuf, String> {
    rewrite_resource(paths, kind, name, |_| false)
}

/// Adds one resource to a file (a new document at its end): `path` itself when it is a file,
/// else `<path>/<file_name>` (created when missing), as `kubectl create` does in a cluster.
/// Returns the file changed.
///
/// # Errors
/// The file cannot be read or written.
pub fn add_resource(path: &Path, file_name: &str, doc: &Value) -> Result<PathBuf, String> {
    let file = if path.is_dir() {
        path.join(file_name)
    } else {
        path.to_owned()
    };
    let mut text = match std::fs::read_to_string(&file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("{}: {e}", file.display())),
    };
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    if !text.trim().is_empty() {
        text.push_str("---\n");
    }
    text.push_str(&yaml::to_string(doc));
    let tmp = file.with_extension("shopctl.tmp");
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, &file))
        .map_err(|e| format!("{}: {e}", file.display()))?;
    Ok(file)
}

/// Finds the resource and rewrites its file: `change` edits it and says whether it stays
/// (`false`: it is deleted).
fn rewrite_resource(
    paths: &[PathBuf],
    kind: &str,
    name: &str,
    change: impl FnOnce(&mut Value) -> bool,
) -> Result<PathBuf, String> {
    let (mut files, mut unreadable) = (Vec::new(), Vec::new());
    for path in paths {
        collect(path, &[], &mut files, &mut unreadable);
    }
    if let Some((path, e)) = unreadable.first() {
        return Err(format!("{path}: {e}"));
    }
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let mut chunks: Vec<String> = vec![String::new()];
        for line in text.split_inclusive('\n') {
            if line.trim_end() == "---" {
                chunks.push(String::new());
            }
            if let Some(last) = chunks.last_mut() {
                last.push_str(line);
            }
        }
        for chunk in &mut chunks {
            let body = chunk
                .strip_prefix("---\n")
                .or_else(|| chunk.strip_prefix("---\r\n"))
                .unwrap_or(chunk);
            let Ok(mut doc) = yaml::parse(body) else {
                continue;
            };
            let Some(resource) = resource_mut(&mut doc, kind, name) else {
                continue;
            };
            let keep = change(resource);
            let separator = if chunk.starts_with("---") {
                "---\n"
            } else {
                ""
            };
            let comments: String = body
                .split_inclusive('\n')
                .take_while(|l| l.trim_start().starts_with('#') || l.trim().is_empty())
                .collect();
            if keep {
                *chunk = format!("{separator}{comments}{}", yaml::to_string(&doc));
            } else if let Some(items) = doc.get_mut("items").and_then(Value::as_array_mut) {
                items.retain(|v| {
                    v.get("kind").and_then(Value::as_str) != Some(kind)
                        || v.pointer("/metadata/name").and_then(Value::as_str) != Some(name)
                });
                *chunk = format!("{separator}{comments}{}", yaml::to_string(&doc));
            } else {
                chunk.clear();
            }
            let tmp = file.with_extension("shopctl.tmp");
            std::fs::write(&tmp, chunks.concat())
                .and_then(|()| std::fs::rename(&tmp, &file))
                .map_err(|e| format!("{}: {e}", file.display()))?;
            return Ok(file);
        }
    }
    Err(format!("{kind} {name:?} is in none of the resource files"))
}

/// The resource of `kind` named `name` in a document: the document itself, or an item of the
/// `List` it is.
fn resource_mut<'a>(doc: &'a mut Value, kind: &str, name: &str) -> Option<&'a mut Value> {
    let is = |v: &Value| {
        v.get("kind").and_then(Value::as_str) == Some(kind)
            && v.pointer("/metadata/name").and_then(Value::as_str) == Some(name)
    };
    if is(doc) {
        return Some(doc);
    }
    doc.get_mut("items")?
        .as_array_mut()?
        .iter_mut()
        .find(|item| is(item))
}

/// Applies a JSON merge patch (RFC 7386) to `target`: objects merge key by key, `null`
/// removes a key, anything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(changes) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(map) = target {
        for (key, change) in changes {
            if change.is_null() {
                map.remove(key);
            } else {
                merge_patch(map.entry(key.clone()).or_insert(Value::Null), change);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_document_changes_and_the_rest_stays() {
        let dir = std::env::temp_dir().join(format!("shopset-edit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("r.yaml");
        let text = "# first\nkind: Tier\nmetadata:\n  name: a   # keep me\nspec: {}\n---\n# second\nkind: Tier\nmetadata:\n  name: b\nspec: {}\n";
        std::fs::write(&file, text).expect("write");
        let changed = edit_resource(std::slice::from_ref(&dir), "Tier", "b", |doc| {
            doc["metadata"]["annotations"] = serde_json::json!({"shopset.dev/hold": "x"});
        })
        .expect("edited");
        assert_eq!(changed, file);
        let after = std::fs::read_to_string(&file).expect("read");
        assert!(
            after.starts_with("# first\nkind: Tier\nmetadata:\n  name: a   # keep me\n"),
            "{after}"
        );
        assert!(after.contains("---\n# second\n"), "{after}");
        assert!(after.contains("shopset.dev/hold: x"), "{after}");
        assert!(edit_resource(std::slice::from_ref(&dir), "Tier", "c", |_| {}).is_err());
        // Inside a List, as `kubectl get -o yaml` writes it.
        std::fs::write(
            dir.join("list.yaml"),
            "apiVersion: v1\nkind: List\nitems:\n- {kind: Tier, metadata: {name: c}, spec: {}}\n",
        )
        .expect("write");
        edit_resource(std::slice::from_ref(&dir), "Tier", "c", |doc| {
            doc["spec"]["x"] = serde_json::json!("z");
        })
        .expect("edited inside the List");
        let list = std::fs::read_to_string(dir.join("list.yaml")).expect("read");
        assert!(
            list.contains("kind: List") && list.contains("x: z"),
            "{list}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_merge_patch_merges_objects_removes_nulls_and_replaces_the_rest() {
        let mut doc = serde_json::json!({
            "metadata": { "name": "t", "annotations": { "a": "1", "b": "2" } },
            "spec": { "pin": { "appCommit": "x" }, "list": [1, 2] },
        });
        merge_patch(
            &mut doc,
            &serde_json::json!({
                "metadata": { "annotations": { "a": null, "c": "3" } },
                "spec": { "pin": null, "list": [3], "maintenance": true },
            }),
        );
        assert_eq!(
            doc,
            serde_json::json!({
                "metadata": { "name": "t", "annotations": { "b": "2", "c": "3" } },
                "spec": { "list": [3], "maintenance": true },
            })
        );
    }
}
