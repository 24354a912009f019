//! Phone-level suppression (STOP), independent of any user account.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "opt_outs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub phone_e164: String,
    /// Where the opt-out came from: `provider` (the carrier reported it), `keyword` (STOP), `admin`.
    pub source: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
