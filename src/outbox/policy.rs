//! Whether a message may be sent: one function, one reason per refusal. A refused message is still
//! written to `sms_log` as `blocked` with the reason, so every decision can be audited.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use phonenumber::country;

pub use crate::store::BlockedReason;
use crate::{
    locale::local_time::Locale,
    store::{MessageType, recipients::Profile},
};

use super::accept::QuietPolicy;

/// Everything the decision needs, gathered by the caller.
#[derive(Debug)]
pub struct Facts<'a> {
    pub message_type: MessageType,
    pub promotional: bool,
    /// The user the message is for; `None` for a number that belongs to no user.
    pub recipient: Option<&'a Profile>,
    /// The destination, if there is one.
    pub phone: Option<&'a str>,
    pub country: Option<country::Id>,
    pub opted_out: bool,
    /// Set for a battle invitation to a number that belongs to no user.
    pub stranger_invitation: Option<StrangerInvitation>,
    /// Where the recipient is (zones, state rule): decides a promotion's quiet hours and state cap.
    pub locale: Option<&'a Locale>,
    /// What a promotion asked for inside quiet hours does.
    pub quiet: QuietPolicy,
    /// The rendered body's segments, which the price is per.
    pub segments: u32,
    /// Until when the sender says the message is worth sending (a code's expiry, a battle's deadline,
    /// `validForSeconds`); `None` takes the type's default.
    pub valid_until: Option<DateTime<Utc>>,
    /// An admin switched texts of this kind to the destination's country off.
    pub country_paused: bool,
    /// Refused before it reached policy (the verification fraud guard): written as such.
    pub refused: Option<BlockedReason>,
    /// The person snoozed promotions of this type at the moment decided (`recipients::rules`).
    pub snoozed: bool,
    /// The person's own quiet hours, local in their zones, on top of the law's.
    pub own_quiet: Option<crate::locale::quiet::QuietHours>,
}

/// The deployment's rules, from its configuration.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    pub allowed_countries: &'a [country::Id],
    /// Price of one segment per destination country, in micro-dollars.
    pub prices: &'a [(country::Id, i64)],
    /// Price of one segment anywhere else; `None` refuses those messages (`no_price`).
    pub default_price: Option<i64>,
    /// How long a message is worth sending when neither the sender nor its type says
    /// (`SMS_DEFAULT_VALIDITY`).
    pub default_validity: Duration,
}

/// What policy decided about one message before it is written. The daily limits, the opt-out list
/// (again) and the budget are decided in the write transaction itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// When it is due and what it costs, or why it is refused.
    pub verdict: Result<(DateTime<Utc>, i64), BlockedReason>,
    /// For a promotion: the zone whose quiet hours decided when it goes.
    pub quiet_zone: Option<Tz>,
    /// For a promotion: the number's state cap on promotions per 24 hours.
    pub state_cap: Option<u32>,
    /// Until when the message is worth sending (`valid_until`).
    pub expires_at: DateTime<Utc>,
}

