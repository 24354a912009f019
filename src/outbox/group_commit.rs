//! Group commit: `enqueue` calls that arrive together in one instance share one `enqueue_many`
//! transaction, so each message stops paying a transaction of its own (and its turn on the month's
//! budget row and the rollup rows).
//!
//! The first caller to find the instance idle starts a flush; it waits `SMS_GROUP_COMMIT_WINDOW`
//! (about a millisecond) for company, then decides everything queued (up to `MAX_BATCH`) in one
//! transaction. Callers that arrive while a flush runs queue for the next one, which starts as soon as
//! it ends, without waiting again. Each caller gets its own answer: its row, its validation error, its
//! blocked reason, the first row of a repeated idempotency key. A database error fails the callers of
//! that batch only; the next batch goes on. The flush runs in a task of its own, so a caller that goes
//! away (a client that hangs up) cannot strand the others.

use std::sync::{
    Mutex,
    atomic::{AtomicU64, Ordering},
};

use sea_orm::DbErr;
use tokio::sync::oneshot;

use super::accept::{self as outbox, Enqueued, SendError, SendRequest};
use crate::AppContext;

/// Most messages one transaction decides.
pub const MAX_BATCH: usize = 256;

type Answer = Result<Enqueued, SendError>;

#[derive(Debug, Default)]
pub struct GroupCommit {
    inner: Mutex<Queue>,
    /// Transactions run so far, and the messages they decided.
    batches: AtomicU64,
    messages: AtomicU64,
}

#[derive(Debug, Default)]
struct Queue {
    waiting: Vec<(SendRequest, oneshot::Sender<Answer>)>,
    flushing: bool,
}

impl GroupCommit {
    /// Batches flushed and messages decided by them since the start: their ratio is the mean batch.
    pub fn totals(&self) -> (u64, u64) {
        (
            self.batches.load(Ordering::Relaxed),
            self.messages.load(Ordering::Relaxed),
        )
    }

    /// Queues `request` for the next group commit and waits for its own answer.
    pub async fn enqueue(&self, ctx: &AppContext, request: SendRequest) -> Answer {
        if !ctx.config.sms.group_commit {
            return single(ctx, request).await;
        }
        let (tx, rx) = oneshot::channel();
        let start = {
            let mut queue = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            queue.waiting.push((request, tx));
            !std::mem::replace(&mut queue.flushing, true)
        };
        if start {
            tokio::spawn(flush(ctx.clone()));
        }
        rx.await
            .unwrap_or_else(|_| Err(SendError::Invalid("the message could not be stored".into())))
    }
}

async fn single(ctx: &AppContext, request: SendRequest) -> Answer {
    outbox::enqueue_many(ctx, vec![request])
        .await?
        .pop()
        .unwrap_or_else(|| Err(SendError::Invalid("nothing to send".into())))
}

/// Waits `window` for other sends to join. The runtime's timer counts whole milliseconds, so a window
/// under 2 ms yields to other tasks until it has passed instead of sleeping for up to twice as long.
async fn wait_for_company(window: std::time::Duration) {
    if window >= std::time::Duration::from_millis(2) {
        tokio::time::sleep(window).await;
        return;
    }
    let until = tokio::time::Instant::now() + window;
    while tokio::time::Instant::now() < until {
        tokio::task::yield_now().await;
    }
}

/// Decides queued batches until the queue is empty.
async fn flush(ctx: AppContext) {
    wait_for_company(ctx.config.sms.group_commit_window).await;
    let group = &ctx.signals.group_commit;
    loop {
        let batch: Vec<(SendRequest, oneshot::Sender<Answer>)> = {
            let mut queue = group.inner.lock().unwrap_or_else(|p| p.into_inner());
            if queue.waiting.is_empty() {
                queue.flushing = false;
                return;
            }
            let take = queue.waiting.len().min(MAX_BATCH);
            queue.waiting.drain(..take).collect()
        };
        let (requests, callers): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
        group.batches.fetch_add(1, Ordering::Relaxed);
        group
            .messages
            .fetch_add(requests.len() as u64, Ordering::Relaxed);
        match outbox::enqueue_many(&ctx, requests).await {
            Ok(answers) => {
                for (caller, answer) in callers.into_iter().zip(answers) {
                    let _ = caller.send(answer);
                }
            }
            Err(error) => {
                tracing::error!(%error, batch = callers.len(), "a batch of messages could not be stored");
                let message = error.to_string();
                for caller in callers {
                    let _ = caller.send(Err(SendError::Db(DbErr::Custom(message.clone()))));
                }
            }
        }
    }
}
