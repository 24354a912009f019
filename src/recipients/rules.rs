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

/// What a rule is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleKind {
    /// A window of local time without promotional texts.
    QuietHours,
    /// At most so many promotional texts in a period.
    Limit,
    /// Promotional texts of some types paused until a time.
    Snooze,
    /// A category (or every promotional text, with the master switch) turned off.
    Off,
}

/// Whose rule it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleSource {
    /// Federal law (the TCPA's 8am to 9pm).
    Law,
    /// The state of the person's number.
    State,
    /// The operator of the service.
    Operator,
    /// The person.
    Person,
}

/// One rule that applies to a person's promotional texts, with where it comes from and a sentence a
/// settings page can show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffectiveRule {
    pub kind: RuleKind,
    pub source: RuleSource,
    /// For quiet hours: the window without texts, local.
    pub quiet: Option<QuietHours>,
    /// For a limit: how many, in how many hours.
    pub limit: Option<(u32, u32)>,
    /// The types it covers; empty: every promotional type.
    pub message_types: Vec<MessageType>,
    /// For a snooze: when it ends.
    pub until: Option<DateTime<Utc>>,
    pub description: String,
}

impl EffectiveRule {
    fn new(kind: RuleKind, source: RuleSource, description: String) -> Self {
        Self {
            kind,
            source,
            quiet: None,
            limit: None,
            message_types: Vec::new(),
            until: None,
            description,
        }
    }
}

/// `21:00` as "9pm", `08:30` as "8:30am".
fn clock(t: NaiveTime) -> String {
    use chrono::Timelike;
    let (pm, hour) = t.hour12();
    let suffix = if pm { "pm" } else { "am" };
    if t.minute() == 0 {
        format!("{hour}{suffix}")
    } else {
        format!("{hour}:{:02}{suffix}", t.minute())
    }
}

fn type_words(message_type: MessageType) -> &'static str {
    match message_type {
        MessageType::BattleInvitation => "Battle invitations",
        MessageType::BattleResult => "Battle results",
        MessageType::BattleReminder => "Battle reminders",
        MessageType::StreakAlert => "Streak alerts",
        MessageType::DirectMessage => "Message notices",
        MessageType::AchievementUnlocked => "Achievements",
        MessageType::PhoneVerification => "Verification codes",
        MessageType::SecurityAlert => "Security alerts",
        MessageType::Other => "Other texts",
    }
}

/// The rules that apply to a person's promotional texts at `now`, the law's first, then the state's,
/// the operator's and the person's own: what the settings page shows ("texts from 8am to 9pm; your
/// window 10pm to 12pm; streak alerts snoozed until ...").
pub fn effective(
    profile: &crate::store::recipients::Profile,
    locale: &crate::locale::local_time::Locale,
    (federal, daily_limit): (Option<QuietHours>, u32),
    now: DateTime<Utc>,
) -> Vec<EffectiveRule> {
    let mut rules = Vec::new();
    let quiet_rule = |source, q: QuietHours, description: String| EffectiveRule {
        quiet: Some(q),
        ..EffectiveRule::new(RuleKind::QuietHours, source, description)
    };
    if let Some(q) = federal {
        let words = format!(
            "Texts only from {} to {} (federal law).",
            clock(q.end),
            clock(q.start)
        );
        rules.push(quiet_rule(RuleSource::Law, q, words));
    }
    if let Some(state) = &locale.state_rule {
        let q = state.quiet;
        let words = format!(
            "{} law: texts only from {} to {}.",
            state.state,
            clock(q.end),
            clock(q.start)
        );
        rules.push(quiet_rule(RuleSource::State, q, words));
        rules.push(EffectiveRule {
            limit: Some((state.daily_cap, 24)),
            ..EffectiveRule::new(
                RuleKind::Limit,
                RuleSource::State,
                format!(
                    "{} law: at most {} texts a day.",
                    state.state, state.daily_cap
                ),
            )
        });
    }
    rules.push(EffectiveRule {
        limit: Some((daily_limit, 24)),
        ..EffectiveRule::new(
            RuleKind::Limit,
            RuleSource::Operator,
            format!("At most {daily_limit} texts a day."),
        )
    });
    person_rules(profile, now, &mut rules);
    rules
}

