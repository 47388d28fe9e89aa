//! The fake Kubernetes API server (`shopset_tests::fake_api`), exercised with the real `kube`
//! client and `kube::runtime::watcher`.

use std::future::Future;
use std::time::Duration;

use futures::{Stream, StreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use shopset_crds::ShopSet;
use shopset_tests::fake_api::{FakeApi, RequestRecord};

/// Runs `test` on a runtime of its own, failing it after 20 s.
fn run(test: impl Future<Output = ()>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(20), test)
            .await
            .expect("the test finishes within 20 s");
    });
}

fn client(fake: &FakeApi) -> Client {
    Client::try_from(fake.kube_config()).expect("a client")
}

fn shopset_json(name: &str, tier: &str) -> Value {
    json!({"apiVersion": "shopset.dev/v1alpha1", "kind": "ShopSet",
           "metadata": {"name": name, "namespace": "default", "labels": {"tier": tier}},
           "spec": {"tier": tier, "configuration": "plan"}})
}

fn shopset(name: &str, tier: &str) -> ShopSet {
    serde_json::from_value(shopset_json(name, tier)).expect("a ShopSet")
}

/// The HTTP status code and reason of an API error.
fn api_error<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> (u16, String) {
    match result {
        Err(kube::Error::Api(status)) => (status.code, status.reason),
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[test]
fn fake_api_create_get_list_replace_delete() {
    let fake = FakeApi::start();
    run(async {
        let api: Api<ShopSet> = Api::default_namespaced(client(&fake));
        let pp = PostParams::default();
        let created = api
            .create(&pp, &shopset("a", "tier-0"))
            .await
            .expect("create");
        assert_eq!(created.metadata.generation, Some(1));
        assert!(created.metadata.uid.is_some() && created.metadata.creation_timestamp.is_some());
        let (code, reason) = api_error(api.create(&pp, &shopset("a", "tier-0")).await);
        assert_eq!((code, reason.as_str()), (409, "AlreadyExists"));
        api.create(&pp, &shopset("b", "tier-1"))
            .await
            .expect("create b");

        let got = api.get("a").await.expect("get");
        assert_eq!(got.spec.tier, "tier-0");
        assert_eq!(got.resource_version(), created.resource_version());
        let all = api.list(&ListParams::default()).await.expect("list");
        let names: Vec<String> = all.items.iter().map(ResourceExt::name_any).collect();
        assert_eq!(names, ["a", "b"]);
        let rv: u64 = all
            .metadata
            .resource_version
            .expect("a list resourceVersion")
            .parse()
            .expect("numeric");
        assert_eq!(rv, fake.resource_version());
        let tier1 = api
            .list(&ListParams::default().labels("tier=tier-1"))
            .await
            .expect("list");
        assert_eq!(tier1.items.len(), 1);
        let by_name = api
            .list(&ListParams::default().fields("metadata.name=a"))
            .await
            .expect("list");
        assert_eq!(by_name.items[0].name_any(), "a");

        let mut changed = got.clone();
        changed.spec.tier = "tier-2".into();
        let replaced = api.replace("a", &pp, &changed).await.expect("replace");
        assert_eq!(replaced.spec.tier, "tier-2");
        assert_eq!(replaced.metadata.generation, Some(2));
        // `changed` still carries the old resourceVersion.
        let (code, reason) = api_error(api.replace("a", &pp, &changed).await);
        assert_eq!((code, reason.as_str()), (409, "Conflict"));

        api.delete("a", &DeleteParams::default())
            .await
            .expect("delete");
        let (code, reason) = api_error(api.get("a").await);
        assert_eq!((code, reason.as_str()), (404, "NotFound"));
        assert!(
            fake.get_object("shopset.dev", "shopsets", "default", "a")
                .is_none()
        );
        assert_eq!(fake.list_objects("shopset.dev", "shopsets").len(), 1);
    });
}

#[test]
fn fake_api_status_subresource_and_generation() {
    let fake = FakeApi::start();
    run(async {
        let api: Api<ShopSet> = Api::default_namespaced(client(&fake));
        let mut with_status = shopset_json("a", "tier-0");
        with_status["status"] = json!({"sync": "Synced"});
        let created: ShopSet = api
            .create(
                &PostParams::default(),
                &serde_json::from_value(with_status).expect("a ShopSet"),
            )
            .await
            .expect("create");
        assert!(created.status.is_none(), "create drops the status");

        let status =
            json!({"status": {"observedGeneration": 1, "sync": "Synced"}, "spec": {"tier": "x"}});
        let patched = api
            .patch_status("a", &PatchParams::default(), &Patch::Merge(&status))
            .await
            .expect("patch status");
        assert_eq!(patched.metadata.generation, Some(1));
        assert_eq!(
            patched.spec.tier, "tier-0",
            "a status write changes no spec"
        );
        let synced = patched.status.as_ref().and_then(|s| s.sync.clone());
        assert_eq!(synced.as_deref(), Some("Synced"));
        assert_ne!(patched.resource_version(), created.resource_version());

        let mut changed = patched.clone();
        changed.spec.tier = "tier-1".into();
        changed.status = None;
        let replaced = api
            .replace("a", &PostParams::default(), &changed)
            .await
            .expect("replace");
        assert_eq!(replaced.metadata.generation, Some(2));
        assert_eq!(
            replaced.status, patched.status,
            "a spec write keeps the status"
        );

        // A no-op write creates no new resourceVersion.
        let again = api
            .replace("a", &PostParams::default(), &replaced)
            .await
            .expect("replace");
        assert_eq!(again.resource_version(), replaced.resource_version());

        // JSON patch, with a failing test operation.
        let ops = || {
            let ops = json!([
                {"op": "test", "path": "/spec/tier", "value": "tier-1"},
                {"op": "replace", "path": "/spec/tier", "value": "tier-3"}
            ]);
            Patch::Json::<()>(serde_json::from_value(ops).expect("a JSON patch"))
        };
        let pp = PatchParams::default();
        let jp = api.patch("a", &pp, &ops()).await.expect("json patch");
        assert_eq!(jp.spec.tier, "tier-3");
        assert_eq!(jp.metadata.generation, Some(3));
        let (code, _) = api_error(api.patch("a", &pp, &ops()).await);
        assert_eq!(code, 422);
    });
}

#[test]
fn fake_api_server_side_apply_creates_then_updates() {
    let fake = FakeApi::start();
    run(async {
        let api: Api<ShopSet> = Api::default_namespaced(client(&fake));
        let pp = PatchParams::apply("x").force();
        let first = api
            .patch("a", &pp, &Patch::Apply(shopset_json("a", "tier-0")))
            .await
            .expect("apply creates");
        assert_eq!(first.metadata.generation, Some(1));
        let second = json!({"apiVersion": "shopset.dev/v1alpha1", "kind": "ShopSet",
                            "metadata": {"name": "a", "annotations": {"n": "1"}},
                            "spec": {"tier": "tier-1", "configuration": "plan", "maintenance": true}});
        let updated = api
            .patch("a", &pp, &Patch::Apply(second))
            .await
            .expect("apply updates");
        assert_eq!(updated.spec.tier, "tier-1");
        assert!(updated.spec.maintenance);
        assert_eq!(updated.metadata.generation, Some(2));
        assert_eq!(updated.metadata.uid, first.metadata.uid);
        assert_eq!(
            updated.labels().get("tier").map(String::as_str),
            Some("tier-0"),
            "maps merge"
        );
        assert_eq!(
            updated.annotations().get("n").map(String::as_str),
            Some("1")
        );

        let status = json!({"apiVersion": "shopset.dev/v1alpha1", "kind": "ShopSet",
                            "metadata": {"name": "a"}, "status": {"sync": "OutOfSync"}});
        let applied = api
            .patch_status("a", &pp, &Patch::Apply(status))
            .await
            .expect("apply status");
        assert_eq!(applied.metadata.generation, Some(2));
        let without_manager = api
            .patch("a", &PatchParams::default(), &Patch::Apply(json!({})))
            .await;
        assert_eq!(
            api_error(without_manager).0,
            422,
            "apply needs a field manager"
        );
    });
}

#[test]
fn fake_api_application_has_no_status_subresource_and_unknown_kinds_are_404() {
    let fake = FakeApi::start();
    run(async {
        let gvk = GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application");
        let ar = ApiResource::from_gvk_with_plural(&gvk, "applications");
        let api: Api<DynamicObject> = Api::default_namespaced_with(client(&fake), &ar);
        let app = DynamicObject::new("shop-a", &ar).data(
            json!({"spec": {"project": "default"}, "status": {"sync": {"status": "Synced"}}}),
        );
        let created = api
            .create(&PostParams::default(), &app)
            .await
            .expect("create");
        assert_eq!(
            created.data["status"]["sync"]["status"], "Synced",
            "status is kept"
        );
        let status_write = api
            .patch_status(
                "shop-a",
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {}})),
            )
            .await;
        assert_eq!(api_error(status_write).0, 404);
        let health = json!({"status": {"health": {"status": "Healthy"}}});
        let patched = api
            .patch("shop-a", &PatchParams::default(), &Patch::Merge(&health))
            .await
            .expect("patch");
        assert_eq!(patched.data["status"]["health"]["status"], "Healthy");
        assert_eq!(
            patched.metadata.generation,
            Some(2),
            "no status subresource: status counts"
        );

        let unknown =
            ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("x.dev", "v1", "Foo"), "foos");
        let foos: Api<DynamicObject> = Api::default_namespaced_with(client(&fake), &unknown);
        let (code, reason) = api_error(foos.list(&ListParams::default()).await);
        assert_eq!((code, reason.as_str()), (404, "NotFound"));

        let leases: Api<Lease> = Api::default_namespaced(client(&fake));
        let lease: Lease = serde_json::from_value(json!({"metadata": {"name": "leader"},
            "spec": {"holderIdentity": "me"}}))
        .expect("a Lease");
        leases
            .create(&PostParams::default(), &lease)
            .await
            .expect("create lease");
        assert_eq!(fake.list_objects("coordination.k8s.io", "leases").len(), 1);
    });
}

