//! `shopctl quickstart`: the embedded example, end to end.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use include_dir::{Dir, include_dir};

use crate::cli::Format;

static EXAMPLES: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../../examples");

fn files(dir: &Dir<'_>, out: &mut BTreeMap<String, Vec<u8>>) {
    for file in dir.files() {
        out.insert(
            file.path().to_string_lossy().replace('\\', "/"),
            file.contents().to_vec(),
        );
    }
    for sub in dir.dirs() {
        files(sub, out);
    }
}

pub fn run(ctx: &super::Context, format: Format, dir: &Path) -> anyhow::Result<bool> {
    let mut examples = BTreeMap::new();
    files(&EXAMPLES, &mut examples);
    let prepared =
        shopset_engine::ops::quickstart::prepare(dir, &examples, &["tier-0", "tier-1", "tier-2"])
            .map_err(anyhow::Error::msg)?;
    for repo in &prepared.created {
        eprintln!("created {repo}");
    }
    let dir = dir.canonicalize()?;
    let resources = crate::load::resources(&[dir.join("resources")]);
    let author = ctx.author(&crate::cli::AuthorArgs::default());
    let outcome = super::sync::sync(
        ctx,
        &resources,
        &shopset_engine::SyncOptions::default(),
        &author,
    );
    super::report_problems(&outcome.problems);
    crate::output::print(format, &outcome.text, &outcome.json);
    if format == Format::Text {
        let d = dir.display();
        let sys: PathBuf = dir.join("system.git");
        eprintln!(
            "\nThe system repository is {sys}, one branch per tier. Look at it:\n\
             \n  git -c protocol.file.allow=always clone --recurse-submodules --branch tier-0 {sys} /tmp/tier-0\
             \n  kubectl kustomize /tmp/tier-0/shopsets/*/canary\
             \n\nWhich ShopSet serves each shop, and how much room each pool has left:\
             \n\n  shopctl shop list -f {d}/resources\
             \n  shopctl shop capacity -f {d}/resources\
             \n\nEdit {d}/resources/*.yaml and apply the change as the controller would:\
             \n\n  shopctl sync -f {d}/resources\
             \n\nOr let the controller watch the files and keep the branches rendered (status in\
             \n{d}/resources/shopset-status.json):\
             \n\n  cargo run -p shopset-controller -- --resources-dir {d}/resources --cache-dir {d}/cache --listen 127.0.0.1:8080\n",
            sys = sys.display()
        );
    }
    Ok(outcome.ok)
}
