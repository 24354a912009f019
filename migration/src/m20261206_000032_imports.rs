use sea_orm_migration::{prelude::*, schema::*};

/// Moving in (issue 30): when a person's row and their preferences were last written by
/// `sms-notify import` (a later import of the old app's data may change them only while nothing here
/// has written them since), and which consent events were imported from the old app (their time is the
/// old app's; `imported_at` is when they came in).
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column per statement.
        let tables: [DynIden; 3] = [
            Recipients::Table.into_iden(),
            SmsPreferences::Table.into_iden(),
            ConsentEvents::Table.into_iden(),
        ];
        for table in tables {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .add_column(timestamp_with_time_zone_null(Imported::ImportedAt))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let tables: [DynIden; 3] = [
            ConsentEvents::Table.into_iden(),
            SmsPreferences::Table.into_iden(),
            Recipients::Table.into_iden(),
        ];
        for table in tables {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .drop_column(Imported::ImportedAt)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Recipients {
    Table,
}

#[derive(DeriveIden)]
enum SmsPreferences {
    Table,
}

#[derive(DeriveIden)]
enum ConsentEvents {
    Table,
}

#[derive(DeriveIden)]
enum Imported {
    ImportedAt,
}
