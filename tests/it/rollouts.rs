//! Canary releases with Argo Rollouts and scheduled restarts (issue 14, points 4 and 5), with
//! real Kustomize on the podinfo fixture behind a `namePrefix` (so names change on the way):
//! the Rollout takes its pods from the Deployment as Kustomize built it, `images:` and an `env`
//! patch reach the Deployment (the patch merges), the HPA targets the Rollout, both label sets
//! are there, analysis arguments name the ShopSet; every Rollout and AnalysisTemplate
//! validates against Argo Rollouts' real CRDs, and the Application against Argo CD's. Why the
//! overlay carries only part of Argo Rollouts' Kustomize configuration and not its OpenAPI
//! schema is shown by building with them. Leaving canary takes two commits, the second only
//! once Argo CD reports the first applied and Healthy.

use std::path::Path;

use serde_json::{Value, json};
use shopset_tests::{clone_branch, fixtures, kustomize, of_kind, ok, run_shopctl, tip};

use crate::argo_schema::{crd_validator, errors};
use crate::isolation::valid_as;
use crate::kustomize::{Case, sync_case};

/// podinfo's Kustomize base with `namePrefix: shop-`.
fn prefixed_podinfo(dir: &Path) {
    let from = fixtures().join("apps/podinfo/kustomize");
    let to = dir.join("kustomize");
    std::fs::create_dir_all(&to).unwrap();
    for file in ["deployment.yaml", "hpa.yaml", "service.yaml"] {
        std::fs::copy(from.join(file), to.join(file)).unwrap();
    }
    std::fs::write(
        to.join("kustomization.yaml"),
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamePrefix: shop-\n\
         resources: [hpa.yaml, deployment.yaml, service.yaml]\n",
    )
    .unwrap();
}

fn canary(workloads: Value) -> Value {
    json!({
        "workloads": workloads,
        "steps": [
            {"setWeight": 20},
            {"pause": {"duration": "10m"}},
            {"analysis": {"templates": [{"templateName": "error-rate"}]}},
            {"setWeight": 50},
            {"pause": {}},
        ],
        "backgroundAnalysis": {"templates": [{"templateName": "latency", "clusterScope": true}],
                               "startingStep": 1},
        "analysisTemplates": {"error-rate": {"metrics": [{
            "name": "errors",
            "interval": "1m",
            "failureLimit": 1,
            "successCondition": "result[0] < 0.01",
            "provider": {"prometheus": {
                "address": "http://prometheus.monitoring:9090",
                "query": "sum(rate(http_errors{shopset=\"{{args.shopset}}\",track=\"canary\"}[1m]))",
            }},
        }]}},
    })
}

fn config() -> Value {
    json!({
        "replicas": {"shop-podinfo": 3},
        "images": {"ghcr.io/stefanprodan/podinfo": {"newTag": "6.15.0"}},
        "patches": {"extra-env": {
            "target": {"kind": "Deployment", "name": "shop-podinfo"},
            "patch": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: shop-podinfo\n\
                      spec:\n  template:\n    spec:\n      containers:\n      - name: podinfod\n\
                      \x20       env:\n        - name: SHOP_MODE\n          value: canary-test\n",
        }},
        "progressiveDelivery": canary(json!({"shop-podinfo": {"hpa": "shop-podinfo"}})),
        "restarts": {"shop-podinfo": {"schedule": "0 4 * * *", "timeZone": "Asia/Tokyo"}},
    })
}

/// The ShopSet `shop` with [`config`] on the prefixed podinfo base, synced, and a clone of its
/// branch: (what holds it all, the clone).
fn synced() -> ((tempfile::TempDir, tempfile::TempDir), std::path::PathBuf) {
    let app = tempfile::tempdir().unwrap();
    prefixed_podinfo(app.path());
    let (tmp, clone) = sync_case(&Case {
        app_dir: app.path(),
        app_path: "kustomize",
        config: config(),
        overrides: json!({}),
        extra: Vec::new(),
    });
    ((app, tmp), clone)
}

