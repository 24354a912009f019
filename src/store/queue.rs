//! The one claim of the durable queues behind background work (webhook deliveries, message
//! feedback): the rows that are ready and due, oldest first, each held until `until` by moving its due
//! time there, in one write transaction. On PostgreSQL concurrent instances skip each other's rows
//! (`FOR UPDATE SKIP LOCKED`); on SQLite the writer's turn orders them. A holder that dies leaves its
//! rows to come due again at `until`. (The outbox's claim is its own: it also counts attempts and
//! moves statuses.)

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, DbErr, EntityTrait, ModelTrait,
    QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, LockBehavior, LockType},
};

use super::db::Db;

/// Which rows of a queue: its key and due-time columns, and what else makes a row ready.
pub struct Queue<E: EntityTrait> {
    pub key: E::Column,
    pub due: E::Column,
    pub ready: Condition,
}

/// Up to `limit` rows ready and due at `now`, each held until `until`.
pub async fn claim<E>(
    db: &Db,
    queue: Queue<E>,
    (now, until): (DateTime<Utc>, DateTime<Utc>),
    limit: u64,
) -> Result<Vec<E::Model>, DbErr>
where
    E: EntityTrait,
    E::Model: ModelTrait<Entity = E> + Sync,
{
    // A read first: an idle queue costs one indexed query, no lock and no transaction.
    let any = E::find()
        .filter(queue.ready.clone())
        .filter(queue.due.lte(now))
        .limit(1)
        .one(db)
        .await?;
    if any.is_none() {
        return Ok(Vec::new());
    }
    let txn = db.write().await?;
    let mut query = E::find()
        .filter(queue.ready)
        .filter(queue.due.lte(now))
        .order_by_asc(queue.due)
        .order_by_asc(queue.key)
        .limit(limit);
    if txn.get_database_backend() == DbBackend::Postgres {
        query = query.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    let rows = query.all(&txn).await?;
    if !rows.is_empty() {
        E::update_many()
            .col_expr(queue.due, Expr::value(until))
            .filter(queue.key.is_in(rows.iter().map(|r| r.get(queue.key))))
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(rows)
}
