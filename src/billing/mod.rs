//! Money, exactly: prices, the monthly budget with its transactional reserve, and the cost rollup.
//! Amounts are integers of millionths of a US dollar in the database and in Rust; `Decimal` only at the
//! edges (configuration, GraphQL).

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Utc};
use rust_decimal::Decimal;
use sea_orm::{ConnectionTrait, DbErr, Statement};

use crate::store::placeholder;

/// Micro-dollars in a dollar.
pub const MICROS: i64 = 1_000_000;

/// `"0.0075"` -> 7500. `None` for negative amounts or more than 6 decimals.
pub fn dollars_to_micros(s: &str) -> Option<i64> {
    let d = Decimal::from_str_exact(s.trim()).ok()?;
    if d.is_sign_negative() {
        return None;
    }
    let micros = d.checked_mul(Decimal::from(MICROS))?;
    if !micros.fract().is_zero() {
        return None;
    }
    i64::try_from(micros).ok()
}

/// 7500 -> `0.0075`.
pub fn micros_to_dollars(micros: i64) -> Decimal {
    Decimal::new(micros, 6).normalize()
}

/// `share` (0 to 1) of `amount`, rounded down to a micro-dollar.
pub fn share_of(amount: i64, share: Decimal) -> i64 {
    (Decimal::from(amount) * share)
        .floor()
        .try_into()
        .unwrap_or(0)
}

/// The budget month of a moment: `YYYY-MM` in UTC.
pub fn month_of(at: DateTime<Utc>) -> String {
    format!("{:04}-{:02}", at.year(), at.month())
}

/// The rollup day of a moment: `YYYY-MM-DD` in UTC.
pub fn day_of(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d").to_string()
}

/// Reserves `micros` of `month`'s budget unless that would pass `cap`; one atomic statement, so
/// concurrent senders (and instances) can never overspend.
pub async fn reserve(
    db: &impl ConnectionTrait,
    month: &str,
    micros: i64,
    cap: i64,
) -> Result<bool, DbErr> {
    let backend = db.get_database_backend();
    let p = |n| placeholder(backend, n);
    let update = || {
        Statement::from_sql_and_values(
            backend,
            format!(
                "UPDATE spend_months SET reserved_micros = reserved_micros + {0} \
                 WHERE month = {1} AND reserved_micros + {0} <= {2}",
                p(1),
                p(2),
                p(3)
            ),
            [micros.into(), month.into(), cap.into()],
        )
    };
    if db.execute_raw(update()).await?.rows_affected() == 1 {
        return Ok(true);
    }
    // The month has no row yet, or the amount does not fit. Creating the row first on every call
    // would make each sender wait for the budget row's current holder twice (PostgreSQL's
    // INSERT ... ON CONFLICT waits for it to commit), so it is done only here.
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        format!(
            "INSERT INTO spend_months (month, reserved_micros, warned_pct) VALUES ({}, 0, 0) \
             ON CONFLICT (month) DO NOTHING",
            p(1)
        ),
        [month.into()],
    ))
    .await?;
    Ok(db.execute_raw(update()).await?.rows_affected() == 1)
}

/// Gives `micros` of `month`'s budget back (a send that failed).
pub async fn release(db: &impl ConnectionTrait, month: &str, micros: i64) -> Result<(), DbErr> {
    adjust(db, month, -micros).await
}

/// What is reserved in `month`.
pub async fn reserved(db: &impl ConnectionTrait, month: &str) -> Result<i64, DbErr> {
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "SELECT reserved_micros FROM spend_months WHERE month = {}",
                placeholder(backend, 1)
            ),
            [month.into()],
        ))
        .await?;
    match row {
        Some(row) => row.try_get("", "reserved_micros"),
        None => Ok(0),
    }
}

/// Logs each budget threshold (50, 80, 100 percent) the month crossed, once per month across every
/// instance (the first to mark it logs it).
pub async fn warn_thresholds(
    db: &impl ConnectionTrait,
    month: &str,
    limit: i64,
) -> Result<(), DbErr> {
    if limit <= 0 {
        return Ok(());
    }
    let backend = db.get_database_backend();
    let p = |n| placeholder(backend, n);
    for pct in [50_i64, 80, 100] {
        let crossed = db
            .execute_raw(Statement::from_sql_and_values(
                backend,
                format!(
                    "UPDATE spend_months SET warned_pct = {0} \
                     WHERE month = {1} AND warned_pct < {0} AND reserved_micros * 100 >= {0} * {2}",
                    p(1),
                    p(2),
                    p(3)
                ),
                [pct.into(), month.into(), limit.into()],
            ))
            .await?;
        if crossed.rows_affected() == 1 {
            let used = reserved(db, month).await?;
            tracing::warn!(
                alert = "sms_budget",
                month,
                percent = pct,
                spent = %micros_to_dollars(used),
                limit = %micros_to_dollars(limit),
                "SMS budget: {pct}% of the month's limit is used"
            );
        }
    }
    Ok(())
}

