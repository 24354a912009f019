//! The deployment-wide send gate, kept in the database so that every instance on one PostgreSQL obeys
//! it: a GCRA rate limiter (one row holds the next free slot) and a pause after provider throttling.
//!
//! Each send reserves the next slot in one atomic `UPDATE ... RETURNING`; slots are spaced
//! `SLOT_SPACING / mps` apart and a sender that wakes more than `LATENESS` after its slot gives the slot
//! up and reserves another. So every send happens within `LATENESS` of its own slot, and any one-second
//! window holds at most `mps` sends, also across instances. A burst waits for its slots: it is smoothed,
//! never dropped.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

use crate::store::placeholder;

/// The gate's row for the (single) origination identity.
pub const GATE: &str = "sms";
/// How late after its slot a send may still go.
pub const LATENESS: Duration = Duration::from_millis(2);
/// Slots are spaced `(1 + LATENESS) / mps` apart, so a late send cannot crowd a window.
const SLOT_SPACING: f64 = 1.0 + 0.002;

/// Microseconds between two slots at `mps` messages per second.
pub fn interval_us(mps: f64) -> i64 {
    (SLOT_SPACING * 1_000_000.0 / mps).ceil() as i64
}

/// Creates the gate's row if it is missing.
pub async fn ensure(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        format!(
            "INSERT INTO send_gate (name, next_slot_us, paused_until_us) VALUES ({}, 0, 0) \
             ON CONFLICT (name) DO NOTHING",
            placeholder(db.get_database_backend(), 1)
        ),
        [GATE.into()],
    ))
    .await?;
    Ok(())
}

/// Reserves the next free slot at or after `now_us`; returns its time in microseconds.
pub async fn reserve_slot(
    db: &impl ConnectionTrait,
    now_us: i64,
    interval_us: i64,
) -> Result<i64, DbErr> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "UPDATE send_gate SET next_slot_us = GREATEST(next_slot_us, $1) + $2 \
             WHERE name = $3 RETURNING next_slot_us"
        }
        _ => {
            "UPDATE send_gate SET next_slot_us = MAX(next_slot_us, ?1) + ?2 \
             WHERE name = ?3 RETURNING next_slot_us"
        }
    };
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [now_us.into(), interval_us.into(), GATE.into()],
        ))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("the send_gate row".into()))?;
    let next: i64 = row.try_get("", "next_slot_us")?;
    Ok(next - interval_us)
}

/// Pauses sending for the whole deployment until `until_us` (never shortens a longer pause).
pub async fn pause_until(db: &impl ConnectionTrait, until_us: i64) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "UPDATE send_gate SET paused_until_us = GREATEST(paused_until_us, $1) WHERE name = $2"
        }
        _ => "UPDATE send_gate SET paused_until_us = MAX(paused_until_us, ?1) WHERE name = ?2",
    };
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        sql,
        [until_us.into(), GATE.into()],
    ))
    .await?;
    Ok(())
}

/// Until when sending is paused (microseconds; in the past when it is not).
pub async fn paused_until(db: &impl ConnectionTrait) -> Result<i64, DbErr> {
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "SELECT paused_until_us FROM send_gate WHERE name = {}",
                placeholder(backend, 1)
            ),
            [GATE.into()],
        ))
        .await?;
    match row {
        Some(row) => row.try_get("", "paused_until_us"),
        None => Ok(0),
    }
}
