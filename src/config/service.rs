//! The process's own settings: its environment, database, address, token secret, proxies, logs.

use std::{net::SocketAddr, str::FromStr};

use secrecy::{ExposeSecret, SecretString};

use super::{
    AppEnv, ConfigError, DEVELOPMENT_JWT_SECRET, LogFormat, MIN_PRODUCTION_SECRET_LEN,
    read::parse_ip_net,
};

/// `APP_ENV`.
pub(super) fn app_env(var: &impl Fn(&str) -> Option<String>) -> Result<AppEnv, ConfigError> {
    let app_env = match var("APP_ENV").as_deref().map(str::trim) {
        None | Some("development") => AppEnv::Development,
        Some("production") => AppEnv::Production,
        Some(other) => {
            return Err(ConfigError::new(
                "APP_ENV",
                format!("'{other}' is not an environment; use 'development' or 'production'"),
            ));
        }
    };
    Ok(app_env)
}

/// `DATABASE_URL`: an SQLite file or a PostgreSQL server.
pub(super) fn database_url(
    var: &impl Fn(&str) -> Option<String>,
) -> Result<SecretString, ConfigError> {
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
    Ok(SecretString::from(database_url))
}

/// `JWT_SECRET`, and whether it is the development secret (refused in production).
pub(super) fn jwt_secret(
    var: &impl Fn(&str) -> Option<String>,
    app_env: AppEnv,
) -> Result<(SecretString, bool), ConfigError> {
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
    Ok((jwt_secret, jwt_secret_is_default))
}

/// `TRUSTED_PROXIES`: CIDRs or addresses whose `X-Forwarded-For` is believed.
pub(super) fn trusted_proxies(
    var: &impl Fn(&str) -> Option<String>,
) -> Result<Vec<ipnet::IpNet>, ConfigError> {
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
    Ok(trusted_proxies)
}

/// `LOG_FORMAT`.
pub(super) fn log_format(var: &impl Fn(&str) -> Option<String>) -> Result<LogFormat, ConfigError> {
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
    Ok(log_format)
}

/// `METRICS_ADDR`: where `/metrics` is served, if anywhere.
pub(super) fn metrics_addr(
    var: &impl Fn(&str) -> Option<String>,
) -> Result<Option<SocketAddr>, ConfigError> {
    match var("METRICS_ADDR").map(|s| s.trim().to_owned()) {
        None => Ok(None),
        Some(s) if s.is_empty() || s == "off" => Ok(None),
        Some(s) => SocketAddr::from_str(&s).map(Some).map_err(|_| {
            ConfigError::new(
                "METRICS_ADDR",
                format!("'{s}' is not a socket address such as 127.0.0.1:9090"),
            )
        }),
    }
}
