use async_graphql::{Context, ID, MaybeUndefined, Object};
use chrono::{DateTime, Utc};

use crate::{
    auth::Role,
    error::{ApiError, ApiResult},
    graphql::{
        handle, request, require_role,
        types::{
            bulk::RecipientAnswer,
            recipient::{Recipient, RecipientInput, SmsOptInAction, SmsPreferencesInput},
            sms::MessageType,
        },
    },
    recipients::{self, RecipientError, Recipients},
};

impl From<RecipientError> for ApiError {
    fn from(e: RecipientError) -> Self {
        match e {
            RecipientError::InvalidPhone(_)
            | RecipientError::InvalidTimezone(_)
            | RecipientError::UnknownDisclosure(_)
            | RecipientError::DisclosureRequired
            | RecipientError::Invalid(_) => ApiError::BadUserInput(e.to_string()),
            RecipientError::Db(db) => db.into(),
        }
    }
}

/// Where an opt-in was given, from the request and the client's words.
fn opt_in_context(
    ctx: &Context<'_>,
    disclosure_version: Option<String>,
    page: Option<String>,
) -> ApiResult<recipients::OptInContext> {
    let request = request(ctx)?;
    Ok(recipients::OptInContext {
        ip: request.client_ip.map(|ip| ip.to_string()),
        disclosure_version: disclosure_version
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty()),
        page: page.map(|p| p.trim().to_owned()).filter(|p| !p.is_empty()),
        user_agent: request.user_agent.clone(),
    })
}

