use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PhoneVerifications::Table)
                    .if_not_exists()
                    .col(
                        big_integer(PhoneVerifications::Id)
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(string_len(PhoneVerifications::UserId, 128))
                    .col(string_len(PhoneVerifications::PhoneE164, 16))
                    .col(string_len(PhoneVerifications::CodeHash, 200))
                    .col(string_len_null(PhoneVerifications::ClientIp, 64))
                    .col(timestamp_with_time_zone(PhoneVerifications::CreatedAt))
                    .col(timestamp_with_time_zone(PhoneVerifications::ExpiresAt))
                    .col(integer(PhoneVerifications::Attempts).default(0))
                    .col(timestamp_with_time_zone_null(
                        PhoneVerifications::ConsumedAt,
                    ))
                    .col(timestamp_with_time_zone_null(
                        PhoneVerifications::InvalidatedAt,
                    ))
                    .to_owned(),
            )
            .await?;
        // Each abuse limit counts recent codes by one key: an indexed range, never a scan.
        for (name, key) in [
            ("idx_phone_verifications_user", PhoneVerifications::UserId),
            (
                "idx_phone_verifications_phone",
                PhoneVerifications::PhoneE164,
            ),
            ("idx_phone_verifications_ip", PhoneVerifications::ClientIp),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(PhoneVerifications::Table)
                        .col(key)
                        .col(PhoneVerifications::CreatedAt)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(PhoneVerifications::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum PhoneVerifications {
    Table,
    Id,
    UserId,
    PhoneE164,
    CodeHash,
    ClientIp,
    CreatedAt,
    ExpiresAt,
    Attempts,
    ConsumedAt,
    InvalidatedAt,
}
