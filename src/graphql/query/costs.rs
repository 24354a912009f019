use async_graphql::{Context, Object};
use chrono::{DateTime, Utc};

use crate::{
    auth::Role,
    billing::Billing,
    error::{ApiError, ApiResult},
    graphql::{
        handle, require_role,
        types::costs::{CostGrouping, CostReport},
    },
};

#[derive(Default)]
pub struct CostsQuery;

#[Object]
impl CostsQuery {
    /// What texting costs over the UTC days from `from` to `to` (exclusive), split by `groupBy`, with the
    /// month to date, the limit, what remains and a projection for the month's end. For admins. It reads
    /// a rollup kept in step with the log, so it answers as fast over millions of messages. `splitBy`
    /// splits each bucket again (`groupBy: DAY, splitBy: MESSAGE_TYPE`: each day's cost by type).
    async fn sms_costs(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The first moment counted (UTC days: the day it falls on).")]
        from: DateTime<Utc>,
        #[graphql(desc = "The end of the range, exclusive; must be after `from`.")] to: DateTime<
            Utc,
        >,
        #[graphql(
            desc = "How to split the range into buckets (DAY, MESSAGE_TYPE, STATUS or COUNTRY); none gives totals only."
        )]
        group_by: Option<CostGrouping>,
        #[graphql(desc = "Splits each bucket again by a second grouping; needs groupBy.")]
        split_by: Option<CostGrouping>,
    ) -> ApiResult<CostReport> {
        require_role(ctx, &[Role::Admin])?;
        if to <= from {
            return Err(ApiError::bad_input("`to` must be after `from`."));
        }
        if split_by.is_some() && group_by.is_none() {
            return Err(ApiError::bad_input(
                "`splitBy` splits the buckets of `groupBy`: give `groupBy` too.",
            ));
        }
        if split_by.is_some() && split_by == group_by {
            return Err(ApiError::bad_input("`splitBy` must differ from `groupBy`."));
        }
        if to - from > chrono::Duration::days(400) {
            return Err(ApiError::bad_input("Ask for at most 400 days at a time."));
        }
        let grouping = (group_by.map(Into::into), split_by.map(Into::into));
        let billing = handle::<Billing>(ctx)?;
        let report = billing.report(from, to, grouping).await?;
        let saved = billing.savings(from, to).await?;
        let mut report = CostReport::new(report, billing.fixed_costs());
        report.savings = crate::graphql::types::savings::CostSavings::from_rows(&saved);
        Ok(report)
    }
}
