//! `shopctl dashboard`: the controller's dashboard, served from the repositories and the
//! resources (the statuses computed now from Argo CD's Applications when they can be read, as
//! `shopctl status` does).

use std::path::Path;
use std::sync::{Arc, RwLock};

use anyhow::Context as _;

use super::Context;
use crate::load::Source;

pub fn run(
    ctx: &Context,
    source: &Source,
    status_file: Option<&Path>,
    listen: std::net::SocketAddr,
) -> anyhow::Result<bool> {
    let super::Observed {
        resources,
        mut repos,
        statuses,
        from,
    } = ctx.statuses(source, status_file)?;
    let now = k8s_openapi::jiff::Timestamp::now();
    let view =
        shopset_dashboard::View::build(&resources, &statuses, &mut repos, now, from.to_string());
    let shared: shopset_dashboard::Shared = Arc::new(RwLock::new(Arc::new(view)));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        eprintln!(
            "dashboard on http://{} (Ctrl-C stops it)",
            listener.local_addr()?
        );
        axum::serve(listener, shopset_dashboard::router(shared))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .context("serving the dashboard")
    })?;
    Ok(true)
}
