//! Reading one variable: its default, its parse, and an error that names it.

use std::time::Duration;

use ipnet::IpNet;

use super::ConfigError;

/// The environment as the parsers see it: a variable's value, `None` when unset or blank.
pub(super) fn duration(
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

pub(super) fn parsed<T>(
    var: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: &str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<T, ConfigError> {
    let raw = var(name).unwrap_or_else(|| default.to_owned());
    parse(raw.trim()).map_err(|reason| ConfigError::new(name, reason))
}

/// A CIDR such as `10.0.0.0/8`, or a single address (taken as /32 or /128).
pub(super) fn parse_ip_net(s: &str) -> Result<IpNet, String> {
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| format!("'{s}' is not an IP address or CIDR such as 10.0.0.0/8"))
}

/// `true` or `false` (also 1/0, yes/no).
pub(super) fn flag(s: &str) -> Result<bool, String> {
    match s {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(format!("'{s}' is not true or false")),
    }
}

/// A whole number of at least 1.
pub(super) fn count(
    var: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: &str,
) -> Result<u32, ConfigError> {
    parsed(var, name, default, |s| {
        s.parse::<u32>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| format!("'{s}' is not a whole number of at least 1"))
    })
}

/// A job's cron schedule (with seconds), or `off` (`None`) to switch the job off.
pub(super) fn cron(
    var: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: &str,
) -> Result<Option<String>, ConfigError> {
    parsed(var, name, default, |s| {
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
}
