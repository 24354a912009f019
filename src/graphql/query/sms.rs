use async_graphql::{
    Context, ID, Object,
    connection::{Connection, CursorType, Edge, OpaqueCursor},
};

use crate::{
    auth::Role,
    auth::Viewer,
    error::{ApiError, ApiResult},
    graphql::{
        handle, require_role,
        types::sms::{SmsLog, SmsLogFilter, SmsReply},
    },
    inbound::Inbound,
    locale::phone,
    outbox::Outbox,
    recipients::Recipients,
    store::history,
};

/// The number a user may read texts to: their own, once they proved it. A number someone typed but
/// never verified may be someone else's, and so may the texts to it.
async fn readable_number(ctx: &Context<'_>, viewer: &Viewer) -> ApiResult<Option<String>> {
    let profile = handle::<Recipients>(ctx)?.load(&viewer.user_id).await?;
    Ok(profile.and_then(|p| p.verified_phone().map(str::to_owned)))
}

/// Page size of `smsLogs` when `first` is not given, and the largest allowed.
const DEFAULT_PAGE: i32 = 20;
const MAX_PAGE: i32 = 100;

#[derive(Default)]
pub struct SmsQuery;

#[Object]
impl SmsQuery {
    /// One message by id: a user may read their own texts to their verified number; the back end
    /// and admins any. Null when there is no such message (or it is not the user's to read).
    async fn sms_log(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The message's id (SmsLog.id).")] id: ID,
    ) -> ApiResult<Option<SmsLog>> {
        let viewer = require_role(ctx, &[Role::User, Role::Service, Role::Admin])?;
        let id: i64 = id
            .parse()
            .map_err(|_| ApiError::bad_input(format!("'{}' is not an SmsLog id.", id.as_str())))?;
        let Some(row) = handle::<Outbox>(ctx)?.message(id).await? else {
            return Ok(None);
        };
        if viewer.role == Role::User {
            let own = row.user_id.as_deref() == Some(&viewer.user_id);
            let number = readable_number(ctx, viewer).await?;
            if !own || number.as_deref() != Some(row.to_phone.as_str()) {
                return Ok(None);
            }
        }
        Ok(Some(SmsLog(row)))
    }

    /// Messages, newest first, as a cursor connection (`first` up to 100, `after` an `endCursor`). A
    /// user sees only their own texts to their verified number (none before they verify it); the back
    /// end and admins see all.
    #[graphql(complexity = "super::super::page_items(first) * child_complexity")]
    async fn sms_logs(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Conditions that must all hold; none lists everything the viewer may see."
        )]
        filter: Option<SmsLogFilter>,
        #[graphql(desc = "How many messages to return: 1 to 100, default 20.")] first: Option<i32>,
        #[graphql(desc = "The endCursor of the previous page, to read the next (older) one.")]
        after: Option<String>,
    ) -> ApiResult<Connection<OpaqueCursor<i64>, SmsLog>> {
        let viewer = require_role(ctx, &[Role::User, Role::Service, Role::Admin])?;
        let region = handle::<Recipients>(ctx)?.default_region();
        let (first, before_id) = page(first, after)?;
        let filter = filter.unwrap_or_default();
        let mut phone = match filter.phone {
            Some(p) => {
                let number =
                    phone::normalize(&p, region).map_err(|e| ApiError::bad_input(e.to_string()))?;
                Some(number.into_string())
            }
            None => None,
        };
        let mut user_id = filter.user_id.map(|id| id.0);
        if viewer.role == Role::User {
            match &user_id {
                Some(id) if id != &viewer.user_id => {
                    return Err(ApiError::Forbidden(
                        "You can only list your own messages; leave out userId.".into(),
                    ));
                }
                _ => user_id = Some(viewer.user_id.clone()),
            }
            let Some(number) = readable_number(ctx, viewer).await? else {
                return Ok(connection(
                    Vec::new(),
                    first,
                    before_id,
                    |row: crate::store::MessageRow| (row.id, SmsLog(row)),
                ));
            };
            if phone.as_ref().is_some_and(|p| p != &number) {
                return Ok(connection(
                    Vec::new(),
                    first,
                    before_id,
                    |row: crate::store::MessageRow| (row.id, SmsLog(row)),
                ));
            }
            phone = Some(number);
        }
        let domain = history::LogFilter {
            status: filter.status.map(Into::into),
            message_type: filter.message_type.map(Into::into),
            user_id,
            phone,
            created_after: filter.created_after,
            created_before: filter.created_before,
            provider_message_id: filter.provider_message_id.map(|id| id.trim().to_owned()),
        };
        let rows = handle::<Outbox>(ctx)?
            .messages(&domain, before_id, first as u64 + 1)
            .await?;
        Ok(connection(rows, first, before_id, |row| {
            (row.id, SmsLog(row))
        }))
    }

    /// Texts people sent to the service's number (admin), newest first, as a cursor connection:
    /// keywords (STOP, START, HELP) and anything else. `fromPhone` narrows to one number, in any usual
    /// writing.
    #[graphql(complexity = "super::super::page_items(first) * child_complexity")]
    async fn sms_replies(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only replies from this number (any usual writing).")] from_phone: Option<
            String,
        >,
        #[graphql(desc = "How many replies to return: 1 to 100, default 20.")] first: Option<i32>,
        #[graphql(desc = "The endCursor of the previous page, to read the next (older) one.")]
        after: Option<String>,
    ) -> ApiResult<Connection<OpaqueCursor<i64>, SmsReply>> {
        require_role(ctx, &[Role::Admin])?;
        let region = handle::<Recipients>(ctx)?.default_region();
        let (first, before_id) = page(first, after)?;
        let from = match from_phone {
            Some(p) => {
                let number =
                    phone::normalize(&p, region).map_err(|e| ApiError::bad_input(e.to_string()))?;
                Some(number.into_string())
            }
            None => None,
        };
        let rows = handle::<Inbound>(ctx)?
            .replies(from.as_deref(), before_id, first as u64 + 1)
            .await?;
        Ok(connection(rows, first, before_id, |row| {
            (row.id, SmsReply(row))
        }))
    }
}

/// `first` (1 to 100, 20 when not given) and the id an `after` cursor points at.
pub(crate) fn page(first: Option<i32>, after: Option<String>) -> ApiResult<(i32, Option<i64>)> {
    let first = first.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&first) {
        return Err(ApiError::bad_input(format!(
            "first must be between 1 and {MAX_PAGE}."
        )));
    }
    let before_id = match after {
        Some(cursor) => Some(
            OpaqueCursor::<i64>::decode_cursor(&cursor)
                .map_err(|_| {
                    ApiError::bad_input(
                        "`after` is not a cursor of this list; pass an endCursor you received.",
                    )
                })?
                .0,
        ),
        None => None,
    };
    Ok((first, before_id))
}

/// A page of rows read one beyond `first`, newest first, as a connection.
pub(crate) fn connection<R, N: async_graphql::OutputType>(
    mut rows: Vec<R>,
    first: i32,
    before_id: Option<i64>,
    node: impl Fn(R) -> (i64, N),
) -> Connection<OpaqueCursor<i64>, N> {
    let has_next = rows.len() > first as usize;
    rows.truncate(first as usize);
    let mut connection = Connection::new(before_id.is_some(), has_next);
    connection.edges.extend(rows.into_iter().map(|row| {
        let (id, node) = node(row);
        Edge::new(OpaqueCursor(id), node)
    }));
    connection
}
