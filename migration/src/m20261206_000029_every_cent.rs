use sea_orm_migration::{prelude::*, schema::*};

/// Every cent (issue 29): what smart encoding and short links saved on each text, the digest a request
/// was carried by, the short links with their clicks, and the savings per day and type.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column per statement.
        let columns = [
            boolean(SmsLog::SmartEncoded).default(false).to_owned(),
            integer(SmsLog::EncodingSaved).default(0).to_owned(),
            integer(SmsLog::LinksSaved).default(0).to_owned(),
            big_integer_null(SmsLog::DigestId),
            boolean(SmsLog::DigestHold).default(false).to_owned(),
            text_null(SmsLog::DigestPart),
            integer(SmsLog::Carried).default(0).to_owned(),
            integer(SmsLog::CarriedSegments).default(0).to_owned(),
        ];
        for mut column in columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(SmsLog::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        // The requests a digest carried, by the digest.
        manager
            .create_index(
                Index::create()
                    .name("idx_sms_log_digest_id")
                    .table(SmsLog::Table)
                    .col(SmsLog::DigestId)
                    .to_owned(),
            )
            .await?;
        // Requests held for a digest, by person and type: a partial index, as small as the hold.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX idx_sms_log_digest_hold ON sms_log (to_phone, message_type) \
                 WHERE digest_hold = TRUE AND status IN ('pending', 'sending')",
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SmsLinks::Table)
                    .if_not_exists()
                    .col(big_integer(SmsLinks::Id).auto_increment().primary_key())
                    .col(string_len(SmsLinks::Code, 16).unique_key())
                    .col(big_integer(SmsLinks::MessageId))
                    .col(text(SmsLinks::Url))
                    .col(timestamp_with_time_zone(SmsLinks::CreatedAt))
                    .col(timestamp_with_time_zone(SmsLinks::ExpiresAt))
                    .col(integer(SmsLinks::Clicks).default(0))
                    .col(timestamp_with_time_zone_null(SmsLinks::FirstClickedAt))
                    .col(timestamp_with_time_zone_null(SmsLinks::LastClickedAt))
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("idx_sms_links_message", SmsLinks::MessageId),
            ("idx_sms_links_expires", SmsLinks::ExpiresAt),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(SmsLinks::Table)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(SavingsRollup::Table)
                    .if_not_exists()
                    .col(string_len(SavingsRollup::Day, 10))
                    .col(string_len(SavingsRollup::MessageType, 32))
                    .col(string_len(SavingsRollup::Feature, 16))
                    .col(big_integer(SavingsRollup::Texts).default(0))
                    .col(big_integer(SavingsRollup::Segments).default(0))
                    .col(big_integer(SavingsRollup::CostMicros).default(0))
                    .primary_key(
                        Index::create()
                            .col(SavingsRollup::Day)
                            .col(SavingsRollup::MessageType)
                            .col(SavingsRollup::Feature),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SavingsRollup::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(SmsLinks::Table).to_owned())
            .await?;
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX idx_sms_log_digest_hold")
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_sms_log_digest_id")
                    .table(SmsLog::Table)
                    .to_owned(),
            )
            .await?;
        for column in [
            SmsLog::CarriedSegments,
            SmsLog::Carried,
            SmsLog::DigestPart,
            SmsLog::DigestHold,
            SmsLog::DigestId,
            SmsLog::LinksSaved,
            SmsLog::EncodingSaved,
            SmsLog::SmartEncoded,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(SmsLog::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum SmsLog {
    Table,
    SmartEncoded,
    EncodingSaved,
    LinksSaved,
    DigestId,
    DigestHold,
    DigestPart,
    Carried,
    CarriedSegments,
}

#[derive(DeriveIden)]
enum SmsLinks {
    Table,
    Id,
    Code,
    MessageId,
    Url,
    CreatedAt,
    ExpiresAt,
    Clicks,
    FirstClickedAt,
    LastClickedAt,
}

#[derive(DeriveIden)]
enum SavingsRollup {
    Table,
    Day,
    MessageType,
    Feature,
    Texts,
    Segments,
    CostMicros,
}
