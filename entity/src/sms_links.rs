//! Short links: each `http(s)` address in a text replaced by `SMS_LINK_BASE_URL/<code>`, the address it
//! stands for, and its clicks (times only: never who clicked, nor their address).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sms_links")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Random base62, unique and never reused.
    pub code: String,
    /// The text (`sms_log.id`) that carries the link.
    pub message_id: i64,
    /// The address the short link answers with (302).
    #[sea_orm(column_type = "Text")]
    pub url: String,
    pub created_at: DateTimeUtc,
    /// After this the code answers 404 (`SMS_LINK_RETENTION`), and retention removes the row.
    pub expires_at: DateTimeUtc,
    pub clicks: i32,
    pub first_clicked_at: Option<DateTimeUtc>,
    pub last_clicked_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
