//! The resources in a cluster, through a kubeconfig: read them (with the statuses the
//! controller wrote) and change one of them with a JSON merge patch, as `kubectl patch` does.

use std::path::PathBuf;

use kube::api::{ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client};
use serde_json::{Value, json};
use shopset_crds::{Configuration, FailureDomain, ShopSet, Tier};
use shopset_engine::Resources;
use shopset_engine::ops::observe::Gathered;
use shopset_engine::ops::status::Statuses;

/// Where the cluster is.
#[derive(Debug, Clone, clap::Args)]
pub struct ClusterArgs {
    /// Kubeconfig to use (default: `$KUBECONFIG`, then `~/.kube/config`, then the in-cluster
    /// service account). Used when no `-f` is given.
    #[arg(long, global = true)]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context (default: its current context).
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// The namespace of the shopset resources.
    #[arg(
        short = 'n',
        long,
        global = true,
        env = "SHOPSET_NAMESPACE",
        default_value = "shopset-system"
    )]
    pub namespace: String,
}

/// A connection to the API server, with a runtime of its own so the commands stay blocking.
pub struct Cluster {
    runtime: tokio::runtime::Runtime,
    client: Client,
    /// The namespace of the resources.
    pub namespace: String,
}

fn resource(kind: &str) -> anyhow::Result<ApiResource> {
    Ok(match kind {
        "Tier" => ApiResource::erase::<Tier>(&()),
        "Configuration" => ApiResource::erase::<Configuration>(&()),
        "FailureDomain" => ApiResource::erase::<FailureDomain>(&()),
        "ShopSet" => ApiResource::erase::<ShopSet>(&()),
        "Shop" => ApiResource::erase::<shopset_crds::Shop>(&()),
        "Migration" => ApiResource::erase::<shopset_crds::Migration>(&()),
        "PreviewPolicy" => ApiResource::erase::<shopset_crds::PreviewPolicy>(&()),
        "NotificationPolicy" => ApiResource::erase::<shopset_crds::NotificationPolicy>(&()),
        other => anyhow::bail!("no resource kind {other}"),
    })
}

/// Argo CD's Application.
fn application_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application"),
        "applications",
    )
}

