//! `send_gate`: the deployment-wide rate limiter's next free slot, the pause after provider
//! throttling and the pause while the account is refused, one row shared by every instance (see
//! `outbox::gate` for the algorithm).

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
        ..Default::default()
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

/// Sending paused because the provider refused the account itself (access denied, an identity that
/// is not active, AWS's spend limit), until a probe passes or an admin resumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountPause {
    pub code: String,
    pub reason: String,
    pub since_us: i64,
    pub next_probe_us: i64,
    /// The message whose send was refused; the probe tries it again with `DryRun`.
    pub probe_message_id: Option<i64>,
}

/// Whether and until when sending may go, as every instance sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GateState {
    /// Throttled: nothing is sent before this moment (microseconds; in the past when not).
    pub paused_until_us: i64,
    pub account: Option<AccountPause>,
}

/// The gate's pauses, read in one query.
pub async fn state(db: &impl ConnectionTrait) -> Result<GateState, DbErr> {
    let Some(row) = Entity::find_by_id(GATE).one(db).await? else {
        return Ok(GateState::default());
    };
    let account = row.pause_code.map(|code| AccountPause {
        code,
        reason: row.pause_reason.unwrap_or_default(),
        since_us: row.paused_since_us.unwrap_or_default(),
        next_probe_us: row.next_probe_us.unwrap_or_default(),
        probe_message_id: row.probe_message_id,
    });
    Ok(GateState {
        paused_until_us: row.paused_until_us,
        account,
    })
}

/// Pauses sending for an account-level error unless it is paused already; true when this call
/// paused it (so the operator alert is said once for the whole deployment).
pub async fn pause_account(
    db: &impl ConnectionTrait,
    (code, reason): (&str, &str),
    now_us: i64,
    next_probe_us: i64,
    message_id: i64,
) -> Result<bool, DbErr> {
    let result = Entity::update_many()
        .col_expr(Column::PauseCode, Expr::value(code))
        .col_expr(Column::PauseReason, Expr::value(reason))
        .col_expr(Column::PausedSinceUs, Expr::value(now_us))
        .col_expr(Column::NextProbeUs, Expr::value(next_probe_us))
        .col_expr(Column::ProbeMessageId, Expr::value(message_id))
        .filter(Column::Name.eq(GATE))
        .filter(Column::PauseCode.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Takes the probe that is due at `due_us` and sets the next one for `next_us`; true when this
/// caller won it (one instance probes, however many are paused).
pub async fn claim_probe(
    db: &impl ConnectionTrait,
    due_us: i64,
    next_us: i64,
) -> Result<bool, DbErr> {
    let result = Entity::update_many()
        .col_expr(Column::NextProbeUs, Expr::value(next_us))
        .filter(Column::Name.eq(GATE))
        .filter(Column::PauseCode.is_not_null())
        .filter(Column::NextProbeUs.eq(due_us))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Keeps a pause going with the error the latest probe met.
pub async fn still_paused(
    db: &impl ConnectionTrait,
    (code, reason): (&str, &str),
) -> Result<(), DbErr> {
    Entity::update_many()
        .col_expr(Column::PauseCode, Expr::value(code))
        .col_expr(Column::PauseReason, Expr::value(reason))
        .filter(Column::Name.eq(GATE))
        .filter(Column::PauseCode.is_not_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Lifts an account pause; true when there was one.
pub async fn resume(db: &impl ConnectionTrait) -> Result<bool, DbErr> {
    let none = || Expr::value(Option::<i64>::None);
    let lifted = Entity::update_many()
        .col_expr(Column::PauseCode, Expr::value(Option::<String>::None))
        .col_expr(Column::PauseReason, Expr::value(Option::<String>::None))
        .col_expr(Column::PausedSinceUs, none())
        .col_expr(Column::NextProbeUs, none())
        .col_expr(Column::ProbeMessageId, none())
        .filter(Column::Name.eq(GATE))
        .filter(Column::PauseCode.is_not_null())
        .exec(db)
        .await?;
    Ok(lifted.rows_affected == 1)
}
