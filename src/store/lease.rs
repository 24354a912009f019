//! The workers' side of `sms_log`: claiming due rows with a lease, and recording each outcome only
//! while the lease is still held (a row whose lease passed to another worker is left to that worker).

use chrono::{DateTime, Duration, Utc};
use entity::sms_log::{self, SmsStatus};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Statement, TransactionTrait,
    sea_query::Expr,
};

use sea_orm::{ExprTrait, TransactionSession};

use crate::outbox::lifecycle::{self, Event};

use super::{
    BlockedReason, feed,
    rollup::{RollupStatus, measures, rollup_add, rollup_key},
    spend,
};

/// Claims up to `limit` due messages for one worker: pending ones whose time has come and sending ones
/// whose lease expired (their worker died). Transactional messages first. Each claim counts an attempt
/// and holds a lease until `now + lease`. On PostgreSQL, concurrent workers skip each other's rows.
pub async fn claim_due(
    db: &super::db::Db,
    now: DateTime<Utc>,
    lease: Duration,
    limit: u64,
) -> Result<Vec<sms_log::Model>, DbErr> {
    use sea_orm::{
        QueryOrder, QuerySelect, QueryTrait,
        sea_query::{LockBehavior, LockType},
    };
    // `FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite has one writer and no row locks (sea-query
    // leaves the clause out there). The status test is written as the partial index of unsent rows
    // writes it, with literals: a planner uses a partial index only when it can prove the query's
    // condition implies the index's, which bound parameters hide (SQLite then scanned the whole log,
    // a third of the batched pipeline's throughput).
    let due = sms_log::Entity::find()
        .select_only()
        .column(sms_log::Column::Id)
        .filter(Expr::cust(UNSENT))
        .filter(sms_log::Column::NextAttemptAt.lte(now))
        .order_by_asc(sms_log::Column::Priority)
        .order_by_asc(sms_log::Column::NextAttemptAt)
        .limit(limit)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .into_query();
    // One statement, outside a transaction: the `Db` takes SQLite's writer turn for it.
    let mut claimed = feed::stamped(sms_log::Entity::update_many(), db.get_database_backend())
        .col_expr(sms_log::Column::Status, Expr::value(SmsStatus::Sending))
        .col_expr(
            sms_log::Column::Attempts,
            Expr::col(sms_log::Column::Attempts).add(1),
        )
        .col_expr(sms_log::Column::NextAttemptAt, Expr::value(now + lease))
        .filter(sms_log::Column::Id.in_subquery(due))
        .exec_with_returning(db)
        .await?;
    claimed.sort_by_key(|m| (m.priority, m.id));
    Ok(claimed)
}

/// Gives a code that was never sent its share of its day's code budget back.
async fn give_back_code_day(
    txn: &impl ConnectionTrait,
    row: &sms_log::Model,
    charged: i64,
) -> Result<(), DbErr> {
    if row.message_type != entity::sms_log::MessageType::PhoneVerification || charged <= 0 {
        return Ok(());
    }
    super::code_spend::give_back(txn, &super::rollup::day_of(row.created_at), charged).await
}

/// The condition of the partial index of unsent rows (`idx_sms_log_due`), word for word: the statuses a
/// claim moves from (`lifecycle::from(Event::Claim)`, checked by a test).
pub(super) const UNSENT: &str = "status IN ('pending', 'sending')";

/// At most `max` characters of a provider-supplied string, so an unusual answer always fits its column.
fn clip(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((end, _)) => &s[..end],
        None => s,
    }
}

/// Narrows an update to the claim a worker holds: same row, same attempt, in a status `event` moves
/// from (sending: `lifecycle`).
fn held(row: &sms_log::Model, event: Event) -> sea_orm::Condition {
    sea_orm::Condition::all()
        .add(sms_log::Column::Id.eq(row.id))
        .add(sms_log::Column::Status.is_in(lifecycle::from(event)))
        .add(sms_log::Column::Attempts.eq(row.attempts))
}

/// What became of one claimed message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Back in the queue for another attempt.
    Retrying,
    Failed,
    /// Returned to the queue without using an attempt (throttling, shutdown).
    Released,
    /// Another worker took the message over after this worker's lease expired.
    LeaseLost,
    /// The send may or may not have gone out; not tried again (a promotion), a receipt settles it.
    Unknown,
}

