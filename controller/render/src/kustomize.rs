//! A ShopSet's Kustomize overlay: `kustomization.yaml`, one file per value (read by a
//! `configMapGenerator`, so values reach the ConfigMap byte for byte) and one file per patch.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use shopset_crds::ConfigBody;

use crate::error::RenderError;
use crate::{layout, yaml};

/// Name of the generated ConfigMap that carries `values`.
pub const VALUES_CONFIGMAP: &str = "shopset-values";

/// Name of the generated ConfigMap that lists the hosts of the ShopSet's shops (key `hosts`,
/// one host a line), for certificates or an allowed-hosts setting of the application.
pub const HOSTS_CONFIGMAP: &str = "shopset-hosts";

/// The most a ConfigMap can hold (its keys and values together): the API server refuses more.
pub const MAX_CONFIGMAP_BYTES: usize = 1024 * 1024;

/// What an overlay is made from.
pub(crate) struct Overlay<'a> {
    pub shopset: &'a str,
    /// The overlay's directory: the ShopSet's own, or a side's ([`layout::side_dir`]).
    pub dir: &'a str,
    /// A side in standby, or during a migration ([`crate::inputs::Side`]).
    pub standby: bool,
    pub deadline: Option<u32>,
    /// The Tier's edge namespace (`spec.routing.namespace`), for the NetworkPolicy.
    pub edge: Option<&'a str>,
    pub namespace: &'a str,
    pub labels: BTreeMap<&'static str, &'a str>,
    pub app_path: &'a str,
    pub settings: &'a ConfigBody,
    /// The hosts of the shops it serves or that are moving to or from it, sorted.
    pub hosts: &'a [&'a str],
    /// Where it runs, for the analysis arguments of its Rollouts.
    pub tier: &'a str,
    pub failure_domain: &'a str,
    /// Deployments leaving canary release ([`crate::delivery`]).
    pub rollouts_leaving: &'a std::collections::BTreeSet<String>,
    /// A preview scaled to zero ([`crate::inputs::PreviewOf::asleep`]).
    pub asleep: bool,
}

fn check_value_key(shopset: &str, key: &str) -> Result<(), RenderError> {
    let ok = !key.is_empty()
        && key.len() <= 253
        && key != "."
        && key != ".."
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(RenderError::shopset(
            shopset,
            format!("values.{key}"),
            "expected a ConfigMap key: 1 to 253 of letters, digits, '-', '_' and '.'",
        ))
    }
}

/// Kinds that are not namespaced, as Kubernetes and the common add-ons define them: a
/// configuration patch may not touch them (a ShopSet's patches stay in its namespace).
pub const CLUSTER_SCOPED_KINDS: [&str; 24] = [
    "APIService",
    "CSIDriver",
    "CSINode",
    "CertificateSigningRequest",
    "ClusterIssuer",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "FlowSchema",
    "IngressClass",
    "MutatingAdmissionPolicy",
    "MutatingWebhookConfiguration",
    "Namespace",
    "Node",
    "PersistentVolume",
    "PriorityClass",
    "PriorityLevelConfiguration",
    "RuntimeClass",
    "StorageClass",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "ValidatingWebhookConfiguration",
    "VolumeAttachment",
    "VolumeSnapshotClass",
];

fn cluster_scoped(kind: &str) -> bool {
    CLUSTER_SCOPED_KINDS.contains(&kind)
}

