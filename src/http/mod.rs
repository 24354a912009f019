//! The HTTP surfaces, one router each, merged here: the GraphQL API and its playground
//! (`graphql`), AWS's webhook (`webhooks`), the operator's console and its export (`admin`), health
//! checks (`health`), and Prometheus metrics on their own address (`metrics`). Static files come from
//! `assets`.

mod admin;
mod assets;
mod graphql;
mod health;
mod links;
pub mod metrics;
mod webhooks;
pub mod ws;

use std::{net::IpAddr, sync::Arc, time::Duration};

use axum::{
    Json, Router,
    extract::MatchedPath,
    http::{HeaderMap, Request, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use ipnet::IpNet;
use tokio_util::sync::CancellationToken;
use tower_http::{limit::RequestBodyLimitLayer, timeout::TimeoutLayer, trace::TraceLayer};

pub use admin::console_url;

use crate::{
    App,
    auth::JwtKeys,
    graphql::AppSchema,
    inbound::{Inbound, sns::Verifier},
    metrics::Metrics,
    recipients::Recipients,
};

/// Largest request body accepted: a GraphQL document with variables is a few kilobytes; a bulk call
/// (`upsertRecipients` of 1,000 users) a few hundred.
pub const MAX_BODY_BYTES: usize = 512 * 1024;

/// What the routers use: the schema, the token keys, and the handles behind the non-GraphQL routes.
#[derive(Clone)]
pub struct HttpState {
    schema: AppSchema,
    jwt: Arc<JwtKeys>,
    trusted_proxies: Arc<Vec<IpNet>>,
    sns: Verifier,
    inbound: Inbound,
    recipients: Recipients,
    outbox: crate::outbox::Outbox,
    metrics: Arc<Metrics>,
    db: sea_orm::DatabaseConnection,
    /// WebSocket connections open now, against their caps.
    connections: Arc<ws::Connections>,
    /// Cancelled when the service begins to stop: `/readyz` answers 503, WebSockets close.
    stopping: CancellationToken,
}

impl HttpState {
    pub fn new(app: &App, stopping: CancellationToken) -> Self {
        Self {
            schema: app.schema.clone(),
            connections: ws::Connections::new(app.config.ws_limits, stopping.clone()),
            stopping,
            jwt: Arc::new(app.jwt.clone()),
            trusted_proxies: Arc::new(app.config.trusted_proxies.clone()),
            sns: Verifier::new(app.config.sns.clone()),
            inbound: app.handles.inbound.clone(),
            recipients: app.handles.recipients.clone(),
            outbox: app.handles.outbox.clone(),
            metrics: app.handles.metrics.clone(),
            db: app.handles.db.clone(),
        }
    }
}

/// Longest a request may take. The longest legitimate ones wait for a send's first outcome
/// (`SMS_SYNC_WAIT`, 20 s) or run a reminder scan by hand; past this they are cut, and the client is
/// told (503); a cut scan is safe to run again.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A refusal as every client of the API reads one: JSON with `errors[].message` and
/// `extensions.code`.
pub(crate) fn refusal(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(serde_json::json!({
            "errors": [{ "message": message, "extensions": { "code": code } }]
        })),
    )
        .into_response()
}

/// A body declared longer than the limit that is still read and dropped before its 413: a server that
/// closes a connection with unread bytes makes the kernel answer with a reset, which can take the 413
/// with it, so a client that sends such a body whole would see a broken connection instead of the
/// answer. Larger bodies are cut off unread; the request timeout bounds the wait.
const DRAINED_OVERSIZE_BYTES: u64 = 4 * MAX_BODY_BYTES as u64;

/// Refuses a body whose `Content-Length` is over the limit before any handler runs, reading it first
/// when it is not much larger (see `DRAINED_OVERSIZE_BYTES`), and closes the connection after the
/// answer. Bodies without a declared length are held to the limit by `RequestBodyLimitLayer`.
async fn refuse_declared_oversize(request: Request<axum::body::Body>, next: Next) -> Response {
    use futures_util::StreamExt;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let Some(length) = declared.filter(|n| *n > MAX_BODY_BYTES as u64) else {
        return next.run(request).await;
    };
    if length <= DRAINED_OVERSIZE_BYTES {
        let mut body = request.into_body().into_data_stream();
        while let Some(Ok(_)) = body.next().await {}
    }
    let mut response = StatusCode::PAYLOAD_TOO_LARGE.into_response();
    response.headers_mut().insert(
        header::CONNECTION,
        axum::http::HeaderValue::from_static("close"),
    );
    response
}

/// Gives the refusals made below the handlers (a body over the limit, a timed-out request, a method
/// or path that does not exist) the same JSON shape as every other refusal.
async fn json_refusals(request: Request<axum::body::Body>, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json") || v.starts_with("text/html"));
    if is_json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (code, message) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => (
            "PAYLOAD_TOO_LARGE",
            format!(
                "The request body is larger than {} KiB.",
                MAX_BODY_BYTES / 1024
            ),
        ),
        StatusCode::REQUEST_TIMEOUT | StatusCode::SERVICE_UNAVAILABLE => (
            "TIMEOUT",
            format!(
                "The request took longer than {} seconds and was stopped; try again.",
                REQUEST_TIMEOUT.as_secs()
            ),
        ),
        StatusCode::METHOD_NOT_ALLOWED => (
            "METHOD_NOT_ALLOWED",
            "This address does not take that method.".to_owned(),
        ),
        StatusCode::NOT_FOUND => ("NOT_FOUND", "Nothing is served at this address.".to_owned()),
        other => ("BAD_REQUEST", format!("The request was refused ({other}).")),
    };
    let close = response.headers().get(header::CONNECTION).cloned();
    let mut answer = refusal(status, code, &message);
    if let Some(close) = close {
        answer.headers_mut().insert(header::CONNECTION, close);
    }
    answer
}

