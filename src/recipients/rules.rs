//! A person's own rules, pure: their quiet hours and their snooze, read from their preferences. Both
//! only ever hold promotional texts back; the law's rules stay as they are.

use chrono::{DateTime, NaiveTime, Utc};

use super::caps::Cap;
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
    operator: &Operator<'_>,
    now: DateTime<Utc>,
) -> Vec<EffectiveRule> {
    let (federal, daily_limit) = (operator.federal, operator.daily_limit);
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
    for (message_type, cap) in operator.caps {
        let words = format!("{}: at most {}.", type_words(*message_type), often(cap));
        rules.push(cap_rule(RuleSource::Operator, *message_type, cap, words));
    }
    if let Some(cap) = &operator.inviter {
        let words = format!(
            "Battle invitations from one friend: at most {}.",
            often(cap)
        );
        rules.push(cap_rule(
            RuleSource::Operator,
            MessageType::BattleInvitation,
            cap,
            words,
        ));
    }
    person_rules(profile, now, &mut rules);
    rules
}

/// The operator's rules `effective` reports beside the law's and the person's.
#[derive(Debug, Clone, Copy)]
pub struct Operator<'a> {
    /// The law's quiet hours as configured (`SMS_QUIET_HOURS`).
    pub federal: Option<QuietHours>,
    /// `SMS_USER_DAILY_LIMIT`.
    pub daily_limit: u32,
    /// `SMS_FREQUENCY_CAPS`.
    pub caps: &'a [(MessageType, Cap)],
    /// `SMS_INVITER_CAP`.
    pub inviter: Option<Cap>,
}

/// A cap as a rule of `source`.
fn cap_rule(
    source: RuleSource,
    message_type: MessageType,
    cap: &Cap,
    words: String,
) -> EffectiveRule {
    EffectiveRule {
        limit: Some((cap.count, cap.hours)),
        message_types: vec![message_type],
        ..EffectiveRule::new(RuleKind::Limit, source, words)
    }
}

/// "1 a day", "3 every 12 hours", "2 a week".
fn often(cap: &Cap) -> String {
    let per = match cap.hours {
        1 => "an hour".to_owned(),
        24 => "a day".to_owned(),
        168 => "a week".to_owned(),
        h if h % 24 == 0 => format!("every {} days", h / 24),
        h => format!("every {h} hours"),
    };
    format!("{} {per}", cap.count)
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
    for (message_type, cap) in super::caps::decode(p.frequency_caps.as_deref()) {
        let words = format!(
            "Your cap: {} at most {}.",
            type_words(message_type).to_lowercase(),
            often(&cap)
        );
        rules.push(cap_rule(RuleSource::Person, message_type, &cap, words));
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
        profile.preferences.frequency_caps = Some("streak_alert=1/48".into());
        let caps = super::super::caps::parse_list("battle_invitation=5/24h").expect("valid");
        let operator = Operator {
            federal: rules.quiet_hours,
            daily_limit: 10,
            caps: &caps,
            inviter: Some(Cap {
                count: 2,
                hours: 24,
            }),
        };
        let found = effective(&profile, &florida, &operator, now);
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
        assert_eq!(
            said[4],
            (RuleSource::Operator, "Battle invitations: at most 5 a day.")
        );
        assert_eq!(
            said[5],
            (
                RuleSource::Operator,
                "Battle invitations from one friend: at most 2 a day."
            )
        );
        assert_eq!(said[6], (RuleSource::Person, "Streak alerts: off."));
        assert_eq!(
            said[7],
            (
                RuleSource::Person,
                "Your quiet hours: no texts from 10pm to 10am."
            )
        );
        assert_eq!(
            said[8],
            (
                RuleSource::Person,
                "Your cap: streak alerts at most 1 every 2 days."
            )
        );
        assert_eq!(found[8].limit, Some((1, 48)));
        assert!(
            said[9].1.starts_with("Battle reminders snoozed until "),
            "{}",
            said[9].1
        );
        assert_eq!(found.len(), 10);
    }
}
