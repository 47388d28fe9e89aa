//! The API-server mode: reflectors keep the five kinds and the generated Argo CD Applications
//! in memory; their changes mark tiers in the queue; statuses go back through server-side
//! apply on the status subresource, transitions as Events, and each tier's root Application
//! (the same object as `bootstrap/<tier>.yaml` in git) is server-side applied.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::{Value, json};
use shopset_crds::{Configuration, FailureDomain, Migration, Shop, ShopSet, Tier};

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

/// The eight kinds, read untyped: one malformed object must never break the list of the others
/// (the engine reports it on itself).
fn kinds() -> [(&'static str, ApiResource); 8] {
    [
        ("Tier", ApiResource::erase::<Tier>(&())),
        ("Configuration", ApiResource::erase::<Configuration>(&())),
        ("FailureDomain", ApiResource::erase::<FailureDomain>(&())),
        ("ShopSet", ApiResource::erase::<ShopSet>(&())),
        ("Shop", ApiResource::erase::<Shop>(&())),
        ("Migration", ApiResource::erase::<Migration>(&())),
        (
            "PreviewPolicy",
            ApiResource::erase::<shopset_crds::PreviewPolicy>(&()),
        ),
        (
            "NotificationPolicy",
            ApiResource::erase::<shopset_crds::NotificationPolicy>(&()),
        ),
    ]
}

/// The stores of every watched kind.
#[derive(Clone)]
pub struct KubeBackend {
    client: Client,
    namespace: String,
    /// Per kind (as [`kinds`], then `Application`), its store.
    stores: Vec<(&'static str, ApiResource, Store<DynamicObject>)>,
    recorder: Recorder,
    /// The objects as last read, to read again only those that changed.
    memo: Arc<std::sync::Mutex<Memo>>,
}

/// What [`KubeBackend::snapshot`] keeps from one snapshot to the next.
#[derive(Default)]
struct Memo {
    /// Each object as JSON, by source, with the `resourceVersion` it was converted at.
    converted: std::collections::HashMap<String, (Option<String>, Arc<Value>)>,
    /// The ShopSets' specs and statuses as read.
    read: crate::snapshot::SnapshotMemo,
}

/// What a change of one object means for the queue.
#[derive(Default)]
struct Seen {
    /// name -> (generation, tier, annotations) last seen, to tell spec changes from status
    /// writes (ours) and to find the tier a ShopSet left.
    objects: BTreeMap<(String, String), (Option<i64>, String, String)>,
}

fn watch(
    api: Api<DynamicObject>,
    config: watcher::Config,
    resource: ApiResource,
) -> (
    Store<DynamicObject>,
    impl Stream<Item = watcher::Result<watcher::Event<DynamicObject>>>,
) {
    let writer = reflector::store::Writer::new(resource);
    let reader = writer.as_reader();
    let stream = reflector::reflector(writer, watcher(api, config).default_backoff());
    (reader, stream)
}

/// An object as JSON, with its apiVersion and kind even when a list left them out.
fn to_value(object: &DynamicObject, resource: &ApiResource) -> Value {
    let mut v = serde_json::to_value(object).unwrap_or_default();
    if v.get("apiVersion").is_none_or(Value::is_null) {
        v["apiVersion"] = json!(resource.api_version);
        v["kind"] = json!(resource.kind);
    }
    v
}

impl KubeBackend {
    /// Starts the watches (as tasks on the current runtime); changes mark `queue`.
    #[must_use]
    pub fn start(client: Client, namespace: &str, queue: Arc<Queue>) -> Self {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let mut stores = Vec::new();
        let managed = format!(
            "{}={}",
            shopset_render::argo::MANAGED_BY.0,
            shopset_render::argo::MANAGED_BY.1
        );
        let mut watched: Vec<(
            &'static str,
            ApiResource,
            Api<DynamicObject>,
            watcher::Config,
        )> = kinds()
            .into_iter()
            .map(|(kind, ar)| {
                let api = Api::namespaced_with(client.clone(), namespace, &ar);
                (kind, ar, api, watcher::Config::default())
            })
            .collect();
        let apps = application_resource();
        watched.push((
            "Application",
            apps.clone(),
            Api::all_with(client.clone(), &apps),
            watcher::Config::default().labels(&managed),
        ));
        for (kind, ar, api, config) in watched {
            let (store, stream) = watch(api, config, ar.clone());
            stores.push((kind, ar.clone(), store));
            let queue = queue.clone();
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut stream = std::pin::pin!(stream);
                while let Some(event) = stream.next().await {
                    match event {
                        Ok(e) => {
                            let e = match e {
                                watcher::Event::Apply(o) => {
                                    watcher::Event::Apply(to_value(&o, &ar))
                                }
                                watcher::Event::Delete(o) => {
                                    watcher::Event::Delete(to_value(&o, &ar))
                                }
                                watcher::Event::InitApply(o) => {
                                    watcher::Event::InitApply(to_value(&o, &ar))
                                }
                                watcher::Event::Init => watcher::Event::Init,
                                watcher::Event::InitDone => watcher::Event::InitDone,
                            };
                            on_event(kind, &e, &queue, &seen);
                        }
                        Err(e) => tracing::warn!(kind, error = %e, "watch failed; retrying"),
                    }
                }
            });
        }
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
            stores,
            recorder,
            memo: Arc::default(),
        }
    }

    /// Waits until every store has its first full list.
    ///
    /// # Errors
    /// A store's writer was dropped.
    pub async fn ready(&self) -> Result<(), reflector::store::WriterDropped> {
        for (_, _, store) in &self.stores {
            store.wait_until_ready().await?;
        }
        Ok(())
    }

    /// Every object now, as the engine reads them.
    #[must_use]
    pub fn snapshot(&self) -> Snapshot {
        let started = std::time::Instant::now();
        let mut memo = self
            .memo
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut converted = std::collections::HashMap::with_capacity(memo.converted.len());
        // (source, object as JSON, resourceVersion)
        let mut objects: Vec<(String, Arc<Value>, Option<String>)> = Vec::new();
        for (kind, ar, store) in &self.stores {
            let start = objects.len();
            for o in store.state() {
                let source = format!(
                    "{}/{kind}/{}",
                    o.namespace().unwrap_or_default(),
                    o.name_any()
                );
                let version = o.metadata.resource_version.clone();
                // An object at the version converted last time is the same object.
                let value = match memo.converted.remove(&source) {
                    Some((seen, value)) if seen.is_some() && seen == version => value,
                    _ => Arc::new(to_value(&o, ar)),
                };
                converted.insert(source.clone(), (version.clone(), Arc::clone(&value)));
                objects.push((source, value, version));
            }
            objects[start..].sort_by(|a, b| a.0.cmp(&b.0));
        }
        memo.converted = converted;
        let converted = started.elapsed();
        let snapshot = Snapshot::from_objects_memo(
            objects
                .iter()
                .map(|(s, v, version)| (s.clone(), &**v, version.as_deref())),
            &mut memo.read,
        );
        tracing::debug!(
            objects = objects.len(),
            convert_ms = converted.as_millis(),
            read_ms = (started.elapsed() - converted).as_millis(),
            "snapshot"
        );
        snapshot
    }

    /// Writes a batch's statuses and events, and applies the root Application of every tier
    /// that is written.
    pub async fn write(&self, report: &Report) {
        let shop_sets = report
            .statuses
            .shop_sets
            .iter()
            .map(|(n, s)| (n, serde_json::to_value(s)));
        let tiers = report
            .statuses
            .tiers
            .iter()
            .map(|(n, s)| (n, serde_json::to_value(s)));
        self.patch_statuses(ApiResource::erase::<ShopSet>(&()), shop_sets)
            .await;
        self.patch_statuses(ApiResource::erase::<Tier>(&()), tiers)
            .await;
        let shops = report
            .statuses
            .shops
            .iter()
            .map(|(n, s)| (n, serde_json::to_value(s)));
        self.patch_statuses(ApiResource::erase::<Shop>(&()), shops)
            .await;
        let migrations = report
            .statuses
            .migrations
            .iter()
            .map(|(n, s)| (n, serde_json::to_value(s)));
        self.patch_statuses(ApiResource::erase::<Migration>(&()), migrations)
            .await;
        let previews = report
            .previews
            .iter()
            .map(|(n, s)| (n, serde_json::to_value(s)));
        self.patch_statuses(
            ApiResource::erase::<shopset_crds::PreviewPolicy>(&()),
            previews,
        )
        .await;
        let notifications = report
            .notifications
            .iter()
            .map(|(n, s)| (n, serde_json::to_value(s)));
        self.patch_statuses(
            ApiResource::erase::<shopset_crds::NotificationPolicy>(&()),
            notifications,
        )
        .await;
        let events = report.notes.iter().filter_map(|note| {
            let reference = self.reference(note.kind, &note.name)?;
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
            Some((event, reference))
        });
        futures::stream::iter(events)
            .for_each_concurrent(CONCURRENT_WRITES, |(event, reference)| async move {
                if let Err(e) = self.recorder.publish(&event, &reference).await {
                    tracing::debug!(error = %e, "event not published");
                }
            })
            .await;
        let params = PatchParams::apply(FIELD_MANAGER).force();
        self.previews_applications(report, &params).await;
        for result in &report.synced {
            let Some(app) = shopset_engine::ops::bootstrap::root_application(result) else {
                continue;
            };
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

    /// Applies the previews' root Applications the batch brought up, and deletes those it
    /// removes (Argo CD's resources finalizer then removes what each applied).
    async fn previews_applications(&self, report: &Report, params: &PatchParams) {
        for app in &report.apply_applications {
            let ns = app
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("argocd");
            let name = app
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let api: Api<DynamicObject> =
                Api::namespaced_with(self.client.clone(), ns, &application_resource());
            if let Err(e) = api.patch(name, params, &Patch::Apply(app)).await {
                tracing::warn!(application = %name, error = %e, "preview Application not applied");
            }
        }
        for (ns, name) in &report.delete_applications {
            let api: Api<DynamicObject> =
                Api::namespaced_with(self.client.clone(), ns, &application_resource());
            match api.delete(name, &kube::api::DeleteParams::default()).await {
                Ok(_) => tracing::info!(application = %name, "preview Application deleted"),
                Err(e) => {
                    tracing::warn!(application = %name, error = %e, "preview Application not deleted");
                }
            }
        }
    }

    /// Server-side applies each status to the status subresource of its object.
    async fn patch_statuses<'a>(
        &self,
        resource: ApiResource,
        statuses: impl Iterator<Item = (&'a String, serde_json::Result<Value>)>,
    ) {
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), &self.namespace, &resource);
        let (api, params, resource) = (&api, &params, &resource);
        futures::stream::iter(statuses)
            .for_each_concurrent(CONCURRENT_WRITES, |(name, status)| async move {
                let patch = json!({
                    "apiVersion": resource.api_version,
                    "kind": resource.kind,
                    "status": status.unwrap_or_default(),
                });
                if let Err(e) = api.patch_status(name, params, &Patch::Apply(&patch)).await {
                    tracing::warn!(kind = %resource.kind, %name, error = %e, "status not written");
                }
            })
            .await;
    }

    fn reference(&self, kind: &str, name: &str) -> Option<ObjectReference> {
        let (_, ar, store) = self.stores.iter().find(|(k, _, _)| *k == kind)?;
        store
            .get(&reflector::ObjectRef::new_with(name, ar.clone()).within(&self.namespace))
            .map(|o| o.object_ref(ar))
    }
}

/// Status patches and events in flight at once: a batch that changes 10,000 statuses (a
/// restart, a commit every ShopSet of a tier reports) would take half a minute one request
/// at a time.
const CONCURRENT_WRITES: usize = 16;

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
            let annotations = [
                text("/metadata/annotations/shopset.dev~1confirm-removals"),
                text("/metadata/annotations/shopset.dev~1confirm-moves"),
            ]
            .join("\n");
            let mut seen = seen.lock().unwrap_or_else(PoisonError::into_inner);
            let key = (kind.to_owned(), name.clone());
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
                    if kind == "ShopSet" && !deleted {
                        queue.shop_set_changed(&tier, &name);
                    } else {
                        queue.changed(&tier);
                    }
                    if let Some((_, old_tier, _)) = before
                        && old_tier != tier
                        && !old_tier.is_empty()
                    {
                        queue.changed(&old_tier);
                    }
                }
                "Shop" if !deleted => queue.shop_changed(&name),
                _ => queue.sync_all(),
            }
        }
    }
}
