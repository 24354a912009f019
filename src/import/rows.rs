//! A record of the old app's export read as a row of its kind: values in the shapes Django and
//! `psql \copy` write (booleans `t`/`f`/`true`/`1`, times ISO 8601, UTC without an offset, empty for
//! unknown), checked the way the API checks the same values.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use phonenumber::country;

use crate::{
    locale::phone,
    outbox::catalogue,
    store::{
        MessageType, SmsStatus,
        consent::ConsentMethod,
        import::{ImportedOptOut, ImportedPerson, ImportedPreferences, ImportedText},
    },
};

/// A row read, with what was noticed but not refused (a number that could not be read: the person
/// is imported without it).
#[derive(Debug)]
pub struct Parsed<T> {
    pub row: T,
    pub warning: Option<String>,
}

/// `values` in `Kind::columns` order.
type Values<'a> = &'a [Option<String>];

fn get(values: Values<'_>, i: usize) -> Option<&str> {
    values.get(i).and_then(|v| v.as_deref())
}

fn boolean(name: &str, value: Option<&str>) -> Result<Option<bool>, String> {
    let Some(v) = value else { return Ok(None) };
    match v.to_ascii_lowercase().as_str() {
        "true" | "t" | "1" | "yes" | "y" => Ok(Some(true)),
        "false" | "f" | "0" | "no" | "n" => Ok(Some(false)),
        _ => Err(format!("{name}: '{v}' is not true/false (or 1/0, t/f)")),
    }
}

/// A time as Django or `psql` writes it: `2026-11-01T10:00:00Z`, `2026-11-01 10:00:00.123+00`,
/// `2026-11-01 10:00:00` (UTC), or a date (its midnight UTC).
pub fn time(name: &str, value: Option<&str>) -> Result<Option<DateTime<Utc>>, String> {
    let Some(v) = value else { return Ok(None) };
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    let spaced = v.replacen('T', " ", 1);
    // psql writes `+00` and `+05:30` offsets.
    for format in ["%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%.f%:z"] {
        if let Ok(t) = DateTime::parse_from_str(&spaced, format) {
            return Ok(Some(t.with_timezone(&Utc)));
        }
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(&spaced, "%Y-%m-%d %H:%M:%S%.f") {
        return Ok(Some(t.and_utc()));
    }
    if let Ok(d) = NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).map(|t| t.and_utc()));
    }
    Err(format!(
        "{name}: '{v}' is not a time (ISO 8601, e.g. 2026-11-01T10:00:00Z or 2026-11-01 10:00:00+00)"
    ))
}

/// An id as the API takes it: no control characters, at most 128 characters.
fn user_id(name: &str, value: Option<&str>) -> Result<String, String> {
    let v = value.ok_or_else(|| format!("{name}: empty; every row needs the app's user id"))?;
    if v.chars().count() > 128 || v.chars().any(char::is_control) {
        return Err(format!(
            "{name}: at most 128 characters without control characters"
        ));
    }
    Ok(v.to_owned())
}

/// A row of `people`.
pub fn person(values: Values<'_>, region: country::Id) -> Result<Parsed<ImportedPerson>, String> {
    let user_id = user_id("user_id", get(values, 0))?;
    let (phone, warning) = match get(values, 1).map(|p| phone::normalize(p, region)) {
        None => (None, None),
        Some(Ok(e164)) => (Some(e164.into_string()), None),
        Some(Err(e)) => (
            None,
            Some(format!(
                "phone_number: {e}; the person was imported without a number"
            )),
        ),
    };
    let timezone = match get(values, 4) {
        None => None,
        Some(name) => Some(
            name.parse::<chrono_tz::Tz>()
                .map_err(|_| {
                    format!("timezone: '{name}' is not an IANA time zone such as America/Chicago")
                })?
                .name()
                .to_owned(),
        ),
    };
    Ok(Parsed {
        row: ImportedPerson {
            user_id,
            phone,
            verified: boolean("phone_verified", get(values, 2))?,
            allow_sms: boolean("allow_sms_invitations", get(values, 3))?,
            timezone,
            signed_up_at: time("signed_up_at", get(values, 5))?,
        },
        warning,
    })
}

/// How the old app said consent was given, in this service's words.
fn method(value: Option<&str>, given: bool) -> Result<Option<ConsentMethod>, String> {
    let Some(v) = value else {
        return if given {
            Err("consent_method: empty while consent_given_at is set; the proof needs how it was given (opt_in_modal, settings_page, phone_verification, api, sms_keyword)".into())
        } else {
            Ok(None)
        };
    };
    let method = match v.to_ascii_lowercase().replace([' ', '-'], "_").as_str() {
        "opt_in_modal" | "modal" | "opt_in" | "optin_modal" => ConsentMethod::OptInModal,
        "settings_page" | "settings" => ConsentMethod::SettingsPage,
        "phone_verification" | "verification" => ConsentMethod::PhoneVerification,
        "api" => ConsentMethod::Api,
        "sms_keyword" | "sms" | "keyword" | "start" => ConsentMethod::SmsKeyword,
        _ => {
            return Err(format!(
                "consent_method: '{v}' is not one of opt_in_modal, settings_page, phone_verification, api, sms_keyword"
            ));
        }
    };
    Ok(Some(method))
}

