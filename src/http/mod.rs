//! The axum router: `/graphql` (POST queries, GET the GraphiQL playground), `/admin` (the operator's
//! console), `/webhooks/sns`, `/healthz`, `/readyz`.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use async_graphql::ServerError;
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::{
    Json, Router,
    extract::{ConnectInfo, MatchedPath, Path, State},
    http::{HeaderMap, Method, Request, StatusCode, header},
    middleware::{self, Next},
    response::{Html, IntoResponse, Response},
    routing::{get, post},
};
use ipnet::IpNet;
use tower_http::{limit::RequestBodyLimitLayer, trace::TraceLayer};

use crate::{
    App, AppContext,
    auth::JwtKeys,
    graphql::{
        AppSchema, RequestContext,
        limits::{self, DocumentLimits},
    },
    inbound::{
        sns::Verifier,
        webhook::{self as webhooks, WebhookError},
    },
};

/// Largest request body accepted: a GraphQL document with variables is a few kilobytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(Clone)]
pub struct HttpState {
    schema: AppSchema,
    jwt: Arc<JwtKeys>,
    context: AppContext,
    trusted_proxies: Arc<Vec<IpNet>>,
    sns: Verifier,
}

impl HttpState {
    pub fn new(app: App) -> Self {
        Self {
            trusted_proxies: Arc::new(app.context.config.trusted_proxies.clone()),
            sns: Verifier::new(app.context.config.sns.clone()),
            context: app.context,
            schema: app.schema,
            jwt: Arc::new(app.jwt),
        }
    }
}

pub fn router(state: HttpState) -> Router {
    Router::new()
        .route(
            "/graphql",
            get(graphiql)
                .post(graphql)
                .route_layer(middleware::from_fn(require_json)),
        )
        .route("/graphiql/{file}", get(graphiql_asset))
        .route("/webhooks/sns", post(sns_webhook))
        .route("/admin", get(console))
        .route("/admin/assets/{file}", get(console_asset))
        .route("/admin/consent.csv", get(consent_csv))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                let path = request
                    .extensions()
                    .get::<MatchedPath>()
                    .map(MatchedPath::as_str)
                    .unwrap_or("unmatched");
                tracing::info_span!("http", method = %request.method(), path)
            }),
        )
        .with_state(state)
}

/// A POST to `/graphql` must say that its body is JSON (`Content-Type: application/json`): a body
/// sent as `text/plain` or a form is what a cross-site page can send without asking, so it gets 415
/// and is never executed.
async fn require_json(request: Request<axum::body::Body>, next: Next) -> Response {
    if request.method() != Method::POST || is_json(request.headers()) {
        return next.run(request).await;
    }
    (
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Json(serde_json::json!({
            "errors": [{
                "message": "Send the query as JSON, with the header Content-Type: application/json.",
                "extensions": { "code": "UNSUPPORTED_MEDIA_TYPE" }
            }]
        })),
    )
        .into_response()
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

async fn graphql(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    request: GraphQLRequest,
) -> GraphQLResponse {
    let auth = state
        .jwt
        .authenticate(headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()));
    let context = RequestContext {
        auth,
        client_ip: Some(client_ip(peer.ip(), &headers, &state.trusted_proxies)),
    };
    let mut request = request.into_inner().data(context);
    // Parsed and measured here, in linear time, before validation can expand anything.
    let measured = request.parsed_query().map_err(|e| vec![e]).and_then(|doc| {
        limits::check(doc, &DocumentLimits::SERVICE)
            .map_err(|too_large| vec![ServerError::new(too_large.to_string(), None)])
    });
    let mut response = match measured {
        Ok(_) => state.schema.execute(request).await,
        Err(errors) => async_graphql::Response::from_errors(errors),
    };
    // Parse, validation and argument errors come from async-graphql without a code: they are the
    // client's to fix.
    for error in &mut response.errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            extensions.set("code", "BAD_USER_INPUT");
        }
    }
    response.into()
}

/// The GraphiQL playground, self-hosted (see `assets/graphiql/README.md`): it works without a CDN.
async fn graphiql() -> impl IntoResponse {
    Html(include_str!("../../assets/graphiql/index.html"))
}

