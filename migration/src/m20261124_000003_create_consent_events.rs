use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ConsentEvents::Table)
                    .if_not_exists()
                    .col(
                        big_integer(ConsentEvents::Id)
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(string_len(ConsentEvents::UserId, 128))
                    .col(string_len(ConsentEvents::Action, 16))
                    .col(string_len(ConsentEvents::Method, 32))
                    .col(string_len_null(ConsentEvents::PhoneE164, 16))
                    .col(string_len_null(ConsentEvents::Ip, 64))
                    .col(timestamp_with_time_zone(ConsentEvents::OccurredAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_consent_events_user_occurred")
                    .table(ConsentEvents::Table)
                    .col(ConsentEvents::UserId)
                    .col(ConsentEvents::OccurredAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ConsentEvents::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum ConsentEvents {
    Table,
    Id,
    UserId,
    Action,
    Method,
    PhoneE164,
    Ip,
    OccurredAt,
}
