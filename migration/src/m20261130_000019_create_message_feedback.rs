use sea_orm_migration::{prelude::*, schema::*};

/// Message feedback for AWS's fraud models: each code's text is reported `RECEIVED` once the code is
/// entered, or `FAILED` once it expired unused. A durable queue: one row per code until AWS took the
/// report, due at the code's expiry (or at once when it is entered), retried with backoff.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(MessageFeedback::Table)
                    .if_not_exists()
                    .col(big_integer(MessageFeedback::CodeId).primary_key())
                    .col(big_integer(MessageFeedback::SmsLogId))
                    .col(boolean(MessageFeedback::Received))
                    .col(timestamp_with_time_zone(MessageFeedback::DueAt))
                    .col(integer(MessageFeedback::Attempts).default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_message_feedback_due")
                    .table(MessageFeedback::Table)
                    .col(MessageFeedback::DueAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(MessageFeedback::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum MessageFeedback {
    Table,
    CodeId,
    SmsLogId,
    Received,
    DueAt,
    Attempts,
}
