//! `policy`'s tables: each refusal's reason, quiet hours, the person's own rules, prices.
//! The whole file is test code: `policy.rs` includes it under `#[cfg(test)]`.

#[cfg(test)]
pub(crate) use tables::opted_in;

#[cfg(test)]
mod tables {
    use chrono::TimeZone;

    use crate::{
        locale::quiet::QuietHours,
        store::{
            consent::ConsentMethod,
            recipients::{PreferencesRow, RecipientRow},
        },
    };

    use super::super::*;

    const ALLOWED: &[country::Id] = &[country::Id::US, country::Id::CA];

    /// A user who may get every text: a verified number, the switch on, consent, every category.
    pub(crate) fn opted_in() -> Profile {
        let t = Utc
            .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .single()
            .expect("time");
        Profile {
            recipient: RecipientRow {
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
                locale: None,
                imported_at: None,
            },
            preferences: PreferencesRow {
                user_id: "u1".into(),
                battle_invitations: true,
                battle_results: true,
                battle_reminders: true,
                streak_alerts: true,
                direct_messages: true,
                achievements: true,
                consent_given_at: Some(t),
                consent_method: Some(ConsentMethod::OptInModal),
                consent_ip: None,
                consent_revoked_at: None,
                updated_at: t,
                quiet_start: None,
                quiet_end: None,
                snoozed_until: None,
                snoozed_types: None,
                frequency_caps: None,
                imported_at: None,
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
            locale: None,
            quiet: QuietPolicy::Defer,
            segments: 1,
            valid_until: None,
            country_paused: false,
            refused: None,
            snoozed: false,
            own_quiet: None,
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
            locale: None,
            quiet: QuietPolicy::Defer,
            segments: 1,
            valid_until: None,
            country_paused: false,
            refused: None,
            snoozed: false,
            own_quiet: None,
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

    /// A Manhattan number's locale with the federal window and the built-in state rules.
    fn locale(phone: &str) -> Locale {
        let federal = crate::locale::quiet::QuietHours::parse("21:00-08:00").expect("window");
        Locale::of(
            None,
            Some(phone),
            chrono_tz::America::New_York,
            Some(federal),
            &crate::locale::local_time::default_state_rules(),
        )
    }

    const PRICES: &[(country::Id, i64)] = &[(country::Id::US, 7_500), (country::Id::CA, 7_500)];

    fn rules(default_price: Option<i64>) -> Rules<'static> {
        Rules {
            allowed_countries: ALLOWED,
            prices: PRICES,
            default_price,
            default_validity: Duration::hours(24),
        }
    }

    fn at(hour: u32, minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, hour, minute, 0)
            .single()
            .expect("time")
    }

    #[test]
    fn decide_table() {
        let p = opted_in();
        let new_york = locale("+12125550001");
        let florida = locale("+13055550001"); // Miami: 8:00 to 20:00 and 3 a day
        let day = at(15, 0); // 10:00 in New York
        let night = at(3, 0); // 22:00 in New York
        let evening = at(1, 30); // 20:30 in Miami: quiet there, not yet in New York
        struct Row<'a> {
            name: &'a str,
            promotional: bool,
            quiet: QuietPolicy,
            locale: &'a Locale,
            segments: u32,
            country: country::Id,
            default_price: Option<i64>,
            now: DateTime<Utc>,
            verdict: Result<(DateTime<Utc>, i64), BlockedReason>,
            state_cap: Option<u32>,
        }
        let next_morning = Utc
            .with_ymd_and_hms(2026, 3, 2, 13, 0, 0)
            .single()
            .expect("t");
        let table = [
            Row {
                name: "daytime promotion",
                promotional: true,
                quiet: QuietPolicy::Defer,
                locale: &new_york,
                segments: 1,
                country: country::Id::US,
                default_price: None,
                now: day,
                verdict: Ok((day, 7_500)),
                state_cap: None,
            },
            Row {
                name: "price times segments",
                promotional: true,
                quiet: QuietPolicy::Defer,
                locale: &new_york,
                segments: 3,
                country: country::Id::US,
                default_price: None,
                now: day,
                verdict: Ok((day, 22_500)),
                state_cap: None,
            },
            Row {
                name: "night promotion waits for 8:00",
                promotional: true,
                quiet: QuietPolicy::Defer,
                locale: &new_york,
                segments: 1,
                country: country::Id::US,
                default_price: None,
                now: night,
                verdict: Ok((next_morning, 7_500)),
                state_cap: None,
            },
            Row {
                name: "a scheduled one is refused",
                promotional: true,
                quiet: QuietPolicy::Block,
                locale: &new_york,
                segments: 1,
                country: country::Id::US,
                default_price: None,
                now: night,
                verdict: Err(BlockedReason::QuietHours),
                state_cap: None,
            },
            Row {
                name: "transactional ignores quiet hours",
                promotional: false,
                quiet: QuietPolicy::Block,
                locale: &new_york,
                segments: 1,
                country: country::Id::US,
                default_price: None,
                now: night,
                verdict: Ok((night, 7_500)),
                state_cap: None,
            },
            Row {
                name: "Florida's window closes at 20:00",
                promotional: true,
                quiet: QuietPolicy::Block,
                locale: &florida,
                segments: 1,
                country: country::Id::US,
                default_price: None,
                now: evening,
                verdict: Err(BlockedReason::QuietHours),
                state_cap: Some(3),
            },
            Row {
                name: "Florida by day carries its cap",
                promotional: true,
                quiet: QuietPolicy::Defer,
                locale: &florida,
                segments: 1,
                country: country::Id::US,
                default_price: None,
                now: day,
                verdict: Ok((day, 7_500)),
                state_cap: Some(3),
            },
            Row {
                name: "no price for the country",
                promotional: false,
                quiet: QuietPolicy::Defer,
                locale: &new_york,
                segments: 1,
                country: country::Id::GB,
                default_price: None,
                now: day,
                verdict: Err(BlockedReason::CountryNotAllowed),
                state_cap: None,
            },
        ];
        for row in table {
            let mut f = facts(&p, MessageType::Other, row.promotional);
            f.locale = Some(row.locale);
            f.quiet = row.quiet;
            f.segments = row.segments;
            f.country = Some(row.country);
            let decision = decide(&f, &rules(row.default_price), row.now);
            assert_eq!(decision.verdict, row.verdict, "{}", row.name);
            assert_eq!(decision.state_cap, row.state_cap, "{}", row.name);
            if row.promotional && decision.verdict.is_ok() {
                assert!(
                    decision.quiet_zone.is_some(),
                    "{}: the deciding zone",
                    row.name
                );
            }
        }
    }

