//! Phone verification's abuse limits.

use std::time::Duration;

use super::{
    ConfigError,
    read::{count, duration, flag, parsed},
};

/// Abuse limits of phone verification; each holds across instances (counted in the database).
#[derive(Debug, Clone)]
pub struct VerificationConfig {
    /// Wait between two codes for the same user.
    pub resend_cooldown: Duration,
    pub max_per_phone_per_hour: u32,
    pub max_per_user_per_day: u32,
    pub max_per_ip_per_hour: u32,
    /// The fraud guard: codes to a range of numbers are refused while, over `guard_window`, at
    /// least `guard_min_sample` were sent there and fewer than `guard_min_conversion` of them entered.
    pub guard_enabled: bool,
    pub guard_window: Duration,
    pub guard_min_sample: u32,
    pub guard_min_conversion: f64,
}

/// Reads the verification limits.
pub(super) fn parse(
    var: &impl Fn(&str) -> Option<String>,
) -> Result<VerificationConfig, ConfigError> {
    Ok(VerificationConfig {
        resend_cooldown: duration(var, "VERIFY_RESEND_COOLDOWN", "60s")?,
        max_per_phone_per_hour: count(var, "VERIFY_MAX_PER_PHONE_PER_HOUR", "5")?,
        max_per_user_per_day: count(var, "VERIFY_MAX_PER_USER_PER_DAY", "10")?,
        max_per_ip_per_hour: count(var, "VERIFY_MAX_PER_IP_PER_HOUR", "20")?,
        guard_enabled: parsed(var, "VERIFY_GUARD_ENABLED", "true", flag)?,
        guard_window: duration(var, "VERIFY_GUARD_WINDOW", "1h")?,
        guard_min_sample: count(var, "VERIFY_GUARD_MIN_SAMPLE", "15")?,
        guard_min_conversion: parsed(var, "VERIFY_GUARD_MIN_CONVERSION", "0.2", |s| {
            s.parse::<f64>()
                .ok()
                .filter(|c| (0.0..=1.0).contains(c))
                .ok_or_else(|| format!("'{s}' is not a share from 0 to 1, such as 0.2"))
        })?,
    })
}
