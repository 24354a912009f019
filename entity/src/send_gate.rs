//! Deployment-wide sending state shared by every instance: the rate limiter's next free slot, a
//! pause after the provider throttles us, and a pause while the account itself is refused. One row per origination identity (`name`).

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
    /// Set while an account-level error pauses sending: the provider's error code.
    pub pause_code: Option<String>,
    /// The provider's words for that error.
    pub pause_reason: Option<String>,
    /// When the pause began, microseconds since the Unix epoch.
    pub paused_since_us: Option<i64>,
    /// When the next `DryRun` probe may run, microseconds since the Unix epoch.
    pub next_probe_us: Option<i64>,
    /// The message whose send hit the error: the probe tries it again without sending it.
    pub probe_message_id: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