/// The next watcher event, skipping (and counting) errors.
async fn next_event(
    events: &mut (impl Stream<Item = Result<Event<ShopSet>, watcher::Error>> + Unpin),
    errors: &mut Vec<String>,
) -> Event<ShopSet> {
    loop {
        match events.next().await.expect("the watcher never ends") {
            Ok(event) => return event,
            Err(e) => errors.push(e.to_string()),
        }
    }
}

/// Expects Init, one InitApply per name (in order), InitDone.
async fn expect_init(
    events: &mut (impl Stream<Item = Result<Event<ShopSet>, watcher::Error>> + Unpin),
    errors: &mut Vec<String>,
    names: &[&str],
) {
    assert!(
        matches!(next_event(events, errors).await, Event::Init),
        "Init"
    );
    for name in names {
        match next_event(events, errors).await {
            Event::InitApply(s) => assert_eq!(s.name_any(), *name),
            other => panic!("expected InitApply({name}), got {other:?}"),
        }
    }
    assert!(
        matches!(next_event(events, errors).await, Event::InitDone),
        "InitDone"
    );
}

#[test]
fn fake_api_watcher_sees_changes_and_relists_after_compaction() {
    let fake = FakeApi::start_with_bookmarks(Duration::from_millis(100));
    fake.apply_object(shopset_json("before", "tier-0"));
    run(async {
        let api: Api<ShopSet> = Api::all(client(&fake));
        let mut events = watcher::watcher(api, watcher::Config::default())
            .default_backoff()
            .boxed();
        let mut errors = Vec::new();
        expect_init(&mut events, &mut errors, &["before"]).await;
        let pause = || tokio::time::sleep(Duration::from_millis(350)); // a few bookmarks

        fake.apply_object(shopset_json("a", "tier-0"));
        match next_event(&mut events, &mut errors).await {
            Event::Apply(s) => assert_eq!(
                (s.name_any().as_str(), s.spec.tier.as_str()),
                ("a", "tier-0")
            ),
            other => panic!("expected Apply(a), got {other:?}"),
        }
        pause().await;
        let mut edited = shopset_json("a", "tier-1");
        edited["status"] = json!({"sync": "Synced"});
        fake.apply_object(edited);
        match next_event(&mut events, &mut errors).await {
            Event::Apply(s) => {
                assert_eq!(s.spec.tier, "tier-1");
                assert_eq!(s.status.and_then(|s| s.sync).as_deref(), Some("Synced"));
            }
            other => panic!("expected Apply(a) modified, got {other:?}"),
        }
        pause().await;
        assert!(
            fake.delete_object("shopset.dev", "shopsets", "default", "a")
                .is_some()
        );
        match next_event(&mut events, &mut errors).await {
            Event::Delete(s) => assert_eq!(s.name_any(), "a"),
            other => panic!("expected Delete(a), got {other:?}"),
        }
        pause().await;
        assert!(
            errors.is_empty(),
            "no errors before the compaction: {errors:?}"
        );

        fake.compact();
        expect_init(&mut events, &mut errors, &["before"]).await;
        assert!(
            errors.iter().any(|e| e.contains("xpired")),
            "a 410 Expired: {errors:?}"
        );
        fake.apply_object(shopset_json("after", "tier-2"));
        match next_event(&mut events, &mut errors).await {
            Event::Apply(s) => assert_eq!(s.name_any(), "after"),
            other => panic!("expected Apply(after), got {other:?}"),
        }
    });
}

