//! Isolation per ShopSet (issue 14, points 1 and 3), with real Kustomize on the podinfo
//! fixture: the Namespace, ResourceQuota, LimitRange, NetworkPolicy and PodDisruptionBudgets
//! are there by default with the documented values, take the layers' values, and each goes
//! when a layer switches it off; each built object is a valid Kubernetes object of its kind
//! (read into `k8s-openapi`'s type and written back unchanged: an unknown or misspelt field
//! would be lost on the way); the NetworkPolicy means what it should (a small evaluator of its
//! rules); a configuration patch that would leave the ShopSet's namespace is refused.

use serde_json::{Value, json};
use shopset_tests::{fixtures, of_kind};

use crate::kustomize::{Case, build};

fn podinfo(config: Value, overrides: Value) -> Vec<Value> {
    build(&Case {
        app_dir: &fixtures().join("apps/podinfo"),
        app_path: "kustomize",
        config,
        overrides,
        extra: Vec::new(),
    })
}

fn one<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    let found = of_kind(objects, kind);
    assert_eq!(found.len(), 1, "one {kind}: {objects:#?}");
    found[0]
}

/// `object` read as `T` and written back: the same JSON, or a field Kubernetes does not know.
pub(crate) fn valid_as<T: serde::de::DeserializeOwned + serde::Serialize>(object: &Value) {
    let typed: T = serde_json::from_value(object.clone())
        .unwrap_or_else(|e| panic!("{}: {e}: {object:#}", object["kind"]));
    let back = serde_json::to_value(&typed).unwrap();
    assert_eq!(
        &back, object,
        "{} is not a valid object of its kind",
        object["kind"]
    );
}

/// Whether the policy lets a pod of the ShopSet's namespace receive from (`ingress`) or send
/// to (`!ingress`) a peer in namespace `ns` with `labels`, at `port`/`protocol` (or an address
/// `ip` outside the cluster when `ns` is `None`). Kubernetes' meaning: allowed when any rule
/// matches (a peer and a port); a peer with only `podSelector` is in the policy's namespace.
fn allows(
    policy: &Value,
    own_ns: &str,
    ingress: bool,
    ns: Option<&str>,
    labels: &[(&str, &str)],
    port: u16,
    protocol: &str,
) -> bool {
    let (key, peers_key) = if ingress {
        ("ingress", "from")
    } else {
        ("egress", "to")
    };
    let matches_labels = |selector: &Value, have: &[(&str, &str)]| {
        selector
            .get("matchLabels")
            .and_then(Value::as_object)
            .is_none_or(|want| {
                want.iter().all(|(k, v)| {
                    have.iter()
                        .any(|(hk, hv)| hk == k && Some(*hv) == v.as_str())
                })
            })
    };
    let peer_matches = |peer: &Value| match (peer.get("ipBlock"), ns) {
        (Some(block), None) => block["cidr"] == "10.0.5.10/32",
        (Some(_), Some(_)) | (None, None) => false,
        (None, Some(ns)) => {
            let ns_ok = match peer.get("namespaceSelector") {
                Some(sel) => matches_labels(sel, &[("kubernetes.io/metadata.name", ns)]),
                None => ns == own_ns,
            };
            ns_ok
                && peer
                    .get("podSelector")
                    .is_none_or(|sel| matches_labels(sel, labels))
        }
    };
    policy["spec"][key]
        .as_array()
        .into_iter()
        .flatten()
        .any(|rule| {
            let peers = rule[peers_key].as_array().into_iter().flatten();
            let ports_ok = rule
                .get("ports")
                .and_then(Value::as_array)
                .is_none_or(|ps| {
                    ps.iter()
                        .any(|p| p["port"] == json!(port) && p["protocol"] == json!(protocol))
                });
            ports_ok && peers.clone().any(peer_matches)
        })
}

