use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SmsLog::Table)
                    .if_not_exists()
                    .col(big_integer(SmsLog::Id).auto_increment().primary_key())
                    .col(string_len_null(SmsLog::UserId, 128))
                    .col(string_len(SmsLog::ToPhone, 16))
                    .col(string_len_null(SmsLog::Country, 2))
                    .col(string_len(SmsLog::MessageType, 32))
                    .col(boolean(SmsLog::Promotional))
                    .col(small_integer(SmsLog::Priority))
                    .col(text(SmsLog::Body))
                    .col(text_null(SmsLog::SensitiveBody))
                    .col(string_len(SmsLog::Status, 16))
                    .col(string_len_null(SmsLog::BlockedReason, 64))
                    .col(integer(SmsLog::Attempts).default(0))
                    .col(timestamp_with_time_zone_null(SmsLog::NextAttemptAt))
                    .col(string_len_null(SmsLog::ProviderMessageId, 200))
                    .col(string_len_null(SmsLog::ErrorCode, 128))
                    .col(text_null(SmsLog::ErrorMessage))
                    .col(integer(SmsLog::Segments))
                    .col(string_len(SmsLog::Encoding, 8))
                    .col(big_integer_null(SmsLog::CostMicros))
                    .col(timestamp_with_time_zone(SmsLog::CreatedAt))
                    .col(timestamp_with_time_zone_null(SmsLog::SentAt))
                    .col(timestamp_with_time_zone_null(SmsLog::DeliveredAt))
                    .col(string_len_null(SmsLog::RelatedObjectType, 64))
                    .col(string_len_null(SmsLog::RelatedObjectId, 128))
                    .col(string_len_null(SmsLog::DedupeKey, 400))
                    .to_owned(),
            )
            .await?;
        for (name, columns, unique) in [
            ("idx_sms_log_dedupe_key", vec![SmsLog::DedupeKey], true),
            ("idx_sms_log_user", vec![SmsLog::UserId, SmsLog::Id], false),
            // The per-user daily limit counts a user's last 24 hours.
            (
                "idx_sms_log_user_created",
                vec![SmsLog::UserId, SmsLog::CreatedAt],
                false,
            ),
            (
                "idx_sms_log_phone",
                vec![SmsLog::ToPhone, SmsLog::Id],
                false,
            ),
            ("idx_sms_log_created", vec![SmsLog::CreatedAt], false),
        ] {
            let mut index = Index::create();
            index.name(name).table(SmsLog::Table);
            for column in columns {
                index.col(column);
            }
            if unique {
                index.unique();
            }
            manager.create_index(index.to_owned()).await?;
        }
        // The outbox: only what is still to be sent, in claim order. Partial, so the millions of
        // finished rows cost the workers nothing. Same syntax on SQLite and PostgreSQL.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX idx_sms_log_due ON sms_log (priority, next_attempt_at) \
                 WHERE status IN ('pending', 'sending')",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SmsLog::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum SmsLog {
    Table,
    Id,
    UserId,
    ToPhone,
    Country,
    MessageType,
    Promotional,
    Priority,
    Body,
    SensitiveBody,
    Status,
    BlockedReason,
    Attempts,
    NextAttemptAt,
    ProviderMessageId,
    ErrorCode,
    ErrorMessage,
    Segments,
    Encoding,
    CostMicros,
    CreatedAt,
    SentAt,
    DeliveredAt,
    RelatedObjectType,
    RelatedObjectId,
    DedupeKey,
}
