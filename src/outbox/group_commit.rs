//! Group commit: requests that arrive together in one instance are decided by one call (for the
//! outbox, one `enqueue_many` transaction), so each message stops paying a transaction of its own
//! (and its turn on the month's budget row and the rollup rows).
//!
//! The first caller to find the instance idle starts a flush; it waits a short window (about a
//! millisecond) for company, then decides everything queued (up to `MAX_BATCH`) at once. Callers that
//! arrive while a flush runs queue for the next one, which starts as soon as it ends, without waiting
//! again. Each caller gets its own answer. A failed batch (an error, or a panic inside it) fails the
//! callers of that batch only; the next batch goes on, and the instance never stays "flushing" with
//! nobody to flush. The flush runs in a task of its own, so a caller that goes away (a client that
//! hangs up) cannot strand the others.

use std::{
    future::Future,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::sync::oneshot;

/// Most requests one call decides.
pub const MAX_BATCH: usize = 256;

/// Why a caller got no answer of its own.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchFailure {
    /// The batch's call failed as a whole (a database error): the cause, for the log.
    #[error("the batch failed: {0}")]
    Failed(String),
    /// The batch's call panicked.
    #[error("the batch stopped unexpectedly")]
    Panicked,
}

type Slot<A> = oneshot::Sender<Result<A, BatchFailure>>;

/// Batches of `R` decided together into one `A` each.
pub struct GroupCommit<R, A> {
    queue: Mutex<Queue<R, A>>,
    /// The most one call takes, in the weight of its requests (at least one request, whatever it
    /// weighs).
    most: usize,
    weight: fn(&R) -> usize,
    /// Calls made so far, and the requests they decided.
    batches: AtomicU64,
    requests: AtomicU64,
}

struct Queue<R, A> {
    waiting: Vec<(R, Slot<A>)>,
    flushing: bool,
}

impl<R, A> Default for GroupCommit<R, A> {
    fn default() -> Self {
        Self {
            queue: Mutex::new(Queue {
                waiting: Vec::new(),
                flushing: false,
            }),
            most: MAX_BATCH,
            weight: |_| 1,
            batches: AtomicU64::new(0),
            requests: AtomicU64::new(0),
        }
    }
}

impl<R: Send + 'static, A: Send + 'static> GroupCommit<R, A> {
    /// Calls that take requests up to a total `weight` of `most` (a batch of messages each weighing
    /// its length), instead of `MAX_BATCH` requests.
    pub fn weighed(most: usize, weight: fn(&R) -> usize) -> Self {
        Self {
            most,
            weight,
            ..Self::default()
        }
    }

    /// Batches flushed and requests decided by them since the start: their ratio is the mean batch.
    pub fn totals(&self) -> (u64, u64) {
        (
            self.batches.load(Ordering::Relaxed),
            self.requests.load(Ordering::Relaxed),
        )
    }

    /// Requests queued for the next call.
    pub fn waiting(&self) -> usize {
        let queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        queue.waiting.len()
    }

    /// Queues `request` for the next batch and waits for its own answer. `decide` answers a batch,
    /// one answer per request in order, or fails it whole.
    pub async fn submit<F, Fut, E>(
        self: &Arc<Self>,
        request: R,
        window: Duration,
        decide: F,
    ) -> Result<A, BatchFailure>
    where
        F: Fn(Vec<R>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<A>, E>> + Send + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let start = {
            let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            queue.waiting.push((request, tx));
            !std::mem::replace(&mut queue.flushing, true)
        };
        if start {
            tokio::spawn(Arc::clone(self).flush(window, decide));
        }
        rx.await.unwrap_or(Err(BatchFailure::Panicked))
    }

    /// Decides queued batches until the queue is empty.
    async fn flush<F, Fut, E>(self: Arc<Self>, window: Duration, decide: F)
    where
        F: Fn(Vec<R>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<A>, E>> + Send + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        // However this task ends, the queue is not left "flushing" with no flush running.
        let mut idle = Idle {
            group: &self,
            finished: false,
        };
        wait_for_company(window).await;
        while let Some(batch) = self.next_batch() {
            let (requests, callers): (Vec<R>, Vec<Slot<A>>) = batch.into_iter().unzip();
            self.batches.fetch_add(1, Ordering::Relaxed);
            self.requests
                .fetch_add(requests.len() as u64, Ordering::Relaxed);
            // In a task of its own, so that a panic inside the batch fails this batch only.
            let answers = match tokio::spawn(decide(requests)).await {
                Ok(Ok(answers)) => Ok(answers),
                Ok(Err(error)) => Err(BatchFailure::Failed(error.to_string())),
                Err(_) => Err(BatchFailure::Panicked),
            };
            match answers {
                Ok(answers) => {
                    let mut answers = answers.into_iter();
                    for caller in callers {
                        let answer = answers.next().ok_or(BatchFailure::Panicked);
                        let _ = caller.send(answer);
                    }
                }
                Err(failure) => {
                    tracing::error!(error = %failure, batch = callers.len(), "a batch could not be decided");
                    for caller in callers {
                        let _ = caller.send(Err(failure.clone()));
                    }
                }
            }
        }
        // `next_batch` marked the queue idle: a new caller may already have started the next flush,
        // whose queue is not this one's to touch.
        idle.finished = true;
    }

