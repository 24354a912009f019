use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};

use crate::{
    error::ApiResult,
    graphql::handle,
    webhooks::{AttemptRow, DeliveryRow, EndpointRow, Webhooks, event::Kind},
};

/// What a webhook tells of.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum WebhookEventType {
    /// `message.updated`: a message was written or changed status (with its cost and error).
    MessageUpdated,
    /// `message.clicked`: someone followed a short link of a text (the message, the address, the
    /// clicks so far; never who clicked).
    MessageClicked,
    /// `reply.received`: someone texted the service's number.
    ReplyReceived,
    /// `opt_out.added`: a number went on the opt-out list (STOP, AWS, an operator).
    OptOutAdded,
    /// `opt_out.removed`: a number left the opt-out list (START, an operator).
    OptOutRemoved,
    /// `verification.succeeded`: a user proved their number with a code.
    VerificationSucceeded,
}

impl WebhookEventType {
    /// The event kind it names.
    pub fn kind(self) -> Kind {
        match self {
            Self::MessageUpdated => Kind::MessageUpdated,
            Self::MessageClicked => Kind::MessageClicked,
            Self::ReplyReceived => Kind::ReplyReceived,
            Self::OptOutAdded => Kind::OptOutAdded,
            Self::OptOutRemoved => Kind::OptOutRemoved,
            Self::VerificationSucceeded => Kind::VerificationSucceeded,
        }
    }

    /// The event type's name on the wire (`message.updated`).
    pub fn as_str(self) -> &'static str {
        self.kind().as_str()
    }

    fn from_str(name: &str) -> Option<Self> {
        Some(match Kind::parse(name)? {
            Kind::MessageUpdated => Self::MessageUpdated,
            Kind::MessageClicked => Self::MessageClicked,
            Kind::ReplyReceived => Self::ReplyReceived,
            Kind::OptOutAdded => Self::OptOutAdded,
            Kind::OptOutRemoved => Self::OptOutRemoved,
            Kind::VerificationSucceeded => Self::VerificationSucceeded,
        })
    }
}

/// Where a webhook delivery is.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum WebhookDeliveryStatus {
    /// Waiting for its first or next attempt.
    Pending,
    /// The endpoint answered 2xx.
    Delivered,
    /// Given up: three days of failed attempts, or its endpoint was disabled or deleted.
    Failed,
}

pub struct WebhookEndpoint(pub EndpointRow);

/// An address the service posts signed webhooks to.
#[Object]
impl WebhookEndpoint {
    /// The endpoint's id.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// Where webhooks are posted (https).
    async fn url(&self) -> &str {
        &self.0.url
    }

    /// The events it receives.
    async fn event_types(&self) -> Vec<WebhookEventType> {
        self.0
            .event_types
            .split(',')
            .filter_map(WebhookEventType::from_str)
            .collect()
    }

    /// Whether webhooks go to it.
    async fn enabled(&self) -> bool {
        self.0.enabled
    }

    /// Why it is off: an admin, or three days of failures.
    async fn disabled_reason(&self) -> Option<&str> {
        self.0.disabled_reason.as_deref()
    }

    /// Since when every attempt to it failed; null while it answers.
    async fn failing_since(&self) -> Option<DateTime<Utc>> {
        self.0.failing_since
    }

    /// When it was registered.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// An endpoint with its signing secret, shown only when it is created or rotated.
#[derive(SimpleObject)]
pub struct WebhookEndpointSecret {
    /// The endpoint.
    pub endpoint: WebhookEndpoint,
    /// `whsec_` and the base64 of the key: verify each `webhook-signature` with it (Standard Webhooks).
    /// Shown once; keep it secret.
    pub secret: String,
}

pub struct WebhookDelivery(pub DeliveryRow);

/// One event to one endpoint, with its attempts.
#[Object]
impl WebhookDelivery {
    /// The delivery's id (for replayWebhookDelivery).
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// The endpoint it goes to.
    async fn endpoint_id(&self) -> ID {
        ID(self.0.endpoint_id.to_string())
    }

    /// The event's id, the `webhook-id` header: the same on every attempt and every replay.
    async fn event_id(&self) -> &str {
        &self.0.event_id
    }

    /// The event's type (`message.updated`, ...).
    async fn event_type(&self) -> &str {
        &self.0.event_type
    }

    /// The signed body, as posted: `{"type", "timestamp", "data"}`.
    async fn payload(&self) -> &str {
        &self.0.payload
    }

    /// Where it is.
    async fn status(&self) -> WebhookDeliveryStatus {
        match self.0.status.as_str() {
            "delivered" => WebhookDeliveryStatus::Delivered,
            "failed" => WebhookDeliveryStatus::Failed,
            _ => WebhookDeliveryStatus::Pending,
        }
    }

    /// Attempts made so far.
    async fn attempt_count(&self) -> i32 {
        self.0.attempts
    }

    /// When the next attempt is due, while pending.
    async fn next_attempt_at(&self) -> Option<DateTime<Utc>> {
        self.0.next_attempt_at
    }

    /// The HTTP status of the last answer, if one came.
    async fn last_status_code(&self) -> Option<i32> {
        self.0.last_status_code
    }

    /// What went wrong last, in words.
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }

    /// When the event happened.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When the endpoint took it.
    async fn delivered_at(&self) -> Option<DateTime<Utc>> {
        self.0.delivered_at
    }

    /// Every attempt, oldest first.
    async fn attempts(&self, ctx: &Context<'_>) -> ApiResult<Vec<WebhookAttempt>> {
        let rows = handle::<Webhooks>(ctx)?.attempts(self.0.id).await?;
        Ok(rows.into_iter().map(WebhookAttempt).collect())
    }
}

pub struct WebhookAttempt(pub AttemptRow);

/// One attempt to deliver a webhook.
#[Object]
impl WebhookAttempt {
    /// When it was made.
    async fn attempted_at(&self) -> DateTime<Utc> {
        self.0.attempted_at
    }

    /// The endpoint's HTTP status, if it answered.
    async fn status_code(&self) -> Option<i32> {
        self.0.status_code
    }

    /// What went wrong, in words (no answer, a refusal, ...).
    async fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }

    /// How long it took, in milliseconds.
    async fn duration_ms(&self) -> i64 {
        self.0.duration_ms
    }
}
