//! The change feed of messages, written by database triggers on `sms_log`: one row per message
//! written and per status change.

use sea_orm::entity::prelude::*;

use super::sms_log::SmsStatus;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "message_changes")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub seq: i64,
    pub sms_log_id: i64,
    /// The status the message had just then.
    pub status: SmsStatus,
    /// The database's clock, microseconds since the epoch.
    pub changed_at_us: i64,
    /// Whether the `message.updated` webhooks of this change were made.
    pub webhooked: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
