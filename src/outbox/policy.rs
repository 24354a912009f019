//! Whether a message may be sent: one function, one reason per refusal. A refused message is still
//! written to `sms_log` as `blocked` with the reason, so every decision can be audited.

use entity::sms_log::MessageType;
use phonenumber::country;

use crate::recipients::Profile;

/// Why a message was not sent. Stored in `sms_log.blocked_reason` as the snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockedReason {
    /// The recipient has no phone number.
    NoPhone,
    /// The number was never proven with a verification code.
    PhoneNotVerified,
    /// The master switch (`allowSmsInvitations`) is off.
    SmsDisabled,
    /// No valid consent (never given, or revoked).
    NoConsent,
    /// The user turned this category off.
    CategoryDisabled,
    /// The number replied STOP or the carrier reports it opted out.
    OptedOut,
    /// The destination country is not in `SMS_ALLOWED_COUNTRIES`.
    CountryNotAllowed,
    /// An invitation to a stranger's number needs an inviter with a verified phone.
    InviterNotVerified,
    /// That number already got an invitation in the last 24 hours.
    RecentlyInvited,
    /// A scheduled promotion fell inside the recipient's quiet hours, too late to send it before them.
    QuietHours,
    /// The user already got `SMS_USER_DAILY_LIMIT` promotions in the last 24 hours.
    UserDailyLimit,
    /// The number's state caps promotions per number per 24 hours (`SMS_STATE_RULES`), and it has had
    /// them.
    StateDailyLimit,
    /// No price is configured for the destination country (and no default price).
    NoPrice,
    /// The message would take the month's spending past the limit (or into the transactional reserve).
    SpendLimit,
}