    #[test]
    fn own_rules_table() {
        let p = opted_in();
        let new_york = locale("+12125550001");
        let florida = locale("+13055550001"); // 8:00 to 20:00 there
        let own = |start: &str, end: &str| crate::recipients::rules::quiet_hours(start, end).ok();
        let utc = |d: u32, h: u32, m: u32| {
            Utc.with_ymd_and_hms(2026, 3, d, h, m, 0)
                .single()
                .expect("time")
        };
        // (name, locale, own hours, now, what a held text does, what a scheduled one does)
        type Row<'a> = (
            &'a str,
            &'a Locale,
            Option<QuietHours>,
            DateTime<Utc>,
            DateTime<Utc>,
            Option<BlockedReason>,
        );
        let table: [Row<'_>; 6] = [
            (
                "no own hours: the law's day",
                &new_york,
                None,
                utc(2, 15, 0),
                utc(2, 15, 0),
                None,
            ),
            // 10:00 in New York, inside "not before noon": it waits until 12:00 there.
            (
                "own window by day",
                &new_york,
                own("22:00", "12:00"),
                utc(2, 15, 0),
                utc(2, 17, 0),
                Some(BlockedReason::OwnQuietHours),
            ),
            // 22:00 in New York: the law's night, then the person's morning, back to back.
            (
                "the law's night runs into the person's morning",
                &new_york,
                own("22:00", "12:00"),
                utc(2, 3, 0),
                utc(2, 17, 0),
                Some(BlockedReason::QuietHours),
            ),
            // Own hours inside the law's change nothing: never loosening.
            (
                "own hours inside the law's",
                &new_york,
                own("23:00", "06:00"),
                utc(2, 3, 0),
                utc(2, 13, 0),
                Some(BlockedReason::QuietHours),
            ),
            (
                "own hours outside now",
                &new_york,
                own("23:00", "06:00"),
                utc(2, 15, 0),
                utc(2, 15, 0),
                None,
            ),
            // 20:30 in Miami: the state's night until 8:00, then the person's until 9:30.
            (
                "a state's window then the person's",
                &florida,
                own("07:00", "09:30"),
                utc(2, 1, 30),
                utc(2, 14, 30),
                Some(BlockedReason::QuietHours),
            ),
        ];
        for (name, locale, own_quiet, now, due, refused) in table {
            // A type valid for a day (a streak alert would expire at the person's midnight).
            let mut f = facts(&p, MessageType::Other, true);
            f.locale = Some(locale);
            f.own_quiet = own_quiet;
            let held = decide(&f, &rules(None), now).verdict.map(|(at, _)| at);
            assert_eq!(held, Ok(due), "{name}");
            f.quiet = QuietPolicy::Block;
            let scheduled = decide(&f, &rules(None), now).verdict.err();
            assert_eq!(scheduled, refused, "{name}: scheduled");
            // Codes and alerts never wait, whatever the person's hours.
            let mut code = facts(&p, MessageType::SecurityAlert, false);
            code.locale = Some(locale);
            code.own_quiet = own_quiet;
            assert_eq!(
                decide(&code, &rules(None), now).verdict.map(|(at, _)| at),
                Ok(now),
                "{name}"
            );
        }
    }

    #[test]
    fn a_snooze_holds_promotions_and_stop_beats_it() {
        let p = opted_in();
        let mut f = facts(&p, MessageType::StreakAlert, true);
        f.snoozed = true;
        assert_eq!(check(&f, ALLOWED), Err(BlockedReason::Snoozed));
        f.opted_out = true;
        assert_eq!(
            check(&f, ALLOWED),
            Err(BlockedReason::OptedOut),
            "STOP first"
        );
        let mut alert = facts(&p, MessageType::SecurityAlert, false);
        alert.snoozed = true;
        assert_eq!(check(&alert, ALLOWED), Ok(()), "never snoozed");
        let mut off = facts(&p, MessageType::StreakAlert, true);
        off.snoozed = true;
        let mut q = p.clone();
        q.preferences.streak_alerts = false;
        off.recipient = Some(&q);
        assert_eq!(
            check(&off, ALLOWED),
            Err(BlockedReason::CategoryDisabled),
            "the category's own reason first"
        );
    }

    #[test]
    fn a_country_allowed_without_a_price_is_no_price() {
        let p = opted_in();
        let allowed = [country::Id::US, country::Id::GB];
        let mut f = facts(&p, MessageType::Other, false);
        f.country = Some(country::Id::GB);
        let rules = |default_price| Rules {
            allowed_countries: &allowed,
            prices: PRICES,
            default_price,
            default_validity: Duration::hours(24),
        };
        assert_eq!(
            decide(&f, &rules(None), at(15, 0)).verdict,
            Err(BlockedReason::NoPrice)
        );
        f.segments = 2;
        assert_eq!(
            decide(&f, &rules(Some(40_000)), at(15, 0)).verdict,
            Ok((at(15, 0), 80_000))
        );
    }
}
