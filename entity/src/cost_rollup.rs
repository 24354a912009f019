//! Messages, segments and cost per day, type, status and country, kept in step with `sms_log` in the
//! same transactions, so that cost reports read a few hundred rows instead of millions.

use sea_orm::entity::prelude::*;

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
    pub status: String,
    /// ISO country, or empty when unknown.
    #[sea_orm(primary_key, auto_increment = false)]
    pub country: String,
    pub messages: i64,
    pub segments: i64,
    pub cost_micros: i64,
    /// The part of `cost_micros` that AWS's receipts priced; the rest is still an estimate.
    pub priced_micros: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
