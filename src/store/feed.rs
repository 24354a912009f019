//! The change feed, read from the log itself: every write of a message's status stamps the row's
//! `change_seq` in the same statement (one write per change, no second table), and readers take the
//! rows after their place in `(change_seq, id)` order, through the index of that name.
//!
//! The stamp orders changes as they commit, so a reader that moved past a place never sees a change
//! appear behind it:
//! - PostgreSQL: the writing transaction's id. Transactions commit in any order, so a reader takes only
//!   stamps below the oldest transaction still running (`pg_snapshot_xmin`): every transaction below it
//!   has committed or rolled back, and nothing will ever be stamped there again. Transaction ids are
//!   the cluster's, so a transaction left open anywhere on it (another database, a `psql` session)
//!   holds the feed back until it ends: changes are delayed, never lost.
//! - SQLite: one more than the largest stamp, evaluated inside the writing statement, under the one
//!   writer's lock; rows are never deleted from the log, so the largest only grows.
//!
//! A reader sees a message as it is when it reads: a status that lasted less than the reader's poll
//! may be folded into the next one. A settled status is the last write of its row, so it is always
//! seen.

use std::fmt;

use entity::{
    feed_cursors,
    sms_log::{self, Model as MessageRow},
};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, UpdateMany,
    sea_query::{Expr, SimpleExpr},
};

/// The stamp of a change, as SQL: see the module's note.
pub fn stamp_sql(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => "pg_current_xact_id()::text::bigint",
        _ => "(SELECT COALESCE(MAX(change_seq), 0) + 1 FROM sms_log)",
    }
}

/// The stamp of a change, as an expression for `change_seq`.
pub fn stamp(backend: DbBackend) -> SimpleExpr {
    Expr::cust(stamp_sql(backend))
}

/// An update of messages that moves their status, stamped for the feed. Every status write goes
/// through here (or writes `stamp_sql` itself, in the few statements written as SQL text).
pub fn stamped(
    update: UpdateMany<sms_log::Entity>,
    backend: DbBackend,
) -> UpdateMany<sms_log::Entity> {
    update.col_expr(sms_log::Column::ChangeSeq, stamp(backend))
}

/// The stamp a row inserted now gets: on SQLite one more than the largest (the caller holds the write
/// lock); PostgreSQL stamps a new row itself (the column's default), so this is 0 there and unused.
pub async fn next_stamp(db: &impl ConnectionTrait) -> Result<i64, DbErr> {
    Ok(largest(db).await? + 1)
}

/// The largest stamp written (0 before any).
async fn largest(db: &impl ConnectionTrait) -> Result<i64, DbErr> {
    Ok(sms_log::Entity::find()
        .select_only()
        .column_as(sms_log::Column::ChangeSeq.max(), "seq")
        .into_tuple::<Option<i64>>()
        .one(db)
        .await?
        .flatten()
        .unwrap_or(0))
}

/// A place in the feed: the stamp and the message id of a change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub seq: i64,
    pub id: i64,
}

impl Position {
    /// The place of a row's last change.
    pub fn of(row: &MessageRow) -> Self {
        Self {
            seq: row.change_seq,
            id: row.id,
        }
    }

    /// The rows after this place, that a reader may take now (PostgreSQL: below the horizon).
    fn after(self, backend: DbBackend) -> Condition {
        let mut condition = Condition::all()
            // The index's range; the rest narrows it within the first stamp.
            .add(sms_log::Column::ChangeSeq.gte(self.seq))
            .add(
                Condition::any()
                    .add(sms_log::Column::ChangeSeq.gt(self.seq))
                    .add(sms_log::Column::Id.gt(self.id)),
            );
        if backend == DbBackend::Postgres {
            condition = condition.add(Expr::cust(HORIZON_CONDITION));
        }
        condition
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.seq, self.id)
    }
}

/// PostgreSQL: the stamps below the oldest transaction still running are final.
const HORIZON_CONDITION: &str =
    "change_seq < pg_snapshot_xmin(pg_current_snapshot())::text::bigint";

/// Up to `limit` messages changed after `from`, in feed order, as they are now.
pub async fn after(
    db: &impl ConnectionTrait,
    from: Position,
    limit: u64,
) -> Result<Vec<MessageRow>, DbErr> {
    sms_log::Entity::find()
        .filter(from.after(db.get_database_backend()))
        .order_by_asc(sms_log::Column::ChangeSeq)
        .order_by_asc(sms_log::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// Whether any message changed after `from` (one indexed read).
pub async fn any_after(db: &impl ConnectionTrait, from: Position) -> Result<bool, DbErr> {
    Ok(sms_log::Entity::find()
        .select_only()
        .column(sms_log::Column::Id)
        .filter(from.after(db.get_database_backend()))
        .into_tuple::<i64>()
        .one(db)
        .await?
        .is_some())
}

/// The feed's end as a reader may take it now: what happened before is behind it.
pub async fn end(db: &impl ConnectionTrait) -> Result<Position, DbErr> {
    use sea_orm::Statement;
    let backend = db.get_database_backend();
    let seq = if backend == DbBackend::Postgres {
        let row = db
            .query_one_raw(Statement::from_string(
                backend,
                "SELECT (pg_snapshot_xmin(pg_current_snapshot())::text::bigint - 1) AS seq",
            ))
            .await?;
        row.map(|r| r.try_get::<i64>("", "seq"))
            .transpose()?
            .unwrap_or(0)
    } else {
        largest(db).await?
    };
    Ok(Position { seq, id: i64::MAX })
}

/// Where the durable reader `name` has read up to, locked for the rest of the transaction on
/// PostgreSQL (instances take turns; SQLite: the caller holds the writer's lock).
pub async fn cursor(txn: &impl ConnectionTrait, name: &str) -> Result<Position, DbErr> {
    let mut query = feed_cursors::Entity::find_by_id(name.to_owned());
    if txn.get_database_backend() == DbBackend::Postgres {
        query = query.lock_exclusive();
    }
    Ok(query
        .one(txn)
        .await?
        .map(|c| Position {
            seq: c.seq,
            id: c.last_id,
        })
        .unwrap_or_default())
}

/// Whether anything changed after the durable reader `name`'s place (one read, no lock).
pub async fn any_unread(db: &impl ConnectionTrait, name: &str) -> Result<bool, DbErr> {
    let Some(at) = feed_cursors::Entity::find_by_id(name.to_owned())
        .one(db)
        .await?
    else {
        return Ok(false);
    };
    any_after(
        db,
        Position {
            seq: at.seq,
            id: at.last_id,
        },
    )
    .await
}

/// Moves the durable reader `name` to `to`.
pub async fn move_cursor(
    txn: &impl ConnectionTrait,
    name: &str,
    to: Position,
) -> Result<(), DbErr> {
    feed_cursors::Entity::update_many()
        .col_expr(feed_cursors::Column::Seq, Expr::value(to.seq))
        .col_expr(feed_cursors::Column::LastId, Expr::value(to.id))
        .filter(feed_cursors::Column::Name.eq(name))
        .exec(txn)
        .await?;
    Ok(())
}
