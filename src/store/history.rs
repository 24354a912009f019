//! Reading what happened: the log, its delivery events, replies, reminder runs and the queue, newest
//! first, filtered, paged by id (each page is one indexed range scan).

use chrono::{DateTime, Utc};
use entity::sms_log::{self, BlockedReason, MessageType, SmsStatus};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    pub status: Option<SmsStatus>,
    pub message_type: Option<MessageType>,
    pub user_id: Option<String>,
    /// E.164.
    pub phone: Option<String>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    pub provider_message_id: Option<String>,
}

/// Up to `limit` rows matching `filter` with ids below `before_id`, newest first.
pub async fn list(
    db: &impl ConnectionTrait,
    filter: &LogFilter,
    before_id: Option<i64>,
    limit: u64,
) -> Result<Vec<sms_log::Model>, DbErr> {
    let mut query = sms_log::Entity::find();
    if let Some(status) = filter.status {
        query = query.filter(sms_log::Column::Status.eq(status));
    }
    if let Some(message_type) = filter.message_type {
        query = query.filter(sms_log::Column::MessageType.eq(message_type));
    }
    if let Some(user) = &filter.user_id {
        query = query.filter(sms_log::Column::UserId.eq(user.as_str()));
    }
    if let Some(phone) = &filter.phone {
        query = query.filter(sms_log::Column::ToPhone.eq(phone.as_str()));
    }
    if let Some(id) = &filter.provider_message_id {
        query = query.filter(sms_log::Column::ProviderMessageId.eq(id.as_str()));
    }
    if let Some(after) = filter.created_after {
        query = query.filter(sms_log::Column::CreatedAt.gte(after));
    }
    if let Some(before) = filter.created_before {
        query = query.filter(sms_log::Column::CreatedAt.lt(before));
    }
    if let Some(id) = before_id {
        query = query.filter(sms_log::Column::Id.lt(id));
    }
    query
        .order_by_desc(sms_log::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// The messages sent again for `original` (`retrySms`), oldest first.
pub async fn retries_of(
    db: &impl ConnectionTrait,
    original: i64,
) -> Result<Vec<sms_log::Model>, DbErr> {
    sms_log::Entity::find()
        .filter(sms_log::Column::RetryOf.eq(original))
        .order_by_asc(sms_log::Column::Id)
        .all(db)
        .await
}

/// One message by id.
pub async fn get(db: &impl ConnectionTrait, id: i64) -> Result<Option<sms_log::Model>, DbErr> {
    sms_log::Entity::find_by_id(id).one(db).await
}

/// The delivery events of a message, oldest first (an indexed range: `sms_events (sms_log_id, id)`).
pub async fn events(
    db: &impl ConnectionTrait,
    log_id: i64,
) -> Result<Vec<crate::store::receipts::EventRow>, DbErr> {
    entity::sms_events::Entity::find()
        .filter(entity::sms_events::Column::SmsLogId.eq(log_id))
        .order_by_asc(entity::sms_events::Column::Id)
        .all(db)
        .await
}

/// Replies, newest first, optionally from one number, paged by id (an indexed range).
pub async fn replies(
    db: &impl ConnectionTrait,
    from: Option<&str>,
    before_id: Option<i64>,
    limit: u64,
) -> Result<Vec<crate::store::receipts::ReplyRow>, DbErr> {
    use entity::sms_replies::{Column, Entity};
    let mut query = Entity::find();
    if let Some(from) = from {
        query = query.filter(Column::FromPhone.eq(from));
    }
    if let Some(id) = before_id {
        query = query.filter(Column::Id.lt(id));
    }
    query.order_by_desc(Column::Id).limit(limit).all(db).await
}

/// Reminder scan runs, newest first, optionally of one kind, paged by id.
pub async fn reminder_runs(
    db: &impl ConnectionTrait,
    kind: Option<entity::reminder_runs::ScanKind>,
    before_id: Option<i64>,
    limit: u64,
) -> Result<Vec<crate::store::reminders::ScanRunRow>, DbErr> {
    use entity::reminder_runs::{Column, Entity};
    let mut query = Entity::find();
    if let Some(kind) = kind {
        query = query.filter(Column::Kind.eq(kind));
    }
    if let Some(id) = before_id {
        query = query.filter(Column::Id.lt(id));
    }
    query.order_by_desc(Column::Id).limit(limit).all(db).await
}

/// The outbox now: what waits, what is being sent, what is retrying, what is due.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueState {
    pub pending: i64,
    pub sending: i64,
    pub retrying: i64,
    pub due: i64,
    /// When the oldest due message came due.
    pub oldest_due: Option<DateTime<Utc>>,
    /// Messages that failed for good today (UTC), from the cost rollup.
    pub failed_today: i64,
}

/// Reads the outbox's state: one grouped query over the unsent rows (a partial index), one for the
/// oldest due, one over today's rollup rows.
pub async fn queue_state(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
) -> Result<QueueState, DbErr> {
    use sea_orm::Statement;
    let backend = db.get_database_backend();
    let p = |n| super::placeholder(backend, n);
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "SELECT status, CAST(COUNT(*) AS BIGINT) AS n, \
                 CAST(SUM(CASE WHEN attempts > 0 THEN 1 ELSE 0 END) AS BIGINT) AS r, \
                 CAST(SUM(CASE WHEN next_attempt_at <= {} THEN 1 ELSE 0 END) AS BIGINT) AS d \
                 FROM sms_log WHERE status IN ('pending', 'sending') GROUP BY status",
                p(1)
            ),
            [now.into()],
        ))
        .await?;
    let mut state = QueueState::default();
    for row in rows {
        let status: String = row.try_get("", "status")?;
        let n: i64 = row.try_get("", "n")?;
        if status == "pending" {
            state.pending = n;
            state.retrying = row.try_get::<Option<i64>>("", "r")?.unwrap_or(0);
            state.due = row.try_get::<Option<i64>>("", "d")?.unwrap_or(0);
        } else {
            state.sending = n;
        }
    }
    state.oldest_due = sms_log::Entity::find()
        .select_only()
        .column(sms_log::Column::NextAttemptAt)
        .filter(sms_log::Column::Status.eq(SmsStatus::Pending))
        .filter(sms_log::Column::NextAttemptAt.lte(now))
        .order_by_asc(sms_log::Column::NextAttemptAt)
        .into_tuple::<Option<DateTime<Utc>>>()
        .one(db)
        .await?
        .flatten();
    let failed = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "SELECT CAST(SUM(messages) AS BIGINT) AS n FROM cost_rollup WHERE day = {} AND status = 'failed'",
                p(1)
            ),
            [super::rollup::day_of(now).into()],
        ))
        .await?;
    state.failed_today = match failed {
        Some(row) => row.try_get::<Option<i64>>("", "n")?.unwrap_or(0),
        None => 0,
    };
    Ok(state)
}

