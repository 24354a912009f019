use sea_orm_migration::{prelude::*, schema::*};

/// An admin's retry of a failed, unknown or expired message is a new message linked to the first.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(SmsLog::Table)
                    .add_column(big_integer_null(SmsLog::RetryOf))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(SmsLog::Table)
                    .drop_column(SmsLog::RetryOf)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum SmsLog {
    Table,
    RetryOf,
}
