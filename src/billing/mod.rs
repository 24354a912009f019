//! Money, exactly: prices, the monthly budget with its transactional reserve, and the cost rollup.
//! Amounts are integers of millionths of a US dollar in the database and in Rust; `Decimal` only at the
//! edges (configuration, GraphQL).

pub mod allocation;

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Datelike, Utc};
use rust_decimal::Decimal;
use sea_orm::{ConnectionTrait, DbErr};

pub use crate::store::rollup::{
    Bucket, Grouping, RollupKey, RollupStatus, measures, rollup_add, rollup_key,
};
use crate::store::{rollup, spend};

/// The month's budget: `SMS_MONTHLY_SPEND_LIMIT_USD`, or AWS's enforced monthly limit for texts when
/// that is lower (read from `DescribeSpendLimits` at start and hourly). One per instance, shared by the
/// sends that reserve against it and the reports that show it.
#[derive(Debug)]
pub struct SpendCap {
    configured: i64,
    reserve: i64,
    /// AWS's enforced limit for texts, in micro-dollars; -1 while unknown.
    aws: AtomicI64,
}

impl SpendCap {
    pub fn new(costs: &crate::config::CostConfig) -> Self {
        Self {
            configured: costs.monthly_limit,
            reserve: costs.transactional_reserve,
            aws: AtomicI64::new(-1),
        }
    }

    /// AWS's enforced monthly limit for texts, when it was read.
    pub fn aws_limit(&self) -> Option<i64> {
        Some(self.aws.load(Ordering::Relaxed)).filter(|l| *l >= 0)
    }

    /// Records AWS's limit. True when it became the budget by this (it is lower than ours and the
    /// limit known before was not): the moment to warn.
    pub fn set_aws_limit(&self, micros: i64) -> bool {
        let before = self.aws.swap(micros.max(0), Ordering::Relaxed);
        let lower = |l: i64| l >= 0 && l < self.configured;
        lower(micros) && (!lower(before) || before != micros)
    }

    /// The budget this month's sends reserve against.
    pub fn monthly_limit(&self) -> i64 {
        match self.aws_limit() {
            Some(aws) => aws.min(self.configured),
            None => self.configured,
        }
    }

    /// The share of the budget kept for codes and security alerts, scaled with the budget.
    pub fn transactional_reserve(&self) -> i64 {
        let limit = self.monthly_limit();
        if limit == self.configured || self.configured == 0 {
            return self.reserve.min(limit);
        }
        i64::try_from(i128::from(self.reserve) * i128::from(limit) / i128::from(self.configured))
            .unwrap_or(limit)
    }
}

/// The billing handle: cost reports against the budget.
#[derive(Clone)]
pub struct Billing {
    db: crate::store::db::Db,
    clock: std::sync::Arc<dyn crate::Clock>,
    costs: std::sync::Arc<crate::config::CostConfig>,
    cap: std::sync::Arc<SpendCap>,
}

impl Billing {
    pub fn new(
        db: crate::store::db::Db,
        clock: std::sync::Arc<dyn crate::Clock>,
        costs: crate::config::CostConfig,
        cap: std::sync::Arc<SpendCap>,
    ) -> Self {
        Self {
            db,
            clock,
            costs: std::sync::Arc::new(costs),
            cap,
        }
    }

    /// The month's budget, ours or AWS's.
    pub fn cap(&self) -> &SpendCap {
        &self.cap
    }

    /// The fixed monthly charges (`SMS_MONTHLY_FIXED_COSTS`).
    pub fn fixed_costs(&self) -> &[crate::config::FixedCost] {
        &self.costs.fixed_costs
    }

    /// A cost report for the UTC days from `from` up to `to` (see `report`).
    pub async fn report(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        grouping: (Option<Grouping>, Option<Grouping>),
    ) -> Result<Report, DbErr> {
        report(
            &self.db,
            from,
            to,
            grouping,
            &self.costs,
            &self.cap,
            self.clock.now(),
        )
        .await
    }
}

