//! The deployment-wide send gate, kept in the database so that every instance on one PostgreSQL obeys
//! it: a GCRA rate limiter per origination identity (one row holds its next free slot; AWS limits each
//! identity apart) and the pauses after provider throttling or while the account is refused.
//!
//! Each send reserves the next slot in one atomic `UPDATE ... RETURNING`; slots are spaced
//! `SLOT_SPACING / mps` apart and a sender that wakes more than `LATENESS` after its slot gives the slot
//! up and reserves another. So every send happens within `LATENESS` of its own slot, and any one-second
//! window holds at most `mps` sends, also across instances. A burst waits for its slots: it is smoothed,
//! never dropped.

use std::time::Duration;

/// How late after its slot a send may still go.
pub const LATENESS: Duration = Duration::from_millis(2);
/// Slots are spaced `(1 + LATENESS) / mps` apart, so a late send cannot crowd a window.
const SLOT_SPACING: f64 = 1.0 + 0.002;

/// Microseconds between two slots at `mps` messages per second.
pub fn interval_us(mps: f64) -> i64 {
    (SLOT_SPACING * 1_000_000.0 / mps).ceil() as i64
}

pub use crate::store::gate::{
    GATE, GateState, gate_name, pause_until, paused_until, reserve_slot, state,
};
