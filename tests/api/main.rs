//! Integration tests: the real server over HTTP, on SQLite and PostgreSQL.

#[path = "../support/mod.rs"]
mod support;

mod aws_stub;
mod helpers;

mod account;
mod actions;
mod ambiguous;
mod auth;
mod aws;
mod bad_bytes;
mod browser;
mod cli;
mod consent;
mod console;
mod costs;
mod erasure_reach;
mod expiry;
mod fraud;
mod graphql_http;
mod group_commit;
mod hardening;
mod health;
mod layout;
mod leaving;
mod limits;
mod local_time;
mod logs;
mod metrics;
mod once;
mod operations;
mod opt_in;
mod outage;
mod outbound_webhooks;
mod pause;
mod pipeline;
mod preferences;
mod privacy;
mod races;
mod readme;
mod receipt_batches;
mod recipients;
mod reminders;
mod scheduled;
mod schema;
mod sending;
mod shutdown;
mod skips;
mod sns;
mod store_db;
mod subscriptions;
mod upgrade;
mod verification;
mod ws_limits;