impl Billing {
    /// What smart encoding, short links and digests saved on the texts sent on the UTC days from
    /// `from` up to `to` (exclusive).
    pub async fn savings(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<crate::store::savings::SavingsRow>, DbErr> {
        crate::store::savings::rows(&self.db, from, to).await
    }
}

/// Micro-dollars in a dollar.
pub const MICROS: i64 = 1_000_000;

/// `"0.0075"` -> 7500. `None` for negative amounts or more than 6 decimals.
pub fn dollars_to_micros(s: &str) -> Option<i64> {
    let d = Decimal::from_str_exact(s.trim()).ok()?;
    if d.is_sign_negative() {
        return None;
    }
    let micros = d.checked_mul(Decimal::from(MICROS))?;
    if !micros.fract().is_zero() {
        return None;
    }
    i64::try_from(micros).ok()
}

/// 7500 -> `0.0075`.
pub fn micros_to_dollars(micros: i64) -> Decimal {
    Decimal::new(micros, 6).normalize()
}

/// `share` (0 to 1) of `amount`, rounded down to a micro-dollar.
pub fn share_of(amount: i64, share: Decimal) -> i64 {
    (Decimal::from(amount) * share)
        .floor()
        .try_into()
        .unwrap_or(0)
}

pub use crate::store::{rollup::day_of, spend::month_of};

/// Reserves `micros` of `month`'s budget unless that would pass `cap` (one atomic statement).
pub use spend::reserve;

/// Gives `micros` of `month`'s budget back (a send that failed, or was cancelled).
pub async fn release(db: &impl ConnectionTrait, month: &str, micros: i64) -> Result<(), DbErr> {
    spend::adjust(db, month, -micros).await
}

/// Corrects `month`'s spend by `micros` (AWS charged more, or less, than estimated).
pub use spend::{adjust, reserved};

/// Logs each budget threshold (50, 80, 100 percent) the month crossed, once per month across every
/// instance (the first to mark it logs it). `standing` is what the reservation's own statement told
/// (reserved, highest threshold warned), so a batch that crosses none reads and writes nothing more.
pub async fn warn_thresholds(
    db: &impl ConnectionTrait,
    month: &str,
    limit: i64,
    (reserved_now, warned): spend::Standing,
) -> Result<(), DbErr> {
    if limit <= 0 {
        return Ok(());
    }
    for pct in [50_i64, 80, 100] {
        if pct <= warned || reserved_now.saturating_mul(100) < pct.saturating_mul(limit) {
            continue;
        }
        if spend::mark_threshold(db, month, pct, limit).await? {
            let used = reserved(db, month).await?;
            tracing::warn!(
                alert = "sms_budget",
                month,
                percent = pct,
                spent = %micros_to_dollars(used),
                limit = %micros_to_dollars(limit),
                "SMS budget: {pct}% of the month's limit is used"
            );
        }
    }
    Ok(())
}

/// A cost report: totals over whole UTC days, the month to date, the limit and a projection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub messages: i64,
    pub segments: i64,
    pub cost_micros: i64,
    /// The part of `cost_micros` that is still an estimate (no price from AWS yet).
    pub estimated_micros: i64,
    pub month_to_date: i64,
    pub monthly_limit: i64,
    /// The part of the limit only verification codes and security alerts may spend.
    pub transactional_reserve: i64,
    pub remaining: i64,
    pub projected_month_end: i64,
    /// The fixed monthly charges for every calendar month (UTC) the range touches.
    pub fixed_micros: i64,
    /// AWS's enforced monthly limit for texts, when it could be read.
    pub aws_spend_limit: Option<i64>,
    pub buckets: Vec<Bucket>,
}

/// The calendar months (UTC) that the range from `from` up to `to` (exclusive) touches: 1 for a range
/// inside one month, 2 for one that crosses into the next, 0 for an empty range.
pub fn months_touched(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    if to <= from {
        return 0;
    }
    let last = to - chrono::Duration::nanoseconds(1);
    let index = |t: DateTime<Utc>| i64::from(t.year()) * 12 + i64::from(t.month0());
    index(last) - index(from) + 1
}

