//! `recipients` and `sms_preferences`: one row each per app user (the number, the master switch, the
//! prompt's times; the categories and the current consent).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{phone_verifications, recipients, sms_preferences};
pub use entity::{recipients::Model as RecipientRow, sms_preferences::Model as PreferencesRow};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter,
    TransactionTrait, sea_query::Expr,
};

pub use super::first_seen::{FirstFacts, create_many};
use super::{
    first_seen::{default_preferences, insert_new, new_recipient},
    placeholder,
};

/// A recipient with their preferences.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub recipient: RecipientRow,
    pub preferences: PreferencesRow,
}

impl Profile {
    pub fn phone_verified(&self) -> bool {
        self.recipient.phone_e164.is_some() && self.recipient.phone_verified_at.is_some()
    }

    /// Opted in: a verified phone and the master switch on.
    pub fn opted_in(&self) -> bool {
        self.phone_verified() && self.recipient.allow_sms
    }

    /// The number, once its owner proved it with a code.
    pub fn verified_phone(&self) -> Option<&str> {
        self.recipient
            .phone_e164
            .as_deref()
            .filter(|_| self.recipient.phone_verified_at.is_some())
    }
}

/// The recipient of `user_id`, created with default preferences on first sight. Two first requests
/// of the same user may race: insert-or-ignore, then read what won.
pub async fn ensure(
    db: &impl ConnectionTrait,
    user_id: &str,
    now: DateTime<Utc>,
) -> Result<Profile, DbErr> {
    if let Some(profile) = load(db, user_id).await? {
        return Ok(profile);
    }
    insert_new(
        db,
        vec![new_recipient(user_id, now)],
        vec![default_preferences(user_id, now)],
    )
    .await?;
    load(db, user_id)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("recipient {user_id} after insert")))
}

/// The recipient of `user_id`, if the service has seen them.
pub async fn load(db: &impl ConnectionTrait, user_id: &str) -> Result<Option<Profile>, DbErr> {
    let Some((recipient, preferences)) = recipients::Entity::find_by_id(user_id.to_owned())
        .find_also_related(sms_preferences::Entity)
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let preferences = match preferences {
        Some(p) => p,
        None => {
            let defaults = default_preferences(user_id, recipient.updated_at);
            insert_new(db, Vec::new(), vec![defaults]).await?;
            sms_preferences::Entity::find_by_id(user_id.to_owned())
                .one(db)
                .await?
                .ok_or_else(|| DbErr::RecordNotFound(format!("preferences of {user_id}")))?
        }
    };
    Ok(Some(Profile {
        recipient,
        preferences,
    }))
}

/// The recipients of several users at once, by user id (unknown users are absent).
pub async fn load_many<'a>(
    db: &impl ConnectionTrait,
    user_ids: impl IntoIterator<Item = &'a str>,
) -> Result<HashMap<String, Profile>, DbErr> {
    let mut ids: Vec<&str> = user_ids.into_iter().collect();
    ids.sort_unstable();
    ids.dedup();
    let mut out = HashMap::with_capacity(ids.len());
    if ids.is_empty() {
        return Ok(out);
    }
    let found = if db.get_database_backend() == DbBackend::Postgres {
        probe_profiles(db, &ids).await?
    } else {
        recipients::Entity::find()
            .filter(recipients::Column::UserId.is_in(ids))
            .find_also_related(sms_preferences::Entity)
            .all(db)
            .await?
    };
    for (recipient, preferences) in found {
        let user_id = recipient.user_id.clone();
        let profile = match preferences {
            Some(preferences) => Profile {
                recipient,
                preferences,
            },
            None => match load(db, &user_id).await? {
                Some(profile) => profile,
                None => continue,
            },
        };
        out.insert(user_id, profile);
    }
    Ok(out)
}

