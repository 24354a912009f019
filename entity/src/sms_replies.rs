//! Texts people sent to the service's number: keywords (STOP, START, HELP) and anything else.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sms_replies")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The person's number, E.164.
    pub from_phone: String,
    /// Our number it was sent to.
    pub to_number: String,
    #[sea_orm(column_type = "Text")]
    pub body: String,
    /// `stop`, `start`, `help`, or `none` for any other text.
    pub keyword: String,
    pub inbound_message_id: Option<String>,
    pub received_at: DateTimeUtc,
    /// When the text was removed (retention or erasure); the body is empty from then on.
    pub body_purged_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
