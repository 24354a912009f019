//! Delivery events of messages, as AWS reports them (receipts): the history behind a message's status.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sms_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The message it is about; null when no message of ours has that provider id.
    pub sms_log_id: Option<i64>,
    pub provider_message_id: String,
    /// `TEXT_DELIVERED`, `TEXT_PENDING`, `TEXT_CARRIER_UNREACHABLE`, ...
    pub event_type: String,
    pub is_final: bool,
    pub message_status: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub description: Option<String>,
    /// `totalMessagePrice`, in millionths of a dollar.
    pub price_micros: Option<i64>,
    /// `totalCarrierFee`, in millionths of a dollar.
    pub carrier_fee_micros: Option<i64>,
    pub carrier_name: Option<String>,
    /// When AWS says it happened.
    pub event_at: DateTimeUtc,
    pub received_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
