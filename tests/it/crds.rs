//! The committed CRDs are exactly what `shopctl crds` prints.

use shopset_tests::{ok, read_dir_files, root, run_shopctl};

#[test]
fn committed_crds_equal_shopctl_crds() {
    let tmp = tempfile::tempdir().unwrap();
    ok(&run_shopctl([
        "crds",
        "--out",
        &tmp.path().display().to_string(),
    ]));
    let generated = read_dir_files(tmp.path());
    let committed = read_dir_files(&root().join("crds/yaml"));
    assert_eq!(generated.len(), 9, "eight CRDs and a kustomization");
    assert_eq!(
        committed.keys().collect::<Vec<_>>(),
        generated.keys().collect::<Vec<_>>(),
        "crds/yaml is stale: run `cargo run -p shopctl -- crds --out crds/yaml`"
    );
    for (path, bytes) in &generated {
        assert!(
            committed[path] == *bytes,
            "crds/yaml/{path} is stale: run `cargo run -p shopctl -- crds --out crds/yaml`"
        );
    }
    // Printed form = the files.
    let printed = ok(&run_shopctl(["crds"]));
    for (path, bytes) in generated
        .iter()
        .filter(|(p, _)| p.as_str() != "kustomization.yaml")
    {
        assert!(
            printed.contains(std::str::from_utf8(bytes).unwrap()),
            "{path} missing from `shopctl crds`"
        );
    }
}

#[test]
fn crds_carry_validation_and_columns() {
    let text = std::fs::read_to_string(root().join("crds/yaml/shopsets.shopset.dev.yaml")).unwrap();
    let crd = shopset_render::yaml::parse(&text).unwrap();
    let version = &crd["spec"]["versions"][0];
    assert_eq!(version["subresources"]["status"], serde_json::json!({}));
    assert!(
        version["additionalPrinterColumns"]
            .as_array()
            .unwrap()
            .len()
            >= 5
    );
    let spec = &version["schema"]["openAPIV3Schema"]["properties"]["spec"];
    assert_eq!(
        spec["properties"]["tier"]["pattern"],
        shopset_crds::names::DNS_LABEL_PATTERN
    );
    assert_eq!(
        spec["properties"]["workloadDeletion"]["enum"],
        serde_json::json!(["Orphan", "Delete"])
    );
    assert!(version["schema"]["openAPIV3Schema"]["x-kubernetes-validations"].is_array());
    assert_eq!(
        crd["spec"]["names"]["shortNames"],
        serde_json::json!(["ss"])
    );
}

#[test]
fn deploy_builds_with_kustomize_and_runs_locked_down() {
    let objects = shopset_tests::kustomize(&shopset_tests::root().join("deploy"));
    let kinds: Vec<&str> = objects.iter().filter_map(|o| o["kind"].as_str()).collect();
    for kind in [
        "CustomResourceDefinition",
        "Namespace",
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "Service",
    ] {
        assert!(kinds.contains(&kind), "deploy/ lacks a {kind}: {kinds:?}");
    }
    let deployment = shopset_tests::of_kind(&objects, "Deployment")[0];
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let container = &pod["containers"][0];
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(
        container["securityContext"]["allowPrivilegeEscalation"],
        false
    );
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert!(container["resources"]["requests"]["memory"].is_string());
    let mounts: Vec<&str> = container["volumeMounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["mountPath"].as_str())
        .collect();
    assert!(mounts.contains(&"/var/cache/shopset"), "{mounts:?}");
}

/// The Shop schema checks hosts and weights at admission, with the same rules `shopctl` applies
/// to files (`names::host`): both agree on every sample.
#[test]
fn the_shop_schema_and_the_file_reader_agree_on_hosts() {
    let text = std::fs::read_to_string(root().join("crds/yaml/shops.shopset.dev.yaml")).unwrap();
    let crd = shopset_render::yaml::parse(&text).unwrap();
    let version = &crd["spec"]["versions"][0];
    assert_eq!(version["subresources"]["status"], serde_json::json!({}));
    let spec = &version["schema"]["openAPIV3Schema"]["properties"]["spec"];
    assert_eq!(spec["properties"]["weight"]["minimum"], 1.0);
    assert_eq!(spec["properties"]["weight"]["default"], 1);
    assert_eq!(spec["properties"]["pool"]["default"], "default");
    let rules = spec["x-kubernetes-validations"].to_string();
    assert!(rules.contains("allowWildcardHosts"), "{rules}");
    let long = format!("{}.example.com", "a".repeat(64));
    let item = jsonschema::validator_for(&spec["properties"]["hosts"]["items"]).unwrap();
    for (host, valid) in [
        ("shop.example.com", true),
        ("www.my-shop.co.uk", true),
        ("*.example.com", true), // the pattern allows it; the CEL rule and the reader decide
        ("Shop.example.com", false),
        ("localhost", false),
        ("-bad.example.com", false),
        ("shop..example.com", false),
        ("shop.example.com.", false),
        ("a b.example.com", false),
        (&long, false),
    ] {
        let by_schema = item.is_valid(&serde_json::json!(host));
        assert_eq!(by_schema, valid, "schema: {host}");
        assert_eq!(
            shopset_crds::names::host(host, true).is_ok(),
            valid,
            "reader: {host}"
        );
    }
    assert!(shopset_crds::names::host("*.example.com", false).is_err());
}