/// The users who proved each of `numbers` with a code, one per number (the latest to prove it). A
/// number someone typed but never verified belongs to nobody: texts to it are decided as for a
/// stranger's number, and never filed under the person who typed it.
pub async fn verified_owners<'a>(
    db: &impl ConnectionTrait,
    numbers: impl IntoIterator<Item = &'a str>,
) -> Result<HashMap<String, Profile>, DbErr> {
    let numbers: Vec<&str> = numbers.into_iter().collect();
    if numbers.is_empty() {
        return Ok(HashMap::new());
    }
    let mut owners = recipients::Entity::find()
        .filter(recipients::Column::PhoneE164.is_in(numbers))
        .filter(recipients::Column::PhoneVerifiedAt.is_not_null())
        .all(db)
        .await?;
    owners.sort_by_key(|r| std::cmp::Reverse(r.phone_verified_at));
    let mut chosen: HashMap<String, String> = HashMap::new();
    for owner in owners {
        if let Some(phone) = owner.phone_e164 {
            chosen.entry(phone).or_insert(owner.user_id);
        }
    }
    let profiles = load_many(db, chosen.values().map(String::as_str)).await?;
    Ok(chosen
        .into_iter()
        .filter_map(|(phone, user)| profiles.get(&user).map(|p| (phone, p.clone())))
        .collect())
}

/// The users whose number is `phone`; with `verified_only`, only those who proved it.
pub async fn users_with_number(
    db: &impl ConnectionTrait,
    phone: &str,
    verified_only: bool,
) -> Result<Vec<String>, DbErr> {
    let mut query = recipients::Entity::find().filter(recipients::Column::PhoneE164.eq(phone));
    if verified_only {
        query = query.filter(recipients::Column::PhoneVerifiedAt.is_not_null());
    }
    Ok(query
        .all(db)
        .await?
        .into_iter()
        .map(|r| r.user_id)
        .collect())
}

/// Takes the recipient's row for the rest of the transaction by writing to it first: the row lock on
/// PostgreSQL, the write lock on SQLite. Reads that follow cannot go stale before the commit.
pub async fn lock_row(
    txn: &impl ConnectionTrait,
    user_id: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    recipients::Entity::update_many()
        .col_expr(recipients::Column::UpdatedAt, Expr::value(now))
        .filter(recipients::Column::UserId.eq(user_id))
        .exec(txn)
        .await?;
    Ok(())
}

/// Of `users`, those that exist, with their rows held for the rest of the transaction: on PostgreSQL a
/// row lock each, taken in key order in one statement (`locked_in_order`); on SQLite the caller holds
/// the write lock.
pub async fn lock_present<'a>(
    txn: &impl ConnectionTrait,
    users: impl Iterator<Item = &'a str>,
) -> Result<std::collections::HashSet<String>, DbErr> {
    let backend = txn.get_database_backend();
    let mut users: Vec<&str> = users.collect();
    users.sort_unstable();
    users.dedup();
    if users.is_empty() {
        return Ok(Default::default());
    }
    let sql = if backend == DbBackend::Postgres {
        locked_in_order(users.len())
    } else {
        let list = (1..=users.len())
            .map(|n| placeholder(backend, n))
            .collect::<Vec<_>>()
            .join(", ");
        format!("SELECT user_id FROM recipients WHERE user_id IN ({list})")
    };
    let values: Vec<sea_orm::Value> = users.into_iter().map(Into::into).collect();
    txn.query_all_raw(sea_orm::Statement::from_sql_and_values(
        backend, sql, values,
    ))
    .await?
    .iter()
    .map(|row| row.try_get::<String>("", "user_id"))
    .collect()
}

/// Holds the rows of `users` for the rest of the transaction: on PostgreSQL a row lock each, taken in
/// key order so that two transactions never wait for each other in a circle; on SQLite the database's
/// write lock.
pub async fn lock_rows<'a>(
    txn: &impl ConnectionTrait,
    users: impl Iterator<Item = &'a str>,
) -> Result<(), DbErr> {
    if txn.get_database_backend() != DbBackend::Postgres {
        // SQLite: the transaction holds the database's write lock from its start (`Db::write`).
        return Ok(());
    }
    lock_present(txn, users).await.map(drop)
}

