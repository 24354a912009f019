mod consent;
mod costs;
mod recipient;
mod sms;

use async_graphql::MergedObject;

#[derive(MergedObject, Default)]
pub struct Query(
    recipient::RecipientQuery,
    sms::SmsQuery,
    costs::CostsQuery,
    consent::ConsentQuery,
);
