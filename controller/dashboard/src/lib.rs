//! The read-only dashboard (DESIGN: dashboard): a few pages and one versioned JSON API,
//! `/api/v1/...`, answered from a [`View`] kept in memory, never from the API server or git
//! per request. The controller builds a new view after each batch; `shopctl dashboard` builds
//! one from the repositories and the resource files, for when the controller is down.
//!
//! Room: the view and its queries ([`view`]), the HTML ([`html`], no external asset: it works
//! air-gapped), the routes ([`http`]). Invariant: no page and no answer lists every ShopSet;
//! ShopSets are filtered and paged here, on the server.

pub mod html;
pub mod http;
pub mod view;

pub use http::{Shared, router};
pub use view::{Page, Query, ShopSetRow, View};

/// The API's version, in every JSON path.
pub const API: &str = "/api/v1";
