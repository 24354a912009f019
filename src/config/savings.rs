//! What saves money on every text: smart encoding, short links and digests.

use std::{net::SocketAddr, time::Duration};

use super::{
    AppEnv, ConfigError,
    read::{duration, parsed},
};

/// Settings of the features that make texts cheaper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavingsConfig {
    /// Typographic characters GSM-7 can carry are replaced before segments are counted
    /// (`SMS_SMART_ENCODING`).
    pub smart_encoding: bool,
    /// Each `http(s)` address in a text is replaced by a short link (`SMS_LINK_SHORTENING`).
    pub link_shortening: bool,
    /// Where short links point, without a trailing slash: `<base>/<code>` (`SMS_LINK_BASE_URL`).
    pub link_base_url: String,
    /// How long a short link answers (`SMS_LINK_RETENTION`).
    pub link_retention: Duration,
    /// Battle invitations and results to one person within this window go as one text
    /// (`SMS_DIGEST_WINDOW`); `None` is off.
    pub digest_window: Option<Duration>,
}

impl Default for SavingsConfig {
    fn default() -> Self {
        Self {
            smart_encoding: true,
            link_shortening: true,
            link_base_url: "http://127.0.0.1:8080/l".to_owned(),
            link_retention: Duration::from_secs(90 * 86_400),
            digest_window: Some(Duration::from_secs(120)),
        }
    }
}

/// `on`/`off` (also `true`/`false`, `1`/`0`, `yes`/`no`).
fn switch(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "on" | "true" | "1" | "yes" => Ok(true),
        "off" | "false" | "0" | "no" => Ok(false),
        _ => Err(format!("'{s}' is not on or off")),
    }
}

pub(super) fn parse(
    var: &impl Fn(&str) -> Option<String>,
    app_env: AppEnv,
    listen_addr: SocketAddr,
) -> Result<SavingsConfig, ConfigError> {
    let smart_encoding = parsed(var, "SMS_SMART_ENCODING", "on", switch)?;
    let link_shortening = parsed(var, "SMS_LINK_SHORTENING", "on", switch)?;
    let default_base = format!("http://{listen_addr}/l");
    let link_base_url = parsed(var, "SMS_LINK_BASE_URL", &default_base, |s| {
        let url = url::Url::parse(s)
            .map_err(|_| format!("'{s}' is not an address such as https://go.example.com/l"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(format!("'{s}' is not an http(s) address"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!(
                "'{s}' has a query or a fragment; give the base the codes are appended to"
            ));
        }
        Ok(s.trim_end_matches('/').to_owned())
    })?;
    if app_env == AppEnv::Production && link_shortening && !link_base_url.starts_with("https://") {
        return Err(ConfigError::new(
            "SMS_LINK_BASE_URL",
            "APP_ENV=production needs an https:// address on the app's own domain that routes /l/ to this service \
             (carriers filter texts with public shorteners and plain http); or set SMS_LINK_SHORTENING=off",
        ));
    }
    let link_retention = duration(var, "SMS_LINK_RETENTION", "90days")?;
    let digest_window = parsed(var, "SMS_DIGEST_WINDOW", "2m", |s| {
        if switch(s) == Ok(false) {
            return Ok(None);
        }
        humantime::parse_duration(s)
            .ok()
            .filter(|d| !d.is_zero() && *d <= Duration::from_secs(3600))
            .map(Some)
            .ok_or_else(|| format!("'{s}' is not a window such as 2m (at most 1h), or off"))
    })?;
    Ok(SavingsConfig {
        smart_encoding,
        link_shortening,
        link_base_url,
        link_retention,
        digest_window,
    })
}
