//! What AWS tells the service: `sns_deliveries` (each SNS message once), `sms_events` (delivery
//! receipts), `sms_replies` (texts to our number), and the log rows receipts settle.

use chrono::{DateTime, Utc};
use entity::{
    sms_events,
    sms_log::{self, SmsStatus},
    sms_replies,
};
pub use entity::{sms_events::Model as EventRow, sms_replies::Model as ReplyRow};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, DbErr,
    EntityTrait, QueryFilter, Statement, TransactionSession, TransactionTrait, sea_query::Expr,
};

use super::{
    placeholder,
    rollup::{RollupStatus, measures, rollup_add, rollup_key},
    spend,
};

/// At most `max` characters of an outside string, so an unusual value always fits its column.
fn clip(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// Starts handling a delivery in `txn` by writing first, so concurrent deliveries of the same SNS
/// message (SNS delivers at least once) and racing receipts of one text are decided one at a time: the
/// SNS message id (`Some((id, topic))`) is recorded, and false means it was recorded before (SQLite's
/// write lock is the transaction's from its start, `Db::write`).
pub async fn begin_delivery(
    txn: &impl ConnectionTrait,
    sns: Option<(&str, &str)>,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let Some((message_id, topic_arn)) = sns else {
        return Ok(true);
    };
    let backend = txn.get_database_backend();
    let p = |n| placeholder(backend, n);
    // `sns_deliveries` has no entity: it is written here and only here, insert-or-ignore.
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
            [message_id.into(), topic_arn.into(), now.into()],
        ))
        .await?;
    Ok(result.rows_affected() == 1)
}

/// `begin_delivery` for a batch: each SNS message id (`Some((id, topic))`) recorded in one statement;
/// answers, for each item, whether it is new (false: recorded before, or earlier in this batch).
/// SQLite: the transaction holds the write lock from its start (`Db::write`).
pub async fn begin_deliveries(
    txn: &impl ConnectionTrait,
    sns: &[Option<(&str, &str)>],
    now: DateTime<Utc>,
) -> Result<Vec<bool>, DbErr> {
    let mut seen = std::collections::HashSet::new();
    let first: Vec<bool> = sns
        .iter()
        .map(|s| s.is_none_or(|(id, _)| seen.insert(id.to_owned())))
        .collect();
    let ids: Vec<(&str, &str)> = sns
        .iter()
        .zip(&first)
        .filter_map(|(s, first)| s.filter(|_| *first))
        .collect();
    let mut fresh = std::collections::HashSet::new();
    let backend = txn.get_database_backend();
    for chunk in ids.chunks(300) {
        let mut values: Vec<sea_orm::Value> = Vec::with_capacity(chunk.len() * 3);
        let mut rows = Vec::with_capacity(chunk.len());
        for (id, topic) in chunk {
            let p = |n| placeholder(backend, values.len() + n);
            rows.push(format!("({}, {}, {})", p(1), p(2), p(3)));
            values.extend([(*id).into(), (*topic).into(), now.into()]);
        }
        let sql = format!(
            "INSERT INTO sns_deliveries (message_id, topic_arn, received_at) VALUES {} \
             ON CONFLICT (message_id) DO NOTHING RETURNING message_id",
            rows.join(", ")
        );
        for row in txn
            .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
            .await?
        {
            fresh.insert(row.try_get::<String>("", "message_id")?);
        }
    }
    Ok(sns
        .iter()
        .zip(first)
        .map(|(s, first)| first && s.is_none_or(|(id, _)| fresh.contains(id)))
        .collect())
}

/// The messages with these provider ids (the first of each, by id), locked in id order against racing
/// receipts on PostgreSQL (SQLite's write lock is held since `begin_deliveries`).
pub async fn messages_by_provider_ids(
    txn: &impl ConnectionTrait,
    ids: &[&str],
) -> Result<Vec<sms_log::Model>, DbErr> {
    use sea_orm::{QueryOrder, QuerySelect};
    let mut found = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let mut query = sms_log::Entity::find()
            .filter(sms_log::Column::ProviderMessageId.is_in(chunk.iter().copied()))
            .order_by_asc(sms_log::Column::Id);
        if txn.get_database_backend() == DbBackend::Postgres {
            query = query.lock_exclusive();
        }
        found.extend(query.all(txn).await?);
    }
    Ok(found)
}

