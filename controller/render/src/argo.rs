//! Argo CD objects: one Application per ShopSet, `applications/kustomization.yaml`, and the
//! tier's root Application (app of apps) under `bootstrap/`.

use serde_json::{Value, json};
use shopset_crds::{Destination, ProtectedField, WorkloadDeletion};

use crate::inputs::TierInputs;
use crate::layout;

/// Label on every object the product generates.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "shopset");
/// Argo CD's finalizer that deletes an Application's resources with it.
pub const RESOURCES_FINALIZER: &str = "resources-finalizer.argocd.argoproj.io";
/// The in-cluster API server, where root Applications are applied.
pub const IN_CLUSTER: &str = "https://kubernetes.default.svc";

/// Automated sync with pruning; Argo CD creates the namespace only when the overlay does not
/// render it (a rendered Namespace is tracked, and pruned with the ShopSet).
fn default_sync_policy(namespace_rendered: bool) -> Value {
    if namespace_rendered {
        json!({ "automated": { "prune": true, "selfHeal": true } })
    } else {
        json!({
            "automated": { "prune": true, "selfHeal": true },
            "syncOptions": ["CreateNamespace=true"],
        })
    }
}

/// What a ShopSet Application is made from.
pub(crate) struct AppParams<'a> {
    pub shopset: &'a str,
    /// The Application's name: the ShopSet's, or a side's ([`layout::side_name`]).
    pub name: &'a str,
    /// The overlay's directory.
    pub path: &'a str,
    /// The side's failure domain, for a side not named like the ShopSet.
    pub side: Option<&'a str>,
    pub namespace: &'a str,
    /// The overlay renders the Namespace: Argo CD need not create it.
    pub namespace_rendered: bool,
    /// Replica counts others own, as (group, kind, name): Argo CD ignores them
    /// ([`crate::delivery::ignored_replicas`]).
    pub ignored_replicas: Vec<(&'static str, &'static str, String)>,
    pub destination: &'a Destination,
    pub suspend: bool,
    pub maintenance: bool,
    pub deletion: WorkloadDeletion,
}

/// The Application of one ShopSet, with the Tier's patch applied.
pub(crate) fn shopset_application(inputs: &TierInputs, p: &AppParams<'_>) -> Value {
    let argo = &inputs.tier.spec.argocd;
    let destination = destination(p.destination, p.namespace);
    let mut metadata = json!({
        "name": p.name,
        "namespace": argo.namespace,
        "labels": {
            MANAGED_BY.0: MANAGED_BY.1,
            "shopset.dev/shopset": p.shopset,
            "shopset.dev/tier": inputs.tier.name,
        },
        "annotations": {
            "shopset.dev/maintenance": if p.maintenance { "on" } else { "off" },
        },
    });
    if let Some(domain) = p.side {
        metadata["labels"]["shopset.dev/side"] = json!(domain);
    }
    if p.deletion == WorkloadDeletion::Delete {
        metadata["finalizers"] = json!([RESOURCES_FINALIZER]);
    }
    let mut app = json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": metadata,
        "spec": {
            "project": shopset_project(inputs),
            "source": {
                "repoURL": inputs.tier.spec.system.url,
                "targetRevision": inputs.branch(),
                "path": p.path,
            },
            "destination": destination,
            "syncPolicy": argo
                .sync_policy
                .clone()
                .unwrap_or_else(|| default_sync_policy(p.namespace_rendered)),
        },
    });
    if !p.ignored_replicas.is_empty() {
        app["spec"]["ignoreDifferences"] = p
            .ignored_replicas
            .iter()
            .map(|(group, kind, name)| {
                json!({ "group": group, "kind": kind, "name": name, "jsonPointers": ["/spec/replicas"] })
            })
            .collect();
        // Without it, a sync (of any other change) would set the ignored counts back.
        if let Some(policy) = app["spec"]["syncPolicy"].as_object_mut() {
            let options = policy.entry("syncOptions").or_insert_with(|| json!([]));
            if let Some(list) = options.as_array_mut()
                && !list.iter().any(|o| o == "RespectIgnoreDifferences=true")
            {
                list.push(json!("RespectIgnoreDifferences=true"));
            }
        }
    }
    if let Some(patch) = &argo.application_patch {
        json_patch::merge(&mut app, patch);
    }
    if p.suspend
        && let Some(policy) = app
            .pointer_mut("/spec/syncPolicy")
            .and_then(Value::as_object_mut)
    {
        policy.remove("automated");
    }
    app
}

