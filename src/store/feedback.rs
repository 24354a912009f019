//! `message_feedback`: the reports of codes' outcomes waiting for AWS, a durable queue scanned by its
//! `due_at` index. A row is claimed by moving its `due_at` on (so instances do not report it twice at
//! once) and deleted when AWS took the report.

use chrono::{DateTime, Utc};
use entity::message_feedback::{self, Column, Entity};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    sea_query::OnConflict,
};

pub use entity::message_feedback::Model as FeedbackRow;

/// Queues the report for code `code_id`, sent as `sms_log_id`: `FAILED` at `expires_at` unless the code
/// is entered first.
pub async fn expect(
    db: &impl ConnectionTrait,
    code_id: i64,
    sms_log_id: i64,
    expires_at: DateTime<Utc>,
) -> Result<(), DbErr> {
    Entity::insert(message_feedback::ActiveModel {
        code_id: Set(code_id),
        sms_log_id: Set(sms_log_id),
        received: Set(false),
        due_at: Set(expires_at),
        attempts: Set(0),
    })
    .on_conflict(OnConflict::column(Column::CodeId).do_nothing().to_owned())
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// The code was entered: report `RECEIVED` now.
pub async fn received(
    db: &impl ConnectionTrait,
    code_id: i64,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    Entity::update_many()
        .col_expr(Column::Received, sea_orm::sea_query::Expr::value(true))
        .col_expr(Column::DueAt, sea_orm::sea_query::Expr::value(now))
        .filter(Column::CodeId.eq(code_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Up to `limit` reports due at `now`, each claimed until `claim_until` (`queue::claim`).
pub async fn claim_due(
    db: &super::db::Db,
    now: DateTime<Utc>,
    claim_until: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<FeedbackRow>, DbErr> {
    let queue = super::queue::Queue::<Entity> {
        key: Column::CodeId,
        due: Column::DueAt,
        ready: sea_orm::Condition::all(),
    };
    super::queue::claim(db, queue, (now, claim_until), limit).await
}

/// AWS took the report (or it can never be made): the row goes.
pub async fn done(db: &impl ConnectionTrait, code_id: i64) -> Result<(), DbErr> {
    Entity::delete_by_id(code_id).exec(db).await?;
    Ok(())
}

/// The report failed: try again at `at`.
pub async fn retry_at(
    db: &impl ConnectionTrait,
    row: &FeedbackRow,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    Entity::update_many()
        .col_expr(Column::DueAt, sea_orm::sea_query::Expr::value(at))
        .col_expr(
            Column::Attempts,
            sea_orm::sea_query::Expr::value(row.attempts + 1),
        )
        .filter(Column::CodeId.eq(row.code_id))
        .exec(db)
        .await?;
    Ok(())
}