/// Ends claimed messages that will never be sent with `status` (`expired`: their time passed;
/// `cancelled`: their person was erased; `blocked` with `reason`: the rules decided again at the claim
/// refuse them now): their reserved cost released, the rollup moved. Returns the ids still held by
/// this worker (the others had passed to another).
pub async fn end_unsent<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    rows: &[&sms_log::Model],
    (status, reason): (SmsStatus, Option<BlockedReason>),
) -> Result<Vec<i64>, DbErr> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let txn = db.begin().await?;
    let mut expired = Vec::new();
    let mut rollup = Vec::new();
    let mut released = std::collections::BTreeMap::<String, i64>::new();
    for row in rows {
        let update = super::messages::never_sent(feed::stamped(
            sms_log::Entity::update_many()
                .col_expr(sms_log::Column::Status, Expr::value(status))
                .col_expr(sms_log::Column::BlockedReason, Expr::value(reason)),
            txn.get_database_backend(),
        ))
        .filter(held(row, Event::EndUnsent(status)));
        if update.exec(&txn).await?.rows_affected != 1 {
            continue;
        }
        expired.push(row.id);
        give_back_code_day(&txn, row, row.cost_micros.unwrap_or(0)).await?;
        *released
            .entry(crate::billing::month_of(row.created_at))
            .or_default() += row.cost_micros.unwrap_or(0);
        rollup.push((
            rollup_key(row, RollupStatus::Pending),
            measures(row).map(|v| -v),
        ));
        rollup.push((
            rollup_key(row, status.into()),
            [1, i64::from(row.segments), 0, 0],
        ));
    }
    for (month, charged) in released {
        if charged > 0 {
            spend::adjust(&txn, &month, -charged).await?;
        }
    }
    rollup_add(&txn, rollup).await?;
    txn.commit().await?;
    Ok(expired)
}

/// Points a claimed message at its person's new number (same country): the rules decided again at the
/// claim let it follow them. False when the lease had passed to another worker.
pub async fn follow(
    db: &impl ConnectionTrait,
    row: &sms_log::Model,
    to_phone: &str,
) -> Result<bool, DbErr> {
    let result = sms_log::Entity::update_many()
        .col_expr(sms_log::Column::ToPhone, Expr::value(to_phone))
        .filter(held(row, Event::Sent))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// The rows still sending, as a condition PostgreSQL's planner cannot match to the partial index of
/// unsent rows: written as `status = 'sending'`, it implies that index's condition, and a planner whose
/// statistics predate the queue's growth (a new database, a burst since the last analyse) scanned the
/// whole queue through it for each batch (0.2 ms a row at 100,000 queued) instead of looking up
/// the batch's ids.
fn still_sending(backend: sea_orm::DbBackend) -> &'static str {
    match backend {
        sea_orm::DbBackend::Postgres => "CASE WHEN status = 'sending' THEN TRUE ELSE FALSE END",
        _ => "status = 'sending'",
    }
}

/// Records several successful sends in one statement (group commit). Returns the ids of the rows still
/// held by this worker; the others had passed to another worker after a lease expired.
pub async fn record_sent_many<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    sent: &[(&sms_log::Model, String)],
    now: DateTime<Utc>,
) -> Result<std::collections::HashSet<i64>, DbErr> {
    if sent.is_empty() {
        return Ok(Default::default());
    }
    let backend = db.get_database_backend();
    let param = |n: usize| super::placeholder(backend, n);
    let mut values: Vec<sea_orm::Value> = vec![now.into()];
    let mut cases = String::new();
    let mut held = Vec::with_capacity(sent.len());
    let mut ids = Vec::with_capacity(sent.len());
    for (row, provider_id) in sent {
        ids.push(row.id.to_string());
        values.push(clip(provider_id, 200).to_owned().into());
        // Ids and attempts are our own integers, written inline; provider ids are bound.
        cases.push_str(&format!(" WHEN {} THEN {}", row.id, param(values.len())));
        held.push(format!("({}, {})", row.id, row.attempts));
    }
    let sql = format!(
        "UPDATE sms_log SET status = 'sent', sent_at = {now}, next_attempt_at = NULL, \
         sensitive_body = NULL, error_code = NULL, error_message = NULL, change_seq = {stamp}, \
         provider_message_id = CASE id{cases} END \
         WHERE id IN ({ids}) AND {sending} AND (id, attempts) IN (VALUES {held}) RETURNING id",
        now = param(1),
        stamp = feed::stamp_sql(backend),
        ids = ids.join(", "),
        sending = still_sending(backend),
        held = held.join(", ")
    );
    let txn = db.begin().await?;
    let updated: std::collections::HashSet<i64> = txn
        .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?
        .iter()
        .filter_map(|r| r.try_get::<i64>("", "id").ok())
        .collect();
    let mut rollup = Vec::new();
    let mut went = Vec::with_capacity(updated.len());
    for (row, _) in sent.iter().filter(|(r, _)| updated.contains(&r.id)) {
        let delta = measures(row);
        rollup.push((rollup_key(row, RollupStatus::Pending), delta.map(|v| -v)));
        rollup.push((rollup_key(row, RollupStatus::Sent), delta));
        went.push(*row);
    }
    rollup_add(&txn, rollup).await?;
    super::savings::add(&txn, &went, now).await?;
    txn.commit().await?;
    Ok(updated)
}

