//! Real Kustomize on the fixture applications: every rendered overlay builds, and the built
//! objects carry the ShopSet's namespace, labels, replicas, images and values, including values
//! that YAML likes to reinterpret.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};
use shopset_tests::{
    app_repo_from_dir, clone_branch, fixtures, kustomize, of_kind, ok, run_shopctl,
};

/// Strings YAML readers like to turn into something else.
const TRICKY: [&str; 33] = [
    "yes",
    "no",
    "on",
    "off",
    "y",
    "~",
    "null",
    "0123",
    "0x1F",
    "1e3",
    "1_000",
    ".inf",
    "2001-12-14",
    "12:30",
    "key: value",
    "text #comment",
    "*star",
    "&anchor",
    "!tag",
    "%percent",
    "@at",
    "`tick",
    "multi\nline\ntext\n",
    "  leading",
    "trailing  ",
    "ユニコード ✓",
    "",
    "\"quoted\"",
    "'single'",
    "- dash",
    "[flow]",
    "{flow: map}",
    "tab\tand\\backslash",
];

pub(crate) struct Case<'a> {
    pub(crate) app_dir: &'a Path,
    pub(crate) app_path: &'a str,
    pub(crate) config: Value,
    pub(crate) overrides: Value,
    /// More documents (Shops).
    pub(crate) extra: Vec<Value>,
}

/// Every part of the isolation switched off.
static ISOLATION_OFF: std::sync::LazyLock<Value> = std::sync::LazyLock::new(|| {
    json!({"namespace": false, "quota": {"enabled": false}, "limits": {"enabled": false},
           "network": {"enabled": false}})
});

/// Syncs one ShopSet `shop` of `case` into a new system repository, clones it with the git CLI
/// and builds the overlay.
pub(crate) fn build(case: &Case<'_>) -> Vec<Value> {
    let (_tmp, clone) = sync_case(case);
    kustomize(&clone.join(shopset_render::layout::shopset_dir("shop")))
}

/// Syncs one ShopSet `shop` of `case` into a new system repository and clones its branch
/// `tier-0` with the git CLI: (the directory holding it all, the clone).
pub(crate) fn sync_case(case: &Case<'_>) -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let app = tmp.path().join("app.git");
    app_repo_from_dir(&app, case.app_dir, &["tier-0"]);
    let system = tmp.path().join("system.git");
    let docs = [
        json!({"apiVersion": "shopset.dev/v1alpha1", "kind": "Tier", "metadata": {"name": "tier-0"},
               "spec": {"app": {"url": app.display().to_string(), "path": case.app_path},
                        "system": {"url": system.display().to_string()}}}),
        json!({"apiVersion": "shopset.dev/v1alpha1", "kind": "Configuration", "metadata": {"name": "plan"},
               "spec": {"inline": case.config}}),
        json!({"apiVersion": "shopset.dev/v1alpha1", "kind": "FailureDomain", "metadata": {"name": "zone-a"},
               "spec": {"destination": {"name": "cluster-a"}}}),
        json!({"apiVersion": "shopset.dev/v1alpha1", "kind": "ShopSet", "metadata": {"name": "shop"},
               "spec": {"tier": "tier-0", "configuration": "plan", "overrides": case.overrides}}),
    ];
    let text: Vec<String> = docs
        .iter()
        .chain(&case.extra)
        .map(shopset_render::yaml::to_string)
        .collect();
    let file = tmp.path().join("resources.yaml");
    std::fs::write(&file, text.join("---\n")).unwrap();
    ok(&run_shopctl(["sync", "-f", &file.display().to_string()]));
    let clone = tmp.path().join("clone");
    clone_branch(&system, "tier-0", &clone);
    (tmp, clone)
}

fn values_of(objects: &[Value]) -> BTreeMap<String, String> {
    let maps = of_kind(objects, "ConfigMap");
    let cm = maps
        .iter()
        .find(|m| {
            m["metadata"]["name"]
                .as_str()
                .unwrap()
                .starts_with("shopset-values-")
        })
        .expect("values ConfigMap");
    serde_json::from_value(cm["data"].clone()).unwrap()
}

