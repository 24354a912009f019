//! The message catalogue: the one place that turns a message's inputs into its text, with the STOP footer
//! on promotional messages, and counts its encoding and segments the way carriers bill them.

pub use crate::locale::texts::{Keyword, Language};
use crate::{
    locale::texts::{fill, time_left},
    store::MessageType,
};

/// Longest body accepted, in segments: longer texts are split into too many billed parts.
pub const MAX_SEGMENTS: u32 = 10;

/// Brand and link settings used in bodies.
#[derive(Debug, Clone)]
pub struct Brand {
    pub app_name: String,
    /// Base of relative links, e.g. `https://allthrive.ai` (no trailing slash).
    pub frontend_url: String,
}

impl Brand {
    /// An absolute link: `https://...` links are kept, paths are joined to the front end's URL.
    pub fn link(&self, link: &str) -> String {
        let link = link.trim();
        if link.starts_with("https://") || link.starts_with("http://") {
            link.to_owned()
        } else {
            format!(
                "{}/{}",
                self.frontend_url.trim_end_matches('/'),
                link.trim_start_matches('/')
            )
        }
    }
}

/// A message and its inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Template {
    BattleInvitation {
        inviter: String,
        topic: String,
        link: String,
    },
    BattleResult {
        topic: String,
        summary: String,
        link: String,
    },
    BattleReminder {
        topic: String,
        time_remaining: String,
        link: String,
    },
    StreakAlert {
        days: u32,
        link: String,
    },
    PhoneVerification {
        code: String,
    },
    /// Never carries the message text itself: a text is not a private channel.
    DirectMessage {
        sender: String,
        link: String,
    },
    AchievementUnlocked {
        name: String,
        link: String,
    },
    SecurityAlert {
        what: String,
        link: String,
    },
    /// The answer to a keyword (STOP's and START's confirmations, HELP's text), with the address
    /// people get help at.
    KeywordAnswer {
        keyword: Keyword,
        contact: String,
    },
    /// A free text of any type (`sendSms`).
    Text {
        message_type: MessageType,
        body: String,
    },
}

impl Template {
    pub fn message_type(&self) -> MessageType {
        match self {
            Self::BattleInvitation { .. } => MessageType::BattleInvitation,
            Self::BattleResult { .. } => MessageType::BattleResult,
            Self::BattleReminder { .. } => MessageType::BattleReminder,
            Self::StreakAlert { .. } => MessageType::StreakAlert,
            Self::PhoneVerification { .. } => MessageType::PhoneVerification,
            Self::DirectMessage { .. } => MessageType::DirectMessage,
            Self::AchievementUnlocked { .. } => MessageType::AchievementUnlocked,
            Self::SecurityAlert { .. } => MessageType::SecurityAlert,
            Self::KeywordAnswer { .. } => MessageType::Other,
            Self::Text { message_type, .. } => *message_type,
        }
    }

    /// The text without the footer, in `language`.
    fn text(&self, brand: &Brand, language: Language) -> String {
        let t = language.texts();
        let app = brand.app_name.as_str();
        let link = |l: &str| brand.link(l);
        match self {
            Self::BattleInvitation {
                inviter,
                topic,
                link: l,
            } => fill(
                t.battle_invitation,
                &[
                    ("app", app),
                    ("inviter", inviter),
                    ("topic", topic),
                    ("link", &link(l)),
                ],
            ),
            Self::BattleResult {
                topic,
                summary,
                link: l,
            } => fill(
                t.battle_result,
                &[
                    ("app", app),
                    ("topic", topic),
                    ("summary", summary),
                    ("link", &link(l)),
                ],
            ),
            Self::BattleReminder {
                topic,
                time_remaining,
                link: l,
            } => fill(
                t.battle_reminder,
                &[
                    ("app", app),
                    ("time_remaining", &time_left(time_remaining, language)),
                    ("topic", topic),
                    ("link", &link(l)),
                ],
            ),
            Self::StreakAlert { days, link: l } => fill(
                t.streak_alert,
                &[
                    ("app", app),
                    ("days", &days.to_string()),
                    ("link", &link(l)),
                ],
            ),
            Self::PhoneVerification { code } => {
                fill(t.phone_verification, &[("app", app), ("code", code)])
            }
            Self::DirectMessage { sender, link: l } => fill(
                t.direct_message,
                &[("app", app), ("sender", sender), ("link", &link(l))],
            ),
            Self::AchievementUnlocked { name, link: l } => fill(
                t.achievement_unlocked,
                &[("app", app), ("name", name), ("link", &link(l))],
            ),
            Self::SecurityAlert { what, link: l } => fill(
                t.security_alert,
                &[("app", app), ("what", what), ("link", &link(l))],
            ),
            Self::KeywordAnswer { keyword, contact } => {
                let pattern = match keyword {
                    Keyword::Stop => t.stop_answer,
                    Keyword::Start => t.start_answer,
                    Keyword::Help => t.help_answer,
                };
                fill(pattern, &[("app", app), ("contact", contact)])
            }
            Self::Text { body, .. } => body.trim().to_owned(),
        }
    }
}