/// `(VALUES ($1), ($2), ...) AS k(user_id)` (PostgreSQL): keys that a statement looks up one at a
/// time, in this order, each in a lateral subquery. Given `user_id IN (...)` instead, PostgreSQL's
/// planner reads both tables whole and joins them by hash while they are small (it prices a scan of
/// 10,000 people's 200 pages below 100 lookups by key): 4.5 ms for a batch of 100 people, against
/// 1 ms for the lookups, and a lateral subquery that reads one key can only be a lookup.
fn probed_keys(n: usize) -> String {
    format!(
        "(VALUES {}) AS k(user_id)",
        super::value_groups(DbBackend::Postgres, 1, 1, n)
    )
}

/// The rows of `n` users (bound in key order) locked for update one at a time in that order, so two
/// transactions never wait for each other in a circle (PostgreSQL): those present are returned.
fn locked_in_order(n: usize) -> String {
    format!(
        "SELECT r.user_id FROM {} CROSS JOIN LATERAL \
         (SELECT user_id FROM recipients WHERE user_id = k.user_id FOR UPDATE) AS r",
        probed_keys(n)
    )
}

/// The profiles of `ids` (PostgreSQL), each recipient and their preferences looked up by key
/// (`probed_keys`), with the columns named as `find_also_related` names them.
async fn probe_profiles(
    db: &impl ConnectionTrait,
    ids: &[&str],
) -> Result<Vec<(RecipientRow, Option<PreferencesRow>)>, DbErr> {
    use sea_orm::{FromQueryResult, IdenStatic, Iterable};
    let a = recipients::Column::iter().map(|c| format!("r.\"{0}\" AS \"A_{0}\"", c.as_str()));
    let b = sms_preferences::Column::iter().map(|c| format!("p.\"{0}\" AS \"B_{0}\"", c.as_str()));
    let sql = format!(
        "SELECT {} FROM {} \
         CROSS JOIN LATERAL (SELECT * FROM recipients WHERE user_id = k.user_id LIMIT 1) AS r \
         LEFT JOIN LATERAL (SELECT * FROM sms_preferences WHERE user_id = k.user_id LIMIT 1) AS p \
         ON TRUE",
        a.chain(b).collect::<Vec<_>>().join(", "),
        probed_keys(ids.len())
    );
    let values: Vec<sea_orm::Value> = ids.iter().map(|id| (*id).into()).collect();
    db.query_all_raw(sea_orm::Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        values,
    ))
    .await?
    .iter()
    .map(|row| {
        Ok((
            RecipientRow::from_query_result(row, "A_")?,
            PreferencesRow::from_query_result_optional(row, "B_")?,
        ))
    })
    .collect()
}

/// Opens a transaction that holds the recipient's row for writing (created first if new), and reads
/// the recipient in it: the read cannot go stale before the transaction commits.
pub async fn begin_locked<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    user_id: &str,
    now: DateTime<Utc>,
) -> Result<(C::Transaction, Profile), DbErr> {
    ensure(db, user_id, now).await?;
    let txn = db.begin().await?;
    lock_row(&txn, user_id, now).await?;
    let profile = load(&txn, user_id)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("recipient {user_id}")))?;
    Ok((txn, profile))
}

/// A change to a recipient's row; `None` leaves a column as it is.
#[derive(Debug, Clone, Default)]
pub struct RecipientChange {
    /// A new number (or none): it is not verified, and codes sent to the old one stop working.
    pub phone: Option<Option<String>>,
    pub allow_sms: Option<bool>,
    pub timezone: Option<Option<String>>,
    pub signed_up_at: Option<DateTime<Utc>>,
    pub prompt_shown_at: Option<DateTime<Utc>>,
    pub prompt_dismissed_at: Option<DateTime<Utc>>,
    /// The language texts go in (BCP 47, a supported one); `Some(None)` is back to the default.
    pub locale: Option<Option<String>>,
}

