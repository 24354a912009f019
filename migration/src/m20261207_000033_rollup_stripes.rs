use sea_orm_migration::{prelude::*, sea_orm::DbBackend};

/// The cost rollup in stripes: every key (day, message type, status, country) may have up to 16 rows,
/// and a report adds them up. On PostgreSQL each connection adds to its own stripe, so the transactions
/// that insert batches and those that record outcomes no longer wait for each other's commit on the
/// day's few rows (a batch holds the month's budget row while it adds to the rollup: every other batch
/// waited behind it). SQLite has one writer and keeps stripe 0.
///
/// The key changes, so the table is rebuilt (SQLite cannot alter a primary key) with its totals kept in
/// stripe 0, in one script on one connection.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        rebuild(manager, true).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        rebuild(manager, false).await
    }
}

/// Rebuilds `cost_rollup` with (`striped`) or without the stripe in its key, keeping its totals.
async fn rebuild(manager: &SchemaManager<'_>, striped: bool) -> Result<(), DbErr> {
    let (stripe_column, stripe_key) = if striped {
        ("stripe SMALLINT NOT NULL DEFAULT 0, ", ", stripe")
    } else {
        ("", "")
    };
    let mut script = format!(
        "CREATE TABLE cost_rollup_rebuilt (day VARCHAR(10) NOT NULL, message_type VARCHAR(32) NOT NULL, \
         status VARCHAR(16) NOT NULL, country VARCHAR(2) NOT NULL, {stripe_column}\
         messages BIGINT NOT NULL DEFAULT 0, segments BIGINT NOT NULL DEFAULT 0, \
         cost_micros BIGINT NOT NULL DEFAULT 0, priced_micros BIGINT NOT NULL DEFAULT 0, \
         PRIMARY KEY (day, message_type, status, country{stripe_key})); \
         INSERT INTO cost_rollup_rebuilt (day, message_type, status, country, messages, segments, \
         cost_micros, priced_micros) \
         SELECT day, message_type, status, country, SUM(messages), SUM(segments), SUM(cost_micros), \
         SUM(priced_micros) FROM cost_rollup GROUP BY day, message_type, status, country; \
         DROP TABLE cost_rollup; \
         ALTER TABLE cost_rollup_rebuilt RENAME TO cost_rollup;"
    );
    if manager.get_database_backend() == DbBackend::Postgres {
        // The key keeps the name it was made with: give it the table's, so a later rebuild can make
        // its own.
        script.push_str(
            " ALTER TABLE cost_rollup RENAME CONSTRAINT cost_rollup_rebuilt_pkey TO cost_rollup_pkey;",
        );
    }
    manager.get_connection().execute_unprepared(&script).await?;
    Ok(())
}
