//! Battle reminders: participants of active battles who have not submitted, shortly before the deadline.

use chrono::{DateTime, Duration, Utc};
use sea_orm::DbErr;

use super::{ScanReport, Scans};
use crate::{
    outbox::{
        accept::{Origin, QuietPolicy, SendRequest, Target, Validity},
        catalogue::Template,
    },
    store::reminders::{BATCH, candidates},
};

/// "45 minutes", "1 hour", "2 hours 30 minutes": the time left, in words, to the nearest minute.
pub fn time_remaining(left: Duration) -> String {
    let minutes = ((left.num_seconds() + 30) / 60).max(1);
    let unit = |n: i64, one: &str| {
        if n == 1 {
            format!("1 {one}")
        } else {
            format!("{n} {one}s")
        }
    };
    match (minutes / 60, minutes % 60) {
        (0, m) => unit(m, "minute"),
        (h, 0) => unit(h, "hour"),
        (h, m) => format!("{} {}", unit(h, "hour"), unit(m, "minute")),
    }
}

/// The dedupe key of one reminder: one per participant, lead time and deadline (a new turn has a new
/// deadline, and so gets its own reminder).
pub fn dedupe_key(
    battle_id: &str,
    user_id: &str,
    lead: Duration,
    deadline: DateTime<Utc>,
) -> String {
    format!(
        "battle_reminder:{battle_id}:{user_id}:{}:{}",
        lead.num_seconds(),
        deadline.timestamp()
    )
}

/// Finds the reminders due now and enqueues them.
///
/// A reminder is due at `deadline - lead`. When that moment falls inside the participant's quiet hours,
/// it goes at the last allowed moment before them (the minute before quiet hours begin) if the scan
/// runs then; a reminder whose moment has come while quiet hours already run is recorded as blocked
/// (`quiet_hours`). Both share one dedupe key, so at most one of them exists.
pub async fn run(scans: &Scans) -> Result<ScanReport, DbErr> {
    let now = scans.clock.now();
    // Reminders pulled forward out of quiet hours are due up to a quiet window earlier than their
    // moment: look that much further ahead (the longest window, a state's included), but only in a
    // minute when some zone is about to enter quiet hours; at any other minute none can be due.
    let quiet_span = if crate::locale::quiet::before_quiet_anywhere(
        &scans.outbox.locale_rules.quiet_starts(),
        now,
    ) {
        scans.outbox.locale_rules.longest_quiet_span()
    } else {
        Duration::zero()
    };
    let mut report = ScanReport::default();
    let mut locales = crate::locale::local_time::LocaleCache::default();
    for lead in &scans.settings.lead_times {
        let lead = Duration::from_std(*lead).unwrap_or(Duration::hours(1));
        let horizon = now + lead + quiet_span;
        let mut after = None;
        loop {
            let page = candidates(&scans.db, now, horizon, after.take()).await?;
            let Some(last) = page.last() else { break };
            after = Some((
                last.deadline_at,
                last.battle_id.clone(),
                last.user_id.clone(),
            ));
            let full = page.len() as u64 == BATCH;
            let mut due = Vec::new();
            for c in page {
                let moment = c.deadline_at - lead;
                let send_now = if moment <= now {
                    true
                } else {
                    // Pulled forward: the minute before the quiet hours that hold its moment, in
                    // whichever of the participant's zones enters them first.
                    locales
                        .get(c.timezone.as_deref(), c.phone_e164.as_deref(), || {
                            scans
                                .outbox
                                .locale_rules
                                .locale(c.timezone.as_deref(), c.phone_e164.as_deref())
                        })
                        .quiet_start(moment)
                        .is_some_and(|start| now >= start - Duration::minutes(1) && now < start)
                };
                if send_now {
                    due.push(SendRequest {
                        template: Template::BattleReminder {
                            topic: c.topic.clone(),
                            time_remaining: time_remaining(c.deadline_at - now),
                            link: c.link.clone(),
                        },
                        promotional: true,
                        origin: Origin::Service,
                        target: Target::User(c.user_id.clone()),
                        inviter_user_id: None,
                        related: Some(("battle".into(), c.battle_id.clone())),
                        dedupe_key: Some(dedupe_key(&c.battle_id, &c.user_id, lead, c.deadline_at)),
                        quiet: QuietPolicy::Block,
                        // Worth sending until the turn's deadline.
                        validity: Validity::Until(c.deadline_at),
                        refused: None,
                        trace_parent: None,
                        send_at: None,
                        shorten_links: true,
                        language: None,
                        hold_for_digest: true,
                    });
                }
            }
            count(&mut report, scans.outbox.enqueue_many(due).await?);
            if !full {
                break;
            }
        }
    }
    Ok(report)
}

/// Adds the answers of one `enqueue_many` to a report.
pub(crate) fn count(
    report: &mut ScanReport,
    answers: Vec<Result<crate::outbox::Enqueued, crate::outbox::SendError>>,
) {
    for answer in answers {
        report.found += 1;
        match answer {
            Ok(e) if e.created && e.row.status != crate::store::SmsStatus::Blocked => {
                report.enqueued += 1
            }
            _ => report.skipped += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_left_in_words() {
        assert_eq!(time_remaining(Duration::minutes(45)), "45 minutes");
        assert_eq!(
            time_remaining(Duration::seconds(44 * 60 + 40)),
            "45 minutes"
        );
        assert_eq!(time_remaining(Duration::minutes(60)), "1 hour");
        assert_eq!(
            time_remaining(Duration::minutes(59) + Duration::seconds(50)),
            "1 hour"
        );
        assert_eq!(time_remaining(Duration::minutes(150)), "2 hours 30 minutes");
        assert_eq!(time_remaining(Duration::minutes(121)), "2 hours 1 minute");
        assert_eq!(time_remaining(Duration::seconds(20)), "1 minute");
    }
}
