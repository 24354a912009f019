//! The reminder engine: battle deadlines and streaks at risk, texted unattended. Each scan is a plain
//! async function (`battles::run`, `streaks::run`) that reads only what is due through an index and
//! enqueues with a dedupe key, so any number of instances may scan at once and a scan that dies half
//! way is safe to run again. `jobs` only wires cron strings to them.

pub mod battles;
pub mod facts;
pub mod streaks;

use chrono::{DateTime, Utc};
use sea_orm::DbErr;

use crate::AppContext;

/// Which scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReminderKind {
    Battles,
    Streaks,
}

impl ReminderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Battles => "battles",
            Self::Streaks => "streaks",
        }
    }
}

impl From<ReminderKind> for crate::store::ScanKind {
    fn from(kind: ReminderKind) -> Self {
        match kind {
            ReminderKind::Battles => Self::Battles,
            ReminderKind::Streaks => Self::Streaks,
        }
    }
}

/// What a scan did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanReport {
    /// Reminders due now.
    pub found: u64,
    /// New messages queued for sending.
    pub enqueued: u64,
    /// Due but not queued: already sent by an earlier scan (dedupe key), refused by policy (recorded
    /// as blocked), past their moment, or for an unknown user.
    pub skipped: u64,
}

/// One run of a scan.
#[derive(Debug, Clone, Copy)]
pub struct ReminderRun {
    pub kind: ReminderKind,
    pub report: ScanReport,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
}

/// Runs one scan now and logs what it did.
pub async fn run(ctx: &AppContext, kind: ReminderKind) -> Result<ReminderRun, DbErr> {
    let started_at = ctx.clock.now();
    let timer = std::time::Instant::now();
    let report = match kind {
        ReminderKind::Battles => battles::run(ctx).await?,
        ReminderKind::Streaks => streaks::run(ctx).await?,
    };
    ctx.metrics
        .reminder_scan
        .with_label_values(&[kind.as_str()])
        .observe(timer.elapsed().as_secs_f64());
    for (outcome, n) in [
        ("found", report.found),
        ("enqueued", report.enqueued),
        ("skipped", report.skipped),
    ] {
        ctx.metrics
            .reminder_messages
            .with_label_values(&[kind.as_str(), outcome])
            .inc_by(n);
    }
    tracing::info!(
        scan = kind.as_str(),
        found = report.found,
        enqueued = report.enqueued,
        skipped = report.skipped,
        ms = timer.elapsed().as_millis() as u64,
        "reminder scan finished"
    );
    let finished_at = ctx.clock.now();
    let run = crate::store::reminders::ScanRun {
        kind: kind.into(),
        found: report.found,
        enqueued: report.enqueued,
        skipped: report.skipped,
        started_at,
        finished_at,
        duration_ms: timer.elapsed().as_millis() as u64,
    };
    crate::store::reminders::record_run(&ctx.db, run).await?;
    Ok(ReminderRun {
        kind,
        report,
        started_at,
        finished_at,
    })
}
