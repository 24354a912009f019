//! tokio-cron-scheduler wiring: cron strings to the scans, one run at a time per scan, a tracing span
//! per run, stopped by the shared shutdown token.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use anyhow::Context as _;
use tokio_cron_scheduler::{Job, JobScheduler};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::AppContext;
use crate::reminders::{ReminderKind, run};

/// Starts the scans on their schedules; they stop when `shutdown` is cancelled.
pub async fn start(
    ctx: AppContext,
    shutdown: CancellationToken,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let mut scheduler = JobScheduler::new()
        .await
        .context("starting the scheduler")?;
    for (kind, schedule) in [
        (
            ReminderKind::Battles,
            ctx.config.reminders.battle_schedule.clone(),
        ),
        (
            ReminderKind::Streaks,
            ctx.config.reminders.streak_schedule.clone(),
        ),
    ] {
        let ctx = ctx.clone();
        let running = Arc::new(AtomicBool::new(false));
        let job = Job::new_async(schedule.as_str(), move |_id, _scheduler| {
            let ctx = ctx.clone();
            let running = running.clone();
            Box::pin(async move {
                // A slow run is never overlapped by the next tick.
                if running.swap(true, Ordering::AcqRel) {
                    tracing::warn!(scan = kind.as_str(), "previous run still going; tick skipped");
                    return;
                }
                let span = tracing::info_span!("reminder_scan", scan = kind.as_str());
                if let Err(error) = run(&ctx, kind).instrument(span).await {
                    tracing::error!(scan = kind.as_str(), %error, "reminder scan failed; the next tick retries");
                }
                running.store(false, Ordering::Release);
            })
        })
        .with_context(|| format!("the {} schedule '{schedule}'", kind.as_str()))?;
        scheduler.add(job).await.context("adding a scan")?;
    }
    // Texts no receipt settled within 72 hours become UNKNOWN.
    let reconcile_ctx = ctx.clone();
    let running = Arc::new(AtomicBool::new(false));
    let schedule = ctx.config.reconcile_schedule.clone();
    let job = Job::new_async(schedule.as_str(), move |_id, _scheduler| {
        let ctx = reconcile_ctx.clone();
        let running = running.clone();
        Box::pin(async move {
            if running.swap(true, Ordering::AcqRel) {
                return;
            }
            let span = tracing::info_span!("receipt_reconciliation");
            if let Err(error) = crate::inbound::reconcile::reconcile(&ctx)
                .instrument(span)
                .await
            {
                tracing::error!(%error, "receipt reconciliation failed; the next tick retries");
            }
            running.store(false, Ordering::Release);
        })
    })
    .with_context(|| format!("the reconciliation schedule '{schedule}'"))?;
    scheduler
        .add(job)
        .await
        .context("adding the reconciliation")?;
    scheduler.start().await.context("starting the scheduler")?;
    tracing::info!("reminder scheduler started");
    Ok(tokio::spawn(async move {
        shutdown.cancelled().await;
        if let Err(error) = scheduler.shutdown().await {
            tracing::warn!(%error, "stopping the scheduler");
        }
    }))
}
