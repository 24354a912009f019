use sea_orm_migration::{prelude::*, schema::*, sea_orm::DbBackend};

/// The change feed of messages: a row each time a message is written or its status changes, written by
/// triggers so that no code path that moves a status can forget it. Instances tail it by `seq` (the
/// primary key) to tell their subscribers; `changed_at_us` (the database's clock, microseconds since
/// the epoch) lets the retention purge drop what every tailer has long read, from the head of the
/// primary key (`seq` grows with time: no second index to write on every change; counted in
/// `retention_runs.feed_changes`).
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(MessageChanges::Table)
                    .if_not_exists()
                    .col(big_pk_auto(MessageChanges::Seq))
                    .col(big_integer(MessageChanges::SmsLogId))
                    .col(string_len(MessageChanges::Status, 16))
                    .col(big_integer(MessageChanges::ChangedAtUs))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        let statements: &[&str] = if manager.get_database_backend() == DbBackend::Postgres {
            &[
                "CREATE FUNCTION sms_log_status_changed() RETURNS trigger AS $$ BEGIN \
                 INSERT INTO message_changes (sms_log_id, status, changed_at_us) \
                 VALUES (NEW.id, NEW.status, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint); \
                 RETURN NULL; END $$ LANGUAGE plpgsql",
                "CREATE TRIGGER trg_sms_log_inserted AFTER INSERT ON sms_log \
                 FOR EACH ROW EXECUTE FUNCTION sms_log_status_changed()",
                "CREATE TRIGGER trg_sms_log_status AFTER UPDATE OF status ON sms_log \
                 FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) \
                 EXECUTE FUNCTION sms_log_status_changed()",
            ]
        } else {
            &[
                "CREATE TRIGGER trg_sms_log_inserted AFTER INSERT ON sms_log BEGIN \
                 INSERT INTO message_changes (sms_log_id, status, changed_at_us) VALUES (NEW.id, NEW.status, \
                 CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)); END",
                "CREATE TRIGGER trg_sms_log_status AFTER UPDATE OF status ON sms_log \
                 WHEN OLD.status IS NOT NEW.status BEGIN \
                 INSERT INTO message_changes (sms_log_id, status, changed_at_us) VALUES (NEW.id, NEW.status, \
                 CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)); END",
            ]
        };
        for statement in statements {
            db.execute_unprepared(statement).await?;
        }
        // What each retention purge removed of the feed.
        manager
            .alter_table(
                Table::alter()
                    .table(RetentionRuns::Table)
                    .add_column(big_integer(RetentionRuns::FeedChanges).default(0))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(RetentionRuns::Table)
                    .drop_column(RetentionRuns::FeedChanges)
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        let drops: &[&str] = if manager.get_database_backend() == DbBackend::Postgres {
            &[
                "DROP TRIGGER IF EXISTS trg_sms_log_status ON sms_log",
                "DROP TRIGGER IF EXISTS trg_sms_log_inserted ON sms_log",
                "DROP FUNCTION IF EXISTS sms_log_status_changed()",
            ]
        } else {
            &[
                "DROP TRIGGER IF EXISTS trg_sms_log_status",
                "DROP TRIGGER IF EXISTS trg_sms_log_inserted",
            ]
        };
        for statement in drops {
            db.execute_unprepared(statement).await?;
        }
        manager
            .drop_table(Table::drop().table(MessageChanges::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum MessageChanges {
    Table,
    Seq,
    SmsLogId,
    Status,
    ChangedAtUs,
}

#[derive(DeriveIden)]
enum RetentionRuns {
    Table,
    FeedChanges,
}
