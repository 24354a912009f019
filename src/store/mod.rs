//! Small helpers for the few statements written as SQL text, where both engines must read them.

use sea_orm::DbBackend;

/// The `n`-th bind parameter: `$n` on PostgreSQL, `?n` on SQLite.
pub fn placeholder(backend: DbBackend, n: usize) -> String {
    match backend {
        DbBackend::Postgres => format!("${n}"),
        _ => format!("?{n}"),
    }
}

/// On SQLite, takes the database's write lock for the rest of the transaction with a one-row write.
/// A SQLite transaction that reads before it writes fails at its first write once another writer has
/// committed in between; writing first makes concurrent transactions wait their turn instead, so what
/// they read stays true until they commit. A no-op on PostgreSQL, where row locks do this.
pub async fn take_sqlite_write_lock(
    txn: &impl sea_orm::ConnectionTrait,
) -> Result<(), sea_orm::DbErr> {
    if txn.get_database_backend() == DbBackend::Postgres {
        return Ok(());
    }
    // `send_gate` has exactly one row (created by `migrate`).
    txn.execute_unprepared("UPDATE send_gate SET name = name")
        .await?;
    Ok(())
}
