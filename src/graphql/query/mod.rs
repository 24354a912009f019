mod recipient;

use async_graphql::MergedObject;

#[derive(MergedObject, Default)]
pub struct Query(recipient::RecipientQuery);
