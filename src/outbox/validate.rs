//! What a template's inputs must be before anything is rendered or read: each field present, shown,
//! and of a sane length; free texts neither empty nor posing as codes or security alerts.

use super::{SendError, catalogue::Template};
use crate::store::MessageType;

/// The longest a single template input may be.
const MAX_FIELD_CHARS: usize = 500;

/// Whether `text` shows nothing: only white space and invisible format characters (zero-width
/// spaces and joiners, the byte-order mark, word joiners).
pub fn blank(text: &str) -> bool {
    text.chars().all(|c| {
        c.is_whitespace()
            || matches!(
                c,
                '\u{200B}'..='\u{200F}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}' | '\u{180E}' | '\u{00AD}'
            )
    })
}

fn require(field: &str, value: &str) -> Result<(), SendError> {
    if blank(value) {
        return Err(SendError::Invalid(format!("{field} must not be empty.")));
    }
    if value.chars().count() > MAX_FIELD_CHARS {
        return Err(SendError::Invalid(format!(
            "{field} is longer than {MAX_FIELD_CHARS} characters."
        )));
    }
    Ok(())
}

/// Checks a template's inputs: the first field that is wrong, in words a person can act on.
pub(crate) fn validate(template: &Template) -> Result<(), SendError> {
    match template {
        Template::BattleInvitation {
            inviter,
            topic,
            link,
        } => {
            require("inviterName", inviter)?;
            require("battleTopic", topic)?;
            require("invitationLink", link)
        }
        Template::BattleResult {
            topic,
            summary,
            link,
        } => {
            require("battleTopic", topic)?;
            require("resultSummary", summary)?;
            require("resultLink", link)
        }
        Template::BattleReminder {
            topic,
            time_remaining,
            link,
        } => {
            require("battleTopic", topic)?;
            require("timeRemaining", time_remaining)?;
            require("battleLink", link)
        }
        Template::StreakAlert { days, link } => {
            if *days == 0 {
                return Err(SendError::Invalid("streakCount must be at least 1.".into()));
            }
            require("actionLink", link)
        }
        Template::PhoneVerification { code } => require("code", code),
        Template::DirectMessage { sender, link } => {
            require("senderName", sender)?;
            require("link", link)
        }
        Template::AchievementUnlocked { name, link } => {
            require("achievementName", name)?;
            require("link", link)
        }
        Template::SecurityAlert { what, link } => {
            require("what", what)?;
            require("link", link)
        }
        Template::KeywordAnswer { .. } => Ok(()),
        Template::Text { body, .. } if blank(body) => Err(SendError::EmptyBody),
        // The types that may spend the transactional reserve are written from the catalogue only.
        Template::Text {
            message_type: MessageType::PhoneVerification | MessageType::SecurityAlert,
            ..
        } => Err(SendError::Invalid(
            "Codes and security alerts are written by the service, not as free text.".into(),
        )),
        Template::Text { .. } => Ok(()),
    }
}
