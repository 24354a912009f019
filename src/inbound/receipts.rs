//! Delivery receipts: what became of each text and what AWS charged. Every change is one transaction
//! that starts by writing (`store::receipts::begin_delivery`), so concurrent deliveries of the same SNS
//! message and racing receipts of one text are decided one at a time, and a repeat changes nothing.

use chrono::{DateTime, TimeZone, Utc};
use sea_orm::DbErr;
use serde::Deserialize;

use crate::{
    billing as cost,
    outbox::lifecycle,
    store::{
        MessageRow, SmsStatus,
        receipts::{self as rows, NewEvent, Settlement},
    },
};

/// The most one segment of a text can cost anywhere (AWS's dearest destinations charge well under a
/// dollar), and so the most a whole text (10 segments at most) can: a receipt that says more is
/// malformed, whatever its signature.
pub const MAX_SEGMENT_PRICE_MICROS: i64 = 1_000_000;
pub const MAX_TEXT_PRICE_MICROS: i64 = 10 * MAX_SEGMENT_PRICE_MICROS;

/// A delivery event of AWS End User Messaging SMS (the `Message` of an SNS notification from the
/// configuration set's event destination).
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryEvent {
    pub event_type: String,
    pub is_final: bool,
    /// The id `SendTextMessage` returned.
    pub message_id: String,
    pub message_status: Option<String>,
    pub description: Option<String>,
    /// `totalMessagePrice`, exact, in millionths of a dollar.
    pub price_micros: Option<i64>,
    /// `totalCarrierFee`: what carriers charge on top of the price (US toll-free and 10DLC texts).
    pub carrier_fee_micros: Option<i64>,
    pub carrier_name: Option<String>,
    pub event_at: DateTime<Utc>,
    /// The service's own id of the message, from the `Context` it sent (`sms_log_id`): finds the
    /// message when the provider's id is not on it (a send whose outcome was unclear).
    pub log_id: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEvent {
    event_type: String,
    #[serde(default)]
    is_final: bool,
    message_id: String,
    #[serde(default)]
    message_status: Option<String>,
    #[serde(default)]
    message_status_description: Option<String>,
    #[serde(default)]
    total_message_price: Option<serde_json::Number>,
    #[serde(default)]
    total_carrier_fee: Option<serde_json::Number>,
    #[serde(default)]
    carrier_name: Option<String>,
    event_timestamp: i64,
    #[serde(default)]
    context: Option<serde_json::Map<String, serde_json::Value>>,
}

impl DeliveryEvent {
    /// Reads an event; the price is read from its decimal text, never through a float.
    pub fn parse(json: &str) -> Result<Self, String> {
        let raw: RawEvent =
            serde_json::from_str(json).map_err(|e| format!("not a delivery event: {e}"))?;
        let price_micros = raw
            .total_message_price
            .map(|n| amount_micros("totalMessagePrice", &n))
            .transpose()?;
        let carrier_fee_micros = raw
            .total_carrier_fee
            .map(|n| amount_micros("totalCarrierFee", &n))
            .transpose()?;
        let event = Self {
            event_type: raw.event_type,
            is_final: raw.is_final,
            message_id: raw.message_id,
            message_status: raw.message_status,
            description: raw.message_status_description,
            price_micros,
            carrier_fee_micros,
            carrier_name: raw.carrier_name,
            log_id: raw
                .context
                .as_ref()
                .and_then(|c| c.get("sms_log_id"))
                .and_then(|v| v.as_str())
                .and_then(|id| id.parse().ok()),
            event_at: Utc
                .timestamp_millis_opt(raw.event_timestamp)
                .single()
                .ok_or_else(|| format!("eventTimestamp {} is not a time", raw.event_timestamp))?,
        };
        if let Some(cost) = event.cost_micros()
            && cost > MAX_TEXT_PRICE_MICROS
        {
            return Err(format!(
                "a price with carrier fees of {cost} micro-dollars is not what a text can cost (0 to $10)"
            ));
        }
        Ok(event)
    }

    /// What the text cost: the message price plus the carrier fees, when the event carries either.
    pub fn cost_micros(&self) -> Option<i64> {
        match (self.price_micros, self.carrier_fee_micros) {
            (None, None) => None,
            (price, fee) => Some(price.unwrap_or(0) + fee.unwrap_or(0)),
        }
    }

    /// The receipt the console provider reports for a text it printed: delivered, no price.
    pub fn simulated_delivery(provider_id: &str, at: DateTime<Utc>) -> Self {
        Self {
            event_type: "TEXT_DELIVERED".into(),
            is_final: true,
            message_id: provider_id.to_owned(),
            message_status: Some("DELIVERED".into()),
            description: Some("Simulated by the console provider".into()),
            price_micros: None,
            carrier_fee_micros: None,
            carrier_name: None,
            event_at: at,
            log_id: None,
        }
    }

    /// The status a final event settles a message in.
    fn final_status(&self) -> Option<SmsStatus> {
        if !self.is_final {
            return None;
        }
        Some(match self.event_type.as_str() {
            "TEXT_DELIVERED" => SmsStatus::Delivered,
            // The carrier took the text; the handset's receipt may still come. Recorded (with its
            // price), and the text stays SENT until a handset event (or 72 hours) settles it.
            "TEXT_SUCCESSFUL" => return None,
            "TEXT_UNKNOWN" => SmsStatus::Unknown,
            _ => SmsStatus::Undelivered,
        })
    }
}

/// An amount of dollars in an event, exact to the micro-dollar (more decimals are rounded), between 0
/// and the most a text can cost.
fn amount_micros(name: &str, n: &serde_json::Number) -> Result<i64, String> {
    let text = n.to_string();
    let micros = cost::dollars_to_micros(&text)
        .or_else(|| {
            rust_decimal::Decimal::from_str_exact(&text)
                .ok()
                .map(|d| (d * rust_decimal::Decimal::from(cost::MICROS)).round())
                .and_then(|d| i64::try_from(d).ok())
        })
        .ok_or_else(|| format!("{name} {n} is not an amount"))?;
    if !(0..=MAX_TEXT_PRICE_MICROS).contains(&micros) {
        return Err(format!(
            "{name} {micros} micro-dollars is not what a text can cost (0 to $10)"
        ));
    }
    Ok(micros)
}

/// An SNS message being handled: its id, recorded so a repeat changes nothing.
#[derive(Debug, Clone, Copy)]
pub struct SnsDelivery<'a> {
    pub message_id: &'a str,
    pub topic_arn: &'a str,
}

