//! The inbound half of the pipeline: delivery receipts (what became of each text, what AWS charged),
//! replies (STOP, START, HELP and anything else), and the reconciliation of texts no receipt settled.
//!
//! Every change is one transaction that starts by writing, so concurrent deliveries of the same SNS
//! message (SNS delivers at least once) and racing receipts of one text are decided one at a time:
//! the SNS message id is recorded first and a repeat changes nothing.

use chrono::{DateTime, Duration, TimeZone, Utc};
use entity::{
    consent_events::ConsentAction,
    opt_outs, sms_events,
    sms_log::{self, SmsStatus},
    sms_preferences::ConsentMethod,
    sms_replies,
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, DbErr,
    EntityTrait, QueryFilter, Statement, TransactionTrait,
};
use serde::Deserialize;

use crate::{
    AppContext, billing as cost,
    locale::phone,
    outbox::{
        accept::{self as outbox, SendRequest, Target},
        catalogue::Template,
        policy, sqlite_turn,
    },
    recipients,
};

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
    pub carrier_name: Option<String>,
    pub event_at: DateTime<Utc>,
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
    carrier_name: Option<String>,
    event_timestamp: i64,
}

impl DeliveryEvent {
    /// Reads an event; the price is read from its decimal text, never through a float.
    pub fn parse(json: &str) -> Result<Self, String> {
        let raw: RawEvent =
            serde_json::from_str(json).map_err(|e| format!("not a delivery event: {e}"))?;
        let price_micros = match raw.total_message_price {
            None => None,
            Some(n) => Some(
                cost::dollars_to_micros(&n.to_string())
                    .or_else(|| {
                        // More than six decimals: round to the micro-dollar.
                        rust_decimal::Decimal::from_str_exact(&n.to_string())
                            .ok()
                            .map(|d| (d * rust_decimal::Decimal::from(cost::MICROS)).round())
                            .and_then(|d| i64::try_from(d).ok())
                    })
                    .ok_or_else(|| format!("totalMessagePrice {n} is not an amount"))?,
            ),
        };
        let event_at = Utc
            .timestamp_millis_opt(raw.event_timestamp)
            .single()
            .ok_or_else(|| format!("eventTimestamp {} is not a time", raw.event_timestamp))?;
        Ok(Self {
            event_type: raw.event_type,
            is_final: raw.is_final,
            message_id: raw.message_id,
            message_status: raw.message_status,
            description: raw.message_status_description,
            price_micros,
            carrier_name: raw.carrier_name,
            event_at,
        })
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
            carrier_name: None,
            event_at: at,
        }
    }

    /// The status a final event settles a message in.
    fn final_status(&self) -> Option<SmsStatus> {
        if !self.is_final {
            return None;
        }
        Some(match self.event_type.as_str() {
            "TEXT_DELIVERED" | "TEXT_SUCCESSFUL" => SmsStatus::Delivered,
            "TEXT_UNKNOWN" => SmsStatus::Unknown,
            _ => SmsStatus::Undelivered,
        })
    }
}

/// A text someone sent to our number (the `Message` of an SNS notification from two-way SMS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundReply {
    /// The person's number.
    pub from: String,
    /// Our number.
    pub to: String,
    pub body: String,
    pub inbound_message_id: Option<String>,
    pub received_at: DateTime<Utc>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawReply {
    origination_number: String,
    destination_number: String,
    #[serde(default)]
    message_body: String,
    #[serde(default)]
    inbound_message_id: Option<String>,
}

impl InboundReply {
    /// Reads an inbound text; `received_at` is the SNS message's time.
    pub fn parse(json: &str, received_at: DateTime<Utc>) -> Result<Self, String> {
        let raw: RawReply =
            serde_json::from_str(json).map_err(|e| format!("not an inbound text: {e}"))?;
        Ok(Self {
            from: raw.origination_number,
            to: raw.destination_number,
            body: raw.message_body,
            inbound_message_id: raw.inbound_message_id,
            received_at,
        })
    }
}

