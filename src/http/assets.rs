//! Files built into the binary (GraphiQL's and the console's), served with their type and caching
//! rule.

use axum::{
    http::header,
    response::{Html, IntoResponse, Response},
};

pub(super) const JS: &str = "text/javascript; charset=utf-8";
pub(super) const CSS: &str = "text/css; charset=utf-8";

/// A file built into the binary, served with its type and caching rule.
pub(super) fn static_file(
    body: &'static [u8],
    content_type: &str,
    cache: &'static str,
) -> Response {
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

/// A page of the service's own (GraphiQL, the console) with the headers both send: its
/// Content-Security-Policy, no framing by other sites, no referrer, no sniffing, no caching.
pub(super) fn page(policy: &'static str, html: Html<&'static str>) -> Response {
    (
        [
            (header::CONTENT_SECURITY_POLICY, policy),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        html,
    )
        .into_response()
}