/// What a configuration patch may not do: change an object's namespace, or touch an object
/// that is not namespaced (DESIGN: a ShopSet's settings stay inside it).
fn check_patch_scope(
    shopset: &str,
    name: &str,
    value: &Value,
    target_kind: Option<&str>,
) -> Result<(), RenderError> {
    let refuse = |field: String, message: &str| Err(RenderError::shopset(shopset, field, message));
    if let Some(kind) = target_kind.filter(|k| cluster_scoped(k)) {
        return refuse(
            format!("patches.{name}.target.kind"),
            &format!(
                "{kind} is not namespaced: a configuration patch may only change objects in the \
                 ShopSet's namespace"
            ),
        );
    }
    match value {
        Value::Object(patch) => {
            if let Some(kind) = patch
                .get("kind")
                .and_then(Value::as_str)
                .filter(|k| cluster_scoped(k))
            {
                return refuse(
                    format!("patches.{name}.patch.kind"),
                    &format!(
                        "{kind} is not namespaced: a configuration patch may only change \
                         objects in the ShopSet's namespace"
                    ),
                );
            }
            if patch
                .get("metadata")
                .and_then(Value::as_object)
                .is_some_and(|m| m.contains_key("namespace"))
            {
                return refuse(
                    format!("patches.{name}.patch.metadata.namespace"),
                    "a configuration patch may not change an object's namespace (the ShopSet's \
                     overlay sets it)",
                );
            }
        }
        Value::Array(ops) => {
            for (i, op) in ops.iter().enumerate() {
                let path = op.get("path").and_then(Value::as_str).unwrap_or_default();
                let from = op.get("from").and_then(Value::as_str).unwrap_or_default();
                let touches = |p: &str| {
                    p == "/metadata"
                        || p == "/metadata/namespace"
                        || p.starts_with("/metadata/namespace/")
                        || p.is_empty()
                };
                if touches(path) || (op.get("op") == Some(&json!("move")) && touches(from)) {
                    return refuse(
                        format!("patches.{name}.patch[{i}].path"),
                        "a configuration patch may not change an object's namespace (the \
                         ShopSet's overlay sets it)",
                    );
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// Checks a patch text: one YAML object (strategic merge) or a list of JSON 6902 operations,
/// which needs a target; and that it stays in the ShopSet's namespace.
fn check_patch(
    shopset: &str,
    name: &str,
    text: &str,
    target_kind: Option<&str>,
    has_target: bool,
) -> Result<(), RenderError> {
    let field = format!("patches.{name}.patch");
    let value =
        yaml::parse(text).map_err(|e| RenderError::shopset(shopset, &field, e.to_string()))?;
    check_patch_scope(shopset, name, &value, target_kind)?;
    match value {
        Value::Object(_) => Ok(()),
        Value::Array(ops)
            if ops
                .iter()
                .all(|op| op.get("op").is_some_and(Value::is_string)) =>
        {
            if has_target {
                Ok(())
            } else {
                Err(RenderError::shopset(
                    shopset,
                    format!("patches.{name}.target"),
                    "a JSON 6902 patch (a list of operations) needs a target",
                ))
            }
        }
        _ => Err(RenderError::shopset(
            shopset,
            field,
            "expected a strategic merge patch (a YAML object) or a JSON 6902 patch (a list of \
             {op, path, value} operations)",
        )),
    }
}

/// Plain data structs always convert to JSON.
fn to_json(value: &impl serde::Serialize) -> Value {
    serde_json::to_value(value).expect("plain data converts to JSON")
}

/// The patches of a side during a migration (DESIGN: migration), as (file, target, JSON 6902
/// operations): every CronJob gets `startingDeadlineSeconds` (so that a long suspension does
/// not stop it for good: after 100 missed schedules a CronJob without it never runs again,
/// kubernetes#42649); a side in standby also suspends them and scales the workloads labelled
/// as singletons to 0. The base's own values return when the migration ends.
fn migration_patches(standby: bool, deadline: Option<u32>) -> Vec<(&'static str, Value, Value)> {
    let mut out = Vec::new();
    if let Some(seconds) = deadline {
        let mut ops =
            vec![json!({"op": "add", "path": "/spec/startingDeadlineSeconds", "value": seconds})];
        if standby {
            ops.push(json!({"op": "add", "path": "/spec/suspend", "value": true}));
        }
        out.push((
            "migration/cronjobs.yaml",
            json!({"kind": "CronJob"}),
            Value::Array(ops),
        ));
    }
    if standby {
        let selector = format!("{}=true", shopset_crds::migration::SINGLETON_LABEL);
        let zero = json!([{"op": "add", "path": "/spec/replicas", "value": 0}]);
        for (file, kind) in [
            ("migration/singleton-deployments.yaml", "Deployment"),
            ("migration/singleton-statefulsets.yaml", "StatefulSet"),
        ] {
            out.push((
                file,
                json!({"kind": kind, "labelSelector": selector}),
                zero.clone(),
            ));
        }
    }
    out
}

/// The patches of a preview asleep: every Deployment and StatefulSet at 0 replicas, every
/// CronJob suspended. Last of all, so they win.
fn sleep_patches(asleep: bool) -> Vec<(&'static str, Value, Value)> {
    if !asleep {
        return Vec::new();
    }
    let zero = json!([{"op": "add", "path": "/spec/replicas", "value": 0}]);
    vec![
        (
            "preview/sleep-deployments.yaml",
            json!({"kind": "Deployment"}),
            zero.clone(),
        ),
        (
            "preview/sleep-statefulsets.yaml",
            json!({"kind": "StatefulSet"}),
            zero,
        ),
        (
            "preview/sleep-cronjobs.yaml",
            json!({"kind": "CronJob"}),
            json!([{"op": "add", "path": "/spec/suspend", "value": true}]),
        ),
    ]
}

/// Renders the overlay files, relative to the repository root.
pub(crate) fn overlay(o: &Overlay<'_>) -> Result<Vec<(String, Vec<u8>)>, RenderError> {
    let dir = o.dir;
    let mut files = Vec::new();
    let mut k = serde_json::Map::new();
    k.insert(
        "apiVersion".into(),
        json!("kustomize.config.k8s.io/v1beta1"),
    );
    k.insert("kind".into(), json!("Kustomization"));
    k.insert("namespace".into(), json!(o.namespace));
    let mut resources = vec![layout::base_from_overlay(o.app_path)];
    for (path, object) in crate::isolation::objects(o.shopset, o.namespace, o.settings, o.edge)? {
        files.push((
            format!("{dir}/{path}"),
            yaml::to_string(&object).into_bytes(),
        ));
        resources.push(path);
    }
    let delivery = crate::delivery::render(
        &crate::delivery::Place {
            shopset: o.shopset,
            tier: o.tier,
            failure_domain: o.failure_domain,
            network_isolated: crate::isolation::network_isolated(o.settings),
        },
        o.settings,
        o.rollouts_leaving,
    )?;
    for (path, object) in &delivery.objects {
        files.push((
            format!("{dir}/{path}"),
            yaml::to_string(object).into_bytes(),
        ));
        resources.push(path.clone());
    }
    k.insert("resources".into(), json!(resources));
    if delivery.rollouts {
        // Teaches Kustomize the Rollout's references and replica count; no `openapi:` schema
        // (it would replace the built-in one that merges the Deployments' patches).
        let path = crate::delivery::KUSTOMIZE_CONFIG_FILE;
        k.insert("configurations".into(), json!([path]));
        files.push((
            format!("{dir}/{path}"),
            crate::delivery::KUSTOMIZE_CONFIG.as_bytes().to_vec(),
        ));
    }
    k.insert(
        "labels".into(),
        json!([{ "pairs": o.labels, "includeSelectors": false, "includeTemplates": true }]),
    );

    let values: Vec<(&String, &String)> = o
        .settings
        .values
        .iter()
        .filter_map(|(key, v)| v.as_ref().map(|v| (key, v)))
        .collect();
    let size: usize = values.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > MAX_CONFIGMAP_BYTES {
        return Err(RenderError::shopset(
            o.shopset,
            "values",
            format!(
                "the values come to {size} bytes; a ConfigMap holds at most {MAX_CONFIGMAP_BYTES} \
                 (keys and values together)"
            ),
        ));
    }
    let mut generators = Vec::new();
    if !values.is_empty() {
        let mut sources = Vec::new();
        for (key, value) in values {
            check_value_key(o.shopset, key)?;
            sources.push(json!(format!("{key}=values/{key}")));
            files.push((format!("{dir}/values/{key}"), value.clone().into_bytes()));
        }
        generators.push(json!({ "name": VALUES_CONFIGMAP, "files": sources }));
    }
    if !o.hosts.is_empty() {
        let mut text = o.hosts.join("\n");
        text.push('\n');
        if text.len() > MAX_CONFIGMAP_BYTES {
            return Err(RenderError::shopset(
                o.shopset,
                "spec.shops",
                format!(
                    "its shops' hosts come to {} bytes; a ConfigMap holds at most \
                     {MAX_CONFIGMAP_BYTES}: give it fewer shops (spec.shops.capacity)",
                    text.len()
                ),
            ));
        }
        files.push((format!("{dir}/hosts"), text.into_bytes()));
        generators.push(json!({ "name": HOSTS_CONFIGMAP, "files": ["hosts=hosts"] }));
    }
    if !generators.is_empty() {
        k.insert("configMapGenerator".into(), Value::Array(generators));
    }

    let mut replicas = Vec::new();
    for (name, count) in &o.settings.replicas {
        let Some(count) = count else { continue };
        if name.is_empty() || *count < 0 {
            return Err(RenderError::shopset(
                o.shopset,
                format!("replicas.{name}"),
                "expected a workload name and a count of 0 or more",
            ));
        }
        // Asleep, a preview's counts are 0 (Kustomize applies `replicas` after the patches).
        let count = if o.asleep { 0 } else { *count };
        replicas.push(json!({ "name": name, "count": count }));
    }
    if !replicas.is_empty() {
        k.insert("replicas".into(), Value::Array(replicas));
    }

    let mut images = Vec::new();
    for (name, image) in &o.settings.images {
        let Some(image) = image else { continue };
        if name.is_empty()
            || (image.new_name.is_none() && image.new_tag.is_none() && image.digest.is_none())
        {
            return Err(RenderError::shopset(
                o.shopset,
                format!("images.{name}"),
                "expected an image name with at least one of newName, newTag and digest",
            ));
        }
        let mut entry = to_json(image);
        entry["name"] = json!(name);
        images.push(entry);
    }
    if !images.is_empty() {
        k.insert("images".into(), Value::Array(images));
    }

    let mut patches = Vec::new();
    for (name, patch) in &o.settings.patches {
        let Some(patch) = patch else { continue };
        if let Err(message) = shopset_crds::names::dns_label(name) {
            return Err(RenderError::shopset(
                o.shopset,
                format!("patches.{name}"),
                message,
            ));
        }
        check_patch(
            o.shopset,
            name,
            &patch.patch,
            patch.target.as_ref().and_then(|t| t.kind.as_deref()),
            patch.target.is_some(),
        )?;
        let path = format!("patches/{name}.yaml");
        let mut entry = json!({ "path": path });
        if let Some(target) = &patch.target {
            entry["target"] = to_json(target);
        }
        patches.push(entry);
        let mut text = patch.patch.clone();
        if !text.ends_with('\n') {
            text.push('\n');
        }
        files.push((format!("{dir}/{path}"), text.into_bytes()));
    }
    // A migration's patches come last, so that they win over the configuration's.
    for (path, target, ops) in delivery.patches.into_iter().chain(
        migration_patches(o.standby, o.deadline)
            .into_iter()
            .chain(sleep_patches(o.asleep))
            .map(|(path, target, ops)| (path.to_owned(), target, ops)),
    ) {
        patches.push(json!({ "path": path, "target": target }));
        files.push((format!("{dir}/{path}"), yaml::to_string(&ops).into_bytes()));
    }
    if !patches.is_empty() {
        k.insert("patches".into(), Value::Array(patches));
    }

    files.push((
        format!("{dir}/kustomization.yaml"),
        yaml::to_string(&Value::Object(k)).into_bytes(),
    ));
    Ok(files)
}
