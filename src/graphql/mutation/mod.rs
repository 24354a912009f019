mod recipient;
mod sms;
mod verification;

use async_graphql::MergedObject;

#[derive(MergedObject, Default)]
pub struct Mutation(
    recipient::RecipientMutation,
    sms::SmsMutation,
    verification::VerificationMutation,
);
