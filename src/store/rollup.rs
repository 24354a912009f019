//! `cost_rollup`: messages, segments and cost per day, message type, status and country, kept in step
//! with the log in the same transactions, so cost reports read a handful of rows per day.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use entity::sms_log;
use sea_orm::{ConnectionTrait, DbErr, Statement};

use super::placeholder;

pub use entity::cost_rollup::RollupStatus;

/// A change to the rollup: one key, and what to add (negative to move out). Ordered, so that every
/// transaction locks rollup rows in the same order and two of them can never deadlock.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RollupKey {
    pub day: String,
    pub message_type: String,
    pub status: RollupStatus,
    pub country: String,
}

/// Applies rollup changes in one statement (changes to one key are added together first).
pub async fn rollup_add(
    db: &impl ConnectionTrait,
    changes: Vec<(RollupKey, [i64; 4])>,
) -> Result<(), DbErr> {
    let mut merged: BTreeMap<RollupKey, [i64; 4]> = BTreeMap::new();
    for (key, delta) in changes {
        let entry = merged.entry(key).or_insert([0; 4]);
        for i in 0..4 {
            entry[i] += delta[i];
        }
    }
    merged.retain(|_, d| d.iter().any(|v| *v != 0));
    if merged.is_empty() {
        return Ok(());
    }
    let backend = db.get_database_backend();
    // The connection's stripe, one of 16: PostgreSQL's backend process id, so the batches being
    // inserted and the outcomes being recorded at the same moment add to different rows (a batch adds
    // to the rollup while it holds the month's budget row, and every other batch waits for it).
    let stripe = match backend {
        sea_orm::DbBackend::Postgres => "CAST(pg_backend_pid() % 16 AS SMALLINT)",
        _ => "0",
    };
    let mut values: Vec<sea_orm::Value> = Vec::with_capacity(merged.len() * 8);
    let mut rows = Vec::with_capacity(merged.len());
    for (key, delta) in merged {
        let base = values.len();
        values.extend([
            key.day.into(),
            key.message_type.into(),
            sea_orm::ActiveEnum::to_value(&key.status).into(),
            key.country.into(),
            delta[0].into(),
            delta[1].into(),
            delta[2].into(),
            delta[3].into(),
        ]);
        rows.push(format!(
            "({}, {stripe})",
            (1..=8)
                .map(|i| placeholder(backend, base + i))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let sql = format!(
        "INSERT INTO cost_rollup (day, message_type, status, country, messages, segments, cost_micros, priced_micros, stripe) \
         VALUES {} \
         ON CONFLICT (day, message_type, status, country, stripe) DO UPDATE SET \
         messages = cost_rollup.messages + excluded.messages, \
         segments = cost_rollup.segments + excluded.segments, \
         cost_micros = cost_rollup.cost_micros + excluded.cost_micros, \
         priced_micros = cost_rollup.priced_micros + excluded.priced_micros",
        rows.join(", ")
    );
    db.execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    Ok(())
}

/// What a log row adds to the rollup: one message, its segments, its cost, and the part of the cost
/// that AWS priced.
pub fn measures(row: &sms_log::Model) -> [i64; 4] {
    let cost = row.cost_micros.unwrap_or(0);
    [
        1,
        i64::from(row.segments),
        cost,
        if row.priced_at.is_some() { cost } else { 0 },
    ]
}

/// The rollup key of a log row in a given status (`sending` counts as `pending`).
pub fn rollup_key(row: &sms_log::Model, status: RollupStatus) -> RollupKey {
    RollupKey {
        day: day_of(row.created_at),
        message_type: sea_orm::ActiveEnum::to_value(&row.message_type),
        status,
        country: row.country.clone().unwrap_or_default(),
    }
}

/// How a cost report splits its totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    Day,
    MessageType,
    Status,
    Country,
}

/// One bucket of a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub key: String,
    pub messages: i64,
    pub segments: i64,
    pub cost_micros: i64,
    /// The part of `cost_micros` AWS's receipts priced; the rest is an estimate.
    pub priced_micros: i64,
    /// The bucket split again by a second grouping (empty without one).
    pub parts: Vec<Bucket>,
}

fn column_of(grouping: Grouping) -> &'static str {
    match grouping {
        Grouping::Day => "day",
        Grouping::MessageType => "message_type",
        Grouping::Status => "status",
        Grouping::Country => "country",
    }
}

/// Totals from the rollup for the UTC days from `from` up to `to` (exclusive), in buckets when
/// `grouping` is given, each split again by `split` when that is given too (a day's cost by message
/// type, say). Its cost is a handful of indexed rows per day, whatever the number of messages.
pub async fn totals(
    db: &impl ConnectionTrait,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    (grouping, split): (Option<Grouping>, Option<Grouping>),
) -> Result<Vec<Bucket>, DbErr> {
    let backend = db.get_database_backend();
    let first = day_of(from);
    let last = day_of(to - chrono::Duration::microseconds(1));
    // A split without a grouping, or by the grouping itself, adds nothing.
    let split = split.filter(|s| grouping.is_some_and(|g| g != *s));
    let column = grouping.map_or("''", column_of);
    let sub = split.map_or("''", column_of);
    // Without a grouping, one row of totals (PostgreSQL refuses GROUP BY a constant).
    let grouped = match (grouping, split) {
        (Some(_), Some(_)) => format!(" GROUP BY {column}, {sub} ORDER BY {column}, {sub}"),
        (Some(_), None) => format!(" GROUP BY {column} ORDER BY {column}"),
        _ => String::new(),
    };
    let sql = format!(
        "SELECT {column} AS k, {sub} AS sk, CAST(SUM(messages) AS BIGINT) AS m, \
         CAST(SUM(segments) AS BIGINT) AS s, CAST(SUM(cost_micros) AS BIGINT) AS c, \
         CAST(SUM(priced_micros) AS BIGINT) AS p FROM cost_rollup \
         WHERE day >= {} AND day <= {}{grouped}",
        placeholder(backend, 1),
        placeholder(backend, 2)
    );
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [first.into(), last.into()],
        ))
        .await?;
    let mut buckets: Vec<Bucket> = Vec::with_capacity(rows.len());
    for row in rows {
        let part = Bucket {
            key: row.try_get("", "sk")?,
            messages: row.try_get::<Option<i64>>("", "m")?.unwrap_or(0),
            segments: row.try_get::<Option<i64>>("", "s")?.unwrap_or(0),
            cost_micros: row.try_get::<Option<i64>>("", "c")?.unwrap_or(0),
            priced_micros: row.try_get::<Option<i64>>("", "p")?.unwrap_or(0),
            parts: Vec::new(),
        };
        let key: String = row.try_get("", "k")?;
        // Rows come ordered by the grouping, so a bucket's parts are adjacent.
        let bucket = match buckets.last_mut() {
            Some(last) if last.key == key => last,
            _ => {
                buckets.push(Bucket {
                    key,
                    messages: 0,
                    segments: 0,
                    cost_micros: 0,
                    priced_micros: 0,
                    parts: Vec::new(),
                });
                buckets
                    .last_mut()
                    .unwrap_or_else(|| unreachable!("just pushed"))
            }
        };
        bucket.messages += part.messages;
        bucket.segments += part.segments;
        bucket.cost_micros += part.cost_micros;
        bucket.priced_micros += part.priced_micros;
        if split.is_some() {
            bucket.parts.push(part);
        }
    }
    Ok(buckets)
}

/// The rollup day of a moment: `YYYY-MM-DD` in UTC (part of the key of `cost_rollup`).
pub fn day_of(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d").to_string()
}