/// Totals from the rollup for the UTC days from `from` up to `to` (exclusive), in buckets when
/// `grouping` is given, each split again by `split` when that is given too (a day's cost by message
/// type, say), with the month to date, the limit and a linear projection to the month's end. Its cost
/// is a handful of indexed rows per day, whatever the number of messages.
pub async fn report(
    db: &impl ConnectionTrait,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    (grouping, split): (Option<Grouping>, Option<Grouping>),
    budget: &crate::config::CostConfig,
    cap: &SpendCap,
    now: DateTime<Utc>,
) -> Result<Report, DbErr> {
    let limit = cap.monthly_limit();
    let buckets = rollup::totals(db, from, to, (grouping, split)).await?;
    let (messages, segments, cost_micros, priced_micros) =
        buckets.iter().fold((0, 0, 0, 0), |(m, s, c, p), b| {
            (
                m + b.messages,
                s + b.segments,
                c + b.cost_micros,
                p + b.priced_micros,
            )
        });
    let month_to_date = reserved(db, &month_of(now)).await?;
    let month_start = chrono::TimeZone::with_ymd_and_hms(&Utc, now.year(), now.month(), 1, 0, 0, 0)
        .single()
        .unwrap_or(now);
    let next_month = if now.month() == 12 {
        chrono::TimeZone::with_ymd_and_hms(&Utc, now.year() + 1, 1, 1, 0, 0, 0)
    } else {
        chrono::TimeZone::with_ymd_and_hms(&Utc, now.year(), now.month() + 1, 1, 0, 0, 0)
    }
    .single()
    .unwrap_or(now);
    let elapsed = (now - month_start).num_seconds().max(1) as i128;
    let whole = (next_month - month_start).num_seconds().max(1) as i128;
    let projected_month_end =
        i64::try_from(i128::from(month_to_date) * whole / elapsed).unwrap_or(i64::MAX);
    Ok(Report {
        messages,
        segments,
        cost_micros,
        estimated_micros: cost_micros - priced_micros,
        month_to_date,
        monthly_limit: limit,
        transactional_reserve: cap.transactional_reserve(),
        aws_spend_limit: cap.aws_limit(),
        remaining: (limit - month_to_date).max(0),
        projected_month_end,
        fixed_micros: budget
            .fixed_costs
            .iter()
            .map(|f| f.monthly_micros)
            .sum::<i64>()
            .saturating_mul(months_touched(from, to)),
        buckets: if grouping.is_some() {
            buckets
        } else {
            Vec::new()
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lower_of_our_budget_and_aws_limit_is_the_budget() {
        let costs = crate::config::Config::for_database("sqlite::memory:").costs;
        let cap = SpendCap::new(&crate::config::CostConfig {
            monthly_limit: 5_000_000,
            transactional_reserve: 1_000_000,
            ..costs
        });
        assert_eq!((cap.monthly_limit(), cap.aws_limit()), (5_000_000, None));
        assert!(
            !cap.set_aws_limit(10_000_000),
            "AWS's is higher: ours holds"
        );
        assert_eq!(cap.monthly_limit(), 5_000_000);
        assert!(cap.set_aws_limit(1_000_000), "AWS's is lower: warn");
        assert!(!cap.set_aws_limit(1_000_000), "once");
        assert_eq!(
            (cap.monthly_limit(), cap.transactional_reserve()),
            (1_000_000, 200_000),
            "the reserve keeps its share"
        );
        assert!(cap.set_aws_limit(2_000_000), "a new lower limit is news");
    }

    #[test]
    fn a_range_touches_the_months_it_has_a_moment_in() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().expect("a time");
        for (from, to, months) in [
            ("2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z", 1),
            ("2026-03-01T00:00:00Z", "2026-04-01T00:00:01Z", 2),
            ("2026-03-31T23:00:00Z", "2026-04-01T01:00:00Z", 2),
            ("2026-03-10T00:00:00Z", "2026-03-11T00:00:00Z", 1),
            ("2025-12-15T00:00:00Z", "2026-02-01T00:00:00Z", 2),
            ("2025-12-15T00:00:00Z", "2027-01-15T00:00:00Z", 14),
            ("2026-03-01T00:00:00Z", "2026-03-01T00:00:00Z", 0),
        ] {
            assert_eq!(months_touched(at(from), at(to)), months, "{from} to {to}");
        }
    }

    #[test]
    fn dollars_and_micros_are_exact() {
        assert_eq!(dollars_to_micros("0.0075"), Some(7_500));
        assert_eq!(dollars_to_micros("1.00"), Some(1_000_000));
        assert_eq!(dollars_to_micros("12"), Some(12_000_000));
        assert_eq!(dollars_to_micros("0.000001"), Some(1));
        assert_eq!(dollars_to_micros("0.0000001"), None, "below a micro-dollar");
        assert_eq!(dollars_to_micros("-1"), None);
        assert_eq!(dollars_to_micros("abc"), None);
        assert_eq!(micros_to_dollars(7_500).to_string(), "0.0075");
        assert_eq!(micros_to_dollars(1_000_000).to_string(), "1");
        assert_eq!(share_of(1_000_000, Decimal::new(2, 1)), 200_000);
        assert_eq!(share_of(75_000, Decimal::new(1, 1)), 7_500);
    }

    #[test]
    fn months_and_days_are_utc() {
        let t = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 3, 31, 23, 59, 59)
            .single()
            .expect("t");
        assert_eq!(month_of(t), "2026-03");
        assert_eq!(day_of(t), "2026-03-31");
    }
}
