//! GraphQL over HTTP: `POST /graphql`, `GET /graphql?query=...` for queries (the GraphiQL playground
//! for a browser), the answer's media type as `Accept` asks; and the playground's files.

use std::net::SocketAddr;

use async_graphql::{
    ServerError,
    http::ALL_WEBSOCKET_PROTOCOLS,
    parser::types::{OperationDefinition, OperationType},
};
use axum::{
    Router,
    extract::{ConnectInfo, Path, State, WebSocketUpgrade},
    http::{HeaderMap, Method, Request, StatusCode, header},
    middleware::{self, Next},
    response::{Html, IntoResponse, Response},
    routing::get,
};

use tracing::Instrument as _;

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
            get(get_graphql)
                .post(graphql)
                .route_layer(middleware::from_fn(require_json)),
        )
        .route("/graphql/ws", get(graphql_ws))
        .route("/graphiql/{file}", get(graphiql_asset))
}

/// `GET /graphql/ws`: GraphQL over WebSocket (`graphql-transport-ws`) for subscriptions. The token
/// rides in the `connection_init` payload, `{"Authorization": "Bearer ..."}` (what GraphiQL sends from
/// its Headers tab) or `{"token": "..."}`; a connection without one is accepted, and each operation
/// it starts is refused `UNAUTHENTICATED`. Limits: `ws::serve`.
async fn graphql_ws(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let Some(protocol) = super::ws::protocol(&headers) else {
        return refusal(
            StatusCode::BAD_REQUEST,
            "BAD_USER_INPUT",
            "Ask for the subprotocol graphql-transport-ws (Sec-WebSocket-Protocol).",
        );
    };
    let client_ip = client_ip(peer.ip(), &headers, &state.trusted_proxies);
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // GraphQL messages are small: buffers sized for them (tungstenite's defaults are 128 KiB each
    // way, per connection), and no message larger than a request over HTTP may be.
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .read_buffer_size(super::ws::BUFFER_BYTES)
        .write_buffer_size(super::ws::BUFFER_BYTES)
        .max_message_size(super::MAX_BODY_BYTES)
        .max_frame_size(super::MAX_BODY_BYTES)
        .on_upgrade(move |socket| {
            super::ws::serve(
                socket,
                (state.schema.clone(), protocol),
                (state.jwt.clone(), state.connections.clone()),
                super::ws::Peer {
                    client_ip,
                    user_agent,
                },
            )
        })
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
    let media = Media::accepted(&headers);
    match parse_request(&body) {
        Ok(request) => execute(&state, peer, &headers, request, Method::POST, media).await,
        Err(why) => refusal(StatusCode::BAD_REQUEST, "BAD_USER_INPUT", &why),
    }
}

/// `GET /graphql`: with a `query` parameter, a query executed (GraphQL over HTTP: `variables` as JSON,
/// `operationName`); without one, or for a browser asking for HTML, the GraphiQL playground.
async fn get_graphql(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    let params = match axum::extract::Query::<GetParams>::try_from_uri(&uri) {
        Ok(axum::extract::Query(params)) => params,
        Err(e) => {
            let why = format!(
                "The address's parameters do not read as query, variables, operationName: {e}"
            );
            return refusal(StatusCode::BAD_REQUEST, "BAD_USER_INPUT", &why);
        }
    };
    let Some(query) = params.query.filter(|_| !wants_html(&headers)) else {
        return graphiql().await.into_response();
    };
    let mut request = async_graphql::Request::new(query);
    if let Some(variables) = params.variables.filter(|v| !v.trim().is_empty()) {
        match serde_json::from_str::<serde_json::Value>(&variables) {
            Ok(value @ serde_json::Value::Object(_)) => {
                request = request.variables(async_graphql::Variables::from_json(value));
            }
            _ => {
                let why = "variables must be a JSON object, URL-encoded, such as {\"id\":\"1\"}.";
                return refusal(StatusCode::BAD_REQUEST, "BAD_USER_INPUT", why);
            }
        }
    }
    if let Some(name) = params.operation_name.filter(|n| !n.is_empty()) {
        request = request.operation_name(name);
    }
    execute(
        &state,
        peer,
        &headers,
        request,
        Method::GET,
        Media::accepted(&headers),
    )
    .await
}

/// The parameters of `GET /graphql?query=...`.
#[derive(Debug, serde::Deserialize)]
struct GetParams {
    query: Option<String>,
    variables: Option<String>,
    #[serde(rename = "operationName")]
    operation_name: Option<String>,
}

/// A browser navigating to the address (it asks for HTML first) gets the playground, not JSON.
fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

/// The media type of an answer, as the request's `Accept` asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Media {
    /// `application/json`: the legacy type; every well-formed request is answered 200.
    Json,
    /// `application/graphql-response+json`: request errors are answered 400.
    GraphqlResponse,
}

impl Media {
    const GRAPHQL_RESPONSE: &'static str = "application/graphql-response+json";

