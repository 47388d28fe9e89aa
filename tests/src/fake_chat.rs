//! A fake Slack Web API and a webhook receiver on 127.0.0.1, for the notification tests.
//!
//! Slack: `POST /api/chat.postMessage` answers like Slack (`ok`, the channel's id, a new `ts`),
//! `POST /api/chat.update` edits a message it posted (and answers `message_not_found`
//! otherwise); a request without `Authorization: Bearer <token>` gets `not_authed`. The
//! webhook: `POST /hook` answers 200, or the status set by [`FakeChat::fail_with`]. Every
//! request is kept with its headers and body.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// One request received.
#[derive(Debug, Clone)]
pub struct Received {
    /// Its path.
    pub path: String,
    /// Its headers, names in lower case.
    pub headers: BTreeMap<String, String>,
    /// Its body.
    pub body: Vec<u8>,
}

impl Received {
    /// The body as JSON.
    #[must_use]
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

#[derive(Default)]
struct Store {
    received: Vec<Received>,
    /// The messages posted, by ts: their text as last set.
    messages: BTreeMap<String, String>,
    hook_status: Option<u16>,
}

/// The running fake.
pub struct FakeChat {
    store: Arc<Mutex<Store>>,
    /// `http://127.0.0.1:PORT`: Slack's API is `<url>/api`, the webhook `<url>/hook`.
    pub url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The token the fake Slack accepts.
pub const SLACK_TOKEN: &str = "xoxb-test-token";

impl FakeChat {
    /// Starts it.
    #[must_use]
    pub fn start() -> Self {
        let store = Arc::new(Mutex::new(Store::default()));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("non-blocking");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let app = Router::new().fallback(handle).with_state(store.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                tokio::select! {
                    _ = axum::serve(listener, app).into_future() => {}
                    _ = stopped => {}
                }
            });
        });
        Self {
            store,
            url,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The webhook answers `status` from now on (`None`: 200 again).
    pub fn fail_with(&self, status: Option<u16>) {
        self.lock().hook_status = status;
    }

    /// Every request to `path` (`/api/chat.postMessage`, `/api/chat.update`, `/hook`).
    #[must_use]
    pub fn received(&self, path: &str) -> Vec<Received> {
        self.lock()
            .received
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// The Slack messages as they read now, by ts.
    #[must_use]
    pub fn messages(&self) -> BTreeMap<String, String> {
        self.lock().messages.clone()
    }
}

impl Drop for FakeChat {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn slack(body: &Value) -> Response {
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn handle(
    State(store): State<Arc<Mutex<Store>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut s = store.lock().unwrap_or_else(PoisonError::into_inner);
    let path = uri.path().to_owned();
    let headers: BTreeMap<String, String> = headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                v.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    s.received.push(Received {
        path: path.clone(),
        headers: headers.clone(),
        body: body.to_vec(),
    });
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let authed =
        headers.get("authorization").map(String::as_str) == Some(&format!("Bearer {SLACK_TOKEN}"));
    match path.as_str() {
        "/hook" => StatusCode::from_u16(s.hook_status.unwrap_or(200))
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            .into_response(),
        "/api/chat.postMessage" | "/api/chat.update" if !authed => {
            slack(&json!({"ok": false, "error": "not_authed"}))
        }
        "/api/chat.postMessage" => {
            let ts = format!("{}.000100", 1_700_000_000 + s.messages.len());
            let text = json["text"].as_str().unwrap_or_default().to_owned();
            s.messages.insert(ts.clone(), text);
            slack(&json!({"ok": true, "channel": "C0TEST", "ts": ts}))
        }
        "/api/chat.update" => {
            let ts = json["ts"].as_str().unwrap_or_default().to_owned();
            if json["channel"] != "C0TEST" || !s.messages.contains_key(&ts) {
                return slack(&json!({"ok": false, "error": "message_not_found"}));
            }
            let text = json["text"].as_str().unwrap_or_default().to_owned();
            s.messages.insert(ts.clone(), text);
            slack(&json!({"ok": true, "channel": "C0TEST", "ts": ts}))
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}
