//! Typed settings, read once from the environment at start and validated. A bad value stops the service
//! with a sentence naming the variable. Nothing below this module reads the environment.

use std::{net::SocketAddr, str::FromStr};

use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};

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
    pub database_url: String,
    pub listen_addr: SocketAddr,
    pub jwt_secret: SecretString,
    /// True when `jwt_secret` is the built-in development secret.
    pub jwt_secret_is_default: bool,
    pub default_phone_region: phonenumber::country::Id,
    /// Time zone of recipients whose own is unknown.
    pub default_timezone: chrono_tz::Tz,
    /// Proxies whose `X-Forwarded-For` is believed when recording the client IP of a consent.
    pub trusted_proxies: Vec<IpNet>,
    pub log_format: LogFormat,
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

        Ok(Self {
            app_env,
            database_url,
            listen_addr,
            jwt_secret,
            jwt_secret_is_default,
            default_phone_region,
            default_timezone,
            trusted_proxies,
            log_format,
        })
    }

    /// A development configuration on the given database: what tests and benchmarks start from.
    pub fn for_database(database_url: impl Into<String>) -> Self {
        let mut config = Self::from_lookup(|_| None).unwrap_or_else(|e| unreachable!("{e}"));
        config.database_url = database_url.into();
        config
    }
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
        assert_eq!(c.database_url, "sqlite://sms-notify.db?mode=rwc");
        assert_eq!(c.listen_addr.to_string(), "127.0.0.1:8080");
        assert!(c.jwt_secret_is_default);
        assert_eq!(c.default_phone_region, phonenumber::country::Id::US);
        assert!(c.trusted_proxies.is_empty());
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
        ] {
            let err = config(&[(var, value)]).expect_err(var);
            assert_eq!(err.var, var);
            assert!(err.to_string().starts_with(var), "{err}");
        }
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
    fn trusted_proxies_take_cidrs_and_single_addresses() {
        let c = config(&[("TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1,::1")]).expect("valid");
        assert_eq!(c.trusted_proxies.len(), 3);
        assert!(
            c.trusted_proxies[1].contains(&"127.0.0.1".parse::<std::net::IpAddr>().expect("ip"))
        );
    }
}
