//! The outbox: accepting a message (render, policy, one row), the group commit, the send gate, the
//! providers and the workers that claim due rows and record their outcomes.

pub mod accept;
pub mod catalogue;
pub mod gate;
pub mod group_commit;
pub mod policy;
pub mod provider;
pub mod worker;

pub use accept::{Enqueued, QuietPolicy, SendError, SendRequest, Target, enqueue, enqueue_many};

use tokio::sync::Notify;

/// In-process signals between the API and the workers.
#[derive(Debug, Default)]
pub struct Signals {
    /// A message was queued: idle workers wake at once instead of at their next poll.
    work: Notify,
    /// A message reached an outcome: `sendAsync: false` callers look again.
    outcome: Notify,
    /// The outbox's writers (batches of sends, workers' claims and results) and receipts take turns
    /// here before they write to SQLite, which has one writer: queued in process they get their turn
    /// the moment the last one ends, instead of in SQLite's busy handler, which sleeps. See `sqlite_turn`.
    pub sqlite_writer: tokio::sync::Mutex<()>,
    /// Concurrent `enqueue` calls of this instance, decided together.
    pub group_commit: group_commit::GroupCommit,
}

impl Signals {
    pub fn work_queued(&self) {
        self.work.notify_waiters();
        // A worker between its empty claim and its wait still finds the permit.
        self.work.notify_one();
    }

    pub async fn wait_for_work(&self) {
        self.work.notified().await;
    }

    pub fn outcome_recorded(&self) {
        self.outcome.notify_waiters();
    }

    pub fn outcome(&self) -> tokio::sync::futures::Notified<'_> {
        self.outcome.notified()
    }
}

/// On SQLite, this process's turn to write (`Signals::sqlite_writer`), held until the guard drops;
/// nothing on PostgreSQL. Never call it while holding it: the lock is not re-entrant.
pub async fn sqlite_turn(ctx: &crate::AppContext) -> Option<tokio::sync::MutexGuard<'_, ()>> {
    if ctx.db.get_database_backend() == sea_orm::DbBackend::Postgres {
        None
    } else {
        Some(ctx.signals.sqlite_writer.lock().await)
    }
}
