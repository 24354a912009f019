use async_graphql::{Context, ID, Object};

use crate::{
    auth::Role,
    error::{ApiError, ApiResult},
    graphql::{handle, query::operations::SmsQueue, require_role, types::sms::SmsLog},
    outbox::{Outbox, actions::ActionError},
};

impl From<ActionError> for ApiError {
    fn from(e: ActionError) -> Self {
        match e {
            ActionError::NotFound(_) => ApiError::NotFound(e.to_string()),
            ActionError::WrongState(why) => ApiError::BadUserInput(why),
            ActionError::Send(send) => send.into(),
            ActionError::Db(db) => db.into(),
        }
    }
}

fn message_id(id: &ID) -> ApiResult<i64> {
    id.parse()
        .map_err(|_| ApiError::bad_input(format!("'{}' is not an SmsLog id.", id.as_str())))
}

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
        outbox.resume_sending_for(&viewer.user_id).await?;
        SmsQueue::now(outbox).await
    }

    /// Cancels a message that waits to be sent (admin): `PENDING`, also between retries, and one held
    /// for quiet hours. It becomes `CANCELLED` and its reserved cost goes back to the budget. A message
    /// being sent, sent or settled cannot be cancelled (`BAD_USER_INPUT` says its status).
    async fn cancel_sms(&self, ctx: &Context<'_>, id: ID) -> ApiResult<SmsLog> {
        let viewer = require_role(ctx, &[Role::Admin])?;
        let row = handle::<Outbox>(ctx)?
            .cancel(message_id(&id)?, &viewer.user_id)
            .await?;
        Ok(SmsLog(row))
    }

    /// Sends a `FAILED`, `UNKNOWN` or `EXPIRED` message again (admin): a new message with the same text
    /// to the same user or number, linked by `retryOf`, decided by the same policy as any send (it may
    /// be `BLOCKED`, e.g. after an opt-out). A verification code is never sent again.
    async fn retry_sms(&self, ctx: &Context<'_>, id: ID) -> ApiResult<SmsLog> {
        let viewer = require_role(ctx, &[Role::Admin])?;
        let row = handle::<Outbox>(ctx)?
            .retry(message_id(&id)?, &viewer.user_id)
            .await?;
        Ok(SmsLog(row))
    }
}
