//! Recipients and their SMS preferences: the phone number, the master switch, per-category toggles,
//! TCPA consent and the opt-in prompt. Every change that touches consent writes a `consent_events` row in
//! the same transaction.

use chrono::{DateTime, Duration, Utc};
use entity::{
    consent_events::{self, ConsentAction},
    recipients,
    sms_preferences::{self, ConsentMethod},
};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel, QueryFilter,
    TransactionSession, TransactionTrait,
    sea_query::{Expr, OnConflict},
};

use crate::locale::phone::{self, PhoneError};

/// No prompt within this long of sign-up: let the user look around first.
pub const PROMPT_GRACE_AFTER_SIGNUP: Duration = Duration::minutes(3);
/// A prompt that was shown (or deferred) is not shown again for this long.
pub const PROMPT_REPEAT_AFTER: Duration = Duration::hours(24);

/// A recipient with their preferences.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub recipient: recipients::Model,
    pub preferences: sms_preferences::Model,
}

impl Profile {
    pub fn phone_verified(&self) -> bool {
        self.recipient.phone_e164.is_some() && self.recipient.phone_verified_at.is_some()
    }

    /// Opted in: a verified phone and the master switch on.
    pub fn opted_in(&self) -> bool {
        self.phone_verified() && self.recipient.allow_sms
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RecipientError {
    #[error(transparent)]
    InvalidPhone(#[from] PhoneError),
    #[error("'{0}' is not an IANA time zone name such as America/New_York or Asia/Kathmandu")]
    InvalidTimezone(String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// The recipient of `user_id`, created with default preferences on first sight.
#[tracing::instrument(skip(db))]
pub async fn ensure(
    db: &impl ConnectionTrait,
    user_id: &str,
    now: DateTime<Utc>,
) -> Result<Profile, DbErr> {
    if let Some(profile) = load(db, user_id).await? {
        return Ok(profile);
    }
    // Two first requests of the same user may race: insert-or-ignore, then read what won.
    recipients::Entity::insert(recipients::ActiveModel {
        user_id: Set(user_id.to_owned()),
        phone_e164: Set(None),
        phone_verified_at: Set(None),
        allow_sms: Set(false),
        timezone: Set(None),
        signed_up_at: Set(None),
        sms_prompt_shown_at: Set(None),
        sms_prompt_dismissed_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(recipients::Column::UserId)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    insert_default_preferences(db, user_id, now).await?;
    load(db, user_id)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("recipient {user_id} after insert")))
}

async fn insert_default_preferences(
    db: &impl ConnectionTrait,
    user_id: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    sms_preferences::Entity::insert(sms_preferences::ActiveModel {
        user_id: Set(user_id.to_owned()),
        battle_invitations: Set(true),
        battle_results: Set(true),
        battle_reminders: Set(true),
        streak_alerts: Set(true),
        direct_messages: Set(true),
        achievements: Set(true),
        consent_given_at: Set(None),
        consent_method: Set(None),
        consent_ip: Set(None),
        consent_revoked_at: Set(None),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(sms_preferences::Column::UserId)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
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
            insert_default_preferences(db, user_id, recipient.updated_at).await?;
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
    user_ids: impl Iterator<Item = &'a str>,
) -> Result<std::collections::HashMap<String, Profile>, DbErr> {
    let ids: Vec<&str> = user_ids.collect();
    let mut out = std::collections::HashMap::with_capacity(ids.len());
    if ids.is_empty() {
        return Ok(out);
    }
    for (recipient, preferences) in recipients::Entity::find()
        .filter(recipients::Column::UserId.is_in(ids))
        .find_also_related(sms_preferences::Entity)
        .all(db)
        .await?
    {
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

/// Holds the rows of `users` for the rest of the transaction: on PostgreSQL a row lock each, taken in
/// key order so that two transactions never wait for each other in a circle; on SQLite the database's
/// write lock (`sql::take_sqlite_write_lock`).
pub async fn lock_rows<'a>(
    txn: &impl ConnectionTrait,
    users: impl Iterator<Item = &'a str>,
) -> Result<(), DbErr> {
    let backend = txn.get_database_backend();
    if backend != sea_orm::DbBackend::Postgres {
        return crate::store::take_sqlite_write_lock(txn).await;
    }
    let mut users: Vec<&str> = users.collect();
    users.sort_unstable();
    users.dedup();
    if users.is_empty() {
        return Ok(());
    }
    let list = (1..=users.len())
        .map(|n| crate::store::placeholder(backend, n))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT user_id FROM recipients WHERE user_id IN ({list}) ORDER BY user_id FOR UPDATE"
    );
    let values: Vec<sea_orm::Value> = users.into_iter().map(Into::into).collect();
    txn.execute_raw(sea_orm::Statement::from_sql_and_values(
        backend, sql, values,
    ))
    .await?;
    Ok(())
}

/// Opens a transaction that holds the recipient's row for writing: the first statement is an update,
/// which takes the row lock on PostgreSQL and the write lock on SQLite, so the read that follows cannot
/// go stale before the transaction commits.
async fn begin_locked<C: ConnectionTrait + TransactionTrait>(
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

/// Where a consent change came from.
#[derive(Debug, Clone)]
pub struct ConsentSource {
    pub method: ConsentMethod,
    pub ip: Option<String>,
}

/// Records a consent given or revoked at `now`: the current state on the preferences and an event in
/// the append-only history.
pub async fn record_consent(
    txn: &impl ConnectionTrait,
    profile: &Profile,
    action: ConsentAction,
    source: &ConsentSource,
    now: DateTime<Utc>,
) -> Result<sms_preferences::Model, DbErr> {
    let mut prefs = profile.preferences.clone().into_active_model();
    match action {
        ConsentAction::Given => {
            prefs.consent_given_at = Set(Some(now));
            prefs.consent_method = Set(Some(source.method));
            prefs.consent_ip = Set(source.ip.clone());
            prefs.consent_revoked_at = Set(None);
        }
        ConsentAction::Revoked => prefs.consent_revoked_at = Set(Some(now)),
    }
    prefs.updated_at = Set(now);
    let prefs = prefs.update(txn).await?;
    consent_events::ActiveModel {
        user_id: Set(profile.recipient.user_id.clone()),
        action: Set(action),
        method: Set(source.method),
        phone_e164: Set(profile.recipient.phone_e164.clone()),
        ip: Set(source.ip.clone()),
        occurred_at: Set(now),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    Ok(prefs)
}

/// Records a consent given (with its event) and returns the updated profile.
pub async fn record_consent_given(
    txn: &impl ConnectionTrait,
    mut profile: Profile,
    source: &ConsentSource,
    now: DateTime<Utc>,
) -> Result<Profile, DbErr> {
    profile.preferences = record_consent(txn, &profile, ConsentAction::Given, source, now).await?;
    Ok(profile)
}

/// Sets (or with `""` clears) the user's phone number. A different number loses its verification.
#[tracing::instrument(skip(db, input))]
pub async fn set_phone<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    user_id: &str,
    input: &str,
    default_region: phonenumber::country::Id,
    now: DateTime<Utc>,
) -> Result<Profile, RecipientError> {
    let new_phone = if input.trim().is_empty() {
        None
    } else {
        Some(phone::normalize(input, default_region)?)
    };
    let (txn, mut profile) = begin_locked(db, user_id, now).await?;
    if profile.recipient.phone_e164 != new_phone {
        let mut recipient = profile.recipient.clone().into_active_model();
        recipient.phone_e164 = Set(new_phone.clone());
        recipient.phone_verified_at = Set(None);
        recipient.updated_at = Set(now);
        profile.recipient = recipient.update(&txn).await?;
        // A code sent to the old number must not verify the new one.
        entity::phone_verifications::Entity::update_many()
            .col_expr(
                entity::phone_verifications::Column::InvalidatedAt,
                Expr::value(now),
            )
            .filter(entity::phone_verifications::Column::UserId.eq(user_id))
            .filter(entity::phone_verifications::Column::ConsumedAt.is_null())
            .filter(entity::phone_verifications::Column::InvalidatedAt.is_null())
            .exec(&txn)
            .await?;
        tracing::info!(
            phone = new_phone.as_deref().map(phone::mask).unwrap_or_default(),
            "phone number changed"
        );
    }
    txn.commit().await?;
    Ok(profile)
}

/// What the user did with the opt-in modal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptInAction {
    OptIn,
    Dismiss,
    RemindLater,
}

/// Applies the user's answer to the opt-in modal.
#[tracing::instrument(skip(db))]
pub async fn answer_opt_in<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    user_id: &str,
    action: OptInAction,
    ip: Option<String>,
    now: DateTime<Utc>,
) -> Result<Profile, DbErr> {
    let (txn, mut profile) = begin_locked(db, user_id, now).await?;
    let mut recipient = profile.recipient.clone().into_active_model();
    match action {
        OptInAction::OptIn => {
            recipient.allow_sms = Set(true);
            if !profile.preferences.has_consent() {
                let source = ConsentSource {
                    method: ConsentMethod::OptInModal,
                    ip,
                };
                profile.preferences =
                    record_consent(&txn, &profile, ConsentAction::Given, &source, now).await?;
            }
        }
        OptInAction::Dismiss => recipient.sms_prompt_dismissed_at = Set(Some(now)),
        OptInAction::RemindLater => recipient.sms_prompt_shown_at = Set(Some(now)),
    }
    recipient.updated_at = Set(now);
    profile.recipient = recipient.update(&txn).await?;
    txn.commit().await?;
    Ok(profile)
}

/// A partial update of the settings page: `None` leaves a setting as it is.
#[derive(Debug, Clone, Default)]
pub struct PreferencesChange {
    pub allow_sms: Option<bool>,
    pub battle_invitations: Option<bool>,
    pub battle_results: Option<bool>,
    pub battle_reminders: Option<bool>,
    pub streak_alerts: Option<bool>,
    pub direct_messages: Option<bool>,
    pub achievements: Option<bool>,
}

/// Updates the master switch and categories. Turning the master switch on records consent
/// (`settings_page`); turning it off revokes it.
#[tracing::instrument(skip(db))]
pub async fn update_preferences<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    user_id: &str,
    change: PreferencesChange,
    ip: Option<String>,
    now: DateTime<Utc>,
) -> Result<Profile, DbErr> {
    let (txn, mut profile) = begin_locked(db, user_id, now).await?;
    let source = ConsentSource {
        method: ConsentMethod::SettingsPage,
        ip,
    };
    match change.allow_sms {
        Some(true) if !profile.preferences.has_consent() => {
            profile.preferences =
                record_consent(&txn, &profile, ConsentAction::Given, &source, now).await?;
        }
        Some(false) if profile.preferences.has_consent() => {
            profile.preferences =
                record_consent(&txn, &profile, ConsentAction::Revoked, &source, now).await?;
        }
        _ => {}
    }
    if let Some(allow) = change.allow_sms
        && allow != profile.recipient.allow_sms
    {
        let mut recipient = profile.recipient.clone().into_active_model();
        recipient.allow_sms = Set(allow);
        recipient.updated_at = Set(now);
        profile.recipient = recipient.update(&txn).await?;
    }
    let mut prefs = profile.preferences.clone().into_active_model();
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
    if changed {
        prefs.updated_at = Set(now);
        profile.preferences = prefs.update(&txn).await?;
    }
    txn.commit().await?;
    Ok(profile)
}

/// Facts about a user that the app's back end pushes.
#[derive(Debug, Clone)]
pub struct RecipientFacts {
    pub user_id: String,
    /// IANA name; `Some("")` clears it (back to the configured default).
    pub timezone: Option<String>,
    pub signed_up_at: Option<DateTime<Utc>>,
}

/// Creates or updates a recipient from the app's facts.
#[tracing::instrument(skip(db))]
pub async fn upsert<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    facts: RecipientFacts,
    now: DateTime<Utc>,
) -> Result<Profile, RecipientError> {
    let timezone = match facts.timezone.as_deref().map(str::trim) {
        None => None,
        Some("") => Some(None),
        Some(name) => {
            let tz: chrono_tz::Tz = name
                .parse()
                .map_err(|_| RecipientError::InvalidTimezone(name.to_owned()))?;
            Some(Some(tz.name().to_owned()))
        }
    };
    let (txn, mut profile) = begin_locked(db, &facts.user_id, now).await?;
    let mut recipient = profile.recipient.clone().into_active_model();
    if let Some(tz) = timezone {
        recipient.timezone = Set(tz);
    }
    if let Some(at) = facts.signed_up_at {
        recipient.signed_up_at = Set(Some(at));
    }
    recipient.updated_at = Set(now);
    profile.recipient = recipient.update(&txn).await?;
    txn.commit().await?;
    Ok(profile)
}

/// Whether the opt-in modal should be shown now, by the product's rules.
pub fn prompt_due(profile: &Profile, now: DateTime<Utc>) -> bool {
    let r = &profile.recipient;
    let signed_up = r.signed_up_at.unwrap_or(r.created_at);
    !profile.opted_in()
        && r.sms_prompt_dismissed_at.is_none()
        && now - signed_up >= PROMPT_GRACE_AFTER_SIGNUP
        && r.sms_prompt_shown_at
            .is_none_or(|shown| now - shown >= PROMPT_REPEAT_AFTER)
}

/// Decides whether to show the opt-in modal now and, when it is shown, records when. Of two requests
/// at the same moment (two tabs), only one is told to show it.
#[tracing::instrument(skip(db, profile), fields(user_id = %profile.recipient.user_id))]
pub async fn take_prompt(
    db: &impl ConnectionTrait,
    profile: &mut Profile,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    if !prompt_due(profile, now) {
        return Ok(false);
    }
    let shown_before = now - PROMPT_REPEAT_AFTER;
    let result = recipients::Entity::update_many()
        .col_expr(recipients::Column::SmsPromptShownAt, Expr::value(now))
        .filter(recipients::Column::UserId.eq(profile.recipient.user_id.as_str()))
        .filter(recipients::Column::SmsPromptDismissedAt.is_null())
        .filter(
            sea_orm::Condition::any()
                .add(recipients::Column::SmsPromptShownAt.is_null())
                .add(recipients::Column::SmsPromptShownAt.lte(shown_before)),
        )
        .exec(db)
        .await?;
    if result.rows_affected == 1 {
        profile.recipient.sms_prompt_shown_at = Some(now);
        Ok(true)
    } else {
        Ok(false)
    }
}