/// The message with this provider id, locked against a racing receipt (PostgreSQL; SQLite's write
/// lock is held since `begin_delivery`).
pub async fn message_by_provider_id(
    txn: &impl ConnectionTrait,
    provider_id: &str,
) -> Result<Option<sms_log::Model>, DbErr> {
    use sea_orm::{QueryOrder, QuerySelect};
    let mut query = sms_log::Entity::find()
        .filter(sms_log::Column::ProviderMessageId.eq(provider_id))
        .order_by_asc(sms_log::Column::Id)
        .limit(1);
    if txn.get_database_backend() == DbBackend::Postgres {
        query = query.lock_exclusive();
    }
    query.one(txn).await
}

/// The message with this id, locked like `message_by_provider_id`.
pub async fn message_by_id(
    txn: &impl ConnectionTrait,
    id: i64,
) -> Result<Option<sms_log::Model>, DbErr> {
    use sea_orm::QuerySelect;
    let mut query = sms_log::Entity::find_by_id(id);
    if txn.get_database_backend() == DbBackend::Postgres {
        query = query.lock_exclusive();
    }
    query.one(txn).await
}

/// Whether an earlier event of the copy `provider_id` of message `log_id` carried a price (AWS
/// reports the price on more than one event of a text; it is counted once).
pub async fn copy_priced(
    txn: &impl ConnectionTrait,
    log_id: i64,
    provider_id: &str,
) -> Result<bool, DbErr> {
    use sea_orm::PaginatorTrait;
    let priced = sms_events::Entity::find()
        .filter(sms_events::Column::SmsLogId.eq(log_id))
        .filter(sms_events::Column::ProviderMessageId.eq(provider_id))
        .filter(
            sea_orm::Condition::any()
                .add(sms_events::Column::PriceMicros.is_not_null())
                .add(sms_events::Column::CarrierFeeMicros.is_not_null()),
        )
        .count(txn)
        .await?;
    Ok(priced > 0)
}

/// Gives an `UNKNOWN` message the provider id its receipt revealed.
pub async fn adopt_provider_id(
    txn: &impl ConnectionTrait,
    id: i64,
    provider_id: &str,
) -> Result<(), DbErr> {
    sms_log::Entity::update_many()
        .col_expr(
            sms_log::Column::ProviderMessageId,
            Expr::value(clip(provider_id, 200)),
        )
        .filter(sms_log::Column::Id.eq(id))
        .filter(sms_log::Column::ProviderMessageId.is_null())
        .exec(txn)
        .await?;
    Ok(())
}

/// Adds what a second copy of `row` cost to its cost (kept apart in `duplicate_cost_micros`, so the
/// first copy's own price, when it comes, does not replace it), to the month's spend and to the
/// rollup (as priced once the message is).
pub async fn add_copy_cost(
    txn: &impl ConnectionTrait,
    row: &sms_log::Model,
    price: i64,
) -> Result<(), DbErr> {
    use sea_orm::sea_query::{ExprTrait, Func};
    let plus = |column: sms_log::Column| {
        Expr::expr(Func::coalesce([Expr::col(column), Expr::value(0i64)])).add(price)
    };
    sms_log::Entity::update_many()
        .col_expr(
            sms_log::Column::CostMicros,
            plus(sms_log::Column::CostMicros),
        )
        .col_expr(
            sms_log::Column::DuplicateCostMicros,
            plus(sms_log::Column::DuplicateCostMicros),
        )
        .filter(sms_log::Column::Id.eq(row.id))
        .exec(txn)
        .await?;
    spend::adjust(txn, &spend::month_of(row.created_at), price).await?;
    let priced = if row.priced_at.is_some() { price } else { 0 };
    rollup_add(
        txn,
        vec![(rollup_key(row, row.status.into()), [0, 0, price, priced])],
    )
    .await
}

/// A delivery event as it is kept.
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    pub provider_message_id: &'a str,
    pub event_type: &'a str,
    pub is_final: bool,
    pub message_status: Option<&'a str>,
    pub description: Option<String>,
    pub price_micros: Option<i64>,
    pub carrier_fee_micros: Option<i64>,
    pub carrier_name: Option<&'a str>,
    pub event_at: DateTime<Utc>,
}

/// Keeps an event in the message's history (or unmatched, when no message has its id).
pub async fn insert_event(
    txn: &impl ConnectionTrait,
    log_id: Option<i64>,
    event: NewEvent<'_>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    insert_events(txn, vec![(log_id, event)], now).await
}

