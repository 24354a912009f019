mod recipient;
mod sms;

use async_graphql::MergedObject;

#[derive(MergedObject, Default)]
pub struct Mutation(recipient::RecipientMutation, sms::SmsMutation);