/// A row of `preferences`.
pub fn preferences(values: Values<'_>) -> Result<Parsed<ImportedPreferences>, String> {
    let user_id = user_id("user_id", get(values, 0))?;
    let names = [
        "sms_battle_invitations",
        "sms_battle_results",
        "sms_battle_reminders",
        "sms_streak_alerts",
    ];
    let mut categories = [None; 6];
    for (i, name) in names.iter().enumerate() {
        categories[i] = boolean(name, get(values, 1 + i))?;
    }
    categories[4] = boolean("sms_direct_messages", get(values, 9))?;
    categories[5] = boolean("sms_achievements", get(values, 10))?;
    let given = time("consent_given_at", get(values, 5))?;
    let ip = match get(values, 7) {
        None => None,
        Some(ip) => Some(
            ip.parse::<std::net::IpAddr>()
                .map_err(|_| format!("consent_ip: '{ip}' is not an IP address"))?
                .to_string(),
        ),
    };
    Ok(Parsed {
        row: ImportedPreferences {
            user_id,
            categories,
            consent_given_at: given,
            consent_method: method(get(values, 6), given.is_some())?,
            consent_ip: ip,
            consent_revoked_at: time("consent_revoked_at", get(values, 8))?,
        },
        warning: None,
    })
}

/// A row of `opt_outs`.
pub fn opt_out(values: Values<'_>, region: country::Id) -> Result<Parsed<ImportedOptOut>, String> {
    let phone = get(values, 0)
        .ok_or("phone_number: empty")
        .map_err(str::to_owned)?;
    let phone = phone::normalize(phone, region).map_err(|e| format!("phone_number: {e}"))?;
    Ok(Parsed {
        row: ImportedOptOut {
            phone: phone.into_string(),
            at: time("opted_out_at", get(values, 1))?,
        },
        warning: None,
    })
}

/// The old app's status names (Django's choices, any case) in this service's.
fn status(value: Option<&str>) -> Result<SmsStatus, String> {
    let v = value.ok_or("status: empty")?.to_ascii_lowercase();
    Ok(match v.as_str() {
        "pending" | "queued" => SmsStatus::Pending,
        "sent" | "sending" => SmsStatus::Sent,
        "delivered" => SmsStatus::Delivered,
        "failed" | "error" => SmsStatus::Failed,
        "undelivered" => SmsStatus::Undelivered,
        "blocked" => SmsStatus::Blocked,
        _ => {
            return Err(format!(
                "status: '{v}' is not one of pending, sent, delivered, failed, undelivered, blocked"
            ));
        }
    })
}

/// Dollars as written (`0.0083`, `$0.01`) in millionths, exactly.
fn cost(value: Option<&str>) -> Result<Option<i64>, String> {
    let Some(v) = value else { return Ok(None) };
    let d: rust_decimal::Decimal = v
        .trim_start_matches('$')
        .parse()
        .map_err(|_| format!("cost: '{v}' is not an amount in dollars such as 0.0083"))?;
    let micros = (d * rust_decimal::Decimal::from(1_000_000)).round();
    i64::try_from(micros)
        .ok()
        .filter(|m| *m >= 0)
        .map(Some)
        .ok_or_else(|| format!("cost: '{v}' is not an amount in dollars such as 0.0083"))
}

/// A row of `history`; a verification code in its text is masked as the service's own log masks it.
pub fn text(values: Values<'_>, region: country::Id) -> Result<Parsed<ImportedText>, String> {
    let user = match get(values, 0) {
        None => None,
        Some(u) => Some(user_id("user_id", Some(u))?),
    };
    let to = get(values, 1).ok_or("to_phone: empty")?;
    let to = phone::normalize(to, region)
        .map_err(|e| format!("to_phone: {e}"))?
        .into_string();
    let type_name = get(values, 2)
        .ok_or("message_type: empty")?
        .to_ascii_lowercase();
    let message_type = <MessageType as sea_orm::ActiveEnum>::try_from_value(&type_name)
        .unwrap_or(MessageType::Other);
    let status = status(get(values, 3))?;
    let mut body = get(values, 4).unwrap_or_default().to_owned();
    if body.contains('\0') {
        return Err("body: contains a NUL character, which no database stores".into());
    }
    if message_type == MessageType::PhoneVerification {
        body = mask_codes(&body);
    }
    let created_at = time("created_at", get(values, 6))?.ok_or("created_at: empty")?;
    let sent_at = time("sent_at", get(values, 7))?;
    let (encoding, segments) = catalogue::segments(&body);
    let key = key(&[
        user.as_deref().unwrap_or(""),
        &to,
        &type_name,
        &body,
        &created_at.to_rfc3339(),
    ]);
    Ok(Parsed {
        row: ImportedText {
            country: phone::region_of(&to).map(|c| c.as_ref().to_owned()),
            user_id: user,
            to_phone: to,
            promotional: !catalogue::is_transactional(message_type),
            message_type,
            status,
            body,
            segments: i32::try_from(segments).unwrap_or(i32::MAX),
            encoding: encoding.as_str().to_owned(),
            cost_micros: cost(get(values, 5))?,
            created_at,
            sent_at,
            key,
        },
        warning: None,
    })
}

/// Runs of four to ten digits become `*`s: the old log kept codes in the clear, this one never does.
fn mask_codes(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut digits = String::new();
    let flush = |digits: &mut String, out: &mut String| {
        if (4..=10).contains(&digits.len()) {
            out.extend(std::iter::repeat_n('*', digits.len()));
        } else {
            out.push_str(digits);
        }
        digits.clear();
    };
    for c in body.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else {
            flush(&mut digits, &mut out);
            out.push(c);
        }
    }
    flush(&mut digits, &mut out);
    out
}

/// `import:` and the first 32 hex digits of the SHA-256 of the parts.
fn key(parts: &[&str]) -> String {
    let joined = parts.join("\u{1f}");
    let hex = crate::recipients::sha256_hex(joined.as_bytes());
    format!("import:{}", &hex[..32])
}

#[cfg(test)]
#[path = "rows_tests.rs"]
mod tests;
