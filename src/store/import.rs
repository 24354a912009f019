//! `sms-notify import`'s writes: a batch of the old app's rows of one kind in one transaction, each
//! row compared with what is here first, so a second run (or a run after a crash) changes nothing.
//!
//! A row here that nothing has changed since it was imported (or since the service first saw the
//! person) takes the file's values; one changed here since keeps its own, and the row is reported.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use entity::{opt_outs, recipients, sms_log};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    IntoActiveModel, QueryFilter, sea_query::OnConflict,
};

pub use super::import_consent::{ImportedPreferences, preferences};
use super::{
    import_writes::NewPerson,
    opt_outs::OptOutSource,
    recipients::RecipientRow,
    rollup::{self, RollupStatus},
};

/// What became of one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// New here.
    Imported,
    /// Here already, and changed to the file's values.
    Updated,
    /// Here already with the same values.
    Unchanged,
    /// Here already and changed here since: what is here is kept (newer); the reason says what.
    Kept(String),
    /// Not imported; the reason says why.
    Refused(String),
}

/// A person as the old app knew them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedPerson {
    pub user_id: String,
    /// E.164; `None` when the old app had none (or it could not be read).
    pub phone: Option<String>,
    pub verified: Option<bool>,
    pub allow_sms: Option<bool>,
    /// A zone's canonical name.
    pub timezone: Option<String>,
    pub signed_up_at: Option<DateTime<Utc>>,
}

/// Whether nothing here has written the row since the import (or since the service created it).
pub(super) fn untouched(
    updated_at: DateTime<Utc>,
    imported_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
) -> bool {
    imported_at == Some(updated_at) || updated_at == created_at
}

/// Imports people: new ones in one multi-row insert each for the rows and their default preferences
/// (unless `preferences_follow`: a preferences file in the same import writes them, and
/// `fill_default_preferences` those it leaves out), changed ones one by one.
pub async fn people(
    txn: &impl ConnectionTrait,
    rows: &[ImportedPerson],
    now: DateTime<Utc>,
    preferences_follow: bool,
) -> Result<Vec<Outcome>, DbErr> {
    let here: HashMap<String, RecipientRow> = recipients::Entity::find()
        .filter(recipients::Column::UserId.is_in(rows.iter().map(|r| r.user_id.as_str())))
        .all(txn)
        .await?
        .into_iter()
        .map(|r| (r.user_id.clone(), r))
        .collect();
    let mut outcomes = Vec::with_capacity(rows.len());
    let mut new = Vec::new();
    let mut seen = HashSet::new();
    for row in rows {
        if !seen.insert(row.user_id.as_str()) {
            outcomes.push(Outcome::Refused(
                "a second row for this person close to the first: the first was imported".into(),
            ));
            continue;
        }
        let Some(existing) = here.get(&row.user_id) else {
            new.push(row);
            outcomes.push(Outcome::Imported);
            continue;
        };
        outcomes.push(person_change(txn, existing, row, now).await?);
    }
    if new.is_empty() {
        return Ok(outcomes);
    }
    let people: Vec<NewPerson> = new
        .iter()
        .map(|row| NewPerson {
            user_id: &row.user_id,
            phone_e164: row.phone.as_deref(),
            phone_verified_at: verified_at(row, None, now),
            allow_sms: row.allow_sms.unwrap_or(false),
            timezone: row.timezone.as_deref(),
            signed_up_at: row.signed_up_at,
        })
        .collect();
    super::import_writes::insert_people(txn, &people, now, !preferences_follow).await?;
    Ok(outcomes)
}

/// Gives every imported person still without preferences the defaults (the people a preferences file
/// left out, or whose preferences an interrupted import had not reached): one statement, once at
/// the end of an import, over the imported people.
pub async fn fill_default_preferences(
    txn: &impl ConnectionTrait,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let backend = txn.get_database_backend();
    let sql = format!(
        "INSERT INTO sms_preferences (user_id, updated_at, imported_at) \
         SELECT r.user_id, {0}, {0} FROM recipients r \
         WHERE r.imported_at IS NOT NULL \
         AND NOT EXISTS (SELECT 1 FROM sms_preferences p WHERE p.user_id = r.user_id)",
        super::placeholder(backend, 1)
    );
    txn.execute_raw(sea_orm::Statement::from_sql_and_values(
        backend,
        sql,
        [now.into()],
    ))
    .await?;
    Ok(())
}

