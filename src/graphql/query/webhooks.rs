use async_graphql::{
    Context, ID, Object,
    connection::{Connection, OpaqueCursor},
};

use super::sms::{connection, page};
use crate::{
    auth::Role,
    error::{ApiError, ApiResult},
    graphql::{
        handle, require_role,
        types::webhooks::{WebhookDelivery, WebhookEndpoint},
    },
    webhooks::Webhooks,
};

#[derive(Default)]
pub struct WebhooksQuery;

#[Object]
impl WebhooksQuery {
    /// The registered webhook endpoints, oldest first (admin). Their secrets are never shown again.
    async fn webhook_endpoints(&self, ctx: &Context<'_>) -> ApiResult<Vec<WebhookEndpoint>> {
        require_role(ctx, &[Role::Admin])?;
        let rows = handle::<Webhooks>(ctx)?.endpoints().await?;
        Ok(rows.into_iter().map(WebhookEndpoint).collect())
    }

    /// An endpoint's deliveries, newest first, each with its attempts (admin).
    #[graphql(complexity = "super::super::page_items(first) * child_complexity")]
    async fn webhook_deliveries(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The endpoint's id.")] endpoint_id: ID,
        #[graphql(desc = "How many deliveries to return: 1 to 100, default 20.")] first: Option<
            i32,
        >,
        #[graphql(desc = "The endCursor of the previous page, to read the next (older) one.")]
        after: Option<String>,
    ) -> ApiResult<Connection<OpaqueCursor<i64>, WebhookDelivery>> {
        require_role(ctx, &[Role::Admin])?;
        let endpoint_id: i64 = endpoint_id.parse().map_err(|_| {
            ApiError::bad_input(format!(
                "'{}' is not a webhook endpoint id.",
                endpoint_id.as_str()
            ))
        })?;
        let (first, before_id) = page(first, after)?;
        let rows = handle::<Webhooks>(ctx)?
            .deliveries(endpoint_id, before_id, first as u64 + 1)
            .await?;
        Ok(connection(rows, first, before_id, |row| {
            (row.id, WebhookDelivery(row))
        }))
    }
}
