//! The SNS webhook's settings: the topics it accepts and where certificates may come from.

use super::{
    AppEnv, ConfigError,
    read::{flag, parsed},
};

/// The SNS webhook's settings: the topics it accepts and where certificates may come from.
pub(super) fn parse(
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
