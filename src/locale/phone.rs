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

/// Digits and pluses as other scripts and keyboards write them, read as ASCII: full-width forms (CJK
/// keyboards type `＋４９`), Arabic-Indic and Eastern Arabic-Indic digits, and the ideographic space.
/// libphonenumber reads every Unicode digit; the `phonenumber` crate would drop these, and with them
/// the `+` that marks a country code.
fn ascii_digits(input: &str) -> String {
    input
        .chars()
        .map(|c| match c {
            '\u{FF10}'..='\u{FF19}' => char::from(b'0' + (c as u32 - 0xFF10) as u8),
            '\u{0660}'..='\u{0669}' => char::from(b'0' + (c as u32 - 0x0660) as u8),
            '\u{06F0}'..='\u{06F9}' => char::from(b'0' + (c as u32 - 0x06F0) as u8),
            '\u{FF0B}' => '+',
            '\u{FF08}' => '(',
            '\u{FF09}' => ')',
            '\u{FF0D}' | '\u{2010}'..='\u{2015}' | '\u{2212}' => '-',
            '\u{3000}' => ' ',
            other => other,
        })
        .collect()
}

/// A phone number in E.164 (`+14155551234`), parsed once where it enters the service (`normalize`):
/// every capability that takes one takes this, never a string someone typed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct E164(String);

