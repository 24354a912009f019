//! Where recipients are: the default zone, the federal quiet hours and the states' rules.

use crate::locale::{local_time::LocaleRules, quiet::QuietHours};

use super::{ConfigError, read::parsed};

/// Reads `DEFAULT_TIMEZONE`, `QUIET_HOURS` and `SMS_STATE_RULES`.
pub(super) fn parse(var: &impl Fn(&str) -> Option<String>) -> Result<LocaleRules, ConfigError> {
    let default_timezone = parsed(var, "DEFAULT_TIMEZONE", "America/New_York", |s| {
        s.parse::<chrono_tz::Tz>()
            .map_err(|_| format!("'{s}' is not an IANA time zone such as America/New_York"))
    })?;

    let quiet_hours = match var("QUIET_HOURS").as_deref().map(str::trim) {
        Some("off") | Some("none") => None,
        other => Some(
            QuietHours::parse(other.unwrap_or("21:00-08:00"))
                .map_err(|reason| ConfigError::new("QUIET_HOURS", reason))?,
        ),
    };
    let state_rules = crate::locale::local_time::parse_state_rules(
        var("SMS_STATE_RULES").as_deref().unwrap_or("on"),
    )
    .map_err(|reason| ConfigError::new("SMS_STATE_RULES", reason))?;
    Ok(LocaleRules {
        default_timezone,
        quiet_hours,
        state_rules,
    })
}