impl Cluster {
    /// Connects as kubectl would.
    ///
    /// # Errors
    /// No usable kubeconfig, or a client cannot be built from it.
    pub fn connect(args: &ClusterArgs) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let options = KubeConfigOptions {
            context: args.context.clone(),
            ..KubeConfigOptions::default()
        };
        let client = runtime.block_on(async {
            let config = match &args.kubeconfig {
                Some(path) => {
                    let file = Kubeconfig::read_from(path)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                    kube::Config::from_custom_kubeconfig(file, &options)
                        .await
                        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
                }
                None if args.context.is_some() => kube::Config::from_kubeconfig(&options)
                    .await
                    .map_err(|e| anyhow::anyhow!("kubeconfig: {e}"))?,
                None => kube::Config::infer().await.map_err(|e| {
                    anyhow::anyhow!(
                        "no cluster: {e} (give the resources with -f to work offline, or \
                         --kubeconfig)"
                    )
                })?,
            };
            Client::try_from(config).map_err(|e| anyhow::anyhow!("kubernetes client: {e}"))
        })?;
        Ok(Self {
            runtime,
            client,
            namespace: args.namespace.clone(),
        })
    }

    fn api(&self, kind: &str) -> anyhow::Result<Api<DynamicObject>> {
        Ok(Api::namespaced_with(
            self.client.clone(),
            &self.namespace,
            &resource(kind)?,
        ))
    }

    /// Every shopset resource of the namespace, and the statuses the controller wrote on them.
    ///
    /// # Errors
    /// A list failed: the set would be incomplete, and an incomplete set must never be
    /// rendered (it would remove ShopSets).
    pub fn read(&self) -> anyhow::Result<(Resources, Statuses)> {
        self.read_all().map(|(r, s, _)| (r, s))
    }

    /// As [`Cluster::read`], with what a status computation needs besides: the generations
    /// and the generated Argo CD Applications (in every namespace, by their label). An
    /// Application list that fails (no Argo CD, no permission) leaves them out, and the
    /// statuses the controller wrote are used instead.
    ///
    /// # Errors
    /// A list of the shopset resources failed.
    pub fn read_all(&self) -> anyhow::Result<(Resources, Statuses, Option<Gathered>)> {
        let mut resources = Resources::default();
        let mut statuses = Statuses::default();
        let mut docs = Vec::new();
        for kind in shopset_engine::resources::KINDS {
            let api = self.api(kind)?;
            let ar = resource(kind)?;
            let list = self
                .runtime
                .block_on(api.list(&ListParams::default()))
                .map_err(|e| anyhow::anyhow!("list {} in {}: {e}", ar.plural, self.namespace))?;
            for object in list.items {
                let mut doc = serde_json::to_value(&object)?;
                if doc.get("apiVersion").is_none_or(Value::is_null) {
                    doc["apiVersion"] = json!(ar.api_version);
                    doc["kind"] = json!(ar.kind);
                }
                let name = object.metadata.name.clone().unwrap_or_default();
                let source = format!("{}/{kind}/{name}", self.namespace);
                resources.add_object(&source, &doc);
                docs.push(json!({
                    "apiVersion": doc.get("apiVersion"),
                    "kind": doc.get("kind"),
                    "metadata": { "name": name, "generation": doc.pointer("/metadata/generation") },
                }));
                let Some(status) = doc.get("status").filter(|s| !s.is_null()) else {
                    continue;
                };
                // A status that does not read is left out: the gate then says "no status".
                match kind {
                    "Tier" => {
                        if let Ok(s) = serde_json::from_value(status.clone()) {
                            statuses.tiers.insert(name, s);
                        }
                    }
                    "ShopSet" => {
                        if let Ok(s) = serde_json::from_value(status.clone()) {
                            statuses.shop_sets.insert(name, s);
                        }
                    }
                    _ => {}
                }
            }
        }
        let (key, value) = shopset_render::argo::MANAGED_BY;
        let apps = ApiResource::from_gvk(&GroupVersionKind::gvk(
            "argoproj.io",
            "v1alpha1",
            "Application",
        ));
        let listed = self.runtime.block_on(
            Api::<DynamicObject>::all_with(self.client.clone(), &apps)
                .list(&ListParams::default().labels(&format!("{key}={value}"))),
        );
        let gathered = match listed {
            Ok(list) => {
                for object in list.items {
                    let mut doc = serde_json::to_value(&object)?;
                    if doc.get("apiVersion").is_none_or(Value::is_null) {
                        doc["apiVersion"] = json!(apps.api_version);
                        doc["kind"] = json!(apps.kind);
                    }
                    docs.push(doc);
                }
                let gathered = Gathered::from_documents(&docs);
                resources.applications.clone_from(&gathered.applications);
                Some(gathered)
            }
            Err(e) => {
                tracing::debug!(error = %e, "Argo CD Applications not listed");
                None
            }
        };
        Ok((resources, statuses, gathered))
    }

    /// Creates or deletes one resource of the namespace.
    ///
    /// # Errors
    /// The API server refused it.
    pub fn lifecycle(
        &self,
        kind: &str,
        name: &str,
        what: &shopset_engine::ops::edit::Lifecycle,
    ) -> anyhow::Result<()> {
        use shopset_engine::ops::edit::Lifecycle;
        let api = self.api(kind)?;
        match what {
            Lifecycle::Create(doc) => {
                let object: DynamicObject = serde_json::from_value(doc.clone())?;
                self.runtime
                    .block_on(api.create(&kube::api::PostParams::default(), &object))
                    .map_err(|e| anyhow::anyhow!("create {kind} {}/{name}: {e}", self.namespace))?;
            }
            Lifecycle::Delete => {
                self.runtime
                    .block_on(api.delete(name, &kube::api::DeleteParams::default()))
                    .map_err(|e| anyhow::anyhow!("delete {kind} {}/{name}: {e}", self.namespace))?;
            }
        }
        Ok(())
    }

    /// Whether Argo CD's Application `namespace/name` exists (being deleted counts).
    ///
    /// # Errors
    /// The API server could not say.
    pub fn application_exists(&self, namespace: &str, name: &str) -> anyhow::Result<bool> {
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), namespace, &application_resource());
        let found = self
            .runtime
            .block_on(api.get_opt(name))
            .map_err(|e| anyhow::anyhow!("read Application {namespace}/{name}: {e}"))?;
        Ok(found.is_some())
    }

    /// Asks for the deletion of Argo CD's Application `namespace/name` (gone already: done).
    ///
    /// # Errors
    /// The API server refused.
    pub fn delete_application(&self, namespace: &str, name: &str) -> anyhow::Result<()> {
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), namespace, &application_resource());
        if !self.application_exists(namespace, name)? {
            return Ok(());
        }
        self.runtime
            .block_on(api.delete(name, &kube::api::DeleteParams::default()))
            .map_err(|e| anyhow::anyhow!("delete Application {namespace}/{name}: {e}"))?;
        Ok(())
    }

    /// Changes one resource with a JSON merge patch (`null` removes a field).
    ///
    /// # Errors
    /// The API server refused (no such resource, no permission, invalid).
    pub fn patch(&self, kind: &str, name: &str, patch: &Value) -> anyhow::Result<()> {
        let api = self.api(kind)?;
        self.runtime
            .block_on(api.patch(name, &PatchParams::default(), &Patch::Merge(patch)))
            .map_err(|e| anyhow::anyhow!("patch {kind} {}/{name}: {e}", self.namespace))?;
        Ok(())
    }
}