async fn graphiql_asset(Path(file): Path<String>) -> Response {
    let (body, content_type): (&'static [u8], &str) = match file.as_str() {
        "graphiql.min.js" => (include_bytes!("../../assets/graphiql/graphiql.min.js"), JS),
        "graphiql.min.css" => (
            include_bytes!("../../assets/graphiql/graphiql.min.css"),
            CSS,
        ),
        "react.production.min.js" => (
            include_bytes!("../../assets/graphiql/react.production.min.js"),
            JS,
        ),
        "react-dom.production.min.js" => (
            include_bytes!("../../assets/graphiql/react-dom.production.min.js"),
            JS,
        ),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    // Vendored and versioned: a day in the browser's cache is safe.
    static_file(body, content_type, "public, max-age=86400")
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// A file built into the binary, served with its type and caching rule.
fn static_file(body: &'static [u8], content_type: &str, cache: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, cache),
        ],
        body,
    )
        .into_response()
}

/// The console's address for a token: `http://<addr>/admin#token=...`. A wildcard listen address
/// (`0.0.0.0`, `[::]`) becomes loopback, which a browser on the same machine can open. The token rides
/// in the fragment, which browsers never send to a server or put in a Referer.
pub fn console_url(listen: SocketAddr, token: &str) -> String {
    let mut addr = listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr.ip() {
            IpAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        });
    }
    format!("http://{addr}/admin#token={token}")
}

/// What the console's page may load and talk to: its own files and the API, nothing else.
const CONSOLE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The operator's console (see `assets/console/README.md`): a static page that signs in with an admin
/// token and reads everything through the GraphQL API; nothing with data in it is rendered here.
async fn console() -> impl IntoResponse {
    (
        [
            (header::CONTENT_SECURITY_POLICY, CONSOLE_POLICY),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Html(include_str!("../../assets/console/index.html")),
    )
}

async fn console_asset(Path(file): Path<String>) -> Response {
    let (body, content_type): (&'static [u8], &str) = match file.as_str() {
        "console.js" => (include_bytes!("../../assets/console/console.js"), JS),
        "console.css" => (include_bytes!("../../assets/console/console.css"), CSS),
        "chart.umd.min.js" => (include_bytes!("../../assets/console/chart.umd.min.js"), JS),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    // The console's own files change with the service: the browser asks again each time.
    static_file(body, content_type, "no-cache")
}

/// Serves `GET /metrics` on its own address until `shutdown`; returns the bound address.
pub async fn serve_metrics(
    context: AppContext,
    addr: SocketAddr,
    shutdown: tokio_util::sync::CancellationToken,
) -> anyhow::Result<SocketAddr> {
    use anyhow::Context as _;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on METRICS_ADDR {addr}"))?;
    let bound = listener.local_addr()?;
    let router = Router::new()
        .route(
            "/metrics",
            get(|State(ctx): State<AppContext>| async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    ctx.metrics.render(&ctx).await,
                )
            }),
        )
        .with_state(context);
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

/// SNS deliveries: delivery events and replies. 200 once handled (or already handled), 403 for a
/// delivery that fails verification, 400 for one that is not an SNS message; nothing is written for
/// either. A database error answers 500, so SNS delivers the message again later.
async fn sns_webhook(State(state): State<HttpState>, body: axum::body::Bytes) -> Response {
    let received = webhooks::receive(&state.context, &state.sns, &body).await;
    let (kind, outcome) = match &received {
        Ok(handled) => handled.labels(),
        Err(WebhookError::Refused(e)) if e.status() == 400 => ("unknown", "malformed"),
        Err(WebhookError::Refused(_)) => ("unknown", "refused"),
        Err(WebhookError::BadMessage(_)) => ("unknown", "malformed"),
        Err(WebhookError::Db(_)) => ("unknown", "error"),
    };
    state
        .context
        .metrics
        .webhook_deliveries
        .with_label_values(&[kind, outcome])
        .inc();
    match received {
        Ok(handled) => (
            StatusCode::OK,
            Json(serde_json::json!({ "status": handled.as_str() })),
        )
            .into_response(),
        Err(WebhookError::Refused(refusal)) => {
            tracing::warn!(reason = %refusal, "SNS delivery refused");
            let status = StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::FORBIDDEN);
            (
                status,
                Json(serde_json::json!({ "error": refusal.to_string() })),
            )
                .into_response()
        }
        Err(WebhookError::BadMessage(why)) => {
            tracing::warn!(reason = %why, "SNS message refused");
            (
                StatusCode::BAD_REQUEST,
                Json(serde_json::json!({ "error": why })),
            )
                .into_response()
        }
        Err(WebhookError::Db(error)) => {
            tracing::error!(%error, "SNS delivery not stored; SNS will deliver it again");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(serde_json::json!({ "error": "not stored; try again" })),
            )
                .into_response()
        }
    }
}

/// The days of a consent export.
#[derive(Debug, serde::Deserialize)]
struct ExportRange {
    from: Option<String>,
    to: Option<String>,
}