/// Refuses an Application patch that changes a protected field the Tier does not allow:
/// `Err((field, why))`. A patch changes a field when it names it, or replaces or removes
/// (`null`) an object on its path.
pub(crate) fn check_application_patch(
    patch: &Value,
    allowed: &[ProtectedField],
) -> Result<(), (String, String)> {
    fn touches(patch: &Value, path: &[&str]) -> bool {
        match (path.split_first(), patch) {
            (None, _) => true,
            (Some((key, rest)), Value::Object(map)) => {
                map.get(*key).is_some_and(|v| touches(v, rest))
            }
            // A scalar, a list or null in place of an object replaces everything below it.
            (Some(_), _) => true,
        }
    }
    for field in ProtectedField::ALL {
        let path: Vec<&str> = field.split('.').collect();
        if !touches(patch, &path) || allowed.iter().any(|a| a.path() == field) {
            continue;
        }
        let why = if field == "metadata.name" {
            "the name of a ShopSet's Application is the ShopSet's name and cannot be patched"
                .to_owned()
        } else {
            format!(
                "changes where or with which rights every ShopSet runs: refused unless the Tier \
                 lists {field:?} in spec.argocd.applicationPatchAllows"
            )
        };
        return Err((field.to_owned(), why));
    }
    Ok(())
}

fn kustomization(resources: &[String]) -> Value {
    json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": resources,
    })
}

/// `applications/kustomization.yaml` (listing the shard directories) and one
/// `applications/<shard>/kustomization.yaml` per shard (listing its Applications).
pub(crate) fn applications_kustomizations(
    inputs: &TierInputs,
    only: Option<&std::collections::BTreeSet<String>>,
) -> Vec<(String, Value)> {
    // Every shard is listed; only the lists of the shards in `only` are made (at 33,000
    // ShopSets, a name and a file name each for all of them was most of an edit's time).
    let mask = only.map(layout::shard_mask);
    let mut shards: std::collections::BTreeMap<u8, Vec<String>> = std::collections::BTreeMap::new();
    let mut seen = [false; 256];
    for (name, placed) in &inputs.shop_sets {
        let shard = layout::shard_index(name);
        seen[usize::from(shard)] = true;
        if mask.is_some_and(|m| !m[usize::from(shard)]) {
            continue;
        }
        let files = shards.entry(shard).or_default();
        for side in placed.sides(name) {
            files.push(format!("{}.yaml", side.name));
        }
    }

    let mut listed: Vec<String> = (0..=u8::MAX)
        .filter(|s| seen[usize::from(*s)])
        .map(|s| format!("{s:02x}"))
        .collect();
    if app_project(inputs).is_some() {
        listed.push(PROJECT_FILE.to_owned());
    }
    if routing_application(inputs).is_some() {
        listed.push(ROUTING_APPLICATION_FILE.to_owned());
    }
    let mut out = vec![(
        format!("{}/kustomization.yaml", layout::APPLICATIONS),
        kustomization(&listed),
    )];
    for (shard, files) in &shards {
        let path = format!(
            "{}/kustomization.yaml",
            layout::application_shard_dir(&format!("{shard:02x}"))
        );
        out.push((path, kustomization(files)));
    }
    out
}

/// The tier's AppProject's file, in `applications/`.
pub const PROJECT_FILE: &str = "project.yaml";

/// Above this many ShopSets, the AppProject allows every namespace of the tier's failure
/// domains instead of listing each ShopSet's (a list of tens of thousands would pass the API
/// server's object size, and be rewritten by every sync).
pub const MAX_LISTED_NAMESPACES: usize = 1000;

