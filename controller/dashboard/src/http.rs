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
