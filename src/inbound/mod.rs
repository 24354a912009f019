//! The inbound half: SNS envelopes (verified), delivery receipts, replies (STOP, START, HELP) and the
//! reconciliation of texts that no receipt settled.

mod grouped;
pub mod receipts;
pub mod reconcile;
pub mod replies;
pub mod sns;
pub mod webhook;

use chrono::{DateTime, Utc};
use sea_orm::DbErr;

use crate::{
    Clock,
    locale::phone::E164,
    outbox::Outbox,
    store::db::Db,
    store::{
        self,
        opt_outs::OptOut,
        receipts::{EventRow, ReplyRow},
    },
};

/// The most of an outside value a log line or an error message carries.
const LOGGED_CHARS: usize = 200;

/// An outside value (a topic, a URL, an event type, a parse error) fit for a log line: control
/// characters escaped, so it cannot forge a line of its own, and cut after `LOGGED_CHARS` characters,
/// so a 60 KB field is not logged whole.
pub fn loggable(value: &str) -> String {
    let mut out = String::new();
    for (n, c) in value.chars().enumerate() {
        if n == LOGGED_CHARS {
            out.push_str(&format!("...(cut, {} bytes in all)", value.len()));
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// The inbound handle: receipts, replies, reconciliation and the webhook, and what they recorded.
/// Cheap to clone.
#[derive(Clone)]
pub struct Inbound(std::sync::Arc<Parts>);

/// What inbound holds: the database, the clock, the metrics and the SMS settings it shares with the
/// outbox, and the outbox itself only to answer keywords.
pub struct Parts {
    pub(crate) db: Db,
    pub(crate) clock: std::sync::Arc<dyn Clock>,
    pub(crate) metrics: std::sync::Arc<crate::metrics::Metrics>,
    pub(crate) sms: crate::config::SmsConfig,
    /// Where keyword answers (STOP's confirmation, HELP's text) are sent.
    pub(crate) answers: Outbox,
    /// Receipts arriving together on the SNS webhook share a transaction.
    receipts: grouped::ReceiptGroup,
    /// Region of numbers written without `+` (`DEFAULT_PHONE_REGION`).
    default_region: phonenumber::country::Id,
}

impl std::ops::Deref for Inbound {
    type Target = Parts;

    fn deref(&self) -> &Parts {
        &self.0
    }
}

impl Inbound {
    pub fn new(outbox: Outbox, default_region: phonenumber::country::Id) -> Self {
        Self(std::sync::Arc::new(Parts {
            db: outbox.db.clone(),
            clock: outbox.clock.clone(),
            metrics: outbox.metrics.clone(),
            sms: outbox.sms.clone(),
            answers: outbox,
            receipts: Default::default(),
            default_region,
        }))
    }

    /// Verifies an SNS delivery and acts on it (`webhook::receive`).
    pub async fn receive(
        &self,
        verifier: &sns::Verifier,
        body: &[u8],
    ) -> Result<webhook::Handled, webhook::WebhookError> {
        webhook::receive(self, self.default_region, verifier, body).await
    }

    /// Applies a delivery event (`receipts::record_delivery_event`).
    pub async fn record_delivery_event(
        &self,
        sns: Option<receipts::SnsDelivery<'_>>,
        event: &receipts::DeliveryEvent,
    ) -> Result<receipts::Recorded, DbErr> {
        receipts::record_delivery_event(self, sns, event).await
    }

    /// Applies delivery events in one transaction (`receipts::record_delivery_events`).
    pub async fn record_delivery_events(
        &self,
        items: &[(Option<receipts::SnsDelivery<'_>>, &receipts::DeliveryEvent)],
    ) -> Result<Vec<receipts::Recorded>, DbErr> {
        receipts::record_delivery_events(self, items).await
    }

    /// Handles a text to our number (`replies::handle_reply`).
    pub async fn handle_reply(
        &self,
        sns: Option<receipts::SnsDelivery<'_>>,
        reply: &replies::InboundReply,
    ) -> Result<replies::ReplyOutcome, DbErr> {
        replies::handle_reply(self, sns, reply).await
    }

    /// Settles texts with no final receipt after 72 hours (`reconcile::reconcile`).
    pub async fn reconcile(&self) -> Result<u64, DbErr> {
        reconcile::reconcile(self).await
    }

    /// A message's delivery events, oldest first.
    pub async fn events(&self, log_id: i64) -> Result<Vec<EventRow>, DbErr> {
        store::history::events(&self.db, log_id).await
    }

    /// Replies, newest first, optionally from one number, paged by id.
    pub async fn replies(
        &self,
        from: Option<&str>,
        before_id: Option<i64>,
        limit: u64,
    ) -> Result<Vec<ReplyRow>, DbErr> {
        store::history::replies(&self.db, from, before_id, limit).await
    }

    /// A number's entry on the opt-out list, if it is on it.
    pub async fn opt_out(&self, e164: &E164) -> Result<Option<OptOut>, DbErr> {
        crate::consent::entry(&self.db, e164).await
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Puts a number on the opt-out list for an admin (source `ADMIN`), recorded in the audit trail in
    /// the same transaction. A number already on it keeps its entry.
    pub async fn admin_add_opt_out(
        &self,
        e164: &E164,
        note: Option<&str>,
        actor: &str,
    ) -> Result<OptOut, DbErr> {
        use sea_orm::TransactionTrait;
        let now = self.clock.now();
        let txn = self.db.begin().await?;
        crate::consent::opt_out(&txn, e164, crate::consent::OptOutSource::Admin, now).await?;
        let entry = crate::consent::entry(&txn, e164)
            .await?
            .ok_or_else(|| DbErr::RecordNotFound(format!("opt-out {e164}")))?;
        let action = store::audit::NewAction {
            actor,
            action: "add_opt_out",
            target: e164,
            note,
            detail: None,
        };
        store::audit::record(&txn, action, now).await?;
        txn.commit().await?;
        tracing::warn!(
            to = crate::locale::phone::mask(e164),
            by = actor,
            "number put on the opt-out list"
        );
        Ok(entry)
    }

    /// Takes a number off the opt-out list for an admin, with the note saying how the person asked to
    /// come back, recorded in the same transaction; false when it was not on the list.
    pub async fn admin_remove_opt_out(
        &self,
        e164: &E164,
        note: &str,
        actor: &str,
    ) -> Result<bool, DbErr> {
        use sea_orm::TransactionTrait;
        let txn = self.db.begin().await?;
        if !crate::consent::opt_in(&txn, e164, self.clock.now()).await? {
            return Ok(false);
        }
        let action = store::audit::NewAction {
            actor,
            action: "remove_opt_out",
            target: e164,
            note: Some(note),
            detail: None,
        };
        store::audit::record(&txn, action, self.clock.now()).await?;
        txn.commit().await?;
        tracing::warn!(
            to = crate::locale::phone::mask(e164),
            by = actor,
            "number taken off the opt-out list"
        );
        Ok(true)
    }
}

/// The console provider's simulated receipts, applied as AWS's would be, a group in one transaction.
#[async_trait::async_trait]
impl crate::outbox::worker::ReceiptSink for Inbound {
    async fn delivered(
        &self,
        provider_ids: &[&str],
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), DbErr> {
        let events: Vec<_> = provider_ids
            .iter()
            .map(|id| receipts::DeliveryEvent::simulated_delivery(id, at))
            .collect();
        let items: Vec<_> = events.iter().map(|e| (None, e)).collect();
        self.record_delivery_events(&items).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::loggable;

    #[test]
    fn outside_values_cannot_forge_or_flood_log_lines() {
        assert_eq!(
            loggable("arn:aws:sns:x\n2026-01-01 INFO forged"),
            "arn:aws:sns:x\\n2026-01-01 INFO forged"
        );
        assert_eq!(loggable("tab\there\r"), "tab\\there\\r");
        let long = "a".repeat(60_000);
        let logged = loggable(&long);
        assert!(logged.len() < 260, "{}", logged.len());
        assert!(logged.ends_with("...(cut, 60000 bytes in all)"));
        assert_eq!(loggable("plain"), "plain");
    }
}
