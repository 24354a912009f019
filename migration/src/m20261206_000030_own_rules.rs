use sea_orm_migration::{prelude::*, schema::*};

/// People's own rules (issue 32): their own quiet hours (local `HH:MM` to `HH:MM` in their zone) and a
/// snooze of promotional texts until a time, for some types or all.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let columns = [
            string_len_null(SmsPreferences::QuietStart, 5),
            string_len_null(SmsPreferences::QuietEnd, 5),
            timestamp_with_time_zone_null(SmsPreferences::SnoozedUntil),
            text_null(SmsPreferences::SnoozedTypes),
        ];
        // SQLite alters one column per statement.
        for mut column in columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(SmsPreferences::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            SmsPreferences::SnoozedTypes,
            SmsPreferences::SnoozedUntil,
            SmsPreferences::QuietEnd,
            SmsPreferences::QuietStart,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(SmsPreferences::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum SmsPreferences {
    Table,
    QuietStart,
    QuietEnd,
    SnoozedUntil,
    SnoozedTypes,
}