/// What a reply asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    Stop,
    Start,
    Help,
    None,
}

impl Keyword {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stop => "stop",
            Self::Start => "start",
            Self::Help => "help",
            Self::None => "none",
        }
    }
}

/// The keyword of a reply: the CTIA and AWS opt-out, opt-in and help words, in any case, with spaces
/// and punctuation around them ("Stop!", " stop. ", "Opt out").
pub fn keyword_of(body: &str) -> Keyword {
    let word: String = body
        .trim_matches(|c: char| !c.is_alphanumeric())
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_uppercase();
    match word.as_str() {
        "STOP" | "STOPALL" | "STOP ALL" | "UNSUBSCRIBE" | "CANCEL" | "END" | "QUIT" | "REVOKE"
        | "OPTOUT" | "OPT OUT" | "OPT-OUT" => Keyword::Stop,
        "START" | "UNSTOP" | "YES" => Keyword::Start,
        "HELP" | "INFO" => Keyword::Help,
        _ => Keyword::None,
    }
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

/// Records the SNS message id; false when it was recorded before. A write, so it also takes
/// SQLite's write lock for the rest of the transaction.
async fn first_delivery(
    txn: &impl ConnectionTrait,
    sns: Option<SnsDelivery<'_>>,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let Some(sns) = sns else {
        return Ok(true);
    };
    let backend = txn.get_database_backend();
    let p = |n| crate::store::placeholder(backend, n);
    let result = txn
        .execute_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "INSERT INTO sns_deliveries (message_id, topic_arn, received_at) VALUES ({}, {}, {}) \
                 ON CONFLICT (message_id) DO NOTHING",
                p(1),
                p(2),
                p(3)
            ),
            [
                sns.message_id.into(),
                sns.topic_arn.into(),
                now.into(),
            ],
        ))
        .await?;
    Ok(result.rows_affected() == 1)
}

/// The rollup status of a log status.
fn rollup_status(status: SmsStatus) -> &'static str {
    match status {
        SmsStatus::Pending | SmsStatus::Sending => "pending",
        SmsStatus::Sent => "sent",
        SmsStatus::Delivered => "delivered",
        SmsStatus::Failed => "failed",
        SmsStatus::Undelivered => "undelivered",
        SmsStatus::Unknown => "unknown",
        SmsStatus::Blocked => "blocked",
    }
}

