//! `sms-notify import` writes a batch of new people, preferences or consent events in one statement
//! per table, spelled out as SQL with the batch's values: a multi-row statement built by sea-query
//! costs the writer about twice the time of the same statement written here (each value goes through
//! an active model, an expression and a second copy), and on SQLite the writer's time is the
//! import's. SQLite gets plain `?` placeholders, which it binds faster than numbered ones.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement, Value};

use super::{
    consent::{ConsentAction, ConsentMethod},
    value_groups,
};

/// What the import writes of a person's preferences: the category switches and the consent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Settings {
    /// Invitations, results, reminders, streaks, direct messages, achievements.
    pub categories: [bool; 6],
    pub consent_given_at: Option<DateTime<Utc>>,
    pub consent_method: Option<ConsentMethod>,
    pub consent_ip: Option<String>,
    pub consent_revoked_at: Option<DateTime<Utc>>,
}

impl Settings {
    /// The 10 values after the user id, in the order of `COLUMNS`.
    fn push_values(self, values: &mut Vec<Value>) {
        values.extend(self.categories.map(Value::from));
        values.extend([
            self.consent_given_at.into(),
            self.consent_method.map(|m| m.as_str().to_owned()).into(),
            self.consent_ip.into(),
            self.consent_revoked_at.into(),
        ]);
    }
}

/// The columns `Settings` writes, in its order.
const COLUMNS: [&str; 10] = [
    "battle_invitations",
    "battle_results",
    "battle_reminders",
    "streak_alerts",
    "direct_messages",
    "achievements",
    "consent_given_at",
    "consent_method",
    "consent_ip",
    "consent_revoked_at",
];

/// A consent event the import adds: an event of the old app, with its own time.
#[derive(Debug, Clone)]
pub(super) struct NewEvent {
    pub user_id: String,
    pub action: ConsentAction,
    pub method: ConsentMethod,
    pub phone_e164: Option<String>,
    pub ip: Option<String>,
    pub occurred_at: DateTime<Utc>,
    pub superseded_at: Option<DateTime<Utc>>,
}

/// Writes changed preferences of people with a row, the switches, the consent and the times only:
/// `UPDATE .. FROM (VALUES ..)`.
pub(super) async fn update_preferences(
    txn: &impl ConnectionTrait,
    rows: Vec<(&str, Settings)>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let backend = txn.get_database_backend();
    let mut values: Vec<Value> = vec![now.into(), Some(now).into()];
    values.reserve(rows.len() * (COLUMNS.len() + 1));
    let count = rows.len();
    for (user_id, settings) in rows {
        values.push(user_id.into());
        settings.push_values(&mut values);
    }
    let set: Vec<String> = COLUMNS
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{c} = v.column{}", i + 2))
        .collect();
    let (now_mark, imported_mark) = match backend {
        DbBackend::Postgres => ("$1", "$2"),
        _ => ("?", "?"),
    };
    let sql = format!(
        "UPDATE sms_preferences SET updated_at = {now_mark}, imported_at = {imported_mark}, {} \
         FROM (VALUES {}) AS v WHERE sms_preferences.user_id = v.column1",
        set.join(", "),
        value_groups(backend, 3, COLUMNS.len() + 1, count)
    );
    txn.execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    Ok(())
}

/// Writes the preferences of people without a row yet (the rest of the row takes the defaults), in
/// one statement; a row written meanwhile is updated instead.
pub(super) async fn insert_preferences(
    txn: &impl ConnectionTrait,
    rows: Vec<(&str, Settings)>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let backend = txn.get_database_backend();
    let per_row = COLUMNS.len() + 3;
    let count = rows.len();
    let mut values: Vec<Value> = Vec::with_capacity(count * per_row);
    for (user_id, settings) in rows {
        values.push(user_id.into());
        settings.push_values(&mut values);
        values.extend([now.into(), Some(now).into()]);
    }
    let updates: Vec<String> = COLUMNS
        .iter()
        .chain(&["updated_at", "imported_at"])
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    let sql = format!(
        "INSERT INTO sms_preferences (user_id, {}, updated_at, imported_at) VALUES {} \
         ON CONFLICT (user_id) DO UPDATE SET {}",
        COLUMNS.join(", "),
        value_groups(backend, 1, per_row, count),
        updates.join(", ")
    );
    txn.execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    Ok(())
}

/// Inserts the import's consent events, marked imported `now`, in one statement.
pub(super) async fn insert_events(
    txn: &impl ConnectionTrait,
    events: Vec<NewEvent>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    const PER_ROW: usize = 8;
    let backend = txn.get_database_backend();
    let count = events.len();
    let mut values: Vec<Value> = Vec::with_capacity(count * PER_ROW);
    for e in events {
        values.extend([
            e.user_id.into(),
            e.action.as_str().into(),
            e.method.as_str().into(),
            e.phone_e164.into(),
            e.ip.into(),
            e.occurred_at.into(),
            e.superseded_at.into(),
            Some(now).into(),
        ]);
    }
    let sql = format!(
        "INSERT INTO consent_events (user_id, action, method, phone_e164, ip, occurred_at, \
         superseded_at, imported_at) VALUES {}",
        value_groups(backend, 1, PER_ROW, count)
    );
    txn.execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    Ok(())
}

/// A person new here, as the import writes them.
#[derive(Debug)]
pub(super) struct NewPerson<'a> {
    pub user_id: &'a str,
    pub phone_e164: Option<&'a str>,
    pub phone_verified_at: Option<DateTime<Utc>>,
    pub allow_sms: bool,
    pub timezone: Option<&'a str>,
    pub signed_up_at: Option<DateTime<Utc>>,
}

/// Inserts new people, marked imported `now`, in one statement (one written meanwhile is left as
/// it is), and with `default_preferences` their preferences with the defaults in a second.
pub(super) async fn insert_people(
    txn: &impl ConnectionTrait,
    people: &[NewPerson<'_>],
    now: DateTime<Utc>,
    default_preferences: bool,
) -> Result<(), DbErr> {
    const PER_ROW: usize = 9;
    let backend = txn.get_database_backend();
    let mut values: Vec<Value> = Vec::with_capacity(people.len() * PER_ROW);
    for p in people {
        values.extend([
            p.user_id.into(),
            p.phone_e164.into(),
            p.phone_verified_at.into(),
            p.allow_sms.into(),
            p.timezone.into(),
            p.signed_up_at.into(),
            now.into(),
            now.into(),
            Some(now).into(),
        ]);
    }
    let sql = format!(
        "INSERT INTO recipients (user_id, phone_e164, phone_verified_at, allow_sms, timezone, \
         signed_up_at, created_at, updated_at, imported_at) VALUES {} \
         ON CONFLICT (user_id) DO NOTHING",
        value_groups(backend, 1, PER_ROW, people.len())
    );
    txn.execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    if !default_preferences {
        return Ok(());
    }
    let mut values: Vec<Value> = Vec::with_capacity(people.len() * 3);
    for p in people {
        values.extend([p.user_id.into(), now.into(), Some(now).into()]);
    }
    let sql = format!(
        "INSERT INTO sms_preferences (user_id, updated_at, imported_at) VALUES {} \
         ON CONFLICT (user_id) DO NOTHING",
        value_groups(backend, 1, 3, people.len())
    );
    txn.execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    Ok(())
}
