//! `sms-notify import`'s preferences: the category switches and the consent the old app held. Each
//! consent given or revoked there becomes an event here with its original time, marked imported, once
//! (a second run finds it); the current state follows the file unless something here is newer.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use entity::{consent_events, sms_preferences};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, OnConflict},
};

use super::{
    consent::{ConsentAction, ConsentMethod},
    import::{Outcome, untouched},
    recipients::{self, Profile},
};

/// One person's preferences and consent as the old app held them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedPreferences {
    pub user_id: String,
    /// Invitations, results, reminders, streaks, direct messages, achievements; `None`: not in the file.
    pub categories: [Option<bool>; 6],
    pub consent_given_at: Option<DateTime<Utc>>,
    pub consent_method: Option<ConsentMethod>,
    pub consent_ip: Option<String>,
    pub consent_revoked_at: Option<DateTime<Utc>>,
}

impl ImportedPreferences {
    /// The consent's last change in the file.
    fn consent_changed_at(&self) -> Option<DateTime<Utc>> {
        self.consent_given_at.max(self.consent_revoked_at)
    }

    /// The events the file's consent stands for, oldest first.
    fn events(&self) -> Vec<(ConsentAction, DateTime<Utc>)> {
        let mut events: Vec<_> = [
            self.consent_given_at.map(|at| (ConsentAction::Given, at)),
            self.consent_revoked_at
                .map(|at| (ConsentAction::Revoked, at)),
        ]
        .into_iter()
        .flatten()
        .collect();
        events.sort_by_key(|(_, at)| *at);
        events
    }
}

/// The categories as stored, in `ImportedPreferences::categories` order.
fn categories(p: &sms_preferences::Model) -> [bool; 6] {
    [
        p.battle_invitations,
        p.battle_results,
        p.battle_reminders,
        p.streak_alerts,
        p.direct_messages,
        p.achievements,
    ]
}

/// Imports preferences and consent for people already here (imported first): one read of the
/// people, one of their events, one upsert of the changed preferences and one insert of the events.
pub async fn preferences(
    txn: &impl ConnectionTrait,
    rows: &[ImportedPreferences],
    now: DateTime<Utc>,
) -> Result<Vec<Outcome>, DbErr> {
    let profiles = recipients::load_many(txn, rows.iter().map(|r| r.user_id.as_str())).await?;
    // Only a person whose preferences ever held a consent can have events here (a fresh import
    // reads none).
    let with_history = profiles.values().filter(|p| {
        p.preferences.consent_given_at.is_some() || p.preferences.consent_revoked_at.is_some()
    });
    let events = events_of(txn, with_history.map(|p| p.recipient.user_id.as_str())).await?;
    let mut outcomes = Vec::with_capacity(rows.len());
    let mut upserts = Vec::new();
    let mut new_events = Vec::new();
    let mut seen = HashSet::new();
    for row in rows {
        let Some(profile) = profiles.get(&row.user_id) else {
            outcomes.push(Outcome::Refused(format!(
                "no person '{}' here: import their row of people first",
                row.user_id
            )));
            continue;
        };
        if !seen.insert(row.user_id.as_str()) {
            outcomes.push(Outcome::Refused(
                "a second row for this person in the same file: the first was imported".into(),
            ));
            continue;
        }
        let here = events.get(&row.user_id).map(Vec::as_slice).unwrap_or(&[]);
        let added = missing_events(profile, row, here, now);
        supersede_older(txn, here, &added).await?;
        let (outcome, upsert) = decide(profile, row, here, !added.is_empty(), now);
        new_events.extend(added);
        upserts.extend(upsert);
        outcomes.push(outcome);
    }
    if !upserts.is_empty() {
        upsert_preferences(txn, upserts).await?;
    }
    if !new_events.is_empty() {
        consent_events::Entity::insert_many(new_events)
            .exec_without_returning(txn)
            .await?;
    }
    Ok(outcomes)
}

