//! The API-server mode: reflectors keep the four kinds and the generated Argo CD Applications
//! in memory; their changes mark tiers in the queue; statuses go back through server-side
//! apply on the status subresource, transitions as Events, and each tier's root Application
//! (the same object as `bootstrap/<tier>.yaml` in git) is server-side applied.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex, PoisonError};

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use shopset_crds::{Configuration, FailureDomain, ShopSet, Tier};
use shopset_engine::TierOutcome;

use crate::queue::Queue;
use crate::reconcile::Report;
use crate::snapshot::Snapshot;

/// The field manager of everything the controller applies.
pub const FIELD_MANAGER: &str = "shopset-controller";

/// The Argo CD Application kind.
#[must_use]
pub fn application_resource() -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk(
        "argoproj.io",
        "v1alpha1",
        "Application",
    ))
}

/// The stores of every watched kind.
#[derive(Clone)]
pub struct KubeBackend {
    client: Client,
    namespace: String,
    tiers: Store<Tier>,
    shop_sets: Store<ShopSet>,
    configurations: Store<Configuration>,
    failure_domains: Store<FailureDomain>,
    applications: Store<DynamicObject>,
    recorder: Recorder,
}

/// What a change of one object means for the queue.
#[derive(Default)]
struct Seen {
    /// name -> (generation, tier, annotations) last seen, to tell spec changes from status
    /// writes (ours) and to find the tier a ShopSet left.
    objects: BTreeMap<(String, String), (Option<i64>, String, String)>,
}

fn watch<K>(
    api: Api<K>,
    config: watcher::Config,
    dyntype: K::DynamicType,
) -> (
    Store<K>,
    impl Stream<Item = watcher::Result<watcher::Event<K>>>,
)
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    let writer = reflector::store::Writer::new(dyntype);
    let reader = writer.as_reader();
    let stream = reflector::reflector(writer, watcher(api, config).default_backoff());
    (reader, stream)
}

