//! What a batch of new messages must read inside its own write to decide (`messages::insert_batch`),
//! read once per batch: which of its users still exist, which of its numbers are on the opt-out list,
//! each user's and each capped number's promotions of the last 24 hours, and on SQLite the feed's
//! next stamp. On SQLite the writer's lock is held from the transaction's start, so nothing read can
//! change before commit, and it is all one statement; on PostgreSQL the users' rows and the numbers
//! are locked first, in key order, and each part is its own read.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

use super::{caps::Recent, opt_outs, placeholder, recipients};

/// What to read: the keys of the batch's accepted messages (a superset of what the checks need once
/// some are blocked, which is harmless: each check looks up only its own).
#[derive(Debug, Default)]
pub(super) struct Keys<'a> {
    /// Users the messages are for.
    pub users: BTreeSet<&'a str>,
    /// Numbers that must not be on the opt-out list.
    pub listed: BTreeSet<&'a str>,
    /// Users whose promotions count against the daily limit.
    pub limited_users: BTreeSet<&'a str>,
    /// Numbers under a state's daily cap.
    pub capped_numbers: BTreeSet<&'a str>,
    /// Numbers nobody owns whose texts a frequency or inviter cap counts (`caps::to_lock`): locked,
    /// counted by the caller.
    pub cap_numbers: BTreeSet<&'a str>,
    /// The texts the caps count (`caps::wanted`): on SQLite read in the same statement.
    pub caps: Option<CapsRead<'a>>,
}

/// The texts of `types` to `phones` since `since`, as the caps count them.
#[derive(Debug, Default)]
pub(super) struct CapsRead<'a> {
    pub phones: BTreeSet<&'a str>,
    pub types: BTreeSet<String>,
    pub since: DateTime<Utc>,
}

/// What the write's checks found.
#[derive(Debug, Default)]
pub(super) struct Found {
    /// Users that still exist (an erasure since the caller read them removed the others).
    pub present: HashSet<String>,
    /// Numbers on the opt-out list.
    pub listed: HashSet<String>,
    /// Promotions of the last 24 hours by user, and by capped number (absent: none).
    pub per_user: HashMap<String, u32>,
    pub per_number: HashMap<String, u32>,
    /// SQLite: the stamp the batch's rows get, one more than the largest (the writer's lock is held,
    /// so it is the next); `None` on PostgreSQL, where the column's default is the transaction's id.
    pub stamp: Option<i64>,
    /// The texts the caps count, when read here (SQLite); the caller reads them otherwise.
    pub recent: Option<Vec<Recent>>,
}

/// Reads what the checks need, `since` the start of the daily window.
pub(super) async fn read(
    txn: &impl ConnectionTrait,
    keys: &Keys<'_>,
    since: DateTime<Utc>,
) -> Result<Found, DbErr> {
    if txn.get_database_backend() == DbBackend::Sqlite {
        return read_at_once(txn, keys, since).await;
    }
    let present = if keys.users.is_empty() {
        HashSet::new()
    } else {
        recipients::lock_present(txn, keys.users.iter().copied()).await?
    };
    let listed = opt_outs::among(txn, keys.listed.iter().copied()).await?;
    let locked: BTreeSet<&str> = keys
        .capped_numbers
        .union(&keys.cap_numbers)
        .copied()
        .collect();
    lock_numbers(txn, &locked).await?;
    let column = sea_orm::IdenStatic::as_str(&entity::sms_log::Column::UserId);
    let per_user = promotions_per(txn, column, &keys.limited_users, since).await?;
    let column = sea_orm::IdenStatic::as_str(&entity::sms_log::Column::ToPhone);
    let per_number = promotions_per(txn, column, &keys.capped_numbers, since).await?;
    Ok(Found {
        present,
        listed,
        per_user,
        per_number,
        stamp: None,
        recent: None,
    })
}