/// A change to the rollup: one key, and what to add (negative to move out). Ordered, so that every
/// transaction locks rollup rows in the same order and two of them can never deadlock.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RollupKey {
    pub day: String,
    pub message_type: String,
    pub status: String,
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
    let mut values: Vec<sea_orm::Value> = Vec::with_capacity(merged.len() * 8);
    let mut rows = Vec::with_capacity(merged.len());
    for (key, delta) in merged {
        let base = values.len();
        values.extend([
            key.day.into(),
            key.message_type.into(),
            key.status.into(),
            key.country.into(),
            delta[0].into(),
            delta[1].into(),
            delta[2].into(),
            delta[3].into(),
        ]);
        rows.push(format!(
            "({})",
            (1..=8)
                .map(|i| placeholder(backend, base + i))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let sql = format!(
        "INSERT INTO cost_rollup (day, message_type, status, country, messages, segments, cost_micros, priced_micros) \
         VALUES {} ON CONFLICT (day, message_type, status, country) DO UPDATE SET \
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
pub fn measures(row: &entity::sms_log::Model) -> [i64; 4] {
    let cost = row.cost_micros.unwrap_or(0);
    [
        1,
        i64::from(row.segments),
        cost,
        if row.priced_at.is_some() { cost } else { 0 },
    ]
}

/// Corrects `month`'s spend by `micros` (AWS charged more, or less, than estimated). Unlike
/// `reserve`, no cap: this is what was spent.
pub async fn adjust(db: &impl ConnectionTrait, month: &str, micros: i64) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        format!(
            "UPDATE spend_months SET reserved_micros = reserved_micros + {} WHERE month = {}",
            placeholder(backend, 1),
            placeholder(backend, 2)
        ),
        [micros.into(), month.into()],
    ))
    .await?;
    Ok(())
}

/// The rollup key of a log row in a given status (`sending` counts as `pending`).
pub fn rollup_key(row: &entity::sms_log::Model, status: &str) -> RollupKey {
    RollupKey {
        day: day_of(row.created_at),
        message_type: sea_orm::ActiveEnum::to_value(&row.message_type),
        status: status.to_owned(),
        country: row.country.clone().unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_and_micros_are_exact() {
        assert_eq!(dollars_to_micros("0.0075"), Some(7_500));
        assert_eq!(dollars_to_micros("1.00"), Some(1_000_000));
        assert_eq!(dollars_to_micros("12"), Some(12_000_000));
        assert_eq!(dollars_to_micros("0.000001"), Some(1));
        assert_eq!(dollars_to_micros("0.0000001"), None, "below a micro-dollar");
        assert_eq!(dollars_to_micros("-1"), None);
        assert_eq!(dollars_to_micros("abc"), None);
        assert_eq!(micros_to_dollars(7_500).to_string(), "0.0075");
        assert_eq!(micros_to_dollars(1_000_000).to_string(), "1");
        assert_eq!(share_of(1_000_000, Decimal::new(2, 1)), 200_000);
        assert_eq!(share_of(75_000, Decimal::new(1, 1)), 7_500);
    }

    #[test]
    fn months_and_days_are_utc() {
        let t = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 3, 31, 23, 59, 59)
            .single()
            .expect("t");
        assert_eq!(month_of(t), "2026-03");
        assert_eq!(day_of(t), "2026-03-31");
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

/// A cost report: totals over whole UTC days, the month to date, the limit and a projection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub messages: i64,
    pub segments: i64,
    pub cost_micros: i64,
    /// The part of `cost_micros` that is still an estimate (no price from AWS yet).
    pub estimated_micros: i64,
    pub month_to_date: i64,
    pub monthly_limit: i64,
    /// The part of the limit only verification codes and security alerts may spend.
    pub transactional_reserve: i64,
    pub remaining: i64,
    pub projected_month_end: i64,
    pub buckets: Vec<Bucket>,
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
pub async fn report(
    db: &impl ConnectionTrait,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    (grouping, split): (Option<Grouping>, Option<Grouping>),
    budget: &crate::config::CostConfig,
    now: DateTime<Utc>,
) -> Result<Report, DbErr> {
    let limit = budget.monthly_limit;
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
    let (messages, segments, cost_micros, priced_micros) =
        buckets.iter().fold((0, 0, 0, 0), |(m, s, c, p), b| {
            (
                m + b.messages,
                s + b.segments,
                c + b.cost_micros,
                p + b.priced_micros,
            )
        });
    let month_to_date = reserved(db, &month_of(now)).await?;
    let month_start = chrono::TimeZone::with_ymd_and_hms(&Utc, now.year(), now.month(), 1, 0, 0, 0)
        .single()
        .unwrap_or(now);
    let next_month = if now.month() == 12 {
        chrono::TimeZone::with_ymd_and_hms(&Utc, now.year() + 1, 1, 1, 0, 0, 0)
    } else {
        chrono::TimeZone::with_ymd_and_hms(&Utc, now.year(), now.month() + 1, 1, 0, 0, 0)
    }
    .single()
    .unwrap_or(now);
    let elapsed = (now - month_start).num_seconds().max(1) as i128;
    let whole = (next_month - month_start).num_seconds().max(1) as i128;
    let projected_month_end =
        i64::try_from(i128::from(month_to_date) * whole / elapsed).unwrap_or(i64::MAX);
    Ok(Report {
        messages,
        segments,
        cost_micros,
        estimated_micros: cost_micros - priced_micros,
        month_to_date,
        monthly_limit: limit,
        transactional_reserve: budget.transactional_reserve,
        remaining: (limit - month_to_date).max(0),
        projected_month_end,
        buckets: if grouping.is_some() {
            buckets
        } else {
            Vec::new()
        },
    })
}