    /// `application/graphql-response+json` when the client asks for it at least as much as for
    /// `application/json` (by `q`, a wildcard counting for the latter); otherwise, and without
    /// `Accept`, `application/json`.
    fn accepted(headers: &HeaderMap) -> Self {
        let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
            return Self::Json;
        };
        let (mut graphql, mut json) = (0.0_f32, 0.0_f32);
        for range in accept.split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            match media.as_str() {
                Self::GRAPHQL_RESPONSE => graphql = graphql.max(q),
                "application/json" | "application/*" | "*/*" => json = json.max(q),
                _ => {}
            }
        }
        if graphql > 0.0 && graphql >= json {
            Self::GraphqlResponse
        } else {
            Self::Json
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::GraphqlResponse => Self::GRAPHQL_RESPONSE,
        }
    }
}

/// Runs one GraphQL request for the client at `peer`: authenticated from its headers, measured before
/// validation, answered in `media`. Over GET only queries run (a mutation is 405, as GET must not
/// change anything).
async fn execute(
    state: &HttpState,
    peer: SocketAddr,
    headers: &HeaderMap,
    request: async_graphql::Request,
    method: Method,
    media: Media,
) -> Response {
    let auth = state
        .jwt
        .authenticate(headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()));
    let context = RequestContext {
        auth,
        client_ip: Some(client_ip(peer.ip(), headers, &state.trusted_proxies)),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    };
    let mut request = request.data(context);
    // Parsed and measured here, in linear time, before validation can expand anything.
    let operation = request.operation_name.clone();
    let variables = request.variables.clone();
    let measured = request.parsed_query().map_err(|e| vec![e]).and_then(|doc| {
        limits::check(doc, &DocumentLimits::SERVICE)
            .map_err(|too_large| vec![ServerError::new(too_large.to_string(), None)])?;
        let Some(op) = selected(doc, operation.as_deref()) else {
            return Ok(None);
        };
        check_variables(op, &variables).map_err(|e| vec![e])?;
        Ok(Some(op.ty))
    });
    if method == Method::GET
        && let Ok(Some(kind)) = &measured
        && *kind != OperationType::Query
    {
        let mut refused = refusal(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            &format!(
                "A {kind} changes things or streams: send it with POST (or over /graphql/ws), not GET."
            ),
        );
        refused
            .headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("POST"));
        return refused;
    }
    let mut response = match measured {
        Ok(kind) if crate::telemetry::enabled() => {
            let kind = kind.map_or("operation", |k| match k {
                OperationType::Query => "query",
                OperationType::Mutation => "mutation",
                OperationType::Subscription => "subscription",
            });
            let name = operation.as_deref().unwrap_or_default();
            let span = tracing::info_span!(
                "graphql",
                otel.name = format!("{kind} {name}").trim_end(),
                graphql.operation.type = kind,
                graphql.operation.name = name,
            );
            state.schema.execute(request).instrument(span).await
        }
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
    answer(response, media)
}

/// The operation a document runs: the one named, or its only one. `None` when that is unclear (the
/// validation says why).
fn selected<'d>(
    doc: &'d async_graphql::parser::types::ExecutableDocument,
    name: Option<&str>,
) -> Option<&'d OperationDefinition> {
    use async_graphql::parser::types::DocumentOperations;
    let operation = match (&doc.operations, name) {
        (DocumentOperations::Single(op), _) => op,
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name)?,
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next()?,
        _ => return None,
    };
    Some(&operation.node)
}

/// A request error before anything runs (GraphQL over HTTP): a required variable not given, or one
/// of a built-in scalar type given a list or an object.
fn check_variables(
    operation: &OperationDefinition,
    variables: &async_graphql::Variables,
) -> Result<(), ServerError> {
    use async_graphql::{Value, parser::types::BaseType};
    for definition in &operation.variable_definitions {
        let definition = &definition.node;
        let name = definition.name.node.as_str();
        let ty = &definition.var_type.node;
        let given = variables.get(name).filter(|v| **v != Value::Null);
        let refuse = |why: String| {
            Err(ServerError::new(
                format!("Variable ${name} ({ty}) {why}."),
                Some(definition.name.pos),
            ))
        };
        match given {
            None if !ty.nullable && definition.default_value.is_none() => {
                return refuse("was not given; it is required".into());
            }
            Some(Value::List(_) | Value::Object(_))
                if matches!(&ty.base, BaseType::Named(n)
                    if ["ID", "String", "Int", "Float", "Boolean"].contains(&n.as_str())) =>
            {
                return refuse(format!("must be a single {}", ty.base));
            }
            _ => {}
        }
    }
    Ok(())
}

/// A GraphQL response in `media`. A request error (the document does not parse or validate, its
/// variables do not fit: errors without a path and no data) carries no `data`, and under
/// `application/graphql-response+json` is a 400; anything that executed is a 200.
fn answer(response: async_graphql::Response, media: Media) -> Response {
    let request_error = response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty());
    let mut body = serde_json::to_value(&response).unwrap_or_else(|e| {
        serde_json::json!({ "errors": [{ "message": format!("The answer could not be written: {e}"),
            "extensions": { "code": "INTERNAL" } }] })
    });
    if request_error && let Some(object) = body.as_object_mut() {
        object.remove("data");
    }
    let status = if request_error && media == Media::GraphqlResponse {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    (
        status,
        [
            (header::CONTENT_TYPE, media.content_type()),
            (header::CACHE_CONTROL, "no-store"),
            (header::VARY, "Accept, Authorization"),
        ],
        body.to_string(),
    )
        .into_response()
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
