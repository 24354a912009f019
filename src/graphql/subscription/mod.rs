//! Subscriptions, over WebSocket at `/graphql/ws` (`graphql-transport-ws`).

use std::sync::Arc;

use async_graphql::{Context, ID, InputObject, Object, Subscription};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use crate::{
    auth::Role,
    error::{ApiError, ApiResult},
    graphql::{
        handle, require_role,
        types::sms::{MessageType, SmsLog, SmsStatus},
    },
    live::{Change, Live},
    recipients::Recipients,
    store::MessageType as StoredType,
};

/// Narrows `smsMessageUpdates` for the back end and admins. All conditions must hold.
#[derive(InputObject, Debug, Default, Clone)]
pub struct SmsMessageUpdatesFilter {
    /// Only this user's messages.
    pub user_id: Option<ID>,
    /// Only these messages (ids of SmsLog).
    pub ids: Option<Vec<ID>>,
    /// Only messages of these types.
    pub message_types: Option<Vec<MessageType>>,
    /// Only changes to these statuses (e.g. FAILED and UNDELIVERED).
    pub statuses: Option<Vec<SmsStatus>>,
}

/// One change of one message.
pub struct SmsMessageUpdate(Arc<Change>);

/// One change of one message.
#[Object]
impl SmsMessageUpdate {
    /// The message's status when the feed read it.
    async fn status(&self) -> SmsStatus {
        self.0.status.into()
    }

    /// The message as the feed read it.
    async fn message(&self) -> SmsLog {
        SmsLog(self.0.message.clone())
    }

    /// The change's place in the feed (`<stamp>.<message id>`), the same on every instance; a later
    /// change of a message has a later stamp.
    async fn sequence(&self) -> ID {
        ID(self.0.seq.to_string())
    }
}

/// What one subscriber may see, decided when it subscribes.
#[derive(Debug, Clone)]
struct Scope {
    /// A user: their own messages, codes and texts to the number they verified.
    user: Option<(String, Option<String>)>,
    user_id: Option<String>,
    ids: Option<Vec<i64>>,
    types: Option<Vec<StoredType>>,
    statuses: Option<Vec<crate::store::SmsStatus>>,
}

impl Scope {
    fn admits(&self, change: &Change) -> bool {
        let m = &change.message;
        if let Some((user, number)) = &self.user {
            let own = m.user_id.as_deref() == Some(user.as_str());
            let readable = m.message_type == StoredType::PhoneVerification
                || number.as_deref() == Some(m.to_phone.as_str());
            if !own || !readable {
                return false;
            }
        }
        self.user_id
            .as_ref()
            .is_none_or(|u| m.user_id.as_deref() == Some(u.as_str()))
            && self.ids.as_ref().is_none_or(|ids| ids.contains(&m.id))
            && self
                .types
                .as_ref()
                .is_none_or(|t| t.contains(&m.message_type))
            && self
                .statuses
                .as_ref()
                .is_none_or(|s| s.contains(&change.status))
    }
}

#[derive(Default)]
pub struct Subscription;

/// Live updates over WebSocket at /graphql/ws (graphql-transport-ws; the token in the connection_init
/// payload).
#[Subscription]
impl Subscription {
    /// Each change of a message's status as it happens: written (PENDING or BLOCKED), SENDING, SENT,
    /// DELIVERED, FAILED, ... A user follows their own messages (their codes, and texts to the number
    /// they verified); the back end and admins follow all, narrowed by `filter`. Updates made by any
    /// instance arrive within about 200 ms, in order; a status that lasted less than that may be folded
    /// into the next (a settled status is always told). A subscriber far behind (4,096 updates) misses
    /// the oldest.
    async fn sms_message_updates(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "For the back end and admins: which messages to follow. A user may leave it out (or name only themselves)."
        )]
        filter: Option<SmsMessageUpdatesFilter>,
    ) -> Result<impl Stream<Item = SmsMessageUpdate> + use<>, ApiError> {
        let viewer = require_role(ctx, &[Role::User, Role::Service, Role::Admin])?;
        // The token was checked at connection_init; each subscribe checks it is still good.
        if viewer.expired() {
            return Err(crate::auth::AuthError::Expired.into());
        }
        let filter = filter.unwrap_or_default();
        let user = if viewer.role == Role::User {
            if filter
                .user_id
                .as_ref()
                .is_some_and(|u| u.as_str() != viewer.user_id)
            {
                return Err(ApiError::Forbidden(
                    "You can only follow your own messages; leave out userId.".into(),
                ));
            }
            let profile = handle::<Recipients>(ctx)?.load(&viewer.user_id).await?;
            let number = profile.and_then(|p| p.verified_phone().map(str::to_owned));
            Some((viewer.user_id.clone(), number))
        } else {
            None
        };
        let ids = match &filter.ids {
            Some(ids) => Some(
                ids.iter()
                    .map(|id| {
                        id.parse::<i64>().map_err(|_| {
                            ApiError::bad_input(format!("'{}' is not an SmsLog id.", id.as_str()))
                        })
                    })
                    .collect::<ApiResult<Vec<_>>>()?,
            ),
            None => None,
        };
        let scope = Scope {
            user,
            user_id: filter.user_id.map(|u| u.0),
            ids,
            types: filter
                .message_types
                .map(|t| t.into_iter().map(Into::into).collect()),
            statuses: filter
                .statuses
                .map(|s| s.into_iter().map(Into::into).collect()),
        };
        let receiver = handle::<Live>(ctx)?.subscribe();
        Ok(futures_util::stream::unfold(
            (receiver, scope),
            |(mut receiver, scope)| async move {
                loop {
                    match receiver.recv().await {
                        Ok(change) if scope.admits(&change) => {
                            return Some((SmsMessageUpdate(change), (receiver, scope)));
                        }
                        Ok(_) => {}
                        Err(RecvError::Lagged(missed)) => {
                            tracing::warn!(missed, "a subscriber fell behind and missed updates");
                        }
                        Err(RecvError::Closed) => return None,
                    }
                }
            },
        ))
    }
}
