//! Typed settings, read once from the environment at start and validated. A bad value stops the service
//! with a sentence naming the variable. Nothing below this module reads the environment.

use std::{net::SocketAddr, str::FromStr, time::Duration};

use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};

use crate::locale::local_time::LocaleRules;

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
    pub aws_message_type: AwsMessageType,
    pub configuration_set: Option<String>,
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
    /// The service answers STOP and START with a confirmation and HELP with the help text itself
    /// (`true`), or AWS answers keywords (`false`).
    pub self_managed_opt_outs: bool,
    /// Where people get help: in the answer to HELP.
    pub help_contact: String,
    /// Concurrent sends of this instance share one transaction (`SMS_GROUP_COMMIT`).
    pub group_commit: bool,
    /// How long the first send of an idle instance waits for others to join it.
    pub group_commit_window: Duration,
}

/// Abuse limits of phone verification; each holds across instances (counted in the database).
#[derive(Debug, Clone)]
pub struct VerificationConfig {
    /// Wait between two codes for the same user.
    pub resend_cooldown: Duration,
    pub max_per_phone_per_hour: u32,
    pub max_per_user_per_day: u32,
    pub max_per_ip_per_hour: u32,
}

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

/// Prices and limits, in millionths of a US dollar (exact integers).
#[derive(Debug, Clone)]
pub struct CostConfig {
    /// Price of one segment per destination country.
    pub prices: Vec<(phonenumber::country::Id, i64)>,
    /// Price of one segment to any other country; `None` blocks those messages (`no_price`).
    pub default_price: Option<i64>,
    /// The monthly budget (calendar month, UTC).
    pub monthly_limit: i64,
    /// Part of the budget only transactional messages may use.
    pub transactional_reserve: i64,
    /// Promotional messages one user may get in any 24 hours.
    pub user_daily_limit: u32,
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

        let app_env = match var("APP_ENV").as_deref().map(str::trim) {
            None | Some("development") | Some("dev") | Some("test") => AppEnv::Development,
            Some("production") | Some("prod") => AppEnv::Production,
            Some(other) => {
                return Err(ConfigError::new(
                    "APP_ENV",
                    format!("'{other}' is not an environment; use 'development' or 'production'"),
                ));
            }
        };

