//! The API's own scalars, named for what they are rather than for a library's types.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::NaiveDate;

/// A calendar day, ISO 8601 `YYYY-MM-DD` (e.g. `2026-11-24`), with no time and no time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date(pub NaiveDate);

/// A calendar day, ISO 8601 `YYYY-MM-DD` (e.g. `2026-11-24`), with no time and no time zone.
#[Scalar(
    name = "Date",
    specified_by_url = "https://www.iso.org/iso-8601-date-and-time-format.html"
)]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        let Value::String(s) = &value else {
            return Err(InputValueError::custom(
                "a date is a string written YYYY-MM-DD, e.g. \"2026-11-24\"",
            ));
        };
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map(Date)
            .map_err(|_| {
                InputValueError::custom(format!(
                    "\"{s}\" is not a date; write it YYYY-MM-DD, e.g. \"2026-11-24\""
                ))
            })
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.format("%Y-%m-%d").to_string())
    }
}

/// Description of the date-time scalar (async-graphql's own names a Rust type).
pub const DATE_TIME_DESCRIPTION: &str = "A moment in time: an RFC 3339 string, e.g. \
`2026-11-24T18:00:00Z`. Answers are in UTC; inputs may carry any offset.";

/// Description of the money scalar.
pub const DECIMAL_DESCRIPTION: &str = "An exact amount of US dollars as a string, e.g. `\"0.0075\"`; \
money is never a floating-point number.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_iso_days() {
        let d = <Date as ScalarType>::parse(Value::String("2026-02-28".into())).expect("date");
        assert_eq!(d.to_value(), Value::String("2026-02-28".into()));
        for bad in ["2026-02-30", "28/02/2026", "2026-2-28T00:00:00Z", ""] {
            let err = <Date as ScalarType>::parse(Value::String(bad.into()))
                .expect_err(bad)
                .into_server_error(Default::default());
            assert!(err.message.contains("YYYY-MM-DD"), "{bad}: {}", err.message);
        }
        assert!(<Date as ScalarType>::parse(Value::Number(20260228.into())).is_err());
    }
}
