//! A claimed batch decided again as it leaves: what was true when a text was queued (consent, the
//! master switch, the opt-out list, the person's number, the country switch, quiet hours) may have
//! changed by the time a worker claims it (`sendAt`, quiet hours, a backlog). The facts are read once
//! for the whole batch, then the same `policy::check` that accepted each text decides it again.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use phonenumber::country;
use sea_orm::{ConnectionTrait, DbErr};

use super::{
    accept::KEYWORD_ANSWER_KEY,
    facts::PausedCountries,
    policy::{self, StrangerInvitation},
};
use crate::{
    locale::{local_time::LocaleRules, phone},
    store::{
        BlockedReason, MessageRow, MessageType, opt_outs,
        recipients::{self as recipient_rows, Profile},
    },
};

/// What a claimed text does now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leaving {
    /// Still allowed: send it.
    Send,
    /// Its person moved to another verified number (same country, so the same price): it goes there.
    Follow(String),
    /// No longer allowed: blocked with the reason, never sent.
    Block(BlockedReason),
    /// Inside the recipient's quiet hours now: back in the queue until they end.
    Defer(DateTime<Utc>),
}

/// The facts a claimed batch is decided on again, read in a fixed number of queries.
#[derive(Debug, Default)]
pub struct Current {
    /// The batch's people as they are now; a user id missing here was erased.
    pub profiles: HashMap<String, Profile>,
    /// Which of the batch's numbers (queued and current) are on the opt-out list.
    pub opted_out: HashSet<String>,
    pub paused: PausedCountries,
}

impl Current {
    pub async fn load(db: &impl ConnectionTrait, rows: &[MessageRow]) -> Result<Self, DbErr> {
        let user_ids: HashSet<&str> = rows.iter().filter_map(|r| r.user_id.as_deref()).collect();
        let profiles = recipient_rows::load_many(db, user_ids).await?;
        let numbers: HashSet<&str> = rows
            .iter()
            .map(|r| r.to_phone.as_str())
            .chain(
                profiles
                    .values()
                    .filter_map(|p| p.recipient.phone_e164.as_deref()),
            )
            .collect();
        Ok(Self {
            opted_out: opt_outs::among(db, numbers).await?,
            paused: PausedCountries::load(db).await?,
            profiles,
        })
    }
}

/// The rules of the deployment the decision needs.
pub struct Rules<'a> {
    pub allowed_countries: &'a [country::Id],
    pub locale: &'a LocaleRules,
}

/// Decides one claimed text again, pure: the person's current number (a text follows its person or
/// is blocked, never goes to a number they gave up), then `policy::check` on today's facts, then for a
/// promotion the quiet hours at `now`. What only the queueing could decide (the daily limits, the
/// state caps, the price, a stranger's invitation) stays decided.
pub fn decide_again(
    row: &MessageRow,
    current: &Current,
    rules: &Rules<'_>,
    now: DateTime<Utc>,
) -> Leaving {
    if row.to_phone.is_empty() {
        return Leaving::Block(BlockedReason::NoPhone);
    }
    let keyword_answer = !row.promotional
        && row
            .dedupe_key
            .as_deref()
            .is_some_and(|k| k.starts_with(KEYWORD_ANSWER_KEY));
    // An answer to a keyword goes to the number that texted it, whoever owns it now.
    let profile = match row.user_id.as_deref().filter(|_| !keyword_answer) {
        None => None,
        Some(user) => match current.profiles.get(user) {
            Some(profile) => Some(profile),
            // Erased since it was queued.
            None => return Leaving::Block(BlockedReason::NoPhone),
        },
    };
    let (to, country) = match destination(row, profile) {
        Ok(destination) => destination,
        Err(reason) => return Leaving::Block(reason),
    };
    let country_id = country
        .as_deref()
        .and_then(|c| <country::Id as std::str::FromStr>::from_str(c).ok());
    let facts = policy::Facts {
        message_type: row.message_type,
        promotional: row.promotional,
        recipient: profile,
        phone: Some(to),
        country: country_id,
        opted_out: !keyword_answer && current.opted_out.contains(to),
        // Whether a stranger may be invited was the queueing's to decide (and its own row now
        // counts as the number's recent invitation).
        stranger_invitation: (profile.is_none()
            && row.message_type == MessageType::BattleInvitation)
            .then_some(StrangerInvitation {
                inviter_verified: true,
                recently_invited: false,
            }),
        locale: None,
        quiet: super::QuietPolicy::Defer,
        segments: row.segments.max(0) as u32,
        valid_until: row.expires_at,
        country_paused: current.paused.covers(row.message_type, country.as_deref()),
        refused: None,
        snoozed: row.promotional
            && profile.is_some_and(|p| {
                crate::recipients::rules::snoozes(&p.preferences, row.message_type, now)
            }),
        own_quiet: None,
    };
    if let Err(reason) = policy::check(&facts, rules.allowed_countries) {
        return Leaving::Block(reason);
    }
    if row.promotional {
        let timezone = profile.and_then(|p| p.recipient.timezone.as_deref());
        let own = profile.and_then(|p| crate::recipients::rules::own_quiet(&p.preferences));
        if let Some((window, _)) = rules
            .locale
            .locale(timezone, Some(to))
            .window_with(own, now)
        {
            let until = row
                .expires_at
                .map_or(window.end, |expires| window.end.min(expires));
            return Leaving::Defer(until);
        }
    }
    if to == row.to_phone {
        Leaving::Send
    } else {
        Leaving::Follow(to.to_owned())
    }
}