/// When the number counts as proven: kept from here when it is the same number, else the import's.
fn verified_at(
    row: &ImportedPerson,
    here: Option<&RecipientRow>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    if row.verified != Some(true) || row.phone.is_none() {
        return None;
    }
    here.filter(|h| h.phone_e164 == row.phone)
        .and_then(|h| h.phone_verified_at)
        .or(Some(now))
}

/// One person here already: the file's values where nothing here changed them, else kept.
async fn person_change(
    txn: &impl ConnectionTrait,
    here: &RecipientRow,
    row: &ImportedPerson,
    now: DateTime<Utc>,
) -> Result<Outcome, DbErr> {
    let free = untouched(here.updated_at, here.imported_at, here.created_at);
    let mut active = here.clone().into_active_model();
    let (mut changed, mut kept) = (false, Vec::new());
    // The number, whether it is proven and the master switch go together.
    let verified = verified_at(row, Some(here), now);
    let number_differs = here.phone_e164 != row.phone
        || here.phone_verified_at.is_some() != verified.is_some()
        || row.allow_sms.is_some_and(|a| a != here.allow_sms);
    if number_differs {
        if free || here.phone_e164.is_none() {
            active.phone_e164 = Set(row.phone.clone());
            active.phone_verified_at = Set(verified);
            if let Some(allow) = row.allow_sms {
                active.allow_sms = Set(allow);
            }
            changed = true;
        } else {
            kept.push("phone_number");
        }
    }
    if row.timezone.is_some() && row.timezone != here.timezone {
        if free || here.timezone.is_none() {
            active.timezone = Set(row.timezone.clone());
            changed = true;
        } else {
            kept.push("timezone");
        }
    }
    if row.signed_up_at.is_some() && row.signed_up_at != here.signed_up_at {
        if free || here.signed_up_at.is_none() {
            active.signed_up_at = Set(row.signed_up_at);
            changed = true;
        } else {
            kept.push("signed_up_at");
        }
    }
    if changed {
        if let (Some(old), Some(at)) = (&here.phone_e164, here.phone_verified_at)
            && row.phone.as_ref() != Some(old)
        {
            super::recipients::record_proven(txn, &here.user_id, old, at).await?;
        }
        active.updated_at = Set(now);
        active.imported_at = Set(Some(now));
        active.update(txn).await?;
    }
    Ok(match (changed, kept.is_empty()) {
        (_, false) => Outcome::Kept(format!(
            "changed here since the last import: {} kept as it is here",
            kept.join(", ")
        )),
        (true, true) => Outcome::Updated,
        (false, true) => Outcome::Unchanged,
    })
}

/// A number that texted STOP to the old app (or that AWS lists as opted out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedOptOut {
    pub phone: String,
    pub at: Option<DateTime<Utc>>,
}

