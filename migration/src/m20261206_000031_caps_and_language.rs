use sea_orm_migration::{prelude::*, schema::*};

/// People's own rules, part 2 (issue 32): the person's language (`recipients.locale`, BCP 47), the
/// language each text went in (`sms_log.locale`, so a number without an account is answered in the
/// language of its last text), the inviter of a battle invitation (`sms_log.inviter_id`, for the
/// per-inviter cap) and the person's own frequency caps (`sms_preferences.frequency_caps`,
/// `type=N/hours` pairs).
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column per statement.
        let changes: [(DynIden, ColumnDef); 4] = [
            (
                Recipients::Table.into_iden(),
                string_len_null(Recipients::Locale, 16),
            ),
            (
                SmsLog::Table.into_iden(),
                string_len_null(SmsLog::Locale, 16),
            ),
            (
                SmsLog::Table.into_iden(),
                string_len_null(SmsLog::InviterId, 128),
            ),
            (
                SmsPreferences::Table.into_iden(),
                text_null(SmsPreferences::FrequencyCaps),
            ),
        ];
        for (table, mut column) in changes {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let changes: [(DynIden, DynIden); 4] = [
            (
                SmsPreferences::Table.into_iden(),
                SmsPreferences::FrequencyCaps.into_iden(),
            ),
            (SmsLog::Table.into_iden(), SmsLog::InviterId.into_iden()),
            (SmsLog::Table.into_iden(), SmsLog::Locale.into_iden()),
            (
                Recipients::Table.into_iden(),
                Recipients::Locale.into_iden(),
            ),
        ];
        for (table, column) in changes {
            manager
                .alter_table(Table::alter().table(table).drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Recipients {
    Table,
    Locale,
}

#[derive(DeriveIden)]
enum SmsLog {
    Table,
    Locale,
    InviterId,
}

#[derive(DeriveIden)]
enum SmsPreferences {
    Table,
    FrequencyCaps,
}
