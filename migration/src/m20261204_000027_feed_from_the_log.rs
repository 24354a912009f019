use sea_orm_migration::{prelude::*, schema::*, sea_orm::DbBackend};

/// The change feed comes from the log itself: each write of a message's status stamps the row with
/// `change_seq`, read in order through the index `(change_seq, id)`, and the triggers that wrote a
/// second table (`message_changes`, four rows and four marks per delivered message) are gone.
///
/// The stamp orders changes as they commit:
/// - PostgreSQL: the writing transaction's id (`pg_current_xact_id()`, 64 bits, never wraps; also the
///   column's default, so an insert stamps itself). A reader takes only stamps below the oldest
///   transaction still running (`pg_snapshot_xmin`), so a change that commits late is never passed.
/// - SQLite: one more than the largest stamp, taken under the one writer's lock (`sms_log` rows are
///   never deleted, so the largest only grows).
///
/// Readers keep their place: the live tail in memory, the webhook dispatcher in `feed_cursors` (one
/// row per reader, written once per batch). Changes not yet made into webhooks when this runs are
/// stamped 1, so the dispatcher still makes them; every other row is stamped 0, before any cursor.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(SmsLog::Table)
                    .add_column(big_integer(SmsLog::ChangeSeq).default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(FeedCursors::Table)
                    .if_not_exists()
                    .col(string_len(FeedCursors::Name, 32).primary_key())
                    .col(big_integer(FeedCursors::Seq))
                    .col(big_integer(FeedCursors::LastId))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        let postgres = manager.get_database_backend() == DbBackend::Postgres;
        let mut statements = vec![
            "UPDATE sms_log SET change_seq = 1 WHERE id IN \
             (SELECT sms_log_id FROM message_changes WHERE webhooked = false)",
            "CREATE INDEX idx_sms_log_change ON sms_log (change_seq, id)",
            // The dispatcher starts past every row stamped 0.
            "INSERT INTO feed_cursors (name, seq, last_id) VALUES ('webhooks', 0, 9223372036854775807)",
        ];
        if postgres {
            statements.extend([
                "ALTER TABLE sms_log ALTER COLUMN change_seq SET DEFAULT (pg_current_xact_id()::text::bigint)",
                "DROP TRIGGER IF EXISTS trg_sms_log_status ON sms_log",
                "DROP TRIGGER IF EXISTS trg_sms_log_inserted ON sms_log",
                "DROP FUNCTION IF EXISTS sms_log_status_changed()",
            ]);
        } else {
            statements.extend([
                "DROP TRIGGER IF EXISTS trg_sms_log_status",
                "DROP TRIGGER IF EXISTS trg_sms_log_inserted",
            ]);
        }
        for statement in statements {
            db.execute_unprepared(statement).await?;
        }
        manager
            .drop_table(Table::drop().table(MessageChanges::Table).to_owned())
            .await
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        // The old feed's rows cannot be made again from the stamps; a rollback is a restore.
        Err(DbErr::Migration(
            "the change feed moved into sms_log; restore a backup to go back".into(),
        ))
    }
}

#[derive(DeriveIden)]
enum SmsLog {
    Table,
    ChangeSeq,
}

#[derive(DeriveIden)]
enum FeedCursors {
    Table,
    Name,
    Seq,
    LastId,
}

#[derive(DeriveIden)]
enum MessageChanges {
    Table,
}
