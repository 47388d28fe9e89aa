//! An in-process fake of the Kubernetes API server, for testing the controller's Kubernetes glue
//! with the real `kube` client.
//!
//! [`FakeApi::start`] serves plain HTTP on 127.0.0.1 from its own thread and tokio runtime, until
//! the last handle is dropped. It serves the kinds of [`KINDS`] (all namespaced) at the paths the
//! real server uses, with its verbs: get, list, watch, create, update (PUT), patch (merge, JSON,
//! strategic merge treated as merge, server-side apply), delete and deletecollection, and the
//! `/status` subresource of the kinds that have one. As the real server does, it keeps one global
//! resourceVersion counter bumped by every write; assigns uid, creationTimestamp and generation;
//! bumps `metadata.generation` only when something other than metadata (and status, for kinds with
//! a status subresource) changes; drops `.status` on create and keeps the stored status on writes
//! to the main resource of kinds with a status subresource, while `/status` writes change only
//! `.status`; writes nothing (no new resourceVersion, no event) for a no-op update; answers 409
//! Conflict to a write whose resourceVersion is stale; only marks an object with finalizers for
//! deletion; honours `dryRun=All`; streams watch events from any resourceVersion still in its
//! history, periodic bookmarks, and a 410 Expired `ERROR` event for an older one. Errors are
//! `Status` objects with the real reasons and codes.
//!
//! Simplified: no authentication, admission, validation or schema pruning; server-side apply
//! tracks no field managers, so it never reports conflicts and never removes fields: it creates
//! the object if absent, else deep-merges the applied object into the stored one (maps merged
//! recursively, lists and scalars replaced), and its body must be JSON (as kube sends it), not
//! YAML; label selectors support `k=v`, `k==v`, `k!=v`, `k` and `!k` (no set-based terms) and
//! field selectors `metadata.name` and `metadata.namespace`; `limit` and `continue` are ignored
//! (lists are never paged); an update without resourceVersion is accepted for every kind; a watch
//! with a label selector does not turn "stops matching" into a DELETED event; the watch history
//! is every change since the last [`FakeApi::compact`].

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::convert::Infallible;
use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

/// A kind the fake serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindInfo {
    /// API group, `""` for the core group.
    pub group: &'static str,
    pub version: &'static str,
    pub plural: &'static str,
    pub kind: &'static str,
    /// Whether the kind has a `/status` subresource.
    pub has_status: bool,
}

#[rustfmt::skip]
const fn kind(group: &'static str, version: &'static str, plural: &'static str, kind: &'static str, has_status: bool) -> KindInfo {
    KindInfo { group, version, plural, kind, has_status }
}

/// The kinds served, all namespaced. Argo CD's Application CRD has no status subresource.
#[rustfmt::skip]
pub const KINDS: &[KindInfo] = &[
    kind("shopset.dev", "v1alpha1", "tiers", "Tier", true),
    kind("shopset.dev", "v1alpha1", "configurations", "Configuration", true),
    kind("shopset.dev", "v1alpha1", "shopsets", "ShopSet", true),
    kind("shopset.dev", "v1alpha1", "failuredomains", "FailureDomain", true),
    kind("shopset.dev", "v1alpha1", "shops", "Shop", true),
    kind("shopset.dev", "v1alpha1", "migrations", "Migration", true),
    kind("shopset.dev", "v1alpha1", "previewpolicies", "PreviewPolicy", true),
    kind("shopset.dev", "v1alpha1", "notificationpolicies", "NotificationPolicy", true),
    kind("argoproj.io", "v1alpha1", "applications", "Application", false),
    kind("coordination.k8s.io", "v1", "leases", "Lease", false),
    kind("events.k8s.io", "v1", "events", "Event", false),
    kind("", "v1", "events", "Event", false),
];

impl KindInfo {
    fn api_version(&self) -> String {
        match self.group {
            "" => self.version.to_owned(),
            g => format!("{g}/{}", self.version),
        }
    }

    /// `plural.group`, as the real server names a resource in its messages.
    fn resource(&self) -> String {
        match self.group {
            "" => self.plural.to_owned(),
            g => format!("{}.{g}", self.plural),
        }
    }
}

/// One request, in the terms of Kubernetes RBAC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete` or `deletecollection`.
    pub verb: String,
    /// `""` for the core group.
    pub api_group: String,
    /// The plural.
    pub resource: String,
    pub subresource: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
}