/// What the log shows of a message whose text is a secret: the verification code masked. `None` when
/// the text may be shown as it is.
pub fn redacted(
    template: &Template,
    promotional: bool,
    brand: &Brand,
    language: Language,
) -> Option<Rendered> {
    match template {
        Template::PhoneVerification { code } => Some(render_in(
            &Template::PhoneVerification {
                code: "*".repeat(code.chars().count()),
            },
            promotional,
            brand,
            language,
        )),
        _ => None,
    }
}

/// Whether a message type is transactional by nature (verification codes, security alerts): no footer,
/// no master switch or category, claimed before promotions.
pub fn is_transactional(message_type: MessageType) -> bool {
    matches!(
        message_type,
        MessageType::PhoneVerification | MessageType::SecurityAlert
    )
}

/// How a body travels: GSM-7 (7-bit, 160 a segment) or UCS-2 (16-bit, 70 a segment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Gsm7,
    Ucs2,
}

impl Encoding {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gsm7 => "GSM-7",
            Self::Ucs2 => "UCS-2",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub body: String,
    pub encoding: Encoding,
    pub segments: u32,
}

/// Renders a template in English; `promotional` adds the STOP footer (exactly once).
pub fn render(template: &Template, promotional: bool, brand: &Brand) -> Rendered {
    render_in(template, promotional, brand, Language::DEFAULT)
}

/// Renders a template in `language`; `promotional` adds the language's STOP footer (exactly once: a
/// text that ends with any language's footer keeps it).
pub fn render_in(
    template: &Template,
    promotional: bool,
    brand: &Brand,
    language: Language,
) -> Rendered {
    let mut body = template.text(brand, language);
    if promotional {
        let footer = language.texts().stop_footer;
        let trimmed = body.trim_end();
        let has_one = Language::all().any(|l| trimmed.ends_with(l.texts().stop_footer));
        body = if has_one {
            trimmed.to_owned()
        } else if trimmed.is_empty() {
            footer.to_owned()
        } else {
            format!("{trimmed}\n{footer}")
        };
    }
    measure(body)
}

/// Counts a body's encoding and segments.
pub fn measure(body: String) -> Rendered {
    let (encoding, segments) = segments(&body);
    Rendered {
        body,
        encoding,
        segments,
    }
}

/// The GSM 03.38 basic character set (one septet each).
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// The extension table: each costs two septets (an escape and the character).
const GSM7_EXTENSION: &str = "^{}\\[~]|€\u{000C}";

/// Whether GSM-7 carries a character (either table).
pub fn is_gsm7(c: char) -> bool {
    gsm7_septets(c).is_some()
}

/// Every character GSM-7 carries.
#[cfg(test)]
pub fn gsm7_alphabet() -> impl Iterator<Item = char> {
    GSM7_BASIC.chars().chain(GSM7_EXTENSION.chars())
}

/// `table` with each ASCII character of `chars` costing `septets` (a UTF-8 string's bytes below 0x80
/// are exactly its ASCII characters).
const fn mark(mut table: [u8; 128], chars: &str, septets: u8) -> [u8; 128] {
    let bytes = chars.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] < 0x80 {
            table[bytes[i] as usize] = septets;
        }
        i += 1;
    }
    table
}

