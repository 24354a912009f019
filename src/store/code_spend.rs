//! `code_spend_days`: what verification codes reserved on each UTC day, so that codes spend at most a
//! share of the month's budget a day. Reserved with one atomic conditional update in the send's
//! transaction, like the month's budget; given back when a code fails or expires unsent.

use entity::{
    code_spend_days::{self, Column, Entity},
    sms_log::{self, BlockedReason, MessageType, SmsStatus},
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, ExprTrait, QueryFilter,
    QuerySelect, sea_query::Expr,
};

/// Reserves `micros` of `day`'s code budget unless that would pass `cap`.
pub async fn reserve(
    db: &impl ConnectionTrait,
    day: &str,
    micros: i64,
    cap: i64,
) -> Result<bool, DbErr> {
    let blank = code_spend_days::ActiveModel {
        day: Set(day.to_owned()),
        reserved_micros: Set(0),
    };
    super::spend::reserve_in::<Entity, _>(
        db,
        (Column::Day, Column::ReservedMicros),
        day,
        (micros, cap),
        blank,
    )
    .await
}

/// Gives `micros` back to `day` (a code that failed or expired unsent).
pub async fn give_back(db: &impl ConnectionTrait, day: &str, micros: i64) -> Result<(), DbErr> {
    Entity::update_many()
        .col_expr(
            Column::ReservedMicros,
            Expr::col(Column::ReservedMicros).sub(micros),
        )
        .filter(Column::Day.eq(day))
        .exec(db)
        .await?;
    Ok(())
}

/// What codes reserved on `day`.
pub async fn reserved(db: &impl ConnectionTrait, day: &str) -> Result<i64, DbErr> {
    Ok(Entity::find()
        .select_only()
        .column(Column::ReservedMicros)
        .filter(Column::Day.eq(day))
        .into_tuple::<i64>()
        .one(db)
        .await?
        .unwrap_or(0))
}

/// Reserves the day's share for the codes of a batch that reserved their month's budget (in the same
/// transaction): in order, each takes what is left of `cap`; a code that does not fit is blocked
/// (`verification_ceiling`) and its month's reservation given back.
pub(super) async fn reserve_codes(
    txn: &impl ConnectionTrait,
    rows: &mut [Option<sms_log::Model>],
    (month, day): (&str, &str),
    cap: i64,
) -> Result<(), DbErr> {
    let codes: Vec<(usize, i64)> = rows
        .iter()
        .enumerate()
        .filter_map(|(i, row)| {
            let row = row.as_ref()?;
            let cost = row.cost_micros.unwrap_or(0);
            (row.message_type == MessageType::PhoneVerification
                && row.status == SmsStatus::Pending
                && cost > 0)
                .then_some((i, cost))
        })
        .collect();
    let total: i64 = codes.iter().map(|(_, c)| c).sum();
    if total == 0 || reserve(txn, day, total, cap).await? {
        return Ok(());
    }
    let mut refused = Vec::new();
    let mut given_back = 0;
    for (i, cost) in codes {
        if !reserve(txn, day, cost, cap).await? {
            refused.push(i);
            given_back += cost;
        }
    }
    super::messages::block_inserted(txn, rows, &refused, BlockedReason::VerificationCeiling)
        .await?;
    super::spend::adjust(txn, month, -given_back).await
}
