//! Reading resource files and directories: every `*.yaml` and `*.yml` below a path, in name
//! order, parsed into documents. Files that cannot be read or parsed are reported, never
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

fn collect(path: &Path, skip: &[PathBuf], out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if skip.iter().any(|s| s == path) {
        return Ok(());
    }
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        entries.sort();
        for entry in entries {
            let is_yaml = entry.extension().is_some_and(|e| e == "yaml" || e == "yml");
            if entry.is_dir() || is_yaml {
                collect(&entry, skip, out)?;
            }
        }
    } else {
        out.push(path.to_owned());
    }
    Ok(())
}

/// Reads every YAML document under `paths`, leaving out the files in `skip`.
#[must_use]
pub fn read_documents(paths: &[PathBuf], skip: &[PathBuf]) -> Documents {
    let mut out = Documents::default();
    for path in paths {
        let mut files = Vec::new();
        if let Err(e) = collect(path, skip, &mut files) {
            out.unreadable
                .push((path.display().to_string(), e.to_string()));
            continue;
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
    }
    out
}