        let database_url =
            var("DATABASE_URL").unwrap_or_else(|| "sqlite://sms-notify.db?mode=rwc".to_owned());
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(ConfigError::new(
                "DATABASE_URL",
                "must start with 'sqlite:' or 'postgres://' (e.g. sqlite://sms-notify.db?mode=rwc)",
            ));
        }

        let listen_addr = parsed(&var, "LISTEN_ADDR", "127.0.0.1:8080", |s| {
            SocketAddr::from_str(s)
                .map_err(|_| format!("'{s}' is not a socket address such as 127.0.0.1:8080"))
        })?;

        let (jwt_secret, jwt_secret_is_default) = match var("JWT_SECRET") {
            Some(secret) => {
                let is_default = secret == DEVELOPMENT_JWT_SECRET;
                (SecretString::from(secret), is_default)
            }
            None => (SecretString::from(DEVELOPMENT_JWT_SECRET), true),
        };
        if app_env == AppEnv::Production {
            if jwt_secret_is_default {
                return Err(ConfigError::new(
                    "JWT_SECRET",
                    "APP_ENV=production refuses the development secret; set JWT_SECRET to the secret shared with the app",
                ));
            }
            if jwt_secret.expose_secret().len() < MIN_PRODUCTION_SECRET_LEN {
                return Err(ConfigError::new(
                    "JWT_SECRET",
                    format!(
                        "is shorter than {MIN_PRODUCTION_SECRET_LEN} bytes; use a long random secret in production"
                    ),
                ));
            }
        }

        let default_phone_region = parsed(&var, "DEFAULT_PHONE_REGION", "US", |s| {
            phonenumber::country::Id::from_str(&s.to_ascii_uppercase())
                .map_err(|_| format!("'{s}' is not an ISO 3166 region code such as US or GB"))
        })?;

        let default_timezone = parsed(&var, "DEFAULT_TIMEZONE", "America/New_York", |s| {
            s.parse::<chrono_tz::Tz>()
                .map_err(|_| format!("'{s}' is not an IANA time zone such as America/New_York"))
        })?;

        let trusted_proxies = match var("TRUSTED_PROXIES") {
            None => Vec::new(),
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(parse_ip_net)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|reason| ConfigError::new("TRUSTED_PROXIES", reason))?,
        };

        let log_format = match var("LOG_FORMAT").as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(ConfigError::new(
                    "LOG_FORMAT",
                    format!("'{other}' is not a log format; use 'text' or 'json'"),
                ));
            }
        };

        let sms = sms_config(&var)?;
        let sns = sns_config(&var, app_env, &sms.aws_region)?;
        let count = |name: &'static str, default: &str| {
            parsed(&var, name, default, |s| {
                s.parse::<u32>()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| format!("'{s}' is not a whole number of at least 1"))
            })
        };
        let quiet_hours = match var("QUIET_HOURS").as_deref().map(str::trim) {
            Some("off") | Some("none") => None,
            other => Some(
                crate::locale::quiet::QuietHours::parse(other.unwrap_or("21:00-08:00"))
                    .map_err(|reason| ConfigError::new("QUIET_HOURS", reason))?,
            ),
        };
        let state_rules = crate::locale::local_time::parse_state_rules(
            var("SMS_STATE_RULES").as_deref().unwrap_or("on"),
        )
        .map_err(|reason| ConfigError::new("SMS_STATE_RULES", reason))?;
        // A job's schedule, or `off` to switch that job off.
        let cron = |name: &'static str, default: &str| {
            parsed(&var, name, default, |s| {
                if s.eq_ignore_ascii_case("off") {
                    Ok(None)
                } else if s.split_whitespace().count() == 6 {
                    Ok(Some(s.to_owned()))
                } else {
                    Err(format!(
                        "'{s}' is not a cron schedule with seconds, such as '0 * * * * *' (every minute), or 'off'"
                    ))
                }
            })
        };
        let reminders = ReminderConfig {
            enabled: parsed(&var, "REMINDERS_ENABLED", "true", |s| match s {
                "true" | "1" | "yes" => Ok(true),
                "false" | "0" | "no" => Ok(false),
                _ => Err(format!("'{s}' is not true or false")),
            })?,
            battle_schedule: cron("REMINDER_BATTLE_SCHEDULE", "0 * * * * *")?,
            streak_schedule: cron("REMINDER_STREAK_SCHEDULE", "0 */15 * * * *")?,
            lead_times: parsed(&var, "REMINDER_LEAD_TIMES", "1h", |s| {
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
            streak_alert_time: parsed(&var, "STREAK_ALERT_TIME", "18:00", |s| {
                chrono::NaiveTime::parse_from_str(s, "%H:%M")
                    .map_err(|_| format!("'{s}' is not a time such as 18:00"))
            })?,
            streak_alert_link: var("STREAK_ALERT_LINK").unwrap_or_else(|| "/streak".to_owned()),
        };
        let dollars = |s: &str| -> Result<i64, String> {
            crate::billing::dollars_to_micros(s).ok_or_else(|| {
                format!("'{s}' is not an amount in dollars with at most 6 decimals, such as 0.0075")
            })
        };
        let monthly_limit = parsed(&var, "SMS_MONTHLY_SPEND_LIMIT_USD", "1.00", dollars)?;
        let share = parsed(&var, "SMS_TRANSACTIONAL_RESERVE", "0.2", |s| {
            rust_decimal::Decimal::from_str_exact(s)
                .ok()
                .filter(|d| *d >= rust_decimal::Decimal::ZERO && *d <= rust_decimal::Decimal::ONE)
                .ok_or_else(|| {
                    format!("'{s}' is not a share of the budget from 0 to 1, such as 0.2")
                })
        })?;
        let costs = CostConfig {
            prices: parsed(&var, "SMS_PRICES", "US=0.0075,CA=0.0075", |s| {
                s.split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(|pair| {
                        let (country, price) = pair.split_once('=').ok_or_else(|| {
                            format!("'{pair}' is not COUNTRY=PRICE, such as US=0.0075")
                        })?;
                        let country = phonenumber::country::Id::from_str(
                            &country.trim().to_ascii_uppercase(),
                        )
                        .map_err(|_| format!("'{}' is not an ISO country code", country.trim()))?;
                        Ok((country, dollars(price.trim())?))
                    })
                    .collect()
            })?,
            default_price: match var("SMS_DEFAULT_PRICE") {
                Some(p) => {
                    Some(dollars(p.trim()).map_err(|r| ConfigError::new("SMS_DEFAULT_PRICE", r))?)
                }
                None => None,
            },
            monthly_limit,
            transactional_reserve: crate::billing::share_of(monthly_limit, share),
            user_daily_limit: count("SMS_USER_DAILY_LIMIT", "10")?,
        };
        let verification = VerificationConfig {
            resend_cooldown: duration(&var, "VERIFY_RESEND_COOLDOWN", "60s")?,
            max_per_phone_per_hour: count("VERIFY_MAX_PER_PHONE_PER_HOUR", "5")?,
            max_per_user_per_day: count("VERIFY_MAX_PER_USER_PER_DAY", "10")?,
            max_per_ip_per_hour: count("VERIFY_MAX_PER_IP_PER_HOUR", "20")?,
        };

        Ok(Self {
            app_env,
            database_url: SecretString::from(database_url),
            listen_addr,
            jwt_secret,
            jwt_secret_is_default,
            default_phone_region,

            trusted_proxies,
            log_format,
            sms,
            verification,
            locale_rules: LocaleRules {
                default_timezone,
                quiet_hours,
                state_rules,
            },
            reminders,
            costs,
            sns,
            reconcile_schedule: cron("RECEIPTS_RECONCILE_SCHEDULE", "0 0 * * * *")?,
            metrics_addr: match var("METRICS_ADDR").map(|s| s.trim().to_owned()) {
                None => None,
                Some(s) if s.is_empty() || s == "off" => None,
                Some(s) => Some(SocketAddr::from_str(&s).map_err(|_| {
                    ConfigError::new(
                        "METRICS_ADDR",
                        format!("'{s}' is not a socket address such as 127.0.0.1:9090"),
                    )
                })?),
            },
        })
    }

    /// A development configuration on the given database: what tests and benchmarks start from.
    pub fn for_database(database_url: impl Into<String>) -> Self {
        let mut config = Self::from_lookup(|_| None).unwrap_or_else(|e| unreachable!("{e}"));
        config.database_url = SecretString::from(database_url.into());
        config
    }
}

