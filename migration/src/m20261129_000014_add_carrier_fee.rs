use sea_orm_migration::{prelude::*, schema::*};

/// AWS charges carrier fees on top of the message price (`totalCarrierFee` in its event records): a
/// message's cost is their sum, and the fee is kept apart on the message and on each event.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one column at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(SmsLog::Table)
                    .add_column(big_integer_null(SmsLog::CarrierFeeMicros))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(SmsEvents::Table)
                    .add_column(big_integer_null(SmsEvents::CarrierFeeMicros))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(SmsEvents::Table)
                    .drop_column(SmsEvents::CarrierFeeMicros)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(SmsLog::Table)
                    .drop_column(SmsLog::CarrierFeeMicros)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum SmsLog {
    Table,
    CarrierFeeMicros,
}

#[derive(DeriveIden)]
enum SmsEvents {
    Table,
    CarrierFeeMicros,
}
