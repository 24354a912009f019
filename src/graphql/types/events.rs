//! Delivery events and replies as GraphQL shows them.

use async_graphql::{ID, Object};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

/// One delivery event of a message, as AWS End User Messaging SMS reported it.
pub struct SmsEvent(pub crate::store::receipts::EventRow);

/// One delivery event of a message, as AWS End User Messaging SMS reported it.
#[Object]
impl SmsEvent {
    /// `TEXT_QUEUED`, `TEXT_PENDING`, `TEXT_DELIVERED`, `TEXT_CARRIER_UNREACHABLE`, ...
    async fn event_type(&self) -> &str {
        &self.0.event_type
    }

    /// Whether AWS says nothing more will happen to the message.
    async fn is_final(&self) -> bool {
        self.0.is_final
    }

    /// AWS's `messageStatus`.
    async fn message_status(&self) -> Option<&str> {
        self.0.message_status.as_deref()
    }

    /// AWS's words for it (`messageStatusDescription`).
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    /// `totalMessagePrice`, in US dollars, when the event carries it.
    async fn price(&self) -> Option<Decimal> {
        self.0.price_micros.map(crate::billing::micros_to_dollars)
    }

    /// `totalCarrierFee`, in US dollars, when the event carries it: charged on top of `price`.
    async fn carrier_fee(&self) -> Option<Decimal> {
        self.0
            .carrier_fee_micros
            .map(crate::billing::micros_to_dollars)
    }

    /// The carrier that reported it, when AWS names it.
    async fn carrier_name(&self) -> Option<&str> {
        self.0.carrier_name.as_deref()
    }

    /// When it happened, by AWS's clock.
    async fn occurred_at(&self) -> DateTime<Utc> {
        self.0.event_at
    }

    /// When the service received it.
    async fn received_at(&self) -> DateTime<Utc> {
        self.0.received_at
    }
}

/// A text someone sent to the service's number.
pub struct SmsReply(pub crate::store::receipts::ReplyRow);

/// A text someone sent to the service's number.
#[Object]
impl SmsReply {
    /// The reply's id (increasing).
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// The sender's number, E.164.
    async fn from_phone(&self) -> &str {
        &self.0.from_phone
    }

    /// The service's number it was sent to.
    async fn to_number(&self) -> &str {
        &self.0.to_number
    }

    /// What they texted; empty once removed (SMS_BODY_RETENTION).
    async fn body(&self) -> &str {
        &self.0.body
    }

    /// What the text asked for: `STOP`, `START`, `HELP`, or `NONE`.
    async fn keyword(&self) -> &str {
        match self.0.keyword.as_str() {
            "stop" => "STOP",
            "start" => "START",
            "help" => "HELP",
            _ => "NONE",
        }
    }

    /// When it arrived.
    async fn received_at(&self) -> DateTime<Utc> {
        self.0.received_at
    }
}
