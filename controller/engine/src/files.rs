//! Reading resource files and directories: every `*.yaml` and `*.yml` below a path, in name
//! order (names starting with `.` left out), parsed into documents. Files that cannot be read or parsed are reported, never
//! skipped silently: they make a resource set incomplete.

use std::path::{Path, PathBuf};
use std::sync::Arc;

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

/// Reads the same paths again and again (the controller's directory mode), parsing only the
/// documents whose text changed since the last read, and saying what changed.
///
/// A file whose size and modification time are as last read (and not modified within the last
/// two seconds, which a coarse clock could hide) is not read again. A file that is read is cut
/// into its documents at the lines that start with `---` (YAML forbids such a line inside a
/// document's content, so the cut is where any reader cuts), and only the documents whose text
/// it did not hold before are parsed. A file whose documents cannot be parsed one by one (a
/// directive, anchors in more than one document, an error) is parsed whole, as
/// [`read_documents`] does, with the same documents and errors.
#[derive(Debug, Default)]
pub struct DocumentReader {
    files: std::collections::BTreeMap<PathBuf, FileEntry>,
    /// Whether a read happened (the first one cannot say what changed).
    read_once: bool,
}

/// A document's text, and what it parses to.
type Piece = (Arc<str>, Arc<Vec<Value>>);

/// One file as last read.
#[derive(Debug, Clone)]
struct FileEntry {
    len: u64,
    modified: Option<std::time::SystemTime>,
    /// Its documents, piece by piece (text, documents); `None` when parsed whole.
    pieces: Option<Vec<Piece>>,
    /// Its documents, in parts (one a piece, or one for the whole file).
    parts: Vec<Arc<Vec<Value>>>,
}

impl FileEntry {
    fn documents(&self) -> impl Iterator<Item = &Value> {
        self.parts.iter().flat_map(|p| p.iter())
    }
}

/// What a [`DocumentReader`] read: each file's documents, shared with the reader.
#[derive(Debug, Default)]
pub struct ReadDocuments {
    files: Vec<(String, Vec<Arc<Vec<Value>>>)>,
    /// Files that could not be read or parsed, with why.
    pub unreadable: Vec<(String, String)>,
}

impl ReadDocuments {
    /// Each document with the file it came from, in the order [`read_documents`] gives.
    pub fn documents(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.files.iter().flat_map(|(file, parts)| {
            parts
                .iter()
                .flat_map(move |docs| docs.iter().map(move |d| (file.as_str(), d)))
        })
    }
}

/// One resource as the difference of two reads names it.
type Key = (String, String, String);

fn key(doc: &Value) -> Key {
    let text = |p: &str| {
        doc.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    (text("/apiVersion"), text("/kind"), text("/metadata/name"))
}

/// Cuts a YAML stream at its document markers: each piece starts at a `---` line (but the
/// first) and the pieces joined are the text.
fn cut_documents(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        let marker = line
            .strip_prefix("---")
            .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '\n', '\r']));
        if marker && at > start {
            out.push(&text[start..at]);
            start = at;
        }
        at += line.len();
    }
    if at > start {
        out.push(&text[start..]);
    }
    out
}

/// The documents of `text` from its pieces, each parsed unless `known` holds it; `None` when
/// the text must be parsed whole.
fn parse_cut(text: &str, known: Option<&FileEntry>) -> Option<Vec<Piece>> {
    if text.len() > yaml::MAX_INPUT_BYTES || text.starts_with('%') {
        return None;
    }
    let pieces = cut_documents(text);
    // Anchors are the budget's concern (alias bombs): parsed piece by piece, each piece would
    // have a budget of its own, so at most one may hold them.
    if pieces.iter().filter(|p| p.contains('&')).count() > 1 {
        return None;
    }
    let before: std::collections::HashMap<&str, &Piece> = known
        .and_then(|k| k.pieces.as_ref())
        .map(|p| p.iter().map(|e| (&*e.0, e)).collect())
        .unwrap_or_default();
    pieces
        .into_iter()
        .map(|piece| match before.get(piece) {
            Some(e) => Some((*e).clone()),
            None => Some((
                Arc::from(piece),
                Arc::new(yaml::parse_documents(piece).ok()?),
            )),
        })
        .collect()
}

