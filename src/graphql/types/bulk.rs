//! The answers of the bulk mutations (`upsertRecipients`, `sendBattleResults`): one per item, in the
//! item's place, with the row or the error that refused that item alone.

use async_graphql::{ID, InputObject, SimpleObject};
use chrono::{DateTime, Utc};

use super::{recipient::Recipient, sms::SmsLog};
use crate::error::ApiError;

/// Why one item of a bulk call was refused; the other items are not affected.
#[derive(SimpleObject, Debug, Clone)]
pub struct ItemError {
    /// The code a single call would carry in `extensions.code` (`BAD_USER_INPUT`, `CONFLICT`, ...).
    pub code: String,
    /// A sentence a person can act on.
    pub message: String,
}

impl From<ApiError> for ItemError {
    fn from(e: ApiError) -> Self {
        if let ApiError::Internal(cause) = &e {
            tracing::error!(error = %cause, "an item of a bulk call failed");
        }
        Self {
            code: e.code().to_owned(),
            message: e.message().to_owned(),
        }
    }
}

/// One input of `upsertRecipients`: the recipient as it is now, or why it was refused.
#[derive(SimpleObject)]
pub struct RecipientAnswer {
    /// The input's place in the list, from 0.
    pub index: i32,
    /// The user id as given.
    pub user_id: ID,
    /// The recipient after the change; null when refused.
    pub recipient: Option<Recipient>,
    /// Why this input was refused; null when it was written.
    pub error: Option<ItemError>,
}

/// One participant's result of a battle.
#[derive(InputObject, Debug)]
pub struct ParticipantResultInput {
    /// The participant to tell.
    pub user_id: ID,
    /// Their result in a few words ("You won 3 to 1").
    pub result_summary: String,
    /// 1 to 128 characters, this participant's own: a repeat with the same key answers the first
    /// message and sends nothing.
    pub idempotency_key: Option<String>,
}

/// A battle's results for every participant, sent in one call.
#[derive(InputObject, Debug)]
pub struct BattleResultsInput {
    /// The app's id of the battle: one result text per battle and participant, however often this is
    /// called.
    pub battle_id: ID,
    /// What the battle was about.
    pub battle_topic: String,
    /// Where the results are in the app (a path or URL).
    pub result_link: String,
    /// Each participant's result, 1 to 100.
    pub results: Vec<ParticipantResultInput>,
    /// Send them then rather than now (at most 35 days ahead).
    pub send_at: Option<DateTime<Utc>>,
}

/// One participant of `sendBattleResults`: their message, or why it was refused.
#[derive(SimpleObject)]
pub struct SendAnswer {
    /// The result's place in `results`, from 0.
    pub index: i32,
    /// The participant as given.
    pub user_id: ID,
    /// The message (`PENDING`, or `BLOCKED` with its reason); null when refused.
    pub message: Option<SmsLog>,
    /// Why this result was refused (nothing written for it); null otherwise.
    pub error: Option<ItemError>,
}
