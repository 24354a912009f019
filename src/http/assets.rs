//! Files built into the binary (GraphiQL's and the console's), served with their type and caching
//! rule.

use axum::{
    http::header,
    response::{IntoResponse, Response},
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