fn one<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    let found = of_kind(objects, kind);
    assert_eq!(found.len(), 1, "one {kind}: {objects:#?}");
    found[0]
}

fn env_names(deployment: &Value) -> Vec<String> {
    deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .map(|env| {
            env.iter()
                .map(|e| e["name"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn overlay(clone: &Path) -> std::path::PathBuf {
    clone.join(shopset_render::layout::shopset_dir("shop"))
}

fn application(clone: &Path) -> Value {
    let path = clone.join(shopset_render::layout::side_application_file(
        "shop", "shop",
    ));
    shopset_render::yaml::parse(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn a_canary_overlay_builds_and_every_object_validates() {
    shopset_tests::require("kubectl");
    let (_tmp, clone) = synced();
    let built = kustomize(&overlay(&clone));
    let deployment = one(&built, "Deployment");
    let rollout = one(&built, "Rollout");
    // The Rollout takes its pods from the Deployment as Kustomize named it.
    assert_eq!(deployment["metadata"]["name"], "shop-podinfo");
    assert_eq!(
        rollout["spec"]["workloadRef"],
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "shop-podinfo",
               "scaleDown": "onsuccess"})
    );
    assert!(
        rollout["spec"].get("template").is_none(),
        "a Rollout with workloadRef has no template: {rollout:#}"
    );
    assert_eq!(rollout["spec"]["replicas"], 3);
    assert_eq!(deployment["spec"]["replicas"], 3);
    assert_eq!(rollout["metadata"]["namespace"], "shop");
    assert_eq!(rollout["metadata"]["labels"]["shopset.dev/shopset"], "shop");
    // images: and the env patch reach the Deployment; the patch merges into podinfo's env.
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], "ghcr.io/stefanprodan/podinfo:6.15.0");
    assert_eq!(env_names(deployment), ["SHOP_MODE", "PODINFO_UI_COLOR"]);
    // The HPA scales the Rollout.
    assert_eq!(
        one(&built, "HorizontalPodAutoscaler")["spec"]["scaleTargetRef"],
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "shop-podinfo"})
    );
    // Both label sets, with the same keys.
    let strategy = &rollout["spec"]["strategy"]["canary"];
    assert_eq!(
        strategy["canaryMetadata"],
        json!({"labels": {"shopset.dev/track": "canary"}})
    );
    assert_eq!(
        strategy["stableMetadata"],
        json!({"labels": {"shopset.dev/track": "stable"}})
    );
    // Analysis arguments name this ShopSet's canary, inline and in the background.
    let args = json!([{"name": "shopset", "value": "shop"}, {"name": "tier", "value": "tier-0"},
                      {"name": "failure-domain", "value": "zone-a"}]);
    assert_eq!(strategy["steps"][2]["analysis"]["args"], args);
    assert_eq!(
        strategy["steps"][2]["analysis"]["templates"],
        json!([{"templateName": "error-rate"}])
    );
    assert_eq!(strategy["analysis"]["args"], args);
    assert_eq!(strategy["analysis"]["startingStep"], 1);
    assert_eq!(strategy["steps"][4], json!({"pause": {}}));
    let template = one(&built, "AnalysisTemplate");
    assert_eq!(template["metadata"]["name"], "error-rate");
    let declared: Vec<&str> = template["spec"]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(declared, ["shopset", "tier", "failure-domain"]);

    // Against Argo Rollouts' own schemas, unknown fields refused.
    for (kind, crd) in [
        ("Rollout", "argo-rollouts/crds/rollout-crd.yaml"),
        (
            "AnalysisTemplate",
            "argo-rollouts/crds/analysis-template-crd.yaml",
        ),
    ] {
        let validator = crd_validator(crd);
        let object = one(&built, kind);
        assert_eq!(errors(&validator, object), Vec::<String>::new(), "{kind}");
        let mut broken = object.clone();
        broken["spec"]["stepz"] = json!(1);
        assert!(
            !errors(&validator, &broken).is_empty(),
            "the {kind} schema refuses an unknown field"
        );
    }
    // The Application leaves the replica counts to the Rollout and the HPA, and respects that
    // when it syncs anything else.
    let app = application(&clone);
    assert_eq!(
        app["spec"]["ignoreDifferences"],
        json!([
            {"group": "apps", "kind": "Deployment", "name": "shop-podinfo",
             "jsonPointers": ["/spec/replicas"]},
            {"group": "argoproj.io", "kind": "Rollout", "name": "shop-podinfo",
             "jsonPointers": ["/spec/replicas"]},
        ])
    );
    let options = app["spec"]["syncPolicy"]["syncOptions"].as_array().unwrap();
    assert!(
        options.contains(&json!("RespectIgnoreDifferences=true")),
        "{app:#}"
    );
    assert_eq!(
        errors(&crate::argo_schema::validator(), &app),
        Vec::<String>::new()
    );

    // Scheduled restarts: a CronJob, allowed to restart exactly that Deployment, in the
    // ShopSet's namespace, and to reach the API server.
    let cron = one(&built, "CronJob");
    assert_eq!(cron["metadata"]["name"], "restart-shop-podinfo");
    assert_eq!(cron["spec"]["schedule"], "0 4 * * *");
    assert_eq!(cron["spec"]["timeZone"], "Asia/Tokyo");
    let pod = &cron["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "shopset-restart");
    assert_eq!(
        pod["containers"][0]["command"],
        json!(["kubectl", "rollout", "restart", "deployment/shop-podinfo"])
    );
    let role = one(&built, "Role");
    assert_eq!(role["metadata"]["namespace"], "shop");
    assert_eq!(
        role["rules"],
        json!([{"apiGroups": ["apps"], "resources": ["deployments"],
                "resourceNames": ["shop-podinfo"], "verbs": ["get", "patch"]}])
    );
    let binding = one(&built, "RoleBinding");
    assert_eq!(binding["roleRef"]["name"], "shopset-restart");
    assert_eq!(binding["subjects"][0]["name"], "shopset-restart");
    assert!(
        of_kind(&built, "ClusterRole").is_empty()
            && of_kind(&built, "ClusterRoleBinding").is_empty()
    );
    let policies = of_kind(&built, "NetworkPolicy");
    let restart_policy = policies
        .iter()
        .find(|p| p["metadata"]["name"] == "shopset-restart")
        .expect("the restarts' egress");
    assert_eq!(
        restart_policy["spec"]["podSelector"],
        json!({"matchExpressions": [{"key": "shopset.dev/restart", "operator": "Exists"}]})
    );
    assert_eq!(
        cron["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]["shopset.dev/restart"],
        "shop-podinfo"
    );
    use k8s_openapi::api::{
        autoscaling::v2, batch::v1 as batch, core::v1 as core, rbac::v1 as rbac,
    };
    valid_as::<batch::CronJob>(cron);
    valid_as::<rbac::Role>(role);
    valid_as::<rbac::RoleBinding>(binding);
    valid_as::<core::ServiceAccount>(one(&built, "ServiceAccount"));
    valid_as::<v2::HorizontalPodAutoscaler>(one(&built, "HorizontalPodAutoscaler"));
    valid_as::<k8s_openapi::api::networking::v1::NetworkPolicy>(restart_policy);
}

/// Why the overlay carries only part of Argo Rollouts' Kustomize configuration, and not its
/// OpenAPI schema: built with either, the overlay goes wrong.
#[test]
fn the_whole_upstream_configuration_or_its_schema_would_break_the_overlay() {
    shopset_tests::require("kubectl");
    let upstream = fixtures().join("argo-rollouts/kustomize");
    // What the overlay carries is upstream's nameReference and replicas sections, unchanged.
    let ours = shopset_render::delivery::KUSTOMIZE_CONFIG;
    let theirs =
        std::fs::read_to_string(upstream.join("rollout-transform-kustomize-v5.yaml")).unwrap();
    let section = |text: &str, from: &str, to: Option<&str>| -> String {
        let start = text.find(from).unwrap();
        let end = to.map_or(text.len(), |to| start + text[start..].find(to).unwrap());
        text[start..end].to_owned()
    };
    for (from, to) in [
        ("nameReference:", Some("# https")),
        ("replicas:\n- path: spec/replicas", None),
    ] {
        assert_eq!(
            section(ours, from, to),
            section(&theirs, from, to),
            "{from}"
        );
    }
    assert!(!ours.contains("templateLabels:") && !ours.contains("commonLabels:"));

    let (_tmp, clone) = synced();
    let dir = overlay(&clone);
    let kustomization = std::fs::read_to_string(dir.join("kustomization.yaml")).unwrap();
    // The whole file: the overlay's labels create a template on the Rollout, which Argo
    // Rollouts refuses beside workloadRef.
    std::fs::copy(
        upstream.join("rollout-transform-kustomize-v5.yaml"),
        dir.join(shopset_render::delivery::KUSTOMIZE_CONFIG_FILE),
    )
    .unwrap();
    let rollout = one(&kustomize(&dir), "Rollout").clone();
    assert!(
        rollout["spec"]["template"]["metadata"]["labels"].is_object(),
        "{rollout:#}"
    );
    std::fs::write(
        dir.join(shopset_render::delivery::KUSTOMIZE_CONFIG_FILE),
        ours,
    )
    .unwrap();
    // The schema: it replaces Kustomize's own, so the env patch replaces podinfo's container
    // instead of merging into it.
    std::fs::copy(
        upstream.join("rollout_cr_schema.json"),
        dir.join("rollout_cr_schema.json"),
    )
    .unwrap();
    std::fs::write(
        dir.join("kustomization.yaml"),
        format!("{kustomization}openapi:\n  path: rollout_cr_schema.json\n"),
    )
    .unwrap();
    let with_schema = kustomize(&dir);
    let deployment = one(&with_schema, "Deployment");
    assert_eq!(
        env_names(deployment),
        ["SHOP_MODE"],
        "the list was replaced"
    );
    assert!(
        deployment["spec"]["template"]["spec"]["containers"][0]
            .get("livenessProbe")
            .is_none()
    );
}

struct World {
    _tmp: tempfile::TempDir,
    dir: std::path::PathBuf,
}

impl World {
    fn system(&self) -> std::path::PathBuf {
        self.dir.join("system.git")
    }

    fn write(&self, progressive: bool) {
        let mut config = config();
        if !progressive {
            config
                .as_object_mut()
                .unwrap()
                .remove("progressiveDelivery");
        }
        let app = self.dir.join("app.git");
        let docs = [
            json!({"apiVersion": "shopset.dev/v1alpha1", "kind": "Tier", "metadata": {"name": "tier-0"},
                   "spec": {"app": {"url": app.display().to_string(), "path": "kustomize"},
                            "system": {"url": self.system().display().to_string()}}}),
            json!({"apiVersion": "shopset.dev/v1alpha1", "kind": "Configuration", "metadata": {"name": "plan"},
                   "spec": {"inline": config}}),
            json!({"apiVersion": "shopset.dev/v1alpha1", "kind": "FailureDomain", "metadata": {"name": "zone-a"},
                   "spec": {"destination": {"name": "cluster-a"}}}),
            json!({"apiVersion": "shopset.dev/v1alpha1", "kind": "ShopSet", "metadata": {"name": "shop"},
                   "spec": {"tier": "tier-0", "configuration": "plan"}}),
        ];
        let text: Vec<String> = docs.iter().map(shopset_render::yaml::to_string).collect();
        std::fs::write(self.dir.join("resources/shopset.yaml"), text.join("---\n")).unwrap();
    }

    /// Argo CD reports the ShopSet's Application Synced at the tip, with `health`.
    fn argo(&self, health: &str) {
        let at = tip(&self.system(), "tier-0").unwrap();
        std::fs::write(
            self.dir.join("resources/argocd.yaml"),
            format!(
                "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: shop\n  \
                 namespace: argocd\n  labels:\n    shopset.dev/shopset: shop\nstatus:\n  sync:\n    \
                 status: Synced\n    revision: {at}\n  health:\n    status: {health}\n"
            ),
        )
        .unwrap();
    }

    fn sync(&self) -> String {
        let res = self.dir.join("resources").display().to_string();
        ok(&run_shopctl(["sync", "-f", &res]))
    }

    /// The overlay at the tip, built, and the Application.
    fn tip(&self) -> (Vec<Value>, Value, shopset_render::TierInputs) {
        let clone = self
            .dir
            .join(format!("clone-{}", tip(&self.system(), "tier-0").unwrap()));
        if !clone.exists() {
            clone_branch(&self.system(), "tier-0", &clone);
        }
        let inputs = shopset_render::parse_inputs(
            &std::fs::read_to_string(clone.join(".shopset/inputs.yaml")).unwrap(),
        )
        .unwrap();
        (kustomize(&overlay(&clone)), application(&clone), inputs)
    }
}

#[test]
fn leaving_canary_takes_two_commits_the_second_once_argo_cd_reports_the_first_healthy() {
    shopset_tests::require("kubectl");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    std::fs::create_dir_all(dir.join("resources")).unwrap();
    let app_src = dir.join("app-src");
    prefixed_podinfo(&app_src);
    shopset_tests::app_repo_from_dir(&dir.join("app.git"), &app_src, &["tier-0"]);
    let w = World { _tmp: tmp, dir };
    w.write(true);
    w.sync();
    let first = tip(&w.system(), "tier-0").unwrap();
    let (built, app, _) = w.tip();
    assert_eq!(of_kind(&built, "Rollout").len(), 1);
    assert!(app["spec"].get("ignoreDifferences").is_some());

    // Canary switched off: the Rollout stays, scaling nothing down any more; Argo CD no longer
    // ignores the Deployment's replicas, so it scales it back to 3; the HPA is the
    // Deployment's again.
    w.write(false);
    w.argo("Healthy");
    w.sync();
    let second = tip(&w.system(), "tier-0").unwrap();
    assert_ne!(first, second);
    let (built, app, inputs) = w.tip();
    let rollout = one(&built, "Rollout");
    assert_eq!(rollout["spec"]["workloadRef"]["scaleDown"], "never");
    assert_eq!(one(&built, "Deployment")["spec"]["replicas"], 3);
    assert_eq!(
        one(&built, "HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]["kind"],
        "Deployment"
    );
    assert!(app["spec"].get("ignoreDifferences").is_none(), "{app:#}");
    assert_eq!(
        inputs.shop_sets["shop"].rollouts_leaving,
        ["shop-podinfo".to_owned()].into()
    );

    // Argo CD reports the tip before it (or nothing new): the Rollout stays.
    w.sync();
    assert_eq!(tip(&w.system(), "tier-0").unwrap(), second);
    w.argo("Progressing");
    w.sync();
    assert_eq!(
        tip(&w.system(), "tier-0").unwrap(),
        second,
        "not Healthy yet"
    );

    // Applied and Healthy: the Rollout goes, and the overlay no longer needs Rollouts.
    w.argo("Healthy");
    let out = w.sync();
    let third = tip(&w.system(), "tier-0").unwrap();
    assert_ne!(second, third, "{out}");
    let (built, app, inputs) = w.tip();
    assert!(of_kind(&built, "Rollout").is_empty());
    assert!(of_kind(&built, "AnalysisTemplate").is_empty());
    assert_eq!(one(&built, "Deployment")["spec"]["replicas"], 3);
    assert!(app["spec"].get("ignoreDifferences").is_none());
    assert!(inputs.shop_sets["shop"].rollouts_leaving.is_empty());
    let clone = w.dir.join(format!("clone-{third}"));
    assert!(!overlay(&clone).join("rollouts").exists());
    let kustomization =
        std::fs::read_to_string(overlay(&clone).join("kustomization.yaml")).unwrap();
    assert!(!kustomization.contains("configurations"), "{kustomization}");
    // Nothing more to do.
    w.sync();
    assert_eq!(tip(&w.system(), "tier-0").unwrap(), third);
}
