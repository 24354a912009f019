//! Small helpers for the few statements written as SQL text, where both engines must read them.

use sea_orm::DbBackend;

/// The `n`-th bind parameter: `$n` on PostgreSQL, `?n` on SQLite.
pub fn placeholder(backend: DbBackend, n: usize) -> String {
    match backend {
        DbBackend::Postgres => format!("${n}"),
        _ => format!("?{n}"),
    }
}
