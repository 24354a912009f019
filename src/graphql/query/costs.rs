use async_graphql::{Context, Object};
use chrono::{DateTime, Utc};

use crate::{
    auth::Role,
    error::{ApiError, ApiResult},
    graphql::{
        app, require_role,
        types::costs::{CostGrouping, CostReport},
    },
    sms::cost,
};

#[derive(Default)]
pub struct CostsQuery;

#[Object]
impl CostsQuery {
    /// What texting costs over the UTC days from `from` to `to` (exclusive), split by `groupBy`, with the
    /// month to date, the limit, what remains and a projection for the month's end. For admins. It reads
    /// a rollup kept in step with the log, so it answers as fast over millions of messages.
    async fn sms_costs(
        &self,
        ctx: &Context<'_>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        group_by: Option<CostGrouping>,
    ) -> ApiResult<CostReport> {
        require_role(ctx, &[Role::Admin])?;
        if to <= from {
            return Err(ApiError::bad_input("`to` must be after `from`."));
        }
        if to - from > chrono::Duration::days(400) {
            return Err(ApiError::bad_input("Ask for at most 400 days at a time."));
        }
        let app = app(ctx)?;
        let report = cost::report(
            &app.db,
            from,
            to,
            group_by.map(Into::into),
            app.config.costs.monthly_limit,
            app.clock.now(),
        )
        .await?;
        Ok(report.into())
    }
}