/// What became of a delivery event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// The SNS message was handled before.
    Duplicate,
    /// No message of ours has that provider id; the event is kept.
    Unmatched,
    Applied {
        log_id: i64,
        status: SmsStatus,
    },
}

/// What a receipt changes on its message: a final event settles a message that is `SENT` (or
/// `UNKNOWN`, when it comes after 72 hours) and never moves a settled one; the first price AWS reports
/// becomes its cost (not for a message that was never charged). `None` when nothing changes.
pub fn settlement(row: &MessageRow, event: &DeliveryEvent) -> Option<Settlement> {
    let status = event
        .final_status()
        .and_then(|to| lifecycle::next(row.status, lifecycle::Event::Receipt(to)))
        .unwrap_or(row.status);
    let charged = !matches!(
        row.status,
        SmsStatus::Blocked | SmsStatus::Failed | SmsStatus::Expired
    );
    // A price above what this text's segments can cost is not applied (the event is still kept).
    let ceiling = i64::from(row.segments.max(1)) * MAX_SEGMENT_PRICE_MICROS;
    let price_micros = event
        .cost_micros()
        .filter(|p| row.priced_at.is_none() && charged && *p <= ceiling);
    if status == row.status && price_micros.is_none() {
        return None;
    }
    let moved = status != row.status;
    Some(Settlement {
        status,
        delivered_at: (moved && status == SmsStatus::Delivered).then_some(event.event_at),
        error: (moved && status == SmsStatus::Undelivered)
            .then(|| (event.event_type.clone(), event.description.clone())),
        price_micros,
        carrier_fee_micros: price_micros.map(|_| event.carrier_fee_micros.unwrap_or(0)),
    })
}

/// How a receipt relates to the message it was matched to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Matched {
    /// Its provider id is the message's.
    Itself,
    /// A message with no provider id, `UNKNOWN` after an unclear send: the receipt says it went out.
    Adopted,
    /// Another copy of a message that has (or will have) its own: sent by an unclear attempt.
    Duplicate,
}

