//! The webhook tables: endpoints, deliveries (one per event and endpoint, unique) and attempts. Events
//! are fanned out to the endpoints that want them in the transaction of the change they tell of, so a
//! change and its deliveries commit together.

use chrono::{DateTime, Duration, Utc};
use entity::{webhook_attempts, webhook_deliveries, webhook_endpoints};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionSession, TransactionTrait,
    sea_query::{Expr, ExprTrait, OnConflict},
};

pub use entity::{
    webhook_attempts::Model as AttemptRow, webhook_deliveries::Model as DeliveryRow,
    webhook_endpoints::Model as EndpointRow,
};

/// Registers an endpoint, enabled.
pub async fn create_endpoint(
    db: &impl ConnectionTrait,
    (url, event_types, secret): (&str, &str, &str),
    now: DateTime<Utc>,
) -> Result<EndpointRow, DbErr> {
    webhook_endpoints::ActiveModel {
        url: Set(url.to_owned()),
        event_types: Set(event_types.to_owned()),
        secret: Set(secret.to_owned()),
        enabled: Set(true),
        disabled_reason: Set(None),
        failing_since: Set(None),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
}

/// Every endpoint, oldest first (a handful).
pub async fn endpoints(db: &impl ConnectionTrait) -> Result<Vec<EndpointRow>, DbErr> {
    webhook_endpoints::Entity::find()
        .order_by_asc(webhook_endpoints::Column::Id)
        .all(db)
        .await
}

pub async fn endpoint(db: &impl ConnectionTrait, id: i64) -> Result<Option<EndpointRow>, DbErr> {
    webhook_endpoints::Entity::find_by_id(id).one(db).await
}

/// Turns an endpoint on or off (`reason` says why it is off); `None` when there is no such endpoint.
pub async fn set_enabled(
    db: &impl ConnectionTrait,
    id: i64,
    enabled: bool,
    reason: Option<String>,
) -> Result<Option<EndpointRow>, DbErr> {
    use webhook_endpoints::Column;
    let mut update = webhook_endpoints::Entity::update_many()
        .col_expr(Column::Enabled, Expr::value(enabled))
        .col_expr(Column::DisabledReason, Expr::value(reason));
    if enabled {
        update = update.col_expr(
            Column::FailingSince,
            Expr::value(Option::<DateTime<Utc>>::None),
        );
    }
    update.filter(Column::Id.eq(id)).exec(db).await?;
    endpoint(db, id).await
}

/// Gives an endpoint a new secret; `None` when there is no such endpoint.
pub async fn set_secret(
    db: &impl ConnectionTrait,
    id: i64,
    secret: &str,
) -> Result<Option<EndpointRow>, DbErr> {
    use webhook_endpoints::Column;
    webhook_endpoints::Entity::update_many()
        .col_expr(Column::Secret, Expr::value(secret))
        .filter(Column::Id.eq(id))
        .exec(db)
        .await?;
    endpoint(db, id).await
}

/// Deletes an endpoint with its deliveries and their attempts; false when there was none.
pub async fn delete_endpoint<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    id: i64,
) -> Result<bool, DbErr> {
    let txn = db.begin().await?;
    let deliveries: Vec<i64> = webhook_deliveries::Entity::find()
        .select_only()
        .column(webhook_deliveries::Column::Id)
        .filter(webhook_deliveries::Column::EndpointId.eq(id))
        .into_tuple()
        .all(&txn)
        .await?;
    for chunk in deliveries.chunks(500) {
        webhook_attempts::Entity::delete_many()
            .filter(webhook_attempts::Column::DeliveryId.is_in(chunk.to_vec()))
            .exec(&txn)
            .await?;
    }
    webhook_deliveries::Entity::delete_many()
        .filter(webhook_deliveries::Column::EndpointId.eq(id))
        .exec(&txn)
        .await?;
    let gone = webhook_endpoints::Entity::delete_by_id(id)
        .exec(&txn)
        .await?
        .rows_affected
        == 1;
    txn.commit().await?;
    Ok(gone)
}

/// An event to fan out: its stable id, its type and the signed body.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub id: String,
    pub event_type: &'static str,
    pub payload: String,
    /// Whom the body is about (a user, a number): an erasure finds its copies by them.
    pub subject: (Option<String>, Option<String>),
}

impl NewEvent {
    /// A new event of `event_type` with `data`, under a fresh id (`evt_...`): the Standard Webhooks
    /// body `{"type", "timestamp", "data"}`.
    pub fn new(event_type: &'static str, data: serde_json::Value, now: DateTime<Utc>) -> Self {
        Self::with_id(
            format!("evt_{}", uuid::Uuid::new_v4().simple()),
            event_type,
            data,
            now,
        )
    }

    /// The same, under a given id (a change of the feed has its own: `msg_<stamp>_<message id>`).
    pub fn with_id(
        id: String,
        event_type: &'static str,
        data: serde_json::Value,
        now: DateTime<Utc>,
    ) -> Self {
        let payload = serde_json::json!({
            "type": event_type,
            "timestamp": now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "data": data,
        })
        .to_string();
        Self {
            id,
            event_type,
            payload,
            subject: (None, None),
        }
    }

