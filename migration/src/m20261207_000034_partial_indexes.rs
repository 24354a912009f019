use sea_orm_migration::prelude::*;

/// Three indexes of `sms_log` hold only the rows whose column is set: the dedupe key (the API's
/// idempotency key, which most texts have not), the provider's message id (set when a text is sent) and
/// the digest a text went out in. Every row used to put a NULL entry in each of them with every
/// version of the row (a claim and an outcome write a new version each): three index entries per
/// version that no query reads, since every lookup names a value (`=` and `IN` imply `IS NOT NULL`,
/// which both engines' planners use to pick a partial index). The upserts on the dedupe key name the
/// index's condition (`ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL`).
#[derive(DeriveMigrationName)]
pub struct Migration;

/// (index, column, unique)
const INDEXES: [(&str, &str, bool); 3] = [
    ("idx_sms_log_dedupe_key", "dedupe_key", true),
    (
        "idx_sms_log_provider_message_id",
        "provider_message_id",
        false,
    ),
    ("idx_sms_log_digest_id", "digest_id", false),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        recreate(manager, true).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        recreate(manager, false).await
    }
}

/// Makes each index again, holding only the rows whose column is set (`partial`) or every row, in one
/// script on one connection.
async fn recreate(manager: &SchemaManager<'_>, partial: bool) -> Result<(), DbErr> {
    let mut script = String::new();
    for (name, column, unique) in INDEXES {
        let unique = if unique { "UNIQUE " } else { "" };
        let only_set = if partial {
            format!(" WHERE {column} IS NOT NULL")
        } else {
            String::new()
        };
        script.push_str(&format!(
            "DROP INDEX {name}; CREATE {unique}INDEX {name} ON sms_log ({column}){only_set}; "
        ));
    }
    manager.get_connection().execute_unprepared(&script).await?;
    Ok(())
}