/// A handle on a running fake API server; clones share it; the last one dropped stops it.
#[derive(Clone)]
pub struct FakeApi {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl FakeApi {
    /// Starts a fake that sends a watch bookmark every second.
    #[must_use]
    pub fn start() -> Self {
        Self::start_with_bookmarks(Duration::from_secs(1))
    }

    /// Starts a fake that sends a watch bookmark every `every` (when the client allows them).
    #[must_use]
    pub fn start_with_bookmarks(every: Duration) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        listener.set_nonblocking(true).expect("non-blocking");
        let addr = listener.local_addr().expect("a local address");
        let changed = watch::channel(()).0;
        let store = Mutex::default();
        let shared = Arc::new(Shared {
            store,
            changed,
            bookmark_every: every,
        });
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        let (stop, stopped) = oneshot::channel::<()>();
        let serve = move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            rt.expect("a tokio runtime").block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("a listener");
                tokio::select! {
                    _ = axum::serve(listener, app).into_future() => {}
                    _ = stopped => {}
                }
            });
            // Dropping the runtime ends every connection and open watch.
        };
        let thread = std::thread::Builder::new()
            .name("fake-api".into())
            .spawn(serve);
        let thread = Some(thread.expect("spawn the fake API server"));
        let inner = Inner {
            shared,
            addr,
            stop: Some(stop),
            thread,
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// `http://127.0.0.1:PORT`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://{}", self.inner.addr)
    }

    /// A client configuration for this server, default namespace `default`.
    #[must_use]
    pub fn kube_config(&self) -> kube::Config {
        kube::Config::new(self.url().parse().expect("a valid URL"))
    }

    fn shared(&self) -> &Shared {
        &self.inner.shared
    }

    /// Creates or replaces an object from a full object (including `.status`, ignoring its
    /// resourceVersion), as Argo CD or a person would; emits ADDED or MODIFIED. Namespace
    /// `default` when absent. Returns the stored object. Panics on an unknown kind.
    pub fn apply_object(&self, object: Value) -> Value {
        let (api_version, kind) = (&object["apiVersion"], &object["kind"]);
        let k = KINDS
            .iter()
            .find(|k| k.api_version() == *api_version && k.kind == *kind);
        let k = k.unwrap_or_else(|| panic!("the fake serves no {api_version} {kind}"));
        let ns = str_at(&object, "/metadata/namespace")
            .unwrap_or("default")
            .to_owned();
        let name = str_at(&object, "/metadata/name")
            .expect("metadata.name")
            .to_owned();
        let stored = self.shared().write(|st| {
            if st.objects.contains_key(&key(k, &ns, &name)) {
                st.update(k, &ns, &name, object, Mode::Force)
            } else {
                st.create(k, &ns, object, true)
            }
        });
        stored.unwrap_or_else(|e| panic!("apply_object: {}", e.message))
    }

    /// Writes a kubeconfig at `path` for this server, with `namespace` as its context's
    /// default namespace when given.
    pub fn write_kubeconfig(&self, path: &std::path::Path, namespace: Option<&str>) {
        let namespace = namespace.map_or(String::new(), |ns| format!("    namespace: {ns}\n"));
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {}\n\
             contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n{namespace}\
             current-context: fake\nusers:\n- name: fake\n  user: {{}}\n",
            self.url()
        );
        std::fs::write(path, text).expect("kubeconfig");
    }

    /// Applies every resource document under `dir` (as `kubectl apply -f dir` would), each in
    /// its own namespace or, when it names none, in `namespace`. Panics on an unreadable file.
    pub fn load_resources(&self, dir: &std::path::Path, namespace: &str) {
        let docs = shopset_engine::files::read_documents(&[dir.to_owned()], &[]);
        assert!(docs.unreadable.is_empty(), "{:?}", docs.unreadable);
        for (_, mut doc) in docs.documents {
            if doc
                .pointer("/metadata/namespace")
                .is_none_or(Value::is_null)
            {
                doc["metadata"]["namespace"] = Value::from(namespace);
            }
            self.apply_object(doc);
        }
    }

    /// The stored object, if any.
    #[must_use]
    pub fn get_object(&self, group: &str, plural: &str, ns: &str, name: &str) -> Option<Value> {
        let key = (group.into(), plural.into(), ns.into(), name.into());
        self.shared().lock().objects.get(&key).cloned()
    }

    /// Every stored object of a kind, in all namespaces, by namespace and name.
    #[must_use]
    pub fn list_objects(&self, group: &str, plural: &str) -> Vec<Value> {
        let k = find_kind(group, plural);
        k.map(|k| self.shared().lock().of_kind(k).cloned().collect())
            .unwrap_or_default()
    }

    /// Deletes an object as a client would (an object with finalizers is only marked for
    /// deletion); returns it, or `None` if absent. Panics on an unknown kind.
    pub fn delete_object(&self, group: &str, plural: &str, ns: &str, name: &str) -> Option<Value> {
        let k = find_kind(group, plural);
        let k = k.unwrap_or_else(|| panic!("the fake serves no {plural}.{group}"));
        self.shared()
            .write(|st| st.delete(k, ns, name, &Value::Null).ok())
    }

    /// Forgets the watch history: advances the resourceVersion by one (as writes to other
    /// resources would in a real cluster), makes every earlier resourceVersion too old to watch
    /// from (410 Expired), and ends every open watch, so that watchers relist.
    pub fn compact(&self) {
        self.shared().write(|st| {
            st.rv += 1;
            st.horizon = st.rv;
            st.epoch += 1;
            st.log.clear();
        });
    }

    /// The current resourceVersion.
    #[must_use]
    pub fn resource_version(&self) -> u64 {
        self.shared().lock().rv
    }

    /// Every request to a known API path so far, in order.
    #[must_use]
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared().lock().requests.clone()
    }

    /// Forgets the requests served so far.
    pub fn clear_requests(&self) {
        self.shared().lock().requests.clear();
    }

    /// Makes the next request with this RBAC verb on this resource (plural) fail with `code`.
    pub fn fail_next(&self, verb: &str, resource: &str, code: u16) {
        let failure = (verb.into(), resource.into(), code);
        self.shared().lock().failures.push(failure);
    }
}

