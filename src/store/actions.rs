//! Admins' actions on one message: cancelling one that waits to be sent.

use entity::sms_log::{self, MessageType, SmsStatus};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, TransactionSession,
    TransactionTrait, sea_query::Expr,
};

use super::{
    code_spend,
    rollup::{RollupStatus, day_of, measures, rollup_add, rollup_key},
    spend,
};

/// Cancels message `id` if it still waits to be sent (`pending`, also between retries): the row
/// becomes `cancelled` (no code in the clear, no charge), its reservation goes back to the month (and
/// a code's to its day), the rollup moves. `None` when it was not pending (sending, sent, settled):
/// nothing changes then.
pub async fn cancel<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    id: i64,
) -> Result<Option<sms_log::Model>, DbErr> {
    let txn = db.begin().await?;
    // On SQLite the write lock first, so a writer committing meanwhile makes this one wait its turn
    // instead of failing it (a read upgraded to a write on a stale snapshot).
    let Some(row) = sms_log::Entity::find_by_id(id).one(&txn).await? else {
        return Ok(None);
    };
    let update = super::messages::never_sent(super::feed::stamped(
        sms_log::Entity::update_many()
            .col_expr(sms_log::Column::Status, Expr::value(SmsStatus::Cancelled)),
        txn.get_database_backend(),
    ))
    .filter(sms_log::Column::Id.eq(id))
    .filter(
        sms_log::Column::Status.is_in(crate::outbox::lifecycle::from(
            crate::outbox::lifecycle::Event::Cancel,
        )),
    );
    if update.exec(&txn).await?.rows_affected != 1 {
        return Ok(None);
    }
    let charged = row.cost_micros.unwrap_or(0);
    if charged > 0 {
        spend::adjust(&txn, &spend::month_of(row.created_at), -charged).await?;
        if row.message_type == MessageType::PhoneVerification {
            code_spend::give_back(&txn, &day_of(row.created_at), charged).await?;
        }
    }
    rollup_add(
        &txn,
        vec![
            (
                rollup_key(&row, RollupStatus::Pending),
                measures(&row).map(|v| -v),
            ),
            (
                rollup_key(&row, RollupStatus::Cancelled),
                [1, i64::from(row.segments), 0, 0],
            ),
        ],
    )
    .await?;
    let cancelled = sms_log::Entity::find_by_id(id).one(&txn).await?;
    txn.commit().await?;
    Ok(cancelled)
}
