//! The sending domain: phone numbers now; the catalogue, policy, outbox and providers join here.

pub mod phone;
