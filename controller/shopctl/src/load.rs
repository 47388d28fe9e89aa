//! Reading resource files and directories.

use std::path::{Path, PathBuf};

use shopset_engine::Resources;

fn collect(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        entries.sort();
        for entry in entries {
            let is_yaml = entry.extension().is_some_and(|e| e == "yaml" || e == "yml");
            if entry.is_dir() || is_yaml {
                collect(&entry, out)?;
            }
        }
    } else {
        out.push(path.to_owned());
    }
    Ok(())
}

/// Reads every resource in `paths`. Unreadable files are reported in the result, as errors
/// that make the set incomplete.
pub fn resources(paths: &[PathBuf]) -> Resources {
    let mut resources = Resources::default();
    for path in paths {
        let mut files = Vec::new();
        if let Err(e) = collect(path, &mut files) {
            resources.add_unreadable(&path.display().to_string(), &e.to_string());
            continue;
        }
        for file in files {
            let name = file.display().to_string();
            match std::fs::read_to_string(&file) {
                Ok(text) => resources.add_text(&name, &text),
                Err(e) => resources.add_unreadable(&name, &e.to_string()),
            }
        }
    }
    resources
}