fn sms_config(var: &impl Fn(&str) -> Option<String>) -> Result<SmsConfig, ConfigError> {
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
    let rate_limit_mps = parsed(var, "SMS_RATE_LIMIT_MPS", "3", |s| match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!(
            "'{s}' is not a rate; give messages per second such as 3 or 0.5 (0 turns the limit off)"
        )),
    })?;
    let allowed_countries = parsed(var, "SMS_ALLOWED_COUNTRIES", "US,CA", |s| {
        s.split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(|c| {
                phonenumber::country::Id::from_str(&c.to_ascii_uppercase())
                    .map_err(|_| format!("'{c}' is not an ISO 3166 country code such as US or CA"))
            })
            .collect::<Result<Vec<_>, _>>()
    })?;
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
        aws_message_type,
        configuration_set: var("SMS_CONFIGURATION_SET").map(|s| s.trim().to_owned()),
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
        self_managed_opt_outs: parsed(var, "SMS_SELF_MANAGED_OPT_OUTS", "false", flag)?,
        group_commit: parsed(var, "SMS_GROUP_COMMIT", "true", flag)?,
        group_commit_window: parsed(var, "SMS_GROUP_COMMIT_WINDOW", "1ms", |s| match s.trim() {
            "0" => Ok(Duration::ZERO),
            other => humantime::parse_duration(other)
                .ok()
                .filter(|d| *d <= Duration::from_millis(100))
                .ok_or_else(|| {
                    format!(
                        "'{s}' is not a short wait such as 1ms or 500us (0 for none, 100ms at most)"
                    )
                }),
        })?,
        help_contact: var("SMS_HELP_CONTACT")
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| format!("{}/help", frontend_url_for_help)),
    })
}

/// `true` or `false` (also 1/0, yes/no).
fn flag(s: &str) -> Result<bool, String> {
    match s {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(format!("'{s}' is not true or false")),
    }
}

/// The SNS webhook's settings: the topics it accepts and where certificates may come from.
fn sns_config(
    var: &impl Fn(&str) -> Option<String>,
    app_env: AppEnv,
    region: &str,
) -> Result<crate::inbound::sns::SnsConfig, ConfigError> {
    let topic = |name: &'static str| -> Result<Option<String>, ConfigError> {
        match var(name)
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
        {
            None => Ok(None),
            Some(arn) if arn.starts_with("arn:") && arn.split(':').count() >= 6 => Ok(Some(arn)),
            Some(other) => Err(ConfigError::new(
                name,
                format!(
                    "'{other}' is not a topic ARN such as arn:aws:sns:us-east-1:123456789012:sms-events"
                ),
            )),
        }
    };
    let production = app_env == AppEnv::Production;
    let cert_hosts = match var("SNS_CERT_HOSTS").map(|s| s.trim().to_owned()) {
        Some(_) if production => {
            return Err(ConfigError::new(
                "SNS_CERT_HOSTS",
                "APP_ENV=production trusts only AWS's own SNS host; remove the setting",
            ));
        }
        Some(list) if !list.is_empty() => list
            .split(',')
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect(),
        _ => vec![format!("sns.{region}.amazonaws.com")],
    };
    let cert_allow_http = parsed(var, "SNS_CERT_ALLOW_HTTP", "false", flag)?;
    if cert_allow_http && production {
        return Err(ConfigError::new(
            "SNS_CERT_ALLOW_HTTP",
            "APP_ENV=production fetches certificates over HTTPS only; remove the setting",
        ));
    }
    Ok(crate::inbound::sns::SnsConfig {
        events_topic_arn: topic("SNS_EVENTS_TOPIC_ARN")?,
        inbound_topic_arn: topic("SNS_INBOUND_TOPIC_ARN")?,
        cert_hosts,
        cert_allow_http,
    })
}