#[test]
fn every_part_is_there_by_default_valid_and_meaning_what_it_says() {
    let objects = podinfo(json!({}), json!({}));
    let ns = one(&objects, "Namespace");
    assert_eq!(ns["metadata"]["name"], "shop");
    valid_as::<k8s_openapi::api::core::v1::Namespace>(ns);
    let quota = one(&objects, "ResourceQuota");
    assert_eq!(quota["metadata"]["namespace"], "shop");
    assert_eq!(
        quota["spec"]["hard"],
        json!({"limits.cpu": "8", "limits.memory": "16Gi", "pods": "50", "requests.cpu": "4", "requests.memory": "8Gi"})
    );
    valid_as::<k8s_openapi::api::core::v1::ResourceQuota>(quota);
    let limits = one(&objects, "LimitRange");
    assert_eq!(
        limits["spec"]["limits"][0],
        json!({"type": "Container", "default": {"cpu": "500m", "memory": "512Mi"}, "defaultRequest": {"cpu": "100m", "memory": "128Mi"}})
    );
    valid_as::<k8s_openapi::api::core::v1::LimitRange>(limits);
    let policy = one(&objects, "NetworkPolicy");
    valid_as::<k8s_openapi::api::networking::v1::NetworkPolicy>(policy);
    assert!(
        of_kind(&objects, "PodDisruptionBudget").is_empty(),
        "none declared"
    );

    // What the policy means.
    let shop = Some("shop");
    // Inside the ShopSet, both ways.
    assert!(allows(
        policy,
        "shop",
        true,
        shop,
        &[("app", "x")],
        9898,
        "TCP"
    ));
    assert!(allows(policy, "shop", false, shop, &[], 6379, "TCP"));
    // From the edge router (its default namespace), not from another ShopSet or elsewhere.
    assert!(allows(
        policy,
        "shop",
        true,
        Some("shopset-edge"),
        &[],
        9898,
        "TCP"
    ));
    assert!(!allows(
        policy,
        "shop",
        true,
        Some("other-shop"),
        &[],
        9898,
        "TCP"
    ));
    assert!(!allows(policy, "shop", true, None, &[], 9898, "TCP"));
    // To the cluster's DNS only on port 53, and nothing else outside.
    let dns = [("k8s-app", "kube-dns")];
    assert!(allows(
        policy,
        "shop",
        false,
        Some("kube-system"),
        &dns,
        53,
        "UDP"
    ));
    assert!(allows(
        policy,
        "shop",
        false,
        Some("kube-system"),
        &dns,
        53,
        "TCP"
    ));
    assert!(!allows(
        policy,
        "shop",
        false,
        Some("kube-system"),
        &dns,
        443,
        "TCP"
    ));
    assert!(!allows(
        policy,
        "shop",
        false,
        Some("kube-system"),
        &[],
        53,
        "UDP"
    ));
    assert!(!allows(
        policy,
        "shop",
        false,
        Some("other-shop"),
        &[],
        8080,
        "TCP"
    ));
    assert!(!allows(policy, "shop", false, None, &[], 5432, "TCP"));

    // The Application does not ask Argo CD to create the namespace it renders.
    let objects_app = podinfo_application(json!({}));
    assert!(
        objects_app
            .pointer("/spec/syncPolicy/syncOptions")
            .is_none(),
        "{objects_app:#}"
    );
}

/// The inputs of a tier `tier-0` with one ShopSet `shop` whose configuration is `config`.
fn one_shop_set(config: Value) -> shopset_render::TierInputs {
    fn spec<T: serde::de::DeserializeOwned>(v: Value) -> T {
        serde_json::from_value(v).unwrap()
    }
    let mut inputs = shopset_render::TierInputs::new(
        "tier-0".into(),
        spec(json!({"app": {"url": "/nowhere.git", "path": "kustomize"},
                    "system": {"url": "/nowhere-system.git"}})),
        "0".repeat(40),
    );
    inputs.configurations.insert(
        "plan".into(),
        shopset_render::inputs::ResolvedConfiguration {
            source: None,
            document: spec(config),
        },
    );
    inputs.failure_domains.insert(
        "zone-a".into(),
        spec(json!({"destination": {"name": "cluster-a"}})),
    );
    inputs.shop_sets.insert(
        "shop".into(),
        shopset_render::inputs::PlacedShopSet::new(
            "zone-a".into(),
            spec(json!({"tier": "tier-0", "configuration": "plan"})),
        )
        .into(),
    );
    inputs
}

/// The Application of the ShopSet `shop` when its configuration is `config`.
fn podinfo_application(config: Value) -> Value {
    let files = shopset_render::render_shopset(&one_shop_set(config), "shop").expect("renders");
    let (_, app) = files
        .iter()
        .find(|(p, _)| p == &shopset_render::layout::application_file("shop"))
        .expect("the Application");
    shopset_render::yaml::parse(&String::from_utf8_lossy(app)).unwrap()
}