/// What becomes of one person's preferences, and the row to write when they change.
fn decide(
    profile: &Profile,
    row: &ImportedPreferences,
    here: &[consent_events::Model],
    events_added: bool,
    now: DateTime<Utc>,
) -> (Outcome, Option<sms_preferences::Model>) {
    let p = &profile.preferences;
    let free = untouched(p.updated_at, p.imported_at, profile.recipient.created_at);
    let mut next = p.clone();
    let mut kept = Vec::new();
    let stored = categories(p);
    let mut switches = stored;
    for (i, wanted) in row.categories.iter().enumerate() {
        if let Some(w) = wanted {
            switches[i] = *w;
        }
    }
    if switches != stored {
        if free {
            set_categories(&mut next, switches);
        } else {
            kept.push("the category switches (the person changed them here)".to_owned());
        }
    }
    let consent_here = here
        .iter()
        .filter(|e| e.imported_at.is_none())
        .map(|e| e.occurred_at)
        .max();
    let consent_differs = (p.consent_given_at, p.consent_revoked_at)
        != (row.consent_given_at, row.consent_revoked_at)
        || (row.consent_given_at.is_some() && p.consent_method != row.consent_method);
    if consent_differs && row.consent_changed_at().is_some() {
        match consent_here.filter(|h| Some(*h) > row.consent_changed_at()) {
            Some(newer) => kept.push(format!(
                "the consent (changed here at {}, after the old app's)",
                newer.to_rfc3339()
            )),
            None => {
                next.consent_given_at = row.consent_given_at;
                next.consent_method = row
                    .consent_method
                    .filter(|_| row.consent_given_at.is_some());
                next.consent_ip = row.consent_ip.clone();
                next.consent_revoked_at = row.consent_revoked_at;
            }
        }
    }
    let changed = next != *p;
    if changed {
        next.updated_at = now;
        next.imported_at = Some(now);
    }
    let outcome = if !kept.is_empty() {
        Outcome::Kept(format!("newer here: {} kept", kept.join("; ")))
    } else if changed {
        // The first preferences a person gets (theirs were the defaults, without consent).
        let first = p.consent_given_at.is_none()
            && p.consent_revoked_at.is_none()
            && categories(p) == [true; 6];
        if first {
            Outcome::Imported
        } else {
            Outcome::Updated
        }
    } else if events_added {
        Outcome::Updated
    } else {
        Outcome::Unchanged
    };
    (outcome, changed.then_some(next))
}

fn set_categories(p: &mut sms_preferences::Model, c: [bool; 6]) {
    [
        p.battle_invitations,
        p.battle_results,
        p.battle_reminders,
        p.streak_alerts,
        p.direct_messages,
        p.achievements,
    ] = c;
}

/// The imported events a row stands for that are not here yet, chained to each other and to the
/// person's events here by `superseded_at` (an event is superseded by the next one in time).
fn missing_events(
    profile: &Profile,
    row: &ImportedPreferences,
    here: &[consent_events::Model],
    now: DateTime<Utc>,
) -> Vec<consent_events::ActiveModel> {
    let wanted = row.events();
    let mut times: Vec<DateTime<Utc>> = here.iter().map(|e| e.occurred_at).collect();
    times.extend(wanted.iter().map(|(_, at)| *at));
    times.sort();
    let method = row.consent_method.unwrap_or(ConsentMethod::Api);
    wanted
        .into_iter()
        .filter(|(action, at)| {
            !here
                .iter()
                .any(|e| e.imported_at.is_some() && e.action == *action && e.occurred_at == *at)
        })
        .map(|(action, at)| consent_events::ActiveModel {
            user_id: Set(profile.recipient.user_id.clone()),
            action: Set(action),
            method: Set(method),
            phone_e164: Set(profile.recipient.phone_e164.clone()),
            ip: Set(row
                .consent_ip
                .clone()
                .filter(|_| action == ConsentAction::Given)),
            occurred_at: Set(at),
            superseded_at: Set(times.iter().find(|t| **t > at).copied()),
            imported_at: Set(Some(now)),
            ..Default::default()
        })
        .collect()
}

