//! A person's own rules, pure: their quiet hours and their snooze, read from their preferences. Both
//! only ever hold promotional texts back; the law's rules stay as they are.

use chrono::{DateTime, NaiveTime, Utc};

use crate::{
    locale::quiet::QuietHours,
    store::{MessageType, recipients::PreferencesRow},
};

/// The longest snooze.
pub const MAX_SNOOZE_DAYS: i64 = 90;

/// `HH:MM`, 00:00 to 23:59.
pub fn parse_time(s: &str) -> Result<NaiveTime, String> {
    let t = s.trim();
    if t.len() != 5 {
        return Err(format!("'{t}' is not a time such as 22:00 (HH:MM)"));
    }
    NaiveTime::parse_from_str(t, "%H:%M")
        .map_err(|_| format!("'{t}' is not a time such as 22:00 (HH:MM)"))
}

/// The person's own quiet hours from `start` to `end` (local), checked: a window of zero length is
/// refused.
pub fn quiet_hours(start: &str, end: &str) -> Result<QuietHours, String> {
    let (start, end) = (parse_time(start)?, parse_time(end)?);
    if start == end {
        return Err("quietHours starts and ends at the same time: give a window, such as 22:00 to 10:00, or null to clear it".into());
    }
    Ok(QuietHours { start, end })
}

/// The person's own quiet hours, if they set some.
pub fn own_quiet(preferences: &PreferencesRow) -> Option<QuietHours> {
    let (start, end) = (
        preferences.quiet_start.as_deref()?,
        preferences.quiet_end.as_deref()?,
    );
    quiet_hours(start, end).ok()
}

/// The types a snooze covers, as stored (`streak_alert,battle_reminder`); empty: every promotional type.
pub fn encode_types(types: &[MessageType]) -> String {
    let mut names: Vec<String> = types.iter().map(sea_orm::ActiveEnum::to_value).collect();
    names.sort();
    names.dedup();
    names.join(",")
}

/// The snoozed types as stored, read back; empty for "all".
pub fn decode_types(stored: Option<&str>) -> Vec<MessageType> {
    stored
        .unwrap_or_default()
        .split(',')
        .filter(|t| !t.is_empty())
        .filter_map(|t| <MessageType as sea_orm::ActiveEnum>::try_from_value(&t.to_owned()).ok())
        .collect()
}

/// Whether the person's snooze holds a promotional text of `message_type` at `now`: it ends by itself.
pub fn snoozes(
    preferences: &PreferencesRow,
    message_type: MessageType,
    now: DateTime<Utc>,
) -> bool {
    let Some(until) = preferences.snoozed_until else {
        return false;
    };
    if now >= until {
        return false;
    }
    let types = decode_types(preferences.snoozed_types.as_deref());
    types.is_empty() || types.contains(&message_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_and_times_are_checked() {
        assert!(quiet_hours("22:00", "10:00").is_ok());
        assert!(quiet_hours("09:00", "17:30").is_ok());
        assert!(quiet_hours("22:00", "22:00").is_err(), "zero length");
        for bad in ["24:00", "7:00", "07:00:00", "noon", ""] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_snooze_covers_its_types_until_it_ends() {
        let now = chrono::DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::days(10);
        let mut p = crate::outbox::policy::tests::opted_in().preferences;
        assert!(!snoozes(&p, MessageType::StreakAlert, now));
        p.snoozed_until = Some(now + chrono::Duration::days(7));
        assert!(snoozes(&p, MessageType::StreakAlert, now), "all types");
        p.snoozed_types = Some(encode_types(&[
            MessageType::StreakAlert,
            MessageType::BattleReminder,
        ]));
        assert_eq!(
            p.snoozed_types.as_deref(),
            Some("battle_reminder,streak_alert")
        );
        assert!(snoozes(&p, MessageType::StreakAlert, now));
        assert!(!snoozes(&p, MessageType::BattleInvitation, now));
        assert!(
            !snoozes(
                &p,
                MessageType::StreakAlert,
                now + chrono::Duration::days(7)
            ),
            "it ended"
        );
    }
}
