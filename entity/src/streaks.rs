//! Daily streaks pushed by the app. Each row carries the moment its next alert is due, computed in the
//! user's own time zone, so the scan reads only what is due.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "streaks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
    pub current_days: i32,
    /// The last day with activity, in the user's local calendar.
    pub last_activity_date: Date,
    /// When the streak alert for the day after `last_activity_date` is due; `None` once handled.
    pub next_alert_at: Option<DateTimeUtc>,
    /// Local midnight ending that day: after it the streak is lost and the alert pointless.
    pub alert_expires_at: Option<DateTimeUtc>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
