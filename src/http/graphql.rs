//! `POST /graphql` (the API), `GET /graphql` (the GraphiQL playground) and the playground's files.

use std::net::SocketAddr;

use async_graphql::ServerError;
use async_graphql_axum::GraphQLResponse;
use axum::{
    Router,
    extract::{ConnectInfo, Path, State},
    http::{HeaderMap, Method, Request, StatusCode, header},
    middleware::{self, Next},
    response::{Html, IntoResponse, Response},
    routing::get,
};

use super::{
    HttpState,
    assets::{CSS, JS, page, static_file},
    client_ip, refusal,
};
use crate::graphql::{
    RequestContext,
    limits::{self, DocumentLimits},
};

pub(super) fn router() -> axum::Router<HttpState> {
    Router::new()
        .route(
            "/graphql",
            get(graphiql)
                .post(graphql)
                .route_layer(middleware::from_fn(require_json)),
        )
        .route("/graphiql/{file}", get(graphiql_asset))
}

/// A POST to `/graphql` must say that its body is JSON (`Content-Type: application/json`): a body
/// sent as `text/plain` or a form is what a cross-site page can send without asking, so it gets 415
/// and is never executed.
async fn require_json(request: Request<axum::body::Body>, next: Next) -> Response {
    if request.method() != Method::POST || is_json(request.headers()) {
        return next.run(request).await;
    }
    refusal(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UNSUPPORTED_MEDIA_TYPE",
        "Send the query as JSON, with the header Content-Type: application/json.",
    )
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

/// The GraphQL request in a body, or a sentence saying what is wrong with it: an empty body, one that
/// is not JSON, a batch (one operation per request), or one without a `query` string.
fn parse_request(body: &[u8]) -> Result<async_graphql::Request, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(r#"The request body is empty; send {"query": "..."} as JSON."#.into());
    }
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| format!(r#"The request body is not JSON ({e}); send {{"query": "..."}}."#))?;
    if value.is_array() {
        return Err("Send one operation per request; batches are not accepted.".into());
    }
    if !value.get("query").is_some_and(serde_json::Value::is_string) {
        return Err(r#"The body needs "query": the GraphQL document, as a string."#.into());
    }
    serde_json::from_value(value).map_err(|e| {
        format!(r#"The request does not read as {{"query", "variables", "operationName"}}: {e}"#)
    })
}

async fn graphql(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let request = match parse_request(&body) {
        Ok(request) => request,
        Err(why) => return refusal(StatusCode::BAD_REQUEST, "BAD_USER_INPUT", &why),
    };
    let auth = state
        .jwt
        .authenticate(headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()));
    let context = RequestContext {
        auth,
        client_ip: Some(client_ip(peer.ip(), &headers, &state.trusted_proxies)),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    };
    let mut request = request.data(context);
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
    GraphQLResponse::from(response).into_response()
}

/// The GraphiQL playground, self-hosted (see `assets/graphiql/README.md`): it works without a CDN.
async fn graphiql() -> impl IntoResponse {
    page(
        GRAPHIQL_POLICY,
        Html(include_str!("../../assets/graphiql/index.html")),
    )
}

/// What the playground may load and talk to: its own files and the API. GraphiQL (React, CodeMirror)
/// sets inline styles, so styles alone may be inline; no inline script runs.
const GRAPHIQL_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

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
        "playground.js" => (include_bytes!("../../assets/graphiql/playground.js"), JS),
        "playground.css" => (include_bytes!("../../assets/graphiql/playground.css"), CSS),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    // Vendored and versioned: a day in the browser's cache is safe.
    static_file(body, content_type, "public, max-age=86400")
}