/// The message an event is about, and how: by the provider id it was given (itself), or, for an id
/// never recorded (a send whose outcome was unclear), by the service's own id in the context: adopted
/// when the message waits `UNKNOWN` without one, a second copy otherwise.
async fn find_message(
    txn: &impl sea_orm::ConnectionTrait,
    event: &DeliveryEvent,
) -> Result<(Option<crate::store::MessageRow>, Matched), DbErr> {
    if let Some(row) = rows::message_by_provider_id(txn, &event.message_id).await? {
        return Ok((Some(row), Matched::Itself));
    }
    let Some(id) = event.log_id else {
        return Ok((None, Matched::Itself));
    };
    let row = rows::message_by_id(txn, id).await?;
    let copy = match &row {
        Some(r) if r.provider_message_id.is_none() && r.status == SmsStatus::Unknown => {
            Matched::Adopted
        }
        _ => Matched::Duplicate,
    };
    Ok((row, copy))
}

/// The event as the message's history keeps it.
fn kept(event: &DeliveryEvent) -> NewEvent<'_> {
    NewEvent {
        provider_message_id: &event.message_id,
        event_type: &event.event_type,
        is_final: event.is_final,
        message_status: event.message_status.as_deref(),
        description: event.description.clone(),
        price_micros: event.price_micros,
        carrier_fee_micros: event.carrier_fee_micros,
        carrier_name: event.carrier_name.as_deref(),
        event_at: event.event_at,
    }
}

/// Counts the price of a second copy of `row`, within what a text of its segments can cost.
async fn count_copy(
    txn: &impl sea_orm::ConnectionTrait,
    row: &crate::store::MessageRow,
    event: &DeliveryEvent,
) -> Result<(), DbErr> {
    let price = event.cost_micros().unwrap_or(0);
    let ceiling = i64::from(row.segments.max(1)) * MAX_SEGMENT_PRICE_MICROS;
    if price <= ceiling {
        rows::add_copy_cost(txn, row, price).await?;
    }
    Ok(())
}

/// A status a receipt moved a message to, for the metrics once committed.
type Moved = (crate::store::MessageType, SmsStatus);

/// Applies a delivery event to the message with its provider id: the event joins the message's
/// history, and its `settlement` is applied with the month's spend and the cost rollup in the same
/// transaction.
#[tracing::instrument(skip_all, fields(event = %super::loggable(&event.event_type)))]
pub async fn record_delivery_event(
    inbound: &super::Inbound,
    sns: Option<SnsDelivery<'_>>,
    event: &DeliveryEvent,
) -> Result<Recorded, DbErr> {
    let mut recorded = record_delivery_events(inbound, &[(sns, event)]).await?;
    Ok(recorded.pop().unwrap_or(Recorded::Unmatched))
}

