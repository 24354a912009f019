use async_graphql::{Context, ID, Object};

use crate::{
    auth::Role,
    error::{ApiError, ApiResult},
    graphql::{
        handle, require_role,
        types::webhooks::{
            WebhookDelivery, WebhookEndpoint, WebhookEndpointSecret, WebhookEventType,
        },
    },
    webhooks::{WebhookError, Webhooks},
};

impl From<WebhookError> for ApiError {
    fn from(e: WebhookError) -> Self {
        match e {
            WebhookError::BadUrl(_) => ApiError::BadUserInput(e.to_string()),
            WebhookError::NotFound(_) | WebhookError::DeliveryNotFound(_) => {
                ApiError::NotFound(e.to_string())
            }
            WebhookError::ReplayRefused(_) => ApiError::Conflict(e.to_string()),
            WebhookError::Db(db) => db.into(),
        }
    }
}

fn numeric(id: &ID, what: &str) -> ApiResult<i64> {
    id.parse()
        .map_err(|_| ApiError::bad_input(format!("'{}' is not a {what} id.", id.as_str())))
}

#[derive(Default)]
pub struct WebhooksMutation;

#[Object]
impl WebhooksMutation {
    /// Registers an endpoint for signed webhooks (admin). Answers its secret (`whsec_...`) once. The
    /// address must be https and reach the public internet. Each event is posted with `webhook-id`,
    /// `webhook-timestamp` and `webhook-signature` (Standard Webhooks), retried with backoff for up to
    /// three days; an endpoint failing for three days is disabled.
    async fn create_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Where to post: an https:// address on the public internet.")] url: String,
        #[graphql(desc = "The events it receives (at least one).")] event_types: Vec<
            WebhookEventType,
        >,
    ) -> ApiResult<WebhookEndpointSecret> {
        let viewer = require_role(ctx, &[Role::Admin])?;
        if event_types.is_empty() {
            return Err(ApiError::bad_input(
                "eventTypes must name at least one event, such as MESSAGE_UPDATED.",
            ));
        }
        let mut names: Vec<&str> = event_types.iter().map(|t| t.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        let (endpoint, secret) = handle::<Webhooks>(ctx)?
            .create_endpoint(&url, &names, &viewer.user_id)
            .await?;
        Ok(WebhookEndpointSecret {
            endpoint: WebhookEndpoint(endpoint),
            secret,
        })
    }

    /// Turns an endpoint on or off (admin). Turning it on clears its failing streak.
    async fn set_webhook_endpoint_enabled(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The endpoint's id.")] id: ID,
        #[graphql(desc = "true: webhooks go to it; false: they stop.")] enabled: bool,
    ) -> ApiResult<WebhookEndpoint> {
        let viewer = require_role(ctx, &[Role::Admin])?;
        let id = numeric(&id, "webhook endpoint")?;
        let endpoint = handle::<Webhooks>(ctx)?
            .set_enabled(id, enabled, &viewer.user_id)
            .await?;
        Ok(WebhookEndpoint(endpoint))
    }

    /// Gives an endpoint a new secret (admin), answered once; webhooks are signed with it from now on.
    async fn rotate_webhook_secret(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The endpoint's id.")] id: ID,
    ) -> ApiResult<WebhookEndpointSecret> {
        let viewer = require_role(ctx, &[Role::Admin])?;
        let id = numeric(&id, "webhook endpoint")?;
        let (endpoint, secret) = handle::<Webhooks>(ctx)?
            .rotate_secret(id, &viewer.user_id)
            .await?;
        Ok(WebhookEndpointSecret {
            endpoint: WebhookEndpoint(endpoint),
            secret,
        })
    }

    /// Deletes an endpoint with its deliveries (admin).
    async fn delete_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The endpoint's id.")] id: ID,
    ) -> ApiResult<bool> {
        let viewer = require_role(ctx, &[Role::Admin])?;
        let id = numeric(&id, "webhook endpoint")?;
        handle::<Webhooks>(ctx)?
            .delete_endpoint(id, &viewer.user_id)
            .await?;
        Ok(true)
    }

    /// Posts a delivery again now, under the same event id (admin), whatever became of it.
    async fn replay_webhook_delivery(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The delivery's id (WebhookDelivery.id).")] id: ID,
    ) -> ApiResult<WebhookDelivery> {
        let viewer = require_role(ctx, &[Role::Admin])?;
        let id = numeric(&id, "webhook delivery")?;
        let delivery = handle::<Webhooks>(ctx)?.replay(id, &viewer.user_id).await?;
        Ok(WebhookDelivery(delivery))
    }
}
