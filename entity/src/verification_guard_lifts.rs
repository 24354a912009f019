//! An admin's lift of the verification fraud guard for one range of numbers: codes before `lifted_at`
//! no longer count against the range.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "verification_guard_lifts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub phone_range: String,
    pub lifted_at: DateTimeUtc,
    /// The admin token's subject.
    pub lifted_by: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
