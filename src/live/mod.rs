//! Live updates: every message written or moved to a new status, by any instance, told to this
//! instance's subscribers (`smsMessageUpdates`). The database's triggers write each change to
//! `message_changes`; one task per instance tails it by `seq`, loads the messages once and broadcasts
//! them. With several instances on PostgreSQL each tails the same table, so an update made by one
//! reaches subscribers of all; on SQLite the one process does both.

use std::{
    collections::{BTreeSet, HashMap},
    sync::Arc,
    time::{Duration, Instant},
};

use sea_orm::{DatabaseConnection, DbErr};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::store::{MessageRow, SmsStatus, changes, history};

/// How often the feed is read.
pub const POLL_EVERY: Duration = Duration::from_millis(200);
/// A `seq` not seen this long after a later one was is taken as a transaction that rolled back.
const GAP_PATIENCE: Duration = Duration::from_secs(5);
/// Changes read per query.
const PAGE: u64 = 2_000;
/// Updates a slow subscriber may fall behind before it misses some.
const BACKLOG: usize = 4_096;

/// One change of one message.
#[derive(Debug, Clone)]
pub struct Change {
    pub seq: i64,
    /// The status the message moved to.
    pub status: SmsStatus,
    /// The message as it was read just after (it may have moved on since).
    pub message: MessageRow,
}

/// The live-updates handle: subscribe here; `run` tails the feed.
#[derive(Clone)]
pub struct Live {
    db: DatabaseConnection,
    sender: broadcast::Sender<Arc<Change>>,
}

/// Where the tail has read up to: every `seq` up to `floor` is done; `seen` holds those above it
/// already told (read past a gap), `gaps` when each missing `seq` was first noticed.
#[derive(Debug, Default)]
pub struct Cursor {
    floor: i64,
    seen: BTreeSet<i64>,
    gaps: HashMap<i64, Instant>,
}

impl Live {
    pub fn new(db: DatabaseConnection) -> Self {
        let (sender, _) = broadcast::channel(BACKLOG);
        Self { db, sender }
    }

    /// Every change from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Change>> {
        self.sender.subscribe()
    }

    /// A cursor at the feed's end: what happened before is not told.
    pub async fn cursor_at_end(&self) -> Result<Cursor, DbErr> {
        Ok(Cursor {
            floor: changes::latest(&self.db).await?,
            ..Default::default()
        })
    }

    /// Reads the feed once after `cursor` and tells what is new; returns how many changes were told.
    pub async fn poll(&self, cursor: &mut Cursor) -> Result<usize, DbErr> {
        let rows = changes::after(&self.db, cursor.floor, PAGE).await?;
        let fresh: Vec<_> = rows
            .into_iter()
            .filter(|r| !cursor.seen.contains(&r.seq))
            .collect();
        if !fresh.is_empty() && self.sender.receiver_count() > 0 {
            let ids: Vec<i64> = fresh.iter().map(|r| r.sms_log_id).collect();
            let messages: HashMap<i64, MessageRow> = history::by_ids(&self.db, ids)
                .await?
                .into_iter()
                .map(|m| (m.id, m))
                .collect();
            for row in &fresh {
                if let Some(message) = messages.get(&row.sms_log_id) {
                    let _ = self.sender.send(Arc::new(Change {
                        seq: row.seq,
                        status: row.status,
                        message: message.clone(),
                    }));
                }
            }
        }
        cursor.seen.extend(fresh.iter().map(|r| r.seq));
        cursor.advance(Instant::now());
        Ok(fresh.len())
    }

    /// Tails the feed every `POLL_EVERY` until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut cursor = loop {
            match self.cursor_at_end().await {
                Ok(cursor) => break cursor,
                Err(error) => {
                    tracing::warn!(%error, "live updates: the feed cannot be read yet");
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        };
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(POLL_EVERY) => {}
            }
            if let Err(error) = self.poll(&mut cursor).await {
                tracing::warn!(%error, "live updates: reading the feed failed; trying again");
            }
        }
    }
}

impl Cursor {
    /// Moves `floor` over every `seq` seen, and over a missing one waited for past `GAP_PATIENCE`.
    fn advance(&mut self, now: Instant) {
        loop {
            let next = self.floor + 1;
            if self.seen.remove(&next) {
                self.floor = next;
                self.gaps.remove(&next);
                continue;
            }
            if self.seen.is_empty() {
                self.gaps.clear();
                return;
            }
            // Something later was seen: `next` is a transaction still open, or one rolled back.
            let since = *self.gaps.entry(next).or_insert(now);
            if now.duration_since(since) < GAP_PATIENCE {
                return;
            }
            self.gaps.remove(&next);
            self.floor = next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cursor_waits_for_a_gap_then_moves_past_it() {
        let t0 = Instant::now();
        let mut cursor = Cursor::default();
        cursor.seen.extend([1, 2, 4]);
        cursor.advance(t0);
        assert_eq!(cursor.floor, 2, "3 may still commit");
        cursor.advance(t0 + Duration::from_secs(1));
        assert_eq!(cursor.floor, 2);
        cursor.seen.insert(3);
        cursor.advance(t0 + Duration::from_secs(2));
        assert_eq!((cursor.floor, cursor.seen.len()), (4, 0));
        cursor.seen.insert(6);
        cursor.advance(t0 + Duration::from_secs(3));
        assert_eq!(cursor.floor, 4);
        cursor.advance(t0 + Duration::from_secs(9));
        assert_eq!(cursor.floor, 6, "5 rolled back");
        assert!(cursor.gaps.is_empty());
    }
}
