//! What smart encoding, short links and digests saved, per UTC day, message type and feature: texts,
//! segments and dollars the same texts would have cost without them. Counted when a text is sent.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "savings_rollup")]
pub struct Model {
    /// `YYYY-MM-DD` (UTC) of the send.
    #[sea_orm(primary_key, auto_increment = false)]
    pub day: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub message_type: String,
    /// `smart_encoding`, `short_links` or `digests`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub feature: String,
    /// Texts the feature made cheaper (for digests: texts not sent at all).
    pub texts: i64,
    pub segments: i64,
    pub cost_micros: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