    /// Says whom the body is about: the user, the number (E.164).
    pub fn about(mut self, user_id: Option<&str>, phone: Option<&str>) -> Self {
        self.subject = (
            user_id.map(str::to_owned),
            phone.filter(|p| !p.is_empty()).map(str::to_owned),
        );
        self
    }
}

/// Writes one pending delivery of each event per enabled endpoint that wants its type (due at once).
/// An event already delivered to an endpoint is not written again. Returns how many were written.
pub async fn emit(
    db: &impl ConnectionTrait,
    events: &[NewEvent],
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    if events.is_empty() {
        return Ok(0);
    }
    let endpoints = webhook_endpoints::Entity::find()
        .filter(webhook_endpoints::Column::Enabled.eq(true))
        .all(db)
        .await?;
    let mut rows = Vec::new();
    for event in events {
        for endpoint in &endpoints {
            if endpoint
                .event_types
                .split(',')
                .any(|t| t == event.event_type)
            {
                rows.push(webhook_deliveries::ActiveModel {
                    endpoint_id: Set(endpoint.id),
                    event_id: Set(event.id.clone()),
                    event_type: Set(event.event_type.to_owned()),
                    payload: Set(event.payload.clone()),
                    status: Set("pending".into()),
                    attempts: Set(0),
                    next_attempt_at: Set(Some(now)),
                    last_status_code: Set(None),
                    last_error: Set(None),
                    created_at: Set(now),
                    delivered_at: Set(None),
                    subject_user_id: Set(event.subject.0.clone()),
                    subject_phone: Set(event.subject.1.clone()),
                    erased_at: Set(None),
                    ..Default::default()
                });
            }
        }
    }
    let mut written = 0;
    for chunk in rows.chunks(200) {
        written += webhook_deliveries::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::columns([
                    webhook_deliveries::Column::EndpointId,
                    webhook_deliveries::Column::EventId,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    }
    Ok(written)
}

/// Whether an enabled endpoint wants events of `event_type`.
pub async fn wanted(db: &impl ConnectionTrait, event_type: &str) -> Result<bool, DbErr> {
    Ok(webhook_endpoints::Entity::find()
        .filter(webhook_endpoints::Column::Enabled.eq(true))
        .all(db)
        .await?
        .iter()
        .any(|e| e.event_types.split(',').any(|t| t == event_type)))
}

/// Claims up to `limit` deliveries due at `now`: each is held for `lease` (its next attempt moved
/// there), so no other worker takes it meanwhile (`queue::claim`). Ties (a frozen clock, one dispatch
/// of several changes) go in the order the events were made, so a receiver sees a message's statuses
/// in the order they happened.
pub async fn claim_due(
    db: &super::db::Db,
    now: DateTime<Utc>,
    lease: Duration,
    limit: u64,
) -> Result<Vec<DeliveryRow>, DbErr> {
    use webhook_deliveries::Column;
    let queue = super::queue::Queue::<webhook_deliveries::Entity> {
        key: Column::Id,
        due: Column::NextAttemptAt,
        ready: Condition::all().add(Column::Status.eq("pending")),
    };
    super::queue::claim(db, queue, (now, now + lease), limit).await
}

/// What became of a delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Delivered,
    RetryAt(DateTime<Utc>),
    GiveUp,
}

/// One attempt's outcome.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub at: DateTime<Utc>,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

/// Records an attempt and what follows it, with the endpoint's failing streak, in one transaction.
/// Returns since when the endpoint has been failing (`None` once it answered).
pub async fn record_attempt<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    delivery: &DeliveryRow,
    attempt: Attempt,
    next: Next,
) -> Result<Option<DateTime<Utc>>, DbErr> {
    use webhook_deliveries::Column;
    let txn = db.begin().await?;
    webhook_attempts::ActiveModel {
        delivery_id: Set(delivery.id),
        attempted_at: Set(attempt.at),
        status_code: Set(attempt.status_code),
        error: Set(attempt.error.clone()),
        duration_ms: Set(attempt.duration_ms),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let (status, next_at, delivered_at) = match next {
        Next::Delivered => ("delivered", None, Some(attempt.at)),
        Next::RetryAt(at) => ("pending", Some(at), None),
        Next::GiveUp => ("failed", None, None),
    };
    webhook_deliveries::Entity::update_many()
        .col_expr(Column::Status, Expr::value(status))
        .col_expr(Column::Attempts, Expr::col(Column::Attempts).add(1))
        .col_expr(Column::NextAttemptAt, Expr::value(next_at))
        .col_expr(Column::DeliveredAt, Expr::value(delivered_at))
        .col_expr(Column::LastStatusCode, Expr::value(attempt.status_code))
        .col_expr(Column::LastError, Expr::value(attempt.error))
        .filter(Column::Id.eq(delivery.id))
        .exec(&txn)
        .await?;
    use webhook_endpoints::Column as E;
    let failing = if next == Next::Delivered {
        None
    } else {
        Some(Expr::col(E::FailingSince).if_null(attempt.at))
    };
    let mut update = webhook_endpoints::Entity::update_many();
    update = match failing {
        None => update.col_expr(E::FailingSince, Expr::value(Option::<DateTime<Utc>>::None)),
        Some(expr) => update.col_expr(E::FailingSince, expr),
    };
    update
        .filter(E::Id.eq(delivery.endpoint_id))
        .exec(&txn)
        .await?;
    let since = endpoint(&txn, delivery.endpoint_id)
        .await?
        .and_then(|e| e.failing_since);
    txn.commit().await?;
    Ok(since)
}

/// Up to `limit` deliveries of an endpoint with ids below `before_id`, newest first.
pub async fn deliveries(
    db: &impl ConnectionTrait,
    endpoint_id: i64,
    before_id: Option<i64>,
    limit: u64,
) -> Result<Vec<DeliveryRow>, DbErr> {
    use webhook_deliveries::Column;
    let mut query = webhook_deliveries::Entity::find().filter(Column::EndpointId.eq(endpoint_id));
    if let Some(id) = before_id {
        query = query.filter(Column::Id.lt(id));
    }
    query.order_by_desc(Column::Id).limit(limit).all(db).await
}

/// The attempts of a delivery, oldest first.
pub async fn attempts(
    db: &impl ConnectionTrait,
    delivery_id: i64,
) -> Result<Vec<AttemptRow>, DbErr> {
    webhook_attempts::Entity::find()
        .filter(webhook_attempts::Column::DeliveryId.eq(delivery_id))
        .order_by_asc(webhook_attempts::Column::Id)
        .all(db)
        .await
}

/// One delivery by id.
pub async fn delivery(db: &impl ConnectionTrait, id: i64) -> Result<Option<DeliveryRow>, DbErr> {
    webhook_deliveries::Entity::find_by_id(id).one(db).await
}

/// Sends a delivery again, under the same event id: pending, due now, its history kept (a delivered
/// one keeps its `delivered_at`; the new attempts are recorded beside the old). Never one an erasure
/// rewrote. `None` when no such delivery could be replayed.
pub async fn replay(
    db: &impl ConnectionTrait,
    id: i64,
    now: DateTime<Utc>,
) -> Result<Option<DeliveryRow>, DbErr> {
    use webhook_deliveries::Column;
    let replayed = webhook_deliveries::Entity::update_many()
        .col_expr(Column::Status, Expr::value("pending"))
        .col_expr(Column::NextAttemptAt, Expr::value(now))
        .filter(Column::Id.eq(id))
        .filter(Column::ErasedAt.is_null())
        .exec(db)
        .await?;
    if replayed.rows_affected == 0 {
        return Ok(None);
    }
    delivery(db, id).await
}

/// The erasure's part: every delivery about `user_id` or one of `numbers`, queued or finished, gets a
/// body without them (`scrub` rewrites it) and loses its subject; it is marked erased and never
/// replayed. Returns how many were rewritten.
pub async fn erase_subject(
    txn: &impl ConnectionTrait,
    (user_id, numbers): (&str, &[String]),
    scrub: impl Fn(&str) -> String,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    use webhook_deliveries::Column;
    let about = Condition::any()
        .add(Column::SubjectUserId.eq(user_id))
        .add(Column::SubjectPhone.is_in(numbers.iter().map(String::as_str)));
    let copies: Vec<(i64, String)> = webhook_deliveries::Entity::find()
        .select_only()
        .column(Column::Id)
        .column(Column::Payload)
        .filter(about)
        .into_tuple()
        .all(txn)
        .await?;
    for (id, payload) in &copies {
        webhook_deliveries::Entity::update_many()
            .col_expr(Column::Payload, Expr::value(scrub(payload)))
            .col_expr(Column::SubjectUserId, Expr::value(Option::<String>::None))
            .col_expr(Column::SubjectPhone, Expr::value(Option::<String>::None))
            .col_expr(Column::ErasedAt, Expr::value(now))
            .filter(Column::Id.eq(*id))
            .exec(txn)
            .await?;
    }
    Ok(copies.len() as u64)
}

/// Deletes, `batch` at a time, finished deliveries (delivered or given up) made before `cutoff`, with
/// their attempts: their bodies carry numbers and reply texts. Returns how many deliveries went.
pub async fn purge(
    db: &impl ConnectionTrait,
    cutoff: DateTime<Utc>,
    batch: u64,
) -> Result<u64, DbErr> {
    use webhook_deliveries::Column;
    super::in_batches(|| async {
        let ids: Vec<i64> = webhook_deliveries::Entity::find()
            .select_only()
            .column(Column::Id)
            .filter(Column::Status.ne("pending"))
            .filter(Column::CreatedAt.lt(cutoff))
            .limit(batch)
            .into_tuple()
            .all(db)
            .await?;
        if ids.is_empty() {
            return Ok(0);
        }
        webhook_attempts::Entity::delete_many()
            .filter(webhook_attempts::Column::DeliveryId.is_in(ids.clone()))
            .exec(db)
            .await?;
        Ok(webhook_deliveries::Entity::delete_many()
            .filter(Column::Id.is_in(ids))
            .exec(db)
            .await?
            .rows_affected)
    })
    .await
}