/// The Argo CD project of the tier's ShopSet Applications: the one the Tier names
/// (`spec.argocd.project`), else the tier's own, `shopset-<tier>` ([`app_project`]).
#[must_use]
pub fn shopset_project(inputs: &TierInputs) -> String {
    let named = &inputs.tier.spec.argocd.project;
    if named == "default" {
        format!("shopset-{}", inputs.tier.name)
    } else {
        named.clone()
    }
}

/// The tier's own AppProject, when the Tier names no project: Argo CD's boundary for its
/// ShopSets. Its sources are exactly the system repository and the app repository (the
/// `base` submodule); its destinations exactly each ShopSet side's failure domain and
/// namespace (above [`MAX_LISTED_NAMESPACES`] ShopSets, each failure domain with any
/// namespace); the only cluster-scoped kind it allows is the Namespace the isolation renders.
#[must_use]
pub fn app_project(inputs: &TierInputs) -> Option<Value> {
    if inputs.tier.spec.argocd.project != "default" {
        return None;
    }
    let mut destinations: Vec<Value> = Vec::new();
    if inputs.shop_sets.len() > MAX_LISTED_NAMESPACES {
        for fd in inputs.failure_domains.values() {
            destinations.push(destination(&fd.destination, "*"));
        }
    } else {
        for (name, placed) in &inputs.shop_sets {
            let namespace = placed.spec.namespace.as_deref().unwrap_or(name);
            for side in placed.sides(name) {
                if let Some(fd) = inputs.failure_domains.get(&side.failure_domain) {
                    destinations.push(destination(&fd.destination, namespace));
                }
            }
        }
    }
    let key = |d: &Value| {
        (
            d["name"].as_str().unwrap_or_default().to_owned(),
            d["server"].as_str().unwrap_or_default().to_owned(),
            d["namespace"].as_str().unwrap_or_default().to_owned(),
        )
    };
    destinations.sort_by_key(key);
    destinations.dedup();
    let spec = &inputs.tier.spec;
    Some(json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AppProject",
        "metadata": {
            "name": shopset_project(inputs),
            "namespace": spec.argocd.namespace,
            "labels": { MANAGED_BY.0: MANAGED_BY.1, "shopset.dev/tier": inputs.tier.name },
            // Before the Applications that name it, in the root Application's sync.
            "annotations": { "argocd.argoproj.io/sync-wave": "-1" },
        },
        "spec": {
            "description": format!("The ShopSets of tier {}, rendered by shopset", inputs.tier.name),
            "sourceRepos": [spec.system.url, spec.app.url],
            "destinations": destinations,
            "clusterResourceWhitelist": [{ "group": "", "kind": "Namespace" }],
        },
    }))
}

/// The routing Application's file, in `applications/`.
pub const ROUTING_APPLICATION_FILE: &str = "routing.yaml";

/// The Application that applies the tier's routing table (`routing/`) to the edge, when the
/// Tier names where (`spec.routing`) and its ShopSets serve shops.
#[must_use]
pub fn routing_application(inputs: &TierInputs) -> Option<Value> {
    let target = inputs.tier.spec.routing.as_ref()?;
    if inputs.shops.is_empty() {
        return None;
    }
    let name = format!(
        "{}routing-{}",
        shopset_crds::names::ROOT_APPLICATION_PREFIX,
        inputs.tier.name
    );
    let mut app = tier_application(
        inputs,
        &name,
        crate::routing::DIR,
        destination(&target.destination, &target.namespace),
    );
    if inputs.preview.is_some() {
        // A preview's tables go with it (the root Application's deletion removes this one).
        app["metadata"]["finalizers"] = json!([RESOURCES_FINALIZER]);
    }
    Some(app)
}

