//! One runner for the polled background work (webhook deliveries, message feedback, the live feed):
//! a pass runs again at once while it finds work, waits its interval (or a wake-up) when it finds
//! none, waits with backoff after a failure, and stops at shutdown, between passes, never in one.

use std::{future::Future, sync::Arc, time::Duration};

use sea_orm::DbErr;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::backoff::Backoff;

/// After a pass that failed (the database did not answer): 1 s, doubling up to 30 s.
pub const ON_ERROR: Backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));

/// How a background loop runs.
#[derive(Debug, Clone)]
pub struct Every {
    /// For the log.
    pub name: &'static str,
    /// The wait after a pass that found nothing.
    pub idle: Duration,
    /// Wakes an idle loop at once (new work in this instance).
    pub wake: Option<Arc<Notify>>,
}

impl Every {
    pub fn new(name: &'static str, idle: Duration) -> Self {
        Self {
            name,
            idle,
            wake: None,
        }
    }

    /// Runs `pass` until `shutdown`. A pass answers how much it did: more than nothing runs the next
    /// at once.
    pub async fn run<F, Fut>(self, shutdown: CancellationToken, mut pass: F)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<usize, DbErr>>,
    {
        let mut failures = 0;
        while !shutdown.is_cancelled() {
            let wait = match pass().await {
                Ok(0) => {
                    failures = 0;
                    self.idle
                }
                Ok(_) => {
                    failures = 0;
                    continue;
                }
                Err(error) => {
                    failures += 1;
                    let wait = ON_ERROR.delay(failures);
                    tracing::warn!(job = self.name, %error, retry_in_ms = wait.as_millis() as u64, "background pass failed; trying again");
                    wait
                }
            };
            let wake = self.wake.clone();
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
                () = async move {
                    match wake {
                        Some(wake) => wake.notified().await,
                        None => std::future::pending().await,
                    }
                } => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Mutex,
        atomic::{AtomicUsize, Ordering},
    };

    use super::*;

    /// Busy passes follow each other at once, an idle one waits its interval, a failed one waits the
    /// error backoff, a wake-up cuts an idle wait short, and shutdown ends the loop between passes.
    #[tokio::test(start_paused = true)]
    async fn busy_runs_at_once_idle_waits_errors_back_off() {
        let started = tokio::time::Instant::now();
        let answers = Mutex::new(vec![Ok(3), Ok(1), Ok(0), Err(()), Err(()), Ok(0), Ok(0)]);
        let at = Mutex::new(Vec::new());
        let shutdown = CancellationToken::new();
        let wake = Arc::new(Notify::new());
        let passes = AtomicUsize::new(0);
        let every = Every {
            name: "test",
            idle: Duration::from_secs(10),
            wake: Some(wake.clone()),
        };
        let stop = shutdown.clone();
        let waker = async {
            // During the last idle wait (passes at 0, 0, 10, 11, 13 s, then idle from 13 s).
            tokio::time::sleep(Duration::from_secs(15)).await;
            wake.notify_one();
        };
        let run = every.run(shutdown, || {
            let n = passes.fetch_add(1, Ordering::SeqCst);
            at.lock().expect("lock").push(started.elapsed().as_secs());
            let answer = answers.lock().expect("lock").get(n).copied();
            if answer.is_none() || n + 1 >= 7 {
                stop.cancel();
            }
            async move {
                match answer {
                    Some(Ok(v)) => Ok(v),
                    _ => Err(DbErr::Custom("down".into())),
                }
            }
        });
        tokio::join!(run, waker);
        assert_eq!(*at.lock().expect("lock"), [0, 0, 0, 10, 11, 13, 15]);
    }
}
