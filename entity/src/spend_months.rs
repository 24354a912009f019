//! The monthly SMS budget: what is reserved (queued or sent) in each calendar month (UTC).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "spend_months")]
pub struct Model {
    /// `YYYY-MM`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub month: String,
    /// Millionths of a US dollar reserved by accepted messages, less what failed sends released.
    pub reserved_micros: i64,
    /// The highest budget warning logged this month (0, 50, 80 or 100 percent).
    pub warned_pct: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
