//! Prices and limits: exact integers of micro-dollars.
use super::{
    ConfigError,
    read::{count, country, pairs, parsed},
};

/// Prices and limits, in millionths of a US dollar (exact integers).
#[derive(Debug, Clone)]
pub struct CostConfig {
    /// Price of one segment per destination country.
    pub prices: Vec<(phonenumber::country::Id, i64)>,
    /// Price of one segment to any other country; `None` blocks those messages (`no_price`).
    pub default_price: Option<i64>,
    /// The monthly budget (calendar month, UTC).
    pub monthly_limit: i64,
    /// Part of the budget only transactional messages may use.
    pub transactional_reserve: i64,
    /// Promotional messages one user may get in any 24 hours.
    pub user_daily_limit: u32,
    /// The share of the month's budget verification codes may reserve per UTC day
    /// (`VERIFY_DAILY_SPEND_SHARE`): an attack that slips past the fraud guard cannot empty the month.
    pub code_daily_share: rust_decimal::Decimal,
    /// Fixed monthly charges (`SMS_MONTHLY_FIXED_COSTS`), such as a number's lease: reported beside the
    /// texts' cost, never part of the sending budget (AWS's spend limit covers texts only).
    pub fixed_costs: Vec<FixedCost>,
    /// At most so many promotional texts of a type in a period (`SMS_FREQUENCY_CAPS`,
    /// `streak_alert=1/24h,battle_invitation=5/24h`); people may lower them, never raise them.
    pub frequency_caps: Vec<(crate::store::MessageType, crate::recipients::caps::Cap)>,
    /// At most so many battle invitations from one inviter to one person in a period
    /// (`SMS_INVITER_CAP`, `2/24h`); `None` is off.
    pub inviter_cap: Option<crate::recipients::caps::Cap>,
}

/// A charge AWS makes every month whatever is sent (a toll-free number's lease, say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedCost {
    pub name: String,
    pub monthly_micros: i64,
}

/// `toll-free number=2.00,10DLC campaign=10.00`: names (unique, at most 64 characters) and dollars.
fn fixed_costs(
    s: &str,
    dollars: impl Fn(&str) -> Result<i64, String>,
) -> Result<Vec<FixedCost>, String> {
    let mut out: Vec<FixedCost> = Vec::new();
    for pair in pairs(s, "NAME=DOLLARS, such as toll-free number=2.00") {
        let (name, amount) = pair?;
        if name.is_empty() || name.chars().count() > 64 {
            return Err(format!(
                "'{name}={amount}' needs a name of 1 to 64 characters before the '='"
            ));
        }
        if out.iter().any(|f| f.name.eq_ignore_ascii_case(name)) {
            return Err(format!("'{name}' is listed twice"));
        }
        out.push(FixedCost {
            name: name.to_owned(),
            monthly_micros: dollars(amount)?,
        });
    }
    Ok(out)
}

/// Reads prices, the budget and the daily limit.
pub(super) fn parse(var: &impl Fn(&str) -> Option<String>) -> Result<CostConfig, ConfigError> {
    let dollars = |s: &str| -> Result<i64, String> {
        crate::billing::dollars_to_micros(s).ok_or_else(|| {
            format!("'{s}' is not an amount in dollars with at most 6 decimals, such as 0.0075")
        })
    };
    let monthly_limit = parsed(var, "SMS_MONTHLY_SPEND_LIMIT_USD", "1.00", dollars)?;
    let share = |name, default| {
        parsed(var, name, default, |s| {
            rust_decimal::Decimal::from_str_exact(s)
                .ok()
                .filter(|d| *d >= rust_decimal::Decimal::ZERO && *d <= rust_decimal::Decimal::ONE)
                .ok_or_else(|| {
                    format!("'{s}' is not a share of the budget from 0 to 1, such as 0.2")
                })
        })
    };
    let reserve_share = share("SMS_TRANSACTIONAL_RESERVE", "0.2")?;
    Ok(CostConfig {
        prices: parsed(var, "SMS_PRICES", "US=0.0075,CA=0.0075", |s| {
            pairs(s, "COUNTRY=PRICE, such as US=0.0075")
                .map(|pair| {
                    let (code, price) = pair?;
                    Ok((country(code)?, dollars(price)?))
                })
                .collect()
        })?,
        default_price: match var("SMS_DEFAULT_PRICE") {
            Some(p) => {
                Some(dollars(p.trim()).map_err(|r| ConfigError::new("SMS_DEFAULT_PRICE", r))?)
            }
            None => None,
        },
        monthly_limit,
        transactional_reserve: crate::billing::share_of(monthly_limit, reserve_share),
        code_daily_share: share("VERIFY_DAILY_SPEND_SHARE", "0.25")?,
        user_daily_limit: count(var, "SMS_USER_DAILY_LIMIT", "10")?,
        fixed_costs: parsed(var, "SMS_MONTHLY_FIXED_COSTS", "", |s| {
            fixed_costs(s, dollars)
        })?,
        frequency_caps: parsed(
            var,
            "SMS_FREQUENCY_CAPS",
            "",
            crate::recipients::caps::parse_list,
        )?,
        inviter_cap: parsed(var, "SMS_INVITER_CAP", "off", |s| {
            if s.eq_ignore_ascii_case("off") {
                Ok(None)
            } else {
                crate::recipients::caps::Cap::parse(s).map(Some)
            }
        })?,
    })
}
