//! The inbound half: SNS envelopes (verified), delivery receipts, replies (STOP, START, HELP) and the
//! reconciliation of texts that no receipt settled.

pub mod receipts;
pub mod reconcile;
pub mod replies;
pub mod sns;
pub mod webhook;
