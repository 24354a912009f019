use secrecy::ExposeSecret;

use std::{collections::HashMap, time::Duration};

use super::*;

/// The settings of `pairs`; in production, with an https short-link base unless the pairs give one
/// (production refuses the http default: `savings_settings_and_the_production_link_base`).
fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let mut map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    if map.get("APP_ENV").map(String::as_str) == Some("production") {
        map.entry("SMS_LINK_BASE_URL".into())
            .or_insert_with(|| "https://go.allthrive.ai/l".into());
    }
    Config::from_lookup(|name| map.get(name).cloned())
}

#[test]
fn savings_settings_and_the_production_link_base() {
    let c = config(&[("LISTEN_ADDR", "127.0.0.1:9000")]).expect("defaults");
    let s = &c.sms.savings;
    assert!(s.smart_encoding && s.link_shortening);
    assert_eq!(s.link_base_url, "http://127.0.0.1:9000/l");
    assert_eq!(
        s.link_retention,
        std::time::Duration::from_secs(90 * 86_400)
    );
    assert_eq!(s.digest_window, Some(std::time::Duration::from_secs(120)));
    let c = config(&[
        ("SMS_SMART_ENCODING", "off"),
        ("SMS_LINK_SHORTENING", "OFF"),
        ("SMS_LINK_BASE_URL", "https://go.allthrive.ai/l/"),
        ("SMS_LINK_RETENTION", "30days"),
        ("SMS_DIGEST_WINDOW", "off"),
    ])
    .expect("valid");
    let s = &c.sms.savings;
    assert!(!s.smart_encoding && !s.link_shortening);
    assert_eq!(s.link_base_url, "https://go.allthrive.ai/l");
    assert_eq!(s.digest_window, None);
    for (var, value) in [
        ("SMS_SMART_ENCODING", "maybe"),
        ("SMS_LINK_BASE_URL", "go.allthrive.ai/l"),
        ("SMS_LINK_BASE_URL", "ftp://go.allthrive.ai/l"),
        ("SMS_LINK_BASE_URL", "https://go.allthrive.ai/l?x=1"),
        ("SMS_LINK_RETENTION", "soon"),
        ("SMS_DIGEST_WINDOW", "0s"),
        ("SMS_DIGEST_WINDOW", "2h"),
    ] {
        let err = config(&[(var, value)]).expect_err(value);
        assert_eq!(err.var, var, "{value}");
    }
    let secret = ("JWT_SECRET", "0123456789abcdef0123456789abcdef");
    let err = config(&[
        ("APP_ENV", "production"),
        secret,
        ("SMS_LINK_BASE_URL", "http://go.allthrive.ai/l"),
    ])
    .expect_err("plain http in production");
    assert_eq!(err.var, "SMS_LINK_BASE_URL");
    assert!(err.reason.contains("https://"), "{}", err.reason);
    config(&[
        ("APP_ENV", "production"),
        secret,
        ("SMS_LINK_BASE_URL", "http://go.allthrive.ai/l"),
        ("SMS_LINK_SHORTENING", "off"),
    ])
    .expect("no short links, no base needed");
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
        ("APP_ENV", "prod"),
        ("APP_ENV", "dev"),
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
        ("SMS_MONTHLY_FIXED_COSTS", "toll-free number:2.00"),
        ("SMS_SENDER_IDS", "GB:AllThrive"),
        ("SMS_SENDER_IDS", "XX=AllThrive"),
        ("SMS_SENDER_IDS", "GB=All Thrive"),
        ("SMS_SENDER_IDS", "GB=AllThriveApp1"),
        ("SMS_SENDER_IDS", "GB=12345"),
        ("SMS_MONTHLY_FIXED_COSTS", "=2.00"),
        ("SMS_MONTHLY_FIXED_COSTS", "lease=two dollars"),
        ("SMS_MONTHLY_FIXED_COSTS", "lease=2,Lease=3"),
        ("VERIFY_MAX_PER_PHONE_PER_HOUR", "0"),
        ("VERIFY_MAX_PER_IP_PER_HOUR", "lots"),
        ("SHUTDOWN_GRACE", "soon"),
        ("SHUTDOWN_GRACE", "0s"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"),
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "grpc://collector:4317",
        ),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "api-key"),
        ("OTEL_TRACES_SAMPLER", "sometimes"),
        ("OTEL_TRACES_SAMPLER_ARG", "2"),
        ("OTEL_SDK_DISABLED", "perhaps"),
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
    let err =
        config(&[("APP_ENV", "production"), ("JWT_SECRET", "short")]).expect_err("short secret");
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
    assert!(c.trusted_proxies[1].contains(&"127.0.0.1".parse::<std::net::IpAddr>().expect("ip")));
}

#[test]
fn debug_output_never_prints_a_secret() {
    let c = config(&[
        ("DATABASE_URL", "postgres://app:hunter2@db:5432/sms"),
        ("JWT_SECRET", "a-secret-value-that-is-long-enough-to-use"),
    ])
    .expect("valid");
    let printed = format!("{c:?}");
    assert!(!printed.contains("hunter2"), "{printed}");
    assert!(!printed.contains("a-secret-value"), "{printed}");
}