/// Adds to `out` the key of every document of `pieces` that `other` does not hold as often.
fn differing(pieces: &[Piece], other: &[Piece], out: &mut std::collections::BTreeSet<Key>) {
    let mut counts: std::collections::HashMap<&str, isize> = std::collections::HashMap::new();
    for (text, _) in other {
        *counts.entry(text).or_default() += 1;
    }
    for (text, docs) in pieces {
        let n = counts.entry(text).or_default();
        if *n > 0 {
            *n -= 1;
        } else {
            out.extend(docs.iter().map(key));
        }
    }
}

impl DocumentReader {
    /// Reads every YAML document under `paths` (leaving out `skip`), as [`read_documents`]
    /// does, and what changed since the last read: `None` when it cannot say (the first read,
    /// a file that cannot be read or is parsed whole, a resource added or deleted, a kind other
    /// than ShopSet, Shop and Argo CD's Application changed), else the ShopSets and Shops whose
    /// documents changed (Applications are Argo CD's view, not inputs).
    pub fn read(
        &mut self,
        paths: &[PathBuf],
        skip: &[PathBuf],
    ) -> (ReadDocuments, Option<crate::ops::warm::Changed>) {
        let mut out = ReadDocuments::default();
        let mut files = Vec::new();
        for path in paths {
            collect(path, skip, &mut files, &mut out.unreadable);
        }
        let recent = std::time::SystemTime::now() - std::time::Duration::from_secs(2);
        let mut known = true;
        let mut came = std::collections::BTreeSet::new();
        let mut gone = std::collections::BTreeSet::new();
        let mut entries = std::collections::BTreeMap::new();
        for file in files {
            let name = file.display().to_string();
            let meta = std::fs::metadata(&file).ok();
            let (len, modified) = (
                meta.as_ref().map_or(0, std::fs::Metadata::len),
                meta.and_then(|m| m.modified().ok()),
            );
            let before = self.files.remove(&file);
            let unchanged = before.as_ref().is_some_and(|b| {
                b.len == len && b.modified == modified && modified.is_some_and(|m| m < recent)
            });
            let entry = match before {
                Some(b) if unchanged => b,
                before => {
                    let text = match std::fs::read_to_string(&file) {
                        Ok(text) => text,
                        Err(e) => {
                            out.unreadable.push((name, e.to_string()));
                            continue;
                        }
                    };
                    let entry = match parse_cut(&text, before.as_ref()) {
                        Some(pieces) => FileEntry {
                            len,
                            modified,
                            parts: pieces.iter().map(|(_, d)| d.clone()).collect(),
                            pieces: Some(pieces),
                        },
                        None => match yaml::parse_documents(&text) {
                            Ok(docs) => FileEntry {
                                len,
                                modified,
                                pieces: None,
                                parts: vec![Arc::new(docs)],
                            },
                            Err(e) => {
                                out.unreadable.push((name, e.to_string()));
                                continue;
                            }
                        },
                    };
                    match (
                        before.as_ref().and_then(|b| b.pieces.as_ref()),
                        &entry.pieces,
                    ) {
                        (Some(old), Some(new)) => {
                            differing(new, old, &mut came);
                            differing(old, new, &mut gone);
                        }
                        (None, Some(new)) if before.is_none() => differing(new, &[], &mut came),
                        _ => known = false,
                    }
                    entry
                }
            };
            out.files.push((name, entry.parts.clone()));
            entries.insert(file, entry);
        }
        // Files gone since the last read.
        for entry in std::mem::replace(&mut self.files, entries).into_values() {
            gone.extend(entry.documents().map(key));
        }
        let first = !std::mem::replace(&mut self.read_once, true);
        if first || !known || !out.unreadable.is_empty() {
            return (out, None);
        }
        (out, changes(&came, &gone))
    }
}

