//! Integration tests: the real server over HTTP, on SQLite and PostgreSQL.

mod helpers;
mod postgres;

mod auth;
mod browser;
mod health;
mod opt_in;
mod preferences;
mod recipients;
mod schema;