#[test]
fn fixed_monthly_costs_are_named_amounts() {
    let c = config(&[(
        "SMS_MONTHLY_FIXED_COSTS",
        " toll-free number = 2.00 , 10DLC campaign=10,",
    )])
    .expect("valid");
    let listed: Vec<_> = c
        .costs
        .fixed_costs
        .iter()
        .map(|f| (f.name.as_str(), f.monthly_micros))
        .collect();
    assert_eq!(
        listed,
        [
            ("toll-free number", 2_000_000),
            ("10DLC campaign", 10_000_000)
        ]
    );
    assert!(config(&[]).expect("defaults").costs.fixed_costs.is_empty());
}

#[test]
fn identities_by_use_and_sender_ids_by_country() {
    let c = config(&[
        ("SMS_ORIGINATION_IDENTITY_VERIFICATION", " +18005550199 "),
        ("SMS_SENDER_IDS", "gb=AllThrive, DE=Thrive2"),
    ])
    .expect("valid");
    assert_eq!(c.sms.verification_identity.as_deref(), Some("+18005550199"));
    assert_eq!(
        c.sms.sender_ids,
        [
            (phonenumber::country::Id::GB, "AllThrive".to_owned()),
            (phonenumber::country::Id::DE, "Thrive2".to_owned())
        ]
    );
    let none = config(&[]).expect("defaults");
    assert!(none.sms.verification_identity.is_none() && none.sms.sender_ids.is_empty());
}

#[test]
fn retention_periods_and_their_production_floor() {
    let c = config(&[]).expect("defaults");
    assert_eq!(c.privacy.body_retention, Duration::from_secs(30 * 86_400));
    assert_eq!(c.privacy.consent_retention.as_secs(), 5 * 31_557_600);
    assert_eq!(
        c.privacy.retention_schedule.as_deref(),
        Some("0 30 3 * * *")
    );
    let c = config(&[
        ("RETENTION_SCHEDULE", "off"),
        ("SMS_BODY_RETENTION", "7days"),
    ])
    .expect("a week, no job");
    assert_eq!(c.privacy.retention_schedule, None);
    assert_eq!(c.privacy.body_retention, Duration::from_secs(7 * 86_400));
    for (var, value) in [("SMS_BODY_RETENTION", "12h"), ("CONSENT_RETENTION", "soon")] {
        let err = config(&[(var, value)]).expect_err("not a period of days");
        assert_eq!(err.var, var);
        assert!(err.reason.contains("at least a day"), "{}", err.reason);
    }
    let secret = ("JWT_SECRET", "0123456789abcdef0123456789abcdef");
    let production = ("APP_ENV", "production");
    let err = config(&[production, secret, ("CONSENT_RETENTION", "3years")])
        .expect_err("under the TCPA's four years");
    assert_eq!(err.var, "CONSENT_RETENTION");
    assert!(err.reason.contains("4 years"), "{}", err.reason);
    config(&[production, secret, ("CONSENT_RETENTION", "4years")]).expect("four years");
    config(&[("CONSENT_RETENTION", "30days")]).expect("development may keep less");
    let err = config(&[("ERASURE_HASH_KEY", "short")]).expect_err("a short key");
    assert_eq!(err.var, "ERASURE_HASH_KEY");
}

#[test]
fn traces_are_off_until_an_endpoint_is_set() {
    use crate::telemetry::{ParentRoot, SamplerSetting};
    let c = config(&[]).expect("defaults");
    assert_eq!(c.telemetry.traces_endpoint, None);
    assert_eq!(c.telemetry.service_name, "sms-notify");
    assert_eq!(
        c.telemetry.sampler,
        SamplerSetting::ParentBased(ParentRoot::AlwaysOn)
    );
    assert_eq!(c.shutdown_grace, Duration::from_secs(25));
    let c = config(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:4318/"),
        ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=abc, team = sms"),
    ])
    .expect("valid");
    assert_eq!(
        c.telemetry.traces_endpoint.as_deref(),
        Some("http://localhost:4318/v1/traces")
    );
    assert_eq!(
        c.telemetry.sampler,
        SamplerSetting::ParentBased(ParentRoot::TraceIdRatio(0.25))
    );
    let headers: Vec<_> = c
        .telemetry
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.expose_secret()))
        .collect();
    assert_eq!(headers, [("api-key", "abc"), ("team", "sms")]);
    // The signal's own URL is taken as it is, and OTEL_SDK_DISABLED wins over both.
    let c = config(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4318"),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://b/traces"),
    ])
    .expect("valid");
    assert_eq!(
        c.telemetry.traces_endpoint.as_deref(),
        Some("https://b/traces")
    );
    let c = config(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4318"),
        ("OTEL_SDK_DISABLED", "true"),
    ])
    .expect("valid");
    assert_eq!(c.telemetry.traces_endpoint, None);
}