#[test]
fn fake_api_raw_watch_sends_bookmarks_and_410_for_old_versions() {
    let fake = FakeApi::start_with_bookmarks(Duration::from_millis(100));
    fake.apply_object(shopset_json("a", "tier-0"));
    run(async {
        let api: Api<ShopSet> = Api::default_namespaced(client(&fake));
        let wp = WatchParams::default().timeout(15);
        let mut stream = api.watch(&wp, "0").await.expect("watch").boxed();
        let first = stream
            .next()
            .await
            .expect("an event")
            .expect("a good event");
        assert!(
            matches!(first, WatchEvent::Added(ref s) if s.name_any() == "a"),
            "{first:?}"
        );
        let second = stream
            .next()
            .await
            .expect("an event")
            .expect("a good event");
        assert!(matches!(second, WatchEvent::Bookmark(_)), "{second:?}");
        let old = fake.resource_version().to_string();

        fake.compact();
        let rest = tokio::time::timeout(Duration::from_secs(2), stream.collect::<Vec<_>>()).await;
        let rest = rest.expect("compaction ends open watches");
        assert!(
            rest.iter()
                .all(|e| matches!(e, Ok(WatchEvent::Bookmark(_)))),
            "{rest:?}"
        );
        let mut stale = api.watch(&wp, &old).await.expect("watch").boxed();
        match stale.next().await.expect("an event").expect("a good event") {
            WatchEvent::Error(status) => {
                assert_eq!((status.code, status.reason.as_str()), (410, "Expired"))
            }
            other => panic!("expected a 410 error, got {other:?}"),
        }
        assert!(
            stale.next().await.is_none(),
            "the stream ends after the error"
        );

        // A watch ends at its timeout.
        let now = fake.resource_version().to_string();
        let started = tokio::time::Instant::now();
        let short = api
            .watch(&WatchParams::default().timeout(1).disable_bookmarks(), &now)
            .await;
        assert_eq!(short.expect("watch").count().await, 0);
        assert!(started.elapsed() >= Duration::from_millis(900));
    });
}

