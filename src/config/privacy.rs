//! How long people's data is kept, and the key that pseudonymizes an erased person's number.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use super::{
    AppEnv, ConfigError,
    read::{cron, parsed},
};

/// The TCPA's limitations period is four years: consent records are kept at least that long in
/// production.
pub const MIN_PRODUCTION_CONSENT_RETENTION: Duration =
    Duration::from_secs(4 * 365 * 86_400 + 86_400);

/// Retention periods and the erasure's hash key.
#[derive(Debug, Clone)]
pub struct PrivacyConfig {
    /// Message and reply texts are removed this long after they were written (`SMS_BODY_RETENTION`).
    pub body_retention: Duration,
    /// Consent events are deleted this long after they stopped proving anything current
    /// (`CONSENT_RETENTION`).
    pub consent_retention: Duration,
    /// Cron of the retention purge (`RETENTION_SCHEDULE`); `None` when off.
    pub retention_schedule: Option<String>,
    /// The key of the keyed hash that replaces an erased person's number (`ERASURE_HASH_KEY`; derived
    /// from `JWT_SECRET` when unset).
    pub erasure_key: SecretString,
}

/// Reads the retention settings; production refuses a consent retention under four years.
pub(super) fn parse(
    var: &impl Fn(&str) -> Option<String>,
    app_env: AppEnv,
    jwt_secret: &SecretString,
) -> Result<PrivacyConfig, ConfigError> {
    let long = |s: &str| {
        humantime::parse_duration(s)
            .ok()
            .filter(|d| *d >= Duration::from_secs(86_400))
            .ok_or_else(|| {
                format!("'{s}' is not a duration of at least a day, such as 30days or 5years")
            })
    };
    let body_retention = parsed(var, "SMS_BODY_RETENTION", "30days", long)?;
    let consent_retention = parsed(var, "CONSENT_RETENTION", "5years", long)?;
    if app_env == AppEnv::Production && consent_retention < MIN_PRODUCTION_CONSENT_RETENTION {
        return Err(ConfigError::new(
            "CONSENT_RETENTION",
            "APP_ENV=production keeps consent records at least 4 years (the TCPA's limitations period); \
             set 4years or more",
        ));
    }
    let erasure_key = match var("ERASURE_HASH_KEY") {
        Some(key) if key.len() < 16 => {
            return Err(ConfigError::new(
                "ERASURE_HASH_KEY",
                "is shorter than 16 bytes; use a long random secret",
            ));
        }
        Some(key) => SecretString::from(key),
        None => SecretString::from(format!("erasure-hash:{}", jwt_secret.expose_secret())),
    };
    Ok(PrivacyConfig {
        body_retention,
        consent_retention,
        retention_schedule: cron(var, "RETENTION_SCHEDULE", "0 30 3 * * *")?,
        erasure_key,
    })
}
