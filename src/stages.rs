//! CPU time by stage of a message's life, for the benchmarks: a stage's future counts the thread CPU
//! time its polls take (`clock_gettime(CLOCK_THREAD_CPUTIME_ID)`), less what stages polled inside it
//! took, so each nanosecond counts once. Off unless `enable` was called: then a poll costs one relaxed
//! load more. What runs on threads of its own (sqlx's SQLite worker, the kernel's side of a socket) is
//! not a stage's; the benchmark reports it as the rest of the process's CPU.

use std::{
    cell::Cell,
    future::Future,
    pin::Pin,
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
    task::{Context, Poll},
    time::Duration,
};

/// A stage of a message's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// The group commit's batch: facts, policy, the insert.
    Accept,
    /// A worker's claim and the claimed batch decided again.
    Claim,
    /// The provider call.
    Provider,
    /// Writing what the provider answered (sent, failed, retry, expired).
    Outcome,
    /// Delivery receipts applied (AWS's on the SNS webhook, the console provider's simulated ones).
    Receipt,
    /// The change feed read: webhooks made from it, the live tail.
    Feed,
}

impl Stage {
    pub const ALL: [Stage; 6] = [
        Stage::Accept,
        Stage::Claim,
        Stage::Provider,
        Stage::Outcome,
        Stage::Receipt,
        Stage::Feed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Accept => "accept",
            Self::Claim => "claim",
            Self::Provider => "provider call",
            Self::Outcome => "outcome",
            Self::Receipt => "receipt",
            Self::Feed => "feed",
        }
    }
}

static ON: AtomicBool = AtomicBool::new(false);

/// Nanoseconds of CPU by stage.
pub struct Counters([AtomicU64; 6]);

impl Counters {
    pub const fn new() -> Self {
        Self([const { AtomicU64::new(0) }; 6])
    }

    /// Each stage's CPU time since the last call, and resets it.
    pub fn take(&self) -> Vec<(Stage, Duration)> {
        Stage::ALL
            .into_iter()
            .map(|s| {
                (
                    s,
                    Duration::from_nanos(self.0[s as usize].swap(0, Ordering::Relaxed)),
                )
            })
            .collect()
    }
}

impl Default for Counters {
    fn default() -> Self {
        Self::new()
    }
}

/// The process's counters.
static SPENT: Counters = Counters::new();

thread_local! {
    /// CPU time taken by stages polled inside the current poll, on this thread.
    static NESTED: Cell<u64> = const { Cell::new(0) };
}

/// Starts counting (the benchmark calls it once, before its run).
pub fn enable() {
    ON.store(true, Ordering::Relaxed);
}

/// Each stage's CPU time since the last call, and resets it.
pub fn take() -> Vec<(Stage, Duration)> {
    SPENT.take()
}

fn thread_nanos() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID).map_or(0, |t| {
        (t.tv_sec() as u64)
            .saturating_mul(1_000_000_000)
            .saturating_add(t.tv_nsec() as u64)
    })
}

pin_project_lite::pin_project! {
    /// A future whose polls count towards `stage`.
    pub struct Timed<F> {
        stage: Stage,
        counters: &'static Counters,
        #[pin]
        inner: F,
    }
}

impl<F: Future> Future for Timed<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        if !ON.load(Ordering::Relaxed) {
            return this.inner.poll(cx);
        }
        let outer = NESTED.with(|n| n.replace(0));
        let start = thread_nanos();
        let answer = this.inner.poll(cx);
        let spent = thread_nanos().saturating_sub(start);
        let nested = NESTED.with(|n| n.replace(outer.saturating_add(spent)));
        this.counters.0[*this.stage as usize]
            .fetch_add(spent.saturating_sub(nested), Ordering::Relaxed);
        answer
    }
}

/// `.stage(Stage::Claim)` on any future.
pub trait InStage: Future + Sized {
    fn stage(self, stage: Stage) -> Timed<Self> {
        self.counted(stage, &SPENT)
    }

    /// The same, counted in `counters` rather than the process's.
    fn counted(self, stage: Stage, counters: &'static Counters) -> Timed<Self> {
        Timed {
            stage,
            counters,
            inner: self,
        }
    }
}

impl<F: Future> InStage for F {}

#[cfg(test)]
mod tests {
    use super::*;

    fn spin(n: u64) -> u64 {
        (0..n).fold(0u64, |a, i| a.wrapping_mul(31).wrapping_add(i))
    }

    #[tokio::test]
    async fn a_stage_inside_another_counts_once() {
        static MINE: Counters = Counters::new();
        enable();
        let inner = async { std::hint::black_box(spin(20_000_000)) }.counted(Stage::Receipt, &MINE);
        let outer = async move {
            std::hint::black_box(spin(5_000_000));
            inner.await
        }
        .counted(Stage::Outcome, &MINE);
        outer.await;
        let spent: std::collections::HashMap<_, _> = MINE.take().into_iter().collect();
        // The inner stage did four times the outer one's own work: it is counted as its own.
        assert!(spent[&Stage::Receipt] > spent[&Stage::Outcome], "{spent:?}");
        assert!(spent[&Stage::Outcome] > Duration::ZERO, "{spent:?}");
    }
}