/// `GET /admin/consent.csv?from=YYYY-MM-DD&to=YYYY-MM-DD` (admin token): every consent given or
/// revoked on those UTC days (`to` included), oldest first, as CSV: the records a business keeps for the
/// TCPA's four-year limitation period. Read in pages of 1,000 through the `occurred_at` index.
async fn consent_csv(
    State(state): State<HttpState>,
    headers: HeaderMap,
    axum::extract::Query(range): axum::extract::Query<ExportRange>,
) -> Response {
    let refuse = |status: StatusCode, message: String| {
        (status, Json(serde_json::json!({ "error": message }))).into_response()
    };
    match state
        .jwt
        .authenticate(headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()))
    {
        Ok(viewer) if viewer.role == crate::auth::Role::Admin => {}
        Ok(_) => {
            return refuse(
                StatusCode::FORBIDDEN,
                "The consent export needs a token with role admin.".into(),
            );
        }
        Err(e) => return refuse(StatusCode::UNAUTHORIZED, e.to_string()),
    }
    let day = |name: &str, value: &Option<String>| -> Result<chrono::NaiveDate, String> {
        let value = value
            .as_deref()
            .ok_or_else(|| format!("Add {name}=YYYY-MM-DD to the address."))?;
        chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d")
            .map_err(|_| format!("{name}={value} is not a date; write it YYYY-MM-DD."))
    };
    let (from, to) = match (day("from", &range.from), day("to", &range.to)) {
        (Ok(from), Ok(to)) if from <= to => (from, to),
        (Ok(_), Ok(_)) => {
            return refuse(StatusCode::BAD_REQUEST, "from must not be after to.".into());
        }
        (Err(e), _) | (_, Err(e)) => return refuse(StatusCode::BAD_REQUEST, e),
    };
    let start = |d: chrono::NaiveDate| d.and_time(chrono::NaiveTime::MIN).and_utc();
    let filter = crate::store::consent::ConsentFilter {
        from: Some(start(from)),
        to: Some(start(to + chrono::Duration::days(1))),
        ..Default::default()
    };
    let mut out = csv::Writer::from_writer(Vec::new());
    let header_row = [
        "occurred_at",
        "user_id",
        "action",
        "method",
        "phone_number",
        "ip",
    ];
    if let Err(error) = out.write_record(header_row) {
        tracing::error!(%error, "consent export");
    }
    let mut after = None;
    loop {
        let rows =
            match crate::store::consent::in_order(&state.context.db, &filter, after, 1_000).await {
                Ok(rows) => rows,
                Err(error) => {
                    tracing::error!(%error, "consent export: the database failed");
                    return refuse(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "The export could not be read; try again.".into(),
                    );
                }
            };
        let Some(last) = rows.last() else { break };
        after = Some((last.occurred_at, last.id));
        for row in &rows {
            let record = [
                row.occurred_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                row.user_id.clone(),
                sea_orm::ActiveEnum::to_value(&row.action),
                sea_orm::ActiveEnum::to_value(&row.method),
                row.phone_e164.clone().unwrap_or_default(),
                row.ip.clone().unwrap_or_default(),
            ];
            if let Err(error) = out.write_record(&record) {
                tracing::error!(%error, "consent export");
            }
        }
    }
    let body = out.into_inner().unwrap_or_default();
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"consent-{from}-to-{to}.csv\""),
            ),
        ],
        body,
    )
        .into_response()
}

async fn healthz() -> impl IntoResponse {
    Json(serde_json::json!({ "status": "ok" }))
}

async fn readyz(State(state): State<HttpState>) -> impl IntoResponse {
    match tokio::time::timeout(Duration::from_secs(2), state.context.db.ping()).await {
        Ok(Ok(())) => (
            StatusCode::OK,
            Json(serde_json::json!({ "status": "ready" })),
        ),
        Ok(Err(error)) => {
            tracing::warn!(%error, "readiness check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(
                    serde_json::json!({ "status": "unavailable", "reason": "database unreachable" }),
                ),
            )
        }
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "status": "unavailable", "reason": "database timed out" })),
        ),
    }
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

    #[test]
    fn the_console_url_carries_the_token_in_its_fragment() {
        for (listen, token, url) in [
            (
                "127.0.0.1:8080",
                "abc",
                "http://127.0.0.1:8080/admin#token=abc",
            ),
            ("0.0.0.0:80", "abc", "http://127.0.0.1:80/admin#token=abc"),
            ("[::]:8080", "t", "http://[::1]:8080/admin#token=t"),
            ("10.1.2.3:9000", "t", "http://10.1.2.3:9000/admin#token=t"),
        ] {
            let listen = listen.parse().expect("a socket address");
            assert_eq!(console_url(listen, token), url);
        }
    }
}