#[test]
fn the_layers_size_it_and_switch_each_part_off() {
    let config = json!({"isolation": {
        "quota": {"hard": {"requests.cpu": "2", "pods": null}},
        "limits": {"default": {"memory": "1Gi"}, "max": {"cpu": "2"}},
        "network": {"edgeNamespace": "router", "services": {
            "db": {"cidr": "10.0.5.10/32", "ports": ["5432/TCP"]},
        }},
        // podinfo's pods are labelled `app: podinfo`, not by the default selector's label.
        "disruptionBudgets": {"podinfo": {"minAvailable": "1", "selector": {"app": "podinfo"}}},
    }});
    let objects = podinfo(config.clone(), json!({}));
    let quota = one(&objects, "ResourceQuota");
    assert_eq!(quota["spec"]["hard"]["requests.cpu"], "2");
    assert!(quota["spec"]["hard"].get("pods").is_none(), "{quota}");
    let limits = one(&objects, "LimitRange");
    assert_eq!(limits["spec"]["limits"][0]["default"]["memory"], "1Gi");
    assert_eq!(limits["spec"]["limits"][0]["default"]["cpu"], "500m");
    assert_eq!(limits["spec"]["limits"][0]["max"]["cpu"], "2");
    let policy = one(&objects, "NetworkPolicy");
    assert!(allows(
        policy,
        "shop",
        true,
        Some("router"),
        &[],
        9898,
        "TCP"
    ));
    assert!(!allows(
        policy,
        "shop",
        true,
        Some("shopset-edge"),
        &[],
        9898,
        "TCP"
    ));
    assert!(
        allows(policy, "shop", false, None, &[], 5432, "TCP"),
        "the database"
    );
    assert!(!allows(policy, "shop", false, None, &[], 5433, "TCP"));
    let pdb = one(&objects, "PodDisruptionBudget");
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    assert_eq!(
        pdb["spec"]["selector"]["matchLabels"],
        json!({"app": "podinfo"})
    );
    valid_as::<k8s_openapi::api::policy::v1::PodDisruptionBudget>(pdb);
    // The PDB selects the workload's pods as Kustomize built them.
    let deployment = one(&objects, "Deployment");
    let pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        .as_object()
        .unwrap();
    for (k, v) in pdb["spec"]["selector"]["matchLabels"].as_object().unwrap() {
        assert_eq!(pod_labels.get(k), Some(v), "{k}");
    }

    // The ShopSet's overrides switch every part off.
    let off = json!({"isolation": {
        "namespace": false, "quota": {"enabled": false}, "limits": {"enabled": false},
        "network": {"enabled": false}, "disruptionBudgets": {"podinfo": null},
    }});
    let objects = podinfo(config, off.clone());
    for kind in [
        "Namespace",
        "ResourceQuota",
        "LimitRange",
        "NetworkPolicy",
        "PodDisruptionBudget",
    ] {
        assert!(of_kind(&objects, kind).is_empty(), "{kind} switched off");
    }
    let app = podinfo_application(off);
    assert_eq!(
        app.pointer("/spec/syncPolicy/syncOptions/0"),
        Some(&json!("CreateNamespace=true")),
        "without a rendered Namespace, Argo CD creates it: {app:#}"
    );
}

#[test]
fn a_patch_that_leaves_the_namespace_is_refused_with_its_field() {
    for (patch, field) in [
        (
            json!({"target": {"kind": "Deployment", "name": "podinfo"},
                   "patch": "- op: replace\n  path: /metadata/namespace\n  value: kube-system\n"}),
            "patches.escape.patch[0].path",
        ),
        (
            json!({"patch": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: podinfo\n  namespace: kube-system\n"}),
            "patches.escape.patch.metadata.namespace",
        ),
        (
            json!({"target": {"kind": "ClusterRole"},
                   "patch": "- op: add\n  path: /rules/-\n  value: {apiGroups: ['*'], resources: ['*'], verbs: ['*']}\n"}),
            "patches.escape.target.kind",
        ),
        (
            json!({"patch": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels: {x: y}\n"}),
            "patches.escape.patch.kind",
        ),
    ] {
        let inputs = one_shop_set(json!({"patches": {"escape": patch}}));
        let err = shopset_render::render_shopset(&inputs, "shop").expect_err("refused");
        let text = err.to_string();
        assert!(text.contains(field), "{field}: {text}");
    }
}
