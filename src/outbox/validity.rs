//! Until when a message is worth sending: a queued message past it is never sent (`EXPIRED`).

use chrono::{DateTime, Duration, Utc};

use super::{
    policy::{Facts, Rules},
    provider::OutgoingSms,
};
use crate::store::{MessageRow, MessageType};

/// How long a security alert is worth sending: after an hour the person has seen it elsewhere or it
/// is stale.
pub const SECURITY_ALERT_VALIDITY: Duration = Duration::hours(1);

/// Until when a message is worth sending: what the sender said (a code until it expires, a battle
/// reminder until the deadline, `validForSeconds`), else a security alert for an hour, a streak alert
/// until local midnight (when the streak is lost, in the recipient's primary zone), anything else
/// `SMS_DEFAULT_VALIDITY`.
pub fn valid_until(facts: &Facts<'_>, rules: &Rules<'_>, now: DateTime<Utc>) -> DateTime<Utc> {
    if let Some(at) = facts.valid_until {
        return at;
    }
    match (facts.message_type, facts.locale) {
        (MessageType::SecurityAlert, _) => now + SECURITY_ALERT_VALIDITY,
        (MessageType::StreakAlert, Some(locale)) => {
            let tz = locale.primary();
            let tomorrow = now.with_timezone(&tz).date_naive() + Duration::days(1);
            crate::locale::quiet::local_instant(tz, tomorrow, chrono::NaiveTime::MIN)
        }
        _ => now + rules.default_validity,
    }
}

/// AWS's shortest time to live: a message with less time left than this is expired, not sent.
pub const MIN_TIME_TO_LIVE: chrono::Duration = chrono::Duration::seconds(5);
/// AWS's longest time to live (and its default): 72 hours.
pub const MAX_TIME_TO_LIVE: chrono::Duration = chrono::Duration::hours(72);

/// The text `row` is, as the provider is handed it at `now`: with the time it has left.
pub(super) fn outgoing<'a>(
    row: &'a MessageRow,
    message_type: &'a str,
    now: DateTime<Utc>,
) -> OutgoingSms<'a> {
    OutgoingSms {
        time_to_live: row
            .expires_at
            .map(|at| (at - now).clamp(MIN_TIME_TO_LIVE, MAX_TIME_TO_LIVE)),
        log_id: row.id,
        to: &row.to_phone,
        body: row.sensitive_body.as_deref().unwrap_or(&row.body),
        message_type,
        transactional: !row.promotional,
        country: row.country.as_deref(),
    }
}
