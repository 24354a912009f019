use sea_orm_migration::{prelude::*, schema::*};

/// Which time zone decided a message's quiet hours, and an index for the per-number state caps
/// (promotions to one number in the last 24 hours).
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(SmsLog::Table)
                    .add_column(string_len_null(SmsLog::QuietHoursZone, 64))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_sms_log_phone_created")
                    .table(SmsLog::Table)
                    .col(SmsLog::ToPhone)
                    .col(SmsLog::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_sms_log_phone_created")
                    .table(SmsLog::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(SmsLog::Table)
                    .drop_column(SmsLog::QuietHoursZone)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum SmsLog {
    Table,
    QuietHoursZone,
    ToPhone,
    CreatedAt,
}