/// What the documents that came and went say changed.
fn changes(
    came: &std::collections::BTreeSet<Key>,
    gone: &std::collections::BTreeSet<Key>,
) -> Option<crate::ops::warm::Changed> {
    let mut changed = crate::ops::warm::Changed::default();
    let argo = |k: &Key| k.0.starts_with("argoproj.io/");
    for k in came {
        if argo(k) {
            continue;
        }
        if k.0 != shopset_crds::API_VERSION {
            return None;
        }
        match k.1.as_str() {
            "ShopSet" if gone.contains(k) => {
                changed.shop_sets.insert(k.2.clone());
            }
            "Shop" => {
                changed.shops.insert(k.2.clone());
            }
            _ => return None,
        }
    }
    // Deleted, or its document changed identity.
    if gone.iter().any(|k| !argo(k) && !came.contains(k)) {
        return None;
    }
    Some(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_parses_only_changed_documents_and_names_what_changed() {
        let dir = std::env::temp_dir().join(format!("shopset-reader-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("r.yaml");
        let shop_set = |name: &str, extra: &str| {
            format!(
                "---\napiVersion: shopset.dev/v1alpha1\nkind: ShopSet\nmetadata:\n  name: {name}\nspec:\n  tier: t\n  configuration: c{extra}\n"
            )
        };
        let write = |texts: &[String]| std::fs::write(&file, texts.concat()).expect("write");
        let paths = std::slice::from_ref(&dir);
        let mut reader = DocumentReader::default();
        let mut texts = vec![
            "# a comment before the first document\n".to_owned(),
            shop_set("a", ""),
            shop_set("b", ""),
            "--- # a Tier\napiVersion: shopset.dev/v1alpha1\nkind: Tier\nmetadata:\n  name: t\nspec: {}\n".to_owned(),
        ];
        write(&texts);
        let whole = |reader_docs: &ReadDocuments| {
            let expected = read_documents(paths, &[]);
            let got: Vec<(String, Value)> = reader_docs
                .documents()
                .map(|(f, d)| (f.to_owned(), d.clone()))
                .collect();
            assert_eq!(got, expected.documents);
            assert_eq!(reader_docs.unreadable, expected.unreadable);
        };
        let (docs, changed) = reader.read(paths, &[]);
        whole(&docs);
        assert_eq!(docs.documents().count(), 3);
        assert_eq!(changed, None, "the first read cannot say");
        let (docs, changed) = reader.read(paths, &[]);
        whole(&docs);
        assert_eq!(changed, Some(crate::ops::warm::Changed::default()));
        // A file not modified for a while is not read again.
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
        std::fs::File::options()
            .write(true)
            .open(&file)
            .and_then(|f| f.set_modified(old))
            .expect("set the time");
        let (docs, changed) = reader.read(paths, &[]);
        whole(&docs);
        assert_eq!(changed, Some(crate::ops::warm::Changed::default()));
        // One ShopSet's spec changes.
        texts[2] = shop_set("b", "\n  maintenance: true");
        write(&texts);
        let (docs, changed) = reader.read(paths, &[]);
        whole(&docs);
        let changed = changed.expect("known");
        assert_eq!(changed.shop_sets.iter().collect::<Vec<_>>(), ["b"]);
        // A new ShopSet, a deleted one, a changed Tier, an unparsable file: unknown.
        for (i, text) in [
            (4, shop_set("c", "")),
            (1, String::new()),
            (3, "---\napiVersion: shopset.dev/v1alpha1\nkind: Tier\nmetadata:\n  name: t\nspec: {hold: x}\n".to_owned()),
            (1, "---\nkind: [\n".to_owned()),
        ] {
            let mut t = texts.clone();
            if i == texts.len() {
                t.push(text);
            } else {
                t[i] = text;
            }
            write(&t);
            let (docs, changed) = reader.read(paths, &[]);
            whole(&docs);
            assert_eq!(changed, None, "{}", t.concat());
            write(&texts);
            reader.read(paths, &[]);
        }
        // Argo CD's view is not an input; an anchor in two documents parses the file whole.
        let app =
            "---\napiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: x\n"
                .to_owned();
        texts.push(app);
        write(&texts);
        assert_eq!(
            reader.read(paths, &[]).1,
            Some(crate::ops::warm::Changed::default())
        );
        texts.push(
            "---\nkind: A\nmetadata: &m {name: m}\n---\nkind: B\nmetadata: &n {name: n}\n"
                .to_owned(),
        );
        write(&texts);
        let (docs, changed) = reader.read(paths, &[]);
        whole(&docs);
        assert_eq!(changed, None);
        let _ = std::fs::remove_dir_all(&dir);
    }

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