impl BlockedReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoPhone => "no_phone",
            Self::PhoneNotVerified => "phone_not_verified",
            Self::SmsDisabled => "sms_disabled",
            Self::NoConsent => "no_consent",
            Self::CategoryDisabled => "category_disabled",
            Self::OptedOut => "opted_out",
            Self::CountryNotAllowed => "country_not_allowed",
            Self::InviterNotVerified => "inviter_not_verified",
            Self::RecentlyInvited => "recently_invited",
            Self::QuietHours => "quiet_hours",
            Self::UserDailyLimit => "user_daily_limit",
            Self::StateDailyLimit => "state_daily_limit",
            Self::NoPrice => "no_price",
            Self::SpendLimit => "spend_limit",
        }
    }
}

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
    if facts.phone.is_none() {
        return Err(BlockedReason::NoPhone);
    }
    if !facts
        .country
        .is_some_and(|c| allowed_countries.contains(&c))
    {
        return Err(BlockedReason::CountryNotAllowed);
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
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use entity::{recipients, sms_preferences};

    use super::*;

    const ALLOWED: &[country::Id] = &[country::Id::US, country::Id::CA];

    fn opted_in() -> Profile {
        let t = Utc
            .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .single()
            .expect("time");
        Profile {
            recipient: recipients::Model {
                user_id: "u1".into(),
                phone_e164: Some("+14155551234".into()),
                phone_verified_at: Some(t),
                allow_sms: true,
                timezone: None,
                signed_up_at: None,
                sms_prompt_shown_at: None,
                sms_prompt_dismissed_at: None,
                created_at: t,
                updated_at: t,
            },
            preferences: sms_preferences::Model {
                user_id: "u1".into(),
                battle_invitations: true,
                battle_results: true,
                battle_reminders: true,
                streak_alerts: true,
                direct_messages: true,
                achievements: true,
                consent_given_at: Some(t),
                consent_method: Some(sms_preferences::ConsentMethod::OptInModal),
                consent_ip: None,
                consent_revoked_at: None,
                updated_at: t,
            },
        }
    }

    fn facts(profile: &Profile, message_type: MessageType, promotional: bool) -> Facts<'_> {
        Facts {
            message_type,
            promotional,
            recipient: Some(profile),
            phone: profile.recipient.phone_e164.as_deref(),
            country: Some(country::Id::US),
            opted_out: false,
            stranger_invitation: None,
        }
    }

    #[test]
    fn an_opted_in_user_gets_everything() {
        let p = opted_in();
        for t in [
            MessageType::BattleInvitation,
            MessageType::BattleResult,
            MessageType::StreakAlert,
            MessageType::Other,
        ] {
            assert_eq!(check(&facts(&p, t, true), ALLOWED), Ok(()));
        }
    }

    #[test]
    fn each_refusal_has_its_reason() {
        let base = opted_in();
        let t = MessageType::StreakAlert;

        let mut p = base.clone();
        p.recipient.phone_e164 = None;
        assert_eq!(
            check(&facts(&p, t, true), ALLOWED),
            Err(BlockedReason::NoPhone)
        );

        let mut p = base.clone();
        p.recipient.phone_verified_at = None;
        assert_eq!(
            check(&facts(&p, t, true), ALLOWED),
            Err(BlockedReason::PhoneNotVerified)
        );

        let mut p = base.clone();
        p.recipient.allow_sms = false;
        assert_eq!(
            check(&facts(&p, t, true), ALLOWED),
            Err(BlockedReason::SmsDisabled)
        );

        let mut p = base.clone();
        p.preferences.consent_revoked_at =
            Some(p.preferences.updated_at + chrono::Duration::seconds(1));
        assert_eq!(
            check(&facts(&p, t, true), ALLOWED),
            Err(BlockedReason::NoConsent)
        );

        let mut p = base.clone();
        p.preferences.streak_alerts = false;
        assert_eq!(
            check(&facts(&p, t, true), ALLOWED),
            Err(BlockedReason::CategoryDisabled)
        );

        let mut f = facts(&base, t, true);
        f.opted_out = true;
        assert_eq!(check(&f, ALLOWED), Err(BlockedReason::OptedOut));

        let mut f = facts(&base, t, true);
        f.country = Some(country::Id::GB);
        assert_eq!(check(&f, ALLOWED), Err(BlockedReason::CountryNotAllowed));
    }

    #[test]
    fn codes_and_security_alerts_skip_switch_and_categories_but_not_the_opt_out_list() {
        let mut p = opted_in();
        p.recipient.allow_sms = false;
        p.preferences.consent_given_at = None;
        for t in [MessageType::PhoneVerification, MessageType::SecurityAlert] {
            assert_eq!(check(&facts(&p, t, false), ALLOWED), Ok(()), "{t:?}");
            let mut f = facts(&p, t, false);
            f.opted_out = true;
            assert_eq!(check(&f, ALLOWED), Err(BlockedReason::OptedOut), "{t:?}");
        }
        // A code proves an unverified number; a security alert never goes to one.
        p.recipient.phone_verified_at = None;
        assert_eq!(
            check(&facts(&p, MessageType::PhoneVerification, false), ALLOWED),
            Ok(())
        );
        assert_eq!(
            check(&facts(&p, MessageType::SecurityAlert, false), ALLOWED),
            Err(BlockedReason::PhoneNotVerified)
        );
    }

    #[test]
    fn invitations_to_strangers() {
        let stranger = |inviter_verified, recently_invited| Facts {
            message_type: MessageType::BattleInvitation,
            promotional: true,
            recipient: None,
            phone: Some("+14155550100"),
            country: Some(country::Id::US),
            opted_out: false,
            stranger_invitation: Some(StrangerInvitation {
                inviter_verified,
                recently_invited,
            }),
        };
        assert_eq!(check(&stranger(true, false), ALLOWED), Ok(()));
        assert_eq!(
            check(&stranger(false, false), ALLOWED),
            Err(BlockedReason::InviterNotVerified)
        );
        assert_eq!(
            check(&stranger(true, true), ALLOWED),
            Err(BlockedReason::RecentlyInvited)
        );
        let mut f = stranger(true, false);
        f.opted_out = true;
        assert_eq!(check(&f, ALLOWED), Err(BlockedReason::OptedOut));
        // Any other promotion to a number without an account has no consent behind it.
        let mut f = stranger(true, false);
        f.stranger_invitation = None;
        f.message_type = MessageType::Other;
        assert_eq!(check(&f, ALLOWED), Err(BlockedReason::NoConsent));
        f.promotional = false;
        assert_eq!(check(&f, ALLOWED), Ok(()));
    }
}
