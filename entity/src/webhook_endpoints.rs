//! The endpoints admins register for signed webhooks.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_endpoints")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(column_type = "Text")]
    pub url: String,
    /// The event types it receives, comma-separated (`message.updated,opt_out.added`).
    pub event_types: String,
    /// `whsec_` and the base64 of the signing key.
    pub secret: String,
    pub enabled: bool,
    #[sea_orm(column_type = "Text", nullable)]
    pub disabled_reason: Option<String>,
    /// Since when every attempt to it failed; `None` while it answers.
    pub failing_since: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
