use async_graphql::{Context, Object};

use crate::{
    auth::Role,
    error::ApiResult,
    graphql::{handle, query::operations::SmsQueue, require_role},
    outbox::Outbox,
};

#[derive(Default)]
pub struct OperationsMutation;

#[Object]
impl OperationsMutation {
    /// Resumes sending now after an account-level pause (admin), without waiting for the next probe;
    /// answers the queue as it is then. If the account is still refused, the next send pauses again.
    /// Does nothing when sending is not paused.
    async fn resume_sending(&self, ctx: &Context<'_>) -> ApiResult<SmsQueue> {
        let viewer = require_role(ctx, &[Role::Admin])?;
        let outbox = handle::<Outbox>(ctx)?;
        outbox
            .resume_sending(&format!("admin {}", viewer.user_id))
            .await?;
        SmsQueue::now(outbox).await
    }
}
