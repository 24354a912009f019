//! Every language: each text fills, each is GSM-7 with plain inputs, and what each costs in segments.

use super::*;
use crate::outbox::catalogue::{self, Brand, Encoding, Template};
use crate::store::MessageType;

fn brand() -> Brand {
    Brand {
        app_name: "AllThrive".into(),
        frontend_url: "https://allthrive.ai".into(),
    }
}

/// Every template, with inputs of a usual length, and whether it is promotional.
fn templates() -> Vec<(&'static str, Template, bool)> {
    let link = || "https://allthrive.ai/l/Ab3dE6gH9k".to_owned();
    let topic = || "Best haiku".to_owned();
    let answer = |keyword| Template::KeywordAnswer {
        keyword,
        contact: "help@allthrive.ai".into(),
    };
    vec![
        (
            "battle_invitation",
            Template::BattleInvitation {
                inviter: "Sam".into(),
                topic: topic(),
                link: link(),
            },
            true,
        ),
        (
            "battle_result",
            Template::BattleResult {
                topic: topic(),
                summary: "You won 3-2!".into(),
                link: link(),
            },
            true,
        ),
        (
            "battle_reminder",
            Template::BattleReminder {
                topic: topic(),
                time_remaining: "1 hour 5 minutes".into(),
                link: link(),
            },
            true,
        ),
        (
            "streak_alert",
            Template::StreakAlert {
                days: 12,
                link: link(),
            },
            true,
        ),
        (
            "phone_verification",
            Template::PhoneVerification {
                code: "123456".into(),
            },
            false,
        ),
        (
            "direct_message",
            Template::DirectMessage {
                sender: "Sam".into(),
                link: link(),
            },
            true,
        ),
        (
            "achievement_unlocked",
            Template::AchievementUnlocked {
                name: "First win".into(),
                link: link(),
            },
            true,
        ),
        (
            "security_alert",
            Template::SecurityAlert {
                what: "A new sign-in".into(),
                link: link(),
            },
            false,
        ),
        ("stop_answer", answer(Keyword::Stop), false),
        ("start_answer", answer(Keyword::Start), false),
        ("help_answer", answer(Keyword::Help), false),
    ]
}

/// Segments of each text above, per language: what a new language must state too.
const SEGMENTS: &[(&str, [u32; 11])] = &[
    ("en-US", [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]),
    ("es-US", [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]),
];

#[test]
fn every_text_fills_is_gsm7_and_costs_what_the_table_says() {
    for language in Language::all() {
        let expected = SEGMENTS
            .iter()
            .find(|(tag, _)| *tag == language.tag())
            .unwrap_or_else(|| panic!("{}: state its segments in SEGMENTS", language.tag()))
            .1;
        for ((name, template, promotional), want) in templates().into_iter().zip(expected) {
            let r = catalogue::render_in(&template, promotional, &brand(), language);
            let tag = language.tag();
            assert!(!r.body.contains('{'), "{tag} {name}: {}", r.body);
            assert_eq!(
                r.encoding,
                Encoding::Gsm7,
                "{tag} {name} is UCS-2: {}",
                r.body
            );
            assert_eq!(
                r.segments,
                want,
                "{tag} {name}: {} ({} chars)",
                r.body,
                r.body.chars().count()
            );
            if promotional {
                assert!(
                    r.body.ends_with(language.texts().stop_footer),
                    "{tag} {name}"
                );
                assert_eq!(r.body.matches(language.texts().stop_footer).count(), 1);
            }
        }
    }
}

