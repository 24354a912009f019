use sea_orm_migration::prelude::*;

/// `verificationStats` and the guard's held ranges read the codes of a period, whatever their range:
/// an index on `created_at` keeps that a range read instead of a walk over every code ever made.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("idx_phone_verifications_created")
                    .table(PhoneVerifications::Table)
                    .col(PhoneVerifications::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_phone_verifications_created")
                    .table(PhoneVerifications::Table)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum PhoneVerifications {
    Table,
    CreatedAt,
}
