//! The audit trail of admins' writes, append-only.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "admin_actions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The admin token's subject.
    pub actor: String,
    /// What was done (`cancel_sms`, `set_country_sending`, ...).
    pub action: String,
    /// On what: a message id, a country, a range, `sending`.
    pub target: String,
    /// The admin's note, when one was given.
    pub note: Option<String>,
    /// What changed, in words or JSON.
    pub detail: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
