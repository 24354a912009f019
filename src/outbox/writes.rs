//! Batches that meet at the write: while one batch of messages is being written, the batches that
//! arrive in the same instance (scans' `enqueue_many`, the group commit's flushes, imports) queue,
//! and the next write takes them together, up to `MERGED_MESSAGES` messages, in one transaction.
//!
//! Each batch has rendered and decided its messages on its own task first; only the write, where
//! SQLite's one writer (and PostgreSQL's month's budget row) makes batches wait for each other
//! anyway, is shared. A shared write pays its begin, its checks' read, its commit and its turn on the
//! budget and the rollup rows once. Each batch gets its own rows back, in its own order. A shared
//! write that fails is written again one batch at a time, so that a failure stays with the batch that
//! caused it; a database that cannot be reached fails them all at once.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use sea_orm::{DbErr, RuntimeErr};
use tracing::Instrument as _;

use super::group_commit::GroupCommit;
use crate::store::{
    self,
    db::Db,
    messages::{Limits, NewMessage, Written},
};

/// The most messages one shared write takes (a batch larger than this is written alone).
pub const MERGED_MESSAGES: usize = 500;

/// One caller's batch, waiting for the write.
pub struct Part {
    messages: Vec<NewMessage>,
    limits: Limits,
    now: DateTime<Utc>,
}

/// The queue of batches waiting for the write.
pub type Writes = Arc<GroupCommit<Part, Result<Written, DbErr>>>;

/// An empty queue.
pub fn writes() -> Writes {
    Arc::new(GroupCommit::weighed(MERGED_MESSAGES, |part: &Part| {
        part.messages.len()
    }))
}

/// Writes `messages` (`store::messages::insert_batch`), together with the batches that wait for the
/// write at the same time when group commit is on (`SMS_GROUP_COMMIT`).
pub async fn write(
    outbox: &super::Outbox,
    messages: Vec<NewMessage>,
    limits: Limits,
    now: DateTime<Utc>,
) -> Result<Written, DbErr> {
    if !outbox.sms.group_commit || messages.is_empty() {
        return store::messages::insert_batch(&outbox.db, messages, limits, now).await;
    }
    let db = outbox.db.clone();
    // The shared write shows in the trace of the batch that started it.
    let span = tracing::Span::current();
    let decide = move |parts: Vec<Part>| {
        let db = db.clone();
        let write = async move { Ok::<_, std::convert::Infallible>(write_parts(&db, parts).await) };
        write.instrument(span.clone())
    };
    let part = Part {
        messages,
        limits,
        now,
    };
    // No window: a batch that finds the write idle goes at once; only those that arrive while it is
    // busy wait, and for that write only.
    match outbox.writes.submit(part, Duration::ZERO, decide).await {
        Ok(answer) => answer,
        Err(failure) => Err(DbErr::Custom(failure.to_string())),
    }
}

/// Writes `parts` in one transaction when they can share one, or one at a time: one answer per part.
async fn write_parts(db: &Db, parts: Vec<Part>) -> Vec<Result<Written, DbErr>> {
    let (limits, now) = match parts.as_slice() {
        [first, _, ..] if parts.iter().all(|p| p.limits == first.limits) => {
            let now = parts.iter().map(|p| p.now).max().unwrap_or(first.now);
            (first.limits, now)
        }
        _ => return one_by_one(db, parts).await,
    };
    let sizes: Vec<usize> = parts.iter().map(|p| p.messages.len()).collect();
    let all: Vec<NewMessage> = parts
        .iter()
        .flat_map(|p| p.messages.iter().cloned())
        .collect();
    match store::messages::insert_batch(db, all, limits, now).await {
        Ok(written) => split(written, &sizes),
        Err(error) if store::unavailable(&error) => {
            let cause = error.to_string();
            (0..parts.len())
                .map(|_| Err(DbErr::Conn(RuntimeErr::Internal(cause.clone()))))
                .collect()
        }
        Err(error) => {
            tracing::warn!(%error, batches = parts.len(), "a shared write failed; writing its batches one by one");
            one_by_one(db, parts).await
        }
    }
}

async fn one_by_one(db: &Db, parts: Vec<Part>) -> Vec<Result<Written, DbErr>> {
    let mut answers = Vec::with_capacity(parts.len());
    for part in parts {
        answers.push(store::messages::insert_batch(db, part.messages, part.limits, part.now).await);
    }
    answers
}

/// Each part's rows, in order; the month's standing goes with the first part (its thresholds are
/// warned of once).
fn split(written: Written, sizes: &[usize]) -> Vec<Result<Written, DbErr>> {
    let mut rows = written.rows.into_iter();
    let mut standing = written.standing;
    sizes
        .iter()
        .map(|&n| {
            Ok(Written {
                rows: rows.by_ref().take(n).collect(),
                standing: standing.take(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_part_gets_its_own_rows_in_order_and_the_standing_once() {
        let written = Written {
            rows: vec![None; 7],
            standing: Some((10, 0)),
        };
        let parts = split(written, &[3, 0, 4]);
        let lens: Vec<_> = parts
            .iter()
            .map(|p| p.as_ref().map(|w| (w.rows.len(), w.standing.is_some())))
            .collect::<Result<_, _>>()
            .unwrap_or_default();
        assert_eq!(lens, vec![(3, true), (0, false), (4, false)]);
    }
}
