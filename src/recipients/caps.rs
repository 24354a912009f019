//! How often each kind of text may come, pure: the operator's caps (`SMS_FREQUENCY_CAPS`, per type),
//! the person's own (never above the operator's), and the per-inviter cap on battle invitations
//! (`SMS_INVITER_CAP`). They are counted in the write that accepts a text (`store::caps`).

use crate::{outbox::catalogue::is_transactional, store::MessageType};

/// The longest period a cap counts over: 30 days.
pub const MAX_PERIOD_HOURS: u32 = 30 * 24;

/// At most `count` texts in any `hours` hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cap {
    pub count: u32,
    pub hours: u32,
}

impl Cap {
    /// `N/period`: `5/24h`, `1/1d`, `2/12h`, `3/1week` (a whole number of hours, 1 hour to 30 days).
    pub fn parse(s: &str) -> Result<Cap, String> {
        let form = || format!("'{s}' is not a cap such as 5/24h (at most N texts in a period)");
        let (count, period) = s.trim().split_once('/').ok_or_else(form)?;
        let count: u32 = count.trim().parse().map_err(|_| form())?;
        let period = humantime::parse_duration(period.trim()).map_err(|_| form())?;
        let hours = period.as_secs() / 3600;
        if period.as_secs() % 3600 != 0 || hours == 0 || hours > u64::from(MAX_PERIOD_HOURS) {
            return Err(format!(
                "'{s}': the period is a whole number of hours from 1h to 30days"
            ));
        }
        Cap::new(count, hours as u32)
    }

    /// A cap, checked: at least one text, a period of 1 hour to 30 days.
    pub fn new(count: u32, hours: u32) -> Result<Cap, String> {
        if count == 0 {
            return Err("a cap allows at least 1 text; turn the category off instead".into());
        }
        if hours == 0 || hours > MAX_PERIOD_HOURS {
            return Err(format!(
                "a cap's period is 1 to {MAX_PERIOD_HOURS} hours, not {hours}"
            ));
        }
        Ok(Cap { count, hours })
    }

    /// Never allows more than `other`: as many or fewer texts over as long a period or longer (any
    /// window of `other`'s period lies inside one of this cap's, so this cap holding means `other`
    /// holds too).
    pub fn within(&self, other: &Cap) -> bool {
        self.count <= other.count && self.hours >= other.hours
    }

    /// `5/24h`.
    pub fn label(&self) -> String {
        format!("{}/{}h", self.count, self.hours)
    }
}

/// `streak_alert=1/24h,battle_invitation=5/24h`: promotional types, each once.
pub fn parse_list(s: &str) -> Result<Vec<(MessageType, Cap)>, String> {
    let mut caps: Vec<(MessageType, Cap)> = Vec::new();
    for pair in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, cap) = pair
            .split_once('=')
            .ok_or_else(|| format!("'{pair}' is not TYPE=N/PERIOD, such as streak_alert=1/24h"))?;
        let message_type = promotional_type(name.trim())?;
        if caps.iter().any(|(t, _)| *t == message_type) {
            return Err(format!("{} is capped twice", name.trim()));
        }
        caps.push((message_type, Cap::parse(cap)?));
    }
    Ok(caps)
}

/// A promotional type by its stored name (`streak_alert`).
fn promotional_type(name: &str) -> Result<MessageType, String> {
    let message_type = <MessageType as sea_orm::ActiveEnum>::try_from_value(&name.to_owned())
        .map_err(|_| format!("'{name}' is not a message type such as streak_alert"))?;
    if is_transactional(message_type) {
        return Err(format!(
            "{name} is transactional: codes and security alerts have their own limits"
        ));
    }
    Ok(message_type)
}

/// The person's caps as stored (`streak_alert=1/24,battle_invitation=3/24`, hours).
pub fn encode(caps: &[(MessageType, Cap)]) -> String {
    let mut pairs: Vec<String> = caps
        .iter()
        .map(|(t, c)| {
            format!(
                "{}={}/{}",
                sea_orm::ActiveEnum::to_value(t),
                c.count,
                c.hours
            )
        })
        .collect();
    pairs.sort();
    pairs.join(",")
}

/// The person's caps, read back (an entry that no longer reads is skipped).
pub fn decode(stored: Option<&str>) -> Vec<(MessageType, Cap)> {
    stored
        .unwrap_or_default()
        .split(',')
        .filter_map(|pair| {
            let (name, cap) = pair.split_once('=')?;
            let (count, hours) = cap.split_once('/')?;
            let message_type =
                <MessageType as sea_orm::ActiveEnum>::try_from_value(&name.to_owned()).ok()?;
            Some((
                message_type,
                Cap::new(count.parse().ok()?, hours.parse().ok()?).ok()?,
            ))
        })
        .collect()
}