/// The whole decision, pure: `check` (who may be texted), then for a promotion quiet hours in every
/// zone the recipient may be in (deferred to their end, or refused for a scheduled message whose
/// moment has passed) and the state's cap, then the price (segments times the country's price).
pub fn decide(facts: &Facts<'_>, rules: &Rules<'_>, now: DateTime<Utc>) -> Decision {
    let expires_at = super::validity::valid_until(facts, rules, now);
    let mut decision = Decision {
        verdict: Err(BlockedReason::NoPrice),
        quiet_zone: None,
        state_cap: None,
        expires_at,
    };
    let due_at = check(facts, rules.allowed_countries).and_then(|()| {
        let Some(locale) = facts.locale.filter(|_| facts.promotional) else {
            return Ok(now);
        };
        decision.state_cap = locale.state_rule.as_ref().map(|r| r.daily_cap);
        match locale.window_with(facts.own_quiet, now) {
            None => {
                decision.quiet_zone = Some(locale.deciding_zone(now));
                Ok(now)
            }
            Some((window, own)) => {
                decision.quiet_zone = Some(window.zone);
                match (facts.quiet, own) {
                    (QuietPolicy::Defer, _) => Ok(window.end),
                    (QuietPolicy::Block, false) => Err(BlockedReason::QuietHours),
                    (QuietPolicy::Block, true) => Err(BlockedReason::OwnQuietHours),
                }
            }
        }
    });
    let price = facts
        .country
        .and_then(|c| {
            rules
                .prices
                .iter()
                .find(|(id, _)| *id == c)
                .map(|(_, p)| *p)
        })
        .or(rules.default_price);
    decision.verdict = due_at.and_then(|due| {
        let price = price.ok_or(BlockedReason::NoPrice)?;
        // Held past its time (quiet hours that end after it), it comes due when it expires, and
        // the worker marks it expired instead of sending it.
        Ok((due.min(expires_at), price * i64::from(facts.segments)))
    });
    decision
}

#[derive(Debug, Clone, Copy)]
pub struct StrangerInvitation {
    pub inviter_verified: bool,
    pub recently_invited: bool,
}

/// The policy. Verification codes skip the master switch, consent and categories (and a verified phone,
/// which they exist to prove); security alerts skip the switch, consent and categories. Nothing skips
/// the opt-out list or the country list.
pub fn check(facts: &Facts<'_>, allowed_countries: &[country::Id]) -> Result<(), BlockedReason> {
    if let Some(reason) = facts.refused {
        return Err(reason);
    }
    if facts.phone.is_none() {
        return Err(BlockedReason::NoPhone);
    }
    if !facts
        .country
        .is_some_and(|c| allowed_countries.contains(&c))
    {
        return Err(BlockedReason::CountryNotAllowed);
    }
    if facts.country_paused {
        return Err(BlockedReason::CountryPaused);
    }
    if facts.opted_out {
        return Err(BlockedReason::OptedOut);
    }
    let Some(profile) = facts.recipient else {
        // A number that belongs to no user.
        if let Some(invite) = facts.stranger_invitation {
            if !invite.inviter_verified {
                return Err(BlockedReason::InviterNotVerified);
            }
            if invite.recently_invited {
                return Err(BlockedReason::RecentlyInvited);
            }
            return Ok(());
        }
        return if facts.promotional {
            Err(BlockedReason::NoConsent)
        } else {
            Ok(())
        };
    };
    match facts.message_type {
        MessageType::PhoneVerification => return Ok(()),
        MessageType::SecurityAlert => {
            return if profile.phone_verified() {
                Ok(())
            } else {
                Err(BlockedReason::PhoneNotVerified)
            };
        }
        _ => {}
    }
    if !profile.phone_verified() {
        return Err(BlockedReason::PhoneNotVerified);
    }
    if !facts.promotional {
        return Ok(());
    }
    if !profile.recipient.allow_sms {
        return Err(BlockedReason::SmsDisabled);
    }
    if !profile.preferences.has_consent() {
        return Err(BlockedReason::NoConsent);
    }
    let p = &profile.preferences;
    let category_on = match facts.message_type {
        MessageType::BattleInvitation => p.battle_invitations,
        MessageType::BattleResult => p.battle_results,
        MessageType::BattleReminder => p.battle_reminders,
        MessageType::StreakAlert => p.streak_alerts,
        MessageType::DirectMessage => p.direct_messages,
        MessageType::AchievementUnlocked => p.achievements,
        MessageType::PhoneVerification | MessageType::SecurityAlert | MessageType::Other => true,
    };
    if !category_on {
        return Err(BlockedReason::CategoryDisabled);
    }
    if facts.snoozed {
        return Err(BlockedReason::Snoozed);
    }
    Ok(())
}

#[cfg(test)]
#[path = "policy_tests.rs"]
pub(crate) mod tests;
