use async_graphql::{Enum, SimpleObject};
use rust_decimal::Decimal;

use crate::billing::{self as cost, micros_to_dollars};

/// How smsCosts splits its totals.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum CostGrouping {
    /// By UTC day (`2026-03-02`).
    Day,
    /// By message type (`STREAK_ALERT`).
    MessageType,
    /// By status (`SENT`; `PENDING` includes messages being sent).
    Status,
    /// By destination country (`US`; `UNKNOWN` when there is none).
    Country,
}

impl From<CostGrouping> for cost::Grouping {
    fn from(g: CostGrouping) -> Self {
        match g {
            CostGrouping::Day => Self::Day,
            CostGrouping::MessageType => Self::MessageType,
            CostGrouping::Status => Self::Status,
            CostGrouping::Country => Self::Country,
        }
    }
}

/// One bucket of a cost report: a day, a type, a status or a country.
#[derive(SimpleObject)]
pub struct CostBucket {
    /// The bucket: a UTC day (YYYY-MM-DD), a message type, a status or a country code.
    pub key: String,
    /// Messages in the bucket.
    pub message_count: i64,
    /// Their billed parts.
    pub segment_count: i64,
    /// US dollars: what AWS charged where a delivery receipt said so, the estimate elsewhere.
    pub cost: Decimal,
    /// The part of `cost` that is still an estimate (no price from AWS yet).
    pub estimated_cost: Decimal,
    /// This bucket split by `splitBy`, e.g. a day's cost by message type (empty without it).
    pub parts: Vec<CostBucket>,
}

impl From<cost::Bucket> for CostBucket {
    fn from(b: cost::Bucket) -> Self {
        Self {
            key: bucket_key(&b.key),
            message_count: b.messages,
            segment_count: b.segments,
            cost: micros_to_dollars(b.cost_micros),
            estimated_cost: micros_to_dollars(b.cost_micros - b.priced_micros),
            parts: b.parts.into_iter().map(Into::into).collect(),
        }
    }
}

/// What texting costs. Amounts are US dollars, exact.
#[derive(SimpleObject)]
pub struct CostReport {
    /// Messages created in the range, every status included (blocked ones cost nothing).
    pub message_count: i64,
    /// Billed parts in the range.
    pub segment_count: i64,
    /// What the messages of the range cost (queued and sent; blocked and failed ones are not charged):
    /// what AWS charged where a delivery receipt said so, the estimate elsewhere.
    pub total_cost: Decimal,
    /// The part of `totalCost` that is still an estimate (no price from AWS yet).
    pub estimated_cost: Decimal,
    /// Reserved against this month's budget so far (UTC calendar month).
    pub month_to_date: Decimal,
    /// The month's budget for texts (SMS_MONTHLY_SPEND_LIMIT_USD, or AWS's lower limit).
    pub monthly_limit: Decimal,
    /// What is left of the budget this month.
    pub remaining: Decimal,
    /// The part of `monthlyLimit` kept for verification codes and security alerts: other texts stop
    /// when the month's spend reaches `monthlyLimit - transactionalReserve`.
    pub transactional_reserve: Decimal,
    /// The month's spending at its end if it goes on at the rate so far.
    pub projected_month_end: Decimal,
    /// The fixed monthly charges (`SMS_MONTHLY_FIXED_COSTS`, such as the toll-free number's lease) for
    /// every calendar month (UTC) the range touches. Not in `totalCost` and not part of the sending
    /// budget: AWS's spend limit, and so `monthlyLimit`, covers texts only.
    pub fixed_cost: Decimal,
    /// AWS's enforced monthly spend limit for texts (`DescribeSpendLimits`, read at start and hourly),
    /// when it could be read. When it is below `SMS_MONTHLY_SPEND_LIMIT_USD` it is `monthlyLimit`.
    pub aws_spend_limit: Option<Decimal>,
    /// The fixed monthly charges as configured, each for one month.
    pub fixed_charges: Vec<MonthlyCharge>,
    /// Totals split by `groupBy` (empty without it).
    pub buckets: Vec<CostBucket>,
    /// What smart encoding, short links and digests saved on the texts sent in the range.
    pub savings: super::savings::CostSavings,
}

/// A charge made every month whatever is sent.
#[derive(SimpleObject)]
pub struct MonthlyCharge {
    /// What the charge is for (SMS_MONTHLY_FIXED_COSTS).
    pub name: String,
    /// US dollars a month.
    pub monthly: Decimal,
}

impl CostReport {
    pub fn new(r: cost::Report, fixed: &[crate::config::FixedCost]) -> Self {
        let mut report = Self::from(r);
        report.fixed_charges = fixed
            .iter()
            .map(|f| MonthlyCharge {
                name: f.name.clone(),
                monthly: micros_to_dollars(f.monthly_micros),
            })
            .collect();
        report
    }
}

impl From<cost::Report> for CostReport {
    fn from(r: cost::Report) -> Self {
        Self {
            fixed_cost: micros_to_dollars(r.fixed_micros),
            aws_spend_limit: r.aws_spend_limit.map(micros_to_dollars),
            fixed_charges: Vec::new(),
            message_count: r.messages,
            segment_count: r.segments,
            total_cost: micros_to_dollars(r.cost_micros),
            estimated_cost: micros_to_dollars(r.estimated_micros),
            month_to_date: micros_to_dollars(r.month_to_date),
            monthly_limit: micros_to_dollars(r.monthly_limit),
            remaining: micros_to_dollars(r.remaining),
            projected_month_end: micros_to_dollars(r.projected_month_end),
            transactional_reserve: micros_to_dollars(r.transactional_reserve),
            buckets: r.buckets.into_iter().map(Into::into).collect(),
            savings: Default::default(),
        }
    }
}

/// Stored keys in the API's words: enum names upper case, an empty country `UNKNOWN`.
fn bucket_key(key: &str) -> String {
    if key.is_empty() {
        "UNKNOWN".to_owned()
    } else if key.contains('-') {
        key.to_owned()
    } else {
        key.to_ascii_uppercase()
    }
}
