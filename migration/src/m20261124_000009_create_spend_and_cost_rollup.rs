use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SpendMonths::Table)
                    .if_not_exists()
                    .col(string_len(SpendMonths::Month, 7).primary_key())
                    .col(big_integer(SpendMonths::ReservedMicros).default(0))
                    .col(integer(SpendMonths::WarnedPct).default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CostRollup::Table)
                    .if_not_exists()
                    .col(string_len(CostRollup::Day, 10))
                    .col(string_len(CostRollup::MessageType, 32))
                    .col(string_len(CostRollup::Status, 16))
                    .col(string_len(CostRollup::Country, 2))
                    .col(big_integer(CostRollup::Messages).default(0))
                    .col(big_integer(CostRollup::Segments).default(0))
                    .col(big_integer(CostRollup::CostMicros).default(0))
                    .primary_key(
                        Index::create()
                            .col(CostRollup::Day)
                            .col(CostRollup::MessageType)
                            .col(CostRollup::Status)
                            .col(CostRollup::Country),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(CostRollup::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(SpendMonths::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum SpendMonths {
    Table,
    Month,
    ReservedMicros,
    WarnedPct,
}

#[derive(DeriveIden)]
enum CostRollup {
    Table,
    Day,
    MessageType,
    Status,
    Country,
    Messages,
    Segments,
    CostMicros,
}