struct Shared {
    store: Mutex<Store>,
    changed: watch::Sender<()>,
    bookmark_every: Duration,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the store, then wakes the watches.
    fn write<R>(&self, f: impl FnOnce(&mut Store) -> R) -> R {
        let r = f(&mut self.lock());
        self.changed.send_replace(());
        r
    }
}

type K = &'static KindInfo;
type Params = HashMap<String, String>;
type Res<T> = Result<T, ApiError>;
/// group, plural, namespace, name.
type Key = (String, String, String, String);

fn key(k: K, ns: &str, name: &str) -> Key {
    (k.group.into(), k.plural.into(), ns.into(), name.into())
}

fn find_kind(group: &str, plural: &str) -> Option<K> {
    KINDS
        .iter()
        .find(|k| k.group == group && k.plural == plural)
}

#[derive(Clone)]
struct Change {
    rv: u64,
    kind: K,
    event: &'static str,
    object: Value,
}

#[derive(Clone, Default)]
struct Store {
    rv: u64,
    /// Watching from a resourceVersion older than this answers 410 Expired.
    horizon: u64,
    /// Bumped by `compact`: open watches end.
    epoch: u64,
    objects: BTreeMap<Key, Value>,
    /// Every change after `horizon`, in resourceVersion order.
    log: Vec<Change>,
    requests: Vec<RequestRecord>,
    failures: Vec<(String, String, u16)>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A write to the main resource.
    Main,
    /// A write to the `/status` subresource.
    Status,
    /// The test's own write: everything, whatever the resourceVersion.
    Force,
}

#[derive(Debug)]
struct ApiError {
    code: u16,
    reason: &'static str,
    message: String,
}

impl ApiError {
    fn new(code: u16, message: impl Into<String>) -> Self {
        let reason = match code {
            400 => "BadRequest",
            404 => "NotFound",
            405 => "MethodNotAllowed",
            409 => "Conflict",
            410 => "Expired",
            415 => "UnsupportedMediaType",
            422 => "Invalid",
            429 => "TooManyRequests",
            500 => "InternalError",
            503 => "ServiceUnavailable",
            504 => "Timeout",
            _ => "Unknown",
        };
        let message = message.into();
        Self {
            code,
            reason,
            message,
        }
    }

