//! Phone numbers: any human way of writing one -> E.164, and masking for logs.

use phonenumber::{Mode, ParseError, country};

/// Why a number was refused, in words for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error(
        "'{input}' is not a phone number; write it with digits, e.g. (415) 555-1234 or +44 20 7946 0958"
    )]
    NotANumber { input: String },
    #[error("'{input}' starts with a country code that does not exist; check the digits after '+'")]
    UnknownCountryCode { input: String },
    #[error("'{input}' is too short to be a phone number")]
    TooShort { input: String },
    #[error("'{input}' is too long to be a phone number")]
    TooLong { input: String },
    #[error(
        "'{input}' is not a valid {region} phone number; check the digits, or add the country code (e.g. +44 for the UK)"
    )]
    Invalid { input: String, region: String },
}

/// Normalises `input` to E.164 (`+14155551234`). Numbers without `+` are read in `default_region`.
pub fn normalize(input: &str, default_region: country::Id) -> Result<String, PhoneError> {
    let trimmed = input.trim();
    let owned = || trimmed.to_owned();
    if !trimmed.chars().any(|c| c.is_ascii_digit()) {
        return Err(PhoneError::NotANumber { input: owned() });
    }
    let number = phonenumber::parse(Some(default_region), trimmed).map_err(|e| match e {
        ParseError::InvalidCountryCode => PhoneError::UnknownCountryCode { input: owned() },
        ParseError::TooShortAfterIdd | ParseError::TooShortNsn => {
            PhoneError::TooShort { input: owned() }
        }
        ParseError::TooLong => PhoneError::TooLong { input: owned() },
        _ => PhoneError::NotANumber { input: owned() },
    })?;
    if !phonenumber::is_valid(&number) {
        // A number that matches no region still has a calling code: name the region the reader meant.
        let code = number.code().value();
        let region = match number.country().id() {
            Some(id) => id.as_ref().to_owned(),
            None if !trimmed.starts_with('+') && country_code_of(default_region) == Some(code) => {
                default_region.as_ref().to_owned()
            }
            None => phonenumber::metadata::DATABASE
                .region(&code)
                .and_then(|regions| regions.first().map(|r| (*r).to_owned()))
                .unwrap_or_else(|| format!("+{code}")),
        };
        return Err(PhoneError::Invalid {
            input: owned(),
            region,
        });
    }
    Ok(number.format().mode(Mode::E164).to_string())
}

fn country_code_of(region: country::Id) -> Option<u16> {
    phonenumber::metadata::DATABASE
        .by_id(region.as_ref())
        .map(|m| m.country_code())
}

/// The ISO region of an E.164 number (`+14155551234` -> `US`), when it has one.
pub fn region_of(e164: &str) -> Option<country::Id> {
    phonenumber::parse(None, e164).ok()?.country().id()
}

/// A number fit for logs and screens: the country code and the last four digits (`+1******1234`).
pub fn mask(e164: &str) -> String {
    let digits: Vec<char> = e164.chars().filter(char::is_ascii_digit).collect();
    if digits.len() <= 4 {
        return "*".repeat(digits.len());
    }
    let code_len = phonenumber::parse(None, e164)
        .map(|n| n.code().value().to_string().len())
        .unwrap_or(1)
        .min(digits.len() - 4);
    let (head, rest) = digits.split_at(code_len);
    let (middle, tail) = rest.split_at(rest.len() - 4);
    format!(
        "+{}{}{}",
        head.iter().collect::<String>(),
        "*".repeat(middle.len()),
        tail.iter().collect::<String>()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: country::Id = country::Id::US;

    #[test]
    fn human_ways_of_writing_become_e164() {
        for (input, region, want) in [
            ("(415) 555-1234", US, "+14155551234"),
            ("415.555.1234", US, "+14155551234"),
            ("  415 555 1234 ", US, "+14155551234"),
            ("+1 415-555-1234", US, "+14155551234"),
            ("1-415-555-1234", US, "+14155551234"),
            ("+44 20 7946 0958", US, "+442079460958"),
            ("020 7946 0958", country::Id::GB, "+442079460958"),
            ("+49 30 901820", US, "+4930901820"),
            ("+91 98765 43210", US, "+919876543210"),
            ("(604) 555-0199", US, "+16045550199"),
        ] {
            assert_eq!(normalize(input, region).as_deref(), Ok(want), "{input}");
        }
    }

    #[test]
    fn impossible_numbers_say_why() {
        assert!(matches!(
            normalize("call me", US),
            Err(PhoneError::NotANumber { .. })
        ));
        assert!(matches!(
            normalize("+999 123 456 789", US),
            Err(PhoneError::UnknownCountryCode { .. })
        ));
        assert!(matches!(
            normalize("123", US),
            Err(PhoneError::TooShort { .. }
                | PhoneError::Invalid { .. }
                | PhoneError::NotANumber { .. })
        ));
        assert!(matches!(
            normalize("+1 415 555 12345678901", US),
            Err(PhoneError::TooLong { .. } | PhoneError::Invalid { .. })
        ));
        let err = normalize("(123) 456-7890", US).expect_err("US area codes never start with 1");
        assert!(err.to_string().contains("valid US phone number"), "{err}");
        let err = normalize("+44 20 1234", US).expect_err("too few digits for London");
        assert!(err.to_string().contains("GB"), "{err}");
    }

    #[test]
    fn masking_keeps_country_and_last_four() {
        assert_eq!(mask("+14155551234"), "+1******1234");
        assert_eq!(mask("+442079460958"), "+44******0958");
        assert_eq!(mask("12"), "**");
    }

    #[test]
    fn region_of_a_number() {
        assert_eq!(region_of("+14155551234"), Some(US));
        assert_eq!(region_of("+16045550199"), Some(country::Id::CA));
        assert_eq!(region_of("+442079460958"), Some(country::Id::GB));
    }
}
