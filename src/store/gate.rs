//! `send_gate`: the deployment-wide rate limiter's next free slot and the pause after provider
//! throttling, one row shared by every instance (see `outbox::gate` for the algorithm).

use entity::send_gate::{self, Column, Entity};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, ExprTrait, QueryFilter, QuerySelect,
    sea_query::{Expr, Func, OnConflict},
};

/// The gate's row for the (single) origination identity.
pub const GATE: &str = "sms";

/// Creates the gate's row if it is missing.
pub async fn ensure(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    Entity::insert(send_gate::ActiveModel {
        name: Set(GATE.to_owned()),
        next_slot_us: Set(0),
        paused_until_us: Set(0),
    })
    .on_conflict(OnConflict::column(Column::Name).do_nothing().to_owned())
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Reserves the next free slot at or after `now_us` in one atomic statement (`GREATEST`, `MAX` on
/// SQLite); returns the slot's time in microseconds.
pub async fn reserve_slot(
    db: &impl ConnectionTrait,
    now_us: i64,
    interval_us: i64,
) -> Result<i64, DbErr> {
    let next = Func::greatest([Expr::col(Column::NextSlotUs), Expr::value(now_us)]);
    let row = Entity::update_many()
        .col_expr(Column::NextSlotUs, Expr::expr(next).add(interval_us))
        .filter(Column::Name.eq(GATE))
        .exec_with_returning(db)
        .await?
        .pop()
        .ok_or_else(|| DbErr::RecordNotFound("the send_gate row".into()))?;
    Ok(row.next_slot_us - interval_us)
}

/// Pauses sending for the whole deployment until `until_us` (never shortens a longer pause).
pub async fn pause_until(db: &impl ConnectionTrait, until_us: i64) -> Result<(), DbErr> {
    let until = Func::greatest([Expr::col(Column::PausedUntilUs), Expr::value(until_us)]);
    Entity::update_many()
        .col_expr(Column::PausedUntilUs, until.into())
        .filter(Column::Name.eq(GATE))
        .exec(db)
        .await?;
    Ok(())
}

/// Until when sending is paused (microseconds; in the past when it is not).
pub async fn paused_until(db: &impl ConnectionTrait) -> Result<i64, DbErr> {
    Ok(Entity::find()
        .select_only()
        .column(Column::PausedUntilUs)
        .filter(Column::Name.eq(GATE))
        .into_tuple::<i64>()
        .one(db)
        .await?
        .unwrap_or(0))
}
