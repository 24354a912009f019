//! One row per retention purge: when it ran, what started it and how many rows of each kind it removed.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "retention_runs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `schedule` or `command`.
    pub trigger: String,
    /// Message texts removed (`sms_log.body`).
    pub message_bodies: i64,
    /// Reply texts removed (`sms_replies.body`).
    pub reply_bodies: i64,
    /// Consent events deleted after `CONSENT_RETENTION`.
    pub consent_events: i64,
    /// SNS deduplication rows deleted.
    pub webhook_deliveries: i64,
    /// Reminder scan runs deleted.
    pub scan_runs: i64,
    /// Rows of the message change feed deleted (a day after they were written).
    pub feed_changes: i64,
    /// Finished webhook deliveries (with their attempts) deleted after `SMS_BODY_RETENTION`.
    pub outbound_webhooks: i64,
    /// Verification rows (numbers, IPs) deleted after `SMS_BODY_RETENTION` past their expiry.
    pub verifications: i64,
    pub started_at: DateTimeUtc,
    pub finished_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
