use sea_orm_migration::{prelude::*, schema::*};

/// What people leave behind, and for how long:
/// - `consent_disclosures`: the texts people were shown when they opted in, by version, kept forever;
/// - `consent_events` gains what proves an opt-in (the disclosure's version and text hash, the user
///   agent, the page), the erased number's keyed hash and last four digits, and `superseded_at` (when
///   the person's next event was written), which lets the retention purge find what it may delete;
/// - `sms_log` and `sms_replies` gain `body_purged_at`, each with a partial index of the rows whose
///   text is still kept, so the purge reads only those;
/// - `sns_deliveries` and `reminder_runs` get an index by time for their purge;
/// - `retention_runs`: what each purge removed.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ConsentDisclosures::Table)
                    .if_not_exists()
                    .col(string_len(ConsentDisclosures::Version, 64).primary_key())
                    .col(text(ConsentDisclosures::Text))
                    .col(string_len(ConsentDisclosures::TextSha256, 64))
                    .col(timestamp_with_time_zone(ConsentDisclosures::PublishedAt))
                    .col(string_len(ConsentDisclosures::PublishedBy, 128))
                    .to_owned(),
            )
            .await?;
        // SQLite alters one column per statement.
        for column in [
            string_len_null(ConsentEvents::DisclosureVersion, 64),
            string_len_null(ConsentEvents::DisclosureSha256, 64),
            string_len_null(ConsentEvents::UserAgent, 512),
            string_len_null(ConsentEvents::Page, 512),
            string_len_null(ConsentEvents::PhoneHash, 64),
            string_len_null(ConsentEvents::PhoneLast4, 4),
            timestamp_with_time_zone_null(ConsentEvents::SupersededAt),
        ] {
            let mut column = column;
            manager
                .alter_table(
                    Table::alter()
                        .table(ConsentEvents::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        let db = manager.get_connection();
        // Every event but a person's newest was superseded when the next one was written.
        db.execute_unprepared(
            "UPDATE consent_events SET superseded_at = (SELECT MIN(n.occurred_at) FROM consent_events n \
             WHERE n.user_id = consent_events.user_id AND n.id > consent_events.id)",
        )
        .await?;
        for (table, mut column) in [
            (
                SmsLog::Table.into_iden(),
                timestamp_with_time_zone_null(SmsLog::BodyPurgedAt),
            ),
            (
                SmsReplies::Table.into_iden(),
                timestamp_with_time_zone_null(SmsReplies::BodyPurgedAt),
            ),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        for statement in [
            "CREATE INDEX idx_consent_events_phone_hash ON consent_events (phone_hash, id)",
            "CREATE INDEX idx_consent_events_superseded ON consent_events (superseded_at) \
             WHERE superseded_at IS NOT NULL",
            // A person's last event, when it ended their consent: purged once it is old enough.
            "CREATE INDEX idx_consent_events_last_ended ON consent_events (occurred_at) \
             WHERE superseded_at IS NULL AND action <> 'given'",
            "CREATE INDEX idx_sms_log_body_kept ON sms_log (created_at) WHERE body_purged_at IS NULL",
            "CREATE INDEX idx_sms_replies_body_kept ON sms_replies (received_at) \
             WHERE body_purged_at IS NULL",
            "CREATE INDEX idx_sns_deliveries_received ON sns_deliveries (received_at)",
            "CREATE INDEX idx_reminder_runs_started ON reminder_runs (started_at)",
        ] {
            db.execute_unprepared(statement).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(RetentionRuns::Table)
                    .if_not_exists()
                    .col(big_pk_auto(RetentionRuns::Id))
                    .col(string_len(RetentionRuns::Trigger, 16))
                    .col(big_integer(RetentionRuns::MessageBodies))
                    .col(big_integer(RetentionRuns::ReplyBodies))
                    .col(big_integer(RetentionRuns::ConsentEvents))
                    .col(big_integer(RetentionRuns::WebhookDeliveries))
                    .col(big_integer(RetentionRuns::ScanRuns))
                    .col(timestamp_with_time_zone(RetentionRuns::StartedAt))
                    .col(timestamp_with_time_zone(RetentionRuns::FinishedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(RetentionRuns::Table).to_owned())
            .await?;
        let db = manager.get_connection();
        for index in [
            "idx_reminder_runs_started",
            "idx_sns_deliveries_received",
            "idx_sms_replies_body_kept",
            "idx_sms_log_body_kept",
            "idx_consent_events_last_ended",
            "idx_consent_events_superseded",
            "idx_consent_events_phone_hash",
        ] {
            db.execute_unprepared(&format!("DROP INDEX {index}"))
                .await?;
        }
        for (table, column) in [
            (
                SmsReplies::Table.into_iden(),
                SmsReplies::BodyPurgedAt.into_iden(),
            ),
            (SmsLog::Table.into_iden(), SmsLog::BodyPurgedAt.into_iden()),
            (
                ConsentEvents::Table.into_iden(),
                ConsentEvents::SupersededAt.into_iden(),
            ),
            (
                ConsentEvents::Table.into_iden(),
                ConsentEvents::PhoneLast4.into_iden(),
            ),
            (
                ConsentEvents::Table.into_iden(),
                ConsentEvents::PhoneHash.into_iden(),
            ),
            (
                ConsentEvents::Table.into_iden(),
                ConsentEvents::Page.into_iden(),
            ),
            (
                ConsentEvents::Table.into_iden(),
                ConsentEvents::UserAgent.into_iden(),
            ),
            (
                ConsentEvents::Table.into_iden(),
                ConsentEvents::DisclosureSha256.into_iden(),
            ),
            (
                ConsentEvents::Table.into_iden(),
                ConsentEvents::DisclosureVersion.into_iden(),
            ),
        ] {
            manager
                .alter_table(Table::alter().table(table).drop_column(column).to_owned())
                .await?;
        }
        manager
            .drop_table(Table::drop().table(ConsentDisclosures::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum ConsentDisclosures {
    Table,
    Version,
    Text,
    TextSha256,
    PublishedAt,
    PublishedBy,
}

#[derive(DeriveIden)]
enum ConsentEvents {
    Table,
    DisclosureVersion,
    DisclosureSha256,
    UserAgent,
    Page,
    PhoneHash,
    PhoneLast4,
    SupersededAt,
}

#[derive(DeriveIden)]
enum SmsLog {
    Table,
    BodyPurgedAt,
}

#[derive(DeriveIden)]
enum SmsReplies {
    Table,
    BodyPurgedAt,
}

#[derive(DeriveIden)]
enum RetentionRuns {
    Table,
    Id,
    Trigger,
    MessageBodies,
    ReplyBodies,
    ConsentEvents,
    WebhookDeliveries,
    ScanRuns,
    StartedAt,
    FinishedAt,
}