/// The tier's root Application, which applies `applications/` from the tier branch. A
/// preview's has Argo CD's resources finalizer: deleting it removes the preview's
/// Applications, and theirs (the preview's ShopSet deletes its workloads) everything they
/// applied, its Namespace included.
#[must_use]
pub fn root_application(inputs: &TierInputs) -> Value {
    let argo = &inputs.tier.spec.argocd;
    let name = format!(
        "{}{}",
        shopset_crds::names::ROOT_APPLICATION_PREFIX,
        inputs.tier.name
    );
    let mut app = tier_application(
        inputs,
        &name,
        layout::APPLICATIONS,
        json!({ "server": IN_CLUSTER, "namespace": argo.namespace }),
    );
    if let Some(preview) = &inputs.preview {
        app["metadata"]["finalizers"] = json!([RESOURCES_FINALIZER]);
        app["metadata"]["labels"]["shopset.dev/preview-policy"] = json!(preview.policy);
        app["metadata"]["labels"]["shopset.dev/preview"] = json!(preview.number.to_string());
    }
    app
}

/// An Application of the tier itself (not of a ShopSet): `path` of the tier branch, applied
/// to `destination`, pruned and healed automatically.
fn tier_application(inputs: &TierInputs, name: &str, path: &str, destination: Value) -> Value {
    let argo = &inputs.tier.spec.argocd;
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": name,
            "namespace": argo.namespace,
            "labels": { MANAGED_BY.0: MANAGED_BY.1, "shopset.dev/tier": inputs.tier.name },
        },
        "spec": {
            "project": argo.project,
            "source": {
                "repoURL": inputs.tier.spec.system.url,
                "targetRevision": inputs.branch(),
                "path": path,
            },
            "destination": destination,
            "syncPolicy": { "automated": { "prune": true, "selfHeal": true } },
        },
    })
}

/// An Argo CD destination: its cluster (by name or server) and `namespace`.
fn destination(d: &shopset_crds::Destination, namespace: &str) -> Value {
    let mut out = json!({ "namespace": namespace });
    if let Some(name) = &d.name {
        out["name"] = json!(name);
    }
    if let Some(server) = &d.server {
        out["server"] = json!(server);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patch_may_change_a_protected_field_only_when_allowed() {
        let refused = |patch: Value, allowed: &[ProtectedField]| {
            check_application_patch(&patch, allowed)
                .err()
                .map(|(f, _)| f)
        };
        assert_eq!(
            refused(json!({"metadata": {"labels": {"a": "b"}}}), &[]),
            None
        );
        assert_eq!(
            refused(json!({"spec": {"project": "x"}}), &[]).as_deref(),
            Some("spec.project")
        );
        assert_eq!(
            refused(
                json!({"spec": {"project": "x"}}),
                &[ProtectedField::Project]
            ),
            None
        );
        // Replacing or removing an object on the path changes what is below it.
        assert_eq!(
            refused(json!({"spec": null}), &[]).as_deref(),
            Some("spec.project")
        );
        assert_eq!(
            refused(json!({"spec": {"source": {"helm": {}}}}), &[]),
            None,
            "other source fields are free"
        );
        assert_eq!(
            refused(json!({"spec": {"source": "x"}}), &[]).as_deref(),
            Some("spec.source.repoURL")
        );
        assert_eq!(
            refused(json!({"metadata": {"finalizers": []}}), &[]).as_deref(),
            Some("metadata.finalizers")
        );
        assert_eq!(
            refused(json!({"spec": {"sources": []}}), &[]).as_deref(),
            Some("spec.sources")
        );
        // The name, never.
        let all = [
            ProtectedField::MetadataNamespace,
            ProtectedField::MetadataFinalizers,
            ProtectedField::Project,
            ProtectedField::Destination,
            ProtectedField::SourceRepoUrl,
            ProtectedField::SourcePath,
            ProtectedField::SourceTargetRevision,
            ProtectedField::Sources,
        ];
        assert_eq!(
            refused(json!({"metadata": {"name": "x"}}), &all).as_deref(),
            Some("metadata.name")
        );
        assert_eq!(
            ProtectedField::ALL.len(),
            all.len() + 1,
            "every field is listed"
        );
        for field in all {
            assert_eq!(
                serde_json::to_value(field).expect("plain enum"),
                json!(field.path()),
                "the path is what a Tier writes"
            );
        }
    }
}