/// Checks the person's caps against the operator's: each for a promotional type, once, and never
/// allowing more than the operator's cap of the type (`Cap::within`).
pub fn check_own(
    operator: &[(MessageType, Cap)],
    own: &[(MessageType, Cap)],
) -> Result<(), String> {
    for (i, (message_type, cap)) in own.iter().enumerate() {
        let name: String = sea_orm::ActiveEnum::to_value(message_type);
        if is_transactional(*message_type) {
            return Err(format!(
                "{name} cannot be capped: codes and security alerts always come"
            ));
        }
        if own[..i].iter().any(|(t, _)| t == message_type) {
            return Err(format!("{name} is capped twice; give one cap per type"));
        }
        if let Some((_, theirs)) = operator.iter().find(|(t, _)| t == message_type)
            && !cap.within(theirs)
        {
            return Err(format!(
                "{name}: {} would allow more than the service's {} (give at most {} texts over at least {} hours)",
                cap.label(),
                theirs.label(),
                theirs.count,
                theirs.hours
            ));
        }
    }
    Ok(())
}

/// The caps on a text of `message_type` to a person with caps `own`: the operator's and the person's
/// (the person's is never looser, but both are counted, which costs nothing and needs no proof).
pub fn for_type(
    operator: &[(MessageType, Cap)],
    own: &[(MessageType, Cap)],
    message_type: MessageType,
) -> Vec<Cap> {
    operator
        .iter()
        .chain(own)
        .filter(|(t, _)| *t == message_type)
        .map(|(_, c)| *c)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_read_in_whole_hours() {
        assert_eq!(
            Cap::parse("5/24h"),
            Ok(Cap {
                count: 5,
                hours: 24
            })
        );
        assert_eq!(
            Cap::parse(" 1 / 1day "),
            Ok(Cap {
                count: 1,
                hours: 24
            })
        );
        assert_eq!(
            Cap::parse("3/1week"),
            Ok(Cap {
                count: 3,
                hours: 168
            })
        );
        for bad in [
            "5", "0/24h", "5/30m", "5/90m", "5/31days", "x/24h", "5/soon",
        ] {
            assert!(Cap::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_operators_list_names_promotional_types_once() {
        let caps = parse_list("streak_alert=1/24h, battle_invitation=5/24h").expect("valid");
        assert_eq!(caps.len(), 2);
        assert!(parse_list("phone_verification=1/24h").is_err());
        assert!(parse_list("streak_alert=1/24h,streak_alert=2/24h").is_err());
        assert!(parse_list("nonsense=1/24h").is_err());
        assert_eq!(parse_list(""), Ok(Vec::new()));
    }

    #[test]
    fn a_person_may_lower_a_cap_never_raise_it() {
        let operator = parse_list("streak_alert=2/24h").expect("valid");
        let own = |c, h| vec![(MessageType::StreakAlert, Cap { count: c, hours: h })];
        assert!(check_own(&operator, &own(1, 24)).is_ok());
        assert!(check_own(&operator, &own(2, 48)).is_ok());
        assert!(check_own(&operator, &own(3, 24)).is_err(), "more texts");
        assert!(
            check_own(&operator, &own(1, 12)).is_err(),
            "a shorter period"
        );
        let battle = vec![(MessageType::BattleResult, Cap { count: 9, hours: 1 })];
        assert!(check_own(&operator, &battle).is_ok(), "no operator cap");
        let code = vec![(
            MessageType::PhoneVerification,
            Cap {
                count: 1,
                hours: 24,
            },
        )];
        assert!(check_own(&operator, &code).is_err());
    }

    #[test]
    fn stored_caps_read_back() {
        let caps = vec![
            (
                MessageType::StreakAlert,
                Cap {
                    count: 1,
                    hours: 24,
                },
            ),
            (
                MessageType::BattleInvitation,
                Cap {
                    count: 3,
                    hours: 48,
                },
            ),
        ];
        let stored = encode(&caps);
        assert_eq!(stored, "battle_invitation=3/48,streak_alert=1/24");
        let mut back = decode(Some(&stored));
        back.sort_by_key(|(t, _)| sea_orm::ActiveEnum::to_value(t));
        assert_eq!(back.len(), 2);
        assert!(back.contains(&caps[0]) && back.contains(&caps[1]));
        assert_eq!(
            for_type(&caps, &[], MessageType::StreakAlert),
            vec![caps[0].1]
        );
    }
}
