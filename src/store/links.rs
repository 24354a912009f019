//! `sms_links`: the short links of texts, and their clicks.

use chrono::{DateTime, Utc};
use entity::sms_links;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    Statement,
};

use crate::outbox::links::NewLink;

/// Most rows one INSERT carries.
const INSERT_CHUNK: usize = 500;

/// Stores the links of written texts, `(message id, link)`, valid until `expires_at`.
pub async fn insert(
    txn: &impl ConnectionTrait,
    links: Vec<(i64, NewLink)>,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(), DbErr> {
    let mut links = links.into_iter().peekable();
    while links.peek().is_some() {
        let chunk =
            links
                .by_ref()
                .take(INSERT_CHUNK)
                .map(|(message_id, link)| sms_links::ActiveModel {
                    code: Set(link.code),
                    message_id: Set(message_id),
                    url: Set(link.url),
                    created_at: Set(now),
                    expires_at: Set(expires_at),
                    clicks: Set(0),
                    ..Default::default()
                });
        sms_links::Entity::insert_many(chunk).exec(txn).await?;
    }
    Ok(())
}

/// A click on a short link that answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Click {
    pub url: String,
    pub message_id: i64,
    /// Clicks on this link so far, this one included.
    pub clicks: i32,
    /// The text's type (`battle_invitation`), person and number.
    pub message_type: String,
    pub user_id: Option<String>,
    pub to_phone: String,
}

/// Records one click on `code` at `now`, in one statement, and returns where it goes; `None` for a
/// code that is unknown or expired (nothing is written).
pub async fn click(
    txn: &impl ConnectionTrait,
    code: &str,
    now: DateTime<Utc>,
) -> Result<Option<Click>, DbErr> {
    let backend = txn.get_database_backend();
    let p = |n| super::placeholder(backend, n);
    let of_message = |column: &str| {
        format!(
            "(SELECT {column} FROM sms_log WHERE sms_log.id = sms_links.message_id) AS {column}"
        )
    };
    let sql = format!(
        "UPDATE sms_links SET clicks = clicks + 1, \
         first_clicked_at = COALESCE(first_clicked_at, {now}), last_clicked_at = {now} \
         WHERE code = {code} AND expires_at > {now} \
         RETURNING url, message_id, clicks, {}, {}, {}",
        of_message("message_type"),
        of_message("user_id"),
        of_message("to_phone"),
        now = p(1),
        code = p(2)
    );
    let row = txn
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [now.into(), code.into()],
        ))
        .await?;
    row.map(|r| {
        Ok(Click {
            url: r.try_get("", "url")?,
            message_id: r.try_get("", "message_id")?,
            clicks: r.try_get("", "clicks")?,
            message_type: r
                .try_get::<Option<String>>("", "message_type")?
                .unwrap_or_default(),
            user_id: r.try_get("", "user_id")?,
            to_phone: r
                .try_get::<Option<String>>("", "to_phone")?
                .unwrap_or_default(),
        })
    })
    .transpose()
}

/// The links of these texts, in the order they appear in each.
pub async fn of_messages(
    db: &impl ConnectionTrait,
    ids: Vec<i64>,
) -> Result<Vec<sms_links::Model>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    sms_links::Entity::find()
        .filter(sms_links::Column::MessageId.is_in(ids))
        .order_by_asc(sms_links::Column::Id)
        .all(db)
        .await
}

/// Removes links that expired before `now`, a batch at a time (retention).
pub async fn purge_expired(db: &super::db::Db, now: DateTime<Utc>) -> Result<u64, DbErr> {
    use sea_orm::{QuerySelect, QueryTrait};
    super::in_batches(|| async {
        let batch = sms_links::Entity::find()
            .select_only()
            .column(sms_links::Column::Id)
            .filter(sms_links::Column::ExpiresAt.lte(now))
            .limit(1_000)
            .into_query();
        // On SQLite the `Db` takes the writer's turn for the statement.
        Ok(sms_links::Entity::delete_many()
            .filter(sms_links::Column::Id.in_subquery(batch))
            .exec(db)
            .await?
            .rows_affected)
    })
    .await
}

/// Removes the links of these texts (erasure): the addresses they stood for may name the person.
pub async fn erase_for(txn: &impl ConnectionTrait, ids: Vec<i64>) -> Result<u64, DbErr> {
    if ids.is_empty() {
        return Ok(0);
    }
    Ok(sms_links::Entity::delete_many()
        .filter(sms_links::Column::MessageId.is_in(ids))
        .exec(txn)
        .await?
        .rows_affected)
}
