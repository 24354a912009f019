//! sea-orm entities of sms-notify, one module per table. Only this crate knows table shapes.

pub mod admin_actions;
pub mod battle_participants;
pub mod battles;
pub mod code_spend_days;
pub mod consent_disclosures;
pub mod consent_events;
pub mod cost_rollup;
pub mod country_sending;
pub mod feed_cursors;
pub mod message_feedback;
pub mod opt_outs;
pub mod phone_verifications;
pub mod proven_numbers;
pub mod recipients;
pub mod reminder_runs;
pub mod retention_runs;
pub mod savings_rollup;
pub mod send_gate;
pub mod sms_events;
pub mod sms_links;
pub mod sms_log;
pub mod sms_preferences;
pub mod sms_replies;
pub mod spend_months;
pub mod streaks;
pub mod verification_guard_lifts;
pub mod webhook_attempts;
pub mod webhook_deliveries;
pub mod webhook_endpoints;

pub mod prelude {
    pub use super::battle_participants::Entity as BattleParticipants;
    pub use super::battles::Entity as Battles;
    pub use super::consent_events::Entity as ConsentEvents;
    pub use super::opt_outs::Entity as OptOuts;
    pub use super::phone_verifications::Entity as PhoneVerifications;
    pub use super::recipients::Entity as Recipients;
    pub use super::send_gate::Entity as SendGate;
    pub use super::sms_log::Entity as SmsLog;
    pub use super::sms_preferences::Entity as SmsPreferences;
    pub use super::streaks::Entity as Streaks;
}