/// Where the text goes now, and that number's country: the queued number, or the person's new one
/// when it may follow them; refused when the person has no number, or one it may not follow to.
fn destination<'a>(
    row: &'a MessageRow,
    profile: Option<&'a Profile>,
) -> Result<(&'a str, Option<String>), BlockedReason> {
    let queued = (row.to_phone.as_str(), row.country.clone());
    let Some(profile) = profile else {
        return Ok(queued);
    };
    match profile.recipient.phone_e164.as_deref() {
        None => Err(BlockedReason::NoPhone),
        Some(now_number) if now_number != row.to_phone => {
            let moved_to = phone::region_of(now_number).map(|c| c.as_ref().to_owned());
            // A code proves the number it was made for; a price was reserved for a country.
            if row.message_type == MessageType::PhoneVerification || moved_to != row.country {
                return Err(BlockedReason::PhoneChanged);
            }
            Ok((now_number, moved_to))
        }
        Some(_) => Ok(queued),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    const OLD: &str = "+14155551234";
    const NEW: &str = "+14155559876";

    fn at(h: u32) -> DateTime<Utc> {
        // 2026-06-01 is a Monday; 18:00 UTC is 11:00 in Los Angeles (a 415 number).
        Utc.with_ymd_and_hms(2026, 6, 1, h, 0, 0)
            .single()
            .expect("time")
    }

    fn person() -> Profile {
        let mut p = crate::outbox::policy::tests::opted_in();
        p.recipient.timezone = Some("America/Los_Angeles".into());
        p
    }

    fn row(message_type: MessageType, promotional: bool) -> MessageRow {
        MessageRow {
            message_type,
            promotional,
            to_phone: OLD.into(),
            expires_at: Some(at(23)),
            created_at: at(0),
            ..crate::store::sample_row()
        }
    }

    fn current(edit: impl FnOnce(&mut Profile)) -> Current {
        let mut p = person();
        edit(&mut p);
        Current {
            profiles: HashMap::from([("u1".to_owned(), p)]),
            ..Current::default()
        }
    }

    fn decide(row: &MessageRow, current: &Current, now: DateTime<Utc>) -> Leaving {
        let locale = LocaleRules {
            default_timezone: chrono_tz::America::New_York,
            quiet_hours: crate::locale::quiet::QuietHours::parse("21:00-08:00").ok(),
            state_rules: Vec::new(),
        };
        let rules = Rules {
            allowed_countries: &[country::Id::US, country::Id::CA],
            locale: &locale,
        };
        decide_again(row, current, &rules, now)
    }

    #[test]
    fn each_change_since_queueing_decides_again() {
        let promo = row(MessageType::StreakAlert, true);
        let transactional = row(MessageType::Other, false);
        let noon = at(19);
        let unchanged = current(|_| {});
        assert_eq!(decide(&promo, &unchanged, noon), Leaving::Send);
        assert_eq!(decide(&transactional, &unchanged, noon), Leaving::Send);

        let switched_off = current(|p| p.recipient.allow_sms = false);
        assert_eq!(
            decide(&promo, &switched_off, noon),
            Leaving::Block(BlockedReason::SmsDisabled)
        );
        // The master switch is for promotions; a transactional text still goes.
        assert_eq!(decide(&transactional, &switched_off, noon), Leaving::Send);

        let mut stopped = current(|_| {});
        stopped.opted_out.insert(OLD.into());
        for r in [&promo, &transactional] {
            assert_eq!(
                decide(r, &stopped, noon),
                Leaving::Block(BlockedReason::OptedOut)
            );
        }

        let revoked = current(|p| p.preferences.consent_revoked_at = Some(at(1)));
        assert_eq!(
            decide(&promo, &revoked, noon),
            Leaving::Block(BlockedReason::NoConsent)
        );
        let category = current(|p| p.preferences.streak_alerts = false);
        assert_eq!(
            decide(&promo, &category, noon),
            Leaving::Block(BlockedReason::CategoryDisabled)
        );

        let erased = Current::default();
        assert_eq!(
            decide(&promo, &erased, noon),
            Leaving::Block(BlockedReason::NoPhone)
        );

        let paused = Current {
            paused: PausedCountries::texts_to("US"),
            ..current(|_| {})
        };
        assert_eq!(
            decide(&transactional, &paused, noon),
            Leaving::Block(BlockedReason::CountryPaused)
        );
    }

    #[test]
    fn a_text_follows_its_person_or_is_blocked() {
        let promo = row(MessageType::StreakAlert, true);
        let noon = at(19);
        let moved_unverified = current(|p| {
            p.recipient.phone_e164 = Some(NEW.into());
            p.recipient.phone_verified_at = None;
        });
        for r in [&promo, &row(MessageType::Other, false)] {
            assert_eq!(
                decide(r, &moved_unverified, noon),
                Leaving::Block(BlockedReason::PhoneNotVerified)
            );
        }
        let moved = current(|p| p.recipient.phone_e164 = Some(NEW.into()));
        assert_eq!(decide(&promo, &moved, noon), Leaving::Follow(NEW.into()));
        // The new number is checked against the list, not the old one.
        let mut moved_stopped = current(|p| p.recipient.phone_e164 = Some(NEW.into()));
        moved_stopped.opted_out.insert(NEW.into());
        assert_eq!(
            decide(&promo, &moved_stopped, noon),
            Leaving::Block(BlockedReason::OptedOut)
        );
        // A code proves the number it was made for.
        let code = row(MessageType::PhoneVerification, false);
        assert_eq!(
            decide(&code, &moved, noon),
            Leaving::Block(BlockedReason::PhoneChanged)
        );
        // Another country has another price.
        let abroad = current(|p| p.recipient.phone_e164 = Some("+16045550199".into()));
        assert_eq!(
            decide(&promo, &abroad, noon),
            Leaving::Block(BlockedReason::PhoneChanged)
        );
        let gone = current(|p| {
            p.recipient.phone_e164 = None;
            p.recipient.phone_verified_at = None;
        });
        assert_eq!(
            decide(&promo, &gone, noon),
            Leaving::Block(BlockedReason::NoPhone)
        );
    }

    #[test]
    fn quiet_hours_now_defer_a_promotion_again() {
        let promo = row(MessageType::StreakAlert, true);
        let unchanged = current(|_| {});
        // 06:00 UTC is 23:00 in Los Angeles: quiet until 08:00 there (15:00 UTC).
        let night = at(6);
        assert_eq!(decide(&promo, &unchanged, night), Leaving::Defer(at(15)));
        // Never past its own time: it is expired then.
        let mut short = promo.clone();
        short.expires_at = Some(at(9));
        assert_eq!(decide(&short, &unchanged, night), Leaving::Defer(at(9)));
        // Transactional texts are not held.
        assert_eq!(
            decide(&row(MessageType::Other, false), &unchanged, night),
            Leaving::Send
        );
    }

    #[test]
    fn a_keyword_answer_reaches_the_number_that_texted() {
        let mut answer = row(MessageType::Other, false);
        answer.dedupe_key = Some(format!("{KEYWORD_ANSWER_KEY}abc"));
        let mut stopped = current(|p| p.recipient.phone_e164 = Some(NEW.into()));
        stopped.opted_out.insert(OLD.into());
        assert_eq!(decide(&answer, &stopped, at(6)), Leaving::Send);
    }

    #[test]
    fn a_number_with_no_owner_keeps_its_rules() {
        let mut bare = row(MessageType::BattleInvitation, true);
        bare.user_id = None;
        assert_eq!(decide(&bare, &Current::default(), at(19)), Leaving::Send);
        let mut stopped = Current::default();
        stopped.opted_out.insert(OLD.into());
        assert_eq!(
            decide(&bare, &stopped, at(19)),
            Leaving::Block(BlockedReason::OptedOut)
        );
    }
}
