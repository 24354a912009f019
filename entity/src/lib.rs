//! sea-orm entities of sms-notify, one module per table. Only this crate knows table shapes.

pub mod consent_events;
pub mod recipients;
pub mod sms_preferences;

pub mod prelude {
    pub use super::consent_events::Entity as ConsentEvents;
    pub use super::recipients::Entity as Recipients;
    pub use super::sms_preferences::Entity as SmsPreferences;
}