impl E164 {
    /// A number the service stored after parsing it (a message's `to_phone`, a recipient's number):
    /// read back, not parsed again.
    pub fn stored(e164: impl Into<String>) -> Self {
        Self(e164.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::ops::Deref for E164 {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for E164 {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for E164 {
    /// The whole number: for a person's own screen and the provider, never a log line (`mask`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for E164 {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for E164 {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl From<E164> for String {
    fn from(number: E164) -> String {
        number.0
    }
}

/// Normalises `input` to E.164 (`+14155551234`). Numbers without `+` are read in `default_region`.
pub fn normalize(input: &str, default_region: country::Id) -> Result<E164, PhoneError> {
    let ascii = ascii_digits(input);
    let trimmed = ascii.trim();
    let owned = || trimmed.to_owned();
    if !trimmed.chars().any(|c| c.is_ascii_digit()) {
        return Err(PhoneError::NotANumber { input: owned() });
    }
    // A number written with its country code is read with that country's rules. The `phonenumber`
    // crate strips the *default* region's national prefix from it otherwise: with `US` as the default,
    // "+49 1512 3456789" lost the "1" of its mobile prefix and became another person's number.
    let parsed = match international_form(trimmed, default_region) {
        Some(plus) => phonenumber::parse(None, plus),
        None => national(trimmed, default_region),
    };
    let number = parsed.map_err(|e| match e {
        ParseError::InvalidCountryCode => PhoneError::UnknownCountryCode { input: owned() },
        ParseError::TooShortAfterIdd | ParseError::TooShortNsn => {
            PhoneError::TooShort { input: owned() }
        }
        ParseError::TooLong => PhoneError::TooLong { input: owned() },
        _ => PhoneError::NotANumber { input: owned() },
    })?;
    if !super::validity::is_valid(&number) {
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
    Ok(E164(number.format().mode(Mode::E164).to_string()))
}

/// A number written without `+`, in `region`. When its first digits spell the region's own country
/// code, the crate takes them for it (Rwanda's "250 123 456" became +250 123456); as libphonenumber
/// does, the digits stay the national number when only that reading is valid.
fn national(input: &str, region: country::Id) -> Result<phonenumber::PhoneNumber, ParseError> {
    let number = phonenumber::parse(Some(region), input)?;
    if number.code().source() != country::Source::Number || phonenumber::is_valid(&number) {
        return Ok(number);
    }
    let digits: String = input.chars().filter(char::is_ascii_digit).collect();
    match country_code_of(region).map(|code| phonenumber::parse(None, format!("+{code}{digits}"))) {
        Some(Ok(whole)) if phonenumber::is_valid(&whole) => Ok(whole),
        _ => Ok(number),
    }
}

/// `input` as `+<country code><number>` when it is written with its country code: after a `+`, or
/// after the international prefix dialled from `default_region` ("011" from the US, "00" from most of
/// Europe). `None` for a national writing.
fn international_form(input: &str, default_region: country::Id) -> Option<String> {
    let digits: String = input.chars().filter(char::is_ascii_digit).collect();
    let first = input.chars().find(|c| *c == '+' || c.is_ascii_digit())?;
    if first == '+' {
        return Some(format!("+{digits}"));
    }
    let idd = phonenumber::metadata::DATABASE
        .by_id(default_region.as_ref())?
        .international_prefix()?
        .find(&digits)
        .filter(|m| m.start() == 0 && m.end() < digits.len())?;
    Some(format!("+{}", &digits[idd.end()..]))
}

fn country_code_of(region: country::Id) -> Option<u16> {
    phonenumber::metadata::DATABASE
        .by_id(region.as_ref())
        .map(|m| m.country_code())
}

/// The block of numbers an operator holds that `e164` is in: for +1 (the NANP) the area code and
/// the exchange (`+1212555`), elsewhere the country code and the first three national digits
/// (`+44770`). The verification fraud guard counts codes per block.
pub fn range_of(e164: &str) -> Option<String> {
    let number = phonenumber::parse(None, e164).ok()?;
    let code = number.code().value().to_string();
    let digits = if code == "1" { 6 } else { 3 };
    let prefix_len = 1 + code.len() + digits;
    (e164.starts_with('+') && e164.len() >= prefix_len && e164.is_char_boundary(prefix_len))
        .then(|| e164[..prefix_len].to_owned())
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
    fn digits_of_other_scripts_read_as_ascii() {
        let us = country::Id::US;
        // A full-width plus keeps its country code: this is a German mobile, not +49 512...
        assert_eq!(
            normalize("＋４９ １５１２ ３４５６７８９", us).as_deref(),
            Ok("+4915123456789")
        );
        assert_eq!(
            normalize("＋49 1512 3456789", us).as_deref(),
            Ok("+4915123456789")
        );
        assert_eq!(
            normalize("（４１５）５５５－１２３４", us).as_deref(),
            Ok("+14155551234")
        );
        assert_eq!(
            normalize("+٩٧١ ٥٠ ١٢٣ ٤٥٦٧", us).as_deref(),
            Ok("+971501234567")
        );
    }

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

    /// Every region's example numbers in their usual writings, against what libphonenumber makes of
    /// each (`scripts/phone_cases.py` wrote the table from the same metadata version).
    #[test]
    fn agrees_with_libphonenumber_on_every_region() {
        let table = include_str!("../../tests/data/phone_cases.tsv");
        let mut checked = 0;
        let mut wrong = Vec::new();
        for line in table.lines().filter(|l| !l.starts_with('#')) {
            let mut cols = line.split('\t');
            let (Some(input), Some(region), Some(want)) = (cols.next(), cols.next(), cols.next())
            else {
                panic!("malformed line: {line}");
            };
            let region: country::Id = region.parse().expect("region");
            let got = normalize(input, region).map_or_else(|_| "invalid".to_owned(), String::from);
            if got != want {
                wrong.push(format!("{input} (default {region:?}): {got}, want {want}"));
            }
            checked += 1;
        }
        assert!(checked > 4000, "only {checked} cases");
        assert!(
            wrong.is_empty(),
            "{} of {checked} differ:\n{}",
            wrong.len(),
            wrong.join("\n")
        );
    }

    #[test]
    fn international_numbers_keep_their_digits_whatever_the_default_region() {
        for region in [US, country::Id::GB, country::Id::DE] {
            assert_eq!(
                normalize("+49 1512 3456789", region).as_deref(),
                Ok("+4915123456789")
            );
            assert_eq!(
                normalize("+86 131 2345 6789", region).as_deref(),
                Ok("+8613123456789")
            );
        }
        assert_eq!(
            normalize("011 49 1512 3456789", US).as_deref(),
            Ok("+4915123456789")
        );
        assert_eq!(
            normalize("0049 1512 3456789", country::Id::GB).as_deref(),
            Ok("+4915123456789")
        );
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
