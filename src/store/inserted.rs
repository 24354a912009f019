//! A batch's rows inserted into `sms_log`: a multi-row `INSERT ... RETURNING` per chunk.
//!
//! On SQLite, whose one writer every batch waits for, the insert returns only each row's id (and dedupe
//! key), and the row is built from what was inserted: the database gives it nothing else (SQLite's
//! feed stamp is the batch's own, the other columns keep their defaults). Reading every column of
//! every row back cost the writer's turn about a third of the insert. PostgreSQL, whose stamp comes
//! from a sequence and whose timestamps keep microseconds, returns the whole row.

use chrono::{DateTime, Utc};
use entity::sms_log::{self, SmsStatus};
use sea_orm::{
    ActiveValue::Set, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryTrait, TryIntoModel,
};

use super::messages::{NewMessage, Verdict};

/// Most rows one INSERT carries (about 35 columns each, far below both engines' parameter limits).
const INSERT_CHUNK: usize = 200;

/// The row of a message as it is inserted.
fn active_model(
    message: NewMessage,
    now: DateTime<Utc>,
    stamp: Option<i64>,
) -> sms_log::ActiveModel {
    let (status, blocked, due, cost) = match message.verdict {
        Verdict::Accept {
            due_at,
            cost_micros,
        } => (SmsStatus::Pending, None, Some(due_at), Some(cost_micros)),
        Verdict::Block(reason) => (SmsStatus::Blocked, Some(reason), None, None),
    };
    let (related_type, related_id) = message.related.unzip();
    sms_log::ActiveModel {
        user_id: Set(message.user_id),
        to_phone: Set(message.to_phone),
        country: Set(message.country),
        message_type: Set(message.message_type),
        promotional: Set(message.promotional),
        priority: Set(if message.promotional { 1 } else { 0 }),
        body: Set(message.body),
        // A code is stored in the clear only while it waits to be sent.
        sensitive_body: Set(message.sensitive_body.filter(|_| blocked.is_none())),
        status: Set(status),
        blocked_reason: Set(blocked),
        attempts: Set(0),
        next_attempt_at: Set(due),
        expires_at: Set(Some(message.expires_at)),
        retry_of: Set(message.retry_of),
        cost_micros: Set(cost),
        estimated_cost_micros: Set(cost),
        segments: Set(message.segments),
        encoding: Set(message.encoding),
        created_at: Set(now),
        related_object_type: Set(related_type),
        related_object_id: Set(related_id),
        dedupe_key: Set(message.dedupe_key),
        quiet_hours_zone: Set(message.quiet_hours_zone),
        trace_parent: Set(message.trace_parent),
        smart_encoded: Set(message.smart_encoded),
        encoding_saved: Set(message.encoding_saved),
        links_saved: Set(message.links_saved),
        digest_hold: Set(message.digest_hold && blocked.is_none()),
        digest_part: Set(message.digest_part.filter(|_| message.digest_hold)),
        locale: Set(message.locale),
        inviter_id: Set(message.inviter_id),
        // PostgreSQL stamps a new row itself (the column's default); see `feed`.
        change_seq: stamp.map_or(sea_orm::ActiveValue::NotSet, Set),
        ..Default::default()
    }
}

