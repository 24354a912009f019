//! Run-time switches per destination country: codes and all texts can be turned off without a
//! restart (`SMS_ALLOWED_COUNTRIES` stays the ceiling). A country with no row is on.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "country_sending")]
pub struct Model {
    /// ISO 3166 code (`GB`).
    #[sea_orm(primary_key, auto_increment = false)]
    pub country: String,
    /// Verification codes may go there.
    pub verification: bool,
    /// Every other text may go there.
    pub messages: bool,
    pub updated_at: DateTimeUtc,
    /// The admin token's subject who made the last change.
    pub updated_by: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
