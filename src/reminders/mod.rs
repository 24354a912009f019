//! The reminder engine: battle deadlines and streaks at risk, texted unattended. Each scan is a plain
//! async function (`battles::run`, `streaks::run`) that reads only what is due through an index and
//! enqueues with a dedupe key, so any number of instances may scan at once and a scan that dies half
//! way is safe to run again. `jobs` only wires cron strings to them.

pub mod battles;
pub mod facts;
pub mod streaks;

use chrono::{DateTime, Utc};
use sea_orm::DbErr;

use crate::{config::ReminderConfig, outbox::Outbox, store};

/// The scans' handle: they read what is due and queue it through the outbox.
#[derive(Clone)]
pub struct Scans {
    db: crate::store::db::Db,
    clock: std::sync::Arc<dyn crate::Clock>,
    /// Where reminders are queued.
    outbox: Outbox,
    settings: std::sync::Arc<ReminderConfig>,
}

impl Scans {
    pub fn new(outbox: Outbox, settings: ReminderConfig) -> Self {
        Self {
            db: outbox.db.clone(),
            clock: outbox.clock.clone(),
            outbox,
            settings: std::sync::Arc::new(settings),
        }
    }

    /// Runs one scan now, logs and keeps what it did (`reminderRuns`).
    pub async fn run(&self, kind: ReminderKind) -> Result<ReminderRun, DbErr> {
        run(self, kind).await
    }

    /// Scan runs, newest first, optionally of one kind, paged by id.
    pub async fn runs(
        &self,
        kind: Option<ReminderKind>,
        before_id: Option<i64>,
        limit: u64,
    ) -> Result<Vec<store::reminders::ScanRunRow>, DbErr> {
        let kind = kind.map(store::ScanKind::from);
        store::history::reminder_runs(&self.db, kind, before_id, limit).await
    }

    /// Cron (with seconds) of each scan, unless it is switched off (`REMINDERS_ENABLED=false` for
    /// both, or the scan's schedule `off`).
    pub fn schedule(&self, kind: ReminderKind) -> Option<&str> {
        if !self.settings.enabled {
            return None;
        }
        match kind {
            ReminderKind::Battles => self.settings.battle_schedule.as_deref(),
            ReminderKind::Streaks => self.settings.streak_schedule.as_deref(),
        }
    }
}

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
async fn run(scans: &Scans, kind: ReminderKind) -> Result<ReminderRun, DbErr> {
    let started_at = scans.clock.now();
    let timer = std::time::Instant::now();
    let report = match kind {
        ReminderKind::Battles => battles::run(scans).await?,
        ReminderKind::Streaks => streaks::run(scans).await?,
    };
    scans
        .outbox
        .metrics
        .reminder_scan
        .with_label_values(&[kind.as_str()])
        .observe(timer.elapsed().as_secs_f64());
    for (outcome, n) in [
        ("found", report.found),
        ("enqueued", report.enqueued),
        ("skipped", report.skipped),
    ] {
        scans
            .outbox
            .metrics
            .reminder_messages
            .with_label_values(&[kind.as_str(), outcome])
            .inc_by(n);
    }
    // A scan that found nothing is routine (one a minute): only what it did is worth an info line.
    if report.found > 0 {
        tracing::info!(
            scan = kind.as_str(),
            found = report.found,
            enqueued = report.enqueued,
            skipped = report.skipped,
            ms = timer.elapsed().as_millis() as u64,
            "reminder scan finished"
        );
    } else {
        tracing::debug!(
            scan = kind.as_str(),
            ms = timer.elapsed().as_millis() as u64,
            "reminder scan found nothing due"
        );
    }
    let finished_at = scans.clock.now();
    let run = crate::store::reminders::ScanRun {
        kind: kind.into(),
        found: report.found,
        enqueued: report.enqueued,
        skipped: report.skipped,
        started_at,
        finished_at,
        duration_ms: timer.elapsed().as_millis() as u64,
    };
    crate::store::reminders::record_run(&scans.db, run).await?;
    Ok(ReminderRun {
        kind,
        report,
        started_at,
        finished_at,
    })
}