/// Keeps events in their messages' histories, a multi-row insert per 200.
pub async fn insert_events(
    txn: &impl ConnectionTrait,
    events: Vec<(Option<i64>, NewEvent<'_>)>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let mut events = events.into_iter().peekable();
    while events.peek().is_some() {
        let chunk = events
            .by_ref()
            .take(200)
            .map(|(log_id, event)| sms_events::ActiveModel {
                sms_log_id: Set(log_id),
                provider_message_id: Set(clip(event.provider_message_id, 200)),
                event_type: Set(clip(event.event_type, 48)),
                is_final: Set(event.is_final),
                message_status: Set(event.message_status.map(|s| clip(s, 64))),
                description: Set(event.description),
                price_micros: Set(event.price_micros),
                carrier_fee_micros: Set(event.carrier_fee_micros),
                carrier_name: Set(event.carrier_name.map(|s| clip(s, 128))),
                event_at: Set(event.event_at),
                received_at: Set(now),
                ..Default::default()
            });
        sms_events::Entity::insert_many(chunk)
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}

/// What a receipt changes on its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settlement {
    pub status: SmsStatus,
    pub delivered_at: Option<DateTime<Utc>>,
    /// For `UNDELIVERED`: the event type and AWS's description.
    pub error: Option<(String, Option<String>)>,
    /// What AWS charged (price and carrier fees), when this is the first price it reports.
    pub price_micros: Option<i64>,
    /// Of `price_micros`, the carrier fees.
    pub carrier_fee_micros: Option<i64>,
}

/// What receipts change on one message, written together: the status when it moved (stamped for the
/// feed), when it was delivered, the carrier's error, and the price (cost, carrier fee, priced at).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RowWrite {
    pub status: Option<SmsStatus>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub error: Option<(String, Option<String>)>,
    pub price: Option<(i64, Option<i64>, DateTime<Utc>)>,
}

/// What settlements do beyond their rows: the rollup's moves and the months' spend corrections.
#[derive(Debug, Default)]
pub struct Effects {
    pub rollup: Vec<(super::rollup::RollupKey, [i64; 4])>,
    pub spend: std::collections::BTreeMap<String, i64>,
}

/// Applies a settlement to `row` in memory (it is locked, so memory is the database plus what this
/// transaction changes): the row's new values go into `write`, the spend corrected by the difference
/// between the price and the estimate and the rollup moved between statuses and priced amounts go into
/// `effects`.
pub fn settle_in_memory(
    row: &mut sms_log::Model,
    change: &Settlement,
    now: DateTime<Utc>,
    (write, effects): (&mut RowWrite, &mut Effects),
) {
    let old_cost = row.cost_micros.unwrap_or(0);
    // Copies sent by unclear attempts stay counted beside this text's own price.
    let copies = row.duplicate_cost_micros.unwrap_or(0);
    let new_cost = change.price_micros.map_or(old_cost, |p| p + copies);
    let priced_before = if row.priced_at.is_some() { old_cost } else { 0 };
    let priced_after = if row.priced_at.is_some() || change.price_micros.is_some() {
        new_cost
    } else {
        0
    };
    let segments = i64::from(row.segments);
    effects.rollup.push((
        rollup_key(row, row.status.into()),
        [-1, -segments, -old_cost, -priced_before],
    ));
    effects.rollup.push((
        rollup_key(row, change.status.into()),
        [1, segments, new_cost, priced_after],
    ));
    if let Some(price) = change.price_micros.map(|p| p + copies) {
        if price != old_cost {
            *effects
                .spend
                .entry(spend::month_of(row.created_at))
                .or_default() += price - old_cost;
        }
        row.cost_micros = Some(price);
        row.carrier_fee_micros = change.carrier_fee_micros;
        row.priced_at = Some(now);
        write.price = Some((price, change.carrier_fee_micros, now));
    }
    if change.status != row.status {
        row.status = change.status;
        write.status = Some(change.status);
    }
    if let Some(at) = change.delivered_at {
        row.delivered_at = Some(at);
        write.delivered_at = Some(at);
    }
    if let Some((code, message)) = &change.error {
        row.error_code = Some(clip(code, 128));
        row.error_message = message.clone();
        write.error = Some((clip(code, 128), message.clone()));
    }
}

