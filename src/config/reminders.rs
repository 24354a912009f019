//! The reminder engine's settings: each scan's schedule (or `off`), lead times, the streak alert.

use std::time::Duration;

use super::{
    ConfigError,
    read::{cron, flag, parsed},
};

/// Settings of the reminder engine.
#[derive(Debug, Clone)]
pub struct ReminderConfig {
    /// Run the scans on their schedules inside `serve` (`REMINDERS_ENABLED`; the receipts'
    /// reconciliation has its own switch).
    pub enabled: bool,
    /// Cron (with seconds) of the battle scan; `None` (`off`) switches it off.
    pub battle_schedule: Option<String>,
    /// Cron (with seconds) of the streak scan; `None` (`off`) switches it off.
    pub streak_schedule: Option<String>,
    /// How long before a deadline battle reminders go out (one reminder per lead time).
    pub lead_times: Vec<Duration>,
    /// Local time after which a streak at risk is texted.
    pub streak_alert_time: chrono::NaiveTime,
    /// Where a streak alert links to.
    pub streak_alert_link: String,
}

/// Reads the reminder engine's settings.
pub(super) fn parse(var: &impl Fn(&str) -> Option<String>) -> Result<ReminderConfig, ConfigError> {
    Ok(ReminderConfig {
        enabled: parsed(var, "REMINDERS_ENABLED", "true", flag)?,
        battle_schedule: cron(var, "REMINDER_BATTLE_SCHEDULE", "0 * * * * *")?,
        streak_schedule: cron(var, "REMINDER_STREAK_SCHEDULE", "0 */15 * * * *")?,
        lead_times: parsed(var, "REMINDER_LEAD_TIMES", "1h", |s| {
            s.split(',')
                .map(|d| {
                    humantime::parse_duration(d.trim())
                        .ok()
                        .filter(|d| !d.is_zero() && *d <= Duration::from_secs(7 * 86_400))
                        .ok_or_else(|| {
                            format!("'{}' is not a lead time such as 1h or 10m", d.trim())
                        })
                })
                .collect()
        })?,
        streak_alert_time: parsed(var, "STREAK_ALERT_TIME", "18:00", |s| {
            chrono::NaiveTime::parse_from_str(s, "%H:%M")
                .map_err(|_| format!("'{s}' is not a time such as 18:00"))
        })?,
        streak_alert_link: var("STREAK_ALERT_LINK").unwrap_or_else(|| "/streak".to_owned()),
    })
}