/// Puts a claimed message back in the queue at `at` without spending its attempt.
pub async fn release(
    db: &impl ConnectionTrait,
    row: &sms_log::Model,
    at: DateTime<Utc>,
) -> Result<Outcome, DbErr> {
    let result = feed::stamped(sms_log::Entity::update_many(), db.get_database_backend())
        .col_expr(sms_log::Column::Status, Expr::value(SmsStatus::Pending))
        .col_expr(sms_log::Column::Attempts, Expr::value(row.attempts - 1))
        .col_expr(sms_log::Column::NextAttemptAt, Expr::value(at))
        .filter(held(row, Event::Requeue))
        .exec(db)
        .await?;
    Ok(if result.rows_affected == 1 {
        Outcome::Released
    } else {
        Outcome::LeaseLost
    })
}

/// Puts a claimed message back in the queue at `at` for another attempt, keeping the error of this
/// one. False when the lease had passed to another worker.
pub async fn retry_later(
    db: &impl ConnectionTrait,
    row: &sms_log::Model,
    (code, message): (&str, &str),
    at: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let result = feed::stamped(sms_log::Entity::update_many(), db.get_database_backend())
        .col_expr(sms_log::Column::ErrorCode, Expr::value(clip(code, 128)))
        .col_expr(sms_log::Column::ErrorMessage, Expr::value(message))
        .col_expr(sms_log::Column::Status, Expr::value(SmsStatus::Pending))
        .col_expr(sms_log::Column::NextAttemptAt, Expr::value(at))
        .filter(held(row, Event::Requeue))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Records a claimed promotion whose send may have gone out (a timeout, a connection broken after the
/// request left) as `unknown`, not to be tried again: a receipt, matched by the message's own id in
/// the provider's context, settles it. Its estimated cost stays reserved (the provider may have charged
/// it); the rollup moves from pending to unknown. False when the lease had passed to another worker.
pub async fn unknown<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    row: &sms_log::Model,
    (code, message): (&str, &str),
) -> Result<bool, DbErr> {
    let txn = db.begin().await?;
    let update = feed::stamped(sms_log::Entity::update_many(), txn.get_database_backend())
        .col_expr(sms_log::Column::ErrorCode, Expr::value(clip(code, 128)))
        .col_expr(sms_log::Column::ErrorMessage, Expr::value(message))
        .col_expr(sms_log::Column::Status, Expr::value(SmsStatus::Unknown))
        .col_expr(
            sms_log::Column::NextAttemptAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(
            sms_log::Column::SensitiveBody,
            Expr::value(Option::<String>::None),
        )
        .filter(held(row, Event::Ambiguous));
    if update.exec(&txn).await?.rows_affected != 1 {
        return Ok(false);
    }
    let delta = measures(row);
    rollup_add(
        &txn,
        vec![
            (rollup_key(row, RollupStatus::Pending), delta.map(|v| -v)),
            (rollup_key(row, RollupStatus::Unknown), delta),
        ],
    )
    .await?;
    txn.commit().await?;
    Ok(true)
}

/// Fails a claimed message for good, in the caller's transaction (which may write more with it: the
/// number on the opt-out list when the carrier says it opted out): the row (no next attempt, no code in
/// the clear, no charge), its reservation given back to the month it came from, the rollup moved from
/// pending to failed. False when the lease had passed to another worker (nothing is written).
pub async fn fail(
    txn: &impl ConnectionTrait,
    row: &sms_log::Model,
    (code, message): (&str, &str),
) -> Result<bool, DbErr> {
    let update = super::messages::never_sent(feed::stamped(
        sms_log::Entity::update_many()
            .col_expr(sms_log::Column::ErrorCode, Expr::value(clip(code, 128)))
            .col_expr(sms_log::Column::ErrorMessage, Expr::value(message))
            .col_expr(sms_log::Column::Status, Expr::value(SmsStatus::Failed)),
        txn.get_database_backend(),
    ))
    .filter(held(row, Event::Fail));
    if update.exec(txn).await?.rows_affected != 1 {
        return Ok(false);
    }
    let charged = row.cost_micros.unwrap_or(0);
    if charged > 0 {
        spend::adjust(txn, &crate::billing::month_of(row.created_at), -charged).await?;
        give_back_code_day(txn, row, charged).await?;
    }
    let delta = measures(row);
    rollup_add(
        txn,
        vec![
            (rollup_key(row, RollupStatus::Pending), delta.map(|v| -v)),
            (
                rollup_key(row, RollupStatus::Failed),
                [1, i64::from(row.segments), 0, 0],
            ),
        ],
    )
    .await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The statements written as SQL text (for their partial indexes) say what the lifecycle says.
    #[test]
    fn literal_statuses_are_the_lifecycles() {
        let names = |event| {
            lifecycle::from(event)
                .iter()
                .map(|s| format!("'{}'", sea_orm::ActiveEnum::to_value(s)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        assert_eq!(UNSENT, format!("status IN ({})", names(Event::Claim)));
        assert_eq!(names(Event::Sent), "'sending'", "record_sent_many");
        assert_eq!(
            names(Event::Overdue),
            "'sent'",
            "receipts::mark_unknown_batch"
        );
    }
}
