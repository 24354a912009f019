pub(crate) mod consent;
mod costs;
mod guard;
pub(crate) mod operations;
mod preview;
mod recipient;
mod sms;
mod webhooks;

use async_graphql::MergedObject;

/// What can be read: the signed-in user's settings, messages, costs, consent records, the queue and the audit trail.
#[derive(MergedObject, Default)]
pub struct Query(
    recipient::RecipientQuery,
    sms::SmsQuery,
    costs::CostsQuery,
    consent::ConsentQuery,
    operations::OperationsQuery,
    guard::GuardQuery,
    webhooks::WebhooksQuery,
    preview::PreviewQuery,
);
