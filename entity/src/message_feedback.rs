//! Message feedback waiting to be reported to AWS: a code's text `RECEIVED` (entered) or `FAILED`
//! (expired unused), one row per code until AWS took it.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "message_feedback")]
pub struct Model {
    /// The code (`phone_verifications.id`).
    #[sea_orm(primary_key, auto_increment = false)]
    pub code_id: i64,
    /// The code's text, whose provider id the report names.
    pub sms_log_id: i64,
    /// The code was entered (`RECEIVED`); otherwise it is reported `FAILED` once it expired.
    pub received: bool,
    /// When the report is due (the code's expiry, at once once entered, or the next retry).
    pub due_at: DateTimeUtc,
    pub attempts: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
