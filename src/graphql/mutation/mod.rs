mod recipient;
mod reminders;
mod sms;
mod verification;

use async_graphql::MergedObject;

#[derive(MergedObject, Default)]
pub struct Mutation(
    recipient::RecipientMutation,
    reminders::RemindersMutation,
    sms::SmsMutation,
    verification::VerificationMutation,
);
