//! How a ShopSet's workloads are released and kept fresh (`shopset_crds::delivery`): canary
//! releases with Argo Rollouts and scheduled restarts, as objects and patches of its overlay.
//!
//! A Deployment released by canary gets a Rollout of the same name that takes its pods from it
//! (`workloadRef`, `scaleDown: onsuccess`), with both label sets on every step
//! (argo-rollouts#2916), analysis arguments naming the ShopSet, tier and failure domain, and
//! its HorizontalPodAutoscaler retargeted to the Rollout. The Application then ignores the
//! Deployment's replica count, which the Rollout scales to zero ([`ignored_replicas`]).
//! Leaving canary takes two commits (argo-rollouts#3855: a Deployment left at zero replicas
//! when its Rollout goes): while the workload is *leaving* (recorded by the engine in
//! [`crate::inputs::PlacedShopSet::rollouts_leaving`]), its Rollout stays with `scaleDown:
//! never` and the Application no longer ignores the Deployment's replicas, so Argo CD scales it
//! back up; the Rollout goes in the commit after Argo CD reported that Healthy.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};
use shopset_crds::delivery::{
    CanaryStep, DEFAULT_RESTART_IMAGE, ProgressiveDelivery, Restart, TRACK_LABEL, TemplateRef,
};
use shopset_crds::{ConfigBody, ConfigLayer, names};

use crate::error::RenderError;

/// Argo Rollouts' Kustomize configuration, as the overlay needs it (`assets/argo-rollouts`).
pub const KUSTOMIZE_CONFIG: &str = include_str!("../assets/argo-rollouts/kustomize-config.yaml");

/// Where an overlay that renders a Rollout keeps [`KUSTOMIZE_CONFIG`].
pub const KUSTOMIZE_CONFIG_FILE: &str = "rollouts/kustomize-config.yaml";

/// The analysis arguments every Rollout passes, so that a query selects this ShopSet's canary.
pub const ANALYSIS_ARGS: [&str; 3] = ["shopset", "tier", "failure-domain"];

/// The ServiceAccount, Role, RoleBinding and NetworkPolicy of the scheduled restarts.
pub const RESTART_NAME: &str = "shopset-restart";

/// The label on the pods of a scheduled restart (its value: the workload).
pub const RESTART_LABEL: &str = "shopset.dev/restart";

const ROLLOUTS_API: &str = "argoproj.io/v1alpha1";

