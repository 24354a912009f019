use async_graphql::{Context, Enum, Object, SimpleObject};
use chrono::{DateTime, Utc};

use crate::{
    auth::Role,
    error::ApiError,
    error::ApiResult,
    graphql::types::sms::BlockedReason,
    graphql::{
        handle,
        mutation::verification::{CountrySending, VerificationRange, valid_range},
        require_role,
    },
    outbox::Outbox,
    verification::{Verifier, stats},
};

/// How `verificationStats` groups codes.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum VerificationGrouping {
    /// By the destination's country (ISO code).
    Country,
    /// By range of numbers: for +1 the area code and exchange (`+1212555`), elsewhere the country code
    /// and three digits.
    Range,
}

/// Codes to one country or range over a period.
#[derive(SimpleObject)]
pub struct VerificationBucket {
    /// The country's ISO code, or the range.
    pub key: String,
    /// Codes made and handed to the pipeline.
    pub sent: i64,
    /// Of those, the ones entered.
    pub confirmed: i64,
    /// confirmed / sent; null when none were sent.
    pub conversion: Option<f64>,
    /// Codes refused, all reasons together.
    pub refused: i64,
    /// Codes refused, by reason (the fraud guard, the day's ceiling, a country switched off, ...).
    pub refused_by_reason: Vec<RefusalCount>,
}

/// The verification fraud guard now.
#[derive(SimpleObject)]
pub struct VerificationGuard {
    /// Whether it runs (`VERIFY_GUARD_ENABLED`).
    pub enabled: bool,
    /// How far back it counts codes (`VERIFY_GUARD_WINDOW`), in seconds.
    pub window_seconds: i64,
    /// Codes to a range in the window before it may hold it (`VERIFY_GUARD_MIN_SAMPLE`).
    pub min_sample: i32,
    /// The share of those that must be entered (`VERIFY_GUARD_MIN_CONVERSION`).
    pub min_conversion: f64,
    /// The ranges it holds now, the most codes first (at most 100).
    pub held_ranges: Vec<VerificationRange>,
}

/// Refusals for one reason.
#[derive(SimpleObject)]
pub struct RefusalCount {
    /// Why codes were refused (fraud_guard, verification_ceiling, country_paused, ...).
    pub reason: BlockedReason,
    /// How many.
    pub count: i64,
}

#[derive(Default)]
pub struct GuardQuery;

#[Object]
impl GuardQuery {
    /// Every country of `SMS_ALLOWED_COUNTRIES` with its switches (admin): whether codes and other
    /// texts may go there now (`setCountrySending` changes them).
    async fn country_sending(&self, ctx: &Context<'_>) -> ApiResult<Vec<CountrySending>> {
        require_role(ctx, &[Role::Admin])?;
        let switches = handle::<Outbox>(ctx)?.country_sending().await?;
        Ok(switches
            .into_iter()
            .map(|s| {
                let never = s.updated_by.is_empty();
                let mut out = CountrySending::from(s);
                if never {
                    out.updated_at = None;
                    out.updated_by = None;
                }
                out
            })
            .collect())
    }

    /// Verification codes from `from` up to `to` (admin), grouped by country or range, the busiest
    /// first: sent, entered, the conversion, and refusals by reason. At most `first` buckets (default
    /// 100, at most 1000).
    async fn verification_stats(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The first moment counted.")] from: DateTime<Utc>,
        #[graphql(desc = "The end of the range, exclusive; must be after `from`.")] to: DateTime<
            Utc,
        >,
        #[graphql(
            desc = "How to group the codes: COUNTRY (the default) or RANGE (the fraud guard's ranges).",
            default_with = "VerificationGrouping::Country"
        )]
        group_by: VerificationGrouping,
        #[graphql(
            desc = "How many groups to return: 1 to 1,000, default 100.",
            default = 100
        )]
        first: i32,
    ) -> ApiResult<Vec<VerificationBucket>> {
        require_role(ctx, &[Role::Admin])?;
        if from >= to {
            return Err(ApiError::bad_input("`from` must be before `to`."));
        }
        if !(1..=1000).contains(&first) {
            return Err(ApiError::bad_input("`first` must be from 1 to 1000."));
        }
        let grouping = match group_by {
            VerificationGrouping::Country => stats::Grouping::Country,
            VerificationGrouping::Range => stats::Grouping::Range,
        };
        let buckets = handle::<Verifier>(ctx)?.stats((from, to), grouping).await?;
        Ok(buckets
            .into_iter()
            .take(first as usize)
            .map(|b| VerificationBucket {
                refused: b.refused_total(),
                conversion: (b.sent > 0).then(|| b.confirmed as f64 / b.sent as f64),
                key: b.key,
                sent: b.sent,
                confirmed: b.confirmed,
                refused_by_reason: b
                    .refused
                    .into_values()
                    .map(|(reason, count)| RefusalCount {
                        reason: reason.into(),
                        count,
                    })
                    .collect(),
            })
            .collect())
    }

    /// The verification fraud guard now (admin): its settings and the ranges it holds.
    async fn verification_guard(&self, ctx: &Context<'_>) -> ApiResult<VerificationGuard> {
        require_role(ctx, &[Role::Admin])?;
        let verifier = handle::<Verifier>(ctx)?;
        let (enabled, window, min_sample, min_conversion) = verifier.guard_settings();
        let held = verifier
            .held_ranges(handle::<Outbox>(ctx)?.now(), 100)
            .await?;
        Ok(VerificationGuard {
            enabled,
            window_seconds: window.as_secs() as i64,
            min_sample: i32::try_from(min_sample).unwrap_or(i32::MAX),
            min_conversion,
            held_ranges: held
                .into_iter()
                .map(|(range, state)| VerificationRange::new(range, state))
                .collect(),
        })
    }

    /// What the verification fraud guard knows of a range of numbers now (admin): codes sent and
    /// entered in its window, and whether it holds. `range` is `+`, the country code and the leading
    /// digits (for +1 the area code and exchange, `+1212555`; elsewhere three digits, `+44770`).
    async fn verification_range(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "The range: for +1 numbers the country code, area code and exchange (+1212555); elsewhere the country code and three digits (+44740)."
        )]
        range: String,
    ) -> ApiResult<VerificationRange> {
        require_role(ctx, &[Role::Admin])?;
        let range = valid_range(&range)?;
        let verifier = handle::<Verifier>(ctx)?;
        let state = verifier
            .range_state(&range, handle::<Outbox>(ctx)?.now())
            .await?;
        Ok(VerificationRange::new(range, state))
    }
}
