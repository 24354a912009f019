//! Deployment-wide sending state shared by every instance: the rate limiter's next free slot and a
//! pause after the provider throttles us. One row per origination identity (`name`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "send_gate")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    /// The next free send slot, microseconds since the Unix epoch (GCRA's theoretical arrival time).
    pub next_slot_us: i64,
    /// No message is sent before this moment, microseconds since the Unix epoch.
    pub paused_until_us: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