/// The person's own: the master switch, categories turned off, their quiet hours, their snooze.
fn person_rules(
    profile: &crate::store::recipients::Profile,
    now: DateTime<Utc>,
    rules: &mut Vec<EffectiveRule>,
) {
    let p = &profile.preferences;
    if !profile.recipient.allow_sms {
        let words = "Texts are off (codes and security alerts still come).".to_owned();
        rules.push(EffectiveRule::new(RuleKind::Off, RuleSource::Person, words));
    }
    for (on, message_type) in [
        (p.battle_invitations, MessageType::BattleInvitation),
        (p.battle_results, MessageType::BattleResult),
        (p.battle_reminders, MessageType::BattleReminder),
        (p.streak_alerts, MessageType::StreakAlert),
        (p.direct_messages, MessageType::DirectMessage),
        (p.achievements, MessageType::AchievementUnlocked),
    ] {
        if !on {
            rules.push(EffectiveRule {
                message_types: vec![message_type],
                ..EffectiveRule::new(
                    RuleKind::Off,
                    RuleSource::Person,
                    format!("{}: off.", type_words(message_type)),
                )
            });
        }
    }
    if let Some(q) = own_quiet(p) {
        rules.push(EffectiveRule {
            quiet: Some(q),
            ..EffectiveRule::new(
                RuleKind::QuietHours,
                RuleSource::Person,
                format!(
                    "Your quiet hours: no texts from {} to {}.",
                    clock(q.start),
                    clock(q.end)
                ),
            )
        });
    }
    if let Some(until) = p.snoozed_until.filter(|u| *u > now) {
        let types = decode_types(p.snoozed_types.as_deref());
        let what = if types.is_empty() {
            "All texts".to_owned()
        } else {
            types
                .iter()
                .map(|t| type_words(*t))
                .collect::<Vec<_>>()
                .join(", ")
        };
        rules.push(EffectiveRule {
            message_types: types,
            until: Some(until),
            ..EffectiveRule::new(
                RuleKind::Snooze,
                RuleSource::Person,
                format!(
                    "{what} snoozed until {} (UTC).",
                    until.format("%Y-%m-%d %H:%M")
                ),
            )
        });
    }
}

#[cfg(test)]
mod effective_tests {
    use super::*;

    #[test]
    fn every_rule_names_its_source() {
        let mut profile = crate::outbox::policy::tests::opted_in();
        profile.preferences.streak_alerts = false;
        profile.preferences.quiet_start = Some("22:00".into());
        profile.preferences.quiet_end = Some("10:00".into());
        let now = chrono::DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::days(20_000);
        profile.preferences.snoozed_until = Some(now + chrono::Duration::days(3));
        profile.preferences.snoozed_types = Some("battle_reminder".into());
        let rules = crate::locale::local_time::LocaleRules {
            default_timezone: chrono_tz::America::New_York,
            quiet_hours: QuietHours::parse("21:00-08:00").ok(),
            state_rules: crate::locale::local_time::default_state_rules(),
        };
        let florida = rules.locale(None, Some("+13055550001"));
        let found = effective(&profile, &florida, (rules.quiet_hours, 10), now);
        let said: Vec<(RuleSource, &str)> = found
            .iter()
            .map(|r| (r.source, r.description.as_str()))
            .collect();
        assert_eq!(
            said[0],
            (RuleSource::Law, "Texts only from 8am to 9pm (federal law).")
        );
        assert_eq!(
            said[1],
            (RuleSource::State, "FL law: texts only from 8am to 8pm.")
        );
        assert_eq!(
            said[2],
            (RuleSource::State, "FL law: at most 3 texts a day.")
        );
        assert_eq!(said[3], (RuleSource::Operator, "At most 10 texts a day."));
        assert_eq!(said[4], (RuleSource::Person, "Streak alerts: off."));
        assert_eq!(
            said[5],
            (
                RuleSource::Person,
                "Your quiet hours: no texts from 10pm to 10am."
            )
        );
        assert!(
            said[6].1.starts_with("Battle reminders snoozed until "),
            "{}",
            said[6].1
        );
        assert_eq!(found.len(), 7);
    }
}
