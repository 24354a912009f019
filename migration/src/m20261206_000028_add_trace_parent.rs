use sea_orm_migration::{prelude::*, schema::*};

/// A message keeps the W3C `traceparent` of the request that asked for it (only while traces are
/// exported), so the worker's send and the receipt hours later join the same trace.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(SmsLog::Table)
                    .add_column(string_len_null(SmsLog::TraceParent, 64))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(SmsLog::Table)
                    .drop_column(SmsLog::TraceParent)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum SmsLog {
    Table,
    TraceParent,
}
