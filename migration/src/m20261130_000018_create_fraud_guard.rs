use sea_orm_migration::{prelude::*, schema::*};

/// The verification fraud guard and the country switches: each code keeps the range of numbers it went
/// to (an operator's block), counted in a sliding window with an index; admins' lifts of the guard for a
/// range; what codes reserved each UTC day (their daily ceiling, reserved in the send's transaction as
/// the month's budget is); and the switches that turn codes or all texts to a country off at run time.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(PhoneVerifications::Table)
                    .add_column(string_len_null(PhoneVerifications::PhoneRange, 16))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_phone_verifications_range")
                    .table(PhoneVerifications::Table)
                    .col(PhoneVerifications::PhoneRange)
                    .col(PhoneVerifications::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(VerificationGuardLifts::Table)
                    .if_not_exists()
                    .col(string_len(VerificationGuardLifts::PhoneRange, 16).primary_key())
                    .col(timestamp_with_time_zone(VerificationGuardLifts::LiftedAt))
                    .col(string_len(VerificationGuardLifts::LiftedBy, 128))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CodeSpendDays::Table)
                    .if_not_exists()
                    .col(string_len(CodeSpendDays::Day, 10).primary_key())
                    .col(big_integer(CodeSpendDays::ReservedMicros).default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CountrySending::Table)
                    .if_not_exists()
                    .col(string_len(CountrySending::Country, 2).primary_key())
                    .col(boolean(CountrySending::Verification))
                    .col(boolean(CountrySending::Messages))
                    .col(timestamp_with_time_zone(CountrySending::UpdatedAt))
                    .col(string_len(CountrySending::UpdatedBy, 128))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(CountrySending::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(CodeSpendDays::Table).to_owned())
            .await?;
        manager
            .drop_table(
                Table::drop()
                    .table(VerificationGuardLifts::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_phone_verifications_range")
                    .table(PhoneVerifications::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(PhoneVerifications::Table)
                    .drop_column(PhoneVerifications::PhoneRange)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum PhoneVerifications {
    Table,
    PhoneRange,
    CreatedAt,
}

#[derive(DeriveIden)]
enum VerificationGuardLifts {
    Table,
    PhoneRange,
    LiftedAt,
    LiftedBy,
}

#[derive(DeriveIden)]
enum CodeSpendDays {
    Table,
    Day,
    ReservedMicros,
}

#[derive(DeriveIden)]
enum CountrySending {
    Table,
    Country,
    Verification,
    Messages,
    UpdatedAt,
    UpdatedBy,
}
