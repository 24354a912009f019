//! What a batch of new messages must read inside its own write to decide (`messages::insert_batch`),
//! read once per batch: which of its users still exist, which of its numbers are on the opt-out list,
//! each user's and each capped number's promotions of the last 24 hours, the texts the frequency caps
//! count, and on SQLite the feed's next stamp. On SQLite the writer's lock is held from the
//! transaction's start, so nothing read can change before commit, and it is all one statement; on
//! PostgreSQL the users' rows and the numbers are locked first, in key order, and the rest is one
//! statement after the locks.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

use super::{caps::Recent, recipients};

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
    /// The texts the caps count (`None` when the keys asked for none).
    pub recent: Option<Vec<Recent>>,
}

/// Reads what the checks need, `since` the start of the daily window.
pub(super) async fn read(
    txn: &impl ConnectionTrait,
    keys: &Keys<'_>,
    since: DateTime<Utc>,
) -> Result<Found, DbErr> {
    if txn.get_database_backend() == DbBackend::Sqlite {
        return read_at_once(txn, keys, since, true).await;
    }
    let present = if keys.users.is_empty() {
        HashSet::new()
    } else {
        recipients::lock_present(txn, keys.users.iter().copied()).await?
    };
    let locked: BTreeSet<&str> = keys
        .capped_numbers
        .union(&keys.cap_numbers)
        .copied()
        .collect();
    lock_numbers(txn, &locked).await?;
    // Everything else in one statement after the locks: under READ COMMITTED its snapshot is taken
    // when it starts, so it sees every write committed by those who held the locks before.
    let found = read_at_once(txn, keys, since, false).await?;
    Ok(Found { present, ..found })
}