/// Imports opt-outs: numbers on the list already are unchanged; a number that texted START here after
/// the old app's STOP stays off the list (newer).
pub async fn opt_outs(
    txn: &impl ConnectionTrait,
    rows: &[ImportedOptOut],
    now: DateTime<Utc>,
) -> Result<Vec<Outcome>, DbErr> {
    let numbers: Vec<&str> = rows.iter().map(|r| r.phone.as_str()).collect();
    let listed = super::opt_outs::among(txn, numbers.iter().copied()).await?;
    let restarted = super::import_consent::last_given_here(txn, &numbers).await?;
    let mut outcomes = Vec::with_capacity(rows.len());
    let mut new = Vec::new();
    let mut seen = HashSet::new();
    for row in rows {
        let at = row.at.unwrap_or(now);
        outcomes.push(if listed.contains(&row.phone) || !seen.insert(&row.phone) {
            Outcome::Unchanged
        } else if let Some(given) = restarted.get(&row.phone).filter(|g| **g > at) {
            Outcome::Kept(format!(
                "consent was given again here at {} (after this opt-out): the number stays off the list",
                given.to_rfc3339()
            ))
        } else {
            new.push(opt_outs::ActiveModel {
                phone_e164: Set(row.phone.clone()),
                source: Set(OptOutSource::Imported),
                created_at: Set(at),
            });
            Outcome::Imported
        });
    }
    if !new.is_empty() {
        opt_outs::Entity::insert_many(new)
            .on_conflict(
                OnConflict::column(opt_outs::Column::PhoneE164)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(txn)
            .await?;
    }
    Ok(outcomes)
}

/// A text the old app sent (or tried to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedText {
    pub user_id: Option<String>,
    pub to_phone: String,
    pub country: Option<String>,
    pub message_type: sms_log::MessageType,
    pub promotional: bool,
    pub status: sms_log::SmsStatus,
    pub body: String,
    pub segments: i32,
    pub encoding: String,
    pub cost_micros: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    /// `import:` and a digest of what the row says: the same row imported twice is one text.
    pub key: String,
}

/// Imports past texts into the log (not into the change feed: no webhook or live update is sent for
/// them), with the cost rollup and the month's spend, so reports, limits and the budget count them.
pub async fn history(
    txn: &impl ConnectionTrait,
    rows: &[ImportedText],
) -> Result<Vec<Outcome>, DbErr> {
    let inserted = sms_log::Entity::insert_many(rows.iter().map(text_row))
        .on_conflict(super::dedupe_key_taken())
        .exec_with_returning(txn)
        .await?;
    let new: HashSet<&str> = inserted
        .iter()
        .filter_map(|m| m.dedupe_key.as_deref())
        .collect();
    let mut changes = Vec::with_capacity(inserted.len());
    let mut months: HashMap<String, i64> = HashMap::new();
    for row in &inserted {
        let status = RollupStatus::from(row.status);
        changes.push((rollup::rollup_key(row, status), rollup::measures(row)));
        if let Some(cost) = row.cost_micros.filter(|c| *c > 0) {
            *months
                .entry(super::spend::month_of(
                    row.sent_at.unwrap_or(row.created_at),
                ))
                .or_default() += cost;
        }
    }
    rollup::rollup_add(txn, changes).await?;
    let mut months: Vec<_> = months.into_iter().collect();
    months.sort();
    for (month, micros) in months {
        super::spend::add(txn, &month, micros).await?;
    }
    let mut seen = HashSet::new();
    Ok(rows
        .iter()
        .map(|r| {
            if new.contains(r.key.as_str()) && seen.insert(r.key.as_str()) {
                Outcome::Imported
            } else {
                Outcome::Unchanged
            }
        })
        .collect())
}

fn text_row(text: &ImportedText) -> sms_log::ActiveModel {
    let delivered = text.status == sms_log::SmsStatus::Delivered;
    sms_log::ActiveModel {
        user_id: Set(text.user_id.clone()),
        to_phone: Set(text.to_phone.clone()),
        country: Set(text.country.clone()),
        message_type: Set(text.message_type),
        promotional: Set(text.promotional),
        priority: Set(i16::from(text.promotional)),
        body: Set(text.body.clone()),
        status: Set(text.status),
        attempts: Set(i32::from(text.sent_at.is_some())),
        cost_micros: Set(text.cost_micros),
        estimated_cost_micros: Set(text.cost_micros),
        segments: Set(text.segments),
        encoding: Set(text.encoding.clone()),
        created_at: Set(text.created_at),
        sent_at: Set(text.sent_at),
        delivered_at: Set(text.sent_at.filter(|_| delivered)),
        dedupe_key: Set(Some(text.key.clone())),
        // Not a change to announce: the feed's readers never see an imported text.
        change_seq: Set(0),
        ..Default::default()
    }
}