#[test]
fn every_digest_phrase_fills_and_is_gsm7() {
    for language in Language::all() {
        let t = language.texts();
        for pattern in [
            t.digest_invitations_one,
            t.digest_invitations,
            t.digest_results,
            t.digest_two,
            t.digest_many,
            t.digest_friends,
            t.digest_more,
            t.digest_accept,
            t.digest_see_results,
        ] {
            let filled = fill(
                pattern,
                &[
                    ("app", "A"),
                    ("who", "W"),
                    ("n", "3"),
                    ("a", "A"),
                    ("b", "B"),
                    ("link", "L"),
                ],
            );
            assert!(!filled.contains('{'), "{}: {pattern}", t.tag);
            assert!(
                filled.chars().all(catalogue::is_gsm7),
                "{}: {filled}",
                t.tag
            );
        }
    }
}

#[test]
fn a_name_gsm7_lacks_makes_the_text_ucs2() {
    let template = Template::BattleInvitation {
        inviter: "Sofía".into(),
        topic: "Haiku".into(),
        link: "/b/1".into(),
    };
    let spanish = Language::parse("es-US").expect("supported");
    let r = catalogue::render_in(&template, true, &brand(), spanish);
    assert_eq!(r.encoding, Encoding::Ucs2);
}

#[test]
fn tags_are_read_as_people_and_browsers_write_them() {
    let spanish = Language::parse("es-US").expect("supported");
    for tag in ["es-US", "es", "ES-mx", "es_419"] {
        assert_eq!(Language::parse(tag), Ok(spanish), "{tag}");
    }
    assert_eq!(Language::parse("en-GB"), Ok(Language::DEFAULT));
    for bad in ["fr-FR", "", "e s", "español", "x-very-long-subtag-beyond"] {
        assert!(Language::parse(bad).is_err(), "{bad}");
    }
    assert_eq!(Language::stored(None), Language::DEFAULT);
    assert_eq!(Language::stored(Some("es-US")), spanish);
}

#[test]
fn each_languages_keywords_are_its_own() {
    let standard = [
        "STOP",
        "START",
        "HELP",
        "INFO",
        "CANCEL",
        "END",
        "QUIT",
        "UNSUBSCRIBE",
        "UNSTOP",
    ];
    let mut seen = std::collections::HashSet::new();
    for language in Language::all() {
        let t = language.texts();
        for word in t.stop_words.iter().chain(t.start_words).chain(t.help_words) {
            assert_eq!(*word, word.to_uppercase(), "{}: upper case", t.tag);
            assert!(!standard.contains(word), "{word} is a standard keyword");
            assert!(seen.insert(*word), "{word} is in two languages");
        }
    }
    let spanish = Language::parse("es").expect("supported");
    assert_eq!(Language::of_keyword("ALTO"), Some((spanish, Keyword::Stop)));
    assert_eq!(
        Language::of_keyword("COMENZAR"),
        Some((spanish, Keyword::Start))
    );
    assert_eq!(
        Language::of_keyword("AYUDA"),
        Some((spanish, Keyword::Help))
    );
    assert_eq!(Language::of_keyword("HOLA"), None);
}

#[test]
fn time_left_is_written_in_the_language() {
    let spanish = Language::parse("es").expect("supported");
    assert_eq!(time_left("1 hour 5 minutes", spanish), "1 hora 5 minutos");
    assert_eq!(time_left("45 minutes", spanish), "45 minutos");
    assert_eq!(time_left("2 hours", spanish), "2 horas");
    assert_eq!(time_left("until noon", spanish), "until noon");
    assert_eq!(time_left("45 minutes", Language::DEFAULT), "45 minutes");
    // One pass: a value that looks like a placeholder stays as it is.
    assert_eq!(fill("{a}-{b}", &[("a", "{b}"), ("b", "x")]), "{b}-x");
    assert_eq!(fill("{unknown}", &[]), "{unknown}");
}

#[test]
fn no_message_type_is_left_without_a_text() {
    // Every type the catalogue writes has a pattern in every language (the match in `Template::text`
    // is exhaustive); free texts (`Other`) are the sender's own words.
    assert_eq!(templates().len(), SEGMENTS[0].1.len());
    assert!(
        templates()
            .iter()
            .any(|(_, t, _)| t.message_type() == MessageType::Other)
    );
}