/// The person's own caps, checked against the operator's (`caps::check_own`).
fn own_caps(
    operator: &[(crate::store::MessageType, recipients::caps::Cap)],
    input: &[crate::graphql::types::recipient::FrequencyCapInput],
) -> ApiResult<Vec<(crate::store::MessageType, recipients::caps::Cap)>> {
    let caps = input
        .iter()
        .map(|c| {
            let count = u32::try_from(c.count).unwrap_or(0);
            let hours = u32::try_from(c.period_hours).unwrap_or(0);
            recipients::caps::Cap::new(count, hours)
                .map(|cap| (c.message_type.into(), cap))
                .map_err(|e| ApiError::bad_input(format!("frequencyCaps: {e}.")))
        })
        .collect::<ApiResult<Vec<_>>>()?;
    recipients::caps::check_own(operator, &caps)
        .map_err(|e| ApiError::bad_input(format!("frequencyCaps: {e}.")))?;
    Ok(caps)
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
        #[graphql(
            desc = "The number in any usual writing (\"(415) 555-1234\", \"+44 20 7946 0958\"); \"\" removes it."
        )]
        phone_number: String,
    ) -> ApiResult<Recipient> {
        let viewer = require_role(ctx, &[Role::User])?;
        let recipients = handle::<Recipients>(ctx)?;
        let profile = recipients.set_phone(&viewer.user_id, &phone_number).await?;
        Ok(Recipient(profile))
    }

    /// Records the user's answer to the SMS opt-in modal. OPT_IN turns the master switch on and
    /// records consent with the time, the client's IP address and user agent, the page and the version
    /// of the disclosure the person was shown (`disclosureVersion`, a published version; required in
    /// production).
    async fn sms_opt_in(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What the user chose in the modal.")] action: SmsOptInAction,
        #[graphql(
            desc = "The version of the consent disclosure shown in the modal (see consentDisclosure). Required for OPT_IN in production."
        )]
        disclosure_version: Option<String>,
        #[graphql(desc = "The page of the app the modal was shown on (up to 512 characters).")]
        page: Option<String>,
    ) -> ApiResult<Recipient> {
        let viewer = require_role(ctx, &[Role::User])?;
        let context = opt_in_context(ctx, disclosure_version, page)?;
        let profile = handle::<Recipients>(ctx)?
            .answer_opt_in(&viewer.user_id, action.into(), context)
            .await?;
        Ok(Recipient(profile))
    }

    /// Changes the master switch and categories; omitted fields keep their value.
    async fn update_sms_preferences(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The settings to change; omitted ones keep their value.")]
        input: SmsPreferencesInput,
    ) -> ApiResult<Recipient> {
        let viewer = require_role(ctx, &[Role::User])?;
        let context = opt_in_context(ctx, input.disclosure_version.clone(), input.page.clone())?;
        let mut change: recipients::PreferencesChange = (&input).into();
        change.quiet_hours = match &input.quiet_hours {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => Some(None),
            MaybeUndefined::Value(q) => Some(Some(
                recipients::rules::quiet_hours(&q.start, &q.end).map_err(ApiError::bad_input)?,
            )),
        };
        if let Some(tag) = &input.locale {
            change.locale = Some(
                crate::locale::texts::Language::parse(tag)
                    .map_err(|e| ApiError::bad_input(format!("locale: {e}.")))?,
            );
        }
        if let Some(caps) = &input.frequency_caps {
            let operator = &handle::<crate::outbox::Outbox>(ctx)?.costs.frequency_caps;
            change.frequency_caps = Some(own_caps(operator, caps)?);
        }
        let profile = handle::<Recipients>(ctx)?
            .update_preferences(&viewer.user_id, change, context)
            .await?;
        Ok(Recipient(profile))
    }

    /// Pauses the signed-in person's promotional texts of `messageTypes` (all of them when omitted or
    /// empty) until `until` (in the future, at most 90 days ahead). It ends by itself; a STOP still
    /// stops everything, and codes and security alerts are never snoozed.
    async fn snooze_sms(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "When texts start again (at most 90 days ahead).")] until: DateTime<Utc>,
        #[graphql(desc = "The promotional types to pause; omitted or empty: all of them.")]
        message_types: Option<Vec<MessageType>>,
    ) -> ApiResult<Recipient> {
        let viewer = require_role(ctx, &[Role::User])?;
        let types = message_types
            .unwrap_or_default()
            .into_iter()
            .map(Into::into)
            .collect();
        let profile = handle::<Recipients>(ctx)?
            .snooze(&viewer.user_id, Some((until, types)))
            .await?;
        Ok(Recipient(profile))
    }

    /// Ends the signed-in person's snooze now.
    async fn unsnooze_sms(&self, ctx: &Context<'_>) -> ApiResult<Recipient> {
        let viewer = require_role(ctx, &[Role::User])?;
        let profile = handle::<Recipients>(ctx)?
            .snooze(&viewer.user_id, None)
            .await?;
        Ok(Recipient(profile))
    }

    /// Creates or updates a user's facts (number, time zone, sign-up time, language). For the app's
    /// back end.
    async fn upsert_recipient(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The user's facts as the app knows them.")] input: RecipientInput,
    ) -> ApiResult<Recipient> {
        let viewer = require_role(ctx, &[Role::Service, Role::Admin])?;
        let profile = handle::<Recipients>(ctx)?.upsert(input.into()).await?;
        let target = profile.recipient.user_id.clone();
        crate::graphql::audit_admin(ctx, viewer, ("upsertRecipient", &target), None).await?;
        Ok(Recipient(profile))
    }

    /// `upsertRecipient` for up to 1,000 users in one call and one transaction. Each input gets its
    /// own answer in its place: the recipient, or the error that refused it (nothing of it written);
    /// more than 1,000 inputs, or none, is BAD_USER_INPUT for the whole call.
    async fn upsert_recipients(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The users' facts, 1 to 1,000.")] inputs: Vec<RecipientInput>,
    ) -> ApiResult<Vec<RecipientAnswer>> {
        let viewer = require_role(ctx, &[Role::Service, Role::Admin])?;
        if inputs.is_empty() || inputs.len() > recipients::bulk::MAX_BULK {
            return Err(ApiError::bad_input(format!(
                "inputs: 1 to {} users per call (this one has {}); split the list.",
                recipients::bulk::MAX_BULK,
                inputs.len()
            )));
        }
        let ids: Vec<String> = inputs.iter().map(|i| i.user_id.0.clone()).collect();
        let answers = handle::<Recipients>(ctx)?
            .upsert_many(inputs.into_iter().map(Into::into).collect())
            .await?;
        let detail = Some(format!("{} users", ids.len()));
        crate::graphql::audit_admin(ctx, viewer, ("upsertRecipients", "bulk"), detail).await?;
        Ok(answers
            .into_iter()
            .zip(ids)
            .enumerate()
            .map(|(index, (answer, user_id))| match answer {
                Ok(profile) => RecipientAnswer {
                    index: index as i32,
                    user_id: ID(user_id),
                    recipient: Some(Recipient(profile)),
                    error: None,
                },
                Err(e) => RecipientAnswer {
                    index: index as i32,
                    user_id: ID(user_id),
                    recipient: None,
                    error: Some(ApiError::from(e).into()),
                },
            })
            .collect())
    }
}
