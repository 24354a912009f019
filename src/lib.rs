//! sms-notify: the SMS notification backend. The library builds everything from a [`Config`]; the binary
//! only parses the command line, and tests start the same server on port 0.

pub mod app;
pub mod auth;
pub mod billing;
pub mod clock;
pub mod config;
pub mod consent;
pub mod error;
pub mod graphql;
pub mod http;
pub mod import;
pub mod inbound;
pub mod jobs;
pub mod live;
pub mod locale;
pub mod metrics;
pub mod outbox;
pub mod privacy;
pub mod recipients;
pub mod reminders;
pub mod stages;
pub mod store;
pub mod telemetry;
pub mod verification;
pub mod webhooks;

pub use crate::{
    app::{App, Handles, Server, Stopped},
    clock::{Clock, ManualClock, SystemClock},
    config::Config,
    store::{connect, migrate, redact_url},
};

/// The log filter when `RUST_LOG` is not set: the service's own events from `info`, its dependencies'
/// (the database driver, the scheduler, the HTTP stack, the AWS SDK) only from `warn`.
pub const DEFAULT_LOG_FILTER: &str = "warn,sms_notify=info";
