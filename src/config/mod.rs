//! Typed settings, read once from the environment at start and validated. A bad value stops the service
//! with a sentence naming the variable. Nothing below this module reads the environment.

use std::{net::SocketAddr, str::FromStr};

use ipnet::IpNet;
use secrecy::SecretString;

use crate::locale::local_time::LocaleRules;

pub mod check;
mod costs;
mod locale;
mod privacy;
mod read;
mod reminders;
mod savings;
mod service;
mod sms;
mod sns;
mod telemetry;
mod verification;

pub use costs::{CostConfig, FixedCost};
pub use privacy::PrivacyConfig;
use read::parsed;
pub use reminders::ReminderConfig;
pub use savings::SavingsConfig;
pub use sms::{AwsMessageType, ProviderKind, SmsConfig};
pub use verification::VerificationConfig;

/// The HS256 secret used when `JWT_SECRET` is not set outside production.
pub const DEVELOPMENT_JWT_SECRET: &str = "sms-notify-development-secret-not-for-production";
/// Shortest `JWT_SECRET` accepted in production: 32 bytes, the size of the HS256 key.
const MIN_PRODUCTION_SECRET_LEN: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    Development,
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub app_env: AppEnv,
    /// The database's URL: a secret (it may carry a password), never printed whole (`redact_url`).
    pub database_url: SecretString,
    pub listen_addr: SocketAddr,
    pub jwt_secret: SecretString,
    /// True when `jwt_secret` is the built-in development secret.
    pub jwt_secret_is_default: bool,
    pub default_phone_region: phonenumber::country::Id,

    /// Proxies whose `X-Forwarded-For` is believed when recording the client IP of a consent.
    pub trusted_proxies: Vec<IpNet>,
    pub log_format: LogFormat,
    pub sms: SmsConfig,
    pub verification: VerificationConfig,
    /// Where recipients are and which hours are quiet there: the default zone, `QUIET_HOURS`, the
    /// states' rules.
    pub locale_rules: LocaleRules,
    pub reminders: ReminderConfig,
    pub costs: CostConfig,
    /// The SNS webhook: topics and trusted certificate hosts.
    pub sns: crate::inbound::sns::SnsConfig,
    /// Cron of the job that settles texts with no final receipt after 72 hours.
    pub reconcile_schedule: Option<String>,
    /// Where Prometheus metrics are served (`GET /metrics`); none by default.
    pub metrics_addr: Option<SocketAddr>,
    /// Retention periods and the erasure's hash key.
    pub privacy: PrivacyConfig,
    /// Tests only (`WEBHOOK_ALLOW_PRIVATE_URLS`): webhook endpoints may be plain http and on loopback or
    /// private addresses. Refused in production.
    pub webhook_allow_private_urls: bool,
    pub ws_limits: WsLimits,
    /// How long a stop (SIGTERM, Ctrl-C) may take (`SHUTDOWN_GRACE`, 25 s: under ECS's 30 s stop
    /// timeout): calls still unanswered near its end are given up, and the process exits at its end.
    pub shutdown_grace: std::time::Duration,
    /// Traces over OTLP (`OTEL_*`); off unless an endpoint is set.
    pub telemetry: crate::telemetry::TelemetryConfig,
}

/// What a WebSocket connection (`/graphql/ws`) may hold.
#[derive(Debug, Clone, Copy)]
pub struct WsLimits {
    /// Connections open at once in all (`GRAPHQL_WS_MAX_CONNECTIONS`, 1000).
    pub max_connections: usize,
    /// Connections open at once per token subject (`GRAPHQL_WS_MAX_PER_USER`, 10).
    pub max_per_user: usize,
    /// How long a client has to send `connection_init` (10 s; tests shorten it).
    pub init_timeout: std::time::Duration,
}

/// A setting that cannot be used, with the variable's name and what is wrong, in words.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {reason}")]
pub struct ConfigError {
    pub var: &'static str,
    pub reason: String,
}

impl ConfigError {
    fn new(var: &'static str, reason: impl Into<String>) -> Self {
        Self {
            var,
            reason: reason.into(),
        }
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (the environment in production, a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let app_env = service::app_env(&var)?;
        let (jwt_secret, jwt_secret_is_default) = service::jwt_secret(&var, app_env)?;
        let listen_addr = parsed(&var, "LISTEN_ADDR", "127.0.0.1:8080", |s| {
            SocketAddr::from_str(s)
                .map_err(|_| format!("'{s}' is not a socket address such as 127.0.0.1:8080"))
        })?;
        let default_phone_region = parsed(&var, "DEFAULT_PHONE_REGION", "US", |s| {
            phonenumber::country::Id::from_str(&s.to_ascii_uppercase())
                .map_err(|_| format!("'{s}' is not an ISO 3166 region code such as US or GB"))
        })?;
        let mut sms = sms::parse(&var)?;
        sms.savings = savings::parse(&var, app_env, listen_addr)?;
        let sns = sns::parse(&var, app_env, &sms.aws_region)?;
        let privacy = privacy::parse(&var, app_env, &jwt_secret)?;
        let webhook_allow_private_urls =
            parsed(&var, "WEBHOOK_ALLOW_PRIVATE_URLS", "false", read::flag)?;
        if webhook_allow_private_urls && app_env == AppEnv::Production {
            return Err(ConfigError::new(
                "WEBHOOK_ALLOW_PRIVATE_URLS",
                "APP_ENV=production sends webhooks to public https addresses only; remove the setting",
            ));
        }
        let count = |s: &str| {
            s.parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("'{s}' is not a whole number of at least 1"))
        };
        let ws_limits = WsLimits {
            max_connections: parsed(&var, "GRAPHQL_WS_MAX_CONNECTIONS", "1000", count)?,
            max_per_user: parsed(&var, "GRAPHQL_WS_MAX_PER_USER", "10", count)?,
            init_timeout: std::time::Duration::from_secs(10),
        };
        Ok(Self {
            ws_limits,
            app_env,
            database_url: service::database_url(&var)?,
            listen_addr,
            jwt_secret,
            jwt_secret_is_default,
            default_phone_region,

            trusted_proxies: service::trusted_proxies(&var)?,
            log_format: service::log_format(&var)?,
            sms,
            verification: verification::parse(&var)?,
            locale_rules: locale::parse(&var)?,
            reminders: reminders::parse(&var)?,
            costs: costs::parse(&var)?,
            sns,
            reconcile_schedule: read::cron(&var, "RECEIPTS_RECONCILE_SCHEDULE", "0 0 * * * *")?,
            metrics_addr: service::metrics_addr(&var)?,
            shutdown_grace: read::duration(&var, "SHUTDOWN_GRACE", "25s")?,
            telemetry: telemetry::parse(&var)?,
            privacy,
            webhook_allow_private_urls,
        })
    }

    /// A development configuration on the given database: what tests and benchmarks start from.
    pub fn for_database(database_url: impl Into<String>) -> Self {
        let mut config = Self::from_lookup(|_| None).unwrap_or_else(|e| unreachable!("{e}"));
        config.database_url = SecretString::from(database_url.into());
        config
    }
}

#[cfg(test)]
mod tests;
