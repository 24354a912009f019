//! Streak alerts: one text per user per local day when yesterday had activity and today has none yet,
//! after the alert time in the user's own time zone.
//!
//! Each streak row carries `next_alert_at`, the UTC instant of that local alert time, computed when the
//! app pushes the streak (and again when the user's time zone changes). The scan therefore reads only
//! rows whose alert is due, through a partial index, in batches; its cost grows with what is due, not
//! with the number of users, and time zones cost nothing at scan time.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use sea_orm::DbErr;

use super::{ScanReport, Scans, battles::count};
use crate::{
    locale::{local_time::Locale, quiet::local_instant},
    outbox::{
        accept::{Origin, QuietPolicy, SendRequest, Target, Validity},
        catalogue::Template,
    },
    store::reminders as facts,
};

/// When the alert for a streak whose last activity was `last_activity` is due, and when it stops making
/// sense (local midnight, when the streak is lost): both in the recipient's zone (the primary one of a
/// number that spans two). An alert time inside quiet hours, in any of the recipient's zones, moves to
/// the minute before they begin.
pub fn alert_window(
    last_activity: NaiveDate,
    locale: &Locale,
    alert_time: NaiveTime,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let tz = locale.primary();
    let day = last_activity + Duration::days(1);
    let mut at = local_instant(tz, day, alert_time);
    if let Some(window) = locale.window(at) {
        at = window.start - Duration::minutes(1);
    }
    let expires = local_instant(tz, day + Duration::days(1), NaiveTime::MIN);
    (at, expires)
}

/// The dedupe key: one alert per user per local day.
pub fn dedupe_key(user_id: &str, last_activity: NaiveDate) -> String {
    format!(
        "streak_alert:{user_id}:{}",
        last_activity + Duration::days(1)
    )
}

/// Enqueues the streak alerts that are due and marks them handled.
pub async fn run(scans: &Scans) -> Result<ScanReport, DbErr> {
    let now = scans.clock.now();
    let mut report = ScanReport::default();
    loop {
        let due = facts::streaks_due(&scans.db, now).await?;
        if due.is_empty() {
            break;
        }
        let mut requests = Vec::new();
        for streak in &due {
            let expired = streak.alert_expires_at.is_none_or(|e| now >= e);
            if expired || streak.current_days < 1 {
                report.found += 1;
                report.skipped += 1;
                continue;
            }
            requests.push(SendRequest {
                template: Template::StreakAlert {
                    days: streak.current_days as u32,
                    link: scans.settings.streak_alert_link.clone(),
                },
                promotional: true,
                origin: Origin::Service,
                target: Target::User(streak.user_id.clone()),
                inviter_user_id: None,
                related: None,
                dedupe_key: Some(dedupe_key(&streak.user_id, streak.last_activity_date)),
                quiet: QuietPolicy::Block,
                // Worth sending until the streak is lost.
                validity: streak
                    .alert_expires_at
                    .map_or(Validity::Default, Validity::Until),
                refused: None,
                trace_parent: None,
                send_at: None,
                shorten_links: true,
                language: None,
                hold_for_digest: true,
            });
        }
        count(&mut report, scans.outbox.enqueue_many(requests).await?);
        facts::streak_alerts_handled(&scans.db, due.iter().map(|s| s.user_id.clone()), now).await?;
        if (due.len() as u64) < facts::BATCH {
            break;
        }
    }
    Ok(report)
}