/// The person's newest event here, when an imported one is newer, is superseded by it.
async fn supersede_older(
    txn: &impl ConnectionTrait,
    here: &[consent_events::Model],
    added: &[consent_events::ActiveModel],
) -> Result<(), DbErr> {
    let Some(newest) = here.iter().find(|e| e.superseded_at.is_none()) else {
        return Ok(());
    };
    let next = added
        .iter()
        .filter_map(|a| match &a.occurred_at {
            Set(at) => Some(*at),
            _ => None,
        })
        .filter(|at| *at > newest.occurred_at)
        .min();
    if let Some(at) = next {
        consent_events::Entity::update_many()
            .col_expr(consent_events::Column::SupersededAt, Expr::value(at))
            .filter(consent_events::Column::Id.eq(newest.id))
            .exec(txn)
            .await?;
    }
    Ok(())
}

/// Every consent event of `user_ids`, oldest first, by person.
async fn events_of<'a>(
    txn: &impl ConnectionTrait,
    user_ids: impl IntoIterator<Item = &'a str>,
) -> Result<HashMap<String, Vec<consent_events::Model>>, DbErr> {
    let ids: Vec<&str> = user_ids.into_iter().collect();
    let mut out: HashMap<String, Vec<consent_events::Model>> = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    for event in consent_events::Entity::find()
        .filter(consent_events::Column::UserId.is_in(ids))
        .order_by_asc(consent_events::Column::OccurredAt)
        .all(txn)
        .await?
    {
        out.entry(event.user_id.clone()).or_default().push(event);
    }
    Ok(out)
}

/// Writes changed preferences in one statement.
async fn upsert_preferences(
    txn: &impl ConnectionTrait,
    rows: Vec<sms_preferences::Model>,
) -> Result<(), DbErr> {
    use sms_preferences::Column as C;
    let columns = [
        C::BattleInvitations,
        C::BattleResults,
        C::BattleReminders,
        C::StreakAlerts,
        C::DirectMessages,
        C::Achievements,
        C::ConsentGivenAt,
        C::ConsentMethod,
        C::ConsentIp,
        C::ConsentRevokedAt,
        C::UpdatedAt,
        C::ImportedAt,
    ];
    sms_preferences::Entity::insert_many(rows.into_iter().map(|m| {
        sea_orm::ActiveModelTrait::reset_all(sea_orm::IntoActiveModel::into_active_model(m))
    }))
    .on_conflict(
        OnConflict::column(C::UserId)
            .update_columns(columns)
            .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    Ok(())
}

/// For each of `numbers`, when consent was last given here (not imported) to it: a START after an
/// old opt-out wins over it.
pub(super) async fn last_given_here(
    txn: &impl ConnectionTrait,
    numbers: &[&str],
) -> Result<HashMap<String, DateTime<Utc>>, DbErr> {
    let mut out: HashMap<String, DateTime<Utc>> = HashMap::new();
    if numbers.is_empty() {
        return Ok(out);
    }
    let rows: Vec<(Option<String>, DateTime<Utc>)> = consent_events::Entity::find()
        .select_only()
        .column(consent_events::Column::PhoneE164)
        .column(consent_events::Column::OccurredAt)
        .filter(consent_events::Column::PhoneE164.is_in(numbers.iter().copied()))
        .filter(consent_events::Column::Action.eq(ConsentAction::Given))
        .filter(consent_events::Column::ImportedAt.is_null())
        .into_tuple()
        .all(txn)
        .await?;
    for (phone, at) in rows {
        if let Some(phone) = phone {
            let entry = out.entry(phone).or_insert(at);
            *entry = (*entry).max(at);
        }
    }
    Ok(out)
}
