//! Webhooks: what AWS tells the service. `POST /webhooks/sns` takes both SNS topics: delivery events
//! of the configuration set and inbound texts of two-way SMS; the topic tells them apart.

use super::grouped;
use super::{
    receipts::{self, DeliveryEvent, SnsDelivery},
    replies::{self, InboundReply},
    sns,
};

/// What a delivery did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    SubscriptionConfirmed,
    Unsubscribed,
    Duplicate,
    DeliveryEvent,
    Reply,
}

impl Handled {
    /// The metrics labels: what kind of delivery, and what became of it.
    pub fn labels(&self) -> (&'static str, &'static str) {
        match self {
            Self::SubscriptionConfirmed | Self::Unsubscribed => ("subscription", "handled"),
            Self::Duplicate => ("unknown", "duplicate"),
            Self::DeliveryEvent => ("event", "handled"),
            Self::Reply => ("reply", "handled"),
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::SubscriptionConfirmed => "subscription confirmed",
            Self::Unsubscribed => "unsubscribe confirmation noted",
            Self::Duplicate => "already handled",
            Self::DeliveryEvent => "delivery event recorded",
            Self::Reply => "reply recorded",
        }
    }
}

/// Why a delivery was not handled.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error(transparent)]
    Refused(#[from] sns::SnsError),
    /// Verified, but its `Message` is not what the topic carries.
    #[error("{0}")]
    BadMessage(String),
    #[error(transparent)]
    Db(#[from] sea_orm::DbErr),
}

/// Verifies an SNS delivery and acts on it. Nothing is written unless the signature, topic, age and
/// certificate all hold.
pub async fn receive(
    inbound: &super::Inbound,
    region: phonenumber::country::Id,
    verifier: &sns::Verifier,
    body: &[u8],
) -> Result<Handled, WebhookError> {
    let now = inbound.clock.now();
    let envelope = verifier.verify(body, now).await?;
    match envelope.kind.as_str() {
        "SubscriptionConfirmation" => {
            verifier.confirm_subscription(&envelope).await?;
            tracing::info!(
                topic = super::loggable(&envelope.topic_arn),
                "SNS subscription confirmed"
            );
            return Ok(Handled::SubscriptionConfirmed);
        }
        "UnsubscribeConfirmation" => {
            tracing::warn!(
                topic = super::loggable(&envelope.topic_arn),
                "SNS says the subscription was removed"
            );
            return Ok(Handled::Unsubscribed);
        }
        _ => {}
    }
    let delivery = SnsDelivery {
        message_id: &envelope.message_id,
        topic_arn: &envelope.topic_arn,
    };
    let config = verifier.config();
    if config.events_topic_arn.as_deref() == Some(envelope.topic_arn.as_str()) {
        let event = DeliveryEvent::parse(&envelope.message).map_err(WebhookError::BadMessage)?;
        return Ok(
            match grouped::record_grouped(
                inbound,
                &inbound.receipts,
                grouped::Receipt {
                    sns: Some((
                        delivery.message_id.to_owned(),
                        delivery.topic_arn.to_owned(),
                    )),
                    event,
                },
            )
            .await?
            {
                receipts::Recorded::Duplicate => Handled::Duplicate,
                _ => Handled::DeliveryEvent,
            },
        );
    }
    let sent_at = chrono::DateTime::parse_from_rfc3339(&envelope.timestamp)
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or(now);
    let reply = InboundReply::parse(&envelope.message, sent_at, region)
        .map_err(WebhookError::BadMessage)?;
    let outcome = replies::handle_reply(inbound, Some(delivery), &reply).await?;
    Ok(if outcome.duplicate {
        Handled::Duplicate
    } else {
        Handled::Reply
    })
}
