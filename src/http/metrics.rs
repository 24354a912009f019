//! `GET /metrics` (Prometheus), served only on `METRICS_ADDR`, never beside the API.

use std::net::SocketAddr;

use axum::{Router, extract::State, http::header, routing::get};

use crate::Handles;

/// What a scrape reads: the counters, and the database for the gauges.
#[derive(Clone)]
struct Scrape {
    handles: Handles,
}

/// Serves `GET /metrics` on its own address until `shutdown`; returns the bound address.
pub async fn serve(
    handles: &Handles,
    addr: SocketAddr,
    shutdown: tokio_util::sync::CancellationToken,
) -> anyhow::Result<SocketAddr> {
    use anyhow::Context as _;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on METRICS_ADDR {addr}"))?;
    let bound = listener.local_addr()?;
    let scrape = Scrape {
        handles: handles.clone(),
    };
    let router = Router::new()
        .route(
            "/metrics",
            get(|State(scrape): State<Scrape>| async move {
                let h = &scrape.handles;
                (
                    [(
                        header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    h.metrics
                        .render(&h.db, h.clock.now(), h.billing.cap().monthly_limit())
                        .await,
                )
            }),
        )
        .with_state(scrape);
    tokio::spawn(async move {
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        if let Err(error) = served {
            tracing::error!(%error, "metrics server stopped");
        }
    });
    tracing::info!(addr = %bound, "metrics at /metrics");
    Ok(bound)
}
