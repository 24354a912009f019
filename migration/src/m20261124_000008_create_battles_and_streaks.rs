use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Battles::Table)
                    .if_not_exists()
                    .col(string_len(Battles::BattleId, 128).primary_key())
                    .col(string_len(Battles::Topic, 500))
                    .col(string_len(Battles::Link, 1000))
                    .col(string_len(Battles::Status, 16))
                    .col(timestamp_with_time_zone(Battles::DeadlineAt))
                    .col(timestamp_with_time_zone(Battles::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        // The battle scan: active battles by deadline, one range.
        manager
            .create_index(
                Index::create()
                    .name("idx_battles_status_deadline")
                    .table(Battles::Table)
                    .col(Battles::Status)
                    .col(Battles::DeadlineAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(BattleParticipants::Table)
                    .if_not_exists()
                    .col(string_len(BattleParticipants::BattleId, 128))
                    .col(string_len(BattleParticipants::UserId, 128))
                    .col(timestamp_with_time_zone_null(
                        BattleParticipants::SubmittedAt,
                    ))
                    .primary_key(
                        Index::create()
                            .col(BattleParticipants::BattleId)
                            .col(BattleParticipants::UserId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_battle_participants_battle")
                            .from(BattleParticipants::Table, BattleParticipants::BattleId)
                            .to(Battles::Table, Battles::BattleId)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Streaks::Table)
                    .if_not_exists()
                    .col(string_len(Streaks::UserId, 128).primary_key())
                    .col(integer(Streaks::CurrentDays))
                    .col(date(Streaks::LastActivityDate))
                    .col(timestamp_with_time_zone_null(Streaks::NextAlertAt))
                    .col(timestamp_with_time_zone_null(Streaks::AlertExpiresAt))
                    .col(timestamp_with_time_zone(Streaks::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        // The streak scan reads only alerts that are due and not yet handled.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX idx_streaks_next_alert ON streaks (next_alert_at) \
                 WHERE next_alert_at IS NOT NULL",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            BattleParticipants::Table.into_iden(),
            Battles::Table.into_iden(),
            Streaks::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Battles {
    Table,
    BattleId,
    Topic,
    Link,
    Status,
    DeadlineAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum BattleParticipants {
    Table,
    BattleId,
    UserId,
    SubmittedAt,
}

#[derive(DeriveIden)]
enum Streaks {
    Table,
    UserId,
    CurrentDays,
    LastActivityDate,
    NextAlertAt,
    AlertExpiresAt,
    UpdatedAt,
}
