use sea_orm_migration::{prelude::*, schema::*};

use super::m20261124_000001_create_recipients::Recipients;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SmsPreferences::Table)
                    .if_not_exists()
                    .col(string_len(SmsPreferences::UserId, 128).primary_key())
                    .col(boolean(SmsPreferences::BattleInvitations).default(true))
                    .col(boolean(SmsPreferences::BattleResults).default(true))
                    .col(boolean(SmsPreferences::BattleReminders).default(true))
                    .col(boolean(SmsPreferences::StreakAlerts).default(true))
                    .col(boolean(SmsPreferences::DirectMessages).default(true))
                    .col(boolean(SmsPreferences::Achievements).default(true))
                    .col(timestamp_with_time_zone_null(
                        SmsPreferences::ConsentGivenAt,
                    ))
                    .col(string_len_null(SmsPreferences::ConsentMethod, 32))
                    .col(string_len_null(SmsPreferences::ConsentIp, 64))
                    .col(timestamp_with_time_zone_null(
                        SmsPreferences::ConsentRevokedAt,
                    ))
                    .col(timestamp_with_time_zone(SmsPreferences::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_sms_preferences_recipient")
                            .from(SmsPreferences::Table, SmsPreferences::UserId)
                            .to(Recipients::Table, Recipients::UserId)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SmsPreferences::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum SmsPreferences {
    Table,
    UserId,
    BattleInvitations,
    BattleResults,
    BattleReminders,
    StreakAlerts,
    DirectMessages,
    Achievements,
    ConsentGivenAt,
    ConsentMethod,
    ConsentIp,
    ConsentRevokedAt,
    UpdatedAt,
}
