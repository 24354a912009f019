//! People the service sees for the first time: their rows with the service's defaults (or with what
//! the app or the old app says of them), created in groups, one statement per table.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::recipients::Profile;
use entity::{recipients, sms_preferences};
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait, sea_query::OnConflict};

/// A person the app tells the service about for the first time, with what it says of them.
#[derive(Debug, Clone, Default)]
pub struct FirstFacts {
    pub user_id: String,
    pub phone: Option<String>,
    /// The app proved the number.
    pub verified: bool,
    pub timezone: Option<String>,
    pub locale: Option<String>,
    pub signed_up_at: Option<DateTime<Utc>>,
}

/// Creates people not seen before with their facts, and default preferences: one statement each for
/// the rows, the preferences and the proven numbers. Returns the people it created as stored (one
/// another writer created first is left to the caller).
pub async fn create_many(
    db: &impl ConnectionTrait,
    people: &[FirstFacts],
    now: DateTime<Utc>,
) -> Result<HashMap<String, Profile>, DbErr> {
    if people.is_empty() {
        return Ok(Default::default());
    }
    let rows = people.iter().map(|p| {
        let mut row = new_recipient(&p.user_id, now);
        row.phone_e164 = Set(p.phone.clone());
        row.phone_verified_at = Set(p.phone.as_ref().filter(|_| p.verified).map(|_| now));
        row.timezone = Set(p.timezone.clone());
        row.locale = Set(p.locale.clone());
        row.signed_up_at = Set(p.signed_up_at);
        row
    });
    let mut created: HashMap<String, recipients::Model> = recipients::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::column(recipients::Column::UserId)
                .do_nothing()
                .to_owned(),
        )
        .exec_with_returning(db)
        .await?
        .into_iter()
        .map(|r| (r.user_id.clone(), r))
        .collect();
    if created.is_empty() {
        return Ok(Default::default());
    }
    // Their preferences as stored, so the caller need not read the new people again.
    let profiles: HashMap<String, Profile> = sms_preferences::Entity::insert_many(
        created
            .keys()
            .map(|user_id| default_preferences(user_id, now)),
    )
    .on_conflict(
        OnConflict::column(sms_preferences::Column::UserId)
            .do_nothing()
            .to_owned(),
    )
    .exec_with_returning(db)
    .await?
    .into_iter()
    .filter_map(|preferences| {
        let recipient = created.remove(&preferences.user_id)?;
        Some((
            recipient.user_id.clone(),
            Profile {
                recipient,
                preferences,
            },
        ))
    })
    .collect();
    let mine = || people.iter().filter(|p| profiles.contains_key(&p.user_id));
    use entity::proven_numbers::{ActiveModel, Column, Entity};
    Entity::insert_many(mine().filter(|p| p.verified).filter_map(|p| {
        Some(ActiveModel {
            user_id: Set(p.user_id.clone()),
            phone_e164: Set(p.phone.clone()?),
            proven_at: Set(now),
        })
    }))
    .on_conflict(
        OnConflict::columns([Column::UserId, Column::PhoneE164])
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(profiles)
}

/// Inserts people and their preferences, one statement each; those already here are left as they are.
pub(super) async fn insert_new(
    db: &impl ConnectionTrait,
    people: Vec<recipients::ActiveModel>,
    preferences: Vec<sms_preferences::ActiveModel>,
) -> Result<(), DbErr> {
    recipients::Entity::insert_many(people)
        .on_conflict(
            OnConflict::column(recipients::Column::UserId)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    sms_preferences::Entity::insert_many(preferences)
        .on_conflict(
            OnConflict::column(sms_preferences::Column::UserId)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// A recipient first seen now: no number, the master switch off, the service's defaults. Columns
/// without a value here are left to their defaults (NULL), which costs a batch no bound values.
pub(super) fn new_recipient(user_id: &str, now: DateTime<Utc>) -> recipients::ActiveModel {
    recipients::ActiveModel {
        user_id: Set(user_id.to_owned()),
        phone_e164: Set(None),
        phone_verified_at: Set(None),
        allow_sms: Set(false),
        timezone: Set(None),
        signed_up_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
}

/// A new person's preferences: every category on (the columns' defaults), no consent, no rules of
/// their own (NULL).
pub(super) fn default_preferences(
    user_id: &str,
    now: DateTime<Utc>,
) -> sms_preferences::ActiveModel {
    sms_preferences::ActiveModel {
        user_id: Set(user_id.to_owned()),
        updated_at: Set(now),
        ..Default::default()
    }
}