#[test]
fn podinfo_with_every_tricky_value() {
    let values: BTreeMap<String, String> = TRICKY
        .iter()
        .enumerate()
        .map(|(i, v)| (format!("V{i:02}"), (*v).to_string()))
        .collect();
    let objects = build(&Case {
        app_dir: &fixtures().join("apps/podinfo"),
        app_path: "kustomize",
        config: json!({"values": values, "replicas": {"podinfo": 3}, "images": {"ghcr.io/stefanprodan/podinfo": {"newTag": "6.0"}},
                       "isolation": ISOLATION_OFF.clone()}),
        overrides: json!({"values": {"EXTRA": "1.10"}}),
        extra: Vec::new(),
    });
    assert_eq!(
        objects.len(),
        4,
        "HPA, Deployment, Service and the values ConfigMap"
    );
    for o in &objects {
        assert_eq!(o["metadata"]["namespace"], "shop");
        assert_eq!(o["metadata"]["labels"]["shopset.dev/shopset"], "shop");
        assert_eq!(
            o["metadata"]["labels"]["shopset.dev/failure-domain"],
            "zone-a"
        );
    }
    let deployment = of_kind(&objects, "Deployment")[0];
    assert_eq!(deployment["spec"]["replicas"], 3);
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        "ghcr.io/stefanprodan/podinfo:6.0"
    );
    let mut expected = values;
    expected.insert("EXTRA".into(), "1.10".into());
    let got = values_of(&objects);
    for (key, want) in &expected {
        assert_eq!(
            got.get(key),
            Some(want),
            "value {key} ({want:?}) reaches the ConfigMap unchanged"
        );
    }
    assert_eq!(got.len(), expected.len());
}

#[test]
fn microservices_demo_base() {
    let objects = build(&Case {
        app_dir: &fixtures().join("apps/microservices-demo"),
        app_path: "kustomize/base",
        config: json!({
            "values": {"CURRENCY": "JPY"},
            "replicas": {"frontend": 4, "cartservice": 2},
            "images": {"us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/frontend": {"newTag": "v9.9.9"}},
            "patches": {"frontend-memory": {"target": {"kind": "Deployment", "name": "frontend"},
                "patch": "- op: replace\n  path: /spec/template/spec/containers/0/resources/limits/memory\n  value: 512Mi\n"}},
            "maintenance": {"replicas": {"frontend": 0}},
            // Isolation has its own test (isolation.rs): here, the base's objects alone.
            "isolation": ISOLATION_OFF.clone(),
        }),
        overrides: json!({"replicas": {"cartservice": null}}),
        extra: Vec::new(),
    });
    assert_eq!(
        objects.len(),
        36,
        "35 objects of the base and the values ConfigMap"
    );
    assert!(objects.iter().all(|o| o["metadata"]["namespace"] == "shop"));
    let deployments = of_kind(&objects, "Deployment");
    let frontend = deployments
        .iter()
        .find(|d| d["metadata"]["name"] == "frontend")
        .unwrap();
    assert_eq!(frontend["spec"]["replicas"], 4, "maintenance is off");
    let container = &frontend["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        container["image"],
        "us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo/frontend:v9.9.9"
    );
    assert_eq!(container["resources"]["limits"]["memory"], "512Mi");
    let cart = deployments
        .iter()
        .find(|d| d["metadata"]["name"] == "cartservice")
        .unwrap();
    assert!(
        cart["spec"]["replicas"].is_null(),
        "the override removed the configured count: the base has none"
    );
    assert_eq!(values_of(&objects)["CURRENCY"], "JPY");
}

#[test]
fn the_hosts_of_a_shopsets_shops_reach_a_configmap() {
    let shop = |name: &str, hosts: &[&str]| {
        json!({"apiVersion": "shopset.dev/v1alpha1", "kind": "Shop", "metadata": {"name": name},
               "spec": {"hosts": hosts}})
    };
    let objects = build(&Case {
        app_dir: &fixtures().join("apps/podinfo"),
        app_path: "kustomize",
        config: json!({}),
        overrides: json!({}),
        extra: vec![
            shop("zeta", &["zeta.example.com", "www.zeta.shop"]),
            shop("alpha", &["alpha.example.com"]),
        ],
    });
    let maps = of_kind(&objects, "ConfigMap");
    let hosts = maps
        .iter()
        .find(|m| {
            m["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("shopset-hosts-"))
        })
        .expect("the hosts ConfigMap");
    assert_eq!(hosts["metadata"]["namespace"], "shop");
    assert_eq!(
        hosts["data"]["hosts"],
        "alpha.example.com\nwww.zeta.shop\nzeta.example.com\n"
    );
}