/// Applies a delivery event to the message with its provider id: the event joins the message's
/// history; a final event settles a message that is `SENT` (or `UNKNOWN`, when it comes after 72
/// hours) and never moves a settled one; the first price AWS reports becomes the message's cost, and
/// the month's spend and the cost rollup are corrected by the difference in the same transaction.
#[tracing::instrument(skip_all, fields(event = %event.event_type))]
pub async fn record_delivery_event(
    ctx: &AppContext,
    sns: Option<SnsDelivery<'_>>,
    event: &DeliveryEvent,
) -> Result<Recorded, DbErr> {
    let now = ctx.clock.now();
    let _turn = sqlite_turn(ctx).await;
    let txn = ctx.db.begin().await?;
    // SQLite: a write first (the SNS id, or the lock), so the read below stays true until commit.
    if sns.is_none() {
        crate::store::take_sqlite_write_lock(&txn).await?;
    }
    if !first_delivery(&txn, sns, now).await? {
        return Ok(Recorded::Duplicate);
    }
    // The message, locked against a racing receipt (PostgreSQL; SQLite's write lock is held).
    let backend = txn.get_database_backend();
    let row = sms_log::Entity::find()
        .from_raw_sql(Statement::from_sql_and_values(
            backend,
            format!(
                "SELECT * FROM sms_log WHERE provider_message_id = {} ORDER BY id LIMIT 1{}",
                crate::store::placeholder(backend, 1),
                if backend == DbBackend::Postgres {
                    " FOR UPDATE"
                } else {
                    ""
                }
            ),
            [event.message_id.as_str().into()],
        ))
        .one(&txn)
        .await?;
    sms_events::Entity::insert(sms_events::ActiveModel {
        sms_log_id: Set(row.as_ref().map(|r| r.id)),
        provider_message_id: Set(event.message_id.chars().take(200).collect()),
        event_type: Set(event.event_type.chars().take(48).collect()),
        is_final: Set(event.is_final),
        message_status: Set(event
            .message_status
            .as_ref()
            .map(|s| s.chars().take(64).collect())),
        description: Set(event.description.clone()),
        price_micros: Set(event.price_micros),
        carrier_name: Set(event
            .carrier_name
            .as_ref()
            .map(|s| s.chars().take(128).collect())),
        event_at: Set(event.event_at),
        received_at: Set(now),
        ..Default::default()
    })
    .exec_without_returning(&txn)
    .await?;
    let Some(row) = row else {
        txn.commit().await?;
        tracing::info!(
            provider_id = event.message_id,
            "delivery event for an unknown message kept"
        );
        return Ok(Recorded::Unmatched);
    };

    let settles = matches!(row.status, SmsStatus::Sent | SmsStatus::Unknown);
    let status = event
        .final_status()
        .filter(|_| settles)
        .unwrap_or(row.status);
    let charged = !matches!(row.status, SmsStatus::Blocked | SmsStatus::Failed);
    let price = event
        .price_micros
        .filter(|_| row.priced_at.is_none() && charged);
    if status == row.status && price.is_none() {
        txn.commit().await?;
        return Ok(Recorded::Applied {
            log_id: row.id,
            status,
        });
    }
    let mut update = sms_log::Entity::update_many()
        .col_expr(
            sms_log::Column::Status,
            sea_orm::sea_query::Expr::value(status),
        )
        .filter(sms_log::Column::Id.eq(row.id));
    if status != row.status {
        match status {
            SmsStatus::Delivered => {
                update = update.col_expr(
                    sms_log::Column::DeliveredAt,
                    sea_orm::sea_query::Expr::value(event.event_at),
                );
            }
            SmsStatus::Undelivered => {
                update = update
                    .col_expr(
                        sms_log::Column::ErrorCode,
                        sea_orm::sea_query::Expr::value(event.event_type.clone()),
                    )
                    .col_expr(
                        sms_log::Column::ErrorMessage,
                        sea_orm::sea_query::Expr::value(event.description.clone()),
                    );
            }
            _ => {}
        }
    }
    let old_cost = row.cost_micros.unwrap_or(0);
    let new_cost = price.unwrap_or(old_cost);
    if let Some(price) = price {
        update = update
            .col_expr(
                sms_log::Column::CostMicros,
                sea_orm::sea_query::Expr::value(price),
            )
            .col_expr(
                sms_log::Column::PricedAt,
                sea_orm::sea_query::Expr::value(now),
            );
        let delta = price - old_cost;
        if delta != 0 {
            cost::adjust(&txn, &cost::month_of(row.created_at), delta).await?;
        }
    }
    update.exec(&txn).await?;
    if status != row.status {
        ctx.metrics
            .messages
            .with_label_values(&[row.message_type_label().as_str(), rollup_status(status)])
            .inc();
    }
    let priced_before = if row.priced_at.is_some() { old_cost } else { 0 };
    let priced_after = if row.priced_at.is_some() || price.is_some() {
        new_cost
    } else {
        0
    };
    let segments = i64::from(row.segments);
    cost::rollup_add(
        &txn,
        vec![
            (
                cost::rollup_key(&row, rollup_status(row.status)),
                [-1, -segments, -old_cost, -priced_before],
            ),
            (
                cost::rollup_key(&row, rollup_status(status)),
                [1, segments, new_cost, priced_after],
            ),
        ],
    )
    .await?;
    txn.commit().await?;
    Ok(Recorded::Applied {
        log_id: row.id,
        status,
    })
}

