use sea_orm_migration::{prelude::*, schema::*};

/// The inbound half: delivery events of each message, replies, the SNS deliveries already handled, the
/// estimate beside what AWS charged, and the rollup's share of actual prices.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            big_integer_null(SmsLog::EstimatedCostMicros),
            timestamp_with_time_zone_null(SmsLog::PricedAt),
        ] {
            let mut column = column;
            manager
                .alter_table(
                    Table::alter()
                        .table(SmsLog::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(CostRollup::Table)
                    .add_column(big_integer(CostRollup::PricedMicros).default(0))
                    .to_owned(),
            )
            .await?;
        // Receipts find their message by the provider's id.
        manager
            .create_index(
                Index::create()
                    .name("idx_sms_log_provider_message_id")
                    .table(SmsLog::Table)
                    .col(SmsLog::ProviderMessageId)
                    .to_owned(),
            )
            .await?;
        // Reconciliation reads only messages still `sent`, oldest first.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX idx_sms_log_awaiting_receipt ON sms_log (sent_at) WHERE status = 'sent'",
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SmsEvents::Table)
                    .if_not_exists()
                    .col(big_pk_auto(SmsEvents::Id))
                    .col(big_integer_null(SmsEvents::SmsLogId))
                    .col(string_len(SmsEvents::ProviderMessageId, 200))
                    .col(string_len(SmsEvents::EventType, 48))
                    .col(boolean(SmsEvents::IsFinal))
                    .col(string_len_null(SmsEvents::MessageStatus, 64))
                    .col(text_null(SmsEvents::Description))
                    .col(big_integer_null(SmsEvents::PriceMicros))
                    .col(string_len_null(SmsEvents::CarrierName, 128))
                    .col(timestamp_with_time_zone(SmsEvents::EventAt))
                    .col(timestamp_with_time_zone(SmsEvents::ReceivedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_sms_events_log")
                    .table(SmsEvents::Table)
                    .col(SmsEvents::SmsLogId)
                    .col(SmsEvents::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SmsReplies::Table)
                    .if_not_exists()
                    .col(big_pk_auto(SmsReplies::Id))
                    .col(string_len(SmsReplies::FromPhone, 32))
                    .col(string_len(SmsReplies::ToNumber, 64))
                    .col(text(SmsReplies::Body))
                    .col(string_len(SmsReplies::Keyword, 16))
                    .col(string_len_null(SmsReplies::InboundMessageId, 128))
                    .col(timestamp_with_time_zone(SmsReplies::ReceivedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_sms_replies_from")
                    .table(SmsReplies::Table)
                    .col(SmsReplies::FromPhone)
                    .col(SmsReplies::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SnsDeliveries::Table)
                    .if_not_exists()
                    .col(string_len(SnsDeliveries::MessageId, 128).primary_key())
                    .col(string_len(SnsDeliveries::TopicArn, 256))
                    .col(timestamp_with_time_zone(SnsDeliveries::ReceivedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            SnsDeliveries::Table.into_iden(),
            SmsReplies::Table.into_iden(),
            SmsEvents::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        for index in [
            "idx_sms_log_awaiting_receipt",
            "idx_sms_log_provider_message_id",
        ] {
            manager
                .drop_index(Index::drop().name(index).table(SmsLog::Table).to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(CostRollup::Table)
                    .drop_column(CostRollup::PricedMicros)
                    .to_owned(),
            )
            .await?;
        for column in [SmsLog::PricedAt, SmsLog::EstimatedCostMicros] {
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
    EstimatedCostMicros,
    PricedAt,
    ProviderMessageId,
}

#[derive(DeriveIden)]
enum CostRollup {
    Table,
    PricedMicros,
}

#[derive(DeriveIden)]
enum SmsEvents {
    Table,
    Id,
    SmsLogId,
    ProviderMessageId,
    EventType,
    IsFinal,
    MessageStatus,
    Description,
    PriceMicros,
    CarrierName,
    EventAt,
    ReceivedAt,
}

#[derive(DeriveIden)]
enum SmsReplies {
    Table,
    Id,
    FromPhone,
    ToNumber,
    Body,
    Keyword,
    InboundMessageId,
    ReceivedAt,
}

#[derive(DeriveIden)]
enum SnsDeliveries {
    Table,
    MessageId,
    TopicArn,
    ReceivedAt,
}
