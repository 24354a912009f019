use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OptOuts::Table)
                    .if_not_exists()
                    .col(string_len(OptOuts::PhoneE164, 16).primary_key())
                    .col(string_len(OptOuts::Source, 32))
                    .col(timestamp_with_time_zone(OptOuts::CreatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(OptOuts::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum OptOuts {
    Table,
    PhoneE164,
    Source,
    CreatedAt,
}
