//! Phone verification's abuse limits.

use std::time::Duration;

use super::{
    ConfigError,
    read::{count, duration},
};

/// Abuse limits of phone verification; each holds across instances (counted in the database).
#[derive(Debug, Clone)]
pub struct VerificationConfig {
    /// Wait between two codes for the same user.
    pub resend_cooldown: Duration,
    pub max_per_phone_per_hour: u32,
    pub max_per_user_per_day: u32,
    pub max_per_ip_per_hour: u32,
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
    })
}
