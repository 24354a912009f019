//! The scheduler: tokio-cron-scheduler wires cron strings to the jobs (the battle scan, the streak
//! scan, the receipts' reconciliation, the retention purge), each with its own switch. A job is a plain async function;
//! here each run gets a tracing span, never overlaps its previous run, and a run that fails or
//! panics is logged and leaves the job scheduled. Stopped by the shared shutdown token.

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

pub mod backoff;
pub mod runner;
pub mod spend_limits;

use anyhow::Context as _;
use tokio_cron_scheduler::{Job, JobScheduler};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::{
    inbound::Inbound,
    privacy::{Privacy, Trigger},
    reminders::{ReminderKind, Scans},
};

/// One job's runs: never two at once, and a run that fails or panics neither stops the job nor
/// leaves it marked as running.
#[derive(Debug, Clone, Default)]
pub struct Runs {
    running: Arc<AtomicBool>,
}

/// Clears the running mark however the run ends.
struct Running<'a>(&'a AtomicBool);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    Done,
    Failed,
    Panicked,
    /// The previous run was still going: this tick was skipped.
    Skipped,
}

impl Runs {
    /// Runs `work` unless the previous run is still going. It runs in a task of its own, so that a
    /// panic inside it is caught and logged like an error.
    pub async fn run<F>(&self, job: &'static str, work: F) -> RunEnd
    where
        F: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        if self.running.swap(true, Ordering::AcqRel) {
            tracing::warn!(job, "previous run still going; tick skipped");
            return RunEnd::Skipped;
        }
        let _running = Running(&self.running);
        match tokio::spawn(work.instrument(tracing::info_span!("job", job))).await {
            Ok(Ok(())) => RunEnd::Done,
            Ok(Err(error)) => {
                tracing::error!(
                    job,
                    error = format!("{error:#}"),
                    "job failed; the next tick retries"
                );
                RunEnd::Failed
            }
            Err(panic) => {
                tracing::error!(job, %panic, "job panicked; the next tick runs it again");
                RunEnd::Panicked
            }
        }
    }
}

/// Adds one job on `schedule` to `scheduler`.
async fn add<F, Fut>(
    scheduler: &JobScheduler,
    job: &'static str,
    schedule: &str,
    work: F,
) -> anyhow::Result<()>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let work = Arc::new(work);
    let runs = Runs::default();
    let cron = Job::new_async(schedule, move |_id, _scheduler| {
        let (work, runs) = (work.clone(), runs.clone());
        Box::pin(async move {
            runs.run(job, work()).await;
        })
    })
    .with_context(|| format!("the {job} schedule '{schedule}'"))?;
    scheduler
        .add(cron)
        .await
        .with_context(|| format!("adding the {job}"))?;
    Ok(())
}

/// Starts the jobs that are switched on; they stop when `shutdown` is cancelled. `None` when every
/// job is off.
pub async fn start(
    scans: Scans,
    inbound: Inbound,
    privacy: Privacy,
    reconcile_schedule: Option<String>,
    shutdown: CancellationToken,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    let scheduler = JobScheduler::new()
        .await
        .context("starting the scheduler")?;
    let mut jobs = 0;
    for (kind, job) in [
        (ReminderKind::Battles, "battle scan"),
        (ReminderKind::Streaks, "streak scan"),
    ] {
        let Some(schedule) = scans.schedule(kind) else {
            continue;
        };
        let scans = scans.clone();
        add(&scheduler, job, schedule, move || {
            let scans = scans.clone();
            async move { Ok(scans.run(kind).await.map(|_| ())?) }
        })
        .await?;
        jobs += 1;
    }
    if let Some(schedule) = &reconcile_schedule {
        // Texts no receipt settled within 72 hours become UNKNOWN.
        add(&scheduler, "receipt reconciliation", schedule, move || {
            let inbound = inbound.clone();
            async move { Ok(inbound.reconcile().await.map(|_| ())?) }
        })
        .await?;
        jobs += 1;
    }
    if let Some(schedule) = privacy.schedule().map(str::to_owned) {
        // Texts, replies and records past their retention periods.
        add(&scheduler, "retention purge", &schedule, move || {
            let privacy = privacy.clone();
            async move { Ok(privacy.purge(Trigger::Schedule).await.map(|_| ())?) }
        })
        .await?;
        jobs += 1;
    }
    if jobs == 0 {
        return Ok(None);
    }
    scheduler.start().await.context("starting the scheduler")?;
    tracing::info!(jobs, "scheduler started");
    let mut scheduler = scheduler;
    Ok(Some(tokio::spawn(async move {
        shutdown.cancelled().await;
        if let Err(error) = scheduler.shutdown().await {
            tracing::warn!(%error, "stopping the scheduler");
        }
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_run_leaves_the_job_scheduled_and_runnable() {
        let runs = Runs::default();
        let end = runs
            .run("test job", async {
                panic!("injected: a bug inside a scan")
            })
            .await;
        assert_eq!(end, RunEnd::Panicked);
        // Not switched off: the next tick runs.
        assert_eq!(runs.run("test job", async { Ok(()) }).await, RunEnd::Done);
        let failed = runs
            .run("test job", async { Err(anyhow::anyhow!("database gone")) })
            .await;
        assert_eq!(failed, RunEnd::Failed);
        assert_eq!(runs.run("test job", async { Ok(()) }).await, RunEnd::Done);
    }

    #[tokio::test]
    async fn a_run_never_overlaps_the_previous_one() {
        let runs = Runs::default();
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let (finish_tx, finish_rx) = tokio::sync::oneshot::channel::<()>();
        let first = {
            let runs = runs.clone();
            tokio::spawn(async move {
                runs.run("slow job", async move {
                    let _ = started_tx.send(());
                    let _ = finish_rx.await;
                    Ok(())
                })
                .await
            })
        };
        started_rx.await.expect("first run started");
        assert_eq!(
            runs.run("slow job", async { Ok(()) }).await,
            RunEnd::Skipped
        );
        let _ = finish_tx.send(());
        assert_eq!(first.await.expect("first run"), RunEnd::Done);
        assert_eq!(runs.run("slow job", async { Ok(()) }).await, RunEnd::Done);
    }
}
