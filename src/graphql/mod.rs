//! The GraphQL API: thin resolvers split by domain. They parse, authorise, call a domain function and
//! map its result; no SQL here.

mod codes;
pub mod limits;
pub mod mutation;
pub mod query;
pub mod subscription;
pub mod text;
pub mod types;

use std::net::IpAddr;

use async_graphql::{Context, Schema, SchemaBuilder};

use crate::{
    Handles,
    auth::{AuthError, Role, Viewer},
    error::{ApiError, ApiResult},
};

/// A cursor connection of the API (every list that grows).
type Page<T> =
    async_graphql::connection::Connection<async_graphql::connection::OpaqueCursor<i64>, T>;

pub type AppSchema = Schema<query::Query, mutation::Mutation, subscription::Subscription>;

/// Deepest selection a query may nest. The deepest legitimate query is GraphiQL's own introspection
/// query (about 13 levels); the API's own types nest 3 levels.
pub const MAX_DEPTH: usize = 16;
/// Upper bound of fields one query may select, counted through fragments.
pub const MAX_COMPLEXITY: usize = 2_000;
/// Upper bound of the items one query may ask for: a connection's fields count `first` times (its
/// default page when `first` is left out), so a thousand aliases of a large page are refused before
/// anything runs, not answered with tens of thousands of rows.
pub const MAX_ITEMS: usize = 10_000;

/// The items a page of `first` stands for in `MAX_ITEMS` (out-of-range values are refused later, by
/// the resolver; here they count as the nearest allowed size).
pub(crate) fn page_items(first: Option<i32>) -> usize {
    first.unwrap_or(20).clamp(1, 100) as usize
}

/// Per-request facts the HTTP layer hands to resolvers.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub auth: Result<Viewer, AuthError>,
    /// The client's address: the socket peer, or `X-Forwarded-For` when the peer is a trusted proxy.
    pub client_ip: Option<IpAddr>,
    /// The browser's `User-Agent`, kept with a consent given in the app.
    pub user_agent: Option<String>,
}

/// The schema without its data: enough for `sms-notify schema`.
pub fn schema_builder()
-> SchemaBuilder<query::Query, mutation::Mutation, subscription::Subscription> {
    Schema::build(
        query::Query::default(),
        mutation::Mutation::default(),
        subscription::Subscription,
    )
    .limit_depth(MAX_DEPTH)
    .limit_complexity(MAX_ITEMS)
    .extension(limits::ValidationOffWorkers)
    .extension(codes::Guard)
    .override_output_type_description::<chrono::DateTime<chrono::Utc>>(
        types::scalars::DATE_TIME_DESCRIPTION,
    )
    .override_output_type_description::<rust_decimal::Decimal>(types::scalars::DECIMAL_DESCRIPTION)
    .override_output_type_description::<Page<types::sms::SmsLog>>(
        "A page of messages, newest first: `nodes` (or `edges` with their cursors) and `pageInfo`; pass `pageInfo.endCursor` as `after` for the next page.",
    )
    .override_output_type_description::<Page<types::sms::SmsReply>>(
        "A page of replies, newest first; pass `pageInfo.endCursor` as `after` for the next page.",
    )
    .override_output_type_description::<Page<query::consent::ConsentEvent>>(
        "A page of consent records, newest first; pass `pageInfo.endCursor` as `after` for the next page.",
    )
    .override_output_type_description::<Page<query::operations::AdminAction>>(
        "A page of the audit trail, newest first; pass `pageInfo.endCursor` as `after` for the next page.",
    )
    .override_output_type_description::<Page<types::webhooks::WebhookDelivery>>(
        "A page of webhook deliveries, newest first; pass `pageInfo.endCursor` as `after` for the next page.",
    )
    .override_output_type_description::<Page<query::operations::ReminderRunRecord>>(
        "A page of reminder scan records, newest first; pass `pageInfo.endCursor` as `after` for the next page.",
    )
}

/// The SDL of the API: the content of `schema.graphql`.
pub fn sdl() -> String {
    schema_builder().finish().sdl()
}

/// The schema with the handles its resolvers use, each its own piece of data.
pub fn build_schema(
    handles: &Handles,
    _config: &crate::Config,
    provider: std::sync::Arc<dyn crate::outbox::provider::SmsProvider>,
) -> AppSchema {
    schema_builder()
        .data(provider)
        .data(handles.outbox.clone())
        .data(handles.inbound.clone())
        .data(handles.recipients.clone())
        .data(handles.verifier.clone())
        .data(handles.facts.clone())
        .data(handles.scans.clone())
        .data(handles.billing.clone())
        .data(handles.privacy.clone())
        .data(handles.live.clone())
        .data(handles.webhooks.clone())
        .finish()
}

/// The handle of type `T` the schema was built with.
pub(crate) fn handle<'a, T: std::any::Any + Send + Sync>(ctx: &'a Context<'_>) -> ApiResult<&'a T> {
    ctx.data::<T>().map_err(|e| {
        ApiError::internal(anyhow::anyhow!(
            "schema built without {}: {}",
            std::any::type_name::<T>(),
            e.message
        ))
    })
}

pub(crate) fn request<'a>(ctx: &'a Context<'_>) -> ApiResult<&'a RequestContext> {
    ctx.data::<RequestContext>().map_err(|e| {
        ApiError::internal(anyhow::anyhow!(
            "request without RequestContext: {}",
            e.message
        ))
    })
}

/// The authenticated viewer, or `UNAUTHENTICATED`.
pub(crate) fn viewer<'a>(ctx: &'a Context<'_>) -> ApiResult<&'a Viewer> {
    request(ctx)?.auth.as_ref().map_err(|e| e.clone().into())
}

/// The viewer, who must have one of `roles`; otherwise `FORBIDDEN`.
/// Records a write made with an admin token in the audit trail (the app's back end writes as
/// `service`, whose writes are the app's own and not audited): the mutation, on what, and how it went.
pub(crate) async fn audit_admin(
    ctx: &Context<'_>,
    viewer: &crate::auth::Viewer,
    (mutation, target): (&str, &str),
    detail: Option<String>,
) -> ApiResult<()> {
    if viewer.role != Role::Admin {
        return Ok(());
    }
    let action: String = mutation
        .chars()
        .flat_map(|c| {
            let lower = c.to_ascii_lowercase();
            (c.is_ascii_uppercase().then_some('_').into_iter()).chain(std::iter::once(lower))
        })
        .collect();
    let action = crate::store::audit::NewAction {
        actor: &viewer.user_id,
        action: &action,
        target,
        note: None,
        detail,
    };
    handle::<crate::outbox::Outbox>(ctx)?
        .record_admin_action(action)
        .await?;
    Ok(())
}

pub(crate) fn require_role<'a>(ctx: &'a Context<'_>, roles: &[Role]) -> ApiResult<&'a Viewer> {
    let viewer = viewer(ctx)?;
    if roles.contains(&viewer.role) {
        Ok(viewer)
    } else {
        let wanted: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
        Err(ApiError::Forbidden(format!(
            "This needs a token with role {}; yours has role {}.",
            wanted.join(" or "),
            viewer.role.as_str()
        )))
    }
}
