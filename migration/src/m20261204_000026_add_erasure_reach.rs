use sea_orm_migration::{prelude::*, schema::*};

/// Erasure reaches every copy: each webhook delivery names whom its body is about (user and number,
/// indexed), so an erasure rewrites the queued and delivered copies and a replay of an erased one is
/// refused; every number a person ever proved is kept (`proven_numbers`, backfilled from the codes they
/// entered and the numbers verified now), so an erasure finds replies from an earlier proven number;
/// verification rows (numbers, IPs) get a retention, read by their expiry; and a message's retries are
/// found by index, so that one is made at a time.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            string_len_null(WebhookDeliveries::SubjectUserId, 128),
            string_len_null(WebhookDeliveries::SubjectPhone, 32),
            timestamp_with_time_zone_null(WebhookDeliveries::ErasedAt),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(WebhookDeliveries::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(ProvenNumbers::Table)
                    .if_not_exists()
                    .col(string_len(ProvenNumbers::UserId, 128))
                    .col(string_len(ProvenNumbers::PhoneE164, 32))
                    .col(timestamp_with_time_zone(ProvenNumbers::ProvenAt))
                    .primary_key(
                        Index::create()
                            .col(ProvenNumbers::UserId)
                            .col(ProvenNumbers::PhoneE164),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(RetentionRuns::Table)
                    .add_column(big_integer(RetentionRuns::Verifications).default(0))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        for statement in [
            "CREATE INDEX idx_webhook_deliveries_subject_user ON webhook_deliveries (subject_user_id) \
             WHERE subject_user_id IS NOT NULL",
            "CREATE INDEX idx_webhook_deliveries_subject_phone ON webhook_deliveries (subject_phone) \
             WHERE subject_phone IS NOT NULL",
            "CREATE INDEX idx_phone_verifications_expiry ON phone_verifications (expires_at)",
            // `retrySms` finds the attempts of a message (one at a time).
            "CREATE INDEX idx_sms_log_retry_of ON sms_log (retry_of) WHERE retry_of IS NOT NULL",
            // An erasure finds the actions that name one of the person's numbers.
            "CREATE INDEX idx_admin_actions_target ON admin_actions (target)",
            "INSERT INTO proven_numbers (user_id, phone_e164, proven_at) \
             SELECT user_id, phone_e164, MIN(consumed_at) FROM phone_verifications \
             WHERE consumed_at IS NOT NULL GROUP BY user_id, phone_e164",
            "INSERT INTO proven_numbers (user_id, phone_e164, proven_at) \
             SELECT user_id, phone_e164, phone_verified_at FROM recipients \
             WHERE phone_verified_at IS NOT NULL AND phone_e164 IS NOT NULL \
             ON CONFLICT (user_id, phone_e164) DO NOTHING",
        ] {
            db.execute_unprepared(statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for statement in [
            "DROP INDEX idx_admin_actions_target",
            "DROP INDEX idx_sms_log_retry_of",
            "DROP INDEX idx_phone_verifications_expiry",
            "DROP INDEX idx_webhook_deliveries_subject_phone",
            "DROP INDEX idx_webhook_deliveries_subject_user",
        ] {
            db.execute_unprepared(statement).await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(RetentionRuns::Table)
                    .drop_column(RetentionRuns::Verifications)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(ProvenNumbers::Table).to_owned())
            .await?;
        for column in [
            WebhookDeliveries::ErasedAt,
            WebhookDeliveries::SubjectPhone,
            WebhookDeliveries::SubjectUserId,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(WebhookDeliveries::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    SubjectUserId,
    SubjectPhone,
    ErasedAt,
}

#[derive(DeriveIden)]
enum ProvenNumbers {
    Table,
    UserId,
    PhoneE164,
    ProvenAt,
}

#[derive(DeriveIden)]
enum RetentionRuns {
    Table,
    Verifications,
}
