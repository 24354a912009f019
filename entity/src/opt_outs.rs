//! Phone-level suppression (STOP), independent of any user account.

use sea_orm::entity::prelude::*;

/// Where an opt-out came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
pub enum OptOutSource {
    /// The carrier (AWS) reported the number opted out.
    #[sea_orm(string_value = "provider")]
    Provider,
    /// The person texted STOP.
    #[sea_orm(string_value = "keyword")]
    Keyword,
    /// An operator put it on the list.
    #[sea_orm(string_value = "admin")]
    Admin,
    /// The old app's list, brought by `sms-notify import`.
    #[sea_orm(string_value = "imported")]
    Imported,
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "opt_outs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub phone_e164: String,
    pub source: OptOutSource,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
