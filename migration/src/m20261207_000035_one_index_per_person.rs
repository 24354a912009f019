use sea_orm_migration::prelude::*;

/// `sms_log` had two indexes per person: `(user_id, id)` beside `(user_id, created_at)`, and
/// `(to_phone, id)` beside `(to_phone, created_at)`. Every version of every row (the insert, the
/// claim and the outcome each write one) put an entry in all four. The `created_at` ones serve every
/// lookup: the counts since a time (the daily limit, the caps), erasure, and the history of one person
/// or number, which reads that person's rows through them and orders the page by id (a few hundred rows
/// a year). The `id` ones are gone: two index entries fewer per row version.
#[derive(DeriveMigrationName)]
pub struct Migration;

/// (index, column)
const INDEXES: [(&str, &str); 2] = [
    ("idx_sms_log_user", "user_id"),
    ("idx_sms_log_phone", "to_phone"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let script: String = INDEXES
            .iter()
            .map(|(name, _)| format!("DROP INDEX {name}; "))
            .collect();
        manager.get_connection().execute_unprepared(&script).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let script: String = INDEXES
            .iter()
            .map(|(name, column)| format!("CREATE INDEX {name} ON sms_log ({column}, id); "))
            .collect();
        manager.get_connection().execute_unprepared(&script).await?;
        Ok(())
    }
}