/// The Deployments the settings release by canary, in name order.
#[must_use]
pub fn progressive(settings: &ConfigBody) -> BTreeSet<String> {
    settings
        .progressive_delivery
        .as_ref()
        .map(|p| {
            p.workloads
                .iter()
                .filter(|(_, w)| w.is_some())
                .map(|(name, _)| name.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// Whether any of the layers declares progressive delivery (cheap: nothing is merged), so
/// that a ShopSet none of whose layers does costs nothing more per sync.
#[must_use]
pub fn mentioned(layers: &[&ConfigLayer]) -> bool {
    layers.iter().any(|l| {
        l.body.progressive_delivery.is_some()
            || l.maintenance
                .as_ref()
                .is_some_and(|m| m.progressive_delivery.is_some())
    })
}

/// Which replica counts the ShopSet's Application leaves to others, as (group, kind, name):
/// the Deployment of each workload released by canary (its Rollout scales it to zero), and
/// the Rollout of each whose HorizontalPodAutoscaler was retargeted.
#[must_use]
pub fn ignored_replicas(
    settings: &ConfigBody,
    leaving: &BTreeSet<String>,
) -> Vec<(&'static str, &'static str, String)> {
    let mut out = Vec::new();
    let Some(p) = &settings.progressive_delivery else {
        return out;
    };
    for (name, w) in &p.workloads {
        let Some(w) = w else { continue };
        if leaving.contains(name) {
            continue;
        }
        out.push(("apps", "Deployment", name.clone()));
        if w.hpa.is_some() {
            out.push(("argoproj.io", "Rollout", name.clone()));
        }
    }
    out
}

/// What the overlay adds for delivery: objects (path relative to the overlay, object), JSON
/// 6902 patches (path, target, operations), and whether it needs [`KUSTOMIZE_CONFIG`].
#[derive(Debug, Default)]
pub(crate) struct Delivery {
    pub objects: Vec<(String, Value)>,
    pub patches: Vec<(String, Value, Value)>,
    pub rollouts: bool,
}

/// Where the ShopSet runs, for the analysis arguments.
pub(crate) struct Place<'a> {
    pub shopset: &'a str,
    pub tier: &'a str,
    pub failure_domain: &'a str,
    /// Whether the isolation renders the default-deny NetworkPolicy (restarts then get their
    /// own egress to the API server).
    pub network_isolated: bool,
}

fn refuse(shopset: &str, field: impl Into<String>, message: impl Into<String>) -> RenderError {
    RenderError::shopset(shopset, field, message)
}

/// `Ok` when `ok`, else the refusal of `field` with `message`.
fn ensure(
    ok: bool,
    shopset: &str,
    field: &str,
    message: impl FnOnce() -> String,
) -> Result<(), RenderError> {
    if ok {
        Ok(())
    } else {
        Err(refuse(shopset, field, message()))
    }
}

/// `10s`, `5m`, `1h` or a number of seconds, as Argo Rollouts reads a pause.
fn check_duration(shopset: &str, field: &str, text: &str) -> Result<(), RenderError> {
    let digits = text.trim_end_matches(['s', 'm', 'h']);
    let ok = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && text.len() - digits.len() <= 1;
    ensure(ok, shopset, field, || {
        format!("expected a duration as 30s, 10m or 1h, got {text:?}")
    })
}

fn template_refs(
    shopset: &str,
    field: &str,
    refs: &[TemplateRef],
) -> Result<Vec<Value>, RenderError> {
    if refs.is_empty() {
        return Err(refuse(shopset, field, "expected at least one template"));
    }
    refs.iter()
        .enumerate()
        .map(|(i, r)| {
            names::dns_label(&r.template_name)
                .map_err(|m| refuse(shopset, format!("{field}[{i}].templateName"), m))?;
            let mut out = json!({ "templateName": r.template_name });
            if r.cluster_scope == Some(true) {
                out["clusterScope"] = json!(true);
            }
            Ok(out)
        })
        .collect()
}

fn analysis_args(place: &Place<'_>) -> Value {
    let values = [place.shopset, place.tier, place.failure_domain];
    Value::Array(
        ANALYSIS_ARGS
            .iter()
            .zip(values)
            .map(|(name, value)| json!({ "name": name, "value": value }))
            .collect(),
    )
}

fn step(place: &Place<'_>, i: usize, s: &CanaryStep) -> Result<Value, RenderError> {
    let field = format!("progressiveDelivery.steps[{i}]");
    let set = [
        s.set_weight.is_some(),
        s.pause.is_some(),
        s.analysis.is_some(),
    ];
    if set.iter().filter(|x| **x).count() != 1 {
        return Err(refuse(
            place.shopset,
            field,
            "expected exactly one of setWeight, pause and analysis",
        ));
    }
    if let Some(weight) = s.set_weight {
        if !(0..=100).contains(&weight) {
            return Err(refuse(
                place.shopset,
                format!("{field}.setWeight"),
                format!("expected a percentage from 0 to 100, got {weight}"),
            ));
        }
        return Ok(json!({ "setWeight": weight }));
    }
    if let Some(pause) = &s.pause {
        return Ok(match &pause.duration {
            Some(d) => {
                check_duration(place.shopset, &format!("{field}.pause.duration"), d)?;
                json!({ "pause": { "duration": d } })
            }
            None => json!({ "pause": {} }),
        });
    }
    let analysis = s.analysis.as_ref().expect("one of the three is set");
    let templates = template_refs(
        place.shopset,
        &format!("{field}.analysis.templates"),
        &analysis.templates,
    )?;
    Ok(json!({ "analysis": { "templates": templates, "args": analysis_args(place) } }))
}

type Labels = BTreeMap<String, String>;

/// The canary and stable labels: the defaults, then the layers' entries. Both sets carry the
/// same keys, so no label disappears when a pod changes role (argo-rollouts#2916).
fn track_labels(shopset: &str, p: &ProgressiveDelivery) -> Result<(Labels, Labels), RenderError> {
    let merged = |layer: &BTreeMap<String, Option<String>>, default: &str| {
        let mut out = BTreeMap::from([(TRACK_LABEL.to_owned(), Some(default.to_owned()))]);
        out.extend(layer.iter().map(|(k, v)| (k.clone(), v.clone())));
        out.into_iter()
            .filter_map(|(k, v)| Some((k, v?)))
            .collect::<BTreeMap<_, _>>()
    };
    let canary = merged(&p.canary_labels, "canary");
    let stable = merged(&p.stable_labels, "stable");
    if canary.keys().ne(stable.keys()) {
        return Err(refuse(
            shopset,
            "progressiveDelivery.stableLabels",
            format!(
                "expected the same label keys as canaryLabels ([{}]), so that no label is lost \
                 when a pod changes role (argo-rollouts#2916); got [{}]",
                canary.keys().cloned().collect::<Vec<_>>().join(", "),
                stable.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    for (which, labels) in [("canaryLabels", &canary), ("stableLabels", &stable)] {
        for (k, v) in labels {
            if !label_ok(k, true) || !label_ok(v, false) {
                return Err(refuse(
                    shopset,
                    format!("progressiveDelivery.{which}.{k}"),
                    format!(
                        "expected a Kubernetes label (a key of at most 63 characters after an \
                         optional prefix/, a value of at most 63 characters of letters, digits, \
                         '-', '_' and '.'), got {k:?}: {v:?}"
                    ),
                ));
            }
        }
    }
    Ok((canary, stable))
}

/// A label key (`key` true: an optional `prefix/`, then a name) or value, as Kubernetes reads
/// them: at most 63 characters of letters, digits, `-`, `_` and `.`, starting and ending with a
/// letter or digit (a value may be empty).
fn label_ok(text: &str, key: bool) -> bool {
    let name = if key {
        match text.rsplit_once('/') {
            Some((prefix, name)) if !prefix.is_empty() && prefix.len() <= 253 => {
                if prefix.split('.').any(|l| names::dns_label(l).is_err()) {
                    return false;
                }
                name
            }
            Some(_) => return false,
            None => text,
        }
    } else {
        text
    };
    let b = name.as_bytes();
    if name.is_empty() {
        return !key;
    }
    name.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

/// One AnalysisTemplate of `analysisTemplates`, with the ShopSet's arguments declared.
fn analysis_template(shopset: &str, name: &str, spec: &Value) -> Result<Value, RenderError> {
    let field = format!("progressiveDelivery.analysisTemplates.{name}");
    names::dns_label(name).map_err(|m| refuse(shopset, &field, m))?;
    let Value::Object(spec) = spec else {
        return Err(refuse(
            shopset,
            field,
            "expected the AnalysisTemplate's spec (an object with metrics)",
        ));
    };
    if !spec.get("metrics").is_some_and(Value::is_array) {
        return Err(refuse(
            shopset,
            format!("{field}.metrics"),
            "expected a list of metrics",
        ));
    }
    let mut spec = spec.clone();
    let args = spec.entry("args").or_insert_with(|| json!([]));
    let Value::Array(args) = args else {
        return Err(refuse(
            shopset,
            format!("{field}.args"),
            "expected a list of {name, value} arguments",
        ));
    };
    for arg in ANALYSIS_ARGS {
        if !args.iter().any(|a| a.get("name") == Some(&json!(arg))) {
            args.push(json!({ "name": arg }));
        }
    }
    Ok(json!({
        "apiVersion": ROLLOUTS_API,
        "kind": "AnalysisTemplate",
        "metadata": { "name": name },
        "spec": Value::Object(spec),
    }))
}

/// The Rollouts (and what they need) of the workloads released by canary or leaving it.
fn rollouts(
    place: &Place<'_>,
    settings: &ConfigBody,
    leaving: &BTreeSet<String>,
    out: &mut Delivery,
) -> Result<(), RenderError> {
    let shopset = place.shopset;
    let none = ProgressiveDelivery::default();
    let p = settings.progressive_delivery.as_ref().unwrap_or(&none);
    let active = progressive(settings);
    if active.is_empty() && leaving.is_empty() {
        return Ok(());
    }
    if !active.is_empty() && p.steps.is_empty() {
        return Err(refuse(
            shopset,
            "progressiveDelivery.steps",
            "expected at least one canary step (setWeight, pause or analysis)",
        ));
    }
    let steps = p
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| step(place, i, s))
        .collect::<Result<Vec<_>, _>>()?;
    let (canary, stable) = track_labels(shopset, p)?;
    let mut strategy = json!({
        "canaryMetadata": { "labels": canary },
        "stableMetadata": { "labels": stable },
        "steps": steps,
    });
    if let Some(bg) = &p.background_analysis {
        let templates = template_refs(
            shopset,
            "progressiveDelivery.backgroundAnalysis.templates",
            &bg.templates,
        )?;
        let mut analysis = json!({ "templates": templates, "args": analysis_args(place) });
        if let Some(start) = bg.starting_step {
            if usize::try_from(start).map_or(true, |s| s >= steps.len().max(1)) {
                return Err(refuse(
                    shopset,
                    "progressiveDelivery.backgroundAnalysis.startingStep",
                    format!(
                        "expected a step index from 0 to {}, got {start}",
                        steps.len().saturating_sub(1)
                    ),
                ));
            }
            analysis["startingStep"] = json!(start);
        }
        strategy["analysis"] = analysis;
    }
    if let Some(routing) = &p.traffic_routing {
        if !routing.is_object() {
            return Err(refuse(
                shopset,
                "progressiveDelivery.trafficRouting",
                "expected Argo Rollouts' trafficRouting object",
            ));
        }
        strategy["trafficRouting"] = routing.clone();
    }
    for (name, template) in &p.analysis_templates {
        if let Some(spec) = template {
            out.objects.push((
                format!("rollouts/analysis-{name}.yaml"),
                analysis_template(shopset, name, spec)?,
            ));
        }
    }
    let all: BTreeSet<&String> = active.iter().chain(leaving).collect();
    for name in all {
        let field = format!("progressiveDelivery.workloads.{name}");
        names::dns_label(name).map_err(|m| refuse(shopset, &field, m))?;
        let is_leaving = !active.contains(name);
        if !is_leaving && settings.replicas.get(name).copied().flatten().is_none() {
            return Err(refuse(
                shopset,
                format!("replicas.{name}"),
                format!(
                    "a workload released by canary needs its replica count here: the Rollout \
                     runs that many pods, and the Deployment {name} is scaled back to it when \
                     canary is switched off"
                ),
            ));
        }
        out.objects.push((
            format!("rollouts/{name}.yaml"),
            json!({
                "apiVersion": ROLLOUTS_API,
                "kind": "Rollout",
                "metadata": { "name": name },
                "spec": {
                    "workloadRef": {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "name": name,
                        "scaleDown": if is_leaving { "never" } else { "onsuccess" },
                    },
                    "strategy": { "canary": strategy.clone() },
                },
            }),
        ));
        let hpa = p
            .workloads
            .get(name)
            .and_then(Option::as_ref)
            .and_then(|w| w.hpa.as_deref());
        if let (Some(hpa), false) = (hpa, is_leaving) {
            names::dns_label(hpa).map_err(|m| refuse(shopset, format!("{field}.hpa"), m))?;
            out.patches.push((
                format!("rollouts/hpa-{hpa}.yaml"),
                json!({ "group": "autoscaling", "kind": "HorizontalPodAutoscaler", "name": hpa }),
                json!([{
                    "op": "replace",
                    "path": "/spec/scaleTargetRef",
                    "value": { "apiVersion": ROLLOUTS_API, "kind": "Rollout", "name": name },
                }]),
            ));
        }
    }
    out.rollouts = true;
    Ok(())
}

/// A cron schedule: five fields of digits and `*,-/`, or a macro (`@daily`).
fn check_schedule(shopset: &str, field: &str, text: &str) -> Result<(), RenderError> {
    let macros = [
        "@yearly",
        "@annually",
        "@monthly",
        "@weekly",
        "@daily",
        "@midnight",
        "@hourly",
    ];
    let fields: Vec<&str> = text.split_whitespace().collect();
    let ok = macros.contains(&text)
        || (fields.len() == 5
            && fields.iter().all(|f| {
                f.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'*' | b',' | b'-' | b'/'))
            }));
    ensure(ok, shopset, field, || {
        format!("expected a cron schedule of five fields (0 4 * * *), got {text:?}")
    })
}

/// A scheduled restart: its CronJob (path, object) and the resource its Role must allow
/// (resource, name).
struct RestartJob {
    object: (String, Value),
    allows: (&'static str, String),
}

/// The CronJob that restarts one workload, and the resource its Role must allow.
fn restart(place: &Place<'_>, workload: &str, r: &Restart) -> Result<RestartJob, RenderError> {
    let shopset = place.shopset;
    let field = format!("restarts.{workload}");
    names::dns_label(workload).map_err(|m| refuse(shopset, &field, m))?;
    let job = format!("restart-{workload}");
    // A CronJob's name is at most 52 characters (its Jobs add 11).
    if job.len() > 52 {
        return Err(refuse(
            shopset,
            &field,
            format!("the CronJob {job:?} would pass 52 characters: use a shorter workload name"),
        ));
    }
    check_schedule(shopset, &format!("{field}.schedule"), &r.schedule)?;
    let (resource, kind) = match r.kind.as_deref().unwrap_or("Deployment") {
        "Deployment" => ("deployments", "deployment"),
        "StatefulSet" => ("statefulsets", "statefulset"),
        "DaemonSet" => ("daemonsets", "daemonset"),
        other => {
            return Err(refuse(
                shopset,
                format!("{field}.kind"),
                format!("expected Deployment, StatefulSet or DaemonSet, got {other:?}"),
            ));
        }
    };
    let mut spec = json!({
        "schedule": r.schedule,
        "concurrencyPolicy": "Forbid",
        "startingDeadlineSeconds": 600,
        "successfulJobsHistoryLimit": 1,
        "failedJobsHistoryLimit": 3,
        "jobTemplate": { "spec": {
            "backoffLimit": 2,
            "activeDeadlineSeconds": 600,
            "template": {
                "metadata": { "labels": { RESTART_LABEL: workload } },
                "spec": {
                    "serviceAccountName": RESTART_NAME,
                    "restartPolicy": "Never",
                    "securityContext": {
                        "runAsNonRoot": true,
                        "runAsUser": 65532,
                        "seccompProfile": { "type": "RuntimeDefault" },
                    },
                    "containers": [{
                        "name": "kubectl",
                        "image": r.image.as_deref().unwrap_or(DEFAULT_RESTART_IMAGE),
                        "command": ["kubectl", "rollout", "restart", format!("{kind}/{workload}")],
                        "env": [{ "name": "HOME", "value": "/tmp" }],
                        "securityContext": {
                            "allowPrivilegeEscalation": false,
                            "readOnlyRootFilesystem": true,
                            "capabilities": { "drop": ["ALL"] },
                        },
                        "volumeMounts": [{ "name": "tmp", "mountPath": "/tmp" }],
                    }],
                    "volumes": [{ "name": "tmp", "emptyDir": {} }],
                },
            },
        } },
    });
    if let Some(zone) = &r.time_zone {
        let ok = zone == "UTC"
            || (zone.contains('/')
                && zone
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-' | b'+')));
        if !ok {
            return Err(refuse(
                shopset,
                format!("{field}.timeZone"),
                format!("expected a time zone of the tz database (Asia/Tokyo, UTC), got {zone:?}"),
            ));
        }
        spec["timeZone"] = json!(zone);
    }
    Ok(RestartJob {
        object: (
            format!("restarts/{workload}.yaml"),
            json!({
                "apiVersion": "batch/v1",
                "kind": "CronJob",
                "metadata": { "name": job },
                "spec": spec,
            }),
        ),
        allows: (resource, workload.to_owned()),
    })
}

/// The scheduled restarts: a CronJob each, and one ServiceAccount whose Role may get and patch
/// exactly the workloads declared, in the ShopSet's namespace only.
fn restarts(
    place: &Place<'_>,
    settings: &ConfigBody,
    out: &mut Delivery,
) -> Result<(), RenderError> {
    let mut allowed: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (workload, r) in &settings.restarts {
        let Some(r) = r else { continue };
        let job = restart(place, workload, r)?;
        out.objects.push(job.object);
        let (resource, name) = job.allows;
        allowed.entry(resource).or_default().push(name);
    }
    if allowed.is_empty() {
        return Ok(());
    }
    let rules: Vec<Value> = allowed
        .iter()
        .map(|(resource, names)| {
            json!({
                "apiGroups": ["apps"],
                "resources": [resource],
                "resourceNames": names,
                "verbs": ["get", "patch"],
            })
        })
        .collect();
    out.objects.push((
        "restarts/service-account.yaml".into(),
        json!({
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": { "name": RESTART_NAME },
        }),
    ));
    out.objects.push((
        "restarts/role.yaml".into(),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": { "name": RESTART_NAME },
            "rules": rules,
        }),
    ));
    out.objects.push((
        "restarts/role-binding.yaml".into(),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": { "name": RESTART_NAME },
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": RESTART_NAME,
            },
            "subjects": [{ "kind": "ServiceAccount", "name": RESTART_NAME }],
        }),
    ));
    if place.network_isolated {
        // The API server's address differs from cluster to cluster: its ports, from these pods
        // only.
        out.objects.push((
            "restarts/network-policy.yaml".into(),
            json!({
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": { "name": RESTART_NAME },
                "spec": {
                    "podSelector": {
                        "matchExpressions": [{ "key": RESTART_LABEL, "operator": "Exists" }],
                    },
                    "policyTypes": ["Egress"],
                    "egress": [{ "ports": [
                        { "port": 443, "protocol": "TCP" },
                        { "port": 6443, "protocol": "TCP" },
                    ] }],
                },
            }),
        ));
    }
    Ok(())
}

/// The delivery objects and patches of one ShopSet side's overlay.
///
/// # Errors
/// A setting that would make an invalid object, naming its field.
pub(crate) fn render(
    place: &Place<'_>,
    settings: &ConfigBody,
    leaving: &BTreeSet<String>,
) -> Result<Delivery, RenderError> {
    let mut out = Delivery::default();
    rollouts(place, settings, leaving, &mut out)?;
    restarts(place, settings, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings(value: Value) -> ConfigBody {
        serde_json::from_value(value).expect("a configuration")
    }

    const PLACE: Place<'static> = Place {
        shopset: "s",
        tier: "tier-0",
        failure_domain: "fd",
        network_isolated: true,
    };

    fn field_of(value: Value) -> String {
        match render(&PLACE, &settings(value), &BTreeSet::new()) {
            Err(RenderError::ShopSet { field, .. }) => field,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    fn canary(extra: Value) -> Value {
        let mut p = json!({"workloads": {"web": {}}, "steps": [{"setWeight": 10}]});
        json_patch::merge(&mut p, &extra);
        json!({"replicas": {"web": 2}, "progressiveDelivery": p})
    }

    #[test]
    fn bad_settings_are_refused_with_their_field() {
        let cases = [
            (
                json!({"progressiveDelivery": {"workloads": {"web": {}}, "steps": [{"setWeight": 10}]}}),
                "replicas.web",
            ),
            (canary(json!({"steps": []})), "progressiveDelivery.steps"),
            (
                canary(json!({"steps": [{"setWeight": 10, "pause": {}}]})),
                "progressiveDelivery.steps[0]",
            ),
            (
                canary(json!({"steps": [{"setWeight": 120}]})),
                "progressiveDelivery.steps[0].setWeight",
            ),
            (
                canary(json!({"steps": [{"pause": {"duration": "ten minutes"}}]})),
                "progressiveDelivery.steps[0].pause.duration",
            ),
            (
                canary(json!({"steps": [{"analysis": {"templates": []}}]})),
                "progressiveDelivery.steps[0].analysis.templates",
            ),
            (
                canary(json!({"stableLabels": {"team": "web"}})),
                "progressiveDelivery.stableLabels",
            ),
            (
                canary(
                    json!({"canaryLabels": {"bad key!": "x"}, "stableLabels": {"bad key!": "y"}}),
                ),
                "progressiveDelivery.canaryLabels.bad key!",
            ),
            (
                canary(
                    json!({"backgroundAnalysis": {"templates": [{"templateName": "t"}],
                                                     "startingStep": 3}}),
                ),
                "progressiveDelivery.backgroundAnalysis.startingStep",
            ),
            (
                canary(json!({"analysisTemplates": {"t": {"args": []}}})),
                "progressiveDelivery.analysisTemplates.t.metrics",
            ),
            (
                canary(json!({"trafficRouting": "nginx"})),
                "progressiveDelivery.trafficRouting",
            ),
            (
                canary(json!({"workloads": {"Web_1": {}}})),
                "progressiveDelivery.workloads.Web_1",
            ),
            (
                json!({"restarts": {"web": {"schedule": "every day at 4"}}}),
                "restarts.web.schedule",
            ),
            (
                json!({"restarts": {"web": {"schedule": "0 4 * * *", "kind": "Job"}}}),
                "restarts.web.kind",
            ),
            (
                json!({"restarts": {"web": {"schedule": "0 4 * * *", "timeZone": "Tokyo time"}}}),
                "restarts.web.timeZone",
            ),
            (
                json!({"restarts": {"a-workload-name-long-enough-to-pass-the-cronjob-limit": {
                    "schedule": "@daily"}}}),
                "restarts.a-workload-name-long-enough-to-pass-the-cronjob-limit",
            ),
        ];
        for (value, field) in cases {
            assert_eq!(field_of(value.clone()), field, "{value}");
        }
    }

    #[test]
    fn nothing_is_rendered_unless_declared_and_a_null_removes_a_workload() {
        let none = render(&PLACE, &ConfigBody::default(), &BTreeSet::new()).unwrap();
        assert!(none.objects.is_empty() && none.patches.is_empty() && !none.rollouts);
        let removed = settings(canary(json!({"workloads": {"web": null}})));
        assert!(progressive(&removed).is_empty());
        let out = render(&PLACE, &removed, &BTreeSet::new()).unwrap();
        assert!(out.objects.is_empty() && !out.rollouts);
        assert!(ignored_replicas(&removed, &BTreeSet::new()).is_empty());
    }

    #[test]
    fn a_leaving_workload_keeps_a_rollout_that_scales_nothing_down_and_its_replicas_are_watched() {
        let on = settings(canary(
            json!({"workloads": {"web": {"hpa": "web"}, "api": {}}}),
        ));
        let mut on = on;
        on.replicas.insert("api".into(), Some(1));
        let leaving = BTreeSet::from(["old".to_owned()]);
        let out = render(&PLACE, &on, &leaving).unwrap();
        let scale_down: BTreeMap<&str, &str> = out
            .objects
            .iter()
            .filter(|(_, o)| o["kind"] == "Rollout")
            .map(|(_, o)| {
                (
                    o["metadata"]["name"].as_str().unwrap(),
                    o["spec"]["workloadRef"]["scaleDown"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            scale_down,
            BTreeMap::from([("api", "onsuccess"), ("old", "never"), ("web", "onsuccess")])
        );
        assert_eq!(out.patches.len(), 1, "only web's HPA is retargeted");
        assert_eq!(
            ignored_replicas(&on, &leaving),
            vec![
                ("apps", "Deployment", "api".to_owned()),
                ("apps", "Deployment", "web".to_owned()),
                ("argoproj.io", "Rollout", "web".to_owned()),
            ]
        );
        // Once leaving, a workload's counts are Argo CD's again.
        let web_leaving = BTreeSet::from(["web".to_owned()]);
        assert_eq!(
            ignored_replicas(&on, &web_leaving),
            vec![("apps", "Deployment", "api".to_owned())]
        );
    }

    #[test]
    fn restarts_share_one_role_limited_to_the_declared_workloads() {
        let s = settings(json!({"restarts": {
            "web": {"schedule": "0 4 * * *"},
            "db": {"schedule": "30 3 * * 0", "kind": "StatefulSet"},
            "gone": null,
        }}));
        let out = render(&PLACE, &s, &BTreeSet::new()).unwrap();
        let role = &out
            .objects
            .iter()
            .find(|(p, _)| p == "restarts/role.yaml")
            .unwrap()
            .1;
        assert_eq!(
            role["rules"],
            json!([
                {"apiGroups": ["apps"], "resources": ["deployments"], "resourceNames": ["web"],
                 "verbs": ["get", "patch"]},
                {"apiGroups": ["apps"], "resources": ["statefulsets"], "resourceNames": ["db"],
                 "verbs": ["get", "patch"]},
            ])
        );
        let paths: Vec<&str> = out.objects.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "restarts/db.yaml",
                "restarts/web.yaml",
                "restarts/service-account.yaml",
                "restarts/role.yaml",
                "restarts/role-binding.yaml",
                "restarts/network-policy.yaml",
            ]
        );
        let open = Place {
            network_isolated: false,
            ..PLACE
        };
        let out = render(&open, &s, &BTreeSet::new()).unwrap();
        assert!(
            !out.objects
                .iter()
                .any(|(p, _)| p == "restarts/network-policy.yaml")
        );
    }
}
