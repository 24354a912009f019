//! The sending pipeline's settings: the provider, the rate limit, the workers, group commit.

use std::{str::FromStr, time::Duration};

use super::{
    ConfigError,
    read::{country, duration, flag, pairs, parsed},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    /// Prints a `[CONSOLE SMS]` block instead of sending: local development.
    Console,
    /// AWS End User Messaging SMS (`SendTextMessage`).
    Aws,
}

/// The AWS message type used for promotional messages (transactional ones are always TRANSACTIONAL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsMessageType {
    Transactional,
    Promotional,
}

/// Settings of the sending pipeline.
#[derive(Debug, Clone)]
pub struct SmsConfig {
    pub provider: ProviderKind,
    pub aws_region: String,
    pub origination_identity: Option<String>,
    /// Where verification codes are sent from, when not from `origination_identity`
    /// (`SMS_ORIGINATION_IDENTITY_VERIFICATION`): AWS registers a toll-free number for one use case.
    pub verification_identity: Option<String>,
    /// Sender ids by destination country (`SMS_SENDER_IDS`, `GB=AllThrive`), for countries that allow
    /// them; every text to that country is sent from it.
    pub sender_ids: Vec<(phonenumber::country::Id, String)>,
    pub aws_message_type: AwsMessageType,
    pub configuration_set: Option<String>,
    /// The AWS opt-out list admins' changes to the opt-out list are copied to (`SMS_OPT_OUT_LIST`).
    pub opt_out_list: Option<String>,
    /// AWS Protect configuration for every text (`SMS_PROTECT_CONFIGURATION_ID`).
    pub protect_configuration: Option<String>,
    /// AWS Protect configuration for codes, instead (`SMS_PROTECT_CONFIGURATION_ID_VERIFICATION`).
    pub protect_configuration_verification: Option<String>,
    pub aws_endpoint_url: Option<String>,
    /// Sends per second for the whole deployment; 0 turns the limiter off.
    pub rate_limit_mps: f64,
    pub allowed_countries: Vec<phonenumber::country::Id>,
    pub app_name: String,
    pub frontend_url: String,
    /// Outbox workers in this instance; 0 runs none (the API still accepts and queues messages).
    pub workers: usize,
    /// Attempts before a transiently failing message is marked failed.
    pub max_attempts: u32,
    /// How long a claimed message stays with its worker before another may retry it.
    pub lease: Duration,
    /// Longest wait for the provider's answer.
    pub send_timeout: Duration,
    /// Longest wait of `sendAsync: false` for a message's outcome.
    pub sync_wait: Duration,
    /// How often idle workers look for work queued by other instances or come due.
    pub poll_interval: Duration,
    /// While an account-level error pauses sending, how often a `DryRun` probe checks whether the
    /// account sends again (`SMS_PAUSE_PROBE_INTERVAL`).
    pub pause_probe_interval: Duration,
    /// How long a message is worth sending when neither its sender nor its type says
    /// (`SMS_DEFAULT_VALIDITY`, at most AWS's 72 hours).
    pub default_validity: Duration,
    /// The service answers STOP and START with a confirmation and HELP with the help text itself
    /// (`true`), or AWS answers keywords (`false`).
    pub self_managed_opt_outs: bool,
    /// Where people get help: in the answer to HELP.
    pub help_contact: String,
    /// Concurrent sends of this instance share one transaction (`SMS_GROUP_COMMIT`).
    pub group_commit: bool,
    /// How long the first send of an idle instance waits for others to join it.
    pub group_commit_window: Duration,
    /// Smart encoding, short links and digests (`config::savings`).
    pub savings: super::SavingsConfig,
}

/// Reads the pipeline's settings.
/// The provider and, for AWS, where and how it sends.
type ProviderSettings = (ProviderKind, Option<String>, AwsMessageType, Option<String>);

