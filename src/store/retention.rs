//! The retention purge's statements, and `retention_runs`, the record of each purge. Each purge walks
//! an index of only what may still be purged (the texts still kept, rows older than their period), a
//! batch at a time, so a run costs what it removes, not the size of the tables.

use chrono::{DateTime, Utc};
use entity::{reminder_runs, retention_runs, sms_log, sms_replies};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Statement, sea_query::Expr,
};

pub use entity::retention_runs::Model as RetentionRun;

use super::{SmsStatus, in_batches, placeholder};

/// Rows changed per statement: short transactions that never hold many rows at once.
pub const BATCH: u64 = 1_000;

/// Removes the texts (and any code still kept) of messages written before `cutoff` that are no longer
/// waiting to be sent. Returns how many.
pub async fn purge_message_bodies(
    db: &impl ConnectionTrait,
    cutoff: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    use sms_log::Column;
    in_batches(|| async {
        let ids: Vec<i64> = sms_log::Entity::find()
            .select_only()
            .column(Column::Id)
            .filter(Column::BodyPurgedAt.is_null())
            .filter(Column::CreatedAt.lt(cutoff))
            .filter(Column::Status.is_not_in([SmsStatus::Pending, SmsStatus::Sending]))
            .limit(BATCH)
            .into_tuple()
            .all(db)
            .await?;
        if ids.is_empty() {
            return Ok(0);
        }
        Ok(sms_log::Entity::update_many()
            .col_expr(Column::Body, Expr::value(""))
            .col_expr(Column::SensitiveBody, Expr::value(Option::<String>::None))
            .col_expr(Column::BodyPurgedAt, Expr::value(now))
            .filter(Column::Id.is_in(ids))
            // Another instance's purge may have taken them meanwhile.
            .filter(Column::BodyPurgedAt.is_null())
            .exec(db)
            .await?
            .rows_affected)
    })
    .await
}

/// Removes the texts of replies received before `cutoff`. Returns how many.
pub async fn purge_reply_bodies(
    db: &impl ConnectionTrait,
    cutoff: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    use sms_replies::Column;
    in_batches(|| async {
        let ids: Vec<i64> = sms_replies::Entity::find()
            .select_only()
            .column(Column::Id)
            .filter(Column::BodyPurgedAt.is_null())
            .filter(Column::ReceivedAt.lt(cutoff))
            .limit(BATCH)
            .into_tuple()
            .all(db)
            .await?;
        if ids.is_empty() {
            return Ok(0);
        }
        Ok(sms_replies::Entity::update_many()
            .col_expr(Column::Body, Expr::value(""))
            .col_expr(Column::BodyPurgedAt, Expr::value(now))
            .filter(Column::Id.is_in(ids))
            .filter(Column::BodyPurgedAt.is_null())
            .exec(db)
            .await?
            .rows_affected)
    })
    .await
}

/// Deletes the SNS deduplication rows received before `cutoff` (SNS stops retrying long before).
pub async fn purge_sns_deliveries(
    db: &impl ConnectionTrait,
    cutoff: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let backend = db.get_database_backend();
    // `sns_deliveries` has no entity (see `receipts::begin_delivery`).
    let sql = format!(
        "DELETE FROM sns_deliveries WHERE message_id IN \
         (SELECT message_id FROM sns_deliveries WHERE received_at < {} LIMIT {BATCH})",
        placeholder(backend, 1)
    );
    in_batches(|| async {
        let statement = Statement::from_sql_and_values(backend, sql.clone(), [cutoff.into()]);
        Ok(db.execute_raw(statement).await?.rows_affected())
    })
    .await
}

/// Deletes the reminder scans' run records started before `cutoff`.
pub async fn purge_scan_runs(
    db: &impl ConnectionTrait,
    cutoff: DateTime<Utc>,
) -> Result<u64, DbErr> {
    use reminder_runs::Column;
    in_batches(|| async {
        let ids: Vec<i64> = reminder_runs::Entity::find()
            .select_only()
            .column(Column::Id)
            .filter(Column::StartedAt.lt(cutoff))
            .limit(BATCH)
            .into_tuple()
            .all(db)
            .await?;
        Ok(reminder_runs::Entity::delete_many()
            .filter(Column::Id.is_in(ids))
            .exec(db)
            .await?
            .rows_affected)
    })
    .await
}

/// Deletes the verification codes' rows (a number, the requester's IP) that expired before `cutoff`:
/// the fraud guard and the code statistics read only the last days.
pub async fn purge_verifications(
    db: &impl ConnectionTrait,
    cutoff: DateTime<Utc>,
) -> Result<u64, DbErr> {
    use entity::phone_verifications::{Column, Entity};
    in_batches(|| async {
        let ids: Vec<i64> = Entity::find()
            .select_only()
            .column(Column::Id)
            .filter(Column::ExpiresAt.lt(cutoff))
            .limit(BATCH)
            .into_tuple()
            .all(db)
            .await?;
        Ok(Entity::delete_many()
            .filter(Column::Id.is_in(ids))
            .exec(db)
            .await?
            .rows_affected)
    })
    .await
}

/// Records a finished purge.
pub async fn record_run(
    db: &impl ConnectionTrait,
    run: RetentionRun,
) -> Result<RetentionRun, DbErr> {
    retention_runs::ActiveModel {
        trigger: Set(run.trigger),
        message_bodies: Set(run.message_bodies),
        reply_bodies: Set(run.reply_bodies),
        consent_events: Set(run.consent_events),
        webhook_deliveries: Set(run.webhook_deliveries),
        scan_runs: Set(run.scan_runs),
        feed_changes: Set(run.feed_changes),
        outbound_webhooks: Set(run.outbound_webhooks),
        verifications: Set(run.verifications),
        started_at: Set(run.started_at),
        finished_at: Set(run.finished_at),
        ..Default::default()
    }
    .insert(db)
    .await
}

/// The latest purge, if any ran.
pub async fn last_run(db: &impl ConnectionTrait) -> Result<Option<RetentionRun>, DbErr> {
    retention_runs::Entity::find()
        .order_by_desc(retention_runs::Column::Id)
        .one(db)
        .await
}
