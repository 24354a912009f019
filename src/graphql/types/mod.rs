//! GraphQL output and input types, separate from the table models.

pub mod bulk;
pub mod costs;
pub mod events;
pub mod privacy;
pub mod recipient;
pub mod reminders;
pub mod savings;
pub mod scalars;
pub mod sms;
pub mod webhooks;
