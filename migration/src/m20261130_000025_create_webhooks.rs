use sea_orm_migration::{prelude::*, schema::*};

/// Signed webhooks (Standard Webhooks): the endpoints admins register, one delivery per event and
/// endpoint (unique, so an event is never delivered under two ids), each attempt kept; and the change
/// feed's `webhooked` mark, so that `message.updated` events are made from every change exactly once;
/// finished deliveries (their bodies carry numbers and reply texts) go with the texts' retention.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WebhookEndpoints::Table)
                    .if_not_exists()
                    .col(big_pk_auto(WebhookEndpoints::Id))
                    .col(text(WebhookEndpoints::Url))
                    .col(string_len(WebhookEndpoints::EventTypes, 256))
                    .col(string_len(WebhookEndpoints::Secret, 128))
                    .col(boolean(WebhookEndpoints::Enabled))
                    .col(text_null(WebhookEndpoints::DisabledReason))
                    .col(timestamp_with_time_zone_null(
                        WebhookEndpoints::FailingSince,
                    ))
                    .col(timestamp_with_time_zone(WebhookEndpoints::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookDeliveries::Table)
                    .if_not_exists()
                    .col(big_pk_auto(WebhookDeliveries::Id))
                    .col(big_integer(WebhookDeliveries::EndpointId))
                    .col(string_len(WebhookDeliveries::EventId, 64))
                    .col(string_len(WebhookDeliveries::EventType, 48))
                    .col(text(WebhookDeliveries::Payload))
                    .col(string_len(WebhookDeliveries::Status, 16))
                    .col(integer(WebhookDeliveries::Attempts))
                    .col(timestamp_with_time_zone_null(
                        WebhookDeliveries::NextAttemptAt,
                    ))
                    .col(integer_null(WebhookDeliveries::LastStatusCode))
                    .col(text_null(WebhookDeliveries::LastError))
                    .col(timestamp_with_time_zone(WebhookDeliveries::CreatedAt))
                    .col(timestamp_with_time_zone_null(
                        WebhookDeliveries::DeliveredAt,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookAttempts::Table)
                    .if_not_exists()
                    .col(big_pk_auto(WebhookAttempts::Id))
                    .col(big_integer(WebhookAttempts::DeliveryId))
                    .col(timestamp_with_time_zone(WebhookAttempts::AttemptedAt))
                    .col(integer_null(WebhookAttempts::StatusCode))
                    .col(text_null(WebhookAttempts::Error))
                    .col(big_integer(WebhookAttempts::DurationMs))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(MessageChanges::Table)
                    .add_column(boolean(MessageChanges::Webhooked).default(false))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        for statement in [
            "CREATE UNIQUE INDEX idx_webhook_deliveries_event ON webhook_deliveries (endpoint_id, event_id)",
            "CREATE INDEX idx_webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id)",
            "CREATE INDEX idx_webhook_deliveries_due ON webhook_deliveries (next_attempt_at) \
             WHERE status = 'pending'",
            "CREATE INDEX idx_webhook_attempts_delivery ON webhook_attempts (delivery_id, id)",
            "CREATE INDEX idx_message_changes_unhooked ON message_changes (seq) WHERE webhooked = false",
            // The retention purge reads finished deliveries by age.
            "CREATE INDEX idx_webhook_deliveries_finished ON webhook_deliveries (created_at) \
             WHERE status <> 'pending'",
        ] {
            db.execute_unprepared(statement).await?;
        }
        // What each retention purge removed of them.
        manager
            .alter_table(
                Table::alter()
                    .table(RetentionRuns::Table)
                    .add_column(big_integer(RetentionRuns::OutboundWebhooks).default(0))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(RetentionRuns::Table)
                    .drop_column(RetentionRuns::OutboundWebhooks)
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX idx_message_changes_unhooked")
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(MessageChanges::Table)
                    .drop_column(MessageChanges::Webhooked)
                    .to_owned(),
            )
            .await?;
        for table in [
            WebhookAttempts::Table.into_iden(),
            WebhookDeliveries::Table.into_iden(),
            WebhookEndpoints::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum WebhookEndpoints {
    Table,
    Id,
    Url,
    EventTypes,
    Secret,
    Enabled,
    DisabledReason,
    FailingSince,
    CreatedAt,
}

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    Id,
    EndpointId,
    EventId,
    EventType,
    Payload,
    Status,
    Attempts,
    NextAttemptAt,
    LastStatusCode,
    LastError,
    CreatedAt,
    DeliveredAt,
}

#[derive(DeriveIden)]
enum WebhookAttempts {
    Table,
    Id,
    DeliveryId,
    AttemptedAt,
    StatusCode,
    Error,
    DurationMs,
}

#[derive(DeriveIden)]
enum MessageChanges {
    Table,
    Webhooked,
}

#[derive(DeriveIden)]
enum RetentionRuns {
    Table,
    OutboundWebhooks,
}