    fn not_found(k: K, name: &str) -> Self {
        Self::new(404, format!("{} \"{name}\" not found", k.resource()))
    }

    fn conflict(k: K, name: &str, why: &str) -> Self {
        let resource = k.resource();
        Self::new(
            409,
            format!("Operation cannot be fulfilled on {resource} \"{name}\": {why}"),
        )
    }

    fn body(&self) -> Value {
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": self.message, "reason": self.reason, "code": self.code})
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (code, Json(self.body())).into_response()
    }
}

fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::new(400, message)
}

/// The API version and the request (verb not yet known) of a request path.
fn parse_path(path: &str) -> Option<(String, RequestRecord)> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return None,
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some(ns.to_string()), rest),
        _ => (None, rest),
    };
    let (plural, name, subresource) = match rest {
        [p] => (p, None, None),
        [p, n] => (p, Some(n.to_string()), None),
        [p, n, s] => (p, Some(n.to_string()), Some(s.to_string())),
        _ => return None,
    };
    let (verb, api_group, resource) = (String::new(), group.into(), plural.to_string());
    let r = RequestRecord {
        verb,
        api_group,
        resource,
        subresource,
        namespace,
        name,
    };
    Some((version.into(), r))
}

fn verb_of(method: &Method, named: bool, q: &Params) -> Option<&'static str> {
    let watch = matches!(q.get("watch").map(String::as_str), Some("true" | "1"));
    Some(match (method.as_str(), named) {
        ("GET", true) => "get",
        ("GET", false) if watch => "watch",
        ("GET", false) => "list",
        ("POST", false) => "create",
        ("PUT", true) => "update",
        ("PATCH", true) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => return None,
    })
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    Query(q): Query<Params>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let not_served = ApiError::new(404, "the server could not find the requested resource");
    let Some((version, mut r)) = parse_path(uri.path()) else {
        return not_served.into_response();
    };
    let Some(verb) = verb_of(&method, r.name.is_some(), &q) else {
        let message = "the server does not allow this method on the requested resource";
        return ApiError::new(405, message).into_response();
    };
    r.verb = verb.into();
    let failure = {
        let mut st = shared.lock();
        st.requests.push(r.clone());
        let at = st
            .failures
            .iter()
            .position(|(v, p, _)| v == verb && *p == r.resource);
        at.map(|i| st.failures.remove(i).2)
    };
    if let Some(code) = failure {
        let message = format!("injected failure of {verb} {}", r.resource);
        return ApiError::new(code, message).into_response();
    }
    let found = KINDS
        .iter()
        .find(|k| k.group == r.api_group && k.version == version && k.plural == r.resource);
    let Some(k) = found else {
        return not_served.into_response();
    };
    let bad_sub = r
        .subresource
        .as_deref()
        .is_some_and(|s| s != "status" || !k.has_status);
    if bad_sub || (r.namespace.is_none() && !matches!(verb, "list" | "watch")) {
        return not_served.into_response();
    }
    if verb == "watch" {
        return start_watch(shared, k, r.namespace, &q).unwrap_or_else(|e| e.into_response());
    }
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let ct = ct
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim();
    let dry_run = q.get("dryRun").is_some_and(|d| d == "All");
    let result = shared.write(|st| {
        if dry_run {
            st.clone().serve(k, &r, &q, ct, &body)
        } else {
            st.serve(k, &r, &q, ct, &body)
        }
    });
    match result {
        Ok((code, v)) => (
            StatusCode::from_u16(code).unwrap_or(StatusCode::OK),
            Json(v),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

fn parse_json(body: &[u8]) -> Res<Value> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| bad_request(format!("not JSON: {e}")))?;
    v.is_object()
        .then_some(v)
        .ok_or_else(|| bad_request("the body is not a JSON object"))
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn set_or_remove(obj: &mut Value, field: &str, value: Option<Value>) {
    if let Some(map) = obj.as_object_mut() {
        match value {
            Some(v) => map.insert(field.into(), v),
            None => map.remove(field),
        };
    }
}

fn has_finalizers(obj: &Value) -> bool {
    let finalizers = obj
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array);
    finalizers.is_some_and(|f| !f.is_empty())
}