/// The codes refused from `from` up to `to`, by number and reason (the verification report groups
/// them by range or country).
pub async fn refused_codes(
    db: &impl ConnectionTrait,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(String, BlockedReason, i64)>, DbErr> {
    use sea_orm::QuerySelect;
    sms_log::Entity::find()
        .select_only()
        .column(sms_log::Column::ToPhone)
        .column(sms_log::Column::BlockedReason)
        .column_as(
            sea_orm::sea_query::Expr::expr(sea_orm::sea_query::Func::count(
                sea_orm::sea_query::Expr::col(sms_log::Column::Id),
            )),
            "n",
        )
        .filter(sms_log::Column::MessageType.eq(MessageType::PhoneVerification))
        .filter(sms_log::Column::Status.eq(SmsStatus::Blocked))
        .filter(sms_log::Column::CreatedAt.gte(from))
        .filter(sms_log::Column::CreatedAt.lt(to))
        .filter(sms_log::Column::BlockedReason.is_not_null())
        .group_by(sms_log::Column::ToPhone)
        .group_by(sms_log::Column::BlockedReason)
        .into_tuple()
        .all(db)
        .await
}

/// The messages with these ids, in no particular order (one query).
pub async fn by_ids(
    db: &impl ConnectionTrait,
    ids: Vec<i64>,
) -> Result<Vec<sms_log::Model>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    sms_log::Entity::find()
        .filter(sms_log::Column::Id.is_in(ids))
        .all(db)
        .await
}
