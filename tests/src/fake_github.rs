//! A fake GitHub REST API for promotion and preview tests, backed by a real bare repository for
//! its git refs: it serves the endpoints shopset uses (refs, pull requests, labels, comments),
//! answers like
//! GitHub (404 and 422 with a `message`, a non-fast-forward ref update refused), marks a pull
//! request merged when its head becomes part of its base, logs every request, and can answer
//! the next requests with a rate limit (403 or 429 with `retry-after`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

#[derive(Default)]
struct Store {
    pulls: Vec<Value>,
    labels: Vec<(u64, Vec<String>)>,
    log: Vec<(String, String)>,
    limited: Vec<u16>,
    /// Every request answers with this status while set (an outage).
    failing: Option<u16>,
    /// (id, pull request, text).
    comments: Vec<(u64, u64, String)>,
    /// Commit statuses set: `owner/repo`, commit, and the request's body.
    statuses: Vec<(String, String, Value)>,
}

struct Shared {
    repo: PathBuf,
    store: Mutex<Store>,
}

/// The running fake.
pub struct FakeGitHub {
    shared: Arc<Shared>,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn git(repo: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("--git-dir")
        .arg(repo)
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

impl FakeGitHub {
    /// Serves `repo` (a bare repository) as every `/repos/<owner>/<repo>`.
    #[must_use]
    pub fn start(repo: &Path) -> Self {
        let shared = Arc::new(Shared {
            repo: repo.to_owned(),
            store: Mutex::default(),
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("non-blocking");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let app = Router::new().fallback(handle).with_state(shared.clone());
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
            shared,
            url,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.shared
            .store
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The next `statuses.len()` requests answer with these statuses (403 or 429) and
    /// `retry-after: 1`.
    pub fn rate_limit_next(&self, statuses: &[u16]) {
        self.store().limited.extend_from_slice(statuses);
    }

    /// Every request answers with `status` (500: an outage) until [`Self::recover`].
    pub fn fail_with(&self, status: u16) {
        self.store().failing = Some(status);
    }

    /// Requests are answered again.
    pub fn recover(&self) {
        self.store().failing = None;
    }

    /// Opens pull request `number` from a head commit that exists only on GitHub's side (a
    /// fork, say), into `base`, with `labels`.
    pub fn open_pull(&self, number: u64, head_sha: &str, base: &str, labels: &[&str]) {
        let pr = json!({
            "number": number,
            "state": "open",
            "merged": false,
            "title": format!("Change {number}"),
            "html_url": format!("https://github.example/acme/shop/pull/{number}"),
            "head": { "ref": format!("change-{number}"), "sha": head_sha },
            "base": { "ref": base },
            "labels": labels.iter().map(|l| json!({ "name": l })).collect::<Vec<_>>(),
        });
        self.store().pulls.push(pr);
    }

    fn with_pull(&self, number: u64, change: impl FnOnce(&mut Value)) {
        let mut store = self.store();
        let pr = store
            .pulls
            .iter_mut()
            .find(|p| p["number"] == number)
            .expect("a pull request of the fake");
        change(pr);
    }

    /// A push to pull request `number`: its head is now `head_sha`.
    pub fn push_pull(&self, number: u64, head_sha: &str) {
        self.with_pull(number, |p| p["head"]["sha"] = json!(head_sha));
    }

    /// Closes pull request `number`, merged or not.
    pub fn close_pull(&self, number: u64, merged: bool) {
        self.with_pull(number, |p| {
            p["state"] = json!("closed");
            p["merged"] = json!(merged);
            if merged {
                p["merged_at"] = json!("2026-12-05T00:00:00Z");
            }
        });
    }

    /// Replaces the labels of pull request `number`.
    pub fn set_labels(&self, number: u64, labels: &[&str]) {
        self.with_pull(number, |p| {
            p["labels"] = json!(
                labels
                    .iter()
                    .map(|l| json!({ "name": l }))
                    .collect::<Vec<_>>()
            );
        });
    }

    /// The comments on pull request `number`: (id, text).
    #[must_use]
    pub fn comments(&self, number: u64) -> Vec<(u64, String)> {
        self.store()
            .comments
            .iter()
            .filter(|(_, n, _)| *n == number)
            .map(|(id, _, text)| (*id, text.clone()))
            .collect()
    }

    /// Every request: (method, path with query).
    #[must_use]
    pub fn requests(&self) -> Vec<(String, String)> {
        self.store().log.clone()
    }

    /// The commit statuses set, in order: `owner/repo`, commit, body (`state`, `context`,
    /// `description`, `target_url`).
    #[must_use]
    pub fn statuses(&self) -> Vec<(String, String, Value)> {
        self.store().statuses.clone()
    }

    /// Every pull request.
    #[must_use]
    pub fn pulls(&self) -> Vec<Value> {
        self.store().pulls.clone()
    }

    /// The labels put on pull request `number`.
    #[must_use]
    pub fn labels(&self, number: u64) -> Vec<String> {
        self.store()
            .labels
            .iter()
            .filter(|(n, _)| *n == number)
            .flat_map(|(_, l)| l.clone())
            .collect()
    }
}

impl Drop for FakeGitHub {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn answer(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn not_found() -> Response {
    answer(StatusCode::NOT_FOUND, &json!({ "message": "Not Found" }))
}

async fn handle(State(s): State<Arc<Shared>>, method: Method, uri: Uri, body: Bytes) -> Response {
    let path = uri.path().to_owned();
    let query = uri.query().unwrap_or_default().to_owned();
    let mut store = s.store.lock().unwrap_or_else(PoisonError::into_inner);
    store
        .log
        .push((method.to_string(), format!("{path}?{query}")));
    if let Some(status) = store.failing {
        return answer(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            &json!({ "message": "Server Error" }),
        );
    }
    if !store.limited.is_empty() {
        let status = store.limited.remove(0);
        return (
            StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN),
            [("retry-after", "1"), ("content-type", "application/json")],
            json!({ "message": "You have exceeded a secondary rate limit" }).to_string(),
        )
            .into_response();
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    // /repos/<owner>/<repo>/<rest>
    let parts: Vec<&str> = path.trim_start_matches('/').splitn(4, '/').collect();
    let (owner, name, rest) = match parts[..] {
        ["repos", owner, name, rest] => (owner.to_owned(), name.to_owned(), rest.to_owned()),
        _ => return not_found(),
    };
    let repo = &s.repo;
    let param = |k: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
            .map(str::to_owned)
    };
    match (method.as_str(), rest.as_str()) {
        ("POST", r) if r.starts_with("statuses/") => {
            let sha = r["statuses/".len()..].to_owned();
            let state = body["state"].as_str().unwrap_or_default();
            let description = body["description"].as_str().unwrap_or_default();
            // GitHub's own limits: four states, 140 characters.
            if !["pending", "success", "failure", "error"].contains(&state)
                || description.chars().count() > 140
            {
                return answer(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &json!({ "message": "Validation Failed" }),
                );
            }
            store
                .statuses
                .push((format!("{owner}/{name}"), sha, body.clone()));
            answer(StatusCode::CREATED, &body)
        }
        ("GET", r) if r.starts_with("git/ref/heads/") => {
            let branch = &r["git/ref/heads/".len()..];
            match git(
                repo,
                &[
                    "rev-parse",
                    "--verify",
                    "-q",
                    &format!("refs/heads/{branch}"),
                ],
            ) {
                Some(sha) => answer(
                    StatusCode::OK,
                    &json!({ "ref": format!("refs/heads/{branch}"), "object": { "sha": sha, "type": "commit" } }),
                ),
                None => not_found(),
            }
        }
        ("POST", "git/refs") => {
            let (Some(r), Some(sha)) = (body["ref"].as_str(), body["sha"].as_str()) else {
                return answer(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &json!({ "message": "ref and sha required" }),
                );
            };
            if git(repo, &["rev-parse", "--verify", "-q", r]).is_some() {
                return answer(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &json!({ "message": "Reference already exists" }),
                );
            }
            match git(repo, &["update-ref", r, sha]) {
                Some(_) => answer(
                    StatusCode::CREATED,
                    &json!({ "ref": r, "object": { "sha": sha } }),
                ),
                None => answer(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &json!({ "message": "Object does not exist" }),
                ),
            }
        }
        ("PATCH", r) if r.starts_with("git/refs/heads/") => {
            let branch = r["git/refs/heads/".len()..].to_owned();
            let full = format!("refs/heads/{branch}");
            let Some(sha) = body["sha"].as_str() else {
                return answer(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &json!({ "message": "sha required" }),
                );
            };
            let Some(current) = git(repo, &["rev-parse", "--verify", "-q", &full]) else {
                return answer(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &json!({ "message": "Reference does not exist" }),
                );
            };
            let force = body["force"].as_bool().unwrap_or(false);
            if !force && git(repo, &["merge-base", "--is-ancestor", &current, sha]).is_none() {
                return answer(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &json!({ "message": "Update is not a fast forward" }),
                );
            }
            if git(repo, &["update-ref", &full, sha, &current]).is_none() {
                return answer(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &json!({ "message": "Object does not exist" }),
                );
            }
            // GitHub marks a pull request merged when its head becomes part of its base.
            for pr in &mut store.pulls {
                let head = pr["head"]["sha"].as_str().unwrap_or_default().to_owned();
                if pr["base"]["ref"] == branch.as_str()
                    && pr["state"] == "open"
                    && git(repo, &["merge-base", "--is-ancestor", &head, sha]).is_some()
                {
                    pr["state"] = json!("closed");
                    pr["merged"] = json!(true);
                    pr["merged_at"] = json!("2026-11-28T00:00:00Z");
                }
            }
            answer(
                StatusCode::OK,
                &json!({ "ref": full, "object": { "sha": sha } }),
            )
        }
        ("GET", "pulls") => {
            let head = param("head");
            let base = param("base");
            let state = param("state").unwrap_or_else(|| "open".into());
            let per_page: usize = param("per_page").and_then(|v| v.parse().ok()).unwrap_or(30);
            let page: usize = param("page").and_then(|v| v.parse().ok()).unwrap_or(1);
            let found: Vec<Value> = store
                .pulls
                .iter()
                .filter(|p| {
                    head.as_ref().is_none_or(|head| {
                        format!("{owner}:{}", p["head"]["ref"].as_str().unwrap_or_default())
                            == head.replace("%3A", ":")
                    })
                })
                .filter(|p| base.as_deref().is_none_or(|b| p["base"]["ref"] == b))
                .filter(|p| state == "all" || p["state"] == state.as_str())
                .skip(per_page * page.saturating_sub(1))
                .take(per_page)
                .cloned()
                .collect();
            answer(StatusCode::OK, &Value::Array(found))
        }
        ("GET", r) if r.starts_with("issues/") && r.ends_with("/comments") => {
            let number: u64 = r["issues/".len()..r.len() - "/comments".len()]
                .parse()
                .unwrap_or(0);
            let list: Vec<Value> = store
                .comments
                .iter()
                .filter(|(_, n, _)| *n == number)
                .map(|(id, _, body)| json!({ "id": id, "body": body }))
                .collect();
            answer(StatusCode::OK, &Value::Array(list))
        }
        ("POST", r) if r.starts_with("issues/") && r.ends_with("/comments") => {
            let number: u64 = r["issues/".len()..r.len() - "/comments".len()]
                .parse()
                .unwrap_or(0);
            let id = 1000 + store.comments.len() as u64;
            let body = body["body"].as_str().unwrap_or_default().to_owned();
            store.comments.push((id, number, body.clone()));
            answer(StatusCode::CREATED, &json!({ "id": id, "body": body }))
        }
        ("PATCH", r) if r.starts_with("issues/comments/") => {
            let id: u64 = r["issues/comments/".len()..].parse().unwrap_or(0);
            let text = body["body"].as_str().unwrap_or_default().to_owned();
            match store.comments.iter_mut().find(|(i, _, _)| *i == id) {
                Some(c) => {
                    c.2 = text.clone();
                    answer(StatusCode::OK, &json!({ "id": id, "body": text }))
                }
                None => not_found(),
            }
        }
        ("POST", "pulls") => {
            let (Some(head), Some(base)) = (body["head"].as_str(), body["base"].as_str()) else {
                return answer(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &json!({ "message": "head and base required" }),
                );
            };
            let Some(sha) = git(
                repo,
                &["rev-parse", "--verify", "-q", &format!("refs/heads/{head}")],
            ) else {
                return answer(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &json!({ "message": "head does not exist" }),
                );
            };
            let number = store.pulls.len() as u64 + 1;
            let pr = json!({
                "number": number,
                "state": "open",
                "merged": false,
                "title": body["title"],
                "body": body["body"],
                "html_url": format!("https://github.example/{owner}/pull/{number}"),
                "head": { "ref": head, "sha": sha },
                "base": { "ref": base },
            });
            store.pulls.push(pr.clone());
            answer(StatusCode::CREATED, &pr)
        }
        ("POST", r) if r.starts_with("issues/") && r.ends_with("/labels") => {
            let number: u64 = r["issues/".len()..r.len() - "/labels".len()]
                .parse()
                .unwrap_or(0);
            let labels: Vec<String> = body["labels"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|l| l.as_str().map(str::to_owned))
                .collect();
            store.labels.push((number, labels.clone()));
            if let Some(pr) = store.pulls.iter_mut().find(|p| p["number"] == number) {
                let mut all: Vec<Value> = pr["labels"].as_array().cloned().unwrap_or_default();
                all.extend(labels.iter().map(|l| json!({ "name": l })));
                pr["labels"] = Value::Array(all);
            }
            answer(
                StatusCode::OK,
                &json!(
                    labels
                        .iter()
                        .map(|l| json!({ "name": l }))
                        .collect::<Vec<_>>()
                ),
            )
        }
        ("GET", r) if r.starts_with("pulls/") => {
            let number: u64 = r["pulls/".len()..].parse().unwrap_or(0);
            store
                .pulls
                .iter()
                .find(|p| p["number"] == number)
                .map_or_else(not_found, |p| answer(StatusCode::OK, p))
        }
        _ => not_found(),
    }
}