/// What `metadata.generation` tracks: all but metadata, and status if it is a subresource.
fn generation_part(k: K, obj: &Value) -> Value {
    let mut v = obj.clone();
    set_or_remove(&mut v, "metadata", None);
    if k.has_status {
        set_or_remove(&mut v, "status", None);
    }
    v
}

/// Server-side apply, simplified: maps merged recursively, lists and scalars replaced.
fn deep_merge(target: &mut Value, applied: &Value) {
    match (target, applied) {
        (Value::Object(t), Value::Object(a)) => {
            for (key, value) in a {
                match t.get_mut(key) {
                    Some(existing) => deep_merge(existing, value),
                    None => {
                        t.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (t, a) => *t = a.clone(),
    }
}

impl Store {
    fn serve(
        &mut self,
        k: K,
        r: &RequestRecord,
        q: &Params,
        ct: &str,
        body: &[u8],
    ) -> Res<(u16, Value)> {
        let (ns, name) = (
            r.namespace.as_deref(),
            r.name.as_deref().unwrap_or_default(),
        );
        let ns_or_empty = ns.unwrap_or_default();
        let mode = if r.subresource.is_some() {
            Mode::Status
        } else {
            Mode::Main
        };
        let object = match r.verb.as_str() {
            "get" => self.get(k, ns_or_empty, name)?,
            "list" => self.list_body(k, self.matching(k, ns, q)?),
            "create" => return Ok((201, self.create(k, ns_or_empty, parse_json(body)?, false)?)),
            "update" => self.update(k, ns_or_empty, name, parse_json(body)?, mode)?,
            "patch" => return self.patch(k, r, q, ct, body),
            "delete" => {
                let opts = if body.is_empty() {
                    Value::Null
                } else {
                    parse_json(body)?
                };
                self.delete(k, ns_or_empty, name, &opts)?
            }
            _ => {
                let mut deleted = Vec::new();
                for o in self.matching(k, ns, q)? {
                    let ns = str_at(&o, "/metadata/namespace").unwrap_or_default();
                    let name = str_at(&o, "/metadata/name").unwrap_or_default();
                    deleted.push(self.delete(k, ns, name, &Value::Null)?);
                }
                self.list_body(k, deleted)
            }
        };
        Ok((200, object))
    }

    fn get(&self, k: K, ns: &str, name: &str) -> Res<Value> {
        let found = self.objects.get(&key(k, ns, name)).cloned();
        found.ok_or_else(|| ApiError::not_found(k, name))
    }

    fn of_kind(&self, k: K) -> impl Iterator<Item = &Value> {
        let from = self.objects.range(key(k, "", "")..);
        from.take_while(move |((g, p, _, _), _)| g == k.group && p == k.plural)
            .map(|(_, o)| o)
    }

    fn matching(&self, k: K, ns: Option<&str>, q: &Params) -> Res<Vec<Value>> {
        let sel = Selector::parse(q)?;
        Ok(self
            .of_kind(k)
            .filter(|o| sel.matches(ns, o))
            .cloned()
            .collect())
    }

    fn list_body(&self, k: K, items: Vec<Value>) -> Value {
        json!({"apiVersion": k.api_version(), "kind": format!("{}List", k.kind),
               "metadata": {"resourceVersion": self.rv.to_string()}, "items": items})
    }

    /// Stores (or, for DELETED, removes) `obj` at a new resourceVersion and logs the change.
    fn put(&mut self, k: K, mut obj: Value, event: &'static str) -> Value {
        self.rv += 1;
        obj["apiVersion"] = json!(k.api_version());
        obj["kind"] = json!(k.kind);
        obj["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        let ns = str_at(&obj, "/metadata/namespace").unwrap_or_default();
        let key = key(k, ns, str_at(&obj, "/metadata/name").unwrap_or_default());
        if event == "DELETED" {
            self.objects.remove(&key);
        } else {
            self.objects.insert(key, obj.clone());
        }
        let (rv, object) = (self.rv, obj.clone());
        self.log.push(Change {
            rv,
            kind: k,
            event,
            object,
        });
        obj
    }

    fn create(&mut self, k: K, ns: &str, mut obj: Value, keep_status: bool) -> Res<Value> {
        if !obj["metadata"].is_object() {
            obj["metadata"] = json!({});
        }
        if str_at(&obj, "/metadata/namespace").is_some_and(|n| n != ns) {
            let message = "the namespace of the provided object does not match the namespace sent on the request";
            return Err(bad_request(message));
        }
        let name = match str_at(&obj, "/metadata/name") {
            Some(name) => name.to_owned(),
            None => match str_at(&obj, "/metadata/generateName") {
                Some(prefix) => format!("{prefix}{:05x}", self.rv + 1),
                None => return Err(ApiError::new(422, "metadata.name: Required value")),
            },
        };
        if self.objects.contains_key(&key(k, ns, &name)) {
            let mut e = ApiError::new(409, format!("{} \"{name}\" already exists", k.resource()));
            e.reason = "AlreadyExists";
            return Err(e);
        }
        let meta = &mut obj["metadata"];
        meta["name"] = json!(name);
        meta["namespace"] = json!(ns);
        meta["uid"] = json!(format!("00000000-0000-4000-8000-{:012}", self.rv + 1));
        meta["creationTimestamp"] = json!(now());
        meta["generation"] = json!(1);
        set_or_remove(meta, "deletionTimestamp", None);
        if k.has_status && !keep_status {
            set_or_remove(&mut obj, "status", None);
        }
        Ok(self.put(k, obj, "ADDED"))
    }

    fn update(&mut self, k: K, ns: &str, name: &str, body: Value, mode: Mode) -> Res<Value> {
        let old = self.get(k, ns, name)?;
        let old_rv = str_at(&old, "/metadata/resourceVersion");
        let body_rv = str_at(&body, "/metadata/resourceVersion");
        if mode != Mode::Force && body_rv.is_some_and(|rv| Some(rv) != old_rv) {
            let why = "the object has been modified; please apply your changes to the latest version and try again";
            return Err(ApiError::conflict(k, name, why));
        }
        if let Some(other) = str_at(&body, "/metadata/name").filter(|n| *n != name) {
            let message =
                format!("the name of the object ({other}) does not match the URL ({name})");
            return Err(bad_request(message));
        }
        let (mut new, status) = match mode {
            Mode::Status => (old.clone(), Some(body.get("status").cloned())),
            Mode::Main if k.has_status => (body, Some(old.get("status").cloned())),
            _ => (body, None),
        };
        if let Some(status) = status {
            set_or_remove(&mut new, "status", status);
        }
        if !new["metadata"].is_object() {
            new["metadata"] = json!({});
        }
        for field in [
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
        ] {
            set_or_remove(
                &mut new["metadata"],
                field,
                old["metadata"].get(field).cloned(),
            );
        }
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
        let generation = old["metadata"]["generation"].as_i64().unwrap_or(1);
        let bump = generation_part(k, &old) != generation_part(k, &new);
        new["metadata"]["generation"] = json!(generation + i64::from(bump));
        new["apiVersion"] = old["apiVersion"].clone();
        new["kind"] = old["kind"].clone();
        if new == old {
            return Ok(old);
        }
        let gone = str_at(&new, "/metadata/deletionTimestamp").is_some() && !has_finalizers(&new);
        Ok(self.put(k, new, if gone { "DELETED" } else { "MODIFIED" }))
    }

    fn patch(
        &mut self,
        k: K,
        r: &RequestRecord,
        q: &Params,
        ct: &str,
        body: &[u8],
    ) -> Res<(u16, Value)> {
        let (ns, name) = (
            r.namespace.as_deref().unwrap_or_default(),
            r.name.as_deref().unwrap_or_default(),
        );
        let mode = if r.subresource.is_some() {
            Mode::Status
        } else {
            Mode::Main
        };
        let patch: Value =
            serde_json::from_slice(body).map_err(|e| bad_request(format!("not JSON: {e}")))?;
        let apply = ct == "application/apply-patch+yaml";
        if apply && q.get("fieldManager").is_none_or(String::is_empty) {
            let message = "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch";
            return Err(ApiError::new(422, message));
        }
        let mut target = match self.get(k, ns, name) {
            Ok(old) => old,
            Err(_) if apply && mode == Mode::Main && patch.is_object() => {
                let mut obj = patch;
                if str_at(&obj, "/metadata/name").is_some_and(|n| n != name) {
                    return Err(bad_request("the name of the object does not match the URL"));
                }
                obj["metadata"]["name"] = json!(name);
                return Ok((201, self.create(k, ns, obj, false)?));
            }
            Err(e) => return Err(e),
        };
        match ct {
            "application/merge-patch+json" | "application/strategic-merge-patch+json" => {
                json_patch::merge(&mut target, &patch);
            }
            "application/json-patch+json" => {
                let ops: json_patch::Patch = serde_json::from_value(patch)
                    .map_err(|e| bad_request(format!("invalid JSON patch: {e}")))?;
                json_patch::patch(&mut target, &ops.0)
                    .map_err(|e| ApiError::new(422, format!("the JSON patch failed: {e}")))?;
            }
            "application/apply-patch+yaml" => deep_merge(&mut target, &patch),
            _ => return Err(ApiError::new(415, format!("unsupported media type {ct:?}"))),
        }
        Ok((200, self.update(k, ns, name, target, mode)?))
    }

    fn delete(&mut self, k: K, ns: &str, name: &str, opts: &Value) -> Res<Value> {
        let old = self.get(k, ns, name)?;
        for (field, what) in [("resourceVersion", "ResourceVersion"), ("uid", "UID")] {
            let wanted = str_at(opts, &format!("/preconditions/{field}"));
            let actual = str_at(&old, &format!("/metadata/{field}")).unwrap_or_default();
            if let Some(wanted) = wanted.filter(|w| *w != actual) {
                let why = format!(
                    "the {what} in the precondition ({wanted}) does not match the {what} in record ({actual}). The object might have been modified"
                );
                return Err(ApiError::conflict(k, name, &why));
            }
        }
        if !has_finalizers(&old) {
            return Ok(self.put(k, old, "DELETED"));
        }
        if str_at(&old, "/metadata/deletionTimestamp").is_some() {
            return Ok(old);
        }
        let mut marked = old;
        marked["metadata"]["deletionTimestamp"] = json!(now());
        Ok(self.put(k, marked, "MODIFIED"))
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Exists,
    Absent,
}

/// One selector term: key, operator, value.
type Term = (String, Op, String);

/// A label and field selector.
struct Selector {
    labels: Vec<Term>,
    fields: Vec<Term>,
}

fn parse_terms(text: &str, fields: bool) -> Res<Vec<Term>> {
    let mut out = Vec::new();
    for t in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let (key, op, value) = if let Some((a, b)) = t.split_once("!=") {
            (a, Op::Ne, b)
        } else if let Some((a, b)) = t.split_once("==").or_else(|| t.split_once('=')) {
            (a, Op::Eq, b)
        } else if fields {
            return Err(bad_request(format!("invalid field selector: {t}")));
        } else if let Some(a) = t.strip_prefix('!') {
            (a, Op::Absent, "")
        } else {
            (t, Op::Exists, "")
        };
        let key = key.trim();
        if key.contains([' ', '(', ')']) {
            return Err(bad_request(format!(
                "the fake does not support the selector {t:?}"
            )));
        }
        if fields && !matches!(key, "metadata.name" | "metadata.namespace") {
            return Err(bad_request(format!("field label not supported: {key}")));
        }
        out.push((key.to_owned(), op, value.trim().to_owned()));
    }
    Ok(out)
}

fn test(value: Option<&str>, (_, op, wanted): &Term) -> bool {
    match op {
        Op::Eq => value == Some(wanted),
        Op::Ne => value != Some(wanted),
        Op::Exists => value.is_some(),
        Op::Absent => value.is_none(),
    }
}

impl Selector {
    fn parse(q: &Params) -> Res<Self> {
        let param = |name: &str| q.get(name).map(String::as_str).unwrap_or_default();
        let labels = parse_terms(param("labelSelector"), false)?;
        let fields = parse_terms(param("fieldSelector"), true)?;
        Ok(Self { labels, fields })
    }

    /// Whether `obj` is in `ns` (if given) and selected.
    fn matches(&self, ns: Option<&str>, obj: &Value) -> bool {
        let label = |key: &str| obj["metadata"]["labels"][key].as_str();
        let field = |key: &str| str_at(obj, &format!("/{}", key.replace('.', "/")));
        ns.is_none_or(|ns| str_at(obj, "/metadata/namespace") == Some(ns))
            && self.labels.iter().all(|t| test(label(&t.0), t))
            && self.fields.iter().all(|t| test(field(&t.0), t))
    }
}

fn event_line(event: &str, object: &Value) -> Bytes {
    let mut line = json!({"type": event, "object": object}).to_string();
    line.push('\n');
    Bytes::from(line)
}

fn bookmark(k: K, rv: u64, initial_end: bool) -> Bytes {
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    let object = json!({"apiVersion": k.api_version(), "kind": k.kind, "metadata": metadata});
    event_line("BOOKMARK", &object)
}

/// One open watch: the lines to send and where it is in the history.
struct Watch {
    shared: Arc<Shared>,
    kind: K,
    ns: Option<String>,
    sel: Selector,
    changed: watch::Receiver<()>,
    epoch: u64,
    /// The resourceVersion up to which every change was sent.
    last: u64,
    bookmarks: bool,
    next_bookmark: Instant,
    deadline: Instant,
    pending: VecDeque<Bytes>,
    done: bool,
}

impl Watch {
    /// Queues the changes after `last` (and a bookmark); ends the watch after a compaction.
    fn flush(&mut self, with_bookmark: bool) {
        let st = self.shared.lock();
        if st.epoch != self.epoch {
            self.done = true;
            return;
        }
        let start = st.log.partition_point(|c| c.rv <= self.last);
        for c in &st.log[start..] {
            if c.kind == self.kind && self.sel.matches(self.ns.as_deref(), &c.object) {
                self.pending.push_back(event_line(c.event, &c.object));
            }
        }
        self.last = st.rv;
        if with_bookmark {
            self.pending
                .push_back(bookmark(self.kind, self.last, false));
        }
    }

    async fn next_line(mut self) -> Option<(Result<Bytes, Infallible>, Self)> {
        loop {
            if let Some(line) = self.pending.pop_front() {
                return Some((Ok(line), self));
            }
            if self.done {
                return None;
            }
            tokio::select! {
                r = self.changed.changed() => match r {
                    Ok(()) => self.flush(false),
                    Err(_) => self.done = true,
                },
                () = tokio::time::sleep_until(self.next_bookmark), if self.bookmarks => {
                    self.next_bookmark += self.shared.bookmark_every;
                    self.flush(true);
                }
                () = tokio::time::sleep_until(self.deadline) => self.done = true,
            }
        }
    }
}

fn start_watch(shared: Arc<Shared>, k: K, ns: Option<String>, q: &Params) -> Res<Response> {
    let param = |name: &str| q.get(name).map(String::as_str).unwrap_or_default();
    let from = match param("resourceVersion") {
        "" => 0,
        v => v
            .parse::<u64>()
            .map_err(|_| bad_request(format!("invalid resourceVersion {v}")))?,
    };
    let timeout = param("timeoutSeconds").parse().unwrap_or(1800);
    let (bookmarks, initial) = (param("allowWatchBookmarks"), param("sendInitialEvents"));
    let (bookmarks, initial) = (bookmarks == "true", initial == "true");
    let now = Instant::now();
    let mut w = Watch {
        changed: shared.changed.subscribe(),
        next_bookmark: now + shared.bookmark_every,
        deadline: now + Duration::from_secs(timeout),
        sel: Selector::parse(q)?,
        shared,
        kind: k,
        ns,
        epoch: 0,
        last: from,
        bookmarks,
        pending: VecDeque::new(),
        done: false,
    };
    {
        let st = w.shared.lock();
        w.epoch = st.epoch;
        if from > 0 && from < st.horizon && !initial {
            let message = format!("too old resource version: {from} ({})", st.horizon);
            w.pending
                .push_back(event_line("ERROR", &ApiError::new(410, message).body()));
            w.done = true;
        } else if from == 0 || initial {
            // "Start at any": the current state as ADDED events, then the changes.
            for o in st.of_kind(k).filter(|o| w.sel.matches(w.ns.as_deref(), o)) {
                w.pending.push_back(event_line("ADDED", o));
            }
            w.last = st.rv;
            if initial && bookmarks {
                w.pending.push_back(bookmark(k, st.rv, true));
            }
        }
    }
    if !w.done {
        w.flush(false);
    }
    let body = Body::from_stream(futures::stream::unfold(w, Watch::next_line));
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// The current UTC time as RFC 3339 with seconds, as Kubernetes writes timestamps.
fn now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, s) = ((secs / 86_400) as i64, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let (h, min) = (s / 3600, s % 3600 / 60);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{:02}Z", s % 60)
}
