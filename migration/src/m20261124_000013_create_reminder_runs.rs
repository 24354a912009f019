use sea_orm_migration::{prelude::*, schema::*};

/// What each reminder scan found, enqueued and skipped: the operators' view of the engine.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ReminderRuns::Table)
                    .if_not_exists()
                    .col(big_pk_auto(ReminderRuns::Id))
                    .col(string_len(ReminderRuns::Kind, 16))
                    .col(big_integer(ReminderRuns::Found))
                    .col(big_integer(ReminderRuns::Enqueued))
                    .col(big_integer(ReminderRuns::Skipped))
                    .col(timestamp_with_time_zone(ReminderRuns::StartedAt))
                    .col(timestamp_with_time_zone(ReminderRuns::FinishedAt))
                    .col(big_integer(ReminderRuns::DurationMs))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ReminderRuns::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum ReminderRuns {
    Table,
    Id,
    Kind,
    Found,
    Enqueued,
    Skipped,
    StartedAt,
    FinishedAt,
    DurationMs,
}