/// Serialises decisions about `phones` until the transaction ends: an advisory lock per number on
/// PostgreSQL, all in one statement, taken in the numbers' order (so two transactions never wait in a
/// circle); on SQLite the write lock, which the batch's write holds from its start.
async fn lock_numbers(txn: &impl ConnectionTrait, phones: &BTreeSet<&str>) -> Result<(), DbErr> {
    let backend = txn.get_database_backend();
    if phones.is_empty() || backend != DbBackend::Postgres {
        return Ok(());
    }
    let list = (1..=phones.len())
        .map(|n| format!("(${n})"))
        .collect::<Vec<_>>()
        .join(", ");
    // The subquery's order is the order the outer scan reads, and so the order the locks are taken.
    let sql = format!(
        "SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) \
         FROM (SELECT k FROM (VALUES {list}) AS v(k) ORDER BY k OFFSET 0) AS ordered"
    );
    let values: Vec<sea_orm::Value> = phones.iter().map(|p| (*p).to_owned().into()).collect();
    txn.execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    Ok(())
}

/// The promotions of the last 24 hours (not blocked) of each key of `column`, in one statement.
pub(super) async fn promotions_per(
    db: &impl ConnectionTrait,
    column: &str,
    keys: &BTreeSet<&str>,
    since: DateTime<Utc>,
) -> Result<HashMap<String, u32>, DbErr> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let backend = db.get_database_backend();
    let param = |n: usize| placeholder(backend, n);
    let list = (3..keys.len() + 3)
        .map(|n| format!("({})", param(n)))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "WITH k(key) AS (VALUES {list}) \
         SELECT k.key AS key, (SELECT COUNT(*) FROM sms_log s WHERE s.{column} = k.key \
           AND s.created_at > {since} AND s.promotional = {yes} AND s.status <> 'blocked') AS n \
         FROM k",
        since = param(1),
        yes = param(2),
    );
    let mut values: Vec<sea_orm::Value> = vec![since.into(), true.into()];
    values.extend(keys.iter().map(|k| (*k).to_owned().into()));
    let mut counts = HashMap::new();
    for row in db
        .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?
    {
        let n: i64 = row.try_get("", "n")?;
        if n > 0 {
            counts.insert(row.try_get::<String>("", "key")?, n as u32);
        }
    }
    Ok(counts)
}

/// SQLite: every part in one `UNION ALL`, each row `(k, v, n)`: `u` a user present, `o` a number on
/// the list, `pu`/`pn` a user's or number's promotions, `s` the largest stamp.
async fn read_at_once(
    txn: &impl ConnectionTrait,
    keys: &Keys<'_>,
    since: DateTime<Utc>,
) -> Result<Found, DbErr> {
    let mut parts =
        vec!["SELECT 's' AS k, '' AS v, COALESCE(MAX(change_seq), 0) AS n FROM sms_log"];
    let mut sql_parts: Vec<String> = Vec::new();
    let mut values: Vec<sea_orm::Value> = Vec::new();
    let list = |keys: &BTreeSet<&str>, values: &mut Vec<sea_orm::Value>| {
        values.extend(keys.iter().map(|k| sea_orm::Value::from((*k).to_owned())));
        vec!["?"; keys.len()].join(", ")
    };
    if !keys.users.is_empty() {
        let users = list(&keys.users, &mut values);
        sql_parts.push(format!(
            "SELECT 'u', user_id, 0 FROM recipients WHERE user_id IN ({users})"
        ));
    }
    if !keys.listed.is_empty() {
        let numbers = list(&keys.listed, &mut values);
        sql_parts.push(format!(
            "SELECT 'o', phone_e164, 0 FROM opt_outs WHERE phone_e164 IN ({numbers})"
        ));
    }
    for (kind, column, keys) in [
        ("pu", "user_id", &keys.limited_users),
        ("pn", "to_phone", &keys.capped_numbers),
    ] {
        if keys.is_empty() {
            continue;
        }
        let listed = list(keys, &mut values);
        values.push(since.into());
        values.push(true.into());
        sql_parts.push(format!(
            "SELECT '{kind}', {column}, COUNT(*) FROM sms_log WHERE {column} IN ({listed}) \
             AND created_at > ? AND promotional = ? AND status <> 'blocked' GROUP BY {column}"
        ));
    }
    if let Some(part) = caps_part(keys.caps.as_ref(), &mut values) {
        sql_parts.push(part);
    }
    parts.extend(sql_parts.iter().map(String::as_str));
    let sql = parts.join(" UNION ALL ");
    let rows = txn
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            sql,
            values,
        ))
        .await?;
    decode(rows, keys.caps.is_some())
}

