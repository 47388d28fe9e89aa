//! The routes: `/` (tiers), `/shopsets` (filtered and paged), `/shops` (a host or a name
//! prefix), `/failure-domains`, and the JSON API under [`crate::API`]: `tiers`, `shopsets`
//! (the same query), `shopsets/<name>`, `shops` (the same query) and `failure-domains`. Every
//! answer comes from the [`View`] in memory.

use std::sync::{Arc, RwLock};

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query as QueryParams, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use crate::view::{self, Query, ShopQuery, View};

// The routes of a ShopSet's page read git; the rest answer from memory.

/// The view the routes answer from; replaced whole when a new one is computed.
pub type Shared = Arc<RwLock<Arc<View>>>;

fn current(shared: &Shared) -> Arc<View> {
    shared
        .read()
        .map(|v| Arc::clone(&v))
        .unwrap_or_else(|poisoned| Arc::clone(&poisoned.into_inner()))
}

/// The dashboard's routes.
pub fn router(shared: Shared) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/shopsets", get(list))
        .route("/api/v1/tiers", get(api_tiers))
        .route("/api/v1/shopsets", get(api_list))
        .route("/api/v1/shopsets/{name}", get(api_one))
        .route("/shops", get(shops))
        .route("/api/v1/shops", get(api_shops))
        .route("/failure-domains", get(domains))
        .route("/api/v1/failure-domains", get(api_domains))
        .route("/shopsets/{name}", get(one))
        .route("/api/v1/shopsets/{name}/files", get(api_files))
        .route("/activity", get(activity))
        .route("/api/v1/activity", get(api_activity))
        .route("/previews", get(previews))
        .route("/api/v1/previews", get(api_previews))
        .with_state(shared)
}

async fn home(State(s): State<Shared>) -> Html<String> {
    Html(crate::html::tiers(&current(&s)))
}

async fn list(State(s): State<Shared>, QueryParams(q): QueryParams<Query>) -> Html<String> {
    let v = current(&s);
    let found = view::query(&v, &q);
    Html(crate::html::shop_sets(&v, &q, &found))
}

async fn shops(State(s): State<Shared>, QueryParams(q): QueryParams<ShopQuery>) -> Html<String> {
    let v = current(&s);
    let found = view::shops(&v, &q);
    Html(crate::html::shops(&v, &q, &found))
}

async fn api_shops(State(s): State<Shared>, QueryParams(q): QueryParams<ShopQuery>) -> Response {
    let v = current(&s);
    Json(view::shops(&v, &q)).into_response()
}

async fn domains(State(s): State<Shared>) -> Html<String> {
    Html(crate::html::failure_domains(&current(&s)))
}

async fn api_domains(State(s): State<Shared>) -> Json<serde_json::Value> {
    let v = current(&s);
    Json(json!({ "failureDomains": v.failure_domains }))
}

async fn api_tiers(State(s): State<Shared>) -> Json<serde_json::Value> {
    let v = current(&s);
    Json(json!({
        "generated": v.generated,
        "source": v.source,
        "tiers": v.tiers,
    }))
}

async fn api_list(State(s): State<Shared>, QueryParams(q): QueryParams<Query>) -> Response {
    let v = current(&s);
    Json(view::query(&v, &q)).into_response()
}

async fn activity(State(s): State<Shared>) -> Html<String> {
    Html(crate::html::activity(&current(&s)))
}

async fn api_activity(State(s): State<Shared>) -> Json<serde_json::Value> {
    let v = current(&s);
    Json(json!({ "activity": v.activity }))
}

async fn previews(State(s): State<Shared>) -> Html<String> {
    Html(crate::html::previews(&current(&s)))
}

async fn api_previews(State(s): State<Shared>) -> Json<serde_json::Value> {
    let v = current(&s);
    Json(json!({ "previews": v.previews }))
}

fn row<'a>(v: &'a View, name: &str) -> Option<&'a crate::view::ShopSetRow> {
    v.shop_sets
        .binary_search_by(|r| r.name.as_str().cmp(name))
        .ok()
        .map(|i| &v.shop_sets[i])
}

/// A ShopSet's files and history, read from its tier branch at the tip the view saw, with a
/// repository handle of its own (off the async threads).
async fn files(
    v: &View,
    row: &crate::view::ShopSetRow,
) -> Result<shopset_engine::ops::log::ShopSetFiles, String> {
    let path = row
        .path
        .clone()
        .unwrap_or_else(|| shopset_render::layout::shopset_dir(&row.name));
    let Some(at) = v.branches.get(&row.tier).cloned() else {
        return Err(format!("the branch of tier {} could not be read", row.tier));
    };
    if !at.repository.exists() {
        return Err("the system repository has no copy here yet".into());
    }
    tokio::task::spawn_blocking(move || {
        let repo =
            shopset_git::Repo::open_or_init_bare(&at.repository).map_err(|e| e.to_string())?;
        shopset_engine::ops::log::shop_set_files(
            &repo,
            &at.commit,
            &path,
            MAX_TEXT,
            MAX_WALK,
            MAX_HISTORY,
        )
        .map_err(|e| e.to_string())
    })
    .await
    .unwrap_or_else(|e| Err(e.to_string()))
}

/// The text of a ShopSet's files shown on its page, at most (the rest are listed).
const MAX_TEXT: usize = 120 * 1024;
/// The commits of its tier branch its history reads, at most.
const MAX_WALK: usize = 200;
/// The commits its history lists, at most.
const MAX_HISTORY: usize = 20;

async fn one(State(s): State<Shared>, Path(name): Path<String>) -> Response {
    let v = current(&s);
    let Some(r) = row(&v, &name) else {
        return (
            StatusCode::NOT_FOUND,
            Html(format!(
                "<!doctype html><title>not found</title><p>No ShopSet {}</p>",
                crate::html::escape(&name)
            )),
        )
            .into_response();
    };
    let found = files(&v, r).await;
    Html(crate::html::shop_set(&v, r, &found)).into_response()
}

async fn api_files(State(s): State<Shared>, Path(name): Path<String>) -> Response {
    let v = current(&s);
    let Some(r) = row(&v, &name) else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({ "message": format!("no ShopSet {name:?}") })),
        )
            .into_response();
    };
    match files(&v, r).await {
        Ok(f) => Json(f).into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "message": e })),
        )
            .into_response(),
    }
}

async fn api_one(State(s): State<Shared>, Path(name): Path<String>) -> Response {
    let v = current(&s);
    match v.shop_sets.binary_search_by(|r| r.name.as_str().cmp(&name)) {
        Ok(i) => Json(&v.shop_sets[i]).into_response(),
        Err(_) => (
            StatusCode::NOT_FOUND,
            Json(json!({ "message": format!("no ShopSet {name:?}") })),
        )
            .into_response(),
    }
}
