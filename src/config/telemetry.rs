//! Traces: the standard `OTEL_*` variables of the OpenTelemetry specification.

use super::{ConfigError, read};
use crate::telemetry::{ParentRoot, SamplerSetting, TelemetryConfig};

pub(super) fn parse(var: &impl Fn(&str) -> Option<String>) -> Result<TelemetryConfig, ConfigError> {
    let disabled = read::parsed(var, "OTEL_SDK_DISABLED", "false", read::flag)?;
    let url = |name: &'static str, value: String| {
        let value = value.trim().to_owned();
        if value.starts_with("http://") || value.starts_with("https://") {
            Ok(value)
        } else {
            Err(ConfigError::new(
                name,
                format!("'{value}' is not an http(s) URL such as http://otel-collector:4318"),
            ))
        }
    };
    // The signal's own URL is used as it is; the base gets the traces path (`/v1/traces`).
    let traces = match (
        var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
        var("OTEL_EXPORTER_OTLP_ENDPOINT"),
    ) {
        (Some(full), _) => Some(url("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", full)?),
        (None, Some(base)) => Some(format!(
            "{}/v1/traces",
            url("OTEL_EXPORTER_OTLP_ENDPOINT", base)?.trim_end_matches('/')
        )),
        (None, None) => None,
    };
    if let Some(protocol) = var("OTEL_EXPORTER_OTLP_PROTOCOL")
        && protocol.trim() != "http/protobuf"
    {
        return Err(ConfigError::new(
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            format!(
                "'{}' is not supported; sms-notify exports http/protobuf",
                protocol.trim()
            ),
        ));
    }
    let headers = match var("OTEL_EXPORTER_OTLP_HEADERS") {
        None => Vec::new(),
        Some(list) => read::pairs(&list, "key=value, such as api-key=...")
            .map(|pair| {
                pair.map(|(k, v)| (k.to_owned(), secrecy::SecretString::from(v.to_owned())))
            })
            .collect::<Result<_, _>>()
            .map_err(|reason| ConfigError::new("OTEL_EXPORTER_OTLP_HEADERS", reason))?,
    };
    let service_name = var("OTEL_SERVICE_NAME").unwrap_or_else(|| "sms-notify".to_owned());
    let ratio = read::parsed(var, "OTEL_TRACES_SAMPLER_ARG", "1.0", |s| {
        s.parse::<f64>()
            .ok()
            .filter(|r| (0.0..=1.0).contains(r))
            .ok_or_else(|| format!("'{s}' is not a ratio from 0 to 1"))
    })?;
    let sampler = read::parsed(var, "OTEL_TRACES_SAMPLER", "parentbased_always_on", |s| {
        Ok(match s {
            "always_on" => SamplerSetting::AlwaysOn,
            "always_off" => SamplerSetting::AlwaysOff,
            "traceidratio" => SamplerSetting::TraceIdRatio(ratio),
            "parentbased_always_on" => SamplerSetting::ParentBased(ParentRoot::AlwaysOn),
            "parentbased_always_off" => SamplerSetting::ParentBased(ParentRoot::AlwaysOff),
            "parentbased_traceidratio" => {
                SamplerSetting::ParentBased(ParentRoot::TraceIdRatio(ratio))
            }
            other => {
                return Err(format!(
                    "'{other}' is not a sampler; use always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio"
                ));
            }
        })
    })?;
    Ok(TelemetryConfig {
        traces_endpoint: traces.filter(|_| !disabled),
        headers,
        service_name,
        sampler,
    })
}
