use sea_orm_migration::{prelude::*, schema::*};

/// An account-level error (access denied, an identity that is not active, AWS's spend limit) pauses
/// the whole deployment until a `DryRun` probe passes or an admin resumes: why, since when, when the
/// next probe runs and which message it tries, on the shared gate row.
#[derive(DeriveMigrationName)]
pub struct Migration;

const COLUMNS: [SendGate; 5] = [
    SendGate::PauseCode,
    SendGate::PauseReason,
    SendGate::PausedSinceUs,
    SendGate::NextProbeUs,
    SendGate::ProbeMessageId,
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one column at a time.
        for column in COLUMNS {
            let definition = match column {
                SendGate::PauseCode => string_len_null(column, 128),
                SendGate::PauseReason => text_null(column),
                _ => big_integer_null(column),
            };
            manager
                .alter_table(
                    Table::alter()
                        .table(SendGate::Table)
                        .add_column(definition)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in COLUMNS.into_iter().rev() {
            manager
                .alter_table(
                    Table::alter()
                        .table(SendGate::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum SendGate {
    Table,
    PauseCode,
    PauseReason,
    PausedSinceUs,
    NextProbeUs,
    ProbeMessageId,
}