    /// The next batch, or `None` (and the queue marked idle) when nothing waits.
    fn next_batch(&self) -> Option<Vec<(R, Slot<A>)>> {
        let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        if queue.waiting.is_empty() {
            queue.flushing = false;
            return None;
        }
        let (mut take, mut total) = (0, 0);
        for (request, _) in &queue.waiting {
            let weight = (self.weight)(request);
            if take > 0 && total + weight > self.most {
                break;
            }
            (take, total) = (take + 1, total + weight);
        }
        Some(queue.waiting.drain(..take).collect())
    }
}

/// Marks the queue idle when the flush task ends before its queue is empty (a panic outside a batch,
/// or the task dropped), answering the requests still waiting with `Panicked` rather than leaving them
/// waiting forever. A flush that ended normally leaves the queue alone: it was marked idle already, and
/// may belong to the next flush.
struct Idle<'a, R, A> {
    group: &'a GroupCommit<R, A>,
    finished: bool,
}

impl<R, A> Drop for Idle<'_, R, A> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let mut queue = self.group.queue.lock().unwrap_or_else(|p| p.into_inner());
        queue.flushing = false;
        for (_, caller) in queue.waiting.drain(..) {
            let _ = caller.send(Err(BatchFailure::Panicked));
        }
    }
}

/// Waits `window` for other requests to join. The runtime's timer counts whole milliseconds, so a
/// window under 2 ms yields to other tasks until it has passed instead of sleeping for up to twice as
/// long.
async fn wait_for_company(window: Duration) {
    if window >= Duration::from_millis(2) {
        tokio::time::sleep(window).await;
        return;
    }
    let until = tokio::time::Instant::now() + window;
    while tokio::time::Instant::now() < until {
        tokio::task::yield_now().await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;

    type Decided = std::pin::Pin<Box<dyn Future<Output = Result<Vec<u32>, String>> + Send>>;

    /// Doubles each number; the first batch that contains 13 panics inside its future (once).
    fn doubler(panicked: Arc<AtomicBool>) -> impl Fn(Vec<u32>) -> Decided + Send + Sync + 'static {
        move |batch: Vec<u32>| {
            let panicked = panicked.clone();
            Box::pin(async move {
                if batch.contains(&13) && !panicked.swap(true, Ordering::SeqCst) {
                    panic!("injected: a bug inside one batch");
                }
                Ok(batch.into_iter().map(|n| n * 2).collect())
            })
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panic_fails_its_batch_only_and_later_batches_still_go() {
        let group: Arc<GroupCommit<u32, u32>> = Arc::default();
        let panicked = Arc::new(AtomicBool::new(false));
        let window = Duration::from_millis(5);
        // 13 and its companions share the first batch, which panics.
        let first: Vec<_> = [1, 13, 2]
            .into_iter()
            .map(|n| {
                let (group, panicked) = (group.clone(), panicked.clone());
                (
                    n,
                    tokio::spawn(async move { group.submit(n, window, doubler(panicked)).await }),
                )
            })
            .collect();
        for (n, answer) in first {
            let answer = answer.await.expect("task");
            if n == 13 {
                assert_eq!(answer, Err(BatchFailure::Panicked));
            } else {
                // In 13's batch (almost always) or one of its own.
                assert!(matches!(answer, Err(BatchFailure::Panicked)) || answer == Ok(n * 2));
            }
        }
        // The instance is not left waiting: the next requests are answered.
        for n in [3, 13, 4] {
            let answer = tokio::time::timeout(
                Duration::from_secs(5),
                group.submit(n, window, doubler(panicked.clone())),
            )
            .await
            .expect("answered, not stranded");
            assert_eq!(answer, Ok(n * 2));
        }
        assert_eq!(group.totals().1, 6);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_error_fails_its_batch_with_the_cause() {
        let group: Arc<GroupCommit<u32, u32>> = Arc::default();
        let failed = Arc::new(AtomicBool::new(false));
        // The first batch fails as a whole (a database error); later ones succeed.
        let decide = move |batch: Vec<u32>| {
            let first = !failed.swap(true, Ordering::SeqCst);
            std::future::ready(if first {
                Err("connection reset".to_owned())
            } else {
                Ok(batch)
            })
        };
        let answer = group.submit(1, Duration::ZERO, decide.clone()).await;
        assert_eq!(
            answer,
            Err(BatchFailure::Failed("connection reset".to_owned()))
        );
        assert_eq!(group.submit(7, Duration::ZERO, decide).await, Ok(7));
    }

    /// One caller after another, each starting a flush as the last one ends: the pattern in which an
    /// ending flush once took a new caller's request for its own and failed it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn back_to_back_callers_each_get_their_answer() {
        let group: Arc<GroupCommit<u32, u32>> = Arc::default();
        let ok = |batch: Vec<u32>| std::future::ready(Ok::<_, String>(batch));
        for n in 0..5_000 {
            assert_eq!(
                group.submit(n, Duration::ZERO, ok).await,
                Ok(n),
                "request {n}"
            );
        }
        // And from two tasks at once.
        let runs: Vec<_> = (0..2)
            .map(|t| {
                let group = group.clone();
                tokio::spawn(async move {
                    for n in 0..2_000 {
                        let n = t * 10_000 + n;
                        assert_eq!(group.submit(n, Duration::ZERO, ok).await, Ok(n));
                    }
                })
            })
            .collect();
        for run in runs {
            run.await.expect("no failure");
        }
    }
}