impl KubeBackend {
    /// Starts the watches (as tasks on the current runtime); changes mark `queue`.
    #[must_use]
    pub fn start(client: Client, namespace: &str, queue: Arc<Queue>) -> Self {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (tiers, tier_events) = watch(
            Api::<Tier>::namespaced(client.clone(), namespace),
            watcher::Config::default(),
            (),
        );
        let (shop_sets, shop_set_events) = watch(
            Api::<ShopSet>::namespaced(client.clone(), namespace),
            watcher::Config::default(),
            (),
        );
        let (configurations, configuration_events) = watch(
            Api::<Configuration>::namespaced(client.clone(), namespace),
            watcher::Config::default(),
            (),
        );
        let (failure_domains, failure_domain_events) = watch(
            Api::<FailureDomain>::namespaced(client.clone(), namespace),
            watcher::Config::default(),
            (),
        );
        let (applications, application_events) = watch(
            Api::<DynamicObject>::all_with(client.clone(), &application_resource()),
            watcher::Config::default().labels(&format!(
                "{}={}",
                shopset_render::argo::MANAGED_BY.0,
                shopset_render::argo::MANAGED_BY.1
            )),
            application_resource(),
        );

        let spawn_events = |kind: &'static str,
                            stream: std::pin::Pin<
            Box<dyn Stream<Item = watcher::Result<watcher::Event<Value>>> + Send>,
        >| {
            let queue = queue.clone();
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut stream = stream;
                while let Some(event) = stream.next().await {
                    match event {
                        Ok(e) => on_event(kind, &e, &queue, &seen),
                        Err(e) => tracing::warn!(kind, error = %e, "watch failed; retrying"),
                    }
                }
            });
        };
        fn values<K: serde::Serialize + Send + 'static>(
            s: impl Stream<Item = watcher::Result<watcher::Event<K>>> + Send + 'static,
        ) -> std::pin::Pin<Box<dyn Stream<Item = watcher::Result<watcher::Event<Value>>> + Send>>
        {
            Box::pin(s.map(|r| {
                r.map(|e| match e {
                    watcher::Event::Apply(o) => {
                        watcher::Event::Apply(serde_json::to_value(o).unwrap_or_default())
                    }
                    watcher::Event::Delete(o) => {
                        watcher::Event::Delete(serde_json::to_value(o).unwrap_or_default())
                    }
                    watcher::Event::InitApply(o) => {
                        watcher::Event::InitApply(serde_json::to_value(o).unwrap_or_default())
                    }
                    watcher::Event::Init => watcher::Event::Init,
                    watcher::Event::InitDone => watcher::Event::InitDone,
                })
            }))
        }
        spawn_events("Tier", values(tier_events));
        spawn_events("ShopSet", values(shop_set_events));
        spawn_events("Configuration", values(configuration_events));
        spawn_events("FailureDomain", values(failure_domain_events));
        spawn_events("Application", values(application_events));

        let recorder = Recorder::new(
            client.clone(),
            Reporter {
                controller: FIELD_MANAGER.into(),
                instance: std::env::var("POD_NAME").ok(),
            },
        );
        Self {
            client,
            namespace: namespace.to_owned(),
            tiers,
            shop_sets,
            configurations,
            failure_domains,
            applications,
            recorder,
        }
    }

    /// Waits until every store has its first full list.
    ///
    /// # Errors
    /// A store's writer was dropped.
    pub async fn ready(&self) -> Result<(), reflector::store::WriterDropped> {
        self.tiers.wait_until_ready().await?;
        self.shop_sets.wait_until_ready().await?;
        self.configurations.wait_until_ready().await?;
        self.failure_domains.wait_until_ready().await?;
        self.applications.wait_until_ready().await
    }

    /// Every object now, as the engine reads them.
    #[must_use]
    pub fn snapshot(&self) -> Snapshot {
        let mut objects: Vec<(String, Value)> = Vec::new();
        fn add<K>(kind: &str, store: &Store<K>, out: &mut Vec<(String, Value)>)
        where
            K: serde::Serialize + Resource + Clone + 'static,
            K::DynamicType: Eq + std::hash::Hash + Clone,
        {
            let mut items: Vec<(String, Value)> = store
                .state()
                .iter()
                .filter_map(|o| {
                    let source = format!(
                        "{}/{kind}/{}",
                        o.namespace().unwrap_or_default(),
                        o.name_any()
                    );
                    serde_json::to_value(o.as_ref()).ok().map(|v| (source, v))
                })
                .collect();
            items.sort_by(|a, b| a.0.cmp(&b.0));
            out.extend(items);
        }
        add("Tier", &self.tiers, &mut objects);
        add("Configuration", &self.configurations, &mut objects);
        add("FailureDomain", &self.failure_domains, &mut objects);
        add("ShopSet", &self.shop_sets, &mut objects);
        add("Application", &self.applications, &mut objects);
        Snapshot::from_objects(objects.iter().map(|(s, v)| (s.clone(), v)))
    }

    /// Writes a batch's statuses and events, and applies the root Application of every tier
    /// that is written.
    pub async fn write(&self, report: &Report) {
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let shop_sets: Api<ShopSet> = Api::namespaced(self.client.clone(), &self.namespace);
        for (name, status) in &report.statuses.shop_sets {
            let patch = json!({
                "apiVersion": shopset_crds::API_VERSION,
                "kind": "ShopSet",
                "status": status,
            });
            if let Err(e) = shop_sets
                .patch_status(name, &params, &Patch::Apply(&patch))
                .await
            {
                tracing::warn!(shopset = %name, error = %e, "status not written");
            }
        }
        let tiers: Api<Tier> = Api::namespaced(self.client.clone(), &self.namespace);
        for (name, status) in &report.statuses.tiers {
            let patch = json!({
                "apiVersion": shopset_crds::API_VERSION,
                "kind": "Tier",
                "status": status,
            });
            if let Err(e) = tiers
                .patch_status(name, &params, &Patch::Apply(&patch))
                .await
            {
                tracing::warn!(tier = %name, error = %e, "status not written");
            }
        }
        for note in &report.notes {
            let reference = match note.kind {
                "Tier" => self.reference::<Tier>(&self.tiers, &note.name),
                _ => self.reference::<ShopSet>(&self.shop_sets, &note.name),
            };
            let Some(reference) = reference else {
                continue;
            };
            let event = Event {
                type_: if note.warning {
                    EventType::Warning
                } else {
                    EventType::Normal
                },
                reason: note.reason.clone(),
                note: Some(note.message.chars().take(1000).collect()),
                action: "Reconcile".into(),
                secondary: None,
            };
            if let Err(e) = self.recorder.publish(&event, &reference).await {
                tracing::debug!(error = %e, "event not published");
            }
        }
        for result in &report.synced {
            if !matches!(
                result.outcome,
                TierOutcome::Committed { .. } | TierOutcome::Unchanged { commit: Some(_) }
            ) {
                continue;
            }
            let app = shopset_render::argo::root_application(&result.plan.inputs);
            let ns = app
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("argocd")
                .to_owned();
            let name = app
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let api: Api<DynamicObject> =
                Api::namespaced_with(self.client.clone(), &ns, &application_resource());
            if let Err(e) = api.patch(&name, &params, &Patch::Apply(&app)).await {
                tracing::warn!(tier = %result.plan.tier, error = %e, "root Application not applied");
            }
        }
    }

    fn reference<K>(&self, store: &Store<K>, name: &str) -> Option<ObjectReference>
    where
        K: Resource<DynamicType = ()> + Clone + 'static,
    {
        store
            .get(&reflector::ObjectRef::new(name).within(&self.namespace))
            .map(|o| o.object_ref(&()))
    }
}

fn on_event(kind: &str, event: &watcher::Event<Value>, queue: &Queue, seen: &Mutex<Seen>) {
    let (object, deleted) = match event {
        watcher::Event::Apply(o) | watcher::Event::InitApply(o) => (o, false),
        watcher::Event::Delete(o) => (o, true),
        watcher::Event::InitDone => {
            // A (re)list: anything may have changed, including deletions it did not report.
            if kind != "Application" {
                queue.sync_all();
            }
            return;
        }
        watcher::Event::Init => return,
    };
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let generation = object
        .pointer("/metadata/generation")
        .and_then(Value::as_i64);
    let text = |p: &str| {
        object
            .pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    match kind {
        "Application" => {
            let tier = text("/metadata/labels/shopset.dev~1tier");
            if !tier.is_empty() {
                queue.status(&tier);
            }
        }
        _ => {
            let tier = match kind {
                "ShopSet" => text("/spec/tier"),
                "Tier" => name.clone(),
                _ => String::new(),
            };
            let annotations = text("/metadata/annotations/shopset.dev~1confirm-removals");
            let mut seen = seen.lock().unwrap_or_else(PoisonError::into_inner);
            let key = (kind.to_owned(), name);
            let now = (generation, tier.clone(), annotations);
            let before = if deleted {
                seen.objects.remove(&key)
            } else {
                seen.objects.insert(key, now.clone())
            };
            if !deleted && before.as_ref() == Some(&now) {
                // Only the status (ours) or metadata changed.
                return;
            }
            match kind {
                "ShopSet" | "Tier" => {
                    queue.sync(&tier);
                    if let Some((_, old_tier, _)) = before
                        && old_tier != tier
                        && !old_tier.is_empty()
                    {
                        queue.sync(&old_tier);
                    }
                }
                _ => queue.sync_all(),
            }
        }
    }
}