/// What the checks would read now, as it stands (no locks, no stamp): for a preview.
pub(super) async fn read_unlocked(
    db: &impl ConnectionTrait,
    keys: &Keys<'_>,
    since: DateTime<Utc>,
) -> Result<Found, DbErr> {
    read_at_once(db, keys, since, false).await
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

/// Every part in one `UNION ALL`, each row `(k, v, n)`: `o` a number on the list, `pu`/`pn` a user's
/// or number's promotions, `c` a text the caps count, and with `whole` (SQLite, where the writer's
/// lock is held already) `u` a user present and `s` the largest stamp. No statement when there is
/// nothing to read.
async fn read_at_once(
    txn: &impl ConnectionTrait,
    keys: &Keys<'_>,
    since: DateTime<Utc>,
    whole: bool,
) -> Result<Found, DbErr> {
    let mut union = Union::new(txn.get_database_backend());
    if whole {
        union.push(
            "SELECT 's' AS k, '' AS v, COALESCE(MAX(change_seq), 0) AS n FROM sms_log".into(),
        );
        if !keys.users.is_empty() {
            let users = union.list(&keys.users);
            union.push(format!(
                "SELECT 'u' AS k, user_id AS v, CAST(0 AS BIGINT) AS n FROM recipients WHERE user_id IN ({users})"
            ));
        }
    }
    if !keys.listed.is_empty() {
        let numbers = union.list(&keys.listed);
        union.push(format!(
            "SELECT 'o' AS k, phone_e164 AS v, CAST(0 AS BIGINT) AS n FROM opt_outs WHERE phone_e164 IN ({numbers})"
        ));
    }
    for (kind, column, keys) in [
        ("pu", "user_id", &keys.limited_users),
        ("pn", "to_phone", &keys.capped_numbers),
    ] {
        if !keys.is_empty() {
            let part = count_part(&mut union, (kind, column), keys, since);
            union.push(part);
        }
    }
    if let Some(part) = caps_part(keys.caps.as_ref(), &mut union) {
        union.push(part);
    }
    let caps = keys.caps.is_some();
    if union.parts.is_empty() {
        return decode(Vec::new(), caps);
    }
    let (backend, sql) = (union.backend, union.parts.join(" UNION ALL "));
    let rows = txn
        .query_all_raw(Statement::from_sql_and_values(backend, sql, union.values))
        .await?;
    decode(rows, caps)
}

/// The part counting each key's promotions since `since` (`kind` `pu` by user, `pn` by number).
/// PostgreSQL counts each key in a subquery of its own, `column = key`: its planner then takes the
/// `(column, created_at)` index whatever its statistics say. Given `column IN (...)` instead, the
/// plan it keeps for the prepared statement can be the one it made when the log looked small (a new
/// database, or one not analysed since a burst): every row since `since`, through the index on
/// `created_at`, for each batch. That was 40 ms per batch of 100 at 100,000 rows.
fn count_part(
    union: &mut Union,
    (kind, column): (&str, &str),
    keys: &BTreeSet<&str>,
    since: DateTime<Utc>,
) -> String {
    let recent = |union: &mut Union| {
        let (since, yes) = (union.bind(since.into()), union.bind(true.into()));
        format!("created_at > {since} AND promotional = {yes} AND status <> 'blocked'")
    };
    if union.backend == DbBackend::Postgres {
        let rows = union.rows(keys);
        let recent = recent(union);
        return format!(
            "SELECT '{kind}' AS k, key.column1 AS v, (SELECT COUNT(*) FROM sms_log \
             WHERE {column} = key.column1 AND {recent}) AS n FROM (VALUES {rows}) AS key"
        );
    }
    let listed = union.list(keys);
    let recent = recent(union);
    format!(
        "SELECT '{kind}' AS k, {column} AS v, COUNT(*) AS n FROM sms_log WHERE {column} IN ({listed}) \
         AND {recent} GROUP BY {column}"
    )
}

/// A `UNION ALL` being built: its parts and their bound values, numbered on PostgreSQL, plain `?` on
/// SQLite.
struct Union {
    backend: DbBackend,
    parts: Vec<String>,
    values: Vec<sea_orm::Value>,
}

impl Union {
    fn new(backend: DbBackend) -> Self {
        Self {
            backend,
            parts: Vec::new(),
            values: Vec::new(),
        }
    }

    /// Adds a part; each names its columns `k`, `v`, `n` (`n` a BIGINT, as PostgreSQL's `COUNT`
    /// is, so the union's type does not depend on which parts it has), so whichever comes first names
    /// the union's.
    fn push(&mut self, part: String) {
        self.parts.push(part);
    }

    /// Binds `value`; its placeholder.
    fn bind(&mut self, value: sea_orm::Value) -> String {
        self.values.push(value);
        match self.backend {
            DbBackend::Postgres => format!("${}", self.values.len()),
            _ => "?".to_owned(),
        }
    }

    /// Binds each key; their placeholders as the rows of a `VALUES` list, `($1), ($2)`.
    fn rows<'a>(&mut self, keys: impl IntoIterator<Item = &'a &'a str>) -> String {
        keys.into_iter()
            .map(|k| format!("({})", self.bind((*k).to_owned().into())))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Binds each key; their placeholders, comma separated.
    fn list<'a>(&mut self, keys: impl IntoIterator<Item = &'a &'a str>) -> String {
        keys.into_iter()
            .map(|k| self.bind((*k).to_owned().into()))
            .collect::<Vec<_>>()
            .join(", ")
    }
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

/// The caps' part of the union, one text a row: its fields joined by the unit separator,
/// `digest_hold` as the count.
fn caps_part(caps: Option<&CapsRead<'_>>, union: &mut Union) -> Option<String> {
    let caps = caps.filter(|c| !c.phones.is_empty() && !c.types.is_empty())?;
    let since = union.bind(caps.since.into());
    let phones = match union.backend {
        DbBackend::Postgres => union.rows(&caps.phones),
        _ => union.list(&caps.phones),
    };
    let types: Vec<String> = caps
        .types
        .iter()
        .map(|t| union.bind(t.clone().into()))
        .collect();
    let types = types.join(", ");
    let (sep, none, at, held) = match union.backend {
        DbBackend::Postgres => (
            "chr(31)",
            "chr(30)",
            "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')",
            "CAST(CAST(digest_hold AS INTEGER) AS BIGINT)",
        ),
        _ => ("char(31)", "char(30)", "created_at", "digest_hold"),
    };
    let v = format!(
        "to_phone || {sep} || message_type || {sep} || status || {sep} \
         || COALESCE(inviter_id, {none}) || {sep} || {at} AS v, {held} AS n"
    );
    let types = format!("message_type IN ({types}) AND status <> 'blocked'");
    Some(match union.backend {
        // Each number's texts through the `(to_phone, created_at)` index (see `count_part`).
        DbBackend::Postgres => format!(
            "SELECT 'c' AS k, {v} FROM (VALUES {phones}) AS key CROSS JOIN LATERAL \
             (SELECT to_phone, message_type, status, inviter_id, created_at, digest_hold FROM sms_log \
             WHERE to_phone = key.column1 AND created_at > {since} AND {types}) AS t"
        ),
        // Plain `?`: the text's order is the binding's.
        _ => format!(
            "SELECT 'c' AS k, {v} FROM sms_log \
             WHERE created_at > {since} AND to_phone IN ({phones}) AND {types}"
        ),
    })
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
    let mut checks = PreviewChecks {
        month_reserved: super::spend::reserved(db, &super::spend::month_of(now)).await?,
        ..Default::default()
    };
    if phone.is_empty() {
        return Ok(checks);
    }
    let mut keys = Keys {
        listed: BTreeSet::from([phone]),
        ..Default::default()
    };
    if promotional {
        keys.capped_numbers.insert(phone);
        keys.limited_users.extend(user);
    }
    let found = read_unlocked(db, &keys, now - chrono::Duration::hours(24)).await?;
    checks.opted_out = found.listed.contains(phone);
    checks.number_today = found.per_number.get(phone).copied().unwrap_or(0);
    checks.user_today = user
        .and_then(|u| found.per_user.get(u).copied())
        .unwrap_or(0);
    Ok(checks)
}