/// Every route of the API's address, with the body limit and a tracing span per request.
pub fn router(state: HttpState) -> Router {
    Router::new()
        .merge(graphql::router())
        .merge(webhooks::router())
        .merge(admin::router())
        .merge(health::router())
        .merge(links::router())
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(middleware::from_fn(refuse_declared_oversize))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            REQUEST_TIMEOUT,
        ))
        .layer(middleware::from_fn(json_refusals))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                let path = request
                    .extensions()
                    .get::<MatchedPath>()
                    .map(MatchedPath::as_str)
                    .unwrap_or("unmatched");
                let span = tracing::info_span!(
                    "http",
                    method = %request.method(),
                    path,
                    trace_id = tracing::field::Empty
                );
                // The caller's W3C trace context: this request joins the caller's trace.
                let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok());
                crate::telemetry::continue_trace(
                    &span,
                    header("traceparent"),
                    header("tracestate"),
                );
                span
            }),
        )
        .with_state(state)
}

/// The client's address. `X-Forwarded-For` is believed only when the peer is a trusted proxy; then the
/// list is read from the right, skipping trusted proxies, and the first other address is the client.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    forwarded
        .iter()
        .rev()
        .find(|ip| !is_trusted(ip))
        .or(forwarded.first())
        .copied()
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", xff.parse().expect("header"));
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().expect("net")];
        // An untrusted peer cannot claim another address.
        assert_eq!(
            client_ip(ip("203.0.113.9"), &headers("1.2.3.4"), &trusted),
            ip("203.0.113.9")
        );
        // Through a trusted proxy, the right-most untrusted hop is the client; spoofed entries to its
        // left are ignored.
        assert_eq!(
            client_ip(
                ip("10.0.0.2"),
                &headers("6.6.6.6, 198.51.100.7, 10.0.0.1"),
                &trusted
            ),
            ip("198.51.100.7")
        );
        assert_eq!(
            client_ip(ip("10.0.0.2"), &HeaderMap::new(), &trusted),
            ip("10.0.0.2")
        );
        assert_eq!(
            client_ip(ip("10.0.0.2"), &headers("garbage"), &trusted),
            ip("10.0.0.2")
        );
    }
}
