use sea_orm_migration::{prelude::*, schema::*};

/// A send that timed out may have gone out, and a code is then sent again: when the first copy's
/// receipt arrives (matched by the service's id in AWS's context), its price is added to the message's
/// cost and kept apart here, so the second copy's own price does not replace it.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(SmsLog::Table)
                    .add_column(big_integer_null(SmsLog::DuplicateCostMicros))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(SmsLog::Table)
                    .drop_column(SmsLog::DuplicateCostMicros)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum SmsLog {
    Table,
    DuplicateCostMicros,
}
