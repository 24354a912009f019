//! Schema migrations, one file each, never edited once landed. They run on SQLite and PostgreSQL.

pub use sea_orm_migration::prelude::*;

mod m20261124_000001_create_recipients;
mod m20261124_000002_create_sms_preferences;
mod m20261124_000003_create_consent_events;
mod m20261124_000004_create_sms_log;
mod m20261124_000005_create_opt_outs;
mod m20261124_000006_create_send_gate;
mod m20261124_000007_create_phone_verifications;
mod m20261124_000008_create_battles_and_streaks;
mod m20261124_000009_create_spend_and_cost_rollup;
mod m20261124_000010_add_quiet_hours_zone;
mod m20261124_000011_create_receipts_and_replies;
mod m20261124_000012_index_consent_events;
mod m20261124_000013_create_reminder_runs;
mod m20261129_000014_add_carrier_fee;
mod m20261129_000015_add_sending_pause;
mod m20261129_000016_add_expires_at;
mod m20261129_000017_add_duplicate_cost;
mod m20261130_000018_create_fraud_guard;
mod m20261130_000019_create_message_feedback;
mod m20261130_000020_index_codes_by_time;
mod m20261130_000021_add_retry_of;
mod m20261130_000022_create_admin_actions;
mod m20261130_000023_add_privacy;
mod m20261130_000024_create_message_changes;
mod m20261130_000025_create_webhooks;
mod m20261204_000026_add_erasure_reach;
mod m20261204_000027_feed_from_the_log;
mod m20261206_000028_add_trace_parent;
mod m20261206_000029_every_cent;
mod m20261206_000030_own_rules;
mod m20261206_000031_caps_and_language;
mod m20261206_000032_imports;
mod m20261207_000033_rollup_stripes;
mod m20261207_000034_partial_indexes;
mod m20261207_000035_one_index_per_person;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261124_000001_create_recipients::Migration),
            Box::new(m20261124_000002_create_sms_preferences::Migration),
            Box::new(m20261124_000003_create_consent_events::Migration),
            Box::new(m20261124_000004_create_sms_log::Migration),
            Box::new(m20261124_000005_create_opt_outs::Migration),
            Box::new(m20261124_000006_create_send_gate::Migration),
            Box::new(m20261124_000007_create_phone_verifications::Migration),
            Box::new(m20261124_000008_create_battles_and_streaks::Migration),
            Box::new(m20261124_000009_create_spend_and_cost_rollup::Migration),
            Box::new(m20261124_000010_add_quiet_hours_zone::Migration),
            Box::new(m20261124_000011_create_receipts_and_replies::Migration),
            Box::new(m20261124_000012_index_consent_events::Migration),
            Box::new(m20261124_000013_create_reminder_runs::Migration),
            Box::new(m20261129_000014_add_carrier_fee::Migration),
            Box::new(m20261129_000015_add_sending_pause::Migration),
            Box::new(m20261129_000016_add_expires_at::Migration),
            Box::new(m20261129_000017_add_duplicate_cost::Migration),
            Box::new(m20261130_000018_create_fraud_guard::Migration),
            Box::new(m20261130_000019_create_message_feedback::Migration),
            Box::new(m20261130_000020_index_codes_by_time::Migration),
            Box::new(m20261130_000021_add_retry_of::Migration),
            Box::new(m20261130_000022_create_admin_actions::Migration),
            Box::new(m20261130_000023_add_privacy::Migration),
            Box::new(m20261130_000024_create_message_changes::Migration),
            Box::new(m20261130_000025_create_webhooks::Migration),
            Box::new(m20261204_000026_add_erasure_reach::Migration),
            Box::new(m20261204_000027_feed_from_the_log::Migration),
            Box::new(m20261206_000028_add_trace_parent::Migration),
            Box::new(m20261206_000029_every_cent::Migration),
            Box::new(m20261206_000030_own_rules::Migration),
            Box::new(m20261206_000031_caps_and_language::Migration),
            Box::new(m20261206_000032_imports::Migration),
            Box::new(m20261207_000033_rollup_stripes::Migration),
            Box::new(m20261207_000034_partial_indexes::Migration),
            Box::new(m20261207_000035_one_index_per_person::Migration),
        ]
    }
}
