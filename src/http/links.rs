//! `GET /l/{code}`: a short link of a text. A 302 to the address the service stored for it, with the
//! click recorded (its time and text, never the IP or who clicked); a small page and 404 for a code
//! that is unknown or expired. Never a redirect to anything the request itself names.

use axum::{
    Router,
    extract::{Path, State},
    http::{HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Response},
    routing::get,
};

use super::HttpState;

pub(super) fn router() -> Router<HttpState> {
    Router::new().route("/l/{code}", get(follow))
}

const GONE: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Link not found</title></head>\
<body style=\"font-family: system-ui, sans-serif; max-width: 32rem; margin: 4rem auto; padding: 0 1rem\">\
<h1>This link does not work any more</h1>\
<p>Links in our texts last a while and then expire. Open the app to find what the text was about.</p>\
</body></html>";

async fn follow(State(state): State<HttpState>, Path(code): Path<String>) -> Response {
    match state.outbox.follow_link(&code).await {
        Ok(Some(url)) => match HeaderValue::from_str(&url) {
            Ok(location) => (
                StatusCode::FOUND,
                [
                    (header::LOCATION, location),
                    // Every click reaches the service, and the address is not passed on.
                    (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                    (
                        header::REFERRER_POLICY,
                        HeaderValue::from_static("no-referrer"),
                    ),
                ],
            )
                .into_response(),
            Err(_) => (StatusCode::NOT_FOUND, Html(GONE)).into_response(),
        },
        Ok(None) => (
            StatusCode::NOT_FOUND,
            [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
            Html(GONE),
        )
            .into_response(),
        Err(error) => {
            tracing::warn!(%error, "short link: the database did not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, HeaderValue::from_static("1"))],
                Html("<!doctype html><title>Try again</title><p>Please try again in a moment.</p>"),
            )
                .into_response()
        }
    }
}
