//! Live updates: every message written or moved to a new status, by any instance, told to this
//! instance's subscribers (`smsMessageUpdates`). Each status write stamps its row for the change feed
//! (`store::feed`); one task per instance reads the log after its place every 200 ms and broadcasts
//! the messages as they are. With several instances on PostgreSQL each reads the same log, so an
//! update made by one reaches subscribers of all; on SQLite the one process does both. A status that
//! lasted less than a poll may be folded into the next one; a settled status is always told.

use std::{sync::Arc, time::Duration};

use sea_orm::DbErr;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::stages::InStage;
use crate::store::{
    MessageRow, SmsStatus,
    feed::{self, Position},
};

/// How often the feed is read.
pub const POLL_EVERY: Duration = Duration::from_millis(200);
/// Changes read per query.
const PAGE: u64 = 2_000;
/// Updates a slow subscriber may fall behind before it misses some.
const BACKLOG: usize = 4_096;

/// One change of one message.
#[derive(Debug, Clone)]
pub struct Change {
    /// Its place in the feed, the same on every instance.
    pub seq: Position,
    /// The status the message moved to.
    pub status: SmsStatus,
    /// The message as it was read.
    pub message: MessageRow,
}

/// The live-updates handle: subscribe here; `run` tails the feed.
#[derive(Clone)]
pub struct Live {
    db: crate::store::db::Db,
    sender: broadcast::Sender<Arc<Change>>,
}

/// Where the tail has read up to.
#[derive(Debug, Default)]
pub struct Cursor {
    at: Position,
}

impl Live {
    pub fn new(db: crate::store::db::Db) -> Self {
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
            at: feed::end(&self.db).await?,
        })
    }

    /// Reads the feed once after `cursor` and tells what is new; returns how many changes were told.
    /// While nobody listens no message is read: the cursor only follows the feed's end (one indexed
    /// read), so a new subscriber gets every change from the poll before it subscribed on.
    pub async fn poll(&self, cursor: &mut Cursor) -> Result<usize, DbErr> {
        if self.sender.receiver_count() == 0 {
            cursor.at = cursor.at.max(feed::end(&self.db).await?);
            return Ok(0);
        }
        let rows = feed::after(&self.db, cursor.at, PAGE).await?;
        let Some(last) = rows.last() else {
            return Ok(0);
        };
        cursor.at = Position::of(last);
        let told = rows.len();
        for message in rows {
            let _ = self.sender.send(Arc::new(Change {
                seq: Position::of(&message),
                status: message.status,
                message,
            }));
        }
        Ok(told)
    }

    /// Tails the feed every `POLL_EVERY` until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let cursor = loop {
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
        // A full page read means more waits: read again at once.
        let cursor = tokio::sync::Mutex::new(cursor);
        crate::jobs::runner::Every::new("live updates", POLL_EVERY)
            .run(shutdown, || async {
                let told = self
                    .poll(&mut *cursor.lock().await)
                    .stage(crate::stages::Stage::Feed)
                    .await?;
                Ok(if told as u64 >= PAGE { told } else { 0 })
            })
            .await
    }
}
