//! One run of a reminder scan: what it found, enqueued and skipped.

use sea_orm::entity::prelude::*;

/// Which scan ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum ScanKind {
    #[sea_orm(string_value = "battles")]
    Battles,
    #[sea_orm(string_value = "streaks")]
    Streaks,
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "reminder_runs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub kind: ScanKind,
    pub found: i64,
    pub enqueued: i64,
    pub skipped: i64,
    pub started_at: DateTimeUtc,
    pub finished_at: DateTimeUtc,
    /// Wall-clock time the scan took.
    pub duration_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