/// The union's rows as what the checks found.
fn decode(rows: Vec<sea_orm::QueryResult>, caps: bool) -> Result<Found, DbErr> {
    let mut found = Found::default();
    if caps {
        found.recent = Some(Vec::new());
    }
    for row in rows {
        let kind: String = row.try_get("", "k")?;
        let value: String = row.try_get("", "v")?;
        let n: i64 = row.try_get("", "n")?;
        match kind.as_str() {
            "s" => found.stamp = Some(n + 1),
            "u" => {
                found.present.insert(value);
            }
            "o" => {
                found.listed.insert(value);
            }
            "pu" => {
                found.per_user.insert(value, n as u32);
            }
            "c" => {
                let recent = super::caps::joined(&value, n != 0)
                    .ok_or_else(|| DbErr::Custom(format!("a capped text read as '{value}'")))?;
                found.recent.get_or_insert_with(Vec::new).push(recent);
            }
            _ => {
                found.per_number.insert(value, n as u32);
            }
        }
    }
    Ok(found)
}

/// SQLite: the caps' part of the union, one text a row: its fields joined by the unit separator,
/// `digest_hold` as the count.
fn caps_part(caps: Option<&CapsRead<'_>>, values: &mut Vec<sea_orm::Value>) -> Option<String> {
    let caps = caps.filter(|c| !c.phones.is_empty() && !c.types.is_empty())?;
    let since = {
        values.push(caps.since.into());
        "?"
    };
    let mut marks = |items: Vec<String>| {
        let n = items.len();
        values.extend(items.into_iter().map(sea_orm::Value::from));
        vec!["?"; n].join(", ")
    };
    let phones = marks(caps.phones.iter().map(|p| (*p).to_owned()).collect());
    let types = marks(caps.types.iter().cloned().collect());
    Some(format!(
        "SELECT 'c', to_phone || char(31) || message_type || char(31) || status || char(31) \
         || COALESCE(inviter_id, char(30)) || char(31) || created_at, digest_hold FROM sms_log \
         WHERE created_at > {since} AND to_phone IN ({phones}) AND message_type IN ({types}) \
         AND status <> 'blocked'"
    ))
}

/// What a preview reads of the write's checks for one text, as they stand (no locks).
#[derive(Debug, Clone, Copy, Default)]
pub struct PreviewChecks {
    pub opted_out: bool,
    /// Promotions of the last 24 hours to the person, and to the number.
    pub user_today: u32,
    pub number_today: u32,
    /// What the month has reserved of its budget.
    pub month_reserved: i64,
}

/// Reads what the write would check for a text to `(user, phone)` at `now`.
pub async fn preview(
    db: &impl ConnectionTrait,
    (user, phone): (Option<&str>, &str),
    promotional: bool,
    now: DateTime<Utc>,
) -> Result<PreviewChecks, DbErr> {
    let since = now - chrono::Duration::hours(24);
    let mut checks = PreviewChecks {
        month_reserved: super::spend::reserved(db, &super::spend::month_of(now)).await?,
        ..Default::default()
    };
    if phone.is_empty() {
        return Ok(checks);
    }
    checks.opted_out = !opt_outs::among(db, [phone]).await?.is_empty();
    if promotional {
        let column = sea_orm::IdenStatic::as_str(&entity::sms_log::Column::ToPhone);
        let numbers = BTreeSet::from([phone]);
        checks.number_today = promotions_per(db, column, &numbers, since)
            .await?
            .get(phone)
            .copied()
            .unwrap_or(0);
        if let Some(user) = user {
            let column = sea_orm::IdenStatic::as_str(&entity::sms_log::Column::UserId);
            let users = BTreeSet::from([user]);
            checks.user_today = promotions_per(db, column, &users, since)
                .await?
                .get(user)
                .copied()
                .unwrap_or(0);
        }
    }
    Ok(checks)
}