/// Applies `change` to the recipient's row and returns it as it is now.
pub async fn update(
    txn: &impl ConnectionTrait,
    recipient: &RecipientRow,
    change: RecipientChange,
    now: DateTime<Utc>,
) -> Result<RecipientRow, DbErr> {
    use sea_orm::{ActiveModelTrait, IntoActiveModel};
    let mut row = recipient.clone().into_active_model();
    if let Some(phone) = change.phone {
        // A number given up stays known as one the person proved (erasure finds their replies).
        if let (Some(old), Some(at)) = (&recipient.phone_e164, recipient.phone_verified_at)
            && phone.as_ref() != Some(old)
        {
            record_proven(txn, &recipient.user_id, old, at).await?;
        }
        row.phone_e164 = Set(phone);
        row.phone_verified_at = Set(None);
        // A code sent to the old number must not verify the new one.
        phone_verifications::Entity::update_many()
            .col_expr(phone_verifications::Column::InvalidatedAt, Expr::value(now))
            .filter(phone_verifications::Column::UserId.eq(recipient.user_id.as_str()))
            .filter(phone_verifications::Column::ConsumedAt.is_null())
            .filter(phone_verifications::Column::InvalidatedAt.is_null())
            .exec(txn)
            .await?;
    }
    if let Some(allow) = change.allow_sms {
        row.allow_sms = Set(allow);
    }
    if let Some(tz) = change.timezone {
        row.timezone = Set(tz);
    }
    if let Some(locale) = change.locale {
        row.locale = Set(locale);
    }
    if let Some(at) = change.signed_up_at {
        row.signed_up_at = Set(Some(at));
    }
    if let Some(at) = change.prompt_shown_at {
        row.sms_prompt_shown_at = Set(Some(at));
    }
    if let Some(at) = change.prompt_dismissed_at {
        row.sms_prompt_dismissed_at = Set(Some(at));
    }
    row.updated_at = Set(now);
    row.update(txn).await
}

/// Per-category switches; `None` leaves one as it is.
#[derive(Debug, Clone, Copy, Default)]
pub struct CategoryChange {
    pub battle_invitations: Option<bool>,
    pub battle_results: Option<bool>,
    pub battle_reminders: Option<bool>,
    pub streak_alerts: Option<bool>,
    pub direct_messages: Option<bool>,
    pub achievements: Option<bool>,
}

/// Applies `change` to the categories; the row as it is now.
pub async fn update_categories(
    txn: &impl ConnectionTrait,
    preferences: &PreferencesRow,
    change: CategoryChange,
    now: DateTime<Utc>,
) -> Result<PreferencesRow, DbErr> {
    use sea_orm::{ActiveModelTrait, IntoActiveModel};
    let mut prefs = preferences.clone().into_active_model();
    let mut changed = false;
    for (value, column) in [
        (change.battle_invitations, &mut prefs.battle_invitations),
        (change.battle_results, &mut prefs.battle_results),
        (change.battle_reminders, &mut prefs.battle_reminders),
        (change.streak_alerts, &mut prefs.streak_alerts),
        (change.direct_messages, &mut prefs.direct_messages),
        (change.achievements, &mut prefs.achievements),
    ] {
        if let Some(v) = value {
            *column = Set(v);
            changed = true;
        }
    }
    if !changed {
        return Ok(preferences.clone());
    }
    prefs.updated_at = Set(now);
    prefs.update(txn).await
}

/// A change to a person's own rules: `None` leaves a rule as it is; `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct OwnRulesChange {
    /// Their quiet hours, local `HH:MM` to `HH:MM`.
    pub quiet: Option<Option<(String, String)>>,
    /// Their snooze: until when, and the types (stored list; empty for all promotional ones).
    pub snooze: Option<Option<(DateTime<Utc>, String)>>,
    /// Their own frequency caps as stored (`caps::encode`); empty clears them.
    pub caps: Option<String>,
}