/// Writes settled rows, one statement for each set of rows that take the same values (every receipt of
/// a group of simulated deliveries: one), then the spend corrections and the rollup.
pub async fn write_settled(
    txn: &impl ConnectionTrait,
    writes: Vec<(i64, RowWrite)>,
    effects: Effects,
) -> Result<(), DbErr> {
    let mut groups: Vec<(RowWrite, Vec<i64>)> = Vec::new();
    for (id, write) in writes {
        match groups.iter_mut().find(|(w, _)| *w == write) {
            Some((_, ids)) => ids.push(id),
            None => groups.push((write, vec![id])),
        }
    }
    let backend = txn.get_database_backend();
    for (write, ids) in groups {
        let mut update = sms_log::Entity::update_many();
        if let Some(status) = write.status {
            update = super::feed::stamped(update, backend)
                .col_expr(sms_log::Column::Status, Expr::value(status));
        }
        if let Some(at) = write.delivered_at {
            update = update.col_expr(sms_log::Column::DeliveredAt, Expr::value(at));
        }
        if let Some((code, message)) = write.error {
            update = update
                .col_expr(sms_log::Column::ErrorCode, Expr::value(code))
                .col_expr(sms_log::Column::ErrorMessage, Expr::value(message));
        }
        if let Some((cost, fee, at)) = write.price {
            update = update
                .col_expr(sms_log::Column::CostMicros, Expr::value(cost))
                .col_expr(sms_log::Column::CarrierFeeMicros, Expr::value(fee))
                .col_expr(sms_log::Column::PricedAt, Expr::value(at));
        }
        for chunk in ids.chunks(500) {
            update
                .clone()
                .filter(sms_log::Column::Id.is_in(chunk.iter().copied()))
                .exec(txn)
                .await?;
        }
    }
    for (month, delta) in effects.spend {
        if delta != 0 {
            spend::adjust(txn, &month, delta).await?;
        }
    }
    rollup_add(txn, effects.rollup).await
}

/// A text someone sent to our number, as it is kept.
#[derive(Debug, Clone)]
pub struct NewReply<'a> {
    pub from_phone: &'a str,
    pub to_number: &'a str,
    pub body: &'a str,
    pub keyword: &'a str,
    pub inbound_message_id: Option<&'a str>,
    pub received_at: DateTime<Utc>,
}

pub async fn insert_reply(txn: &impl ConnectionTrait, reply: NewReply<'_>) -> Result<(), DbErr> {
    sms_replies::ActiveModel {
        from_phone: Set(clip(reply.from_phone, 32)),
        to_number: Set(clip(reply.to_number, 64)),
        body: Set(reply.body.to_owned()),
        keyword: Set(reply.keyword.to_owned()),
        inbound_message_id: Set(reply.inbound_message_id.map(|s| clip(s, 128))),
        received_at: Set(reply.received_at),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    Ok(())
}

/// Texts `SENT` before `cutoff` with no final receipt become `UNKNOWN`, up to 500 in one transaction,
/// read through the partial index of sent rows (skipping rows another instance is settling); returns
/// them.
pub async fn mark_unknown_batch<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    cutoff: DateTime<Utc>,
) -> Result<Vec<sms_log::Model>, DbErr> {
    use sea_orm::{QueryOrder, QuerySelect};
    let txn = db.begin().await?;
    // With a literal, as the partial index `idx_sms_log_awaiting_receipt` says it: a bound parameter
    // would keep the planner from using that index.
    let mut query = sms_log::Entity::find()
        .filter(Expr::cust("status = 'sent'"))
        .filter(sms_log::Column::SentAt.lt(cutoff))
        .order_by_asc(sms_log::Column::SentAt)
        .limit(500);
    if txn.get_database_backend() == DbBackend::Postgres {
        query = query.lock_with_behavior(
            sea_orm::sea_query::LockType::Update,
            sea_orm::sea_query::LockBehavior::SkipLocked,
        );
    }
    let rows = query.all(&txn).await?;
    if !rows.is_empty() {
        super::feed::stamped(
            sms_log::Entity::update_many()
                .col_expr(sms_log::Column::Status, Expr::value(SmsStatus::Unknown)),
            txn.get_database_backend(),
        )
        .filter(sms_log::Column::Id.is_in(rows.iter().map(|r| r.id)))
        .exec(&txn)
        .await?;
        let mut rollup = Vec::new();
        for row in &rows {
            let m = measures(row);
            rollup.push((rollup_key(row, RollupStatus::Sent), m.map(|v| -v)));
            rollup.push((rollup_key(row, RollupStatus::Unknown), m));
        }
        rollup_add(&txn, rollup).await?;
    }
    txn.commit().await?;
    Ok(rows)
}