/// Septets of each ASCII character in GSM-7 (0 when GSM-7 does not carry it), built from the tables
/// above.
const ASCII_SEPTETS: [u8; 128] = mark(mark([0; 128], GSM7_BASIC, 1), GSM7_EXTENSION, 2);

/// Septets of one character in GSM-7, or `None` when it is not in GSM-7. Every text is measured when
/// it is rendered, so ASCII (nearly every character sent) is one table lookup, not a scan of the tables.
fn gsm7_septets(c: char) -> Option<u32> {
    if c.is_ascii() {
        return match ASCII_SEPTETS[c as usize] {
            0 => None,
            n => Some(u32::from(n)),
        };
    }
    gsm7_septets_scanned(c)
}

/// The same answer by scanning the tables.
fn gsm7_septets_scanned(c: char) -> Option<u32> {
    if GSM7_BASIC.contains(c) {
        Some(1)
    } else if GSM7_EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// Encoding and segment count: one segment holds 160 GSM-7 septets or 70 UCS-2 units; a long message is
/// split into parts of 153 septets or 67 units (the rest carries the concatenation header), and a part
/// never splits an escape pair or a surrogate pair.
pub fn segments(body: &str) -> (Encoding, u32) {
    let septets = body
        .chars()
        .try_fold(0u32, |sum, c| gsm7_septets(c).map(|n| sum + n));
    let gsm = septets.is_some();
    let (encoding, total, single, part) = match septets {
        Some(total) => (Encoding::Gsm7, total, 160, 153),
        None => (Encoding::Ucs2, body.encode_utf16().count() as u32, 70, 67),
    };
    if total <= single {
        return (encoding, 1);
    }
    let unit = |c: char| {
        if gsm {
            gsm7_septets(c).unwrap_or(1)
        } else {
            c.len_utf16() as u32
        }
    };
    let mut parts = 1;
    let mut used = 0;
    for unit in body.chars().map(unit) {
        if used + unit > part {
            parts += 1;
            used = 0;
        }
        used += unit;
    }
    (encoding, parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ascii_table_answers_as_the_tables_do() {
        for c in (0u32..0x3000).filter_map(char::from_u32) {
            assert_eq!(gsm7_septets(c), gsm7_septets_scanned(c), "{c:?}");
        }
        assert_eq!(gsm7_septets('A'), Some(1));
        assert_eq!(gsm7_septets('{'), Some(2));
        assert_eq!(gsm7_septets('`'), None);
    }

    fn brand() -> Brand {
        Brand {
            app_name: "AllThrive".into(),
            frontend_url: "https://allthrive.ai/".into(),
        }
    }

    fn all_templates() -> Vec<Template> {
        vec![
            Template::BattleInvitation {
                inviter: "Sam".into(),
                topic: "Best haiku".into(),
                link: "/battles/1".into(),
            },
            Template::BattleResult {
                topic: "Best haiku".into(),
                summary: "You won 3-2!".into(),
                link: "/battles/1/results".into(),
            },
            Template::BattleReminder {
                topic: "Best haiku".into(),
                time_remaining: "45 minutes".into(),
                link: "https://allthrive.ai/battles/1".into(),
            },
            Template::StreakAlert {
                days: 12,
                link: "/streak".into(),
            },
            Template::PhoneVerification {
                code: "123456".into(),
            },
            Template::DirectMessage {
                sender: "Sam".into(),
                link: "/messages/9".into(),
            },
            Template::AchievementUnlocked {
                name: "First win".into(),
                link: "/achievements".into(),
            },
            Template::SecurityAlert {
                what: "A new sign-in from Firefox on Linux".into(),
                link: "/security".into(),
            },
            Template::Text {
                message_type: MessageType::Other,
                body: "Maintenance tonight at 2am.".into(),
            },
        ]
    }

    #[test]
    fn every_type_renders_with_brand_and_absolute_links() {
        for template in all_templates() {
            let promotional = !is_transactional(template.message_type());
            let r = render(&template, promotional, &brand());
            if !matches!(template, Template::Text { .. }) {
                assert!(r.body.starts_with("AllThrive"), "{}", r.body);
            }
            assert!(!r.body.contains("//battles"), "{}", r.body);
            assert_eq!(r.encoding, Encoding::Gsm7, "{}", r.body);
        }
        let invite = render(&all_templates()[0], true, &brand());
        assert_eq!(
            invite.body,
            "AllThrive: Sam challenged you to a battle: \"Best haiku\". Accept: https://allthrive.ai/battles/1\nReply STOP to unsubscribe."
        );
        let code = render(&all_templates()[4], false, &brand());
        assert!(code.body.contains("123456") && code.body.contains("expires in 10 minutes"));
    }

    #[test]
    fn the_footer_appears_once_on_promotions_and_never_on_transactional() {
        for template in all_templates() {
            let transactional = is_transactional(template.message_type());
            let r = render(&template, !transactional, &brand());
            assert_eq!(
                r.body
                    .matches(Language::DEFAULT.texts().stop_footer)
                    .count(),
                usize::from(!transactional),
                "{}",
                r.body
            );
        }
        let already = Template::Text {
            message_type: MessageType::Other,
            body: format!("Hello!\n{}", Language::DEFAULT.texts().stop_footer),
        };
        assert_eq!(
            render(&already, true, &brand())
                .body
                .matches(Language::DEFAULT.texts().stop_footer)
                .count(),
            1
        );
    }

    #[test]
    fn direct_messages_never_carry_the_text() {
        let r = render(
            &Template::DirectMessage {
                sender: "Sam".into(),
                link: "/m/1".into(),
            },
            true,
            &brand(),
        );
        assert_eq!(
            r.body,
            "AllThrive: Sam sent you a message. Read it: https://allthrive.ai/m/1\nReply STOP to unsubscribe."
        );
    }

    #[test]
    fn gsm7_boundaries() {
        assert_eq!(segments(&"a".repeat(160)), (Encoding::Gsm7, 1));
        assert_eq!(segments(&"a".repeat(161)), (Encoding::Gsm7, 2));
        assert_eq!(segments(&"a".repeat(306)), (Encoding::Gsm7, 2));
        assert_eq!(segments(&"a".repeat(307)), (Encoding::Gsm7, 3));
        assert_eq!(segments(""), (Encoding::Gsm7, 1));
        // Accented letters of the basic table stay GSM-7.
        assert_eq!(segments("Zürich, Málaga? ¿Qué? ÄÖÑÜ"), (Encoding::Ucs2, 1));
        assert_eq!(segments("Zürich ÄÖÑÜ é à"), (Encoding::Gsm7, 1));
    }

    #[test]
    fn extension_characters_count_two_and_are_never_split() {
        assert_eq!(segments(&"€".repeat(80)), (Encoding::Gsm7, 1));
        assert_eq!(segments(&"€".repeat(81)), (Encoding::Gsm7, 2));
        assert_eq!(
            segments(&format!("{}{}", "a".repeat(159), "{")),
            (Encoding::Gsm7, 2)
        );
        // 152 septets then an escape pair: the pair moves whole to the second part.
        let body = format!("{}^{}", "a".repeat(152), "a".repeat(152));
        assert_eq!(segments(&body), (Encoding::Gsm7, 3));
        let body = format!("{}^{}", "a".repeat(151), "a".repeat(153));
        assert_eq!(segments(&body), (Encoding::Gsm7, 2));
    }

    #[test]
    fn ucs2_boundaries_and_emoji() {
        assert_eq!(segments(&"ж".repeat(70)), (Encoding::Ucs2, 1));
        assert_eq!(segments(&"ж".repeat(71)), (Encoding::Ucs2, 2));
        assert_eq!(segments(&"ж".repeat(134)), (Encoding::Ucs2, 2));
        assert_eq!(segments(&"ж".repeat(135)), (Encoding::Ucs2, 3));
        // One emoji makes the whole text UCS-2, and counts two units.
        assert_eq!(
            segments(&format!("{}🔥", "a".repeat(68))),
            (Encoding::Ucs2, 1)
        );
        assert_eq!(
            segments(&format!("{}🔥", "a".repeat(69))),
            (Encoding::Ucs2, 2)
        );
        // A surrogate pair is never split across parts.
        let body = format!("{}🔥{}", "a".repeat(66), "a".repeat(66));
        assert_eq!(segments(&body), (Encoding::Ucs2, 3));
    }
}