fn provider(var: &impl Fn(&str) -> Option<String>) -> Result<ProviderSettings, ConfigError> {
    let provider = match var("SMS_PROVIDER").as_deref().map(str::trim) {
        None | Some("console") => ProviderKind::Console,
        Some("aws") => ProviderKind::Aws,
        Some(other) => {
            return Err(ConfigError::new(
                "SMS_PROVIDER",
                format!("'{other}' is not a provider; use 'console' or 'aws'"),
            ));
        }
    };
    let origination_identity = var("SMS_ORIGINATION_IDENTITY").map(|s| s.trim().to_owned());
    if provider == ProviderKind::Aws && origination_identity.is_none() {
        return Err(ConfigError::new(
            "SMS_ORIGINATION_IDENTITY",
            "is required with SMS_PROVIDER=aws: the phone number, pool or sender id to send from, e.g. +18663448034",
        ));
    }
    let aws_message_type = parsed(var, "SMS_MESSAGE_TYPE", "TRANSACTIONAL", |s| {
        match s.to_ascii_uppercase().as_str() {
            "TRANSACTIONAL" => Ok(AwsMessageType::Transactional),
            "PROMOTIONAL" => Ok(AwsMessageType::Promotional),
            _ => Err(format!(
                "'{s}' is not a message type; use TRANSACTIONAL or PROMOTIONAL"
            )),
        }
    })?;
    let aws_endpoint_url = var("SMS_AWS_ENDPOINT_URL").map(|s| s.trim().to_owned());
    if let Some(url) = &aws_endpoint_url
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        return Err(ConfigError::new(
            "SMS_AWS_ENDPOINT_URL",
            format!("'{url}' is not an http(s) URL"),
        ));
    }
    Ok((
        provider,
        origination_identity,
        aws_message_type,
        aws_endpoint_url,
    ))
}

/// `GB=AllThrive,DE=AllThrive`: a sender id (1 to 11 letters and digits, at least one letter, as
/// carriers require) per ISO country.
fn sender_ids(s: &str) -> Result<Vec<(phonenumber::country::Id, String)>, String> {
    pairs(s, "COUNTRY=SENDERID, such as GB=AllThrive")
        .map(|pair| {
            let (code, id) = pair?;
            let valid = (1..=11).contains(&id.len())
                && id.chars().all(|c| c.is_ascii_alphanumeric())
                && id.chars().any(|c| c.is_ascii_alphabetic());
            if !valid {
                return Err(format!(
                    "'{id}' is not a sender id: 1 to 11 letters and digits, at least one letter"
                ));
            }
            Ok((country(code)?, id.to_owned()))
        })
        .collect()
}

pub(super) fn parse(var: &impl Fn(&str) -> Option<String>) -> Result<SmsConfig, ConfigError> {
    let (provider, origination_identity, aws_message_type, aws_endpoint_url) = provider(var)?;
    let rate_limit_mps = parsed(var, "SMS_RATE_LIMIT_MPS", "3", |s| match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!(
            "'{s}' is not a rate; give messages per second such as 3 or 0.5 (0 turns the limit off)"
        )),
    })?;
    let allowed_countries = parsed(var, "SMS_ALLOWED_COUNTRIES", "US,CA", countries)?;
    let (app_name, frontend_url) = brand(var)?;
    let workers = parsed(var, "SMS_WORKERS", "2", |s| {
        s.parse::<usize>()
            .ok()
            .filter(|n| *n <= 64)
            .ok_or_else(|| format!("'{s}' is not a worker count from 0 to 64"))
    })?;
    let max_attempts = parsed(var, "SMS_MAX_ATTEMPTS", "5", |s| {
        s.parse::<u32>()
            .ok()
            .filter(|n| (1..=50).contains(n))
            .ok_or_else(|| format!("'{s}' is not a number of attempts from 1 to 50"))
    })?;
    let send_timeout = duration(var, "SMS_SEND_TIMEOUT", "10s")?;
    let lease = duration(var, "SMS_LEASE", "60s")?;
    if lease <= send_timeout * 2 {
        return Err(ConfigError::new(
            "SMS_LEASE",
            "must be more than twice SMS_SEND_TIMEOUT, or a slow send would be retried while it still runs",
        ));
    }
    let sync_wait = duration(var, "SMS_SYNC_WAIT", "20s")?;
    let poll_interval = duration(var, "SMS_POLL_INTERVAL", "1s")?;
    let frontend_url_for_help = frontend_url.trim_end_matches('/').to_owned();
    Ok(SmsConfig {
        provider,
        aws_region: var("AWS_REGION").unwrap_or_else(|| "us-east-1".to_owned()),
        origination_identity,
        verification_identity: var("SMS_ORIGINATION_IDENTITY_VERIFICATION")
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty()),
        sender_ids: parsed(var, "SMS_SENDER_IDS", "", sender_ids)?,
        aws_message_type,
        configuration_set: var("SMS_CONFIGURATION_SET").map(|s| s.trim().to_owned()),
        opt_out_list: var("SMS_OPT_OUT_LIST").map(|s| s.trim().to_owned()),
        protect_configuration: var("SMS_PROTECT_CONFIGURATION_ID").map(|s| s.trim().to_owned()),
        protect_configuration_verification: var("SMS_PROTECT_CONFIGURATION_ID_VERIFICATION")
            .map(|s| s.trim().to_owned()),
        aws_endpoint_url,
        rate_limit_mps,
        allowed_countries,
        app_name,
        frontend_url,
        workers,
        max_attempts,
        lease,
        send_timeout,
        sync_wait,
        poll_interval,
        pause_probe_interval: duration(var, "SMS_PAUSE_PROBE_INTERVAL", "5m")?,
        default_validity: default_validity(var)?,
        self_managed_opt_outs: parsed(var, "SMS_SELF_MANAGED_OPT_OUTS", "false", flag)?,
        group_commit: parsed(var, "SMS_GROUP_COMMIT", "true", flag)?,
        group_commit_window: group_commit_window(var)?,
        savings: super::SavingsConfig::default(),
        help_contact: var("SMS_HELP_CONTACT")
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| format!("{}/help", frontend_url_for_help)),
    })
}