#[test]
fn fake_api_records_requests_in_rbac_terms_and_injects_failures() {
    let fake = FakeApi::start();
    run(async {
        let client = client(&fake);
        let all: Api<ShopSet> = Api::all(client.clone());
        let mut events = watcher::watcher(all, watcher::Config::default()).boxed();
        expect_init(&mut events, &mut Vec::new(), &[]).await;
        // Keep the watcher running, as a controller does, until its watch is open.
        tokio::spawn(async move { while events.next().await.is_some() {} });
        while !fake.requests().iter().any(|r| r.verb == "watch") {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let api: Api<ShopSet> = Api::default_namespaced(client);
        api.create(&PostParams::default(), &shopset("a", "tier-0"))
            .await
            .expect("create");
        let status = Patch::Merge(json!({"status": {"sync": "Synced"}}));
        api.patch_status("a", &PatchParams::default(), &status)
            .await
            .expect("patch status");
        api.delete("a", &DeleteParams::default())
            .await
            .expect("delete");

        let record =
            |verb: &str, sub: Option<&str>, ns: Option<&str>, name: Option<&str>| RequestRecord {
                verb: verb.into(),
                api_group: "shopset.dev".into(),
                resource: "shopsets".into(),
                subresource: sub.map(Into::into),
                namespace: ns.map(Into::into),
                name: name.map(Into::into),
            };
        let expected = [
            record("list", None, None, None),
            record("watch", None, None, None),
            record("create", None, Some("default"), None),
            record("patch", Some("status"), Some("default"), Some("a")),
            record("delete", None, Some("default"), Some("a")),
        ];
        assert_eq!(fake.requests(), expected);

        fake.clear_requests();
        fake.fail_next("get", "shopsets", 500);
        let (code, reason) = api_error(api.get("a").await);
        assert_eq!((code, reason.as_str()), (500, "InternalError"));
        assert_eq!(
            api_error(api.get("a").await).0,
            404,
            "the failure is injected once"
        );
        // kube retries 503 by default: the caller sees the second answer.
        fake.fail_next("create", "shopsets", 503);
        api.create(&PostParams::default(), &shopset("b", "tier-0"))
            .await
            .expect("retried create");
        let verbs: Vec<String> = fake.requests().into_iter().map(|r| r.verb).collect();
        assert_eq!(verbs, ["get", "get", "create", "create"]);
    });
}
