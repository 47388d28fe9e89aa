//! Every generated Application validates against Argo CD's own CRD schema
//! (`../shared/fixtures/argocd-crds/application-crd.yaml`), converted to JSON Schema with unknown
//! fields refused (the API server would prune them silently).

use serde_json::{Map, Value};
use shopset_tests::fixtures;

/// OpenAPI v3 (Kubernetes flavour) to JSON Schema: drop `x-kubernetes-*`, honour `nullable`,
/// and refuse properties the schema does not declare.
fn to_json_schema(v: &Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, val) in map {
                if k.starts_with("x-kubernetes-") {
                    continue;
                }
                out.insert(k.clone(), to_json_schema(val));
            }
            if out.get("nullable") == Some(&Value::Bool(true)) {
                out.remove("nullable");
                if let Some(Value::String(t)) = out.get("type").cloned() {
                    out.insert("type".into(), serde_json::json!([t, "null"]));
                }
            }
            let preserve =
                map.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
            if out.contains_key("properties")
                && !out.contains_key("additionalProperties")
                && !preserve
            {
                out.insert("additionalProperties".into(), Value::Bool(false));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(to_json_schema).collect()),
        other => other.clone(),
    }
}

pub(crate) fn validator() -> jsonschema::Validator {
    validator_of("application-crd.yaml")
}

/// A validator for the CRD in `argocd-crds/<file>`.
fn validator_of(file: &str) -> jsonschema::Validator {
    crd_validator(&format!("argocd-crds/{file}"))
}

/// A validator for the CRD in `<fixtures>/<path>`, refusing unknown fields.
pub(crate) fn crd_validator(path: &str) -> jsonschema::Validator {
    let text = std::fs::read_to_string(fixtures().join(path)).unwrap();
    let crd = shopset_render::yaml::parse(&text).unwrap();
    let mut schema = to_json_schema(&crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]);
    // metadata is the API server's business, not the CRD's.
    schema["properties"]["metadata"] = serde_json::json!({"type": "object"});
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .build(&schema)
        .unwrap()
}

pub(crate) fn errors(validator: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[test]
fn generated_applications_validate() {
    let validator = validator();
    // Positive and negative controls, so this test can fail.
    let example =
        std::fs::read_to_string(fixtures().join("argocd-crds/examples/application.yaml")).unwrap();
    let example = shopset_render::yaml::parse(&example).unwrap();
    assert!(
        errors(&validator, &example).is_empty(),
        "Argo CD's own example is valid"
    );
    let mut misspelt = example.clone();
    misspelt["spec"]["sourse"] = misspelt["spec"]["source"].clone();
    assert!(
        !errors(&validator, &misspelt).is_empty(),
        "a misspelt field is refused"
    );

    let projects = validator_of("appproject-crd.yaml");
    let (_tmp, dir) = shopset_tests::quickstart();
    let repo = shopset_git::Repo::open(&dir.join("system.git").display().to_string()).unwrap();
    let mut checked = 0;
    let mut projects_checked = 0;
    for tier in ["tier-0", "tier-1", "tier-2"] {
        let tip = repo.tip(tier).unwrap().unwrap();
        let inputs = shopset_render::parse_inputs(
            std::str::from_utf8(
                &repo
                    .read_file(&tip, shopset_render::layout::INPUTS)
                    .unwrap()
                    .unwrap(),
            )
            .unwrap(),
        )
        .unwrap();
        let project = shopset_render::argo::shopset_project(&inputs);
        for entry in repo.read_dir(&tip, "").unwrap() {
            let shopset_git::FileEntry::File { path, bytes } = entry else {
                continue;
            };
            if path == "applications/project.yaml" {
                let doc =
                    shopset_render::yaml::parse(std::str::from_utf8(&bytes).unwrap()).unwrap();
                let errs = errors(&projects, &doc);
                assert!(errs.is_empty(), "{tier}/{path}: {errs:#?}");
                assert_eq!(doc["metadata"]["name"], project.as_str());
                // Exactly each ShopSet's failure domain and namespace.
                let mut expected: Vec<(String, String)> = inputs
                    .shop_sets
                    .iter()
                    .map(|(name, placed)| {
                        let fd = &inputs.failure_domains[&placed.failure_domain].destination;
                        let cluster = fd.name.clone().or(fd.server.clone()).unwrap();
                        (
                            cluster,
                            placed.spec.namespace.clone().unwrap_or(name.clone()),
                        )
                    })
                    .collect();
                expected.sort();
                expected.dedup();
                let mut listed: Vec<(String, String)> = doc["spec"]["destinations"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| {
                        let cluster = d.get("name").or(d.get("server")).unwrap();
                        (
                            cluster.as_str().unwrap().to_owned(),
                            d["namespace"].as_str().unwrap().to_owned(),
                        )
                    })
                    .collect();
                listed.sort();
                assert_eq!(listed, expected, "{tier}");
                assert_eq!(
                    doc["spec"]["sourceRepos"],
                    serde_json::json!([inputs.tier.spec.system.url, inputs.tier.spec.app.url])
                );
                projects_checked += 1;
                continue;
            }
            let is_app = (path.starts_with("applications/")
                && !path.ends_with("/kustomization.yaml"))
                || path.starts_with("bootstrap/");
            if !is_app {
                continue;
            }
            let doc = shopset_render::yaml::parse(std::str::from_utf8(&bytes).unwrap()).unwrap();
            assert_eq!(doc["kind"], "Application", "{tier}/{path}");
            let errs = errors(&validator, &doc);
            assert!(errs.is_empty(), "{tier}/{path}: {errs:#?}");
            if doc
                .pointer("/metadata/labels/shopset.dev~1shopset")
                .is_some()
            {
                assert_eq!(doc["spec"]["project"], project.as_str(), "{tier}/{path}");
            }
            checked += 1;
        }
    }
    // tier-2 names its own project; tier-0 and tier-1 get theirs.
    assert_eq!(projects_checked, 2, "an AppProject in tier-0 and tier-1");
    assert_eq!(
        checked,
        8 + 1 + 3,
        "eight ShopSet Applications, the isolated shop mega-mart's and three root Applications"
    );

    // The focused golden case exercises patches, suspend and custom sync policies.
    let inputs = std::fs::read_to_string(
        shopset_tests::root().join("tests/golden/cases/edge-cases/inputs.yaml"),
    )
    .unwrap();
    let tree =
        shopset_render::render_tier(&shopset_render::parse_inputs(&inputs).unwrap()).unwrap();
    for (path, bytes) in tree.files.iter().filter(|(p, _)| {
        (p.starts_with("applications/")
            && !p.ends_with("/kustomization.yaml")
            && !p.ends_with("/project.yaml"))
            || p.starts_with("bootstrap/")
    }) {
        let doc = shopset_render::yaml::parse(std::str::from_utf8(bytes).unwrap()).unwrap();
        let errs = errors(&validator, &doc);
        assert!(errs.is_empty(), "{path}: {errs:#?}");
    }
}