/// Applies `change` to the person's own rules; the row as it is now.
pub async fn update_own_rules(
    txn: &impl ConnectionTrait,
    preferences: &PreferencesRow,
    change: OwnRulesChange,
    now: DateTime<Utc>,
) -> Result<PreferencesRow, DbErr> {
    use sea_orm::{ActiveModelTrait, IntoActiveModel};
    if change.quiet.is_none() && change.snooze.is_none() && change.caps.is_none() {
        return Ok(preferences.clone());
    }
    let mut prefs = preferences.clone().into_active_model();
    if let Some(quiet) = change.quiet {
        let (start, end) = quiet.unzip();
        prefs.quiet_start = Set(start);
        prefs.quiet_end = Set(end);
    }
    if let Some(snooze) = change.snooze {
        let (until, types) = snooze.unzip();
        prefs.snoozed_until = Set(until);
        prefs.snoozed_types = Set(types.filter(|t| !t.is_empty()));
    }
    if let Some(caps) = change.caps {
        prefs.frequency_caps = Set(Some(caps).filter(|c| !c.is_empty()));
    }
    prefs.updated_at = Set(now);
    prefs.update(txn).await
}

/// Records that the opt-in prompt is shown now, unless it was dismissed or shown since
/// `shown_before`: one conditional update, so of two requests at the same moment only one wins.
pub async fn take_prompt(
    db: &impl ConnectionTrait,
    user_id: &str,
    now: DateTime<Utc>,
    shown_before: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let result = recipients::Entity::update_many()
        .col_expr(recipients::Column::SmsPromptShownAt, Expr::value(now))
        .filter(recipients::Column::UserId.eq(user_id))
        .filter(recipients::Column::SmsPromptDismissedAt.is_null())
        .filter(
            sea_orm::Condition::any()
                .add(recipients::Column::SmsPromptShownAt.is_null())
                .add(recipients::Column::SmsPromptShownAt.lte(shown_before)),
        )
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// The user's number is no longer counted as proven (the app says so); the row as it is now.
pub async fn unverify(
    txn: &impl ConnectionTrait,
    recipient: &RecipientRow,
    now: DateTime<Utc>,
) -> Result<RecipientRow, DbErr> {
    use sea_orm::{ActiveModelTrait, IntoActiveModel};
    let mut row = recipient.clone().into_active_model();
    row.phone_verified_at = Set(None);
    row.updated_at = Set(now);
    row.update(txn).await
}

/// Marks the user's number verified, if it is still `phone`; false otherwise.
pub async fn mark_verified(
    txn: &impl ConnectionTrait,
    user_id: &str,
    phone: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let verified = recipients::Entity::update_many()
        .col_expr(recipients::Column::PhoneVerifiedAt, Expr::value(now))
        .col_expr(recipients::Column::UpdatedAt, Expr::value(now))
        .filter(recipients::Column::UserId.eq(user_id))
        .filter(recipients::Column::PhoneE164.eq(phone))
        .exec(txn)
        .await?;
    if verified.rows_affected == 1 {
        record_proven(txn, user_id, phone, now).await?;
    }
    Ok(verified.rows_affected == 1)
}

/// Remembers that `user_id` proved `phone` (once; the first time counts).
pub(super) async fn record_proven(
    txn: &impl ConnectionTrait,
    user_id: &str,
    phone: &str,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    use entity::proven_numbers::{ActiveModel, Column, Entity};
    Entity::insert(ActiveModel {
        user_id: Set(user_id.to_owned()),
        phone_e164: Set(phone.to_owned()),
        proven_at: Set(at),
    })
    .on_conflict(
        sea_orm::sea_query::OnConflict::columns([Column::UserId, Column::PhoneE164])
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    Ok(())
}
