use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SendGate::Table)
                    .if_not_exists()
                    .col(string_len(SendGate::Name, 64).primary_key())
                    .col(big_integer(SendGate::NextSlotUs).default(0))
                    .col(big_integer(SendGate::PausedUntilUs).default(0))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SendGate::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum SendGate {
    Table,
    Name,
    NextSlotUs,
    PausedUntilUs,
}
