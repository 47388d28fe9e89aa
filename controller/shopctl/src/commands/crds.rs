//! `shopctl crds`: the CRDs, generated from the Rust types.

use std::path::Path;

use anyhow::Context as _;
use kube::Resource as _;

pub fn run(out: Option<&Path>) -> anyhow::Result<bool> {
    let crds = shopset_crds::all_crds();
    let docs: Vec<String> = crds
        .iter()
        .map(|crd| {
            shopset_render::yaml::to_string(&serde_json::to_value(crd).expect("a CRD is JSON"))
        })
        .collect();
    let Some(out) = out else {
        print!(
            "{}",
            docs.iter().map(|d| format!("---\n{d}")).collect::<String>()
        );
        return Ok(true);
    };
    std::fs::create_dir_all(out).with_context(|| format!("{}", out.display()))?;
    let mut files = Vec::new();
    for (crd, doc) in crds.iter().zip(&docs) {
        let file = format!(
            "{}.yaml",
            crd.meta().name.as_deref().expect("a CRD has a name")
        );
        std::fs::write(out.join(&file), doc)
            .with_context(|| format!("{}/{file}", out.display()))?;
        files.push(file);
    }
    let kustomization = serde_json::json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": files,
    });
    std::fs::write(
        out.join("kustomization.yaml"),
        shopset_render::yaml::to_string(&kustomization),
    )
    .with_context(|| format!("{}/kustomization.yaml", out.display()))?;
    Ok(true)
}