fn duration(
    var: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: &str,
) -> Result<Duration, ConfigError> {
    parsed(var, name, default, |s| {
        humantime::parse_duration(s)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| format!("'{s}' is not a duration such as 500ms, 10s or 2m"))
    })
}

fn parsed<T>(
    var: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: &str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<T, ConfigError> {
    let raw = var(name).unwrap_or_else(|| default.to_owned());
    parse(raw.trim()).map_err(|reason| ConfigError::new(name, reason))
}

/// A CIDR such as `10.0.0.0/8`, or a single address (taken as /32 or /128).
fn parse_ip_net(s: &str) -> Result<IpNet, String> {
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| format!("'{s}' is not an IP address or CIDR such as 10.0.0.0/8"))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = config(&[]).expect("defaults are valid");
        assert_eq!(c.app_env, AppEnv::Development);
        assert_eq!(
            c.database_url.expose_secret(),
            "sqlite://sms-notify.db?mode=rwc"
        );
        assert_eq!(c.listen_addr.to_string(), "127.0.0.1:8080");
        assert!(c.jwt_secret_is_default);
        assert_eq!(c.default_phone_region, phonenumber::country::Id::US);
        assert!(c.trusted_proxies.is_empty());
        assert_eq!(c.sms.provider, ProviderKind::Console);
        assert_eq!(c.sms.aws_region, "us-east-1");
        assert!((c.sms.rate_limit_mps - 3.0).abs() < f64::EPSILON);
        assert_eq!(
            c.sms.allowed_countries,
            vec![phonenumber::country::Id::US, phonenumber::country::Id::CA]
        );
        assert_eq!(c.sms.app_name, "AllThrive");
        assert_eq!(c.sms.frontend_url, "http://localhost:3000");
    }

    #[test]
    fn each_bad_value_names_its_variable() {
        for (var, value) in [
            ("APP_ENV", "staging"),
            ("DATABASE_URL", "mysql://localhost/x"),
            ("LISTEN_ADDR", "localhost"),
            ("DEFAULT_PHONE_REGION", "USA"),
            ("DEFAULT_TIMEZONE", "Mars/Olympus"),
            ("TRUSTED_PROXIES", "10.0.0.0/8, not-an-ip"),
            ("LOG_FORMAT", "xml"),
            ("SMS_PROVIDER", "twilio"),
            ("SMS_MESSAGE_TYPE", "MARKETING"),
            ("SMS_AWS_ENDPOINT_URL", "localhost:4566"),
            ("SMS_RATE_LIMIT_MPS", "-1"),
            ("SMS_RATE_LIMIT_MPS", "fast"),
            ("SMS_ALLOWED_COUNTRIES", "US,Canada"),
            ("FRONTEND_URL", "allthrive.ai"),
            ("SMS_WORKERS", "many"),
            ("SMS_MAX_ATTEMPTS", "0"),
            ("SMS_SEND_TIMEOUT", "0s"),
            ("SMS_LEASE", "5s"),
            ("SMS_SYNC_WAIT", "soon"),
            ("VERIFY_RESEND_COOLDOWN", "a minute"),
            ("QUIET_HOURS", "9pm-8am"),
            ("REMINDER_LEAD_TIMES", "1h,soon"),
            ("REMINDER_BATTLE_SCHEDULE", "every minute"),
            ("STREAK_ALERT_TIME", "6pm"),
            ("REMINDERS_ENABLED", "maybe"),
            ("SMS_SELF_MANAGED_OPT_OUTS", "sometimes"),
            ("SMS_GROUP_COMMIT_WINDOW", "1s"),
            ("SMS_GROUP_COMMIT", "maybe"),
            ("METRICS_ADDR", "everywhere"),
            ("SNS_CERT_ALLOW_HTTP", "perhaps"),
            ("SMS_STATE_RULES", "FL=evening"),
            ("RECEIPTS_RECONCILE_SCHEDULE", "hourly"),
            ("SMS_PRICES", "US:0.0075"),
            ("SMS_PRICES", "US=cheap"),
            ("SMS_DEFAULT_PRICE", "0.00000001"),
            ("SMS_MONTHLY_SPEND_LIMIT_USD", "-1"),
            ("SMS_TRANSACTIONAL_RESERVE", "1.5"),
            ("SMS_USER_DAILY_LIMIT", "0"),
            ("VERIFY_MAX_PER_PHONE_PER_HOUR", "0"),
            ("VERIFY_MAX_PER_IP_PER_HOUR", "lots"),
        ] {
            let err = config(&[(var, value)]).expect_err(var);
            assert_eq!(err.var, var);
            assert!(err.to_string().starts_with(var), "{err}");
        }
    }

    #[test]
    fn the_aws_provider_needs_an_origination_identity() {
        let err = config(&[("SMS_PROVIDER", "aws")]).expect_err("no identity");
        assert_eq!(err.var, "SMS_ORIGINATION_IDENTITY");
        let c = config(&[
            ("SMS_PROVIDER", "aws"),
            ("SMS_ORIGINATION_IDENTITY", "+18663448034"),
            ("SMS_ALLOWED_COUNTRIES", "us, ca,gb"),
            ("SMS_RATE_LIMIT_MPS", "0.5"),
        ])
        .expect("valid");
        assert_eq!(c.sms.provider, ProviderKind::Aws);
        assert_eq!(c.sms.allowed_countries.len(), 3);
        assert!((c.sms.rate_limit_mps - 0.5).abs() < f64::EPSILON);
    }

    #[test]
    fn production_refuses_the_development_secret() {
        let err = config(&[("APP_ENV", "production")]).expect_err("no secret");
        assert_eq!(err.var, "JWT_SECRET");
        let err = config(&[
            ("APP_ENV", "production"),
            ("JWT_SECRET", DEVELOPMENT_JWT_SECRET),
        ])
        .expect_err("the development secret, spelled out");
        assert_eq!(err.var, "JWT_SECRET");
        let err = config(&[("APP_ENV", "production"), ("JWT_SECRET", "short")])
            .expect_err("short secret");
        assert_eq!(err.var, "JWT_SECRET");
        let ok = config(&[
            ("APP_ENV", "production"),
            ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
        ])
        .expect("a real secret");
        assert!(!ok.jwt_secret_is_default);
    }

    #[test]
    fn sns_settings_and_their_production_limits() {
        let c = config(&[("AWS_REGION", "eu-west-1")]).expect("defaults");
        assert_eq!(c.sns.cert_hosts, ["sns.eu-west-1.amazonaws.com"]);
        assert!(!c.sns.cert_allow_http && c.sns.events_topic_arn.is_none());
        assert!(!c.sms.self_managed_opt_outs);
        assert_eq!(c.sms.help_contact, "http://localhost:3000/help");
        let c = config(&[
            (
                "SNS_EVENTS_TOPIC_ARN",
                "arn:aws:sns:us-east-1:123456789012:sms-events",
            ),
            ("SNS_CERT_HOSTS", "127.0.0.1, localhost"),
            ("SNS_CERT_ALLOW_HTTP", "true"),
            ("SMS_SELF_MANAGED_OPT_OUTS", "true"),
            ("SMS_HELP_CONTACT", "help@allthrive.example"),
        ])
        .expect("test settings");
        assert_eq!(c.sns.cert_hosts, ["127.0.0.1", "localhost"]);
        assert!(c.sns.cert_allow_http && c.sms.self_managed_opt_outs);
        assert_eq!(c.sms.help_contact, "help@allthrive.example");
        let err = config(&[("SNS_INBOUND_TOPIC_ARN", "sms-inbound")]).expect_err("not an ARN");
        assert_eq!(err.var, "SNS_INBOUND_TOPIC_ARN");
        let production = [
            ("APP_ENV", "production"),
            ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
        ];
        for (var, value) in [
            ("SNS_CERT_HOSTS", "127.0.0.1"),
            ("SNS_CERT_ALLOW_HTTP", "true"),
        ] {
            let mut pairs = production.to_vec();
            pairs.push((var, value));
            assert_eq!(config(&pairs).expect_err(var).var, var);
        }
    }

    #[test]
    fn trusted_proxies_take_cidrs_and_single_addresses() {
        let c = config(&[("TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1,::1")]).expect("valid");
        assert_eq!(c.trusted_proxies.len(), 3);
        assert!(
            c.trusted_proxies[1].contains(&"127.0.0.1".parse::<std::net::IpAddr>().expect("ip"))
        );
    }
}
