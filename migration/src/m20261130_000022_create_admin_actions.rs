use sea_orm_migration::{prelude::*, schema::*};

/// The audit trail of admins' writes: who (the token's subject), what, on what, when, with the note.
/// Append-only; read newest first by id.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AdminActions::Table)
                    .if_not_exists()
                    .col(big_pk_auto(AdminActions::Id))
                    .col(string_len(AdminActions::Actor, 128))
                    .col(string_len(AdminActions::Action, 64))
                    .col(string_len(AdminActions::Target, 256))
                    .col(text_null(AdminActions::Note))
                    .col(text_null(AdminActions::Detail))
                    .col(timestamp_with_time_zone(AdminActions::CreatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AdminActions::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum AdminActions {
    Table,
    Id,
    Actor,
    Action,
    Target,
    Note,
    Detail,
    CreatedAt,
}