/// Applies delivery events in one transaction, set-based: the SNS ids recorded in one statement, the
/// messages loaded (and locked) in one, the events kept in one, and the settled rows written in one
/// statement per set of equal values, then the spend and the rollup once. Events of a message the
/// provider's id does not find (an unclear send's copy, adopted or not) are applied one at a time
/// after the rest. Answers each event's outcome, in order.
pub async fn record_delivery_events(
    inbound: &super::Inbound,
    items: &[(Option<SnsDelivery<'_>>, &DeliveryEvent)],
) -> Result<Vec<Recorded>, DbErr> {
    use crate::stages::{InStage, Stage};
    apply_events(inbound, items).stage(Stage::Receipt).await
}

async fn apply_events(
    inbound: &super::Inbound,
    items: &[(Option<SnsDelivery<'_>>, &DeliveryEvent)],
) -> Result<Vec<Recorded>, DbErr> {
    let now = inbound.clock.now();
    let txn = inbound.db.write().await?;
    let sns: Vec<_> = items
        .iter()
        .map(|(s, _)| s.map(|s| (s.message_id, s.topic_arn)))
        .collect();
    let fresh = rows::begin_deliveries(&txn, &sns, now).await?;
    let ids: Vec<&str> = items
        .iter()
        .zip(&fresh)
        .filter(|(_, fresh)| **fresh)
        .map(|((_, e), _)| e.message_id.as_str())
        .collect();
    let mut found: std::collections::HashMap<String, MessageRow> = Default::default();
    for row in rows::messages_by_provider_ids(&txn, &ids).await? {
        if let Some(id) = row.provider_message_id.clone() {
            found.entry(id).or_insert(row);
        }
    }
    let mut batch = Batch::default();
    let mut recorded: Vec<Option<Recorded>> = vec![None; items.len()];
    let mut later = Vec::new();
    for (i, ((_, event), fresh)) in items.iter().zip(fresh).enumerate() {
        recorded[i] = if !fresh {
            Some(Recorded::Duplicate)
        } else if let Some(row) = found.get_mut(&event.message_id) {
            Some(batch.apply(row, event, now))
        } else {
            later.push(i);
            None
        };
    }
    let mut moved = batch.write(&txn, now).await?;
    for i in later {
        let (outcome, m) = apply_one(&txn, items[i].1, now).await?;
        recorded[i] = Some(outcome);
        moved.extend(m);
    }
    txn.commit().await?;
    for (message_type, status) in moved {
        let status: crate::store::rollup::RollupStatus = status.into();
        let label = sea_orm::ActiveEnum::to_value(&status);
        let kind = sea_orm::ActiveEnum::to_value(&message_type);
        inbound
            .metrics
            .messages
            .with_label_values(&[kind.as_str(), label.as_str()])
            .inc();
    }
    Ok(recorded
        .into_iter()
        .map(|r| r.unwrap_or(Recorded::Unmatched))
        .collect())
}

/// A receipt as a span of the message's own trace (its `traceparent`), with the event it reports; none
/// while traces are off.
fn receipt_span(row: &MessageRow, event: &DeliveryEvent) {
    if !crate::telemetry::enabled() {
        return;
    }
    let span = tracing::info_span!(
        "sms.receipt",
        sms.message_id = row.id,
        sms.provider_message_id = %super::loggable(&event.message_id),
        sms.event = %super::loggable(&event.event_type),
        trace_id = tracing::field::Empty
    );
    crate::telemetry::continue_trace(&span, row.trace_parent.as_deref(), None);
    span.in_scope(|| tracing::debug!(id = row.id, "delivery event"));
}

/// Receipts of messages found by their provider id, applied in memory and written together.
#[derive(Default)]
struct Batch<'a> {
    events: Vec<(Option<i64>, NewEvent<'a>)>,
    writes: Vec<(i64, rows::RowWrite)>,
    effects: rows::Effects,
    moved: Vec<Moved>,
}

impl<'a> Batch<'a> {
    /// One event of a message found by its id: kept, and its settlement applied to the row in memory.
    fn apply(
        &mut self,
        row: &mut MessageRow,
        event: &'a DeliveryEvent,
        now: DateTime<Utc>,
    ) -> Recorded {
        self.events.push((Some(row.id), kept(event)));
        receipt_span(row, event);
        if let Some(change) = settlement(row, event) {
            let at = match self.writes.iter().position(|(id, _)| *id == row.id) {
                Some(at) => at,
                None => {
                    self.writes.push((row.id, Default::default()));
                    self.writes.len() - 1
                }
            };
            let before = row.status;
            rows::settle_in_memory(
                row,
                &change,
                now,
                (&mut self.writes[at].1, &mut self.effects),
            );
            if row.status != before {
                self.moved.push((row.message_type, row.status));
            }
        }
        Recorded::Applied {
            log_id: row.id,
            status: row.status,
        }
    }

    async fn write(
        self,
        txn: &impl sea_orm::ConnectionTrait,
        now: DateTime<Utc>,
    ) -> Result<Vec<Moved>, DbErr> {
        rows::insert_events(txn, self.events, now).await?;
        rows::write_settled(txn, self.writes, self.effects).await?;
        Ok(self.moved)
    }
}

/// One event whose message its provider id does not find: an unclear send's copy, found by the
/// service's own id in the context (adopted, or counted as a second copy), or none (kept unmatched).
async fn apply_one(
    txn: &impl sea_orm::ConnectionTrait,
    event: &DeliveryEvent,
    now: DateTime<Utc>,
) -> Result<(Recorded, Option<Moved>), DbErr> {
    let (row, copy) = find_message(txn, event).await?;
    let first_price_of_copy = match (&row, copy) {
        (Some(r), Matched::Duplicate) => {
            event.cost_micros().is_some()
                && !rows::copy_priced(txn, r.id, &event.message_id).await?
        }
        _ => false,
    };
    rows::insert_event(txn, row.as_ref().map(|r| r.id), kept(event), now).await?;
    let Some(mut row) = row else {
        tracing::info!(
            provider_id = super::loggable(&event.message_id),
            "delivery event for an unknown message kept"
        );
        return Ok((Recorded::Unmatched, None));
    };
    match copy {
        Matched::Itself => {}
        Matched::Adopted => {
            // The text did go out: its id is the message's from now on.
            rows::adopt_provider_id(txn, row.id, &event.message_id).await?;
            row.provider_message_id = Some(event.message_id.clone());
        }
        Matched::Duplicate => {
            // A second copy went out (a code tried again after a timeout): its price counts, its
            // status does not settle the message.
            if first_price_of_copy {
                count_copy(txn, &row, event).await?;
            }
            tracing::info!(
                id = row.id,
                provider_id = super::loggable(&event.message_id),
                "receipt of a second copy of a message (an unclear attempt did go out)"
            );
            let applied = Recorded::Applied {
                log_id: row.id,
                status: row.status,
            };
            return Ok((applied, None));
        }
    }
    let mut batch = Batch::default();
    let Some(change) = settlement(&row, event) else {
        let applied = Recorded::Applied {
            log_id: row.id,
            status: row.status,
        };
        return Ok((applied, None));
    };
    let before = row.status;
    let mut write = rows::RowWrite::default();
    rows::settle_in_memory(&mut row, &change, now, (&mut write, &mut batch.effects));
    rows::write_settled(txn, vec![(row.id, write)], batch.effects).await?;
    let moved = (row.status != before).then_some((row.message_type, row.status));
    Ok((
        Recorded::Applied {
            log_id: row.id,
            status: row.status,
        },
        moved,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_events_read_exact_prices() {
        let e = DeliveryEvent::parse(
            r#"{"eventType":"TEXT_DELIVERED","isFinal":true,"messageId":"m-1","messageStatus":"DELIVERED",
                "messageStatusDescription":"Message has been accepted by phone","totalMessagePrice":0.00581,
                "totalCarrierFee":0.003,"carrierName":"T-Mobile","eventTimestamp":1772463600000,
                "destinationPhoneNumber":"+12065550152","isoCountryCode":"US","totalMessageParts":1,"context":{}}"#,
        )
        .expect("an event");
        assert_eq!(e.price_micros, Some(5_810));
        assert_eq!(e.carrier_fee_micros, Some(3_000));
        assert_eq!(
            e.cost_micros(),
            Some(8_810),
            "the price plus the carrier fee"
        );
        assert_eq!(e.final_status(), Some(SmsStatus::Delivered));
        assert_eq!(e.event_at.timestamp(), 1_772_463_600);
        assert!(DeliveryEvent::parse("{}").is_err());
        // Prices no text can cost are malformed.
        for price in ["-5", "-0.000001", "10.000001", "1000"] {
            let json = format!(
                r#"{{"eventType":"TEXT_DELIVERED","isFinal":true,"messageId":"m-1","totalMessagePrice":{price},"eventTimestamp":1772463600000}}"#
            );
            assert!(DeliveryEvent::parse(&json).is_err(), "{price}");
        }
        assert!(DeliveryEvent::parse("not json").is_err());
        // A fee alone is a cost; a negative fee, or a sum past what a text can cost, is malformed.
        let with = |fields: &str| {
            DeliveryEvent::parse(&format!(
                r#"{{"eventType":"TEXT_DELIVERED","isFinal":true,"messageId":"m-1",{fields}"eventTimestamp":1772463600000}}"#
            ))
        };
        assert_eq!(
            with(r#""totalCarrierFee":0.0025,"#).map(|e| e.cost_micros()),
            Ok(Some(2_500))
        );
        assert_eq!(with("").map(|e| e.cost_micros()), Ok(None));
        assert!(with(r#""totalCarrierFee":-0.01,"#).is_err());
        assert!(with(r#""totalMessagePrice":9.5,"totalCarrierFee":0.6,"#).is_err());
    }
}
