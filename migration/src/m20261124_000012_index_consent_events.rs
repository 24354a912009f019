use sea_orm_migration::prelude::*;

/// The consent records are read by time range (the export) and by number (an operator's look-up).
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, column) in [
            ("idx_consent_events_occurred", ConsentEvents::OccurredAt),
            ("idx_consent_events_phone", ConsentEvents::PhoneE164),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(ConsentEvents::Table)
                        .col(column)
                        .col(ConsentEvents::Id)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in ["idx_consent_events_phone", "idx_consent_events_occurred"] {
            manager
                .drop_index(
                    Index::drop()
                        .name(name)
                        .table(ConsentEvents::Table)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum ConsentEvents {
    Table,
    Id,
    OccurredAt,
    PhoneE164,
}
