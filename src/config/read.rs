//! Reading one variable: its default, its parse, and an error that names it.

use std::time::Duration;

use ipnet::IpNet;

use super::ConfigError;

/// The `KEY=VALUE` entries of a comma-separated list (blank entries skipped), each side trimmed; the
/// last `=` splits. `form` shows the expected shape in the error: `COUNTRY=PRICE, such as US=0.0075`.
pub(super) fn pairs<'a>(
    s: &'a str,
    form: &'a str,
) -> impl Iterator<Item = Result<(&'a str, &'a str), String>> + 'a {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(move |pair| {
            pair.rsplit_once('=')
                .map(|(key, value)| (key.trim(), value.trim()))
                .ok_or_else(|| format!("'{pair}' is not {form}"))
        })
}

/// An ISO 3166 country code, in any case.
pub(super) fn country(s: &str) -> Result<phonenumber::country::Id, String> {
    use std::str::FromStr;
    phonenumber::country::Id::from_str(&s.to_ascii_uppercase())
        .map_err(|_| format!("'{s}' is not an ISO country code"))
}

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
