//! Messages, segments and cost per day, type, status and country, kept in step with `sms_log` in the
//! same transactions, so that cost reports read a few hundred rows instead of millions.

use sea_orm::entity::prelude::*;

/// Where a message is counted: its log status, with `sending` counted as `pending`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum RollupStatus {
    #[sea_orm(string_value = "pending")]
    Pending,
    #[sea_orm(string_value = "sent")]
    Sent,
    #[sea_orm(string_value = "delivered")]
    Delivered,
    #[sea_orm(string_value = "failed")]
    Failed,
    #[sea_orm(string_value = "undelivered")]
    Undelivered,
    #[sea_orm(string_value = "unknown")]
    Unknown,
    #[sea_orm(string_value = "blocked")]
    Blocked,
    #[sea_orm(string_value = "expired")]
    Expired,
    #[sea_orm(string_value = "cancelled")]
    Cancelled,
    #[sea_orm(string_value = "digested")]
    Digested,
}

impl From<super::sms_log::SmsStatus> for RollupStatus {
    fn from(status: super::sms_log::SmsStatus) -> Self {
        use super::sms_log::SmsStatus as S;
        match status {
            S::Pending | S::Sending => Self::Pending,
            S::Sent => Self::Sent,
            S::Delivered => Self::Delivered,
            S::Failed => Self::Failed,
            S::Undelivered => Self::Undelivered,
            S::Unknown => Self::Unknown,
            S::Blocked => Self::Blocked,
            S::Expired => Self::Expired,
            S::Cancelled => Self::Cancelled,
            S::Digested => Self::Digested,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "cost_rollup")]
pub struct Model {
    /// `YYYY-MM-DD` (UTC) of the message's creation.
    #[sea_orm(primary_key, auto_increment = false)]
    pub day: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub message_type: String,
    /// `pending` (also while being sent), `sent`, `delivered`, `failed`, `undelivered`, `blocked`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub status: RollupStatus,
    /// ISO country, or empty when unknown.
    #[sea_orm(primary_key, auto_increment = false)]
    pub country: String,
    /// Which of the key's rows this is: on PostgreSQL each connection adds to its own (`rollup_add`),
    /// so concurrent writers do not wait for each other; a report adds the stripes up.
    #[sea_orm(primary_key, auto_increment = false)]
    pub stripe: i16,
    pub messages: i64,
    pub segments: i64,
    pub cost_micros: i64,
    /// The part of `cost_micros` that AWS's receipts priced; the rest is still an estimate.
    pub priced_micros: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
