use async_graphql::{Context, Object};

use crate::{
    auth::Role,
    error::{ApiError, ApiResult},
    graphql::{
        handle, request, require_role,
        types::recipient::{Recipient, RecipientInput, SmsOptInAction, SmsPreferencesInput},
    },
    recipients::{self, RecipientError, Recipients},
};

impl From<RecipientError> for ApiError {
    fn from(e: RecipientError) -> Self {
        match e {
            RecipientError::InvalidPhone(_) | RecipientError::InvalidTimezone(_) => {
                ApiError::BadUserInput(e.to_string())
            }
            RecipientError::Db(db) => db.into(),
        }
    }
}

#[derive(Default)]
pub struct RecipientMutation;

#[Object]
impl RecipientMutation {
    /// Sets the signed-in user's phone number. Any usual way of writing it is accepted ("(415) 555-1234",
    /// "+44 20 7946 0958"); numbers without a country code are read in the service's default region.
    /// A different number must be verified again. `""` removes the number. Until the app pushes the
    /// user's time zone, the number's area code (or country) decides their quiet hours.
    async fn set_phone_number(
        &self,
        ctx: &Context<'_>,
        phone_number: String,
    ) -> ApiResult<Recipient> {
        let viewer = require_role(ctx, &[Role::User])?;
        let recipients = handle::<Recipients>(ctx)?;
        let profile = recipients.set_phone(&viewer.user_id, &phone_number).await?;
        Ok(Recipient(profile))
    }

    /// Records the user's answer to the SMS opt-in modal. OPT_IN turns the master switch on and
    /// records consent with the time and the client's IP address.
    async fn sms_opt_in(&self, ctx: &Context<'_>, action: SmsOptInAction) -> ApiResult<Recipient> {
        let viewer = require_role(ctx, &[Role::User])?;
        let ip = request(ctx)?.client_ip.map(|ip| ip.to_string());
        let profile = handle::<Recipients>(ctx)?
            .answer_opt_in(&viewer.user_id, action.into(), ip)
            .await?;
        Ok(Recipient(profile))
    }

    /// Changes the master switch and categories; omitted fields keep their value.
    async fn update_sms_preferences(
        &self,
        ctx: &Context<'_>,
        input: SmsPreferencesInput,
    ) -> ApiResult<Recipient> {
        let viewer = require_role(ctx, &[Role::User])?;
        let ip = request(ctx)?.client_ip.map(|ip| ip.to_string());
        let profile = handle::<Recipients>(ctx)?
            .update_preferences(&viewer.user_id, input.into(), ip)
            .await?;
        Ok(Recipient(profile))
    }

    /// Creates or updates a user's facts (time zone, sign-up time). For the app's back end.
    async fn upsert_recipient(
        &self,
        ctx: &Context<'_>,
        input: RecipientInput,
    ) -> ApiResult<Recipient> {
        require_role(ctx, &[Role::Service, Role::Admin])?;
        let user_id = input.user_id.0.trim().to_owned();
        if user_id.is_empty() || user_id.len() > 128 {
            return Err(ApiError::bad_input(
                "userId must be the app's user id: 1 to 128 characters.",
            ));
        }
        let facts = recipients::RecipientFacts {
            user_id,
            timezone: input.timezone,
            signed_up_at: input.signed_up_at,
        };
        let profile = handle::<Recipients>(ctx)?.upsert(facts).await?;
        Ok(Recipient(profile))
    }
}
