use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Recipients::Table)
                    .if_not_exists()
                    .col(string_len(Recipients::UserId, 128).primary_key())
                    .col(string_len_null(Recipients::PhoneE164, 16))
                    .col(timestamp_with_time_zone_null(Recipients::PhoneVerifiedAt))
                    .col(boolean(Recipients::AllowSms).default(false))
                    .col(string_len_null(Recipients::Timezone, 64))
                    .col(timestamp_with_time_zone_null(Recipients::SignedUpAt))
                    .col(timestamp_with_time_zone_null(Recipients::SmsPromptShownAt))
                    .col(timestamp_with_time_zone_null(
                        Recipients::SmsPromptDismissedAt,
                    ))
                    .col(timestamp_with_time_zone(Recipients::CreatedAt))
                    .col(timestamp_with_time_zone(Recipients::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        // Looking a number up (opt-outs, invitations to a friend's number) must not scan the table.
        manager
            .create_index(
                Index::create()
                    .name("idx_recipients_phone_e164")
                    .table(Recipients::Table)
                    .col(Recipients::PhoneE164)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Recipients::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub enum Recipients {
    Table,
    UserId,
    PhoneE164,
    PhoneVerifiedAt,
    AllowSms,
    Timezone,
    SignedUpAt,
    SmsPromptShownAt,
    SmsPromptDismissedAt,
    CreatedAt,
    UpdatedAt,
}
