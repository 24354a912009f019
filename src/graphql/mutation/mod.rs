pub(crate) mod asks;
mod operations;
mod privacy;
mod recipient;
mod reminders;
mod sms;
pub(crate) mod verification;
mod webhooks;

use async_graphql::MergedObject;

/// What can be changed: settings, verification, sends, the reminder engine's facts and the operators' actions.
#[derive(MergedObject, Default)]
pub struct Mutation(
    operations::OperationsMutation,
    privacy::PrivacyMutation,
    recipient::RecipientMutation,
    reminders::RemindersMutation,
    sms::SmsMutation,
    verification::VerificationMutation,
    webhooks::WebhooksMutation,
);
