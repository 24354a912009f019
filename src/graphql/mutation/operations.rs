use async_graphql::{Context, ID, Object};

use crate::{
    auth::Role,
    error::{ApiError, ApiResult},
    graphql::{
        handle,
        query::{consent::SmsOptOut, operations::SmsQueue},
        require_role,
        types::sms::SmsLog,
    },
    inbound::Inbound,
    locale::phone,
    outbox::{Outbox, actions::ActionError, provider::SmsProvider},
    recipients::Recipients,
};

/// `phone` in E.164, or why not.
fn number(ctx: &Context<'_>, phone: &str) -> ApiResult<phone::E164> {
    let region = handle::<Recipients>(ctx)?.default_region();
    phone::normalize(phone, region).map_err(|e| ApiError::bad_input(e.to_string()))
}

/// Copies an opt-out change to the provider's list first: a refusal there changes nothing here.
async fn sync(ctx: &Context<'_>, e164: &phone::E164, opted_out: bool) -> ApiResult<()> {
    let provider = handle::<std::sync::Arc<dyn SmsProvider>>(ctx)?;
    provider
        .sync_opt_out(e164, opted_out)
        .await
        .map(|_| ())
        .map_err(|e| {
            ApiError::ProviderRefused(format!(
                "AWS refused to change its opt-out list ({}: {}); the service's list is unchanged. Check SMS_OPT_OUT_LIST and the permission sms-voice:{}OptedOutNumber, then try again.",
                e.code,
                e.message,
                if opted_out { "Put" } else { "Delete" }
            ))
        })
}

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

    /// Puts a number (any usual writing) on the opt-out list (admin, source `ADMIN`): no promotion goes
    /// to it until it is taken off or the person texts START. With `SMS_OPT_OUT_LIST`, AWS's list gets
    /// it first; AWS refusing changes nothing here (`PROVIDER_REFUSED`). Recorded with `note`.
    async fn add_opt_out(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The number to put on the list, in any usual writing.")] phone: String,
        #[graphql(desc = "Why, for the audit trail (optional).")] note: Option<String>,
    ) -> ApiResult<SmsOptOut> {
        let viewer = require_role(ctx, &[Role::Admin])?;
        let e164 = number(ctx, &phone)?;
        sync(ctx, &e164, true).await?;
        let note = note.as_deref().map(str::trim).filter(|n| !n.is_empty());
        let entry = handle::<Inbound>(ctx)?
            .admin_add_opt_out(&e164, note, &viewer.user_id)
            .await?;
        Ok(SmsOptOut(entry))
    }

    /// Takes a number off the opt-out list (admin). `note` must say how the person asked to come back
    /// (a number that texted STOP may be texted again only at their request). With `SMS_OPT_OUT_LIST`,
    /// AWS's list drops it first; AWS refusing changes nothing here. `NOT_FOUND` when it is not on the
    /// list. Answers true.
    async fn remove_opt_out(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The number to take off the list, in any usual writing.")] phone: String,
        #[graphql(desc = "How the person asked to come back (required), for the audit trail.")]
        note: String,
    ) -> ApiResult<bool> {
        let viewer = require_role(ctx, &[Role::Admin])?;
        let note = note.trim();
        if note.is_empty() {
            return Err(ApiError::bad_input(
                "Say in the note how the person asked to come back, e.g. 'asked by email on 2 March'.",
            ));
        }
        let e164 = number(ctx, &phone)?;
        let inbound = handle::<Inbound>(ctx)?;
        if inbound.opt_out(&e164).await?.is_none() {
            return Err(ApiError::NotFound(format!(
                "{} is not on the opt-out list.",
                phone::mask(&e164)
            )));
        }
        sync(ctx, &e164, false).await?;
        if !inbound
            .admin_remove_opt_out(&e164, note, &viewer.user_id)
            .await?
        {
            return Err(ApiError::NotFound(format!(
                "{} is not on the opt-out list.",
                phone::mask(&e164)
            )));
        }
        Ok(true)
    }

    /// Cancels a message that waits to be sent (admin): `PENDING`, also between retries, and one held
    /// for quiet hours. It becomes `CANCELLED` and its reserved cost goes back to the budget. A message
    /// being sent, sent or settled cannot be cancelled (`BAD_USER_INPUT` says its status).
    async fn cancel_sms(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The message's id (SmsLog.id).")] id: ID,
    ) -> ApiResult<SmsLog> {
        let viewer = require_role(ctx, &[Role::Admin])?;
        let row = handle::<Outbox>(ctx)?
            .cancel(message_id(&id)?, &viewer.user_id)
            .await?;
        Ok(SmsLog(row))
    }

    /// Sends a `FAILED`, `UNKNOWN` or `EXPIRED` message again (admin): a new message with the same text
    /// to the same user or number, linked by `retryOf`, decided by the same policy as any send (it may
    /// be `BLOCKED`, e.g. after an opt-out). A verification code is never sent again.
    async fn retry_sms(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The id of the FAILED, UNKNOWN or EXPIRED message to send again.")] id: ID,
    ) -> ApiResult<SmsLog> {
        let viewer = require_role(ctx, &[Role::Admin])?;
        let row = handle::<Outbox>(ctx)?
            .retry(message_id(&id)?, &viewer.user_id)
            .await?;
        Ok(SmsLog(row))
    }
}
