use async_graphql::{Context, ID, Object};

use crate::{
    auth::Role,
    error::{ApiError, ApiResult},
    graphql::{handle, require_role, types::recipient::Recipient},
    recipients::Recipients,
};

#[derive(Default)]
pub struct RecipientQuery;

#[Object]
impl RecipientQuery {
    /// The signed-in user's SMS settings. The first call creates them with everything off.
    async fn me(&self, ctx: &Context<'_>) -> ApiResult<Recipient> {
        let viewer = require_role(ctx, &[Role::User])?;
        let profile = handle::<Recipients>(ctx)?.ensure(&viewer.user_id).await?;
        Ok(Recipient(profile))
    }

    /// One user's SMS settings. A user may read only their own; the back end and admins any.
    async fn recipient(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The app's user id. A user may only name themselves.")] user_id: ID,
    ) -> ApiResult<Recipient> {
        let viewer = require_role(ctx, &[Role::User, Role::Service, Role::Admin])?;
        if viewer.role == Role::User && viewer.user_id != user_id.as_str() {
            return Err(ApiError::Forbidden(
                "You can only read your own SMS settings; query `me` instead.".into(),
            ));
        }
        let recipients = handle::<Recipients>(ctx)?;
        match recipients.load(&user_id).await? {
            Some(profile) => Ok(Recipient(profile)),
            None if viewer.role == Role::User => {
                Ok(Recipient(recipients.ensure(&viewer.user_id).await?))
            }
            None => Err(ApiError::NotFound(format!(
                "No recipient with user id '{}'; push it with upsertRecipient first.",
                user_id.as_str()
            ))),
        }
    }
}