/// Inserts the messages; a message whose dedupe key exists already is skipped (`None` in its place).
pub(super) async fn insert_rows(
    txn: &impl ConnectionTrait,
    messages: Vec<NewMessage>,
    now: DateTime<Utc>,
    stamp: Option<i64>,
) -> Result<Vec<Option<sms_log::Model>>, DbErr> {
    let backend = txn.get_database_backend();
    let local = backend == DbBackend::Sqlite && stamp.is_some();
    let mut out = Vec::with_capacity(messages.len());
    let mut messages = messages.into_iter().peekable();
    while messages.peek().is_some() {
        let rows: Vec<sms_log::ActiveModel> = messages
            .by_ref()
            .take(INSERT_CHUNK)
            .map(|m| active_model(m, now, stamp))
            .collect();
        let keys: Vec<Option<String>> = rows.iter().map(key_of).collect();
        let inserted = if local {
            ids_only(txn, rows).await?
        } else {
            whole_rows(txn, rows).await?
        };
        // Ids grow in VALUES order: sorted by id, the rows line up with the chunk, except for skipped
        // duplicates, recognised by their key.
        let mut inserted = inserted.into_iter().peekable();
        for key in keys {
            let matches = inserted
                .peek()
                .is_some_and(|row| key.is_none() || row.dedupe_key == key);
            out.push(if matches { inserted.next() } else { None });
        }
    }
    Ok(out)
}

/// The multi-row insert of `rows`, skipping a row whose dedupe key exists, `RETURNING` what is asked.
fn insert(
    txn: &impl ConnectionTrait,
    rows: Vec<sms_log::ActiveModel>,
    returning: sea_orm::sea_query::ReturningClause,
) -> sea_orm::Statement {
    let mut insert = sms_log::Entity::insert_many(rows).on_conflict(super::dedupe_key_taken());
    insert.query().returning(returning);
    insert.build(txn.get_database_backend())
}

/// The chunk inserted, each row read back whole, by id.
async fn whole_rows(
    txn: &impl ConnectionTrait,
    rows: Vec<sms_log::ActiveModel>,
) -> Result<Vec<sms_log::Model>, DbErr> {
    let all = sea_orm::sea_query::Query::returning().all();
    let mut inserted = sms_log::Entity::find()
        .from_raw_sql(insert(txn, rows, all))
        .all(txn)
        .await?;
    inserted.sort_by_key(|r| r.id);
    Ok(inserted)
}

/// The chunk inserted, returning each row's id and dedupe key only; the rows, by id, built from what
/// was inserted.
async fn ids_only(
    txn: &impl ConnectionTrait,
    rows: Vec<sms_log::ActiveModel>,
) -> Result<Vec<sms_log::Model>, DbErr> {
    let returning = sea_orm::sea_query::Query::returning()
        .columns([sms_log::Column::Id, sms_log::Column::DedupeKey]);
    let mut ids = Vec::with_capacity(rows.len());
    for row in txn
        .query_all_raw(insert(txn, rows.clone(), returning))
        .await?
    {
        let key: Option<String> = row.try_get("", "dedupe_key")?;
        ids.push((row.try_get::<i64>("", "id")?, key));
    }
    ids.sort_by_key(|(id, _)| *id);
    // Each id with the row it was given: in order, passing over the rows whose key existed.
    let mut ids = ids.into_iter().peekable();
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let key = key_of(&row);
        if ids.peek().is_some_and(|(_, k)| key.is_none() || *k == key)
            && let Some((id, _)) = ids.next()
        {
            out.push(as_inserted(row, id)?);
        }
    }
    Ok(out)
}

fn key_of(row: &sms_log::ActiveModel) -> Option<String> {
    row.dedupe_key.try_as_ref().cloned().flatten()
}

/// The row as SQLite holds it after the insert: what was given, the id, and the defaults of the
/// columns the insert leaves out. A column added to the log and left out of both fails here loudly
/// (`try_into_model`), not silently.
fn as_inserted(mut row: sms_log::ActiveModel, id: i64) -> Result<sms_log::Model, DbErr> {
    row.id = Set(id);
    row.duplicate_cost_micros = Set(None);
    row.provider_message_id = Set(None);
    row.error_code = Set(None);
    row.error_message = Set(None);
    row.sent_at = Set(None);
    row.delivered_at = Set(None);
    row.priced_at = Set(None);
    row.carrier_fee_micros = Set(None);
    row.body_purged_at = Set(None);
    row.digest_id = Set(None);
    row.carried = Set(0);
    row.carried_segments = Set(0);
    row.try_into_model()
}