/// What a reply did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyOutcome {
    pub duplicate: bool,
    pub keyword: Keyword,
    /// Users whose consent was revoked (STOP) or given again (START).
    pub consent_changed: Vec<String>,
    /// Pending promotions to the number that STOP cancelled.
    pub cancelled: usize,
    /// The id of the answer queued (a confirmation or the help text), when one was sent.
    pub answer_log_id: Option<i64>,
}

/// Handles a reply: stored always; STOP puts the number on the opt-out list, revokes the consent of
/// every user with that number (method `SMS_KEYWORD`, at the reply's time) and cancels the number's
/// pending promotions; START takes it off the list and gives consent again to users whose master
/// switch is on; HELP is answered. With `SMS_SELF_MANAGED_OPT_OUTS` the service answers STOP and START
/// with a confirmation and HELP with the help text; otherwise AWS answers keywords itself.
#[tracing::instrument(skip_all, fields(from = %phone::mask(&reply.from)))]
pub async fn handle_reply(
    ctx: &AppContext,
    sns: Option<SnsDelivery<'_>>,
    reply: &InboundReply,
) -> Result<ReplyOutcome, DbErr> {
    let now = ctx.clock.now();
    let keyword = keyword_of(&reply.body);
    let mut outcome = ReplyOutcome {
        duplicate: false,
        keyword,
        consent_changed: Vec::new(),
        cancelled: 0,
        answer_log_id: None,
    };
    let turn = sqlite_turn(ctx).await;
    let txn = ctx.db.begin().await?;
    if sns.is_none() {
        crate::store::take_sqlite_write_lock(&txn).await?;
    }
    if !first_delivery(&txn, sns, now).await? {
        outcome.duplicate = true;
        return Ok(outcome);
    }
    sms_replies::ActiveModel {
        from_phone: Set(reply.from.chars().take(32).collect()),
        to_number: Set(reply.to.chars().take(64).collect()),
        body: Set(reply.body.clone()),
        keyword: Set(keyword.as_str().to_owned()),
        inbound_message_id: Set(reply
            .inbound_message_id
            .as_ref()
            .map(|s| s.chars().take(128).collect())),
        received_at: Set(reply.received_at),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let owners: Vec<String> = entity::recipients::Entity::find()
        .filter(entity::recipients::Column::PhoneE164.eq(reply.from.as_str()))
        .all(&txn)
        .await?
        .into_iter()
        .map(|r| r.user_id)
        .collect();
    let source = recipients::ConsentSource {
        method: ConsentMethod::SmsKeyword,
        ip: None,
    };
    match keyword {
        Keyword::Stop => {
            outbox::add_opt_out(&txn, &reply.from, "keyword", reply.received_at).await?;
            recipients::lock_rows(&txn, owners.iter().map(String::as_str)).await?;
            for user in &owners {
                if let Some(profile) = recipients::load(&txn, user).await?
                    && profile.preferences.has_consent()
                {
                    recipients::record_consent(
                        &txn,
                        &profile,
                        ConsentAction::Revoked,
                        &source,
                        reply.received_at,
                    )
                    .await?;
                    outcome.consent_changed.push(user.clone());
                }
            }
            outcome.cancelled = cancel_pending_promotions(&txn, &reply.from).await?;
        }
        Keyword::Start => {
            opt_outs::Entity::delete_many()
                .filter(opt_outs::Column::PhoneE164.eq(reply.from.as_str()))
                .exec(&txn)
                .await?;
            recipients::lock_rows(&txn, owners.iter().map(String::as_str)).await?;
            for user in &owners {
                if let Some(profile) = recipients::load(&txn, user).await?
                    && profile.recipient.allow_sms
                    && !profile.preferences.has_consent()
                {
                    recipients::record_consent(
                        &txn,
                        &profile,
                        ConsentAction::Given,
                        &source,
                        reply.received_at,
                    )
                    .await?;
                    outcome.consent_changed.push(user.clone());
                }
            }
        }
        Keyword::Help | Keyword::None => {}
    }
    txn.commit().await?;
    drop(turn);
    tracing::info!(
        keyword = keyword.as_str(),
        consent_changed = outcome.consent_changed.len(),
        cancelled = outcome.cancelled,
        "reply received"
    );
    let sms = &ctx.config.sms;
    let answer = match keyword {
        _ if !sms.self_managed_opt_outs => None,
        Keyword::Stop => Some(format!(
            "{}: You are unsubscribed and will get no more messages. Reply START to resubscribe.",
            sms.app_name
        )),
        Keyword::Start => Some(format!(
            "{}: You are subscribed again. Msg & data rates may apply. Reply HELP for help, STOP to cancel.",
            sms.app_name
        )),
        Keyword::Help => Some(help_text(ctx)),
        Keyword::None => None,
    };
    if let Some(body) = answer {
        let id = reply
            .inbound_message_id
            .as_deref()
            .or(sns.map(|s| s.message_id))
            .map(str::to_owned);
        let mut request = SendRequest::new(
            Target::Phone(reply.from.clone()),
            Template::Text {
                message_type: sms_log::MessageType::Other,
                body,
            },
            false,
        );
        request.keyword_answer = true;
        request.dedupe_key = id.map(|id| format!("keyword_answer:{id}"));
        match outbox::enqueue(ctx, request).await {
            Ok(row) => outcome.answer_log_id = Some(row.id),
            Err(outbox::SendError::Db(e)) => return Err(e),
            Err(e) => tracing::warn!(error = %e, "the keyword answer could not be queued"),
        }
    }
    Ok(outcome)
}

/// The answer to HELP: who we are, how to reach us, the costs and how to stop (CTIA).
pub fn help_text(ctx: &AppContext) -> String {
    let sms = &ctx.config.sms;
    format!(
        "{}: Battle and streak alerts. Help: {}. Msg & data rates may apply. Reply STOP to cancel.",
        sms.app_name, sms.help_contact
    )
}

/// Cancels the pending promotions to `phone` (they become `BLOCKED`, `opted_out`), giving back what
/// they reserved of the budget.
async fn cancel_pending_promotions(
    txn: &impl ConnectionTrait,
    phone: &str,
) -> Result<usize, DbErr> {
    let backend = txn.get_database_backend();
    let p = |n| crate::store::placeholder(backend, n);
    let lock = if backend == DbBackend::Postgres {
        " FOR UPDATE"
    } else {
        ""
    };
    let pending = sms_log::Entity::find()
        .from_raw_sql(Statement::from_sql_and_values(
            backend,
            format!(
                "SELECT * FROM sms_log WHERE to_phone = {} AND status = 'pending' AND promotional = {}{lock}",
                p(1),
                p(2)
            ),
            [phone.into(), true.into()],
        ))
        .all(txn)
        .await?;
    if pending.is_empty() {
        return Ok(0);
    }
    sms_log::Entity::update_many()
        .col_expr(
            sms_log::Column::Status,
            sea_orm::sea_query::Expr::value(SmsStatus::Blocked),
        )
        .col_expr(
            sms_log::Column::BlockedReason,
            sea_orm::sea_query::Expr::value(policy::BlockedReason::OptedOut.as_str()),
        )
        .col_expr(
            sms_log::Column::NextAttemptAt,
            sea_orm::sea_query::Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(
            sms_log::Column::CostMicros,
            sea_orm::sea_query::Expr::value(Option::<i64>::None),
        )
        .filter(sms_log::Column::Id.is_in(pending.iter().map(|r| r.id)))
        .exec(txn)
        .await?;
    let mut by_month: std::collections::BTreeMap<String, i64> = Default::default();
    let mut rollup = Vec::new();
    for row in &pending {
        let charged = row.cost_micros.unwrap_or(0);
        *by_month.entry(cost::month_of(row.created_at)).or_default() += charged;
        let segments = i64::from(row.segments);
        rollup.push((
            cost::rollup_key(row, "pending"),
            [-1, -segments, -charged, 0],
        ));
        rollup.push((cost::rollup_key(row, "blocked"), [1, segments, 0, 0]));
    }
    for (month, micros) in by_month {
        if micros > 0 {
            cost::release(txn, &month, micros).await?;
        }
    }
    cost::rollup_add(txn, rollup).await?;
    Ok(pending.len())
}

/// Texts `SENT` more than 72 hours ago with no final receipt become `UNKNOWN`, as AWS itself reports
/// then, so nothing waits forever. Reads only `sent` rows through a partial index, in batches.
pub async fn reconcile(ctx: &AppContext) -> Result<u64, DbErr> {
    let cutoff = ctx.clock.now() - Duration::hours(72);
    let mut settled = 0;
    loop {
        let txn = ctx.db.begin().await?;
        let backend = txn.get_database_backend();
        let p = |n| crate::store::placeholder(backend, n);
        let lock = if backend == DbBackend::Postgres {
            " FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        crate::store::take_sqlite_write_lock(&txn).await?;
        let rows = sms_log::Entity::find()
            .from_raw_sql(Statement::from_sql_and_values(
                backend,
                format!(
                    "SELECT * FROM sms_log WHERE status = 'sent' AND sent_at < {} ORDER BY sent_at LIMIT 500{lock}",
                    p(1)
                ),
                [cutoff.into()],
            ))
            .all(&txn)
            .await?;
        if rows.is_empty() {
            txn.commit().await?;
            break;
        }
        sms_log::Entity::update_many()
            .col_expr(
                sms_log::Column::Status,
                sea_orm::sea_query::Expr::value(SmsStatus::Unknown),
            )
            .filter(sms_log::Column::Id.is_in(rows.iter().map(|r| r.id)))
            .exec(&txn)
            .await?;
        let mut rollup = Vec::new();
        for row in &rows {
            ctx.metrics
                .messages
                .with_label_values(&[row.message_type_label().as_str(), "unknown"])
                .inc();
            let m = cost::measures(row);
            rollup.push((cost::rollup_key(row, "sent"), m.map(|v| -v)));
            rollup.push((cost::rollup_key(row, "unknown"), m));
        }
        cost::rollup_add(&txn, rollup).await?;
        txn.commit().await?;
        settled += rows.len() as u64;
    }
    if settled > 0 {
        tracing::info!(
            settled,
            "texts with no final receipt after 72 hours are UNKNOWN"
        );
    }
    Ok(settled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_in_any_writing() {
        for stop in [
            "STOP",
            "stop",
            " Stop! ",
            "StopAll",
            "unsubscribe",
            "CANCEL.",
            "end",
            "Quit",
            "revoke",
            "optout",
            "Opt out",
            "opt-out",
        ] {
            assert_eq!(keyword_of(stop), Keyword::Stop, "{stop}");
        }
        for start in ["START", "unstop", "Yes!"] {
            assert_eq!(keyword_of(start), Keyword::Start, "{start}");
        }
        for help in ["HELP", "help?", "Info"] {
            assert_eq!(keyword_of(help), Keyword::Help, "{help}");
        }
        for other in [
            "Stop sending me battle invites please",
            "yes please",
            "",
            "🙂",
            "stopp",
        ] {
            assert_eq!(keyword_of(other), Keyword::None, "{other}");
        }
    }

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
        assert_eq!(e.final_status(), Some(SmsStatus::Delivered));
        assert_eq!(e.event_at.timestamp(), 1_772_463_600);
        assert!(DeliveryEvent::parse("{}").is_err());
        assert!(DeliveryEvent::parse("not json").is_err());
    }
}
