//! `shopctl render`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::json;
use shopset_engine::Problem;
use shopset_engine::ops::render_dir::write_branch_dir;

use crate::cli::Format;

pub fn run(
    ctx: &super::Context,
    format: Format,
    files: &[PathBuf],
    inputs: &[PathBuf],
    out: &Path,
) -> anyhow::Result<bool> {
    let mut problems = Vec::new();
    let mut planned = Vec::new();
    let resources = crate::load::resources(files);
    let mut repos = ctx.repos(&resources);
    if inputs.is_empty() {
        let plan = shopset_engine::plan_sync(&resources, &mut repos);
        problems.extend(plan.problems);
        for tier in plan.tiers {
            match tier.full_tree() {
                Ok(tree) => planned.push((tier.inputs, tree)),
                Err(e) => problems.push(Problem::about("Tier", &tier.tier, e.to_string())),
            }
        }
    } else {
        for file in inputs {
            let rendered = std::fs::read_to_string(file)
                .map_err(|e| e.to_string())
                .and_then(|text| {
                    // The files of shop rows it names are beside it (`.shopset/shops-<xx>.yaml`).
                    let dir = file
                        .parent()
                        .and_then(Path::parent)
                        .unwrap_or(Path::new("."));
                    shopset_render::record::read(&text, &mut |path| match std::fs::read(
                        dir.join(path),
                    ) {
                        Ok(bytes) => Ok(Some(bytes)),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                        Err(e) => Err(format!("{path}: {e}")),
                    })
                })
                .and_then(|i| {
                    shopset_render::render_tier(&i)
                        .map(|t| (i, t))
                        .map_err(|e| e.to_string())
                });
            match rendered {
                Ok((inputs, tree)) => planned.push((inputs.into(), tree)),
                Err(e) => problems.push(Problem::general(e).in_file(&file.display().to_string())),
            }
        }
    }
    let mut text = String::new();
    let mut written = Vec::new();
    for (inputs, tree) in &planned {
        match write_branch_dir(out, inputs, tree, &mut repos) {
            Ok((dir, warnings)) => {
                for w in warnings {
                    eprintln!("warning: {w}");
                }
                let _ = writeln!(text, "{:<10} {}", inputs.tier.name, dir.display());
                written.push(
                    json!({ "tier": inputs.tier.name, "branch": inputs.branch(), "dir": dir }),
                );
            }
            Err(e) => problems.push(Problem::about("Tier", &inputs.tier.name, e.to_string())),
        }
    }
    super::report_problems(&problems);
    crate::output::print(
        format,
        &text,
        &json!({ "written": written, "problems": problems }),
    );
    Ok(!shopset_engine::any_error(&problems))
}
