//! `POST /webhooks/sns`: what AWS tells the service (delivery events and replies), verified first.

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::post,
};

use super::HttpState;
use crate::inbound::webhook::WebhookError;

pub(super) fn router() -> Router<HttpState> {
    Router::new().route("/webhooks/sns", post(sns_webhook))
}

/// SNS deliveries: delivery events and replies. 200 once handled (or already handled), 403 for a
/// delivery that fails verification, 400 for one that is not an SNS message; nothing is written for
/// either. A database error answers 500, so SNS delivers the message again later.
async fn sns_webhook(State(state): State<HttpState>, body: axum::body::Bytes) -> Response {
    let received = state.inbound.receive(&state.sns, &body).await;
    let (kind, outcome) = match &received {
        Ok(handled) => handled.labels(),
        Err(WebhookError::Refused(e)) if e.status() == 400 => ("unknown", "malformed"),
        Err(WebhookError::Refused(_)) => ("unknown", "refused"),
        Err(WebhookError::BadMessage(_)) => ("unknown", "malformed"),
        Err(WebhookError::Db(_)) => ("unknown", "error"),
    };
    state
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
            tracing::warn!(
                reason = crate::inbound::loggable(&why),
                "SNS message refused"
            );
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
