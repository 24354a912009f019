mod operations;
mod recipient;
mod reminders;
mod sms;
pub(crate) mod verification;

use async_graphql::MergedObject;

#[derive(MergedObject, Default)]
pub struct Mutation(
    operations::OperationsMutation,
    recipient::RecipientMutation,
    reminders::RemindersMutation,
    sms::SmsMutation,
    verification::VerificationMutation,
);