/// A list of ISO country codes (`US,CA`).
fn countries(s: &str) -> Result<Vec<phonenumber::country::Id>, String> {
    s.split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(|c| {
            phonenumber::country::Id::from_str(&c.to_ascii_uppercase())
                .map_err(|_| format!("'{c}' is not an ISO 3166 country code such as US or CA"))
        })
        .collect::<Result<Vec<_>, _>>()
}

/// The brand in the texts: `APP_NAME`, and `FRONTEND_URL`, the base of their links.
fn brand(var: &impl Fn(&str) -> Option<String>) -> Result<(String, String), ConfigError> {
    let app_name = var("APP_NAME").unwrap_or_else(|| "AllThrive".to_owned());
    let frontend_url = parsed(var, "FRONTEND_URL", "http://localhost:3000", |s| {
        if s.starts_with("http://") || s.starts_with("https://") {
            Ok(s.trim_end_matches('/').to_owned())
        } else {
            Err(format!(
                "'{s}' is not an http(s) URL such as https://allthrive.ai"
            ))
        }
    })?;
    Ok((app_name, frontend_url))
}

/// How long the first send of an idle instance waits for others: `0` for none, 100ms at most.
fn group_commit_window(var: &impl Fn(&str) -> Option<String>) -> Result<Duration, ConfigError> {
    parsed(var, "SMS_GROUP_COMMIT_WINDOW", "1ms", |s| match s.trim() {
        "0" => Ok(Duration::ZERO),
        other => humantime::parse_duration(other)
            .ok()
            .filter(|d| *d <= Duration::from_millis(100))
            .ok_or_else(|| {
                format!(
                    "'{s}' is not a short wait such as 1ms or 500us (0 for none, 100ms at most)"
                )
            }),
    })
}

/// `SMS_DEFAULT_VALIDITY`: from a minute to AWS's longest time to live, 72 hours.
fn default_validity(var: &impl Fn(&str) -> Option<String>) -> Result<Duration, ConfigError> {
    let validity = duration(var, "SMS_DEFAULT_VALIDITY", "24h")?;
    if validity < Duration::from_secs(60) || validity > Duration::from_secs(72 * 3600) {
        return Err(ConfigError::new(
            "SMS_DEFAULT_VALIDITY",
            "must be from 1m to 72h (AWS keeps trying a text for at most 72 hours)",
        ));
    }
    Ok(validity)
}
