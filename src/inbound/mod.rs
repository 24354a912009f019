//! The inbound half: SNS envelopes (verified), delivery receipts, replies (STOP, START, HELP) and the
//! reconciliation of texts that no receipt settled.

pub mod receipts;
pub mod reconcile;
pub mod replies;
pub mod sns;
pub mod webhook;

use chrono::{DateTime, Utc};
use sea_orm::DbErr;

use crate::{
    outbox::Outbox,
    store::{
        self,
        opt_outs::OptOut,
        receipts::{EventRow, ReplyRow},
    },
};

/// The inbound handle: receipts, replies, reconciliation and the webhook, and what they recorded.
/// It answers keywords through the outbox, whose settings and signals it shares.
#[derive(Clone)]
pub struct Inbound {
    outbox: Outbox,
}

impl Inbound {
    pub fn new(outbox: Outbox) -> Self {
        Self { outbox }
    }

    /// Verifies an SNS delivery and acts on it (`webhook::receive`).
    pub async fn receive(
        &self,
        verifier: &sns::Verifier,
        body: &[u8],
    ) -> Result<webhook::Handled, webhook::WebhookError> {
        webhook::receive(&self.outbox, verifier, body).await
    }

    /// Applies a delivery event (`receipts::record_delivery_event`).
    pub async fn record_delivery_event(
        &self,
        sns: Option<receipts::SnsDelivery<'_>>,
        event: &receipts::DeliveryEvent,
    ) -> Result<receipts::Recorded, DbErr> {
        receipts::record_delivery_event(&self.outbox, sns, event).await
    }

    /// Handles a text to our number (`replies::handle_reply`).
    pub async fn handle_reply(
        &self,
        sns: Option<receipts::SnsDelivery<'_>>,
        reply: &replies::InboundReply,
    ) -> Result<replies::ReplyOutcome, DbErr> {
        replies::handle_reply(&self.outbox, sns, reply).await
    }

    /// Settles texts with no final receipt after 72 hours (`reconcile::reconcile`).
    pub async fn reconcile(&self) -> Result<u64, DbErr> {
        reconcile::reconcile(&self.outbox).await
    }

    /// A message's delivery events, oldest first.
    pub async fn events(&self, log_id: i64) -> Result<Vec<EventRow>, DbErr> {
        store::history::events(&self.outbox.db, log_id).await
    }

    /// Replies, newest first, optionally from one number, paged by id.
    pub async fn replies(
        &self,
        from: Option<&str>,
        before_id: Option<i64>,
        limit: u64,
    ) -> Result<Vec<ReplyRow>, DbErr> {
        store::history::replies(&self.outbox.db, from, before_id, limit).await
    }

    /// A number's entry on the opt-out list, if it is on it.
    pub async fn opt_out(&self, e164: &str) -> Result<Option<OptOut>, DbErr> {
        store::opt_outs::get(&self.outbox.db, e164).await
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.outbox.now()
    }
}
