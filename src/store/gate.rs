//! `send_gate`: the deployment-wide rate limiter's next free slot, the pause after provider
//! throttling and the pause while the account is refused, one row shared by every instance (see
//! `outbox::gate` for the algorithm).

use entity::send_gate::{self, Column, Entity};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, ExprTrait, QueryFilter, QuerySelect,
    sea_query::{Expr, Func, OnConflict},
};

/// The deployment's gate row: the pauses, and the rate limit of texts no identity claims (the console
/// provider's).
pub const GATE: &str = "sms";

/// Creates the deployment's gate row (the default rate limit, and the pauses) if it is missing.
pub async fn ensure(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    ensure_named(db, GATE).await
}

/// The gate row of an origination identity: each has its own rate limit at AWS. Names longer than the
/// column keep their end (an ARN's unique part).
pub fn gate_name(identity: &str) -> &str {
    match identity.char_indices().rev().nth(63) {
        Some((start, _)) => &identity[start..],
        None => identity,
    }
}

/// Reserves the next free slot at or after `now_us` on gate `name` (created on first use) in one
/// atomic statement (`GREATEST`, `MAX` on SQLite); returns the slot's time in microseconds.
pub async fn reserve_slot(
    db: &impl ConnectionTrait,
    name: &str,
    now_us: i64,
    interval_us: i64,
) -> Result<i64, DbErr> {
    let name = gate_name(name);
    for _ in 0..2 {
        let next = Func::greatest([Expr::col(Column::NextSlotUs), Expr::value(now_us)]);
        let row = Entity::update_many()
            .col_expr(Column::NextSlotUs, Expr::expr(next).add(interval_us))
            .filter(Column::Name.eq(name))
            .exec_with_returning(db)
            .await?
            .pop();
        match row {
            Some(row) => return Ok(row.next_slot_us - interval_us),
            None => ensure_named(db, name).await?,
        }
    }
    Err(DbErr::RecordNotFound(format!("the send_gate row {name}")))
}

/// Creates gate `name` if it is missing.
async fn ensure_named(db: &impl ConnectionTrait, name: &str) -> Result<(), DbErr> {
    Entity::insert(send_gate::ActiveModel {
        name: Set(name.to_owned()),
        next_slot_us: Set(0),
        paused_until_us: Set(0),
        ..Default::default()
    })
    .on_conflict(OnConflict::column(Column::Name).do_nothing().to_owned())
    .exec_without_returning(db)
    .await?;
    Ok(())
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
