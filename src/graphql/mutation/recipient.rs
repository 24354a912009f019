use async_graphql::{Context, Object};

use crate::{
    auth::Role,
    error::{ApiError, ApiResult},
    graphql::{
        app, request, require_role,
        types::recipient::{Recipient, RecipientInput, SmsOptInAction, SmsPreferencesInput},
    },
    recipients::{self, RecipientError},
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
        let app = app(ctx)?;
        let profile = recipients::set_phone(
            &app.db,
            &viewer.user_id,
            &phone_number,
            app.config.default_phone_region,
            app.clock.now(),
        )
        .await?;
        if profile.recipient.timezone.is_none() {
            // Without a zone from the app, the number says where the user is: a pending streak alert
            // follows it to the new number's local evening.
            crate::reminders::facts::reschedule_streak(app, &viewer.user_id).await?;
        }
        Ok(Recipient(profile))
    }

    /// Records the user's answer to the SMS opt-in modal. OPT_IN turns the master switch on and
    /// records consent with the time and the client's IP address.
    async fn sms_opt_in(&self, ctx: &Context<'_>, action: SmsOptInAction) -> ApiResult<Recipient> {
        let viewer = require_role(ctx, &[Role::User])?;
        let app = app(ctx)?;
        let ip = request(ctx)?.client_ip.map(|ip| ip.to_string());
        let profile =
            recipients::answer_opt_in(&app.db, &viewer.user_id, action.into(), ip, app.clock.now())
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
        let app = app(ctx)?;
        let ip = request(ctx)?.client_ip.map(|ip| ip.to_string());
        let profile = recipients::update_preferences(
            &app.db,
            &viewer.user_id,
            input.into(),
            ip,
            app.clock.now(),
        )
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
        let app = app(ctx)?;
        let timezone_changed = input.timezone.is_some();
        let profile = recipients::upsert(
            &app.db,
            recipients::RecipientFacts {
                user_id: user_id.clone(),
                timezone: input.timezone,
                signed_up_at: input.signed_up_at,
            },
            app.clock.now(),
        )
        .await?;
        if timezone_changed {
            // A pending streak alert follows the user to their new local evening.
            crate::reminders::facts::reschedule_streak(app, &user_id).await?;
        }
        Ok(Recipient(profile))
    }
}
